/* trace-bench.c - what `ephport trace` costs the traced host: the time of a
 * connect() + accept() + close() on loopback, and of a trivial system call
 * (getppid: the raw tracepoints sys_enter and sys_exit run for every
 * call), with and without the tracer attached, run alternately in one
 * process and one private namespace; the medians and their ratio; and the
 * tracer's memory (RSS) over one long run of many intervals; every
 * connect counted (attempts counted = made).  Root only.  EP_TRACE_RAW=1
 * measures the raw-tracepoint fallback.
 * Usage: trace-bench [--json] [--rounds N] [--connects N] */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ephport/trace.h>

#include "bench-util.h"
#include "sockfill.h"

#ifndef EP_BENCH_BUILDTYPE
#define EP_BENCH_BUILDTYPE "unknown"
#endif

static long tb_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* ns per connect + accept + close (RST: no TIME_WAIT left behind). */
static double tb_connects(int lfd, const struct sockaddr_in *a, long n)
{
    struct linger lg = { 1, 0 };
    double t0 = ep_bench_now_s();
    for (long i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0), s;
        if (c < 0 || connect(c, (const struct sockaddr *)a, sizeof *a) != 0) {
            perror("trace-bench: connect");
            exit(1);
        }
        s = accept(lfd, NULL, NULL);
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c);
        close(s);
    }
    return (ep_bench_now_s() - t0) * 1e9 / (double)n;
}

static double tb_syscalls(long n)
{
    double t0 = ep_bench_now_s();
    for (long i = 0; i < n; i++)
        if (getppid() < 0)
            abort();
    return (ep_bench_now_s() - t0) * 1e9 / (double)n;
}

static int tb_drop(const ep_trace_failure *f, void *arg)
{
    (void)f;
    ++*(long *)arg;
    return 0;
}

int main(int argc, char **argv)
{
    bool json = false;
    long rounds = 7, connects = 20000, syscalls = 2000000, events = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atol(argv[++i]);
        else if (strcmp(argv[i], "--connects") == 0 && i + 1 < argc)
            connects = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: trace-bench [--json] [--rounds N] [--connects N]\n");
            return 2;
        }
    }
    if (rounds < 1 || connects < 1 || rounds > 1000)
        return 2;
    if (!ep_bench_enter_netns("trace-bench"))
        return 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9000) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 128)) {
        perror("trace-bench: listen");
        return 1;
    }
    double *c_off = calloc((size_t)rounds, sizeof(double)), *c_on = calloc((size_t)rounds, sizeof(double));
    double *s_off = calloc((size_t)rounds, sizeof(double)), *s_on = calloc((size_t)rounds, sizeof(double));
    long rss_before = -1, rss_after = -1;
    ep_trace_interval iv;
    uint64_t attempts = 0, lost = 0;

    ep_bench_print_machine(json, EP_BENCH_BUILDTYPE);
    tb_connects(lfd, &a, connects / 10); /* warm up */
    for (long r = 0; r < rounds; r++) {
        c_off[r] = tb_connects(lfd, &a, connects);
        s_off[r] = tb_syscalls(syscalls);
        ep_trace_opts o = { .netns = "/proc/self/ns/net" };
        ep_trace *t;
        char why[512];
        if (ep_trace_open(&o, &t, why, sizeof why) != 0) {
            fprintf(stderr, "trace-bench: %s\n", why);
            return 3;
        }
        if (r == 0)
            rss_before = tb_rss_kib();
        c_on[r] = tb_connects(lfd, &a, connects);
        s_on[r] = tb_syscalls(syscalls);
        ep_trace_poll(t, 0, tb_drop, &events);
        if (ep_trace_interval_take(t, &iv) == 0) {
            for (size_t i = 0; i < iv.ndests; i++)
                attempts += iv.dests[i].attempts;
            lost += iv.lost_events + iv.lost_counts + iv.lost_calls;
        }
        rss_after = tb_rss_kib();
        ep_trace_close(t);
    }
    /* Memory over a long run: one tracer, many intervals. */
    long rss_long_first = -1, rss_long_last = -1, long_rounds = 10 * rounds;
    {
        ep_trace_opts o = { .netns = "/proc/self/ns/net" };
        ep_trace *t;
        char why[512];
        if (ep_trace_open(&o, &t, why, sizeof why) != 0) {
            fprintf(stderr, "trace-bench: %s\n", why);
            return 3;
        }
        for (long r = 0; r < long_rounds; r++) {
            tb_connects(lfd, &a, connects / 4);
            ep_trace_poll(t, 0, tb_drop, &events);
            if (ep_trace_interval_take(t, &iv) == 0) {
                for (size_t i = 0; i < iv.ndests; i++)
                    attempts += iv.dests[i].attempts;
                lost += iv.lost_events + iv.lost_counts + iv.lost_calls;
            }
            if (r == 0)
                rss_long_first = tb_rss_kib();
            rss_long_last = tb_rss_kib();
        }
        ep_trace_close(t);
    }
    long want = rounds * connects + long_rounds * (connects / 4);
    double co = ep_bench_percentile(c_off, (size_t)rounds, 0.5);
    double cn = ep_bench_percentile(c_on, (size_t)rounds, 0.5);
    double so = ep_bench_percentile(s_off, (size_t)rounds, 0.5);
    double sn = ep_bench_percentile(s_on, (size_t)rounds, 0.5);
    if (json) {
        json_t *row = json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I}",
                                "bench", "trace", "connect_ns_off", co, "connect_ns_on", cn,
                                "connect_ratio", cn / co, "getppid_ns_off", so, "getppid_ns_on",
                                sn, "getppid_ratio", sn / so, "rounds", (json_int_t)rounds,
                                "connects_per_round", (json_int_t)connects, "attempts_counted",
                                (json_int_t)attempts, "lost", (json_int_t)lost,
                                "rss_growth_kib", (json_int_t)(rss_after - rss_before));
        json_object_set_new(row, "attempts_wanted", json_integer(want));
        json_object_set_new(row, "long_run_intervals", json_integer(long_rounds));
        json_object_set_new(row, "long_run_rss_first_kib", json_integer(rss_long_first));
        json_object_set_new(row, "long_run_rss_last_kib", json_integer(rss_long_last));
        ep_bench_emit(row);
    } else {
        printf("%-34s %12s %12s %8s\n", "median over rounds", "untraced", "traced", "ratio");
        printf("%-34s %12.0f %12.0f %8.3f\n", "connect+accept+close (ns)", co, cn, cn / co);
        printf("%-34s %12.1f %12.1f %8.3f\n", "getppid (ns)", so, sn, sn / so);
        printf("rounds %ld x %ld connects, then %ld intervals of %ld; attempts counted by the "
               "tracer %llu (want %ld), lost %llu, failure events %ld\n", rounds, connects,
               long_rounds, connects / 4, (unsigned long long)attempts, want,
               (unsigned long long)lost, events);
        printf("RSS with the tracer: %ld KiB after the first load, %ld KiB after its round; "
               "long run: %ld KiB after the first interval, %ld KiB after the last\n",
               rss_before, rss_after, rss_long_first, rss_long_last);
    }
    return 0;
}
