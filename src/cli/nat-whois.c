/* nat-whois.c - `ephport nat whois`: "who had EXT_ADDR:PORT?" and "where
 * does INSIDE_ADDR go?", answered from a deterministic plan (given inline
 * or picked by time from a plan history) in O(1), or from the SQLite
 * port-block log by interval lookup. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "nat.h"

static void ep_nat_whois_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport nat whois EXT_ADDR:PORT | INSIDE_ADDR  (one source below)\n"
            "         --plan FILE [--at TIME]          a plan history\n"
            "         --log FILE|URI [--at TIME]       the port-block log (EXT_ADDR:PORT only)\n"
            "         --inside LIST --outside LIST [--ports LO-HI] [--ratio N | --block-size N]\n"
            "       [--proto tcp|udp|icmp] [--json]\n"
            "\n"
            "EXT_ADDR:PORT ([V6]:PORT for IPv6) gives the subscriber that held it;\n"
            "INSIDE_ADDR gives its external address and port block.\n"
            "\n"
            "  --plan FILE     plan history (see ephport nat plan --save); the plan in\n"
            "                  force at --at is used\n"
            "  --log FILE|URI  port-block log: an SQLite file or a postgresql:// URI\n"
            "                  (see ephport nat log)\n"
            "  --at TIME       RFC 3339 UTC (2026-11-24T10:02:00Z) or Unix seconds;\n"
            "                  default now\n"
            "  --proto P       tcp (default), udp or icmp; deterministic plans map all\n"
            "                  three the same way, the log keeps them apart\n"
            "  --json          one JSON object\n"
            "  --help          this text\n"
            "\n"
            "Exit codes: 0 found, 1 no such mapping or an unreadable or damaged source,\n"
            "2 usage (including a bad CIDR in an inline plan).\n");
}

static int ep_nat_whois_print(bool json, const char *query, const char *proto, int64_t at,
                              bool has_at, const ep_nat_mapping *m, const ep_natlog_record *r,
                              int64_t from, int64_t until)
{
    char in[EP_ADDR_STRLEN], ext[EP_ADDR_STRLEN], t[EP_NAT_TIME_STRLEN] = "";
    char a[EP_NAT_TIME_STRLEN] = "", b[EP_NAT_TIME_STRLEN] = "";
    const ep_addr *ia = m ? &m->inside : &r->subscriber, *ea = m ? &m->ext : &r->ext;
    unsigned lo = m ? m->port_lo : r->port_lo, hi = m ? m->port_hi : r->port_hi;
    ep_addr_format(ia, in, sizeof in);
    ep_addr_format(ea, ext, sizeof ext);
    if (has_at)
        ep_nat_time_format(at, t, sizeof t);
    if (from != INT64_MIN)
        ep_nat_time_format(from, a, sizeof a);
    if (until != INT64_MAX)
        ep_nat_time_format(until, b, sizeof b);
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "query", query, "proto", proto,
                              "inside", in, "external", ext, "port_lo", lo, "port_hi", hi);
        if (o && has_at)
            json_object_set_new(o, "at", json_string(t));
        if (o && m)
            json_object_set_new(o, "subscriber_index", json_integer((json_int_t)m->index));
        if (o && a[0])
            json_object_set_new(o, r ? "start" : "plan_valid_from", json_string(a));
        if (o && (from != INT64_MIN || r))
            json_object_set_new(o, r ? "end" : "plan_valid_until", b[0] ? json_string(b) : json_null());
        json_object_set_new(o, "source", json_string(r ? "log" : "plan"));
        return ep_cli_print_json(o);
    }
    printf("%s -> inside %s, external %s ports %u-%u", query, in, ext, lo, hi);
    if (r)
        printf(" (%s, held %s until %s)", proto, a, b[0] ? b : "now");
    else if (a[0])
        printf(" (plan in force %s until %s)", a, b[0] ? b : "now");
    if (has_at)
        printf(" at %s", t);
    printf("\n");
    return fflush(stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE;
}

int ep_nat_cmd_whois(int argc, char **argv)
{
    static const struct option opts[] = {
        { "plan", required_argument, NULL, 'P' },
        { "log", required_argument, NULL, 'L' },
        { "at", required_argument, NULL, 'a' },
        { "proto", required_argument, NULL, 't' },
        { "inside", required_argument, NULL, 'i' },
        { "outside", required_argument, NULL, 'o' },
        { "ports", required_argument, NULL, 'p' },
        { "ratio", required_argument, NULL, 'r' },
        { "block-size", required_argument, NULL, 'b' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "nat whois", *plan_file = NULL, *log_file = NULL, *proto_name = "tcp";
    ep_nat_config cfg = { 0 };
    bool json = false, has_at = false, has_port, inline_plan = false;
    int64_t at = 0, from = INT64_MIN, until = INT64_MAX;
    uint8_t proto = 6;
    ep_addr addr;
    uint16_t port = 0;
    ep_nat_mapping m;
    ep_nat_plan *owned = NULL;
    const ep_nat_plan *plan;
    ep_nat_history *hist = NULL;
    ep_parse_error err;
    int c, rc;

    while ((c = getopt_long(argc, argv, "P:L:a:t:i:o:p:r:b:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'P':
            plan_file = optarg;
            break;
        case 'L':
            log_file = optarg;
            break;
        case 'a':
            if (!ep_nat_cli_time(cmd, "--at", optarg, &at))
                return EP_EXIT_USAGE;
            has_at = true;
            break;
        case 't':
            if (ep_nat_proto_parse(optarg, &proto) != 0) {
                ep_cli_error(cmd, "--proto '%s' is not tcp, udp or icmp", optarg);
                return EP_EXIT_USAGE;
            }
            proto_name = optarg;
            break;
        case 'i':
            cfg.inside = optarg;
            inline_plan = true;
            break;
        case 'o':
            cfg.outside = optarg;
            inline_plan = true;
            break;
        case 'p':
            if (!ep_nat_cli_ports(cmd, optarg, &cfg))
                return EP_EXIT_USAGE;
            inline_plan = true;
            break;
        case 'r':
            if (!ep_nat_cli_u32(cmd, "--ratio", optarg, 65535, &cfg.ratio))
                return EP_EXIT_USAGE;
            inline_plan = true;
            break;
        case 'b':
            if (!ep_nat_cli_u32(cmd, "--block-size", optarg, 65535, &cfg.block_size))
                return EP_EXIT_USAGE;
            inline_plan = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            ep_nat_whois_usage(stdout);
            return EP_EXIT_OK;
        default:
            ep_nat_whois_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        ep_cli_error(cmd, optind >= argc ? "give EXT_ADDR:PORT or INSIDE_ADDR"
                                         : "give one EXT_ADDR:PORT or INSIDE_ADDR");
        return EP_EXIT_USAGE;
    }
    if ((plan_file != NULL) + (log_file != NULL) + inline_plan != 1) {
        ep_cli_error(cmd, "give exactly one of --plan FILE, --log FILE, or --inside/--outside");
        return EP_EXIT_USAGE;
    }
    if (inline_plan && has_at) {
        ep_cli_error(cmd, "--at needs --plan or --log (an inline plan has no history)");
        return EP_EXIT_USAGE;
    }
    if (inline_plan && (!cfg.inside || !cfg.outside)) {
        ep_cli_error(cmd, "an inline plan needs --inside and --outside");
        return EP_EXIT_USAGE;
    }
    if (!ep_nat_cli_endpoint(cmd, argv[optind], &addr, &port, &has_port))
        return EP_EXIT_USAGE;
    if ((plan_file || log_file) && !has_at) {
        at = ep_nat_cli_now();
        has_at = true;
    }

    if (log_file) {
        ep_natlog_options o = { .read_only = true };
        ep_natlog *log;
        ep_natlog_record r;
        if (!has_port) {
            ep_cli_error(cmd, "with --log, give EXT_ADDR:PORT (the log is indexed by "
                              "external address)");
            return EP_EXIT_USAGE;
        }
        rc = ep_natlog_open(log_file, &o, &log, &err);
        if (rc != 0) {
            ep_cli_error(cmd, "%s", rc == EP_ENOMEM ? ep_strerror(rc) : err.message);
            return EP_EXIT_FAILURE;
        }
        rc = ep_natlog_whois(log, &addr, proto, port, at, &r);
        if (rc == EP_EBADMSG || (rc != 0 && rc != EP_ENOENT)) {
            if (rc == EP_EBADMSG)
                ep_cli_error(cmd, "%s is damaged, no answer: %s; 'ephport nat log check --log "
                                  "%s' lists what is wrong",
                             log_file, ep_natlog_errmsg(log), log_file);
            else
                ep_cli_error(cmd, "cannot read %s: %s", log_file,
                             ep_natlog_errmsg(log)[0] ? ep_natlog_errmsg(log) : ep_strerror(rc));
            ep_natlog_close(log);
            return EP_EXIT_FAILURE;
        }
        ep_natlog_close(log);
        if (rc == EP_ENOENT) {
            char t[EP_NAT_TIME_STRLEN];
            ep_nat_time_format(at, t, sizeof t);
            ep_cli_error(cmd, "no subscriber held %s (%s) at %s in %s", argv[optind], proto_name,
                         t, log_file);
            return EP_EXIT_FAILURE;
        }
        if (rc != 0) {
            ep_cli_error(cmd, "cannot read %s: %s", log_file, ep_strerror(rc));
            return EP_EXIT_FAILURE;
        }
        return ep_nat_whois_print(json, argv[optind], proto_name, at, has_at, NULL, &r, r.start,
                                  r.end);
    }

    if (plan_file) {
        rc = ep_nat_history_load(plan_file, &hist, &err);
        if (rc != 0) {
            ep_cli_error(cmd, "%s: %s", plan_file, rc == EP_ENOMEM ? ep_strerror(rc) : err.message);
            return EP_EXIT_FAILURE;
        }
        plan = ep_nat_history_find(hist, at, &from, &until);
        if (!plan) {
            char t[EP_NAT_TIME_STRLEN];
            ep_nat_time_format(at, t, sizeof t);
            ep_cli_error(cmd, "no plan in %s was in force at %s", plan_file, t);
            ep_nat_history_free(hist);
            return EP_EXIT_FAILURE;
        }
    } else {
        owned = ep_nat_cli_plan_new(cmd, &cfg, &rc);
        if (!owned)
            return rc;
        plan = owned;
    }
    rc = has_port ? ep_nat_plan_reverse(plan, &addr, port, &m) : ep_nat_plan_forward(plan, &addr, &m);
    if (rc == 0) {
        rc = ep_nat_whois_print(json, argv[optind], proto_name, at, has_at, &m, NULL, from, until);
    } else {
        ep_cli_error(cmd, has_port ? "%s is not in any subscriber's block in this plan"
                                   : "%s is not an inside address of this plan",
                     argv[optind]);
        rc = EP_EXIT_FAILURE;
    }
    ep_nat_history_free(hist);
    ep_nat_plan_free(owned);
    return rc;
}
