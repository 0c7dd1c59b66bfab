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
 * store_commit), so that many messages share one fsync.  Every function
 * also works outside a transaction (autocommit), and every write function
 * is atomic on its own: when it fails, it changed nothing; or, inside a
 * transaction, when the database failed after part of the write was
 * made, every later write and store_commit() return that error until
 * store_rollback() (the turn is refused, never half committed).
 *
 * Errors: all functions return 0 (or a count where said) or a negative
 * KETEN_E* code.  KETEN_EFULL: the disk (or the cap of store_set_max_size)
 * is full; KETEN_ECORRUPT: the database is damaged; KETEN_EDB: any other
 * SQLite failure, store_errmsg() says which.  When SQLite itself had to
 * abandon the open transaction after such a failure, every later write
 * and store_commit() return that same error until store_rollback(): the
 * turn is never half committed.
 *
 * Strings (OINs, names, case references) are NUL-terminated and copied by
 * the store; byte arguments are read during the call only.  An OIN is at
 * most STORE_OIN_MAX bytes.  A store is not thread-safe.
 */
#ifndef KETEN_STORE_H
#define KETEN_STORE_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct store;

/* Largest envelope the store keeps: KETEN_MAX_ENVELOPE, the most any
 * envelope may be on the wire (envelope.h). */
#define STORE_ENVELOPE_MAX (64u << 20)
/* Longest OIN (recipient, sender, issuer, next hop) the store accepts. */
#define STORE_OIN_MAX 20

/* Open state_dir/node.db, creating dir (mode 0700) and the database
 * (mode 0600) when missing.  sync_full: synchronous=FULL, durable on power
 * loss; 0 gives NORMAL (WAL + NORMAL may lose the last transactions on
 * power loss, never consistency).  Refused with KETEN_EIO: a dir that is
 * not ours or is writable by group or others, a node.db (or -wal, -shm)
 * that is not a regular file or not ours.  KETEN_ECORRUPT: PRAGMA
 * quick_check finds damage, the file is not a database, it is another
 * application's database, or its schema is newer than this build knows.
 * An older schema is migrated.  On success the caller owns *out and
 * closes it with store_close(); on failure *out is NULL and
 * store_errmsg(NULL) says why. */
int store_open(const char *dir, int sync_full, struct store **out);

/* For a process that uses SQLite from one thread only (ketend): SQLite
 * takes no mutexes and keeps no memory statistics.  Call before
 * anything else uses SQLite; KETEN_EIO if it is too late. */
int store_one_thread(void);

/* Roll back an open transaction, close, free and set *sp to NULL;
 * NULL-safe and idempotent. */
void store_close(struct store **sp);

/* The last SQLite error message of st; for st NULL, why the last
 * store_open() of this thread failed.  Never NULL; static or owned by st,
 * valid until the next call on st. */
const char *store_errmsg(const struct store *st);

/* Cap the database at max_bytes (rounded down to whole pages, never below
 * its current size; 0 removes the cap) for this connection: a write that
 * would grow it further fails with KETEN_EFULL and writes nothing, as on a
 * full disk.  0, KETEN_EINVAL or a store error. */
int store_set_max_size(struct store *st, uint64_t max_bytes);

/* Start the turn's transaction (BEGIN IMMEDIATE).  KETEN_ESTATE when one
 * is open already. */
int store_begin(struct store *st);
/* Commit it.  KETEN_ESTATE without one; on any failure the caller must
 * call store_rollback() (nothing of the transaction is durable). */
int store_commit(struct store *st);
/* full: the commits from here on are durable when they return, also in a
 * store opened without sync_full (synchronous=FULL); 0: as it was opened.
 * Between transactions only (KETEN_ESTATE in one). */
int store_sync_commits(struct store *st, int full);
/* Abandon the transaction; a no-op when none is open.  NULL-safe. */
void store_rollback(struct store *st);

/* Next sequence number (from 1) of the stream sender -> rcpt into *seq,
 * persisted: inside a transaction it is written (once per stream) when
 * the transaction commits, and a rolled-back transaction gives the
 * number out again; outside one it is written at once. */
int store_seq_next(struct store *st, const char *sender, const char *rcpt, uint64_t *seq);
/* Inside a transaction, give back the number store_seq_next() gave last
 * for this stream (a submission refused after it took its numbers), so
 * that no receiver sees a gap for a message that never was; KETEN_ESTATE
 * when seq is not that number. */
int store_seq_unget(struct store *st, const char *sender, const char *rcpt, uint64_t seq);

/* ---- outbox ---- */

/* A message this node sends: the signed envelope (1..STORE_ENVELOPE_MAX
 * bytes, else KETEN_EINVAL / KETEN_ETOOBIG) once, with its digest (32
 * bytes, which receipts must name), and each of the n recipients
 * (1..32, distinct, else KETEN_EINVAL) QUEUED with 0 attempts, due at
 * created_at.  seqs: per recipient, or NULL for none (0).  KETEN_EEXIST
 * if msg_id is there already. */
int store_outbox_add(struct store *st, const uint8_t msg_id[16], int kind,
    const char *local_system, const char *case_ref, uint64_t created_at, uint64_t expires_at,
    const uint8_t digest[32], const uint8_t *env, size_t len, const char *const *rcpts,
    size_t n, const uint64_t *seqs);
/* The same, with recipient i SENT (1 attempt, due again at sent_next[i])
 * where sent_next[i] != 0: handed to its next hop in the same turn, so no
 * second write is needed to say so. */
int store_outbox_add_sent(struct store *st, const uint8_t msg_id[16], int kind,
    const char *local_system, const char *case_ref, uint64_t created_at, uint64_t expires_at,
    const uint8_t digest[32], const uint8_t *env, size_t len, const char *const *rcpts,
    size_t n, const uint64_t *seqs, const uint64_t *sent_next);

/* Set a recipient's state (QUEUED or SENT, else KETEN_EINVAL), attempts
 * and next due time.  last_error says why the last attempt failed: NULL
 * keeps the text there is, "" clears it.  KETEN_ENOTFOUND for no such
 * (msg_id, rcpt); KETEN_ESTATE when the row is final (DELIVERED, REFUSED,
 * EXPIRED): a final state is never changed by marking. */
int store_outbox_mark(struct store *st, const uint8_t msg_id[16], const char *rcpt, int state,
    uint32_t attempts, uint64_t next_at, const char *last_error);

/* Called for each due row: msg_id (16 bytes), recipient (the final one),
 * the sender of a relay row (NULL for the outbox's), attempts so far, the
 * envelope; all valid during the call only.  The
 * callback may call the store, including the matching *_mark for the
 * same row (the rows were read before the first call).  Non-zero stops
 * the scan and is returned. */
typedef int store_due_fn(void *arg, const uint8_t *msg_id, const char *rcpt,
    const char *sender, uint32_t attempts, const uint8_t *env, size_t len);

/* Recipients QUEUED or SENT with next_at <= now and expires_at > now: at
 * most limit rows (fewer when their envelopes add up past 64 MiB),
 * earliest due first and, among rows due at the same time, oldest message
 * first (created_at, then seq).  A new message is due at its created_at,
 * so fresh traffic goes out in creation order; ordering by due time keeps
 * each scan O(limit) however many rows wait on backoff for a peer that is
 * down.  0 or an error (or fn's non-zero value). */
int store_outbox_due(struct store *st, uint64_t now, size_t limit, store_due_fn *fn, void *arg);

/* Called for each destination about to expire: relay_sender is NULL for
 * this node's own messages, the original sender for a relayed one.  A
 * non-zero return stops the expiry (nothing changes). */
typedef int store_expire_fn(void *arg, const uint8_t *msg_id, const char *rcpt,
    const char *relay_sender);

/* Move every QUEUED or SENT recipient with expires_at <= now to EXPIRED,
 * and every pending relay row with expires_at <= now to expired (its
 * envelope dropped), calling fn (may be NULL) for each first.  Returns
 * how many outbox recipients expired (>= 0) or an error. */
int store_outbox_expire(struct store *st, uint64_t now, store_expire_fn *fn, void *arg);

/* The earliest next_at or expires_at of anything pending (outbox QUEUED
 * or SENT, relay not done) into *next; KETEN_ENOTFOUND when nothing is. */
int store_next_due(struct store *st, uint64_t *next);

/* A signed receipt from issuer for msg_id: state DELIVERED or REFUSED
 * (else KETEN_EINVAL) with reason and its text (may be NULL), the receipt
 * bytes (1.. bytes) and its issued_at.  digest: the envelope digest the
 * receipt names; it must be the stored envelope's.
 * KETEN_ENOTFOUND when issuer is not a recipient of msg_id; KETEN_ESTATE
 * when the digest is another, or the row already holds the other outcome
 * (or another reason); KETEN_EEXIST for a repeat of the same outcome
 * (nothing changes).  A receipt for a row that EXPIRED here is recorded: it is
 * signed proof of what happened, later than our guess. */
int store_outbox_receipt(struct store *st, const uint8_t msg_id[16], const char *issuer,
    const uint8_t digest[32], int state, int reason,
    const char *reason_text, const uint8_t *body, size_t len, uint64_t issued_at);

/* Status of one sent message, for the local API. */
struct store_rcpt_status {
	char oin[STORE_OIN_MAX + 1];
	int state;			/* Keten__V1__DeliveryState */
	uint32_t attempts;
	uint64_t receipt_at;		/* issued_at of the receipt; 0 without one */
	int reason;			/* Keten__V1__Reason, when REFUSED */
	char *reason_text;		/* never NULL ("" for none) */
	uint8_t *receipt;		/* the signed receipt; NULL when none came */
	size_t receipt_len;
	char *last_error;		/* never NULL ("" for none) */
};
struct store_status {
	char local_system[64];		/* the submitting system (truncated) */
	int kind;
	uint64_t created_at, expires_at;
	size_t n;			/* recipients, in the order given to _add */
	struct store_rcpt_status *r;
};
/* A new status in *out, which the caller frees with store_status_free().
 * KETEN_ENOTFOUND when this node sent no such message. */
int store_outbox_status(struct store *st, const uint8_t msg_id[16], struct store_status **out);
/* Free and set *sp to NULL; NULL-safe. */
void store_status_free(struct store_status **sp);

/* Counts for `keten queue`: outbox recipients per state, relay rows
 * pending, inbox messages.  Counts the whole outbox: for an operator's
 * question, not for every turn. */
struct store_counts {
	uint64_t queued, sent, delivered, refused, expired, relaying, inbox;
};
int store_counts(struct store *st, struct store_counts *c);
/* Outbox recipients QUEUED or SENT for oin, into *n. */
int store_peer_queued(struct store *st, const char *oin, uint64_t *n);

/* ---- inbox ---- */

/* A message received for this node (envelope 1..STORE_ENVELOPE_MAX
 * bytes) with the receipt sent for it (1.. bytes).  When (sender, msg_id)
 * is there already, *dup = 1 and nothing changes; else *dup = 0 and the
 * row gets the next inbox id (ids only grow and are never reused; a
 * duplicate may leave a gap). */
int store_inbox_add(struct store *st, const char *sender, const uint8_t msg_id[16], uint64_t seq,
    int kind, const char *case_ref, uint64_t received_at, const uint8_t *env, size_t len,
    const uint8_t *receipt, size_t rlen, int *dup);

/* A message this node refused, with the refusal receipt it sent (1..
 * bytes).  A second refusal of the same (sender, msg_id) keeps the
 * first receipt, so that a duplicate always gets the same answer. */
int store_refusal_add(struct store *st, const char *sender, const uint8_t msg_id[16],
    const uint8_t *receipt, size_t rlen);

/* The receipt given for (sender, msg_id) before, delivered or refused:
 * a new buffer in *out that the caller owns, or KETEN_ENOTFOUND (*out
 * NULL). */
int store_inbox_receipt(struct store *st, const char *sender, const uint8_t msg_id[16],
    struct buf **out);

/* Highest sequence number received from sender into *seq (0: none), so
 * that the node can see a gap. */
int store_inbox_last_seq(struct store *st, const char *sender, uint64_t *seq);

/* Highest inbox id into *id (0: the inbox is empty). */
int store_inbox_max_id(struct store *st, uint64_t *id);

/* ---- relay ---- */

/* An envelope (1..STORE_ENVELOPE_MAX bytes) this node forwards from
 * sender to rcpt (the final recipient) through next_hop; due at once.
 * KETEN_EEXIST when (msg_id, rcpt, sender) is queued, or was forwarded,
 * already. */
int store_relay_add(struct store *st, const uint8_t msg_id[16], const char *sender,
    const char *rcpt, const char *next_hop, uint64_t expires_at, const uint8_t *env, size_t len);
/* Pending relay rows due at now, as store_outbox_due (rcpt is the final
 * recipient), earliest due first. */
int store_relay_due(struct store *st, uint64_t now, size_t limit, store_due_fn *fn, void *arg);
/* A mandate (revocation 0) or revocation (1; 2 for one whose mandate was
 * not held when it came) this node accepted, as signed bytes; kept once
 * by hash. */
int store_mandate_add(struct store *st, const uint8_t hash[32], int revocation,
    const uint8_t *body, size_t len, uint64_t now);
/* Every kept item, mandates before revocations, in the order they came;
 * revocation as stored (0, 1 or 2). */
typedef void store_mandate_fn(void *arg, int revocation, const uint8_t *body, size_t len);
int store_mandate_each(struct store *st, store_mandate_fn *fn, void *arg);

/* The directory this node accepted last: 1 and its serial and digest, 0
 * when none was recorded yet, or an error. */
int store_trust_get(struct store *st, uint64_t *serial, uint8_t digest[32]);
int store_trust_set(struct store *st, uint64_t serial, const uint8_t digest[32]);

/* Audit log frames (PROTOCOL.md §17.2): the frames a turn appended to
 * the audit log, to go at byte offset off of the log file, are kept in
 * the turn's transaction, which makes them durable with the turn; once
 * the log file is on disk up to `synced` bytes, the rows it covers are
 * trimmed.  At start each row is given to fn in order of offset (fn's
 * non-zero return stops the walk and is returned). */
int store_audit_put(struct store *st, uint64_t off, const uint8_t *frames, size_t len);
typedef int store_audit_fn(void *arg, uint64_t off, const uint8_t *frames, size_t len);
int store_audit_each(struct store *st, store_audit_fn *fn, void *arg);
int store_audit_trim(struct store *st, uint64_t synced);

/* Make every pending outbox row to rcpt, or relay row to next_hop, due
 * before anything else (a link came up: its backlog goes out in order):
 * next_at 0, not the time of the wake, since a row queued after the wake
 * is due from its created_at (or the time it was queued), which can be
 * earlier than the wake.  The number of rows, or an error. */
int store_outbox_wake(struct store *st, const char *rcpt);
int store_relay_wake(struct store *st, const char *next_hop);
/* Set a pending relay row's attempts and next due time: the row of that
 * sender (another sender's message under the same msg_id is not
 * touched).  KETEN_ENOTFOUND for no such row, KETEN_ESTATE when it is
 * done or expired. */
int store_relay_mark(struct store *st, const uint8_t msg_id[16], const char *rcpt,
    const char *sender, uint32_t attempts, uint64_t next_at);
/* The receipt (1.. bytes) from issuer (the final recipient) for a relayed
 * message of sender (the receipt's, which its issuer signed): the row is
 * done, its envelope dropped and the receipt kept (so that a duplicate
 * envelope can be answered).  Repeating it is 0.  KETEN_ENOTFOUND when
 * this node relayed no such message of sender to issuer (another sender's
 * message under the same msg_id is not touched). */
int store_relay_done(struct store *st, const uint8_t msg_id[16], const char *issuer,
    const char *sender, const uint8_t *body, size_t len);
/* The receipt of a relayed message, if it came back: a new buffer in
 * *out that the caller owns, or KETEN_ENOTFOUND (*out NULL). */
int store_relay_receipt(struct store *st, const char *sender, const uint8_t msg_id[16],
    const char *rcpt, struct buf **out);

/* ---- subscriber cursors ---- */

/* Create, or reopen with the same filters, the cursor of local_system
 * called name (names are per local system); *last_acked gets its
 * position (0 for a new cursor: it starts at the beginning of the inbox).
 * kinds: bit mask (1u << kind), non-zero (else KETEN_EINVAL): the caller
 * resolves "every kind the system may receive".  case_ref: "" for none.
 * KETEN_ECURSOR when it exists with other filters (delete it first). */
int store_cursor_open(struct store *st, const char *local_system, const char *name,
    uint32_t kinds, const char *case_ref, uint64_t *last_acked);

/* One inbox row: its id (the position to acknowledge), sender, msg_id
 * (16 bytes), kind, case_ref, seq, received_at and the envelope, all
 * valid during the call only.  Non-zero stops the fetch and is returned.
 * It must not call store_cursor_fetch(). */
typedef int store_inbox_fn(void *arg, uint64_t id, const char *sender, const uint8_t *msg_id,
    int kind, const char *case_ref, uint64_t seq, uint64_t received_at, const uint8_t *env,
    size_t len);
/* Inbox rows after the cursor's last acknowledged id (and after after)
 * that match its filters, ascending id, at most max.  Read only: the cursor moves with
 * store_cursor_ack().  KETEN_ECURSOR when there is no such cursor. */
int store_cursor_fetch(struct store *st, const char *local_system, const char *name,
    uint64_t after, size_t max, store_inbox_fn *fn, void *arg);
/* Everything up to and including id is acknowledged.  An id at or below
 * the cursor's is a no-op (0); one beyond the highest inbox id is
 * KETEN_EINVAL; KETEN_ECURSOR when there is no such cursor. */
int store_cursor_ack(struct store *st, const char *local_system, const char *name, uint64_t id);
/* After a fetch from the cursor's position found nothing for it: the
 * cursor moves to the newest inbox row, so that the next fetch does not
 * read again every row of other kinds since (a cursor's filters never
 * change).  No write when it is there already. */
int store_cursor_skip(struct store *st, const char *local_system, const char *name);
/* Remove the cursor.  0 or KETEN_ECURSOR when there is none. */
int store_cursor_delete(struct store *st, const char *local_system, const char *name);

#endif
