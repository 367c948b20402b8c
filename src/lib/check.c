/* check.c - ep_pool_check(): recompute every derived counter of a pool
 * from its primary records and compare (SQLite's integrity_check idea).
 *
 * Primary records: the entries of the tuple table and the bindings.
 * Derived state checked against them: the hash chains and expiry queues
 * (membership and order), pool and destination counters, per-address
 * entry counts (conn[]) and binding counts (blk[], blocked), each
 * destination's nblk and dense set (membership and the permutation) with
 * its RSS layer (rss.c), owners'
 * charges.
 * Cost O(addresses * (entries + 65536) + bindings): for tests, not for
 * production paths. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "conn.h"
#include "dest.h"
#include "engine.h"
#include "owner.h"
#include "rsspool.h"
#include "sockrules.h"
#include "tuple_table.h"
#include "lock.h"
#include "dense.h"
#include "shard.h"

static int ep_check_fail(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return EP_EIO;
}

static int ep_check_queues(ep_pool *pool, char *why, size_t len)
{
    static const uint8_t qstate[EP_Q__COUNT] = { EP_ST_TWY, EP_ST_TW, EP_ST_QUAR, EP_ST_TWN };
    for (int q = 0; q < EP_Q__COUNT; q++) {
        uint32_t prev = EP_NIL, n = 0, want = 0;
        for (uint32_t i = pool->q[q].head; i != EP_NIL; i = pool->tt.e[i].next) {
            const ep_entry *e = &pool->tt.e[i];
            if (e->state != qstate[q])
                return ep_check_fail(why, len, "queue %d holds entry %u in state %u", q, i, e->state);
            if (e->prev != prev)
                return ep_check_fail(why, len, "queue %d: bad back link at %u", q, i);
            if (prev != EP_NIL && pool->tt.e[prev].u.expire > e->u.expire)
                return ep_check_fail(why, len, "queue %d out of expiry order at %u", q, i);
            if (e->u.expire <= pool->now)
                return ep_check_fail(why, len, "queue %d: entry %u is past due", q, i);
            prev = i;
            if (++n > pool->tt.count)
                return ep_check_fail(why, len, "queue %d has a cycle", q);
        }
        if (pool->q[q].tail != prev)
            return ep_check_fail(why, len, "queue %d: bad tail", q);
        for (uint32_t i = 0; i < pool->tt.used; i++)
            want += pool->tt.e[i].state == qstate[q];
        if (want != n)
            return ep_check_fail(why, len, "queue %d holds %u entries, %u are in its state", q, n, want);
    }
    return 0;
}

/* Holders blocking (a, pi, port), recounted: the port-holding bindings of
 * the chain, and the entries that hold their port (EP_EF_HOLD), each
 * through the rule of sockrules.c.  hold_head / hold_next (the holding
 * entries listed per port, built by the caller) keep this O(holders). */
static uint32_t ep_check_blk(const ep_pool *pool, uint32_t a, int pi, uint32_t port,
                             const uint32_t *hold_head, const uint32_t *hold_next)
{
    const ep_pool *m = pool->route.master; /* bindings are the master's */
    uint32_t n = 0;
    for (uint32_t s = m->bhead[pi][port]; s; s = m->binds[s - 1].pnext) {
        ep_sock_view v = ep_bind_view(&m->binds[s - 1]);
        n += ep_rule_hold_blocks(pool, pi, &v, a);
    }
    for (uint32_t i = hold_head[port]; i != EP_NIL; i = hold_next[i]) {
        const ep_entry *e = &pool->tt.e[i];
        if (ep_proto_index(pool->dt.d[e->dest].proto) != pi)
            continue;
        ep_sock_view v = ep_conn_view(pool, i);
        n += ep_rule_hold_blocks(pool, pi, &v, a);
    }
    return n;
}

/* One shard (the whole pool when it has one): its entries, destinations
 * and per-address counts against its records and the master's bindings. */
static int ep_check_shard(ep_pool *pool, char *why, size_t len)
{
    const ep_pool *m = pool->route.master;
    uint32_t na, *conn = NULL, *nblk = NULL, *cnt = NULL, *hold_head = NULL, *hold_next = NULL;
    uint64_t in_use = 0, tw = 0, quar = 0, binds = 0, ndest = 0, nidle = 0;
    int rc = 0;

    na = pool->naddrs;
    conn = malloc(65536 * sizeof *conn);
    nblk = calloc((size_t)pool->dt.used + 1, sizeof *nblk);
    cnt = calloc((size_t)pool->dt.used * 3 + 1, sizeof *cnt);
    hold_head = malloc(65536 * sizeof *hold_head);
    hold_next = malloc(((size_t)pool->tt.used + 1) * sizeof *hold_next);
    if (!conn || !nblk || !cnt || !hold_head || !hold_next) {
        rc = EP_ENOMEM;
        goto out;
    }
    /* the entries holding their port, listed per port */
    for (uint32_t p = 0; p < 65536; p++)
        hold_head[p] = EP_NIL;
    for (uint32_t i = 0; i < pool->tt.used; i++) {
        const ep_entry *e = &pool->tt.e[i];
        if (e->state == EP_ST_FREE || !(e->eflags & EP_EF_HOLD))
            continue;
        if (!pool->linux_sem || (e->state == EP_ST_INUSE && e->u.held.bind != EP_NIL)) {
            rc = ep_check_fail(why, len, "entry %u holds its port %s", i,
                               pool->linux_sem ? "beside its binding" : "under stack semantics");
            goto out;
        }
        hold_next[i] = hold_head[e->port];
        hold_head[e->port] = i;
    }
    /* bindings: each holding one is in its chain, and only those are */
    for (uint32_t i = 0; i < m->binds_used; i++) {
        const ep_binding *b = &m->binds[i];
        int pi = ep_proto_index(b->proto);
        bool holds = b->state == EP_B_HOLD || b->state == EP_B_CONNECTED, chained = false;
        for (uint32_t s = m->bhead[pi][b->port]; s && holds; s = m->binds[s - 1].pnext)
            chained |= s - 1 == i;
        if (holds != chained && holds) {
            rc = ep_check_fail(why, len, "binding %u is missing from its port chain", i);
            goto out;
        }
        binds += holds;
    }
    if (pool != m)
        binds = 0; /* bindings are counted on the master */
    if (binds != pool->st.binds) {
        rc = ep_check_fail(why, len, "shard %u: stats.binds %llu, %llu bindings hold a port",
                           pool->route.index, (unsigned long long)pool->st.binds,
                           (unsigned long long)binds);
        goto out;
    }
    /* per address: blk[] and blocked from the chains, conn[] from the entries */
    for (uint32_t a = 0; a < na; a++) {
        for (int pi = 0; pi < 2; pi++) {
            const ep_lstate *ls = ep_ls(pool, a, pi);
            uint32_t blocked = 0, nd = 0, want = 0;
            uint64_t want_conn = 0;
            /* conn[] is scratch: zero only the ports entries and bindings use */
            for (uint32_t i = 0; i < pool->tt.used; i++)
                conn[pool->tt.e[i].port] = 0;
            for (uint32_t i = 0; i < m->binds_used; i++)
                conn[m->binds[i].port] = 0;
            for (uint32_t i = 0; i < pool->tt.used; i++) {
                const ep_entry *e = &pool->tt.e[i];
                if (e->state == EP_ST_FREE || e->dest >= pool->dt.used)
                    continue;
                const ep_dest *d = &pool->dt.d[e->dest];
                if (d->proto && d->laddr == a && ep_proto_index(d->proto) == pi) {
                    conn[e->port]++;
                    want_conn++;
                }
            }
            /* Exact per-port comparison on the ports something refers to;
             * equal totals then prove every other port is zero. */
            uint64_t sum_blk = 0, sum_conn = 0, want_blk = 0;
            for (uint32_t p = 0; p < 65536; p++) {
                sum_blk += ls->pc[p].blk;
                sum_conn += ls->pc[p].conn;
                blocked += ls->pc[p].blk != 0 && ep_port_index(pool, p) != EP_NIL;
            }
            for (uint32_t i = 0; i < m->binds_used; i++) {
                const ep_binding *b = &m->binds[i];
                ep_sock_view v = ep_bind_view(b);
                if ((b->state == EP_B_HOLD || b->state == EP_B_CONNECTED) &&
                    ep_proto_index(b->proto) == pi && ep_rule_hold_blocks(pool, pi, &v, a))
                    want_blk++;
            }
            for (uint32_t p = 0; p < 65536; p++)
                for (uint32_t i = hold_head[p]; i != EP_NIL; i = hold_next[i]) {
                    ep_sock_view v = ep_conn_view(pool, i);
                    want_blk += ep_proto_index(pool->dt.d[pool->tt.e[i].dest].proto) == pi &&
                                ep_rule_hold_blocks(pool, pi, &v, a);
                }
            for (uint32_t i = 0; i < m->binds_used + pool->tt.used; i++) {
                uint32_t p;
                if (i < m->binds_used)
                    p = m->binds[i].port;
                else if (pool->tt.e[i - m->binds_used].state != EP_ST_FREE)
                    p = pool->tt.e[i - m->binds_used].port;
                else
                    continue;
                uint32_t b = ep_check_blk(pool, a, pi, p, hold_head, hold_next);
                if (ls->pc[p].blk != b || ls->pc[p].conn != conn[p]) {
                    rc = ep_check_fail(why, len, "address %u proto %d port %u: blk %u/%u conn %u/%u",
                                       a, pi, p, ls->pc[p].blk, b, ls->pc[p].conn, conn[p]);
                    goto out;
                }
            }
            if (sum_blk != want_blk || sum_conn != want_conn) {
                rc = ep_check_fail(why, len, "address %u proto %d: %llu/%llu bindings, %llu/%llu entries",
                                   a, pi, (unsigned long long)sum_blk, (unsigned long long)want_blk,
                                   (unsigned long long)sum_conn, (unsigned long long)want_conn);
                goto out;
            }
            if (ls->own) {
                /* Linux UDP: the address's set mirrors its blocked ports */
                uint32_t nset = 0;
                if (!ep_shares_address_set(pool, pi) || ls->own->n != pool->neff) {
                    rc = ep_check_fail(why, len, "address %u proto %d: a stale own set", a, pi);
                    goto out;
                }
                for (uint32_t i = 0; i < pool->neff; i++) {
                    bool want = ls->pc[pool->idx2port[i]].blk != 0;
                    nset += want;
                    if (want != ep_dense_test(ls->own, i)) {
                        rc = ep_check_fail(why, len, "address %u proto %d: own set has port %u %s",
                                           a, pi, pool->idx2port[i], want ? "available" : "taken");
                        goto out;
                    }
                }
                if (nset != ls->own->nset) {
                    rc = ep_check_fail(why, len, "address %u proto %d: own set counts %u, %u taken",
                                       a, pi, ls->own->nset, nset);
                    goto out;
                }
            }
            if (blocked != ls->blocked) {
                rc = ep_check_fail(why, len, "address %u proto %d: blocked %u, should be %u", a, pi,
                                   ls->blocked, blocked);
                goto out;
            }
            for (uint32_t di = ls->dests; di != EP_NIL; di = pool->dt.d[di].lnext) {
                const ep_dest *d = &pool->dt.d[di];
                if (!d->proto || d->laddr != a || ep_proto_index(d->proto) != pi ||
                    ++nd > pool->dt.count + pool->dt.nidle) {
                    rc = ep_check_fail(why, len, "address %u proto %d: bad destination list", a, pi);
                    goto out;
                }
            }
            for (uint32_t di = 0; di < pool->dt.used; di++)
                want += pool->dt.d[di].proto && pool->dt.d[di].laddr == a &&
                        ep_proto_index(pool->dt.d[di].proto) == pi;
            if (want != nd) {
                rc = ep_check_fail(why, len, "address %u proto %d lists %u destinations of %u", a, pi, nd, want);
                goto out;
            }
        }
    }
    /* entries: keys, states, per-destination counts, nblk */
    for (uint32_t i = 0; i < pool->tt.used; i++) {
        const ep_entry *e = &pool->tt.e[i];
        const ep_dest *d;
        if (e->state == EP_ST_FREE)
            continue;
        if (e->dest >= pool->dt.used || !pool->dt.d[e->dest].proto) {
            rc = ep_check_fail(why, len, "entry %u points to a free destination", i);
            goto out;
        }
        /* found by its key; only Linux UDP entries may share a key (two
         * sockets on one 4-tuple, both SO_REUSEADDR) */
        uint32_t found = ep_tt_find(&pool->tt, e->dest, e->port);
        while (found != EP_NIL && found != i)
            found = pool->tt.e[found].hnext;
        if (found != i || (ep_tt_find(&pool->tt, e->dest, e->port) != i &&
                           !(pool->linux_sem && pool->dt.d[e->dest].proto == EP_PROTO_UDP))) {
            rc = ep_check_fail(why, len, "entry %u is not found by its key", i);
            goto out;
        }
        d = &pool->dt.d[e->dest];
        switch (e->state) {
        case EP_ST_INUSE: in_use++; cnt[e->dest * 3]++; break;
        case EP_ST_TWY: case EP_ST_TW: case EP_ST_TWN: tw++; cnt[e->dest * 3 + 1]++; break;
        case EP_ST_QUAR: quar++; cnt[e->dest * 3 + 2]++; break;
        default:
            rc = ep_check_fail(why, len, "entry %u has state %u", i, e->state);
            goto out;
        }
        uint32_t total = d->in_use + d->time_wait + d->quarantine;
        if (!d->few_over && (total > 2 || !((total > 0 && d->few[0] == e->port) ||
                                            (total > 1 && d->few[1] == e->port)))) {
            rc = ep_check_fail(why, len, "destination %u: port %u missing from its short list",
                               e->dest, e->port);
            goto out;
        }
        if (ep_entry_nr(pool, e) && ep_port_index(pool, e->port) != EP_NIL &&
            !ep_ls(pool, d->laddr, ep_proto_index(d->proto))->pc[e->port].blk)
            nblk[e->dest]++;
    }
    if (in_use != pool->st.in_use || tw != pool->st.time_wait || quar != pool->st.quarantine) {
        rc = ep_check_fail(why, len, "pool counters in_use/tw/quar %llu/%llu/%llu, entries say %llu/%llu/%llu",
                           (unsigned long long)pool->st.in_use, (unsigned long long)pool->st.time_wait,
                           (unsigned long long)pool->st.quarantine, (unsigned long long)in_use,
                           (unsigned long long)tw, (unsigned long long)quar);
        goto out;
    }
    /* per destination */
    for (uint32_t di = 0; di < pool->dt.used; di++) {
        const ep_dest *d = &pool->dt.d[di];
        if (!d->proto)
            continue;
        if (d->idle != (d->in_use + d->time_wait + d->quarantine == 0) ||
            (d->idle && (d->dense || d->nblk))) {
            rc = ep_check_fail(why, len, "destination %u: idle flag %u with %u/%u/%u entries", di,
                               d->idle, d->in_use, d->time_wait, d->quarantine);
            goto out;
        }
        nidle += d->idle;
        ndest += !d->idle;
        if (ep_dest_find(pool, d->proto, d->laddr, &d->remote, d->rport) != di) {
            rc = ep_check_fail(why, len, "destination %u is not found by its key", di);
            goto out;
        }
        if (d->in_use != cnt[di * 3] || d->time_wait != cnt[di * 3 + 1] ||
            d->quarantine != cnt[di * 3 + 2]) {
            rc = ep_check_fail(why, len, "destination %u counters %u/%u/%u, entries say %u/%u/%u", di,
                               d->in_use, d->time_wait, d->quarantine, cnt[di * 3], cnt[di * 3 + 1],
                               cnt[di * 3 + 2]);
            goto out;
        }
        if (d->high_water < d->in_use + d->time_wait + d->quarantine) {
            rc = ep_check_fail(why, len, "destination %u high water below its count", di);
            goto out;
        }
        if (d->nblk != nblk[di]) {
            rc = ep_check_fail(why, len, "destination %u nblk %u, should be %u", di, d->nblk, nblk[di]);
            goto out;
        }
        if (d->dense) {
            const ep_dense *dn = d->dense;
            const ep_lstate *ls = ep_ls(pool, d->laddr, ep_proto_index(d->proto));
            uint32_t nset = 0;
            bool listed = false;
            for (const ep_dense *x = ls->dense; x; x = x->next)
                listed |= x == dn;
            if (!listed || dn->n != pool->neff || dn->dest != di) {
                rc = ep_check_fail(why, len, "destination %u: dense set not listed or stale", di);
                goto out;
            }
            for (uint32_t i = 0; i < pool->neff; i++) {
                uint16_t port = pool->idx2port[i];
                uint32_t e = ep_tt_find(&pool->tt, di, port);
                bool want = ls->pc[port].blk || (e != EP_NIL && ep_entry_nr(pool, &pool->tt.e[e]));
                if (want != ep_dense_test(dn, i)) {
                    rc = ep_check_fail(why, len, "destination %u: port %u marked %s", di, port,
                                       want ? "available" : "unavailable");
                    goto out;
                }
                nset += want;
            }
            if (nset != dn->nset || pool->neff - nset != ep_dest_free(pool, d->laddr, ep_proto_index(d->proto), di)) {
                rc = ep_check_fail(why, len, "destination %u: dense set count %u, counted %u", di, dn->nset, nset);
                goto out;
            }
            for (uint32_t p = 0; p < pool->neff; p++) {
                if (dn->order[p] >= pool->neff || dn->slot[dn->order[p]] != p) {
                    rc = ep_check_fail(why, len, "destination %u: dense set is not a permutation at %u",
                                       di, p);
                    goto out;
                }
            }
            const char *bad = ep_rss_layer_verify(pool, dn);
            if (bad) {
                rc = ep_check_fail(why, len, "destination %u: RSS layer: %s", di, bad);
                goto out;
            }
        }
    }
    if (ndest != pool->dt.count || nidle != pool->dt.nidle) {
        rc = ep_check_fail(why, len, "%u/%u destinations counted live/idle, %llu/%llu found",
                           pool->dt.count, pool->dt.nidle, (unsigned long long)ndest,
                           (unsigned long long)nidle);
        goto out;
    }
    uint32_t walked = 0;
    for (uint32_t di = pool->dt.idle_head; di != EP_NIL; di = pool->dt.d[di].inext) {
        if (!pool->dt.d[di].idle || ++walked > pool->dt.nidle) {
            rc = ep_check_fail(why, len, "bad idle list at destination %u", di);
            goto out;
        }
    }
    if (walked != pool->dt.nidle) {
        rc = ep_check_fail(why, len, "idle list holds %u of %u", walked, pool->dt.nidle);
        goto out;
    }
    /* Linux TCP: each port's count of explicitly bound sockets, and no
     * SO_REUSEPORT fast path without one */
    if (pool->linux_sem) {
        for (uint32_t p = 0; p < 65536; p++) {
            uint32_t want = 0;
            for (uint32_t s = m->bhead[EP_PI_TCP][p]; s; s = m->binds[s - 1].pnext)
                want++;
            for (uint32_t i = hold_head[p]; i != EP_NIL; i = hold_next[i])
                want += pool->dt.d[pool->tt.e[i].dest].proto == EP_PROTO_TCP;
            const ep_tcp_fast *f = &pool->tcpfast[p];
            if (f->sticky != want || (want == 0 && f->frp != EP_FRP_NONE)) {
                rc = ep_check_fail(why, len, "tcp port %u: %u explicitly bound sockets counted, "
                                   "%u found (fast path %u)", p, f->sticky, want, f->frp);
                goto out;
            }
        }
    }
    rc = ep_check_queues(pool, why, len);
out:
    free(hold_head);
    free(hold_next);
    free(conn);
    free(nblk);
    free(cnt);
    return rc;
}

static int ep_check_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Owners (section 4): each record's charge is the number of in-use entries
 * it owns on every shard plus its bindings holding a port, and every
 * charged entry or binding has a record. */
static int ep_check_owners(const ep_pool *m, char *why, size_t len)
{
    size_t n = 0, cap = m->binds_used;
    uint32_t *ids;
    uint64_t sum = 0;
    int rc = 0;

    for (uint32_t s = 0; s < m->route.nshards; s++)
        cap += m->route.shard[s]->tt.used;
    if (!(ids = malloc((cap + 1) * sizeof *ids)))
        return EP_ENOMEM;
    for (uint32_t s = 0; s < m->route.nshards; s++) {
        const ep_pool *sp = m->route.shard[s];
        for (uint32_t i = 0; i < sp->tt.used; i++)
            if (sp->tt.e[i].state == EP_ST_INUSE && sp->tt.e[i].u.held.owner)
                ids[n++] = sp->tt.e[i].u.held.owner;
    }
    for (uint32_t i = 0; i < m->binds_used; i++) {
        const ep_binding *b = &m->binds[i];
        if (b->owner && (b->state == EP_B_HOLD || b->state == EP_B_CONNECTED))
            ids[n++] = b->owner;
    }
    qsort(ids, n, sizeof *ids, ep_check_cmp_u32);
    for (uint32_t i = 0; i < m->owners.used && rc == 0; i++) {
        const ep_owner *r = &m->owners.o[i];
        size_t lo = 0, hi = n, first;
        if (r->id == 0)
            continue;
        while (lo < hi) { /* first index with ids[] >= r->id */
            size_t mid = lo + (hi - lo) / 2;
            if (ids[mid] < r->id)
                lo = mid + 1;
            else
                hi = mid;
        }
        first = lo;
        while (lo < n && ids[lo] == r->id)
            lo++;
        if (r->held != lo - first)
            rc = ep_check_fail(why, len, "owner %u charged %u, holds %zu", r->id, r->held,
                               lo - first);
        sum += r->held;
    }
    if (rc == 0 && sum != n)
        rc = ep_check_fail(why, len, "owners charged %llu in all, %zu ports held by owners",
                           (unsigned long long)sum, n);
    free(ids);
    return rc;
}

/* The shards agree with the master (shard.h): one route, the same
 * configuration, tables and addresses; every destination on the shard its
 * directory slot names (so its slot is claimed); no shard's clock ahead of the pool's; bindings only on
 * the master. */
static int ep_check_shards(ep_pool *m, char *why, size_t len)
{
    for (uint32_t s = 0; s < m->route.nshards; s++) {
        const ep_pool *sp = m->route.shard[s];
        if (sp->route.master != m || sp->route.shard != m->route.shard ||
            sp->route.nshards != m->route.nshards || sp->route.index != s ||
            sp->route.shared != m->route.shared || sp->route.key != m->route.key)
            return ep_check_fail(why, len, "shard %u: bad route", s);
        if (sp->neff != m->neff || sp->contiguous != m->contiguous ||
            sp->idx2port != m->idx2port || sp->port2idx != m->port2idx ||
            sp->cfg.reserved != m->cfg.reserved || sp->rss != m->rss ||
            sp->locking != m->locking || sp->reuse_on != m->reuse_on ||
            memcmp(&sp->reserved, &m->reserved, sizeof sp->reserved) != 0)
            return ep_check_fail(why, len, "shard %u: configuration differs from the master's", s);
        if (sp->naddrs != m->naddrs || sp->fam_addr[0] != m->fam_addr[0] ||
            sp->fam_addr[1] != m->fam_addr[1])
            return ep_check_fail(why, len, "shard %u: %u addresses, the master %u", s,
                                 sp->naddrs, m->naddrs);
        for (uint32_t a = 0; a < sp->naddrs; a++)
            if (!ep_addr_same(&sp->addrs[a].addr, &m->addrs[a].addr))
                return ep_check_fail(why, len, "shard %u: address %u differs", s, a);
        if (s > 0 && (sp->binds_used || sp->st.binds || sp->owners.count))
            return ep_check_fail(why, len, "shard %u holds bindings or owners", s);
        if (m->route.shared && sp->now > atomic_load(&m->route.shared->now))
            return ep_check_fail(why, len, "shard %u: clock ahead of the pool's", s);
        for (uint32_t di = 0; di < sp->dt.used; di++) {
            const ep_dest *d = &sp->dt.d[di];
            if (d->proto && ep_shard_find(m, &d->remote, d->rport) != sp)
                return ep_check_fail(why, len, "shard %u holds destination %u of another shard",
                                     s, di);
        }
    }
    return 0;
}

int ep_pool_check(ep_pool *pool, char *why, size_t len)
{
    int rc;

    if (!pool)
        return EP_EINVAL;
    ep_lock_all(pool);
    rc = ep_check_shards(pool, why, len);
    for (uint32_t s = 0; s < pool->route.nshards && rc == 0; s++)
        rc = ep_check_shard(pool->route.shard[s], why, len);
    if (rc == 0)
        rc = ep_check_owners(pool, why, len);
    ep_unlock_all(pool);
    return rc;
}
