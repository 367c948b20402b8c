/* sockrules.c - two sockets on one port: overlap, conflict, and where a
 * port-holding socket blocks connect-style allocation (see sockrules.h).
 *
 * Stack semantics (the idealised kernel of docs/ENGINE.md section 12):
 * IPv4 and IPv6 never overlap; SO_REUSEADDR on both shares unless either
 * listens; a binding blocks connect-style allocation on its own address.
 *
 * Linux semantics (docs/ENGINE.md section 13, checked against Linux 6.18 by
 * tests/test-kernel-diff.c):
 *   - overlap: equal addresses or a wildcard of the same family; across
 *     families, an IPv4 socket meets an IPv6 one that is not IPV6_V6ONLY
 *     when either is a wildcard, and an IPv6 wildcard that is not V6ONLY
 *     meets every IPv4 socket (inet_rcv_saddr_equal / ipv6_rcv_saddr_equal
 *     with match_wildcard).  Binding an IPv6 socket to a specific address
 *     makes it V6ONLY (inet6_bind; bind.c sets the flag), so only sockets
 *     that got their IPv6 address from connect() (seen by IPv4 as
 *     127.0.0.6, LOOPBACK4_IPV6) meet an IPv4 wildcard;
 *   - TCP conflict (inet_bind_conflict): none if both have SO_REUSEADDR and
 *     the existing one is not listening (the new one may be about to listen:
 *     the kernel tests the new socket's sk_reuse, not its state); none if
 *     both have SO_REUSEPORT and the existing one is in TIME_WAIT or has the
 *     same user; otherwise a conflict.  bind(addr, 0) does not relax: any
 *     overlapping socket makes the kernel skip the port;
 *   - UDP conflict (udp_lib_lport_inuse): none if both have SO_REUSEADDR, or
 *     both SO_REUSEPORT with the same user; the same for bind(addr, 0);
 *   - blocking connect-style allocation: see ep_rule_hold_blocks. */
#include <assert.h>
#include <sys/socket.h>

#include "dest.h"
#include "sockrules.h"

static bool ep_view_wild(const ep_sock_view *v)
{
    return v->lidx == EP_NIL;
}

bool ep_rule_overlap(const ep_pool *pool, const ep_sock_view *nw, const ep_sock_view *ex)
{
    if (nw->family == ex->family)
        return ep_view_wild(nw) || ep_view_wild(ex) || nw->lidx == ex->lidx;
    if (pool->cfg.semantics != EP_SEM_LINUX)
        return false;
    if (nw->family == AF_INET) /* ex is IPv6 */
        return !(ex->flags & EP_BIND_V6ONLY) && (ep_view_wild(nw) || ep_view_wild(ex));
    /* nw is IPv6, ex IPv4: only a dual-stack wildcard reaches IPv4 */
    return ep_view_wild(nw) && !(nw->flags & EP_BIND_V6ONLY);
}

bool ep_rule_conflict(const ep_pool *pool, uint8_t proto, const ep_sock_view *nw,
                      const ep_sock_view *ex, bool relax)
{
    bool ra = (nw->flags & EP_BIND_REUSEADDR) && (ex->flags & EP_BIND_REUSEADDR);
    bool rp = (nw->flags & EP_BIND_REUSEPORT) && (ex->flags & EP_BIND_REUSEPORT);

    if (pool->cfg.semantics != EP_SEM_LINUX) {
        if (!relax)
            return true; /* bind(0) avoids every overlapping binding */
        if (rp && nw->owner == ex->owner)
            return false;
        if (ra && (proto == EP_PROTO_UDP || (!nw->listening && !ex->listening)))
            return false;
        return true;
    }
    if (proto == EP_PROTO_UDP)
        return !(ra || (rp && nw->owner == ex->owner));
    if (!relax)
        return true;
    if (ra && !ex->listening)
        return false;
    if (rp && (ex->time_wait || nw->owner == ex->owner))
        return false;
    return true;
}

ep_sock_view ep_rule_view_addr(const ep_pool *pool, uint32_t lidx)
{
    ep_sock_view v = { pool->addrs[lidx].addr.family, lidx, 0, 0, false, false };
    return v;
}

bool ep_rule_hold_blocks(const ep_pool *pool, int pi, const ep_sock_view *holder, uint32_t a)
{
    if (pool->cfg.semantics != EP_SEM_LINUX)
        return holder->lidx == a ||
               (holder->lidx == EP_NIL && pool->addrs[a].addr.family == holder->family);
    if (pi == EP_PI_TCP)
        return true;
    /* what a wildcard autobind of a's family (dual-stack for IPv6, no
     * options) would meet */
    ep_sock_view wild = { pool->addrs[a].addr.family, EP_NIL, 0, 0, false, false };
    return ep_rule_overlap(pool, &wild, holder);
}

void ep_rule_hold_apply(ep_pool *pool, int pi, const ep_sock_view *holder, uint16_t port,
                        int delta)
{
    if (pool->linux_sem && pi == EP_PI_TCP) {
        /* the bucket's explicitly bound sockets; when the last goes, Linux
         * 6.18 resets the bucket to -1 (or frees it): no fast path left */
        ep_tcp_fast *f = &pool->tcpfast[port];
        assert(delta > 0 || f->sticky > 0);
        f->sticky += (uint32_t)delta;
        if (f->sticky == 0)
            f->frp = EP_FRP_NONE;
    }
    for (uint32_t a = 0; a < pool->naddrs; a++) {
        if (!ep_rule_hold_blocks(pool, pi, holder, a))
            continue;
        if (delta > 0)
            ep_lstate_blk_inc(pool, a, pi, port);
        else
            ep_lstate_blk_dec(pool, a, pi, port);
    }
}
