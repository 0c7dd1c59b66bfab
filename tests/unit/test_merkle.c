/*
 * test_merkle.c — RFC 6962/9162 tree hashing: known answers computed with
 * the recursive definition of RFC 6962 §2.1 (leaves i = 32 bytes of value
 * i), the Certificate Transparency reference vectors (roots of sizes 0..8,
 * inclusion paths and consistency proofs over the same eight inputs),
 * inclusion paths for every leaf of every tree up to 70 leaves, the
 * frontier against both tree builders, and every inclusion and consistency
 * proof of every tree up to 40 leaves with their tamper cases; and the hex
 * decoding the vectors are read with.
 */
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "merkle.h"
#include "tap.h"
#include "util.h"

static void
leaves_make(uint8_t (*leaves)[32], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t data[32];

		memset(data, (int)i, sizeof(data));
		merkle_leaf_hash(data, sizeof(data), leaves[i]);
	}
}

static void
test_known_roots(void)
{
	static const struct {
		size_t n;
		const char *root;
	} kat[] = {
		{ 1, "7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9" },
		{ 2, "28fb81e496897e0ce886f08602392e9239b65c659041e5202163e58ad898f444" },
		{ 3, "ba8d94b7fbcecae7b81c4c80574fe24734a6917bf9c1ecd66ff3e0c34ead4620" },
		{ 5, "85e20cac1f02fda7bcdb2fc3f908568c57018c77815f1fa361acad13994f08bf" },
		{ 7, "7318881c41fce3c1de3640df8e8c110c93f43f686b74204a9d1ad5b8c71c2047" },
	};
	uint8_t leaves[7][32], root[32];
	char hex[65];

	leaves_make(leaves, 7);
	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		CHECK_EQ(merkle_tree((const uint8_t (*)[32])leaves, kat[i].n, root, NULL), 0);
		hex_encode(root, 32, hex);
		CHECK(strcmp(hex, kat[i].root) == 0);
	}
	CHECK_EQ(merkle_tree((const uint8_t (*)[32])leaves, 0, root, NULL), KETEN_EINVAL);
}

static void
test_paths(void)
{
	enum { MAXN = 70 };
	static uint8_t leaves[MAXN][32], pathmem[MAXN][MERKLE_MAX_PATH][32];
	uint8_t (*paths[MAXN])[32];
	uint8_t root[32], again[32];

	leaves_make(leaves, MAXN);
	for (size_t n = 1; n <= MAXN; n++) {
		for (size_t i = 0; i < n; i++)
			paths[i] = pathmem[i];
		CHECK_EQ(merkle_tree((const uint8_t (*)[32])leaves, n, root, paths), 0);
		for (size_t i = 0; i < n; i++) {
			size_t plen = merkle_path_len(i, n);
			const uint8_t (*p)[32] = (const uint8_t (*)[32])paths[i];

			CHECK_EQ(merkle_root_from_path(leaves[i], i, n, p, plen, again), 0);
			CHECK(memcmp(root, again, 32) == 0);
			/* wrong index, wrong length, flipped hash.  (A path may give the
			 * same root under another size: the batch signature covers
			 * size and root together.) */
			if (n > 1) {
				int r = merkle_root_from_path(leaves[i], (i + 1) % n, n, p, plen, again);

				CHECK(r != 0 || memcmp(root, again, 32) != 0);
			}
			if (plen > 0) {
				CHECK_EQ(merkle_root_from_path(leaves[i], i, n, p, plen - 1, again),
				    KETEN_EBATCHPROOF);
				pathmem[i][plen - 1][0] ^= 1;
				CHECK_EQ(merkle_root_from_path(leaves[i], i, n, p, plen, again), 0);
				CHECK(memcmp(root, again, 32) != 0);
				pathmem[i][plen - 1][0] ^= 1;
			}
		}
	}
	CHECK_EQ(merkle_root_from_path(leaves[0], 5, 5, NULL, 0, again), KETEN_EBATCHPROOF);
}

/* The memo gives what the plain computation gives, whatever the order
 * of the leaves, across two trees of one size (another batch), and a
 * flipped hash anywhere in a path still changes the root. */
static void
test_paths_memo(void)
{
	enum { MAXN = 70 };
	static uint8_t leaves[2][MAXN][32], pathmem[2][MAXN][MERKLE_MAX_PATH][32];
	static struct merkle_memo memo;
	uint8_t (*paths[2][MAXN])[32];
	uint8_t root[2][32], plain[32], got[32];
	int wrong = 0;

	leaves_make(leaves[0], MAXN);
	for (size_t i = 0; i < MAXN; i++)	/* the second tree: other leaves */
		merkle_node_hash(leaves[0][i], leaves[0][i], leaves[1][i]);
	for (size_t n = 1; n <= MAXN; n++) {
		for (int t = 0; t < 2; t++) {
			for (size_t i = 0; i < n; i++)
				paths[t][i] = pathmem[t][i];
			CHECK_EQ(merkle_tree((const uint8_t (*)[32])leaves[t], n, root[t],
			    paths[t]), 0);
		}
		memset(&memo, 0, sizeof(memo));
		/* in order, backwards, by a stride, and alternating trees */
		for (int order = 0; order < 4; order++) {
			for (size_t k = 0; k < n; k++) {
				size_t i = order == 0 ? k : order == 1 ? n - 1 - k :
				    (k * 7) % n;
				int t = order == 3 ? (int)(k & 1) : 0;
				size_t plen = merkle_path_len(i, n);
				const uint8_t (*p)[32] = (const uint8_t (*)[32])paths[t][i];

				if (merkle_root_from_path_memo(leaves[t][i], i, n, p, plen, got,
				    &memo) != 0 || memcmp(got, root[t], 32) != 0)
					wrong++;
				for (size_t j = 0; j < plen; j++) {
					pathmem[t][i][j][31] ^= 0x80;
					if (merkle_root_from_path(leaves[t][i], i, n, p, plen,
					    plain) != 0 ||
					    merkle_root_from_path_memo(leaves[t][i], i, n, p,
					    plen, got, &memo) != 0 ||
					    memcmp(got, plain, 32) != 0 ||
					    memcmp(got, root[t], 32) == 0)
						wrong++;
					pathmem[t][i][j][31] ^= 0x80;
				}
				/* a leaf that is not in the tree */
				if (merkle_root_from_path_memo(leaves[1 - t][i], i, n, p, plen, got,
				    &memo) == 0 && memcmp(got, root[t], 32) == 0)
					wrong++;
			}
		}
	}
	CHECK_EQ(wrong, 0);
}

/* ------------------------------------------------------------------ */
/* Certificate Transparency reference vectors (merkle_tree_test.cc of the
 * C++ log, repeated in transparency-dev/merkle's verifier tests, which add
 * the 6 -> 7 consistency proof): eight inputs, the root of every prefix,
 * some paths and consistency proofs.  The C++ vectors count leaf indices
 * from 1; here they count from 0. */

static const char *const ct_inputs[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

static const char *const ct_roots[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct ct_proof {
	uint64_t m, n;
	size_t len;
	const char *hash[3];
};

/* PATH(m, D[n]); m counts from 0. */
static const struct ct_proof ct_paths[] = {
	{ 0, 1, 0, { NULL } },
	{ 0, 8, 3, {
	    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3, {
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, {
	    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3, {
	    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

/* PROOF(m, D[n]). */
static const struct ct_proof ct_consistency[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3, {
	    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, {
	    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, {
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3, {
	    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

static void
unhex32(const char *s, uint8_t out[32])
{
	CHECK_EQ(hex_decode(s, out, 32), 0);
}

static void
ct_leaves_make(uint8_t leaves[8][32])
{
	for (size_t i = 0; i < 8; i++) {
		uint8_t data[16];
		size_t len = strlen(ct_inputs[i]) / 2;

		CHECK_EQ(hex_decode(ct_inputs[i], data, len), 0);
		merkle_leaf_hash(data, len, leaves[i]);
	}
}

static void
test_ct_roots(void)
{
	uint8_t leaves[8][32], want[32], root[32];
	struct merkle_frontier f;

	ct_leaves_make(leaves);
	merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= 8; n++) {
		unhex32(ct_roots[n], want);
		CHECK_EQ(merkle_root((const uint8_t (*)[32])leaves, n, root), 0);
		CHECK(memcmp(root, want, 32) == 0);
		merkle_frontier_root(&f, root);
		CHECK(memcmp(root, want, 32) == 0);
		if (n > 0) {
			CHECK_EQ(merkle_tree((const uint8_t (*)[32])leaves, n, root, NULL), 0);
			CHECK(memcmp(root, want, 32) == 0);
		}
		if (n < 8)
			merkle_frontier_append(&f, leaves[n]);
	}
	CHECK_EQ(f.size, 8);
	/* The empty tree needs no leaves. */
	CHECK_EQ(merkle_root(NULL, 0, root), 0);
	unhex32(ct_roots[0], want);
	CHECK(memcmp(root, want, 32) == 0);
	CHECK_EQ(merkle_root(NULL, 1, root), KETEN_EINVAL);
}

static void
test_ct_proofs(void)
{
	uint8_t leaves[8][32], want[MERKLE_MAX_CONSISTENCY][32];
	uint8_t proof[MERKLE_MAX_CONSISTENCY][32], root[32], old[32], new[32];
	size_t plen;

	ct_leaves_make(leaves);
	for (size_t i = 0; i < sizeof(ct_paths) / sizeof(ct_paths[0]); i++) {
		const struct ct_proof *v = &ct_paths[i];
		static uint8_t pathmem[8][MERKLE_MAX_PATH][32];
		uint8_t (*paths[8])[32];

		for (size_t j = 0; j < v->len; j++)
			unhex32(v->hash[j], want[j]);
		CHECK_EQ(merkle_inclusion_proof((const uint8_t (*)[32])leaves, v->n,
		    v->m, proof, &plen), 0);
		CHECK_EQ(plen, v->len);
		CHECK(memcmp(proof, want, v->len * 32) == 0);
		/* merkle_tree makes the same path */
		for (size_t j = 0; j < v->n; j++)
			paths[j] = pathmem[j];
		CHECK_EQ(merkle_tree((const uint8_t (*)[32])leaves, v->n, root, paths), 0);
		CHECK_EQ(merkle_path_len(v->m, v->n), v->len);
		CHECK(memcmp(pathmem[v->m], want, v->len * 32) == 0);
		CHECK_EQ(merkle_root_from_path(leaves[v->m], v->m, v->n,
		    (const uint8_t (*)[32])want, v->len, root), 0);
		unhex32(ct_roots[v->n], old);
		CHECK(memcmp(root, old, 32) == 0);
	}
	for (size_t i = 0; i < sizeof(ct_consistency) / sizeof(ct_consistency[0]); i++) {
		const struct ct_proof *v = &ct_consistency[i];

		for (size_t j = 0; j < v->len; j++)
			unhex32(v->hash[j], want[j]);
		CHECK_EQ(merkle_consistency_proof((const uint8_t (*)[32])leaves, v->n,
		    v->m, proof, &plen), 0);
		CHECK_EQ(plen, v->len);
		CHECK(memcmp(proof, want, v->len * 32) == 0);
		unhex32(ct_roots[v->m], old);
		unhex32(ct_roots[v->n], new);
		CHECK_EQ(merkle_consistency_verify(v->m, old, v->n, new,
		    (const uint8_t (*)[32])want, v->len), 0);
	}
}

/* ------------------------------------------------------------------ */

static void
test_leaf_hash_prefixed(void)
{
	static uint8_t buf[1 + 4096];
	uint8_t a[32], b[32];

	for (size_t i = 1; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	buf[0] = 0x00;
	for (size_t len = 0; len < sizeof(buf); len += len < 300 ? 1 : 127) {
		merkle_leaf_hash(buf + 1, len, a);
		merkle_leaf_hash_prefixed(buf, len + 1, b);
		CHECK(memcmp(a, b, 32) == 0);
	}
	merkle_leaf_hash(NULL, 0, a);
	merkle_leaf_hash_prefixed(buf, 1, b);
	CHECK(memcmp(a, b, 32) == 0);
}

/* Every slot whose size bit is clear is zero; the others are not (they
 * hold hashes, which are never all zero in practice). */
static int
frontier_canonical(const struct merkle_frontier *f)
{
	static const uint8_t zero[32];

	for (unsigned int i = 0; i < 64; i++)
		if ((memcmp(f->nodes[i], zero, 32) == 0) != !((f->size >> i) & 1))
			return 0;
	return 1;
}

static void
test_frontier(void)
{
	enum { MAXN = 4097 };
	static uint8_t leaves[MAXN][32];
	static const uint64_t big[] = { 1000, 1023, 1024, 1025, 4096, 4097 };
	struct merkle_frontier f, g;
	uint8_t a[32], b[32], c[32];

	leaves_make(leaves, MAXN);
	/* every size up to 70, growing one frontier */
	merkle_frontier_init(&f);
	merkle_frontier_root(&f, a);
	CHECK_EQ(merkle_root(NULL, 0, b), 0);
	CHECK(memcmp(a, b, 32) == 0);
	for (uint64_t n = 1; n <= 70; n++) {
		merkle_frontier_append(&f, leaves[n - 1]);
		CHECK_EQ(f.size, n);
		CHECK(frontier_canonical(&f));
		merkle_frontier_root(&f, a);
		CHECK_EQ(merkle_root((const uint8_t (*)[32])leaves, n, b), 0);
		CHECK_EQ(merkle_tree((const uint8_t (*)[32])leaves, (size_t)n, c, NULL), 0);
		CHECK(memcmp(a, b, 32) == 0);
		CHECK(memcmp(a, c, 32) == 0);
	}
	/* a copy is a frontier too: continue both and compare */
	g = f;
	for (uint64_t n = 70; n < 100; n++) {
		merkle_frontier_append(&f, leaves[n]);
		merkle_frontier_append(&g, leaves[n]);
	}
	CHECK(memcmp(&f, &g, sizeof(f)) == 0);
	merkle_frontier_root(&g, a);
	CHECK_EQ(merkle_root((const uint8_t (*)[32])leaves, 100, b), 0);
	CHECK(memcmp(a, b, 32) == 0);
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		merkle_frontier_init(&f);
		for (uint64_t j = 0; j < big[i]; j++)
			merkle_frontier_append(&f, leaves[j]);
		CHECK(frontier_canonical(&f));
		merkle_frontier_root(&f, a);
		CHECK_EQ(merkle_root((const uint8_t (*)[32])leaves, big[i], b), 0);
		CHECK_EQ(merkle_tree((const uint8_t (*)[32])leaves, (size_t)big[i], c, NULL), 0);
		CHECK(memcmp(a, b, 32) == 0);
		CHECK(memcmp(a, c, 32) == 0);
	}

	/* The top slots, without 2^63 leaves: a frontier is plain data. */
	merkle_frontier_init(&f);
	f.size = UINT64_C(1) << 63;
	memcpy(f.nodes[63], leaves[1], 32);
	merkle_frontier_root(&f, a);
	CHECK(memcmp(a, leaves[1], 32) == 0);
	merkle_frontier_append(&f, leaves[2]);
	merkle_frontier_root(&f, a);
	merkle_node_hash(leaves[1], leaves[2], b);
	CHECK(memcmp(a, b, 32) == 0);
	/* the last possible append: every slot full, the new leaf in slot 0 */
	f.size = UINT64_MAX - 1;
	for (unsigned int i = 1; i < 64; i++)
		memcpy(f.nodes[i], leaves[i], 32);
	memset(f.nodes[0], 0, 32);
	merkle_frontier_append(&f, leaves[0]);
	CHECK(f.size == UINT64_MAX);
	CHECK(frontier_canonical(&f));
	merkle_frontier_root(&f, a);
	memcpy(b, leaves[0], 32);
	for (unsigned int i = 1; i < 64; i++)
		merkle_node_hash(leaves[i], b, b);
	CHECK(memcmp(a, b, 32) == 0);
}

/* ------------------------------------------------------------------ */

enum { PMAXN = 40 };

static uint8_t pleaves[PMAXN + 1][32];
static uint8_t proots[PMAXN + 2][32];	/* proots[n] = MTH of the first n */

static void
proof_fixture(void)
{
	leaves_make(pleaves, PMAXN + 1);
	for (uint64_t n = 0; n <= PMAXN + 1; n++)
		CHECK_EQ(merkle_root((const uint8_t (*)[32])pleaves, n, proots[n]), 0);
}

/* 1 if the path checks leaf m against tree head (n, proots[n]). */
static int
inclusion_ok(const uint8_t leaf[32], uint64_t m, uint64_t n,
    const uint8_t (*path)[32], size_t plen)
{
	uint8_t root[32];

	if (merkle_root_from_path(leaf, m, n, path, plen, root) != 0)
		return 0;
	return memcmp(root, proots[n], 32) == 0;
}

static void
test_inclusion_proofs(void)
{
	static uint8_t pathmem[PMAXN][MERKLE_MAX_PATH][32];
	uint8_t (*paths[PMAXN])[32];
	uint8_t proof[MERKLE_MAX_PATH + 1][32], leaf[32], root[32];
	const uint8_t (*p)[32] = (const uint8_t (*)[32])proof;
	size_t plen;

	proof_fixture();
	for (uint64_t n = 1; n <= PMAXN; n++) {
		for (size_t i = 0; i < n; i++)
			paths[i] = pathmem[i];
		CHECK_EQ(merkle_tree((const uint8_t (*)[32])pleaves, (size_t)n, root, paths), 0);
		CHECK(memcmp(root, proots[n], 32) == 0);
		for (uint64_t m = 0; m < n; m++) {
			CHECK_EQ(merkle_inclusion_proof((const uint8_t (*)[32])pleaves, n, m,
			    proof, &plen), 0);
			CHECK_EQ(plen, merkle_path_len(m, n));
			CHECK(memcmp(proof, pathmem[m], plen * 32) == 0);
			CHECK(inclusion_ok(pleaves[m], m, n, p, plen));

			/* any flipped bit, in the path or in the leaf */
			for (size_t j = 0; j < plen * 256; j++) {
				proof[j / 256][j % 256 / 8] ^= (uint8_t)(1 << (j % 8));
				CHECK(!inclusion_ok(pleaves[m], m, n, p, plen));
				proof[j / 256][j % 256 / 8] ^= (uint8_t)(1 << (j % 8));
			}
			for (size_t j = 0; j < 256; j++) {
				memcpy(leaf, pleaves[m], 32);
				leaf[j / 8] ^= (uint8_t)(1 << (j % 8));
				CHECK(!inclusion_ok(leaf, m, n, p, plen));
			}
			/* another index, or the same path under another tree
			 * head (its own size and root) */
			for (uint64_t m2 = 0; m2 <= n; m2++)
				if (m2 != m)
					CHECK(!inclusion_ok(pleaves[m], m2, n, p, plen));
			for (uint64_t n2 = 1; n2 <= PMAXN + 1; n2++)
				if (n2 != n)
					CHECK(!inclusion_ok(pleaves[m], m, n2, p, plen));
			/* truncated, extended at either end */
			for (size_t len = 0; len < plen; len++)
				CHECK_EQ(merkle_root_from_path(pleaves[m], m, n, p, len, root),
				    KETEN_EBATCHPROOF);
			memcpy(proof[plen], proots[n], 32);
			CHECK_EQ(merkle_root_from_path(pleaves[m], m, n, p, plen + 1, root),
			    KETEN_EBATCHPROOF);
			memmove(proof[1], proof[0], plen * 32);
			memset(proof[0], 0, 32);
			CHECK_EQ(merkle_root_from_path(pleaves[m], m, n, p, plen + 1, root),
			    KETEN_EBATCHPROOF);
		}
		CHECK_EQ(merkle_inclusion_proof((const uint8_t (*)[32])pleaves, n, n,
		    proof, &plen), KETEN_EINVAL);
	}
	CHECK_EQ(merkle_inclusion_proof((const uint8_t (*)[32])pleaves, 0, 0,
	    proof, &plen), KETEN_EINVAL);
	CHECK_EQ(merkle_inclusion_proof((const uint8_t (*)[32])pleaves,
	    (UINT64_C(1) << 63) + 1, 0, proof, &plen), KETEN_EINVAL);

	/* The deepest path accepted: the last leaf of 2^63, 63 left siblings. */
	{
		static uint8_t deep[MERKLE_MAX_PATH][32];
		uint64_t size = UINT64_C(1) << 63;

		memcpy(leaf, pleaves[0], 32);
		for (size_t j = 0; j < MERKLE_MAX_PATH; j++) {
			memcpy(deep[j], pleaves[1 + j % PMAXN], 32);
			merkle_node_hash(deep[j], leaf, leaf);
		}
		CHECK_EQ(merkle_root_from_path(pleaves[0], size - 1, size,
		    (const uint8_t (*)[32])deep, MERKLE_MAX_PATH, root), 0);
		CHECK(memcmp(root, leaf, 32) == 0);
		CHECK_EQ(merkle_root_from_path(pleaves[0], size - 2, size,
		    (const uint8_t (*)[32])deep, MERKLE_MAX_PATH, root), 0);
		CHECK(memcmp(root, leaf, 32) != 0);
	}
}

static int
consistency_ok(uint64_t m, const uint8_t old[32], uint64_t n,
    const uint8_t new[32], const uint8_t (*proof)[32], size_t plen)
{
	return merkle_consistency_verify(m, old, n, new, proof, plen) == 0;
}

/* 1 if the proof from m to n is the one given (then it must verify). */
static int
same_proof(uint64_t m, uint64_t n, const uint8_t (*proof)[32], size_t plen)
{
	uint8_t other[MERKLE_MAX_CONSISTENCY][32];
	size_t olen;

	if (m == 0 || m > n || n > PMAXN + 1)
		return 0;
	CHECK_EQ(merkle_consistency_proof((const uint8_t (*)[32])pleaves, n, m,
	    other, &olen), 0);
	return olen == plen && memcmp(other, proof, plen * 32) == 0;
}

static void
test_consistency_proofs(void)
{
	uint8_t proof[MERKLE_MAX_CONSISTENCY + 1][32], root[32];
	const uint8_t (*p)[32] = (const uint8_t (*)[32])proof;
	size_t plen, maxlen = 0;

	proof_fixture();
	for (uint64_t n = 1; n <= PMAXN; n++)
		for (uint64_t m = 1; m <= n; m++) {
			const uint8_t *old = proots[m], *new = proots[n];

			CHECK_EQ(merkle_consistency_proof((const uint8_t (*)[32])pleaves, n, m,
			    proof, &plen), 0);
			CHECK(plen <= MERKLE_MAX_CONSISTENCY);
			CHECK_EQ(plen == 0, m == n);
			if (plen > maxlen)
				maxlen = plen;
			CHECK(consistency_ok(m, old, n, new, p, plen));

			/* a flipped bit in any proof hash or either root */
			for (size_t j = 0; j < plen * 256; j++) {
				proof[j / 256][j % 256 / 8] ^= (uint8_t)(1 << (j % 8));
				CHECK(!consistency_ok(m, old, n, new, p, plen));
				proof[j / 256][j % 256 / 8] ^= (uint8_t)(1 << (j % 8));
			}
			for (size_t j = 0; j < 256; j++) {
				memcpy(root, old, 32);
				root[j / 8] ^= (uint8_t)(1 << (j % 8));
				CHECK(!consistency_ok(m, root, n, new, p, plen));
				memcpy(root, new, 32);
				root[j / 8] ^= (uint8_t)(1 << (j % 8));
				CHECK(!consistency_ok(m, old, n, root, p, plen));
			}
			if (m != n)
				CHECK(!consistency_ok(m, new, n, old, p, plen));
			/* another size on either side, with that size's own root
			 * (fails unless the proof happens to be that one too) */
			for (uint64_t m2 = 0; m2 <= n + 1; m2++)
				if (m2 != m)
					CHECK_EQ(consistency_ok(m2, proots[m2 <= PMAXN + 1 ? m2 : 0],
					    n, new, p, plen), same_proof(m2, n, p, plen));
			for (uint64_t n2 = 0; n2 <= PMAXN + 1; n2++)
				if (n2 != n)
					CHECK_EQ(consistency_ok(m, old, n2, proots[n2], p, plen),
					    same_proof(m, n2, p, plen));
			/* truncated, extended at either end */
			for (size_t len = 0; len < plen; len++)
				CHECK(!consistency_ok(m, old, n, new, p, len));
			{
				const uint8_t *extra[] = { old, new, proof[0], proots[0] };

				for (size_t j = 0; j < 4; j++) {
					uint8_t save[MERKLE_MAX_CONSISTENCY][32];

					memcpy(save, proof, plen * 32);
					memcpy(root, extra[j], 32);
					memcpy(proof[plen], root, 32);
					CHECK(!consistency_ok(m, old, n, new, p, plen + 1));
					memmove(proof[1], save, plen * 32);
					memcpy(proof[0], root, 32);
					CHECK(!consistency_ok(m, old, n, new, p, plen + 1));
					memcpy(proof, save, plen * 32);
				}
			}
		}
	/* ceil(log2 40) + 1 */
	CHECK_EQ(maxlen, 7);

	/* m == n: only the empty proof and equal roots */
	CHECK(consistency_ok(5, proots[5], 5, proots[5], p, 0));
	memcpy(proof[0], proots[5], 32);
	CHECK(!consistency_ok(5, proots[5], 5, proots[5], p, 1));
	CHECK(!consistency_ok(5, proots[5], 5, proots[6], p, 0));
	/* m == 0, m > n, an over-long proof, and the generator's limits */
	CHECK(!consistency_ok(0, proots[0], 0, proots[0], p, 0));
	CHECK(!consistency_ok(0, proots[0], 5, proots[5], p, 0));
	CHECK(!consistency_ok(6, proots[6], 5, proots[5], p, 0));
	CHECK_EQ(merkle_consistency_verify(3, proots[3], 5, proots[5], p,
	    MERKLE_MAX_CONSISTENCY + 1), KETEN_EBATCHPROOF);
	CHECK_EQ(merkle_consistency_proof((const uint8_t (*)[32])pleaves, 5, 0,
	    proof, &plen), KETEN_EINVAL);
	CHECK_EQ(merkle_consistency_proof((const uint8_t (*)[32])pleaves, 5, 6,
	    proof, &plen), KETEN_EINVAL);
	CHECK_EQ(merkle_consistency_proof((const uint8_t (*)[32])pleaves, 0, 0,
	    proof, &plen), KETEN_EINVAL);

	/* Sizes near the top of the range, built by hand: 2^62 -> 2^63 is
	 * one hash (the new right half); 2^63 -> 2^63 + 1 one leaf. */
	{
		uint64_t half = UINT64_C(1) << 62;

		memcpy(proof[0], pleaves[1], 32);
		merkle_node_hash(pleaves[0], pleaves[1], root);
		CHECK(consistency_ok(half, pleaves[0], 2 * half, root, p, 1));
		CHECK(!consistency_ok(half, pleaves[0], 2 * half + 1, root, p, 1));
		CHECK(consistency_ok(2 * half, pleaves[0], 2 * half + 1, root, p, 1));
		CHECK(!consistency_ok(2 * half - 1, pleaves[0], 2 * half, root, p, 1));
	}
}

/* The hex the vectors above (and the audit log's trace contexts) are
 * read with: every byte both ways, either case, and every other byte in
 * each position refused. */
static void
test_hex(void)
{
	char hex[3], bad[5];
	uint8_t b[2];
	size_t refused = 0, accepted = 0;

	for (unsigned v = 0; v < 256; v++) {
		uint8_t x = (uint8_t)v;

		hex_encode(&x, 1, hex);
		CHECK(hex_decode(hex, b, 1) == 0 && b[0] == x);
		for (size_t i = 0; i < 2; i++)
			hex[i] = (char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
		CHECK(hex_decode(hex, b, 1) == 0 && b[0] == x);
	}
	for (unsigned c = 1; c < 256; c++) {
		int digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

		for (size_t pos = 0; pos < 4; pos++) {
			memcpy(bad, "a5F0", 5);
			bad[pos] = (char)c;
			if (hex_decode(bad, b, 2) == 0)
				accepted++;
			else
				refused++;
			CHECK_EQ(hex_decode(bad, b, 2) == 0, digit);
		}
	}
	CHECK_EQ(accepted, 4u * 22);
	CHECK_EQ(refused, 4u * (255 - 22));
	CHECK(hex_decode("a5F0", b, 2) == 0 && b[0] == 0xa5 && b[1] == 0xf0);
	CHECK_EQ(hex_decode("a5F", b, 2), KETEN_EPARSE);
	CHECK_EQ(hex_decode("a5F00", b, 2), KETEN_EPARSE);
	CHECK_EQ(hex_decode("", b, 0), 0);
	/* the exact form reads 2 n characters, whatever follows */
	CHECK(hex_decode_exact("0aff-rest", b, 2) == 0 && b[0] == 0x0a && b[1] == 0xff);
	CHECK_EQ(hex_decode_exact("0a-f", b, 2), KETEN_EPARSE);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "merkle_known_roots", test_known_roots },
		{ "merkle_paths_every_leaf_every_size", test_paths },
		{ "merkle_ct_roots", test_ct_roots },
		{ "merkle_paths_memo", test_paths_memo },
		{ "merkle_ct_proofs", test_ct_proofs },
		{ "merkle_leaf_hash_prefixed", test_leaf_hash_prefixed },
		{ "merkle_frontier", test_frontier },
		{ "merkle_inclusion_every_leaf_tamper", test_inclusion_proofs },
		{ "merkle_consistency_every_pair_tamper", test_consistency_proofs },
		{ "hex_every_byte_and_digit", test_hex },
		{ NULL, NULL },
	};

	return tap_run(tests);
}
