/*
 * main.c — the `keten` command-line tool: the table of commands, the
 * dispatch from `keten <noun> [<verb>] ...` to their handlers, usage and
 * help, and the helpers of cli.h that every command uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"
#include "err.h"

/* Every command, in the order `keten help` lists them. */
static const struct cli_cmd commands[] = {
	{ "send", NULL, cmd_send,
	    "--kind KIND --to OIN[,OIN...] --case REF --purpose CODE [--mandate ID] [--ttl DURATION]"
	    " [--trace TRACEPARENT] [--reply-to MSGID] [--socket ipc://...] [--json] [FILE|-]",
	    "submit a case message (payload JSON from FILE or stdin); prints its msg_id once queued" },
	{ "status", NULL, cmd_status, "[--socket ipc://...] [--json] MSGID",
	    "delivery state of a message per recipient" },
	{ "subscribe", NULL, cmd_subscribe,
	    "--cursor NAME [--kind K,...] [--case REF] [--ack] [--follow] [--max N] [--wait MS]"
	    " [--socket ipc://...]",
	    "print received messages after a durable cursor as JSON lines" },
	{ "unsubscribe", NULL, cmd_unsubscribe, "--cursor NAME [--socket ipc://...]",
	    "delete a durable cursor" },
	{ "peers", NULL, cmd_peers, "[--socket ipc://...] [--json]",
	    "the parties this node can reach, and what is queued for each" },
	{ "queue", NULL, cmd_queue, "[--socket ipc://...] [--json]",
	    "what waits in this node's outbox, relay queue and inbox" },
	{ "directory", "sign", cmd_directory_sign,
	    "--source FILE --key KEY --cert CERT --out FILE [--ca CA --crl CRL]",
	    "sign a party directory from its JSON source (as the network authority)" },
	{ "directory", "verify", cmd_directory_verify,
	    "--ca CA --crl CRL (--authority OIN|FILE | --authority-file FILE) FILE",
	    "verify a signed party directory and print a one-line summary" },
	{ "directory", "show", cmd_directory_show,
	    "--ca CA --crl CRL (--authority OIN|FILE | --authority-file FILE) [--json] FILE",
	    "verify a signed party directory and list its parties" },
	{ "audit", "verify", cmd_audit_verify,
	    "[--key HEX[,HEX]] [--directory FILE --ca CA --crl CRL (--authority OIN|FILE | "
	    "--authority-file FILE)] [--oin OIN] "
	    "[--checkpoint FILE[,FILE]] [--witness LOG[,LOG]] [--json] LOG",
	    "verify every record, the tree and every checkpoint (exit 3 tampered, 4 torn, 5 policy)" },
	{ "audit", "prove", cmd_audit_prove, "(--index N | --from M) [--size N] LOG",
	    "an inclusion or consistency proof, as JSON that check-proof verifies alone" },
	{ "audit", "check-proof", cmd_audit_check_proof, "[--key HEX] PROOF.json",
	    "verify a proof made by keten audit prove" },
	{ "audit", "subject", cmd_audit_subject, "--keys FILE [--json] LOG V-NUMMER|BSN...",
	    "every processing of one person's data (subject-access request)" },
	{ "audit", "index", cmd_audit_index, "--keys FILE LOG",
	    "rebuild the subject index LOG.idx from the log" },
	{ "audit", "query", cmd_audit_query,
	    "[--msg-id HEX] [--trace HEX] [--party OIN] [--kind K] [--mandate ID] [--event E] "
	    "[--decision allow|deny] [--since T] [--until T] [--json] LOG",
	    "records that match every filter given" },
	{ "audit", "reconcile", cmd_audit_reconcile, "[--json] LOG_A LOG_B",
	    "every SEND in one has its RECEIVE in the other, and witnessed checkpoints agree" },
	{ "audit", "export", cmd_audit_export, "--jsonl LOG",
	    "every record as one JSON object per line (PROTOCOL.md §17.8)" },
	{ "mandate", "issue", cmd_mandate_issue,
	    "--key KEY --issuer OIN --id ID --grantee OIN --kind K,... (--to OIN,... | --roles R,...)"
	    " --purpose P,... --basis TEXT [--basis-uri URI] [--from TIME] --until TIME"
	    " [--delegable] [--relay] [--parent FILE] (--bundle FILE | --out FILE)",
	    "issue a signed mandate (as an authority, or as a grantee delegating)" },
	{ "mandate", "revoke", cmd_mandate_revoke,
	    "--key KEY --issuer OIN --id ID [--at TIME] [--reason TEXT] --bundle FILE",
	    "revoke a mandate, now or from a moment in the future" },
	{ "mandate", "list", cmd_mandate_list,
	    "TRUST --bundle FILE [--json]   (TRUST: --ca CA --crl CRL --authority OIN --directory FILE)",
	    "verify every mandate of a bundle and list them with their state" },
	{ "mandate", "show", cmd_mandate_show,
	    "TRUST --bundle FILE [--json] ID", "verify one mandate and print all of it" },
	{ "mandate", "check", cmd_mandate_check,
	    "TRUST --bundle FILE --from OIN --to OIN --kind K --purpose P [--mandate ID] [--at TIME]",
	    "would this message be allowed, and by which mandate?" },
	{ NULL, NULL, NULL, NULL, NULL },
};

/* ------------------------------------------------------------------ */
/* helpers of cli.h */

const char *
cli_name(const struct cli_cmd *cmd)
{
	static char name[128];

	snprintf(name, sizeof(name), "%s%s%s", cmd->noun, cmd->verb ? " " : "",
	    cmd->verb ? cmd->verb : "");
	return name;
}

void
cli_usage(const struct cli_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: keten %s %s\n       %s\n", cli_name(cmd), cmd->synopsis, cmd->help);
}

int
cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "keten: %s: ", cli_name(cmd));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_usage(cmd, stderr);
	return CLI_USAGE;
}

int
cli_fail(const char *what, int code)
{
	if (what != NULL)
		fprintf(stderr, "keten: %s: %s\n", what, keten_strerror(code));
	else
		fprintf(stderr, "keten: %s\n", keten_strerror(code));
	return CLI_FAIL;
}

int
cli_failf(const char *fmt, ...)
{
	va_list ap;

	fputs("keten: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

int
cli_parse(const struct cli_cmd *cmd, int argc, char **argv,
    const struct cli_opt *opts, int *noperands)
{
	int nops = 0, i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *eq, *val = NULL;
		const struct cli_opt *o;
		size_t nlen;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			argv[nops++] = argv[i];	/* nops <= i: never overwrites unread */
			continue;
		}
		a += 2;
		eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a) : strlen(a);
		for (o = opts; o->name != NULL; o++)
			if (strlen(o->name) == nlen && strncmp(o->name, a, nlen) == 0)
				break;
		if (o->name == NULL)
			return cli_usage_error(cmd, "unknown option --%.*s", (int)nlen, a);
		if (o->flag != NULL) {
			if (eq != NULL)
				return cli_usage_error(cmd, "--%s takes no argument", o->name);
			if (*o->flag)
				return cli_usage_error(cmd, "--%s given twice", o->name);
			*o->flag = 1;
			continue;
		}
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return cli_usage_error(cmd, "--%s needs an argument", o->name);
		if (*o->value != NULL)
			return cli_usage_error(cmd, "--%s given twice", o->name);
		*o->value = val;
	}
	for (; i < argc; i++)
		argv[nops++] = argv[i];
	*noperands = nops;
	return 0;
}

const char *
cli_time_fmt(uint64_t ms, char *out, size_t len)
{
	return time_fmt(ms, out, len);
}

int
cli_uint_parse(const char *s, uint64_t max, uint64_t *v, const char **end)
{
	uint64_t x = 0;
	size_t i = 0;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (x > (max - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	if (end != NULL)
		*end = s + i;
	else if (s[i] != '\0')
		return -1;
	*v = x;
	return 0;
}

int
cli_time_parse(const char *s, uint64_t *ms)
{
	struct tm tm;
	const char *end;
	time_t t;

	if (strcmp(s, "now") == 0) {
		*ms = clock_now_ms();
		return 0;
	}
	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 15) {
		*ms = strtoull(s, NULL, 10);
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, "%Y-%m-%d", &tm)) == NULL || *end != '\0')
			return -1;
	}
	if ((t = timegm(&tm)) < 0)
		return -1;
	*ms = (uint64_t)t * 1000u;
	return 0;
}

/* ------------------------------------------------------------------ */
/* usage and dispatch */

static void
usage_all(FILE *f)
{
	fputs("usage: keten <command> [options] [operands]\n"
	    "       keten help [<noun>]\n"
	    "       keten <command> --help\n"
	    "\ncommands:\n", f);
	for (const struct cli_cmd *c = commands; c->noun != NULL; c++)
		fprintf(f, "  %-20s %s\n", cli_name(c), c->help);
	fputs("\nexit status: 0 success, 1 error or failed verification, 2 usage error\n", f);
}

/* Usage of every command of one noun. */
static void
usage_noun(const char *noun, FILE *f)
{
	for (const struct cli_cmd *c = commands; c->noun != NULL; c++)
		if (strcmp(c->noun, noun) == 0)
			cli_usage(c, f);
}

static int
noun_known(const char *noun)
{
	for (const struct cli_cmd *c = commands; c->noun != NULL; c++)
		if (strcmp(c->noun, noun) == 0)
			return 1;
	return 0;
}

static int
wants_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

int
main(int argc, char **argv)
{
	const struct cli_cmd *cmd = NULL;
	int words;

	if (argc < 2) {
		usage_all(stderr);
		return CLI_USAGE;
	}
	if (wants_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		if (argc == 2) {
			usage_all(stdout);
			return CLI_OK;
		}
		if (argc == 3 && noun_known(argv[2])) {
			usage_noun(argv[2], stdout);
			return CLI_OK;
		}
		for (const struct cli_cmd *c = commands; argc == 4 && c->noun != NULL; c++)
			if (strcmp(c->noun, argv[2]) == 0 && c->verb != NULL &&
			    strcmp(c->verb, argv[3]) == 0) {
				cli_usage(c, stdout);
				return CLI_OK;
			}
		fprintf(stderr, "keten: help: no command '%s%s%s'\n", argv[2],
		    argc > 3 ? " " : "", argc > 3 ? argv[3] : "");
		usage_all(stderr);
		return CLI_USAGE;
	}

	for (const struct cli_cmd *c = commands; c->noun != NULL; c++) {
		if (strcmp(c->noun, argv[1]) != 0)
			continue;
		if (c->verb == NULL) {
			cmd = c;
			words = 1;
			break;
		}
		if (argc > 2 && strcmp(c->verb, argv[2]) == 0) {
			cmd = c;
			words = 2;
			break;
		}
	}
	if (cmd == NULL) {
		if (!noun_known(argv[1])) {
			fprintf(stderr, "keten: unknown command '%s'\n", argv[1]);
			usage_all(stderr);
			return CLI_USAGE;
		}
		if (argc > 2 && wants_help(argv[2])) {
			usage_noun(argv[1], stdout);
			return CLI_OK;
		}
		if (argc > 2)
			fprintf(stderr, "keten: unknown command '%s %s'\n", argv[1], argv[2]);
		else
			fprintf(stderr, "keten: %s: which command?\n", argv[1]);
		usage_noun(argv[1], stderr);
		return CLI_USAGE;
	}

	/* `--help` anywhere among the options: the command's usage. */
	for (int i = 1 + words; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (wants_help(argv[i])) {
			cli_usage(cmd, stdout);
			return CLI_OK;
		}
	return cmd->fn(cmd, argc - 1 - words, argv + 1 + words);
}
