/*
 * config.c — ketend.conf; see config.h and ketend.conf(5).
 *
 * libinih splits each line into section, key and value and strips blanks
 * and inline comments; what the keys mean is in the table below.  Our
 * reader hands libinih one line at a time and checks the line's shape
 * first, because libinih on its own would
 *   - take an indented line for the continuation of the previous value
 *     (and an indented key for the previous key "given twice"): leading
 *     blanks are dropped here, so indenting is harmless and there are no
 *     continuation lines;
 *   - cut a line longer than its buffer in two and parse both halves:
 *     such a line is refused here;
 *   - go on after a malformed line and name it only at the end, after the
 *     handler may have reported a later line: here the first mistake stops
 *     the parse;
 *   - not tell the handler about a section header, only about keys, so an
 *     empty unknown section or an empty [local NAME] would go unnoticed:
 *     headers are taken here.
 * The reader also keeps p->line, the line the handler is looking at.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "envelope.h"
#include "envelope.pb-c.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define CONFIG_FILE_MAX (1u << 20)
_Static_assert(CONFIG_MAX_MESSAGE_SIZE == KETEN_MAX_ENVELOPE,
    "max_message_size is bounded by the largest envelope");
#define DAY (24ull * 3600 * 1000)
/* Longest path of a Unix socket (sun_path holds the terminating NUL). */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

enum { SEC_NONE = -1, SEC_NODE, SEC_KEYS, SEC_TRUST, SEC_LIMITS, SEC_AUDIT, NSEC,
	SEC_LOCAL = NSEC };
static const char *const sections[NSEC] = { "node", "keys", "trust", "limits", "audit" };

enum vtype { V_OIN, V_USER, V_PATH, V_ENDPOINT, V_LEVEL, V_BOOL, V_DURATION, V_SIZE, V_UINT,
	V_SYNC };

/* One key of a fixed section: where it goes, whether it must be given,
 * and the bounds of a number.  Defaults are set by defaults(). */
struct key {
	int sec;
	const char *name;
	enum vtype type;
	size_t off;		/* offset in struct config */
	size_t size;		/* of the field */
	int required;
	uint64_t min, max;	/* durations (ms), sizes (bytes), numbers */
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static const struct key keys[] = {
	{ SEC_NODE, "oin", V_OIN, F(oin), 1, 0, 0 },
	{ SEC_NODE, "listen", V_ENDPOINT, F(listen), 1, 0, 0 },
	{ SEC_NODE, "state_dir", V_PATH, F(state_dir), 1, 0, 0 },
	{ SEC_NODE, "user", V_USER, F(user), 0, 0, 0 },
	{ SEC_NODE, "log_level", V_LEVEL, F(log_level), 0, 0, 0 },
	{ SEC_NODE, "syslog", V_BOOL, F(use_syslog), 0, 0, 0 },
	{ SEC_KEYS, "sign_key", V_PATH, F(sign_key), 1, 0, 0 },
	{ SEC_KEYS, "seal_key", V_PATH, F(seal_key), 1, 0, 0 },
	{ SEC_KEYS, "curve_key", V_PATH, F(curve_key), 1, 0, 0 },
	{ SEC_TRUST, "ca", V_PATH, F(ca), 1, 0, 0 },
	{ SEC_TRUST, "crl", V_PATH, F(crl), 1, 0, 0 },
	{ SEC_TRUST, "directory", V_PATH, F(directory), 1, 0, 0 },
	{ SEC_TRUST, "authority", V_OIN, F(authority), 1, 0, 0 },
	{ SEC_TRUST, "mandates", V_PATH, F(mandates), 0, 0, 0 },
	{ SEC_LIMITS, "clock_skew", V_DURATION, F(clock_skew_ms), 0, 0, DAY },
	/* Nothing larger can be an envelope (PROTOCOL.md §12), so a larger
	 * frame would only be buffered to be refused; nothing smaller than
	 * a batch between nodes (§14.2). */
	{ SEC_LIMITS, "max_message_size", V_SIZE, F(max_message_size), 0,
	    CONFIG_MIN_MESSAGE_SIZE, CONFIG_MAX_MESSAGE_SIZE },
	{ SEC_LIMITS, "default_ttl", V_DURATION, F(default_ttl_ms), 0, 1000, CONFIG_TTL_MAX_MS },
	{ SEC_LIMITS, "retry_initial", V_DURATION, F(retry_initial_ms), 0, 10, 3600000 },
	{ SEC_LIMITS, "retry_max", V_DURATION, F(retry_max_ms), 0, 10, DAY },
	{ SEC_LIMITS, "batch_max", V_UINT, F(batch_max), 0, 1, KETEN_MAX_BATCH },
	{ SEC_LIMITS, "batch_delay", V_DURATION, F(batch_delay_ms), 0, 0, 1000 },
	/* node.c hands these two to ZeroMQ as an int of milliseconds. */
	{ SEC_LIMITS, "heartbeat", V_DURATION, F(heartbeat_ms), 0, 100, 3600000 },
	{ SEC_LIMITS, "linger", V_DURATION, F(linger_ms), 0, 0, 60000 },
	{ SEC_LIMITS, "store_sync", V_SYNC, F(store_sync_full), 0, 0, 0 },
	/* 0: no cap.  A cap is a number of SQLite pages (store.c). */
	{ SEC_LIMITS, "max_store_size", V_SIZE, F(max_store_size), 0, 0, 1ull << 40 },
	/* The log and its keys default to the state directory (finish()). */
	{ SEC_AUDIT, "log", V_PATH, F(audit_log), 0, 0, 0 },
	{ SEC_AUDIT, "keys", V_PATH, F(audit_keys), 0, 0, 0 },
	/* 0: keep everything.  Otherwise at least a month: pruning works in
	 * whole key periods (calendar months). */
	{ SEC_AUDIT, "retention", V_DURATION, F(audit_retention_ms), 0, 0, 100 * 366 * DAY },
	{ SEC_AUDIT, "checkpoint_interval", V_DURATION, F(audit_checkpoint_ms), 0, 100, 3600000 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

enum { LK_SOCKET, LK_MODE, LK_GROUP, LK_SEND, LK_RECEIVE, LK_PURPOSES, NLK };
static const char *const local_keys[NLK] = {
	"socket", "mode", "group", "send", "receive", "purposes"
};

struct parse {
	const char *name;	/* the file, for messages */
	const char *dir;	/* anchors relative paths */
	const char *text;
	size_t len, pos;
	int line;		/* the line being looked at, from 1 */
	struct config *c;
	int sec;		/* SEC_* of the current section */
	size_t cur;		/* index of the current [local NAME] */
	int sec_line[NSEC];	/* line of each header; 0: not seen */
	int key_line[NKEYS];
	int local_line[CONFIG_LOCAL_MAX];
	int local_key_line[CONFIG_LOCAL_MAX][NLK];
	char *err;
	size_t errlen;
	int failed;		/* the error code once something failed */
};

static int
fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the first error as "file:line: message"; returns -1. */
static int
fail(struct parse *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (p->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errlen > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->name, p->line, msg);
	p->failed = KETEN_ECONFIG;
	return -1;
}

static int
fail_nomem(struct parse *p)
{
	fail(p, "out of memory");
	p->failed = KETEN_ENOMEM;
	return -1;
}

/* ------------------------------------------------------------------ */
/* values */

/* A decimal number without sign or blanks; *rest is what follows. */
static int
parse_u64(const char *s, uint64_t *v, const char **rest)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	*v = x;
	*rest = end;
	return 0;
}

static const struct { const char *unit; uint64_t mul; } dunits[] = {
	{ "d", DAY }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
};
#define NDUNITS (sizeof(dunits) / sizeof(dunits[0]))

static const struct { const char *unit; uint64_t mul; } sunits[] = {
	{ "GiB", 1ull << 30 }, { "MiB", 1ull << 20 }, { "KiB", 1ull << 10 }, { "", 1 },
};
#define NSUNITS (sizeof(sunits) / sizeof(sunits[0]))

/* "250ms", "5s", "2m", "1h", "14d": the unit is required. */
static int
parse_duration(const char *s, uint64_t *ms)
{
	const char *rest;
	uint64_t v;

	if (parse_u64(s, &v, &rest) != 0)
		return -1;
	for (size_t i = 0; i < NDUNITS; i++)
		if (strcmp(rest, dunits[i].unit) == 0) {
			if (v > UINT64_MAX / dunits[i].mul)
				return -1;
			*ms = v * dunits[i].mul;
			return 0;
		}
	return -1;
}

/* "65536", "64KiB", "64MiB", "1GiB" */
static int
parse_size(const char *s, uint64_t *bytes)
{
	const char *rest;
	uint64_t v;

	if (parse_u64(s, &v, &rest) != 0)
		return -1;
	for (size_t i = 0; i < NSUNITS; i++)
		if (strcmp(rest, sunits[i].unit) == 0) {
			if (v > UINT64_MAX / sunits[i].mul)
				return -1;
			*bytes = v * sunits[i].mul;
			return 0;
		}
	return -1;
}

/* An amount as the operator would write it: "1d", "64MiB", "1024". */
static const char *
fmt_amount(enum vtype t, uint64_t v, char *buf, size_t len)
{
	for (size_t i = 0; t == V_DURATION && i < NDUNITS; i++)
		if (v % dunits[i].mul == 0 && (v != 0 || dunits[i].mul == 1)) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(v / dunits[i].mul),
			    dunits[i].unit);
			return buf;
		}
	for (size_t i = 0; t == V_SIZE && i < NSUNITS; i++)
		if (v % sunits[i].mul == 0 && (v != 0 || sunits[i].mul == 1)) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(v / sunits[i].mul),
			    sunits[i].unit);
			return buf;
		}
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

/* tcp://HOST:PORT with HOST a name, an IPv4 address, [IPv6] or *, and
 * PORT 1..65535.  ZeroMQ's other forms (a source address, port *) make no
 * sense for the address other nodes are told to reach. */
static int
endpoint_ok(const char *v)
{
	const char *h, *colon;
	uint64_t port;
	const char *rest;

	if (strncmp(v, "tcp://", 6) != 0)
		return 0;
	h = v + 6;
	if (h[0] == '[') {
		const char *close = strchr(h, ']');

		if (close == NULL || close == h + 1)
			return 0;
		for (const char *q = h + 1; q < close; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return 0;
		colon = close + 1;
		if (*colon != ':')
			return 0;
	} else {
		if ((colon = strrchr(h, ':')) == NULL || colon == h)
			return 0;
		for (const char *q = h; q < colon; q++)
			if (!isalnum((unsigned char)*q) && strchr(".-_*", *q) == NULL)
				return 0;
		if (memchr(h, '*', (size_t)(colon - h)) != NULL && colon != h + 1)
			return 0;
	}
	if (strlen(colon + 1) > 5 || parse_u64(colon + 1, &port, &rest) != 0 ||
	    rest[0] != '\0' || port == 0 || port > 65535)
		return 0;
	return 1;
}

/* A user name as useradd(8) takes it: [A-Za-z0-9._-], not starting with
 * '-', at most 32 bytes, perhaps ending in '$'. */
static int
user_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL &&
		    !(s[i] == '$' && i == n - 1))
			return 0;
	return 1;
}

static int
set_path(struct parse *p, const char *v, char *dst, size_t size)
{
	int n;

	if (v[0] == '\0')
		return -1;
	if (v[0] == '/')
		n = snprintf(dst, size, "%s", v);
	else
		n = snprintf(dst, size, "%s%s%s", p->dir,
		    p->dir[0] != '\0' && p->dir[strlen(p->dir) - 1] == '/' ? "" : "/", v);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int
set_key(struct parse *p, const struct key *k, const char *v)
{
	const char *sec = sections[k->sec];
	char *field = (char *)p->c + k->off;
	char lo[32], hi[32];
	uint64_t x = 0;
	int b;

	switch (k->type) {
	case V_OIN:
		if (!oin_valid(v))
			return fail(p, "[%s] %s: \"%.64s\" is not a 20-digit OIN", sec, k->name, v);
		memcpy(field, v, KETEN_OIN_LEN + 1);
		return 0;
	case V_USER:
		if (!user_ok(v) || strlen(v) >= k->size)
			return fail(p, "[%s] %s: \"%.64s\" is not a user name", sec, k->name, v);
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case V_PATH:
		if (set_path(p, v, field, k->size) != 0)
			return fail(p, "[%s] %s: %s", sec, k->name, v[0] == '\0' ? "empty" :
			    "path too long");
		return 0;
	case V_ENDPOINT:
		if (!endpoint_ok(v) || strlen(v) >= k->size)
			return fail(p, "[%s] %s: \"%.64s\" is not tcp://HOST:PORT", sec, k->name, v);
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case V_LEVEL:
		if ((b = log_level_from_name(v)) < 0)
			return fail(p, "[%s] %s: \"%.64s\" is not error, warn, info or debug", sec,
			    k->name, v);
		*(int *)field = b;
		return 0;
	case V_BOOL:
		if (strcmp(v, "yes") == 0)
			b = 1;
		else if (strcmp(v, "no") == 0)
			b = 0;
		else
			return fail(p, "[%s] %s: \"%.64s\" is not yes or no", sec, k->name, v);
		*(int *)field = b;
		return 0;
	case V_SYNC:
		if (strcmp(v, "full") == 0)
			b = 1;
		else if (strcmp(v, "normal") == 0)
			b = 0;
		else
			return fail(p, "[%s] %s: \"%.64s\" is not full or normal", sec, k->name, v);
		*(int *)field = b;
		return 0;
	case V_DURATION:
		if (parse_duration(v, &x) != 0)
			return fail(p, "[%s] %s: \"%.64s\" is not a duration (a number and ms, s, "
			    "m, h or d)", sec, k->name, v);
		break;
	case V_SIZE:
		if (parse_size(v, &x) != 0)
			return fail(p, "[%s] %s: \"%.64s\" is not a size (bytes, or a number and "
			    "KiB, MiB or GiB)", sec, k->name, v);
		break;
	case V_UINT: {
		const char *rest;

		if (parse_u64(v, &x, &rest) != 0 || rest[0] != '\0')
			return fail(p, "[%s] %s: \"%.64s\" is not a number", sec, k->name, v);
		break;
	}
	}
	if (x < k->min || x > k->max)
		return fail(p, "[%s] %s: %s is out of range (%s..%s)", sec, k->name, v,
		    fmt_amount(k->type, k->min, lo, sizeof(lo)),
		    fmt_amount(k->type, k->max, hi, sizeof(hi)));
	if (k->type == V_UINT)
		*(uint32_t *)field = (uint32_t)x;
	else
		*(uint64_t *)field = x;
	return 0;
}

/* ------------------------------------------------------------------ */
/* [local NAME] */

static int
is_sep(char ch)
{
	return ch == ' ' || ch == '\t' || ch == ',';
}

/* A list of kind names ("DOSSIER_DELIVERY, case_event", any case) or "*"
 * for every message kind.  RECEIPT is no message a system sends or
 * receives: the node makes and consumes receipts. */
static int
set_kinds(struct parse *p, const struct config_local *l, const char *key, const char *v,
    uint32_t *mask)
{
	char tok[64];
	size_t n;
	int k;

	*mask = 0;
	for (;;) {
		while (is_sep(*v))
			v++;
		if (*v == '\0')
			return 0;
		for (n = 0; v[n] != '\0' && !is_sep(v[n]); n++)
			;
		if (n >= sizeof(tok))
			return fail(p, "[local %s] %s: unknown kind \"%.24s...\"", l->name, key, v);
		for (size_t i = 0; i < n; i++)
			tok[i] = (char)toupper((unsigned char)v[i]);
		tok[n] = '\0';
		v += n;
		if (strcmp(tok, "*") == 0) {
			for (k = 1; k < 32; k++)
				if (kind_name(k) != NULL && k != KETEN__V1__KIND__RECEIPT)
					*mask |= 1u << k;
			continue;
		}
		k = kind_from_name(tok);
		if (k == KETEN__V1__KIND__RECEIPT)
			return fail(p, "[local %s] %s: RECEIPT is not a message kind", l->name, key);
		if (k <= 0 || k >= 32)
			return fail(p, "[local %s] %s: unknown kind \"%s\"", l->name, key, tok);
		*mask |= 1u << k;
	}
}

/* Purpose codes are compared as given; the envelope allows up to
 * KETEN_MAX_PURPOSE - 1 bytes. */
static int
purpose_ok(const char *s, size_t n)
{
	if (n == 0 || n >= KETEN_MAX_PURPOSE)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._:/-", s[i]) == NULL)
			return 0;
	return 1;
}

static int
set_purposes(struct parse *p, struct config_local *l, const char *v)
{
	for (;;) {
		size_t n;
		char **grown;

		while (is_sep(*v))
			v++;
		if (*v == '\0')
			return 0;
		for (n = 0; v[n] != '\0' && !is_sep(v[n]); n++)
			;
		if (n == 1 && v[0] == '*') {
			l->any_purpose = 1;
		} else {
			if (!purpose_ok(v, n))
				return fail(p, "[local %s] purposes: \"%.*s\" is not a purpose code",
				    l->name, (int)(n > 64 ? 64 : n), v);
			if ((grown = realloc(l->purposes, (l->npurposes + 1) * sizeof(*grown))) == NULL)
				return fail_nomem(p);
			l->purposes = grown;
			if ((l->purposes[l->npurposes] = strndup(v, n)) == NULL)
				return fail_nomem(p);
			l->npurposes++;
		}
		v += n;
	}
}

static int
set_socket(struct parse *p, struct config_local *l, const char *v)
{
	const char *path = v + strlen("ipc://");
	size_t n;

	if (strncmp(v, "ipc:///", 7) != 0)
		return fail(p, "[local %s] socket: \"%.64s\" is not ipc:///absolute/path", l->name, v);
	n = strlen(path);
	if (path[n - 1] == '/' || strpbrk(path, " \t") != NULL)
		return fail(p, "[local %s] socket: \"%.64s\" is not ipc:///absolute/path", l->name, v);
	/* One way to write each path: two sections must not name one file
	 * two ways past the check below. */
	if (strstr(path, "//") != NULL || strstr(path, "/./") != NULL ||
	    strstr(path, "/../") != NULL || (n >= 2 && strcmp(path + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(path + n - 3, "/..") == 0))
		return fail(p, "[local %s] socket: \"%.64s\": write the path without //, . or ..",
		    l->name, v);
	if (n > SOCKET_PATH_MAX)
		return fail(p, "[local %s] socket: path longer than %zu bytes, the most a Unix "
		    "socket's can be", l->name, SOCKET_PATH_MAX);
	for (const struct config_local *o = p->c->locals; o < p->c->locals + p->c->nlocals; o++)
		if (o != l && strcmp(o->socket, v) == 0)
			return fail(p, "[local %s] socket: also the socket of [local %s]", l->name,
			    o->name);
	memcpy(l->socket, v, strlen(v) + 1);
	return 0;
}

static int
set_local(struct parse *p, size_t li, const char *name, const char *v)
{
	struct config_local *l = &p->c->locals[li];
	int k;

	for (k = 0; k < NLK; k++)
		if (strcmp(name, local_keys[k]) == 0)
			break;
	if (k == NLK)
		return fail(p, "[local %s] %.64s: unknown key", l->name, name);
	if (p->local_key_line[li][k] != 0)
		return fail(p, "[local %s] %s: given twice (first at line %d)", l->name, name,
		    p->local_key_line[li][k]);
	p->local_key_line[li][k] = p->line;
	switch (k) {
	case LK_SOCKET:
		return set_socket(p, l, v);
	case LK_MODE: {
		size_t n = strlen(v);
		unsigned long m;

		/* As chmod(1) takes it: 660 or 0660. */
		if (n < 3 || n > 4 || strspn(v, "01234567") != n)
			return fail(p, "[local %s] mode: \"%.64s\" is not an octal mode such as 0660",
			    l->name, v);
		m = strtoul(v, NULL, 8);
		if (m > 0777)
			return fail(p, "[local %s] mode: %s: set-id and sticky bits are not allowed",
			    l->name, v);
		if (m & 0007)
			return fail(p, "[local %s] mode: %04lo lets others connect; admit a local "
			    "system by its group", l->name, m);
		l->mode = (mode_t)m;
		return 0;
	}
	case LK_GROUP: {
		struct group *g;

		if (v[0] == '\0')
			return fail(p, "[local %s] group: empty", l->name);
		if ((g = getgrnam(v)) == NULL)
			return fail(p, "[local %s] group: no such group \"%.64s\"", l->name, v);
		l->gid = g->gr_gid;
		l->has_group = 1;
		return 0;
	}
	case LK_SEND:
		return set_kinds(p, l, name, v, &l->send_kinds);
	case LK_RECEIVE:
		return set_kinds(p, l, name, v, &l->recv_kinds);
	case LK_PURPOSES:
		return set_purposes(p, l, v);
	}
	return 0;
}

static int
local_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_LOCAL_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    strchr("._-", s[i]) == NULL)
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* lines */

/* "[name]", perhaps followed by blanks and a comment. */
static int
open_section(struct parse *p, const char *s)
{
	const char *end = strchr(s, ']'), *rest;
	char name[64];
	size_t n;

	if (end == NULL)
		return fail(p, "section header without ]");
	for (rest = end + 1; *rest == ' ' || *rest == '\t'; rest++)
		;
	if (strchr("#;\r\n", *rest) == NULL)
		return fail(p, "text after the section header");
	n = (size_t)(end - (s + 1));
	if (n >= sizeof(name))
		return fail(p, "[%.32s...]: unknown section", s + 1);
	memcpy(name, s + 1, n);
	name[n] = '\0';
	for (int i = 0; i < NSEC; i++) {
		if (strcmp(name, sections[i]) != 0)
			continue;
		if (p->sec_line[i] != 0)
			return fail(p, "[%s]: section given twice (first at line %d)", name,
			    p->sec_line[i]);
		p->sec_line[i] = p->line;
		p->sec = i;
		return 0;
	}
	if (strcmp(name, "local") == 0)
		return fail(p, "[local]: the section needs a name: [local NAME]");
	if (strncmp(name, "local ", 6) == 0) {
		const char *lname = name + 6;
		struct config *c = p->c;
		struct config_local *grown, *l;

		if (!local_name_ok(lname))
			return fail(p, "[%s]: the name is not [a-z0-9._-]{1,%d}", name,
			    CONFIG_LOCAL_NAME_MAX);
		for (size_t i = 0; i < c->nlocals; i++)
			if (strcmp(c->locals[i].name, lname) == 0)
				return fail(p, "[%s]: section given twice (first at line %d)", name,
				    p->local_line[i]);
		if (c->nlocals == CONFIG_LOCAL_MAX)
			return fail(p, "[%s]: more than %d local systems", name, CONFIG_LOCAL_MAX);
		if ((grown = realloc(c->locals, (c->nlocals + 1) * sizeof(*grown))) == NULL)
			return fail_nomem(p);
		c->locals = grown;
		l = &c->locals[c->nlocals];
		memset(l, 0, sizeof(*l));
		memcpy(l->name, lname, strlen(lname) + 1);
		l->mode = CONFIG_LOCAL_MODE;
		p->local_line[c->nlocals] = p->line;
		p->cur = c->nlocals++;
		p->sec = SEC_LOCAL;
		return 0;
	}
	return fail(p, "[%s]: unknown section", name);
}

/*
 * s: one line without its leading blanks, n bytes (the '\n' included when
 * there is one; comments cut off).  0 when libinih may have it.  libinih
 * ends the key at the first '=' or ':'; we take '=' only, so that both of
 * us see the same key.
 */
static int
check_line(struct parse *p, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\t' || ch == '\n' || (ch == '\r' && (i + 1 == n || s[i + 1] == '\n')))
			continue;
		if (ch < 0x20 || ch == 0x7f)
			return fail(p, "control character 0x%02x", ch);
	}
	if (strchr("#;\r\n", s[0]) != NULL)	/* also the empty line: s[0] == '\0' */
		return 0;
	if (s[0] == '[')
		return open_section(p, s);
	for (i = 0; s[i] != '\0' && s[i] != '=' && s[i] != ':'; i++)
		;
	if (s[i] != '=')
		return fail(p, "not a [section] or key = value line");
	if (i == 0)
		return fail(p, "no key before the =");
	if (p->sec == SEC_NONE)
		return fail(p, "key = value before the first [section]");
	return 0;
}

/* libinih's reader: one line at a time (fgets-like), checked. */
static char *
reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n = 0, skip = 0;

	if (p->failed || p->pos >= p->len || num < 3)
		return NULL;
	p->line++;
	while (p->pos < p->len && n + 1 < (size_t)num) {
		char ch = p->text[p->pos++];

		str[n++] = ch;
		if (ch == '\n')
			break;
	}
	str[n] = '\0';
	if (str[n - 1] != '\n' && p->pos < p->len) {
		fail(p, "line longer than %d characters", num - 2);
		return NULL;
	}
	/* A byte order mark is what some editors start a UTF-8 file with. */
	if (p->line == 1 && n >= 3 && memcmp(str, "\xef\xbb\xbf", 3) == 0)
		skip = 3;
	while (skip < n && (str[skip] == ' ' || str[skip] == '\t'))
		skip++;
	n -= skip;
	memmove(str, str + skip, n + 1);
	/* A ';' or '#' after a blank starts a comment.  libinih knows only
	 * ';'; without this, "state_dir = /var/lib/keten  # the store" would
	 * name a directory with a comment in its name. */
	if (str[0] != '#' && str[0] != ';')
		for (size_t i = 1; i < n; i++)
			if ((str[i] == '#' || str[i] == ';') &&
			    (str[i - 1] == ' ' || str[i - 1] == '\t')) {
				str[i] = '\0';
				n = i;
				break;
			}
	if (check_line(p, str, n) != 0)
		return NULL;
	return str;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;

	(void)section;		/* the reader took the header: p->sec */
	if (p->failed)
		return 0;
	if (name == NULL || value == NULL)
		return 1;
	if (p->sec == SEC_LOCAL)
		return set_local(p, p->cur, name, value) == 0;
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].sec != p->sec || strcmp(keys[i].name, name) != 0)
			continue;
		if (p->key_line[i] != 0)
			return fail(p, "[%s] %s: given twice (first at line %d)", sections[p->sec],
			    name, p->key_line[i]) == 0;
		p->key_line[i] = p->line;
		return set_key(p, &keys[i], value) == 0;
	}
	return fail(p, "[%s] %.64s: unknown key", sections[p->sec], name) == 0;
}

/* ------------------------------------------------------------------ */
/* loading */

static void
defaults(struct config *c)
{
	c->log_level = LOG_LEVEL_INFO;
	c->use_syslog = 0;
	c->clock_skew_ms = KETEN_DEFAULT_SKEW_MS;
	c->max_message_size = CONFIG_MAX_MESSAGE_SIZE;
	c->default_ttl_ms = 14 * DAY;
	c->retry_initial_ms = 1000;
	c->retry_max_ms = 5 * 60000;
	c->batch_max = 256;
	c->batch_delay_ms = 0;
	c->heartbeat_ms = 10000;
	c->linger_ms = 2000;
	c->store_sync_full = 1;
	c->audit_checkpoint_ms = 1000;
}

/* What needs the whole file: required keys, each local system's socket,
 * and the keys that bound each other. */
static int
finish(struct parse *p)
{
	struct config *c = p->c;

	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].required && p->key_line[i] == 0) {
			snprintf(p->err, p->errlen, "%s: [%s] %s: missing", p->name,
			    sections[keys[i].sec], keys[i].name);
			return p->failed = KETEN_ECONFIG;
		}
	for (size_t i = 0; i < c->nlocals; i++)
		if (p->local_key_line[i][LK_SOCKET] == 0) {
			snprintf(p->err, p->errlen, "%s: [local %s] socket: missing", p->name,
			    c->locals[i].name);
			return p->failed = KETEN_ECONFIG;
		}
	if (c->audit_log[0] == '\0' &&
	    snprintf(c->audit_log, sizeof(c->audit_log), "%s/audit.log", c->state_dir) >=
	    (int)sizeof(c->audit_log))
		return fail(p, "[node] state_dir: too long for the audit log's path");
	if (c->audit_keys[0] == '\0' &&
	    snprintf(c->audit_keys, sizeof(c->audit_keys), "%s/audit.keys", c->state_dir) >=
	    (int)sizeof(c->audit_keys))
		return fail(p, "[node] state_dir: too long for the audit keys' path");
	if (c->audit_retention_ms != 0 && c->audit_retention_ms < 31 * DAY) {
		for (size_t i = 0; i < NKEYS; i++)
			if (strcmp(keys[i].name, "retention") == 0)
				p->line = p->key_line[i];
		return fail(p, "[audit] retention: shorter than a month (31d), the "
		    "smallest period whose key can be destroyed");
	}
	/* A cap smaller than a few pages would refuse even the schema. */
	if (c->max_store_size != 0 && c->max_store_size < (1ull << 20)) {
		for (size_t i = 0; i < NKEYS; i++)
			if (strcmp(keys[i].name, "max_store_size") == 0)
				p->line = p->key_line[i];
		return fail(p, "[limits] max_store_size: 0 (no cap) or at least 1MiB");
	}
	if (c->retry_initial_ms > c->retry_max_ms) {
		int li = 0, lm = 0;
		char a[32], b[32];

		for (size_t i = 0; i < NKEYS; i++)
			if (strcmp(keys[i].name, "retry_initial") == 0)
				li = p->key_line[i];
			else if (strcmp(keys[i].name, "retry_max") == 0)
				lm = p->key_line[i];
		fmt_amount(V_DURATION, c->retry_initial_ms, a, sizeof(a));
		fmt_amount(V_DURATION, c->retry_max_ms, b, sizeof(b));
		/* Name the later of the two lines: the one that made them clash
		 * (a default is never at fault: the defaults agree). */
		p->line = li > lm ? li : lm;
		if (li > lm)
			return fail(p, "[limits] retry_initial: %s is longer than retry_max (%s)", a, b);
		return fail(p, "[limits] retry_max: %s is shorter than retry_initial (%s)", b, a);
	}
	return 0;
}

static int
parse_text(const char *name, const char *dir, const char *text, size_t len,
    struct config **out, char *err, size_t errlen)
{
	struct parse *p;
	int r;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->c = calloc(1, sizeof(*p->c))) == NULL) {
		free(p);
		snprintf(err, errlen, "%s: out of memory", name);
		return KETEN_ENOMEM;
	}
	p->name = name;
	p->dir = dir;
	p->text = text;
	p->len = len;
	p->err = err;
	p->errlen = errlen;
	p->sec = SEC_NONE;
	snprintf(p->c->path, sizeof(p->c->path), "%s", name);
	defaults(p->c);
	r = ini_parse_stream(reader, p, handler, p);
	if (!p->failed && r != 0) {
		/* The reader lets through only what libinih takes; should it
		 * disagree all the same, this names its line. */
		p->line = r;
		fail(p, r < 0 ? "cannot be parsed" : "not a [section] or key = value line");
	}
	if (!p->failed)
		finish(p);
	r = p->failed;
	if (r != 0)
		config_destroy(&p->c);
	else
		*out = p->c;
	free(p);
	return r;
}

int
config_parse_buffer(const char *name, const char *text, size_t len, struct config **out,
    char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(name, '/');

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == name)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
	return parse_text(name, dir, text, len, out, err, errlen);
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	char dir[PATH_MAX], cwd[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r = KETEN_ECONFIG;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return KETEN_EIO;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		r = KETEN_EIO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	/* It names the keys, the account to run as and who may use the
	 * local sockets: anyone who may write it may become the node. */
	if (st.st_mode & S_IWOTH) {
		snprintf(err, errlen, "%s: writable by others (mode %04o); chmod o-w",
		    path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	/* Read by root, it chooses the account root becomes: only root may
	 * write it then (not the node's own account, which could otherwise
	 * make the next start become any other). */
	if (geteuid() == 0 && (st.st_uid != 0 || (st.st_mode & S_IWGRP))) {
		snprintf(err, errlen, "%s: read as root, it must be owned by root and not writable "
		    "by its group (owner uid %u, mode %04o)", path, (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((text = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		r = KETEN_ENOMEM;
		goto out;
	}
	/* Read to EOF rather than trusting st_size: the file may change. */
	while (len <= CONFIG_FILE_MAX) {
		if ((n = read(fd, text + len, CONFIG_FILE_MAX + 1 - len)) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			r = KETEN_EIO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %u KiB", path, CONFIG_FILE_MAX >> 10);
		goto out;
	}
	/* Relative paths in the file are relative to its directory; made
	 * absolute now, so that they do not change meaning if the working
	 * directory does. */
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL) {
		snprintf(err, errlen, "%s: cannot tell the working directory: %s", path,
		    strerror(errno));
		r = KETEN_EIO;
		goto out;
	}
	if (path[0] == '/' && slash == path)
		r = snprintf(dir, sizeof(dir), "/");
	else if (path[0] == '/')
		r = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else if (slash == NULL)
		r = snprintf(dir, sizeof(dir), "%s", cwd);
	else
		r = snprintf(dir, sizeof(dir), "%s/%.*s", cwd, (int)(slash - path), path);
	if (r < 0 || (size_t)r >= sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", path);
		r = KETEN_ECONFIG;
		goto out;
	}
	r = parse_text(path, dir, text, len, out, err, errlen);
out:
	free(text);
	close(fd);
	return r;
}

void
config_destroy(struct config **cp)
{
	struct config *c;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	for (size_t i = 0; i < c->nlocals; i++) {
		for (size_t j = 0; j < c->locals[i].npurposes; j++)
			free(c->locals[i].purposes[j]);
		free(c->locals[i].purposes);
	}
	free(c->locals);
	free(c);
	*cp = NULL;
}

const struct config_local *
config_local_find(const struct config *c, const char *name)
{
	for (size_t i = 0; c != NULL && name != NULL && i < c->nlocals; i++)
		if (strcmp(c->locals[i].name, name) == 0)
			return &c->locals[i];
	return NULL;
}

static int
local_purpose(const struct config_local *l, const char *purpose)
{
	if (l->any_purpose)
		return 1;
	for (size_t i = 0; purpose != NULL && i < l->npurposes; i++)
		if (strcmp(l->purposes[i], purpose) == 0)
			return 1;
	return 0;
}

int
config_local_may_send(const struct config_local *l, int kind, const char *purpose)
{
	if (l == NULL || kind <= 0 || kind >= 32 || !(l->send_kinds & (1u << kind)))
		return 0;
	return local_purpose(l, purpose);
}

const struct config_local *
config_local_receiver(const struct config *c, int kind, const char *purpose)
{
	for (size_t i = 0; i < c->nlocals; i++)
		if (config_local_may_receive(&c->locals[i], kind) &&
		    local_purpose(&c->locals[i], purpose))
			return &c->locals[i];
	return NULL;
}

int
config_local_may_receive(const struct config_local *l, int kind)
{
	return l != NULL && kind > 0 && kind < 32 && (l->recv_kinds & (1u << kind)) != 0;
}

int
config_local_may_read(const struct config_local *l, int kind, const char *purpose)
{
	return config_local_may_receive(l, kind) && local_purpose(l, purpose);
}
