/* dense.c - the exact-selection set of the default algorithm.
 *
 * A destination whose ports are mostly taken cannot be served by rejection
 * sampling (the expected number of draws is effective/free).  For those we
 * keep the effective-port indexes in a permutation order[] whose first
 * `free` positions hold exactly the indexes available towards the
 * destination, and its inverse slot[].  Then:
 *   - a uniform available index is order[uniform(free)]: one draw, one
 *     read, no search and no data-dependent branch, at any occupancy;
 *   - "is i available" is slot[i] < free;
 *   - marking i unavailable (available) swaps it with the last available
 *     (first unavailable) position and moves the boundary by one.
 * The order inside each part is whatever the swaps left; it never matters,
 * since every selection draws its position afresh from the CSPRNG.
 *
 * Cost: 4 bytes per effective port (110 KiB for the Linux range), which is
 * why only destinations with at least a quarter of the range unavailable
 * get one (dest.c).  One allocation holds the header and both arrays. */
#include <stdlib.h>

#include "dense.h"

uint64_t ep_dense_bytes(uint32_t n)
{
    return sizeof(ep_dense) + (uint64_t)n * 2 * sizeof(uint16_t);
}

ep_dense *ep_dense_new(uint32_t n, uint32_t dest)
{
    ep_dense *d;

    if (n == 0 || n > 65535 || !(d = malloc((size_t)ep_dense_bytes(n))))
        return NULL;
    d->n = n;
    d->nset = 0;
    d->dest = dest;
    d->prev = d->next = NULL;
    d->rss = NULL;
    d->order = (uint16_t *)(d + 1);
    d->slot = d->order + n;
    for (uint32_t i = 0; i < n; i++)
        d->order[i] = d->slot[i] = (uint16_t)i;
    return d;
}

void ep_dense_free(ep_dense *d)
{
    if (d)
        free(d->rss);
    free(d);
}
