/*
 * auditkeys.h — the audit keys of one organisation: the pseudonym key and
 * one sealing key per period (a calendar month, UTC).
 *
 * A data subject (V-nummer or BSN) never enters the audit log.  The log
 * holds a keyed pseudonym, HMAC-SHA-256 under the pseudonym key, so that
 * pseudonyms cannot be linked across organisations and cannot be found by
 * hashing the whole (small) number space.  The pseudonym itself is sealed
 * with XChaCha20-Poly1305 under the key of the record's period, with a
 * fresh nonce per record, so that whoever verifies the log without keys
 * cannot even tell which records are about the same person.  Destroying a
 * period's key (retention) makes that period's subjects unreadable forever.
 *
 * The key file (PROTOCOL.md §17.5) is text, mode 0600:
 *   keten-audit-keys v1
 *   pseudonym <64 hex>
 *   period YYYY-MM <64 hex>          (one line per period, any order)
 *   destroyed YYYY-MM                (a period whose key was destroyed)
 * Keys live in sodium_malloc() memory and are wiped on destroy.
 */
#ifndef KETEN_AUDITKEYS_H
#define KETEN_AUDITKEYS_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_PERIOD_LEN 7		/* "YYYY-MM" */
#define AUDIT_PSEUDONYM_LEN 32
#define AUDIT_SEALED_LEN (1 + AUDIT_PSEUDONYM_LEN + 16)
#define AUDIT_NONCE_LEN 24
#define AUDIT_MAX_PERIODS 1200		/* a hundred years of months */

enum audit_subject_type {
	AUDIT_SUBJECT_NONE = 0,
	AUDIT_SUBJECT_V_NUMBER = 1,
	AUDIT_SUBJECT_BSN = 2,
};

struct audit_keys;

/* Make a new key set with a fresh pseudonym key and no periods.  Caller
 * owns *out.  0 or KETEN_ENOMEM. */
int audit_keys_new(struct audit_keys **out);

/* Load a key file.  The file must be a regular file not readable by group
 * or others (KETEN_EKEYPERM).  Caller owns *out.  0, KETEN_EKEYFILE
 * (malformed, with the line logged to stderr by nobody: the caller says
 * which file), KETEN_EKEYPERM, KETEN_EIO, KETEN_ENOMEM. */
int audit_keys_load(const char *path, struct audit_keys **out);

/* Write the key set to path durably (temp file, fsync, rename, fsync of
 * the directory), mode 0600.  0 or KETEN_EIO / KETEN_EFULL. */
int audit_keys_save(const struct audit_keys *k, const char *path);

void audit_keys_destroy(struct audit_keys **kp);

/* The period ("YYYY-MM") of a time in ms since the epoch, UTC; out has
 * room for AUDIT_PERIOD_LEN + 1. */
void audit_period_of(uint64_t ms, char out[AUDIT_PERIOD_LEN + 1]);

/* Make sure period has a key; *added is set when a new one was made (the
 * caller saves the file before using it).  KETEN_EAUDITKEY when that
 * period's key was destroyed. */
int audit_keys_ensure_period(struct audit_keys *k, const char *period, int *added);

/* Forget a period just added whose key could not be saved (it was never
 * used).  No-op when unknown. */
void audit_keys_forget_period(struct audit_keys *k, const char *period);

/* Destroy the key of period (the line becomes "destroyed").  0,
 * KETEN_ENOTFOUND. */
int audit_keys_destroy_period(struct audit_keys *k, const char *period);

/* The periods the key set knows, in file order: name of period i (NULL
 * past the end) and whether its key was destroyed. */
const char *audit_keys_period_at(const struct audit_keys *k, size_t i, int *destroyed);

/* ms since the epoch at which period ("YYYY-MM") ends (the first instant
 * of the next month, UTC); 0 when period is malformed. */
uint64_t audit_period_end(const char *period);

/* Whether period has a key (1), was destroyed (-1) or is unknown (0). */
int audit_keys_period_state(const struct audit_keys *k, const char *period);

/* Classify and normalise an identifier: a V-nummer is 10 digits, a BSN 9
 * digits passing the eleven-test; spaces and dots are dropped.  Returns
 * the type, or AUDIT_SUBJECT_NONE when it is neither; norm gets the
 * digits (room for 11 bytes). */
int audit_subject_classify(const char *id, char norm[11]);

/* pseudonym = HMAC-SHA-256(pseudonym key, type || digits). */
void audit_pseudonym(const struct audit_keys *k, int type, const char *digits,
    uint8_t out[AUDIT_PSEUDONYM_LEN]);

/* Seal (type, pseudonym) for the record `index` of the log of node `oin`
 * under the key of `period`, with nonce (24 bytes), which must never be
 * used twice under one key: random, or a random prefix and a counter.  0
 * or KETEN_EAUDITKEY (no key for that period). */
int audit_subject_seal(const struct audit_keys *k, const char *period,
    const char *oin, uint64_t index, int type,
    const uint8_t pseudonym[AUDIT_PSEUDONYM_LEN], const uint8_t nonce[AUDIT_NONCE_LEN],
    uint8_t sealed[AUDIT_SEALED_LEN]);

/* Open a sealed subject.  0, KETEN_EAUDITKEY (no key: unknown or
 * destroyed period), KETEN_EDECRYPT (does not authenticate: altered, or
 * moved from another record or log). */
int audit_subject_open(const struct audit_keys *k, const char *period,
    const char *oin, uint64_t index, const uint8_t nonce[AUDIT_NONCE_LEN],
    const uint8_t *sealed, size_t sealed_len, int *type,
    uint8_t pseudonym[AUDIT_PSEUDONYM_LEN]) __attribute__((warn_unused_result));

/* Index tag of a pseudonym for the subject index (auditindex): a keyed
 * 8-byte tag, so the index file does not hold the pseudonyms. */
uint64_t audit_pseudonym_tag(const struct audit_keys *k,
    const uint8_t pseudonym[AUDIT_PSEUDONYM_LEN]);

/* The key that authenticates a subject index built with these keys (an
 * HMAC-SHA-256 key derived from the pseudonym key), and a digest of which
 * periods they hold and which of those were destroyed: an index built
 * with other keys may lack what these can open. */
void audit_keys_index_key(const struct audit_keys *k, uint8_t key[32]);
void audit_keys_periods_digest(const struct audit_keys *k, uint8_t digest[32]);

#endif
