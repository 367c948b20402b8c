/* bind.c - bind-style allocation with the kernel's reuse rules.
 *
 * A binding holds (protocol, address, port), the address being a pool
 * address or its family's wildcard.  Rules (docs/ENGINE.md, Linux
 * inet_csk_bind_conflict() and inet_csk_get_port()):
 *
 *   1. Two port-holding bindings on the same protocol and port conflict when
 *      their addresses overlap (equal, or either is the wildcard of the same
 *      family), unless (a) both have SO_REUSEPORT and the same owner (Linux:
 *      same uid), or (b) both have SO_REUSEADDR and neither is a listening
 *      TCP binding (UDP: SO_REUSEADDR on both suffices).
 *   2. A new binding on (L, p) conflicts with connect-style tuples holding p
 *      on L (any address of the family for a wildcard) in any state (in use,
 *      TIME_WAIT, quarantine) unless it has SO_REUSEADDR.
 *   3. ep_pool_listen() re-checks rule 1 with the binding listening (Linux
 *      inet_csk_listen_start() re-runs get_port): -EADDRINUSE if a
 *      SO_REUSEADDR neighbour now conflicts.
 *   4. Port 0 picks uniformly among effective ports with no overlapping
 *      binding and no connect-style tuple on the address (Linux prefers odd
 *      ports for bind(0) to leave even ones to connect(); our connect-style
 *      allocation is uniform and per destination, so the split buys nothing).
 *   5. EP_BIND_NO_PORT with port 0 holds nothing until connected; the
 *      connect then chooses connect-style and the binding ends.
 *   6. A connected explicit binding keeps its port (blocking binds and
 *      connect-style allocation on its address) until the connection is
 *      closed; then the binding ends and the tuple follows the normal close
 *      path (TIME_WAIT etc.).  A binding id is no longer valid once connected.
 *
 * Bindings live in a slab; those holding a port are chained per
 * (protocol, port) so conflict checks read only their neighbours.  Ids are
 * (generation << 32 | slot + 1): a stale id never finds a reused slot. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bind.h"
#include "conn.h"
#include "dest.h"
#include "engine.h"
#include "owner.h"
#include "shard.h"
#include "sockrules.h"
#include "tuple_table.h"
#include "chacha.h"

#define EP_BIND_FLAGS (EP_BIND_REUSEADDR | EP_BIND_REUSEPORT | EP_BIND_NO_PORT | EP_BIND_V6ONLY)
#define EP_BIND0_TRIES 16

int ep_binds_init(ep_pool *pool)
{
    pool->binds = NULL;
    pool->binds_cap = pool->binds_used = 0;
    pool->binds_free = EP_NIL;
    for (int pi = 0; pi < 2; pi++) {
        pool->bhead[pi] = calloc(65536, sizeof(uint32_t)); /* slot + 1, 0 = none */
        if (!pool->bhead[pi])
            return -ENOMEM;
    }
    pool->tcpfast = NULL;
    if (pool->linux_sem && !(pool->tcpfast = calloc(65536, sizeof *pool->tcpfast)))
        return -ENOMEM;
    return 0;
}

void ep_binds_destroy(ep_pool *pool)
{
    free(pool->tcpfast);
    free(pool->binds);
    free(pool->bhead[0]);
    free(pool->bhead[1]);
}

static ep_bind_id ep_bind_make_id(const ep_pool *pool, uint32_t bidx)
{
    return ((uint64_t)pool->binds[bidx].gen << 32) | (uint64_t)(bidx + 1);
}

static uint32_t ep_bind_lookup(const ep_pool *pool, ep_bind_id id)
{
    uint32_t slot = (uint32_t)id;
    const ep_binding *b;

    if (slot == 0 || slot > pool->binds_used)
        return EP_NIL;
    b = &pool->binds[slot - 1];
    if (b->state == EP_B_FREE || b->state == EP_B_CONNECTED || b->gen != (uint32_t)(id >> 32))
        return EP_NIL;
    return slot - 1;
}

static int ep_bind_reserve(ep_pool *pool)
{
    if (pool->binds_free == EP_NIL && pool->binds_used == pool->binds_cap) {
        uint32_t ncap = pool->binds_cap ? pool->binds_cap * 2 : 16;
        ep_binding *n;
        if (pool->binds_cap >= (1u << 30))
            return -ENOMEM;
        n = realloc(pool->binds, (size_t)ncap * sizeof *n);
        if (!n)
            return -ENOMEM;
        pool->binds = n;
        pool->binds_cap = ncap;
    }
    return 0;
}

static uint32_t ep_bind_alloc(ep_pool *pool)
{
    uint32_t i;
    uint32_t gen = 1;
    if (pool->binds_free != EP_NIL) {
        i = pool->binds_free;
        pool->binds_free = pool->binds[i].pnext;
        gen = pool->binds[i].gen + 1;
    } else {
        i = pool->binds_used++;
    }
    memset(&pool->binds[i], 0, sizeof pool->binds[i]);
    pool->binds[i].gen = gen;
    return i;
}

static void ep_bind_release_slot(ep_pool *pool, uint32_t bidx)
{
    ep_binding *b = &pool->binds[bidx];
    b->state = EP_B_FREE;
    b->pnext = pool->binds_free;
    pool->binds_free = bidx;
}

ep_sock_view ep_bind_view(const ep_binding *b)
{
    ep_sock_view v = { b->addr.family, b->laddr,
                       (uint8_t)(b->flags & (EP_BIND_REUSEADDR | EP_BIND_REUSEPORT | EP_BIND_V6ONLY)),
                       b->owner, b->listening != 0, false };
    return v;
}

/* Rules 1 and 3: does nw conflict with a port-holding binding on port
 * (skip: a binding not to compare with, or EP_NIL)? */
static bool ep_bind_conflicts(const ep_pool *pool, uint8_t proto, const ep_sock_view *nw,
                              uint16_t port, bool relax, uint32_t skip)
{
    int pi = ep_proto_index(proto);
    for (uint32_t s = pool->bhead[pi][port]; s; s = pool->binds[s - 1].pnext) {
        if (s - 1 == skip)
            continue;
        ep_sock_view ex = ep_bind_view(&pool->binds[s - 1]);
        if (ep_rule_overlap(pool, nw, &ex) && ep_rule_conflict(pool, proto, nw, &ex, relax))
            return true;
    }
    return false;
}

/* Would every connect-style entry overlapping nw on address a conflict
 * with it, whatever the entry's options?  Then a count is enough. */
static bool ep_bind_entries_verdict_fixed(const ep_pool *pool, uint8_t proto,
                                          const ep_sock_view *nw, uint32_t a, bool relax)
{
    if (pool->addrs[a].addr.family != nw->family)
        return false; /* cross-family overlap depends on the entry's V6ONLY */
    if (proto == EP_PROTO_TCP && !relax)
        return true;
    return !(nw->flags & (EP_BIND_REUSEADDR | EP_BIND_REUSEPORT));
}

/* Rule 2: does nw conflict with a connect-style entry holding port?
 * Stack semantics: any entry on an overlapping address, unless nw has
 * SO_REUSEADDR (connect-style tuples are taken as sockets that allow
 * reuse).  Linux semantics: each entry is a socket with its own options
 * (sockrules.c); an entry of a connected explicit binding is judged as its
 * binding, in the chain. */
static bool ep_bind_entries_conflict(const ep_pool *pool, uint8_t proto, const ep_sock_view *nw,
                                     uint16_t port, bool relax)
{
    int pi = ep_proto_index(proto);
    for (uint32_t a = 0; a < pool->naddrs; a++) {
        const ep_lstate *ls = ep_ls(pool, a, pi);
        if (ep_conn_count_all(pool, a, pi, port) == 0) /* every shard's */
            continue;
        ep_sock_view at = ep_rule_view_addr(pool, a);
        if (!pool->linux_sem) {
            if (ep_rule_overlap(pool, nw, &at) && (!relax || !(nw->flags & EP_BIND_REUSEADDR)))
                return true;
            continue;
        }
        if (ep_bind_entries_verdict_fixed(pool, proto, nw, a, relax)) {
            if (ep_rule_overlap(pool, nw, &at))
                return true;
            continue;
        }
        for (uint32_t di = ls->dests; di != EP_NIL; di = pool->dt.d[di].lnext) {
            uint32_t e = ep_tt_find(&pool->tt, di, port);
            if (e == EP_NIL)
                continue;
            const ep_entry *en = &pool->tt.e[e];
            if (en->state == EP_ST_INUSE && en->u.held.bind != EP_NIL)
                continue; /* its binding answers for it */
            ep_sock_view ex = ep_conn_view(pool, e);
            if (ep_rule_overlap(pool, nw, &ex) && ep_rule_conflict(pool, proto, nw, &ex, relax))
                return true;
        }
    }
    return false;
}

static void ep_bind_hold(ep_pool *pool, uint32_t bidx)
{
    ep_binding *b = &pool->binds[bidx];
    int pi = ep_proto_index(b->proto);
    uint32_t *head = &pool->bhead[pi][b->port];
    ep_sock_view v = ep_bind_view(b);

    b->pprev = 0;
    b->pnext = *head;
    if (*head)
        pool->binds[*head - 1].pprev = bidx + 1;
    *head = bidx + 1;
    ep_rule_hold_apply(pool, pi, &v, b->port, +1);
    pool->st.binds++;
}

static void ep_bind_unhold(ep_pool *pool, uint32_t bidx)
{
    ep_binding *b = &pool->binds[bidx];
    int pi = ep_proto_index(b->proto);
    ep_sock_view v = ep_bind_view(b);

    if (b->pprev)
        pool->binds[b->pprev - 1].pnext = b->pnext;
    else
        pool->bhead[pi][b->port] = b->pnext;
    if (b->pnext)
        pool->binds[b->pnext - 1].pprev = b->pprev;
    b->pnext = b->pprev = 0;
    ep_rule_hold_apply(pool, pi, &v, b->port, -1);
    pool->st.binds--;
}

void ep_bind_new_address(ep_pool *pool, uint32_t lidx)
{
    for (uint32_t i = 0; i < pool->binds_used; i++) {
        ep_binding *b = &pool->binds[i];
        int pi = ep_proto_index(b->proto);
        ep_sock_view v = ep_bind_view(b);
        if ((b->state == EP_B_HOLD || b->state == EP_B_CONNECTED) &&
            ep_rule_hold_blocks(pool, pi, &v, lidx))
            ep_lstate_blk_inc(pool, lidx, pi, b->port);
    }
    /* entries that hold their port for themselves (Linux) */
    for (uint32_t i = 0; i < pool->tt.used; i++) {
        const ep_entry *e = &pool->tt.e[i];
        if (e->state == EP_ST_FREE || !(e->eflags & EP_EF_HOLD))
            continue;
        int pi = ep_proto_index(pool->dt.d[e->dest].proto);
        ep_sock_view v = ep_conn_view(pool, i);
        if (ep_rule_hold_blocks(pool, pi, &v, lidx))
            ep_lstate_blk_inc(pool, lidx, pi, e->port);
    }
}

/* Linux TCP: does nw match the port's SO_REUSEPORT fast path
 * (sk_reuseport_match: same user, and for STRICT the recorded address or
 * its wildcard)?  Then inet_csk_get_port() skips the conflict check, even
 * where a socket recorded earlier would have conflicted. */
static bool ep_bind_fast_match(const ep_pool *pool, const ep_sock_view *nw, uint16_t port)
{
    const ep_tcp_fast *f = &pool->tcpfast[port];
    if (f->frp == EP_FRP_NONE || !(nw->flags & EP_BIND_REUSEPORT) || f->uid != nw->owner)
        return false;
    if (f->frp == EP_FRP_ANY)
        return true;
    if (f->family == nw->family)
        return f->lidx == EP_NIL || f->lidx == nw->lidx;
    if (f->lidx != EP_NIL)
        return false;
    return f->family == AF_INET6 ? !f->v6only : !(nw->flags & EP_BIND_V6ONLY);
}

/* Does any TCP socket hold port (the bind bucket exists)? */
static bool ep_bind_bucket_busy(const ep_pool *pool, uint16_t port)
{
    if (pool->bhead[EP_PI_TCP][port])
        return true;
    for (uint32_t a = 0; a < pool->naddrs; a++)
        if (ep_ls(pool, a, EP_PI_TCP)->pc[port].conn)
            return true;
    return false;
}

/* Linux TCP: inet_csk_update_fastreuse()'s SO_REUSEPORT part, after nw got
 * the port (bind or listen); was_empty: nw created the bucket. */
static void ep_bind_fast_update(ep_pool *pool, const ep_sock_view *nw, uint16_t port, bool was_empty)
{
    ep_tcp_fast *f = &pool->tcpfast[port];
    if (!(nw->flags & EP_BIND_REUSEPORT)) {
        f->frp = EP_FRP_NONE;
        return;
    }
    if (!was_empty && ep_bind_fast_match(pool, nw, port))
        return;
    f->frp = was_empty ? EP_FRP_ANY : EP_FRP_STRICT;
    f->uid = nw->owner;
    f->family = nw->family;
    f->lidx = nw->lidx;
    f->v6only = (nw->flags & EP_BIND_V6ONLY) != 0;
}

/* Rule 4: may the kernel choose this port for nw (bind(addr, 0), or a
 * Linux UDP autobind from a bound address)? */
static bool ep_bind0_ok(const ep_pool *pool, uint8_t proto, const ep_sock_view *nw, uint16_t port)
{
    return !ep_bind_conflicts(pool, proto, nw, port, false, EP_NIL) &&
           !ep_bind_entries_conflict(pool, proto, nw, port, false);
}

/* Rule 4: uniform among the candidates: rejection sampling, then an exact
 * count-and-pick scan (O(range); bind(0) on a nearly full address only). */
static int ep_bind_pick(ep_pool *pool, uint8_t proto, const ep_sock_view *nw, uint16_t *port)
{
    uint32_t n = pool->neff, count = 0, k;

    for (int t = 0; t < EP_BIND0_TRIES; t++) {
        uint16_t p = pool->idx2port[ep_rng_below(&pool->rng, n)];
        if (ep_bind0_ok(pool, proto, nw, p)) {
            *port = p;
            return 0;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        count += ep_bind0_ok(pool, proto, nw, pool->idx2port[i]);
    if (count == 0)
        return -EADDRNOTAVAIL;
    k = ep_rng_below(&pool->rng, count);
    for (uint32_t i = 0; i < n; i++) {
        if (ep_bind0_ok(pool, proto, nw, pool->idx2port[i]) && k-- == 0) {
            *port = pool->idx2port[i];
            return 0;
        }
    }
    return -EADDRNOTAVAIL; /* not reached */
}

int ep_bind_do(ep_pool *pool, const ep_bind_req *req, ep_bind_id *id, uint16_t *port_out)
{
    ep_addr addr;
    uint32_t lidx = EP_NIL, bidx;
    uint16_t port = req->port;
    int rc;
    bool holds;

    if (req->proto != EP_PROTO_TCP && req->proto != EP_PROTO_UDP)
        return -EINVAL;
    if (req->addr.family != AF_INET && req->addr.family != AF_INET6)
        return -EINVAL;
    if (req->flags & ~(unsigned)EP_BIND_FLAGS)
        return -EINVAL;
    if ((req->flags & EP_BIND_V6ONLY) && req->addr.family != AF_INET6)
        return -EINVAL; /* Linux: IPV6_V6ONLY on an IPv4 socket, ENOPROTOOPT */
    ep_addr_canon(&req->addr, &addr);
    if (!ep_addr_wild(&addr)) {
        lidx = ep_pool_addr_index(pool, &addr);
        if (lidx == EP_NIL)
            return -ENOENT;
    }
    holds = port != 0 || !(req->flags & EP_BIND_NO_PORT);
    if (holds && (rc = ep_owner_check(pool, req->owner)) < 0)
        return rc;
    if ((rc = ep_bind_reserve(pool)) < 0 || (holds && (rc = ep_owner_reserve(pool, req->owner)) < 0))
        return rc;
    unsigned flags = req->flags;
    /* Linux: binding an IPv6 socket to a specific (not IPv4-mapped) address
     * makes it IPv6-only (inet6_bind sets sk_ipv6only) */
    if (pool->linux_sem && addr.family == AF_INET6 && lidx != EP_NIL)
        flags |= EP_BIND_V6ONLY;
    ep_sock_view nw = { addr.family, lidx,
                        (uint8_t)(flags & (EP_BIND_REUSEADDR | EP_BIND_REUSEPORT | EP_BIND_V6ONLY)),
                        req->owner, false, false };
    bool tcp_linux = pool->linux_sem && req->proto == EP_PROTO_TCP;
    if (port != 0) {
        if (!(tcp_linux && ep_bind_fast_match(pool, &nw, port)) &&
            (ep_bind_conflicts(pool, req->proto, &nw, port, true, EP_NIL) ||
             ep_bind_entries_conflict(pool, req->proto, &nw, port, true)))
            return -EADDRINUSE;
    } else if (holds) {
        /* Linux: inet_csk_get_port() / udp_lib_get_port() failing to find
         * a port makes bind() EADDRINUSE */
        if ((rc = ep_bind_pick(pool, req->proto, &nw, &port)) < 0)
            return pool->linux_sem && rc == -EADDRNOTAVAIL ? -EADDRINUSE : rc;
    }
    bidx = ep_bind_alloc(pool);
    ep_binding *b = &pool->binds[bidx];
    b->addr = addr;
    b->laddr = lidx;
    b->owner = req->owner;
    b->port = port;
    b->proto = req->proto;
    b->flags = (uint8_t)flags;
    if (holds) {
        b->state = EP_B_HOLD;
        if (tcp_linux)
            ep_bind_fast_update(pool, &nw, port, !ep_bind_bucket_busy(pool, port));
        ep_bind_hold(pool, bidx);
        (void)ep_owner_charge(pool, req->owner); /* reserved above */
    } else {
        b->state = EP_B_NOPORT;
    }
    pool->st.allocations++;
    *id = ep_bind_make_id(pool, bidx);
    if (port_out)
        *port_out = port;
    return 0;
}

int ep_bind_listen_do(ep_pool *pool, ep_bind_id id)
{
    uint32_t bidx = ep_bind_lookup(pool, id);
    ep_binding *b;

    if (bidx == EP_NIL)
        return -ENOENT;
    b = &pool->binds[bidx];
    if (b->proto != EP_PROTO_TCP)
        return -ENOTSUP;
    if (b->state != EP_B_HOLD)
        return -EINVAL; /* a deferred binding has no port to listen on */
    if (b->listening)
        return 0;
    ep_sock_view nw = ep_bind_view(b);
    nw.listening = true;
    if (pool->linux_sem) {
        if (!ep_bind_fast_match(pool, &nw, b->port) &&
            (ep_bind_conflicts(pool, b->proto, &nw, b->port, true, bidx) ||
             ep_bind_entries_conflict(pool, b->proto, &nw, b->port, true)))
            return -EADDRINUSE;
        ep_bind_fast_update(pool, &nw, b->port, false);
    } else if (ep_bind_conflicts(pool, b->proto, &nw, b->port, true, bidx)) {
        return -EADDRINUSE;
    }
    b->listening = 1;
    return 0;
}

int ep_bind_unbind_do(ep_pool *pool, ep_bind_id id)
{
    uint32_t bidx = ep_bind_lookup(pool, id);
    ep_binding *b;

    if (bidx == EP_NIL)
        return -ENOENT;
    b = &pool->binds[bidx];
    if (b->state == EP_B_HOLD) {
        ep_bind_unhold(pool, bidx);
        ep_owner_refund(pool, b->owner);
    }
    ep_bind_release_slot(pool, bidx);
    pool->st.releases++;
    return 0;
}

void ep_bind_end(ep_pool *pool, uint32_t bidx)
{
    ep_bind_unhold(pool, bidx);
    ep_owner_refund(pool, pool->binds[bidx].owner);
    ep_bind_release_slot(pool, bidx);
}

/* Explicit-port binding: the tuple (a, port) towards the remote, if free.
 * Linux TCP (bind-then-connect: __inet_hash_connect() with the port already
 * bound asks __inet_check_established() with no TIME_WAIT pointer, and
 * tcp_twsk_unique() then grants any TIME_WAIT of the 4-tuple, whatever
 * tcp_tw_reuse says, given TCP timestamps): only a tuple in use or in
 * quarantine is taken.  Otherwise: a reusable TIME_WAIT entry is free. */
static bool ep_bind_tuple_free(const ep_pool *pool, uint8_t proto, uint32_t a,
                               const ep_addr *remote, uint16_t rport, uint16_t port)
{
    uint32_t di, e;
    if (pool->linux_sem && proto == EP_PROTO_UDP)
        return true; /* UDP checks no 4-tuple: sockets that share a port
                        (both SO_REUSEADDR) may share a 4-tuple too */
    di = ep_dest_find(pool, proto, a, remote, rport);
    if (di == EP_NIL)
        return true;
    e = ep_tt_find(&pool->tt, di, port);
    if (e == EP_NIL)
        return true;
    if (pool->linux_sem && proto == EP_PROTO_TCP) {
        uint8_t st = pool->tt.e[e].state;
        return st == EP_ST_TWY || st == EP_ST_TW || st == EP_ST_TWN;
    }
    return !ep_entry_nr(pool, &pool->tt.e[e]);
}

/* Linux UDP, a deferred binding connecting from a bound address or with
 * options: inet_autobind() runs udp_lib_get_port() from the bound address
 * with the socket's options, so the port is chosen as bind(addr, 0) would
 * (sockrules.c), and the socket then holds it; none: EAGAIN. */
static int ep_bind_connect_udp_autobind(ep_pool *pool, uint32_t bidx, ep_tuple *t)
{
    ep_binding *b = &pool->binds[bidx];
    ep_sock_view nw = ep_bind_view(b);
    uint32_t a, di, count = 0;
    uint16_t port;
    int rc;

    if ((rc = ep_owner_check(pool, b->owner)) < 0)
        return rc;
    if ((rc = ep_tt_reserve(&pool->tt)) < 0 || (rc = ep_dest_reserve(pool)) < 0 ||
        (rc = ep_owner_reserve(pool, b->owner)) < 0)
        return rc;
    if ((rc = ep_bind_pick(pool, b->proto, &nw, &port)) < 0)
        return rc == -EADDRNOTAVAIL ? -EAGAIN : rc;
    a = b->laddr;
    if (a == EP_NIL) { /* the route's source: one of the family's addresses */
        for (uint32_t i = 0; i < pool->naddrs; i++)
            if (pool->addrs[i].addr.family == b->addr.family &&
                ep_rng_below(&pool->rng, ++count) == 0)
                a = i;
        if (a == EP_NIL)
            return -EAFNOSUPPORT;
    }
    di = ep_dest_find(pool, b->proto, a, &t->remote, t->remote_port);
    if (di == EP_NIL)
        di = ep_dest_create(pool, b->proto, a, &t->remote, t->remote_port);
    /* an entry of the same 4-tuple may exist (shared port): a second one */
    (void)ep_owner_charge(pool, b->owner);
    ep_conn_add(pool, di, port, b->owner, EP_NIL,
                (uint8_t)((b->flags & EP_EF_SOCKOPTS) | EP_EF_HOLD));
    pool->st.allocations++;
    t->proto = b->proto;
    t->local = pool->addrs[a].addr;
    t->local_port = port;
    ep_bind_release_slot(pool, bidx);
    return 0;
}

int ep_bind_connect_do(ep_pool *pool, ep_bind_id id, ep_tuple *t)
{
    uint32_t bidx = ep_bind_lookup(pool, id), a, chosen = EP_NIL, count = 0, di, e;
    ep_binding *b;
    ep_pool *sp; /* the shard of the destination (shard.h; global mode) */
    int rc;

    if (bidx == EP_NIL)
        return -ENOENT;
    b = &pool->binds[bidx];
    if (t->remote.family != b->addr.family)
        return -EINVAL;
    sp = ep_shard_of(pool, &t->remote, t->remote_port);
    if (b->state == EP_B_NOPORT) {
        uint16_t port;
        uint8_t opts = b->flags & EP_EF_SOCKOPTS;
        if (pool->linux_sem && b->proto == EP_PROTO_UDP && (b->laddr != EP_NIL || opts))
            return ep_bind_connect_udp_autobind(pool, bidx, t);
        rc = ep_engine_connect(sp, b->proto, b->laddr, &t->remote, t->remote_port, b->owner,
                               opts, &a, &port, NULL);
        if (rc < 0)
            return rc;
        t->proto = b->proto;
        t->local = pool->addrs[a].addr;
        t->local_port = port;
        ep_bind_release_slot(pool, bidx);
        return 0;
    }
    /* EP_B_HOLD: keep the port; a wildcard picks uniformly among the
     * addresses of the family where that 4-tuple is free. */
    for (a = 0; a < pool->naddrs; a++) {
        if (pool->addrs[a].addr.family != b->addr.family ||
            (b->laddr != EP_NIL && b->laddr != a))
            continue;
        if (ep_bind_tuple_free(sp, b->proto, a, &t->remote, t->remote_port, b->port) &&
            ep_rng_below(&pool->rng, ++count) == 0)
            chosen = a; /* reservoir sampling: uniform over the free ones */
    }
    if (chosen == EP_NIL) {
        if (b->laddr != EP_NIL) {
            di = ep_dest_find(sp, b->proto, b->laddr, &t->remote, t->remote_port);
            ep_dest_count_failure(sp, di);
        }
        return -EADDRNOTAVAIL;
    }
    if ((rc = ep_tt_reserve(&sp->tt)) < 0 || (rc = ep_dest_reserve(sp)) < 0)
        return rc;
    di = ep_dest_find(sp, b->proto, chosen, &t->remote, t->remote_port);
    if (di == EP_NIL) {
        di = ep_dest_create(sp, b->proto, chosen, &t->remote, t->remote_port);
    } else if (!(pool->linux_sem && b->proto == EP_PROTO_UDP) &&
               (e = ep_tt_find(&sp->tt, di, b->port)) != EP_NIL) {
        ep_conn_drop(sp, e, true); /* a TIME_WAIT it may take: take it over */
    }
    ep_conn_add(sp, di, b->port, 0, bidx, (uint8_t)((b->flags & EP_EF_SOCKOPTS) | EP_EF_EXPLICIT));
    b = &pool->binds[bidx];
    b->state = EP_B_CONNECTED;
    b->listening = 0;
    sp->st.allocations++;
    t->proto = b->proto;
    t->local = pool->addrs[chosen].addr;
    t->local_port = b->port;
    return 0;
}
