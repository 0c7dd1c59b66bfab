/*
 * test_client.c — the client library's transport (client/keten.h): a
 * request is never queued for a node that is down, a request given up on
 * never reaches the node later, and no number of calls to a node that is
 * down blocks.  The node's side is a ZeroMQ ROUTER socket bound where the
 * node's local socket would be, which sees exactly the frames a node
 * would.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "err.h"
#include "keten.h"
#include "tap.h"

static char dir[] = "/tmp/keten-client-XXXXXX";
static char endpoint[96];

/* The requests waiting at the ROUTER within ms: their request_ids into
 * ids (up to max); returns how many. */
static int
requests(void *srv, int ms, uint64_t *ids, int max, zmq_msg_t *route)
{
	int n = 0;

	for (;;) {
		zmq_pollitem_t it = { srv, 0, ZMQ_POLLIN, 0 };
		zmq_msg_t from, body;
		Keten__V1__LocalRequest *rq;

		if (zmq_poll(&it, 1, ms) <= 0)
			return n;
		zmq_msg_init(&from);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&from, srv, 0) < 0 || zmq_msg_recv(&body, srv, 0) < 0) {
			zmq_msg_close(&from);
			zmq_msg_close(&body);
			return n;
		}
		rq = keten__v1__local_request__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
		if (rq != NULL && n < max)
			ids[n] = rq->request_id;
		n++;
		if (route != NULL) {
			zmq_msg_close(route);
			zmq_msg_init(route);
			zmq_msg_copy(route, &from);
		}
		keten__v1__local_request__free_unpacked(rq, NULL);
		zmq_msg_close(&from);
		zmq_msg_close(&body);
		ms = 100;
	}
}

/* Answer request id on route with a submit result. */
static void
answer(void *srv, zmq_msg_t *route, uint64_t id)
{
	Keten__V1__LocalResponse rs = KETEN__V1__LOCAL_RESPONSE__INIT;
	Keten__V1__SubmitResponse sr = KETEN__V1__SUBMIT_RESPONSE__INIT;
	uint8_t msg_id[16], buf[256];
	size_t n;

	memset(msg_id, 0x42, sizeof(msg_id));
	sr.msg_id.data = msg_id;
	sr.msg_id.len = sizeof(msg_id);
	rs.request_id = id;
	rs.result_case = KETEN__V1__LOCAL_RESPONSE__RESULT_SUBMIT;
	rs.submit = &sr;
	n = keten__v1__local_response__pack(&rs, buf);
	zmq_send(srv, zmq_msg_data(route), zmq_msg_size(route), ZMQ_SNDMORE);
	zmq_send(srv, buf, n, 0);
}

static int
submit(struct keten_client *c, uint8_t id[16])
{
	static const char *rcpt[] = { "00000001999000050000" };
	struct keten_submit s = { .kind = 1, .recipients = rcpt, .nrecipients = 1,
	    .case_ref = "C-1", .purpose = "lvv-intake", .payload = (const uint8_t *)"", .len = 0 };

	return keten_submit(c, &s, id);
}

/* The node's side in a thread: answers every request for up to 2 s. */
struct server {
	void *srv;
	uint64_t ids[8];
	int n;
};

static void *
serve(void *arg)
{
	struct server *sv = arg;
	zmq_msg_t route;

	zmq_msg_init(&route);
	for (int round = 0; round < 20 && sv->n == 0; round++) {
		int k = requests(sv->srv, 100, sv->ids + sv->n, 8 - sv->n, &route);

		for (int i = sv->n; i < sv->n + k && i < 8; i++)
			answer(sv->srv, &route, sv->ids[i]);
		sv->n += k;
	}
	zmq_msg_close(&route);
	return NULL;
}

static void
test_node_down(void)
{
	struct keten_client *c = NULL;
	void *ctx = zmq_ctx_new(), *srv = NULL;
	struct server sv;
	pthread_t th;
	uint64_t ids[8];
	uint8_t id[16], want[16];
	zmq_msg_t route;
	int zero = 0, n;

	zmq_msg_init(&route);
	CHECK_EQ(keten_client_open(endpoint, 200, &c), 0);
	if (c == NULL || ctx == NULL)
		goto out;
	/* the node is down: not sent, and said so */
	for (int i = 0; i < 5; i++)
		CHECK_EQ(submit(c, id), KETEN_EAGAIN);
	CHECK(strstr(keten_client_error(c), "not sent") != NULL);

	/* it comes up: the next call is the only request it sees */
	srv = zmq_socket(ctx, ZMQ_ROUTER);
	zmq_setsockopt(srv, ZMQ_LINGER, &zero, sizeof(zero));
	CHECK_EQ(zmq_bind(srv, endpoint), 0);
	CHECK_EQ(submit(c, id), KETEN_EAGAIN);	/* sent, not answered */
	CHECK(strstr(keten_client_error(c), "not known") != NULL);
	n = requests(srv, 1000, ids, 8, &route);
	CHECK_EQ(n, 1);
	CHECK_EQ(ids[0], 6);	/* the sixth call; none of the five before */
	/* its late answer goes nowhere: the client dropped that connection */
	answer(srv, &route, ids[0]);

	/* the next call: sent once, answered */
	memset(&sv, 0, sizeof(sv));
	sv.srv = srv;
	CHECK_EQ(pthread_create(&th, NULL, serve, &sv), 0);
	CHECK_EQ(submit(c, id), 0);
	pthread_join(th, NULL);
	memset(want, 0x42, sizeof(want));
	CHECK(memcmp(id, want, 16) == 0);
	CHECK_EQ(sv.n, 1);
	CHECK_EQ(sv.ids[0], 7);
out:
	keten_client_close(&c);
	zmq_msg_close(&route);
	if (srv != NULL)
		zmq_close(srv);
	if (ctx != NULL)
		zmq_ctx_term(ctx);
}

/* A node down for longer than ZeroMQ's queue (1000 messages): no call
 * blocks past its time-out. */
static void
test_never_blocks(void)
{
	struct keten_client *c = NULL;
	char ep[128];
	uint8_t id[16];
	int eagain = 0;

	snprintf(ep, sizeof(ep), "ipc://%s/nobody.sock", dir);
	CHECK_EQ(keten_client_open(ep, 1, &c), 0);
	if (c == NULL)
		return;
	alarm(60);	/* a call that blocks ends the test here */
	for (int i = 0; i < 1100; i++)
		eagain += submit(c, id) == KETEN_EAGAIN;
	alarm(0);
	CHECK_EQ(eagain, 1100);
	keten_client_close(&c);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "a node that is down: nothing queued, nothing sent later", test_node_down },
		{ "1100 calls to a node that is down: none blocks", test_never_blocks },
		{ NULL, NULL },
	};
	int r;

	if (mkdtemp(dir) == NULL) {
		perror("setup");
		return 1;
	}
	snprintf(endpoint, sizeof(endpoint), "ipc://%s/case.sock", dir);
	r = tap_run(tests);
	unlink(endpoint + 6);
	rmdir(dir);
	return r;
}
