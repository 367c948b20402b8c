/* nat-bench.c - how fast NAT answers "who had this address:port?".
 *
 *   1. deterministic whois in process: ep_nat_plan_reverse (arithmetic and
 *      a binary search over the CIDRs) against a baseline run alternately
 *      in the same process, a sorted table of every block searched by
 *      binary search (what a tool that materialises the mapping does);
 *      plus forward lookups.  Lookups per second, median and p99 of the
 *      repeated runs, and the ratio.
 *   2. log inserts per second: synchronous=FULL with commits every 1, 100
 *      and 1000 events, and synchronous=NORMAL every 1000.
 *   3. whois latency on a large log (default 10 million closed blocks,
 *      generated once in a temporary directory): median and p99 per query,
 *      hits and misses, and bytes per event on disk.
 *
 * Usage: nat-bench [--json] [--quick] [--events N] [--help]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include <arpa/inet.h>

#include <jansson.h>

#include <ephport/natlog.h>

#ifndef EP_BENCH_BUILDTYPE
#define EP_BENCH_BUILDTYPE "unknown"
#endif

static bool opt_json, opt_quick;
static uint64_t opt_events = 10000000;

static void emit(json_t *row)
{
    if (opt_json && row) {
        char *s = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
    }
    json_decref(row);
}

static uint64_t rng = 0x853c49e6748fea9bull;
static uint64_t rnd(void)
{
    return ep_bench_xorshift64(&rng);
}


/* Median and p99 (nearest rank) of v[0..n), sorted in place. */
static void stats(double *v, size_t n, double *med, double *p99)
{
    size_t k;
    qsort(v, n, sizeof *v, ep_bench_cmp_double);
    *med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    k = (size_t)(0.99 * (double)n + 0.999999);
    *p99 = v[k ? k - 1 : 0];
}


/* ---- 1. deterministic whois ------------------------------------------- */

struct block_row {
    uint32_t ext;       /* host order */
    uint16_t lo, hi;
    uint32_t inside;
};

static int cmp_block(const void *a, const void *b)
{
    const struct block_row *x = a, *y = b;
    if (x->ext != y->ext)
        return x->ext < y->ext ? -1 : 1;
    return (int)x->lo - (int)y->lo;
}

static const struct block_row *table_lookup(const struct block_row *t, size_t n, uint32_t ext,
                                            uint16_t port)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid].ext < ext || (t[mid].ext == ext && t[mid].hi < port))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n && t[lo].ext == ext && t[lo].lo <= port && port <= t[lo].hi)
        return &t[lo];
    return NULL;
}

static void bench_whois(const char *name, const char *inside, const char *outside)
{
    ep_nat_config cfg = { .inside = inside, .outside = outside };
    ep_nat_plan *plan;
    ep_nat_plan_info in;
    ep_parse_error err;
    const size_t Q = opt_quick ? 200000 : 2000000;
    const int RUNS = opt_quick ? 5 : 21;
    ep_addr *qa = malloc(Q * sizeof *qa);
    uint32_t *qe = malloc(Q * sizeof *qe);
    uint16_t *qp = malloc(Q * sizeof *qp);
    ep_addr *fa = malloc(Q * sizeof *fa);
    double ours[64], base[64], fwd[64], m_o, p_o, m_b, p_b, m_f, p_f;
    struct block_row *table;
    volatile uint64_t sink = 0;

    if (ep_nat_plan_new(&cfg, &plan, &err) != 0) {
        fprintf(stderr, "nat-bench: %s\n", err.message);
        exit(1);
    }
    ep_nat_plan_get_info(plan, &in);
    table = malloc(in.subscribers * sizeof *table);
    for (uint64_t i = 0; i < in.subscribers; i++) {
        ep_nat_mapping m;
        uint32_t e, s;
        ep_nat_plan_at(plan, i, &m);
        memcpy(&e, m.ext.u.bytes, 4);
        memcpy(&s, m.inside.u.bytes, 4);
        table[i] = (struct block_row){ ntohl(e), m.port_lo, m.port_hi, ntohl(s) };
    }
    qsort(table, in.subscribers, sizeof *table, cmp_block);
    for (size_t i = 0; i < Q; i++) {
        ep_nat_mapping m;
        uint32_t e;
        ep_nat_plan_at(plan, rnd() % in.subscribers, &m);
        qa[i] = m.ext;
        memcpy(&e, m.ext.u.bytes, 4);
        qe[i] = ntohl(e);
        qp[i] = (uint16_t)(m.port_lo + rnd() % in.block_size);
        fa[i] = m.inside;
    }
    /* Run 0 is the warm-up; ours and the baseline alternate. */
    for (int r = 0; r <= RUNS; r++) {
        double t0, t1, t2, t3;
        t0 = ep_bench_now_s();
        for (size_t i = 0; i < Q; i++) {
            ep_nat_mapping m;
            if (ep_nat_plan_reverse(plan, &qa[i], qp[i], &m) == 0)
                sink += m.index;
        }
        t1 = ep_bench_now_s();
        for (size_t i = 0; i < Q; i++) {
            const struct block_row *b = table_lookup(table, in.subscribers, qe[i], qp[i]);
            if (b)
                sink += b->inside;
        }
        t2 = ep_bench_now_s();
        for (size_t i = 0; i < Q; i++) {
            ep_nat_mapping m;
            if (ep_nat_plan_forward(plan, &fa[i], &m) == 0)
                sink += m.port_lo;
        }
        t3 = ep_bench_now_s();
        if (r > 0) {
            ours[r - 1] = (double)Q / (t1 - t0);
            base[r - 1] = (double)Q / (t2 - t1);
            fwd[r - 1] = (double)Q / (t3 - t2);
        }
    }
    stats(ours, (size_t)RUNS, &m_o, &p_o);
    stats(base, (size_t)RUNS, &m_b, &p_b);
    stats(fwd, (size_t)RUNS, &m_f, &p_f);
    /* p99 of a throughput is its slow tail: the 1st percentile of rates. */
    p_o = ours[RUNS / 100];
    p_b = base[RUNS / 100];
    p_f = fwd[RUNS / 100];
    if (opt_json) {
        emit(json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "bench",
                       "whois_plan", "plan", name, "subscribers", (json_int_t)in.subscribers,
                       "reverse_per_s_median", m_o,
                       "reverse_per_s_p99_slow", p_o, "table_per_s_median", m_b,
                       "table_per_s_p99_slow", p_b, "forward_per_s_median", m_f,
                       "forward_per_s_p99_slow", p_f, "ratio_reverse_vs_table", m_o / m_b));
    } else {
        printf("%-22s %9llu %14.1f %14.1f %14.1f %14.1f %7.2fx\n", name,
               (unsigned long long)in.subscribers, m_o / 1e6, p_o / 1e6, m_b / 1e6, m_f / 1e6,
               m_o / m_b);
    }
    (void)sink;
    free(table);
    free(qa);
    free(qe);
    free(qp);
    free(fa);
    ep_nat_plan_free(plan);
}

/* ---- 2. log inserts ---------------------------------------------------- */

/* Remove a database and its WAL and shared-memory files. */
static void unlink_db(const char *path)
{
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void make_record(ep_natlog_record *r, uint64_t k, int64_t start, int64_t end)
{
    uint32_t sub = htonl(0x64400000u + (uint32_t)(k % 4000000));
    uint32_t ext = htonl(0xcb007100u + (uint32_t)(k % 64));
    ep_addr_from_bytes(AF_INET, &sub, &r->subscriber);
    ep_addr_from_bytes(AF_INET, &ext, &r->ext);
    r->proto = (k / 64) % 2 ? 17 : 6;
    r->port_lo = (uint16_t)(1024 + ((k / 128) % 64) * 1008);
    r->port_hi = (uint16_t)(r->port_lo + 1007);
    r->start = start;
    r->end = end;
}

static void bench_inserts(const char *dir)
{
    static const struct {
        const char *sync;
        bool normal;
        uint32_t batch;
        uint64_t events;
    } cfgs[] = {
        { "full", false, 1, 300 },
        { "full", false, 100, 20000 },
        { "full", false, 1000, 200000 },
        { "normal", true, 1000, 200000 },
    };
    const int RUNS = opt_quick ? 3 : 5;
    if (!opt_json)
        printf("\nlog writes: assignments and releases (one SQLite file, WAL; committed = "
               "COMMIT returned)\n"
               "%-7s %6s %9s %16s %16s\n", "sync", "batch", "events", "median ev/s",
               "p99 (slow) ev/s");
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        double rate[16], med, p99;
        uint64_t events = opt_quick ? cfgs[c].events / 10 : cfgs[c].events;
        for (int r = 0; r <= RUNS; r++) {
            char path[512];
            ep_natlog_options o = { .create = true, .sync_normal = cfgs[c].normal,
                                    .batch = cfgs[c].batch };
            ep_natlog *log;
            double t0;
            snprintf(path, sizeof path, "%s/insert.db", dir);
            unlink(path);
            if (ep_natlog_open(path, &o, &log, NULL) != 0)
                exit(1);
            t0 = ep_bench_now_s();
            /* The realistic mix: 8192 blocks are assigned in turn, then
             * released in turn, and so on (an assignment is an INSERT, a
             * release an UPDATE of the open row). */
            for (uint64_t k = 0; k < events; k++) {
                ep_natlog_record rec;
                make_record(&rec, k, (int64_t)k, EP_NATLOG_OPEN_END);
                if ((k / 8192) % 2 == 0) {
                    if (ep_natlog_assign(log, &rec) != 0)
                        exit(1);
                } else if (ep_natlog_release(log, &rec.ext, rec.proto, rec.port_lo,
                                             (int64_t)k) != 0) {
                    exit(1);
                }
            }
            if (ep_natlog_close(log) != 0)
                exit(1);
            if (r > 0)
                rate[r - 1] = (double)events / (ep_bench_now_s() - t0);
            unlink_db(path);
        }
        stats(rate, (size_t)RUNS, &med, &p99);
        p99 = rate[0];
        if (opt_json)
            emit(json_pack("{s:s, s:s, s:i, s:I, s:f, s:f}", "bench", "log_write", "sync",
                           cfgs[c].sync, "batch", (int)cfgs[c].batch, "events",
                           (json_int_t)events, "events_per_s_median", med,
                           "events_per_s_p99_slow", p99));
        else
            printf("%-7s %6u %9llu %16.0f %16.0f\n", cfgs[c].sync, cfgs[c].batch,
                   (unsigned long long)events, med, p99);
    }
}

/* ---- 3. whois on a large log -------------------------------------------- */

#define SLOTS (64 * 2 * 64)   /* ext x proto x block */

static void slot_record(ep_natlog_record *r, unsigned slot, uint64_t k, int64_t start, int64_t end)
{
    uint32_t sub = htonl(0x64400000u + (uint32_t)(k % 4000000));
    uint32_t ext = htonl(0xcb007100u + slot % 64);
    ep_addr_from_bytes(AF_INET, &sub, &r->subscriber);
    ep_addr_from_bytes(AF_INET, &ext, &r->ext);
    r->proto = (slot / 64) % 2 ? 17 : 6;
    r->port_lo = (uint16_t)(1024 + (slot / 128) * 1008);
    r->port_hi = (uint16_t)(r->port_lo + 1007);
    r->start = start;
    r->end = end;
}

static void bench_big_log(const char *dir)
{
    char path[512];
    ep_natlog_options o = { .create = true, .sync_normal = true, .batch = 100000,
                            .cache_kib = 512 * 1024 };
    ep_natlog *log;
    int64_t *busy = calloc(SLOTS, sizeof *busy);
    int64_t t = 1790000000, horizon;
    const size_t Q = opt_quick ? 2000 : 20000;
    double *lat = malloc(Q * sizeof *lat), gen, med, p99;
    size_t hits = 0;
    struct stat sb;

    snprintf(path, sizeof path, "%s/big.db", dir);
    unlink(path);
    if (ep_natlog_open(path, &o, &log, NULL) != 0)
        exit(1);
    gen = ep_bench_now_s();
    for (uint64_t k = 0; k < opt_events; k++) {
        unsigned slot = (unsigned)(rnd() % SLOTS);
        ep_natlog_record r;
        int64_t start;
        t += (int64_t)(rnd() % 2);
        start = busy[slot] > t ? busy[slot] : t;
        start += (int64_t)(rnd() % 30);          /* idle gap: whois misses */
        busy[slot] = start + 60 + (int64_t)(rnd() % 3600);
        slot_record(&r, slot, k, start, busy[slot]);
        if (ep_natlog_assign(log, &r) != 0)
            exit(1);
    }
    if (ep_natlog_close(log) != 0)
        exit(1);
    gen = ep_bench_now_s() - gen;
    horizon = t;
    stat(path, &sb);
    o = (ep_natlog_options){ .read_only = true };
    if (ep_natlog_open(path, &o, &log, NULL) != 0)
        exit(1);
    for (size_t w = 0; w < Q / 10; w++) {   /* warm the page cache */
        ep_natlog_record r;
        unsigned slot = (unsigned)(rnd() % SLOTS);
        uint32_t e = htonl(0xcb007100u + slot % 64);
        ep_addr ext;
        ep_addr_from_bytes(AF_INET, &e, &ext);
        ep_natlog_whois(log, &ext, 6, (uint16_t)(1024 + rnd() % 64512),
                        1790000000 + (int64_t)(rnd() % (uint64_t)(horizon - 1790000000)), &r);
    }
    for (size_t q = 0; q < Q; q++) {
        ep_natlog_record r;
        unsigned slot = (unsigned)(rnd() % SLOTS);
        uint32_t e = htonl(0xcb007100u + slot % 64);
        ep_addr ext;
        double t0;
        ep_addr_from_bytes(AF_INET, &e, &ext);
        t0 = ep_bench_now_s();
        if (ep_natlog_whois(log, &ext, (slot / 64) % 2 ? 17 : 6,
                            (uint16_t)(1024 + (slot / 128) * 1008 + rnd() % 1008),
                            1790000000 + (int64_t)(rnd() % (uint64_t)(horizon - 1790000000)),
                            &r) == 0)
            hits++;
        lat[q] = (ep_bench_now_s() - t0) * 1e6;
    }
    ep_natlog_close(log);
    stats(lat, Q, &med, &p99);
    if (opt_json)
        emit(json_pack("{s:s, s:I, s:f, s:f, s:I, s:I, s:f, s:f}", "bench", "log_whois", "events",
                       (json_int_t)opt_events, "generate_seconds", gen, "bytes_per_event",
                       (double)sb.st_size / (double)opt_events, "queries", (json_int_t)Q, "hits",
                       (json_int_t)hits, "latency_us_median", med, "latency_us_p99", p99));
    else
        printf("\nwhois on a %llu-event log (%.0f s to generate, %.1f bytes/event on disk)\n"
               "%8s %8s %16s %16s\n%8zu %8zu %16.1f %16.1f\n",
               (unsigned long long)opt_events, gen, (double)sb.st_size / (double)opt_events,
               "queries", "hits", "median us", "p99 us", Q, hits, med, p99);
    unlink_db(path);
    free(busy);
    free(lat);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "quick", no_argument, NULL, 'q' },
        { "events", required_argument, NULL, 'e' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char dir[] = "/tmp/ep-nat-bench-XXXXXX";
    int c;
    while ((c = getopt_long(argc, argv, "jqe:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            opt_json = true;
            break;
        case 'q':
            opt_quick = true;
            break;
        case 'e': {
            char *end;
            opt_events = strtoull(optarg, &end, 10);
            if (*end || opt_events < 1000) {
                fprintf(stderr, "nat-bench: --events needs a number >= 1000\n");
                return 2;
            }
            break;
        }
        case 'h':
            printf("Usage: nat-bench [--json] [--quick] [--events N]\n"
                   "Deterministic whois lookups/s, log inserts/s, whois latency on an\n"
                   "N-event log (default 10000000; --quick: 1000000 and shorter runs).\n");
            return 0;
        default:
            return 2;
        }
    }
    if (opt_quick && opt_events == 10000000)
        opt_events = 1000000;
    if (!mkdtemp(dir)) {
        perror("nat-bench: mkdtemp");
        return 1;
    }
    ep_bench_print_machine(opt_json, EP_BENCH_BUILDTYPE);
    if (!opt_json)
        printf("deterministic whois, in process (M lookups/s; p99 = slowest 1%% of runs)\n"
               "%-22s %9s %14s %14s %14s %14s %8s\n", "plan", "subs", "reverse med",
               "reverse p99", "table med", "forward med", "ratio");
    bench_whois("/16 behind /26", "100.64.0.0/16", "203.0.113.0/26");
    bench_whois("11 CIDRs behind /26", "100.64.0.0/22,100.64.8.0/22,100.64.16.0/22,100.64.24.0/22,"
                "100.64.32.0/22,100.64.40.0/22,100.64.48.0/22,100.64.56.0/22,100.65.0.0/20,"
                "100.66.0.0/20,100.67.0.0/19", "203.0.113.0/26");
    bench_whois("/10 behind /22", "100.64.0.0/10", "198.18.0.0/22");
    bench_inserts(dir);
    bench_big_log(dir);
    rmdir(dir);
    return 0;
}
