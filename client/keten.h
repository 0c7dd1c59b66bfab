/*
 * keten.h — the C client library for local systems: talk to your own
 * node's local API (proto/local.proto) over its ipc:// socket.
 *
 * Framing: a ZeroMQ DEALER socket; each request is exactly one frame, a
 * packed keten.v1.LocalRequest, and the node answers with exactly one
 * frame, a packed keten.v1.LocalResponse carrying the same request_id.
 * The library numbers requests itself and skips answers to requests it
 * gave up on (after a time-out).
 *
 * Every function returns 0 or a negative KETEN_E* code (proto/err.h):
 * the node's own error code when it refused (keten_client_error() has its
 * sentence), KETEN_EAGAIN when no answer came in time, KETEN_EIO on a
 * socket error.  A client is used by one thread at a time.
 *
 * Time-outs: a request is sent only over a connection that is up, and
 * never queued for a node that is down.  KETEN_EAGAIN says which way it
 * went: "not sent" (no connection within the time-out: nothing happened,
 * call again), or sent without an answer in time or interrupted by a
 * signal (it may or may not have been carried out: after a submit, the
 * node's queue or the receiving side tells).  A call given up on is
 * never sent again later: the library drops its connection, and the next
 * call makes a new one.  Time-outs follow CLOCK_MONOTONIC.
 *
 *	struct keten_client *c;
 *	uint8_t id[16];
 *	keten_client_open("ipc:///run/keten/case.sock", 5000, &c);
 *	keten_submit(c, &(struct keten_submit){ ... }, id);
 *	keten_client_close(&c);
 */
#ifndef KETEN_CLIENT_H
#define KETEN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "local.pb-c.h"

struct keten_client;

int keten_client_open(const char *endpoint, int timeout_ms, struct keten_client **out);
void keten_client_close(struct keten_client **cp);

/* The node's sentence for the last refusal, or the library's for its own
 * failures; "" when the last call succeeded. */
const char *keten_client_error(const struct keten_client *c);

/* One request and its response.  req->request_id is set here.  On 0,
 * *resp is the caller's: free it with keten_response_free(). */
int keten_client_call(struct keten_client *c, Keten__V1__LocalRequest *req,
    Keten__V1__LocalResponse **resp);
void keten_response_free(Keten__V1__LocalResponse **resp);

/* Submit a message.  Returns once the node has it durably queued, with
 * its msg_id. */
struct keten_submit {
	int kind;			/* Kind of envelope.proto */
	const char *const *recipients;	/* OINs */
	size_t nrecipients;
	const char *case_ref;
	const char *purpose;
	const char *mandate_id;		/* may be NULL */
	uint64_t ttl_ms;		/* 0: the node's default */
	const uint8_t *payload;		/* the kind's payload message, serialized */
	size_t len;
	const char *traceparent;	/* may be NULL */
	const uint8_t *in_reply_to;	/* 16 bytes or NULL */
};
int keten_submit(struct keten_client *c, const struct keten_submit *s, uint8_t msg_id[16]);

/* Create or reopen a durable cursor (kinds: n Kind values, or none for all
 * the system may receive; case_ref may be NULL). */
int keten_subscribe(struct keten_client *c, const char *cursor, const int *kinds, size_t n,
    const char *case_ref, uint64_t *last_acked);
/* Messages after the cursor (at most max, waiting up to wait_ms for one);
 * *resp holds them in resp->fetch.  Until they are acknowledged the same
 * messages come again: keten_fetch_after() pages on past the last id a
 * reader has (after), without acknowledging. */
int keten_fetch(struct keten_client *c, const char *cursor, uint32_t max, uint32_t wait_ms,
    Keten__V1__LocalResponse **resp);
int keten_fetch_after(struct keten_client *c, const char *cursor, uint64_t after, uint32_t max,
    uint32_t wait_ms, Keten__V1__LocalResponse **resp);
/* Acknowledge everything up to and including id. */
int keten_ack(struct keten_client *c, const char *cursor, uint64_t id);
int keten_unsubscribe(struct keten_client *c, const char *cursor);

/* Have the node record that its audit log is being looked at (command,
 * e.g. "audit subject"; data_subject: the V-nummer or BSN asked about, or
 * NULL).  0 once the record is durable; *record gets its index. */
int keten_audit_access(struct keten_client *c, const char *command, const char *data_subject,
    uint64_t *record);

#endif
