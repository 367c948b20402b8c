/* tuple_table.h - the 4-tuple table: (destination, local port) -> entry.
 * Private to libephport. */
#ifndef EP_TUPLE_TABLE_H
#define EP_TUPLE_TABLE_H

#include <string.h>

#include "pool-t.h"

int ep_tt_init(ep_ttable *t, uint64_t k0, uint64_t k1);
void ep_tt_destroy(ep_ttable *t);

/* Make room for one more entry (slot and bucket); -ENOMEM, table unchanged.
 * The "already room" test is inline: it is on every connect. */
int ep_tt_reserve_slow(ep_ttable *t);
static inline int ep_tt_reserve(ep_ttable *t)
{
    if ((t->free_head == EP_NIL && t->used == t->cap) || t->count + 1 > t->mask + 1)
        return ep_tt_reserve_slow(t);
    return 0;
}

/* Multiply-shift hashing (Dietzfelbinger et al.) of the 48-bit key
 * dest << 16 | port under the pool's random key: the top bits of
 * (key ^ k0) * k1, k1 odd.  Universal over the random key, five
 * instructions. */
static inline uint32_t ep_tt_bucket(const ep_ttable *t, uint32_t dest, uint16_t port)
{
    uint64_t x = (((uint64_t)dest << 16) | port) ^ t->k0;
    return (uint32_t)((x * t->k1) >> t->shift);
}

/* The entry of (dest, port), or EP_NIL. */
static inline uint32_t ep_tt_find(const ep_ttable *t, uint32_t dest, uint16_t port)
{
    uint32_t i = t->bucket[ep_tt_bucket(t, dest, port)];
    while (i != EP_NIL) {
        const ep_entry *e = &t->e[i];
        if (e->dest == dest && e->port == port)
            return i;
        i = e->hnext;
    }
    return EP_NIL;
}

/* Insert (dest, port), which must be absent, after ep_tt_reserve().  The
 * entry's other fields are left for the caller.  Returns its index.
 * Inline, as is ep_tt_remove: one of each on every connect+close pair. */
static inline uint32_t ep_tt_insert(ep_ttable *t, uint32_t dest, uint16_t port)
{
    uint32_t idx, b;
    ep_entry *e;

    if (t->free_head != EP_NIL) {
        idx = t->free_head;
        t->free_head = t->e[idx].next;
    } else {
        idx = t->used++;
    }
    e = &t->e[idx];
    memset(e, 0, sizeof *e);
    e->dest = dest;
    e->port = port;
    e->prev = e->next = EP_NIL;
    b = ep_tt_bucket(t, dest, port);
    e->hnext = t->bucket[b];
    t->bucket[b] = idx;
    t->count++;
    return idx;
}

/* Unlink entry idx from the hash and return its slot to the free list. */
static inline void ep_tt_remove(ep_ttable *t, uint32_t idx)
{
    ep_entry *e = &t->e[idx];
    uint32_t *link = &t->bucket[ep_tt_bucket(t, e->dest, e->port)];

    while (*link != idx)
        link = &t->e[*link].hnext;
    *link = e->hnext;
    e->state = EP_ST_FREE;
    e->next = t->free_head;
    t->free_head = idx;
    t->count--;
}

#endif
