/*
 * test_directory.c — the party directory against the dev PKI of
 * certs/mkdevnet.sh: a good directory loads and its look-ups agree with
 * its source; the signing tool refuses what a node refuses, with the
 * field named; and a node refuses every spoiled document: flipped bits in
 * the signature, the directory and the signer certificate, every
 * truncation, appended bytes, the wrong signer, a signer of another CA,
 * expired and not yet valid directories, and (hand-packed and signed by
 * the authority, since the signing tool will not make them) wrong
 * versions, unknown roles, bad OINs, duplicates, bad vias, bad keys,
 * party certificates that are expired, revoked or for another OIN,
 * unknown fields and non-canonical encodings.
 *
 * The dev PKI is tap_pki_dir()'s.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "buf.h"
#include "directory.h"
#include "directory.pb-c.h"
#include "err.h"
#include "keys.h"
#include "pki.h"
#include "tap.h"
#include "util.h"

#define DAY_MS (24ull * 3600u * 1000u)

static const char CTX_DIRECTORY[] = "keten/v1/directory";

static char pki_dir[4096];
static char work[64];		/* scratch directory for sources and files */
static struct pki *pki;
static char auth_oin[KETEN_OIN_LEN + 1];
static uint8_t *auth_sk;	/* sodium_malloc, 64 */
static struct buf *auth_cert;
static json_t *source;		/* directory.json with absolute paths */
static uint64_t now;

/* ------------------------------------------------------------------ */
/* set-up */

static void
path_join(char *out, size_t len, const char *a, const char *b)
{
	if ((size_t)snprintf(out, len, "%s/%s", a, b) >= len)
		abort();
}

/* The OIN in a certificate's subject serialNumber, without validating
 * it.  0 or -1. */
static int
cert_oin(const struct buf *der, char oin[KETEN_OIN_LEN + 1])
{
	const unsigned char *p = buf_ptr(der);
	X509 *x = d2i_X509(NULL, &p, (long)buf_len(der));
	int n = -1;

	if (x != NULL)
		n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_serialNumber,
		    oin, KETEN_OIN_LEN + 1);
	X509_free(x);
	return n == KETEN_OIN_LEN ? 0 : -1;
}

static int
load_cert(const char *dir, const char *name, struct buf **der)
{
	char p[4096];

	path_join(p, sizeof(p), dir, name);
	return pki_load_cert_der(p, der);
}

/* Key and certificate of the party whose certificate names oin, from
 * parties/<slug>/sign.{key,crt}.  sk: 64 bytes of sodium_malloc. */
static int
party_keys(const char *oin, uint8_t *sk, struct buf **cert)
{
	char dir[4096], p[4096], got[KETEN_OIN_LEN + 1];
	struct dirent *e;
	DIR *dp;
	int r = -1;

	path_join(dir, sizeof(dir), pki_dir, "parties");
	if ((dp = opendir(dir)) == NULL)
		return -1;
	while (r != 0 && (e = readdir(dp)) != NULL) {
		struct buf *der = NULL;
		uint8_t pk[32];

		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s/sign.crt", dir, e->d_name) >= sizeof(p) ||
		    pki_load_cert_der(p, &der) != 0)
			continue;
		if (cert_oin(der, got) == 0 && strcmp(got, oin) == 0) {
			if ((size_t)snprintf(p, sizeof(p), "%s/%s/sign.key", dir, e->d_name) <
			    sizeof(p) && keys_load_ed25519(p, sk, pk) == 0) {
				*cert = der;
				der = NULL;
				r = 0;
			}
		}
		buf_destroy(&der);
	}
	closedir(dp);
	return r;
}

/* Make every path of a source party absolute (relative to the PKI). */
static void
source_absolute(json_t *src)
{
	static const char *const keys[] = { "signing_cert", "seal_key", "curve_key" };
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(src, "parties"), i, p)
		for (size_t k = 0; k < 3; k++) {
			const char *v = json_string_value(json_object_get(p, keys[k]));
			char abs[4096];

			if (v == NULL || v[0] == '/')
				continue;
			path_join(abs, sizeof(abs), pki_dir, v);
			json_object_set_new(p, keys[k], json_string(abs));
		}
}

static int
setup(void)
{
	char p[4096], p2[4096];
	const char *env = tap_pki_dir();
	struct buf *b = NULL;
	json_error_t jerr;

	if (sodium_init() < 0)
		return -1;
	now = clock_now_ms();
	snprintf(work, sizeof(work), "/tmp/test_directory.XXXXXX");
	if (mkdtemp(work) == NULL)
		return -1;
	if (env == NULL)
		return -1;
	snprintf(pki_dir, sizeof(pki_dir), "%s", env);
	path_join(p, sizeof(p), pki_dir, "ca.crt");
	path_join(p2, sizeof(p2), pki_dir, "crl.pem");
	if (pki_new(p, p2, &pki) != 0) {
		fprintf(stderr, "  pki_new(%s) failed\n", p);
		return -1;
	}
	path_join(p, sizeof(p), pki_dir, "authority.oin");
	if (buf_load_file(p, 64, &b) != 0 || buf_len(b) < KETEN_OIN_LEN)
		return -1;
	memcpy(auth_oin, buf_ptr(b), KETEN_OIN_LEN);
	buf_destroy(&b);
	if (!oin_valid(auth_oin))
		return -1;
	if ((auth_sk = sodium_malloc(64)) == NULL || party_keys(auth_oin, auth_sk, &auth_cert) != 0) {
		fprintf(stderr, "  no parties/*/sign.{key,crt} for the authority %s\n", auth_oin);
		return -1;
	}
	path_join(p, sizeof(p), pki_dir, "directory.json");
	if ((source = json_load_file(p, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		fprintf(stderr, "  %s: %s\n", p, jerr.text);
		return -1;
	}
	source_absolute(source);
	return 0;
}

static void
teardown(void)
{
	char cmd[256];

	json_decref(source);
	buf_destroy(&auth_cert);
	sodium_free(auth_sk);
	pki_destroy(&pki);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", work);
}

/* ------------------------------------------------------------------ */
/* making directories */

/* Sign src as it is (written to a file in work) with sk/cert at time at. */
static int
sign_src(const json_t *src, const uint8_t *sk, const struct buf *cert, uint64_t at,
    struct buf **out, char *err, size_t errlen)
{
	static int n;
	char p[4096], name[32];

	snprintf(name, sizeof(name), "src-%d.json", n++);
	path_join(p, sizeof(p), work, name);
	if (json_dump_file(src, p, JSON_INDENT(1)) != 0)
		return -999;
	return directory_sign_json(p, sk, buf_ptr(cert), buf_len(cert), at, out, err, errlen);
}

/* The good directory, signed by the authority now. */
static struct buf *
good(void)
{
	struct buf *b = NULL;
	char err[256];

	if (sign_src(source, auth_sk, auth_cert, now, &b, err, sizeof(err)) != 0) {
		fprintf(stderr, "  signing the good source: %s\n", err);
		abort();
	}
	return b;
}

static int
load_at(const uint8_t *p, size_t n, uint64_t at)
{
	struct directory *d = NULL;
	int r = directory_load(pki, auth_oin, p, n, at, &d);

	CHECK((r == 0) == (d != NULL));
	directory_destroy(&d);
	return r;
}

static int
load_buf(const struct buf *b)
{
	return load_at(buf_ptr(b), buf_len(b), now);
}

/* Wrap directory bytes, signed by sk, with signer certificate cert. */
static struct buf *
wrap(const uint8_t *dir, size_t len, const uint8_t *sk, const struct buf *cert)
{
	Keten__V1__SignedDirectory sd = KETEN__V1__SIGNED_DIRECTORY__INIT;
	uint8_t sig[64], *msg = malloc(sizeof(CTX_DIRECTORY) + len), *w;
	struct buf *b = buf_new(2 * KETEN_DIRECTORY_MAX);

	if (msg == NULL || b == NULL)
		abort();
	memcpy(msg, CTX_DIRECTORY, sizeof(CTX_DIRECTORY));
	memcpy(msg + sizeof(CTX_DIRECTORY), dir, len);
	crypto_sign_detached(sig, NULL, msg, sizeof(CTX_DIRECTORY) + len, sk);
	free(msg);
	sd.directory.data = (uint8_t *)dir;
	sd.directory.len = len;
	sd.signature.data = sig;
	sd.signature.len = 64;
	sd.signer_cert.data = (uint8_t *)buf_ptr(cert);
	sd.signer_cert.len = buf_len(cert);
	if (buf_reserve(b, keten__v1__signed_directory__get_packed_size(&sd), &w) != 0)
		abort();
	keten__v1__signed_directory__pack(&sd, w);
	return b;
}

/* The Directory inside a signed directory, unpacked; free with
 * keten__v1__directory__free_unpacked. */
static Keten__V1__Directory *
inner(const struct buf *signed_dir)
{
	Keten__V1__SignedDirectory *sd =
	    keten__v1__signed_directory__unpack(NULL, buf_len(signed_dir), buf_ptr(signed_dir));
	Keten__V1__Directory *d;

	if (sd == NULL)
		abort();
	d = keten__v1__directory__unpack(NULL, sd->directory.len, sd->directory.data);
	keten__v1__signed_directory__free_unpacked(sd, NULL);
	if (d == NULL)
		abort();
	return d;
}

/* Pack d and sign it as the authority. */
static struct buf *
repack(const Keten__V1__Directory *d)
{
	size_t n = keten__v1__directory__get_packed_size(d);
	uint8_t *p = malloc(n ? n : 1);
	struct buf *b;

	if (p == NULL)
		abort();
	keten__v1__directory__pack(d, p);
	b = wrap(p, n, auth_sk, auth_cert);
	free(p);
	return b;
}

/* Field setters that keep protobuf-c's ownership rules, so that
 * free_unpacked frees what they put in. */
static void
set_str(char **f, const char *v)
{
	char *old = *f;

	if ((*f = strdup(v)) == NULL)
		abort();
	if (old != protobuf_c_empty_string)
		free(old);
}

static void
set_bytes(ProtobufCBinaryData *f, const void *p, size_t n)
{
	uint8_t *old = f->data;

	if ((f->data = malloc(n ? n : 1)) == NULL)
		abort();
	memcpy(f->data, p, n);
	f->len = n;
	free(old);
}

static void
set_roles(Keten__V1__Party *p, const int *roles, size_t n)
{
	free(p->roles);
	if ((p->roles = calloc(n ? n : 1, sizeof(*p->roles))) == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		p->roles[i] = (Keten__V1__Role)roles[i];
	p->n_roles = n;
}

/* Index of a party that is not the authority, has no relay role and no
 * via, other than not; -1 if none. */
static int
plain_party(const Keten__V1__Directory *d, int not)
{
	for (size_t i = 0; i < d->n_parties; i++) {
		const Keten__V1__Party *p = d->parties[i];
		int relay = 0;

		for (size_t j = 0; j < p->n_roles; j++)
			relay |= p->roles[j] == KETEN__V1__ROLE__RELAY;
		if (!relay && p->via[0] == '\0' && (int)i != not && strcmp(p->oin, auth_oin) != 0)
			return (int)i;
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* tests */

static void
test_roles(void)
{
	static const char *const names[] = { NULL, "municipality", "ind", "dtv", "avim",
	    "coa", "ngo", "escalation_table", "relay", "authority" };

	for (int r = 1; r <= 9; r++) {
		CHECK(role_name(r) != NULL && strcmp(role_name(r), names[r]) == 0);
		CHECK_EQ(role_from_name(names[r]), r);
		CHECK_EQ(role_from_name(role_name(r)), r);
	}
	CHECK_EQ(KETEN__V1__ROLE__RELAY, 8);
	CHECK(role_name(0) == NULL);
	CHECK(role_name(10) == NULL);
	CHECK(role_name(-1) == NULL);
	CHECK(role_name(42) == NULL);
	CHECK_EQ(role_from_name("IND"), -1);
	CHECK_EQ(role_from_name(""), -1);
	CHECK_EQ(role_from_name("role_unspecified"), -1);
	CHECK_EQ(role_from_name("ind "), -1);
	CHECK_EQ(role_from_name(NULL), -1);
}

static void
test_good(void)
{
	struct buf *b = good(), *pk_buf = NULL;
	struct directory *d = NULL;
	json_t *parties = json_object_get(source, "parties"), *jp;
	char p[4096];
	uint8_t zero[32] = { 0 };
	size_t i;
	int r;

	r = directory_load(pki, auth_oin, buf_ptr(b), buf_len(b), now, &d);
	CHECK_EQ(r, 0);
	if (d == NULL)
		goto out;
	CHECK_EQ(directory_count(d), json_array_size(parties));
	CHECK(json_array_size(parties) > 1);
	CHECK(strcmp(directory_network(d),
	    json_string_value(json_object_get(source, "network"))) == 0);
	CHECK_EQ(directory_serial(d), json_integer_value(json_object_get(source, "serial")));
	if (json_object_get(source, "valid_days") != NULL)
		CHECK_EQ(directory_expires_at(d),
		    now + (uint64_t)json_integer_value(json_object_get(source, "valid_days")) * DAY_MS);
	json_array_foreach(parties, i, jp) {
		const char *oin = json_string_value(json_object_get(jp, "oin"));
		const char *via = json_string_value(json_object_get(jp, "via"));
		const struct party *v = directory_find(d, oin);
		uint8_t key[32], cert_pk[32];
		uint32_t roles = 0;
		json_t *jr;
		size_t k;

		CHECK(v != NULL);
		if (v == NULL)
			continue;
		CHECK(v == directory_party(d, i));	/* document order */
		CHECK(strcmp(v->oin, oin) == 0);
		CHECK(strcmp(v->name, json_string_value(json_object_get(jp, "name"))) == 0);
		CHECK(strcmp(v->endpoint, json_string_value(json_object_get(jp, "endpoint"))) == 0);
		CHECK(strcmp(v->via, via ? via : "") == 0);
		json_array_foreach(json_object_get(jp, "roles"), k, jr)
			roles |= KETEN_ROLE_BIT(role_from_name(json_string_value(jr)));
		CHECK_EQ(v->roles, roles);
		CHECK(keys_load_public(json_string_value(json_object_get(jp, "curve_key")), key) == 0);
		CHECK(memcmp(v->curve_pk, key, 32) == 0);
		CHECK(directory_find_curve(d, key) == v);
		CHECK(keys_load_public(json_string_value(json_object_get(jp, "seal_key")), key) == 0);
		CHECK(memcmp(v->seal_pk, key, 32) == 0);
		CHECK(pki_load_cert_der(json_string_value(json_object_get(jp, "signing_cert")),
		    &pk_buf) == 0);
		if (pk_buf != NULL) {
			CHECK(v->cert_len == buf_len(pk_buf) &&
			    memcmp(v->cert_der, buf_ptr(pk_buf), v->cert_len) == 0);
			CHECK_EQ(pki_verify_cert(pki, buf_ptr(pk_buf), buf_len(pk_buf),
			    (int64_t)(now / 1000), oin, cert_pk, NULL), 0);
			CHECK(memcmp(v->sign_pk, cert_pk, 32) == 0);
			CHECK(!sodium_is_zero(v->sign_pk, 32));
		}
		buf_destroy(&pk_buf);
	}
	CHECK(directory_find(d, "00000000000000000000") == NULL);
	CHECK(directory_find(d, "") == NULL);
	CHECK(directory_find(d, NULL) == NULL);
	CHECK(directory_find_curve(d, zero) == NULL);
	CHECK(directory_party(d, directory_count(d)) == NULL);
	directory_destroy(&d);
	CHECK(d == NULL);
	directory_destroy(&d);	/* idempotent */

	/* The same bytes from a file; and the original source with its
	 * relative paths signs to a directory that loads too. */
	path_join(p, sizeof(p), work, "good.bin");
	{
		FILE *f = fopen(p, "wb");

		CHECK(f != NULL && fwrite(buf_ptr(b), 1, buf_len(b), f) == buf_len(b));
		if (f != NULL)
			fclose(f);
	}
	CHECK_EQ(directory_load_file(pki, auth_oin, p, now, &d), 0);
	CHECK(d != NULL && directory_count(d) == json_array_size(parties));
	directory_destroy(&d);
	path_join(p, sizeof(p), work, "nonexistent.bin");
	CHECK_EQ(directory_load_file(pki, auth_oin, p, now, &d), KETEN_EIO);
	CHECK(d == NULL);
	buf_destroy(&b);
	{
		char err[256];

		path_join(p, sizeof(p), pki_dir, "directory.json");
		r = directory_sign_json(p, auth_sk, buf_ptr(auth_cert), buf_len(auth_cert), now,
		    &b, err, sizeof(err));
		CHECK_EQ(r, 0);
		if (r == 0)
			CHECK_EQ(load_buf(b), 0);
	}
out:
	buf_destroy(&b);
}

/* One source edit that the signing tool must refuse. */
struct sign_case {
	const char *what;
	const char *edit;	/* JSON merged into parties[idx] (or the top with idx -1) */
	int idx;
	int code;
	const char *msg;	/* expected in the error text */
};

static void
test_sign_refuses(void)
{
	static const struct sign_case cases[] = {
		{ "bad oin", "{\"oin\":\"1234\"}", 0, KETEN_EDIRPARTY, "parties[0].oin: not 20 digits" },
		{ "letters in oin", "{\"oin\":\"0000000199900001000x\"}", 1, KETEN_EDIRPARTY,
		    "parties[1].oin: not 20 digits" },
		{ "unknown top key", "{\"colour\":\"red\"}", -1, KETEN_EPARSE, "colour: unknown key" },
		{ "unknown party key", "{\"colour\":\"red\"}", 1, KETEN_EPARSE,
		    "parties[1].colour: unknown key" },
		{ "unknown role", "{\"roles\":[\"mayor\"]}", 0, KETEN_EDIRROLE,
		    "parties[0].roles[0]: unknown role" },
		{ "no roles", "{\"roles\":[]}", 0, KETEN_EDIRROLE, "parties[0].roles: empty" },
		{ "role twice", "{\"roles\":[\"ngo\",\"ngo\"]}", 0, KETEN_EDIRROLE, "listed twice" },
		{ "role not a string", "{\"roles\":[3]}", 0, KETEN_EPARSE, "parties[0].roles[0]" },
		{ "empty name", "{\"name\":\"\"}", 0, KETEN_EDIRPARTY, "parties[0].name: empty" },
		{ "control in name", "{\"name\":\"a\\u001b[2Jb\"}", 0, KETEN_EDIRPARTY,
		    "parties[0].name" },
		{ "endpoint scheme", "{\"endpoint\":\"http://127.0.0.1:1\"}", 0, KETEN_EDIRPARTY,
		    "parties[0].endpoint" },
		{ "bare endpoint", "{\"endpoint\":\"tcp://\"}", 0, KETEN_EDIRPARTY,
		    "parties[0].endpoint" },
		{ "via unknown", "{\"via\":\"00000009999999999999\"}", 0, KETEN_EDIRVIA,
		    "parties[0].via: 00000009999999999999 is not in the directory" },
		{ "via bad", "{\"via\":\"relay\"}", 0, KETEN_EDIRVIA, "parties[0].via: not 20 digits" },
		{ "missing cert", "{\"signing_cert\":\"/nonexistent/sign.crt\"}", 0, KETEN_EIO,
		    "parties[0].signing_cert: /nonexistent/sign.crt" },
		{ "cert not a cert", "{\"signing_cert\":\"@seal\"}", 0, KETEN_ECERT,
		    "parties[0].signing_cert" },
		{ "seal key not a key", "{\"seal_key\":\"@cert\"}", 0, KETEN_EKEYFILE,
		    "parties[0].seal_key" },
		{ "missing name", "{\"name\":null}", 0, KETEN_EPARSE, "parties[0].name: missing" },
		{ "name not a string", "{\"name\":7}", 0, KETEN_EPARSE, "parties[0].name: not a string" },
		{ "serial 0", "{\"serial\":0}", -1, KETEN_EPARSE, "serial" },
		{ "serial string", "{\"serial\":\"1\"}", -1, KETEN_EPARSE, "serial" },
		{ "both validities", "{\"expires_at\":99999999999999}", -1, KETEN_EPARSE,
		    "exactly one of valid_days and expires_at" },
		{ "valid_days 0", "{\"valid_days\":0}", -1, KETEN_EPARSE, "valid_days" },
		{ "empty network", "{\"network\":\"\"}", -1, KETEN_EPARSE, "network" },
		{ "no parties", "{\"parties\":[]}", -1, KETEN_EPARSE, "parties" },
	};
	char err[512], prefix[4096];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		json_t *src = json_deep_copy(source), *edit, *target, *v;
		json_t *parties = json_object_get(src, "parties");
		struct buf *b = NULL;
		const char *key;
		int r;

		edit = json_loads(cases[c].edit, 0, NULL);
		CHECK(edit != NULL);
		target = cases[c].idx < 0 ? src : json_array_get(parties, (size_t)cases[c].idx);
		json_object_foreach(edit, key, v) {
			const char *s = json_string_value(v);

			/* "@seal"/"@cert": the path of another file of the party */
			if (s != NULL && strcmp(s, "@seal") == 0)
				v = json_object_get(target, "seal_key");
			else if (s != NULL && strcmp(s, "@cert") == 0)
				v = json_object_get(target, "signing_cert");
			if (json_is_null(v))
				json_object_del(target, key);
			else
				json_object_set(target, key, v);
		}
		r = sign_src(src, auth_sk, auth_cert, now, &b, err, sizeof(err));
		if (r != cases[c].code || strstr(err, cases[c].msg) == NULL)
			fprintf(stderr, "  case '%s': %s (%s)\n", cases[c].what, err,
			    keten_errname(r));
		CHECK_EQ(r, cases[c].code);
		CHECK(strstr(err, cases[c].msg) != NULL);
		/* "<file>: ..." with the source file first */
		snprintf(prefix, sizeof(prefix), "%s/src-", work);
		CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
		CHECK(b == NULL);
		buf_destroy(&b);
		json_decref(edit);
		json_decref(src);
	}
}

/* Refusals that need two parties: duplicates, via to a non-relay or to
 * itself, a shared CURVE key; also JSON syntax and duplicate keys. */
static void
test_sign_refuses_pairs(void)
{
	json_t *src, *parties, *p0, *p1;
	struct buf *b = NULL;
	char err[512], p[4096];
	FILE *f;
	int r;

	src = json_deep_copy(source);
	parties = json_object_get(src, "parties");
	p0 = json_array_get(parties, 0);
	p1 = json_array_get(parties, 1);
	json_object_set(p1, "oin", json_object_get(p0, "oin"));
	CHECK_EQ(sign_src(src, auth_sk, auth_cert, now, &b, err, sizeof(err)), KETEN_EDIRDUP);
	CHECK(strstr(err, "parties[1].oin:") != NULL && strstr(err, "parties[0]") != NULL);
	json_decref(src);

	src = json_deep_copy(source);
	parties = json_object_get(src, "parties");
	p0 = json_array_get(parties, 0);
	p1 = json_array_get(parties, 1);
	json_object_set(p1, "curve_key", json_object_get(p0, "curve_key"));
	CHECK_EQ(sign_src(src, auth_sk, auth_cert, now, &b, err, sizeof(err)), KETEN_EDIRPARTY);
	CHECK(strstr(err, "parties[1].curve_key: same as parties[0]") != NULL);
	json_decref(src);

	src = json_deep_copy(source);
	parties = json_object_get(src, "parties");
	p0 = json_array_get(parties, 0);
	json_object_set(p0, "via", json_object_get(p0, "oin"));
	CHECK_EQ(sign_src(src, auth_sk, auth_cert, now, &b, err, sizeof(err)), KETEN_EDIRVIA);
	CHECK(strstr(err, "parties[0].via: names the party itself") != NULL);
	json_decref(src);

	/* via to a party that is not a relay */
	src = json_deep_copy(source);
	{
		Keten__V1__Directory *d;
		struct buf *g = good();
		int a, t;

		d = inner(g);
		a = plain_party(d, -1);
		t = plain_party(d, a);
		CHECK(a >= 0 && t >= 0);
		if (a >= 0 && t >= 0) {
			parties = json_object_get(src, "parties");
			json_object_set_new(json_array_get(parties, (size_t)a), "via",
			    json_string(d->parties[t]->oin));
			CHECK_EQ(sign_src(src, auth_sk, auth_cert, now, &b, err, sizeof(err)),
			    KETEN_EDIRVIA);
			CHECK(strstr(err, "does not have role relay") != NULL);
		}
		keten__v1__directory__free_unpacked(d, NULL);
		buf_destroy(&g);
	}
	json_decref(src);

	/* JSON that is not JSON, and a key given twice */
	path_join(p, sizeof(p), work, "broken.json");
	f = fopen(p, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("{\"network\":\"x\",\"serial\":1,", f);
		fclose(f);
	}
	r = directory_sign_json(p, auth_sk, buf_ptr(auth_cert), buf_len(auth_cert), now, &b,
	    err, sizeof(err));
	CHECK_EQ(r, KETEN_EPARSE);
	CHECK(strstr(err, "broken.json: line") != NULL);
	f = fopen(p, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("{\"network\":\"x\",\"network\":\"y\",\"serial\":1,\"valid_days\":1,"
		    "\"parties\":[]}", f);
		fclose(f);
	}
	CHECK_EQ(directory_sign_json(p, auth_sk, buf_ptr(auth_cert), buf_len(auth_cert), now,
	    &b, err, sizeof(err)), KETEN_EPARSE);
	path_join(p, sizeof(p), work, "nonexistent.json");
	CHECK_EQ(directory_sign_json(p, auth_sk, buf_ptr(auth_cert), buf_len(auth_cert), now,
	    &b, err, sizeof(err)), KETEN_EIO);
	CHECK(strstr(err, "nonexistent.json: ") != NULL);
	CHECK(b == NULL);
}

/* Every bit of the signature, a sample of bits of the directory and of
 * the signer certificate, every bit of the framing: all refused. */
static void
test_bitflips(void)
{
	struct buf *b = good();
	Keten__V1__SignedDirectory *sd =
	    keten__v1__signed_directory__unpack(NULL, buf_len(b), buf_ptr(b));
	size_t len = buf_len(b), sig_off, dir_off, cert_off, refused = 0, tried = 0;
	uint8_t *w = malloc(len);
	const uint8_t *at;

	CHECK(sd != NULL && w != NULL);
	if (sd == NULL || w == NULL)
		goto out;
	memcpy(w, buf_ptr(b), len);
	CHECK_EQ(load_at(w, len, now), 0);
	at = memmem(w, len, sd->signature.data, 64);
	sig_off = (size_t)(at - w);
	at = memmem(w, len, sd->directory.data, sd->directory.len);
	dir_off = (size_t)(at - w);
	at = memmem(w, len, sd->signer_cert.data, sd->signer_cert.len);
	cert_off = (size_t)(at - w);

	for (size_t bit = 0; bit < 64 * 8; bit++) {
		w[sig_off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_EQ(load_at(w, len, now), KETEN_EDIRSIG);
		w[sig_off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* every bit of the first 64 directory bytes, then every 61st bit */
	for (size_t bit = 0; bit < sd->directory.len * 8; bit += bit < 512 ? 1 : 61) {
		w[dir_off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_EQ(load_at(w, len, now), KETEN_EDIRSIG);
		w[dir_off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < sd->signer_cert.len * 8; bit += 7) {
		w[cert_off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		tried++;
		refused += load_at(w, len, now) != 0;
		w[cert_off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK_EQ(refused, tried);
	/* framing: every byte outside the three fields' contents */
	for (size_t i = 0; i < len; i++) {
		if ((i >= sig_off && i < sig_off + 64) ||
		    (i >= dir_off && i < dir_off + sd->directory.len) ||
		    (i >= cert_off && i < cert_off + sd->signer_cert.len))
			continue;
		for (int bit = 0; bit < 8; bit++) {
			w[i] ^= (uint8_t)(1u << bit);
			CHECK(load_at(w, len, now) != 0);
			w[i] ^= (uint8_t)(1u << bit);
		}
	}
	CHECK_EQ(load_at(w, len, now), 0);	/* all flips undone: loads again */
out:
	if (sd != NULL)
		keten__v1__signed_directory__free_unpacked(sd, NULL);
	free(w);
	buf_destroy(&b);
}

static void
test_truncate_append(void)
{
	struct buf *b = good();
	size_t len = buf_len(b);
	uint8_t *w = malloc(len + 4096);
	static const uint8_t extra[][6] = {
		{ 1, 0x00 },			/* a zero byte: field 0 */
		{ 2, 0x78, 0x01 },		/* unknown field 15, varint */
		{ 2, 0x0a, 0x00 },		/* directory again, empty */
		{ 3, 0x12, 0x01, 0x00 },	/* signature again, 1 byte */
		{ 1, 0x1a },			/* signer_cert tag with no length */
		{ 5, 0xff, 0xff, 0xff, 0xff, 0x0f },
	};
	size_t bad = 0;

	if (w == NULL)
		abort();
	memcpy(w, buf_ptr(b), len);
	for (size_t n = 0; n < len; n++)
		bad += load_at(w, n, now) != 0;
	CHECK_EQ(bad, len);
	CHECK_EQ(load_at(w, len, now), 0);
	for (size_t e = 0; e < sizeof(extra) / sizeof(extra[0]); e++) {
		memcpy(w + len, extra[e] + 1, extra[e][0]);
		CHECK(load_at(w, len + extra[e][0], now) != 0);
	}
	/* the whole document twice: protobuf merges; must be refused */
	memcpy(w + len, w, len > 4096 ? 4096 : len);
	CHECK(load_at(w, len + (len > 4096 ? 4096 : len), now) != 0);
	CHECK_EQ(load_at(NULL, 0, now), KETEN_EPARSE);
	CHECK_EQ(load_at(w, 0, now), KETEN_EPARSE);
	free(w);
	buf_destroy(&b);
}

static void
test_bad_arguments(void)
{
	struct buf *b = good();
	struct directory *d = (struct directory *)&d;
	char err[128];

	CHECK_EQ(directory_load(NULL, auth_oin, buf_ptr(b), buf_len(b), now, &d), KETEN_EINVAL);
	CHECK(d == NULL);
	CHECK_EQ(directory_load(pki, "1234", buf_ptr(b), buf_len(b), now, &d), KETEN_EINVAL);
	CHECK_EQ(directory_load(pki, NULL, buf_ptr(b), buf_len(b), now, &d), KETEN_EINVAL);
	CHECK_EQ(directory_load(pki, auth_oin, buf_ptr(b), buf_len(b), now, NULL), KETEN_EINVAL);
	CHECK_EQ(directory_load_diag(pki, auth_oin, buf_ptr(b), KETEN_DIRECTORY_MAX + 1, now, &d,
	    err, sizeof(err)), KETEN_ETOOBIG);
	CHECK_EQ(directory_count(NULL), 0);
	CHECK(directory_find(NULL, auth_oin) == NULL);
	buf_destroy(&b);
}

static void
test_signer(void)
{
	Keten__V1__Directory *d;
	struct buf *b = NULL, *g = good(), *cert = NULL;
	uint8_t *sk = sodium_malloc(64);
	char err[512];
	int other;

	/* signed by a party that is not the authority */
	d = inner(g);
	other = plain_party(d, -1);
	CHECK(other >= 0 && sk != NULL);
	if (other >= 0 && sk != NULL && party_keys(d->parties[other]->oin, sk, &cert) == 0) {
		CHECK_EQ(sign_src(source, sk, cert, now, &b, err, sizeof(err)), 0);
		CHECK_EQ(load_buf(b), KETEN_EDIRSIG);
		{
			struct directory *x = NULL;

			CHECK_EQ(directory_load_diag(pki, auth_oin, buf_ptr(b), buf_len(b), now,
			    &x, err, sizeof(err)), KETEN_EDIRSIG);
			CHECK(strstr(err, "signer_cert") != NULL);
			CHECK(x == NULL);
		}
		/* the same document is fine for a node whose authority is that
		 * party: it is the OIN check that refused it above */
		{
			struct directory *x = NULL;

			CHECK_EQ(directory_load(pki, d->parties[other]->oin, buf_ptr(b), buf_len(b),
			    now, &x), 0);
			directory_destroy(&x);
		}
		buf_destroy(&b);
		/* the authority's certificate with another key's signature */
		b = wrap((const uint8_t *)"\x08\x01", 2, sk, auth_cert);
		CHECK_EQ(load_buf(b), KETEN_EDIRSIG);
		buf_destroy(&b);
		{
			Keten__V1__SignedDirectory *sd = keten__v1__signed_directory__unpack(NULL,
			    buf_len(g), buf_ptr(g));

			CHECK(sd != NULL);
			if (sd != NULL) {
				b = wrap(sd->directory.data, sd->directory.len, sk, auth_cert);
				CHECK_EQ(load_buf(b), KETEN_EDIRSIG);
				buf_destroy(&b);
				keten__v1__signed_directory__free_unpacked(sd, NULL);
			}
		}
	} else {
		CHECK(!"no key for a non-authority party");
	}
	buf_destroy(&cert);

	/* a certificate of another CA, for the authority's OIN if the dev
	 * PKI made it so; with its own key when there is one */
	if (load_cert(pki_dir, "test/wrongca.crt", &cert) == 0) {
		char p[4096];
		uint8_t pk[32];

		path_join(p, sizeof(p), pki_dir, "test/wrongca.key");
		if (keys_load_ed25519(p, sk, pk) != 0)
			memcpy(sk, auth_sk, 64);
		CHECK_EQ(sign_src(source, sk, cert, now, &b, err, sizeof(err)), 0);
		CHECK_EQ(load_buf(b), KETEN_ECERTCHAIN);
		buf_destroy(&b);
		buf_destroy(&cert);
	} else {
		CHECK(!"test/wrongca.crt missing from the dev PKI");
	}
	keten__v1__directory__free_unpacked(d, NULL);
	buf_destroy(&g);
	sodium_free(sk);
}

static void
test_time(void)
{
	struct buf *b = NULL;
	json_t *src;
	char err[512];
	uint64_t exp;

	/* valid for 30 days, signed 31 days ago: expired by now */
	src = json_deep_copy(source);
	json_object_del(src, "expires_at");
	json_object_set_new(src, "valid_days", json_integer(30));
	CHECK_EQ(sign_src(src, auth_sk, auth_cert, now - 31 * DAY_MS, &b, err, sizeof(err)), 0);
	CHECK_EQ(load_buf(b), KETEN_EDIREXPIRED);
	buf_destroy(&b);
	CHECK_EQ(sign_src(src, auth_sk, auth_cert, now - 29 * DAY_MS, &b, err, sizeof(err)), 0);
	CHECK_EQ(load_buf(b), 0);
	buf_destroy(&b);
	json_decref(src);
	/* issued a day from now: not yet valid */
	CHECK_EQ(sign_src(source, auth_sk, auth_cert, now + DAY_MS, &b, err, sizeof(err)), 0);
	CHECK_EQ(load_buf(b), KETEN_EDIREXPIRED);
	buf_destroy(&b);
	/* issued 4 minutes from now: inside the allowed skew; 6: outside */
	CHECK_EQ(sign_src(source, auth_sk, auth_cert, now + 4 * 60000, &b, err, sizeof(err)), 0);
	CHECK_EQ(load_buf(b), 0);
	buf_destroy(&b);
	CHECK_EQ(sign_src(source, auth_sk, auth_cert, now + 6 * 60000, &b, err, sizeof(err)), 0);
	CHECK_EQ(load_buf(b), KETEN_EDIREXPIRED);
	buf_destroy(&b);

	/* an explicit expires_at: valid to the last millisecond before it */
	src = json_deep_copy(source);
	exp = now + 3600 * 1000;
	json_object_del(src, "valid_days");
	json_object_set_new(src, "expires_at", json_integer((json_int_t)exp));
	CHECK_EQ(sign_src(src, auth_sk, auth_cert, now, &b, err, sizeof(err)), 0);
	CHECK_EQ(load_at(buf_ptr(b), buf_len(b), exp - 1), 0);
	CHECK_EQ(load_at(buf_ptr(b), buf_len(b), exp), KETEN_EDIREXPIRED);
	buf_destroy(&b);
	/* an expires_at in the past is refused when signing */
	json_object_set_new(src, "expires_at", json_integer((json_int_t)(now - 1)));
	CHECK_EQ(sign_src(src, auth_sk, auth_cert, now, &b, err, sizeof(err)), KETEN_EDIREXPIRED);
	CHECK(strstr(err, "expires_at") != NULL);
	json_decref(src);
}

/* A mutation of the good Directory, to be signed by the authority. */
struct mut_case {
	const char *what;
	void (*fn)(Keten__V1__Directory *d, int a, int b);
	int code;
};

static void m_none(Keten__V1__Directory *d, int a, int b) { (void)d; (void)a; (void)b; }
static void m_version2(Keten__V1__Directory *d, int a, int b) { (void)a; (void)b; d->version = 2; }
static void m_version0(Keten__V1__Directory *d, int a, int b) { (void)a; (void)b; d->version = 0; }
static void m_serial0(Keten__V1__Directory *d, int a, int b) { (void)a; (void)b; d->serial = 0; }
static void m_network(Keten__V1__Directory *d, int a, int b) { (void)a; (void)b; set_str(&d->network, ""); }
static void m_future(Keten__V1__Directory *d, int a, int b)
{
	(void)a; (void)b;
	d->issued_at += 30 * DAY_MS;
	d->expires_at += 30 * DAY_MS;
}
static void m_inverted(Keten__V1__Directory *d, int a, int b)
{
	(void)a; (void)b;
	d->expires_at = d->issued_at;
}
static void m_role42(Keten__V1__Directory *d, int a, int b)
{
	static const int r[] = { 42 };
	(void)b;
	set_roles(d->parties[a], r, 1);
}
static void m_role0(Keten__V1__Directory *d, int a, int b)
{
	static const int r[] = { KETEN__V1__ROLE__IND, 0 };
	(void)b;
	set_roles(d->parties[a], r, 2);
}
static void m_role_neg(Keten__V1__Directory *d, int a, int b)
{
	static const int r[] = { -1 };
	(void)b;
	set_roles(d->parties[a], r, 1);
}
static void m_role10(Keten__V1__Directory *d, int a, int b)
{
	static const int r[] = { 10 };
	(void)b;
	set_roles(d->parties[a], r, 1);
}
static void m_roles_none(Keten__V1__Directory *d, int a, int b) { (void)b; set_roles(d->parties[a], NULL, 0); }
static void m_oin19(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->oin, "0000000199900001000"); }
static void m_oin21(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->oin, "000000019990000100000"); }
static void m_oin_hex(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->oin, "0000000199900001000a"); }
static void m_dup(Keten__V1__Directory *d, int a, int b) { set_str(&d->parties[b]->oin, d->parties[a]->oin); }
static void m_name_empty(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->name, ""); }
static void m_name_ctrl(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->name, "IND\r\n"); }
static void m_name_utf8(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->name, "Gemeente S\xc3\xba" "dwest-Frysl\xc3\xa2n"); }
static void m_name_bad_utf8(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->name, "abc\xc0\xaf"); }
static void m_name_long(Keten__V1__Directory *d, int a, int b)
{
	char s[258];

	(void)b;
	memset(s, 'x', 257);
	s[257] = '\0';
	set_str(&d->parties[a]->name, s);
}
static void m_name_256(Keten__V1__Directory *d, int a, int b)
{
	char s[257];

	(void)b;
	memset(s, 'x', 256);
	s[256] = '\0';
	set_str(&d->parties[a]->name, s);
}
static void m_endpoint(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->endpoint, "udp://127.0.0.1:1"); }
static void m_endpoint_empty(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->endpoint, ""); }
static void m_endpoint_ipc(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->endpoint, "ipc:///run/keten/node.sock"); }
static void m_seal31(Keten__V1__Directory *d, int a, int b) { (void)b; set_bytes(&d->parties[a]->seal_key, d->parties[a]->seal_key.data, 31); }
static void m_curve33(Keten__V1__Directory *d, int a, int b)
{
	uint8_t k[33];

	(void)b;
	memcpy(k, d->parties[a]->curve_key.data, 32);
	k[32] = 1;
	set_bytes(&d->parties[a]->curve_key, k, 33);
}
static void m_curve_zero(Keten__V1__Directory *d, int a, int b)
{
	static const uint8_t z[32];

	(void)b;
	set_bytes(&d->parties[a]->curve_key, z, 32);
}
static void m_curve_dup(Keten__V1__Directory *d, int a, int b)
{
	set_bytes(&d->parties[b]->curve_key, d->parties[a]->curve_key.data, 32);
}
static void m_no_cert(Keten__V1__Directory *d, int a, int b) { (void)b; set_bytes(&d->parties[a]->signing_cert, "", 0); }
static void m_cert_other(Keten__V1__Directory *d, int a, int b)
{
	set_bytes(&d->parties[a]->signing_cert, d->parties[b]->signing_cert.data,
	    d->parties[b]->signing_cert.len);
}
static void m_via_unknown(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->via, "00000009999999999999"); }
static void m_via_self(Keten__V1__Directory *d, int a, int b) { (void)b; set_str(&d->parties[a]->via, d->parties[a]->oin); }
static void m_via_nonrelay(Keten__V1__Directory *d, int a, int b) { set_str(&d->parties[a]->via, d->parties[b]->oin); }
static void m_via_relay(Keten__V1__Directory *d, int a, int b)
{
	int r[] = { (int)d->parties[b]->roles[0], KETEN__V1__ROLE__RELAY };

	set_roles(d->parties[b], r, 2);
	set_str(&d->parties[a]->via, d->parties[b]->oin);
}
static void m_via_chain(Keten__V1__Directory *d, int a, int b)
{
	int r[] = { (int)d->parties[b]->roles[0], KETEN__V1__ROLE__RELAY };

	/* b is a relay but is itself reached via a (made a relay too) */
	set_roles(d->parties[b], r, 2);
	r[0] = (int)d->parties[a]->roles[0];
	set_roles(d->parties[a], r, 2);
	set_str(&d->parties[a]->via, d->parties[b]->oin);
	set_str(&d->parties[b]->via, d->parties[a]->oin);
}

static void
test_hand_packed(void)
{
	static const struct mut_case cases[] = {
		{ "unchanged", m_none, 0 },
		{ "version 2", m_version2, KETEN_EVERSION },
		{ "version 0", m_version0, KETEN_EVERSION },
		{ "serial 0", m_serial0, KETEN_EPARSE },
		{ "empty network", m_network, KETEN_EPARSE },
		{ "issued in a month", m_future, KETEN_EDIREXPIRED },
		{ "expires when issued", m_inverted, KETEN_EDIREXPIRED },
		{ "role 42", m_role42, KETEN_EDIRROLE },
		{ "role 0", m_role0, KETEN_EDIRROLE },
		{ "role -1", m_role_neg, KETEN_EDIRROLE },
		{ "role 10", m_role10, KETEN_EDIRROLE },
		{ "no roles", m_roles_none, KETEN_EDIRROLE },
		{ "19-digit OIN", m_oin19, KETEN_EDIRPARTY },
		{ "21-digit OIN", m_oin21, KETEN_EDIRPARTY },
		{ "hex OIN", m_oin_hex, KETEN_EDIRPARTY },
		{ "duplicate OIN", m_dup, KETEN_EDIRDUP },
		{ "empty name", m_name_empty, KETEN_EDIRPARTY },
		{ "control characters in name", m_name_ctrl, KETEN_EDIRPARTY },
		{ "UTF-8 name", m_name_utf8, 0 },
		{ "overlong UTF-8 in name", m_name_bad_utf8, KETEN_EDIRPARTY },
		{ "257-byte name", m_name_long, KETEN_EDIRPARTY },
		{ "256-byte name", m_name_256, 0 },
		{ "udp endpoint", m_endpoint, KETEN_EDIRPARTY },
		{ "empty endpoint", m_endpoint_empty, KETEN_EDIRPARTY },
		{ "ipc endpoint", m_endpoint_ipc, 0 },
		{ "31-byte seal key", m_seal31, KETEN_EDIRPARTY },
		{ "33-byte curve key", m_curve33, KETEN_EDIRPARTY },
		{ "zero curve key", m_curve_zero, KETEN_EDIRPARTY },
		{ "shared curve key", m_curve_dup, KETEN_EDIRPARTY },
		{ "no certificate", m_no_cert, KETEN_EDIRPARTY },
		{ "certificate of another party", m_cert_other, KETEN_ECERTOIN },
		{ "via unknown", m_via_unknown, KETEN_EDIRVIA },
		{ "via itself", m_via_self, KETEN_EDIRVIA },
		{ "via a non-relay", m_via_nonrelay, KETEN_EDIRVIA },
		{ "via a relay", m_via_relay, 0 },
		{ "via a relay that has a via", m_via_chain, KETEN_EDIRVIA },
	};
	struct buf *g = good();
	Keten__V1__Directory *probe = inner(g);
	int a = plain_party(probe, -1), b = plain_party(probe, a);

	CHECK(a >= 0 && b >= 0);
	keten__v1__directory__free_unpacked(probe, NULL);
	if (a < 0 || b < 0)
		goto out;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		Keten__V1__Directory *d = inner(g);
		struct buf *s;
		int r;

		cases[c].fn(d, a, b);
		s = repack(d);
		r = load_buf(s);
		if (r != cases[c].code)
			fprintf(stderr, "  case '%s': %s, expected %s\n", cases[c].what,
			    keten_errname(r), keten_errname(cases[c].code));
		CHECK_EQ(r, cases[c].code);
		buf_destroy(&s);
		keten__v1__directory__free_unpacked(d, NULL);
	}
out:
	buf_destroy(&g);
}

/* Party certificates from the dev PKI's test/ set: each on the party whose
 * OIN it carries (or on party a, renamed to that OIN). */
static void
test_party_certs(void)
{
	static const struct {
		const char *file;
		int code;
	} certs[] = {
		{ "test/expired.crt", KETEN_ECERTEXPIRED },
		{ "test/revoked.crt", KETEN_ECERTREVOKED },
		{ "test/wrongca.crt", KETEN_ECERTCHAIN },
	};
	struct buf *g = good();

	for (size_t c = 0; c < sizeof(certs) / sizeof(certs[0]); c++) {
		Keten__V1__Directory *d = inner(g);
		struct buf *cert = NULL, *s;
		char oin[KETEN_OIN_LEN + 1];
		int target = -1;

		if (load_cert(pki_dir, certs[c].file, &cert) != 0 || cert_oin(cert, oin) != 0) {
			fprintf(stderr, "  %s: missing or without an OIN\n", certs[c].file);
			CHECK(!"test certificate missing");
			keten__v1__directory__free_unpacked(d, NULL);
			buf_destroy(&cert);
			continue;
		}
		for (size_t i = 0; i < d->n_parties; i++)
			if (strcmp(d->parties[i]->oin, oin) == 0)
				target = (int)i;
		if (target < 0) {
			target = plain_party(d, -1);
			set_str(&d->parties[target]->oin, oin);
		}
		set_bytes(&d->parties[target]->signing_cert, buf_ptr(cert), buf_len(cert));
		s = repack(d);
		CHECK_EQ(load_buf(s), certs[c].code);
		buf_destroy(&s);
		buf_destroy(&cert);
		keten__v1__directory__free_unpacked(d, NULL);
	}
	buf_destroy(&g);
}

static size_t
varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

/* Encodings protobuf-c would accept but that are not canonical or carry
 * unknown fields, all correctly signed: refused. */
static void
test_encoding(void)
{
	struct buf *g = good(), *s;
	Keten__V1__SignedDirectory *sd =
	    keten__v1__signed_directory__unpack(NULL, buf_len(g), buf_ptr(g));
	Keten__V1__Directory *d = inner(g);
	size_t len, plen, n;
	uint8_t *p, *party;

	CHECK(sd != NULL);
	if (sd == NULL)
		goto out;
	len = sd->directory.len;
	p = malloc(len + 4096);
	if (p == NULL)
		abort();

	/* control: the same bytes re-signed load */
	s = wrap(sd->directory.data, len, auth_sk, auth_cert);
	CHECK_EQ(load_buf(s), 0);
	buf_destroy(&s);

	/* an unknown field in Directory */
	memcpy(p, sd->directory.data, len);
	p[len] = 0x78;	/* field 15, varint */
	p[len + 1] = 0x01;
	s = wrap(p, len + 2, auth_sk, auth_cert);
	CHECK_EQ(load_buf(s), KETEN_EPARSE);
	buf_destroy(&s);

	/* version as an overlong varint: 08 81 00 instead of 08 01 */
	CHECK(sd->directory.data[0] == 0x08 && sd->directory.data[1] == 0x01);
	p[0] = 0x08;
	p[1] = 0x81;
	p[2] = 0x00;
	memcpy(p + 3, sd->directory.data + 2, len - 2);
	s = wrap(p, len + 1, auth_sk, auth_cert);
	CHECK_EQ(load_buf(s), KETEN_EPARSE);
	buf_destroy(&s);

	/* version written twice (protobuf keeps the last) */
	memcpy(p, sd->directory.data, len);
	p[len] = 0x08;
	p[len + 1] = 0x01;
	s = wrap(p, len + 2, auth_sk, auth_cert);
	CHECK_EQ(load_buf(s), KETEN_EPARSE);
	buf_destroy(&s);

	/* an extra party carrying an unknown field */
	plen = keten__v1__party__get_packed_size(d->parties[0]);
	party = malloc(plen + 2);
	if (party == NULL)
		abort();
	keten__v1__party__pack(d->parties[0], party);
	party[plen] = 0x78;
	party[plen + 1] = 0x01;
	memcpy(p, sd->directory.data, len);
	n = len;
	p[n++] = 0x32;	/* field 6, length-delimited */
	n += varint_put(p + n, plen + 2);
	if (n + plen + 2 <= len + 4096) {
		memcpy(p + n, party, plen + 2);
		s = wrap(p, n + plen + 2, auth_sk, auth_cert);
		CHECK_EQ(load_buf(s), KETEN_EPARSE);
		buf_destroy(&s);
	}
	free(party);

	/* the outer fields out of order: signer_cert first */
	{
		Keten__V1__SignedDirectory one = KETEN__V1__SIGNED_DIRECTORY__INIT;
		uint8_t *w = malloc(buf_len(g) + 16), *q;
		size_t m;

		if (w == NULL)
			abort();
		one.signer_cert = sd->signer_cert;
		m = keten__v1__signed_directory__pack(&one, w);
		one.signer_cert.len = 0;
		one.signer_cert.data = NULL;
		one.directory = sd->directory;
		one.signature = sd->signature;
		q = w + m;
		m += keten__v1__signed_directory__pack(&one, q);
		CHECK_EQ(m, buf_len(g));
		CHECK_EQ(load_at(w, m, now), KETEN_EPARSE);
		/* and a SignedDirectory with an unknown field */
		memcpy(w, buf_ptr(g), buf_len(g));
		w[buf_len(g)] = 0x20;	/* field 4, varint */
		w[buf_len(g) + 1] = 0x00;
		CHECK_EQ(load_at(w, buf_len(g) + 2, now), KETEN_EPARSE);
		free(w);
	}
	free(p);
out:
	keten__v1__directory__free_unpacked(d, NULL);
	if (sd != NULL)
		keten__v1__signed_directory__free_unpacked(sd, NULL);
	buf_destroy(&g);
}

/* Zero parties, and more than KETEN_DIRECTORY_MAX_PARTIES. */
static void
test_party_count(void)
{
	struct buf *g = good(), *s;
	Keten__V1__Directory *d = inner(g);
	Keten__V1__Party **saved = d->parties, **many;
	size_t nsaved = d->n_parties;

	d->n_parties = 0;
	s = repack(d);
	CHECK_EQ(load_buf(s), KETEN_EPARSE);
	buf_destroy(&s);

	many = calloc(KETEN_DIRECTORY_MAX_PARTIES + 1, sizeof(*many));
	if (many == NULL)
		abort();
	for (size_t i = 0; i <= KETEN_DIRECTORY_MAX_PARTIES; i++)
		many[i] = saved[i % nsaved];
	d->parties = many;
	d->n_parties = KETEN_DIRECTORY_MAX_PARTIES + 1;
	s = repack(d);
	CHECK(buf_len(s) <= KETEN_DIRECTORY_MAX);
	CHECK_EQ(load_buf(s), KETEN_ETOOBIG);
	buf_destroy(&s);
	free(many);
	d->parties = saved;
	d->n_parties = nsaved;
	keten__v1__directory__free_unpacked(d, NULL);
	buf_destroy(&g);
}

static void
test_diag(void)
{
	struct buf *g = good(), *s;
	Keten__V1__Directory *d = inner(g);
	struct directory *x = NULL;
	char err[256];
	int a = plain_party(d, -1);

	set_str(&d->parties[a]->via, "00000009999999999999");
	s = repack(d);
	CHECK_EQ(directory_load_diag(pki, auth_oin, buf_ptr(s), buf_len(s), now, &x, err,
	    sizeof(err)), KETEN_EDIRVIA);
	{
		char want[64];

		snprintf(want, sizeof(want), "parties[%d].via: 00000009999999999999", a);
		CHECK(strstr(err, want) != NULL);
	}
	CHECK(x == NULL);
	/* a short buffer is never overrun and stays a string */
	CHECK_EQ(directory_load_diag(pki, auth_oin, buf_ptr(s), buf_len(s), now, &x, err, 8),
	    KETEN_EDIRVIA);
	CHECK_EQ(strlen(err), 7);
	CHECK_EQ(directory_load_diag(pki, auth_oin, buf_ptr(g), buf_len(g), now, &x, err,
	    sizeof(err)), 0);
	CHECK_EQ(err[0], '\0');
	directory_destroy(&x);
	buf_destroy(&s);
	keten__v1__directory__free_unpacked(d, NULL);
	buf_destroy(&g);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "roles", test_roles },
		{ "good directory and look-ups", test_good },
		{ "sign refuses bad sources", test_sign_refuses },
		{ "sign refuses duplicates and bad vias", test_sign_refuses_pairs },
		{ "bit flips", test_bitflips },
		{ "truncated and appended", test_truncate_append },
		{ "bad arguments", test_bad_arguments },
		{ "wrong signer", test_signer },
		{ "expired and not yet valid", test_time },
		{ "hand-packed bad directories", test_hand_packed },
		{ "expired, revoked, foreign party certificates", test_party_certs },
		{ "unknown fields and non-canonical encodings", test_encoding },
		{ "party count", test_party_count },
		{ "diagnostics", test_diag },
		{ NULL, NULL },
	};
	int rc;

	if (setup() != 0) {
		fprintf(stderr, "  FAIL set-up: no usable dev PKI\n");
		printf("FAIL set-up\n0 passed, 1 failed\n");
		return 1;
	}
	rc = tap_run(tests);
	teardown();
	return rc;
}
