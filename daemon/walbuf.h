/*
 * walbuf.h — an SQLite VFS that gathers the writes to a WAL file into
 * larger ones.
 *
 * SQLite writes a WAL frame as two writes, its 24-byte header and its
 * page, so a commit of n pages costs 2n pwrite calls.  This VFS passes
 * every call to SQLite's default VFS except that, for a WAL, it keeps a
 * run of consecutive writes in a buffer (WALBUF_MAX bytes) and writes the
 * run in one call when the run ends: before a sync, a read, a truncate, a
 * size query, a file control, a lock change, a write elsewhere, or close.
 *
 * It is correct only where every commit syncs the WAL before SQLite
 * publishes the commit to other connections in the wal-index, which is
 * PRAGMA synchronous = FULL (a commit without a sync would be visible to
 * another process's reader before its frames are in the file).  The
 * store uses it only then.  A write that fails when the run is written
 * fails the sync, and with it the commit.  Frames still in the buffer
 * when the process dies were never synced nor published: SQLite treats
 * them as the uncommitted tail they are.
 *
 * The database file's writes are not gathered: a checkpoint's last run
 * would be written only at SQLITE_FCNTL_CKPT_DONE, whose result SQLite
 * ignores, and a partial checkpoint records how far it copied without
 * a sync; a full disk there would lose committed pages unnoticed.
 */
#ifndef KETEN_WALBUF_H
#define KETEN_WALBUF_H

/* Largest run kept before it is written: 29 frames of 4 KiB pages.  The
 * default VFS writes at most 128 KiB - 1 bytes per call (it masks the
 * length: a longer write would fail as a full disk). */
#define WALBUF_MAX (120 * 1024)

/* Register the VFS (once per process, thread-safe) and return its name
 * for sqlite3_open_v2(), or NULL if SQLite has no default VFS or the
 * registration failed. */
const char *walbuf_vfs(void);

#endif
