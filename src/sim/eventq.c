/* eventq.c - a binary min-heap of future closes in virtual time.
 *
 * Why a heap and not a timer wheel: durations in a workload span microseconds
 * to hours (lognormal tails), and the heap holds only the connections open
 * right now, so memory follows concurrency, never the total, and every
 * operation is O(log open) with no tuning.  Ties in time are broken by the
 * connection slot so that the order is total and runs are reproducible.
 * With constant durations closes are due in the order connections opened;
 * the FIFO ring then does the same job in O(1) (ties in push order).  Both
 * capacities are powers of two (a mask, not a division, wraps the ring).
 */
#include <errno.h>
#include <stdlib.h>

#include "eventq.h"

void ep_eventq_init(ep_eventq *q, bool fifo)
{
    q->h = NULL;
    q->n = q->cap = q->head = 0;
    q->fifo = fifo;
}

void ep_eventq_free(ep_eventq *q)
{
    free(q->h);
    ep_eventq_init(q, q->fifo);
}

static int ep_eventq_ring_push(ep_eventq *q, ep_time t, uint32_t id)
{
    if (q->n && t < q->h[(q->head + q->n - 1) & (q->cap - 1)].t)
        return -EINVAL;
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 1024;
        ep_event *nh = malloc(ncap * sizeof *nh);
        if (!nh)
            return -ENOMEM;
        for (size_t i = 0; i < q->n; i++) /* unwrap */
            nh[i] = q->h[(q->head + i) & (q->cap - 1)];
        free(q->h);
        q->h = nh;
        q->cap = ncap;
        q->head = 0;
    }
    q->h[(q->head + q->n) & (q->cap - 1)] = (ep_event){ t, id };
    q->n++;
    return 0;
}

static inline bool ep_event_less(const ep_event *a, const ep_event *b)
{
    return a->t < b->t || (a->t == b->t && a->id < b->id);
}

int ep_eventq_push(ep_eventq *q, ep_time t, uint32_t id)
{
    size_t i;
    ep_event e = { t, id };
    if (q->fifo)
        return ep_eventq_ring_push(q, t, id);
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 1024;
        ep_event *nh = realloc(q->h, ncap * sizeof *nh);
        if (!nh)
            return -ENOMEM;
        q->h = nh;
        q->cap = ncap;
    }
    i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ep_event_less(&e, &q->h[parent]))
            break;
        q->h[i] = q->h[parent];
        i = parent;
    }
    q->h[i] = e;
    return 0;
}

bool ep_eventq_pop(ep_eventq *q, ep_event *out)
{
    ep_event *h = q->h, last;
    size_t i = 0, n;
    if (q->n == 0)
        return false;
    if (q->fifo) {
        *out = h[q->head];
        q->head = (q->head + 1) & (q->cap - 1);
        q->n--;
        return true;
    }
    *out = h[0];
    n = --q->n;
    if (n == 0)
        return true;
    last = h[n];
    /* Bottom-up (Floyd): walk the hole at the root down to a leaf along the
     * smaller children, one comparison per level, then sift `last` up from
     * there; it came from the bottom, so it rarely climbs.  About half the
     * comparisons of the textbook sift-down.  h[n] (where `last` was) is
     * outside the heap now: a sentinel above every event there saves the
     * "has a right child" test. */
    h[n] = (ep_event){ UINT64_MAX, UINT32_MAX };
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        c += ep_event_less(&h[c + 1], &h[c]);
        h[i] = h[c];
        i = c;
    }
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ep_event_less(&last, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = last;
    return true;
}
