/*
 * payload.h — the payload message of each kind (payload.proto), and the
 * strict mapping between payloads and JSON used by the CLI and the client
 * library.
 *
 * JSON field names are the proto field names (snake_case); enums are
 * their value names; bytes are base64 (RFC 4648, with padding); 64-bit
 * integers may be JSON numbers or decimal strings.  Unknown keys, wrong
 * types and out-of-range numbers are errors that name the field path
 * ("person.birth_date: expected a string").
 */
#ifndef KETEN_PAYLOAD_H
#define KETEN_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* The protobuf-c descriptor of kind's payload; NULL for an unknown kind. */
const ProtobufCMessageDescriptor *payload_descriptor(int kind);

/* 0 if bytes decode as kind's payload message with no unknown fields,
 * every string UTF-8, else KETEN_EPARSE; KETEN_EFIELD when it lacks what
 * its kind requires (a dossier's or notification's person, with a V-nummer
 * or BSN; a DT&V notification's reason, a request's question, a decision's
 * outcome, an event's type);
 * KETEN_EINVAL for an unknown kind. */
int payload_validate(int kind, const uint8_t *p, size_t len);

/* The data subjects of a payload, for the audit log: the V-nummer and BSN
 * of every Person in it, each once. */
#define PAYLOAD_MAX_SUBJECTS 16
struct payload_subjects {
	size_t n;
	char id[PAYLOAD_MAX_SUBJECTS][24];
};

/* payload_validate, and fill *subj (which may be NULL).  More than
 * PAYLOAD_MAX_SUBJECTS distinct identifiers: KETEN_EPARSE.  A payload
 * refused for its text or a missing field still has its subjects in
 * *subj (one stored before these checks is still read, and recorded). */
int payload_subjects(int kind, const uint8_t *p, size_t len, struct payload_subjects *subj);

/* JSON object -> serialized payload of kind.  *out is malloc'd, owned by
 * the caller.  On error a one-line reason is written to err.
 * Errors: KETEN_EINVAL (unknown kind), KETEN_EPARSE, KETEN_EFIELD (a
 * required field missing, named), KETEN_ENOMEM. */
int payload_from_json(int kind, const json_t *obj, uint8_t **out, size_t *len,
    char *err, size_t errlen);

/* Serialized payload of kind -> new JSON object (caller json_decref's).
 * NULL when the bytes do not decode. */
json_t *payload_to_json(int kind, const uint8_t *p, size_t len);

#endif
