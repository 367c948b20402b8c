/* nat-plan.c - `ephport nat plan`: compute a deterministic CGNAT plan
 * (paired pooling, RFC 7422), print it as a table, JSON or an nftables
 * ruleset, and optionally append it to a plan history; or print the plan a
 * history had in force at a given time. */
#include <assert.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nat.h"

static void ep_nat_plan_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport nat plan --inside CIDR[,CIDR...] --outside ADDR|CIDR[,...]\n"
            "                        [--ports LO-HI] [--ratio N | --block-size N]\n"
            "                        [--json | --nft] [--save FILE --valid-from TIME]\n"
            "       ephport nat plan --plan FILE [--at TIME] [--json | --nft]\n"
            "\n"
            "Give every inside address one external address and one contiguous block\n"
            "of ports on it (deterministic NAT, paired pooling).  Subscriber i (inside\n"
            "addresses in the order given) gets external address i %% M and block i / M.\n"
            "\n"
            "  --inside LIST      subscriber CIDRs (IPv4), comma-separated\n"
            "  --outside LIST     external addresses or CIDRs (IPv4), comma-separated\n"
            "  --ports LO-HI      external port range (default 1024-65535)\n"
            "  --ratio N          subscribers per external address (blocks = ports / N)\n"
            "  --block-size N     ports per subscriber\n"
            "                     (neither: the largest blocks that fit everyone)\n"
            "  --json             the summary and every mapping as one JSON object\n"
            "  --nft              an nftables ruleset implementing the plan (nft -f)\n"
            "  --save FILE        append the plan to the plan history FILE ...\n"
            "  --valid-from TIME  ... in force from TIME (RFC 3339 UTC or Unix seconds)\n"
            "  --plan FILE        print the plan of a plan history in force at --at\n"
            "  --at TIME          (default now), e.g. to load it with --nft\n"
            "  --help             this text\n"
            "\n"
            "Exit codes: 0 success, 1 the history cannot be read or saved (damaged, a\n"
            "checksum mismatch, valid-from not after the last plan), 2 usage (including\n"
            "a bad CIDR and a plan that does not fit).\n");
}

/* The summary as jansson dumps it, then the mappings written one at a time
 * in the same layout (JSON_INDENT(2)): memory stays constant whatever the
 * plan's size (a /8 is 16.7 million mappings, 12.7 GB as a jansson
 * document), and the bytes are those of the whole-document dump, which
 * test-nat-cli compares against jansson's own output of small plans.
 * Addresses and numbers need no JSON escaping. */
static int ep_nat_plan_json(const ep_nat_plan *plan)
{
    ep_nat_plan_info in;
    json_t *o;
    char *head;
    size_t n;
    bool ok;
    ep_nat_plan_get_info(plan, &in);
    o = json_pack("{s:I, s:I, s:i, s:i, s:i, s:i, s:I, s:i, s:f}",
                  "subscribers", (json_int_t)in.subscribers,
                  "external_addresses", (json_int_t)in.ext_addrs,
                  "port_lo", in.port_lo, "port_hi", in.port_hi,
                  "ports_per_subscriber", (int)in.block_size,
                  "sharing_ratio", (int)in.blocks_per_addr,
                  "capacity", (json_int_t)in.capacity,
                  "unused_ports_per_address", (int)in.unused_ports,
                  "subscribers_per_address",
                  (double)in.subscribers / (double)in.ext_addrs);
    head = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))
             : NULL;
    json_decref(o);
    if (!head) {
        fprintf(stderr, "ephport: out of memory building JSON output\n");
        return EP_EXIT_FAILURE;
    }
    /* "{\n  ...\n}": drop the closing "\n}" and continue the object */
    n = strlen(head);
    assert(n >= 2 && head[n - 1] == '}' && head[n - 2] == '\n');
    head[n - 2] = '\0';
    ok = fputs(head, stdout) >= 0 && fputs(",\n  \"mappings\": [", stdout) >= 0;
    free(head);
    for (uint64_t i = 0; ok && i < in.subscribers; i++) {
        ep_nat_mapping m;
        char a[EP_ADDR_STRLEN], e[EP_ADDR_STRLEN];
        ep_nat_plan_at(plan, i, &m);
        ep_addr_format(&m.inside, a, sizeof a);
        ep_addr_format(&m.ext, e, sizeof e);
        ok = printf("%s\n    {\n      \"inside\": \"%s\",\n      \"external\": \"%s\",\n"
                    "      \"port_lo\": %u,\n      \"port_hi\": %u\n    }",
                    i ? "," : "", a, e, m.port_lo, m.port_hi) > 0;
    }
    if (ok)
        ok = fputs(in.subscribers ? "\n  ]\n}\n" : "]\n}\n", stdout) >= 0;
    if (!ok || fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "ephport: cannot write output\n");
        return EP_EXIT_FAILURE;
    }
    return EP_EXIT_OK;
}

static int ep_nat_plan_table(const ep_nat_plan *plan)
{
    ep_nat_plan_info in;
    bool color = ep_cli_use_color(stdout);
    ep_nat_plan_get_info(plan, &in);
    printf("subscribers %llu, external addresses %llu, ports %u-%u\n",
           (unsigned long long)in.subscribers, (unsigned long long)in.ext_addrs, in.port_lo,
           in.port_hi);
    printf("ports per subscriber %u, sharing ratio %u:1 (capacity %llu, %.2f subscribers per "
           "address in use)",
           in.block_size, in.blocks_per_addr, (unsigned long long)in.capacity,
           (double)in.subscribers / (double)in.ext_addrs);
    if (in.unused_ports)
        printf(", %u ports per address unused", in.unused_ports);
    printf("\n\n%s%-16s %-16s %s%s\n", color ? "\033[1m" : "", "INSIDE", "EXTERNAL", "PORTS",
           color ? "\033[0m" : "");
    for (uint64_t i = 0; i < in.subscribers; i++) {
        ep_nat_mapping m;
        char a[EP_ADDR_STRLEN], e[EP_ADDR_STRLEN];
        ep_nat_plan_at(plan, i, &m);
        ep_addr_format(&m.inside, a, sizeof a);
        ep_addr_format(&m.ext, e, sizeof e);
        printf("%-16s %-16s %u-%u\n", a, e, m.port_lo, m.port_hi);
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? EP_EXIT_OK : EP_EXIT_FAILURE;
}

int ep_nat_cmd_plan(int argc, char **argv)
{
    static const struct option opts[] = {
        { "inside", required_argument, NULL, 'i' },
        { "outside", required_argument, NULL, 'o' },
        { "ports", required_argument, NULL, 'p' },
        { "ratio", required_argument, NULL, 'r' },
        { "block-size", required_argument, NULL, 'b' },
        { "json", no_argument, NULL, 'j' },
        { "nft", no_argument, NULL, 'n' },
        { "save", required_argument, NULL, 's' },
        { "valid-from", required_argument, NULL, 'f' },
        { "plan", required_argument, NULL, 'P' },
        { "at", required_argument, NULL, 'a' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "nat plan", *save = NULL, *history = NULL;
    ep_nat_config cfg = { 0 };
    bool json = false, nft = false, have_from = false, have_at = false;
    int64_t from = 0, at = 0;
    ep_nat_plan *plan = NULL;
    ep_nat_history *hist = NULL;
    int c, rc;

    while ((c = getopt_long(argc, argv, "i:o:p:r:b:jns:f:P:a:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            cfg.inside = optarg;
            break;
        case 'o':
            cfg.outside = optarg;
            break;
        case 'p':
            if (!ep_nat_cli_ports(cmd, optarg, &cfg))
                return EP_EXIT_USAGE;
            break;
        case 'r':
            if (!ep_nat_cli_u32(cmd, "--ratio", optarg, 65535, &cfg.ratio))
                return EP_EXIT_USAGE;
            break;
        case 'b':
            if (!ep_nat_cli_u32(cmd, "--block-size", optarg, 65535, &cfg.block_size))
                return EP_EXIT_USAGE;
            break;
        case 'j':
            json = true;
            break;
        case 'n':
            nft = true;
            break;
        case 's':
            save = optarg;
            break;
        case 'f':
            if (!ep_nat_cli_time(cmd, "--valid-from", optarg, &from))
                return EP_EXIT_USAGE;
            have_from = true;
            break;
        case 'P':
            history = optarg;
            break;
        case 'a':
            if (!ep_nat_cli_time(cmd, "--at", optarg, &at))
                return EP_EXIT_USAGE;
            have_at = true;
            break;
        case 'h':
            ep_nat_plan_usage(stdout);
            return EP_EXIT_OK;
        default:
            ep_nat_plan_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ep_cli_error(cmd, "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    if (history && (cfg.inside || cfg.outside || cfg.port_lo || cfg.ratio || cfg.block_size ||
                    save)) {
        ep_cli_error(cmd, "--plan FILE takes the plan from the history: no --inside, --outside, "
                          "--ports, --ratio, --block-size or --save");
        return EP_EXIT_USAGE;
    }
    if (have_at && !history) {
        ep_cli_error(cmd, "--at needs --plan FILE");
        return EP_EXIT_USAGE;
    }
    if (!history && (!cfg.inside || !cfg.outside)) {
        ep_cli_error(cmd, "--inside and --outside are required");
        return EP_EXIT_USAGE;
    }
    if (cfg.ratio && cfg.block_size) {
        ep_cli_error(cmd, "give --ratio or --block-size, not both");
        return EP_EXIT_USAGE;
    }
    if (json && nft) {
        ep_cli_error(cmd, "give --json or --nft, not both");
        return EP_EXIT_USAGE;
    }
    if ((save != NULL) != have_from) {
        ep_cli_error(cmd, "--save FILE and --valid-from TIME go together");
        return EP_EXIT_USAGE;
    }
    if (history) {
        ep_parse_error err;
        const ep_nat_plan *p;
        rc = ep_nat_history_load(history, &hist, &err);
        if (rc != 0) {
            ep_cli_error(cmd, "%s: %s", history, rc == EP_ENOMEM ? ep_strerror(rc) : err.message);
            return EP_EXIT_FAILURE;
        }
        if (!have_at)
            at = ep_nat_cli_now();
        p = ep_nat_history_find(hist, at, NULL, NULL);
        if (!p) {
            char t[EP_NAT_TIME_STRLEN];
            ep_nat_time_format(at, t, sizeof t);
            ep_cli_error(cmd, "no plan in %s was in force at %s", history, t);
            ep_nat_history_free(hist);
            return EP_EXIT_FAILURE;
        }
        rc = nft ? (ep_nat_plan_write_nft(p, stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE)
                 : json ? ep_nat_plan_json(p) : ep_nat_plan_table(p);
        ep_nat_history_free(hist);
        return rc;
    }
    plan = ep_nat_cli_plan_new(cmd, &cfg, &rc);
    if (!plan)
        return rc;
    if (save) {
        ep_parse_error err;
        rc = ep_nat_history_append(save, plan, from, &err);
        if (rc != 0) {
            ep_cli_error(cmd, "cannot save to %s: %s", save,
                         rc == EP_EINVAL || rc == EP_EIO ? err.message : ep_strerror(rc));
            ep_nat_plan_free(plan);
            return EP_EXIT_FAILURE;
        }
    }
    if (nft)
        rc = ep_nat_plan_write_nft(plan, stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE;
    else if (json)
        rc = ep_nat_plan_json(plan);
    else
        rc = ep_nat_plan_table(plan);
    if (save && rc == EP_EXIT_OK) {
        char when[EP_NAT_TIME_STRLEN];
        ep_nat_time_format(from, when, sizeof when);
        fprintf(stderr, "ephport nat plan: saved to %s, in force from %s\n", save, when);
    }
    ep_nat_plan_free(plan);
    return rc;
}
