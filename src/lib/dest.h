/* dest.h - destinations, per-address port state, and the bookkeeping that
 * keeps every destination's free count exact.  Private to libephport. */
#ifndef EP_DEST_H
#define EP_DEST_H

#include "dense.h"
#include "engine.h"
#include "pool-t.h"

int ep_dt_init(ep_dtable *t, const uint32_t key[8]);
void ep_dt_destroy(ep_pool *pool);

static inline bool ep_dest_is(const ep_dest *d, uint8_t proto, uint32_t laddr,
                              const ep_addr *remote, uint16_t rport)
{
    return d->laddr == laddr && d->rport == rport && d->proto == proto &&
           ep_addr_same(&d->remote, remote);
}

/* The destination record of (proto, laddr, remote, rport), or EP_NIL.  A
 * one-entry memo in front of the hash: a connection's close usually follows
 * a lookup of the same destination (its connect, or the previous close), and
 * comparing one key inline is cheaper than a call and a hash. */
uint32_t ep_dest_find_hashed(const ep_pool *pool, uint8_t proto, uint32_t laddr,
                             const ep_addr *remote, uint16_t rport);
static inline uint32_t ep_dest_find(const ep_pool *pool, uint8_t proto, uint32_t laddr,
                                    const ep_addr *remote, uint16_t rport)
{
    uint32_t i = pool->dt.last;
    if (i != EP_NIL && ep_dest_is(&pool->dt.d[i], proto, laddr, remote, rport))
        return i;
    return ep_dest_find_hashed(pool, proto, laddr, remote, rport);
}
/* Room for one more destination; -ENOMEM, table unchanged.  The test for
 * "already room" is inline: it is on every connect, growth is rare. */
int ep_dest_reserve_slow(ep_pool *pool);
static inline int ep_dest_reserve(ep_pool *pool)
{
    const ep_dtable *t = &pool->dt;
    if ((t->free_head == EP_NIL && t->used == t->cap) || t->count + t->nidle + 1 > t->mask + 1)
        return ep_dest_reserve_slow(pool);
    return 0;
}
/* Create an absent destination (after ep_dest_reserve). */
uint32_t ep_dest_create(ep_pool *pool, uint8_t proto, uint32_t laddr,
                        const ep_addr *remote, uint16_t rport);
/* Once it has no entries, the record becomes idle (see dest.c).  The test
 * is inline (every close asks), the work is ep_dest_make_idle. */
void ep_dest_make_idle(ep_pool *pool, uint32_t di);
static inline void ep_dest_release_if_empty(ep_pool *pool, uint32_t di)
{
    const ep_dest *d = &pool->dt.d[di];
    if (!(d->in_use || d->time_wait || d->quarantine || d->idle))
        ep_dest_make_idle(pool, di);
}
/* An idle destination receives an entry: it is a fresh destination again. */
void ep_dest_revive(ep_pool *pool, uint32_t di);
/* Count an -EADDRNOTAVAIL towards di (ignored for EP_NIL and idle records). */
static inline void ep_dest_count_failure(ep_pool *pool, uint32_t di)
{
    if (di != EP_NIL && !pool->dt.d[di].idle)
        pool->dt.d[di].failures++;
}

static inline int ep_proto_index(uint8_t proto)
{
    return proto == EP_PROTO_UDP ? EP_PI_UDP : EP_PI_TCP;
}

/* Effective index of a port, or EP_NIL if the port is not effective. */
static inline uint32_t ep_port_index(const ep_pool *pool, uint32_t port)
{
    if (pool->contiguous) {
        uint32_t i = port - pool->cfg.lo; /* wraps for port < lo */
        return i < pool->neff ? i : EP_NIL;
    }
    uint16_t v = pool->port2idx[port];
    return v == 0xffff ? EP_NIL : v;
}

/* The port of effective index i (< neff). */
static inline uint16_t ep_index_port(const ep_pool *pool, uint32_t i)
{
    return pool->contiguous ? (uint16_t)(pool->cfg.lo + i) : pool->idx2port[i];
}

static inline ep_lstate *ep_ls(const ep_pool *pool, uint32_t laddr, int pi)
{
    return &pool->addrs[laddr].st[pi];
}

/* Does this entry keep its port from being taken towards its destination?
 * Everything but a TIME_WAIT entry old enough for tw_reuse. */
static inline bool ep_entry_nr(const ep_pool *pool, const ep_entry *e)
{
    return e->state != EP_ST_TW || !pool->reuse_on;
}

/* Ports a connect towards destination di (EP_NIL: no entries yet) on
 * (laddr, pi) could take now. */
static inline uint32_t ep_dest_free(const ep_pool *pool, uint32_t laddr, int pi, uint32_t di)
{
    uint32_t used = ep_ls(pool, laddr, pi)->blocked;
    if (di != EP_NIL)
        used += pool->dt.d[di].nblk;
    return pool->neff - used;
}

/* Does di certainly have no entry on port?  false = ask the tuple table.
 * Most destinations have one or two connections: for them the answer needs
 * no hash lookup. */
static inline bool ep_dest_surely_not_on(const ep_dest *d, uint16_t port)
{
    uint32_t total = d->in_use + d->time_wait + d->quarantine;
    return !d->few_over && !(total > 0 && d->few[0] == port) && !(total > 1 && d->few[1] == port);
}

/* Keep few[] current: an entry of d on port appeared / went away (call
 * before / after the counters change, see conn.c). */
static inline void ep_dest_few_add(ep_dest *d, uint16_t port)
{
    uint32_t total = d->in_use + d->time_wait + d->quarantine; /* before */
    if (d->few_over)
        return;
    if (total < 2)
        d->few[total] = port;
    else
        d->few_over = 1;
}

static inline void ep_dest_few_remove(ep_dest *d, uint16_t port)
{
    uint32_t total = d->in_use + d->time_wait + d->quarantine; /* after */
    if (d->few_over) {
        if (total == 0)
            d->few_over = 0;
        return;
    }
    if (total == 0 && d->few[0] == port)
        return;
    if (d->few[0] == port)
        d->few[0] = d->few[1];
}

/* A non-reusable entry of di appeared (+1) or went away (-1) on port.
 * Inline: it runs on every connect and close. */
static inline void ep_dest_nr_change(ep_pool *pool, uint32_t di, uint16_t port, int delta)
{
    ep_dest *d = &pool->dt.d[di];
    ep_lstate *ls = ep_ls(pool, d->laddr, ep_proto_index(d->proto));
    uint32_t i = ep_port_index(pool, port);

    if (i == EP_NIL || ls->pc[port].blk)
        return;
    if (delta > 0) {
        d->nblk++;
        if (d->dense)
            ep_dense_set(d->dense, i);
    } else {
        d->nblk--;
        if (d->dense)
            ep_dense_clear(d->dense, i);
    }
}

/* A port-holding binding on (laddr, pi) began / ended. */
void ep_lstate_blk_inc(ep_pool *pool, uint32_t laddr, int pi, uint16_t port);
void ep_lstate_blk_dec(ep_pool *pool, uint32_t laddr, int pi, uint16_t port);

/* Give di its exact-selection set; -ENOMEM leaves it sparse. */
int ep_dest_make_dense(ep_pool *pool, uint32_t di);
/* Consider a dense destination for dropping its set (hysteresis: below
 * 3/16 of the effective ports unavailable, see dest.c).  Inline test, as
 * above. */
void ep_dest_make_sparse(ep_pool *pool, uint32_t di);
static inline void ep_dest_maybe_sparse(ep_pool *pool, uint32_t di)
{
    const ep_dest *d = &pool->dt.d[di];
    /* a set with an RSS layer stays until the destination is idle: the
     * queue it serves may be full while the destination is not (rss.c) */
    if (d->dense && !d->dense->rss && d->dense->nset < pool->neff / 16 * 3)
        ep_dest_make_sparse(pool, di);
}
/* Linux UDP: a port is available to every destination of a local address
 * alike (each UDP socket holds its port for itself, so an entry's own port
 * is blocked on its address and no destination has an nblk): they share the
 * address's set (ep_lstate.own) instead of keeping one each. */
static inline bool ep_shares_address_set(const ep_pool *pool, int pi)
{
    return pool->linux_sem && pi == EP_PI_UDP;
}

/* Build (laddr, pi)'s own set from its blocked ports; -ENOMEM leaves none. */
int ep_lstate_make_own(ep_pool *pool, uint32_t laddr, int pi);

/* Thresholds, in unavailable ports (see dest.c).  Inline: asked on every
 * connect. */
static inline bool ep_dest_wants_dense(const ep_pool *pool, uint32_t di)
{
    const ep_dest *d = &pool->dt.d[di];
    if (ep_shares_address_set(pool, ep_proto_index(d->proto)))
        return false;
    uint32_t unavail = pool->neff - ep_dest_free(pool, d->laddr, ep_proto_index(d->proto), di);
    return !d->dense && unavail >= pool->neff / 4 && unavail > 0;
}

/* After the effective range changed: drop every dense set, recompute the
 * blocked and nblk counts from the tables. */
void ep_dest_recount(ep_pool *pool);

#endif
