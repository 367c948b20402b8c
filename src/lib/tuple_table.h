/* tuple_table.h - the 4-tuple table: (destination, local port) -> entry.
 * Private to libephport. */
#ifndef EP_TUPLE_TABLE_H
#define EP_TUPLE_TABLE_H

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

/* Insert (dest, port), which must be absent, after ep_tt_reserve().  The
 * entry's other fields are left for the caller.  Returns its index. */
uint32_t ep_tt_insert(ep_ttable *t, uint32_t dest, uint16_t port);

/* Unlink entry idx from the hash and return its slot to the free list. */
void ep_tt_remove(ep_ttable *t, uint32_t idx);

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

#endif
