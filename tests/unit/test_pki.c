/*
 * test_pki.c — keys from PEM files and party certificates against the
 * chain CA and CRL of the dev PKI (tap_pki_dir()): every party's keys
 * load and match its certificate and public files; private keys readable
 * by others, keys of the wrong type and garbage are refused; expired, not
 * yet valid, revoked, foreign-CA and wrong-usage certificates, a wrong
 * OIN, trailing bytes, a stale CRL and a CRL of another CA each get their
 * own error.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "err.h"
#include "keys.h"
#include "pki.h"
#include "tap.h"
#include "util.h"

static const char *dir;
static char work[64];
static struct pki *pki;

static const char *
path(const char *rel)
{
	static char p[4][4096];
	static int i;

	i = (i + 1) % 4;
	if ((size_t)snprintf(p[i], sizeof(p[i]), "%s/%s", dir, rel) >= sizeof(p[i]))
		abort();
	return p[i];
}

static const char *
scratch(const char *name, const char *text, mode_t mode)
{
	static char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", work, name);
	if ((f = fopen(p, "w")) == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
	if (chmod(p, mode) != 0)
		abort();
	return p;
}

static int
verify_file(const char *rel, const char *expect_oin, int64_t at, char *oin)
{
	struct buf *der = NULL;
	uint8_t pk[32];
	int r;

	if ((r = pki_load_cert_der(path(rel), &der)) != 0)
		return r;
	r = pki_verify_cert(pki, buf_ptr(der), buf_len(der), at, expect_oin, pk, oin);
	buf_destroy(&der);
	return r;
}

/* Every party: keys load, the signing key matches the certificate, the
 * sealing and transport keys match their public files. */
static void
test_parties(void)
{
	char pd[1024];
	struct dirent *e;
	DIR *dp = opendir(path("parties"));
	int n = 0;

	CHECK(dp != NULL);
	while (dp != NULL && (e = readdir(dp)) != NULL) {
		struct keys *k = NULL;
		struct buf *der = NULL, *oinb = NULL;
		uint8_t cert_pk[32], pub[32], sig[64];
		char oin[KETEN_OIN_LEN + 1], s[4096], c[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(pd, sizeof(pd), "parties/%s", e->d_name);
		snprintf(s, sizeof(s), "%s/sign.key", pd);
		snprintf(c, sizeof(c), "%s/seal.key", pd);
		CHECK_EQ(keys_load(path(s), path(c), NULL, &k, NULL), 0);
		if (k == NULL)
			continue;
		snprintf(c, sizeof(c), "%s/curve.key", pd);
		{
			struct keys *k2 = NULL;

			CHECK_EQ(keys_load(NULL, NULL, path(c), &k2, NULL), 0);
			if (k2 != NULL) {
				snprintf(c, sizeof(c), "%s/curve.pub", pd);
				CHECK_EQ(keys_load_public(path(c), pub), 0);
				CHECK(memcmp(pub, k2->curve_pk, 32) == 0);
				CHECK(k2->sign_sk == NULL && k2->seal_sk == NULL);
			}
			keys_destroy(&k2);
		}
		snprintf(c, sizeof(c), "%s/seal.pub", pd);
		CHECK_EQ(keys_load_public(path(c), pub), 0);
		CHECK(memcmp(pub, k->seal_pk, 32) == 0);
		snprintf(c, sizeof(c), "%s/sign.crt", pd);
		CHECK_EQ(pki_load_cert_der(path(c), &der), 0);
		snprintf(c, sizeof(c), "%s/oin", pd);
		CHECK_EQ(buf_load_file(path(c), 64, &oinb), 0);
		if (der != NULL && oinb != NULL) {
			char want[KETEN_OIN_LEN + 1];

			memcpy(want, buf_ptr(oinb), KETEN_OIN_LEN);
			want[KETEN_OIN_LEN] = '\0';
			CHECK_EQ(pki_verify_cert(pki, buf_ptr(der), buf_len(der), time(NULL), want,
			    cert_pk, oin), 0);
			CHECK(strcmp(oin, want) == 0);
			CHECK(memcmp(cert_pk, k->sign_pk, 32) == 0);
			crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, k->sign_sk);
			CHECK_EQ(crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, cert_pk), 0);
			/* the same certificate for another OIN */
			CHECK_EQ(pki_verify_cert(pki, buf_ptr(der), buf_len(der), time(NULL),
			    "00000009999999990000", cert_pk, NULL), KETEN_ECERTOIN);
		}
		buf_destroy(&oinb);
		buf_destroy(&der);
		keys_destroy(&k);
		CHECK(k == NULL);
		n++;
	}
	if (dp != NULL)
		closedir(dp);
	CHECK(n >= 12);
}

static void
test_bad_certs(void)
{
	static const struct {
		const char *file;
		int code;
	} cases[] = {
		{ "test/expired.crt", KETEN_ECERTEXPIRED },
		{ "test/notyet.crt", KETEN_ECERTEXPIRED },
		{ "test/revoked.crt", KETEN_ECERTREVOKED },
		{ "test/wrongca.crt", KETEN_ECERTCHAIN },
		{ "test/otherca.crt", KETEN_ECERTCHAIN },
		{ "test/wrongusage.crt", KETEN_ECERTUSAGE },
		{ "ca.crt", KETEN_ECERTUSAGE },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = verify_file(cases[i].file, NULL, time(NULL), NULL);

		if (r != cases[i].code)
			fprintf(stderr, "  %s: %s\n", cases[i].file, keten_errname(r));
		CHECK_EQ(r, cases[i].code);
	}
}

static void
test_time(void)
{
	/* a good certificate before its start, after its end, and after the
	 * CRL's nextUpdate (the CRL is valid for a year, the certificate
	 * for 825 days) */
	CHECK_EQ(verify_file("parties/ind/sign.crt", NULL, time(NULL) - 30 * 86400, NULL),
	    KETEN_ECERTEXPIRED);
	CHECK_EQ(verify_file("parties/ind/sign.crt", NULL, time(NULL) + 400 * 86400, NULL),
	    KETEN_ECRL);
	CHECK_EQ(verify_file("parties/ind/sign.crt", NULL, time(NULL) + 900 * 86400, NULL),
	    KETEN_ECERTEXPIRED);
}

static void
test_malformed_der(void)
{
	struct buf *der = NULL;
	uint8_t pk[32], junk[300];

	CHECK_EQ(pki_load_cert_der(path("parties/ind/sign.crt"), &der), 0);
	if (der == NULL)
		return;
	{
		size_t n = buf_len(der);
		uint8_t *copy = malloc(n + 1);

		memcpy(copy, buf_ptr(der), n);
		copy[n] = 0;
		CHECK_EQ(pki_verify_cert(pki, copy, n + 1, time(NULL), NULL, pk, NULL), KETEN_ECERT);
		CHECK_EQ(pki_verify_cert(pki, copy, n - 1, time(NULL), NULL, pk, NULL), KETEN_ECERT);
		/* one flipped bit in the signed part breaks the signature */
		copy[n / 2] ^= 0x01;
		CHECK(pki_verify_cert(pki, copy, n, time(NULL), NULL, pk, NULL) != 0);
		free(copy);
	}
	buf_destroy(&der);
	memset(junk, 0x30, sizeof(junk));
	CHECK_EQ(pki_verify_cert(pki, junk, sizeof(junk), time(NULL), NULL, pk, NULL), KETEN_ECERT);
	CHECK_EQ(pki_verify_cert(pki, junk, 0, time(NULL), NULL, pk, NULL), KETEN_ECERT);
	CHECK_EQ(pki_verify_cert(NULL, junk, 1, 0, NULL, pk, NULL), KETEN_EINVAL);
	CHECK_EQ(pki_load_cert_der(path("nonexistent.crt"), &der), KETEN_EIO);
	CHECK(der == NULL);
	CHECK_EQ(pki_load_cert_der(scratch("junk.crt", "not a certificate\n", 0644), &der),
	    KETEN_ECERT);
}

static void
test_pki_new(void)
{
	struct pki *p = NULL;
	char cmd[8192];
	const char *other_crl;

	CHECK_EQ(pki_new(path("ca.crt"), path("nonexistent.pem"), &p), KETEN_ECRL);
	CHECK(p == NULL);
	CHECK_EQ(pki_new(path("nonexistent.crt"), path("crl.pem"), &p), KETEN_EIO);
	/* a party certificate is no trust anchor */
	CHECK_EQ(pki_new(path("parties/ind/sign.crt"), path("crl.pem"), &p), KETEN_ECERT);
	/* the CRL must be the CA's: one made by another CA of the same name */
	other_crl = scratch("other-crl.pem", "", 0644);
	snprintf(cmd, sizeof(cmd),
	    "openssl crl -in '%s' -out /dev/null 2>/dev/null && "
	    "cd '%s' && mkdir -p o/newcerts && : > o/index.txt && echo 01 > o/crlnumber && "
	    "sed -e 's|^dir *=.*|dir = %s/o|' -e 's|^certificate *=.*|certificate = %s|' "
	    "-e 's|^private_key *=.*|private_key = %s|' '%s' > o.cnf && "
	    "openssl ca -config o.cnf -gencrl -out '%s' 2>/dev/null",
	    path("crl.pem"), work, work, path("test/otherca.crt"), path("test/otherca.key"),
	    path("ca/openssl.cnf"), other_crl);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(pki_new(path("ca.crt"), other_crl, &p), KETEN_ECRL);
	CHECK_EQ(pki_new(path("ca.crt"), scratch("bad-crl.pem", "garbage\n", 0644), &p),
	    KETEN_ECRL);
	CHECK(p == NULL);
	pki_destroy(&p);
}

static void
test_keys_bad(void)
{
	uint8_t *sk = sodium_malloc(64), pk[32];
	struct buf *b = NULL;
	struct keys *k = NULL;
	const char *p;

	if (sk == NULL)
		abort();
	/* readable by others: refused, as ssh refuses */
	CHECK_EQ(buf_load_file(path("parties/ind/sign.key"), 4096, &b), 0);
	if (b != NULL) {
		char *text = calloc(1, buf_len(b) + 1);

		memcpy(text, buf_ptr(b), buf_len(b));
		p = scratch("open.key", text, 0644);
		CHECK_EQ(keys_load_ed25519(p, sk, pk), KETEN_EKEYPERM);
		CHECK_EQ(keys_load(p, NULL, NULL, &k, NULL), KETEN_EKEYPERM);
		CHECK(k == NULL);
		CHECK_EQ(chmod(p, 0640), 0);
		CHECK_EQ(keys_check_perm(p), KETEN_EKEYPERM);
		CHECK_EQ(chmod(p, 0600), 0);
		CHECK_EQ(keys_check_perm(p), 0);
		CHECK_EQ(keys_load_ed25519(p, sk, pk), 0);
		/* the wrong type */
		CHECK_EQ(keys_load_x25519(p, sk, pk), KETEN_EKEYFILE);
		/* a link to it: refused as such, and the path at fault named */
		{
			char link[512];
			const char *bad = NULL;

			snprintf(link, sizeof(link), "%s.link", p);
			CHECK_EQ(symlink(p, link), 0);
			CHECK_EQ(keys_load(NULL, NULL, link, &k, &bad), KETEN_EKEYPERM);
			CHECK(bad != NULL && strcmp(bad, link) == 0);
			CHECK_EQ(unlink(link), 0);
			/* a FIFO: refused at once, not waited on */
			CHECK_EQ(mkfifo(link, 0600), 0);
			alarm(10);
			CHECK_EQ(keys_load(NULL, NULL, link, &k, &bad), KETEN_EKEYPERM);
			alarm(0);
			CHECK_EQ(unlink(link), 0);
			bad = NULL;
			CHECK_EQ(keys_load(p, path("parties/ind/nonexistent.key"), NULL, &k, &bad),
			    KETEN_EIO);
			CHECK(bad != NULL && strstr(bad, "nonexistent") != NULL);
		}
		free(text);
		buf_destroy(&b);
	}
	CHECK_EQ(keys_load_ed25519(path("parties/ind/seal.key"), sk, pk), KETEN_EKEYFILE);
	CHECK_EQ(keys_load(path("parties/ind/seal.key"), NULL, NULL, &k, NULL), KETEN_EKEYFILE);
	CHECK_EQ(keys_load(NULL, path("parties/ind/sign.key"), NULL, &k, NULL), KETEN_EKEYFILE);
	CHECK_EQ(keys_check_perm(work), KETEN_EKEYPERM);	/* not a regular file */
	CHECK_EQ(keys_load_ed25519(scratch("junk.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n"
	    "-----END PRIVATE KEY-----\n", 0600), sk, pk), KETEN_EKEYFILE);
	CHECK_EQ(keys_load_ed25519(path("parties/ind/nonexistent.key"), sk, pk), KETEN_EIO);
	CHECK_EQ(keys_load_public(path("parties/ind/sign.crt"), pk), KETEN_EKEYFILE);
	CHECK_EQ(keys_load_public(scratch("junk.pub", "junk\n", 0644), pk), KETEN_EKEYFILE);
	keys_destroy(&k);
	keys_destroy(NULL);
	sodium_free(sk);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "every party's keys and certificate", test_parties },
		{ "expired, not yet valid, revoked, foreign, wrong usage", test_bad_certs },
		{ "validity period and CRL time", test_time },
		{ "malformed certificates", test_malformed_der },
		{ "CA and CRL loading", test_pki_new },
		{ "bad key files", test_keys_bad },
		{ NULL, NULL },
	};
	char cmd[128];
	int r;

	if (sodium_init() < 0 || (dir = tap_pki_dir()) == NULL)
		return 1;
	snprintf(work, sizeof(work), "/tmp/test_pki.XXXXXX");
	if (mkdtemp(work) == NULL)
		return 1;
	{
		char ca[4096], crl[4096];

		snprintf(ca, sizeof(ca), "%s", path("ca.crt"));
		snprintf(crl, sizeof(crl), "%s", path("crl.pem"));
		if (pki_new(ca, crl, &pki) != 0) {
			fprintf(stderr, "pki_new(%s) failed\n", ca);
			return 1;
		}
	}
	r = tap_run(tests);
	pki_destroy(&pki);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", work);
	return r;
}
