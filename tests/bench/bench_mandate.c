/*
 * bench_mandate.c — what a mandate check costs: a verified mandate checked
 * again (cached: the registry holds it by id, no signature is verified),
 * the narrowest mandate chosen among a party's, and a mandate seen for the
 * first time (parsed and its signature verified); beside raw libsodium
 * Ed25519 verification of the same bytes in the same run.
 *
 * The directory and the authority's key are the dev network's
 * ($KETEN_TEST_PKI, or one made with certs/mkdevnet.sh).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "bench.h"
#include "buf.h"
#include "directory.h"
#include "err.h"
#include "keys.h"
#include "mandate.h"
#include "pki.h"
#include "../unit/tap.h"
#include "util.h"

#include "directory.pb-c.h"
#include "envelope.pb-c.h"
#include "mandate.pb-c.h"

#define AUTH "00000001999000000000"
#define IND "00000001999000010000"
#define AMS "00000001999000050000"
#define EXTRA 1000
static const double SECONDS = 0.5;

static struct buf *
issue(const char *id, const char *grantee, const uint8_t *sk, uint64_t now)
{
	static Keten__V1__Kind kinds[] = { KETEN__V1__KIND__DOSSIER_DELIVERY };
	static Keten__V1__Role roles[] = { KETEN__V1__ROLE__MUNICIPALITY };
	static char *purposes[] = { "lvv-intake" };
	Keten__V1__Mandate m = KETEN__V1__MANDATE__INIT;
	uint8_t p[2048];
	struct buf *out = NULL;
	size_t n;

	m.version = 1;
	m.id = (char *)id;
	m.issuer = AUTH;
	m.grantee = (char *)grantee;
	m.n_kinds = 1;
	m.kinds = kinds;
	m.n_recipient_roles = 1;
	m.recipient_roles = roles;
	m.n_purposes = 1;
	m.purposes = purposes;
	m.legal_basis = "Besluit LVV-ketenmandaten 2026, art. 3";
	m.legal_basis_uri = "https://example.org/lvv/besluit-2026";
	m.valid_from = now - 3600000;
	m.valid_until = now + 86400000;
	m.issued_at = now;
	n = keten__v1__mandate__pack(&m, p);
	if (mandate_sign(p, n, sk, &out) != 0) {
		fprintf(stderr, "bench_mandate: cannot sign\n");
		exit(1);
	}
	return out;
}

/* Rate of fn over SECONDS. */
#define RATE(var, body) do { \
	size_t n_ = 0; \
	double t0_ = now_s(), t_; \
	do { \
		for (int i_ = 0; i_ < 256; i_++) { body; } \
		n_ += 256; \
	} while ((t_ = now_s() - t0_) < SECONDS); \
	var = (double)n_ / t_; \
} while (0)

int
main(void)
{
	char ca[PATH_MAX], crl[PATH_MAX], ds[PATH_MAX], key[PATH_MAX];
	const char *dir_path = tap_pki_dir();
	struct pki *pki = NULL;
	struct directory *dir = NULL;
	struct mandates *small = NULL, *big = NULL, *fresh = NULL;
	struct mandate_decision d;
	uint8_t sk[64], pk[32], sig[64];
	uint64_t now = clock_now_ms();
	struct buf *one, **bufs;
	double raw, cached, cached_big, chosen, uncached;
	char id[64];
	volatile int sink = 0;

	if (sodium_init() < 0 || dir_path == NULL)
		return 1;
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir_path);
	snprintf(crl, sizeof(crl), "%s/crl.pem", dir_path);
	snprintf(ds, sizeof(ds), "%s/directory.signed", dir_path);
	snprintf(key, sizeof(key), "%s/parties/authority/sign.key", dir_path);
	if (pki_new(ca, crl, &pki) != 0 || directory_load_file(pki, AUTH, ds, now, &dir) != 0 ||
	    keys_load_ed25519(key, sk, pk) != 0 || mandates_new(&small) != 0 ||
	    mandates_new(&big) != 0) {
		fprintf(stderr, "bench_mandate: no dev PKI at %s\n", dir_path);
		return 1;
	}
	one = issue("lvv-ind-dossier", IND, sk, now);
	if (mandates_add(small, dir, buf_ptr(one), buf_len(one), NULL) != 0)
		return 1;
	/* a registry of EXTRA more, granted to Amsterdam, and IND's last */
	for (int i = 0; i < EXTRA; i++) {
		struct buf *b;

		snprintf(id, sizeof(id), "extra-%d", i);
		b = issue(id, AMS, sk, now);
		if (mandates_add(big, dir, buf_ptr(b), buf_len(b), NULL) != 0)
			return 1;
		buf_destroy(&b);
	}
	if (mandates_add(big, dir, buf_ptr(one), buf_len(one), NULL) != 0)
		return 1;
	/* a supply of mandates never seen, for the uncached rate */
	bufs = calloc(4096, sizeof(*bufs));
	for (int i = 0; bufs != NULL && i < 4096; i++) {
		snprintf(id, sizeof(id), "fresh-%d", i);
		bufs[i] = issue(id, IND, sk, now);
	}
	if (bufs == NULL)
		return 1;
	crypto_sign_detached(sig, NULL, buf_ptr(one), buf_len(one), sk);

	RATE(raw, sink += crypto_sign_verify_detached(sig, buf_ptr(one), buf_len(one), pk));
	RATE(cached, sink += mandates_check(small, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS,
	    "lvv-intake", "lvv-ind-dossier", now, &d));
	RATE(cached_big, sink += mandates_check(big, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY,
	    AMS, "lvv-intake", "lvv-ind-dossier", now, &d));
	RATE(chosen, sink += mandates_check(big, dir, IND, KETEN__V1__KIND__DOSSIER_DELIVERY, AMS,
	    "lvv-intake", "", now, &d));
	{
		size_t k = 0;

		RATE(uncached, {
			if (fresh == NULL && mandates_new(&fresh) != 0)
				return 1;
			sink += mandates_add(fresh, dir, buf_ptr(bufs[k % 4096]),
			    buf_len(bufs[k % 4096]), NULL);
			if (++k % 64 == 0)
				mandates_destroy(&fresh);
		});
	}
	printf("bench_mandate (%zu-byte signed mandate; the same run's raw libsodium as baseline)\n",
	    buf_len(one));
	printf("  raw Ed25519 verify                         %10.0f /s  %7.2f us\n", raw, 1e6 / raw);
	printf("  check, cached (1 mandate)                  %10.0f /s  %7.2f us  %6.1fx raw verify\n",
	    cached, 1e6 / cached, cached / raw);
	printf("  check, cached (%d mandates)              %10.0f /s  %7.2f us  %6.1fx raw verify\n",
	    EXTRA + 1, cached_big, 1e6 / cached_big, cached_big / raw);
	printf("  check, narrowest chosen (%d mandates)    %10.0f /s  %7.2f us  %6.1fx raw verify\n",
	    EXTRA + 1, chosen, 1e6 / chosen, chosen / raw);
	printf("  first sight: parse + verify + add          %10.0f /s  %7.2f us  %6.2fx raw verify\n",
	    uncached, 1e6 / uncached, uncached / raw);
	for (int i = 0; i < 4096; i++)
		buf_destroy(&bufs[i]);
	free(bufs);
	buf_destroy(&one);
	mandates_destroy(&fresh);
	mandates_destroy(&small);
	mandates_destroy(&big);
	directory_destroy(&dir);
	pki_destroy(&pki);
	return sink == 42 ? 2 : 0;
}
