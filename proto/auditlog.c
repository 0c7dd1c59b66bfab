/*
 * auditlog.c — the audit log file: frames, the writer with group commit,
 * the reader (see auditlog.h).  Verification is in auditverify.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auditlog.h"
#include "buf.h"
#include "checkpoint.h"
#include "envelope.h"
#include "err.h"
#include "merkle.h"
#include "pbwire.h"
#include "util.h"

/* u32be length, type, check */
#define FRAME_OVERHEAD 9
#define NOTE_MAX 1024

static int
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* A header a writer makes: a length it writes and a known type (the
 * FRAME_OVERHEAD bytes at h are there). */
static int
header_possible(const uint8_t *h)
{
	uint32_t bl = be32_load(h);

	return bl != 0 && bl <= AUDITLOG_FRAME_MAX && h[4] <= AUDITLOG_PRUNED;
}

int
auditlog_frame_head(const uint8_t *p, size_t len, size_t at, struct auditlog_frame *f)
{
	uint32_t bl;

	if (at >= len || len - at < FRAME_OVERHEAD || !header_possible(p + at))
		return -1;
	bl = be32_load(p + at);
	if ((size_t)bl + 8 > len - at)
		return -1;
	f->type = p[at + 4];
	f->body = p + at + 4;
	f->body_len = bl;
	f->payload = f->body + 1;
	f->payload_len = bl - 1;
	f->offset = at;
	f->end = at + 8 + bl;
	return 0;
}

int
auditlog_frame_check(struct auditlog_frame *f)
{
	merkle_sha256(f->body, f->body_len, f->hash);
	return memcmp(f->hash, f->body + f->body_len, 4) == 0 ? 0 : -1;
}

/* A whole frame (header possible, length inside the bytes, check right)
 * starts at `at`. */
static int
valid_frame_at(const uint8_t *p, size_t len, size_t at)
{
	struct auditlog_frame f;

	return auditlog_frame_head(p, len, at, &f) == 0 && auditlog_frame_check(&f) == 0;
}

/* After a frame at o whose length runs past the end (so the bytes after
 * o are less than one frame): do whole frames start somewhere after it
 * and run exactly to the end?  Then its length was altered.  Bounded:
 * what follows o is shorter than the longest frame. */
static int
whole_frames_follow(const uint8_t *p, size_t len, size_t o)
{
	for (size_t s = o + 1; s + FRAME_OVERHEAD <= len; s++) {
		size_t at = s;

		while (valid_frame_at(p, len, at))
			at += (size_t)be32_load(p + at) + 8;
		if (at == len && at > s)
			return 1;
	}
	return 0;
}

/* The file ends in zeros that begin at or before a 512-byte sector
 * boundary after o: where it grew but the last write never reached the
 * disk. */
static int
zero_tail(const uint8_t *p, size_t len, size_t o)
{
	size_t z = len;

	while (z > o && p[z - 1] == 0)
		z--;
	return z < len && ((z + 511) & ~(size_t)511) < len;
}

/* An aligned all-zero 512-byte sector inside [o, end). */
static int
zero_sector_in(const uint8_t *p, size_t o, size_t end)
{
	for (size_t b = (o + 511) & ~(size_t)511; b + 512 <= end; b += 512)
		if (all_zero(p + b, 512))
			return 1;
	return 0;
}

/* A bad frame at o, of declared end `end` (may lie past len): the tail of
 * a write a crash cut short, or an edit?  A crash leaves the last write
 * cut short or with sectors never written (zeros), and nothing whole
 * after it.  So: tampering if a whole frame starts where this one says it
 * ends (or, for a length past the end, whole frames run on to the end);
 * else torn only with the marks of a crash; else tampering. */
static int
bad_frame(const uint8_t *p, size_t len, size_t o, size_t end)
{
	if (end <= len ? valid_frame_at(p, len, end) : whole_frames_follow(p, len, o))
		return KETEN_ETAMPER;
	if (end > len || zero_tail(p, len, o) || zero_sector_in(p, o, end < len ? end : len))
		return KETEN_ETORN;
	return KETEN_ETAMPER;
}

int
auditlog_frame_next(const uint8_t *p, size_t len, size_t *off, struct auditlog_frame *f)
{
	size_t o = *off, rest;

	if (o >= len)
		return 1;
	rest = len - o;
	/* A crash can leave a partial frame, or a file extended with zeros
	 * whose data never reached the disk: both are a torn tail. */
	if (rest < FRAME_OVERHEAD || all_zero(p + o, rest))
		return KETEN_ETORN;
	/* A header no writer makes, with whole frames after it that run on
	 * to the end: bytes overwritten in the middle (zeros, say), not a
	 * write a crash cut short, which has nothing whole after it. */
	if (!header_possible(p + o))
		return whole_frames_follow(p, len, o) ? KETEN_ETAMPER : bad_frame(p, len, o, len);
	/* the header is possible: the frame runs past the end */
	if (auditlog_frame_head(p, len, o, f) != 0)
		return bad_frame(p, len, o, o + (size_t)be32_load(p + o) + 8);
	if (auditlog_frame_check(f) != 0)
		return bad_frame(p, len, o, f->end);
	*off = f->end;
	return 0;
}

int
auditlog_frame_put(struct buf *b, int type, const uint8_t *payload, size_t len)
{
	uint8_t *d, h[32];
	int r;

	if (len + 1 > AUDITLOG_FRAME_MAX)
		return KETEN_ETOOBIG;
	if ((r = buf_reserve(b, len + FRAME_OVERHEAD, &d)) != 0)
		return r;
	be32_store(d, (uint32_t)(len + 1));
	d[4] = (uint8_t)type;
	memcpy(d + 5, payload, len);
	merkle_sha256(d + 4, len + 1, h);
	memcpy(d + 5 + len, h, 4);
	return 0;
}

void
auditlog_origin(const char *oin, char out[64])
{
	snprintf(out, 64, "%s%s", AUDITLOG_ORIGIN_PREFIX, oin);
}

size_t
auditlog_find_identifier(const char *s)
{
	static const char digit[] = "0123456789";
	char norm[11], id[11];
	size_t i = 0, run;

	/* strcspn and strspn go through text 16 bytes at a time */
	for (;;) {
		i += strcspn(s + i, digit);
		if (s[i] == '\0')
			return 0;
		run = strspn(s + i, digit);
		if (run == 9 || run == 10) {
			memcpy(id, s + i, run);
			id[run] = '\0';
			if (audit_subject_classify(id, norm) != AUDIT_SUBJECT_NONE)
				return i + 1;
		}
		i += run;
	}
}

/* ------------------------------------------------------------------ */
/* records */

/* Empty, or printable ASCII of at most max bytes. */
static int
text_ok(const char *s, size_t max)
{
	return s == NULL || s[0] == '\0' || text_printable(s, max + 1);
}

int
auditlog_record_parse_with(const uint8_t *p, size_t len, ProtobufCAllocator *alloc,
    Keten__V1__AuditRecord **out)
{
	Keten__V1__AuditRecord *r = keten__v1__audit_record__unpack(alloc, len, p);
	int ok;

	if (r == NULL)
		return KETEN_EFIELD;
	if (r->version != 1) {
		keten__v1__audit_record__free_unpacked(r, alloc);
		return KETEN_EVERSION;
	}
	ok = oin_valid(r->node) && r->event > 0 &&
	    r->event <= KETEN__V1__AUDIT_EVENT__EVENT_LOG_STOP &&
	    (r->msg_id.len == 0 || r->msg_id.len == 16) &&
	    (r->trace_id.len == 0 || r->trace_id.len == 16) &&
	    (r->span_id.len == 0 || r->span_id.len == 8) &&
	    (r->envelope_hash.len == 0 || r->envelope_hash.len == 32) &&
	    (r->key.len == 0 || r->key.len == 32) &&
	    (r->sender[0] == '\0' || oin_valid(r->sender)) &&
	    (r->peer[0] == '\0' || oin_valid(r->peer)) &&
	    text_ok(r->local_system, AUDIT_TEXT_SHORT) && text_ok(r->purpose, AUDIT_TEXT_PURPOSE) &&
	    text_ok(r->mandate_id, AUDIT_TEXT_MANDATE) && text_ok(r->legal_basis, AUDIT_TEXT_LONG) &&
	    text_ok(r->rule, AUDIT_TEXT_SHORT) && text_ok(r->detail, AUDIT_TEXT_LONG) &&
	    r->checkpoint.len <= NOTE_MAX && r->n_recipients <= 32;
	for (size_t i = 0; ok && i < r->n_recipients; i++)
		ok = oin_valid(r->recipients[i]);
	/* a witnessed checkpoint is a signed note (UTF-8 text by its rules),
	 * as the node checked before it recorded it */
	if (ok && r->checkpoint.len > 0) {
		struct checkpoint cp;

		ok = checkpoint_parse(r->checkpoint.data, r->checkpoint.len, &cp) == 0;
	}
	if (ok && r->subject != NULL)
		ok = strlen(r->subject->period) == AUDIT_PERIOD_LEN &&
		    text_ok(r->subject->period, AUDIT_PERIOD_LEN) &&
		    r->subject->nonce.len == AUDIT_NONCE_LEN &&
		    r->subject->sealed.len == AUDIT_SEALED_LEN;
	if (ok && r->prune != NULL)
		ok = r->prune->first < r->prune->end && r->prune->end <= r->index &&
		    text_ok(r->prune->policy, 128) &&
		    text_ok(r->prune->period, AUDIT_PERIOD_LEN);
	if (!ok) {
		keten__v1__audit_record__free_unpacked(r, alloc);
		return KETEN_EFIELD;
	}
	*out = r;
	return 0;
}

int
auditlog_record_parse(const uint8_t *p, size_t len, Keten__V1__AuditRecord **out)
{
	return auditlog_record_parse_with(p, len, NULL, out);
}

/* ------------------------------------------------------------------ */
/* the writer */

struct auditlog {
	int fd;
	char path[4096];
	char oin[21];
	char origin[64];
	uint8_t *sk;			/* 64, sodium_malloc */
	uint8_t pk[32];
	struct audit_keys *keys;	/* not owned */
	char keys_path[4096];

	struct merkle_frontier tree, durable_tree;
	uint64_t durable_len;		/* bytes of the log that are durable: on disk,
					 * or in the caller's store (auditlog_write) */
	uint64_t file_len;		/* bytes written to the file */
	uint64_t synced_len;		/* bytes of the file known to be on disk */
	int behind;			/* a write failed: the file lacks durable frames */
	struct buf *pending;		/* this turn's frames */
	uint64_t cp_size;		/* size of the last checkpoint signed */
	uint64_t cp_ms;
	uint64_t durable_cp_size, durable_cp_ms;	/* of the last one on disk */
	struct buf *note;		/* the last checkpoint signed */
	/* Subject nonces: a random prefix per opening and a counter, so no
	 * nonce repeats under a period key (not even for a record index used
	 * again after a rolled-back turn) and no system call per record. */
	uint8_t nonce_prefix[16];
	uint64_t nonce_ctr;
	uint8_t *pack;			/* record packing space */
	size_t pack_cap;
	/* The last record's period (by day) and trace context, parsed once
	 * for the several records of one message. */
	uint64_t period_day;		/* day + 1 since the epoch; 0: none */
	char period[AUDIT_PERIOD_LEN + 1];
	char tp[56];			/* the traceparent trace and span are of */
	int tp_ok;
	uint8_t trace[16], span[8];
};

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == ENOSPC || errno == EDQUOT ? KETEN_EFULL : KETEN_EIO;
		}
		p += w;		/* a short write is retried with the rest */
		n -= (size_t)w;
	}
	return 0;
}

static int
dir_fsync(const char *path)
{
	char dir[4096], *slash;
	int dfd, r = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return KETEN_EIO;
	if (fsync(dfd) != 0)
		r = KETEN_EIO;
	close(dfd);
	return r;
}

#define RELEASE_STEP ((size_t)16 << 20)

void
auditlog_file_release(const struct auditlog_file *f, size_t off, size_t *released)
{
	size_t upto;

	if (off < *released + RELEASE_STEP)
		return;		/* the page size is looked up only every 16 MiB */
	upto = off & ~(size_t)(sysconf(_SC_PAGESIZE) - 1);
	if (upto >= *released + RELEASE_STEP) {
		(void)madvise((void *)(uintptr_t)(f->p + *released), upto - *released,
		    MADV_DONTNEED);
		*released = upto;
	}
}

struct prune_range {
	uint64_t first, end;
};

/* After the last checkpoint a log holds what the node wrote since, which
 * no signature covers yet.  A PRUNE record there whose range has bodies
 * removed already is not the node's (it removes bodies only once its
 * PRUNE record is checkpointed and on disk): signing over it would make
 * a removal by anyone with the file look like retention.  ETAMPER then. */
static int
uncovered_prune(const struct auditlog_file *f, size_t from, size_t to,
    const struct prune_range *pruned, size_t npruned)
{
	struct auditlog_frame fr;
	size_t off = from;
	int bad = 0;

	while (!bad && off < to && auditlog_frame_next(f->p, to, &off, &fr) == 0) {
		Keten__V1__AuditRecord *rec = NULL;

		if (fr.type != AUDITLOG_RECORD ||
		    auditlog_record_parse(fr.payload, fr.payload_len, &rec) != 0)
			continue;
		if (rec->event == KETEN__V1__AUDIT_EVENT__EVENT_PRUNE && rec->prune != NULL)
			for (size_t i = 0; i < npruned; i++)
				if (pruned[i].first < rec->prune->end && rec->prune->first < pruned[i].end)
					bad = 1;
		keten__v1__audit_record__free_unpacked(rec, NULL);
	}
	return bad ? KETEN_ETAMPER : 0;
}

/* Re-hash an existing log: rebuild the tree, check it against the last
 * checkpoint, cut a torn tail. */
static int
log_replay(struct auditlog *l, size_t *torn)
{
	struct auditlog_file f;
	struct auditlog_frame fr;
	struct checkpoint cp;
	struct prune_range *pruned = NULL;
	size_t off = AUDITLOG_MAGIC_LEN, released = 0, cp_end = AUDITLOG_MAGIC_LEN;
	size_t npruned = 0, cap = 0;
	int r, have_cp = 0;

	if ((r = auditlog_file_open(l->path, &f)) != 0)
		return r;
	while ((r = auditlog_frame_next(f.p, f.len, &off, &fr)) == 0) {
		auditlog_file_release(&f, fr.offset, &released);
		if (fr.type == AUDITLOG_RECORD) {
			/* the first record says whose log this is */
			if (l->tree.size == 0) {
				Keten__V1__AuditRecord *rec = NULL;
				int mine = auditlog_record_parse(fr.payload, fr.payload_len, &rec) == 0 &&
				    strcmp(rec->node, l->oin) == 0;

				if (rec != NULL)
					keten__v1__audit_record__free_unpacked(rec, NULL);
				if (!mine) {
					r = KETEN_EFIELD;
					break;
				}
			}
			merkle_frontier_append(&l->tree, fr.hash);
		} else if (fr.type == AUDITLOG_PRUNED) {
			if (fr.payload_len != 40) {
				r = KETEN_ETAMPER;
				break;
			}
			/* the indexes whose bodies are gone, in runs */
			if (npruned > 0 && pruned[npruned - 1].end == l->tree.size) {
				pruned[npruned - 1].end++;
			} else {
				if ((r = array_room(&pruned, npruned, &cap, sizeof(*pruned), 16)) != 0)
					break;
				pruned[npruned++] = (struct prune_range){ l->tree.size, l->tree.size + 1 };
			}
			merkle_frontier_append(&l->tree, fr.payload + 8);
		} else {
			uint8_t root[32];

			if (checkpoint_parse(fr.payload, fr.payload_len, &cp) != 0 ||
			    cp.size != l->tree.size) {
				r = KETEN_ETAMPER;
				break;
			}
			if (strcmp(cp.origin, l->origin) != 0) {
				r = KETEN_EFIELD;	/* another node's log */
				break;
			}
			merkle_frontier_root(&l->tree, root);
			if (memcmp(root, cp.root, 32) != 0) {
				r = KETEN_ETAMPER;
				break;
			}
			have_cp = 1;
			cp_end = fr.end;
			l->cp_size = cp.size;
			buf_reset(l->note);
			if ((r = buf_put(l->note, fr.payload, fr.payload_len)) != 0)
				break;
		}
	}
	(void)have_cp;
	if ((r == 1 || r == KETEN_ETORN) && npruned > 0 &&
	    uncovered_prune(&f, cp_end, off, pruned, npruned) != 0)
		r = KETEN_ETAMPER;
	free(pruned);
	if (r == KETEN_ETORN) {
		/* Never acknowledged: the commit that wrote it did not finish. */
		*torn = f.len - off;
		r = 0;
		if (ftruncate(l->fd, (off_t)off) != 0 || fdatasync(l->fd) != 0)
			r = KETEN_EIO;
	} else if (r == 1) {
		r = 0;
	}
	l->durable_len = l->file_len = l->synced_len = off;
	auditlog_file_close(&f);
	return r;
}

static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off);

/* The file (of size bytes, open on fd) is what a crash leaves of a log
 * being made: shorter than the magic and a beginning of it, or zeros
 * where the magic never reached the disk.  It holds no record. */
static int
creation_cut(int fd, uint64_t size)
{
	uint8_t head[AUDITLOG_MAGIC_LEN];

	if (size == 0 || size > AUDITLOG_MAGIC_LEN || pread_all(fd, head, size, 0) != 0)
		return 0;
	return all_zero(head, size) ||
	    (size < AUDITLOG_MAGIC_LEN && memcmp(head, AUDITLOG_MAGIC, size) == 0);
}

int
auditlog_open(const char *path, const char *oin, const uint8_t *sk, const uint8_t pk[32],
    struct audit_keys *keys, const char *keys_path, struct auditlog **out, size_t *torn)
{
	struct auditlog *l;
	struct stat st;
	int r = KETEN_ENOMEM;

	*torn = 0;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return KETEN_ENOMEM;
	l->fd = -1;
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->oin, sizeof(l->oin), "%s", oin);
	auditlog_origin(oin, l->origin);
	l->keys = keys;
	snprintf(l->keys_path, sizeof(l->keys_path), "%s", keys_path ? keys_path : "");
	memcpy(l->pk, pk, 32);
	merkle_frontier_init(&l->tree);
	if ((l->sk = sodium_malloc(64)) == NULL ||
	    (l->pending = buf_new(SIZE_MAX)) == NULL || (l->note = buf_new(NOTE_MAX)) == NULL)
		goto out;
	memcpy(l->sk, sk, 64);
	randombytes_buf(l->nonce_prefix, sizeof(l->nonce_prefix));
	r = KETEN_EIO;
	if ((l->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0 ||
	    fstat(l->fd, &st) != 0)
		goto out;
	if (creation_cut(l->fd, (uint64_t)st.st_size)) {
		/* made again, and said so as a torn write */
		if (ftruncate(l->fd, 0) != 0)
			goto out;
		*torn = (size_t)st.st_size;
		st.st_size = 0;
	}
	if (st.st_size == 0) {
		/* A new log: the magic, durable, and the name in its directory. */
		if ((r = write_all(l->fd, (const uint8_t *)AUDITLOG_MAGIC,
		    AUDITLOG_MAGIC_LEN)) != 0)
			goto out;
		r = KETEN_EIO;
		if (fdatasync(l->fd) != 0 || dir_fsync(path) != 0)
			goto out;
		l->durable_len = l->file_len = l->synced_len = AUDITLOG_MAGIC_LEN;
	} else if ((r = log_replay(l, torn)) != 0) {
		goto out;
	} else if (fdatasync(l->fd) != 0) {
		/* what a stopped process left in the page cache is on disk
		 * from here on */
		r = KETEN_EIO;
		goto out;
	}
	l->durable_tree = l->tree;
	l->cp_ms = clock_now_ms();
	l->durable_cp_size = l->cp_size;
	l->durable_cp_ms = l->cp_ms;
	r = 0;
out:
	if (r != 0)
		auditlog_destroy(&l);
	*out = l;
	return r;
}

void
auditlog_destroy(struct auditlog **lp)
{
	struct auditlog *l;

	if (lp == NULL || (l = *lp) == NULL)
		return;
	if (l->fd >= 0)
		close(l->fd);
	sodium_free(l->sk);
	buf_destroy(&l->pending);
	buf_destroy(&l->note);
	free(l->pack);
	free(l);
	*lp = NULL;
}

uint64_t
auditlog_size(const struct auditlog *l)
{
	return l->tree.size;
}

uint64_t
auditlog_durable_size(const struct auditlog *l)
{
	return l->durable_tree.size;
}

int
auditlog_key_changed(const struct auditlog *l)
{
	struct checkpoint cp;

	return buf_len(l->note) > 0 && checkpoint_verify(buf_ptr(l->note), buf_len(l->note),
	    l->origin, l->pk, &cp) != 0;
}

uint64_t
auditlog_checkpointed_size(const struct auditlog *l)
{
	return l->cp_size;
}

uint64_t
auditlog_last_checkpoint_ms(const struct auditlog *l)
{
	return l->cp_ms;
}

/* "00-<32 hex>-<16 hex>-<2 hex>" */
static int
trace_parse(const char *tp, uint8_t trace[16], uint8_t span[8])
{
	if (tp == NULL || strlen(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
		return -1;
	if (hex_decode_exact(tp + 3, trace, 16) != 0 || hex_decode_exact(tp + 36, span, 8) != 0)
		return -1;
	return 0;
}

/* An enum is an int32: a negative one is the varint of its 64-bit sign
 * extension, as protobuf writes it. */
static uint64_t
enum_wire(int v)
{
	return (uint64_t)(int64_t)v;
}

static void
subject_out(struct pb_out *o, const Keten__V1__SealedSubject *ss)
{
	pb_out_string(o, 1, ss->period);
	pb_out_bytes(o, 2, ss->nonce.data, ss->nonce.len);
	pb_out_bytes(o, 3, ss->sealed.data, ss->sealed.len);
}

static void
prune_out(struct pb_out *o, const Keten__V1__Prune *pr)
{
	pb_out_varint(o, 1, pr->first);
	pb_out_varint(o, 2, pr->end);
	pb_out_string(o, 3, pr->period);
	pb_out_string(o, 4, pr->policy);
}

/* By hand rather than protobuf-c's get_packed_size and pack, in one pass:
 * a record is written for every event of every message, and those two
 * walking the descriptor were a third of the cost of an append (make
 * bench, perf). */
size_t
auditlog_record_encode(const Keten__V1__AuditRecord *rec, uint8_t *out, size_t cap)
{
	struct pb_out o = { out, out != NULL ? cap : 0, 0 };

	pb_out_varint(&o, 1, rec->version);
	pb_out_varint(&o, 2, rec->index);
	pb_out_varint(&o, 3, rec->time);
	pb_out_string(&o, 4, rec->node);
	pb_out_varint(&o, 5, enum_wire(rec->event));
	pb_out_bytes(&o, 6, rec->msg_id.data, rec->msg_id.len);
	pb_out_varint(&o, 7, enum_wire(rec->kind));
	pb_out_string(&o, 8, rec->sender);
	for (size_t i = 0; i < rec->n_recipients; i++)
		pb_out_elem(&o, 9, rec->recipients[i],
		    rec->recipients[i] != NULL ? strlen(rec->recipients[i]) : 0);
	pb_out_string(&o, 10, rec->local_system);
	pb_out_string(&o, 11, rec->purpose);
	pb_out_string(&o, 12, rec->mandate_id);
	pb_out_string(&o, 13, rec->legal_basis);
	pb_out_varint(&o, 14, enum_wire(rec->decision));
	pb_out_varint(&o, 15, enum_wire(rec->reason));
	pb_out_string(&o, 16, rec->rule);
	pb_out_bytes(&o, 17, rec->trace_id.data, rec->trace_id.len);
	pb_out_bytes(&o, 18, rec->span_id.data, rec->span_id.len);
	pb_out_bytes(&o, 19, rec->envelope_hash.data, rec->envelope_hash.len);
	if (rec->subject != NULL) {
		struct pb_out c = { NULL, 0, 0 };

		subject_out(&c, rec->subject);
		pb_out_head(&o, 20, c.n);
		subject_out(&o, rec->subject);
	}
	pb_out_string(&o, 21, rec->peer);
	pb_out_bytes(&o, 22, rec->checkpoint.data, rec->checkpoint.len);
	if (rec->prune != NULL) {
		struct pb_out c = { NULL, 0, 0 };

		prune_out(&c, rec->prune);
		pb_out_head(&o, 23, c.n);
		prune_out(&o, rec->prune);
	}
	pb_out_bytes(&o, 24, rec->key.data, rec->key.len);
	pb_out_string(&o, 25, rec->detail);
	pb_out_varint(&o, 26, rec->first);
	return o.n;
}

/* Pack one record into a RECORD frame in the pending buffer and add its
 * leaf to the tree: written where the longest frame would fit, then the
 * buffer cut back to it. */
static int
record_put(struct auditlog *l, const Keten__V1__AuditRecord *rec)
{
	size_t at = buf_len(l->pending), n;
	uint8_t *d, h[32];
	int r;

	if ((r = buf_reserve(l->pending, AUDITLOG_FRAME_MAX - 1 + FRAME_OVERHEAD, &d)) != 0)
		return r;
	n = auditlog_record_encode(rec, d + 5, AUDITLOG_FRAME_MAX - 1);
	if (n + 1 > AUDITLOG_FRAME_MAX) {
		buf_truncate(l->pending, at);
		return KETEN_ETOOBIG;
	}
	buf_truncate(l->pending, at + n + FRAME_OVERHEAD);
	be32_store(d, (uint32_t)(n + 1));
	d[4] = AUDITLOG_RECORD;
	/* d[4] is 0x00, the leaf prefix: the frame check is the leaf hash */
	merkle_leaf_hash_prefixed(d + 4, n + 1, h);
	memcpy(d + 5 + n, h, 4);
	merkle_frontier_append(&l->tree, h);
	return 0;
}

/* A run of 9 or 10 digits in a text field would be an identifier, or
 * look like one to the verifier's policy check (a purpose or mandate id a
 * local system typed, a directory serial made from a date): such runs are
 * written grouped by threes, "123.456.782".  Longer text is cut at cap,
 * and a run of digits the cut ends is cut to 8 if it would be 9 or 10. */
static const char *
text_defuse(const char *in, char *out, size_t cap)
{
	size_t o = 0, run = 0, i;

	if (in == NULL)
		return "";
	/* most text needs nothing done: written as it is */
	for (i = 0; in[i] != '\0' && i + 1 < cap; i++) {
		if (in[i] >= '0' && in[i] <= '9')
			run++;
		else if (run == 9 || run == 10 || in[i] < 0x20 || in[i] > 0x7e)
			break;
		else
			run = 0;
	}
	if (in[i] == '\0' && run != 9 && run != 10)
		return in;
	for (i = 0; in[i] != '\0' && o + 1 < cap;) {
		size_t j = i;

		while (in[j] >= '0' && in[j] <= '9')
			j++;
		if (j - i == 9 || j - i == 10) {
			for (size_t k = i; k < j && o + 2 < cap; k++) {
				out[o++] = in[k];
				if (k + 1 < j && (j - k - 1) % 3 == 0)
					out[o++] = '.';
			}
			i = j;
		} else if (j > i) {
			size_t take = j - i, room = cap - 1 - o;
			int cut = take > room;

			/* cut here, but not to a run of 9 or 10 */
			if (cut)
				take = room == 9 || room == 10 ? 8 : room;
			memcpy(out + o, in + i, take);
			o += take;
			if (cut)
				break;
			i = j;
		} else {
			/* what the parser takes: printable ASCII */
			out[o++] = in[i] >= 0x20 && in[i] <= 0x7e ? in[i] : '?';
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

int
auditlog_append(struct auditlog *l, const struct audit_event *e)
{
	char t_purpose[AUDIT_TEXT_PURPOSE + 1], t_mandate[AUDIT_TEXT_MANDATE + 1];
	char t_basis[AUDIT_TEXT_LONG + 1], t_detail[AUDIT_TEXT_LONG + 1];
	char t_local[AUDIT_TEXT_SHORT + 1], t_rule[AUDIT_TEXT_SHORT + 1];
	const char *rcpt[32];
	size_t nrcpt = 0, pending_len = buf_len(l->pending);
	struct merkle_frontier before = l->tree;
	Keten__V1__AuditRecord rec = KETEN__V1__AUDIT_RECORD__INIT;
	Keten__V1__SealedSubject ss = KETEN__V1__SEALED_SUBJECT__INIT;
	uint8_t nonce[AUDIT_NONCE_LEN], sealed[AUDIT_SEALED_LEN];
	uint8_t pseudonym[AUDIT_PSEUDONYM_LEN];
	char *period = NULL;
	size_t nsub = e->n_subjects ? e->n_subjects : 1;
	int r, added;

	if (e->n_subjects > AUDITLOG_MAX_SUBJECTS)
		return KETEN_ETOOBIG;
	if (e->n_subjects > 0 && l->keys == NULL)
		return KETEN_EAUDITKEY;
	rec.version = 1;
	rec.time = clock_now_ms();
	rec.node = l->oin;
	rec.event = (Keten__V1__AuditEvent)e->event;
	/* Only what auditlog_record_parse accepts is written: a local system's
	 * refused request may hold anything. */
	rec.sender = (char *)(e->sender && oin_valid(e->sender) ? e->sender : "");
	rec.peer = (char *)(e->peer && oin_valid(e->peer) ? e->peer : "");
	for (size_t i = 0; i < e->n_recipients && nrcpt < 32; i++)
		if (e->recipients[i] != NULL && oin_valid(e->recipients[i]))
			rcpt[nrcpt++] = e->recipients[i];
	rec.local_system = (char *)text_defuse(e->local_system, t_local, sizeof(t_local));
	rec.purpose = (char *)text_defuse(e->purpose, t_purpose, sizeof(t_purpose));
	rec.mandate_id = (char *)text_defuse(e->mandate_id, t_mandate, sizeof(t_mandate));
	rec.legal_basis = (char *)text_defuse(e->legal_basis, t_basis, sizeof(t_basis));
	rec.rule = (char *)text_defuse(e->rule, t_rule, sizeof(t_rule));
	rec.detail = (char *)text_defuse(e->detail, t_detail, sizeof(t_detail));
	if (e->msg_id != NULL) {
		rec.msg_id.data = (uint8_t *)e->msg_id;
		rec.msg_id.len = 16;
	}
	rec.kind = (Keten__V1__Kind)e->kind;
	rec.recipients = (char **)rcpt;
	rec.n_recipients = nrcpt;
	rec.decision = (Keten__V1__Decision)e->decision;
	rec.reason = (Keten__V1__Reason)e->reason;
	if (e->traceparent != NULL && strcmp(e->traceparent, l->tp) != 0) {
		snprintf(l->tp, sizeof(l->tp), "%s", e->traceparent);
		l->tp_ok = strlen(e->traceparent) < sizeof(l->tp) &&
		    trace_parse(e->traceparent, l->trace, l->span) == 0;
	}
	if (e->traceparent != NULL && l->tp_ok) {
		rec.trace_id.data = l->trace;
		rec.trace_id.len = 16;
		rec.span_id.data = l->span;
		rec.span_id.len = 8;
	}
	if (e->envelope_hash != NULL) {
		rec.envelope_hash.data = (uint8_t *)e->envelope_hash;
		rec.envelope_hash.len = 32;
	}
	if (e->checkpoint != NULL) {
		struct checkpoint cp;

		/* only a note the reader takes (auditlog_record_parse) */
		if (e->checkpoint_len > NOTE_MAX ||
		    checkpoint_parse(e->checkpoint, e->checkpoint_len, &cp) != 0)
			return KETEN_EFIELD;
		rec.checkpoint.data = (uint8_t *)e->checkpoint;
		rec.checkpoint.len = e->checkpoint_len;
	}
	if (e->key != NULL) {
		rec.key.data = (uint8_t *)e->key;
		rec.key.len = 32;
	}
	rec.first = e->first;
	rec.prune = (Keten__V1__Prune *)e->prune;
	if (e->n_subjects > 0) {
		if (l->period_day != rec.time / 86400000u + 1) {
			audit_period_of(rec.time, l->period);
			l->period_day = rec.time / 86400000u + 1;
		}
		period = l->period;
		if ((r = audit_keys_ensure_period(l->keys, period, &added)) != 0)
			return r;
		/* A new period key is on disk before anything is sealed with it. */
		if (added && (r = audit_keys_save(l->keys, l->keys_path)) != 0) {
			audit_keys_forget_period(l->keys, period);
			return r;
		}
		ss.period = period;
		ss.nonce.data = nonce;
		ss.nonce.len = sizeof(nonce);
		ss.sealed.data = sealed;
		ss.sealed.len = sizeof(sealed);
		rec.subject = &ss;
	}
	for (size_t i = 0; i < nsub; i++) {
		rec.index = l->tree.size;
		if (e->n_subjects > 0) {
			char norm[11];
			const char *id = e->subjects[i];
			int type = audit_subject_classify(id, norm);

			if (type == AUDIT_SUBJECT_NONE) {
				/* not a well-formed number: pseudonymised as
				 * given, typed by its length */
				snprintf(norm, sizeof(norm), "%.10s", id);
				type = strlen(id) == 9 ? AUDIT_SUBJECT_BSN :
				    AUDIT_SUBJECT_V_NUMBER;
			}
			if (e->pseudonyms != NULL)
				memcpy(pseudonym, e->pseudonyms[i], sizeof(pseudonym));
			else
				audit_pseudonym(l->keys, type, norm, pseudonym);
			if (e->pseudonyms_out != NULL)
				memcpy(e->pseudonyms_out[i], pseudonym, sizeof(pseudonym));
			sodium_memzero(norm, sizeof(norm));
			memcpy(nonce, l->nonce_prefix, 16);
			be64_store(nonce + 16, l->nonce_ctr++);
			if ((r = audit_subject_seal(l->keys, period, l->oin, rec.index,
			    type, pseudonym, nonce, sealed)) != 0)
				break;
		}
		if ((r = record_put(l, &rec)) != 0)
			break;
	}
	sodium_memzero(pseudonym, sizeof(pseudonym));
	if (r != 0) {
		/* all of the event's records, or none */
		buf_truncate(l->pending, pending_len);
		l->tree = before;
	}
	return r;
}

int
auditlog_checkpoint(struct auditlog *l, int force, struct buf *note)
{
	uint8_t root[32];
	uint64_t now = clock_now_ms();
	int r;

	if (l->tree.size != l->cp_size || force || buf_len(l->note) == 0) {
		merkle_frontier_root(&l->tree, root);
		buf_reset(l->note);
		if ((r = checkpoint_sign(l->origin, l->tree.size, root, now / 1000,
		    l->origin, l->sk, l->pk, l->note)) != 0)
			return r;
		if ((r = auditlog_frame_put(l->pending, AUDITLOG_CHECKPOINT,
		    buf_ptr(l->note), buf_len(l->note))) != 0)
			return r;
		l->cp_size = l->tree.size;
		l->cp_ms = now;
	}
	if (note != NULL) {
		buf_reset(note);
		return buf_put(note, buf_ptr(l->note), buf_len(l->note));
	}
	return 0;
}

/* Back to the last durable length (no half record stays) and drop the
 * turn; returns r, or KETEN_EIO if even that failed. */
static int
write_undo(struct auditlog *l, int r)
{
	if (ftruncate(l->fd, (off_t)l->durable_len) != 0) {
		r = KETEN_EIO;
		l->behind = 1;	/* part of a frame may stay: nothing goes after it */
	}
	auditlog_rollback(l);
	return r;
}

static int
sync_err(void)
{
	return errno == ENOSPC || errno == EDQUOT ? KETEN_EFULL : KETEN_EIO;
}

/* The buffered frames are durable: they are the log's from now on. */
static void
pending_done(struct auditlog *l)
{
	l->durable_len += buf_len(l->pending);
	l->durable_tree = l->tree;
	l->durable_cp_size = l->cp_size;
	l->durable_cp_ms = l->cp_ms;
	buf_reset(l->pending);
}

int
auditlog_commit(struct auditlog *l)
{
	int r;

	if (buf_len(l->pending) == 0)
		return 0;
	if (l->behind) {
		auditlog_rollback(l);
		return KETEN_EIO;
	}
	if ((r = write_all(l->fd, buf_ptr(l->pending), buf_len(l->pending))) == 0 &&
	    fdatasync(l->fd) != 0) {
		r = sync_err();
		l->behind = 1;	/* as in auditlog_sync */
	}
	if (r != 0)
		return write_undo(l, r);
	pending_done(l);
	l->file_len = l->synced_len = l->durable_len;
	return 0;
}

void
auditlog_staged(const struct auditlog *l, uint64_t *off, const uint8_t **p, size_t *len)
{
	*off = l->durable_len;
	*p = buf_ptr(l->pending);
	*len = buf_len(l->pending);
}

int
auditlog_write(struct auditlog *l)
{
	int r;

	if (buf_len(l->pending) == 0)
		return l->behind ? KETEN_EIO : 0;
	if (l->behind) {
		pending_done(l);
		return KETEN_EIO;
	}
	r = write_all(l->fd, buf_ptr(l->pending), buf_len(l->pending));
	pending_done(l);
	if (r != 0) {
		/* no half frame stays; what is missing is in the caller's
		 * store and goes back at the next start (auditlog_restore) */
		if (ftruncate(l->fd, (off_t)l->file_len) != 0)
			r = KETEN_EIO;
		l->behind = 1;
		return r;
	}
	l->file_len = l->durable_len;
	return 0;
}

int
auditlog_sync(struct auditlog *l, uint64_t *synced)
{
	if (l->behind)
		return KETEN_EIO;
	if (l->synced_len != l->file_len) {
		if (fdatasync(l->fd) != 0) {
			/* the kernel may have dropped the pages it could not
			 * write: a later fdatasync proves nothing about them */
			l->behind = 1;
			return sync_err();
		}
		l->synced_len = l->file_len;
	}
	if (synced != NULL)
		*synced = l->synced_len;
	return 0;
}

uint64_t
auditlog_unsynced(const struct auditlog *l)
{
	return l->durable_len - l->synced_len;
}

static int
pread_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t k = pread(fd, p, n, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return KETEN_EIO;
		p += k, off += (uint64_t)k;
		n -= (size_t)k;
	}
	return 0;
}

static int
pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return sync_err();
		p += k, off += (uint64_t)k;
		n -= (size_t)k;
	}
	return 0;
}

int
auditlog_restore(int fd, uint64_t off, const uint8_t *p, size_t len, size_t *restored)
{
	struct stat st;
	uint8_t *have = NULL;
	uint64_t size, cmp;
	size_t differ = 0;
	int r = 0;

	*restored = 0;
	if (len == 0)
		return 0;
	if (fstat(fd, &st) != 0)
		return KETEN_EIO;
	size = (uint64_t)st.st_size;
	/* The file is on disk at least up to where the node last synced,
	 * and rows are kept from there on: a file that ends before the row
	 * begins lost frames that were on disk. */
	if (off < AUDITLOG_MAGIC_LEN || off > size)
		return KETEN_ETAMPER;
	cmp = size - off < len ? size - off : len;
	if (cmp > 0) {
		if ((have = malloc(cmp)) == NULL)
			return KETEN_ENOMEM;
		if ((r = pread_all(fd, have, cmp, off)) != 0)
			goto out;
		/* Where the file differs it may hold only what a crash
		 * leaves: zeros, in whichever blocks did not reach the disk
		 * (not only at the end).  Anything else was written there by
		 * someone else. */
		for (size_t i = 0; i < cmp; i++) {
			if (have[i] == p[i])
				continue;
			if (have[i] != 0) {
				r = KETEN_ETAMPER;
				goto out;
			}
			differ++;
		}
	}
	differ += len - cmp;
	/* Written even where the file reads the same: after an fdatasync
	 * that failed, the kernel may keep the bytes in its cache, marked
	 * clean, while the disk lacks them; only a write sends them again. */
	if ((r = pwrite_all(fd, p, len, off)) == 0)
		*restored = differ;
out:
	free(have);
	return r;
}

void
auditlog_rollback(struct auditlog *l)
{
	if (l->cp_size != l->durable_cp_size) {
		/* the checkpoint signed in this turn was not written; the note
		 * is signed afresh next time */
		l->cp_size = l->durable_cp_size;
		l->cp_ms = l->durable_cp_ms;
		buf_reset(l->note);
	}
	l->tree = l->durable_tree;
	buf_reset(l->pending);
}

/* ------------------------------------------------------------------ */
/* reading */

int
auditlog_file_open(const char *path, struct auditlog_file *f)
{
	struct stat st;
	void *m;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(f->fd, &st) != 0) {
		auditlog_file_close(f);
		return KETEN_EIO;
	}
	if ((size_t)st.st_size < AUDITLOG_MAGIC_LEN) {
		auditlog_file_close(f);
		return KETEN_EFIELD;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, f->fd, 0);
	if (m == MAP_FAILED) {
		auditlog_file_close(f);
		return KETEN_EIO;
	}
	f->p = m;
	f->len = (size_t)st.st_size;
	if (memcmp(f->p, AUDITLOG_MAGIC, AUDITLOG_MAGIC_LEN) != 0) {
		auditlog_file_close(f);
		return KETEN_EFIELD;
	}
	madvise(m, f->len, MADV_SEQUENTIAL);
	return 0;
}

void
auditlog_file_close(struct auditlog_file *f)
{
	if (f->p != NULL)
		munmap((void *)f->p, f->len);
	if (f->fd >= 0)
		close(f->fd);
	f->p = NULL;
	f->fd = -1;
}

int
auditlog_each(const struct auditlog_file *f, int parse, auditlog_each_fn fn, void *arg,
    size_t *bad_offset)
{
	return auditlog_each_from(f, AUDITLOG_MAGIC_LEN, 0, parse, fn, arg, bad_offset);
}

int
auditlog_each_from(const struct auditlog_file *f, size_t start, uint64_t index, int parse,
    auditlog_each_fn fn, void *arg, size_t *bad_offset)
{
	struct auditlog_frame fr;
	size_t off = start, released = 0;
	int r;

	while ((r = auditlog_frame_next(f->p, f->len, &off, &fr)) == 0) {
		Keten__V1__AuditRecord *rec = NULL;

		auditlog_file_release(f, fr.offset, &released);
		if (fr.type == AUDITLOG_RECORD && parse &&
		    (r = auditlog_record_parse(fr.payload, fr.payload_len, &rec)) != 0) {
			*bad_offset = fr.offset;
			return r;
		}
		r = fn(arg, &fr, index, rec);
		if (rec != NULL)
			keten__v1__audit_record__free_unpacked(rec, NULL);
		if (r != 0)
			return r;
		if (fr.type != AUDITLOG_CHECKPOINT)
			index++;
	}
	if (r == 1)
		return 0;
	*bad_offset = off;
	return r;
}

struct leaves_acc {
	uint8_t (*leaves)[32];
	size_t n, cap;
};

static int
leaves_add(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *rec)
{
	struct leaves_acc *a = arg;
	const uint8_t *h;

	(void)index;
	(void)rec;
	if (f->type == AUDITLOG_CHECKPOINT)
		return 0;
	if (f->type == AUDITLOG_PRUNED) {
		if (f->payload_len != 40)
			return KETEN_ETAMPER;
		h = f->payload + 8;
	} else {
		h = f->hash;
	}
	if (array_room(&a->leaves, a->n, &a->cap, 32, 4096) != 0)
		return KETEN_ENOMEM;
	memcpy(a->leaves[a->n++], h, 32);
	return 0;
}

int
auditlog_leaves(const struct auditlog_file *f, uint8_t (**leaves)[32], uint64_t *n)
{
	struct leaves_acc a = { NULL, 0, 0 };
	size_t bad;
	int r = auditlog_each(f, 0, leaves_add, &a, &bad);

	if (r != 0) {
		free(a.leaves);
		return r;
	}
	*leaves = a.leaves;
	*n = a.n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* retention */

/* Records that hold processing of personal data; the others (start,
 * stop, configuration, keys, pruning) carry what verification needs and
 * are kept. */
static int
prunable(int event)
{
	switch (event) {
	case KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT:
	case KETEN__V1__AUDIT_EVENT__EVENT_SEND:
	case KETEN__V1__AUDIT_EVENT__EVENT_RELAY:
	case KETEN__V1__AUDIT_EVENT__EVENT_RECEIVE:
	case KETEN__V1__AUDIT_EVENT__EVENT_RECEIPT:
	case KETEN__V1__AUDIT_EVENT__EVENT_DELIVER:
	case KETEN__V1__AUDIT_EVENT__EVENT_EXPIRE:
	case KETEN__V1__AUDIT_EVENT__EVENT_WITNESS:
	case KETEN__V1__AUDIT_EVENT__EVENT_AUDIT_ACCESS:
		return 1;
	default:
		return 0;
	}
}

struct prune_scan {
	uint64_t before;	/* ms */
	uint64_t first, end;	/* the range to prune */
	int have_first;
	uint64_t done;		/* end of the last PRUNE record's range */
	struct prune_range *ranges;	/* of every PRUNE record */
	size_t n, cap;
	int nomem;
};

static int
prune_find(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *rec)
{
	struct prune_scan *s = arg;

	(void)f;
	if (rec == NULL)
		return 0;
	if (rec->event == KETEN__V1__AUDIT_EVENT__EVENT_PRUNE && rec->prune != NULL) {
		if (rec->prune->end > s->done)
			s->done = rec->prune->end;
		if (array_room(&s->ranges, s->n, &s->cap, sizeof(*s->ranges), 16) != 0) {
			s->nomem = 1;
			return 1;
		}
		s->ranges[s->n++] = (struct prune_range){ rec->prune->first, rec->prune->end };
	}
	if (rec->time < s->before) {
		if (!s->have_first) {
			s->first = index;
			s->have_first = 1;
		}
		s->end = index + 1;
	}
	return 0;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct prune_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Whether record index lies in one of the ranges (sorted by first);
 * *k moves along with index, which only grows. */
static int
in_ranges(const struct prune_range *rg, size_t n, size_t *k, uint64_t index)
{
	while (*k < n && rg[*k].end <= index)
		(*k)++;
	for (size_t j = *k; j < n && rg[j].first <= index; j++)
		if (index < rg[j].end)
			return 1;
	return 0;
}

/* Copy the log to a new file with the bodies of prunable records in the
 * ranges replaced by PRUNED frames, then put it in place. */
static int
log_rewrite(struct auditlog *l, struct prune_range *rg, size_t nrg, uint64_t *removed)
{
	struct auditlog_file f;
	struct auditlog_frame fr;
	struct buf *out = NULL;
	char tmp[4200];
	size_t off = AUDITLOG_MAGIC_LEN, k = 0;
	uint64_t index = 0;
	int r, fd = -1;

	*removed = 0;
	qsort(rg, nrg, sizeof(*rg), range_cmp);
	if ((r = auditlog_file_open(l->path, &f)) != 0)
		return r;
	if ((out = buf_new(SIZE_MAX)) == NULL || buf_put(out, AUDITLOG_MAGIC, AUDITLOG_MAGIC_LEN)) {
		r = KETEN_ENOMEM;
		goto out;
	}
	while ((r = auditlog_frame_next(f.p, f.len, &off, &fr)) == 0) {
		Keten__V1__AuditRecord *rec = NULL;
		int prune = 0;

		if (fr.type == AUDITLOG_RECORD && in_ranges(rg, nrg, &k, index) &&
		    auditlog_record_parse(fr.payload, fr.payload_len, &rec) == 0) {
			prune = prunable(rec->event);
			keten__v1__audit_record__free_unpacked(rec, NULL);
		}
		if (prune) {
			uint8_t p[40];

			be64_store(p, index);
			memcpy(p + 8, fr.hash, 32);
			r = auditlog_frame_put(out, AUDITLOG_PRUNED, p, sizeof(p));
			(*removed)++;
		} else {
			r = buf_put(out, fr.body - 4, fr.end - fr.offset);
		}
		if (r != 0)
			goto out;
		if (fr.type != AUDITLOG_CHECKPOINT)
			index++;
	}
	if (r != 1)
		goto out;	/* the log must be whole to be rewritten */
	/* The new file is complete and durable before it replaces the old
	 * one; then the directory entry is made durable.  The writer goes on
	 * with the new file's descriptor: no reopening that could fail. */
	snprintf(tmp, sizeof(tmp), "%s.prune", l->path);
	r = KETEN_EIO;
	if ((fd = open(tmp, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		goto out;
	if ((r = write_all(fd, buf_ptr(out), buf_len(out))) != 0)
		goto out;
	r = KETEN_EIO;
	if (fsync(fd) != 0 || rename(tmp, l->path) != 0)
		goto out;
	close(l->fd);
	l->fd = fd;
	fd = -1;
	l->durable_len = l->file_len = l->synced_len = buf_len(out);
	/* Until the new name is durable, a power cut may bring back the old
	 * file: nothing more is written to the new one (the node stops). */
	if (dir_fsync(l->path) != 0) {
		r = KETEN_EIO;
		l->behind = 1;
	} else {
		r = 0;
	}
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (r != 0)
		*removed = 0;
	buf_destroy(&out);
	auditlog_file_close(&f);
	return r;
}

int
auditlog_prune(struct auditlog *l, uint64_t before_ms, const char *period, const char *policy,
    int again, uint64_t *removed)
{
	Keten__V1__Prune pr = KETEN__V1__PRUNE__INIT;
	struct prune_scan s;
	struct audit_event e;
	struct auditlog_file f;
	size_t bad;
	int r;

	*removed = 0;
	if (buf_len(l->pending) != 0)
		return KETEN_ESTATE;	/* between turns only */
	memset(&s, 0, sizeof(s));
	s.before = before_ms;
	if ((r = auditlog_file_open(l->path, &f)) != 0)
		return r;
	r = auditlog_each(&f, 1, prune_find, &s, &bad);
	auditlog_file_close(&f);
	if (s.nomem)
		r = KETEN_ENOMEM;
	if (r != 0)
		goto out;
	/* a PRUNE record seen after its range's records: start after it */
	if (s.first < s.done)
		s.first = s.done;
	if (!s.have_first || s.end <= s.first) {
		/* nothing new; bodies an earlier rewrite left go now */
		if (again && s.n > 0)
			r = log_rewrite(l, s.ranges, s.n, removed);
		goto out;
	}
	if ((r = array_room(&s.ranges, s.n, &s.cap, sizeof(*s.ranges), 16)) != 0)
		goto out;
	/* The pruning is itself a record, signed into the log before any
	 * body is removed. */
	pr.first = s.first;
	pr.end = s.end;
	pr.period = (char *)period;
	pr.policy = (char *)policy;
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_PRUNE;
	e.prune = &pr;
	if ((r = auditlog_append(l, &e)) != 0 || (r = auditlog_checkpoint(l, 0, NULL)) != 0 ||
	    (r = auditlog_commit(l)) != 0) {
		auditlog_rollback(l);
		goto out;
	}
	/* every range pruned so far: one the last rewrite could not finish
	 * is finished with this one */
	s.ranges[s.n++] = (struct prune_range){ s.first, s.end };
	r = log_rewrite(l, s.ranges, s.n, removed);
out:
	free(s.ranges);
	return r;
}
