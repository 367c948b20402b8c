/* select.h - the port selection algorithms.  Private to libephport. */
#ifndef EP_SELECT_H
#define EP_SELECT_H

#include "dest.h"
#include "pool-t.h"
#include "tuple_table.h"

/* Availability of an effective port towards di (EP_NIL: none yet) on
 * (lidx, pi): not blocked by a binding, and no non-reusable entry of di on
 * it.  Only for effective ports (the selection paths draw effective
 * indexes). */
static inline bool ep_eff_port_available(const ep_pool *pool, uint32_t lidx, int pi, uint32_t di,
                                         uint16_t port)
{
    const ep_portcount *pc = &ep_ls(pool, lidx, pi)->pc[port];
    uint32_t e;

    if (pc->blk)
        return false;
    if (di == EP_NIL || pc->conn == 0 || ep_dest_surely_not_on(&pool->dt.d[di], port))
        return true;
    e = ep_tt_find(&pool->tt, di, port);
    return e == EP_NIL || !ep_entry_nr(pool, &pool->tt.e[e]);
}

/* Choose a port available towards destination di (EP_NIL: none yet) from
 * local address lidx, with the pool's algorithm.  The caller checked that
 * the free count is not zero.  0 or -EADDRNOTAVAIL. */
int ep_select_port(ep_pool *pool, uint32_t lidx, int pi, uint32_t di,
                   const ep_addr *remote, uint16_t rport, uint16_t *port);

/* Local address unspecified: choose one of the pool's addresses of the
 * remote's family, weighted by its free count towards the destination.
 * Sets *lidx and *di (EP_NIL if that destination has no record).
 * -EADDRNOTAVAIL (destination failure counters bumped) if all are full,
 * -EAFNOSUPPORT if the pool has no address of that family. */
int ep_select_local(ep_pool *pool, uint8_t proto, const ep_addr *remote, uint16_t rport,
                    uint32_t *lidx, uint32_t *di);

#endif
