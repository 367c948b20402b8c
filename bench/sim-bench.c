/* sim-bench.c - the simulator benchmark: simulated connections (open,
 * close, TIME_WAIT expiry, all on the real engine) per second of wall time
 * on one core, next to the engine driven alone; and the peak memory of a
 * run against its length, to show it follows concurrency, not the total.
 *
 * Method (see GUIDE.md "How we measure"):
 *   - throughput: each scenario is a workload run by ep_sim_run() (the code
 *     behind `ephport simulate`), sampling every length/10 s.  One warm-up
 *     run, then R timed runs; median and p99 of ns per connection over the
 *     runs.  Timed with the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID):
 *     the work of one core, not inflated when other jobs share the machine;
 *     --wall times with CLOCK_MONOTONIC instead.  The "engine alone" row drives the same pool
 *     configuration with a bare loop (connect at t, close at t + duration
 *     from a FIFO, destinations in turn, no sampling, no statistics), run
 *     alternately with the simulator row, so the ratio is the simulator's
 *     own overhead (arrival and duration draws, destination choice, the
 *     close heap, sampling).
 *   - memory: the same workload at length L and 10 L, each in a fresh child
 *     process; peak RSS from wait4().  Equal peaks = memory bounded by the
 *     open connections, not the number simulated.
 *
 * Usage: sim-bench [--json] [--quick] [--wall] [--help]
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#include <jansson.h>

#include <ephport/ephport.h>

#include "sim.h"
#include "workload.h"

#ifndef EP_BENCH_BUILDTYPE
#define EP_BENCH_BUILDTYPE "unknown"
#endif

static bool opt_json, opt_quick;

typedef struct scenario {
    const char *name;
    const char *kv[8][2];
} scenario;

/* Lengths are chosen for about 2 million connections per run (200,000 for
 * rfc6056-4 at 85 % occupancy, which probes far more ports per connect). */
static const scenario scenarios[] = {
    { "1 dest, server closes, 1 ms, random",
      { { "rate", "200000" }, { "duration", "0.001" }, { "close", "server" },
        { "length", "10" }, { "arrivals", "constant" } } },
    { "1 dest, TIME_WAIT 60 s, 85 % full, random",
      { { "rate", "400" }, { "duration", "exponential:0.1" }, { "length", "5000" } } },
    { "1 dest, TIME_WAIT 60 s, 21 % full, random",
      { { "rate", "100" }, { "duration", "exponential:0.1" }, { "length", "20000" } } },
    { "1 dest, TIME_WAIT 60 s, 85 % full, rfc6056-4",
      { { "rate", "400" }, { "duration", "exponential:0.1" }, { "length", "500" },
        { "algorithm", "rfc6056-4" } } },
    { "100 dests zipf 1, 4 sources, poisson",
      { { "rate", "20000" }, { "duration", "exponential:0.05" }, { "destinations", "100" },
        { "zipf", "1" }, { "sources", "4" }, { "length", "100" } } },
    { "1 dest, keep-alive 10, lognormal, tw_reuse",
      { { "rate", "100000" }, { "duration", "lognormal:0.01:1" }, { "requests_per_conn", "10" },
        { "tw_reuse", "on" }, { "length", "200" } } },
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

/* Timing clock: the thread's CPU time by default (one core's work, immune
 * to other processes on a shared machine); CLOCK_MONOTONIC with --wall. */
static clockid_t opt_clock = CLOCK_THREAD_CPUTIME_ID;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(opt_clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void make(const scenario *sc, double scale, ep_workload *w)
{
    char msg[EP_WL_MSG], len[32];
    ep_workload_init(w);
    for (int i = 0; i < 8 && sc->kv[i][0]; i++) {
        if (strcmp(sc->kv[i][0], "length") == 0) {
            snprintf(len, sizeof len, "%g", atof(sc->kv[i][1]) * scale);
            ep_workload_set(w, "length", len, msg, sizeof msg);
        } else if (ep_workload_set(w, sc->kv[i][0], sc->kv[i][1], msg, sizeof msg) != 0) {
            fprintf(stderr, "sim-bench: %s\n", msg);
            exit(1);
        }
    }
    snprintf(len, sizeof len, "%g", w->length / 10);
    ep_workload_set(w, "sample", len, msg, sizeof msg);
    if (ep_workload_check(w, msg, sizeof msg) != 0) {
        fprintf(stderr, "sim-bench: %s\n", msg);
        exit(1);
    }
}

/* One simulator run: seconds, and the connections it simulated. */
static double run_sim(const ep_workload *w, uint64_t *conns, uint64_t *peak_open)
{
    ep_sim_result r;
    char msg[EP_WL_MSG];
    double t0 = now_s(), t;
    if (ep_sim_run(w, NULL, &r, msg, sizeof msg) != 0) {
        fprintf(stderr, "sim-bench: %s\n", msg);
        exit(1);
    }
    t = now_s() - t0;
    *conns = r.attempts;
    if (peak_open)
        *peak_open = r.peak_open;
    ep_sim_result_free(&r);
    return t;
}

/* The engine alone: constant arrivals at w->rate / rpc, constant duration
 * (the mean), destinations taken in turn, closes from a FIFO ring.  Same
 * pool configuration, same number of source addresses and destinations. */
static double run_engine(const ep_workload *w, uint64_t n)
{
    ep_pool_config cfg;
    ep_pool *pool;
    ep_addr dst;
    char msg[EP_WL_MSG];
    double gap = w->requests_per_conn / w->rate * 1e9;
    double dur = w->duration.mean * w->requests_per_conn * 1e9;
    size_t cap = (size_t)(dur / gap) + 16, head = 0, tail = 0;
    ep_conn_ref *ring = calloc(cap, sizeof *ring);
    ep_time *due = calloc(cap, sizeof *due);
    double t0, t;

    ep_workload_pool_config(w, &cfg, msg, sizeof msg);
    if (!ring || !due || ep_pool_new(&cfg, &pool, NULL) != 0)
        exit(1);
    for (uint32_t i = 0; i < w->sources; i++) {
        ep_addr src;
        char a[32];
        snprintf(a, sizeof a, "100.64.%u.%u", (i + 1) >> 8, (i + 1) & 0xff);
        ep_addr_parse(a, &src);
        ep_pool_add_address(pool, &src);
    }
    ep_addr_parse("198.18.0.1", &dst);
    t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        ep_time at = (ep_time)(i * gap);
        uint32_t d = (uint32_t)(i % w->destinations) + 1;
        ep_tuple tu;
        while (head != tail && due[head] <= at) {
            ep_pool_close_ref(pool, ring[head],
                              w->server_closes ? EP_CLOSE_PASSIVE : EP_CLOSE_ACTIVE, due[head]);
            head = (head + 1) % cap;
        }
        memset(&tu, 0, sizeof tu);
        tu.proto = EP_PROTO_TCP;
        tu.remote = dst;
        tu.remote.u.bytes[2] = (uint8_t)(d >> 8);
        tu.remote.u.bytes[3] = (uint8_t)d;
        tu.remote_port = 443;
        if (ep_pool_connect_ref(pool, &tu, 0, at, &ring[tail]) == 0) {
            due[tail] = at + (ep_time)dur;
            tail = (tail + 1) % cap;
            if (tail == head) {
                fprintf(stderr, "sim-bench: ring overflow\n");
                exit(1);
            }
        }
    }
    t = now_s() - t0;
    ep_pool_free(pool);
    free(ring);
    free(due);
    return t;
}



/* Peak RSS (KiB) of a child that runs w once. */
static long child_rss(const ep_workload *w, uint64_t *conns, uint64_t *peak_open)
{
    int pfd[2], st;
    struct rusage ru;
    uint64_t out[2] = { 0, 0 };
    pid_t pid;
    if (pipe(pfd) != 0)
        exit(1);
    pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        run_sim(w, &out[0], &out[1]);
        if (write(pfd[1], out, sizeof out) != (ssize_t)sizeof out)
            _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    if (read(pfd[0], out, sizeof out) != (ssize_t)sizeof out)
        out[0] = out[1] = 0;
    close(pfd[0]);
    if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        exit(1);
    *conns = out[0];
    *peak_open = out[1];
    return ru.ru_maxrss;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: sim-bench [--json] [--quick] [--wall] [--help]\n"
               "Simulated connections per second of wall time (median, p99 over runs) per\n"
               "scenario, the engine driven alone for comparison, and peak RSS at two run\n"
               "lengths.  --quick: 1/10 of the work, 3 runs.  --wall: time with the\n"
               "monotonic clock instead of the thread's CPU time.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "quick", no_argument, NULL, 'q' },
        { "wall", no_argument, NULL, 'w' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    ep_bench_machine mach;
    int c, runs;
    double scale;
    struct { double length; uint64_t conns, peak; long rss; } mem[2];

    while ((c = getopt_long(argc, argv, "jqwh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            opt_json = true;
            break;
        case 'q':
            opt_quick = true;
            break;
        case 'w':
            opt_clock = CLOCK_MONOTONIC;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    runs = opt_quick ? 3 : 7;
    scale = opt_quick ? 0.1 : 1.0;
    /* Memory: scenario 1 (TIME_WAIT, 85 % full) at L and 10 L, each in a
     * child forked before this process has run anything else. */
    for (int k = 0; k < 2; k++) {
        ep_workload w;
        make(&scenarios[1], (k ? 1.0 : 0.1) * scale, &w);
        mem[k].length = w.length;
        mem[k].rss = child_rss(&w, &mem[k].conns, &mem[k].peak);
        ep_workload_free(&w);
    }
    ep_bench_machine_read(&mach);
    if (opt_json) {
        ep_bench_emit(json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "row", "machine", "cpu",
                                mach.cpu, "cores", (int)mach.cores, "kernel", mach.kernel,
                                "build", EP_BENCH_BUILDTYPE, "clock",
                                opt_clock == CLOCK_MONOTONIC ? "wall" : "thread-cpu"));
    } else {
        printf("machine: %s, %ld cores, Linux %s\nbuild: %s\nruns: 1 warm-up + %d timed per "
               "row, one core, %s time\n\n", mach.cpu, mach.cores, mach.kernel,
               EP_BENCH_BUILDTYPE, runs,
               opt_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU");
        printf("%-44s %10s %10s %10s %11s %11s %7s\n", "scenario", "conns/run", "ns/conn",
               "p99 ns", "Mconn/s", "engine M/s", "ratio");
    }
    for (size_t i = 0; i < NSCEN; i++) {
        ep_workload w;
        double sim[16], eng[16], ms, p99, me;
        uint64_t conns = 0;
        make(&scenarios[i], scale, &w);
        run_sim(&w, &conns, NULL);       /* warm-up */
        run_engine(&w, conns);
        for (int r = 0; r < runs; r++) {
            sim[r] = run_sim(&w, &conns, NULL) / conns * 1e9;
            eng[r] = run_engine(&w, conns) / conns * 1e9;
        }
        ms = ep_bench_percentile(sim, (size_t)runs, 0.5);
        p99 = ep_bench_percentile(sim, (size_t)runs, 0.99);
        me = ep_bench_percentile(eng, (size_t)runs, 0.5);
        if (opt_json) {
            json_t *o = json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:f, s:f}", "row", "throughput",
                                  "scenario", scenarios[i].name, "connections", (json_int_t)conns,
                                  "median_ns", ms, "p99_ns", p99, "mconn_per_s", 1e3 / ms,
                                  "engine_mconn_per_s", 1e3 / me, "engine_over_sim", ms / me);
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(s);
            free(s);
            json_decref(o);
        } else {
            printf("%-44s %10llu %10.1f %10.1f %11.2f %11.2f %6.2fx\n", scenarios[i].name,
                   (unsigned long long)conns, ms, p99, 1e3 / ms, 1e3 / me, ms / me);
        }
        fflush(stdout);
        ep_workload_free(&w);
    }
    /* Memory, measured before (children inherit this process's heap and
     * count it in their peak), printed after. */
    if (!opt_json)
        printf("\n%-44s %10s %12s %12s\n", "memory (TIME_WAIT 60 s, 400/s)", "length s",
               "connections", "peak RSS KiB");
    for (int k = 0; k < 2; k++) {
        if (opt_json) {
            json_t *o = json_pack("{s:s, s:f, s:I, s:I, s:i}", "row", "memory", "length",
                                  mem[k].length, "connections", (json_int_t)mem[k].conns,
                                  "peak_open", (json_int_t)mem[k].peak, "peak_rss_kib",
                                  (int)mem[k].rss);
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(s);
            free(s);
            json_decref(o);
        } else {
            printf("%-44s %10g %12llu %12ld\n", "", mem[k].length,
                   (unsigned long long)mem[k].conns, mem[k].rss);
        }
    }
    return 0;
}
