/*
 * local.h — the local API: one ipc:// socket per local system named in the
 * configuration, whose file mode and group decide who may connect.  Each
 * request is a LocalRequest (local.proto) answered by one LocalResponse.
 * What a system may do is a table from the configuration (kinds it may
 * send and receive, purposes); anything else is refused with
 * LOCAL_NOT_PERMITTED.
 */
#ifndef KETEN_LOCAL_H
#define KETEN_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

struct buf;
struct local;
struct node;
struct Keten__V1__LocalRequest;
struct Keten__V1__LocalResponse;

#define KETEN_LOCAL_MAX 64

/* Bind every local system's socket.  Caller owns *out. */
int local_new(struct node *n, struct local **out);
void local_destroy(struct local **lp);

/* Fill poll items (at most KETEN_LOCAL_MAX); returns how many. */
size_t local_pollitems(struct local *l, zmq_pollitem_t *items);

/* Read and handle up to max requests from every socket. */
void local_drain(struct node *n, size_t max);

/* Send a reply (body is not taken). */
void local_reply(struct local *l, int idx, const uint8_t *rid, size_t rid_len,
    const struct buf *body);

/* Long-polling fetches: the earliest time one must be answered (0: none),
 * and answering those whose time came or whose cursor has new messages. */
uint64_t local_next_deadline(struct local *l);
void local_answer_waiting(struct node *n, uint64_t now);

/* Pack a response into a new buffer; NULL when out of memory. */
struct buf *local_pack(const struct Keten__V1__LocalResponse *resp);
/* A response that carries only an error (message may be NULL). */
struct buf *local_error_body(uint64_t request_id, int code, const char *message);
/* The same with a Reason (a refusal on a mandate or policy). */
struct buf *local_error_reason_body(uint64_t request_id, int code, int reason,
    const char *message);

/* Parse one request frame strictly enough for the node to act on it:
 * a LocalRequest with an operation.  Caller frees *out with
 * keten__v1__local_request__free_unpacked.  KETEN_EPARSE, KETEN_EFIELD. */
int local_request_parse(const uint8_t *p, size_t len, struct Keten__V1__LocalRequest **out);

#endif
