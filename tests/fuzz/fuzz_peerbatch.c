/*
 * fuzz_peerbatch.c — libFuzzer harness for the body of a batch between
 * nodes (PEER_MSG_BATCH, PROTOCOL.md §14.2): peer_batch_check and
 * peer_batch_next on any bytes.  Whatever the input, every item lies
 * inside it, the two agree on the count, and a body that checks is
 * exactly its items written out again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body;
	size_t off = 0, prev = 0, blen;
	uint8_t type;
	int n = peer_batch_check(data, size), r, k = 0;
	struct buf *again = buf_new(PEER_BATCH_MAX);

	if (again == NULL)
		abort();
	while ((r = peer_batch_next(data, size, &off, &type, &body, &blen)) > 0) {
		if (off <= prev || off > size || body < data || blen == 0 ||
		    body + blen != data + off ||
		    (type != PEER_MSG_ENVELOPE && type != PEER_MSG_RECEIPT))
			abort();
		if (buf_put_u8(again, type) != 0 || buf_put_string(again, body, blen) != 0) {
			if (size <= PEER_BATCH_MAX)
				abort();	/* the items of a body this size fit */
		}
		prev = off;
		k++;
	}
	if (r != 0 && r != KETEN_EPARSE)
		abort();
	if (n > 0) {
		/* a good batch: read to its end, and nothing else */
		if (r != 0 || k != n || off != size || buf_len(again) != size ||
		    memcmp(buf_ptr(again), data, size) != 0)
			abort();
	} else if (n != KETEN_EPARSE || (r == 0 && k > 0 && size <= PEER_BATCH_MAX)) {
		abort();
	}
	buf_destroy(&again);
	return 0;
}
