/*
 * fuzz_mandate.c — libFuzzer harness for mandates and revocations, which a
 * node takes from outside (a bundle file, or messages) and trusts for
 * every decision.
 *
 * Each input goes through the production entry points:
 *
 *   1. as it is: mandates_add() (a SignedMandate), mandates_revoke() (a
 *      SignedRevocation) and mandates_load_bundle() (a MandateBundle);
 *   2. as the bytes of a Mandate that the harness signs with the dev
 *      network authority's key: the signature verifies, so every field
 *      check, the delegation chain and the checks of mandates_check() run;
 *      the same bytes signed as a Revocation go through mandates_revoke().
 *
 * The directory and keys are the dev network's: $KETEN_TEST_PKI, or one
 * made with certs/mkdevnet.sh at start-up.  Seeds (serialized Mandates) are
 * written by the harness itself:
 *
 *   KETEN_FUZZ_MKSEEDS=tests/fuzz/seeds/fuzz_mandate build/fuzz/fuzz_mandate
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "directory.h"
#include "err.h"
#include "keys.h"
#include "mandate.h"
#include "pki.h"
#include "util.h"

#include "directory.pb-c.h"
#include "envelope.pb-c.h"
#include "mandate.pb-c.h"

#define AUTH "00000001999000000000"
#define IND "00000001999000010000"
#define AMS "00000001999000050000"
#define RELAY "00000001999000110000"
#define NOW 1800000000000ull

static struct pki *pki;
static struct directory *dir;
static uint8_t auth_sk[64], ind_sk[64];
static char own[64];

static void
own_remove(void)
{
	char cmd[128];

	if (own[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", own);
		if (system(cmd) != 0)
			fprintf(stderr, "fuzz_mandate: cannot remove %s\n", own);
	}
}

static const char *
pki_dir(void)
{
	static char dirpath[128];
	const char *env = getenv("KETEN_TEST_PKI"), *repo = getenv("KETEN_REPO");
	char cmd[1024];

	if (env != NULL && env[0] != '\0')
		return env;
	snprintf(own, sizeof(own), "/tmp/keten-fuzz-pki.XXXXXX");
	if (mkdtemp(own) == NULL)
		return NULL;
	atexit(own_remove);
	snprintf(dirpath, sizeof(dirpath), "%s/pki", own);
	snprintf(cmd, sizeof(cmd), "'%s/certs/mkdevnet.sh' '%s' >/dev/null 2>&1",
	    repo != NULL ? repo : ".", dirpath);
	return system(cmd) == 0 ? dirpath : NULL;
}

static void
seeds(const char *out)
{
	static Keten__V1__Kind kinds[] = { KETEN__V1__KIND__DOSSIER_DELIVERY,
		KETEN__V1__KIND__CASE_EVENT };
	static Keten__V1__Role roles[] = { KETEN__V1__ROLE__MUNICIPALITY };
	static char *purposes[] = { "lvv-intake", "lvv-lso" };
	static char *rcpts[] = { AMS };
	Keten__V1__Mandate m = KETEN__V1__MANDATE__INIT;
	uint8_t p[4096];
	char path[PATH_MAX];
	FILE *f;

	m.version = 1;
	m.id = "seed-1";
	m.issuer = AUTH;
	m.grantee = IND;
	m.n_kinds = 2;
	m.kinds = kinds;
	m.n_recipient_roles = 1;
	m.recipient_roles = roles;
	m.n_purposes = 2;
	m.purposes = purposes;
	m.legal_basis = "Besluit, art. 1";
	m.legal_basis_uri = "https://example.org/besluit";
	m.valid_from = NOW - 1000;
	m.valid_until = NOW + 1000;
	for (int i = 0; i < 3; i++) {
		size_t n;

		if (i == 1) {	/* explicit recipients, delegable */
			m.id = "seed-2";
			m.n_recipient_roles = 0;
			m.n_recipients = 1;
			m.recipients = rcpts;
			m.may_delegate = 1;
		} else if (i == 2) {	/* a relay mandate */
			m.id = "seed-3";
			m.grantee = RELAY;
			m.relay = 1;
		}
		n = keten__v1__mandate__pack(&m, p);
		snprintf(path, sizeof(path), "%s/mandate-%d", out, i + 1);
		if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n) {
			fprintf(stderr, "fuzz_mandate: cannot write %s\n", path);
			exit(1);
		}
		fclose(f);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *d = pki_dir(), *mk = getenv("KETEN_FUZZ_MKSEEDS");
	char a[PATH_MAX], b[PATH_MAX];
	uint8_t pk[32];

	(void)argc;
	(void)argv;
	if (mk != NULL) {
		seeds(mk);
		exit(0);
	}
	if (d == NULL || sodium_init() < 0) {
		fprintf(stderr, "fuzz_mandate: no dev PKI (set KETEN_TEST_PKI or KETEN_REPO)\n");
		exit(1);
	}
	snprintf(a, sizeof(a), "%s/ca.crt", d);
	snprintf(b, sizeof(b), "%s/crl.pem", d);
	if (pki_new(a, b, &pki) != 0)
		exit(1);
	snprintf(a, sizeof(a), "%s/directory.signed", d);
	if (directory_load_file(pki, AUTH, a, clock_now_ms(), &dir) != 0) {
		fprintf(stderr, "fuzz_mandate: %s does not load\n", a);
		exit(1);
	}
	snprintf(a, sizeof(a), "%s/parties/authority/sign.key", d);
	snprintf(b, sizeof(b), "%s/parties/ind/sign.key", d);
	if (keys_load_ed25519(a, auth_sk, pk) != 0 || keys_load_ed25519(b, ind_sk, pk) != 0)
		exit(1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mandates *reg = NULL;
	struct mandate_decision dec;
	struct buf *s = NULL;
	size_t added, refused;
	const struct mandate *m = NULL;

	if (mandates_new(&reg) != 0)
		return 0;
	(void)mandates_add(reg, dir, data, size, NULL);
	(void)mandates_revoke(reg, dir, data, size);
	(void)mandates_load_bundle(reg, dir, data, size, &added, &refused, NULL, NULL);
	/* The bytes as a Mandate, signed by the authority and by IND (a
	 * delegation, if it names a parent). */
	if (mandate_sign(data, size, auth_sk, &s) == 0)
		(void)mandates_add(reg, dir, buf_ptr(s), buf_len(s), &m);
	buf_destroy(&s);
	if (mandate_sign(data, size, ind_sk, &s) == 0)
		(void)mandates_add(reg, dir, buf_ptr(s), buf_len(s), NULL);
	buf_destroy(&s);
	for (size_t i = 0; i < mandates_count(reg); i++) {
		const struct mandate *x = mandates_at(reg, i);

		(void)mandates_check(reg, dir, x->grantee, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS,
		    "lvv-intake", x->id, NOW, &dec);
		(void)mandates_check(reg, dir, x->grantee, KETEN__V1__KIND__CASE_EVENT, AMS,
		    x->npurposes ? x->purposes[0] : "", "", x->valid_until, &dec);
		(void)mandates_check_relay(reg, x->grantee, KETEN__V1__KIND__CASE_EVENT, NOW, &dec);
	}
	/* The bytes as a Revocation, signed by the authority. */
	if (revocation_sign(data, size, auth_sk, &s) == 0)
		(void)mandates_revoke(reg, dir, buf_ptr(s), buf_len(s));
	buf_destroy(&s);
	if (m != NULL)
		(void)mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
		    "", NOW, &dec);
	mandates_destroy(&reg);
	return 0;
}
