/* refmodel.c - the reference model of an ep_pool (see refmodel.h).
 *
 * Plain arrays, linear scans, one rule per helper, written from pool.h and
 * docs/ENGINE.md.  Slow on purpose: every question ("is this port free for
 * that destination?") is answered by looking at every entry and binding.
 */
#include "refmodel.h"

#include <stdio.h>
#include <string.h>

/* ---- small predicates ---------------------------------------------------- */

static bool addr_is_unspec(const ep_addr *a)
{
    return a->family == 0 || ep_addr_is_wildcard(a);
}

static bool proto_ok(uint8_t proto)
{
    return proto == EP_PROTO_TCP || proto == EP_PROTO_UDP;
}

static bool family_ok(const ep_addr *a)
{
    return a->family == AF_INET || a->family == AF_INET6;
}

static bool is_pool_addr(const rm_model *m, const ep_addr *a)
{
    for (size_t i = 0; i < m->naddrs; i++)
        if (ep_addr_equal(&m->addrs[i], a))
            return true;
    return false;
}

static bool in_range(const rm_model *m, uint16_t port)
{
    return port >= m->cfg.lo && port <= m->cfg.hi;
}

static bool usable_auto(const rm_model *m, uint16_t port)
{
    return in_range(m, port) && !ep_portset_has(&m->reserved, port);
}

/* Two bind addresses overlap: equal, or one is its family's wildcard. */
static bool addrs_overlap(const ep_addr *a, const ep_addr *b)
{
    if (a->family != b->family)
        return false;
    return ep_addr_equal(a, b) || ep_addr_is_wildcard(a) || ep_addr_is_wildcard(b);
}

static bool same_dest(const ep_tuple *a, const ep_tuple *b)
{
    return a->proto == b->proto && ep_addr_equal(&a->local, &b->local)
        && ep_addr_equal(&a->remote, &b->remote) && a->remote_port == b->remote_port;
}

static bool same_tuple(const ep_tuple *a, const ep_tuple *b)
{
    return same_dest(a, b) && a->local_port == b->local_port;
}

/* ---- time ---------------------------------------------------------------- */

static void remove_entry(rm_model *m, size_t i)
{
    m->entries[i] = m->entries[--m->nentries];
}

static bool same_dest(const ep_tuple *a, const ep_tuple *b);

/* A destination's record (high-water mark, failures) lives while it has at
 * least one entry (docs/ENGINE.md): drop records left without entries. */
static void forget_empty_dests(rm_model *m)
{
    for (size_t i = 0; i < m->ndests;) {
        ep_tuple t;
        memset(&t, 0, sizeof t);
        t.proto = m->dests[i].proto;
        t.local = m->dests[i].local;
        t.remote = m->dests[i].remote;
        t.remote_port = m->dests[i].remote_port;
        bool any = false;
        for (size_t j = 0; j < m->nentries && !any; j++)
            any = same_dest(&m->entries[j].t, &t);
        if (any)
            i++;
        else
            m->dests[i] = m->dests[--m->ndests];
    }
}

void rm_advance(rm_model *m, ep_time now)
{
    if (now > m->now)
        m->now = now;
    size_t before = m->nentries;
    for (size_t i = 0; i < m->nentries;) {
        rm_entry *e = &m->entries[i];
        if (e->state != RM_INUSE && e->expires <= m->now)
            remove_entry(m, i);
        else
            i++;
    }
    if (m->nentries != before)
        forget_empty_dests(m);
}

/* ---- lookups ------------------------------------------------------------- */

static rm_entry *find_entry(rm_model *m, const ep_tuple *t)
{
    for (size_t i = 0; i < m->nentries; i++)
        if (same_tuple(&m->entries[i].t, t))
            return &m->entries[i];
    return NULL;
}

static rm_binding *find_bind(rm_model *m, ep_bind_id id)
{
    for (size_t i = 0; i < m->nbinds; i++)
        if (m->binds[i].id == id)
            return &m->binds[i];
    return NULL;
}

static rm_dest *find_dest(rm_model *m, const ep_tuple *t, bool create)
{
    for (size_t i = 0; i < m->ndests; i++) {
        rm_dest *d = &m->dests[i];
        if (d->proto == t->proto && ep_addr_equal(&d->local, &t->local)
            && ep_addr_equal(&d->remote, &t->remote) && d->remote_port == t->remote_port)
            return d;
    }
    if (!create || m->ndests == RM_MAX_DESTS)
        return NULL;
    rm_dest *d = &m->dests[m->ndests++];
    memset(d, 0, sizeof *d);
    d->proto = t->proto;
    d->local = t->local;
    d->remote = t->remote;
    d->remote_port = t->remote_port;
    return d;
}

static uint32_t dest_count(const rm_model *m, const ep_tuple *t, int state)
{
    uint32_t n = 0;
    for (size_t i = 0; i < m->nentries; i++)
        if (same_dest(&m->entries[i].t, t) && (state == 0 || m->entries[i].state == state))
            n++;
    return n;
}

static void dest_note_high_water(rm_model *m, const ep_tuple *t)
{
    rm_dest *d = find_dest(m, t, true);
    uint32_t n = dest_count(m, t, 0);
    if (d && n > d->high_water)
        d->high_water = n;
}

/* ---- the port rules ------------------------------------------------------ */

/* A binding holding `port` on an address overlapping `local` (same proto)
 * makes the port unusable for connect-style allocation from `local`; a
 * connected explicit binding keeps holding its port until closed. */
static bool port_blocked(const rm_model *m, uint8_t proto, const ep_addr *local, uint16_t port)
{
    for (size_t i = 0; i < m->nbinds; i++) {
        const rm_binding *b = &m->binds[i];
        if (b->proto == proto && b->port == port && addrs_overlap(&b->addr, local))
            return true;
    }
    return false;
}

/* A TIME_WAIT entry that tcp_tw_reuse lets a new connect take over. */
static bool tw_reusable(const rm_model *m, const rm_entry *e)
{
    /* "older than" is strict, as the kernel's time_after() */
    return e->state == RM_TIMEWAIT && m->cfg.tw_reuse
        && m->now - e->closed_at > m->cfg.tw_reuse_delay;
}

/* Could a connect towards t's destination take `port` now? */
static bool port_free_for(const rm_model *m, const ep_tuple *t, uint16_t port)
{
    if (!usable_auto(m, port) || port_blocked(m, t->proto, &t->local, port))
        return false;
    for (size_t i = 0; i < m->nentries; i++) {
        const rm_entry *e = &m->entries[i];
        if (e->t.local_port == port && same_dest(&e->t, t))
            return tw_reusable(m, e);
    }
    return true;
}

/* The same rule as port_free_for(), counted over the range in one pass over
 * the bindings and entries (the model's hot spot). */
static uint32_t free_count(const rm_model *m, const ep_tuple *t)
{
    static uint8_t unusable[65536];
    uint32_t n = 0;
    for (uint32_t p = m->cfg.lo; p <= m->cfg.hi; p++)
        unusable[p] = !usable_auto(m, (uint16_t)p);
    for (size_t i = 0; i < m->nbinds; i++) {
        const rm_binding *b = &m->binds[i];
        if (b->port != 0 && b->proto == t->proto && addrs_overlap(&b->addr, &t->local))
            unusable[b->port] = 1;
    }
    for (size_t i = 0; i < m->nentries; i++) {
        const rm_entry *e = &m->entries[i];
        if (same_dest(&e->t, t) && !tw_reusable(m, e))
            unusable[e->t.local_port] = 1;
    }
    for (uint32_t p = m->cfg.lo; p <= m->cfg.hi; p++)
        n += !unusable[p];
    return n;
}

static uint32_t effective_ports(const rm_model *m)
{
    return (uint32_t)(m->cfg.hi - m->cfg.lo + 1) - ep_portset_count(&m->reserved, m->cfg.lo, m->cfg.hi);
}

/* ---- owners -------------------------------------------------------------- */

static uint32_t owner_cap(const rm_model *m, uint32_t owner)
{
    for (size_t i = 0; i < m->nquotas; i++)
        if (m->quotas[i].owner == owner)
            return m->quotas[i].cap;
    return m->cfg.owner_quota;
}

/* Ports held by an owner: its connections in use and its bindings. */
static uint32_t owner_held(const rm_model *m, uint32_t owner)
{
    uint32_t n = 0;
    for (size_t i = 0; i < m->nentries; i++)
        n += m->entries[i].state == RM_INUSE && m->entries[i].owner == owner;
    for (size_t i = 0; i < m->nbinds; i++)
        n += m->binds[i].port != 0 && m->binds[i].owner == owner; /* deferred: nothing held */
    return n;
}

static bool owner_at_quota(const rm_model *m, uint32_t owner)
{
    uint32_t cap = owner ? owner_cap(m, owner) : 0;
    return cap != 0 && owner_held(m, owner) >= cap;
}

/* ---- EP_ALG_SEQUENTIAL's prediction --------------------------------------- */

/* The effective ports in order; returns how many. */
static uint32_t effective_list(const rm_model *m, uint16_t *out)
{
    uint32_t n = 0;
    for (uint32_t p = m->cfg.lo; p <= m->cfg.hi; p++)
        if (!ep_portset_has(&m->reserved, (uint16_t)p))
            out[n++] = (uint16_t)p;
    return n;
}

/* The first effective port at or after index seq_next (cyclically) that
 * `ok` accepts, or -1; *idx receives its index. */
static int seq_expect(const rm_model *m, const ep_tuple *t,
                      bool (*ok)(const rm_model *, const ep_tuple *, uint16_t), uint32_t *idx)
{
    static uint16_t eff[65536];
    uint32_t n = effective_list(m, eff);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (m->seq_next + k) % n;
        if (ok(m, t, eff[i])) {
            *idx = i;
            return eff[i];
        }
    }
    return -1;
}

static uint32_t effective_index(const rm_model *m, uint16_t port)
{
    uint32_t i = 0;
    for (uint32_t p = m->cfg.lo; p < port; p++)
        i += !ep_portset_has(&m->reserved, (uint16_t)p);
    return i;
}

static bool badpick(rm_model *m, const char *fmt, unsigned a, unsigned b)
{
    snprintf(m->why, sizeof m->why, fmt, a, b);
    return false;
}

/* ---- public operations ----------------------------------------------------- */

void rm_init(rm_model *m, const ep_pool_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    ep_portset_clear(&m->reserved);
    if (cfg->reserved)
        ep_portset_parse(cfg->reserved, &m->reserved, NULL);
    m->cfg.reserved = NULL;
}

int rm_add_address(rm_model *m, const ep_addr *a)
{
    if (!family_ok(a) || ep_addr_is_wildcard(a))
        return EP_EINVAL;
    if (is_pool_addr(m, a))
        return EP_EEXIST;
    if (m->naddrs == RM_MAX_ADDRS)
        return EP_ENOMEM;
    m->addrs[m->naddrs++] = *a;
    return 0;
}

int rm_set_reserved(rm_model *m, const char *text)
{
    ep_portset s;
    if (!text || ep_portset_parse(text, &s, NULL) != 0)
        return EP_EINVAL;
    if (ep_portset_count(&s, m->cfg.lo, m->cfg.hi) == (uint32_t)(m->cfg.hi - m->cfg.lo + 1))
        return EP_EINVAL;
    m->reserved = s;
    m->seq_next %= effective_ports(m); /* an index: it now names another port */
    return 0;
}

int rm_set_owner_quota(rm_model *m, uint32_t owner, uint32_t cap)
{
    if (owner == 0)
        return EP_EINVAL;
    for (size_t i = 0; i < m->nquotas; i++)
        if (m->quotas[i].owner == owner) {
            m->quotas[i].cap = cap;
            return 0;
        }
    if (m->nquotas == RM_MAX_OWNERS)
        return EP_ENOMEM;
    m->quotas[m->nquotas].owner = owner;
    m->quotas[m->nquotas].cap = cap;
    m->nquotas++;
    return 0;
}

static bool connect_pick_ok(const rm_model *m, const ep_tuple *t, uint16_t p)
{
    return port_free_for(m, t, p);
}

/* Take port pick->local_port towards t's destination (after checks). */
static void take_tuple(rm_model *m, const ep_tuple *t, uint32_t owner, ep_bind_id bid)
{
    for (size_t i = 0; i < m->nentries; i++)
        if (same_tuple(&m->entries[i].t, t)) { /* reused TIME_WAIT tuple */
            remove_entry(m, i);
            break;
        }
    rm_entry *e = &m->entries[m->nentries++];
    memset(e, 0, sizeof *e);
    e->t = *t;
    e->state = RM_INUSE;
    e->owner = owner;
    e->bind_id = bid;
    dest_note_high_water(m, t);
}

static int fail(rm_model *m, int rc)
{
    ep_fail_cause c = rc == EP_EADDRNOTAVAIL ? EP_FAIL_EXHAUSTED
                    : rc == EP_EDQUOT ? EP_FAIL_QUOTA
                    : rc == EP_EADDRINUSE ? EP_FAIL_ADDRINUSE : EP_FAIL_INVALID;
    m->failures[c]++;
    return rc;
}

static bool check_connect_pick(rm_model *m, const ep_tuple *req, const ep_tuple *pick)
{
    if (!ep_addr_equal(&pick->remote, &req->remote) || pick->remote_port != req->remote_port
        || pick->proto != req->proto)
        return badpick(m, "engine changed the destination (%u %u)", 0, 0);
    if (!addr_is_unspec(&req->local) && !ep_addr_equal(&pick->local, &req->local))
        return badpick(m, "engine changed the requested local address (%u %u)", 0, 0);
    if (!is_pool_addr(m, &pick->local) || pick->local.family != req->remote.family)
        return badpick(m, "engine picked a local address not in the pool or of the wrong family (%u %u)", 0, 0);
    if (!connect_pick_ok(m, pick, pick->local_port))
        return badpick(m, "port %u is not free for this destination (%u)", pick->local_port, 0);
    if (m->cfg.algorithm == EP_ALG_SEQUENTIAL) {
        uint32_t idx;
        int want = seq_expect(m, pick, connect_pick_ok, &idx);
        if (want != pick->local_port)
            return badpick(m, "sequential: expected port %u, engine chose %u", (unsigned)want,
                           pick->local_port);
    }
    return true;
}

/* The checks every tuple argument gets first: protocol, a specific remote
 * address and port, and a local family that is 0 or the remote's. */
static bool tuple_check(const ep_tuple *t)
{
    return proto_ok(t->proto) && family_ok(&t->remote) && !ep_addr_is_wildcard(&t->remote)
        && t->remote_port != 0 && (t->local.family == 0 || t->local.family == t->remote.family);
}

static bool has_family(const rm_model *m, int family)
{
    for (size_t i = 0; i < m->naddrs; i++)
        if (m->addrs[i].family == family)
            return true;
    return false;
}

/* The local addresses a connect from `local` may use (the named one, or
 * every pool address of the remote's family). */
static bool candidate_local(const rm_model *m, const ep_tuple *t, size_t i)
{
    if (!addr_is_unspec(&t->local))
        return ep_addr_equal(&m->addrs[i], &t->local);
    return m->addrs[i].family == t->remote.family;
}

/* Connect-style allocation after the tuple checks: EAFNOSUPPORT, quota,
 * exhaustion (counted towards every candidate destination that has a
 * record), then the engine's pick is checked and adopted. */
static int connect_core(rm_model *m, const ep_tuple *t, uint32_t owner, const ep_tuple *pick)
{
    if (addr_is_unspec(&t->local) && !has_family(m, t->remote.family))
        return fail(m, EP_EAFNOSUPPORT);
    if (owner_at_quota(m, owner))
        return fail(m, EP_EDQUOT);
    uint32_t total = 0;
    ep_tuple probe = *t;
    for (size_t i = 0; i < m->naddrs; i++) {
        if (!candidate_local(m, t, i))
            continue;
        probe.local = m->addrs[i];
        total += free_count(m, &probe);
    }
    if (total == 0) {
        for (size_t i = 0; i < m->naddrs; i++) {
            if (!candidate_local(m, t, i))
                continue;
            probe.local = m->addrs[i];
            rm_dest *d = find_dest(m, &probe, false);
            if (d)
                d->failures++;
        }
        return fail(m, EP_EADDRNOTAVAIL);
    }
    if (!pick || !check_connect_pick(m, t, pick))
        return RM_BADPICK;
    ep_tuple got = *pick;
    got.proto = t->proto;
    take_tuple(m, &got, owner, 0);
    m->seq_next = (effective_index(m, pick->local_port) + 1) % effective_ports(m);
    m->allocations++;
    return 0;
}

int rm_connect(rm_model *m, const ep_tuple *t, uint32_t owner, ep_time now, const ep_tuple *pick)
{
    rm_advance(m, now);
    if (!tuple_check(t))
        return fail(m, EP_EINVAL);
    if (!addr_is_unspec(&t->local) && !is_pool_addr(m, &t->local))
        return fail(m, EP_ENOENT);
    return connect_core(m, t, owner, pick);
}

int rm_close(rm_model *m, const ep_tuple *t, ep_close_how how, ep_time now)
{
    rm_advance(m, now);
    if (how != EP_CLOSE_ACTIVE && how != EP_CLOSE_PASSIVE)
        return fail(m, EP_EINVAL);
    if (!tuple_check(t) || addr_is_unspec(&t->local) || t->local_port == 0)
        return fail(m, EP_EINVAL);
    if (!is_pool_addr(m, &t->local))
        return fail(m, EP_ENOENT);
    rm_entry *e = find_entry(m, t);
    if (!e)
        return fail(m, EP_ENOENT);
    if (e->state != RM_INUSE)
        return fail(m, EP_EALREADY);
    if (e->bind_id) { /* the binding ends with its connection */
        for (size_t i = 0; i < m->nbinds; i++)
            if (m->binds[i].id == e->bind_id) {
                m->binds[i] = m->binds[--m->nbinds];
                break;
            }
        e->bind_id = 0;
    }
    m->releases++;
    if (t->proto == EP_PROTO_TCP && how == EP_CLOSE_ACTIVE && m->cfg.time_wait > 0) {
        e->state = RM_TIMEWAIT;
        e->closed_at = m->now;
        e->expires = m->now + m->cfg.time_wait;
    } else if (m->cfg.quarantine > 0) {
        e->state = RM_QUARANTINE;
        e->closed_at = m->now;
        e->expires = m->now + m->cfg.quarantine;
    } else {
        remove_entry(m, (size_t)(e - m->entries));
        forget_empty_dests(m);
    }
    return 0;
}

/* ---- bindings ------------------------------------------------------------- */

/* Rule 1 (SO_REUSEADDR / SO_REUSEPORT): may a binding with these properties
 * share its port with binding b on an overlapping address? */
static bool binds_compatible(uint8_t proto, unsigned flags, uint32_t owner, bool listening,
                             const rm_binding *b)
{
    if ((flags & EP_BIND_REUSEPORT) && (b->flags & EP_BIND_REUSEPORT) && owner == b->owner)
        return true;
    if ((flags & EP_BIND_REUSEADDR) && (b->flags & EP_BIND_REUSEADDR)
        && (proto == EP_PROTO_UDP || (!listening && !b->listening)))
        return true;
    return false;
}

/* Rule 1 against every other binding holding the port (connected ones
 * included: they keep their port). */
static bool binds_conflict(const rm_model *m, const rm_binding *nb, bool listening)
{
    for (size_t i = 0; i < m->nbinds; i++) {
        const rm_binding *b = &m->binds[i];
        if (b->id == nb->id || b->port == 0 || b->proto != nb->proto || b->port != nb->port)
            continue;
        if (addrs_overlap(&b->addr, &nb->addr)
            && !binds_compatible(nb->proto, nb->flags, nb->owner, listening, b))
            return true;
    }
    return false;
}

/* Rule 2: connect-style entries (any state) on the port from the address
 * (or from any address of the family, for a wildcard). */
static bool tuples_on(const rm_model *m, uint8_t proto, const ep_addr *addr, uint16_t port)
{
    for (size_t i = 0; i < m->nentries; i++) {
        const rm_entry *e = &m->entries[i];
        if (e->t.proto == proto && e->t.local_port == port && addrs_overlap(&e->t.local, addr))
            return true;
    }
    return false;
}

/* Rule 4: bind(0) takes an effective port that no binding holds on an
 * overlapping address and no connect-style entry uses from it. */
static bool bind0_ok(const rm_model *m, uint8_t proto, const ep_addr *addr, uint16_t port)
{
    if (!usable_auto(m, port) || tuples_on(m, proto, addr, port))
        return false;
    for (size_t i = 0; i < m->nbinds; i++) {
        const rm_binding *b = &m->binds[i];
        if (b->port == port && b->proto == proto && addrs_overlap(&b->addr, addr))
            return false;
    }
    return true;
}

int rm_bind(rm_model *m, const ep_bind_req *req, ep_time now, ep_bind_id id, uint16_t port)
{
    rm_advance(m, now);
    if (!proto_ok(req->proto) || !family_ok(&req->addr)
        || (req->flags & ~(unsigned)(EP_BIND_REUSEADDR | EP_BIND_REUSEPORT | EP_BIND_NO_PORT)))
        return fail(m, EP_EINVAL);
    if (!ep_addr_is_wildcard(&req->addr) && !is_pool_addr(m, &req->addr))
        return fail(m, EP_ENOENT);
    bool deferred = req->port == 0 && (req->flags & EP_BIND_NO_PORT);
    if (!deferred && owner_at_quota(m, req->owner))
        return fail(m, EP_EDQUOT);
    if (m->nbinds == RM_MAX_BINDS)
        return EP_ENOMEM;
    rm_binding nb;
    memset(&nb, 0, sizeof nb);
    nb.id = id;
    nb.proto = req->proto;
    nb.addr = req->addr;
    nb.flags = req->flags;
    nb.owner = req->owner;
    if (req->port != 0) {
        nb.port = req->port;
        nb.id = 0; /* compare against every binding */
        if (binds_conflict(m, &nb, false))
            return fail(m, EP_EADDRINUSE);
        if (!(req->flags & EP_BIND_REUSEADDR) && tuples_on(m, nb.proto, &nb.addr, nb.port))
            return fail(m, EP_EADDRINUSE);
        nb.id = id;
    } else if (!deferred) {
        bool any = false;
        for (uint32_t p = m->cfg.lo; p <= m->cfg.hi && !any; p++)
            any = bind0_ok(m, nb.proto, &nb.addr, (uint16_t)p);
        if (!any)
            return fail(m, EP_EADDRNOTAVAIL);
        if (!bind0_ok(m, nb.proto, &nb.addr, port)) {
            badpick(m, "bind(0) chose port %u, which is not free on the address (%u)", port, 0);
            return RM_BADPICK;
        }
        nb.port = port;
    }
    if (id == 0 || find_bind(m, id)) {
        badpick(m, "engine returned binding id %u, zero or already in use (%u)", (unsigned)id, 0);
        return RM_BADPICK;
    }
    m->binds[m->nbinds++] = nb;
    m->allocations++;
    return 0;
}

int rm_listen(rm_model *m, ep_bind_id id)
{
    rm_binding *b = find_bind(m, id);
    if (!b || b->connected)
        return fail(m, EP_ENOENT);
    if (b->proto != EP_PROTO_TCP)
        return fail(m, EP_ENOTSUP);
    if (b->port == 0)
        return fail(m, EP_EINVAL); /* deferred: no port to listen on */
    if (b->listening)
        return 0;
    if (binds_conflict(m, b, true))  /* rule 3 */
        return fail(m, EP_EADDRINUSE);
    b->listening = true;
    return 0;
}

int rm_unbind(rm_model *m, ep_bind_id id, ep_time now)
{
    rm_advance(m, now);
    rm_binding *b = find_bind(m, id);
    if (!b || b->connected)
        return fail(m, EP_ENOENT);
    *b = m->binds[--m->nbinds];
    m->releases++;
    return 0;
}

/* Is the 4-tuple (local, port) -> t's remote free (no entry, or a reusable
 * TIME_WAIT one)?  Reserved ports and bindings do not matter here: the
 * binding itself holds the port. */
static bool explicit_tuple_free(const rm_model *m, const ep_tuple *t)
{
    for (size_t i = 0; i < m->nentries; i++)
        if (same_tuple(&m->entries[i].t, t))
            return tw_reusable(m, &m->entries[i]);
    return true;
}

int rm_connect_bound(rm_model *m, ep_bind_id id, const ep_tuple *t, ep_time now,
                     const ep_tuple *pick)
{
    rm_advance(m, now);
    ep_tuple in = *t;
    in.proto = EP_PROTO_TCP; /* the binding's protocol is used below */
    memset(&in.local, 0, sizeof in.local);
    if (!tuple_check(&in))
        return fail(m, EP_EINVAL);
    rm_binding *b = find_bind(m, id);
    if (!b || b->connected)
        return fail(m, EP_ENOENT);
    if (t->remote.family != b->addr.family)
        return fail(m, EP_EINVAL);
    ep_tuple want = in;
    want.proto = b->proto;
    want.local = b->addr;
    if (b->port == 0) { /* deferred: connect-style, then the binding ends */
        if (ep_addr_is_wildcard(&want.local))
            memset(&want.local, 0, sizeof want.local);
        int rc = connect_core(m, &want, b->owner, pick);
        if (rc == 0)
            *b = m->binds[--m->nbinds];
        return rc;
    }
    /* explicit port: a wildcard takes any address of the family where the
     * 4-tuple is free (uniformly; we only check the engine's choice) */
    want.local_port = b->port;
    bool any = false;
    ep_tuple probe = want;
    for (size_t i = 0; i < m->naddrs; i++) {
        if (m->addrs[i].family != b->addr.family
            || (!ep_addr_is_wildcard(&b->addr) && !ep_addr_equal(&m->addrs[i], &b->addr)))
            continue;
        probe.local = m->addrs[i];
        any |= explicit_tuple_free(m, &probe);
    }
    if (!any) {
        if (!ep_addr_is_wildcard(&b->addr)) {
            rm_dest *d = find_dest(m, &want, false);
            if (d)
                d->failures++;
        }
        return fail(m, EP_EADDRNOTAVAIL);
    }
    if (!pick || pick->local_port != b->port || pick->proto != b->proto
        || !ep_addr_equal(&pick->remote, &t->remote) || pick->remote_port != t->remote_port
        || !is_pool_addr(m, &pick->local) || pick->local.family != b->addr.family
        || (!ep_addr_is_wildcard(&b->addr) && !ep_addr_equal(&pick->local, &b->addr))) {
        badpick(m, "connect_bound returned port %u for a binding of port %u", pick ? pick->local_port : 0, b->port);
        return RM_BADPICK;
    }
    if (!explicit_tuple_free(m, pick)) {
        badpick(m, "connect_bound chose a local address where port %u is taken (%u)", b->port, 0);
        return RM_BADPICK;
    }
    b->connected = true;
    b->listening = false;
    take_tuple(m, pick, 0, id); /* the binding, not the connection, is charged */
    m->allocations++;
    return 0;
}

/* ---- statistics ------------------------------------------------------------ */

void rm_stats(rm_model *m, ep_time now, ep_pool_stats *out)
{
    rm_advance(m, now);
    memset(out, 0, sizeof *out);
    out->range_ports = (uint32_t)(m->cfg.hi - m->cfg.lo + 1);
    out->effective_ports = effective_ports(m);
    for (size_t i = 0; i < m->nentries; i++) {
        const rm_entry *e = &m->entries[i];
        out->in_use += e->state == RM_INUSE;
        out->time_wait += e->state == RM_TIMEWAIT;
        out->quarantine += e->state == RM_QUARANTINE;
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (same_dest(&m->entries[j].t, &e->t))
                first = false;
        out->destinations += first;
    }
    for (size_t i = 0; i < m->nbinds; i++)
        out->binds += m->binds[i].port != 0; /* held, or connected and still held */
    out->allocations = m->allocations;
    out->releases = m->releases;
    memcpy(out->failures, m->failures, sizeof out->failures);
}

int rm_dest_stats(rm_model *m, const ep_tuple *t, ep_time now, ep_dest_stats *out)
{
    rm_advance(m, now);
    if (!is_pool_addr(m, &t->local))
        return EP_ENOENT;
    memset(out, 0, sizeof *out);
    out->proto = t->proto;
    out->local = t->local;
    out->remote = t->remote;
    out->remote_port = t->remote_port;
    out->in_use = dest_count(m, t, RM_INUSE);
    out->time_wait = dest_count(m, t, RM_TIMEWAIT);
    out->quarantine = dest_count(m, t, RM_QUARANTINE);
    for (uint32_t p = m->cfg.lo; p <= m->cfg.hi; p++)
        out->blocked += usable_auto(m, (uint16_t)p) && port_blocked(m, t->proto, &t->local, (uint16_t)p);
    out->free = free_count(m, t);
    rm_dest *d = find_dest(m, t, false);
    if (d) {
        out->high_water = d->high_water;
        out->failures = d->failures;
    }
    uint32_t eff = effective_ports(m);
    out->pressure = eff ? 1.0 - (double)out->free / eff : 1.0;
    return 0;
}
