/*
 * test_walbuf.c — the VFS that gathers WAL writes: a reader
 * in another connection (SQLite's own VFS) sees every commit whole, small
 * and larger than the buffer, with pages rewritten inside a transaction,
 * before and after checkpoints copied them into the database; a rollback
 * and a transaction cut off by kill -9 (with pages spilled to the WAL)
 * leave nothing; the file checks out and reopens without the VFS.  A
 * write that fails below the VFS (a full disk) is reported where SQLite
 * can act on it: a commit is refused, a checkpoint stops, and nothing
 * committed is lost.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tap.h"
#include "walbuf.h"

static char dir[] = "/tmp/keten-walbuf.XXXXXX";
static char path[64];

/* ---- a default VFS whose writes fail on demand ------------------------
 * SQLite's own VFS with the WAL's or the database's writes failing while
 * fail_wal or fail_db is set.  It is made the default before the VFS
 * under test is first asked for, which then runs over it. */
static sqlite3_vfs fault_vfs, *unix_vfs;
static sqlite3_io_methods db_io, wal_io;	/* the default's, xWrite replaced */
static const sqlite3_io_methods *unix_db_io, *unix_wal_io;	/* the default's */
static int fail_db, fail_wal;

static int
fault_write_db(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
	return fail_db ? SQLITE_FULL : unix_db_io->xWrite(f, p, amt, off);
}

static int
fault_write_wal(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
	return fail_wal ? SQLITE_FULL : unix_wal_io->xWrite(f, p, amt, off);
}

/* f's methods become *io: the default's (kept in *orig the first time)
 * with xWrite replaced by w. */
static void
fault_methods(sqlite3_file *f, const sqlite3_io_methods **orig, sqlite3_io_methods *io,
    int (*w)(sqlite3_file *, const void *, int, sqlite3_int64))
{
	if (*orig == NULL) {
		*orig = f->pMethods;
		*io = **orig;
		io->xWrite = w;
	}
	if (f->pMethods == *orig)
		f->pMethods = io;
}

static int
fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	int rc = unix_vfs->xOpen(unix_vfs, name, f, flags, out);

	(void)vfs;
	if (rc != SQLITE_OK || f->pMethods == NULL ||
	    !(flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)))
		return rc;
	/* the default VFS gives a WAL methods of its own (no locking) */
	if (flags & SQLITE_OPEN_WAL)
		fault_methods(f, &unix_wal_io, &wal_io, fault_write_wal);
	else
		fault_methods(f, &unix_db_io, &db_io, fault_write_db);
	return rc;
}

static int
fault_install(void)
{
	if ((unix_vfs = sqlite3_vfs_find(NULL)) == NULL)
		return -1;
	fault_vfs = *unix_vfs;
	fault_vfs.zName = "keten-test-fault";
	fault_vfs.pNext = NULL;
	fault_vfs.xOpen = fault_open;
	return sqlite3_vfs_register(&fault_vfs, 1) == SQLITE_OK ? 0 : -1;
}

static sqlite3 *
open_db(int ours)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    ours ? walbuf_vfs() : NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static long long
one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *x = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &x, NULL) == SQLITE_OK && sqlite3_step(x) == SQLITE_ROW)
		v = sqlite3_column_int64(x, 0);
	sqlite3_finalize(x);
	return v;
}

static int
run(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* n rows of 1500 bytes, b's bytes all equal to the row's a mod 251 */
static int
add(sqlite3 *db, int n)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
	    " WHERE i < %d) INSERT INTO t(b) SELECT NULL FROM c", n);
	if (run(db, sql) != SQLITE_OK)
		return -1;
	return run(db, "UPDATE t SET b = replace(hex(zeroblob(1500)), '00', char(65 + a % 26))"
	    " WHERE b IS NULL");
}

/* Every row whole: its 1500 characters, all the one its key says. */
static long long
bad_rows(sqlite3 *db)
{
	return one(db, "SELECT count(*) FROM t WHERE length(b) != 1500 OR"
	    " b != replace(hex(zeroblob(1500)), '00', char(65 + a % 26))");
}

static void
test_name(void)
{
	CHECK(walbuf_vfs() != NULL);
	CHECK(walbuf_vfs() != NULL && strcmp(walbuf_vfs(), "keten-walbuf") == 0);
	CHECK(sqlite3_vfs_find("keten-walbuf") != NULL);
}

static void
test_commits_seen(void)
{
	static const int sizes[] = { 1, 2, 40, 300, 1, 1000, 3 };
	sqlite3 *w = open_db(1), *r = open_db(0);
	long long total = 0;

	CHECK(w != NULL && r != NULL);
	if (w == NULL || r == NULL)
		goto out;
	CHECK_EQ(run(w, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    " CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)"), SQLITE_OK);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK_EQ(run(w, "BEGIN"), SQLITE_OK);
		CHECK_EQ(add(w, sizes[i]), SQLITE_OK);
		/* pages written again in the same transaction */
		CHECK_EQ(run(w, "UPDATE t SET b = b WHERE a % 7 = 0"), SQLITE_OK);
		CHECK_EQ(run(w, "COMMIT"), SQLITE_OK);
		total += sizes[i];
		/* the other connection reads the file through SQLite's own VFS */
		CHECK_EQ(one(r, "SELECT count(*) FROM t"), total);
		CHECK_EQ(bad_rows(r), 0);
		/* and again after the pages were copied into the database */
		if (i % 2 == 1) {
			CHECK_EQ(run(w, "PRAGMA wal_checkpoint(PASSIVE)"), SQLITE_OK);
			CHECK_EQ(one(r, "SELECT count(*) FROM t"), total);
			CHECK_EQ(bad_rows(r), 0);
		}
	}
	/* a rollback leaves nothing, and what follows it commits */
	CHECK_EQ(run(w, "BEGIN"), SQLITE_OK);
	CHECK_EQ(add(w, 500), SQLITE_OK);
	CHECK_EQ(run(w, "ROLLBACK"), SQLITE_OK);
	CHECK_EQ(one(r, "SELECT count(*) FROM t"), total);
	CHECK_EQ(add(w, 5), SQLITE_OK);
	CHECK_EQ(one(r, "SELECT count(*) FROM t"), total + 5);
	CHECK_EQ(run(w, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
	CHECK_EQ(one(r, "SELECT count(*) FROM t"), total + 5);
out:
	sqlite3_close(r);
	sqlite3_close(w);
	/* closed, and opened again without the VFS */
	r = open_db(0);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK_EQ(one(r, "SELECT count(*) FROM t"), total + 5);
		CHECK_EQ(bad_rows(r), 0);
		CHECK_EQ(one(r, "SELECT count(*) FROM pragma_integrity_check WHERE"
		    " integrity_check != 'ok'"), 0);
	}
	sqlite3_close(r);
}

/* A child writes a transaction too large for its page cache (SQLite
 * spills pages into the WAL before the commit) and is killed before it
 * commits: the database holds what was committed before, whole. */
static void
test_killed_mid_transaction(void)
{
	long long before;
	sqlite3 *r = open_db(0);
	int fds[2], st = 0;
	char c;
	pid_t pid;

	before = r != NULL ? one(r, "SELECT count(*) FROM t") : -1;
	CHECK(before > 0);
	sqlite3_close(r);
	CHECK(pipe(fds) == 0);
	if ((pid = fork()) == 0) {
		sqlite3 *w = open_db(1);

		if (w == NULL || run(w, "PRAGMA synchronous = FULL; PRAGMA cache_size = 20;"
		    " BEGIN") != SQLITE_OK || add(w, 2000) != SQLITE_OK)
			_exit(1);
		(void)!write(fds[1], "x", 1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	CHECK(read(fds[0], &c, 1) == 1);
	close(fds[0]);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
	r = open_db(1);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK_EQ(one(r, "SELECT count(*) FROM t"), before);
		CHECK_EQ(bad_rows(r), 0);
		CHECK_EQ(one(r, "SELECT count(*) FROM pragma_integrity_check WHERE"
		    " integrity_check != 'ok'"), 0);
		/* and it takes the next commit */
		CHECK_EQ(run(r, "PRAGMA synchronous = FULL"), SQLITE_OK);
		CHECK_EQ(add(r, 10), SQLITE_OK);
		CHECK_EQ(one(r, "SELECT count(*) FROM t"), before + 10);
	}
	sqlite3_close(r);
}

/* Writes that fail below the VFS: a checkpoint whose database writes
 * fail says so and copies nothing for good (the WAL keeps the pages); a
 * commit whose WAL writes fail is refused; the rows committed are all
 * there after both, through the VFS and without it. */
static void
test_write_fails(void)
{
	char p[80];
	sqlite3 *w, *r;
	int nlog = -1, nckpt = -1, rc;

	snprintf(p, sizeof(p), "%s/f.db", dir);
	CHECK(sqlite3_open_v2(p, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, walbuf_vfs()) ==
	    SQLITE_OK);
	CHECK_EQ(run(w, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    " CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)"), SQLITE_OK);
	CHECK_EQ(add(w, 40), SQLITE_OK);
	/* the checkpoint: its writes into the database fail */
	fail_db = 1;
	rc = sqlite3_wal_checkpoint_v2(w, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt);
	fail_db = 0;
	CHECK(rc != SQLITE_OK);
	CHECK_EQ(one(w, "SELECT count(*) FROM t"), 40);
	/* a commit: its writes into the WAL fail */
	fail_wal = 1;
	rc = add(w, 5);
	fail_wal = 0;
	CHECK(rc != SQLITE_OK);
	if (!sqlite3_get_autocommit(w))
		(void)run(w, "ROLLBACK");
	CHECK_EQ(one(w, "SELECT count(*) FROM t"), 40);
	/* the next commit and checkpoints go through */
	CHECK_EQ(add(w, 1), SQLITE_OK);
	CHECK_EQ(run(w, "PRAGMA wal_checkpoint(PASSIVE)"), SQLITE_OK);
	CHECK_EQ(add(w, 1), SQLITE_OK);
	CHECK_EQ(run(w, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
	CHECK_EQ(one(w, "SELECT count(*) FROM t"), 42);
	sqlite3_close(w);
	CHECK(sqlite3_open_v2(p, &r, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	CHECK_EQ(one(r, "SELECT count(*) FROM t"), 42);
	CHECK_EQ(bad_rows(r), 0);
	sqlite3_close(r);
	unlink(p);
	snprintf(p, sizeof(p), "%s/f.db-wal", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/f.db-shm", dir);
	unlink(p);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "the VFS registers once, by name", test_name },
		{ "commits small and large, seen whole by another connection", test_commits_seen },
		{ "killed mid-transaction: the committed rows, whole", test_killed_mid_transaction },
		{ "a failed write: commit refused, checkpoint stopped, nothing lost",
		    test_write_fails },
		{ NULL, NULL },
	};
	int r;

	if (fault_install() != 0) {
		fprintf(stderr, "cannot register the test's VFS\n");
		return 1;
	}

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/t.db", dir);
	r = tap_run(tests);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return r;
}
