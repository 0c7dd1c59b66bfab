/*
 * test_vectors.c — the committed envelope test vectors of docs/PROTOCOL.md
 * (tests/vectors/): every envelope parses, has the published digest,
 * verifies under the published sender key at the published time, and
 * opens for both recipients to the published payload, and has the
 * published wire hash.  A change to any byte format breaks this test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "envelope.h"
#include "err.h"
#include "pbwire.h"
#include "tap.h"
#include "util.h"

#define VDIR KETEN_SRCDIR "/tests/vectors"

/* value of "key = value" in vectors.txt within [section] ("" = top). */
static int
vector_get(const char *section, const char *key, char *out, size_t outlen)
{
	FILE *f = fopen(VDIR "/vectors.txt", "r");
	char line[8192], cur[256] = "";
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		size_t klen = strlen(key);

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '[') {
			snprintf(cur, sizeof(cur), "%.*s", (int)(strlen(line) - 2), line + 1);
			continue;
		}
		if (strcmp(cur, section) == 0 && strncmp(line, key, klen) == 0 &&
		    strncmp(line + klen, " = ", 3) == 0) {
			snprintf(out, outlen, "%s", line + klen + 3);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

static int
vector_hex(const char *section, const char *key, uint8_t *out, size_t n)
{
	char v[8192];

	return vector_get(section, key, v, sizeof(v)) && hex_decode(v, out, n) == 0;
}

static void
check_file(const char *name, uint32_t batch)
{
	uint8_t spk[32], rsk[32], digest[32], wh[32], wh_pub[32];
	char payload[256], at[32];
	struct buf *wire = NULL, *out = NULL;
	struct envelope *e = NULL;
	struct opener *o = NULL;
	char path[512];

	CHECK(vector_hex("", "sender_sign_pk", spk, 32));
	CHECK(vector_get("", "payload", payload, sizeof(payload)));
	CHECK(vector_get("", "verify_at_ms", at, sizeof(at)));
	CHECK(vector_hex(name, "digest", digest, 32));
	CHECK(vector_hex(name, "wire_hash", wh_pub, 32));
	snprintf(path, sizeof(path), "%s/%s", VDIR, name);
	CHECK_EQ(buf_load_file(path, 1 << 20, &wire), 0);
	if (wire == NULL)
		return;
	CHECK_EQ(envelope_parse(buf_ptr(wire), buf_len(wire), &e), 0);
	if (e == NULL)
		goto out;
	CHECK(memcmp(envelope_digest(e), digest, 32) == 0);
	envelope_wire_hash(e, wh);
	CHECK(memcmp(wh, wh_pub, 32) == 0);
	CHECK_EQ(envelope_batch_size(e), batch);
	CHECK_EQ(envelope_verify(e, spk, NULL, strtoull(at, NULL, 10), 0), 0);
	for (int i = 0; i < 2; i++) {
		const char *oin = envelope_header(e)->recipients[i];

		CHECK(vector_hex("", i ? "recipient1_seal_sk" : "recipient0_seal_sk", rsk, 32));
		CHECK_EQ(opener_new(oin, rsk, &o), 0);
		CHECK_EQ(envelope_open(e, o, &out), 0);
		CHECK(out != NULL && buf_len(out) == strlen(payload) &&
		    memcmp(buf_ptr(out), payload, buf_len(out)) == 0);
		buf_destroy(&out);
		opener_destroy(&o);
	}
out:
	envelope_destroy(&e);
	buf_destroy(&wire);
}

static void
test_single(void)
{
	uint8_t hh[32], hbytes[1024];
	char hex[4096];
	struct buf *wire = NULL;
	struct envelope *e = NULL;
	size_t hl;

	check_file("envelope-single.bin", 0);
	/* the published header bytes and header hash */
	CHECK(vector_get("envelope-single.bin", "header_bytes", hex, sizeof(hex)));
	hl = strlen(hex) / 2;
	CHECK(hl < sizeof(hbytes) && hex_decode(hex, hbytes, hl) == 0);
	CHECK(vector_hex("envelope-single.bin", "header_hash", hh, 32));
	CHECK_EQ(buf_load_file(VDIR "/envelope-single.bin", 1 << 20, &wire), 0);
	if (wire != NULL && envelope_parse(buf_ptr(wire), buf_len(wire), &e) == 0) {
		size_t n;
		const uint8_t *h = envelope_header_bytes(e, &n);
		uint8_t again[32];

		CHECK(n == hl && memcmp(h, hbytes, hl) == 0);
		crypto_hash_sha256(again, h, n);
		CHECK(memcmp(again, hh, 32) == 0);
	}
	envelope_destroy(&e);
	buf_destroy(&wire);
}

/* The same fields in another order (PROTOCOL.md 3 allows any): the same
 * digest, which covers contents only, but another wire hash, which is of
 * the exact bytes. */
static void
test_wire_hash_order(void)
{
	uint8_t d[32], wh[32], wh2[32];
	struct buf *wire = NULL, *moved = NULL;
	struct envelope *e = NULL;
	size_t pos = 0, sig_at = 0, sig_end = 0;

	CHECK_EQ(buf_load_file(VDIR "/envelope-single.bin", 1 << 20, &wire), 0);
	if (wire == NULL)
		return;
	/* find the signature field (2, length-delimited) */
	while (pos < buf_len(wire)) {
		size_t start = pos;
		uint64_t tag, n;

		if (pb_get_varint(buf_ptr(wire), buf_len(wire), &pos, &tag) != 0 ||
		    pb_get_varint(buf_ptr(wire), buf_len(wire), &pos, &n) != 0 ||
		    n > buf_len(wire) - pos)
			break;
		pos += n;
		if (tag == (2 << 3 | 2)) {
			sig_at = start;
			sig_end = pos;
		}
	}
	CHECK(sig_end > sig_at && sig_end <= buf_len(wire));
	/* the signature moved to the front */
	CHECK((moved = buf_new(buf_len(wire))) != NULL);
	if (moved == NULL || sig_end <= sig_at || sig_end > buf_len(wire))
		goto out;
	CHECK_EQ(buf_put(moved, buf_ptr(wire) + sig_at, sig_end - sig_at), 0);
	CHECK_EQ(buf_put(moved, buf_ptr(wire), sig_at), 0);
	CHECK_EQ(buf_put(moved, buf_ptr(wire) + sig_end, buf_len(wire) - sig_end), 0);
	CHECK(buf_len(moved) == buf_len(wire) && memcmp(buf_ptr(moved), buf_ptr(wire), buf_len(wire)) != 0);
	CHECK_EQ(envelope_parse(buf_ptr(wire), buf_len(wire), &e), 0);
	if (e == NULL)
		goto out;
	memcpy(d, envelope_digest(e), 32);
	envelope_wire_hash(e, wh);
	envelope_destroy(&e);
	CHECK_EQ(envelope_parse(buf_ptr(moved), buf_len(moved), &e), 0);
	if (e == NULL)
		goto out;
	CHECK(memcmp(envelope_digest(e), d, 32) == 0);
	envelope_wire_hash(e, wh2);
	CHECK(memcmp(wh, wh2, 32) != 0);
out:
	envelope_destroy(&e);
	buf_destroy(&moved);
	buf_destroy(&wire);
}

static void
test_batch(void)
{
	check_file("envelope-batch-0.bin", 3);
	check_file("envelope-batch-1.bin", 3);
	check_file("envelope-batch-2.bin", 3);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "vectors_single", test_single },
		{ "vectors_batch_of_3", test_batch },
		{ "vectors_wire_hash_of_the_exact_bytes", test_wire_hash_order },
		{ NULL, NULL },
	};

	return tap_run(tests);
}
