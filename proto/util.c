/*
 * util.c — clock, hex, OIN and durable-file helpers (see util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

uint64_t
clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The value of each hex digit plus one; 0 for every other byte.  A table
 * instead of comparisons: the digits of ids and trace contexts are
 * random, so each comparison would be a branch mispredicted half the
 * time (two records a message parse a trace context). */
static const uint8_t hex_value[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int
hex_decode_exact(const char *s, uint8_t *out, size_t n)
{
	unsigned bad = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned hi = hex_value[(unsigned char)s[2 * i]];
		unsigned lo = hex_value[(unsigned char)s[2 * i + 1]];

		bad |= (hi == 0) | (lo == 0);
		out[i] = (uint8_t)((hi - 1) << 4 | ((lo - 1) & 0x0f));
	}
	return bad ? KETEN_EPARSE : 0;
}

int
hex_decode(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return KETEN_EPARSE;
	return hex_decode_exact(s, out, n);
}

/* Eight bytes at a time: a byte below 0x20 or above 0x7e in w (the
 * "has less" and "has more" tests of Anderson's bit twiddling hacks). */
#define ONES (~(uint64_t)0 / 255)
#define HIGH (ONES * 0x80)

static int
word_unprintable(uint64_t w)
{
	return (((w - ONES * 0x20) & ~w) | ((w + ONES * (0x7f - 0x7e)) | w)) & HIGH ? 1 : 0;
}

int
text_printable(const char *s, size_t max)
{
	size_t n, i = 0;
	uint64_t w;

	if (s[0] == '\0')
		return 1;
	n = strnlen(s, max);
	if (n >= max)
		return 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		if (word_unprintable(w))
			return 0;
	}
	for (; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

int
oin_valid(const char *s)
{
	return s != NULL && strspn(s, "0123456789") == KETEN_OIN_LEN && s[KETEN_OIN_LEN] == '\0';
}

int
file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX], *slash;
	const unsigned char *p = data;
	int fd = -1, dfd = -1, renamed = 0, r = KETEN_EIO, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp) ||
	    snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		errno = ENAMETOOLONG;
		return KETEN_EIO;
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';

	/* The temporary file lives next to the target, so that rename()
	 * stays inside one file system and is atomic. */
	if ((fd = mkstemp(tmp)) < 0) {
		tmp[0] = '\0';
		goto out;
	}
	if (fchmod(fd, mode) != 0)
		goto out;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		p += n;		/* a short write is retried with the rest */
		len -= (size_t)n;
	}
	/* Data on disk before the name points at it: without this fsync a
	 * crash after rename() can leave an empty or partial file. */
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	renamed = 1;
	/* The rename is a change of the directory: fsync it so that the new
	 * name survives a crash too. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) != 0)
		goto out;
	r = 0;
out:
	saved = errno;
	if (r != 0 && (saved == ENOSPC || saved == EDQUOT))
		r = KETEN_EFULL;
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (r != 0 && !renamed && tmp[0] != '\0')
		unlink(tmp);
	errno = saved;
	return r;
}

int
array_room(void *arr, size_t n, size_t *cap, size_t size, size_t first)
{
	void **ap = arr, *grown;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? 2 * *cap : first;
	if (c < *cap || c > SIZE_MAX / size || (grown = realloc(*ap, c * size)) == NULL)
		return KETEN_ENOMEM;
	*ap = grown;
	*cap = c;
	return 0;
}

/* Past the whole 8-byte words of ASCII at s, before end. */
static const unsigned char *
ascii_words(const unsigned char *s, const unsigned char *end)
{
	uint64_t w;

	while (end - s >= 8) {
		memcpy(&w, s, 8);
		if (w & 0x8080808080808080ull)
			break;
		s += 8;
	}
	return s;
}

int
utf8_ok(const char *str, int text)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + strlen(str);

	while (s < end) {
		uint32_t cp;
		size_t more;

		/* outside text any ASCII will do: a word at a time (a 1 KiB
		 * message's strings were 2% of a submit byte by byte) */
		if (!text && (s = ascii_words(s, end)) == end)
			break;
		if (*s < 0x80) {
			if (text && (*s < 0x20 || *s == 0x7f))
				return 0;
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf) {
			cp = *s & 0x1f;
			more = 1;
		} else if (*s >= 0xe0 && *s <= 0xef) {
			cp = *s & 0x0f;
			more = 2;
		} else if (*s >= 0xf0 && *s <= 0xf4) {
			cp = *s & 0x07;
			more = 3;
		} else {
			return 0;
		}
		s++;
		for (size_t i = 0; i < more; i++, s++) {
			if ((*s & 0xc0) != 0x80)
				return 0;	/* also stops at the NUL */
			cp = cp << 6 | (*s & 0x3f);
		}
		if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (text && cp >= 0x80 && cp <= 0x9f))
			return 0;
	}
	return 1;
}

const char *
time_fmt(uint64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000u % 253402300800u);
	struct tm tm;

	if (ms / 1000u > 253402300799u || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, len, "%llu ms", (unsigned long long)ms);
	return out;
}
