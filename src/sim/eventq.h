/* eventq.h - the simulator's future events (connection closes) ordered by
 * virtual time: a binary min-heap.  Private to src/sim. */
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
} ep_eventq;

void ep_eventq_init(ep_eventq *q);
void ep_eventq_free(ep_eventq *q);
/* 0 or -ENOMEM. */
int ep_eventq_push(ep_eventq *q, ep_time t, uint32_t id);
/* The earliest event; q must not be empty. */
static inline const ep_event *ep_eventq_top(const ep_eventq *q)
{
    return &q->h[0];
}
static inline bool ep_eventq_empty(const ep_eventq *q)
{
    return q->n == 0;
}
/* Remove the earliest event into *out; false when empty. */
bool ep_eventq_pop(ep_eventq *q, ep_event *out);

#endif
