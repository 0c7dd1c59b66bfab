/*
 * checkpoint.c — C2SP checkpoints with Ed25519 cosignatures (see
 * checkpoint.h; c2sp.org/signed-note, tlog-checkpoint, tlog-cosignature).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "checkpoint.h"
#include "err.h"
#include "util.h"

/* Signature type of Ed25519 timestamped cosignatures (signed-note). */
#define SIGTYPE_COSIG_V1 0x04
/* The first line of the signed message: domain separation. */
static const char COSIG_HEADER[] = "cosignature/v1\n";
/* U+2014 EM DASH and a space open every signature line. */
static const uint8_t SIG_PREFIX[] = { 0xe2, 0x80, 0x94, ' ' };
#define SIG_PREFIX_LEN sizeof(SIG_PREFIX)

#define INT63_MAX UINT64_C(0x7fffffffffffffff)	/* 2^63 - 1 */
#define SIZE_DIGITS_MAX 19			/* digits of 2^63 - 1 */
#define ROOT_B64_LEN 44				/* padded base64 of 32 bytes */
#define COSIG_BLOB_LEN (4 + 8 + 64)		/* key ID, timestamp, signature */
#define COSIG_B64_LEN 104			/* padded base64 of COSIG_BLOB_LEN */
/* Longest body: origin, size and root lines. */
#define BODY_MAX (CHECKPOINT_ORIGIN_MAX + 1 + SIZE_DIGITS_MAX + 1 + ROOT_B64_LEN + 1)
/* Longest signed message: header, "time N\n", body. */
#define MSG_MAX (sizeof(COSIG_HEADER) - 1 + 5 + SIZE_DIGITS_MAX + 1 + BODY_MAX)
/* Longest signature line we write. */
#define SIGLINE_MAX (SIG_PREFIX_LEN + CHECKPOINT_ORIGIN_MAX + 1 + COSIG_B64_LEN + 1)
/* Most bytes a signature blob in a note can decode to. */
#define BLOB_MAX (CHECKPOINT_MAX / 4 * 3)

/* One signature line of a parsed note: pointers into the note. */
struct sigline {
	const uint8_t *name;
	size_t name_len;
	const uint8_t *b64;
	size_t b64_len;
};

struct note {
	size_t body_len;
	size_t nsigs;
	struct sigline sig[CHECKPOINT_MAX_SIGS];
};

/*
 * A key name or origin: non-empty, no Unicode spaces and no '+'
 * (signed-note).  keten accepts printable ASCII without the space only,
 * which rules out every Unicode space and control character at once.
 */
static int
name_valid(const uint8_t *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '+')
			return 0;
	return 1;
}

/* A NUL-terminated key name or origin we are given: the same rule, and
 * at most CHECKPOINT_ORIGIN_MAX bytes. */
static int
arg_name_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, CHECKPOINT_ORIGIN_MAX + 1);
	return n <= CHECKPOINT_ORIGIN_MAX && name_valid((const uint8_t *)s, n);
}

/*
 * Decode padded standard base64 (RFC 4648 §4) of exactly len characters
 * into at most max bytes.  Canonical text only: re-encoding the result
 * must give the same characters, so one value has one spelling (libsodium
 * already refuses missing padding and stray bits; this says so plainly).
 */
static int
b64_decode(const uint8_t *s, size_t len, uint8_t *bin, size_t max, size_t *binlen)
{
	char enc[CHECKPOINT_MAX + 1];

	if (len == 0 || len > CHECKPOINT_MAX ||
	    sodium_base642bin(bin, max, (const char *)s, len, NULL, binlen, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    sodium_base64_ENCODED_LEN(*binlen, sodium_base64_VARIANT_ORIGINAL) != len + 1)
		return -1;
	sodium_bin2base64(enc, sizeof(enc), bin, *binlen, sodium_base64_VARIANT_ORIGINAL);
	return memcmp(enc, s, len) == 0 ? 0 : -1;
}

/* Tree size: "0", or decimal without leading zeros, at most 2^63 - 1. */
static int
size_parse(const uint8_t *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > SIZE_DIGITS_MAX || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		/* 19 digits fit in 64 bits; only the 2^63 bound can be passed */
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > INT63_MAX)
		return -1;
	*v = x;
	return 0;
}

/* The next line of p[*at..len), without its newline; -1 if none ends. */
static int
next_line(const uint8_t *p, size_t len, size_t *at, const uint8_t **line, size_t *n)
{
	const uint8_t *nl;

	if (*at >= len || (nl = memchr(p + *at, '\n', len - *at)) == NULL)
		return -1;
	*line = p + *at;
	*n = (size_t)(nl - *line);
	*at += *n + 1;
	return 0;
}

/*
 * Strict parse of a whole note (see checkpoint_parse).  Every byte is
 * checked by the rule of the part it is in, so the byte-level rules
 * (UTF-8, no control characters, LF only) follow from the line rules.
 */
static int
note_parse(const uint8_t *p, size_t len, struct checkpoint *cp, struct note *nt)
{
	uint8_t blob[BLOB_MAX];
	const uint8_t *line, *sp;
	size_t at = 0, n, blen;

	memset(cp, 0, sizeof(*cp));
	memset(nt, 0, sizeof(*nt));
	if (p == NULL)
		return KETEN_EINVAL;
	if (len > CHECKPOINT_MAX)
		return KETEN_ETOOBIG;
	/* nothing may follow the last newline */
	if (len == 0 || p[len - 1] != '\n')
		return KETEN_EFIELD;

	/* origin */
	if (next_line(p, len, &at, &line, &n) != 0 || n > CHECKPOINT_ORIGIN_MAX ||
	    !name_valid(line, n))
		return KETEN_EFIELD;
	memcpy(cp->origin, line, n);
	cp->origin[n] = '\0';
	/* tree size */
	if (next_line(p, len, &at, &line, &n) != 0 || size_parse(line, n, &cp->size) != 0)
		return KETEN_EFIELD;
	/* root hash */
	if (next_line(p, len, &at, &line, &n) != 0 || n != ROOT_B64_LEN ||
	    b64_decode(line, n, cp->root, sizeof(cp->root), &blen) != 0 || blen != 32)
		return KETEN_EFIELD;
	nt->body_len = at;
	/* keten writes no extension lines and accepts none: the blank line
	 * must follow the root */
	if (next_line(p, len, &at, &line, &n) != 0 || n != 0)
		return KETEN_EFIELD;

	/* signature lines: "— <name> <base64>" up to the end */
	while (at < len) {
		struct sigline *s;

		if (next_line(p, len, &at, &line, &n) != 0)
			return KETEN_EFIELD;
		if (nt->nsigs == CHECKPOINT_MAX_SIGS)
			return KETEN_ETOOBIG;
		if (n < SIG_PREFIX_LEN || memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
			return KETEN_EFIELD;
		line += SIG_PREFIX_LEN;
		n -= SIG_PREFIX_LEN;
		if ((sp = memchr(line, ' ', n)) == NULL)
			return KETEN_EFIELD;
		s = &nt->sig[nt->nsigs];
		s->name = line;
		s->name_len = (size_t)(sp - line);
		s->b64 = sp + 1;
		s->b64_len = n - s->name_len - 1;
		if (!name_valid(s->name, s->name_len) ||
		    b64_decode(s->b64, s->b64_len, blob, sizeof(blob), &blen) != 0 || blen < 4)
			return KETEN_EFIELD;
		nt->nsigs++;
	}
	if (nt->nsigs == 0)
		return KETEN_EFIELD;
	return 0;
}

void
checkpoint_key_id(const char *key_name, const uint8_t pk[32], uint8_t id[4])
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];
	const uint8_t sep[2] = { '\n', SIGTYPE_COSIG_V1 };

	assert(key_name != NULL && pk != NULL && id != NULL);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)key_name, strlen(key_name));
	crypto_hash_sha256_update(&st, sep, sizeof(sep));
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	memcpy(id, h, 4);
}

/* "cosignature/v1\ntime <t>\n" || body into m (MSG_MAX bytes). */
static size_t
cosig_message(uint64_t t, const uint8_t *body, size_t body_len, uint8_t *m)
{
	int k;

	assert(body_len <= BODY_MAX);
	k = snprintf((char *)m, MSG_MAX, "%stime %" PRIu64 "\n", COSIG_HEADER, t);
	assert(k > 0 && (size_t)k + body_len <= MSG_MAX);
	memcpy(m + k, body, body_len);
	return (size_t)k + body_len;
}

/* The signature line "— <key_name> <base64(id || t || sig)>\n" over body
 * into line (SIGLINE_MAX bytes); its length. */
static size_t
cosig_line(const uint8_t *body, size_t body_len, const char *key_name, const uint8_t *sk,
    const uint8_t pk[32], uint64_t t, uint8_t *line)
{
	uint8_t blob[COSIG_BLOB_LEN], m[MSG_MAX];
	char b64[COSIG_B64_LEN + 1];
	size_t nlen = strlen(key_name), at = 0;

	checkpoint_key_id(key_name, pk, blob);
	be64_store(blob + 4, t);
	crypto_sign_detached(blob + 12, NULL, m, cosig_message(t, body, body_len, m), sk);
	sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
	memcpy(line, SIG_PREFIX, SIG_PREFIX_LEN);
	at = SIG_PREFIX_LEN;
	memcpy(line + at, key_name, nlen);
	at += nlen;
	line[at++] = ' ';
	memcpy(line + at, b64, COSIG_B64_LEN);
	at += COSIG_B64_LEN;
	line[at++] = '\n';
	return at;
}

/* The signer arguments shared by sign and cosign. */
static int
signer_valid(const char *key_name, const uint8_t *sk, const uint8_t *pk, uint64_t time_s,
    const struct buf *out)
{
	/* a libsodium secret key ends with its public key: a mismatch would
	 * make a note that no one can verify */
	if (!arg_name_valid(key_name) || sk == NULL || pk == NULL || out == NULL ||
	    time_s > INT63_MAX || memcmp(sk + 32, pk, 32) != 0)
		return 0;
	return 1;
}

int
checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[32], uint64_t time_s,
    const char *key_name, const uint8_t *sk, const uint8_t pk[32], struct buf *out)
{
	uint8_t body[BODY_MAX + 1], line[SIGLINE_MAX];
	char root64[ROOT_B64_LEN + 1];
	size_t body_len, line_len;
	int k, r;

	if (!arg_name_valid(origin) || size > INT63_MAX || root == NULL ||
	    !signer_valid(key_name, sk, pk, time_s, out))
		return KETEN_EINVAL;
	sodium_bin2base64(root64, sizeof(root64), root, 32, sodium_base64_VARIANT_ORIGINAL);
	k = snprintf((char *)body, sizeof(body), "%s\n%" PRIu64 "\n%s\n", origin, size, root64);
	assert(k > 0 && (size_t)k <= BODY_MAX);
	body_len = (size_t)k;
	line_len = cosig_line(body, body_len, key_name, sk, pk, time_s, line);
	/* room for all of it first, so that out is unchanged on failure */
	if ((r = buf_ensure(out, buf_len(out) + body_len + 1 + line_len)) != 0)
		return r;
	if ((r = buf_put(out, body, body_len)) != 0 || (r = buf_put_u8(out, '\n')) != 0 ||
	    (r = buf_put(out, line, line_len)) != 0)
		return r;
	return 0;
}

int
checkpoint_cosign(const uint8_t *note, size_t len, const char *key_name, const uint8_t *sk,
    const uint8_t pk[32], uint64_t time_s, struct buf *out)
{
	struct checkpoint cp;
	struct note nt;
	uint8_t line[SIGLINE_MAX], id[4], blob[BLOB_MAX];
	size_t line_len, blen, nlen;
	int r;

	if (!signer_valid(key_name, sk, pk, time_s, out))
		return KETEN_EINVAL;
	if ((r = note_parse(note, len, &cp, &nt)) != 0)
		return r;
	if (nt.nsigs == CHECKPOINT_MAX_SIGS)
		return KETEN_ETOOBIG;
	/* a second line of the same key would make verifiers refuse the note */
	checkpoint_key_id(key_name, pk, id);
	nlen = strlen(key_name);
	for (size_t i = 0; i < nt.nsigs; i++)
		if (nt.sig[i].name_len == nlen && memcmp(nt.sig[i].name, key_name, nlen) == 0 &&
		    b64_decode(nt.sig[i].b64, nt.sig[i].b64_len, blob, sizeof(blob), &blen) == 0 &&
		    memcmp(blob, id, 4) == 0)
			return KETEN_EEXIST;
	line_len = cosig_line(note, nt.body_len, key_name, sk, pk, time_s, line);
	if (len + line_len > CHECKPOINT_MAX)
		return KETEN_ETOOBIG;
	if ((r = buf_ensure(out, buf_len(out) + len + line_len)) != 0)
		return r;
	if ((r = buf_put(out, note, len)) != 0 || (r = buf_put(out, line, line_len)) != 0)
		return r;
	return 0;
}

int
checkpoint_parse(const uint8_t *note, size_t len, struct checkpoint *out)
{
	struct checkpoint cp;
	struct note nt;
	int r;

	r = note_parse(note, len, &cp, &nt);
	if (out != NULL) {
		if (r == 0)
			*out = cp;
		else
			memset(out, 0, sizeof(*out));
	}
	return r;
}

/* Verify one line of the key; 0 and its timestamp, or KETEN_EBADSIG. */
static int
cosig_verify(const uint8_t *blob, size_t blen, const uint8_t *body, size_t body_len,
    const uint8_t pk[32], uint64_t *t)
{
	uint8_t m[MSG_MAX];
	uint64_t ts = 0;

	if (blen != COSIG_BLOB_LEN)
		return KETEN_EBADSIG;
	ts = be64_load(blob + 4);
	if (ts > INT63_MAX)
		return KETEN_EBADSIG;
	/* over the body bytes received, never a re-encoding */
	if (crypto_sign_verify_detached(blob + 12, m, cosig_message(ts, body, body_len, m), pk) != 0)
		return KETEN_EBADSIG;
	*t = ts;
	return 0;
}

int
checkpoint_verify(const uint8_t *note, size_t len, const char *key_name, const uint8_t pk[32],
    struct checkpoint *out)
{
	struct checkpoint cp;
	struct note nt;
	uint8_t id[4], blob[BLOB_MAX];
	size_t nlen, blen;
	int r, found = 0;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (!arg_name_valid(key_name) || pk == NULL)
		return KETEN_EINVAL;
	if ((r = note_parse(note, len, &cp, &nt)) != 0)
		return r;
	checkpoint_key_id(key_name, pk, id);
	nlen = strlen(key_name);
	for (size_t i = 0; i < nt.nsigs; i++) {
		const struct sigline *s = &nt.sig[i];

		/* a line is of this key only if both name and key ID match;
		 * any other is ignored (signed-note) */
		if (s->name_len != nlen || memcmp(s->name, key_name, nlen) != 0)
			continue;
		if (b64_decode(s->b64, s->b64_len, blob, sizeof(blob), &blen) != 0)
			return KETEN_EFIELD;	/* cannot happen: parsed above */
		if (memcmp(blob, id, 4) != 0)
			continue;
		/* the same key twice: the note could say two times at once */
		if (found)
			return KETEN_EBADSIG;
		if ((r = cosig_verify(blob, blen, note, nt.body_len, pk, &cp.time)) != 0)
			return r;
		found = 1;
	}
	if (!found)
		return KETEN_EBADSIG;
	if (out != NULL)
		*out = cp;
	return 0;
}

size_t
checkpoint_body_len(const uint8_t *note, size_t len)
{
	struct checkpoint cp;
	struct note nt;

	return note_parse(note, len, &cp, &nt) == 0 ? nt.body_len : 0;
}
