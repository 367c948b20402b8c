/* rsspool.h - the engine's side of RSS-aware choice (rss.c): a pool's RSS
 * configuration and the selection hooks select.c calls while
 * ep_pool_connect_rss runs (pool->rss_queue >= 0).  Private to libephport. */
#ifndef EP_RSSPOOL_H
#define EP_RSSPOOL_H

#include <stdbool.h>

#include <ephport/rss.h>

#include "pool-t.h"

/* Validate cfg and build its tables for the pool's current effective
 * range (*out NULL for cfg NULL).  -EINVAL, -ENOMEM; the pool unchanged. */
int ep_rss_configure(ep_pool *pool, const ep_rss_config *cfg, struct ep_rss **out);
/* Make r (may be NULL) the pool's configuration, dropping the old one and
 * every destination's RSS layer. */
void ep_rss_install(ep_pool *pool, struct ep_rss *r);
/* A shard other than the master (shard.h) uses the master's r, which it
 * does not own: its layers dropped, the pointer set. */
void ep_rss_share(ep_pool *shard, struct ep_rss *r);
void ep_rss_destroy(ep_pool *pool);
/* The effective range changed (dense sets already dropped): re-sort. */
void ep_rss_reindex(ep_pool *pool);
/* Is queue in the pool's table? */
bool ep_rss_queue_ok(const ep_pool *pool, int32_t queue);

/* ep_select_port / ep_select_local for queue pool->rss_queue: a uniform
 * free port of the queue towards di (counts di's failure on
 * -EADDRNOTAVAIL); a local address weighted by its free ports of the
 * queue. */
int ep_rss_select_port(ep_pool *pool, uint32_t lidx, int pi, uint32_t di, const ep_addr *remote,
                       uint16_t rport, uint16_t *port);
int ep_rss_select_local(ep_pool *pool, uint8_t proto, const ep_addr *remote, uint16_t rport,
                        uint32_t *lidx, uint32_t *di);

/* NULL if dn's layer (if any) agrees with dn and the pool's tables, else
 * what is wrong (for ep_pool_check). */
const char *ep_rss_layer_verify(const ep_pool *pool, const ep_dense *dn);

#endif
