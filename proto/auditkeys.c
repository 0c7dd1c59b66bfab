/*
 * auditkeys.c — pseudonym and period keys of the audit log (see
 * auditkeys.h).
 */
/* before any OpenSSL header: SHA256_Init and friends, as in merkle.c */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <sodium.h>

#include "auditkeys.h"
#include "err.h"
#include "keys.h"
#include "util.h"

#define KEYS_FILE_MAX (64 * 1024 + AUDIT_MAX_PERIODS * 96)
static const char CTX_SUBJECT[] = "keten/v1/audit-subject";
static const char CTX_TAG[] = "keten/v1/audit-index";
static const char CTX_INDEX_MAC[] = "keten/v1/audit-index-mac";

struct period {
	char name[AUDIT_PERIOD_LEN + 1];
	int destroyed;
	/* KEY_ALLOC bytes, sodium_malloc; NULL when destroyed: the key (32),
	 * then, once sub_ok, the first 16 bytes of the nonce last sealed with
	 * (16) and the XChaCha20 subkey they give (32) */
	uint8_t *key;
	int sub_ok;
};
#define KEY_ALLOC (32 + 16 + 32)

/* HMAC-SHA256 (RFC 2104) on OpenSSL's SHA-256, which uses the CPU's SHA
 * extensions (libsodium's does not: a pseudonym cost 0.8 µs, a tenth of
 * a RECEIVE record).  The inner and outer hashes with the key's padding
 * absorbed. */
struct hmac_base {
	SHA256_CTX inner, outer;
};

struct audit_keys {
	uint8_t *pseudonym_key;	/* 32 bytes, sodium_malloc */
	/* HMAC-SHA256 with the pseudonym key absorbed (sodium_malloc): each
	 * pseudonym or tag starts from a copy instead of hashing the key's
	 * padding blocks again */
	struct hmac_base *hmac_base;
	struct period *periods;
	size_t n;
	size_t last;		/* the period found last: lookups come in runs */
};

static int
period_valid(const char *s)
{
	return strlen(s) == AUDIT_PERIOD_LEN && s[4] == '-' &&
	    strspn(s, "0123456789") == 4 && strspn(s + 5, "0123456789") == 2 &&
	    ((s[5] == '0' && s[6] >= '1') || (s[5] == '1' && s[6] <= '2'));
}

static struct period *
period_find(const struct audit_keys *k, const char *name)
{
	struct audit_keys *mk = (struct audit_keys *)k;

	if (mk->last < mk->n && strcmp(mk->periods[mk->last].name, name) == 0)
		return &mk->periods[mk->last];
	for (size_t i = 0; i < mk->n; i++)
		if (strcmp(mk->periods[i].name, name) == 0) {
			mk->last = i;
			return &mk->periods[i];
		}
	return NULL;
}

static int
period_add(struct audit_keys *k, const char *name, const uint8_t *key)
{
	struct period *grown, *p;

	if (k->n == AUDIT_MAX_PERIODS)
		return KETEN_ETOOBIG;
	if ((grown = realloc(k->periods, (k->n + 1) * sizeof(*grown))) == NULL)
		return KETEN_ENOMEM;
	k->periods = grown;
	p = &k->periods[k->n];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (key == NULL) {
		p->destroyed = 1;
	} else {
		if ((p->key = sodium_malloc(KEY_ALLOC)) == NULL)
			return KETEN_ENOMEM;
		memcpy(p->key, key, 32);
	}
	k->n++;
	return 0;
}

static struct audit_keys *
keys_alloc(void)
{
	struct audit_keys *k;

	/* sodium_malloc needs it; repeated calls are cheap */
	if (sodium_init() < 0 || (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	if ((k->pseudonym_key = sodium_malloc(32)) == NULL ||
	    (k->hmac_base = sodium_malloc(sizeof(*k->hmac_base))) == NULL) {
		sodium_free(k->pseudonym_key);
		free(k);
		return NULL;
	}
	return k;
}

/* After the pseudonym key is set. */
static void
hmac_base_set(struct audit_keys *k)
{
	uint8_t ipad[64], opad[64];

	/* a 32-byte key is used as it is, padded with zeros to the block */
	memset(ipad, 0x36, sizeof(ipad));
	memset(opad, 0x5c, sizeof(opad));
	for (size_t i = 0; i < 32; i++) {
		ipad[i] ^= k->pseudonym_key[i];
		opad[i] ^= k->pseudonym_key[i];
	}
	SHA256_Init(&k->hmac_base->inner);
	SHA256_Update(&k->hmac_base->inner, ipad, sizeof(ipad));
	SHA256_Init(&k->hmac_base->outer);
	SHA256_Update(&k->hmac_base->outer, opad, sizeof(opad));
	sodium_memzero(ipad, sizeof(ipad));
	sodium_memzero(opad, sizeof(opad));
}

/* HMAC-SHA256 under the pseudonym key of the concatenation of n parts. */
static void
hmac_parts(const struct audit_keys *k, const void *const *p, const size_t *len, size_t n,
    uint8_t out[32])
{
	SHA256_CTX c = k->hmac_base->inner;
	uint8_t ih[32];

	for (size_t i = 0; i < n; i++)
		SHA256_Update(&c, p[i], len[i]);
	SHA256_Final(ih, &c);
	c = k->hmac_base->outer;
	SHA256_Update(&c, ih, sizeof(ih));
	SHA256_Final(out, &c);
	sodium_memzero(&c, sizeof(c));
	sodium_memzero(ih, sizeof(ih));
}

int
audit_keys_new(struct audit_keys **out)
{
	struct audit_keys *k = keys_alloc();

	if (k == NULL)
		return KETEN_ENOMEM;
	randombytes_buf(k->pseudonym_key, 32);
	hmac_base_set(k);
	*out = k;
	return 0;
}

void
audit_keys_destroy(struct audit_keys **kp)
{
	struct audit_keys *k;

	if (kp == NULL || (k = *kp) == NULL)
		return;
	for (size_t i = 0; i < k->n; i++)
		sodium_free(k->periods[i].key);
	free(k->periods);
	sodium_free(k->pseudonym_key);
	sodium_free(k->hmac_base);
	free(k);
	*kp = NULL;
}

/* One line of the key file; 0 or KETEN_EKEYFILE. */
static int
keys_parse_line(struct audit_keys *k, char *line, int *have_pseudonym)
{
	char name[16], hex[80];
	uint8_t key[32];
	int r;

	if (sscanf(line, "pseudonym %79s", hex) == 1) {
		r = *have_pseudonym || strlen(hex) != 64 ||
		    hex_decode(hex, k->pseudonym_key, 32) != 0 ? KETEN_EKEYFILE : 0;
		sodium_memzero(hex, sizeof(hex));
		*have_pseudonym = r == 0;
		return r;
	}
	if (sscanf(line, "period %15s %79s", name, hex) == 2) {
		r = !period_valid(name) || period_find(k, name) != NULL ||
		    strlen(hex) != 64 || hex_decode(hex, key, 32) != 0 ? KETEN_EKEYFILE :
		    period_add(k, name, key);
		sodium_memzero(key, sizeof(key));
		sodium_memzero(hex, sizeof(hex));
		return r;
	}
	if (sscanf(line, "destroyed %15s", name) == 1) {
		if (!period_valid(name) || period_find(k, name) != NULL)
			return KETEN_EKEYFILE;
		return period_add(k, name, NULL);
	}
	return KETEN_EKEYFILE;
}

int
audit_keys_load(const char *path, struct audit_keys **out)
{
	struct audit_keys *k = NULL;
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	ssize_t got;
	int fd = -1, r, have_pseudonym = 0;

	if ((r = keys_check_perm(path)) != 0)
		return r;
	if (sodium_init() < 0 || (text = sodium_malloc(KEYS_FILE_MAX + 1)) == NULL)
		return KETEN_ENOMEM;
	r = KETEN_EIO;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		goto out;
	while (len < KEYS_FILE_MAX) {
		got = read(fd, text + len, KEYS_FILE_MAX - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto out;
		if (got == 0)
			break;
		len += (size_t)got;
	}
	r = KETEN_EKEYFILE;
	if (len == KEYS_FILE_MAX)
		goto out;
	text[len] = '\0';
	if ((k = keys_alloc()) == NULL) {
		r = KETEN_ENOMEM;
		goto out;
	}
	line = strtok_r(text, "\n", &save);
	if (line == NULL || strcmp(line, "keten-audit-keys v1") != 0)
		goto out;
	while ((line = strtok_r(NULL, "\n", &save)) != NULL)
		if ((r = keys_parse_line(k, line, &have_pseudonym)) != 0)
			goto out;
	r = have_pseudonym ? 0 : KETEN_EKEYFILE;
	if (r == 0)
		hmac_base_set(k);
out:
	if (fd >= 0)
		close(fd);
	sodium_free(text);
	if (r == 0)
		*out = k;
	else
		audit_keys_destroy(&k);
	return r;
}

int
audit_keys_save(const struct audit_keys *k, const char *path)
{
	size_t cap = 128 + k->n * 96, len = 0;
	char *text, hex[65];
	int r;

	if ((text = sodium_malloc(cap)) == NULL)
		return KETEN_ENOMEM;
	hex_encode(k->pseudonym_key, 32, hex);
	len += (size_t)snprintf(text + len, cap - len,
	    "keten-audit-keys v1\npseudonym %s\n", hex);
	for (size_t i = 0; i < k->n; i++) {
		if (k->periods[i].destroyed) {
			len += (size_t)snprintf(text + len, cap - len, "destroyed %s\n",
			    k->periods[i].name);
			continue;
		}
		hex_encode(k->periods[i].key, 32, hex);
		len += (size_t)snprintf(text + len, cap - len, "period %s %s\n",
		    k->periods[i].name, hex);
	}
	sodium_memzero(hex, sizeof(hex));
	r = file_write_atomic(path, text, len, 0600);
	sodium_free(text);
	return r;
}

void
audit_period_of(uint64_t ms, char out[AUDIT_PERIOD_LEN + 1])
{
	time_t t = (time_t)(ms / 1000u % 253402300800u);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, AUDIT_PERIOD_LEN + 1, "%04u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
	    (unsigned)(tm.tm_mon + 1) % 13u);
}

int
audit_keys_ensure_period(struct audit_keys *k, const char *period, int *added)
{
	struct period *p = period_find(k, period);
	uint8_t key[32];
	int r;

	*added = 0;
	if (p != NULL)
		return p->destroyed ? KETEN_EAUDITKEY : 0;
	if (!period_valid(period))
		return KETEN_EINVAL;
	randombytes_buf(key, sizeof(key));
	r = period_add(k, period, key);
	sodium_memzero(key, sizeof(key));
	if (r == 0)
		*added = 1;
	return r;
}

void
audit_keys_forget_period(struct audit_keys *k, const char *period)
{
	struct period *p = period_find(k, period);

	if (p == NULL)
		return;
	sodium_free(p->key);
	*p = k->periods[--k->n];
	k->last = 0;
}

int
audit_keys_destroy_period(struct audit_keys *k, const char *period)
{
	struct period *p = period_find(k, period);

	if (p == NULL)
		return KETEN_ENOTFOUND;
	sodium_free(p->key);
	p->key = NULL;
	p->destroyed = 1;
	return 0;
}

int
audit_keys_period_state(const struct audit_keys *k, const char *period)
{
	const struct period *p = period_find(k, period);

	return p == NULL ? 0 : p->destroyed ? -1 : 1;
}

int
audit_subject_classify(const char *id, char norm[11])
{
	size_t n = 0;
	int sum = 0;

	for (const char *c = id; *c != '\0'; c++) {
		if (*c == ' ' || *c == '.')
			continue;
		if (*c < '0' || *c > '9' || n == 10)
			return AUDIT_SUBJECT_NONE;
		norm[n++] = *c;
	}
	norm[n] = '\0';
	if (n == 10)
		return AUDIT_SUBJECT_V_NUMBER;
	if (n != 9)
		return AUDIT_SUBJECT_NONE;
	/* BSN eleven-test: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 divisible by 11 */
	for (size_t i = 0; i < 8; i++)
		sum += (int)(9 - i) * (norm[i] - '0');
	sum -= norm[8] - '0';
	return sum % 11 == 0 ? AUDIT_SUBJECT_BSN : AUDIT_SUBJECT_NONE;
}

void
audit_pseudonym(const struct audit_keys *k, int type, const char *digits,
    uint8_t out[AUDIT_PSEUDONYM_LEN])
{
	uint8_t t = (uint8_t)type;

	hmac_parts(k, (const void *const[]){ &t, digits }, (const size_t[]){ 1, strlen(digits) },
	    2, out);
}

uint64_t
audit_pseudonym_tag(const struct audit_keys *k, const uint8_t pseudonym[AUDIT_PSEUDONYM_LEN])
{
	uint8_t mac[32];
	uint64_t tag = 0;

	hmac_parts(k, (const void *const[]){ CTX_TAG, pseudonym },
	    (const size_t[]){ sizeof(CTX_TAG), AUDIT_PSEUDONYM_LEN }, 2, mac);
	tag = be64_load(mac);
	sodium_memzero(mac, sizeof(mac));
	return tag;
}

/* ad = CTX_SUBJECT || 0x00 || oin || u64be(index); returns its length. */
static size_t
subject_ad(const char *oin, uint64_t index, uint8_t ad[64])
{
	size_t n = sizeof(CTX_SUBJECT), olen = strnlen(oin, 20);

	memcpy(ad, CTX_SUBJECT, sizeof(CTX_SUBJECT));
	memcpy(ad + n, oin, olen);
	n += olen;
	be64_store(ad + n, index);
	return n + 8;
}

int
audit_subject_seal(const struct audit_keys *k, const char *period, const char *oin,
    uint64_t index, int type, const uint8_t pseudonym[AUDIT_PSEUDONYM_LEN],
    const uint8_t nonce[AUDIT_NONCE_LEN], uint8_t sealed[AUDIT_SEALED_LEN])
{
	struct period *p = period_find(k, period);
	uint8_t pt[1 + AUDIT_PSEUDONYM_LEN], ad[64], n12[12] = { 0 };
	size_t adlen = subject_ad(oin, index, ad);

	if (p == NULL || p->destroyed)
		return KETEN_EAUDITKEY;
	/* XChaCha20-Poly1305 as libsodium computes it (HChaCha20 of the key
	 * and the nonce's first 16 bytes, then ChaCha20-Poly1305 with 4 zero
	 * bytes and the nonce's last 8), keeping the subkey: a log seals
	 * with one nonce prefix and a counter, so one HChaCha20 per prefix
	 * instead of one per record. */
	if (!p->sub_ok || memcmp(p->key + 32, nonce, 16) != 0) {	/* a nonce is public */
		memcpy(p->key + 32, nonce, 16);
		crypto_core_hchacha20(p->key + 48, nonce, p->key, NULL);
		p->sub_ok = 1;
	}
	memcpy(n12 + 4, nonce + 16, 8);
	pt[0] = (uint8_t)type;
	memcpy(pt + 1, pseudonym, AUDIT_PSEUDONYM_LEN);
	crypto_aead_chacha20poly1305_ietf_encrypt(sealed, NULL, pt, sizeof(pt), ad, adlen, NULL,
	    n12, p->key + 48);
	sodium_memzero(pt, sizeof(pt));
	return 0;
}

int
audit_subject_open(const struct audit_keys *k, const char *period, const char *oin,
    uint64_t index, const uint8_t nonce[AUDIT_NONCE_LEN], const uint8_t *sealed,
    size_t sealed_len, int *type, uint8_t pseudonym[AUDIT_PSEUDONYM_LEN])
{
	const struct period *p = period_find(k, period);
	uint8_t pt[1 + AUDIT_PSEUDONYM_LEN], ad[64];
	size_t adlen = subject_ad(oin, index, ad);

	if (p == NULL || p->destroyed)
		return KETEN_EAUDITKEY;
	if (sealed_len != AUDIT_SEALED_LEN ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, sealed, sealed_len,
	    ad, adlen, nonce, p->key) != 0)
		return KETEN_EDECRYPT;
	*type = pt[0];
	memcpy(pseudonym, pt + 1, AUDIT_PSEUDONYM_LEN);
	sodium_memzero(pt, sizeof(pt));
	return 0;
}

const char *
audit_keys_period_at(const struct audit_keys *k, size_t i, int *destroyed)
{
	if (i >= k->n)
		return NULL;
	*destroyed = k->periods[i].destroyed;
	return k->periods[i].name;
}

uint64_t
audit_period_end(const char *period)
{
	struct tm tm;
	time_t t;

	if (!period_valid(period))
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(period) - 1900;
	tm.tm_mon = atoi(period + 5);	/* the month after: 0-based */
	tm.tm_mday = 1;
	if ((t = timegm(&tm)) < 0)
		return 0;
	return (uint64_t)t * 1000u;
}

void
audit_keys_index_key(const struct audit_keys *k, uint8_t key[32])
{
	hmac_parts(k, (const void *const[]){ CTX_INDEX_MAC }, (const size_t[]){ sizeof(CTX_INDEX_MAC) },
	    1, key);
}

static int
period_name_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct period *const *)a)->name,
	    (*(const struct period *const *)b)->name);
}

void
audit_keys_periods_digest(const struct audit_keys *k, uint8_t digest[32])
{
	crypto_hash_sha256_state st;
	const struct period *sorted[AUDIT_MAX_PERIODS];
	size_t n = k->n < AUDIT_MAX_PERIODS ? k->n : AUDIT_MAX_PERIODS;

	for (size_t i = 0; i < n; i++)
		sorted[i] = &k->periods[i];
	qsort(sorted, n, sizeof(sorted[0]), period_name_cmp);
	crypto_hash_sha256_init(&st);
	for (size_t i = 0; i < n; i++) {
		uint8_t state = sorted[i]->destroyed ? 'd' : 'k';

		crypto_hash_sha256_update(&st, (const uint8_t *)sorted[i]->name,
		    strlen(sorted[i]->name) + 1);
		crypto_hash_sha256_update(&st, &state, 1);
	}
	crypto_hash_sha256_final(&st, digest);
}
