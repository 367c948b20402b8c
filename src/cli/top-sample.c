/* top-sample.c - one frame of `ephport top`: dump the TCP sockets on
 * ephemeral ports (conns.c in libephport-host) and count the connections new since the last
 * frame, by socket cookie, per destination; then take a host snapshot
 * (every destination), match its destinations to the previous frame's by
 * (protocol, local, remote, remote port), feed the new connections (or, in
 * the fallback, the counts) to the estimator (ephport/conn-rate.h) and build the
 * rows, with the time to exhaustion where tcp_tw_reuse shortens how long a
 * closed connection holds its port.  Where the eBPF tracer could be opened
 * (ep_top_trace_open), TCP rows take their rates from it instead: the
 * connect()s that got a port towards each destination, and those that
 * failed for want of one, counted by the kernel over exactly the frame. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <ephport/capacity.h>
#include <ephport/pool.h>

#include "cli.h"
#include <ephport/conns.h>

#include "top.h"

const char *const ep_top_sort_names[EP_TOP_NSORT] = { "pressure", "rate", "exhaustion",
                                                      "time-wait" };

double ep_top_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ep_top_key_of(const ep_host_dest *d, struct ep_top_key *k)
{
    memset(k, 0, sizeof *k);
    k->local = d->local;
    k->remote = d->remote;
    k->remote_port = d->remote_port;
    k->proto = d->proto;
}

static int ep_top_key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct ep_top_key));
}

/* TIME_WAIT as the kernel keeps it, for time to exhaustion (capacity.h:
 * 60 s plus the timer wheel's rounding), so "never" is never optimistic. */
static double ep_host_conns_len(const ep_host_dest *d, const ep_host_settings *s)
{
    if (d->proto != EP_PROTO_TCP || s->time_wait_s <= 0)
        return 0.0;
    return (double)ep_linux_time_wait_upper(EP_SEC(s->time_wait_s)) / 1e9;
}

/* Does tcp_tw_reuse let new connections to this destination take a port
 * still in TIME_WAIT?  The kernel's rule, from capacity.h. */
static bool ep_top_reuse_applies(const ep_host_dest *d, const ep_host_settings *s)
{
    return d->proto == EP_PROTO_TCP && s->tw_reuse != EP_HOST_UNKNOWN &&
           ep_linux_tw_reuse_applies((int)s->tw_reuse, &d->local, &d->remote);
}

/* How long a port stays unusable for this destination after a close: the
 * TIME_WAIT length, or tcp_tw_reuse_delay (1 s where the sysctl is absent)
 * when reuse applies.  The rate estimator always uses TIME_WAIT itself. */
static double ep_top_hold_len(const ep_host_dest *d, const ep_host_settings *s)
{
    if (ep_top_reuse_applies(d, s))
        return s->tw_reuse_delay_ms > 0 ? (double)s->tw_reuse_delay_ms / 1000.0 : 1.0;
    return ep_host_conns_len(d, s);
}

/* Compare rows for the chosen order; ties keep the snapshot's order. */
static enum ep_top_sort ep_top_cur_sort;

static int ep_top_row_cmp(const void *pa, const void *pb)
{
    const struct ep_top_row *a = pa, *b = pb;
    double x = 0, y = 0;
    switch (ep_top_cur_sort) {
    case EP_TOP_SORT_PRESSURE:
        x = b->d->pressure, y = a->d->pressure;
        break;
    case EP_TOP_SORT_RATE:
        x = isnan(b->rate) ? -1 : b->rate, y = isnan(a->rate) ? -1 : a->rate;
        break;
    case EP_TOP_SORT_EXHAUST:
        x = isnan(a->tte) ? INFINITY : a->tte, y = isnan(b->tte) ? INFINITY : b->tte;
        break;
    case EP_TOP_SORT_TW:
        x = b->d->time_wait, y = a->d->time_wait;
        break;
    default:
        break;
    }
    if (x < y)
        return -1;
    if (x > y)
        return 1;
    return a->d < b->d ? -1 : a->d > b->d;
}

void ep_top_sort_rows(struct ep_top_state *st)
{
    ep_top_cur_sort = st->o.sort;
    if (st->nrows > 1)
        qsort(st->rows, st->nrows, sizeof *st->rows, ep_top_row_cmp);
}

/* A connection seen for the first time, and its destination. */
struct ep_top_new {
    struct ep_top_key key;
    uint64_t cookie;
};

static int ep_top_new_cmp(const void *pa, const void *pb)
{
    const struct ep_top_new *a = pa, *b = pb;
    int c = ep_top_key_cmp(&a->key, &b->key);
    if (c)
        return c;
    return a->cookie < b->cookie ? -1 : a->cookie > b->cookie;
}

/* The socket dump of one frame: which connections are new (ep_top_arrivals)
 * and their destinations. */
struct ep_top_count_ctx {
    ep_top_arrivals *a;
    double start, tw_len;
    struct ep_top_new *news;
    size_t n, cap;
    bool nomem;
    uint64_t netns;        /* the key's namespace (--all-namespaces), else 0 */
};

static void ep_top_count_one(const ep_host_conn *tw, void *arg)
{
    struct ep_top_count_ctx *c = arg;
    struct ep_top_new *k;
    double tw_left = tw->state == TCP_TIME_WAIT ? tw->expires_ms / 1000.0 : -1.0;

    if (!ep_top_arrivals_add(c->a, tw->cookie, tw_left, ep_top_now() - c->start, c->tw_len))
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        k = realloc(c->news, cap * sizeof *k);
        if (!k) {
            c->nomem = true;
            return;
        }
        c->news = k;
        c->cap = cap;
    }
    k = &c->news[c->n++];
    memset(k, 0, sizeof *k);
    k->key.local = tw->local;
    k->key.remote = tw->remote;
    k->key.remote_port = tw->remote_port;
    k->key.proto = EP_PROTO_TCP;
    k->key.netns = c->netns;
    k->cookie = tw->cookie;
}

/* Dump the TCP sockets and collect the new connections, sorted by
 * destination and cookie (*news, freed by the caller).  Taken before the
 * snapshot, so the port range and TIME_WAIT length come from the previous
 * frame; the first frame dumps every port: it only records what is there.
 * Returns 0 or a negative errno (then nothing is counted this frame). */
static int ep_top_count_new(struct ep_top_state *st, struct ep_top_new **news, size_t *n)
{
    const ep_host_settings *s = st->snap ? ep_host_snapshot_settings(st->snap) : NULL;
    struct ep_top_count_ctx c = { &st->arrivals, st->start, 60.0, NULL, 0, 0, false, 0 };
    uint16_t lo = 0, hi = 65535;
    int rc;

    if (s && s->port_lo != EP_HOST_UNKNOWN && s->port_hi != EP_HOST_UNKNOWN)
        lo = (uint16_t)s->port_lo, hi = (uint16_t)s->port_hi;
    if (s && s->time_wait_s > 0)
        c.tw_len = (double)s->time_wait_s;
    ep_top_arrivals_begin(&st->arrivals, ep_top_now() - st->start);
    rc = ep_host_conns_dump(st->o.netns, lo, hi, EP_HOST_CONN_STATES, ep_top_count_one, &c);
    if (rc == 0 && c.nomem)
        rc = EP_ENOMEM;
    if (rc == 0)
        rc = ep_top_arrivals_end(&st->arrivals);
    else
        ep_top_arrivals_abort(&st->arrivals);
    if (rc < 0) {
        free(c.news);
        return rc;
    }
    if (c.n > 1)
        qsort(c.news, c.n, sizeof *c.news, ep_top_new_cmp);
    *news = c.news;
    *n = c.n;
    return 0;
}

/* Distinct cookies towards destination k in the sorted list (a dump can
 * show a socket twice when the table changes under it). */
static uint32_t ep_top_new_count(const struct ep_top_new *news, size_t n,
                                 const struct ep_top_key *k)
{
    size_t lo = 0, hi = n;
    uint32_t count = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ep_top_key_cmp(&news[mid].key, k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < n && ep_top_key_cmp(&news[i].key, k) == 0; i++)
        count += i == lo || news[i].cookie != news[i - 1].cookie;
    return count;
}

/* The namespace counters behind EP_TOP_NS_*, NAN where unreadable. */
static void ep_top_ns_counters(const ep_host_snapshot *snap, double out[EP_TOP_NS_N])
{
    static const char *const names[EP_TOP_NS_N] = { "Tcp.ActiveOpens", "TcpExt.TWRecycled" };
    const ep_host_counter *c;
    size_t n;

    c = ep_host_snapshot_counters(snap, &n);
    for (int k = 0; k < EP_TOP_NS_N; k++) {
        out[k] = NAN;
        for (size_t i = 0; i < n; i++)
            if (strcmp(c[i].name, names[k]) == 0 && c[i].value != EP_HOST_UNKNOWN)
                out[k] = (double)c[i].value;
    }
}

/* Open the tracer on top's namespace, or note why the rates stay
 * estimated.  EP_TOP_NO_TRACE=1 keeps the estimator (its tests). */
void ep_top_trace_open(struct ep_top_state *st)
{
    /* --all-namespaces: every namespace (each destination keyed by its inode) */
    ep_trace_opts o = { .netns = st->o.all ? NULL
                                 : st->o.netns ? st->o.netns : "/proc/self/ns/net" };
    const char *off = getenv("EP_TOP_NO_TRACE");
    char why[400];

    if (off && *off == '1') {
        snprintf(st->trace_why, sizeof st->trace_why, "EP_TOP_NO_TRACE is set");
        return;
    }
    if (ep_trace_open(&o, &st->trace, why, sizeof why) != 0)
        snprintf(st->trace_why, sizeof st->trace_why, "cannot trace: %s", why);
}

/* Say once why the rates are estimated: after the first sample that
 * worked (a --netns that cannot be used is the snapshot's error to report
 * first), on stderr in batch mode; the terminal view's header says it. */
static void ep_top_trace_say_why(struct ep_top_state *st)
{
    if (st->trace || st->trace_said || !st->trace_why[0])
        return;
    st->trace_said = true;
    if (st->o.batch)
        fprintf(stderr, "ephport top: TCP rates estimated from socket dumps (%s)\n",
                st->trace_why);
}

struct ep_top_traced {
    struct ep_top_key key;
    const ep_trace_dest *d;
};

static int ep_top_traced_cmp(const void *a, const void *b)
{
    return ep_top_key_cmp(&((const struct ep_top_traced *)a)->key,
                          &((const struct ep_top_traced *)b)->key);
}

static int ep_top_drop_failure(const ep_trace_failure *f, void *arg)
{
    (void)f;
    (void)arg;
    return 0; /* top shows rates; the events are `ephport trace`'s */
}

/* The tracer's counts since the last frame, by destination (sorted for
 * bsearch; *out freed by the caller), and the interval's length.  false when
 * there is no tracer or this interval lost counts (then the estimator's
 * rates stand: a count short is never shown as exact). */
static bool ep_top_trace_take(struct ep_top_state *st, ep_trace_interval *iv,
                              struct ep_top_traced **out, double *secs)
{
    struct ep_top_traced *v;

    *out = NULL;
    if (!st->trace)
        return false;
    while (ep_trace_poll(st->trace, 0, ep_top_drop_failure, NULL) > 0)
        ;
    if (ep_trace_interval_take(st->trace, iv) != 0 || iv->lost_counts || iv->lost_calls ||
        iv->end_ns <= iv->start_ns)
        return false;
    v = iv->ndests ? calloc(iv->ndests, sizeof *v) : NULL;
    if (iv->ndests && !v)
        return false;
    for (size_t i = 0; i < iv->ndests; i++) {
        v[i].key.local = iv->dests[i].local;
        v[i].key.remote = iv->dests[i].remote;
        v[i].key.remote_port = iv->dests[i].remote_port;
        v[i].key.proto = (uint8_t)iv->dests[i].proto;
        v[i].key.netns = st->o.all ? iv->dests[i].netns : 0;
        v[i].d = &iv->dests[i];
    }
    if (iv->ndests > 1)
        qsort(v, iv->ndests, sizeof *v, ep_top_traced_cmp);
    *out = v;
    *secs = (double)(iv->end_ns - iv->start_ns) / 1e9;
    return true;
}

/* What one frame read: the snapshots, each with its namespace when
 * --all-namespaces (else one snapshot, ns NULL). */
struct ep_top_view {
    const ep_host_snapshot *snap;
    const ep_host_netns_info *ns;
};

/* The frame's counting and tracing, shared by every row. */
struct ep_top_frame {
    bool first, counted, use_trace;
    double t_prev, t_dump_prev, t_dump, tsecs;
    const struct ep_top_new *news;
    size_t nnew;
    const struct ep_top_traced *traced;
    size_t ntraced;
};

/* One destination's row: its key, its track carried over from the last
 * frame, its rate (counted, estimated or traced), its time to exhaustion. */
static void ep_top_fill_row(struct ep_top_state *st, const struct ep_top_frame *f,
                            const ep_host_dest *d, const ep_host_settings *s,
                            const ep_host_netns_info *ns, struct ep_top_entry *ent,
                            struct ep_top_row *row)
{
    ep_top_track *tr = &ent->track;
    struct ep_top_entry *old;
    /* TCP rates come from the dumps (at their times), unless the run fell
     * back to inferring them; UDP's from the snapshots. */
    bool by_dump = d->proto == EP_PROTO_TCP && st->counting;

    ep_top_key_of(d, &ent->key);
    ent->key.netns = ns ? ns->inode : 0;
    old = st->nentries ? bsearch(&ent->key, st->entries, st->nentries, sizeof *ent,
                                 ep_top_key_cmp)
                       : NULL;
    row->d = d;
    row->ns = ns;
    row->rate = NAN;
    if (old)
        *tr = old->track;
    else if (f->first && by_dump)
        ep_top_track_init(tr, f->t_dump, 0, 0, true);
    else if (f->first)
        ep_top_track_init(tr, st->t, d->used, d->time_wait, false);
    else /* it had no socket at the last sample */
        ep_top_track_init(tr, by_dump ? f->t_dump_prev : f->t_prev, 0, 0, true);
    if (f->first)
        ; /* rates need a second sample */
    else if (!by_dump)
        row->rate = ep_top_track_update(tr, st->t, d->used, d->time_wait,
                                        ep_host_conns_len(d, s));
    else if (f->counted)
        row->rate = ep_top_track_count(tr, f->t_dump, ep_top_new_count(f->news, f->nnew,
                                                                       &ent->key));
    /* else this frame's dump failed: unknown now, the next covers both */
    row->fail_rate = NAN;
    if (f->use_trace && d->proto == EP_PROTO_TCP) {
        /* Exact: the connect()s that got a port towards it, and those that
         * did not; none traced is an exact 0. */
        struct ep_top_traced want = { .key = ent->key };
        const struct ep_top_traced *hit =
            f->ntraced ? bsearch(&want, f->traced, f->ntraced, sizeof *f->traced,
                                 ep_top_traced_cmp)
                       : NULL;
        row->rate = hit ? (double)hit->d->successes / f->tsecs : 0.0;
        row->fail_rate = hit ? (double)(hit->d->eaddrnotavail + hit->d->eagain +
                                        hit->d->eaddrinuse) / f->tsecs
                             : 0.0;
    }
    if (d->free == EP_HOST_UNKNOWN || isnan(row->rate))
        row->tte = d->free == 0 ? 0.0 : NAN;
    else
        row->tte = ep_top_track_exhaustion(tr, row->rate, d->free, d->time_wait,
                                           ep_top_hold_len(d, s));
    row->reuse = ep_top_reuse_applies(d, s);
}

/* --all-namespaces: the node, then one socket dump per namespace read (each
 * on its own range), all counted as one frame's new connections: cookies
 * are unique across the host. */
static int ep_top_read_node(struct ep_top_state *st, ep_host_node **out, struct ep_top_new **news,
                            size_t *nnew, bool *counted)
{
    ep_host_node_options no;
    struct ep_top_count_ctx c = { &st->arrivals, st->start, 60.0, NULL, 0, 0, false, 0 };
    int rc;

    ep_host_node_options_init(&no);
    no.host.top = 0; /* every destination: rates need them all */
    rc = ep_host_node_take(&no, out);
    if (rc < 0)
        return rc;
    *counted = false;
    if (!st->counting && st->node)
        return 0;
    ep_top_arrivals_begin(&st->arrivals, ep_top_now() - st->start);
    rc = 0;
    for (size_t i = 0; i < ep_host_node_count(*out) && rc == 0; i++) {
        const ep_host_netns_info *ns = ep_host_node_netns(*out, i);
        const ep_host_snapshot *s = ep_host_node_snapshot(*out, i, NULL);
        const ep_host_settings *set;
        int r;
        if (!s)
            continue;
        set = ep_host_snapshot_settings(s);
        if (set->port_lo == EP_HOST_UNKNOWN || set->port_hi == EP_HOST_UNKNOWN)
            continue;
        c.netns = ns->inode;
        c.tw_len = set->time_wait_s > 0 ? (double)set->time_wait_s : 60.0;
        r = ep_host_conns_dump(ns->self ? NULL : ns->path, (uint16_t)set->port_lo,
                               (uint16_t)set->port_hi, EP_HOST_CONN_STATES, ep_top_count_one, &c);
        /* a namespace gone since the node was read has nothing to count */
        if (r < 0 && r != -ENOENT && r != -ESTALE)
            rc = r;
    }
    if (rc == 0 && c.nomem)
        rc = EP_ENOMEM;
    if (rc == 0)
        rc = ep_top_arrivals_end(&st->arrivals);
    else
        ep_top_arrivals_abort(&st->arrivals);
    if (rc < 0) {
        free(c.news);
        return 0;   /* the node is read; only the counting failed this frame */
    }
    if (c.n > 1)
        qsort(c.news, c.n, sizeof *c.news, ep_top_new_cmp);
    *news = c.news;
    *nnew = c.n;
    *counted = true;
    return 0;
}

/* Take a snapshot (or, with --all-namespaces, the whole node) and update
 * rates.  Returns 0 or a negative errno. */
int ep_top_sample(struct ep_top_state *st)
{
    ep_host_snapshot *snap = NULL;
    ep_host_node *node = NULL;
    struct ep_top_view *views = NULL, one;
    struct ep_top_entry *ents;
    struct ep_top_row *rows;
    struct ep_top_new *news = NULL;
    struct ep_top_traced *traced = NULL;
    struct ep_top_frame f = { 0 };
    ep_trace_interval iv;
    size_t n = 0, total = 0, nviews = 0, k = 0;
    int rc;

    f.first = !st->snap && !st->node;
    f.t_prev = st->t;
    if (f.first)
        st->start = ep_top_now();
    f.t_dump_prev = st->arrivals.t_prev;
    if (st->o.all) {
        rc = ep_top_read_node(st, &node, &news, &f.nnew, &f.counted);
        if (rc < 0)
            return rc;
        if (f.first)
            st->counting = f.counted;
        views = calloc(ep_host_node_count(node) ? ep_host_node_count(node) : 1, sizeof *views);
        if (!views) {
            free(news);
            ep_host_node_free(node);
            return EP_ENOMEM;
        }
        for (size_t i = 0; i < ep_host_node_count(node); i++) {
            const ep_host_snapshot *s = ep_host_node_snapshot(node, i, NULL);
            if (s)
                views[nviews++] = (struct ep_top_view){ s, ep_host_node_netns(node, i) };
        }
    } else {
        ep_host_options hopts;
        /* New connections from the socket dump (ephport/conn-rate.h), then the snapshot. */
        if (f.first || st->counting)
            f.counted = ep_top_count_new(st, &news, &f.nnew) == 0;
        if (f.first)
            st->counting = f.counted;
        ep_host_options_init(&hopts);
        hopts.netns = st->o.netns;
        hopts.top = 0; /* every destination: rates need them all */
        rc = ep_host_snapshot_take(&hopts, &snap);
        if (rc < 0) {
            free(news);
            return rc;
        }
        one = (struct ep_top_view){ snap, NULL };
        views = &one;
        nviews = 1;
    }
    f.t_dump = st->arrivals.t_prev; /* this frame's dump, when counted */
    f.news = news;
    st->t = ep_top_now() - st->start;
    ep_top_trace_say_why(st);
    /* The tracer's interval ends with this frame's snapshot. */
    f.use_trace = ep_top_trace_take(st, &iv, &traced, &f.tsecs) && !f.first;
    f.traced = traced;
    f.ntraced = traced ? iv.ndests : 0;

    for (size_t v = 0; v < nviews; v++) {
        size_t nd, tot;
        ep_host_snapshot_dests(views[v].snap, &nd, &tot);
        n += nd;
        total += tot;
    }
    ents = n ? calloc(n, sizeof *ents) : NULL;
    rows = n ? calloc(n, sizeof *rows) : NULL;
    if (n && (!ents || !rows)) {
        free(ents);
        free(rows);
        free(news);
        free(traced);
        if (views != &one)
            free(views);
        ep_host_snapshot_free(snap);
        ep_host_node_free(node);
        return EP_ENOMEM;
    }
    for (size_t v = 0; v < nviews; v++) {
        size_t nd;
        const ep_host_dest *dests = ep_host_snapshot_dests(views[v].snap, &nd, NULL);
        const ep_host_settings *s = ep_host_snapshot_settings(views[v].snap);
        for (size_t i = 0; i < nd; i++, k++)
            ep_top_fill_row(st, &f, &dests[i], s, views[v].ns, &ents[k], &rows[k]);
    }
    assert(k == n);
    free(news);
    free(traced);
    if (views != &one)
        free(views);
    st->traced = f.use_trace;
    if (n > 1)
        qsort(ents, n, sizeof *ents, ep_top_key_cmp);
    st->tw_timers = st->counting && f.counted;

    {
        double cur[EP_TOP_NS_N];
        /* Namespace counters are one namespace's: unknown across a node. */
        if (snap)
            ep_top_ns_counters(snap, cur);
        else
            for (int c = 0; c < EP_TOP_NS_N; c++)
                cur[c] = NAN;
        for (int c = 0; c < EP_TOP_NS_N; c++) {
            double d = cur[c] - st->ns_prev[c];
            /* NAN propagates: unknown now or before, or no previous frame. */
            st->ns_rate[c] = !f.first && st->t > f.t_prev && d >= 0 ? d / (st->t - f.t_prev)
                                                                    : NAN;
            st->ns_prev[c] = cur[c];
        }
    }
    free(st->entries);
    free(st->rows);
    if (!f.first)
        st->have_prev = true;
    if (st->snap)
        ep_host_snapshot_free(st->snap);
    ep_host_node_free(st->node);
    st->entries = ents;
    st->nentries = n;
    st->rows = rows;
    st->nrows = n;
    st->total = total;
    st->snap = snap;
    st->node = node;
    ep_top_sort_rows(st);
    return 0;
}

void ep_top_state_free(struct ep_top_state *st)
{
    ep_trace_close(st->trace);
    ep_top_arrivals_free(&st->arrivals);
    free(st->entries);
    free(st->rows);
    if (st->snap)
        ep_host_snapshot_free(st->snap);
    ep_host_node_free(st->node);
}

void ep_top_read_error(const struct ep_top_state *st, int err)
{
    if (st->o.all)
        ep_cli_error("top", "cannot list this host's network namespaces: %s",
                     ep_host_strerror(err));
    else if (st->o.netns)
        ep_cli_error("top", "cannot read namespace '%s': %s", st->o.netns,
                     ep_host_strerror(err));
    else
        ep_cli_error("top", "cannot read this host: %s", strerror(-err));
}
