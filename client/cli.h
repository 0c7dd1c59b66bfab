/*
 * cli.h — what the commands of the `keten` CLI share: the handler type,
 * the command table entry, option parsing, error reporting and a durable
 * file write.
 *
 * A command is a noun and a verb ("directory sign"), or a noun alone
 * ("send").  To add one, write client/cmd_<noun>.c with handlers of type
 * cli_fn, declare them at the end of this header and add one line per
 * command to the table in client/main.c; usage and help come from the
 * table.  main.c handles `--help` for every command before the handler
 * runs, so handlers never see it.
 *
 * Exit codes: 0 success, 1 operational error or failed verification,
 * 2 usage error.  Errors go to stderr as "keten: <what>: <reason>".
 */
#ifndef KETEN_CLI_H
#define KETEN_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

struct cli_cmd;

/* A command handler.  argv holds what follows the command's words (argv[0]
 * is the first option or operand; argc may be 0).  Returns the exit code. */
typedef int cli_fn(const struct cli_cmd *cmd, int argc, char **argv);

struct cli_cmd {
	const char *noun;
	const char *verb;	/* NULL when the noun alone is the command */
	cli_fn *fn;
	const char *synopsis;	/* options and operands, for usage */
	const char *help;	/* one line */
};

/* One option of a command: "--name value" (also "--name=value") when
 * value is set, or a flag "--name" when flag is set. */
struct cli_opt {
	const char *name;	/* without the leading "--"; NULL ends a table */
	const char **value;	/* receives the argument (borrowed from argv) */
	int *flag;		/* set to 1 when the flag is given */
};

/* "directory sign": the command's words; static storage, overwritten by
 * the next call. */
const char *cli_name(const struct cli_cmd *cmd);

/* Print "usage: keten <noun> <verb> <synopsis>" and the help line to f. */
void cli_usage(const struct cli_cmd *cmd, FILE *f);

/* Parse the options in argv against opts.  Operands (arguments that are
 * not options, and everything after "--") are moved, in order, to the
 * front of argv and their number stored in *noperands.  An option given
 * twice, an unknown option or a missing argument prints the reason and
 * the usage on stderr and returns CLI_USAGE; else 0. */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv,
    const struct cli_opt *opts, int *noperands);

/* Print "keten: <command>: <formatted reason>" and the usage on stderr;
 * returns CLI_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "keten: <what>: <keten_strerror(code)>" on stderr; returns
 * CLI_FAIL.  what may be NULL. */
int cli_fail(const char *what, int code);

/* Print "keten: <formatted reason>" on stderr; returns CLI_FAIL. */
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));


/* Format ms since the epoch as ISO 8601 UTC ("2026-01-31T12:00:00Z") into
 * out (at least 32 bytes); returns out. */
const char *cli_time_fmt(uint64_t ms, char *out, size_t len);

/* Parse a time: ISO 8601 UTC ("2026-12-31T23:00:00Z", or a date alone for
 * its midnight), "now", or milliseconds since the epoch.  0 or -1. */
int cli_time_parse(const char *s, uint64_t *ms);
/* Decimal digits only (no sign, no space), at most max, into *v: 0, or -1.
 * With end, what follows the digits is left there; without, there must
 * be nothing. */
int cli_uint_parse(const char *s, uint64_t max, uint64_t *v, const char **end);

struct directory;
/* Load and verify a signed directory with the chain CA, its CRL and the
 * authority (an OIN, or a file holding one); errors printed.  CLI_OK,
 * CLI_FAIL or CLI_USAGE. */
int cli_directory_load(const struct cli_cmd *cmd, const char *ca, const char *crl,
    const char *auth, const char *auth_file, const char *file, struct directory **d);

/* ---- handlers, one block per client/cmd_<noun>.c ---- */

/* cmd_directory.c */
int cmd_directory_sign(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_directory_verify(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_directory_show(const struct cli_cmd *cmd, int argc, char **argv);

/* cmd_mandate.c */
int cmd_mandate_issue(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_mandate_revoke(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_mandate_list(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_mandate_show(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_mandate_check(const struct cli_cmd *cmd, int argc, char **argv);

/* cmd_local.c */
int cmd_send(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_status(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_subscribe(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_unsubscribe(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_peers(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_queue(const struct cli_cmd *cmd, int argc, char **argv);

/* cmd_audit.c */
int cmd_audit_verify(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_prove(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_check_proof(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_subject(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_index(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_query(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_reconcile(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_export(const struct cli_cmd *cmd, int argc, char **argv);

#endif
