/* engine.h - helpers shared by the engine's files: canonical addresses,
 * address lookup, the connect-style allocation core.  Private. */
#ifndef EP_ENGINE_H
#define EP_ENGINE_H

#include "pool-t.h"

/* Copy with padding and the unused bytes of an IPv4 address zeroed. */
void ep_addr_canon(const ep_addr *in, ep_addr *out);
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
