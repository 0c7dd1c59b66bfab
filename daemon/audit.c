/*
 * audit.c — the node's side of the audit log: opening it with its keys,
 * one record per event (node.h, "audit"), and the group commit: a turn's
 * frames are kept in the store transaction that commits the turn
 * (node_commit), written to the file after it, and the file is made
 * durable every 30 s (or 8 MiB), after which the store's copy goes
 * (PROTOCOL.md §17.2).
 *
 * Fail closed: a record that cannot be made durable refuses the turn's
 * work (node_commit), and the operator is told at error level.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditlog.h"
#include "buf.h"
#include "config.h"
#include "directory.h"
#include "envelope.h"
#include "err.h"
#include "keys.h"
#include "log.h"
#include "mandate.h"
#include "node.h"
#include "payload.h"
#include "store.h"
#include "util.h"

/* The file is made durable (and the store's copies of its records
 * dropped) every SYNC_MS while some of it is not (or every checkpoint
 * interval, if that is longer), and whenever SYNC_BYTES are not yet on
 * disk; until then its records are durable in the store.
 * An fdatasync holds up the node's thread: once every 30 s instead of
 * every checkpoint interval (1 s) keeps it out of the way of nearly every
 * message at low load (make bench A/B: p99 at 100/s 3.42 ms against
 * 4.40 ms), and by then the kernel has written most of the pages itself
 * (its dirty_expire_centisecs is 30 s). */
#define SYNC_BYTES (8u << 20)
#define SYNC_MS 30000

/* A checkpoint interval longer than that stretches it too. */
static uint64_t
sync_every(const struct node *n)
{
	return n->cfg->audit_checkpoint_ms > SYNC_MS ? n->cfg->audit_checkpoint_ms : SYNC_MS;
}

struct restore {
	const char *path;
	int fd;
	size_t bytes, rows;
};

static int
restore_row(void *arg, uint64_t off, const uint8_t *frames, size_t len)
{
	struct restore *rs = arg;
	size_t k = 0;
	int r = auditlog_restore(rs->fd, off, frames, len, &k);

	if (r != 0)
		log_error("audit: %s: the frames the store keeps for bytes %llu..%llu %s", rs->path,
		    (unsigned long long)off, (unsigned long long)(off + len),
		    r == KETEN_ETAMPER ? "do not match the file, which holds other bytes there or "
		    "ends before them: it was altered; run `keten audit verify`" :
		    "cannot be put back into it");
	rs->bytes += k;
	rs->rows += r == 0;
	return r;
}

static int
row_seen(void *arg, uint64_t off, const uint8_t *frames, size_t len)
{
	(void)off, (void)frames, (void)len;
	*(int *)arg = 1;
	return 0;
}

/* Frames a crash kept from reaching the file go back from the store,
 * and are on disk before the node goes on. */
static int
audit_restore(struct node *n)
{
	struct restore rs = { n->cfg->audit_log, -1, 0, 0 };
	int r, any = 0;

	if ((rs.fd = open(n->cfg->audit_log, O_RDWR | O_CLOEXEC)) < 0) {
		if (errno != ENOENT) {
			log_error("audit: %s: %s", n->cfg->audit_log, strerror(errno));
			return KETEN_EIO;
		}
		/* a node whose log is gone starts a new one only when its store
		 * holds no frames of the old one */
		r = store_audit_each(n->store, row_seen, &any);
		if (r == 0 && any) {
			log_error("audit: %s is missing, but the store holds frames of it: the log "
			    "was removed; the node does not start without it", n->cfg->audit_log);
			return KETEN_ETAMPER;
		}
		return r;
	}
	r = store_audit_each(n->store, restore_row, &rs);
	/* every row was written again (auditlog_restore): all to disk, also
	 * when the file read the same */
	if (r == 0 && rs.rows > 0 && fdatasync(rs.fd) != 0) {
		log_error("audit: %s: cannot make the records put back durable: %s",
		    n->cfg->audit_log, strerror(errno));
		r = KETEN_EIO;
	}
	close(rs.fd);
	if (r == 0 && rs.bytes > 0)
		log_warn("audit: %s: %zu bytes of records a crash kept from the file were put back "
		    "from the store", n->cfg->audit_log, rs.bytes);
	return r;
}

static int
keys_open(struct node *n)
{
	const char *path = n->cfg->audit_keys;
	struct stat st;
	int r;

	if (stat(path, &st) != 0 && errno == ENOENT) {
		/* First start: the organisation's audit keys are made here.
		 * Whoever answers subject-access requests needs a copy. */
		if ((r = audit_keys_new(&n->audit_keys)) != 0 ||
		    (r = audit_keys_save(n->audit_keys, path)) != 0) {
			log_error("audit: %s: cannot create the audit keys: %s", path,
			    keten_strerror(r));
			return r;
		}
		log_warn("audit: made new audit keys in %s; the privacy officer needs a copy "
		    "to answer subject-access requests", path);
		return 0;
	}
	if ((r = audit_keys_load(path, &n->audit_keys)) != 0)
		log_error("audit: %s: %s", path, keten_strerror(r));
	return r;
}

int
node_audit_open(struct node *n)
{
	struct audit_event e;
	char detail[2 * PATH_MAX + 64];
	size_t torn = 0;
	int r;

#ifdef KETEN_BENCH_NO_AUDIT
	/* A benchmark build (build/variant/noaudit, `make bench`) that keeps
	 * no audit log, so that the node's throughput with its log can be set
	 * against the same node without it.  It is never installed. */
	(void)e, (void)detail, (void)torn, (void)r;
	log_warn("audit: benchmark build without an audit log");
	return 0;
#endif
	if ((r = keys_open(n)) != 0 || (r = audit_restore(n)) != 0)
		return r;
	r = auditlog_open(n->cfg->audit_log, n->oin, n->keys->sign_sk, n->keys->sign_pk,
	    n->audit_keys, n->cfg->audit_keys, &n->audit, &torn);
	if (r == KETEN_ETAMPER) {
		log_error("audit: %s does not match its own last checkpoint: it was altered; "
		    "run `keten audit verify %s` (the node does not start on it)",
		    n->cfg->audit_log, n->cfg->audit_log);
		return r;
	}
	if (r != 0) {
		log_error("audit: %s: %s", n->cfg->audit_log, keten_strerror(r));
		return r;
	}
	if (torn)
		log_warn("audit: %s ended in a torn write (%zu bytes, from a crash); cut off: it "
		    "held nothing that was acknowledged", n->cfg->audit_log, torn);
	/* paths are at most PATH_MAX each: detail has room; a longer one
	 * would be cut, and auditlog_append refuses a detail over 512 */
	snprintf(detail, sizeof(detail), "config %.200s; directory serial %llu; mandates %.200s",
	    n->cfg->path, (unsigned long long)directory_serial(n->dir),
	    n->cfg->mandates[0] ? n->cfg->mandates : "none");
	memset(&e, 0, sizeof(e));
	if (auditlog_key_changed(n->audit)) {
		/* a key change is a record of its own; the verifier takes the
		 * key it names for every checkpoint after it */
		e.event = KETEN__V1__AUDIT_EVENT__EVENT_KEY;
		e.key = n->keys->sign_pk;
		e.detail = "the node's signing key changed since its last checkpoint";
		if ((r = node_audit(n, &e)) != 0) {
			log_error("audit: %s: cannot write: %s", n->cfg->audit_log, keten_strerror(r));
			return r;
		}
		log_warn("audit: the node's signing key changed; recorded in the audit log");
	}
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_LOG_START;
	e.key = n->keys->sign_pk;
	e.detail = detail;
	if ((r = node_audit(n, &e)) != 0 ||
	    (r = auditlog_checkpoint(n->audit, 1, NULL)) != 0 ||
	    (r = auditlog_commit(n->audit)) != 0) {
		log_error("audit: %s: cannot write: %s", n->cfg->audit_log, keten_strerror(r));
		return r;
	}
	/* everything is on disk in the file now: the store's copy goes with
	 * the first turn */
	if ((r = node_txn(n)) != 0 || (r = store_audit_trim(n->store, UINT64_MAX)) != 0) {
		log_error("audit: store: %s", keten_strerror(r));
		return r;
	}
	n->audit_sync_ms = clock_now_ms();
	log_info("audit: %s: %llu records", n->cfg->audit_log,
	    (unsigned long long)auditlog_size(n->audit));
	return 0;
}

void
node_audit_close(struct node *n)
{
	struct audit_event e;
	int r;

	if (n->audit == NULL)
		return;
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_LOG_STOP;
	if ((r = auditlog_append(n->audit, &e)) != 0 ||
	    (r = auditlog_checkpoint(n->audit, 0, NULL)) != 0 ||
	    (r = auditlog_commit(n->audit)) != 0)
		log_error("audit: cannot write the last checkpoint: %s", keten_strerror(r));
	else if (node_txn(n) != 0 || store_audit_trim(n->store, UINT64_MAX) != 0 ||
	    store_commit(n->store) != 0)
		log_warn("audit: the store keeps a copy of frames that are on disk; dropped at the "
		    "next start");
	n->in_txn = 0;
	auditlog_destroy(&n->audit);
	audit_keys_destroy(&n->audit_keys);
}

int
node_audit(struct node *n, const struct audit_event *e)
{
	int r;

	if (n->audit == NULL)	/* only in a benchmark build (node_audit_open) */
		return 0;
	r = auditlog_append(n->audit, e);

	if (r != 0)
		log_error("audit: cannot record an event: %s", keten_strerror(r));
	return r;
}

int
node_audit_message(struct node *n, const struct node_audit_msg *m)
{
	const struct envelope_header *h = m->h;
	const char *subjects[PAYLOAD_MAX_SUBJECTS];
	uint8_t hash[32];
	char basis[512] = "";
	struct audit_event e;

	/* no log (a benchmark build): none of a record's fields is worked
	 * out either, not even the envelope's hash */
	if (n->audit == NULL)
		return 0;
	memset(&e, 0, sizeof(e));
	e.event = m->event;
	e.decision = m->decision;
	e.reason = m->reason;
	e.rule = m->rule;
	e.local_system = m->local_system;
	e.peer = m->peer;
	if (h != NULL) {
		e.msg_id = h->msg_id;
		e.kind = h->kind;
		e.sender = h->sender;
		e.recipients = (const char *const *)h->recipients;
		e.n_recipients = h->nrecipients;
		e.purpose = h->purpose;
		e.mandate_id = h->mandate_id;
		e.traceparent = h->traceparent;
	} else {
		e.msg_id = m->msg_id;
		e.kind = m->kind;
		e.sender = m->sender;
		e.recipients = m->recipients;
		e.n_recipients = m->n_recipients;
		e.purpose = m->purpose;
		e.mandate_id = m->mandate_id;
		e.traceparent = m->traceparent;
	}
	if (m->mandate != NULL) {
		e.mandate_id = m->mandate->id;
		snprintf(basis, sizeof(basis), "%s%s%s%s",
		    m->mandate->legal_basis ? m->mandate->legal_basis : "",
		    m->mandate->legal_basis_uri && m->mandate->legal_basis_uri[0] ? " <" : "",
		    m->mandate->legal_basis_uri ? m->mandate->legal_basis_uri : "",
		    m->mandate->legal_basis_uri && m->mandate->legal_basis_uri[0] ? ">" : "");
		e.legal_basis = basis;
	}
	if (m->wire_hash != NULL) {
		e.envelope_hash = m->wire_hash;
	} else if (m->env != NULL) {
		envelope_wire_hash(m->env, hash);
		e.envelope_hash = hash;
	}
	if (m->subjects != NULL) {
		for (size_t i = 0; i < m->subjects->n; i++)
			subjects[i] = m->subjects->id[i];
		e.subjects = subjects;
		e.n_subjects = m->subjects->n;
		e.pseudonyms = m->pseudonyms;
		e.pseudonyms_out = m->pseudonyms_out;
	}
	return node_audit(n, &e);
}

/* The file cannot take the log's records any more: they are durable in
 * the store and go back into the file at the next start (audit_restore).
 * The node stops, and its exit status says it failed. */
static void
audit_failed(struct node *n, const char *what, int r)
{
	if (!n->audit_failed)
		log_error("audit: %s: %s: %s; the records are kept in the store and put back "
		    "at the next start; the node stops", n->cfg->audit_log, what,
		    keten_strerror(r));
	n->audit_failed = 1;
	n->stopping = 1;
}

static int
audit_sync(struct node *n, uint64_t now)
{
	int r;

	if ((r = auditlog_sync(n->audit, &n->audit_synced)) != 0)
		audit_failed(n, "cannot make the file durable", r);
	else
		n->audit_sync_ms = now;
	return r;
}

/* Drop the store's copies of frames that are on disk in the file. */
static int
audit_trim(struct node *n)
{
	int r = 0;

	if (n->audit_synced > n->audit_trimmed &&
	    (r = store_audit_trim(n->store, n->audit_synced)) == 0)
		n->audit_trimmed = n->audit_synced;
	return r;
}

int
node_audit_commit(struct node *n, uint64_t now, int force)
{
	const uint8_t *frames;
	uint64_t off;
	size_t len;
	int r;

	if (n->audit == NULL)
		return 0;
	if (auditlog_size(n->audit) != auditlog_checkpointed_size(n->audit) &&
	    (force || now >= auditlog_last_checkpoint_ms(n->audit) + n->cfg->audit_checkpoint_ms) &&
	    (r = auditlog_checkpoint(n->audit, 0, NULL)) != 0) {
		log_error("audit: cannot sign a checkpoint: %s", keten_strerror(r));
		auditlog_rollback(n->audit);
		return r;
	}
	auditlog_staged(n->audit, &off, &frames, &len);
	if (len == 0 && !n->in_txn)
		return 0;
	/* the copies of what is on disk in the file go in the same commit,
	 * before this turn's are put: they make room */
	if ((r = node_txn(n)) != 0 || (r = audit_trim(n)) != 0)
		goto fail;
	if (len == 0)
		return 0;
	r = store_audit_put(n->store, off, frames, len);
	/* a full store: the file is made durable now, so that the copies of
	 * all that went before can go */
	if (r == KETEN_EFULL && auditlog_unsynced(n->audit) > 0 &&
	    (r = audit_sync(n, now)) == 0 && (r = audit_trim(n)) == 0)
		r = store_audit_put(n->store, off, frames, len);
	if (r == 0)
		return 0;
fail:
	log_error("audit: cannot keep this turn's records in the store: %s; its work is refused",
	    keten_strerror(r));
	return r;
}

void
node_audit_written(struct node *n, uint64_t now, int force)
{
	int r;

	if (n->audit == NULL)
		return;
	if ((r = auditlog_write(n->audit)) != 0) {
		/* the records are durable in the store; the file goes on only
		 * once they are back in it, at the next start */
		audit_failed(n, "cannot write", r);
		return;
	}
	/* With store_sync = normal the store's commit is not on disk yet:
	 * the file is made durable at every turn instead, so that no record
	 * is lost to a power cut even when the turn's other work may be. */
	if (!n->cfg->store_sync_full)
		force = 1;
	if (auditlog_unsynced(n->audit) == 0 ||
	    (!force && now < n->audit_sync_ms + sync_every(n) &&
	    auditlog_unsynced(n->audit) < SYNC_BYTES))
		return;
	(void)audit_sync(n, now);
}

uint64_t
node_audit_deadline(const struct node *n)
{
	uint64_t next = 0;

	if (n->audit == NULL)
		return 0;
	if (auditlog_size(n->audit) != auditlog_checkpointed_size(n->audit))
		next = auditlog_last_checkpoint_ms(n->audit) + n->cfg->audit_checkpoint_ms;
	/* a log that went quiet is still made durable in time */
	if (auditlog_unsynced(n->audit) > 0 &&
	    (next == 0 || n->audit_sync_ms + sync_every(n) < next))
		next = n->audit_sync_ms + sync_every(n);
	return next;
}

void
node_audit_config(struct node *n, int decision, const char *fmt, ...)
{
	struct audit_event e;
	char detail[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_CONFIG;
	e.decision = decision;
	e.detail = detail;
	(void)node_audit(n, &e);
}

/* Remove the bodies of a period whose key is destroyed.  The rewrite
 * moves frames: the store's copies, which name their place in the file,
 * go first, once the file is on disk, in a commit that is durable before
 * the rewrite (with store_sync = normal too: else a power cut could bring
 * back copies that name places in the old file). */
static int
prune_period(struct node *n, const char *name, uint64_t end, const char *policy, int again)
{
	uint64_t removed = 0;
	int r, back;

	if ((r = auditlog_sync(n->audit, &n->audit_synced)) != 0 ||
	    (r = store_sync_commits(n->store, 1)) != 0 ||
	    (r = node_txn(n)) != 0 || (r = audit_trim(n)) != 0 ||
	    (r = store_commit(n->store)) != 0) {
		if (n->in_txn)
			store_rollback(n->store);
		n->in_txn = 0;
		n->audit_trimmed = 0;	/* the removal of copies was rolled back */
		(void)store_sync_commits(n->store, 0);
		return r;
	}
	n->in_txn = 0;
	if ((back = store_sync_commits(n->store, 0)) != 0)
		log_warn("audit: store: %s; its commits stay synchronous", keten_strerror(back));
	r = auditlog_prune(n->audit, end, name, policy, again, &removed);
	/* offsets from here on are those of the rewritten file */
	if (auditlog_sync(n->audit, &n->audit_synced) == 0)
		n->audit_trimmed = n->audit_synced;
	if (r == 0)
		log_info("audit: retention (%s): key of %s destroyed, %llu record bodies removed",
		    policy, name, (unsigned long long)removed);
	return r;
}

void
node_audit_retention(struct node *n, uint64_t now)
{
	uint64_t keep = n->cfg->audit_retention_ms;
	const char *period;
	char policy[64], name[AUDIT_PERIOD_LEN + 1];
	int destroyed, r;

	if (keep == 0 || n->audit == NULL)
		return;
	snprintf(policy, sizeof(policy), "retention %llud",
	    (unsigned long long)(keep / (24ull * 3600 * 1000)));
	for (size_t i = 0; (period = audit_keys_period_at(n->audit_keys, i, &destroyed)) != NULL;
	    i++) {
		uint64_t end = audit_period_end(period);
		int again;

		if (end == 0 || end + keep > now)
			continue;
		snprintf(name, sizeof(name), "%s", period);
		/* a period whose key went but whose bodies stayed: again */
		again = destroyed && strcmp(name, n->audit_prune_due) == 0;
		if (destroyed && !again)
			continue;
		/* The key goes first: from this moment the period's subjects
		 * cannot be read, even if removing the bodies fails. */
		if (!destroyed && ((r = audit_keys_destroy_period(n->audit_keys, name)) != 0 ||
		    (r = audit_keys_save(n->audit_keys, n->cfg->audit_keys)) != 0)) {
			log_error("audit: retention: cannot destroy the key of %s: %s", name,
			    keten_strerror(r));
			return;
		}
		if ((r = prune_period(n, name, end, policy, again)) != 0) {
			snprintf(n->audit_prune_due, sizeof(n->audit_prune_due), "%s", name);
			log_error("audit: retention: key of %s destroyed, but the bodies could not "
			    "be removed: %s; tried again at the next check", name, keten_strerror(r));
			return;
		}
		n->audit_prune_due[0] = '\0';
	}
}

void
node_audit_free(struct node *n)
{
	if (n->audit != NULL)
		auditlog_rollback(n->audit);
	auditlog_destroy(&n->audit);
	audit_keys_destroy(&n->audit_keys);
}
