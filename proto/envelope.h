/*
 * envelope.h — the signed, end-to-end encrypted case message.
 *
 * An envelope is the header (readable by relays, signed), one key stanza per
 * recipient (the content key wrapped to the recipient's X25519 key), the
 * payload encrypted in authenticated chunks under the content key, and an
 * Ed25519 signature by the sender: over this one envelope, or over the
 * Merkle root of a batch of envelopes with this envelope's inclusion path.
 * Every byte that is signed, hashed or encrypted is specified in
 * docs/PROTOCOL.md.
 *
 * Sending: envelope_seal() then envelope_sign() or envelope_sign_batch(),
 * then envelope_bytes() for the wire.  Receiving (and relaying):
 * envelope_parse() (strict structure and field checks), envelope_verify()
 * (signature, time window) — a relay stops here — and at the recipient
 * envelope_open() (decrypt and authenticate the payload).
 *
 * The caches (struct sealer, struct opener, struct sigcache) make batches
 * cheap: one ephemeral X25519 key per batch instead of per envelope, and a
 * batch signature verified once for all envelopes it covers.  None of them
 * is thread-safe; use one per thread.
 */
#ifndef KETEN_ENVELOPE_H
#define KETEN_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

struct merkle_memo;

#define KETEN_ENVELOPE_VERSION 1
#define KETEN_MSG_ID_LEN 16
#define KETEN_DIGEST_LEN 32
#define KETEN_MAX_RECIPIENTS 32
#define KETEN_MAX_HEADER 16384			/* bytes of serialized header */
#define KETEN_MAX_ENVELOPE (64u << 20)		/* bytes on the wire */
#define KETEN_MAX_PAYLOAD (KETEN_MAX_ENVELOPE - (1u << 20))
#define KETEN_CHUNK_SIZE 65536			/* plaintext bytes per chunk */
#define KETEN_MAX_BATCH 1024			/* envelopes per batch signature */
#define KETEN_DEFAULT_SKEW_MS (5u * 60u * 1000u)
#define KETEN_MAX_REF 128			/* case_ref, mandate_id */
#define KETEN_MAX_PURPOSE 256

struct buf;
struct envelope;
struct sealer;
struct opener;
struct sigcache;

/* What the sender decides; input to envelope_seal().  Strings are copied. */
struct envelope_meta {
	uint8_t msg_id[KETEN_MSG_ID_LEN];	/* all zero: a random one is made */
	int kind;				/* Kind enum of envelope.proto */
	const char *sender;			/* OIN */
	size_t nrecipients;
	const char *const *recipients;		/* OINs, distinct */
	const uint8_t (*recipient_keys)[32];	/* X25519 seal keys, same order */
	const uint64_t *seqs;			/* per recipient, or NULL */
	const char *case_ref;
	const char *purpose;
	const char *mandate_id;			/* may be "" */
	const char *traceparent;		/* W3C, may be "" */
	uint64_t created_at;			/* ms since the epoch */
	uint64_t expires_at;			/* ms since the epoch */
	const uint8_t *in_reply_to;		/* KETEN_MSG_ID_LEN bytes or NULL */
};

/* Validated header of an envelope; owned by the envelope. */
struct envelope_header {
	uint32_t version;
	uint8_t msg_id[KETEN_MSG_ID_LEN];
	int kind;
	const char *sender;
	size_t nrecipients;
	char *const *recipients;
	const uint64_t *seqs;		/* nrecipients entries, or NULL */
	const char *case_ref;
	const char *purpose;
	const char *mandate_id;
	const char *traceparent;
	uint64_t created_at;
	uint64_t expires_at;
	uint64_t payload_size;
	int has_reply;
	uint8_t in_reply_to[KETEN_MSG_ID_LEN];
};

/*
 * Sealing context of a sender: the ephemeral X25519 key shared by the
 * envelopes of one batch, and the key-encryption keys derived from it per
 * recipient.  The key is replaced after max_uses envelopes or max_age_ms,
 * whichever comes first, and by sealer_rotate().  Secrets live in
 * sodium_malloc memory.  Caller owns *out (sealer_destroy).
 */
int sealer_new(uint32_t max_uses, uint64_t max_age_ms, struct sealer **out);
void sealer_rotate(struct sealer *s);
void sealer_destroy(struct sealer **sp);

/*
 * Opening context of a recipient: its OIN and X25519 secret key (copied into
 * sodium_malloc memory) and a cache of key-encryption keys by ephemeral key.
 * Caller owns *out (opener_destroy).
 */
int opener_new(const char *oin, const uint8_t seal_sk[32], struct opener **out);
void opener_destroy(struct opener **op);

/* Cache of batch signatures already verified.  Caller owns *out. */
int sigcache_new(struct sigcache **out);
void sigcache_destroy(struct sigcache **cp);
/* The cache's memo of the last batch path verified of one kind (for
 * merkle_root_from_path_memo), owned by the cache; NULL when c is NULL. */
enum { SIGCACHE_MEMO_ENVELOPE, SIGCACHE_MEMO_RECEIPT, SIGCACHE_MEMOS };
struct merkle_memo *sigcache_memo(struct sigcache *c, int which);
/* Verify sig over m with pk, unless exactly these bytes verified before
 * (c may be NULL: always verify).  0 or KETEN_EBADSIG. */
int sigcache_verify(struct sigcache *c, const uint8_t pk[32], const uint8_t *m, size_t mlen,
    const uint8_t sig[64]) __attribute__((warn_unused_result));

/*
 * Seal payload (len bytes) for m's recipients.  sealer may be NULL: a fresh
 * ephemeral key is made for this envelope alone.  The envelope is unsigned
 * until envelope_sign()/envelope_sign_batch().  Caller owns *out.
 * Errors: KETEN_EFIELD (a meta field invalid), KETEN_ERECIPIENTS,
 * KETEN_ETOOBIG, KETEN_ECRYPTO, KETEN_ENOMEM.
 */
int envelope_seal(const struct envelope_meta *m, const uint8_t *payload,
    size_t len, struct sealer *sealer, struct envelope **out);

/* Sign one sealed envelope with the sender's Ed25519 secret key (64 bytes,
 * libsodium layout).  KETEN_EINVAL if not sealed here or already signed. */
int envelope_sign(struct envelope *e, const uint8_t *sign_sk);

/* Sign n (1..KETEN_MAX_BATCH) sealed envelopes with one signature over the
 * Merkle root of their digests; each gets its inclusion path. */
int envelope_sign_batch(struct envelope **es, size_t n, const uint8_t *sign_sk);

/*
 * Parse wire bytes strictly: the outer structure, every header field, one
 * stanza per recipient in recipient order, the exact ciphertext length for
 * the header's payload_size, and the signature block shape.  Does not check
 * the signature.  The envelope borrows data: it must stay valid and
 * unchanged until envelope_destroy().  Caller owns *out.
 * Errors: KETEN_ETOOBIG, KETEN_EPARSE, KETEN_EVERSION, KETEN_EFIELD,
 * KETEN_ERECIPIENTS, KETEN_ETRUNCATED, KETEN_EBATCHPROOF, KETEN_ENOMEM.
 */
int envelope_parse(const uint8_t *data, size_t len, struct envelope **out);

/*
 * Check the sender's signature with sender_pk (the Ed25519 key the
 * directory holds for the header's sender; NULL when the sender is unknown:
 * KETEN_ESENDERKEY) and then the time window: not expired at now_ms,
 * created no later than now_ms + skew_ms.  KETEN_EEXPIRED and KETEN_EFUTURE
 * therefore mean the signature verified (a refusal may be signed and kept
 * for them); every other error means it did not.  cache may be NULL.
 * This is what a relay checks.  Errors: KETEN_ESENDERKEY, KETEN_EEXPIRED, KETEN_EFUTURE,
 * KETEN_EBATCHPROOF, KETEN_EBADSIG, KETEN_ECONTEXT (a valid signature made
 * for another purpose), KETEN_EINVAL (unsigned envelope).
 */
int envelope_verify(const struct envelope *e, const uint8_t *sender_pk,
    struct sigcache *cache, uint64_t now_ms, uint64_t skew_ms)
    __attribute__((warn_unused_result));

/*
 * Decrypt for the opener's party: finds its stanza (KETEN_ENOTRECIPIENT
 * when it has none), unwraps the content key and decrypts every chunk.
 * Only call after envelope_verify() succeeded.  *payload is a new buffer
 * owned by the caller.  Errors: KETEN_ENOTRECIPIENT, KETEN_EDECRYPT,
 * KETEN_ETRUNCATED, KETEN_ENOMEM.
 */
int envelope_open(const struct envelope *e, struct opener *o, struct buf **payload)
    __attribute__((warn_unused_result));

/* 0 if oin is among the header's recipients, else KETEN_ENOTRECIPIENT. */
int envelope_check_recipient(const struct envelope *e, const char *oin);

/* Borrowed views, valid until envelope_destroy(). */
const struct envelope_header *envelope_header(const struct envelope *e);
/* The wire bytes (for a sealed envelope, only once signed). */
const uint8_t *envelope_bytes(const struct envelope *e, size_t *len);
/* Take the wire bytes of a sealed and signed envelope, as a buffer the
 * caller owns (a big message is then sent without a copy).  Afterwards e
 * has no wire bytes (envelope_bytes() gives NULL); its header and digest
 * stay.  NULL for an envelope that was parsed rather than sealed. */
struct buf *envelope_take_wire(struct envelope *e);
/* The exact serialized header bytes. */
const uint8_t *envelope_header_bytes(const struct envelope *e, size_t *len);
/* The 32-byte envelope digest that signatures cover (PROTOCOL.md). */
const uint8_t *envelope_digest(const struct envelope *e);
/* The hash of the exact wire envelope that audit records name
 * (PROTOCOL.md 5): it covers every wire byte, the ciphertext through the
 * digest.  Only while the wire bytes are there (signed, not taken). */
void envelope_wire_hash(const struct envelope *e, uint8_t out[32]);
/* 0 for a single signature, else the batch size. */
uint32_t envelope_batch_size(const struct envelope *e);

void envelope_destroy(struct envelope **ep);

/* Kind enum value <-> name ("DOSSIER_DELIVERY"); -1 / NULL when unknown. */
int kind_from_name(const char *name);
const char *kind_name(int kind);

#endif
