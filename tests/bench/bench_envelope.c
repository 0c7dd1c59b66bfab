/*
 * bench_envelope.c — envelope seal+sign and open+verify rates, beside raw
 * libsodium Ed25519 and XChaCha20-Poly1305 measured in the same run, so
 * that the ratios hold on a busy machine.
 *
 * A batch-signed receive is measured as a receiver meets it: each batch of
 * 64 with a fresh signature cache and a fresh opener, so the one Ed25519
 * verification and the one X25519 per batch are paid every time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "bench.h"
#include "buf.h"
#include "envelope.h"
#include "envelope.pb-c.h"
#include "err.h"
#include "merkle.h"

#define BATCH 64
static const double SECONDS = 0.6;	/* per measurement */

static const char *const SENDER = "00000001999000010000";
static const char *const RCPT = "00000001999000050000";
static uint8_t sign_pk[32], sign_sk[64], seal_pk[32], seal_sk[32];

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench_envelope: %s: %s\n", what, keten_strerror(r));
	exit(1);
}

static void
meta_init(struct envelope_meta *m)
{
	static const char *rcpts[1];
	static uint8_t keys[1][32];

	rcpts[0] = RCPT;
	memcpy(keys[0], seal_pk, 32);
	memset(m, 0, sizeof(*m));
	m->kind = KETEN__V1__KIND__DOSSIER_DELIVERY;
	m->sender = SENDER;
	m->nrecipients = 1;
	m->recipients = rcpts;
	m->recipient_keys = (const uint8_t (*)[32])keys;
	m->case_ref = "case-bench";
	m->purpose = "urn:keten:purpose:lvv-intake";
	m->mandate_id = "mandate-bench";
	m->created_at = (uint64_t)time(NULL) * 1000;
	m->expires_at = m->created_at + 3600 * 1000;
}

/* Runs fn(arg, i) until SECONDS have passed; returns calls per second.
 * Each call does `unit` operations. */
static double
rate(void (*fn)(void *, long), void *arg, long unit)
{
	double t0 = now_s(), t;
	long n = 0;

	do {
		fn(arg, n++);
		t = now_s() - t0;
	} while (t < SECONDS);
	return (double)n * (double)unit / t;
}

struct ctx {
	uint8_t *payload;
	size_t len;
	uint8_t *out;
	uint8_t sig[64];
	uint8_t key[32];
	uint8_t nonce[24];
	/* the envelope's hash for audit records */
	struct envelope *env;
	uint8_t hash[32];
	/* prepared envelopes */
	size_t nwire;
	uint8_t **wire;
	size_t *wlen;
};

static void
raw_sign(void *a, long i)
{
	struct ctx *c = a;

	(void)i;
	crypto_sign_detached(c->sig, NULL, c->payload, c->len, sign_sk);
}

static void
raw_verify(void *a, long i)
{
	struct ctx *c = a;

	(void)i;
	if (crypto_sign_verify_detached(c->sig, c->payload, c->len, sign_pk) != 0)
		die("raw verify", KETEN_EBADSIG);
}

static void
raw_aead_enc(void *a, long i)
{
	struct ctx *c = a;

	(void)i;
	crypto_aead_xchacha20poly1305_ietf_encrypt(c->out, NULL, c->payload, c->len,
	    NULL, 0, NULL, c->nonce, c->key);
}

static void
raw_aead_dec(void *a, long i)
{
	struct ctx *c = a;

	(void)i;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(c->payload, NULL, NULL, c->out,
	    c->len + 16, NULL, 0, c->nonce, c->key) != 0)
		die("raw decrypt", KETEN_EDECRYPT);
}

static void
seal_single(void *a, long i)
{
	struct ctx *c = a;
	struct envelope_meta m;
	struct envelope *e = NULL;
	int r;

	(void)i;
	meta_init(&m);
	if ((r = envelope_seal(&m, c->payload, c->len, NULL, &e)) != 0 ||
	    (r = envelope_sign(e, sign_sk)) != 0)
		die("seal", r);
	envelope_destroy(&e);
}

static void
seal_batch(void *a, long i)
{
	struct ctx *c = a;
	struct envelope_meta m;
	struct envelope *es[BATCH];
	struct sealer *s = NULL;
	int r;

	(void)i;
	meta_init(&m);
	if ((r = sealer_new(BATCH, 60000, &s)) != 0)
		die("sealer", r);
	for (int k = 0; k < BATCH; k++)
		if ((r = envelope_seal(&m, c->payload, c->len, s, &es[k])) != 0)
			die("seal", r);
	if ((r = envelope_sign_batch(es, BATCH, sign_sk)) != 0)
		die("sign batch", r);
	for (int k = 0; k < BATCH; k++)
		envelope_destroy(&es[k]);
	sealer_destroy(&s);
}

static void
receive_one(const uint8_t *w, size_t len, struct sigcache *sc, struct opener *o)
{
	struct envelope *e = NULL;
	struct buf *out = NULL;
	int r;

	if ((r = envelope_parse(w, len, &e)) != 0)
		die("parse", r);
	if ((r = envelope_verify(e, sign_pk, sc, (uint64_t)time(NULL) * 1000,
	    KETEN_DEFAULT_SKEW_MS)) != 0)
		die("verify", r);
	if ((r = envelope_open(e, o, &out)) != 0)
		die("open", r);
	buf_destroy(&out);
	envelope_destroy(&e);
}

static void
open_single(void *a, long i)
{
	struct ctx *c = a;
	struct opener *o = NULL;
	size_t k = (size_t)i % c->nwire;

	if (opener_new(RCPT, seal_sk, &o) != 0)
		die("opener", KETEN_ENOMEM);
	receive_one(c->wire[k], c->wlen[k], NULL, o);
	opener_destroy(&o);
}

static void
open_batch(void *a, long i)
{
	struct ctx *c = a;
	struct sigcache *sc = NULL;
	struct opener *o = NULL;
	size_t base = ((size_t)i % (c->nwire / BATCH)) * BATCH;

	if (sigcache_new(&sc) != 0 || opener_new(RCPT, seal_sk, &o) != 0)
		die("caches", KETEN_ENOMEM);
	for (size_t k = 0; k < BATCH; k++)
		receive_one(c->wire[base + k], c->wlen[base + k], sc, o);
	sigcache_destroy(&sc);
	opener_destroy(&o);
}

/* Prepare n envelopes, single-signed or in batches of BATCH. */
static void
prepare(struct ctx *c, size_t n, int batched)
{
	struct envelope_meta m;
	struct envelope *es[BATCH];
	struct sealer *s = NULL;
	int r;

	meta_init(&m);
	c->nwire = n;
	c->wire = calloc(n, sizeof(*c->wire));
	c->wlen = calloc(n, sizeof(*c->wlen));
	for (size_t b = 0; b < n; b += (batched ? BATCH : 1)) {
		size_t cnt = batched ? BATCH : 1;

		if ((r = sealer_new((uint32_t)cnt, 60000, &s)) != 0)
			die("sealer", r);
		for (size_t k = 0; k < cnt; k++)
			if ((r = envelope_seal(&m, c->payload, c->len, s, &es[k])) != 0)
				die("seal", r);
		r = batched ? envelope_sign_batch(es, cnt, sign_sk) : envelope_sign(es[0], sign_sk);
		if (r != 0)
			die("sign", r);
		for (size_t k = 0; k < cnt; k++) {
			const uint8_t *w = envelope_bytes(es[k], &c->wlen[b + k]);

			c->wire[b + k] = malloc(c->wlen[b + k]);
			memcpy(c->wire[b + k], w, c->wlen[b + k]);
			envelope_destroy(&es[k]);
		}
		sealer_destroy(&s);
	}
}

static void
unprepare(struct ctx *c)
{
	for (size_t i = 0; i < c->nwire; i++)
		free(c->wire[i]);
	free(c->wire);
	free(c->wlen);
	c->wire = NULL;
	c->wlen = NULL;
	c->nwire = 0;
}

static void
row(const char *what, double ops, size_t len, double base, const char *vs)
{
	printf("  %-38s %12.0f/s %9.1f MB/s", what, ops, ops * (double)len / 1e6);
	if (base > 0)
		printf("   %6.2fx %s", ops / base, vs);
	printf("\n");
}

/* The hash an audit record names: as a node worked it out before the
 * wire hash (SHA-256 of every wire byte, through OpenSSL like the node),
 * and the wire hash (the digest the node has already, and the wire
 * bytes outside the ciphertext). */
static void
whole_wire_sha256(void *a, long i)
{
	struct ctx *c = a;

	(void)i;
	merkle_sha256(c->wire[0], c->wlen[0], c->hash);
}

static void
wire_hash(void *a, long i)
{
	struct ctx *c = a;

	(void)i;
	envelope_wire_hash(c->env, c->hash);
}

static void
wire_hash_rows(struct ctx *c, size_t len, const char *size)
{
	char what[2][64];
	double base, wh;
	int r;

	c->len = len;
	prepare(c, 1, 0);
	if ((r = envelope_parse(c->wire[0], c->wlen[0], &c->env)) != 0)
		die("parse", r);
	base = rate(whole_wire_sha256, c, 1);
	wh = rate(wire_hash, c, 1);
	snprintf(what[0], sizeof(what[0]), "SHA-256 of the whole wire, %s", size);
	snprintf(what[1], sizeof(what[1]), "wire hash, %s", size);
	row(what[0], base, c->wlen[0], 0, "");
	row(what[1], wh, c->wlen[0], base, "of SHA-256 of the whole wire");
	envelope_destroy(&c->env);
	unprepare(c);
}

int
main(void)
{
	struct ctx c;
	double r_sign, r_verify, r_enc1k, r_dec1k, r_enc1m, r_dec1m;
	double s1, sb, o1, ob, s1m, o1m, sb1m, ob1m;

	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(sign_pk, sign_sk);
	crypto_box_keypair(seal_pk, seal_sk);
	memset(&c, 0, sizeof(c));
	randombytes_buf(c.key, sizeof(c.key));
	randombytes_buf(c.nonce, sizeof(c.nonce));

	printf("keten envelope benchmark (%.1f s per figure, one core)\n\n", SECONDS);

	/* 1 KiB */
	c.len = 1024;
	c.payload = calloc(1, 1u << 20);
	c.out = calloc(1, (1u << 20) + 64);
	printf("baseline, same run:\n");
	r_sign = rate(raw_sign, &c, 1);
	crypto_sign_detached(c.sig, NULL, c.payload, c.len, sign_sk);
	r_verify = rate(raw_verify, &c, 1);
	r_enc1k = rate(raw_aead_enc, &c, 1);
	raw_aead_enc(&c, 0);
	r_dec1k = rate(raw_aead_dec, &c, 1);
	row("raw crypto_sign_detached 1 KiB", r_sign, 1024, 0, "");
	row("raw crypto_sign_verify_detached 1 KiB", r_verify, 1024, 0, "");
	row("raw XChaCha20-Poly1305 encrypt 1 KiB", r_enc1k, 1024, 0, "");
	row("raw XChaCha20-Poly1305 decrypt 1 KiB", r_dec1k, 1024, 0, "");
	c.len = 1u << 20;
	r_enc1m = rate(raw_aead_enc, &c, 1);
	raw_aead_enc(&c, 0);
	r_dec1m = rate(raw_aead_dec, &c, 1);
	row("raw XChaCha20-Poly1305 encrypt 1 MiB", r_enc1m, 1u << 20, 0, "");
	row("raw XChaCha20-Poly1305 decrypt 1 MiB", r_dec1m, 1u << 20, 0, "");

	printf("\nketen envelope, 1 KiB payload, one recipient:\n");
	c.len = 1024;
	s1 = rate(seal_single, &c, 1);
	sb = rate(seal_batch, &c, BATCH);
	prepare(&c, 256, 0);
	o1 = rate(open_single, &c, 1);
	unprepare(&c);
	prepare(&c, 16 * BATCH, 1);
	ob = rate(open_batch, &c, BATCH);
	unprepare(&c);
	row("seal+sign, single signature", s1, 1024, r_sign, "of raw sign");
	row("seal+sign, batch of 64", sb, 1024, s1, "of single");
	row("open+verify, single signature", o1, 1024, r_verify, "of raw verify");
	row("open+verify, batch of 64", ob, 1024, o1, "of single (target >= 5x)");

	printf("\nketen envelope, 1 MiB payload, one recipient:\n");
	c.len = 1u << 20;
	s1m = rate(seal_single, &c, 1);
	prepare(&c, 8, 0);
	o1m = rate(open_single, &c, 1);
	unprepare(&c);
	sb1m = rate(seal_batch, &c, BATCH);
	prepare(&c, 2 * BATCH, 1);
	ob1m = rate(open_batch, &c, BATCH);
	unprepare(&c);
	row("seal+sign, single signature", s1m, 1u << 20, r_enc1m, "of raw AEAD encrypt (target >= 0.5x)");
	row("open+verify, single signature", o1m, 1u << 20, r_dec1m, "of raw AEAD decrypt (target >= 0.5x)");
	row("seal+sign, batch of 64", sb1m, 1u << 20, r_enc1m, "of raw AEAD encrypt");
	row("open+verify, batch of 64", ob1m, 1u << 20, r_dec1m, "of raw AEAD decrypt");

	printf("\nthe envelope's hash that audit records name (PROTOCOL.md 5), once the\n"
	    "envelope is sealed or parsed; MB/s of wire bytes:\n");
	wire_hash_rows(&c, 1024, "1 KiB payload");
	wire_hash_rows(&c, 1u << 20, "1 MiB payload");

	free(c.payload);
	free(c.out);
	return 0;
}
