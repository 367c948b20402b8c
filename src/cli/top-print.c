/* top-print.c - how `ephport top` writes a frame: the header lines, the
 * table rows (shared with the terminal view) and the batch frames, as text or
 * one JSON object per line built from status's destination objects.  The
 * header's sustainable rate comes from ephport/capacity.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <ephport/capacity.h>
#include <ephport/pool.h>

#include "cli.h"
#include <ephport/host-json.h>
#include "top.h"

static void ep_top_fmt_rate(double r, char *buf, size_t len)
{
    if (isnan(r))
        snprintf(buf, len, "-");
    else if (r < 10)
        snprintf(buf, len, "%.1f", r);
    else
        snprintf(buf, len, "%.0f", r);
}

void ep_top_fmt_tte(double t, char *buf, size_t len)
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

static void ep_top_fmt_i64(int64_t v, char *buf, size_t len)
{
    if (v == EP_HOST_UNKNOWN)
        snprintf(buf, len, "unknown");
    else
        snprintf(buf, len, "%lld", (long long)v);
}

/* "N/s per destination": new connections on the mean, TIME_WAIT as the kernel
 * keeps it (capacity.h), and where tcp_tw_reuse applies the rate with its
 * delay: every destination with 1, those to or from loopback with 2. */
static void ep_top_fmt_sustainable(const ep_host_settings *s, char *buf, size_t len)
{
    double ports = (double)s->effective_ports;
    double tw = s->time_wait_s > 0 ? ep_linux_time_wait_upper(EP_SEC(s->time_wait_s)) / 1e9 : 0;
    double delay = s->tw_reuse_delay_ms > 0 ? (double)s->tw_reuse_delay_ms / 1000.0 : 1.0;
    double plain = ep_capacity_sustainable_rate(ports, ep_capacity_block_time(0, tw, false, 0));
    double reuse = ep_capacity_sustainable_rate(ports, ep_capacity_block_time(0, tw, true, delay));
    if (s->time_wait_s <= 0) {
        snprintf(buf, len, "unknown per destination");
        return;
    }
    /* truncated as advice.c prints it (one decimal below 10): "at most" */
#define EP_TOP_RATE(r) (r) < 10 ? 1 : 0, (r) < 10 ? floor((r) * 10) / 10 : floor(r)
    if (s->tw_reuse == 1)
        snprintf(buf, len, "%.*f/s per destination (tcp_tw_reuse)", EP_TOP_RATE(reuse));
    else if (s->tw_reuse == 2)
        snprintf(buf, len, "%.*f/s per destination (%.*f/s to or from loopback)",
                 EP_TOP_RATE(plain), EP_TOP_RATE(reuse));
    else
        snprintf(buf, len, "%.*f/s per destination", EP_TOP_RATE(plain));
#undef EP_TOP_RATE
}

/* Where the TCP rates come from, appended to a header line. */
static void ep_top_fmt_rate_source(const struct ep_top_state *st, char *l, size_t len)
{
    size_t used = strlen(l);
    if (used < len)
        snprintf(l + used, len - used, "%stcp NEW/s: %s", used ? "; " : "",
                 st->traced ? "eBPF, exact"
                 : st->trace ? "eBPF from the second sample (or estimated: counts lost)"
                             : "estimated (no eBPF)");
}

/* --all-namespaces: the node in the header; each namespace's range and
 * settings are status -A's (they differ between namespaces). */
static void ep_top_fmt_header_node(const struct ep_top_state *st, const char *when, char *l1,
                                   char *l2, char *l3, char *l4, size_t len)
{
    uint64_t est = 0, tw = 0, other = 0, udp = 0;
    size_t n = ep_host_node_count(st->node), un = ep_host_node_unreadable(st->node);

    for (size_t i = 0; i < n; i++) {
        const ep_host_snapshot *s = ep_host_node_snapshot(st->node, i, NULL);
        if (!s)
            continue;
        const ep_host_totals *t = ep_host_snapshot_totals(s);
        est += t->tcp[EP_HOST_ESTABLISHED];
        tw += t->tcp[EP_HOST_TIME_WAIT];
        other += t->tcp_all - t->tcp[EP_HOST_ESTABLISHED] - t->tcp[EP_HOST_TIME_WAIT];
        udp += t->udp_all;
    }
    snprintf(l1, len, "ephport top  %s  all namespaces: %zu read%s  every %g s  sort: %s  "
                      "destinations: %zu",
             when, n - un, un ? " (some could not be: see ephport status -A)" : "",
             st->o.interval, ep_top_sort_names[st->o.sort], st->total);
    snprintf(l2, len, "ranges, TIME_WAIT and tcp_tw_reuse differ per namespace: "
                      "ephport status --all-namespaces shows each");
    snprintf(l3, len, "node: tcp %llu established, %llu time-wait, %llu other; udp %llu",
             (unsigned long long)est, (unsigned long long)tw, (unsigned long long)other,
             (unsigned long long)udp);
    l4[0] = '\0';
    ep_top_fmt_rate_source(st, l4, len);
}

/* The header lines, into four buffers. */
void ep_top_fmt_header(const struct ep_top_state *st, char *l1, char *l2, char *l3, char *l4,
                       size_t len)
{
    char when[32], range[48], eff[24], sus[96], reserved[24], reuse[24], notes[64] = "";
    ep_host_source src_tcp, src_udp;
    time_t now = time(NULL);
    struct tm tm;
    uint64_t tcp_other;
    size_t nnotes;

    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    if (!st->snap) {
        ep_top_fmt_header_node(st, when, l1, l2, l3, l4, len);
        return;
    }
    const ep_host_settings *s = ep_host_snapshot_settings(st->snap);
    const ep_host_totals *t = ep_host_snapshot_totals(st->snap);
    const ep_host_bound *b = ep_host_snapshot_bound(st->snap);
    const char *ns = ep_host_snapshot_netns(st->snap);
    snprintf(l1, len, "ephport top  %s  namespace: %s  every %g s  sort: %s  destinations: %zu",
             when, ns ? ns : "this process's", st->o.interval, ep_top_sort_names[st->o.sort],
             st->total);
    if (s->port_lo == EP_HOST_UNKNOWN || s->port_hi == EP_HOST_UNKNOWN)
        snprintf(range, sizeof range, "unknown");
    else
        snprintf(range, sizeof range, "%lld-%lld", (long long)s->port_lo, (long long)s->port_hi);
    if (s->effective_ports == EP_HOST_UNKNOWN) {
        snprintf(eff, sizeof eff, "unknown");
        snprintf(sus, sizeof sus, "unknown per destination");
    } else {
        snprintf(eff, sizeof eff, "%lld", (long long)s->effective_ports);
        ep_top_fmt_sustainable(s, sus, sizeof sus);
    }
    ep_top_fmt_i64(s->reserved_in_range, reserved, sizeof reserved);
    ep_top_fmt_i64(s->tw_reuse, reuse, sizeof reuse);
    snprintf(l2, len,
             "range %s  reserved %s  effective %s ports  TIME_WAIT %lld s  tcp_tw_reuse %s"
             "  sustainable %s",
             range, reserved, eff, (long long)s->time_wait_s, reuse, sus);
    tcp_other = t->tcp_all - t->tcp[EP_HOST_ESTABLISHED] - t->tcp[EP_HOST_TIME_WAIT];
    src_tcp = ep_host_snapshot_source(st->snap, EP_PROTO_TCP);
    src_udp = ep_host_snapshot_source(st->snap, EP_PROTO_UDP);
    ep_host_snapshot_notes(st->snap, &nnotes);
    if (nnotes)
        snprintf(notes, sizeof notes, "; %zu unreadable (see ephport status)", nnotes);
    snprintf(l3, len,
             "tcp %llu established, %llu time-wait, %llu other; udp %llu; "
             "bind-only ports: tcp %u, udp %u; sockets from %s%s%s%s",
             (unsigned long long)t->tcp[EP_HOST_ESTABLISHED],
             (unsigned long long)t->tcp[EP_HOST_TIME_WAIT], (unsigned long long)tcp_other,
             (unsigned long long)t->udp_all, b->tcp_ports, b->udp_ports,
             ep_host_source_name(src_tcp), src_udp != src_tcp ? " (udp: " : "",
             src_udp != src_tcp ? ep_host_source_name(src_udp) : "",
             src_udp != src_tcp ? ")" : "");
    if (nnotes && strlen(l3) + strlen(notes) < len)
        strcat(l3, notes);
    if (!st->have_prev) {
        snprintf(l4, len, "namespace: connect()/s and TIME_WAIT ports reused/s after the second "
                          "sample");
    } else {
        char r[EP_TOP_NS_N][24];
        for (int k = 0; k < EP_TOP_NS_N; k++)
            ep_top_fmt_rate(st->ns_rate[k], r[k], sizeof r[k]);
        snprintf(l4, len,
                 "namespace: %s connect()/s, %s TIME_WAIT ports reused/s (tcp_tw_reuse; also "
                 "in NEW/s)",
                 r[EP_TOP_NS_CONNECT], r[EP_TOP_NS_REUSED]);
    }
    /* Where the TCP rates come from. */
    ep_top_fmt_rate_source(st, l4, len);
}

void ep_top_widths(const struct ep_top_state *st, size_t nshow, int *wl, int *wr, int *wn)
{
    *wl = 5;
    *wr = 6;
    *wn = st->o.all ? 9 : 0;
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
        if (st->o.all && st->rows[i].ns) {
            n = (int)strlen(st->rows[i].ns->label);
            if (n > *wn)
                *wn = n > 24 ? 24 : n;
        }
    }
}

void ep_top_fmt_row(const struct ep_top_row *r, int wl, int wr, int wn, char *buf, size_t len)
{
    int off = 0;
    if (wn > 0) {
        off = snprintf(buf, len, "%-*.*s ", wn, wn, r->ns ? r->ns->label : "?");
        if (off < 0 || (size_t)off >= len)
            return;
        buf += off;
        len -= (size_t)off;
    }
    char l[EP_ADDR_STRLEN] = "?", rem[EP_ADDR_STRLEN + 8], fr[24], hd[16], rate[24], tte[24];
    ep_addr_format(&r->d->local, l, sizeof l);
    ep_top_fmt_remote(r->d, rem, sizeof rem);
    ep_top_fmt_free(r->d, fr, sizeof fr);
    ep_top_fmt_headroom(r->d, hd, sizeof hd);
    ep_top_fmt_rate(r->rate, rate, sizeof rate);
    ep_top_fmt_tte(r->tte, tte, sizeof tte);
    char fail[48] = "";
    if (!isnan(r->fail_rate) && r->fail_rate > 0) {
        char f[24];
        ep_top_fmt_rate(r->fail_rate, f, sizeof f);
        snprintf(fail, sizeof fail, " FAILING %s/s", f);
    }
    snprintf(buf, len, "%-5s %-*s %-*s %7u %7u %7s %6s %8s %s%s%s",
             r->d->proto == EP_PROTO_UDP ? "udp" : "tcp", wl, l, wr, rem, r->d->used,
             r->d->time_wait, fr, hd, rate, tte, r->reuse ? " (tw_reuse)" : "", fail);
}

void ep_top_fmt_colhead(int wl, int wr, int wn, char *buf, size_t len)
{
    if (wn > 0) {
        int off = snprintf(buf, len, "%-*s ", wn, "NAMESPACE");
        if (off < 0 || (size_t)off >= len)
            return;
        buf += off;
        len -= (size_t)off;
    }
    snprintf(buf, len, "%-5s %-*s %-*s %7s %7s %7s %6s %8s %s", "PROTO", wl, "LOCAL", wr,
             "REMOTE", "USED", "TW", "FREE", "HEAD%", "NEW/s", "EXHAUSTED IN");
}

const ep_host_advice *ep_top_advice(const struct ep_top_state *st, size_t *n)
{
    *n = 0;
    return st->snap ? ep_host_snapshot_advice(st->snap, n) : NULL;
}

/* ---- batch frames ---- */

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
        json_object_set_new(o, "tw_reuse_applies", json_boolean(r->reuse)) != 0 ||
        json_object_set_new(o, "failures_per_second",
                            isnan(r->fail_rate) ? json_null() : json_real(r->fail_rate)) != 0 ||
        (r->ns && (json_object_set_new(o, "netns", json_integer((json_int_t)r->ns->inode)) != 0 ||
                   json_object_set_new(o, "namespace", json_string(r->ns->label)) != 0))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *ep_top_rate_json(double r)
{
    return isnan(r) ? json_null() : json_real(r);
}

int ep_top_print_json(const struct ep_top_state *st, size_t nshow)
{
    const ep_host_settings *s = st->snap ? ep_host_snapshot_settings(st->snap) : NULL;
    const char *ns = st->snap ? ep_host_snapshot_netns(st->snap) : NULL;
    json_t *o, *arr;
    int rc;

    /* --all-namespaces: effective ports and TIME_WAIT are each row's
     * namespace's (status -A); "namespaces" counts those read. */
    o = json_pack("{s:I, s:f, s:f, s:o, s:o, s:o, s:s, s:I}", "time", (json_int_t)time(NULL),
                  "elapsed_seconds", st->t, "interval_seconds", st->o.interval, "netns",
                  ns ? json_string(ns) : json_null(), "effective_ports",
                  !s || s->effective_ports == EP_HOST_UNKNOWN ? json_null()
                                                              : json_integer(s->effective_ports),
                  "time_wait_seconds", s ? json_integer(s->time_wait_s) : json_null(), "sort",
                  ep_top_sort_names[st->o.sort], "destinations_total", (json_int_t)st->total);
    if (o && st->node &&
        json_object_set_new(o, "namespaces",
                            json_integer((json_int_t)(ep_host_node_count(st->node) -
                                                      ep_host_node_unreadable(st->node)))) != 0)
        o = (json_decref(o), NULL);
    if (o && json_object_set_new(o, "time_wait_ages_from_timers", json_boolean(st->tw_timers)))
        o = (json_decref(o), NULL);
    if (o && json_object_set_new(o, "tcp_rates", json_string(st->traced ? "ebpf" : "estimated")))
        o = (json_decref(o), NULL);
    if (o) {
        json_t *ns = json_pack("{s:o, s:o}", "connects_per_second",
                               ep_top_rate_json(st->ns_rate[EP_TOP_NS_CONNECT]),
                               "time_wait_reused_per_second",
                               ep_top_rate_json(st->ns_rate[EP_TOP_NS_REUSED]));
        if (json_object_set_new(o, "namespace", ns) != 0)
            o = (json_decref(o), NULL);
    }
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

int ep_top_print_text(const struct ep_top_state *st, size_t nshow)
{
    char l1[512], l2[512], l3[512], l4[512], line[512];
    const ep_host_advice *adv;
    size_t nadv;
    int wl, wr, wn;

    ep_top_fmt_header(st, l1, l2, l3, l4, sizeof l1);
    printf("%s\n%s\n%s\n%s\n", l1, l2, l3, l4);
    ep_top_widths(st, nshow, &wl, &wr, &wn);
    ep_top_fmt_colhead(wl, wr, wn, line, sizeof line);
    printf("%s\n", line);
    for (size_t i = 0; i < nshow; i++) {
        ep_top_fmt_row(&st->rows[i], wl, wr, wn, line, sizeof line);
        printf("%s\n", line);
    }
    if (st->nrows > nshow)
        printf("(%zu more destinations; --top N shows more)\n", st->nrows - nshow);
    adv = ep_top_advice(st, &nadv);
    for (size_t i = 0; i < nadv && i < 3; i++)
        printf("%s: %s\n", ep_host_severity_name(adv[i].severity), adv[i].message);
    putchar('\n');
    return fflush(stdout) == 0 && !ferror(stdout) ? EP_EXIT_OK : EP_EXIT_FAILURE;
}

/* Sleep until `deadline` (monotonic seconds) or a signal. */
