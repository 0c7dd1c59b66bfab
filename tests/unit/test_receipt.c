/*
 * test_receipt.c — signed receipts: round trip, every bit flipped,
 * truncation, wrong issuer key, invalid contents refused at signing.
 */
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "envelope.h"
#include "err.h"
#include "receipt.h"
#include "tap.h"

static uint8_t pk[32], sk[64], other_pk[32], other_sk[64];

static void
info_init(struct receipt_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	memset(ri->msg_id, 0x42, sizeof(ri->msg_id));
	ri->issuer = "00000001999000050000";
	ri->sender = "00000001999000010000";
	ri->status = KETEN_RECEIPT_DELIVERED;
	ri->issued_at = 1800000000000ull;
	memset(ri->envelope_digest, 0x17, sizeof(ri->envelope_digest));
}

static void
test_roundtrip(void)
{
	struct receipt_info ri;
	struct buf *b = NULL;
	struct receipt_parsed *rp = NULL;
	const struct receipt_info *got;

	info_init(&ri);
	ri.status = KETEN_RECEIPT_REFUSED;
	ri.reason = reason_from_name("NO_MANDATE");
	ri.reason_text = "no mandate covers kind CASE_EVENT";
	ri.checkpoint = (const uint8_t *)"checkpoint";
	ri.checkpoint_len = 10;
	CHECK_EQ(receipt_sign(&ri, sk, &b), 0);
	CHECK_EQ(receipt_parse(buf_ptr(b), buf_len(b), &rp), 0);
	if (rp != NULL) {
		CHECK_EQ(receipt_verify(rp, pk), 0);
		CHECK_EQ(receipt_verify(rp, other_pk), KETEN_EBADSIG);
		got = receipt_info(rp);
		CHECK(memcmp(got->msg_id, ri.msg_id, 16) == 0);
		CHECK(strcmp(got->issuer, ri.issuer) == 0);
		CHECK_EQ(got->status, KETEN_RECEIPT_REFUSED);
		CHECK(strcmp(reason_name(got->reason), "NO_MANDATE") == 0);
		CHECK(strcmp(got->reason_text, ri.reason_text) == 0);
		CHECK_EQ(got->issued_at, ri.issued_at);
		CHECK(got->checkpoint_len == 10 && memcmp(got->checkpoint, "checkpoint", 10) == 0);
	}
	receipt_parsed_destroy(&rp);
	CHECK(rp == NULL);
	buf_destroy(&b);
}

static void
test_tamper(void)
{
	struct receipt_info ri;
	struct buf *b = NULL;
	uint8_t copy[1024];
	size_t len;
	int accepted = 0;

	info_init(&ri);
	CHECK_EQ(receipt_sign(&ri, sk, &b), 0);
	len = buf_len(b);
	CHECK(len < sizeof(copy));
	memcpy(copy, buf_ptr(b), len);
	for (size_t i = 0; i < len * 8; i++) {
		struct receipt_parsed *rp = NULL;

		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (receipt_parse(copy, len, &rp) == 0 && receipt_verify(rp, pk) == 0)
			accepted++;
		receipt_parsed_destroy(&rp);
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK_EQ(accepted, 0);
	for (size_t n = 0; n < len; n++) {
		struct receipt_parsed *rp = NULL;

		CHECK(receipt_parse(copy, n, &rp) != 0 || receipt_verify(rp, pk) != 0);
		receipt_parsed_destroy(&rp);
	}
	buf_destroy(&b);
}

static void
test_invalid(void)
{
	struct receipt_info ri;
	struct buf *b = NULL;

	info_init(&ri);
	ri.reason = 20;		/* a reason with DELIVERED */
	CHECK_EQ(receipt_sign(&ri, sk, &b), KETEN_EFIELD);
	info_init(&ri);
	ri.status = KETEN_RECEIPT_REFUSED;	/* refused without a reason */
	CHECK_EQ(receipt_sign(&ri, sk, &b), KETEN_EFIELD);
	info_init(&ri);
	ri.issuer = "not-an-oin";
	CHECK_EQ(receipt_sign(&ri, sk, &b), KETEN_EFIELD);
	info_init(&ri);
	ri.status = KETEN_RECEIPT_REFUSED;
	ri.reason = 999;
	CHECK_EQ(receipt_sign(&ri, sk, &b), KETEN_EFIELD);
	info_init(&ri);
	ri.reason_text = "tab\there";
	CHECK_EQ(receipt_sign(&ri, sk, &b), KETEN_EFIELD);
	CHECK(b == NULL);
	CHECK_EQ(reason_from_name("NOPE"), -1);
	CHECK(reason_name(12345) == NULL);
}

static void
test_batch(void)
{
	struct receipt_info ri[5];
	struct buf *out[5];
	struct receipt_parsed *rp = NULL;
	struct sigcache *cache = NULL;

	for (int i = 0; i < 5; i++) {
		info_init(&ri[i]);
		ri[i].msg_id[0] = (uint8_t)i;
	}
	CHECK_EQ(sigcache_new(&cache), 0);
	CHECK_EQ(receipt_sign_batch(ri, 5, sk, out), 0);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(receipt_parse(buf_ptr(out[i]), buf_len(out[i]), &rp), 0);
		if (rp == NULL)
			continue;
		CHECK(receipt_info(rp)->msg_id[0] == (uint8_t)i);
		CHECK_EQ(receipt_verify(rp, pk), 0);
		CHECK_EQ(receipt_verify_cached(rp, pk, cache), 0);
		CHECK_EQ(receipt_verify_cached(rp, pk, cache), 0);	/* from the cache */
		CHECK_EQ(receipt_verify(rp, other_pk), KETEN_EBADSIG);
		CHECK_EQ(receipt_verify_cached(rp, other_pk, cache), KETEN_EBADSIG);
		receipt_parsed_destroy(&rp);
	}
	/* every bit of one batch member: it fails to parse or to verify, also
	 * with the batch signature in the cache */
	for (size_t bit = 0; bit < 8 * buf_len(out[2]); bit++) {
		struct buf *b = buf_new(buf_len(out[2]));
		uint8_t *p;

		if (b == NULL || buf_reserve(b, buf_len(out[2]), &p) != 0) {
			buf_destroy(&b);
			CHECK(0);
			break;
		}
		memcpy(p, buf_ptr(out[2]), buf_len(out[2]));
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (receipt_parse(p, buf_len(b), &rp) == 0) {
			CHECK(receipt_verify_cached(rp, pk, cache) != 0);
			receipt_parsed_destroy(&rp);
		}
		buf_destroy(&b);
	}
	for (int i = 0; i < 5; i++)
		buf_destroy(&out[i]);
	CHECK_EQ(receipt_sign_batch(ri, 0, sk, out), KETEN_EINVAL);
	sigcache_destroy(&cache);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "receipt_roundtrip", test_roundtrip },
		{ "receipt_flip_every_bit_and_truncate", test_tamper },
		{ "receipt_invalid_contents", test_invalid },
		{ "receipt_batch: one signature, each verifies alone; every bit flipped", test_batch },
		{ NULL, NULL },
	};

	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(other_pk, other_sk);
	return tap_run(tests);
}
