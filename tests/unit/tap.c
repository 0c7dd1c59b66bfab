/*
 * tap.c — see tap.h.
 */
#include <stdlib.h>

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

const char *
tap_pki_dir(void)
{
	return getenv("KETEN_TEST_PKI");
}
