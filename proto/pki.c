/*
 * pki.c — party certificates validated against the chain CA and its CRL
 * with OpenSSL's X509 verifier.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "err.h"
#include "pki.h"
#include "util.h"

/* CA, CRL and party certificates are small; a file larger than this is
 * refused before it is decoded. */
#define PEM_FILE_MAX (1u << 20)
#define CERT_DER_MAX (64u * 1024)

struct pki {
	X509_STORE *store;
	X509 *ca;
	X509_CRL *crl;
};

static int
read_pem(const char *path, BIO **bio, struct buf **b)
{
	int r;

	if ((r = buf_load_file(path, PEM_FILE_MAX, b)) != 0)
		return r == KETEN_ETOOBIG ? KETEN_ECERT : KETEN_EIO;
	if ((*bio = BIO_new_mem_buf(buf_ptr(*b), (int)buf_len(*b))) == NULL) {
		buf_destroy(b);
		return KETEN_ENOMEM;
	}
	return 0;
}

static int
load_cert_pem(const char *path, X509 **out)
{
	struct buf *b = NULL;
	BIO *bio = NULL;
	int r;

	if ((r = read_pem(path, &bio, &b)) != 0)
		return r;
	*out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	buf_destroy(&b);
	return *out != NULL ? 0 : KETEN_ECERT;
}

int
pki_new(const char *ca_pem, const char *crl_pem, struct pki **out)
{
	struct pki *p;
	struct buf *b = NULL;
	BIO *bio = NULL;
	EVP_PKEY *cakey;
	int r;

	if (ca_pem == NULL || crl_pem == NULL || out == NULL)
		return KETEN_EINVAL;
	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return KETEN_ENOMEM;
	if ((r = load_cert_pem(ca_pem, &p->ca)) != 0)
		goto fail;
	/* The trust anchor must be a CA certificate that signed itself. */
	if (X509_check_ca(p->ca) == 0 || X509_check_issued(p->ca, p->ca) != X509_V_OK) {
		r = KETEN_ECERT;
		goto fail;
	}
	if ((r = read_pem(crl_pem, &bio, &b)) != 0) {
		r = r == KETEN_EIO ? KETEN_ECRL : r;
		goto fail;
	}
	p->crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	BIO_free(bio);
	buf_destroy(&b);
	r = KETEN_ECRL;
	if (p->crl == NULL ||
	    X509_NAME_cmp(X509_CRL_get_issuer(p->crl), X509_get_subject_name(p->ca)) != 0 ||
	    (cakey = X509_get0_pubkey(p->ca)) == NULL || X509_CRL_verify(p->crl, cakey) != 1)
		goto fail;
	r = KETEN_ENOMEM;
	if ((p->store = X509_STORE_new()) == NULL || X509_STORE_add_cert(p->store, p->ca) != 1 ||
	    X509_STORE_add_crl(p->store, p->crl) != 1)
		goto fail;
	*out = p;
	return 0;
fail:
	pki_destroy(&p);
	return r;
}

void
pki_destroy(struct pki **pp)
{
	struct pki *p;

	if (pp == NULL || (p = *pp) == NULL)
		return;
	X509_STORE_free(p->store);
	X509_CRL_free(p->crl);
	X509_free(p->ca);
	free(p);
	*pp = NULL;
}

/* Map an X509 verification error to ours. */
static int
verify_error(int e)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
		return KETEN_ECERTEXPIRED;
	case X509_V_ERR_CERT_REVOKED:
		return KETEN_ECERTREVOKED;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
		return KETEN_ECRL;
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA:
	case X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA:
	case X509_V_ERR_INVALID_EXTENSION:
		return KETEN_ECERTUSAGE;
	default:
		return KETEN_ECERTCHAIN;
	}
}

int
pki_verify_cert(const struct pki *p, const uint8_t *der, size_t len, int64_t now,
    const char *expect_oin, uint8_t pk[32], char *oin_out)
{
	const unsigned char *q = der;
	X509 *x = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *vp;
	EVP_PKEY *key;
	char oin[KETEN_OIN_LEN + 2];
	size_t n = 32;
	int r, e;

	if (p == NULL || der == NULL || pk == NULL)
		return KETEN_EINVAL;
	if (len == 0 || len > CERT_DER_MAX)
		return KETEN_ECERT;
	/* Exactly one DER certificate, nothing after it. */
	if ((x = d2i_X509(NULL, &q, (long)len)) == NULL || q != der + len) {
		r = KETEN_ECERT;
		goto out;
	}
	/* The certificate's own period first, so that an expired certificate
	 * is reported as such even when the CRL is also out of date. */
	{
		time_t t = (time_t)now;

		if (X509_cmp_time(X509_get0_notBefore(x), &t) >= 0 ||
		    X509_cmp_time(X509_get0_notAfter(x), &t) <= 0) {
			r = KETEN_ECERTEXPIRED;
			goto out;
		}
	}
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, p->store, x, NULL) != 1) {
		r = KETEN_ENOMEM;
		goto out;
	}
	vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(vp, (time_t)now);
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_X509_STRICT);
	X509_VERIFY_PARAM_set_depth(vp, 1);
	if (X509_verify_cert(ctx) != 1) {
		e = X509_STORE_CTX_get_error(ctx);
		r = verify_error(e);

		goto out;
	}
	/* A signing certificate of a party: an Ed25519 key, for signatures,
	 * and not a CA. */
	r = KETEN_ECERTUSAGE;
	if ((key = X509_get0_pubkey(x)) == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519)
		goto out;
	if (X509_check_ca(x) != 0)
		goto out;
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) == 0 ||
	    (X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE) == 0 ||
	    (X509_get_key_usage(x) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0)
		goto out;
	if (EVP_PKEY_get_raw_public_key(key, pk, &n) != 1 || n != 32)
		goto out;
	r = KETEN_ECERTOIN;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_serialNumber, oin,
	    sizeof(oin)) != KETEN_OIN_LEN || !oin_valid(oin))
		goto out;
	if (expect_oin != NULL && strcmp(oin, expect_oin) != 0)
		goto out;
	if (oin_out != NULL)
		memcpy(oin_out, oin, KETEN_OIN_LEN + 1);
	r = 0;
out:
	if (r != 0)
		memset(pk, 0, 32);
	X509_STORE_CTX_free(ctx);
	X509_free(x);
	return r;
}

int
pki_load_cert_der(const char *path, struct buf **der)
{
	X509 *x = NULL;
	uint8_t *w;
	struct buf *b;
	int r, n;

	if (path == NULL || der == NULL)
		return KETEN_EINVAL;
	*der = NULL;
	if ((r = load_cert_pem(path, &x)) != 0)
		return r;
	if ((n = i2d_X509(x, NULL)) <= 0 || (size_t)n > CERT_DER_MAX) {
		X509_free(x);
		return KETEN_ECERT;
	}
	if ((b = buf_new((size_t)n)) == NULL || buf_reserve(b, (size_t)n, &w) != 0) {
		buf_destroy(&b);
		X509_free(x);
		return KETEN_ENOMEM;
	}
	n = i2d_X509(x, &w);
	X509_free(x);
	*der = b;
	return 0;
}
