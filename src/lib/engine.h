/* engine.h - helpers shared by the engine's files: canonical addresses,
 * address lookup, the connect-style allocation core.  Private. */
#ifndef EP_ENGINE_H
#define EP_ENGINE_H

#include <string.h>
#include <sys/socket.h>

#include "pool-t.h"

/* Copy with padding and the unused bytes of an IPv4 address zeroed (in and
 * out may be the same).  Every address the engine stores is canonical, so
 * equality is a plain memcmp (ep_addr_same). */
static inline void ep_addr_canon(const ep_addr *in, ep_addr *out)
{
    ep_addr c;
    memset(&c, 0, sizeof c);
    c.family = in->family;
    if (in->family == AF_INET)
        memcpy(c.u.bytes, in->u.bytes, 4);
    else if (in->family == AF_INET6)
        memcpy(c.u.bytes, in->u.bytes, 16);
    *out = c;
}

static inline bool ep_addr_same(const ep_addr *a, const ep_addr *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* Family 0 or the all-zero address (a canonical address). */
static inline bool ep_addr_wild(const ep_addr *a)
{
    uint64_t w[2];
    memcpy(w, a->u.bytes, 16);
    return a->family == 0 || (w[0] | w[1]) == 0;
}
/* Index of a pool address equal to a (canonical), or EP_NIL. */
uint32_t ep_pool_addr_index(const ep_pool *pool, const ep_addr *a);
/* Does the pool have an address of this family? */
bool ep_pool_has_family(const ep_pool *pool, uint8_t family);

/* The connect-style allocation core, shared by ep_pool_connect and the
 * deferred (NO_PORT) case of ep_pool_connect_bound.  lidx = EP_NIL lets the
 * pool choose the local address.  owner is checked and charged.  Fills
 * *lidx_out and *port. */
int ep_engine_connect(ep_pool *pool, uint8_t proto, uint32_t lidx, const ep_addr *remote,
                      uint16_t rport, uint32_t owner, uint32_t *lidx_out, uint16_t *port);

#endif
