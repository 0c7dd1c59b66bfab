/*
 * directory.c — the party directory: verify and load a SignedDirectory,
 * and build and sign one from its JSON source (see directory.h and
 * docs/PROTOCOL.md §9).
 *
 * Loading goes strictly outside in, and nothing inside the document is
 * believed before the signature over it verifies: the SignedDirectory
 * wrapper is unpacked and must be the canonical encoding of itself, the
 * signer certificate must validate for the authority OIN, the signature
 * must verify over CTX_DIRECTORY and the directory bytes exactly as
 * received; only then is the Directory unpacked and every field checked.
 * The field checks are one function, dir_build(), used both when loading
 * and when signing, so that the signing tool refuses exactly what a node
 * would refuse.  A loaded directory copies every string and certificate it
 * keeps into one allocation of its own, so the struct party views stay
 * valid until directory_destroy(); look-ups by OIN and by CURVE key are
 * binary searches over sorted arrays of pointers.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "directory.h"
#include "directory.pb-c.h"
#include "err.h"
#include "keys.h"
#include "pki.h"
#include "util.h"

/* The context string of the directory signature, including its NUL:
 * "keten/v1/directory" and one zero byte, 19 bytes (PROTOCOL.md §1). */
static const char CTX_DIRECTORY[] = "keten/v1/directory";
#define CTX_DIRECTORY_LEN sizeof(CTX_DIRECTORY)

#define DIRECTORY_VERSION 1
#define DIRECTORY_SKEW_MS (5u * 60u * 1000u)	/* allowed clock skew on issued_at */
#define NETWORK_MAX 64				/* bytes of the network name */
#define NAME_MAX_LEN 256			/* bytes of a party name (UTF-8) */
#define ENDPOINT_MAX 256			/* bytes of a ZeroMQ endpoint */
#define CERT_MAX 16384				/* bytes of one DER certificate */
#define SOURCE_MAX (16u << 20)			/* bytes of a JSON source file */
#define VALID_DAYS_MAX 3650
#define DAY_MS (24ull * 3600u * 1000u)

struct directory {
	char *network;
	uint64_t serial;
	uint64_t issued_at;
	uint64_t expires_at;
	size_t n;
	struct party *parties;		/* document order */
	const struct party **by_oin;	/* sorted by OIN */
	const struct party **by_curve;	/* sorted by CURVE key */
	char *arena;			/* the strings and certificates */
	uint8_t digest[32];		/* SHA-256 of the signed Directory bytes */
};

/* ------------------------------------------------------------------ */
/* roles */

static const char *const role_names[] = {
	[KETEN__V1__ROLE__MUNICIPALITY] = "municipality",
	[KETEN__V1__ROLE__IND] = "ind",
	[KETEN__V1__ROLE__DTV] = "dtv",
	[KETEN__V1__ROLE__AVIM] = "avim",
	[KETEN__V1__ROLE__COA] = "coa",
	[KETEN__V1__ROLE__NGO] = "ngo",
	[KETEN__V1__ROLE__ESCALATION_TABLE] = "escalation_table",
	[KETEN__V1__ROLE__RELAY] = "relay",
	[KETEN__V1__ROLE__AUTHORITY] = "authority",
};
#define ROLE_MAX ((int)(sizeof(role_names) / sizeof(role_names[0])) - 1)

const char *
role_name(int role)
{
	if (role < 1 || role > ROLE_MAX)
		return NULL;
	return role_names[role];
}

int
role_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (int r = 1; r <= ROLE_MAX; r++)
		if (strcmp(name, role_names[r]) == 0)
			return r;
	return -1;
}

/* ------------------------------------------------------------------ */
/* diagnostics: the one-line reason that goes with an error code */

struct diag {
	char *buf;		/* may be NULL */
	size_t len;
	const char *prefix;	/* "file" in "file: parties[3].oin: ..."; may be NULL */
};

static int diag_fail(struct diag *dg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the reason for code in dg and return code. */
static int
diag_fail(struct diag *dg, int code, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (dg == NULL || dg->buf == NULL || dg->len == 0)
		return code;
	if (dg->prefix != NULL)
		n = snprintf(dg->buf, dg->len, "%s: ", dg->prefix);
	if (n < 0 || (size_t)n >= dg->len)
		return code;
	va_start(ap, fmt);
	vsnprintf(dg->buf + n, dg->len - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

/* ------------------------------------------------------------------ */
/* field checks */

/* 1 if s is 1..max bytes of printable ASCII without spaces. */
static int
token_ok(const char *s, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] <= 0x20 || s[n] >= 0x7f || n >= max)
			return 0;
	return n > 0;
}

/* A ZeroMQ endpoint keten connects to: tcp:// or ipc:// and something
 * after it, printable ASCII without spaces. */
static int
endpoint_ok(const char *s)
{
	if (strncmp(s, "tcp://", 6) != 0 && strncmp(s, "ipc://", 6) != 0)
		return 0;
	return token_ok(s, ENDPOINT_MAX) && s[6] != '\0';
}

static int
party_cmp_oin(const void *a, const void *b)
{
	const struct party *pa = *(const struct party *const *)a;
	const struct party *pb = *(const struct party *const *)b;

	return strcmp(pa->oin, pb->oin);
}

static int
party_cmp_curve(const void *a, const void *b)
{
	const struct party *pa = *(const struct party *const *)a;
	const struct party *pb = *(const struct party *const *)b;

	return memcmp(pa->curve_pk, pb->curve_pk, 32);
}

/* Check one party entry on its own (everything but uniqueness, via
 * targets and the certificate chain).  *size grows by the arena bytes the
 * entry needs. */
static int
party_check(const Keten__V1__Party *p, size_t i, struct diag *dg, size_t *size)
{
	uint32_t seen = 0;
	size_t name_len;

	if (p->base.n_unknown_fields != 0)
		return diag_fail(dg, KETEN_EPARSE, "parties[%zu]: unknown field", i);
	if (!oin_valid(p->oin))
		return diag_fail(dg, KETEN_EDIRPARTY, "parties[%zu].oin: not 20 digits", i);
	name_len = strlen(p->name);
	if (name_len == 0)
		return diag_fail(dg, KETEN_EDIRPARTY, "parties[%zu].name: empty", i);
	if (name_len > NAME_MAX_LEN)
		return diag_fail(dg, KETEN_EDIRPARTY,
		    "parties[%zu].name: longer than %d bytes", i, NAME_MAX_LEN);
	if (!utf8_ok(p->name, 1))
		return diag_fail(dg, KETEN_EDIRPARTY,
		    "parties[%zu].name: not UTF-8 text without control characters", i);
	if (p->n_roles == 0)
		return diag_fail(dg, KETEN_EDIRROLE, "parties[%zu].roles: empty", i);
	for (size_t j = 0; j < p->n_roles; j++) {
		int r = (int)p->roles[j];

		if (role_name(r) == NULL)
			return diag_fail(dg, KETEN_EDIRROLE,
			    "parties[%zu].roles[%zu]: unknown role %d", i, j, r);
		if (seen & KETEN_ROLE_BIT(r))
			return diag_fail(dg, KETEN_EDIRROLE,
			    "parties[%zu].roles[%zu]: %s listed twice", i, j, role_name(r));
		seen |= KETEN_ROLE_BIT(r);
	}
	if (!endpoint_ok(p->endpoint))
		return diag_fail(dg, KETEN_EDIRPARTY, "parties[%zu].endpoint: not "
		    "tcp://... or ipc://... (printable, no spaces, at most %d bytes)",
		    i, ENDPOINT_MAX);
	if (p->signing_cert.len == 0)
		return diag_fail(dg, KETEN_EDIRPARTY, "parties[%zu].signing_cert: missing", i);
	if (p->signing_cert.len > CERT_MAX)
		return diag_fail(dg, KETEN_EDIRPARTY,
		    "parties[%zu].signing_cert: larger than %d bytes", i, CERT_MAX);
	if (p->seal_key.len != 32)
		return diag_fail(dg, KETEN_EDIRPARTY,
		    "parties[%zu].seal_key: %zu bytes, expected 32", i, p->seal_key.len);
	if (sodium_is_zero(p->seal_key.data, 32))
		return diag_fail(dg, KETEN_EDIRPARTY, "parties[%zu].seal_key: all zero", i);
	if (p->curve_key.len != 32)
		return diag_fail(dg, KETEN_EDIRPARTY,
		    "parties[%zu].curve_key: %zu bytes, expected 32", i, p->curve_key.len);
	if (sodium_is_zero(p->curve_key.data, 32))
		return diag_fail(dg, KETEN_EDIRPARTY, "parties[%zu].curve_key: all zero", i);
	if (p->via[0] != '\0' && !oin_valid(p->via))
		return diag_fail(dg, KETEN_EDIRVIA, "parties[%zu].via: not 20 digits", i);
	if (strcmp(p->via, p->oin) == 0)
		return diag_fail(dg, KETEN_EDIRVIA, "parties[%zu].via: names the party itself", i);
	*size += KETEN_OIN_LEN + 1 + name_len + 1 + strlen(p->endpoint) + 1 +
	    strlen(p->via) + 1 + p->signing_cert.len;
	return 0;
}

static char *
arena_put(char **at, const void *p, size_t n)
{
	char *s = *at;

	memcpy(s, p, n);
	*at += n;
	return s;
}

static char *
arena_str(char **at, const char *s)
{
	return arena_put(at, s, strlen(s) + 1);
}

/*
 * The one validation of a Directory's contents, for loading and for
 * signing.  On success *out is a new directory holding copies of
 * everything.  pki NULL (signing, where no chain PKI is at hand) skips the
 * party certificate checks and leaves sign_pk zero.
 */
static int
dir_build(const Keten__V1__Directory *d, const struct pki *pki, uint64_t now_ms,
    struct diag *dg, struct directory **out)
{
	struct directory *dir = NULL;
	char when[40];
	size_t size, nparties = d->n_parties;
	char *at;
	int r;

	*out = NULL;
	if (d->base.n_unknown_fields != 0)
		return diag_fail(dg, KETEN_EPARSE, "unknown field in Directory");
	if (d->version != DIRECTORY_VERSION)
		return diag_fail(dg, KETEN_EVERSION, "version: %u, expected %d",
		    d->version, DIRECTORY_VERSION);
	if (!token_ok(d->network, NETWORK_MAX))
		return diag_fail(dg, KETEN_EPARSE, "network: empty, or not 1..%d "
		    "printable ASCII characters without spaces", NETWORK_MAX);
	if (d->serial == 0)
		return diag_fail(dg, KETEN_EPARSE, "serial: must be greater than 0");
	if (d->issued_at == 0)
		return diag_fail(dg, KETEN_EPARSE, "issued_at: missing");
	if (d->expires_at <= d->issued_at)
		return diag_fail(dg, KETEN_EDIREXPIRED, "expires_at: not after issued_at");
	if (d->issued_at > now_ms && d->issued_at - now_ms > DIRECTORY_SKEW_MS)
		return diag_fail(dg, KETEN_EDIREXPIRED, "not yet valid: issued at %s",
		    time_fmt(d->issued_at, when, sizeof(when)));
	if (now_ms >= d->expires_at)
		return diag_fail(dg, KETEN_EDIREXPIRED, "expired at %s",
		    time_fmt(d->expires_at, when, sizeof(when)));
	if (nparties == 0)
		return diag_fail(dg, KETEN_EPARSE, "parties: empty");
	if (nparties > KETEN_DIRECTORY_MAX_PARTIES)
		return diag_fail(dg, KETEN_ETOOBIG, "parties: more than %d",
		    KETEN_DIRECTORY_MAX_PARTIES);

	size = strlen(d->network) + 1;
	for (size_t i = 0; i < nparties; i++)
		if ((r = party_check(d->parties[i], i, dg, &size)) != 0)
			return r;

	if ((dir = calloc(1, sizeof(*dir))) == NULL ||
	    (dir->parties = calloc(nparties, sizeof(*dir->parties))) == NULL ||
	    (dir->by_oin = calloc(nparties, sizeof(*dir->by_oin))) == NULL ||
	    (dir->by_curve = calloc(nparties, sizeof(*dir->by_curve))) == NULL ||
	    (dir->arena = malloc(size)) == NULL) {
		r = diag_fail(dg, KETEN_ENOMEM, "out of memory");
		goto out;
	}
	at = dir->arena;
	dir->network = arena_str(&at, d->network);
	dir->serial = d->serial;
	dir->issued_at = d->issued_at;
	dir->expires_at = d->expires_at;
	dir->n = nparties;
	for (size_t i = 0; i < nparties; i++) {
		const Keten__V1__Party *p = d->parties[i];
		struct party *v = &dir->parties[i];

		v->oin = arena_str(&at, p->oin);
		v->name = arena_str(&at, p->name);
		v->endpoint = arena_str(&at, p->endpoint);
		v->via = arena_str(&at, p->via);
		v->cert_der = (const uint8_t *)arena_put(&at, p->signing_cert.data,
		    p->signing_cert.len);
		v->cert_len = p->signing_cert.len;
		for (size_t j = 0; j < p->n_roles; j++)
			v->roles |= KETEN_ROLE_BIT(p->roles[j]);
		memcpy(v->seal_pk, p->seal_key.data, 32);
		memcpy(v->curve_pk, p->curve_key.data, 32);
		dir->by_oin[i] = dir->by_curve[i] = v;
	}

	/* Uniqueness: sort, then compare neighbours.  qsort is not stable,
	 * so name the two entries by their positions in the document. */
	qsort(dir->by_oin, nparties, sizeof(*dir->by_oin), party_cmp_oin);
	for (size_t i = 1; i < nparties; i++)
		if (party_cmp_oin(&dir->by_oin[i - 1], &dir->by_oin[i]) == 0) {
			size_t a = (size_t)(dir->by_oin[i - 1] - dir->parties);
			size_t b = (size_t)(dir->by_oin[i] - dir->parties);

			r = diag_fail(dg, KETEN_EDIRDUP, "parties[%zu].oin: %s also at parties[%zu]",
			    a > b ? a : b, dir->by_oin[i]->oin, a < b ? a : b);
			goto out;
		}
	qsort(dir->by_curve, nparties, sizeof(*dir->by_curve), party_cmp_curve);
	for (size_t i = 1; i < nparties; i++)
		if (party_cmp_curve(&dir->by_curve[i - 1], &dir->by_curve[i]) == 0) {
			size_t a = (size_t)(dir->by_curve[i - 1] - dir->parties);
			size_t b = (size_t)(dir->by_curve[i] - dir->parties);

			r = diag_fail(dg, KETEN_EDIRPARTY,
			    "parties[%zu].curve_key: same as parties[%zu]",
			    a > b ? a : b, a < b ? a : b);
			goto out;
		}

	/* A via names another party that is a relay and is reached
	 * directly itself: one relay hop, never a chain or a loop. */
	for (size_t i = 0; i < nparties; i++) {
		const struct party *v = &dir->parties[i], *relay;

		if (v->via[0] == '\0')
			continue;
		if ((relay = directory_find(dir, v->via)) == NULL) {
			r = diag_fail(dg, KETEN_EDIRVIA,
			    "parties[%zu].via: %s is not in the directory", i, v->via);
			goto out;
		}
		if (!(relay->roles & KETEN_ROLE_BIT(KETEN__V1__ROLE__RELAY))) {
			r = diag_fail(dg, KETEN_EDIRVIA,
			    "parties[%zu].via: %s does not have role relay", i, v->via);
			goto out;
		}
		if (relay->via[0] != '\0') {
			r = diag_fail(dg, KETEN_EDIRVIA,
			    "parties[%zu].via: relay %s has a via of its own", i, v->via);
			goto out;
		}
	}

	/* Certificates last: the most expensive check, after every cheap
	 * reason to refuse has been tried. */
	if (pki != NULL) {
		int64_t now_s = (int64_t)(now_ms / 1000u);

		for (size_t i = 0; i < nparties; i++) {
			struct party *v = &dir->parties[i];

			r = pki_verify_cert(pki, v->cert_der, v->cert_len, now_s,
			    v->oin, v->sign_pk, NULL);
			if (r != 0) {
				r = diag_fail(dg, r, "parties[%zu].signing_cert: %s", i,
				    keten_strerror(r));
				goto out;
			}
		}
	}
	*out = dir;
	dir = NULL;
	r = 0;
out:
	directory_destroy(&dir);
	return r;
}

/* ------------------------------------------------------------------ */
/* signature */

/* The signed message: CTX_DIRECTORY (with its NUL) || directory bytes.
 * Caller frees *msg. */
static int
sig_message(const uint8_t *p, size_t len, uint8_t **msg, size_t *msg_len)
{
	if ((*msg = malloc(CTX_DIRECTORY_LEN + len)) == NULL)
		return KETEN_ENOMEM;
	memcpy(*msg, CTX_DIRECTORY, CTX_DIRECTORY_LEN);
	memcpy(*msg + CTX_DIRECTORY_LEN, p, len);
	*msg_len = CTX_DIRECTORY_LEN + len;
	return 0;
}

static int sig_verify(const uint8_t pk[32], const uint8_t *p, size_t len,
    const uint8_t sig[64]) __attribute__((warn_unused_result));

/* 0 if sig is the signature of pk over the directory bytes p. */
static int
sig_verify(const uint8_t pk[32], const uint8_t *p, size_t len, const uint8_t sig[64])
{
	uint8_t *msg = NULL;
	size_t msg_len;
	int r;

	if ((r = sig_message(p, len, &msg, &msg_len)) != 0)
		return r;
	r = crypto_sign_verify_detached(sig, msg, msg_len, pk) == 0 ? 0 : KETEN_EDIRSIG;
	free(msg);
	return r;
}

/* 1 if p is the canonical encoding of m (PROTOCOL.md §1): re-encoding
 * what protobuf-c decoded gives the same bytes.  This refuses repeated
 * singular fields, unpacked repeated numbers, defaults written out,
 * overlong varints and embedded NULs in strings, so that no other decoder
 * can read something else from bytes this one accepted.  The signature is
 * still checked over the bytes received, never over this re-encoding. */
static int
pb_canonical(const ProtobufCMessage *m, const uint8_t *p, size_t len, int *nomem)
{
	uint8_t *again;
	int same;

	*nomem = 0;
	if (protobuf_c_message_get_packed_size(m) != len)
		return 0;
	if ((again = malloc(len ? len : 1)) == NULL) {
		*nomem = 1;
		return 0;
	}
	same = protobuf_c_message_pack(m, again) == len && memcmp(again, p, len) == 0;
	free(again);
	return same;
}

/* ------------------------------------------------------------------ */
/* loading */

int
directory_load_diag(const struct pki *pki, const char *authority_oin,
    const uint8_t *data, size_t len, uint64_t now_ms, struct directory **out,
    char *err, size_t errlen)
{
	Keten__V1__SignedDirectory *sd = NULL;
	Keten__V1__Directory *d = NULL;
	struct diag dg = { err, errlen, NULL };
	uint8_t pk[32];
	int r, nomem;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out != NULL)
		*out = NULL;
	if (pki == NULL || out == NULL || !oin_valid(authority_oin) ||
	    (data == NULL && len != 0))
		return diag_fail(&dg, KETEN_EINVAL, "no PKI, no authority OIN or no output");
	if (len == 0)
		return diag_fail(&dg, KETEN_EPARSE, "empty");
	if (len > KETEN_DIRECTORY_MAX)
		return diag_fail(&dg, KETEN_ETOOBIG, "larger than %u bytes", KETEN_DIRECTORY_MAX);
	if (sodium_init() < 0)
		return diag_fail(&dg, KETEN_ECRYPTO, "libsodium failed to initialise");

	if ((sd = keten__v1__signed_directory__unpack(NULL, len, data)) == NULL) {
		r = diag_fail(&dg, KETEN_EPARSE, "not a SignedDirectory");
		goto out;
	}
	if (sd->base.n_unknown_fields != 0) {
		r = diag_fail(&dg, KETEN_EPARSE, "unknown field in SignedDirectory");
		goto out;
	}
	if (!pb_canonical(&sd->base, data, len, &nomem)) {
		r = nomem ? KETEN_ENOMEM :
		    diag_fail(&dg, KETEN_EPARSE, "SignedDirectory not canonically encoded");
		goto out;
	}
	if (sd->directory.len == 0) {
		r = diag_fail(&dg, KETEN_EPARSE, "directory: empty");
		goto out;
	}
	if (sd->signature.len != crypto_sign_BYTES) {
		r = diag_fail(&dg, KETEN_EDIRSIG, "signature: %zu bytes, expected %d",
		    sd->signature.len, crypto_sign_BYTES);
		goto out;
	}
	if (sd->signer_cert.len == 0 || sd->signer_cert.len > CERT_MAX) {
		r = diag_fail(&dg, KETEN_EDIRSIG, "signer_cert: missing or larger than %d bytes",
		    CERT_MAX);
		goto out;
	}

	/* Who signed: a certificate of the chain CA for the authority. */
	r = pki_verify_cert(pki, sd->signer_cert.data, sd->signer_cert.len,
	    (int64_t)(now_ms / 1000u), authority_oin, pk, NULL);
	if (r == KETEN_ECERTOIN) {
		r = diag_fail(&dg, KETEN_EDIRSIG,
		    "signer_cert: not a certificate of the authority %s", authority_oin);
		goto out;
	}
	if (r != 0) {
		r = diag_fail(&dg, r, "signer_cert: %s", keten_strerror(r));
		goto out;
	}
	/* What was signed: the directory bytes exactly as received. */
	if (sig_verify(pk, sd->directory.data, sd->directory.len, sd->signature.data) != 0) {
		r = diag_fail(&dg, KETEN_EDIRSIG, "signature: does not verify");
		goto out;
	}

	/* Only now is the content read. */
	d = keten__v1__directory__unpack(NULL, sd->directory.len, sd->directory.data);
	if (d == NULL) {
		r = diag_fail(&dg, KETEN_EPARSE, "directory: not a Directory");
		goto out;
	}
	if (!pb_canonical(&d->base, sd->directory.data, sd->directory.len, &nomem)) {
		r = nomem ? KETEN_ENOMEM :
		    diag_fail(&dg, KETEN_EPARSE, "directory: not canonically encoded");
		goto out;
	}
	if ((r = dir_build(d, pki, now_ms, &dg, out)) == 0)
		crypto_hash_sha256((*out)->digest, sd->directory.data, sd->directory.len);
out:
	if (d != NULL)
		keten__v1__directory__free_unpacked(d, NULL);
	if (sd != NULL)
		keten__v1__signed_directory__free_unpacked(sd, NULL);
	return r;
}

int
directory_load(const struct pki *pki, const char *authority_oin,
    const uint8_t *data, size_t len, uint64_t now_ms, struct directory **out)
{
	return directory_load_diag(pki, authority_oin, data, len, now_ms, out, NULL, 0);
}

int
directory_load_file(const struct pki *pki, const char *authority_oin,
    const char *path, uint64_t now_ms, struct directory **out)
{
	struct buf *b = NULL;
	int r;

	if (out != NULL)
		*out = NULL;
	if (path == NULL)
		return KETEN_EINVAL;
	if ((r = buf_load_file(path, KETEN_DIRECTORY_MAX, &b)) != 0)
		return r;
	r = directory_load(pki, authority_oin, buf_ptr(b), buf_len(b), now_ms, out);
	buf_destroy(&b);
	return r;
}

void
directory_destroy(struct directory **dp)
{
	struct directory *d;

	if (dp == NULL || (d = *dp) == NULL)
		return;
	free(d->arena);
	free(d->by_curve);
	free(d->by_oin);
	free(d->parties);
	free(d);
	*dp = NULL;
}

/* ------------------------------------------------------------------ */
/* look-ups */

const struct party *
directory_find(const struct directory *d, const char *oin)
{
	size_t lo = 0, hi;

	if (d == NULL || oin == NULL)
		return NULL;
	hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(oin, d->by_oin[mid]->oin);

		if (c == 0)
			return d->by_oin[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct party *
directory_find_curve(const struct directory *d, const uint8_t curve_pk[32])
{
	size_t lo = 0, hi;

	if (d == NULL || curve_pk == NULL)
		return NULL;
	hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(curve_pk, d->by_curve[mid]->curve_pk, 32);

		if (c == 0)
			return d->by_curve[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t
directory_count(const struct directory *d)
{
	return d != NULL ? d->n : 0;
}

const struct party *
directory_party(const struct directory *d, size_t i)
{
	return d != NULL && i < d->n ? &d->parties[i] : NULL;
}

const uint8_t *
directory_digest(const struct directory *d)
{
	return d->digest;
}

uint64_t
directory_serial(const struct directory *d)
{
	return d != NULL ? d->serial : 0;
}

uint64_t
directory_expires_at(const struct directory *d)
{
	return d != NULL ? d->expires_at : 0;
}

const char *
directory_network(const struct directory *d)
{
	return d != NULL ? d->network : NULL;
}

/* ------------------------------------------------------------------ */
/* signing from the JSON source */

/* Everything built from the JSON source that the Directory message points
 * into; freed in one place. */
struct source {
	json_t *root;
	size_t n;
	Keten__V1__Party *party;
	Keten__V1__Party **pparty;
	Keten__V1__Role *roles;
	struct buf **cert;
	uint8_t (*seal)[32];
	uint8_t (*curve)[32];
};

static void
source_free(struct source *s)
{
	if (s->cert != NULL)
		for (size_t i = 0; i < s->n; i++)
			buf_destroy(&s->cert[i]);
	free(s->cert);
	free(s->seal);
	free(s->curve);
	free(s->roles);
	free(s->pparty);
	free(s->party);
	json_decref(s->root);
}

/* Refuse keys of obj that are not in the NULL-terminated list allowed. */
static int
json_keys_check(json_t *obj, const char *const *allowed, const char *where,
    struct diag *dg)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t i;

		(void)v;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return diag_fail(dg, KETEN_EPARSE, "%s%s%s: unknown key", where,
			    *where ? "." : "", key);
	}
	return 0;
}

/* The string member key of obj; missing is an error unless optional (then
 * *out is ""). */
static int
json_str(json_t *obj, const char *key, int optional, const char *where,
    struct diag *dg, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = "";
	if (v == NULL) {
		if (optional)
			return 0;
		return diag_fail(dg, KETEN_EPARSE, "%s.%s: missing", where, key);
	}
	if (!json_is_string(v))
		return diag_fail(dg, KETEN_EPARSE, "%s.%s: not a string", where, key);
	*out = json_string_value(v);
	return 0;
}

/* A path from the source, relative to the source's directory. */
static int
source_path(const char *base, const char *rel, char *out, size_t len)
{
	int n;

	if (rel[0] == '\0')
		return KETEN_EPARSE;
	if (rel[0] == '/')
		n = snprintf(out, len, "%s", rel);
	else
		n = snprintf(out, len, "%s/%s", base, rel);
	return n < 0 || (size_t)n >= len ? KETEN_ETOOBIG : 0;
}

/* Read one party of the source into s->party[i]. */
static int
source_party(struct source *s, json_t *jp, size_t i, const char *base,
    Keten__V1__Role **role_at, struct diag *dg)
{
	static const char *const keys[] = { "oin", "name", "roles", "endpoint",
	    "signing_cert", "seal_key", "curve_key", "via", NULL };
	Keten__V1__Party *p = &s->party[i];
	const char *oin, *name, *endpoint, *cert, *seal, *curve, *via;
	char where[32], path[PATH_MAX];
	json_t *roles, *jr;
	size_t j;
	int r;

	snprintf(where, sizeof(where), "parties[%zu]", i);
	if (!json_is_object(jp))
		return diag_fail(dg, KETEN_EPARSE, "%s: not an object", where);
	if ((r = json_keys_check(jp, keys, where, dg)) != 0 ||
	    (r = json_str(jp, "oin", 0, where, dg, &oin)) != 0 ||
	    (r = json_str(jp, "name", 0, where, dg, &name)) != 0 ||
	    (r = json_str(jp, "endpoint", 0, where, dg, &endpoint)) != 0 ||
	    (r = json_str(jp, "signing_cert", 0, where, dg, &cert)) != 0 ||
	    (r = json_str(jp, "seal_key", 0, where, dg, &seal)) != 0 ||
	    (r = json_str(jp, "curve_key", 0, where, dg, &curve)) != 0 ||
	    (r = json_str(jp, "via", 1, where, dg, &via)) != 0)
		return r;
	keten__v1__party__init(p);
	/* protobuf-c's message structs hold char *, but only packing reads
	 * them here; the strings stay owned by the JSON document. */
	p->oin = (char *)oin;
	p->name = (char *)name;
	p->endpoint = (char *)endpoint;
	p->via = (char *)via;

	roles = json_object_get(jp, "roles");
	if (!json_is_array(roles))
		return diag_fail(dg, KETEN_EPARSE, "%s.roles: missing or not an array", where);
	p->roles = *role_at;
	p->n_roles = json_array_size(roles);
	json_array_foreach(roles, j, jr) {
		int role;

		if (!json_is_string(jr))
			return diag_fail(dg, KETEN_EPARSE, "%s.roles[%zu]: not a string", where, j);
		if ((role = role_from_name(json_string_value(jr))) < 0)
			return diag_fail(dg, KETEN_EDIRROLE, "%s.roles[%zu]: unknown role \"%s\"",
			    where, j, json_string_value(jr));
		*(*role_at)++ = (Keten__V1__Role)role;
	}

	if (source_path(base, cert, path, sizeof(path)) != 0)
		return diag_fail(dg, KETEN_EPARSE, "%s.signing_cert: empty or too long path", where);
	if ((r = pki_load_cert_der(path, &s->cert[i])) != 0)
		return diag_fail(dg, r, "%s.signing_cert: %s: %s", where, cert,
		    r == KETEN_EIO ? strerror(errno) : keten_strerror(r));
	if (buf_len(s->cert[i]) > CERT_MAX)
		return diag_fail(dg, KETEN_EDIRPARTY, "%s.signing_cert: %s: larger than %d bytes",
		    where, cert, CERT_MAX);
	p->signing_cert.data = (uint8_t *)buf_ptr(s->cert[i]);
	p->signing_cert.len = buf_len(s->cert[i]);

	if (source_path(base, seal, path, sizeof(path)) != 0)
		return diag_fail(dg, KETEN_EPARSE, "%s.seal_key: empty or too long path", where);
	if ((r = keys_load_public(path, s->seal[i])) != 0)
		return diag_fail(dg, r, "%s.seal_key: %s: %s", where, seal, keten_strerror(r));
	p->seal_key.data = s->seal[i];
	p->seal_key.len = 32;

	if (source_path(base, curve, path, sizeof(path)) != 0)
		return diag_fail(dg, KETEN_EPARSE, "%s.curve_key: empty or too long path", where);
	if ((r = keys_load_public(path, s->curve[i])) != 0)
		return diag_fail(dg, r, "%s.curve_key: %s: %s", where, curve, keten_strerror(r));
	p->curve_key.data = s->curve[i];
	p->curve_key.len = 32;
	return 0;
}

/* A JSON integer in [min, max]. */
static int
json_uint(json_t *obj, const char *key, json_int_t min, json_int_t max,
    struct diag *dg, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return diag_fail(dg, KETEN_EPARSE, "%s: missing, or not an integer in %lld..%lld",
		    key, (long long)min, (long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int
directory_sign_json(const char *json_path, const uint8_t *sk,
    const uint8_t *cert_der, size_t cert_len, uint64_t now_ms,
    struct buf **out, char *err, size_t errlen)
{
	static const char *const top_keys[] = { "network", "serial", "valid_days",
	    "expires_at", "parties", NULL };
	struct diag dg = { err, errlen, json_path };
	struct source s = { 0 };
	struct buf *src = NULL, *b = NULL;
	struct directory *check = NULL;
	Keten__V1__Directory d = KETEN__V1__DIRECTORY__INIT;
	Keten__V1__SignedDirectory sd = KETEN__V1__SIGNED_DIRECTORY__INIT;
	Keten__V1__Role *role_at;
	json_error_t jerr;
	json_t *parties, *v;
	uint8_t *dbytes = NULL, *msg = NULL, *w, sig[crypto_sign_BYTES];
	size_t nroles = 0, dlen, msg_len, i;
	char base[PATH_MAX], *slash;
	const char *network;
	uint64_t days;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out != NULL)
		*out = NULL;
	if (json_path == NULL || sk == NULL || cert_der == NULL || cert_len == 0 || out == NULL)
		return diag_fail(&dg, KETEN_EINVAL, "missing argument");
	if (cert_len > CERT_MAX)
		return diag_fail(&dg, KETEN_EINVAL, "signer certificate larger than %d bytes",
		    CERT_MAX);
	if (sodium_init() < 0)
		return diag_fail(&dg, KETEN_ECRYPTO, "libsodium failed to initialise");

	if (snprintf(base, sizeof(base), "%s", json_path) >= (int)sizeof(base))
		return diag_fail(&dg, KETEN_EINVAL, "path too long");
	if ((slash = strrchr(base, '/')) == NULL)
		strcpy(base, ".");
	else if (slash == base)
		base[1] = '\0';
	else
		*slash = '\0';

	if ((r = buf_load_file(json_path, SOURCE_MAX, &src)) != 0) {
		r = diag_fail(&dg, r, "%s", r == KETEN_EIO ? strerror(errno) : keten_strerror(r));
		goto out;
	}
	s.root = json_loadb((const char *)buf_ptr(src), buf_len(src), JSON_REJECT_DUPLICATES, &jerr);
	if (s.root == NULL) {
		r = diag_fail(&dg, KETEN_EPARSE, "line %d: %s", jerr.line, jerr.text);
		goto out;
	}
	if (!json_is_object(s.root)) {
		r = diag_fail(&dg, KETEN_EPARSE, "not a JSON object");
		goto out;
	}
	if ((r = json_keys_check(s.root, top_keys, "", &dg)) != 0)
		goto out;
	if ((v = json_object_get(s.root, "network")) == NULL || !json_is_string(v)) {
		r = diag_fail(&dg, KETEN_EPARSE, "network: missing or not a string");
		goto out;
	}
	network = json_string_value(v);
	d.version = DIRECTORY_VERSION;
	d.network = (char *)network;
	if ((r = json_uint(s.root, "serial", 1, INT64_MAX, &dg, &d.serial)) != 0)
		goto out;
	d.issued_at = now_ms;
	if ((json_object_get(s.root, "valid_days") == NULL) ==
	    (json_object_get(s.root, "expires_at") == NULL)) {
		r = diag_fail(&dg, KETEN_EPARSE, "exactly one of valid_days and expires_at is needed");
		goto out;
	}
	if (json_object_get(s.root, "valid_days") != NULL) {
		if ((r = json_uint(s.root, "valid_days", 1, VALID_DAYS_MAX, &dg, &days)) != 0)
			goto out;
		d.expires_at = now_ms + days * DAY_MS;
	} else if ((r = json_uint(s.root, "expires_at", 1, INT64_MAX, &dg, &d.expires_at)) != 0) {
		goto out;
	}

	parties = json_object_get(s.root, "parties");
	if (!json_is_array(parties)) {
		r = diag_fail(&dg, KETEN_EPARSE, "parties: missing or not an array");
		goto out;
	}
	s.n = json_array_size(parties);
	if (s.n == 0 || s.n > KETEN_DIRECTORY_MAX_PARTIES) {
		r = diag_fail(&dg, s.n ? KETEN_ETOOBIG : KETEN_EPARSE,
		    "parties: not 1..%d entries", KETEN_DIRECTORY_MAX_PARTIES);
		goto out;
	}
	json_array_foreach(parties, i, v) {
		json_t *roles = json_is_object(v) ? json_object_get(v, "roles") : NULL;

		nroles += json_is_array(roles) ? json_array_size(roles) : 0;
	}
	if ((s.party = calloc(s.n, sizeof(*s.party))) == NULL ||
	    (s.pparty = calloc(s.n, sizeof(*s.pparty))) == NULL ||
	    (s.roles = calloc(nroles + 1, sizeof(*s.roles))) == NULL ||
	    (s.cert = calloc(s.n, sizeof(*s.cert))) == NULL ||
	    (s.seal = calloc(s.n, sizeof(*s.seal))) == NULL ||
	    (s.curve = calloc(s.n, sizeof(*s.curve))) == NULL) {
		r = diag_fail(&dg, KETEN_ENOMEM, "out of memory");
		goto out;
	}
	role_at = s.roles;
	json_array_foreach(parties, i, v) {
		if ((r = source_party(&s, v, i, base, &role_at, &dg)) != 0)
			goto out;
		s.pparty[i] = &s.party[i];
	}
	d.n_parties = s.n;
	d.parties = s.pparty;

	/* The same checks a node makes when it loads the directory. */
	if ((r = dir_build(&d, NULL, now_ms, &dg, &check)) != 0)
		goto out;

	dlen = keten__v1__directory__get_packed_size(&d);
	if (dlen > KETEN_DIRECTORY_MAX) {
		r = diag_fail(&dg, KETEN_ETOOBIG, "directory larger than %u bytes",
		    KETEN_DIRECTORY_MAX);
		goto out;
	}
	if ((dbytes = malloc(dlen)) == NULL) {
		r = diag_fail(&dg, KETEN_ENOMEM, "out of memory");
		goto out;
	}
	keten__v1__directory__pack(&d, dbytes);
	if ((r = sig_message(dbytes, dlen, &msg, &msg_len)) != 0) {
		r = diag_fail(&dg, r, "out of memory");
		goto out;
	}
	if (crypto_sign_detached(sig, NULL, msg, msg_len, sk) != 0) {
		r = diag_fail(&dg, KETEN_ECRYPTO, "signing failed");
		goto out;
	}
	/* Check the signature with the public half of sk (libsodium layout
	 * seed || pk), so a malformed key never produces a document that
	 * no node accepts. */
	if (sig_verify(sk + 32, dbytes, dlen, sig) != 0) {
		r = diag_fail(&dg, KETEN_ECRYPTO, "signing key is malformed: "
		    "its signature does not verify");
		goto out;
	}

	sd.directory.data = dbytes;
	sd.directory.len = dlen;
	sd.signature.data = sig;
	sd.signature.len = sizeof(sig);
	sd.signer_cert.data = (uint8_t *)cert_der;
	sd.signer_cert.len = cert_len;
	dlen = keten__v1__signed_directory__get_packed_size(&sd);
	if (dlen > KETEN_DIRECTORY_MAX) {
		r = diag_fail(&dg, KETEN_ETOOBIG, "signed directory larger than %u bytes",
		    KETEN_DIRECTORY_MAX);
		goto out;
	}
	if ((b = buf_new(KETEN_DIRECTORY_MAX)) == NULL ||
	    (r = buf_reserve(b, dlen, &w)) != 0) {
		r = diag_fail(&dg, KETEN_ENOMEM, "out of memory");
		goto out;
	}
	keten__v1__signed_directory__pack(&sd, w);
	*out = b;
	b = NULL;
	r = 0;
out:
	sodium_memzero(sig, sizeof(sig));
	free(msg);
	free(dbytes);
	directory_destroy(&check);
	buf_destroy(&b);
	buf_destroy(&src);
	source_free(&s);
	return r;
}
