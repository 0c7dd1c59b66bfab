/*
 * test_checkpoint.c — C2SP checkpoints: known answers (key IDs, whole
 * notes), the specifications' examples, sign/cosign/verify round trips,
 * every bit flipped, truncation, foreign and duplicate signature lines,
 * malformed notes refused.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "checkpoint.h"
#include "err.h"
#include "tap.h"

#define EM "\xe2\x80\x94"	/* U+2014 EM DASH */
#define NODE "keten/audit/v1/00000001999000050000"
#define WITNESS "keten/witness/v1/00000001999000010000"
#define T_NODE 1800000000ull
#define T_WITNESS 1800000060ull
#define INT63_MAX 9223372036854775807ull

/* Keys from fixed seeds: node 0x11.., witness 0x22.., other 0x33.. */
static uint8_t node_pk[32], node_sk[64], wit_pk[32], wit_sk[64], other_pk[32], other_sk[64];

/*
 * The note checkpoint_sign must write for NODE, size 1234567, root
 * 00 01 .. 1f, time T_NODE, and the line the witness adds at T_WITNESS.
 * Made with an independent implementation (Python's hashlib and
 * cryptography's Ed25519, following the specifications), not with this
 * module.
 */
#define KAT_BODY NODE "\n1234567\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
#define KAT_NODE_LINE EM " " NODE " UNs16gAAAABrSdIAmXolKkWi+vHdawHwuy/UknnWFy1jNSqElV/eAHBD" \
	"iFkOyeLyIT7T2Yng7JGo/RuAl1JIfHilPQW1oxXUMm1YCw==\n"
#define KAT_WIT_LINE EM " " WITNESS " xeBJ5QAAAABrSdI86pmzFis7hvDtba+09F7hqaRa+EhFfAW9BOIO" \
	"JAc4Y7nhWJOfFjpr7QtttLPadXh9HT3eyU2u9Vc8V22AQMmeCg==\n"
#define KAT_SIGNED KAT_BODY "\n" KAT_NODE_LINE
#define KAT_COSIGNED KAT_SIGNED KAT_WIT_LINE

/* c2sp.org/tlog-checkpoint's example (a type-0x01 Ed25519 signature) and
 * c2sp.org/tlog-cosignature's (one more, type-0x04, line of a witness). */
#define SOFA_BODY "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
#define SOFA_LINE EM " example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDe" \
	"OoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
#define SOFA_WIT_LINE EM " witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeol" \
	"MI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
#define SOFA SOFA_BODY "\n" SOFA_LINE
#define SOFA_COSIGNED SOFA SOFA_WIT_LINE

/* c2sp.org/signed-note's example key (type 0x01, key ID 530d903a) and
 * note: a signed note, but not a checkpoint. */
static const uint8_t spec_pk[32] = {
	0xe9, 0x32, 0x79, 0x1a, 0xe6, 0xe7, 0xa8, 0x40, 0xa4, 0x61, 0x64, 0xc9, 0x04, 0x78, 0x64, 0x26,
	0xd5, 0xe7, 0x82, 0x1d, 0xd8, 0xb2, 0x9a, 0x00, 0xd6, 0x1c, 0xae, 0x72, 0xaf, 0xdd, 0x4d, 0xa4,
};
#define SPEC_NOTE "This is an example message.\n\n" EM " example.com/foo Uw2QOkn8srV1yJGh2VYR" \
	"lL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static const uint8_t kat_root[32] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
};

/* A new buffer with a checkpoint signed by the node (KAT values). */
static struct buf *
signed_note(void)
{
	struct buf *b = buf_new(CHECKPOINT_MAX);

	if (b == NULL || checkpoint_sign(NODE, 1234567, kat_root, T_NODE, NODE, node_sk, node_pk,
	    b) != 0)
		buf_destroy(&b);
	return b;
}

/* The same, cosigned by the witness. */
static struct buf *
cosigned_note(void)
{
	struct buf *s = signed_note(), *b = buf_new(CHECKPOINT_MAX);

	if (s == NULL || b == NULL || checkpoint_cosign(buf_ptr(s), buf_len(s), WITNESS, wit_sk,
	    wit_pk, T_WITNESS, b) != 0)
		buf_destroy(&b);
	buf_destroy(&s);
	return b;
}

static void
test_key_id(void)
{
	crypto_hash_sha256_state st;
	uint8_t h[32], id[4];
	static const uint8_t spec_id01[4] = { 0x53, 0x0d, 0x90, 0x3a };

	/* the construction, checked on the specification's own key: with
	 * type 0x01 it gives the key ID its vkey states */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)"example.com/foo\n\x01", 17);
	crypto_hash_sha256_update(&st, spec_pk, 32);
	crypto_hash_sha256_final(&st, h);
	CHECK(memcmp(h, spec_id01, 4) == 0);
	/* type 0x04 for the same name and key, computed by hand:
	 * SHA-256("example.com/foo\n" 04 e932791a...4da4)[:4] */
	checkpoint_key_id("example.com/foo", spec_pk, id);
	CHECK(memcmp(id, "\x7c\x26\x40\x79", 4) == 0);
	checkpoint_key_id(NODE, node_pk, id);
	CHECK(memcmp(id, "\x50\xdb\x35\xea", 4) == 0);
	checkpoint_key_id(WITNESS, wit_pk, id);
	CHECK(memcmp(id, "\xc5\xe0\x49\xe5", 4) == 0);
	/* the name is part of it */
	checkpoint_key_id(WITNESS, node_pk, h);
	checkpoint_key_id(NODE, node_pk, id);
	CHECK(memcmp(id, h, 4) != 0);
}

static void
test_known_answer(void)
{
	struct buf *s = signed_note(), *c = cosigned_note();

	CHECK(s != NULL && c != NULL);
	if (s == NULL || c == NULL)
		goto out;
	/* Ed25519 is deterministic: the bytes of an independent
	 * implementation, exactly */
	CHECK_EQ(buf_len(s), sizeof(KAT_SIGNED) - 1);
	CHECK(buf_len(s) == sizeof(KAT_SIGNED) - 1 && memcmp(buf_ptr(s), KAT_SIGNED, buf_len(s)) == 0);
	CHECK_EQ(buf_len(c), sizeof(KAT_COSIGNED) - 1);
	CHECK(buf_len(c) == sizeof(KAT_COSIGNED) - 1 &&
	    memcmp(buf_ptr(c), KAT_COSIGNED, buf_len(c)) == 0);
	/* and the other way round: what the other implementation made
	 * verifies here */
	CHECK_EQ(checkpoint_verify(S(KAT_COSIGNED), NODE, node_pk, NULL), 0);
	CHECK_EQ(checkpoint_verify(S(KAT_COSIGNED), WITNESS, wit_pk, NULL), 0);
out:
	buf_destroy(&s);
	buf_destroy(&c);
}

static void
test_roundtrip(void)
{
	struct buf *b = buf_new(CHECKPOINT_MAX);
	struct checkpoint cp;
	uint8_t root[32];
	char origin[CHECKPOINT_ORIGIN_MAX + 1];
	static const uint64_t sizes[] = { 0, 1, 10, 1234567, INT63_MAX };

	randombytes_buf(root, sizeof(root));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		buf_reset(b);
		CHECK_EQ(checkpoint_sign(NODE, sizes[i], root, T_NODE + i, NODE, node_sk, node_pk, b), 0);
		CHECK_EQ(checkpoint_parse(buf_ptr(b), buf_len(b), &cp), 0);
		CHECK(strcmp(cp.origin, NODE) == 0);
		CHECK(cp.size == sizes[i]);
		CHECK(memcmp(cp.root, root, 32) == 0);
		CHECK_EQ(cp.time, 0);
		memset(&cp, 0xa5, sizeof(cp));
		CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, &cp), 0);
		CHECK(strcmp(cp.origin, NODE) == 0);
		CHECK(cp.size == sizes[i]);
		CHECK(memcmp(cp.root, root, 32) == 0);
		CHECK(cp.time == T_NODE + i);
	}
	/* the longest origin, the extreme times, any key name */
	memset(origin, '~', CHECKPOINT_ORIGIN_MAX);
	origin[CHECKPOINT_ORIGIN_MAX] = '\0';
	buf_reset(b);
	CHECK_EQ(checkpoint_sign(origin, 5, root, INT63_MAX, origin, node_sk, node_pk, b), 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), origin, node_pk, &cp), 0);
	CHECK(strcmp(cp.origin, origin) == 0 && cp.time == INT63_MAX);
	buf_reset(b);
	CHECK_EQ(checkpoint_sign("a", 5, root, 0, "b", node_sk, node_pk, b), 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), "b", node_pk, &cp), 0);
	CHECK(strcmp(cp.origin, "a") == 0 && cp.time == 0);
	buf_destroy(&b);
}

static void
test_spec_examples(void)
{
	struct checkpoint cp;
	static const uint8_t sofa_root[32] = {
		0x0a, 0xc5, 0x18, 0x6a, 0x91, 0x86, 0x3e, 0x8e, 0x1d, 0x90, 0xc8, 0x08, 0x01, 0x4a,
		0xa8, 0x9b, 0xf5, 0xda, 0x8e, 0x3e, 0xe1, 0xd9, 0xf0, 0x76, 0x30, 0xf0, 0x37, 0x8f,
		0x68, 0xf1, 0xab, 0x62,
	};

	CHECK_EQ(checkpoint_parse(S(SOFA), &cp), 0);
	CHECK(strcmp(cp.origin, "example.com/behind-the-sofa") == 0);
	CHECK(cp.size == 20852163);
	CHECK(memcmp(cp.root, sofa_root, 32) == 0);
	CHECK_EQ(cp.time, 0);
	CHECK_EQ(checkpoint_body_len(S(SOFA)), sizeof(SOFA_BODY) - 1);
	CHECK_EQ(checkpoint_parse(S(SOFA_COSIGNED), &cp), 0);
	CHECK(cp.size == 20852163);
	/* the log's line is type 0x01: for a type-0x04 key of that name
	 * (any key: its key ID differs) it is someone else's and ignored,
	 * which leaves no signature to accept */
	CHECK_EQ(checkpoint_verify(S(SOFA), "example.com/behind-the-sofa", node_pk, &cp),
	    KETEN_EBADSIG);
	CHECK(cp.size == 0 && cp.origin[0] == '\0');
	CHECK_EQ(checkpoint_verify(S(SOFA_COSIGNED), "example.com/behind-the-sofa", spec_pk, NULL),
	    KETEN_EBADSIG);
	/* the witness line is type 0x04, of a key the specification does not
	 * publish: any other key of that name is ignored */
	CHECK_EQ(checkpoint_verify(S(SOFA_COSIGNED), "witness.example.com/w1", wit_pk, NULL),
	    KETEN_EBADSIG);
	/* cosigning the example keeps it as received and adds one line */
	{
		struct buf *b = buf_new(CHECKPOINT_MAX);

		CHECK_EQ(checkpoint_cosign(S(SOFA_COSIGNED), WITNESS, wit_sk, wit_pk, T_WITNESS, b), 0);
		CHECK(memcmp(buf_ptr(b), SOFA_COSIGNED, sizeof(SOFA_COSIGNED) - 1) == 0);
		CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), WITNESS, wit_pk, &cp), 0);
		CHECK(cp.size == 20852163 && cp.time == T_WITNESS);
		buf_destroy(&b);
	}
	/* signed-note's example is a note but not a checkpoint (one line) */
	CHECK_EQ(checkpoint_parse(S(SPEC_NOTE), NULL), KETEN_EFIELD);
	CHECK_EQ(checkpoint_verify(S(SPEC_NOTE), "example.com/foo", spec_pk, NULL), KETEN_EFIELD);
	CHECK_EQ(checkpoint_body_len(S(SPEC_NOTE)), 0);
}

/* Verify with both keys; 1 if both accept. */
static int
both_accept(const uint8_t *p, size_t n)
{
	return checkpoint_verify(p, n, NODE, node_pk, NULL) == 0 &&
	    checkpoint_verify(p, n, WITNESS, wit_pk, NULL) == 0;
}

static void
test_tamper(void)
{
	struct buf *s = signed_note(), *c = cosigned_note();
	uint8_t copy[CHECKPOINT_MAX + 1];
	size_t len;
	int accepted = 0, parsed = 0;

	CHECK(s != NULL && c != NULL);
	if (s == NULL || c == NULL)
		goto out;
	/* the node's note: every bit */
	len = buf_len(s);
	memcpy(copy, buf_ptr(s), len);
	for (size_t i = 0; i < len * 8; i++) {
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (checkpoint_verify(copy, len, NODE, node_pk, NULL) == 0)
			accepted++;
		if (checkpoint_parse(copy, len, NULL) == 0)
			parsed++;	/* some flips leave a well-formed note */
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK_EQ(accepted, 0);
	CHECK(parsed > 0);
	/* every shorter length, and bytes appended */
	for (size_t n = 0; n < len; n++)
		CHECK(checkpoint_verify(copy, n, NODE, node_pk, NULL) != 0);
	copy[len] = 'x';
	CHECK_EQ(checkpoint_verify(copy, len + 1, NODE, node_pk, NULL), KETEN_EFIELD);
	copy[len] = '\n';
	CHECK_EQ(checkpoint_verify(copy, len + 1, NODE, node_pk, NULL), KETEN_EFIELD);

	/* the cosigned note: no flip keeps both signatures; no shorter
	 * length keeps the witness's */
	len = buf_len(c);
	memcpy(copy, buf_ptr(c), len);
	accepted = 0;
	for (size_t i = 0; i < len * 8; i++) {
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
		accepted += both_accept(copy, len);
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK_EQ(accepted, 0);
	for (size_t n = 0; n < len; n++)
		CHECK(checkpoint_verify(copy, n, WITNESS, wit_pk, NULL) != 0);
	/* cut after the node's line it is the node's note again */
	CHECK_EQ(checkpoint_verify(copy, sizeof(KAT_SIGNED) - 1, NODE, node_pk, NULL), 0);
out:
	buf_destroy(&s);
	buf_destroy(&c);
}

static void
test_keys_and_names(void)
{
	struct buf *s = signed_note(), *c = cosigned_note();
	struct checkpoint cp;

	CHECK(s != NULL && c != NULL);
	if (s == NULL || c == NULL)
		goto out;
	/* wrong key, wrong name */
	CHECK_EQ(checkpoint_verify(buf_ptr(s), buf_len(s), NODE, other_pk, NULL), KETEN_EBADSIG);
	CHECK_EQ(checkpoint_verify(buf_ptr(s), buf_len(s), NODE, wit_pk, NULL), KETEN_EBADSIG);
	CHECK_EQ(checkpoint_verify(buf_ptr(s), buf_len(s), WITNESS, node_pk, NULL), KETEN_EBADSIG);
	CHECK_EQ(checkpoint_verify(buf_ptr(s), buf_len(s), "keten/audit/v1/00000001999000050001",
	    node_pk, NULL), KETEN_EBADSIG);
	CHECK_EQ(checkpoint_verify(buf_ptr(s), buf_len(s), WITNESS, wit_pk, NULL), KETEN_EBADSIG);
	/* node and witness, each with its own key and its own time */
	CHECK_EQ(checkpoint_verify(buf_ptr(c), buf_len(c), NODE, node_pk, &cp), 0);
	CHECK(cp.time == T_NODE && cp.size == 1234567 && strcmp(cp.origin, NODE) == 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(c), buf_len(c), WITNESS, wit_pk, &cp), 0);
	CHECK(cp.time == T_WITNESS && cp.size == 1234567 && memcmp(cp.root, kat_root, 32) == 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(c), buf_len(c), WITNESS, node_pk, NULL), KETEN_EBADSIG);
	CHECK_EQ(checkpoint_verify(buf_ptr(c), buf_len(c), NODE, wit_pk, NULL), KETEN_EBADSIG);
	/* cosigning keeps the node's note byte for byte */
	CHECK(buf_len(c) > buf_len(s) && memcmp(buf_ptr(c), buf_ptr(s), buf_len(s)) == 0);
	/* bad arguments */
	CHECK_EQ(checkpoint_verify(buf_ptr(s), buf_len(s), NULL, node_pk, NULL), KETEN_EINVAL);
	CHECK_EQ(checkpoint_verify(buf_ptr(s), buf_len(s), "", node_pk, NULL), KETEN_EINVAL);
	CHECK_EQ(checkpoint_verify(buf_ptr(s), buf_len(s), "a b", node_pk, NULL), KETEN_EINVAL);
	CHECK_EQ(checkpoint_verify(buf_ptr(s), buf_len(s), NODE, NULL, NULL), KETEN_EINVAL);
	CHECK_EQ(checkpoint_verify(NULL, 0, NODE, node_pk, NULL), KETEN_EINVAL);
out:
	buf_destroy(&s);
	buf_destroy(&c);
}

/* "— name base64(blob)\n" appended to b. */
static void
put_line(struct buf *b, const char *name, const uint8_t *blob, size_t n)
{
	char b64[1400];

	sodium_bin2base64(b64, sizeof(b64), blob, n, sodium_base64_VARIANT_ORIGINAL);
	CHECK(buf_put(b, EM " ", 4) == 0 && buf_put(b, name, strlen(name)) == 0 &&
	    buf_put_u8(b, ' ') == 0 && buf_put(b, b64, strlen(b64)) == 0 && buf_put_u8(b, '\n') == 0);
}

/* A blob id || t || Ed25519(sk, "cosignature/v1\ntime <t>\n" || KAT_BODY),
 * made here without the module, so that the module's checks of it can be
 * tried one by one. */
static void
make_blob(const char *name, const uint8_t *pk, const uint8_t *sk, uint64_t t, uint8_t blob[76])
{
	char m[512];
	int k;

	checkpoint_key_id(name, pk, blob);
	for (int i = 0; i < 8; i++)
		blob[4 + i] = (uint8_t)(t >> (56 - 8 * i));
	k = snprintf(m, sizeof(m), "cosignature/v1\ntime %llu\n%s", (unsigned long long)t, KAT_BODY);
	crypto_sign_detached(blob + 12, NULL, (const uint8_t *)m, (unsigned long long)k, sk);
}

static void
test_signature_lines(void)
{
	struct buf *b = buf_new(CHECKPOINT_MAX);
	struct checkpoint cp;
	uint8_t blob[76];

	/* made by hand, the node's own line verifies (checks make_blob) */
	CHECK(buf_put(b, S(KAT_BODY "\n")) == 0);
	make_blob(NODE, node_pk, node_sk, T_NODE, blob);
	put_line(b, NODE, blob, 76);
	CHECK(buf_len(b) == sizeof(KAT_SIGNED) - 1 && memcmp(buf_ptr(b), KAT_SIGNED, buf_len(b)) == 0);

	/* a timestamp of 2^63 with a good signature over it: refused */
	buf_reset(b);
	CHECK(buf_put(b, S(KAT_BODY "\n")) == 0);
	make_blob(NODE, node_pk, node_sk, INT63_MAX + 1, blob);
	put_line(b, NODE, blob, 76);
	CHECK_EQ(checkpoint_parse(buf_ptr(b), buf_len(b), NULL), 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), KETEN_EBADSIG);

	/* the key's line one byte short, or one byte long: refused */
	buf_reset(b);
	CHECK(buf_put(b, S(KAT_BODY "\n")) == 0);
	make_blob(NODE, node_pk, node_sk, T_NODE, blob);
	put_line(b, NODE, blob, 75);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), KETEN_EBADSIG);
	buf_reset(b);
	CHECK(buf_put(b, S(KAT_BODY "\n")) == 0);
	{
		uint8_t longer[77];

		memcpy(longer, blob, 76);
		longer[76] = 0;
		put_line(b, NODE, longer, 77);
	}
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), KETEN_EBADSIG);

	/* a failing line of the key refuses the note, even with a good one */
	buf_reset(b);
	CHECK(buf_put(b, S(KAT_SIGNED)) == 0);
	make_blob(NODE, node_pk, node_sk, T_NODE + 1, blob);
	blob[20] ^= 1;
	put_line(b, NODE, blob, 76);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), KETEN_EBADSIG);
	buf_reset(b);
	CHECK(buf_put(b, S(KAT_BODY "\n")) == 0);
	put_line(b, NODE, blob, 76);			/* the failing line first */
	CHECK(buf_put(b, S(KAT_NODE_LINE)) == 0);
	CHECK_EQ(checkpoint_parse(buf_ptr(b), buf_len(b), NULL), 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), KETEN_EBADSIG);
	/* and so does a second good line of the same key */
	buf_reset(b);
	CHECK(buf_put(b, S(KAT_SIGNED)) == 0);
	make_blob(NODE, node_pk, node_sk, T_NODE + 1, blob);
	put_line(b, NODE, blob, 76);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), KETEN_EBADSIG);

	/* lines that share only the name, or only the key ID, are another
	 * key's: ignored, failing or not */
	buf_reset(b);
	CHECK(buf_put(b, S(KAT_BODY "\n")) == 0);
	make_blob(NODE, other_pk, other_sk, T_NODE, blob);	/* same name, other key */
	blob[40] ^= 1;
	put_line(b, NODE, blob, 76);
	make_blob(NODE, node_pk, node_sk, T_NODE, blob);	/* node's ID, other name */
	blob[40] ^= 1;
	put_line(b, WITNESS, blob, 76);
	memcpy(blob, "\x50\xdb\x35\xea", 4);			/* short, under another name */
	put_line(b, "example.com/x", blob, 4);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), KETEN_EBADSIG);
	make_blob(NODE, node_pk, node_sk, T_NODE + 7, blob);
	put_line(b, NODE, blob, 76);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, &cp), 0);
	CHECK(cp.time == T_NODE + 7);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, other_pk, NULL), KETEN_EBADSIG);
	buf_destroy(&b);
}

static void
test_cosign(void)
{
	struct buf *s = signed_note(), *c = cosigned_note(), *b = buf_new(CHECKPOINT_MAX);
	struct buf *small = buf_new(100);

	CHECK(s != NULL && c != NULL && b != NULL && small != NULL);
	if (s == NULL || c == NULL || b == NULL || small == NULL)
		goto out;
	/* the same key again: refused */
	CHECK_EQ(checkpoint_cosign(buf_ptr(c), buf_len(c), WITNESS, wit_sk, wit_pk, T_WITNESS + 1, b),
	    KETEN_EEXIST);
	CHECK_EQ(checkpoint_cosign(buf_ptr(s), buf_len(s), NODE, node_sk, node_pk, T_NODE, b),
	    KETEN_EEXIST);
	CHECK_EQ(buf_len(b), 0);
	/* a second witness; the others still verify */
	CHECK_EQ(checkpoint_cosign(buf_ptr(c), buf_len(c), "keten/witness/v1/00000001999000020000",
	    other_sk, other_pk, T_WITNESS + 5, b), 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), WITNESS, wit_pk, NULL), 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), "keten/witness/v1/00000001999000020000",
	    other_pk, NULL), 0);
	/* the bodies agree */
	CHECK_EQ(checkpoint_body_len(buf_ptr(b), buf_len(b)), sizeof(KAT_BODY) - 1);
	CHECK_EQ(checkpoint_body_len(buf_ptr(s), buf_len(s)), sizeof(KAT_BODY) - 1);
	/* malformed input, bad arguments, no room: out untouched */
	buf_reset(b);
	CHECK_EQ(checkpoint_cosign(S(KAT_BODY), WITNESS, wit_sk, wit_pk, T_WITNESS, b), KETEN_EFIELD);
	CHECK_EQ(checkpoint_cosign(buf_ptr(s), buf_len(s), WITNESS, wit_sk, node_pk, T_WITNESS, b),
	    KETEN_EINVAL);
	CHECK_EQ(checkpoint_cosign(buf_ptr(s), buf_len(s), "bad name", wit_sk, wit_pk, T_WITNESS, b),
	    KETEN_EINVAL);
	CHECK_EQ(checkpoint_cosign(buf_ptr(s), buf_len(s), WITNESS, wit_sk, wit_pk, INT63_MAX + 1, b),
	    KETEN_EINVAL);
	CHECK_EQ(checkpoint_cosign(buf_ptr(s), buf_len(s), WITNESS, wit_sk, wit_pk, T_WITNESS, NULL),
	    KETEN_EINVAL);
	CHECK_EQ(buf_len(b), 0);
	CHECK(buf_put(small, "x", 1) == 0);
	CHECK_EQ(checkpoint_cosign(buf_ptr(s), buf_len(s), WITNESS, wit_sk, wit_pk, T_WITNESS, small),
	    KETEN_ETOOBIG);
	CHECK_EQ(buf_len(small), 1);
	/* appended after what out holds */
	buf_reset(b);
	CHECK(buf_put(b, "prefix", 6) == 0);
	CHECK_EQ(checkpoint_cosign(buf_ptr(s), buf_len(s), WITNESS, wit_sk, wit_pk, T_WITNESS, b), 0);
	CHECK(buf_len(b) == 6 + sizeof(KAT_COSIGNED) - 1 &&
	    memcmp(buf_ptr(b) + 6, KAT_COSIGNED, sizeof(KAT_COSIGNED) - 1) == 0);
out:
	buf_destroy(&s);
	buf_destroy(&c);
	buf_destroy(&b);
	buf_destroy(&small);
}

static void
test_sign_arguments(void)
{
	struct buf *b = buf_new(CHECKPOINT_MAX), *small = buf_new(200);
	char longer[CHECKPOINT_ORIGIN_MAX + 2];
	uint8_t sk2[64];

	memset(longer, 'a', CHECKPOINT_ORIGIN_MAX + 1);
	longer[CHECKPOINT_ORIGIN_MAX + 1] = '\0';
	memcpy(sk2, node_sk, 64);
	sk2[63] ^= 1;
#define SIGN(o, sz, t, name, sk, pk, out) \
	checkpoint_sign(o, sz, kat_root, t, name, sk, pk, out)
	CHECK_EQ(SIGN(NULL, 1, 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN("", 1, 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN("a+b", 1, 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN("a b", 1, 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN("a\nb", 1, 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN("caf\xc3\xa9", 1, 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(longer, 1, 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, INT63_MAX + 1, 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, INT63_MAX + 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, 1, NULL, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, 1, "", node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, 1, "x+y", node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, 1, longer, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, 1, NODE, sk2, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, 1, NODE, node_sk, wit_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, 1, NODE, NULL, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, 1, NODE, node_sk, NULL, b), KETEN_EINVAL);
	CHECK_EQ(SIGN(NODE, 1, 1, NODE, node_sk, node_pk, NULL), KETEN_EINVAL);
	CHECK_EQ(checkpoint_sign(NODE, 1, NULL, 1, NODE, node_sk, node_pk, b), KETEN_EINVAL);
	CHECK_EQ(buf_len(b), 0);
	/* no room: out unchanged */
	CHECK(buf_put(small, "abc", 3) == 0);
	CHECK_EQ(SIGN(NODE, 1, 1, NODE, node_sk, node_pk, small), KETEN_ETOOBIG);
	CHECK(buf_len(small) == 3 && memcmp(buf_ptr(small), "abc", 3) == 0);
#undef SIGN
	buf_destroy(&b);
	buf_destroy(&small);
}

struct bad {
	const char *what;
	const uint8_t *p;
	size_t n;
	int want;
};

#define SIZE_NOTE(sz) "example.com/behind-the-sofa\n" sz "\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" SOFA_LINE
#define ROOT_NOTE(r) "example.com/behind-the-sofa\n20852163\n" r "\n\n" SOFA_LINE
#define ORIGIN_NOTE(o) o "\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" SOFA_LINE
#define LINE_NOTE(l) SOFA_BODY "\n" l "\n"
#define BAD(what, lit, want) { what, S(lit), want }

static const struct bad bads[] = {
	/* tree size */
	BAD("leading zero", SIZE_NOTE("020852163"), KETEN_EFIELD),
	BAD("zero twice", SIZE_NOTE("00"), KETEN_EFIELD),
	BAD("zero before one", SIZE_NOTE("01"), KETEN_EFIELD),
	BAD("2^63", SIZE_NOTE("9223372036854775808"), KETEN_EFIELD),
	BAD("2^64 - 1", SIZE_NOTE("18446744073709551615"), KETEN_EFIELD),
	BAD("2^64", SIZE_NOTE("18446744073709551616"), KETEN_EFIELD),
	BAD("20 nines", SIZE_NOTE("99999999999999999999"), KETEN_EFIELD),
	BAD("empty size", SIZE_NOTE(""), KETEN_EFIELD),
	BAD("minus", SIZE_NOTE("-1"), KETEN_EFIELD),
	BAD("plus", SIZE_NOTE("+1"), KETEN_EFIELD),
	BAD("space before size", SIZE_NOTE(" 1"), KETEN_EFIELD),
	BAD("space after size", SIZE_NOTE("1 "), KETEN_EFIELD),
	BAD("hex size", SIZE_NOTE("0x10"), KETEN_EFIELD),
	/* root */
	BAD("root with stray bits", ROOT_NOTE("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J="), KETEN_EFIELD),
	BAD("root unpadded", ROOT_NOTE("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I"), KETEN_EFIELD),
	BAD("root padded twice", ROOT_NOTE("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=="), KETEN_EFIELD),
	BAD("root url alphabet", ROOT_NOTE("CsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I="), KETEN_EFIELD),
	BAD("root 31 bytes", ROOT_NOTE("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="), KETEN_EFIELD),
	BAD("root 33 bytes", ROOT_NOTE("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), KETEN_EFIELD),
	BAD("root 48 bytes", ROOT_NOTE("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
	    KETEN_EFIELD),
	BAD("root with space", ROOT_NOTE("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I= "), KETEN_EFIELD),
	BAD("root with inner space", ROOT_NOTE("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2 I="),
	    KETEN_EFIELD),
	BAD("root empty", ROOT_NOTE(""), KETEN_EFIELD),
	/* origin */
	BAD("origin empty", ORIGIN_NOTE(""), KETEN_EFIELD),
	BAD("origin with plus", ORIGIN_NOTE("example.com/a+b"), KETEN_EFIELD),
	BAD("origin with space", ORIGIN_NOTE("example.com/a b"), KETEN_EFIELD),
	BAD("origin with tab", ORIGIN_NOTE("example.com/a\tb"), KETEN_EFIELD),
	BAD("origin with DEL", ORIGIN_NOTE("example.com/a\x7f"), KETEN_EFIELD),
	BAD("origin with NUL", ORIGIN_NOTE("example.com/a\0b"), KETEN_EFIELD),
	BAD("origin with e-acute", ORIGIN_NOTE("caf\xc3\xa9"), KETEN_EFIELD),
	BAD("origin with em dash", ORIGIN_NOTE("a" EM "b"), KETEN_EFIELD),
	BAD("origin with no-break space", ORIGIN_NOTE("a\xc2\xa0" "b"), KETEN_EFIELD),
	BAD("origin of bad UTF-8", ORIGIN_NOTE("a\xc0\xaf"), KETEN_EFIELD),
	BAD("origin of 256 bytes", ORIGIN_NOTE(
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), KETEN_EFIELD),
	/* structure */
	BAD("empty", "", KETEN_EFIELD),
	BAD("newline only", "\n", KETEN_EFIELD),
	BAD("body only", SOFA_BODY, KETEN_EFIELD),
	BAD("no signature line", SOFA_BODY "\n", KETEN_EFIELD),
	BAD("missing blank line", SOFA_BODY SOFA_LINE, KETEN_EFIELD),
	BAD("two blank lines", SOFA_BODY "\n\n" SOFA_LINE, KETEN_EFIELD),
	BAD("extension line", SOFA_BODY "ext\n\n" SOFA_LINE, KETEN_EFIELD),
	BAD("two body lines", "example.com/behind-the-sofa\n20852163\n\n" SOFA_LINE, KETEN_EFIELD),
	BAD("no final newline", SOFA_BODY "\n" EM " example.com/behind-the-sofa AAAAAAAA", KETEN_EFIELD),
	BAD("byte after the last newline", SOFA "x", KETEN_EFIELD),
	BAD("blank line at the end", SOFA "\n", KETEN_EFIELD),
	BAD("blank line between signatures", SOFA "\n" SOFA_WIT_LINE, KETEN_EFIELD),
	BAD("CRLF", "example.com/behind-the-sofa\r\n20852163\r\n"
	    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\r\n\r\n" EM " example.com/behind-the-sofa "
	    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\r\n",
	    KETEN_EFIELD),
	BAD("CR at the end of the signature", SOFA_BODY "\n" EM " example.com/behind-the-sofa "
	    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\r\n",
	    KETEN_EFIELD),
	BAD("CR alone", "example.com/behind-the-sofa\r20852163\n"
	    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" SOFA_LINE, KETEN_EFIELD),
	BAD("NUL after the note", SOFA "\0", KETEN_EFIELD),
	/* signature lines */
	BAD("hyphens for the dash", LINE_NOTE("-- example.com/behind-the-sofa AAAAAAAA"), KETEN_EFIELD),
	BAD("en dash", LINE_NOTE("\xe2\x80\x93 example.com/behind-the-sofa AAAAAAAA"), KETEN_EFIELD),
	BAD("dash without space", LINE_NOTE(EM "example.com/behind-the-sofa AAAAAAAA"), KETEN_EFIELD),
	BAD("dash cut short", LINE_NOTE("\xe2\x80 example.com/behind-the-sofa AAAAAAAA"), KETEN_EFIELD),
	BAD("empty key name", LINE_NOTE(EM "  AAAAAAAA"), KETEN_EFIELD),
	BAD("key name with plus", LINE_NOTE(EM " a+b AAAAAAAA"), KETEN_EFIELD),
	BAD("key name with tab", LINE_NOTE(EM " a\tb AAAAAAAA"), KETEN_EFIELD),
	BAD("key name with e-acute", LINE_NOTE(EM " caf\xc3\xa9 AAAAAAAA"), KETEN_EFIELD),
	BAD("no signature", LINE_NOTE(EM " example.com/behind-the-sofa"), KETEN_EFIELD),
	BAD("empty signature", LINE_NOTE(EM " example.com/behind-the-sofa "), KETEN_EFIELD),
	BAD("signature of 3 bytes", LINE_NOTE(EM " a AAAA"), KETEN_EFIELD),
	BAD("signature of 2 bytes", LINE_NOTE(EM " a AAA="), KETEN_EFIELD),
	BAD("signature unpadded", LINE_NOTE(EM " a AAAAAA"), KETEN_EFIELD),
	BAD("signature with stray bits", LINE_NOTE(EM " a AAAAAB=="), KETEN_EFIELD),
	BAD("signature not base64", LINE_NOTE(EM " a AAAA!AAA"), KETEN_EFIELD),
	BAD("signature with a space", LINE_NOTE(EM " a AAAAAAAA "), KETEN_EFIELD),
	BAD("signature with two spaces", LINE_NOTE(EM " a  AAAAAAAA"), KETEN_EFIELD),
	BAD("three fields", LINE_NOTE(EM " a AAAAAAAA AAAAAAAA"), KETEN_EFIELD),
	BAD("signature with CR", LINE_NOTE(EM " a AAAAAAAA\r"), KETEN_EFIELD),
	/* not a checkpoint at all */
	BAD("signed-note example", SPEC_NOTE, KETEN_EFIELD),
	{ NULL, NULL, 0, 0 },
};

static const char *goods[] = {
	SOFA,
	SOFA_COSIGNED,
	SIZE_NOTE("0"),
	SIZE_NOTE("1"),
	SIZE_NOTE("9223372036854775807"),
	ROOT_NOTE("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
	ORIGIN_NOTE("!"),
	ORIGIN_NOTE("~/\"#$%&'()*,-.:;<=>?@[\\]^_`{|}"),
	ORIGIN_NOTE("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"),
	LINE_NOTE(EM " a AAAAAA=="),			/* 4 bytes: the shortest */
	LINE_NOTE(EM " a AAAAAAAA"),
	LINE_NOTE(EM " ~!\"#$%&'()*,-./:;<=>?@[\\]^_`{|} AAAAAAAA"),
	NULL,
};

static void
test_malformed(void)
{
	struct checkpoint cp;
	int r;

	for (const struct bad *b = bads; b->what != NULL; b++) {
		memset(&cp, 0x5a, sizeof(cp));
		r = checkpoint_parse(b->p, b->n, &cp);
		if (r != b->want)
			fprintf(stderr, "  parse of '%s': %d, want %d\n", b->what, r, b->want);
		CHECK_EQ(r, b->want);
		CHECK(cp.size == 0 && cp.origin[0] == '\0' && cp.time == 0);
		CHECK_EQ(checkpoint_body_len(b->p, b->n), 0);
		r = checkpoint_verify(b->p, b->n, NODE, node_pk, NULL);
		CHECK_EQ(r, b->want);
	}
	for (const char **g = goods; *g != NULL; g++) {
		r = checkpoint_parse((const uint8_t *)*g, strlen(*g), NULL);
		if (r != 0)
			fprintf(stderr, "  parse of good note %d: %d\n", (int)(g - goods), r);
		CHECK_EQ(r, 0);
	}
	CHECK_EQ(checkpoint_parse(NULL, 0, NULL), KETEN_EINVAL);
}

/* A note of the KAT body with n signature lines (node's first). */
static struct buf *
many_lines(int n, size_t blob_len)
{
	struct buf *b = buf_new(4 * CHECKPOINT_MAX);
	uint8_t blob[1024];

	memset(blob, 0x77, sizeof(blob));
	if (b == NULL || buf_put(b, S(KAT_SIGNED)) != 0) {
		buf_destroy(&b);
		return NULL;
	}
	for (int i = 1; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "witness.example/w%d", i);
		put_line(b, name, blob, blob_len);
	}
	return b;
}

static void
test_limits(void)
{
	struct buf *b, *out = buf_new(4 * CHECKPOINT_MAX);

	/* 16 signature lines: accepted, but no room for a 17th */
	b = many_lines(CHECKPOINT_MAX_SIGS, 76);
	CHECK(b != NULL);
	CHECK_EQ(checkpoint_parse(buf_ptr(b), buf_len(b), NULL), 0);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), 0);
	CHECK_EQ(checkpoint_cosign(buf_ptr(b), buf_len(b), WITNESS, wit_sk, wit_pk, T_WITNESS, out),
	    KETEN_ETOOBIG);
	CHECK_EQ(buf_len(out), 0);
	buf_destroy(&b);
	/* 17: refused */
	b = many_lines(CHECKPOINT_MAX_SIGS + 1, 76);
	CHECK(b != NULL);
	CHECK_EQ(checkpoint_parse(buf_ptr(b), buf_len(b), NULL), KETEN_ETOOBIG);
	CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), KETEN_ETOOBIG);
	buf_destroy(&b);
	/* longer than CHECKPOINT_MAX bytes: refused; exactly: accepted */
	b = many_lines(CHECKPOINT_MAX_SIGS, 600);
	CHECK(b != NULL && buf_len(b) > CHECKPOINT_MAX);
	CHECK_EQ(checkpoint_parse(buf_ptr(b), buf_len(b), NULL), KETEN_ETOOBIG);
	CHECK_EQ(checkpoint_parse(buf_ptr(b), CHECKPOINT_MAX + 1, NULL), KETEN_ETOOBIG);
	buf_destroy(&b);
	{
		/* one long foreign line brings the note to exactly the limit:
		 * the line is 6 + name + 4k bytes (dash, two spaces, newline) */
		size_t x = CHECKPOINT_MAX - (sizeof(KAT_SIGNED) - 1) - 6, k = (x - 1) / 4;
		char name[8];

		memset(name, 'a', sizeof(name));
		name[x - 4 * k] = '\0';
		b = buf_new(2 * CHECKPOINT_MAX);
		CHECK(buf_put(b, S(KAT_SIGNED)) == 0);
		{
			static uint8_t blob[CHECKPOINT_MAX];
			char b64[CHECKPOINT_MAX + 1];

			memset(blob, 0x42, sizeof(blob));
			sodium_bin2base64(b64, sizeof(b64), blob, 3 * k, sodium_base64_VARIANT_ORIGINAL);
			CHECK(buf_put(b, EM " ", 4) == 0 && buf_put(b, name, strlen(name)) == 0 &&
			    buf_put_u8(b, ' ') == 0 && buf_put(b, b64, strlen(b64)) == 0 &&
			    buf_put_u8(b, '\n') == 0);
		}
		CHECK_EQ(buf_len(b), CHECKPOINT_MAX);
		CHECK_EQ(checkpoint_verify(buf_ptr(b), buf_len(b), NODE, node_pk, NULL), 0);
		/* and a cosignature would pass the limit */
		CHECK_EQ(checkpoint_cosign(buf_ptr(b), buf_len(b), WITNESS, wit_sk, wit_pk, T_WITNESS,
		    out), KETEN_ETOOBIG);
		CHECK_EQ(buf_len(out), 0);
		buf_destroy(&b);
	}
	buf_destroy(&out);
}

static void
test_body_len(void)
{
	struct buf *s = signed_note(), *c = cosigned_note(), *later = buf_new(CHECKPOINT_MAX);
	size_t ls, lc, ll;

	CHECK(s != NULL && c != NULL && later != NULL);
	if (s == NULL || c == NULL || later == NULL)
		goto out;
	/* the same checkpoint signed at another time has the same body */
	CHECK_EQ(checkpoint_sign(NODE, 1234567, kat_root, T_NODE + 3600, NODE, node_sk, node_pk, later),
	    0);
	ls = checkpoint_body_len(buf_ptr(s), buf_len(s));
	lc = checkpoint_body_len(buf_ptr(c), buf_len(c));
	ll = checkpoint_body_len(buf_ptr(later), buf_len(later));
	CHECK_EQ(ls, sizeof(KAT_BODY) - 1);
	CHECK(ls == lc && ls == ll);
	CHECK(memcmp(buf_ptr(s), KAT_BODY, ls) == 0);
	CHECK(memcmp(buf_ptr(s), buf_ptr(later), ls) == 0);
	CHECK(buf_len(s) == buf_len(later) && memcmp(buf_ptr(s), buf_ptr(later), buf_len(s)) != 0);
	CHECK_EQ(checkpoint_body_len(buf_ptr(s), buf_len(s) - 1), 0);
	CHECK_EQ(checkpoint_body_len(NULL, 0), 0);
out:
	buf_destroy(&s);
	buf_destroy(&c);
	buf_destroy(&later);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "checkpoint_key_id: known answers, spec key", test_key_id },
		{ "checkpoint_known_answer: notes of an independent implementation", test_known_answer },
		{ "checkpoint_roundtrip: sign, parse, verify", test_roundtrip },
		{ "checkpoint_spec_examples: parse; type-0x01 and unknown lines ignored", test_spec_examples },
		{ "checkpoint_flip_every_bit_truncate_append", test_tamper },
		{ "checkpoint_keys_and_names: wrong key or name, node + witness", test_keys_and_names },
		{ "checkpoint_signature_lines: the key's lines, foreign lines", test_signature_lines },
		{ "checkpoint_cosign", test_cosign },
		{ "checkpoint_sign_arguments", test_sign_arguments },
		{ "checkpoint_malformed_refused", test_malformed },
		{ "checkpoint_limits: 16 lines, CHECKPOINT_MAX bytes", test_limits },
		{ "checkpoint_body_len", test_body_len },
		{ NULL, NULL },
	};
	uint8_t seed[32];

	if (sodium_init() < 0)
		return 1;
	memset(seed, 0x11, sizeof(seed));
	crypto_sign_seed_keypair(node_pk, node_sk, seed);
	memset(seed, 0x22, sizeof(seed));
	crypto_sign_seed_keypair(wit_pk, wit_sk, seed);
	memset(seed, 0x33, sizeof(seed));
	crypto_sign_seed_keypair(other_pk, other_sk, seed);
	return tap_run(tests);
}
