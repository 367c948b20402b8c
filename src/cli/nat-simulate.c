/* nat-simulate.c - `ephport nat log simulate`: parse the options, open the
 * log, run the driver (ep_natlog_simulate, libephport-natlog) and print its
 * summary.  The simulated log is useful to try whois, prune and export, and
 * to size a log. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "cli.h"
#include "nat.h"

static void ep_nat_simulate_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport nat log simulate --log FILE|URI --inside LIST --outside LIST\n"
            "         --block-size N [--ports LO-HI] [--max-blocks N] [--idle SEC]\n"
            "         [--start TIME] [--duration SEC] [--rate N] [--seed S] [--sync MODE] [--json]\n"
            "\n"
            "Drive the dynamic block allocator with random subscriber activity, one\n"
            "simulated second at a time, and write every assignment, early release and\n"
            "idle expiry to the port-block log.\n"
            "\n"
            "  --inside LIST      subscriber CIDRs (IPv4)\n"
            "  --outside LIST     external addresses (IPv4)\n"
            "  --block-size N     ports per block; --ports LO-HI the range (1024-65535)\n"
            "  --max-blocks N     per subscriber and protocol (default 4)\n"
            "  --idle SEC         idle timeout (default 300)\n"
            "  --start TIME       simulated start (default 2026-11-24T00:00:00Z)\n"
            "  --duration SEC     simulated seconds (default 3600)\n"
            "  --rate N           subscriber events per second (default 10)\n"
            "  --seed S           randomness (default 1): same seed, same log\n"
            "  --sync MODE        full (default) or normal\n"
            "  --json             the summary as one JSON object\n");
}

int ep_nat_log_simulate(int argc, char **argv)
{
    static const struct option opts[] = {
        { "inside", required_argument, NULL, 'i' },
        { "outside", required_argument, NULL, 'o' },
        { "ports", required_argument, NULL, 'p' },
        { "block-size", required_argument, NULL, 'b' },
        { "max-blocks", required_argument, NULL, 'm' },
        { "idle", required_argument, NULL, 'I' },
        { "start", required_argument, NULL, 'S' },
        { "duration", required_argument, NULL, 'd' },
        { "rate", required_argument, NULL, 'r' },
        { "seed", required_argument, NULL, 's' },
        { "log", required_argument, NULL, 'L' },
        { "sync", required_argument, NULL, 'y' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "nat log simulate", *inside = NULL, *log_path = NULL;
    bool sync_normal = false, json = false;
    ep_natlog_sim_config cfg = { .blocks = { .idle_timeout = 300 } };
    ep_nat_blocks_config *bc = &cfg.blocks;
    /* arguments start at the action: `simulate --log ...` */
    ep_nat_config pc = { 0 };
    uint32_t duration = 3600, rate = 10, idle = 300;
    int64_t start = 1795478400;   /* 2026-11-24T00:00:00Z */
    uint64_t seed = 1;
    ep_parse_error err;
    ep_natlog *log = NULL;
    ep_natlog_sim_result res;
    ep_natlog_options lo = { .create = true };
    int c, prc, rc = EP_EXIT_FAILURE;

    optind = 0;
    while ((c = getopt_long(argc, argv, "i:o:p:b:m:I:S:d:r:s:L:y:jh", opts, NULL)) != -1) {
        unsigned long v;
        switch (c) {
        case 'i':
            inside = optarg;
            break;
        case 'o':
            bc->outside = optarg;
            break;
        case 'p':
            if (!ep_nat_cli_ports(cmd, optarg, &pc))
                return EP_EXIT_USAGE;
            bc->port_lo = pc.port_lo;
            bc->port_hi = pc.port_hi;
            break;
        case 'b':
            if (!ep_nat_cli_u32(cmd, "--block-size", optarg, 65535, &bc->block_size))
                return EP_EXIT_USAGE;
            break;
        case 'm':
            if (!ep_nat_cli_u32(cmd, "--max-blocks", optarg, 65535, &bc->max_blocks))
                return EP_EXIT_USAGE;
            break;
        case 'I':
            if (!ep_nat_cli_u32(cmd, "--idle", optarg, 86400 * 366, &idle))
                return EP_EXIT_USAGE;
            bc->idle_timeout = idle;
            break;
        case 'S':
            if (!ep_nat_cli_time(cmd, "--start", optarg, &start))
                return EP_EXIT_USAGE;
            break;
        case 'd':
            if (!ep_nat_cli_u32(cmd, "--duration", optarg, 86400 * 366, &duration))
                return EP_EXIT_USAGE;
            break;
        case 'r':
            if (!ep_nat_cli_u32(cmd, "--rate", optarg, 1000000, &rate))
                return EP_EXIT_USAGE;
            break;
        case 's':
            if (!ep_cli_parse_ulong(optarg, 0, ~0ul, &v)) {
                ep_cli_error(cmd, "--seed '%s' is not a whole number", optarg);
                return EP_EXIT_USAGE;
            }
            seed = v;
            break;
        case 'L':
            log_path = optarg;
            break;
        case 'y':
            if (strcmp(optarg, "full") != 0 && strcmp(optarg, "normal") != 0) {
                ep_cli_error(cmd, "--sync '%s' is not full or normal", optarg);
                return EP_EXIT_USAGE;
            }
            sync_normal = strcmp(optarg, "normal") == 0;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            ep_nat_simulate_usage(stdout);
            return EP_EXIT_OK;
        default:
            ep_nat_simulate_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    lo.sync_normal = sync_normal;
    /* argv[optind] is the action word "simulate" itself */
    if (optind < argc && strcmp(argv[optind], "simulate") == 0)
        optind++;
    if (optind < argc) {
        ep_cli_error(cmd, "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    if (!log_path || !inside || !bc->outside || !bc->block_size) {
        ep_cli_error(cmd, "--log, --inside, --outside and --block-size are required");
        return EP_EXIT_USAGE;
    }
    cfg.inside = inside;
    cfg.start = start;
    cfg.duration = duration;
    cfg.rate = rate;
    cfg.seed = seed;
    /* bad options are usage errors, found before the log is touched */
    if (ep_natlog_simulate_check(&cfg, &err) != 0) {
        ep_cli_error(cmd, "%s", err.message);
        return EP_EXIT_USAGE;
    }
    if (ep_natlog_open(log_path, &lo, &log, &err) != 0) {
        ep_cli_error(cmd, "%s", err.message);
        return EP_EXIT_FAILURE;
    }
    prc = ep_natlog_simulate(log, &cfg, &res, &err);
    if (prc == EP_EINVAL) {
        ep_cli_error(cmd, "%s", err.message);
    } else if (prc != 0) {
        ep_cli_error(cmd, "%s: %s", log_path, err.message);
    } else {
        char a[EP_NAT_TIME_STRLEN], z[EP_NAT_TIME_STRLEN];
        ep_nat_time_format(start, a, sizeof a);
        ep_nat_time_format(start + duration, z, sizeof z);
        if (json) {
            rc = ep_cli_print_json(json_pack(
                "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i}", "from", a, "to", z,
                "assigned", (json_int_t)res.assigned, "released", (json_int_t)res.released,
                "expired", (json_int_t)res.expired, "refused_quota", (json_int_t)res.refused_quota,
                "refused_exhausted", (json_int_t)res.refused_exhausted,
                "held_at_end", (json_int_t)res.blocks.held,
                "blocks_per_address", (int)res.blocks.blocks_per_addr,
                "block_size", (int)res.blocks.block_size));
        } else {
            printf("%s .. %s: %llu blocks assigned, %llu released early, %llu expired after "
                   "%u s idle, %llu held at the end\nrefused: %llu at the per-subscriber limit, "
                   "%llu with the paired address full\n",
                   a, z, (unsigned long long)res.assigned, (unsigned long long)res.released,
                   (unsigned long long)res.expired, idle, (unsigned long long)res.blocks.held,
                   (unsigned long long)res.refused_quota,
                   (unsigned long long)res.refused_exhausted);
            rc = fflush(stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE;
        }
    }
    if (ep_natlog_close(log) != 0 && rc == EP_EXIT_OK) {
        ep_cli_error(cmd, "cannot commit the log");
        rc = EP_EXIT_FAILURE;
    }
    return rc;
}
