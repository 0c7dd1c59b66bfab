/*
 * main.c — ketend, the keten node.
 *
 *   ketend [-c FILE] [-n] [-v]
 *
 * -c  configuration file (default /etc/keten/ketend.conf)
 * -n  check configuration, keys, PKI, directory and store, then exit
 * -v  log at debug level (overrides log_level)
 *
 * Started as root, ketend drops to the configured user before it reads a
 * key or opens anything; without a configured user it refuses to run as
 * root.  SIGHUP reloads the directory; SIGTERM and SIGINT drain and stop.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "node.h"
#include "store.h"

#define DEFAULT_CONFIG "/etc/keten/ketend.conf"

static void
usage(FILE *f)
{
	fprintf(f, "usage: ketend [-c FILE] [-n] [-v]\n"
	    "  -c FILE  configuration (default " DEFAULT_CONFIG ")\n"
	    "  -n       check configuration, keys, PKI, directory and store; then exit\n"
	    "  -v       log at debug level\n");
}

/* Root may only run ketend to drop to the configured user. */
static int
drop_privileges(const struct config *cfg)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (cfg->user[0] == '\0') {
		log_error("%s: running as root needs [node] user, the account to drop to",
		    cfg->path);
		return KETEN_ECONFIG;
	}
	errno = 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		log_error("%s: [node] user %s: no such account", cfg->path, cfg->user);
		return KETEN_ECONFIG;
	}
	if (pw->pw_uid == 0) {
		log_error("%s: [node] user %s is root; name an unprivileged account", cfg->path,
		    cfg->user);
		return KETEN_ECONFIG;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		log_error("cannot drop to user %s: %s", cfg->user, strerror(errno));
		return KETEN_EIO;
	}
	if (setuid(0) == 0) {
		log_error("dropped to %s but could become root again; stopping", cfg->user);
		return KETEN_EIO;
	}
	log_info("running as %s (uid %u)", cfg->user, (unsigned)pw->pw_uid);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	struct config *cfg = NULL;
	struct node *n = NULL;
	char err[512];
	int check = 0, verbose = 0, c, r;

	while ((c = getopt(argc, argv, "c:nvh")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* Until the node's loop reads them (signalfd), SIGHUP, SIGTERM and
	 * SIGINT wait: a reload asked for while the node starts would kill
	 * it otherwise (SIGHUP's default), and systemd would not restart a
	 * clean-looking exit.  Threads made later inherit the mask. */
	if (!check) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGHUP);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigprocmask(SIG_BLOCK, &set, NULL);
	}
	log_init("ketend", LOG_LEVEL_INFO, 0);
	/* Random bytes from libsodium's ChaCha20 generator, seeded from
	 * getrandom(2) and stirred again after a fork: nonces and ids cost
	 * no system call each.  Only the node's own thread uses SQLite. */
	if (randombytes_set_implementation(&randombytes_internal_implementation) != 0 ||
	    sodium_init() < 0 || store_one_thread() != 0) {
		log_error("cannot set up libsodium and SQLite");
		return 1;
	}
	if (config_load(path, &cfg, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	/* ketend -n answers whoever runs it: on standard error */
	log_init("ketend", verbose ? LOG_LEVEL_DEBUG : (enum log_level)cfg->log_level,
	    cfg->use_syslog && !check);
	if (drop_privileges(cfg) != 0) {
		config_destroy(&cfg);
		return 1;
	}
	if (check) {
		r = node_check(cfg);
		config_destroy(&cfg);
		if (r == 0)
			printf("%s: good\n", path);
		return r == 0 ? 0 : 1;
	}
	if ((r = node_new(cfg, &n)) != 0) {
		config_destroy(&cfg);
		return 1;
	}
	r = node_run(n);
	node_destroy(&n);
	config_destroy(&cfg);
	return r == 0 ? 0 : 1;
}
