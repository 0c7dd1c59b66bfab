/*
 * test_envelope.c — seal/sign/parse/verify/open round trips and the tamper
 * cases: every bit of an envelope flipped, every truncation, appended
 * bytes, swapped recipients and stanzas, signatures replayed into another
 * context, wrong and unknown sender keys, expiry and clock skew.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "envelope.h"
#include "envelope.pb-c.h"
#include "err.h"
#include "tap.h"
#include "util.h"

#define NPARTY 4
static const char *const oins[NPARTY] = {
	"00000001999000010000",	/* sender */
	"00000001999000050000",
	"00000001999000060000",
	"00000001999000070000",
};
static uint8_t sign_pk[NPARTY][32], sign_sk[NPARTY][64];
static uint8_t seal_pk[NPARTY][32], seal_sk[NPARTY][32];
static const uint64_t T0 = 1790000000000ull;	/* a fixed "now" */

static void
keys_setup(void)
{
	if (sodium_init() < 0)
		abort();
	for (int i = 0; i < NPARTY; i++) {
		crypto_sign_keypair(sign_pk[i], sign_sk[i]);
		crypto_box_keypair(seal_pk[i], seal_sk[i]);
	}
}

static void
meta_init(struct envelope_meta *m, size_t nrcpt)
{
	static const char *rcpts[NPARTY - 1];
	static uint8_t rkeys[NPARTY - 1][32];

	for (size_t i = 0; i < nrcpt; i++) {
		rcpts[i] = oins[i + 1];
		memcpy(rkeys[i], seal_pk[i + 1], 32);
	}
	memset(m, 0, sizeof(*m));
	m->kind = KETEN__V1__KIND__DOSSIER_DELIVERY;
	m->sender = oins[0];
	m->nrecipients = nrcpt;
	m->recipients = rcpts;
	m->recipient_keys = (const uint8_t (*)[32])rkeys;
	m->case_ref = "case-7f3a9c";
	m->purpose = "urn:keten:purpose:lvv-intake";
	m->mandate_id = "mandate-ind-lvv-2026";
	m->traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	m->created_at = T0;
	m->expires_at = T0 + 7 * 24 * 3600 * 1000ull;
}

static uint8_t *
payload_make(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + 7);
	return p;
}

/* Seal and single-sign; returns a malloc'd copy of the wire bytes. */
static uint8_t *
wire_make(const struct envelope_meta *m, const uint8_t *pl, size_t n, size_t *len)
{
	struct envelope *e = NULL;
	const uint8_t *w;
	uint8_t *copy = NULL;

	if (envelope_seal(m, pl, n, NULL, &e) != 0 || envelope_sign(e, sign_sk[0]) != 0)
		goto out;
	w = envelope_bytes(e, len);
	copy = malloc(*len);
	memcpy(copy, w, *len);
out:
	envelope_destroy(&e);
	return copy;
}

/* Full receive path for party idx: parse, verify, open.  Returns the first
 * error, or 0 with *out holding the payload. */
static int
receive(const uint8_t *w, size_t len, int idx, struct sigcache *sc, struct buf **out)
{
	struct envelope *e = NULL;
	struct opener *o = NULL;
	int r;

	*out = NULL;
	if ((r = envelope_parse(w, len, &e)) != 0)
		goto out;
	if ((r = envelope_verify(e, sign_pk[0], sc, T0 + 1000, KETEN_DEFAULT_SKEW_MS)) != 0)
		goto out;
	if ((r = opener_new(oins[idx], seal_sk[idx], &o)) != 0)
		goto out;
	r = envelope_open(e, o, out);
out:
	opener_destroy(&o);
	envelope_destroy(&e);
	return r;
}

static void
test_roundtrip_sizes(void)
{
	static const size_t sizes[] = { 0, 1, 1024, 65535, 65536, 65537, 3 * 65536, (1u << 20) + 3 };
	struct envelope_meta m;

	meta_init(&m, 1);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *pl = payload_make(sizes[i]), *w;
		struct buf *out = NULL;
		size_t len;

		w = wire_make(&m, pl, sizes[i], &len);
		CHECK(w != NULL);
		if (w != NULL) {
			CHECK_EQ(receive(w, len, 1, NULL, &out), 0);
			CHECK(out != NULL && buf_len(out) == sizes[i] &&
			    (sizes[i] == 0 || memcmp(buf_ptr(out), pl, sizes[i]) == 0));
		}
		buf_destroy(&out);
		free(w);
		free(pl);
	}
}

/* The wire bytes taken out of a sealed envelope are the same bytes, and
 * the envelope keeps its header and digest. */
static void
test_take_wire(void)
{
	struct envelope_meta m;
	struct envelope *e = NULL, *parsed = NULL;
	uint8_t pl[100] = { 7 }, digest[32];
	const uint8_t *w;
	struct buf *b = NULL, *out = NULL;
	size_t len = 0;

	meta_init(&m, 1);
	CHECK_EQ(envelope_seal(&m, pl, sizeof(pl), NULL, &e), 0);
	CHECK(envelope_take_wire(e) == NULL);	/* not signed yet */
	CHECK_EQ(envelope_sign(e, sign_sk[0]), 0);
	w = envelope_bytes(e, &len);
	memcpy(digest, envelope_digest(e), 32);
	CHECK((b = envelope_take_wire(e)) != NULL);
	CHECK(b != NULL && buf_len(b) == len && buf_ptr(b) == w);
	CHECK(envelope_bytes(e, &len) == NULL && len == 0);
	CHECK(memcmp(envelope_digest(e), digest, 32) == 0 && envelope_header(e) != NULL);
	CHECK(envelope_take_wire(e) == NULL);
	if (b != NULL) {
		CHECK_EQ(receive(buf_ptr(b), buf_len(b), 1, NULL, &out), 0);
		CHECK_EQ(envelope_parse(buf_ptr(b), buf_len(b), &parsed), 0);
		CHECK(envelope_take_wire(parsed) == NULL);	/* parsed: not ours to give */
	}
	envelope_destroy(&parsed);
	envelope_destroy(&e);
	buf_destroy(&out);
	buf_destroy(&b);
}

static void
test_header_fields(void)
{
	struct envelope_meta m;
	struct envelope *e = NULL;
	const struct envelope_header *h;
	uint8_t reply[KETEN_MSG_ID_LEN], *w;
	uint64_t seqs[3] = { 5, 6, 7 };
	size_t len;

	meta_init(&m, 3);
	memset(reply, 0xab, sizeof(reply));
	m.in_reply_to = reply;
	m.seqs = seqs;
	m.kind = KETEN__V1__KIND__CASE_EVENT;
	w = wire_make(&m, (const uint8_t *)"x", 1, &len);
	CHECK(w != NULL);
	CHECK_EQ(envelope_parse(w, len, &e), 0);
	if (e != NULL) {
		h = envelope_header(e);
		CHECK_EQ(h->version, 1);
		CHECK_EQ(h->kind, KETEN__V1__KIND__CASE_EVENT);
		CHECK(strcmp(h->sender, oins[0]) == 0);
		CHECK_EQ(h->nrecipients, 3);
		CHECK(strcmp(h->recipients[2], oins[3]) == 0);
		CHECK(h->seqs != NULL && h->seqs[1] == 6);
		CHECK(strcmp(h->case_ref, "case-7f3a9c") == 0);
		CHECK(strcmp(h->purpose, m.purpose) == 0);
		CHECK(strcmp(h->mandate_id, m.mandate_id) == 0);
		CHECK(strcmp(h->traceparent, m.traceparent) == 0);
		CHECK_EQ(h->created_at, T0);
		CHECK_EQ(h->payload_size, 1);
		CHECK(h->has_reply && memcmp(h->in_reply_to, reply, 16) == 0);
		CHECK(!sodium_is_zero(h->msg_id, 16));
		CHECK_EQ(envelope_batch_size(e), 0);
		CHECK_EQ(envelope_check_recipient(e, oins[2]), 0);
		CHECK_EQ(envelope_check_recipient(e, oins[0]), KETEN_ENOTRECIPIENT);
	}
	envelope_destroy(&e);
	free(w);
	/* each recipient opens; the sender, not a recipient, cannot */
	for (int i = 0; i < 3; i++) {
		struct buf *out = NULL;

		w = wire_make(&m, (const uint8_t *)"abc", 3, &len);
		CHECK_EQ(receive(w, len, 1 + i, NULL, &out), 0);
		CHECK(out != NULL && buf_len(out) == 3 && memcmp(buf_ptr(out), "abc", 3) == 0);
		buf_destroy(&out);
		if (i == 0) {
			CHECK_EQ(receive(w, len, 0, NULL, &out), KETEN_ENOTRECIPIENT);
			CHECK(out == NULL);
		}
		free(w);
	}
}

static void
test_meta_rejected(void)
{
	struct envelope_meta m;
	struct envelope *e = NULL;
	const char *dup[2] = { oins[1], oins[1] };
	uint8_t keys2[2][32];

	memcpy(keys2[0], seal_pk[1], 32);
	memcpy(keys2[1], seal_pk[1], 32);
#define SEAL_FAILS(code) do { \
	CHECK_EQ(envelope_seal(&m, (const uint8_t *)"x", 1, NULL, &e), (code)); \
	CHECK(e == NULL); \
	meta_init(&m, 1); \
} while (0)
	meta_init(&m, 1);
	m.sender = "123";
	SEAL_FAILS(KETEN_EFIELD);
	m.kind = 99;
	SEAL_FAILS(KETEN_EFIELD);
	m.nrecipients = 0;
	SEAL_FAILS(KETEN_ERECIPIENTS);
	m.nrecipients = 2;
	m.recipients = dup;
	m.recipient_keys = (const uint8_t (*)[32])keys2;
	SEAL_FAILS(KETEN_ERECIPIENTS);
	m.nrecipients = KETEN_MAX_RECIPIENTS + 1;
	SEAL_FAILS(KETEN_ERECIPIENTS);
	m.case_ref = "";
	SEAL_FAILS(KETEN_EFIELD);
	m.case_ref = "line\nbreak";
	SEAL_FAILS(KETEN_EFIELD);
	m.expires_at = m.created_at;
	SEAL_FAILS(KETEN_EFIELD);
	m.traceparent = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
	SEAL_FAILS(KETEN_EFIELD);
	CHECK_EQ(envelope_seal(&m, (const uint8_t *)"x", (size_t)KETEN_MAX_PAYLOAD + 1, NULL, &e),
	    KETEN_ETOOBIG);
#undef SEAL_FAILS
}

/* Every single-bit flip of a whole envelope is refused by parse, verify
 * or open; flips inside the ciphertext or the signature value are refused
 * by verify (what a relay checks) with KETEN_EBADSIG. */
static void
test_flip_every_bit(void)
{
	struct envelope_meta m;
	struct envelope *e = NULL;
	uint8_t *pl = payload_make(700), *w;
	size_t len, ct_from = 0, ct_to = 0;
	long accepted = 0, badsig_ct = 0, ct_bits = 0;

	meta_init(&m, 2);
	w = wire_make(&m, pl, 700, &len);
	CHECK(w != NULL);
	if (w == NULL)
		goto out;
	/* locate the ciphertext: the last 24+700+17 bytes before the
	 * signature field, which is written last */
	CHECK_EQ(envelope_parse(w, len, &e), 0);
	if (e != NULL) {
		size_t hl;
		const uint8_t *hb = envelope_header_bytes(e, &hl);

		(void)hb;
		ct_to = len - (2 + 66);	/* single signature field: tag, len, 66 bytes */
		ct_from = ct_to - (24 + 700 + 17);
		envelope_destroy(&e);
	}
	for (size_t i = 0; i < len * 8; i++) {
		struct buf *out = NULL;
		int r;

		w[i / 8] ^= (uint8_t)(1u << (i % 8));
		r = receive(w, len, 1, NULL, &out);
		if (r == 0)
			accepted++;
		if (i / 8 >= ct_from && i / 8 < ct_to) {
			ct_bits++;
			badsig_ct += r == KETEN_EBADSIG;
		}
		buf_destroy(&out);
		w[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK_EQ(accepted, 0);
	CHECK(ct_bits > 0);
	CHECK_EQ(badsig_ct, ct_bits);
out:
	free(w);
	free(pl);
}

static void
test_truncate_and_append(void)
{
	struct envelope_meta m;
	uint8_t *pl = payload_make(2000), *w, *longer;
	size_t len;
	struct buf *out = NULL;

	meta_init(&m, 1);
	w = wire_make(&m, pl, 2000, &len);
	CHECK(w != NULL);
	if (w == NULL)
		goto out;
	for (size_t n = 0; n < len; n++) {
		CHECK(receive(w, n, 1, NULL, &out) != 0);
		buf_destroy(&out);
	}
	longer = malloc(len + 64);
	memcpy(longer, w, len);
	/* one stray byte; an unknown field; a second ciphertext; a second
	 * signature; an extra stanza */
	longer[len] = 0;
	CHECK_EQ(receive(longer, len + 1, 1, NULL, &out), KETEN_EPARSE);
	memcpy(longer + len, "\x2a\x01x", 3);	/* field 5, len 1 */
	CHECK_EQ(receive(longer, len + 3, 1, NULL, &out), KETEN_EPARSE);
	memcpy(longer + len, "\x22\x01x", 3);	/* field 4 again */
	CHECK_EQ(receive(longer, len + 3, 1, NULL, &out), KETEN_EPARSE);
	memcpy(longer + len, "\x12\x00", 2);	/* field 2 again */
	CHECK_EQ(receive(longer, len + 2, 1, NULL, &out), KETEN_EPARSE);
	memcpy(longer + len, "\x1a\x00", 2);	/* an empty stanza */
	CHECK(receive(longer, len + 2, 1, NULL, &out) != 0);
	CHECK(out == NULL);
	free(longer);
out:
	free(w);
	free(pl);
}

/* Re-encode an envelope with protobuf-c after changing it; our parser
 * accepts any field order. */
static uint8_t *
envelope_rewrite(const uint8_t *w, size_t len, void (*edit)(Keten__V1__Envelope *), size_t *outlen)
{
	Keten__V1__Envelope *pb = keten__v1__envelope__unpack(NULL, len, w);
	uint8_t *copy;

	if (pb == NULL)
		return NULL;
	edit(pb);
	*outlen = keten__v1__envelope__get_packed_size(pb);
	copy = malloc(*outlen);
	keten__v1__envelope__pack(pb, copy);
	keten__v1__envelope__free_unpacked(pb, NULL);
	return copy;
}

static void
edit_swap_stanzas(Keten__V1__Envelope *pb)
{
	Keten__V1__KeyStanza *t = pb->stanzas[0];

	pb->stanzas[0] = pb->stanzas[1];
	pb->stanzas[1] = t;
}

static void
edit_relabel_stanza(Keten__V1__Envelope *pb)
{
	/* recipient 1's stanza presented as recipient 2's */
	char *t = pb->stanzas[0]->recipient;

	pb->stanzas[0]->recipient = pb->stanzas[1]->recipient;
	pb->stanzas[1]->recipient = t;
	edit_swap_stanzas(pb);
}

static void
edit_single_as_batch(Keten__V1__Envelope *pb)
{
	pb->signature->batch_size = 1;
}

static void
edit_batch_as_single(Keten__V1__Envelope *pb)
{
	pb->signature->batch_size = 0;
	pb->signature->batch_index = 0;
	pb->signature->n_path = 0;
}

static void
edit_drop_stanza(Keten__V1__Envelope *pb)
{
	keten__v1__key_stanza__free_unpacked(pb->stanzas[1], NULL);
	pb->n_stanzas = 1;
}

static void
test_recipients_and_contexts(void)
{
	struct envelope_meta m;
	struct envelope *es[1] = { NULL };
	uint8_t *w, *x;
	size_t len, xlen = 0;
	struct buf *out = NULL;

	meta_init(&m, 2);
	w = wire_make(&m, (const uint8_t *)"hello", 5, &len);
	CHECK(w != NULL);
	x = envelope_rewrite(w, len, edit_swap_stanzas, &xlen);
	CHECK_EQ(receive(x, xlen, 1, NULL, &out), KETEN_ERECIPIENTS);
	free(x);
	x = envelope_rewrite(w, len, edit_relabel_stanza, &xlen);
	CHECK_EQ(receive(x, xlen, 1, NULL, &out), KETEN_EBADSIG);
	free(x);
	x = envelope_rewrite(w, len, edit_drop_stanza, &xlen);
	CHECK_EQ(receive(x, xlen, 1, NULL, &out), KETEN_ERECIPIENTS);
	free(x);
	/* re-encoded in another field order, untouched: still valid */
	x = envelope_rewrite(w, len, edit_swap_stanzas, &xlen);
	free(x);
	/* a single signature presented as a batch of one */
	x = envelope_rewrite(w, len, edit_single_as_batch, &xlen);
	CHECK_EQ(receive(x, xlen, 1, NULL, &out), KETEN_ECONTEXT);
	free(x);
	free(w);

	/* a batch-of-one signature presented as a single signature */
	CHECK_EQ(envelope_seal(&m, (const uint8_t *)"hello", 5, NULL, &es[0]), 0);
	CHECK_EQ(envelope_sign_batch(es, 1, sign_sk[0]), 0);
	w = (uint8_t *)envelope_bytes(es[0], &len);
	CHECK_EQ(receive(w, len, 1, NULL, &out), 0);
	buf_destroy(&out);
	x = envelope_rewrite(w, len, edit_batch_as_single, &xlen);
	CHECK_EQ(receive(x, xlen, 1, NULL, &out), KETEN_ECONTEXT);
	free(x);
	envelope_destroy(&es[0]);
	CHECK(out == NULL);
}

static void
test_sender_keys_and_time(void)
{
	struct envelope_meta m;
	struct envelope *e = NULL;
	struct opener *o = NULL;
	struct buf *out = NULL;
	uint8_t *w;
	size_t len;

	meta_init(&m, 1);
	w = wire_make(&m, (const uint8_t *)"t", 1, &len);
	CHECK_EQ(envelope_parse(w, len, &e), 0);
	if (e == NULL)
		goto out;
	CHECK_EQ(envelope_verify(e, NULL, NULL, T0, KETEN_DEFAULT_SKEW_MS), KETEN_ESENDERKEY);
	CHECK_EQ(envelope_verify(e, sign_pk[1], NULL, T0, KETEN_DEFAULT_SKEW_MS), KETEN_EBADSIG);
	CHECK_EQ(envelope_verify(e, sign_pk[0], NULL, T0, KETEN_DEFAULT_SKEW_MS), 0);
	/* expiry: valid until just before expires_at */
	CHECK_EQ(envelope_verify(e, sign_pk[0], NULL, m.expires_at - 1, 0), 0);
	CHECK_EQ(envelope_verify(e, sign_pk[0], NULL, m.expires_at, 0), KETEN_EEXPIRED);
	/* from the future: created_at may lead now by at most the skew */
	CHECK_EQ(envelope_verify(e, sign_pk[0], NULL, T0 - 1000, 1000), 0);
	CHECK_EQ(envelope_verify(e, sign_pk[0], NULL, T0 - 1001, 1000), KETEN_EFUTURE);
	/* the signature first: an expired or early envelope under another
	 * key is not the sender's, and nothing may be answered for it */
	CHECK_EQ(envelope_verify(e, sign_pk[1], NULL, m.expires_at, 0), KETEN_EBADSIG);
	CHECK_EQ(envelope_verify(e, sign_pk[1], NULL, T0 - 1001, 1000), KETEN_EBADSIG);
	/* right OIN, wrong secret key: the key stanza does not open */
	CHECK_EQ(opener_new(oins[1], seal_sk[2], &o), 0);
	CHECK_EQ(envelope_open(e, o, &out), KETEN_EDECRYPT);
	CHECK(out == NULL);
	opener_destroy(&o);
	CHECK(o == NULL);
	envelope_destroy(&e);
	CHECK(e == NULL);
out:
	free(w);
}

static void
test_batch(void)
{
	enum { N = 64 };
	struct envelope_meta m;
	struct envelope *es[N] = { NULL };
	struct sealer *s = NULL;
	struct sigcache *sc = NULL;
	uint8_t *copy[N];
	size_t len[N];

	meta_init(&m, 1);
	CHECK_EQ(sealer_new(N, 60000, &s), 0);
	CHECK_EQ(sigcache_new(&sc), 0);
	for (int i = 0; i < N; i++) {
		uint8_t pl[40];

		memset(pl, i, sizeof(pl));
		CHECK_EQ(envelope_seal(&m, pl, sizeof(pl), s, &es[i]), 0);
	}
	CHECK_EQ(envelope_sign_batch(es, N, sign_sk[0]), 0);
	CHECK_EQ(envelope_sign(es[0], sign_sk[0]), KETEN_EINVAL);	/* already signed */
	for (int i = 0; i < N; i++) {
		const uint8_t *w = envelope_bytes(es[i], &len[i]);

		copy[i] = malloc(len[i]);
		memcpy(copy[i], w, len[i]);
	}
	for (int pass = 0; pass < 2; pass++)	/* without, then with the cache */
		for (int i = 0; i < N; i++) {
			struct buf *out = NULL;
			uint8_t pl[40];

			memset(pl, i, sizeof(pl));
			CHECK_EQ(receive(copy[i], len[i], 1, pass ? sc : NULL, &out), 0);
			CHECK(out != NULL && buf_len(out) == 40 && memcmp(buf_ptr(out), pl, 40) == 0);
			buf_destroy(&out);
		}
	/* the cache holds the batch now; a tampered member still fails */
	for (int i = 0; i < N; i += 7) {
		struct buf *out = NULL;

		copy[i][len[i] / 2] ^= 0x20;
		CHECK(receive(copy[i], len[i], 1, sc, &out) != 0);
		copy[i][len[i] / 2] ^= 0x20;
		/* a member's path moved to another index */
	}
	{
		struct envelope *e = NULL;

		CHECK_EQ(envelope_parse(copy[3], len[3], &e), 0);
		CHECK_EQ(envelope_batch_size(e), N);
		envelope_destroy(&e);
	}
	for (int i = 0; i < N; i++) {
		envelope_destroy(&es[i]);
		free(copy[i]);
	}
	CHECK_EQ(envelope_sign_batch(es, 0, sign_sk[0]), KETEN_EINVAL);
	sealer_destroy(&s);
	sigcache_destroy(&sc);
	CHECK(s == NULL && sc == NULL);
}

static void
test_names(void)
{
	for (int k = 1; k <= 7; k++)
		CHECK_EQ(kind_from_name(kind_name(k)), k);
	CHECK(kind_name(0) == NULL && kind_name(8) == NULL);
	CHECK_EQ(kind_from_name("NOPE"), -1);
	CHECK(strcmp(keten_errname(KETEN_EBADSIG), "KETEN_EBADSIG") == 0);
	CHECK(strcmp(keten_strerror(12345), "unknown error") == 0);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "take the wire bytes of a sealed envelope without a copy", test_take_wire },
		{ "envelope_roundtrip_sizes", test_roundtrip_sizes },
		{ "envelope_header_fields_and_recipients", test_header_fields },
		{ "envelope_meta_rejected", test_meta_rejected },
		{ "envelope_flip_every_bit", test_flip_every_bit },
		{ "envelope_truncate_and_append", test_truncate_and_append },
		{ "envelope_recipients_and_contexts", test_recipients_and_contexts },
		{ "envelope_sender_keys_and_time", test_sender_keys_and_time },
		{ "envelope_batch_of_64", test_batch },
		{ "envelope_names", test_names },
		{ NULL, NULL },
	};

	keys_setup();
	return tap_run(tests);
}
