/*
 * auditverify.c — offline verification of an audit log (auditlog_verify in
 * auditlog.h): every frame, every record, the Merkle tree, every
 * checkpoint signature, checkpoints from elsewhere (witnesses), pruning,
 * and the policy that no record holds a raw identifier.  Needs no keys
 * beyond the node's public signing key(s).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "err.h"
#include "merkle.h"
#include "util.h"

/* Records are unpacked into an arena that is reset per record: verify
 * reads millions of records, and protobuf-c would otherwise malloc every
 * field. */
#define ARENA_SIZE (4 * AUDITLOG_FRAME_MAX)

struct arena {
	size_t used;
	_Alignas(16) uint8_t mem[ARENA_SIZE];
};

static void *
arena_alloc(void *data, size_t n)
{
	struct arena *a = data;
	size_t at = (a->used + 15) & ~(size_t)15;

	if (n > ARENA_SIZE - at)
		return NULL;	/* protobuf-c fails the unpack: a parse error */
	a->used = at + n;
	return a->mem + at;
}

static void
arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

/* What verify needs of one frame that does not depend on the frames before
 * it: its check and, for a record, the record's fields.  Two threads work
 * these out ahead, in chunks of frames; the checks that follow the log's
 * order (the tree, checkpoints, keys, pruning) are then made on the facts,
 * in order, by one thread. */
struct fact {
	struct auditlog_frame fr;	/* fr.hash once checked */
	int bad;			/* the check does not match */
	int parse;			/* RECORD: 0, or why it does not parse */
	int event, identifier, has_key, has_prune;
	uint64_t index, time, prune_first, prune_end;
	uint8_t key[32];
	char node[KETEN_OIN_LEN + 1];
};

#define CHUNK 256	/* frames a thread takes at a time: about 100 KB of log */
#define RING 16		/* chunks read ahead of the checks in order */

struct chunk {
	struct fact f[CHUNK];
	size_t n;
	int done;		/* its facts are made */
};

/* The frames of a log in order, with their facts.  A chunk is taken (its
 * headers read, under mu) by whichever thread is free: the second thread,
 * or the checking thread when the next chunk is not ready.  Its facts are
 * made outside the lock.  No chunk is taken past the end or a bad header;
 * the frame there, and a frame whose check does not match, are read again
 * with auditlog_frame_next, which tells a torn write from tampering. */
struct reader {
	const struct auditlog_file *lf;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chunk *ring;	/* RING chunks; chunk k is ring[k % RING] */
	uint64_t taken;		/* chunks taken */
	uint64_t consumed;	/* chunks the checks in order are done with */
	size_t off;		/* where the next chunk to take begins */
	int end;		/* nothing more to take */
	int stop;		/* the second thread is to end */
	int have_cur;		/* the checks in order are in chunk `consumed` */
	size_t at;		/* ... at this fact */
	int single;		/* reading on with auditlog_frame_next alone */
	struct fact one;	/* a frame read so */
	struct arena *arena[2];	/* the checking thread's, the second's */
	pthread_t th;
	int have_th;
};

struct range {
	uint64_t first, end;
	uint64_t at;		/* prunes: the index of the PRUNE record */
};

struct external {
	struct checkpoint cp;
	size_t i;		/* index in trust->notes */
	int have_root;
	uint8_t root[32];	/* of the log at cp.size */
};

struct verify {
	const struct auditlog_trust *t;
	struct auditlog_report *rep;
	auditlog_problem_fn problem;
	void *arg;
	char origin[64];
	int have_oin;
	uint8_t key[32];		/* the key the log says is in use */
	int have_key;
	uint8_t (*seen_keys)[32];	/* every key the log named */
	size_t n_seen;
	struct merkle_frontier tree;
	uint64_t last_cp_time;
	struct range *pruned, *prunes;
	size_t n_pruned, n_prunes;
	struct external *ext;
	size_t n_ext;
	struct reader rd;
};

static void
report(struct verify *v, int code, uint64_t index, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
report(struct verify *v, int code, uint64_t index, size_t offset, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (code == KETEN_ETAMPER)
		v->rep->tamper++;
	else if (code == KETEN_ETORN)
		v->rep->torn++;
	else
		v->rep->policy++;
	if (v->problem == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	v->problem(v->arg, code, index, offset, what);
}

/* Add [first, end) to *rs, joined to the last range when it follows on
 * and has the same `at` (the PRUNE ranges of different records, which
 * count only once a checkpoint covers their record, stay apart). */
static int
range_add(struct range **rs, size_t *n, uint64_t first, uint64_t end, uint64_t at)
{
	struct range *grown;

	if (*n > 0 && (*rs)[*n - 1].end == first && (*rs)[*n - 1].at == at) {
		(*rs)[*n - 1].end = end;
		return 0;
	}
	if ((grown = realloc(*rs, (*n + 1) * sizeof(*grown))) == NULL)
		return KETEN_ENOMEM;
	*rs = grown;
	(*rs)[(*n)++] = (struct range){ first, end, at };
	return 0;
}

static int
key_trusted(const struct verify *v, const uint8_t key[32])
{
	for (size_t i = 0; i < v->t->n_keys; i++)
		if (memcmp(v->t->keys[i], key, 32) == 0)
			return 1;
	return 0;
}

static int
key_seen(struct verify *v, const uint8_t key[32])
{
	uint8_t (*grown)[32];

	for (size_t i = 0; i < v->n_seen; i++)
		if (memcmp(v->seen_keys[i], key, 32) == 0)
			return 0;
	if ((grown = realloc(v->seen_keys, (v->n_seen + 1) * 32)) == NULL)
		return KETEN_ENOMEM;
	v->seen_keys = grown;
	memcpy(v->seen_keys[v->n_seen++], key, 32);
	return 0;
}

/* Take the roots the external checkpoints ask for, at the current size. */
static void
ext_take_roots(struct verify *v)
{
	uint8_t root[32];
	int have = 0;

	for (size_t i = 0; i < v->n_ext; i++) {
		if (v->ext[i].have_root || v->ext[i].cp.size != v->tree.size)
			continue;
		if (!have)
			merkle_frontier_root(&v->tree, root);
		have = 1;
		memcpy(v->ext[i].root, root, 32);
		v->ext[i].have_root = 1;
	}
}

static void
set_oin(struct verify *v, const char *oin)
{
	snprintf(v->rep->oin, sizeof(v->rep->oin), "%s", oin);
	auditlog_origin(oin, v->origin);
	v->have_oin = 1;
}

/* The policy check looks at the text a record holds (the binary fields
 * are hashes, nonces and sealed bytes; a WITNESS checkpoint is a signed
 * note whose tree size may well have 9 digits). */
static int
record_has_identifier(const Keten__V1__AuditRecord *r)
{
	const char *texts[] = { r->local_system, r->purpose, r->mandate_id, r->legal_basis,
		r->rule, r->detail, r->prune ? r->prune->policy : NULL };

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i] != NULL && auditlog_find_identifier(texts[i]))
			return 1;
	return 0;
}

/* The facts of the frame in x->fr: its check, and the record's fields. */
static void
fact_make(struct arena *a, struct fact *x)
{
	ProtobufCAllocator alloc = { arena_alloc, arena_free, a };
	Keten__V1__AuditRecord *rec = NULL;

	x->bad = auditlog_frame_check(&x->fr) != 0;
	if (x->bad || x->fr.type != AUDITLOG_RECORD)
		return;
	a->used = 0;
	if ((x->parse = auditlog_record_parse_with(x->fr.payload, x->fr.payload_len, &alloc,
	    &rec)) != 0)
		return;
	x->index = rec->index;
	x->event = rec->event;
	x->time = rec->time;
	/* a record that parses names a valid OIN: KETEN_OIN_LEN digits */
	memcpy(x->node, rec->node, KETEN_OIN_LEN + 1);
	x->has_key = rec->key.len == 32 && (rec->event == KETEN__V1__AUDIT_EVENT__EVENT_LOG_START ||
	    rec->event == KETEN__V1__AUDIT_EVENT__EVENT_KEY);
	if (x->has_key)
		memcpy(x->key, rec->key.data, 32);
	x->has_prune = rec->prune != NULL && rec->event == KETEN__V1__AUDIT_EVENT__EVENT_PRUNE;
	if (x->has_prune) {
		x->prune_first = rec->prune->first;
		x->prune_end = rec->prune->end;
	}
	x->identifier = record_has_identifier(rec);
}

/* Take the next chunk, reading its headers: 1 and *k its number, or 0 when
 * there is none to take now.  Called with rd->mu held. */
static int
chunk_take(struct reader *rd, uint64_t *k)
{
	struct chunk *c;
	size_t n = 0, off = rd->off;

	if (rd->end || rd->stop || rd->taken - rd->consumed >= RING)
		return 0;
	c = &rd->ring[rd->taken % RING];
	while (n < CHUNK && auditlog_frame_head(rd->lf->p, rd->lf->len, off, &c->f[n].fr) == 0)
		off = c->f[n++].fr.end;
	if (n < CHUNK)
		rd->end = 1;
	if (n == 0)
		return 0;
	c->n = n;
	c->done = 0;
	rd->off = off;
	*k = rd->taken++;
	return 1;
}

/* Make the facts of chunk k (taken by this thread), then mark it done.
 * Called with rd->mu held; returns with it held. */
static void
chunk_make(struct reader *rd, uint64_t k, struct arena *a)
{
	struct chunk *c = &rd->ring[k % RING];

	pthread_mutex_unlock(&rd->mu);
	for (size_t i = 0; i < c->n; i++)
		fact_make(a, &c->f[i]);
	pthread_mutex_lock(&rd->mu);
	c->done = 1;
	pthread_cond_broadcast(&rd->cv);
}

static void *
reader_thread(void *arg)
{
	struct reader *rd = arg;
	uint64_t k;

	pthread_mutex_lock(&rd->mu);
	while (!rd->stop && !rd->end) {
		if (chunk_take(rd, &k))
			chunk_make(rd, k, rd->arena[1]);
		else if (!rd->end)
			pthread_cond_wait(&rd->cv, &rd->mu);
	}
	pthread_mutex_unlock(&rd->mu);
	return NULL;
}

/* Read from off.  0, or KETEN_ENOMEM.  Without a second thread, the
 * checking thread makes every chunk itself. */
static int
reader_start(struct reader *rd, const struct auditlog_file *lf, size_t off)
{
	memset(rd, 0, sizeof(*rd));
	rd->lf = lf;
	rd->off = off;
	if ((rd->ring = calloc(RING, sizeof(*rd->ring))) == NULL ||
	    (rd->arena[0] = malloc(sizeof(*rd->arena[0]))) == NULL ||
	    (rd->arena[1] = malloc(sizeof(*rd->arena[1]))) == NULL) {
		free(rd->ring);
		free(rd->arena[0]);
		rd->ring = NULL;
		return KETEN_ENOMEM;
	}
	pthread_mutex_init(&rd->mu, NULL);
	pthread_cond_init(&rd->cv, NULL);
	rd->have_th = pthread_create(&rd->th, NULL, reader_thread, rd) == 0;
	return 0;
}

static void
reader_end(struct reader *rd)
{
	if (rd->ring == NULL)
		return;
	pthread_mutex_lock(&rd->mu);
	rd->stop = 1;
	pthread_cond_broadcast(&rd->cv);
	pthread_mutex_unlock(&rd->mu);
	if (rd->have_th)
		pthread_join(rd->th, NULL);
	pthread_cond_destroy(&rd->cv);
	pthread_mutex_destroy(&rd->mu);
	free(rd->ring);
	free(rd->arena[0]);
	free(rd->arena[1]);
	rd->ring = NULL;
}

/* The next frame from *off and its facts, in order: as auditlog_frame_next
 * (0 and *off advanced, 1 at the end, KETEN_ETORN, KETEN_ETAMPER). */
static int
reader_next(struct reader *rd, size_t *off, struct fact **out)
{
	struct chunk *c;
	uint64_t k;
	int r;

	while (!rd->single) {
		c = &rd->ring[rd->consumed % RING];
		if (rd->have_cur && rd->at < c->n) {
			if (c->f[rd->at].bad)
				break;
			*out = &c->f[rd->at++];
			*off = (*out)->fr.end;
			return 0;
		}
		pthread_mutex_lock(&rd->mu);
		if (rd->have_cur) {
			rd->consumed++;
			rd->have_cur = 0;
			pthread_cond_broadcast(&rd->cv);
		}
		for (;;) {
			c = &rd->ring[rd->consumed % RING];
			if ((rd->consumed < rd->taken && c->done) ||
			    (rd->consumed == rd->taken && rd->end))
				break;
			if (chunk_take(rd, &k))
				chunk_make(rd, k, rd->arena[0]);
			else if (rd->consumed < rd->taken)	/* the second thread's */
				pthread_cond_wait(&rd->cv, &rd->mu);
		}
		rd->have_cur = rd->consumed < rd->taken;
		rd->at = 0;
		pthread_mutex_unlock(&rd->mu);
		if (!rd->have_cur)
			break;
	}
	/* the end, a bad header or a bad check: from here on, one frame at a
	 * time (auditlog_frame_next says what is wrong) */
	rd->single = 1;
	memset(&rd->one, 0, sizeof(rd->one));
	if ((r = auditlog_frame_next(rd->lf->p, rd->lf->len, off, &rd->one.fr)) != 0)
		return r;
	fact_make(rd->arena[0], &rd->one);
	*out = &rd->one;
	return 0;
}

static int
check_record(struct verify *v, const struct fact *x, uint64_t index)
{
	const struct auditlog_frame *f = &x->fr;
	int r;

	if (x->parse != 0) {
		report(v, KETEN_ETAMPER, index, f->offset,
		    "record %llu does not parse (%s): forged or altered",
		    (unsigned long long)index, keten_strerror(x->parse));
		return 0;
	}
	if (x->index != index)
		report(v, KETEN_ETAMPER, index, f->offset,
		    "the record at position %llu says it is record %llu: records were "
		    "deleted, inserted or reordered", (unsigned long long)index,
		    (unsigned long long)x->index);
	if (!v->have_oin)
		set_oin(v, v->t->oin ? v->t->oin : x->node);
	if (strcmp(x->node, v->rep->oin) != 0)
		report(v, KETEN_ETAMPER, index, f->offset,
		    "record %llu belongs to the log of node %s, not %s",
		    (unsigned long long)index, x->node, v->rep->oin);
	if (index == 0 && x->event != KETEN__V1__AUDIT_EVENT__EVENT_LOG_START)
		report(v, KETEN_ETAMPER, index, f->offset,
		    "the log does not begin with a LOG_START record (cut at the front?)");
	if (x->has_key) {
		if (v->t->n_keys > 0 && !key_trusted(v, x->key))
			report(v, KETEN_ETAMPER, index, f->offset,
			    "record %llu names a signing key that is not among the "
			    "trusted keys", (unsigned long long)index);
		memcpy(v->key, x->key, 32);
		v->have_key = 1;
		if ((r = key_seen(v, x->key)) != 0)
			return r;
	}
	if (x->has_prune) {
		if ((r = range_add(&v->prunes, &v->n_prunes, x->prune_first, x->prune_end,
		    index)) != 0)
			return r;
		v->rep->prune_records++;
	}
	if (v->rep->first_time == 0)
		v->rep->first_time = x->time;
	v->rep->last_time = x->time;
	if (x->identifier) {
		v->rep->identifiers++;
		report(v, KETEN_EPOLICY, index, f->offset,
		    "record %llu holds something that looks like a raw BSN or V-nummer",
		    (unsigned long long)index);
	}
	return 0;
}

static int
verify_sig(const struct verify *v, const struct auditlog_frame *f, const uint8_t key[32],
    struct checkpoint *cp)
{
	return checkpoint_verify(f->payload, f->payload_len, v->origin, key, cp);
}

static void
check_checkpoint(struct verify *v, const struct auditlog_frame *f, uint64_t index)
{
	struct checkpoint cp, sig;
	uint8_t root[32];
	int other = -1;

	if (checkpoint_parse(f->payload, f->payload_len, &cp) != 0) {
		report(v, KETEN_ETAMPER, index, f->offset, "a checkpoint is malformed");
		return;
	}
	if (!v->have_oin || strcmp(cp.origin, v->origin) != 0) {
		report(v, KETEN_ETAMPER, index, f->offset,
		    "the checkpoint for size %llu is of another log (%s)",
		    (unsigned long long)cp.size, cp.origin);
		return;
	}
	if (!v->have_key || verify_sig(v, f, v->key, &sig) != 0) {
		for (size_t i = 0; i < v->n_seen && other < 0; i++)
			if (verify_sig(v, f, v->seen_keys[i], &sig) == 0)
				other = (int)i;
		if (other >= 0)
			report(v, KETEN_ETAMPER, index, f->offset,
			    "the checkpoint for size %llu is signed with a key the "
			    "node did not use at that point: history was re-signed",
			    (unsigned long long)cp.size);
		else
			report(v, KETEN_ETAMPER, index, f->offset,
			    "the checkpoint for size %llu has no valid signature by "
			    "the node's key: forged", (unsigned long long)cp.size);
		return;
	}
	cp.time = sig.time;
	v->rep->checkpoints++;
	if (cp.size != v->tree.size) {
		report(v, KETEN_ETAMPER, index, f->offset,
		    "a checkpoint for size %llu stands after record %llu: moved, "
		    "replayed, or records were removed or added",
		    (unsigned long long)cp.size, (unsigned long long)v->tree.size);
		return;
	}
	merkle_frontier_root(&v->tree, root);
	if (memcmp(root, cp.root, 32) != 0) {
		report(v, KETEN_ETAMPER, index, f->offset,
		    "records %llu..%llu do not match the checkpoint signed for size "
		    "%llu: altered", (unsigned long long)v->rep->covered,
		    (unsigned long long)(cp.size ? cp.size - 1 : 0),
		    (unsigned long long)cp.size);
		return;
	}
	if (cp.time < v->last_cp_time)
		report(v, KETEN_ETAMPER, index, f->offset,
		    "the checkpoint for size %llu is older than the one before it",
		    (unsigned long long)cp.size);
	v->last_cp_time = cp.time;
	v->rep->covered = cp.size;
}

/* Parse the checkpoints given from elsewhere; they are checked against the
 * log at the end, once the log's origin and keys are known. */
static int
ext_load(struct verify *v)
{
	if (v->t->n_notes == 0)
		return 0;
	if ((v->ext = calloc(v->t->n_notes, sizeof(*v->ext))) == NULL)
		return KETEN_ENOMEM;
	for (size_t i = 0; i < v->t->n_notes; i++) {
		if (checkpoint_parse(v->t->notes[i], v->t->note_lens[i],
		    &v->ext[v->n_ext].cp) != 0) {
			report(v, KETEN_ETAMPER, 0, 0,
			    "witnessed checkpoint %zu is malformed", i + 1);
			continue;
		}
		v->ext[v->n_ext++].i = i;
	}
	return 0;
}

static void
ext_check(struct verify *v)
{
	for (size_t k = 0; k < v->n_ext; k++) {
		struct external *e = &v->ext[k];
		struct checkpoint cp;
		int ok = 0;

		if (strcmp(e->cp.origin, v->origin) != 0) {
			report(v, KETEN_ETAMPER, 0, 0,
			    "witnessed checkpoint %zu is of another log (%s): logs "
			    "swapped?", e->i + 1, e->cp.origin);
			continue;
		}
		for (size_t i = 0; i < v->n_seen && !ok; i++)
			ok = checkpoint_verify(v->t->notes[e->i], v->t->note_lens[e->i],
			    v->origin, v->seen_keys[i], &cp) == 0;
		for (size_t i = 0; i < v->t->n_keys && !ok; i++)
			ok = checkpoint_verify(v->t->notes[e->i], v->t->note_lens[e->i],
			    v->origin, v->t->keys[i], &cp) == 0;
		if (!ok) {
			report(v, KETEN_ETAMPER, 0, 0,
			    "witnessed checkpoint %zu (size %llu) has no valid signature",
			    e->i + 1, (unsigned long long)e->cp.size);
			continue;
		}
		if (e->cp.size > v->tree.size)
			report(v, KETEN_ETAMPER, e->cp.size, 0,
			    "the log has %llu records but the node signed a checkpoint "
			    "for %llu (witnessed): truncated or rolled back",
			    (unsigned long long)v->tree.size,
			    (unsigned long long)e->cp.size);
		else if (!e->have_root || memcmp(e->root, e->cp.root, 32) != 0)
			report(v, KETEN_ETAMPER, e->cp.size, 0,
			    "the log's first %llu records differ from what the node "
			    "signed then (witnessed checkpoint %zu): history was "
			    "rewritten or forked", (unsigned long long)e->cp.size,
			    e->i + 1);
	}
}

/* Every removed body must lie in a range a PRUNE record names. */
static void
prune_check(struct verify *v)
{
	for (size_t i = 0; i < v->n_pruned; i++) {
		struct range *p = &v->pruned[i];

		for (uint64_t x = p->first; x < p->end;) {
			uint64_t next = x, uncovered = UINT64_MAX;

			/* a PRUNE record counts once a signed checkpoint covers
			 * it: the node signs one right after it, and removes
			 * bodies only later; one after the last checkpoint may
			 * be anyone's */
			for (size_t j = 0; j < v->n_prunes; j++) {
				if (v->prunes[j].first > x || x >= v->prunes[j].end)
					continue;
				if (v->prunes[j].at < v->rep->covered)
					next = v->prunes[j].end > next ? v->prunes[j].end : next;
				else
					uncovered = v->prunes[j].at;
			}
			if (next == x) {
				if (uncovered != UINT64_MAX)
					report(v, KETEN_ETAMPER, x, 0,
					    "the body of record %llu was removed under a pruning "
					    "record (%llu) that no checkpoint covers",
					    (unsigned long long)x, (unsigned long long)uncovered);
				else
					report(v, KETEN_ETAMPER, x, 0,
					    "the body of record %llu was removed without a "
					    "pruning record", (unsigned long long)x);
				break;
			}
			x = next;
		}
	}
}

int
auditlog_verify(const struct auditlog_file *f, const struct auditlog_trust *t,
    struct auditlog_report *rep, auditlog_problem_fn problem, void *arg)
{
	struct verify v;
	struct fact *x;
	size_t off = AUDITLOG_MAGIC_LEN, released = 0;
	uint64_t index = 0;
	int r;

	memset(&v, 0, sizeof(v));
	memset(rep, 0, sizeof(*rep));
	v.t = t;
	v.rep = rep;
	v.problem = problem;
	v.arg = arg;
	merkle_frontier_init(&v.tree);
	rep->keys_from_log = t->n_keys == 0;
	if (t->oin != NULL)
		set_oin(&v, t->oin);
	for (size_t i = 0; i < t->n_keys; i++)
		if ((r = key_seen(&v, t->keys[i])) != 0)
			goto out;
	if ((r = ext_load(&v)) != 0 || (r = reader_start(&v.rd, f, off)) != 0)
		goto out;
	ext_take_roots(&v);
	while ((r = reader_next(&v.rd, &off, &x)) == 0) {
		auditlog_file_release(f, x->fr.offset, &released);
		if (x->fr.type == AUDITLOG_CHECKPOINT) {
			check_checkpoint(&v, &x->fr, index);
			continue;
		}
		if (x->fr.type == AUDITLOG_RECORD) {
			if ((r = check_record(&v, x, index)) != 0)
				goto out;
			merkle_frontier_append(&v.tree, x->fr.hash);
			rep->records++;
		} else {
			if (x->fr.payload_len != 40 || be64_load(x->fr.payload) != index) {
				report(&v, KETEN_ETAMPER, index, x->fr.offset,
				    "a pruned-record frame at position %llu is malformed",
				    (unsigned long long)index);
				break;
			}
			if ((r = range_add(&v.pruned, &v.n_pruned, index, index + 1, 0)) != 0)
				goto out;
			merkle_frontier_append(&v.tree, x->fr.payload + 8);
			rep->pruned++;
		}
		index++;
		ext_take_roots(&v);
	}
	if (r == KETEN_ETORN) {
		rep->torn_offset = off;
		report(&v, KETEN_ETORN, index, off,
		    "the log ends in a torn write at offset %zu (a crash during an "
		    "append; the node cuts it off when it starts)", off);
	} else if (r == KETEN_ETAMPER) {
		report(&v, KETEN_ETAMPER, index, off,
		    "the frame at offset %zu was altered; nothing from record %llu on can be read "
		    "as verified", off,
		    (unsigned long long)index);
	}
	r = 0;
	merkle_frontier_root(&v.tree, rep->root);
	if (rep->keys_from_log)
		rep->keys_named = v.n_seen;	/* none trusted: all are the log's */
	if (!v.have_oin && t->oin == NULL)
		report(&v, KETEN_ETAMPER, 0, 0, "the log holds no records");
	ext_check(&v);
	prune_check(&v);
out:
	free(v.seen_keys);
	free(v.pruned);
	free(v.prunes);
	free(v.ext);
	reader_end(&v.rd);
	if (r != 0)
		return r;
	return rep->tamper ? KETEN_ETAMPER : rep->torn ? KETEN_ETORN :
	    rep->policy ? KETEN_EPOLICY : 0;
}
