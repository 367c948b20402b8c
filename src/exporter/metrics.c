/* metrics.c - render a host snapshot in the Prometheus text exposition
 * format 0.0.4.  Pure: data in, text out, no I/O, no clock.
 *
 * Conventions (https://prometheus.io/docs/practices/naming/): every name
 * starts with ephport_, values are in base units (seconds, ports, sockets,
 * ratios in 0..1), `_total` ends counters and nothing else, each family has
 * HELP and TYPE lines and its samples together.  A value the snapshot could
 * not read is left out rather than published as 0; the number of such
 * problems is ephport_read_problems.  Destination series carry
 * (proto, local, remote, remote_port) labels and are limited by the caller's
 * top N and a minimum socket count, so cardinality stays bounded.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

typedef enum { EP_GAUGE, EP_COUNTER } ep_metric_type;

static void ep_metrics_help(ep_strbuf *b, const char *name, ep_metric_type type, const char *help)
{
    ep_strbuf_printf(b, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            ep_strbuf_puts(b, "\\\\");
        else if (*p == '\n')
            ep_strbuf_puts(b, "\\n");
        else
            ep_strbuf_append(b, p, 1);
    }
    ep_strbuf_printf(b, "\n# TYPE %s %s\n", name, type == EP_COUNTER ? "counter" : "gauge");
}

void ep_metrics_escape_label(ep_strbuf *b, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\')
            ep_strbuf_puts(b, "\\\\");
        else if (*p == '"')
            ep_strbuf_puts(b, "\\\"");
        else if (*p == '\n')
            ep_strbuf_puts(b, "\\n");
        else
            ep_strbuf_append(b, p, 1);
    }
}

/* A family with one unlabelled integer sample. */
static void ep_metrics_int(ep_strbuf *b, const char *name, ep_metric_type type, const char *help,
                           long long v)
{
    ep_metrics_help(b, name, type, help);
    ep_strbuf_printf(b, "%s %lld\n", name, v);
}

/* The same, left out when unknown. */
static void ep_metrics_known(ep_strbuf *b, const char *name, const char *help, int64_t v)
{
    if (v != EP_HOST_UNKNOWN && v >= 0)
        ep_metrics_int(b, name, EP_GAUGE, help, (long long)v);
}

static void ep_metrics_float(ep_strbuf *b, const char *name, const char *help, double v)
{
    ep_metrics_help(b, name, EP_GAUGE, help);
    ep_strbuf_printf(b, "%s %.9g\n", name, v);
}

static const char *ep_metrics_proto(int proto)
{
    return proto == 6 ? "tcp" : proto == 17 ? "udp" : "other";
}

static void ep_metrics_settings(const ep_metrics_input *in, ep_strbuf *b)
{
    const ep_host_settings *s = in->settings;
    ep_metrics_int(b, "ephport_local_port_range_ports", EP_GAUGE,
                   "Ports in net.ipv4.ip_local_port_range.",
                   (long long)(s->port_hi - s->port_lo + 1));
    ep_metrics_int(b, "ephport_local_port_range_first_port", EP_GAUGE,
                   "First port of net.ipv4.ip_local_port_range.", (long long)s->port_lo);
    ep_metrics_int(b, "ephport_local_port_range_last_port", EP_GAUGE,
                   "Last port of net.ipv4.ip_local_port_range.", (long long)s->port_hi);
    ep_metrics_known(b, "ephport_reserved_ports",
                     "Ports of ip_local_reserved_ports inside the ephemeral range.",
                     s->reserved_in_range);
    ep_metrics_known(b, "ephport_effective_ports",
                     "Ephemeral ports the kernel can choose: the range minus reserved ports.",
                     s->effective_ports);
    ep_metrics_known(b, "ephport_tcp_tw_reuse",
                     "net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only.", s->tw_reuse);
    if (s->tw_reuse_delay_ms != EP_HOST_UNKNOWN && s->tw_reuse_delay_ms >= 0)
        ep_metrics_float(b, "ephport_tcp_tw_reuse_delay_seconds",
                         "net.ipv4.tcp_tw_reuse_delay: age before a TIME_WAIT tuple may be "
                         "reused.",
                         (double)s->tw_reuse_delay_ms / 1000.0);
    ep_metrics_known(b, "ephport_tcp_fin_timeout_seconds", "net.ipv4.tcp_fin_timeout.",
                     s->fin_timeout_s);
    ep_metrics_known(b, "ephport_tcp_max_tw_buckets",
                     "net.ipv4.tcp_max_tw_buckets: TIME_WAIT sockets the namespace may hold.",
                     s->max_tw_buckets);
    ep_metrics_known(b, "ephport_tcp_time_wait_seconds", "Length of TCP TIME_WAIT.",
                     s->time_wait_s);
    ep_metrics_known(b, "ephport_conntrack_entries", "net.netfilter.nf_conntrack_count.",
                     s->conntrack_count);
    ep_metrics_known(b, "ephport_conntrack_max", "net.netfilter.nf_conntrack_max.",
                     s->conntrack_max);
    if (s->conntrack_count >= 0 && s->conntrack_max > 0)
        ep_metrics_float(b, "ephport_conntrack_used_ratio",
                         "nf_conntrack_count / nf_conntrack_max.",
                         (double)s->conntrack_count / (double)s->conntrack_max);
}

static void ep_metrics_sockets(const ep_metrics_input *in, ep_strbuf *b)
{
    const ep_host_totals *t = in->totals;
    const ep_host_bound *bd = in->bound;

    ep_metrics_help(b, "ephport_sockets", EP_GAUGE,
                    "Sockets whose local port is in the ephemeral range, by protocol and state.");
    for (int st = 1; st < EP_HOST_NSTATES; st++)
        ep_strbuf_printf(b, "ephport_sockets{proto=\"tcp\",state=\"%s\"} %llu\n",
                         ep_host_state_name(st), (unsigned long long)t->tcp[st]);
    ep_strbuf_printf(b, "ephport_sockets{proto=\"udp\",state=\"%s\"} %llu\n",
                     ep_host_state_name(EP_HOST_ESTABLISHED),
                     (unsigned long long)t->udp[EP_HOST_ESTABLISHED]);
    ep_strbuf_printf(b, "ephport_sockets{proto=\"udp\",state=\"%s\"} %llu\n",
                     ep_host_state_name(EP_HOST_CLOSE), (unsigned long long)t->udp[EP_HOST_CLOSE]);

    ep_metrics_help(b, "ephport_family_sockets", EP_GAUGE,
                    "Sockets whose local port is in the ephemeral range, by protocol and "
                    "address family.");
    ep_strbuf_printf(b,
                     "ephport_family_sockets{proto=\"tcp\",family=\"ipv4\"} %llu\n"
                     "ephport_family_sockets{proto=\"tcp\",family=\"ipv6\"} %llu\n"
                     "ephport_family_sockets{proto=\"udp\",family=\"ipv4\"} %llu\n"
                     "ephport_family_sockets{proto=\"udp\",family=\"ipv6\"} %llu\n",
                     (unsigned long long)t->tcp_v4, (unsigned long long)t->tcp_v6,
                     (unsigned long long)t->udp_v4, (unsigned long long)t->udp_v6);
    ep_metrics_int(b, "ephport_accepted_sockets", EP_GAUGE,
                   "TCP sockets accepted from a listener whose port is in the ephemeral range.",
                   (long long)t->accepted);

    ep_metrics_help(b, "ephport_bind_only_sockets", EP_GAUGE,
                    "Sockets holding an ephemeral port without a connection (bound, listening, "
                    "unconnected UDP); each blocks its port for every destination.");
    ep_strbuf_printf(b,
                     "ephport_bind_only_sockets{proto=\"tcp\",kind=\"bound\"} %llu\n"
                     "ephport_bind_only_sockets{proto=\"tcp\",kind=\"listen\"} %llu\n"
                     "ephport_bind_only_sockets{proto=\"udp\",kind=\"unconnected\"} %llu\n",
                     (unsigned long long)bd->tcp_bound, (unsigned long long)bd->tcp_listen,
                     (unsigned long long)bd->udp_unconnected);
    ep_metrics_help(b, "ephport_bind_only_ports", EP_GAUGE,
                    "Distinct non-reserved ephemeral ports held by bind-only sockets.");
    ep_strbuf_printf(b,
                     "ephport_bind_only_ports{proto=\"tcp\"} %u\n"
                     "ephport_bind_only_ports{proto=\"udp\"} %u\n",
                     bd->tcp_ports, bd->udp_ports);
    ep_metrics_int(b, "ephport_sticky_tcp_ports", EP_GAUGE,
                   "Ephemeral TCP ports held by explicitly bound sockets (bound, listening, "
                   "connected after bind(), or their TIME_WAIT): every connect() skips them. "
                   "A lower bound when ephport_free_ports_exact is 0.",
                   (long long)bd->sticky_ports);
    if (bd->udp_free != EP_HOST_UNKNOWN)
        ep_metrics_int(b, "ephport_udp_free_ports", EP_GAUGE,
                       "Ephemeral ports the next unbound UDP socket's connect() can get (UDP "
                       "ports are not shared between destinations); at 0 it fails with EAGAIN.",
                       (long long)bd->udp_free);
    ep_metrics_int(b, "ephport_free_ports_exact", EP_GAUGE,
                   "1 if the free port counts are exact; 0 if the kernel could not be asked "
                   "which connected TCP ports are sticky (they are then lower bounds).",
                   bd->sticky_known ? 1 : 0);

    ep_metrics_known(b, "ephport_namespace_tcp_sockets",
                     "TCP sockets in use in the namespace (listening or connected, not TIME_WAIT), "
                     "IPv4 and IPv6, any port (/proc/net/sockstat and sockstat6).",
                     t->sockstat_tcp_inuse);
    ep_metrics_known(b, "ephport_namespace_tcp_time_wait_sockets",
                     "TCP sockets in TIME_WAIT in the namespace, IPv4 and IPv6, any port "
                     "(/proc/net/sockstat).",
                     t->sockstat_tcp_tw);
    ep_metrics_known(b, "ephport_namespace_udp_sockets",
                     "UDP sockets in use in the namespace, IPv4 and IPv6, any port "
                     "(/proc/net/sockstat and sockstat6).",
                     t->sockstat_udp_inuse);

    ep_metrics_help(b, "ephport_socket_source_info", EP_GAUGE,
                    "Where the sockets of each protocol were read from (netlink or proc).");
    ep_strbuf_printf(b, "ephport_socket_source_info{proto=\"tcp\",source=\"%s\"} 1\n",
                     ep_host_source_name(in->tcp_source));
    ep_strbuf_printf(b, "ephport_socket_source_info{proto=\"udp\",source=\"%s\"} 1\n",
                     ep_host_source_name(in->udp_source));
}

static bool ep_metrics_dest_exported(const ep_metrics_input *in, const ep_host_dest *d)
{
    return d->used >= in->min_count;
}

static void ep_metrics_dest_labels(ep_strbuf *b, const char *name, const ep_host_dest *d)
{
    char local[EP_ADDR_STRLEN], remote[EP_ADDR_STRLEN];
    if (ep_addr_format(&d->local, local, sizeof local) != 0)
        snprintf(local, sizeof local, "*");
    if (ep_addr_format(&d->remote, remote, sizeof remote) != 0)
        snprintf(remote, sizeof remote, "*");
    ep_strbuf_printf(b, "%s{proto=\"%s\",local=\"", name, ep_metrics_proto(d->proto));
    ep_metrics_escape_label(b, local);
    ep_strbuf_puts(b, "\",remote=\"");
    ep_metrics_escape_label(b, remote);
    ep_strbuf_printf(b, "\",remote_port=\"%u\"} ", d->remote_port);
}

enum { EP_DEST_USED, EP_DEST_TIME_WAIT, EP_DEST_ESTABLISHED, EP_DEST_FREE, EP_DEST_RATIO };

static void ep_metrics_dest_family(const ep_metrics_input *in, ep_strbuf *b, int what,
                                   const char *name, const char *help)
{
    bool header = false;
    for (size_t i = 0; i < in->ndests; i++) {
        const ep_host_dest *d = &in->dests[i];
        if (!ep_metrics_dest_exported(in, d))
            continue;
        if ((what == EP_DEST_FREE || what == EP_DEST_RATIO) && d->free < 0)
            continue; /* unknown: left out, never 0 */
        if (!header) {
            ep_metrics_help(b, name, EP_GAUGE, help);
            header = true;
        }
        ep_metrics_dest_labels(b, name, d);
        switch (what) {
        case EP_DEST_USED:
            ep_strbuf_printf(b, "%u\n", d->used);
            break;
        case EP_DEST_TIME_WAIT:
            ep_strbuf_printf(b, "%u\n", d->time_wait);
            break;
        case EP_DEST_ESTABLISHED:
            ep_strbuf_printf(b, "%u\n", d->established);
            break;
        case EP_DEST_FREE:
            ep_strbuf_printf(b, "%lld\n", (long long)d->free);
            break;
        default:
            ep_strbuf_printf(b, "%.9g\n", d->pressure < 0 ? 0.0
                                          : d->pressure > 1 ? 1.0 : d->pressure);
            break;
        }
    }
}

static void ep_metrics_dests(const ep_metrics_input *in, ep_strbuf *b)
{
    size_t exported = 0;
    for (size_t i = 0; i < in->ndests; i++)
        exported += ep_metrics_dest_exported(in, &in->dests[i]);
    ep_metrics_int(b, "ephport_destinations", EP_GAUGE,
                   "Destinations (protocol, local address, remote address, remote port) with "
                   "sockets in the ephemeral range.",
                   (long long)in->dests_total);
    ep_metrics_int(b, "ephport_destinations_exported", EP_GAUGE,
                   "Destinations exported as ephport_destination_* series (top N with at "
                   "least the minimum count).",
                   (long long)exported);
    ep_metrics_dest_family(in, b, EP_DEST_USED, "ephport_destination_used_ports",
                           "Ephemeral ports in use towards a destination, any state.");
    ep_metrics_dest_family(in, b, EP_DEST_ESTABLISHED, "ephport_destination_established_ports",
                           "Ephemeral ports towards a destination in ESTABLISHED.");
    ep_metrics_dest_family(in, b, EP_DEST_TIME_WAIT, "ephport_destination_time_wait_ports",
                           "Ephemeral ports towards a destination in TIME_WAIT.");
    ep_metrics_dest_family(in, b, EP_DEST_FREE, "ephport_destination_free_ports",
                           "Ephemeral ports a new connection towards the destination could "
                           "still take, as Linux decides (a lower bound when "
                           "ephport_free_ports_exact is 0).");
    ep_metrics_dest_family(in, b, EP_DEST_RATIO, "ephport_destination_used_ratio",
                           "Share of the effective ports unavailable towards the destination "
                           "(1 - free / effective).");
}

/* Kernel counters: names we know get their own family; others are kept
 * under a generic one with the kernel's name as a label. */
static const struct {
    const char *kernel;
    const char *metric;
    ep_metric_type type;
    const char *help;
} ep_metrics_counter_map[] = {
    { "TcpExt.TCPTimeWaitOverflow", "ephport_tcp_timewait_overflow_total", EP_COUNTER,
      "TIME_WAIT sockets not created because tcp_max_tw_buckets was reached "
      "(TcpExt.TCPTimeWaitOverflow)." },
    { "TcpExt.TW", "ephport_tcp_timewait_expired_total", EP_COUNTER,
      "TCP sockets that finished TIME_WAIT (TcpExt.TW)." },
    { "TcpExt.TWRecycled", "ephport_tcp_timewait_recycled_total", EP_COUNTER,
      "TIME_WAIT tuples reused for a new connection (TcpExt.TWRecycled)." },
    { "TcpExt.TWKilled", "ephport_tcp_timewait_killed_total", EP_COUNTER,
      "TIME_WAIT sockets killed early (TcpExt.TWKilled)." },
    { "TcpExt.ListenOverflows", "ephport_tcp_listen_overflows_total", EP_COUNTER,
      "Connections dropped because a listen queue was full (TcpExt.ListenOverflows)." },
    { "TcpExt.ListenDrops", "ephport_tcp_listen_drops_total", EP_COUNTER,
      "Connections dropped at a listener for any reason (TcpExt.ListenDrops)." },
    { "Tcp.ActiveOpens", "ephport_tcp_active_opens_total", EP_COUNTER,
      "TCP connections opened by this host (Tcp.ActiveOpens)." },
    { "Tcp.PassiveOpens", "ephport_tcp_passive_opens_total", EP_COUNTER,
      "TCP connections accepted by this host (Tcp.PassiveOpens)." },
    { "Tcp.AttemptFails", "ephport_tcp_attempt_fails_total", EP_COUNTER,
      "TCP connection attempts that failed (Tcp.AttemptFails)." },
    { "Tcp.CurrEstab", "ephport_tcp_current_established_connections", EP_GAUGE,
      "TCP connections in ESTABLISHED or CLOSE_WAIT now (Tcp.CurrEstab)." },
};
#define EP_METRICS_NMAP (sizeof ep_metrics_counter_map / sizeof ep_metrics_counter_map[0])

static void ep_metrics_counters(const ep_metrics_input *in, ep_strbuf *b)
{
    bool generic = false;
    for (size_t i = 0; i < in->ncounters; i++) {
        const ep_host_counter *c = &in->counters[i];
        size_t m;
        if (c->value == EP_HOST_UNKNOWN || c->value < 0 || !c->name)
            continue;
        for (m = 0; m < EP_METRICS_NMAP; m++)
            if (strcmp(ep_metrics_counter_map[m].kernel, c->name) == 0)
                break;
        if (m < EP_METRICS_NMAP)
            ep_metrics_int(b, ep_metrics_counter_map[m].metric, ep_metrics_counter_map[m].type,
                           ep_metrics_counter_map[m].help, (long long)c->value);
    }
    /* The rest, together (a family's samples must be contiguous). */
    for (size_t i = 0; i < in->ncounters; i++) {
        const ep_host_counter *c = &in->counters[i];
        size_t m;
        if (c->value == EP_HOST_UNKNOWN || c->value < 0 || !c->name)
            continue;
        for (m = 0; m < EP_METRICS_NMAP; m++)
            if (strcmp(ep_metrics_counter_map[m].kernel, c->name) == 0)
                break;
        if (m < EP_METRICS_NMAP)
            continue;
        if (!generic) {
            ep_metrics_help(b, "ephport_kernel_statistic", EP_GAUGE,
                            "Other kernel statistics from /proc/net/netstat and /proc/net/snmp "
                            "by their kernel name (raw values; counters keep rising).");
            generic = true;
        }
        ep_strbuf_puts(b, "ephport_kernel_statistic{name=\"");
        ep_metrics_escape_label(b, c->name);
        ep_strbuf_printf(b, "\"} %lld\n", (long long)c->value);
    }
}

static void ep_metrics_advice(const ep_metrics_input *in, ep_strbuf *b)
{
    ep_metrics_int(b, "ephport_read_problems", EP_GAUGE,
                   "Values the last read could not obtain (see `ephport status` notes); "
                   "those series are left out.",
                   (long long)in->nnotes);
    if (in->nadvice == 0)
        return;
    ep_metrics_help(b, "ephport_advice", EP_GAUGE,
                    "Warnings computed from the live data, by code and severity "
                    "(`ephport status` prints the remedy).");
    /* Count per (code, severity), first-seen order, without allocating. */
    for (size_t i = 0; i < in->nadvice; i++) {
        const ep_host_advice *a = &in->advice[i];
        size_t n = 0, j;
        for (j = 0; j < i; j++)
            if (in->advice[j].severity == a->severity && a->code && in->advice[j].code &&
                strcmp(in->advice[j].code, a->code) == 0)
                break;
        if (j < i)
            continue;
        for (j = i; j < in->nadvice; j++)
            if (in->advice[j].severity == a->severity && a->code && in->advice[j].code &&
                strcmp(in->advice[j].code, a->code) == 0)
                n++;
        ep_strbuf_puts(b, "ephport_advice{code=\"");
        ep_metrics_escape_label(b, a->code ? a->code : "unknown");
        ep_strbuf_puts(b, "\",severity=\"");
        ep_metrics_escape_label(b, ep_host_severity_name(a->severity));
        ep_strbuf_printf(b, "\"} %zu\n", n ? n : 1);
    }
}

void ep_metrics_render_self(const ep_metrics_input *in, ep_strbuf *b)
{
    if (in->scrape_seconds >= 0)
        ep_metrics_float(b, "ephport_scrape_duration_seconds",
                         "Time taken to read the host for this scrape.", in->scrape_seconds);
    if (in->exporter_stats) {
        ep_metrics_int(b, "ephport_scrapes_total", EP_COUNTER,
                       "Scrapes of /metrics since the exporter started.",
                       (long long)in->scrapes);
        ep_metrics_int(b, "ephport_scrape_errors_total", EP_COUNTER,
                       "Scrapes that failed (answered 500) since the exporter started.",
                       (long long)in->scrape_errors);
    }
}

void ep_metrics_input_from_snapshot(const ep_host_snapshot *snap, ep_metrics_input *in)
{
    memset(in, 0, sizeof *in);
    in->settings = ep_host_snapshot_settings(snap);
    in->totals = ep_host_snapshot_totals(snap);
    in->bound = ep_host_snapshot_bound(snap);
    in->dests = ep_host_snapshot_dests(snap, &in->ndests, &in->dests_total);
    in->counters = ep_host_snapshot_counters(snap, &in->ncounters);
    in->advice = ep_host_snapshot_advice(snap, &in->nadvice);
    (void)ep_host_snapshot_notes(snap, &in->nnotes);
    in->tcp_source = ep_host_snapshot_source(snap, 6);
    in->udp_source = ep_host_snapshot_source(snap, 17);
    in->scrape_seconds = -1;
}

int ep_metrics_check(const ep_metrics_input *in, char *why, size_t whylen)
{
    if (!in->settings || !in->totals || !in->bound) {
        snprintf(why, whylen, "no snapshot data");
        return -EIO;
    }
    if (in->settings->port_lo == EP_HOST_UNKNOWN || in->settings->port_hi == EP_HOST_UNKNOWN ||
        in->settings->port_lo > in->settings->port_hi) {
        snprintf(why, whylen, "could not read net.ipv4.ip_local_port_range");
        return -EIO;
    }
    if (in->tcp_source == EP_HOST_SOURCE_NONE || in->udp_source == EP_HOST_SOURCE_NONE) {
        snprintf(why, whylen, "could not read the %s sockets (neither netlink sock_diag nor "
                 "/proc/net worked)",
                 in->tcp_source == EP_HOST_SOURCE_NONE ? "TCP" : "UDP");
        return -EIO;
    }
    return 0;
}

void ep_metrics_render(const ep_metrics_input *in, ep_strbuf *b)
{
    ep_metrics_settings(in, b);
    ep_metrics_sockets(in, b);
    ep_metrics_dests(in, b);
    ep_metrics_counters(in, b);
    ep_metrics_advice(in, b);
    ep_metrics_render_self(in, b);
}
