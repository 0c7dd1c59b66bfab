/*
 * bench_audit.c — what the audit log (PROTOCOL.md §17) costs, each figure
 * beside a baseline measured in the same run, so that the ratio holds on a
 * noisy machine:
 *
 *   1. durable appends with group commit (G = 1, 16, 256 records per
 *      commit, a checkpoint per commit when >= 1 s since the last, as
 *      node_audit_commit does), beside raw write()+fdatasync() of the same
 *      bytes in the same groups, the two alternating in rounds;
 *   2. appends without a subject, and the cost per record of the subject
 *      seal, beside raw libsodium XChaCha20-Poly1305 of 33 bytes (and raw
 *      HMAC-SHA-256 and randombytes);
 *   3. auditlog_verify over a log of BENCH_AUDIT_N records (1,000,000),
 *      beside raw OpenSSL SHA-256 of the same frames;
 *   4. an inclusion proof on that log: auditlog_leaves, then
 *      merkle_inclusion_proof for the middle record, then
 *      merkle_root_from_path, beside raw SHA-256 of the same hash inputs;
 *   5. a subject-access request on a log of BENCH_AUDIT_SUBJECT_N records
 *      (10,000,000: ~4.1 GB at ~414 bytes a record; scaled down when the
 *      file system has less than 3x that free; writing it stops after
 *      BENCH_AUDIT_GEN_MAX_S seconds, 120), 1 in 1000 about the person
 *      asked for, the rest about random V-nummers: the
 *      built CLI's `keten audit index` and `keten audit subject --json`,
 *      timed around posix_spawn/waitpid, the answer checked record by
 *      record (and `subject` without the index on the log of 3, for scale).
 *
 * Nothing here asserts a speed: "met" / "NOT MET" compares with the
 * targets of the issue.  The run exits non-zero only when something is
 * wrong (a log that does not verify, an incomplete answer).
 *
 *   bench_audit [durable] [seal] [verify] [proof] [subject]   (default all)
 *
 * Work files live in a scratch directory under $BENCH_DIR (default /tmp),
 * removed at exit, also after a failure, SIGINT or SIGTERM (BENCH_KEEP=1
 * keeps it and the logs, to profile the CLI on them).  KETEN_BIN is
 * the directory of the keten CLI (default: the directory of this binary).
 * Each subprocess is killed after BENCH_AUDIT_CLI_TIMEOUT seconds (300).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "auditkeys.h"
#include "auditlog.h"
#include "bench.h"
#include "err.h"
#include "merkle.h"
#include "util.h"

extern char **environ;

#define OIN "00000001999000010000"		/* IND, the node keeping the log */
#define RCPT "00000001999000050000"		/* Amsterdam */
#define PERSON "3012345678"			/* the subject asked for */
#define PERSON_NUM UINT64_C(3012345678)
#define PURPOSE "urn:keten:purpose:lvv-intake"
#define MANDATE "lvv-ind-dossier"
#define LEGAL "Besluit LVV-ketenmandaten 2026, art. 3 <https://example.org/lvv/besluit-2026>"

#define CHECKPOINT_MS 1000		/* [audit] checkpoint_interval default */
#define DURABLE_SECONDS 1.5		/* per group size */
#define DURABLE_ROUNDS 6		/* keten and raw alternate this many times */
#define DURABLE_MAX (UINT64_C(1) << 21)	/* records per group size, at most */
#define CPU_SECONDS 0.4			/* per CPU-bound rate */
#define GEN_COMMIT 65536		/* records per commit when generating */
#define PERSON_EVERY 1000		/* 1 message in 1000 is about PERSON */
#define TARGET_DURABLE 50000.0		/* records/s */
#define TARGET_VERIFY 1000000.0		/* records/s */
#define TARGET_SUBJECT 1.0		/* s, for TARGET_SUBJECT_N records */
#define TARGET_SUBJECT_N UINT64_C(10000000)

static char work[PATH_MAX];		/* the scratch directory; "" once removed */
static int keep;			/* BENCH_KEEP=1 */
static char keys_path[PATH_MAX + 32];
static char cli_path[PATH_MAX + 32];
static uint8_t pk[32], sk[64];
static struct audit_keys *keys;
static char period[AUDIT_PERIOD_LEN + 1];
static volatile pid_t child = -1;
static EVP_MD *sha256;
static EVP_MD_CTX *mdctx;
static volatile uint8_t sink;

/* ------------------------------------------------------------------ */
/* housekeeping */

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (keep && work[0] != '\0') {
		printf("bench_audit: scratch directory kept: %s\n", work);
		work[0] = '\0';
	}
	if (work[0] != '\0') {
		(void)nftw(work, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		work[0] = '\0';
	}
}

static void
on_signal(int sig)
{
	if (child > 0)
		kill(child, SIGKILL);
	cleanup();	/* not async-signal-safe; the process ends right here */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
on_alarm(int sig)
{
	(void)sig;
	if (child > 0)
		kill(child, SIGKILL);
}

static _Noreturn void
die(const char *what, int r)
{
	fprintf(stderr, "bench_audit: %s: %s\n", what, r ? keten_strerror(r) : strerror(errno));
	exit(1);
}

static _Noreturn void
fail(const char *what)
{
	fprintf(stderr, "bench_audit: %s\n", what);
	exit(1);
}

static uint64_t
env_u64(const char *name, uint64_t def, uint64_t min)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min) {
		fprintf(stderr, "bench_audit: %s=%s: a number >= %" PRIu64 " please\n", name, s,
		    min);
		exit(2);
	}
	return v;
}

static void
path_in(char *out, size_t n, const char *name)
{
	if ((size_t)snprintf(out, n, "%s/%s", work, name) >= n)
		fail("path too long");
}

/* Remove a work file now (the big logs), unless BENCH_KEEP. */
static void
drop(const char *path)
{
	if (!keep)
		unlink(path);
}

static uint64_t
file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		die(path, 0);
	return (uint64_t)st.st_size;
}

/* ------------------------------------------------------------------ */
/* printing */

static const char *
num(double v)
{
	static char pool[32][40];
	static unsigned k;
	char t[40], *o = pool[k++ % 32];
	size_t len, j = 0;

	snprintf(t, sizeof(t), "%.0f", v);
	len = strlen(t);
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && t[i - 1] != '-' && (len - i) % 3 == 0)
			o[j++] = ',';
		o[j++] = t[i];
	}
	o[j] = '\0';
	return o;
}

static const char *
dur(double s)
{
	static char pool[32][32];
	static unsigned k;
	char *o = pool[k++ % 32];

	if (s >= 1)
		snprintf(o, 32, "%.2f s", s);
	else if (s >= 1e-3)
		snprintf(o, 32, "%.1f ms", s * 1e3);
	else if (s >= 1e-6)
		snprintf(o, 32, "%.2f us", s * 1e6);
	else
		snprintf(o, 32, "%.0f ns", s * 1e9);
	return o;
}

static const char *
fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static const char *
fmt(const char *f, ...)
{
	static char pool[32][96];
	static unsigned k;
	char *o = pool[k++ % 32];
	va_list ap;

	va_start(ap, f);
	vsnprintf(o, 96, f, ap);
	va_end(ap);
	return o;
}

static void
head(void)
{
	printf("  %-40s %15s   %-40s %12s   %-14s %s\n", "what", "value", "baseline (same run)",
	    "ratio", "target", "met");
}

/* met: 1 met, 0 not met, -1 no target */
static void
row(const char *what, const char *value, const char *base, const char *ratio,
    const char *target, int met)
{
	printf("  %-40s %15s   %-40s %12s   %-14s %s\n", what, value, base ? base : "-",
	    ratio ? ratio : "-", target ? target : "-",
	    met < 0 ? "-" : met ? "met" : "NOT MET");
}

/* ------------------------------------------------------------------ */
/* raw SHA-256: OpenSSL EVP with the algorithm fetched once and one
 * context reused, the fastest way OpenSSL 3 offers */

static void
sha(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
	unsigned int n;

	if (EVP_DigestInit_ex2(mdctx, sha256, NULL) != 1 ||
	    EVP_DigestUpdate(mdctx, a, alen) != 1 ||
	    (blen > 0 && EVP_DigestUpdate(mdctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(mdctx, out, &n) != 1)
		fail("OpenSSL SHA-256 failed");
}

static void
raw_node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	uint8_t in[65];

	in[0] = 0x01;
	memcpy(in + 1, l, 32);
	memcpy(in + 33, r, 32);
	sha(in, sizeof(in), NULL, 0, out);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ------------------------------------------------------------------ */
/* the records: one message submitted and sent (SUBMIT + SEND), with all
 * that the node writes for it */

struct msg {
	uint8_t id[16], hash[32];
	char tp[56];
	char subj[11];
	const char *subjects[1];
};

static uint64_t
rnd(uint64_t *s)	/* splitmix64 */
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void
rnd_bytes(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd(s);

		for (size_t j = 0; j < 8 && i + j < n; j++)
			p[i + j] = (uint8_t)(v >> (8 * j));
	}
}

static void
fill_msg(struct msg *m, uint64_t *s, int person)
{
	static const char hx[] = "0123456789abcdef";
	uint8_t t[24];

	rnd_bytes(s, m->id, sizeof(m->id));
	rnd_bytes(s, m->hash, sizeof(m->hash));
	rnd_bytes(s, t, sizeof(t));
	memcpy(m->tp, "00-", 3);
	for (int i = 0; i < 16; i++) {
		m->tp[3 + 2 * i] = hx[t[i] >> 4];
		m->tp[4 + 2 * i] = hx[t[i] & 15];
	}
	m->tp[35] = '-';
	for (int i = 0; i < 8; i++) {
		m->tp[36 + 2 * i] = hx[t[16 + i] >> 4];
		m->tp[37 + 2 * i] = hx[t[16 + i] & 15];
	}
	memcpy(m->tp + 52, "-01", 4);
	if (person) {
		memcpy(m->subj, PERSON, sizeof(PERSON));
	} else {
		uint64_t v;

		do
			v = rnd(s) % UINT64_C(10000000000);
		while (v == PERSON_NUM);
		snprintf(m->subj, sizeof(m->subj), "%010" PRIu64, v);
	}
	m->subjects[0] = m->subj;
}

/* One record of message m; ps_in: the pseudonyms an earlier record of it
 * computed (NULL: computed here), ps_out: where to keep this one's. */
static void
append_msg_ps(struct auditlog *l, const struct msg *m, int submit, int subject,
    const uint8_t (*ps_in)[AUDIT_PSEUDONYM_LEN], uint8_t (*ps_out)[AUDIT_PSEUDONYM_LEN])
{
	static const char *const rcpts[] = { RCPT };
	struct audit_event e;
	int r;

	memset(&e, 0, sizeof(e));
	e.event = submit ? KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT : KETEN__V1__AUDIT_EVENT__EVENT_SEND;
	e.msg_id = m->id;
	e.kind = KETEN__V1__KIND__DOSSIER_DELIVERY;
	e.sender = OIN;
	e.recipients = rcpts;
	e.n_recipients = 1;
	e.local_system = submit ? "zaaksysteem" : NULL;
	e.purpose = PURPOSE;
	e.mandate_id = MANDATE;
	e.legal_basis = LEGAL;
	e.decision = submit ? KETEN__V1__DECISION__DECISION_ALLOW : KETEN__V1__DECISION__DECISION_NONE;
	e.rule = submit ? "mandate" : NULL;
	e.traceparent = m->tp;
	e.envelope_hash = m->hash;
	e.peer = submit ? NULL : RCPT;
	if (subject) {
		e.subjects = m->subjects;
		e.n_subjects = 1;
		e.pseudonyms = ps_in;
		e.pseudonyms_out = ps_out;
	}
	if ((r = auditlog_append(l, &e)) != 0)
		die("auditlog_append", r);
}

static void
append_msg(struct auditlog *l, const struct msg *m, int submit, int subject)
{
	append_msg_ps(l, m, submit, subject, NULL, NULL);
}

/* A new log, started as node_audit_open starts one: LOG_START naming the
 * signing key, a forced checkpoint, one commit. */
static struct auditlog *
log_new(const char *path)
{
	struct auditlog *l = NULL;
	struct audit_event e;
	size_t torn;
	int r;

	if ((r = auditlog_open(path, OIN, sk, pk, keys, keys_path, &l, &torn)) != 0)
		die("auditlog_open", r);
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_LOG_START;
	e.key = pk;
	e.detail = "bench_audit";
	if ((r = auditlog_append(l, &e)) != 0 || (r = auditlog_checkpoint(l, 1, NULL)) != 0 ||
	    (r = auditlog_commit(l)) != 0)
		die("log start", r);
	return l;
}

/* The group commit of a turn, as node_audit_commit does it: a checkpoint
 * when the tree grew and the interval passed (or force), then one write
 * and one fdatasync. */
static void
node_commit(struct auditlog *l, int force)
{
	uint64_t now = clock_now_ms();
	int r;

	if (auditlog_size(l) != auditlog_checkpointed_size(l) &&
	    (force || now >= auditlog_last_checkpoint_ms(l) + CHECKPOINT_MS) &&
	    (r = auditlog_checkpoint(l, 0, NULL)) != 0)
		die("auditlog_checkpoint", r);
	if ((r = auditlog_commit(l)) != 0)
		die("auditlog_commit", r);
}

/* ------------------------------------------------------------------ */
/* 1. durable appends with group commit */

struct u64s {
	uint64_t *v;
	size_t n, cap;
};

static void
u64s_push(struct u64s *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		uint64_t *g = realloc(a->v, cap * sizeof(*g));

		if (g == NULL)
			fail("out of memory");
		a->v = g;
		a->cap = cap;
	}
	a->v[a->n++] = x;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
bench_durable(void)
{
	static const unsigned groups[] = { 1, 16, 256 };

	printf("\n1. durable appends, group commit: SUBMIT + SEND records of one message each "
	    "(msg_id, kind, sender, recipient, purpose,\n   mandate, legal basis, traceparent, "
	    "envelope hash, one V-nummer sealed), committed every G records, a checkpoint per\n"
	    "   commit once >= 1 s since the last (node_audit_commit); baseline: raw write() + "
	    "fdatasync() of the same bytes in\n   the same groups to a new file in the same "
	    "directory, %d rounds of %.2f s each alternating with it; %.1f s per G\n",
	    DURABLE_ROUNDS, DURABLE_SECONDS / DURABLE_ROUNDS, DURABLE_SECONDS);
	head();
	for (size_t gi = 0; gi < sizeof(groups) / sizeof(groups[0]); gi++) {
		unsigned g = groups[gi], pending = 0;
		char path[PATH_MAX + 32], raw[PATH_MAX + 32];
		struct u64s cut = { NULL, 0, 0 };
		struct auditlog *l;
		struct msg m;
		uint64_t rng = 0xd0 + g, n = 0, start, end, recs = 1, cps = 0, commits = 0;
		double t = 0, traw = 0, rate, rrate;
		int fd, r;

		snprintf(path, sizeof(path), "%s/durable-%u.log", work, g);
		snprintf(raw, sizeof(raw), "%s/durable-%u.raw", work, g);
		l = log_new(path);
		start = end = file_size(path);
		fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			die(raw, 0);
		for (int round = 0; round < DURABLE_ROUNDS && n < DURABLE_MAX; round++) {
			struct auditlog_file f;
			size_t off, prev;
			double t0 = now_s();

			/* keten: turns of g records, each made durable */
			cut.n = 0;
			for (;;) {
				if (n % 2 == 0)
					fill_msg(&m, &rng, 0);
				append_msg(l, &m, n % 2 == 0, 1);
				n++;
				if (++pending < g)
					continue;
				pending = 0;
				node_commit(l, 0);
				u64s_push(&cut, auditlog_durable_size(l));
				if (n >= DURABLE_MAX ||
				    now_s() - t0 >= DURABLE_SECONDS / DURABLE_ROUNDS)
					break;
			}
			t += now_s() - t0;
			commits += cut.n;

			/* the byte range each of those commits wrote: its
			 * records and the checkpoint signed in it */
			if ((r = auditlog_file_open(path, &f)) != 0)
				die(path, r);
			off = prev = end;
			for (size_t k = 0; k < cut.n; k++) {
				while (recs < cut.v[k]) {
					if (f.p[off + 4] == AUDITLOG_CHECKPOINT)
						cps++;
					else
						recs++;
					off += 8 + be32(f.p + off);
				}
				while (off < f.len && f.p[off + 4] == AUDITLOG_CHECKPOINT) {
					cps++;
					off += 8 + be32(f.p + off);
				}
				cut.v[k] = off;
			}
			if (off != f.len)
				fail("durable: the commits do not add up to the file");
			end = off;

			/* raw: the same bytes, the same groups */
			t0 = now_s();
			for (size_t k = 0; k < cut.n; k++) {
				if (write_all(fd, f.p + prev, cut.v[k] - prev) != 0 ||
				    fdatasync(fd) != 0)
					die(raw, 0);
				prev = cut.v[k];
			}
			traw += now_s() - t0;
			auditlog_file_close(&f);
		}
		auditlog_destroy(&l);
		close(fd);
		rate = (double)n / t;
		rrate = (double)n / traw;
		/* The target is for appends under load, where group commit
		 * puts a turn's records (up to batch_max = 256 messages, two
		 * or more records each) under one fsync: the largest G.  The
		 * smaller groups show the disk's bound (the raw baseline). */
		if (gi + 1 == sizeof(groups) / sizeof(groups[0]))
			row(fmt("G=%u: records/s, durable", g), fmt("%s/s", num(rate)),
			    fmt("raw write+fdatasync %s/s", num(rrate)), fmt("%.2fx", rate / rrate),
			    fmt(">= %s/s", num(TARGET_DURABLE)), rate >= TARGET_DURABLE);
		else
			row(fmt("G=%u: records/s, durable", g), fmt("%s/s", num(rate)),
			    fmt("raw write+fdatasync %s/s", num(rrate)), fmt("%.2fx", rate / rrate),
			    NULL, -1);
		row(fmt("G=%u: time per commit", g), dur(t / (double)commits),
		    fmt("raw write+fdatasync %s", dur(traw / (double)commits)),
		    fmt("%.2fx time", t / traw), NULL, -1);
		printf("  %-40s %s records, %s commits, %s checkpoints, %.0f bytes/record\n", "",
		    num((double)n), num((double)commits), num((double)cps),
		    (double)(end - start) / (double)n);
		drop(path);
		drop(raw);
		free(cut.v);
	}
	printf("  (the raw baseline is the ceiling: the same fsyncs of the same bytes with no "
	    "record work; the target\n   is judged at G=%u, a loaded node's turn: with fewer "
	    "records per fsync the disk sets the rate)\n", groups[sizeof(groups) /
	    sizeof(groups[0]) - 1]);
}

/* ------------------------------------------------------------------ */
/* 2. appends without a subject, and the subject seal */

#define POOL 256

static double
append_rate(const struct msg *pool, int subject, size_t *frame_bytes)
{
	char path[PATH_MAX + 32];
	struct auditlog *l;
	uint64_t n = 0, before;
	double t0, t;
	int r;

	path_in(path, sizeof(path), "cpu.log");
	l = log_new(path);
	/* the size of one such record frame, on disk */
	before = file_size(path);
	append_msg(l, &pool[0], 0, subject);
	if ((r = auditlog_commit(l)) != 0)
		die("auditlog_commit", r);
	*frame_bytes = (size_t)(file_size(path) - before);
	/* appends only: the buffer is dropped every 4096 records */
	t0 = now_s();
	do {
		for (int i = 0; i < 4096; i++, n++)
			append_msg(l, &pool[(n / 2) % POOL], n % 2 == 0, subject);
		auditlog_rollback(l);
	} while ((t = now_s() - t0) < CPU_SECONDS);
	auditlog_destroy(&l);
	unlink(path);
	return (double)n / t;
}

/* Messages per second written as a node writes a turn of POOL messages
 * with one subject each: every SUBMIT, then every SEND (so no trace
 * context is parsed once for both); carry: the SENDs take the SUBMITs'
 * pseudonyms (outbound.c), else each computes them again. */
static double
turn_rate(const struct msg *pool, int carry)
{
	static uint8_t ps[POOL][1][AUDIT_PSEUDONYM_LEN];
	char path[PATH_MAX];
	struct auditlog *l;
	uint64_t n = 0;
	double t0, t;

	path_in(path, sizeof(path), "turn.log");
	l = log_new(path);
	t0 = now_s();
	do {
		for (int k = 0; k < 16; k++, n += POOL) {
			for (int i = 0; i < POOL; i++)
				append_msg_ps(l, &pool[i], 1, 1, NULL, carry ? ps[i] : NULL);
			for (int i = 0; i < POOL; i++)
				append_msg_ps(l, &pool[i], 0, 1,
				    carry ? (const uint8_t (*)[AUDIT_PSEUDONYM_LEN])ps[i] : NULL, NULL);
		}
		auditlog_rollback(l);
	} while ((t = now_s() - t0) < CPU_SECONDS);
	auditlog_destroy(&l);
	unlink(path);
	return (double)n / t;
}

/* calls of body per second over CPU_SECONDS, in runs of 256 */
#define RATE(var, body) do { \
	uint64_t n_ = 0; \
	double t0_ = now_s(), t_; \
	do { \
		for (int i_ = 0; i_ < 256; i_++) { body; } \
		n_ += 256; \
	} while ((t_ = now_s() - t0_) < CPU_SECONDS); \
	var = (double)n_ / t_; \
} while (0)

static void
bench_seal(void)
{
	static struct msg pool[POOL];
	uint8_t key[32], nonce[AUDIT_NONCE_LEN], pt[33], ad[64], out[33 + 16], ps[32];
	uint8_t sealed[AUDIT_SEALED_LEN], frame[1024], h[32];
	size_t adlen, fb_plain, fb_subj;
	uint64_t rng = 42, idx = 0;
	double r_plain, r_subj, r_aead, r_hmac, r_rand, r_sha, r_seal, r_ps_seal, r_carry, r_again;
	double c_subj, c_raw3;

	for (size_t i = 0; i < POOL; i++)
		fill_msg(&pool[i], &rng, 0);
	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(pt, sizeof(pt));
	randombytes_buf(frame, sizeof(frame));
	/* the same associated data keten seals with: context, NUL, OIN, u64 */
	adlen = sizeof("keten/v1/audit-subject") + strlen(OIN) + 8;
	memset(ad, 7, sizeof(ad));

	r_plain = append_rate(pool, 0, &fb_plain);
	r_subj = append_rate(pool, 1, &fb_subj);
	/* alternated, so that a slower stretch of the machine falls on both */
	r_carry = r_again = 0;
	for (int k = 0; k < 2; k++) {
		r_again += turn_rate(pool, 0) / 2;
		r_carry += turn_rate(pool, 1) / 2;
	}
	frame[0] = 0;
	RATE(r_sha, sha(frame, fb_plain - 8, NULL, 0, h); sink ^= h[0]);
	RATE(r_aead, crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, pt, sizeof(pt), ad,
	    adlen, NULL, nonce, key); sink ^= out[0]);
	RATE(r_hmac, {
		crypto_auth_hmacsha256_state st;
		uint8_t t = 1;

		crypto_auth_hmacsha256_init(&st, key, 32);
		crypto_auth_hmacsha256_update(&st, &t, 1);
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)PERSON, 10);
		crypto_auth_hmacsha256_final(&st, ps);
		sink ^= ps[0];
	});
	RATE(r_rand, randombytes_buf(nonce, sizeof(nonce)); sink ^= nonce[0]);
	RATE(r_seal, {
		int r = audit_subject_seal(keys, period, OIN, idx++, AUDIT_SUBJECT_V_NUMBER, ps,
		    nonce, sealed);

		if (r != 0)
			die("audit_subject_seal", r);
	});
	RATE(r_ps_seal, {
		int r;

		audit_pseudonym(keys, AUDIT_SUBJECT_V_NUMBER, PERSON, ps);
		if ((r = audit_subject_seal(keys, period, OIN, idx++, AUDIT_SUBJECT_V_NUMBER, ps,
		    nonce, sealed)) != 0)
			die("audit_subject_seal", r);
	});
	c_subj = 1 / r_subj - 1 / r_plain;
	c_raw3 = 1 / r_aead + 1 / r_hmac + 1 / r_rand;

	printf("\n2. appends to the turn's buffer (CPU only: no write; records as in 1), and "
	    "the subject seal; %.1f s per figure\n", CPU_SECONDS);
	head();
	row("append, no subject: records/s", fmt("%s/s", num(r_plain)),
	    fmt("raw SHA-256 of the %zu-byte frame %s/s", fb_plain - 8, num(r_sha)),
	    fmt("%.2fx rate", r_plain / r_sha), NULL, -1);
	row("  time per record", dur(1 / r_plain), fmt("raw SHA-256 %s", dur(1 / r_sha)),
	    fmt("%.1fx time", r_sha / r_plain), NULL, -1);
	row("append, one subject: records/s", fmt("%s/s", num(r_subj)), NULL, NULL, NULL, -1);
	row("  time per record", dur(1 / r_subj), NULL, NULL, NULL, -1);
	row("subject cost per record (difference)", dur(c_subj),
	    fmt("raw XChaCha20-Poly1305 33 B %s", dur(1 / r_aead)),
	    fmt("%.1fx time", c_subj * r_aead), NULL, -1);
	row("  of which audit_pseudonym + seal", dur(1 / r_ps_seal),
	    fmt("raw HMAC+AEAD+randombytes %s", dur(c_raw3)),
	    fmt("%.2fx time", (1 / r_ps_seal) / c_raw3), NULL, -1);
	row("  of which audit_subject_seal", dur(1 / r_seal),
	    fmt("raw AEAD+randombytes(24) %s", dur(1 / r_aead + 1 / r_rand)),
	    fmt("%.2fx time", (1 / r_seal) / (1 / r_aead + 1 / r_rand)), NULL, -1);
	printf("  %-40s raw HMAC-SHA-256 (11 B) %s, raw randombytes_buf(24) %s; frame %zu B "
	    "without, %zu B with a subject\n", "", dur(1 / r_hmac), dur(1 / r_rand), fb_plain,
	    fb_subj);	row("a turn as a node writes it: per message", dur(1 / r_carry),
	    fmt("pseudonyms computed again %s", dur(1 / r_again)),
	    fmt("%.2fx time", r_again / r_carry), NULL, -1);
	printf("  %-40s (%d SUBMITs, then their SENDs; the SENDs take the SUBMITs' pseudonyms)\n",
	    "", POOL);
}

/* ------------------------------------------------------------------ */
/* 3, 4, 5: a log of n records written fast (one writer, a commit and a
 * checkpoint every GEN_COMMIT records, no per-record fsync); 1 message in
 * PERSON_EVERY is about PERSON, the rest about random V-nummers.  The
 * indexes of PERSON's records go to *person.  Stops early at the
 * deadline (seconds from now; 0: none). */
static uint64_t
gen_log(const char *path, uint64_t n, struct u64s *person, double deadline, double *secs)
{
	struct auditlog *l;
	struct msg m;
	uint64_t rng = 0x5eed, msgs = 0, since = 0;
	double t0 = now_s();

	l = log_new(path);
	while (auditlog_size(l) < n) {
		int about = msgs++ % PERSON_EVERY == PERSON_EVERY / 2;

		fill_msg(&m, &rng, about);
		for (int ev = 0; ev < 2 && auditlog_size(l) < n; ev++) {
			if (about)
				u64s_push(person, auditlog_size(l));
			append_msg(l, &m, ev == 0, 1);
			if (++since == GEN_COMMIT) {
				since = 0;
				node_commit(l, 1);
				if (deadline > 0 && now_s() - t0 > deadline)
					goto out;
			}
		}
	}
out:
	node_commit(l, 1);
	n = auditlog_size(l);
	auditlog_destroy(&l);
	*secs = now_s() - t0;
	return n;
}

/* Raw SHA-256 of every frame body (type || payload: what verify hashes
 * for the frame check and leaf); oneshot: OpenSSL's SHA256(). */
static double
raw_frames(const struct auditlog_file *f, int oneshot)
{
	size_t off = AUDITLOG_MAGIC_LEN;
	uint8_t h[32];
	double t0 = now_s();

	while (off + 8 <= f->len) {
		uint32_t bl = be32(f->p + off);

		if (oneshot)
			SHA256(f->p + off + 4, bl, h);
		else
			sha(f->p + off + 4, bl, NULL, 0, h);
		sink ^= h[0];
		off += 8 + (size_t)bl;
	}
	return now_s() - t0;
}

static double
raw_stream(const struct auditlog_file *f)
{
	uint8_t h[32];
	unsigned int hn;
	double t0 = now_s();

	if (EVP_DigestInit_ex2(mdctx, sha256, NULL) != 1)
		fail("SHA-256");
	for (size_t off = 0; off < f->len; off += 1u << 20)
		EVP_DigestUpdate(mdctx, f->p + off, f->len - off < (1u << 20) ? f->len - off : 1u << 20);
	EVP_DigestFinal_ex(mdctx, h, &hn);
	sink ^= h[0];
	return now_s() - t0;
}

static void
problem(void *arg, int code, uint64_t index, size_t offset, const char *what)
{
	int *shown = arg;

	if ((*shown)++ < 5)
		fprintf(stderr, "bench_audit: verify: %s: record %" PRIu64 " offset %zu: %s\n",
		    keten_errname(code), index, offset, what);
}

static char small_log[PATH_MAX + 32];
static struct u64s small_person;
static uint64_t small_n;

static void
make_small(void)
{
	uint64_t n = env_u64("BENCH_AUDIT_N", 1000000, 1000);
	double secs;

	path_in(small_log, sizeof(small_log), "verify.log");
	small_n = gen_log(small_log, n, &small_person, 0, &secs);
	printf("\n   the log: %s records (%s about the person), %s bytes, written in %s: "
	    "%s records/s (commit + checkpoint every %s, one writer)\n", num((double)small_n),
	    num((double)small_person.n), num((double)file_size(small_log)), dur(secs),
	    num((double)small_n / secs), num(GEN_COMMIT));
}

static void
bench_verify_proof(int do_verify, int do_proof)
{
	struct auditlog_file f;
	struct auditlog_trust t;
	struct auditlog_report rep;
	uint8_t (*leaves)[32] = NULL, proof[MERKLE_MAX_PATH][32], root[32], h[32];
	uint64_t n = 0, m;
	size_t plen = 0;
	double best = 1e9, ta = 1e9, tone, tstream, tl, tp, rp, tnodes;
	int r, shown = 0;

	printf("\n3./4. verify and prove on a log of %s records; the log is in the page cache "
	    "(just written)\n", num((double)env_u64("BENCH_AUDIT_N", 1000000, 1000)));
	make_small();
	if ((r = auditlog_file_open(small_log, &f)) != 0)
		die(small_log, r);
	memset(&t, 0, sizeof(t));
	t.keys = (const uint8_t (*)[32])pk;
	t.n_keys = 1;
	memset(&rep, 0, sizeof(rep));
	(void)raw_stream(&f);		/* every page touched once */
	if (do_verify) {
		/* best of two, interleaved with the baseline */
		for (int k = 0; k < 2; k++) {
			double x = raw_frames(&f, 0), t0 = now_s(), tv;

			ta = x < ta ? x : ta;
			r = auditlog_verify(&f, &t, &rep, problem, &shown);
			tv = now_s() - t0;
			if (r != 0)
				die("auditlog_verify: the log does not verify", r);
			if (rep.records != small_n || rep.covered != small_n || rep.keys_from_log)
				fail("auditlog_verify: the report does not match the log written");
			best = tv < best ? tv : best;
		}
		tone = raw_frames(&f, 1);
		tstream = raw_stream(&f);
		printf("\n3. verify: auditlog_verify (every frame, record, the tree, %s "
		    "checkpoint signatures), best of 2\n", num((double)rep.checkpoints));
		head();
		row("verify: records/s", fmt("%s/s", num((double)small_n / best)),
		    fmt("raw SHA-256 per frame %s/s", num((double)small_n / ta)),
		    fmt("%.2fx rate", ta / best), fmt(">= %s/s", num(TARGET_VERIFY)),
		    (double)small_n / best >= TARGET_VERIFY);
		row("  time", dur(best), fmt("raw SHA-256 per frame (EVP) %s", dur(ta)),
		    fmt("%.1fx time", best / ta), NULL, -1);
		printf("  %-40s raw SHA256() one-shot per frame %s (%s/s); raw SHA-256 of the "
		    "file as one stream %s (%.0f MB/s)\n", "", dur(tone),
		    num((double)small_n / tone), dur(tstream), (double)f.len / tstream / 1e6);
	}
	if (do_proof) {
		double t0 = now_s();

		if ((r = auditlog_leaves(&f, &leaves, &n)) != 0)
			die("auditlog_leaves", r);
		tl = now_s() - t0;
		if (n != small_n)
			fail("auditlog_leaves: wrong count");
		m = n / 2;
		t0 = now_s();
		if ((r = merkle_inclusion_proof((const uint8_t (*)[32])leaves, n, m, proof,
		    &plen)) != 0)
			die("merkle_inclusion_proof", r);
		tp = now_s() - t0;
		if (merkle_root_from_path(leaves[m], m, n, (const uint8_t (*)[32])proof, plen,
		    root) != 0 || (do_verify && memcmp(root, rep.root, 32) != 0))
			fail("the inclusion proof does not lead to the log's root");
		RATE(rp, {
			if (merkle_root_from_path(leaves[m], m, n, (const uint8_t (*)[32])proof,
			    plen, root) != 0)
				fail("merkle_root_from_path");
			sink ^= root[0];
		});
		/* baselines: the same hashing done raw: n-1 interior nodes for
		 * the proof, plen for the path; the leaves as in 3 */
		if (!do_verify)
			ta = raw_frames(&f, 0);
		t0 = now_s();
		memcpy(h, leaves[0], 32);
		for (uint64_t i = 1; i < n; i++)
			raw_node(h, leaves[i], h);
		tnodes = now_s() - t0;
		{
			double rpath;

			RATE(rpath, {
				memcpy(h, leaves[m], 32);
				for (size_t i = 0; i < plen; i++)
					raw_node(h, proof[i], h);
				sink ^= h[0];
			});
			printf("\n4. inclusion proof of record %s (path of %zu hashes)\n",
			    num((double)m), plen);
			head();
			row("auditlog_leaves", dur(tl),
			    fmt("raw SHA-256 per frame %s", dur(ta)), fmt("%.1fx time", tl / ta),
			    NULL, -1);
			row("merkle_inclusion_proof", dur(tp),
			    fmt("raw %s node hashes %s", num((double)(n - 1)), dur(tnodes)),
			    fmt("%.1fx time", tp / tnodes), NULL, -1);
			row("  together (what keten audit prove does)", dur(tl + tp), NULL, NULL,
			    NULL, -1);
			row("merkle_root_from_path (verify)", dur(1 / rp),
			    fmt("raw %zu node hashes %s", plen, dur(1 / rpath)),
			    fmt("%.1fx time", rpath / rp), NULL, -1);
		}
		free(leaves);
	}
	auditlog_file_close(&f);
}

/* ------------------------------------------------------------------ */
/* 5. subject-access request through the CLI */

/* Run argv with stdout and stderr to files; returns the wall time from
 * posix_spawn to waitpid, *status the exit status (-1: killed). */
static double
run_cli(char *const argv[], const char *out, const char *err, int *status)
{
	posix_spawn_file_actions_t fa;
	unsigned timeout = (unsigned)env_u64("BENCH_AUDIT_CLI_TIMEOUT", 300, 1);
	pid_t pid;
	double t0, t;
	int st = 0, r;

	if (posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600) != 0)
		fail("posix_spawn_file_actions");
	t0 = now_s();
	if ((r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ)) != 0) {
		errno = r;
		die(argv[0], 0);
	}
	child = pid;
	alarm(timeout);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid", 0);
	t = now_s() - t0;
	alarm(0);
	child = -1;
	posix_spawn_file_actions_destroy(&fa);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (*status == -1)
		fprintf(stderr, "bench_audit: %s %s %s: killed (signal %d; after %u s?)\n",
		    argv[0], argv[1], argv[2], WIFSIGNALED(st) ? WTERMSIG(st) : 0, timeout);
	return t;
}

static void
show_file(const char *path, const char *prefix)
{
	FILE *fp = fopen(path, "r");
	char line[512];
	int k = 0;

	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL && k++ < 5)
		printf("%s%s", prefix, line);
	if (fp != NULL)
		fclose(fp);
}

/* Whether the JSON lines of `keten audit subject` are exactly the
 * records in want (sorted), each with its sealed subject. */
static int
answer_ok(const char *out, const struct u64s *want, size_t *lines)
{
	FILE *fp = fopen(out, "r");
	char *line = NULL;
	size_t cap = 0, k = 0, bad = 0;

	*lines = 0;
	if (fp == NULL)
		return 0;
	while (getline(&line, &cap, fp) > 0) {
		const char *p = strstr(line, "{\"index\":");

		(*lines)++;
		if (p == NULL || strstr(line, "\"subject\":{") == NULL) {
			bad++;
			continue;
		}
		if (k < want->n && strtoull(p + 9, NULL, 10) == want->v[k])
			k++;
		else
			bad++;
	}
	free(line);
	fclose(fp);
	return k == want->n && bad == 0;
}

static double
subject_run(const char *log, int *ok, size_t *lines, const struct u64s *want)
{
	char out[PATH_MAX + 32], err[PATH_MAX + 32];
	char *argv[] = { cli_path, "audit", "subject", "--keys", keys_path, (char *)log, PERSON,
	    "--json", NULL };
	double t;
	int st;

	path_in(out, sizeof(out), "subject.out");
	path_in(err, sizeof(err), "subject.err");
	t = run_cli(argv, out, err, &st);
	*ok = st == 0 && answer_ok(out, want, lines);
	if (st != 0 || file_size(err) > 0) {
		printf("  keten audit subject: exit %d; stderr:\n", st);
		show_file(err, "    | ");
	}
	return t;
}

/* The cryptography `keten audit index` cannot avoid per record, raw, in
 * seconds: open the sealed subject (XChaCha20-Poly1305, 49 bytes, the same
 * associated data), its index tag (HMAC-SHA-256 of context || pseudonym),
 * and the frame's SHA-256 (frame_bytes). */
static double
raw_index_cost(double frame_bytes)
{
	uint8_t key[32], nonce[24], pt[33], ad[64], ct[49], mac[32], fr[1024], h[32];
	size_t adlen = sizeof("keten/v1/audit-subject") + strlen(OIN) + 8;
	size_t fl = frame_bytes > 8 && frame_bytes < 1000 ? (size_t)frame_bytes - 8 : 400;
	double r_open, r_tag, r_sha;

	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(pt, sizeof(pt));
	randombytes_buf(fr, sizeof(fr));
	memset(ad, 7, sizeof(ad));
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, pt, sizeof(pt), ad, adlen, NULL,
	    nonce, key);
	RATE(r_open, {
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, sizeof(ct), ad,
		    adlen, nonce, key) != 0)
			fail("raw decrypt");
	});
	RATE(r_tag, {
		crypto_auth_hmacsha256_state st;

		crypto_auth_hmacsha256_init(&st, key, 32);
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)"keten/v1/audit-index",
		    sizeof("keten/v1/audit-index"));
		crypto_auth_hmacsha256_update(&st, pt + 1, 32);
		crypto_auth_hmacsha256_final(&st, mac);
		sink ^= mac[0];
	});
	fr[0] = 0;
	RATE(r_sha, sha(fr, fl, NULL, 0, h); sink ^= h[0]);
	return 1 / r_open + 1 / r_tag + 1 / r_sha;
}

static void
bench_subject(int have_small)
{
	uint64_t want_n = env_u64("BENCH_AUDIT_SUBJECT_N", 10000000, 10000), n;
	double bpr = 260, need, secs, ti, ts, tbest = 1e9;
	char log[PATH_MAX + 32], out[PATH_MAX + 32], err[PATH_MAX + 32];
	struct u64s person = { NULL, 0, 0 };
	struct statvfs sv;
	size_t lines = 0;
	int ok, st, all_ok = 1;

	if (access(cli_path, X_OK) != 0) {
		printf("\n5. subject: %s not built (make all): skipped\n", cli_path);
		return;
	}
	if (have_small) {
		bpr = (double)file_size(small_log) / (double)small_n;
	} else {
		/* bytes per record, from a small log of the same records */
		struct u64s p = { NULL, 0, 0 };
		uint64_t k;

		path_in(log, sizeof(log), "sample.log");
		k = gen_log(log, 4096, &p, 0, &secs);
		bpr = (double)file_size(log) / (double)k;
		unlink(log);
		free(p.v);
	}
	need = bpr * (double)want_n;
	if (statvfs(work, &sv) != 0)
		die("statvfs", 0);
	printf("\n5. subject-access request on a log of %s records (~%s MB; 1 in %d about %s, "
	    "the rest about random V-nummers),\n   through the CLI (%s), each timed from "
	    "posix_spawn to waitpid; the log is in the page cache (just written)\n",
	    num((double)want_n), num(need / 1e6), PERSON_EVERY, PERSON, cli_path);
	if ((double)sv.f_bavail * (double)sv.f_frsize < 3 * need) {
		uint64_t fit = (uint64_t)((double)sv.f_bavail * (double)sv.f_frsize / 3 / bpr);

		fit -= fit % 1000;
		printf("   note: %s has %s MB free, less than 3x what the log needs: scaled down "
		    "to %s records\n", work, num((double)sv.f_bavail * (double)sv.f_frsize / 1e6),
		    num((double)fit));
		if (fit < 10000) {
			printf("   too little room: skipped\n");
			return;
		}
		want_n = fit;
	}
	path_in(log, sizeof(log), "subject.log");
	n = gen_log(log, want_n, &person, env_u64("BENCH_AUDIT_GEN_MAX_S", 120, 1), &secs);
	if (n < want_n)
		printf("   note: writing the log took longer than BENCH_AUDIT_GEN_MAX_S: stopped "
		    "at %s records\n", num((double)n));
	printf("   the log: %s records (%s about the person), %s bytes, written in %s: %s "
	    "records/s\n", num((double)n), num((double)person.n), num((double)file_size(log)),
	    dur(secs), num((double)n / secs));

	head();
	if (have_small) {
		/* for scale: no index, on the smaller log of 3 */
		ts = subject_run(small_log, &ok, &lines, &small_person);
		row(fmt("subject, no index, %s records", num((double)small_n)), dur(ts), NULL,
		    NULL, NULL, -1);
		printf("  %-40s %zu lines, %s\n", "", lines, ok ? "the complete answer" :
		    "WRONG ANSWER");
		all_ok &= ok;
	}
	{
		char *argv[] = { cli_path, "audit", "index", "--keys", keys_path, log, NULL };

		path_in(out, sizeof(out), "index.out");
		path_in(err, sizeof(err), "index.err");
		double traw = raw_index_cost(bpr) * (double)n;

		ti = run_cli(argv, out, err, &st);
		row(fmt("keten audit index, %s records", num((double)n)), dur(ti),
		    fmt("raw open+tag+frame hash x N %s", dur(traw)), fmt("%.1fx time", ti / traw),
		    NULL, -1);
		show_file(out, fmt("  %-40s | ", ""));
		if (st != 0 || file_size(err) > 0) {
			printf("  keten audit index: exit %d; stderr:\n", st);
			show_file(err, "    | ");
			all_ok &= st == 0;
		}
	}
	if (st == 0) {
		char idx[PATH_MAX + 40];

		snprintf(idx, sizeof(idx), "%s.idx", log);
		printf("  %-40s index %s bytes\n", "", num((double)file_size(idx)));
		for (int k = 0; k < 3; k++) {
			ts = subject_run(log, &ok, &lines, &person);
			tbest = ts < tbest ? ts : tbest;
			if (k == 0) {
				row(fmt("keten audit subject, %s records", num((double)n)), dur(ts),
				    NULL, NULL, fmt("< %.0f s (10M)", TARGET_SUBJECT),
				    n >= TARGET_SUBJECT_N ? ts < TARGET_SUBJECT : -1);
				printf("  %-40s %zu lines, %s\n", "", lines, ok ? "the complete answer" :
				    "WRONG ANSWER");
			}
			all_ok &= ok;
		}
		row("  again, best of 3", dur(tbest), NULL, NULL,
		    fmt("< %.0f s (10M)", TARGET_SUBJECT),
		    n >= TARGET_SUBJECT_N ? tbest < TARGET_SUBJECT : -1);
		if (n < TARGET_SUBJECT_N)
			printf("  (the target is for %s records: not judged on a smaller log)\n",
			    num((double)TARGET_SUBJECT_N));
	}
	drop(log);
	free(person.v);
	if (!all_ok)
		fail("keten audit subject/index did not give the complete answer");
}

/* ------------------------------------------------------------------ */

static int
want(int argc, char **argv, const char *part)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], part) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const uint8_t seed[32] = "keten bench_audit fixed seed 01";
	const char *base = getenv("BENCH_DIR"), *bin = getenv("KETEN_BIN");
	const char *keep_s = getenv("BENCH_KEEP");
	char self[PATH_MAX], *slash;
	ssize_t sl;
	int added, r, do_verify, do_proof;
	double t0 = now_s();

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "durable") != 0 && strcmp(argv[i], "seal") != 0 &&
		    strcmp(argv[i], "verify") != 0 && strcmp(argv[i], "proof") != 0 &&
		    strcmp(argv[i], "subject") != 0) {
			fprintf(stderr, "usage: bench_audit [durable] [seal] [verify] [proof] "
			    "[subject]\n");
			return 2;
		}
	keep = keep_s != NULL && strcmp(keep_s, "1") == 0;
	setvbuf(stdout, NULL, _IOLBF, 0);	/* a long run: show each line as it comes */
	if (sodium_init() < 0)
		return 1;
	if ((sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (mdctx = EVP_MD_CTX_new()) == NULL)
		fail("OpenSSL SHA-256");
	crypto_sign_seed_keypair(pk, sk, seed);

	/* the keten CLI, beside this binary unless KETEN_BIN says */
	if (bin != NULL && *bin != '\0') {
		snprintf(cli_path, sizeof(cli_path), "%s/keten", bin);
	} else if ((sl = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[sl] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		snprintf(cli_path, sizeof(cli_path), "%s/keten", self);
	} else {
		snprintf(cli_path, sizeof(cli_path), "build/bin/keten");
	}

	snprintf(work, sizeof(work), "%s/keten-bench-audit.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(work) == NULL) {
		work[0] = '\0';
		die("mkdtemp", 0);
	}
	atexit(cleanup);
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		sa.sa_handler = on_alarm;	/* no SA_RESTART: waitpid returns */
		sigaction(SIGALRM, &sa, NULL);
	}

	/* the audit keys, with this month's period key made and saved before
	 * anything is timed */
	path_in(keys_path, sizeof(keys_path), "audit.keys");
	audit_period_of(clock_now_ms(), period);
	if ((r = audit_keys_new(&keys)) != 0 ||
	    (r = audit_keys_ensure_period(keys, period, &added)) != 0 ||
	    (r = audit_keys_save(keys, keys_path)) != 0)
		die("audit keys", r);

	printf("keten audit log benchmark (scratch directory %s)\n", work);
	if (want(argc, argv, "durable"))
		bench_durable();
	if (want(argc, argv, "seal"))
		bench_seal();
	do_verify = want(argc, argv, "verify");
	do_proof = want(argc, argv, "proof");
	if (do_verify || do_proof)
		bench_verify_proof(do_verify, do_proof);
	if (want(argc, argv, "subject"))
		bench_subject(do_verify || do_proof);
	if (small_log[0] != '\0')
		drop(small_log);
	free(small_person.v);
	audit_keys_destroy(&keys);
	EVP_MD_CTX_free(mdctx);
	EVP_MD_free(sha256);
	printf("\nbench_audit: %s in all\n", dur(now_s() - t0));
	return 0;
}
