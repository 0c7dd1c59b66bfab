/*
 * test_peer.c — outbound links with real ZeroMQ sockets over ipc://: a
 * receipt for a party whose node is not listening yet waits for the
 * connection and arrives, in order, once it is up; an envelope is refused
 * instead (it stays in the durable outbox); the held receipts are
 * bounded.  What a connected link is given between two flushes goes as
 * one batch, in order; a batch whose connection went before the flush
 * leaves its envelopes to the outbox and holds its receipts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "buf.h"
#include "directory.h"
#include "err.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/keten-peer.XXXXXX";
static char endpoint[96];

static struct buf *
body_of(unsigned i)
{
	struct buf *b = buf_new(64);

	if (b != NULL && buf_put_u32(b, i) != 0)
		buf_destroy(&b);
	return b;
}

static void
nothing(void *arg, const char *oin)
{
	(void)arg;
	(void)oin;
}

/* Fresh keys: the party `to` (its node to listen at endpoint with *ssk)
 * and links from a node of our own in *ps.  0 or an error. */
static int
peer_setup(void *zctx, const char *oin, const struct peers_opts *o, struct party *to,
    uint8_t ssk[32], struct peers **ps)
{
	uint8_t cpk[32], csk[32];

	crypto_box_keypair(cpk, csk);
	memset(to, 0, sizeof(*to));
	to->oin = oin;
	to->endpoint = endpoint;
	to->via = "";
	crypto_box_keypair(to->curve_pk, ssk);
	return zctx == NULL ? KETEN_EIO : peers_new(zctx, cpk, csk, o, ps);
}

static void *server_open(void *zctx, const uint8_t ssk[32]);

static void
test_receipts_wait(void)
{
	uint8_t ssk[32];
	struct peers_opts o = { .heartbeat_ms = 1000, .linger_ms = 0, .sndhwm = 100000,
	    .max_msg = 1 << 20 };
	struct party to;
	struct peers *ps = NULL;
	void *zctx = zmq_ctx_new(), *srv = NULL;
	unsigned sent = 0, got = 0, bad = 0, dropped = 0;
	int waiting = 0;

	CHECK_EQ(peer_setup(zctx, "00000001999000050000", &o, &to, ssk, &ps), 0);
	if (ps == NULL)
		goto out;
	/* nobody listens: an envelope is refused and stays the caller's */
	{
		struct buf *b = body_of(0);

		CHECK_EQ(peers_send_buf(ps, &to, PEER_MSG_ENVELOPE, &b), KETEN_EAGAIN);
		CHECK(b != NULL);
		buf_destroy(&b);
	}
	/* ... and receipts wait, up to the bound */
	for (unsigned i = 0; i < PEER_HELD_MAX + 10; i++) {
		struct buf *b = body_of(i);
		int r = peers_send_buf(ps, &to, PEER_MSG_RECEIPT, &b);

		if (r == 0 && b == NULL)
			sent++;
		else if (r == KETEN_EAGAIN && b != NULL)
			dropped++;
		else
			bad++;
		buf_destroy(&b);
	}
	CHECK_EQ(sent, PEER_HELD_MAX);
	CHECK_EQ(dropped, 10);
	CHECK_EQ(bad, 0);
	(void)peers_ready(ps, nothing, NULL, &waiting);
	CHECK_EQ(waiting, 1);
	/* the node comes up */
	CHECK((srv = server_open(zctx, ssk)) != NULL);
	if (srv == NULL)
		goto out;
	for (int round = 0; round < 1000 && got < sent; round++) {
		zmq_pollitem_t it = { srv, 0, ZMQ_POLLIN, 0 };

		(void)peers_ready(ps, nothing, NULL, &waiting);
		if (zmq_poll(&it, 1, 10) <= 0)
			continue;
		for (;;) {
			uint8_t id[256], type = 0, body[64];
			int more = 0;
			size_t ml = sizeof(more);

			if (zmq_recv(srv, id, sizeof(id), ZMQ_DONTWAIT) < 0)
				break;
			if (zmq_recv(srv, &type, 1, 0) != 1 ||
			    zmq_recv(srv, body, sizeof(body), 0) != 4 ||
			    zmq_getsockopt(srv, ZMQ_RCVMORE, &more, &ml) != 0 || more ||
			    type != PEER_MSG_RECEIPT || be32_load(body) != got)
				bad++;
			got++;
		}
	}
	CHECK_EQ(got, sent);
	CHECK_EQ(bad, 0);
	/* connected, and nothing due any more: an envelope goes out now */
	for (int round = 0; round < 500; round++) {
		(void)peers_ready(ps, nothing, NULL, &waiting);
		if (!waiting)
			break;
		usleep(10000);
	}
	CHECK_EQ(waiting, 0);
	peers_drained(ps);
	{
		struct buf *b = body_of(7);

		CHECK_EQ(peers_send_buf(ps, &to, PEER_MSG_ENVELOPE, &b), 0);
		CHECK(b == NULL);
		buf_destroy(&b);
	}
out:
	peers_destroy(&ps);
	if (srv != NULL)
		zmq_close(srv);
	if (zctx != NULL)
		zmq_ctx_term(zctx);
}

/* A CurveZMQ ROUTER listening at endpoint with secret key ssk, or NULL. */
static void *
server_open(void *zctx, const uint8_t ssk[32])
{
	void *srv = zmq_socket(zctx, ZMQ_ROUTER);
	int as_server = 1;

	if (srv == NULL)
		return NULL;
	if (zmq_setsockopt(srv, ZMQ_CURVE_SERVER, &as_server, sizeof(as_server)) != 0 ||
	    zmq_setsockopt(srv, ZMQ_CURVE_SECRETKEY, ssk, 32) != 0 ||
	    zmq_bind(srv, endpoint) != 0) {
		zmq_close(srv);
		return NULL;
	}
	return srv;
}

/* Wait until the link to `to` is connected (want 1) or not (want 0). */
static int
link_wait(struct peers *ps, const struct party *to, int want)
{
	int waiting;

	for (int round = 0; round < 500; round++) {
		(void)peers_ready(ps, nothing, NULL, &waiting);
		if (peers_connected(ps, to->oin) == want)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* One message from srv within ms: its type byte and body (a new buf);
 * 0, or -1 when none came or it was not routing id, type, body. */
static int
server_recv(void *srv, long ms, uint8_t *type, struct buf **body)
{
	zmq_pollitem_t it = { srv, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t m;
	uint8_t id[256];
	int more = 0, r = -1;
	size_t ml = sizeof(more);

	*body = NULL;
	if (zmq_poll(&it, 1, ms) <= 0 || zmq_recv(srv, id, sizeof(id), 0) < 0 ||
	    zmq_recv(srv, type, 1, 0) != 1)
		return -1;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, srv, 0) >= 0 && zmq_getsockopt(srv, ZMQ_RCVMORE, &more, &ml) == 0 &&
	    !more && (*body = buf_new(zmq_msg_size(&m))) != NULL &&
	    buf_put(*body, zmq_msg_data(&m), zmq_msg_size(&m)) == 0)
		r = 0;
	zmq_msg_close(&m);
	if (r != 0)
		buf_destroy(body);
	return r;
}

static void
test_batches(void)
{
	uint8_t ssk[32], type = 0;
	struct peers_opts o = { .heartbeat_ms = 100, .linger_ms = 0, .sndhwm = 256,
	    .max_msg = 1 << 20 };
	struct party to;
	struct peers *ps = NULL;
	struct buf *b = NULL, *big = NULL;
	void *zctx = zmq_ctx_new(), *srv = NULL;
	const uint8_t *item;
	size_t off = 0, len;
	uint8_t t;
	unsigned k = 0, bad = 0, held = 0;
	int waiting = 0;

	CHECK_EQ(peer_setup(zctx, "00000001999000060000", &o, &to, ssk, &ps), 0);
	CHECK((srv = ps != NULL ? server_open(zctx, ssk) : NULL) != NULL);
	if (ps == NULL || srv == NULL)
		goto out;
	CHECK_EQ(peers_open(ps, &to), 0);
	CHECK(link_wait(ps, &to, 1));
	peers_drained(ps);
	CHECK(peers_open_now(ps, to.oin));

	/* envelopes and receipts between two flushes: one batch, in order */
	for (unsigned i = 0; i < 40; i++) {
		b = body_of(i);
		CHECK_EQ(peers_send_buf(ps, &to, i % 4 == 3 ? PEER_MSG_RECEIPT : PEER_MSG_ENVELOPE,
		    &b), 0);
		CHECK(b == NULL);
		buf_destroy(&b);
	}
	peers_flush(ps);
	CHECK_EQ(server_recv(srv, 2000, &type, &b), 0);
	CHECK_EQ(type, PEER_MSG_BATCH);
	CHECK_EQ(b != NULL ? peer_batch_check(buf_ptr(b), buf_len(b)) : -1, 40);
	while (b != NULL && peer_batch_next(buf_ptr(b), buf_len(b), &off, &t, &item, &len) > 0) {
		if (len != 4 || be32_load(item) != k ||
		    t != (k % 4 == 3 ? PEER_MSG_RECEIPT : PEER_MSG_ENVELOPE))
			bad++;
		k++;
	}
	CHECK_EQ(k, 40);
	CHECK_EQ(bad, 0);
	buf_destroy(&b);

	/* one item goes as a message of its own type */
	b = body_of(41);
	CHECK_EQ(peers_send(ps, &to, PEER_MSG_RECEIPT, buf_ptr(b), buf_len(b), 0), 0);
	buf_destroy(&b);
	peers_flush(ps);
	CHECK_EQ(server_recv(srv, 2000, &type, &b), 0);
	CHECK_EQ(type, PEER_MSG_RECEIPT);
	CHECK(b != NULL && buf_len(b) == 4 && be32_load(buf_ptr(b)) == 41);
	buf_destroy(&b);

	/* the batch is full: it goes, and the next one starts; a body too
	 * large for a batch goes on its own, after the batch before it */
	for (unsigned i = 0; i < 3; i++) {
		b = buf_new(PEER_BATCH_MAX);
		CHECK(b != NULL && buf_put_u32(b, 100 + i) == 0);
		while (b != NULL && buf_len(b) < PEER_BATCH_MAX / 2 - PEER_ITEM_HEAD)
			(void)buf_put_u8(b, (uint8_t)i);
		CHECK_EQ(peers_send_buf(ps, &to, PEER_MSG_ENVELOPE, &b), 0);
		buf_destroy(&b);
	}
	big = buf_new(PEER_BATCH_MAX);
	CHECK(big != NULL && buf_put_u32(big, 200) == 0);
	while (big != NULL && buf_len(big) < PEER_BATCH_MAX - PEER_ITEM_HEAD + 1)
		(void)buf_put_u8(big, 0x5a);
	CHECK_EQ(peers_send_buf(ps, &to, PEER_MSG_ENVELOPE, &big), 0);
	CHECK(big == NULL);
	peers_flush(ps);
	{
		static const uint8_t want_type[3] = { PEER_MSG_BATCH, PEER_MSG_ENVELOPE,
			PEER_MSG_ENVELOPE };
		static const unsigned want_first[3] = { 100, 102, 200 };

		for (int i = 0; i < 3; i++) {
			CHECK_EQ(server_recv(srv, 2000, &type, &b), 0);
			CHECK_EQ(type, want_type[i]);
			off = 0;
			if (b != NULL && type == PEER_MSG_BATCH) {
				CHECK_EQ(peer_batch_check(buf_ptr(b), buf_len(b)), 2);
				CHECK_EQ(peer_batch_next(buf_ptr(b), buf_len(b), &off, &t, &item, &len), 1);
				CHECK_EQ(be32_load(item), want_first[i]);
			} else if (b != NULL) {
				CHECK_EQ(be32_load(buf_ptr(b)), want_first[i]);
			}
			buf_destroy(&b);
		}
	}

	/* the connection goes before the flush: the envelope is left to
	 * the outbox (the link backlogged), the receipts are held and go
	 * once it is back */
	b = body_of(300);
	CHECK_EQ(peers_send_buf(ps, &to, PEER_MSG_ENVELOPE, &b), 0);
	buf_destroy(&b);
	for (unsigned i = 0; i < 3; i++) {
		b = body_of(301 + i);
		CHECK_EQ(peers_send_buf(ps, &to, PEER_MSG_RECEIPT, &b), 0);
		buf_destroy(&b);
	}
	zmq_close(srv);
	srv = NULL;
	CHECK(link_wait(ps, &to, 0));
	peers_flush(ps);
	CHECK(!peers_open_now(ps, to.oin));
	CHECK((srv = server_open(zctx, ssk)) != NULL);
	if (srv == NULL)
		goto out;
	for (int round = 0; round < 500 && held < 3; round++) {
		(void)peers_ready(ps, nothing, NULL, &waiting);
		if (server_recv(srv, 10, &type, &b) == 0) {
			if (type != PEER_MSG_RECEIPT || buf_len(b) != 4 ||
			    be32_load(buf_ptr(b)) != 301 + held)
				bad++;
			held++;
		}
		buf_destroy(&b);
	}
	CHECK_EQ(held, 3);
	CHECK_EQ(bad, 0);
	CHECK_EQ(server_recv(srv, 200, &type, &b), -1);	/* and not the envelope */
	buf_destroy(&b);
out:
	buf_destroy(&big);
	peers_destroy(&ps);
	if (srv != NULL)
		zmq_close(srv);
	if (zctx != NULL)
		zmq_ctx_term(zctx);
}

/* Batch bodies a peer may send, good and bad. */
static void
test_batch_bodies(void)
{
	static const struct {
		const char *what;
		const char *p;
		size_t len;
		int n;
	} cases[] = {
		{ "two items", "\x01\0\0\0\x03" "abc\x02\0\0\0\x02xy", 15, 2 },
		{ "one item", "\x02\0\0\0\x01z", 6, 1 },
		{ "nothing", "", 0, KETEN_EPARSE },
		{ "an empty item", "\x01\0\0\0\0", 5, KETEN_EPARSE },
		{ "a batch in a batch", "\x03\0\0\0\x01z", 6, KETEN_EPARSE },
		{ "an unknown type", "\x07\0\0\0\x01z", 6, KETEN_EPARSE },
		{ "a length past the end", "\x01\0\0\0\x04" "abc", 8, KETEN_EPARSE },
		{ "a cut header", "\x01\0\0\0\x01z\x02\0\0", 9, KETEN_EPARSE },
		{ "a huge length", "\x01\xff\xff\xff\xffz", 6, KETEN_EPARSE },
	};
	struct buf *b = buf_new(PEER_BATCH_MAX + 64);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = peer_batch_check((const uint8_t *)cases[i].p, cases[i].len);

		if (n != cases[i].n)
			printf("# %s: %d, not %d\n", cases[i].what, n, cases[i].n);
		CHECK_EQ(n, cases[i].n);
	}
	/* items fill PEER_BATCH_MAX exactly; one byte more is not a batch */
	CHECK(b != NULL);
	while (b != NULL && buf_len(b) + PEER_ITEM_HEAD + 1000 <= PEER_BATCH_MAX) {
		uint8_t body[1000] = { 0 };

		(void)buf_put_u8(b, PEER_MSG_ENVELOPE);
		(void)buf_put_string(b, body, sizeof(body));
	}
	if (b != NULL) {
		size_t rest = PEER_BATCH_MAX - buf_len(b) - PEER_ITEM_HEAD;
		uint8_t body[1000] = { 0 };
		int n;

		(void)buf_put_u8(b, PEER_MSG_RECEIPT);
		(void)buf_put_string(b, body, rest);
		CHECK_EQ(buf_len(b), PEER_BATCH_MAX);
		n = peer_batch_check(buf_ptr(b), buf_len(b));
		CHECK(n > 1);
		buf_truncate(b, buf_len(b) - rest - PEER_ITEM_HEAD);
		(void)buf_put_u8(b, PEER_MSG_RECEIPT);
		(void)buf_put_string(b, body, rest + 1);
		CHECK_EQ(peer_batch_check(buf_ptr(b), buf_len(b)), KETEN_EPARSE);
	}
	buf_destroy(&b);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "receipts wait for the link, in order and bounded", test_receipts_wait },
		{ "what a link is given between flushes goes as one batch", test_batches },
		{ "batch bodies: the items, or not a batch", test_batch_bodies },
		{ NULL, NULL },
	};
	char sock[80];
	int r;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL) {
		perror("setup");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/peer.sock", dir);
	snprintf(endpoint, sizeof(endpoint), "ipc://%s", sock);
	r = tap_run(tests);
	unlink(sock);
	rmdir(dir);
	return r;
}
