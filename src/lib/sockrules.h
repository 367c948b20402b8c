/* sockrules.h - the kernel's rules about two sockets on one port, in one
 * place: whether their addresses overlap, whether a new binding conflicts
 * with a socket already there, and where a port-holding socket keeps
 * connect-style allocation away.  Every engine file that asks one of these
 * questions (bind.c, conn.c, check.c) calls these functions; the stack and
 * linux semantics differ here and nowhere else.  Private to libephport. */
#ifndef EP_SOCKRULES_H
#define EP_SOCKRULES_H

#include <stdbool.h>
#include <stdint.h>

#include "pool-t.h"

/* What the rules need to know of one socket on a port. */
typedef struct ep_sock_view {
    uint8_t family;     /* AF_INET or AF_INET6 */
    uint32_t lidx;      /* pool address index, EP_NIL = the family's wildcard */
    uint8_t flags;      /* EP_BIND_REUSEADDR | EP_BIND_REUSEPORT | EP_BIND_V6ONLY */
    uint32_t owner;     /* the socket's user (SO_REUSEPORT groups) */
    bool listening;     /* a TCP listener */
    bool time_wait;     /* a TCP TIME_WAIT entry */
} ep_sock_view;

/* Do the local addresses of a new socket `nw` and an existing one `ex`
 * overlap (Linux: inet_rcv_saddr_equal() with wildcards, which is not
 * symmetric across families)? */
bool ep_rule_overlap(const ep_pool *pool, const ep_sock_view *nw, const ep_sock_view *ex);

/* Given that they overlap, does binding `nw` to an explicit port conflict
 * with `ex` (relax: an explicit port; !relax: the kernel choosing a port for
 * bind(addr, 0))?  Linux: inet_bind_conflict() for TCP, udp_lib_lport_inuse()
 * for UDP. */
bool ep_rule_conflict(const ep_pool *pool, uint8_t proto, const ep_sock_view *nw,
                      const ep_sock_view *ex, bool relax);

/* Does a socket `holder` holding a port of protocol index pi keep
 * connect-style allocation off that port on pool address a?  Stack: a
 * binding blocks its own address (or its family, for a wildcard).  Linux
 * TCP: every explicitly bound socket blocks every address (the bind bucket
 * is per port and __inet_hash_connect() skips a bucket an explicit bind
 * touched); Linux UDP: every socket blocks what a wildcard autobind of a's
 * family would conflict with (udp_lib_get_port() runs before the source
 * address is set). */
bool ep_rule_hold_blocks(const ep_pool *pool, int pi, const ep_sock_view *holder, uint32_t a);

/* Apply (delta +1) or remove (-1) holder's block on every address it
 * blocks (ep_lstate_blk_inc / _dec). */
void ep_rule_hold_apply(ep_pool *pool, int pi, const ep_sock_view *holder, uint16_t port,
                        int delta);

/* A pool address as a socket bound to it, with no options. */
ep_sock_view ep_rule_view_addr(const ep_pool *pool, uint32_t lidx);

#endif
