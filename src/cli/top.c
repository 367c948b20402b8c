/* top.c - `ephport top`: a live view of a namespace's ephemeral ports per
 * destination, refreshed every interval, with each destination's
 * new-connection rate and the time to exhaustion at that rate.
 *
 * Each frame takes one host snapshot (ephport/host.h, every destination),
 * matches its destinations to the previous frame's by (protocol, local,
 * remote, remote port) and feeds their counts to the estimator in
 * top-rate.c.  On a terminal the frame is drawn with ncurses (erase + redraw,
 * ncurses sends only the difference, so nothing flickers); otherwise, or with
 * --batch/--once/--json, plain text or one JSON object per frame is printed.
 *
 * Signals: SIGINT and SIGTERM only set a flag; the loop (blocked in getch()
 * or nanosleep(), both interrupted) sees it, ends curses and returns, so the
 * terminal is restored on every way out.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#include <ephport/host.h>
#include <ephport/pool.h>

#include "cli.h"
#include "host-json.h"
#include "top-rate.h"

enum ep_top_sort { EP_TOP_SORT_PRESSURE, EP_TOP_SORT_RATE, EP_TOP_SORT_EXHAUST, EP_TOP_SORT_TW,
                   EP_TOP_NSORT };
static const char *const ep_top_sort_names[EP_TOP_NSORT] = { "pressure", "rate", "exhaustion",
                                                             "time-wait" };

/* Intervals the +/- keys step through. */
static const double ep_top_steps[] = { 0.25, 0.5, 1, 2, 5, 10, 30, 60 };
#define EP_TOP_NSTEPS (sizeof ep_top_steps / sizeof ep_top_steps[0])

struct ep_top_opts {
    double interval;
    const char *netns;
    size_t top;            /* 0: as many as fit (terminal) / 20 (batch) */
    long iterations;       /* batch frames to print; 0 = until interrupted */
    bool batch, json;
    enum ep_top_sort sort;
};

/* A destination's identity across frames; compared with memcmp (ep_addr
 * keeps its padding zero). */
struct ep_top_key {
    ep_addr local, remote;
    uint16_t remote_port;
    uint8_t proto;
    uint8_t pad_;
};

struct ep_top_entry {
    struct ep_top_key key;
    ep_top_track track;
};

struct ep_top_row {
    const ep_host_dest *d;
    double rate;           /* NAN until two samples exist */
    double tte;            /* seconds; INFINITY = never; NAN = unknown */
    bool reuse;            /* tcp_tw_reuse applies to this destination */
};

struct ep_top_state {
    struct ep_top_opts o;
    double start;          /* CLOCK_MONOTONIC at the first sample */
    double t;              /* seconds since start of the current frame */
    bool have_prev;
    struct ep_top_entry *entries; /* sorted by key */
    size_t nentries;
    ep_host_snapshot *snap;       /* current frame */
    struct ep_top_row *rows;
    size_t nrows, total;
};

static volatile sig_atomic_t ep_top_stop;

static void ep_top_on_signal(int sig)
{
    (void)sig;
    ep_top_stop = 1;
}

static void ep_top_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport top [--interval SEC] [--netns NAME|PATH] [--top N]\n"
            "                   [--sort pressure|rate|exhaustion|time-wait]\n"
            "                   [--once | --batch [--iterations N]] [--json] [--help]\n"
            "\n"
            "A live view of ephemeral ports per destination: used, TIME_WAIT, free,\n"
            "headroom, new connections per second (estimated between samples) and the\n"
            "time until the destination runs out of ports at that rate.\n"
            "\n"
            "  --interval SEC   seconds between samples, 0.25 to 60 (default 1)\n"
            "  --netns NAME     read network namespace NAME (/run/netns) or PATH\n"
            "  --top N          show at most N destinations (default: what fits;\n"
            "                   20 in batch mode)\n"
            "  --sort KEY       initial order (default pressure)\n"
            "  --batch          plain frames on stdout (the default when stdout is not\n"
            "                   a terminal); the first frame comes after one interval\n"
            "  --iterations N   with --batch: stop after N frames\n"
            "  --once           the same as --batch --iterations 1\n"
            "  --json           with batch frames: one JSON object per line\n"
            "  --help           this text\n"
            "\n"
            "Keys on a terminal: q quits, s changes the order, + and - change the\n"
            "interval.  SIGINT and SIGTERM end it like q.\n"
            "Exit codes: 0 success, 1 the host could not be read, 2 bad command line.\n");
}

static bool ep_top_parse_interval(const char *text, double *out)
{
    char *end;
    double v;
    if (!text || !*text)
        return false;
    errno = 0;
    v = strtod(text, &end);
    if (errno || *end != '\0' || !isfinite(v) || v < 0.25 || v > 60.0)
        return false;
    *out = v;
    return true;
}

static int ep_top_parse(int argc, char **argv, struct ep_top_opts *o)
{
    static const struct option opts[] = {
        { "interval", required_argument, NULL, 'i' },
        { "netns", required_argument, NULL, 'N' },
        { "top", required_argument, NULL, 't' },
        { "sort", required_argument, NULL, 's' },
        { "once", no_argument, NULL, '1' },
        { "batch", no_argument, NULL, 'b' },
        { "iterations", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned long v;
    bool once = false;
    int c;

    memset(o, 0, sizeof *o);
    o->interval = 1.0;
    while ((c = getopt_long(argc, argv, "i:N:t:s:1bn:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (!ep_top_parse_interval(optarg, &o->interval)) {
                ep_cli_error("top", "--interval '%s': expected seconds from 0.25 to 60", optarg);
                return EP_EXIT_USAGE;
            }
            break;
        case 'N':
            o->netns = optarg;
            break;
        case 't':
            if (!ep_cli_parse_ulong(optarg, 1, 100000, &v)) {
                ep_cli_error("top", "--top '%s': expected a number from 1 to 100000", optarg);
                return EP_EXIT_USAGE;
            }
            o->top = v;
            break;
        case 's': {
            int k;
            for (k = 0; k < EP_TOP_NSORT; k++)
                if (strcmp(optarg, ep_top_sort_names[k]) == 0)
                    break;
            if (k == EP_TOP_NSORT) {
                ep_cli_error("top", "--sort '%s': expected pressure, rate, exhaustion or "
                                    "time-wait", optarg);
                return EP_EXIT_USAGE;
            }
            o->sort = (enum ep_top_sort)k;
            break;
        }
        case '1':
            once = true;
            break;
        case 'b':
            o->batch = true;
            break;
        case 'n':
            if (!ep_cli_parse_ulong(optarg, 1, 1000000000, &v)) {
                ep_cli_error("top", "--iterations '%s': expected a number from 1", optarg);
                return EP_EXIT_USAGE;
            }
            o->iterations = (long)v;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            ep_top_usage(stdout);
            return -1;
        default:
            ep_top_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ep_cli_error("top", "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    if (once && o->iterations > 1) {
        ep_cli_error("top", "--once and --iterations %ld contradict each other", o->iterations);
        return EP_EXIT_USAGE;
    }
    if (once)
        o->iterations = 1;
    /* A terminal without cursor addressing cannot show a refreshing view. */
    const char *term = getenv("TERM");
    if (once || o->json || o->iterations || !isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO) ||
        !term || !*term || strcmp(term, "dumb") == 0)
        o->batch = true;
    return 0;
}

/* ---- sampling ------------------------------------------------------- */

static double ep_top_now(void)
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

static void ep_top_sort_rows(struct ep_top_state *st)
{
    ep_top_cur_sort = st->o.sort;
    if (st->nrows > 1)
        qsort(st->rows, st->nrows, sizeof *st->rows, ep_top_row_cmp);
}

/* Take a snapshot and update rates.  Returns 0 or a negative errno. */
static int ep_top_sample(struct ep_top_state *st)
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

static void ep_top_state_free(struct ep_top_state *st)
{
    free(st->entries);
    free(st->rows);
    if (st->snap)
        ep_host_snapshot_free(st->snap);
}

/* ---- formatting shared by both outputs ------------------------------ */

static void ep_top_fmt_rate(double r, char *buf, size_t len)
{
    if (isnan(r))
        snprintf(buf, len, "-");
    else if (r < 10)
        snprintf(buf, len, "%.1f", r);
    else
        snprintf(buf, len, "%.0f", r);
}

static void ep_top_fmt_tte(double t, char *buf, size_t len)
{
    if (isnan(t))
        snprintf(buf, len, "-");
    else
        ep_top_format_duration(t, buf, len);
}

static void ep_top_fmt_remote(const ep_host_dest *d, char *buf, size_t len)
{
    char r[EP_ADDR_STRLEN] = "?";
    ep_addr_format(&d->remote, r, sizeof r);
    if (d->remote.family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", r, d->remote_port);
    else
        snprintf(buf, len, "%s:%u", r, d->remote_port);
}

static void ep_top_fmt_headroom(const ep_host_dest *d, char *buf, size_t len)
{
    if (d->headroom_pct < 0)
        snprintf(buf, len, "?");
    else
        snprintf(buf, len, "%.1f", d->headroom_pct);
}

static void ep_top_fmt_free(const ep_host_dest *d, char *buf, size_t len)
{
    if (d->free == EP_HOST_UNKNOWN)
        snprintf(buf, len, "?");
    else
        snprintf(buf, len, "%lld", (long long)d->free);
}

/* The header lines, into three buffers. */
static void ep_top_fmt_header(const struct ep_top_state *st, char *l1, char *l2, char *l3,
                              size_t len)
{
    const ep_host_settings *s = ep_host_snapshot_settings(st->snap);
    const ep_host_totals *t = ep_host_snapshot_totals(st->snap);
    const ep_host_bound *b = ep_host_snapshot_bound(st->snap);
    const char *ns = ep_host_snapshot_netns(st->snap);
    char when[32], range[48], eff[24], sus[48];
    time_t now = time(NULL);
    struct tm tm;
    uint64_t tcp_other;

    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    snprintf(l1, len, "ephport top  %s  namespace: %s  every %g s  sort: %s  destinations: %zu",
             when, ns ? ns : "this process's", st->o.interval, ep_top_sort_names[st->o.sort],
             st->total);
    if (s->port_lo == EP_HOST_UNKNOWN || s->port_hi == EP_HOST_UNKNOWN)
        snprintf(range, sizeof range, "unknown");
    else
        snprintf(range, sizeof range, "%lld-%lld", (long long)s->port_lo, (long long)s->port_hi);
    if (s->effective_ports == EP_HOST_UNKNOWN) {
        snprintf(eff, sizeof eff, "unknown");
        snprintf(sus, sizeof sus, "unknown");
    } else {
        snprintf(eff, sizeof eff, "%lld", (long long)s->effective_ports);
        snprintf(sus, sizeof sus, "%.0f/s",
                 s->time_wait_s > 0 ? floor((double)s->effective_ports / (double)s->time_wait_s)
                                    : 0.0);
    }
    snprintf(l2, len,
             "range %s  reserved %lld  effective %s ports  TIME_WAIT %lld s  tcp_tw_reuse %lld"
             "  sustainable %s per destination",
             range, (long long)s->reserved_in_range, eff, (long long)s->time_wait_s,
             (long long)s->tw_reuse, sus);
    tcp_other = t->tcp_all - t->tcp[EP_HOST_ESTABLISHED] - t->tcp[EP_HOST_TIME_WAIT];
    snprintf(l3, len,
             "tcp %llu established, %llu time-wait, %llu other; udp %llu; "
             "bind-only ports: tcp %u, udp %u; sockets from %s",
             (unsigned long long)t->tcp[EP_HOST_ESTABLISHED],
             (unsigned long long)t->tcp[EP_HOST_TIME_WAIT], (unsigned long long)tcp_other,
             (unsigned long long)t->udp_all, b->tcp_ports, b->udp_ports,
             ep_host_source_name(ep_host_snapshot_source(st->snap, EP_PROTO_TCP)));
}

/* Width of the LOCAL and REMOTE columns for the rows shown. */
static void ep_top_widths(const struct ep_top_state *st, size_t nshow, int *wl, int *wr)
{
    *wl = 5;
    *wr = 6;
    for (size_t i = 0; i < nshow; i++) {
        char a[EP_ADDR_STRLEN + 8] = "?";
        int n;
        ep_addr_format(&st->rows[i].d->local, a, sizeof a);
        n = (int)strlen(a);
        if (n > *wl)
            *wl = n;
        ep_top_fmt_remote(st->rows[i].d, a, sizeof a);
        n = (int)strlen(a);
        if (n > *wr)
            *wr = n;
    }
}

static void ep_top_fmt_row(const struct ep_top_row *r, int wl, int wr, char *buf, size_t len)
{
    char l[EP_ADDR_STRLEN] = "?", rem[EP_ADDR_STRLEN + 8], fr[24], hd[16], rate[24], tte[24];
    ep_addr_format(&r->d->local, l, sizeof l);
    ep_top_fmt_remote(r->d, rem, sizeof rem);
    ep_top_fmt_free(r->d, fr, sizeof fr);
    ep_top_fmt_headroom(r->d, hd, sizeof hd);
    ep_top_fmt_rate(r->rate, rate, sizeof rate);
    ep_top_fmt_tte(r->tte, tte, sizeof tte);
    snprintf(buf, len, "%-5s %-*s %-*s %7u %7u %7s %6s %8s %s%s",
             r->d->proto == EP_PROTO_UDP ? "udp" : "tcp", wl, l, wr, rem, r->d->used,
             r->d->time_wait, fr, hd, rate, tte, r->reuse ? " (tw_reuse)" : "");
}

static void ep_top_fmt_colhead(int wl, int wr, char *buf, size_t len)
{
    snprintf(buf, len, "%-5s %-*s %-*s %7s %7s %7s %6s %8s %s", "PROTO", wl, "LOCAL", wr,
             "REMOTE", "USED", "TW", "FREE", "HEAD%", "NEW/s", "EXHAUSTED IN");
}

/* ---- batch output --------------------------------------------------- */

/* A destination as `ephport status --json` prints it (host-json.c), plus
 * the rate, the time to exhaustion and whether tcp_tw_reuse applies. */
static json_t *ep_top_row_json(const struct ep_top_row *r)
{
    json_t *o = ep_host_dest_to_json(r->d);
    char tte[24];

    if (!o)
        return NULL;
    ep_top_fmt_tte(r->tte, tte, sizeof tte);
    if (json_object_set_new(o, "new_per_second",
                            isnan(r->rate) ? json_null() : json_real(r->rate)) != 0 ||
        json_object_set_new(o, "seconds_to_exhaustion",
                            isnan(r->tte) || isinf(r->tte) ? json_null() : json_real(r->tte)) != 0 ||
        json_object_set_new(o, "exhausted_in", json_string(tte)) != 0 ||
        json_object_set_new(o, "tw_reuse_applies", json_boolean(r->reuse)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int ep_top_print_json(const struct ep_top_state *st, size_t nshow)
{
    const ep_host_settings *s = ep_host_snapshot_settings(st->snap);
    const char *ns = ep_host_snapshot_netns(st->snap);
    json_t *o, *arr;
    int rc;

    o = json_pack("{s:I, s:f, s:f, s:o, s:o, s:I, s:s, s:I}", "time", (json_int_t)time(NULL),
                  "elapsed_seconds", st->t, "interval_seconds", st->o.interval, "netns",
                  ns ? json_string(ns) : json_null(), "effective_ports",
                  s->effective_ports == EP_HOST_UNKNOWN ? json_null()
                                                        : json_integer(s->effective_ports),
                  "time_wait_seconds", (json_int_t)s->time_wait_s, "sort",
                  ep_top_sort_names[st->o.sort], "destinations_total", (json_int_t)st->total);
    arr = json_array();
    if (!o || !arr || json_object_set_new(o, "destinations", arr) != 0) {
        json_decref(o);
        return EP_EXIT_FAILURE;
    }
    for (size_t i = 0; i < nshow; i++)
        if (json_array_append_new(arr, ep_top_row_json(&st->rows[i])) != 0) {
            json_decref(o);
            return EP_EXIT_FAILURE;
        }
    rc = json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
        return EP_EXIT_FAILURE;
    return EP_EXIT_OK;
}

static int ep_top_print_text(const struct ep_top_state *st, size_t nshow)
{
    char l1[512], l2[512], l3[512], line[512];
    const ep_host_advice *adv;
    size_t nadv, nnotes;
    int wl, wr;

    ep_top_fmt_header(st, l1, l2, l3, sizeof l1);
    printf("%s\n%s\n%s\n", l1, l2, l3);
    ep_top_widths(st, nshow, &wl, &wr);
    ep_top_fmt_colhead(wl, wr, line, sizeof line);
    printf("%s\n", line);
    for (size_t i = 0; i < nshow; i++) {
        ep_top_fmt_row(&st->rows[i], wl, wr, line, sizeof line);
        printf("%s\n", line);
    }
    if (st->nrows > nshow)
        printf("(%zu more destinations; --top N shows more)\n", st->nrows - nshow);
    adv = ep_host_snapshot_advice(st->snap, &nadv);
    for (size_t i = 0; i < nadv && i < 3; i++)
        printf("%s: %s\n", ep_host_severity_name(adv[i].severity), adv[i].message);
    ep_host_snapshot_notes(st->snap, &nnotes);
    if (nnotes)
        printf("%zu things could not be read; see ephport status\n", nnotes);
    putchar('\n');
    return fflush(stdout) == 0 && !ferror(stdout) ? EP_EXIT_OK : EP_EXIT_FAILURE;
}

/* Sleep until `deadline` (monotonic seconds) or a signal. */
static void ep_top_sleep_until(double deadline)
{
    double left = deadline - ep_top_now();
    struct timespec ts;
    if (left <= 0 || ep_top_stop)
        return;
    ts.tv_sec = (time_t)left;
    ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL); /* EINTR on SIGINT/SIGTERM: the caller checks the flag */
}

static int ep_top_run_batch(struct ep_top_state *st)
{
    size_t top = st->o.top ? st->o.top : 20;
    double next;
    long frames = 0;
    int rc = ep_top_sample(st);

    if (rc < 0)
        goto fail;
    next = st->start;
    while (!ep_top_stop) {
        next += st->o.interval;
        ep_top_sleep_until(next);
        if (ep_top_stop)
            break;
        rc = ep_top_sample(st);
        if (rc < 0)
            goto fail;
        size_t nshow = st->nrows < top ? st->nrows : top;
        rc = st->o.json ? ep_top_print_json(st, nshow) : ep_top_print_text(st, nshow);
        if (rc != EP_EXIT_OK) {
            ep_cli_error("top", "cannot write output");
            return EP_EXIT_FAILURE;
        }
        if (st->o.iterations && ++frames >= st->o.iterations)
            break;
    }
    return EP_EXIT_OK;
fail:
    ep_cli_error("top", "cannot read %s: %s", st->o.netns ? st->o.netns : "this host",
                 ep_strerror(rc));
    return EP_EXIT_FAILURE;
}

/* ---- terminal output ------------------------------------------------ */

static bool ep_top_color;

static void ep_top_draw(const struct ep_top_state *st)
{
    char l1[512], l2[512], l3[512], line[512];
    const ep_host_advice *adv;
    size_t nadv, room, nshow;
    int wl, wr, y = 0, rows = LINES, cols = COLS;

    erase();
    ep_top_fmt_header(st, l1, l2, l3, sizeof l1);
    mvaddnstr(y++, 0, l1, cols);
    mvaddnstr(y++, 0, l2, cols);
    mvaddnstr(y++, 0, l3, cols);
    adv = ep_host_snapshot_advice(st->snap, &nadv);
    /* Header (3), blank, column heads, rows, blank, up to 2 advice lines, keys. */
    room = rows > 10 ? (size_t)(rows - 5 - 1 - (nadv ? (nadv > 1 ? 3 : 2) : 0) - 1) : 1;
    nshow = st->nrows < room ? st->nrows : room;
    if (st->o.top && nshow > st->o.top)
        nshow = st->o.top;
    ep_top_widths(st, nshow, &wl, &wr);
    y++;
    ep_top_fmt_colhead(wl, wr, line, sizeof line);
    attron(A_REVERSE);
    mvaddnstr(y, 0, line, cols);
    for (int x = (int)strlen(line); x < cols; x++)
        mvaddch(y, x, ' ');
    attroff(A_REVERSE);
    y++;
    for (size_t i = 0; i < nshow && y < rows - 1; i++) {
        const ep_host_dest *d = st->rows[i].d;
        int pair = d->pressure >= 0.95 ? 1 : d->pressure >= 0.80 ? 2 : 0;
        ep_top_fmt_row(&st->rows[i], wl, wr, line, sizeof line);
        if (ep_top_color && pair)
            attron(COLOR_PAIR(pair));
        mvaddnstr(y++, 0, line, cols);
        if (ep_top_color && pair)
            attroff(COLOR_PAIR(pair));
    }
    if (st->nrows > nshow && y < rows - 1) {
        snprintf(line, sizeof line, "(%zu more destinations)", st->nrows - nshow);
        mvaddnstr(y++, 0, line, cols);
    }
    y++;
    for (size_t i = 0; i < nadv && i < 2 && y < rows - 1; i++) {
        snprintf(line, sizeof line, "%s: %s", ep_host_severity_name(adv[i].severity),
                 adv[i].message);
        mvaddnstr(y++, 0, line, cols);
    }
    snprintf(line, sizeof line, "q quit  s sort (%s)  +/- interval (%g s)%s",
             ep_top_sort_names[st->o.sort], st->o.interval,
             st->have_prev ? "" : "  rates appear after the second sample");
    attron(A_BOLD);
    mvaddnstr(rows - 1, 0, line, cols);
    attroff(A_BOLD);
    refresh();
}

static void ep_top_step_interval(struct ep_top_opts *o, int dir)
{
    size_t i = 0;
    /* Nearest step at or above the current interval, then move. */
    while (i < EP_TOP_NSTEPS - 1 && ep_top_steps[i] < o->interval - 1e-9)
        i++;
    if (dir > 0 && ep_top_steps[i] <= o->interval + 1e-9 && i < EP_TOP_NSTEPS - 1)
        i++;
    else if (dir < 0 && i > 0)
        i--;
    o->interval = ep_top_steps[i];
}

static int ep_top_run_screen(struct ep_top_state *st)
{
    SCREEN *scr;
    int rc, result = EP_EXIT_OK;
    double last;

    /* Read once before touching the terminal, so errors print plainly. */
    rc = ep_top_sample(st);
    if (rc < 0) {
        ep_cli_error("top", "cannot read %s: %s", st->o.netns ? st->o.netns : "this host",
                     ep_strerror(rc));
        return EP_EXIT_FAILURE;
    }
    last = ep_top_now();
    scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        ep_cli_error("top", "cannot set up the terminal (TERM=%s); try --batch",
                     getenv("TERM") ? getenv("TERM") : "");
        return EP_EXIT_FAILURE;
    }
    set_term(scr);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    ep_top_color = ep_cli_use_color(stdout) && has_colors();
    if (ep_top_color) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_RED, -1);
        init_pair(2, COLOR_YELLOW, -1);
    }
    ep_top_draw(st);

    while (!ep_top_stop) {
        double left = last + st->o.interval - ep_top_now();
        int ch;
        if (left <= 0) {
            rc = ep_top_sample(st);
            if (rc < 0) {
                result = rc;
                break;
            }
            last = ep_top_now();
            ep_top_draw(st);
            continue;
        }
        timeout((int)ceil(left * 1000.0));
        ch = getch();
        if (ch == ERR)
            continue; /* timeout or signal: the loop checks both */
        if (ch == 'q' || ch == 'Q')
            break;
        if (ch == 's' || ch == 'S') {
            st->o.sort = (enum ep_top_sort)((st->o.sort + 1) % EP_TOP_NSORT);
            ep_top_sort_rows(st);
        } else if (ch == '+' || ch == '=') {
            ep_top_step_interval(&st->o, +1);
        } else if (ch == '-' || ch == '_') {
            ep_top_step_interval(&st->o, -1);
        }
        ep_top_draw(st); /* also after KEY_RESIZE */
    }
    endwin();
    delscreen(scr);
    if (result < 0) {
        ep_cli_error("top", "cannot read %s: %s", st->o.netns ? st->o.netns : "this host",
                     ep_strerror(result));
        return EP_EXIT_FAILURE;
    }
    return EP_EXIT_OK;
}

int ep_cmd_top(int argc, char **argv)
{
    struct ep_top_state st;
    struct sigaction sa, old_int, old_term;
    int rc;

    memset(&st, 0, sizeof st);
    rc = ep_top_parse(argc, argv, &st.o);
    if (rc != 0)
        return rc < 0 ? EP_EXIT_OK : rc;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ep_top_on_signal; /* no SA_RESTART: interrupt sleeps and getch() */
    sigemptyset(&sa.sa_mask);
    ep_top_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    rc = st.o.batch ? ep_top_run_batch(&st) : ep_top_run_screen(&st);

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    ep_top_state_free(&st);
    return rc;
}
