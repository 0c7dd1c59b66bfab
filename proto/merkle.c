/*
 * merkle.c — RFC 6962/9162 Merkle tree hashing (see merkle.h).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "err.h"
#include "merkle.h"

void
merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[32])
{
	static const uint8_t prefix = 0x00;
	crypto_hash_sha256_state c;

	crypto_hash_sha256_init(&c);
	crypto_hash_sha256_update(&c, &prefix, 1);
	crypto_hash_sha256_update(&c, data, len);
	crypto_hash_sha256_final(&c, out);
}

void
merkle_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32])
{
	uint8_t in[65];

	in[0] = 0x01;
	memcpy(in + 1, left, 32);
	memcpy(in + 33, right, 32);
	crypto_hash_sha256(out, in, sizeof(in));
}

size_t
merkle_path_len(uint64_t index, uint64_t size)
{
	size_t n = 0;

	/* Walk up the levels: a node has a sibling unless it is the odd last
	 * node of its level, which is carried up unchanged. */
	while (size > 1) {
		if ((index ^ 1) < size)
			n++;
		index >>= 1;
		size = (size + 1) >> 1;
	}
	return n;
}

int
merkle_tree(const uint8_t (*leaves)[32], size_t n, uint8_t root[32],
    uint8_t (**paths)[32])
{
	uint8_t (*level)[32] = NULL, (*next)[32];
	size_t *fill = NULL, size = n;
	int r = KETEN_ENOMEM;

	if (n == 0)
		return KETEN_EINVAL;
	if ((level = malloc(n * 32)) == NULL)
		goto out;
	if (paths != NULL && (fill = calloc(n, sizeof(*fill))) == NULL)
		goto out;
	memcpy(level, leaves, n * 32);
	for (size_t span = 1; size > 1; span <<= 1) {
		/* Every leaf under node j of this level gets node j^1 as its
		 * next path element, if that sibling exists. */
		if (paths != NULL)
			for (size_t leaf = 0; leaf < n; leaf++) {
				size_t j = leaf / span;

				if ((j ^ 1) < size)
					memcpy(paths[leaf][fill[leaf]++], level[j ^ 1], 32);
			}
		next = level;	/* combine in place: next[i] reads level[2i..] */
		for (size_t i = 0; i < size / 2; i++)
			merkle_node_hash(level[2 * i], level[2 * i + 1], next[i]);
		if (size & 1)
			memmove(next[size / 2], level[size - 1], 32);
		size = (size + 1) / 2;
	}
	memcpy(root, level[0], 32);
	r = 0;
out:
	free(level);
	free(fill);
	return r;
}

int
merkle_root_from_path(const uint8_t leaf[32], uint64_t index, uint64_t size,
    const uint8_t (*path)[32], size_t plen, uint8_t root[32])
{
	uint64_t fn = index, sn;
	uint8_t r[32];

	if (index >= size || plen > MERKLE_MAX_PATH)
		return KETEN_EBATCHPROOF;
	sn = size - 1;
	memcpy(r, leaf, 32);
	for (size_t i = 0; i < plen; i++) {
		if (sn == 0)
			return KETEN_EBATCHPROOF;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(path[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else
			merkle_node_hash(r, path[i], r);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return KETEN_EBATCHPROOF;
	memcpy(root, r, 32);
	return 0;
}
