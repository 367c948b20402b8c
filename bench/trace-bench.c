/* trace-bench.c - what `ephport trace` costs the traced host: the time of a
 * connect() + accept() + close() on loopback, and of a trivial system call
 * (getppid: the raw tracepoints sys_enter and sys_exit run for every
 * call), with and without the tracer attached, run alternately in one
 * process and one private namespace; the medians and their ratio; and the
 * tracer's memory (RSS) over one long run of many intervals; every
 * connect counted (attempts counted = made).  Root only.  EP_TRACE_RAW=1
 * measures the raw-tracepoint fallback.
 *
 * --prog-stats also has the kernel time its programs (BPF_ENABLE_STATS, for
 * as long as the bench runs) and gives the programs' own time per traced
 * connect, read from the kernel (bpf_prog_info of the programs whose ids
 * this process's /proc/self/fdinfo lists): a figure the machine's other load hardly moves, where
 * the wall-clock ratio needs a quiet machine.  Timing the programs costs
 * itself (two clock reads a run), so the ratio is taken without it.
 * Usage: trace-bench [--json] [--rounds N] [--connects N] [--prog-stats] */
#include <dirent.h>
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>

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

/* The programs this process holds (their ids from /proc/self/fdinfo), their
 * run time summed (ns) and per program into per (name -> ns), or -1 when
 * none is found. */
static double tb_prog_ns(json_t *per)
{
    DIR *d = opendir("/proc/self/fdinfo");
    struct dirent *de;
    unsigned seen[64];
    size_t nseen = 0;
    double sum = 0;
    bool any = false;

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL) {
        char path[300], line[128];
        unsigned id = 0;
        FILE *f;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/fdinfo/%s", de->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "prog_id: %u", &id) == 1)
                break;
        fclose(f);
        /* A program's fd and the link or perf event attaching it both name
         * it: count each program once. */
        bool again = false;
        for (size_t k = 0; k < nseen; k++)
            again |= seen[k] == id;
        if (!id || again || nseen == sizeof seen / sizeof seen[0])
            continue;
        seen[nseen++] = id;
        union bpf_attr at;
        struct bpf_prog_info info;
        memset(&at, 0, sizeof at);
        at.prog_id = id;
        int fd = (int)syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &at, sizeof at);
        if (fd < 0)
            continue;
        memset(&info, 0, sizeof info);
        memset(&at, 0, sizeof at);
        at.info.bpf_fd = (unsigned)fd;
        at.info.info_len = sizeof info;
        at.info.info = (unsigned long)&info;
        if (syscall(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, &at, sizeof at) == 0) {
            any = true;
            sum += (double)info.run_time_ns;
            if (per)
                json_object_set_new(per, info.name, json_real((double)info.run_time_ns));
        }
        close(fd);
    }
    closedir(d);
    return any ? sum : -1;
}

static int tb_drop(const ep_trace_failure *f, void *arg)
{
    (void)f;
    ++*(long *)arg;
    return 0;
}

int main(int argc, char **argv)
{
    bool json = false, prog_stats = false;
    long rounds = 7, connects = 20000, syscalls = 2000000, events = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atol(argv[++i]);
        else if (strcmp(argv[i], "--connects") == 0 && i + 1 < argc)
            connects = atol(argv[++i]);
        else if (strcmp(argv[i], "--prog-stats") == 0)
            prog_stats = true;
        else {
            fprintf(stderr, "usage: trace-bench [--json] [--rounds N] [--connects N] "
                            "[--prog-stats]\n");
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
    double *p_ns = calloc((size_t)rounds, sizeof(double));
    json_t *p_per = json_object();
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
        if (prog_stats) {
            /* The programs' own time over a further traced batch, timed
             * apart from the rounds above (timing them costs). */
            union bpf_attr at = { .enable_stats = { .type = BPF_STATS_RUN_TIME } };
            int sfd = (int)syscall(SYS_bpf, BPF_ENABLE_STATS, &at, sizeof at);
            if (sfd < 0) {
                fprintf(stderr, "trace-bench: BPF_ENABLE_STATS: %s\n", strerror(errno));
                return 3;
            }
            json_t *per0 = json_object(), *per1 = json_object();
            double t0 = tb_prog_ns(per0);
            tb_connects(lfd, &a, connects);
            double t1 = tb_prog_ns(per1);
            close(sfd);
            if (t0 < 0 || t1 < 0) {
                fprintf(stderr, "trace-bench: --prog-stats: no BPF program found among this "
                                "process's files\n");
                return 3;
            }
            p_ns[r] = (t1 - t0) / (double)connects;
            if (r == rounds / 2) {
                const char *k;
                json_t *v;
                json_object_foreach(per1, k, v)
                    json_object_set_new(p_per, k, json_real((json_real_value(v) -
                                                             json_real_value(json_object_get(per0, k))) /
                                                            (double)connects));
            }
            json_decref(per0);
            json_decref(per1);
        }
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
    long want = rounds * connects * (prog_stats ? 2 : 1) + long_rounds * (connects / 4);
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
        if (prog_stats) {
            json_object_set_new(row, "program_ns_per_connect",
                                json_real(ep_bench_percentile(p_ns, (size_t)rounds, 0.5)));
            json_object_set_new(row, "program_ns_per_connect_by_program", json_incref(p_per));
        }
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
        if (prog_stats) {
            const char *k;
            json_t *v;
            printf("the programs' own time per traced connect+accept+close (bpf_stats, median "
                   "of rounds): %.1f ns; by program (middle round):",
                   ep_bench_percentile(p_ns, (size_t)rounds, 0.5));
            json_object_foreach(p_per, k, v)
                if (json_real_value(v) > 0.05)
                    printf(" %s %.1f", k, json_real_value(v));
            printf("\n");
        }
    }
    json_decref(p_per);
    free(p_ns);
    return 0;
}
