/*
 * store.c — see store.h.  Every statement is prepared once and kept; all
 * values are bound, never pasted into SQL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "err.h"
#include "local.pb-c.h"
#include "store.h"

#define SCHEMA_VERSION 1
/* Envelope bytes one due scan collects before it calls back. */
#define DUE_BYTES_MAX (64u << 20)

enum {
	ST_QUEUED = KETEN__V1__DELIVERY_STATE__STATE_QUEUED,
	ST_SENT = KETEN__V1__DELIVERY_STATE__STATE_SENT,
	ST_DELIVERED = KETEN__V1__DELIVERY_STATE__STATE_DELIVERED,
	ST_REFUSED = KETEN__V1__DELIVERY_STATE__STATE_REFUSED,
	ST_EXPIRED = KETEN__V1__DELIVERY_STATE__STATE_EXPIRED,
};

static const char schema[] =
    "CREATE TABLE seq(sender TEXT NOT NULL, rcpt TEXT NOT NULL, last INTEGER NOT NULL,"
    "  PRIMARY KEY(sender, rcpt)) WITHOUT ROWID;"
    "CREATE TABLE outbox(msg_id BLOB PRIMARY KEY, kind INTEGER NOT NULL,"
    "  local_system TEXT NOT NULL, case_ref TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL, digest BLOB NOT NULL, env BLOB NOT NULL);"
    "CREATE TABLE outbox_rcpt(msg_id BLOB NOT NULL, rcpt TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  state INTEGER NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, reason INTEGER NOT NULL DEFAULT 0,"
    "  reason_text TEXT, receipt BLOB, receipt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
    "  PRIMARY KEY(msg_id, rcpt)) WITHOUT ROWID;"
    "CREATE INDEX outbox_pending ON outbox_rcpt(created_at, seq) WHERE state IN (1, 2);"
    "CREATE INDEX outbox_rcpt_state ON outbox_rcpt(rcpt, state);"
    "CREATE TABLE inbox(id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL,"
    "  msg_id BLOB NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL,"
    "  case_ref TEXT NOT NULL, received_at INTEGER NOT NULL, env BLOB NOT NULL,"
    "  receipt BLOB NOT NULL, UNIQUE(sender, msg_id));"
    "CREATE TABLE refused(sender TEXT NOT NULL, msg_id BLOB NOT NULL, receipt BLOB NOT NULL,"
    "  PRIMARY KEY(sender, msg_id)) WITHOUT ROWID;"
    "CREATE TABLE relay(msg_id BLOB NOT NULL, rcpt TEXT NOT NULL, sender TEXT NOT NULL,"
    "  next_hop TEXT NOT NULL, expires_at INTEGER NOT NULL, env BLOB, attempts INTEGER NOT NULL,"
    "  next_at INTEGER NOT NULL, state INTEGER NOT NULL, receipt BLOB,"
    "  PRIMARY KEY(msg_id, rcpt, sender)) WITHOUT ROWID;"
    "CREATE INDEX relay_pending ON relay(next_at) WHERE state = 0;"
    "CREATE TABLE cursor(local_system TEXT NOT NULL, name TEXT NOT NULL, kinds INTEGER NOT NULL,"
    "  case_ref TEXT NOT NULL, last_acked INTEGER NOT NULL,"
    "  PRIMARY KEY(local_system, name)) WITHOUT ROWID;";

enum stmt_id {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_SEQ_GET, S_SEQ_SET,
	S_OUT_ADD, S_OUT_RCPT_ADD, S_OUT_MARK, S_OUT_DUE, S_OUT_EXPIRE, S_RELAY_EXPIRE,
	S_NEXT_OUT, S_NEXT_RELAY, S_OUT_RCPT_GET, S_OUT_FINAL, S_OUT_MSG, S_OUT_RCPTS,
	S_COUNTS, S_RELAY_COUNT, S_INBOX_COUNT, S_PEER_QUEUED,
	S_IN_ADD, S_IN_RECEIPT, S_REFUSED_ADD, S_REFUSED_GET, S_IN_LAST_SEQ, S_IN_MAX,
	S_RELAY_ADD, S_RELAY_DUE, S_RELAY_MARK, S_RELAY_FIND, S_RELAY_DONE, S_RELAY_RECEIPT,
	S_CUR_GET, S_CUR_ADD, S_CUR_FETCH, S_CUR_ACK, S_CUR_DEL,
	S_COUNT
};

static const char *const sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SEQ_GET] = "SELECT last FROM seq WHERE sender = ?1 AND rcpt = ?2",
	[S_SEQ_SET] = "INSERT INTO seq(sender, rcpt, last) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT(sender, rcpt) DO UPDATE SET last = excluded.last",
	[S_OUT_ADD] = "INSERT INTO outbox(msg_id, kind, local_system, case_ref, created_at,"
	    " expires_at, digest, env) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_OUT_RCPT_ADD] = "INSERT INTO outbox_rcpt(msg_id, rcpt, seq, state, attempts, next_at,"
	    " created_at, expires_at) VALUES (?1, ?2, ?3, 1, 0, ?4, ?4, ?5)",
	[S_OUT_MARK] = "UPDATE outbox_rcpt SET state = ?3, attempts = ?4, next_at = ?5,"
	    " last_error = coalesce(?6, last_error) WHERE msg_id = ?1 AND rcpt = ?2 AND state IN (1, 2)",
	[S_OUT_DUE] = "SELECT r.msg_id, r.rcpt, r.attempts, o.env FROM outbox_rcpt r"
	    " JOIN outbox o ON o.msg_id = r.msg_id"
	    " WHERE r.state IN (1, 2) AND r.next_at <= ?1 AND r.expires_at > ?1"
	    " ORDER BY r.created_at, r.seq LIMIT ?2",
	[S_OUT_EXPIRE] = "UPDATE outbox_rcpt SET state = 5 WHERE state IN (1, 2) AND expires_at <= ?1",
	[S_RELAY_EXPIRE] = "UPDATE relay SET state = 2, env = NULL WHERE state = 0 AND expires_at <= ?1",
	[S_NEXT_OUT] = "SELECT min(min(next_at, expires_at)) FROM outbox_rcpt WHERE state IN (1, 2)",
	[S_NEXT_RELAY] = "SELECT min(min(next_at, expires_at)) FROM relay WHERE state = 0",
	[S_OUT_RCPT_GET] = "SELECT r.state, r.reason, o.digest FROM outbox_rcpt r"
	    " JOIN outbox o ON o.msg_id = r.msg_id WHERE r.msg_id = ?1 AND r.rcpt = ?2",
	[S_OUT_FINAL] = "UPDATE outbox_rcpt SET state = ?3, reason = ?4, reason_text = ?5,"
	    " receipt = ?6, receipt_at = ?7 WHERE msg_id = ?1 AND rcpt = ?2",
	[S_OUT_MSG] = "SELECT kind, local_system, created_at, expires_at FROM outbox WHERE msg_id = ?1",
	[S_OUT_RCPTS] = "SELECT rcpt, state, attempts, receipt_at, reason, reason_text, receipt,"
	    " last_error FROM outbox_rcpt WHERE msg_id = ?1 ORDER BY seq, rcpt",
	[S_COUNTS] = "SELECT state, count(*) FROM outbox_rcpt GROUP BY state",
	[S_RELAY_COUNT] = "SELECT count(*) FROM relay WHERE state = 0",
	[S_INBOX_COUNT] = "SELECT count(*) FROM inbox",
	[S_PEER_QUEUED] = "SELECT count(*) FROM outbox_rcpt WHERE rcpt = ?1 AND state IN (1, 2)",
	[S_IN_ADD] = "INSERT INTO inbox(sender, msg_id, seq, kind, case_ref, received_at, env, receipt)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(sender, msg_id) DO NOTHING",
	[S_IN_RECEIPT] = "SELECT receipt FROM inbox WHERE sender = ?1 AND msg_id = ?2",
	[S_REFUSED_ADD] = "INSERT INTO refused(sender, msg_id, receipt) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT(sender, msg_id) DO NOTHING",
	[S_REFUSED_GET] = "SELECT receipt FROM refused WHERE sender = ?1 AND msg_id = ?2",
	[S_IN_LAST_SEQ] = "SELECT max(seq) FROM inbox WHERE sender = ?1",
	[S_IN_MAX] = "SELECT coalesce(max(id), 0) FROM inbox",
	[S_RELAY_ADD] = "INSERT INTO relay(msg_id, rcpt, sender, next_hop, expires_at, env, attempts,"
	    " next_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0)"
	    " ON CONFLICT(msg_id, rcpt, sender) DO NOTHING",
	[S_RELAY_DUE] = "SELECT msg_id, rcpt, attempts, env FROM relay"
	    " WHERE state = 0 AND next_at <= ?1 AND expires_at > ?1 ORDER BY next_at LIMIT ?2",
	[S_RELAY_MARK] = "UPDATE relay SET attempts = ?3, next_at = ?4"
	    " WHERE msg_id = ?1 AND rcpt = ?2 AND state = 0",
	[S_RELAY_FIND] = "SELECT sender FROM relay WHERE msg_id = ?1 AND rcpt = ?2",
	[S_RELAY_DONE] = "UPDATE relay SET state = 1, env = NULL, receipt = ?3"
	    " WHERE msg_id = ?1 AND rcpt = ?2",
	[S_RELAY_RECEIPT] = "SELECT receipt FROM relay WHERE msg_id = ?1 AND rcpt = ?2"
	    " AND sender = ?3 AND receipt IS NOT NULL",
	[S_CUR_GET] = "SELECT kinds, case_ref, last_acked FROM cursor"
	    " WHERE local_system = ?1 AND name = ?2",
	[S_CUR_ADD] = "INSERT INTO cursor(local_system, name, kinds, case_ref, last_acked)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_CUR_FETCH] = "SELECT id, sender, msg_id, kind, case_ref, seq, received_at, env FROM inbox"
	    " WHERE id > ?1 AND ((?2 >> kind) & 1) = 1 AND (?3 = '' OR case_ref = ?3)"
	    " ORDER BY id LIMIT ?4",
	[S_CUR_ACK] = "UPDATE cursor SET last_acked = max(last_acked, ?3)"
	    " WHERE local_system = ?1 AND name = ?2",
	[S_CUR_DEL] = "DELETE FROM cursor WHERE local_system = ?1 AND name = ?2",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[S_COUNT];
	int in_txn;
};

/* ------------------------------------------------------------------ */

static int
map(struct store *s, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return KETEN_EFULL;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return KETEN_ECORRUPT;
	case SQLITE_NOMEM:
		return KETEN_ENOMEM;
	case SQLITE_TOOBIG:
		return KETEN_ETOOBIG;
	default:
		(void)s;
		return KETEN_EDB;
	}
}

const char *
store_errmsg(const struct store *st)
{
	return st != NULL && st->db != NULL ? sqlite3_errmsg(st->db) : "no database";
}

/* The prepared statement id, reset and unbound. */
static sqlite3_stmt *
q(struct store *s, enum stmt_id id)
{
	sqlite3_stmt *x = s->st[id];

	sqlite3_reset(x);
	sqlite3_clear_bindings(x);
	return x;
}

static void
bind_text(sqlite3_stmt *x, int i, const char *v)
{
	sqlite3_bind_text(x, i, v, -1, SQLITE_STATIC);
}

static void
bind_blob(sqlite3_stmt *x, int i, const void *p, size_t n)
{
	sqlite3_bind_blob64(x, i, p, n, SQLITE_STATIC);
}

static void
bind_u64(sqlite3_stmt *x, int i, uint64_t v)
{
	sqlite3_bind_int64(x, i, (sqlite3_int64)v);
}

/* Run a statement that returns no rows. */
static int
run(struct store *s, sqlite3_stmt *x)
{
	int rc = sqlite3_step(x), r = map(s, rc);

	sqlite3_reset(x);
	return rc == SQLITE_DONE ? 0 : (r ? r : KETEN_EDB);
}

/* Step a query expected to give at most one row: 1 with a row (the
 * caller reads it, then resets), 0 without, or an error. */
static int
one(struct store *s, sqlite3_stmt *x)
{
	int rc = sqlite3_step(x);

	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(x);
	return rc == SQLITE_DONE ? 0 : map(s, rc) ? map(s, rc) : KETEN_EDB;
}

static int
copy_blob(sqlite3_stmt *x, int col, struct buf **out)
{
	const void *p = sqlite3_column_blob(x, col);
	size_t n = (size_t)sqlite3_column_bytes(x, col);
	struct buf *b = buf_new(n ? n : 1);

	if (b == NULL || (n && buf_put(b, p, n) != 0)) {
		buf_destroy(&b);
		return KETEN_ENOMEM;
	}
	*out = b;
	return 0;
}

/* ------------------------------------------------------------------ */
/* open and close */

static int
exec(struct store *s, const char *text)
{
	int rc = sqlite3_exec(s->db, text, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : (map(s, rc) ? map(s, rc) : KETEN_EDB);
}

static int
pragma_int(struct store *s, const char *text, int *v)
{
	sqlite3_stmt *x;
	int rc, r = KETEN_EDB;

	if ((rc = sqlite3_prepare_v2(s->db, text, -1, &x, NULL)) != SQLITE_OK)
		return map(s, rc) ? map(s, rc) : KETEN_EDB;
	if ((rc = sqlite3_step(x)) == SQLITE_ROW) {
		*v = sqlite3_column_int(x, 0);
		r = 0;
	} else {
		r = map(s, rc) ? map(s, rc) : KETEN_EDB;
	}
	sqlite3_finalize(x);
	return r;
}

static int
check_integrity(struct store *s)
{
	sqlite3_stmt *x;
	int rc, r = 0;

	if ((rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &x, NULL)) != SQLITE_OK)
		return map(s, rc) ? map(s, rc) : KETEN_ECORRUPT;
	while ((rc = sqlite3_step(x)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(x, 0);

		if (t == NULL || strcmp(t, "ok") != 0)
			r = KETEN_ECORRUPT;
	}
	if (rc != SQLITE_DONE && r == 0)
		r = map(s, rc) ? map(s, rc) : KETEN_ECORRUPT;
	sqlite3_finalize(x);
	return r;
}

int
store_open(const char *dir, int sync_full, struct store **out)
{
	struct store *s;
	char path[4096];
	struct stat sb;
	int r, version = 0;

	*out = NULL;
	if (dir == NULL || (size_t)snprintf(path, sizeof(path), "%s/node.db", dir) >= sizeof(path))
		return KETEN_EINVAL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return KETEN_EIO;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return KETEN_EIO;
	if (lstat(path, &sb) == 0 && (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid()))
		return KETEN_EIO;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KETEN_ENOMEM;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		r = s->db ? map(s, sqlite3_errcode(s->db)) : KETEN_ENOMEM;
		goto fail;
	}
	(void)chmod(path, 0600);
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, 5000);
	if ((r = check_integrity(s)) != 0)
		goto fail;
	if ((r = exec(s, "PRAGMA journal_mode = WAL")) != 0 ||
	    (r = exec(s, sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")) != 0 ||
	    (r = exec(s, "PRAGMA foreign_keys = ON")) != 0 ||
	    (r = exec(s, "PRAGMA secure_delete = ON")) != 0 ||
	    (r = pragma_int(s, "PRAGMA user_version", &version)) != 0)
		goto fail;
	if (version > SCHEMA_VERSION) {
		r = KETEN_ECORRUPT;
		goto fail;
	}
	if (version == 0) {
		char v[64];

		snprintf(v, sizeof(v), "PRAGMA user_version = %d;", SCHEMA_VERSION);
		if ((r = exec(s, "BEGIN")) != 0 || (r = exec(s, schema)) != 0 ||
		    (r = exec(s, v)) != 0 || (r = exec(s, "COMMIT")) != 0)
			goto fail;
	}
	for (int i = 0; i < S_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
		    NULL) != SQLITE_OK) {
			r = KETEN_EDB;
			goto fail;
		}
	*out = s;
	return 0;
fail:
	store_close(&s);
	return r;
}

void
store_close(struct store **sp)
{
	struct store *s;

	if (sp == NULL || (s = *sp) == NULL)
		return;
	if (s->in_txn)
		store_rollback(s);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close_v2(s->db);
	free(s);
	*sp = NULL;
}

int
store_begin(struct store *s)
{
	int r;

	if (s->in_txn)
		return KETEN_ESTATE;
	if ((r = run(s, q(s, S_BEGIN))) == 0)
		s->in_txn = 1;
	return r;
}

int
store_commit(struct store *s)
{
	int r;

	if (!s->in_txn)
		return KETEN_ESTATE;
	r = run(s, q(s, S_COMMIT));
	if (r == 0 || sqlite3_get_autocommit(s->db))
		s->in_txn = 0;
	return r;
}

void
store_rollback(struct store *s)
{
	if (s == NULL || !s->in_txn)
		return;
	if (!sqlite3_get_autocommit(s->db))
		(void)run(s, q(s, S_ROLLBACK));
	s->in_txn = 0;
}

/* ------------------------------------------------------------------ */
/* sequence numbers */

int
store_seq_next(struct store *s, const char *sender, const char *rcpt, uint64_t *seq)
{
	sqlite3_stmt *x = q(s, S_SEQ_GET);
	uint64_t last = 0;
	int r;

	bind_text(x, 1, sender);
	bind_text(x, 2, rcpt);
	if ((r = one(s, x)) < 0)
		return r;
	if (r == 1) {
		last = (uint64_t)sqlite3_column_int64(x, 0);
		sqlite3_reset(x);
	}
	x = q(s, S_SEQ_SET);
	bind_text(x, 1, sender);
	bind_text(x, 2, rcpt);
	bind_u64(x, 3, last + 1);
	if ((r = run(s, x)) != 0)
		return r;
	*seq = last + 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* outbox */

int
store_outbox_add(struct store *s, const uint8_t msg_id[16], int kind, const char *local_system,
    const char *case_ref, uint64_t created_at, uint64_t expires_at, const uint8_t digest[32],
    const uint8_t *env, size_t len, const char *const *rcpts, size_t n, const uint64_t *seqs)
{
	sqlite3_stmt *x = q(s, S_OUT_ADD);
	int rc;

	if (len > STORE_ENVELOPE_MAX)
		return KETEN_ETOOBIG;
	bind_blob(x, 1, msg_id, 16);
	sqlite3_bind_int(x, 2, kind);
	bind_text(x, 3, local_system);
	bind_text(x, 4, case_ref);
	bind_u64(x, 5, created_at);
	bind_u64(x, 6, expires_at);
	bind_blob(x, 7, digest, 32);
	bind_blob(x, 8, env, len);
	rc = sqlite3_step(x);
	sqlite3_reset(x);
	if (rc == SQLITE_CONSTRAINT)
		return KETEN_EEXIST;
	if (rc != SQLITE_DONE)
		return map(s, rc) ? map(s, rc) : KETEN_EDB;
	for (size_t i = 0; i < n; i++) {
		int r;

		x = q(s, S_OUT_RCPT_ADD);
		bind_blob(x, 1, msg_id, 16);
		bind_text(x, 2, rcpts[i]);
		bind_u64(x, 3, seqs ? seqs[i] : 0);
		bind_u64(x, 4, created_at);
		bind_u64(x, 5, expires_at);
		if ((r = run(s, x)) != 0)
			return r;
	}
	return 0;
}

int
store_outbox_mark(struct store *s, const uint8_t msg_id[16], const char *rcpt, int state,
    uint32_t attempts, uint64_t next_at, const char *last_error)
{
	sqlite3_stmt *x;

	if (state != ST_QUEUED && state != ST_SENT)
		return KETEN_EINVAL;
	x = q(s, S_OUT_MARK);
	bind_blob(x, 1, msg_id, 16);
	bind_text(x, 2, rcpt);
	sqlite3_bind_int(x, 3, state);
	sqlite3_bind_int64(x, 4, attempts);
	bind_u64(x, 5, next_at);
	if (last_error != NULL)
		bind_text(x, 6, last_error);
	return run(s, x);
}

struct due_row {
	uint8_t msg_id[16];
	char rcpt[21];
	uint32_t attempts;
	uint8_t *env;
	size_t len;
};

/* Collect the rows of a due query first (the callback writes to the same
 * tables), then call back for each. */
static int
due_scan(struct store *s, enum stmt_id id, uint64_t now, size_t limit, store_due_fn *fn,
    void *arg)
{
	sqlite3_stmt *x = q(s, id);
	struct due_row *rows;
	size_t n = 0, bytes = 0;
	int rc, r = 0;

	if (limit == 0)
		return 0;
	if ((rows = calloc(limit, sizeof(*rows))) == NULL)
		return KETEN_ENOMEM;
	bind_u64(x, 1, now);
	sqlite3_bind_int64(x, 2, (sqlite3_int64)limit);
	while (n < limit && bytes < DUE_BYTES_MAX && (rc = sqlite3_step(x)) == SQLITE_ROW) {
		struct due_row *d = &rows[n];
		const void *p = sqlite3_column_blob(x, 3);
		const char *rcpt = (const char *)sqlite3_column_text(x, 1);

		d->len = (size_t)sqlite3_column_bytes(x, 3);
		if (sqlite3_column_bytes(x, 0) != 16 || rcpt == NULL || strlen(rcpt) > 20 ||
		    p == NULL)
			continue;
		memcpy(d->msg_id, sqlite3_column_blob(x, 0), 16);
		memcpy(d->rcpt, rcpt, strlen(rcpt) + 1);
		d->attempts = (uint32_t)sqlite3_column_int64(x, 2);
		if ((d->env = malloc(d->len)) == NULL) {
			r = KETEN_ENOMEM;
			break;
		}
		memcpy(d->env, p, d->len);
		bytes += d->len;
		n++;
	}
	sqlite3_reset(x);
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			r = fn(arg, rows[i].msg_id, rows[i].rcpt, rows[i].attempts, rows[i].env,
			    rows[i].len);
		free(rows[i].env);
	}
	free(rows);
	return r;
}

int
store_outbox_due(struct store *s, uint64_t now, size_t limit, store_due_fn *fn, void *arg)
{
	return due_scan(s, S_OUT_DUE, now, limit, fn, arg);
}

int
store_outbox_expire(struct store *s, uint64_t now)
{
	sqlite3_stmt *x = q(s, S_OUT_EXPIRE);
	int r, n;

	bind_u64(x, 1, now);
	if ((r = run(s, x)) != 0)
		return r;
	n = sqlite3_changes(s->db);
	x = q(s, S_RELAY_EXPIRE);
	bind_u64(x, 1, now);
	if ((r = run(s, x)) != 0)
		return r;
	return n;
}

int
store_next_due(struct store *s, uint64_t *next)
{
	enum stmt_id ids[2] = { S_NEXT_OUT, S_NEXT_RELAY };
	int found = 0, r;

	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *x = q(s, ids[i]);

		if ((r = one(s, x)) < 0)
			return r;
		if (r == 1) {
			if (sqlite3_column_type(x, 0) != SQLITE_NULL) {
				uint64_t v = (uint64_t)sqlite3_column_int64(x, 0);

				if (!found || v < *next)
					*next = v;
				found = 1;
			}
			sqlite3_reset(x);
		}
	}
	return found ? 0 : KETEN_ENOTFOUND;
}

int
store_outbox_receipt(struct store *s, const uint8_t msg_id[16], const char *issuer,
    const uint8_t digest[32], int state, int reason, const char *reason_text,
    const uint8_t *body, size_t len, uint64_t issued_at)
{
	sqlite3_stmt *x = q(s, S_OUT_RCPT_GET);
	int r, cur, cur_reason;

	if (state != ST_DELIVERED && state != ST_REFUSED)
		return KETEN_EINVAL;
	bind_blob(x, 1, msg_id, 16);
	bind_text(x, 2, issuer);
	if ((r = one(s, x)) <= 0)
		return r == 0 ? KETEN_ENOTFOUND : r;
	cur = sqlite3_column_int(x, 0);
	cur_reason = sqlite3_column_int(x, 1);
	r = sqlite3_column_bytes(x, 2) == 32 && memcmp(sqlite3_column_blob(x, 2), digest, 32) == 0;
	sqlite3_reset(x);
	if (!r)
		return KETEN_ESTATE;
	if (cur == ST_DELIVERED || cur == ST_REFUSED)
		return cur == state && cur_reason == reason ? 0 : KETEN_ESTATE;
	/* An answer that arrives after the message expired here still
	 * says what happened: it is recorded. */
	x = q(s, S_OUT_FINAL);
	bind_blob(x, 1, msg_id, 16);
	bind_text(x, 2, issuer);
	sqlite3_bind_int(x, 3, state);
	sqlite3_bind_int(x, 4, reason);
	bind_text(x, 5, reason_text ? reason_text : "");
	bind_blob(x, 6, body, len);
	bind_u64(x, 7, issued_at);
	return run(s, x);
}

static char *
col_strdup(sqlite3_stmt *x, int col)
{
	const char *t = (const char *)sqlite3_column_text(x, col);

	return strdup(t ? t : "");
}

void
store_status_free(struct store_status **sp)
{
	struct store_status *st;

	if (sp == NULL || (st = *sp) == NULL)
		return;
	for (size_t i = 0; i < st->n; i++) {
		free(st->r[i].reason_text);
		free(st->r[i].receipt);
		free(st->r[i].last_error);
	}
	free(st->r);
	free(st);
	*sp = NULL;
}

int
store_outbox_status(struct store *s, const uint8_t msg_id[16], struct store_status **out)
{
	sqlite3_stmt *x = q(s, S_OUT_MSG);
	struct store_status *st;
	int r, rc;

	*out = NULL;
	bind_blob(x, 1, msg_id, 16);
	if ((r = one(s, x)) <= 0)
		return r == 0 ? KETEN_ENOTFOUND : r;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		sqlite3_reset(x);
		return KETEN_ENOMEM;
	}
	st->kind = sqlite3_column_int(x, 0);
	snprintf(st->local_system, sizeof(st->local_system), "%s",
	    (const char *)sqlite3_column_text(x, 1));
	st->created_at = (uint64_t)sqlite3_column_int64(x, 2);
	st->expires_at = (uint64_t)sqlite3_column_int64(x, 3);
	sqlite3_reset(x);
	x = q(s, S_OUT_RCPTS);
	bind_blob(x, 1, msg_id, 16);
	r = 0;
	while ((rc = sqlite3_step(x)) == SQLITE_ROW) {
		struct store_rcpt_status *g = realloc(st->r, (st->n + 1) * sizeof(*g)), *e;

		if (g == NULL) {
			r = KETEN_ENOMEM;
			break;
		}
		st->r = g;
		e = &st->r[st->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->oin, sizeof(e->oin), "%s", (const char *)sqlite3_column_text(x, 0));
		e->state = sqlite3_column_int(x, 1);
		e->attempts = (uint32_t)sqlite3_column_int64(x, 2);
		e->receipt_at = (uint64_t)sqlite3_column_int64(x, 3);
		e->reason = sqlite3_column_int(x, 4);
		e->reason_text = col_strdup(x, 5);
		e->last_error = col_strdup(x, 7);
		e->receipt_len = (size_t)sqlite3_column_bytes(x, 6);
		if (e->receipt_len && (e->receipt = malloc(e->receipt_len)) != NULL)
			memcpy(e->receipt, sqlite3_column_blob(x, 6), e->receipt_len);
		if (e->reason_text == NULL || e->last_error == NULL ||
		    (e->receipt_len && e->receipt == NULL)) {
			r = KETEN_ENOMEM;
			break;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = map(s, rc) ? map(s, rc) : KETEN_EDB;
	sqlite3_reset(x);
	if (r != 0) {
		store_status_free(&st);
		return r;
	}
	*out = st;
	return 0;
}

static int
count_one(struct store *s, sqlite3_stmt *x, uint64_t *v)
{
	int r = one(s, x);

	if (r < 0)
		return r;
	*v = r == 1 ? (uint64_t)sqlite3_column_int64(x, 0) : 0;
	sqlite3_reset(x);
	return 0;
}

int
store_counts(struct store *s, struct store_counts *c)
{
	sqlite3_stmt *x = q(s, S_COUNTS);
	int rc, r;

	memset(c, 0, sizeof(*c));
	while ((rc = sqlite3_step(x)) == SQLITE_ROW) {
		uint64_t n = (uint64_t)sqlite3_column_int64(x, 1);

		switch (sqlite3_column_int(x, 0)) {
		case ST_QUEUED: c->queued = n; break;
		case ST_SENT: c->sent = n; break;
		case ST_DELIVERED: c->delivered = n; break;
		case ST_REFUSED: c->refused = n; break;
		case ST_EXPIRED: c->expired = n; break;
		default: break;
		}
	}
	sqlite3_reset(x);
	if (rc != SQLITE_DONE)
		return map(s, rc) ? map(s, rc) : KETEN_EDB;
	if ((r = count_one(s, q(s, S_RELAY_COUNT), &c->relaying)) != 0)
		return r;
	return count_one(s, q(s, S_INBOX_COUNT), &c->inbox);
}

int
store_peer_queued(struct store *s, const char *oin, uint64_t *n)
{
	sqlite3_stmt *x = q(s, S_PEER_QUEUED);

	bind_text(x, 1, oin);
	return count_one(s, x, n);
}

/* ------------------------------------------------------------------ */
/* inbox */

int
store_inbox_add(struct store *s, const char *sender, const uint8_t msg_id[16], uint64_t seq,
    int kind, const char *case_ref, uint64_t received_at, const uint8_t *env, size_t len,
    const uint8_t *receipt, size_t rlen, int *dup)
{
	sqlite3_stmt *x = q(s, S_IN_ADD);
	int r;

	if (len > STORE_ENVELOPE_MAX)
		return KETEN_ETOOBIG;
	bind_text(x, 1, sender);
	bind_blob(x, 2, msg_id, 16);
	bind_u64(x, 3, seq);
	sqlite3_bind_int(x, 4, kind);
	bind_text(x, 5, case_ref);
	bind_u64(x, 6, received_at);
	bind_blob(x, 7, env, len);
	bind_blob(x, 8, receipt, rlen);
	if ((r = run(s, x)) != 0)
		return r;
	*dup = sqlite3_changes(s->db) == 0;
	return 0;
}

int
store_refusal_add(struct store *s, const char *sender, const uint8_t msg_id[16],
    const uint8_t *receipt, size_t rlen)
{
	sqlite3_stmt *x = q(s, S_REFUSED_ADD);

	bind_text(x, 1, sender);
	bind_blob(x, 2, msg_id, 16);
	bind_blob(x, 3, receipt, rlen);
	return run(s, x);
}

int
store_inbox_receipt(struct store *s, const char *sender, const uint8_t msg_id[16],
    struct buf **out)
{
	enum stmt_id ids[2] = { S_IN_RECEIPT, S_REFUSED_GET };

	*out = NULL;
	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *x = q(s, ids[i]);
		int r;

		bind_text(x, 1, sender);
		bind_blob(x, 2, msg_id, 16);
		if ((r = one(s, x)) < 0)
			return r;
		if (r == 1) {
			r = copy_blob(x, 0, out);
			sqlite3_reset(x);
			return r;
		}
	}
	return KETEN_ENOTFOUND;
}

int
store_inbox_last_seq(struct store *s, const char *sender, uint64_t *seq)
{
	sqlite3_stmt *x = q(s, S_IN_LAST_SEQ);

	bind_text(x, 1, sender);
	return count_one(s, x, seq);
}

/* ------------------------------------------------------------------ */
/* relay */

int
store_relay_add(struct store *s, const uint8_t msg_id[16], const char *sender, const char *rcpt,
    const char *next_hop, uint64_t expires_at, const uint8_t *env, size_t len)
{
	sqlite3_stmt *x = q(s, S_RELAY_ADD);
	int r;

	if (len > STORE_ENVELOPE_MAX)
		return KETEN_ETOOBIG;
	bind_blob(x, 1, msg_id, 16);
	bind_text(x, 2, rcpt);
	bind_text(x, 3, sender);
	bind_text(x, 4, next_hop);
	bind_u64(x, 5, expires_at);
	bind_blob(x, 6, env, len);
	if ((r = run(s, x)) != 0)
		return r;
	return sqlite3_changes(s->db) == 0 ? KETEN_EEXIST : 0;
}

int
store_relay_due(struct store *s, uint64_t now, size_t limit, store_due_fn *fn, void *arg)
{
	return due_scan(s, S_RELAY_DUE, now, limit, fn, arg);
}

int
store_relay_mark(struct store *s, const uint8_t msg_id[16], const char *rcpt, uint32_t attempts,
    uint64_t next_at)
{
	sqlite3_stmt *x = q(s, S_RELAY_MARK);

	bind_blob(x, 1, msg_id, 16);
	bind_text(x, 2, rcpt);
	sqlite3_bind_int64(x, 3, attempts);
	bind_u64(x, 4, next_at);
	return run(s, x);
}

int
store_relay_done(struct store *s, const uint8_t msg_id[16], const char *issuer,
    const uint8_t *body, size_t len, char sender[21])
{
	sqlite3_stmt *x = q(s, S_RELAY_FIND);
	const char *t;
	int r;

	bind_blob(x, 1, msg_id, 16);
	bind_text(x, 2, issuer);
	if ((r = one(s, x)) <= 0)
		return r == 0 ? KETEN_ENOTFOUND : r;
	t = (const char *)sqlite3_column_text(x, 0);
	snprintf(sender, 21, "%s", t ? t : "");
	sqlite3_reset(x);
	x = q(s, S_RELAY_DONE);
	bind_blob(x, 1, msg_id, 16);
	bind_text(x, 2, issuer);
	bind_blob(x, 3, body, len);
	return run(s, x);
}

int
store_relay_receipt(struct store *s, const char *sender, const uint8_t msg_id[16],
    const char *rcpt, struct buf **out)
{
	sqlite3_stmt *x = q(s, S_RELAY_RECEIPT);
	int r;

	*out = NULL;
	bind_blob(x, 1, msg_id, 16);
	bind_text(x, 2, rcpt);
	bind_text(x, 3, sender);
	if ((r = one(s, x)) <= 0)
		return r == 0 ? KETEN_ENOTFOUND : r;
	r = copy_blob(x, 0, out);
	sqlite3_reset(x);
	return r;
}

/* ------------------------------------------------------------------ */
/* cursors */

int
store_cursor_open(struct store *s, const char *local_system, const char *name, uint32_t kinds,
    const char *case_ref, uint64_t *last_acked)
{
	sqlite3_stmt *x = q(s, S_CUR_GET);
	int r;

	if (kinds == 0)
		return KETEN_EINVAL;
	bind_text(x, 1, local_system);
	bind_text(x, 2, name);
	if ((r = one(s, x)) < 0)
		return r;
	if (r == 1) {
		const char *c = (const char *)sqlite3_column_text(x, 1);
		int same = (uint32_t)sqlite3_column_int64(x, 0) == kinds && c != NULL &&
		    strcmp(c, case_ref) == 0;

		*last_acked = (uint64_t)sqlite3_column_int64(x, 2);
		sqlite3_reset(x);
		return same ? 0 : KETEN_ECURSOR;
	}
	/* A new cursor starts at the beginning of the inbox: a subscriber
	 * misses nothing that arrived before it first subscribed. */
	x = q(s, S_CUR_ADD);
	bind_text(x, 1, local_system);
	bind_text(x, 2, name);
	sqlite3_bind_int64(x, 3, kinds);
	bind_text(x, 4, case_ref);
	sqlite3_bind_int64(x, 5, 0);
	if ((r = run(s, x)) != 0)
		return r;
	*last_acked = 0;
	return 0;
}

int
store_cursor_fetch(struct store *s, const char *local_system, const char *name, size_t max,
    store_inbox_fn *fn, void *arg)
{
	sqlite3_stmt *x = q(s, S_CUR_GET);
	uint64_t kinds, last;
	char case_ref[256];
	int r, rc;

	bind_text(x, 1, local_system);
	bind_text(x, 2, name);
	if ((r = one(s, x)) <= 0)
		return r == 0 ? KETEN_ECURSOR : r;
	kinds = (uint64_t)sqlite3_column_int64(x, 0);
	snprintf(case_ref, sizeof(case_ref), "%s", (const char *)sqlite3_column_text(x, 1));
	last = (uint64_t)sqlite3_column_int64(x, 2);
	sqlite3_reset(x);
	x = q(s, S_CUR_FETCH);
	bind_u64(x, 1, last);
	bind_u64(x, 2, kinds);
	bind_text(x, 3, case_ref);
	sqlite3_bind_int64(x, 4, (sqlite3_int64)max);
	r = 0;
	/* The callback only reads: the rows are handed out as they come. */
	while (r == 0 && (rc = sqlite3_step(x)) == SQLITE_ROW) {
		const char *sender = (const char *)sqlite3_column_text(x, 1);
		const char *cref = (const char *)sqlite3_column_text(x, 4);

		if (sqlite3_column_bytes(x, 2) != 16) {
			r = KETEN_ECORRUPT;
			break;
		}
		r = fn(arg, (uint64_t)sqlite3_column_int64(x, 0), sender ? sender : "",
		    sqlite3_column_blob(x, 2), sqlite3_column_int(x, 3), cref ? cref : "",
		    (uint64_t)sqlite3_column_int64(x, 5), (uint64_t)sqlite3_column_int64(x, 6),
		    sqlite3_column_blob(x, 7), (size_t)sqlite3_column_bytes(x, 7));
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = map(s, rc) ? map(s, rc) : KETEN_EDB;
	sqlite3_reset(x);
	return r;
}

int
store_cursor_ack(struct store *s, const char *local_system, const char *name, uint64_t id)
{
	sqlite3_stmt *x = q(s, S_IN_MAX);
	uint64_t max = 0;
	int r;

	if ((r = count_one(s, x, &max)) != 0)
		return r;
	if (id > max)
		return KETEN_EINVAL;
	x = q(s, S_CUR_ACK);
	bind_text(x, 1, local_system);
	bind_text(x, 2, name);
	bind_u64(x, 3, id);
	if ((r = run(s, x)) != 0)
		return r;
	return sqlite3_changes(s->db) == 0 ? KETEN_ECURSOR : 0;
}

int
store_cursor_delete(struct store *s, const char *local_system, const char *name)
{
	sqlite3_stmt *x = q(s, S_CUR_DEL);
	int r;

	bind_text(x, 1, local_system);
	bind_text(x, 2, name);
	if ((r = run(s, x)) != 0)
		return r;
	return sqlite3_changes(s->db) == 0 ? KETEN_ECURSOR : 0;
}
