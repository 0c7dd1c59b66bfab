/*
 * client.c — see keten.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "err.h"
#include "keten.h"
#include "util.h"

/* Largest response accepted (a fetch of large dossiers). */
#define RESPONSE_MAX (1024ll << 20)

struct keten_client {
	void *ctx;
	void *sock;
	char *endpoint;
	int timeout_ms;
	uint64_t next_id;
	char err[512];
};

/* Deadlines follow a clock that a step of the wall clock does not move. */
static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A new socket to the node.  ZMQ_IMMEDIATE: a request is handed only to
 * a connection that is up, never queued for one that is not (it would go
 * out when the node comes back, after the call had given up on it). */
static int
sock_open(struct keten_client *c)
{
	int zero = 0, one = 1;
	int64_t max = RESPONSE_MAX;

	if ((c->sock = zmq_socket(c->ctx, ZMQ_DEALER)) == NULL ||
	    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0 ||
	    zmq_connect(c->sock, c->endpoint) != 0)
		return KETEN_EIO;
	return 0;
}

/* A call given up on: the socket goes, with anything it still holds, so
 * that no request of it reaches the node later; the next call makes a
 * new one. */
static void
sock_drop(struct keten_client *c)
{
	if (c->sock != NULL)
		zmq_close(c->sock);
	c->sock = NULL;
}

static int
fail(struct keten_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct keten_client *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return code;
}

int
keten_client_open(const char *endpoint, int timeout_ms, struct keten_client **out)
{
	struct keten_client *c;

	*out = NULL;
	if (endpoint == NULL || strncmp(endpoint, "ipc://", 6) != 0 || timeout_ms <= 0)
		return KETEN_EINVAL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KETEN_ENOMEM;
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	if ((c->endpoint = strdup(endpoint)) == NULL) {
		free(c);
		return KETEN_ENOMEM;
	}
	if ((c->ctx = zmq_ctx_new()) == NULL || sock_open(c) != 0) {
		keten_client_close(&c);
		return KETEN_EIO;
	}
	*out = c;
	return 0;
}

void
keten_client_close(struct keten_client **cp)
{
	struct keten_client *c;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	sock_drop(c);
	if (c->ctx != NULL)
		zmq_ctx_term(c->ctx);
	free(c->endpoint);
	free(c);
	*cp = NULL;
}

const char *
keten_client_error(const struct keten_client *c)
{
	return c != NULL ? c->err : "";
}

void
keten_response_free(Keten__V1__LocalResponse **resp)
{
	if (resp != NULL && *resp != NULL) {
		keten__v1__local_response__free_unpacked(*resp, NULL);
		*resp = NULL;
	}
}

int
keten_client_call(struct keten_client *c, Keten__V1__LocalRequest *req,
    Keten__V1__LocalResponse **resp)
{
	size_t len;
	uint8_t *buf;
	uint64_t deadline;
	int r;

	*resp = NULL;
	c->err[0] = '\0';
	req->request_id = c->next_id++;
	len = keten__v1__local_request__get_packed_size(req);
	if ((buf = malloc(len ? len : 1)) == NULL)
		return fail(c, KETEN_ENOMEM, "out of memory");
	keten__v1__local_request__pack(req, buf);
	deadline = mono_ms() + (uint64_t)c->timeout_ms;
	if (c->sock == NULL && sock_open(c) != 0) {
		int e = errno;

		free(buf);
		sock_drop(c);
		return fail(c, KETEN_EIO, "cannot connect to the node: %s", zmq_strerror(e));
	}
	/* Wait (within the time-out) for the connection to the node to be
	 * up; the request is not sent without one. */
	for (;;) {
		zmq_pollitem_t it = { c->sock, 0, ZMQ_POLLOUT, 0 };
		uint64_t now = mono_ms();

		if (now >= deadline) {
			free(buf);
			sock_drop(c);
			return fail(c, KETEN_EAGAIN, "not sent: no connection to the node at %s "
			    "within %d ms", c->endpoint, c->timeout_ms);
		}
		if (zmq_poll(&it, 1, (long)(deadline - now)) < 0 && errno != EINTR) {
			int e = errno;

			free(buf);
			sock_drop(c);
			return fail(c, KETEN_EIO, "poll: %s", zmq_strerror(e));
		}
		if (it.revents & ZMQ_POLLOUT)
			break;
	}
	r = zmq_send(c->sock, buf, len, ZMQ_DONTWAIT);
	free(buf);
	if (r < 0) {
		int e = errno;

		sock_drop(c);
		return fail(c, e == EAGAIN ? KETEN_EAGAIN : KETEN_EIO, "not sent to the node: %s",
		    zmq_strerror(e));
	}
	for (;;) {
		zmq_pollitem_t it = { c->sock, 0, ZMQ_POLLIN, 0 };
		uint64_t now = mono_ms();
		Keten__V1__LocalResponse *rs;
		zmq_msg_t m;

		if (now >= deadline) {
			sock_drop(c);
			return fail(c, KETEN_EAGAIN, "sent, but no answer from the node within %d ms: "
			    "whether it was carried out is not known", c->timeout_ms);
		}
		if (zmq_poll(&it, 1, (long)(deadline - now)) < 0) {
			int e = errno;

			sock_drop(c);
			if (e == EINTR)
				return fail(c, KETEN_EAGAIN, "interrupted after the request was sent: "
				    "whether it was carried out is not known");
			return fail(c, KETEN_EIO, "poll: %s", zmq_strerror(e));
		}
		if (!(it.revents & ZMQ_POLLIN))
			continue;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->sock, 0) < 0) {
			int e = errno;

			zmq_msg_close(&m);
			sock_drop(c);
			return fail(c, KETEN_EIO, "receive: %s", zmq_strerror(e));
		}
		rs = zmq_msg_more(&m) ? NULL :
		    keten__v1__local_response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
		zmq_msg_close(&m);
		if (rs == NULL)
			return fail(c, KETEN_EPARSE, "the node's answer is not a LocalResponse");
		if (rs->request_id != req->request_id) {
			/* the late answer to a request we gave up on */
			keten__v1__local_response__free_unpacked(rs, NULL);
			continue;
		}
		if (rs->error != NULL) {
			int code = rs->error->code < 0 ? rs->error->code : KETEN_EINVAL;

			snprintf(c->err, sizeof(c->err), "%s", rs->error->message ?
			    rs->error->message : keten_strerror(code));
			keten__v1__local_response__free_unpacked(rs, NULL);
			return code;
		}
		*resp = rs;
		return 0;
	}
}

/* A call whose response must carry result case want. */
static int
call_expect(struct keten_client *c, Keten__V1__LocalRequest *req, int want,
    Keten__V1__LocalResponse **resp)
{
	int r = keten_client_call(c, req, resp);

	if (r == 0 && (int)(*resp)->result_case != want) {
		keten_response_free(resp);
		return fail(c, KETEN_EPARSE, "the node answered another operation");
	}
	return r;
}

int
keten_submit(struct keten_client *c, const struct keten_submit *s, uint8_t msg_id[16])
{
	Keten__V1__LocalRequest req;
	Keten__V1__SubmitRequest sr;
	Keten__V1__LocalResponse *resp = NULL;
	int r;

	keten__v1__local_request__init(&req);
	keten__v1__submit_request__init(&sr);
	sr.kind = s->kind;
	sr.recipients = (char **)s->recipients;
	sr.n_recipients = s->nrecipients;
	sr.case_ref = (char *)(s->case_ref ? s->case_ref : "");
	sr.purpose = (char *)(s->purpose ? s->purpose : "");
	sr.mandate_id = (char *)(s->mandate_id ? s->mandate_id : "");
	sr.ttl_ms = s->ttl_ms;
	sr.payload.data = (uint8_t *)s->payload;
	sr.payload.len = s->len;
	sr.traceparent = (char *)(s->traceparent ? s->traceparent : "");
	if (s->in_reply_to != NULL) {
		sr.in_reply_to.data = (uint8_t *)s->in_reply_to;
		sr.in_reply_to.len = 16;
	}
	req.op_case = KETEN__V1__LOCAL_REQUEST__OP_SUBMIT;
	req.submit = &sr;
	if ((r = call_expect(c, &req, KETEN__V1__LOCAL_RESPONSE__RESULT_SUBMIT, &resp)) != 0)
		return r;
	if (resp->submit == NULL || resp->submit->msg_id.len != 16) {
		keten_response_free(&resp);
		return fail(c, KETEN_EPARSE, "the node's answer has no msg_id");
	}
	memcpy(msg_id, resp->submit->msg_id.data, 16);
	keten_response_free(&resp);
	return 0;
}

int
keten_subscribe(struct keten_client *c, const char *cursor, const int *kinds, size_t n,
    const char *case_ref, uint64_t *last_acked)
{
	Keten__V1__LocalRequest req;
	Keten__V1__SubscribeRequest sr;
	Keten__V1__LocalResponse *resp = NULL;
	int r;

	keten__v1__local_request__init(&req);
	keten__v1__subscribe_request__init(&sr);
	sr.cursor = (char *)cursor;
	sr.kinds = (Keten__V1__Kind *)kinds;
	sr.n_kinds = n;
	sr.case_ref = (char *)(case_ref ? case_ref : "");
	req.op_case = KETEN__V1__LOCAL_REQUEST__OP_SUBSCRIBE;
	req.subscribe = &sr;
	if ((r = call_expect(c, &req, KETEN__V1__LOCAL_RESPONSE__RESULT_SUBSCRIBE, &resp)) != 0)
		return r;
	if (last_acked != NULL)
		*last_acked = resp->subscribe ? resp->subscribe->last_acked : 0;
	keten_response_free(&resp);
	return 0;
}

int
keten_fetch(struct keten_client *c, const char *cursor, uint32_t max, uint32_t wait_ms,
    Keten__V1__LocalResponse **resp)
{
	return keten_fetch_after(c, cursor, 0, max, wait_ms, resp);
}

int
keten_fetch_after(struct keten_client *c, const char *cursor, uint64_t after, uint32_t max,
    uint32_t wait_ms, Keten__V1__LocalResponse **resp)
{
	Keten__V1__LocalRequest req;
	Keten__V1__FetchRequest fr;
	int saved = c->timeout_ms, r;

	keten__v1__local_request__init(&req);
	keten__v1__fetch_request__init(&fr);
	fr.cursor = (char *)cursor;
	fr.max = max;
	fr.wait_ms = wait_ms;
	fr.after = after;
	req.op_case = KETEN__V1__LOCAL_REQUEST__OP_FETCH;
	req.fetch = &fr;
	/* the node may hold the answer for wait_ms */
	c->timeout_ms = saved + (int)wait_ms;
	r = call_expect(c, &req, KETEN__V1__LOCAL_RESPONSE__RESULT_FETCH, resp);
	c->timeout_ms = saved;
	return r;
}

int
keten_ack(struct keten_client *c, const char *cursor, uint64_t id)
{
	Keten__V1__LocalRequest req;
	Keten__V1__AckRequest ar;
	Keten__V1__LocalResponse *resp = NULL;
	int r;

	keten__v1__local_request__init(&req);
	keten__v1__ack_request__init(&ar);
	ar.cursor = (char *)cursor;
	ar.id = id;
	req.op_case = KETEN__V1__LOCAL_REQUEST__OP_ACK;
	req.ack = &ar;
	r = call_expect(c, &req, KETEN__V1__LOCAL_RESPONSE__RESULT_ACK, &resp);
	keten_response_free(&resp);
	return r;
}

int
keten_unsubscribe(struct keten_client *c, const char *cursor)
{
	Keten__V1__LocalRequest req;
	Keten__V1__UnsubscribeRequest ur;
	Keten__V1__LocalResponse *resp = NULL;
	int r;

	keten__v1__local_request__init(&req);
	keten__v1__unsubscribe_request__init(&ur);
	ur.cursor = (char *)cursor;
	req.op_case = KETEN__V1__LOCAL_REQUEST__OP_UNSUBSCRIBE;
	req.unsubscribe = &ur;
	r = call_expect(c, &req, KETEN__V1__LOCAL_RESPONSE__RESULT_UNSUBSCRIBE, &resp);
	keten_response_free(&resp);
	return r;
}

int
keten_audit_access(struct keten_client *c, const char *command, const char *data_subject,
    uint64_t *record)
{
	Keten__V1__LocalRequest req;
	Keten__V1__AuditAccessRequest ar;
	Keten__V1__LocalResponse *resp = NULL;
	int r;

	keten__v1__local_request__init(&req);
	keten__v1__audit_access_request__init(&ar);
	ar.command = (char *)command;
	if (data_subject != NULL) {
		ar.data_subject.data = (uint8_t *)data_subject;
		ar.data_subject.len = strlen(data_subject);
	}
	req.op_case = KETEN__V1__LOCAL_REQUEST__OP_AUDIT_ACCESS;
	req.audit_access = &ar;
	r = call_expect(c, &req, KETEN__V1__LOCAL_RESPONSE__RESULT_AUDIT_ACCESS, &resp);
	if (r == 0 && record != NULL)
		*record = resp->audit_access->record;
	keten_response_free(&resp);
	return r;
}
