/* bench-threads.c - ephport-bench's "threads" section: aggregate
 * connect+close throughput of 1, 2 and 4 threads on ONE pool, and its ratio
 * to one thread (docs/BENCHMARKS.md "Threads", docs/ENGINE.md section 9).
 *
 * Method (GUIDE.md "How we measure": 1, 2 and 4 threads on one pool,
 * aggregate throughput and its ratio to one thread, in one run):
 *   - a default pool (random algorithm, stack semantics, thread_safe, the
 *     Linux range 32768-60999, no TIME_WAIT), one local address;
 *   - modes: "different" - thread i connects towards its own 16
 *     destinations (11.i.0.0-15:80), walking across them; "same" - every
 *     thread towards one destination; "own-pool" - the same work as
 *     "different" but one pool per thread: the machine's ceiling, with no
 *     sharing at all;
 *   - a trial: T threads start together (barrier), each runs connect +
 *     close(passive) pairs until the main thread raises a stop flag after
 *     the trial's duration (200 ms, 20 ms with --quick); aggregate pairs per
 *     second = all pairs / wall time;
 *   - every (mode, threads) trial runs once per repetition, all of them in
 *     turn, 7 repetitions (2 with --quick); rows give the median and the
 *     ratio of medians to the same mode's 1-thread median;
 *   - beside the wall-clock rate, pairs per second of the threads' CPU time
 *     (CLOCK_THREAD_CPUTIME_ID, spinning included) and its ratio: 1.0 means
 *     sharing the pool wasted no cycles.  It holds on a loaded machine,
 *     where the wall-clock ratio measures the other load as much as us.
 * The machine may be shared: the row carries the 1-minute load average
 * read before the section (getloadavg), so a reader can tell a loaded run. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ephport/ephport.h>

#include "bench-threads.h"
#include "bench-util.h"

#define BT_LO 32768
#define BT_HI 60999
#define BT_DESTS 16   /* destinations per thread in the "different" modes */
#define BT_MAXT 4

enum bt_mode { BT_DIFFERENT, BT_SAME, BT_OWN, BT__MODES };
static const char *const bt_mode_name[BT__MODES] = { "different", "same", "own-pool" };
static const unsigned bt_threads[] = { 1, 2, 4 };
#define BT_NT (sizeof bt_threads / sizeof bt_threads[0])

struct bt_shared {
    pthread_barrier_t start;
    atomic_bool stop;
};

struct bt_worker {
    pthread_t tid;
    struct bt_shared *sh;
    ep_pool *pool;
    ep_addr local;
    unsigned index;
    enum bt_mode mode;
    uint64_t pairs;
    uint64_t cpu_ns;    /* the thread's CPU time over its pairs */
    int rc;             /* first failure, 0 if none */
};

static uint64_t bt_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t bt_now(void)
{
    return bt_clock(CLOCK_MONOTONIC);
}

static ep_pool *bt_pool(const ep_addr *local, uint64_t seed)
{
    ep_pool_config cfg;
    ep_pool *p;
    if (ep_pool_config_init(&cfg, "linux") != 0)
        return NULL;
    cfg.lo = BT_LO;
    cfg.hi = BT_HI;
    cfg.time_wait = 0;
    cfg.seeded = true;
    cfg.seed = seed;
    if (ep_pool_new(&cfg, &p, NULL) != 0)
        return NULL;
    if (ep_pool_add_address(p, local) != 0) {
        ep_pool_free(p);
        return NULL;
    }
    return p;
}

static void bt_tuple(ep_tuple *t, const ep_addr *local, unsigned thread, unsigned d)
{
    memset(t, 0, sizeof *t);
    t->proto = EP_PROTO_TCP;
    t->local = *local;
    uint8_t b[4] = { 11, (uint8_t)thread, 0, (uint8_t)d };
    ep_addr_from_bytes(AF_INET, b, &t->remote);
    t->remote_port = 80;
}

static void *bt_run(void *arg)
{
    struct bt_worker *w = arg;
    ep_tuple tuples[BT_DESTS];
    unsigned nd = w->mode == BT_SAME ? 1 : BT_DESTS, d = 0;

    for (unsigned i = 0; i < nd; i++)
        bt_tuple(&tuples[i], &w->local, w->mode == BT_SAME ? 0 : w->index + 1, i);
    pthread_barrier_wait(&w->sh->start);
    uint64_t c0 = bt_clock(CLOCK_THREAD_CPUTIME_ID);
    while (!atomic_load_explicit(&w->sh->stop, memory_order_relaxed)) {
        /* 64 pairs between looks at the flag */
        for (int k = 0; k < 64; k++) {
            ep_tuple t = tuples[d];
            if (++d == nd)
                d = 0;
            int rc = ep_pool_connect(w->pool, &t, 0, EP_SEC(2));
            if (rc == 0)
                rc = ep_pool_close(w->pool, &t, EP_CLOSE_PASSIVE, EP_SEC(2));
            if (rc != 0) {
                w->rc = rc;
                return NULL;
            }
        }
        w->pairs += 64;
    }
    w->cpu_ns = bt_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
    return NULL;
}

/* One trial: aggregate pairs per second of n threads (wall clock), and in
 * *per_cpu pairs per second of CPU time the threads used (spinning
 * included): the efficiency of the sharing, which other load on the
 * machine does not change the way it changes the wall-clock rate. */
static double bt_trial(enum bt_mode mode, unsigned n, double seconds, const ep_addr *local,
                       double *per_cpu)
{
    struct bt_shared sh;
    struct bt_worker w[BT_MAXT];
    ep_pool *shared = NULL;
    uint64_t pairs = 0, cpu = 0, t0, t1;
    struct timespec dur = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
    double rate = 0;
    int rc = 0;

    pthread_barrier_init(&sh.start, NULL, n + 1);
    atomic_init(&sh.stop, false);
    if (mode != BT_OWN && !(shared = bt_pool(local, 77)))
        return 0;
    memset(w, 0, sizeof w);
    for (unsigned i = 0; i < n; i++) {
        w[i].sh = &sh;
        w[i].pool = shared ? shared : bt_pool(local, 77 + i);
        w[i].local = *local;
        w[i].index = i;
        w[i].mode = mode;
        if (!w[i].pool || pthread_create(&w[i].tid, NULL, bt_run, &w[i]) != 0) {
            fprintf(stderr, "ephport-bench: threads: cannot start thread %u\n", i);
            exit(1);
        }
    }
    pthread_barrier_wait(&sh.start);
    t0 = bt_now();
    nanosleep(&dur, NULL);
    atomic_store(&sh.stop, true);
    for (unsigned i = 0; i < n; i++) {
        pthread_join(w[i].tid, NULL);
        pairs += w[i].pairs;
        cpu += w[i].cpu_ns;
        if (w[i].rc && !rc)
            rc = w[i].rc;
        if (!shared)
            ep_pool_free(w[i].pool);
    }
    t1 = bt_now();
    if (shared)
        ep_pool_free(shared);
    pthread_barrier_destroy(&sh.start);
    if (rc) {
        fprintf(stderr, "ephport-bench: threads: a pair failed: %s\n", ep_strerror(rc));
        exit(1);
    }
    rate = (double)pairs / ((double)(t1 - t0) / 1e9);
    *per_cpu = cpu ? (double)pairs / ((double)cpu / 1e9) : 0;
    return rate;
}

void ep_bench_threads(bool json, bool quick, const ep_addr *local)
{
    const unsigned reps = quick ? 2 : 7;
    const double seconds = quick ? 0.02 : 0.2;
    double samples[BT__MODES][BT_NT][7], cpu[BT__MODES][BT_NT][7];
    double load[1] = { -1 };

    if (getloadavg(load, 1) < 1)
        load[0] = -1;
    for (unsigned r = 0; r < reps; r++)
        for (int m = 0; m < BT__MODES; m++)
            for (unsigned k = 0; k < BT_NT; k++)
                samples[m][k][r] = bt_trial((enum bt_mode)m, bt_threads[k], seconds, local,
                                                   &cpu[m][k][r]);

    if (!json) {
        printf("threads: connect+close pairs on one pool (own-pool: one pool per thread), "
               "aggregate, median of %u trials of %.0f ms; load average %.2f\n",
               reps, seconds * 1e3, load[0]);
        printf("  %-10s %8s %14s %8s %18s %8s\n", "mode", "threads", "M pairs/s", "ratio",
               "M pairs/CPU-s", "ratio");
    }
    for (int m = 0; m < BT__MODES; m++) {
        double base = 0, cbase = 0;
        for (unsigned k = 0; k < BT_NT; k++) {
            double v[7];
            memcpy(v, samples[m][k], reps * sizeof *v);
            double med = ep_bench_percentile(v, reps, 0.5);
            memcpy(v, cpu[m][k], reps * sizeof *v);
            double cmed = ep_bench_percentile(v, reps, 0.5);
            if (k == 0) {
                base = med;
                cbase = cmed;
            }
            double ratio = base > 0 ? med / base : 0;
            double cratio = cbase > 0 ? cmed / cbase : 0;
            if (json) {
                ep_bench_emit(json_pack("{s:s, s:s, s:i, s:i, s:f, s:f, s:f, s:f, s:i, s:f}",
                                        "bench", "threads", "mode", bt_mode_name[m],
                                        "threads", (int)bt_threads[k], "dests_per_thread",
                                        m == BT_SAME ? 1 : BT_DESTS, "pairs_per_s", med,
                                        "ratio", ratio, "pairs_per_cpu_s", cmed, "cpu_ratio",
                                        cratio, "reps", (int)reps, "loadavg", load[0]));
            } else {
                printf("  %-10s %8u %14.2f %7.2fx %18.2f %7.2fx\n", bt_mode_name[m],
                       bt_threads[k], med / 1e6, ratio, cmed / 1e6, cratio);
            }
        }
    }
    if (!json)
        printf("\n");
}
