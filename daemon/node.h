/*
 * node.h — one keten node: its keys, trust (PKI and directory), durable
 * store, sockets and the poll loop that ties them together.
 *
 * The node is single-threaded.  One turn of the loop reads what is waiting
 * (network messages, local requests), does all the resulting store writes
 * in one transaction, commits it (one fsync for everything in the turn),
 * and only then acts outward: receipts, replies to local systems and
 * envelopes to peers.  Nothing is acknowledged before it is durable.
 *
 * Modules: node.c (lifecycle, loop, the post-commit action list),
 * inbound.c (envelopes and receipts from peers), outbound.c (sealing,
 * batch signing, sending, retry and expiry), local.c (the local API).
 */
#ifndef KETEN_NODE_H
#define KETEN_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "auditkeys.h"
#include "payload.h"

struct audit_event;
struct audit_keys;
struct auditlog;
struct buf;
struct config;
struct mandate;
struct payload_subjects;
struct envelope_header;
struct directory;
struct mandates;
struct envelope;
struct keys;
struct local;
struct opener;
struct party;
struct peers;
struct pki;
struct sealer;
struct sigcache;
struct store;
struct zap;

/* What to do once the turn's transaction has committed. */
enum action_kind {
	ACT_PEER_SEND,		/* send type+body to party oin */
	ACT_LOCAL_REPLY,	/* reply to a local system's request */
};

struct action {
	enum action_kind kind;
	char oin[21];		/* ACT_PEER_SEND: next hop */
	uint8_t type;		/* ACT_PEER_SEND: PEER_MSG_* */
	int local_idx;		/* ACT_LOCAL_REPLY: which local socket */
	uint8_t rid[256];	/* ACT_LOCAL_REPLY: ZeroMQ routing id */
	size_t rid_len;
	struct buf *body;	/* owned */
	uint64_t request_id;	/* ACT_LOCAL_REPLY: for the error if the commit fails */
};

/* A submission sealed in this turn, waiting for the batch signature. */
struct staged {
	struct envelope *e;
	int local_idx;
	uint8_t rid[256];
	size_t rid_len;
	uint64_t request_id;
	char local_name[33];
	struct payload_subjects subj;	/* for the SEND records */
	/* their pseudonyms, as the SUBMIT record had them (pseud_ok) */
	uint8_t pseud[PAYLOAD_MAX_SUBJECTS][AUDIT_PSEUDONYM_LEN];
	int pseud_ok;
};

/* A message received in this turn, stored with its DELIVERED receipt once
 * the turn's receipts are batch-signed (inbound_drain). */
struct received {
	char sender[21];
	uint8_t msg_id[16];
	uint8_t digest[32];
	uint64_t seq;
	int kind;
	char case_ref[129];
	uint64_t at;
	struct buf *wire;
	/* for the RECEIVE record */
	uint8_t wire_hash[32];		/* envelope_wire_hash() */
	char from[21];			/* the transport peer: sender or its relay */
	char purpose[257];
	char mandate_id[129];
	char traceparent[56];
	struct payload_subjects subj;
	const struct mandate *mandate;	/* valid for the turn */
	const char *rule;		/* static */
};

/* The latest checkpoint of a peer this node witnessed. */
struct witnessed {
	char oin[21];
	uint64_t size;
	uint64_t at;		/* ms, when it was recorded */
};

struct node {
	struct config *cfg;
	char oin[21];
	struct keys *keys;
	struct pki *pki;
	struct directory *dir;
	struct mandates *mandates;	/* verified against dir */
	struct store *store;
	struct sealer *sealer;
	struct opener *opener;
	struct sigcache *sigcache;
	struct auditlog *audit;
	struct audit_keys *audit_keys;
	uint64_t audit_synced;		/* bytes of the log file on disk */
	uint64_t audit_trimmed;		/* the store's copies dropped up to here */
	uint64_t audit_sync_ms;		/* when the file was last made durable */
	int audit_failed;		/* the file failed: the node stops, status 1 */
	char audit_prune_due[8];	/* a period whose key went, bodies not yet */
	struct witnessed *witnessed;
	size_t nwitnessed;
	struct buf *note;		/* the checkpoint the turn's receipts carry */

	void *zctx;
	struct zap *zap;
	void *router;		/* inbound, CurveZMQ server */
	struct peers *peers;
	struct local *local;
	int sigfd;

	int in_txn;		/* a store transaction is open for this turn */
	struct action *actions;
	size_t nactions, actions_cap;
	struct staged *staged;
	size_t nstaged;
	struct received *received;	/* this turn's, KETEN_MAX_BATCH at most */
	size_t nreceived;
	uint64_t batch_deadline;	/* ms; 0 when nothing is staged */
	uint64_t next_retry;		/* ms; when the outbox is next due */
	int stopping;
	int reload;
	int links_down;			/* some link is down: look again soon */
	uint64_t inbox_added;
	uint64_t next_retention;	/* ms: when retention is looked at again */
	/* The directory in use expired: nothing is exchanged (no submit, no
	 * envelope or receipt taken or sent) until a reload brings a
	 * current one; the file is read again every minute meanwhile. */
	int trust_lapsed;
	uint64_t next_trust_retry;
};

/* Load everything from the configuration and bind the sockets.  On error
 * the reason is logged.  Caller owns *out (node_destroy). */
int node_new(struct config *cfg, struct node **out);

/* Check configuration, keys, PKI, directory and store without binding
 * anything (ketend -n).  0 or the first error, logged. */
int node_check(struct config *cfg);

/* Run until SIGTERM/SIGINT, then drain and return 0. */
int node_run(struct node *n);

void node_destroy(struct node **np);

/* --- used by the node's modules ----------------------------------- */

/* Open the turn's transaction if none is open.  0 or a store error. */
int node_txn(struct node *n);

/* Queue an outward action for after the commit (takes body). */
int node_act_peer(struct node *n, const char *oin, uint8_t type, struct buf *body);
/* A reply sent if the turn commits; if it does not, the request gets an
 * error that says why (KETEN_EFULL, KETEN_EDB, ...) and nothing changed. */
int node_act_reply(struct node *n, int local_idx, const uint8_t *rid, size_t rid_len,
    uint64_t request_id, struct buf *body);

/* The turn failed with `code`: roll it back, answer every pending local
 * request with that error, send nothing, forget what was staged. */
void node_abort_turn(struct node *n, int code);

/* The party to send to for reaching `to`: `to` itself, or its relay. */
const struct party *node_next_hop(struct node *n, const struct party *to);

/* --- audit (audit.c) ----------------------------------------------- */

/* Open the audit log and its keys (made on first start) and record
 * LOG_START.  Errors are logged; the node does not start without it. */
int node_audit_open(struct node *n);
/* Record LOG_STOP, sign the last checkpoint, close. */
void node_audit_close(struct node *n);
/* Append one event's records to this turn (durable at node_commit).  An
 * error is logged; the caller refuses what it was about to do. */
int node_audit(struct node *n, const struct audit_event *e);

/* A message event: the header's fields, or the loose ones when h is NULL. */
struct node_audit_msg {
	int event, decision, reason;
	const char *rule;
	const struct envelope_header *h;
	const uint8_t *msg_id;
	int kind;
	const char *sender;
	const char *const *recipients;
	size_t n_recipients;
	const char *purpose, *mandate_id, *traceparent;
	const struct mandate *mandate;	/* that decided: id and legal basis */
	const char *local_system, *peer;
	const struct envelope *env;	/* the exact envelope: its wire hash is recorded */
	const uint8_t *wire_hash;	/* or that hash, computed already (32 bytes) */
	const struct payload_subjects *subjects;
	/* the subjects' pseudonyms from an earlier record of the message, and
	 * where to keep this record's (struct audit_event) */
	const uint8_t (*pseudonyms)[AUDIT_PSEUDONYM_LEN];
	uint8_t (*pseudonyms_out)[AUDIT_PSEUDONYM_LEN];
};
int node_audit_message(struct node *n, const struct node_audit_msg *m);

/* Before the turn commits: sign a checkpoint when one is due (or force)
 * and put the turn's frames into the store's transaction (opening it if
 * need be), with the removal of the copies of frames the file has on
 * disk.  0, or the error (logged; the turn must be refused). */
int node_audit_commit(struct node *n, uint64_t now, int force);
/* After the store committed the turn: write its frames to the file, and
 * make the file durable when a checkpoint interval has passed since it
 * last was, or much is waiting, or force.  A failure stops the node (the
 * frames are in the store and go back into the file at the next start). */
void node_audit_written(struct node *n, uint64_t now, int force);
/* Close without the LOG_STOP record (node_destroy after a failure). */
void node_audit_free(struct node *n);

/* A CONFIG record (reload of directory and mandates): decision ALLOW when
 * the new one was taken, DENY when it was refused and the old kept. */
void node_audit_config(struct node *n, int decision, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Retention: destroy the keys of periods that ended more than [audit]
 * retention ago and remove their record bodies (auditlog_prune).  Call
 * between turns. */
void node_audit_retention(struct node *n, uint64_t now);
/* When the next checkpoint, or the file's next fdatasync, is due (ms);
 * 0 when neither is. */
uint64_t node_audit_deadline(const struct node *n);

#endif
