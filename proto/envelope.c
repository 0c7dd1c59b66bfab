/*
 * envelope.c — seal, sign, parse, verify and open case messages (see
 * envelope.h; the byte layout is specified in docs/PROTOCOL.md).
 *
 * The outer Envelope message is read and written here directly in protobuf
 * wire format rather than through protobuf-c, so that the ciphertext, which
 * may be tens of MiB, is never copied: a sealed envelope is encrypted
 * straight into its wire buffer and a parsed one is decrypted straight from
 * the received bytes.  The small inner messages (Header, KeyStanza,
 * Signature) go through protobuf-c and are validated field by field.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "buf.h"
#include "envelope.h"
#include "envelope.pb-c.h"
#include "err.h"
#include "merkle.h"
#include "pbwire.h"
#include "util.h"

/* Context strings: every signature and derived key names its role, so that
 * nothing made for one purpose verifies in another.  Each includes its
 * terminating NUL. */
static const char CTX_ENVELOPE[] = "keten/v1/envelope";
static const char CTX_SIG_SINGLE[] = "keten/v1/sig/single";
static const char CTX_SIG_BATCH[] = "keten/v1/sig/batch";
static const char CTX_KEK[] = "keten/v1/kek";
static const char CTX_BODY[] = "keten/v1/body";
static const char CTX_WIRE[] = "keten/v1/wire";

#define SS_HEADER crypto_secretstream_xchacha20poly1305_HEADERBYTES	/* 24 */
#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES		/* 17 */
#define WRAPPED_LEN (32 + crypto_aead_xchacha20poly1305_ietf_ABYTES)	/* 48 */
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES		/* 24 */

/* Outer Envelope field numbers (envelope.proto). */
enum { F_HEADER = 1, F_SIGNATURE = 2, F_STANZA = 3, F_CIPHERTEXT = 4 };

struct envelope {
	/* wire bytes: owned (sealed here) or borrowed (parsed) */
	struct buf *own;
	const uint8_t *wire;
	size_t wire_len;
	int is_signed;
	/* views into the wire bytes */
	size_t hdr_off, hdr_len;
	size_t ct_off, ct_len;
	/* parsed inner messages */
	Keten__V1__Header *h;
	Keten__V1__KeyStanza **stanzas;
	size_t nstanzas;
	Keten__V1__Signature *sig;
	struct envelope_header view;
	uint8_t header_hash[32];
	uint8_t digest[32];
};

struct sealer {
	uint8_t eph_pk[32];
	uint8_t eph_sk[32];
	uint32_t uses, max_uses;
	uint64_t born_ms, max_age_ms;
	int have_key;
	/* per-envelope scratch, here so that sealing does no sodium_malloc */
	uint8_t ckey[32];
	crypto_secretstream_xchacha20poly1305_state ss;
	size_t nkek;
	struct {
		uint8_t rpk[32];
		uint8_t kek[32];
	} kek[KETEN_MAX_RECIPIENTS];
};

#define OPENER_CACHE 64
struct opener {
	char oin[KETEN_OIN_LEN + 1];
	uint8_t sk[32];
	uint8_t pk[32];
	uint8_t ckey[32];	/* per-envelope scratch */
	crypto_secretstream_xchacha20poly1305_state ss;
	uint64_t tick;
	struct {
		uint8_t eph[32];
		uint8_t kek[32];
		uint64_t used;	/* 0: empty */
	} cache[OPENER_CACHE];
};

#define SIGCACHE_SETS 256
#define SIGCACHE_WAYS 2
struct sigcache {
	uint8_t entry[SIGCACHE_SETS][SIGCACHE_WAYS][32];
	uint8_t valid[SIGCACHE_SETS][SIGCACHE_WAYS];
	uint8_t next[SIGCACHE_SETS];
	struct merkle_memo memo[SIGCACHE_MEMOS];	/* batch paths, by kind */
};

/* ------------------------------------------------------------------ */
/* SHA-256 through OpenSSL's EVP (uses the CPU's SHA extensions for the
 * bulk ciphertext hash). */

struct sha256 {
	EVP_MD_CTX *ctx;
};

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/* Fetch the implementation once: an implicit fetch per digest costs more
 * than hashing a small envelope. */
static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int
sha256_init(struct sha256 *s)
{
	pthread_once(&sha256_once, sha256_fetch);
	if (sha256_md == NULL)
		return KETEN_ECRYPTO;
	if ((s->ctx = EVP_MD_CTX_new()) == NULL)
		return KETEN_ENOMEM;
	if (EVP_DigestInit_ex2(s->ctx, sha256_md, NULL) != 1) {
		EVP_MD_CTX_free(s->ctx);
		s->ctx = NULL;
		return KETEN_ECRYPTO;
	}
	return 0;
}

static void
sha256_update(struct sha256 *s, const void *p, size_t n)
{
	/* EVP_DigestUpdate cannot fail for an initialised SHA-256 context. */
	(void)EVP_DigestUpdate(s->ctx, p, n);
}

static void
sha256_update_u32(struct sha256 *s, uint32_t v)
{
	uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

	sha256_update(s, x, 4);
}

static void
sha256_update_u64(struct sha256 *s, uint64_t v)
{
	uint8_t x[8];

	be64_store(x, v);
	sha256_update(s, x, 8);
}

static void
sha256_final(struct sha256 *s, uint8_t out[32])
{
	unsigned int n = 32;

	(void)EVP_DigestFinal_ex(s->ctx, out, &n);
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

static void
sha256_abort(struct sha256 *s)
{
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

/* ------------------------------------------------------------------ */
/* names */

static const char *const kind_names[] = {
	[KETEN__V1__KIND__DOSSIER_DELIVERY] = "DOSSIER_DELIVERY",
	[KETEN__V1__KIND__DTV_NOTIFICATION] = "DTV_NOTIFICATION",
	[KETEN__V1__KIND__ESCALATION_REQUEST] = "ESCALATION_REQUEST",
	[KETEN__V1__KIND__ESCALATION_DECISION] = "ESCALATION_DECISION",
	[KETEN__V1__KIND__CASE_EVENT] = "CASE_EVENT",
	[KETEN__V1__KIND__POLICE_NOTIFICATION] = "POLICE_NOTIFICATION",
	[KETEN__V1__KIND__RECEIPT] = "RECEIPT",
};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *
kind_name(int kind)
{
	if (kind <= 0 || (size_t)kind >= NKINDS)
		return NULL;
	return kind_names[kind];
}

int
kind_from_name(const char *name)
{
	for (size_t i = 1; i < NKINDS; i++)
		if (strcmp(kind_names[i], name) == 0)
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* header validation, shared by sealing and parsing */

/* Printable ASCII of 1..max bytes (or 0..max when may_be_empty). */
static int
field_text_ok(const char *s, size_t max, int may_be_empty)
{
	if (s == NULL)
		return may_be_empty;
	return text_printable(s, max) && (*s != '\0' || may_be_empty);
}

static int
hex_lower_ok(const char *s, size_t n)
{
	int nonzero = 0;

	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
		nonzero |= s[i] != '0';
	}
	return nonzero;
}

/* W3C trace-context traceparent, version 00: 00-<32 hex>-<16 hex>-<2 hex>,
 * trace id and parent id not all zero. */
static int
traceparent_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return 1;
	if (strlen(s) != 55 || strncmp(s, "00-", 3) != 0 || s[35] != '-' || s[52] != '-')
		return 0;
	if (!hex_lower_ok(s + 3, 32) || !hex_lower_ok(s + 36, 16))
		return 0;
	return (hex_lower_ok(s + 53, 2) || strncmp(s + 53, "00", 2) == 0);
}

static int
header_validate(const Keten__V1__Header *h)
{
	if (h->version != KETEN_ENVELOPE_VERSION)
		return KETEN_EVERSION;
	if (h->base.n_unknown_fields != 0)
		return KETEN_EFIELD;
	if (h->msg_id.len != KETEN_MSG_ID_LEN)
		return KETEN_EFIELD;
	if (kind_name(h->kind) == NULL)
		return KETEN_EFIELD;
	if (!oin_valid(h->sender))
		return KETEN_EFIELD;
	if (h->n_recipients == 0 || h->n_recipients > KETEN_MAX_RECIPIENTS)
		return KETEN_ERECIPIENTS;
	for (size_t i = 0; i < h->n_recipients; i++) {
		if (!oin_valid(h->recipients[i]))
			return KETEN_ERECIPIENTS;
		for (size_t j = 0; j < i; j++)
			if (strcmp(h->recipients[i], h->recipients[j]) == 0)
				return KETEN_ERECIPIENTS;
	}
	if (h->n_seqs != 0 && h->n_seqs != h->n_recipients)
		return KETEN_EFIELD;
	/* A receipt travels without case or purpose; every case message has
	 * both. */
	int needs_case = h->kind != KETEN__V1__KIND__RECEIPT;
	if (!field_text_ok(h->case_ref, KETEN_MAX_REF, !needs_case) ||
	    !field_text_ok(h->purpose, KETEN_MAX_PURPOSE, !needs_case) ||
	    !field_text_ok(h->mandate_id, KETEN_MAX_REF, 1) ||
	    !traceparent_ok(h->traceparent))
		return KETEN_EFIELD;
	if (h->created_at == 0 || h->expires_at <= h->created_at)
		return KETEN_EFIELD;
	if (h->payload_size > KETEN_MAX_PAYLOAD)
		return KETEN_ETOOBIG;
	if (h->in_reply_to.len != 0 && h->in_reply_to.len != KETEN_MSG_ID_LEN)
		return KETEN_EFIELD;
	return 0;
}

static void
header_view_fill(struct envelope *e)
{
	const Keten__V1__Header *h = e->h;
	struct envelope_header *v = &e->view;

	v->version = h->version;
	memcpy(v->msg_id, h->msg_id.data, KETEN_MSG_ID_LEN);
	v->kind = h->kind;
	v->sender = h->sender;
	v->nrecipients = h->n_recipients;
	v->recipients = h->recipients;
	v->seqs = h->n_seqs ? h->seqs : NULL;
	v->case_ref = h->case_ref;
	v->purpose = h->purpose;
	v->mandate_id = h->mandate_id;
	v->traceparent = h->traceparent;
	v->created_at = h->created_at;
	v->expires_at = h->expires_at;
	v->payload_size = h->payload_size;
	v->has_reply = h->in_reply_to.len == KETEN_MSG_ID_LEN;
	if (v->has_reply)
		memcpy(v->in_reply_to, h->in_reply_to.data, KETEN_MSG_ID_LEN);
}

/* Unpack and validate header bytes.  The bytes must be the canonical
 * encoding of what they decode to (PROTOCOL.md §Header): otherwise two
 * implementations could read different values from the same signed bytes. */
static int
header_unpack(const uint8_t *p, size_t len, Keten__V1__Header **out)
{
	Keten__V1__Header *h;
	uint8_t *again = NULL;
	int r;

	*out = NULL;
	if (len == 0 || len > KETEN_MAX_HEADER)
		return len ? KETEN_ETOOBIG : KETEN_EFIELD;
	if ((h = keten__v1__header__unpack(NULL, len, p)) == NULL)
		return KETEN_EPARSE;
	if ((r = header_validate(h)) != 0)
		goto out;
	if (keten__v1__header__get_packed_size(h) != len) {
		r = KETEN_EPARSE;
		goto out;
	}
	if ((again = malloc(len)) == NULL) {
		r = KETEN_ENOMEM;
		goto out;
	}
	keten__v1__header__pack(h, again);
	if (memcmp(again, p, len) != 0) {
		r = KETEN_EPARSE;
		goto out;
	}
	*out = h;
	h = NULL;
out:
	free(again);
	if (h != NULL)
		keten__v1__header__free_unpacked(h, NULL);
	return r;
}

/* ------------------------------------------------------------------ */
/* sizes and digests */

static size_t
chunk_count(uint64_t payload_size)
{
	return payload_size == 0 ? 1 : (size_t)((payload_size + KETEN_CHUNK_SIZE - 1) / KETEN_CHUNK_SIZE);
}

static uint64_t
ciphertext_len(uint64_t payload_size)
{
	return SS_HEADER + payload_size + (uint64_t)chunk_count(payload_size) * SS_ABYTES;
}

/* digest = SHA-256(CTX_ENVELOPE || header_hash || body_hash) */
static void
digest_make(const uint8_t header_hash[32], const uint8_t body_hash[32], uint8_t out[32])
{
	const void *p[3] = { CTX_ENVELOPE, header_hash, body_hash };
	const size_t len[3] = { sizeof(CTX_ENVELOPE), 32, 32 };

	merkle_sha256_parts(p, len, 3, out);
}

/* wire_hash = SHA-256(CTX_WIRE || digest || u64(ct_off) || u64(ct_len)
 *                     || the wire bytes before the ciphertext
 *                     || the wire bytes after it)
 * Every byte of the wire is in it: the ciphertext through the digest,
 * which covers it already, so that it is not hashed a second time. */
void
envelope_wire_hash(const struct envelope *e, uint8_t out[32])
{
	uint8_t at[16];
	const size_t end = e->ct_off + e->ct_len;

	assert(e->is_signed && e->wire != NULL && end <= e->wire_len);
	be64_store(at, e->ct_off);
	be64_store(at + 8, e->ct_len);
	const void *p[5] = { CTX_WIRE, e->digest, at, e->wire, e->wire + end };
	const size_t len[5] = { sizeof(CTX_WIRE), 32, sizeof(at), e->ct_off, e->wire_len - end };

	merkle_sha256_parts(p, len, 5, out);
}

/* The message an Ed25519 signature covers: single or batch. */
static size_t
sigmsg_single(const uint8_t digest[32], uint8_t *m)
{
	memcpy(m, CTX_SIG_SINGLE, sizeof(CTX_SIG_SINGLE));
	memcpy(m + sizeof(CTX_SIG_SINGLE), digest, 32);
	return sizeof(CTX_SIG_SINGLE) + 32;
}

static size_t
sigmsg_batch(uint32_t size, const uint8_t root[32], uint8_t *m)
{
	size_t n = sizeof(CTX_SIG_BATCH);

	memcpy(m, CTX_SIG_BATCH, n);
	m[n++] = (uint8_t)(size >> 24);
	m[n++] = (uint8_t)(size >> 16);
	m[n++] = (uint8_t)(size >> 8);
	m[n++] = (uint8_t)size;
	memcpy(m + n, root, 32);
	return n + 32;
}

#define SIGMSG_MAX 64

/* kek = SHA-256(CTX_KEK || X25519(a, B) || ephemeral_pk || recipient_pk) */
static int
kek_derive(const uint8_t sk[32], const uint8_t peer[32], const uint8_t eph_pk[32],
    const uint8_t rcpt_pk[32], uint8_t kek[32])
{
	uint8_t shared[32];
	crypto_hash_sha256_state s;

	/* crypto_scalarmult fails for low-order points (all-zero result). */
	if (crypto_scalarmult(shared, sk, peer) != 0)
		return KETEN_EDECRYPT;
	crypto_hash_sha256_init(&s);
	crypto_hash_sha256_update(&s, (const uint8_t *)CTX_KEK, sizeof(CTX_KEK));
	crypto_hash_sha256_update(&s, shared, 32);
	crypto_hash_sha256_update(&s, eph_pk, 32);
	crypto_hash_sha256_update(&s, rcpt_pk, 32);
	crypto_hash_sha256_final(&s, kek);
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(&s, sizeof(s));
	return 0;
}

/* Stanza AD: header_hash || recipient OIN, binding a wrapped key to one
 * envelope and one recipient. */
static void
stanza_ad(const uint8_t header_hash[32], const char *oin, uint8_t ad[32 + KETEN_OIN_LEN])
{
	memcpy(ad, header_hash, 32);
	memcpy(ad + 32, oin, KETEN_OIN_LEN);
}

/* ------------------------------------------------------------------ */
/* caches */

int
sealer_new(uint32_t max_uses, uint64_t max_age_ms, struct sealer **out)
{
	struct sealer *s;

	*out = NULL;
	if (sodium_init() < 0)
		return KETEN_ECRYPTO;
	if ((s = sodium_malloc(sizeof(*s))) == NULL)
		return KETEN_ENOMEM;
	memset(s, 0, sizeof(*s));
	s->max_uses = max_uses ? max_uses : 1;
	s->max_age_ms = max_age_ms;
	*out = s;
	return 0;
}

void
sealer_rotate(struct sealer *s)
{
	sodium_memzero(s->eph_sk, sizeof(s->eph_sk));
	sodium_memzero(s->kek, sizeof(s->kek));
	s->have_key = 0;
	s->nkek = 0;
	s->uses = 0;
}

void
sealer_destroy(struct sealer **sp)
{
	if (sp == NULL || *sp == NULL)
		return;
	sodium_free(*sp);	/* wipes */
	*sp = NULL;
}

/* The sealer's current ephemeral key, made anew when used up or old. */
static void
sealer_fresh(struct sealer *s)
{
	uint64_t now = clock_now_ms();

	if (s->have_key && s->uses < s->max_uses &&
	    (s->max_age_ms == 0 || now - s->born_ms < s->max_age_ms))
		return;
	sealer_rotate(s);
	crypto_box_keypair(s->eph_pk, s->eph_sk);
	s->born_ms = now;
	s->have_key = 1;
}

static int
sealer_kek(struct sealer *s, const uint8_t rpk[32], uint8_t kek[32])
{
	int r;

	for (size_t i = 0; i < s->nkek; i++)
		if (memcmp(s->kek[i].rpk, rpk, 32) == 0) {
			memcpy(kek, s->kek[i].kek, 32);
			return 0;
		}
	if ((r = kek_derive(s->eph_sk, rpk, s->eph_pk, rpk, kek)) != 0)
		return KETEN_ERECIPIENTS;	/* a recipient key of low order */
	if (s->nkek < KETEN_MAX_RECIPIENTS) {
		memcpy(s->kek[s->nkek].rpk, rpk, 32);
		memcpy(s->kek[s->nkek].kek, kek, 32);
		s->nkek++;
	}
	return 0;
}

int
opener_new(const char *oin, const uint8_t seal_sk[32], struct opener **out)
{
	struct opener *o;

	*out = NULL;
	if (!oin_valid(oin))
		return KETEN_EINVAL;
	if (sodium_init() < 0)
		return KETEN_ECRYPTO;
	if ((o = sodium_malloc(sizeof(*o))) == NULL)
		return KETEN_ENOMEM;
	memset(o, 0, sizeof(*o));
	memcpy(o->oin, oin, KETEN_OIN_LEN + 1);
	memcpy(o->sk, seal_sk, 32);
	crypto_scalarmult_base(o->pk, o->sk);
	*out = o;
	return 0;
}

void
opener_destroy(struct opener **op)
{
	if (op == NULL || *op == NULL)
		return;
	sodium_free(*op);
	*op = NULL;
}

static int
opener_kek(struct opener *o, const uint8_t eph[32], uint8_t kek[32])
{
	size_t victim = 0;
	int r;

	for (size_t i = 0; i < OPENER_CACHE; i++) {
		if (o->cache[i].used && memcmp(o->cache[i].eph, eph, 32) == 0) {
			o->cache[i].used = ++o->tick;
			memcpy(kek, o->cache[i].kek, 32);
			return 0;
		}
		if (o->cache[i].used < o->cache[victim].used)
			victim = i;
	}
	if ((r = kek_derive(o->sk, eph, eph, o->pk, kek)) != 0)
		return r;
	memcpy(o->cache[victim].eph, eph, 32);
	memcpy(o->cache[victim].kek, kek, 32);
	o->cache[victim].used = ++o->tick;
	return 0;
}

int
sigcache_new(struct sigcache **out)
{
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return KETEN_ENOMEM;
	return 0;
}

struct merkle_memo *
sigcache_memo(struct sigcache *c, int which)
{
	return c != NULL && which >= 0 && which < SIGCACHE_MEMOS ? &c->memo[which] : NULL;
}

void
sigcache_destroy(struct sigcache **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	free(*cp);
	*cp = NULL;
}

/* Cache key: SHA-256(pk || signed message || signature).  An entry exists
 * only after crypto_sign_verify_detached accepted exactly these bytes. */
static void
sigcache_key(const uint8_t *pk, const uint8_t *m, size_t mlen, const uint8_t *sig, uint8_t key[32])
{
	const void *p[3] = { pk, m, sig };
	const size_t len[3] = { 32, mlen, 64 };

	merkle_sha256_parts(p, len, 3, key);
}

static int
sigcache_has(const struct sigcache *c, const uint8_t key[32])
{
	unsigned set = key[0];

	for (int w = 0; w < SIGCACHE_WAYS; w++)
		if (c->valid[set][w] && sodium_memcmp(c->entry[set][w], key, 32) == 0)
			return 1;
	return 0;
}

static void
sigcache_add(struct sigcache *c, const uint8_t key[32])
{
	unsigned set = key[0], w = c->next[set];

	memcpy(c->entry[set][w], key, 32);
	c->valid[set][w] = 1;
	c->next[set] = (uint8_t)((w + 1) % SIGCACHE_WAYS);
}

int
sigcache_verify(struct sigcache *c, const uint8_t pk[32], const uint8_t *m, size_t mlen,
    const uint8_t sig[64])
{
	uint8_t key[32];

	if (c != NULL) {
		sigcache_key(pk, m, mlen, sig, key);
		if (sigcache_has(c, key))
			return 0;
	}
	if (crypto_sign_verify_detached(sig, m, mlen, pk) != 0)
		return KETEN_EBADSIG;
	if (c != NULL)
		sigcache_add(c, key);
	return 0;
}

/* ------------------------------------------------------------------ */
/* sealing */

static int
meta_to_header(const struct envelope_meta *m, uint64_t payload_size,
    Keten__V1__Header *h, uint8_t msg_id[KETEN_MSG_ID_LEN])
{
	keten__v1__header__init(h);
	h->version = KETEN_ENVELOPE_VERSION;
	h->msg_id.data = msg_id;
	h->msg_id.len = KETEN_MSG_ID_LEN;
	h->kind = m->kind;
	h->sender = (char *)m->sender;
	h->n_recipients = m->nrecipients;
	h->recipients = (char **)m->recipients;
	if (m->seqs != NULL) {
		h->n_seqs = m->nrecipients;
		h->seqs = (uint64_t *)m->seqs;
	}
	h->case_ref = (char *)(m->case_ref ? m->case_ref : "");
	h->purpose = (char *)(m->purpose ? m->purpose : "");
	h->mandate_id = (char *)(m->mandate_id ? m->mandate_id : "");
	h->traceparent = (char *)(m->traceparent ? m->traceparent : "");
	h->created_at = m->created_at;
	h->expires_at = m->expires_at;
	h->payload_size = payload_size;
	if (m->in_reply_to != NULL) {
		h->in_reply_to.data = (uint8_t *)m->in_reply_to;
		h->in_reply_to.len = KETEN_MSG_ID_LEN;
	}
	if (m->sender == NULL || m->recipients == NULL || m->recipient_keys == NULL)
		return KETEN_EFIELD;
	return header_validate(h);
}

/* Wrap the content key for one recipient; the packed KeyStanza goes to
 * packed (room for STANZA_MAX bytes), its length to *plen. */
#define STANZA_MAX 256
static int
stanza_make(struct sealer *s, const char *oin, const uint8_t rpk[32],
    const uint8_t header_hash[32], const uint8_t *ckey, uint8_t *packed, size_t *plen)
{
	Keten__V1__KeyStanza st;
	uint8_t kek[32], nonce[NONCE_LEN], wrapped[WRAPPED_LEN], ad[32 + KETEN_OIN_LEN];
	int r;

	if ((r = sealer_kek(s, rpk, kek)) != 0)
		return r;
	randombytes_buf(nonce, sizeof(nonce));
	stanza_ad(header_hash, oin, ad);
	crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped, NULL, ckey, 32,
	    ad, sizeof(ad), NULL, nonce, kek);
	sodium_memzero(kek, sizeof(kek));
	keten__v1__key_stanza__init(&st);
	st.recipient = (char *)oin;
	st.ephemeral.data = s->eph_pk;
	st.ephemeral.len = 32;
	st.nonce.data = nonce;
	st.nonce.len = sizeof(nonce);
	st.wrapped_key.data = wrapped;
	st.wrapped_key.len = sizeof(wrapped);
	*plen = keten__v1__key_stanza__get_packed_size(&st);
	if (*plen > STANZA_MAX)
		return KETEN_EFIELD;
	keten__v1__key_stanza__pack(&st, packed);
	return 0;
}

/* A new msg_id: the creation time in ms (48 bits, big-endian), then 80
 * random bits.  Ids in time order are appended to the stores' msg_id
 * indexes at both ends, where random ones land on a random page each
 * (and make every commit write that page). */
static void
msg_id_new(uint64_t created_at, uint8_t msg_id[KETEN_MSG_ID_LEN])
{
	for (int i = 0; i < 6; i++)
		msg_id[i] = (uint8_t)(created_at >> (8 * (5 - i)));
	randombytes_buf(msg_id + 6, KETEN_MSG_ID_LEN - 6);
}

int
envelope_seal(const struct envelope_meta *m, const uint8_t *payload, size_t len,
    struct sealer *sealer, struct envelope **out)
{
	Keten__V1__Header h;
	struct envelope *e = NULL;
	struct sealer one;	/* for an envelope sealed on its own */
	crypto_secretstream_xchacha20poly1305_state *ss;
	struct sha256 body = { NULL };
	uint8_t msg_id[KETEN_MSG_ID_LEN], *hbytes = NULL, *ckey, *ct;
	uint8_t body_hash[32];
	size_t hlen, ctlen, total, off;
	int r;

	*out = NULL;
	if (sodium_init() < 0)
		return KETEN_ECRYPTO;
	if (len > KETEN_MAX_PAYLOAD)
		return KETEN_ETOOBIG;
	if (sealer == NULL) {
		/* A one-off ephemeral key on the stack, wiped below: cheaper
		 * than sodium_malloc, which maps and locks pages per call. */
		memset(&one, 0, sizeof(one));
		one.max_uses = 1;
		sealer = &one;
	}
	ckey = sealer->ckey;
	ss = &sealer->ss;
	memcpy(msg_id, m->msg_id, sizeof(msg_id));
	if (sodium_is_zero(msg_id, sizeof(msg_id)))
		msg_id_new(m->created_at, msg_id);
	if ((r = meta_to_header(m, len, &h, msg_id)) != 0)
		return r;
	hlen = keten__v1__header__get_packed_size(&h);
	if (hlen > KETEN_MAX_HEADER)
		return KETEN_ETOOBIG;
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (hbytes = malloc(hlen)) == NULL) {
		r = KETEN_ENOMEM;
		goto out;
	}
	keten__v1__header__pack(&h, hbytes);

	/* Size the wire buffer exactly, signature included, so that the
	 * ciphertext is written once and never moved. */
	ctlen = (size_t)ciphertext_len(len);
	total = pb_field_len(F_HEADER, hlen) + pb_field_len(F_CIPHERTEXT, ctlen) +
	    m->nrecipients * pb_field_len(F_STANZA, STANZA_MAX) +
	    pb_field_len(F_SIGNATURE, 64 + 16 + MERKLE_MAX_PATH * 34);
	if ((e->own = buf_new(total)) == NULL) {
		r = KETEN_ENOMEM;
		goto out;
	}
	if ((r = buf_ensure(e->own, total)) != 0)
		goto out;
	if ((r = pb_put_field_head(e->own, F_HEADER, hlen)) != 0)
		goto out;
	e->hdr_off = buf_len(e->own);
	e->hdr_len = hlen;
	if ((r = buf_put(e->own, hbytes, hlen)) != 0)
		goto out;
	merkle_sha256(hbytes, hlen, e->header_hash);

	sealer_fresh(sealer);
	sealer->uses++;
	crypto_secretstream_xchacha20poly1305_keygen(ckey);

	if ((r = sha256_init(&body)) != 0)
		goto out;
	sha256_update(&body, CTX_BODY, sizeof(CTX_BODY));
	sha256_update_u32(&body, (uint32_t)m->nrecipients);
	for (size_t i = 0; i < m->nrecipients; i++) {
		uint8_t packed[STANZA_MAX];
		size_t plen;

		if ((r = stanza_make(sealer, m->recipients[i], m->recipient_keys[i],
		    e->header_hash, ckey, packed, &plen)) != 0 ||
		    (r = pb_put_field_head(e->own, F_STANZA, plen)) != 0 ||
		    (r = buf_put(e->own, packed, plen)) != 0)
			goto out;
		/* the body hash covers the stanza bytes exactly as written */
		sha256_update_u32(&body, (uint32_t)plen);
		sha256_update(&body, packed, plen);
	}

	if ((r = pb_put_field_head(e->own, F_CIPHERTEXT, ctlen)) != 0)
		goto out;
	e->ct_off = buf_len(e->own);
	e->ct_len = ctlen;
	if ((r = buf_reserve(e->own, ctlen, &ct)) != 0)
		goto out;
	crypto_secretstream_xchacha20poly1305_init_push(ss, ct, ckey);
	sha256_update_u64(&body, ctlen);
	sha256_update(&body, ct, SS_HEADER);
	off = SS_HEADER;
	for (size_t c = 0, nc = chunk_count(len); c < nc; c++) {
		size_t plen = len - c * (size_t)KETEN_CHUNK_SIZE;
		uint8_t tag = c + 1 == nc ? crypto_secretstream_xchacha20poly1305_TAG_FINAL :
		    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;

		if (plen > KETEN_CHUNK_SIZE)
			plen = KETEN_CHUNK_SIZE;
		crypto_secretstream_xchacha20poly1305_push(ss, ct + off, NULL,
		    payload + c * (size_t)KETEN_CHUNK_SIZE, plen,
		    e->header_hash, 32, tag);
		/* hash the chunk while it is still in cache */
		sha256_update(&body, ct + off, plen + SS_ABYTES);
		off += plen + SS_ABYTES;
	}
	sha256_final(&body, body_hash);
	digest_make(e->header_hash, body_hash, e->digest);

	/* Kept unpacked with the envelope.  These bytes protobuf-c packed
	 * from a header meta_to_header validated: canonical, so not checked
	 * again as received bytes are (header_unpack; that was 2% of a
	 * submit).  Unpacking them fails only for want of memory. */
	if ((e->h = keten__v1__header__unpack(NULL, hlen, hbytes)) == NULL) {
		r = KETEN_ENOMEM;
		goto out;
	}
	header_view_fill(e);
	e->wire = buf_ptr(e->own);
	e->wire_len = buf_len(e->own);
	*out = e;
	e = NULL;
	r = 0;
out:
	sha256_abort(&body);
	sodium_memzero(sealer->ckey, sizeof(sealer->ckey));
	sodium_memzero(&sealer->ss, sizeof(sealer->ss));
	if (sealer == &one)
		sodium_memzero(&one, sizeof(one));
	free(hbytes);
	envelope_destroy(&e);
	return r;
}

static int
signature_append(struct envelope *e, const uint8_t sig[64], uint32_t batch_size,
    uint32_t batch_index, uint8_t (*path)[32], size_t plen)
{
	Keten__V1__Signature s;
	ProtobufCBinaryData pb_path[MERKLE_MAX_PATH];
	uint8_t packed[64 + 16 + MERKLE_MAX_PATH * 34];
	size_t n;
	int r;

	keten__v1__signature__init(&s);
	s.value.data = (uint8_t *)sig;
	s.value.len = 64;
	s.batch_size = batch_size;
	s.batch_index = batch_index;
	for (size_t i = 0; i < plen; i++) {
		pb_path[i].data = path[i];
		pb_path[i].len = 32;
	}
	s.n_path = plen;
	s.path = pb_path;
	n = keten__v1__signature__get_packed_size(&s);
	keten__v1__signature__pack(&s, packed);
	if ((r = pb_put_field_head(e->own, F_SIGNATURE, n)) != 0 ||
	    (r = buf_put(e->own, packed, n)) != 0)
		return r;
	e->wire = buf_ptr(e->own);
	e->wire_len = buf_len(e->own);
	e->is_signed = 1;
	return 0;
}

int
envelope_sign(struct envelope *e, const uint8_t *sign_sk)
{
	uint8_t m[SIGMSG_MAX], sig[64];
	size_t mlen;

	if (e->own == NULL || e->is_signed)
		return KETEN_EINVAL;
	mlen = sigmsg_single(e->digest, m);
	crypto_sign_detached(sig, NULL, m, mlen, sign_sk);
	return signature_append(e, sig, 0, 0, NULL, 0);
}

int
envelope_sign_batch(struct envelope **es, size_t n, const uint8_t *sign_sk)
{
	uint8_t (*leaves)[32] = NULL, (*pathmem)[32] = NULL, (**paths)[32] = NULL;
	uint8_t root[32], m[SIGMSG_MAX], sig[64];
	size_t total = 0, mlen;
	int r = KETEN_ENOMEM;

	if (n == 0 || n > KETEN_MAX_BATCH)
		return KETEN_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (es[i]->own == NULL || es[i]->is_signed)
			return KETEN_EINVAL;
	for (size_t i = 0; i < n; i++)
		total += merkle_path_len(i, n);
	if ((leaves = malloc(n * 32)) == NULL ||
	    (paths = calloc(n, sizeof(*paths))) == NULL ||
	    (pathmem = malloc((total ? total : 1) * 32)) == NULL)
		goto out;
	for (size_t i = 0, at = 0; i < n; i++) {
		merkle_leaf_hash(es[i]->digest, 32, leaves[i]);
		paths[i] = pathmem + at;
		at += merkle_path_len(i, n);
	}
	if ((r = merkle_tree((const uint8_t (*)[32])leaves, n, root, paths)) != 0)
		goto out;
	mlen = sigmsg_batch((uint32_t)n, root, m);
	crypto_sign_detached(sig, NULL, m, mlen, sign_sk);
	for (size_t i = 0; i < n; i++)
		if ((r = signature_append(es[i], sig, (uint32_t)n, (uint32_t)i,
		    paths[i], merkle_path_len(i, n))) != 0)
			goto out;
	r = 0;
out:
	free(leaves);
	free(paths);
	free(pathmem);
	return r;
}

/* ------------------------------------------------------------------ */
/* parsing */

static int
stanzas_add(struct envelope *e, const uint8_t *p, size_t len)
{
	Keten__V1__KeyStanza *st, **grown;

	if (e->nstanzas >= KETEN_MAX_RECIPIENTS)
		return KETEN_ERECIPIENTS;
	if ((st = keten__v1__key_stanza__unpack(NULL, len, p)) == NULL)
		return KETEN_EPARSE;
	if (st->base.n_unknown_fields || st->ephemeral.len != 32 ||
	    st->nonce.len != NONCE_LEN || st->wrapped_key.len != WRAPPED_LEN ||
	    !oin_valid(st->recipient)) {
		keten__v1__key_stanza__free_unpacked(st, NULL);
		return KETEN_EFIELD;
	}
	if ((grown = realloc(e->stanzas, (e->nstanzas + 1) * sizeof(*grown))) == NULL) {
		keten__v1__key_stanza__free_unpacked(st, NULL);
		return KETEN_ENOMEM;
	}
	e->stanzas = grown;
	e->stanzas[e->nstanzas++] = st;
	return 0;
}

static int
signature_check_shape(const Keten__V1__Signature *s)
{
	if (s->base.n_unknown_fields || s->value.len != 64)
		return KETEN_EFIELD;
	if (s->batch_size == 0)
		return s->batch_index == 0 && s->n_path == 0 ? 0 : KETEN_EBATCHPROOF;
	if (s->batch_size > KETEN_MAX_BATCH || s->batch_index >= s->batch_size ||
	    s->n_path != merkle_path_len(s->batch_index, s->batch_size))
		return KETEN_EBATCHPROOF;
	for (size_t i = 0; i < s->n_path; i++)
		if (s->path[i].len != 32)
			return KETEN_EBATCHPROOF;
	return 0;
}

/* body_hash over the stanza bytes and the ciphertext as received. */
static int
body_hash_make(const struct envelope *e, const uint8_t *const *sp, const size_t *sl,
    uint8_t out[32])
{
	struct sha256 s;
	int r;

	if ((r = sha256_init(&s)) != 0)
		return r;
	sha256_update(&s, CTX_BODY, sizeof(CTX_BODY));
	sha256_update_u32(&s, (uint32_t)e->nstanzas);
	for (size_t i = 0; i < e->nstanzas; i++) {
		sha256_update_u32(&s, (uint32_t)sl[i]);
		sha256_update(&s, sp[i], sl[i]);
	}
	sha256_update_u64(&s, e->ct_len);
	sha256_update(&s, e->wire + e->ct_off, e->ct_len);
	sha256_final(&s, out);
	return 0;
}

int
envelope_parse(const uint8_t *data, size_t len, struct envelope **out)
{
	struct envelope *e;
	const uint8_t *sp[KETEN_MAX_RECIPIENTS];
	size_t sl[KETEN_MAX_RECIPIENTS];
	size_t pos = 0, sig_off = 0, sig_len = 0;
	int have_hdr = 0, have_sig = 0, have_ct = 0, r;
	uint8_t body_hash[32];

	*out = NULL;
	if (len > KETEN_MAX_ENVELOPE)
		return KETEN_ETOOBIG;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return KETEN_ENOMEM;
	e->wire = data;
	e->wire_len = len;
	while (pos < len) {
		uint64_t tag, flen;

		if ((r = pb_get_varint(data, len, &pos, &tag)) != 0 ||
		    (r = pb_get_varint(data, len, &pos, &flen)) != 0)
			goto out;
		/* every field of Envelope is length-delimited (wire type 2) */
		if ((tag & 7) != 2 || flen > len - pos) {
			r = KETEN_EPARSE;
			goto out;
		}
		switch (tag >> 3) {
		case F_HEADER:
			if (have_hdr++) {
				r = KETEN_EPARSE;
				goto out;
			}
			e->hdr_off = pos;
			e->hdr_len = (size_t)flen;
			break;
		case F_SIGNATURE:
			if (have_sig++) {
				r = KETEN_EPARSE;
				goto out;
			}
			sig_off = pos;
			sig_len = (size_t)flen;
			break;
		case F_STANZA:
			if ((r = stanzas_add(e, data + pos, (size_t)flen)) != 0)
				goto out;
			sp[e->nstanzas - 1] = data + pos;
			sl[e->nstanzas - 1] = (size_t)flen;
			break;
		case F_CIPHERTEXT:
			if (have_ct++) {
				r = KETEN_EPARSE;
				goto out;
			}
			e->ct_off = pos;
			e->ct_len = (size_t)flen;
			break;
		default:
			r = KETEN_EPARSE;	/* no unknown fields in version 1 */
			goto out;
		}
		pos += (size_t)flen;
	}
	if (!have_hdr || !have_sig || !have_ct) {
		r = KETEN_EFIELD;
		goto out;
	}
	if ((r = header_unpack(data + e->hdr_off, e->hdr_len, &e->h)) != 0)
		goto out;
	header_view_fill(e);
	/* one stanza per recipient, in recipient order */
	if (e->nstanzas != e->h->n_recipients) {
		r = KETEN_ERECIPIENTS;
		goto out;
	}
	for (size_t i = 0; i < e->nstanzas; i++)
		if (strcmp(e->stanzas[i]->recipient, e->h->recipients[i]) != 0) {
			r = KETEN_ERECIPIENTS;
			goto out;
		}
	if (e->ct_len != ciphertext_len(e->h->payload_size)) {
		r = KETEN_ETRUNCATED;
		goto out;
	}
	if ((e->sig = keten__v1__signature__unpack(NULL, sig_len, data + sig_off)) == NULL) {
		r = KETEN_EPARSE;
		goto out;
	}
	if ((r = signature_check_shape(e->sig)) != 0)
		goto out;
	e->is_signed = 1;
	merkle_sha256(data + e->hdr_off, e->hdr_len, e->header_hash);
	if ((r = body_hash_make(e, sp, sl, body_hash)) != 0)
		goto out;
	digest_make(e->header_hash, body_hash, e->digest);
	*out = e;
	e = NULL;
	r = 0;
out:
	envelope_destroy(&e);
	return r;
}

/* ------------------------------------------------------------------ */
/* verification and opening */

/* A signature that failed for its claimed role: does it verify in another
 * of our roles?  Then it was replayed from that context. */
static int
signature_other_context(const struct envelope *e, const uint8_t *pk)
{
	uint8_t m[SIGMSG_MAX];
	size_t mlen;

	if (e->sig->batch_size == 0) {
		/* a batch-of-one signature presented as single */
		uint8_t leaf[32];

		merkle_leaf_hash(e->digest, 32, leaf);
		mlen = sigmsg_batch(1, leaf, m);
	} else
		mlen = sigmsg_single(e->digest, m);
	return crypto_sign_verify_detached(e->sig->value.data, m, mlen, pk) == 0;
}

int
envelope_verify(const struct envelope *e, const uint8_t *sender_pk,
    struct sigcache *cache, uint64_t now_ms, uint64_t skew_ms)
{
	uint8_t m[SIGMSG_MAX];
	size_t mlen;
	int r;

	if (!e->is_signed || e->sig == NULL)
		return KETEN_EINVAL;
	if (sender_pk == NULL)
		return KETEN_ESENDERKEY;
	if (e->sig->batch_size == 0)
		mlen = sigmsg_single(e->digest, m);
	else {
		uint8_t leaf[32], root[32];
		const uint8_t (*path)[32] = NULL;
		uint8_t pathbuf[MERKLE_MAX_PATH][32];

		for (size_t i = 0; i < e->sig->n_path; i++)
			memcpy(pathbuf[i], e->sig->path[i].data, 32);
		path = (const uint8_t (*)[32])pathbuf;
		merkle_leaf_hash(e->digest, 32, leaf);
		if ((r = merkle_root_from_path_memo(leaf, e->sig->batch_index,
		    e->sig->batch_size, path, e->sig->n_path, root,
		    sigcache_memo(cache, SIGCACHE_MEMO_ENVELOPE))) != 0)
			return r;
		mlen = sigmsg_batch(e->sig->batch_size, root, m);
	}
	if (sigcache_verify(cache, sender_pk, m, mlen, e->sig->value.data) != 0)
		return signature_other_context(e, sender_pk) ? KETEN_ECONTEXT : KETEN_EBADSIG;
	/* the time window only for what the sender signed: a refusal for
	 * it is kept and signed (PROTOCOL.md §14.3) */
	if (now_ms >= e->h->expires_at)
		return KETEN_EEXPIRED;
	if (e->h->created_at > now_ms + skew_ms)
		return KETEN_EFUTURE;
	return 0;
}

int
envelope_check_recipient(const struct envelope *e, const char *oin)
{
	for (size_t i = 0; i < e->h->n_recipients; i++)
		if (strcmp(e->h->recipients[i], oin) == 0)
			return 0;
	return KETEN_ENOTRECIPIENT;
}

int
envelope_open(const struct envelope *e, struct opener *o, struct buf **payload)
{
	const Keten__V1__KeyStanza *st = NULL;
	crypto_secretstream_xchacha20poly1305_state *ss = &o->ss;
	struct buf *pt = NULL;
	uint8_t kek[32], ad[32 + KETEN_OIN_LEN], *ckey = o->ckey, *dst = NULL;
	const uint8_t *ct;
	uint64_t size;
	size_t off, nc;
	int r;

	*payload = NULL;
	for (size_t i = 0; i < e->nstanzas; i++)
		if (strcmp(e->stanzas[i]->recipient, o->oin) == 0)
			st = e->stanzas[i];
	if (st == NULL)
		return KETEN_ENOTRECIPIENT;
	size = e->h->payload_size;
	if ((pt = buf_new(size ? (size_t)size : 1)) == NULL) {
		r = KETEN_ENOMEM;
		goto out;
	}
	if ((r = opener_kek(o, st->ephemeral.data, kek)) != 0)
		goto out;
	stanza_ad(e->header_hash, o->oin, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(ckey, NULL, NULL,
	    st->wrapped_key.data, st->wrapped_key.len, ad, sizeof(ad),
	    st->nonce.data, kek) != 0) {
		r = KETEN_EDECRYPT;
		goto out;
	}
	ct = e->wire + e->ct_off;
	if (crypto_secretstream_xchacha20poly1305_init_pull(ss, ct, ckey) != 0) {
		r = KETEN_EDECRYPT;
		goto out;
	}
	if ((r = buf_reserve(pt, (size_t)size, &dst)) != 0)
		goto out;
	off = SS_HEADER;
	nc = chunk_count(size);
	for (size_t c = 0; c < nc; c++) {
		size_t plen = (size_t)size - c * (size_t)KETEN_CHUNK_SIZE;
		unsigned char tag;

		if (plen > KETEN_CHUNK_SIZE)
			plen = KETEN_CHUNK_SIZE;
		if (crypto_secretstream_xchacha20poly1305_pull(ss, dst + c * (size_t)KETEN_CHUNK_SIZE,
		    NULL, &tag, ct + off, plen + SS_ABYTES, e->header_hash, 32) != 0) {
			r = KETEN_EDECRYPT;
			goto out;
		}
		/* Only the last chunk may carry FINAL, and it must: this is
		 * what detects truncation and extension cryptographically. */
		if ((c + 1 == nc) != (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)) {
			r = KETEN_ETRUNCATED;
			goto out;
		}
		off += plen + SS_ABYTES;
	}
	*payload = pt;
	pt = NULL;
	r = 0;
out:
	sodium_memzero(kek, sizeof(kek));
	sodium_memzero(ckey, 32);
	sodium_memzero(ss, sizeof(*ss));
	if (pt != NULL && dst != NULL)
		sodium_memzero(dst, (size_t)size);	/* no half-decrypted plaintext left behind */
	buf_destroy(&pt);
	return r;
}

/* ------------------------------------------------------------------ */
/* accessors */

const struct envelope_header *
envelope_header(const struct envelope *e)
{
	return &e->view;
}

const uint8_t *
envelope_bytes(const struct envelope *e, size_t *len)
{
	if (!e->is_signed) {
		*len = 0;
		return NULL;
	}
	*len = e->wire_len;
	return e->wire;
}

struct buf *
envelope_take_wire(struct envelope *e)
{
	struct buf *b;

	if (e == NULL || !e->is_signed || e->own == NULL || e->wire != buf_ptr(e->own))
		return NULL;
	b = e->own;
	e->own = NULL;
	e->wire = NULL;
	e->wire_len = 0;
	e->is_signed = 0;
	return b;
}

const uint8_t *
envelope_header_bytes(const struct envelope *e, size_t *len)
{
	*len = e->hdr_len;
	return e->wire + e->hdr_off;
}

const uint8_t *
envelope_digest(const struct envelope *e)
{
	return e->digest;
}

uint32_t
envelope_batch_size(const struct envelope *e)
{
	return e->sig ? e->sig->batch_size : 0;
}

void
envelope_destroy(struct envelope **ep)
{
	struct envelope *e;

	if (ep == NULL || (e = *ep) == NULL)
		return;
	if (e->h != NULL)
		keten__v1__header__free_unpacked(e->h, NULL);
	for (size_t i = 0; i < e->nstanzas; i++)
		keten__v1__key_stanza__free_unpacked(e->stanzas[i], NULL);
	free(e->stanzas);
	if (e->sig != NULL)
		keten__v1__signature__free_unpacked(e->sig, NULL);
	buf_destroy(&e->own);
	free(e);
	*ep = NULL;
}
