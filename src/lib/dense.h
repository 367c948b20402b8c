/* dense.h - a bitmap of "unavailable" effective-port indexes with two levels
 * of popcount summaries, for exact uniform selection ("the k-th available
 * index") in O(n/4096 + 8 + 8 + 6) word operations.  Private to libephport. */
#ifndef EP_DENSE_H
#define EP_DENSE_H

#include <stdbool.h>
#include <stdint.h>

#define EP_DENSE_BLOCK 512u   /* bits per block summary */
#define EP_DENSE_SUPER 4096u  /* bits per super-block summary */

typedef struct ep_dense {
    uint32_t n;                 /* number of indexes (bits in use) */
    uint32_t nset;              /* indexes marked unavailable */
    uint32_t dest;              /* the destination that owns it */
    struct ep_dense *prev, *next; /* list of dense destinations of a local address */
    uint16_t *blk;              /* set bits per 512-bit block */
    uint16_t *sup;              /* set bits per 4096-bit super-block */
    uint64_t *bits;             /* bits past n are set and never counted */
} ep_dense;

ep_dense *ep_dense_new(uint32_t n, uint32_t dest);
void ep_dense_free(ep_dense *d);

static inline bool ep_dense_test(const ep_dense *d, uint32_t i)
{
    return (d->bits[i >> 6] >> (i & 63)) & 1;
}

/* Mark index i unavailable / available; no-op if already so.  Inline: one
 * of them runs on every connect and close towards a dense destination. */
static inline void ep_dense_set(ep_dense *d, uint32_t i)
{
    uint64_t m = 1ull << (i & 63);
    if (d->bits[i >> 6] & m)
        return;
    d->bits[i >> 6] |= m;
    d->blk[i / EP_DENSE_BLOCK]++;
    d->sup[i / EP_DENSE_SUPER]++;
    d->nset++;
}

static inline void ep_dense_clear(ep_dense *d, uint32_t i)
{
    uint64_t m = 1ull << (i & 63);
    if (!(d->bits[i >> 6] & m))
        return;
    d->bits[i >> 6] &= ~m;
    d->blk[i / EP_DENSE_BLOCK]--;
    d->sup[i / EP_DENSE_SUPER]--;
    d->nset--;
}

/* The index of the k-th (0-based) available index; k < n - nset. */
uint32_t ep_dense_select(const ep_dense *d, uint32_t k);

/* Bytes allocated for a bitmap of n indexes (for memory accounting). */
uint64_t ep_dense_bytes(uint32_t n);

#endif
