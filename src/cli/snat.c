/* snat.c - `ephport snat`: the source NAT units of a namespace (translated
 * source address, protocol, destination address and port) with their used
 * and free ports against the NAT rule's range, the conntrack table's count,
 * limit and per-CPU statistics, and advice.  The reading and grouping are
 * libephport-host's (src/host/snat*.c); this file parses and renders.
 * Shared with check and the exporter: ep_cli_snat_read(). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/snat-json.h>
#include <ephport/snat.h>

#include "cli.h"

static void ep_snat_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport snat [--netns NAME|PATH] [--json] [--top N]\n"
            "                    [--source auto|netlink|proc] [--ruleset FILE | --no-nft]\n"
            "\n"
            "Source NAT port exhaustion, read from connection tracking: the flows whose\n"
            "source was translated (masquerade, snat), grouped by the unit that runs out in\n"
            "Linux's NAT - translated source address, protocol, destination address and\n"
            "port - against the port range the NAT rule may use (read from nftables).\n"
            "\n"
            "  --netns NAME|PATH  read the namespace /run/netns/NAME or at PATH\n"
            "  --json             one JSON object (schema in ephport-snat(1))\n"
            "  --top N            show the N units with least headroom (default 10, 0 = all)\n"
            "  --source SRC       netlink (ctnetlink), proc (/proc/net/nf_conntrack) or auto\n"
            "                     (default: netlink, /proc when netlink fails)\n"
            "  --ruleset FILE     take `nft -j list ruleset` output from FILE (- = stdin)\n"
            "                     instead of running nft in the namespace\n"
            "  --no-nft           do not read the ruleset: the kernel's default range\n"
            "  --help             this text\n"
            "\n"
            "Columns:\n"
            "  NAT ADDRESS, DESTINATION  the unit: every flow in it needs its own port\n"
            "  USED               entries holding a port of the range (translated flows and\n"
            "                     the NAT box's own connections from that address)\n"
            "  FREE, PORTS        ports of the range left, and in all\n"
            "  HEADROOM           FREE / PORTS\n"
            "  CLOSING            of USED: TCP entries in TIME_WAIT or CLOSE (Linux may take\n"
            "                     one over for a new SYN when few ports are left)\n"
            "  RANGE              the range and where it comes from: rule, default (a rule\n"
            "                     without a range: 1024-65535), assumed (no rule read)\n"
            "\n"
            "Needs CAP_NET_ADMIN (root) to dump conntrack and read the ruleset.\n"
            "Exit status: 0 read, 1 could not read, 2 bad command line.\n");
}

static const char *ep_snat_proto_name(uint8_t p)
{
    return p == 6 ? "tcp" : p == 17 ? "udp" : p == 132 ? "sctp" : p == 33 ? "dccp" : "udplite";
}

static char *ep_snat_slurp(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return NULL;
    for (;;) {
        size_t got;
        if (n + 4097 > cap) {
            char *t = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!t) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = t;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (buf)
        buf[n] = '\0';
    if (f != stdin)
        fclose(f);
    return buf;
}

static void ep_snat_print(const ep_snat *s, bool color)
{
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
    const ep_snat_stats *st = ep_snat_statistics(s);
    const ep_snat_unit *u;
    const ep_snat_rule *r;
    const ep_host_advice *a;
    const char *const *notes;
    size_t n, total, nr, nn, na;
    bool known;
    char v[32], m[32];

    u = ep_snat_units(s, &n, &total);
    printf("%sSource NAT%s%s%s (flows from %s)\n", bold, off, ep_snat_netns(s) ? " in " : "",
           ep_snat_netns(s) ? ep_snat_netns(s) : "",
           ep_snat_source(s) ? (strcmp(ep_snat_source(s), "proc") == 0
                                    ? "/proc/net/nf_conntrack" : "ctnetlink")
                             : "nowhere: see notes");
    if (ep_snat_conntrack_count(s) >= 0)
        snprintf(v, sizeof v, "%lld", (long long)ep_snat_conntrack_count(s));
    else
        snprintf(v, sizeof v, "unknown");
    if (ep_snat_conntrack_max(s) >= 0)
        snprintf(m, sizeof m, "%lld", (long long)ep_snat_conntrack_max(s));
    else
        snprintf(m, sizeof m, "unknown");
    printf("  conntrack        %s of %s entries; %llu translated flows in %zu units\n", v, m,
           (unsigned long long)ep_snat_flows(s), total);
    if (st->ncpu >= 0)
        printf("  statistics       %d CPUs: insert_failed %lld, drop %lld, early_drop %lld, "
               "search_restart %lld, clash_resolve %lld\n",
               st->ncpu, (long long)st->insert_failed, (long long)st->drop,
               (long long)st->early_drop, (long long)st->search_restart,
               (long long)st->clash_resolve);
    else
        printf("  statistics       unknown (see notes)\n");
    r = ep_snat_rules(s, &nr, &known);
    if (!known)
        printf("  nftables rules   not read (see notes)\n");
    else if (nr == 0)
        printf("  nftables rules   no masquerade or snat statement\n");
    for (size_t i = 0; i < nr; i++) {
        char ports[24] = "no range";
        if (r[i].has_ports)
            snprintf(ports, sizeof ports, "ports %u-%u", r[i].port_lo, r[i].port_hi);
        printf("  %-16s %s %s%s, %s%s%s\n", i ? "" : "nftables rules", r[i].kind,
               r[i].proto ? ep_snat_proto_name(r[i].proto) : "any protocol",
               r[i].has_addr ? " to an address range" : "", ports,
               r[i].fully_random ? ", fully-random" : r[i].random ? ", random" : "",
               r[i].persistent ? ", persistent" : "");
        printf("  %-16s   (%s)\n", "", r[i].where);
    }
    if (n) {
        printf("\n%s%-15s %-28s %-5s %6s %6s %6s %8s %7s  %s%s\n", bold, "NAT ADDRESS",
               "DESTINATION", "PROTO", "USED", "FREE", "PORTS", "HEADROOM", "CLOSING", "RANGE",
               off);
        for (size_t i = 0; i < n; i++) {
            char nat[EP_ADDR_STRLEN], dst[EP_ADDR_STRLEN], d[EP_ADDR_STRLEN + 10];
            ep_addr_format(&u[i].nat_addr, nat, sizeof nat);
            ep_addr_format(&u[i].dst, dst, sizeof dst);
            snprintf(d, sizeof d, u[i].dst.family == AF_INET6 ? "[%s]:%u" : "%s:%u", dst,
                     u[i].dst_port);
            printf("%-15s %-28s %-5s %6u %6lld %6lld %7.1f%% %7u  %u-%u %s%s\n", nat, d,
                   ep_snat_proto_name(u[i].proto), u[i].in_range, (long long)u[i].free,
                   (long long)u[i].ports, u[i].headroom_pct, u[i].closing, u[i].port_lo,
                   u[i].port_hi, u[i].range_from, u[i].ambiguous ? " (narrowest of several)" : "");
        }
        if (total > n)
            printf("(%zu more units; --top 0 shows all)\n", total - n);
    }
    a = ep_snat_advice(s, &na);
    if (na)
        printf("\n%sWarnings and advice%s\n", bold, off);
    for (size_t i = 0; i < na; i++)
        printf("  [%s] %s\n      fix: %s\n", ep_host_severity_name(a[i].severity), a[i].message,
               a[i].remedy);
    notes = ep_snat_notes(s, &nn);
    if (nn)
        printf("\nNotes\n");
    for (size_t i = 0; i < nn; i++)
        printf("  - %s\n", notes[i]);
}

int ep_cmd_snat(int argc, char **argv)
{
    static const struct option opts[] = {
        { "netns", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "top", required_argument, NULL, 't' },
        { "source", required_argument, NULL, 's' },
        { "ruleset", required_argument, NULL, 'r' },
        { "no-nft", no_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    ep_snat_options o;
    ep_snat *s;
    bool json = false;
    unsigned long top = 10;
    char *ruleset = NULL;
    int c, rc;

    ep_snat_options_init(&o);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:jt:s:r:Nh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            o.netns = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 't':
            if (!ep_cli_parse_ulong(optarg, 0, 1000000, &top)) {
                ep_cli_error("snat", "--top needs a number 0-1000000, not '%s'", optarg);
                return EP_EXIT_USAGE;
            }
            break;
        case 's':
            if (strcmp(optarg, "proc") == 0)
                o.flags |= EP_SNAT_SOURCE_PROC;
            else if (strcmp(optarg, "netlink") != 0 && strcmp(optarg, "auto") != 0) {
                ep_cli_error("snat", "--source is netlink, proc or auto, not '%s'", optarg);
                return EP_EXIT_USAGE;
            }
            break;
        case 'r':
            free(ruleset);
            ruleset = ep_snat_slurp(optarg);
            if (!ruleset) {
                ep_cli_error("snat", "cannot read the ruleset file '%s'", optarg);
                return EP_EXIT_FAILURE;
            }
            o.nft_json = ruleset;
            break;
        case 'N':
            o.flags |= EP_SNAT_NO_NFT;
            break;
        case 'h':
            ep_snat_usage(stdout);
            return EP_EXIT_OK;
        case ':':
            ep_cli_error("snat", "option %s needs a value", argv[optind - 1]);
            free(ruleset);
            return EP_EXIT_USAGE;
        default:
            ep_cli_error("snat", "unknown option '%s' (see ephport snat --help)", argv[optind - 1]);
            free(ruleset);
            return EP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ep_cli_error("snat", "unexpected argument '%s'", argv[optind]);
        free(ruleset);
        return EP_EXIT_USAGE;
    }
    o.top = top;
    rc = ep_snat_take(&o, &s);
    free(ruleset);
    if (rc < 0) {
        ep_cli_error("snat", "cannot read %s: %s", o.netns ? o.netns : "this namespace",
                     ep_host_strerror(rc));
        return EP_EXIT_FAILURE;
    }
    if (json)
        rc = ep_cli_print_json(ep_snat_to_json(s));
    else {
        ep_snat_print(s, ep_cli_use_color(stdout));
        rc = EP_EXIT_OK;
    }
    ep_snat_free(s);
    return rc;
}
