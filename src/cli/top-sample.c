/* top-sample.c - one frame of `ephport top`: take a host snapshot (every
 * destination), match its destinations to the previous frame's by (protocol,
 * local, remote, remote port), feed their counts to the estimator
 * (top-rate.c) and build the rows, with the time to exhaustion where
 * tcp_tw_reuse shortens how long a closed connection holds its port. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <ephport/pool.h>

#include "cli.h"
#include "top-tw.h"
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

static double ep_top_tw_len(const ep_host_dest *d, const ep_host_settings *s)
{
    return d->proto == EP_PROTO_TCP ? (double)s->time_wait_s : 0.0;
}

static bool ep_top_is_loopback(const ep_addr *a)
{
    static const uint8_t v6_loop[16] = { [15] = 1 };
    static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
    if (a->family == AF_INET)
        return a->u.bytes[0] == 127;
    if (a->family == AF_INET6)
        return memcmp(a->u.bytes, v6_loop, 16) == 0 ||
               (memcmp(a->u.bytes, v4_mapped, 12) == 0 && a->u.bytes[12] == 127);
    return false;
}

/* Does tcp_tw_reuse let new connections to this destination take a port
 * still in TIME_WAIT?  1: any destination; 2: loopback only (the kernel's
 * test: either address in 127.0.0.0/8, ::ffff:127.0.0.0/104 or ::1).  Both
 * need TCP timestamps, on by default. */
static bool ep_top_reuse_applies(const ep_host_dest *d, const ep_host_settings *s)
{
    if (d->proto != EP_PROTO_TCP)
        return false;
    if (s->tw_reuse == 1)
        return true;
    return s->tw_reuse == 2 && (ep_top_is_loopback(&d->local) || ep_top_is_loopback(&d->remote));
}

/* How long a port stays unusable for this destination after a close: the
 * TIME_WAIT length, or tcp_tw_reuse_delay (1 s where the sysctl is absent)
 * when reuse applies.  The rate estimator always uses TIME_WAIT itself. */
static double ep_top_hold_len(const ep_host_dest *d, const ep_host_settings *s)
{
    if (ep_top_reuse_applies(d, s))
        return s->tw_reuse_delay_ms > 0 ? (double)s->tw_reuse_delay_ms / 1000.0 : 1.0;
    return ep_top_tw_len(d, s);
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

struct ep_top_seed_ctx {
    struct ep_top_entry *ents;
    size_t n;
    double t_dump;     /* when the dump was taken, seconds since start */
    double tw_len;
};

static void ep_top_seed_one(const ep_top_tw *tw, void *arg)
{
    struct ep_top_seed_ctx *c = arg;
    struct ep_top_entry key, *e;

    memset(&key, 0, sizeof key);
    key.key.local = tw->local;
    key.key.remote = tw->remote;
    key.key.remote_port = tw->remote_port;
    key.key.proto = EP_PROTO_TCP;
    e = bsearch(&key, c->ents, c->n, sizeof *c->ents, ep_top_key_cmp);
    if (e)
        ep_top_track_seed(&e->track, c->t_dump - (c->tw_len - tw->expires_ms / 1000.0), 1);
}

/* First sample only: read the TIME_WAIT timers once so the entries already
 * there expire when the kernel will expire them (top-tw.h).  On failure the
 * estimator keeps assuming them evenly aged; returns 0 or a negative errno. */
static int ep_top_seed_ages(struct ep_top_state *st, const ep_host_settings *s,
                            struct ep_top_entry *ents, size_t n)
{
    struct ep_top_seed_ctx c = { ents, n, 0.0, (double)s->time_wait_s };
    if (n == 0)
        return 0; /* no entry of unknown age */
    if (s->port_lo == EP_HOST_UNKNOWN || s->port_hi == EP_HOST_UNKNOWN || s->time_wait_s <= 0)
        return -ENODATA;
    c.t_dump = ep_top_now() - st->start;
    return ep_top_tw_dump(st->o.netns, (uint16_t)s->port_lo, (uint16_t)s->port_hi,
                          ep_top_seed_one, &c);
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

/* Take a snapshot and update rates.  Returns 0 or a negative errno. */
int ep_top_sample(struct ep_top_state *st)
{
    ep_host_options hopts;
    ep_host_snapshot *snap;
    const ep_host_settings *s;
    const ep_host_dest *dests;
    struct ep_top_entry *ents;
    struct ep_top_row *rows;
    size_t n, total;
    double now, t_prev = st->t;
    int rc;

    ep_host_options_init(&hopts);
    hopts.netns = st->o.netns;
    hopts.top = 0; /* every destination: rates need them all */
    rc = ep_host_snapshot_take(&hopts, &snap);
    if (rc < 0)
        return rc;
    now = ep_top_now();
    if (!st->have_prev && !st->snap)
        st->start = now;
    st->t = now - st->start;

    s = ep_host_snapshot_settings(snap);
    dests = ep_host_snapshot_dests(snap, &n, &total);
    ents = n ? calloc(n, sizeof *ents) : NULL;
    rows = n ? calloc(n, sizeof *rows) : NULL;
    if (n && (!ents || !rows)) {
        free(ents);
        free(rows);
        ep_host_snapshot_free(snap);
        return EP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const ep_host_dest *d = &dests[i];
        struct ep_top_entry *old;
        double tw = ep_top_tw_len(d, s);

        ep_top_key_of(d, &ents[i].key);
        old = st->nentries ? bsearch(&ents[i].key, st->entries, st->nentries, sizeof *ents,
                                     ep_top_key_cmp)
                           : NULL;
        rows[i].d = d;
        if (old) {
            ents[i].track = old->track;
            rows[i].rate = ep_top_track_update(&ents[i].track, st->t, d->used, d->time_wait, tw);
        } else if (st->snap) {
            /* New since the last frame: it had no socket then. */
            ep_top_track_init(&ents[i].track, t_prev, 0, 0, true);
            rows[i].rate = ep_top_track_update(&ents[i].track, st->t, d->used, d->time_wait, tw);
        } else {
            ep_top_track_init(&ents[i].track, st->t, d->used, d->time_wait, false);
            rows[i].rate = NAN;
        }
        if (d->free == EP_HOST_UNKNOWN || isnan(rows[i].rate))
            rows[i].tte = d->free == 0 ? 0.0 : NAN;
        else
            rows[i].tte = ep_top_time_to_exhaustion(rows[i].rate, d->free, d->time_wait,
                                                    ep_top_hold_len(d, s));
        rows[i].reuse = ep_top_reuse_applies(d, s);
    }
    if (n > 1)
        qsort(ents, n, sizeof *ents, ep_top_key_cmp);
    if (!st->snap)
        st->tw_timers = ep_top_seed_ages(st, s, ents, n) == 0;

    {
        double cur[EP_TOP_NS_N];
        ep_top_ns_counters(snap, cur);
        for (int k = 0; k < EP_TOP_NS_N; k++) {
            double d = cur[k] - st->ns_prev[k];
            /* NAN propagates: unknown now or before, or no previous frame. */
            st->ns_rate[k] = st->snap && st->t > t_prev && d >= 0 ? d / (st->t - t_prev) : NAN;
            st->ns_prev[k] = cur[k];
        }
    }
    free(st->entries);
    free(st->rows);
    if (st->snap) {
        ep_host_snapshot_free(st->snap);
        st->have_prev = true;
    }
    st->entries = ents;
    st->nentries = n;
    st->rows = rows;
    st->nrows = n;
    st->total = total;
    st->snap = snap;
    ep_top_sort_rows(st);
    return 0;
}

void ep_top_state_free(struct ep_top_state *st)
{
    free(st->entries);
    free(st->rows);
    if (st->snap)
        ep_host_snapshot_free(st->snap);
}

void ep_top_read_error(const struct ep_top_state *st, int err)
{
    if (st->o.netns)
        ep_cli_error("top", "cannot read network namespace '%s': %s", st->o.netns,
                     strerror(-err));
    else
        ep_cli_error("top", "cannot read this host: %s", strerror(-err));
}
