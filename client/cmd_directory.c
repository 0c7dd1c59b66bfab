/*
 * cmd_directory.c — `keten directory sign|verify|show`: the network
 * authority signs the party directory from its JSON source; anyone with
 * the chain CA, its CRL and the authority's OIN verifies a signed
 * directory and looks inside it.  verify and show load the document
 * exactly as a node does (directory_load), so what they accept a node
 * accepts.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "buf.h"
#include "cli.h"
#include "directory.h"
#include "err.h"
#include "keys.h"
#include "pki.h"
#include "util.h"

#define ERRLEN 512
#define AUTHORITY_FILE_MAX 4096

/* The reason for a failed file operation: errno for KETEN_EIO. */
static const char *
io_reason(int r)
{
	return r == KETEN_EIO ? strerror(errno) : keten_strerror(r);
}

/* The raw Ed25519 public key of a DER certificate, without validating the
 * certificate (that needs the chain PKI): only to tell an operator that
 * --key and --cert do not belong together. */
static int
cert_pubkey(const uint8_t *der, size_t len, uint8_t pk[32])
{
	const unsigned char *p = der;
	EVP_PKEY *k;
	X509 *x;
	size_t n = 32;
	int r = KETEN_ECERT;

	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
		return KETEN_ECERT;
	if (p != der + len)
		goto out;
	if ((k = X509_get0_pubkey(x)) == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		r = KETEN_ECERTUSAGE;
		goto out;
	}
	if (EVP_PKEY_get_raw_public_key(k, pk, &n) != 1 || n != 32)
		goto out;
	r = 0;
out:
	X509_free(x);
	return r;
}

/* "FILE: network lvv-dev, serial 3, 12 parties, expires 2027-01-01T00:00:00Z" */
static void
print_summary(const char *file, const struct directory *d)
{
	char when[40];

	printf("%s: network %s, serial %llu, %zu part%s, expires %s\n", file,
	    directory_network(d), (unsigned long long)directory_serial(d),
	    directory_count(d), directory_count(d) == 1 ? "y" : "ies",
	    cli_time_fmt(directory_expires_at(d), when, sizeof(when)));
}

int
cmd_directory_sign(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *source = NULL, *key = NULL, *cert = NULL, *outp = NULL;
	const char *ca = NULL, *crl = NULL;
	const struct cli_opt opts[] = {
		{ "source", &source, NULL }, { "key", &key, NULL },
		{ "cert", &cert, NULL }, { "out", &outp, NULL },
		{ "ca", &ca, NULL }, { "crl", &crl, NULL },
		{ NULL, NULL, NULL },
	};
	struct pki *pki = NULL;
	struct buf *der = NULL, *signed_dir = NULL;
	struct directory *d = NULL;
	uint8_t *sk = NULL, pk[32], cert_pk[32];
	char err[ERRLEN], signer_oin[KETEN_OIN_LEN + 1];
	uint64_t now = clock_now_ms();
	int nops, r, rc = CLI_FAIL;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 0)
		return cli_usage_error(cmd, "unexpected operand '%s'", argv[0]);
	if (source == NULL || key == NULL || cert == NULL || outp == NULL)
		return cli_usage_error(cmd, "--source, --key, --cert and --out are required");
	if ((ca == NULL) != (crl == NULL))
		return cli_usage_error(cmd, "--ca and --crl go together");

	if (sodium_init() < 0)
		return cli_fail(cli_name(cmd), KETEN_ECRYPTO);
	/* The authority's secret key only ever lives in guarded memory. */
	if ((sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL) {
		cli_fail(cli_name(cmd), KETEN_ENOMEM);
		goto out;
	}
	if ((r = keys_load_ed25519(key, sk, pk)) != 0) {
		cli_failf("%s: %s: %s", cli_name(cmd), key, io_reason(r));
		goto out;
	}
	if ((r = pki_load_cert_der(cert, &der)) != 0) {
		cli_failf("%s: %s: %s", cli_name(cmd), cert, io_reason(r));
		goto out;
	}
	if (ca != NULL) {
		if ((r = pki_new(ca, crl, &pki)) != 0) {
			cli_failf("%s: %s, %s: %s", cli_name(cmd), ca, crl, io_reason(r));
			goto out;
		}
		r = pki_verify_cert(pki, buf_ptr(der), buf_len(der), (int64_t)(now / 1000u),
		    NULL, cert_pk, signer_oin);
	} else {
		r = cert_pubkey(buf_ptr(der), buf_len(der), cert_pk);
	}
	if (r != 0) {
		cli_failf("%s: %s: %s", cli_name(cmd), cert, keten_strerror(r));
		goto out;
	}
	if (sodium_memcmp(cert_pk, pk, 32) != 0) {
		cli_failf("%s: %s is not the key of %s", cli_name(cmd), key, cert);
		goto out;
	}

	r = directory_sign_json(source, sk, buf_ptr(der), buf_len(der), now,
	    &signed_dir, err, sizeof(err));
	if (r != 0) {
		cli_failf("%s: %s", cli_name(cmd), err[0] ? err : keten_strerror(r));
		goto out;
	}
	/* With the chain PKI at hand, check the result exactly as a node
	 * will, before anyone can pick it up. */
	if (pki != NULL) {
		r = directory_load_diag(pki, signer_oin, buf_ptr(signed_dir),
		    buf_len(signed_dir), now, &d, err, sizeof(err));
		if (r != 0) {
			cli_failf("%s: %s: a node would refuse the result: %s (%s)",
			    cli_name(cmd), source, err, keten_errname(r));
			goto out;
		}
	}
	if (file_write_atomic(outp, buf_ptr(signed_dir), buf_len(signed_dir), 0644) != 0) {
		cli_failf("%s: %s: %s", cli_name(cmd), outp, strerror(errno));
		goto out;
	}
	if (d != NULL)
		print_summary(outp, d);
	else
		printf("%s: signed, %zu bytes (party certificates not validated: "
		    "no --ca/--crl)\n", outp, buf_len(signed_dir));
	rc = CLI_OK;
out:
	directory_destroy(&d);
	buf_destroy(&signed_dir);
	buf_destroy(&der);
	pki_destroy(&pki);
	sodium_free(sk);	/* wipes */
	return rc;
}

/* The authority OIN from --authority (an OIN, or a file holding one) or
 * --authority-file: the file holds the OIN and optional white space. */
static int
authority_read(const struct cli_cmd *cmd, const char *arg, const char *file,
    char oin[KETEN_OIN_LEN + 1])
{
	struct buf *b = NULL;
	const char *p;
	size_t n;
	int r;

	if ((arg == NULL) == (file == NULL))
		return cli_usage_error(cmd, "give one of --authority and --authority-file");
	if (arg != NULL && oin_valid(arg)) {
		memcpy(oin, arg, KETEN_OIN_LEN + 1);
		return 0;
	}
	if (file == NULL)
		file = arg;
	if ((r = buf_load_file(file, AUTHORITY_FILE_MAX, &b)) != 0) {
		if (arg != NULL)
			return cli_failf("%s: --authority %s: not an OIN (20 digits), and not "
			    "a readable file: %s", cli_name(cmd), arg, io_reason(r));
		return cli_failf("%s: %s: %s", cli_name(cmd), file, io_reason(r));
	}
	p = (const char *)buf_ptr(b);
	n = buf_len(b);
	while (n > 0 && isspace((unsigned char)*p)) {
		p++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	if (n == KETEN_OIN_LEN) {
		memcpy(oin, p, n);
		oin[n] = '\0';
	}
	buf_destroy(&b);
	if (n != KETEN_OIN_LEN || !oin_valid(oin))
		return cli_failf("%s: %s: not an OIN (20 digits)", cli_name(cmd), file);
	return 0;
}

/* Shared by verify and show: parse the options, load and verify FILE. */
static int
directory_open(const struct cli_cmd *cmd, int argc, char **argv, int *json,
    struct directory **d, const char **file)
{
	const char *ca = NULL, *crl = NULL, *auth = NULL, *auth_file = NULL;
	/* --json only for show (json non-NULL): the table then starts at 0. */
	const struct cli_opt opts[] = {
		{ "json", NULL, json },
		{ "ca", &ca, NULL }, { "crl", &crl, NULL },
		{ "authority", &auth, NULL }, { "authority-file", &auth_file, NULL },
		{ NULL, NULL, NULL },
	};
	int nops, r;

	if ((r = cli_parse(cmd, argc, argv, json ? opts : opts + 1, &nops)) != 0)
		return r;
	if (nops != 1)
		return cli_usage_error(cmd, "give exactly one directory file");
	*file = argv[0];
	return cli_directory_load(cmd, ca, crl, auth, auth_file, *file, d);
}

int
cli_directory_load(const struct cli_cmd *cmd, const char *ca, const char *crl, const char *auth,
    const char *auth_file, const char *file, struct directory **d)
{
	char oin[KETEN_OIN_LEN + 1] = "", err[ERRLEN];
	struct pki *pki = NULL;
	struct buf *b = NULL;
	int r;

	if (ca == NULL || crl == NULL || file == NULL)
		return cli_usage_error(cmd, "--ca, --crl and the directory are required");
	if ((r = authority_read(cmd, auth, auth_file, oin)) != 0)
		return r;
	if ((r = pki_new(ca, crl, &pki)) != 0)
		return cli_failf("%s: %s, %s: %s", cli_name(cmd), ca, crl, io_reason(r));
	if ((r = buf_load_file(file, KETEN_DIRECTORY_MAX, &b)) != 0) {
		r = cli_failf("%s: %s: %s", cli_name(cmd), file, io_reason(r));
		goto out;
	}
	r = directory_load_diag(pki, oin, buf_ptr(b), buf_len(b), clock_now_ms(), d,
	    err, sizeof(err));
	if (r != 0) {
		r = cli_failf("%s: %s: %s (%s)", cli_name(cmd), file,
		    err[0] ? err : keten_strerror(r), keten_errname(r));
		goto out;
	}
	r = CLI_OK;
out:
	buf_destroy(&b);
	pki_destroy(&pki);
	return r;
}

int
cmd_directory_verify(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct directory *d = NULL;
	const char *file;
	int r;

	if ((r = directory_open(cmd, argc, argv, NULL, &d, &file)) != 0)
		return r;
	print_summary(file, d);
	directory_destroy(&d);
	return CLI_OK;
}

/* "ind,relay" into out. */
static const char *
roles_fmt(uint32_t roles, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int r = 1; role_name(r) != NULL; r++)
		if (roles & KETEN_ROLE_BIT(r))
			n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s",
			    n ? "," : "", role_name(r));
	return out;
}

/* Display width of UTF-8 text: one column per code point (names are
 * checked to be UTF-8 without control characters when loaded). */
static int
text_width(const char *s)
{
	int w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void
cell(const char *s, int width, int last)
{
	if (last)
		printf("%s\n", s);
	else
		printf("%s%*s  ", s, width - text_width(s), "");
}

static void
show_table(const struct directory *d)
{
	const char *head[5] = { "OIN", "NAME", "ROLES", "ENDPOINT", "VIA" };
	int w[5];
	char roles[256];

	for (int c = 0; c < 5; c++)
		w[c] = text_width(head[c]);
	for (size_t i = 0; i < directory_count(d); i++) {
		const struct party *p = directory_party(d, i);
		const char *col[5] = { p->oin, p->name,
		    roles_fmt(p->roles, roles, sizeof(roles)), p->endpoint,
		    p->via[0] ? p->via : "-" };

		for (int c = 0; c < 5; c++)
			if (text_width(col[c]) > w[c])
				w[c] = text_width(col[c]);
	}
	for (int c = 0; c < 5; c++)
		cell(head[c], w[c], c == 4);
	for (size_t i = 0; i < directory_count(d); i++) {
		const struct party *p = directory_party(d, i);
		const char *col[5] = { p->oin, p->name,
		    roles_fmt(p->roles, roles, sizeof(roles)), p->endpoint,
		    p->via[0] ? p->via : "-" };

		for (int c = 0; c < 5; c++)
			cell(col[c], w[c], c == 4);
	}
}

static json_t *
hex_json(const uint8_t *p, size_t n)
{
	char h[2 * 32 + 1];

	hex_encode(p, n, h);
	return json_string(h);
}

static int
show_json(const struct directory *d)
{
	json_t *root, *parties;
	char when[40];
	int r = -1;

	root = json_object();
	parties = json_array();
	if (root == NULL || parties == NULL) {
		json_decref(parties);
		goto out;
	}
	json_object_set_new(root, "network", json_string(directory_network(d)));
	json_object_set_new(root, "serial", json_integer((json_int_t)directory_serial(d)));
	json_object_set_new(root, "expires_at",
	    json_integer((json_int_t)directory_expires_at(d)));
	json_object_set_new(root, "expires",
	    json_string(cli_time_fmt(directory_expires_at(d), when, sizeof(when))));
	json_object_set_new(root, "parties", parties);
	for (size_t i = 0; i < directory_count(d); i++) {
		const struct party *p = directory_party(d, i);
		json_t *o = json_object(), *roles = json_array();

		if (o == NULL || roles == NULL) {
			json_decref(o);
			json_decref(roles);
			goto out;
		}
		for (int k = 1; role_name(k) != NULL; k++)
			if (p->roles & KETEN_ROLE_BIT(k))
				json_array_append_new(roles, json_string(role_name(k)));
		json_object_set_new(o, "oin", json_string(p->oin));
		json_object_set_new(o, "name", json_string(p->name));
		json_object_set_new(o, "roles", roles);
		json_object_set_new(o, "endpoint", json_string(p->endpoint));
		json_object_set_new(o, "via", json_string(p->via));
		json_object_set_new(o, "sign_key", hex_json(p->sign_pk, 32));
		json_object_set_new(o, "seal_key", hex_json(p->seal_pk, 32));
		json_object_set_new(o, "curve_key", hex_json(p->curve_pk, 32));
		json_array_append_new(parties, o);
	}
	if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		goto out;
	putchar('\n');
	r = 0;
out:
	json_decref(root);
	return r;
}

int
cmd_directory_show(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct directory *d = NULL;
	const char *file;
	int json = 0, r;

	if ((r = directory_open(cmd, argc, argv, &json, &d, &file)) != 0)
		return r;
	if (json) {
		r = show_json(d) == 0 ? CLI_OK : cli_fail(cli_name(cmd), KETEN_ENOMEM);
	} else {
		print_summary(file, d);
		show_table(d);
		r = CLI_OK;
	}
	directory_destroy(&d);
	if (fflush(stdout) != 0)
		return cli_failf("%s: stdout: %s", cli_name(cmd), strerror(errno));
	return r;
}
