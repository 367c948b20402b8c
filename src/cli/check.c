/* check.c - `ephport check`: a monitoring-plugin check (Nagios, Icinga,
 * Sensu) on the destination under most pressure.  One status line with
 * performance data, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN:
 *
 *   EPHPORT WARNING - 10.0.0.5:443/tcp 85% used (4234 free) | used=23998;@22585.6:;@26820.4:;0;28232 ...
 *
 * "used" of a destination = effective ports - its free ports (its own
 * connections plus bind-only ports that block it).  Anything that keeps the
 * answer from being true (bad arguments, unreadable range or sockets) is
 * UNKNOWN, never OK. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/host.h>
#include <ephport/node.h>

#include "check-snat.h"
#include "cli.h"

enum { EP_CHECK_OK = 0, EP_CHECK_WARNING = 1, EP_CHECK_CRITICAL = 2, EP_CHECK_UNKNOWN = 3 };

static const char *const ep_check_words[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

static void ep_check_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport check [--warn PCT] [--crit PCT] [--min-free N]\n"
            "                     [--netns NAME|PATH | --all-namespaces]\n"
            "                     [--source auto|netlink|proc] [--snat]\n"
            "\n"
            "Monitoring-plugin check of the destination under most pressure: the share\n"
            "of the effective ephemeral ports it has taken.\n"
            "\n"
            "  --warn PCT         WARNING from PCT%% used (default 80; decimal, at most\n"
            "                     two decimals)\n"
            "  --crit PCT         CRITICAL from PCT%% used (default 95)\n"
            "  --min-free N       also CRITICAL when a destination has fewer than N free ports\n"
            "  --netns NAME|PATH  check the namespace /run/netns/NAME or at PATH\n"
            "  -A, --all-namespaces  the worst destination of every network namespace of the\n"
            "                     host (containers, pods); the line names its namespace;\n"
            "                     UNKNOWN if one cannot be entered (unless CRITICAL anyway)\n"
            "  --source SRC       netlink, proc or auto (default)\n"
            "  --snat             check the source NAT unit (NAT address -> destination\n"
            "                     address:port/protocol) with least headroom instead, from\n"
            "                     conntrack (see ephport snat); UNKNOWN if conntrack cannot\n"
            "                     be read; perfdata also insert_failed and drop (counters)\n"
            "  --help             this text\n"
            "\n"
            "Performance data (label=value;warn;crit;min;max):\n"
            "  used          the worst destination's used ports (effective - free); warn\n"
            "                and crit are --warn/--crit in ports as \"@X:\" (alert at X or\n"
            "                more, the Monitoring Plugins range syntax), never rounded\n"
            "  free          its free ports: connect()s that would succeed now (then\n"
            "                EADDRNOTAVAIL \"Cannot assign requested address\"); crit is\n"
            "                --min-free as \"N:\" (alert below N)\n"
            "  tw            its sockets in TIME_WAIT\n"
            "  destinations  how many destinations use the range\n"
            "\n"
            "Example, a container's namespace (PID of a process inside it):\n"
            "  ephport check --netns /proc/PID/ns/net --warn 70 --crit 90\n"
            "\n"
            "Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for bad arguments).\n");
}

static int ep_check_unknown(const char *fmt, const char *arg)
{
    printf("EPHPORT UNKNOWN - ");
    printf(fmt, arg);
    printf("\n");
    fflush(stdout);
    return EP_CHECK_UNKNOWN;
}

/* A percentage written in decimal: digits, optionally a point and one or
 * two more digits, 0..100 ("80", "95.5"; not "0x50", "8e1", " 80").  Kept
 * in hundredths, so the level and the perfdata threshold are exact. */
static bool ep_check_parse_pct(const char *text, long *hundredths)
{
    long whole = 0, frac = 0;
    int digits = 0, decimals = 0;
    const char *p = text;
    if (!p)
        return false;
    for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
        whole = whole * 10 + (*p - '0');
    if (digits == 0)
        return false;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9' && decimals < 2; p++, decimals++)
            frac = frac * 10 + (*p - '0');
        if (decimals == 0)
            return false;
        if (decimals == 1)
            frac *= 10;
    }
    if (*p != '\0' || whole * 100 + frac > 10000)
        return false;
    *hundredths = whole * 100 + frac;
    return true;
}

/* The threshold in ports, pct (hundredths) of eff, written exactly: the
 * product has at most four decimals.  Never rounded. */
static void ep_check_fmt_threshold(long pct, int64_t eff, char *buf, size_t len)
{
    int64_t x = (int64_t)pct * eff, rem = x % 10000;
    int n = snprintf(buf, len, "%lld", (long long)(x / 10000));
    if (rem && n > 0 && (size_t)n < len) {
        int places = 4;
        while (rem % 10 == 0) {
            rem /= 10;
            places--;
        }
        snprintf(buf + n, len - (size_t)n, ".%0*lld", places, (long long)rem);
    }
}

static void ep_check_dest_name(const ep_host_dest *d, char *buf, size_t len)
{
    char r[EP_ADDR_STRLEN];
    if (ep_addr_format(&d->remote, r, sizeof r) < 0)
        snprintf(r, sizeof r, "?");
    snprintf(buf, len, d->remote.family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s", r,
             d->remote_port, d->proto == 6 ? "tcp" : "udp");
}

/* WARNING from warn % used, CRITICAL from crit % (or below --min-free):
 * used / eff >= pct / 100, in integers. */
static int ep_check_level(const ep_host_dest *d, int64_t eff, long warn, long crit,
                          long min_free)
{
    int64_t used100 = (eff - d->free) * 10000;
    if (used100 >= (int64_t)crit * eff || (min_free >= 0 && d->free < min_free))
        return EP_CHECK_CRITICAL;
    if (used100 >= (int64_t)warn * eff)
        return EP_CHECK_WARNING;
    return EP_CHECK_OK;
}

/* A destination to judge, with its namespace's effective ports and, across
 * a node, the namespace's label. */
typedef struct ep_check_cand {
    const ep_host_dest *d;
    int64_t eff;
    const char *ns;
} ep_check_cand;

/* UNKNOWN (printed) when the snapshot cannot give a true answer. */
static int ep_check_readable(const ep_host_snapshot *snap, const char *ns)
{
    const ep_host_settings *st = ep_host_snapshot_settings(snap);
    char what[300];

    if (st->effective_ports <= 0) {
        snprintf(what, sizeof what, "the ephemeral port range is unreadable%s%s",
                 ns ? " in namespace " : "", ns ? ns : "");
        return ep_check_unknown("%s", what);
    }
    if (ep_host_snapshot_source(snap, 6) == EP_HOST_SOURCE_NONE ||
        ep_host_snapshot_source(snap, 17) == EP_HOST_SOURCE_NONE) {
        snprintf(what, sizeof what, "the sockets are unreadable%s%s (run ephport status for why)",
                 ns ? " in namespace " : "", ns ? ns : "");
        return ep_check_unknown("%s", what);
    }
    return EP_CHECK_OK;
}

/* Judge every candidate (sorted by pressure), print the status line with
 * the worst one and its performance data; eff0 is the effective count shown
 * when there is no destination.  `extra` ends the text part.  Returns the
 * level, or UNKNOWN when stdout fails. */
static int ep_check_report(const ep_check_cand *c, size_t n, size_t total, int64_t eff0,
                           long warn, long crit, long min_free, const char *extra)
{
    int level = EP_CHECK_OK;
    size_t above_warn = 0;
    char name[96], wt[32], ct[32];

    for (size_t i = 0; i < n; i++) {
        int l = ep_check_level(c[i].d, c[i].eff, warn, crit, min_free);
        if (l >= EP_CHECK_WARNING)
            above_warn++;
        if (l > level)
            level = l;
    }
    if (n == 0) {
        /* Performance data thresholds in the Monitoring Plugins range
         * syntax, saying what the exit code says: "@X:" alerts when used >=
         * X (a bare "X" would alert only above X), X exact; free's "N:"
         * alerts below N. */
        ep_check_fmt_threshold(warn, eff0, wt, sizeof wt);
        ep_check_fmt_threshold(crit, eff0, ct, sizeof ct);
        printf("EPHPORT OK - no destination uses the ephemeral range (%lld ports free)%s",
               (long long)eff0, extra);
        printf(" | used=0;@%s:;@%s:;0;%lld free=%lld;;;0;%lld tw=0;;;0; destinations=0\n", wt, ct,
               (long long)eff0, (long long)eff0, (long long)eff0);
    } else {
        /* The destination reported: the worst one (highest level, then the
         * most pressure; candidates are sorted by pressure). */
        const ep_check_cand *worst = &c[0];
        int64_t used;
        char minf[24] = "";
        for (size_t i = 0; i < n; i++)
            if (ep_check_level(c[i].d, c[i].eff, warn, crit, min_free) == level) {
                worst = &c[i];
                break;
            }
        ep_check_fmt_threshold(warn, worst->eff, wt, sizeof wt);
        ep_check_fmt_threshold(crit, worst->eff, ct, sizeof ct);
        used = worst->eff - worst->d->free;
        ep_check_dest_name(worst->d, name, sizeof name);
        if (min_free >= 0)
            snprintf(minf, sizeof minf, "%ld:", min_free);
        printf("EPHPORT %s - %s%s%s %.0f%% used (%lld free)", ep_check_words[level],
               worst->ns ? worst->ns : "", worst->ns ? ": " : "", name,
               100.0 * (double)used / (double)worst->eff, (long long)worst->d->free);
        if (above_warn > 1)
            printf(", %zu destinations at or above warning", above_warn);
        printf("%s | used=%lld;@%s:;@%s:;0;%lld free=%lld;;%s;0;%lld tw=%u;;;0; destinations=%zu\n",
               extra, (long long)used, wt, ct, (long long)worst->eff, (long long)worst->d->free,
               minf, (long long)worst->eff, worst->d->time_wait, total);
    }
    return fflush(stdout) == 0 ? level : EP_CHECK_UNKNOWN;
}

/* --all-namespaces: the worst destination of the node.  A namespace that
 * vanished during the scan is no longer there to check; one that could not
 * be entered or read leaves the answer unknown unless the node is already
 * CRITICAL elsewhere. */
static int ep_check_node(const ep_host_options *o, long warn, long crit, long min_free)
{
    ep_host_node_options no;
    ep_host_node *node;
    ep_check_cand *cand;
    const ep_host_node_dest *nd;
    size_t n, total, blind = 0;
    const char *blind_why = NULL, *blind_ns = NULL;
    int64_t eff0 = 0;
    int level, rc;
    char extra[96] = "";

    ep_host_node_options_init(&no);
    no.host = *o;
    no.host.top = 0;
    rc = ep_host_node_take(&no, &node);
    if (rc)
        return ep_check_unknown("cannot list this host's network namespaces: %s",
                                ep_host_strerror(rc));
    for (size_t i = 0; i < ep_host_node_count(node); i++) {
        const char *why;
        const ep_host_snapshot *s = ep_host_node_snapshot(node, i, &why);
        if (!s) {
            if (why && strstr(why, "vanished"))
                continue;
            if (!blind++) {
                blind_why = why;
                blind_ns = ep_host_node_netns(node, i)->label;
            }
            continue;
        }
        if (ep_host_node_netns(node, i)->self)
            eff0 = ep_host_snapshot_settings(s)->effective_ports;
        if ((rc = ep_check_readable(s, ep_host_node_netns(node, i)->label)) != EP_CHECK_OK) {
            ep_host_node_free(node);
            return rc;
        }
    }
    nd = ep_host_node_dests(node, &n, &total);
    cand = calloc(n ? n : 1, sizeof *cand);
    if (!cand) {
        ep_host_node_free(node);
        return ep_check_unknown("out of memory%s", "");
    }
    for (size_t i = 0; i < n; i++) {
        const ep_host_snapshot *s = ep_host_node_snapshot(node, nd[i].netns, NULL);
        cand[i] = (ep_check_cand){ nd[i].dest, ep_host_snapshot_settings(s)->effective_ports,
                                   ep_host_node_netns(node, nd[i].netns)->label };
    }
    snprintf(extra, sizeof extra, " [%zu namespaces]",
             ep_host_node_count(node) - ep_host_node_unreadable(node));
    if (blind) {
        /* what the readable namespaces say, if it is already the worst */
        level = EP_CHECK_OK;
        for (size_t i = 0; i < n; i++) {
            int l = ep_check_level(cand[i].d, cand[i].eff, warn, crit, min_free);
            if (l > level)
                level = l;
        }
        if (level < EP_CHECK_CRITICAL) {
            char msg[400];
            snprintf(msg, sizeof msg, "%zu namespace(s) could not be read, e.g. %s: %s", blind,
                     blind_ns, blind_why ? blind_why : "unknown reason");
            free(cand);
            ep_host_node_free(node);
            return ep_check_unknown("%s", msg);
        }
    }
    level = ep_check_report(cand, n, total, eff0, warn, crit, min_free, extra);
    free(cand);
    ep_host_node_free(node);
    return level;
}

int ep_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        { "warn", required_argument, NULL, 'w' },
        { "crit", required_argument, NULL, 'c' },
        { "min-free", required_argument, NULL, 'm' },
        { "netns", required_argument, NULL, 'n' },
        { "source", required_argument, NULL, 's' },
        { "all-namespaces", no_argument, NULL, 'A' },
        { "snat", no_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    ep_host_options o;
    ep_host_snapshot *snap;
    const ep_host_settings *st;
    const ep_host_dest *dests;
    ep_check_cand *cand;
    long warn = 8000, crit = 9500; /* hundredths of a per cent */
    long min_free = -1;
    unsigned long v;
    size_t n, total;
    bool all = false, snat = false;
    int c, rc, level;

    ep_host_options_init(&o);
    opterr = 0; /* our own messages, in plugin format */
    while ((c = getopt_long(argc, argv, ":w:c:m:n:s:hAS", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            if (!ep_check_parse_pct(optarg, &warn))
                return ep_check_unknown("--warn wants a decimal percentage 0..100 (at most two decimals), "
                                        "not '%s'", optarg);
            break;
        case 'c':
            if (!ep_check_parse_pct(optarg, &crit))
                return ep_check_unknown("--crit wants a decimal percentage 0..100 (at most two decimals), "
                                        "not '%s'", optarg);
            break;
        case 'm':
            if (!ep_cli_parse_ulong(optarg, 0, 65535, &v))
                return ep_check_unknown("--min-free wants a port count 0..65535, not '%s'",
                                        optarg);
            min_free = (long)v;
            break;
        case 'n':
            o.netns = optarg;
            break;
        case 'A':
            all = true;
            break;
        case 'S':
            snat = true;
            break;
        case 's':
            if (ep_host_source_from_name(optarg, &o.source) != 0)
                return ep_check_unknown("--source wants auto, netlink or proc, not '%s'", optarg);
            break;
        case 'h':
            ep_check_usage(stdout);
            return EP_CHECK_OK;
        case ':':
            return ep_check_unknown("option %s needs a value", argv[optind - 1]);
        default:
            return ep_check_unknown("unknown option '%s' (see ephport check --help)",
                                    argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ep_check_unknown("unexpected argument '%s'", argv[optind]);
    if (warn > crit)
        return ep_check_unknown("--warn must not be above --crit%s", "");
    o.warn_pct = warn > 0 ? (double)warn / 100 : 0.001;
    o.crit_pct = crit > 0 ? (double)crit / 100 : 0.001;
    if (all && o.netns)
        return ep_check_unknown("--all-namespaces reads every namespace; leave out --netns%s", "");
    if (snat && all)
        return ep_check_unknown("--snat reads one namespace (the NAT box's); leave out "
                                "--all-namespaces%s", "");
    if (snat)
        return ep_check_snat(o.netns, warn, crit, min_free);
    if (all)
        return ep_check_node(&o, warn, crit, min_free);
    rc = ep_host_snapshot_take(&o, &snap);
    if (rc)
        return ep_check_unknown("cannot read the host: %s", ep_host_strerror(rc));
    if ((rc = ep_check_readable(snap, NULL)) != EP_CHECK_OK) {
        ep_host_snapshot_free(snap);
        return rc;
    }
    st = ep_host_snapshot_settings(snap);
    dests = ep_host_snapshot_dests(snap, &n, &total);
    cand = calloc(n ? n : 1, sizeof *cand);
    if (!cand) {
        ep_host_snapshot_free(snap);
        return ep_check_unknown("out of memory%s", "");
    }
    for (size_t i = 0; i < n; i++)
        cand[i] = (ep_check_cand){ &dests[i], st->effective_ports, NULL };
    level = ep_check_report(cand, n, total, st->effective_ports, warn, crit, min_free, "");
    free(cand);
    ep_host_snapshot_free(snap);
    if (fflush(stdout) != 0)
        return EP_CHECK_UNKNOWN;
    return level;
}
