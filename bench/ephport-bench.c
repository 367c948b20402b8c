/* ephport-bench.c - the engine benchmark: allocation cost of every selection
 * algorithm at rising occupancy, TIME_WAIT expiry cost, and memory per
 * tracked connection.  A program, never a timed test (see docs/BENCHMARKS.md
 * for the figures and how to reproduce them).
 *
 * Method (see GUIDE.md "How we measure"):
 *   - alloc: a pool over the Linux default range (32768-60999) with no
 *     TIME_WAIT, one pool per algorithm.  Occupancy is set up by connecting
 *     that fraction of the range towards the measured destination first.
 *     Then batches of connect + close(passive) pairs, each batch timed
 *     with clock_gettime(CLOCK_MONOTONIC); its mean is one sample.  Each
 *     algorithm's batch size is calibrated to last ~20 ms (steady state:
 *     re-loading its tables after the others ran is a small part of it).
 *     Warm-up batches are discarded; median and p99 are over the batch
 *     means.  The algorithms run alternately, batch by batch, in the same
 *     process, so their ratios hold even when the machine's speed drifts.
 *   - semantics: the default algorithm under EP_SEM_STACK and EP_SEM_LINUX
 *     (docs/ENGINE.md 12 and 13), the two pools' batches alternating in the
 *     same process as above, at the same occupancies: TCP towards one
 *     destination, UDP towards one, and UDP with the occupancy spread over
 *     100 destinations and the pairs walking across them (under Linux
 *     semantics a UDP port is exclusive per local address, so every
 *     destination sees the whole occupancy); ratio linux / stack.
 *   - alloc, cold caches: the default (and rfc6056-4 at 0%) on batches of
 *     1,024 pairs, each right after walking a 96 MiB buffer, so the pool's
 *     tables come from memory: the other extreme.  With 100,000
 *     destinations, each destination already holds one connection and the
 *     pairs walk across all of them (a large working set, occupancy ~0).
 *   - expiry: a pool with N entries in TIME_WAIT, then one ep_pool_advance()
 *     past their end; ns per expired entry.
 *   - kernel: the real Linux connect() towards one loopback destination at
 *     the same occupancies, in a private network namespace (kernel-connect.c):
 *     socket + connect + close(reset) pairs, 11 batches of 16.  Its level
 *     includes the handshake; its growth with occupancy is the comparison.
 *     Skipped with --quick, --no-kernel, or when unshare() is not allowed.
 *   - threads: 1, 2 and 4 threads on one pool, towards different
 *     destinations and towards the same one, aggregate throughput and its
 *     ratio to one thread (bench-threads.c).
 *   - memory: glibc allocator statistics (mallinfo2: heap in use plus mmap'd
 *     blocks) before and after tracking N connections, half of them moved to
 *     TIME_WAIT; bytes per tracked connection, and the same for 10 million
 *     connections (the 1 GiB target).
 *
 * Usage: ephport-bench [--json] [--quick] [--no-kernel] [--only SECTION] [--help]
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#include <jansson.h>

#include <ephport/ephport.h>

#include "bench-threads.h"
#include "kernel-connect.h"

#ifndef EP_BENCH_BUILDTYPE
#define EP_BENCH_BUILDTYPE "unknown"
#endif

#define LINUX_LO 32768
#define LINUX_HI 60999
#define LINUX_N  (LINUX_HI - LINUX_LO + 1)

static bool opt_json, opt_quick, opt_no_kernel;
static const char *opt_only; /* one section, NULL = all */

/* Whether section `name` runs (--only). */
static bool section(const char *name)
{
    return !opt_only || strcmp(opt_only, name) == 0;
}

static const double occupancies[] = { 0.0, 0.5, 0.9, 0.99, 0.999 };
#define NOCC (sizeof occupancies / sizeof occupancies[0])

/* ---- output ------------------------------------------------------------------ */

static void emit(json_t *row)
{
    if (opt_json) {
        char *s = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) {
            puts(s);
            free(s);
        }
        fflush(stdout);
    }
    json_decref(row);
}


static void print_machine(void)
{
    ep_bench_machine m;
    ep_bench_machine_read(&m);
    const char *cpu = m.cpu, *kernel = m.kernel;
    long cores = m.cores;
    if (opt_json) {
        emit(json_pack("{s:s, s:s, s:i, s:s, s:s, s:b}", "bench", "machine", "cpu", cpu, "cores",
                       (int)cores, "kernel", kernel, "build", EP_BENCH_BUILDTYPE, "quick",
                       opt_quick));
    } else {
        printf("machine: %s, %ld cores, kernel %s\n", cpu, cores, kernel);
        printf("build:   %s%s\n\n", EP_BENCH_BUILDTYPE, opt_quick ? " (--quick: few repetitions)" : "");
    }
}

/* ---- helpers ------------------------------------------------------------------- */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "ephport-bench: %s: %s\n", what, ep_strerror(rc));
    exit(1);
}

static ep_addr g_local;

/* Destination i (0 .. 2^24): 10.x.y.z:80, distinct for every i. */
static void dest_tuple(ep_tuple *t, uint32_t i)
{
    memset(t, 0, sizeof *t);
    t->proto = EP_PROTO_TCP;
    t->local = g_local;
    uint8_t b[4] = { 11, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
    ep_addr_from_bytes(AF_INET, b, &t->remote);
    t->remote_port = 80;
}

static ep_pool *pool_make(ep_algorithm alg, ep_time time_wait, uint64_t seed)
{
    ep_pool_config cfg;
    ep_pool *p;
    int rc = ep_pool_config_init(&cfg, "linux");
    if (rc)
        die("config", rc);
    cfg.lo = LINUX_LO;
    cfg.hi = LINUX_HI;
    cfg.algorithm = alg;
    cfg.time_wait = time_wait;
    cfg.seeded = true;
    cfg.seed = seed;
    if ((rc = ep_pool_new(&cfg, &p, NULL)) != 0)
        die("pool", rc);
    if ((rc = ep_pool_add_address(p, &g_local)) != 0)
        die("address", rc);
    return p;
}



/* ---- alloc --------------------------------------------------------------------- */

struct alloc_case {
    ep_pool *pool;
    uint8_t proto;      /* of every tuple, EP_PROTO_TCP unless set */
    uint32_t ndest;     /* destinations the pairs walk across */
    uint32_t cursor;
    double *samples;    /* wall-clock ns per pair, one per batch */
    double *cpu;        /* the same on this thread's CPU clock */
};

static void alloc_setup(struct alloc_case *c, ep_algorithm alg, double occ, uint32_t ndest)
{
    c->pool = pool_make(alg, 0, 1000 + (uint64_t)alg);
    c->proto = EP_PROTO_TCP;
    c->ndest = ndest;
    c->cursor = 0;
    ep_tuple t;
    uint32_t target = (uint32_t)(occ * LINUX_N + 0.5);
    for (uint32_t i = 0; i < target; i++) {
        dest_tuple(&t, 0);
        int rc = ep_pool_connect(c->pool, &t, 0, EP_SEC(1));
        if (rc)
            die("occupancy set-up", rc);
    }
    for (uint32_t d = 1; d < ndest; d++) { /* background: one connection each */
        dest_tuple(&t, d);
        int rc = ep_pool_connect(c->pool, &t, 0, EP_SEC(1));
        if (rc)
            die("destination set-up", rc);
    }
}

/* One batch of n connect+close pairs; mean ns per pair (wall clock), and in
 * *cpu the same on the thread's CPU clock (which leaves out the time the
 * thread was not running: the machine may be shared). */
static double alloc_batch(struct alloc_case *c, uint32_t n, double *cpu)
{
    ep_tuple t;
    uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t t0 = now_ns();
    for (uint32_t i = 0; i < n; i++) {
        dest_tuple(&t, c->cursor);
        t.proto = c->proto;
        if (++c->cursor >= c->ndest)
            c->cursor = 0;
        int rc = ep_pool_connect(c->pool, &t, 0, EP_SEC(2));
        if (rc)
            die("connect", rc);
        rc = ep_pool_close(c->pool, &t, EP_CLOSE_PASSIVE, EP_SEC(2));
        if (rc)
            die("close", rc);
    }
    uint64_t t1 = now_ns();
    *cpu = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / n;
    return (double)(t1 - t0) / n;
}

/* Pairs per batch so that one batch of this case lasts about target_ns:
 * measured on the second of two trial batches of the case itself (the
 * first one loads its tables into the caches). */
static uint32_t alloc_calibrate(struct alloc_case *c, double target_ns)
{
    double cpu, per = alloc_batch(c, 256, &cpu);
    per = alloc_batch(c, 1024, &cpu);
    double n = target_ns / (per > 1 ? per : 1);
    return n < 64 ? 64 : n > (1 << 22) ? (1u << 22) : (uint32_t)n;
}

/* Steady state: every algorithm runs alternately, batch by batch, each
 * batch ~20 ms of back-to-back pairs (the first pairs of a batch re-load the
 * pool's tables into the caches after the other six ran; at 20 ms that
 * re-load is a few percent of the batch).  bench_cold() measures the
 * opposite extreme. */
static void bench_alloc(uint32_t ndest)
{
    const double target_ns = opt_quick ? 1e6 : 20e6;
    const int warm = opt_quick ? 1 : 3;
    const int batches = opt_quick ? 5 : 51;
    struct alloc_case cases[EP_ALG__COUNT];
    uint32_t pairs[EP_ALG__COUNT];

    if (!opt_json) {
        printf("alloc: connect + close pairs, Linux range %u-%u, %u destination%s, ns per pair\n"
               "       (steady state: %d batches of ~%.0f ms per algorithm, alternating)\n",
               LINUX_LO, LINUX_HI, ndest, ndest == 1 ? "" : "s", batches, target_ns / 1e6);
        printf("  %-10s %9s %11s %11s %11s %11s %9s\n", "algorithm", "occupancy", "median_ns", "p99_ns",
               "cpu_median", "cpu_p99", "pairs");
    }
    for (size_t oi = 0; oi < NOCC; oi++) {
        double occ = occupancies[oi];
        if (ndest > 1 && occ > 0)
            continue; /* many destinations: occupancy ~0, see the header */
        for (int a = 0; a < EP_ALG__COUNT; a++) {
            alloc_setup(&cases[a], (ep_algorithm)a, occ, ndest);
            cases[a].samples = calloc((size_t)batches, sizeof(double));
            cases[a].cpu = calloc((size_t)batches, sizeof(double));
            if (!cases[a].samples || !cases[a].cpu)
                die("samples", EP_ENOMEM);
            pairs[a] = alloc_calibrate(&cases[a], target_ns);
        }
        for (int b = -warm; b < batches; b++)
            for (int a = 0; a < EP_ALG__COUNT; a++) {
                double cpu, v = alloc_batch(&cases[a], pairs[a], &cpu);
                if (b >= 0) {
                    cases[a].samples[b] = v;
                    cases[a].cpu[b] = cpu;
                }
            }
        double med[EP_ALG__COUNT], cmed[EP_ALG__COUNT];
        for (int a = 0; a < EP_ALG__COUNT; a++) {
            qsort(cases[a].samples, (size_t)batches, sizeof(double), ep_bench_cmp_double);
            qsort(cases[a].cpu, (size_t)batches, sizeof(double), ep_bench_cmp_double);
            med[a] = ep_bench_percentile(cases[a].samples, (size_t)batches, 0.5);
            double p99 = ep_bench_percentile(cases[a].samples, (size_t)batches, 0.99);
            cmed[a] = ep_bench_percentile(cases[a].cpu, (size_t)batches, 0.5);
            double cp99 = ep_bench_percentile(cases[a].cpu, (size_t)batches, 0.99);
            const char *name = ep_algorithm_name((ep_algorithm)a);
            if (opt_json)
                emit(json_pack("{s:s, s:s, s:b, s:f, s:i, s:f, s:f, s:f, s:f, s:i, s:i}", "bench",
                               "alloc", "algorithm", name, "default", a == EP_ALG_RANDOM,
                               "occupancy", occ, "destinations", (int)ndest, "median_ns", med[a],
                               "p99_ns", p99, "median_cpu_ns", cmed[a], "p99_cpu_ns", cp99,
                               "batches", batches, "pairs_per_batch", (int)pairs[a]));
            else
                printf("  %-10s %8.1f%% %11.1f %11.1f %11.1f %11.1f %9u%s\n", name, occ * 100, med[a],
                       p99, cmed[a], cp99, pairs[a], a == EP_ALG_RANDOM ? "  (default)" : "");
            ep_pool_free(cases[a].pool);
            free(cases[a].samples);
            free(cases[a].cpu);
        }
        double ratio = med[EP_ALG_RANDOM] / med[EP_ALG_RFC6056_4];
        double cratio = cmed[EP_ALG_RANDOM] / cmed[EP_ALG_RFC6056_4];
        if (opt_json)
            emit(json_pack("{s:s, s:f, s:i, s:s, s:s, s:f, s:f}", "bench", "ratio", "occupancy", occ,
                           "destinations", (int)ndest, "numerator", "random", "denominator",
                           "rfc6056-4", "median_ratio", ratio, "median_cpu_ratio", cratio));
        else
            printf("  default / rfc6056-4 at %.1f%%: %.3f (cpu clock %.3f)\n\n", occ * 100, ratio,
                   cratio);
    }
}

/* ---- semantics: stack vs linux ---------------------------------------------------- */

/* A pool of the default algorithm under `sem`, with `occ` of the range
 * taken by `proto` tuples spread round robin over ndest destinations (the
 * pairs then walk across the same destinations). */
static void sem_setup(struct alloc_case *c, ep_semantics sem, uint8_t proto, double occ,
                      uint32_t ndest)
{
    ep_pool_config cfg;
    ep_tuple t;
    int rc = ep_pool_config_init(&cfg, "linux");
    uint32_t target = (uint32_t)(occ * LINUX_N + 0.5);
    if (rc)
        die("config", rc);
    cfg.lo = LINUX_LO;
    cfg.hi = LINUX_HI;
    cfg.algorithm = EP_ALG_RANDOM;
    cfg.time_wait = 0;
    cfg.seeded = true;
    cfg.seed = 2000 + (uint64_t)sem;
    cfg.semantics = sem;
    if ((rc = ep_pool_new(&cfg, &c->pool, NULL)) != 0)
        die("pool", rc);
    if ((rc = ep_pool_add_address(c->pool, &g_local)) != 0)
        die("address", rc);
    c->proto = proto;
    c->ndest = ndest;
    c->cursor = 0;
    for (uint32_t i = 0; i < target; i++) {
        dest_tuple(&t, i % ndest);
        t.proto = proto;
        if ((rc = ep_pool_connect(c->pool, &t, 0, EP_SEC(1))) != 0)
            die("occupancy set-up", rc);
    }
}

static void bench_semantics(void)
{
    static const struct {
        uint8_t proto;
        uint32_t ndest;
    } cfgs[] = { { EP_PROTO_TCP, 1 }, { EP_PROTO_UDP, 1 }, { EP_PROTO_UDP, 100 } };
    static const ep_semantics sems[2] = { EP_SEM_STACK, EP_SEM_LINUX };
    const double target_ns = opt_quick ? 1e6 : 20e6;
    const int warm = opt_quick ? 1 : 3;
    const int batches = opt_quick ? 5 : 51;

    if (!opt_json)
        printf("semantics: the default algorithm under stack and Linux semantics, connect + close\n"
               "       pairs, Linux range %u-%u, ns per pair (%d batches of ~%.0f ms each,\n"
               "       alternating); occupancy spread over the destinations\n"
               "  %-5s %5s %9s %-6s %11s %11s %11s %11s %9s\n", LINUX_LO, LINUX_HI, batches,
               target_ns / 1e6, "proto", "dests", "occupancy", "rules", "median_ns", "p99_ns",
               "cpu_median", "cpu_p99", "pairs");
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        const char *proto = cfgs[ci].proto == EP_PROTO_UDP ? "udp" : "tcp";
        for (size_t oi = 0; oi < NOCC; oi++) {
            double occ = occupancies[oi], med[2], cmed[2];
            struct alloc_case cases[2];
            uint32_t pairs[2];
            for (int k = 0; k < 2; k++) {
                sem_setup(&cases[k], sems[k], cfgs[ci].proto, occ, cfgs[ci].ndest);
                cases[k].samples = calloc((size_t)batches, sizeof(double));
                cases[k].cpu = calloc((size_t)batches, sizeof(double));
                if (!cases[k].samples || !cases[k].cpu)
                    die("samples", EP_ENOMEM);
                pairs[k] = alloc_calibrate(&cases[k], target_ns);
            }
            for (int b = -warm; b < batches; b++)
                for (int k = 0; k < 2; k++) {
                    double cpu, v = alloc_batch(&cases[k], pairs[k], &cpu);
                    if (b >= 0) {
                        cases[k].samples[b] = v;
                        cases[k].cpu[b] = cpu;
                    }
                }
            for (int k = 0; k < 2; k++) {
                struct alloc_case *c = &cases[k];
                const char *rules = ep_semantics_name(sems[k]);
                qsort(c->samples, (size_t)batches, sizeof(double), ep_bench_cmp_double);
                qsort(c->cpu, (size_t)batches, sizeof(double), ep_bench_cmp_double);
                med[k] = ep_bench_percentile(c->samples, (size_t)batches, 0.5);
                double p99 = ep_bench_percentile(c->samples, (size_t)batches, 0.99);
                cmed[k] = ep_bench_percentile(c->cpu, (size_t)batches, 0.5);
                double cp99 = ep_bench_percentile(c->cpu, (size_t)batches, 0.99);
                if (opt_json)
                    emit(json_pack("{s:s, s:s, s:s, s:s, s:f, s:i, s:f, s:f, s:f, s:f, s:i, s:i}",
                                   "bench", "semantics", "semantics", rules, "protocol", proto,
                                   "algorithm", "random", "occupancy", occ, "destinations",
                                   (int)cfgs[ci].ndest, "median_ns", med[k], "p99_ns", p99,
                                   "median_cpu_ns", cmed[k], "p99_cpu_ns", cp99, "batches",
                                   batches, "pairs_per_batch", (int)pairs[k]));
                else
                    printf("  %-5s %5u %8.1f%% %-6s %11.1f %11.1f %11.1f %11.1f %9u\n", proto,
                           cfgs[ci].ndest, occ * 100, rules, med[k], p99, cmed[k], cp99,
                           pairs[k]);
                ep_pool_free(c->pool);
                free(c->samples);
                free(c->cpu);
            }
            if (opt_json)
                emit(json_pack("{s:s, s:s, s:f, s:i, s:s, s:s, s:f, s:f}", "bench",
                               "semantics_ratio", "protocol", proto, "occupancy", occ,
                               "destinations", (int)cfgs[ci].ndest, "numerator", "linux",
                               "denominator", "stack", "median_ratio", med[1] / med[0],
                               "median_cpu_ratio", cmed[1] / cmed[0]));
            else
                printf("  %-5s %5u %8.1f%% linux / stack: %.3f (cpu clock %.3f)\n", proto,
                       cfgs[ci].ndest, occ * 100, med[1] / med[0], cmed[1] / cmed[0]);
        }
    }
    if (!opt_json)
        printf("\n");
}

/* Walk a buffer larger than the last-level cache, so that the next batch
 * starts with none of the pool in any cache. */
static void evict_caches(void)
{
    static volatile uint8_t *buf;
    static const size_t len = 96u << 20;
    if (!buf && !(buf = malloc(len)))
        die("eviction buffer", EP_ENOMEM);
    for (size_t i = 0; i < len; i += 64)
        buf[i] = (uint8_t)(buf[i] + 1);
}

/* Cold caches: the default algorithm (and rfc6056-4 for the ratio) on 1,024
 * pairs right after evict_caches(): the pool's tables come from memory.
 * What an application sees when it allocates rarely and does much else in
 * between. */
static void bench_cold(void)
{
    const uint32_t batch = 1024;
    const int batches = opt_quick ? 3 : 21;
    static const ep_algorithm algs[] = { EP_ALG_RANDOM, EP_ALG_RFC6056_4 };

    if (!opt_json)
        printf("alloc, cold caches: %u connect + close pairs after evicting every cache, "
               "1 destination, ns per pair\n  %-10s %9s %11s %11s\n",
               batch, "algorithm", "occupancy", "median_ns", "cpu_median");
    for (size_t oi = 0; oi < NOCC; oi++) {
        double occ = occupancies[oi];
        for (size_t a = 0; a < sizeof algs / sizeof algs[0]; a++) {
            struct alloc_case c;
            double wall[21], cpu[21];
            alloc_setup(&c, algs[a], occ, 1);
            if (algs[a] == EP_ALG_RFC6056_4 && occ > 0.0)
                goto skip; /* ~40 us per pair from 50% on: cold or not */
            for (int b = 0; b < batches; b++) {
                evict_caches();
                wall[b] = alloc_batch(&c, batch, &cpu[b]);
            }
            qsort(wall, (size_t)batches, sizeof(double), ep_bench_cmp_double);
            qsort(cpu, (size_t)batches, sizeof(double), ep_bench_cmp_double);
            double med = ep_bench_percentile(wall, (size_t)batches, 0.5);
            double cmed = ep_bench_percentile(cpu, (size_t)batches, 0.5);
            const char *name = ep_algorithm_name(algs[a]);
            if (opt_json)
                emit(json_pack("{s:s, s:s, s:b, s:f, s:i, s:f, s:f, s:i, s:i}", "bench", "alloc_cold",
                               "algorithm", name, "default", algs[a] == EP_ALG_RANDOM, "occupancy",
                               occ, "destinations", 1, "median_ns", med, "median_cpu_ns", cmed,
                               "batches", batches, "pairs_per_batch", (int)batch));
            else
                printf("  %-10s %8.1f%% %11.1f %11.1f\n", name, occ * 100, med, cmed);
        skip:
            ep_pool_free(c.pool);
        }
    }
    if (!opt_json)
        printf("\n");
}

/* ---- the kernel ------------------------------------------------------------------- */

static void bench_kernel(void)
{
    const uint32_t batch = 16;           /* the kernel takes milliseconds per */
    const int warm = 2, batches = 11;    /* pair above 50%: keep the run short */
    char why[256];
    kc_state *k = NULL;

    if (opt_quick || opt_no_kernel) {
        if (!opt_json)
            printf("kernel: skipped (%s)\n\n", opt_quick ? "--quick" : "--no-kernel");
        return;
    }
    if (kc_open(&k, why, sizeof why) < 0) {
        if (opt_json)
            emit(json_pack("{s:s, s:s}", "bench", "kernel", "skipped", why));
        else
            printf("kernel: skipped: %s\n\n", why);
        return;
    }
    if (!opt_json) {
        printf("kernel: socket + connect + close(reset) to 127.0.0.1 in a private namespace, "
               "range %u-%u, ns per pair\n", LINUX_LO, LINUX_HI);
        printf("  %9s %11s %11s %11s %11s\n", "occupancy", "median_ns", "p99_ns", "cpu_median",
               "cpu_p99");
    }
    double wall[11], cpu[11];
    for (size_t oi = 0; oi < NOCC; oi++) {
        double occ = occupancies[oi];
        int rc = kc_occupy(k, (uint32_t)(occ * LINUX_N + 0.5));
        for (int b = -warm; b < batches && rc == 0; b++) {
            uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns();
            for (uint32_t i = 0; i < batch && rc == 0; i++)
                rc = kc_pair(k);
            uint64_t t1 = now_ns(), c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
            if (b >= 0) {
                wall[b] = (double)(t1 - t0) / batch;
                cpu[b] = (double)(c1 - c0) / batch;
            }
        }
        if (rc < 0) {
            snprintf(why, sizeof why, "connect at %.1f%% occupancy: %s", occ * 100, strerror(-rc));
            if (opt_json)
                emit(json_pack("{s:s, s:f, s:s}", "bench", "kernel", "occupancy", occ, "failed", why));
            else
                printf("  %8.1f%% failed: %s\n", occ * 100, why);
            break;
        }
        qsort(wall, (size_t)batches, sizeof(double), ep_bench_cmp_double);
        qsort(cpu, (size_t)batches, sizeof(double), ep_bench_cmp_double);
        double med = ep_bench_percentile(wall, (size_t)batches, 0.5), p99 = ep_bench_percentile(wall, (size_t)batches, 0.99);
        double cmed = ep_bench_percentile(cpu, (size_t)batches, 0.5), cp99 = ep_bench_percentile(cpu, (size_t)batches, 0.99);
        if (opt_json)
            emit(json_pack("{s:s, s:s, s:f, s:i, s:f, s:f, s:f, s:f, s:i, s:i}", "bench", "kernel",
                           "algorithm", "linux-kernel", "occupancy", occ, "destinations", 1,
                           "median_ns", med, "p99_ns", p99, "median_cpu_ns", cmed, "p99_cpu_ns",
                           cp99, "batches", batches, "pairs_per_batch", (int)batch));
        else
            printf("  %8.1f%% %11.1f %11.1f %11.1f %11.1f\n", occ * 100, med, p99, cmed, cp99);
    }
    if (!opt_json)
        printf("\n");
    kc_close(k);
}

/* ---- expiry --------------------------------------------------------------------- */

static void bench_expiry(void)
{
    const uint32_t entries = opt_quick ? 20000 : 1000000;
    const int reps = opt_quick ? 3 : 7;
    const uint32_t per_dest = 20000;
    double *samples = calloc((size_t)reps, sizeof(double));
    if (!samples)
        die("samples", EP_ENOMEM);
    for (int r = 0; r < reps; r++) {
        ep_pool *p = pool_make(EP_ALG_RANDOM, EP_SEC(60), 7);
        ep_tuple t;
        for (uint32_t i = 0; i < entries; i++) {
            dest_tuple(&t, i / per_dest);
            /* spread the closes over 10 s so entries land in many slots */
            ep_time at = EP_SEC(1) + (ep_time)i * EP_SEC(10) / entries;
            int rc = ep_pool_connect(p, &t, 0, at);
            if (rc)
                die("connect", rc);
            if ((rc = ep_pool_close(p, &t, EP_CLOSE_ACTIVE, at)) != 0)
                die("close", rc);
        }
        uint64_t t0 = now_ns();
        ep_pool_advance(p, EP_SEC(1) + EP_SEC(10) + EP_SEC(61));
        samples[r] = (double)(now_ns() - t0) / entries;
        ep_pool_stats st;
        ep_pool_stats_get(p, EP_SEC(100), &st);
        if (st.time_wait != 0) {
            fprintf(stderr, "ephport-bench: %llu TIME_WAIT entries left after expiry\n",
                    (unsigned long long)st.time_wait);
            exit(1);
        }
        ep_pool_free(p);
    }
    qsort(samples, (size_t)reps, sizeof(double), ep_bench_cmp_double);
    double med = ep_bench_percentile(samples, (size_t)reps, 0.5), p99 = ep_bench_percentile(samples, (size_t)reps, 0.99);
    if (opt_json)
        emit(json_pack("{s:s, s:i, s:f, s:f, s:i}", "bench", "expiry", "entries", (int)entries,
                       "median_ns_per_entry", med, "p99_ns_per_entry", p99, "repetitions", reps));
    else
        printf("expiry: %u TIME_WAIT entries expired by one advance: median %.1f ns/entry, "
               "max of %d runs %.1f ns/entry\n\n", entries, med, reps, p99);
    free(samples);
}

/* ---- memory --------------------------------------------------------------------- */

static uint64_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

/* Track n connections across destinations of per_dest each; every other one
 * is closed actively (TIME_WAIT 60 s).  Returns heap bytes used by them. */
static uint64_t measure_connections(uint64_t n, uint32_t per_dest, uint64_t *tracked)
{
    malloc_trim(0);
    uint64_t before = heap_bytes();
    ep_pool *p = pool_make(EP_ALG_RANDOM, EP_SEC(60), 11);
    uint64_t base = heap_bytes();
    ep_tuple t;
    for (uint64_t i = 0; i < n; i++) {
        dest_tuple(&t, (uint32_t)(i / per_dest));
        int rc = ep_pool_connect(p, &t, 0, EP_SEC(1));
        if (rc)
            die("connect", rc);
        if ((i & 1) && (rc = ep_pool_close(p, &t, EP_CLOSE_ACTIVE, EP_SEC(1))) != 0)
            die("close", rc);
    }
    uint64_t after = heap_bytes();
    ep_pool_stats st;
    ep_pool_stats_get(p, EP_SEC(1), &st);
    *tracked = st.in_use + st.time_wait;
    ep_pool_free(p);
    (void)before;
    return after - base;
}

static void bench_memory(void)
{
    const uint64_t n = opt_quick ? 100000 : 1000000;
    uint64_t tracked;
    uint64_t bytes = measure_connections(n, 20000, &tracked);
    double per = (double)bytes / (double)tracked;
    if (opt_json)
        emit(json_pack("{s:s, s:I, s:I, s:f, s:s}", "bench", "memory", "connections",
                       (json_int_t)tracked, "bytes", (json_int_t)bytes, "bytes_per_connection", per,
                       "time_wait_share", "half"));
    else
        printf("memory: %llu tracked connections (half in TIME_WAIT): %llu bytes, %.1f bytes/connection\n",
               (unsigned long long)tracked, (unsigned long long)bytes, per);
    if (opt_quick) {
        if (!opt_json)
            printf("memory: 10 million connections skipped with --quick\n\n");
        return;
    }
    const uint64_t big = 10000000;
    bytes = measure_connections(big, 25000, &tracked);
    bool under = bytes < (1ull << 30);
    if (opt_json)
        emit(json_pack("{s:s, s:I, s:I, s:f, s:b}", "bench", "memory_10m", "connections",
                       (json_int_t)tracked, "bytes", (json_int_t)bytes, "bytes_per_connection",
                       (double)bytes / (double)tracked, "under_1gib", under));
    else
        printf("memory: %llu tracked connections: %.1f MiB (%s 1 GiB)\n\n",
               (unsigned long long)tracked, bytes / 1048576.0, under ? "under" : "NOT under");
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ephport-bench [--json] [--quick] [--no-kernel] [--only SECTION] [--help]\n"
            "Benchmark libephport's allocation engine: connect+close cost of every\n"
            "selection algorithm at 0-99.9%% occupancy of the Linux range (one and\n"
            "100,000 destinations), the default under stack and Linux semantics side\n"
            "by side (TCP, UDP), the real kernel's connect() at the same occupancies\n"
            "(private network namespace), TIME_WAIT expiry cost, memory per connection.\n"
            "  --json   one JSON object per line instead of tables\n"
            "  --quick  few repetitions (a smoke run; figures are not meaningful);\n"
            "           skips the kernel baseline and the 10-million-connection row\n"
            "  --no-kernel  skip the kernel baseline (it needs CAP_SYS_ADMIN)\n"
            "  --only SECTION  run one section: alloc, semantics, cold, many (100,000\n"
            "           destinations), kernel, expiry, threads, memory\n"
            "  --help   this text\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "quick", no_argument, NULL, 'q' },
        { "no-kernel", no_argument, NULL, 'k' },
        { "only", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "jqh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': opt_json = true; break;
        case 'q': opt_quick = true; break;
        case 'k': opt_no_kernel = true; break;
        case 'o': opt_only = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ephport-bench: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (ep_addr_parse("10.0.0.1", &g_local) != 0)
        return 1;
    if (opt_only) {
        static const char *names[] = { "alloc", "semantics", "cold", "many", "kernel",
                                       "expiry", "threads", "memory" };
        bool known = false;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            known |= strcmp(opt_only, names[i]) == 0;
        if (!known) {
            fprintf(stderr, "ephport-bench: unknown section '%s'\n", opt_only);
            usage(stderr);
            return 2;
        }
    }
    print_machine();
    if (section("alloc"))
        bench_alloc(1);
    if (section("semantics"))
        bench_semantics();
    if (section("cold"))
        bench_cold();
    if (section("many"))
        bench_alloc(100000);
    if (section("kernel"))
        bench_kernel();
    if (section("expiry"))
        bench_expiry();
    if (section("threads"))
        ep_bench_threads(opt_json, opt_quick, &g_local);
    if (section("memory"))
        bench_memory();
    return 0;
}
