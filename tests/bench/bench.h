/*
 * bench.h — what the benchmarks share: a monotonic clock in seconds.
 */
#ifndef KETEN_BENCH_H
#define KETEN_BENCH_H

#include <time.h>

static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
