/*
 * zap.h — the ZAP handler (ZeroMQ RFC 27) that admits only CurveZMQ keys
 * of parties in the signed directory.
 *
 * libzmq admits every CURVE client when no ZAP handler is bound (and the
 * libzmq of Debian 12 has no ZMQ_ZAP_ENFORCE_DOMAIN), so keten fails
 * closed in two places: the handler is bound on the context before any
 * CURVE server socket exists, and every inbound frame must carry the
 * User-Id this handler assigned (the party's OIN) or it is dropped
 * (inbound_one() in node code).  The handler also hands the connection's
 * CURVE key to its frames (ZAP_KEY_PROPERTY), so that a frame on a
 * connection whose key the directory no longer holds for that party (a
 * reload replaced it) is dropped too.  The handler runs in the node's
 * own poll loop; it answers each request at once.
 */
#ifndef KETEN_ZAP_H
#define KETEN_ZAP_H

#include <stdint.h>

/* The ZAP domain keten's CURVE server sockets use. */
#define KETEN_ZAP_DOMAIN "keten"

/* The metadata property of an admitted connection's frames that holds
 * its CURVE public key, 64 hex digits (zmq_msg_gets()). */
#define ZAP_KEY_PROPERTY "X-Keten-Curve-Key"

/* Map a client's CURVE public key to its OIN, or NULL to refuse. */
typedef const char *(*zap_lookup_fn)(void *arg, const uint8_t key[32]);

struct zap;

/* Bind the ZAP endpoint on zctx.  Caller owns *out (zap_destroy), which
 * must outlive every CURVE server socket of the context.
 * Errors: KETEN_EIO (bind failed: another handler exists), KETEN_ENOMEM. */
int zap_new(void *zctx, zap_lookup_fn lookup, void *arg, struct zap **out);

/* The REP socket, for zmq_poll. */
void *zap_socket(struct zap *z);

/* Answer every pending request without blocking.  Returns the number
 * answered. */
int zap_handle(struct zap *z);

/* Counters for tests and `keten peers`. */
uint64_t zap_admitted(const struct zap *z);
uint64_t zap_refused(const struct zap *z);

void zap_destroy(struct zap **zp);

#endif
