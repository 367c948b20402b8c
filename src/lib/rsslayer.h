/* rsslayer.h - the RSS class layer of a dense destination's exact-selection
 * set (rss.c): the same available/unavailable split as ep_dense, kept a
 * second time with the effective indexes grouped by hash class, so that
 * "a uniform available port of queue q" is a walk over q's classes and one
 * read.  A class is the low bits of the Toeplitz hash contribution of the
 * local port (destination-independent: rss.c).  Private to libephport. */
#ifndef EP_RSSLAYER_H
#define EP_RSSLAYER_H

#include <assert.h>
#include <stdint.h>

typedef struct ep_rss_layer {
    const uint16_t *cls;        /* [n] class of each effective index (the
                                   pool's table for the destination's family) */
    const uint32_t *cstart;     /* [nclass + 1] where each class's segment of
                                   order[] starts */
    uint16_t *order;            /* [n] indexes grouped by class; in each
                                   segment the available ones first */
    uint16_t *slot;             /* [n] index -> its position in order[] */
    uint32_t *cfree;            /* [nclass] available indexes per class */
} ep_rss_layer;

static inline void ep_rss_layer_swap(ep_rss_layer *l, uint32_t a, uint32_t b)
{
    uint16_t ia = l->order[a], ib = l->order[b];
    l->order[a] = ib;
    l->slot[ib] = (uint16_t)a;
    l->order[b] = ia;
    l->slot[ia] = (uint16_t)b;
}

/* Index i became unavailable / available (the dense set's own transitions:
 * called only when its state changes). */
static inline void ep_rss_layer_set(ep_rss_layer *l, uint32_t i)
{
    uint32_t v = l->cls[i], b = l->cstart[v] + l->cfree[v];
    assert(l->slot[i] < b && l->cfree[v] > 0);
    ep_rss_layer_swap(l, l->slot[i], b - 1);
    l->cfree[v]--;
}

static inline void ep_rss_layer_clear(ep_rss_layer *l, uint32_t i)
{
    uint32_t v = l->cls[i], b = l->cstart[v] + l->cfree[v];
    assert(l->slot[i] >= b && b < l->cstart[v + 1]);
    ep_rss_layer_swap(l, l->slot[i], b);
    l->cfree[v]++;
}

#endif
