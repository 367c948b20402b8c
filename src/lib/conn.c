/* conn.c - the state machine of a connect-style tuple, and expiry.
 *
 *   in use --close(TCP, active, time_wait>0)--> TIME_WAIT --time_wait--> gone
 *   in use --any other close, quarantine>0---> quarantine --quarantine--> gone
 *   in use --any other close, no quarantine--> gone
 *
 * With tw_reuse (and a TIME_WAIT longer than tw_reuse_delay), TIME_WAIT is
 * two queues: tw_young while the entry is at most tw_reuse_delay old, then
 * tw, where a new connect towards the same destination may take the tuple
 * over (Linux tcp_twsk_unique(): "older than" is strict, as time_after()).
 * Each transition keeps every counter exact: destination and pool counters,
 * the per-address entry counts (conn[]), the destination's free count and
 * dense set (ep_dest_nr_change), owners' charges, and the binding an explicit
 * bind-then-connect came from (closing the connection ends it). */
#include <assert.h>

#include "conn.h"
#include "bind.h"
#include "dest.h"
#include "owner.h"
#include "sockrules.h"
#include "timeq.h"
#include "tuple_table.h"

ep_sock_view ep_conn_view(const ep_pool *pool, uint32_t idx)
{
    const ep_entry *e = &pool->tt.e[idx];
    const ep_dest *d = &pool->dt.d[e->dest];
    ep_sock_view v = ep_rule_view_addr(pool, d->laddr);
    v.flags = e->eflags & EP_EF_SOCKOPTS;
    v.owner = e->state == EP_ST_INUSE ? e->u.held.owner : 0;
    v.time_wait = e->state == EP_ST_TWY || e->state == EP_ST_TW || e->state == EP_ST_TWN;
    return v;
}

/* An entry with EP_EF_HOLD starts (+1) or stops (-1) holding its port.  It
 * holds before it is counted and stops after it is gone, so that its own
 * port never enters its destination's nblk (the port is blocked) and the
 * block change finds no entry to fix on that address (no list walk). */
static void ep_conn_hold(ep_pool *pool, uint32_t di, uint16_t port, uint8_t eflags, int delta)
{
    const ep_dest *d = &pool->dt.d[di];
    ep_sock_view v = ep_rule_view_addr(pool, d->laddr);
    v.flags = eflags & EP_EF_SOCKOPTS;
    ep_rule_hold_apply(pool, ep_proto_index(d->proto), &v, port, delta);
}

uint32_t ep_conn_add(ep_pool *pool, uint32_t di, uint16_t port, uint32_t owner, uint32_t bind,
                     uint8_t eflags)
{
    uint32_t idx;
    ep_entry *e;
    ep_dest *d = &pool->dt.d[di];
    uint32_t total;

    assert(!(eflags & EP_EF_HOLD) || bind == EP_NIL); /* a binding holds for its entry */
    if (d->idle)
        ep_dest_revive(pool, di);
    if (eflags & EP_EF_HOLD)
        ep_conn_hold(pool, di, port, eflags, +1);
    idx = ep_tt_insert(&pool->tt, di, port);
    e = &pool->tt.e[idx];
    d = &pool->dt.d[di];
    e->eflags = eflags;
    e->state = EP_ST_INUSE;
    if (++pool->ref_nonce == 0)
        pool->ref_nonce = 1;
    e->nonce = pool->ref_nonce;
    e->u.held.owner = owner;
    e->u.held.bind = bind;
    ep_dest_few_add(d, port);
    d->in_use++;
    pool->st.in_use++;
    ep_ls(pool, d->laddr, ep_proto_index(d->proto))->pc[port].conn++;
    ep_dest_nr_change(pool, di, port, +1);
    total = d->in_use + d->time_wait + d->quarantine;
    if (total > d->high_water)
        d->high_water = total;
    if (!d->dense && ep_dest_wants_dense(pool, di))
        (void)ep_dest_make_dense(pool, di); /* an optimisation: on ENOMEM
                                                selection scans instead */
    return idx;
}

/* a + b, saturating: times near the top of the clock never wrap around to
 * an expiry in the past */
static ep_time ep_time_add(ep_time a, ep_time b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void ep_conn_enqueue(ep_pool *pool, uint32_t idx, int q, uint8_t state, ep_time expire)
{
    ep_entry *e = &pool->tt.e[idx];
    e->state = state;
    e->u.expire = expire;
    ep_timeq_push(&pool->q[q], pool->tt.e, idx);
    if (expire < pool->next_due)
        pool->next_due = expire;
}

void ep_conn_close(ep_pool *pool, uint32_t idx, ep_close_how how)
{
    ep_entry *e = &pool->tt.e[idx];
    ep_dest *d = &pool->dt.d[e->dest];
    uint32_t bind = e->u.held.bind;
    const ep_pool_config *c = &pool->cfg;

    bool time_wait = d->proto == EP_PROTO_TCP && how == EP_CLOSE_ACTIVE && c->time_wait > 0;

    pool->st.releases++;
    if (bind != EP_NIL) {
        /* Linux: a socket that was bound explicitly keeps its port for
         * itself in TIME_WAIT (the bind bucket stays sticky: it is not a
         * connect() autobind) and, as any UDP socket, in quarantine. */
        if (pool->linux_sem && (time_wait || c->quarantine > 0)) {
            e->eflags |= EP_EF_HOLD;
            ep_conn_hold(pool, e->dest, e->port, e->eflags, +1);
        }
        ep_bind_end(pool->route.master, bind); /* global mode (pool.c) */
    }
    e->u.held.bind = EP_NIL;
    if (!time_wait && c->quarantine == 0) {
        /* Not queued: the entry goes at once (ep_conn_drop refunds the
         * owner and updates the in-use counts). */
        ep_conn_drop(pool, idx, false);
        return;
    }
    ep_owner_refund(pool, e->u.held.owner);
    d->in_use--;
    pool->st.in_use--;
    if (time_wait) {
        d->time_wait++;
        pool->st.time_wait++;
        if (d->twr)
            ep_conn_enqueue(pool, idx, EP_Q_TWY, EP_ST_TWY,
                            ep_time_add(pool->now, c->tw_reuse_delay + 1));
        else if (pool->reuse_on)
            ep_conn_enqueue(pool, idx, EP_Q_TWN, EP_ST_TWN, ep_time_add(pool->now, c->time_wait));
        else
            ep_conn_enqueue(pool, idx, EP_Q_TW, EP_ST_TW, ep_time_add(pool->now, c->time_wait));
    } else {
        d->quarantine++;
        pool->st.quarantine++;
        ep_conn_enqueue(pool, idx, EP_Q_QUAR, EP_ST_QUAR, ep_time_add(pool->now, c->quarantine));
    }
}

void ep_conn_drop(ep_pool *pool, uint32_t idx, bool keep_dest)
{
    ep_entry *e = &pool->tt.e[idx];
    uint32_t di = e->dest;
    ep_dest *d = &pool->dt.d[di];
    bool nr = ep_entry_nr(pool, e);

    switch (e->state) {
    case EP_ST_INUSE:
        d->in_use--;
        pool->st.in_use--;
        ep_owner_refund(pool, e->u.held.owner);
        break;
    case EP_ST_TWY:
        ep_timeq_unlink(&pool->q[EP_Q_TWY], pool->tt.e, idx);
        d->time_wait--;
        pool->st.time_wait--;
        break;
    case EP_ST_TW:
        ep_timeq_unlink(&pool->q[EP_Q_TW], pool->tt.e, idx);
        d->time_wait--;
        pool->st.time_wait--;
        break;
    case EP_ST_TWN:
        ep_timeq_unlink(&pool->q[EP_Q_TWN], pool->tt.e, idx);
        d->time_wait--;
        pool->st.time_wait--;
        break;
    case EP_ST_QUAR:
        ep_timeq_unlink(&pool->q[EP_Q_QUAR], pool->tt.e, idx);
        d->quarantine--;
        pool->st.quarantine--;
        break;
    }
    ep_dest_few_remove(d, e->port);
    ep_ls(pool, d->laddr, ep_proto_index(d->proto))->pc[e->port].conn--;
    if (nr)
        ep_dest_nr_change(pool, di, e->port, -1);
    uint8_t eflags = e->eflags;
    uint16_t port = e->port;
    ep_tt_remove(&pool->tt, idx);
    if (eflags & EP_EF_HOLD)
        ep_conn_hold(pool, di, port, eflags, -1);
    ep_dest_maybe_sparse(pool, di);
    if (!keep_dest)
        ep_dest_release_if_empty(pool, di);
}

void ep_conn_expire(ep_pool *pool)
{
    ep_time now = pool->now;
    uint32_t idx;

    while ((idx = ep_timeq_due(&pool->q[EP_Q_TWY], pool->tt.e, now)) != EP_NIL) {
        ep_entry *e = &pool->tt.e[idx];
        /* closed at t0: young until t0 + delay + 1, TIME_WAIT until t0 + tw
         * (reuse_on guarantees delay + 1 < tw) */
        ep_time expire = ep_time_add(e->u.expire, pool->cfg.time_wait - pool->cfg.tw_reuse_delay - 1);
        ep_timeq_unlink(&pool->q[EP_Q_TWY], pool->tt.e, idx);
        ep_conn_enqueue(pool, idx, EP_Q_TW, EP_ST_TW, expire);
        ep_dest_nr_change(pool, e->dest, e->port, -1); /* now reusable */
        ep_dest_maybe_sparse(pool, e->dest);
    }
    for (int q = EP_Q_TW; q <= EP_Q_TWN; q++)
        while ((idx = ep_timeq_due(&pool->q[q], pool->tt.e, now)) != EP_NIL)
            ep_conn_drop(pool, idx, false);
    /* heads only move later, and a removal from the middle can only leave
     * next_due too early (harmless: one more slow pass) */
    pool->next_due = UINT64_MAX;
    for (int q = 0; q < EP_Q__COUNT; q++)
        if (pool->q[q].head != EP_NIL && pool->tt.e[pool->q[q].head].u.expire < pool->next_due)
            pool->next_due = pool->tt.e[pool->q[q].head].u.expire;
}
