/*
 * config.h — ketend's configuration file, ketend.conf (INI, split into
 * lines and keys by libinih).  ketend.conf(5) and conf/ketend.conf.example
 * describe every section and key with its default.
 *
 * Loading is all or nothing: an unknown section or key, a section or key
 * given twice, a bad value, a value out of its range or a missing required
 * key is an error, and no configuration is returned.  The message names
 * the file and the line ("/etc/keten/ketend.conf:12: [limits] retry_max:
 * \"2 minutes\" is not a duration (...)"); a missing key has no line
 * ("/etc/keten/ketend.conf: [trust] authority: missing").  Relative paths
 * are taken relative to the directory of the configuration file.
 *
 * The configuration is read once at start (and by `ketend -n`); it is
 * plain data afterwards and may be read from any thread.  Loading calls
 * getgrnam(3), which is not thread-safe.
 */
#ifndef KETEN_CONFIG_H
#define KETEN_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_LOCAL_NAME_MAX 32	/* bytes of a [local NAME] */
#define CONFIG_LOCAL_MAX 64		/* [local NAME] sections */
#define CONFIG_LOCAL_MODE 0660		/* default mode of a local socket */
/* Largest max_message_size: KETEN_MAX_ENVELOPE, the most an envelope may
 * be on the wire (envelope.h, PROTOCOL.md §12); also the default. */
#define CONFIG_MAX_MESSAGE_SIZE (64ull << 20)
/* The smallest: a batch between nodes is up to 64 KiB (peer.h). */
#define CONFIG_MIN_MESSAGE_SIZE (64ull << 10)
/* The longest lifetime of a message, ms: [limits] default_ttl's bound and
 * a submission's (a longer one never expires in practice, and the clock
 * plus it must fit the store's signed 64 bits). */
#define CONFIG_TTL_MAX_MS (366ull * 24 * 3600 * 1000)

/* One local system ([local NAME]): who may connect (the socket's mode and
 * group) and what it may do.  Deny by default: a kind not in send_kinds,
 * a purpose not listed, a kind not in recv_kinds is refused. */
struct config_local {
	char name[CONFIG_LOCAL_NAME_MAX + 1];
	char socket[256];		/* "ipc:///absolute/path", unique */
	mode_t mode;			/* 0..0770, never a bit for others */
	gid_t gid;			/* resolved at load; when has_group */
	int has_group;
	uint32_t send_kinds;		/* bit 1u << kind (Kind of envelope.proto) */
	uint32_t recv_kinds;		/* never RECEIPT, never KIND_UNSPECIFIED */
	char **purposes;		/* npurposes codes it may send for */
	size_t npurposes;
	int any_purpose;		/* purposes = * */
};

/* The node's configuration.  Paths are absolute after config_load() (or
 * relative to the directory of config_parse_buffer()'s name); durations
 * are milliseconds. */
struct config {
	char path[PATH_MAX];		/* the file, as given to config_load() */
	/* [node] */
	char oin[21];			/* 20 digits */
	char listen[256];		/* "tcp://HOST:PORT" */
	char state_dir[PATH_MAX];
	char user[64];			/* account to drop to; "" when not set */
	int log_level;			/* enum log_level of log.h; default info */
	int use_syslog;			/* default 0 */
	/* [keys] */
	char sign_key[PATH_MAX];
	char seal_key[PATH_MAX];
	char curve_key[PATH_MAX];
	/* [trust] */
	char ca[PATH_MAX];
	char crl[PATH_MAX];
	char directory[PATH_MAX];
	char authority[21];		/* OIN that signs the directory */
	char mandates[PATH_MAX];	/* the mandate bundle; "" none: nothing may move */
	/* [limits]: default (range) */
	uint64_t clock_skew_ms;		/* 5m (0..1d) */
	uint64_t max_message_size;	/* 64MiB (CONFIG_MIN_.._MAX_MESSAGE_SIZE) */
	uint64_t default_ttl_ms;	/* 14d (1s..366d) */
	uint64_t retry_initial_ms;	/* 1s (10ms..1h), <= retry_max_ms */
	uint64_t retry_max_ms;		/* 5m (10ms..1d) */
	uint32_t batch_max;		/* 256 (1..KETEN_MAX_BATCH) */
	uint64_t batch_delay_ms;	/* 0ms (0..1s) */
	uint64_t heartbeat_ms;		/* 10s (100ms..1h) */
	uint64_t linger_ms;		/* 2s (0..1m) */
	int store_sync_full;		/* store_sync: full (1, default) or normal (0) */
	uint64_t max_store_size;	/* 0: none (0..1TiB); a full store refuses submits */
	/* [audit] */
	char audit_log[PATH_MAX];	/* default state_dir/audit.log */
	char audit_keys[PATH_MAX];	/* default state_dir/audit.keys */
	uint64_t audit_retention_ms;	/* 0: keep all (else >= 31d) */
	uint64_t audit_checkpoint_ms;	/* 1s (100ms..1h): checkpoint while the log grows */
	/* [local NAME] sections, in file order */
	struct config_local *locals;
	size_t nlocals;
};

/*
 * Read and load the file at path (at most 1 MiB).  On success *out is a
 * new configuration the caller owns (config_destroy()).  On error *out is
 * NULL and err (errlen bytes, may be 0) holds the message.  Errors:
 * KETEN_ECONFIG (anything wrong with the contents; also a file that is
 * not a regular file, is larger than 1 MiB, or is writable by others),
 * KETEN_EIO (the file cannot be opened or read), KETEN_ENOMEM.
 */
int config_load(const char *path, struct config **out, char *err, size_t errlen);

/*
 * The same from len bytes of text (need not be NUL-terminated; a NUL byte
 * is an error): the parser behind config_load(), also for tests and the
 * fuzzer.  name stands for the file in messages and its directory anchors
 * relative paths as given (relative when name is).  No permission check.
 * Errors: KETEN_ECONFIG, KETEN_ENOMEM.
 */
int config_parse_buffer(const char *name, const char *text, size_t len, struct config **out,
    char *err, size_t errlen);

/* Free the configuration and set *cp to NULL; NULL-safe and idempotent. */
void config_destroy(struct config **cp);

/* The [local NAME] section called name, borrowed from c (valid until
 * config_destroy()), or NULL. */
const struct config_local *config_local_find(const struct config *c, const char *name);

/* 1 if the local system may submit a message of kind (Kind enum) for
 * purpose, else 0: kind in its send list, and purpose listed (or
 * purposes = *).  NULL l or purpose, or a kind out of range: 0. */
int config_local_may_send(const struct config_local *l, int kind, const char *purpose);

/* 1 if the local system may subscribe to messages of kind, else 0. */
int config_local_may_receive(const struct config_local *l, int kind);
/* 1 if it may read a message of kind for purpose (the kind in its
 * receive list, the purpose among its own, or purposes = *), else 0. */
int config_local_may_read(const struct config_local *l, int kind, const char *purpose);
/* A local system of c that may receive kind for purpose (its purposes are
 * the processing activities it is registered for), or NULL. */
const struct config_local *config_local_receiver(const struct config *c, int kind,
    const char *purpose);

#endif
