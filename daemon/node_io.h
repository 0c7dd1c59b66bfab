/*
 * node_io.h — the node's message paths, shared by node.c, inbound.c,
 * outbound.c and local.c.  All of them run inside one turn of the loop and
 * write into the turn's transaction (node_txn()); their outward effects go
 * through node_act_*() and happen after the commit.
 */
#ifndef KETEN_NODE_IO_H
#define KETEN_NODE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

struct node;
struct party;

/* inbound.c: read up to max messages from the listening socket. */
void inbound_drain(struct node *n, size_t max);
/* Batch-sign the receipts of what was received, store, queue receipts. */
void inbound_flush(struct node *n);

/* outbound.c */

/* A submission from a local system, already checked against its
 * permissions.  Seals it and stages it for the turn's batch signature;
 * the local reply is sent after the commit.  0, or an error for an
 * immediate refusal (unknown recipient, bad field, ...). */
struct submit_req {
	int kind;
	const char *const *recipients;
	size_t nrecipients;
	const char *case_ref;
	const char *purpose;
	const char *mandate_id;
	const char *traceparent;
	const uint8_t *in_reply_to;	/* KETEN_MSG_ID_LEN or NULL */
	uint64_t ttl_ms;		/* 0: default */
	const uint8_t *payload;
	size_t len;
	const struct payload_subjects *subjects;	/* for the audit records */
};
/* KETEN_ENOMANDATE when no mandate covers it: *dec says why. */
struct mandate_decision;
int outbound_submit(struct node *n, const struct submit_req *s, int local_idx,
    const char *local_name, const uint8_t *rid, size_t rid_len, uint64_t request_id,
    uint8_t msg_id_out[KETEN_MSG_ID_LEN], struct mandate_decision *dec);

/* Batch-sign what is staged, store it and queue the replies and sends. */
void outbound_flush(struct node *n);
/* Drop what is staged (its transaction was rolled back). */
void outbound_forget_staged(struct node *n);
/* Destroy a staged message's envelope and wipe its subjects and their
 * pseudonyms. */
void outbound_staged_clear(struct staged *s);
/* Send what is due again, expire what is past its time. */
void outbound_retry(struct node *n, uint64_t now);
/* Links that came up again: their whole backlog is made due now, to go
 * out in sequence order.  Returns 1 while some link is still down. */
int outbound_links(struct node *n, uint64_t now);
/* A verified receipt for a message this node sent. */
void outbound_receipt(struct node *n, const struct party *from, const uint8_t *body,
    size_t len, const void *receipt_info);

#endif
