/*
 * zap.c — ZAP handler admitting directory keys only (see zap.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "zap.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES 7	/* version, request id, domain, address, identity, mechanism, key */

struct zap {
	void *sock;
	zap_lookup_fn lookup;
	void *arg;
	uint64_t admitted, refused;
};

int
zap_new(void *zctx, zap_lookup_fn lookup, void *arg, struct zap **out)
{
	struct zap *z;
	int linger = 0;

	*out = NULL;
	if ((z = calloc(1, sizeof(*z))) == NULL)
		return KETEN_ENOMEM;
	z->lookup = lookup;
	z->arg = arg;
	if ((z->sock = zmq_socket(zctx, ZMQ_REP)) == NULL ||
	    zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_bind(z->sock, ZAP_ENDPOINT) != 0) {
		log_error("zap: cannot bind %s: %s", ZAP_ENDPOINT, zmq_strerror(errno));
		zap_destroy(&z);
		return KETEN_EIO;
	}
	*out = z;
	return 0;
}

void *
zap_socket(struct zap *z)
{
	return z->sock;
}

static int
frame_is(zmq_msg_t *m, const char *s)
{
	size_t n = strlen(s);

	return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

/* Send the reply; every frame but the last has SNDMORE.  An admitted
 * connection's CURVE key goes with it as the metadata property
 * ZAP_KEY_PROPERTY (hex): its frames carry it, and the node checks it
 * against the directory it has when each frame arrives (a key replaced
 * by a reload is not kept on a connection made before). */
static void
zap_reply(struct zap *z, zmq_msg_t *reqid, const char *status, const char *text,
    const char *user, const uint8_t *key)
{
	const char *parts[] = { "1.0", NULL, status, text, user };
	uint8_t meta[1 + sizeof(ZAP_KEY_PROPERTY) - 1 + 4 + 64];
	size_t mlen = 0, nlen = sizeof(ZAP_KEY_PROPERTY) - 1;

	if (key != NULL) {
		char hex[65];

		hex_encode(key, 32, hex);
		meta[0] = (uint8_t)nlen;
		memcpy(meta + 1, ZAP_KEY_PROPERTY, nlen);
		be32_store(meta + 1 + nlen, 64);
		memcpy(meta + 1 + nlen + 4, hex, 64);
		mlen = sizeof(meta);
	}
	for (int i = 0; i < 5; i++) {
		if (i == 1)
			zmq_send(z->sock, zmq_msg_data(reqid), zmq_msg_size(reqid), ZMQ_SNDMORE);
		else
			zmq_send(z->sock, parts[i], strlen(parts[i]), ZMQ_SNDMORE);
	}
	zmq_send(z->sock, meta, mlen, 0);
}

static void
zap_one(struct zap *z)
{
	zmq_msg_t f[ZAP_FRAMES];
	int n = 0, more = 1, ok = 0;
	const char *oin = NULL;

	/* Read the whole request, however many frames it has. */
	while (more) {
		zmq_msg_t extra, *m = n < ZAP_FRAMES ? &f[n] : &extra;

		zmq_msg_init(m);
		if (zmq_msg_recv(m, z->sock, 0) < 0) {
			zmq_msg_close(m);
			break;
		}
		more = zmq_msg_more(m);
		if (m == &extra)
			zmq_msg_close(m);
		n++;
	}
	if (n == ZAP_FRAMES && frame_is(&f[0], "1.0") &&
	    frame_is(&f[2], KETEN_ZAP_DOMAIN) && frame_is(&f[5], "CURVE") &&
	    zmq_msg_size(&f[6]) == 32) {
		oin = z->lookup(z->arg, zmq_msg_data(&f[6]));
		ok = oin != NULL;
	}
	if (n < 2) {
		/* cannot happen with libzmq's own requests; still, a REP
		 * socket must answer before it can read the next one */
		zmq_msg_t empty;

		zmq_msg_init(&empty);
		zap_reply(z, &empty, "500", "malformed request", "", NULL);
		zmq_msg_close(&empty);
		z->refused++;
	} else {
		if (ok) {
			z->admitted++;
			zap_reply(z, &f[1], "200", "OK", oin, zmq_msg_data(&f[6]));
		} else {
			char key[65] = "-", addr[64] = "-";

			z->refused++;
			if (n == ZAP_FRAMES && zmq_msg_size(&f[6]) == 32)
				hex_encode(zmq_msg_data(&f[6]), 32, key);
			if (n > 3)
				snprintf(addr, sizeof(addr), "%.*s", (int)zmq_msg_size(&f[3]),
				    (const char *)zmq_msg_data(&f[3]));
			log_warn("transport: refused connection from %s: CURVE key %.16s... "
			    "is not in the directory", addr, key);
			zap_reply(z, &f[1], "400", "not in the directory", "", NULL);
		}
	}
	for (int i = 0; i < n && i < ZAP_FRAMES; i++)
		zmq_msg_close(&f[i]);
}

int
zap_handle(struct zap *z)
{
	int events, handled = 0;
	size_t len = sizeof(events);

	while (zmq_getsockopt(z->sock, ZMQ_EVENTS, &events, &len) == 0 &&
	    (events & ZMQ_POLLIN)) {
		zap_one(z);
		handled++;
	}
	return handled;
}

uint64_t
zap_admitted(const struct zap *z)
{
	return z->admitted;
}

uint64_t
zap_refused(const struct zap *z)
{
	return z->refused;
}

void
zap_destroy(struct zap **zp)
{
	if (zp == NULL || *zp == NULL)
		return;
	if ((*zp)->sock != NULL)
		zmq_close((*zp)->sock);
	free(*zp);
	*zp = NULL;
}
