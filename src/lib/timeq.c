/* timeq.c - TIME_WAIT and quarantine expiry: the engine's "timer wheel".
 *
 * A timer wheel exists to keep timers with different durations roughly
 * ordered.  Here every queue has one constant duration per pool (TIME_WAIT
 * length, tw_reuse_delay, quarantine length), and time never goes
 * backwards, so entries enter each queue already in expiry order: a plain
 * FIFO is exactly ordered.  Expiry pops due heads (O(1) each, no scan of
 * what is not due), and reuse of a TIME_WAIT tuple unlinks it from the middle
 * in O(1) through the prev/next links stored in the entry itself.  This is
 * the "timer wheel or equivalent" of the design, with exact expiry: an entry
 * whose expiry time is <= now is gone before any call looks at the tables. */
#include "timeq.h"

void ep_timeq_init(ep_timeq *q)
{
    q->head = q->tail = EP_NIL;
}

void ep_timeq_push(ep_timeq *q, ep_entry *base, uint32_t idx)
{
    ep_entry *e = &base[idx];
    e->next = EP_NIL;
    e->prev = q->tail;
    if (q->tail != EP_NIL)
        base[q->tail].next = idx;
    else
        q->head = idx;
    q->tail = idx;
}

void ep_timeq_unlink(ep_timeq *q, ep_entry *base, uint32_t idx)
{
    ep_entry *e = &base[idx];
    if (e->prev != EP_NIL)
        base[e->prev].next = e->next;
    else
        q->head = e->next;
    if (e->next != EP_NIL)
        base[e->next].prev = e->prev;
    else
        q->tail = e->prev;
    e->prev = e->next = EP_NIL;
}

uint32_t ep_timeq_due(const ep_timeq *q, const ep_entry *base, ep_time now)
{
    if (q->head != EP_NIL && base[q->head].u.expire <= now)
        return q->head;
    return EP_NIL;
}
