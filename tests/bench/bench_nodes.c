/*
 * bench_nodes.c — two real ketend nodes on loopback, IND -> Amsterdam,
 * driven through IND's local API: 1 KiB DOSSIER_DELIVERY messages
 * submitted, sealed, batch-signed, stored, sent, verified, stored by
 * Amsterdam and receipted, timed from the submit until IND has the signed
 * DELIVERED receipt in its store.  Beside it, measured in the same run so
 * that the ratios hold on a busy machine: raw CurveZMQ PUSH/PULL of 1 KiB
 * frames over tcp://127.0.0.1, a raw CurveZMQ round trip, an fsync, and
 * three appends with an fsync each in a row: the commits a message waits
 * for at 100/s, with nothing else, which is the floor under its latency
 * there on this disk.
 * For the saturated and the 100/s phases it also gives the CPU time each
 * node used (user and system, every thread, from /proc/PID/stat) per
 * receipted message: a yardstick of the work a message costs that moves
 * much less than the rate when other work shares the machine.
 * Then memory: the peak RSS of each node, the sender with 100,000 messages
 * queued for a recipient that is down (and the catch-up when it starts),
 * and a 20 MiB dossier delivered and fetched.
 *
 * Run by tests/bench/bench_nodes.sh, which makes the dev network in a
 * scratch directory WORK (WORK/net) and removes it afterwards; this
 * program starts and stops the nodes (their pids are kept in WORK/pids so
 * that the script can kill them if this program dies) and kills them on
 * any failure, signal or time-out.
 *
 * How the bench learns of receipts.  The local API has no notification:
 * a local system polls `status` per message, and every status request is
 * answered by the sender's single-threaded loop, between the submissions
 * it is meant to be measuring.  So the bench reads the sender's SQLite
 * store read-only instead (WORK/net/state/ind/node.db, WAL mode: readers
 * never block the node's writer), every 0.1-1 ms: a message counts as
 * receipted in the first poll that sees its outbox_rcpt row DELIVERED,
 * which is exactly when the sender has durably stored the receipt.  It
 * finds the rows that changed by watching from the lowest still-pending
 * row id, and knows its messages by their case_ref ("bench-N").
 * `--receipts status` polls the status operation instead, for comparison.
 *
 * A/B mode.  `--ab DIR_B` compares the ketend of --bin ("A", the build
 * under test) with DIR_B/ketend ("B", the baseline, e.g. a variant built
 * with a feature compiled out) in one run, because this machine's speed
 * drifts by more than the differences to be measured.  After the raw
 * CurveZMQ baseline it runs --rounds rounds (3) of two legs each, A then
 * B in odd rounds and B then A in even ones (ABBA: a linear drift
 * cancels).  A leg starts both nodes with its binary, sends a warm-up
 * (every message must be receipted), paces 100/s for a few seconds (the
 * p99 at low load) and saturates for --seconds, then stops both nodes
 * with SIGTERM.  The legs share the network and the stores (these grow
 * from leg to leg; the ABBA order cancels that too).  It prints a line
 * per leg and then the mean saturated rate of each, the ratio A/B as the
 * mean of the per-round ratios with its min and max, the CPU per message
 * of each and its ratio A/B likewise, the p99 at 100/s of each, and the
 * ratio against --ab-target.  It fails when a leg did not
 * receipt everything or a node did not stop cleanly, not when the ratio
 * misses the target.  Message numbers ("bench-N") run on across the legs,
 * so that no leg mistakes another's rows for its own; the bookkeeping
 * (M[]) starts again at every leg, and the receipt poller reads only the
 * rows added after its leg started.
 *
 * Latency is from the moment the SubmitRequest is handed to ZeroMQ.
 * Submissions are pipelined (--window requests outstanding, matched by
 * request_id) so that the node can put many into one batch and one
 * commit, and the messages not yet receipted are capped (--inflight):
 * the sustained rate is what the whole path completes, not what the
 * sender can queue.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>
#include <zmq.h>

#include "bench.h"
#include "err.h"
#include "keten.h"
#include "local.pb-c.h"
#include "payload.h"
#include "payload.pb-c.h"

#define KIB 1024.0
#define NSOCK_MAX 8
#define PER_SOCK 512		/* requests outstanding per DEALER: below the
				 * node's local ROUTER high-water mark (1000),
				 * past which its replies would be dropped */
#define MSG_MAX 1200000	/* messages per start of the nodes (one A/B leg) */
#define ROUNDS_MAX 100
#define AB_WARMUP 500
#define REQ_STATUS_BIT (1ull << 62)

/* ------------------------------------------------------------------ */
/* options */

static struct {
	const char *work, *bin, *perf;
	const char *from, *to, *kind_name;
	double seconds;		/* saturation phase */
	double rate;		/* paced phase at the target rate */
	double slow_rate;	/* paced phase at low load */
	double slow_seconds;
	double paced_seconds;
	unsigned window, inflight;
	unsigned queued;
	unsigned dossier_mib;
	int status_mode;	/* receipts through the status operation */
	unsigned timeout;	/* whole run, seconds */
	int timeout_set;
	/* A/B mode */
	const char *ab;		/* directory of the baseline ketend, or NULL */
	const char *label_a, *label_b;
	unsigned rounds;
	double ab_target;	/* 0: none */
	int fresh;		/* --fresh: every A/B leg on empty node state */
} opt = {
	.from = "ind", .to = "amsterdam",
	.seconds = 8, .rate = 15000, .slow_rate = 100, .slow_seconds = 5, .paced_seconds = 4,
	.window = 1024, .inflight = 8192, .queued = 100000, .dossier_mib = 20, .timeout = 170,
	.label_a = "A", .label_b = "B", .rounds = 3,
};

/* ------------------------------------------------------------------ */
/* time, failure, child processes */

static void
sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Children (nodes, perf) to kill when anything goes wrong; read by the
 * signal handler, so plain stores of pid_t. */
#define KIDS_MAX 8
static volatile sig_atomic_t kids[KIDS_MAX];
static char pidfile[PATH_MAX];

static void
kids_write(void)
{
	FILE *f;

	if (pidfile[0] == '\0' || (f = fopen(pidfile, "w")) == NULL)
		return;
	for (int i = 0; i < KIDS_MAX; i++)
		if (kids[i] > 0)
			fprintf(f, "%d\n", (int)kids[i]);
	fclose(f);
}

static void
kid_add(pid_t p)
{
	for (int i = 0; i < KIDS_MAX; i++)
		if (kids[i] == 0) {
			kids[i] = p;
			break;
		}
	kids_write();
}

static void
kid_del(pid_t p)
{
	for (int i = 0; i < KIDS_MAX; i++)
		if (kids[i] == p)
			kids[i] = 0;
	kids_write();
}

static void
kids_kill(void)
{
	for (int i = 0; i < KIDS_MAX; i++)
		if (kids[i] > 0)
			kill((pid_t)kids[i], SIGKILL);
}

static void
on_signal(int sig)
{
	static const char msg[] = "bench_nodes: interrupted or timed out; nodes killed\n";

	kids_kill();
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(128 + sig);
	_exit(128 + sig);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "bench_nodes: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	kids_kill();
	exit(1);
}

/* fork+exec argv with stdout and stderr appended to logpath. */
static pid_t
spawn(char *const argv[], const char *logpath)
{
	pid_t p = fork();

	if (p < 0)
		die("fork: %s", strerror(errno));
	if (p == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		close_range(3, ~0u, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	kid_add(p);
	return p;
}

/* Wait up to timeout for pid; its wait status, or -1 if it is still running. */
static int
wait_exit(pid_t pid, double timeout)
{
	double end = now_s() + timeout;
	int st;

	do {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			kid_del(pid);
			return st;
		}
		if (r < 0) {
			kid_del(pid);
			return 0;
		}
		sleep_s(0.01);
	} while (now_s() < end);
	return -1;
}

/* ------------------------------------------------------------------ */
/* nodes */

struct node {
	const char *slug;
	char conf[PATH_MAX], log[PATH_MAX], sock[PATH_MAX], db[PATH_MAX];
	pid_t pid;
	off_t log_from;		/* where this start's lines begin */
};

static struct node sender, rcpt;

static void
node_init(struct node *n, const char *slug)
{
	n->slug = slug;
	snprintf(n->conf, sizeof(n->conf), "%s/net/nodes/%s.conf", opt.work, slug);
	snprintf(n->log, sizeof(n->log), "%s/%s.log", opt.work, slug);
	snprintf(n->sock, sizeof(n->sock), "ipc://%s/net/run/%s/case.sock", opt.work, slug);
	snprintf(n->db, sizeof(n->db), "%s/net/state/%s/node.db", opt.work, slug);
	if (access(n->conf, R_OK) != 0)
		die("%s: %s", n->conf, strerror(errno));
}

/* The node's log since its last start, NUL-terminated (caller frees). */
static char *
log_read(const struct node *n, off_t from)
{
	int fd = open(n->log, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char *t;
	ssize_t got;
	size_t len;

	if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size < from) {
		if (fd >= 0)
			close(fd);
		return strdup("");
	}
	len = (size_t)(sb.st_size - from);
	if ((t = malloc(len + 1)) == NULL)
		die("out of memory");
	got = pread(fd, t, len, from);
	close(fd);
	t[got > 0 ? (size_t)got : 0] = '\0';
	return t;
}

static void
log_tail(const struct node *n, int lines)
{
	char *t = log_read(n, 0), *p;
	int k = 0;

	for (p = t + strlen(t); p > t; p--)
		if (p[-1] == '\n' && ++k > lines)
			break;
	fprintf(stderr, "---- %s log, last lines:\n%s", n->slug, p);
	free(t);
}

/* Start bindir/ketend for node n and wait until it logs that it is ready. */
static void
node_start(struct node *n, const char *bindir)
{
	char ketend[PATH_MAX];
	char *argv[] = { ketend, "-c", n->conf, NULL };
	struct stat sb;
	double end = now_s() + 15;

	snprintf(ketend, sizeof(ketend), "%s/ketend", bindir);
	n->log_from = stat(n->log, &sb) == 0 ? sb.st_size : 0;
	n->pid = spawn(argv, n->log);
	for (;;) {
		char *t = log_read(n, n->log_from);
		int ready = strstr(t, " ready") != NULL;
		int st;

		free(t);
		if (ready)
			return;
		if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
			kid_del(n->pid);
			log_tail(n, 10);
			die("ketend %s exited at start (status %d)", n->slug, st);
		}
		if (now_s() > end) {
			log_tail(n, 10);
			die("ketend %s not ready after 15 s", n->slug);
		}
		sleep_s(0.02);
	}
}

/* SIGTERM and wait for the drain; 0 on a clean exit. */
static int
node_stop(struct node *n)
{
	int st;

	if (n->pid <= 0)
		return 0;
	kill(n->pid, SIGTERM);
	if ((st = wait_exit(n->pid, 20)) < 0) {
		fprintf(stderr, "bench_nodes: ketend %s did not stop within 20 s of SIGTERM; killed\n",
		    n->slug);
		kill(n->pid, SIGKILL);
		wait_exit(n->pid, 5);
		n->pid = 0;
		return -1;
	}
	n->pid = 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* CPU time (user and system, all threads) pid has used, in seconds; 0
 * when it cannot be read. */
static double
cpu_s(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	int ok = 0;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	/* after the ")" that ends comm: state (3), ..., utime (14), stime (15) */
	if (fgets(line, sizeof(line), f) != NULL && (p = strrchr(line, ')')) != NULL)
		ok = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		    &ut, &st) == 2;
	fclose(f);
	return ok ? (double)(ut + st) / (double)sysconf(_SC_CLK_TCK) : 0;
}

/* VmRSS and VmHWM of pid, in KiB. */
static void
mem_kib(pid_t pid, long *rss, long *hwm)
{
	char path[64], line[256];
	FILE *f;

	*rss = *hwm = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm = strtol(line + 6, NULL, 10);
	}
	fclose(f);
}

/* Start the peak RSS again from the current RSS (Linux >= 4.0).
 * 0 on success. */
static int
hwm_reset(pid_t pid)
{
	char path[64];
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	r = write(fd, "5", 1) == 1 ? 0 : -1;
	close(fd);
	return r;
}

/* ------------------------------------------------------------------ */
/* statistics */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct dist {
	size_t n;
	double p50, p99, max;	/* seconds */
};

static struct dist
dist_of(double *v, size_t n)
{
	struct dist d = { n, NAN, NAN, NAN };

	if (n == 0)
		return d;
	qsort(v, n, sizeof(*v), cmp_double);
	d.p50 = v[(size_t)((double)(n - 1) * 0.50 + 0.5)];
	d.p99 = v[(size_t)((double)(n - 1) * 0.99 + 0.5)];
	d.max = v[n - 1];
	return d;
}

/* ------------------------------------------------------------------ */
/* baseline: raw CurveZMQ, fsync */

struct curve_keys {
	char spub[41], ssec[41], cpub[41], csec[41];
};

static void
curve_keys_make(struct curve_keys *k)
{
	if (zmq_curve_keypair(k->spub, k->ssec) != 0 || zmq_curve_keypair(k->cpub, k->csec) != 0)
		die("zmq_curve_keypair: %s (libzmq without CURVE?)", zmq_strerror(errno));
}

/* A CURVE server socket of type t bound to an ephemeral loopback port. */
static void *
curve_server(void *ctx, int type, const struct curve_keys *k, char *ep, size_t eplen)
{
	void *s = zmq_socket(ctx, type);
	int one = 1, zero = 0;

	if (s == NULL || zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, k->ssec, 40) != 0 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_bind(s, "tcp://127.0.0.1:*") != 0 ||
	    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &eplen) != 0)
		die("raw CurveZMQ server: %s", zmq_strerror(errno));
	return s;
}

static void *
curve_client(void *ctx, int type, const struct curve_keys *k, const char *ep)
{
	void *s = zmq_socket(ctx, type);
	int zero = 0;

	if (s == NULL || zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, k->spub, 40) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, k->cpub, 40) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, k->csec, 40) != 0 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_connect(s, ep) != 0)
		die("raw CurveZMQ client: %s", zmq_strerror(errno));
	return s;
}

struct pull_arg {
	void *sock;
	size_t n;
	double t_first, t_last;
};

/* Counts 1 KiB frames until a 1-byte frame ends the run. */
static void *
pull_main(void *a)
{
	struct pull_arg *pa = a;
	char buf[2048];

	for (;;) {
		int r = zmq_recv(pa->sock, buf, sizeof(buf), 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (r == 1)
			break;
		pa->t_last = now_s();
		if (pa->n++ == 0)
			pa->t_first = pa->t_last;
	}
	return NULL;
}

/* Raw CurveZMQ PUSH -> PULL of 1 KiB frames for `secs`: frames per
 * second as the receiver sees them.  Client and server have a ZeroMQ
 * context each (an I/O thread each), as two processes would. */
static double
raw_pushpull(double secs)
{
	struct curve_keys k;
	void *cs = zmq_ctx_new(), *cc = zmq_ctx_new(), *pull, *push;
	char ep[256], frame[1024];
	struct pull_arg pa = { 0 };
	pthread_t th;
	double end;

	curve_keys_make(&k);
	pull = curve_server(cs, ZMQ_PULL, &k, ep, sizeof(ep));
	push = curve_client(cc, ZMQ_PUSH, &k, ep);
	randombytes_buf(frame, sizeof(frame));
	pa.sock = pull;
	if (pthread_create(&th, NULL, pull_main, &pa) != 0)
		die("pthread_create");
	/* the handshake, and a warm-up */
	for (int i = 0; i < 2000; i++)
		zmq_send(push, frame, sizeof(frame), 0);
	end = now_s() + secs;
	while (now_s() < end)
		for (int i = 0; i < 256; i++)
			if (zmq_send(push, frame, sizeof(frame), 0) < 0)
				die("raw push: %s", zmq_strerror(errno));
	zmq_send(push, "x", 1, 0);
	pthread_join(th, NULL);
	zmq_close(push);
	zmq_close(pull);
	zmq_ctx_term(cc);
	zmq_ctx_term(cs);
	return pa.n > 1 ? (double)(pa.n - 1) / (pa.t_last - pa.t_first) : 0;
}

static void *
echo_main(void *a)
{
	void *s = a;

	for (;;) {
		zmq_msg_t id, body;

		zmq_msg_init(&id);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&id, s, 0) < 0 || zmq_msg_recv(&body, s, 0) < 0) {
			zmq_msg_close(&id);
			zmq_msg_close(&body);
			break;
		}
		if (zmq_msg_size(&body) == 1) {
			zmq_msg_close(&id);
			zmq_msg_close(&body);
			break;
		}
		zmq_msg_send(&id, s, ZMQ_SNDMORE);
		zmq_msg_send(&body, s, 0);
	}
	return NULL;
}

/* Raw CurveZMQ DEALER -> ROUTER -> DEALER round trips of 1 KiB, one at a
 * time, paced like the slow phase. */
static struct dist
raw_roundtrip(int n, double gap)
{
	struct curve_keys k;
	void *cs = zmq_ctx_new(), *cc = zmq_ctx_new(), *router, *dealer;
	char ep[256], frame[1024], back[2048];
	double *v = calloc((size_t)n, sizeof(*v));
	pthread_t th;
	struct dist d;

	if (v == NULL)
		die("out of memory");
	curve_keys_make(&k);
	router = curve_server(cs, ZMQ_ROUTER, &k, ep, sizeof(ep));
	dealer = curve_client(cc, ZMQ_DEALER, &k, ep);
	randombytes_buf(frame, sizeof(frame));
	if (pthread_create(&th, NULL, echo_main, router) != 0)
		die("pthread_create");
	for (int i = -50; i < n; i++) {
		double t0 = now_s();

		if (zmq_send(dealer, frame, sizeof(frame), 0) < 0 ||
		    zmq_recv(dealer, back, sizeof(back), 0) < 0)
			die("raw round trip: %s", zmq_strerror(errno));
		if (i >= 0)
			v[i] = now_s() - t0;
		sleep_s(gap);
	}
	zmq_send(dealer, "x", 1, 0);
	pthread_join(th, NULL);
	zmq_close(dealer);
	zmq_close(router);
	zmq_ctx_term(cc);
	zmq_ctx_term(cs);
	d = dist_of(v, (size_t)n);
	free(v);
	return d;
}

/* `chain` appends of `size` bytes, each followed by fsync, timed
 * together, n times with `gap` seconds between: one append of 4 KiB is a
 * small WAL commit; three of 48 KiB in a row are what a message waits
 * for at low load (the sender's submit, the recipient's receipt and the
 * sender's stored receipt commit about six 8 KiB pages each, appended
 * to a WAL that a fresh store is still growing), on the file system that
 * holds the nodes' stores. */
static struct dist
raw_fsync(int n, size_t size, int chain, double gap)
{
	char path[PATH_MAX];
	double *v = calloc((size_t)n, sizeof(*v));
	uint8_t *blk = malloc(size);
	struct dist d;
	int fd;

	if (v == NULL || blk == NULL)
		die("out of memory");
	snprintf(path, sizeof(path), "%s/fsync.test", opt.work);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		die("%s: %s", path, strerror(errno));
	memset(blk, 0x5a, size);
	for (int i = 0; i < n; i++) {
		double t0 = now_s();

		for (int k = 0; k < chain; k++)
			if (write(fd, blk, size) != (ssize_t)size || fsync(fd) != 0)
				die("%s: %s", path, strerror(errno));
		v[i] = now_s() - t0;
		sleep_s(gap);
	}
	close(fd);
	unlink(path);
	d = dist_of(v, (size_t)n);
	free(blk);
	free(v);
	return d;
}

/* ------------------------------------------------------------------ */
/* messages and payloads */

enum { PH_WARMUP, PH_SLOW, PH_SAT, PH_PACED, PH_QUEUED, PH_DOSSIER, PH_COUNT };

struct msg {
	double t_sub;		/* SubmitRequest handed to ZeroMQ */
	double t_ack;		/* SubmitResponse received */
	double t_done;		/* receipt seen in the sender's store */
	int8_t state;		/* 0 pending, DeliveryState when final, -1 refused at submit */
	uint8_t phase;
	uint8_t msg_id[16];
};

/* M[i] is message number m_base + i, case_ref "bench-<m_base + i>": the
 * numbers run on across the starts of the nodes (A/B legs), M[] starts
 * again at each. */
static struct msg *M;
static size_t m_base;		/* changed only while the receipt poller is stopped */
static atomic_size_t nsent;	/* M[0..nsent) are submitted (release/acquire) */
static atomic_size_t phase_final[PH_COUNT];
static atomic_size_t phase_delivered[PH_COUNT];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;	/* M[].t_done/state */

/* Mark message i final (poller thread or status poller), under mu. */
static void
msg_final(size_t i, int state, double t)
{
	if (M[i].state != 0)
		return;
	M[i].t_done = t;
	M[i].state = (int8_t)state;
	if (state == KETEN__V1__DELIVERY_STATE__STATE_DELIVERED)
		atomic_fetch_add(&phase_delivered[M[i].phase], 1);
	atomic_fetch_add(&phase_final[M[i].phase], 1);
}

static size_t next_msg;	/* index in M[] of the next message */

/* Start the bookkeeping again for a new start of the nodes, numbering on
 * from the last message.  Only while the receipt poller is stopped. */
static void
msgs_reset(void)
{
	size_t used = atomic_load(&nsent);

	memset(M, 0, used * sizeof(*M));
	m_base += next_msg;
	next_msg = 0;
	atomic_store(&nsent, 0);
	for (int k = 0; k < PH_COUNT; k++) {
		atomic_store(&phase_final[k], 0);
		atomic_store(&phase_delivered[k], 0);
	}
}

/* A serialized DossierDelivery of exactly `target` bytes (padded in the
 * summary), or with one attachment of `attach` random bytes. */
static uint8_t *
payload_make(size_t target, size_t attach, size_t *len)
{
	Keten__V1__DossierDelivery d = KETEN__V1__DOSSIER_DELIVERY__INIT;
	Keten__V1__Person p = KETEN__V1__PERSON__INIT;
	Keten__V1__ProcedureStep ps = KETEN__V1__PROCEDURE_STEP__INIT, *pps = &ps;
	Keten__V1__Attachment a = KETEN__V1__ATTACHMENT__INIT, *pa = &a;
	char *nat[] = { "ERI" }, *lang[] = { "ti", "en" };
	uint8_t sha[32], *out;
	char *summary = NULL;
	size_t base;

	p.v_number = "3012345678";
	p.family_name = "Voorbeeld";
	p.given_names = "Amina";
	p.birth_date = "1994-05-17";
	p.sex = "V";
	p.n_nationalities = 1;
	p.nationalities = nat;
	p.n_languages = 2;
	p.languages = lang;
	ps.type = "asylum";
	ps.decision = "rejected";
	ps.date = "2025-03-01";
	ps.reference = "IND-2025-000123";
	d.person = &p;
	d.n_procedures = 1;
	d.procedures = &pps;
	d.return_status = "no travel document; embassy interview requested";
	d.return_officer = "DTV-REGIE-07";
	d.intake_date = "2026-11-20";
	if (attach > 0) {
		if ((a.content.data = malloc(attach)) == NULL)
			die("out of memory");
		randombytes_buf(a.content.data, attach);
		a.content.len = attach;
		crypto_hash_sha256(sha, a.content.data, attach);
		a.sha256.data = sha;
		a.sha256.len = 32;
		a.name = "dossier.pdf";
		a.media_type = "application/pdf";
		d.n_attachments = 1;
		d.attachments = &pa;
	} else {
		base = keten__v1__dossier_delivery__get_packed_size(&d);
		/* summary: 1 byte tag, a 1..2 byte length, then the text */
		for (size_t l = target > base + 3 ? target - base - 3 : 0; l <= target; l++) {
			size_t vl = l < 128 ? 1 : 2;

			if (base + 1 + vl + l == target) {
				if ((summary = malloc(l + 1)) == NULL)
					die("out of memory");
				memset(summary, 's', l);
				summary[l] = '\0';
				break;
			}
		}
		if (summary == NULL)
			die("cannot pad a payload to %zu bytes", target);
		d.summary = summary;
	}
	*len = keten__v1__dossier_delivery__get_packed_size(&d);
	if ((out = malloc(*len)) == NULL)
		die("out of memory");
	keten__v1__dossier_delivery__pack(&d, out);
	free(summary);
	free(a.content.data);
	if (attach == 0 && *len != target)
		die("payload is %zu bytes, not %zu", *len, target);
	if (payload_validate(KETEN__V1__KIND__DOSSIER_DELIVERY, out, *len) != 0)
		die("the bench's payload does not validate");
	return out;
}

/* ------------------------------------------------------------------ */
/* receipts: the sender's store, read-only */

static struct {
	sqlite3 *db;
	char path[PATH_MAX];	/* the sender's store */
	sqlite3_stmt *scan;
	int64_t from;		/* no row below this id changed since the last poll */
	atomic_int interval_us;
	atomic_int run, enabled;
	pthread_t th;
	double busy;		/* seconds spent polling */
	size_t polls;
} rp;

/* Rows still waiting after which a scan stops: receipts come back in
 * the order the messages went out, so the rows after a run of waiting
 * ones are waiting too (one that is not is seen when the scan reaches it
 * in a later poll, a little late). */
#define SCAN_WAITING_MAX 64

/* The poll interval at saturation.  Every poll is a read transaction
 * and a scan, and this machine's two cores are what the nodes run on:
 * polling every 1 ms took 11% of a core from them, every 5 ms 8%.
 * Latencies there are hundreds of milliseconds, so 5 ms more or less
 * when a receipt is seen does not show; the paced phases poll every
 * 0.1-0.25 ms, where the latency is what they measure. */
#define SAT_POLL_US 5000

static void
rp_open(const char *path)
{
	char uri[PATH_MAX + 32];
	sqlite3_stmt *st;
	int rc;

	snprintf(rp.path, sizeof(rp.path), "%s", path);
	snprintf(uri, sizeof(uri), "file:%s?mode=ro", path);
	rc = sqlite3_open_v2(uri, &rp.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		die("%s: %s", path, rp.db ? sqlite3_errmsg(rp.db) : "cannot open");
	sqlite3_busy_timeout(rp.db, 1000);
	/* Rows already there are an earlier leg's: the watch starts after
	 * them (outbox ids only grow: the node appends rows and deletes
	 * none). */
	if (sqlite3_prepare_v2(rp.db, "SELECT coalesce(max(id), 0) FROM outbox", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		die("%s: %s", path, sqlite3_errmsg(rp.db));
	rp.from = sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	/* Walks outbox_rcpt's primary key (oid, rcpt) from `from`. */
	if (sqlite3_prepare_v2(rp.db,
	    "SELECT r.oid, r.state, o.case_ref FROM outbox_rcpt r JOIN outbox o ON o.id = r.oid"
	    " WHERE r.oid >= ?1 ORDER BY r.oid", -1, &rp.scan, NULL) != SQLITE_OK)
		die("%s: %s", path, sqlite3_errmsg(rp.db));
}

/* A phase that did not end: what the sender's store says of (up to five
 * of) the messages still waiting, and the end of both logs.  Its own
 * connection: the poller thread has rp.db. */
static void
rp_report_waiting(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	uint64_t now = (uint64_t)(now_s() * 1000);

	if (sqlite3_open_v2(rp.path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return;
	}
	sqlite3_busy_timeout(db, 1000);
	if (sqlite3_prepare_v2(db, "SELECT o.case_ref, r.state, r.attempts, r.next_at,"
	    " coalesce(r.last_error, ''), o.created_at FROM outbox_rcpt r JOIN outbox o"
	    " ON o.id = r.oid WHERE r.oid >= ?1 AND r.state IN (1, 2) ORDER BY r.oid LIMIT 5",
	    -1, &st, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return;
	}
	sqlite3_bind_int64(st, 1, rp.from);
	while (sqlite3_step(st) == SQLITE_ROW)
		fprintf(stderr, "bench_nodes: waiting: %s state %d, %d attempt(s), next in %lld ms, "
		    "created %lld ms ago, last error \"%s\"\n", sqlite3_column_text(st, 0),
		    sqlite3_column_int(st, 1), sqlite3_column_int(st, 2),
		    (long long)(sqlite3_column_int64(st, 3) - (sqlite3_int64)now),
		    (long long)((sqlite3_int64)now - sqlite3_column_int64(st, 5)),
		    sqlite3_column_text(st, 4));
	sqlite3_finalize(st);
	sqlite3_close(db);
	log_tail(&sender, 8);
	log_tail(&rcpt, 8);
}

static void
rp_close(void)
{
	sqlite3_finalize(rp.scan);
	sqlite3_close(rp.db);
	rp.db = NULL;
}

/* One read transaction: every row from the lowest one that was still
 * waiting at the last poll, up to a run of SCAN_WAITING_MAX waiting rows;
 * the final ones are marked, and `from` moves to the first waiting row. */
static void
rp_poll(void)
{
	size_t ns = atomic_load_explicit(&nsent, memory_order_acquire);
	int64_t first_waiting = -1, last = rp.from - 1;
	double t0 = now_s();
	int rc, run = 0;

	if (sqlite3_exec(rp.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(rp.scan, 1, rp.from);
	pthread_mutex_lock(&mu);
	while ((rc = sqlite3_step(rp.scan)) == SQLITE_ROW) {
		int64_t oid = sqlite3_column_int64(rp.scan, 0);
		int state = sqlite3_column_int(rp.scan, 1);
		const char *ref;
		char *end;
		unsigned long i;

		last = oid;
		if (state < 3) {
			if (first_waiting < 0)
				first_waiting = oid;
			if (++run >= SCAN_WAITING_MAX)
				break;
			continue;
		}
		run = 0;
		ref = (const char *)sqlite3_column_text(rp.scan, 2);
		if (ref == NULL || strncmp(ref, "bench-", 6) != 0)
			continue;
		i = strtoul(ref + 6, &end, 10);
		if (*end == '\0' && i >= m_base && i - m_base < ns)
			msg_final(i - m_base, state, t0);
	}
	pthread_mutex_unlock(&mu);
	sqlite3_reset(rp.scan);
	sqlite3_exec(rp.db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rp.from = first_waiting >= 0 ? first_waiting : last + 1;
	rp.busy += now_s() - t0;
	rp.polls++;
}

static void *
rp_main(void *a)
{
	(void)a;
	/* without this a 100 µs sleep takes 150 µs */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	while (atomic_load(&rp.run)) {
		if (atomic_load(&rp.enabled))
			rp_poll();
		sleep_s((double)atomic_load(&rp.interval_us) / 1e6);
	}
	return NULL;
}

/* Open the sender's store db (its node running) and start the poller
 * thread; it watches only the rows added from now on. */
static void
rp_start(const char *db)
{
	rp_open(db);
	atomic_store(&rp.run, 1);
	atomic_store(&rp.enabled, !opt.status_mode);
	atomic_store(&rp.interval_us, 1000);
	if (pthread_create(&rp.th, NULL, rp_main, NULL) != 0)
		die("pthread_create");
}

static void
rp_stop(void)
{
	atomic_store(&rp.run, 0);
	pthread_join(rp.th, NULL);
	rp_close();
}

/* ------------------------------------------------------------------ */
/* the local API, pipelined */

struct client {
	void *ctx;
	void *s[NSOCK_MAX];
	unsigned out[NSOCK_MAX];	/* requests outstanding per socket */
	unsigned nsock;
	unsigned outstanding;
	size_t acked, errors;
	char first_error[512];
	/* what every 1 KiB submission carries */
	uint8_t *payload;
	size_t plen;
	char rcpt_oin[32];
	/* status polling (--receipts status) */
	void *st;
	size_t st_out;
};

static void
client_open(struct client *c, const char *ep, unsigned window)
{
	int zero = 0;
	int64_t max = 256ll << 20;

	memset(c, 0, sizeof(*c));
	c->nsock = (window + PER_SOCK - 1) / PER_SOCK;
	if (c->nsock > NSOCK_MAX)
		c->nsock = NSOCK_MAX;
	if ((c->ctx = zmq_ctx_new()) == NULL)
		die("zmq_ctx_new");
	for (unsigned i = 0; i <= c->nsock; i++) {
		void *s = zmq_socket(c->ctx, ZMQ_DEALER);

		if (s == NULL || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
		    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0 ||
		    zmq_connect(s, ep) != 0)
			die("%s: %s", ep, zmq_strerror(errno));
		if (i < c->nsock)
			c->s[i] = s;
		else
			c->st = s;
	}
}

static void
client_close(struct client *c)
{
	for (unsigned i = 0; i < c->nsock; i++)
		zmq_close(c->s[i]);
	zmq_close(c->st);
	zmq_ctx_term(c->ctx);
	free(c->payload);
}

/* Send one packed LocalRequest on socket k; 0, or -1 on EAGAIN. */
static int
send_req(void *s, const Keten__V1__LocalRequest *req)
{
	uint8_t stackbuf[4096], *b = stackbuf;
	size_t len = keten__v1__local_request__get_packed_size(req);
	int r;

	if (len > sizeof(stackbuf) && (b = malloc(len)) == NULL)
		die("out of memory");
	keten__v1__local_request__pack(req, b);
	r = zmq_send(s, b, len, ZMQ_DONTWAIT);
	if (b != stackbuf)
		free(b);
	if (r < 0) {
		if (errno == EAGAIN)
			return -1;
		die("local API send: %s", zmq_strerror(errno));
	}
	return 0;
}

/* Submit message i (payload p of len bytes) on the least busy socket.
 * 0, or -1 when ZeroMQ would block. */
static int
submit(struct client *c, size_t i, const uint8_t *p, size_t len, int phase)
{
	Keten__V1__LocalRequest req = KETEN__V1__LOCAL_REQUEST__INIT;
	Keten__V1__SubmitRequest sr = KETEN__V1__SUBMIT_REQUEST__INIT;
	char ref[32], *rcpts[1] = { c->rcpt_oin };
	unsigned k = 0;

	for (unsigned j = 1; j < c->nsock; j++)
		if (c->out[j] < c->out[k])
			k = j;
	snprintf(ref, sizeof(ref), "bench-%zu", m_base + i);
	sr.kind = KETEN__V1__KIND__DOSSIER_DELIVERY;
	sr.n_recipients = 1;
	sr.recipients = rcpts;
	sr.case_ref = ref;
	sr.purpose = "lvv-intake";
	sr.payload.data = (uint8_t *)p;
	sr.payload.len = len;
	req.request_id = i + 1;
	req.op_case = KETEN__V1__LOCAL_REQUEST__OP_SUBMIT;
	req.submit = &sr;
	M[i].phase = (uint8_t)phase;
	M[i].state = 0;
	M[i].t_done = M[i].t_ack = 0;
	M[i].t_sub = now_s();
	atomic_store_explicit(&nsent, i + 1, memory_order_release);
	if (send_req(c->s[k], &req) != 0)
		return -1;
	c->out[k]++;
	c->outstanding++;
	return 0;
}

static void
client_error(struct client *c, size_t i, const Keten__V1__LocalError *e)
{
	if (c->errors++ == 0)
		snprintf(c->first_error, sizeof(c->first_error), "message %zu: %s (%s)", i,
		    e->message ? e->message : "?", e->name ? e->name : "?");
}

/* Read the answers waiting on socket k. */
static void
drain_sock(struct client *c, unsigned k)
{
	for (;;) {
		zmq_msg_t m;
		Keten__V1__LocalResponse *rs;
		size_t i;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->s[k], ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			if (errno != EAGAIN)
				die("local API receive: %s", zmq_strerror(errno));
			return;
		}
		rs = keten__v1__local_response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
		zmq_msg_close(&m);
		if (rs == NULL)
			die("the node's answer is not a LocalResponse");
		i = (size_t)rs->request_id - 1;
		if (rs->request_id == 0 || i >= atomic_load(&nsent))
			die("answer to an unknown request %llu", (unsigned long long)rs->request_id);
		c->out[k]--;
		c->outstanding--;
		M[i].t_ack = now_s();
		if (rs->error != NULL) {
			client_error(c, i, rs->error);
			pthread_mutex_lock(&mu);
			msg_final(i, -1, M[i].t_ack);
			pthread_mutex_unlock(&mu);
		} else if (rs->submit != NULL && rs->submit->msg_id.len == 16) {
			memcpy(M[i].msg_id, rs->submit->msg_id.data, 16);
			c->acked++;
		} else {
			die("submit answer without a msg_id");
		}
		keten__v1__local_response__free_unpacked(rs, NULL);
	}
}

/* Wait up to `wait` seconds for answers and read them all. */
static void
client_poll(struct client *c, double wait)
{
	zmq_pollitem_t it[NSOCK_MAX + 1];
	long ms = wait <= 0 ? 0 : (long)(wait * 1000 + 0.999);

	for (unsigned k = 0; k < c->nsock; k++)
		it[k] = (zmq_pollitem_t){ c->s[k], 0, ZMQ_POLLIN, 0 };
	it[c->nsock] = (zmq_pollitem_t){ c->st, 0, ZMQ_POLLIN, 0 };
	if (zmq_poll(it, (int)c->nsock + (opt.status_mode ? 1 : 0), ms) < 0 && errno != EINTR)
		die("zmq_poll: %s", zmq_strerror(errno));
	for (unsigned k = 0; k < c->nsock; k++)
		drain_sock(c, k);
}

/* --receipts status: ask the status of every acknowledged message that
 * has no receipt yet, all at once, and read the answers. */
static void
status_round(struct client *c, size_t *from, size_t to)
{
	size_t asked = 0;

	while (*from < to && M[*from].state != 0)
		(*from)++;
	for (size_t i = *from; i < to; i++) {
		Keten__V1__LocalRequest req = KETEN__V1__LOCAL_REQUEST__INIT;
		Keten__V1__StatusRequest sr = KETEN__V1__STATUS_REQUEST__INIT;

		if (M[i].state != 0 || M[i].t_ack == 0)
			continue;
		sr.msg_id.data = M[i].msg_id;
		sr.msg_id.len = 16;
		req.request_id = REQ_STATUS_BIT | i;
		req.op_case = KETEN__V1__LOCAL_REQUEST__OP_STATUS;
		req.status = &sr;
		if (send_req(c->st, &req) != 0)
			break;
		asked++;
		if (asked >= PER_SOCK)
			break;
	}
	while (asked > 0) {
		zmq_msg_t m;
		Keten__V1__LocalResponse *rs;
		double t;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->st, 0) < 0)
			die("status receive: %s", zmq_strerror(errno));
		t = now_s();
		rs = keten__v1__local_response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
		zmq_msg_close(&m);
		if (rs == NULL || !(rs->request_id & REQ_STATUS_BIT))
			die("status: unexpected answer");
		asked--;
		if (rs->status != NULL && rs->status->n_recipients == 1 &&
		    rs->status->recipients[0]->state >= 3) {
			pthread_mutex_lock(&mu);
			msg_final((size_t)(rs->request_id & ~REQ_STATUS_BIT),
			    rs->status->recipients[0]->state, t);
			pthread_mutex_unlock(&mu);
		}
		keten__v1__local_response__free_unpacked(rs, NULL);
	}
}

/* ------------------------------------------------------------------ */
/* phases */

struct phase_res {
	size_t n, delivered, acked;
	double t0, t_last_sub, t_end;
	double rate;			/* receipted messages per second */
	double submit_rate;
	struct dist lat, ack;
	double behind;			/* largest lag of the pacer behind schedule */
	double cpu[2];			/* CPU seconds of the sender, the recipient */
	int complete;
};

struct phase {
	int id;
	const char *name;
	size_t count;		/* messages, or 0: as many as fit in `seconds` */
	double seconds;
	double rate;		/* 0: as fast as the window allows */
	unsigned inflight;	/* cap on submitted but not receipted; 0: none */
	int wait_receipts;	/* wait until every message is final */
	double drain_timeout;
	int poll_us;
	const uint8_t *payload;	/* NULL: the 1 KiB one */
	size_t plen;
};

static size_t
phase_final_count(int id)
{
	return atomic_load_explicit(&phase_final[id], memory_order_acquire);
}

static void
run_phase(struct client *c, const struct phase *ph, struct phase_res *res)
{
	size_t first = next_msg, n = 0, cap = ph->count ? ph->count : MSG_MAX - first;
	const uint8_t *p = ph->payload ? ph->payload : c->payload;
	size_t plen = ph->payload ? ph->plen : c->plen;
	double t0 = now_s(), end = ph->seconds > 0 ? t0 + ph->seconds : INFINITY;
	double last_status = 0, *lat, *ack;
	size_t st_from = first;
	size_t nl = 0, na = 0;

	memset(res, 0, sizeof(*res));
	if (first + cap > MSG_MAX)
		die("more than %d messages", MSG_MAX);
	atomic_store(&rp.interval_us, ph->poll_us);
	res->t0 = t0;
	res->cpu[0] = -cpu_s(sender.pid);
	res->cpu[1] = -cpu_s(rcpt.pid);
	c->errors = 0;
	/* submit */
	for (;;) {
		double now = now_s(), wait = 0;
		int blocked = 0;

		if (n >= cap || (ph->count == 0 && now >= end))
			break;
		while (n < cap) {
			double due = ph->rate > 0 ? t0 + (double)n / ph->rate : now;

			if (due > now) {
				wait = due - now;
				break;
			}
			if (c->outstanding >= opt.window ||
			    (ph->inflight && n - phase_final_count(ph->id) >= ph->inflight) ||
			    submit(c, first + n, p, plen, ph->id) != 0) {
				blocked = 1;
				break;
			}
			if (now - due > res->behind)
				res->behind = now - due;
			n++;
			if (ph->count == 0 && (n & 255) == 0 && (now = now_s()) >= end)
				break;
		}
		if (blocked || (wait >= 0.001 && c->outstanding > 0)) {
			client_poll(c, 0.001);	/* an answer, or the next receipt poll */
		} else if (wait > 0) {
			/* zmq_poll counts whole milliseconds: sleep the rest */
			client_poll(c, 0);
			sleep_s(wait < 0.001 ? wait : 0.001);
		} else {
			client_poll(c, 0);
		}
		if (opt.status_mode && now_s() - last_status >= (double)ph->poll_us / 1e6) {
			status_round(c, &st_from, first + n);
			last_status = now_s();
		}
	}
	next_msg = first + n;
	if (ph->count == 0 && n >= cap)
		die("%s: more than %d messages in one start of the nodes (fewer --seconds)",
		    ph->name, MSG_MAX);
	/* the answers to every submission */
	{
		double stop = now_s() + 60;

		while (c->outstanding > 0) {
			if (now_s() > stop)
				die("%s: %u submissions unanswered after 60 s", ph->name,
				    c->outstanding);
			client_poll(c, 0.005);
		}
		res->t_last_sub = now_s();
	}
	/* and the receipts */
	if (ph->wait_receipts) {
		double stop = now_s() + ph->drain_timeout;

		res->complete = 1;
		while (phase_final_count(ph->id) < n) {
			if (now_s() > stop) {
				res->complete = 0;
				rp_report_waiting();
				break;
			}
			if (opt.status_mode) {
				status_round(c, &st_from, first + n);
				sleep_s((double)ph->poll_us / 1e6);
			} else {
				sleep_s(0.0005);
			}
		}
	}
	res->t_end = now_s();
	res->cpu[0] += cpu_s(sender.pid);
	res->cpu[1] += cpu_s(rcpt.pid);
	/* results */
	lat = calloc(n ? n : 1, sizeof(*lat));
	ack = calloc(n ? n : 1, sizeof(*ack));
	if (lat == NULL || ack == NULL)
		die("out of memory");
	pthread_mutex_lock(&mu);
	{
		double last_done = t0;

		for (size_t i = first; i < first + n; i++) {
			if (M[i].t_ack > 0 && M[i].state != -1)
				ack[na++] = M[i].t_ack - M[i].t_sub;
			if (M[i].state == KETEN__V1__DELIVERY_STATE__STATE_DELIVERED) {
				lat[nl++] = M[i].t_done - M[i].t_sub;
				if (M[i].t_done > last_done)
					last_done = M[i].t_done;
			}
		}
		if (ph->wait_receipts && res->complete)
			res->t_end = last_done;
	}
	pthread_mutex_unlock(&mu);
	res->n = n;
	res->acked = na;
	res->delivered = nl;
	res->lat = dist_of(lat, nl);
	res->ack = dist_of(ack, na);
	res->rate = res->t_end > t0 ? (double)nl / (res->t_end - t0) : 0;
	res->submit_rate = res->t_last_sub > t0 ? (double)na / (res->t_last_sub - t0) : 0;
	free(lat);
	free(ack);
	if (c->errors)
		fprintf(stderr, "bench_nodes: %s: %zu submission(s) refused; first: %s\n", ph->name,
		    c->errors, c->first_error);
}

/* ------------------------------------------------------------------ */
/* perf */

static pid_t perf_pid[2];

static void
perf_start(void)
{
	char perf[] = "/usr/bin/perf";
	const struct node *ns[2] = { &sender, &rcpt };

	if (opt.perf == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		char out[PATH_MAX], pid[16], log[PATH_MAX];
		char *argv[] = { perf, "record", "-g", "-q", "-o", out, "-p", pid, NULL, NULL, NULL,
			NULL, NULL };
		/* BENCH_PERF_CALLGRAPH=dwarf: call stacks through code built
		 * without frame pointers (libsodium, libsqlite3), sampled less
		 * often because each sample carries a copy of the stack */
		const char *cg = getenv("BENCH_PERF_CALLGRAPH");

		if (cg != NULL && cg[0] != '\0') {
			argv[2] = "--call-graph";
			argv[3] = (char *)cg;
			argv[4] = "-q";
			argv[5] = "-F";
			argv[6] = "499";
			argv[7] = "-o";
			argv[8] = out;
			argv[9] = "-p";
			argv[10] = pid;
		}

		snprintf(out, sizeof(out), "%s/%s.perf.data", opt.perf, ns[i]->slug);
		snprintf(log, sizeof(log), "%s/%s.perf.log", opt.perf, ns[i]->slug);
		snprintf(pid, sizeof(pid), "%d", (int)ns[i]->pid);
		perf_pid[i] = spawn(argv, log);
	}
	sleep_s(0.3);	/* perf attaches */
}

static void
perf_stop(void)
{
	for (int i = 0; i < 2; i++) {
		if (perf_pid[i] <= 0)
			continue;
		kill(perf_pid[i], SIGINT);
		if (wait_exit(perf_pid[i], 30) < 0) {
			kill(perf_pid[i], SIGKILL);
			wait_exit(perf_pid[i], 5);
		}
		perf_pid[i] = 0;
	}
}

/* ------------------------------------------------------------------ */
/* output */

static const char *
verdict(int ok)
{
	return ok ? "met" : "NOT MET";
}

static void
row_rate(const char *what, double ops, size_t len, double base, const char *vs)
{
	printf("  %-46s %10.0f/s %8.1f MB/s", what, ops, ops * (double)len / 1e6);
	if (base > 0)
		printf("  %7.3fx %s", ops / base, vs);
	printf("\n");
}

static void
row_lat(const char *what, const struct dist *d, const struct dist *base, const char *tail)
{
	printf("  %-46s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms", what, d->p50 * 1e3,
	    d->p99 * 1e3, d->max * 1e3);
	if (base != NULL && base->p99 > 0)
		printf("  %7.1fx", d->p99 / base->p99);
	if (tail != NULL)
		printf(" %s", tail);
	printf("\n");
}

static void
row_mem(const char *what, double kib, const char *tail)
{
	printf("  %-46s %8.1f MiB", what, kib / 1024.0);
	if (tail != NULL)
		printf("  %s", tail);
	printf("\n");
}

/* warnings and errors the nodes logged */
static void
log_summary(const struct node *n)
{
	char *t = log_read(n, 0), *line, *save = NULL;
	size_t warn = 0, err = 0, shown = 0;

	for (line = strtok_r(t, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		int e = strstr(line, " error: ") != NULL, w = strstr(line, " warn: ") != NULL;

		if (!e && !w)
			continue;
		err += e;
		warn += w;
		if (shown++ < 4)
			printf("    %s\n", line);
	}
	printf("  %s: %zu error and %zu warning line(s) in its log\n", n->slug, err, warn);
	free(t);
}

/* ------------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench_nodes --work DIR [--bin DIR] [--seconds S] [--rate R] [--window N]\n"
	    "           [--inflight N] [--queued N] [--dossier-mib N] [--receipts db|status]\n"
	    "           [--perf DIR] [--timeout S]\n"
	    "       bench_nodes --work DIR [--bin DIR] --ab DIR_B [--rounds N] [--seconds S]\n"
	    "           [--label-a TEXT] [--label-b TEXT] [--ab-target R] [--fresh]\n"
	    "           [--timeout S] ...\n"
	    "DIR/net is a dev network made by certs/mkdevnet.sh; tests/bench/bench_nodes.sh\n"
	    "makes one and runs this.  --ab compares the ketend of --bin (A) with\n"
	    "DIR_B/ketend (B) in alternating legs (ABBA) and reports the ratio A/B of the\n"
	    "saturated rates; its --timeout defaults to 60 + 2 N (5 + S + 30) seconds.\n"
	    "--fresh starts every leg on empty node state (store, audit log and keys\n"
	    "removed), so that no leg runs on what the legs before it stored.\n");
	exit(2);
}

static void
options(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "work", required_argument, NULL, 'w' },
		{ "bin", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'W' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "queued", required_argument, NULL, 'q' },
		{ "dossier-mib", required_argument, NULL, 'd' },
		{ "receipts", required_argument, NULL, 'R' },
		{ "perf", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "ab", required_argument, NULL, 'A' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "label-a", required_argument, NULL, 'a' },
		{ "label-b", required_argument, NULL, 'B' },
		{ "ab-target", required_argument, NULL, 'g' },
		{ "fresh", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, rounds = (int)opt.rounds;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'w': opt.work = optarg; break;
		case 'b': opt.bin = optarg; break;
		case 's': opt.seconds = atof(optarg); break;
		case 'r': opt.rate = atof(optarg); break;
		case 'W': opt.window = (unsigned)atoi(optarg); break;
		case 'i': opt.inflight = (unsigned)atoi(optarg); break;
		case 'q': opt.queued = (unsigned)atoi(optarg); break;
		case 'd': opt.dossier_mib = (unsigned)atoi(optarg); break;
		case 'R':
			if (strcmp(optarg, "status") == 0)
				opt.status_mode = 1;
			else if (strcmp(optarg, "db") != 0)
				usage();
			break;
		case 'p': opt.perf = optarg; break;
		case 't': opt.timeout = (unsigned)atoi(optarg); opt.timeout_set = 1; break;
		case 'A': opt.ab = optarg; break;
		case 'n': rounds = atoi(optarg); break;
		case 'a': opt.label_a = optarg; break;
		case 'B': opt.label_b = optarg; break;
		case 'g': opt.ab_target = atof(optarg); break;
		case 'F': opt.fresh = 1; break;
		default: usage();
		}
	}
	if (opt.work == NULL || optind != argc || opt.window < 1 ||
	    opt.window > NSOCK_MAX * PER_SOCK || opt.seconds <= 0 || opt.rate <= 0 ||
	    rounds < 1 || rounds > ROUNDS_MAX || opt.ab_target < 0)
		usage();
	opt.rounds = (unsigned)rounds;
	if (opt.bin == NULL)
		opt.bin = KETEN_SRCDIR "/build/bin";
	if (opt.ab != NULL) {
		char path[PATH_MAX];

		if (opt.perf != NULL) {
			fprintf(stderr, "bench_nodes: --perf records one run of the nodes, not A/B legs\n");
			usage();
		}
		snprintf(path, sizeof(path), "%s/ketend", opt.ab);
		if (access(path, X_OK) != 0) {
			fprintf(stderr, "bench_nodes: %s: %s\n", path, strerror(errno));
			exit(2);
		}
		/* A leg takes about 10 s more than its saturated phase; this
		 * leaves room for a slow machine and for a leg's drain to run
		 * into its own time-out (tests/bench/bench_nodes.sh computes
		 * the same and passes it). */
		if (!opt.timeout_set)
			opt.timeout = (unsigned)(60 + 2.0 * opt.rounds *
			    (opt.slow_seconds + opt.seconds + 30));
	}
}

static void
read_oin(const char *slug, char *out, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/net/parties/%s/oin", opt.work, slug);
	if ((f = fopen(path, "r")) == NULL || fgets(out, (int)len, f) == NULL)
		die("%s: cannot read", path);
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

/* ------------------------------------------------------------------ */
/* a start of the nodes */

/* Start both nodes with bindir/ketend (the recipient first), connect a
 * local API client to the sender and start the receipt poller. */
static void
bench_up(struct client *c, const char *bindir)
{
	node_start(&rcpt, bindir);
	node_start(&sender, bindir);
	client_open(c, sender.sock, opt.window);
	read_oin(opt.to, c->rcpt_oin, sizeof(c->rcpt_oin));
	c->payload = payload_make(1024, 0, &c->plen);
	rp_start(sender.db);
}

/* The reverse of bench_up; *clean_s and *clean_r are 0 when the sender
 * and the recipient stopped cleanly on SIGTERM. */
static void
bench_down(struct client *c, int *clean_s, int *clean_r)
{
	rp_stop();
	client_close(c);
	*clean_s = node_stop(&sender);
	*clean_r = node_stop(&rcpt);
}

/* ------------------------------------------------------------------ */
/* A/B: two builds of ketend in alternating legs */

struct samples {
	double *v;
	size_t n, cap;
};

static void
samples_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		double *v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL)
			die("out of memory");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
}

struct leg {
	unsigned round;		/* from 1 */
	int b;			/* 1: the baseline's ketend (B) */
	struct phase_res slow, sat;
	int complete;		/* every message of both phases delivered */
	int clean;		/* both nodes stopped cleanly */
};

/* CPU per receipted message of a phase, in µs: sender, recipient (0 for
 * none). */
static double
cpu_per_msg(const struct phase_res *r, int node)
{
	return r->delivered ? r->cpu[node] / (double)r->delivered * 1e6 : 0;
}

static void
row_cpu(const char *what, const struct phase_res *r)
{
	printf("  %-46s sender %7.1f µs  recipient %7.1f µs  (CPU time, all threads)\n", what,
	    cpu_per_msg(r, 0), cpu_per_msg(r, 1));
}

/* "A" or "A (label)", for the summary rows. */
static void
side_name(int b, char *out, size_t len)
{
	const char *label = b ? opt.label_b : opt.label_a, *side = b ? "B" : "A";

	if (strcmp(label, side) == 0)
		snprintf(out, len, "%s", side);
	else
		snprintf(out, len, "%s (%s)", side, label);
}

/* Remove the files in the state directory of n (its store, audit log and
 * audit keys): the node makes them anew at its next start. */
static void
state_clear(const struct node *n)
{
	char buf[PATH_MAX], path[PATH_MAX + NAME_MAX + 2];
	const char *dir;
	struct dirent *d;
	DIR *dp;

	snprintf(buf, sizeof(buf), "%s", n->db);
	dir = dirname(buf);
	if ((dp = opendir(dir)) == NULL)
		die("%s: %s", dir, strerror(errno));
	while ((d = readdir(dp)) != NULL) {
		if (d->d_type != DT_REG)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (unlink(path) != 0)
			die("%s: %s", path, strerror(errno));
	}
	closedir(dp);
}

/* One leg: both nodes started with bindir/ketend, a warm-up, paced at
 * the low rate, saturated, both nodes stopped; prints its line.  The
 * latencies at the low rate are added to pool. */
static void
ab_leg(struct leg *lg, const char *bindir, struct samples *pool)
{
	const char *label = lg->b ? opt.label_b : opt.label_a;
	struct client c;
	struct phase_res warm;
	size_t first;
	int clean_s, clean_r;
	char what[64];

	/* the poller is stopped between legs: M[] can start again */
	msgs_reset();
	if (opt.fresh) {
		state_clear(&sender);
		state_clear(&rcpt);
	}
	bench_up(&c, bindir);
	run_phase(&c, &(struct phase){ PH_WARMUP, "warm-up", AB_WARMUP, 0, 0, 1024, 1, 30, 1000,
	    NULL, 0 }, &warm);
	if (!warm.complete || warm.delivered != warm.n) {
		log_tail(&sender, 10);
		die("round %u, %s: warm-up: %zu of %zu messages delivered within 30 s", lg->round,
		    label, warm.delivered, warm.n);
	}
	first = next_msg;
	run_phase(&c, &(struct phase){ PH_SLOW, "paced low", (size_t)(opt.slow_rate *
	    opt.slow_seconds), 0, opt.slow_rate, 0, 1, 20, 100, NULL, 0 }, &lg->slow);
	pthread_mutex_lock(&mu);
	for (size_t i = first; i < first + lg->slow.n; i++)
		if (M[i].state == KETEN__V1__DELIVERY_STATE__STATE_DELIVERED)
			samples_add(pool, M[i].t_done - M[i].t_sub);
	pthread_mutex_unlock(&mu);
	run_phase(&c, &(struct phase){ PH_SAT, "saturation", 0, opt.seconds, 0, opt.inflight, 1,
	    30, SAT_POLL_US, NULL, 0 }, &lg->sat);
	bench_down(&c, &clean_s, &clean_r);
	lg->clean = clean_s == 0 && clean_r == 0;
	lg->complete = lg->slow.complete && lg->slow.delivered == lg->slow.n &&
	    lg->sat.complete && lg->sat.delivered == lg->sat.n && lg->sat.delivered > 0;

	snprintf(what, sizeof(what), "round %u, %s", lg->round, label);
	printf("  %-46s %10.0f/s  p50 %7.2f ms  p99 %7.2f ms  at %.0f/s p99 %7.2f ms"
	    "  CPU/msg %.1f + %.1f µs\n", what, lg->sat.rate, lg->sat.lat.p50 * 1e3,
	    lg->sat.lat.p99 * 1e3, opt.slow_rate, lg->slow.lat.p99 * 1e3,
	    cpu_per_msg(&lg->sat, 0), cpu_per_msg(&lg->sat, 1));
	if (!lg->complete)
		printf("  %-46s NOT ALL RECEIPTED: %zu of %zu delivered at %.0f/s, "
		    "%zu of %zu saturated\n", "", lg->slow.delivered, lg->slow.n, opt.slow_rate,
		    lg->sat.delivered, lg->sat.n);
	if (!lg->clean)
		printf("  %-46s %s%s%s did NOT stop cleanly on SIGTERM\n", "",
		    clean_s != 0 ? sender.slug : "", clean_s != 0 && clean_r != 0 ? " and " : "",
		    clean_r != 0 ? rcpt.slug : "");
}

/* Half the width of the 95% confidence interval of the mean m of the n
 * values v (Student's t with n - 1 degrees of freedom, up to 20; the
 * normal 1.96 beyond, a little narrow up to about 30): the rounds of an
 * A/B run scatter with the machine, and the interval says whether the
 * mean is clear of a target.  0 for one value. */
static double
ci95_half(const double *v, unsigned n, double m)
{
	static const double t[] = { 0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365,
	    2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
	    2.093, 2.086 };
	double ss = 0;

	if (n < 2)
		return 0;
	for (unsigned i = 0; i < n; i++)
		ss += (v[i] - m) * (v[i] - m);
	return (n - 1 < sizeof(t) / sizeof(t[0]) ? t[n - 1] : 1.96) * sqrt(ss / (n - 1) / n);
}

/* The A/B run after the baseline; 1 when every leg was complete and
 * stopped cleanly (whatever the ratio). */
static int
ab_run(double raw, const struct dist *floor3, double t_start)
{
	struct leg legs[2 * ROUNDS_MAX];
	struct samples pool[2] = { { NULL, 0, 0 }, { NULL, 0, 0 } };
	double mean[2] = { 0, 0 }, rsum = 0, rmin = INFINITY, rmax = -INFINITY, ratio, half;
	double rq[ROUNDS_MAX];
	double cpu[2][2] = { { 0, 0 }, { 0, 0 } }, csum = 0, cmin = INFINITY, cmax = -INFINITY;
	unsigned nleg = 2 * opt.rounds, incomplete = 0, unclean = 0;
	char line[160], what[64];

	printf("\nA/B, same run: A = %s/ketend (%s), B = %s/ketend (%s)\n", opt.bin, opt.label_a,
	    opt.ab, opt.label_b);
	printf("  %u round(s), A then B in odd rounds, B then A in even ones; a leg starts both\n"
	    "  nodes, sends %d warm-up messages, paces %.0f/s for %.0f s, saturates for %.0f s\n"
	    "  (window %u, <= %u in flight) and stops both nodes; %s\n",
	    opt.rounds, AB_WARMUP, opt.slow_rate, opt.slow_seconds, opt.seconds, opt.window,
	    opt.inflight, opt.fresh ? "every leg starts on empty stores and audit logs (--fresh)" :
	    "the stores carry over");
	printf("\nlegs: saturated rate, latency at saturation, p99 at %.0f/s, CPU per message at\n"
	    "saturation (sender + recipient):\n", opt.slow_rate);
	for (unsigned r = 1; r <= opt.rounds; r++) {
		for (int k = 0; k < 2; k++) {
			struct leg *lg = &legs[2 * (r - 1) + (unsigned)k];

			memset(lg, 0, sizeof(*lg));
			lg->round = r;
			lg->b = r % 2 == 1 ? k : !k;	/* ABBA */
			ab_leg(lg, lg->b ? opt.ab : opt.bin, &pool[lg->b]);
			incomplete += !lg->complete;
			unclean += !lg->clean;
		}
	}

	/* ---- summary */
	for (unsigned i = 0; i < nleg; i++) {
		mean[legs[i].b] += legs[i].sat.rate / opt.rounds;
		for (int k = 0; k < 2; k++)
			cpu[legs[i].b][k] += cpu_per_msg(&legs[i].sat, k) / opt.rounds;
	}
	for (unsigned r = 0; r < opt.rounds; r++) {
		const struct leg *x = &legs[2 * r], *y = &legs[2 * r + 1];
		const struct leg *a = x->b ? y : x, *b = x->b ? x : y;
		double q = a->sat.rate / b->sat.rate;
		double ca = cpu_per_msg(&a->sat, 0) + cpu_per_msg(&a->sat, 1);
		double cb = cpu_per_msg(&b->sat, 0) + cpu_per_msg(&b->sat, 1);

		rq[r] = q;
		rsum += q;
		if (q < rmin)
			rmin = q;
		if (q > rmax)
			rmax = q;
		q = cb > 0 ? ca / cb : 0;
		csum += q;
		if (q < cmin)
			cmin = q;
		if (q > cmax)
			cmax = q;
	}
	ratio = rsum / opt.rounds;
	half = ci95_half(rq, opt.rounds, ratio);
	printf("\nA/B summary, %u round(s), %.0f s saturated per leg:\n", opt.rounds, opt.seconds);
	for (int b = 0; b < 2; b++) {
		side_name(b, what, sizeof(what));
		snprintf(line, sizeof(line), "%s, saturated, mean of %u leg(s)", what, opt.rounds);
		row_rate(line, mean[b], 1024, raw, "of raw CurveZMQ");
	}
	snprintf(line, sizeof(line), "(min %.3f, max %.3f)", rmin, rmax);
	printf("  %-46s %10.3f   %s\n", "ratio A/B, mean of the per-round ratios", ratio, line);
	if (opt.rounds > 1)
		printf("  %-46s %.3f .. %.3f   (Student's t, %u rounds)\n",
		    "  95% confidence interval of the mean", ratio - half, ratio + half, opt.rounds);
	for (int b = 0; b < 2; b++) {
		side_name(b, what, sizeof(what));
		snprintf(line, sizeof(line), "%s, CPU per message saturated", what);
		printf("  %-46s sender %7.1f µs  recipient %7.1f µs\n", line, cpu[b][0], cpu[b][1]);
	}
	snprintf(line, sizeof(line), "(min %.3f, max %.3f)", cmin, cmax);
	printf("  %-46s %10.3f   %s\n", "CPU per message A/B, both nodes, mean", csum / opt.rounds,
	    line);
	for (int b = 0; b < 2; b++) {
		struct dist d = dist_of(pool[b].v, pool[b].n);

		side_name(b, what, sizeof(what));
		snprintf(line, sizeof(line), "%s, paced %.0f/s, all its legs", what, opt.slow_rate);
		row_lat(line, &d, floor3, "p99 of 3 x (write 48 KiB + fsync)");
		free(pool[b].v);
	}
	if (opt.ab_target > 0)
		snprintf(line, sizeof(line), "ratio %.3f (target >= %g: %s; %s)", ratio,
		    opt.ab_target, verdict(ratio >= opt.ab_target), opt.rounds < 2 ? "one round" :
		    ratio - half >= opt.ab_target ? "the interval is above it" :
		    ratio + half < opt.ab_target ? "the interval is below it" :
		    "the interval holds it: more rounds would tell");
	else
		snprintf(line, sizeof(line), "ratio %.3f (no target: --ab-target R)", ratio);
	printf("  %-46s %s\n", "verdict, saturated A/B", line);
	if (incomplete > 0)
		printf("  %-46s NOT every leg receipted everything (%u of %u did not): the run "
		    "fails\n", "", incomplete, nleg);

	printf("\nnodes:\n");
	if (unclean == 0)
		printf("  %s and %s stopped on SIGTERM after every leg: cleanly\n", sender.slug,
		    rcpt.slug);
	else
		printf("  %s and %s stopped on SIGTERM: NOT cleanly after %u of %u legs\n",
		    sender.slug, rcpt.slug, unclean, nleg);
	log_summary(&sender);
	log_summary(&rcpt);
	printf("  whole run %.0f s\n", now_s() - t_start);
	return incomplete == 0 && unclean == 0;
}

int
main(int argc, char **argv)
{
	struct client c;
	struct phase_res warm, slow, sat, paced, queued, catchup, dos;
	struct dist rtt, fs, fs3;
	double raw, t_start = now_s();
	long s_rss0, s_hwm0, s_hwm_tp, r_hwm_tp, q_rss, q_hwm, cu_s_hwm, cu_r_hwm;
	long d_s0, d_r0, d_s1, d_r1, f_r0, f_r1, tmp;
	uint8_t *big = NULL;
	size_t biglen = 0;
	int clean_s, clean_r, ok = 1;
	char line[160], what[64];

	options(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(pidfile, sizeof(pidfile), "%s/pids", opt.work);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGALRM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	alarm(opt.timeout);
	if (sodium_init() < 0)
		die("sodium_init");
	if ((M = calloc(MSG_MAX, sizeof(*M))) == NULL)
		die("out of memory");
	node_init(&sender, opt.from);
	node_init(&rcpt, opt.to);

	printf("keten two-node benchmark: %s -> %s on 127.0.0.1, 1 KiB DOSSIER_DELIVERY,\n"
	    "every message durable at both ends (store_sync = full) and receipted\n\n",
	    opt.from, opt.to);

	/* ---- baseline, before the nodes run */
	printf("baseline, same run:\n");
	raw = raw_pushpull(1.0);
	rtt = raw_roundtrip(300, 0.002);
	fs = raw_fsync(300, 4096, 1, 0);
	fs3 = raw_fsync(300, 48 << 10, 3, 0.002);
	row_rate("raw CurveZMQ PUSH/PULL 1 KiB, tcp loopback", raw, 1024, 0, "");
	row_lat("raw CurveZMQ round trip 1 KiB", &rtt, NULL, NULL);
	row_lat("write 4 KiB + fsync (the nodes' file system)", &fs, NULL, NULL);
	row_lat("3 x (write 48 KiB + fsync) in a row", &fs3, NULL, NULL);
	printf("  %-46s (a message's three commits at low load, and nothing else)\n", "");

	if (opt.ab != NULL) {
		ok = ab_run(raw, &fs3, t_start);
		free(M);
		return ok ? 0 : 1;
	}

	/* ---- the nodes */
	bench_up(&c, opt.bin);

	run_phase(&c, &(struct phase){ PH_WARMUP, "warm-up", 2000, 0, 0, 1024, 1, 30, 1000,
	    NULL, 0 }, &warm);
	if (!warm.complete || warm.delivered != warm.n) {
		log_tail(&sender, 10);
		die("warm-up: %zu of %zu messages delivered within 30 s", warm.delivered, warm.n);
	}
	run_phase(&c, &(struct phase){ PH_SLOW, "paced low", (size_t)(opt.slow_rate *
	    opt.slow_seconds), 0, opt.slow_rate, 0, 1, 20, 100, NULL, 0 }, &slow);
	if (opt.perf)
		perf_start();
	run_phase(&c, &(struct phase){ PH_SAT, "saturation", 0, opt.seconds, 0, opt.inflight, 1,
	    30, SAT_POLL_US, NULL, 0 }, &sat);
	perf_stop();
	run_phase(&c, &(struct phase){ PH_PACED, "paced", (size_t)(opt.rate * opt.paced_seconds),
	    0, opt.rate, opt.inflight, 1, 30, 250, NULL, 0 }, &paced);
	mem_kib(sender.pid, &tmp, &s_hwm_tp);
	mem_kib(rcpt.pid, &tmp, &r_hwm_tp);

	printf("\nketen, submitted -> sealed, signed, stored -> delivered, stored -> receipted:\n");
	snprintf(line, sizeof(line), "of raw CurveZMQ (target >= 15000/s: %s, goal 40000/s: %s)",
	    verdict(sat.rate >= 15000), verdict(sat.rate >= 40000));
	row_rate("sustained, saturated", sat.rate, 1024, raw, line);
	snprintf(line, sizeof(line), "(%zu msgs in %.1f s, window %u, <= %u in flight%s)",
	    sat.delivered, sat.t_end - sat.t0, opt.window, opt.inflight,
	    sat.complete ? "" : ", NOT ALL RECEIPTED");
	printf("  %-46s %s\n", "", line);
	row_lat("  latency at saturation", &sat.lat, &rtt, "p99 of raw round trip");
	row_lat("  submit -> SubmitResponse at saturation", &sat.ack, &fs, "p99 of fsync");
	row_cpu("  CPU per message at saturation", &sat);
	snprintf(line, sizeof(line), "paced %.0f/s for %.0f s: achieved", opt.rate,
	    opt.paced_seconds);
	row_rate(line, paced.rate, 1024, raw, "of raw CurveZMQ");
	snprintf(line, sizeof(line), "p99 of raw round trip (target p99 < 20 ms: %s%s)",
	    verdict(paced.lat.p99 < 0.020 && paced.rate >= 0.97 * opt.rate),
	    paced.rate < 0.97 * opt.rate ? ", rate not kept" : "");
	row_lat("  latency", &paced.lat, &rtt, line);
	if (paced.behind > 0.005)
		printf("  %-46s the pacer fell %.0f ms behind its schedule\n", "", paced.behind * 1e3);
	snprintf(line, sizeof(line), "p99 of raw round trip (target p99 < 2 ms: %s)",
	    verdict(slow.lat.p99 < 0.002));
	snprintf(what, sizeof(what), "paced %.0f/s for %.0f s", opt.slow_rate, opt.slow_seconds);
	row_lat(what, &slow.lat, &rtt, line);
	printf("  %-46s p99 %.1fx that of its three commits alone (%.2f ms, above)\n", "",
	    slow.lat.p99 / fs3.p99, fs3.p99 * 1e3);
	row_lat("  submit -> SubmitResponse", &slow.ack, &fs, "p99 of fsync");
	row_cpu("  CPU per message", &slow);
	printf("  %-46s %s, every 0.1 ms (paced low) / 0.25 ms (paced) / %g ms (saturated)\n",
	    "receipts seen by", opt.status_mode ? "polling the status operation" :
	    "polling the sender's store read-only", SAT_POLL_US / 1000.0);
	if (!opt.status_mode)
		printf("  %-46s %zu polls, %.2f s of polling in the bench\n", "", rp.polls, rp.busy);

	printf("\nmemory of the nodes (peak RSS, VmHWM):\n");
	snprintf(line, sizeof(line), "(target < 64 MiB: %s)", verdict(s_hwm_tp < 64 * 1024));
	row_mem("sender, throughput phases", (double)s_hwm_tp, line);
	snprintf(line, sizeof(line), "(target < 64 MiB: %s)", verdict(r_hwm_tp < 64 * 1024));
	row_mem("recipient, throughput phases", (double)r_hwm_tp, line);

	/* ---- 100,000 queued while the recipient is down */
	if (node_stop(&rcpt) != 0)
		printf("  %s did not stop cleanly on SIGTERM\n", rcpt.slug);
	mem_kib(sender.pid, &s_rss0, &s_hwm0);
	hwm_reset(sender.pid);
	run_phase(&c, &(struct phase){ PH_QUEUED, "queued", opt.queued, 0, 0, 0, 0, 0, 1000,
	    NULL, 0 }, &queued);
	sleep_s(0.5);	/* a retry turn or two */
	mem_kib(sender.pid, &q_rss, &q_hwm);
	snprintf(line, sizeof(line), "sender, %u queued, recipient down: RSS", opt.queued);
	row_mem(line, (double)q_rss, NULL);
	snprintf(line, sizeof(line), "(before %.1f MiB; target < 64 MiB: %s; %zu queued at %.0f/s)",
	    (double)s_rss0 / 1024, verdict(q_hwm < 64 * 1024), queued.acked, queued.submit_rate);
	row_mem("  peak while queueing", (double)q_hwm, line);
	/* ... and the catch-up when it starts */
	hwm_reset(sender.pid);
	node_start(&rcpt, opt.bin);
	{
		double t0 = now_s(), stop = t0 + 45;
		size_t want = queued.acked;

		while (atomic_load(&phase_delivered[PH_QUEUED]) < want && now_s() < stop)
			sleep_s(0.01);
		catchup.n = atomic_load(&phase_delivered[PH_QUEUED]);
		catchup.t_end = now_s();
		catchup.rate = (double)catchup.n / (catchup.t_end - t0);
		catchup.complete = catchup.n >= want;
	}
	mem_kib(sender.pid, &tmp, &cu_s_hwm);
	mem_kib(rcpt.pid, &tmp, &cu_r_hwm);
	snprintf(line, sizeof(line), "catch-up after the recipient starts%s",
	    catchup.complete ? "" : " (45 s cap)");
	row_rate(line, catchup.rate, 1024, raw, "of raw CurveZMQ");
	snprintf(line, sizeof(line), "(%zu of %zu receipted in %.1f s)", catchup.n,
	    queued.acked, catchup.rate > 0 ? (double)catchup.n / catchup.rate : 0.0);
	printf("  %-46s %s\n", "", line);
	snprintf(line, sizeof(line), "(target < 64 MiB: %s)", verdict(cu_s_hwm < 64 * 1024));
	row_mem("  sender peak during catch-up", (double)cu_s_hwm, line);
	snprintf(line, sizeof(line), "(target < 64 MiB: %s)", verdict(cu_r_hwm < 64 * 1024));
	row_mem("  recipient peak during catch-up", (double)cu_r_hwm, line);
	/* the rest of the backlog must not disturb the dossier */
	if (!catchup.complete) {
		double stop = now_s() + 30;

		while (phase_final_count(PH_QUEUED) < queued.acked && now_s() < stop)
			sleep_s(0.05);
	}

	/* ---- a 20 MiB dossier */
	big = payload_make(0, (size_t)opt.dossier_mib << 20, &biglen);
	mem_kib(sender.pid, &d_s0, &tmp);
	mem_kib(rcpt.pid, &d_r0, &tmp);
	hwm_reset(sender.pid);
	hwm_reset(rcpt.pid);
	run_phase(&c, &(struct phase){ PH_DOSSIER, "dossier", 1, 0, 0, 0, 1, 60, 1000, big,
	    biglen }, &dos);
	mem_kib(sender.pid, &tmp, &d_s1);
	mem_kib(rcpt.pid, &tmp, &d_r1);
	if (dos.delivered != 1) {
		ok = 0;
		printf("  the %u MiB dossier was not receipted within 60 s\n", opt.dossier_mib);
	}
	snprintf(line, sizeof(line), "%u MiB dossier, submitted -> receipted", opt.dossier_mib);
	snprintf(what, sizeof(what), "(payload %zu bytes)", biglen);
	row_lat(line, &dos.lat, NULL, what);
	snprintf(line, sizeof(line), "(%.2fx its size; target < 3x: %s; RSS before %.1f MiB)",
	    (double)(d_s1 - d_s0) * KIB / (double)biglen,
	    verdict((double)(d_s1 - d_s0) * KIB < 3.0 * (double)biglen), (double)d_s0 / 1024);
	row_mem("  sender peak RSS growth", (double)(d_s1 - d_s0), line);
	snprintf(line, sizeof(line), "(%.2fx its size; target < 3x: %s; RSS before %.1f MiB)",
	    (double)(d_r1 - d_r0) * KIB / (double)biglen,
	    verdict((double)(d_r1 - d_r0) * KIB < 3.0 * (double)biglen), (double)d_r0 / 1024);
	row_mem("  recipient peak RSS growth", (double)(d_r1 - d_r0), line);
	/* ... and read by the recipient's case system */
	if (dos.delivered == 1) {
		struct keten_client *kc = NULL;
		Keten__V1__LocalResponse *resp = NULL;
		char ref[32];
		int r;
		double t0;

		snprintf(ref, sizeof(ref), "bench-%zu", m_base + next_msg - 1);
		mem_kib(rcpt.pid, &f_r0, &tmp);
		hwm_reset(rcpt.pid);
		t0 = now_s();
		if ((r = keten_client_open(rcpt.sock, 60000, &kc)) != 0 ||
		    (r = keten_subscribe(kc, "bench", NULL, 0, ref, NULL)) != 0 ||
		    (r = keten_fetch(kc, "bench", 1, 0, &resp)) != 0)
			die("fetch of the dossier at %s: %s (%s)", rcpt.slug, keten_strerror(r),
			    keten_client_error(kc));
		t0 = now_s() - t0;
		mem_kib(rcpt.pid, &tmp, &f_r1);
		if (resp->fetch == NULL || resp->fetch->n_messages != 1 ||
		    resp->fetch->messages[0]->payload.len != biglen ||
		    memcmp(resp->fetch->messages[0]->payload.data, big, biglen) != 0)
			die("the fetched dossier is not the one sent");
		keten_response_free(&resp);
		keten_client_close(&kc);
		snprintf(line, sizeof(line), "(%.2fx its size; target < 3x: %s; fetch took %.0f ms)",
		    (double)(f_r1 - f_r0) * KIB / (double)biglen,
		    verdict((double)(f_r1 - f_r0) * KIB < 3.0 * (double)biglen), t0 * 1e3);
		row_mem("  recipient peak RSS growth, fetched", (double)(f_r1 - f_r0), line);
	}
	free(big);

	/* ---- stop */
	bench_down(&c, &clean_s, &clean_r);
	printf("\nnodes:\n");
	printf("  %s and %s stopped on SIGTERM: %s, %s\n", sender.slug, rcpt.slug,
	    clean_s == 0 ? "cleanly" : "NOT cleanly", clean_r == 0 ? "cleanly" : "NOT cleanly");
	log_summary(&sender);
	log_summary(&rcpt);
	printf("  whole run %.0f s\n", now_s() - t_start);
	if (!sat.complete || !paced.complete || !slow.complete || sat.delivered == 0)
		ok = 0;
	if (clean_s != 0 || clean_r != 0)
		ok = 0;
	free(M);
	return ok ? 0 : 1;
}
