/* owner.h - per-owner quotas.  Private to libephport. */
#ifndef EP_OWNER_H
#define EP_OWNER_H

#include "pool-t.h"

int ep_owners_init(ep_owners *o);
void ep_owners_destroy(ep_owners *o);
/* 0 if owner may take one more port, -EDQUOT at its cap. Owner 0: always 0. */
int ep_owner_check(const ep_pool *pool, uint32_t owner);
/* Charge / refund one port.  ep_owner_charge can fail with -ENOMEM only. */
int ep_owner_charge(ep_pool *pool, uint32_t owner);
void ep_owner_refund(ep_pool *pool, uint32_t owner);
int ep_owner_set_cap(ep_pool *pool, uint32_t owner, uint32_t cap);
/* Make sure a charge for owner cannot fail for lack of memory. */
int ep_owner_reserve(ep_pool *pool, uint32_t owner);

#endif
