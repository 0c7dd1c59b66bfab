/*
 * tap.c — see tap.h.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

int tap_failed_checks;

int
tap_run(const struct tap_test *tests)
{
	int passed = 0, failed = 0;

	for (const struct tap_test *t = tests; t->name != NULL; t++) {
		int before = tap_failed_checks;

		t->fn();
		if (tap_failed_checks == before) {
			passed++;
			printf("ok   %s\n", t->name);
		} else {
			failed++;
			printf("FAIL %s\n", t->name);
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#ifndef KETEN_SRCDIR
#define KETEN_SRCDIR "."
#endif

static char own_pki[64];

static void
own_pki_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", own_pki);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", own_pki);
}

const char *
tap_pki_dir(void)
{
	static char dir[128];
	const char *env = getenv("KETEN_TEST_PKI"), *repo = getenv("KETEN_REPO");
	char cmd[8192];

	if (env != NULL && env[0] != '\0')
		return env;
	if (dir[0] != '\0')
		return dir;
	snprintf(own_pki, sizeof(own_pki), "/tmp/keten-test-pki.XXXXXX");
	if (mkdtemp(own_pki) == NULL)
		return NULL;
	atexit(own_pki_remove);
	snprintf(dir, sizeof(dir), "%s/pki", own_pki);
	snprintf(cmd, sizeof(cmd), "'%s/certs/mkdevnet.sh' --test-certs '%s' >'%s/log' 2>&1",
	    repo != NULL ? repo : KETEN_SRCDIR, dir, own_pki);
	if (system(cmd) != 0) {
		fprintf(stderr, "  %s failed:\n", cmd);
		snprintf(cmd, sizeof(cmd), "cat '%s/log' >&2", own_pki);
		if (system(cmd) != 0)
			fprintf(stderr, "  (no log)\n");
		dir[0] = '\0';
		return NULL;
	}
	return dir;
}
