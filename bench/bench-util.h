/* bench-util.h - what every benchmark program shares: the machine line
 * (CPU model, cores, kernel, build), the clock, a seeded generator, sample
 * statistics, and printing one JSON row per line with jansson. */
#ifndef EP_BENCH_UTIL_H
#define EP_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct ep_bench_machine {
    char cpu[256];      /* /proc/cpuinfo "model name", or "unknown" */
    long cores;         /* online CPUs */
    char kernel[65];    /* uname release */
} ep_bench_machine;

void ep_bench_machine_read(ep_bench_machine *m);

/* Print the machine: a JSON row {"bench":"machine",...} with json, else a
 * "machine: ..." line.  build names the build type. */
void ep_bench_print_machine(bool json, const char *build);

/* CLOCK_MONOTONIC in seconds. */
double ep_bench_now_s(void);

/* xorshift64 (Marsaglia): the next number of the sequence in *state (never
 * 0): the same seed, the same workload. */
uint64_t ep_bench_xorshift64(uint64_t *state);

/* qsort comparator for doubles. */
int ep_bench_cmp_double(const void *a, const void *b);

/* Nearest-rank percentile (q in (0, 1]) of v[0..n); sorts v in place. */
double ep_bench_percentile(double *v, size_t n, double q);

/* Print `row` compactly on one line of stdout and release it. */
void ep_bench_emit(json_t *row);

#endif
