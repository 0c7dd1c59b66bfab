/*
 * rogue_peer.c — a peer that misbehaves, for the integration tests: it
 * connects to a node's listening socket over CurveZMQ with a key of its
 * choosing (a party's, or a fresh one nobody knows) and sends what it is
 * told to, also what no node would send.
 *
 *	rogue_peer --endpoint tcp://127.0.0.1:PORT --server-pub curve.pub
 *	    (--key curve.key | --random-key)
 *	    [--type N] (--file F | --garbage N | --size N) [--count N]
 *	    [--frames N] [--wait MS]
 *
 * Prints what happened ("handshake refused", "sent N", "disconnected") and
 * exits 0 when the handshake succeeded and everything was sent, 3 when the
 * server refused the handshake, 4 when it did not answer within --wait,
 * 2 on a usage error and 1 on any other error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "buf.h"
#include "err.h"
#include "keys.h"
#include "util.h"

#define MONITOR "inproc://rogue-monitor"

struct opts {
	const char *endpoint, *server_pub, *key, *file;
	int random_key;
	long type, garbage, size, count, frames, wait_ms;
};

static int
usage(void)
{
	fprintf(stderr, "usage: rogue_peer --endpoint E --server-pub PEM (--key PEM | --random-key)\n"
	    "       [--type N] (--file F | --garbage N | --size N) [--count N] [--frames N]"
	    " [--wait MS]\n");
	return 2;
}

static int
parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->type = 1;
	o->count = 1;
	o->frames = 2;
	o->wait_ms = 3000;
	o->garbage = o->size = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		long *num = NULL;

		if (strcmp(a, "--random-key") == 0) {
			o->random_key = 1;
			continue;
		}
		if (v == NULL)
			return -1;
		if (strcmp(a, "--endpoint") == 0)
			o->endpoint = v;
		else if (strcmp(a, "--server-pub") == 0)
			o->server_pub = v;
		else if (strcmp(a, "--key") == 0)
			o->key = v;
		else if (strcmp(a, "--file") == 0)
			o->file = v;
		else if (strcmp(a, "--type") == 0)
			num = &o->type;
		else if (strcmp(a, "--garbage") == 0)
			num = &o->garbage;
		else if (strcmp(a, "--size") == 0)
			num = &o->size;
		else if (strcmp(a, "--count") == 0)
			num = &o->count;
		else if (strcmp(a, "--frames") == 0)
			num = &o->frames;
		else if (strcmp(a, "--wait") == 0)
			num = &o->wait_ms;
		else
			return -1;
		if (num != NULL) {
			char *end;

			errno = 0;
			*num = strtol(v, &end, 10);
			if (errno != 0 || *end != '\0' || *num < 0)
				return -1;
		}
		i++;
	}
	if (o->endpoint == NULL || o->server_pub == NULL || (o->key == NULL) == !o->random_key ||
	    (o->file != NULL) + (o->garbage >= 0) + (o->size >= 0) != 1 || o->type > 255 ||
	    o->frames < 1 || o->frames > 16 || o->count < 1)
		return -1;
	return 0;
}

/* The body to send, per --file, --garbage or --size. */
static struct buf *
body_make(const struct opts *o)
{
	struct buf *b = NULL;

	if (o->file != NULL) {
		if (buf_load_file(o->file, 1u << 30, &b) != 0)
			fprintf(stderr, "rogue_peer: cannot read %s\n", o->file);
		return b;
	}
	size_t n = o->garbage >= 0 ? (size_t)o->garbage : (size_t)o->size;
	uint8_t *p;

	if ((b = buf_new(n)) == NULL || buf_reserve(b, n, &p) != 0) {
		buf_destroy(&b);
		return NULL;
	}
	if (o->garbage >= 0)
		randombytes_buf(p, n);
	else
		memset(p, 0, n);
	return b;
}

/* Next handshake event from the monitor, or 0 after wait_ms. */
static int
monitor_event(void *mon, int wait_ms, uint32_t *value)
{
	zmq_pollitem_t pi = { mon, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t m;
	uint16_t ev;

	if (zmq_poll(&pi, 1, wait_ms) <= 0)
		return 0;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, mon, 0) < 0 || zmq_msg_size(&m) != 6) {
		zmq_msg_close(&m);
		return -1;
	}
	memcpy(&ev, zmq_msg_data(&m), 2);
	memcpy(value, (uint8_t *)zmq_msg_data(&m) + 2, 4);
	zmq_msg_close(&m);
	/* the second frame is the endpoint */
	zmq_msg_init(&m);
	(void)zmq_msg_recv(&m, mon, 0);
	zmq_msg_close(&m);
	return ev;
}

static int
send_all(void *s, const struct opts *o, const struct buf *body)
{
	uint8_t type = (uint8_t)o->type;

	for (long i = 0; i < o->count; i++) {
		/* --frames 1: the type alone; 2: type and body; more: extra
		 * copies of the body. */
		if (zmq_send(s, &type, 1, o->frames > 1 ? ZMQ_SNDMORE : 0) != 1)
			return -1;
		for (long f = 1; f < o->frames; f++)
			if (zmq_send(s, buf_ptr(body), buf_len(body),
			    f + 1 < o->frames ? ZMQ_SNDMORE : 0) < 0)
				return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct keys *k = NULL;
	struct buf *body = NULL;
	uint8_t server_pk[32], pk[32], sk[32];
	void *ctx = NULL, *s = NULL, *mon = NULL;
	int ev, rc = 1, zero = 0;
	uint32_t value = 0;

	if (parse(argc, argv, &o) != 0)
		return usage();
	if (sodium_init() < 0)
		return 1;
	if (keys_load_public(o.server_pub, server_pk) != 0) {
		fprintf(stderr, "rogue_peer: %s: not a public key\n", o.server_pub);
		return 1;
	}
	if (o.random_key) {
		crypto_box_keypair(pk, sk);
	} else {
		if (keys_load(NULL, NULL, o.key, &k, NULL) != 0) {
			fprintf(stderr, "rogue_peer: %s: cannot load the key\n", o.key);
			return 1;
		}
		memcpy(pk, k->curve_pk, 32);
		memcpy(sk, k->curve_sk, 32);
	}
	if ((body = body_make(&o)) == NULL)
		goto out;
	if ((ctx = zmq_ctx_new()) == NULL || (s = zmq_socket(ctx, ZMQ_DEALER)) == NULL ||
	    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pk, 32) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pk, 32) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sk, 32) != 0 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &(int){ (int)o.wait_ms }, sizeof(int)) != 0 ||
	    zmq_setsockopt(s, ZMQ_IPV6, &(int){ 1 }, sizeof(int)) != 0 ||
	    zmq_socket_monitor(s, MONITOR, ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
	    ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
	    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_DISCONNECTED) != 0 ||
	    (mon = zmq_socket(ctx, ZMQ_PAIR)) == NULL || zmq_connect(mon, MONITOR) != 0 ||
	    zmq_connect(s, o.endpoint) != 0) {
		fprintf(stderr, "rogue_peer: %s\n", zmq_strerror(errno));
		goto out;
	}
	ev = monitor_event(mon, (int)o.wait_ms, &value);
	if (ev == 0) {
		printf("no answer\n");
		rc = 4;
		goto out;
	}
	if (ev != ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
		printf("handshake refused (event 0x%x, status %u)\n", (unsigned)ev, value);
		rc = 3;
		goto out;
	}
	printf("handshake ok\n");
	if (send_all(s, &o, body) != 0) {
		fprintf(stderr, "rogue_peer: send: %s\n", zmq_strerror(errno));
		goto out;
	}
	printf("sent %ld\n", o.count);
	/* Give the frames time to leave, and see whether the node hangs up. */
	if (monitor_event(mon, (int)o.wait_ms / 2, &value) == ZMQ_EVENT_DISCONNECTED)
		printf("disconnected\n");
	rc = 0;
out:
	fflush(stdout);
	if (mon != NULL)
		zmq_close(mon);
	if (s != NULL) {
		zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
		zmq_close(s);
	}
	if (ctx != NULL)
		zmq_ctx_term(ctx);
	buf_destroy(&body);
	keys_destroy(&k);
	sodium_memzero(sk, sizeof(sk));
	return rc;
}
