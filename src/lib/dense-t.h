/* dense-t.h - the exact-selection set's type (dense.h has its functions),
 * apart so that pool-t.h can embed it without pulling in logic.  Private to
 * libephport. */
#ifndef EP_DENSE_T_H
#define EP_DENSE_T_H

#include <stdint.h>

typedef struct ep_dense {
    uint32_t n;                 /* number of indexes (< 65536) */
    uint32_t nset;              /* indexes marked unavailable */
    uint32_t dest;              /* the destination that owns it */
    struct ep_dense *prev, *next; /* list of dense destinations of a local address */
    uint16_t *order;            /* [n] a permutation of 0..n-1: positions
                                   0 .. n-nset-1 hold the available indexes */
    uint16_t *slot;             /* [n] index -> its position in order[] */
    struct ep_rss_layer *rss;   /* RSS class layer (rss.c, rsslayer.h), or
                                   NULL; freed with the set */
} ep_dense;

#endif
