/* status.c - `ephport status` (also `ephport` with no command): one reading
 * of a network namespace's ephemeral ports per destination, as a table or
 * JSON (host-json.c), with the warnings and remedies advice.c computed.
 * All the reading is libephport's (src/host/); this file only presents. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/capacity.h>
#include <ephport/host.h>

#include "cli.h"
#include <ephport/host-json.h>
#include "promfile.h"
#include "status-node.h"

static void ep_status_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport status [--json | --prometheus FILE] [--top N] [--processes]\n"
            "                      [--netns NAME|PATH | --all-namespaces]\n"
            "                      [--source auto|netlink|proc]\n"
            "                      [--no-probe] [--warn PCT] [--crit PCT]\n"
            "\n"
            "Read this host's ephemeral ports: the effective range, sockets per state,\n"
            "bind-only ports, and the destinations (local address, remote address, remote\n"
            "port, protocol) under most pressure, with warnings and the exact remedy.\n"
            "\n"
            "  --json              one JSON object (schema in ephport-status(1))\n"
            "  --prometheus FILE   write the exporter's metrics to FILE atomically (for\n"
            "                      node_exporter's textfile collector) instead of printing\n"
            "  --top N             show the N destinations under most pressure (default 10,\n"
            "                      0 = all)\n"
            "  --processes         add the pid and command owning the shown destinations\n"
            "  --netns NAME|PATH   read the namespace /run/netns/NAME or at PATH\n"
            "  -A, --all-namespaces  every network namespace of the host (containers, pods,\n"
            "                      ip netns): one table across the node with a NAMESPACE\n"
            "                      column (needs root to enter the others)\n"
            "  --source SRC        netlink sock_diag, /proc/net, or auto (default: netlink,\n"
            "                      /proc when netlink fails)\n"
            "  --no-probe          do not ask the kernel which connected TCP ports are\n"
            "                      sticky (bound explicitly): FREE becomes a range of bounds\n"
            "  --warn PCT          warn about destinations with PCT%% of ports taken (80)\n"
            "  --crit PCT          critical from PCT%% (95)\n"
            "  --help              this text\n"
            "\n"
            "Destination columns:\n"
            "  PROTO, DESTINATION, LOCAL  the unit that runs out: protocol, remote address:port,\n"
            "                      local address\n"
            "  USED                its sockets on ports of the range, any state\n"
            "  ESTAB, TIME_WAIT, OTHER  of USED, by state\n"
            "  FREE                connect()s towards it that would succeed now, as Linux\n"
            "                      decides (then EADDRNOTAVAIL \"Cannot assign requested\n"
            "                      address\"; UDP: EAGAIN \"Resource temporarily unavailable\");\n"
            "                      \"LOW-HIGH\" when sticky ports could not be asked\n"
            "  HEADROOM            FREE / effective ports\n"
            "\n"
            "  NAMESPACE           (--all-namespaces) the ip-netns name, the container or pod\n"
            "                      name, its id, or \"pid N (command)\"; \"host\" is pid 1's\n"
            "\n"
            "Example, inside a container (PID of a process in it):\n"
            "  ephport status --netns /proc/PID/ns/net\n"
            "Every container and pod of this node at once:\n"
            "  ephport status --all-namespaces\n"
            "\n"
            "Exit status: 0 read, 1 could not read the namespace, 2 bad command line.\n");
}

static void ep_status_i64(char *buf, size_t len, int64_t v, const char *unit)
{
    if (v == EP_HOST_UNKNOWN)
        snprintf(buf, len, "unknown");
    else
        snprintf(buf, len, "%lld%s", (long long)v, unit);
}

static void ep_status_settings(const ep_host_snapshot *snap, bool color)
{
    const ep_host_settings *st = ep_host_snapshot_settings(snap);
    char a[64], b[64];
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";

    printf("%sSettings%s\n", bold, off);
    if (st->port_lo == EP_HOST_UNKNOWN)
        printf("  ip_local_port_range      unknown\n");
    else
        printf("  ip_local_port_range      %lld-%lld (%lld ports)\n", (long long)st->port_lo,
               (long long)st->port_hi, (long long)(st->port_hi - st->port_lo + 1));
    if (!st->reserved_text)
        printf("  ip_local_reserved_ports  unknown\n");
    else if (!st->reserved_text[0])
        printf("  ip_local_reserved_ports  none\n");
    else if (st->reserved_in_range == EP_HOST_UNKNOWN)
        printf("  ip_local_reserved_ports  %s (in the range: unknown)\n", st->reserved_text);
    else
        printf("  ip_local_reserved_ports  %s (%lld in the range)\n", st->reserved_text,
               (long long)st->reserved_in_range);
    ep_status_i64(a, sizeof a, st->effective_ports, " ports");
    printf("  effective                %s", a);
    if (st->effective_ports > 0 && st->time_wait_s > 0) {
        /* the one owner of the rule: TIME_WAIT as the kernel keeps it */
        double tw = (double)ep_linux_time_wait_upper(EP_SEC(st->time_wait_s)) / 1e9;
        double rate = ep_capacity_sustainable_rate((double)st->effective_ports,
                                                   ep_capacity_block_time(0, tw, false, 0));
        printf(": at most %.*f new TCP connections/s per destination (TIME_WAIT %llds, "
               "kept up to %.2fs)", rate < 10 ? 1 : 0, /* truncated, as advice and top */
               rate < 10 ? floor(rate * 10) / 10 : floor(rate), (long long)st->time_wait_s, tw);
    }
    printf("\n");
    ep_status_i64(a, sizeof a, st->tw_reuse, "");
    ep_status_i64(b, sizeof b, st->tw_reuse_delay_ms, " ms");
    printf("  tcp_tw_reuse             %s%s, delay %s\n", a,
           st->tw_reuse == 0 ? " (off)" : st->tw_reuse == 1 ? " (on)"
           : st->tw_reuse == 2 ? " (loopback only)" : "",
           st->tw_reuse_delay_ms == EP_HOST_UNKNOWN ? "not on this kernel" : b);
    ep_status_i64(a, sizeof a, st->fin_timeout_s, " s");
    ep_status_i64(b, sizeof b, st->max_tw_buckets, "");
    printf("  tcp_fin_timeout          %s, tcp_max_tw_buckets %s\n", a, b);
    if (st->conntrack_count == EP_HOST_UNKNOWN || st->conntrack_max == EP_HOST_UNKNOWN)
        printf("  conntrack                unavailable (see notes)\n");
    else
        printf("  conntrack                %lld of %lld entries\n", (long long)st->conntrack_count,
               (long long)st->conntrack_max);
}

static void ep_status_states(const char *label, const uint64_t *v)
{
    bool first = true;
    printf("%s", label);
    for (int s = 1; s < EP_HOST_NSTATES; s++) {
        if (!v[s])
            continue;
        printf("%s%s %llu", first ? ": " : ", ", ep_host_state_name(s), (unsigned long long)v[s]);
        first = false;
    }
    printf("\n");
}

static void ep_status_sockets(const ep_host_snapshot *snap, bool color)
{
    const ep_host_totals *t = ep_host_snapshot_totals(snap);
    const ep_host_bound *b = ep_host_snapshot_bound(snap);
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
    char label[128];

    printf("\n%sSockets with a local port in the range%s (TCP via %s, UDP via %s)\n", bold, off,
           ep_host_source_name(ep_host_snapshot_source(snap, 6)),
           ep_host_source_name(ep_host_snapshot_source(snap, 17)));
    bool tcp = ep_host_snapshot_source(snap, 6) != EP_HOST_SOURCE_NONE;
    bool udp = ep_host_snapshot_source(snap, 17) != EP_HOST_SOURCE_NONE;

    if (tcp) {
        snprintf(label, sizeof label, "  TCP %llu (IPv4 %llu, IPv6 %llu)",
                 (unsigned long long)t->tcp_all, (unsigned long long)t->tcp_v4,
                 (unsigned long long)t->tcp_v6);
        ep_status_states(label, t->tcp);
    } else {
        printf("  TCP unknown (see notes)\n");
    }
    if (udp)
        printf("  UDP %llu (IPv4 %llu, IPv6 %llu): connected %llu, unconnected %llu\n",
               (unsigned long long)t->udp_all, (unsigned long long)t->udp_v4,
               (unsigned long long)t->udp_v6, (unsigned long long)t->udp[EP_HOST_ESTABLISHED],
               (unsigned long long)t->udp[EP_HOST_CLOSE]);
    else
        printf("  UDP unknown (see notes)\n");
    if (t->accepted)
        printf("  accepted by listeners inside the range: %llu\n",
               (unsigned long long)t->accepted);
    if (tcp)
        printf("  bind-only: TCP %llu bound + %llu listening (%u ports)",
               (unsigned long long)b->tcp_bound, (unsigned long long)b->tcp_listen,
               b->tcp_ports);
    else
        printf("  bind-only: TCP unknown");
    if (udp)
        printf(", UDP %llu unconnected (%u ports)\n", (unsigned long long)b->udp_unconnected,
               b->udp_ports);
    else
        printf(", UDP unknown\n");
    if (udp && b->udp_free != EP_HOST_UNKNOWN)
        printf("  UDP: the next UDP socket's connect() can get %lld ports (IPv6; IPv4 at least "
               "as many); at 0 it fails with EAGAIN \"Resource temporarily unavailable\"\n",
               (long long)b->udp_free);
    if (tcp && b->sticky_known && b->sticky_method && strcmp(b->sticky_method, "bpf") == 0)
        printf("  sticky TCP ports (explicitly bound: every connect() skips them): %lld, "
               "read from the sockets (BPF)\n", (long long)b->sticky_ports);
    else if (tcp && b->sticky_known)
        printf("  sticky TCP ports (explicitly bound: every connect() skips them): %lld, "
               "%u asked of the kernel\n", (long long)b->sticky_ports, b->sticky_probes);
    else if (tcp)
        printf("  sticky TCP ports: at least %lld, %lld unknown (%s): FREE shows lower bounds\n",
               (long long)b->sticky_ports, (long long)b->sticky_unknown,
               b->sticky_why ? b->sticky_why : "not asked");
    if (t->sockstat_tcp_inuse != EP_HOST_UNKNOWN)
        printf("  whole namespace (sockstat): TCP in use %lld, TIME_WAIT %lld; UDP in use %lld\n",
               (long long)t->sockstat_tcp_inuse, (long long)t->sockstat_tcp_tw,
               (long long)t->sockstat_udp_inuse);
}

static void ep_status_dests(const ep_host_snapshot *snap, bool color)
{
    size_t n, total;
    const ep_host_dest *d = ep_host_snapshot_dests(snap, &n, &total);
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";

    printf("\n%sDestinations%s (%zu of %zu, by pressure)\n", bold, off, n, total);
    if (n == 0) {
        printf("  none: no connection uses a port of the range\n");
        return;
    }
    printf("%s  %-5s %-40s %-24s %7s %7s %9s %6s %7s %8s%s\n", bold, "PROTO", "DESTINATION",
           "LOCAL", "USED", "ESTAB", "TIME_WAIT", "OTHER", "FREE", "HEADROOM", off);
    for (size_t i = 0; i < n; i++) {
        char r[EP_ADDR_STRLEN], l[EP_ADDR_STRLEN], dest[64], fr[24], hr[16];
        const char *warn = "", *woff = "";
        ep_addr_format(&d[i].remote, r, sizeof r);
        ep_addr_format(&d[i].local, l, sizeof l);
        snprintf(dest, sizeof dest, d[i].remote.family == AF_INET6 ? "[%s]:%u" : "%s:%u", r,
                 d[i].remote_port);
        if (d[i].free != EP_HOST_UNKNOWN && d[i].free_max != d[i].free)
            snprintf(fr, sizeof fr, "%lld-%lld", (long long)d[i].free, (long long)d[i].free_max);
        else
            ep_status_i64(fr, sizeof fr, d[i].free, "");
        if (d[i].headroom_pct < 0)
            snprintf(hr, sizeof hr, "unknown");
        else
            snprintf(hr, sizeof hr, "%.1f%%", d[i].headroom_pct);
        if (color && d[i].headroom_pct >= 0 && d[i].headroom_pct < 20) {
            warn = d[i].headroom_pct < 5 ? "\033[31m" : "\033[33m";
            woff = "\033[0m";
        }
        printf("%s  %-5s %-40s %-24s %7u %7u %9u %6u %7s %8s%s\n", warn,
               d[i].proto == 6 ? "tcp" : "udp", dest, l, d[i].used, d[i].established,
               d[i].time_wait, d[i].other, fr, hr, woff);
        for (size_t p = 0; p < d[i].nprocs; p++)
            printf("        pid %d (%s): %u of the sampled sockets\n", d[i].procs[p].pid,
                   d[i].procs[p].comm, d[i].procs[p].sockets);
    }
}

static void ep_status_tail(const ep_host_snapshot *snap, bool color)
{
    size_t n;
    const ep_host_counter *c = ep_host_snapshot_counters(snap, &n);
    const ep_host_advice *a;
    const char *const *notes;
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";

    printf("\n%sCounters%s\n ", bold, off);
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(c[i].name, '.');
        if (c[i].value == EP_HOST_UNKNOWN)
            printf(" %s unknown", dot ? dot + 1 : c[i].name);
        else
            printf(" %s %lld", dot ? dot + 1 : c[i].name, (long long)c[i].value);
        if (i + 1 < n)
            printf(",%s", i % 4 == 3 ? "\n " : "");
    }
    printf("\n");
    a = ep_host_snapshot_advice(snap, &n);
    if (n)
        printf("\n%sWarnings and advice%s\n", bold, off);
    for (size_t i = 0; i < n; i++) {
        const char *col = !color ? ""
                          : a[i].severity == EP_HOST_CRITICAL ? "\033[31m"
                          : a[i].severity == EP_HOST_WARNING ? "\033[33m" : "";
        printf("  %s%-8s%s %s\n", col, ep_host_severity_name(a[i].severity),
               color ? "\033[0m" : "", a[i].message ? a[i].message : "");
        if (a[i].remedy) {
            /* one remedy per line: the parts are separated by "; " */
            const char *r = a[i].remedy, *sep;
            printf("           remedy:\n");
            while ((sep = strstr(r, "; ")) != NULL) {
                printf("             - %.*s\n", (int)(sep - r), r);
                r = sep + 2;
            }
            printf("             - %s\n", r);
        }
    }
    notes = ep_host_snapshot_notes(snap, &n);
    if (n)
        printf("\n%sCould not read%s\n", bold, off);
    for (size_t i = 0; i < n; i++)
        printf("  - %s\n", notes[i]);
}

static int ep_status_all(const ep_host_options *o, bool json)
{
    ep_host_node_options no;
    ep_host_node *node;
    int rc;

    ep_host_node_options_init(&no);
    no.host = *o;
    rc = ep_host_node_take(&no, &node);
    if (rc) {
        ep_cli_error("status", "cannot list this host's network namespaces: %s",
                     ep_host_strerror(rc));
        return EP_EXIT_FAILURE;
    }
    if (json) {
        rc = ep_cli_print_json(ep_host_node_to_json(node));
    } else {
        ep_status_node_print(node, ep_cli_use_color(stdout));
        rc = fflush(stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE;
    }
    ep_host_node_free(node);
    return rc;
}

int ep_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "prometheus", required_argument, NULL, 'P' },
        { "top", required_argument, NULL, 't' },
        { "processes", no_argument, NULL, 'p' },
        { "netns", required_argument, NULL, 'n' },
        { "source", required_argument, NULL, 's' },
        { "warn", required_argument, NULL, 'w' },
        { "crit", required_argument, NULL, 'c' },
        { "no-probe", no_argument, NULL, 'N' },
        { "all-namespaces", no_argument, NULL, 'A' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    ep_host_options o;
    ep_host_snapshot *snap;
    bool json = false, all = false, color;
    const char *prom = NULL;
    char why[512];
    unsigned long v;
    int c, rc;

    ep_host_options_init(&o);
    o.top = 10;
    while ((c = getopt_long(argc, argv, "jt:pn:s:w:c:hP:NA", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'P':
            prom = optarg;
            break;
        case 't':
            if (!ep_cli_parse_ulong(optarg, 0, 1000000, &v)) {
                ep_cli_error("status", "--top wants a count 0..1000000, not '%s'", optarg);
                return EP_EXIT_USAGE;
            }
            o.top = v;
            break;
        case 'p':
            o.flags |= EP_HOST_WITH_PROCESSES;
            break;
        case 'N':
            o.flags |= EP_HOST_NO_PROBE;
            break;
        case 'n':
            o.netns = optarg;
            break;
        case 'A':
            all = true;
            break;
        case 's':
            if (ep_host_source_from_name(optarg, &o.source) != 0) {
                ep_cli_error("status", "--source wants auto, netlink or proc, not '%s'", optarg);
                return EP_EXIT_USAGE;
            }
            break;
        case 'w':
        case 'c':
            if (!ep_cli_parse_ulong(optarg, 1, 100, &v)) {
                ep_cli_error("status", "--%s wants a percentage 1..100, not '%s'",
                             c == 'w' ? "warn" : "crit", optarg);
                return EP_EXIT_USAGE;
            }
            if (c == 'w')
                o.warn_pct = (double)v;
            else
                o.crit_pct = (double)v;
            break;
        case 'h':
            ep_status_usage(stdout);
            return EP_EXIT_OK;
        default:
            ep_status_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ep_cli_error("status", "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    if (json && prom) {
        ep_cli_error("status", "--json and --prometheus are two different outputs; choose one");
        return EP_EXIT_USAGE;
    }
    if ((o.warn_pct ? o.warn_pct : 80) > (o.crit_pct ? o.crit_pct : 95)) {
        ep_cli_error("status", "--warn must not be above --crit");
        return EP_EXIT_USAGE;
    }
    if (all && o.netns) {
        ep_cli_error("status", "--all-namespaces reads every namespace; leave out --netns");
        return EP_EXIT_USAGE;
    }
    if (all && prom) {
        ep_cli_error("status", "--all-namespaces with --prometheus: use `ephport exporter "
                               "--all-namespaces --textfile FILE`");
        return EP_EXIT_USAGE;
    }
    if (all)
        return ep_status_all(&o, json);
    rc = ep_host_snapshot_take(&o, &snap);
    if (rc) {
        if (o.netns)
            ep_cli_error("status", "cannot read namespace '%s': %s", o.netns,
                         ep_host_strerror(rc));
        else
            ep_cli_error("status", "cannot read this host: %s", ep_host_strerror(rc));
        return EP_EXIT_FAILURE;
    }
    if (prom) {
        rc = ep_promfile_write(snap, prom, -1, why, sizeof why);
        ep_host_snapshot_free(snap);
        if (rc)
            ep_cli_error("status", "--prometheus: %s", why);
        return rc ? EP_EXIT_FAILURE : EP_EXIT_OK;
    }
    if (json) {
        rc = ep_cli_print_json(ep_host_snapshot_to_json(snap));
        ep_host_snapshot_free(snap);
        return rc;
    }
    color = ep_cli_use_color(stdout);
    if (o.netns)
        printf("Namespace %s\n\n", o.netns);
    ep_status_settings(snap, color);
    ep_status_sockets(snap, color);
    ep_status_dests(snap, color);
    ep_status_tail(snap, color);
    ep_host_snapshot_free(snap);
    return fflush(stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE;
}
