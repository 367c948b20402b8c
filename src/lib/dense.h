/* dense.h - the exact-selection set of a dense destination: which effective
 * port indexes are unavailable to it, kept as a permutation of the indexes
 * whose first `free` positions hold the available ones, so that "a uniform
 * available index" is one array read.  Private to libephport. */
#ifndef EP_DENSE_H
#define EP_DENSE_H

#include <stdbool.h>
#include <stdint.h>

#include "dense-t.h"
#include "rsslayer.h"

/* A set of n indexes (1 <= n <= 65535), all available; NULL on ENOMEM. */
ep_dense *ep_dense_new(uint32_t n, uint32_t dest);
void ep_dense_free(ep_dense *d);

/* Is index i marked unavailable? */
static inline bool ep_dense_test(const ep_dense *d, uint32_t i)
{
    return d->slot[i] >= d->n - d->nset;
}

/* Swap the indexes at positions a and b of order[]. */
static inline void ep_dense_swap(ep_dense *d, uint32_t a, uint32_t b)
{
    uint16_t ia = d->order[a], ib = d->order[b];
    d->order[a] = ib;
    d->slot[ib] = (uint16_t)a;
    d->order[b] = ia;
    d->slot[ia] = (uint16_t)b;
}

/* Mark index i unavailable / available; no-op if already so.  Inline: one
 * of them runs on every connect and close towards a dense destination.
 * Each moves i across the boundary between the two parts of order[] by one
 * swap with the element at the boundary. */
static inline void ep_dense_set(ep_dense *d, uint32_t i)
{
    uint32_t free = d->n - d->nset, p = d->slot[i];
    if (p >= free)
        return;
    ep_dense_swap(d, p, free - 1);
    d->nset++;
    if (d->rss)
        ep_rss_layer_set(d->rss, i);
}

static inline void ep_dense_clear(ep_dense *d, uint32_t i)
{
    uint32_t free = d->n - d->nset, p = d->slot[i];
    if (p < free)
        return;
    ep_dense_swap(d, p, free);
    d->nset--;
    if (d->rss)
        ep_rss_layer_clear(d->rss, i);
}

/* The available index at position k of order[], k < n - nset.  Not the
 * k-th in index order: a fixed bijection from [0, free) onto the available
 * indexes, so a uniform k gives a uniform available index. */
static inline uint32_t ep_dense_select(const ep_dense *d, uint32_t k)
{
    return d->order[k];
}

/* Bytes allocated for a set of n indexes (for memory accounting). */
uint64_t ep_dense_bytes(uint32_t n);

#endif
