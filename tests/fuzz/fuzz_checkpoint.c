/*
 * fuzz_checkpoint.c — libFuzzer harness for checkpoints (C2SP signed
 * notes) from peers and witnesses: parse, verify against the fixed node
 * and witness keys, body length, and cosign what parses.
 *
 * The seeds are a note signed with the fixed node key, the same note
 * cosigned with the fixed witness key, and the examples of
 * c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature, so that
 * mutations start from notes that verify; the harness writes them itself:
 *
 *   KETEN_FUZZ_MKSEEDS=tests/fuzz/seeds/fuzz_checkpoint build/fuzz/fuzz_checkpoint
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "checkpoint.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NODE "keten/audit/v1/00000001999000050000"
#define WITNESS "keten/witness/v1/00000001999000010000"
#define EM "\xe2\x80\x94"

static uint8_t node_pk[32], node_sk[64], wit_pk[32], wit_sk[64];
static struct buf *out;

static void
seed_write(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n) {
		fprintf(stderr, "fuzz_checkpoint: cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
}

static void
seeds(const char *dir)
{
	static const char spec[] =
	    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
	    EM " example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URY"
	    "N7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
	static const char spec_wit[] =
	    EM " witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZC"
	    "B9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
	struct buf *s = buf_new(CHECKPOINT_MAX), *c = buf_new(CHECKPOINT_MAX);
	uint8_t root[32];

	for (int i = 0; i < 32; i++)
		root[i] = (uint8_t)i;
	if (s == NULL || c == NULL ||
	    checkpoint_sign(NODE, 1234567, root, 1800000000, NODE, node_sk, node_pk, s) != 0 ||
	    checkpoint_cosign(buf_ptr(s), buf_len(s), WITNESS, wit_sk, wit_pk, 1800000060, c) != 0)
		exit(1);
	seed_write(dir, "checkpoint-signed", buf_ptr(s), buf_len(s));
	seed_write(dir, "checkpoint-cosigned", buf_ptr(c), buf_len(c));
	seed_write(dir, "checkpoint-spec-example", spec, sizeof(spec) - 1);
	buf_reset(c);
	if (buf_put(c, spec, sizeof(spec) - 1) != 0 || buf_put(c, spec_wit, sizeof(spec_wit) - 1) != 0)
		exit(1);
	seed_write(dir, "checkpoint-spec-cosigned", buf_ptr(c), buf_len(c));
	buf_destroy(&s);
	buf_destroy(&c);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[32];
	const char *mk = getenv("KETEN_FUZZ_MKSEEDS");

	(void)argc;
	(void)argv;
	if (sodium_init() < 0 || (out = buf_new(2 * CHECKPOINT_MAX)) == NULL)
		abort();
	memset(seed, 0x11, sizeof(seed));
	crypto_sign_seed_keypair(node_pk, node_sk, seed);
	memset(seed, 0x22, sizeof(seed));
	crypto_sign_seed_keypair(wit_pk, wit_sk, seed);
	if (mk != NULL) {
		seeds(mk);
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct checkpoint cp, vp;
	size_t body;
	int r;

	r = checkpoint_parse(data, size, &cp);
	body = checkpoint_body_len(data, size);
	/* body_len agrees with parse, and the body is a prefix of the note */
	if ((r == 0) != (body != 0) || body > size)
		abort();
	if (checkpoint_verify(data, size, NODE, node_pk, &vp) == 0 &&
	    (r != 0 || strcmp(vp.origin, cp.origin) != 0 || vp.size != cp.size ||
	    memcmp(vp.root, cp.root, 32) != 0))
		abort();
	if (checkpoint_verify(data, size, WITNESS, wit_pk, &vp) == 0 && r != 0)
		abort();
	if (r == 0) {
		/* what cosign writes must verify and keep the body */
		buf_reset(out);
		if (checkpoint_cosign(data, size, WITNESS, wit_sk, wit_pk, 1800000060, out) == 0 &&
		    (checkpoint_verify(buf_ptr(out), buf_len(out), WITNESS, wit_pk, &vp) != 0 ||
		    vp.time != 1800000060 || checkpoint_body_len(buf_ptr(out), buf_len(out)) != body ||
		    memcmp(buf_ptr(out), data, size) != 0))
			abort();
	}
	return 0;
}
