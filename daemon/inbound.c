/*
 * inbound.c — what arrives on the node's listening socket: envelopes (to
 * this node, or to be relayed) and receipts (for messages this node sent
 * or relayed).
 *
 * Order of checks for an envelope (PROTOCOL.md §7): transport identity
 * known, parse, sender in the directory, time and signature, transport
 * identity allowed for this sender, then either this node is a recipient
 * (dedup, open, validate, store, DELIVERED receipt) or it relays for a
 * recipient (store, forward) or it refuses with NOT_RECIPIENT.  An
 * envelope whose signature does not verify is dropped and logged: a
 * receipt for it could only be addressed to a sender nobody authenticated.
 * So is one that arrives from a node that is neither its sender nor a
 * relay for it (a replay by a third party).  Every other refusal is a
 * signed REFUSED receipt to the sender.
 */
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "audit.pb-c.h"
#include "auditlog.h"
#include "buf.h"
#include "config.h"
#include "directory.h"
#include "envelope.h"
#include "err.h"
#include "keys.h"
#include "log.h"
#include "mandate.h"
#include "node.h"
#include "node_io.h"
#include "payload.h"
#include "peer.h"
#include "receipt.h"
#include "store.h"
#include "util.h"
#include "zap.h"

#include "directory.pb-c.h"
#include "envelope.pb-c.h"

static void
msgid_hex(const uint8_t id[KETEN_MSG_ID_LEN], char out[2 * KETEN_MSG_ID_LEN + 1])
{
	hex_encode(id, KETEN_MSG_ID_LEN, out);
}

/* Sign a receipt about envelope e.  *out is a new buffer. */
static int
receipt_make(struct node *n, const struct envelope *e, int status, int reason,
    const char *text, const char *recipient, struct buf **out)
{
	const struct envelope_header *h = envelope_header(e);
	struct receipt_info ri;
	int r;

	memset(&ri, 0, sizeof(ri));
	memcpy(ri.msg_id, h->msg_id, KETEN_MSG_ID_LEN);
	ri.issuer = n->oin;
	ri.sender = h->sender;
	ri.status = status;
	ri.reason = reason;
	ri.reason_text = text ? text : "";
	ri.recipient = recipient;
	ri.issued_at = clock_now_ms();
	memcpy(ri.envelope_digest, envelope_digest(e), KETEN_DIGEST_LEN);
	if ((r = receipt_sign(&ri, n->keys->sign_sk, out)) != 0)
		log_error("receipt: cannot sign: %s", keten_strerror(r));
	return r;
}

/* Queue a receipt (taken) to `hop`, the party that handed this node the
 * envelope: the sender, or a relay, whose relay row then sends it on.  A
 * receipt goes back the way its message came (PROTOCOL.md 14.4). */
static void
receipt_queue(struct node *n, const char *hop, struct buf *b)
{
	if (directory_find(n->dir, hop) == NULL) {
		buf_destroy(&b);
		return;
	}
	(void)node_act_peer(n, hop, PEER_MSG_RECEIPT, b);
}

/* Refuse e: its audit record (the rule and mandate that decided, when a
 * mandate check did), then a signed REFUSED receipt, kept so that the
 * same envelope sent again gets the same answer. */
static void
refuse(struct node *n, const struct envelope *e, const char *from, int reason, const char *why,
    const char *rule, const struct mandate *m)
{
	struct node_audit_msg am = {
		.event = KETEN__V1__AUDIT_EVENT__EVENT_RECEIVE,
		.decision = KETEN__V1__DECISION__DECISION_DENY,
		.reason = reason, .rule = rule, .mandate = m, .h = envelope_header(e),
		.peer = from, .env = e,
	};
	struct buf *b = NULL;
	char id[33];

	msgid_hex(envelope_header(e)->msg_id, id);
	if (node_audit_message(n, &am) != 0)
		return;		/* no receipt: the sender sends again */
	log_warn("refused %s %s from %s: %s (%s)", kind_name(envelope_header(e)->kind), id,
	    envelope_header(e)->sender, reason_name(reason), why);
	if (receipt_make(n, e, KETEN_RECEIPT_REFUSED, reason, why, NULL, &b) != 0)
		return;
	/* Kept, so that the same envelope sent again gets the same answer. */
	if (node_txn(n) != 0 || store_refusal_add(n->store, envelope_header(e)->sender,
	    envelope_header(e)->msg_id, buf_ptr(b), buf_len(b)) != 0) {
		buf_destroy(&b);
		return;
	}
	receipt_queue(n, from, b);
}

/* May the node whose transport identity is `peer` hand us an envelope or
 * receipt that `origin` signed?  Yes when it is the origin itself, or a
 * relay that stands for the origin, for this node or for a recipient. */
static int
transport_allowed(struct node *n, const struct party *peer, const struct party *origin,
    const struct envelope_header *h)
{
	const struct party *me = directory_find(n->dir, n->oin);

	if (strcmp(peer->oin, origin->oin) == 0)
		return 1;
	if (!(peer->roles & KETEN_ROLE_BIT(KETEN__V1__ROLE__RELAY)))
		return 0;
	if (strcmp(origin->via, peer->oin) == 0 || (me && strcmp(me->via, peer->oin) == 0))
		return 1;
	for (size_t i = 0; h != NULL && i < h->nrecipients; i++) {
		const struct party *rp = directory_find(n->dir, h->recipients[i]);

		if (rp != NULL && strcmp(rp->via, peer->oin) == 0)
			return 1;
	}
	return 0;
}

static int
reason_for(int err)
{
	switch (err) {
	case KETEN_EEXPIRED:
		return KETEN__V1__REASON__EXPIRED;
	case KETEN_EFUTURE:
		return KETEN__V1__REASON__FROM_FUTURE;
	case KETEN_EDECRYPT:
	case KETEN_ETRUNCATED:
		return KETEN__V1__REASON__DECRYPT_FAILED;
	case KETEN_ETOOBIG:
		return KETEN__V1__REASON__TOO_LARGE;
	default:
		return KETEN__V1__REASON__MALFORMED;
	}
}

/* The check at a relay or recipient: the envelope names a mandate, and
 * it covers the signed sender, kind, `to` and purpose now.  Every
 * decision is logged with the mandate and the rule that decided. */
static int
mandate_allows(struct node *n, const struct envelope_header *h, const char *to,
    struct mandate_decision *d)
{
	char id[33];

	hex_encode(h->msg_id, KETEN_MSG_ID_LEN, id);
	/* (the benchmark build without mandate checks lets mandates_check
	 * allow everything, also an envelope that names none) */
#ifndef KETEN_BENCH_UNCHECKED
	if (h->mandate_id == NULL || h->mandate_id[0] == '\0') {
		memset(d, 0, sizeof(*d));
		d->reason = KETEN__V1__REASON__NO_MANDATE;
		d->rule = "named";
		snprintf(d->text, sizeof(d->text), "the envelope names no mandate");
	} else
#endif
		mandates_check(n->mandates, n->dir, h->sender, h->kind, to, h->purpose, h->mandate_id,
		    clock_now_ms(), d);
	if (d->allow)
		log_debug("mandate: %s %s from %s to %s allowed: %s (rule %s)", kind_name(h->kind), id,
		    h->sender, to, d->text, d->rule);
	else
		log_warn("mandate: %s %s from %s to %s refused: %s (%s, rule %s)", kind_name(h->kind),
		    id, h->sender, to, d->text, reason_name(d->reason), d->rule);
	return d->allow;
}

/* A duplicate is answered with the receipt it got the first time: 1
 * when it was (or the store cannot say: nothing is done, and the sender
 * sends again), 0 when (sender, msg_id) is new here. */
static int
answered_before(struct node *n, const struct envelope *e, const char *from)
{
	const struct envelope_header *h = envelope_header(e);
	struct buf *stored = NULL;
	char id[33];
	int r;

	if (node_txn(n) != 0)
		return 1;
	if ((r = store_inbox_receipt(n->store, h->sender, h->msg_id, &stored)) == 0) {
		msgid_hex(h->msg_id, id);
		log_debug("duplicate %s from %s: receipt sent again", id, h->sender);
		receipt_queue(n, from, stored);
		return 1;
	}
	if (r != KETEN_ENOTFOUND) {
		log_error("store: %s", keten_strerror(r));
		return 1;
	}
	return 0;
}

/* This node is a recipient. */
static void
deliver_here(struct node *n, struct envelope *e, const char *from, const uint8_t *wire,
    size_t len)
{
	const struct envelope_header *h = envelope_header(e);
	struct buf *pt = NULL;
	struct mandate_decision dec;
	struct payload_subjects subj;
	struct received *rc;
	uint64_t seq = 0;
	int r;
	char id[33];

	msgid_hex(h->msg_id, id);
	if (answered_before(n, e, from) != 0)
		return;
	/* The receiving node's check of the mandate the envelope names: it
	 * covers sender, kind, this node and the purpose, now. */
	if (!mandate_allows(n, h, n->oin, &dec)) {
		refuse(n, e, from, dec.reason, dec.text, dec.rule, dec.m);
		return;
	}
	/* Delivery to a local system: one of them may receive the kind for
	 * this purpose, or nobody here may process it. */
	if (config_local_receiver(n->cfg, h->kind, h->purpose) == NULL) {
		char why[200];

		snprintf(why, sizeof(why), "no local system here may receive %s for purpose %s",
		    kind_name(h->kind), h->purpose);
		log_warn("mandate: %s", why);
		refuse(n, e, from, KETEN__V1__REASON__LOCAL_NOT_PERMITTED, why, "local", dec.m);
		return;
	}
	if ((r = envelope_open(e, n->opener, &pt)) != 0) {
		refuse(n, e, from, reason_for(r), keten_strerror(r), "envelope", NULL);
		return;
	}
	r = payload_subjects(h->kind, buf_ptr(pt), buf_len(pt), &subj);
	buf_destroy(&pt);	/* stored encrypted; opened again for delivery */
	if (r != 0) {
		refuse(n, e, from, KETEN__V1__REASON__MALFORMED, "payload is not a valid message of its kind",
		    "payload", NULL);
		return;
	}
	for (size_t i = 0; h->seqs != NULL && i < h->nrecipients; i++)
		if (strcmp(h->recipients[i], n->oin) == 0)
			seq = h->seqs[i];
	/* Stored, with its receipt, when the turn's receipts are signed. */
	if (n->received == NULL &&
	    (n->received = calloc(KETEN_MAX_BATCH, sizeof(*n->received))) == NULL)
		return;
	if (n->nreceived == KETEN_MAX_BATCH)
		inbound_flush(n);
	rc = &n->received[n->nreceived];
	memset(rc, 0, sizeof(*rc));
	if ((rc->wire = buf_new(len)) == NULL || buf_put(rc->wire, wire, len) != 0) {
		buf_destroy(&rc->wire);
		return;		/* no receipt: the sender retries */
	}
	snprintf(rc->sender, sizeof(rc->sender), "%s", h->sender);
	memcpy(rc->msg_id, h->msg_id, sizeof(rc->msg_id));
	memcpy(rc->digest, envelope_digest(e), sizeof(rc->digest));
	if (n->audit != NULL)
		envelope_wire_hash(e, rc->wire_hash);
	rc->seq = seq;
	rc->kind = h->kind;
	snprintf(rc->case_ref, sizeof(rc->case_ref), "%s", h->case_ref);
	rc->at = clock_now_ms();
	rc->subj = subj;
	snprintf(rc->from, sizeof(rc->from), "%s", from);
	snprintf(rc->purpose, sizeof(rc->purpose), "%s", h->purpose);
	snprintf(rc->mandate_id, sizeof(rc->mandate_id), "%s", h->mandate_id);
	snprintf(rc->traceparent, sizeof(rc->traceparent), "%s", h->traceparent);
	rc->mandate = dec.m;
	rc->rule = dec.rule;
	n->nreceived++;
}

/* Sequence numbers say what is missing or late; neither holds the message
 * back (a gap may be a message that expired on its way). */
static void
seq_check(struct node *n, const struct received *rc)
{
	uint64_t last = 0;

	/* seq == last: the same message twice in one turn, stored once */
	if (rc->seq != 0 && store_inbox_last_seq(n->store, rc->sender, &last) == 0 &&
	    (rc->seq > last + 1 || rc->seq < last))
		log_warn("sequence from %s: %llu after %llu (%s)", rc->sender,
		    (unsigned long long)rc->seq, (unsigned long long)last,
		    rc->seq > last ? "a gap: earlier messages missing or late" : "out of order");
}

/* Whether the i-th message of the batch came earlier in it too (it then
 * gets the earlier one's receipt). */
static int
seen_before(const struct received *rc, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (memcmp(rc[j].msg_id, rc[i].msg_id, sizeof(rc[i].msg_id)) == 0 &&
		    strcmp(rc[j].sender, rc[i].sender) == 0)
			return 1;
	return 0;
}

/* Which receipts of the batch carry its checkpoint (PROTOCOL.md §17.6):
 * for each hop and original sender, the first receipt of a message not
 * seen before in the batch.  A relay passes receipts on as they are, so
 * each sender behind it gets one too. */
static void
checkpoint_carriers(const struct received *rc, size_t k, uint8_t *carries)
{
	size_t who[KETEN_MAX_BATCH], nwho = 0;

	for (size_t i = 0; i < k; i++) {
		size_t w = 0;

		while (w < nwho && (strcmp(rc[who[w]].from, rc[i].from) != 0 ||
		    strcmp(rc[who[w]].sender, rc[i].sender) != 0))
			w++;
		carries[i] = w == nwho && !seen_before(rc, i);
		if (carries[i])
			who[nwho++] = i;
	}
}

/* Sign the receipts of what this turn received with one signature, store
 * each message with its receipt, and queue the receipts.  A message
 * received twice in the turn is stored once; the second gets the first's
 * receipt. */
void
inbound_flush(struct node *n)
{
	struct receipt_info ri[KETEN_MAX_BATCH];
	struct buf *rcpt[KETEN_MAX_BATCH];
	uint8_t carries[KETEN_MAX_BATCH];
	size_t k = n->nreceived;
	int r = 0;

	if (k == 0)
		return;
	n->nreceived = 0;
	/* The RECEIVE records first, then a checkpoint that covers them: one
	 * receipt of the batch for each hop and sender carries it, and the
	 * sender keeps it as a witness of this node's log (PROTOCOL.md
	 * §17.6).  The others leave it out: it would be the same note, kept
	 * with every receipt in both nodes' stores. */
	for (size_t i = 0; i < k; i++) {
		struct received *rc = &n->received[i];
		const char *me[1] = { n->oin };
		struct node_audit_msg am = {
			.event = KETEN__V1__AUDIT_EVENT__EVENT_RECEIVE,
			.decision = KETEN__V1__DECISION__DECISION_ALLOW,
			.rule = rc->rule, .mandate = rc->mandate, .msg_id = rc->msg_id,
			.kind = rc->kind, .sender = rc->sender, .recipients = me, .n_recipients = 1,
			.purpose = rc->purpose, .mandate_id = rc->mandate_id,
			.traceparent = rc->traceparent, .peer = rc->from,
			.wire_hash = rc->wire_hash, .subjects = &rc->subj,
		};

		if ((r = node_audit_message(n, &am)) != 0)
			break;
	}
	if (r == 0 && n->audit != NULL && (r = auditlog_checkpoint(n->audit, 0, n->note)) != 0)
		log_error("audit: cannot sign a checkpoint: %s", keten_strerror(r));
	if (r != 0) {
		/* Without their records nothing of the turn happens: no store,
		 * no receipt; the senders send again. */
		for (size_t i = 0; i < k; i++)
			buf_destroy(&n->received[i].wire);
		node_abort_turn(n, r);
		return;
	}
	checkpoint_carriers(n->received, k, carries);
	for (size_t i = 0; i < k; i++) {
		memset(&ri[i], 0, sizeof(ri[i]));
		memcpy(ri[i].msg_id, n->received[i].msg_id, KETEN_MSG_ID_LEN);
		ri[i].issuer = n->oin;
		ri[i].sender = n->received[i].sender;
		ri[i].status = KETEN_RECEIPT_DELIVERED;
		ri[i].reason_text = "";
		ri[i].issued_at = n->received[i].at;
		memcpy(ri[i].envelope_digest, n->received[i].digest, KETEN_DIGEST_LEN);
		if (carries[i]) {
			ri[i].checkpoint = buf_ptr(n->note);
			ri[i].checkpoint_len = buf_len(n->note);
		}
	}
	/* Without their records nothing is stored and no receipt goes: the
	 * senders send again. */
	if (r == 0 && (r = receipt_sign_batch(ri, k, n->keys->sign_sk, rcpt)) != 0)
		log_error("receipt: cannot sign %zu: %s; the senders will send again", k,
		    keten_strerror(r));
	for (size_t i = 0; i < k; i++) {
		struct received *rc = &n->received[i];
		struct buf *stored = NULL;
		char id[33];
		int dup = 0;

		msgid_hex(rc->msg_id, id);
		seq_check(n, rc);
		if (r == 0 && node_txn(n) == 0 && store_inbox_add(n->store, rc->sender, rc->msg_id,
		    rc->seq, rc->kind, rc->case_ref, rc->at, buf_ptr(rc->wire), buf_len(rc->wire),
		    buf_ptr(rcpt[i]), buf_len(rcpt[i]), &dup) == 0) {
			if (dup && store_inbox_receipt(n->store, rc->sender, rc->msg_id, &stored) == 0) {
				buf_destroy(&rcpt[i]);
				rcpt[i] = stored;
			}
			receipt_queue(n, rc->from, rcpt[i]);
			rcpt[i] = NULL;
			if (!dup) {
				n->inbox_added++;
				log_debug("received %s %s from %s (case %s)", kind_name(rc->kind), id,
				    rc->sender, rc->case_ref);
			}
		} else if (r == 0) {
			/* Not stored: no receipt; the sender tries again later. */
			log_error("store: cannot store %s from %s", id, rc->sender);
		}
		if (r == 0)
			buf_destroy(&rcpt[i]);
		buf_destroy(&rc->wire);
	}
}

/* Forward to each recipient this node relays for; returns how many there
 * are, also when forwarding one failed (then no receipt goes back for it
 * and the sender sends again), so that a failure is never answered as
 * "not a recipient nor a relay". */
static int
relay_forward(struct node *n, struct envelope *e, const uint8_t *wire, size_t len,
    const struct party *sender, const char *from)
{
	const struct envelope_header *h = envelope_header(e);
	struct mandate_decision dec;
	int mine = 0, r;
	char id[33];

	msgid_hex(h->msg_id, id);
	for (size_t i = 0; i < h->nrecipients; i++) {
		const struct party *rp = directory_find(n->dir, h->recipients[i]);
		const struct party *hop;
		struct buf *b;

		if (rp == NULL || strcmp(rp->oin, n->oin) == 0)
			continue;
		/* we relay for recipients behind us, and for a sender behind us */
		if (strcmp(rp->via, n->oin) != 0 && strcmp(sender->via, n->oin) != 0)
			continue;
		mine++;
		hop = node_next_hop(n, rp);
		/* The relay's check: the sender's mandate covers this recipient,
		 * and this relay may relay the kind.  A refusal goes back to the
		 * sender as a receipt naming the recipient. */
		{
			const char *to[1] = { rp->oin };
			int ok = mandate_allows(n, h, rp->oin, &dec) &&
			    mandates_check_relay(n->mandates, n->oin, h->kind, clock_now_ms(), &dec);
			struct node_audit_msg am = {
				.event = KETEN__V1__AUDIT_EVENT__EVENT_RELAY,
				.decision = ok ? KETEN__V1__DECISION__DECISION_ALLOW :
				    KETEN__V1__DECISION__DECISION_DENY,
				.reason = ok ? 0 : dec.reason, .rule = dec.rule, .mandate = dec.m,
				.h = h, .peer = hop->oin, .env = e,
			};

			/* The relay records for whom it decided: this recipient. */
			am.h = NULL;
			am.msg_id = h->msg_id;
			am.kind = h->kind;
			am.sender = h->sender;
			am.recipients = to;
			am.n_recipients = 1;
			am.purpose = h->purpose;
			am.mandate_id = h->mandate_id;
			am.traceparent = h->traceparent;
			if (node_audit_message(n, &am) != 0)
				continue;	/* neither forwarded nor refused: sent again */
			if (ok)
				goto forward;
		}
		{
			struct buf *rb = NULL;

			if (dec.reason == KETEN__V1__REASON__RELAY_NOT_PERMITTED)
				log_warn("mandate: %s %s from %s to %s refused: %s", kind_name(h->kind), id,
				    h->sender, rp->oin, dec.text);
			if (receipt_make(n, e, KETEN_RECEIPT_REFUSED, dec.reason, dec.text, rp->oin,
			    &rb) == 0)
				receipt_queue(n, from, rb);
			continue;
		}
forward:
		if ((r = node_txn(n)) != 0)
			return mine;
		r = store_relay_add(n->store, h->msg_id, h->sender, rp->oin, hop->oin,
		    h->expires_at, wire, len);
		if (r == KETEN_EEXIST) {
			struct buf *rc = NULL;

			/* The sender sends again: the receipt it is waiting for
			 * may have been lost on the way back.  Send the one we
			 * hold; without one, the relay queue retries on its own. */
			if (store_relay_receipt(n->store, h->sender, h->msg_id, rp->oin, &rc) == 0) {
				log_debug("relay: %s for %s again: its receipt goes back again", id,
				    rp->oin);
				receipt_queue(n, from, rc);
			} else {
				log_debug("relay: %s for %s already queued", id, rp->oin);
			}
			continue;
		}
		if (r != 0) {
			log_error("relay: cannot queue %s: %s", id, keten_strerror(r));
			continue;
		}
		log_info("relaying %s %s from %s to %s via %s", kind_name(h->kind), id,
		    h->sender, rp->oin, hop->oin);
		/* Sent after the commit; sent again from the relay queue only
		 * if no receipt has come back by then.  Behind a backlog: due
		 * now, after the older ones. */
		if (!peers_open_now(n->peers, hop->oin)) {
			(void)store_relay_mark(n->store, h->msg_id, rp->oin, h->sender, 0, clock_now_ms());
			n->next_retry = clock_now_ms();
			continue;
		}
		(void)store_relay_mark(n->store, h->msg_id, rp->oin, h->sender, 1, clock_now_ms() + 5000);
		if ((b = buf_new(len)) == NULL || buf_put(b, wire, len) != 0) {
			buf_destroy(&b);
			continue;
		}
		(void)node_act_peer(n, hop->oin, PEER_MSG_ENVELOPE, b);
	}
	return mine;
}

static void
envelope_in(struct node *n, const struct party *peer, const uint8_t *wire, size_t len)
{
	const char *from = peer->oin;
	struct envelope *e = NULL;
	const struct envelope_header *h;
	const struct party *sender;
	int r, for_me;
	char id[33];

	if ((r = envelope_parse(wire, len, &e)) != 0) {
		log_warn("envelope from %s dropped: %s", peer->oin, keten_strerror(r));
		return;
	}
	h = envelope_header(e);
	msgid_hex(h->msg_id, id);
	sender = directory_find(n->dir, h->sender);
	r = envelope_verify(e, sender ? sender->sign_pk : NULL, n->sigcache, clock_now_ms(),
	    n->cfg->clock_skew_ms);
	/* Only the time window may fail once the signature verified
	 * (envelope_verify); anything else is dropped unanswered: nothing is
	 * kept or signed for what its sender did not sign. */
	if (r != 0 && r != KETEN_EEXPIRED && r != KETEN_EFUTURE) {
		log_warn("envelope %s claiming sender %s, from %s, dropped: %s", id, h->sender,
		    peer->oin, keten_strerror(r));
		goto out;
	}
	/* Dropped, not refused: a receipt would tell the signed sender that
	 * its message was refused, while the sender itself may still deliver
	 * it; whoever replayed it here gets nothing. */
	if (!transport_allowed(n, peer, sender, h)) {
		log_warn("envelope %s signed by %s, from %s, dropped: transport identity is not "
		    "the sender or its relay", id, h->sender, peer->oin);
		goto out;
	}
	if (r != 0) {
		/* a message answered before gets that answer again, also
		 * once it has expired */
		if (answered_before(n, e, from) == 0)
			refuse(n, e, from, reason_for(r), keten_strerror(r), "envelope", NULL);
		goto out;
	}
	for_me = envelope_check_recipient(e, n->oin) == 0;
	if (for_me)
		deliver_here(n, e, from, wire, len);
	if (relay_forward(n, e, wire, len, sender, from) == 0 && !for_me)
		refuse(n, e, from, KETEN__V1__REASON__NOT_RECIPIENT, "this node is not a recipient or relay",
		    "recipient", NULL);
out:
	envelope_destroy(&e);
}

static void
receipt_in(struct node *n, const struct party *peer, const uint8_t *body, size_t len)
{
	struct receipt_parsed *rp = NULL;
	const struct receipt_info *ri;
	const struct party *issuer, *sender;
	int r;

	if ((r = receipt_parse(body, len, &rp)) != 0) {
		log_warn("receipt from %s dropped: %s", peer->oin, keten_strerror(r));
		return;
	}
	ri = receipt_info(rp);
	if ((issuer = directory_find(n->dir, ri->issuer)) == NULL ||
	    receipt_verify_cached(rp, issuer->sign_pk, n->sigcache) != 0) {
		log_warn("receipt from %s claiming issuer %s dropped: signature does not verify",
		    peer->oin, ri->issuer);
		goto out;
	}
	if (!transport_allowed(n, peer, issuer, NULL)) {
		log_warn("receipt by %s from %s dropped: transport identity not allowed",
		    ri->issuer, peer->oin);
		goto out;
	}
	if (strcmp(ri->sender, n->oin) == 0) {
		outbound_receipt(n, issuer, body, len, ri);
		goto out;
	}
	/* A receipt on its way back through this relay: pass it towards the
	 * original sender. */
	if (node_txn(n) == 0 &&
	    store_relay_done(n->store, ri->msg_id, ri->issuer, ri->sender, body, len) == 0 &&
	    (sender = directory_find(n->dir, ri->sender)) != NULL) {
		struct buf *b = buf_new(len);

		if (b != NULL && buf_put(b, body, len) == 0)
			(void)node_act_peer(n, node_next_hop(n, sender)->oin, PEER_MSG_RECEIPT, b);
		else
			buf_destroy(&b);
		goto out;
	}
	log_warn("receipt by %s for %s is not for this node; dropped", ri->issuer, ri->sender);
out:
	receipt_parsed_destroy(&rp);
}

/* The items of a batch from peer, each as if it had come on its own. */
static size_t
batch_in(struct node *n, const struct party *peer, const uint8_t *p, size_t len)
{
	const uint8_t *body;
	size_t off = 0, blen, k = 0;
	uint8_t type;

	/* the whole batch is looked at before any of it is taken */
	if (peer_batch_check(p, len) < 0) {
		log_warn("transport: malformed batch from %s dropped", peer->oin);
		return 1;
	}
	while (peer_batch_next(p, len, &off, &type, &body, &blen) > 0) {
		if (type == PEER_MSG_ENVELOPE)
			envelope_in(n, peer, body, blen);
		else
			receipt_in(n, peer, body, blen);
		k++;
	}
	return k;
}

/* One message from the listening socket: routing id, type, body.
 * Returns how many envelopes and receipts it held (at least 1). */
static size_t
inbound_one(struct node *n)
{
	zmq_msg_t f[3];
	size_t items = 1;
	int nf = 0, more = 1;
	const char *uid, *key;
	uint8_t pk[32];
	const struct party *peer;

	while (more) {
		zmq_msg_t extra, *m = nf < 3 ? &f[nf] : &extra;

		zmq_msg_init(m);
		if (zmq_msg_recv(m, n->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(m);
			break;
		}
		more = zmq_msg_more(m);
		if (m == &extra)
			zmq_msg_close(m);
		nf++;
	}
	if (nf != 3 || zmq_msg_size(&f[1]) != 1) {
		log_warn("transport: malformed message (%d frames) dropped", nf);
		goto out;
	}
	/* Fail closed: only frames that passed our ZAP handler carry a
	 * User-Id, and it must be a party in the current directory. */
	uid = zmq_msg_gets(&f[1], "User-Id");
	if (uid == NULL || (peer = directory_find(n->dir, uid)) == NULL) {
		log_warn("transport: message without a directory identity dropped");
		goto out;
	}
	/* and the connection's key must still be that party's: a reload
	 * may have replaced it since the connection was admitted */
	key = zmq_msg_gets(&f[1], ZAP_KEY_PROPERTY);
	if (key == NULL || hex_decode(key, pk, 32) != 0 ||
	    sodium_memcmp(pk, peer->curve_pk, 32) != 0) {
		log_warn("transport: message from %s on a connection made with a CURVE key the "
		    "directory no longer holds for it; dropped", peer->oin);
		goto out;
	}
	/* On an expired directory nothing is taken: no receipt, so the
	 * sender sends it again once this node has a current one. */
	if (n->trust_lapsed) {
		log_debug("transport: message from %s not taken: the directory expired", peer->oin);
		goto out;
	}
	switch (*(const uint8_t *)zmq_msg_data(&f[1])) {
	case PEER_MSG_ENVELOPE:
		envelope_in(n, peer, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]));
		break;
	case PEER_MSG_RECEIPT:
		receipt_in(n, peer, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]));
		break;
	case PEER_MSG_BATCH:
		items = batch_in(n, peer, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]));
		break;
	default:
		log_warn("transport: unknown message type from %s dropped", peer->oin);
	}
out:
	for (int i = 0; i < nf && i < 3; i++)
		zmq_msg_close(&f[i]);
	return items;
}

void
inbound_drain(struct node *n, size_t max)
{
	int events;
	size_t len = sizeof(events);

	/* max counts envelopes and receipts, also those in batches */
	for (size_t i = 0; i < max;) {
		if (zmq_getsockopt(n->router, ZMQ_EVENTS, &events, &len) != 0 ||
		    !(events & ZMQ_POLLIN))
			break;
		i += inbound_one(n);
	}
	inbound_flush(n);
}
