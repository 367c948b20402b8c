/* kernel-oracle.h - the real Linux kernel as a test oracle: abstract socket
 * operations run on real sockets in the calling process's (private) network
 * namespace, each answering with the kernel's verdict (0 or -errno) and the
 * port it chose.  The differential test runs the same operations on the
 * engine in Linux mode and compares every verdict.
 *
 * Handles are small integers >= 0.  Owners (the engine's ep_bind_req.owner,
 * which Linux calls the socket's uid for SO_REUSEPORT groups) map to file
 * system uids: owner 0 creates its sockets as root (uid 0), owner k > 0 with
 * fsuid KO_UID_BASE + k (set around socket() only).  The socket's uid is
 * taken from the fsuid at socket() time (test-kernel-facts checks both the
 * socket inode's uid and that SO_REUSEPORT then refuses across owners).
 *
 * Verdicts and harness errors: every call returns the kernel's own answer
 * (0 or -errno from the one system call that is the operation).  When the
 * harness itself fails (a setsockopt it needs, a handshake that never
 * completes, sock_diag, a bad handle) it returns KO_EHARNESS instead, never
 * an errno, and ko_harness_error() says why.
 *
 * Call ko_env_setup() once, after entering a fresh private network namespace
 * (tests/netns-util.h) and before any socket is made. */
#ifndef EP_TEST_KERNEL_ORACLE_H
#define EP_TEST_KERNEL_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/addr.h>

#define KO_UID_BASE 20000u
#define KO_MAX_SOCKETS 4096

/* Returned by every ko_* call whose harness (not the kernel's verdict)
 * failed; below -4095, so it is no -errno. */
#define KO_EHARNESS (-100000)

/* Why the last KO_EHARNESS was returned. */
const char *ko_harness_error(void);

/* Socket options, set before bind/connect (mirror the engine's EP_BIND_*). */
enum {
    KO_REUSEADDR = 1u << 0,  /* SO_REUSEADDR */
    KO_REUSEPORT = 1u << 1,  /* SO_REUSEPORT */
    KO_NO_PORT   = 1u << 2,  /* IP_BIND_ADDRESS_NO_PORT */
    KO_V6ONLY    = 1u << 3,  /* IPV6_V6ONLY (AF_INET6 sockets only, ignored on
                                 AF_INET ones; without it the oracle sets
                                 IPV6_V6ONLY to 0: a dual-stack ::, Linux's
                                 default) */
};

typedef enum ko_close_how {
    KO_CLOSE_ACTIVE = 0,   /* TCP: we close first, then the peer (after it has
                              read our FIN): TIME_WAIT here */
    KO_CLOSE_PASSIVE = 1,  /* TCP: the peer closes first, then we: no TIME_WAIT
                              here (the TIME_WAIT is the server side's) */
    KO_CLOSE_RESET = 2,    /* TCP: SO_LINGER {1, 0}: RST, no TIME_WAIT anywhere */
} ko_close_how;

typedef struct ko_config {
    uint16_t lo, hi;           /* net.ipv4.ip_local_port_range */
    const char *reserved;      /* net.ipv4.ip_local_reserved_ports text, NULL = none */
    int tw_reuse;              /* net.ipv4.tcp_tw_reuse: 0, 1, 2 */
    unsigned tw_reuse_delay_ms;/* net.ipv4.tcp_tw_reuse_delay (ms), 0 = leave default */
    /* Local addresses to put on lo (besides 127.0.0.1/8 and ::1), e.g.
     * "127.0.0.2", "10.9.0.1", "fd00::1". */
    const char *const *local_addrs;
    size_t nlocal;
    /* TCP destinations to serve: a listener on each (address, port), on lo.
     * Remote addresses must be local to the namespace (on lo) so that the
     * handshake completes; "10.9.0.200" style addresses are added to lo.
     * Keep the remote ports outside [lo, hi]: a listener in the range takes
     * its port like any other bind.  A listener made with ko_listen() serves
     * connects too (exact address first, then a wildcard of the port). */
    const ep_addr *remotes;    /* each with its port in remote_ports[i] */
    const uint16_t *remote_ports;
    size_t nremote;
} ko_config;

/* Write the sysctls (ip_local_port_range, ip_local_reserved_ports - cleared
 * when reserved is NULL, tcp_tw_reuse, tcp_tw_reuse_delay), add the
 * addresses, start the listeners.  0, or -1 with the reason in why. */
int ko_env_setup(const ko_config *cfg, char *why, size_t len);

/* Close every socket and listener (TIME_WAIT entries stay in the kernel
 * until the namespace goes). */
void ko_env_teardown(void);

/* socket(family, SOCK_STREAM or SOCK_DGRAM) with the options in flags, made
 * as `owner`.  Returns a handle >= 0 or -errno; running out of descriptors
 * or memory is KO_EHARNESS (ko_env_setup() lifts RLIMIT_NOFILE to fit
 * KO_MAX_SOCKETS paired handles, as far as the hard limit allows).  Every
 * oracle socket is non-blocking. */
int ko_socket(uint8_t proto, uint8_t family, unsigned flags, uint32_t owner);

/* The handle's file descriptor (for tests that look at the socket itself),
 * or -1.  Do not close it. */
int ko_fd(int h);

/* bind(addr, port).  addr may be a wildcard (family 0 = the socket's
 * family's wildcard; an IPv4 address on an AF_INET6 socket is bound as
 * ::ffff:a.b.c.d).  port 0 = the kernel picks;
 * only_port != 0 first sets IP_LOCAL_PORT_RANGE to [only_port, only_port] so
 * that the kernel's own choice can only be that port.  only_port must lie in
 * the namespace's range (KO_EHARNESS otherwise): the kernel intersects the
 * socket's range with the namespace's and silently ignores a bound outside
 * it.  The narrowing stays on the socket (it also governs a later connect()
 * of a KO_NO_PORT socket unless ko_connect() sets its own).  On success *port_out
 * (may be NULL) receives the bound port (0 for a deferred KO_NO_PORT bind).
 * Returns 0 or -errno exactly as bind(2) gave it. */
int ko_bind(int h, const ep_addr *addr, uint16_t port, uint16_t only_port, uint16_t *port_out);

/* listen(backlog 16).  0 or -errno. */
int ko_listen(int h);

/* connect(remote, rport).  only_port as in ko_bind (applies when the kernel
 * chooses the port: autobind, or a deferred KO_NO_PORT bind).  TCP: the
 * handshake completes with the listener on (remote, rport) and the oracle
 * accepts and keeps the server side, for ko_close.  UDP: no packet is sent.
 * On success *local_out / *lport_out (may be NULL) receive the socket's
 * local address and port (getsockname, in the socket's family: an AF_INET6
 * socket talking IPv4 reports ::ffff:a.b.c.d).  0 or -errno as connect(2) gave it
 * (EADDRNOTAVAIL, EAGAIN, ...). */
int ko_connect(int h, const ep_addr *remote, uint16_t rport, uint16_t only_port,
               ep_addr *local_out, uint16_t *lport_out);

/* Close the socket (and, for a connected TCP socket, its accepted peer) in
 * the given order; waits until the local socket has reached its final state
 * (TIME_WAIT, or gone), asking sock_diag for its exact 4-tuple, at most 3 s.
 * Unconnected, listening or UDP sockets, and a TCP connection the oracle
 * could not pair (no listener of its own on the remote), are simply closed.
 * The handle is free afterwards whatever the result.  0, or KO_EHARNESS
 * (e.g. no TIME_WAIT appeared after an active close). */
int ko_close(int h, ko_close_how how);

/* Would a TCP connect from `local` (a wildcard = let routing choose) to
 * (remote, rport) through exactly port p succeed now?  A TCP_REPAIR socket
 * (needs CAP_NET_ADMIN) connects through the kernel's own port choice
 * (inet_hash_connect, with IP_LOCAL_PORT_RANGE [p, p] and, for a given
 * local address, IP_BIND_ADDRESS_NO_PORT) without sending a packet, and is
 * closed without a trace: no TIME_WAIT, and its bind bucket goes with it.
 * One side effect is the kernel's: when the answer is yes because a
 * reusable TIME_WAIT on that 4-tuple was taken over (tcp_tw_reuse, or any
 * TIME_WAIT whose timestamps allow it), that TIME_WAIT is gone afterwards,
 * exactly as after a real connect.  p must lie in the namespace's range.
 * 1 yes, 0 no (with the errno in *err, may be NULL), -errno if the probe
 * itself failed. */
int ko_probe_tcp_port(const ep_addr *local, const ep_addr *remote, uint16_t rport, uint16_t p,
                      int *err);

/* How many TCP connects from `local` towards (remote, rport) would succeed
 * now: ko_probe_tcp_port over every port of the namespace's range (so it
 * also ends every reusable TIME_WAIT towards that destination).  A count
 * >= 0, or KO_EHARNESS. */
int ko_count_tcp_free(const ep_addr *local, const ep_addr *remote, uint16_t rport);

/* Small helpers the kernel tests share. */
/* Parse an address the test wrote itself (aborts on a typo). */
ep_addr ko_addr(const char *text);
void ko_msleep(int ms);
/* Print the reason (a line on stderr) and return 1: a child's failure. */
int ko_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* In a function returning a child's exit code: fail with the reason. */
#define KO_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond))                                                         \
            return ko_fail(__VA_ARGS__);                                     \
    } while (0)

#endif
