/*
 * store.h — the node's durable state, in one SQLite database
 * (state_dir/node.db, WAL, synchronous=FULL unless configured otherwise).
 *
 * What is in it: the outbox (messages this node sent, one row per
 * message holding the envelope once, and one row per recipient with its
 * delivery state), the inbox (messages received for this node, deduplicated
 * on (sender, msg_id), each with the receipt that was sent for it), the
 * receipts of refused messages, the relay queue (envelopes forwarded for
 * others), per (sender, recipient) sequence numbers, and the subscribers'
 * durable cursors.
 *
 * The node writes in one transaction per turn of its loop (store_begin /
 * store_commit), so that many messages share one fsync; every function
 * also works outside a transaction.  All functions return 0 or a negative
 * KETEN_E* code: KETEN_EFULL (disk full: the transaction is rolled back,
 * nothing was written), KETEN_ECORRUPT (the database is damaged),
 * KETEN_EDB (any other SQLite failure; store_errmsg() says which).
 */
#ifndef KETEN_STORE_H
#define KETEN_STORE_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct store;

/* Largest envelope the store keeps. */
#define STORE_ENVELOPE_MAX (256u << 20)

/* Open (creating dir with mode 0700, and the database, if missing).
 * sync_full: synchronous=FULL (durable on power loss) rather than NORMAL.
 * The database is checked (quick_check) at open: KETEN_ECORRUPT when
 * damaged, KETEN_ECORRUPT too for a schema newer than this build knows. */
int store_open(const char *dir, int sync_full, struct store **out);
void store_close(struct store **sp);
/* The last SQLite error message; never NULL. */
const char *store_errmsg(const struct store *st);

int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);	/* no-op outside a transaction */

/* Next sequence number (from 1) of the stream sender -> rcpt. */
int store_seq_next(struct store *st, const char *sender, const char *rcpt, uint64_t *seq);

/* ---- outbox ---- */

/* A message this node sends: the signed envelope once (with its digest,
 * which receipts must name), and each recipient QUEUED, due now.  KETEN_EEXIST if msg_id is there already. */
int store_outbox_add(struct store *st, const uint8_t msg_id[16], int kind,
    const char *local_system, const char *case_ref, uint64_t created_at, uint64_t expires_at,
    const uint8_t digest[32], const uint8_t *env, size_t len, const char *const *rcpts,
    size_t n, const uint64_t *seqs);

/* Set a recipient's state (QUEUED or SENT), attempts and next due time;
 * last_error (may be NULL) says why the last attempt failed.  A final
 * state (DELIVERED, REFUSED, EXPIRED) is never changed. */
int store_outbox_mark(struct store *st, const uint8_t msg_id[16], const char *rcpt, int state,
    uint32_t attempts, uint64_t next_at, const char *last_error);

/* Called for each due row: msg_id, recipient (the final one), attempts so
 * far, the envelope.  May call the matching *_mark for the same row. */
typedef int store_due_fn(void *arg, const uint8_t *msg_id, const char *rcpt, uint32_t attempts,
    const uint8_t *env, size_t len);

/* Recipients QUEUED or SENT, due at now and not expired, oldest message
 * first (created_at, then sequence number); at most limit rows, and fewer
 * when their envelopes are large. */
int store_outbox_due(struct store *st, uint64_t now, size_t limit, store_due_fn *fn, void *arg);

/* Move every QUEUED or SENT recipient whose message expired at now to
 * EXPIRED, and drop expired relay rows.  Returns how many outbox
 * recipients expired (>= 0) or an error. */
int store_outbox_expire(struct store *st, uint64_t now);

/* The earliest next_at or expiry of anything pending (outbox or relay);
 * KETEN_ENOTFOUND when nothing is. */
int store_next_due(struct store *st, uint64_t *next);

/* A signed receipt from issuer for msg_id: state DELIVERED or REFUSED
 * with reason and its text, the receipt bytes and its issued_at.
 * KETEN_ENOTFOUND when issuer is not a recipient of msg_id; KETEN_ESTATE
 * when digest is not that of the stored envelope, or the row is already
 * final with another outcome; 0 for a repeat of the same outcome. */
int store_outbox_receipt(struct store *st, const uint8_t msg_id[16], const char *issuer,
    const uint8_t digest[32], int state, int reason,
    const char *reason_text, const uint8_t *body, size_t len, uint64_t issued_at);

/* Status of one sent message, for the local API. */
struct store_rcpt_status {
	char oin[21];
	int state;
	uint32_t attempts;
	uint64_t receipt_at;
	int reason;
	char *reason_text;
	uint8_t *receipt;
	size_t receipt_len;
	char *last_error;
};
struct store_status {
	char local_system[64];
	int kind;
	uint64_t created_at, expires_at;
	size_t n;
	struct store_rcpt_status *r;
};
/* KETEN_ENOTFOUND when this node sent no such message. */
int store_outbox_status(struct store *st, const uint8_t msg_id[16], struct store_status **out);
void store_status_free(struct store_status **sp);

/* Counts for `keten queue`: outbox recipients per state, relay rows
 * pending, inbox messages. */
struct store_counts {
	uint64_t queued, sent, delivered, refused, expired, relaying, inbox;
};
int store_counts(struct store *st, struct store_counts *c);
/* Outbox recipients QUEUED or SENT for oin. */
int store_peer_queued(struct store *st, const char *oin, uint64_t *n);

/* ---- inbox ---- */

/* A message received for this node with the receipt sent for it.  When
 * (sender, msg_id) is there already, *dup = 1 and nothing changes.  Each
 * new row gets the next inbox id (never reused). */
int store_inbox_add(struct store *st, const char *sender, const uint8_t msg_id[16], uint64_t seq,
    int kind, const char *case_ref, uint64_t received_at, const uint8_t *env, size_t len,
    const uint8_t *receipt, size_t rlen, int *dup);

/* A message this node refused, with the refusal receipt it sent. */
int store_refusal_add(struct store *st, const char *sender, const uint8_t msg_id[16],
    const uint8_t *receipt, size_t rlen);

/* The receipt given for (sender, msg_id) before, delivered or refused:
 * a new buffer in *out, or KETEN_ENOTFOUND. */
int store_inbox_receipt(struct store *st, const char *sender, const uint8_t msg_id[16],
    struct buf **out);

/* Highest sequence number received from sender (0: none). */
int store_inbox_last_seq(struct store *st, const char *sender, uint64_t *seq);

/* ---- relay ---- */

/* An envelope this node forwards from sender to rcpt through next_hop.
 * KETEN_EEXIST when it is queued (or was forwarded) already. */
int store_relay_add(struct store *st, const uint8_t msg_id[16], const char *sender,
    const char *rcpt, const char *next_hop, uint64_t expires_at, const uint8_t *env, size_t len);
/* Pending relay rows due at now (rcpt is the final recipient). */
int store_relay_due(struct store *st, uint64_t now, size_t limit, store_due_fn *fn, void *arg);
int store_relay_mark(struct store *st, const uint8_t msg_id[16], const char *rcpt,
    uint32_t attempts, uint64_t next_at);
/* The receipt from issuer (the final recipient) for a relayed message:
 * the row is done and keeps the receipt; *sender gets the original
 * sender to pass the receipt back to (21 bytes).  KETEN_ENOTFOUND when
 * this node relayed no such message to issuer. */
int store_relay_done(struct store *st, const uint8_t msg_id[16], const char *issuer,
    const uint8_t *body, size_t len, char sender[21]);
/* The receipt of a relayed message, if it came back: a new buffer in
 * *out, or KETEN_ENOTFOUND. */
int store_relay_receipt(struct store *st, const char *sender, const uint8_t msg_id[16],
    const char *rcpt, struct buf **out);

/* ---- subscriber cursors ---- */

/* Create, or reopen with the same filters, the cursor of local_system
 * called name; *last_acked gets its position.  kinds: bit mask (1u << kind),
 * non-zero.  case_ref: "" for none.  KETEN_ECURSOR when it exists with
 * other filters. */
int store_cursor_open(struct store *st, const char *local_system, const char *name,
    uint32_t kinds, const char *case_ref, uint64_t *last_acked);

typedef int store_inbox_fn(void *arg, uint64_t id, const char *sender, const uint8_t *msg_id,
    int kind, const char *case_ref, uint64_t seq, uint64_t received_at, const uint8_t *env,
    size_t len);
/* Inbox rows after the cursor matching its filters, ascending, at most max.
 * KETEN_ECURSOR when there is no such cursor.  fn returning non-zero stops
 * and that value is returned. */
int store_cursor_fetch(struct store *st, const char *local_system, const char *name, size_t max,
    store_inbox_fn *fn, void *arg);
/* Everything up to and including id is acknowledged.  An id at or below
 * the cursor's is a no-op; one beyond the last inbox id is KETEN_EINVAL. */
int store_cursor_ack(struct store *st, const char *local_system, const char *name, uint64_t id);
int store_cursor_delete(struct store *st, const char *local_system, const char *name);

#endif
