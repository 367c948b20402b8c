/* engine.h - helpers shared by the engine's files: canonical addresses,
 * address lookup, the connect-style allocation core.  Private. */
#ifndef EP_ENGINE_H
#define EP_ENGINE_H

#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "pool-t.h"

_Static_assert(offsetof(ep_addr, u) == 4 && sizeof(ep_addr) == 20,
               "ep_addr_canon() writes the family word and the 16 bytes");

/* Copy with padding and the unused bytes of an IPv4 address zeroed (in and
 * out may be the same).  Every address the engine stores is canonical, so
 * equality is a plain memcmp (ep_addr_same). */
static inline void ep_addr_canon(const ep_addr *in, ep_addr *out)
{
    /* Whole-word loads and stores only: the callers read the result back
     * as 32- and 64-bit words (hashes, compares), and a narrow store
     * followed by a wide load stalls store-to-load forwarding. */
    uint64_t w[2];
    uint8_t head[4] = { in->family, 0, 0, 0 };

    memcpy(w, in->u.bytes, 16);
    if (in->family == AF_INET) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        w[0] &= 0xffffffffull;            /* keep bytes 0-3 */
#else
        w[0] &= 0xffffffff00000000ull;
#endif
        w[1] = 0;
    } else if (in->family != AF_INET6) {
        w[0] = w[1] = 0;
    }
    memcpy(out, head, 4);
    memcpy(out->u.bytes, w, 16);
}

/* Five words compared without a branch: GCC sometimes turns the
 * equivalent memcmp into a library call (seen in the simulator's connect,
 * once per connection). */
static inline bool ep_addr_same(const ep_addr *a, const ep_addr *b)
{
    uint32_t ah, bh;
    uint64_t aw[2], bw[2];
    memcpy(&ah, a, 4);
    memcpy(&bh, b, 4);
    memcpy(aw, a->u.bytes, 16);
    memcpy(bw, b->u.bytes, 16);
    return ((uint64_t)(ah ^ bh) | (aw[0] ^ bw[0]) | (aw[1] ^ bw[1])) == 0;
}

/* Family 0 or the all-zero address (a canonical address). */
static inline bool ep_addr_wild(const ep_addr *a)
{
    uint64_t w[2];
    memcpy(w, a->u.bytes, 16);
    return a->family == 0 || (w[0] | w[1]) == 0;
}
/* Index of an address family in per-family arrays: AF_INET6 1, else 0. */
static inline int ep_family_index(uint8_t family)
{
    return family == AF_INET6;
}

/* Index of a pool address equal to a (canonical), or EP_NIL. */
uint32_t ep_pool_addr_index(const ep_pool *pool, const ep_addr *a);
/* Does the pool have an address of this family? */
bool ep_pool_has_family(const ep_pool *pool, uint8_t family);

/* The connect-style allocation core, shared by ep_pool_connect and the
 * deferred (NO_PORT) case of ep_pool_connect_bound.  lidx = EP_NIL lets the
 * pool choose the local address.  owner is checked and charged; eflags are
 * the socket's options (EP_EF_*).  Fills *lidx_out, *port and, if
 * entry_out is not NULL, the new entry's index.  Exhaustion is
 * -EADDRNOTAVAIL, or -EAGAIN for UDP under Linux semantics. */
int ep_engine_connect(ep_pool *pool, uint8_t proto, uint32_t lidx, const ep_addr *remote,
                      uint16_t rport, uint32_t owner, uint8_t eflags, uint32_t *lidx_out,
                      uint16_t *port, uint32_t *entry_out);

#endif
