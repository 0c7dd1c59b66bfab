/*
 * buf.h — a bounded byte buffer for untrusted and secret bytes.
 *
 * A buf has a hard maximum size fixed at creation: a put that would pass it
 * fails with KETEN_ETOOBIG instead of growing without bound.  A buf made
 * with buf_new_secret() lives in sodium_malloc() memory (guard pages,
 * mlock) and is wiped when freed or grown.  Readers use the get functions,
 * which check the remaining length before every read and advance an
 * internal read offset.
 */
#ifndef KETEN_BUF_H
#define KETEN_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* New empty buffer that may grow to max bytes.  Caller owns the result
 * and frees it with buf_destroy(); NULL on allocation failure. */
struct buf *buf_new(size_t max);
/* Same, in sodium_malloc'd memory, wiped on free. */
struct buf *buf_new_secret(size_t max);
/* Free (wiping secret buffers) and set *bp to NULL; NULL-safe. */
void buf_destroy(struct buf **bp);

/* Writers: 0 or KETEN_ETOOBIG / KETEN_ENOMEM. */
int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u32(struct buf *b, uint32_t v);	/* big-endian */
int buf_put_u64(struct buf *b, uint64_t v);	/* big-endian */
/* u32 big-endian length followed by the bytes. */
int buf_put_string(struct buf *b, const void *p, size_t n);
/* Reserve n bytes at the end and return a pointer to them in *pp
 * (valid until the next put). */
int buf_reserve(struct buf *b, size_t n, uint8_t **pp);

/* Readers: 0 or KETEN_EPARSE when fewer bytes remain than asked. */
int buf_get(struct buf *b, void *p, size_t n);
int buf_get_u8(struct buf *b, uint8_t *v);
int buf_get_u32(struct buf *b, uint32_t *v);
int buf_get_u64(struct buf *b, uint64_t *v);

/* Make room for at least cap bytes in total (cap <= max) so that later
 * puts up to that size never move the data.  0, KETEN_ETOOBIG, ENOMEM. */
int buf_ensure(struct buf *b, size_t cap);

/* Borrowed view of the bytes; valid until the next put or destroy. */
const uint8_t *buf_ptr(const struct buf *b);
size_t buf_len(const struct buf *b);
/* Bytes not yet read. */
size_t buf_remaining(const struct buf *b);
/* Empty the buffer (wiping secret contents) without freeing it. */
void buf_reset(struct buf *b);
/* Cut the buffer back to len bytes (len <= buf_len). */
void buf_truncate(struct buf *b, size_t len);

/* Read a whole regular file of at most max bytes into a new buffer.
 * 0, KETEN_EIO (errno kept), KETEN_ETOOBIG or KETEN_ENOMEM. */
int buf_load_file(const char *path, size_t max, struct buf **out);

#endif
