/*
 * pbwire.h — the protobuf wire format, written and read by hand where
 * protobuf-c would cost a copy (the outer Envelope, envelope.c) or too
 * much time (an audit record, auditlog.c).  What is written is the
 * canonical encoding of docs/PROTOCOL.md section 1: fields in field-number
 * order, proto3 defaults left out, varints of minimal length.
 */
#ifndef KETEN_PBWIRE_H
#define KETEN_PBWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf;

/* Wire types. */
#define PB_VARINT 0
#define PB_LEN 2

/* Bytes of the varint of v: 1..10. */
static inline size_t
pb_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Write the varint of v at p; returns p past it. */
static inline uint8_t *
pb_varint_write(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Tag and length of a length-delimited field, into b: 0, KETEN_ETOOBIG
 * or KETEN_ENOMEM. */
int pb_put_field_head(struct buf *b, unsigned field, size_t len);
/* Bytes of a length-delimited field of len bytes, tag and length too. */
size_t pb_field_len(unsigned field, size_t len);

/* Read a varint at p[*pos..len), advancing *pos; minimal-length
 * encodings of at most 64 bits only.  0 or KETEN_EPARSE. */
int pb_get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v);

/* A writer into base[0..cap) that goes on counting past cap: n is the
 * message's length, and the message was written whole when n <= cap.
 * base NULL and cap 0 only count.  Inline: an audit record is some
 * twenty calls of these, for every event of every message. */
struct pb_out {
	uint8_t *base;
	size_t cap, n;
};

/* Whether k more bytes fit (n may already be past cap). */
static inline int
pb_out_fits(const struct pb_out *o, size_t k)
{
	return o->n <= o->cap && k <= o->cap - o->n;
}

static inline void
pb_out_raw_varint(struct pb_out *o, uint64_t v)
{
	size_t k = pb_varint_len(v);

	if (pb_out_fits(o, k))
		pb_varint_write(o->base + o->n, v);
	o->n += k;
}

static inline void
pb_out_raw(struct pb_out *o, const void *d, size_t len)
{
	if (len > 0 && pb_out_fits(o, len))
		memcpy(o->base + o->n, d, len);
	o->n += len;
}

/* A varint field, left out when 0. */
static inline void
pb_out_varint(struct pb_out *o, unsigned field, uint64_t v)
{
	if (v == 0)
		return;
	pb_out_raw_varint(o, (uint64_t)field << 3 | PB_VARINT);
	pb_out_raw_varint(o, v);
}

/* Tag and length of an embedded message, whose fields follow. */
static inline void
pb_out_head(struct pb_out *o, unsigned field, size_t len)
{
	pb_out_raw_varint(o, (uint64_t)field << 3 | PB_LEN);
	pb_out_raw_varint(o, len);
}

/* Always written: an element of a repeated field, even when empty. */
static inline void
pb_out_elem(struct pb_out *o, unsigned field, const void *d, size_t len)
{
	pb_out_head(o, field, len);
	pb_out_raw(o, d, len);
}

/* A bytes field, left out when empty. */
static inline void
pb_out_bytes(struct pb_out *o, unsigned field, const void *d, size_t len)
{
	if (len > 0)
		pb_out_elem(o, field, d, len);
}

/* A string field: NULL or "" is left out. */
static inline void
pb_out_string(struct pb_out *o, unsigned field, const char *s)
{
	if (s != NULL)
		pb_out_bytes(o, field, s, strlen(s));
}

#endif
