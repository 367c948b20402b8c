/* top-snat.c - `ephport top --snat`: a NAT box's source NAT units live.
 * Each frame reads the namespace's conntrack table (ep_snat_take,
 * ephport/snat.h) and compares it with the previous frame: per unit
 * (translated source address, protocol, destination address and port,
 * zone) how fast its used ports grow and when it runs out at that pace,
 * and the conntrack statistics per second (insert_failed and drop count the
 * flows NAT could not give a port).  Batch frames (text, --json) or the
 * terminal view; the reading is libephport-host's, this file samples,
 * differentiates and renders.
 *
 * Growth is net: ports taken minus ports freed between two frames, from
 * the table itself (no events), so a unit whose flows turn over at a steady
 * count grows 0 however busy it is; insert_failed per second is what says
 * flows are being refused. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curses.h>
#include <jansson.h>

#include <ephport/conn-rate.h>
#include <ephport/snat-json.h>
#include <ephport/snat.h>

#include "cli.h"
#include "screen.h"
#include "top.h"

/* A unit's identity across frames (memcmp: ep_addr keeps padding zero). */
struct ep_ts_key {
    ep_addr nat, dst;
    uint16_t dst_port, zone;
    uint8_t proto;
    uint8_t pad_[3];
};

struct ep_ts_prev {
    struct ep_ts_key key;
    uint32_t used;
};

struct ep_ts_row {
    const ep_snat_unit *u;
    double growth;          /* used ports per second, net; NAN on the first frame */
    double tte;             /* seconds until free is 0 at that growth; INFINITY:
                               not growing; NAN: unknown */
};

/* The statistics turned into rates, in this order. */
enum { EP_TS_INSERT_FAILED, EP_TS_DROP, EP_TS_EARLY_DROP, EP_TS_SEARCH_RESTART,
       EP_TS_CLASH_RESOLVE, EP_TS_NSTATS };
static const char *const ep_ts_stat_names[EP_TS_NSTATS] = {
    "insert_failed", "drop", "early_drop", "search_restart", "clash_resolve",
};

struct ep_ts_state {
    struct ep_top_opts o;
    ep_snat_options so;
    ep_snat *cur;
    double t_cur, t_prev;    /* CLOCK_MONOTONIC of the samples */
    bool have_prev;
    struct ep_ts_prev *prev; /* sorted by key */
    size_t nprev;
    int64_t stats_prev[EP_TS_NSTATS];
    double stat_rate[EP_TS_NSTATS]; /* NAN: unknown */
    struct ep_ts_row *rows;
    size_t nrows;
};

static int ep_ts_key_cmp(const void *a, const void *b)
{
    return memcmp(&((const struct ep_ts_prev *)a)->key, &((const struct ep_ts_prev *)b)->key,
                  sizeof(struct ep_ts_key));
}

static struct ep_ts_key ep_ts_key_of(const ep_snat_unit *u)
{
    struct ep_ts_key k;
    memset(&k, 0, sizeof k);
    k.nat = u->nat_addr;
    k.dst = u->dst;
    k.dst_port = u->dst_port;
    k.zone = u->zone;
    k.proto = u->proto;
    return k;
}

static void ep_ts_stats(const ep_snat_stats *st, int64_t out[EP_TS_NSTATS])
{
    out[EP_TS_INSERT_FAILED] = st->insert_failed;
    out[EP_TS_DROP] = st->drop;
    out[EP_TS_EARLY_DROP] = st->early_drop;
    out[EP_TS_SEARCH_RESTART] = st->search_restart;
    out[EP_TS_CLASH_RESOLVE] = st->clash_resolve;
}

static double ep_ts_row_key(const struct ep_ts_row *r, enum ep_top_sort sort)
{
    switch (sort) {
    case EP_TOP_SORT_RATE:
        return isnan(r->growth) ? -INFINITY : r->growth;
    case EP_TOP_SORT_EXHAUST:
        return isnan(r->tte) ? -INFINITY : -r->tte; /* soonest first */
    case EP_TOP_SORT_TW:
        return r->u->closing;
    default:
        return 0; /* pressure: the library's order (least headroom first) */
    }
}

static enum ep_top_sort ep_ts_sort_by;

static int ep_ts_row_cmp(const void *a, const void *b)
{
    const struct ep_ts_row *x = a, *y = b;
    double kx = ep_ts_row_key(x, ep_ts_sort_by), ky = ep_ts_row_key(y, ep_ts_sort_by);
    if (kx != ky)
        return kx > ky ? -1 : 1;
    return x->u < y->u ? -1 : x->u > y->u; /* then the library's order */
}

static void ep_ts_sort(struct ep_ts_state *st)
{
    ep_ts_sort_by = st->o.sort;
    qsort(st->rows, st->nrows, sizeof *st->rows, ep_ts_row_cmp);
}

/* Read a frame and compare it with the previous one.  0 or negative errno. */
static int ep_ts_sample(struct ep_ts_state *st)
{
    ep_snat *s;
    const ep_snat_unit *u;
    size_t n;
    int64_t stats[EP_TS_NSTATS];
    int rc = ep_snat_take(&st->so, &s);

    if (rc < 0)
        return rc;
    /* What the frame before left: keep it for the differences. */
    if (st->cur) {
        const ep_snat_unit *pu = ep_snat_units(st->cur, &n, NULL);
        struct ep_ts_prev *p = realloc(st->prev, (n ? n : 1) * sizeof *p);
        if (!p) {
            ep_snat_free(s);
            return -ENOMEM;
        }
        st->prev = p;
        for (size_t i = 0; i < n; i++) {
            p[i].key = ep_ts_key_of(&pu[i]);
            p[i].used = pu[i].in_range;
        }
        st->nprev = n;
        qsort(st->prev, n, sizeof *st->prev, ep_ts_key_cmp);
        ep_ts_stats(ep_snat_statistics(st->cur), st->stats_prev);
        st->t_prev = st->t_cur;
        st->have_prev = true;
        ep_snat_free(st->cur);
    }
    st->cur = s;
    st->t_cur = ep_top_now();
    u = ep_snat_units(s, &n, NULL);
    struct ep_ts_row *rows = realloc(st->rows, (n ? n : 1) * sizeof *rows);
    if (!rows)
        return -ENOMEM;
    st->rows = rows;
    st->nrows = n;
    double dt = st->t_cur - st->t_prev;
    for (size_t i = 0; i < n; i++) {
        struct ep_ts_row *r = &rows[i];
        r->u = &u[i];
        r->growth = r->tte = NAN;
        if (!st->have_prev || !(dt > 0))
            continue;
        struct ep_ts_prev key = { .key = ep_ts_key_of(&u[i]) }, *was;
        was = bsearch(&key, st->prev, st->nprev, sizeof *st->prev, ep_ts_key_cmp);
        /* A unit absent before held no port then. */
        r->growth = ((double)u[i].in_range - (was ? (double)was->used : 0.0)) / dt;
        if (u[i].free < 0)
            r->tte = NAN;
        else if (u[i].free == 0)
            r->tte = 0;
        else
            r->tte = r->growth > 0 ? (double)u[i].free / r->growth : INFINITY;
    }
    ep_ts_stats(ep_snat_statistics(s), stats);
    for (int k = 0; k < EP_TS_NSTATS; k++)
        st->stat_rate[k] = st->have_prev && dt > 0 && stats[k] >= 0 && st->stats_prev[k] >= 0 &&
                                   stats[k] >= st->stats_prev[k]
                               ? (double)(stats[k] - st->stats_prev[k]) / dt
                               : NAN;
    ep_ts_sort(st);
    return 0;
}

static const char *ep_ts_proto(uint8_t p)
{
    return p == 6 ? "tcp" : p == 17 ? "udp" : p == 132 ? "sctp" : p == 33 ? "dccp" : "udplite";
}

static void ep_ts_fmt_num(int64_t v, char *buf, size_t len)
{
    if (v < 0)
        snprintf(buf, len, "?");
    else
        snprintf(buf, len, "%" PRId64, v);
}

static void ep_ts_fmt_rate(double r, char *buf, size_t len)
{
    if (isnan(r))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, fabs(r) < 10 ? "%+.1f" : "%+.0f", r);
}

/* Two header lines. */
static void ep_ts_fmt_header(const struct ep_ts_state *st, char *l1, char *l2, size_t len)
{
    const ep_snat *s = st->cur;
    char c[32], m[32], rates[256] = "";
    size_t n, total;

    ep_snat_units(s, &n, &total);
    ep_ts_fmt_num(ep_snat_conntrack_count(s), c, sizeof c);
    ep_ts_fmt_num(ep_snat_conntrack_max(s), m, sizeof m);
    snprintf(l1, len, "ephport top --snat%s%s: conntrack %s of %s entries, %" PRIu64
             " translated flows in %zu units (from %s)",
             ep_snat_netns(s) ? " in " : "", ep_snat_netns(s) ? ep_snat_netns(s) : "", c, m,
             ep_snat_flows(s), total,
             ep_snat_source(s) ? (strcmp(ep_snat_source(s), "proc") == 0
                                      ? "/proc/net/nf_conntrack" : "ctnetlink")
                               : "nowhere: see the notes");
    if (!st->have_prev) {
        snprintf(l2, len, "per second: rates appear after the second sample");
        return;
    }
    for (int k = 0; k < EP_TS_NSTATS; k++) {
        size_t at = strlen(rates);
        char v[32];
        if (isnan(st->stat_rate[k]))
            snprintf(v, sizeof v, "unknown");
        else
            snprintf(v, sizeof v, "%.1f", st->stat_rate[k]);
        snprintf(rates + at, sizeof rates - at, "%s%s %s", k ? ", " : "", ep_ts_stat_names[k],
                 v);
    }
    snprintf(l2, len, "per second: %s", rates);
}

static void ep_ts_fmt_colhead(char *buf, size_t len)
{
    snprintf(buf, len, "%-15s %-28s %-5s %6s %6s %6s %7s %7s %8s %12s  %s", "NAT ADDRESS",
             "DESTINATION", "PROTO", "USED", "FREE", "PORTS", "HEAD%", "CLOSING", "GROWTH/s",
             "EXHAUSTED IN", "RANGE");
}

static void ep_ts_fmt_row(const struct ep_ts_row *r, char *buf, size_t len)
{
    const ep_snat_unit *u = r->u;
    char nat[EP_ADDR_STRLEN] = "?", dst[EP_ADDR_STRLEN] = "?", d[EP_ADDR_STRLEN + 10];
    char fr[24], ports[24], head[16], growth[24], tte[24];

    ep_addr_format(&u->nat_addr, nat, sizeof nat);
    ep_addr_format(&u->dst, dst, sizeof dst);
    snprintf(d, sizeof d, u->dst.family == AF_INET6 ? "[%s]:%u" : "%s:%u", dst, u->dst_port);
    ep_ts_fmt_num(u->free, fr, sizeof fr);
    ep_ts_fmt_num(u->ports, ports, sizeof ports);
    if (u->headroom_pct < 0)
        snprintf(head, sizeof head, "?");
    else
        snprintf(head, sizeof head, "%.1f", u->headroom_pct);
    ep_ts_fmt_rate(r->growth, growth, sizeof growth);
    ep_top_fmt_tte(r->tte, tte, sizeof tte);
    snprintf(buf, len, "%-15s %-28s %-5s %6" PRIu32 " %6s %6s %7s %7" PRIu32 " %8s %12s  %u-%u %s%s",
             nat, d, ep_ts_proto(u->proto), u->in_range, fr, ports, head, u->closing, growth,
             tte, u->port_lo, u->port_hi, u->range_from,
             u->ambiguous ? " (narrowest of several)" : "");
}

static int ep_ts_print_text(const struct ep_ts_state *st, size_t nshow)
{
    char l1[512], l2[512], line[512];
    const ep_host_advice *a;
    const char *const *notes;
    size_t na, nn;

    ep_ts_fmt_header(st, l1, l2, sizeof l1);
    printf("%s\n%s\n", l1, l2);
    if (st->nrows) {
        ep_ts_fmt_colhead(line, sizeof line);
        printf("%s\n", line);
    }
    for (size_t i = 0; i < nshow; i++) {
        ep_ts_fmt_row(&st->rows[i], line, sizeof line);
        printf("%s\n", line);
    }
    if (st->nrows > nshow)
        printf("(%zu more units; --top 0 shows all)\n", st->nrows - nshow);
    a = ep_snat_advice(st->cur, &na);
    for (size_t i = 0; i < na; i++)
        printf("[%s] %s\n", ep_host_severity_name(a[i].severity), a[i].message);
    notes = ep_snat_notes(st->cur, &nn);
    for (size_t i = 0; i < nn; i++)
        printf("note: %s\n", notes[i]);
    printf("\n");
    return fflush(stdout) == 0 && !ferror(stdout) ? EP_EXIT_OK : EP_EXIT_FAILURE;
}

static json_t *ep_ts_real(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *ep_ts_frame_json(const struct ep_ts_state *st, size_t nshow)
{
    const ep_snat *s = st->cur;
    json_t *o, *units, *rates, *ja, *jn, *counts = ep_snat_to_json(s);
    const ep_host_advice *a;
    const char *const *notes;
    size_t n, total, na, nn;
    char tte[24];

    if (!counts)
        return NULL;
    ep_snat_units(s, &n, &total);
    rates = json_object();
    for (int k = 0; k < EP_TS_NSTATS; k++)
        json_object_set_new(rates, ep_ts_stat_names[k], ep_ts_real(st->stat_rate[k]));
    units = json_array();
    for (size_t i = 0; i < nshow; i++) {
        const struct ep_ts_row *r = &st->rows[i];
        json_t *u = ep_snat_unit_to_json(r->u);
        if (!u)
            continue;
        ep_top_fmt_tte(r->tte, tte, sizeof tte);
        json_object_set_new(u, "growth_per_second", ep_ts_real(r->growth));
        json_object_set_new(u, "seconds_to_exhaustion", ep_ts_real(r->tte));
        json_object_set_new(u, "exhausted_in", json_string(tte));
        json_array_append_new(units, u);
    }
    ja = json_array();
    a = ep_snat_advice(s, &na);
    for (size_t i = 0; i < na; i++)
        json_array_append_new(ja, json_pack("{s:s, s:s, s:s, s:s}", "severity",
                                            ep_host_severity_name(a[i].severity), "code",
                                            a[i].code, "message", a[i].message, "remedy",
                                            a[i].remedy));
    jn = json_array();
    notes = ep_snat_notes(s, &nn);
    for (size_t i = 0; i < nn; i++)
        json_array_append_new(jn, json_string(notes[i]));
    o = json_pack("{s:I, s:f, s:o, s:s, s:o, s:O, s:O, s:o, s:o, s:I, s:o, s:o}", "time",
                  (json_int_t)time(NULL), "interval_seconds", st->o.interval,
                  "sample_seconds", st->have_prev ? json_real(st->t_cur - st->t_prev) : json_null(),
                  "sort", ep_top_sort_names[st->o.sort], "netns",
                  json_incref(json_object_get(counts, "netns")), "source",
                  json_object_get(counts, "source"), "conntrack",
                  json_object_get(counts, "conntrack"), "per_second", rates, "units", units,
                  "units_total", (json_int_t)total, "advice", ja, "notes", jn);
    json_decref(counts);
    return o;
}

static int ep_ts_print_json(const struct ep_ts_state *st, size_t nshow)
{
    json_t *o = ep_ts_frame_json(st, nshow);
    int bad = !o || json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
              fputc('\n', stdout) == EOF || fflush(stdout) != 0;
    json_decref(o);
    return bad ? EP_EXIT_FAILURE : EP_EXIT_OK;
}

static int ep_ts_fail(const struct ep_ts_state *st, int rc)
{
    ep_cli_error("top", "cannot read conntrack%s%s: %s", st->o.netns ? " of " : "",
                 st->o.netns ? st->o.netns : "", strerror(-rc));
    return EP_EXIT_FAILURE;
}

static int ep_ts_run_batch(struct ep_ts_state *st)
{
    size_t top = st->o.top ? st->o.top : 20;
    long frames = 0;
    double next;
    int rc = ep_ts_sample(st);

    if (rc < 0)
        return ep_ts_fail(st, rc);
    next = st->t_cur;
    while (!ep_top_stop) {
        next += st->o.interval;
        ep_top_sleep_until(next);
        if (ep_top_stop)
            break;
        rc = ep_ts_sample(st);
        if (rc < 0)
            return ep_ts_fail(st, rc);
        size_t nshow = st->nrows < top ? st->nrows : top;
        if ((st->o.json ? ep_ts_print_json(st, nshow) : ep_ts_print_text(st, nshow)) !=
            EP_EXIT_OK) {
            ep_cli_error("top", "cannot write output");
            return EP_EXIT_FAILURE;
        }
        if (st->o.iterations && ++frames >= st->o.iterations)
            break;
    }
    return EP_EXIT_OK;
}

static void ep_ts_draw(const struct ep_ts_state *st)
{
    char l1[512], l2[512], line[512];
    const ep_host_advice *a;
    size_t na, room, nshow;
    int y = 0, rows = LINES, cols = COLS;

    erase();
    ep_ts_fmt_header(st, l1, l2, sizeof l1);
    mvaddnstr(y++, 0, l1, cols);
    mvaddnstr(y++, 0, l2, cols);
    y++;
    a = ep_snat_advice(st->cur, &na);
    room = rows > 8 ? (size_t)(rows - 5 - (na ? (na > 1 ? 3 : 2) : 0) - 1) : 1;
    nshow = st->nrows < room ? st->nrows : room;
    if (st->o.top && nshow > st->o.top)
        nshow = st->o.top;
    ep_ts_fmt_colhead(line, sizeof line);
    ep_screen_colhead(y++, line);
    for (size_t i = 0; i < nshow && y < rows - 1; i++) {
        const ep_snat_unit *u = st->rows[i].u;
        int pair = u->headroom_pct >= 0 && u->headroom_pct <= 5    ? EP_SCREEN_RED
                   : u->headroom_pct >= 0 && u->headroom_pct <= 20 ? EP_SCREEN_YELLOW
                                                                   : 0;
        ep_ts_fmt_row(&st->rows[i], line, sizeof line);
        ep_screen_row(y++, line, pair);
    }
    if (st->nrows > nshow && y < rows - 1) {
        snprintf(line, sizeof line, "(%zu more units)", st->nrows - nshow);
        mvaddnstr(y++, 0, line, cols);
    }
    y++;
    ep_screen_advice(y, a, na);
    snprintf(line, sizeof line, "q quit  s sort (%s)  +/- interval (%g s)",
             ep_top_sort_names[st->o.sort], st->o.interval);
    ep_screen_keys(line);
    refresh();
}

static int ep_ts_run_screen(struct ep_ts_state *st)
{
    SCREEN *scr;
    int rc = ep_ts_sample(st);

    if (rc < 0)
        return ep_ts_fail(st, rc);
    scr = ep_screen_open("top", "--batch");
    if (!scr)
        return EP_EXIT_FAILURE;
    ep_ts_draw(st);
    while (!ep_top_stop) {
        double left = st->t_cur + st->o.interval - ep_top_now();
        int ch;
        if (left <= 0) {
            rc = ep_ts_sample(st);
            if (rc < 0)
                break;
            ep_ts_draw(st);
            continue;
        }
        timeout((int)ceil(left * 1000.0));
        ch = getch();
        if (ch == ERR)
            continue; /* timeout or signal: the loop checks both */
        int act = ep_top_view_key(ch, &st->o);
        if (act < 0)
            break;
        if (act > 0)
            ep_ts_sort(st);
        ep_ts_draw(st); /* also after KEY_RESIZE */
    }
    ep_screen_close(scr);
    return rc < 0 ? ep_ts_fail(st, rc) : EP_EXIT_OK;
}

int ep_top_snat_run(const struct ep_top_opts *o)
{
    struct ep_ts_state st;
    int rc;

    memset(&st, 0, sizeof st);
    st.o = *o;
    ep_snat_options_init(&st.so);
    st.so.netns = o->netns;
    st.so.top = 0; /* every unit: growth needs them all, the view cuts */
    rc = st.o.batch ? ep_ts_run_batch(&st) : ep_ts_run_screen(&st);
    ep_snat_free(st.cur);
    free(st.prev);
    free(st.rows);
    return rc;
}
