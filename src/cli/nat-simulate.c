/* nat-simulate.c - `ephport nat log simulate`: write a realistic port-block
 * log by driving the dynamic block allocator (ep_nat_blocks) with random
 * subscriber activity over simulated time.  Every assignment, early
 * release and idle expiry goes to the log, exactly as a NAT would write
 * it; useful to try whois, prune and export, and to size a log. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "cli.h"
#include "nat.h"

struct ep_sim {
    ep_natlog *log;
    uint64_t assigned, released, expired, quota, exhausted;
};

static void ep_nat_simulate_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport nat log simulate --log FILE --inside LIST --outside LIST\n"
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

static int ep_sim_expired(const ep_nat_block *blk, int64_t end, void *arg)
{
    struct ep_sim *s = arg;
    int rc = ep_natlog_release(s->log, &blk->ext, blk->proto, blk->port_lo, end);
    if (rc == 0)
        s->expired++;
    return rc;
}

static uint64_t ep_sim_rand(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Subscriber number i of the inside list. */
static void ep_sim_subscriber(const ep_cidr *l, size_t n, uint64_t i, ep_addr *out)
{
    for (size_t k = 0; k < n; k++) {
        uint64_t size = ep_cidr_size4(&l[k]);
        if (i < size) {
            uint32_t a;
            memcpy(&a, l[k].addr.u.bytes, 4);
            a = htonl(ntohl(a) + (uint32_t)i);
            ep_addr_from_bytes(AF_INET, &a, out);
            return;
        }
        i -= size;
    }
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
    ep_nat_blocks_config bc = { .idle_timeout = 300 };
    /* arguments start at the action: `simulate --log ...` */
    ep_nat_config pc = { 0 };
    uint32_t duration = 3600, rate = 10, idle = 300;
    int64_t start = 1795478400;   /* 2026-11-24T00:00:00Z */
    uint64_t seed = 1, rng, nsubs = 0;
    ep_cidr *in = NULL;
    size_t nin = 0;
    ep_parse_error err;
    ep_nat_blocks *b = NULL;
    struct ep_sim sim = { 0 };
    ep_natlog_options lo = { .create = true };
    ep_nat_block *recent = NULL;   /* recently assigned blocks */
    size_t ring_n = 0, ring_cap = 4096;
    int c, rc = EP_EXIT_FAILURE;

    optind = 0;
    while ((c = getopt_long(argc, argv, "i:o:p:b:m:I:S:d:r:s:L:y:jh", opts, NULL)) != -1) {
        unsigned long v;
        switch (c) {
        case 'i':
            inside = optarg;
            break;
        case 'o':
            bc.outside = optarg;
            break;
        case 'p':
            if (!ep_nat_cli_ports(cmd, optarg, &pc))
                return EP_EXIT_USAGE;
            bc.port_lo = pc.port_lo;
            bc.port_hi = pc.port_hi;
            break;
        case 'b':
            if (!ep_nat_cli_u32(cmd, "--block-size", optarg, 65535, &bc.block_size))
                return EP_EXIT_USAGE;
            break;
        case 'm':
            if (!ep_nat_cli_u32(cmd, "--max-blocks", optarg, 65535, &bc.max_blocks))
                return EP_EXIT_USAGE;
            break;
        case 'I':
            if (!ep_nat_cli_u32(cmd, "--idle", optarg, 86400 * 366, &idle))
                return EP_EXIT_USAGE;
            bc.idle_timeout = idle;
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
    if (!log_path || !inside || !bc.outside || !bc.block_size) {
        ep_cli_error(cmd, "--log, --inside, --outside and --block-size are required");
        return EP_EXIT_USAGE;
    }
    if (ep_cidr_list_parse(inside, &in, &nin, &err) != 0) {
        ep_cli_error(cmd, "--inside: %s", err.message);
        return EP_EXIT_USAGE;
    }
    for (size_t k = 0; k < nin; k++) {
        if (in[k].addr.family != AF_INET) {
            ep_cli_error(cmd, "--inside: IPv6 subscribers are not supported (NAT44)");
            free(in);
            return EP_EXIT_USAGE;
        }
        nsubs += ep_cidr_size4(&in[k]);
    }
    bc.seed = seed;
    if ((c = ep_nat_blocks_new(&bc, &b, &err)) != 0) {
        ep_cli_error(cmd, "%s", c == EP_EINVAL ? err.message : ep_strerror(c));
        free(in);
        return c == EP_EINVAL ? EP_EXIT_USAGE : EP_EXIT_FAILURE;
    }
    if (ep_natlog_open(log_path, &lo, &sim.log, &err) != 0) {
        ep_cli_error(cmd, "%s", err.message);
        ep_nat_blocks_free(b);
        free(in);
        return EP_EXIT_FAILURE;
    }
    recent = calloc(ring_cap, sizeof *recent);
    if (!recent) {
        ep_cli_error(cmd, "out of memory");
        goto out;
    }
    rng = seed;
    for (uint32_t sec = 0; sec <= duration; sec++) {
        int64_t now = start + sec;
        int n = ep_nat_blocks_expire(b, now, ep_sim_expired, &sim);
        if (n < 0) {
            ep_cli_error(cmd, "cannot write the log: %s", ep_strerror(n));
            goto out;
        }
        for (uint32_t k = 0; k < rate; k++) {
            uint64_t r = ep_sim_rand(&rng);
            int arc;
            ep_addr s;
            ep_nat_block blk;
            if (r % 4 == 0 && ring_n > 0) {
                /* a recent block goes back early, or shows activity */
                size_t j = (size_t)((r >> 8) % ring_n);
                ep_nat_block *x = &recent[j];
                if (ep_nat_blocks_find(b, &x->ext, x->proto, x->port_lo, &blk) == 0 &&
                    ep_addr_equal(&blk.subscriber, &x->subscriber) && blk.start == x->start &&
                    now > blk.start) {
                    if ((r >> 40) % 2) {
                        ep_nat_blocks_release(b, &x->ext, x->proto, x->port_lo, NULL);
                        if (ep_natlog_release(sim.log, &x->ext, x->proto, x->port_lo, now) != 0) {
                            ep_cli_error(cmd, "cannot write the log");
                            goto out;
                        }
                        sim.released++;
                    } else {
                        ep_nat_blocks_touch(b, &x->ext, x->proto, x->port_lo, now);
                    }
                }
                recent[j] = recent[--ring_n];
                continue;
            }
            ep_sim_subscriber(in, nin, (r >> 8) % nsubs, &s);
            arc = ep_nat_blocks_assign(b, &s, (r >> 60) % 2 ? 17 : 6, now, &blk);
            if (arc == EP_EDQUOT) {
                sim.quota++;
            } else if (arc == EP_EADDRNOTAVAIL) {
                sim.exhausted++;
            } else if (arc == 0) {
                ep_natlog_record rec = { .subscriber = blk.subscriber, .ext = blk.ext,
                                         .proto = blk.proto, .port_lo = blk.port_lo,
                                         .port_hi = blk.port_hi, .start = now,
                                         .end = EP_NATLOG_OPEN_END };
                arc = ep_natlog_assign(sim.log, &rec);
                if (arc == EP_EEXIST) {
                    ep_cli_error(cmd, "%s already holds an open block at the simulated start; "
                                      "use a new log", log_path);
                    goto out;
                }
                if (arc != 0) {
                    ep_cli_error(cmd, "cannot write the log: %s", ep_strerror(arc));
                    goto out;
                }
                sim.assigned++;
                if (ring_n < ring_cap)
                    recent[ring_n++] = blk;
                else
                    recent[(r >> 16) % ring_cap] = blk;
            }
        }
    }
    if (ep_natlog_commit(sim.log) != 0) {
        ep_cli_error(cmd, "cannot commit the log");
        goto out;
    }
    {
        ep_nat_blocks_stats st;
        char a[EP_NAT_TIME_STRLEN], z[EP_NAT_TIME_STRLEN];
        ep_nat_blocks_get_stats(b, &st);
        ep_nat_time_format(start, a, sizeof a);
        ep_nat_time_format(start + duration, z, sizeof z);
        if (json) {
            rc = ep_cli_print_json(json_pack(
                "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i}", "from", a, "to", z,
                "assigned", (json_int_t)sim.assigned, "released", (json_int_t)sim.released,
                "expired", (json_int_t)sim.expired, "refused_quota", (json_int_t)sim.quota,
                "refused_exhausted", (json_int_t)sim.exhausted, "held_at_end", (json_int_t)st.held,
                "blocks_per_address", (int)st.blocks_per_addr, "block_size", (int)st.block_size));
        } else {
            printf("%s .. %s: %llu blocks assigned, %llu released early, %llu expired after "
                   "%u s idle, %llu held at the end\nrefused: %llu at the per-subscriber limit, "
                   "%llu with the paired address full\n",
                   a, z, (unsigned long long)sim.assigned, (unsigned long long)sim.released,
                   (unsigned long long)sim.expired, idle, (unsigned long long)st.held,
                   (unsigned long long)sim.quota, (unsigned long long)sim.exhausted);
            rc = fflush(stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE;
        }
    }
out:
    free(recent);
    if (ep_natlog_close(sim.log) != 0 && rc == EP_EXIT_OK) {
        ep_cli_error(cmd, "cannot commit the log");
        rc = EP_EXIT_FAILURE;
    }
    ep_nat_blocks_free(b);
    free(in);
    return rc;
}
