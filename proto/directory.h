/*
 * directory.h — the party directory: one document, signed by the network
 * authority, listing every party of the network with its OIN, name, roles,
 * endpoint, signing certificate, sealing and transport keys and optional
 * relay (`via`).
 *
 * Loading is all or nothing: the authority's certificate must validate
 * against the chain PKI and carry the configured authority OIN, the
 * signature must verify over the exact directory bytes, the directory must
 * be inside its validity period, and every party entry must be well formed
 * with a certificate that validates for that party's OIN.  One bad entry
 * refuses the whole directory.
 */
#ifndef KETEN_DIRECTORY_H
#define KETEN_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct pki;
struct directory;

/* Role bits: 1u << ROLE (the Role enum of directory.proto). */
#define KETEN_ROLE_BIT(r) (1u << (r))

/* A read-only view of one party; owned by its directory, valid until
 * directory_destroy(). */
struct party {
	const char *oin;
	const char *name;
	uint32_t roles;		/* KETEN_ROLE_BIT() set */
	const char *endpoint;
	const char *via;	/* "" when reached directly */
	uint8_t sign_pk[32];	/* Ed25519, taken from the validated certificate */
	uint8_t seal_pk[32];	/* X25519 */
	uint8_t curve_pk[32];	/* CurveZMQ */
	const uint8_t *cert_der;
	size_t cert_len;
};

/* Maximum size of a signed directory document. */
#define KETEN_DIRECTORY_MAX (4u << 20)
/* Maximum number of parties in a directory. */
#define KETEN_DIRECTORY_MAX_PARTIES 4096

/* Parse and verify a SignedDirectory.  now_ms: current time.  Caller owns
 * *out (directory_destroy).  Errors: KETEN_EPARSE, KETEN_ETOOBIG,
 * KETEN_EVERSION, KETEN_EDIRSIG, KETEN_EDIREXPIRED, KETEN_EDIRDUP,
 * KETEN_EDIRROLE, KETEN_EDIRPARTY, KETEN_EDIRVIA, certificate errors of
 * pki_verify_cert() for an entry, KETEN_ENOMEM.  A signer certificate that
 * validates but names another OIN than authority_oin gives KETEN_EDIRSIG;
 * its other certificate errors are returned as they are.  KETEN_EINVAL
 * when pki or out is NULL or authority_oin is not an OIN. */
int directory_load(const struct pki *pki, const char *authority_oin,
    const uint8_t *data, size_t len, uint64_t now_ms, struct directory **out)
    __attribute__((warn_unused_result));

/* Same as directory_load(); on failure also writes a one-line reason that
 * names the offending part of the document ("parties[3].via:
 * 00000001999000090000 does not have role relay") to err (errlen bytes;
 * err may be NULL).  For operators' tools such as `keten directory verify`. */
int directory_load_diag(const struct pki *pki, const char *authority_oin,
    const uint8_t *data, size_t len, uint64_t now_ms, struct directory **out,
    char *err, size_t errlen) __attribute__((warn_unused_result));

/* Same as directory_load(), reading the file at path (at most
 * KETEN_DIRECTORY_MAX bytes; KETEN_EIO if it cannot be read). */
int directory_load_file(const struct pki *pki, const char *authority_oin,
    const char *path, uint64_t now_ms, struct directory **out)
    __attribute__((warn_unused_result));

/* Free; sets *dp to NULL; NULL-safe. */
void directory_destroy(struct directory **dp);

/* Look-ups; NULL when absent.  Results are owned by d. */
const struct party *directory_find(const struct directory *d, const char *oin);
const struct party *directory_find_curve(const struct directory *d,
    const uint8_t curve_pk[32]);
size_t directory_count(const struct directory *d);
const struct party *directory_party(const struct directory *d, size_t i);

uint64_t directory_serial(const struct directory *d);
/* SHA-256 of the signed Directory bytes: the same for the same content. */
const uint8_t *directory_digest(const struct directory *d);
uint64_t directory_expires_at(const struct directory *d);
const char *directory_network(const struct directory *d);

/* Role name <-> number ("municipality" <-> MUNICIPALITY, ...); names are
 * the lowercase enum names.  role_from_name returns -1 when unknown;
 * role_name returns NULL when unknown. */
int role_from_name(const char *name);
const char *role_name(int role);

/* Build a SignedDirectory from a JSON source file (format in
 * docs/PROTOCOL.md), signed with the authority's Ed25519 secret key sk (64)
 * and carrying its certificate.  Relative paths in the source are relative
 * to the source file's directory.  Caller owns *out.  On error, a
 * one-line reason ("file: parties[3].oin: not 20 digits") is written to
 * err (errlen bytes).  Errors: KETEN_EPARSE, KETEN_EDIR*, KETEN_EIO,
 * KETEN_ENOMEM.  The entries are checked as directory_load() checks them,
 * except that without a chain PKI here the party certificates are only
 * read, not validated: a caller that has the CA and CRL verifies the
 * result with directory_load() before publishing it (`keten directory
 * sign --ca --crl` does). */
int directory_sign_json(const char *json_path, const uint8_t *sk,
    const uint8_t *cert_der, size_t cert_len, uint64_t now_ms,
    struct buf **out, char *err, size_t errlen);

#endif
