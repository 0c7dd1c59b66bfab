/*
 * test_mandate.c — mandates and revocations against the dev network's
 * signed directory (tap_pki_dir()): issuing, delegation, forgery, the
 * rules of a check and the choice among overlapping mandates.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "directory.h"
#include "err.h"
#include "keys.h"
#include "mandate.h"
#include "pki.h"
#include "tap.h"
#include "util.h"

#include "directory.pb-c.h"
#include "envelope.pb-c.h"
#include "mandate.pb-c.h"

#define AUTH "00000001999000000000"
#define IND "00000001999000010000"
#define DTV "00000001999000020000"
#define AMS "00000001999000050000"
#define RDAM "00000001999000060000"
#define RELAY "00000001999000110000"

#define T0 1800000000000ull	/* a time inside the test mandates */
#define DAY 86400000ull

static struct pki *pki;
static struct directory *dir;

static uint8_t *
sk_of(const char *slug)
{
	static uint8_t sk[8][64];
	static char names[8][32];
	uint8_t pk[32];
	char path[PATH_MAX];

	for (int i = 0; i < 8; i++) {
		if (strcmp(names[i], slug) == 0)
			return sk[i];
		if (names[i][0] == '\0') {
			snprintf(path, sizeof(path), "%s/parties/%s/sign.key", tap_pki_dir(), slug);
			if (keys_load_ed25519(path, sk[i], pk) != 0)
				return NULL;
			snprintf(names[i], sizeof(names[i]), "%s", slug);
			return sk[i];
		}
	}
	return NULL;
}

static int
setup(void)
{
	char ca[PATH_MAX], crl[PATH_MAX], ds[PATH_MAX];
	const char *d = tap_pki_dir();

	if (d == NULL)
		return -1;
	snprintf(ca, sizeof(ca), "%s/ca.crt", d);
	snprintf(crl, sizeof(crl), "%s/crl.pem", d);
	snprintf(ds, sizeof(ds), "%s/directory.signed", d);
	if (pki_new(ca, crl, &pki) != 0)
		return -1;
	return directory_load_file(pki, AUTH, ds, clock_now_ms(), &dir);
}

/* A mandate for the test: IND may send DOSSIER_DELIVERY to municipalities
 * for lvv-intake, from T0 - 1 day to T0 + 1 day. */
static void
base(Keten__V1__Mandate *m, const char *id)
{
	static Keten__V1__Kind kinds[] = { KETEN__V1__KIND__DOSSIER_DELIVERY };
	static Keten__V1__Role roles[] = { KETEN__V1__ROLE__MUNICIPALITY };
	static char *purposes[] = { "lvv-intake" };

	keten__v1__mandate__init(m);
	m->version = 1;
	m->id = (char *)id;
	m->issuer = AUTH;
	m->grantee = IND;
	m->n_kinds = 1;
	m->kinds = kinds;
	m->n_recipient_roles = 1;
	m->recipient_roles = roles;
	m->n_purposes = 1;
	m->purposes = purposes;
	m->legal_basis = "Besluit LVV-mandaten 2026, art. 3";
	m->legal_basis_uri = "https://example.org/lvv/besluit-2026";
	m->valid_from = T0 - DAY;
	m->valid_until = T0 + DAY;
	m->issued_at = T0 - DAY;
}

/* Pack and sign m with slug's key. */
static struct buf *
signed_by(const Keten__V1__Mandate *m, const char *slug)
{
	size_t n = keten__v1__mandate__get_packed_size(m);
	uint8_t *p = malloc(n ? n : 1);
	struct buf *out = NULL;

	if (p == NULL)
		return NULL;
	keten__v1__mandate__pack(m, p);
	if (mandate_sign(p, n, sk_of(slug), &out) != 0)
		out = NULL;
	free(p);
	return out;
}

static struct buf *
revocation(const char *id, const char *issuer, uint64_t at, const char *slug)
{
	Keten__V1__Revocation r = KETEN__V1__REVOCATION__INIT;
	struct buf *out = NULL;
	uint8_t p[1024];
	size_t n;

	r.version = 1;
	r.mandate_id = (char *)id;
	r.issuer = (char *)issuer;
	r.effective_at = at;
	r.reason = "agreements end";
	r.issued_at = T0;
	n = keten__v1__revocation__pack(&r, p);
	if (revocation_sign(p, n, sk_of(slug), &out) != 0)
		return NULL;
	return out;
}

static int
add(struct mandates *reg, struct buf *b)
{
	int r = b ? mandates_add(reg, dir, buf_ptr(b), buf_len(b), NULL) : KETEN_ENOMEM;

	buf_destroy(&b);
	return r;
}

static int
revoke(struct mandates *reg, struct buf *b)
{
	int r = b ? mandates_revoke(reg, dir, buf_ptr(b), buf_len(b)) : KETEN_ENOMEM;

	buf_destroy(&b);
	return r;
}

static void
test_issue_and_check(void)
{
	struct mandates *reg = NULL;
	struct mandate_decision d;
	Keten__V1__Mandate m;

	CHECK_EQ(mandates_new(&reg), 0);
	base(&m, "m-ind-intake");
	CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);
	CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);	/* again: no-op */
	CHECK_EQ(mandates_count(reg), 1);
	CHECK(mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
	    "m-ind-intake", T0, &d) == 1);
	CHECK(d.m != NULL && strcmp(d.rule, "covers") == 0);
	/* chosen when none is named */
	CHECK(mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
	    "", T0, &d) == 1 && strcmp(d.m->id, "m-ind-intake") == 0);
	/* each rule */
	mandates_check(reg, dir, IND, KETEN__V1__KIND__CASE_EVENT, AMS, "lvv-intake", "m-ind-intake",
	    T0, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__WRONG_KIND);
	mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, DTV, "lvv-intake",
	    "m-ind-intake", T0, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__WRONG_RECIPIENT);
	mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-lso",
	    "m-ind-intake", T0, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__WRONG_PURPOSE);
	mandates_check(reg, dir, DTV, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
	    "m-ind-intake", T0, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__NO_MANDATE);
	mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
	    "no-such", T0, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__NO_MANDATE && strcmp(d.rule, "unknown") == 0);
	/* the edges of the period: valid_until is exclusive */
	CHECK(mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
	    "m-ind-intake", T0 + DAY - 1, &d) == 1);
	mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
	    "m-ind-intake", T0 + DAY, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__MANDATE_EXPIRED);
	mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
	    "m-ind-intake", T0 - DAY - 1, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__MANDATE_EXPIRED);
	/* nothing for DT&V at all */
	mandates_check(reg, dir, DTV, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake", "", T0,
	    &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__NO_MANDATE && strcmp(d.rule, "none") == 0);
	mandates_destroy(&reg);
}

static void
test_refused_documents(void)
{
	struct mandates *reg = NULL;
	Keten__V1__Mandate m;
	struct buf *b;
	static char *bad_rcpt[] = { "00000009999999990000" };
	uint8_t junk[64];

	CHECK_EQ(mandates_new(&reg), 0);
	/* signed by a party that is not an authority */
	base(&m, "m-1");
	m.issuer = IND;
	CHECK_EQ(add(reg, signed_by(&m, "ind")), KETEN_EMANDATEISSUER);
	/* forged: says the authority, signed by IND */
	base(&m, "m-2");
	CHECK_EQ(add(reg, signed_by(&m, "ind")), KETEN_EMANDATESIG);
	/* altered after signing */
	base(&m, "m-3");
	b = signed_by(&m, "authority");
	if (b != NULL) {
		uint8_t *p = (uint8_t *)buf_ptr(b);

		p[10] ^= 1;	/* inside the mandate bytes */
		CHECK(mandates_add(reg, dir, buf_ptr(b), buf_len(b), NULL) != 0);
	}
	buf_destroy(&b);
	/* an unknown party */
	base(&m, "m-4");
	m.n_recipients = 1;
	m.recipients = bad_rcpt;
	CHECK_EQ(add(reg, signed_by(&m, "authority")), KETEN_EMANDATEPARTY);
	/* bad fields */
	base(&m, "bad id!");
	CHECK_EQ(add(reg, signed_by(&m, "authority")), KETEN_EMANDATE);
	base(&m, "m-5");
	m.valid_until = m.valid_from;
	CHECK_EQ(add(reg, signed_by(&m, "authority")), KETEN_EMANDATE);
	base(&m, "m-6");
	m.n_purposes = 0;
	CHECK_EQ(add(reg, signed_by(&m, "authority")), KETEN_EMANDATE);
	base(&m, "m-7");
	m.version = 2;
	CHECK_EQ(add(reg, signed_by(&m, "authority")), KETEN_EVERSION);
	/* garbage */
	randombytes_buf(junk, sizeof(junk));
	CHECK(mandates_add(reg, dir, junk, sizeof(junk), NULL) != 0);
	CHECK(mandates_revoke(reg, dir, junk, sizeof(junk)) != 0);
	/* the same id, other bytes */
	base(&m, "m-8");
	CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);
	m.n_recipients = 1;
	m.recipients = (char *[]){ AMS };
	CHECK_EQ(add(reg, signed_by(&m, "authority")), KETEN_EEXIST);
	CHECK_EQ(mandates_count(reg), 1);
	/* A message naming a mandate whose document was not authentic is
	 * refused as forged; one naming a malformed one, or one never seen,
	 * as unknown. */
	{
		static const struct {
			const char *id;
			int reason;
			const char *rule;
		} want[] = {
			{ "m-1", KETEN__V1__REASON__FORGED_MANDATE, "forged" },
			{ "m-2", KETEN__V1__REASON__FORGED_MANDATE, "forged" },
			{ "m-4", KETEN__V1__REASON__NO_MANDATE, "unknown" },
			{ "m-5", KETEN__V1__REASON__NO_MANDATE, "unknown" },
			{ "never-seen", KETEN__V1__REASON__NO_MANDATE, "unknown" },
		};
		struct mandate_decision d;

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			CHECK(!mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS,
			    "lvv-intake", want[i].id, T0, &d));
			CHECK_EQ(d.reason, want[i].reason);
			CHECK(d.rule != NULL && strcmp(d.rule, want[i].rule) == 0);
			CHECK(d.m == NULL && strstr(d.text, want[i].id) != NULL);
		}
		char serial[64];

		/* the refusal names the directory the document was checked against */
		CHECK(!mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS,
		    "lvv-intake", "m-1", T0, &d));
		snprintf(serial, sizeof(serial), "(directory serial %llu)",
		    (unsigned long long)directory_serial(dir));
		CHECK(strstr(d.text, serial) != NULL);
		/* the genuine document arriving later wins over the forged one */
		base(&m, "m-2");
		CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);
		CHECK(mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS,
		    "lvv-intake", "m-2", T0, &d));
		/* a flood of forgeries: the latest 1,024 are kept, older ones
		 * fall back to unknown (still refused) */
		for (int i = 0; i < 1100; i++) {
			char id[32];

			snprintf(id, sizeof(id), "flood-%d", i);
			base(&m, id);
			CHECK_EQ(add(reg, signed_by(&m, "ind")), KETEN_EMANDATESIG);
		}
		CHECK(!mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS,
		    "lvv-intake", "flood-1099", T0, &d));
		CHECK_EQ(d.reason, KETEN__V1__REASON__FORGED_MANDATE);
		CHECK(!mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS,
		    "lvv-intake", "flood-0", T0, &d));
		CHECK_EQ(d.reason, KETEN__V1__REASON__NO_MANDATE);
	}
	mandates_destroy(&reg);
}

static void
test_revocation(void)
{
	struct mandates *reg = NULL;
	struct mandate_decision d;
	Keten__V1__Mandate m;

	CHECK_EQ(mandates_new(&reg), 0);
	base(&m, "m-rev");
	CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);
	/* unknown mandate; wrong issuer; forged */
	CHECK_EQ(revoke(reg, revocation("m-none", AUTH, T0, "authority")), KETEN_ENOTFOUND);
	CHECK_EQ(revoke(reg, revocation("m-rev", IND, T0, "ind")), KETEN_EMANDATEISSUER);
	CHECK_EQ(revoke(reg, revocation("m-rev", AUTH, T0, "ind")), KETEN_EMANDATESIG);
	/* 0 would read as "not revoked" */
	CHECK_EQ(revoke(reg, revocation("m-rev", AUTH, 0, "authority")), KETEN_EMANDATE);
	/* one accepted before and kept: applied again without its signer
	 * checked (its key, as here, may have changed since), its fields
	 * still are */
	{
		struct mandates *r2 = NULL;
		struct buf *rv = revocation("m-rev", AUTH, T0 + 5000, "ind"), *rz;

		CHECK_EQ(mandates_new(&r2), 0);
		CHECK(rv != NULL);
		if (r2 != NULL && rv != NULL) {
			CHECK_EQ(mandates_revoke(r2, dir, buf_ptr(rv), buf_len(rv)), KETEN_EMANDATESIG);
			CHECK_EQ(mandates_revoke_kept(r2, buf_ptr(rv), buf_len(rv)), 0);
			CHECK_EQ(mandates_revoked_at(r2, "m-rev"), T0 + 5000);
			rz = revocation("m-rev", AUTH, 0, "authority");
			CHECK(rz != NULL && mandates_revoke_kept(r2, buf_ptr(rz), buf_len(rz)) ==
			    KETEN_EMANDATE);
			buf_destroy(&rz);
			CHECK_EQ(mandates_revoke_kept(r2, (const uint8_t *)"\xff", 1), KETEN_EPARSE);
		}
		buf_destroy(&rv);
		mandates_destroy(&r2);
	}
	/* effective in the future: allowed until then, refused from then on */
	CHECK_EQ(revoke(reg, revocation("m-rev", AUTH, T0 + 1000, "authority")), 0);
	CHECK_EQ(mandates_revoked_at(reg, "m-rev"), T0 + 1000);
	CHECK(mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
	    "m-rev", T0 + 999, &d) == 1);
	mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake", "m-rev",
	    T0 + 1000, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__MANDATE_REVOKED);
	/* adding the mandate again does not undo the revocation */
	CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);
	mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake", "", T0 + 2000,
	    &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__MANDATE_REVOKED);
	mandates_destroy(&reg);
}

static void
test_delegation(void)
{
	struct mandates *reg = NULL;
	struct mandate_decision d;
	Keten__V1__Mandate parent, child;
	static Keten__V1__Kind two[] = { KETEN__V1__KIND__DOSSIER_DELIVERY,
		KETEN__V1__KIND__CASE_EVENT };
	struct buf *pb;

	CHECK_EQ(mandates_new(&reg), 0);
	base(&parent, "m-parent");
	parent.may_delegate = 1;
	pb = signed_by(&parent, "authority");
	CHECK(pb != NULL);
	if (pb == NULL)
		return;
	/* IND delegates to DT&V, narrower: only Amsterdam */
	base(&child, "m-child");
	child.issuer = IND;
	child.grantee = DTV;
	child.n_recipient_roles = 0;
	child.n_recipients = 1;
	child.recipients = (char *[]){ AMS };
	child.parent.data = (uint8_t *)buf_ptr(pb);
	child.parent.len = buf_len(pb);
	CHECK_EQ(add(reg, signed_by(&child, "ind")), 0);
	CHECK(mandates_find(reg, "m-parent") != NULL);	/* the parent came with it */
	CHECK(strcmp(mandates_find(reg, "m-child")->parent_id, "m-parent") == 0);
	CHECK(mandates_check(reg, dir, DTV, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
	    "m-child", T0, &d) == 1);
	/* wider than the parent: another kind, a longer period */
	base(&child, "m-wide1");
	child.issuer = IND;
	child.grantee = DTV;
	child.n_kinds = 2;
	child.kinds = two;
	child.parent.data = (uint8_t *)buf_ptr(pb);
	child.parent.len = buf_len(pb);
	CHECK_EQ(add(reg, signed_by(&child, "ind")), KETEN_EMANDATEWIDER);
	base(&child, "m-wide2");
	child.issuer = IND;
	child.grantee = DTV;
	child.valid_until = T0 + 2 * DAY;
	child.parent.data = (uint8_t *)buf_ptr(pb);
	child.parent.len = buf_len(pb);
	CHECK_EQ(add(reg, signed_by(&child, "ind")), KETEN_EMANDATEWIDER);
	/* signed by someone who is not the parent's grantee */
	base(&child, "m-steal");
	child.issuer = RDAM;
	child.grantee = DTV;
	child.parent.data = (uint8_t *)buf_ptr(pb);
	child.parent.len = buf_len(pb);
	CHECK_EQ(add(reg, signed_by(&child, "rotterdam")), KETEN_EMANDATEISSUER);
	/* a message naming one of them is refused as forged */
	mandates_check(reg, dir, DTV, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake", "m-wide2",
	    T0, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__FORGED_MANDATE);
	mandates_check(reg, dir, DTV, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake", "m-steal",
	    T0, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__FORGED_MANDATE);
	/* revoking the parent ends the child */
	CHECK_EQ(revoke(reg, revocation("m-parent", AUTH, T0, "authority")), 0);
	mandates_check(reg, dir, DTV, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake", "m-child",
	    T0, &d);
	CHECK(!d.allow && d.reason == KETEN__V1__REASON__MANDATE_REVOKED);
	buf_destroy(&pb);
	/* a parent that may not be delegated */
	base(&parent, "m-nodeleg");
	pb = signed_by(&parent, "authority");
	base(&child, "m-child2");
	child.issuer = IND;
	child.grantee = DTV;
	child.parent.data = pb ? (uint8_t *)buf_ptr(pb) : NULL;
	child.parent.len = pb ? buf_len(pb) : 0;
	CHECK_EQ(add(reg, signed_by(&child, "ind")), KETEN_EMANDATEISSUER);
	buf_destroy(&pb);
	mandates_destroy(&reg);
}

static void
test_overlap_and_relay(void)
{
	struct mandates *reg = NULL;
	struct mandate_decision d;
	Keten__V1__Mandate m;
	static Keten__V1__Kind ce[] = { KETEN__V1__KIND__CASE_EVENT };

	CHECK_EQ(mandates_new(&reg), 0);
	base(&m, "z-broad");	/* every municipality */
	CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);
	base(&m, "a-narrow");	/* Amsterdam only */
	m.n_recipient_roles = 0;
	m.n_recipients = 1;
	m.recipients = (char *[]){ AMS };
	CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);
	CHECK(mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake", "",
	    T0, &d) == 1 && strcmp(d.m->id, "a-narrow") == 0);
	CHECK(mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, RDAM, "lvv-intake", "",
	    T0, &d) == 1 && strcmp(d.m->id, "z-broad") == 0);
	/* several recipients, one mandate: the narrowest that covers them all */
	CHECK(mandates_check_all(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY,
	    (const char *[]){ AMS, RDAM }, 2, "lvv-intake", "", T0, &d) == 1 &&
	    strcmp(d.m->id, "z-broad") == 0);
	CHECK(mandates_check_all(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY,
	    (const char *[]){ AMS, RDAM }, 2, "lvv-intake", "a-narrow", T0, &d) == 0 &&
	    d.reason == KETEN__V1__REASON__WRONG_RECIPIENT);
	CHECK(mandates_check_all(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY,
	    (const char *[]){ AMS, DTV }, 2, "lvv-intake", "", T0, &d) == 0 &&
	    d.reason == KETEN__V1__REASON__WRONG_RECIPIENT);
	base(&m, "x-dtv");	/* DT&V alone, under another mandate */
	m.n_recipient_roles = 0;
	m.n_recipients = 1;
	m.recipients = (char *[]){ DTV };
	CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);
	CHECK(mandates_check_all(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY,
	    (const char *[]){ AMS, DTV }, 2, "lvv-intake", "", T0, &d) == 0 &&
	    d.reason == KETEN__V1__REASON__NO_MANDATE && strcmp(d.rule, "one-mandate") == 0);
	/* relaying */
	CHECK(mandates_check_relay(reg, RELAY, KETEN__V1__KIND__CASE_EVENT, T0, &d) == 0 &&
	    d.reason == KETEN__V1__REASON__RELAY_NOT_PERMITTED);
	base(&m, "m-relay");
	m.grantee = RELAY;
	m.relay = 1;
	m.n_kinds = 1;
	m.kinds = ce;
	CHECK_EQ(add(reg, signed_by(&m, "authority")), 0);
	CHECK(mandates_check_relay(reg, RELAY, KETEN__V1__KIND__CASE_EVENT, T0, &d) == 1);
	CHECK(mandates_check_relay(reg, RELAY, KETEN__V1__KIND__DOSSIER_DELIVERY, T0, &d) == 0);
	mandates_destroy(&reg);
}

static void
test_bundle(void)
{
	struct mandates *reg = NULL;
	struct mandate_decision d;
	Keten__V1__Mandate m;
	Keten__V1__MandateBundle b = KETEN__V1__MANDATE_BUNDLE__INIT;
	Keten__V1__SignedMandate *sms[2] = { NULL, NULL };
	Keten__V1__SignedRevocation *srs[1] = { NULL };
	struct buf *good, *forged, *rv;
	size_t added = 0, refused = 0, n;
	uint8_t *p;

	base(&m, "b-good");
	good = signed_by(&m, "authority");
	base(&m, "b-forged");
	forged = signed_by(&m, "ind");
	rv = revocation("b-good", AUTH, T0 + 5, "authority");
	CHECK(good && forged && rv);
	if (good && forged && rv) {
		sms[0] = keten__v1__signed_mandate__unpack(NULL, buf_len(good), buf_ptr(good));
		sms[1] = keten__v1__signed_mandate__unpack(NULL, buf_len(forged), buf_ptr(forged));
		srs[0] = keten__v1__signed_revocation__unpack(NULL, buf_len(rv), buf_ptr(rv));
	}
	if (sms[0] && sms[1] && srs[0]) {
		/* the revocation first in the file: it is still applied after the mandates */
		b.n_mandates = 2;
		b.mandates = sms;
		b.n_revocations = 1;
		b.revocations = srs;
		n = keten__v1__mandate_bundle__get_packed_size(&b);
		p = malloc(n);
		CHECK(p != NULL);
		if (p != NULL) {
			keten__v1__mandate_bundle__pack(&b, p);
			CHECK_EQ(mandates_new(&reg), 0);
			CHECK_EQ(mandates_load_bundle(reg, dir, p, n, &added, &refused, NULL, NULL), 0);
			CHECK(added == 2 && refused == 1);
			CHECK(mandates_find(reg, "b-good") && !mandates_find(reg, "b-forged"));
			mandates_check(reg, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS, "lvv-intake",
			    "b-good", T0 + 5, &d);
			CHECK(!d.allow && d.reason == KETEN__V1__REASON__MANDATE_REVOKED);
			CHECK_EQ(mandates_load_bundle(reg, dir, p, n / 2, &added, &refused, NULL, NULL),
			    KETEN_EPARSE);
			mandates_destroy(&reg);
			free(p);
		}
	}
	keten__v1__signed_mandate__free_unpacked(sms[0], NULL);
	keten__v1__signed_mandate__free_unpacked(sms[1], NULL);
	keten__v1__signed_revocation__free_unpacked(srs[0], NULL);
	buf_destroy(&good);
	buf_destroy(&forged);
	buf_destroy(&rv);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "issue, check each rule, the edges of the period", test_issue_and_check },
		{ "non-authority, forged, altered, unknown party, bad fields, garbage",
		    test_refused_documents },
		{ "revocation now and in the future; unknown, wrong issuer, forged", test_revocation },
		{ "delegation within bounds; wider; stolen; parent revoked", test_delegation },
		{ "overlapping mandates: the narrowest wins; relaying", test_overlap_and_relay },
		{ "a bundle: good ones in, forged ones counted, revocations after mandates",
		    test_bundle },
		{ NULL, NULL },
	};
	int r;

	if (sodium_init() < 0 || setup() != 0) {
		printf("FAIL setup: no dev PKI or directory\n0 passed, 1 failed\n");
		return 1;
	}
	r = tap_run(tests);
	directory_destroy(&dir);
	pki_destroy(&pki);
	return r;
}
