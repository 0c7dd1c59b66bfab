/*
 * walbuf.c — an SQLite VFS over the default one that gathers consecutive
 * writes to a WAL file into one (walbuf.h says when that is sound).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "walbuf.h"

#define VFS_NAME "keten-walbuf"

_Static_assert(WALBUF_MAX < 0x20000, "the default VFS writes less than 128 KiB per call");

/* One open file: ours, with the default VFS's file after it. */
struct wb_file {
	sqlite3_file base;		/* pMethods = &wb_io */
	sqlite3_file *real;
	int gather;			/* a WAL: writes are gathered */
	uint8_t *buf;			/* WALBUF_MAX bytes once used, or NULL */
	size_t len;			/* bytes waiting, written at off */
	sqlite3_int64 off;
};

/* The default VFS's file starts here in our allocation. */
#define REAL_AT ((sizeof(struct wb_file) + 15) & ~(size_t)15)

static sqlite3_vfs wb_vfs;
static sqlite3_vfs *base_vfs;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered;

/* Write the waiting run; the buffer is empty afterwards whatever the
 * outcome (SQLite rolls the transaction back after a failed write, and
 * frames past the last commit are never read). */
static int
flush(struct wb_file *f)
{
	int rc;

	if (f->len == 0)
		return SQLITE_OK;
	rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
	f->len = 0;
	return rc;
}

static int
wb_close(sqlite3_file *file)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f), rc2 = f->real->pMethods->xClose(f->real);

	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
wb_read(sqlite3_file *file, void *p, int amt, sqlite3_int64 off)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, p, amt, off);
}

static int
wb_write(sqlite3_file *file, const void *p, int amt, sqlite3_int64 off)
{
	struct wb_file *f = (struct wb_file *)file;
	size_t n = (size_t)amt;
	int rc;

	if (!f->gather || amt <= 0)
		return f->real->pMethods->xWrite(f->real, p, amt, off);
	/* the run goes on */
	if (f->len > 0 && off == f->off + (sqlite3_int64)f->len && f->len + n <= WALBUF_MAX) {
		memcpy(f->buf + f->len, p, n);
		f->len += n;
		return SQLITE_OK;
	}
	if ((rc = flush(f)) != SQLITE_OK)
		return rc;
	if (f->buf == NULL && n < WALBUF_MAX)
		f->buf = malloc(WALBUF_MAX);	/* without it, writes go straight through */
	if (f->buf == NULL || n >= WALBUF_MAX)
		return f->real->pMethods->xWrite(f->real, p, amt, off);
	memcpy(f->buf, p, n);
	f->len = n;
	f->off = off;
	return SQLITE_OK;
}

static int
wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int
wb_sync(sqlite3_file *file, int flags)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int
wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

/* Another connection may read the file once a lock changes hands: the
 * run is written first. */
static int
wb_lock(sqlite3_file *file, int lock)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xLock(f->real, lock);
}

static int
wb_unlock(sqlite3_file *file, int lock)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xUnlock(f->real, lock);
}

static int
wb_check_reserved(sqlite3_file *file, int *out)
{
	struct wb_file *f = (struct wb_file *)file;

	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

/* A file control may read or resize the file: the run is written first. */
static int
wb_file_control(sqlite3_file *file, int op, void *arg)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f);

	if (rc != SQLITE_OK)
		return rc;
	if (op == SQLITE_FCNTL_VFSNAME && arg != NULL) {
		/* name this layer too, as VFS shims do */
		rc = f->real->pMethods->xFileControl(f->real, op, arg);
		if (rc == SQLITE_OK) {
			char *below = *(char **)arg;

			*(char **)arg = sqlite3_mprintf("%s/%z", VFS_NAME, below);
		}
		return rc;
	}
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
wb_sector_size(sqlite3_file *file)
{
	struct wb_file *f = (struct wb_file *)file;

	return f->real->pMethods->xSectorSize(f->real);
}

static int
wb_device_characteristics(sqlite3_file *file)
{
	struct wb_file *f = (struct wb_file *)file;

	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int
wb_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
	struct wb_file *f = (struct wb_file *)file;

	return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int
wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void
wb_shm_barrier(sqlite3_file *file)
{
	struct wb_file *f = (struct wb_file *)file;

	f->real->pMethods->xShmBarrier(f->real);
}

static int
wb_shm_unmap(sqlite3_file *file, int del)
{
	struct wb_file *f = (struct wb_file *)file;

	return f->real->pMethods->xShmUnmap(f->real, del);
}

static int
wb_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **pp)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, amt, pp);
}

static int
wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	struct wb_file *f = (struct wb_file *)file;

	return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods wb_io = {
	.iVersion = 3,
	.xClose = wb_close,
	.xRead = wb_read,
	.xWrite = wb_write,
	.xTruncate = wb_truncate,
	.xSync = wb_sync,
	.xFileSize = wb_file_size,
	.xLock = wb_lock,
	.xUnlock = wb_unlock,
	.xCheckReservedLock = wb_check_reserved,
	.xFileControl = wb_file_control,
	.xSectorSize = wb_sector_size,
	.xDeviceCharacteristics = wb_device_characteristics,
	.xShmMap = wb_shm_map,
	.xShmLock = wb_shm_lock,
	.xShmBarrier = wb_shm_barrier,
	.xShmUnmap = wb_shm_unmap,
	.xFetch = wb_fetch,
	.xUnfetch = wb_unfetch,
};

static int
wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	struct wb_file *f = (struct wb_file *)file;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)((char *)f + REAL_AT);
	rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK || f->real->pMethods == NULL) {
		/* nothing to close: SQLite calls no method of ours */
		if (f->real->pMethods != NULL)
			f->real->pMethods->xClose(f->real);
		file->pMethods = NULL;
		return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
	}
	/* Every method of ours calls the one below it: the default VFS's
	 * files have them all (version 3). */
	if (f->real->pMethods->iVersion < 3) {
		f->real->pMethods->xClose(f->real);
		file->pMethods = NULL;
		return SQLITE_CANTOPEN;
	}
	f->gather = (flags & SQLITE_OPEN_WAL) != 0;
	file->pMethods = &wb_io;
	return SQLITE_OK;
}

/* The rest of the VFS is the default one's. */
static int
wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static int
wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int
wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static void *
wb_dl_open(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return base_vfs->xDlOpen(base_vfs, name);
}

static void
wb_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	base_vfs->xDlError(base_vfs, n, msg);
}

static void (*wb_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return base_vfs->xDlSym(base_vfs, h, sym);
}

static void
wb_dl_close(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	base_vfs->xDlClose(base_vfs, h);
}

static int
wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return base_vfs->xRandomness(base_vfs, n, out);
}

static int
wb_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return base_vfs->xSleep(base_vfs, us);
}

static int
wb_current_time(sqlite3_vfs *vfs, double *t)
{
	(void)vfs;
	return base_vfs->xCurrentTime(base_vfs, t);
}

static int
wb_get_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	return base_vfs->xGetLastError(base_vfs, n, msg);
}

static int
wb_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
	(void)vfs;
	return base_vfs->xCurrentTimeInt64(base_vfs, t);
}

static void
wb_register(void)
{
	sqlite3_vfs *b;

	if (sqlite3_initialize() != SQLITE_OK || (b = sqlite3_vfs_find(NULL)) == NULL ||
	    b->iVersion < 2 || b->xCurrentTimeInt64 == NULL)
		return;
	base_vfs = b;
	wb_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)(REAL_AT + (size_t)b->szOsFile),
		.mxPathname = b->mxPathname,
		.zName = VFS_NAME,
		.xOpen = wb_open,
		.xDelete = wb_delete,
		.xAccess = wb_access,
		.xFullPathname = wb_full_pathname,
		.xDlOpen = b->xDlOpen != NULL ? wb_dl_open : NULL,
		.xDlError = b->xDlError != NULL ? wb_dl_error : NULL,
		.xDlSym = b->xDlSym != NULL ? wb_dl_sym : NULL,
		.xDlClose = b->xDlClose != NULL ? wb_dl_close : NULL,
		.xRandomness = wb_randomness,
		.xSleep = wb_sleep,
		.xCurrentTime = wb_current_time,
		.xGetLastError = wb_get_last_error,
		.xCurrentTimeInt64 = wb_current_time_int64,
	};
	registered = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK;
}

const char *
walbuf_vfs(void)
{
	pthread_once(&once, wb_register);
	return registered ? VFS_NAME : NULL;
}
