/*
 * test_config.c — ketend.conf: a good file with every key, a minimal one
 * with every default, the syntax libinih and our reader accept, and each
 * kind of mistake refused with its exact "file:line: message"; real files
 * in a temporary directory for config_load() (relative paths, permissions,
 * size), and the shipped example.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "envelope.h"
#include "err.h"
#include "log.h"
#include "tap.h"

#ifndef KETEN_SRCDIR
#define KETEN_SRCDIR "."
#endif

#define NAME "/etc/keten/ketend.conf"
#define DAY_MS (86400000ull)

/* The required keys only: lines 1..13, so that a test appending lines
 * knows their numbers (line 14 is the first appended). */
#define NODE \
	"[node]\n" \
	"oin = 00000001999000050000\n" \
	"listen = tcp://127.0.0.1:7405\n" \
	"state_dir = state\n"
#define KEYS \
	"[keys]\n" \
	"sign_key = keys/sign.key\n" \
	"seal_key = /srv/keys/seal.key\n" \
	"curve_key = ./keys/curve.key\n"
#define TRUST \
	"[trust]\n" \
	"ca = ca.crt\n" \
	"crl = crl.pem\n" \
	"directory = directory.signed\n" \
	"authority = 00000001999000000000\n"
#define BASE NODE KEYS TRUST

/* Every key set, none to its default. */
static const char full[] =
    "# a node\n"
    "[node]\n"
    "oin = 00000001999000050000\n"
    "listen = tcp://[::1]:7405\n"
    "state_dir = /var/lib/keten\n"
    "user = keten\n"
    "log_level = debug\n"
    "syslog = yes\n"
    "\n"
    "[keys]\n"
    "sign_key = keys/sign.key\n"
    "seal_key = /etc/keten/keys/seal.key\n"
    "curve_key = keys/curve.key\n"
    "[trust]\n"
    "ca = ca.crt\n"
    "crl = crl.pem\n"
    "directory = ../keten-directory.signed\n"
    "authority = 00000001999000000000\n"
    "[limits]\n"
    "clock_skew = 90s\n"
    "max_message_size = 32MiB\n"
    "default_ttl = 3d\n"
    "retry_initial = 250ms\n"
    "retry_max = 2m\n"
    "batch_max = 64\n"
    "batch_delay = 0ms\n"
    "heartbeat = 1h\n"
    "linger = 0s\n"
    "store_sync = normal\n"
    "[local case]\n"
    "socket = ipc:///run/keten/case.sock\n"
    "mode = 0640\n"
    "send = DOSSIER_DELIVERY, case_event\n"
    "receive = *\n"
    "purposes = lvv-intake lvv-lso,urn:nl:lvv/escalatie\n"
    "[local police.avim-1]\n"
    "socket = ipc:///run/keten/avim.sock\n"
    "send =\n"
    "receive = police_notification\n"
    "purposes = *\n";

static int
parse(const char *text, struct config **c, char *err, size_t n)
{
	return config_parse_buffer(NAME, text, strlen(text), c, err, n);
}

/* Parse text and expect code with exactly the message want. */
static void
expect_at(int line, const char *text, size_t len, int code, const char *want)
{
	struct config *c = NULL;
	char err[600] = "";
	int r = config_parse_buffer(NAME, text, len, &c, err, sizeof(err));

	if (r != code || strcmp(err, want) != 0) {
		tap_failed_checks++;
		fprintf(stderr, "  FAIL %s:%d: got %d \"%s\"\n    want %d \"%s\"\n", __FILE__, line,
		    r, err, code, want);
	}
	if (code != 0 && c != NULL) {
		tap_failed_checks++;
		fprintf(stderr, "  FAIL %s:%d: a configuration with the error\n", __FILE__, line);
	}
	config_destroy(&c);
}
#define EXPECT(text, want) expect_at(__LINE__, (text), strlen(text), KETEN_ECONFIG, NAME want)
#define EXPECT_OK(text) expect_at(__LINE__, (text), strlen(text), 0, "")

/* text with the line starting with key replaced by line ("" removes it). */
static const char *
with(const char *text, const char *key, const char *line)
{
	static char out[8192];
	const char *p = strstr(text, key);
	const char *eol;

	if (p == NULL || (p != text && p[-1] != '\n')) {
		fprintf(stderr, "  no line %s in the text\n", key);
		abort();
	}
	eol = strchr(p, '\n') + 1;
	snprintf(out, sizeof(out), "%.*s%s%s%s", (int)(p - text), text, line,
	    line[0] != '\0' ? "\n" : "", eol);
	return out;
}

static void
test_full(void)
{
	struct config *c = NULL;
	char err[512] = "";
	const struct config_local *l, *a;

	CHECK_EQ(parse(full, &c, err, sizeof(err)), 0);
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(strcmp(c->path, NAME) == 0);
	CHECK(strcmp(c->oin, "00000001999000050000") == 0);
	CHECK(strcmp(c->listen, "tcp://[::1]:7405") == 0);
	CHECK(strcmp(c->state_dir, "/var/lib/keten") == 0);
	CHECK(strcmp(c->user, "keten") == 0);
	CHECK_EQ(c->log_level, LOG_LEVEL_DEBUG);
	CHECK_EQ(c->use_syslog, 1);
	CHECK(strcmp(c->sign_key, "/etc/keten/keys/sign.key") == 0);
	CHECK(strcmp(c->seal_key, "/etc/keten/keys/seal.key") == 0);
	CHECK(strcmp(c->curve_key, "/etc/keten/keys/curve.key") == 0);
	CHECK(strcmp(c->ca, "/etc/keten/ca.crt") == 0);
	CHECK(strcmp(c->crl, "/etc/keten/crl.pem") == 0);
	CHECK(strcmp(c->directory, "/etc/keten/../keten-directory.signed") == 0);
	CHECK(strcmp(c->authority, "00000001999000000000") == 0);
	CHECK_EQ(c->clock_skew_ms, 90000);
	CHECK_EQ(c->max_message_size, 32u << 20);
	CHECK_EQ(c->default_ttl_ms, 3 * DAY_MS);
	CHECK_EQ(c->retry_initial_ms, 250);
	CHECK_EQ(c->retry_max_ms, 120000);
	CHECK_EQ(c->batch_max, 64);
	CHECK_EQ(c->batch_delay_ms, 0);
	CHECK_EQ(c->heartbeat_ms, 3600000);
	CHECK_EQ(c->linger_ms, 0);
	CHECK_EQ(c->store_sync_full, 0);
	CHECK_EQ(c->nlocals, 2);

	CHECK((l = config_local_find(c, "case")) == &c->locals[0]);
	CHECK((a = config_local_find(c, "police.avim-1")) == &c->locals[1]);
	CHECK(config_local_find(c, "other") == NULL);
	CHECK(config_local_find(c, "cas") == NULL);
	CHECK(config_local_find(NULL, "case") == NULL);
	if (l != NULL) {
		CHECK(strcmp(l->socket, "ipc:///run/keten/case.sock") == 0);
		CHECK_EQ(l->mode, 0640);
		CHECK_EQ(l->has_group, 0);
		CHECK_EQ(l->send_kinds, (1u << 1) | (1u << 5));
		CHECK_EQ(l->recv_kinds, 0x7eu);	/* 1..6: every kind but RECEIPT */
		CHECK_EQ(l->npurposes, 3);
		CHECK_EQ(l->any_purpose, 0);
		CHECK(config_local_may_send(l, 1, "lvv-intake"));
		CHECK(config_local_may_send(l, 5, "lvv-lso"));
		CHECK(config_local_may_send(l, 5, "urn:nl:lvv/escalatie"));
		CHECK(!config_local_may_send(l, 5, "lvv"));
		CHECK(!config_local_may_send(l, 5, "LVV-LSO"));
		CHECK(!config_local_may_send(l, 5, NULL));
		CHECK(!config_local_may_send(l, 2, "lvv-intake"));
		CHECK(!config_local_may_send(l, 0, "lvv-intake"));
		CHECK(!config_local_may_send(l, 7, "lvv-intake"));
		CHECK(!config_local_may_send(l, -1, "lvv-intake"));
		CHECK(!config_local_may_send(l, 40, "lvv-intake"));
		for (int k = 1; k <= 6; k++)
			CHECK(config_local_may_receive(l, k));
		CHECK(!config_local_may_receive(l, 0));
		CHECK(!config_local_may_receive(l, 7));	/* RECEIPT is no message kind */
		CHECK(!config_local_may_receive(l, 32));
	}
	if (a != NULL) {
		CHECK_EQ(a->mode, CONFIG_LOCAL_MODE);
		CHECK_EQ(a->send_kinds, 0);
		CHECK_EQ(a->recv_kinds, 1u << 6);
		CHECK_EQ(a->any_purpose, 1);
		CHECK(!config_local_may_send(a, 6, "anything"));	/* sends nothing */
		CHECK(config_local_may_receive(a, 6));
		CHECK(!config_local_may_receive(a, 5));
	}
	CHECK(!config_local_may_send(NULL, 1, "x"));
	CHECK(!config_local_may_receive(NULL, 1));
	config_destroy(&c);
	CHECK(c == NULL);
	config_destroy(&c);
	config_destroy(NULL);
}

static void
test_defaults(void)
{
	struct config *c = NULL;
	char err[512] = "x";

	CHECK_EQ(parse(BASE, &c, err, sizeof(err)), 0);
	CHECK(err[0] == '\0');
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(strcmp(c->state_dir, "/etc/keten/state") == 0);
	CHECK(strcmp(c->sign_key, "/etc/keten/keys/sign.key") == 0);
	CHECK(strcmp(c->seal_key, "/srv/keys/seal.key") == 0);
	CHECK(strcmp(c->curve_key, "/etc/keten/./keys/curve.key") == 0);
	CHECK(strcmp(c->directory, "/etc/keten/directory.signed") == 0);
	CHECK(strcmp(c->user, "") == 0);
	CHECK_EQ(c->log_level, LOG_LEVEL_INFO);
	CHECK_EQ(c->use_syslog, 0);
	CHECK_EQ(c->clock_skew_ms, 5 * 60000);
	CHECK_EQ(c->clock_skew_ms, KETEN_DEFAULT_SKEW_MS);
	CHECK_EQ(c->max_message_size, 64u << 20);
	CHECK_EQ(c->max_message_size, KETEN_MAX_ENVELOPE);
	CHECK_EQ(c->default_ttl_ms, 14 * DAY_MS);
	CHECK_EQ(c->retry_initial_ms, 1000);
	CHECK_EQ(c->retry_max_ms, 5 * 60000);
	CHECK_EQ(c->batch_max, 256);
	CHECK_EQ(c->batch_delay_ms, 0);
	CHECK_EQ(c->max_store_size, 0);
	CHECK_EQ(c->heartbeat_ms, 10000);
	CHECK_EQ(c->linger_ms, 2000);
	CHECK_EQ(c->store_sync_full, 1);
	CHECK_EQ(c->nlocals, 0);
	CHECK(c->locals == NULL);
	config_destroy(&c);

	/* A local system with only its socket: mode 0660, no group, may
	 * send and receive nothing. */
	CHECK_EQ(parse(BASE "[local x]\nsocket = ipc:///tmp/x.sock\n", &c, err, sizeof(err)), 0);
	if (c != NULL && c->nlocals == 1) {
		const struct config_local *l = &c->locals[0];

		CHECK_EQ(l->mode, 0660);
		CHECK_EQ(l->has_group, 0);
		CHECK_EQ(l->send_kinds, 0);
		CHECK_EQ(l->recv_kinds, 0);
		CHECK_EQ(l->npurposes, 0);
		CHECK_EQ(l->any_purpose, 0);
		for (int k = 0; k < 8; k++) {
			CHECK(!config_local_may_send(l, k, "p"));
			CHECK(!config_local_may_receive(l, k));
		}
	}
	config_destroy(&c);

	/* A relative name anchors relative paths relative to itself. */
	CHECK_EQ(config_parse_buffer("ketend.conf", BASE, strlen(BASE), &c, err, sizeof(err)), 0);
	if (c != NULL)
		CHECK(strcmp(c->sign_key, "./keys/sign.key") == 0);
	config_destroy(&c);
	CHECK_EQ(config_parse_buffer("/ketend.conf", BASE, strlen(BASE), &c, err, sizeof(err)), 0);
	if (c != NULL)
		CHECK(strcmp(c->sign_key, "/keys/sign.key") == 0);
	config_destroy(&c);
}

static void
test_syntax(void)
{
	struct config *c = NULL;
	char err[512] = "";

	/* Indented keys (libinih alone would take them for continuation
	 * lines), CRLF, a byte order mark, blank and comment lines, inline
	 * comments after ; and #, no spaces around =, no final newline. */
	static const char ok[] =
	    "\xef\xbb\xbf; a comment\r\n"
	    "  [node]   # trailing comment\r\n"
	    "\toin=00000001999000050000\r\n"
	    "    listen = tcp://*:7405 ; inline\r\n"
	    "    state_dir = /var/lib/keten  # the store\r\n"
	    "\r\n"
	    "   \t \n"
	    "# [bogus]\n"
	    "[keys]\n"
	    "sign_key = a#b\n"
	    "seal_key = a;b\n"
	    "curve_key = c\n"
	    "[trust]\n"
	    "ca = ca.crt\n"
	    "crl = crl.pem\n"
	    "directory = d\n"
	    "authority = 00000001999000000000";

	CHECK_EQ(parse(ok, &c, err, sizeof(err)), 0);
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(strcmp(c->oin, "00000001999000050000") == 0);
	CHECK(strcmp(c->listen, "tcp://*:7405") == 0);
	CHECK(strcmp(c->state_dir, "/var/lib/keten") == 0);
	CHECK(strcmp(c->sign_key, "/etc/keten/a#b") == 0);
	CHECK(strcmp(c->seal_key, "/etc/keten/a;b") == 0);
	CHECK(strcmp(c->authority, "00000001999000000000") == 0);
	config_destroy(&c);

	EXPECT(BASE "this is not ini\n", ":14: not a [section] or key = value line");
	EXPECT(BASE "[limits]\nclock_skew: 5m\n", ":15: not a [section] or key = value line");
	EXPECT(BASE "[limits]\n= 5m\n", ":15: no key before the =");
	EXPECT(BASE "[limits]\nmax_store_size = 1000\n",
	    ":15: [limits] max_store_size: 0 (no cap) or at least 1MiB");
	EXPECT(BASE "[limits]\nclock_skew ; = 5m\n", ":15: not a [section] or key = value line");
	EXPECT("oin = 00000001999000050000\n" BASE, ":1: key = value before the first [section]");
	EXPECT(BASE "[limits\n", ":14: section header without ]");
	EXPECT(BASE "[limits] clock_skew = 5m\n", ":14: text after the section header");
	EXPECT(BASE "[limits]\nclock_skew = 5m\x01\n", ":15: control character 0x01");
	EXPECT(BASE "[limits]\nclock_skew = 5\rm\n", ":15: control character 0x0d");
	EXPECT(BASE "# \x7f\n", ":14: control character 0x7f");
	/* A NUL byte is named at its line, not taken for the end. */
	{
		static const char nul[] = BASE "[limits]\nclock_skew = 5m\0junk\n";

		expect_at(__LINE__, nul, sizeof(nul) - 1, KETEN_ECONFIG,
		    NAME ":15: control character 0x00");
	}
	/* An indented line is no continuation of the previous value. */
	EXPECT(BASE "[limits]\nclock_skew = 5m\n  5m\n", ":16: not a [section] or key = value line");

	/* A line longer than libinih's buffer is refused, not cut in two. */
	{
		char longer[2048];
		int n = snprintf(longer, sizeof(longer), "%s[limits]\nclock_skew = 5m%*s; %0400d\n",
		    BASE, 10, "", 0);

		CHECK_EQ(config_parse_buffer(NAME, longer, (size_t)n, &c, err, sizeof(err)),
		    KETEN_ECONFIG);
		CHECK(strncmp(err, NAME ":15: line longer than ", strlen(NAME ":15: line longer than "))
		    == 0);
	}
}

static void
test_missing(void)
{
	static const char *const req[][2] = {
		{ "oin =", "[node] oin" }, { "listen =", "[node] listen" },
		{ "state_dir =", "[node] state_dir" }, { "sign_key =", "[keys] sign_key" },
		{ "seal_key =", "[keys] seal_key" }, { "curve_key =", "[keys] curve_key" },
		{ "ca =", "[trust] ca" }, { "crl =", "[trust] crl" },
		{ "directory =", "[trust] directory" }, { "authority =", "[trust] authority" },
	};
	char want[128];

	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		const char *text = with(BASE, req[i][0], "");

		snprintf(want, sizeof(want), NAME ": %s: missing", req[i][1]);
		expect_at(__LINE__, text, strlen(text), KETEN_ECONFIG, want);
	}
	EXPECT("", ": [node] oin: missing");
	EXPECT(NODE KEYS, ": [trust] ca: missing");
	EXPECT(BASE "[local case]\nmode = 0600\n", ": [local case] socket: missing");
	EXPECT(BASE "[local case]\n", ": [local case] socket: missing");
}

static void
test_node(void)
{
	EXPECT(with(BASE, "oin =", "oin = 123"), ":2: [node] oin: \"123\" is not a 20-digit OIN");
	EXPECT(with(BASE, "oin =", "oin = 0000000199900005000a"),
	    ":2: [node] oin: \"0000000199900005000a\" is not a 20-digit OIN");
	EXPECT(with(BASE, "oin =", "oin = 000000019990000500001"),
	    ":2: [node] oin: \"000000019990000500001\" is not a 20-digit OIN");
	EXPECT(with(BASE, "oin =", "oin ="), ":2: [node] oin: \"\" is not a 20-digit OIN");
	EXPECT(with(BASE, "authority =", "authority = x"),
	    ":13: [trust] authority: \"x\" is not a 20-digit OIN");

	static const char *const bad_listen[] = {
		"127.0.0.1:7405", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://:7405",
		"tcp://127.0.0.1:0", "tcp://127.0.0.1:65536", "tcp://127.0.0.1:7405x",
		"tcp://127.0.0.1:*", "tcp://a*b:7405", "tcp://::1:7405", "tcp://[::1]7405",
		"tcp://[]:7405", "tcp://a b:7405", "tcp://10.0.0.1;10.0.0.2:7405",
		"ipc:///run/x", "tcp://127.0.0.1:+7405", "tcp://127.0.0.1:000007405",
	};
	for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
		char line[128], want[256];
		const char *text;

		snprintf(line, sizeof(line), "listen = %s", bad_listen[i]);
		snprintf(want, sizeof(want), NAME ":3: [node] listen: \"%s\" is not tcp://HOST:PORT",
		    bad_listen[i]);
		text = with(BASE, "listen =", line);
		expect_at(__LINE__, text, strlen(text), KETEN_ECONFIG, want);
	}
	EXPECT_OK(with(BASE, "listen =", "listen = tcp://node.example.nl:65535"));
	EXPECT_OK(with(BASE, "listen =", "listen = tcp://eth0:1"));
	EXPECT_OK(with(BASE, "listen =", "listen = tcp://[fe80::1]:7405"));

	EXPECT(with(BASE, "state_dir =", "state_dir ="), ":4: [node] state_dir: empty");
	EXPECT(NODE "user = -keten\n" KEYS TRUST, ":5: [node] user: \"-keten\" is not a user name");
	EXPECT(NODE "user = ket en\n" KEYS TRUST, ":5: [node] user: \"ket en\" is not a user name");
	EXPECT(NODE "user =\n" KEYS TRUST, ":5: [node] user: \"\" is not a user name");
	EXPECT(NODE "user = a23456789012345678901234567890123\n" KEYS TRUST,
	    ":5: [node] user: \"a23456789012345678901234567890123\" is not a user name");
	EXPECT_OK(NODE "user = svc_keten-1.x$\n" KEYS TRUST);
	EXPECT(NODE "log_level = verbose\n" KEYS TRUST,
	    ":5: [node] log_level: \"verbose\" is not error, warn, info or debug");
	EXPECT(NODE "log_level = INFO\n" KEYS TRUST,
	    ":5: [node] log_level: \"INFO\" is not error, warn, info or debug");
	EXPECT(NODE "syslog = true\n" KEYS TRUST, ":5: [node] syslog: \"true\" is not yes or no");
	EXPECT(BASE "[limits]\nstore_sync = off\n",
	    ":15: [limits] store_sync: \"off\" is not full or normal");

	/* A path longer than PATH_MAX after joining cannot be written on one
	 * line libinih takes; the line limit refuses it first. */
}

static void
test_unknown_and_twice(void)
{
	EXPECT(with(BASE, "state_dir =", "state_dir = s\ncolour = blue"),
	    ":5: [node] colour: unknown key");
	EXPECT(with(BASE, "state_dir =", "state_dir = s\nOIN = 00000001999000050000"),
	    ":5: [node] OIN: unknown key");
	EXPECT(BASE "[limits]\nsign_key = x\n", ":15: [limits] sign_key: unknown key");
	EXPECT(BASE "[local case]\nsocket = ipc:///run/c.sock\ncolour = blue\n",
	    ":16: [local case] colour: unknown key");
	EXPECT(BASE "[bogus]\n", ":14: [bogus]: unknown section");
	EXPECT(BASE "[bogus]\nx = 1\n", ":14: [bogus]: unknown section");
	EXPECT(BASE "[Node]\n", ":14: [Node]: unknown section");
	EXPECT(BASE "[]\n", ":14: []: unknown section");
	EXPECT(BASE "[ limits ]\n", ":14: [ limits ]: unknown section");

	EXPECT(with(BASE, "listen =", "listen = tcp://a:1\nlisten = tcp://a:2"),
	    ":4: [node] listen: given twice (first at line 3)");
	EXPECT(BASE "[limits]\nretry_max = 1m\nclock_skew = 1s\nretry_max = 1m\n",
	    ":17: [limits] retry_max: given twice (first at line 15)");
	EXPECT(BASE "[node]\n", ":14: [node]: section given twice (first at line 1)");
	EXPECT(BASE "[limits]\n[limits]\n", ":15: [limits]: section given twice (first at line 14)");
	EXPECT(BASE "[local a]\nsocket = ipc:///a\nsend = *\nsend = *\n",
	    ":17: [local a] send: given twice (first at line 16)");
	EXPECT(BASE "[local a]\nsocket = ipc:///a\n[local a]\n",
	    ":16: [local a]: section given twice (first at line 14)");
	EXPECT(BASE "[local a]\nsocket = ipc:///a\n[local b]\nsocket = ipc:///a\n",
	    ":17: [local b] socket: also the socket of [local a]");
	/* the same file written another way */
	EXPECT(BASE "[local b]\nsocket = ipc:///x//a.sock\n",
	    ":15: [local b] socket: \"ipc:///x//a.sock\": write the path without //, . or ..");
	EXPECT(BASE "[local b]\nsocket = ipc:///x/./a.sock\n",
	    ":15: [local b] socket: \"ipc:///x/./a.sock\": write the path without //, . or ..");
	EXPECT(BASE "[local b]\nsocket = ipc:///x/../a.sock\n",
	    ":15: [local b] socket: \"ipc:///x/../a.sock\": write the path without //, . or ..");
	EXPECT(BASE "[local b]\nsocket = ipc:///x/..\n",
	    ":15: [local b] socket: \"ipc:///x/..\": write the path without //, . or ..");
}

static void
test_limits(void)
{
	static const struct {
		const char *line;
		const char *want;	/* NULL: accepted */
	} cases[] = {
		/* durations: a unit is required */
		{ "clock_skew = 5", ":15: [limits] clock_skew: \"5\" is not a duration (a number "
		    "and ms, s, m, h or d)" },
		{ "clock_skew = 5 m", ":15: [limits] clock_skew: \"5 m\" is not a duration (a number "
		    "and ms, s, m, h or d)" },
		{ "clock_skew = 5M", ":15: [limits] clock_skew: \"5M\" is not a duration (a number "
		    "and ms, s, m, h or d)" },
		{ "clock_skew = 5mm", ":15: [limits] clock_skew: \"5mm\" is not a duration (a "
		    "number and ms, s, m, h or d)" },
		{ "clock_skew = -5s", ":15: [limits] clock_skew: \"-5s\" is not a duration (a "
		    "number and ms, s, m, h or d)" },
		{ "clock_skew = +5s", ":15: [limits] clock_skew: \"+5s\" is not a duration (a "
		    "number and ms, s, m, h or d)" },
		{ "clock_skew = 1.5s", ":15: [limits] clock_skew: \"1.5s\" is not a duration (a "
		    "number and ms, s, m, h or d)" },
		{ "clock_skew = s", ":15: [limits] clock_skew: \"s\" is not a duration (a number "
		    "and ms, s, m, h or d)" },
		{ "clock_skew =", ":15: [limits] clock_skew: \"\" is not a duration (a number and "
		    "ms, s, m, h or d)" },
		{ "clock_skew = 99999999999999999999d", ":15: [limits] clock_skew: "
		    "\"99999999999999999999d\" is not a duration (a number and ms, s, m, h or d)" },
		{ "clock_skew = 999999999999999999d", ":15: [limits] clock_skew: "
		    "\"999999999999999999d\" is not a duration (a number and ms, s, m, h or d)" },
		{ "clock_skew = 0ms", NULL },
		{ "clock_skew = 1d", NULL },
		{ "clock_skew = 86400001ms", ":15: [limits] clock_skew: 86400001ms is out of range "
		    "(0ms..1d)" },
		{ "clock_skew = 25h", ":15: [limits] clock_skew: 25h is out of range (0ms..1d)" },
		{ "default_ttl = 999ms", ":15: [limits] default_ttl: 999ms is out of range "
		    "(1s..366d)" },
		{ "default_ttl = 367d", ":15: [limits] default_ttl: 367d is out of range "
		    "(1s..366d)" },
		{ "default_ttl = 366d", NULL },
		{ "retry_initial = 9ms", ":15: [limits] retry_initial: 9ms is out of range "
		    "(10ms..1h)" },
		{ "retry_max = 2d", ":15: [limits] retry_max: 2d is out of range (10ms..1d)" },
		{ "batch_delay = 1001ms", ":15: [limits] batch_delay: 1001ms is out of range "
		    "(0ms..1s)" },
		{ "heartbeat = 99ms", ":15: [limits] heartbeat: 99ms is out of range (100ms..1h)" },
		{ "heartbeat = 61m", ":15: [limits] heartbeat: 61m is out of range (100ms..1h)" },
		{ "linger = 61s", ":15: [limits] linger: 61s is out of range (0ms..1m)" },
		/* sizes */
		{ "max_message_size = 65536", NULL },
		{ "max_message_size = 64KiB", NULL },
		{ "max_message_size = 64MiB", NULL },
		{ "max_message_size = 65536KiB", NULL },
		{ "max_message_size = 65535", ":15: [limits] max_message_size: 65535 is out of range "
		    "(64KiB..64MiB)" },
		{ "max_message_size = 4KiB", ":15: [limits] max_message_size: 4KiB is out of range "
		    "(64KiB..64MiB)" },
		{ "max_message_size = 65MiB", ":15: [limits] max_message_size: 65MiB is out of range "
		    "(64KiB..64MiB)" },
		{ "max_message_size = 256MiB", ":15: [limits] max_message_size: 256MiB is out of "
		    "range (64KiB..64MiB)" },
		{ "max_message_size = 1GiB", ":15: [limits] max_message_size: 1GiB is out of range "
		    "(64KiB..64MiB)" },
		{ "max_message_size = 99999999999GiB", ":15: [limits] max_message_size: "
		    "\"99999999999GiB\" is not a size (bytes, or a number and KiB, MiB or GiB)" },
		{ "max_message_size = 1TiB", ":15: [limits] max_message_size: \"1TiB\" is not a size "
		    "(bytes, or a number and KiB, MiB or GiB)" },
		{ "max_message_size = 64mib", ":15: [limits] max_message_size: \"64mib\" is not a "
		    "size (bytes, or a number and KiB, MiB or GiB)" },
		{ "max_message_size = 64 MiB", ":15: [limits] max_message_size: \"64 MiB\" is not a "
		    "size (bytes, or a number and KiB, MiB or GiB)" },
		{ "max_message_size = 64MB", ":15: [limits] max_message_size: \"64MB\" is not a size "
		    "(bytes, or a number and KiB, MiB or GiB)" },
		/* numbers */
		{ "batch_max = 1", NULL },
		{ "batch_max = 1024", NULL },
		{ "batch_max = 0", ":15: [limits] batch_max: 0 is out of range (1..1024)" },
		{ "batch_max = 1025", ":15: [limits] batch_max: 1025 is out of range (1..1024)" },
		{ "batch_max = 4294967297", ":15: [limits] batch_max: 4294967297 is out of range "
		    "(1..1024)" },
		{ "batch_max = 1k", ":15: [limits] batch_max: \"1k\" is not a number" },
		{ "batch_max = -1", ":15: [limits] batch_max: \"-1\" is not a number" },
		/* retry_initial <= retry_max, named at the later line */
		{ "retry_initial = 10m", ":15: [limits] retry_initial: 10m is longer than retry_max "
		    "(5m)" },
		{ "retry_max = 999ms", ":15: [limits] retry_max: 999ms is shorter than retry_initial "
		    "(1s)" },
		{ "retry_initial = 5s\nretry_max = 4s", ":16: [limits] retry_max: 4s is shorter than "
		    "retry_initial (5s)" },
		{ "retry_max = 4s\nretry_initial = 5s", ":16: [limits] retry_initial: 5s is longer "
		    "than retry_max (4s)" },
		{ "retry_initial = 5s\nretry_max = 5s", NULL },
	};
	char text[4096], want[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s[limits]\n%s\n", BASE, cases[i].line);
		snprintf(want, sizeof(want), "%s%s", cases[i].want ? NAME : "",
		    cases[i].want ? cases[i].want : "");
		expect_at(__LINE__, text, strlen(text), cases[i].want ? KETEN_ECONFIG : 0, want);
	}

	/* The values themselves. */
	static const struct {
		const char *line;
		size_t off;
		uint64_t v;
	} vals[] = {
		{ "clock_skew = 250ms", offsetof(struct config, clock_skew_ms), 250 },
		{ "clock_skew = 7s", offsetof(struct config, clock_skew_ms), 7000 },
		{ "clock_skew = 3m", offsetof(struct config, clock_skew_ms), 180000 },
		{ "clock_skew = 2h", offsetof(struct config, clock_skew_ms), 7200000 },
		{ "default_ttl = 30d", offsetof(struct config, default_ttl_ms), 30 * DAY_MS },
		{ "max_message_size = 65536", offsetof(struct config, max_message_size), 65536 },
		{ "max_message_size = 100KiB", offsetof(struct config, max_message_size), 102400 },
		{ "max_message_size = 3MiB", offsetof(struct config, max_message_size), 3u << 20 },
		{ "linger = 007s", offsetof(struct config, linger_ms), 7000 },
	};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct config *c = NULL;
		char err[512];

		snprintf(text, sizeof(text), "%s[limits]\n%s\n", BASE, vals[i].line);
		CHECK_EQ(parse(text, &c, err, sizeof(err)), 0);
		if (c != NULL) {
			uint64_t got;

			memcpy(&got, (char *)c + vals[i].off, sizeof(got));
			if (got != vals[i].v) {
				tap_failed_checks++;
				fprintf(stderr, "  FAIL %s: %llu\n", vals[i].line, (unsigned long long)got);
			}
		}
		config_destroy(&c);
	}
}

static void
test_local(void)
{
	struct config *c = NULL;
	char err[512], text[8192];
	const char *L = BASE "[local case]\nsocket = ipc:///run/keten/case.sock\n";
	struct group *g;

	/* mode: never a bit for others */
	static const char *const others[] = { "0661", "0662", "0664", "0666", "0667", "0007",
		"0777", "661" };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		char want[256];
		unsigned m = (unsigned)strtoul(others[i], NULL, 8);

		snprintf(text, sizeof(text), "%smode = %s\n", L, others[i]);
		snprintf(want, sizeof(want), NAME ":16: [local case] mode: %04o lets others connect; "
		    "admit a local system by its group", m);
		expect_at(__LINE__, text, strlen(text), KETEN_ECONFIG, want);
	}
	snprintf(text, sizeof(text), "%smode = rw\n", L);
	EXPECT(text, ":16: [local case] mode: \"rw\" is not an octal mode such as 0660");
	snprintf(text, sizeof(text), "%smode = 0680\n", L);
	EXPECT(text, ":16: [local case] mode: \"0680\" is not an octal mode such as 0660");
	snprintf(text, sizeof(text), "%smode = 00660\n", L);
	EXPECT(text, ":16: [local case] mode: \"00660\" is not an octal mode such as 0660");
	snprintf(text, sizeof(text), "%smode = 60\n", L);
	EXPECT(text, ":16: [local case] mode: \"60\" is not an octal mode such as 0660");
	snprintf(text, sizeof(text), "%smode = 4660\n", L);
	EXPECT(text, ":16: [local case] mode: 4660: set-id and sticky bits are not allowed");
	snprintf(text, sizeof(text), "%smode = 660\n", L);
	CHECK_EQ(parse(text, &c, err, sizeof(err)), 0);
	if (c != NULL)
		CHECK_EQ(c->locals[0].mode, 0660);
	config_destroy(&c);
	snprintf(text, sizeof(text), "%smode = 0600\n", L);
	CHECK_EQ(parse(text, &c, err, sizeof(err)), 0);
	if (c != NULL)
		CHECK_EQ(c->locals[0].mode, 0600);
	config_destroy(&c);

	/* group: resolved at load */
	snprintf(text, sizeof(text), "%sgroup = no-such-group-here\n", L);
	EXPECT(text, ":16: [local case] group: no such group \"no-such-group-here\"");
	snprintf(text, sizeof(text), "%sgroup =\n", L);
	EXPECT(text, ":16: [local case] group: empty");
	if ((g = getgrgid(getegid())) != NULL) {
		char gname[256];
		gid_t gid = g->gr_gid;

		snprintf(gname, sizeof(gname), "%s", g->gr_name);
		snprintf(text, sizeof(text), "%sgroup = %s\n", L, gname);
		CHECK_EQ(parse(text, &c, err, sizeof(err)), 0);
		if (c != NULL) {
			CHECK_EQ(c->locals[0].has_group, 1);
			CHECK_EQ(c->locals[0].gid, gid);
		}
		config_destroy(&c);
	}

	/* kinds */
	snprintf(text, sizeof(text), "%ssend = DOSSIER, CASE_EVENT\n", L);
	EXPECT(text, ":16: [local case] send: unknown kind \"DOSSIER\"");
	snprintf(text, sizeof(text), "%sreceive = case_event receipt\n", L);
	EXPECT(text, ":16: [local case] receive: RECEIPT is not a message kind");
	snprintf(text, sizeof(text), "%sreceive = KIND_UNSPECIFIED\n", L);
	EXPECT(text, ":16: [local case] receive: unknown kind \"KIND_UNSPECIFIED\"");
	snprintf(text, sizeof(text), "%ssend = 1\n", L);
	EXPECT(text, ":16: [local case] send: unknown kind \"1\"");
	snprintf(text, sizeof(text), "%ssend = case_event;x\n", L);
	EXPECT(text, ":16: [local case] send: unknown kind \"CASE_EVENT;X\"");
	snprintf(text, sizeof(text), "%ssend = ,Dossier_Delivery,,\tdtv_notification ,\n"
	    "receive = * case_event\n", L);
	CHECK_EQ(parse(text, &c, err, sizeof(err)), 0);
	if (c != NULL) {
		CHECK_EQ(c->locals[0].send_kinds, (1u << 1) | (1u << 2));
		CHECK_EQ(c->locals[0].recv_kinds, 0x7eu);
	}
	config_destroy(&c);

	/* purposes */
	snprintf(text, sizeof(text), "%spurposes = lvv intake!\n", L);
	EXPECT(text, ":16: [local case] purposes: \"intake!\" is not a purpose code");
	snprintf(text, sizeof(text), "%spurposes = a,b c,* a\n", L);
	CHECK_EQ(parse(text, &c, err, sizeof(err)), 0);
	if (c != NULL) {
		CHECK_EQ(c->locals[0].npurposes, 4);
		CHECK_EQ(c->locals[0].any_purpose, 1);
	}
	config_destroy(&c);

	/* socket */
	static const char *const bad_sockets[] = {
		"tcp://127.0.0.1:1", "ipc://run/x.sock", "ipc://@abstract", "ipc:///run/",
		"ipc:///run/a b.sock", "/run/x.sock",
	};
	for (size_t i = 0; i < sizeof(bad_sockets) / sizeof(bad_sockets[0]); i++) {
		char want[256];

		snprintf(text, sizeof(text), "%s[local x]\nsocket = %s\n", BASE, bad_sockets[i]);
		snprintf(want, sizeof(want), NAME ":15: [local x] socket: \"%s\" is not "
		    "ipc:///absolute/path", bad_sockets[i]);
		expect_at(__LINE__, text, strlen(text), KETEN_ECONFIG, want);
	}
	snprintf(text, sizeof(text), "%s[local x]\nsocket = ipc:///%0107d\n", BASE, 0);
	EXPECT(text, ":15: [local x] socket: path longer than 107 bytes, the most a Unix "
	    "socket's can be");
	snprintf(text, sizeof(text), "%s[local x]\nsocket = ipc:///%0106d\n", BASE, 0);
	EXPECT_OK(text);

	/* names */
	EXPECT(BASE "[local Case]\n", ":14: [local Case]: the name is not [a-z0-9._-]{1,32}");
	EXPECT(BASE "[local a b]\n", ":14: [local a b]: the name is not [a-z0-9._-]{1,32}");
	EXPECT(BASE "[local ]\n", ":14: [local ]: the name is not [a-z0-9._-]{1,32}");
	EXPECT(BASE "[local]\n", ":14: [local]: the section needs a name: [local NAME]");
	EXPECT(BASE "[local a23456789012345678901234567890123]\n",
	    ":14: [local a23456789012345678901234567890123]: the name is not "
	    "[a-z0-9._-]{1,32}");
	EXPECT_OK(BASE "[local a2345678901234567890123456789012]\nsocket = ipc:///s\n");

	/* at most 64 */
	{
		size_t n = (size_t)snprintf(text, sizeof(text), "%s", BASE);

		for (int i = 0; i < CONFIG_LOCAL_MAX; i++)
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			    "[local l%d]\nsocket = ipc:///run/l%d.sock\n", i, i);
		CHECK_EQ(parse(text, &c, err, sizeof(err)), 0);
		if (c != NULL) {
			CHECK_EQ(c->nlocals, CONFIG_LOCAL_MAX);
			CHECK(config_local_find(c, "l63") == &c->locals[63]);
		}
		config_destroy(&c);
		snprintf(text + n, sizeof(text) - n, "[local l64]\nsocket = ipc:///run/l64.sock\n");
		EXPECT(text, ":142: [local l64]: more than 64 local systems");
	}
}

/* ---- files ---- */

static char tmpdir[64];

static int
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || fchmod(fd, mode) != 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void
test_files(void)
{
	struct config *c = NULL;
	char err[512] = "", dir[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 256];
	char cwd[PATH_MAX];
	char *big;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/keten-test-config.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/etc", tmpdir);
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/ketend.conf", dir);
	CHECK(write_file(path, BASE, strlen(BASE), 0644) == 0);

	/* Relative paths: relative to the file's directory. */
	CHECK_EQ(config_load(path, &c, err, sizeof(err)), 0);
	if (c != NULL) {
		snprintf(want, sizeof(want), "%s/keys/sign.key", dir);
		CHECK(strcmp(c->sign_key, want) == 0);
		snprintf(want, sizeof(want), "%s/state", dir);
		CHECK(strcmp(c->state_dir, want) == 0);
		CHECK(strcmp(c->seal_key, "/srv/keys/seal.key") == 0);
		CHECK(strcmp(c->path, path) == 0);
	}
	config_destroy(&c);

	/* ... and absolute even when the file's name is relative. */
	if (getcwd(cwd, sizeof(cwd)) != NULL && chdir(tmpdir) == 0) {
		CHECK_EQ(config_load("etc/ketend.conf", &c, err, sizeof(err)), 0);
		if (c != NULL) {
			char real[PATH_MAX];

			/* the working directory as getcwd() spells it */
			CHECK(getcwd(real, sizeof(real)) != NULL);
			snprintf(want, sizeof(want), "%s/etc/keys/sign.key", real);
			CHECK(strcmp(c->sign_key, want) == 0);
			CHECK(strcmp(c->path, "etc/ketend.conf") == 0);
		}
		config_destroy(&c);
		if (chdir("etc") == 0) {
			CHECK_EQ(config_load("ketend.conf", &c, err, sizeof(err)), 0);
			if (c != NULL)
				CHECK(c->sign_key[0] == '/' &&
				    strstr(c->sign_key, "/etc/keys/sign.key") != NULL);
			config_destroy(&c);
		}
		CHECK(chdir(cwd) == 0);
	}

	/* The message names the file as given. */
	{
		static const char bad[] = BASE "[limits]\nretry_max = 2\n";

		CHECK(write_file(path, bad, sizeof(bad) - 1, 0640) == 0);
	}
	CHECK_EQ(config_load(path, &c, err, sizeof(err)), KETEN_ECONFIG);
	CHECK(c == NULL);
	snprintf(want, sizeof(want), "%s:15: [limits] retry_max: \"2\" is not a duration (a number "
	    "and ms, s, m, h or d)", path);
	CHECK(strcmp(err, want) == 0);

	/* Writable by others: whoever may write it may become the node. */
	CHECK(write_file(path, BASE, strlen(BASE), 0666) == 0);
	CHECK_EQ(config_load(path, &c, err, sizeof(err)), KETEN_ECONFIG);
	snprintf(want, sizeof(want), "%s: writable by others (mode 0666); chmod o-w", path);
	CHECK(strcmp(err, want) == 0);
	CHECK(chmod(path, 0664) == 0);
	if (geteuid() == 0) {
		/* read as root: only root may write it (the node's own
		 * account could otherwise choose the account of the next
		 * start) */
		CHECK_EQ(config_load(path, &c, err, sizeof(err)), KETEN_ECONFIG);
		CHECK(strstr(err, "must be owned by root and not writable by its group") != NULL);
		CHECK(chmod(path, 0644) == 0);
		CHECK_EQ(config_load(path, &c, err, sizeof(err)), 0);
		config_destroy(&c);
		CHECK(chown(path, 65534, 0) == 0);
		CHECK_EQ(config_load(path, &c, err, sizeof(err)), KETEN_ECONFIG);
		CHECK(strstr(err, "owner uid 65534") != NULL);
		CHECK(chown(path, 0, 0) == 0);
	}
	CHECK_EQ(config_load(path, &c, err, sizeof(err)), 0);
	config_destroy(&c);

	/* Not a file; no file; too big; an empty file. */
	CHECK_EQ(config_load(dir, &c, err, sizeof(err)), KETEN_ECONFIG);
	snprintf(want, sizeof(want), "%s: not a regular file", dir);
	CHECK(strcmp(err, want) == 0);
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	CHECK_EQ(config_load(path, &c, err, sizeof(err)), KETEN_EIO);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	CHECK(strcmp(err, want) == 0);
	CHECK(c == NULL);
	if ((big = malloc((1u << 20) + 1)) != NULL) {
		memset(big, '#', (1u << 20) + 1);
		snprintf(path, sizeof(path), "%s/big.conf", dir);
		CHECK(write_file(path, big, (1u << 20) + 1, 0600) == 0);
		CHECK_EQ(config_load(path, &c, err, sizeof(err)), KETEN_ECONFIG);
		snprintf(want, sizeof(want), "%s: larger than 1024 KiB", path);
		CHECK(strcmp(err, want) == 0);
		CHECK(unlink(path) == 0);
		free(big);
	}
	snprintf(path, sizeof(path), "%s/empty.conf", dir);
	CHECK(write_file(path, "", 0, 0600) == 0);
	CHECK_EQ(config_load(path, &c, err, sizeof(err)), KETEN_ECONFIG);
	snprintf(want, sizeof(want), "%s: [node] oin: missing", path);
	CHECK(strcmp(err, want) == 0);
	CHECK(unlink(path) == 0);

	/* A short error buffer is cut, never overrun; none at all is fine. */
	{
		char tiny[8];

		CHECK_EQ(config_parse_buffer(NAME, "x", 1, &c, tiny, sizeof(tiny)), KETEN_ECONFIG);
		CHECK(strcmp(tiny, "/etc/ke") == 0);
		CHECK_EQ(config_parse_buffer(NAME, "x", 1, &c, NULL, 0), KETEN_ECONFIG);
	}

	snprintf(path, sizeof(path), "%s/ketend.conf", dir);
	CHECK(unlink(path) == 0);
	CHECK(rmdir(dir) == 0);
	CHECK(rmdir(tmpdir) == 0);
}

/* The shipped example loads (but for its group, which this machine may
 * not have). */
static void
test_example(void)
{
	struct config *c = NULL;
	char err[512], text[8192];
	size_t n = 0;
	FILE *f = fopen(KETEN_SRCDIR "/conf/ketend.conf.example", "r");

	if (f == NULL) {
		CHECK(!"conf/ketend.conf.example");
		return;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	CHECK(n > 0 && n < sizeof(text) - 1);
	/* Comment the group lines out, line numbers kept. */
	for (char *line = text; line != NULL; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, "group", 5) == 0)
			line[0] = '#';
	CHECK_EQ(config_parse_buffer("/etc/keten/ketend.conf", text, n, &c, err, sizeof(err)), 0);
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	/* The example shows the defaults. */
	CHECK_EQ(c->clock_skew_ms, 5 * 60000);
	CHECK_EQ(c->max_message_size, 64u << 20);
	CHECK_EQ(c->batch_max, 256);
	CHECK_EQ(c->store_sync_full, 1);
	CHECK(c->nlocals >= 1);
	config_destroy(&c);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "every key set", test_full },
		{ "every default", test_defaults },
		{ "syntax: comments, indenting, CRLF, BOM; malformed lines", test_syntax },
		{ "each required key missing", test_missing },
		{ "[node] values", test_node },
		{ "unknown and repeated sections and keys", test_unknown_and_twice },
		{ "[limits]: durations, sizes, ranges", test_limits },
		{ "[local NAME]: mode, group, kinds, purposes, socket, names, count", test_local },
		{ "files: relative paths, permissions, size", test_files },
		{ "the shipped example", test_example },
		{ NULL, NULL },
	};

	return tap_run(tests);
}
