/* kernel-connect.h - the real kernel's connect() as a baseline for
 * ephport-bench (see kernel-connect.c).  Private to bench/. */
#ifndef EP_BENCH_KERNEL_CONNECT_H
#define EP_BENCH_KERNEL_CONNECT_H

#include <stddef.h>
#include <stdint.h>

typedef struct kc_state kc_state;

/* Move the process into a private network namespace (lo up) and start a
 * loopback listener.  -errno with why filled. */
int kc_open(kc_state **out, char *why, size_t len);
/* Hold n client connections to the listener (in child processes); n may
 * only grow from one call to the next.  0 or -errno. */
int kc_occupy(kc_state *k, uint32_t n);
/* One socket() + connect() + close(reset).  0 or -errno. */
int kc_pair(kc_state *k);
void kc_close(kc_state *k);

#endif
