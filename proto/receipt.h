/*
 * receipt.h — signed proof of delivery or refusal (PROTOCOL.md §8).
 *
 * The receiving (or refusing) node makes a Receipt about one envelope and
 * signs CTX_RECEIPT || receipt bytes with its Ed25519 key; the original
 * sender keeps the SignedReceipt as evidence.  Verification is over the
 * receipt bytes exactly as received.
 */
#ifndef KETEN_RECEIPT_H
#define KETEN_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

struct buf;

/* Receipt status values (ReceiptStatus in envelope.proto). */
#define KETEN_RECEIPT_DELIVERED 1
#define KETEN_RECEIPT_REFUSED 2

/* Contents of a receipt.  In a parsed receipt the strings are owned by the
 * struct receipt_parsed they came from. */
struct receipt_info {
	uint8_t msg_id[KETEN_MSG_ID_LEN];
	const char *issuer;		/* OIN of the signing node */
	const char *sender;		/* OIN of the original sender */
	int status;			/* KETEN_RECEIPT_* */
	int reason;			/* Reason enum; 0 with DELIVERED */
	const char *reason_text;	/* printable ASCII, may be "" */
	uint64_t issued_at;		/* ms since the epoch */
	uint8_t envelope_digest[KETEN_DIGEST_LEN];
	const uint8_t *checkpoint;	/* issuer's audit checkpoint, or NULL */
	size_t checkpoint_len;
	const char *recipient;		/* "" or NULL; a relay's refusal: for whom */
};

/* Serialize and sign.  sign_sk: the issuer's Ed25519 secret key (64).
 * *out is a new buffer with the SignedReceipt, owned by the caller.
 * Errors: KETEN_EFIELD, KETEN_ENOMEM. */
int receipt_sign(const struct receipt_info *ri, const uint8_t *sign_sk,
    struct buf **out);

/* Sign n (1..KETEN_MAX_BATCH) receipts with one Ed25519 signature over the
 * Merkle root of their hashes (PROTOCOL.md §8.1); out[i] gets receipt i
 * with its inclusion path.  n == 1 is receipt_sign(). */
int receipt_sign_batch(const struct receipt_info *ri, size_t n, const uint8_t *sign_sk,
    struct buf **out);

struct receipt_parsed;

/* Parse a SignedReceipt strictly (canonical Receipt encoding, every field
 * valid).  Does not verify the signature.  Caller owns *out.
 * Errors: KETEN_EPARSE, KETEN_EFIELD, KETEN_EVERSION, KETEN_ETOOBIG,
 * KETEN_ENOMEM. */
int receipt_parse(const uint8_t *data, size_t len, struct receipt_parsed **out);

/* Verify the signature with the issuer's Ed25519 public key (from the
 * directory).  0 or KETEN_EBADSIG. */
int receipt_verify(const struct receipt_parsed *rp, const uint8_t *issuer_pk)
    __attribute__((warn_unused_result));
/* The same, with a cache: a batch's signature is verified once. */
struct sigcache;
int receipt_verify_cached(const struct receipt_parsed *rp, const uint8_t *issuer_pk,
    struct sigcache *cache) __attribute__((warn_unused_result));

/* Borrowed view of the contents; valid until receipt_parsed_destroy(). */
const struct receipt_info *receipt_info(const struct receipt_parsed *rp);

void receipt_parsed_destroy(struct receipt_parsed **rpp);

/* Reason enum value <-> name ("NO_MANDATE"); -1 / NULL when unknown. */
int reason_from_name(const char *name);
const char *reason_name(int reason);

#endif
