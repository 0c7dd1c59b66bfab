/*
 * buf.c — bounded byte buffer (see buf.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "err.h"
#include "util.h"

struct buf {
	uint8_t *d;
	size_t len;
	size_t off;	/* read offset */
	size_t cap;
	size_t max;
	int secret;
};

static struct buf *
buf_alloc(size_t max, int secret)
{
	struct buf *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->max = max;
	b->secret = secret;
	return b;
}

struct buf *
buf_new(size_t max)
{
	return buf_alloc(max, 0);
}

struct buf *
buf_new_secret(size_t max)
{
	if (sodium_init() < 0)
		return NULL;
	return buf_alloc(max, 1);
}

static void
buf_free_mem(struct buf *b)
{
	if (b->d == NULL)
		return;
	if (b->secret)
		sodium_free(b->d);	/* wipes before unmapping */
	else
		free(b->d);
	b->d = NULL;
}

void
buf_destroy(struct buf **bp)
{
	if (bp == NULL || *bp == NULL)
		return;
	buf_free_mem(*bp);
	free(*bp);
	*bp = NULL;
}

static int
buf_grow(struct buf *b, size_t need)
{
	size_t ncap;
	uint8_t *nd;

	if (need > b->max || need < b->len)
		return KETEN_ETOOBIG;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	if (b->secret) {
		/* sodium_malloc cannot realloc: copy, then wipe the old. */
		if ((nd = sodium_malloc(ncap)) == NULL)
			return KETEN_ENOMEM;
		if (b->len)
			memcpy(nd, b->d, b->len);
		buf_free_mem(b);
	} else if ((nd = realloc(b->d, ncap)) == NULL)
		return KETEN_ENOMEM;
	b->d = nd;
	b->cap = ncap;
	return 0;
}

int
buf_ensure(struct buf *b, size_t cap)
{
	if (cap > b->max)
		return KETEN_ETOOBIG;
	if (cap <= b->cap)
		return 0;
	/* grow exactly: the caller knows the final size */
	size_t keep = b->max;
	int r;

	b->max = cap;
	r = buf_grow(b, cap);
	b->max = keep;
	return r;
}

int
buf_reserve(struct buf *b, size_t n, uint8_t **pp)
{
	int r;

	if (n > b->max - b->len)
		return KETEN_ETOOBIG;
	if ((r = buf_grow(b, b->len + n)) != 0)
		return r;
	*pp = b->d + b->len;
	b->len += n;
	return 0;
}

int
buf_put(struct buf *b, const void *p, size_t n)
{
	uint8_t *dst;
	int r;

	if (n == 0)
		return 0;
	if ((r = buf_reserve(b, n, &dst)) != 0)
		return r;
	memcpy(dst, p, n);
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

	return buf_put(b, x, sizeof(x));
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];

	be64_store(x, v);
	return buf_put(b, x, sizeof(x));
}

int
buf_put_string(struct buf *b, const void *p, size_t n)
{
	int r;

	if (n > UINT32_MAX)
		return KETEN_ETOOBIG;
	if ((r = buf_put_u32(b, (uint32_t)n)) != 0)
		return r;
	return buf_put(b, p, n);
}

int
buf_get(struct buf *b, void *p, size_t n)
{
	if (n > b->len - b->off)
		return KETEN_EPARSE;
	if (n)
		memcpy(p, b->d + b->off, n);
	b->off += n;
	return 0;
}

int
buf_get_u8(struct buf *b, uint8_t *v)
{
	return buf_get(b, v, 1);
}

int
buf_get_u32(struct buf *b, uint32_t *v)
{
	uint8_t x[4];
	int r;

	if ((r = buf_get(b, x, 4)) != 0)
		return r;
	*v = be32_load(x);
	return 0;
}

int
buf_get_u64(struct buf *b, uint64_t *v)
{
	uint8_t x[8];
	int r;

	if ((r = buf_get(b, x, 8)) != 0)
		return r;
	*v = be64_load(x);
	return 0;
}

const uint8_t *
buf_ptr(const struct buf *b)
{
	return b->d;
}

size_t
buf_len(const struct buf *b)
{
	return b->len;
}

size_t
buf_remaining(const struct buf *b)
{
	return b->len - b->off;
}

void
buf_reset(struct buf *b)
{
	if (b->secret && b->d != NULL)
		sodium_memzero(b->d, b->cap);
	b->len = 0;
	b->off = 0;
}

int
buf_load_file(const char *path, size_t max, struct buf **out)
{
	struct buf *b = NULL;
	struct stat st;
	uint8_t *dst;
	ssize_t n;
	int fd, r = KETEN_EIO, saved;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return KETEN_EIO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	if ((uint64_t)st.st_size > max) {
		r = KETEN_ETOOBIG;
		goto out;
	}
	if ((b = buf_new(max)) == NULL) {
		r = KETEN_ENOMEM;
		goto out;
	}
	/* Read until EOF rather than trusting st_size: the file may change. */
	for (;;) {
		if (b->len == b->max) {
			uint8_t extra;

			while ((n = read(fd, &extra, 1)) < 0 && errno == EINTR)
				;
			r = n == 0 ? 0 : n < 0 ? KETEN_EIO : KETEN_ETOOBIG;
			if (r != 0)
				goto out;
			break;
		}
		if ((r = buf_reserve(b, 1, &dst)) != 0)
			goto out;
		b->len--;
		n = read(fd, dst, b->cap - b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = KETEN_EIO;
			goto out;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	*out = b;
	b = NULL;
	r = 0;
out:
	saved = errno;
	buf_destroy(&b);
	close(fd);
	errno = saved;
	return r;
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len)
		b->len = len;
	if (b->off > b->len)
		b->off = b->len;
}
