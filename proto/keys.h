/*
 * keys.h — a node's private keys, loaded from PEM files made by
 * certs/mkdevnet.sh (or a real CA process).
 *
 * Three separate keys, each in its own file: the Ed25519 signing key (whose
 * public half is in the party's X.509 certificate), the X25519 sealing key
 * (payloads are sealed to it) and the CurveZMQ transport key.  A private key
 * file must be a regular file not accessible by group or others (as ssh
 * insists), else loading fails with KETEN_EKEYPERM.  Secret halves live in
 * sodium_malloc() memory and are wiped by keys_destroy().
 */
#ifndef KETEN_KEYS_H
#define KETEN_KEYS_H

#include <stdint.h>

struct keys {
	uint8_t sign_pk[32];	/* Ed25519 public key */
	uint8_t *sign_sk;	/* 64 bytes, libsodium layout (seed || pk) */
	uint8_t seal_pk[32];	/* X25519 public key */
	uint8_t *seal_sk;	/* 32 bytes */
	uint8_t curve_pk[32];	/* CurveZMQ public key */
	uint8_t *curve_sk;	/* 32 bytes */
};

/* Load all three keys.  Any path may be NULL to skip that key (its fields
 * stay zero/NULL).  On success *out is owned by the caller (keys_destroy).
 * Errors: KETEN_EKEYFILE, KETEN_EKEYPERM (a private key's file a symbolic
 * link, not a regular file, or open to group or others), KETEN_ENOMEM,
 * KETEN_EIO; *failed (when not NULL) is then the path at fault. */
int keys_load(const char *sign_pem, const char *seal_pem, const char *curve_pem,
    struct keys **out, const char **failed);

/* Wipe and free; sets *kp to NULL; NULL-safe. */
void keys_destroy(struct keys **kp);

/* 0 if path is a regular file with no group/other permission bits,
 * KETEN_EKEYPERM if it has any, KETEN_EIO if it cannot be stat'ed. */
int keys_check_perm(const char *path);

/* Load one Ed25519 private key (PEM, PKCS#8) into sk (64 bytes, caller
 * provides sodium_malloc'd memory) and pk (32).  Checks permissions. */
int keys_load_ed25519(const char *path, uint8_t *sk, uint8_t pk[32]);

/* Load one X25519 private key (PEM, PKCS#8) into sk (32 bytes, caller
 * provides sodium_malloc'd memory) and pk (32).  Checks permissions. */
int keys_load_x25519(const char *path, uint8_t *sk, uint8_t pk[32]);

/* Read an X25519 or Ed25519 public key (PEM SubjectPublicKeyInfo) into
 * pk (32).  KETEN_EKEYFILE on anything else. */
int keys_load_public(const char *path, uint8_t pk[32]);

#endif
