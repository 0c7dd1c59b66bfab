/*
 * mandate.c — see mandate.h and PROTOCOL.md §16.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "directory.h"
#include "envelope.h"
#include "err.h"
#include "mandate.h"
#include "util.h"

#include "directory.pb-c.h"
#include "envelope.pb-c.h"
#include "mandate.pb-c.h"

static const char CTX_MANDATE[] = "keten/v1/mandate";
static const char CTX_REVOCATION[] = "keten/v1/revocation";
#define MAX_LIST 256		/* recipients, purposes */
#define PURPOSE_MAX 256
#define TEXT_MAX 1024

struct revocation {
	char mandate_id[KETEN_MANDATE_ID_MAX + 1];
	char issuer[21];
	uint64_t effective_at;
	uint8_t hash[32];
};

/* A mandate document that named an id but was not authentic (its
 * signature, issuer or delegation did not hold) against the directory of
 * that moment: a message naming that id is refused as FORGED_MANDATE
 * rather than as unknown.  The last FORGED_MAX are kept (a ring); an id
 * no longer kept, or not kept for want of memory, is refused as unknown,
 * which is still a refusal. */
struct forged {
	char id[KETEN_MANDATE_ID_MAX + 1];
	int err;
	uint64_t serial;	/* of the directory it was checked against */
};
#define FORGED_MAX 1024

struct mandates {
	struct mandate **m;
	size_t n, cap;
	struct revocation *rv;
	size_t nrv, caprv;
	struct forged *forged;
	size_t nforged;
};

/* ------------------------------------------------------------------ */
/* registry */

int
mandates_new(struct mandates **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : KETEN_ENOMEM;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

static void
mandate_free(struct mandate *m)
{
	if (m == NULL)
		return;
	strv_free(m->recipients, m->nrecipients);
	strv_free(m->purposes, m->npurposes);
	free(m->legal_basis);
	free(m->legal_basis_uri);
	free(m);
}

void
mandates_destroy(struct mandates **rp)
{
	struct mandates *r;

	if (rp == NULL || (r = *rp) == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		mandate_free(r->m[i]);
	free(r->m);
	free(r->rv);
	free(r->forged);
	free(r);
	*rp = NULL;
}

const struct mandate *
mandates_find(const struct mandates *reg, const char *id)
{
	for (size_t i = 0; id != NULL && i < reg->n; i++)
		if (strcmp(reg->m[i]->id, id) == 0)
			return reg->m[i];
	return NULL;
}

static const struct forged *
forged_find(const struct mandates *reg, const char *id)
{
	size_t n = reg->nforged < FORGED_MAX ? reg->nforged : FORGED_MAX;

	for (size_t i = 0; id != NULL && i < n; i++)
		if (strcmp(reg->forged[i].id, id) == 0)
			return &reg->forged[i];
	return NULL;
}

size_t
mandates_count(const struct mandates *reg)
{
	return reg->n;
}

const struct mandate *
mandates_at(const struct mandates *reg, size_t i)
{
	return i < reg->n ? reg->m[i] : NULL;
}

uint64_t
mandates_revoked_at(const struct mandates *reg, const char *id)
{
	uint64_t at = 0;

	for (size_t i = 0; i < reg->nrv; i++)
		if (strcmp(reg->rv[i].mandate_id, id) == 0 &&
		    (at == 0 || reg->rv[i].effective_at < at))
			at = reg->rv[i].effective_at;
	return at;
}

/* ------------------------------------------------------------------ */
/* parsing and verifying one mandate */

static int
id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > KETEN_MANDATE_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

static int
role_valid(int r)
{
	return r >= KETEN__V1__ROLE__MUNICIPALITY && r <= KETEN__V1__ROLE__AUTHORITY;
}

static int
kind_valid(int k)
{
	return k >= KETEN__V1__KIND__DOSSIER_DELIVERY && k <= KETEN__V1__KIND__POLICE_NOTIFICATION;
}

static char **
strv_dup(char **src, size_t n)
{
	char **v = calloc(n ? n : 1, sizeof(*v));

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((v[i] = strdup(src[i])) == NULL) {
			strv_free(v, i);
			return NULL;
		}
	return v;
}

static int
strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* The signed message: ctx (with its NUL) || body. */
static int
sig_verify(const char *ctx, size_t ctxlen, const uint8_t *body, size_t n, const uint8_t *sig,
    size_t siglen, const uint8_t pk[32])
{
	crypto_sign_state st;
	uint8_t s[crypto_sign_BYTES];

	if (siglen != crypto_sign_BYTES)
		return KETEN_EMANDATESIG;
	memcpy(s, sig, sizeof(s));
	crypto_sign_init(&st);
	crypto_sign_update(&st, (const uint8_t *)ctx, ctxlen);
	crypto_sign_update(&st, body, n);
	return crypto_sign_final_verify(&st, s, pk) == 0 ? 0 : KETEN_EMANDATESIG;
}

static int
sig_make(const char *ctx, size_t ctxlen, const uint8_t *body, size_t n, const uint8_t *sk,
    uint8_t sig[64])
{
	crypto_sign_state st;

	crypto_sign_init(&st);
	crypto_sign_update(&st, (const uint8_t *)ctx, ctxlen);
	crypto_sign_update(&st, body, n);
	return crypto_sign_final_create(&st, sig, NULL, sk) == 0 ? 0 : KETEN_EINVAL;
}

/* Every field of a parsed Mandate, into a new struct mandate. */
static int
fields(const Keten__V1__Mandate *pm, const struct directory *dir, struct mandate **out)
{
	struct mandate *m;

	*out = NULL;
	if (pm->version != 1)
		return KETEN_EVERSION;
	if (!id_valid(pm->id) || !oin_valid(pm->issuer) || !oin_valid(pm->grantee) ||
	    pm->n_kinds == 0 || pm->n_purposes == 0 || pm->n_purposes > MAX_LIST ||
	    pm->n_recipients > MAX_LIST || (pm->n_recipients == 0 && pm->n_recipient_roles == 0) ||
	    pm->valid_from >= pm->valid_until || strlen(pm->legal_basis) == 0 ||
	    strlen(pm->legal_basis) > TEXT_MAX || strlen(pm->legal_basis_uri) > TEXT_MAX ||
	    !text_printable(pm->legal_basis, TEXT_MAX) ||
	    !text_printable(pm->legal_basis_uri, TEXT_MAX))
		return KETEN_EMANDATE;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return KETEN_ENOMEM;
	for (size_t i = 0; i < pm->n_kinds; i++) {
		if (!kind_valid(pm->kinds[i]))
			goto bad;
		m->kinds |= 1u << pm->kinds[i];
	}
	for (size_t i = 0; i < pm->n_recipient_roles; i++) {
		if (!role_valid(pm->recipient_roles[i]))
			goto bad;
		m->recipient_roles |= KETEN_ROLE_BIT(pm->recipient_roles[i]);
	}
	for (size_t i = 0; i < pm->n_recipients; i++) {
		if (!oin_valid(pm->recipients[i]))
			goto bad;
		if (directory_find(dir, pm->recipients[i]) == NULL) {
			mandate_free(m);
			return KETEN_EMANDATEPARTY;
		}
	}
	for (size_t i = 0; i < pm->n_purposes; i++)
		if (strlen(pm->purposes[i]) == 0 || strlen(pm->purposes[i]) > PURPOSE_MAX ||
		    !text_printable(pm->purposes[i], PURPOSE_MAX))
			goto bad;
	if (directory_find(dir, pm->issuer) == NULL || directory_find(dir, pm->grantee) == NULL) {
		mandate_free(m);
		return KETEN_EMANDATEPARTY;
	}
	snprintf(m->id, sizeof(m->id), "%s", pm->id);
	snprintf(m->issuer, sizeof(m->issuer), "%s", pm->issuer);
	snprintf(m->grantee, sizeof(m->grantee), "%s", pm->grantee);
	m->nrecipients = pm->n_recipients;
	m->npurposes = pm->n_purposes;
	m->valid_from = pm->valid_from;
	m->valid_until = pm->valid_until;
	m->issued_at = pm->issued_at;
	m->may_delegate = pm->may_delegate;
	m->relay = pm->relay;
	if ((m->recipients = strv_dup(pm->recipients, pm->n_recipients)) == NULL ||
	    (m->purposes = strv_dup(pm->purposes, pm->n_purposes)) == NULL ||
	    (m->legal_basis = strdup(pm->legal_basis)) == NULL ||
	    (m->legal_basis_uri = strdup(pm->legal_basis_uri)) == NULL) {
		mandate_free(m);
		return KETEN_ENOMEM;
	}
	*out = m;
	return 0;
bad:
	mandate_free(m);
	return KETEN_EMANDATE;
}

/* Is recipient r (an OIN) inside mandate m's recipients? */
static int
covers_recipient(const struct mandate *m, const struct directory *dir, const char *r)
{
	const struct party *p;

	if (strv_has(m->recipients, m->nrecipients, r))
		return 1;
	p = directory_find(dir, r);
	return p != NULL && (p->roles & m->recipient_roles) != 0;
}

/* Is child no wider than parent? */
static int
within(const struct mandate *c, const struct mandate *p, const struct directory *dir)
{
	if ((c->kinds & ~p->kinds) != 0 || (c->recipient_roles & ~p->recipient_roles) != 0 ||
	    c->valid_from < p->valid_from || c->valid_until > p->valid_until ||
	    (c->relay && !p->relay))
		return 0;
	for (size_t i = 0; i < c->nrecipients; i++)
		if (!covers_recipient(p, dir, c->recipients[i]))
			return 0;
	for (size_t i = 0; i < c->npurposes; i++)
		if (!strv_has(p->purposes, p->npurposes, c->purposes[i]))
			return 0;
	return 1;
}

static int registry_put(struct mandates *reg, struct mandate *m);

/* Verify a SignedMandate and, when it is a delegation, its parent chain
 * (adding the parents).  *out is a new entry, not yet in the registry. */
static int
verify_one(struct mandates *reg, const struct directory *dir, const uint8_t *p, size_t n,
    int depth, struct mandate **out)
{
	Keten__V1__SignedMandate *sm;
	Keten__V1__Mandate *pm = NULL;
	const struct party *issuer;
	struct mandate *m = NULL;
	const struct mandate *parent = NULL;
	int r;

	*out = NULL;
	if (n > KETEN_MANDATE_MAX)
		return KETEN_ETOOBIG;
	if (depth > KETEN_MANDATE_DEPTH)
		return KETEN_EMANDATE;
	if ((sm = keten__v1__signed_mandate__unpack(NULL, n, p)) == NULL)
		return KETEN_EPARSE;
	if ((pm = keten__v1__mandate__unpack(NULL, sm->mandate.len, sm->mandate.data)) == NULL) {
		r = KETEN_EPARSE;
		goto out;
	}
	if ((r = fields(pm, dir, &m)) != 0)
		goto out;
	issuer = directory_find(dir, m->issuer);
	if ((r = sig_verify(CTX_MANDATE, sizeof(CTX_MANDATE), sm->mandate.data, sm->mandate.len,
	    sm->signature.data, sm->signature.len, issuer->sign_pk)) != 0)
		goto out;
	if (pm->parent.len == 0) {
		if (!(issuer->roles & KETEN_ROLE_BIT(KETEN__V1__ROLE__AUTHORITY))) {
			r = KETEN_EMANDATEISSUER;
			goto out;
		}
	} else {
		struct mandate *pmand = NULL;
		const struct mandate *have;

		if ((r = verify_one(reg, dir, pm->parent.data, pm->parent.len, depth + 1,
		    &pmand)) != 0)
			goto out;
		have = mandates_find(reg, pmand->id);
		if (have != NULL && memcmp(have->hash, pmand->hash, 32) != 0) {
			mandate_free(pmand);
			r = KETEN_EEXIST;	/* another mandate under the parent's id */
			goto out;
		}
		if (have == NULL && (r = registry_put(reg, pmand)) != 0) {
			mandate_free(pmand);
			goto out;
		}
		if (have != NULL)
			mandate_free(pmand);
		parent = have != NULL ? have : pmand;
		if (!parent->may_delegate || strcmp(parent->grantee, m->issuer) != 0) {
			r = KETEN_EMANDATEISSUER;
			goto out;
		}
		if (!within(m, parent, dir)) {
			r = KETEN_EMANDATEWIDER;
			goto out;
		}
		snprintf(m->parent_id, sizeof(m->parent_id), "%s", parent->id);
	}
	crypto_hash_sha256(m->hash, p, n);
	*out = m;
	m = NULL;
out:
	mandate_free(m);
	keten__v1__mandate__free_unpacked(pm, NULL);
	keten__v1__signed_mandate__free_unpacked(sm, NULL);
	return r;
}

/* Remember the id a refused document claimed, when it was refused for
 * not being authentic (not for being malformed: then no id is sure). */
static void
forged_put(struct mandates *reg, const struct directory *dir, const uint8_t *p, size_t n,
    int err)
{
	Keten__V1__SignedMandate *sm;
	Keten__V1__Mandate *pm = NULL;

	if (err != KETEN_EMANDATESIG && err != KETEN_EMANDATEISSUER && err != KETEN_EMANDATEWIDER)
		return;
	if ((sm = keten__v1__signed_mandate__unpack(NULL, n, p)) == NULL)
		return;
	pm = keten__v1__mandate__unpack(NULL, sm->mandate.len, sm->mandate.data);
	if (pm != NULL && id_valid(pm->id) && forged_find(reg, pm->id) == NULL &&
	    mandates_find(reg, pm->id) == NULL) {
		if (reg->forged == NULL)
			reg->forged = calloc(FORGED_MAX, sizeof(*reg->forged));
		if (reg->forged != NULL) {
			struct forged *f = &reg->forged[reg->nforged++ % FORGED_MAX];

			snprintf(f->id, sizeof(f->id), "%s", pm->id);
			f->err = err;
			f->serial = directory_serial(dir);
		}
	}
	keten__v1__mandate__free_unpacked(pm, NULL);
	keten__v1__signed_mandate__free_unpacked(sm, NULL);
}

static int
registry_put(struct mandates *reg, struct mandate *m)
{
	if (reg->n == reg->cap) {
		size_t cap = reg->cap ? 2 * reg->cap : 16;
		struct mandate **g = realloc(reg->m, cap * sizeof(*g));

		if (g == NULL)
			return KETEN_ENOMEM;
		reg->m = g;
		reg->cap = cap;
	}
	reg->m[reg->n++] = m;
	return 0;
}

int
mandates_add(struct mandates *reg, const struct directory *dir, const uint8_t *p, size_t n,
    const struct mandate **out)
{
	struct mandate *m = NULL;
	const struct mandate *have;
	uint8_t h[32];
	int r;

	if (out != NULL)
		*out = NULL;
	if (reg == NULL || dir == NULL || (p == NULL && n > 0))
		return KETEN_EINVAL;
	/* Seen before, byte for byte: nothing to verify again. */
	crypto_hash_sha256(h, p, n);
	for (size_t i = 0; i < reg->n; i++)
		if (memcmp(reg->m[i]->hash, h, 32) == 0) {
			if (out != NULL)
				*out = reg->m[i];
			return 0;
		}
	if ((r = verify_one(reg, dir, p, n, 1, &m)) != 0) {
		forged_put(reg, dir, p, n, r);
		return r;
	}
	if ((have = mandates_find(reg, m->id)) != NULL) {
		mandate_free(m);
		return memcmp(have->hash, h, 32) == 0 ? 0 : KETEN_EEXIST;
	}
	if ((r = registry_put(reg, m)) != 0) {
		mandate_free(m);
		return r;
	}
	if (out != NULL)
		*out = m;
	return 0;
}

/* mandates_revoke(), or with kept (dir NULL) the checks of its signer
 * and its mandate left out: see mandates_revoke_kept(). */
static int
revoke(struct mandates *reg, const struct directory *dir, const uint8_t *p, size_t n, int kept)
{
	Keten__V1__SignedRevocation *sr;
	Keten__V1__Revocation *pr = NULL;
	const struct mandate *m;
	const struct party *issuer;
	struct revocation rv;
	int r;

	if (reg == NULL || (dir == NULL && !kept) || (p == NULL && n > 0))
		return KETEN_EINVAL;
	if (n > KETEN_MANDATE_MAX)
		return KETEN_ETOOBIG;
	if ((sr = keten__v1__signed_revocation__unpack(NULL, n, p)) == NULL)
		return KETEN_EPARSE;
	if ((pr = keten__v1__revocation__unpack(NULL, sr->revocation.len, sr->revocation.data)) ==
	    NULL) {
		r = KETEN_EPARSE;
		goto out;
	}
	if (pr->version != 1) {
		r = KETEN_EVERSION;
		goto out;
	}
	/* effective_at 0 (also what an encoder writes for a field left
	 * out) is refused: it would read as "not revoked" */
	if (!id_valid(pr->mandate_id) || !oin_valid(pr->issuer) ||
	    !text_printable(pr->reason, TEXT_MAX) || pr->effective_at == 0) {
		r = KETEN_EMANDATE;
		goto out;
	}
	if (kept)
		goto add;
	if ((issuer = directory_find(dir, pr->issuer)) == NULL) {
		r = KETEN_EMANDATEPARTY;
		goto out;
	}
	if ((r = sig_verify(CTX_REVOCATION, sizeof(CTX_REVOCATION), sr->revocation.data,
	    sr->revocation.len, sr->signature.data, sr->signature.len, issuer->sign_pk)) != 0)
		goto out;
	if ((m = mandates_find(reg, pr->mandate_id)) == NULL) {
		r = KETEN_ENOTFOUND;
		goto out;
	}
	if (strcmp(m->issuer, pr->issuer) != 0 &&
	    !(issuer->roles & KETEN_ROLE_BIT(KETEN__V1__ROLE__AUTHORITY))) {
		r = KETEN_EMANDATEISSUER;
		goto out;
	}
add:
	memset(&rv, 0, sizeof(rv));
	snprintf(rv.mandate_id, sizeof(rv.mandate_id), "%s", pr->mandate_id);
	snprintf(rv.issuer, sizeof(rv.issuer), "%s", pr->issuer);
	rv.effective_at = pr->effective_at;
	crypto_hash_sha256(rv.hash, p, n);
	for (size_t i = 0; i < reg->nrv; i++)
		if (memcmp(reg->rv[i].hash, rv.hash, 32) == 0)
			goto out;	/* r == 0: seen before */
	if (reg->nrv == reg->caprv) {
		size_t cap = reg->caprv ? 2 * reg->caprv : 16;
		struct revocation *g = realloc(reg->rv, cap * sizeof(*g));

		if (g == NULL) {
			r = KETEN_ENOMEM;
			goto out;
		}
		reg->rv = g;
		reg->caprv = cap;
	}
	reg->rv[reg->nrv++] = rv;
out:
	keten__v1__revocation__free_unpacked(pr, NULL);
	keten__v1__signed_revocation__free_unpacked(sr, NULL);
	return r;
}

int
mandates_revoke(struct mandates *reg, const struct directory *dir, const uint8_t *p, size_t n)
{
	return revoke(reg, dir, p, n, 0);
}

int
mandates_revoke_kept(struct mandates *reg, const uint8_t *p, size_t n)
{
	return revoke(reg, NULL, p, n, 1);
}

/* One item of a bundle, packed again, added (or revoked) and reported. */
static int
bundle_item(struct mandates *reg, const struct directory *dir, const ProtobufCMessage *item,
    int revocation, const char *what, mandate_item_fn *report, void *arg)
{
	size_t len = protobuf_c_message_get_packed_size(item);
	uint8_t *bytes = malloc(len ? len : 1);
	int r;

	if (bytes == NULL)
		return KETEN_ENOMEM;
	protobuf_c_message_pack(item, bytes);
	r = revocation ? mandates_revoke(reg, dir, bytes, len) :
	    mandates_add(reg, dir, bytes, len, NULL);
	if (report != NULL)
		report(arg, what, revocation, bytes, len, r);
	free(bytes);
	return r;
}

int
mandates_load_bundle(struct mandates *reg, const struct directory *dir, const uint8_t *p,
    size_t n, size_t *added, size_t *refused, mandate_item_fn *report, void *arg)
{
	Keten__V1__MandateBundle *b;
	char what[64];
	int r;

	*added = *refused = 0;
	if (n > KETEN_MANDATE_BUNDLE_MAX)
		return KETEN_ETOOBIG;
	if ((b = keten__v1__mandate_bundle__unpack(NULL, n, p)) == NULL)
		return KETEN_EPARSE;
	/* every mandate first: a revocation is checked against its mandate */
	for (size_t i = 0; i < b->n_mandates + b->n_revocations; i++) {
		int rev = i >= b->n_mandates;
		size_t j = rev ? i - b->n_mandates : i;

		snprintf(what, sizeof(what), "%s[%zu]", rev ? "revocations" : "mandates", j);
		r = bundle_item(reg, dir, rev ? &b->revocations[j]->base : &b->mandates[j]->base, rev,
		    what, report, arg);
		if (r == 0)
			(*added)++;
		else
			(*refused)++;
	}
	keten__v1__mandate_bundle__free_unpacked(b, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* checks */

/* The rules in order.  What the message is (kind, recipient, purpose) is
 * checked before when: among several mandates the refusal reported is
 * that of the one that got furthest, so a revoked or expired mandate for
 * exactly this message says "revoked", not "wrong kind" of another. */
enum rule_step { STEP_GRANTEE, STEP_KIND, STEP_RECIPIENT, STEP_PURPOSE, STEP_REVOKED, STEP_TIME,
	STEP_ALLOW };

static void decide(struct mandate_decision *d, int allow, int reason, const char *rule,
    const struct mandate *m, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
decide(struct mandate_decision *d, int allow, int reason, const char *rule,
    const struct mandate *m, const char *fmt, ...)
{
	va_list ap;

	d->allow = allow;
	d->reason = reason;
	d->rule = rule;
	d->m = m;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
}

/* The earliest revocation of m or an ancestor, and the window m and all
 * its ancestors share. */
static void
chain_bounds(const struct mandates *reg, const struct mandate *m, uint64_t *revoked,
    uint64_t *from, uint64_t *until)
{
	*revoked = 0;
	*from = 0;
	*until = UINT64_MAX;
	for (int depth = 0; m != NULL && depth < KETEN_MANDATE_DEPTH; depth++) {
		uint64_t at = mandates_revoked_at(reg, m->id);

		if (at != 0 && (*revoked == 0 || at < *revoked))
			*revoked = at;
		if (m->valid_from > *from)
			*from = m->valid_from;
		if (m->valid_until < *until)
			*until = m->valid_until;
		m = m->parent_id[0] ? mandates_find(reg, m->parent_id) : NULL;
	}
}

/* Run the rules on one mandate; the step it failed at (STEP_ALLOW: it
 * allows), with *d filled. */
static enum rule_step
evaluate(const struct mandates *reg, const struct directory *dir, const struct mandate *m,
    const char *sender, int kind, const char *recipient, const char *purpose, uint64_t now,
    struct mandate_decision *d)
{
	uint64_t revoked, from, until;

	if (strcmp(m->grantee, sender) != 0) {
		decide(d, 0, KETEN__V1__REASON__NO_MANDATE, "grantee", m,
		    "mandate %s is not granted to %s", m->id, sender);
		return STEP_GRANTEE;
	}
	if (!(m->kinds & (1u << kind))) {
		decide(d, 0, KETEN__V1__REASON__WRONG_KIND, "kind", m,
		    "mandate %s does not cover %s", m->id, kind_name(kind));
		return STEP_KIND;
	}
	if (!covers_recipient(m, dir, recipient)) {
		decide(d, 0, KETEN__V1__REASON__WRONG_RECIPIENT, "recipient", m,
		    "mandate %s does not cover recipient %s", m->id, recipient);
		return STEP_RECIPIENT;
	}
	if (!strv_has(m->purposes, m->npurposes, purpose)) {
		decide(d, 0, KETEN__V1__REASON__WRONG_PURPOSE, "purpose", m,
		    "mandate %s does not cover purpose %s", m->id, purpose);
		return STEP_PURPOSE;
	}
	chain_bounds(reg, m, &revoked, &from, &until);
	if (revoked != 0 && now >= revoked) {
		decide(d, 0, KETEN__V1__REASON__MANDATE_REVOKED, "revoked", m,
		    "mandate %s is revoked", m->id);
		return STEP_REVOKED;
	}
	if (now < from || now >= until) {
		decide(d, 0, KETEN__V1__REASON__MANDATE_EXPIRED, "validity", m,
		    "mandate %s is not valid now (%s)", m->id, now < from ? "not yet" : "expired");
		return STEP_TIME;
	}
	decide(d, 1, 0, "covers", m, "mandate %s covers it", m->id);
	return STEP_ALLOW;
}

/* How many parties m lets its grantee send to. */
static size_t
scope(const struct mandate *m, const struct directory *dir)
{
	size_t n = m->nrecipients;

	for (size_t i = 0; m->recipient_roles && i < directory_count(dir); i++) {
		const struct party *p = directory_party(dir, i);

		if ((p->roles & m->recipient_roles) && !strv_has(m->recipients, m->nrecipients, p->oin))
			n++;
	}
	return n;
}

/* Is a narrower than b?  Fewer recipients, then kinds, then purposes,
 * then a shorter period, then the smaller id (so that the choice never
 * depends on the order mandates were loaded in). */
static int
narrower(const struct mandate *a, const struct mandate *b, const struct directory *dir)
{
	size_t sa = scope(a, dir), sb = scope(b, dir);
	int ka = __builtin_popcount(a->kinds), kb = __builtin_popcount(b->kinds);

	if (sa != sb)
		return sa < sb;
	if (ka != kb)
		return ka < kb;
	if (a->npurposes != b->npurposes)
		return a->npurposes < b->npurposes;
	if (a->valid_until - a->valid_from != b->valid_until - b->valid_from)
		return a->valid_until - a->valid_from < b->valid_until - b->valid_from;
	return strcmp(a->id, b->id) < 0;
}

#ifdef KETEN_BENCH_UNCHECKED
/* A benchmark build (build/variant/nomandate, `make bench`) that allows
 * every message without looking at a mandate, so that the node's
 * throughput with its checks can be set against the same node without
 * them.  It is never installed. */
#define UNCHECKED(d) do { \
		memset((d), 0, sizeof(*(d))); \
		decide((d), 1, 0, "unchecked", NULL, "not checked (benchmark build)"); \
		return 1; \
	} while (0)
#else
#define UNCHECKED(d) do { } while (0)
#endif

int
mandates_check(const struct mandates *reg, const struct directory *dir, const char *sender,
    int kind, const char *recipient, const char *purpose, const char *mandate_id, uint64_t now,
    struct mandate_decision *d)
{
	struct mandate_decision best, cur;
	enum rule_step best_step = STEP_GRANTEE;
	const struct mandate *m;

	UNCHECKED(d);
	memset(d, 0, sizeof(*d));
	if (reg == NULL || dir == NULL || sender == NULL || recipient == NULL || purpose == NULL ||
	    !kind_valid(kind)) {
		decide(d, 0, KETEN__V1__REASON__NO_MANDATE, "input", NULL, "no mandate: incomplete request");
		return 0;
	}
	if (mandate_id != NULL && mandate_id[0] != '\0') {
		if ((m = mandates_find(reg, mandate_id)) == NULL) {
			const struct forged *f = forged_find(reg, mandate_id);

			if (f != NULL)
				decide(d, 0, KETEN__V1__REASON__FORGED_MANDATE, "forged", NULL,
				    "mandate %s was refused when it reached this node (directory "
				    "serial %llu): %s", mandate_id, (unsigned long long)f->serial,
				    keten_strerror(f->err));
			else
				decide(d, 0, KETEN__V1__REASON__NO_MANDATE, "unknown", NULL,
				    "mandate %s is not known here", mandate_id);
			return 0;
		}
		(void)evaluate(reg, dir, m, sender, kind, recipient, purpose, now, d);
		return d->allow;
	}
	/* None named: the narrowest that allows; if none does, the reason of
	 * the one that came closest. */
	memset(&best, 0, sizeof(best));
	for (size_t i = 0; i < reg->n; i++) {
		enum rule_step step;

		if (strcmp(reg->m[i]->grantee, sender) != 0)
			continue;
		step = evaluate(reg, dir, reg->m[i], sender, kind, recipient, purpose, now, &cur);
		if (best.rule == NULL || step > best_step ||
		    (step == STEP_ALLOW && best_step == STEP_ALLOW && narrower(cur.m, best.m, dir))) {
			best = cur;
			best_step = step;
		}
	}
	if (best.rule == NULL) {
		decide(d, 0, KETEN__V1__REASON__NO_MANDATE, "none", NULL,
		    "no mandate for %s", sender);
		return 0;
	}
	*d = best;
	return d->allow;
}

int
mandates_check_all(const struct mandates *reg, const struct directory *dir,
    const char *sender, int kind, const char *const *recipients, size_t n, const char *purpose,
    const char *mandate_id, uint64_t now, struct mandate_decision *d)
{
	const struct mandate *best = NULL;
	struct mandate_decision cur;

	UNCHECKED(d);
	if (n == 0 || recipients == NULL)
		return mandates_check(reg, dir, sender, kind, NULL, purpose, mandate_id, now, d);
	if ((mandate_id == NULL || mandate_id[0] == '\0') && reg != NULL && dir != NULL &&
	    sender != NULL && purpose != NULL && kind_valid(kind)) {
		for (size_t i = 0; i < reg->n; i++) {
			size_t j;

			if (strcmp(reg->m[i]->grantee, sender) != 0)
				continue;
			for (j = 0; j < n; j++)
				if (evaluate(reg, dir, reg->m[i], sender, kind, recipients[j], purpose, now,
				    &cur) != STEP_ALLOW)
					break;
			if (j == n && (best == NULL || narrower(reg->m[i], best, dir)))
				best = reg->m[i];
		}
		/* it passed every rule for every recipient: that is the decision */
		if (best != NULL)
			return evaluate(reg, dir, best, sender, kind, recipients[n - 1], purpose, now,
			    d) == STEP_ALLOW;
	}
	for (size_t j = 0; j < n; j++)
		if (!mandates_check(reg, dir, sender, kind, recipients[j], purpose, mandate_id, now, d))
			return 0;
	if (mandate_id == NULL || mandate_id[0] == '\0') {
		decide(d, 0, KETEN__V1__REASON__NO_MANDATE, "one-mandate", NULL,
		    "no single mandate covers every recipient; send to them separately");
		return 0;
	}
	return d->allow;
}

int
mandates_check_relay(const struct mandates *reg, const char *relay, int kind, uint64_t now,
    struct mandate_decision *d)
{
	UNCHECKED(d);
	memset(d, 0, sizeof(*d));
	for (size_t i = 0; reg != NULL && relay != NULL && i < reg->n; i++) {
		const struct mandate *m = reg->m[i];
		uint64_t revoked, from, until;

		if (!m->relay || strcmp(m->grantee, relay) != 0 || !kind_valid(kind) ||
		    !(m->kinds & (1u << kind)))
			continue;
		chain_bounds(reg, m, &revoked, &from, &until);
		if ((revoked != 0 && now >= revoked) || now < from || now >= until)
			continue;
		decide(d, 1, 0, "relay", m, "mandate %s lets %s relay %s", m->id, relay, kind_name(kind));
		return 1;
	}
	decide(d, 0, KETEN__V1__REASON__RELAY_NOT_PERMITTED, "relay", NULL,
	    "no mandate lets %s relay %s", relay ? relay : "?", kind_valid(kind) ? kind_name(kind) : "?");
	return 0;
}

/* ------------------------------------------------------------------ */
/* signing */

static int
sign_into(const char *ctx, size_t ctxlen, const uint8_t *body, size_t n, const uint8_t *sk,
    struct buf **out)
{
	/* SignedMandate and SignedRevocation are the same shape: bytes 1
	 * (what is signed) and bytes 2 (the signature). */
	Keten__V1__SignedMandate sm = KETEN__V1__SIGNED_MANDATE__INIT;
	uint8_t sig[64], *p;
	size_t len;
	int r;

	*out = NULL;
	if (body == NULL || sk == NULL || n > KETEN_MANDATE_MAX)
		return KETEN_EINVAL;
	if ((r = sig_make(ctx, ctxlen, body, n, sk, sig)) != 0)
		return r;
	sm.mandate.data = (uint8_t *)body;
	sm.mandate.len = n;
	sm.signature.data = sig;
	sm.signature.len = sizeof(sig);
	len = keten__v1__signed_mandate__get_packed_size(&sm);
	if ((*out = buf_new(len)) == NULL || buf_reserve(*out, len, &p) != 0) {
		buf_destroy(out);
		return KETEN_ENOMEM;
	}
	keten__v1__signed_mandate__pack(&sm, p);
	return 0;
}

int
mandate_sign(const uint8_t *mandate, size_t n, const uint8_t *sk, struct buf **out)
{
	return sign_into(CTX_MANDATE, sizeof(CTX_MANDATE), mandate, n, sk, out);
}

int
revocation_sign(const uint8_t *revocation, size_t n, const uint8_t *sk, struct buf **out)
{
	return sign_into(CTX_REVOCATION, sizeof(CTX_REVOCATION), revocation, n, sk, out);
}
