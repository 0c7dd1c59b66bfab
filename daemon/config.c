/*
 * config.c — see config.h.  libinih splits the file into (section, key,
 * value); this file knows what each key means.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "buf.h"
#include "config.h"
#include "envelope.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define CONFIG_FILE_MAX (1u << 20)
#define LINE_MAX_LEN 1024

enum vtype { V_OIN, V_STR, V_PATH, V_ENDPOINT, V_LEVEL, V_BOOL, V_DURATION, V_SIZE, V_UINT,
	V_SYNC };

struct key {
	const char *section;
	const char *name;
	enum vtype type;
	size_t off;		/* offset in struct config */
	size_t size;		/* of a string field */
	int required;
	uint64_t min, max;	/* durations (ms), sizes, numbers */
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define DAY (24ull * 3600 * 1000)

static const struct key keys[] = {
	{ "node", "oin", V_OIN, F(oin), 1, 0, 0 },
	{ "node", "listen", V_ENDPOINT, F(listen), 1, 0, 0 },
	{ "node", "state_dir", V_PATH, F(state_dir), 1, 0, 0 },
	{ "node", "user", V_STR, F(user), 0, 0, 0 },
	{ "node", "log_level", V_LEVEL, F(log_level), 0, 0, 0 },
	{ "node", "syslog", V_BOOL, F(use_syslog), 0, 0, 0 },
	{ "keys", "sign_key", V_PATH, F(sign_key), 1, 0, 0 },
	{ "keys", "seal_key", V_PATH, F(seal_key), 1, 0, 0 },
	{ "keys", "curve_key", V_PATH, F(curve_key), 1, 0, 0 },
	{ "trust", "ca", V_PATH, F(ca), 1, 0, 0 },
	{ "trust", "crl", V_PATH, F(crl), 1, 0, 0 },
	{ "trust", "directory", V_PATH, F(directory), 1, 0, 0 },
	{ "trust", "authority", V_OIN, F(authority), 1, 0, 0 },
	{ "limits", "clock_skew", V_DURATION, F(clock_skew_ms), 0, 0, DAY },
	{ "limits", "max_message_size", V_SIZE, F(max_message_size), 0, 4096, 256ull << 20 },
	{ "limits", "default_ttl", V_DURATION, F(default_ttl_ms), 0, 1000, 366 * DAY },
	{ "limits", "retry_initial", V_DURATION, F(retry_initial_ms), 0, 10, 3600000 },
	{ "limits", "retry_max", V_DURATION, F(retry_max_ms), 0, 10, DAY },
	{ "limits", "batch_max", V_UINT, F(batch_max), 0, 1, 1024 },
	{ "limits", "batch_delay", V_DURATION, F(batch_delay_ms), 0, 0, 1000 },
	{ "limits", "heartbeat", V_DURATION, F(heartbeat_ms), 0, 100, 3600000 },
	{ "limits", "linger", V_DURATION, F(linger_ms), 0, 0, 60000 },
	{ "limits", "store_sync", V_SYNC, F(store_sync_full), 0, 0, 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

enum { LK_SOCKET, LK_MODE, LK_GROUP, LK_SEND, LK_RECEIVE, LK_PURPOSES, NLK };
static const char *const local_keys[NLK] = {
	"socket", "mode", "group", "send", "receive", "purposes"
};

struct parse {
	const char *name;	/* file name, for messages */
	char dir[PATH_MAX];	/* anchors relative paths */
	const char *text;
	size_t len, pos;
	int line;
	struct config *c;
	unsigned char seen[NKEYS];
	int seen_line[NKEYS];
	unsigned char local_seen[CONFIG_LOCAL_MAX][NLK];
	char section[64];
	char *err;
	size_t errlen;
	int failed;
};

static int
fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct parse *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (p->failed)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d: %s", p->name, p->line, msg);
	p->failed = 1;
	return 0;	/* stops libinih */
}

/* libinih's reader: one line at a time, so that p->line is the line the
 * handler is looking at. */
static char *
reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n = 0;

	if (p->pos >= p->len || num < 2)
		return NULL;
	while (p->pos < p->len && n + 1 < (size_t)num) {
		char ch = p->text[p->pos++];

		str[n++] = ch;
		if (ch == '\n')
			break;
	}
	str[n] = '\0';
	p->line++;
	return str;
}

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

/* "250ms", "5s", "2m", "1h", "14d" */
static int
parse_duration(const char *s, uint64_t *ms)
{
	static const struct { const char *unit; uint64_t mul; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", DAY },
	};
	const char *rest;
	uint64_t v;

	if (parse_u64(s, &v, &rest) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(rest, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mul)
				return -1;
			*ms = v * units[i].mul;
			return 0;
		}
	return -1;
}

/* "65536", "64KiB", "64MiB", "1GiB" */
static int
parse_size(const char *s, uint64_t *bytes)
{
	const char *rest;
	uint64_t v, mul = 1;

	if (parse_u64(s, &v, &rest) != 0)
		return -1;
	if (strcmp(rest, "KiB") == 0)
		mul = 1ull << 10;
	else if (strcmp(rest, "MiB") == 0)
		mul = 1ull << 20;
	else if (strcmp(rest, "GiB") == 0)
		mul = 1ull << 30;
	else if (rest[0] != '\0')
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*bytes = v * mul;
	return 0;
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
		n = snprintf(dst, size, "%s/%s", p->dir, v);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int
set_key(struct parse *p, const struct key *k, const char *v)
{
	char *field = (char *)p->c + k->off;
	uint64_t x = 0;
	int b;

	switch (k->type) {
	case V_OIN:
		if (!oin_valid(v))
			return fail(p, "[%s] %s: not a 20-digit OIN", k->section, k->name);
		memcpy(field, v, 21);
		return 1;
	case V_STR:
		if ((size_t)snprintf(field, k->size, "%s", v) >= k->size || !text_printable(v, k->size))
			return fail(p, "[%s] %s: too long or not printable", k->section, k->name);
		return 1;
	case V_PATH:
		if (set_path(p, v, field, k->size) != 0)
			return fail(p, "[%s] %s: empty or too long", k->section, k->name);
		return 1;
	case V_ENDPOINT:
		if (strncmp(v, "tcp://", 6) != 0 || strlen(v) >= k->size || strchr(v, ' ') != NULL)
			return fail(p, "[%s] %s: not tcp://HOST:PORT", k->section, k->name);
		memcpy(field, v, strlen(v) + 1);
		return 1;
	case V_LEVEL:
		if ((b = log_level_from_name(v)) < 0)
			return fail(p, "[%s] %s: not error, warn, info or debug", k->section, k->name);
		*(int *)field = b;
		return 1;
	case V_BOOL:
		if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
			b = 1;
		else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
			b = 0;
		else
			return fail(p, "[%s] %s: not yes or no", k->section, k->name);
		*(int *)field = b;
		return 1;
	case V_SYNC:
		if (strcmp(v, "full") == 0)
			b = 1;
		else if (strcmp(v, "normal") == 0)
			b = 0;
		else
			return fail(p, "[%s] %s: not full or normal", k->section, k->name);
		*(int *)field = b;
		return 1;
	case V_DURATION:
		if (parse_duration(v, &x) != 0)
			return fail(p, "[%s] %s: not a duration (a number and ms, s, m, h or d)",
			    k->section, k->name);
		break;
	case V_SIZE:
		if (parse_size(v, &x) != 0)
			return fail(p, "[%s] %s: not a size (bytes, or with KiB, MiB, GiB)",
			    k->section, k->name);
		break;
	case V_UINT: {
		const char *rest;

		if (parse_u64(v, &x, &rest) != 0 || rest[0] != '\0')
			return fail(p, "[%s] %s: not a number", k->section, k->name);
		break;
	}
	}
	if (x < k->min || x > k->max)
		return fail(p, "[%s] %s: %s is out of range", k->section, k->name, v);
	if (k->type == V_UINT)
		*(uint32_t *)field = (uint32_t)x;
	else
		*(uint64_t *)field = x;
	return 1;
}

/* A list of kind names ("DOSSIER_DELIVERY CASE_EVENT", commas allowed,
 * any case, "*" for all). */
static int
parse_kinds(const char *v, uint32_t *mask, char *bad, size_t badlen)
{
	char tok[64];
	size_t n;

	*mask = 0;
	while (*v != '\0') {
		while (*v == ' ' || *v == ',' || *v == '\t')
			v++;
		if (*v == '\0')
			break;
		for (n = 0; v[n] != '\0' && v[n] != ' ' && v[n] != ',' && v[n] != '\t'; n++)
			;
		if (n >= sizeof(tok)) {
			snprintf(bad, badlen, "%.20s...", v);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			tok[i] = (char)toupper((unsigned char)v[i]);
		tok[n] = '\0';
		v += n;
		if (strcmp(tok, "*") == 0) {
			for (int k = 1; kind_name(k) != NULL; k++)
				if (k != 7)	/* RECEIPT is not a message kind */
					*mask |= 1u << k;
			continue;
		}
		{
			int k = kind_from_name(tok);

			if (k <= 0 || k == 7) {
				snprintf(bad, badlen, "%s", tok);
				return -1;
			}
			*mask |= 1u << k;
		}
	}
	return 0;
}

static int
purpose_ok(const char *s, size_t n)
{
	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._:/-", s[i]) == NULL)
			return 0;
	return 1;
}

static int
parse_purposes(struct parse *p, struct config_local *l, const char *v)
{
	while (*v != '\0') {
		size_t n;
		char **grown;

		while (*v == ' ' || *v == ',' || *v == '\t')
			v++;
		if (*v == '\0')
			break;
		for (n = 0; v[n] != '\0' && v[n] != ' ' && v[n] != ',' && v[n] != '\t'; n++)
			;
		if (n == 1 && v[0] == '*') {
			l->any_purpose = 1;
		} else {
			if (!purpose_ok(v, n))
				return fail(p, "[local %s] purposes: \"%.*s\" is not a purpose code",
				    l->name, (int)(n > 64 ? 64 : n), v);
			if ((grown = realloc(l->purposes, (l->npurposes + 1) * sizeof(*grown))) == NULL)
				return fail(p, "out of memory");
			l->purposes = grown;
			if ((l->purposes[l->npurposes] = strndup(v, n)) == NULL)
				return fail(p, "out of memory");
			l->npurposes++;
		}
		v += n;
	}
	return 1;
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

static int
set_local(struct parse *p, struct config_local *l, size_t li, const char *name, const char *v)
{
	char bad[80];
	int k;

	for (k = 0; k < NLK; k++)
		if (strcmp(name, local_keys[k]) == 0)
			break;
	if (k == NLK)
		return fail(p, "[local %s] %s: unknown key", l->name, name);
	if (p->local_seen[li][k])
		return fail(p, "[local %s] %s: given twice", l->name, name);
	p->local_seen[li][k] = 1;
	switch (k) {
	case LK_SOCKET:
		if (strncmp(v, "ipc:///", 7) != 0 || strlen(v) >= sizeof(l->socket) ||
		    strchr(v, ' ') != NULL)
			return fail(p, "[local %s] socket: not ipc:///absolute/path", l->name);
		for (struct config_local *o = p->c->locals; o < l; o++)
			if (strcmp(o->socket, v) == 0)
				return fail(p, "[local %s] socket: also the socket of [local %s]",
				    l->name, o->name);
		memcpy(l->socket, v, strlen(v) + 1);
		return 1;
	case LK_MODE: {
		char *end;
		unsigned long m;

		errno = 0;
		m = strtoul(v, &end, 8);
		if (v[0] != '0' || *end != '\0' || errno != 0 || m > 0777)
			return fail(p, "[local %s] mode: not an octal mode such as 0660", l->name);
		if (m & 0007)
			return fail(p, "[local %s] mode: %04lo lets others connect; "
			    "use the group to admit a local system", l->name, m);
		l->mode = (mode_t)m;
		return 1;
	}
	case LK_GROUP: {
		struct group *g = getgrnam(v);

		if (g == NULL)
			return fail(p, "[local %s] group: no such group \"%.64s\"", l->name, v);
		l->gid = g->gr_gid;
		l->has_group = 1;
		return 1;
	}
	case LK_SEND:
	case LK_RECEIVE:
		if (parse_kinds(v, k == LK_SEND ? &l->send_kinds : &l->recv_kinds, bad,
		    sizeof(bad)) != 0)
			return fail(p, "[local %s] %s: unknown kind \"%s\"", l->name, name, bad);
		return 1;
	case LK_PURPOSES:
		return parse_purposes(p, l, v);
	}
	return 1;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	struct config *c = p->c;

	if (p->failed)
		return 0;
	/* A new section header: libinih calls with name == NULL only when
	 * built with INI_CALL_HANDLER_ON_NEW_SECTION; sections are checked
	 * here, at their first key, and at the end for empty ones. */
	if (name == NULL)
		return 1;
	if (strncmp(section, "local ", 6) == 0) {
		const char *lname = section + 6;
		struct config_local *l = NULL;
		size_t li;

		for (li = 0; li < c->nlocals; li++)
			if (strcmp(c->locals[li].name, lname) == 0)
				break;
		if (li < c->nlocals && strcmp(p->section, section) != 0)
			return fail(p, "[local %s]: section given twice", lname);
		if (li == c->nlocals) {
			struct config_local *grown;

			if (!local_name_ok(lname))
				return fail(p, "[local %.64s]: name is not [a-z0-9._-]{1,%d}", lname,
				    CONFIG_LOCAL_NAME_MAX);
			if (c->nlocals == CONFIG_LOCAL_MAX)
				return fail(p, "more than %d local systems", CONFIG_LOCAL_MAX);
			if ((grown = realloc(c->locals, (c->nlocals + 1) * sizeof(*grown))) == NULL)
				return fail(p, "out of memory");
			c->locals = grown;
			l = &c->locals[c->nlocals++];
			memset(l, 0, sizeof(*l));
			memcpy(l->name, lname, strlen(lname) + 1);
			l->mode = 0660;
			memset(p->local_seen[li], 0, NLK);
		}
		snprintf(p->section, sizeof(p->section), "%s", section);
		return set_local(p, &c->locals[li], li, name, value);
	}
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) != 0 || strcmp(keys[i].name, name) != 0)
			continue;
		if (p->seen[i])
			return fail(p, "[%s] %s: given twice (first at line %d)", section, name,
			    p->seen_line[i]);
		p->seen[i] = 1;
		p->seen_line[i] = p->line;
		snprintf(p->section, sizeof(p->section), "%s", section);
		return set_key(p, &keys[i], value);
	}
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0)
			return fail(p, "[%s] %s: unknown key", section, name);
	return fail(p, "[%s]: unknown section", section);
}

static void
defaults(struct config *c)
{
	c->log_level = LOG_LEVEL_INFO;
	c->clock_skew_ms = 5 * 60000;
	c->max_message_size = 64ull << 20;
	c->default_ttl_ms = 14 * DAY;
	c->retry_initial_ms = 1000;
	c->retry_max_ms = 5 * 60000;
	c->batch_max = 256;
	c->batch_delay_ms = 2;
	c->heartbeat_ms = 10000;
	c->linger_ms = 2000;
	c->store_sync_full = 1;
}

int
config_parse_buffer(const char *name, const char *text, size_t len, struct config **out,
    char *err, size_t errlen)
{
	struct parse *p;
	const char *slash;
	int r;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->c = calloc(1, sizeof(*p->c))) == NULL) {
		free(p);
		snprintf(err, errlen, "%s: out of memory", name);
		return KETEN_ENOMEM;
	}
	p->name = name;
	p->text = text;
	p->len = len;
	p->err = err;
	p->errlen = errlen;
	if ((slash = strrchr(name, '/')) == NULL)
		snprintf(p->dir, sizeof(p->dir), ".");
	else if (slash == name)
		snprintf(p->dir, sizeof(p->dir), "/");
	else
		snprintf(p->dir, sizeof(p->dir), "%.*s", (int)(slash - name), name);
	snprintf(p->c->path, sizeof(p->c->path), "%s", name);
	defaults(p->c);
	if (memchr(text, '\0', len) != NULL) {
		p->line = 0;
		fail(p, "contains a NUL byte");
	}
	if (!p->failed && (r = ini_parse_stream(reader, p, handler, p)) != 0 && !p->failed) {
		p->line = r;
		fail(p, r < 0 ? "cannot be read" : "not a [section] or key = value line");
	}
	if (!p->failed) {
		for (size_t i = 0; i < NKEYS; i++)
			if (keys[i].required && !p->seen[i]) {
				snprintf(err, errlen, "%s: [%s] %s: missing", name, keys[i].section,
				    keys[i].name);
				p->failed = 1;
				break;
			}
	}
	for (size_t i = 0; !p->failed && i < p->c->nlocals; i++)
		if (!p->local_seen[i][LK_SOCKET]) {
			snprintf(err, errlen, "%s: [local %s] socket: missing", name,
			    p->c->locals[i].name);
			p->failed = 1;
		}
	if (!p->failed && p->c->retry_initial_ms > p->c->retry_max_ms) {
		snprintf(err, errlen, "%s: [limits] retry_initial is longer than retry_max", name);
		p->failed = 1;
	}
	if (p->failed) {
		config_destroy(&p->c);
		free(p);
		return KETEN_ECONFIG;
	}
	*out = p->c;
	free(p);
	return 0;
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	struct buf *b = NULL;
	int r;

	*out = NULL;
	if ((r = buf_load_file(path, CONFIG_FILE_MAX, &b)) != 0) {
		snprintf(err, errlen, "%s: %s", path, r == KETEN_EIO ? strerror(errno) :
		    keten_strerror(r));
		return r == KETEN_ETOOBIG ? KETEN_ECONFIG : r;
	}
	r = config_parse_buffer(path, (const char *)buf_ptr(b), buf_len(b), out, err, errlen);
	buf_destroy(&b);
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
	for (size_t i = 0; c != NULL && i < c->nlocals; i++)
		if (strcmp(c->locals[i].name, name) == 0)
			return &c->locals[i];
	return NULL;
}

int
config_local_may_send(const struct config_local *l, int kind, const char *purpose)
{
	if (l == NULL || kind <= 0 || kind >= 32 || !(l->send_kinds & (1u << kind)))
		return 0;
	if (l->any_purpose)
		return 1;
	for (size_t i = 0; i < l->npurposes; i++)
		if (purpose != NULL && strcmp(l->purposes[i], purpose) == 0)
			return 1;
	return 0;
}

int
config_local_may_receive(const struct config_local *l, int kind)
{
	return l != NULL && kind > 0 && kind < 32 && (l->recv_kinds & (1u << kind)) != 0;
}
