/*
 * merkle.c — RFC 6962/9162 Merkle tree hashing (see merkle.h).
 */
/* before any OpenSSL header: see SHA256_Init below */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "err.h"
#include "merkle.h"

/* Trees larger than this have paths longer than MERKLE_MAX_PATH. */
#define MAX_LEAVES (UINT64_C(1) << 63)

/* ------------------------------------------------------------------ */
/* SHA-256 through OpenSSL's SHA256_Init/Update/Final.  OpenSSL 3 marks
 * these deprecated in favour of EVP, but they compute the same digest
 * with the same block function (the CPU's SHA extensions where it has
 * them), and an EVP digest costs about 100 ns more per hash in context
 * set-up and clean-up: as much as hashing the 65 bytes of a tree node,
 * and a tenth of verifying a log.  They cannot fail. */

/* out = SHA-256 of the n parts p[i] (len[i] bytes each; an empty one may
 * be NULL). */
static void
hash_parts(const void *const *p, const size_t *len, size_t n, uint8_t out[32])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	for (size_t i = 0; i < n; i++)
		if (len[i] > 0)
			SHA256_Update(&c, p[i], len[i]);
	SHA256_Final(out, &c);
}

/* out = SHA-256(a || b); b may be NULL when blen is 0. */
static void
hash2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
	const void *p[2] = { a, b };
	const size_t len[2] = { alen, blen };

	hash_parts(p, len, 2, out);
}

void
merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[32])
{
	static const uint8_t prefix = 0x00;

	hash2(&prefix, 1, data, len, out);
}

void
merkle_leaf_hash_prefixed(const uint8_t *p, size_t len, uint8_t out[32])
{
	assert(len >= 1 && p[0] == 0x00);
	hash2(p, len, NULL, 0, out);
}

void
merkle_sha256(const uint8_t *p, size_t len, uint8_t out[32])
{
	hash2(p, len, NULL, 0, out);
}

void
merkle_sha256_parts(const void *const *p, const size_t *len, size_t n, uint8_t out[32])
{
	hash_parts(p, len, n, out);
}

/* out = SHA-256(0x01 || left || right); out may alias left or right. */
void
merkle_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32])
{
	uint8_t in[65];

	in[0] = 0x01;
	memcpy(in + 1, left, 32);
	memcpy(in + 33, right, 32);
	hash2(in, sizeof(in), NULL, 0, out);
}

/* ------------------------------------------------------------------ */
/* Batch trees: every path at once. */

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
	return merkle_root_from_path_memo(leaf, index, size, path, plen, root, NULL);
}

int
merkle_root_from_path_memo(const uint8_t leaf[32], uint64_t index, uint64_t size,
    const uint8_t (*path)[32], size_t plen, uint8_t root[32], struct merkle_memo *memo)
{
	uint64_t fn = index, sn, sfn[MERKLE_MAX_PATH], ssn[MERKLE_MAX_PATH];
	uint8_t r[32], sr[MERKLE_MAX_PATH][32];
	size_t i;
	int same = memo != NULL && memo->valid && memo->size == size && memo->plen == plen;

	if (index >= size || plen > MERKLE_MAX_PATH)
		return KETEN_EBATCHPROOF;
	sn = size - 1;
	memcpy(r, leaf, 32);
	for (i = 0; i < plen; i++) {
		if (same && memo->fn[i] == fn && memo->sn[i] == sn &&
		    memcmp(memo->r[i], r, 32) == 0 &&
		    memcmp(memo->path[i], path[i], (plen - i) * 32) == 0)
			break;	/* from here on, the last computation */
		sfn[i] = fn;
		ssn[i] = sn;
		memcpy(sr[i], r, 32);
		if (sn == 0)
			return KETEN_EBATCHPROOF;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(path[i], r, r);
			/* A right edge node without a sibling at this level is
			 * carried up: skip the levels where it has none. */
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else
			merkle_node_hash(r, path[i], r);
		fn >>= 1;
		sn >>= 1;
	}
	if (i == plen) {
		if (sn != 0)
			return KETEN_EBATCHPROOF;
		memcpy(root, r, 32);
	} else {
		memcpy(root, memo->root, 32);
	}
	if (memo == NULL)
		return 0;
	/* The memo becomes this computation: its own steps before i, and
	 * the last one's from i on (the same, as the same state and path
	 * give the same steps). */
	for (size_t k = 0; k < i; k++) {
		memo->fn[k] = sfn[k];
		memo->sn[k] = ssn[k];
		memcpy(memo->r[k], sr[k], 32);
		memcpy(memo->path[k], path[k], 32);
	}
	if (i == plen) {
		memo->size = size;
		memo->plen = plen;
		memcpy(memo->root, r, 32);
		memo->valid = 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The frontier, and roots of leaf ranges computed with one. */

static void
frontier_push(struct merkle_frontier *f, const uint8_t leaf[32])
{
	uint8_t h[32];
	unsigned int i;

	assert(f->size < UINT64_MAX);
	memcpy(h, leaf, 32);
	/* Like adding 1 in binary: each full subtree of the new leaf's size
	 * merges with it into one twice as large, until a free slot. */
	for (i = 0; (f->size >> i) & 1; i++) {
		merkle_node_hash(f->nodes[i], h, h);
		memset(f->nodes[i], 0, 32);
	}
	memcpy(f->nodes[i], h, 32);
	f->size++;
}

/* Root of a non-empty frontier: the subtrees from the smallest (rightmost)
 * up, each new one on the left, as RFC 9162's MTH splits at the largest
 * power of two below the size. */
static void
frontier_fold(const struct merkle_frontier *f, uint8_t root[32])
{
	unsigned int i = (unsigned int)__builtin_ctzll(f->size);
	uint8_t r[32];

	memcpy(r, f->nodes[i], 32);
	for (i++; i < 64; i++)
		if ((f->size >> i) & 1)
			merkle_node_hash(f->nodes[i], r, r);
	memcpy(root, r, 32);
}

/* MTH(leaves[lo..hi)), lo < hi. */
static void
range_root(const uint8_t (*leaves)[32], uint64_t lo,
    uint64_t hi, uint8_t out[32])
{
	struct merkle_frontier f;

	merkle_frontier_init(&f);
	for (uint64_t i = lo; i < hi; i++)
		frontier_push(&f, leaves[i]);
	frontier_fold(&f, out);
}

static void
empty_root(uint8_t root[32])
{

	hash2("", 0, NULL, 0, root);
}

void
merkle_frontier_init(struct merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

void
merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf[32])
{

	if ((f->size & 1) == 0) {	/* nothing to merge: no hashing */
		assert(f->size < UINT64_MAX);
		memcpy(f->nodes[0], leaf, 32);
		f->size++;
		return;
	}
	frontier_push(f, leaf);
}

void
merkle_frontier_root(const struct merkle_frontier *f, uint8_t root[32])
{

	if (f->size == 0) {
		empty_root(root);
		return;
	}
	frontier_fold(f, root);
}

int
merkle_root(const uint8_t (*leaves)[32], uint64_t n, uint8_t root[32])
{

	if (n == 0) {
		empty_root(root);
		return 0;
	}
	if (leaves == NULL)
		return KETEN_EINVAL;
	range_root(leaves, 0, n, root);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Proofs.  Both generators walk from the root down to the subtree that
 * holds what they prove, hashing the sibling subtree they do not enter at
 * each split; RFC 9162 lists those hashes from the bottom up, so they are
 * reversed at the end.  Each leaf is hashed into at most one sibling:
 * O(n) work, and the only memory is one frontier at a time. */

/* Largest power of two below n (n >= 2): the RFC's split point k. */
static uint64_t
split_point(uint64_t n)
{
	return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

static void
hashes_reverse(uint8_t (*h)[32], size_t n)
{
	uint8_t t[32];

	for (size_t i = 0; i < n / 2; i++) {
		memcpy(t, h[i], 32);
		memcpy(h[i], h[n - 1 - i], 32);
		memcpy(h[n - 1 - i], t, 32);
	}
}

int
merkle_inclusion_proof(const uint8_t (*leaves)[32], uint64_t n, uint64_t m,
    uint8_t (*proof)[32], size_t *plen)
{
	uint64_t lo = 0, hi = n;
	size_t len = 0;

	if (m >= n || n > MAX_LEAVES)
		return KETEN_EINVAL;
	/* PATH(m, D[lo..hi)) with lo <= m < hi. */
	while (hi - lo > 1) {
		uint64_t mid = lo + split_point(hi - lo);

		assert(len < MERKLE_MAX_PATH);
		if (m < mid) {		/* PATH(m, D[lo..mid)) : MTH(D[mid..hi)) */
			range_root(leaves, mid, hi, proof[len++]);
			hi = mid;
		} else {		/* PATH(m, D[mid..hi)) : MTH(D[lo..mid)) */
			range_root(leaves, lo, mid, proof[len++]);
			lo = mid;
		}
	}
	hashes_reverse(proof, len);
	*plen = len;
	return 0;
}

int
merkle_consistency_proof(const uint8_t (*leaves)[32], uint64_t n, uint64_t m,
    uint8_t (*proof)[32], size_t *plen)
{
	uint64_t lo = 0, hi = n;
	size_t len = 0;
	int whole = 1;	/* the RFC's b: D[lo..lo+m) is the whole old tree */

	if (m == 0 || m > n || n > MAX_LEAVES)
		return KETEN_EINVAL;
	/* SUBPROOF(m, D[lo..hi), whole) with 0 < m <= hi - lo. */
	for (;;) {
		uint64_t k;

		assert(len < MERKLE_MAX_CONSISTENCY);
		if (m == hi - lo) {
			/* The verifier knows the old root; any other old
			 * subtree it must be given. */
			if (!whole)
				range_root(leaves, lo, hi, proof[len++]);
			break;
		}
		k = split_point(hi - lo);
		if (m <= k) {		/* SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) */
			range_root(leaves, lo + k, hi, proof[len++]);
			hi = lo + k;
		} else {		/* SUBPROOF(m-k, D[k:n], false) : MTH(D[0:k]) */
			range_root(leaves, lo, lo + k, proof[len++]);
			lo += k;
			m -= k;
			whole = 0;
		}
	}
	hashes_reverse(proof, len);
	*plen = len;
	return 0;
}

int
merkle_consistency_verify(uint64_t m, const uint8_t old_root[32], uint64_t n,
    const uint8_t new_root[32], const uint8_t (*proof)[32], size_t plen)
{
	uint8_t fr[32], sr[32];
	uint64_t fn, sn;
	size_t i;
	int ret = KETEN_EBATCHPROOF;

	if (m == 0 || m > n || plen > MERKLE_MAX_CONSISTENCY)
		return KETEN_EBATCHPROOF;
	if (m == n)
		return plen == 0 && memcmp(old_root, new_root, 32) == 0 ?
		    0 : KETEN_EBATCHPROOF;
	/* RFC 9162 §2.1.4.2, step by step, for 0 < m < n. */
	if (plen == 0)						/* 1 */
		return KETEN_EBATCHPROOF;
	/* 2: when m is a power of two the old root is itself a node of the
	 * new tree and the proof leaves it out; it is then the "first value"
	 * of step 5, which saves copying the proof to prepend it. */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, old_root, 32);
		i = 0;
	} else {
		memcpy(fr, proof[0], 32);
		i = 1;
	}
	fn = m - 1;						/* 3 */
	sn = n - 1;
	while (fn & 1) {					/* 4 */
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(sr, fr, 32);					/* 5 */
	for (; i < plen; i++) {					/* 6 */
		if (sn == 0)					/* 6a */
			goto out;
		if ((fn & 1) || fn == sn) {			/* 6b */
			merkle_node_hash(proof[i], fr, fr);
			merkle_node_hash(proof[i], sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else
			merkle_node_hash(sr, proof[i], sr);
		fn >>= 1;					/* 6c */
		sn >>= 1;
	}
	if (sn == 0 && memcmp(fr, old_root, 32) == 0 &&		/* 7 */
	    memcmp(sr, new_root, 32) == 0)
		ret = 0;
out:
	return ret;
}
