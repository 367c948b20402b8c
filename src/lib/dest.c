/* dest.c - destinations and the exact free count.
 *
 * A destination is (protocol, local address, remote address, remote port):
 * the unit that runs out of ports.  Its record exists while it has at least
 * one entry (in use, TIME_WAIT or quarantine).  When the last entry goes the
 * record becomes idle: it behaves exactly as an absent record (no entries,
 * nblk 0, no dense set, not listed, not counted, its counters start from zero
 * if it is used again) but stays in the table, so that a destination that
 * keeps going from zero to one connection and back does not pay for
 * creating and freeing its record every time.  At most EP_DEST_IDLE_MAX
 * records are idle; the oldest is freed when one more becomes idle.
 *
 * The number of ports a connect towards D on local address L could take is
 *
 *     free(D) = effective - blocked(L) - nblk(D)
 *
 * where blocked(L) counts effective ports held by a binding on L or on L's
 * wildcard (ep_lstate.blocked) and nblk(D) counts D's entries that are not
 * reusable, sit on an effective port, and are not already counted in
 * blocked(L).  Both are maintained incrementally:
 *   - an entry appearing/disappearing/becoming reusable touches one counter
 *     (ep_dest_nr_change);
 *   - a port becoming blocked/unblocked on L (ep_lstate_blk_inc/dec) must
 *     fix the destinations of L that have an entry on that port.  The
 *     per-port entry count conn[] tells whether there are any: usually
 *     none, since bind() refuses ports used by tuples unless SO_REUSEADDR.
 *     Only then is L's destination list walked (O(destinations of L)).
 * Dense destinations (ep_dense: the set of unavailable effective indexes as
 * a permutation, see dense.c) are updated at the same points; a local
 * address keeps a list of them.
 *
 * Density policy (hysteresis): a destination gets its set when at least 1/4
 * of the effective ports are unavailable to it (or when rejection sampling
 * missed several times in a row), and loses it when fewer than 3/16 are.
 * The set costs 4 bytes per effective port, so at the lower bound it adds
 * at most ~21 bytes per entry of the destination (the budget is 64 bytes per
 * tracked connection); below it rejection sampling needs at most 1.33
 * expected draws.  Crossing the band costs at least neff/16 operations, so
 * building (one pass over the effective range, with a hash lookup only where
 * conn[] says an entry exists) stays O(1) amortised. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/capacity.h>

#include "dest.h"
#include "engine.h"
#include "tuple_table.h"
#include "dense.h"

#define EP_DT_MIN_BUCKETS 64u
#define EP_DEST_IDLE_MAX 64u

/* The destination hash: NH (the universal-hash core of UMAC, RFC 4418)
 * over the six 32-bit words of the key under a per-pool random key, then a
 * keyed 64-bit finalizer.  NH makes two distinct keys collide with
 * probability about 2^-32 over the random key, so an outsider who picks
 * remote addresses cannot aim at one bucket; it costs three multiplies
 * where SipHash-1-3 of 24 bytes costs ~20 ns, and the destination lookup is
 * on every connect and close. */
static uint32_t ep_dest_hash(const ep_dtable *t, uint8_t proto, uint32_t laddr,
                             const ep_addr *remote, uint16_t rport)
{
    uint32_t w[6];
    uint64_t h;
    w[0] = laddr;
    w[1] = (uint32_t)rport | (uint32_t)proto << 16 | (uint32_t)remote->family << 24;
    memcpy(&w[2], remote->u.bytes, 16);
    h = (uint64_t)(w[0] + t->key[0]) * (w[1] + t->key[1]) +
        (uint64_t)(w[2] + t->key[2]) * (w[3] + t->key[3]) +
        (uint64_t)(w[4] + t->key[4]) * (w[5] + t->key[5]);
    h ^= ((uint64_t)t->key[6] << 32) | t->key[7];
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h & t->mask;
}

int ep_dt_init(ep_dtable *t, const uint32_t key[8])
{
    memset(t, 0, sizeof *t);
    memcpy(t->key, key, sizeof t->key);
    t->free_head = EP_NIL;
    t->idle_head = t->idle_tail = EP_NIL;
    t->last = EP_NIL;
    t->bucket = malloc(EP_DT_MIN_BUCKETS * sizeof *t->bucket);
    if (!t->bucket)
        return -ENOMEM;
    memset(t->bucket, 0xff, EP_DT_MIN_BUCKETS * sizeof *t->bucket);
    t->mask = EP_DT_MIN_BUCKETS - 1;
    return 0;
}

void ep_dt_destroy(ep_pool *pool)
{
    ep_dtable *t = &pool->dt;
    for (uint32_t i = 0; i < t->used; i++)
        if (t->d[i].proto)
            ep_dense_free(t->d[i].dense);
    free(t->d);
    free(t->bucket);
    memset(t, 0, sizeof *t);
}

/* The hash lookup behind ep_dest_find (dest.h), which has already compared
 * the memo. */
uint32_t ep_dest_find_hashed(const ep_pool *pool, uint8_t proto, uint32_t laddr,
                             const ep_addr *remote, uint16_t rport)
{
    ep_dtable *t = (ep_dtable *)&pool->dt; /* the memo is a cache, under the lock */
    uint32_t i = t->bucket[ep_dest_hash(t, proto, laddr, remote, rport)];
    while (i != EP_NIL) {
        if (ep_dest_is(&t->d[i], proto, laddr, remote, rport)) {
            t->last = i;
            return i;
        }
        i = t->d[i].hnext;
    }
    return EP_NIL;
}

int ep_dest_reserve_slow(ep_pool *pool)
{
    ep_dtable *t = &pool->dt;
    if (t->free_head == EP_NIL && t->used == t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 16;
        ep_dest *nd;
        if (t->cap >= (1u << 30))
            return -ENOMEM;
        nd = realloc(t->d, (size_t)ncap * sizeof *nd);
        if (!nd)
            return -ENOMEM;
        t->d = nd;
        t->cap = ncap;
    }
    if (t->count + t->nidle + 1 > t->mask + 1) {
        uint32_t nb = (t->mask + 1) * 2;
        uint32_t *b = malloc((size_t)nb * sizeof *b);
        if (!b)
            return -ENOMEM;
        memset(b, 0xff, (size_t)nb * sizeof *b);
        free(t->bucket);
        t->bucket = b;
        t->mask = nb - 1;
        for (uint32_t i = 0; i < t->used; i++) {
            ep_dest *d = &t->d[i];
            if (!d->proto)
                continue;
            uint32_t h = ep_dest_hash(t, d->proto, d->laddr, &d->remote, d->rport);
            d->hnext = t->bucket[h];
            t->bucket[h] = i;
        }
    }
    return 0;
}

uint32_t ep_dest_create(ep_pool *pool, uint8_t proto, uint32_t laddr,
                        const ep_addr *remote, uint16_t rport)
{
    ep_dtable *t = &pool->dt;
    ep_lstate *ls = ep_ls(pool, laddr, ep_proto_index(proto));
    uint32_t i, h;
    ep_dest *d;

    if (t->free_head != EP_NIL) {
        i = t->free_head;
        t->free_head = t->d[i].hnext;
    } else {
        i = t->used++;
    }
    d = &t->d[i];
    memset(d, 0, sizeof *d);
    d->remote = *remote;
    d->rport = rport;
    d->proto = proto;
    d->laddr = laddr;
    /* tcp_tw_reuse 1, or 2 with its loopback rule: capacity.h owns it */
    d->twr = pool->reuse_on && proto == EP_PROTO_TCP &&
             ep_linux_tw_reuse_applies(pool->cfg.tw_reuse_loopback ? 2 : 1,
                                       &pool->addrs[laddr].addr, remote);
    h = ep_dest_hash(t, proto, laddr, remote, rport);
    d->hnext = t->bucket[h];
    t->bucket[h] = i;
    d->iprev = d->inext = EP_NIL;
    d->lprev = EP_NIL;
    d->lnext = ls->dests;
    if (ls->dests != EP_NIL)
        t->d[ls->dests].lprev = i;
    ls->dests = i;
    t->count++;
    t->last = i;
    return i;
}

static void ep_dense_unlist(ep_lstate *ls, ep_dense *dn)
{
    if (dn->prev)
        dn->prev->next = dn->next;
    else
        ls->dense = dn->next;
    if (dn->next)
        dn->next->prev = dn->prev;
}

static void ep_dest_drop_dense(ep_pool *pool, uint32_t di)
{
    ep_dest *d = &pool->dt.d[di];
    if (!d->dense)
        return;
    ep_dense_unlist(ep_ls(pool, d->laddr, ep_proto_index(d->proto)), d->dense);
    ep_dense_free(d->dense);
    d->dense = NULL;
}

static void ep_idle_unlink(ep_dtable *t, uint32_t di)
{
    ep_dest *d = &t->d[di];
    if (d->iprev != EP_NIL)
        t->d[d->iprev].inext = d->inext;
    else
        t->idle_head = d->inext;
    if (d->inext != EP_NIL)
        t->d[d->inext].iprev = d->iprev;
    else
        t->idle_tail = d->iprev;
    d->idle = 0;
    t->nidle--;
}

/* Really free an idle record. */
static void ep_dest_free_record(ep_pool *pool, uint32_t di)
{
    ep_dtable *t = &pool->dt;
    ep_dest *d = &t->d[di];
    ep_lstate *ls = ep_ls(pool, d->laddr, ep_proto_index(d->proto));
    uint32_t *link;

    ep_idle_unlink(t, di);
    if (t->last == di)
        t->last = EP_NIL;
    if (d->lprev != EP_NIL)
        t->d[d->lprev].lnext = d->lnext;
    else
        ls->dests = d->lnext;
    if (d->lnext != EP_NIL)
        t->d[d->lnext].lprev = d->lprev;
    link = &t->bucket[ep_dest_hash(t, d->proto, d->laddr, &d->remote, d->rport)];
    while (*link != di)
        link = &t->d[*link].hnext;
    *link = d->hnext;
    d->proto = 0;
    d->hnext = t->free_head;
    t->free_head = di;
}

void ep_dest_make_idle(ep_pool *pool, uint32_t di)
{
    ep_dtable *t = &pool->dt;
    ep_dest *d = &t->d[di];

    ep_dest_drop_dense(pool, di);
    d->idle = 1;
    d->inext = EP_NIL;
    d->iprev = t->idle_tail;
    if (t->idle_tail != EP_NIL)
        t->d[t->idle_tail].inext = di;
    else
        t->idle_head = di;
    t->idle_tail = di;
    t->nidle++;
    t->count--;
    if (t->nidle > EP_DEST_IDLE_MAX)
        ep_dest_free_record(pool, t->idle_head);
}

void ep_dest_revive(ep_pool *pool, uint32_t di)
{
    ep_dtable *t = &pool->dt;
    ep_dest *d = &t->d[di];
    ep_idle_unlink(t, di);
    d->high_water = 0;
    d->failures = 0;
    d->nblk = 0;
    t->count++;
}

/* Port `port` on (laddr, pi) became blocked (on) or unblocked (!on). */
static void ep_lstate_block_change(ep_pool *pool, uint32_t laddr, int pi, uint16_t port, bool on)
{
    ep_lstate *ls = ep_ls(pool, laddr, pi);
    uint32_t i = ep_port_index(pool, port);

    if (i == EP_NIL)
        return;
    if (on)
        ls->blocked++;
    else
        ls->blocked--;
    if (ls->own) {
        if (on)
            ep_dense_set(ls->own, i);
        else
            ep_dense_clear(ls->own, i);
    }
    if (ls->pc[port].conn) {
        for (uint32_t di = ls->dests; di != EP_NIL; di = pool->dt.d[di].lnext) {
            ep_dest *d = &pool->dt.d[di];
            uint32_t e = ep_tt_find(&pool->tt, di, port);
            if (e != EP_NIL && ep_entry_nr(pool, &pool->tt.e[e])) {
                if (on)
                    d->nblk--;
                else
                    d->nblk++;
            } else if (d->dense) {
                if (on)
                    ep_dense_set(d->dense, i);
                else
                    ep_dense_clear(d->dense, i);
            }
        }
    } else {
        for (ep_dense *dn = ls->dense; dn; dn = dn->next) {
            if (on)
                ep_dense_set(dn, i);
            else
                ep_dense_clear(dn, i);
        }
    }
}

/* A binding's count changes on every shard's copy (shard.h: bindings
 * change in global mode only, so the copies stay equal); each shard fixes
 * its own destinations. */
void ep_lstate_blk_inc(ep_pool *pool, uint32_t laddr, int pi, uint16_t port)
{
    for (uint32_t s = 0; s < pool->route.nshards; s++) {
        ep_pool *sh = pool->route.shard[s];
        ep_lstate *ls = ep_ls(sh, laddr, pi);
        if (ls->pc[port].blk++ == 0)
            ep_lstate_block_change(sh, laddr, pi, port, true);
    }
}

void ep_lstate_blk_dec(ep_pool *pool, uint32_t laddr, int pi, uint16_t port)
{
    for (uint32_t s = 0; s < pool->route.nshards; s++) {
        ep_pool *sh = pool->route.shard[s];
        ep_lstate *ls = ep_ls(sh, laddr, pi);
        if (--ls->pc[port].blk == 0)
            ep_lstate_block_change(sh, laddr, pi, port, false);
    }
}

int ep_dest_make_dense(ep_pool *pool, uint32_t di)
{
    ep_dest *d = &pool->dt.d[di];
    ep_lstate *ls = ep_ls(pool, d->laddr, ep_proto_index(d->proto));
    ep_dense *dn;

    if (d->dense)
        return 0;
    dn = ep_dense_new(pool->neff, di);
    if (!dn)
        return -ENOMEM;
    for (uint32_t i = 0; i < pool->neff; i++) {
        uint16_t port = pool->idx2port[i];
        if (ls->pc[port].blk) {
            ep_dense_set(dn, i);
        } else if (ls->pc[port].conn) {
            uint32_t e = ep_tt_find(&pool->tt, di, port);
            if (e != EP_NIL && ep_entry_nr(pool, &pool->tt.e[e]))
                ep_dense_set(dn, i);
        }
    }
    dn->prev = NULL;
    dn->next = ls->dense;
    if (ls->dense)
        ls->dense->prev = dn;
    ls->dense = dn;
    d->dense = dn;
    return 0;
}

void ep_dest_make_sparse(ep_pool *pool, uint32_t di)
{
    ep_dest_drop_dense(pool, di);
}

int ep_lstate_make_own(ep_pool *pool, uint32_t laddr, int pi)
{
    ep_lstate *ls = ep_ls(pool, laddr, pi);
    if (ls->own)
        return 0;
    ls->own = ep_dense_new(pool->neff, EP_NIL);
    if (!ls->own)
        return -ENOMEM;
    for (uint32_t i = 0; i < pool->neff; i++)
        if (ls->pc[pool->idx2port[i]].blk)
            ep_dense_set(ls->own, i);
    return 0;
}

void ep_dest_recount(ep_pool *pool)
{
    ep_dtable *t = &pool->dt;

    for (uint32_t di = 0; di < t->used; di++) {
        if (!t->d[di].proto)
            continue;
        ep_dest_drop_dense(pool, di);
        t->d[di].nblk = 0;
    }
    for (uint32_t a = 0; a < pool->naddrs; a++) {
        for (int pi = 0; pi < 2; pi++) {
            ep_lstate *ls = ep_ls(pool, a, pi);
            ep_dense_free(ls->own); /* the effective range changed */
            ls->own = NULL;
            ls->blocked = 0;
            for (uint32_t i = 0; i < pool->neff; i++)
                ls->blocked += ls->pc[pool->idx2port[i]].blk != 0;
        }
    }
    for (uint32_t ei = 0; ei < pool->tt.used; ei++) {
        ep_entry *e = &pool->tt.e[ei];
        if (e->state == EP_ST_FREE || !ep_entry_nr(pool, e))
            continue;
        ep_dest_nr_change(pool, e->dest, e->port, +1);
    }
}
