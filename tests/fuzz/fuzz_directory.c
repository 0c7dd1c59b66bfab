/*
 * fuzz_directory.c — libFuzzer harness for the party directory, the one
 * document every node takes from outside and trusts for every key.
 *
 * Each input goes through directory_load(), the production path, twice:
 *
 *   1. as it is, as a SignedDirectory: the outer parser, the canonical
 *      encoding check, the signer certificate and the signature;
 *   2. as the bytes of a Directory that the harness signs with the fixed
 *      authority key and wraps in a SignedDirectory: the signature then
 *      verifies, and the inner parser and every field check run — with no
 *      test-only entry point into directory.c and no change to the order in
 *      which a node checks things.
 *
 * For that the harness builds a tiny, fixed chain PKI in memory at start-up:
 * Ed25519 keys from constant seeds, certificates and a CRL with constant
 * serials and validity periods.  Ed25519 signatures are deterministic, so
 * the DER of every certificate is the same in every run, and the seed files
 * (which embed party certificates) keep validating.  "Now" is fixed too.
 *
 * The seeds in tests/fuzz/seeds/fuzz_directory/ are written by this harness:
 *
 *   KETEN_FUZZ_MKSEEDS=tests/fuzz/seeds/fuzz_directory build/fuzz/fuzz_directory
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "buf.h"
#include "directory.h"
#include "directory.pb-c.h"
#include "err.h"
#include "pki.h"

#define NOW_MS 1893456000000ull			/* 2030-01-01T00:00:00Z */
#define DAY_MS (24ull * 3600u * 1000u)
#define AUTHORITY_OIN "00000001999000900000"
#define REVOKED_SERIAL 66

static const char CTX_DIRECTORY[] = "keten/v1/directory";

/* The fixed parties of the seeds: OIN, name, role, via, certificate serial. */
static const struct {
	const char *oin, *name;
	int role;
	const char *via;
	long serial;
} fixed[] = {
	{ "00000001999000010000", "IND", KETEN__V1__ROLE__IND, "", 10 },
	{ "00000001999000020000", "DT&V", KETEN__V1__ROLE__DTV, "", 11 },
	{ "00000001999000300000", "Relay", KETEN__V1__ROLE__RELAY, "", 12 },
	{ "00000001999000410000", "Gemeente Súdwest-Fryslân", KETEN__V1__ROLE__MUNICIPALITY,
	    "00000001999000300000", 13 },
	{ "00000001999000420000", "Revoked NGO", KETEN__V1__ROLE__NGO, "", REVOKED_SERIAL },
};
#define NFIXED (sizeof(fixed) / sizeof(fixed[0]))

static struct pki *pki;
static uint8_t auth_sk[64];
static uint8_t *auth_cert;
static int auth_cert_len;
static uint8_t *party_cert[NFIXED];
static int party_cert_len[NFIXED];

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_directory: %s\n", what);
	abort();
}

static EVP_PKEY *
ed_key(uint8_t fill)
{
	uint8_t seed[32];
	EVP_PKEY *k;

	memset(seed, fill, sizeof(seed));
	if ((k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32)) == NULL)
		die("EVP_PKEY_new_raw_private_key");
	return k;
}

static void
ext_add(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);

	if (e == NULL || X509_add_ext(x, e, -1) != 1)
		die("X509_add_ext");
	X509_EXTENSION_free(e);
}

/* A certificate of the fixed PKI; ca NULL makes the self-signed CA. */
static X509 *
cert_make(EVP_PKEY *key, EVP_PKEY *ca_key, X509 *ca, const char *cn,
    const char *oin, long serial)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;

	if (x == NULL || n == NULL ||
	    X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"NL",
		-1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
		-1, -1, 0) != 1 ||
	    (oin != NULL && X509_NAME_add_entry_by_txt(n, "serialNumber", MBSTRING_ASC,
		(const unsigned char *)oin, -1, -1, 0) != 1) ||
	    X509_set_subject_name(x, n) != 1 ||
	    X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : n) != 1 ||
	    ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20200101000000Z") != 1 ||
	    ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20991231235959Z") != 1 ||
	    X509_set_pubkey(x, key) != 1)
		die("certificate");
	X509V3_set_ctx(&ctx, ca ? ca : x, x, NULL, NULL, 0);
	ext_add(x, &ctx, NID_basic_constraints, ca ? "critical,CA:FALSE" : "critical,CA:TRUE");
	ext_add(x, &ctx, NID_key_usage,
	    ca ? "critical,digitalSignature" : "critical,keyCertSign,cRLSign");
	ext_add(x, &ctx, NID_subject_key_identifier, "hash");
	ext_add(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (X509_sign(x, ca_key, NULL) <= 0)
		die("X509_sign");
	X509_NAME_free(n);
	return x;
}

static X509_CRL *
crl_make(EVP_PKEY *ca_key, X509 *ca)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *last = ASN1_TIME_new(), *next = ASN1_TIME_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_INTEGER *rserial = ASN1_INTEGER_new();
	X509_EXTENSION *akid;
	X509V3_CTX ctx;

	if (crl == NULL || last == NULL || next == NULL || num == NULL || rev == NULL ||
	    rserial == NULL ||
	    X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
	    ASN1_TIME_set_string_X509(last, "20200101000000Z") != 1 ||
	    ASN1_TIME_set_string_X509(next, "20991231235959Z") != 1 ||
	    X509_CRL_set1_lastUpdate(crl, last) != 1 ||
	    X509_CRL_set1_nextUpdate(crl, next) != 1 ||
	    ASN1_INTEGER_set(num, 1) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1 ||
	    ASN1_INTEGER_set(rserial, REVOKED_SERIAL) != 1 ||
	    X509_REVOKED_set_serialNumber(rev, rserial) != 1 ||
	    X509_REVOKED_set_revocationDate(rev, last) != 1 ||
	    X509_CRL_add0_revoked(crl, rev) != 1)
		die("CRL");
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	if ((akid = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always")) == NULL || X509_CRL_add_ext(crl, akid, -1) != 1)
		die("CRL akid");
	X509_EXTENSION_free(akid);
	if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, ca_key, NULL) <= 0)
		die("X509_CRL_sign");
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	ASN1_INTEGER_free(num);
	ASN1_INTEGER_free(rserial);
	return crl;
}

static void
setup(void)
{
	char dir[] = "/tmp/fuzz_directory.XXXXXX", ca_path[64], crl_path[64];
	EVP_PKEY *ca_key, *key;
	X509 *ca, *x;
	X509_CRL *crl;
	FILE *f;
	uint8_t seed[32], pk[32];

	if (sodium_init() < 0)
		die("sodium_init");
	ca_key = ed_key(0xca);
	ca = cert_make(ca_key, ca_key, NULL, "keten fuzz CA", NULL, 1);
	crl = crl_make(ca_key, ca);

	/* pki_new() reads PEM files: write them once, load, remove. */
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", dir);
	snprintf(crl_path, sizeof(crl_path), "%s/crl.pem", dir);
	if ((f = fopen(ca_path, "w")) == NULL || PEM_write_X509(f, ca) != 1 || fclose(f) != 0)
		die(ca_path);
	if ((f = fopen(crl_path, "w")) == NULL || PEM_write_X509_CRL(f, crl) != 1 ||
	    fclose(f) != 0)
		die(crl_path);
	if (pki_new(ca_path, crl_path, &pki) != 0)
		die("pki_new refuses the fixed PKI");
	unlink(ca_path);
	unlink(crl_path);
	rmdir(dir);

	memset(seed, 0xa0, sizeof(seed));
	crypto_sign_seed_keypair(pk, auth_sk, seed);
	key = ed_key(0xa0);
	x = cert_make(key, ca_key, ca, "keten fuzz authority", AUTHORITY_OIN, 2);
	auth_cert = NULL;
	if ((auth_cert_len = i2d_X509(x, &auth_cert)) <= 0)
		die("i2d_X509");
	X509_free(x);
	EVP_PKEY_free(key);
	for (size_t i = 0; i < NFIXED; i++) {
		key = ed_key((uint8_t)(0x10 + i));
		x = cert_make(key, ca_key, ca, fixed[i].name, fixed[i].oin, fixed[i].serial);
		party_cert[i] = NULL;
		if ((party_cert_len[i] = i2d_X509(x, &party_cert[i])) <= 0)
			die("i2d_X509");
		X509_free(x);
		EVP_PKEY_free(key);
	}
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* Sign directory bytes as the fixed authority and wrap them.  Caller
 * frees *out. */
static int
wrap(const uint8_t *dir, size_t len, uint8_t **out, size_t *out_len)
{
	Keten__V1__SignedDirectory sd = KETEN__V1__SIGNED_DIRECTORY__INIT;
	uint8_t sig[64], *msg;

	if ((msg = malloc(sizeof(CTX_DIRECTORY) + len)) == NULL)
		return -1;
	memcpy(msg, CTX_DIRECTORY, sizeof(CTX_DIRECTORY));
	if (len != 0)
		memcpy(msg + sizeof(CTX_DIRECTORY), dir, len);
	crypto_sign_detached(sig, NULL, msg, sizeof(CTX_DIRECTORY) + len, auth_sk);
	free(msg);
	sd.directory.data = (uint8_t *)dir;
	sd.directory.len = len;
	sd.signature.data = sig;
	sd.signature.len = sizeof(sig);
	sd.signer_cert.data = auth_cert;
	sd.signer_cert.len = (size_t)auth_cert_len;
	*out_len = keten__v1__signed_directory__get_packed_size(&sd);
	if ((*out = malloc(*out_len)) == NULL)
		return -1;
	keten__v1__signed_directory__pack(&sd, *out);
	return 0;
}

/* Use what a node would use of a loaded directory. */
static void
exercise(const struct directory *d)
{
	for (size_t i = 0; i < directory_count(d); i++) {
		const struct party *p = directory_party(d, i);

		if (directory_find(d, p->oin) != p || directory_find_curve(d, p->curve_pk) != p)
			__builtin_trap();	/* look-ups disagree with the list */
		if (p->via[0] != '\0' && directory_find(d, p->via) == NULL)
			__builtin_trap();	/* a via that names no party got in */
	}
	(void)directory_find(d, AUTHORITY_OIN);
	(void)directory_serial(d);
	(void)directory_network(d);
}

static void
load(const uint8_t *data, size_t size)
{
	struct directory *d = NULL;

	if (directory_load(pki, AUTHORITY_OIN, data, size, NOW_MS, &d) == 0) {
		exercise(d);
		directory_destroy(&d);
	}
}

/* ------------------------------------------------------------------ */
/* seeds */

static void
seed_write(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die(path);
}

/* Directory bytes of the first nparties fixed parties; tweak (0 none)
 * spoils one thing. */
static uint8_t *
seed_directory(size_t nparties, int tweak, size_t *len)
{
	Keten__V1__Directory d = KETEN__V1__DIRECTORY__INIT;
	Keten__V1__Party party[NFIXED], *pp[NFIXED];
	Keten__V1__Role roles[NFIXED];
	uint8_t seal[NFIXED][32], curve[NFIXED][32], sk[32], *out;

	d.version = 1;
	d.network = (char *)"lvv-fuzz";
	d.serial = 7;
	d.issued_at = NOW_MS - DAY_MS;
	d.expires_at = NOW_MS + 365 * DAY_MS;
	for (size_t i = 0; i < nparties; i++) {
		keten__v1__party__init(&party[i]);
		party[i].oin = (char *)fixed[i].oin;
		party[i].name = (char *)fixed[i].name;
		roles[i] = (Keten__V1__Role)fixed[i].role;
		party[i].roles = &roles[i];
		party[i].n_roles = 1;
		party[i].endpoint = (char *)"tcp://127.0.0.1:7400";
		party[i].signing_cert.data = party_cert[i];
		party[i].signing_cert.len = (size_t)party_cert_len[i];
		memset(sk, 0x40 + (int)i, 32);
		crypto_scalarmult_base(seal[i], sk);
		memset(sk, 0x60 + (int)i, 32);
		crypto_scalarmult_base(curve[i], sk);
		party[i].seal_key.data = seal[i];
		party[i].seal_key.len = 32;
		party[i].curve_key.data = curve[i];
		party[i].curve_key.len = 32;
		party[i].via = (char *)fixed[i].via;
		pp[i] = &party[i];
	}
	if (tweak == 1)
		roles[0] = (Keten__V1__Role)42;
	if (tweak == 2)
		party[1].via = (char *)fixed[0].oin;	/* not a relay */
	d.parties = pp;
	d.n_parties = nparties;
	*len = keten__v1__directory__get_packed_size(&d);
	if ((out = malloc(*len)) == NULL)
		die("malloc");
	keten__v1__directory__pack(&d, out);
	return out;
}

static void
seeds_write(const char *dir)
{
	static const struct {
		const char *name;
		size_t nparties;
		int tweak, signed_;
	} s[] = {
		{ "signed-good", 4, 0, 1 },
		{ "signed-one", 1, 0, 1 },
		{ "dir-good", 4, 0, 0 },
		{ "dir-revoked", 5, 0, 0 },
		{ "dir-role-42", 4, 1, 0 },
		{ "dir-via-nonrelay", 4, 2, 0 },
	};
	struct directory *d = NULL;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		size_t len, wlen;
		uint8_t *p = seed_directory(s[i].nparties, s[i].tweak, &len), *w;

		if (wrap(p, len, &w, &wlen) != 0)
			die("wrap");
		/* The good ones must load, or the seeds test nothing. */
		if (s[i].tweak == 0 && s[i].nparties <= 4) {
			int r = directory_load(pki, AUTHORITY_OIN, w, wlen, NOW_MS, &d);

			if (r != 0) {
				fprintf(stderr, "%s: %s\n", s[i].name, keten_errname(r));
				die("a good seed does not load");
			}
			directory_destroy(&d);
		}
		if (s[i].signed_)
			seed_write(dir, s[i].name, w, wlen);
		else
			seed_write(dir, s[i].name, p, len);
		free(p);
		free(w);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("KETEN_FUZZ_MKSEEDS");

	(void)argc;
	(void)argv;
	setup();
	if (seeds != NULL) {
		seeds_write(seeds);
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *w;
	size_t wlen;

	load(data, size);
	if (size <= KETEN_DIRECTORY_MAX - 4096 && wrap(data, size, &w, &wlen) == 0) {
		load(w, wlen);
		free(w);
	}
	return 0;
}
