/*
 * receipt.c — signed receipts (see receipt.h, PROTOCOL.md §8).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "envelope.pb-c.h"
#include "err.h"
#include "receipt.h"
#include "util.h"

static const char CTX_RECEIPT[] = "keten/v1/receipt";
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

int
receipt_sign(const struct receipt_info *ri, const uint8_t *sign_sk, struct buf **out)
{
	Keten__V1__Receipt r;
	Keten__V1__SignedReceipt s;
	uint8_t *rb = NULL, *m = NULL, sig[64];
	size_t rlen, mlen, slen;
	struct buf *b = NULL;
	uint8_t *dst;
	int ret;

	*out = NULL;
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
	rlen = keten__v1__receipt__get_packed_size(&r);
	if (rlen > RECEIPT_MAX)
		return KETEN_ETOOBIG;
	ret = KETEN_ENOMEM;
	if ((rb = malloc(rlen)) == NULL)
		goto out;
	keten__v1__receipt__pack(&r, rb);
	if ((mlen = sigmsg(rb, rlen, &m)) == 0)
		goto out;
	crypto_sign_detached(sig, NULL, m, mlen, sign_sk);
	keten__v1__signed_receipt__init(&s);
	s.receipt.data = rb;
	s.receipt.len = rlen;
	s.signature.data = sig;
	s.signature.len = sizeof(sig);
	slen = keten__v1__signed_receipt__get_packed_size(&s);
	if ((b = buf_new(slen)) == NULL || (ret = buf_reserve(b, slen, &dst)) != 0)
		goto out;
	keten__v1__signed_receipt__pack(&s, dst);
	*out = b;
	b = NULL;
	ret = 0;
out:
	buf_destroy(&b);
	free(rb);
	free(m);
	return ret;
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
	uint8_t *m = NULL;
	size_t mlen;
	int ok;

	if ((mlen = sigmsg(rp->signed_->receipt.data, rp->signed_->receipt.len, &m)) == 0)
		return KETEN_ENOMEM;
	ok = crypto_sign_verify_detached(rp->signed_->signature.data, m, mlen, issuer_pk) == 0;
	free(m);
	return ok ? 0 : KETEN_EBADSIG;
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
