/* tuple_table.c - the 4-tuple table.
 *
 * Every connect-style tuple the pool tracks (in use, TIME_WAIT, quarantine)
 * is one 32-byte ep_entry in a slab array; a chained hash keyed by
 * (destination index, local port) finds it.  Chains are u32 indexes through
 * ep_entry.hnext, so the table costs 4 bytes per bucket and the load factor
 * stays between 1/2 and 1 (the bucket array doubles when it is full), i.e. at
 * most 40 bytes per entry.  Slots are reused LIFO through a free list and
 * the slab grows by doubling with realloc(): pages past the high mark are
 * never touched, so they cost address space, not memory.
 *
 * The hash is multiply-shift under a per-pool random key (tuple_table.h):
 * destination indexes and ports are mostly chosen by the engine, and the
 * random key keeps anyone who does choose them (explicit bind ports) from
 * predicting which keys share a bucket. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tuple_table.h"

#define EP_TT_MIN_BUCKETS 64u

int ep_tt_init(ep_ttable *t, uint64_t k0, uint64_t k1)
{
    memset(t, 0, sizeof *t);
    t->k0 = k0;
    t->k1 = k1 | 1;
    t->free_head = EP_NIL;
    t->limit = 1u << 31;
    t->bucket = malloc(EP_TT_MIN_BUCKETS * sizeof *t->bucket);
    if (!t->bucket)
        return -ENOMEM;
    memset(t->bucket, 0xff, EP_TT_MIN_BUCKETS * sizeof *t->bucket);
    t->mask = EP_TT_MIN_BUCKETS - 1;
    t->shift = 64 - (uint32_t)__builtin_ctz(EP_TT_MIN_BUCKETS);
    return 0;
}

void ep_tt_destroy(ep_ttable *t)
{
    free(t->e);
    free(t->bucket);
    memset(t, 0, sizeof *t);
}

static int ep_tt_rehash(ep_ttable *t, uint32_t nbuckets)
{
    uint32_t *nb = malloc((size_t)nbuckets * sizeof *nb);
    if (!nb)
        return -ENOMEM;
    memset(nb, 0xff, (size_t)nbuckets * sizeof *nb);
    free(t->bucket);
    t->bucket = nb;
    t->mask = nbuckets - 1;
    t->shift = 64 - (uint32_t)__builtin_ctz(nbuckets);
    for (uint32_t i = 0; i < t->used; i++) {
        ep_entry *e = &t->e[i];
        if (e->state == EP_ST_FREE)
            continue;
        uint32_t b = ep_tt_bucket(t, e->dest, e->port);
        e->hnext = t->bucket[b];
        t->bucket[b] = i;
    }
    return 0;
}

int ep_tt_reserve_slow(ep_ttable *t)
{
    if (t->free_head == EP_NIL && t->used == t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 64;
        ep_entry *ne;
        if (t->cap >= t->limit)
            return -ENOMEM;
        ne = realloc(t->e, (size_t)ncap * sizeof *ne);
        if (!ne)
            return -ENOMEM;
        t->e = ne;
        t->cap = ncap;
    }
    if (t->count + 1 > t->mask + 1) {
        if (t->mask + 1 >= (1u << 31))
            return -ENOMEM;
        return ep_tt_rehash(t, (t->mask + 1) * 2);
    }
    return 0;
}
