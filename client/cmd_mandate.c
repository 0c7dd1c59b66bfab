/*
 * cmd_mandate.c — `keten mandate issue|revoke|list|show|check`: mandates
 * and revocations in a bundle file (a MandateBundle, mandate.proto), the
 * file a node loads with `[trust] mandates`.
 *
 * issue and revoke sign with the issuer's key and add to the bundle
 * (written atomically; created when missing).  list, show and check
 * verify every item against the signed directory first, as a node does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "cli.h"
#include "directory.h"
#include "envelope.h"
#include "err.h"
#include "keys.h"
#include "mandate.h"
#include "receipt.h"
#include "util.h"

#include "directory.pb-c.h"
#include "envelope.pb-c.h"
#include "mandate.pb-c.h"

#define LIST_MAX 64

/* "a,b c" into at most max tokens (pointers into the copy *mem). */
static size_t
split(const char *s, char **out, size_t max, char **mem)
{
	size_t n = 0;
	char *save = NULL, *t;

	*mem = s ? strdup(s) : NULL;
	if (*mem == NULL)
		return 0;
	for (t = strtok_r(*mem, ", ", &save); t != NULL && n < max; t = strtok_r(NULL, ", ", &save))
		out[n++] = t;
	return n;
}

/* The bundle in path, or an empty one when the file does not exist
 * (must_exist 0).  Everything in it is protobuf-c's, freed with
 * keten__v1__mandate_bundle__free_unpacked(). */
static int
bundle_read(const char *path, int must_exist, Keten__V1__MandateBundle **out)
{
	struct buf *b = NULL;
	int r;

	*out = NULL;
	if ((r = buf_load_file(path, KETEN_MANDATE_BUNDLE_MAX, &b)) != 0) {
		if (must_exist || access(path, F_OK) == 0)
			return cli_fail(path, r);
		*out = keten__v1__mandate_bundle__unpack(NULL, 0, (const uint8_t *)"");
		return *out ? 0 : cli_fail(path, KETEN_ENOMEM);
	}
	*out = keten__v1__mandate_bundle__unpack(NULL, buf_len(b), buf_ptr(b));
	buf_destroy(&b);
	return *out ? 0 : cli_failf("%s: not a mandate bundle", path);
}

/* Add one signed item (SignedMandate or SignedRevocation bytes) to the
 * bundle at path and write it back atomically. */
static int
bundle_append(const char *path, const struct buf *item, int revocation)
{
	Keten__V1__MandateBundle *b = NULL;
	Keten__V1__SignedMandate *sm = NULL;
	Keten__V1__SignedRevocation *sr = NULL;
	void **grown;
	uint8_t *p = NULL;
	size_t n;
	int r;

	if ((r = bundle_read(path, 0, &b)) != 0)
		return r;
	if (revocation)
		sr = keten__v1__signed_revocation__unpack(NULL, buf_len(item), buf_ptr(item));
	else
		sm = keten__v1__signed_mandate__unpack(NULL, buf_len(item), buf_ptr(item));
	if (sm == NULL && sr == NULL) {
		r = cli_fail(path, KETEN_ENOMEM);
		goto out;
	}
	/* the arrays belong to the unpacked bundle: grow them with its allocator (malloc) */
	if (revocation) {
		grown = realloc(b->revocations, (b->n_revocations + 1) * sizeof(*b->revocations));
		if (grown == NULL) {
			r = cli_fail(path, KETEN_ENOMEM);
			goto out;
		}
		b->revocations = (Keten__V1__SignedRevocation **)grown;
		b->revocations[b->n_revocations++] = sr;
		sr = NULL;
	} else {
		grown = realloc(b->mandates, (b->n_mandates + 1) * sizeof(*b->mandates));
		if (grown == NULL) {
			r = cli_fail(path, KETEN_ENOMEM);
			goto out;
		}
		b->mandates = (Keten__V1__SignedMandate **)grown;
		b->mandates[b->n_mandates++] = sm;
		sm = NULL;
	}
	n = keten__v1__mandate_bundle__get_packed_size(b);
	if ((p = malloc(n ? n : 1)) == NULL) {
		r = cli_fail(path, KETEN_ENOMEM);
		goto out;
	}
	keten__v1__mandate_bundle__pack(b, p);
	r = file_write_atomic(path, p, n, 0644) == 0 ? CLI_OK : cli_fail(path, KETEN_EIO);
out:
	free(p);
	keten__v1__signed_mandate__free_unpacked(sm, NULL);
	keten__v1__signed_revocation__free_unpacked(sr, NULL);
	/* whatever was added is owned by the bundle now */
	keten__v1__mandate_bundle__free_unpacked(b, NULL);
	return r;
}

/* The signing key at path, in sodium_malloc memory (*sk, the caller's to
 * sodium_free); errors printed. */
static int
key_open(const char *path, uint8_t **sk)
{
	uint8_t pk[32];
	int r;

	*sk = NULL;
	if (sodium_init() < 0)
		return cli_failf("libsodium cannot start");
	if ((*sk = sodium_malloc(64)) == NULL)
		return cli_fail(path, KETEN_ENOMEM);
	if ((r = keys_load_ed25519(path, *sk, pk)) != 0) {
		sodium_free(*sk);
		*sk = NULL;
		return cli_fail(path, r);
	}
	return 0;
}

int
cmd_mandate_issue(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *key = NULL, *issuer = NULL, *id = NULL, *grantee = NULL, *kinds_s = NULL,
	    *to_s = NULL, *roles_s = NULL, *purp_s = NULL, *basis = NULL, *uri = NULL, *from_s = NULL,
	    *until_s = NULL, *parent_f = NULL, *bundle = NULL, *out_f = NULL;
	int delegable = 0, relay = 0, nops, r;
	const struct cli_opt opts[] = {
		{ "key", &key, NULL }, { "issuer", &issuer, NULL }, { "id", &id, NULL },
		{ "grantee", &grantee, NULL }, { "kind", &kinds_s, NULL }, { "to", &to_s, NULL },
		{ "roles", &roles_s, NULL }, { "purpose", &purp_s, NULL }, { "basis", &basis, NULL },
		{ "basis-uri", &uri, NULL }, { "from", &from_s, NULL }, { "until", &until_s, NULL },
		{ "delegable", NULL, &delegable }, { "relay", NULL, &relay },
		{ "parent", &parent_f, NULL }, { "bundle", &bundle, NULL }, { "out", &out_f, NULL },
		{ NULL, NULL, NULL },
	};
	Keten__V1__Mandate m = KETEN__V1__MANDATE__INIT;
	Keten__V1__Kind kinds[LIST_MAX];
	Keten__V1__Role roles[LIST_MAX];
	char *toks[LIST_MAX], *to[LIST_MAX], *purposes[LIST_MAX], *mem[4] = { NULL };
	struct buf *parent = NULL, *signed_m = NULL;
	uint8_t *sk = NULL, *p = NULL;
	size_t n, len;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 0 || key == NULL || issuer == NULL || id == NULL || grantee == NULL ||
	    kinds_s == NULL || purp_s == NULL || basis == NULL || until_s == NULL ||
	    (to_s == NULL && roles_s == NULL) || (bundle == NULL && out_f == NULL))
		return cli_usage_error(cmd, "--key, --issuer, --id, --grantee, --kind, --to or --roles, "
		    "--purpose, --basis, --until and --bundle or --out are required");
	m.version = 1;
	m.id = (char *)id;
	m.issuer = (char *)issuer;
	m.grantee = (char *)grantee;
	m.legal_basis = (char *)basis;
	m.legal_basis_uri = (char *)(uri ? uri : "");
	m.may_delegate = delegable;
	m.relay = relay;
	m.issued_at = clock_now_ms();
	m.valid_from = m.issued_at;
	if ((from_s != NULL && cli_time_parse(from_s, &m.valid_from) != 0) ||
	    cli_time_parse(until_s, &m.valid_until) != 0) {
		r = cli_usage_error(cmd, "--from/--until: not a time (2026-12-31T23:00:00Z, a date, now)");
		goto out;
	}
	n = split(kinds_s, toks, LIST_MAX, &mem[0]);
	for (size_t i = 0; i < n; i++) {
		int k = kind_from_name(toks[i]);

		if (k <= 0 || k == KETEN__V1__KIND__RECEIPT) {
			r = cli_usage_error(cmd, "--kind %s: not a message kind", toks[i]);
			goto out;
		}
		kinds[i] = (Keten__V1__Kind)k;
	}
	m.n_kinds = n;
	m.kinds = kinds;
	m.n_recipients = split(to_s, to, LIST_MAX, &mem[1]);
	m.recipients = to;
	n = split(roles_s, toks, LIST_MAX, &mem[2]);
	for (size_t i = 0; i < n; i++) {
		int ro = role_from_name(toks[i]);

		if (ro <= 0) {
			r = cli_usage_error(cmd, "--roles %s: not a role", toks[i]);
			goto out;
		}
		roles[i] = (Keten__V1__Role)ro;
	}
	m.n_recipient_roles = n;
	m.recipient_roles = roles;
	m.n_purposes = split(purp_s, purposes, LIST_MAX, &mem[3]);
	m.purposes = purposes;
	if (parent_f != NULL) {
		if ((r = buf_load_file(parent_f, KETEN_MANDATE_MAX, &parent)) != 0) {
			r = cli_fail(parent_f, r);
			goto out;
		}
		m.parent.data = (uint8_t *)buf_ptr(parent);
		m.parent.len = buf_len(parent);
	}
	if ((r = key_open(key, &sk)) != 0)
		goto out;
	len = keten__v1__mandate__get_packed_size(&m);
	if ((p = malloc(len)) == NULL) {
		r = cli_fail("mandate", KETEN_ENOMEM);
		goto out;
	}
	keten__v1__mandate__pack(&m, p);
	if ((r = mandate_sign(p, len, sk, &signed_m)) != 0) {
		r = cli_fail("mandate", r);
		goto out;
	}
	if (out_f != NULL && file_write_atomic(out_f, buf_ptr(signed_m), buf_len(signed_m), 0644) != 0) {
		r = cli_fail(out_f, KETEN_EIO);
		goto out;
	}
	if (bundle != NULL && (r = bundle_append(bundle, signed_m, 0)) != 0)
		goto out;
	printf("%s\n", id);
	r = CLI_OK;
out:
	for (int i = 0; i < 4; i++)
		free(mem[i]);
	free(p);
	sodium_free(sk);
	buf_destroy(&parent);
	buf_destroy(&signed_m);
	return r;
}

int
cmd_mandate_revoke(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *key = NULL, *issuer = NULL, *id = NULL, *at_s = NULL, *reason = NULL,
	    *bundle = NULL;
	const struct cli_opt opts[] = {
		{ "key", &key, NULL }, { "issuer", &issuer, NULL }, { "id", &id, NULL },
		{ "at", &at_s, NULL }, { "reason", &reason, NULL }, { "bundle", &bundle, NULL },
		{ NULL, NULL, NULL },
	};
	Keten__V1__Revocation rv = KETEN__V1__REVOCATION__INIT;
	struct buf *signed_r = NULL;
	uint8_t *sk = NULL, p[4096];
	char t[40];
	size_t len;
	int nops, r;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 0 || key == NULL || issuer == NULL || id == NULL || bundle == NULL)
		return cli_usage_error(cmd, "--key, --issuer, --id and --bundle are required");
	rv.version = 1;
	rv.mandate_id = (char *)id;
	rv.issuer = (char *)issuer;
	rv.reason = (char *)(reason ? reason : "");
	rv.issued_at = clock_now_ms();
	rv.effective_at = rv.issued_at;
	if (at_s != NULL && cli_time_parse(at_s, &rv.effective_at) != 0)
		return cli_usage_error(cmd, "--at %s: not a time", at_s);
	if (rv.effective_at == 0)
		return cli_usage_error(cmd, "--at %s: must be after 1970-01-01T00:00:00Z", at_s);
	if (keten__v1__revocation__get_packed_size(&rv) > sizeof(p))
		return cli_usage_error(cmd, "--reason: too long");
	len = keten__v1__revocation__pack(&rv, p);
	if ((r = key_open(key, &sk)) != 0)
		goto out;
	if ((r = revocation_sign(p, len, sk, &signed_r)) != 0) {
		r = cli_fail("revocation", r);
		goto out;
	}
	if ((r = bundle_append(bundle, signed_r, 1)) != 0)
		goto out;
	printf("%s revoked from %s\n", id, cli_time_fmt(rv.effective_at, t, sizeof(t)));
	r = CLI_OK;
out:
	sodium_free(sk);
	buf_destroy(&signed_r);
	return r;
}

/* ------------------------------------------------------------------ */
/* list, show, check: verify first */

struct trust_opts {
	const char *ca, *crl, *auth, *auth_file, *dir, *bundle;
};

static void
warn_item(void *arg, const char *what, int revocation, const uint8_t *p, size_t n, int err)
{
	(void)revocation;
	(void)p;
	(void)n;
	if (err != 0)
		fprintf(stderr, "keten: %s: %s: %s (%s)\n", (const char *)arg, what,
		    keten_strerror(err), keten_errname(err));
}

/* The directory and the verified registry of the bundle. */
static int
registry_open(const struct cli_cmd *cmd, const struct trust_opts *o, struct directory **d,
    struct mandates **reg, size_t *refused)
{
	struct buf *b = NULL;
	size_t added;
	int r;

	if (o->bundle == NULL)
		return cli_usage_error(cmd, "--bundle is required");
	if ((r = cli_directory_load(cmd, o->ca, o->crl, o->auth, o->auth_file, o->dir, d)) != 0)
		return r;
	if ((r = buf_load_file(o->bundle, KETEN_MANDATE_BUNDLE_MAX, &b)) != 0 ||
	    (r = mandates_new(reg)) != 0 ||
	    (r = mandates_load_bundle(*reg, *d, buf_ptr(b), buf_len(b), &added, refused, warn_item,
	    (void *)o->bundle)) != 0) {
		buf_destroy(&b);
		mandates_destroy(reg);
		directory_destroy(d);
		return cli_fail(o->bundle, r);
	}
	buf_destroy(&b);
	return CLI_OK;
}

#define TRUST_OPTS(o) \
	{ "ca", &(o).ca, NULL }, { "crl", &(o).crl, NULL }, { "authority", &(o).auth, NULL }, \
	{ "authority-file", &(o).auth_file, NULL }, { "directory", &(o).dir, NULL }, \
	{ "bundle", &(o).bundle, NULL }

static const char *
state_of(const struct mandates *reg, const struct mandate *m, uint64_t now, char *buf, size_t len)
{
	uint64_t rev = mandates_revoked_at(reg, m->id);
	char t[40];

	if (rev != 0 && now >= rev)
		snprintf(buf, len, "revoked %s", cli_time_fmt(rev, t, sizeof(t)));
	else if (now >= m->valid_until)
		snprintf(buf, len, "expired");
	else if (now < m->valid_from)
		snprintf(buf, len, "not yet valid");
	else if (rev != 0)
		snprintf(buf, len, "valid, revoked from %s", cli_time_fmt(rev, t, sizeof(t)));
	else
		snprintf(buf, len, "valid");
	return buf;
}

static json_t *
mandate_json(const struct mandates *reg, const struct mandate *m, uint64_t now)
{
	json_t *o = json_object(), *a;
	char st[96];

	json_object_set_new(o, "id", json_string(m->id));
	json_object_set_new(o, "issuer", json_string(m->issuer));
	json_object_set_new(o, "grantee", json_string(m->grantee));
	a = json_array();
	for (int k = 1; k < 32; k++)
		if (m->kinds & (1u << k))
			json_array_append_new(a, json_string(kind_name(k)));
	json_object_set_new(o, "kinds", a);
	a = json_array();
	for (size_t i = 0; i < m->nrecipients; i++)
		json_array_append_new(a, json_string(m->recipients[i]));
	json_object_set_new(o, "recipients", a);
	a = json_array();
	for (int ro = 1; role_name(ro) != NULL; ro++)
		if (m->recipient_roles & KETEN_ROLE_BIT(ro))
			json_array_append_new(a, json_string(role_name(ro)));
	json_object_set_new(o, "recipient_roles", a);
	a = json_array();
	for (size_t i = 0; i < m->npurposes; i++)
		json_array_append_new(a, json_string(m->purposes[i]));
	json_object_set_new(o, "purposes", a);
	json_object_set_new(o, "legal_basis", json_string(m->legal_basis));
	json_object_set_new(o, "legal_basis_uri", json_string(m->legal_basis_uri));
	json_object_set_new(o, "valid_from", json_integer((json_int_t)m->valid_from));
	json_object_set_new(o, "valid_until", json_integer((json_int_t)m->valid_until));
	json_object_set_new(o, "may_delegate", json_boolean(m->may_delegate));
	json_object_set_new(o, "relay", json_boolean(m->relay));
	json_object_set_new(o, "parent", m->parent_id[0] ? json_string(m->parent_id) : json_null());
	json_object_set_new(o, "revoked_at", mandates_revoked_at(reg, m->id) ?
	    json_integer((json_int_t)mandates_revoked_at(reg, m->id)) : json_null());
	json_object_set_new(o, "state", json_string(state_of(reg, m, now, st, sizeof(st))));
	return o;
}

static void
print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_COMPACT);
	printf("\n");
	json_decref(o);
}

int
cmd_mandate_list(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct trust_opts o = { 0 };
	int json = 0, nops, r;
	const struct cli_opt opts[] = { TRUST_OPTS(o), { "json", NULL, &json }, { NULL, NULL, NULL } };
	struct directory *d = NULL;
	struct mandates *reg = NULL;
	uint64_t now = clock_now_ms();
	size_t refused = 0;
	char st[96], a[40], b[40];

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 0)
		return cli_usage_error(cmd, "no operands");
	if ((r = registry_open(cmd, &o, &d, &reg, &refused)) != 0)
		return r;
	for (size_t i = 0; i < mandates_count(reg); i++) {
		const struct mandate *m = mandates_at(reg, i);

		if (json) {
			print_json(mandate_json(reg, m, now));
			continue;
		}
		printf("%-24s  %s -> %s  %s .. %s  %s\n", m->id, m->issuer, m->grantee,
		    cli_time_fmt(m->valid_from, a, sizeof(a)), cli_time_fmt(m->valid_until, b, sizeof(b)),
		    state_of(reg, m, now, st, sizeof(st)));
	}
	if (!json)
		printf("%zu mandate(s) verified, %zu item(s) refused\n", mandates_count(reg), refused);
	mandates_destroy(&reg);
	directory_destroy(&d);
	return refused ? CLI_FAIL : CLI_OK;
}

int
cmd_mandate_show(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct trust_opts o = { 0 };
	int json = 0, nops, r;
	const struct cli_opt opts[] = { TRUST_OPTS(o), { "json", NULL, &json }, { NULL, NULL, NULL } };
	struct directory *d = NULL;
	struct mandates *reg = NULL;
	const struct mandate *m;
	size_t refused = 0;
	json_t *j;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 1)
		return cli_usage_error(cmd, "give one mandate id");
	if ((r = registry_open(cmd, &o, &d, &reg, &refused)) != 0)
		return r;
	if ((m = mandates_find(reg, argv[0])) == NULL) {
		r = cli_failf("mandate %s: not in %s, or refused", argv[0], o.bundle);
	} else {
		j = mandate_json(reg, m, clock_now_ms());
		if (json) {
			print_json(j);
		} else {
			json_dumpf(j, stdout, JSON_INDENT(2));
			printf("\n");
			json_decref(j);
		}
		r = CLI_OK;
	}
	mandates_destroy(&reg);
	directory_destroy(&d);
	return r;
}

int
cmd_mandate_check(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct trust_opts o = { 0 };
	const char *from = NULL, *to = NULL, *kind_s = NULL, *purpose = NULL, *mid = NULL,
	    *at_s = NULL;
	const struct cli_opt opts[] = {
		TRUST_OPTS(o), { "from", &from, NULL }, { "to", &to, NULL },
		{ "kind", &kind_s, NULL }, { "purpose", &purpose, NULL }, { "mandate", &mid, NULL },
		{ "at", &at_s, NULL }, { NULL, NULL, NULL },
	};
	struct directory *d = NULL;
	struct mandates *reg = NULL;
	struct mandate_decision dec;
	uint64_t at = clock_now_ms();
	size_t refused = 0;
	int nops, r, kind;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 0 || from == NULL || to == NULL || kind_s == NULL || purpose == NULL)
		return cli_usage_error(cmd, "--from, --to, --kind and --purpose are required");
	if ((kind = kind_from_name(kind_s)) <= 0)
		return cli_usage_error(cmd, "--kind %s: not a message kind", kind_s);
	if (at_s != NULL && cli_time_parse(at_s, &at) != 0)
		return cli_usage_error(cmd, "--at %s: not a time", at_s);
	if ((r = registry_open(cmd, &o, &d, &reg, &refused)) != 0)
		return r;
	mandates_check(reg, d, from, kind, to, purpose, mid, at, &dec);
	if (dec.allow)
		printf("allowed: %s (rule %s; %s)\n", dec.text, dec.rule, dec.m->legal_basis);
	else
		printf("refused: %s: %s (rule %s)\n", reason_name(dec.reason), dec.text, dec.rule);
	mandates_destroy(&reg);
	directory_destroy(&d);
	return dec.allow ? CLI_OK : CLI_FAIL;
}
