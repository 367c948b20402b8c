/* owner.h - per-owner quotas.  Private to libephport. */
#ifndef EP_OWNER_H
#define EP_OWNER_H

#include "pool-t.h"

int ep_owners_init(ep_owners *o);
void ep_owners_destroy(ep_owners *o);
/* The *_id functions do the work for an owner other than 0; the inline
 * wrappers below answer for owner 0 ("no owner", the common case) without
 * a call, since they run on every connect and close. */
int ep_owner_check_id(const ep_pool *pool, uint32_t owner);
int ep_owner_charge_id(ep_pool *pool, uint32_t owner);
void ep_owner_refund_id(ep_pool *pool, uint32_t owner);
int ep_owner_reserve_id(ep_pool *pool, uint32_t owner);
int ep_owner_set_cap(ep_pool *pool, uint32_t owner, uint32_t cap);

/* 0 if owner may take one more port, -EDQUOT at its cap. Owner 0: always 0. */
static inline int ep_owner_check(const ep_pool *pool, uint32_t owner)
{
    return owner == 0 ? 0 : ep_owner_check_id(pool, owner);
}

/* Charge / refund one port.  ep_owner_charge can fail with -ENOMEM only. */
static inline int ep_owner_charge(ep_pool *pool, uint32_t owner)
{
    return owner == 0 ? 0 : ep_owner_charge_id(pool, owner);
}

static inline void ep_owner_refund(ep_pool *pool, uint32_t owner)
{
    if (owner != 0)
        ep_owner_refund_id(pool, owner);
}

/* Make sure a charge for owner cannot fail for lack of memory. */
static inline int ep_owner_reserve(ep_pool *pool, uint32_t owner)
{
    return owner == 0 ? 0 : ep_owner_reserve_id(pool, owner);
}

#endif
