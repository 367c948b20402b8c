/* shard.h - a pool cut into shards by destination (docs/ENGINE.md section
 * 15): which shard owns a destination, the pool-wide clock, and the
 * helpers the engine's files use where a question spans every shard.
 * Private to libephport.
 *
 * A destination's shard is found in a directory indexed by a keyed hash
 * of (remote address, remote port), without the local address, so that
 * choosing the local address (section 2) weighs every address's free
 * count inside one shard.  A directory slot belongs to the shard of the
 * first thread that connected towards it (each thread has a home shard),
 * so threads with destinations of their own stay on shards of their own.
 * A shard owns its destinations' entries, records, expiry queues, per-
 * address entry counts (pc[].conn), counters and RNG stream; connect, close
 * and a destination's statistics take its lock only.  Everything that
 * looks at several destinations (bindings, addresses, the reserved set,
 * RSS, pool statistics, top, check) takes every shard's lock in index
 * order ("global mode"): then the shards' copies of the per-address
 * binding counts (pc[].blk, blocked) change together and stay equal. */
#ifndef EP_SHARD_H
#define EP_SHARD_H

#include <stdatomic.h>
#include <string.h>

#include "engine.h"
#include "lock.h"

static inline ep_pool *ep_master(const ep_pool *pool)
{
    return pool->route.master;
}

static inline bool ep_sharded(const ep_pool *pool)
{
    return pool->route.nshards > 1;
}

/* The directory slot of (remote, rport); remote canonical.  The
 * address's words and the port folded into one word, then multiply-shift
 * under the pool's random odd multiplier (its top bits depend on every bit
 * of the word).  The protocol is left out: TCP and UDP towards one remote
 * share a slot. */
static inline uint32_t ep_dir_slot(const ep_pool *pool, const ep_addr *remote, uint16_t rport)
{
    uint64_t w[2];
    memcpy(w, remote->u.bytes, 16);
    return (uint32_t)(((w[0] ^ w[1] ^ rport) * pool->route.key) >> (64 - EP_DIR_BITS));
}

/* The first call towards an unclaimed slot gives it to the calling
 * thread's home shard (shard.c). */
uint8_t ep_dir_claim(const ep_pool *pool, uint32_t slot);

/* The shard that owns (remote, rport) - any protocol - claiming the directory slot
 * for the calling thread's shard if no call has claimed it yet: so the
 * destinations a thread opens first live on its own shard, and two
 * threads with destinations of their own write disjoint shards.  A slot
 * never changes owner, so connect and close always meet on one shard. */
static inline ep_pool *ep_shard_of(const ep_pool *pool, const ep_addr *remote, uint16_t rport)
{
    const ep_pool_shared *sh = pool->route.shared;
    if (!sh)
        return (ep_pool *)pool;
    uint32_t slot = ep_dir_slot(pool, remote, rport);
    uint8_t v = atomic_load_explicit(&sh->dir[slot], memory_order_relaxed);
    if (__builtin_expect(v == 0, 0))
        v = ep_dir_claim(pool, slot);
    return pool->route.shard[v - 1];
}

/* The shard that owns (remote, rport) if its slot is claimed, else NULL:
 * for questions that must not claim (check, a destination's statistics). */
static inline ep_pool *ep_shard_find(const ep_pool *pool, const ep_addr *remote, uint16_t rport)
{
    const ep_pool_shared *sh = pool->route.shared;
    if (!sh)
        return (ep_pool *)pool;
    uint8_t v = atomic_load_explicit(&sh->dir[ep_dir_slot(pool, remote, rport)],
                                     memory_order_relaxed);
    return v ? pool->route.shard[v - 1] : NULL;
}

/* The time a call on this pool works at: the largest of now and every time
 * passed before on any shard (section 3: a time below the largest seen
 * counts as the largest seen).  The pool-wide word is written only by a
 * call whose time exceeds it. */
static inline ep_time ep_pool_clock(ep_pool *pool, ep_time now)
{
    ep_pool_shared *sh = pool->route.shared;
    if (!sh)
        return now;
    uint64_t seen = atomic_load_explicit(&sh->now, memory_order_relaxed);
    if (now <= seen)
        return seen;
    /* a failed exchange loads the newer value into seen */
    while (!atomic_compare_exchange_weak_explicit(&sh->now, &seen, now, memory_order_relaxed,
                                                  memory_order_relaxed))
        if (now <= seen)
            return seen;
    return now;
}

/* Connect-style entries on (address a, protocol pi, port), over every
 * shard (the bind rules' question). */
static inline uint32_t ep_conn_count_all(const ep_pool *pool, uint32_t a, int pi, uint16_t port)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < pool->route.nshards; s++)
        n += pool->route.shard[s]->addrs[a].st[pi].pc[port].conn;
    return n;
}

/* Global mode: every shard's lock, in index order; released in reverse. */
static inline void ep_lock_all(ep_pool *master)
{
    if (!master->locking)
        return;
    for (uint32_t s = 0; s < master->route.nshards; s++)
        ep_lock_acquire(&master->route.shard[s]->lock);
}

static inline void ep_unlock_all(ep_pool *master)
{
    if (!master->locking)
        return;
    for (uint32_t s = master->route.nshards; s-- > 0;)
        ep_lock_release(&master->route.shard[s]->lock);
}

/* Make the other shards of a new pool (master fully built, with its RNG):
 * only for thread-safe pools with stack semantics and the random
 * algorithm; otherwise the master is the only shard.  -ENOMEM. */
int ep_shards_create(ep_pool *master);
/* Free the shards other than the master, and the routing tables. */
void ep_shards_destroy(ep_pool *master);
/* Global mode: after the master's reserved set and index tables changed,
 * give every other shard the new effective range and recount it. */
void ep_shards_reserved_changed(ep_pool *master);

#endif
