/*
 * merkle.h — Merkle tree hashing as in RFC 6962 / RFC 9162 (SHA-256, leaf
 * prefix 0x00, interior prefix 0x01).
 *
 * Used for batch signatures (one Ed25519 signature over the root of many
 * envelope digests, each envelope carrying its inclusion path) and for the
 * audit log.  A tree of n leaves is the RFC 9162 §2.1.1 tree: built bottom
 * up, pairing nodes left to right, the odd last node of a level carried up
 * unchanged.
 */
#ifndef KETEN_MERKLE_H
#define KETEN_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
/* Longest inclusion path we accept: trees of up to 2^63 leaves. */
#define MERKLE_MAX_PATH 63

/* SHA-256(0x00 || data). */
void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[32]);
/* SHA-256(0x01 || left || right). */
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
 * size and an inclusion path.  0, or KETEN_EBATCHPROOF when the path has
 * the wrong length for (index, size) or index >= size. */
int merkle_root_from_path(const uint8_t leaf[32], uint64_t index,
    uint64_t size, const uint8_t (*path)[32], size_t plen, uint8_t root[32])
    __attribute__((warn_unused_result));

#endif
