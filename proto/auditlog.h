/*
 * auditlog.h — a node's append-only, tamper-evident GDPR audit log.
 *
 * One file per node (PROTOCOL.md §17): an 8-byte magic, then frames.  A
 * frame is u32be length || type || payload || check, where check is the
 * first 4 bytes of SHA-256(type || payload).  A RECORD frame (type 0x00)
 * holds one serialized AuditRecord (audit.proto); because 0x00 is also the
 * RFC 6962 leaf prefix, SHA-256(type || payload) is the record's leaf
 * hash.  A CHECKPOINT frame (0x01) holds the node's signed checkpoint
 * (C2SP signed note, checkpoint.h) of the tree over every record before
 * it.  A PRUNED frame (0x02) stands in for a record whose body retention
 * removed: u64be index || its 32-byte leaf hash.
 *
 * The writer (the node) appends records to a buffer during a turn and signs
 * a checkpoint when asked.  The node keeps the turn's frames in the same
 * store transaction as the turn's work, which makes both durable with one
 * fsync (auditlog_staged); then writes them to the file (auditlog_write)
 * and makes the file durable about once a second (auditlog_sync), after
 * which the store's copy is dropped.  At start the frames the file lost
 * in a crash are put back from the store (auditlog_restore).  Standalone
 * (auditlog_commit) the turn is made durable with one write and one
 * fdatasync.  A crash can leave a torn last frame; opening the log cuts
 * it off and says so.
 *
 * The reader and verifier work on a read-only copy and need no keys.
 */
#ifndef KETEN_AUDITLOG_H
#define KETEN_AUDITLOG_H

#include <stddef.h>
#include <stdint.h>

#include "audit.pb-c.h"
#include "auditkeys.h"

#define AUDITLOG_MAGIC "KETENAL\001"
#define AUDITLOG_MAGIC_LEN 8
#define AUDITLOG_FRAME_MAX (64 * 1024)	/* longest frame body accepted */
#define AUDITLOG_MAX_SUBJECTS 16	/* records per event, one per subject */
#define AUDITLOG_ORIGIN_PREFIX "keten/audit/v1/"
/* Longest text fields of a record (bytes): local_system and rule;
 * purpose; mandate_id; legal_basis and detail.  Room for a header's
 * purpose or mandate id with its digit runs grouped (auditlog_append). */
#define AUDIT_TEXT_SHORT 64
#define AUDIT_TEXT_PURPOSE 384
#define AUDIT_TEXT_MANDATE 192
#define AUDIT_TEXT_LONG 768

enum auditlog_frame_type {
	AUDITLOG_RECORD = 0x00,
	AUDITLOG_CHECKPOINT = 0x01,
	AUDITLOG_PRUNED = 0x02,
};

struct buf;
struct auditlog;

/* --- one frame ----------------------------------------------------- */

struct auditlog_frame {
	int type;
	const uint8_t *body;	/* type byte || payload, inside the caller's bytes */
	size_t body_len;
	const uint8_t *payload;
	size_t payload_len;
	uint8_t hash[32];	/* SHA-256(type || payload); the leaf hash of a record */
	size_t offset;		/* of the frame in the file */
	size_t end;		/* offset after it */
};

/* Read the frame at *off of p[0..len).  0 and *off advanced; 1 at the end
 * of the bytes; KETEN_ETORN when the bytes end inside the frame or the
 * frame's check does not match and nothing but that frame follows (a
 * crash); KETEN_ETAMPER when the check does not match or the header is
 * impossible (length, type) with more bytes after it. */
int auditlog_frame_next(const uint8_t *p, size_t len, size_t *off,
    struct auditlog_frame *f) __attribute__((warn_unused_result));

/* auditlog_frame_next in two steps, for a reader that checks frames on
 * more than one thread: auditlog_frame_head reads the header of the frame
 * at off (0, or -1 at the end or when the header is bad or the frame runs
 * past len: auditlog_frame_next then says which); auditlog_frame_check
 * computes f->hash and compares the frame's check value (0, or -1 when it
 * does not match: auditlog_frame_next says whether that is a torn write or
 * tampering). */
int auditlog_frame_head(const uint8_t *p, size_t len, size_t off, struct auditlog_frame *f);
int auditlog_frame_check(struct auditlog_frame *f);

/* Append a frame of type with payload to b. */
int auditlog_frame_put(struct buf *b, int type, const uint8_t *payload, size_t len);

/* Unpack and check a record's fields: version 1, field sizes, text
 * printable, index == expected.  Caller frees *out with
 * keten__v1__audit_record__free_unpacked(*out, NULL).  0, KETEN_EFIELD,
 * KETEN_EVERSION, KETEN_ENOMEM. */
int auditlog_record_parse(const uint8_t *p, size_t len, Keten__V1__AuditRecord **out);
/* The canonical encoding of rec (the bytes protobuf-c packs), written to
 * out[0..cap): its length, which is more than cap when it did not fit
 * (out NULL and cap 0: the length only). */
size_t auditlog_record_encode(const Keten__V1__AuditRecord *rec, uint8_t *out, size_t cap);
/* The same with a protobuf-c allocator (an arena for fast scans); free
 * with the same allocator. */
int auditlog_record_parse_with(const uint8_t *p, size_t len, ProtobufCAllocator *alloc,
    Keten__V1__AuditRecord **out);

/* The origin of node oin's log: "keten/audit/v1/<oin>". */
void auditlog_origin(const char *oin, char out[64]);

/* Whether the text s holds something that looks like a raw identifier: a
 * run of exactly 9 digits passing the BSN eleven-test, or exactly 10
 * digits (a V-nummer).  Returns the offset + 1 of the first, or 0. */
size_t auditlog_find_identifier(const char *s);

/* --- writing (the node) -------------------------------------------- */

/* What happened, for auditlog_append.  Strings may be NULL or empty. */
struct audit_event {
	int event;			/* KETEN__V1__AUDIT_EVENT__* */
	const uint8_t *msg_id;		/* 16 bytes or NULL */
	int kind;
	const char *sender;
	const char *const *recipients;
	size_t n_recipients;
	const char *local_system;
	const char *purpose;
	const char *mandate_id;
	const char *legal_basis;
	int decision;			/* KETEN__V1__DECISION__* */
	int reason;			/* KETEN__V1__REASON__* */
	const char *rule;
	const char *traceparent;	/* W3C; trace and span ids are taken from it */
	const uint8_t *envelope_hash;	/* 32 bytes or NULL */
	const char *const *subjects;	/* V-nummers / BSNs in the clear; only
					 * their sealed pseudonyms are written */
	size_t n_subjects;
	/* The subjects' pseudonyms (audit_pseudonym under the log's keys), in
	 * their order, as an earlier record of the same message had them: not
	 * computed again.  NULL: computed here. */
	const uint8_t (*pseudonyms)[AUDIT_PSEUDONYM_LEN];
	/* If not NULL, the n_subjects pseudonyms used are copied here. */
	uint8_t (*pseudonyms_out)[AUDIT_PSEUDONYM_LEN];
	const char *peer;
	const uint8_t *checkpoint;	/* WITNESS */
	size_t checkpoint_len;
	const uint8_t *key;		/* LOG_START, KEY: 32 bytes */
	const char *detail;
	uint64_t first;			/* TURN_ABORTED */
	const Keten__V1__Prune *prune;	/* PRUNE */
};

/* Open (or create) the log at path for node oin, signing checkpoints with
 * the Ed25519 key (sk: 64 bytes, copied; pk: 32).  keys may be NULL when
 * no audit key is configured: subjects are then refused (KETEN_EAUDITKEY
 * from auditlog_append), never written in the clear.  A torn last frame
 * is cut off and *torn set to the number of bytes removed.  The records
 * are re-hashed; if they do not match the last checkpoint in the file the
 * log was altered: KETEN_ETAMPER and nothing is opened.  Caller owns *out.
 * Errors also KETEN_EIO, KETEN_ENOMEM, KETEN_EFIELD (another node's log). */
int auditlog_open(const char *path, const char *oin, const uint8_t *sk,
    const uint8_t pk[32], struct audit_keys *keys, const char *keys_path,
    struct auditlog **out, size_t *torn);

/* Append the records of one event (one per subject, or one with no
 * subject) to the turn's buffer.  Nothing is durable before
 * auditlog_commit.  0, KETEN_EAUDITKEY, KETEN_ETOOBIG, KETEN_ENOMEM. */
int auditlog_append(struct auditlog *l, const struct audit_event *e);

/* Sign a checkpoint over every record appended so far (when any was
 * appended since the last one, or force) and append it to the buffer.
 * note, when not NULL, gets a copy of the signed note (also when nothing
 * new was signed: the latest).  0 or an error. */
int auditlog_checkpoint(struct auditlog *l, int force, struct buf *note);

/* Write the buffer and fdatasync the file: one fsync for the whole turn.
 * On failure the file is cut back to its last durable length, the buffer
 * is dropped and the error returned (KETEN_EFULL for a full disk,
 * KETEN_EIO): the caller must refuse the turn's actions. */
int auditlog_commit(struct auditlog *l);

/* Drop the buffer of a turn that is not going to be acted upon (the
 * records were never durable). */
void auditlog_rollback(struct auditlog *l);

/* The turn's frames, not yet durable, and the byte offset of the file
 * they go to (p is valid until the next call on l). */
void auditlog_staged(const struct auditlog *l, uint64_t *off, const uint8_t **p, size_t *len);

/* The caller has made the staged frames durable elsewhere (its store, in
 * the transaction of the turn they record): they are the log's now.
 * Write them to the file without waiting for the disk.  On a failed
 * write the file is cut back to its last whole frame and every later
 * write fails too (KETEN_EIO) until the log is opened again and the
 * missing frames put back: the caller keeps them and stops. */
int auditlog_write(struct auditlog *l);

/* fdatasync the file; *synced (may be NULL) gets the number of bytes of
 * the file on disk: the caller's copies of frames before it may go.  A
 * failed fdatasync leaves the log as after a failed write: nothing from
 * then on is known to be on disk, every later call fails (KETEN_EIO). */
int auditlog_sync(struct auditlog *l, uint64_t *synced);

/* Bytes of durable frames not yet known to be on disk in the file. */
uint64_t auditlog_unsynced(const struct auditlog *l);

/* Before auditlog_open: put frames kept elsewhere back into the log file
 * open on fd (read and write) at byte offset off (a crash may have lost
 * them from the file).  Bytes already there are compared: where the file
 * differs from p it may hold only zeros (blocks that did not reach the
 * disk, anywhere in the range), else KETEN_ETAMPER and the file is left
 * as it is; a file that ends before off lost frames that were on disk:
 * KETEN_ETAMPER.  All of p is written, also where nothing differs (see
 * auditlog.c); *restored gets the number of bytes that differed or were
 * missing.  The caller makes the file durable (fdatasync) once, after
 * the last, whenever it restored a row. */
int auditlog_restore(int fd, uint64_t off, const uint8_t *p, size_t len, size_t *restored);

/* Records in the log, durable or buffered. */
uint64_t auditlog_size(const struct auditlog *l);
/* Records durable. */
uint64_t auditlog_durable_size(const struct auditlog *l);
/* Whether the log's last checkpoint (as opened) was signed with another
 * key than the one the writer now signs with: the node's key changed. */
int auditlog_key_changed(const struct auditlog *l);

/* Tree size of the last checkpoint signed. */
uint64_t auditlog_checkpointed_size(const struct auditlog *l);
/* ms since the epoch of the last checkpoint signed, 0 if none. */
uint64_t auditlog_last_checkpoint_ms(const struct auditlog *l);

void auditlog_destroy(struct auditlog **lp);

/* Retention: remove the bodies of the records written before before_ms
 * that are not pruned yet (only records of processing: start, stop,
 * configuration, key and pruning records are kept whole).  First a PRUNE
 * record naming the range, period and policy is made durable with a
 * checkpoint; then the log is rewritten (temporary file, fsync, rename,
 * fsync of the directory) with PRUNED frames in their place, which keep
 * the leaf hashes: the tree and every checkpoint still verify.  Every
 * rewrite removes the prunable bodies in the ranges of all PRUNE records,
 * so one an earlier rewrite could not finish (an I/O error after its
 * PRUNE record was durable) is finished by the next; with again set, the
 * log is rewritten for that even when nothing new is due.  Call between
 * turns.  *removed gets the number of bodies removed.  0, KETEN_ESTATE
 * (records pending), or an I/O error. */
int auditlog_prune(struct auditlog *l, uint64_t before_ms, const char *period,
    const char *policy, int again, uint64_t *removed);

/* --- reading and verifying (the auditor, offline) ------------------ */

/* A log mapped read-only. */
struct auditlog_file {
	const uint8_t *p;
	size_t len;
	int fd;
};

/* For a reader going through f front to back: every 16 MiB, the pages
 * before off are given back (MADV_DONTNEED), so that reading a large log
 * once (a node's start, verify) does not hold the whole file in memory.
 * The mapping is read-only: a page touched again is mapped again from the
 * file, so pointers into it stay good.  *released starts at 0. */
void auditlog_file_release(const struct auditlog_file *f, size_t off, size_t *released);

/* Map path read-only.  0, KETEN_EIO, KETEN_EFIELD (not an audit log). */
int auditlog_file_open(const char *path, struct auditlog_file *f);
void auditlog_file_close(struct auditlog_file *f);

/* Called for every frame in order; index is the record index (for
 * RECORD and PRUNED), rec the parsed record (RECORD only; owned by the
 * reader, valid during the call).  Return non-zero to stop. */
typedef int (*auditlog_each_fn)(void *arg, const struct auditlog_frame *f,
    uint64_t index, const Keten__V1__AuditRecord *rec);

/* Walk the frames of a mapped log.  0, the callback's non-zero value, or
 * the frame/record error (KETEN_ETORN, KETEN_ETAMPER, KETEN_EFIELD) with
 * *bad_offset set. */
int auditlog_each(const struct auditlog_file *f, int parse, auditlog_each_fn fn,
    void *arg, size_t *bad_offset);
/* The same from the frame at offset start, whose record index is index
 * (a frame boundary the caller knows, e.g. from the subject index). */
int auditlog_each_from(const struct auditlog_file *f, size_t start, uint64_t index,
    int parse, auditlog_each_fn fn, void *arg, size_t *bad_offset);

/* Trusted signing keys for verification, in the order the node used
 * them: a checkpoint must be signed by the key that the log's latest
 * LOG_START or KEY record before it names, and that key must be one of
 * these (if none are given, the log's own first key is used and the
 * report says so). */
struct auditlog_trust {
	const uint8_t (*keys)[32];
	size_t n_keys;
	const char *oin;		/* expected node, or NULL: the log's own */
	const uint8_t *const *notes;	/* checkpoints from elsewhere (witnesses) */
	const size_t *note_lens;
	size_t n_notes;
};

/* What verify found.  Problems are reported through the callback as they
 * are found (what is wrong, where); the first of each class is kept. */
struct auditlog_report {
	uint64_t records, pruned, checkpoints, covered;
	uint64_t identifiers;		/* records that look like holding a raw identifier */
	uint64_t prune_records;
	uint64_t first_time, last_time;
	char oin[21];
	int tamper, torn, policy;	/* counts */
	size_t torn_offset;
	uint8_t root[32];		/* of all records */
	int keys_from_log;		/* no trusted keys were given */
	size_t keys_named;		/* with keys_from_log: the distinct keys its
					 * LOG_START and KEY records name */
};

typedef void (*auditlog_problem_fn)(void *arg, int code, uint64_t index,
    size_t offset, const char *what);

/* Verify every frame, record, the tree and every checkpoint of a mapped
 * log.  Returns 0 when all is well, else the worst found: KETEN_ETAMPER,
 * then KETEN_ETORN, then KETEN_EPOLICY. */
int auditlog_verify(const struct auditlog_file *f, const struct auditlog_trust *t,
    struct auditlog_report *rep, auditlog_problem_fn problem, void *arg);

/* The leaf hashes of every record of a mapped log (for proofs); caller
 * frees *leaves.  0, KETEN_ENOMEM or a frame error. */
int auditlog_leaves(const struct auditlog_file *f, uint8_t (**leaves)[32], uint64_t *n);

#endif
