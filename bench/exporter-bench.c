/* exporter-bench.c - `ephport exporter` scrape latency against
 * `ephport status --json` on the same namespace with 100,000 sockets, and
 * the exporter's memory after 10,000 scrapes against after 10.
 *
 * In a private network namespace (needs root or CAP_SYS_ADMIN) it widens the
 * range to 1024-65535 and makes --sockets client sockets towards --dests
 * listeners: most enter TIME_WAIT by active close, --established stay open.
 * It starts the exporter on 127.0.0.1, then alternates one scrape of
 * /metrics (an HTTP/1.0 GET from this process, timed from connect to the
 * last byte) and one run of `ephport status --json` (fork+exec, timed to
 * exit), after two warm-ups each; median and p99 of each and the ratio.
 * TIME_WAIT lasts 60 s, so the latency phase is kept short (--runs).
 *
 * Memory: the exporter's VmRSS (from /proc/PID/status) after its 10th scrape
 * (during the latency phase, 100,000 sockets) and after --scrapes in all
 * (by then the TIME_WAIT sockets have expired; the established ones stay).
 *
 *   bench/exporter-bench [--sockets N] [--established N] [--dests N] [--runs N]
 *                        [--scrapes N] [--json] [--ephport PATH]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
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
#include "sockfill.h"

#ifndef EP_EPHPORT_BIN
#define EP_EPHPORT_BIN "ephport"
#endif
#ifndef EP_BENCH_BUILDTYPE
#define EP_BENCH_BUILDTYPE "unknown"
#endif

#define EXPORTER_PORT 9808

/* Every scrape is counted, so "RSS after 10" really is after the 10th. */
static long ep_scrapes_done;
static pid_t ep_exporter_pid;
static long ep_rss_at_10 = -1;
static long ep_rss_kib(pid_t pid);

/* One GET /metrics; seconds, or < 0 on failure (anything but 200). */
static double ep_scrape(size_t *bytes)
{
    static char buf[1 << 16];
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n";
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(EXPORTER_PORT),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    double t0 = ep_bench_now_s();
    size_t total = 0;
    bool ok = false;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        if (total == 0 && n >= 12)
            ok = memcmp(buf, "HTTP/1.0 200", 12) == 0 || memcmp(buf, "HTTP/1.1 200", 12) == 0;
        total += (size_t)n;
    }
    close(fd);
    t0 = ep_bench_now_s() - t0;
    if (++ep_scrapes_done == 10)
        ep_rss_at_10 = ep_rss_kib(ep_exporter_pid);
    if (bytes)
        *bytes = total;
    return ok ? t0 : -1;
}

static double ep_run(char *const argv[])
{
    int st;
    double t0 = ep_bench_now_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? ep_bench_now_s() - t0 : -1;
}

static long ep_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static pid_t ep_start_exporter(const char *bin)
{
    char line[256];
    int p[2];
    pid_t pid;
    FILE *f;
    if (pipe(p) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        execl(bin, bin, "exporter", "--listen", "127.0.0.1:9808", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    f = fdopen(p[0], "r");
    if (!f || !fgets(line, sizeof line, f) || !strstr(line, "listening")) {
        fprintf(stderr, "exporter-bench: the exporter did not start\n");
        kill(pid, SIGKILL);
        return -1;
    }
    fclose(f);
    return pid;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "sockets", required_argument, NULL, 's' },
        { "established", required_argument, NULL, 'e' },
        { "dests", required_argument, NULL, 'd' },
        { "runs", required_argument, NULL, 'r' },
        { "scrapes", required_argument, NULL, 'S' },
        { "ephport", required_argument, NULL, 'b' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long nsock = 100000, established = 1000, scrapes = 10000;
    int ndest = 4, runs = 21, c;
    const char *bin = EP_EPHPORT_BIN;
    bool json = false;
    int listeners[64];
    struct sockaddr_in addrs[64];
    struct rlimit rl = { 1 << 16, 1 << 16 };
    double *t_scrape, *t_status, t0, s;
    size_t bytes = 0;
    long rss10, rssN;
    pid_t exporter;
    char *st_argv[] = { NULL, "status", "--json", "--top", "20", NULL };

    while ((c = getopt_long(argc, argv, "s:e:d:r:S:b:jh", opts, NULL)) != -1) {
        switch (c) {
        case 's': nsock = atol(optarg); break;
        case 'e': established = atol(optarg); break;
        case 'd': ndest = atoi(optarg); break;
        case 'r': runs = atoi(optarg); break;
        case 'S': scrapes = atol(optarg); break;
        case 'b': bin = optarg; break;
        case 'j': json = true; break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: exporter-bench [--sockets N] [--established N] [--dests N] "
                    "[--runs N] [--scrapes N] [--ephport PATH] [--json]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (nsock < 1 || established < 0 || established > nsock || established > 30000 ||
        ndest < 1 || ndest > 64 || runs < 3 || scrapes < 20 || nsock > (long)ndest * 60000) {
        fprintf(stderr, "exporter-bench: bad arguments\n");
        return 2;
    }
    st_argv[0] = (char *)bin;
    ep_bench_print_machine(json, EP_BENCH_BUILDTYPE);
    if (!ep_bench_enter_netns("exporter-bench"))
        return 1;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    for (int d = 0; d < ndest; d++) {
        int one = 1;
        memset(&addrs[d], 0, sizeof addrs[d]);
        addrs[d].sin_family = AF_INET;
        addrs[d].sin_port = htons((uint16_t)(80 + d));
        addrs[d].sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)d);
        listeners[d] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(listeners[d], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(listeners[d], (struct sockaddr *)&addrs[d], sizeof addrs[d]) != 0 ||
            listen(listeners[d], 4096) != 0) {
            perror("exporter-bench: listener");
            return 1;
        }
    }
    exporter = ep_start_exporter(bin);
    if (exporter < 0)
        return 1;
    ep_exporter_pid = exporter;
    t0 = ep_bench_now_s();
    if (ep_bench_make_sockets("exporter-bench", listeners, addrs, ndest, nsock, established) != 0)
        return 1;
    if (!json)
        printf("made %ld client sockets (%ld TIME_WAIT, %ld ESTABLISHED) towards %d "
               "destinations in %.1f s\n", nsock, nsock - established, established, ndest,
               ep_bench_now_s() - t0);

    t_scrape = calloc((size_t)runs, sizeof *t_scrape);
    t_status = calloc((size_t)runs, sizeof *t_status);
    if (!t_scrape || !t_status)
        return 1;
    for (int i = 0; i < 2; i++)
        if (ep_scrape(&bytes) < 0 || ep_run(st_argv) < 0) {
            fprintf(stderr, "exporter-bench: warm-up scrape or status failed\n");
            return 1;
        }
    for (int i = 0; i < runs; i++) {
        if (i % 2 == 0) {
            t_scrape[i] = ep_scrape(&bytes);
            t_status[i] = ep_run(st_argv);
        } else {
            t_status[i] = ep_run(st_argv);
            t_scrape[i] = ep_scrape(&bytes);
        }
        if (t_scrape[i] < 0 || t_status[i] < 0) {
            fprintf(stderr, "exporter-bench: a scrape or status run failed\n");
            return 1;
        }
    }
    {
        double ms_sc = ep_bench_percentile(t_scrape, (size_t)runs, 0.5) * 1e3, p99_sc = ep_bench_percentile(t_scrape, (size_t)runs, 0.99) * 1e3;
        double ms_st = ep_bench_percentile(t_status, (size_t)runs, 0.5) * 1e3, p99_st = ep_bench_percentile(t_status, (size_t)runs, 0.99) * 1e3;
        if (json) {
            ep_bench_emit(json_pack("{s:s, s:s, s:i, s:i, s:f, s:f, s:I}", "bench", "exporter",
                                    "tool", "exporter scrape /metrics", "sockets", (int)nsock,
                                    "runs", runs, "median_ms", ms_sc, "p99_ms", p99_sc, "bytes",
                                    (json_int_t)bytes));
            ep_bench_emit(json_pack("{s:s, s:s, s:i, s:i, s:f, s:f}", "bench", "exporter", "tool",
                                    "ephport status --json", "sockets", (int)nsock, "runs", runs,
                                    "median_ms", ms_st, "p99_ms", p99_st));
            ep_bench_emit(json_pack("{s:s, s:f}", "bench", "exporter-ratio",
                                    "ratio_status_over_scrape", ms_st / ms_sc));
        } else {
            printf("\n%-26s %8s %10s %10s\n", "what", "sockets", "median ms", "p99 ms");
            printf("%-26s %8ld %10.2f %10.2f   (%zu bytes)\n", "exporter scrape /metrics",
                   nsock, ms_sc, p99_sc, bytes);
            printf("%-26s %8ld %10.2f %10.2f\n", "ephport status --json", nsock, ms_st,
                   p99_st);
            printf("\nratio (status median / scrape median): %.2fx  (%d runs each, "
                   "alternating, 2 warm-up)\n", ms_st / ms_sc, runs);
        }
    }

    /* Memory: the TIME_WAIT sockets expire within 60 s; what is measured is
     * growth across scrapes with the held connections. */
    while (ep_scrapes_done < scrapes)
        if ((s = ep_scrape(NULL)) < 0) {
            fprintf(stderr, "exporter-bench: scrape %ld failed\n", ep_scrapes_done);
            return 1;
        }
    rss10 = ep_rss_at_10;
    rssN = ep_rss_kib(exporter);
    if (json)
        ep_bench_emit(json_pack("{s:s, s:i, s:i, s:i, s:f}", "bench", "exporter-memory",
                                "exporter_rss_kib_after_10", (int)rss10,
                                "exporter_rss_kib_after", (int)rssN, "scrapes", (int)scrapes,
                                "ratio", (double)rssN / (double)rss10));
    else
        printf("\nexporter RSS: %ld KiB after 10 scrapes, %ld KiB after %ld (ratio %.3f)\n",
               rss10, rssN, scrapes, (double)rssN / (double)rss10);
    kill(exporter, SIGTERM);
    waitpid(exporter, NULL, 0);
    free(t_scrape);
    free(t_status);
    return 0;
}
