/*
 * auditverify.c — offline verification of an audit log (auditlog_verify in
 * auditlog.h): every frame, every record, the Merkle tree, every
 * checkpoint signature, checkpoints from elsewhere (witnesses), pruning,
 * and the policy that no record holds a raw identifier.  Needs no keys
 * beyond the node's public signing key(s).
 */
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
	struct arena *arena;
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
		if (texts[i] != NULL && texts[i][0] != '\0' &&
		    auditlog_find_identifier((const uint8_t *)texts[i], strlen(texts[i])))
			return 1;
	return 0;
}

static int
check_record(struct verify *v, const struct auditlog_frame *f, uint64_t index)
{
	Keten__V1__AuditRecord *rec = NULL;
	ProtobufCAllocator alloc = { arena_alloc, arena_free, v->arena };
	int r;

	v->arena->used = 0;
	if ((r = auditlog_record_parse_with(f->payload, f->payload_len, &alloc, &rec)) != 0) {
		report(v, KETEN_ETAMPER, index, f->offset,
		    "record %llu does not parse (%s): forged or altered",
		    (unsigned long long)index, keten_strerror(r));
		return 0;
	}
	if (rec->index != index)
		report(v, KETEN_ETAMPER, index, f->offset,
		    "the record at position %llu says it is record %llu: records were "
		    "deleted, inserted or reordered", (unsigned long long)index,
		    (unsigned long long)rec->index);
	if (!v->have_oin)
		set_oin(v, v->t->oin ? v->t->oin : rec->node);
	if (strcmp(rec->node, v->rep->oin) != 0)
		report(v, KETEN_ETAMPER, index, f->offset,
		    "record %llu belongs to the log of node %s, not %s",
		    (unsigned long long)index, rec->node, v->rep->oin);
	if (index == 0 && rec->event != KETEN__V1__AUDIT_EVENT__EVENT_LOG_START)
		report(v, KETEN_ETAMPER, index, f->offset,
		    "the log does not begin with a LOG_START record (cut at the front?)");
	if (rec->key.len == 32 && (rec->event == KETEN__V1__AUDIT_EVENT__EVENT_LOG_START ||
	    rec->event == KETEN__V1__AUDIT_EVENT__EVENT_KEY)) {
		if (v->t->n_keys > 0 && !key_trusted(v, rec->key.data))
			report(v, KETEN_ETAMPER, index, f->offset,
			    "record %llu names a signing key that is not among the "
			    "trusted keys", (unsigned long long)index);
		memcpy(v->key, rec->key.data, 32);
		v->have_key = 1;
		if ((r = key_seen(v, rec->key.data)) != 0)
			return r;
	}
	if (rec->prune != NULL && rec->event == KETEN__V1__AUDIT_EVENT__EVENT_PRUNE) {
		if ((r = range_add(&v->prunes, &v->n_prunes, rec->prune->first, rec->prune->end,
		    index)) != 0)
			return r;
		v->rep->prune_records++;
	}
	if (v->rep->first_time == 0)
		v->rep->first_time = rec->time;
	v->rep->last_time = rec->time;
	if (record_has_identifier(rec)) {
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
	struct auditlog_frame fr;
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
	if ((v.arena = malloc(sizeof(*v.arena))) == NULL || (r = ext_load(&v)) != 0) {
		r = KETEN_ENOMEM;
		goto out;
	}
	ext_take_roots(&v);
	while ((r = auditlog_frame_next(f->p, f->len, &off, &fr)) == 0) {
		auditlog_file_release(f, fr.offset, &released);
		if (fr.type == AUDITLOG_CHECKPOINT) {
			check_checkpoint(&v, &fr, index);
			continue;
		}
		if (fr.type == AUDITLOG_RECORD) {
			if ((r = check_record(&v, &fr, index)) != 0)
				goto out;
			merkle_frontier_append(&v.tree, fr.hash);
			rep->records++;
		} else {
			if (fr.payload_len != 40 || be64_load(fr.payload) != index) {
				report(&v, KETEN_ETAMPER, index, fr.offset,
				    "a pruned-record frame at position %llu is malformed",
				    (unsigned long long)index);
				break;
			}
			if ((r = range_add(&v.pruned, &v.n_pruned, index, index + 1, 0)) != 0)
				goto out;
			merkle_frontier_append(&v.tree, fr.payload + 8);
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
	if (!v.have_oin && t->oin == NULL)
		report(&v, KETEN_ETAMPER, 0, 0, "the log holds no records");
	ext_check(&v);
	prune_check(&v);
out:
	free(v.seen_keys);
	free(v.pruned);
	free(v.prunes);
	free(v.ext);
	free(v.arena);
	if (r != 0)
		return r;
	return rep->tamper ? KETEN_ETAMPER : rep->torn ? KETEN_ETORN :
	    rep->policy ? KETEN_EPOLICY : 0;
}
