/*
 * pbwire.c — the protobuf wire format by hand (see pbwire.h).
 */
#include <string.h>

#include "buf.h"
#include "err.h"
#include "pbwire.h"

int
pb_put_field_head(struct buf *b, unsigned field, size_t len)
{
	uint8_t x[20], *e = pb_varint_write(x, (uint64_t)field << 3 | PB_LEN);

	e = pb_varint_write(e, len);
	return buf_put(b, x, (size_t)(e - x));
}

size_t
pb_field_len(unsigned field, size_t len)
{
	return pb_varint_len((uint64_t)field << 3 | PB_LEN) + pb_varint_len(len) + len;
}

int
pb_get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
		uint8_t c;

		if (*pos >= len)
			return KETEN_EPARSE;
		c = p[(*pos)++];
		if (i == 9 && c > 1)
			return KETEN_EPARSE;	/* overflows 64 bits */
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			if (c == 0 && i > 0)
				return KETEN_EPARSE;	/* non-minimal */
			*v = x;
			return 0;
		}
	}
	return KETEN_EPARSE;
}
