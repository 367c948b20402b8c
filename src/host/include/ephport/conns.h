/* top-tw.h - the sockets `ephport top` counts new connections from: one
 * NETLINK_SOCK_DIAG dump per frame of the TCP sockets on ephemeral ports
 * (connection states only: no listener, no request socket), each with its
 * socket cookie, which names the connection from its first state to the end
 * of its TIME_WAIT, and, in TIME_WAIT, the milliseconds its timer has left.
 * ephport/conn-rate.h says how the two tell a new connection from one seen before.
 *
 * The host snapshot (ephport/host.h) counts sockets per destination but
 * keeps neither cookies nor timers; this is a second dump, filtered by the
 * kernel on state and port range.
 */
#ifndef EPHPORT_CONNS_H
#define EPHPORT_CONNS_H

#include <ephport/api.h>

#include <stddef.h>
#include <stdint.h>

#include <netinet/tcp.h>

#include <ephport/addr.h>

/* One TCP socket: its destination as the host snapshot keys it (v4-mapped
 * IPv6 addresses folded to IPv4), its state (TCP_*), its socket cookie and
 * the time its timer has left (in TIME_WAIT: 0 once due, while the entry
 * waits for its timer-wheel bucket, up to about 2 s on this kernel). */
typedef struct ep_host_conn {
    ep_addr local, remote;
    uint16_t local_port, remote_port;
    uint32_t expires_ms;
    uint8_t state;
    uint64_t cookie;
} ep_host_conn;

/* The states `ephport top` counts connections in: every TCP state but
 * LISTEN, SYN_RECV (request sockets) and CLOSE, as a sock_diag state mask. */
#define EP_HOST_CONN_STATES                                                                    \
    (1u << TCP_ESTABLISHED | 1u << TCP_SYN_SENT | 1u << TCP_FIN_WAIT1 | 1u << TCP_FIN_WAIT2 |  \
     1u << TCP_TIME_WAIT | 1u << TCP_CLOSE_WAIT | 1u << TCP_LAST_ACK | 1u << TCP_CLOSING)

typedef void (*ep_host_conn_fn)(const ep_host_conn *tw, void *arg);

/* Walk one buffer of netlink messages from a sock_diag dump, calling fn for
 * each TCP socket whose state is in `states` (a mask of 1 << TCP_*; others
 * are skipped).  Trusts no length: returns 0 when the buffer ended without
 * NLMSG_DONE (read more), 1 at NLMSG_DONE, the kernel's negative errno for
 * NLMSG_ERROR, -EINVAL for a malformed message. */
EP_API int ep_host_conns_parse_states(const void *buf, size_t len, uint32_t states, ep_host_conn_fn fn,
                           void *arg);

/* ep_host_conns_parse_states for TIME_WAIT only. */
EP_API int ep_host_conns_parse_tw(const void *buf, size_t len, ep_host_conn_fn fn, void *arg);

/* Dump the TCP sockets (IPv4 and IPv6) in `states` whose local port lies in
 * [lo, hi] in network namespace `netns` (NULL: the caller's; a name under
 * /run/netns or a path).  The sock_diag socket is opened on a short-lived
 * thread inside that namespace; the calling thread never changes namespace
 * and runs fn itself.  0 or a negative errno. */
EP_API int ep_host_conns_dump(const char *netns, uint16_t lo, uint16_t hi, uint32_t states,
                   ep_host_conn_fn fn, void *arg);

#endif
