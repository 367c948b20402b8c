/* rss-bench.c - RSS-aware port choice: the engine's exact choice
 * (ep_pool_connect_rss, docs/ENGINE.md "RSS-aware port choice") beside
 * rejection sampling as Seastar does it (draw a random port, hash it, keep
 * it if it lands on our queue and is free, else draw again; no bound).
 *
 * Setup per case: the Linux range 32768-60999, one local address, one
 * destination, the default 40-byte key, a 128-entry RETA spread over Q
 * queues (entry x -> x % Q), Q = 4, 16, 64.  Every queue's share of the
 * range (the ports whose replies it receives) is filled to the occupancy
 * (0, 50, 90, 99, 99.9 %; at least one port of queue 0 stays free), as if
 * every core had filled its own; then queue 0 is measured at that steady
 * occupancy:
 *   exact      ep_pool_connect_rss + ep_pool_close_ref (passive): the
 *              engine's whole connect + close pair;
 *   rejection  the choice alone: uniform port of the range, its hash
 *              (per-byte tables, 12 lookups - a fast Toeplitz, kinder to
 *              the baseline than Seastar's bit loop), RETA, a bitmap of the
 *              ports in use; the port is taken and given back in the
 *              bitmap.  No engine bookkeeping: the comparison favours it.
 * Each batch runs for at least 1 ms (0.2 ms with --quick), 15 batches (3);
 * median and p99 over batches of the wall time per operation, and the
 * mean number of draws per rejection choice; the ratio rejection / exact of
 * the medians comes from the same run.
 *
 * Usage: rss-bench [--json] [--quick] [--help] */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ephport/ephport.h>

#include "bench-util.h"

#define LO 32768u
#define HI 60999u
#define RETA 128u

static bool opt_json, opt_quick;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the baseline's random source (cheaper than the engine's
 * ChaCha20: again in the baseline's favour). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline uint32_t rng_below(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)(((rng_state * 0x2545f4914f6cdd1dull) >> 32) * n >> 32);
}

/* The reply-direction Toeplitz hash with per-byte tables. */
static uint32_t tab[12][256];
static uint8_t input[12];

static void tab_init(const ep_addr *remote, uint16_t rport, const ep_addr *local)
{
    uint8_t one[12];
    for (int pos = 0; pos < 12; pos++) {
        for (int v = 0; v < 256; v++) {
            memset(one, 0, sizeof one);
            one[pos] = (uint8_t)v;
            ep_toeplitz_hash(ep_rss_default_key, 40, one, 12, &tab[pos][v]);
        }
    }
    memcpy(input, remote->u.bytes, 4);
    memcpy(input + 4, local->u.bytes, 4);
    input[8] = (uint8_t)(rport >> 8);
    input[9] = (uint8_t)rport;
}

static inline uint32_t fast_hash(uint16_t lport)
{
    uint32_t h = 0;
    input[10] = (uint8_t)(lport >> 8);
    input[11] = (uint8_t)lport;
    for (int i = 0; i < 12; i++)
        h ^= tab[i][input[i]];
    return h;
}

typedef struct bcase {
    uint32_t queues;
    double occ;
} bcase;

static void print_machine(void)
{
    ep_bench_print_machine(opt_json, EP_BENCH_BUILDTYPE);
    if (!opt_json)
        printf("range %u-%u, one destination, default key, %u-entry RETA (x -> x %% Q); queue 0 "
               "measured with every queue's share at the occupancy%s\n\n", LO, HI, RETA,
               opt_quick ? " (--quick: few repetitions)" : "");
}

static int run_case(const bcase *bc, uint16_t *reta, uint8_t *qof, uint8_t *used)
{
    const int batches = opt_quick ? 3 : 15;
    const uint64_t batch_ns = opt_quick ? 200000 : 1000000;
    ep_pool_config c;
    ep_pool *p = NULL;
    ep_addr local, remote;
    uint32_t share[64] = { 0 }, filled[64] = { 0 };
    double ex[15], rj[15], tries_total = 0, ops_total = 0;
    int rc;

    for (uint32_t x = 0; x < RETA; x++)
        reta[x] = (uint16_t)(x % bc->queues);
    ep_addr_parse("10.0.0.1", &local);
    ep_addr_parse("192.0.2.1", &remote);
    tab_init(&remote, 443, &local);
    for (uint32_t port = LO; port <= HI; port++) {
        qof[port] = (uint8_t)reta[fast_hash((uint16_t)port) & (RETA - 1)];
        share[qof[port]]++;
    }
    ep_pool_config_init(&c, NULL);
    c.lo = LO;
    c.hi = HI;
    c.time_wait = 0;
    c.thread_safe = false;
    c.seeded = true;
    c.seed = 1;
    if ((rc = ep_pool_new(&c, &p, NULL)) < 0 || (rc = ep_pool_add_address(p, &local)) < 0)
        return rc;
    ep_rss_config rcfg = { ep_rss_default_key, 40, reta, RETA };
    if ((rc = ep_pool_set_rss(p, &rcfg)) < 0)
        return rc;
    memset(used, 0, 65536);
    for (uint32_t q = 0; q < bc->queues; q++) {
        uint32_t want = (uint32_t)(bc->occ * share[q]);
        if (q == 0 && want >= share[q])
            want = share[q] - 1;
        for (filled[q] = 0; filled[q] < want; filled[q]++) {
            ep_tuple t = { EP_PROTO_TCP, local, 0, remote, 443 };
            if ((rc = ep_pool_connect_rss(p, &t, (uint16_t)q, 0, 0, NULL)) < 0)
                return rc;
            used[t.local_port] = 1;
        }
    }
    for (int b = 0; b < batches; b++) {
        /* exact: the engine's pair */
        uint64_t t0 = now_ns(), t1, n = 0;
        do {
            for (int k = 0; k < 16; k++) {
                ep_tuple t = { EP_PROTO_TCP, local, 0, remote, 443 };
                ep_conn_ref ref;
                if ((rc = ep_pool_connect_rss(p, &t, 0, 0, 0, &ref)) < 0 ||
                    (rc = ep_pool_close_ref(p, ref, EP_CLOSE_PASSIVE, 0)) < 0)
                    return rc;
            }
            n += 16;
        } while ((t1 = now_ns()) - t0 < batch_ns);
        ex[b] = (double)(t1 - t0) / (double)n;
        /* rejection: the choice alone */
        t0 = now_ns();
        n = 0;
        do {
            for (int k = 0; k < 16; k++) {
                uint32_t port;
                do {
                    port = LO + rng_below(HI - LO + 1);
                    tries_total++;
                } while (reta[fast_hash((uint16_t)port) & (RETA - 1)] != 0 || used[port]);
                used[port] = 1;
                used[port] = 0;
            }
            n += 16;
        } while ((t1 = now_ns()) - t0 < batch_ns);
        rj[b] = (double)(t1 - t0) / (double)n;
        ops_total += (double)n;
    }
    char why[128];
    if (opt_quick && ep_pool_check(p, why, sizeof why) != 0) {
        fprintf(stderr, "rss-bench: pool check: %s\n", why);
        return -EIO;
    }
    double em = ep_bench_percentile(ex, (size_t)batches, 0.5), ep99 = ep_bench_percentile(ex, (size_t)batches, 0.99);
    double rm = ep_bench_percentile(rj, (size_t)batches, 0.5), rp99 = ep_bench_percentile(rj, (size_t)batches, 0.99);
    uint32_t nfree = share[0] - filled[0];
    double tries = tries_total / ops_total;
    if (opt_json) {
        ep_bench_emit(json_pack("{s:s, s:i, s:f, s:i, s:i, s:s, s:f, s:f}", "bench", "rss",
                                "queues", (int)bc->queues, "occupancy", bc->occ, "share",
                                (int)share[0], "free", (int)nfree, "method", "exact",
                                "median_ns", em, "p99_ns", ep99));
        ep_bench_emit(json_pack("{s:s, s:i, s:f, s:i, s:i, s:s, s:f, s:f, s:f}", "bench", "rss",
                                "queues", (int)bc->queues, "occupancy", bc->occ, "share",
                                (int)share[0], "free", (int)nfree, "method", "rejection",
                                "median_ns", rm, "p99_ns", rp99, "draws_mean", tries));
        ep_bench_emit(json_pack("{s:s, s:i, s:f, s:f}", "bench", "rss-ratio", "queues",
                                (int)bc->queues, "occupancy", bc->occ, "rejection_over_exact",
                                rm / em));
    } else {
        printf("%6u %8.1f%% %6u %6u %12.0f %10.0f %12.0f %10.0f %10.1f %8.2fx\n", bc->queues,
               bc->occ * 100, share[0], nfree, em, ep99, rm, rp99, tries, rm / em);
    }
    ep_pool_free(p);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "quick", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const uint32_t queues[] = { 4, 16, 64 };
    static const double occs[] = { 0, 0.5, 0.9, 0.99, 0.999 };
    static uint16_t reta[RETA];
    static uint8_t qof[65536], used[65536];
    int o;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'j': opt_json = true; break;
        case 'q': opt_quick = true; break;
        case 'h':
            printf("usage: rss-bench [--json] [--quick]\n");
            return 0;
        default:
            fprintf(stderr, "usage: rss-bench [--json] [--quick]\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rss-bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    print_machine();
    if (!opt_json)
        printf("%6s %9s %6s %6s %12s %10s %12s %10s %10s %9s\n", "queues", "occupancy", "share",
               "free", "exact ns", "p99", "reject ns", "p99", "draws", "ratio");
    for (size_t qi = 0; qi < sizeof queues / sizeof queues[0]; qi++) {
        for (size_t oi = 0; oi < sizeof occs / sizeof occs[0]; oi++) {
            bcase bc = { queues[qi], occs[oi] };
            int rc = run_case(&bc, reta, qof, used);
            if (rc < 0) {
                fprintf(stderr, "rss-bench: %u queues at %.1f %%: %s\n", bc.queues, bc.occ * 100,
                        ep_strerror(rc));
                return 1;
            }
        }
    }
    return 0;
}
