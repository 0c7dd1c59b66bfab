/*
 * payload.c — payload descriptors and the JSON mapping (see payload.h).
 *
 * The mapping walks protobuf-c's descriptors, so one piece of code serves
 * every kind and every future field.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.pb-c.h"
#include "err.h"
#include "payload.h"
#include "payload.pb-c.h"
#include "util.h"

#define JSON_MAX_DEPTH 16

const ProtobufCMessageDescriptor *
payload_descriptor(int kind)
{
	switch (kind) {
	case KETEN__V1__KIND__DOSSIER_DELIVERY:
		return &keten__v1__dossier_delivery__descriptor;
	case KETEN__V1__KIND__DTV_NOTIFICATION:
		return &keten__v1__dtv_notification__descriptor;
	case KETEN__V1__KIND__ESCALATION_REQUEST:
		return &keten__v1__escalation_request__descriptor;
	case KETEN__V1__KIND__ESCALATION_DECISION:
		return &keten__v1__escalation_decision__descriptor;
	case KETEN__V1__KIND__CASE_EVENT:
		return &keten__v1__case_event__descriptor;
	case KETEN__V1__KIND__POLICE_NOTIFICATION:
		return &keten__v1__police_notification__descriptor;
	case KETEN__V1__KIND__RECEIPT:
		return &keten__v1__signed_receipt__descriptor;
	default:
		return NULL;
	}
}

/* Note a data subject's identifier once; more than the room holds are
 * refused (the audit log must have a record for each). */
static int
subject_add(struct payload_subjects *s, const char *id)
{
	if (id == NULL || id[0] == '\0')
		return 1;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->id[i], id) == 0)
			return 1;
	if (s->n == PAYLOAD_MAX_SUBJECTS || strlen(id) >= sizeof(s->id[0]))
		return 0;
	snprintf(s->id[s->n++], sizeof(s->id[0]), "%s", id);
	return 1;
}

/* 1 if m (and what it holds) has no unknown fields and is not too deep;
 * collects the subjects into subj.  Text that is not UTF-8 sets *bad and
 * the walk goes on, so that the subjects are whole. */
static int
message_clean(const ProtobufCMessage *m, int depth, struct payload_subjects *subj, int *bad)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields || depth > JSON_MAX_DEPTH)
		return 0;
	if (subj != NULL && d == &keten__v1__person__descriptor) {
		const Keten__V1__Person *pe = (const Keten__V1__Person *)m;

		if (!subject_add(subj, pe->v_number) || !subject_add(subj, pe->bsn))
			return 0;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;

		if (f->type == PROTOBUF_C_TYPE_STRING) {
			/* text the receiving system reads as UTF-8 (JSON) */
			if (f->label == PROTOBUF_C_LABEL_REPEATED) {
				size_t n = *(const size_t *)(base + f->quantifier_offset);
				char *const *arr = *(char *const *const *)(base + f->offset);

				for (size_t k = 0; k < n; k++)
					if (arr[k] != NULL && !utf8_ok(arr[k], 0))
						*bad = 1;
			} else {
				const char *s = *(char *const *)(base + f->offset);

				if (s != NULL && !utf8_ok(s, 0))
					*bad = 1;
			}
			continue;
		}
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);

			for (size_t k = 0; k < n; k++)
				if (!message_clean(arr[k], depth + 1, subj, bad))
					return 0;
		} else {
			const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);

			if (sub != NULL && !message_clean(sub, depth + 1, subj, bad))
				return 0;
		}
	}
	return 1;
}

/* A person the message can be about: with a V-nummer or a BSN. */
#define PERSON_FIELD "person.v_number (or person.bsn)"
static int
person_ok(const Keten__V1__Person *pe)
{
	return pe != NULL && ((pe->v_number != NULL && pe->v_number[0] != '\0') ||
	    (pe->bsn != NULL && pe->bsn[0] != '\0'));
}

/* What a payload of each kind must hold (PROTOCOL.md 11): the person a
 * dossier, a notification to DT&V or to the police is about, and the
 * field that says what a message is.  (A request or a case event names
 * its case by Header.case_ref.)  NULL when it has them, else the first
 * one missing. */
static const char *
payload_missing(int kind, const ProtobufCMessage *m)
{
	switch (kind) {
	case KETEN__V1__KIND__DOSSIER_DELIVERY:
		return person_ok(((const Keten__V1__DossierDelivery *)m)->person) ? NULL :
		    PERSON_FIELD;
	case KETEN__V1__KIND__DTV_NOTIFICATION: {
		const Keten__V1__DtvNotification *x = (const Keten__V1__DtvNotification *)m;

		return !person_ok(x->person) ? PERSON_FIELD :
		    x->reason == 0 ? "reason" : NULL;
	}
	case KETEN__V1__KIND__ESCALATION_REQUEST: {
		const char *q = ((const Keten__V1__EscalationRequest *)m)->question;

		return q == NULL || q[0] == '\0' ? "question" : NULL;
	}
	case KETEN__V1__KIND__ESCALATION_DECISION:
		return ((const Keten__V1__EscalationDecision *)m)->outcome == 0 ? "outcome" : NULL;
	case KETEN__V1__KIND__CASE_EVENT:
		return ((const Keten__V1__CaseEvent *)m)->type == 0 ? "type" : NULL;
	case KETEN__V1__KIND__POLICE_NOTIFICATION:
		return person_ok(((const Keten__V1__PoliceNotification *)m)->person) ? NULL :
		    PERSON_FIELD;
	}
	return NULL;
}

int
payload_subjects(int kind, const uint8_t *p, size_t len, struct payload_subjects *subj)
{
	const ProtobufCMessageDescriptor *d = payload_descriptor(kind);
	ProtobufCMessage *m;
	int ok, bad = 0;

	if (subj != NULL)
		subj->n = 0;
	if (d == NULL)
		return KETEN_EINVAL;
	if ((m = protobuf_c_message_unpack(d, NULL, len, p)) == NULL)
		return KETEN_EPARSE;
	ok = message_clean(m, 0, subj, &bad);
	if (ok && bad)
		ok = 0;
	else if (ok && payload_missing(kind, m) != NULL)
		ok = -1;
	protobuf_c_message_free_unpacked(m, NULL);
	return ok > 0 ? 0 : ok < 0 ? KETEN_EFIELD : KETEN_EPARSE;
}

int
payload_validate(int kind, const uint8_t *p, size_t len)
{
	return payload_subjects(kind, p, len, NULL);
}

/* ------------------------------------------------------------------ */
/* JSON -> protobuf */

struct jctx {
	char *err;
	size_t errlen;
	char path[512];
};

static int
jfail(struct jctx *c, const char *why)
{
	snprintf(c->err, c->errlen, "%s: %s", c->path[0] ? c->path : "(top)", why);
	return KETEN_EPARSE;
}

/* Append ".name" or "[i]" to the path; returns the old length to restore. */
static size_t
path_push(struct jctx *c, const char *name, long idx)
{
	size_t old = strlen(c->path);

	if (idx >= 0)
		snprintf(c->path + old, sizeof(c->path) - old, "[%ld]", idx);
	else
		snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old ? "." : "", name ? name : "");
	return old;
}

static int
json_int(struct jctx *c, const json_t *v, int64_t lo, uint64_t hi, int is_signed, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);

		if (x < 0 && (!is_signed || x < lo))
			return jfail(c, "number out of range");
		if (x >= 0 && (uint64_t)x > hi)
			return jfail(c, "number out of range");
		*out = (uint64_t)x;
		return 0;
	}
	if (json_is_string(v)) {	/* 64-bit values as decimal strings */
		const char *s = json_string_value(v);
		char *end;

		errno = 0;
		if (is_signed) {
			long long x = strtoll(s, &end, 10);

			if (errno || *s == '\0' || *end != '\0' || x < lo || (x > 0 && (uint64_t)x > hi))
				return jfail(c, "not a number in range");
			*out = (uint64_t)x;
		} else {
			unsigned long long x = strtoull(s, &end, 10);

			if (errno || *s == '\0' || *s == '-' || *end != '\0' || x > hi)
				return jfail(c, "not a number in range");
			*out = x;
		}
		return 0;
	}
	return jfail(c, "expected a number");
}

static int message_from_json(struct jctx *c, const ProtobufCMessageDescriptor *d,
    const json_t *obj, ProtobufCMessage **out, int depth);

/* Convert one JSON value into the field's storage at dst. */
static int
scalar_from_json(struct jctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
    void *dst, int depth)
{
	uint64_t u;
	int r;

	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return jfail(c, "expected true or false");
		*(protobuf_c_boolean *)dst = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if ((r = json_int(c, v, INT32_MIN, INT32_MAX, 1, &u)) != 0)
			return r;
		*(int32_t *)dst = (int32_t)(int64_t)u;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if ((r = json_int(c, v, 0, UINT32_MAX, 0, &u)) != 0)
			return r;
		*(uint32_t *)dst = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if ((r = json_int(c, v, INT64_MIN, INT64_MAX, 1, &u)) != 0)
			return r;
		*(int64_t *)dst = (int64_t)u;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if ((r = json_int(c, v, 0, UINT64_MAX, 0, &u)) != 0)
			return r;
		*(uint64_t *)dst = u;
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev;

		if (!json_is_string(v))
			return jfail(c, "expected an enum name");
		ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(v));
		if (ev == NULL)
			return jfail(c, "unknown enum value");
		*(int *)dst = ev->value;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *s;

		if (!json_is_string(v))
			return jfail(c, "expected a string");
		if ((s = strdup(json_string_value(v))) == NULL)
			return KETEN_ENOMEM;
		*(char **)dst = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = dst;
		const char *s;
		size_t slen, blen;

		if (!json_is_string(v))
			return jfail(c, "expected base64 text");
		s = json_string_value(v);
		slen = strlen(s);
		if ((b->data = malloc(slen / 4 * 3 + 3)) == NULL)
			return KETEN_ENOMEM;
		if (sodium_base642bin(b->data, slen / 4 * 3 + 3, s, slen, NULL, &blen, NULL,
		    sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(b->data);
			b->data = NULL;
			return jfail(c, "not valid base64");
		}
		b->len = blen;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return message_from_json(c, f->descriptor, v, (ProtobufCMessage **)dst, depth + 1);
	default:
		return jfail(c, "field type not supported");
	}
}

static size_t
field_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	default:
		return 4;
	}
}

static int
message_from_json(struct jctx *c, const ProtobufCMessageDescriptor *d, const json_t *obj,
    ProtobufCMessage **out, int depth)
{
	ProtobufCMessage *m;
	const char *key;
	json_t *v;
	int r = 0;

	*out = NULL;
	if (depth > JSON_MAX_DEPTH)
		return jfail(c, "nested too deeply");
	if (!json_is_object(obj))
		return jfail(c, "expected an object");
	if ((m = calloc(1, d->sizeof_message)) == NULL)
		return KETEN_ENOMEM;
	d->message_init(m);
	*out = m;	/* freed by the caller with protobuf_c_message_free_unpacked */
	json_object_foreach((json_t *)obj, key, v) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
		char *base = (char *)m;
		size_t old = path_push(c, key, -1);

		if (f == NULL) {
			r = jfail(c, "unknown field");
			break;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = json_array_size(v), sz = field_size(f);
			void *arr;

			if (!json_is_array(v)) {
				r = jfail(c, "expected an array");
				break;
			}
			if (n > 0) {
				if ((arr = calloc(n, sz)) == NULL) {
					r = KETEN_ENOMEM;
					break;
				}
				*(void **)(base + f->offset) = arr;
				for (size_t i = 0; i < n && r == 0; i++) {
					size_t old2 = path_push(c, NULL, (long)i);

					/* count the (zeroed) element first, so that a
					 * half-converted one is freed with the message */
					*(size_t *)(base + f->quantifier_offset) = i + 1;
					r = scalar_from_json(c, f, json_array_get(v, i), (char *)arr + i * sz, depth);
					if (r == 0)
						c->path[old2] = '\0';
				}
			}
		} else {
			r = scalar_from_json(c, f, v, base + f->offset, depth);
			if (r == 0 && f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
				*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
		}
		if (r != 0)
			break;
		c->path[old] = '\0';
	}
	return r;
}

int
payload_from_json(int kind, const json_t *obj, uint8_t **out, size_t *len,
    char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *d = payload_descriptor(kind);
	struct jctx c = { err, errlen, "" };
	ProtobufCMessage *m = NULL;
	const char *missing;
	int r;

	*out = NULL;
	*len = 0;
	if (d == NULL) {
		snprintf(err, errlen, "unknown kind %d", kind);
		return KETEN_EINVAL;
	}
	if ((r = message_from_json(&c, d, obj, &m, 0)) == 0 &&
	    (missing = payload_missing(kind, m)) != NULL) {
		snprintf(err, errlen, "%s: required", missing);
		r = KETEN_EFIELD;
	}
	if (r == 0) {
		*len = protobuf_c_message_get_packed_size(m);
		if ((*out = malloc(*len ? *len : 1)) == NULL)
			r = KETEN_ENOMEM;
		else
			protobuf_c_message_pack(m, *out);
	}
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	return r;
}

/* ------------------------------------------------------------------ */
/* protobuf -> JSON */

static json_t *message_to_json(const ProtobufCMessage *m, int depth);

static json_t *
scalar_to_json(const ProtobufCFieldDescriptor *f, const void *src, int depth)
{
	char num[32];

	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)src);
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)src);
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)src);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)src);
		return json_string(num);
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		snprintf(num, sizeof(num), "%" PRIu64, *(const uint64_t *)src);
		return json_string(num);
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor,
		    *(const int *)src);

		return ev ? json_string(ev->name) : json_integer(*(const int *)src);
	}
	case PROTOBUF_C_TYPE_STRING:
		return json_string(*(char *const *)src ? *(char *const *)src : "");
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = src;
		size_t n = sodium_base64_ENCODED_LEN(b->len, sodium_base64_VARIANT_ORIGINAL);
		char *s = malloc(n);
		json_t *j;

		if (s == NULL)
			return NULL;
		sodium_bin2base64(s, n, b->data, b->len, sodium_base64_VARIANT_ORIGINAL);
		j = json_string(s);
		free(s);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return message_to_json(*(ProtobufCMessage *const *)src, depth + 1);
	default:
		return json_null();
	}
}

static int
is_default(const ProtobufCFieldDescriptor *f, const void *src)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return *(char *const *)src == NULL || **(char *const *)src == '\0';
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)src)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)src == NULL;
	default: {
		static const uint8_t zero[8];

		return memcmp(src, zero, field_size(f)) == 0;
	}
	}
}

static json_t *
message_to_json(const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *o;

	if (depth > JSON_MAX_DEPTH || (o = json_object()) == NULL)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;
		json_t *v;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)(base + f->offset);

			if (n == 0)
				continue;
			v = json_array();
			for (size_t k = 0; v != NULL && k < n; k++) {
				json_t *e = scalar_to_json(f, arr + k * field_size(f), depth);

				/* an element that cannot be shown fails the whole */
				if (e == NULL || json_array_append_new(v, e) != 0) {
					json_decref(v);
					v = NULL;
				}
			}
		} else {
			if (is_default(f, base + f->offset))
				continue;
			v = scalar_to_json(f, base + f->offset, depth);
		}
		if (v == NULL || json_object_set_new(o, f->name, v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *
payload_to_json(int kind, const uint8_t *p, size_t len)
{
	const ProtobufCMessageDescriptor *d = payload_descriptor(kind);
	ProtobufCMessage *m;
	json_t *o;

	if (d == NULL || (m = protobuf_c_message_unpack(d, NULL, len, p)) == NULL)
		return NULL;
	o = message_to_json(m, 0);
	protobuf_c_message_free_unpacked(m, NULL);
	return o;
}
