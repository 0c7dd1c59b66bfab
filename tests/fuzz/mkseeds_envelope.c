/*
 * mkseeds_envelope.c — writes seed envelopes for fuzz_envelope with the
 * harness's fixed keys: single and batch signed, several sizes and
 * recipient counts.  Usage: mkseeds_envelope DIR
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "envelope.pb-c.h"

int
main(int argc, char **argv)
{
	static const char *rcpts[3] = { "00000001999000050000", "00000001999000060000",
	    "00000001999000070000" };
	uint8_t seed[32], pk[32], sk[64], rsk[32], rkeys[3][32], payload[70000];
	struct envelope_meta m;
	struct envelope *es[4];
	int n = 0;

	if (argc != 2 || sodium_init() < 0)
		return 2;
	memset(seed, 0x11, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	memset(rsk, 0x22, sizeof(rsk));
	crypto_scalarmult_base(rkeys[0], rsk);
	crypto_box_keypair(rkeys[1], rsk);
	crypto_box_keypair(rkeys[2], rsk);
	memset(payload, 'p', sizeof(payload));
	memset(&m, 0, sizeof(m));
	m.kind = 1;
	m.sender = "00000001999000010000";
	m.recipients = rcpts;
	m.recipient_keys = (const uint8_t (*)[32])rkeys;
	m.case_ref = "case-seed";
	m.purpose = "urn:keten:purpose:seed";
	m.created_at = 1790000000000ull;
	m.expires_at = m.created_at + 3600000;
	for (size_t variant = 0; variant < 6; variant++) {
		size_t len = variant < 3 ? 10 * variant : 70000;
		char path[4096];
		FILE *f;

		m.nrecipients = 1 + variant % 3;
		if (variant == 5) {
			for (int k = 0; k < 4; k++)
				if (envelope_seal(&m, payload, 40, NULL, &es[k]) != 0)
					return 1;
			if (envelope_sign_batch(es, 4, sk) != 0)
				return 1;
		} else {
			if (envelope_seal(&m, payload, len, NULL, &es[0]) != 0 ||
			    envelope_sign(es[0], sk) != 0)
				return 1;
		}
		for (int k = 0; k < (variant == 5 ? 4 : 1); k++) {
			size_t wl;
			const uint8_t *w = envelope_bytes(es[k], &wl);

			snprintf(path, sizeof(path), "%s/seed-%02d", argv[1], n++);
			if ((f = fopen(path, "wb")) == NULL || fwrite(w, 1, wl, f) != wl)
				return 1;
			fclose(f);
			envelope_destroy(&es[k]);
		}
	}
	return 0;
}
