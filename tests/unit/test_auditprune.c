/*
 * test_auditprune.c — retention: auditlog_prune removes record bodies
 * behind a signed PRUNE record, the log still verifies and says what was
 * pruned; a body removed without its PRUNE record is tampering; the
 * destroyed period key no longer opens a subject.  And a key change: the
 * writer sees it, a KEY record names the new key, and the log verifies
 * with both keys trusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.pb-c.h"
#include "auditkeys.h"
#include "auditlog.h"
#include "buf.h"
#include "err.h"
#include "tap.h"
#include "util.h"

static const char OIN[] = "00000001999000010000";
static uint8_t pk[32], sk[64];
static char dir[64], logp[128], keysp[128];

struct count {
	uint64_t pruned, records, prune_records;
	uint64_t first, end;
};

static int
count_one(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *r)
{
	struct count *c = arg;

	(void)index;
	if (f->type == AUDITLOG_PRUNED)
		c->pruned++;
	if (r != NULL) {
		c->records++;
		if (r->event == KETEN__V1__AUDIT_EVENT__EVENT_PRUNE && r->prune != NULL) {
			c->prune_records++;
			c->first = r->prune->first;
			c->end = r->prune->end;
		}
	}
	return 0;
}

static int
verify_file(const char *path, struct auditlog_report *rep)
{
	struct auditlog_file f;
	struct auditlog_trust t;
	int r;

	if (auditlog_file_open(path, &f) != 0)
		return KETEN_EIO;
	memset(&t, 0, sizeof(t));
	t.keys = (const uint8_t (*)[32])pk;
	t.n_keys = 1;
	r = auditlog_verify(&f, &t, rep, NULL, NULL);
	auditlog_file_close(&f);
	return r;
}

/* A new log at logp, its keys saved at keysp, with a LOG_START record
 * pending. */
static struct auditlog *
open_started(struct audit_keys **k)
{
	struct auditlog *l = NULL;
	struct audit_event e;
	size_t torn;

	CHECK_EQ(audit_keys_new(k), 0);
	CHECK_EQ(audit_keys_save(*k, keysp), 0);
	CHECK_EQ(auditlog_open(logp, OIN, sk, pk, *k, keysp, &l, &torn), 0);
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_LOG_START;
	e.key = pk;
	CHECK_EQ(auditlog_append(l, &e), 0);
	return l;
}

/* A moment after everything written so far. */
static uint64_t
after_now(void)
{
	uint64_t t = clock_now_ms() + 1;

	usleep(2000);
	return t;
}

static void
test_prune(void)
{
	struct audit_keys *k = NULL;
	struct auditlog *l = NULL;
	struct audit_event e;
	struct auditlog_report rep;
	struct auditlog_file f;
	struct count c;
	const char *subj[1] = { "3012345678" };
	uint8_t id[16];
	uint64_t removed = 0, before;
	size_t torn, bad;
	char period[AUDIT_PERIOD_LEN + 1];

	l = open_started(&k);
	for (int i = 0; i < 20; i++) {
		memset(&e, 0, sizeof(e));
		memset(id, i, sizeof(id));
		e.event = KETEN__V1__AUDIT_EVENT__EVENT_RECEIVE;
		e.msg_id = id;
		e.kind = 1;
		e.sender = OIN;
		e.subjects = subj;
		e.n_subjects = 1;
		CHECK_EQ(auditlog_append(l, &e), 0);
		if (i % 5 == 4) {
			CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
			CHECK_EQ(auditlog_commit(l), 0);
		}
	}
	audit_period_of(clock_now_ms(), period);
	CHECK(audit_period_end(period) > clock_now_ms());
	CHECK_EQ(audit_period_end("2026-12"), 1798761600000ull);	/* 2027-01-01T00:00Z */
	CHECK_EQ(audit_period_end("2026-13"), 0);

	/* everything written so far is before `before` */
	before = after_now();
	CHECK_EQ(auditlog_prune(l, before, period, "retention 365d", 0, &removed), 0);
	CHECK_EQ(removed, 20);	/* the LOG_START record is kept whole */
	/* again: nothing left to prune */
	CHECK_EQ(auditlog_prune(l, before, period, "retention 365d", 0, &removed), 0);
	CHECK_EQ(removed, 0);
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_LOG_STOP;
	CHECK_EQ(auditlog_append(l, &e), 0);
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	auditlog_destroy(&l);

	CHECK_EQ(verify_file(logp, &rep), 0);
	CHECK_EQ(rep.pruned, 20);
	CHECK_EQ(rep.prune_records, 1);
	memset(&c, 0, sizeof(c));
	CHECK_EQ(auditlog_file_open(logp, &f), 0);
	CHECK_EQ(auditlog_each(&f, 1, count_one, &c, &bad), 0);
	auditlog_file_close(&f);
	CHECK_EQ(c.pruned, 20);
	CHECK_EQ(c.first, 0);	/* LOG_START is in the range, kept whole */
	CHECK_EQ(c.end, 21);
	/* the writer re-opens a pruned log (its tree from the kept hashes) */
	CHECK_EQ(auditlog_open(logp, OIN, sk, pk, k, keysp, &l, &torn), 0);
	CHECK_EQ(auditlog_size(l), 23);
	auditlog_destroy(&l);

	/* crypto-erasure: the destroyed period's key opens nothing */
	CHECK_EQ(audit_keys_destroy_period(k, period), 0);
	CHECK_EQ(audit_keys_period_state(k, period), -1);
	audit_keys_destroy(&k);
}

/* A body removed without a PRUNE record: tampering. */
static void
test_prune_unrecorded(void)
{
	struct audit_keys *k = NULL;
	struct auditlog *l = NULL;
	struct audit_event e;
	struct auditlog_report rep;
	struct auditlog_file f;
	struct auditlog_frame fr;
	struct buf *out;
	size_t torn, off = AUDITLOG_MAGIC_LEN;
	uint64_t index = 0;
	char tampered[160];
	FILE *fp;

	unlink(logp);
	CHECK_EQ(audit_keys_new(&k), 0);
	CHECK_EQ(auditlog_open(logp, OIN, sk, pk, k, keysp, &l, &torn), 0);
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_LOG_START;
	e.key = pk;
	CHECK_EQ(auditlog_append(l, &e), 0);
	e.key = NULL;
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_CONFIG;
	e.detail = "reload";
	for (int i = 0; i < 4; i++)
		CHECK_EQ(auditlog_append(l, &e), 0);
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	auditlog_destroy(&l);
	audit_keys_destroy(&k);

	/* replace record 2 by a PRUNED frame with the right leaf hash */
	CHECK_EQ(auditlog_file_open(logp, &f), 0);
	out = buf_new(SIZE_MAX);
	CHECK(out != NULL && buf_put(out, AUDITLOG_MAGIC, AUDITLOG_MAGIC_LEN) == 0);
	while (auditlog_frame_next(f.p, f.len, &off, &fr) == 0) {
		if (fr.type == AUDITLOG_RECORD && index == 2) {
			uint8_t p[40] = { 0 };

			p[7] = 2;
			memcpy(p + 8, fr.hash, 32);
			CHECK_EQ(auditlog_frame_put(out, AUDITLOG_PRUNED, p, sizeof(p)), 0);
		} else {
			CHECK_EQ(buf_put(out, fr.body - 4, fr.end - fr.offset), 0);
		}
		if (fr.type != AUDITLOG_CHECKPOINT)
			index++;
	}
	auditlog_file_close(&f);
	snprintf(tampered, sizeof(tampered), "%s.t", logp);
	CHECK((fp = fopen(tampered, "wb")) != NULL);
	if (fp != NULL) {
		CHECK_EQ(fwrite(buf_ptr(out), 1, buf_len(out), fp), buf_len(out));
		fclose(fp);
	}
	buf_destroy(&out);
	/* the tree still verifies (the leaf hash is right): only the missing
	 * PRUNE record gives it away */
	CHECK_EQ(verify_file(tampered, &rep), KETEN_ETAMPER);
	CHECK_EQ(rep.pruned, 1);
	CHECK_EQ(rep.tamper, 1);
	CHECK_EQ(verify_file(logp, &rep), 0);
	unlink(tampered);
}

static void
test_key_change(void)
{
	struct auditlog *l = NULL;
	struct audit_event e;
	struct auditlog_report rep;
	struct auditlog_file f;
	struct auditlog_trust t;
	uint8_t pk2[32], sk2[64], seed[32], both[2][32];
	size_t torn;

	memset(seed, 9, sizeof(seed));
	crypto_sign_seed_keypair(pk2, sk2, seed);
	unlink(logp);
	CHECK_EQ(auditlog_open(logp, OIN, sk, pk, NULL, NULL, &l, &torn), 0);
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_LOG_START;
	e.key = pk;
	CHECK_EQ(auditlog_append(l, &e), 0);
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	CHECK_EQ(auditlog_key_changed(l), 0);
	auditlog_destroy(&l);

	CHECK_EQ(auditlog_open(logp, OIN, sk2, pk2, NULL, NULL, &l, &torn), 0);
	CHECK_EQ(auditlog_key_changed(l), 1);
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_KEY;
	e.key = pk2;
	CHECK_EQ(auditlog_append(l, &e), 0);
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	auditlog_destroy(&l);
	CHECK_EQ(auditlog_open(logp, OIN, sk2, pk2, NULL, NULL, &l, &torn), 0);
	CHECK_EQ(auditlog_key_changed(l), 0);
	auditlog_destroy(&l);

	memcpy(both[0], pk, 32);
	memcpy(both[1], pk2, 32);
	memset(&t, 0, sizeof(t));
	t.keys = (const uint8_t (*)[32])both;
	t.n_keys = 2;
	CHECK_EQ(auditlog_file_open(logp, &f), 0);
	CHECK_EQ(auditlog_verify(&f, &t, &rep, NULL, NULL), 0);
	CHECK_EQ(rep.checkpoints, 2);
	/* only the new key trusted: the first key is not, nor its checkpoint */
	t.keys = (const uint8_t (*)[32])pk2;
	t.n_keys = 1;
	CHECK_EQ(auditlog_verify(&f, &t, &rep, NULL, NULL), KETEN_ETAMPER);
	auditlog_file_close(&f);
}

/* n RECEIVE records in one durable turn */
static void
receives(struct auditlog *l, int n)
{
	struct audit_event e;
	uint8_t id[16];

	for (int i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		randombytes_buf(id, sizeof(id));
		e.event = KETEN__V1__AUDIT_EVENT__EVENT_RECEIVE;
		e.msg_id = id;
		e.kind = 1;
		e.sender = OIN;
		CHECK_EQ(auditlog_append(l, &e), 0);
	}
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
}

/* A rewrite that fails after its PRUNE record is durable (here: the
 * temporary file cannot be made) leaves the bodies; they go when asked
 * again, or with the next pruning; the log verifies all along. */
static void
test_prune_again(void)
{
	struct audit_keys *k = NULL;
	struct auditlog *l = NULL;
	struct auditlog_report rep;
	char tmp[160], period[AUDIT_PERIOD_LEN + 1];
	uint64_t removed = 1, before;

	unlink(logp);
	snprintf(tmp, sizeof(tmp), "%s.prune", logp);
	audit_period_of(clock_now_ms(), period);
	l = open_started(&k);
	receives(l, 10);
	before = after_now();
	CHECK_EQ(mkdir(tmp, 0700), 0);
	CHECK_EQ(auditlog_prune(l, before, period, "retention 1d", 0, &removed), KETEN_EIO);
	CHECK_EQ(removed, 0);
	CHECK_EQ(rmdir(tmp), 0);
	CHECK_EQ(verify_file(logp, &rep), 0);
	CHECK(rep.prune_records == 1 && rep.pruned == 0);
	/* not asked again: nothing new, nothing done */
	CHECK_EQ(auditlog_prune(l, before, period, "retention 1d", 0, &removed), 0);
	CHECK_EQ(removed, 0);
	/* asked again: the bodies under the PRUNE record go, no new record */
	CHECK_EQ(auditlog_prune(l, before, period, "retention 1d", 1, &removed), 0);
	CHECK_EQ(removed, 10);
	CHECK_EQ(verify_file(logp, &rep), 0);
	CHECK(rep.prune_records == 1 && rep.pruned == 10 && rep.tamper == 0);

	/* failed again; the next pruning finishes it with its own range */
	receives(l, 5);
	before = after_now();
	CHECK_EQ(mkdir(tmp, 0700), 0);
	CHECK_EQ(auditlog_prune(l, before, period, "retention 1d", 0, &removed), KETEN_EIO);
	CHECK_EQ(rmdir(tmp), 0);
	receives(l, 5);
	before = after_now();
	CHECK_EQ(auditlog_prune(l, before, period, "retention 1d", 0, &removed), 0);
	CHECK_EQ(removed, 10);
	/* the writer goes on in the rewritten file */
	receives(l, 1);
	CHECK_EQ(auditlog_size(l), 1 + 10 + 1 + 5 + 1 + 5 + 1 + 1);
	auditlog_destroy(&l);
	CHECK_EQ(verify_file(logp, &rep), 0);
	CHECK(rep.prune_records == 3 && rep.pruned == 20 && rep.tamper == 0);
	CHECK_EQ(rep.records, 5);	/* whole: LOG_START, the PRUNE records, the last */
	audit_keys_destroy(&k);
}

int
main(void)
{
	uint8_t seed[32];

	if (sodium_init() < 0)
		return 1;
	memset(seed, 7, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	snprintf(dir, sizeof(dir), "/tmp/keten-prune-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(logp, sizeof(logp), "%s/audit.log", dir);
	snprintf(keysp, sizeof(keysp), "%s/audit.keys", dir);
	static const struct tap_test tests[] = {
		{ "prune: bodies removed behind a PRUNE record; still verifies", test_prune },
		{ "prune: a body removed without a PRUNE record is tampering",
		    test_prune_unrecorded },
		{ "prune: bodies a failed rewrite left go when asked again or with the next",
		    test_prune_again },
		{ "key change: seen by the writer, recorded, verified with both keys",
		    test_key_change },
		{ NULL, NULL },
	};
	int rc = tap_run(tests);

	unlink(logp);
	unlink(keysp);
	rmdir(dir);
	return rc;
}
