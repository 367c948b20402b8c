/* shard.c - making and freeing a pool's shards (shard.h, docs/ENGINE.md
 * section 15), and the effective-range change they all follow.
 *
 * Only a thread-safe pool with stack semantics and the random algorithm is
 * cut: Linux semantics writes every address's binding counts from UDP
 * connects and sticky buckets from TIME_WAIT expiry, and the other
 * algorithms' cursor, counter or table is pool-wide state by definition;
 * without a lock there is nothing to split.  Those pools keep one shard,
 * the master itself, and take the single-lock paths.
 *
 * The directory (shard.h) is claimed slot by slot: a thread's home shard
 * is its place in the order in which threads first claimed a slot in any
 * pool, modulo the shard count, so up to EP_SHARDS threads get shards of
 * their own.
 *
 * Each shard record is allocated on its own cache lines (64-byte aligned)
 * so that two threads on two shards write no common line; the pool-wide
 * clock and the owners' lock have lines of their own (ep_pool_shared). */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "chacha.h"
#include "dest.h"
#include "rsspool.h"
#include "timeq.h"
#include "tuple_table.h"

static _Atomic uint32_t ep_threads_seen;
/* initial-exec: a fixed offset from the thread pointer, no __tls_get_addr
 * (and no dependency on the dynamic loader's TLS resolver) */
static _Thread_local uint32_t ep_thread_home __attribute__((tls_model("initial-exec")));
/* ep_thread_home: 1 + the thread's order of first claim; 0 not yet */

uint8_t ep_dir_claim(const ep_pool *pool, uint32_t slot)
{
    ep_pool_shared *sh = pool->route.shared;
    uint8_t want, seen = 0;

    assert(sh && slot < EP_DIR_SLOTS);
    if (ep_thread_home == 0)
        ep_thread_home = atomic_fetch_add_explicit(&ep_threads_seen, 1, memory_order_relaxed) + 1;
    want = (uint8_t)(1 + (ep_thread_home - 1) % pool->route.nshards);
    /* another thread may claim it first: then its choice holds */
    if (!atomic_compare_exchange_strong_explicit(&sh->dir[slot], &seen, want,
                                                 memory_order_relaxed, memory_order_relaxed))
        return seen;
    return want;
}

static bool ep_shards_wanted(const ep_pool *m)
{
    return m->locking && !m->linux_sem && m->cfg.algorithm == EP_ALG_RANDOM;
}

static void ep_shard_free(ep_pool *sh)
{
    ep_dt_destroy(sh);
    ep_tt_destroy(&sh->tt);
    for (uint32_t a = 0; a < sh->naddrs; a++)
        for (int pi = 0; pi < 2; pi++) {
            free(sh->addrs[a].st[pi].pc);
            ep_dense_free(sh->addrs[a].st[pi].own);
        }
    free(sh->addrs);
    if (sh->locking)
        ep_lock_destroy(&sh->lock);
    free(sh);
}

/* A shard with no destinations, sharing the master's configuration and
 * tables; keys and RNG stream drawn from the master's stream (so a seeded
 * pool stays reproducible). */
static ep_pool *ep_shard_new(ep_pool *m, uint32_t index)
{
    ep_pool *sh = aligned_alloc(64, (sizeof *sh + 63) & ~(size_t)63);
    uint32_t key[8];
    uint64_t k0, k1;

    if (!sh)
        return NULL;
    memset(sh, 0, sizeof *sh);
    sh->route = m->route;
    sh->route.index = index;
    sh->locking = m->locking;
    sh->cfg = m->cfg;
    sh->reserved_text = m->reserved_text;
    sh->reserved = m->reserved;
    sh->neff = m->neff;
    sh->idx2port = m->idx2port;
    sh->port2idx = m->port2idx;
    sh->contiguous = m->contiguous;
    sh->reuse_on = m->reuse_on;
    sh->linux_sem = m->linux_sem;
    sh->fam_addr[0] = sh->fam_addr[1] = EP_NIL;
    sh->rss_queue = -1;
    for (int q = 0; q < EP_Q__COUNT; q++)
        ep_timeq_init(&sh->q[q]);
    sh->next_due = UINT64_MAX;
    memcpy(sh->fkey, m->fkey, sizeof sh->fkey);
    sh->binds_free = EP_NIL;
    if (ep_rng_init(&sh->rng, true, ep_rng_u64(&m->rng)) < 0)
        goto fail_rng;
    k0 = ep_rng_u64(&m->rng);
    k1 = ep_rng_u64(&m->rng);
    ep_rng_bytes(&m->rng, key, sizeof key);
    if (ep_tt_init(&sh->tt, k0, k1) < 0 || ep_dt_init(&sh->dt, key) < 0)
        goto fail;
    sh->tt.limit = EP_SHARD_ENTRIES;
    if (sh->locking && ep_lock_init(&sh->lock) != 0)
        goto fail;
    return sh;
fail:
    ep_dt_destroy(sh);
    ep_tt_destroy(&sh->tt);
fail_rng:
    free(sh);
    return NULL;
}

int ep_shards_create(ep_pool *m)
{
    uint32_t n = ep_shards_wanted(m) ? EP_SHARDS : 1;

    m->route.master = m;
    m->route.index = 0;
    m->route.nshards = 1;
    m->route.shared = NULL;
    m->route.key = 0;
    m->route.shard = malloc(n * sizeof *m->route.shard);
    if (!m->route.shard)
        return -ENOMEM;
    m->route.shard[0] = m;
    if (n == 1)
        return 0;
    m->route.shared = aligned_alloc(64, sizeof *m->route.shared);
    if (!m->route.shared)
        return -ENOMEM;
    atomic_init(&m->route.shared->now, 0);
    for (uint32_t i = 0; i < EP_DIR_SLOTS; i++)
        atomic_init(&m->route.shared->dir[i], 0);
    ep_lock_init(&m->route.shared->owners);
    m->route.key = ep_rng_u64(&m->rng) | 1;
    m->tt.limit = EP_SHARD_ENTRIES;
    for (uint32_t s = 1; s < n; s++) {
        /* each new shard copies the route as it is now; fixed below */
        if (!(m->route.shard[s] = ep_shard_new(m, s))) {
            for (uint32_t t = 1; t < s; t++)
                ep_shard_free(m->route.shard[t]);
            return -ENOMEM;
        }
    }
    m->route.nshards = n;
    for (uint32_t s = 1; s < n; s++)
        m->route.shard[s]->route = m->route, m->route.shard[s]->route.index = s;
    return 0;
}

void ep_shards_destroy(ep_pool *m)
{
    for (uint32_t s = 1; s < m->route.nshards; s++)
        ep_shard_free(m->route.shard[s]);
    if (m->route.shared)
        ep_lock_destroy(&m->route.shared->owners);
    free(m->route.shared);
    free(m->route.shard);
    m->route.shard = NULL;
    m->route.shared = NULL;
    m->route.nshards = 1;
}

void ep_shards_reserved_changed(ep_pool *m)
{
    for (uint32_t s = 1; s < m->route.nshards; s++) {
        ep_pool *sh = m->route.shard[s];
        sh->cfg.reserved = m->cfg.reserved;
        sh->reserved_text = m->reserved_text;
        sh->reserved = m->reserved;
        sh->neff = m->neff;
        sh->contiguous = m->contiguous;
        ep_dest_recount(sh);
        ep_rss_reindex(sh);
    }
}
