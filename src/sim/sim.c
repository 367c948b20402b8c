/* sim.c - the simulator's run loop: a workload through the real engine.
 *
 * Nothing here models port selection: every connection is an
 * ep_pool_connect_ref() on a libephport pool and every close an
 * ep_pool_close_ref() (the engine's own calls, given the reference the
 * connect returned instead of the tuple), with virtual time passed as
 * `now`, so TIME_WAIT, tw_reuse, reserved ports, quotas and the selection
 * algorithm are the library's own code.  The loop
 * merges three streams in time order: closes due (a heap of open
 * connections), sampling instants, and arrivals (generated, or read from a
 * trace).  At equal times closes go first, then the sample, then arrivals,
 * so a port released at t can be taken again at t.
 *
 * A connection carries requests_per_conn requests back to back, so
 * connections arrive at rate / requests_per_conn and last the sum of their
 * requests' durations.
 *
 * The port rules are the engine's semantics (workload key `semantics`;
 * Linux's for the linux profile).  Under Linux semantics a UDP socket's
 * port is its own on its local address (udp_lib_get_port): every
 * destination draws on the same ports, so a destination's occupancy for
 * the headroom columns is every UDP socket's, and running out is EAGAIN.
 * A socket connect()ed unbound takes its port on every address (the
 * kernel's wildcard autobind), so with several source addresses each UDP
 * socket is bound to one first - bind(addr, 0) deferred, then connect, as
 * an application spreading over addresses does - trying the addresses in
 * turn from a round-robin start; such a connection is closed by its tuple,
 * packed into the slot (destination, source, port).  Memory is proportional to the open connections (slot
 * arrays, the heap) plus the recorded series; a trace replay also keeps the
 * trace itself.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dist.h"
#include "eventq.h"
#include "sim.h"
#include "trace.h"

#define EP_SIM_NONE UINT32_MAX
#define EP_NEVER UINT64_MAX

/* An open connection is a slot holding the engine's reference to it: its
 * close needs nothing else. */
typedef ep_conn_ref ep_sim_slot;

/* What every tuple towards one destination shares: proto, remote address
 * and port (local zero, the connect request), and the source address table
 * of the remote's family.  Copied, not rebuilt, on every connect and close. */
typedef struct ep_sim_dtpl {
    ep_tuple t;
    const ep_addr *src;      /* src4 or src6 */
} ep_sim_dtpl;

typedef struct ep_sim {
    const ep_workload *w;
    ep_sim_result *res;
    ep_pool *pool;
    ep_sim_rng rng;
    ep_eventq q;
    ep_sim_slot *slot;
    uint32_t *free_slots;
    size_t nslot, nfree, slotcap;
    uint64_t open;
    ep_addr *src4, *src6;
    ep_sim_dtpl *dtpl;       /* per destination */
    uint64_t conn_requests;  /* requests a successful connect carries */
    double *cdf;
    uint32_t *fail_since;    /* per destination, since the previous sample */
    double *ss_sum, *ss_sum_use;
    uint64_t ss_n;
    ep_trace trace;
    uint32_t *trace_slot;    /* trace connection -> slot, EP_SIM_NONE if failed */
    /* reuse / predictability towards destination 0 from source 0 */
    uint32_t *last_use;      /* 65536 entries, 0 = never; NULL = not measured */
    uint32_t *hist;
    uint64_t hist_over, reuse_sum, reuse_min;
    uint64_t nports;
    int prev, prev2;         /* -1 = none */
    uint64_t hits[4];
    uint16_t lo, hi;
    ep_time const_dur;       /* a connection's duration when it is constant */
    bool udp_shared;         /* UDP under Linux semantics (see the top) */
    bool udp_bind;           /* ... from several sources: bind, then connect */
    uint32_t next_src;       /* round-robin start of the next bound connect */
    uint64_t *src_held;      /* sampling scratch: ports held per source */
    double dur_mu;           /* lognormal durations: mu, computed once */
    char *msg;
    size_t msglen;
} ep_sim;

const char *ep_sim_cause_name(int cause)
{
    static const char *names[EP_FAIL__COUNT] = { "exhausted", "quota", "addrinuse", "invalid" };
    return cause >= 0 && cause < EP_FAIL__COUNT ? names[cause] : "unknown";
}

static int ep_sim_cause(int err)
{
    switch (err) {
    case EP_EADDRNOTAVAIL:
    case -EAGAIN: /* Linux semantics, UDP: inet_autobind() found no port */
        return EP_FAIL_EXHAUSTED;
    case EP_EDQUOT:
        return EP_FAIL_QUOTA;
    case EP_EADDRINUSE:
        return EP_FAIL_ADDRINUSE;
    default:
        return EP_FAIL_INVALID;
    }
}

/* Source i: 100.64.0.0/10 + i + 1 and fd00:6570::/32 + i + 1 (documentation
 * of the model, not real addresses of this host). */
static void ep_sim_source(int family, uint32_t i, ep_addr *a)
{
    uint32_t v = i + 1;
    memset(a, 0, sizeof *a);
    a->family = (uint8_t)family;
    if (family == AF_INET) {
        uint32_t x = (100u << 24 | 64u << 16) + v;
        a->u.bytes[0] = x >> 24;
        a->u.bytes[1] = (x >> 16) & 0xff;
        a->u.bytes[2] = (x >> 8) & 0xff;
        a->u.bytes[3] = x & 0xff;
    } else {
        a->u.bytes[0] = 0xfd;
        a->u.bytes[2] = 0x65;
        a->u.bytes[3] = 0x70;
        a->u.bytes[14] = (v >> 8) & 0xff;
        a->u.bytes[15] = v & 0xff;
    }
}

/* Destination i of a generated workload: 198.18.0.0/15 + i + 1. */
static void ep_sim_gen_dest(uint32_t i, ep_addr *a)
{
    uint32_t x = (198u << 24 | 18u << 16) + i + 1;
    memset(a, 0, sizeof *a);
    a->family = AF_INET;
    a->u.bytes[0] = x >> 24;
    a->u.bytes[1] = (x >> 16) & 0xff;
    a->u.bytes[2] = (x >> 8) & 0xff;
    a->u.bytes[3] = x & 0xff;
}

static uint32_t ep_sim_src_index(const ep_addr *a)
{
    if (a->family == AF_INET)
        return ((uint32_t)a->u.bytes[2] << 8 | a->u.bytes[3]) - 1;
    return ((uint32_t)a->u.bytes[14] << 8 | a->u.bytes[15]) - 1;
}

/* The tuple that names destination d from source address src (local port
 * 0), for the engine's per-destination statistics. */
static inline void ep_sim_dest_tuple(const ep_sim *s, uint32_t d, uint32_t src, ep_tuple *t)
{
    const ep_sim_dtpl *dt = &s->dtpl[d];
    memcpy(t, &dt->t, sizeof *t); /* padding included: zero, as a memset left it */
    t->local = dt->src[src];
}

static int ep_sim_fail(ep_sim *s, const char *fmt, const char *what, int err)
{
    snprintf(s->msg, s->msglen, fmt, what, ep_strerror(err));
    return err == -ENOMEM ? -ENOMEM : -EIO;
}

static ep_time ep_sim_ns(double secs)
{
    if (secs <= 0)
        return 0;
    if (secs >= 1.8e10)
        return EP_NEVER - 1;
    return (ep_time)(secs * 1e9 + 0.5); /* round half up; no libm call */
}

/* Record one port handed out towards destination 0 from source 0. */
static void ep_sim_observe(ep_sim *s, uint16_t port)
{
    uint64_t k = ++s->nports;
    if (k > UINT32_MAX) /* distances would wrap: stop measuring (documented) */
        return;
    int width = s->hi - s->lo + 1;
    if (s->last_use[port]) {
        uint64_t dist = k - s->last_use[port] - 1;
        s->res->reuse.reuses++;
        s->reuse_sum += dist;
        if (dist < s->reuse_min)
            s->reuse_min = dist;
        if (dist < EP_SIM_REUSE_HIST)
            s->hist[dist]++;
        else
            s->hist_over++;
    }
    s->last_use[port] = (uint32_t)k;
    if (s->prev >= 0 && s->prev2 >= 0) {
        /* Simple predictors an off-path attacker could run on what it saw. */
        int off = s->prev - s->lo, delta = s->prev - s->prev2;
        int guess[4] = { /* simplest first: ties go to it */
            (off + 1) % width,
            (off + 2) % width,
            off,
            ((off + delta) % width + width) % width,
        };
        s->res->reuse.predictions++;
        for (int i = 0; i < 4; i++)
            s->hits[i] += guess[i] + s->lo == port;
    }
    s->prev2 = s->prev;
    s->prev = port;
}

static void ep_sim_reuse_finish(ep_sim *s)
{
    static const char *names[4] = { "prev+1", "prev+2", "prev", "prev+delta" };
    ep_sim_reuse *r = &s->res->reuse;
    int best = 0;
    r->connections = s->nports;
    if (r->reuses) {
        uint64_t want = (r->reuses * 5 + 99) / 100, cum = 0; /* ceil(5 %) */
        r->mean = (double)s->reuse_sum / (double)r->reuses;
        r->min = s->reuse_min;
        r->p5 = EP_SIM_REUSE_HIST;
        r->p5_above = true;
        for (uint32_t i = 0; i < EP_SIM_REUSE_HIST; i++) {
            cum += s->hist[i];
            if (cum >= want) {
                r->p5 = i;
                r->p5_above = false;
                break;
            }
        }
    }
    for (int i = 1; i < 4; i++)
        if (s->hits[i] > s->hits[best])
            best = i;
    r->predicted = s->hits[best];
    r->predictor = names[best];
    r->predictability = r->predictions ? (double)r->predicted / (double)r->predictions : 0;
}

static int ep_sim_slot_grow(ep_sim *s, uint32_t *out);

static inline int ep_sim_slot_alloc(ep_sim *s, uint32_t *out)
{
    if (s->nfree) {
        *out = s->free_slots[--s->nfree];
        return 0;
    }
    return ep_sim_slot_grow(s, out);
}

static int ep_sim_slot_grow(ep_sim *s, uint32_t *out)
{
    if (s->nslot == s->slotcap) {
        size_t ncap = s->slotcap ? s->slotcap * 2 : 4096;
        ep_sim_slot *ns;
        uint32_t *nf;
        if (ncap > EP_SIM_NONE)
            return -ENOMEM;
        ns = realloc(s->slot, ncap * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        s->slot = ns;
        nf = realloc(s->free_slots, ncap * sizeof *nf);
        if (!nf)
            return -ENOMEM;
        s->free_slots = nf;
        s->slotcap = ncap;
    }
    *out = (uint32_t)s->nslot++;
    return 0;
}

/* A connect the engine refused with rc: count it, or a fatal error. */
static int ep_sim_connect_failed(ep_sim *s, uint32_t d, ep_time now, int rc)
{
    ep_sim_result *res = s->res;
    ep_sim_dest *dest = &res->dest[d];
    int cause = ep_sim_cause(rc);
    if (rc == -ENOMEM)
        return ep_sim_fail(s, "%s: %s", "connect", rc);
    if (cause == EP_FAIL_INVALID)
        return ep_sim_fail(s, "the engine refused a well-formed %s: %s", "connect", rc);
    res->failures[cause]++;
    res->total_failures++;
    dest->failures++;
    if (s->fail_since[d] < UINT32_MAX)
        s->fail_since[d]++;
    if (dest->first_failure < 0)
        dest->first_failure = now / 1e9;
    if (res->first_failure < 0) {
        res->first_failure = now / 1e9;
        res->first_failure_err = rc;
    }
    return 0;
}

/* A UDP socket bound to one of the sources (deferred bind(addr, 0)), then
 * connected towards destination d, under Linux semantics: the sources are
 * tried in turn from a round-robin start until one has a port left.  *ref
 * gets the packed (destination, source, port).  0, -EAGAIN when no source
 * has a port, -EDQUOT, or the engine's error. */
static int ep_sim_connect_bound(ep_sim *s, uint32_t d, uint32_t owner, ep_time now, ep_tuple *t,
                                ep_conn_ref *ref)
{
    uint32_t n = s->res->sources, first = s->next_src;
    int rc = -EAGAIN;

    s->next_src = first + 1 == n ? 0 : first + 1;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t src = first + k < n ? first + k : first + k - n;
        ep_bind_req req;
        ep_bind_id id;
        memset(&req, 0, sizeof req);
        req.proto = EP_PROTO_UDP;
        req.addr = s->dtpl[d].src[src];
        req.flags = EP_BIND_NO_PORT;
        req.owner = owner;
        if ((rc = ep_pool_bind(s->pool, &req, now, &id, NULL)) < 0)
            return rc;
        memcpy(t, &s->dtpl[d].t, sizeof *t);
        rc = ep_pool_connect_bound(s->pool, id, t, now);
        if (rc == 0) {
            assert(ep_sim_src_index(&t->local) == src);
            *ref = (uint64_t)d << 32 | (uint64_t)src << 16 | t->local_port;
            return 0;
        }
        if (ep_pool_unbind(s->pool, id, now) != 0)
            return -EIO;
        if (rc != -EAGAIN)
            return rc;
    }
    return rc;
}

/* One connect at `now` towards destination d; *slot_out gets the slot or
 * EP_SIM_NONE if the engine refused.  Returns 0 or a fatal error. */
static inline int ep_sim_connect(ep_sim *s, uint32_t d, uint32_t owner, ep_time now,
                                 uint32_t *slot_out)
{
    ep_sim_result *res = s->res;
    ep_tuple t;
    ep_conn_ref ref;
    uint32_t slot;
    int rc;

    memcpy(&t, &s->dtpl[d].t, sizeof t);
    res->attempts++;
    res->dest[d].attempts++;
    rc = s->udp_bind ? ep_sim_connect_bound(s, d, owner, now, &t, &ref)
                     : ep_pool_connect_ref(s->pool, &t, owner, now, &ref);
    *slot_out = EP_SIM_NONE;
    if (rc < 0)
        return ep_sim_connect_failed(s, d, now, rc);
    if (ep_sim_slot_alloc(s, &slot) != 0) {
        snprintf(s->msg, s->msglen, "out of memory (%llu open connections)",
                 (unsigned long long)s->open);
        return -ENOMEM;
    }
    s->slot[slot] = ref;
    res->connections++;
    res->requests += s->conn_requests;
    if (++s->open > res->peak_open)
        res->peak_open = s->open;
    if (s->last_use && d == 0 && ep_sim_src_index(&t.local) == 0)
        ep_sim_observe(s, t.local_port);
    *slot_out = slot;
    return 0;
}

static inline int ep_sim_close(ep_sim *s, uint32_t slot, bool server_closes, ep_time now)
{
    ep_close_how how = server_closes ? EP_CLOSE_PASSIVE : EP_CLOSE_ACTIVE;
    int rc;
    if (s->udp_bind) { /* a bound UDP socket: closed by its tuple */
        ep_conn_ref v = s->slot[slot];
        ep_tuple t;
        ep_sim_dest_tuple(s, (uint32_t)(v >> 32), (uint32_t)(v >> 16) & 0xffff, &t);
        t.local_port = (uint16_t)v;
        rc = ep_pool_close(s->pool, &t, how, now);
    } else {
        rc = ep_pool_close_ref(s->pool, s->slot[slot], how, now);
    }
    if (rc != 0)
        return ep_sim_fail(s, "the engine refused to %s a held connection: %s", "close", rc);
    s->free_slots[s->nfree++] = slot;
    s->open--;
    s->res->closes++;
    return 0;
}

static int ep_sim_sample(ep_sim *s, ep_time now, bool steady)
{
    ep_sim_result *res = s->res;
    ep_series_cell *row = ep_series_append(&res->series, now / 1e9);
    if (!row) {
        snprintf(s->msg, s->msglen, "out of memory recording the time series");
        return -ENOMEM;
    }
    uint64_t shared = 0; /* UDP, Linux semantics: every socket's port */
    for (size_t d = 0; d < res->ndest; d++) {
        for (uint32_t i = 0; i < res->sources; i++) {
            ep_dest_stats st;
            ep_tuple t;
            int rc;
            ep_sim_dest_tuple(s, (uint32_t)d, i, &t);
            rc = ep_pool_dest_stats(s->pool, &t, now, &st);
            if (rc != 0)
                return ep_sim_fail(s, "the engine refused %s: %s", "ep_pool_dest_stats", rc);
            row[d].in_use += st.in_use;
            row[d].time_wait += st.time_wait + st.quarantine;
        }
        shared += row[d].in_use + row[d].time_wait;
    }
    for (size_t d = 0; d < res->ndest; d++) {
        ep_sim_dest *dest = &res->dest[d];
        /* what destination d cannot have: its own tuples, or with UDP
         * under Linux semantics every UDP socket's port */
        uint32_t occ = s->udp_shared ? (uint32_t)shared : row[d].in_use + row[d].time_wait;
        row[d].failures = s->fail_since[d];
        s->fail_since[d] = 0;
        if (occ > dest->sampled_peak)
            dest->sampled_peak = occ;
        if (steady) {
            s->ss_sum[d] += occ;
            s->ss_sum_use[d] += s->udp_shared ? occ : row[d].in_use;
            if (occ > dest->ss_peak)
                dest->ss_peak = occ;
        }
    }
    if (steady)
        s->ss_n++;
    return 0;
}

static int ep_sim_setup(ep_sim *s, const ep_workload *w, ep_sim_result *res, bool reuse)
{
    ep_pool_config cfg;
    ep_parse_error perr;
    ep_pool_stats st;
    bool need6 = false;
    int rc;

    if ((rc = ep_workload_pool_config(w, &cfg, s->msg, s->msglen)) != 0)
        return rc;
    s->lo = cfg.lo;
    s->hi = cfg.hi;
    memset(&perr, 0, sizeof perr);
    rc = ep_pool_new(&cfg, &s->pool, &perr);
    if (rc != 0) {
        snprintf(s->msg, s->msglen, "engine: %s", perr.message[0] ? perr.message : ep_strerror(rc));
        return rc;
    }
    if (w->arrivals == EP_ARR_TRACE) {
        if ((rc = ep_trace_load(&s->trace, w->trace, s->msg, s->msglen)) != 0)
            return rc == -ENOMEM ? rc : -EINVAL; /* unreadable or bad: bad input */
        res->ndest = s->trace.ndest;
    } else {
        res->ndest = w->destinations;
    }
    res->dest = calloc(res->ndest, sizeof *res->dest);
    s->cdf = calloc(res->ndest, sizeof *s->cdf);
    s->fail_since = calloc(res->ndest, sizeof *s->fail_since);
    s->ss_sum = calloc(res->ndest, sizeof *s->ss_sum);
    s->ss_sum_use = calloc(res->ndest, sizeof *s->ss_sum_use);
    s->src4 = calloc(w->sources, sizeof *s->src4);
    s->src6 = calloc(w->sources, sizeof *s->src6);
    s->dtpl = calloc(res->ndest, sizeof *s->dtpl);
    if (reuse) {
        s->last_use = calloc(65536, sizeof *s->last_use);
        s->hist = calloc(EP_SIM_REUSE_HIST, sizeof *s->hist);
    }
    if (!res->dest || !s->cdf || !s->fail_since || !s->ss_sum || !s->ss_sum_use || !s->src4 ||
        !s->src6 || !s->dtpl || (reuse && (!s->last_use || !s->hist))) {
        snprintf(s->msg, s->msglen, "out of memory");
        return -ENOMEM;
    }
    if (w->arrivals == EP_ARR_TRACE) {
        for (uint32_t d = 0; d < s->trace.ndest; d++) {
            res->dest[d].remote = s->trace.dest_addr[d];
            res->dest[d].port = s->trace.dest_port[d];
            need6 |= s->trace.dest_addr[d].family == AF_INET6;
        }
        if (!w->length_set)
            res->length = s->trace.last / 1e9;
    } else {
        ep_workload_weights(w, s->cdf);
        for (uint32_t d = 0; d < w->destinations; d++) {
            ep_sim_gen_dest(d, &res->dest[d].remote);
            res->dest[d].port = w->port;
            res->dest[d].weight = s->cdf[d];
            if (d)
                s->cdf[d] += s->cdf[d - 1];
        }
        s->cdf[res->ndest - 1] = 1.0;
    }
    if (res->length <= 0)
        res->length = w->length;
    if (((double)res->length / w->sample + 1) * (double)res->ndest > EP_SIM_MAX_CELLS ||
        ((double)res->length / w->sample + 1) * (double)res->ndest * w->sources >
            EP_SIM_MAX_STAT_CALLS) {
        snprintf(s->msg, s->msglen, "%zu destinations x %u sources sampled every %g s over %g s "
                 "is too many samples; raise sample", res->ndest, w->sources, w->sample,
                 res->length);
        return -EINVAL;
    }
    res->sources = w->sources;
    for (uint32_t i = 0; i < w->sources; i++) {
        ep_sim_source(AF_INET, i, &s->src4[i]);
        ep_sim_source(AF_INET6, i, &s->src6[i]);
        if ((rc = ep_pool_add_address(s->pool, &s->src4[i])) != 0 ||
            (need6 && (rc = ep_pool_add_address(s->pool, &s->src6[i])) != 0))
            return ep_sim_fail(s, "engine: %s: %s", "ep_pool_add_address", rc);
    }
    if ((rc = ep_pool_stats_get(s->pool, 0, &st)) != 0)
        return ep_sim_fail(s, "engine: %s: %s", "ep_pool_stats_get", rc);
    res->range_ports = st.range_ports;
    res->effective_ports = st.effective_ports;
    for (size_t d = 0; d < res->ndest; d++) {
        ep_sim_dest *dest = &res->dest[d];
        char a[EP_ADDR_STRLEN];
        ep_addr_format(&dest->remote, a, sizeof a);
        snprintf(dest->name, sizeof dest->name, dest->remote.family == AF_INET6 ? "[%s]:%u"
                 : "%s:%u", a, dest->port);
        dest->capacity = st.effective_ports * w->sources;
        dest->first_failure = -1;
        s->dtpl[d].t.proto = w->proto;
        s->dtpl[d].t.remote = dest->remote;
        s->dtpl[d].t.remote_port = dest->port;
        s->dtpl[d].src = dest->remote.family == AF_INET ? s->src4 : s->src6;
    }
    s->conn_requests = w->arrivals == EP_ARR_TRACE ? 1 : w->requests_per_conn;
    if (w->arrivals == EP_ARR_TRACE) {
        s->trace_slot = malloc((s->trace.nconn ? s->trace.nconn : 1) * sizeof *s->trace_slot);
        if (!s->trace_slot) {
            snprintf(s->msg, s->msglen, "out of memory");
            return -ENOMEM;
        }
    }
    ep_series_init(&res->series, res->ndest);
    ep_sim_rng_seed(&s->rng, w->seed);
    s->const_dur = ep_sim_ns(w->duration.mean * w->requests_per_conn);
    if (w->duration.kind == EP_DIST_LOGNORMAL)
        s->dur_mu = ep_dist_lognormal_mu(&w->duration);
    s->prev = s->prev2 = -1;
    s->reuse_min = UINT64_MAX;
    res->first_failure = -1;
    res->semantics = cfg.semantics;
    s->udp_shared = res->udp_shared = cfg.semantics == EP_SEM_LINUX && w->proto == EP_PROTO_UDP;
    s->udp_bind = s->udp_shared && w->sources > 1;
    res->exhausted_err = s->udp_shared ? -EAGAIN : EP_EADDRNOTAVAIL;
    return 0;
}

static void ep_sim_teardown(ep_sim *s)
{
    ep_pool_free(s->pool);
    ep_eventq_free(&s->q);
    free(s->slot);
    free(s->free_slots);
    free(s->src4);
    free(s->src6);
    free(s->dtpl);
    free(s->cdf);
    free(s->fail_since);
    free(s->ss_sum);
    free(s->ss_sum_use);
    free(s->trace_slot);
    free(s->last_use);
    free(s->hist);
    ep_trace_free(&s->trace);
}

/* One request's duration: ep_dist_sample() with the lognormal's mu
 * computed once (the same value, so the same draws). */
static inline double ep_sim_request_duration(ep_sim *s)
{
    const ep_dist *d = &s->w->duration;
    switch (d->kind) {
    case EP_DIST_EXPONENTIAL:
        return ep_sim_rng_exponential(&s->rng, d->mean);
    case EP_DIST_LOGNORMAL:
        return ep_sim_rng_lognormal(&s->rng, s->dur_mu, d->sigma);
    default:
        return d->mean;
    }
}

/* Duration of one generated connection: its requests back to back. */
static ep_time ep_sim_conn_duration(ep_sim *s)
{
    const ep_workload *w = s->w;
    double sum = 0;
    if (w->duration.kind == EP_DIST_CONSTANT)
        return s->const_dur; /* computed once */
    if (w->requests_per_conn == 1) /* the same draw, without the loop */
        return ep_sim_ns(ep_sim_request_duration(s));
    for (uint32_t i = 0; i < w->requests_per_conn; i++)
        sum += ep_sim_request_duration(s);
    return ep_sim_ns(sum);
}

static uint32_t ep_sim_pick_dest(ep_sim *s)
{
    size_t lo = 0, hi = s->res->ndest - 1;
    double u;
    if (hi == 0)
        return 0;
    u = ep_sim_rng_uniform(&s->rng);
    while (lo < hi) { /* first d with cdf[d] >= u */
        size_t mid = lo + (hi - lo) / 2;
        if (s->cdf[mid] >= u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (uint32_t)lo;
}

static int ep_sim_loop(ep_sim *s, const ep_sim_options *o)
{
    const ep_workload *w = s->w;
    ep_sim_result *res = s->res;
    ep_time end = ep_sim_ns(res->length);
    ep_time half = end / 2;
    double conn_gap = w->requests_per_conn / w->rate; /* seconds between connections */
    double group_gap = conn_gap * (w->arrivals == EP_ARR_BURST ? w->burst : 1);
    uint64_t narr = 0, ngroup = 0, nsample = 0, events = 0;
    uint32_t in_group = 0;
    double poisson_t = 0;
    size_t tpos = 0;
    bool trace = w->arrivals == EP_ARR_TRACE;
    ep_time next_arr, next_sample = 0;
    int rc;

    /* The first arrival. */
    if (trace)
        next_arr = s->trace.nev ? s->trace.ev[0].t : EP_NEVER;
    else if (w->arrivals == EP_ARR_POISSON)
        next_arr = ep_sim_ns(poisson_t = ep_sim_rng_exponential(&s->rng, conn_gap));
    else
        next_arr = 0;

    for (;;) {
        ep_time tc = ep_eventq_empty(&s->q) ? EP_NEVER : ep_eventq_top(&s->q)->t;
        /* Generated arrivals fall in [0, length); a trace's last event is
         * at length itself.  Closes and samples run up to length. */
        bool arr_done = trace ? next_arr > end : next_arr >= end;
        if (tc <= end && tc <= next_sample && (arr_done || tc <= next_arr)) {
            ep_event e;
            ep_eventq_pop(&s->q, &e);
            if ((rc = ep_sim_close(s, e.id, w->server_closes, e.t)) != 0)
                return rc;
            continue;
        }
        if (next_sample <= end && (arr_done || next_sample <= next_arr)) {
            if ((rc = ep_sim_sample(s, next_sample, next_sample >= half)) != 0)
                return rc;
            nsample++;
            if (next_sample == end) {
                next_sample = EP_NEVER;
            } else {
                /* The last sample is at `length` itself, aligned or not, so
                 * the steady state always has one. */
                next_sample = ep_sim_ns(nsample * w->sample);
                if (next_sample > end)
                    next_sample = end;
            }
            continue;
        }
        if (arr_done)
            break;
        if ((++events & 0xffff) == 0 && o && o->progress)
            o->progress(o->progress_ctx, (double)next_arr / (double)(end ? end : 1));
        if (trace) {
            const ep_trace_event *ev = &s->trace.ev[tpos++];
            if (ev->type == EP_TRACE_OPEN) {
                uint32_t slot;
                uint32_t owner = w->quota ? 1 + (uint32_t)(narr % w->owners) : 0;
                narr++;
                if ((rc = ep_sim_connect(s, ev->dest, owner, ev->t, &slot)) != 0)
                    return rc;
                s->trace_slot[ev->conn] = slot;
                if (slot != EP_SIM_NONE && !s->trace.has_close[ev->conn]) {
                    double dur = ep_sim_request_duration(s);
                    if ((rc = ep_eventq_push(&s->q, ev->t + ep_sim_ns(dur), slot)) != 0)
                        goto queue_failed;
                }
            } else if (s->trace_slot[ev->conn] != EP_SIM_NONE) {
                bool server = ev->closer == EP_CLOSER_DEFAULT ? w->server_closes
                                                              : ev->closer == EP_CLOSER_SERVER;
                if ((rc = ep_sim_close(s, s->trace_slot[ev->conn], server, ev->t)) != 0)
                    return rc;
            }
            next_arr = tpos < s->trace.nev ? s->trace.ev[tpos].t : EP_NEVER;
            continue;
        }
        {
            uint32_t slot, d = ep_sim_pick_dest(s);
            uint32_t owner = w->quota ? 1 + (uint32_t)(narr % w->owners) : 0;
            ep_time now = next_arr;
            narr++;
            if ((rc = ep_sim_connect(s, d, owner, now, &slot)) != 0)
                return rc;
            if (slot != EP_SIM_NONE &&
                (rc = ep_eventq_push(&s->q, now + ep_sim_conn_duration(s), slot)) != 0)
                goto queue_failed;
        }
        switch (w->arrivals) {
        case EP_ARR_POISSON:
            poisson_t += ep_sim_rng_exponential(&s->rng, conn_gap);
            next_arr = ep_sim_ns(poisson_t);
            break;
        case EP_ARR_BURST:
            if (++in_group < w->burst)
                break; /* the rest of the burst, same instant */
            in_group = 0;
            next_arr = ep_sim_ns(++ngroup * group_gap);
            break;
        default:
            next_arr = ep_sim_ns(narr * conn_gap);
            break;
        }
    }
    return 0;
queue_failed:
    if (rc == -ENOMEM)
        snprintf(s->msg, s->msglen, "out of memory (%llu open connections)",
                 (unsigned long long)s->open);
    else /* a close due before the last one handled: a bug, not an input */
        snprintf(s->msg, s->msglen, "internal error: the close queue refused an event (%s)",
                 strerror(-rc));
    return rc;
}

int ep_sim_run(const ep_workload *w, const ep_sim_options *o, ep_sim_result *res, char *msg,
               size_t len)
{
    ep_sim s;
    int rc;

    memset(&s, 0, sizeof s);
    memset(res, 0, sizeof *res);
    s.w = w;
    s.res = res;
    s.msg = msg;
    s.msglen = len;
    /* Constant durations with generated arrivals: closes come due in the
     * order connections open, so a FIFO ring replaces the heap. */
    ep_eventq_init(&s.q, w->arrivals != EP_ARR_TRACE && w->duration.kind == EP_DIST_CONSTANT);
    rc = ep_sim_setup(&s, w, res, o && o->reuse);
    if (rc == 0)
        rc = ep_sim_loop(&s, o);
    if (rc == 0) {
        ep_time end = ep_sim_ns(res->length);
        for (size_t d = 0; d < res->ndest; d++) {
            ep_sim_dest *dest = &res->dest[d];
            for (uint32_t i = 0; i < res->sources && rc == 0; i++) {
                ep_dest_stats st;
                ep_tuple t;
                ep_sim_dest_tuple(&s, (uint32_t)d, i, &t);
                rc = ep_pool_dest_stats(s.pool, &t, end, &st);
                if (rc != 0)
                    rc = ep_sim_fail(&s, "the engine refused %s: %s", "ep_pool_dest_stats", rc);
                else
                    dest->peak += st.high_water;
            }
            if (s.udp_shared) /* UDP has no TIME_WAIT: the open sockets are the held ports */
                dest->peak = (uint32_t)res->peak_open;
            if (s.ss_n) {
                dest->ss_mean = s.ss_sum[d] / (double)s.ss_n;
                dest->ss_mean_in_use = s.ss_sum_use[d] / (double)s.ss_n;
            }
        }
        if (s.last_use)
            ep_sim_reuse_finish(&s);
    }
    ep_sim_teardown(&s);
    if (rc != 0)
        ep_sim_result_free(res);
    return rc;
}

void ep_sim_result_free(ep_sim_result *res)
{
    free(res->dest);
    ep_series_free(&res->series);
    memset(res, 0, sizeof *res);
}

json_t *ep_sim_result_to_json(const ep_sim_result *res, bool with_series)
{
    json_t *o = json_object(), *fail = json_object(), *dests = json_array(), *reuse;
    const ep_sim_reuse *r = &res->reuse;

    if (!o || !fail || !dests) {
        json_decref(o);
        json_decref(fail);
        json_decref(dests);
        return NULL;
    }
    for (int c = 0; c < EP_FAIL__COUNT; c++)
        json_object_set_new(fail, ep_sim_cause_name(c), json_integer((json_int_t)res->failures[c]));
    for (size_t d = 0; d < res->ndest; d++) {
        const ep_sim_dest *dd = &res->dest[d];
        json_t *x = json_object();
        if (!x)
            continue;
        json_object_set_new(x, "destination", json_string(dd->name));
        json_object_set_new(x, "weight", json_real(dd->weight));
        json_object_set_new(x, "capacity", json_integer(dd->capacity));
        json_object_set_new(x, "peak", json_integer(dd->peak));
        json_object_set_new(x, "sampled_peak", json_integer(dd->sampled_peak));
        json_object_set_new(x, "attempts", json_integer((json_int_t)dd->attempts));
        json_object_set_new(x, "failures", json_integer((json_int_t)dd->failures));
        json_object_set_new(x, "first_failure", dd->first_failure < 0 ? json_null()
                                                                      : json_real(dd->first_failure));
        json_object_set_new(x, "steady_mean", json_real(dd->ss_mean));
        json_object_set_new(x, "steady_mean_in_use", json_real(dd->ss_mean_in_use));
        json_object_set_new(x, "steady_peak", json_integer(dd->ss_peak));
        json_object_set_new(x, "headroom", json_integer(ep_sim_headroom(dd)));
        json_array_append_new(dests, x);
    }
    reuse = r->predictor ? json_object() : NULL; /* NULL: not measured */
    if (reuse) {
        json_object_set_new(reuse, "connections", json_integer((json_int_t)r->connections));
        json_object_set_new(reuse, "reuses", json_integer((json_int_t)r->reuses));
        json_object_set_new(reuse, "mean", r->reuses ? json_real(r->mean) : json_null());
        json_object_set_new(reuse, "min", r->reuses ? json_integer((json_int_t)r->min) : json_null());
        json_object_set_new(reuse, "p5", r->reuses ? json_integer((json_int_t)r->p5) : json_null());
        json_object_set_new(reuse, "p5_at_least", json_boolean(r->p5_above));
        json_object_set_new(reuse, "predictions", json_integer((json_int_t)r->predictions));
        json_object_set_new(reuse, "predicted", json_integer((json_int_t)r->predicted));
        json_object_set_new(reuse, "predictability", json_real(r->predictability));
        json_object_set_new(reuse, "predictor", json_string(r->predictor ? r->predictor : ""));
    }
    json_object_set_new(o, "semantics", json_string(ep_semantics_name(res->semantics)));
    json_object_set_new(o, "udp_shared", json_boolean(res->udp_shared));
    json_object_set_new(o, "exhaustion_error", json_string(ep_err_name(res->exhausted_err)));
    json_object_set_new(o, "length", json_real(res->length));
    json_object_set_new(o, "range_ports", json_integer(res->range_ports));
    json_object_set_new(o, "effective_ports", json_integer(res->effective_ports));
    json_object_set_new(o, "sources", json_integer(res->sources));
    json_object_set_new(o, "requests", json_integer((json_int_t)res->requests));
    json_object_set_new(o, "attempts", json_integer((json_int_t)res->attempts));
    json_object_set_new(o, "connections", json_integer((json_int_t)res->connections));
    json_object_set_new(o, "closes", json_integer((json_int_t)res->closes));
    json_object_set_new(o, "peak_open", json_integer((json_int_t)res->peak_open));
    json_object_set_new(o, "failures", fail);
    json_object_set_new(o, "first_failure", res->first_failure < 0 ? json_null()
                                                                   : json_real(res->first_failure));
    json_object_set_new(o, "first_failure_error", res->first_failure < 0 ? json_null()
                        : json_string(ep_err_name(res->first_failure_err)));
    json_object_set_new(o, "destinations", dests);
    json_object_set_new(o, "reuse", reuse ? reuse : json_null());
    if (with_series) {
        json_t *ser = ep_series_to_json(&res->series);
        json_object_set_new(o, "series", ser ? ser : json_null());
    }
    return o;
}
