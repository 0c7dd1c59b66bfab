/*
 * fuzz_envelope.c — libFuzzer harness for everything a node does with
 * envelope bytes from the network: parse, verify (with and without the
 * batch cache) and open.  The keys are fixed per process so that inputs
 * derived from the seed envelopes reach the signature and decryption code.
 */
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "envelope.h"
#include "err.h"

static uint8_t sign_pk[32], seal_sk[32];
static struct opener *opener;
static struct sigcache *cache;

/* Deterministic keys (seeded), so seeds written by the seed generator in
 * tests/fuzz/mkseeds_envelope.c verify. */
static void
setup(void)
{
	uint8_t seed[32], sk[64];

	if (sodium_init() < 0)
		__builtin_trap();
	memset(seed, 0x11, sizeof(seed));
	crypto_sign_seed_keypair(sign_pk, sk, seed);
	memset(seal_sk, 0x22, sizeof(seal_sk));
	if (opener_new("00000001999000050000", seal_sk, &opener) != 0 ||
	    sigcache_new(&cache) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope *e = NULL;
	struct buf *out = NULL;

	if (opener == NULL)
		setup();
	if (envelope_parse(data, size, &e) != 0)
		return 0;
	(void)envelope_header(e);
	(void)envelope_check_recipient(e, "00000001999000050000");
	if (envelope_verify(e, sign_pk, (size & 1) ? cache : NULL,
	    envelope_header(e)->created_at, KETEN_DEFAULT_SKEW_MS) == 0 &&
	    envelope_open(e, opener, &out) == 0)
		buf_destroy(&out);
	envelope_destroy(&e);
	return 0;
}
