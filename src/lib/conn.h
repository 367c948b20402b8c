/* conn.h - the life of a connect-style tuple: in use, TIME_WAIT,
 * quarantine, gone.  Private to libephport. */
#ifndef EP_CONN_H
#define EP_CONN_H

#include "pool-t.h"
#include "sockrules.h"
#include "shard.h"

/* Add an in-use entry (dest, port).  Caller did ep_tt_reserve() and made
 * sure the tuple is free.  owner is charged by the caller (0: none);
 * bind is the binding this connection came from, or EP_NIL; eflags the
 * socket's options (EP_EF_*), with EP_EF_HOLD when the entry holds its port
 * for itself (Linux UDP; never with a binding, which holds for it). */
uint32_t ep_conn_add(ep_pool *pool, uint32_t di, uint16_t port, uint32_t owner, uint32_t bind,
                     uint8_t eflags);

/* The entry as a socket, for the bind rules (sockrules.h). */
ep_sock_view ep_conn_view(const ep_pool *pool, uint32_t idx);

/* Close an in-use entry: TIME_WAIT, quarantine or freed. */
void ep_conn_close(ep_pool *pool, uint32_t idx, ep_close_how how);

/* Remove an entry in any state.  The destination record is released when
 * it becomes empty unless keep_dest. */
void ep_conn_drop(ep_pool *pool, uint32_t idx, bool keep_dest);

/* Expire every entry due at pool->now (slow path of ep_conn_advance). */
void ep_conn_expire(ep_pool *pool);

/* Clamp now to the largest time seen (on any shard) and expire what is
 * due; when nothing is due (now < next_due) this is two compares, and a
 * read of the pool-wide clock in a sharded pool. */
static inline ep_time ep_conn_advance(ep_pool *pool, ep_time now)
{
    now = ep_pool_clock(pool, now);
    if (now < pool->now)
        now = pool->now;
    pool->now = now;
    if (now >= pool->next_due)
        ep_conn_expire(pool);
    return now;
}

#endif
