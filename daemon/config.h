/*
 * config.h — ketend's configuration file (INI, parsed with libinih).
 * The format, every key and its default are in ketend.conf(5) and
 * conf/ketend.conf.example.
 *
 * Loading is all or nothing: an unknown section or key, a key given
 * twice, a bad value or a missing required key is an error whose message
 * names the file and line ("ketend.conf:12: [limits] retry_max: not a
 * duration"), and nothing is returned.  Relative paths are taken relative
 * to the directory of the configuration file.
 */
#ifndef KETEN_CONFIG_H
#define KETEN_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_LOCAL_NAME_MAX 32
#define CONFIG_LOCAL_MAX 64

/* One local system: who may connect (socket mode and group) and what it
 * may do (kinds it may send and receive, purposes it may send for). */
struct config_local {
	char name[CONFIG_LOCAL_NAME_MAX + 1];
	char socket[256];		/* "ipc:///absolute/path" */
	mode_t mode;
	int has_group;
	gid_t gid;
	uint32_t send_kinds;		/* bit 1u << kind */
	uint32_t recv_kinds;
	int any_purpose;		/* purposes = * */
	char **purposes;
	size_t npurposes;
};

struct config {
	char path[PATH_MAX];
	/* [node] */
	char oin[21];
	char listen[256];
	char state_dir[PATH_MAX];
	char user[64];			/* "" when not set */
	int log_level;			/* enum log_level of log.h */
	int use_syslog;
	/* [keys] */
	char sign_key[PATH_MAX];
	char seal_key[PATH_MAX];
	char curve_key[PATH_MAX];
	/* [trust] */
	char ca[PATH_MAX];
	char crl[PATH_MAX];
	char directory[PATH_MAX];
	char authority[21];
	/* [limits] */
	uint64_t clock_skew_ms;
	uint64_t max_message_size;
	uint64_t default_ttl_ms;
	uint64_t retry_initial_ms;
	uint64_t retry_max_ms;
	uint32_t batch_max;
	uint64_t batch_delay_ms;
	uint64_t heartbeat_ms;
	uint64_t linger_ms;
	int store_sync_full;
	/* [local NAME] ... */
	struct config_local *locals;
	size_t nlocals;
};

/* Load path.  On success *out is the caller's (config_destroy).  On error
 * KETEN_ECONFIG (or KETEN_EIO when the file cannot be read, KETEN_ENOMEM)
 * with the reason in err (errlen bytes). */
int config_load(const char *path, struct config **out, char *err, size_t errlen);

/* The same from a buffer (len bytes); name stands for the file in
 * messages and its directory anchors relative paths. */
int config_parse_buffer(const char *name, const char *text, size_t len, struct config **out,
    char *err, size_t errlen);

void config_destroy(struct config **cp);

/* The local system called name, or NULL. */
const struct config_local *config_local_find(const struct config *c, const char *name);

/* 1 if the local system may send kind for purpose, else 0. */
int config_local_may_send(const struct config_local *l, int kind, const char *purpose);
/* 1 if it may receive kind. */
int config_local_may_receive(const struct config_local *l, int kind);

#endif
