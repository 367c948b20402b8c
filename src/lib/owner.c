/* owner.c - per-owner quotas (an owner is a process, tenant or container id
 * chosen by the caller; 0 means "no owner").
 *
 * An owner is charged one port for each connect-style tuple it holds in use
 * and each binding that holds a port; TIME_WAIT and quarantine are not
 * charged (the owner's socket is gone).  The cap is the pool's
 * cfg.owner_quota unless ep_pool_set_owner_quota() overrode it (0 =
 * unlimited).  Records live in a small chained hash and are dropped when
 * an owner holds nothing and has no override, so the table tracks only
 * active owners.
 *
 * The table is the master shard's (shard.h).  In a sharded pool a connect
 * holds its shard's lock only, so the owner work of connects and closes on
 * different shards is serialised by a leaf lock (ep_pool_shared.owners):
 * ep_engine_connect holds it from the quota check to the charge, and a
 * refund takes it.  Global mode (every shard locked) needs no more. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "owner.h"
#include "lock.h"

static uint32_t ep_owner_hash(uint32_t id, uint32_t mask)
{
    uint64_t x = id * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(x >> 32) & mask;
}

int ep_owners_init(ep_owners *o)
{
    memset(o, 0, sizeof *o);
    o->free_head = EP_NIL;
    o->bucket = malloc(16 * sizeof *o->bucket);
    if (!o->bucket)
        return -ENOMEM;
    memset(o->bucket, 0xff, 16 * sizeof *o->bucket);
    o->mask = 15;
    return 0;
}

void ep_owners_destroy(ep_owners *o)
{
    free(o->o);
    free(o->bucket);
    memset(o, 0, sizeof *o);
}

static ep_owner *ep_owner_find(const ep_owners *o, uint32_t id)
{
    uint32_t i = o->bucket[ep_owner_hash(id, o->mask)];
    while (i != EP_NIL) {
        if (o->o[i].id == id)
            return &o->o[i];
        i = o->o[i].next;
    }
    return NULL;
}

int ep_owner_reserve_id(ep_pool *pool, uint32_t owner)
{
    ep_owners *o = &pool->route.master->owners;
    if (owner == 0 || ep_owner_find(o, owner))
        return 0;
    if (o->free_head == EP_NIL && o->used == o->cap) {
        uint32_t ncap = o->cap ? o->cap * 2 : 16;
        ep_owner *n = realloc(o->o, (size_t)ncap * sizeof *n);
        if (!n)
            return -ENOMEM;
        o->o = n;
        o->cap = ncap;
    }
    if (o->count + 1 > o->mask + 1) {
        uint32_t nb = (o->mask + 1) * 2;
        uint32_t *b = malloc((size_t)nb * sizeof *b);
        if (!b)
            return -ENOMEM;
        memset(b, 0xff, (size_t)nb * sizeof *b);
        free(o->bucket);
        o->bucket = b;
        o->mask = nb - 1;
        for (uint32_t i = 0; i < o->used; i++) {
            if (o->o[i].id == 0)
                continue;
            uint32_t h = ep_owner_hash(o->o[i].id, o->mask);
            o->o[i].next = o->bucket[h];
            o->bucket[h] = i;
        }
    }
    return 0;
}

static ep_owner *ep_owner_get(ep_pool *pool, uint32_t id)
{
    ep_owners *o = &pool->route.master->owners;
    ep_owner *r = ep_owner_find(o, id);
    uint32_t i, h;

    if (r)
        return r;
    if (ep_owner_reserve(pool, id) < 0)
        return NULL;
    if (o->free_head != EP_NIL) {
        i = o->free_head;
        o->free_head = o->o[i].next;
    } else {
        i = o->used++;
    }
    r = &o->o[i];
    memset(r, 0, sizeof *r);
    r->id = id;
    h = ep_owner_hash(id, o->mask);
    r->next = o->bucket[h];
    o->bucket[h] = i;
    o->count++;
    return r;
}

static void ep_owner_maybe_drop(ep_pool *pool, ep_owner *r)
{
    ep_owners *o = &pool->route.master->owners;
    uint32_t i = (uint32_t)(r - o->o), *link;

    if (r->held || r->has_cap)
        return;
    link = &o->bucket[ep_owner_hash(r->id, o->mask)];
    while (*link != i)
        link = &o->o[*link].next;
    *link = r->next;
    r->id = 0;
    r->next = o->free_head;
    o->free_head = i;
    o->count--;
}

int ep_owner_check_id(const ep_pool *pool, uint32_t owner)
{
    const ep_owner *r;
    uint32_t cap;

    if (owner == 0)
        return 0;
    r = ep_owner_find(&pool->route.master->owners, owner);
    cap = r && r->has_cap ? r->cap : pool->cfg.owner_quota;
    if (cap && r && r->held >= cap)
        return -EDQUOT;
    return 0;
}

int ep_owner_charge_id(ep_pool *pool, uint32_t owner)
{
    ep_owner *r;
    if (owner == 0)
        return 0;
    if (!(r = ep_owner_get(pool, owner)))
        return -ENOMEM;
    r->held++;
    return 0;
}

static void ep_owner_refund_locked(ep_pool *pool, uint32_t owner)
{
    ep_owner *r;
    if (owner == 0 || !(r = ep_owner_find(&pool->route.master->owners, owner)))
        return;
    if (r->held)
        r->held--;
    ep_owner_maybe_drop(pool, r);
}

__attribute__((noinline)) void ep_owner_refund_id(ep_pool *pool, uint32_t owner)
{
    ep_pool_shared *sh = pool->route.shared;
    if (!sh || !pool->locking) {
        ep_owner_refund_locked(pool, owner);
        return;
    }
    ep_lock_acquire(&sh->owners);
    ep_owner_refund_locked(pool, owner);
    ep_lock_release(&sh->owners);
}

int ep_owner_set_cap(ep_pool *pool, uint32_t owner, uint32_t cap)
{
    ep_owner *r = ep_owner_get(pool, owner);
    if (!r)
        return -ENOMEM;
    r->cap = cap;
    r->has_cap = true;
    return 0;
}
