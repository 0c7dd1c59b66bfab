/*
 * fuzz_auditlog.c — libFuzzer harness for the audit log reader: a log file
 * as an auditor receives it (PROTOCOL.md §17).  Each input is opened as a
 * file and verified (against the fixed key the seeds are signed with, with
 * the input's own first checkpoint as a witnessed one, and with no keys
 * but an expected node), walked with every record parsed, and its leaves
 * hashed into a root; the raw bytes also go through the frame reader and
 * the record parser directly.
 *
 * An input that does not start with AUDITLOG_MAGIC gets it put in front;
 * one that does is used as it is.  The file reader refuses anything
 * without the magic with one memcmp, so mutations spent there would be
 * wasted; prefixing keeps every input in the frames.  The seeds are whole
 * log files, magic and all, exactly as a node writes them, so they can
 * also be given to `keten audit verify`.
 *
 * The seeds are logs the writer makes with the fixed key; the harness
 * writes them itself:
 *
 *   KETEN_FUZZ_MKSEEDS=tests/fuzz/seeds/fuzz_auditlog build/fuzz/fuzz_auditlog
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <sodium.h>

#include "auditkeys.h"
#include "auditlog.h"
#include "buf.h"
#include "merkle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OIN "00000001999000010000"

static uint8_t pk[32], sk[64];
static int memfd = -1;
static char memfd_path[64];
static uint8_t *input;		/* magic || data when data lacks the magic */
static size_t input_cap;

/* ---------------------------------------------------------------- */
/* seeds */

static void
seed_write(const char *dir, const char *name, const uint8_t *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "fuzz_auditlog: cannot write %s\n", path);
		exit(1);
	}
}

static void
mk_fail(const char *what)
{
	fprintf(stderr, "fuzz_auditlog: seeds: %s\n", what);
	exit(1);
}

/* A small log: LOG_START, message records with subjects (one event about
 * two people), a PRUNE record, checkpoints after every few records. */
static void
mk_log(const char *tmp, struct buf **out)
{
	static const char *const rcpt[] = { "00000001999000020000" };
	static const char *const s1[] = { "1234567890" }, *const s2[] = { "111222333",
	    "1234567890" };
	char keys_path[4096], log_path[4096];
	Keten__V1__Prune prune = KETEN__V1__PRUNE__INIT;
	struct audit_keys *keys = NULL;
	struct auditlog *l = NULL;
	struct audit_event e;
	uint8_t id[16];
	size_t torn;

	snprintf(keys_path, sizeof(keys_path), "%s/audit.keys", tmp);
	snprintf(log_path, sizeof(log_path), "%s/audit.log", tmp);
	if (audit_keys_new(&keys) != 0 || audit_keys_save(keys, keys_path) != 0 ||
	    auditlog_open(log_path, OIN, sk, pk, keys, keys_path, &l, &torn) != 0)
		mk_fail("open");
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_LOG_START;
	e.key = pk;
	e.detail = "config ketend.conf; directory serial 3";
	if (auditlog_append(l, &e) != 0 || auditlog_checkpoint(l, 1, NULL) != 0 ||
	    auditlog_commit(l) != 0)
		mk_fail("LOG_START");
	for (int i = 0; i < 8; i++) {
		memset(id, 0xa0 + i, sizeof(id));
		memset(&e, 0, sizeof(e));
		e.event = i % 3 == 0 ? KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT :
		    i % 3 == 1 ? KETEN__V1__AUDIT_EVENT__EVENT_SEND :
		    KETEN__V1__AUDIT_EVENT__EVENT_RECEIVE;
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
		if (i == 2) {
			e.subjects = s1;
			e.n_subjects = 1;
		} else if (i == 5) {
			e.subjects = s2;
			e.n_subjects = 2;
		}
		if (auditlog_append(l, &e) != 0)
			mk_fail("append");
		if (i % 4 == 3 && (auditlog_checkpoint(l, 0, NULL) != 0 || auditlog_commit(l) != 0))
			mk_fail("checkpoint");
	}
	prune.first = 1;
	prune.end = 2;
	prune.period = "2000-01";
	prune.policy = "retention 365d";
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_PRUNE;
	e.prune = &prune;
	if (auditlog_append(l, &e) != 0 || auditlog_checkpoint(l, 0, NULL) != 0 ||
	    auditlog_commit(l) != 0)
		mk_fail("PRUNE");
	auditlog_destroy(&l);
	audit_keys_destroy(&keys);
	if (buf_load_file(log_path, 1u << 20, out) != 0)
		mk_fail("read back");
	unlink(log_path);
	unlink(keys_path);
}

/* Offsets of the frames of p. */
static size_t
mk_frames(const uint8_t *p, size_t len, size_t *offs, int *types, size_t max)
{
	struct auditlog_frame f;
	size_t off = AUDITLOG_MAGIC_LEN, n = 0;

	while (n < max && auditlog_frame_next(p, len, &off, &f) == 0) {
		types[n] = f.type;
		offs[n++] = f.offset;
	}
	offs[n] = off;
	return n;
}

static void
seeds(const char *dir)
{
	char tmp[] = "/tmp/fuzz_auditlog.XXXXXX";
	struct buf *log = NULL;
	size_t offs[65], n, len, rec = 0;
	int types[64];
	uint8_t *p;

	if (mkdtemp(tmp) == NULL)
		mk_fail("mkdtemp");
	mk_log(tmp, &log);
	rmdir(tmp);
	len = buf_len(log);
	if ((p = malloc(len + 64)) == NULL)
		mk_fail("memory");
	memcpy(p, buf_ptr(log), len);
	n = mk_frames(p, len, offs, types, 64);
	if (n < 8 || offs[n] != len)
		mk_fail("the log does not read back");
	seed_write(dir, "valid-subjects-prune-checkpoints", p, len);
	/* a crash in the last commit: half its last frame */
	seed_write(dir, "torn-half-last-frame", p, offs[n - 1] + (len - offs[n - 1]) / 2);
	/* a zero-filled tail (data blocks that never reached the disk) */
	memset(p + len, 0, 64);
	seed_write(dir, "torn-zero-tail", p, len + 64);
	/* one byte of the fourth record changed, its frame check left */
	for (size_t i = 0, k = 0; i < n; i++)
		if (types[i] == AUDITLOG_RECORD && k++ == 3)
			rec = i;
	p[offs[rec] + 12] ^= 0x01;
	seed_write(dir, "tampered-record-byte", p, len);
	/* the same with the frame check fixed: only the checkpoints notice */
	{
		uint8_t h[32];
		size_t blen = offs[rec + 1] - offs[rec] - 8;

		SHA256(p + offs[rec] + 4, blen, h);
		memcpy(p + offs[rec] + 4 + blen, h, 4);
	}
	seed_write(dir, "tampered-record-check-fixed", p, len);
	/* record 1 pruned: PRUNED frame (index || leaf hash), covered by the
	 * PRUNE record */
	memcpy(p, buf_ptr(log), len);
	{
		struct buf *b = buf_new(SIZE_MAX);
		uint8_t payload[40];
		size_t r1 = 0;

		for (size_t i = 0, k = 0; i < n; i++)
			if (types[i] == AUDITLOG_RECORD && k++ == 1)
				r1 = i;
		memset(payload, 0, 8);
		payload[7] = 1;
		SHA256(p + offs[r1] + 4, offs[r1 + 1] - offs[r1] - 8, payload + 8);
		if (b == NULL || buf_put(b, p, offs[r1]) != 0 ||
		    auditlog_frame_put(b, AUDITLOG_PRUNED, payload, sizeof(payload)) != 0 ||
		    buf_put(b, p + offs[r1 + 1], len - offs[r1 + 1]) != 0)
			mk_fail("prune");
		seed_write(dir, "valid-pruned-record", buf_ptr(b), buf_len(b));
		buf_destroy(&b);
	}
	free(p);
	buf_destroy(&log);
}

/* ---------------------------------------------------------------- */

static void
problem(void *arg, int code, uint64_t index, size_t offset, const char *what)
{
	(void)arg;
	(void)code;
	(void)index;
	(void)offset;
	(void)strlen(what);
}

/* Touch what the reader hands out, so that the sanitizers see it. */
static int
each(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *rec)
{
	volatile size_t *sum = arg;

	*sum += f->payload_len + (size_t)index;
	if (f->payload_len > 0)
		*sum += f->payload[0] + f->payload[f->payload_len - 1];
	if (rec != NULL) {
		*sum += strlen(rec->node) + strlen(rec->detail) + rec->msg_id.len;
		for (size_t i = 0; i < rec->n_recipients; i++)
			*sum += strlen(rec->recipients[i]);
		if (rec->subject != NULL)
			*sum += strlen(rec->subject->period) + rec->subject->sealed.len;
		if (rec->prune != NULL)
			*sum += strlen(rec->prune->policy);
	}
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[32];
	const char *mk = getenv("KETEN_FUZZ_MKSEEDS");

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	memset(seed, 0x41, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	if (mk != NULL) {
		seeds(mk);
		exit(0);
	}
	/* The reader maps a path: an in-memory file, rewritten per input. */
	if ((memfd = memfd_create("fuzz_auditlog", MFD_CLOEXEC)) < 0)
		abort();
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct auditlog_file f;
	struct auditlog_frame fr;
	Keten__V1__AuditRecord *rec = NULL;
	uint8_t (*leaves)[32] = NULL, root[32];
	const uint8_t *p = data, *note = NULL;
	size_t len = size, off = 0, bad = 0, note_len = 0;
	volatile size_t sum = 0;
	uint64_t n = 0;

	if (size < AUDITLOG_MAGIC_LEN || memcmp(data, AUDITLOG_MAGIC, AUDITLOG_MAGIC_LEN) != 0) {
		if (size + AUDITLOG_MAGIC_LEN > input_cap) {
			free(input);
			input_cap = size + AUDITLOG_MAGIC_LEN;
			if ((input = malloc(input_cap)) == NULL)
				abort();
		}
		memcpy(input, AUDITLOG_MAGIC, AUDITLOG_MAGIC_LEN);
		if (size > 0)
			memcpy(input + AUDITLOG_MAGIC_LEN, data, size);
		p = input;
		len = size + AUDITLOG_MAGIC_LEN;
	}

	/* The raw bytes: the frame reader over the input as given, from its
	 * first byte, and over the file after the magic; the record parser
	 * over every record frame and over the whole input. */
	for (int pass = 0; pass < 2; pass++) {
		const uint8_t *q = pass == 0 ? data : p;
		size_t qlen = pass == 0 ? size : len;

		off = pass == 0 ? 0 : AUDITLOG_MAGIC_LEN;
		while (auditlog_frame_next(q, qlen, &off, &fr) == 0) {
			sum += fr.payload_len;
			if (fr.type == AUDITLOG_RECORD &&
			    auditlog_record_parse(fr.payload, fr.payload_len, &rec) == 0) {
				sum += rec->index;
				keten__v1__audit_record__free_unpacked(rec, NULL);
				rec = NULL;
			}
			if (pass == 1 && fr.type == AUDITLOG_CHECKPOINT && note == NULL) {
				note = fr.payload;
				note_len = fr.payload_len;
			}
		}
	}
	if (auditlog_record_parse(data, size, &rec) == 0)
		keten__v1__audit_record__free_unpacked(rec, NULL);
	{
		/* the policy scan reads text: the input up to its first NUL */
		char *text = malloc(size + 1);

		if (text == NULL)
			abort();
		memcpy(text, data, size);
		text[size] = '\0';
		sum += auditlog_find_identifier(text);
		free(text);
	}

	/* The file, as the auditor's tools read it. */
	if (ftruncate(memfd, 0) != 0 || pwrite(memfd, p, len, 0) != (ssize_t)len)
		abort();
	if (auditlog_file_open(memfd_path, &f) != 0)
		return 0;
	memset(&t, 0, sizeof(t));
	t.keys = (const uint8_t (*)[32])pk;
	t.n_keys = 1;
	(void)auditlog_verify(&f, &t, &rep, problem, NULL);
	if (note != NULL) {
		/* its own first checkpoint as a witnessed one */
		t.notes = &note;
		t.note_lens = &note_len;
		t.n_notes = 1;
		(void)auditlog_verify(&f, &t, &rep, problem, NULL);
	}
	memset(&t, 0, sizeof(t));
	t.oin = OIN;
	(void)auditlog_verify(&f, &t, &rep, NULL, NULL);
	(void)auditlog_each(&f, 1, each, (void *)&sum, &bad);
	if (auditlog_leaves(&f, &leaves, &n) == 0) {
		if (merkle_root((const uint8_t (*)[32])leaves, n, root) != 0)
			abort();
		free(leaves);
	}
	auditlog_file_close(&f);
	return 0;
}
