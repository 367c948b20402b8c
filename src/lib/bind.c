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
#include "tuple_table.h"

#define EP_BIND_FLAGS (EP_BIND_REUSEADDR | EP_BIND_REUSEPORT | EP_BIND_NO_PORT)
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
    return 0;
}

void ep_binds_destroy(ep_pool *pool)
{
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

static bool ep_bind_overlap(const ep_binding *o, uint8_t family, uint32_t lidx)
{
    return o->addr.family == family &&
           (o->laddr == EP_NIL || lidx == EP_NIL || o->laddr == lidx);
}

/* Rule 1 for one pair. */
static bool ep_bind_pair_conflicts(uint8_t proto, unsigned flags, uint32_t owner, bool listening,
                                   const ep_binding *o)
{
    if ((flags & EP_BIND_REUSEPORT) && (o->flags & EP_BIND_REUSEPORT) && owner == o->owner)
        return false;
    if ((flags & EP_BIND_REUSEADDR) && (o->flags & EP_BIND_REUSEADDR)) {
        if (proto == EP_PROTO_UDP)
            return false;
        if (!listening && !o->listening)
            return false;
    }
    return true;
}

static bool ep_bind_conflicts(const ep_pool *pool, uint8_t proto, uint8_t family, uint32_t lidx,
                              uint16_t port, unsigned flags, uint32_t owner, bool listening,
                              uint32_t skip)
{
    int pi = ep_proto_index(proto);
    for (uint32_t s = pool->bhead[pi][port]; s; s = pool->binds[s - 1].pnext) {
        const ep_binding *o = &pool->binds[s - 1];
        if (s - 1 == skip || !ep_bind_overlap(o, family, lidx))
            continue;
        if (ep_bind_pair_conflicts(proto, flags, owner, listening, o))
            return true;
    }
    return false;
}

/* Any overlapping port-holding binding at all (for port 0). */
static bool ep_bind_any_overlap(const ep_pool *pool, int pi, uint8_t family, uint32_t lidx,
                                uint16_t port)
{
    for (uint32_t s = pool->bhead[pi][port]; s; s = pool->binds[s - 1].pnext)
        if (ep_bind_overlap(&pool->binds[s - 1], family, lidx))
            return true;
    return false;
}

/* Rule 2: connect-style tuples on (lidx or every address of family, port). */
static bool ep_bind_tuples_on(const ep_pool *pool, int pi, uint8_t family, uint32_t lidx,
                              uint16_t port)
{
    if (lidx != EP_NIL)
        return ep_ls(pool, lidx, pi)->pc[port].conn != 0;
    for (uint32_t a = 0; a < pool->naddrs; a++)
        if (pool->addrs[a].addr.family == family && ep_ls(pool, a, pi)->pc[port].conn)
            return true;
    return false;
}

static void ep_bind_hold(ep_pool *pool, uint32_t bidx)
{
    ep_binding *b = &pool->binds[bidx];
    int pi = ep_proto_index(b->proto);
    uint32_t *head = &pool->bhead[pi][b->port];

    b->pprev = 0;
    b->pnext = *head;
    if (*head)
        pool->binds[*head - 1].pprev = bidx + 1;
    *head = bidx + 1;
    if (b->laddr != EP_NIL) {
        ep_lstate_blk_inc(pool, b->laddr, pi, b->port);
    } else {
        for (uint32_t a = 0; a < pool->naddrs; a++)
            if (pool->addrs[a].addr.family == b->addr.family)
                ep_lstate_blk_inc(pool, a, pi, b->port);
    }
    pool->st.binds++;
}

static void ep_bind_unhold(ep_pool *pool, uint32_t bidx)
{
    ep_binding *b = &pool->binds[bidx];
    int pi = ep_proto_index(b->proto);

    if (b->pprev)
        pool->binds[b->pprev - 1].pnext = b->pnext;
    else
        pool->bhead[pi][b->port] = b->pnext;
    if (b->pnext)
        pool->binds[b->pnext - 1].pprev = b->pprev;
    b->pnext = b->pprev = 0;
    if (b->laddr != EP_NIL) {
        ep_lstate_blk_dec(pool, b->laddr, pi, b->port);
    } else {
        for (uint32_t a = 0; a < pool->naddrs; a++)
            if (pool->addrs[a].addr.family == b->addr.family)
                ep_lstate_blk_dec(pool, a, pi, b->port);
    }
    pool->st.binds--;
}

void ep_bind_new_address(ep_pool *pool, uint32_t lidx)
{
    uint8_t family = pool->addrs[lidx].addr.family;
    for (uint32_t i = 0; i < pool->binds_used; i++) {
        ep_binding *b = &pool->binds[i];
        if ((b->state == EP_B_HOLD || b->state == EP_B_CONNECTED) && b->laddr == EP_NIL &&
            b->addr.family == family)
            ep_lstate_blk_inc(pool, lidx, ep_proto_index(b->proto), b->port);
    }
}

static bool ep_bind0_ok(const ep_pool *pool, int pi, uint8_t family, uint32_t lidx, uint16_t port)
{
    return !ep_bind_any_overlap(pool, pi, family, lidx, port) &&
           !ep_bind_tuples_on(pool, pi, family, lidx, port);
}

/* Rule 4: uniform among the candidates: rejection sampling, then an exact
 * count-and-pick scan (O(range); bind(0) on a nearly full address only). */
static int ep_bind_pick(ep_pool *pool, int pi, uint8_t family, uint32_t lidx, uint16_t *port)
{
    uint32_t n = pool->neff, count = 0, k;

    for (int t = 0; t < EP_BIND0_TRIES; t++) {
        uint16_t p = pool->idx2port[ep_rng_below(&pool->rng, n)];
        if (ep_bind0_ok(pool, pi, family, lidx, p)) {
            *port = p;
            return 0;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        count += ep_bind0_ok(pool, pi, family, lidx, pool->idx2port[i]);
    if (count == 0)
        return -EADDRNOTAVAIL;
    k = ep_rng_below(&pool->rng, count);
    for (uint32_t i = 0; i < n; i++) {
        if (ep_bind0_ok(pool, pi, family, lidx, pool->idx2port[i]) && k-- == 0) {
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
    int pi, rc;
    bool holds;

    if (req->proto != EP_PROTO_TCP && req->proto != EP_PROTO_UDP)
        return -EINVAL;
    if (req->addr.family != AF_INET && req->addr.family != AF_INET6)
        return -EINVAL;
    if (req->flags & ~(unsigned)EP_BIND_FLAGS)
        return -EINVAL;
    pi = ep_proto_index(req->proto);
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
    if (port != 0) {
        if (ep_bind_conflicts(pool, req->proto, addr.family, lidx, port, req->flags, req->owner,
                              false, EP_NIL))
            return -EADDRINUSE;
        if (!(req->flags & EP_BIND_REUSEADDR) &&
            ep_bind_tuples_on(pool, pi, addr.family, lidx, port))
            return -EADDRINUSE;
    } else if (holds) {
        if ((rc = ep_bind_pick(pool, pi, addr.family, lidx, &port)) < 0)
            return rc;
    }
    bidx = ep_bind_alloc(pool);
    ep_binding *b = &pool->binds[bidx];
    b->addr = addr;
    b->laddr = lidx;
    b->owner = req->owner;
    b->port = port;
    b->proto = req->proto;
    b->flags = (uint8_t)req->flags;
    if (holds) {
        b->state = EP_B_HOLD;
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
    if (ep_bind_conflicts(pool, b->proto, b->addr.family, b->laddr, b->port, b->flags, b->owner,
                          true, bidx))
        return -EADDRINUSE;
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

/* Explicit-port binding: the tuple (a, port) towards the remote, if free. */
static bool ep_bind_tuple_free(const ep_pool *pool, uint8_t proto, uint32_t a,
                               const ep_addr *remote, uint16_t rport, uint16_t port)
{
    uint32_t di = ep_dest_find(pool, proto, a, remote, rport), e;
    if (di == EP_NIL)
        return true;
    e = ep_tt_find(&pool->tt, di, port);
    return e == EP_NIL || !ep_entry_nr(pool, &pool->tt.e[e]);
}

int ep_bind_connect_do(ep_pool *pool, ep_bind_id id, ep_tuple *t)
{
    uint32_t bidx = ep_bind_lookup(pool, id), a, chosen = EP_NIL, count = 0, di, e;
    ep_binding *b;
    int rc;

    if (bidx == EP_NIL)
        return -ENOENT;
    b = &pool->binds[bidx];
    if (t->remote.family != b->addr.family)
        return -EINVAL;
    if (b->state == EP_B_NOPORT) {
        uint16_t port;
        rc = ep_engine_connect(pool, b->proto, b->laddr, &t->remote, t->remote_port, b->owner,
                               &a, &port, NULL);
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
        if (ep_bind_tuple_free(pool, b->proto, a, &t->remote, t->remote_port, b->port) &&
            ep_rng_below(&pool->rng, ++count) == 0)
            chosen = a; /* reservoir sampling: uniform over the free ones */
    }
    if (chosen == EP_NIL) {
        if (b->laddr != EP_NIL) {
            di = ep_dest_find(pool, b->proto, b->laddr, &t->remote, t->remote_port);
            ep_dest_count_failure(pool, di);
        }
        return -EADDRNOTAVAIL;
    }
    if ((rc = ep_tt_reserve(&pool->tt)) < 0 || (rc = ep_dest_reserve(pool)) < 0)
        return rc;
    di = ep_dest_find(pool, b->proto, chosen, &t->remote, t->remote_port);
    if (di == EP_NIL) {
        di = ep_dest_create(pool, b->proto, chosen, &t->remote, t->remote_port);
    } else if ((e = ep_tt_find(&pool->tt, di, b->port)) != EP_NIL) {
        ep_conn_drop(pool, e, true); /* reusable TIME_WAIT: take it over */
    }
    ep_conn_add(pool, di, b->port, 0, bidx);
    b = &pool->binds[bidx];
    b->state = EP_B_CONNECTED;
    b->listening = 0;
    pool->st.allocations++;
    t->proto = b->proto;
    t->local = pool->addrs[chosen].addr;
    t->local_port = b->port;
    return 0;
}
