/* natlog-bench.c - the NAT log's two backends side by side: SQLite (a file)
 * and PostgreSQL (a server, each handle one connection).
 *
 *   1. log writes per second: the assign/release mix of nat-bench (8,192
 *      blocks assigned in turn, then released in turn), synchronous commit,
 *      1 and 1,000 events per commit; median and slowest of the runs.
 *   2. a large log (default 10 million closed blocks over 64 external
 *      addresses x TCP/UDP x 64 blocks of 1,008 ports, random gaps between
 *      holders, in time order, 100,000 events per commit, synchronous off):
 *      the insert rate while building it, bytes per event stored (SQLite:
 *      the file; PostgreSQL: pg_total_relation_size of blocks, indexes
 *      included), then whois latency over random lookups (addresses,
 *      ports, times): median and p99, hits.
 *
 * PostgreSQL runs when --pg URI names a scratch database: the bench drops
 * its tables (blocks, ephport_meta, ephport_writers) before each run and
 * at the end.  docs/BENCHMARKS.md says how to start a private server.
 *
 * Usage: natlog-bench [--json] [--events N] [--queries Q] [--pg URI]
 *                     [--no-sqlite] [--quick]
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include <ephport/natlog.h>

#include "bench-util.h"

#ifndef EP_BENCH_BUILDTYPE
#define EP_BENCH_BUILDTYPE "unknown"
#endif

static bool opt_json, opt_quick, opt_sqlite = true;
static uint64_t opt_events = 10000000;
static size_t opt_queries = 20000;
static const char *opt_pg;
static char tmpdir[] = "/tmp/ep-natlog-bench-XXXXXX";

static uint64_t rng = 0x853c49e6748fea9bull;
static uint64_t rnd(void)
{
    return ep_bench_xorshift64(&rng);
}

/* A fresh, empty log of the backend: its name (path or URI). */
static const char *fresh(const char *backend, const char *file)
{
    static char path[600];
    if (strcmp(backend, "sqlite") == 0) {
        char side[700];
        snprintf(path, sizeof path, "%s/%s", tmpdir, file);
        unlink(path);
        snprintf(side, sizeof side, "%s-wal", path);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", path);
        unlink(side);
        return path;
    }
    PGconn *c = PQconnectdb(opt_pg);
    PGresult *r;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "natlog-bench: %s", PQerrorMessage(c));
        exit(1);
    }
    r = PQexec(c, "SET client_min_messages = warning; "
                  "DROP TABLE IF EXISTS blocks, ephport_meta, ephport_writers");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "natlog-bench: cannot empty the scratch database: %s",
                PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
    PQfinish(c);
    return opt_pg;
}

static double stored_bytes(const char *backend, const char *name)
{
    if (strcmp(backend, "sqlite") == 0) {
        struct stat sb;
        return stat(name, &sb) == 0 ? (double)sb.st_size : -1;
    }
    PGconn *c = PQconnectdb(opt_pg);
    PGresult *r = PQexec(c, "SELECT pg_total_relation_size('blocks')");
    double v = PQresultStatus(r) == PGRES_TUPLES_OK ? atof(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

static ep_natlog *open_or_die(const char *name, const ep_natlog_options *o)
{
    ep_natlog *log;
    ep_parse_error err;
    if (ep_natlog_open(name, o, &log, &err) != 0) {
        fprintf(stderr, "natlog-bench: %s\n", err.message);
        exit(1);
    }
    return log;
}

static void record(ep_natlog_record *r, unsigned slot, uint64_t k, int64_t start, int64_t end)
{
    uint32_t sub = htonl(0x64400000u + (uint32_t)(k % 4000000));
    uint32_t ext = htonl(0xcb007100u + slot % 64);
    ep_addr_from_bytes(AF_INET, &sub, &r->subscriber);
    ep_addr_from_bytes(AF_INET, &ext, &r->ext);
    r->proto = (slot / 64) % 2 ? 17 : 6;
    r->port_lo = (uint16_t)(1024 + ((slot / 128) % 64) * 1008);
    r->port_hi = (uint16_t)(r->port_lo + 1007);
    r->start = start;
    r->end = end;
}

/* ---- 1. writes ---------------------------------------------------------- */

static void bench_writes(const char *backend)
{
    static const struct {
        uint32_t batch;
        uint64_t events;
    } cfgs[] = { { 1, 1000 }, { 1000, 100000 } };
    const int RUNS = opt_quick ? 2 : 3;
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        double rate[8], med, slow;
        uint64_t events = opt_quick ? cfgs[c].events / 5 : cfgs[c].events;
        for (int run = 0; run < RUNS; run++) {
            ep_natlog_options o = { .create = true, .batch = cfgs[c].batch };
            ep_natlog *log = open_or_die(fresh(backend, "writes.db"), &o);
            double t0 = ep_bench_now_s();
            for (uint64_t k = 0; k < events; k++) {
                ep_natlog_record r;
                record(&r, (unsigned)(k % 8192), k, (int64_t)k, EP_NATLOG_OPEN_END);
                if ((k / 8192) % 2 == 0 ? ep_natlog_assign(log, &r) != 0
                                        : ep_natlog_release(log, &r.ext, r.proto, r.port_lo,
                                                            (int64_t)k) != 0) {
                    fprintf(stderr, "natlog-bench: write: %s\n", ep_natlog_errmsg(log));
                    exit(1);
                }
            }
            if (ep_natlog_close(log) != 0)
                exit(1);
            rate[run] = (double)events / (ep_bench_now_s() - t0);
        }
        slow = rate[0];
        for (int run = 1; run < RUNS; run++)
            if (rate[run] < slow)
                slow = rate[run];
        med = ep_bench_percentile(rate, (size_t)RUNS, 0.5);
        if (opt_json)
            ep_bench_emit(json_pack("{s:s, s:s, s:i, s:I, s:i, s:f, s:f}", "bench",
                                    "natlog_write", "backend", backend, "batch",
                                    (int)cfgs[c].batch, "events", (json_int_t)events, "runs",
                                    RUNS, "events_per_s_median", med,
                                    "events_per_s_slowest", slow));
        else
            printf("%-11s %6u %9llu %14.0f %14.0f\n", backend, cfgs[c].batch,
                   (unsigned long long)events, med, slow);
    }
}

/* ---- 2. a large log ----------------------------------------------------- */

#define SLOTS (64 * 2 * 64)

static void bench_big(const char *backend)
{
    ep_natlog_options o = { .create = true, .sync_normal = true, .batch = 100000,
                            .cache_kib = 512 * 1024 };
    const char *name = fresh(backend, "big.db");
    ep_natlog *log = open_or_die(name, &o);
    int64_t *busy = calloc(SLOTS, sizeof *busy);
    int64_t t = 1790000000, horizon;
    const size_t Q = opt_queries;
    double *lat = malloc(Q * sizeof *lat), gen, med, p99, bytes;
    size_t hits = 0;

    rng = 0x853c49e6748fea9bull;   /* the same log for both backends */
    gen = ep_bench_now_s();
    for (uint64_t k = 0; k < opt_events; k++) {
        unsigned slot = (unsigned)(rnd() % SLOTS);
        ep_natlog_record r;
        int64_t start;
        t += (int64_t)(rnd() % 2);
        start = busy[slot] > t ? busy[slot] : t;
        start += (int64_t)(rnd() % 30);
        busy[slot] = start + 60 + (int64_t)(rnd() % 3600);
        record(&r, slot, k, start, busy[slot]);
        if (ep_natlog_assign(log, &r) != 0) {
            fprintf(stderr, "natlog-bench: event %llu: %s\n", (unsigned long long)k,
                    ep_natlog_errmsg(log));
            exit(1);
        }
    }
    if (ep_natlog_close(log) != 0)
        exit(1);
    gen = ep_bench_now_s() - gen;
    horizon = t;
    bytes = stored_bytes(backend, name);
    o = (ep_natlog_options){ .read_only = true };
    log = open_or_die(name, &o);
    rng = 0x2545f4914f6cdd1dull;   /* the same queries for both backends */
    for (size_t q = 0; q < Q + Q / 10; q++) {   /* the first tenth warms the caches */
        ep_natlog_record r;
        unsigned slot = (unsigned)(rnd() % SLOTS);
        uint32_t e = htonl(0xcb007100u + slot % 64);
        ep_addr ext;
        double t0;
        int rc;
        ep_addr_from_bytes(AF_INET, &e, &ext);
        t0 = ep_bench_now_s();
        rc = ep_natlog_whois(log, &ext, (slot / 64) % 2 ? 17 : 6,
                             (uint16_t)(1024 + ((slot / 128) % 64) * 1008 + rnd() % 1008),
                             1790000000 + (int64_t)(rnd() % (uint64_t)(horizon - 1790000000)),
                             &r);
        if (rc != 0 && rc != EP_ENOENT) {
            fprintf(stderr, "natlog-bench: whois: %s\n", ep_natlog_errmsg(log));
            exit(1);
        }
        if (q >= Q / 10) {
            lat[q - Q / 10] = (ep_bench_now_s() - t0) * 1e6;
            hits += rc == 0;
        }
    }
    ep_natlog_close(log);
    med = ep_bench_percentile(lat, Q, 0.5);
    p99 = ep_bench_percentile(lat, Q, 0.99);
    if (opt_json)
        ep_bench_emit(json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:I, s:I, s:f, s:f}", "bench",
                                "natlog_big", "backend", backend, "events",
                                (json_int_t)opt_events, "generate_seconds", gen,
                                "insert_events_per_s", (double)opt_events / gen,
                                "bytes_per_event", bytes / (double)opt_events, "queries",
                                (json_int_t)Q, "hits", (json_int_t)hits, "whois_us_median", med,
                                "whois_us_p99", p99));
    else
        printf("%-11s %10llu %9.0f %10.0f %8.1f %8zu %7zu %10.1f %10.1f\n", backend,
               (unsigned long long)opt_events, gen, (double)opt_events / gen,
               bytes / (double)opt_events, Q, hits, med, p99);
    free(busy);
    free(lat);
    if (strcmp(backend, "sqlite") == 0)
        fresh(backend, "big.db");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "quick", no_argument, NULL, 'q' },
        { "events", required_argument, NULL, 'e' },
        { "queries", required_argument, NULL, 'Q' },
        { "pg", required_argument, NULL, 'p' },
        { "no-sqlite", no_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *backends[2];
    size_t nb = 0;
    int c;
    while ((c = getopt_long(argc, argv, "jqe:Q:p:Sh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'j':
            opt_json = true;
            break;
        case 'q':
            opt_quick = true;
            break;
        case 'e':
            opt_events = strtoull(optarg, &end, 10);
            if (*end || opt_events < 1000) {
                fprintf(stderr, "natlog-bench: --events needs a number >= 1000\n");
                return 2;
            }
            break;
        case 'Q':
            opt_queries = strtoul(optarg, &end, 10);
            if (*end || opt_queries < 100) {
                fprintf(stderr, "natlog-bench: --queries needs a number >= 100\n");
                return 2;
            }
            break;
        case 'p':
            opt_pg = optarg;
            break;
        case 'S':
            opt_sqlite = false;
            break;
        case 'h':
            printf("Usage: natlog-bench [--json] [--events N] [--queries Q] [--pg URI] "
                   "[--no-sqlite] [--quick]\n"
                   "Log writes/s and whois latency on an N-event log (default 10000000,\n"
                   "--quick 100000), SQLite and, with --pg, PostgreSQL (URI of a scratch\n"
                   "database: its ephport tables are dropped).\n");
            return 0;
        default:
            return 2;
        }
    }
    if (opt_quick && opt_events == 10000000)
        opt_events = 100000;
    if (opt_quick && opt_queries == 20000)
        opt_queries = 2000;
    if (opt_sqlite)
        backends[nb++] = "sqlite";
    if (opt_pg)
        backends[nb++] = "postgresql";
    if (nb == 0) {
        fprintf(stderr, "natlog-bench: nothing to run (--no-sqlite without --pg)\n");
        return 2;
    }
    if (!mkdtemp(tmpdir)) {
        perror("natlog-bench: mkdtemp");
        return 1;
    }
    ep_bench_print_machine(opt_json, EP_BENCH_BUILDTYPE);
    if (!opt_json)
        printf("log writes (assign/release mix, synchronous commit)\n%-11s %6s %9s %14s %14s\n",
               "backend", "batch", "events", "median ev/s", "slowest ev/s");
    for (size_t b = 0; b < nb; b++)
        bench_writes(backends[b]);
    if (!opt_json)
        printf("\nlarge log: build (100,000 events per commit) and whois\n"
               "%-11s %10s %9s %10s %8s %8s %7s %10s %10s\n",
               "backend", "events", "build s", "insert/s", "B/event", "queries", "hits",
               "median us", "p99 us");
    for (size_t b = 0; b < nb; b++)
        bench_big(backends[b]);
    if (opt_pg)
        fresh("postgresql", NULL);
    fresh("sqlite", "writes.db");   /* unlinks them */
    fresh("sqlite", "big.db");
    rmdir(tmpdir);
    return 0;
}
