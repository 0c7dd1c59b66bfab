/*
 * local.c — the local API (see local.h): one ROUTER socket per local
 * system, bound to its ipc:// path with the configured mode and group.
 *
 * Frames: [routing id][LocalRequest] in, [routing id][LocalResponse] out.
 * Requests that change durable state (submit, subscribe, ack, unsubscribe)
 * are answered after the turn's commit (node_act_reply); read-only ones
 * at once.  A fetch that finds nothing waits (up to its wait_ms) until the
 * inbox grows.
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "audit.pb-c.h"
#include "auditkeys.h"
#include "auditlog.h"
#include "buf.h"
#include "config.h"
#include "directory.h"
#include "envelope.h"
#include "err.h"
#include "local.h"
#include "local.pb-c.h"
#include "log.h"
#include "mandate.h"
#include "node.h"
#include "node_io.h"
#include "payload.h"
#include "peer.h"
#include "receipt.h"
#include "store.h"
#include "util.h"

/* Answers queued to one client connection before it must read them: a
 * client may keep this many requests outstanding. */
#define LOCAL_SNDHWM 65536
#define RID_MAX 256
#define FETCH_MAX 256
#define FETCH_PASS_ROUNDS 16	/* batches of rows passed over read for one fetch */
#define WAIT_MAX_MS 30000
#define CURSOR_MAX 64

struct waiter {
	int idx;
	uint8_t rid[RID_MAX];
	size_t rid_len;
	uint64_t request_id;
	char cursor[CURSOR_MAX + 1];
	uint64_t after;
	uint32_t max;
	uint64_t deadline;
};

struct local_sys {
	const struct config_local *cfg;
	void *sock;
	char path[256];
};

struct local {
	struct local_sys sys[KETEN_LOCAL_MAX];
	size_t n;
	struct waiter *w;
	size_t nw, capw;
	uint64_t inbox_seen;
	struct node *node;
};

/* ------------------------------------------------------------------ */
/* responses */

struct buf *
local_pack(const Keten__V1__LocalResponse *resp)
{
	size_t len = keten__v1__local_response__get_packed_size(resp);
	struct buf *b = buf_new(len);
	uint8_t *dst;

	if (b == NULL || buf_reserve(b, len, &dst) != 0) {
		buf_destroy(&b);
		return NULL;
	}
	keten__v1__local_response__pack(resp, dst);
	return b;
}

struct buf *
local_error_body(uint64_t request_id, int code, const char *message)
{
	return local_error_reason_body(request_id, code, 0, message);
}

struct buf *
local_error_reason_body(uint64_t request_id, int code, int reason, const char *message)
{
	Keten__V1__LocalResponse resp;
	Keten__V1__LocalError le;

	keten__v1__local_response__init(&resp);
	keten__v1__local_error__init(&le);
	resp.request_id = request_id;
	le.code = code;
	le.reason = reason;
	le.name = (char *)keten_errname(code);
	le.message = (char *)(message != NULL ? message : keten_strerror(code));
	resp.error = &le;
	return local_pack(&resp);
}

void
local_reply(struct local *l, int idx, const uint8_t *rid, size_t rid_len, const struct buf *body)
{
	void *s;

	if (l == NULL || idx < 0 || (size_t)idx >= l->n || body == NULL)
		return;
	s = l->sys[idx].sock;
	/* ROUTER_MANDATORY: a client that went away gives EHOSTUNREACH; its
	 * answer is lost with it, the state it asked for is durable.  EAGAIN:
	 * a client with LOCAL_SNDHWM answers it does not read; say so. */
	if (zmq_send(s, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(s, buf_ptr(body), buf_len(body), ZMQ_DONTWAIT) < 0) {
		if (errno == EHOSTUNREACH)
			log_debug("local %s: reply not delivered: the client went away",
			    l->sys[idx].cfg->name);
		else
			log_warn("local %s: reply not delivered: %s (a client that does not read "
			    "its answers)", l->sys[idx].cfg->name, zmq_strerror(errno));
	}
}

static void
reply_now(struct node *n, int idx, const uint8_t *rid, size_t rid_len,
    Keten__V1__LocalResponse *resp)
{
	struct buf *b = local_pack(resp);

	if (b == NULL) {
		log_error("local: out of memory for a reply");
		return;
	}
	local_reply(n->local, idx, rid, rid_len, b);
	buf_destroy(&b);
}

static void
reply_error(struct node *n, int idx, const uint8_t *rid, size_t rid_len, uint64_t request_id,
    int code, int reason, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* reason: the Reason of a refusal on a mandate or policy, else 0. */
static void
reply_error(struct node *n, int idx, const uint8_t *rid, size_t rid_len, uint64_t request_id,
    int code, int reason, const char *fmt, ...)
{
	char msg[512];
	struct buf *b;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* After the turn's commit, like every answer: a refusal's audit
	 * record is durable before the refusal is told. */
	if ((b = local_error_reason_body(request_id, code, reason, msg)) == NULL ||
	    node_act_reply(n, idx, rid, rid_len, request_id, b) != 0)
		log_error("local: out of memory for a reply");
}

/* Answer after the commit: resp if it commits, an error if it does not. */
static void
reply_after_commit(struct node *n, int idx, const uint8_t *rid, size_t rid_len,
    Keten__V1__LocalResponse *resp)
{
	struct buf *ok = local_pack(resp);

	if (ok == NULL || node_act_reply(n, idx, rid, rid_len, resp->request_id, ok) != 0) {
		log_error("local: out of memory for a reply");
	}
}

/* ------------------------------------------------------------------ */
/* operations */

struct req_ctx {
	struct node *n;
	int idx;
	const struct config_local *sys;
	const uint8_t *rid;
	size_t rid_len;
	uint64_t request_id;
};

#define FAIL(c, code, ...) \
	reply_error((c)->n, (c)->idx, (c)->rid, (c)->rid_len, (c)->request_id, (code), 0, __VA_ARGS__)

static int
cursor_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > CURSOR_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static void
op_submit(struct req_ctx *c, const Keten__V1__SubmitRequest *rq)
{
	struct submit_req s;
	struct mandate_decision dec;
	struct payload_subjects subj;
	uint8_t msg_id[KETEN_MSG_ID_LEN];
	const char *name = kind_name(rq->kind);
	int r;

	if (name == NULL || rq->kind == KETEN__V1__KIND__RECEIPT) {
		FAIL(c, KETEN_EFIELD, "kind %d: not a message kind", rq->kind);
		return;
	}
	if (c->n->trust_lapsed) {
		FAIL(c, KETEN_EDIREXPIRED, "the node's directory (serial %llu) expired: no message "
		    "is sent until the operator loads a current one",
		    (unsigned long long)directory_serial(c->n->dir));
		return;
	}
	if (!config_local_may_send(c->sys, rq->kind, rq->purpose)) {
		struct node_audit_msg am = {
			.event = KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT,
			.decision = KETEN__V1__DECISION__DECISION_DENY,
			.reason = KETEN__V1__REASON__LOCAL_NOT_PERMITTED, .rule = "local",
			.kind = rq->kind, .sender = c->n->oin,
			.recipients = (const char *const *)rq->recipients,
			.n_recipients = rq->n_recipients, .purpose = rq->purpose,
			.mandate_id = rq->mandate_id, .traceparent = rq->traceparent,
			.local_system = c->sys->name,
		};

		(void)node_audit_message(c->n, &am);
		FAIL(c, KETEN_ENOTPERMITTED, "local system %s may not send %s for purpose \"%s\"",
		    c->sys->name, name, rq->purpose);
		return;
	}
	if (rq->n_recipients == 0) {
		FAIL(c, KETEN_ERECIPIENTS, "no recipient");
		return;
	}
	for (size_t i = 0; i < rq->n_recipients; i++)
		if (directory_find(c->n->dir, rq->recipients[i]) == NULL) {
			FAIL(c, KETEN_ENOTFOUND, "recipient %s is not in the directory",
			    rq->recipients[i]);
			return;
		}
	if (rq->in_reply_to.len != 0 && rq->in_reply_to.len != KETEN_MSG_ID_LEN) {
		FAIL(c, KETEN_EFIELD, "in_reply_to: not a msg_id");
		return;
	}
	if ((r = payload_subjects(rq->kind, rq->payload.data, rq->payload.len, &subj)) != 0) {
		FAIL(c, r, "payload is not a valid %s: %s", name, keten_strerror(r));
		return;
	}
	if (rq->ttl_ms > CONFIG_TTL_MAX_MS) {
		FAIL(c, KETEN_EFIELD, "ttl: at most 366 days");
		return;
	}
	memset(&s, 0, sizeof(s));
	s.subjects = &subj;
	s.kind = rq->kind;
	s.recipients = (const char *const *)rq->recipients;
	s.nrecipients = rq->n_recipients;
	s.case_ref = rq->case_ref;
	s.purpose = rq->purpose;
	s.mandate_id = rq->mandate_id;
	s.traceparent = rq->traceparent;
	s.in_reply_to = rq->in_reply_to.len ? rq->in_reply_to.data : NULL;
	s.ttl_ms = rq->ttl_ms;
	s.payload = rq->payload.data;
	s.len = rq->payload.len;
	r = outbound_submit(c->n, &s, c->idx, c->sys->name, c->rid, c->rid_len, c->request_id,
	    msg_id, &dec);
	if (r == KETEN_ENOMANDATE)
		reply_error(c->n, c->idx, c->rid, c->rid_len, c->request_id, r, dec.reason, "%s: %s",
		    reason_name(dec.reason), dec.text);
	else if (r != 0)
		FAIL(c, r, "%s", keten_strerror(r));
}

struct status_acc {
	Keten__V1__StatusResponse *sr;
	Keten__V1__RecipientStatus *rs;
	Keten__V1__RecipientStatus **prs;
	size_t n, cap;
	int oom;
};

static void
op_status(struct req_ctx *c, const Keten__V1__StatusRequest *rq)
{
	Keten__V1__LocalResponse resp;
	struct store_status *st = NULL;
	Keten__V1__StatusResponse sr;
	Keten__V1__RecipientStatus *rs = NULL, **prs = NULL;
	int r;

	if (rq->msg_id.len != KETEN_MSG_ID_LEN) {
		FAIL(c, KETEN_EFIELD, "msg_id: not %d bytes", KETEN_MSG_ID_LEN);
		return;
	}
	if ((r = store_outbox_status(c->n->store, rq->msg_id.data, &st)) != 0) {
		FAIL(c, r, r == KETEN_ENOTFOUND ? "no message with this msg_id was sent by this node" :
		    "%s", keten_strerror(r));
		return;
	}
	/* Only the local system that sent it may ask. */
	if (strcmp(st->local_system, c->sys->name) != 0) {
		store_status_free(&st);
		FAIL(c, KETEN_ENOTFOUND, "no message with this msg_id was sent by %s", c->sys->name);
		return;
	}
	keten__v1__status_response__init(&sr);
	sr.msg_id = rq->msg_id;
	sr.kind = st->kind;
	sr.created_at = st->created_at;
	sr.expires_at = st->expires_at;
	if ((rs = calloc(st->n, sizeof(*rs))) == NULL || (prs = calloc(st->n, sizeof(*prs))) == NULL) {
		FAIL(c, KETEN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < st->n; i++) {
		const struct store_rcpt_status *x = &st->r[i];

		keten__v1__recipient_status__init(&rs[i]);
		rs[i].recipient = (char *)x->oin;
		rs[i].state = x->state;
		rs[i].attempts = x->attempts;
		rs[i].receipt_at = x->receipt_at;
		rs[i].reason = x->reason;
		rs[i].reason_text = (char *)(x->reason_text ? x->reason_text : "");
		rs[i].receipt.data = (uint8_t *)x->receipt;
		rs[i].receipt.len = x->receipt_len;
		rs[i].last_error = (char *)(x->last_error ? x->last_error : "");
		prs[i] = &rs[i];
	}
	sr.recipients = prs;
	sr.n_recipients = st->n;
	keten__v1__local_response__init(&resp);
	resp.request_id = c->request_id;
	resp.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_STATUS;
	resp.status = &sr;
	reply_now(c->n, c->idx, c->rid, c->rid_len, &resp);
out:
	free(rs);
	free(prs);
	store_status_free(&st);
}

static void
op_subscribe(struct req_ctx *c, const Keten__V1__SubscribeRequest *rq)
{
	Keten__V1__LocalResponse resp;
	Keten__V1__SubscribeResponse sr;
	uint32_t mask = 0;
	uint64_t last = 0;
	int r;

	if (!cursor_ok(rq->cursor)) {
		FAIL(c, KETEN_EFIELD, "cursor: not [a-z0-9._-]{1,%d}", CURSOR_MAX);
		return;
	}
	if (!text_printable(rq->case_ref, KETEN_MAX_REF)) {
		FAIL(c, KETEN_EFIELD, "case_ref: not printable text");
		return;
	}
	for (size_t i = 0; i < rq->n_kinds; i++) {
		int k = rq->kinds[i];

		if (kind_name(k) == NULL || k == KETEN__V1__KIND__RECEIPT) {
			FAIL(c, KETEN_EFIELD, "kinds[%zu]: %d is not a message kind", i, k);
			return;
		}
		if (!config_local_may_receive(c->sys, k)) {
			FAIL(c, KETEN_ENOTPERMITTED, "local system %s may not receive %s",
			    c->sys->name, kind_name(k));
			return;
		}
		mask |= 1u << k;
	}
	if (mask == 0)
		mask = c->sys->recv_kinds;
	if (mask == 0) {
		FAIL(c, KETEN_ENOTPERMITTED, "local system %s may not receive any kind", c->sys->name);
		return;
	}
	if ((r = node_txn(c->n)) != 0 ||
	    (r = store_cursor_open(c->n->store, c->sys->name, rq->cursor, mask, rq->case_ref,
	    &last)) != 0) {
		FAIL(c, r, r == KETEN_ECURSOR ? "cursor %s exists with other filters; "
		    "unsubscribe it first" : "cursor %s: cannot be opened", rq->cursor);
		return;
	}
	keten__v1__local_response__init(&resp);
	keten__v1__subscribe_response__init(&sr);
	sr.last_acked = last;
	resp.request_id = c->request_id;
	resp.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_SUBSCRIBE;
	resp.subscribe = &sr;
	reply_after_commit(c->n, c->idx, c->rid, c->rid_len, &resp);
}

/* Collects fetched inbox rows, decrypted. */
struct fetch_acc {
	struct node *n;
	const char *sysname;
	const struct config_local *sys;
	uint64_t passed;		/* the last row passed over before any delivered */
	int audit_failed;
	Keten__V1__Delivered *d;
	Keten__V1__Delivered **pd;
	struct buf **payloads;
	size_t n_d;
	int err;
};

static int
fetch_one(void *arg, uint64_t id, const char *sender, const uint8_t *msg_id, int kind,
    const char *case_ref, uint64_t seq, uint64_t received_at, const uint8_t *env, size_t len)
{
	struct fetch_acc *a = arg;
	struct envelope *e = NULL;
	const struct envelope_header *h;
	Keten__V1__Delivered *d = &a->d[a->n_d];
	struct buf *pl = NULL;
	int r;

	(void)sender;
	(void)msg_id;
	(void)kind;
	(void)case_ref;
	/* Verified when it arrived; opened now, so that the inbox holds
	 * only ciphertext at rest. */
	if ((r = envelope_parse(env, len, &e)) != 0 ||
	    (r = envelope_open(e, a->n->opener, &pl)) != 0) {
		log_error("inbox %llu: cannot open a stored envelope: %s", (unsigned long long)id,
		    keten_strerror(r));
		envelope_destroy(&e);
		a->err = r;
		return r;
	}
	h = envelope_header(e);
	/* A system reads only what it is registered for: kind and purpose.
	 * A message for another purpose is passed over, and the refusal
	 * recorded; one before anything delivered is passed for good (the
	 * cursor moves over it), so it is not refused again at every fetch. */
	if (!config_local_may_read(a->sys, h->kind, h->purpose)) {
		struct node_audit_msg am = {
			.event = KETEN__V1__AUDIT_EVENT__EVENT_DELIVER,
			.decision = KETEN__V1__DECISION__DECISION_DENY,
			.reason = KETEN__V1__REASON__LOCAL_NOT_PERMITTED, .rule = "local-purpose",
			.h = h, .local_system = a->sysname, .env = e,
		};
		char hex[33];

		hex_encode(h->msg_id, KETEN_MSG_ID_LEN, hex);
		log_info("local %s: %s %s for purpose \"%s\" passed over: not registered for it",
		    a->sysname, kind_name(h->kind), hex, h->purpose);
		r = node_audit_message(a->n, &am);
		envelope_destroy(&e);
		buf_destroy(&pl);
		if (r != 0) {
			a->err = r;
			a->audit_failed = 1;
			return r;
		}
		if (a->n_d == 0)
			a->passed = id;
		return 0;
	}
	/* Each read by a local system is recorded, per data subject, before
	 * the message goes out. */
	{
		struct payload_subjects subj;
		struct node_audit_msg am = {
			.event = KETEN__V1__AUDIT_EVENT__EVENT_DELIVER,
			.decision = KETEN__V1__DECISION__DECISION_ALLOW, .rule = "local",
			.h = h, .local_system = a->sysname, .env = e,
			.subjects = &subj,
		};

		/* a row stored by a node without the payload checks of
		 * PROTOCOL.md 11 is delivered, and recorded with the subjects
		 * it names */
		(void)payload_subjects(h->kind, buf_ptr(pl), buf_len(pl), &subj);
		if ((r = node_audit_message(a->n, &am)) != 0) {
			/* the reads already recorded in this fetch did not happen:
			 * the turn is refused (fetch_reply answers the error) */
			envelope_destroy(&e);
			buf_destroy(&pl);
			a->err = r;
			a->audit_failed = 1;
			return r;
		}
	}
	keten__v1__delivered__init(d);
	d->id = id;
	d->kind = h->kind;
	d->created_at = h->created_at;
	d->received_at = received_at;
	d->seq = seq;
	/* Copies: the header's strings belong to the envelope, which goes
	 * now; the payload buffer is kept until the reply is packed. */
	if ((d->msg_id.data = malloc(KETEN_MSG_ID_LEN)) == NULL ||
	    (d->sender = strdup(h->sender)) == NULL ||
	    (d->case_ref = strdup(h->case_ref)) == NULL ||
	    (d->purpose = strdup(h->purpose)) == NULL ||
	    (d->mandate_id = strdup(h->mandate_id)) == NULL ||
	    (d->traceparent = strdup(h->traceparent)) == NULL) {
		a->n_d++;	/* so that what was allocated is freed */
		envelope_destroy(&e);
		buf_destroy(&pl);
		a->err = KETEN_ENOMEM;
		return KETEN_ENOMEM;
	}
	memcpy(d->msg_id.data, h->msg_id, KETEN_MSG_ID_LEN);
	d->msg_id.len = KETEN_MSG_ID_LEN;
	if (h->has_reply) {
		if ((d->in_reply_to.data = malloc(KETEN_MSG_ID_LEN)) != NULL) {
			memcpy(d->in_reply_to.data, h->in_reply_to, KETEN_MSG_ID_LEN);
			d->in_reply_to.len = KETEN_MSG_ID_LEN;
		}
	}
	d->payload.data = (uint8_t *)buf_ptr(pl);
	d->payload.len = buf_len(pl);
	a->payloads[a->n_d] = pl;
	a->pd[a->n_d] = d;
	a->n_d++;
	envelope_destroy(&e);
	return 0;
}

static void
fetch_acc_free(struct fetch_acc *a, size_t cap)
{
	for (size_t i = 0; i < a->n_d && i < cap; i++) {
		free(a->d[i].msg_id.data);
		free(a->d[i].in_reply_to.data);
		free(a->d[i].sender);
		free(a->d[i].case_ref);
		free(a->d[i].purpose);
		free(a->d[i].mandate_id);
		free(a->d[i].traceparent);
		buf_destroy(&a->payloads[i]);
	}
	free(a->d);
	free(a->pd);
	free(a->payloads);
}

/* Fetch and reply; returns the number of messages sent, or -1 when it
 * failed (and was answered with the error). */
static int
fetch_reply(struct node *n, int idx, const uint8_t *rid, size_t rid_len, uint64_t request_id,
    const char *sysname, const char *cursor, uint64_t after, uint32_t max, int reply_empty)
{
	struct fetch_acc a;
	Keten__V1__LocalResponse resp;
	Keten__V1__FetchResponse fr;
	struct req_ctx c = { n, idx, NULL, rid, rid_len, request_id };
	int r;

	memset(&a, 0, sizeof(a));
	a.n = n;
	a.sysname = sysname;
	a.sys = config_local_find(n->cfg, sysname);
	if ((a.d = calloc(max, sizeof(*a.d))) == NULL || (a.pd = calloc(max, sizeof(*a.pd))) == NULL ||
	    (a.payloads = calloc(max, sizeof(*a.payloads))) == NULL) {
		fetch_acc_free(&a, max);
		FAIL(&c, KETEN_ENOMEM, "out of memory");
		return -1;
	}
	/* Rows this system may not read are passed over (and the cursor
	 * moved past them): when a whole batch was such rows, the next ones
	 * are read at once instead of answering "nothing" (or waiting) while
	 * readable messages follow; a bounded number of batches per request. */
	for (int round = 0;; round++) {
		a.passed = 0;
		if ((r = node_txn(n)) == 0)
			r = store_cursor_fetch(n->store, sysname, cursor, after, max, fetch_one,
			    &a);
		/* A reader paging with after has been shown rows it has not
		 * acknowledged: its page moves on, its cursor does not. */
		if (r == 0 && a.err == 0 && a.passed != 0) {
			if (after != 0)
				after = a.passed;
			else
				r = store_cursor_ack(n->store, sysname, cursor, a.passed);
		}
		if (r != 0 || a.err != 0 || a.n_d > 0 || a.passed == 0 ||
		    round + 1 == FETCH_PASS_ROUNDS)
			break;
	}
	/* Nothing for this cursor after its position (and the reader pages
	 * from it): it moves to the newest row, past the others' rows. */
	if (r == 0 && a.err == 0 && a.n_d == 0 && a.passed == 0 && after == 0)
		r = store_cursor_skip(n->store, sysname, cursor);
	if (a.audit_failed)
		node_abort_turn(n, a.err);
	if (r != 0 || a.err != 0) {
		r = r ? r : a.err;
		fetch_acc_free(&a, max);
		FAIL(&c, r, r == KETEN_ECURSOR ? "cursor %s: not subscribed" : "cursor %s: %s",
		    cursor, keten_strerror(r));
		return -1;
	}
	if (a.n_d == 0 && !reply_empty) {
		fetch_acc_free(&a, max);
		return 0;
	}
	keten__v1__local_response__init(&resp);
	keten__v1__fetch_response__init(&fr);
	fr.messages = a.pd;
	fr.n_messages = a.n_d;
	resp.request_id = request_id;
	resp.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_FETCH;
	resp.fetch = &fr;
	reply_after_commit(n, idx, rid, rid_len, &resp);
	r = (int)a.n_d;
	fetch_acc_free(&a, max);
	return r;
}

static void
op_fetch(struct req_ctx *c, const Keten__V1__FetchRequest *rq)
{
	struct local *l = c->n->local;
	uint32_t max = rq->max ? rq->max : 64;
	struct waiter *w;
	int got;

	if (!cursor_ok(rq->cursor)) {
		FAIL(c, KETEN_EFIELD, "cursor: not [a-z0-9._-]{1,%d}", CURSOR_MAX);
		return;
	}
	if (max > FETCH_MAX || rq->wait_ms > WAIT_MAX_MS) {
		FAIL(c, KETEN_EFIELD, "max must be 1..%d and wait_ms 0..%d", FETCH_MAX, WAIT_MAX_MS);
		return;
	}
	got = fetch_reply(c->n, c->idx, c->rid, c->rid_len, c->request_id, c->sys->name,
	    rq->cursor, rq->after, max, rq->wait_ms == 0);
	if (got != 0 || rq->wait_ms == 0)
		return;
	/* Nothing yet: wait for the inbox to grow, or the time to pass. */
	if (l->nw == l->capw) {
		size_t cap = l->capw ? 2 * l->capw : 16;
		struct waiter *g = realloc(l->w, cap * sizeof(*g));

		if (g == NULL) {
			FAIL(c, KETEN_ENOMEM, "out of memory");
			return;
		}
		l->w = g;
		l->capw = cap;
	}
	w = &l->w[l->nw++];
	w->idx = c->idx;
	memcpy(w->rid, c->rid, c->rid_len);
	w->rid_len = c->rid_len;
	w->request_id = c->request_id;
	snprintf(w->cursor, sizeof(w->cursor), "%s", rq->cursor);
	w->after = rq->after;
	w->max = max;
	w->deadline = clock_now_ms() + rq->wait_ms;
}

static void
op_ack(struct req_ctx *c, const Keten__V1__AckRequest *rq)
{
	Keten__V1__LocalResponse resp;
	Keten__V1__AckResponse ar;
	int r;

	if (!cursor_ok(rq->cursor)) {
		FAIL(c, KETEN_EFIELD, "cursor: not [a-z0-9._-]{1,%d}", CURSOR_MAX);
		return;
	}
	if ((r = node_txn(c->n)) != 0 ||
	    (r = store_cursor_ack(c->n->store, c->sys->name, rq->cursor, rq->id)) != 0) {
		FAIL(c, r, r == KETEN_ECURSOR ? "cursor %s: not subscribed" :
		    r == KETEN_EINVAL ? "cursor %s: id beyond the last message" : "cursor %s: %s",
		    rq->cursor, keten_strerror(r));
		return;
	}
	keten__v1__local_response__init(&resp);
	keten__v1__ack_response__init(&ar);
	resp.request_id = c->request_id;
	resp.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_ACK;
	resp.ack = &ar;
	reply_after_commit(c->n, c->idx, c->rid, c->rid_len, &resp);
}

static void
op_unsubscribe(struct req_ctx *c, const Keten__V1__UnsubscribeRequest *rq)
{
	Keten__V1__LocalResponse resp;
	Keten__V1__UnsubscribeResponse ur;
	int r;

	if (!cursor_ok(rq->cursor)) {
		FAIL(c, KETEN_EFIELD, "cursor: not [a-z0-9._-]{1,%d}", CURSOR_MAX);
		return;
	}
	if ((r = node_txn(c->n)) != 0 ||
	    (r = store_cursor_delete(c->n->store, c->sys->name, rq->cursor)) != 0) {
		FAIL(c, r, r == KETEN_ECURSOR ? "cursor %s: not subscribed" : "cursor %s: %s",
		    rq->cursor, keten_strerror(r));
		return;
	}
	keten__v1__local_response__init(&resp);
	keten__v1__unsubscribe_response__init(&ur);
	resp.request_id = c->request_id;
	resp.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_UNSUBSCRIBE;
	resp.unsubscribe = &ur;
	reply_after_commit(c->n, c->idx, c->rid, c->rid_len, &resp);
}

static void
op_peers(struct req_ctx *c)
{
	const struct directory *d = c->n->dir;
	size_t np = directory_count(d), k = 0;
	Keten__V1__PeerInfo *pi = calloc(np ? np : 1, sizeof(*pi));
	Keten__V1__PeerInfo **ppi = calloc(np ? np : 1, sizeof(*ppi));
	Keten__V1__PeersResponse pr;
	Keten__V1__LocalResponse resp;

	if (pi == NULL || ppi == NULL) {
		free(pi);
		free(ppi);
		FAIL(c, KETEN_ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < np; i++) {
		const struct party *p = directory_party(d, i);
		const struct party *hop;
		uint64_t q = 0;

		if (strcmp(p->oin, c->n->oin) == 0)
			continue;
		hop = node_next_hop(c->n, p);
		keten__v1__peer_info__init(&pi[k]);
		pi[k].oin = (char *)p->oin;
		pi[k].name = (char *)p->name;
		pi[k].endpoint = (char *)p->endpoint;
		pi[k].via = (char *)p->via;
		pi[k].connected = peers_connected(c->n->peers, hop->oin) != 0;
		pi[k].last_seen = peers_last_sent(c->n->peers, hop->oin);
		(void)store_peer_queued(c->n->store, p->oin, &q);
		pi[k].queued = q;
		ppi[k] = &pi[k];
		k++;
	}
	keten__v1__peers_response__init(&pr);
	pr.peers = ppi;
	pr.n_peers = k;
	keten__v1__local_response__init(&resp);
	resp.request_id = c->request_id;
	resp.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_PEERS;
	resp.peers = &pr;
	reply_now(c->n, c->idx, c->rid, c->rid_len, &resp);
	free(pi);
	free(ppi);
}

/* Someone runs the auditor's tools on this node's log: that is a record
 * too, durable before the answer lets the tool go on. */
static void
op_audit_access(struct req_ctx *c, const Keten__V1__AuditAccessRequest *rq)
{
	Keten__V1__LocalResponse resp;
	Keten__V1__AuditAccessResponse ar;
	struct audit_event e;
	char subject[24], norm[11];
	const char *subjects[1] = { subject };
	int r;

	if (rq->command[0] == '\0' || !text_printable(rq->command, 65)) {
		FAIL(c, KETEN_EFIELD, "command: printable, 1..64 bytes");
		return;
	}
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_AUDIT_ACCESS;
	e.local_system = c->sys->name;
	e.detail = rq->command;
	if (rq->data_subject.len > 0) {
		if (rq->data_subject.len >= sizeof(subject)) {
			FAIL(c, KETEN_EFIELD, "data_subject: not a V-nummer or BSN");
			return;
		}
		memcpy(subject, rq->data_subject.data, rq->data_subject.len);
		subject[rq->data_subject.len] = '\0';
		if (audit_subject_classify(subject, norm) == AUDIT_SUBJECT_NONE) {
			sodium_memzero(subject, sizeof(subject));
			FAIL(c, KETEN_EFIELD, "data_subject: not a V-nummer or BSN");
			return;
		}
		e.subjects = subjects;
		e.n_subjects = 1;
	}
	r = node_audit(c->n, &e);
	sodium_memzero(subject, sizeof(subject));
	sodium_memzero(norm, sizeof(norm));
	if (r != 0) {
		FAIL(c, r, "the access could not be recorded: %s", keten_strerror(r));
		return;
	}
	log_info("audit: %s used by local system %s", rq->command, c->sys->name);
	keten__v1__local_response__init(&resp);
	keten__v1__audit_access_response__init(&ar);
	ar.record = c->n->audit != NULL ? auditlog_size(c->n->audit) - 1 : 0;
	resp.request_id = c->request_id;
	resp.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_AUDIT_ACCESS;
	resp.audit_access = &ar;
	reply_after_commit(c->n, c->idx, c->rid, c->rid_len, &resp);
}

static void
op_queue(struct req_ctx *c)
{
	struct store_counts sc;
	Keten__V1__QueueResponse qr;
	Keten__V1__LocalResponse resp;
	int r;

	if ((r = store_counts(c->n->store, &sc)) != 0) {
		FAIL(c, r, "%s", keten_strerror(r));
		return;
	}
	keten__v1__queue_response__init(&qr);
	qr.queued = sc.queued;
	qr.sent = sc.sent;
	qr.delivered = sc.delivered;
	qr.refused = sc.refused;
	qr.expired = sc.expired;
	qr.relaying = sc.relaying;
	qr.inbox = sc.inbox;
	keten__v1__local_response__init(&resp);
	resp.request_id = c->request_id;
	resp.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_QUEUE;
	resp.queue = &qr;
	reply_now(c->n, c->idx, c->rid, c->rid_len, &resp);
}

/* ------------------------------------------------------------------ */
/* requests */

int
local_request_parse(const uint8_t *p, size_t len, Keten__V1__LocalRequest **out)
{
	Keten__V1__LocalRequest *rq;

	*out = NULL;
	if ((rq = keten__v1__local_request__unpack(NULL, len, p)) == NULL)
		return KETEN_EPARSE;
	if (rq->op_case == KETEN__V1__LOCAL_REQUEST__OP__NOT_SET) {
		keten__v1__local_request__free_unpacked(rq, NULL);
		return KETEN_EFIELD;
	}
	*out = rq;
	return 0;
}

/* body is emptied once parsed: a large submission is not held twice
 * while it is sealed. */
static void
handle(struct node *n, int idx, const uint8_t *rid, size_t rid_len, zmq_msg_t *body)
{
	struct local *l = n->local;
	Keten__V1__LocalRequest *rq = NULL;
	struct req_ctx c = { n, idx, l->sys[idx].cfg, rid, rid_len, 0 };
	int r;

	r = local_request_parse(zmq_msg_data(body), zmq_msg_size(body), &rq);
	zmq_msg_close(body);
	zmq_msg_init(body);
	if (r != 0) {
		FAIL(&c, r, "not a LocalRequest with an operation");
		return;
	}
	c.request_id = rq->request_id;
	switch (rq->op_case) {
	case KETEN__V1__LOCAL_REQUEST__OP_SUBMIT:
		op_submit(&c, rq->submit);
		break;
	case KETEN__V1__LOCAL_REQUEST__OP_STATUS:
		op_status(&c, rq->status);
		break;
	case KETEN__V1__LOCAL_REQUEST__OP_SUBSCRIBE:
		op_subscribe(&c, rq->subscribe);
		break;
	case KETEN__V1__LOCAL_REQUEST__OP_FETCH:
		op_fetch(&c, rq->fetch);
		break;
	case KETEN__V1__LOCAL_REQUEST__OP_ACK:
		op_ack(&c, rq->ack);
		break;
	case KETEN__V1__LOCAL_REQUEST__OP_UNSUBSCRIBE:
		op_unsubscribe(&c, rq->unsubscribe);
		break;
	case KETEN__V1__LOCAL_REQUEST__OP_PEERS:
		op_peers(&c);
		break;
	case KETEN__V1__LOCAL_REQUEST__OP_AUDIT_ACCESS:
		op_audit_access(&c, rq->audit_access);
		break;
	case KETEN__V1__LOCAL_REQUEST__OP_QUEUE:
		op_queue(&c);
		break;
	default:
		FAIL(&c, KETEN_EFIELD, "unknown operation %d", (int)rq->op_case);
		break;
	}
	keten__v1__local_request__free_unpacked(rq, NULL);
}

void
local_drain(struct node *n, size_t max)
{
	struct local *l = n->local;

	for (size_t i = 0; i < l->n; i++) {
		void *s = l->sys[i].sock;

		for (size_t k = 0; k < max && !n->stopping; k++) {
			zmq_msg_t rid, body;
			int more = 0;
			size_t ml = sizeof(more);

			zmq_msg_init(&rid);
			zmq_msg_init(&body);
			if (zmq_msg_recv(&rid, s, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&rid);
				zmq_msg_close(&body);
				break;
			}
			if (zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml) != 0 || !more ||
			    zmq_msg_recv(&body, s, ZMQ_DONTWAIT) < 0) {
				log_warn("local %s: request without a body dropped", l->sys[i].cfg->name);
			} else if (zmq_msg_more(&body) || zmq_msg_size(&rid) > RID_MAX) {
				/* Discard the rest of a request of more than one frame. */
				while (zmq_msg_more(&body) && zmq_msg_recv(&body, s, ZMQ_DONTWAIT) >= 0)
					;
				log_warn("local %s: request of more than one frame dropped",
				    l->sys[i].cfg->name);
			} else {
				handle(n, (int)i, zmq_msg_data(&rid), zmq_msg_size(&rid), &body);
			}
			zmq_msg_close(&rid);
			zmq_msg_close(&body);
		}
	}
}

uint64_t
local_next_deadline(struct local *l)
{
	uint64_t next = 0;

	for (size_t i = 0; i < l->nw; i++)
		if (next == 0 || l->w[i].deadline < next)
			next = l->w[i].deadline;
	return next;
}

void
local_answer_waiting(struct node *n, uint64_t now)
{
	struct local *l = n->local;
	int grew = n->inbox_added != l->inbox_seen;
	size_t k = 0;

	l->inbox_seen = n->inbox_added;
	for (size_t i = 0; i < l->nw; i++) {
		struct waiter *w = &l->w[i];
		int timeout = now >= w->deadline || n->stopping;

		if (grew || timeout) {
			int got = fetch_reply(n, w->idx, w->rid, w->rid_len, w->request_id,
			    l->sys[w->idx].cfg->name, w->cursor, w->after, w->max, timeout);

			if (got != 0 || timeout)
				continue;	/* answered */
		}
		l->w[k++] = *w;
	}
	l->nw = k;
}

size_t
local_pollitems(struct local *l, zmq_pollitem_t *items)
{
	for (size_t i = 0; i < l->n; i++)
		items[i] = (zmq_pollitem_t){ l->sys[i].sock, 0, ZMQ_POLLIN, 0 };
	return l->n;
}

/* ------------------------------------------------------------------ */
/* lifecycle */

/* 0 when nothing accepts connections on the Unix socket at path (it is
 * left by a node that stopped), else 1: something listens, or it cannot
 * be told. */
static int
socket_in_use(const char *path)
{
	struct sockaddr_un a;
	int fd, r, e;

	if (strlen(path) >= sizeof(a.sun_path) ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 1;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	e = errno;
	close(fd);
	return r == 0 || (e != ECONNREFUSED && e != ENOENT);
}

static int
bind_one(void *zctx, const struct config *cfg, const struct config_local *lc,
    struct local_sys *ls)
{
	const char *path = lc->socket + strlen("ipc://");
	struct stat st;
	int zero = 0, one = 1;
	int64_t max = (int64_t)cfg->max_message_size + 65536;
	mode_t old;
	int r;

	snprintf(ls->path, sizeof(ls->path), "%s", path);
	ls->cfg = lc;
	/* A socket file left by a node that did not stop cleanly; one that
	 * something listens on (another section of this node by another
	 * name, another process) is not taken over. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("local %s: %s exists and is not a socket", lc->name, path);
			return KETEN_ECONFIG;
		}
		if (socket_in_use(path)) {
			log_error("local %s: %s is in use: something listens on it (or it cannot be "
			    "told); not replaced", lc->name, path);
			return KETEN_ECONFIG;
		}
		(void)unlink(path);
	}
	if ((ls->sock = zmq_socket(zctx, ZMQ_ROUTER)) == NULL ||
	    zmq_setsockopt(ls->sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(ls->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(ls->sock, ZMQ_SNDHWM, &(int){ LOCAL_SNDHWM }, sizeof(int)) != 0 ||
	    zmq_setsockopt(ls->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0) {
		log_error("local %s: socket: %s", lc->name, zmq_strerror(errno));
		return KETEN_EIO;
	}
	/* Created with no permission for anyone but us, then opened up to
	 * exactly the configured mode and group: never wider, not even for
	 * a moment. */
	old = umask(0177);
	r = zmq_bind(ls->sock, lc->socket);
	umask(old);
	if (r != 0) {
		log_error("local %s: cannot bind %s: %s", lc->name, lc->socket, zmq_strerror(errno));
		return KETEN_EIO;
	}
	if ((lc->has_group && chown(path, (uid_t)-1, lc->gid) != 0) || chmod(path, lc->mode) != 0) {
		log_error("local %s: %s: cannot set owner or mode: %s", lc->name, path,
		    strerror(errno));
		return KETEN_EIO;
	}
	log_info("local system %s on %s (mode %04o)", lc->name, lc->socket, (unsigned)lc->mode);
	return 0;
}

int
local_new(struct node *n, struct local **out)
{
	struct local *l;
	int r;

	*out = NULL;
	if (n->cfg->nlocals > KETEN_LOCAL_MAX)
		return KETEN_ECONFIG;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return KETEN_ENOMEM;
	l->node = n;
	for (size_t i = 0; i < n->cfg->nlocals; i++) {
		l->n = i + 1;
		if ((r = bind_one(n->zctx, n->cfg, &n->cfg->locals[i], &l->sys[i])) != 0) {
			local_destroy(&l);
			return r;
		}
	}
	*out = l;
	return 0;
}

void
local_destroy(struct local **lp)
{
	struct local *l;

	if (lp == NULL || (l = *lp) == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (l->sys[i].sock != NULL) {
			zmq_close(l->sys[i].sock);
			(void)unlink(l->sys[i].path);
		}
	}
	free(l->w);
	free(l);
	*lp = NULL;
}
