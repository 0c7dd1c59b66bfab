/*
 * test_peer.c — outbound links with real ZeroMQ sockets over ipc://: a
 * receipt for a party whose node is not listening yet waits for the
 * connection and arrives, in order, once it is up; an envelope is refused
 * instead (it stays in the durable outbox); the held receipts are
 * bounded.
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

static void
test_receipts_wait(void)
{
	uint8_t cpk[32], csk[32], spk[32], ssk[32];
	struct peers_opts o = { .heartbeat_ms = 1000, .linger_ms = 0, .sndhwm = 100000,
	    .max_msg = 1 << 20 };
	struct party to;
	struct peers *ps = NULL;
	void *zctx = zmq_ctx_new(), *srv = NULL;
	unsigned sent = 0, got = 0, bad = 0, dropped = 0;
	int waiting = 0, as_server = 1;

	crypto_box_keypair(cpk, csk);
	crypto_box_keypair(spk, ssk);
	memset(&to, 0, sizeof(to));
	to.oin = "00000001999000050000";
	to.endpoint = endpoint;
	to.via = "";
	memcpy(to.curve_pk, spk, 32);
	CHECK(zctx != NULL);
	CHECK_EQ(peers_new(zctx, cpk, csk, &o, &ps), 0);
	if (zctx == NULL || ps == NULL)
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
	srv = zmq_socket(zctx, ZMQ_ROUTER);
	CHECK(srv != NULL);
	if (srv == NULL)
		goto out;
	CHECK_EQ(zmq_setsockopt(srv, ZMQ_CURVE_SERVER, &as_server, sizeof(as_server)), 0);
	CHECK_EQ(zmq_setsockopt(srv, ZMQ_CURVE_SECRETKEY, ssk, 32), 0);
	CHECK_EQ(zmq_bind(srv, endpoint), 0);
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

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "receipts wait for the link, in order and bounded", test_receipts_wait },
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
