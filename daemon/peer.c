/*
 * peer.c — outbound links to other nodes (see peer.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "buf.h"
#include "directory.h"
#include "err.h"
#include "log.h"
#include "peer.h"
#include "util.h"

struct link {
	char oin[KETEN_OIN_LEN + 1];
	void *sock;
	uint64_t last_sent;
	enum link_state state;	/* see peer.h */
	/* Receipts that found the link not connected, oldest first, sent
	 * when it is (peers_ready): at most PEER_HELD_MAX of them,
	 * PEER_HELD_BYTES in all; one more is dropped, and the sender's retry
	 * asks again. */
	struct buf **held;
	size_t nheld, held_bytes;
	/* Items sent since the last peers_flush (peer.h, Batches): a batch
	 * body of nbatch items, or NULL. */
	struct buf *batch;
	size_t nbatch;
};

struct peers {
	void *zctx;
	uint8_t pk[32];
	uint8_t sk[32];
	struct peers_opts o;
	struct link *links;
	size_t nlinks;
};

int
peers_new(void *zctx, const uint8_t *my_curve_pk, const uint8_t *my_curve_sk,
    const struct peers_opts *o, struct peers **out)
{
	struct peers *ps;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return KETEN_ENOMEM;
	ps->zctx = zctx;
	memcpy(ps->pk, my_curve_pk, 32);
	memcpy(ps->sk, my_curve_sk, 32);
	ps->o = *o;
	*out = ps;
	return 0;
}

static struct link *
link_find(struct peers *ps, const char *oin)
{
	for (size_t i = 0; i < ps->nlinks; i++)
		if (strcmp(ps->links[i].oin, oin) == 0)
			return &ps->links[i];
	return NULL;
}

static int
setopt_int(void *s, int opt, int v)
{
	return zmq_setsockopt(s, opt, &v, sizeof(v));
}

static struct link *
link_open(struct peers *ps, const struct party *to)
{
	struct link *l, *grown;
	void *s;
	int64_t max = ps->o.max_msg;

	if ((s = zmq_socket(ps->zctx, ZMQ_DEALER)) == NULL)
		return NULL;
	if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, to->curve_pk, 32) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, ps->pk, 32) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, ps->sk, 32) != 0 ||
	    setopt_int(s, ZMQ_IMMEDIATE, 1) != 0 ||
	    /* only for an IPv6 literal: with it on, a host name with both
	     * kinds of address resolves to its IPv6 one alone */
	    setopt_int(s, ZMQ_IPV6, strstr(to->endpoint, "://[") != NULL) != 0 ||
	    setopt_int(s, ZMQ_LINGER, ps->o.linger_ms) != 0 ||
	    setopt_int(s, ZMQ_SNDHWM, ps->o.sndhwm) != 0 ||
	    setopt_int(s, ZMQ_HEARTBEAT_IVL, ps->o.heartbeat_ms) != 0 ||
	    setopt_int(s, ZMQ_HEARTBEAT_TIMEOUT, 3 * ps->o.heartbeat_ms) != 0 ||
	    setopt_int(s, ZMQ_HEARTBEAT_TTL, 3 * ps->o.heartbeat_ms) != 0 ||
	    setopt_int(s, ZMQ_RECONNECT_IVL, 100) != 0 ||
	    setopt_int(s, ZMQ_RECONNECT_IVL_MAX, 5000) != 0 ||
	    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0 ||
	    zmq_connect(s, to->endpoint) != 0) {
		log_error("peer %s: cannot open link to %s: %s", to->oin, to->endpoint,
		    zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	if ((grown = realloc(ps->links, (ps->nlinks + 1) * sizeof(*grown))) == NULL) {
		zmq_close(s);
		return NULL;
	}
	ps->links = grown;
	l = &ps->links[ps->nlinks++];
	memset(l, 0, sizeof(*l));
	snprintf(l->oin, sizeof(l->oin), "%s", to->oin);
	l->sock = s;
	l->state = LINK_BACKLOG;	/* until connected: the outbox may hold older ones */
	log_debug("peer %s: link to %s", to->oin, to->endpoint);
	return l;
}

int
peers_open(struct peers *ps, const struct party *to)
{
	if (link_find(ps, to->oin) == NULL && link_open(ps, to) == NULL)
		return KETEN_EIO;
	return 0;
}

static int link_connected(const struct link *l);

static void
buf_release(void *data, void *hint)
{
	struct buf *b = hint;

	(void)data;
	buf_destroy(&b);
}

/* Keep *owned for l's connection; 0 when kept (*owned is NULL then). */
static int
hold(struct link *l, struct buf **owned)
{
	size_t len = buf_len(*owned);
	struct buf **grown;

	if (l->nheld == PEER_HELD_MAX || l->held_bytes + len > PEER_HELD_BYTES) {
		log_debug("peer %s: %zu receipts wait for the link already; one more is left to "
		    "the sender's retry", l->oin, l->nheld);
		return KETEN_EAGAIN;
	}
	if ((l->nheld & (l->nheld - 1)) == 0 || l->nheld == 0) {	/* 0, 1, 2, 4, ... */
		if ((grown = realloc(l->held, (l->nheld ? 2 * l->nheld : 1) * sizeof(*grown))) ==
		    NULL)
			return KETEN_EAGAIN;
		l->held = grown;
	}
	l->held[l->nheld++] = *owned;
	l->held_bytes += len;
	*owned = NULL;
	return 0;
}

static void
held_free(struct link *l)
{
	for (size_t i = 0; i < l->nheld; i++)
		buf_destroy(&l->held[i]);
	free(l->held);
	l->held = NULL;
	l->nheld = l->held_bytes = 0;
}

/* Send type and then body on l: copied from (p, len), or, when owned is
 * not NULL, *owned handed to libzmq without a copy (taken only on
 * success).  Both frames or neither: with ZMQ_IMMEDIATE the first frame
 * fails with EAGAIN when no connection is up, and a multipart message is
 * queued atomically once its first frame is accepted.  0, KETEN_EAGAIN
 * (not connected, or full) or KETEN_EIO. */
static int
link_send(struct link *l, uint8_t type, const void *p, size_t len, struct buf **owned)
{
	zmq_msg_t m;
	int rc;

	if (zmq_send(l->sock, &type, 1, ZMQ_SNDMORE | ZMQ_DONTWAIT) != 1)
		return errno == EAGAIN ? KETEN_EAGAIN : KETEN_EIO;
	if (owned != NULL) {
		if (zmq_msg_init_data(&m, (void *)buf_ptr(*owned), buf_len(*owned), buf_release,
		    *owned) != 0)
			rc = -1;
		else {
			*owned = NULL;	/* libzmq's now, released by buf_release */
			if ((rc = zmq_msg_send(&m, l->sock, ZMQ_DONTWAIT)) < 0)
				zmq_msg_close(&m);
		}
	} else {
		rc = zmq_send(l->sock, p, len, ZMQ_DONTWAIT);
	}
	if (rc < 0) {
		/* cannot happen after the first frame went; say so if it does */
		log_error("peer %s: second frame not sent: %s", l->oin, zmq_strerror(errno));
		return KETEN_EIO;
	}
	l->last_sent = clock_now_ms();
	return 0;
}

int
peer_batch_next(const uint8_t *p, size_t len, size_t *off, uint8_t *type,
    const uint8_t **body, size_t *blen)
{
	size_t at = *off, n;

	if (at >= len)
		return 0;
	if (len - at < PEER_ITEM_HEAD)
		return KETEN_EPARSE;
	n = be32_load(p + at + 1);
	if ((p[at] != PEER_MSG_ENVELOPE && p[at] != PEER_MSG_RECEIPT) || n == 0 ||
	    n > len - at - PEER_ITEM_HEAD)
		return KETEN_EPARSE;
	*type = p[at];
	*body = p + at + PEER_ITEM_HEAD;
	*blen = n;
	*off = at + PEER_ITEM_HEAD + n;
	return 1;
}

int
peer_batch_check(const uint8_t *p, size_t len)
{
	const uint8_t *body;
	size_t off = 0, blen;
	uint8_t type;
	int r, n = 0;

	if (len > PEER_BATCH_MAX)
		return KETEN_EPARSE;
	while ((r = peer_batch_next(p, len, &off, &type, &body, &blen)) > 0)
		n++;
	return r < 0 || n == 0 ? KETEN_EPARSE : n;
}

/* The connection went before l's batch could: its envelopes stay in the
 * outbox for the backlog, its receipts are held. */
static void
batch_lost(struct link *l)
{
	const uint8_t *p, *body;
	size_t off = 0, blen;
	uint8_t type;

	l->nbatch = 0;
	if (l->batch == NULL) {
		/* libzmq took it and then failed to send it (link_send says
		 * so): its receipts are gone, the sender's retry asks again */
		l->state = LINK_BACKLOG;
		return;
	}
	p = buf_ptr(l->batch);
	while (peer_batch_next(p, buf_len(l->batch), &off, &type, &body, &blen) > 0) {
		struct buf *copy;

		if (type == PEER_MSG_ENVELOPE) {
			l->state = LINK_BACKLOG;
			continue;
		}
		if ((copy = buf_new(blen)) == NULL || buf_put(copy, body, blen) != 0 ||
		    hold(l, &copy) != 0)
			buf_destroy(&copy);	/* the sender's retry asks again */
	}
	buf_reset(l->batch);
}

/* Send l's batch: one item as a message of its own type, more as a
 * PEER_MSG_BATCH whose buffer libzmq takes.  0, or KETEN_EAGAIN / EIO
 * after batch_lost. */
static int
batch_flush(struct link *l)
{
	const uint8_t *p;
	int r;

	if (l->nbatch == 0)
		return 0;
	p = buf_ptr(l->batch);
	if (l->nbatch == 1)
		r = link_send(l, p[0], p + PEER_ITEM_HEAD, buf_len(l->batch) - PEER_ITEM_HEAD, NULL);
	else
		r = link_send(l, PEER_MSG_BATCH, NULL, 0, &l->batch);
	if (r != 0) {
		batch_lost(l);
		return r;
	}
	if (l->batch != NULL)
		buf_reset(l->batch);
	l->nbatch = 0;
	return 0;
}

/* Add an item to l's batch, sending the batch first when the item does
 * not fit.  0, KETEN_EAGAIN when the link has no connection, KETEN_EIO or
 * KETEN_ENOMEM. */
static int
batch_add(struct link *l, uint8_t type, const void *p, size_t len)
{
	size_t at;
	int r;

	if (l->nbatch == 0 && !link_connected(l))
		return KETEN_EAGAIN;
	if (l->nbatch > 0 && buf_len(l->batch) + PEER_ITEM_HEAD + len > PEER_BATCH_MAX &&
	    (r = batch_flush(l)) != 0)
		return r;
	if (l->batch == NULL && (l->batch = buf_new(PEER_BATCH_MAX)) == NULL)
		return KETEN_ENOMEM;
	at = buf_len(l->batch);
	if (buf_put_u8(l->batch, type) != 0 || buf_put_string(l->batch, p, len) != 0) {
		/* out of memory growing the buffer (the item fits, checked
		 * above): the items before it stay */
		buf_truncate(l->batch, at);
		return KETEN_ENOMEM;
	}
	l->nbatch++;
	return 0;
}

/* Send to `to`'s link, opened if need be, as the link's state allows
 * (peer.h, Order): into its batch, or, for a body too large for one, on
 * its own after the batch. */
static int
send_two(struct peers *ps, const struct party *to, uint8_t type, const void *p, size_t len,
    struct buf **owned, int from_backlog)
{
	struct link *l = link_find(ps, to->oin);
	int r;

	if (l == NULL && (l = link_open(ps, to)) == NULL)
		return KETEN_EIO;
	if (type == PEER_MSG_ENVELOPE && (l->state == LINK_BACKLOG ||
	    (l->state == LINK_DRAINING && !from_backlog)))
		return KETEN_EAGAIN;
	if (owned != NULL) {
		p = buf_ptr(*owned);
		len = buf_len(*owned);
	}
	if (len <= PEER_BATCH_MAX - PEER_ITEM_HEAD) {
		if ((r = batch_add(l, type, p, len)) == 0 && owned != NULL)
			buf_destroy(owned);	/* copied into the batch */
	} else if ((r = batch_flush(l)) == 0) {
		r = link_send(l, type, p, len, owned);
	}
	if (r != KETEN_EAGAIN)
		return r;
	/* not connected (or full: then the next look finds it connected and
	 * it drains again) */
	if (type == PEER_MSG_ENVELOPE)
		l->state = LINK_BACKLOG;
	/* A receipt waits for the connection here: the sender would
	 * otherwise wait out its retry time, which grows with every attempt
	 * it made while this node was away. */
	if (type == PEER_MSG_RECEIPT && owned != NULL && hold(l, owned) == 0)
		return 0;
	return KETEN_EAGAIN;
}

int
peers_send(struct peers *ps, const struct party *to, uint8_t type, const void *body, size_t len,
    int from_backlog)
{
	return send_two(ps, to, type, body, len, NULL, from_backlog);
}

int
peers_send_buf(struct peers *ps, const struct party *to, uint8_t type, struct buf **body)
{
	return send_two(ps, to, type, NULL, 0, body, 0);
}

void
peers_flush(struct peers *ps)
{
	for (size_t i = 0; i < ps->nlinks; i++) {
		struct link *l = &ps->links[i];

		if (l->nbatch > 0 && batch_flush(l) == KETEN_EIO)
			log_error("peer %s: batch not sent: %s", l->oin, zmq_strerror(errno));
	}
}

/* Send the held receipts, oldest first, as far as the link takes them
 * (copied: a rare path, and a copy is never lost to a failed send). */
static void
held_send(struct link *l)
{
	size_t i;

	for (i = 0; i < l->nheld; i++) {
		struct buf *b = l->held[i];

		if (link_send(l, PEER_MSG_RECEIPT, buf_ptr(b), buf_len(b), NULL) != 0)
			break;	/* the rest at the next look */
		l->held_bytes -= buf_len(b);
		buf_destroy(&l->held[i]);
	}
	if (i > 0)
		log_debug("peer %s: %zu held receipt(s) sent", l->oin, i);
	memmove(l->held, l->held + i, (l->nheld - i) * sizeof(*l->held));
	l->nheld -= i;
}

static int
link_connected(const struct link *l)
{
	int events = 0;
	size_t n = sizeof(events);

	if (zmq_getsockopt(l->sock, ZMQ_EVENTS, &events, &n) != 0)
		return 0;
	/* with ZMQ_IMMEDIATE, writable means a completed connection */
	return (events & ZMQ_POLLOUT) != 0;
}

int
peers_connected(struct peers *ps, const char *oin)
{
	struct link *l = link_find(ps, oin);

	return l != NULL && link_connected(l);
}

size_t
peers_ready(struct peers *ps, void (*fn)(void *arg, const char *oin), void *arg, int *waiting)
{
	size_t n = 0;

	*waiting = 0;
	for (size_t i = 0; i < ps->nlinks; i++) {
		struct link *l = &ps->links[i];

		if (!link_connected(l)) {
			l->state = LINK_BACKLOG;
			*waiting = 1;
			continue;
		}
		if (l->nheld > 0)
			held_send(l);
		if (l->state == LINK_BACKLOG) {
			l->state = LINK_DRAINING;
			fn(arg, l->oin);
			n++;
		}
	}
	return n;
}

void
peers_drained(struct peers *ps)
{
	for (size_t i = 0; i < ps->nlinks; i++)
		if (ps->links[i].state == LINK_DRAINING)
			ps->links[i].state = LINK_OPEN;
}

int
peers_open_now(struct peers *ps, const char *oin)
{
	struct link *l = link_find(ps, oin);

	return l != NULL && l->state == LINK_OPEN;
}

uint64_t
peers_last_sent(struct peers *ps, const char *oin)
{
	struct link *l = link_find(ps, oin);

	return l ? l->last_sent : 0;
}

void
peers_reset(struct peers *ps)
{
	/* what the links gathered goes first (within their linger) */
	peers_flush(ps);
	for (size_t i = 0; i < ps->nlinks; i++) {
		zmq_close(ps->links[i].sock);
		held_free(&ps->links[i]);
		buf_destroy(&ps->links[i].batch);
	}
	free(ps->links);
	ps->links = NULL;
	ps->nlinks = 0;
}

void
peers_destroy(struct peers **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	peers_reset(*pp);
	explicit_bzero((*pp)->sk, sizeof((*pp)->sk));
	free(*pp);
	*pp = NULL;
}
