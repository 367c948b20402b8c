/* pool.c - the public face of the engine (ephport/pool.h): configuration and
 * validation, locking, local addresses, the reserved set, and the glue that
 * turns each public call into the engine's internal steps:
 *
 *   validate input (never touching state on error)
 *   -> lock -> clamp `now` and expire what is due (conn.c)
 *   -> reserve memory for everything the call may add (so a later step
 *      cannot fail halfway) -> act -> count the failure, if any -> unlock.
 *
 * Who owns what: tuple_table.c the 4-tuple hash, dest.c destinations and
 * exact free counts, dense.c the exact-selection set, timeq.c expiry
 * queues, conn.c the tuple state machine, select.c the algorithms, bind.c
 * bindings, owner.c quotas, chacha.c / siphash.c randomness and keyed
 * hashes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/profile.h>

#include "bind.h"
#include "conn.h"
#include "dest.h"
#include "engine.h"
#include "owner.h"
#include "rsspool.h"
#include "select.h"
#include "timeq.h"
#include "tuple_table.h"
#include "lock.h"
#include "chacha.h"
#include "dense.h"
#include "shard.h"

#define EP_LOCK(p)                                  \
    do {                                            \
        if ((p)->locking)                           \
            ep_lock_acquire(&(p)->lock);            \
    } while (0)
#define EP_UNLOCK(p)                                \
    do {                                            \
        if ((p)->locking)                           \
            ep_lock_release(&(p)->lock);            \
    } while (0)

/* ---- addresses ---------------------------------------------------------- */

uint32_t ep_pool_addr_index(const ep_pool *pool, const ep_addr *a)
{
    for (uint32_t i = 0; i < pool->naddrs; i++)
        if (ep_addr_same(&pool->addrs[i].addr, a))
            return i;
    return EP_NIL;
}

bool ep_pool_has_family(const ep_pool *pool, uint8_t family)
{
    return (family == AF_INET || family == AF_INET6) &&
           pool->fam_addr[ep_family_index(family)] != EP_NIL;
}

/* ---- configuration ------------------------------------------------------ */

int ep_pool_config_init(ep_pool_config *cfg, const char *profile)
{
    const ep_profile *p;

    if (!cfg)
        return EP_EINVAL;
    p = ep_profile_find(profile ? profile : "linux");
    if (!p)
        return EP_EINVAL;
    memset(cfg, 0, sizeof *cfg);
    cfg->lo = p->lo;
    cfg->hi = p->hi;
    cfg->algorithm = EP_ALG_RANDOM;
    cfg->time_wait = EP_MSEC(p->time_wait_ms);
    cfg->tw_reuse = false;
    cfg->tw_reuse_delay = EP_SEC(1);
    cfg->thread_safe = true;
    return 0;
}

static int ep_cfg_fail(ep_parse_error *err, size_t offset, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return EP_EINVAL;
}

/* Parse a reserved list against [lo, hi]; fails if it covers the range. */
static int ep_reserved_parse(const char *text, uint16_t lo, uint16_t hi, ep_portset *set,
                             ep_parse_error *err)
{
    int rc = ep_portset_parse(text ? text : "", set, err);
    if (rc < 0)
        return rc;
    if (ep_portset_count(set, lo, hi) == (uint32_t)(hi - lo + 1))
        return ep_cfg_fail(err, 0, "the reserved ports cover the whole range %u-%u: no port "
                           "would be left to allocate", lo, hi);
    return 0;
}

/* Rebuild the effective-index tables from the range and reserved set. */
static void ep_pool_index(ep_pool *pool)
{
    uint32_t n = 0;
    memset(pool->port2idx, 0xff, 65536 * sizeof *pool->port2idx);
    for (uint32_t p = pool->cfg.lo; p <= pool->cfg.hi; p++) {
        if (ep_portset_has(&pool->reserved, (uint16_t)p))
            continue;
        pool->port2idx[p] = (uint16_t)n;
        pool->idx2port[n++] = (uint16_t)p;
    }
    pool->neff = n;
    /* No reserved port inside the range: index = port - lo, and the hot
     * paths compute it instead of reading the tables (two cache misses
     * fewer per connect when the tables are not cached). */
    pool->contiguous = n == (uint32_t)pool->cfg.hi - pool->cfg.lo + 1;
}

static char *ep_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int ep_pool_new(const ep_pool_config *cfg, ep_pool **out, ep_parse_error *err)
{
    ep_pool *pool;
    ep_portset reserved;
    uint32_t key[8];
    uint64_t k0, k1;
    int rc;

    if (!cfg || !out)
        return ep_cfg_fail(err, 0, "no configuration given");
    if (cfg->lo == 0)
        return ep_cfg_fail(err, 0, "port 0 is not a valid port: the range must start at 1 or above");
    if (cfg->lo > cfg->hi)
        return ep_cfg_fail(err, 0, "the range %u-%u is empty: the first port is above the last",
                           cfg->lo, cfg->hi);
    if ((unsigned)cfg->algorithm >= EP_ALG__COUNT)
        return ep_cfg_fail(err, 0, "unknown selection algorithm %d", (int)cfg->algorithm);
    if (cfg->semantics != EP_SEM_STACK && cfg->semantics != EP_SEM_LINUX)
        return ep_cfg_fail(err, 0, "unknown semantics %d (stack or linux)", (int)cfg->semantics);
    if ((rc = ep_reserved_parse(cfg->reserved, cfg->lo, cfg->hi, &reserved, err)) < 0)
        return rc;

    /* aligned: the routing fields have a cache line of their own */
    pool = aligned_alloc(64, (sizeof *pool + 63) & ~(size_t)63);
    if (!pool)
        return EP_ENOMEM;
    memset(pool, 0, sizeof *pool);
    pool->cfg = *cfg;
    pool->reserved = reserved;
    pool->locking = cfg->thread_safe;
    pool->linux_sem = cfg->semantics == EP_SEM_LINUX;
    pool->reuse_on = cfg->tw_reuse && cfg->time_wait > 0 &&
                     cfg->tw_reuse_delay < cfg->time_wait - 1;
    pool->naddrs = 0;
    pool->fam_addr[0] = pool->fam_addr[1] = EP_NIL;
    pool->rss_queue = -1;
    pool->owners.bucket = NULL;
    for (int q = 0; q < EP_Q__COUNT; q++)
        ep_timeq_init(&pool->q[q]);
    pool->next_due = UINT64_MAX;
    rc = EP_ENOMEM;
    pool->reserved_text = ep_strdup(cfg->reserved ? cfg->reserved : "");
    pool->port2idx = malloc(65536 * sizeof *pool->port2idx);
    pool->idx2port = malloc(65536 * sizeof *pool->idx2port);
    if (!pool->reserved_text || !pool->port2idx || !pool->idx2port)
        goto fail;
    pool->cfg.reserved = pool->reserved_text;
    if ((rc = ep_rng_init(&pool->rng, cfg->seeded, cfg->seed)) < 0)
        goto fail;
    ep_rng_bytes(&pool->rng, pool->fkey, sizeof pool->fkey);
    k0 = ep_rng_u64(&pool->rng);
    k1 = ep_rng_u64(&pool->rng);
    ep_rng_bytes(&pool->rng, key, sizeof key);
    rc = EP_ENOMEM;
    if (ep_tt_init(&pool->tt, k0, k1) < 0 || ep_dt_init(&pool->dt, key) < 0 ||
        ep_owners_init(&pool->owners) < 0 || ep_binds_init(pool) < 0)
        goto fail;
    if (cfg->algorithm == EP_ALG_RFC6056_4) {
        /* Linux fills table_perturb with random bytes on first use. */
        pool->perturb = malloc(65536 * sizeof *pool->perturb);
        if (!pool->perturb)
            goto fail;
        ep_rng_bytes(&pool->rng, pool->perturb, 65536 * sizeof *pool->perturb);
    }
    ep_pool_index(pool);
    pool->seq_next = 0;
    pool->alg5_next = ep_rng_below(&pool->rng, pool->neff);
    pool->alg3_counter = 0;
    if (pool->locking && ep_lock_init(&pool->lock) != 0)
        goto fail;
    rc = EP_ENOMEM;
    if (ep_shards_create(pool) < 0)
        goto fail;
    *out = pool;
    return 0;
fail:
    pool->locking = false;
    ep_pool_free(pool);
    if (rc == EP_ENOMEM && err)
        ep_cfg_fail(err, 0, "out of memory");
    return rc;
}

void ep_pool_free(ep_pool *pool)
{
    if (!pool)
        return;
    ep_shards_destroy(pool);
    ep_dt_destroy(pool);
    ep_tt_destroy(&pool->tt);
    if (pool->owners.bucket)
        ep_owners_destroy(&pool->owners);
    ep_binds_destroy(pool);
    for (uint32_t a = 0; a < pool->naddrs; a++) {
        for (int pi = 0; pi < 2; pi++) {
            free(pool->addrs[a].st[pi].pc);
            ep_dense_free(pool->addrs[a].st[pi].own);
        }
    }
    free(pool->addrs);
    free(pool->perturb);
    ep_rss_destroy(pool);
    free(pool->port2idx);
    free(pool->idx2port);
    free(pool->reserved_text);
    if (pool->locking)
        ep_lock_destroy(&pool->lock);
    free(pool);
}

int ep_pool_add_address(ep_pool *pool, const ep_addr *addr)
{
    ep_portcount *pc[EP_SHARDS][2];
    ep_addr a;
    uint32_t n;
    int rc = 0;

    if (!pool || !addr || (addr->family != AF_INET && addr->family != AF_INET6))
        return EP_EINVAL;
    ep_addr_canon(addr, &a);
    if (ep_addr_wild(&a))
        return EP_EINVAL;
    ep_lock_all(pool);
    n = pool->route.nshards;
    if (ep_pool_addr_index(pool, &a) != EP_NIL) {
        rc = EP_EEXIST;
        goto out;
    }
    /* every shard gets the address (its own entry counts, a copy of the
     * binding counts); room and arrays first, so a failure changes nothing */
    memset(pc, 0, sizeof pc);
    for (uint32_t s = 0; s < n; s++) {
        ep_pool *sh = pool->route.shard[s];
        if (sh->naddrs == sh->addrs_cap) {
            uint32_t ncap = sh->addrs_cap ? sh->addrs_cap * 2 : 4;
            ep_laddr *grown = realloc(sh->addrs, (size_t)ncap * sizeof *grown);
            if (!grown)
                rc = EP_ENOMEM;
            else
                sh->addrs = grown, sh->addrs_cap = ncap;
        }
        for (int pi = 0; pi < 2 && rc == 0; pi++)
            if (!(pc[s][pi] = calloc(65536, sizeof *pc[s][pi])))
                rc = EP_ENOMEM;
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        for (uint32_t s = 0; s < n; s++)
            free(pc[s][0]), free(pc[s][1]);
        goto out;
    }
    for (uint32_t s = 0; s < n; s++) {
        ep_pool *sh = pool->route.shard[s];
        ep_laddr *l = &sh->addrs[sh->naddrs];
        memset(l, 0, sizeof *l);
        l->addr = a;
        for (int pi = 0; pi < 2; pi++) {
            l->st[pi].pc = pc[s][pi];
            l->st[pi].dests = EP_NIL;
        }
        sh->naddrs++;
        uint32_t *fam = &sh->fam_addr[ep_family_index(a.family)];
        *fam = *fam == EP_NIL ? sh->naddrs - 1 : EP_MANY;
    }
    ep_bind_new_address(pool, pool->naddrs - 1);
out:
    ep_unlock_all(pool);
    return rc;
}

int ep_pool_set_reserved(ep_pool *pool, const char *text, ep_parse_error *err)
{
    ep_portset set;
    char *copy;
    int rc;

    if (!pool)
        return ep_cfg_fail(err, 0, "no pool given");
    if ((rc = ep_reserved_parse(text, pool->cfg.lo, pool->cfg.hi, &set, err)) < 0)
        return rc;
    if (!(copy = ep_strdup(text ? text : "")))
        return EP_ENOMEM;
    ep_lock_all(pool);
    free(pool->reserved_text);
    pool->reserved_text = copy;
    pool->cfg.reserved = copy;
    pool->reserved = set;
    ep_pool_index(pool);
    pool->seq_next %= pool->neff;
    pool->alg5_next %= pool->neff;
    ep_dest_recount(pool);
    ep_rss_reindex(pool);
    ep_shards_reserved_changed(pool);
    ep_unlock_all(pool);
    return 0;
}

int ep_pool_set_owner_quota(ep_pool *pool, uint32_t owner, uint32_t cap)
{
    int rc;
    if (!pool || owner == 0)
        return EP_EINVAL;
    ep_lock_all(pool);
    rc = ep_owner_set_cap(pool, owner, cap);
    ep_unlock_all(pool);
    return rc;
}

int ep_pool_get_config(const ep_pool *pool, ep_pool_config *out)
{
    ep_pool *p = (ep_pool *)pool; /* the lock is internal state */
    if (!pool || !out)
        return EP_EINVAL;
    EP_LOCK(p);
    *out = pool->cfg;
    EP_UNLOCK(p);
    return 0;
}

/* ---- failures ----------------------------------------------------------- */

static int ep_pool_count(ep_pool *pool, int rc)
{
    if (rc >= 0 || rc == EP_ENOMEM)
        return rc;
    switch (rc) {
    case EP_EADDRNOTAVAIL: pool->st.failures[EP_FAIL_EXHAUSTED]++; break;
    case -EAGAIN: pool->st.failures[EP_FAIL_EXHAUSTED]++; break; /* Linux UDP autobind */
    case EP_EDQUOT: pool->st.failures[EP_FAIL_QUOTA]++; break;
    case EP_EADDRINUSE: pool->st.failures[EP_FAIL_ADDRINUSE]++; break;
    default: pool->st.failures[EP_FAIL_INVALID]++; break;
    }
    return rc;
}

/* ---- connect-style ------------------------------------------------------ */

static bool ep_proto_ok(uint8_t proto)
{
    return proto == EP_PROTO_TCP || proto == EP_PROTO_UDP;
}

/* proto, remote (a specific address, port > 0) and the local family
 * (0 or the remote's); *remote receives the canonical copy.  Inline: it
 * runs on every connect and close. */
static inline int ep_tuple_check(const ep_tuple *t, ep_addr *remote)
{
    if (!ep_proto_ok(t->proto))
        return EP_EINVAL;
    if (t->remote.family != AF_INET && t->remote.family != AF_INET6)
        return EP_EINVAL;
    ep_addr_canon(&t->remote, remote);
    if (ep_addr_wild(remote) || t->remote_port == 0)
        return EP_EINVAL;
    if (t->local.family != 0 && t->local.family != t->remote.family)
        return EP_EINVAL;
    return 0;
}

static int ep_engine_connect_core(ep_pool *pool, uint8_t proto, uint32_t lidx,
                                  const ep_addr *remote, uint16_t rport, uint32_t owner,
                                  uint8_t eflags, uint32_t *lidx_out, uint16_t *port,
                                  uint32_t *entry_out);

static inline int ep_engine_connect_plain(ep_pool *pool, uint8_t proto, uint32_t lidx,
                                          const ep_addr *remote, uint16_t rport, uint32_t owner,
                                          uint8_t eflags, uint32_t *lidx_out, uint16_t *port,
                                          uint32_t *entry_out)
{
    int rc;

    /* Linux: a UDP socket's port is its own (udp_lib_get_port), whatever
     * the destination, and running out is inet_autobind()'s EAGAIN. */
    if (pool->linux_sem && proto == EP_PROTO_UDP) {
        eflags |= EP_EF_HOLD;
        rc = ep_engine_connect_core(pool, proto, lidx, remote, rport, owner, eflags, lidx_out,
                                    port, entry_out);
        return rc == EP_EADDRNOTAVAIL ? -EAGAIN : rc;
    }
    return ep_engine_connect_core(pool, proto, lidx, remote, rport, owner, eflags, lidx_out,
                                  port, entry_out);
}

/* An owner's quota spans the shards: in a sharded pool the owners' leaf
 * lock is held from the quota check to the charge (owner.c).  Apart, so
 * that the common path (owner 0) pays one test. */
__attribute__((noinline)) static int
ep_engine_connect_owned(ep_pool *pool, uint8_t proto, uint32_t lidx, const ep_addr *remote,
                        uint16_t rport, uint32_t owner, uint8_t eflags, uint32_t *lidx_out,
                        uint16_t *port, uint32_t *entry_out)
{
    ep_pool_shared *sh = pool->route.shared;
    int rc;

    ep_lock_acquire(&sh->owners);
    rc = ep_engine_connect_plain(pool, proto, lidx, remote, rport, owner, eflags, lidx_out, port,
                                 entry_out);
    ep_lock_release(&sh->owners);
    return rc;
}

int ep_engine_connect(ep_pool *pool, uint8_t proto, uint32_t lidx, const ep_addr *remote,
                      uint16_t rport, uint32_t owner, uint8_t eflags, uint32_t *lidx_out,
                      uint16_t *port, uint32_t *entry_out)
{
    if (owner != 0 && pool->route.shared && pool->locking)
        return ep_engine_connect_owned(pool, proto, lidx, remote, rport, owner, eflags, lidx_out,
                                       port, entry_out);
    return ep_engine_connect_plain(pool, proto, lidx, remote, rport, owner, eflags, lidx_out,
                                   port, entry_out);
}

static int ep_engine_connect_core(ep_pool *pool, uint8_t proto, uint32_t lidx,
                                  const ep_addr *remote, uint16_t rport, uint32_t owner,
                                  uint8_t eflags, uint32_t *lidx_out, uint16_t *port,
                                  uint32_t *entry_out)
{
    int pi = ep_proto_index(proto), rc;
    uint32_t di, e;

    if (lidx == EP_NIL && !ep_pool_has_family(pool, remote->family))
        return EP_EAFNOSUPPORT;
    if ((rc = ep_owner_check(pool, owner)) < 0)
        return rc;
    if ((rc = ep_tt_reserve(&pool->tt)) < 0 || (rc = ep_dest_reserve(pool)) < 0 ||
        (rc = ep_owner_reserve(pool, owner)) < 0)
        return rc;
    if (lidx != EP_NIL) {
        di = ep_dest_find(pool, proto, lidx, remote, rport);
        if (ep_dest_free(pool, lidx, pi, di) == 0) {
            ep_dest_count_failure(pool, di);
            return EP_EADDRNOTAVAIL;
        }
    } else if ((rc = ep_select_local(pool, proto, remote, rport, &lidx, &di)) < 0) {
        return rc;
    }
    if ((rc = ep_select_port(pool, lidx, pi, di, remote, rport, port)) < 0)
        return rc;
    /* The port is available towards di, so an entry of di on it can only be
     * a reusable TIME_WAIT tuple, which needs tw reuse: take it over. */
    if (di == EP_NIL)
        di = ep_dest_create(pool, proto, lidx, remote, rport);
    else if (pool->reuse_on && !ep_dest_surely_not_on(&pool->dt.d[di], *port) &&
             (e = ep_tt_find(&pool->tt, di, *port)) != EP_NIL)
        ep_conn_drop(pool, e, true);
    (void)ep_owner_charge(pool, owner); /* reserved above */
    e = ep_conn_add(pool, di, *port, owner, EP_NIL, eflags);
    if (entry_out)
        *entry_out = e;
    pool->st.allocations++;
    *lidx_out = lidx;
    return 0;
}

/* ep_pool_connect, or with want_ref ep_pool_connect_ref (ref must then be
 * given); queue >= 0: ep_pool_connect_rss.  Runs on the destination's shard
 * (shard.h); a call refused before its destination is known is counted on
 * the master. */
static int ep_pool_connect_do(ep_pool *pool, ep_tuple *t, uint32_t owner, ep_time now,
                              ep_conn_ref *ref, bool want_ref, int32_t queue)
{
    ep_addr remote, local;
    uint32_t lidx = EP_NIL, entry;
    uint16_t port;
    ep_pool *sp = pool;
    int rc;

    if (!pool)
        return EP_EINVAL;
    if (!t || (want_ref && !ref))
        rc = EP_EINVAL;
    else if ((rc = ep_tuple_check(t, &remote)) == 0)
        sp = ep_shard_of(pool, &remote, t->remote_port);
    EP_LOCK(sp);
    ep_conn_advance(sp, now);
    if (rc < 0)
        goto out;
    if (queue >= 0 && !ep_rss_queue_ok(sp, queue)) {
        rc = EP_EINVAL;
        goto out;
    }
    ep_addr_canon(&t->local, &local);
    if (local.family != 0 && !ep_addr_wild(&local) &&
        (lidx = ep_pool_addr_index(sp, &local)) == EP_NIL) {
        rc = EP_ENOENT;
        goto out;
    }
    sp->rss_queue = queue;
    rc = ep_engine_connect(sp, t->proto, lidx, &remote, t->remote_port, owner, 0, &lidx, &port,
                           &entry);
    sp->rss_queue = -1;
    if (rc == 0) {
        t->local = sp->addrs[lidx].addr;
        t->local_port = port;
        /* a shard's entries are below EP_SHARD_ENTRIES (its table's limit):
         * the top bits name the shard */
        if (want_ref)
            *ref = (uint64_t)sp->tt.e[entry].nonce << 32 |
                   (sp->route.index << (32 - EP_SHARD_BITS) | entry);
    }
out:
    ep_pool_count(sp, rc);
    EP_UNLOCK(sp);
    return rc;
}

int ep_pool_connect(ep_pool *pool, ep_tuple *t, uint32_t owner, ep_time now)
{
    return ep_pool_connect_do(pool, t, owner, now, NULL, false, -1);
}

int ep_pool_connect_ref(ep_pool *pool, ep_tuple *t, uint32_t owner, ep_time now,
                        ep_conn_ref *ref)
{
    return ep_pool_connect_do(pool, t, owner, now, ref, true, -1);
}

int ep_pool_connect_rss(ep_pool *pool, ep_tuple *t, uint16_t queue, uint32_t owner,
                        ep_time now, ep_conn_ref *ref)
{
    return ep_pool_connect_do(pool, t, owner, now, ref, ref != NULL, queue);
}

int ep_pool_set_rss(ep_pool *pool, const ep_rss_config *cfg)
{
    struct ep_rss *r;
    int rc;

    if (!pool)
        return EP_EINVAL;
    ep_lock_all(pool);
    if ((rc = ep_rss_configure(pool, cfg, &r)) == 0) {
        ep_rss_install(pool, r);
        for (uint32_t s = 1; s < pool->route.nshards; s++)
            ep_rss_share(pool->route.shard[s], r);
    }
    ep_unlock_all(pool);
    return rc;
}

/* A fully specified tuple's key: the canonical remote and local addresses,
 * or -EINVAL.  Checked before any lock, as it also names the shard. */
static inline int ep_tuple_key(const ep_tuple *t, ep_addr *remote, ep_addr *local)
{
    int rc;
    if ((rc = ep_tuple_check(t, remote)) < 0)
        return rc;
    ep_addr_canon(&t->local, local);
    if (local->family == 0 || ep_addr_wild(local) || t->local_port == 0)
        return EP_EINVAL;
    return 0;
}

/* The entry of a tuple with a checked key, or -ENOENT. */
static inline __attribute__((always_inline)) int
ep_pool_find_tuple(ep_pool *pool, const ep_tuple *t, const ep_addr *remote,
                              const ep_addr *local, uint32_t *idx)
{
    uint32_t lidx, di;

    if ((lidx = ep_pool_addr_index(pool, local)) == EP_NIL)
        return EP_ENOENT;
    if ((di = ep_dest_find(pool, t->proto, lidx, remote, t->remote_port)) == EP_NIL)
        return EP_ENOENT;
    if ((*idx = ep_tt_find(&pool->tt, di, t->local_port)) == EP_NIL)
        return EP_ENOENT;
    return 0;
}

/* The entry found under its shard's lock came from bind-then-connect: its
 * close ends its binding, which changes every shard's binding counts.
 * Drop the shard's lock, take every shard's (global mode) and find the
 * entry again (another thread may have closed it in between). */
__attribute__((noinline)) static int ep_close_relock(ep_pool *pool, ep_pool *sp,
                                                     const ep_tuple *t, ep_time now,
                                                     uint32_t *idx)
{
    ep_addr remote, local;
    int rc;

    EP_UNLOCK(sp);
    ep_lock_all(pool);
    ep_conn_advance(sp, now);
    if ((rc = ep_tuple_key(t, &remote, &local)) < 0 ||
        (rc = ep_pool_find_tuple(sp, t, &remote, &local, idx)) < 0)
        return rc;
    return sp->tt.e[*idx].state != EP_ST_INUSE ? EP_EALREADY : 0;
}

/* Close by tuple on the tuple's shard (global mode for an entry made by
 * bind-then-connect, rare). */
int ep_pool_close(ep_pool *pool, const ep_tuple *t, ep_close_how how, ep_time now)
{
    ep_addr remote, local;
    ep_pool *sp = pool;
    uint32_t idx;
    int rc;
    bool global = false;

    if (!pool)
        return EP_EINVAL;
    if (!t || (how != EP_CLOSE_ACTIVE && how != EP_CLOSE_PASSIVE))
        rc = EP_EINVAL;
    else if ((rc = ep_tuple_key(t, &remote, &local)) == 0)
        sp = ep_shard_of(pool, &remote, t->remote_port);
    EP_LOCK(sp);
    ep_conn_advance(sp, now);
    if (rc < 0)
        goto out;
    if ((rc = ep_pool_find_tuple(sp, t, &remote, &local, &idx)) < 0)
        goto out;
    if (sp->tt.e[idx].state != EP_ST_INUSE) {
        rc = EP_EALREADY;
        goto out;
    }
    if (sp->tt.e[idx].u.held.bind != EP_NIL && ep_sharded(pool)) {
        global = true;
        if ((rc = ep_close_relock(pool, sp, t, now, &idx)) < 0)
            goto out;
    }
    ep_conn_close(sp, idx, how);
out:
    ep_pool_count(sp, rc);
    if (global)
        ep_unlock_all(pool);
    else
        EP_UNLOCK(sp);
    return rc;
}

/* A reference names entry (ref & 0xffffffff) while that entry is in use
 * with nonce (ref >> 32): every connect gives its entry a new nonce, and a
 * closed entry's field holds a queue link or nothing, so a stale reference
 * is refused (until the 32-bit nonce counter comes round to the same slot,
 * 2^32 connects later).  In a sharded pool the entry's top EP_SHARD_BITS
 * bits are its shard. */
int ep_pool_close_ref(ep_pool *pool, ep_conn_ref ref, ep_close_how how, ep_time now)
{
    uint32_t idx = (uint32_t)ref, nonce = (uint32_t)(ref >> 32);
    ep_pool *sp = pool;
    int rc = 0;
    bool global = false;

    if (!pool)
        return EP_EINVAL;
    if (ep_sharded(pool)) {
        sp = pool->route.shard[idx >> (32 - EP_SHARD_BITS)];
        idx &= EP_SHARD_ENTRIES - 1;
    }
again:
    if (global)
        ep_lock_all(pool);
    else
        EP_LOCK(sp);
    ep_conn_advance(sp, now);
    if (how != EP_CLOSE_ACTIVE && how != EP_CLOSE_PASSIVE) {
        rc = EP_EINVAL;
    } else if (nonce == 0 || idx >= sp->tt.used || sp->tt.e[idx].state != EP_ST_INUSE ||
               sp->tt.e[idx].nonce != nonce) {
        rc = EP_ENOENT;
    } else if (sp->tt.e[idx].u.held.bind != EP_NIL && !global && ep_sharded(pool)) {
        /* a connected explicit binding: its close ends the binding */
        EP_UNLOCK(sp);
        global = true;
        goto again;
    } else {
        ep_conn_close(sp, idx, how);
    }
    ep_pool_count(sp, rc);
    if (global)
        ep_unlock_all(pool);
    else
        EP_UNLOCK(sp);
    return rc;
}

/* ---- bind-style --------------------------------------------------------- */

/* Global mode (every shard locked): expire what is due on every shard. */
static void ep_advance_all(ep_pool *pool, ep_time now)
{
    for (uint32_t s = 0; s < pool->route.nshards; s++)
        ep_conn_advance(pool->route.shard[s], now);
}

int ep_pool_bind(ep_pool *pool, const ep_bind_req *req, ep_time now, ep_bind_id *id,
                 uint16_t *port_out)
{
    int rc;
    if (!pool)
        return EP_EINVAL;
    ep_lock_all(pool);
    ep_advance_all(pool, now);
    rc = (!req || !id) ? EP_EINVAL : ep_bind_do(pool, req, id, port_out);
    ep_pool_count(pool, rc);
    ep_unlock_all(pool);
    return rc;
}

int ep_pool_listen(ep_pool *pool, ep_bind_id id)
{
    int rc;
    if (!pool)
        return EP_EINVAL;
    ep_lock_all(pool);
    rc = ep_pool_count(pool, ep_bind_listen_do(pool, id));
    ep_unlock_all(pool);
    return rc;
}

int ep_pool_unbind(ep_pool *pool, ep_bind_id id, ep_time now)
{
    int rc;
    if (!pool)
        return EP_EINVAL;
    ep_lock_all(pool);
    ep_advance_all(pool, now);
    rc = ep_pool_count(pool, ep_bind_unbind_do(pool, id));
    ep_unlock_all(pool);
    return rc;
}

int ep_pool_connect_bound(ep_pool *pool, ep_bind_id id, ep_tuple *t, ep_time now)
{
    ep_tuple in;
    int rc;

    if (!pool)
        return EP_EINVAL;
    ep_lock_all(pool);
    ep_advance_all(pool, now);
    if (!t) {
        rc = EP_EINVAL;
        goto out;
    }
    in = *t;
    in.proto = EP_PROTO_TCP;   /* taken from the binding; checked there */
    memset(&in.local, 0, sizeof in.local);
    if ((rc = ep_tuple_check(&in, &in.remote)) < 0)
        goto out;
    if ((rc = ep_bind_connect_do(pool, id, &in)) == 0)
        *t = in;
out:
    ep_pool_count(pool, rc);
    ep_unlock_all(pool);
    return rc;
}

/* One shard after the other: nothing here looks at two shards at once. */
void ep_pool_advance(ep_pool *pool, ep_time now)
{
    if (!pool)
        return;
    for (uint32_t s = 0; s < pool->route.nshards; s++) {
        ep_pool *sp = pool->route.shard[s];
        EP_LOCK(sp);
        ep_conn_advance(sp, now);
        EP_UNLOCK(sp);
    }
}

/* ---- statistics --------------------------------------------------------- */

int ep_pool_stats_get(ep_pool *pool, ep_time now, ep_pool_stats *out)
{
    if (!pool || !out)
        return EP_EINVAL;
    ep_lock_all(pool);
    ep_advance_all(pool, now);
    *out = pool->st;
    out->destinations = pool->dt.count;
    /* the shards' counters, summed (bindings are the master's) */
    for (uint32_t s = 1; s < pool->route.nshards; s++) {
        const ep_pool *sp = pool->route.shard[s];
        out->in_use += sp->st.in_use;
        out->time_wait += sp->st.time_wait;
        out->quarantine += sp->st.quarantine;
        out->binds += sp->st.binds;
        out->allocations += sp->st.allocations;
        out->releases += sp->st.releases;
        for (int f = 0; f < EP_FAIL__COUNT; f++)
            out->failures[f] += sp->st.failures[f];
        out->destinations += sp->dt.count;
    }
    out->range_ports = (uint32_t)pool->cfg.hi - pool->cfg.lo + 1;
    out->effective_ports = pool->neff;
    ep_unlock_all(pool);
    return 0;
}

static void ep_dest_fill(const ep_pool *pool, uint8_t proto, uint32_t lidx, const ep_addr *remote,
                         uint16_t rport, uint32_t di, ep_dest_stats *out)
{
    int pi = ep_proto_index(proto);
    memset(out, 0, sizeof *out);
    out->proto = proto;
    out->local = pool->addrs[lidx].addr;
    out->remote = *remote;
    out->remote_port = rport;
    out->blocked = ep_ls(pool, lidx, pi)->blocked;
    out->free = ep_dest_free(pool, lidx, pi, di);
    if (di != EP_NIL && !pool->dt.d[di].idle) {
        const ep_dest *d = &pool->dt.d[di];
        out->in_use = d->in_use;
        out->time_wait = d->time_wait;
        out->quarantine = d->quarantine;
        out->high_water = d->high_water;
        out->failures = d->failures;
    }
    out->pressure = 1.0 - (double)out->free / (double)pool->neff;
}

int ep_pool_dest_stats(ep_pool *pool, const ep_tuple *t, ep_time now, ep_dest_stats *out)
{
    ep_addr remote, local;
    uint32_t lidx;
    int rc;

    if (!pool || !t || !out)
        return EP_EINVAL;
    if ((rc = ep_tuple_check(t, &remote)) < 0)
        return rc;
    ep_addr_canon(&t->local, &local);
    if (local.family == 0 || ep_addr_wild(&local))
        return EP_EINVAL;
    /* an unclaimed slot has no destination yet: any shard answers "none"
     * (their binding counts are equal), so ask the master */
    ep_pool *sp = ep_shard_find(pool, &remote, t->remote_port);
    if (!sp)
        sp = pool;
    EP_LOCK(sp);
    ep_conn_advance(sp, now);
    if ((lidx = ep_pool_addr_index(sp, &local)) == EP_NIL) {
        rc = EP_ENOENT;
    } else {
        uint32_t di = ep_dest_find(sp, t->proto, lidx, &remote, t->remote_port);
        ep_dest_fill(sp, t->proto, lidx, &remote, t->remote_port, di, out);
    }
    EP_UNLOCK(sp);
    return rc;
}

static int ep_dest_cmp(const void *pa, const void *pb)
{
    const ep_dest_stats *a = pa, *b = pb;
    int c;
    if (a->pressure != b->pressure)
        return a->pressure > b->pressure ? -1 : 1;
    if (a->in_use != b->in_use)
        return a->in_use > b->in_use ? -1 : 1;
    /* a total order, so the listing is reproducible */
    if (a->proto != b->proto)
        return a->proto < b->proto ? -1 : 1;
    if ((c = memcmp(&a->local, &b->local, sizeof a->local)) != 0)
        return c;
    if ((c = memcmp(&a->remote, &b->remote, sizeof a->remote)) != 0)
        return c;
    return (int)a->remote_port - (int)b->remote_port;
}

int ep_pool_top_destinations(ep_pool *pool, ep_time now, ep_dest_stats *out, size_t max,
                             size_t *total)
{
    ep_dest_stats *all;
    size_t n = 0, w;

    if (!pool || (!out && max > 0))
        return EP_EINVAL;
    size_t count = 0;
    ep_lock_all(pool);
    ep_advance_all(pool, now);
    for (uint32_t s = 0; s < pool->route.nshards; s++)
        count += pool->route.shard[s]->dt.count;
    all = malloc((count + 1) * sizeof *all);
    if (!all) {
        ep_unlock_all(pool);
        return EP_ENOMEM;
    }
    for (uint32_t s = 0; s < pool->route.nshards; s++) {
        const ep_pool *sp = pool->route.shard[s];
        for (uint32_t di = 0; di < sp->dt.used; di++) {
            const ep_dest *d = &sp->dt.d[di];
            if (!d->proto || d->idle)
                continue;
            ep_dest_fill(sp, d->proto, d->laddr, &d->remote, d->rport, di, &all[n++]);
        }
    }
    ep_unlock_all(pool);
    qsort(all, n, sizeof *all, ep_dest_cmp);
    w = n < max ? n : max;
    if (w)
        memcpy(out, all, w * sizeof *all);
    free(all);
    if (total)
        *total = n;
    return (int)(w > (size_t)INT32_MAX ? INT32_MAX : w);
}
