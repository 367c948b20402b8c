/* diag.h - the NETLINK_SOCK_DIAG plumbing shared by the snapshot's socket
 * dump (sockdiag.c) and `ephport top`'s TIME_WAIT timer dump (top-tw.c):
 * the request with its source-port bytecode, a walk over a reply buffer
 * that trusts no length, and the IPv4-mapped address rule.  Private. */
#ifndef EP_HOST_DIAG_H
#define EP_HOST_DIAG_H

#include <stddef.h>
#include <stdint.h>

#include <linux/inet_diag.h>

#include <ephport/addr.h>

/* Bytes ep_diag_request() writes. */
#define EP_DIAG_REQUEST_LEN                                                                   \
    (sizeof(struct nlmsghdr) + sizeof(struct inet_diag_req_v2) + sizeof(struct nlattr) +     \
     4 * sizeof(struct inet_diag_bc_op))

/* ::ffff:a.b.c.d shares the IPv4 ports: it is keyed as IPv4. */
void ep_diag_addr(int family, const uint32_t raw[4], ep_addr *out);

/* Write a dump request for (family, proto) sockets in `states` (a bit mask
 * of TCP states) whose source port is in [lo, hi] into buf, which holds at
 * least EP_DIAG_REQUEST_LEN bytes.  Returns the length to send. */
size_t ep_diag_request(void *buf, int family, uint8_t proto, uint32_t states, uint16_t lo,
                       uint16_t hi, uint32_t seq);

/* Bytes ep_diag_request_compat() writes. */
#define EP_DIAG_REQUEST_COMPAT_LEN                                                            \
    (sizeof(struct nlmsghdr) + sizeof(struct inet_diag_req) + sizeof(struct nlattr) +        \
     4 * sizeof(struct inet_diag_bc_op))

/* The same request for TCP sockets of both families at once, in inet_diag's
 * original form (TCPDIAG_GETSOCK, struct inet_diag_req): the kernel then
 * walks its tables once for IPv4 and IPv6 together, where two requests of
 * the form above walk them twice.  The replies are TCPDIAG_GETSOCK
 * messages with the same body. */
size_t ep_diag_request_compat(void *buf, uint32_t states, uint16_t lo, uint16_t hi, uint32_t seq);

typedef void (*ep_diag_fn)(const struct inet_diag_msg *m, void *arg);

/* Walk one received buffer, calling fn for each SOCK_DIAG_BY_FAMILY
 * message.  seq / portid 0 skip those checks.  Returns 1 when more is to
 * come, 0 at NLMSG_DONE, the kernel's negative errno for NLMSG_ERROR,
 * -EBADMSG for a malformed buffer, -EPROTO for a foreign message.
 * TCPDIAG_GETSOCK messages (replies to ep_diag_request_compat) are walked
 * as SOCK_DIAG_BY_FAMILY ones. */
int ep_diag_walk(const void *buf, size_t len, uint32_t seq, uint32_t portid, ep_diag_fn fn,
                 void *arg);

#endif
