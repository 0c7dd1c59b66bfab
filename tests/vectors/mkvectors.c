/*
 * mkvectors.c — writes the envelope test vectors of docs/PROTOCOL.md:
 * envelopes made with keys derived from fixed seeds, and a text file with
 * the seeds and every intermediate value (header hash, body hash, digest,
 * batch root).  The envelopes contain random ephemeral keys and nonces, so
 * the files are made once and committed; tests/unit/test_vectors.c and
 * tests/vectors/check_hashes.py check them.
 *
 * Usage: mkvectors OUTDIR
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "envelope.pb-c.h"
#include "util.h"

static void
put_hex(FILE *f, const char *name, const uint8_t *p, size_t n)
{
	char hex[2 * 4096 + 1];

	hex_encode(p, n, hex);
	fprintf(f, "%s = %s\n", name, hex);
}

static int
write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n)
		return -1;
	return fclose(f);
}

int
main(int argc, char **argv)
{
	static const char *rcpts[2] = { "00000001999000050000", "00000001999000060000" };
	uint8_t sseed[32], spk[32], ssk[64], rsk[2][32], rpk[2][32];
	struct envelope_meta m;
	struct envelope *e = NULL, *es[3];
	const char *payload = "{\"example\":\"keten test vector\"}";
	char path[4096];
	FILE *f;

	if (argc != 2 || sodium_init() < 0)
		return 2;
	memset(sseed, 0x01, 32);
	crypto_sign_seed_keypair(spk, ssk, sseed);
	for (int i = 0; i < 2; i++) {
		memset(rsk[i], 0x02 + i, 32);
		crypto_scalarmult_base(rpk[i], rsk[i]);
	}
	memset(&m, 0, sizeof(m));
	memset(m.msg_id, 0xa5, sizeof(m.msg_id));
	m.kind = KETEN__V1__KIND__CASE_EVENT;
	m.sender = "00000001999000010000";
	m.nrecipients = 2;
	m.recipients = rcpts;
	m.recipient_keys = (const uint8_t (*)[32])rpk;
	m.case_ref = "case-0001";
	m.purpose = "urn:keten:purpose:lso-case-consultation";
	m.mandate_id = "mandate-0001";
	m.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	m.created_at = 1800000000000ull;
	m.expires_at = 1900000000000ull;

	snprintf(path, sizeof(path), "%s/vectors.txt", argv[1]);
	if ((f = fopen(path, "w")) == NULL)
		return 1;
	fprintf(f, "# keten envelope test vectors (docs/PROTOCOL.md, section Test vectors)\n");
	fprintf(f, "# Ed25519 seed of the sender, X25519 secret keys of the recipients:\n");
	put_hex(f, "sender_sign_seed", sseed, 32);
	put_hex(f, "sender_sign_pk", spk, 32);
	put_hex(f, "recipient0_seal_sk", rsk[0], 32);
	put_hex(f, "recipient0_seal_pk", rpk[0], 32);
	put_hex(f, "recipient1_seal_sk", rsk[1], 32);
	put_hex(f, "recipient1_seal_pk", rpk[1], 32);
	fprintf(f, "payload = %s\n", payload);
	fprintf(f, "verify_at_ms = 1800000001000\n");

	/* single */
	if (envelope_seal(&m, (const uint8_t *)payload, strlen(payload), NULL, &e) != 0 ||
	    envelope_sign(e, ssk) != 0)
		return 1;
	{
		size_t wl, hl;
		const uint8_t *w = envelope_bytes(e, &wl), *h = envelope_header_bytes(e, &hl);
		uint8_t hh[32];

		crypto_hash_sha256(hh, h, hl);
		write_file(argv[1], "envelope-single.bin", w, wl);
		fprintf(f, "\n[envelope-single.bin]\n");
		put_hex(f, "header_bytes", h, hl);
		put_hex(f, "header_hash", hh, 32);
		put_hex(f, "digest", envelope_digest(e), 32);
		envelope_wire_hash(e, hh);
		put_hex(f, "wire_hash", hh, 32);
	}
	envelope_destroy(&e);

	/* batch of three */
	for (int i = 0; i < 3; i++) {
		m.msg_id[15] = (uint8_t)i;
		if (envelope_seal(&m, (const uint8_t *)payload, strlen(payload), NULL, &es[i]) != 0)
			return 1;
	}
	if (envelope_sign_batch(es, 3, ssk) != 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		char name[64];
		uint8_t wh[32];
		size_t wl;
		const uint8_t *w = envelope_bytes(es[i], &wl);

		snprintf(name, sizeof(name), "envelope-batch-%d.bin", i);
		write_file(argv[1], name, w, wl);
		fprintf(f, "\n[%s]\n", name);
		put_hex(f, "digest", envelope_digest(es[i]), 32);
		envelope_wire_hash(es[i], wh);
		put_hex(f, "wire_hash", wh, 32);
		envelope_destroy(&es[i]);
	}
	return fclose(f) == 0 ? 0 : 1;
}
