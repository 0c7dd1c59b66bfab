/*
 * util.h — small helpers every module needs: the clock, hex, OINs.
 */
#ifndef KETEN_UTIL_H
#define KETEN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Length of an OIN (Organisatie-identificatienummer) in digits. */
#define KETEN_OIN_LEN 20

/* Wall-clock time in milliseconds since the Unix epoch, UTC. */
/* Big-endian integers in byte strings (every wire and file format here). */
static inline uint32_t
be32_load(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
be64_load(const uint8_t *p)
{
	return (uint64_t)be32_load(p) << 32 | be32_load(p + 4);
}

static inline void
be32_store(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
be64_store(uint8_t *p, uint64_t v)
{
	be32_store(p, (uint32_t)(v >> 32));
	be32_store(p + 4, (uint32_t)v);
}

uint64_t clock_now_ms(void);
/* ms since the epoch as ISO 8601 UTC ("2026-11-24T02:10:28Z") into out
 * (at least 32 bytes); past the year 9999 the number of ms. */
const char *time_fmt(uint64_t ms, char *out, size_t len);

/* 1 if s is well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF); with text, also without control characters (C0,
 * DEL, C1): a name is shown in tables and logs and must not be able to
 * move the cursor. */
int utf8_ok(const char *s, int text);

/* Write 2*n lowercase hex digits and a NUL to out (size >= 2*n+1). */
void hex_encode(const uint8_t *p, size_t n, char *out);
/* Decode exactly n bytes from a string of exactly 2*n hex digits.
 * 0 or KETEN_EPARSE. */
int hex_decode(const char *s, uint8_t *out, size_t n);
/* The same from the first 2*n characters of s, whatever follows them
 * (s holds at least 2*n bytes).  On KETEN_EPARSE out holds garbage. */
int hex_decode_exact(const char *s, uint8_t *out, size_t n);

/* 1 if s is printable ASCII (0x20..0x7e) and shorter than max bytes,
 * else 0.  The empty string passes. */
int text_printable(const char *s, size_t max);

/* 1 if s is exactly 20 ASCII digits, else 0. */
int oin_valid(const char *s);

/* Write len bytes to path so that a crash leaves either the old file or the
 * complete new one: a temporary file in the same directory, fsync, rename,
 * fsync of the directory.  ENOSPC/EDQUOT give
 * KETEN_EFULL.  The new file gets mode.  0 or KETEN_EIO (errno
 * says why). */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Room for one more element in a growing array: *arr holds n elements
 * of size bytes in *cap; when full it is doubled (from first).  0 or
 * KETEN_ENOMEM (the array is unchanged). */
int array_room(void *arr, size_t n, size_t *cap, size_t size, size_t first);

#endif
