/*
 * cmd_local.c — the commands of a local system on its own node: send,
 * status, subscribe, unsubscribe, peers, queue.  The node's socket comes
 * from --socket or the KETEN_SOCKET environment variable.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "envelope.h"
#include "err.h"
#include "keten.h"
#include "payload.h"
#include "receipt.h"
#include "util.h"

#define TIMEOUT_MS 10000
#define MAX_RECIPIENTS 64

static const char *const state_names[] = {
	"unspecified", "queued", "sent", "delivered", "refused", "expired",
};

static const char *
state_name(int s)
{
	return s >= 0 && s <= 5 ? state_names[s] : "unknown";
}

static int
open_client(const struct cli_cmd *cmd, const char *sock, struct keten_client **c)
{
	int r;

	if (sock == NULL)
		sock = getenv("KETEN_SOCKET");
	if (sock == NULL || sock[0] == '\0')
		return cli_usage_error(cmd, "--socket (or KETEN_SOCKET) names the node's local socket");
	if ((r = keten_client_open(sock, TIMEOUT_MS, c)) != 0)
		return cli_failf("%s: %s: %s", cli_name(cmd), sock, keten_strerror(r));
	return 0;
}

static int
call_fail(const struct cli_cmd *cmd, struct keten_client *c, int r)
{
	const char *why = keten_client_error(c);

	return cli_failf("%s: %s (%s)", cli_name(cmd), why[0] ? why : keten_strerror(r),
	    keten_errname(r));
}

/* "5m", "14d", "500ms" -> ms; 0 on error (also when it does not fit) */
static uint64_t
duration_ms(const char *s)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	const char *end;
	uint64_t v;

	if (cli_uint_parse(s, UINT64_MAX, &v, &end) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0)
			return v > UINT64_MAX / units[i].ms ? 0 : v * units[i].ms;
	return 0;
}

int
cmd_send(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *kind_s = NULL, *to = NULL, *case_ref = NULL, *purpose = NULL, *mandate = NULL,
	    *ttl = NULL, *trace = NULL, *reply = NULL, *sock = NULL;
	int json = 0, nops = 0, kind, r;
	const struct cli_opt opts[] = {
		{ "kind", &kind_s, NULL }, { "to", &to, NULL }, { "case", &case_ref, NULL },
		{ "purpose", &purpose, NULL }, { "mandate", &mandate, NULL }, { "ttl", &ttl, NULL },
		{ "trace", &trace, NULL }, { "reply-to", &reply, NULL }, { "socket", &sock, NULL },
		{ "json", NULL, &json }, { NULL, NULL, NULL },
	};
	char *rcpts[MAX_RECIPIENTS], *tolist = NULL, *save = NULL, err[256], hex[33];
	size_t nr = 0;
	uint8_t *pl = NULL, msg_id[16], reply_id[16];
	size_t pl_len = 0;
	json_t *doc;
	json_error_t jerr;
	struct keten_client *c = NULL;
	struct keten_submit s;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (kind_s == NULL || to == NULL || case_ref == NULL || purpose == NULL)
		return cli_usage_error(cmd, "--kind, --to, --case and --purpose are required");
	if (nops > 1)
		return cli_usage_error(cmd, "one payload file at most");
	if ((kind = kind_from_name(kind_s)) <= 0 || payload_descriptor(kind) == NULL)
		return cli_usage_error(cmd, "--kind %s: not a message kind", kind_s);
	if (reply != NULL && (strlen(reply) != 32 || hex_decode(reply, reply_id, 16) != 0))
		return cli_usage_error(cmd, "--reply-to: not a msg_id (32 hex digits)");
	if (ttl != NULL && duration_ms(ttl) == 0)
		return cli_usage_error(cmd, "--ttl %s: not a duration such as 2h or 14d", ttl);
	if ((tolist = strdup(to)) == NULL)
		return cli_fail(NULL, KETEN_ENOMEM);
	for (char *t = strtok_r(tolist, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (nr == MAX_RECIPIENTS || !oin_valid(t)) {
			free(tolist);
			return cli_usage_error(cmd, "--to: \"%s\" is not an OIN (or too many)", t);
		}
		rcpts[nr++] = t;
	}
	if (nops == 1 && strcmp(argv[0], "-") != 0)
		doc = json_load_file(argv[0], JSON_REJECT_DUPLICATES, &jerr);
	else
		doc = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		free(tolist);
		return cli_failf("%s: %s:%d: %s", cli_name(cmd), nops ? argv[0] : "stdin",
		    jerr.line, jerr.text);
	}
	r = payload_from_json(kind, doc, &pl, &pl_len, err, sizeof(err));
	json_decref(doc);
	if (r != 0) {
		free(tolist);
		return cli_failf("%s: payload: %s", cli_name(cmd), err);
	}
	if ((r = open_client(cmd, sock, &c)) != 0)
		goto out;
	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.recipients = (const char *const *)rcpts;
	s.nrecipients = nr;
	s.case_ref = case_ref;
	s.purpose = purpose;
	s.mandate_id = mandate;
	s.ttl_ms = ttl ? duration_ms(ttl) : 0;
	s.payload = pl;
	s.len = pl_len;
	s.traceparent = trace;
	s.in_reply_to = reply ? reply_id : NULL;
	if ((r = keten_submit(c, &s, msg_id)) != 0) {
		r = call_fail(cmd, c, r);
		goto out;
	}
	hex_encode(msg_id, 16, hex);
	if (json)
		printf("{\"msg_id\":\"%s\",\"state\":\"queued\"}\n", hex);
	else
		printf("%s\n", hex);
	r = CLI_OK;
out:
	keten_client_close(&c);
	free(pl);
	free(tolist);
	return r;
}

int
cmd_status(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *sock = NULL;
	int json = 0, nops = 0, r;
	const struct cli_opt opts[] = {
		{ "socket", &sock, NULL }, { "json", NULL, &json }, { NULL, NULL, NULL },
	};
	uint8_t id[16];
	struct keten_client *c = NULL;
	Keten__V1__LocalRequest req;
	Keten__V1__StatusRequest sr;
	Keten__V1__LocalResponse *resp = NULL;
	const Keten__V1__StatusResponse *st;
	char t1[32], t2[32];

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 1 || strlen(argv[0]) != 32 || hex_decode(argv[0], id, 16) != 0)
		return cli_usage_error(cmd, "one msg_id (32 hex digits) is needed");
	if ((r = open_client(cmd, sock, &c)) != 0)
		return r;
	keten__v1__local_request__init(&req);
	keten__v1__status_request__init(&sr);
	sr.msg_id.data = id;
	sr.msg_id.len = 16;
	req.op_case = KETEN__V1__LOCAL_REQUEST__OP_STATUS;
	req.status = &sr;
	if ((r = keten_client_call(c, &req, &resp)) != 0 || resp->status == NULL) {
		r = call_fail(cmd, c, r ? r : KETEN_EPARSE);
		goto out;
	}
	st = resp->status;
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:[]}", "msg_id", argv[0], "kind",
		    kind_name(st->kind) ? kind_name(st->kind) : "?", "created_at",
		    (json_int_t)st->created_at, "expires_at", (json_int_t)st->expires_at,
		    "recipients");

		for (size_t i = 0; o != NULL && i < st->n_recipients; i++) {
			const Keten__V1__RecipientStatus *x = st->recipients[i];
			json_t *e = json_pack("{s:s, s:s, s:i, s:I}", "recipient", x->recipient,
			    "state", state_name(x->state), "attempts", (int)x->attempts,
			    "receipt_at", (json_int_t)x->receipt_at);

			if (x->state == KETEN__V1__DELIVERY_STATE__STATE_REFUSED) {
				json_object_set_new(e, "reason", json_string(reason_name(x->reason) ?
				    reason_name(x->reason) : "?"));
				json_object_set_new(e, "reason_text", json_string(x->reason_text));
			}
			if (x->last_error[0] != '\0')
				json_object_set_new(e, "last_error", json_string(x->last_error));
			json_array_append_new(json_object_get(o, "recipients"), e);
		}
		json_dumpf(o, stdout, JSON_COMPACT);
		printf("\n");
		json_decref(o);
	} else {
		printf("%s %s, created %s, expires %s\n", argv[0], kind_name(st->kind),
		    cli_time_fmt(st->created_at, t1, sizeof(t1)),
		    cli_time_fmt(st->expires_at, t2, sizeof(t2)));
		for (size_t i = 0; i < st->n_recipients; i++) {
			const Keten__V1__RecipientStatus *x = st->recipients[i];

			printf("  %s  %-9s", x->recipient, state_name(x->state));
			if (x->state == KETEN__V1__DELIVERY_STATE__STATE_DELIVERED)
				printf("  receipt %s", cli_time_fmt(x->receipt_at, t1, sizeof(t1)));
			else if (x->state == KETEN__V1__DELIVERY_STATE__STATE_REFUSED)
				printf("  %s: %s", reason_name(x->reason), x->reason_text);
			else
				printf("  %u attempt(s)", x->attempts);
			if (x->last_error[0] != '\0' &&
			    x->state != KETEN__V1__DELIVERY_STATE__STATE_DELIVERED)
				printf("  (last error: %s)", x->last_error);
			printf("\n");
		}
	}
	r = CLI_OK;
out:
	keten_response_free(&resp);
	keten_client_close(&c);
	return r;
}

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* One delivered message as a JSON line; -1 (nothing printed) when it
 * cannot be shown whole. */
static int
print_delivered(const Keten__V1__Delivered *d)
{
	char hex[33], reply[33];
	json_t *o, *pl;

	hex_encode(d->msg_id.data, d->msg_id.len == 16 ? 16 : 0, hex);
	if ((pl = payload_to_json(d->kind, d->payload.data, d->payload.len)) == NULL)
		return -1;
	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o}",
	    "id", (json_int_t)d->id, "msg_id", hex, "sender", d->sender,
	    "kind", kind_name(d->kind) ? kind_name(d->kind) : "?", "case_ref", d->case_ref,
	    "purpose", d->purpose, "mandate_id", d->mandate_id,
	    "created_at", (json_int_t)d->created_at, "received_at", (json_int_t)d->received_at,
	    "seq", (json_int_t)d->seq, "payload", pl);
	if (o == NULL)
		return -1;
	/* what the message answers (an ESCALATION_DECISION its request) and
	 * its trace, when it has them */
	if (d->in_reply_to.len == 16) {
		hex_encode(d->in_reply_to.data, 16, reply);
		if (json_object_set_new(o, "in_reply_to", json_string(reply)) != 0) {
			json_decref(o);
			return -1;
		}
	}
	if (d->traceparent != NULL && d->traceparent[0] != '\0' &&
	    json_object_set_new(o, "traceparent", json_string(d->traceparent)) != 0) {
		json_decref(o);
		return -1;
	}
	json_dumpf(o, stdout, JSON_COMPACT);
	printf("\n");
	json_decref(o);
	return 0;
}

int
cmd_subscribe(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *sock = NULL, *cursor = NULL, *kinds_s = NULL, *case_ref = NULL, *max_s = NULL,
	    *wait_s = NULL;
	int ack = 0, follow = 0, nops = 0, r, kinds[16];
	size_t nk = 0;
	const struct cli_opt opts[] = {
		{ "socket", &sock, NULL }, { "cursor", &cursor, NULL }, { "kind", &kinds_s, NULL },
		{ "case", &case_ref, NULL }, { "max", &max_s, NULL }, { "wait", &wait_s, NULL },
		{ "ack", NULL, &ack }, { "follow", NULL, &follow }, { NULL, NULL, NULL },
	};
	struct keten_client *c = NULL;
	uint32_t max = 64, wait = 0;
	uint64_t last = 0, printed, v;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (cursor == NULL || nops != 0)
		return cli_usage_error(cmd, "--cursor NAME is required");
	if (max_s != NULL) {
		if (cli_uint_parse(max_s, 256, &v, NULL) != 0 || v < 1)
			return cli_usage_error(cmd, "--max: 1..256");
		max = (uint32_t)v;
	}
	if (wait_s != NULL) {
		if (cli_uint_parse(wait_s, 30000, &v, NULL) != 0)
			return cli_usage_error(cmd, "--wait: 0..30000 ms");
		wait = (uint32_t)v;
	}
	if (follow && wait_s == NULL)
		wait = 5000;
	if (kinds_s != NULL) {
		char *copy = strdup(kinds_s), *save = NULL;

		for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
			int k = kind_from_name(t);

			if (k <= 0 || nk == 16) {
				free(copy);
				return cli_usage_error(cmd, "--kind: \"%s\" is not a message kind", t);
			}
			kinds[nk++] = k;
		}
		free(copy);
	}
	if ((r = open_client(cmd, sock, &c)) != 0)
		return r;
	if ((r = keten_subscribe(c, cursor, kinds, nk, case_ref, &last)) != 0) {
		r = call_fail(cmd, c, r);
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* Without --ack the cursor stays where it is: each fetch asks for
	 * what follows the last message printed. */
	printed = last;
	do {
		Keten__V1__LocalResponse *resp = NULL;
		uint64_t upto = 0;
		size_t n;
		int bad = 0;

		if ((r = keten_fetch_after(c, cursor, ack ? 0 : printed, max, wait, &resp)) != 0) {
			if (stop_requested)
				break;
			r = call_fail(cmd, c, r);
			goto out;
		}
		n = resp->fetch->n_messages;
		for (size_t i = 0; i < n; i++) {
			const Keten__V1__Delivered *d = resp->fetch->messages[i];
			char hex[33];

			if (print_delivered(d) != 0) {
				/* Never skipped: the ones before it are acknowledged
				 * (with --ack), it and the ones after are not. */
				hex_encode(d->msg_id.data, d->msg_id.len == 16 ? 16 : 0, hex);
				bad = cli_failf("%s: message %llu (msg_id %s from %s): cannot be shown "
				    "as JSON; not acknowledged", cli_name(cmd),
				    (unsigned long long)d->id, hex, d->sender);
				break;
			}
			upto = d->id;
		}
		keten_response_free(&resp);
		/* Acknowledged only once the lines are out of our hands. */
		if (fflush(stdout) != 0 || ferror(stdout)) {
			r = cli_failf("%s: cannot write the messages; not acknowledged",
			    cli_name(cmd));
			goto out;
		}
		if (ack && upto != 0 && (r = keten_ack(c, cursor, upto)) != 0) {
			r = call_fail(cmd, c, r);
			goto out;
		}
		if (upto != 0)
			printed = upto;
		if (bad != 0) {
			r = bad;
			goto out;
		}
		if (!follow && n < max)
			break;
	} while (!stop_requested);
	r = CLI_OK;
out:
	keten_client_close(&c);
	return r;
}

int
cmd_unsubscribe(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *sock = NULL, *cursor = NULL;
	int nops = 0, r;
	const struct cli_opt opts[] = {
		{ "socket", &sock, NULL }, { "cursor", &cursor, NULL }, { NULL, NULL, NULL },
	};
	struct keten_client *c = NULL;

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (cursor == NULL || nops != 0)
		return cli_usage_error(cmd, "--cursor NAME is required");
	if ((r = open_client(cmd, sock, &c)) != 0)
		return r;
	if ((r = keten_unsubscribe(c, cursor)) != 0)
		r = call_fail(cmd, c, r);
	keten_client_close(&c);
	return r;
}

/* peers and queue: a request without arguments and a printed answer */
static int
simple(const struct cli_cmd *cmd, int argc, char **argv, int op, int json_out,
    void (*print)(const Keten__V1__LocalResponse *, int), const char *sock)
{
	struct keten_client *c = NULL;
	Keten__V1__LocalRequest req;
	Keten__V1__PeersRequest pr;
	Keten__V1__QueueRequest qr;
	Keten__V1__LocalResponse *resp = NULL;
	int r;

	(void)argc;
	(void)argv;
	if ((r = open_client(cmd, sock, &c)) != 0)
		return r;
	keten__v1__local_request__init(&req);
	keten__v1__peers_request__init(&pr);
	keten__v1__queue_request__init(&qr);
	req.op_case = op;
	if (op == KETEN__V1__LOCAL_REQUEST__OP_PEERS)
		req.peers = &pr;
	else
		req.queue = &qr;
	if ((r = keten_client_call(c, &req, &resp)) != 0) {
		r = call_fail(cmd, c, r);
	} else {
		print(resp, json_out);
		r = CLI_OK;
	}
	keten_response_free(&resp);
	keten_client_close(&c);
	return r;
}

static void
print_peers(const Keten__V1__LocalResponse *resp, int json)
{
	const Keten__V1__PeersResponse *p = resp->peers;
	json_t *all = NULL;
	char t[32];

	if (p == NULL)
		return;
	/* --json: one document, {"peers": [...]}, like status and queue */
	if (json)
		all = json_array();
	else
		printf("%-20s  %-40s  %-9s  %-6s  %s\n", "OIN", "NAME", "LINK", "QUEUED", "VIA");
	for (size_t i = 0; i < p->n_peers; i++) {
		const Keten__V1__PeerInfo *x = p->peers[i];

		if (json) {
			json_array_append_new(all, json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I}",
			    "oin", x->oin, "name", x->name, "endpoint", x->endpoint, "via", x->via,
			    "connected", x->connected, "last_seen", (json_int_t)x->last_seen,
			    "queued", (json_int_t)x->queued));
		} else {
			printf("%-20s  %-40.40s  %-9s  %-6llu  %s%s%s\n", x->oin, x->name,
			    x->connected ? "up" : "down", (unsigned long long)x->queued,
			    x->via[0] ? x->via : "-", x->last_seen ? "  last sent " : "",
			    x->last_seen ? cli_time_fmt(x->last_seen, t, sizeof(t)) : "");
		}
	}
	if (json) {
		json_t *o = json_pack("{s:o}", "peers", all);

		json_dumpf(o, stdout, JSON_COMPACT);
		printf("\n");
		json_decref(o);
	}
}

static void
print_queue(const Keten__V1__LocalResponse *resp, int json)
{
	const Keten__V1__QueueResponse *q = resp->queue;

	if (q == NULL)
		return;
	if (json)
		printf("{\"queued\":%llu,\"sent\":%llu,\"delivered\":%llu,\"refused\":%llu,"
		    "\"expired\":%llu,\"relaying\":%llu,\"inbox\":%llu}\n",
		    (unsigned long long)q->queued, (unsigned long long)q->sent,
		    (unsigned long long)q->delivered, (unsigned long long)q->refused,
		    (unsigned long long)q->expired, (unsigned long long)q->relaying,
		    (unsigned long long)q->inbox);
	else
		printf("outbox: %llu queued, %llu sent (waiting for a receipt), %llu delivered, "
		    "%llu refused, %llu expired\nrelaying: %llu\ninbox: %llu\n",
		    (unsigned long long)q->queued, (unsigned long long)q->sent,
		    (unsigned long long)q->delivered, (unsigned long long)q->refused,
		    (unsigned long long)q->expired, (unsigned long long)q->relaying,
		    (unsigned long long)q->inbox);
}

/* peers and queue take the same options */
static int
noarg(const struct cli_cmd *cmd, int argc, char **argv, int op,
    void (*print)(const Keten__V1__LocalResponse *, int))
{
	const char *sock = NULL;
	int json = 0, nops = 0, r;
	const struct cli_opt opts[] = {
		{ "socket", &sock, NULL }, { "json", NULL, &json }, { NULL, NULL, NULL },
	};

	if ((r = cli_parse(cmd, argc, argv, opts, &nops)) != 0)
		return r;
	if (nops != 0)
		return cli_usage_error(cmd, "no operands");
	return simple(cmd, argc, argv, op, json, print, sock);
}

int
cmd_peers(const struct cli_cmd *cmd, int argc, char **argv)
{
	return noarg(cmd, argc, argv, KETEN__V1__LOCAL_REQUEST__OP_PEERS, print_peers);
}

int
cmd_queue(const struct cli_cmd *cmd, int argc, char **argv)
{
	return noarg(cmd, argc, argv, KETEN__V1__LOCAL_REQUEST__OP_QUEUE, print_queue);
}
