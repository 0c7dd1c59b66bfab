/*
 * fuzz_receipt.c — libFuzzer harness for signed receipts from the network:
 * parse, then verify against a fixed key, alone and through a signature
 * cache (single and batch-signed receipts, PROTOCOL.md §8).
 *
 * The seeds are receipts signed with that fixed key, so that mutations
 * start from receipts that verify; the harness writes them itself:
 *
 *   KETEN_FUZZ_MKSEEDS=tests/fuzz/seeds/fuzz_receipt build/fuzz/fuzz_receipt
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "envelope.h"
#include "receipt.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pk[32], sk[64];
static struct sigcache *cache;

static void
seed_write(const char *dir, const char *name, const struct buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(buf_ptr(b), 1, buf_len(b), f) != buf_len(b)) {
		fprintf(stderr, "fuzz_receipt: cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
}

static void
seeds(const char *dir)
{
	struct receipt_info ri[3];
	struct buf *out[3], *one = NULL;

	for (int i = 0; i < 3; i++) {
		memset(&ri[i], 0, sizeof(ri[i]));
		memset(ri[i].msg_id, i + 1, sizeof(ri[i].msg_id));
		ri[i].issuer = "00000001999000050000";
		ri[i].sender = "00000001999000010000";
		ri[i].status = i == 2 ? KETEN_RECEIPT_REFUSED : KETEN_RECEIPT_DELIVERED;
		ri[i].reason = i == 2 ? 22 : 0;	/* MANDATE_REVOKED */
		ri[i].reason_text = i == 2 ? "mandate revoked" : "";
		ri[i].recipient = "";
		ri[i].issued_at = 1800000000000ull;
		memset(ri[i].envelope_digest, 0xd0 + i, sizeof(ri[i].envelope_digest));
	}
	if (receipt_sign(&ri[0], sk, &one) != 0 || receipt_sign_batch(ri, 3, sk, out) != 0)
		exit(1);
	seed_write(dir, "receipt-single", one);
	seed_write(dir, "receipt-batch-0", out[0]);
	seed_write(dir, "receipt-batch-2", out[2]);
	buf_destroy(&one);
	for (int i = 0; i < 3; i++)
		buf_destroy(&out[i]);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[32];
	const char *mk = getenv("KETEN_FUZZ_MKSEEDS");

	(void)argc;
	(void)argv;
	if (sodium_init() < 0 || sigcache_new(&cache) != 0)
		abort();
	memset(seed, 0x11, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	if (mk != NULL) {
		seeds(mk);
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct receipt_parsed *rp = NULL;

	if (receipt_parse(data, size, &rp) == 0) {
		(void)receipt_info(rp);
		(void)receipt_verify(rp, pk);
		(void)receipt_verify_cached(rp, pk, cache);
	}
	receipt_parsed_destroy(&rp);
	return 0;
}
