/* eventq.h - the simulator's future events (connection closes) ordered by
 * virtual time: a binary min-heap, or a FIFO ring when events are pushed in
 * time order (constant durations).  Private to src/sim. */
#ifndef EP_SIM_EVENTQ_H
#define EP_SIM_EVENTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/pool.h>

typedef struct ep_event {
    ep_time t;
    uint32_t id;    /* the connection slot; ties break on id, so order is total */
} ep_event;

typedef struct ep_eventq {
    ep_event *h;
    size_t n, cap;
    bool fifo;      /* ring mode: events arrive in time order */
    size_t head;    /* ring mode: index of the earliest event */
} ep_eventq;

/* fifo: every push has t >= the previous push's t (checked: -EINVAL), so a
 * ring with O(1) operations replaces the heap. */
void ep_eventq_init(ep_eventq *q, bool fifo);
void ep_eventq_free(ep_eventq *q);
/* 0, -ENOMEM, or -EINVAL for an out-of-order push in fifo mode. */
int ep_eventq_push(ep_eventq *q, ep_time t, uint32_t id);
/* The earliest event; q must not be empty. */
static inline const ep_event *ep_eventq_top(const ep_eventq *q)
{
    return &q->h[q->fifo ? q->head : 0];
}
static inline bool ep_eventq_empty(const ep_eventq *q)
{
    return q->n == 0;
}
/* Remove the earliest event into *out; false when empty. */
bool ep_eventq_pop(ep_eventq *q, ep_event *out);

#endif
