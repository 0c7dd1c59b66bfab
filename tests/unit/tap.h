/*
 * tap.h — the unit-test harness.  Each test binary calls CHECK() and
 * friends inside test functions registered with tap_run(); the binary
 * prints one line per failed check, one line per test and a closing
 * "N passed, N failed" line that tests/run.sh adds up.  Exit status is
 * non-zero when anything failed.
 */
#ifndef KETEN_TAP_H
#define KETEN_TAP_H

#include <stdio.h>

extern int tap_failed_checks;

#define CHECK(cond) do { \
	if (!(cond)) { \
		tap_failed_checks++; \
		fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

/* Compare two ints and show both values on failure. */
#define CHECK_EQ(a, b) do { \
	long long tap_a_ = (long long)(a), tap_b_ = (long long)(b); \
	if (tap_a_ != tap_b_) { \
		tap_failed_checks++; \
		fprintf(stderr, "  FAIL %s:%d: %s == %s (%lld != %lld)\n", \
		    __FILE__, __LINE__, #a, #b, tap_a_, tap_b_); \
	} \
} while (0)

struct tap_test {
	const char *name;
	void (*fn)(void);
};

/* Run the NULL-terminated list of tests; returns the process exit code. */
int tap_run(const struct tap_test *tests);

/* Directory of the test PKI: the one tests/run.sh made (KETEN_TEST_PKI),
 * else one made now with certs/mkdevnet.sh --test-certs (from KETEN_REPO,
 * else the source tree) and removed when the test exits.  NULL when it
 * cannot be made (the reason is on stderr). */
const char *tap_pki_dir(void);

#endif
