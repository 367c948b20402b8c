/* tw-hold.c - how long the running kernel really keeps a TIME_WAIT entry.
 *
 * In a private network namespace (tcp_tw_reuse = 0, so a TIME_WAIT entry
 * blocks its 4-tuple), each sample makes one loopback connection from port p,
 * closes the client first, waits for the server's FIN to reach the client
 * (the moment TIME_WAIT starts) and notes the time.  About 60 s later it asks
 * the kernel, every --resolution-ms, whether port p can connect to the same
 * listener again: a new socket with IP_LOCAL_PORT_RANGE = [p, p] makes
 * connect() try exactly port p through the kernel's own autobind path, which
 * fails with EADDRNOTAVAIL while the TIME_WAIT entry lives and succeeds the
 * moment it is gone (the probe connection is then reset, leaving no TIME_WAIT
 * behind).  Samples start --spacing-ms apart so their phases spread over the
 * timer wheel's buckets.
 *
 * The kernel's TIME_WAIT timer is a timer_list of 60 s; the timer wheel puts
 * it in the level whose granularity covers that delay and rounds the expiry
 * up to that granularity (kernel/time/timer.c, calc_index): at HZ=250 the
 * 15,000-jiffy delay lands in level 3 (8^3 = 512 jiffies = 2.048 s), so the
 * entry goes between 60 s + 1 jiffy and 60 s + 2.048 s after it started.  The
 * program prints that prediction beside what it measured, with HZ measured
 * from /proc/timer_list.  docs/BENCHMARKS.md "TIME_WAIT as Linux keeps it"
 * holds the figures.
 *
 * Usage: tw-hold [--samples N] [--spacing-ms MS] [--resolution-ms MS] [--json]
 * Needs root (unshare(CLONE_NEWNET)); takes about 62 s + N x spacing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "bench-util.h"
#include "sockfill.h"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

#define TW_PORT_BASE 40000
#define TW_LISTEN_PORT 9000
#define TW_NOMINAL_S 60.0

static const char *prog = "tw-hold";

static void tw_sleep_s(double s)
{
    struct timespec ts;
    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The first "jiffies:" line of /proc/timer_list, or -1. */
static long long tw_jiffies(void)
{
    FILE *f = fopen("/proc/timer_list", "r");
    char line[256];
    long long j = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "jiffies: %lld", &j) == 1)
            break;
    fclose(f);
    return j;
}

/* HZ from two jiffies readings 1 s apart, rounded to a CONFIG_HZ value; 0 if
 * /proc/timer_list cannot be read. */
static int tw_measure_hz(void)
{
    static const int known[] = { 100, 250, 300, 1000 };
    double t0 = ep_bench_now_s(), t1;
    long long j0 = tw_jiffies(), j1;
    int best = 0;
    double hz;
    tw_sleep_s(1.0);
    j1 = tw_jiffies();
    t1 = ep_bench_now_s();
    if (j0 < 0 || j1 <= j0)
        return 0;
    hz = (double)(j1 - j0) / (t1 - t0);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (best == 0 || fabs(hz - known[i]) < fabs(hz - best))
            best = known[i];
    return fabs(hz - best) < best * 0.05 ? best : 0;
}

/* The timer wheel's granularity for a delay of `jiffies` (8^level jiffies,
 * 64 buckets per level, level n starting at 63 x 8^(n-1)). */
static long tw_wheel_gran(long jiffies)
{
    long gran = 1;
    for (int lvl = 1; lvl < 9; lvl++) {
        long start = 63L << (3 * (lvl - 1));
        if (jiffies < start)
            break;
        gran = 1L << (3 * lvl);
    }
    return gran;
}

static int tw_client(uint16_t port, const struct sockaddr_in *dst)
{
    uint32_t range = (uint32_t)port | ((uint32_t)port << 16);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0)
        return -errno;
    if (setsockopt(c, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof range) != 0 ||
        connect(c, (const struct sockaddr *)dst, sizeof *dst) != 0) {
        int e = errno;
        close(c);
        return -e;
    }
    return c;
}

static void tw_drain(int listener)
{
    int s;
    while ((s = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(s);
}

static void tw_usage(FILE *f)
{
    fprintf(f, "Usage: %s [--samples N] [--spacing-ms MS] [--resolution-ms MS] [--json]\n"
               "Measures how long the kernel keeps a client-first TIME_WAIT entry (root).\n",
            prog);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "samples", required_argument, NULL, 'n' },
        { "spacing-ms", required_argument, NULL, 's' },
        { "resolution-ms", required_argument, NULL, 'r' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long samples = 128, spacing_ms = 53, res_ms = 5;
    bool json = false;
    struct sockaddr_in dst;
    double *start, *back, *held, t_first;
    int listener, opt, hz, one = 1;
    long pending, gran = 0;
    char range[32];

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': samples = strtol(optarg, NULL, 10); break;
        case 's': spacing_ms = strtol(optarg, NULL, 10); break;
        case 'r': res_ms = strtol(optarg, NULL, 10); break;
        case 'j': json = true; break;
        case 'h': tw_usage(stdout); return 0;
        default: tw_usage(stderr); return 2;
        }
    }
    if (samples < 1 || samples > 1000 || spacing_ms < 0 || spacing_ms > 10000 || res_ms < 1 ||
        res_ms > 1000) {
        fprintf(stderr, "%s: --samples 1-1000, --spacing-ms 0-10000, --resolution-ms 1-1000\n",
                prog);
        return 2;
    }
    if (!ep_bench_enter_netns(prog))
        return 1;
    snprintf(range, sizeof range, "%d %ld", TW_PORT_BASE, TW_PORT_BASE + samples - 1);
    if (ep_bench_sysctl("net/ipv4/tcp_tw_reuse", "0") != 0 ||
        ep_bench_sysctl("net/ipv4/ip_local_port_range", range) != 0) {
        fprintf(stderr, "%s: cannot set tcp_tw_reuse / ip_local_port_range\n", prog);
        return 1;
    }
    ep_bench_print_machine(json, EP_BENCH_BUILDTYPE);
    hz = tw_measure_hz();

    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_port = htons(TW_LISTEN_PORT);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(listener, (struct sockaddr *)&dst, sizeof dst) != 0 || listen(listener, 4096) != 0) {
        fprintf(stderr, "%s: listener: %s\n", prog, strerror(errno));
        return 1;
    }
    start = calloc((size_t)samples, sizeof *start);
    back = calloc((size_t)samples, sizeof *back);
    held = calloc((size_t)samples, sizeof *held);
    if (!start || !back || !held)
        return 1;

    for (long i = 0; i < samples; i++) {
        int c = tw_client((uint16_t)(TW_PORT_BASE + i), &dst), s;
        char b;
        if (c < 0) {
            fprintf(stderr, "%s: connect from %ld: %s\n", prog, TW_PORT_BASE + i, strerror(-c));
            return 1;
        }
        s = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0) {
            fprintf(stderr, "%s: accept: %s\n", prog, strerror(errno));
            return 1;
        }
        close(c);                    /* client first: FIN_WAIT2 */
        if (read(s, &b, 1) != 0) {   /* the client's FIN has arrived */
            fprintf(stderr, "%s: no FIN\n", prog);
            return 1;
        }
        close(s);                    /* our FIN: the client enters TIME_WAIT */
        start[i] = ep_bench_now_s();
        tw_sleep_s((double)spacing_ms / 1000.0);
    }
    if (fcntl(listener, F_SETFL, O_NONBLOCK) != 0)
        return 1;

    /* Probe from just before 60 s until every port is back. */
    pending = samples;
    t_first = start[0] + TW_NOMINAL_S - 0.5;
    tw_sleep_s(t_first - ep_bench_now_s());
    while (pending > 0) {
        for (long i = 0; i < samples; i++) {
            double now = ep_bench_now_s();
            int c;
            if (back[i] > 0 || now < start[i] + TW_NOMINAL_S - 0.5)
                continue;
            c = tw_client((uint16_t)(TW_PORT_BASE + i), &dst);
            if (c >= 0) {
                struct linger lg = { 1, 0 };
                back[i] = ep_bench_now_s();
                setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                close(c); /* reset: no TIME_WAIT from the probe */
                pending--;
            } else if (c != -EADDRNOTAVAIL) {
                fprintf(stderr, "%s: probe from %ld: %s\n", prog, TW_PORT_BASE + i,
                        strerror(-c));
                return 1;
            }
            if (now - start[i] > 3 * TW_NOMINAL_S) {
                fprintf(stderr, "%s: port %ld still blocked after %.0f s\n", prog,
                        TW_PORT_BASE + i, now - start[i]);
                return 1;
            }
        }
        tw_drain(listener);
        tw_sleep_s((double)res_ms / 1000.0);
    }
    tw_drain(listener);

    {
        double sum = 0, mn, mx, p50, p99, pred_hi = 0;
        for (long i = 0; i < samples; i++) {
            held[i] = back[i] - start[i];
            sum += held[i];
        }
        qsort(held, (size_t)samples, sizeof *held, ep_bench_cmp_double);
        mn = held[0];
        mx = held[samples - 1];
        p50 = ep_bench_percentile(held, (size_t)samples, 0.5);
        p99 = ep_bench_percentile(held, (size_t)samples, 0.99);
        if (hz > 0) {
            gran = tw_wheel_gran((long)(TW_NOMINAL_S * hz));
            pred_hi = TW_NOMINAL_S + (double)gran / hz;
        }
        if (json) {
            json_t *row = json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "bench",
                                    "tw-hold", "samples", (int)samples, "nominal_s",
                                    TW_NOMINAL_S, "min_s", mn, "p50_s", p50, "mean_s",
                                    sum / (double)samples, "p99_s", p99, "max_s", mx,
                                    "resolution_s", (double)res_ms / 1000.0);
            if (row) {
                json_object_set_new(row, "hz", hz > 0 ? json_integer(hz) : json_null());
                json_object_set_new(row, "wheel_granularity_s",
                                    hz > 0 ? json_real((double)gran / hz) : json_null());
                json_object_set_new(row, "predicted_max_s",
                                    hz > 0 ? json_real(pred_hi) : json_null());
                ep_bench_emit(row);
            }
        } else {
            printf("TIME_WAIT held (client closes first, loopback, tcp_tw_reuse=0): %ld samples, "
                   "probe every %ld ms\n", samples, res_ms);
            if (hz > 0)
                printf("HZ %d (measured): a %.0f s timer sits in a wheel level of %ld jiffies "
                       "= %.3f s; predicted (%.3f, %.3f] s\n", hz, TW_NOMINAL_S, gran,
                       (double)gran / hz, TW_NOMINAL_S + 1.0 / hz, pred_hi);
            else
                printf("HZ unknown (/proc/timer_list unreadable): no prediction\n");
            printf("%10s %10s %10s %10s %10s\n", "min s", "median s", "mean s", "p99 s", "max s");
            printf("%10.3f %10.3f %10.3f %10.3f %10.3f\n", mn, p50, sum / (double)samples, p99,
                   mx);
        }
    }
    free(start);
    free(back);
    free(held);
    close(listener);
    return 0;
}
