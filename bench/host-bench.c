/* host-bench.c - `ephport status --json` against `ss -tan` on 100,000 TCP
 * sockets.
 *
 * In a private network namespace (needs root or CAP_SYS_ADMIN) it widens the
 * range to 1024-65535, opens listeners on a few destinations and makes
 * --sockets client sockets: most enter TIME_WAIT by active close (no file
 * descriptor held), --established stay open.  Then it runs the commands
 * alternately (warm-up first, the first of each round rotated), reporting
 * median and p99 wall time of each, the ratio ss / status, and the peak RSS
 * of each (getrusage of the child).  ss only lists the sockets (output to
 * /dev/null); status also reads the settings and counters, groups, and
 * prints JSON.  With --proc, `status --json --source proc` (the /proc/net
 * fallback, forced) joins the rotation with its floor, `cat` of the four
 * /proc/net files to /dev/null (the kernel's text for every socket, which
 * the fallback cannot avoid); ratios to the netlink run and to the floor.
 *
 *   bench/host-bench [--sockets N] [--established N] [--dests N] [--runs N] [--proc]
 *                    [--json] [--ephport PATH]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
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

/* A whole decimal number, or exit 2 with a message. */
static long ep_arg(const char *opt, const char *text)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < 0) {
        fprintf(stderr, "host-bench: --%s wants a non-negative number, not '%s'\n", opt, text);
        exit(2);
    }
    return v;
}

/* Run argv with stdout to /dev/null; wall seconds, peak RSS in KiB. */
static int ep_run(char *const argv[], double *secs, long *rss_kib)
{
    struct rusage ru;
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
    if (wait4(pid, &st, 0, &ru) < 0)
        return -1;
    *secs = ep_bench_now_s() - t0;
    *rss_kib = ru.ru_maxrss;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "sockets", required_argument, NULL, 's' },
        { "established", required_argument, NULL, 'e' },
        { "dests", required_argument, NULL, 'd' },
        { "runs", required_argument, NULL, 'r' },
        { "ephport", required_argument, NULL, 'b' },
        { "json", no_argument, NULL, 'j' },
        { "proc", no_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long nsock = 100000, established = 1000;
    int ndest = 4, runs = 11, c;
    const char *bin = EP_EPHPORT_BIN;
    bool json = false, with_proc = false;
    int listeners[64];
    struct sockaddr_in addrs[64];
    struct rlimit rl = { 1 << 16, 1 << 16 };
    double t0;

    while ((c = getopt_long(argc, argv, "s:e:d:r:b:jph", opts, NULL)) != -1) {
        switch (c) {
        case 's': nsock = ep_arg("sockets", optarg); break;
        case 'e': established = ep_arg("established", optarg); break;
        case 'd': ndest = (int)(ep_arg("dests", optarg) > 64 ? 65 : ep_arg("dests", optarg)); break;
        case 'r': runs = (int)(ep_arg("runs", optarg) > 1000 ? 1001 : ep_arg("runs", optarg)); break;
        case 'b': bin = optarg; break;
        case 'j': json = true; break;
        case 'p': with_proc = true; break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: host-bench [--sockets N] [--established N] [--dests N] "
                    "[--runs N] [--proc] [--ephport PATH] [--json]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (nsock < 1 || established < 0 || established > nsock || established > 30000 ||
        ndest < 1 || ndest > 64 || runs < 3 || runs > 1000 || nsock > (long)ndest * 60000) {
        fprintf(stderr, "host-bench: need 1 <= --sockets <= 60000 x --dests, --established <= "
                        "min(--sockets, 30000), 1 <= --dests <= 64, 3 <= --runs <= 1000\n");
        return 2;
    }
    ep_bench_print_machine(json, EP_BENCH_BUILDTYPE);
    if (!ep_bench_enter_netns("host-bench"))
        return 1;
    setrlimit(RLIMIT_NOFILE, &rl);
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
            perror("host-bench: listener");
            return 1;
        }
    }
    t0 = ep_bench_now_s();
    if (ep_bench_make_sockets("host-bench", listeners, addrs, ndest, nsock, established) != 0)
        return 1;
    if (!json)
        printf("made %ld client sockets (%ld TIME_WAIT, %ld ESTABLISHED) towards %d "
               "destinations in %.1f s\n", nsock, nsock - established, established, ndest,
               ep_bench_now_s() - t0);

    {
        /* the tools, in the table's order; index 0 is the reference "status" */
        char *st_argv[] = { (char *)bin, "status", "--json", "--top", "10", NULL };
        char *ss_argv[] = { "ss", "-tan", NULL };
        char *pr_argv[] = { (char *)bin, "status", "--json", "--top", "10", "--source", "proc",
                            NULL };
        char *cat_argv[] = { "cat", "/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp",
                             "/proc/net/udp6", NULL };
        struct {
            const char *name;
            char **argv;
            double *t;
            long rss;
        } tool[4] = {
            { "ephport status --json", st_argv, NULL, 0 },
            { "ss -tan", ss_argv, NULL, 0 },
            { "status --source proc", pr_argv, NULL, 0 },
            { "cat /proc/net/* (floor)", cat_argv, NULL, 0 },
        };
        int ntools = with_proc ? 4 : 2;
        double s;
        long r;
        for (int k = 0; k < ntools; k++) {
            tool[k].t = calloc((size_t)runs, sizeof *tool[k].t);
            if (!tool[k].t)
                return 1;
        }
        /* warm-up: page cache, binaries, kernel structures */
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < ntools; k++)
                if (ep_run(tool[k].argv, &s, &r) != 0) {
                    fprintf(stderr, "host-bench: cannot run %s\n", tool[k].name);
                    return 1;
                }
        /* alternate, and rotate who goes first each round */
        for (int i = 0; i < runs; i++)
            for (int j = 0; j < ntools; j++) {
                int k = (i + j) % ntools;
                ep_run(tool[k].argv, &tool[k].t[i], &r);
                tool[k].rss = r > tool[k].rss ? r : tool[k].rss;
            }
        {
            double med[4], p99[4];
            for (int k = 0; k < ntools; k++) {
                med[k] = ep_bench_percentile(tool[k].t, (size_t)runs, 0.5) * 1e3;
                p99[k] = ep_bench_percentile(tool[k].t, (size_t)runs, 0.99) * 1e3;
            }
            if (json) {
                for (int k = 0; k < ntools; k++)
                    ep_bench_emit(json_pack("{s:s, s:s, s:i, s:i, s:f, s:f, s:i}", "bench", "host",
                                            "tool", k == 2   ? "ephport status --json --source proc"
                                                    : k == 3 ? "cat /proc/net/{tcp,tcp6,udp,udp6}"
                                                             : tool[k].name,
                                            "sockets", (int)nsock, "runs", runs, "median_ms",
                                            med[k], "p99_ms", p99[k], "peak_rss_kib",
                                            (int)tool[k].rss));
                ep_bench_emit(json_pack("{s:s, s:f}", "bench", "host-ratio",
                                        "ratio_ss_over_status", med[1] / med[0]));
                if (with_proc)
                    ep_bench_emit(json_pack("{s:s, s:f, s:f}", "bench", "host-ratio",
                                            "ratio_proc_over_netlink", med[2] / med[0],
                                            "ratio_proc_over_floor", med[2] / med[3]));
            } else {
                printf("\n%-24s %8s %10s %10s %14s\n", "tool", "sockets", "median ms", "p99 ms",
                       "peak RSS KiB");
                for (int k = 0; k < ntools; k++)
                    printf("%-24s %8ld %10.2f %10.2f %14ld\n", tool[k].name, nsock, med[k], p99[k],
                           tool[k].rss);
                printf("\nratio (ss median / status median): %.2fx  (%d runs each, alternating, "
                       "2 warm-up)\n", med[1] / med[0], runs);
                if (with_proc)
                    printf("ratio (status --source proc median / status median): %.2fx, "
                           "to its floor (cat): %.2fx\n", med[2] / med[0], med[2] / med[3]);
            }
        }
        for (int k = 0; k < ntools; k++)
            free(tool[k].t);
    }
    return 0;
}
