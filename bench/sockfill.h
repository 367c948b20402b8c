/* sockfill.h - the socket fixture of the host benchmarks: a private network
 * namespace with the whole port range, and many TCP sockets towards local
 * listeners, most of them left in TIME_WAIT. */
#ifndef EP_BENCH_SOCKFILL_H
#define EP_BENCH_SOCKFILL_H

#include <stdbool.h>
#include <netinet/in.h>

#include "bench-util.h"

/* unshare(CLONE_NEWNET), lo up, range 1024-65535, tcp_max_tw_buckets high
 * enough.  prog names the program in error messages. */
bool ep_bench_enter_netns(const char *prog);

/* Write value to /proc/sys/<path> of the current namespace.  0 or -1. */
int ep_bench_sysctl(const char *path, const char *value);

/* Make n connections round-robin over ndest listeners (addrs[i] is the
 * address of listeners[i]); the client closes first, so all but the last
 * `keep` end in TIME_WAIT here, and those `keep` stay ESTABLISHED. */
int ep_bench_make_sockets(const char *prog, int *listeners, struct sockaddr_in *addrs, int ndest,
                          long n, long keep);

#endif
