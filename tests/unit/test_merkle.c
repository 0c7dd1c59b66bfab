/*
 * test_merkle.c — RFC 6962/9162 tree hashing: known answers computed with
 * the recursive definition of RFC 6962 §2.1 (leaves i = 32 bytes of value
 * i), and inclusion paths for every leaf of every tree up to 70 leaves.
 */
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

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "merkle_known_roots", test_known_roots },
		{ "merkle_paths_every_leaf_every_size", test_paths },
		{ NULL, NULL },
	};

	return tap_run(tests);
}
