/*
 * merkle.h — Merkle tree hashing as in RFC 6962 / RFC 9162 (SHA-256, leaf
 * prefix 0x00, interior prefix 0x01).
 *
 * Used for batch signatures (one Ed25519 signature over the root of many
 * envelope digests, each envelope carrying its inclusion path) and for the
 * append-only audit log: the writer extends a frontier one record at a time
 * and signs (size, root) tree heads; an auditor holding every leaf hash
 * recomputes roots and makes inclusion (RFC 9162 §2.1.3) and consistency
 * (§2.1.4) proofs; anyone holding two tree heads checks a consistency proof
 * between them.  A tree of n leaves is the RFC 9162 §2.1.1 tree: built bottom
 * up, pairing nodes left to right, the odd last node of a level carried up
 * unchanged (the same tree as the recursive definition, which splits at the
 * largest power of two below n).  Every function here builds that one tree,
 * so merkle_tree, merkle_root, the frontier and the proof generators agree
 * on roots and paths.
 *
 * Hashing is OpenSSL's SHA-256 (the CPU's SHA extensions where it has
 * them).  The hash functions cannot report failure; if OpenSSL cannot hash
 * (no SHA-256 implementation, or no memory for a digest context) the
 * process aborts with a message on stderr, because a root computed without
 * its hashes would be worse than no root.
 *
 * No function keeps a pointer to its arguments or returns memory the caller
 * must free; all buffers belong to the caller.  A tree head on its own does
 * not fix its size: a verifier must hold size and root together, as signed.
 */
#ifndef KETEN_MERKLE_H
#define KETEN_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
/* Longest inclusion path we accept: trees of up to 2^63 leaves. */
#define MERKLE_MAX_PATH 63
/* Room a consistency proof may need (2^63 leaves need at most 64). */
#define MERKLE_MAX_CONSISTENCY 128

/* SHA-256(0x00 || data).  data may be NULL when len is 0. */
void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[32]);

/* SHA-256(p[0..len)) for a record stored with its leaf prefix: the caller
 * guarantees len >= 1 and p[0] == 0x00 (asserted), so this is the leaf hash
 * of p + 1, computed without copying. */
void merkle_leaf_hash_prefixed(const uint8_t *p, size_t len, uint8_t out[32]);

/* Plain SHA-256 of p[0..len), through the same fetched digest and reused
 * context (faster than OpenSSL 3's one-shot SHA256()). */
void merkle_sha256(const uint8_t *p, size_t len, uint8_t out[32]);
/* SHA-256 of the n parts p[i] (len[i] bytes each) one after another, the
 * same way: for public bytes hashed in pieces (not for secrets: the
 * context is OpenSSL's ordinary memory). */
void merkle_sha256_parts(const void *const *p, const size_t *len, size_t n, uint8_t out[32]);

/* SHA-256(0x01 || left || right).  out may alias left or right. */
void merkle_node_hash(const uint8_t left[32], const uint8_t right[32],
    uint8_t out[32]);

/* Number of hashes in the inclusion path of leaf index in a tree of size
 * leaves (index < size). */
size_t merkle_path_len(uint64_t index, uint64_t size);

/* Build a tree over n leaf hashes (n >= 1).  Writes the root to root and,
 * if paths is non-NULL, the inclusion path of every leaf: paths[i] points
 * to room for merkle_path_len(i, n) hashes.  0 or KETEN_EINVAL /
 * KETEN_ENOMEM. */
int merkle_tree(const uint8_t (*leaves)[32], size_t n, uint8_t root[32],
    uint8_t (**paths)[32]);

/* RFC 9162 §2.1.3.2: the root implied by a leaf hash, its index, the tree
 * size and an inclusion path (as merkle_tree or merkle_inclusion_proof make
 * it).  The caller compares the result with the signed root of that size.
 * 0, or KETEN_EBATCHPROOF when the path has the wrong length for (index,
 * size) or index >= size. */
int merkle_root_from_path(const uint8_t leaf[32], uint64_t index,
    uint64_t size, const uint8_t (*path)[32], size_t plen, uint8_t root[32])
    __attribute__((warn_unused_result));

/* The last computation of merkle_root_from_path_memo: the path, the state
 * before each step and the root.  Zeroed (or never used) means empty. */
struct merkle_memo {
	uint64_t size;
	size_t plen;
	int valid;
	uint64_t fn[MERKLE_MAX_PATH], sn[MERKLE_MAX_PATH];
	uint8_t r[MERKLE_MAX_PATH][32];
	uint8_t path[MERKLE_MAX_PATH][32];
	uint8_t root[32];
};

/* merkle_root_from_path, the same result, remembering the computation in
 * *memo (which may be NULL): when a step starts in the state a step of
 * the last computation started in (size, position, hash so far) and the
 * rest of the path is the same, the rest of the computation is the same,
 * and its root is taken instead of hashed again.  Leaves of one batch
 * verified one after another share all but the lowest steps. */
int merkle_root_from_path_memo(const uint8_t leaf[32], uint64_t index, uint64_t size,
    const uint8_t (*path)[32], size_t plen, uint8_t root[32], struct merkle_memo *memo)
    __attribute__((warn_unused_result));

/*
 * The writer's incremental tree (a compact range starting at leaf 0): the
 * roots of the perfect subtrees the first size leaves decompose into.
 * nodes[i] is the root of a subtree of 2^i leaves when bit i of size is
 * set, and all zero when it is clear, so two frontiers over the same leaves
 * are byte-for-byte equal.  Plain data: it may be copied, stored and read
 * back as it is.
 */
struct merkle_frontier {
	uint64_t size;
	uint8_t nodes[64][32];
};

/* Make f the frontier of the empty tree. */
void merkle_frontier_init(struct merkle_frontier *f);

/* Append one leaf hash (from merkle_leaf_hash*) to f; leaf is copied.
 * f->size must be below UINT64_MAX (asserted). */
void merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf[32]);

/* The RFC 9162 root (MTH) of the f->size leaves in f: SHA-256("") for the
 * empty tree. */
void merkle_frontier_root(const struct merkle_frontier *f, uint8_t root[32]);

/* The RFC 9162 root of the n leaf hashes leaves[0..n): SHA-256("") when n is
 * 0 (leaves may then be NULL).  Uses O(log n) memory, no allocation.  0, or
 * KETEN_EINVAL when leaves is NULL and n > 0. */
int merkle_root(const uint8_t (*leaves)[32], uint64_t n, uint8_t root[32]);

/* RFC 9162 §2.1.3.1 PATH(m, D[n]): the inclusion proof of leaf m in the tree
 * of the first n leaf hashes, written to proof (room for MERKLE_MAX_PATH
 * hashes) and its length to *plen; the same path merkle_tree makes, checked
 * by merkle_root_from_path.  O(n) hashing, O(log n) memory, no allocation.
 * 0, or KETEN_EINVAL when m >= n or n > 2^63 (nothing written). */
int merkle_inclusion_proof(const uint8_t (*leaves)[32], uint64_t n,
    uint64_t m, uint8_t (*proof)[32], size_t *plen);

/* RFC 9162 §2.1.4.1 PROOF(m, D[n]): the consistency proof between the trees
 * of the first m and the first n leaf hashes, written to proof (room for
 * MERKLE_MAX_CONSISTENCY hashes) and its length to *plen; empty when
 * m == n.  O(n) hashing, O(log n) memory, no allocation.  0, or
 * KETEN_EINVAL unless 0 < m <= n <= 2^63 (nothing written). */
int merkle_consistency_proof(const uint8_t (*leaves)[32], uint64_t n,
    uint64_t m, uint8_t (*proof)[32], size_t *plen);

/* RFC 9162 §2.1.4.2: check that the tree head (n, new_root) extends the tree
 * head (m, old_root), given the consistency proof proof[0..plen).  When
 * m == n the proof must be empty and the roots equal.  m == 0 is refused:
 * the generator makes no such proof, and the empty tree needs none (a
 * caller without an earlier tree head has nothing to check).  0, or
 * KETEN_EBATCHPROOF when the proof does not verify or is malformed
 * (m == 0, m > n, wrong length). */
int merkle_consistency_verify(uint64_t m, const uint8_t old_root[32],
    uint64_t n, const uint8_t new_root[32], const uint8_t (*proof)[32],
    size_t plen) __attribute__((warn_unused_result));

#endif
