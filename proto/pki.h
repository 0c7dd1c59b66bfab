/*
 * pki.h — the chain's X.509 trust: the chain CA certificate and its CRL,
 * and validation of party certificates with OpenSSL.
 *
 * A party certificate is valid when it chains to the chain CA, is inside
 * its validity period at the given time, is not on the CRL, carries an
 * Ed25519 key with keyUsage digitalSignature (and no CA basic constraint),
 * and has the party's OIN as subject serialNumber (as in PKIoverheid).
 * The CRL is required: without one the pki refuses to load (fail closed).
 */
#ifndef KETEN_PKI_H
#define KETEN_PKI_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct pki;

/* Load the CA certificate and CRL (both PEM).  The CRL must be signed by
 * the CA.  Caller owns *out (pki_destroy).
 * Errors: KETEN_EIO, KETEN_ECERT, KETEN_ECRL, KETEN_ENOMEM. */
int pki_new(const char *ca_pem, const char *crl_pem, struct pki **out);

/* Free; sets *pp to NULL; NULL-safe. */
void pki_destroy(struct pki **pp);

/* Validate a DER certificate at time now (seconds since the epoch).
 * expect_oin: if non-NULL, the subject serialNumber must equal it.
 * On success writes the raw Ed25519 public key to pk (32) and, if oin_out
 * is non-NULL, the subject serialNumber (NUL-terminated, 21 bytes).
 * Errors: KETEN_ECERT, KETEN_ECERTCHAIN, KETEN_ECERTEXPIRED,
 * KETEN_ECERTREVOKED, KETEN_ECERTUSAGE, KETEN_ECERTOIN, KETEN_ECRL
 * (CRL past its nextUpdate). */
int pki_verify_cert(const struct pki *p, const uint8_t *der, size_t len,
    int64_t now, const char *expect_oin, uint8_t pk[32], char *oin_out);

/* Read a PEM certificate file into a new buffer holding its DER bytes.
 * Caller owns *der (buf_destroy).  KETEN_EIO, KETEN_ECERT, KETEN_ENOMEM. */
int pki_load_cert_der(const char *path, struct buf **der);

#endif
