/*
 * test_store.c — the node's durable store: open and its refusals (foreign
 * owner, not a regular file, garbage, a damaged page, a newer schema,
 * another application's database), migration from schema 1, sequence
 * numbers, outbox (states, final states that never move back, receipts
 * and their idempotence, due order, expiry, next wake-up), inbox (dedup,
 * receipts and refusals, gaps), relay queue, durable cursors (filters,
 * reopen, ack, resume after close), audit frames kept with a turn,
 * transactions rolled back, a full
 * database (KETEN_EFULL through a size cap) and argument checks.
 * Every test runs in its own temporary directory, removed afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include "tap.h"

#define QUEUED KETEN__V1__DELIVERY_STATE__STATE_QUEUED
#define SENT KETEN__V1__DELIVERY_STATE__STATE_SENT
#define DELIVERED KETEN__V1__DELIVERY_STATE__STATE_DELIVERED
#define REFUSED KETEN__V1__DELIVERY_STATE__STATE_REFUSED
#define EXPIRED KETEN__V1__DELIVERY_STATE__STATE_EXPIRED

static const char *const A = "00000001000000000001";	/* this node */
static const char *const B = "00000001000000000002";
static const char *const C = "00000001000000000003";
static const char *const D = "00000001000000000004";
static const char *const R = "00000001000000000009";	/* a relay */

static const uint8_t env1[] = "envelope one";
static const uint8_t rc1[] = "receipt one";
static const uint8_t rc2[] = "receipt two";

/* ------------------------------------------------------------------ */
/* one temporary directory per test */

static char work[64];
static char state[128];

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
work_rm(void)
{
	if (work[0] != '\0') {
		if (nftw(work, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
			fprintf(stderr, "  could not remove %s\n", work);
		work[0] = '\0';
	}
}

/* A fresh directory; the store's state dir is a not yet existing
 * subdirectory of it. */
static void
work_new(void)
{
	work_rm();
	snprintf(work, sizeof(work), "/tmp/test_store.XXXXXX");
	if (mkdtemp(work) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(state, sizeof(state), "%s/state", work);
}

static struct store *
open_new(void)
{
	struct store *st = NULL;

	work_new();
	CHECK_EQ(store_open(state, 1, &st), 0);
	if (st == NULL) {
		fprintf(stderr, "  store_open: %s\n", store_errmsg(NULL));
		exit(1);	/* nothing below can run */
	}
	return st;
}

static void
done(struct store **st)
{
	store_close(st);
	CHECK(*st == NULL);
	work_rm();
}

static void
id_of(uint8_t id[16], int n)
{
	memset(id, 0, 16);
	id[0] = 0xaa;
	id[15] = (uint8_t)n;
	id[14] = (uint8_t)(n >> 8);
}

static uint8_t digest1[32] = { 1, 2, 3 };

/* A message to the given recipients, created at t, expiring at t + 1000. */
static int
add_msg(struct store *st, int n, uint64_t t, const char *const *rcpts, size_t nr)
{
	uint8_t id[16];
	uint64_t seqs[8];

	id_of(id, n);
	for (size_t i = 0; i < nr; i++)
		seqs[i] = (uint64_t)n;
	return store_outbox_add(st, id, 1, "zaaksysteem", "case-1", t, t + 1000, digest1, env1,
	    sizeof(env1), rcpts, nr, seqs);
}

static int
state_of(struct store *st, int n, const char *rcpt)
{
	struct store_status *ss = NULL;
	uint8_t id[16];
	int state_v = -1;

	id_of(id, n);
	if (store_outbox_status(st, id, &ss) != 0)
		return -1;
	for (size_t i = 0; i < ss->n; i++)
		if (strcmp(ss->r[i].oin, rcpt) == 0)
			state_v = ss->r[i].state;
	store_status_free(&ss);
	return state_v;
}

/* Run a query on the database file directly; the integer result. */
static long long
peek(const char *query)
{
	char path[160];
	sqlite3 *db = NULL;
	sqlite3_stmt *x = NULL;
	long long v = -1;

	snprintf(path, sizeof(path), "%s/node.db", state);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, query, -1, &x, NULL) == SQLITE_OK &&
	    sqlite3_step(x) == SQLITE_ROW)
		v = sqlite3_column_int64(x, 0);
	sqlite3_finalize(x);
	sqlite3_close(db);
	return v;
}

/* Run SQL on a database file of our own making. */
static int
raw_exec(const char *path, const char *text)
{
	sqlite3 *db = NULL;
	int rc;

	if ((rc = sqlite3_open(path, &db)) == SQLITE_OK)
		rc = sqlite3_exec(db, text, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* ------------------------------------------------------------------ */
/* open */

static void
test_open(void)
{
	struct store *st = open_new(), *again = NULL;
	char path[160];
	struct stat sb;
	char jm[16] = "";
	int page = 0;
	sqlite3 *db = NULL;
	sqlite3_stmt *x = NULL;

	CHECK(stat(state, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);
	snprintf(path, sizeof(path), "%s/node.db", state);
	CHECK(stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 0777) == 0600);
	CHECK(store_errmsg(st) != NULL);
	store_close(&st);
	store_close(&st);	/* idempotent */
	CHECK(st == NULL);
	store_close(NULL);
	/* reopen, WAL, schema version; one holder at a time */
	CHECK_EQ(store_open(state, 0, &again), 0);
	CHECK_EQ(store_open(state, 0, &st), KETEN_ELOCKED);
	CHECK(st == NULL && strstr(store_errmsg(NULL), "another ketend") != NULL);
	store_close(&again);
	CHECK_EQ(store_open(state, 0, &again), 0);
	store_close(&again);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &x, NULL) == SQLITE_OK &&
	    sqlite3_step(x) == SQLITE_ROW)
		snprintf(jm, sizeof(jm), "%s", (const char *)sqlite3_column_text(x, 0));
	sqlite3_finalize(x);
	x = NULL;
	if (db != NULL && sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &x, NULL) == SQLITE_OK &&
	    sqlite3_step(x) == SQLITE_ROW)
		page = sqlite3_column_int(x, 0);
	sqlite3_finalize(x);
	sqlite3_close(db);
	CHECK(strcmp(jm, "wal") == 0);
	CHECK_EQ(page, 8192);	/* a new store's pages */
	CHECK_EQ(peek("PRAGMA user_version"), 7);
	CHECK_EQ(peek("PRAGMA application_id"), 0x4b54454e);
	CHECK_EQ(store_open("", 1, &again), KETEN_EINVAL);
	CHECK(again == NULL);
	work_rm();
}

static void
test_open_refused(void)
{
	struct store *st = NULL;
	char path[160];

	/* node.db a directory, then a symbolic link */
	work_new();
	snprintf(path, sizeof(path), "%s/node.db", state);
	CHECK(mkdir(state, 0700) == 0 && mkdir(path, 0700) == 0);
	CHECK_EQ(store_open(state, 1, &st), KETEN_EIO);
	CHECK(st == NULL);
	CHECK(strstr(store_errmsg(NULL), "not a regular file") != NULL);
	CHECK(rmdir(path) == 0 && symlink("/etc/passwd", path) == 0);
	CHECK_EQ(store_open(state, 1, &st), KETEN_EIO);
	CHECK(unlink(path) == 0);
	/* a -wal that is not a regular file */
	snprintf(path, sizeof(path), "%s/node.db-wal", state);
	CHECK(mkdir(path, 0700) == 0);
	CHECK_EQ(store_open(state, 1, &st), KETEN_EIO);
	CHECK(rmdir(path) == 0);
	/* a directory others may write */
	CHECK(chmod(state, 0770) == 0);
	CHECK_EQ(store_open(state, 1, &st), KETEN_EIO);
	CHECK(strstr(store_errmsg(NULL), "writable") != NULL);
	CHECK(chmod(state, 0700) == 0);
	CHECK_EQ(store_open(state, 1, &st), 0);
	store_close(&st);
	/* a database someone else owns (needs root to make one) */
	snprintf(path, sizeof(path), "%s/node.db", state);
	if (geteuid() == 0) {
		CHECK(chown(path, 65534, 65534) == 0);
		CHECK_EQ(store_open(state, 1, &st), KETEN_EIO);
		CHECK(strstr(store_errmsg(NULL), "owned by uid 65534") != NULL);
		CHECK(st == NULL);
	} else {
		printf("  (not root: foreign owner case skipped)\n");
	}
	/* state_dir is a file */
	snprintf(path, sizeof(path), "%s/file", work);
	CHECK(raw_exec(path, "CREATE TABLE t(x)") == SQLITE_OK);
	CHECK_EQ(store_open(path, 1, &st), KETEN_EIO);
	work_rm();
}

static void
write_file(const char *path, const void *p, size_t n, off_t at)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(pwrite(fd, p, n, at) == (ssize_t)n);
	close(fd);
}

static void
test_corrupt(void)
{
	struct store *st = NULL;
	char path[160];
	uint8_t junk[8192], id[16];
	int dup;

	/* garbage where the database should be */
	work_new();
	CHECK(mkdir(state, 0700) == 0);
	snprintf(path, sizeof(path), "%s/node.db", state);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	write_file(path, junk, sizeof(junk), 0);
	CHECK_EQ(store_open(state, 1, &st), KETEN_ECORRUPT);
	CHECK(st == NULL);
	CHECK(store_errmsg(NULL)[0] != '\0');

	/* a good database with one damaged page */
	CHECK(unlink(path) == 0);
	CHECK_EQ(store_open(state, 1, &st), 0);
	for (int i = 0; st != NULL && i < 200; i++) {
		uint8_t big[600];

		memset(big, i, sizeof(big));
		id_of(id, i);
		CHECK_EQ(store_inbox_add(st, B, id, (uint64_t)i + 1, 1, "case", 1, big, sizeof(big),
		    rc1, sizeof(rc1), &dup), 0);
	}
	store_close(&st);
	/* the whole of the fourth page (a new store has 8 KiB pages) */
	memset(junk, 0x5a, sizeof(junk));
	write_file(path, junk, 8192, 8192 * 3);
	CHECK_EQ(store_open(state, 1, &st), KETEN_ECORRUPT);
	CHECK(st == NULL);
	CHECK(strstr(store_errmsg(NULL), "quick_check") != NULL ||
	    strstr(store_errmsg(NULL), "malformed") != NULL);

	/* a newer schema than this build knows */
	CHECK(unlink(path) == 0);
	CHECK_EQ(store_open(state, 1, &st), 0);
	store_close(&st);
	CHECK(raw_exec(path, "PRAGMA user_version = 99") == SQLITE_OK);
	CHECK_EQ(store_open(state, 1, &st), KETEN_ECORRUPT);
	CHECK(strstr(store_errmsg(NULL), "newer") != NULL);

	/* another program's database */
	CHECK(unlink(path) == 0);
	CHECK(raw_exec(path, "CREATE TABLE other(x); ") == SQLITE_OK);
	CHECK_EQ(store_open(state, 1, &st), KETEN_ECORRUPT);
	CHECK(strstr(store_errmsg(NULL), "not a keten database") != NULL);
	CHECK(unlink(path) == 0);
	CHECK(raw_exec(path, "PRAGMA application_id = 7; CREATE TABLE t(x); PRAGMA user_version = 1")
	    == SQLITE_OK);
	CHECK_EQ(store_open(state, 1, &st), KETEN_ECORRUPT);
	CHECK(st == NULL);
	work_rm();
}

/* A database made by the first schema opens, is migrated and keeps its
 * rows. */
static void
test_migrate_v1(void)
{
	static const char v1[] =
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
	    "  PRIMARY KEY(local_system, name)) WITHOUT ROWID;"
	    "INSERT INTO outbox VALUES (x'aa000000000000000000000000000001', 1, 'zs', 'c', 10, 2000,"
	    "  zeroblob(32), x'01');"
	    "INSERT INTO outbox_rcpt(msg_id, rcpt, seq, state, attempts, next_at, created_at,"
	    "  expires_at) VALUES (x'aa000000000000000000000000000001', '00000001000000000002',"
	    "  1, 1, 0, 10, 10, 2000);"
	    "INSERT INTO outbox_rcpt(msg_id, rcpt, seq, state, attempts, next_at, created_at,"
	    "  expires_at, reason, reason_text, receipt, receipt_at) VALUES"
	    "  (x'aa000000000000000000000000000001', '00000001000000000003', 4, 4, 2, 10, 10, 2000,"
	    "  24, 'wrong kind', x'0102', 77);"
	    /* sent, its next attempt later than its expiry: due at its expiry from 7 on */
	    "INSERT INTO outbox VALUES (x'aa000000000000000000000000000002', 1, 'zs', 'c', 11, 1500,"
	    "  zeroblob(32), x'01');"
	    "INSERT INTO outbox_rcpt(msg_id, rcpt, seq, state, attempts, next_at, created_at,"
	    "  expires_at) VALUES (x'aa000000000000000000000000000002', '00000001000000000002',"
	    "  2, 2, 1, 3000, 11, 1500);"
	    "INSERT INTO relay VALUES (x'bb000000000000000000000000000001', '00000001000000000003',"
	    "  '00000001000000000002', '00000001000000000009', 9000, x'01', 1, 50, 0, NULL);"
	    "INSERT INTO seq VALUES ('00000001000000000001', '00000001000000000002', 1);"
	    "PRAGMA user_version = 1;";
	struct store *st = NULL;
	struct store_status *ss = NULL;
	char path[160];
	uint8_t id[16];
	uint64_t seq = 0, next = 0;

	work_new();
	CHECK(mkdir(state, 0700) == 0);
	snprintf(path, sizeof(path), "%s/node.db", state);
	CHECK(raw_exec(path, v1) == SQLITE_OK);
	CHECK_EQ(store_open(state, 1, &st), 0);
	if (st != NULL) {
		CHECK_EQ(store_seq_next(st, A, B, &seq), 0);
		CHECK_EQ(seq, 2);
		CHECK_EQ(state_of(st, 2, B), SENT);
		CHECK_EQ(store_next_due(st, &next), 0);
		CHECK_EQ(next, 10);
		CHECK_EQ(state_of(st, 1, B), QUEUED);
		id_of(id, 1);
		CHECK_EQ(store_outbox_status(st, id, &ss), 0);
		if (ss != NULL && ss->n == 2) {
			CHECK_EQ(ss->r[1].state, REFUSED);
			CHECK_EQ(ss->r[1].attempts, 2);
			CHECK_EQ(ss->r[1].reason, 24);
			CHECK(strcmp(ss->r[1].reason_text, "wrong kind") == 0);
			CHECK(ss->r[1].receipt_len == 2 && ss->r[1].receipt[1] == 2);
			CHECK_EQ(ss->r[1].receipt_at, 77);
		}
		store_status_free(&ss);
		id_of(id, 5);
		CHECK_EQ(add_msg(st, 5, 20, (const char *const[]){ C, B }, 2), 0);
		CHECK_EQ(store_outbox_status(st, id, &ss), 0);
		CHECK(ss != NULL && ss->n == 2 && strcmp(ss->r[0].oin, C) == 0);
		store_status_free(&ss);
	}
	store_close(&st);
	CHECK_EQ(peek("PRAGMA user_version"), 7);
	CHECK_EQ(peek("SELECT count(*) FROM sqlite_master WHERE name = 'outbox_due'"), 1);
	CHECK_EQ(peek("SELECT count(*) FROM sqlite_master WHERE name IN ('outbox_exp',"
	    " 'outbox_peer')"), 0);
	CHECK_EQ(peek("SELECT next_at FROM outbox_rcpt WHERE seq = 2"), 1500);
	CHECK_EQ(peek("SELECT count(*) FROM sqlite_master WHERE name LIKE '%2'"), 0);
	CHECK_EQ(peek("SELECT count(*) FROM sqlite_master WHERE name = 'outbox_rcpt'"
	    " AND sql LIKE '%REFERENCES \"outbox\"%'"), 1);
	CHECK_EQ(peek("SELECT count(*) FROM pragma_foreign_key_check"), 0);
	CHECK_EQ(peek("SELECT count(*) FROM outbox_rcpt"), 5);
	CHECK_EQ(peek("SELECT count(*) FROM relay WHERE state = 0 AND next_at = 50"), 1);
	work_rm();
}

/* ------------------------------------------------------------------ */
/* sequence numbers */

static void
test_seq(void)
{
	struct store *st = open_new();
	uint64_t s = 0;

	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(s, 1);
	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(s, 2);
	CHECK_EQ(store_seq_next(st, A, C, &s), 0);
	CHECK_EQ(s, 1);
	CHECK_EQ(store_seq_next(st, B, A, &s), 0);
	CHECK_EQ(s, 1);
	/* a rolled-back number is given out again */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(s, 3);
	store_rollback(st);
	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(s, 3);
	/* numbers taken in a transaction are stored when it commits */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(s, 4);
	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(s, 5);
	CHECK_EQ(store_seq_next(st, A, C, &s), 0);
	CHECK_EQ(s, 2);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(s, 6);
	/* many streams, as many peers would give */
	for (unsigned i = 0; i < 100; i++) {
		char r[24];

		snprintf(r, sizeof(r), "000000030000000%05u", i);
		CHECK_EQ(store_seq_next(st, A, r, &s), 0);
		CHECK_EQ(s, 1);
	}
	/* persisted */
	store_close(&st);
	CHECK_EQ(store_open(state, 1, &st), 0);
	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(s, 7);
	CHECK_EQ(store_seq_next(st, A, C, &s), 0);
	CHECK_EQ(s, 3);
	CHECK_EQ(store_seq_next(st, A, "00000003000000000099", &s), 0);
	CHECK_EQ(s, 2);
	CHECK_EQ(store_seq_next(st, A, "", &s), KETEN_EINVAL);
	CHECK_EQ(store_seq_next(st, A, "000000010000000000021", &s), KETEN_EINVAL);
	done(&st);
}

/* ------------------------------------------------------------------ */
/* outbox */

static void
test_outbox_add_status(void)
{
	struct store *st = open_new();
	struct store_status *ss = NULL;
	const char *rc3[] = { D, B, C };
	const char *twice[] = { B, C, B };
	const char *longoin[] = { "000000010000000000021" };
	uint8_t id[16];
	uint64_t seqs[3] = { 7, 8, 9 };

	id_of(id, 1);
	CHECK_EQ(store_outbox_add(st, id, 5, "zaaksysteem", "case-9", 100, 5000, digest1, env1,
	    sizeof(env1), rc3, 3, seqs), 0);
	CHECK_EQ(store_outbox_add(st, id, 5, "zaaksysteem", "case-9", 100, 5000, digest1, env1,
	    sizeof(env1), rc3, 3, seqs), KETEN_EEXIST);
	CHECK_EQ(store_outbox_status(st, id, &ss), 0);
	if (ss != NULL) {
		CHECK_EQ(ss->kind, 5);
		CHECK_EQ(ss->created_at, 100);
		CHECK_EQ(ss->expires_at, 5000);
		CHECK(strcmp(ss->local_system, "zaaksysteem") == 0);
		CHECK_EQ(ss->n, 3);
		for (size_t i = 0; i < ss->n && i < 3; i++) {
			CHECK(strcmp(ss->r[i].oin, rc3[i]) == 0);	/* the order given */
			CHECK_EQ(ss->r[i].state, QUEUED);
			CHECK_EQ(ss->r[i].attempts, 0);
			CHECK_EQ(ss->r[i].receipt_at, 0);
			CHECK(ss->r[i].receipt == NULL && ss->r[i].receipt_len == 0);
			CHECK(ss->r[i].last_error != NULL && ss->r[i].last_error[0] == '\0');
			CHECK(ss->r[i].reason_text != NULL);
		}
	}
	store_status_free(&ss);
	store_status_free(&ss);
	/* added as sent to two of them: one write, the third still due now */
	id_of(id, 77);
	CHECK_EQ(store_outbox_add_sent(st, id, 5, "zaaksysteem", "case-9", 100, 5000, digest1, env1,
	    sizeof(env1), rc3, 3, seqs, (const uint64_t[]){ 900, 0, 950 }), 0);
	CHECK_EQ(store_outbox_status(st, id, &ss), 0);
	if (ss != NULL && ss->n == 3) {
		CHECK(ss->r[0].state == SENT && ss->r[0].attempts == 1);
		CHECK(ss->r[1].state == QUEUED && ss->r[1].attempts == 0);
		CHECK(ss->r[2].state == SENT && ss->r[2].attempts == 1);
	}
	store_status_free(&ss);
	CHECK(ss == NULL);
	/* a recipient given twice: refused, and nothing of it stays */
	id_of(id, 2);
	CHECK_EQ(store_outbox_add(st, id, 1, "zs", "", 1, 2, digest1, env1, sizeof(env1), twice, 3,
	    NULL), KETEN_EINVAL);
	CHECK_EQ(store_outbox_status(st, id, &ss), KETEN_ENOTFOUND);
	CHECK(ss == NULL);
	/* bad arguments */
	CHECK_EQ(store_outbox_add(st, id, 1, "zs", "", 1, 2, digest1, env1, 0, rc3, 3, NULL),
	    KETEN_EINVAL);
	CHECK_EQ(store_outbox_add(st, id, 1, "zs", "", 1, 2, digest1, env1, sizeof(env1), rc3, 0,
	    NULL), KETEN_EINVAL);
	CHECK_EQ(store_outbox_add(st, id, 1, "zs", "", 1, 2, digest1, env1, sizeof(env1), longoin,
	    1, NULL), KETEN_EINVAL);
	/* the size check comes before the bytes are read */
	CHECK_EQ(store_outbox_add(st, id, 1, "zs", "", 1, 2, digest1, env1,
	    (size_t)STORE_ENVELOPE_MAX + 1, rc3, 3, NULL), KETEN_ETOOBIG);
	CHECK_EQ(store_outbox_status(st, id, &ss), KETEN_ENOTFOUND);
	done(&st);
}

static void
test_outbox_mark(void)
{
	struct store *st = open_new();
	struct store_status *ss = NULL;
	uint8_t id[16], other[16];

	CHECK_EQ(add_msg(st, 1, 100, (const char *const[]){ B, C }, 2), 0);
	id_of(id, 1);
	id_of(other, 99);
	CHECK_EQ(store_outbox_mark(st, id, B, SENT, 1, 500, "peer down"), 0);
	CHECK_EQ(store_outbox_mark(st, id, C, QUEUED, 2, 600, NULL), 0);
	CHECK_EQ(store_outbox_status(st, id, &ss), 0);
	if (ss != NULL && ss->n == 2) {
		CHECK_EQ(ss->r[0].state, SENT);
		CHECK_EQ(ss->r[0].attempts, 1);
		CHECK(strcmp(ss->r[0].last_error, "peer down") == 0);
		CHECK_EQ(ss->r[1].state, QUEUED);
		CHECK_EQ(ss->r[1].attempts, 2);
	}
	store_status_free(&ss);
	/* NULL keeps the text, "" clears it */
	CHECK_EQ(store_outbox_mark(st, id, B, QUEUED, 2, 700, NULL), 0);
	CHECK_EQ(store_outbox_status(st, id, &ss), 0);
	CHECK(ss != NULL && strcmp(ss->r[0].last_error, "peer down") == 0);
	store_status_free(&ss);
	CHECK_EQ(store_outbox_mark(st, id, B, SENT, 3, 800, ""), 0);
	CHECK_EQ(store_outbox_status(st, id, &ss), 0);
	CHECK(ss != NULL && ss->r[0].last_error[0] == '\0' && ss->r[0].attempts == 3);
	store_status_free(&ss);
	/* only QUEUED and SENT may be marked */
	CHECK_EQ(store_outbox_mark(st, id, B, DELIVERED, 3, 800, NULL), KETEN_EINVAL);
	CHECK_EQ(store_outbox_mark(st, id, B, EXPIRED, 3, 800, NULL), KETEN_EINVAL);
	CHECK_EQ(store_outbox_mark(st, id, D, SENT, 3, 800, NULL), KETEN_ENOTFOUND);
	CHECK_EQ(store_outbox_mark(st, other, B, SENT, 3, 800, NULL), KETEN_ENOTFOUND);
	/* final states never move back */
	CHECK_EQ(store_outbox_receipt(st, id, B, digest1, DELIVERED, 0, NULL, rc1, sizeof(rc1), 900),
	    0);
	CHECK_EQ(store_outbox_mark(st, id, B, QUEUED, 9, 1, "again"), KETEN_ESTATE);
	CHECK_EQ(store_outbox_mark(st, id, B, SENT, 9, 1, NULL), KETEN_ESTATE);
	CHECK_EQ(state_of(st, 1, B), DELIVERED);
	CHECK_EQ(store_outbox_expire(st, 100000, NULL, NULL), 1);	/* only C */
	CHECK_EQ(state_of(st, 1, B), DELIVERED);
	CHECK_EQ(state_of(st, 1, C), EXPIRED);
	CHECK_EQ(store_outbox_mark(st, id, C, QUEUED, 9, 1, NULL), KETEN_ESTATE);
	CHECK_EQ(state_of(st, 1, C), EXPIRED);
	CHECK_EQ(store_outbox_status(st, id, &ss), 0);
	CHECK(ss != NULL && ss->r[0].attempts == 3 && ss->r[0].last_error[0] == '\0');
	store_status_free(&ss);
	done(&st);
}

static void
test_outbox_receipt(void)
{
	struct store *st = open_new();
	struct store_status *ss = NULL;
	uint8_t id[16], bad[32];

	CHECK_EQ(add_msg(st, 1, 100, (const char *const[]){ B, C, D }, 3), 0);
	id_of(id, 1);
	memset(bad, 9, sizeof(bad));
	/* not a recipient; unknown message; another envelope's digest */
	CHECK_EQ(store_outbox_receipt(st, id, A, digest1, DELIVERED, 0, NULL, rc1, sizeof(rc1), 1),
	    KETEN_ENOTFOUND);
	id[15] ^= 1;
	CHECK_EQ(store_outbox_receipt(st, id, B, digest1, DELIVERED, 0, NULL, rc1, sizeof(rc1), 1),
	    KETEN_ENOTFOUND);
	id[15] ^= 1;
	CHECK_EQ(store_outbox_receipt(st, id, B, bad, DELIVERED, 0, NULL, rc1, sizeof(rc1), 1),
	    KETEN_ESTATE);
	CHECK_EQ(state_of(st, 1, B), QUEUED);
	CHECK_EQ(store_outbox_receipt(st, id, B, digest1, QUEUED, 0, NULL, rc1, sizeof(rc1), 1),
	    KETEN_EINVAL);
	CHECK_EQ(store_outbox_receipt(st, id, B, digest1, DELIVERED, 0, NULL, rc1, 0, 1),
	    KETEN_EINVAL);
	/* delivered; the same receipt again changes nothing (EEXIST); the
	 * other outcome is refused */
	CHECK_EQ(store_outbox_receipt(st, id, B, digest1, DELIVERED, 0, NULL, rc1, sizeof(rc1), 150),
	    0);
	CHECK_EQ(store_outbox_receipt(st, id, B, digest1, DELIVERED, 0, NULL, rc1, sizeof(rc1), 150),
	    KETEN_EEXIST);
	CHECK_EQ(store_outbox_receipt(st, id, B, digest1, REFUSED, 20, "no mandate", rc2,
	    sizeof(rc2), 160), KETEN_ESTATE);
	/* refused, with reason; another reason later is refused */
	CHECK_EQ(store_outbox_receipt(st, id, C, digest1, REFUSED, 20, "no mandate", rc2,
	    sizeof(rc2), 170), 0);
	CHECK_EQ(store_outbox_receipt(st, id, C, digest1, REFUSED, 20, "no mandate", rc2,
	    sizeof(rc2), 170), KETEN_EEXIST);
	CHECK_EQ(store_outbox_receipt(st, id, C, digest1, REFUSED, 21, "expired", rc2,
	    sizeof(rc2), 170), KETEN_ESTATE);
	CHECK_EQ(store_outbox_receipt(st, id, C, digest1, DELIVERED, 0, NULL, rc1, sizeof(rc1), 170),
	    KETEN_ESTATE);
	/* expired here, then the signed answer comes: recorded */
	CHECK_EQ(store_outbox_expire(st, 100000, NULL, NULL), 1);
	CHECK_EQ(state_of(st, 1, D), EXPIRED);
	CHECK_EQ(store_outbox_receipt(st, id, D, digest1, DELIVERED, 0, NULL, rc1, sizeof(rc1), 180),
	    0);
	CHECK_EQ(state_of(st, 1, D), DELIVERED);
	CHECK_EQ(store_outbox_status(st, id, &ss), 0);
	if (ss != NULL && ss->n == 3) {
		CHECK_EQ(ss->r[0].state, DELIVERED);
		CHECK_EQ(ss->r[0].receipt_at, 150);
		CHECK(ss->r[0].receipt_len == sizeof(rc1) &&
		    memcmp(ss->r[0].receipt, rc1, sizeof(rc1)) == 0);
		CHECK_EQ(ss->r[1].state, REFUSED);
		CHECK_EQ(ss->r[1].reason, 20);
		CHECK(strcmp(ss->r[1].reason_text, "no mandate") == 0);
		CHECK(ss->r[1].receipt_len == sizeof(rc2) &&
		    memcmp(ss->r[1].receipt, rc2, sizeof(rc2)) == 0);
		CHECK_EQ(ss->r[1].receipt_at, 170);
	}
	store_status_free(&ss);
	done(&st);
}

struct seen {
	int n;
	char rcpt[16][21];
	char sender[16][21];
	int msg[16];
	uint32_t attempts[16];
	struct store *st;
	int mark;		/* mark each row SENT from inside the callback */
	int stop_at;		/* return 99 at this row (1-based); 0 never */
};

static int
seen_fn(void *arg, const uint8_t *msg_id, const char *rcpt, const char *sender,
    uint32_t attempts, const uint8_t *env, size_t len)
{
	struct seen *s = arg;

	snprintf(s->sender[s->n < 16 ? s->n : 0], 21, "%s", sender ? sender : "");
	if (s->n >= 16)
		return -1;
	snprintf(s->rcpt[s->n], 21, "%s", rcpt);
	s->msg[s->n] = msg_id[15] | msg_id[14] << 8;
	s->attempts[s->n] = attempts;
	CHECK(len == sizeof(env1) && memcmp(env, env1, len) == 0);
	s->n++;
	if (s->mark)
		CHECK_EQ(store_outbox_mark(s->st, msg_id, rcpt, SENT, attempts + 1, 1000000, NULL), 0);
	if (s->stop_at != 0 && s->n == s->stop_at)
		return 99;
	return 0;
}

static void
test_outbox_due(void)
{
	struct store *st = open_new();
	struct seen s;
	uint8_t id[16];
	uint64_t next = 0;

	CHECK_EQ(store_next_due(st, &next), KETEN_ENOTFOUND);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_outbox_due(st, 1000, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 0);
	/* added out of order of creation */
	CHECK_EQ(add_msg(st, 3, 300, (const char *const[]){ B }, 1), 0);
	CHECK_EQ(add_msg(st, 1, 100, (const char *const[]){ C, B }, 2), 0);
	CHECK_EQ(add_msg(st, 2, 200, (const char *const[]){ B }, 1), 0);
	CHECK_EQ(add_msg(st, 4, 5000, (const char *const[]){ B }, 1), 0);	/* not due yet */
	CHECK_EQ(store_next_due(st, &next), 0);
	CHECK_EQ(next, 100);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_outbox_due(st, 1000, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 4);
	CHECK_EQ(s.msg[0], 1);
	CHECK_EQ(s.msg[1], 1);
	CHECK_EQ(s.msg[2], 2);
	CHECK_EQ(s.msg[3], 3);
	CHECK_EQ(s.attempts[0], 0);
	/* the limit; a callback that stops */
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_outbox_due(st, 1000, 2, seen_fn, &s), 0);
	CHECK_EQ(s.n, 2);
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	CHECK_EQ(store_outbox_due(st, 1000, 10, seen_fn, &s), 99);
	CHECK_EQ(s.n, 1);
	/* a row put back with a later next_at comes after rows due earlier */
	id_of(id, 1);
	CHECK_EQ(store_outbox_mark(st, id, C, QUEUED, 1, 250, "no link"), 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_outbox_due(st, 1000, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 4);
	CHECK(s.msg[0] == 1 && strcmp(s.rcpt[0], B) == 0);
	CHECK_EQ(s.msg[1], 2);
	CHECK(s.msg[2] == 1 && strcmp(s.rcpt[2], C) == 0 && s.attempts[2] == 1);
	CHECK_EQ(s.msg[3], 3);
	/* marking from the callback is safe; marked rows are no longer due */
	memset(&s, 0, sizeof(s));
	s.st = st;
	s.mark = 1;
	CHECK_EQ(store_outbox_due(st, 1000, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 4);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_outbox_due(st, 1000, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 0);
	/* the earliest of next_at and expires_at: msg 1 expires at 1100 */
	CHECK_EQ(store_next_due(st, &next), 0);
	CHECK_EQ(next, 1100);
	/* expired rows are not due, even before store_outbox_expire */
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_outbox_due(st, 5500, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(s.msg[0], 4);
	CHECK_EQ(store_outbox_due(st, 5500, 0, seen_fn, &s), 0);
	done(&st);
}

static void
test_outbox_expire(void)
{
	struct store *st = open_new();
	struct store_counts c;
	uint8_t id[16];
	uint64_t next = 0, n = 0;

	CHECK_EQ(add_msg(st, 1, 100, (const char *const[]){ B, C }, 2), 0);	/* expires 1100 */
	CHECK_EQ(add_msg(st, 2, 200, (const char *const[]){ B }, 1), 0);		/* expires 1200 */
	id_of(id, 1);
	CHECK_EQ(store_outbox_mark(st, id, C, SENT, 1, 900, NULL), 0);
	CHECK_EQ(store_peer_queued(st, B, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(store_outbox_expire(st, 1099, NULL, NULL), 0);
	CHECK_EQ(store_outbox_expire(st, 1100, NULL, NULL), 2);
	CHECK_EQ(state_of(st, 1, B), EXPIRED);
	CHECK_EQ(state_of(st, 1, C), EXPIRED);
	CHECK_EQ(state_of(st, 2, B), QUEUED);
	CHECK_EQ(store_outbox_expire(st, 1100, NULL, NULL), 0);	/* again: nothing */
	CHECK_EQ(store_peer_queued(st, B, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(store_next_due(st, &next), 0);
	CHECK_EQ(next, 200);
	/* a next attempt later than the expiry: due at the expiry */
	id_of(id, 2);
	CHECK_EQ(store_outbox_mark(st, id, B, SENT, 1, 5000, NULL), 0);
	CHECK_EQ(store_next_due(st, &next), 0);
	CHECK_EQ(next, 1200);
	CHECK_EQ(store_outbox_expire(st, 1199, NULL, NULL), 0);
	CHECK_EQ(store_outbox_expire(st, 1200, NULL, NULL), 1);
	CHECK_EQ(store_next_due(st, &next), KETEN_ENOTFOUND);
	/* ... also when it is stored sent */
	{
		const char *const to[1] = { B };
		uint64_t seqs[1] = { 4 }, sent_next[1] = { (uint64_t)1 << 40 };

		id_of(id, 4);
		CHECK_EQ(store_outbox_add_sent(st, id, 1, "zaaksysteem", "case-1", 400, 1400, digest1,
		    env1, sizeof(env1), to, 1, seqs, sent_next), 0);
		CHECK_EQ(state_of(st, 4, B), SENT);
		CHECK_EQ(store_next_due(st, &next), 0);
		CHECK_EQ(next, 1400);
		CHECK_EQ(store_outbox_expire(st, 1399, NULL, NULL), 0);
		CHECK_EQ(store_outbox_expire(st, 1400, NULL, NULL), 1);
	}
	CHECK_EQ(store_counts(st, &c), 0);
	CHECK_EQ(c.expired, 4);
	CHECK_EQ(c.queued + c.sent + c.delivered + c.refused, 0);

	/* The outbox and the relay queue expire both or neither: a relay
	 * row that cannot be written keeps the outbox row queued too. */
	{
		char path[200];
		int r;

		snprintf(path, sizeof(path), "%s/node.db", state);
		CHECK_EQ(add_msg(st, 3, 300, (const char *const[]){ B }, 1), 0);	/* expires 1300 */
		id_of(id, 9);
		CHECK_EQ(store_relay_add(st, id, C, D, R, 1300, env1, sizeof(env1)), 0);
		CHECK(raw_exec(path, "CREATE TRIGGER boom BEFORE UPDATE ON relay BEGIN"
		    " SELECT RAISE(ABORT, 'injected'); END;") == SQLITE_OK);
		r = store_outbox_expire(st, 99999, NULL, NULL);
		CHECK(r < 0);
		CHECK_EQ(state_of(st, 3, B), QUEUED);
		/* inside a turn: the outbox rows were written, so the turn
		 * is refused, and rolled back they are queued still */
		CHECK_EQ(store_begin(st), 0);
		CHECK(store_outbox_expire(st, 99999, NULL, NULL) < 0);
		CHECK(store_commit(st) != 0);
		store_rollback(st);
		CHECK_EQ(state_of(st, 3, B), QUEUED);
		CHECK(raw_exec(path, "DROP TRIGGER boom;") == SQLITE_OK);
		CHECK_EQ(store_outbox_expire(st, 99999, NULL, NULL), 1);
		CHECK_EQ(state_of(st, 3, B), EXPIRED);
		CHECK_EQ(store_counts(st, &c), 0);
		CHECK_EQ(c.relaying, 0);
	}
	/* an envelope may expire past 2^63 - 1 ms: not wrapped into the past */
	id_of(id, 10);
	CHECK_EQ(store_relay_add(st, id, C, D, R, (uint64_t)1 << 63, env1, sizeof(env1)), 0);
	CHECK_EQ(store_outbox_expire(st, 99999, NULL, NULL), 0);
	CHECK_EQ(store_counts(st, &c), 0);
	CHECK_EQ(c.relaying, 1);
	done(&st);
}

static void
test_counts(void)
{
	struct store *st = open_new();
	struct store_counts c;
	uint8_t id[16];
	uint64_t n = 9;
	int dup;

	CHECK_EQ(store_counts(st, &c), 0);
	CHECK_EQ(c.queued + c.sent + c.delivered + c.refused + c.expired + c.relaying + c.inbox, 0);
	CHECK_EQ(add_msg(st, 1, 100, (const char *const[]){ B, C, D }, 3), 0);
	CHECK_EQ(add_msg(st, 2, 100, (const char *const[]){ B }, 1), 0);
	id_of(id, 1);
	CHECK_EQ(store_outbox_mark(st, id, B, SENT, 1, 500, NULL), 0);
	CHECK_EQ(store_outbox_receipt(st, id, C, digest1, DELIVERED, 0, NULL, rc1, sizeof(rc1), 1), 0);
	CHECK_EQ(store_outbox_receipt(st, id, D, digest1, REFUSED, 24, "", rc2, sizeof(rc2), 1), 0);
	CHECK_EQ(store_relay_add(st, id, C, D, R, 5000, env1, sizeof(env1)), 0);
	CHECK_EQ(store_inbox_add(st, C, id, 1, 1, "c", 1, env1, sizeof(env1), rc1, sizeof(rc1), &dup),
	    0);
	CHECK_EQ(store_counts(st, &c), 0);
	CHECK_EQ(c.queued, 1);
	CHECK_EQ(c.sent, 1);
	CHECK_EQ(c.delivered, 1);
	CHECK_EQ(c.refused, 1);
	CHECK_EQ(c.expired, 0);
	CHECK_EQ(c.relaying, 1);
	CHECK_EQ(c.inbox, 1);
	CHECK_EQ(store_peer_queued(st, B, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(store_peer_queued(st, C, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(store_peer_queued(st, "00000009999999999999", &n), 0);
	CHECK_EQ(n, 0);
	done(&st);
}

/* ------------------------------------------------------------------ */
/* inbox */

static void
test_inbox(void)
{
	struct store *st = open_new();
	struct buf *b = NULL;
	uint8_t id[16], id2[16], id3[16];
	uint64_t v = 99, max1 = 0;
	int dup = -1;

	id_of(id, 1);
	id_of(id2, 2);
	id_of(id3, 3);
	CHECK_EQ(store_inbox_max_id(st, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(store_inbox_last_seq(st, B, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(store_inbox_receipt(st, B, id, &b), KETEN_ENOTFOUND);
	CHECK(b == NULL);
	CHECK_EQ(store_inbox_add(st, B, id, 5, 1, "c1", 10, env1, sizeof(env1), rc1, sizeof(rc1),
	    &dup), 0);
	CHECK_EQ(dup, 0);
	/* the same (sender, msg_id) again: nothing changes */
	CHECK_EQ(store_inbox_add(st, B, id, 6, 2, "c2", 11, env1, sizeof(env1), rc2, sizeof(rc2),
	    &dup), 0);
	CHECK_EQ(dup, 1);
	CHECK_EQ(store_inbox_receipt(st, B, id, &b), 0);
	CHECK(b != NULL && buf_len(b) == sizeof(rc1) && memcmp(buf_ptr(b), rc1, sizeof(rc1)) == 0);
	buf_destroy(&b);
	/* the same msg_id from another sender is another message */
	CHECK_EQ(store_inbox_add(st, C, id, 1, 1, "c1", 12, env1, sizeof(env1), rc2, sizeof(rc2),
	    &dup), 0);
	CHECK_EQ(dup, 0);
	CHECK_EQ(store_inbox_add(st, B, id2, 7, 1, "c1", 13, env1, sizeof(env1), rc1, sizeof(rc1),
	    &dup), 0);
	CHECK_EQ(store_inbox_max_id(st, &v), 0);
	CHECK(v >= 3);
	max1 = v;
	CHECK_EQ(store_inbox_last_seq(st, B, &v), 0);
	CHECK_EQ(v, 7);
	CHECK_EQ(store_inbox_last_seq(st, C, &v), 0);
	CHECK_EQ(v, 1);
	/* a duplicate's number is not the sender's last; a number of a turn
	 * rolled back is not either, nor one read inside it */
	CHECK_EQ(store_inbox_add(st, B, id, 100, 1, "c1", 14, env1, sizeof(env1), rc1, sizeof(rc1),
	    &dup), 0);
	CHECK_EQ(dup, 1);
	CHECK_EQ(store_inbox_last_seq(st, B, &v), 0);
	CHECK_EQ(v, 7);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_inbox_add(st, B, id3, 9, 1, "c1", 15, env1, sizeof(env1), rc1, sizeof(rc1),
	    &dup), 0);
	CHECK_EQ(store_inbox_last_seq(st, B, &v), 0);
	CHECK_EQ(v, 9);
	CHECK_EQ(store_inbox_add(st, D, id3, 4, 1, "c1", 15, env1, sizeof(env1), rc1, sizeof(rc1),
	    &dup), 0);
	CHECK_EQ(store_inbox_last_seq(st, D, &v), 0);
	CHECK_EQ(v, 4);
	store_rollback(st);
	CHECK_EQ(store_inbox_last_seq(st, B, &v), 0);
	CHECK_EQ(v, 7);
	CHECK_EQ(store_inbox_last_seq(st, D, &v), 0);
	CHECK_EQ(v, 0);
	/* refusals answer duplicates too, always with the first receipt */
	CHECK_EQ(store_refusal_add(st, B, id3, rc2, sizeof(rc2)), 0);
	CHECK_EQ(store_refusal_add(st, B, id3, rc1, sizeof(rc1)), 0);
	CHECK_EQ(store_inbox_receipt(st, B, id3, &b), 0);
	CHECK(b != NULL && buf_len(b) == sizeof(rc2) && memcmp(buf_ptr(b), rc2, sizeof(rc2)) == 0);
	buf_destroy(&b);
	CHECK_EQ(store_inbox_receipt(st, C, id3, &b), KETEN_ENOTFOUND);
	/* arguments */
	CHECK_EQ(store_inbox_add(st, B, id3, 1, 1, "c", 1, env1, 0, rc1, sizeof(rc1), &dup),
	    KETEN_EINVAL);
	CHECK_EQ(store_inbox_add(st, B, id3, 1, 1, "c", 1, env1, sizeof(env1), NULL, 0, &dup),
	    KETEN_EINVAL);
	CHECK_EQ(store_inbox_add(st, B, id3, 1, 1, "c", 1, env1, (size_t)STORE_ENVELOPE_MAX + 1, rc1,
	    sizeof(rc1), &dup), KETEN_ETOOBIG);
	CHECK_EQ(store_refusal_add(st, B, id3, rc1, 0), KETEN_EINVAL);
	CHECK_EQ(store_inbox_max_id(st, &v), 0);
	CHECK_EQ(v, max1);
	/* ids keep growing across a restart */
	store_close(&st);
	CHECK_EQ(store_open(state, 1, &st), 0);
	CHECK_EQ(store_inbox_add(st, D, id, 1, 1, "c", 1, env1, sizeof(env1), rc1, sizeof(rc1), &dup),
	    0);
	CHECK_EQ(store_inbox_max_id(st, &v), 0);
	CHECK(v > max1);
	done(&st);
}

/* ------------------------------------------------------------------ */
/* relay */

/* A link comes up: its backlog is made due (wake) and goes out before
 * anything queued after the wake, even a row whose created_at (its first
 * next_at) is earlier than the wake: submitted while the link was down,
 * stored in the turn that found it connected. */
static void
test_wake_order(void)
{
	struct store *st = open_new();
	struct seen s;
	uint8_t id[16], id2[16];

	/* the backlog: tried while the link was down, due again at 2000+ */
	CHECK_EQ(add_msg(st, 1, 100, (const char *const[]){ B }, 1), 0);
	CHECK_EQ(add_msg(st, 2, 110, (const char *const[]){ B }, 1), 0);
	id_of(id, 1);
	CHECK_EQ(store_outbox_mark(st, id, B, QUEUED, 1, 2000, "no link"), 0);
	id_of(id, 2);
	CHECK_EQ(store_outbox_mark(st, id, B, QUEUED, 1, 2010, "no link"), 0);
	CHECK_EQ(store_outbox_wake(st, B), 2);	/* the link is up at 1050 */
	/* stored after the wake, created before it (next_at 1000, 1050) */
	CHECK_EQ(add_msg(st, 3, 1000, (const char *const[]){ B }, 1), 0);
	CHECK_EQ(add_msg(st, 4, 1050, (const char *const[]){ B }, 1), 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_outbox_due(st, 1050, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 4);
	CHECK(s.msg[0] == 1 && s.msg[1] == 2 && s.msg[2] == 3 && s.msg[3] == 4);
	/* the same for relayed envelopes to a next hop */
	id_of(id, 5);
	id_of(id2, 6);
	CHECK_EQ(store_relay_add(st, id, C, D, R, 5000, env1, sizeof(env1)), 0);
	CHECK_EQ(store_relay_mark(st, id, D, C, 1, 2000), 0);
	CHECK_EQ(store_relay_wake(st, R), 1);
	CHECK_EQ(store_relay_add(st, id2, C, D, R, 5000, env1, sizeof(env1)), 0);
	CHECK_EQ(store_relay_mark(st, id2, D, C, 0, 1000), 0);	/* queued behind it */
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_relay_due(st, 1050, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 2);
	CHECK(s.msg[0] == 5 && s.msg[1] == 6);
	done(&st);
}

static void
test_relay(void)
{
	struct store *st = open_new();
	struct seen s;
	struct buf *b = NULL;
	uint8_t id[16], id2[16];
	uint64_t next = 0;

	id_of(id, 1);
	id_of(id2, 2);
	CHECK_EQ(store_relay_add(st, id, B, C, R, 5000, env1, sizeof(env1)), 0);
	CHECK_EQ(store_relay_add(st, id, B, C, R, 5000, env1, sizeof(env1)), KETEN_EEXIST);
	CHECK_EQ(store_relay_add(st, id, B, D, R, 5000, env1, sizeof(env1)), 0);	/* 2nd rcpt */
	CHECK_EQ(store_relay_add(st, id2, B, C, C, 3000, env1, sizeof(env1)), 0);
	CHECK_EQ(store_relay_add(st, id2, B, C, C, 3000, env1, 0), KETEN_EINVAL);
	CHECK_EQ(store_next_due(st, &next), 0);
	CHECK_EQ(next, 0);	/* due at once */
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_relay_due(st, 100, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 3);
	/* marked: due later */
	CHECK_EQ(store_relay_mark(st, id, C, B, 1, 400), 0);
	CHECK_EQ(store_relay_mark(st, id, D, B, 1, 300), 0);
	CHECK_EQ(store_relay_mark(st, id2, C, B, 1, 500), 0);
	CHECK_EQ(store_relay_mark(st, id2, D, B, 1, 500), KETEN_ENOTFOUND);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_relay_due(st, 200, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 0);
	CHECK_EQ(store_next_due(st, &next), 0);
	CHECK_EQ(next, 300);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_relay_due(st, 450, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 2);
	CHECK(s.msg[0] == 1 && strcmp(s.rcpt[0], D) == 0 && s.attempts[0] == 1);
	CHECK(s.msg[1] == 1 && strcmp(s.rcpt[1], C) == 0);
	CHECK(strcmp(s.sender[0], B) == 0 && strcmp(s.sender[1], B) == 0);
	/* another sender's message under the same msg_id, to the same
	 * recipient: marking one row leaves the other's schedule alone */
	CHECK_EQ(store_relay_add(st, id, D, C, R, 2500, env1, sizeof(env1)), 0);
	CHECK_EQ(store_relay_mark(st, id, C, D, 3, 2000), 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_relay_due(st, 450, 10, seen_fn, &s), 0);
	CHECK(s.n == 2 && strcmp(s.sender[1], B) == 0 && s.attempts[1] == 1);
	CHECK_EQ(store_relay_mark(st, id, C, A, 3, 2000), KETEN_ENOTFOUND);
	/* the receipt comes back */
	CHECK_EQ(store_relay_receipt(st, B, id, C, &b), KETEN_ENOTFOUND);
	CHECK_EQ(store_relay_done(st, id, A, B, rc1, sizeof(rc1)), KETEN_ENOTFOUND);
	/* a receipt naming another sender under the same msg_id touches nothing */
	CHECK_EQ(store_relay_done(st, id, C, A, rc1, sizeof(rc1)), KETEN_ENOTFOUND);
	CHECK_EQ(store_relay_receipt(st, B, id, C, &b), KETEN_ENOTFOUND);
	CHECK_EQ(store_relay_done(st, id, C, B, rc1, sizeof(rc1)), 0);
	CHECK_EQ(store_relay_done(st, id, C, B, rc1, sizeof(rc1)), 0);	/* repeated */
	CHECK_EQ(store_relay_receipt(st, B, id, C, &b), 0);
	CHECK(b != NULL && buf_len(b) == sizeof(rc1) && memcmp(buf_ptr(b), rc1, sizeof(rc1)) == 0);
	buf_destroy(&b);
	CHECK_EQ(store_relay_receipt(st, C, id, C, &b), KETEN_ENOTFOUND);	/* other sender */
	CHECK_EQ(store_relay_mark(st, id, C, B, 2, 1), KETEN_ESTATE);
	/* done rows are kept: a duplicate envelope is recognised */
	CHECK_EQ(store_relay_add(st, id, B, C, R, 5000, env1, sizeof(env1)), KETEN_EEXIST);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_relay_due(st, 1000, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 2);	/* id to D, id2 to C */
	/* expiry: id2 at 3000, id to D at 5000 */
	CHECK_EQ(store_outbox_expire(st, 3000, NULL, NULL), 0);	/* counts outbox rows only */
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store_relay_due(st, 3001, 10, seen_fn, &s), 0);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(store_relay_mark(st, id2, C, B, 2, 1), KETEN_ESTATE);
	CHECK_EQ(store_outbox_expire(st, 5000, NULL, NULL), 0);
	CHECK_EQ(store_next_due(st, &next), KETEN_ENOTFOUND);
	/* a receipt after expiry is still kept and passed back */
	CHECK_EQ(store_relay_done(st, id2, C, B, rc2, sizeof(rc2)), 0);
	CHECK_EQ(store_relay_receipt(st, B, id2, C, &b), 0);
	buf_destroy(&b);
	done(&st);
}

/* ------------------------------------------------------------------ */
/* cursors */

struct got {
	int n;
	uint64_t id[16];
	int kind[16];
	char case_ref[16][16];
	int stop;
};

static int
got_fn(void *arg, uint64_t id, const char *sender, const uint8_t *msg_id, int kind,
    const char *case_ref, uint64_t seq, uint64_t received_at, const uint8_t *env, size_t len)
{
	struct got *g = arg;

	(void)msg_id;
	(void)seq;
	(void)received_at;
	CHECK(sender != NULL && strlen(sender) == 20);
	CHECK(len == sizeof(env1) && memcmp(env, env1, len) == 0);
	if (g->n >= 16)
		return -1;
	g->id[g->n] = id;
	g->kind[g->n] = kind;
	snprintf(g->case_ref[g->n], 16, "%s", case_ref);
	g->n++;
	return g->stop && g->n == g->stop ? 77 : 0;
}

static void
inbox_fill(struct store *st)
{
	/* ids 1..6: kinds 1 2 1 5 1 5, cases a b a a b a */
	static const int kinds[] = { 1, 2, 1, 5, 1, 5 };
	static const char *const cases[] = { "a", "b", "a", "a", "b", "a" };
	uint8_t id[16];
	int dup;

	for (int i = 0; i < 6; i++) {
		id_of(id, 100 + i);
		CHECK_EQ(store_inbox_add(st, B, id, (uint64_t)i + 1, kinds[i], cases[i], 1, env1,
		    sizeof(env1), rc1, sizeof(rc1), &dup), 0);
	}
}

static void
test_cursor(void)
{
	struct store *st = open_new();
	struct got g;
	uint64_t last = 99;

	inbox_fill(st);
	CHECK_EQ(store_cursor_fetch(st, "zs", "c1", 0, 10, got_fn, &g), KETEN_ECURSOR);
	CHECK_EQ(store_cursor_open(st, "zs", "c1", 1u << 1 | 1u << 5, "", &last), 0);
	CHECK_EQ(last, 0);
	CHECK_EQ(store_cursor_open(st, "zs", "c1", 1u << 1 | 1u << 5, "", &last), 0);	/* reopen */
	CHECK_EQ(store_cursor_open(st, "zs", "c1", 1u << 1, "", &last), KETEN_ECURSOR);
	CHECK_EQ(store_cursor_open(st, "zs", "c1", 1u << 1 | 1u << 5, "a", &last), KETEN_ECURSOR);
	CHECK_EQ(store_cursor_open(st, "zs", "c1", 0, "", &last), KETEN_EINVAL);
	/* names are per local system */
	CHECK_EQ(store_cursor_open(st, "other", "c1", 1u << 5, "a", &last), 0);
	/* kinds 1 and 5: ids 1 3 4 5 6 */
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "zs", "c1", 0, 10, got_fn, &g), 0);
	CHECK_EQ(g.n, 5);
	CHECK(g.id[0] == 1 && g.id[1] == 3 && g.id[2] == 4 && g.id[3] == 5 && g.id[4] == 6);
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "zs", "c1", 0, 2, got_fn, &g), 0);
	CHECK_EQ(g.n, 2);
	CHECK_EQ(g.id[1], 3);
	memset(&g, 0, sizeof(g));
	g.stop = 1;
	CHECK_EQ(store_cursor_fetch(st, "zs", "c1", 0, 10, got_fn, &g), 77);
	/* kind 5, case a: ids 4 6 */
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "other", "c1", 0, 10, got_fn, &g), 0);
	CHECK_EQ(g.n, 2);
	CHECK(g.id[0] == 4 && g.id[1] == 6 && g.kind[0] == 5 && strcmp(g.case_ref[1], "a") == 0);
	/* ack: forward only, not past the inbox */
	CHECK_EQ(store_cursor_ack(st, "zs", "c1", 3), 0);
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "zs", "c1", 0, 10, got_fn, &g), 0);
	CHECK_EQ(g.n, 3);
	CHECK_EQ(g.id[0], 4);
	CHECK_EQ(store_cursor_ack(st, "zs", "c1", 1), 0);	/* below: no-op */
	CHECK_EQ(store_cursor_open(st, "zs", "c1", 1u << 1 | 1u << 5, "", &last), 0);
	CHECK_EQ(last, 3);
	CHECK_EQ(store_cursor_ack(st, "zs", "c1", 7), KETEN_EINVAL);
	CHECK_EQ(store_cursor_ack(st, "zs", "nope", 1), KETEN_ECURSOR);
	CHECK_EQ(store_cursor_ack(st, "zs", "nope", 100), KETEN_ECURSOR);
	CHECK_EQ(store_cursor_ack(st, "zs", "c1", 5), 0);
	/* resumes after a restart */
	store_close(&st);
	CHECK_EQ(store_open(state, 1, &st), 0);
	CHECK_EQ(store_cursor_open(st, "zs", "c1", 1u << 1 | 1u << 5, "", &last), 0);
	CHECK_EQ(last, 5);
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "zs", "c1", 0, 10, got_fn, &g), 0);
	CHECK_EQ(g.n, 1);
	CHECK_EQ(g.id[0], 6);
	CHECK_EQ(store_cursor_ack(st, "zs", "c1", 6), 0);
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "zs", "c1", 0, 10, got_fn, &g), 0);
	CHECK_EQ(g.n, 0);
	/* delete; then it can be made with other filters */
	CHECK_EQ(store_cursor_delete(st, "zs", "c1"), 0);
	CHECK_EQ(store_cursor_delete(st, "zs", "c1"), KETEN_ECURSOR);
	CHECK_EQ(store_cursor_fetch(st, "zs", "c1", 0, 10, got_fn, &g), KETEN_ECURSOR);
	CHECK_EQ(store_cursor_open(st, "zs", "c1", 1u << 2, "b", &last), 0);
	CHECK_EQ(last, 0);
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "zs", "c1", 0, 10, got_fn, &g), 0);
	CHECK_EQ(g.n, 1);
	CHECK_EQ(g.id[0], 2);
	CHECK_EQ(store_cursor_open(st, "other", "c1", 1u << 5, "a", &last), 0);	/* untouched */
	done(&st);
}

/* ------------------------------------------------------------------ */
/* transactions */

/* A store opened without sync_full makes commits durable on their own on
 * demand (the audit log's pruning): only between transactions. */
static void
test_sync_commits(void)
{
	struct store *st = NULL;

	work_new();
	CHECK_EQ(store_open(state, 0, &st), 0);
	if (st == NULL)
		return;
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_sync_commits(st, 1), KETEN_ESTATE);
	CHECK_EQ(add_msg(st, 1, 100, (const char *const[]){ B }, 1), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_sync_commits(st, 1), 0);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(add_msg(st, 2, 100, (const char *const[]){ B }, 1), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_sync_commits(st, 0), 0);
	store_close(&st);
	CHECK_EQ(store_open(state, 0, &st), 0);
	if (st == NULL)
		return;
	CHECK_EQ(state_of(st, 1, B), QUEUED);
	CHECK_EQ(state_of(st, 2, B), QUEUED);
	store_close(&st);
	/* opened with sync_full, every commit is durable already */
	CHECK_EQ(store_open(state, 1, &st), 0);
	if (st != NULL)
		CHECK_EQ(store_sync_commits(st, 1), 0);
	store_close(&st);
}

static void
test_txn(void)
{
	struct store *st = open_new();
	struct store_status *ss = NULL;
	struct store_counts c;
	struct buf *b = NULL;
	uint8_t id[16];
	uint64_t last = 0, s = 0;
	int dup;

	CHECK_EQ(store_commit(st), KETEN_ESTATE);
	store_rollback(st);	/* none open: no-op */
	store_rollback(NULL);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_begin(st), KETEN_ESTATE);
	id_of(id, 1);
	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(add_msg(st, 1, 100, (const char *const[]){ B }, 1), 0);
	CHECK_EQ(store_inbox_add(st, B, id, 1, 1, "c", 1, env1, sizeof(env1), rc1, sizeof(rc1), &dup),
	    0);
	CHECK_EQ(store_refusal_add(st, C, id, rc2, sizeof(rc2)), 0);
	CHECK_EQ(store_relay_add(st, id, B, C, R, 5000, env1, sizeof(env1)), 0);
	CHECK_EQ(store_cursor_open(st, "zs", "c1", 2, "", &last), 0);
	CHECK_EQ(state_of(st, 1, B), QUEUED);	/* visible inside */
	store_rollback(st);
	/* nothing of it stays */
	CHECK_EQ(store_outbox_status(st, id, &ss), KETEN_ENOTFOUND);
	CHECK_EQ(store_inbox_receipt(st, B, id, &b), KETEN_ENOTFOUND);
	CHECK_EQ(store_inbox_receipt(st, C, id, &b), KETEN_ENOTFOUND);
	CHECK_EQ(store_relay_mark(st, id, C, B, 1, 1), KETEN_ENOTFOUND);
	CHECK_EQ(store_cursor_delete(st, "zs", "c1"), KETEN_ECURSOR);
	CHECK_EQ(store_counts(st, &c), 0);
	CHECK_EQ(c.queued + c.relaying + c.inbox, 0);
	CHECK_EQ(store_seq_next(st, A, B, &s), 0);
	CHECK_EQ(s, 1);
	/* committed work survives a restart; an open transaction at close
	 * is rolled back */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(add_msg(st, 1, 100, (const char *const[]){ B }, 1), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_commit(st), KETEN_ESTATE);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(add_msg(st, 2, 100, (const char *const[]){ B }, 1), 0);
	store_close(&st);
	CHECK_EQ(store_open(state, 1, &st), 0);
	CHECK_EQ(state_of(st, 1, B), QUEUED);
	CHECK_EQ(state_of(st, 2, B), -1);
	/* a failed write inside a transaction leaves the rest of it */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(add_msg(st, 3, 100, (const char *const[]){ B }, 1), 0);
	CHECK_EQ(add_msg(st, 3, 100, (const char *const[]){ C }, 1), KETEN_EEXIST);
	CHECK_EQ(add_msg(st, 4, 100, (const char *const[]){ B, B }, 2), KETEN_EINVAL);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(state_of(st, 3, B), QUEUED);
	CHECK_EQ(state_of(st, 3, C), -1);
	CHECK_EQ(state_of(st, 4, B), -1);
	done(&st);
}

/* Audit frames kept with a turn: put in order, rolled back with it,
 * walked in order of offset after a restart, trimmed once on disk. */
struct frames_seen {
	uint64_t off[8];
	size_t len[8], n;
	int stop_at;
};

static int
frames_note(void *arg, uint64_t off, const uint8_t *frames, size_t len)
{
	struct frames_seen *fs = arg;

	if (fs->n < 8) {
		fs->off[fs->n] = off;
		fs->len[fs->n] = len;
	}
	CHECK(frames[0] == (uint8_t)off);
	if ((int)++fs->n == fs->stop_at)
		return KETEN_EIO;
	return 0;
}

static void
test_audit_frames(void)
{
	struct store *st = open_new();
	struct frames_seen fs;
	uint8_t f[64];

	memset(f, 0, sizeof(f));
	CHECK_EQ(store_begin(st), 0);
	f[0] = 8;
	CHECK_EQ(store_audit_put(st, 8, f, 20), 0);
	f[0] = 28;
	CHECK_EQ(store_audit_put(st, 28, f, 30), 0);
	CHECK(store_audit_put(st, 28, f, 30) != 0);	/* the same offset twice: refused */
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_begin(st), 0);
	f[0] = 58;
	CHECK_EQ(store_audit_put(st, 58, f, 10), 0);
	store_rollback(st);	/* with its turn */
	CHECK_EQ(store_audit_put(st, 58, f, 0), KETEN_EINVAL);
	store_close(&st);
	CHECK_EQ(store_open(state, 1, &st), 0);
	memset(&fs, 0, sizeof(fs));
	CHECK_EQ(store_audit_each(st, frames_note, &fs), 0);
	CHECK(fs.n == 2 && fs.off[0] == 8 && fs.len[0] == 20 && fs.off[1] == 28 && fs.len[1] == 30);
	memset(&fs, 0, sizeof(fs));
	fs.stop_at = 1;
	CHECK_EQ(store_audit_each(st, frames_note, &fs), KETEN_EIO);
	CHECK_EQ(fs.n, 1);
	/* the file is on disk up to 50: the first row goes, not the second */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_audit_trim(st, 50), 0);
	CHECK_EQ(store_commit(st), 0);
	memset(&fs, 0, sizeof(fs));
	CHECK_EQ(store_audit_each(st, frames_note, &fs), 0);
	CHECK(fs.n == 1 && fs.off[0] == 28);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_audit_trim(st, UINT64_MAX), 0);
	CHECK_EQ(store_commit(st), 0);
	memset(&fs, 0, sizeof(fs));
	CHECK_EQ(store_audit_each(st, frames_note, &fs), 0);
	CHECK_EQ(fs.n, 0);
	done(&st);
}

/* Frames as the log has them: records that repeat most of their text. */
struct frames_copy {
	const uint8_t *want;
	size_t len;
	int n, equal;
};

static int
frames_copy_fn(void *arg, uint64_t off, const uint8_t *frames, size_t len)
{
	struct frames_copy *fc = arg;

	fc->n++;
	fc->equal = off == 1000 && len == fc->len && memcmp(frames, fc->want, len) == 0;
	return 0;
}

static void
test_audit_frames_lz4(void)
{
	struct store *st = open_new();
	const size_t len = 100000;
	uint8_t *f = malloc(len);
	struct frames_copy fc = { NULL, 0, 0, 0 };
	char path[160];

	CHECK(f != NULL);
	if (f == NULL) {
		done(&st);
		return;
	}
	for (size_t i = 0; i < len; i++)
		f[i] = i % 413 < 300 ? (uint8_t)"00000001999000010000 lvv-intake "[i % 32] : (uint8_t)(i * 7);
	fc.want = f;
	fc.len = len;
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_audit_put(st, 1000, f, len), 0);
	CHECK_EQ(store_commit(st), 0);
	/* kept compressed, its size before in len */
	CHECK(peek("SELECT length(frames) FROM audit_frames") < (long long)len / 2);
	CHECK_EQ(peek("SELECT len FROM audit_frames"), (long long)len);
	CHECK_EQ(store_audit_each(st, frames_copy_fn, &fc), 0);
	CHECK(fc.n == 1 && fc.equal);
	/* trimmed by the bytes it stands for, not by its compressed size */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_audit_trim(st, 1000 + len - 1), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(peek("SELECT count(*) FROM audit_frames"), 1);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_audit_trim(st, 1000 + len), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(peek("SELECT count(*) FROM audit_frames"), 0);
	/* a row an older node kept as it is (no len) reads as it is; one
	 * whose compressed bytes are damaged is ECORRUPT */
	store_close(&st);
	snprintf(path, sizeof(path), "%s/node.db", state);
	CHECK_EQ(raw_exec(path, "INSERT INTO audit_frames(off, frames) VALUES (1000, x'0102030405')"),
	    SQLITE_OK);
	CHECK_EQ(store_open(state, 1, &st), 0);
	fc.want = (const uint8_t *)"\x01\x02\x03\x04\x05";
	fc.len = 5;
	fc.n = 0;
	CHECK_EQ(store_audit_each(st, frames_copy_fn, &fc), 0);
	CHECK(fc.n == 1 && fc.equal);
	store_close(&st);
	CHECK_EQ(raw_exec(path, "UPDATE audit_frames SET frames = x'ff00ff00ff', len = 4000"),
	    SQLITE_OK);
	CHECK_EQ(store_open(state, 1, &st), 0);
	CHECK_EQ(store_audit_each(st, frames_copy_fn, &fc), KETEN_ECORRUPT);
	free(f);
	done(&st);
}

/* A size cap makes the disk "full": the failing write and (inside a
 * transaction) the turn leave nothing behind, and the store works again
 * once there is room. */
static void
test_full(void)
{
	struct store *st = open_new();
	struct store_counts c;
	static uint8_t big[64 * 1024];
	uint8_t id[16];
	const char *rc[] = { B };
	struct buf *b = NULL;
	int r = 0, r2, i, n_ok = 0;

	memset(big, 0x33, sizeof(big));
	CHECK_EQ(store_set_max_size(st, 1024 * 1024), 0);
	/* autocommit: each add is whole or absent */
	for (i = 0; i < 100 && (r = store_outbox_add(st, (id_of(id, i), id), 1, "zs", "", 1, 2,
	    digest1, big, sizeof(big), rc, 1, NULL)) == 0; i++)
		n_ok++;
	CHECK_EQ(r, KETEN_EFULL);
	CHECK(n_ok > 0 && n_ok < 100);
	CHECK_EQ(state_of(st, i, B), -1);
	CHECK(store_errmsg(st)[0] != '\0');
	CHECK_EQ(store_counts(st, &c), 0);
	CHECK_EQ(c.queued, n_ok);
	/* in a transaction: full, rolled back, nothing of the turn stays */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_set_max_size(st, 0), 0);
	CHECK_EQ(store_outbox_add(st, (id_of(id, 500), id), 1, "zs", "", 1, 2, digest1, big,
	    sizeof(big), rc, 1, NULL), 0);
	CHECK_EQ(store_set_max_size(st, 1024 * 1024), 0);
	r = 0;
	for (i = 501; i < 600 && r == 0; i++)
		r = store_outbox_add(st, (id_of(id, i), id), 1, "zs", "", 1, 2, digest1, big,
		    sizeof(big), rc, 1, NULL);
	CHECK_EQ(r, KETEN_EFULL);
	/* A small write after it: when SQLite abandoned the transaction it
	 * must not autocommit on its own. */
	r2 = store_refusal_add(st, C, id, rc1, sizeof(rc1));
	/* whether SQLite kept the transaction or not, commit must not
	 * make half of it durable when it had to abandon it */
	if ((r = store_commit(st)) != 0) {
		printf("  (SQLite abandoned the transaction: commit says %s)\n", keten_errname(r));
		CHECK_EQ(r, KETEN_EFULL);
		CHECK_EQ(r2, KETEN_EFULL);
		store_rollback(st);
		CHECK_EQ(state_of(st, 500, B), -1);
		CHECK_EQ(store_inbox_receipt(st, C, id, &b), KETEN_ENOTFOUND);
	} else {
		printf("  (SQLite kept the transaction; the full statement alone was undone)\n");
		CHECK_EQ(state_of(st, 500, B), QUEUED);
	}
	CHECK_EQ(state_of(st, i - 1, B), -1);
	CHECK_EQ(store_set_max_size(st, 1024 * 1024), 0);	/* the size it has now */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_outbox_add(st, (id_of(id, 700), id), 1, "zs", "", 1, 2, digest1, big,
	    sizeof(big), rc, 1, NULL), KETEN_EFULL);
	store_rollback(st);
	CHECK_EQ(state_of(st, 700, B), -1);
	/* room again */
	CHECK_EQ(store_set_max_size(st, 0), 0);
	CHECK_EQ(store_outbox_add(st, (id_of(id, 800), id), 1, "zs", "", 1, 2, digest1, big,
	    sizeof(big), rc, 1, NULL), 0);
	CHECK_EQ(state_of(st, 800, B), QUEUED);
	CHECK_EQ(store_set_max_size(st, 1), KETEN_EINVAL);
	done(&st);
}

/* A write that fails past a message's first row inside a turn (here a
 * trigger refuses one recipient row; in service a full or failing disk)
 * refuses the whole turn: the commit fails, and no message is kept
 * without its recipients.  On its own (no turn) the message is simply
 * absent. */
static void
test_fail_midway(void)
{
	struct store *st = open_new();
	const char *ok1[] = { B }, *two[] = { B, "00000001990000000666" };
	uint8_t id[16];
	char path[160];

	store_close(&st);
	snprintf(path, sizeof(path), "%s/node.db", state);
	CHECK_EQ(raw_exec(path, "CREATE TRIGGER fail_one BEFORE INSERT ON outbox_rcpt"
	    " WHEN NEW.rcpt = '00000001990000000666' BEGIN SELECT RAISE(ABORT, 'test'); END"),
	    SQLITE_OK);
	CHECK_EQ(store_open(state, 1, &st), 0);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_outbox_add(st, (id_of(id, 1), id), 1, "zs", "", 1, 2, digest1, env1,
	    sizeof(env1), ok1, 1, NULL), 0);
	CHECK(store_outbox_add(st, (id_of(id, 2), id), 1, "zs", "", 1, 2, digest1, env1,
	    sizeof(env1), two, 2, NULL) != 0);
	/* the turn cannot go on: later writes and the commit are refused */
	CHECK(store_outbox_add(st, (id_of(id, 3), id), 1, "zs", "", 1, 2, digest1, env1,
	    sizeof(env1), ok1, 1, NULL) != 0);
	CHECK(store_commit(st) != 0);
	store_rollback(st);
	CHECK_EQ(state_of(st, 1, B), -1);
	CHECK_EQ(state_of(st, 2, B), -1);
	CHECK_EQ(peek("SELECT count(*) FROM outbox"), 0);
	/* the next turn works */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_outbox_add(st, (id_of(id, 4), id), 1, "zs", "", 1, 2, digest1, env1,
	    sizeof(env1), ok1, 1, NULL), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(state_of(st, 4, B), QUEUED);
	/* on its own: refused, and nothing of it stays */
	CHECK(store_outbox_add(st, (id_of(id, 5), id), 1, "zs", "", 1, 2, digest1, env1,
	    sizeof(env1), two, 2, NULL) != 0);
	CHECK_EQ(peek("SELECT count(*) FROM outbox"), 1);
	CHECK_EQ(peek("SELECT count(*) FROM outbox_rcpt"), 1);
	done(&st);
}

static void
test_args(void)
{
	struct store *st = open_new();
	uint8_t id[16];
	uint64_t last;

	id_of(id, 1);
	CHECK_EQ(store_relay_add(st, id, "", C, R, 1, env1, sizeof(env1)), KETEN_EINVAL);
	CHECK_EQ(store_relay_add(st, id, B, C, "000000010000000000091", 1, env1, sizeof(env1)),
	    KETEN_EINVAL);
	CHECK_EQ(store_relay_add(st, id, B, C, R, 1, env1, (size_t)STORE_ENVELOPE_MAX + 1),
	    KETEN_ETOOBIG);
	CHECK_EQ(store_relay_done(st, id, C, B, rc1, 0), KETEN_EINVAL);
	CHECK_EQ(store_inbox_add(st, "", id, 1, 1, "c", 1, env1, sizeof(env1), rc1, sizeof(rc1),
	    &(int){ 0 }), KETEN_EINVAL);
	CHECK_EQ(store_cursor_open(st, "zs", "", 2, "", &last), KETEN_EINVAL);
	CHECK_EQ(store_cursor_ack(st, "zs", "c", UINT64_MAX), KETEN_EINVAL);
	done(&st);
}

/* A cursor for a kind that does not come moves past the others' rows
 * once a fetch found nothing for it, and still gets the next one of its
 * kind; with `after` (a reader paging) the rows are not read again. */
static void
test_cursor_skip(void)
{
	struct store *st = open_new();
	struct got g;
	uint64_t last = 0;
	uint8_t id[16];
	int dup;

	inbox_fill(st);	/* ids 1..6, kinds 1 2 1 5 1 5 */
	CHECK_EQ(store_cursor_open(st, "zs", "rare", 1u << 3, "", &last), 0);
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "zs", "rare", 0, 10, got_fn, &g), 0);
	CHECK_EQ(g.n, 0);
	CHECK_EQ(store_cursor_skip(st, "zs", "rare"), 0);
	CHECK_EQ(store_cursor_open(st, "zs", "rare", 1u << 3, "", &last), 0);
	CHECK_EQ(last, 6);
	CHECK_EQ(store_cursor_skip(st, "zs", "rare"), 0);	/* there already */
	id_of(id, 200);
	CHECK_EQ(store_inbox_add(st, B, id, 7, 3, "a", 1, env1, sizeof(env1), rc1, sizeof(rc1),
	    &dup), 0);
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "zs", "rare", 0, 10, got_fn, &g), 0);
	CHECK(g.n == 1 && g.id[0] == 7);
	memset(&g, 0, sizeof(g));
	CHECK_EQ(store_cursor_fetch(st, "zs", "rare", 7, 10, got_fn, &g), 0);
	CHECK_EQ(g.n, 0);
	CHECK_EQ(store_cursor_skip(st, "nobody", "rare"), 0);	/* no such cursor: nothing */
	done(&st);
}

/* The directory accepted last: none, set, replaced, kept across a
 * reopen. */
static void
test_trust(void)
{
	struct store *st = open_new();
	uint8_t d1[32], d2[32], got[32];
	uint64_t serial = 99;

	memset(d1, 1, sizeof(d1));
	memset(d2, 2, sizeof(d2));
	CHECK_EQ(store_trust_get(st, &serial, got), 0);
	CHECK_EQ(serial, 99);
	CHECK_EQ(store_trust_set(st, 3, d1), 0);
	CHECK_EQ(store_trust_get(st, &serial, got), 1);
	CHECK(serial == 3 && memcmp(got, d1, 32) == 0);
	CHECK_EQ(store_trust_set(st, 4, d2), 0);
	CHECK_EQ(store_trust_set(st, (uint64_t)INT64_MAX + 1, d2), KETEN_EINVAL);
	store_close(&st);
	CHECK_EQ(store_open(state, 1, &st), 0);
	CHECK_EQ(store_trust_get(st, &serial, got), 1);
	CHECK(serial == 4 && memcmp(got, d2, 32) == 0);
	store_close(&st);
	work_rm();
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "open creates the directory and database, WAL, schema", test_open },
		{ "open refuses foreign, non-regular and exposed files", test_open_refused },
		{ "garbage, a damaged page, newer or foreign schema: ECORRUPT", test_corrupt },
		{ "a schema 1 database is migrated and keeps its rows", test_migrate_v1 },
		{ "audit frames: kept with the turn, walked in order, trimmed", test_audit_frames },
		{ "sequence numbers per stream, persisted, rolled back", test_seq },
		{ "outbox add and status; duplicates and bad input leave nothing", test_outbox_add_status },
		{ "outbox mark; final states never move back", test_outbox_mark },
		{ "outbox receipts: digest, idempotence, conflicts", test_outbox_receipt },
		{ "due rows in order, limit, callback marks, next wake-up", test_outbox_due },
		{ "expiry of queued and sent recipients", test_outbox_expire },
		{ "counts and per-peer queue", test_counts },
		{ "inbox dedup, receipts, refusals, last seq, ids", test_inbox },
		{ "a woken backlog goes out before rows queued after the wake", test_wake_order },
		{ "relay queue: add, due, mark, done, receipt, expiry", test_relay },
		{ "cursors: filters, reopen, fetch, ack, resume, delete", test_cursor },
		{ "transactions: rollback leaves nothing, commit persists", test_txn },
		{ "commits made durable on their own on demand, between transactions",
		  test_sync_commits },
		{ "full database: EFULL, nothing half written, recovers", test_full },
		{ "a write failing past a message's first row: the turn is refused", test_fail_midway },
		{ "argument checks", test_args },
		{ "the directory accepted last: kept, replaced, reopened", test_trust },
		{ "a cursor of a kind that does not come moves past other rows", test_cursor_skip },
		{ "audit frames: LZ4 in the store, trimmed by their size before, old rows read", test_audit_frames_lz4 },
		{ NULL, NULL },
	};
	int r;

	atexit(work_rm);
	r = tap_run(tests);
	work_rm();
	return r;
}
