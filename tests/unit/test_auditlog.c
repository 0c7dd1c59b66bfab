/*
 * test_auditlog.c — the audit log (auditlog.h, auditkeys.h): a log made by
 * the writer verifies, and every kind of damage is found and told apart:
 * an edited byte, an edit with its frame check fixed, a deleted or swapped
 * record, a torn or zero-filled tail (a crash, not tampering), a cut
 * caught by a witnessed checkpoint, a fork, a forged, re-signed or
 * replayed checkpoint, another node's log, a body pruned without a PRUNE
 * record; a raw identifier in a record is a policy breach; a sealed
 * subject opens only at its own record and while its period key lives;
 * a rolled-back turn leaves nothing.
 *
 * One clean log is written in main() before the tests; each tamper case
 * changes a copy of its bytes and verifies that copy as a fresh file.
 */
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <sodium.h>

#include "auditkeys.h"
#include "auditlog.h"
#include "buf.h"
#include "checkpoint.h"
#include "err.h"
#include "merkle.h"
#include "tap.h"
#include "util.h"

#define OIN "00000001999000010000"
#define OTHER_OIN "00000001999000020000"
#define VNUM "1234567890"
#define BSN "111222333"		/* passes the eleven-test */
#define N_EVENTS 40
#define MAX_CPS 8
#define MAX_FRAMES 256
#define MAX_SUBJ 8
#define PRUNE_FIRST 3		/* the clean log's PRUNE record covers [3, 5) */
#define PRUNE_END 5

static char work[64], keys_path[4096 + 16], clean_path[4096 + 16];
static uint8_t pk[32], sk[64], pk2[32], sk2[64];
static uint8_t trusted[2][32];		/* pk, pk2 */
static struct audit_keys *keys;

/* The clean log every case starts from. */
static struct {
	uint8_t *p;
	size_t len;
	uint64_t records;
	size_t n_cps;
	struct buf *notes[MAX_CPS];	/* each checkpoint as the writer signed it */
	uint64_t vnum[MAX_SUBJ], bsn[MAX_SUBJ];	/* records with that subject */
	size_t n_vnum, n_bsn;
	uint8_t root[32];
} clean;

/* ---------------------------------------------------------------- */
/* helpers */

struct frame_ref {
	size_t off, end;
	int type;
	uint64_t index;		/* record index (RECORD, PRUNED) or tree size (CHECKPOINT) */
};

struct frames {
	size_t n;
	struct frame_ref f[MAX_FRAMES];
};

static int
frames_scan(const uint8_t *p, size_t len, struct frames *fs)
{
	struct auditlog_frame f;
	size_t off = AUDITLOG_MAGIC_LEN;
	uint64_t index = 0;
	int r;

	fs->n = 0;
	while ((r = auditlog_frame_next(p, len, &off, &f)) == 0) {
		if (fs->n == MAX_FRAMES)
			return KETEN_ETOOBIG;
		fs->f[fs->n++] = (struct frame_ref){ f.offset, f.end, f.type, index };
		if (f.type != AUDITLOG_CHECKPOINT)
			index++;
	}
	return r == 1 ? 0 : r;
}

/* The frame of record index, or of the k-th checkpoint (from 0). */
static const struct frame_ref *
frame_record(const struct frames *fs, uint64_t index)
{
	for (size_t i = 0; i < fs->n; i++)
		if (fs->f[i].type != AUDITLOG_CHECKPOINT && fs->f[i].index == index)
			return &fs->f[i];
	fprintf(stderr, "  no frame for record %llu\n", (unsigned long long)index);
	exit(1);
}

static const struct frame_ref *
frame_checkpoint(const struct frames *fs, size_t k)
{
	size_t seen = 0;

	for (size_t i = 0; i < fs->n; i++)
		if (fs->f[i].type == AUDITLOG_CHECKPOINT && seen++ == k)
			return &fs->f[i];
	fprintf(stderr, "  no checkpoint frame %zu\n", k);
	exit(1);
}

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "  %s\n", what);
	exit(1);
}

static void
file_put(const char *path, const uint8_t *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0)
		die("cannot write a test file");
}

static uint8_t *
file_get(const char *path, size_t *len)
{
	struct buf *b = NULL;
	uint8_t *p;

	if (buf_load_file(path, 16u << 20, &b) != 0 || (p = malloc(buf_len(b) + 1)) == NULL)
		die("cannot read a test file");
	memcpy(p, buf_ptr(b), buf_len(b));
	*len = buf_len(b);
	buf_destroy(&b);
	return p;
}

/* A copy of the clean log to change; the caller frees it. */
static uint8_t *
clean_copy(size_t extra)
{
	uint8_t *p = malloc(clean.len + extra);

	if (p == NULL)
		die("out of memory");
	memcpy(p, clean.p, clean.len);
	return p;
}

/* Fix the check of the frame at off after its body was changed. */
static void
frame_fix_check(uint8_t *p, size_t off)
{
	uint32_t blen = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 |
	    (uint32_t)p[off + 2] << 8 | p[off + 3];
	uint8_t h[32];

	SHA256(p + off + 4, blen, h);
	memcpy(p + off + 4 + blen, h, 4);
}

/* What the problem callback saw. */
struct problems {
	int n, tamper, torn, policy;
	int code;		/* of the first */
	uint64_t index;
	size_t offset;
	char what[512];
};

static void
problem_cb(void *arg, int code, uint64_t index, size_t offset, const char *what)
{
	struct problems *pr = arg;

	if (getenv("TEST_AUDITLOG_VERBOSE") != NULL)
		fprintf(stderr, "    problem %s @%llu +%zu: %s\n", keten_errname(code),
		    (unsigned long long)index, offset, what);
	if (pr->n++ == 0) {
		pr->code = code;
		pr->index = index;
		pr->offset = offset;
		snprintf(pr->what, sizeof(pr->what), "%s", what);
	}
	if (code == KETEN_ETAMPER)
		pr->tamper++;
	else if (code == KETEN_ETORN)
		pr->torn++;
	else if (code == KETEN_EPOLICY)
		pr->policy++;
}

static void
trust_init(struct auditlog_trust *t, size_t first_key, size_t n_keys)
{
	memset(t, 0, sizeof(*t));
	t->keys = (const uint8_t (*)[32])trusted[first_key];
	t->n_keys = n_keys;
}

/* Verify the file at path. */
static int
verify_path(const char *path, const struct auditlog_trust *t, struct auditlog_report *rep,
    struct problems *pr)
{
	struct auditlog_file f;
	int r;

	memset(pr, 0, sizeof(*pr));
	memset(rep, 0, sizeof(*rep));
	if ((r = auditlog_file_open(path, &f)) != 0)
		return r;
	r = auditlog_verify(&f, t, rep, problem_cb, pr);
	auditlog_file_close(&f);
	return r;
}

/* Write p to a fresh case file (its path to path) and verify it. */
static int
verify_bytes(const uint8_t *p, size_t len, const struct auditlog_trust *t,
    struct auditlog_report *rep, struct problems *pr, char path[4096 + 16])
{
	static int n;
	char own[4096 + 16];

	if (path == NULL)
		path = own;
	snprintf(path, 4096 + 16, "%s/case-%d", work, ++n);
	file_put(path, p, len);
	return verify_path(path, t, rep, pr);
}

static struct auditlog *
writer_open(const char *path, const uint8_t *wsk, const uint8_t *wpk, size_t *torn)
{
	struct auditlog *l = NULL;
	size_t t = 0;
	int r = auditlog_open(path, OIN, wsk, wpk, keys, keys_path, &l, &t);

	if (r != 0 || l == NULL) {
		fprintf(stderr, "  auditlog_open %s: %s\n", path, keten_strerror(r));
		exit(1);
	}
	if (torn != NULL)
		*torn = t;
	return l;
}

static void
msg_id_of(int seq, uint8_t id[16])
{
	memset(id, 0xc3, 16);
	id[0] = 0xa7;
	id[1] = (uint8_t)seq;
}

/* One message event; its msg_id is made from seq. */
static int
append_msg(struct auditlog *l, int event, int seq, const char *const *subjects, size_t n)
{
	static const char *const rcpt[] = { OTHER_OIN };
	struct audit_event e;
	uint8_t id[16];

	msg_id_of(seq, id);
	memset(&e, 0, sizeof(e));
	e.event = event;
	e.msg_id = id;
	e.kind = KETEN__V1__KIND__DOSSIER_DELIVERY;
	e.sender = OIN;
	e.recipients = rcpt;
	e.n_recipients = 1;
	e.local_system = "zaaksysteem";
	e.purpose = "vreemdelingenzaken";
	e.decision = KETEN__V1__DECISION__DECISION_ALLOW;
	e.rule = "mandate";
	e.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	e.subjects = subjects;
	e.n_subjects = n;
	return auditlog_append(l, &e);
}

static int
append_simple(struct auditlog *l, int event, const uint8_t *key, const char *detail)
{
	struct audit_event e;

	memset(&e, 0, sizeof(e));
	e.event = event;
	e.key = key;
	e.detail = detail;
	return auditlog_append(l, &e);
}

/* Whether the log at path holds a record with the msg_id of seq. */
static int
has_msg_cb(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *rec)
{
	const uint8_t *id = arg;

	(void)f;
	(void)index;
	return rec != NULL && rec->msg_id.len == 16 && memcmp(rec->msg_id.data, id, 16) == 0;
}

static int
has_msg(const char *path, int seq)
{
	struct auditlog_file f;
	uint8_t id[16];
	size_t bad = 0;
	int r;

	msg_id_of(seq, id);
	if (auditlog_file_open(path, &f) != 0)
		return -1;
	r = auditlog_each(&f, 1, has_msg_cb, id, &bad);
	auditlog_file_close(&f);
	return r;
}

/* ---------------------------------------------------------------- */
/* the clean log */

static void
checkpoint_commit(struct auditlog *l)
{
	struct buf *note = buf_new(CHECKPOINT_MAX);

	if (note == NULL || clean.n_cps == MAX_CPS ||
	    auditlog_checkpoint(l, clean.n_cps == 0, note) != 0 || auditlog_commit(l) != 0)
		die("cannot checkpoint the clean log");
	clean.notes[clean.n_cps++] = note;
}

static void
clean_build(void)
{
	static const char *const s_v[] = { VNUM }, *const s_b[] = { BSN },
	    *const s_vb[] = { VNUM, BSN };
	static const int events[3] = { KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT,
	    KETEN__V1__AUDIT_EVENT__EVENT_SEND, KETEN__V1__AUDIT_EVENT__EVENT_RECEIVE };
	Keten__V1__Prune prune = KETEN__V1__PRUNE__INIT;
	struct audit_event e;
	struct auditlog *l;
	struct auditlog_file f;
	uint8_t (*leaves)[32] = NULL;
	uint64_t n = 0;

	l = writer_open(clean_path, sk, pk, NULL);
	/* as the node starts: LOG_START naming its key, a forced checkpoint */
	if (append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_LOG_START, pk,
	    "config /etc/keten/ketend.conf; directory serial 7") != 0)
		die("LOG_START");
	checkpoint_commit(l);
	for (int i = 0; i < N_EVENTS; i++) {
		uint64_t at = auditlog_size(l);
		const char *const *subj = NULL;
		size_t ns = 0;

		if (i == 25) {
			subj = s_vb;
			ns = 2;
			clean.vnum[clean.n_vnum++] = at;
			clean.bsn[clean.n_bsn++] = at + 1;
		} else if (i % 10 == 3) {
			subj = s_v;
			ns = 1;
			clean.vnum[clean.n_vnum++] = at;
		} else if (i % 10 == 6) {
			subj = s_b;
			ns = 1;
			clean.bsn[clean.n_bsn++] = at;
		}
		if (append_msg(l, events[i % 3], i, subj, ns) != 0)
			die("append");
		if (i == N_EVENTS - 1) {
			/* retention removed the bodies of records [3, 5) */
			prune.first = PRUNE_FIRST;
			prune.end = PRUNE_END;
			prune.period = "2000-01";
			prune.policy = "retention 365d";
			memset(&e, 0, sizeof(e));
			e.event = KETEN__V1__AUDIT_EVENT__EVENT_PRUNE;
			e.prune = &prune;
			if (auditlog_append(l, &e) != 0)
				die("PRUNE");
		}
		if (i % 10 == 9)
			checkpoint_commit(l);
	}
	clean.records = auditlog_size(l);
	auditlog_destroy(&l);
	clean.p = file_get(clean_path, &clean.len);
	if (auditlog_file_open(clean_path, &f) != 0 || auditlog_leaves(&f, &leaves, &n) != 0 ||
	    merkle_root((const uint8_t (*)[32])leaves, n, clean.root) != 0)
		die("cannot read the clean log back");
	free(leaves);
	auditlog_file_close(&f);
}

/* ---------------------------------------------------------------- */
/* tests */

static int
count_cb(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *rec)
{
	uint64_t *c = arg;	/* records, checkpoints, index mismatches */

	if (f->type == AUDITLOG_RECORD && rec != NULL) {
		c[0]++;
		if (rec->index != index)
			c[2]++;
	} else if (f->type == AUDITLOG_CHECKPOINT) {
		c[1]++;
	}
	return 0;
}

static void
test_clean(void)
{
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog_file f;
	struct checkpoint cp;
	struct auditlog *l = NULL;
	uint8_t (*leaves)[32] = NULL, root[32];
	uint64_t n = 0, counts[3] = { 0, 0, 0 };
	char origin[64];
	size_t torn = 99, bad = 0;

	CHECK_EQ(clean.records, 1 + N_EVENTS + 1 + 1);	/* + a second subject, PRUNE */
	CHECK_EQ(clean.n_cps, 5);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_path(clean_path, &t, &rep, &pr), 0);
	CHECK_EQ(pr.n, 0);
	CHECK_EQ(rep.records, clean.records);
	CHECK_EQ(rep.checkpoints, 5);
	CHECK_EQ(rep.covered, clean.records);
	CHECK_EQ(rep.pruned, 0);
	CHECK_EQ(rep.prune_records, 1);
	CHECK_EQ(rep.identifiers, 0);
	CHECK(rep.tamper == 0 && rep.torn == 0 && rep.policy == 0);
	CHECK_EQ(rep.keys_from_log, 0);
	CHECK(strcmp(rep.oin, OIN) == 0);
	CHECK(rep.first_time > 0 && rep.first_time <= rep.last_time);
	/* the report's root is the RFC 9162 root of the leaves ... */
	CHECK_EQ(auditlog_file_open(clean_path, &f), 0);
	CHECK_EQ(auditlog_leaves(&f, &leaves, &n), 0);
	CHECK_EQ(n, clean.records);
	CHECK_EQ(merkle_root((const uint8_t (*)[32])leaves, n, root), 0);
	CHECK(memcmp(root, rep.root, 32) == 0);
	/* ... and what the node signed last */
	auditlog_origin(OIN, origin);
	CHECK_EQ(checkpoint_verify(buf_ptr(clean.notes[4]), buf_len(clean.notes[4]), origin, pk,
	    &cp), 0);
	CHECK(cp.size == clean.records && memcmp(cp.root, rep.root, 32) == 0);
	/* the reader sees every frame, each record at its own index */
	CHECK_EQ(auditlog_each(&f, 1, count_cb, counts, &bad), 0);
	CHECK(counts[0] == clean.records && counts[1] == 5 && counts[2] == 0);
	free(leaves);
	auditlog_file_close(&f);
	/* without trusted keys the log's own key is used, and said so */
	trust_init(&t, 0, 0);
	CHECK_EQ(verify_path(clean_path, &t, &rep, &pr), 0);
	CHECK(rep.keys_from_log == 1 && rep.keys_named == 1);
	/* a log naming a key that is not trusted */
	trust_init(&t, 1, 1);
	CHECK_EQ(verify_path(clean_path, &t, &rep, &pr), KETEN_ETAMPER);
	CHECK(pr.n > 0 && pr.code == KETEN_ETAMPER && pr.index == 0);
	/* the writer reopens it as it was */
	l = writer_open(clean_path, sk, pk, &torn);
	CHECK_EQ(torn, 0);
	CHECK_EQ(auditlog_size(l), clean.records);
	CHECK_EQ(auditlog_durable_size(l), clean.records);
	CHECK_EQ(auditlog_checkpointed_size(l), clean.records);
	auditlog_destroy(&l);
	CHECK(l == NULL);
}

/* Every byte of a record frame and of a checkpoint frame in the middle of
 * the log, changed: never clean, and always tampering, never taken for a
 * crash (a torn write can only be the last frame, and these are not). */
static void
test_every_byte(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	const struct frame_ref *fr[2];
	uint8_t *p = clean_copy(0);
	int passed = 0, not_tamper = 0;

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	fr[0] = frame_record(&fs, 15);
	fr[1] = frame_checkpoint(&fs, 2);
	trust_init(&t, 0, 1);
	for (int k = 0; k < 2; k++) {
		for (size_t i = fr[k]->off; i < fr[k]->end; i++) {
			/* in memory: the verifier reads only p and len */
			struct auditlog_file f = { p, clean.len, -1 };
			int r;

			p[i] ^= 0xff;
			memset(&pr, 0, sizeof(pr));
			r = auditlog_verify(&f, &t, &rep, problem_cb, &pr);
			if (r == 0)
				passed++;
			if (r != KETEN_ETAMPER || pr.tamper == 0 || rep.torn != 0) {
				if (not_tamper++ < 4)
					fprintf(stderr, "  byte %zu of the %s frame at %zu changed: "
					    "%s (%s)\n", i - fr[k]->off, k ? "checkpoint" : "record",
					    fr[k]->off, keten_errname(r), pr.what);
			}
			p[i] ^= 0xff;
		}
	}
	CHECK_EQ(passed, 0);
	CHECK_EQ(not_tamper, 0);
	free(p);
}

static void
test_edit_byte(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	const struct frame_ref *fr;
	struct auditlog *l = NULL;
	uint8_t *p = clean_copy(0);
	char path[4096 + 16];
	size_t torn;

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	fr = frame_record(&fs, 15);
	p[fr->off + (fr->end - fr->off) / 2] ^= 0x01;
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_bytes(p, clean.len, &t, &rep, &pr, path), KETEN_ETAMPER);
	CHECK(pr.code == KETEN_ETAMPER && pr.offset == fr->off && pr.index == 15);
	CHECK(rep.tamper == 1 && rep.torn == 0);
	CHECK_EQ(rep.records, 15);	/* nothing after the broken frame is read */
	/* the node does not start on it */
	CHECK_EQ(auditlog_open(path, OIN, sk, pk, keys, keys_path, &l, &torn), KETEN_ETAMPER);
	CHECK(l == NULL);
	free(p);
}

static void
test_edit_fixed_check(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	const struct frame_ref *fr, *cp2;
	Keten__V1__AuditRecord *rec = NULL;
	struct auditlog *l = NULL;
	uint8_t *p = clean_copy(0), *at = NULL;
	char path[4096 + 16];
	size_t torn;

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	fr = frame_record(&fs, 15);
	cp2 = frame_checkpoint(&fs, 2);		/* size 21, the first after 15 */
	CHECK_EQ(auditlog_record_parse(p + fr->off + 5, fr->end - fr->off - 9, &rec), 0);
	if (rec != NULL && rec->msg_id.len == 16)
		at = memmem(p + fr->off + 5, fr->end - fr->off - 9, rec->msg_id.data, 16);
	keten__v1__audit_record__free_unpacked(rec, NULL);
	CHECK(at != NULL);
	if (at == NULL)
		goto out;
	at[15] ^= 0x01;			/* another message id; still a valid record */
	frame_fix_check(p, fr->off);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_bytes(p, clean.len, &t, &rep, &pr, path), KETEN_ETAMPER);
	CHECK_EQ(rep.records, clean.records);		/* every frame reads */
	CHECK_EQ(pr.tamper, 3);		/* checkpoints 21, 32 and 43 no longer match */
	CHECK(pr.code == KETEN_ETAMPER && pr.offset == cp2->off && pr.index == 21);
	CHECK_EQ(rep.covered, 11);
	CHECK_EQ(auditlog_open(path, OIN, sk, pk, keys, keys_path, &l, &torn), KETEN_ETAMPER);
	CHECK(l == NULL);
out:
	free(p);
}

static void
test_delete_record(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	const struct frame_ref *fr;
	uint8_t *p = clean_copy(0);
	size_t flen;

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	fr = frame_record(&fs, 15);
	flen = fr->end - fr->off;
	memmove(p + fr->off, p + fr->end, clean.len - fr->end);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_bytes(p, clean.len - flen, &t, &rep, &pr, NULL), KETEN_ETAMPER);
	CHECK_EQ(rep.records, clean.records - 1);
	CHECK(pr.code == KETEN_ETAMPER && pr.index == 15 && pr.offset == fr->off);
	/* records 16..42 each at the wrong position, and 3 checkpoints */
	CHECK_EQ(pr.tamper, (int)(clean.records - 16) + 3);
	CHECK_EQ(rep.covered, 11);
	free(p);
}

static void
test_swap_records(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	const struct frame_ref *a, *b;
	uint8_t *p = clean_copy(0);
	size_t la, lb;

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	a = frame_record(&fs, 15);
	b = frame_record(&fs, 16);
	CHECK(a->end == b->off);
	la = a->end - a->off;
	lb = b->end - b->off;
	memcpy(p + a->off, clean.p + b->off, lb);
	memcpy(p + a->off + lb, clean.p + a->off, la);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_bytes(p, clean.len, &t, &rep, &pr, NULL), KETEN_ETAMPER);
	CHECK(pr.code == KETEN_ETAMPER && pr.index == 15 && pr.offset == a->off);
	CHECK_EQ(pr.tamper, 2 + 3);	/* two records out of place, three checkpoints */
	CHECK_EQ(rep.records, clean.records);
	free(p);
}

static void
test_torn_last_frame(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	const struct frame_ref *last;
	struct auditlog *l;
	char path[4096 + 16];
	size_t cut, torn = 0;

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	last = &fs.f[fs.n - 1];
	CHECK(last->type == AUDITLOG_CHECKPOINT && last->end == clean.len);
	cut = last->off + (last->end - last->off) / 2;
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_bytes(clean.p, cut, &t, &rep, &pr, path), KETEN_ETORN);
	CHECK(rep.torn == 1 && rep.tamper == 0 && rep.torn_offset == last->off);
	CHECK(pr.n == 1 && pr.code == KETEN_ETORN);
	CHECK(rep.records == clean.records && rep.checkpoints == 4);
	/* the node cuts it off, and what is left verifies */
	l = writer_open(path, sk, pk, &torn);
	CHECK_EQ(torn, cut - last->off);
	CHECK_EQ(auditlog_durable_size(l), clean.records);
	auditlog_destroy(&l);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	CHECK(rep.checkpoints == 4 && rep.records == clean.records && rep.covered == 32);
}

/* The node's group commit: each turn's staged frames are kept elsewhere
 * (here: copies, as the store keeps them), written without an fsync, and
 * synced now and then.  A crash that loses the unsynced tail, or leaves
 * zeros in its place, is repaired from the copies; a file that holds
 * other bytes there, or lost what was synced, is tampered with. */
struct kept {
	uint64_t off[8];
	uint8_t *p[8];
	size_t len[8], n;
};

static void
keep_turn(struct auditlog *l, struct kept *k)
{
	const uint8_t *p;
	size_t len;

	auditlog_staged(l, &k->off[k->n], &p, &len);
	if (k->n == 8 || len == 0 || (k->p[k->n] = malloc(len)) == NULL)
		die("keep_turn");
	memcpy(k->p[k->n], p, len);
	k->len[k->n++] = len;
}

static int
restore_from(const char *path, const struct kept *k, size_t first, size_t *bytes)
{
	size_t b;
	int r = 0, fd = open(path, O_RDWR | O_CLOEXEC);

	*bytes = 0;
	if (fd < 0)
		return KETEN_EIO;
	for (size_t i = first; i < k->n && r == 0; i++) {
		r = auditlog_restore(fd, k->off[i], k->p[i], k->len[i], &b);
		*bytes += b;
	}
	close(fd);
	return r;
}

/* Whether the file at path holds exactly the len bytes of want. */
static int
file_is(const char *path, const uint8_t *want, size_t len)
{
	size_t have_len;
	uint8_t *have = file_get(path, &have_len);
	int same = have_len == len && memcmp(have, want, len) == 0;

	free(have);
	return same;
}

static void
test_restore(void)
{
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog *l;
	struct kept k;
	char path[4096 + 16];
	uint8_t *whole, *p;
	uint64_t synced = 0, synced_at;
	size_t len, wlen, bytes, torn;

	memset(&k, 0, sizeof(k));
	trust_init(&t, 0, 1);
	snprintf(path, sizeof(path), "%s/restore.log", work);
	l = writer_open(path, sk, pk, NULL);
	CHECK_EQ(append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_LOG_START, pk, "start"), 0);
	CHECK_EQ(auditlog_checkpoint(l, 1, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	CHECK_EQ(auditlog_unsynced(l), 0);
	/* turn 1: kept, written, synced */
	CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT, 1, NULL, 0), 0);
	keep_turn(l, &k);
	CHECK_EQ(auditlog_write(l), 0);
	CHECK(auditlog_unsynced(l) == k.len[0]);
	CHECK_EQ(auditlog_sync(l, &synced), 0);
	CHECK(synced == k.off[0] + k.len[0] && auditlog_unsynced(l) == 0);
	synced_at = synced;
	/* turns 2 and 3: kept and written, not synced */
	CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT, 2, NULL, 0), 0);
	keep_turn(l, &k);
	CHECK_EQ(auditlog_write(l), 0);
	CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT, 3, NULL, 0), 0);
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	keep_turn(l, &k);
	CHECK(k.off[2] == k.off[1] + k.len[1]);
	CHECK_EQ(auditlog_write(l), 0);
	CHECK_EQ(auditlog_size(l), 4);
	auditlog_destroy(&l);
	whole = file_get(path, &wlen);
	CHECK(wlen == k.off[2] + k.len[2]);

	/* nothing lost: the copies match, nothing is written */
	CHECK_EQ(restore_from(path, &k, 0, &bytes), 0);
	CHECK_EQ(bytes, 0);
	/* the unsynced tail lost: cut inside turn 2 */
	file_put(path, whole, k.off[1] + 5);
	CHECK_EQ(restore_from(path, &k, 0, &bytes), 0);
	CHECK(bytes == wlen - k.off[1] - 5);
	CHECK(file_is(path, whole, wlen));
	/* ... or left as zeros, with a zero tail after it */
	p = malloc(wlen + 512);
	if (p == NULL)
		die("out of memory");
	memcpy(p, whole, k.off[1]);
	memset(p + k.off[1], 0, wlen + 512 - k.off[1]);
	file_put(path, p, wlen + 512);
	CHECK_EQ(restore_from(path, &k, 0, &bytes), 0);
	CHECK(bytes > 0 && bytes <= wlen - k.off[1]);	/* zeros in the frames stay */
	l = writer_open(path, sk, pk, &torn);
	CHECK_EQ(torn, 512);	/* the zeros after the last frame */
	CHECK_EQ(auditlog_size(l), 4);
	auditlog_destroy(&l);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	CHECK(rep.records == 4 && rep.tamper == 0 && rep.torn == 0);
	CHECK(has_msg(path, 3) == 1);
	/* zeros in the middle (a block that did not reach the disk) with
	 * the right bytes after them: put back */
	memcpy(p, whole, wlen);
	memset(p + k.off[1] + 3, 0, 40);
	file_put(path, p, wlen);
	CHECK_EQ(restore_from(path, &k, 0, &bytes), 0);
	CHECK(bytes > 0 && bytes <= 40);
	CHECK(file_is(path, whole, wlen));
	/* other bytes where a copy belongs: tampering, the file untouched */
	memcpy(p, whole, wlen);
	p[k.off[2] + 6] ^= 0x40;
	file_put(path, p, wlen);
	CHECK_EQ(restore_from(path, &k, 0, &bytes), KETEN_ETAMPER);
	free(p);
	p = file_get(path, &len);
	CHECK(len == wlen && p[k.off[2] + 6] == (whole[k.off[2] + 6] ^ 0x40));
	free(p);
	/* a file that lost what was on disk: the copies of the synced turn
	 * are gone, and the file ends before the next copy begins */
	file_put(path, whole, synced_at - 3);
	CHECK_EQ(restore_from(path, &k, 1, &bytes), KETEN_ETAMPER);
	/* a failed write (the file may not grow): it is cut back to its
	 * last whole frame, and later writes and syncs fail until the log is
	 * opened again with the frames put back */
	file_put(path, whole, wlen);
	l = writer_open(path, sk, pk, NULL);
	{
		struct rlimit old, lim;
		void (*was)(int) = signal(SIGXFSZ, SIG_IGN);

		CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
		lim = old;
		lim.rlim_cur = wlen + 10;
		CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
		CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT, 4, NULL, 0), 0);
		keep_turn(l, &k);
		CHECK(auditlog_write(l) != 0);
		CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
		signal(SIGXFSZ, was);
	}
	CHECK(file_is(path, whole, wlen));
	CHECK_EQ(auditlog_size(l), 5);	/* the record is the log's: kept elsewhere */
	CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT, 5, NULL, 0), 0);
	keep_turn(l, &k);
	CHECK_EQ(auditlog_write(l), KETEN_EIO);
	CHECK_EQ(auditlog_sync(l, NULL), KETEN_EIO);
	CHECK_EQ(append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_LOG_STOP, NULL, NULL), 0);
	CHECK_EQ(auditlog_commit(l), KETEN_EIO);
	auditlog_destroy(&l);
	CHECK_EQ(restore_from(path, &k, 0, &bytes), 0);
	CHECK(bytes == k.len[3] + k.len[4]);
	l = writer_open(path, sk, pk, &torn);
	CHECK(torn == 0 && auditlog_size(l) == 6);
	auditlog_destroy(&l);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	CHECK(has_msg(path, 4) == 1 && has_msg(path, 5) == 1);
	for (size_t i = 0; i < k.n; i++)
		free(k.p[i]);
	free(whole);
}

static void
test_zero_tail(void)
{
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog *l;
	uint8_t *p = clean_copy(4096);
	char path[4096 + 16];
	size_t torn = 0;

	memset(p + clean.len, 0, 4096);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_bytes(p, clean.len + 4096, &t, &rep, &pr, path), KETEN_ETORN);
	CHECK(rep.torn == 1 && rep.tamper == 0 && rep.torn_offset == clean.len);
	CHECK(rep.records == clean.records && rep.checkpoints == 5 && pr.code == KETEN_ETORN);
	l = writer_open(path, sk, pk, &torn);
	CHECK_EQ(torn, 4096);
	auditlog_destroy(&l);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	free(p);
}

/* Zeros over a stretch in the middle (from a frame's header on, a sector
 * of them and more) with whole frames after them: tampering, not a crash;
 * the node does not start on it, and cuts nothing. */
static void
test_zeroed_middle(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	const struct frame_ref *fr;
	struct auditlog *l = NULL;
	uint8_t *p = clean_copy(0);
	char path[4096 + 16];
	size_t torn = 0;

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	fr = frame_record(&fs, 15);
	CHECK(fr->off + 1100 < clean.len - 1000);
	memset(p + fr->off, 0, 1100);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_bytes(p, clean.len, &t, &rep, &pr, path), KETEN_ETAMPER);
	CHECK(pr.code == KETEN_ETAMPER && pr.offset == fr->off && rep.torn == 0);
	CHECK_EQ(auditlog_open(path, OIN, sk, pk, keys, keys_path, &l, &torn), KETEN_ETAMPER);
	CHECK(l == NULL && torn == 0);
	free(p);
}

static void
test_truncated_witnessed(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	const uint8_t *notes[1];
	size_t lens[1], cut;

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	cut = frame_checkpoint(&fs, 3)->end;	/* records 32..42 and checkpoint 43 go */
	trust_init(&t, 0, 1);
	/* on its own a clean cut at a frame boundary looks fine ... */
	CHECK_EQ(verify_bytes(clean.p, cut, &t, &rep, &pr, NULL), 0);
	CHECK_EQ(rep.records, 32);
	/* ... but a peer witnessed the checkpoint for 43 */
	notes[0] = buf_ptr(clean.notes[4]);
	lens[0] = buf_len(clean.notes[4]);
	t.notes = notes;
	t.note_lens = lens;
	t.n_notes = 1;
	CHECK_EQ(verify_bytes(clean.p, cut, &t, &rep, &pr, NULL), KETEN_ETAMPER);
	CHECK(pr.n == 1 && pr.code == KETEN_ETAMPER && pr.index == 43);
	/* the checkpoint for 32 is still in it */
	notes[0] = buf_ptr(clean.notes[3]);
	lens[0] = buf_len(clean.notes[3]);
	CHECK_EQ(verify_bytes(clean.p, cut, &t, &rep, &pr, NULL), 0);
}

static void
test_fork(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog *l;
	const uint8_t *notes[1];
	size_t lens[1], torn = 99;
	char path[4096 + 16];

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	snprintf(path, sizeof(path), "%s/fork", work);
	file_put(path, clean.p, frame_checkpoint(&fs, 2)->end);	/* back to 21 */
	l = writer_open(path, sk, pk, &torn);
	CHECK_EQ(torn, 0);
	CHECK_EQ(auditlog_size(l), 21);
	for (int i = 0; i < 15; i++)
		CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SEND, 100 + i, NULL, 0), 0);
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	auditlog_destroy(&l);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	CHECK_EQ(rep.records, 36);
	/* the node once signed a different record 21..31 */
	notes[0] = buf_ptr(clean.notes[3]);
	lens[0] = buf_len(clean.notes[3]);
	t.notes = notes;
	t.note_lens = lens;
	t.n_notes = 1;
	CHECK_EQ(verify_path(path, &t, &rep, &pr), KETEN_ETAMPER);
	CHECK(pr.n == 1 && pr.code == KETEN_ETAMPER && pr.index == 32);
	/* what it signed before the fork still holds */
	notes[0] = buf_ptr(clean.notes[2]);
	lens[0] = buf_len(clean.notes[2]);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
}

/* A checkpoint for (21, root at 21) signed with wsk, inserted right after
 * the real one. */
static int
insert_checkpoint(const uint8_t *wsk, const uint8_t *wpk, struct auditlog_report *rep,
    struct problems *pr, size_t *at)
{
	struct frames fs;
	struct auditlog_trust t;
	struct checkpoint cp;
	struct buf *note = buf_new(CHECKPOINT_MAX), *frame = buf_new(SIZE_MAX);
	char origin[64];
	uint8_t *p;
	int r = KETEN_EINVAL;

	auditlog_origin(OIN, origin);
	if (frames_scan(clean.p, clean.len, &fs) != 0 || note == NULL || frame == NULL ||
	    checkpoint_verify(buf_ptr(clean.notes[2]), buf_len(clean.notes[2]), origin, pk,
	    &cp) != 0 ||
	    checkpoint_sign(origin, cp.size, cp.root, cp.time, origin, wsk, wpk, note) != 0 ||
	    auditlog_frame_put(frame, AUDITLOG_CHECKPOINT, buf_ptr(note), buf_len(note)) != 0)
		goto out;
	*at = frame_checkpoint(&fs, 2)->end;
	p = malloc(clean.len + buf_len(frame));
	if (p == NULL)
		goto out;
	memcpy(p, clean.p, *at);
	memcpy(p + *at, buf_ptr(frame), buf_len(frame));
	memcpy(p + *at + buf_len(frame), clean.p + *at, clean.len - *at);
	trust_init(&t, 0, 1);
	r = verify_bytes(p, clean.len + buf_len(frame), &t, rep, pr, NULL);
	free(p);
out:
	buf_destroy(&note);
	buf_destroy(&frame);
	return r;
}

static void
test_forged_checkpoint(void)
{
	struct auditlog_report rep;
	struct problems pr;
	size_t at = 0;

	/* the node's own key: one checkpoint more, still clean */
	CHECK_EQ(insert_checkpoint(sk, pk, &rep, &pr, &at), 0);
	CHECK_EQ(rep.checkpoints, 6);
	/* another key */
	CHECK_EQ(insert_checkpoint(sk2, pk2, &rep, &pr, &at), KETEN_ETAMPER);
	CHECK(pr.n == 1 && pr.code == KETEN_ETAMPER && pr.offset == at && pr.index == 21);
	CHECK(strstr(pr.what, "forged") != NULL);
	CHECK(rep.checkpoints == 5 && rep.records == clean.records);
}

/* The clean log's records with every checkpoint re-signed by K2 at the
 * same place: a writer with K2 opened over the records so far each time. */
static void
resign_build(const char *path)
{
	struct frames fs;
	size_t from = AUDITLOG_MAGIC_LEN;
	FILE *f;

	if (frames_scan(clean.p, clean.len, &fs) != 0)
		die("scan");
	file_put(path, clean.p, AUDITLOG_MAGIC_LEN);
	for (size_t i = 0; i < fs.n; i++) {
		struct auditlog *l;

		if (fs.f[i].type != AUDITLOG_CHECKPOINT)
			continue;
		if ((f = fopen(path, "ab")) == NULL ||
		    fwrite(clean.p + from, 1, fs.f[i].off - from, f) != fs.f[i].off - from ||
		    fclose(f) != 0)
			die("append");
		from = fs.f[i].end;
		l = writer_open(path, sk2, pk2, NULL);
		if (auditlog_checkpoint(l, 1, NULL) != 0 || auditlog_commit(l) != 0)
			die("re-sign");
		auditlog_destroy(&l);
	}
}

static void
test_resigned(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	char path[4096 + 16];
	uint8_t *p;
	size_t len;

	snprintf(path, sizeof(path), "%s/resigned", work);
	resign_build(path);
	p = file_get(path, &len);
	CHECK_EQ(frames_scan(p, len, &fs), 0);
	trust_init(&t, 0, 2);		/* both keys are the node's */
	CHECK_EQ(verify_path(path, &t, &rep, &pr), KETEN_ETAMPER);
	CHECK_EQ(pr.tamper, 5);
	CHECK(pr.code == KETEN_ETAMPER && pr.offset == frame_checkpoint(&fs, 0)->off);
	CHECK(strstr(pr.what, "re-signed") != NULL);
	CHECK(rep.checkpoints == 0 && rep.records == clean.records);
	free(p);
}

/* A KEY record naming K2, then checkpoints by K2: a legitimate rotation. */
/* A crash while the log was being made leaves part of the magic, or
 * zeros: the node makes it again (a torn write of that size); anything
 * else that short is not taken for one. */
static void
test_creation_cut(void)
{
	static const struct { const char *bytes; size_t len; int ok; } cases[] = {
		{ "KET", 3, 1 },
		{ "KETENAL", 7, 1 },
		{ "\0\0\0\0\0", 5, 1 },
		{ "\0\0\0\0\0\0\0\0", 8, 1 },
		{ "XYZ", 3, 0 },
		{ "KETENAX\x01", 8, 0 },
	};
	char path[4096 + 16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct auditlog *l = NULL;
		struct auditlog_trust t;
		struct auditlog_report rep;
		struct problems pr;
		size_t torn = 0;
		int r;

		snprintf(path, sizeof(path), "%s/made-%zu", work, i);
		file_put(path, (const uint8_t *)cases[i].bytes, cases[i].len);
		r = auditlog_open(path, OIN, sk, pk, keys, keys_path, &l, &torn);
		if (!cases[i].ok) {
			CHECK(r != 0 && l == NULL);
			continue;
		}
		CHECK(r == 0 && l != NULL && torn == cases[i].len);
		if (l == NULL)
			continue;
		CHECK_EQ(append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_LOG_START, pk, "start"), 0);
		CHECK_EQ(auditlog_checkpoint(l, 1, NULL), 0);
		CHECK_EQ(auditlog_commit(l), 0);
		auditlog_destroy(&l);
		trust_init(&t, 0, 1);
		CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
		CHECK_EQ(rep.records, 1);
	}
}

static void
test_key_rotation(void)
{
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog *l;
	char path[4096 + 16];

	snprintf(path, sizeof(path), "%s/rotated", work);
	file_put(path, clean.p, clean.len);
	l = writer_open(path, sk, pk, NULL);
	CHECK_EQ(append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_KEY, pk2, "key rotation"), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	auditlog_destroy(&l);
	l = writer_open(path, sk2, pk2, NULL);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SEND, 150 + i, NULL, 0), 0);
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	auditlog_destroy(&l);
	trust_init(&t, 0, 2);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	CHECK(rep.checkpoints == 6 && rep.covered == clean.records + 4);
	/* K2 not trusted: the KEY record names a stranger */
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), KETEN_ETAMPER);
	CHECK(pr.code == KETEN_ETAMPER && pr.index == clean.records);
	/* no trusted key: the log's own two are taken, and counted for the
	 * note that says the change is the log's word only */
	trust_init(&t, 0, 0);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	CHECK(rep.keys_from_log == 1 && rep.keys_named == 2);
}

static void
test_replayed_checkpoint(void)
{
	struct frames fs;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	const struct frame_ref *cp1;
	uint8_t *p;
	size_t flen;

	CHECK_EQ(frames_scan(clean.p, clean.len, &fs), 0);
	cp1 = frame_checkpoint(&fs, 1);		/* size 11 */
	flen = cp1->end - cp1->off;
	p = clean_copy(flen);
	memcpy(p + clean.len, clean.p + cp1->off, flen);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_bytes(p, clean.len + flen, &t, &rep, &pr, NULL), KETEN_ETAMPER);
	CHECK(pr.n == 1 && pr.code == KETEN_ETAMPER && pr.offset == clean.len &&
	    pr.index == clean.records);
	CHECK_EQ(rep.covered, clean.records);
	free(p);
}

static void
test_other_node(void)
{
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog *l = NULL;
	size_t torn;

	trust_init(&t, 0, 1);
	t.oin = OTHER_OIN;
	CHECK_EQ(verify_path(clean_path, &t, &rep, &pr), KETEN_ETAMPER);
	CHECK(pr.code == KETEN_ETAMPER && pr.index == 0 && pr.offset == AUDITLOG_MAGIC_LEN);
	CHECK_EQ(pr.tamper, (int)clean.records + 5);	/* every record and checkpoint */
	CHECK(strcmp(rep.oin, OTHER_OIN) == 0);
	/* auditlog.h: opening another node's log is KETEN_EFIELD */
	CHECK_EQ(auditlog_open(clean_path, OTHER_OIN, sk, pk, keys, keys_path, &l, &torn),
	    KETEN_EFIELD);
	auditlog_destroy(&l);
}

/* The clean log with the bodies of records [first, end) replaced by
 * PRUNED frames (index || leaf hash); frame_index overrides the index
 * written in the first one when not UINT64_MAX. */
static uint8_t *
prune_bodies(uint64_t first, uint64_t end, uint64_t frame_index, size_t *len)
{
	struct frames fs;
	struct buf *b = buf_new(SIZE_MAX);
	uint8_t *p;
	size_t from = 0;

	if (b == NULL || frames_scan(clean.p, clean.len, &fs) != 0)
		die("prune");
	for (uint64_t x = first; x < end; x++) {
		const struct frame_ref *fr = frame_record(&fs, x);
		uint8_t payload[40], h[32];
		uint64_t ix = x == first && frame_index != UINT64_MAX ? frame_index : x;

		SHA256(clean.p + fr->off + 4, fr->end - fr->off - 8, h);	/* leaf hash */
		for (int i = 0; i < 8; i++)
			payload[i] = (uint8_t)(ix >> (56 - 8 * i));
		memcpy(payload + 8, h, 32);
		if (buf_put(b, clean.p + from, fr->off - from) != 0 ||
		    auditlog_frame_put(b, AUDITLOG_PRUNED, payload, sizeof(payload)) != 0)
			die("prune");
		from = fr->end;
	}
	if (buf_put(b, clean.p + from, clean.len - from) != 0 ||
	    (p = malloc(buf_len(b))) == NULL)
		die("prune");
	memcpy(p, buf_ptr(b), buf_len(b));
	*len = buf_len(b);
	buf_destroy(&b);
	return p;
}

static void
test_pruned(void)
{
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog *l;
	uint8_t *p;
	char path[4096 + 16];
	size_t len, torn = 99;

	trust_init(&t, 0, 1);
	/* record 15: no PRUNE record covers it */
	p = prune_bodies(15, 16, UINT64_MAX, &len);
	CHECK_EQ(verify_bytes(p, len, &t, &rep, &pr, NULL), KETEN_ETAMPER);
	CHECK(pr.n == 1 && pr.code == KETEN_ETAMPER && pr.index == 15);
	CHECK(rep.pruned == 1 && rep.records == clean.records - 1);
	CHECK(rep.covered == clean.records && memcmp(rep.root, clean.root, 32) == 0);
	free(p);
	/* records 3 and 4: the PRUNE record at the end covers them */
	p = prune_bodies(PRUNE_FIRST, PRUNE_END, UINT64_MAX, &len);
	CHECK_EQ(verify_bytes(p, len, &t, &rep, &pr, path), 0);
	CHECK(rep.pruned == 2 && rep.prune_records == 1 && rep.records == clean.records - 2);
	CHECK(memcmp(rep.root, clean.root, 32) == 0);
	l = writer_open(path, sk, pk, &torn);
	CHECK(torn == 0 && auditlog_size(l) == clean.records);
	auditlog_destroy(&l);
	free(p);
	/* a PRUNED frame that names another index */
	p = prune_bodies(PRUNE_FIRST, PRUNE_FIRST + 1, PRUNE_FIRST + 1, &len);
	CHECK_EQ(verify_bytes(p, len, &t, &rep, &pr, NULL), KETEN_ETAMPER);
	CHECK(pr.code == KETEN_ETAMPER && pr.index == PRUNE_FIRST);
	free(p);
	/* record 15's body removed under a PRUNE record appended after the
	 * last checkpoint, which anyone with the file can write */
	p = prune_bodies(15, 16, UINT64_MAX, &len);
	CHECK_EQ(verify_bytes(p, len, &t, &rep, &pr, path), KETEN_ETAMPER);
	free(p);
	l = writer_open(path, sk, pk, &torn);
	{
		Keten__V1__Prune forged = KETEN__V1__PRUNE__INIT;
		struct audit_event e;

		forged.first = 15;
		forged.end = 16;
		forged.period = "2000-01";
		forged.policy = "retention 0d";
		memset(&e, 0, sizeof(e));
		e.event = KETEN__V1__AUDIT_EVENT__EVENT_PRUNE;
		e.prune = &forged;
		CHECK_EQ(auditlog_append(l, &e), 0);
		CHECK_EQ(auditlog_commit(l), 0);
	}
	auditlog_destroy(&l);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), KETEN_ETAMPER);
	CHECK(pr.code == KETEN_ETAMPER && pr.index == 15 && strstr(pr.what, "no checkpoint covers"));
	CHECK_EQ(rep.prune_records, 2);
	/* and the node does not start on it (it would sign over the record) */
	l = NULL;
	CHECK_EQ(auditlog_open(path, OIN, sk, pk, keys, keys_path, &l, &torn), KETEN_ETAMPER);
	CHECK(l == NULL);
}

static void
test_raw_identifier(void)
{
	static const char *const texts[][2] = {
		{ "bsn 111222333", "5" },		/* a BSN */
		{ "v 1234567890.", "3" },		/* a V-nummer */
		{ "oin " OIN, "0" },			/* 20 digits: an OIN */
		{ "nr 123456789", "0" },		/* 9 digits, fails the eleven-test */
		{ "nr 12345678901", "0" },		/* 11 digits */
		{ "111222333", "1" },			/* the whole text */
		{ "123456789 111222333x", "11" },	/* the second run */
		{ "1-2-3-4-5-6-7-8-9-0-1", "0" },	/* many digits, no run */
		{ "12345678", "0" },			/* too few digits */
	};
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog *l;
	char path[4096 + 16];
	int wrong = 0;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t got = auditlog_find_identifier(texts[i][0]);

		if (got != (size_t)atoi(texts[i][1])) {
			fprintf(stderr, "  find_identifier(\"%s\") = %zu\n", texts[i][0], got);
			wrong++;
		}
	}
	CHECK_EQ(wrong, 0);
	/* The writer never writes one: a run of 9 or 10 digits in a text
	 * field is grouped ("111.222.333"). */
	snprintf(path, sizeof(path), "%s/identifier", work);
	file_put(path, clean.p, clean.len);
	l = writer_open(path, sk, pk, NULL);
	CHECK_EQ(append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_CONFIG, NULL,
	    "bsn 111222333"), 0);
	/* nor does cutting a long text leave one at its end: a longer run
	 * whose cut would keep 10 digits, or 9 that pass the eleven-test */
	{
		static const struct { size_t pad; const char *digits; } cut[] = {
			{ AUDIT_TEXT_LONG - 10, "123456789012" },
			{ AUDIT_TEXT_LONG - 9, "1112223330000" },
		};
		char longer[AUDIT_TEXT_LONG + 32];

		for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
			memset(longer, 'x', cut[i].pad);
			snprintf(longer + cut[i].pad, sizeof(longer) - cut[i].pad, "%s",
			    cut[i].digits);
			CHECK_EQ(append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_CONFIG, NULL,
			    longer), 0);
		}
	}
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	auditlog_destroy(&l);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	CHECK_EQ(rep.identifiers, 0);
	/* A record made by hand with the raw number (after the last
	 * checkpoint, so that only the policy check can object). */
	{
		Keten__V1__AuditRecord rec = KETEN__V1__AUDIT_RECORD__INIT;
		struct buf *b = buf_new(SIZE_MAX);
		uint8_t packed[512];
		size_t n;

		rec.version = 1;
		rec.index = clean.records + 3;
		rec.time = 1800000000000ull;
		rec.node = (char *)OIN;
		rec.event = KETEN__V1__AUDIT_EVENT__EVENT_CONFIG;
		rec.detail = (char *)"bsn 111222333";
		n = keten__v1__audit_record__pack(&rec, packed);
		CHECK(b != NULL && auditlog_frame_put(b, AUDITLOG_RECORD, packed, n) == 0);
		if (b != NULL) {
			FILE *fp = fopen(path, "ab");

			CHECK(fp != NULL);
			if (fp != NULL) {
				CHECK_EQ(fwrite(buf_ptr(b), 1, buf_len(b), fp), buf_len(b));
				fclose(fp);
			}
		}
		buf_destroy(&b);
	}
	CHECK_EQ(verify_path(path, &t, &rep, &pr), KETEN_EPOLICY);
	CHECK(rep.identifiers == 1 && rep.policy == 1 && rep.tamper == 0);
	CHECK(pr.n == 1 && pr.code == KETEN_EPOLICY && pr.index == clean.records + 3);
}

/* The sealed subject of record index of the clean log. */
static int
subject_of(uint64_t index, Keten__V1__AuditRecord **rec)
{
	struct frames fs;
	const struct frame_ref *fr;

	if (frames_scan(clean.p, clean.len, &fs) != 0)
		return -1;
	fr = frame_record(&fs, index);
	if (auditlog_record_parse(clean.p + fr->off + 5, fr->end - fr->off - 9, rec) != 0)
		return -1;
	if ((*rec)->subject == NULL) {
		keten__v1__audit_record__free_unpacked(*rec, NULL);
		return -1;
	}
	return 0;
}

static int
subject_open_at(const struct audit_keys *k, const Keten__V1__AuditRecord *rec, const char *oin,
    uint64_t index, int *type, uint8_t ps[AUDIT_PSEUDONYM_LEN])
{
	const Keten__V1__SealedSubject *s = rec->subject;

	return audit_subject_open(k, s->period, oin, index, s->nonce.data, s->sealed.data,
	    s->sealed.len, type, ps);
}

/* The pseudonym, its index tag and the index key are HMAC-SHA256 under
 * the pseudonym key (PROTOCOL.md §17.3): checked against libsodium's
 * HMAC, an implementation of its own, for a key read from a file. */
static void
test_pseudonym_hmac(void)
{
	static const char tag_ctx[] = "keten/v1/audit-index", mac_ctx[] = "keten/v1/audit-index-mac";
	struct audit_keys *k = NULL;
	uint8_t key[32], msg[64], got[32], want[32];
	char path[4096 + 32], hex[65];
	FILE *f;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0xa0 + i);
	hex_encode(key, sizeof(key), hex);
	snprintf(path, sizeof(path), "%s/hmac.keys", work);
	CHECK((f = fopen(path, "w")) != NULL);
	if (f == NULL)
		return;
	fprintf(f, "keten-audit-keys v1\npseudonym %s\n", hex);
	fclose(f);
	CHECK(chmod(path, 0600) == 0);
	CHECK_EQ(audit_keys_load(path, &k), 0);
	if (k == NULL)
		return;
	for (int type = AUDIT_SUBJECT_V_NUMBER; type <= AUDIT_SUBJECT_BSN; type++) {
		const char *digits = type == AUDIT_SUBJECT_BSN ? BSN : VNUM;

		msg[0] = (uint8_t)type;
		memcpy(msg + 1, digits, strlen(digits));
		crypto_auth_hmacsha256(want, msg, 1 + strlen(digits), key);
		audit_pseudonym(k, type, digits, got);
		CHECK(memcmp(got, want, 32) == 0);
	}
	memcpy(msg, tag_ctx, sizeof(tag_ctx));
	memcpy(msg + sizeof(tag_ctx), got, 32);
	crypto_auth_hmacsha256(want, msg, sizeof(tag_ctx) + 32, key);
	CHECK(audit_pseudonym_tag(k, got) == be64_load(want));
	crypto_auth_hmacsha256(want, (const uint8_t *)mac_ctx, sizeof(mac_ctx), key);
	audit_keys_index_key(k, got);
	CHECK(memcmp(got, want, 32) == 0);
	audit_keys_destroy(&k);
}

/* Random text of 0..max printable bytes (from an alphabet that also
 * has digits), in buf. */
static char *
rand_text(char *buf, size_t max)
{
	static const char abc[] = "abcxyz0123456789-./:<> ";
	size_t n = randombytes_uniform((uint32_t)max + 1);

	for (size_t i = 0; i < n; i++)
		buf[i] = abc[randombytes_uniform(sizeof(abc) - 1)];
	buf[n] = '\0';
	return buf;
}

/* 0, small, or any 64-bit value: each varint length occurs. */
static uint64_t
rand_u64(void)
{
	uint64_t v;

	switch (randombytes_uniform(3)) {
	case 0: return 0;
	case 1: return randombytes_uniform(300);
	default:
		randombytes_buf(&v, sizeof(v));
		return v >> randombytes_uniform(64);
	}
}

static void
rand_bin(ProtobufCBinaryData *b, uint8_t *buf, size_t max)
{
	b->len = randombytes_uniform((uint32_t)max + 1);
	b->data = b->len > 0 ? buf : NULL;
	randombytes_buf(buf, b->len);
}

/* The record encoder writes what protobuf-c packs, byte for byte, and
 * what protobuf-c reads back: every field absent, empty, of each varint
 * length, and enums negative too; into a buffer too small, nothing past
 * its end. */
static void
test_record_encode(void)
{
	static uint8_t b[6][300], got[8192], want[8192];
	static char t[12][200], rc[8][24];
	int bad_len = 0, bad_bytes = 0, bad_parse = 0, bad_cap = 0;

	for (int it = 0; it < 3000; it++) {
		Keten__V1__AuditRecord rec = KETEN__V1__AUDIT_RECORD__INIT;
		Keten__V1__SealedSubject ss = KETEN__V1__SEALED_SUBJECT__INIT;
		Keten__V1__Prune pr = KETEN__V1__PRUNE__INIT;
		Keten__V1__AuditRecord *back = NULL;
		char *rp[8];
		size_t n, m, cap;

		rec.version = (uint32_t)rand_u64();
		rec.index = rand_u64();
		rec.time = rand_u64();
		rec.node = randombytes_uniform(4) ? rand_text(t[0], 24) : NULL;
		rec.event = (Keten__V1__AuditEvent)(int)(randombytes_uniform(20) - 2);
		rand_bin(&rec.msg_id, b[0], 20);
		rec.kind = (Keten__V1__Kind)(int)(randombytes_uniform(10) - 1);
		rec.sender = rand_text(t[1], 24);
		rec.n_recipients = randombytes_uniform(9);
		for (size_t i = 0; i < rec.n_recipients; i++)
			rp[i] = rand_text(rc[i], 21);
		rec.recipients = rp;
		rec.local_system = rand_text(t[2], 40);
		rec.purpose = rand_text(t[3], 150);
		rec.mandate_id = randombytes_uniform(4) ? rand_text(t[4], 64) : NULL;
		rec.legal_basis = rand_text(t[5], 199);
		rec.decision = (Keten__V1__Decision)(int)(randombytes_uniform(5) - 1);
		rec.reason = (Keten__V1__Reason)(int)randombytes_uniform(40);
		rec.rule = rand_text(t[6], 30);
		rand_bin(&rec.trace_id, b[1], 17);
		rand_bin(&rec.span_id, b[2], 9);
		rand_bin(&rec.envelope_hash, b[3], 33);
		if (randombytes_uniform(2)) {
			ss.period = rand_text(t[7], 8);
			rand_bin(&ss.nonce, b[4], 25);
			rand_bin(&ss.sealed, b[5], 200);
			rec.subject = &ss;
		}
		rec.peer = rand_text(t[8], 24);
		rand_bin(&rec.checkpoint, b[0], 290);
		if (randombytes_uniform(3) == 0) {
			pr.first = rand_u64();
			pr.end = rand_u64();
			pr.period = rand_text(t[9], 8);
			pr.policy = randombytes_uniform(2) ? rand_text(t[10], 30) : NULL;
			rec.prune = &pr;
		}
		rand_bin(&rec.key, b[1], 33);
		rec.detail = rand_text(t[11], 199);
		rec.first = rand_u64();

		n = auditlog_record_encode(&rec, NULL, 0);
		m = keten__v1__audit_record__get_packed_size(&rec);
		if (n != m || n >= sizeof(got)) {
			bad_len++;
			continue;
		}
		/* too small a buffer: the length, and nothing past cap */
		cap = randombytes_uniform((uint32_t)n);
		memset(got, 0xee, sizeof(got));
		bad_cap += auditlog_record_encode(&rec, got, cap) != n || got[cap] != 0xee;
		memset(got, 0xee, sizeof(got));
		keten__v1__audit_record__pack(&rec, want);
		bad_len += auditlog_record_encode(&rec, got, n + randombytes_uniform(2)) != n ||
		    got[n] != 0xee;
		bad_bytes += memcmp(got, want, n) != 0;
		back = keten__v1__audit_record__unpack(NULL, n, got);
		bad_parse += back == NULL || back->index != rec.index || back->first != rec.first ||
		    back->n_recipients != rec.n_recipients || (back->subject != NULL) !=
		    (rec.subject != NULL) || (back->prune != NULL) != (rec.prune != NULL);
		if (back != NULL)
			keten__v1__audit_record__free_unpacked(back, NULL);
	}
	CHECK_EQ(bad_len, 0);
	CHECK_EQ(bad_bytes, 0);
	CHECK_EQ(bad_parse, 0);
	CHECK_EQ(bad_cap, 0);
}

static void
test_subjects(void)
{
	Keten__V1__AuditRecord *recs[2] = { NULL, NULL }, *rb = NULL;
	struct audit_keys *loaded = NULL, *other = NULL;
	uint8_t want_v[32], want_b[32], ps[32], ps2[32];
	int type = 0, bad = 0;

	CHECK(clean.n_vnum == 5 && clean.n_bsn == 5);
	audit_pseudonym(keys, AUDIT_SUBJECT_V_NUMBER, VNUM, want_v);
	audit_pseudonym(keys, AUDIT_SUBJECT_BSN, BSN, want_b);
	CHECK(memcmp(want_v, want_b, 32) != 0);
	/* the period key the writer made was saved before it sealed anything */
	CHECK_EQ(audit_keys_load(keys_path, &loaded), 0);
	if (loaded == NULL)
		return;
	for (size_t i = 0; i < clean.n_vnum + clean.n_bsn; i++) {
		int is_v = i < clean.n_vnum;
		uint64_t ix = is_v ? clean.vnum[i] : clean.bsn[i - clean.n_vnum];
		Keten__V1__AuditRecord *rec = NULL;

		if (subject_of(ix, &rec) != 0) {
			bad++;
			continue;
		}
		if (subject_open_at(loaded, rec, OIN, ix, &type, ps) != 0 ||
		    type != (is_v ? AUDIT_SUBJECT_V_NUMBER : AUDIT_SUBJECT_BSN) ||
		    memcmp(ps, is_v ? want_v : want_b, 32) != 0)
			bad++;
		keten__v1__audit_record__free_unpacked(rec, NULL);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(subject_of(clean.vnum[0], &recs[0]), 0);
	CHECK_EQ(subject_of(clean.vnum[1], &recs[1]), 0);
	CHECK_EQ(subject_of(clean.bsn[0], &rb), 0);
	if (recs[0] == NULL || recs[1] == NULL || rb == NULL)
		goto out;
	/* two records about one person cannot be linked without the key */
	CHECK(memcmp(recs[0]->subject->sealed.data, recs[1]->subject->sealed.data,
	    AUDIT_SEALED_LEN) != 0);
	CHECK_EQ(subject_open_at(loaded, recs[1], OIN, clean.vnum[1], &type, ps2), 0);
	CHECK(memcmp(ps2, want_v, 32) == 0);
	/* moved to another record, or another node's log */
	CHECK_EQ(subject_open_at(loaded, recs[0], OIN, clean.vnum[1], &type, ps),
	    KETEN_EDECRYPT);
	CHECK_EQ(subject_open_at(loaded, recs[0], OTHER_OIN, clean.vnum[0], &type, ps),
	    KETEN_EDECRYPT);
	/* another organisation's keys give other pseudonyms */
	CHECK_EQ(audit_keys_new(&other), 0);
	if (other != NULL) {
		audit_pseudonym(other, AUDIT_SUBJECT_V_NUMBER, VNUM, ps);
		CHECK(memcmp(ps, want_v, 32) != 0);
	}
	/* retention destroyed the period's key */
	CHECK_EQ(audit_keys_destroy_period(loaded, recs[0]->subject->period), 0);
	CHECK_EQ(subject_open_at(loaded, recs[0], OIN, clean.vnum[0], &type, ps),
	    KETEN_EAUDITKEY);
	CHECK_EQ(audit_keys_period_state(loaded, recs[0]->subject->period), -1);
out:
	keten__v1__audit_record__free_unpacked(recs[0], NULL);
	keten__v1__audit_record__free_unpacked(recs[1], NULL);
	keten__v1__audit_record__free_unpacked(rb, NULL);
	audit_keys_destroy(&other);
	audit_keys_destroy(&loaded);
	CHECK(loaded == NULL);
}

/* Sealing keeps the subkey of the nonce prefix it saw last: with one
 * prefix, another, and the first again, every seal opens as the
 * XChaCha20-Poly1305 it is. */
static void
test_seal_nonces(void)
{
	static const uint8_t prefix_at[] = { 1, 1, 2, 1, 2, 2 };
	struct audit_keys *k = NULL;
	uint8_t ps[AUDIT_PSEUDONYM_LEN], got[AUDIT_PSEUDONYM_LEN], nonce[AUDIT_NONCE_LEN];
	uint8_t sealed[AUDIT_SEALED_LEN];
	int added = 0, bad = 0, type = 0;

	CHECK_EQ(audit_keys_new(&k), 0);
	if (k == NULL)
		return;
	CHECK_EQ(audit_keys_ensure_period(k, "2026-11", &added), 0);
	for (size_t i = 0; i < sizeof(prefix_at); i++) {
		memset(nonce, prefix_at[i], 16);
		be64_store(nonce + 16, i);
		memset(ps, (int)(0x30 + i), sizeof(ps));
		if (audit_subject_seal(k, "2026-11", OIN, 7 + i, AUDIT_SUBJECT_BSN, ps, nonce,
		    sealed) != 0 ||
		    audit_subject_open(k, "2026-11", OIN, 7 + i, nonce, sealed, sizeof(sealed),
		    &type, got) != 0 || type != AUDIT_SUBJECT_BSN || memcmp(got, ps, 32) != 0)
			bad++;
		/* the nonce's prefix is part of it: another one does not open it */
		nonce[0] ^= 1;
		if (audit_subject_open(k, "2026-11", OIN, 7 + i, nonce, sealed, sizeof(sealed),
		    &type, got) != KETEN_EDECRYPT)
			bad++;
	}
	CHECK_EQ(bad, 0);
	audit_keys_destroy(&k);
}

static void
test_no_audit_keys(void)
{
	static const char *const s_v[] = { VNUM };
	struct auditlog *l = NULL;
	char path[4096 + 16];
	size_t torn;

	snprintf(path, sizeof(path), "%s/nokeys", work);
	CHECK_EQ(auditlog_open(path, OIN, sk, pk, NULL, NULL, &l, &torn), 0);
	if (l == NULL)
		return;
	CHECK_EQ(append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_LOG_START, pk, NULL), 0);
	/* a subject is never written in the clear */
	CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT, 1, s_v, 1),
	    KETEN_EAUDITKEY);
	CHECK_EQ(auditlog_size(l), 1);
	auditlog_destroy(&l);
}

static void
test_classify(void)
{
	static const struct {
		const char *id, *norm;
		int type;
	} cases[] = {
		{ VNUM, VNUM, AUDIT_SUBJECT_V_NUMBER },
		{ "12 3456 7890", VNUM, AUDIT_SUBJECT_V_NUMBER },
		{ BSN, BSN, AUDIT_SUBJECT_BSN },
		{ "1112.22.333", BSN, AUDIT_SUBJECT_BSN },
		{ "111222334", NULL, AUDIT_SUBJECT_NONE },	/* eleven-test fails */
		{ "123456789", NULL, AUDIT_SUBJECT_NONE },
		{ "11122233a", NULL, AUDIT_SUBJECT_NONE },
		{ "abcdefghij", NULL, AUDIT_SUBJECT_NONE },
		{ "12345678", NULL, AUDIT_SUBJECT_NONE },
		{ "12345678901", NULL, AUDIT_SUBJECT_NONE },
		{ "", NULL, AUDIT_SUBJECT_NONE },
	};
	int wrong = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char norm[11] = "";
		int type = audit_subject_classify(cases[i].id, norm);

		if (type != cases[i].type ||
		    (cases[i].norm != NULL && strcmp(norm, cases[i].norm) != 0)) {
			fprintf(stderr, "  classify(\"%s\") = %d \"%s\"\n", cases[i].id, type,
			    norm);
			wrong++;
		}
	}
	CHECK_EQ(wrong, 0);
}

static void
test_rollback(void)
{
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog *l;
	char path[4096 + 16];

	snprintf(path, sizeof(path), "%s/rollback", work);
	l = writer_open(path, sk, pk, NULL);
	CHECK_EQ(append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_LOG_START, pk, NULL), 0);
	CHECK_EQ(auditlog_checkpoint(l, 1, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	/* a turn that is not acted upon, checkpoint and all */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT, 200 + i, NULL, 0), 0);
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK(auditlog_size(l) == 4 && auditlog_durable_size(l) == 1);
	auditlog_rollback(l);
	CHECK(auditlog_size(l) == 1 && auditlog_durable_size(l) == 1);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT, 210 + i, NULL, 0), 0);
	CHECK_EQ(auditlog_checkpoint(l, 0, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	CHECK(auditlog_size(l) == 3 && auditlog_durable_size(l) == 3 &&
	    auditlog_checkpointed_size(l) == 3);
	auditlog_destroy(&l);
	trust_init(&t, 0, 1);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	CHECK(rep.records == 3 && rep.checkpoints == 2 && rep.covered == 3);
	CHECK(has_msg(path, 200) == 0 && has_msg(path, 202) == 0);
	CHECK(has_msg(path, 210) == 1 && has_msg(path, 211) == 1);
}

/* The pseudonyms of each record of the rollback test's kind of log, in
 * order, opened with the keys. */
struct opened {
	size_t n;
	uint8_t ps[8][AUDIT_PSEUDONYM_LEN];
	int bad;
};

static int
open_each_cb(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *rec)
{
	struct opened *o = arg;
	int type = 0;

	(void)f;
	if (rec == NULL || rec->subject == NULL)
		return 0;
	if (o->n >= 8 || subject_open_at(keys, rec, OIN, index, &type, o->ps[o->n]) != 0)
		o->bad++;
	else
		o->n++;
	return 0;
}

/* A WITNESS record holds a signed note or nothing: bytes that are not
 * one (not UTF-8, say) are refused at append, as the reader would refuse
 * the record. */
static void
test_witness_note_only(void)
{
	static const uint8_t junk[] = "origin\n5\n\xff\xfe\n\n";
	struct auditlog *l;
	struct audit_event e;
	char path[4096 + 16];

	snprintf(path, sizeof(path), "%s/witness", work);
	l = writer_open(path, sk, pk, NULL);
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_WITNESS;
	e.peer = OTHER_OIN;
	e.checkpoint = junk;
	e.checkpoint_len = sizeof(junk) - 1;
	CHECK_EQ(auditlog_append(l, &e), KETEN_EFIELD);
	CHECK_EQ(auditlog_size(l), 0);
	auditlog_destroy(&l);
}

/* A message's later records take the pseudonyms its first one computed
 * (pseudonyms_out, then pseudonyms): the same as audit_pseudonym gives,
 * sealed afresh for each record; given ones are used as they are. */
static void
test_pseudonyms_given(void)
{
	static const char *const subj[] = { VNUM, BSN };
	static const char *const rcpt[] = { OTHER_OIN };
	uint8_t want[2][AUDIT_PSEUDONYM_LEN], out[2][AUDIT_PSEUDONYM_LEN], fake[2][AUDIT_PSEUDONYM_LEN];
	struct audit_event e;
	struct auditlog_file f;
	struct opened o = { 0 };
	struct auditlog *l;
	char path[4096 + 16];
	size_t bad = 0;

	snprintf(path, sizeof(path), "%s/pseudonyms", work);
	l = writer_open(path, sk, pk, NULL);
	audit_pseudonym(keys, AUDIT_SUBJECT_V_NUMBER, VNUM, want[0]);
	audit_pseudonym(keys, AUDIT_SUBJECT_BSN, BSN, want[1]);
	memset(out, 0, sizeof(out));
	memset(fake, 0x55, sizeof(fake));
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT;
	e.sender = OIN;
	e.recipients = rcpt;
	e.n_recipients = 1;
	e.subjects = subj;
	e.n_subjects = 2;
	e.pseudonyms_out = out;
	CHECK_EQ(auditlog_append(l, &e), 0);
	CHECK(memcmp(out, want, sizeof(want)) == 0);
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_SEND;
	e.pseudonyms = (const uint8_t (*)[AUDIT_PSEUDONYM_LEN])out;
	e.pseudonyms_out = NULL;
	CHECK_EQ(auditlog_append(l, &e), 0);
	e.pseudonyms = (const uint8_t (*)[AUDIT_PSEUDONYM_LEN])fake;
	CHECK_EQ(auditlog_append(l, &e), 0);
	CHECK_EQ(auditlog_checkpoint(l, 1, NULL), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	auditlog_destroy(&l);
	CHECK_EQ(auditlog_file_open(path, &f), 0);
	CHECK_EQ(auditlog_each(&f, 1, open_each_cb, &o, &bad), 0);
	auditlog_file_close(&f);
	CHECK(bad == 0 && o.bad == 0 && o.n == 6);
	if (o.n != 6)
		return;
	for (size_t i = 0; i < 4; i++)
		CHECK(memcmp(o.ps[i], want[i % 2], AUDIT_PSEUDONYM_LEN) == 0);
	CHECK(memcmp(o.ps[4], fake[0], AUDIT_PSEUDONYM_LEN) == 0);
	CHECK(memcmp(o.ps[5], fake[1], AUDIT_PSEUDONYM_LEN) == 0);
}

/* ---------------------------------------------------------------- */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
work_rm(void)
{
	if (work[0] != '\0') {
		if (nftw(work, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
			fprintf(stderr, "  could not remove %s\n", work);
		work[0] = '\0';
	}
}

/* Resident pages of this process (/proc/self/statm), or -1. */
static long
resident_pages(void)
{
	long size = -1, res = -1;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = -1;
		fclose(f);
	}
	return res;
}

static uint64_t
sum_bytes(const uint8_t *p, size_t len)
{
	uint64_t s = 0;

	for (size_t i = 0; i < len; i++)
		s += p[i] * (uint64_t)(i % 251 + 1);
	return s;
}

static void
test_release(void)
{
	const size_t len = (size_t)40 << 20;
	long page = sysconf(_SC_PAGESIZE), before, after;
	char path[300];
	uint8_t *data = malloc(len);
	struct auditlog_file f;
	size_t released = 0;
	uint64_t sum;

	CHECK(data != NULL);
	if (data == NULL)
		return;
	memcpy(data, AUDITLOG_MAGIC, AUDITLOG_MAGIC_LEN);
	for (size_t i = AUDITLOG_MAGIC_LEN; i < len; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	snprintf(path, sizeof(path), "%s/big.log", work);
	file_put(path, data, len);
	sum = sum_bytes(data, len);
	free(data);
	CHECK_EQ(auditlog_file_open(path, &f), 0);
	CHECK_EQ(sum_bytes(f.p, f.len), sum);	/* every page mapped in */
	before = resident_pages();
	/* less than 16 MiB read: nothing given back yet */
	auditlog_file_release(&f, ((size_t)16 << 20) - 1, &released);
	CHECK_EQ(released, 0);
	auditlog_file_release(&f, len - 1, &released);
	CHECK_EQ(released, (len - 1) / (size_t)page * (size_t)page);
	after = resident_pages();
	/* the pages behind went back (with room for what else moved) */
	CHECK(before > 0 && after > 0 && before - after >= (long)((32u << 20) / page));
	/* and they read the same as before, mapped again from the file */
	CHECK_EQ(sum_bytes(f.p, f.len), sum);
	auditlog_file_close(&f);
	unlink(path);
}

/* A log longer than verify reads ahead (it checks frames on two threads,
 * a chunk at a time): a clean one verifies with the same root as the
 * leaves give; a frame broken far into it, an edit whose frame check was
 * fixed, a record with a raw identifier and a torn tail are each reported
 * at their own record, the frames before them read. */
#define LONG_N 5000
#define LONG_CP 1000

static void
test_long_log(void)
{
	static const char *const s_v[] = { VNUM };
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr;
	struct auditlog_frame fr;
	struct auditlog *l;
	struct auditlog_file f;
	uint8_t (*leaves)[32] = NULL, root[32], *p = NULL;
	uint64_t n = 0, index = 0;
	size_t len = 0, off = AUDITLOG_MAGIC_LEN, at[LONG_N + 1];
	char path[300];
	struct buf *note = buf_new(CHECKPOINT_MAX);

	snprintf(path, sizeof(path), "%s/long.log", work);
	l = writer_open(path, sk, pk, NULL);
	CHECK(note != NULL);
	CHECK_EQ(append_simple(l, KETEN__V1__AUDIT_EVENT__EVENT_LOG_START, pk, "long"), 0);
	for (int i = 1; i < LONG_N && note != NULL; i++) {
		CHECK_EQ(append_msg(l, KETEN__V1__AUDIT_EVENT__EVENT_SEND, i,
		    i % 100 == 0 ? s_v : NULL, i % 100 == 0), 0);
		if (i % LONG_CP == 0) {
			buf_reset(note);
			CHECK_EQ(auditlog_checkpoint(l, 1, note), 0);
			CHECK_EQ(auditlog_commit(l), 0);
		}
	}
	buf_reset(note);
	CHECK_EQ(auditlog_checkpoint(l, 1, note), 0);
	CHECK_EQ(auditlog_commit(l), 0);
	auditlog_destroy(&l);
	buf_destroy(&note);

	trust_init(&t, 0, 1);
	CHECK_EQ(verify_path(path, &t, &rep, &pr), 0);
	CHECK(rep.records == LONG_N && rep.checkpoints == LONG_N / LONG_CP &&
	    rep.covered == LONG_N && pr.n == 0);
	CHECK_EQ(auditlog_file_open(path, &f), 0);
	CHECK_EQ(auditlog_leaves(&f, &leaves, &n), 0);
	CHECK(n == LONG_N && merkle_root((const uint8_t (*)[32])leaves, n, root) == 0 &&
	    memcmp(root, rep.root, 32) == 0);
	free(leaves);
	auditlog_file_close(&f);

	/* where each record's frame starts */
	p = file_get(path, &len);
	while (auditlog_frame_next(p, len, &off, &fr) == 0)
		if (fr.type == AUDITLOG_RECORD && index < LONG_N)
			at[index++] = fr.offset;
	CHECK_EQ(index, LONG_N);

	/* a byte of record 4321 changed (the checkpoints are at 1001, 2001, ...,
	 * 4001 and LONG_N) */
	p[at[4321] + 20] ^= 0x01;
	CHECK_EQ(verify_bytes(p, len, &t, &rep, &pr, NULL), KETEN_ETAMPER);
	CHECK(pr.n == 1 && pr.code == KETEN_ETAMPER && pr.index == 4321 &&
	    pr.offset == at[4321] && rep.records == 4321 && rep.covered == 4001);
	/* ... and its frame check made to match: every frame reads, and the
	 * checkpoint for LONG_N no longer matches */
	frame_fix_check(p, at[4321]);
	CHECK_EQ(verify_bytes(p, len, &t, &rep, &pr, NULL), KETEN_ETAMPER);
	CHECK(rep.records == LONG_N && rep.covered == 4001 && rep.checkpoints == 5 &&
	    pr.code == KETEN_ETAMPER && pr.index == 4321 && pr.tamper >= 2);
	p[at[4321] + 20] ^= 0x01;
	frame_fix_check(p, at[4321]);
	CHECK_EQ(verify_bytes(p, len, &t, &rep, &pr, NULL), 0);

	/* logs shorter than a chunk, down to the magic alone, each read to
	 * its end (the checking thread may find the end before the second
	 * thread starts) */
	for (int i = 0; i < 200; i++) {
		struct auditlog_file m = { p, i < 100 ? AUDITLOG_MAGIC_LEN : at[1 + i % 50], -1 };

		memset(&pr, 0, sizeof(pr));
		/* the magic alone: "the log holds no records" */
		CHECK_EQ(auditlog_verify(&m, &t, &rep, problem_cb, &pr), i < 100 ? KETEN_ETAMPER : 0);
		CHECK_EQ(rep.records, i < 100 ? 0 : 1 + i % 50);
	}

	/* the last frame (the checkpoint for LONG_N) cut short */
	CHECK_EQ(verify_bytes(p, len - 10, &t, &rep, &pr, NULL), KETEN_ETORN);
	CHECK(rep.torn == 1 && rep.tamper == 0 && rep.records == LONG_N &&
	    rep.covered == LONG_N - LONG_CP + 1);
	free(p);
	unlink(path);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "clean log verifies; report, root, reader, reopen", test_clean },
		{ "every byte of a record and a checkpoint frame: ETAMPER", test_every_byte },
		{ "a byte edited inside a record: ETAMPER at its frame", test_edit_byte },
		{ "an edit with its frame check fixed: the checkpoints say so", test_edit_fixed_check },
		{ "a record deleted: ETAMPER from its position on", test_delete_record },
		{ "two records swapped: ETAMPER", test_swap_records },
		{ "last frame torn: ETORN, cut off on open, then clean", test_torn_last_frame },
		{ "zero-filled tail: ETORN, cut off on open", test_zero_tail },
		{ "zeros in the middle, whole frames after: ETAMPER, nothing cut", test_zeroed_middle },
		{ "group commit: frames kept elsewhere put back after a crash", test_restore },
		{ "cut at a frame boundary: caught by a witnessed checkpoint", test_truncated_witnessed },
		{ "fork after a rollback: caught by an older checkpoint", test_fork },
		{ "checkpoint signed by another key: forged", test_forged_checkpoint },
		{ "history re-signed with another trusted key: ETAMPER", test_resigned },
		{ "key rotation by a KEY record verifies", test_key_rotation },
		{ "a log whose making a crash cut short is made again", test_creation_cut },
		{ "replayed checkpoint at the end: ETAMPER", test_replayed_checkpoint },
		{ "another node's log: ETAMPER; open refuses it", test_other_node },
		{ "pruned bodies need a PRUNE record", test_pruned },
		{ "a raw BSN in a record: EPOLICY", test_raw_identifier },
		{ "record encoder: the bytes protobuf-c packs", test_record_encode },
		{ "sealed subjects: pseudonym, bound to record and period key", test_subjects },
		{ "pseudonym, index tag and index key: HMAC-SHA256 under the pseudonym key",
		    test_pseudonym_hmac },
		{ "subject seal: the subkey of each nonce prefix", test_seal_nonces },
		{ "no audit keys: subjects refused", test_no_audit_keys },
		{ "V-nummer and BSN classification", test_classify },
		{ "rollback drops the turn; commit keeps the next", test_rollback },
		{ "pseudonyms of an earlier record taken as given", test_pseudonyms_given },
		{ "a WITNESS record holds a signed note or nothing", test_witness_note_only },
		{ "a log read through gives its pages back", test_release },
		{ "a long log: verified on two threads, faults at their record", test_long_log },
		{ NULL, NULL },
	};
	uint8_t seed[32];
	int r;

	if (sodium_init() < 0)
		return 1;
	snprintf(work, sizeof(work), "/tmp/test_auditlog.XXXXXX");
	if (mkdtemp(work) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	atexit(work_rm);
	memset(seed, 0x5a, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	memset(seed, 0xa5, sizeof(seed));
	crypto_sign_seed_keypair(pk2, sk2, seed);
	memcpy(trusted[0], pk, 32);
	memcpy(trusted[1], pk2, 32);
	snprintf(keys_path, sizeof(keys_path), "%s/audit.keys", work);
	snprintf(clean_path, sizeof(clean_path), "%s/clean.log", work);
	if (audit_keys_new(&keys) != 0 || audit_keys_save(keys, keys_path) != 0)
		die("cannot make the audit keys");
	clean_build();
	r = tap_run(tests);
	for (size_t i = 0; i < clean.n_cps; i++)
		buf_destroy(&clean.notes[i]);
	free(clean.p);
	audit_keys_destroy(&keys);
	work_rm();
	return r;
}
