/*
 * test_config.c — ketend.conf: a good file with its defaults, relative
 * paths, local systems and their permissions; and each kind of mistake
 * refused with the file and line in the message.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "tap.h"

static const char good[] =
    "# a node\n"
    "[node]\n"
    "oin = 00000001999000050000\n"
    "listen = tcp://127.0.0.1:7405\n"
    "state_dir = state\n"
    "\n"
    "[keys]\n"
    "sign_key = keys/sign.key\n"
    "seal_key = /etc/keten/seal.key\n"
    "curve_key = keys/curve.key\n"
    "[trust]\n"
    "ca = ca.crt\n"
    "crl = crl.pem\n"
    "directory = directory.signed\n"
    "authority = 00000001999000000000\n"
    "[limits]\n"
    "retry_max = 2m\n"
    "max_message_size = 32MiB\n"
    "[local case]\n"
    "socket = ipc:///run/keten/case.sock\n"
    "mode = 0660\n"
    "send = DOSSIER_DELIVERY, case_event\n"
    "receive = *\n"
    "purposes = lvv-intake lvv-lso\n";

static int
parse(const char *text, struct config **c, char *err, size_t n)
{
	return config_parse_buffer("/etc/keten/ketend.conf", text, strlen(text), c, err, n);
}

static void
test_good(void)
{
	struct config *c = NULL;
	char err[512] = "";
	const struct config_local *l;

	CHECK_EQ(parse(good, &c, err, sizeof(err)), 0);
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(strcmp(c->oin, "00000001999000050000") == 0);
	CHECK(strcmp(c->state_dir, "/etc/keten/state") == 0);
	CHECK(strcmp(c->sign_key, "/etc/keten/keys/sign.key") == 0);
	CHECK(strcmp(c->seal_key, "/etc/keten/seal.key") == 0);
	CHECK_EQ(c->retry_max_ms, 120000);
	CHECK_EQ(c->retry_initial_ms, 1000);
	CHECK_EQ(c->max_message_size, 32u << 20);
	CHECK_EQ(c->default_ttl_ms, 14ull * 86400000);
	CHECK_EQ(c->store_sync_full, 1);
	CHECK_EQ(c->nlocals, 1);
	CHECK((l = config_local_find(c, "case")) != NULL);
	CHECK(config_local_find(c, "other") == NULL);
	if (l != NULL) {
		CHECK_EQ(l->mode, 0660);
		CHECK(config_local_may_send(l, 1, "lvv-intake"));
		CHECK(config_local_may_send(l, 5, "lvv-lso"));
		CHECK(!config_local_may_send(l, 5, "other-purpose"));
		CHECK(!config_local_may_send(l, 2, "lvv-intake"));
		CHECK(config_local_may_receive(l, 4));
		CHECK(!config_local_may_receive(l, 7));	/* RECEIPT is no message kind */
	}
	config_destroy(&c);
	CHECK(c == NULL);
}

/* Replace the line starting with `key` in the good file by `line`
 * (or append line when key is NULL) and expect an error with want. */
static void
bad(const char *key, const char *line, const char *want)
{
	char text[4096], err[512] = "";
	struct config *c = NULL;
	const char *p = key ? strstr(good, key) : NULL;

	if (key != NULL && p == NULL) {
		CHECK(!"key not in the good file");
		return;
	}
	if (key == NULL) {
		snprintf(text, sizeof(text), "%s%s\n", good, line);
	} else {
		const char *eol = strchr(p, '\n');

		snprintf(text, sizeof(text), "%.*s%s%s", (int)(p - good), good, line, eol);
	}
	CHECK_EQ(parse(text, &c, err, sizeof(err)), KETEN_ECONFIG);
	CHECK(c == NULL);
	if (strstr(err, want) == NULL) {
		fprintf(stderr, "  expected \"%s\" in \"%s\"\n", want, err);
		CHECK(!"message");
	}
}

static void
test_errors(void)
{
	bad("oin = ", "oin = 123", "ketend.conf:3: [node] oin: not a 20-digit OIN");
	bad("listen", "listen = 127.0.0.1:7405", ":4: [node] listen");
	bad("retry_max", "retry_max = 2 minutes", ":17: [limits] retry_max: not a duration");
	bad("retry_max", "retry_max = 2", "not a duration");
	bad("max_message_size", "max_message_size = 1TiB", "not a size");
	bad("max_message_size", "max_message_size = 1GiB", "out of range");
	bad("mode", "mode = 0666", "lets others connect");
	bad("send", "send = DOSSIER, CASE_EVENT", "unknown kind \"DOSSIER\"");
	bad("receive", "receive = RECEIPT", "unknown kind");
	bad("purposes", "purposes = lvv intake!", "not a purpose code");
	bad("socket", "socket = tcp://127.0.0.1:1", "not ipc:///absolute/path");
	bad(NULL, "group = no-such-group-here", "no such group");
	bad(NULL, "colour = blue", "[local case] colour: unknown key");
	bad(NULL, "[bogus]\nx = 1", "[bogus]: unknown section");
	bad(NULL, "[node]\nfoo = 1", "[node] foo: unknown key");
	bad(NULL, "[limits]\nretry_max = 1m", "given twice (first at line 17)");
	bad(NULL, "[local BAD]\nsocket = ipc:///x", "name is not");
	bad(NULL, "[local two]\nsocket = ipc:///run/keten/case.sock", "also the socket of [local case]");
	bad(NULL, "[local three]\nmode = 0600", "[local three] socket: missing");
	bad("authority", "# no authority", "[trust] authority: missing");
	bad(NULL, "this is not ini", "not a [section] or key = value line");
	bad("retry_max", "retry_max = 100ms", "retry_initial is longer than retry_max");
}

static void
test_files(void)
{
	struct config *c = NULL;
	char err[512] = "";

	CHECK_EQ(config_load("/nonexistent/ketend.conf", &c, err, sizeof(err)), KETEN_EIO);
	CHECK(strstr(err, "/nonexistent/ketend.conf") != NULL);
	CHECK_EQ(config_parse_buffer("x.conf", "a\0b", 3, &c, err, sizeof(err)), KETEN_ECONFIG);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "a good configuration and its defaults", test_good },
		{ "each mistake named with file and line", test_errors },
		{ "unreadable files and NUL bytes", test_files },
		{ NULL, NULL },
	};

	return tap_run(tests);
}
