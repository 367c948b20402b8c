/* nat.c - `ephport nat`: dispatch to plan | whois | log, and the option
 * parsing those subcommands share (times, port ranges, endpoints). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "nat.h"

static void ep_nat_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport nat <plan|whois|log> [options]\n"
            "\n"
            "Carrier-grade NAT port blocks: deterministic plans (RFC 7422) with an\n"
            "nftables ruleset, \"who had this address:port?\" from a plan history or\n"
            "from the SQLite port-block log.\n"
            "\n"
            "  plan    compute a deterministic plan (table, --json, --nft, --save)\n"
            "  whois   EXT_ADDR:PORT -> subscriber, or INSIDE_ADDR -> address and block\n"
            "  log     the port-block log: add, release, import, export, prune, check\n"
            "\n"
            "Run 'ephport nat <subcommand> --help' for its options; see ephport-nat(1).\n"
            "Exit codes: 0 success, 1 failure (including \"no such mapping\" and a damaged\n"
            "file), 2 usage (including a bad CIDR or a plan the options cannot make).\n");
}

int ep_cmd_nat(int argc, char **argv)
{
    static char name[32];
    const char *sub;
    if (argc < 2) {
        ep_nat_usage(stderr);
        return EP_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        ep_nat_usage(stdout);
        return EP_EXIT_OK;
    }
    /* 0, not 1: glibc then re-reads the option string, so the subcommands
     * get GNU argument permutation back after main.c's "+" (stop at the
     * first non-option) parse. */
    optind = 0;
    sub = argv[1];
    if (strcmp(sub, "plan") != 0 && strcmp(sub, "whois") != 0 && strcmp(sub, "log") != 0) {
        ep_cli_error("nat", "unknown subcommand '%s' (plan, whois or log)", sub);
        return EP_EXIT_USAGE;
    }
    /* getopt's own messages then start "ephport nat SUB:" (see main.c) */
    snprintf(name, sizeof name, "ephport nat %s", sub);
    argv[1] = name;
    if (strcmp(sub, "plan") == 0)
        return ep_nat_cmd_plan(argc - 1, argv + 1);
    if (strcmp(sub, "whois") == 0)
        return ep_nat_cmd_whois(argc - 1, argv + 1);
    return ep_nat_cmd_log(argc - 1, argv + 1);
}

bool ep_nat_cli_time(const char *cmd, const char *opt, const char *text, int64_t *out)
{
    if (ep_nat_time_parse(text, out) == 0)
        return true;
    ep_cli_error(cmd, "%s '%s' is not a UTC time (2026-11-24T10:02:00Z or Unix seconds)", opt,
                 text);
    return false;
}

bool ep_nat_cli_ports(const char *cmd, const char *text, ep_nat_config *cfg)
{
    ep_parse_error err;
    if (ep_range_parse(text, &cfg->port_lo, &cfg->port_hi, &err) == 0)
        return true;
    ep_cli_error(cmd, "--ports '%s': %s", text, err.message);
    return false;
}

bool ep_nat_cli_u32(const char *cmd, const char *opt, const char *text, uint32_t max,
                    uint32_t *out)
{
    unsigned long v;
    if (ep_cli_parse_ulong(text, 1, max, &v)) {
        *out = (uint32_t)v;
        return true;
    }
    ep_cli_error(cmd, "%s '%s' is not a whole number from 1 to %u", opt, text, max);
    return false;
}

ep_nat_plan *ep_nat_cli_plan_new(const char *cmd, const ep_nat_config *cfg, int *exit_code)
{
    ep_nat_plan *plan = NULL;
    ep_parse_error err;
    int rc = ep_nat_plan_new(cfg, &plan, &err);
    *exit_code = EP_EXIT_OK;
    if (rc == 0)
        return plan;
    /* every EINVAL is about the options given: a usage error, like a bad
     * --ports or --ratio */
    if (rc == EP_EINVAL) {
        ep_cli_error(cmd, "%s", err.message);
        *exit_code = EP_EXIT_USAGE;
    } else {
        ep_cli_error(cmd, "cannot build the plan: %s", ep_strerror(rc));
        *exit_code = EP_EXIT_FAILURE;
    }
    return NULL;
}

bool ep_nat_cli_endpoint(const char *cmd, const char *text, ep_addr *addr, uint16_t *port,
                         bool *has_port)
{
    const char *colon = strrchr(text, ':');
    unsigned long p;
    char host[EP_ADDR_STRLEN + 2];
    size_t hlen;

    *has_port = false;
    /* A bare address: IPv4, IPv6, or [IPv6]. */
    if (ep_addr_parse(text, addr) == 0)
        return true;
    if (colon && (text[0] == '[' ? colon > text && colon[-1] == ']' : strchr(text, ':') == colon)) {
        hlen = (size_t)(colon - text);
        if (hlen > 0 && hlen < sizeof host) {
            memcpy(host, text, hlen);
            host[hlen] = '\0';
            if (ep_addr_parse(host, addr) == 0) {
                if (!ep_cli_parse_ulong(colon + 1, 0, 65535, &p)) {
                    ep_cli_error(cmd, "'%s': port '%s' is not 0-65535", text, colon + 1);
                    return false;
                }
                *port = (uint16_t)p;
                *has_port = true;
                return true;
            }
        }
    }
    ep_cli_error(cmd, "'%s' is not ADDR, ADDR:PORT or [IPV6]:PORT", text);
    return false;
}

int64_t ep_nat_cli_now(void)
{
    return (int64_t)time(NULL);
}
