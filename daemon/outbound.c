/*
 * outbound.c — messages this node sends: submissions from local systems
 * are sealed at once (encrypted once for all recipients), staged until the
 * turn's batch is full or batch_delay has passed, signed with one batch
 * signature, stored with their per-recipient sequence numbers in the
 * turn's transaction, and sent after the commit.  Until a signed receipt
 * arrives a destination is retried with exponential backoff and jitter;
 * one that outlives its message is marked EXPIRED.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.pb-c.h"
#include "auditlog.h"
#include "buf.h"
#include "checkpoint.h"
#include "config.h"
#include "directory.h"
#include "envelope.h"
#include "err.h"
#include "keys.h"
#include "local.h"
#include "log.h"
#include "mandate.h"
#include "node.h"
#include "node_io.h"
#include "peer.h"
#include "receipt.h"
#include "store.h"
#include "util.h"

#include "envelope.pb-c.h"
#include "local.pb-c.h"

/* How long a sent message waits for its receipt before it is sent again
 * (the first wait; it doubles up to retry_max). */
#define RECEIPT_WAIT_MS 5000
#define DUE_BATCH 1024

static uint64_t
backoff(const struct config *c, uint32_t attempts, uint64_t base)
{
	uint64_t d = base;

	for (uint32_t i = 1; i < attempts && d < c->retry_max_ms; i++)
		d *= 2;
	if (d > c->retry_max_ms)
		d = c->retry_max_ms;
	/* +-25% jitter, so that many senders do not retry in step */
	return d * 3 / 4 + randombytes_uniform((uint32_t)(d / 2 + 1));
}

/* The reply for a staged submission: its msg_id once the turn commits. */
static int
staged_reply(struct node *n, const struct staged *s)
{
	Keten__V1__LocalResponse ok;
	Keten__V1__SubmitResponse sr;
	const struct envelope_header *h = envelope_header(s->e);

	keten__v1__local_response__init(&ok);
	keten__v1__submit_response__init(&sr);
	ok.request_id = s->request_id;
	ok.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_SUBMIT;
	ok.submit = &sr;
	sr.msg_id.data = (uint8_t *)h->msg_id;
	sr.msg_id.len = KETEN_MSG_ID_LEN;
	return node_act_reply(n, s->local_idx, s->rid, s->rid_len, s->request_id, local_pack(&ok));
}

/* The first k sequence numbers of a submission refused after it took
 * them, given back last first. */
static void
seqs_give_back(struct node *n, const struct submit_req *s, const uint64_t *seqs, size_t k)
{
	while (k-- > 0)
		if (store_seq_unget(n->store, n->oin, s->recipients[k], seqs[k]) != 0)
			log_error("outbound: sequence number %llu to %s not given back: the "
			    "receiver will see a gap", (unsigned long long)seqs[k],
			    s->recipients[k]);
}

int
outbound_submit(struct node *n, const struct submit_req *s, int local_idx,
    const char *local_name, const uint8_t *rid, size_t rid_len, uint64_t request_id,
    uint8_t msg_id_out[KETEN_MSG_ID_LEN], struct mandate_decision *dec)
{
	struct envelope_meta m;
	uint8_t keys[KETEN_MAX_RECIPIENTS][32];
	uint64_t seqs[KETEN_MAX_RECIPIENTS];
	struct staged *st, *grown;
	uint64_t now = clock_now_ms();
	char trace[56];
	int r;

	if (s->nrecipients == 0 || s->nrecipients > KETEN_MAX_RECIPIENTS)
		return KETEN_ERECIPIENTS;
	for (size_t i = 0; i < s->nrecipients; i++) {
		const struct party *p = directory_find(n->dir, s->recipients[i]);

		if (p == NULL || strcmp(p->oin, n->oin) == 0)
			return KETEN_ERECIPIENTS;
		memcpy(keys[i], p->seal_pk, 32);
	}
	/* The origin's check: a mandate of this party covers kind, every
	 * recipient and the purpose now; the envelope names it. */
	if (!mandates_check_all(n->mandates, n->dir, n->oin, s->kind, s->recipients, s->nrecipients,
	    s->purpose, s->mandate_id, now, dec)) {
		struct node_audit_msg am = {
			.event = KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT,
			.decision = KETEN__V1__DECISION__DECISION_DENY,
			.reason = dec->reason, .rule = dec->rule, .mandate = dec->m,
			.kind = s->kind, .sender = n->oin, .recipients = s->recipients,
			.n_recipients = s->nrecipients, .purpose = s->purpose,
			.mandate_id = s->mandate_id, .traceparent = s->traceparent,
			.local_system = local_name, .subjects = s->subjects,
		};

		log_warn("mandate: refused %s from %s for %s: %s (%s, rule %s)", kind_name(s->kind),
		    local_name, s->purpose, dec->text, reason_name(dec->reason), dec->rule);
		if ((r = node_audit_message(n, &am)) != 0)
			return r;
		return KETEN_ENOMANDATE;
	}
	log_debug("mandate: allowed %s from %s: %s", kind_name(s->kind), local_name, dec->text);
	if ((r = node_txn(n)) != 0)
		return r;
	if ((grown = realloc(n->staged, (n->nstaged + 1) * sizeof(*grown))) == NULL)
		return KETEN_ENOMEM;
	n->staged = grown;
	/* Sequence numbers are taken inside the turn's transaction: if it
	 * rolls back, so do they, and a submission refused after this point
	 * gives them back; the streams stay gapless. */
	for (size_t i = 0; i < s->nrecipients; i++)
		if ((r = store_seq_next(n->store, n->oin, s->recipients[i], &seqs[i])) != 0) {
			seqs_give_back(n, s, seqs, i);
			return r;
		}
	memset(&m, 0, sizeof(m));
	m.kind = s->kind;
	m.sender = n->oin;
	m.nrecipients = s->nrecipients;
	m.recipients = s->recipients;
	m.recipient_keys = (const uint8_t (*)[32])keys;
	m.seqs = seqs;
	m.case_ref = s->case_ref;
	m.purpose = s->purpose;
	m.mandate_id = dec->m != NULL ? dec->m->id : s->mandate_id != NULL ? s->mandate_id : "";
	/* Every message has a trace, the same at every hop and in every
	 * node's audit log: the sending system's, or a new one. */
	if (s->traceparent == NULL || s->traceparent[0] == '\0') {
		uint8_t rnd[24];

		randombytes_buf(rnd, sizeof(rnd));
		memcpy(trace, "00-", 3);
		hex_encode(rnd, 16, trace + 3);
		trace[35] = '-';
		hex_encode(rnd + 16, 8, trace + 36);
		memcpy(trace + 52, "-01", 4);
		m.traceparent = trace;
	} else {
		m.traceparent = s->traceparent;
	}
	m.created_at = now;
	m.expires_at = now + (s->ttl_ms ? s->ttl_ms : n->cfg->default_ttl_ms);
	m.in_reply_to = s->in_reply_to;
	st = &n->staged[n->nstaged];
	memset(st, 0, sizeof(*st));
	if ((r = envelope_seal(&m, s->payload, s->len, n->sealer, &st->e)) != 0) {
		seqs_give_back(n, s, seqs, s->nrecipients);
		return r;
	}
	st->local_idx = local_idx;
	if (rid_len > sizeof(st->rid))
		rid_len = sizeof(st->rid);
	memcpy(st->rid, rid, rid_len);
	st->rid_len = rid_len;
	st->request_id = request_id;
	snprintf(st->local_name, sizeof(st->local_name), "%s", local_name);
	if (s->subjects != NULL)
		st->subj = *s->subjects;
	memcpy(msg_id_out, envelope_header(st->e)->msg_id, KETEN_MSG_ID_LEN);
	{
		struct node_audit_msg am = {
			.event = KETEN__V1__AUDIT_EVENT__EVENT_SUBMIT,
			.decision = KETEN__V1__DECISION__DECISION_ALLOW,
			.rule = dec->rule, .mandate = dec->m, .h = envelope_header(st->e),
			.local_system = local_name, .subjects = s->subjects,
			.pseudonyms_out = st->pseud,
		};

		if ((r = node_audit_message(n, &am)) != 0) {
			outbound_staged_clear(st);
			seqs_give_back(n, s, seqs, s->nrecipients);
			return r;
		}
		/* the SEND records take the same pseudonyms (not a second
		 * HMAC of each subject) */
		st->pseud_ok = s->subjects != NULL && s->subjects->n > 0 && n->audit != NULL;
	}
	if (n->nstaged++ == 0)
		n->batch_deadline = now + n->cfg->batch_delay_ms;
	return 0;
}

void
outbound_staged_clear(struct staged *s)
{
	envelope_destroy(&s->e);
	sodium_memzero(&s->subj, sizeof(s->subj));
	sodium_memzero(s->pseud, sizeof(s->pseud));
	s->pseud_ok = 0;
}

void
outbound_forget_staged(struct node *n)
{
	for (size_t i = 0; i < n->nstaged; i++)
		outbound_staged_clear(&n->staged[i]);
	n->nstaged = 0;
	n->batch_deadline = 0;
	/* the sealer's ephemeral key may have been used for envelopes that
	 * will never exist; start a fresh one */
	sealer_rotate(n->sealer);
}

/* Store one signed envelope and queue it to every recipient's next hop.
 * A destination whose link is open is stored as SENT and sent after the
 * commit (if that send fails, the receipt wait runs out and it is sent
 * again); one whose link is down or still draining its backlog is stored
 * QUEUED and due now, behind the older ones (peer.h, Order). */
static int
staged_store_and_send(struct node *n, const struct staged *s)
{
	const struct envelope_header *h = envelope_header(s->e);
	uint64_t sent_next[KETEN_MAX_RECIPIENTS], now = clock_now_ms();
	const struct party *hops[KETEN_MAX_RECIPIENTS];
	uint8_t wire_hash[32];
	const uint8_t *w;
	size_t len, last = 0;
	int r;

	w = envelope_bytes(s->e, &len);
	for (size_t i = 0; i < h->nrecipients; i++) {
		const struct party *p = directory_find(n->dir, h->recipients[i]);

		/* a recipient gone from the directory since the submission is
		 * queued; the retry waits for it to come back */
		hops[i] = p != NULL ? node_next_hop(n, p) : NULL;
		sent_next[i] = hops[i] != NULL && !n->trust_lapsed &&
		    peers_open_now(n->peers, hops[i]->oin) ?
		    now + backoff(n->cfg, 1, RECEIPT_WAIT_MS) : 0;
		if (sent_next[i] == 0)
			n->next_retry = now;
		else
			last = i + 1;	/* one past the last recipient sent to now */
	}
	r = store_outbox_add_sent(n->store, h->msg_id, h->kind, s->local_name, h->case_ref,
	    h->created_at, h->expires_at, envelope_digest(s->e), w, len,
	    (const char *const *)h->recipients, h->nrecipients, h->seqs, sent_next);
	if (r != 0)
		return r;
	if (n->audit != NULL)	/* once for all the SEND records */
		envelope_wire_hash(s->e, wire_hash);
	for (size_t i = 0; i < h->nrecipients; i++) {
		/* one SEND per destination, naming it */
		const char *to[1] = { h->recipients[i] };
		struct node_audit_msg am = {
			.event = KETEN__V1__AUDIT_EVENT__EVENT_SEND, .msg_id = h->msg_id,
			.kind = h->kind, .sender = h->sender, .recipients = to, .n_recipients = 1,
			.purpose = h->purpose, .mandate_id = h->mandate_id,
			.traceparent = h->traceparent, .local_system = s->local_name,
			.peer = hops[i] != NULL ? hops[i]->oin : NULL, .wire_hash = wire_hash,
			.subjects = &s->subj,
			.pseudonyms = s->pseud_ok ? (const uint8_t (*)[AUDIT_PSEUDONYM_LEN])s->pseud :
			    NULL,
		};

		if ((r = node_audit_message(n, &am)) != 0)
			return r;
	}
	for (size_t i = 0; i < last; i++) {
		struct buf *b = NULL;

		if (sent_next[i] == 0)
			continue;
		/* the last send takes the envelope's own bytes, the others a copy */
		if (i + 1 == last)
			b = envelope_take_wire(s->e);
		if (b == NULL && ((b = buf_new(len)) == NULL || buf_put(b, w, len) != 0)) {
			buf_destroy(&b);
			continue;	/* the retry timer sends it */
		}
		(void)node_act_peer(n, hops[i]->oin, PEER_MSG_ENVELOPE, b);
	}
	return 0;
}

void
outbound_flush(struct node *n)
{
	struct envelope **es;
	size_t done = 0;
	int r;

	if (n->nstaged == 0)
		return;
	if ((es = calloc(n->nstaged, sizeof(*es))) == NULL) {
		log_error("outbound: out of memory for a batch of %zu", n->nstaged);
		r = KETEN_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n->nstaged; i++)
		es[i] = n->staged[i].e;
	/* One Ed25519 signature for the whole batch; a batch of one gets a
	 * single signature. */
	if (n->nstaged == 1)
		r = envelope_sign(es[0], n->keys->sign_sk);
	else
		r = envelope_sign_batch(es, n->nstaged, n->keys->sign_sk);
	free(es);
	if (r != 0) {
		log_error("outbound: cannot sign a batch of %zu: %s", n->nstaged, keten_strerror(r));
		goto fail;
	}
	for (size_t i = 0; i < n->nstaged; i++) {
		const struct staged *s = &n->staged[i];

		if ((r = staged_store_and_send(n, s)) != 0) {
			log_error("outbound: cannot queue: %s", keten_strerror(r));
			goto fail;
		}
		(void)staged_reply(n, s);
		done++;
		log_debug("queued %s from %s", kind_name(envelope_header(s->e)->kind), s->local_name);
	}
	for (size_t i = 0; i < n->nstaged; i++)
		outbound_staged_clear(&n->staged[i]);
	n->nstaged = 0;
	n->batch_deadline = 0;
	return;
fail:
	/* The turn's transaction cannot be trusted now: roll it back, and
	 * every submission of the turn is answered with the error. */
	for (size_t i = done; i < n->nstaged; i++)
		(void)staged_reply(n, &n->staged[i]);
	node_abort_turn(n, r);
}

/* ------------------------------------------------------------------ */
/* retry and expiry */

struct due_ctx {
	struct node *n;
	uint64_t now;
	size_t sent, waiting;
};

static int
due_one(void *arg, const uint8_t *msg_id, const char *recipient, const char *sender,
    uint32_t attempts, const uint8_t *env, size_t len)
{
	struct due_ctx *c = arg;

	(void)sender;	/* this node */
	struct node *n = c->n;
	const struct party *p = directory_find(n->dir, recipient), *hop;
	int r;

	if (p == NULL) {
		log_warn("outbound: %s is no longer in the directory; will retry after the next reload",
		    recipient);
		(void)store_outbox_mark(n->store, msg_id, recipient, KETEN__V1__DELIVERY_STATE__STATE_QUEUED,
		    attempts, c->now + backoff(n->cfg, attempts + 1, n->cfg->retry_initial_ms), NULL);
		return 0;
	}
	hop = node_next_hop(n, p);
	/* Sent directly from here (not after the commit): the row is
	 * already durable, and only its attempt counter changes. */
	r = peers_send(n->peers, hop, PEER_MSG_ENVELOPE, env, len, 1);
	if (r == 0) {
		c->sent++;
		(void)store_outbox_mark(n->store, msg_id, recipient, KETEN__V1__DELIVERY_STATE__STATE_SENT,
		    attempts + 1, c->now + backoff(n->cfg, attempts + 1, RECEIPT_WAIT_MS), NULL);
	} else {
		c->waiting++;
		(void)store_outbox_mark(n->store, msg_id, recipient, KETEN__V1__DELIVERY_STATE__STATE_QUEUED,
		    attempts + 1, c->now + backoff(n->cfg, attempts + 1, n->cfg->retry_initial_ms), NULL);
	}
	return 0;
}

/* A relayed envelope due again: towards its final recipient's next hop. */
static int
due_relay(void *arg, const uint8_t *msg_id, const char *recipient, const char *sender,
    uint32_t attempts, const uint8_t *env, size_t len)
{
	struct due_ctx *c = arg;
	struct node *n = c->n;
	const struct party *p = directory_find(n->dir, recipient);
	int r = KETEN_ENOTFOUND;

	if (p != NULL)
		r = peers_send(n->peers, node_next_hop(n, p), PEER_MSG_ENVELOPE, env, len, 1);
	if (r == 0)
		c->sent++;
	else
		c->waiting++;
	(void)store_relay_mark(n->store, msg_id, recipient, sender, attempts + 1,
	    c->now + backoff(n->cfg, attempts + 1, r == 0 ? RECEIPT_WAIT_MS : n->cfg->retry_initial_ms));
	return 0;
}

struct wake_ctx {
	struct node *n;
	int woken;
};

static void
wake_peer(void *arg, const char *oin)
{
	struct wake_ctx *c = arg;
	struct node *n = c->n;
	int r = node_txn(n), rows = 0;

	/* Everything whose next hop is this peer: the peer itself and the
	 * parties it relays for, and what this node relays through it. */
	for (size_t i = 0; r >= 0 && i < directory_count(n->dir); i++) {
		const struct party *p = directory_party(n->dir, i);

		if (strcmp(node_next_hop(n, p)->oin, oin) == 0 && (r = store_outbox_wake(n->store,
		    p->oin)) > 0)
			rows += r;
	}
	if (r >= 0 && (r = store_relay_wake(n->store, oin)) > 0)
		rows += r;
	if (r < 0) {
		/* the rows keep their own retry times */
		log_error("outbound: cannot make the backlog to %s due: %s", oin, keten_strerror(r));
		return;
	}
	if (rows > 0)
		log_info("peer %s: connected; %d waiting message(s) go out in order", oin, rows);
	c->woken = 1;
}

int
outbound_links(struct node *n, uint64_t now)
{
	struct wake_ctx c = { n, 0 };
	int waiting;

	(void)peers_ready(n->peers, wake_peer, &c, &waiting);
	if (c.woken)
		n->next_retry = now;
	return waiting;
}

static int
expiring(void *arg, const uint8_t *msg_id, const char *rcpt, const char *relay_sender)
{
	struct node *n = arg;
	const char *to[1] = { rcpt };
	struct node_audit_msg am = {
		.event = KETEN__V1__AUDIT_EVENT__EVENT_EXPIRE,
		.reason = KETEN__V1__REASON__EXPIRED, .rule = "expires_at",
		.msg_id = msg_id, .sender = relay_sender ? relay_sender : n->oin,
		.recipients = to, .n_recipients = 1,
	};

	return node_audit_message(n, &am);
}

void
outbound_retry(struct node *n, uint64_t now)
{
	struct due_ctx c = { n, now, 0, 0 };
	uint64_t next = 0;
	int r, expired;

	if (node_txn(n) != 0) {
		n->next_retry = now + 1000;
		return;
	}
	if ((expired = store_outbox_expire(n->store, now, expiring, n)) < 0) {
		/* its EXPIRE records are written: the turn goes, they with it */
		log_error("outbound: cannot expire: %s", keten_strerror(expired));
		node_abort_turn(n, expired);
		n->next_retry = now + 1000;
		return;
	}
	if (expired > 0)
		log_info("outbound: %d message destination(s) expired before a receipt arrived", expired);
	if (n->trust_lapsed) {	/* nothing goes out on an expired directory */
		n->next_retry = now + 1000;
		return;
	}
	if ((r = store_outbox_due(n->store, now, DUE_BATCH, due_one, &c)) != 0)
		log_error("outbound: cannot read the due list: %s", keten_strerror(r));
	if ((r = store_relay_due(n->store, now, DUE_BATCH, due_relay, &c)) != 0)
		log_error("relay: cannot read the due list: %s", keten_strerror(r));
	if (c.sent || c.waiting)
		log_debug("outbound: %zu sent again, %zu waiting for their peer", c.sent, c.waiting);
	/* Everything that was due went out: no link has a backlog left. */
	if (c.sent + c.waiting < DUE_BATCH)
		peers_drained(n->peers);
	if (store_next_due(n->store, &next) == 0 && next > now)
		n->next_retry = next;
	else
		n->next_retry = now + (c.sent + c.waiting >= DUE_BATCH ? 0 : 1000);
	if (n->next_retry > now + 1000)
		n->next_retry = now + 1000;	/* expiry is checked at least every second */
}

/* ------------------------------------------------------------------ */
/* receipts for what we sent */

/* Keep a peer's checkpoint, carried by its receipt, as its witness: a
 * WITNESS record in this node's log, at most one per peer per checkpoint
 * interval, and only when the peer's log has grown.  Whoever audits the
 * peer's log later can check that it still extends what was witnessed. */
static void
outbound_witness(struct node *n, const struct receipt_info *ri)
{
	const struct party *issuer;
	struct checkpoint cp;
	struct witnessed *w = NULL;
	char origin[64];
	uint64_t now = clock_now_ms();
	struct audit_event e;

	if (ri->checkpoint == NULL || ri->checkpoint_len == 0 ||
	    (issuer = directory_find(n->dir, ri->issuer)) == NULL)
		return;
	for (size_t i = 0; i < n->nwitnessed; i++)
		if (strcmp(n->witnessed[i].oin, ri->issuer) == 0)
			w = &n->witnessed[i];
	if (w != NULL && now < w->at + n->cfg->audit_checkpoint_ms)
		return;
	auditlog_origin(ri->issuer, origin);
	if (checkpoint_verify(ri->checkpoint, ri->checkpoint_len, origin, issuer->sign_pk,
	    &cp) != 0) {
		log_warn("receipt by %s carries a checkpoint that does not verify; not witnessed",
		    ri->issuer);
		return;
	}
	if (w != NULL && cp.size <= w->size)
		return;
	if (w == NULL) {
		struct witnessed *grown = realloc(n->witnessed, (n->nwitnessed + 1) * sizeof(*grown));

		if (grown == NULL)
			return;
		n->witnessed = grown;
		w = &n->witnessed[n->nwitnessed++];
		snprintf(w->oin, sizeof(w->oin), "%s", ri->issuer);
	}
	memset(&e, 0, sizeof(e));
	e.event = KETEN__V1__AUDIT_EVENT__EVENT_WITNESS;
	e.peer = ri->issuer;
	e.checkpoint = ri->checkpoint;
	e.checkpoint_len = ri->checkpoint_len;
	if (node_audit(n, &e) == 0) {
		w->size = cp.size;
		w->at = now;
	}
}

void
outbound_receipt(struct node *n, const struct party *from, const uint8_t *body, size_t len,
    const void *info)
{
	const struct receipt_info *ri = info;
	int state = ri->status == KETEN_RECEIPT_DELIVERED ? KETEN__V1__DELIVERY_STATE__STATE_DELIVERED :
	    KETEN__V1__DELIVERY_STATE__STATE_REFUSED;
	const char *about = from->oin;
	char id[33];
	int r;

	hex_encode(ri->msg_id, KETEN_MSG_ID_LEN, id);
	/* A relay's refusal is about a recipient behind it; only that
	 * recipient's relay may speak for it. */
	if (ri->recipient != NULL && ri->recipient[0] != '\0') {
		const struct party *rp = directory_find(n->dir, ri->recipient);

		if (rp == NULL || strcmp(rp->via, from->oin) != 0) {
			log_warn("receipt by %s about %s dropped: %s is not its relay", from->oin,
			    ri->recipient, from->oin);
			return;
		}
		about = rp->oin;
	}
	if (node_txn(n) != 0)
		return;
	/* The checkpoint is witnessed whatever becomes of the receipt: the
	 * others of its batch may carry none (PROTOCOL.md §17.6). */
	outbound_witness(n, ri);
	/* The receipt must be about exactly the envelope we stored. */
	r = store_outbox_receipt(n->store, ri->msg_id, about, ri->envelope_digest, state,
	    ri->reason, ri->reason_text, body, len, ri->issued_at);
	if (r == KETEN_ENOTFOUND) {
		log_warn("receipt by %s for unknown message %s dropped", from->oin, id);
		return;
	}
	if (r == KETEN_EEXIST) {
		log_debug("receipt by %s for %s again: already recorded", from->oin, id);
		return;
	}
	if (r == KETEN_ESTATE) {
		log_warn("receipt by %s for %s contradicts the one recorded (another outcome or "
		    "envelope); the first stands", from->oin, id);
		return;
	}
	if (r != 0) {
		log_error("store: receipt for %s: %s", id, keten_strerror(r));
		return;
	}
	{
		const char *to[1] = { about };
		struct node_audit_msg am = {
			.event = KETEN__V1__AUDIT_EVENT__EVENT_RECEIPT,
			.decision = state == KETEN__V1__DELIVERY_STATE__STATE_DELIVERED ?
			    KETEN__V1__DECISION__DECISION_ALLOW : KETEN__V1__DECISION__DECISION_DENY,
			.reason = ri->reason, .rule = "receipt", .msg_id = ri->msg_id,
			.sender = n->oin, .recipients = to, .n_recipients = 1, .peer = from->oin,
		};

		/* A receipt whose record cannot be made is not taken: the
		 * turn rolls back and the receipt comes again. */
		if (node_audit_message(n, &am) != 0) {
			node_abort_turn(n, KETEN_EIO);
			return;
		}
	}
	if (state == KETEN__V1__DELIVERY_STATE__STATE_DELIVERED)
		log_debug("delivered %s to %s", id, from->oin);
	else
		log_warn("refused %s for %s by %s: %s (%s)", id, about, from->oin,
		    reason_name(ri->reason), ri->reason_text);
}
