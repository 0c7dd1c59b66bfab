/*
 * receipt.c — signed receipts (see receipt.h, PROTOCOL.md §8).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "envelope.pb-c.h"
#include "err.h"
#include "merkle.h"
#include "receipt.h"
#include "util.h"

static const char CTX_RECEIPT[] = "keten/v1/receipt";
static const char CTX_RECEIPT_BATCH[] = "keten/v1/receipt-batch";
#define RECEIPT_MAX 65536
#define REASON_TEXT_MAX 512

struct receipt_parsed {
	Keten__V1__SignedReceipt *signed_;
	Keten__V1__Receipt *r;
	struct receipt_info info;
};

static const struct {
	int code;
	const char *name;
} reasons[] = {
	{ KETEN__V1__REASON__REASON_NONE, "NONE" },
	{ KETEN__V1__REASON__MALFORMED, "MALFORMED" },
	{ KETEN__V1__REASON__BAD_SIGNATURE, "BAD_SIGNATURE" },
	{ KETEN__V1__REASON__UNKNOWN_SENDER, "UNKNOWN_SENDER" },
	{ KETEN__V1__REASON__NOT_RECIPIENT, "NOT_RECIPIENT" },
	{ KETEN__V1__REASON__EXPIRED, "EXPIRED" },
	{ KETEN__V1__REASON__FROM_FUTURE, "FROM_FUTURE" },
	{ KETEN__V1__REASON__DECRYPT_FAILED, "DECRYPT_FAILED" },
	{ KETEN__V1__REASON__TOO_LARGE, "TOO_LARGE" },
	{ KETEN__V1__REASON__TRANSPORT_MISMATCH, "TRANSPORT_MISMATCH" },
	{ KETEN__V1__REASON__NO_MANDATE, "NO_MANDATE" },
	{ KETEN__V1__REASON__MANDATE_EXPIRED, "MANDATE_EXPIRED" },
	{ KETEN__V1__REASON__MANDATE_REVOKED, "MANDATE_REVOKED" },
	{ KETEN__V1__REASON__WRONG_PURPOSE, "WRONG_PURPOSE" },
	{ KETEN__V1__REASON__WRONG_KIND, "WRONG_KIND" },
	{ KETEN__V1__REASON__WRONG_RECIPIENT, "WRONG_RECIPIENT" },
	{ KETEN__V1__REASON__RELAY_NOT_PERMITTED, "RELAY_NOT_PERMITTED" },
	{ KETEN__V1__REASON__FORGED_MANDATE, "FORGED_MANDATE" },
	{ KETEN__V1__REASON__LOCAL_NOT_PERMITTED, "LOCAL_NOT_PERMITTED" },
	{ KETEN__V1__REASON__INTERNAL, "INTERNAL" },
};

const char *
reason_name(int reason)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == reason)
			return reasons[i].name;
	return NULL;
}

int
reason_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reasons[i].name, name) == 0)
			return reasons[i].code;
	return -1;
}

/* One validation for both directions: what we sign, we would accept. */
static int
receipt_validate(const Keten__V1__Receipt *r)
{
	if (r->version != 1)
		return KETEN_EVERSION;
	if (r->base.n_unknown_fields || r->msg_id.len != KETEN_MSG_ID_LEN ||
	    !oin_valid(r->issuer) || !oin_valid(r->sender) || r->issued_at == 0 ||
	    r->envelope_digest.len != KETEN_DIGEST_LEN ||
	    !text_printable(r->reason_text, REASON_TEXT_MAX) || reason_name(r->reason) == NULL ||
	    (r->recipient[0] != '\0' && (!oin_valid(r->recipient) ||
	    r->status != KETEN_RECEIPT_REFUSED)))
		return KETEN_EFIELD;
	if (r->status == KETEN_RECEIPT_DELIVERED)
		return r->reason == 0 ? 0 : KETEN_EFIELD;
	if (r->status == KETEN_RECEIPT_REFUSED)
		return r->reason != 0 ? 0 : KETEN_EFIELD;
	return KETEN_EFIELD;
}

static size_t
sigmsg(const uint8_t *rb, size_t rlen, uint8_t **m)
{
	size_t n = sizeof(CTX_RECEIPT) + rlen;

	if ((*m = malloc(n)) == NULL)
		return 0;
	memcpy(*m, CTX_RECEIPT, sizeof(CTX_RECEIPT));
	memcpy(*m + sizeof(CTX_RECEIPT), rb, rlen);
	return n;
}

/* The Receipt bytes of ri, validated; *rb is malloc'ed. */
static int
receipt_pack(const struct receipt_info *ri, uint8_t **rb, size_t *rlen)
{
	Keten__V1__Receipt r;
	int ret;

	*rb = NULL;
	keten__v1__receipt__init(&r);
	r.version = 1;
	r.msg_id.data = (uint8_t *)ri->msg_id;
	r.msg_id.len = KETEN_MSG_ID_LEN;
	r.issuer = (char *)(ri->issuer ? ri->issuer : "");
	r.sender = (char *)(ri->sender ? ri->sender : "");
	r.status = ri->status;
	r.reason = ri->reason;
	r.reason_text = (char *)(ri->reason_text ? ri->reason_text : "");
	r.recipient = (char *)(ri->recipient ? ri->recipient : "");
	r.issued_at = ri->issued_at;
	r.envelope_digest.data = (uint8_t *)ri->envelope_digest;
	r.envelope_digest.len = KETEN_DIGEST_LEN;
	if (ri->checkpoint != NULL) {
		r.checkpoint.data = (uint8_t *)ri->checkpoint;
		r.checkpoint.len = ri->checkpoint_len;
	}
	if ((ret = receipt_validate(&r)) != 0)
		return ret;
	*rlen = keten__v1__receipt__get_packed_size(&r);
	if (*rlen > RECEIPT_MAX)
		return KETEN_ETOOBIG;
	if ((*rb = malloc(*rlen)) == NULL)
		return KETEN_ENOMEM;
	keten__v1__receipt__pack(&r, *rb);
	return 0;
}

/* The SignedReceipt around receipt bytes rb, a signature and, for a
 * batch, the leaf's place and path. */
static int
signed_pack(const uint8_t *rb, size_t rlen, const uint8_t sig[64], uint32_t size,
    uint32_t index, uint8_t (*path)[32], size_t plen, struct buf **out)
{
	Keten__V1__SignedReceipt s;
	ProtobufCBinaryData pd[MERKLE_MAX_PATH];
	uint8_t *dst;
	size_t slen;

	keten__v1__signed_receipt__init(&s);
	s.receipt.data = (uint8_t *)rb;
	s.receipt.len = rlen;
	s.signature.data = (uint8_t *)sig;
	s.signature.len = 64;
	s.batch_size = size;
	s.batch_index = index;
	for (size_t i = 0; i < plen; i++) {
		pd[i].data = path[i];
		pd[i].len = 32;
	}
	s.n_path = plen;
	s.path = plen ? pd : NULL;
	slen = keten__v1__signed_receipt__get_packed_size(&s);
	if ((*out = buf_new(slen)) == NULL || buf_reserve(*out, slen, &dst) != 0) {
		buf_destroy(out);
		return KETEN_ENOMEM;
	}
	keten__v1__signed_receipt__pack(&s, dst);
	return 0;
}

/* CTX_RECEIPT_BATCH || u32(n) || root, into m (room for 64 + 32 bytes). */
static size_t
sigmsg_batch(uint32_t n, const uint8_t root[32], uint8_t *m)
{
	size_t k = sizeof(CTX_RECEIPT_BATCH);

	memcpy(m, CTX_RECEIPT_BATCH, k);
	m[k++] = (uint8_t)(n >> 24);
	m[k++] = (uint8_t)(n >> 16);
	m[k++] = (uint8_t)(n >> 8);
	m[k++] = (uint8_t)n;
	memcpy(m + k, root, 32);
	return k + 32;
}

/* The leaf hash of a receipt in a batch: leaf_hash(SHA-256(receipt bytes)). */
static void
receipt_leaf(const uint8_t *rb, size_t rlen, uint8_t leaf[32])
{
	uint8_t d[32];

	merkle_sha256(rb, rlen, d);
	merkle_leaf_hash(d, 32, leaf);
}

int
receipt_sign(const struct receipt_info *ri, const uint8_t *sign_sk, struct buf **out)
{
	uint8_t *rb = NULL, *m = NULL, sig[64];
	size_t rlen, mlen;
	int ret;

	*out = NULL;
	if ((ret = receipt_pack(ri, &rb, &rlen)) != 0)
		return ret;
	ret = KETEN_ENOMEM;
	if ((mlen = sigmsg(rb, rlen, &m)) == 0)
		goto out;
	crypto_sign_detached(sig, NULL, m, mlen, sign_sk);
	ret = signed_pack(rb, rlen, sig, 0, 0, NULL, 0, out);
out:
	free(rb);
	free(m);
	return ret;
}

int
receipt_sign_batch(const struct receipt_info *ri, size_t n, const uint8_t *sign_sk,
    struct buf **out)
{
	uint8_t **rb = NULL, (*leaves)[32] = NULL, (**paths)[32] = NULL, (*pathmem)[32] = NULL;
	uint8_t root[32], sig[64], m[96];
	size_t *rlen = NULL, total = 0, done = 0;
	int ret = KETEN_ENOMEM;

	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	if (n == 0 || n > KETEN_MAX_BATCH)
		return KETEN_EINVAL;
	if (n == 1)
		return receipt_sign(&ri[0], sign_sk, &out[0]);
	if ((rb = calloc(n, sizeof(*rb))) == NULL || (rlen = calloc(n, sizeof(*rlen))) == NULL ||
	    (leaves = calloc(n, sizeof(*leaves))) == NULL || (paths = calloc(n, sizeof(*paths))) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		total += merkle_path_len(i, n);
	if ((pathmem = calloc(total ? total : 1, sizeof(*pathmem))) == NULL)
		goto out;
	for (size_t i = 0, at = 0; i < n; at += merkle_path_len(i, n), i++)
		paths[i] = pathmem + at;
	for (size_t i = 0; i < n; i++) {
		if ((ret = receipt_pack(&ri[i], &rb[i], &rlen[i])) != 0)
			goto out;
		receipt_leaf(rb[i], rlen[i], leaves[i]);
	}
	if ((ret = merkle_tree((const uint8_t (*)[32])leaves, n, root, paths)) != 0)
		goto out;
	crypto_sign_detached(sig, NULL, m, sigmsg_batch((uint32_t)n, root, m), sign_sk);
	for (done = 0; done < n; done++)
		if ((ret = signed_pack(rb[done], rlen[done], sig, (uint32_t)n, (uint32_t)done,
		    paths[done], merkle_path_len(done, n), &out[done])) != 0)
			goto out;
	ret = 0;
out:
	if (ret != 0)
		for (size_t i = 0; i < n; i++)
			buf_destroy(&out[i]);
	for (size_t i = 0; rb != NULL && i < n; i++)
		free(rb[i]);
	free(rb);
	free(rlen);
	free(leaves);
	free(paths);
	free(pathmem);
	return ret;
}

static int
batch_ok(const Keten__V1__SignedReceipt *s)
{
	if (s->batch_size == 0)
		return s->batch_index == 0 && s->n_path == 0;
	if (s->batch_size > KETEN_MAX_BATCH || s->batch_index >= s->batch_size ||
	    s->n_path != merkle_path_len(s->batch_index, s->batch_size))
		return 0;
	for (size_t i = 0; i < s->n_path; i++)
		if (s->path[i].len != 32)
			return 0;
	return 1;
}

int
receipt_parse(const uint8_t *data, size_t len, struct receipt_parsed **out)
{
	struct receipt_parsed *rp;
	uint8_t *again = NULL;
	Keten__V1__Receipt *r;
	int ret;

	*out = NULL;
	if (len > RECEIPT_MAX + 256)
		return KETEN_ETOOBIG;
	if ((rp = calloc(1, sizeof(*rp))) == NULL)
		return KETEN_ENOMEM;
	ret = KETEN_EPARSE;
	if ((rp->signed_ = keten__v1__signed_receipt__unpack(NULL, len, data)) == NULL)
		goto out;
	if (rp->signed_->base.n_unknown_fields || rp->signed_->signature.len != 64) {
		ret = KETEN_EFIELD;
		goto out;
	}
	if (!batch_ok(rp->signed_)) {
		ret = KETEN_EBATCHPROOF;
		goto out;
	}
	if ((r = rp->r = keten__v1__receipt__unpack(NULL, rp->signed_->receipt.len,
	    rp->signed_->receipt.data)) == NULL)
		goto out;
	if ((ret = receipt_validate(r)) != 0)
		goto out;
	/* canonical encoding only, as for envelope headers (PROTOCOL.md §1) */
	ret = KETEN_EPARSE;
	if (keten__v1__receipt__get_packed_size(r) != rp->signed_->receipt.len)
		goto out;
	if ((again = malloc(rp->signed_->receipt.len ? rp->signed_->receipt.len : 1)) == NULL) {
		ret = KETEN_ENOMEM;
		goto out;
	}
	keten__v1__receipt__pack(r, again);
	if (memcmp(again, rp->signed_->receipt.data, rp->signed_->receipt.len) != 0)
		goto out;
	memcpy(rp->info.msg_id, r->msg_id.data, KETEN_MSG_ID_LEN);
	rp->info.issuer = r->issuer;
	rp->info.sender = r->sender;
	rp->info.status = r->status;
	rp->info.reason = r->reason;
	rp->info.reason_text = r->reason_text;
	rp->info.recipient = r->recipient;
	rp->info.issued_at = r->issued_at;
	memcpy(rp->info.envelope_digest, r->envelope_digest.data, KETEN_DIGEST_LEN);
	rp->info.checkpoint = r->checkpoint.len ? r->checkpoint.data : NULL;
	rp->info.checkpoint_len = r->checkpoint.len;
	*out = rp;
	rp = NULL;
	ret = 0;
out:
	free(again);
	receipt_parsed_destroy(&rp);
	return ret;
}

int
receipt_verify(const struct receipt_parsed *rp, const uint8_t *issuer_pk)
{
	return receipt_verify_cached(rp, issuer_pk, NULL);
}

int
receipt_verify_cached(const struct receipt_parsed *rp, const uint8_t *issuer_pk,
    struct sigcache *cache)
{
	const Keten__V1__SignedReceipt *s = rp->signed_;
	uint8_t *m = NULL, mb[96], leaf[32], root[32], path[MERKLE_MAX_PATH][32];
	size_t mlen;
	int r;

	if (s->batch_size == 0) {
		if ((mlen = sigmsg(s->receipt.data, s->receipt.len, &m)) == 0)
			return KETEN_ENOMEM;
		r = sigcache_verify(cache, issuer_pk, m, mlen, s->signature.data);
		free(m);
		return r;
	}
	for (size_t i = 0; i < s->n_path; i++)
		memcpy(path[i], s->path[i].data, 32);
	receipt_leaf(s->receipt.data, s->receipt.len, leaf);
	if (merkle_root_from_path_memo(leaf, s->batch_index, s->batch_size,
	    (const uint8_t (*)[32])path, s->n_path, root,
	    sigcache_memo(cache, SIGCACHE_MEMO_RECEIPT)) != 0)
		return KETEN_EBADSIG;
	return sigcache_verify(cache, issuer_pk, mb, sigmsg_batch(s->batch_size, root, mb),
	    s->signature.data);
}

const struct receipt_info *
receipt_info(const struct receipt_parsed *rp)
{
	return &rp->info;
}

void
receipt_parsed_destroy(struct receipt_parsed **rpp)
{
	struct receipt_parsed *rp;

	if (rpp == NULL || (rp = *rpp) == NULL)
		return;
	if (rp->r != NULL)
		keten__v1__receipt__free_unpacked(rp->r, NULL);
	if (rp->signed_ != NULL)
		keten__v1__signed_receipt__free_unpacked(rp->signed_, NULL);
	free(rp);
	*rpp = NULL;
}
