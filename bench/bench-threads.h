/* bench-threads.h - ephport-bench's "threads" section (bench-threads.c):
 * 1, 2 and 4 threads on one pool, aggregate throughput and ratios. */
#ifndef EP_BENCH_THREADS_H
#define EP_BENCH_THREADS_H

#include <stdbool.h>

#include <ephport/addr.h>

/* Run the section and print its rows (tables, or JSON rows with json). */
void ep_bench_threads(bool json, bool quick, const ep_addr *local);

#endif
