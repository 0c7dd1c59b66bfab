/*
 * keys.c — private and public keys from PEM files, with OpenSSL's
 * decoders, into libsodium's layouts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "err.h"
#include "keys.h"

/* A PEM key file is a few hundred bytes; anything larger is not ours. */
#define KEY_FILE_MAX 8192

int
keys_check_perm(const char *path)
{
	struct stat st;

	if (path == NULL)
		return KETEN_EINVAL;
	if (stat(path, &st) != 0)
		return KETEN_EIO;
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return KETEN_EKEYPERM;
	return 0;
}

/* Read the whole file at path into pem (KEY_FILE_MAX bytes); *len gets
 * its length.  A private key's file must be a regular file (not a
 * symbolic link) without permission for group or others: checked on the
 * file opened, the one read.  The caller wipes pem. */
static int
read_pem(const char *path, int private, char *pem, size_t *len)
{
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd;

	/* O_NONBLOCK: a FIFO at the path must not hang the open (it is
	 * refused below); a regular file reads the same with it */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK)) < 0)
		return errno == ELOOP ? KETEN_EKEYPERM : KETEN_EIO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (private && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)) {
		close(fd);
		return KETEN_EKEYPERM;
	}
	while (n < KEY_FILE_MAX) {
		r = read(fd, pem + n, KEY_FILE_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return KETEN_EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n == KEY_FILE_MAX)
		return KETEN_EKEYFILE;
	*len = n;
	return 0;
}

/* Read the PEM file at path and decode one key from it: a private key
 * (PKCS#8) when private is set, else a public key (SubjectPublicKeyInfo).
 * The file's bytes are held in sodium_malloc memory and wiped. */
static int
decode_pem(const char *path, int private, EVP_PKEY **k)
{
	char *pem;
	size_t len = 0;
	BIO *bio = NULL;
	int r;

	*k = NULL;
	if ((pem = sodium_malloc(KEY_FILE_MAX)) == NULL)
		return KETEN_ENOMEM;
	if ((r = read_pem(path, private, pem, &len)) != 0)
		goto out;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		r = KETEN_ENOMEM;
		goto out;
	}
	*k = private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) :
	    PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	r = *k != NULL ? 0 : KETEN_EKEYFILE;
out:
	BIO_free(bio);
	sodium_free(pem);
	return r;
}

/* Decode a private key of type want from the PEM file at path and copy its
 * raw 32-byte private and public halves out. */
static int
load_private(const char *path, int want, uint8_t raw_sk[32], uint8_t raw_pk[32])
{
	EVP_PKEY *k = NULL;
	size_t n;
	int r;

	if ((r = decode_pem(path, 1, &k)) != 0)
		return r;
	r = KETEN_EKEYFILE;
	if (EVP_PKEY_get_base_id(k) != want)
		goto out;
	n = 32;
	if (EVP_PKEY_get_raw_private_key(k, raw_sk, &n) != 1 || n != 32)
		goto out;
	n = 32;
	if (EVP_PKEY_get_raw_public_key(k, raw_pk, &n) != 1 || n != 32)
		goto out;
	r = 0;
out:
	EVP_PKEY_free(k);
	return r;
}

int
keys_load_ed25519(const char *path, uint8_t *sk, uint8_t pk[32])
{
	uint8_t seed[32], raw_pk[32];
	int r;

	if (path == NULL || sk == NULL || pk == NULL)
		return KETEN_EINVAL;
	if ((r = load_private(path, EVP_PKEY_ED25519, seed, raw_pk)) != 0)
		goto out;
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0) {
		r = KETEN_ECRYPTO;
		goto out;
	}
	/* The public half the file claims must be the one the seed makes. */
	if (sodium_memcmp(pk, raw_pk, 32) != 0) {
		sodium_memzero(sk, 64);
		r = KETEN_EKEYFILE;
	}
out:
	sodium_memzero(seed, sizeof(seed));
	return r;
}

int
keys_load_x25519(const char *path, uint8_t *sk, uint8_t pk[32])
{
	uint8_t raw_pk[32];
	int r;

	if (path == NULL || sk == NULL || pk == NULL)
		return KETEN_EINVAL;
	if ((r = load_private(path, EVP_PKEY_X25519, sk, raw_pk)) != 0) {
		sodium_memzero(sk, 32);
		return r;
	}
	if (crypto_scalarmult_base(pk, sk) != 0 || sodium_memcmp(pk, raw_pk, 32) != 0) {
		sodium_memzero(sk, 32);
		return KETEN_EKEYFILE;
	}
	return 0;
}

int
keys_load_public(const char *path, uint8_t pk[32])
{
	EVP_PKEY *k = NULL;
	size_t n = 32;
	int r, id;

	if (path == NULL || pk == NULL)
		return KETEN_EINVAL;
	if ((r = decode_pem(path, 0, &k)) != 0)
		return r;
	id = EVP_PKEY_get_base_id(k);
	r = (id == EVP_PKEY_X25519 || id == EVP_PKEY_ED25519) &&
	    EVP_PKEY_get_raw_public_key(k, pk, &n) == 1 && n == 32 ? 0 : KETEN_EKEYFILE;
	EVP_PKEY_free(k);
	return r;
}

void
keys_destroy(struct keys **kp)
{
	struct keys *k;

	if (kp == NULL || (k = *kp) == NULL)
		return;
	sodium_free(k->sign_sk);
	sodium_free(k->seal_sk);
	sodium_free(k->curve_sk);
	free(k);
	*kp = NULL;
}

int
keys_load(const char *sign_pem, const char *seal_pem, const char *curve_pem,
    struct keys **out, const char **failed)
{
	const char *at = NULL;
	struct keys *k;
	int r = 0;

	if (out == NULL)
		return KETEN_EINVAL;
	*out = NULL;
	if (sodium_init() < 0)
		return KETEN_ECRYPTO;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return KETEN_ENOMEM;
	if (sign_pem != NULL) {
		if ((k->sign_sk = sodium_malloc(64)) == NULL)
			r = KETEN_ENOMEM;
		else
			r = keys_load_ed25519(sign_pem, k->sign_sk, k->sign_pk);
		at = sign_pem;
	}
	if (r == 0 && seal_pem != NULL) {
		if ((k->seal_sk = sodium_malloc(32)) == NULL)
			r = KETEN_ENOMEM;
		else
			r = keys_load_x25519(seal_pem, k->seal_sk, k->seal_pk);
		at = seal_pem;
	}
	if (r == 0 && curve_pem != NULL) {
		if ((k->curve_sk = sodium_malloc(32)) == NULL)
			r = KETEN_ENOMEM;
		else
			r = keys_load_x25519(curve_pem, k->curve_sk, k->curve_pk);
		at = curve_pem;
	}
	if (r != 0) {
		if (failed != NULL)
			*failed = at;
		keys_destroy(&k);
		return r;
	}
	*out = k;
	return 0;
}
