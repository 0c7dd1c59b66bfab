/*
 * peer.h — outbound links to other nodes.
 *
 * One DEALER socket per next-hop party, a CurveZMQ client that knows the
 * party's transport key from the directory, so the party is authenticated
 * by the handshake.  Links use ZMQ_IMMEDIATE: a send succeeds only into a
 * completed connection, so a message is never parked in a queue of a peer
 * that is down; it stays in the durable outbox and is retried.  Nothing is
 * ever read from these sockets: receipts come back as messages of their
 * own to this node's listening socket.
 *
 * The node-to-node message is two frames: one byte of type (PEER_MSG_*)
 * and the body (an Envelope or a SignedReceipt, or a batch of them).
 *
 * Batches: what is sent to one link between two peers_flush() calls goes
 * as one message of type PEER_MSG_BATCH, whose body is the items one
 * after another, each one byte of type (ENVELOPE or RECEIPT), four bytes
 * of length (big-endian) and the body, PEER_BATCH_MAX bytes at most in
 * all; a single item goes as a message of its own type, and so does a
 * body too large for a batch (after the batch waiting before it, to keep
 * the order).  Libzmq then encrypts, frames and wakes its I/O thread once
 * per batch instead of once per message.  A link takes items only while
 * it has a connection; if the connection is gone by the flush, the
 * batch's envelopes are left to the outbox (the link is backlogged) and
 * its receipts are held as below.
 *
 * Order: envelopes to one peer leave in the order of its sequence
 * numbers.  A link starts, and goes back to, LINK_BACKLOG when it is not
 * connected; then envelope sends to it are refused (KETEN_EAGAIN) so that
 * nothing overtakes the durable backlog.  Once it is connected again,
 * peers_ready() moves it to LINK_DRAINING and hands it to the node, which
 * makes its whole backlog due at once; the due list is read in sequence
 * order and sent with from_backlog set, while new envelopes still wait
 * their turn behind it.  When nothing is due any more, peers_drained()
 * opens the links (LINK_OPEN): new envelopes go out at once.
 *
 * Receipts are not in the outbox: one that finds its link not connected
 * (typically the first ones a node sends after it starts, while its link
 * back to the sender is still connecting) is held by the link, up to 4096
 * of them or 4 MiB, and sent by peers_ready() once the link is connected.
 * Without that the sender would wait out its retry time, which grows with
 * every attempt it made while this node was away.
 */
#ifndef KETEN_PEER_H
#define KETEN_PEER_H

#include <stddef.h>
#include <stdint.h>

struct party;
struct peers;

enum link_state { LINK_BACKLOG, LINK_DRAINING, LINK_OPEN };

#define PEER_MSG_ENVELOPE 0x01
#define PEER_MSG_RECEIPT 0x02
#define PEER_MSG_BATCH 0x03

/* A batch's body, at most; every node accepts frames this large
 * (max_message_size is at least this). */
#define PEER_BATCH_MAX 65536
/* Type and length before each item's body. */
#define PEER_ITEM_HEAD 5

/* Receipts a link holds until it is connected, at most (see above). */
#define PEER_HELD_MAX 4096
#define PEER_HELD_BYTES (4u << 20)

struct peers_opts {
	int heartbeat_ms;	/* ZMQ_HEARTBEAT_IVL; timeout and TTL are 3x */
	int linger_ms;		/* ZMQ_LINGER: bounded wait at shutdown */
	int sndhwm;		/* messages a link may hold in flight */
	int64_t max_msg;	/* largest frame accepted (ZMQ_MAXMSGSIZE) */
};

/* my_curve_pk/sk: this node's transport key pair (secret copied by
 * libzmq).  Caller owns *out (peers_destroy). */
int peers_new(void *zctx, const uint8_t *my_curve_pk, const uint8_t *my_curve_sk,
    const struct peers_opts *o, struct peers **out);

/* Send type+body to the node of party `to` (its endpoint and curve key).
 * Does not block.  0, KETEN_EAGAIN when the link is not connected or full
 * (try again later), KETEN_EIO on a socket error. */
int peers_send(struct peers *ps, const struct party *to, uint8_t type,
    const void *body, size_t len, int from_backlog);

/* The same for a new envelope or receipt (never from the backlog) whose
 * buffer the link takes: copied into its batch and freed, or, for a body
 * too large for a batch, handed to libzmq without a copy.  *body is NULL
 * after a send, and after a receipt was held for the link's connection
 * (0 as well). */
struct buf;
int peers_send_buf(struct peers *ps, const struct party *to, uint8_t type, struct buf **body);

/* Send what the links gathered since the last flush (see Batches). */
void peers_flush(struct peers *ps);

/* The items of a batch body (p, len): the next one from *off on, its type
 * and body (pointing into p); 1 and *off past it, 0 at the end, or
 * KETEN_EPARSE when what follows *off is not an item. */
int peer_batch_next(const uint8_t *p, size_t len, size_t *off, uint8_t *type,
    const uint8_t **body, size_t *blen);
/* How many items a whole batch body holds (at least one), or
 * KETEN_EPARSE when it is not one. */
int peer_batch_check(const uint8_t *p, size_t len);

/* Open the link to `to` now (it connects in the background), so that the
 * first message finds a connection.  0 or KETEN_EIO. */
int peers_open(struct peers *ps, const struct party *to);

/* Look at every link: one that is not connected becomes backlogged; one
 * that is connected sends the receipts it holds; one that is backlogged
 * and connected again starts draining and is passed to fn.
 * Returns how many were passed to fn.  *waiting is set to 1 when a link is
 * still backlogged (the caller looks again soon). */
size_t peers_ready(struct peers *ps, void (*fn)(void *arg, const char *oin), void *arg,
    int *waiting);
/* Every draining link is open (nothing is due any more). */
void peers_drained(struct peers *ps);
/* 1 if a new envelope to oin may go out at once (LINK_OPEN). */
int peers_open_now(struct peers *ps, const char *oin);

/* 1 if the link to oin has a completed connection now. */
int peers_connected(struct peers *ps, const char *oin);
/* Last time (ms) a send to oin succeeded; 0 when never. */
uint64_t peers_last_sent(struct peers *ps, const char *oin);

/* Close every link (after a directory reload: endpoints or keys may have
 * changed; links are made again on the next send). */
void peers_reset(struct peers *ps);

void peers_destroy(struct peers **pp);

#endif
