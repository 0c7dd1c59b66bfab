/*
 * mandate.h — mandates and revocations (mandate.proto, PROTOCOL.md §16).
 *
 * A registry holds the mandates and revocations a node has verified.  A
 * mandate enters only when its signature verifies with the key of its
 * issuer in the directory, and the issuer is an AUTHORITY party, or (a
 * delegation) the grantee of a parent mandate that may be delegated, the
 * child being no wider than the parent in kinds, recipients, purposes,
 * validity and relaying.  A revocation enters only when signed by the
 * mandate's issuer or an AUTHORITY party.
 *
 * A check (mandates_check) takes the sender, kind, recipient, purpose and
 * the mandate the envelope names, and the time; it decides by the rules
 * of the table in PROTOCOL.md §16.3, deny by default.  Verified mandates
 * are kept by id with the hash of their signed bytes; a check never
 * verifies a signature again, and always consults the revocations, so
 * nothing cached outlives a revocation.
 */
#ifndef KETEN_MANDATE_H
#define KETEN_MANDATE_H

#include <stddef.h>
#include <stdint.h>

struct directory;
struct mandates;

/* Largest signed mandate (with its delegation chain) or revocation. */
#define KETEN_MANDATE_MAX 65536
/* Largest bundle. */
#define KETEN_MANDATE_BUNDLE_MAX (16u << 20)
/* Longest delegation chain, the authority's mandate included. */
#define KETEN_MANDATE_DEPTH 4
#define KETEN_MANDATE_ID_MAX 128

/* A verified mandate; owned by its registry. */
struct mandate {
	char id[KETEN_MANDATE_ID_MAX + 1];
	char issuer[21];
	char grantee[21];
	uint32_t kinds;			/* bit 1 << Kind */
	char **recipients;		/* OINs */
	size_t nrecipients;
	uint32_t recipient_roles;	/* KETEN_ROLE_BIT() */
	char **purposes;
	size_t npurposes;
	char *legal_basis;
	char *legal_basis_uri;
	uint64_t valid_from, valid_until, issued_at;
	int may_delegate;
	int relay;
	char parent_id[KETEN_MANDATE_ID_MAX + 1];	/* "" unless delegated */
	uint8_t hash[32];		/* SHA-256 of the SignedMandate bytes */
};

/* The outcome of a check. */
struct mandate_decision {
	int allow;			/* 1 allowed, 0 refused */
	int reason;			/* Reason enum (envelope.proto); 0 when allowed */
	const char *rule;		/* which rule decided, e.g. "covers", "revoked" */
	const struct mandate *m;	/* the mandate that decided, or NULL */
	char text[256];			/* a sentence for logs and receipts */
};

int mandates_new(struct mandates **out);
void mandates_destroy(struct mandates **rp);

/* Verify one SignedMandate (bytes) against the directory and add it.
 * Adding the same bytes again is a no-op (0); another mandate with the
 * same id is KETEN_EEXIST.  *out (may be NULL) points at the entry.
 * Errors: KETEN_EPARSE, KETEN_ETOOBIG, KETEN_EVERSION, KETEN_EMANDATE
 * (a field is invalid), KETEN_EMANDATESIG (signature does not verify),
 * KETEN_EMANDATEISSUER (issuer is not an authority, nor a delegating
 * grantee), KETEN_EMANDATEWIDER (a delegation wider than its parent),
 * KETEN_EMANDATEPARTY (issuer, grantee or recipient not in the directory). */
int mandates_add(struct mandates *reg, const struct directory *dir, const uint8_t *p, size_t n,
    const struct mandate **out);

/* Verify one SignedRevocation and add it.  Errors as mandates_add, and
 * KETEN_ENOTFOUND for a revocation of a mandate the registry does not
 * hold (it is not kept: a revocation is checked against its mandate). */
int mandates_revoke(struct mandates *reg, const struct directory *dir, const uint8_t *p,
    size_t n);
/* A revocation this node accepted in full before (mandates_revoke() said
 * 0), applied again without its signer and its mandate checked: a
 * revocation is never undone, also when its signer has left the
 * directory or changed its key since.  Only the fields are checked. */
int mandates_revoke_kept(struct mandates *reg, const uint8_t *p, size_t n);

/* Told about each item of a bundle: what ("mandates[3]"), whether it is a
 * revocation, its signed bytes, and 0 when it was accepted or why not. */
typedef void mandate_item_fn(void *arg, const char *what, int revocation, const uint8_t *p,
    size_t n, int err);

/* Load a MandateBundle: every mandate, then every revocation.  Items that
 * fail are skipped and counted in *refused; the others are added.  report
 * (may be NULL) is told about each.  0, or KETEN_EPARSE / KETEN_ETOOBIG
 * when the bundle itself is bad. */
int mandates_load_bundle(struct mandates *reg, const struct directory *dir, const uint8_t *p,
    size_t n, size_t *added, size_t *refused, mandate_item_fn *report, void *arg);

const struct mandate *mandates_find(const struct mandates *reg, const char *id);
size_t mandates_count(const struct mandates *reg);
const struct mandate *mandates_at(const struct mandates *reg, size_t i);
/* When mandate id stops (its earliest revocation's effective_at), or 0. */
uint64_t mandates_revoked_at(const struct mandates *reg, const char *id);

/* May `sender` send a message of `kind` for `purpose` to `recipient` at
 * now, under the mandate named `mandate_id` ("" or NULL: the narrowest
 * mandate that covers it)?  Always fills *d; returns d->allow. */
int mandates_check(const struct mandates *reg, const struct directory *dir, const char *sender,
    int kind, const char *recipient, const char *purpose, const char *mandate_id, uint64_t now,
    struct mandate_decision *d);

/* The same for a message to several recipients, which names one mandate:
 * the named one must cover every recipient; with none named, the
 * narrowest mandate that covers them all is chosen.  On refusal *d says
 * why for the first recipient that is not covered (or, when each is
 * covered by another mandate, that no single one covers them all). */
int mandates_check_all(const struct mandates *reg, const struct directory *dir,
    const char *sender, int kind, const char *const *recipients, size_t n, const char *purpose,
    const char *mandate_id, uint64_t now, struct mandate_decision *d);

/* May `relay` forward a message of `kind` at now?  It needs a mandate
 * with relay set that covers the kind.  Fills *d; returns d->allow. */
int mandates_check_relay(const struct mandates *reg, const char *relay, int kind, uint64_t now,
    struct mandate_decision *d);

/* Sign a serialized Mandate or Revocation with an Ed25519 secret key
 * (64 bytes); *out is a new SignedMandate / SignedRevocation. */
struct buf;
int mandate_sign(const uint8_t *mandate, size_t n, const uint8_t *sk, struct buf **out);
int revocation_sign(const uint8_t *revocation, size_t n, const uint8_t *sk, struct buf **out);

#endif
