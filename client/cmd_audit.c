/*
 * cmd_audit.c — the auditor's commands: keten audit verify, prove,
 * check-proof, subject, index, query, reconcile, export.
 *
 * All of them work offline on a copy of a node's audit log (PROTOCOL.md
 * §17).  Only `subject` and `index` need the organisation's audit keys;
 * everything else needs no key beyond the node's public signing key.
 *
 * Exit codes of verify (and of reconcile): 0 the log verifies; 3 it was
 * tampered with; 4 it ends in a torn write (a crash: a fault, not
 * tampering); 5 it breaks a policy (a raw identifier in a record); 1 it
 * could not be read; 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "audit.pb-c.h"
#include "auditkeys.h"
#include "auditlog.h"
#include "buf.h"
#include "checkpoint.h"
#include "cli.h"
#include "directory.h"
#include "envelope.h"
#include "keten.h"
#include "err.h"
#include "merkle.h"
#include "receipt.h"
#include "util.h"

enum { EXIT_TAMPER = 3, EXIT_TORN = 4, EXIT_POLICY = 5 };

static const char *
event_name(int ev)
{
	static const char *const names[] = {
		"?", "LOG_START", "SUBMIT", "SEND", "RELAY", "RECEIVE", "RECEIPT", "DELIVER",
		"EXPIRE", "CONFIG", "KEY", "WITNESS", "PRUNE", "AUDIT_ACCESS", "TURN_ABORTED",
		"LOG_STOP",
	};

	return ev >= 0 && ev < (int)(sizeof(names) / sizeof(names[0])) ? names[ev] : "?";
}

/* A reason code this version does not know prints as "?". */
static const char *
reason_label(int reason)
{
	const char *s = reason_name(reason);

	return s != NULL ? s : "?";
}

static const char *
decision_name(int d)
{
	return d == KETEN__V1__DECISION__DECISION_ALLOW ? "allow" :
	    d == KETEN__V1__DECISION__DECISION_DENY ? "deny" : "";
}

/* On a live node (KETEN_SOCKET names its local socket), the use of the
 * auditor's tools is itself recorded, before anything is read: if the
 * node cannot record it, the command does not run. */
static int
access_record(const struct cli_cmd *cmd, const char *data_subject)
{
	const char *sock = getenv("KETEN_SOCKET");
	struct keten_client *c = NULL;
	uint64_t rec = 0;
	int r;

	if (sock == NULL || sock[0] == '\0')
		return 0;
	if ((r = keten_client_open(sock, 10000, &c)) == 0)
		r = keten_audit_access(c, cli_name(cmd), data_subject, &rec);
	if (r != 0) {
		cli_failf("%s: the node at %s did not record this use of its audit log: %s",
		    cli_name(cmd), sock, c ? keten_client_error(c) : keten_strerror(r));
		keten_client_close(&c);
		return CLI_FAIL;
	}
	keten_client_close(&c);
	fprintf(stderr, "keten: this access is audit record %" PRIu64 " of the node\n", rec);
	return 0;
}

static int
open_log(const char *path, struct auditlog_file *f)
{
	int r = auditlog_file_open(path, f);

	if (r == KETEN_EFIELD)
		return cli_failf("%s: not a keten audit log", path);
	if (r != 0)
		return cli_failf("%s: %s", path, strerror(errno));
	return 0;
}

/* Split "a,b,c" into at most max parts (the string is modified). */
static size_t
split_list(char *s, char **out, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(s, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (n == max)
			return SIZE_MAX;	/* more than the caller takes */
		out[n++] = t;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* records as JSON (the export schema, PROTOCOL.md §17.8) */

static void
set_hex(json_t *o, const char *k, const uint8_t *p, size_t n)
{
	char h[129];

	if (n == 0 || n > 64)
		return;
	hex_encode(p, n, h);
	json_object_set_new(o, k, json_string(h));
}

static void
set_str(json_t *o, const char *k, const char *v)
{
	if (v != NULL && v[0] != '\0')
		json_object_set_new(o, k, json_string(v));
}

static json_t *
record_json(const Keten__V1__AuditRecord *r, const uint8_t leaf[32])
{
	json_t *o = json_object(), *rc;
	char t[40];

	json_object_set_new(o, "index", json_integer((json_int_t)r->index));
	json_object_set_new(o, "time", json_string(cli_time_fmt(r->time, t, sizeof(t))));
	json_object_set_new(o, "time_ms", json_integer((json_int_t)r->time));
	json_object_set_new(o, "node", json_string(r->node));
	json_object_set_new(o, "event", json_string(event_name(r->event)));
	set_hex(o, "msg_id", r->msg_id.data, r->msg_id.len);
	if (r->kind != 0)
		json_object_set_new(o, "kind", json_string(kind_name(r->kind) ? kind_name(r->kind) : "?"));
	set_str(o, "sender", r->sender);
	if (r->n_recipients > 0) {
		rc = json_array();
		for (size_t i = 0; i < r->n_recipients; i++)
			json_array_append_new(rc, json_string(r->recipients[i]));
		json_object_set_new(o, "recipients", rc);
	}
	set_str(o, "local_system", r->local_system);
	set_str(o, "purpose", r->purpose);
	set_str(o, "mandate_id", r->mandate_id);
	set_str(o, "legal_basis", r->legal_basis);
	set_str(o, "decision", decision_name(r->decision));
	if (r->reason != 0)
		json_object_set_new(o, "reason", json_string(reason_label(r->reason)));
	set_str(o, "rule", r->rule);
	set_hex(o, "trace_id", r->trace_id.data, r->trace_id.len);
	set_hex(o, "span_id", r->span_id.data, r->span_id.len);
	set_hex(o, "envelope_hash", r->envelope_hash.data, r->envelope_hash.len);
	if (r->subject != NULL) {
		json_t *s = json_object();

		json_object_set_new(s, "period", json_string(r->subject->period));
		set_hex(s, "nonce", r->subject->nonce.data, r->subject->nonce.len);
		set_hex(s, "sealed", r->subject->sealed.data, r->subject->sealed.len);
		json_object_set_new(o, "subject", s);
	}
	set_str(o, "peer", r->peer);
	if (r->checkpoint.len > 0)
		json_object_set_new(o, "checkpoint",
		    json_stringn((const char *)r->checkpoint.data, r->checkpoint.len));
	if (r->prune != NULL) {
		json_t *p = json_object();

		json_object_set_new(p, "first", json_integer((json_int_t)r->prune->first));
		json_object_set_new(p, "end", json_integer((json_int_t)r->prune->end));
		set_str(p, "period", r->prune->period);
		set_str(p, "policy", r->prune->policy);
		json_object_set_new(o, "prune", p);
	}
	set_hex(o, "key", r->key.data, r->key.len);
	set_str(o, "detail", r->detail);
	if (r->event == KETEN__V1__AUDIT_EVENT__EVENT_TURN_ABORTED)
		json_object_set_new(o, "first", json_integer((json_int_t)r->first));
	set_hex(o, "leaf_hash", leaf, 32);
	return o;
}

static void
print_record_line(const Keten__V1__AuditRecord *r)
{
	char t[40], id[33] = "-";

	if (r->msg_id.len == 16)
		hex_encode(r->msg_id.data, 16, id);
	printf("%8" PRIu64 "  %s  %-12s %-5s %-19s %s  %s -> %s%s  %s%s%s%s%s\n", r->index,
	    cli_time_fmt(r->time, t, sizeof(t)), event_name(r->event),
	    r->decision ? decision_name(r->decision) : "-",
	    r->kind ? (kind_name(r->kind) ? kind_name(r->kind) : "?") : "-", id,
	    r->sender[0] ? r->sender : "-", r->n_recipients ? r->recipients[0] : "-",
	    r->n_recipients > 1 ? ",..." : "",
	    r->purpose[0] ? r->purpose : "", r->mandate_id[0] ? " mandate " : "", r->mandate_id,
	    r->reason ? " reason " : "", r->reason ? reason_label(r->reason) : "");
	if (r->detail[0] != '\0' || (r->peer[0] != '\0' &&
	    r->event == KETEN__V1__AUDIT_EVENT__EVENT_WITNESS))
		printf("%10s%s%s%s%s\n", "", r->detail, r->detail[0] && r->local_system[0] ?
		    " by " : "", r->event == KETEN__V1__AUDIT_EVENT__EVENT_AUDIT_ACCESS ?
		    r->local_system : "", r->event == KETEN__V1__AUDIT_EVENT__EVENT_WITNESS ?
		    r->peer : "");
}

/* ------------------------------------------------------------------ */
/* verify */

struct problems {
	int json;
	json_t *list;
	size_t shown;
};

static void
problem_print(void *arg, int code, uint64_t index, size_t offset, const char *what)
{
	struct problems *p = arg;
	const char *cls = code == KETEN_ETAMPER ? "TAMPERED" : code == KETEN_ETORN ? "TORN" : "POLICY";

	(void)index;
	if (p->json) {
		json_t *o = json_object();

		json_object_set_new(o, "class", json_string(cls));
		json_object_set_new(o, "offset", json_integer((json_int_t)offset));
		json_object_set_new(o, "what", json_string(what));
		json_array_append_new(p->list, o);
		return;
	}
	if (p->shown++ < 50)
		printf("%s: %s\n", cls, what);
	else if (p->shown == 51)
		printf("... (more problems not shown)\n");
}

/* The trusted keys: --key HEX,..., or the party's key in a verified
 * directory (--directory with --ca, --crl, --authority). */
struct trust_args {
	const char *keys, *ca, *crl, *auth, *auth_file, *dir, *oin;
};

static int
trust_keys(const struct cli_cmd *cmd, const struct trust_args *a, const char *log_oin,
    uint8_t (*keys)[32], size_t *n)
{
	struct directory *d = NULL;
	const struct party *p;
	char *list[16], *copy;
	int r;

	*n = 0;
	if (a->keys != NULL) {
		if ((copy = strdup(a->keys)) == NULL)
			return cli_fail(NULL, KETEN_ENOMEM);
		size_t k = split_list(copy, list, a->dir != NULL ? 15 : 16);

		if (k == SIZE_MAX) {
			free(copy);
			return cli_usage_error(cmd, a->dir != NULL ? "--key: at most 15 keys with "
			    "--directory" : "--key: at most 16 keys");
		}
		for (size_t i = 0; i < k; i++)
			if (strlen(list[i]) != 64 || hex_decode(list[i], keys[(*n)++], 32) != 0) {
				free(copy);
				return cli_usage_error(cmd, "--key: 64 hex digits each");
			}
		free(copy);
	}
	if (a->dir == NULL)
		return CLI_OK;
	if ((r = cli_directory_load(cmd, a->ca, a->crl, a->auth, a->auth_file, a->dir, &d)) != 0)
		return r;
	if ((p = directory_find(d, a->oin ? a->oin : log_oin)) == NULL) {
		directory_destroy(&d);
		return cli_failf("%s: not in the directory", a->oin ? a->oin : log_oin);
	}
	memcpy(keys[(*n)++], p->sign_pk, 32);	/* room: at most 15 from --key */
	directory_destroy(&d);
	return CLI_OK;
}

/* The log's own OIN: the node field of its first record. */
static int
first_oin(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *rec)
{
	(void)f;
	(void)index;
	if (rec == NULL)
		return 0;
	snprintf(arg, 21, "%s", rec->node);
	return 1;
}

/* Checkpoint notes from elsewhere, kept as the verifier takes them
 * (auditlog_trust.notes and note_lens): those of the log of `origin`
 * that another log witnessed, and files an auditor gives. */
struct witness_acc {
	const char *origin;
	uint8_t **notes;	/* each malloc'd */
	size_t *lens;
	size_t n, cap, capl;
};

static int
witness_add(struct witness_acc *w, const uint8_t *p, size_t len)
{
	if (array_room(&w->notes, w->n, &w->cap, sizeof(*w->notes), 16) != 0 ||
	    array_room(&w->lens, w->n, &w->capl, sizeof(*w->lens), 16) != 0 ||
	    (w->notes[w->n] = malloc(len ? len : 1)) == NULL)
		return KETEN_ENOMEM;
	memcpy(w->notes[w->n], p, len);
	w->lens[w->n++] = len;
	return 0;
}

static void
witness_free(struct witness_acc *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->notes[i]);
	free(w->notes);
	free(w->lens);
}

/* Point trust at the notes. */
static void
witness_trust(const struct witness_acc *w, struct auditlog_trust *t)
{
	t->notes = (const uint8_t *const *)w->notes;
	t->note_lens = w->lens;
	t->n_notes = w->n;
}

static int
witness_take(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *rec)
{
	struct witness_acc *w = arg;
	struct checkpoint cp;

	(void)f;
	(void)index;
	if (rec == NULL || rec->event != KETEN__V1__AUDIT_EVENT__EVENT_WITNESS ||
	    checkpoint_parse(rec->checkpoint.data, rec->checkpoint.len, &cp) != 0 ||
	    strcmp(cp.origin, w->origin) != 0)
		return 0;
	return witness_add(w, rec->checkpoint.data, rec->checkpoint.len);
}

static int
witness_collect(const char *path, const char *oin, struct witness_acc *w)
{
	struct auditlog_file f;
	char origin[64];
	size_t bad;
	int r;

	auditlog_origin(oin, origin);
	w->origin = origin;
	if ((r = open_log(path, &f)) != 0)
		return r;
	r = auditlog_each(&f, 1, witness_take, w, &bad);
	auditlog_file_close(&f);
	w->origin = NULL;
	if (r != 0 && r != KETEN_ETORN)
		return cli_failf("%s: %s", path, keten_strerror(r));
	return 0;
}

/* verify says which ranges were pruned, and under which policy. */
static int
prune_print(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *r)
{
	(void)arg;
	(void)f;
	(void)index;
	if (r != NULL && r->event == KETEN__V1__AUDIT_EVENT__EVENT_PRUNE && r->prune != NULL)
		printf("pruned: record bodies %" PRIu64 "..%" PRIu64 " (period %s, %s), by record %"
		    PRIu64 "\n", r->prune->first, r->prune->end - 1, r->prune->period,
		    r->prune->policy, r->index);
	return 0;
}

static int
verify_exit(int r)
{
	return r == 0 ? CLI_OK : r == KETEN_ETAMPER ? EXIT_TAMPER : r == KETEN_ETORN ? EXIT_TORN :
	    r == KETEN_EPOLICY ? EXIT_POLICY : CLI_FAIL;
}

int
cmd_audit_verify(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct trust_args ta = { 0 };
	const char *cps = NULL, *witness = NULL;
	int json = 0, nops, r;
	const struct cli_opt opts[] = {
		{ "key", &ta.keys, NULL }, { "ca", &ta.ca, NULL }, { "crl", &ta.crl, NULL },
		{ "authority", &ta.auth, NULL }, { "authority-file", &ta.auth_file, NULL },
		{ "directory", &ta.dir, NULL }, { "oin", &ta.oin, NULL },
		{ "checkpoint", &cps, NULL }, { "witness", &witness, NULL },
		{ "json", NULL, &json }, { NULL, NULL, NULL },
	};
	uint8_t keys[16][32];
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct auditlog_file f;
	struct problems pr = { 0, NULL, 0 };
	struct witness_acc w = { 0 };
	size_t nkeys = 0, bad;
	char oin[21] = "", root[65];

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 1)
		return cli_usage_error(cmd, "give one log file");
	if ((r = access_record(cmd, NULL)) != 0)
		return r;
	if ((r = open_log(argv[0], &f)) != 0)
		return r;
	(void)auditlog_each(&f, 1, first_oin, oin, &bad);
	if ((r = trust_keys(cmd, &ta, oin, keys, &nkeys)) != 0)
		goto out;
	/* Checkpoints from elsewhere: files (--checkpoint a,b) and the
	 * WITNESS records of other nodes' logs (--witness LOG,LOG). */
	if (cps != NULL) {
		char *copy = strdup(cps), *list[64];
		size_t k = copy ? split_list(copy, list, 64) : 0;

		if (k == SIZE_MAX) {
			free(copy);
			r = cli_usage_error(cmd, "--checkpoint: at most 64 files");
			goto out;
		}

		for (size_t i = 0; i < k && r == 0; i++) {
			struct buf *b = NULL;

			if (buf_load_file(list[i], CHECKPOINT_MAX, &b) != 0) {
				r = cli_failf("%s: cannot read", list[i]);
				break;
			}
			if (witness_add(&w, buf_ptr(b), buf_len(b)) != 0)
				r = cli_fail(NULL, KETEN_ENOMEM);
			buf_destroy(&b);
		}
		free(copy);
		if (r != 0)
			goto out;
	}
	if (witness != NULL) {
		char *copy = strdup(witness), *list[16];
		size_t k = copy ? split_list(copy, list, 16) : 0;

		if (k == SIZE_MAX) {
			free(copy);
			r = cli_usage_error(cmd, "--witness: at most 16 logs");
			goto out;
		}

		for (size_t i = 0; i < k && r == 0; i++)
			r = witness_collect(list[i], ta.oin ? ta.oin : oin, &w);
		free(copy);
		if (r != 0)
			goto out;
	}
	memset(&t, 0, sizeof(t));
	t.keys = (const uint8_t (*)[32])keys;
	t.n_keys = nkeys;
	t.oin = ta.oin;
	witness_trust(&w, &t);
	pr.json = json;
	pr.list = json ? json_array() : NULL;
	r = auditlog_verify(&f, &t, &rep, problem_print, &pr);
	hex_encode(rep.root, 32, root);
	if (json) {
		json_t *o = json_object();

		json_object_set_new(o, "log", json_string(argv[0]));
		json_object_set_new(o, "node", json_string(rep.oin));
		json_object_set_new(o, "records", json_integer((json_int_t)rep.records));
		json_object_set_new(o, "pruned", json_integer((json_int_t)rep.pruned));
		json_object_set_new(o, "checkpoints", json_integer((json_int_t)rep.checkpoints));
		json_object_set_new(o, "covered", json_integer((json_int_t)rep.covered));
		json_object_set_new(o, "witnessed", json_integer((json_int_t)w.n));
		json_object_set_new(o, "root", json_string(root));
		json_object_set_new(o, "keys_from_log", json_boolean(rep.keys_from_log));
		json_object_set_new(o, "keys_named", json_integer((json_int_t)rep.keys_named));
		json_object_set_new(o, "result", json_string(r == 0 ? "verified" :
		    r == KETEN_ETAMPER ? "tampered" : r == KETEN_ETORN ? "torn" :
		    r == KETEN_EPOLICY ? "policy" : keten_errname(r)));
		json_object_set_new(o, "problems", pr.list);
		json_dumpf(o, stdout, JSON_COMPACT);
		printf("\n");
		json_decref(o);
	} else {
		printf("log %s of node %s: %" PRIu64 " records (%" PRIu64 " pruned), %" PRIu64
		    " checkpoints, %" PRIu64 " covered by the last; root %s\n", argv[0], rep.oin,
		    rep.records + rep.pruned, rep.pruned, rep.checkpoints, rep.covered, root);
		if (w.n > 0)
			printf("%zu checkpoint(s) from elsewhere checked\n", w.n);
		if (rep.prune_records > 0)
			(void)auditlog_each(&f, 1, prune_print, NULL, &bad);
		if (rep.keys_from_log && rep.keys_named > 1)
			printf("note: no trusted key given (--key or --directory): the %zu keys the "
			    "log's own LOG_START and KEY records name were used; this proves "
			    "consistency, not who wrote it nor that its key changes were the "
			    "node's\n", rep.keys_named);
		else if (rep.keys_from_log)
			printf("note: no trusted key given (--key or --directory): the log's own key "
			    "was used; this proves consistency, not who wrote it\n");
		if (rep.records + rep.pruned > rep.covered && r != KETEN_ETAMPER)
			printf("note: the last %" PRIu64 " record(s) are not yet covered by a "
			    "checkpoint\n", rep.records + rep.pruned - rep.covered);
		printf("%s\n", r == 0 ? "verified" : r == KETEN_ETAMPER ? "TAMPERED" :
		    r == KETEN_ETORN ? "TORN (a crash; not tampering)" :
		    r == KETEN_EPOLICY ? "POLICY VIOLATION" : keten_strerror(r));
	}
	r = verify_exit(r);
out:
	witness_free(&w);
	auditlog_file_close(&f);
	return r;
}

/* ------------------------------------------------------------------ */
/* prove, check-proof */

static json_t *
hashes_json(const uint8_t (*h)[32], size_t n)
{
	json_t *a = json_array();
	char x[65];

	for (size_t i = 0; i < n; i++) {
		hex_encode(h[i], 32, x);
		json_array_append_new(a, json_string(x));
	}
	return a;
}

/* The checkpoint frames of a log, for binding a proof to a signed root. */
struct cp_find {
	uint64_t want;		/* size wanted, 0: the last one */
	struct buf *note;
	uint64_t size;
};

static int
cp_take(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *rec)
{
	struct cp_find *c = arg;
	struct checkpoint cp;

	(void)index;
	(void)rec;
	if (f->type != AUDITLOG_CHECKPOINT ||
	    checkpoint_parse(f->payload, f->payload_len, &cp) != 0 ||
	    (c->want != 0 && cp.size != c->want))
		return 0;
	buf_reset(c->note);
	c->size = cp.size;
	return buf_put(c->note, f->payload, f->payload_len);
}

int
cmd_audit_prove(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *idx = NULL, *from = NULL, *size = NULL;
	int nops, r;
	const struct cli_opt opts[] = {
		{ "index", &idx, NULL }, { "from", &from, NULL }, { "size", &size, NULL },
		{ NULL, NULL, NULL },
	};
	struct auditlog_file f;
	struct cp_find cpf = { 0, NULL, 0 };
	uint8_t (*leaves)[32] = NULL, proof[MERKLE_MAX_CONSISTENCY][32], root[32], old[32];
	uint64_t n = 0, m = 0, sz;
	size_t plen = 0, bad;
	json_t *o;
	char x[65];

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 1 || (idx == NULL) == (from == NULL))
		return cli_usage_error(cmd, "give one log and --index N or --from M");
	if ((r = access_record(cmd, NULL)) != 0)
		return r;
	if ((r = open_log(argv[0], &f)) != 0)
		return r;
	if ((r = auditlog_leaves(&f, &leaves, &n)) != 0) {
		auditlog_file_close(&f);
		return cli_failf("%s: %s", argv[0], keten_strerror(r));
	}
	sz = n;
	if (size != NULL && (sscanf(size, "%" SCNu64, &sz) != 1 || sz == 0 || sz > n)) {
		free(leaves);
		auditlog_file_close(&f);
		return cli_usage_error(cmd, "--size: 1..%" PRIu64, n);
	}
	/* The proof is for the tree of a signed checkpoint: the last one, or
	 * the one of --size; the note goes with the proof. */
	cpf.want = size != NULL ? sz : 0;
	if ((cpf.note = buf_new(CHECKPOINT_MAX)) == NULL) {
		free(leaves);
		auditlog_file_close(&f);
		return cli_fail(NULL, KETEN_ENOMEM);
	}
	(void)auditlog_each(&f, 0, cp_take, &cpf, &bad);
	auditlog_file_close(&f);
	if (size == NULL && cpf.size > 0)
		sz = cpf.size;
	if (sscanf(idx ? idx : from, "%" SCNu64, &m) != 1 || (idx ? m >= sz : m == 0 || m > sz)) {
		free(leaves);
		buf_destroy(&cpf.note);
		return cli_usage_error(cmd, "%s out of range (the tree has %" PRIu64 " leaves)",
		    idx ? "--index" : "--from", sz);
	}
	(void)merkle_root((const uint8_t (*)[32])leaves, sz, root);
	o = json_object();
	json_object_set_new(o, "tree_size", json_integer((json_int_t)sz));
	hex_encode(root, 32, x);
	json_object_set_new(o, "root", json_string(x));
	if (cpf.size == sz && buf_len(cpf.note) > 0)
		json_object_set_new(o, "checkpoint", json_stringn((const char *)buf_ptr(cpf.note),
		    buf_len(cpf.note)));
	buf_destroy(&cpf.note);
	if (idx != NULL) {
		r = merkle_inclusion_proof((const uint8_t (*)[32])leaves, sz, m, proof, &plen);
		json_object_set_new(o, "type", json_string("inclusion"));
		json_object_set_new(o, "index", json_integer((json_int_t)m));
		hex_encode(leaves[m], 32, x);
		json_object_set_new(o, "leaf_hash", json_string(x));
	} else {
		r = merkle_consistency_proof((const uint8_t (*)[32])leaves, sz, m, proof, &plen);
		(void)merkle_root((const uint8_t (*)[32])leaves, m, old);
		json_object_set_new(o, "type", json_string("consistency"));
		json_object_set_new(o, "old_size", json_integer((json_int_t)m));
		hex_encode(old, 32, x);
		json_object_set_new(o, "old_root", json_string(x));
	}
	free(leaves);
	if (r != 0) {
		json_decref(o);
		return cli_fail("proof", r);
	}
	json_object_set_new(o, "proof", hashes_json((const uint8_t (*)[32])proof, plen));
	json_dumpf(o, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(o);
	return CLI_OK;
}

static int
hex32(json_t *o, const char *k, uint8_t out[32])
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL && strlen(s) == 64 && hex_decode(s, out, 32) == 0 ? 0 : -1;
}

int
cmd_audit_check_proof(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *key = NULL;
	int nops, r, ok, signed_ok = -1;
	const struct cli_opt opts[] = { { "key", &key, NULL }, { NULL, NULL, NULL } };
	uint8_t pk[32];
	const char *note = NULL;
	uint8_t proof[MERKLE_MAX_CONSISTENCY][32], root[32], leaf[32], got[32];
	json_t *o, *pa;
	json_error_t jerr;
	const char *type;
	json_int_t size, m;
	size_t plen;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 1)
		return cli_usage_error(cmd, "give one proof file (from keten audit prove)");
	if (key != NULL && (strlen(key) != 64 || hex_decode(key, pk, 32) != 0))
		return cli_usage_error(cmd, "--key: the node's Ed25519 public key, 64 hex digits");
	if ((o = json_load_file(argv[0], JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return cli_failf("%s:%d: %s", argv[0], jerr.line, jerr.text);
	type = json_string_value(json_object_get(o, "type"));
	size = json_integer_value(json_object_get(o, "tree_size"));
	pa = json_object_get(o, "proof");
	plen = json_array_size(pa);
	ok = type != NULL && size > 0 && json_is_array(pa) && plen <= MERKLE_MAX_CONSISTENCY &&
	    hex32(o, "root", root) == 0;
	for (size_t i = 0; ok && i < plen; i++) {
		const char *s = json_string_value(json_array_get(pa, i));

		ok = s != NULL && strlen(s) == 64 && hex_decode(s, proof[i], 32) == 0;
	}
	if (ok && strcmp(type, "inclusion") == 0) {
		m = json_integer_value(json_object_get(o, "index"));
		ok = hex32(o, "leaf_hash", leaf) == 0 && m >= 0 && plen <= MERKLE_MAX_PATH &&
		    merkle_root_from_path(leaf, (uint64_t)m, (uint64_t)size,
		    (const uint8_t (*)[32])proof, plen, got) == 0 && memcmp(got, root, 32) == 0;
	} else if (ok && strcmp(type, "consistency") == 0) {
		m = json_integer_value(json_object_get(o, "old_size"));
		ok = hex32(o, "old_root", leaf) == 0 && m > 0 &&
		    merkle_consistency_verify((uint64_t)m, leaf, (uint64_t)size, root,
		    (const uint8_t (*)[32])proof, plen) == 0;
	} else {
		ok = 0;
	}
	/* The root is only worth what signs it: the checkpoint in the proof
	 * must name the same size and root (and, with --key, verify). */
	if (ok && (note = json_string_value(json_object_get(o, "checkpoint"))) != NULL) {
		struct checkpoint cp;

		ok = checkpoint_parse((const uint8_t *)note, strlen(note), &cp) == 0 &&
		    cp.size == (uint64_t)size && memcmp(cp.root, root, 32) == 0;
		/* the key's name is the note's origin (checkpoint_verify
		 * clears its output first: not cp, which holds that name) */
		if (ok && key != NULL)
			signed_ok = checkpoint_verify((const uint8_t *)note, strlen(note), cp.origin,
			    pk, NULL) == 0;
	}
	/* --key asks for a signature: a proof without a checkpoint has none */
	if (ok && key != NULL && note == NULL) {
		fprintf(stderr, "keten: %s holds no checkpoint: nothing to check --key against\n",
		    argv[0]);
		signed_ok = 0;
	}
	json_decref(o);
	if (ok && signed_ok == 0)
		ok = 0;
	printf("%s%s\n", ok ? "proof verifies" : "proof does NOT verify",
	    !ok ? "" : signed_ok == 1 ? ", against a checkpoint signed by that key" :
	    " (give --key to check the checkpoint's signature too)");
	return ok ? CLI_OK : EXIT_TAMPER;
}

/* ------------------------------------------------------------------ */
/* export, query */

struct filter {
	int json;
	uint8_t msg_id[16], trace[16];
	int has_msg, has_trace;
	const char *party, *mandate;
	int kind, decision, event;
	uint64_t since, until;
	uint64_t shown;
};

static int
filter_match(const struct filter *q, const Keten__V1__AuditRecord *r)
{
	int party = q->party == NULL || strcmp(r->sender, q->party) == 0 ||
	    strcmp(r->peer, q->party) == 0;

	for (size_t i = 0; !party && i < r->n_recipients; i++)
		party = strcmp(r->recipients[i], q->party) == 0;
	return party &&
	    (!q->has_msg || (r->msg_id.len == 16 && memcmp(r->msg_id.data, q->msg_id, 16) == 0)) &&
	    (!q->has_trace || (r->trace_id.len == 16 && memcmp(r->trace_id.data, q->trace, 16) == 0)) &&
	    (q->mandate == NULL || strcmp(r->mandate_id, q->mandate) == 0) &&
	    (q->kind == 0 || (int)r->kind == q->kind) &&
	    (q->decision < 0 || (int)r->decision == q->decision) &&
	    (q->event == 0 || (int)r->event == q->event) &&
	    r->time >= q->since && (q->until == 0 || r->time < q->until);
}

static int
query_one(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *r)
{
	struct filter *q = arg;

	(void)index;
	if (r == NULL || !filter_match(q, r))
		return 0;
	q->shown++;
	if (q->json) {
		json_t *o = record_json(r, f->hash);

		json_dumpf(o, stdout, JSON_COMPACT);
		printf("\n");
		json_decref(o);
	} else {
		print_record_line(r);
	}
	return 0;
}

/* Read every record of the log at path into fn.  A torn tail is read up
 * to; any other frame or record that does not read fails, and *err (when
 * not NULL) says why: KETEN_ETAMPER for a log that was altered. */
static int
scan_log(const char *path, auditlog_each_fn fn, void *arg, int *err)
{
	struct auditlog_file f;
	size_t bad = 0;
	int r;

	if ((r = open_log(path, &f)) != 0)
		return r;
	r = auditlog_each(&f, 1, fn, arg, &bad);
	auditlog_file_close(&f);
	if (r == KETEN_ETORN) {
		fprintf(stderr, "keten: %s: ends in a torn write at offset %zu; read up to it\n",
		    path, bad);
		return 0;
	}
	if (r < 0 && err != NULL)
		*err = r == KETEN_EFIELD || r == KETEN_EVERSION ? KETEN_ETAMPER : r;
	if (r < 0)
		return cli_failf("%s: at offset %zu: %s (run keten audit verify)", path, bad,
		    keten_strerror(r));
	return 0;
}

static int
scan(const char *path, auditlog_each_fn fn, void *arg)
{
	return scan_log(path, fn, arg, NULL);
}

static int
kind_parse(const char *s)
{
	for (int k = 1; k < 8; k++)
		if (kind_name(k) != NULL && strcasecmp(kind_name(k), s) == 0)
			return k;
	return -1;
}

static int
event_parse(const char *s)
{
	for (int e = 1; e <= KETEN__V1__AUDIT_EVENT__EVENT_LOG_STOP; e++)
		if (strcasecmp(event_name(e), s) == 0)
			return e;
	return -1;
}

int
cmd_audit_query(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *msg = NULL, *trace = NULL, *kind = NULL, *dec = NULL, *since = NULL,
	    *until = NULL, *event = NULL;
	struct filter q;
	int nops, r;
	const struct cli_opt opts[] = {
		{ "msg-id", &msg, NULL }, { "trace", &trace, NULL }, { "party", &q.party, NULL },
		{ "kind", &kind, NULL }, { "mandate", &q.mandate, NULL }, { "since", &since, NULL },
		{ "until", &until, NULL }, { "decision", &dec, NULL }, { "event", &event, NULL },
		{ "json", NULL, &q.json }, { NULL, NULL, NULL },
	};

	memset(&q, 0, sizeof(q));
	q.decision = -1;
	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 1)
		return cli_usage_error(cmd, "give one log file");
	if (msg != NULL && (strlen(msg) != 32 || hex_decode(msg, q.msg_id, 16) != 0))
		return cli_usage_error(cmd, "--msg-id: 32 hex digits");
	if (trace != NULL && (strlen(trace) != 32 || hex_decode(trace, q.trace, 16) != 0))
		return cli_usage_error(cmd, "--trace: the 32 hex digits of a trace id");
	q.has_msg = msg != NULL;
	q.has_trace = trace != NULL;
	if (kind != NULL && (q.kind = kind_parse(kind)) < 0)
		return cli_usage_error(cmd, "--kind %s: unknown", kind);
	if (event != NULL && (q.event = event_parse(event)) < 0)
		return cli_usage_error(cmd, "--event %s: unknown", event);
	if (dec != NULL) {
		if (strcmp(dec, "allow") == 0)
			q.decision = KETEN__V1__DECISION__DECISION_ALLOW;
		else if (strcmp(dec, "deny") == 0)
			q.decision = KETEN__V1__DECISION__DECISION_DENY;
		else
			return cli_usage_error(cmd, "--decision: allow or deny");
	}
	if ((since != NULL && cli_time_parse(since, &q.since) != 0) ||
	    (until != NULL && cli_time_parse(until, &q.until) != 0))
		return cli_usage_error(cmd, "--since/--until: a time (ISO 8601 UTC, or ms)");
	if ((r = access_record(cmd, NULL)) != 0)
		return r;
	if ((r = scan(argv[0], query_one, &q)) != 0)
		return r;
	if (!q.json)
		printf("%" PRIu64 " record(s)\n", q.shown);
	return CLI_OK;
}

int
cmd_audit_export(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct filter q;
	int nops, r, jsonl = 0;
	const struct cli_opt opts[] = { { "jsonl", NULL, &jsonl }, { NULL, NULL, NULL } };

	memset(&q, 0, sizeof(q));
	q.decision = -1;
	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 1 || !jsonl)
		return cli_usage_error(cmd, "give --jsonl and one log file");
	if ((r = access_record(cmd, NULL)) != 0)
		return r;
	q.json = 1;
	return scan(argv[0], query_one, &q);
}

/* ------------------------------------------------------------------ */
/* subject, index
 *
 * The subject index (LOG.idx, PROTOCOL.md §17.7) is derived from the log
 * and rebuilt by `keten audit index`: a header (magic, records and bytes
 * of the log it covers, the leaf hash of the last record covered, the
 * digest of the periods of the keys it was built with), then two sorted
 * tables of (u64 key, u64 frame offset): subject tags
 * (audit_pseudonym_tag) and msg_id prefixes, then an HMAC-SHA-256 of all
 * that under a key derived from the audit keys.  It is as secret as the
 * audit keys: the tags link records about one person.  An index whose MAC
 * does not check, or built with keys that held other periods, is not
 * used: a subject question is then answered from the whole log.
 */

#define INDEX_MAGIC "KETENAX2"
#define INDEX_HEAD 104		/* magic, 3 u64, last leaf, periods digest, nsubj */

struct ientry {
	uint64_t key, off;
};

static int
ientry_cmp(const void *a, const void *b)
{
	const struct ientry *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key ? 1 : x->off < y->off ? -1 : x->off > y->off;
}

struct ientries {
	struct ientry *e;
	size_t n, cap;
};

static int
ientry_add(struct ientries *t, uint64_t key, uint64_t off)
{
	if (array_room(&t->e, t->n, &t->cap, sizeof(*t->e), 4096) != 0)
		return KETEN_ENOMEM;
	t->e[t->n++] = (struct ientry){ key, off };
	return 0;
}

/* The subject tag of a record, if it has a subject the keys can open. */
static int
record_tag(struct audit_keys *k, const Keten__V1__AuditRecord *r, uint64_t *tag)
{
	uint8_t ps[AUDIT_PSEUDONYM_LEN];
	int type;

	if (r->subject == NULL ||
	    audit_subject_open(k, r->subject->period, r->node, r->index, r->subject->nonce.data,
	    r->subject->sealed.data, r->subject->sealed.len, &type, ps) != 0)
		return -1;
	*tag = audit_pseudonym_tag(k, ps);
	sodium_memzero(ps, sizeof(ps));
	return 0;
}

struct index_build {
	struct audit_keys *k;
	struct ientries subj, msg;
	uint64_t records, end, last_off;
	uint8_t last[32];
	uint64_t unreadable;
};

/* HMAC-SHA-256 of an index's bytes under the key the audit keys give it
 * (OpenSSL's, for the SHA extensions: an index of 10 million records is
 * 320 MB). */
static void
index_mac(struct audit_keys *k, const uint8_t *p, size_t len, uint8_t mac[32])
{
	uint8_t key[32];
	unsigned int mlen = 0;

	audit_keys_index_key(k, key);
	if (HMAC(EVP_sha256(), key, sizeof(key), p, len, mac, &mlen) == NULL || mlen != 32)
		memset(mac, 0, 32);	/* matches no index: the log is read instead */
	sodium_memzero(key, sizeof(key));
}

static int
index_one(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *r)
{
	struct index_build *b = arg;
	uint64_t tag;
	int rc = 0;

	(void)index;
	if (f->type == AUDITLOG_CHECKPOINT)
		return 0;
	/* a PRUNED frame is the record's index and leaf hash (40 bytes);
	 * any other length is a damaged log, which `verify` reports */
	if (f->type == AUDITLOG_PRUNED && f->payload_len != 40)
		return KETEN_ETAMPER;
	b->end = f->end;
	b->records++;
	b->last_off = f->offset;
	memcpy(b->last, f->type == AUDITLOG_PRUNED ? f->payload + 8 : f->hash, 32);
	if (r == NULL)
		return 0;
	if (r->subject != NULL) {
		if (record_tag(b->k, r, &tag) == 0)
			rc = ientry_add(&b->subj, tag, f->offset);
		else
			b->unreadable++;
	}
	if (rc == 0 && r->msg_id.len == 16)
		rc = ientry_add(&b->msg, be64_load(r->msg_id.data), f->offset);
	return rc;
}

static int
put_u64s(struct buf *b, const struct ientries *t)
{
	int r = buf_put_u64(b, t->n);

	for (size_t i = 0; r == 0 && i < t->n; i++)
		r = buf_put_u64(b, t->e[i].key) || buf_put_u64(b, t->e[i].off) ? KETEN_ENOMEM : 0;
	return r;
}

static int
load_keys(const char *path, struct audit_keys **k)
{
	int r;

	if (path == NULL)
		return cli_failf("--keys: the audit key file is needed");
	if ((r = audit_keys_load(path, k)) != 0)
		return cli_failf("%s: %s", path, keten_strerror(r));
	return 0;
}

int
cmd_audit_index(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *keys = NULL;
	int nops, r;
	const struct cli_opt opts[] = { { "keys", &keys, NULL }, { NULL, NULL, NULL } };
	struct index_build b;
	struct buf *out = NULL;
	char path[4096];
	uint8_t periods[32], mac[32];

	memset(&b, 0, sizeof(b));
	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 1)
		return cli_usage_error(cmd, "give one log file");
	if ((r = access_record(cmd, NULL)) != 0)
		return r;
	if ((r = load_keys(keys, &b.k)) != 0)
		return r;
	if ((r = scan(argv[0], index_one, &b)) != 0)
		goto out;
	qsort(b.subj.e, b.subj.n, sizeof(*b.subj.e), ientry_cmp);
	qsort(b.msg.e, b.msg.n, sizeof(*b.msg.e), ientry_cmp);
	audit_keys_periods_digest(b.k, periods);
	if ((out = buf_new(SIZE_MAX)) == NULL || buf_put(out, INDEX_MAGIC, 8) != 0 ||
	    buf_put_u64(out, b.records) != 0 || buf_put_u64(out, b.end) != 0 ||
	    buf_put_u64(out, b.last_off) != 0 || buf_put(out, b.last, 32) != 0 ||
	    buf_put(out, periods, 32) != 0 || put_u64s(out, &b.subj) != 0 ||
	    put_u64s(out, &b.msg) != 0) {
		r = cli_fail(NULL, KETEN_ENOMEM);
		goto out;
	}
	index_mac(b.k, buf_ptr(out), buf_len(out), mac);
	if (buf_put(out, mac, 32) != 0) {
		r = cli_fail(NULL, KETEN_ENOMEM);
		goto out;
	}
	snprintf(path, sizeof(path), "%s.idx", argv[0]);
	if (file_write_atomic(path, buf_ptr(out), buf_len(out), 0600) != 0) {
		r = cli_failf("%s: %s", path, strerror(errno));
		goto out;
	}
	printf("%s: %" PRIu64 " records, %zu with a subject, %zu with a msg_id%s\n", path,
	    b.records, b.subj.n, b.msg.n, b.unreadable ? "; some subjects unreadable "
	    "(their period's key was destroyed)" : "");
out:
	buf_destroy(&out);
	free(b.subj.e);
	free(b.msg.e);
	audit_keys_destroy(&b.k);
	return r;
}

/* A subject index, mapped read-only: a query touches only the pages of
 * its binary searches, however large the log. */
struct index {
	struct auditlog_file m;		/* the mapping (auditlog_file is just that) */
	uint64_t records, end, last_off;
	const uint8_t *subj, *msg;
	uint64_t nsubj, nmsg;
};


static int
index_map(const char *path, struct auditlog_file *m)
{
	struct stat st;
	void *p;

	memset(m, 0, sizeof(*m));
	if ((m->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(m->fd, &st) != 0 || st.st_size == 0 ||
	    (p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, m->fd, 0)) == MAP_FAILED) {
		close(m->fd);
		m->fd = -1;
		return -1;
	}
	m->p = p;
	m->len = (size_t)st.st_size;
	return 0;
}

/* Load LOG.idx if it exists, was built with these keys and still matches
 * the log; 0 if usable. */
static int
index_load(const char *log, const struct auditlog_file *f, struct audit_keys *k,
    struct index *ix)
{
	char path[4096];
	struct auditlog_frame fr;
	uint8_t periods[32], mac[32];
	const uint8_t *p;
	size_t len, off;

	memset(ix, 0, sizeof(*ix));
	snprintf(path, sizeof(path), "%s.idx", log);
	if (index_map(path, &ix->m) != 0)
		return -1;
	p = ix->m.p;
	len = ix->m.len;
	if (len < INDEX_HEAD + 8 + 32 || memcmp(p, INDEX_MAGIC, 8) != 0)
		goto bad;
	/* built with keys that held the same periods, and not altered: the
	 * MAC covers every byte before it (read once, at hash speed) */
	audit_keys_periods_digest(k, periods);
	index_mac(k, p, len - 32, mac);
	if (memcmp(p + 64, periods, 32) != 0 || sodium_memcmp(mac, p + len - 32, 32) != 0)
		goto bad;
	len -= 32;
	ix->records = be64_load(p + 8);
	ix->end = be64_load(p + 16);
	ix->last_off = be64_load(p + 24);
	ix->nsubj = be64_load(p + 96);
	if (ix->nsubj > (len - INDEX_HEAD) / 16)
		goto bad;
	ix->subj = p + INDEX_HEAD;
	off = INDEX_HEAD + ix->nsubj * 16;
	if (len < off + 8 || (ix->nmsg = be64_load(p + off)) != (len - off - 8) / 16 ||
	    (len - off - 8) % 16 != 0 || ix->end > f->len)
		goto bad;
	ix->msg = p + off + 8;
	/* Stale if the log no longer has, where the index ends, the record
	 * the index saw last. */
	if (ix->records > 0) {
		size_t o = ix->last_off;

		if (auditlog_frame_next(f->p, f->len, &o, &fr) != 0 || fr.end != ix->end ||
		    fr.type == AUDITLOG_CHECKPOINT ||
		    (fr.type == AUDITLOG_PRUNED && fr.payload_len != 40) ||
		    memcmp(fr.type == AUDITLOG_PRUNED ? fr.payload + 8 : fr.hash, p + 32, 32) != 0)
			goto bad;
	}
	return 0;
bad:
	auditlog_file_close(&ix->m);
	fprintf(stderr, "keten: %s: stale, altered, or built with other keys; reading the "
	    "whole log (rebuild it with keten audit index)\n", path);
	return -1;
}

/* First entry with key >= k in a sorted table. */
static uint64_t
index_lower(const uint8_t *t, uint64_t n, uint64_t k)
{
	uint64_t lo = 0, hi = n;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (be64_load(t + 16 * mid) < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#define SUBJECT_IDS_MAX 8

struct subject_q {
	struct audit_keys *k;
	uint64_t tags[SUBJECT_IDS_MAX];	/* of the identifiers asked about */
	size_t ntags;
	uint8_t (*msgs)[16];
	size_t nmsgs, capm;
	uint64_t *offs;		/* frames to show */
	size_t noffs, capo;
	uint64_t from;		/* scan only frames at or after this offset */
	int pass;		/* 1: subject records, 2: same msg_id */
};

static int
off_add(struct subject_q *s, uint64_t off)
{
	if (array_room(&s->offs, s->noffs, &s->capo, sizeof(*s->offs), 64) != 0)
		return KETEN_ENOMEM;
	s->offs[s->noffs++] = off;
	return 0;
}

static int
msg_add(struct subject_q *s, const uint8_t *id)
{
	for (size_t i = 0; i < s->nmsgs; i++)
		if (memcmp(s->msgs[i], id, 16) == 0)
			return 0;
	if (array_room(&s->msgs, s->nmsgs, &s->capm, 16, 64) != 0)
		return KETEN_ENOMEM;
	memcpy(s->msgs[s->nmsgs++], id, 16);
	return 0;
}

/* Whether r is about one of the identifiers asked about: its sealed
 * subject opens (with the keys) to one of their pseudonyms. */
static int
subject_is(const struct subject_q *s, const Keten__V1__AuditRecord *r)
{
	uint64_t tag;

	if (record_tag(s->k, r, &tag) != 0)
		return 0;
	for (size_t i = 0; i < s->ntags; i++)
		if (s->tags[i] == tag)
			return 1;
	return 0;
}

/* The records an index table lists under key, each read from the log and
 * handed to fn (the table is only a hint: fn checks the record). */
static int
index_each(const uint8_t *table, uint64_t n, uint64_t key, const struct auditlog_file *f,
    int (*fn)(struct subject_q *, const struct auditlog_frame *,
    const Keten__V1__AuditRecord *), struct subject_q *s)
{
	int r = 0;

	for (uint64_t i = index_lower(table, n, key); r == 0 && i < n &&
	    be64_load(table + 16 * i) == key; i++) {
		struct auditlog_frame fr;
		Keten__V1__AuditRecord *rec = NULL;
		size_t o = be64_load(table + 16 * i + 8);

		if (auditlog_frame_next(f->p, f->len, &o, &fr) != 0 ||
		    auditlog_record_parse(fr.payload, fr.payload_len, &rec) != 0)
			continue;
		r = fn(s, &fr, rec);
		keten__v1__audit_record__free_unpacked(rec, NULL);
	}
	return r;
}

static int
subject_take(struct subject_q *s, const struct auditlog_frame *fr,
    const Keten__V1__AuditRecord *rec)
{
	int r;

	if (!subject_is(s, rec))
		return 0;
	if ((r = off_add(s, fr->offset)) == 0 && rec->msg_id.len == 16)
		r = msg_add(s, rec->msg_id.data);
	return r;
}

static int
same_msg_take(struct subject_q *s, const struct auditlog_frame *fr,
    const Keten__V1__AuditRecord *rec)
{
	for (size_t i = 0; rec->subject == NULL && rec->msg_id.len == 16 && i < s->nmsgs; i++)
		if (memcmp(s->msgs[i], rec->msg_id.data, 16) == 0)
			return off_add(s, fr->offset);
	return 0;
}

static int
subject_scan(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *r)
{
	struct subject_q *s = arg;

	(void)index;
	if (r == NULL || f->offset < s->from)
		return 0;
	return s->pass == 1 ? subject_take(s, f, r) : same_msg_take(s, f, r);
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
cmd_audit_subject(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *keys = NULL;
	int json = 0, nops, r, type;
	const struct cli_opt opts[] = {
		{ "keys", &keys, NULL }, { "json", NULL, &json }, { NULL, NULL, NULL },
	};
	struct subject_q s;
	struct auditlog_file f;
	struct index ix;
	uint8_t ps[AUDIT_PSEUDONYM_LEN];
	char norm[11];
	size_t bad;
	int have_ix;

	memset(&s, 0, sizeof(s));
	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops < 2 || nops > 1 + SUBJECT_IDS_MAX)
		return cli_usage_error(cmd, "give the log and 1..%d identifiers of one person "
		    "(a V-nummer and a BSN, say)", SUBJECT_IDS_MAX);
	for (int i = 1; i < nops; i++)
		if (audit_subject_classify(argv[i], norm) == AUDIT_SUBJECT_NONE)
			return cli_usage_error(cmd, "argument %d: neither a V-nummer (10 digits) "
			    "nor a BSN (9 digits passing the eleven-test)", i + 1);
	for (int i = 1; i < nops; i++)
		if ((r = access_record(cmd, argv[i])) != 0)
			return r;
	if ((r = load_keys(keys, &s.k)) != 0)
		return r;
	if ((r = open_log(argv[0], &f)) != 0) {
		audit_keys_destroy(&s.k);
		return r;
	}
	for (int i = 1; i < nops; i++) {
		type = audit_subject_classify(argv[i], norm);
		audit_pseudonym(s.k, type, norm, ps);
		s.tags[s.ntags++] = audit_pseudonym_tag(s.k, ps);
	}
	sodium_memzero(ps, sizeof(ps));
	sodium_memzero(norm, sizeof(norm));
	have_ix = index_load(argv[0], &f, s.k, &ix) == 0;
	if (have_ix)	/* the index points here and there in the log */
		madvise((void *)f.p, f.len, MADV_RANDOM);
	s.pass = 1;
	if (have_ix) {
		/* the index for what it covers, the records after it read */
		for (size_t t = 0; t < s.ntags; t++)
			(void)index_each(ix.subj, ix.nsubj, s.tags[t], &f, subject_take, &s);
		s.from = ix.end;
	}
	r = auditlog_each_from(&f, s.from ? s.from : AUDITLOG_MAGIC_LEN, have_ix ? ix.records : 0,
	    1, subject_scan, &s, &bad);
	/* The records of the same messages that carry no subject (a relay's,
	 * a receipt's): found through the msg_id table, or by reading. */
	s.pass = 2;
	if (have_ix)
		for (size_t m = 0; m < s.nmsgs; m++)
			(void)index_each(ix.msg, ix.nmsg, be64_load(s.msgs[m]), &f, same_msg_take, &s);
	if (s.nmsgs > 0)
		(void)auditlog_each_from(&f, s.from ? s.from : AUDITLOG_MAGIC_LEN,
		    have_ix ? ix.records : 0, 1, subject_scan, &s, &bad);
	qsort(s.offs, s.noffs, sizeof(*s.offs), u64_cmp);
	if (!json)
		printf("%8s  %-20s  %-12s %-5s %-19s %-32s  %s -> %s  purpose, mandate, legal basis\n",
		    "record", "time", "event", "dec", "kind", "msg_id", "from", "to");
	for (size_t i = 0; i < s.noffs; i++) {
		struct auditlog_frame fr;
		Keten__V1__AuditRecord *rec = NULL;
		size_t o = s.offs[i];

		if (i > 0 && s.offs[i] == s.offs[i - 1])
			continue;
		if (auditlog_frame_next(f.p, f.len, &o, &fr) != 0 ||
		    auditlog_record_parse(fr.payload, fr.payload_len, &rec) != 0)
			continue;
		if (json) {
			json_t *j = record_json(rec, fr.hash);

			json_dumpf(j, stdout, JSON_COMPACT);
			printf("\n");
			json_decref(j);
		} else {
			print_record_line(rec);
			if (rec->local_system[0])
				printf("%10slocal system %s\n", "", rec->local_system);
			if (rec->legal_basis[0])
				printf("%10slegal basis: %s\n", "", rec->legal_basis);
		}
		keten__v1__audit_record__free_unpacked(rec, NULL);
	}
	if (!json)
		printf("%zu record(s) about this person%s\n", s.noffs,
		    have_ix ? " (subject index used)" : "");
	if (have_ix)
		auditlog_file_close(&ix.m);
	free(s.offs);
	free(s.msgs);
	auditlog_file_close(&f);
	audit_keys_destroy(&s.k);
	return r < 0 && r != KETEN_ETORN ? cli_failf("%s: %s", argv[0], keten_strerror(r)) : CLI_OK;
}

/* ------------------------------------------------------------------ */
/* reconcile */

/* msg_ids a log sent to a peer, received from it, and expired. */
struct flows {
	char oin[21];
	char peer[21];
	struct idvec { uint8_t (*v)[16]; size_t n, cap; } out, in, expired;
};

static int
id_push(struct idvec *v, const uint8_t *id)
{
	if (array_room(&v->v, v->n, &v->cap, 16, 256) != 0)
		return KETEN_ENOMEM;
	memcpy(v->v[v->n++], id, 16);
	return 0;
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static void
id_sort(struct idvec *v)
{
	size_t w = 0;

	qsort(v->v, v->n, 16, id_cmp);
	for (size_t i = 0; i < v->n; i++)
		if (w == 0 || memcmp(v->v[w - 1], v->v[i], 16) != 0)
			memmove(v->v[w++], v->v[i], 16);
	v->n = w;
}

static int
id_has(const struct idvec *v, const uint8_t *id)
{
	return bsearch(id, v->v, v->n, 16, id_cmp) != NULL;
}

static int
flows_one(void *arg, const struct auditlog_frame *f, uint64_t index,
    const Keten__V1__AuditRecord *r)
{
	struct flows *w = arg;
	int ev;

	(void)f;
	(void)index;
	if (r == NULL || r->msg_id.len != 16)
		return 0;
	ev = r->event;
	/* handed to the peer: sent, or relayed on */
	if ((ev == KETEN__V1__AUDIT_EVENT__EVENT_SEND ||
	    (ev == KETEN__V1__AUDIT_EVENT__EVENT_RELAY &&
	    r->decision == KETEN__V1__DECISION__DECISION_ALLOW)) && strcmp(r->peer, w->peer) == 0)
		return id_push(&w->out, r->msg_id.data);
	/* taken from the peer: received (or refused) from it, or relayed
	 * for it as the sender */
	if ((ev == KETEN__V1__AUDIT_EVENT__EVENT_RECEIVE && strcmp(r->peer, w->peer) == 0) ||
	    (ev == KETEN__V1__AUDIT_EVENT__EVENT_RELAY && strcmp(r->sender, w->peer) == 0))
		return id_push(&w->in, r->msg_id.data);
	if (ev == KETEN__V1__AUDIT_EVENT__EVENT_EXPIRE)
		return id_push(&w->expired, r->msg_id.data);
	return 0;
}

/* What `a` handed to `b` that `b` never took; returns how many. */
static size_t
flows_diff(const struct flows *a, const struct flows *b, int json)
{
	size_t missing = 0;
	char id[33];

	for (size_t i = 0; i < a->out.n; i++) {
		if (id_has(&b->in, a->out.v[i]) || id_has(&a->expired, a->out.v[i]))
			continue;
		missing++;
		hex_encode(a->out.v[i], 16, id);
		if (json)
			printf("{\"msg_id\":\"%s\",\"sent_by\":\"%s\",\"missing_in\":\"%s\"}\n", id,
			    a->oin, b->oin);
		else
			printf("MISSING: %s sent %s to %s; %s has no RECEIVE or RELAY of it\n", a->oin,
			    id, b->oin, b->oin);
	}
	for (size_t i = 0; i < b->in.n; i++) {
		if (id_has(&a->out, b->in.v[i]))
			continue;
		missing++;
		hex_encode(b->in.v[i], 16, id);
		if (json)
			printf("{\"msg_id\":\"%s\",\"received_by\":\"%s\",\"missing_in\":\"%s\"}\n", id,
			    b->oin, a->oin);
		else
			printf("MISSING: %s received %s from %s; %s has no SEND or RELAY of it\n",
			    b->oin, id, a->oin, a->oin);
	}
	return missing;
}

static void
flows_free(struct flows *w)
{
	free(w->out.v);
	free(w->in.v);
	free(w->expired.v);
}

/* Check log `path` (node oin) against the checkpoints of it that the
 * log `other` witnessed.  0, or the verify result. */
static int
witness_check(const char *path, const char *other, const char *oin, size_t *count)
{
	struct witness_acc w = { 0 };
	struct auditlog_file f;
	struct auditlog_trust t;
	struct auditlog_report rep;
	struct problems pr = { 0, NULL, 0 };
	int r;

	if ((r = witness_collect(other, oin, &w)) == 0 && (*count = w.n) > 0) {
		if (open_log(path, &f) != 0) {
			r = KETEN_EIO;
		} else {
			memset(&t, 0, sizeof(t));
			witness_trust(&w, &t);
			r = auditlog_verify(&f, &t, &rep, problem_print, &pr);
			auditlog_file_close(&f);
		}
	}
	witness_free(&w);
	return r;
}

int
cmd_audit_reconcile(const struct cli_cmd *cmd, int argc, char **argv)
{
	int json = 0, nops, r, worst = 0;
	const struct cli_opt opts[] = { { "json", NULL, &json }, { NULL, NULL, NULL } };
	struct flows a, b;
	struct auditlog_file f;
	size_t bad, missing, wa = 0, wb = 0;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 2)
		return cli_usage_error(cmd, "give two log files");
	if ((r = access_record(cmd, NULL)) != 0)
		return r;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 2; i++) {
		if ((r = open_log(argv[i], &f)) != 0)
			return r;
		(void)auditlog_each(&f, 1, first_oin, i ? b.oin : a.oin, &bad);
		auditlog_file_close(&f);
	}
	snprintf(a.peer, sizeof(a.peer), "%s", b.oin);
	snprintf(b.peer, sizeof(b.peer), "%s", a.oin);
	if ((r = scan_log(argv[0], flows_one, &a, &worst)) != 0 ||
	    (r = scan_log(argv[1], flows_one, &b, &worst)) != 0) {
		/* a log that was altered is tampering here too (verify's 3) */
		if (worst == KETEN_ETAMPER)
			r = EXIT_TAMPER;
		goto out;
	}
	id_sort(&a.out);
	id_sort(&a.in);
	id_sort(&a.expired);
	id_sort(&b.out);
	id_sort(&b.in);
	id_sort(&b.expired);
	missing = flows_diff(&a, &b, json) + flows_diff(&b, &a, json);
	/* Each log against the checkpoints of it the other witnessed: a
	 * node that rewrote, cut or forked its log no longer extends them. */
	if ((r = witness_check(argv[1], argv[0], b.oin, &wb)) != 0)
		worst = r;
	if ((r = witness_check(argv[0], argv[1], a.oin, &wa)) != 0 && worst == 0)
		worst = r;
	if (!json)
		printf("%s -> %s: %zu sent, %s -> %s: %zu sent; %zu missing; witnessed checkpoints "
		    "checked: %zu of %s, %zu of %s: %s\n", a.oin, b.oin, a.out.n, b.oin, a.oin,
		    b.out.n, missing, wb, b.oin, wa, a.oin,
		    worst == 0 ? "consistent" : worst == KETEN_ETAMPER ? "INCONSISTENT" :
		    keten_strerror(worst));
	r = worst == KETEN_ETAMPER ? EXIT_TAMPER : worst != 0 && worst != KETEN_ETORN &&
	    worst != KETEN_EPOLICY ? CLI_FAIL : missing ? CLI_FAIL : CLI_OK;
out:
	flows_free(&a);
	flows_free(&b);
	return r;
}
