/* netns-util.h - helpers for integration tests that need a private network
 * namespace: enter one (loopback up) or report why the test must skip. */
#ifndef EP_TEST_NETNS_UTIL_H
#define EP_TEST_NETNS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Move the calling process into a new network namespace with lo up (IPv4
 * 127.0.0.1/8 and IPv6 ::1).  Returns true on success; on failure returns
 * false and writes the reason ("unshare(CLONE_NEWNET): Operation not
 * permitted (needs root or CAP_SYS_ADMIN)") to why.  Call it before any
 * thread is started. */
bool ep_test_enter_private_netns(char *why, size_t len);

/* Write `value` to /proc/sys/<path> (e.g. "net/ipv4/ip_local_port_range").
 * Returns 0 or -errno. */
int ep_test_write_sysctl(const char *path, const char *value);

/* Add an address to lo, e.g. "127.0.0.2/8" or "fd00::2/128", with ip(8).
 * Returns 0 or -1. */
int ep_test_add_lo_address(const char *cidr);

/* A network namespace held by a child process that unshares one and waits
 * (and dies with the test: PR_SET_PDEATHSIG), so topologies need no named
 * namespaces (`ip netns add` needs / to be a mount point).  The holder's
 * pid, or -1.  The first call remembers the namespace the test started in. */
pid_t ep_test_ns_hold(void);
/* Move this process into the namespace held by pid (0: the one the test
 * started in).  true on success. */
bool ep_test_ns_enter(pid_t holder);
/* Back to the starting namespace, and kill and reap the holder. */
void ep_test_ns_release(pid_t holder);
/* system(3) of a formatted command; -1 if it does not fit. */
int ep_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A copy of $EPHPORT_BIN that uid 65534 can run (the build folder may sit
 * under a 0700 home or mkdtemp folder; the binary links the libraries
 * statically, so the file alone is enough).  Made once, removed at exit. */
const char *ep_test_nobody_bin(void);

/* A child's exit code meaning "this kernel cannot run the case": skip. */
#define EP_TEST_SKIP 77

/* In a cmocka test that drives the eBPF tracer: skip, saying why on stderr
 * (the skip report lists it), unless root and built with BPF (have_bpf:
 * EP_HAVE_BPF of ep-host-config.h). */
#define EP_TEST_NEED_ROOT_BPF(have_bpf)                                                   \
    do {                                                                                  \
        if (geteuid() != 0) {                                                             \
            fprintf(stderr, "SKIP: needs root (a private network namespace, BPF)\n");     \
            skip();                                                                       \
        }                                                                                 \
        if (!(have_bpf)) {                                                                \
            fprintf(stderr, "SKIP: built with -Dbpf=disabled\n");                         \
            skip();                                                                       \
        }                                                                                 \
    } while (0)

/* Run one integration case in a forked child (so every case can unshare a
 * namespace of its own), with a 60 s alarm, from inside a cmocka test:
 * not root -> "SKIP: needs root (NEEDS)" on stderr and a cmocka skip; the
 * child's exit EP_TEST_SKIP -> skip; any other non-zero exit or a signal
 * -> the test fails. */
void ep_test_forked_case(const char *needs, int (*fn)(const void *), const void *arg);

#endif
