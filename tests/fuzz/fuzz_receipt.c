/*
 * fuzz_receipt.c — libFuzzer harness for signed receipts from the network:
 * parse, then verify against a fixed key.
 */
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pk[32];
	struct receipt_parsed *rp = NULL;

	if (pk[0] == 0) {
		uint8_t seed[32], sk[64];

		if (sodium_init() < 0)
			__builtin_trap();
		memset(seed, 0x11, sizeof(seed));
		crypto_sign_seed_keypair(pk, sk, seed);
		pk[0] |= 1;	/* marks initialised; verification then fails, parse still runs */
	}
	if (receipt_parse(data, size, &rp) == 0) {
		(void)receipt_info(rp);
		(void)receipt_verify(rp, pk);
	}
	receipt_parsed_destroy(&rp);
	return 0;
}
