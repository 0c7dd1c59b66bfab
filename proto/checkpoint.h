/*
 * checkpoint.h — transparency-log checkpoints of the audit log, in the
 * C2SP formats (c2sp.org/signed-note, c2sp.org/tlog-checkpoint,
 * c2sp.org/tlog-cosignature), so that existing log tools can read them.
 *
 * A checkpoint is a signed note whose text (the body) is exactly three
 * lines, with no extension lines:
 *
 *	<origin>\n<tree size, decimal>\n<base64 of the 32-byte root>\n
 *
 * followed by a blank line and one or more signature lines
 * "— <key name> <base64(key ID || signature)>\n".  keten signs only with
 * Ed25519 timestamped cosignatures (signature type 0x04, "cosignature/v1"):
 * the node signs its own checkpoint with key name == origin
 * ("keten/audit/v1/<OIN>"), which gives the checkpoint its time, and a
 * witness adds a line of its own ("keten/witness/v1/<OIN>").  Signatures
 * are verified over the body bytes as received, never over a re-encoding;
 * signature lines of keys the verifier was not asked about are ignored, as
 * the signed-note specification requires.
 */
#ifndef KETEN_CHECKPOINT_H
#define KETEN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define CHECKPOINT_MAX 8192		/* longest note accepted, bytes */
#define CHECKPOINT_ORIGIN_MAX 255	/* longest origin (and key name we sign with) */
#define CHECKPOINT_MAX_SIGS 16		/* most signature lines accepted in a note */

/* The contents of a checkpoint.  Plain values, owned by the caller. */
struct checkpoint {
	char origin[CHECKPOINT_ORIGIN_MAX + 1];	/* NUL-terminated */
	uint64_t size;				/* tree size, <= 2^63 - 1 */
	uint8_t root[32];			/* RFC 6962 Merkle root */
	uint64_t time;	/* timestamp of the verified signature, seconds; 0 from checkpoint_parse */
};

/* Sign a new checkpoint and append the full note (body, blank line, one
 * type-0x04 cosignature line by key_name with timestamp time_s) to out;
 * out keeps ownership with the caller and is left unchanged on failure.
 * origin: 1..CHECKPOINT_ORIGIN_MAX bytes of 0x21..0x7e other than '+';
 * key_name: the same rule (the node's own key name is the origin);
 * size and time_s at most 2^63 - 1 (POSIX seconds); sk: libsodium's
 * 64-byte Ed25519 secret key, whose public half must equal pk.
 * Errors: KETEN_EINVAL (an argument breaks the rules above), KETEN_ETOOBIG
 * (out cannot take the note), KETEN_ENOMEM. */
int checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[32], uint64_t time_s,
    const char *key_name, const uint8_t *sk, const uint8_t pk[32], struct buf *out);

/* Cosign: append the note (len bytes, as received) followed by one more
 * type-0x04 signature line by key_name, timestamp time_s, to out (owned by
 * the caller, unchanged on failure).  The note must pass checkpoint_parse;
 * its signatures are not checked here: a witness verifies the log's
 * signature (checkpoint_verify) and the consistency with what it saw
 * before it calls this.  Arguments follow the rules of checkpoint_sign.
 * Errors: those of checkpoint_parse; KETEN_EEXIST (the note already has a
 * signature of this key); KETEN_ETOOBIG (the result would pass
 * CHECKPOINT_MAX bytes or CHECKPOINT_MAX_SIGS lines, or out cannot take
 * it); KETEN_EINVAL; KETEN_ENOMEM. */
int checkpoint_cosign(const uint8_t *note, size_t len, const char *key_name, const uint8_t *sk,
    const uint8_t pk[32], uint64_t time_s, struct buf *out);

/* Parse a note strictly without checking any signature: ASCII except the
 * em dash that opens each signature line, no control characters but \n,
 * exactly three body lines (valid origin; decimal size without leading
 * zeros, <= 2^63 - 1; canonical padded base64 of exactly 32 bytes), the
 * blank line, 1..CHECKPOINT_MAX_SIGS signature lines (key name non-empty
 * without spaces or '+', canonical base64 of at least 4 bytes), and
 * nothing after the last newline.  Fills *out (time = 0) when out is not
 * NULL; zeroes it on failure.
 * Errors: KETEN_EFIELD (malformed), KETEN_ETOOBIG (more than CHECKPOINT_MAX
 * bytes or CHECKPOINT_MAX_SIGS signature lines), KETEN_EINVAL (note NULL). */
int checkpoint_parse(const uint8_t *note, size_t len, struct checkpoint *out);

/* Parse the note, then verify the signature line(s) of the type-0x04 key
 * (key_name, pk) over the body bytes received.  Lines of other keys (other
 * name or other key ID) are ignored.  The note is refused when no line is
 * of this key, when a line of this key does not verify (blob not exactly
 * 4 + 8 + 64 bytes, timestamp above 2^63 - 1, bad signature), and when the
 * key signed twice.  Fills *out (time = the signature's timestamp) when
 * out is not NULL; zeroes it on failure.  Whether a time in the future or
 * a smaller tree than one seen before is acceptable is the caller's call.
 * Errors: those of checkpoint_parse; KETEN_EBADSIG; KETEN_EINVAL (key_name
 * breaks the rules of checkpoint_sign, or pk NULL). */
int checkpoint_verify(const uint8_t *note, size_t len, const char *key_name, const uint8_t pk[32],
    struct checkpoint *out) __attribute__((warn_unused_result));

/* The key ID of a type-0x04 (Ed25519 cosignature) key:
 * SHA-256(key_name || "\n" || 0x04 || pk)[:4], big-endian as bytes.
 * key_name is a NUL-terminated string; all pointers must be valid. */
void checkpoint_key_id(const char *key_name, const uint8_t pk[32], uint8_t id[4]);

/* Length of the body (up to and including the newline of the third line)
 * of a note that passes checkpoint_parse, 0 otherwise.  Two notes state
 * the same checkpoint when their bodies are the same bytes. */
size_t checkpoint_body_len(const uint8_t *note, size_t len);

#endif
