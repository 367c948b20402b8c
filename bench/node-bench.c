/* node-bench.c - a whole node at once: `ephport status --all-namespaces`'s
 * reading (ep_host_node_take) over many network namespaces.
 *
 * Forks --namespaces children (needs root), each in a network namespace of
 * its own with one local listener and --sockets connections to it on the
 * range 1024-65535 (--established of them kept open, the rest in TIME_WAIT:
 * each child holds --sockets sockets in the range).  Then times
 * ep_host_node_take over the whole host with each way of knowing sticky
 * ports - the BPF iterator (default), TCP_REPAIR probes, none (bounds) -
 * and of finding bound-only TCP sockets - one BPF pass over every open file
 * (default), or the sock_diag state TCP_BOUND_INACTIVE in every namespace's
 * dump ("-dump13" modes; "probes" uses no BPF at all, so asks the dumps
 * too) - and of reading the host-wide TCP established hash - one BPF walk
 * for every namespace (default) or each namespace's dump ("-nowalk") -
 * each --runs times in rotation, median and worst wall time, and the peak
 * RSS of a forked reader per mode (so memory is what one reading took, not
 * the benchmark's own).  The target (issue 13): 200 namespaces of 500
 * sockets under 1 s, memory following destinations, not sockets.
 *
 * Why the hash matters: the kernel's sock_diag dump of one namespace walks
 * the host-wide TCP established hash (and UDP's), skipping the sockets of
 * other namespaces, so reading N namespaces costs N walks over every socket
 * of the host.  With --child-hash B the benchmark first moves into a private
 * namespace of its own and sets net.ipv4.tcp_child_ehash_entries and
 * udp_child_hash_entries to B there, so every child namespace gets hash
 * tables of its own (Linux 6.1+ / 6.2+): each walk covers one namespace.
 *
 *   bench/node-bench [--namespaces N] [--sockets N] [--established N] [--runs N]
 *                    [--child-hash B] [--mode M] [--json]
 *
 * --mode M runs one mode only (bpf, bpf-dump13, probes, none, none-dump13,
 * bpf-nowalk, none-nowalk):
 * for `perf record` of one way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ephport/node.h>

#include "bench-util.h"
#include "sockfill.h"

#ifndef EP_BENCH_BUILDTYPE
#define EP_BENCH_BUILDTYPE "unknown"
#endif

static long ep_arg(const char *opt, const char *text, long max)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < 1 || v > max) {
        fprintf(stderr, "node-bench: --%s wants a number 1..%ld, not '%s'\n", opt, max, text);
        exit(2);
    }
    return v;
}

/* A child: its own namespace, its sockets, then a byte on `ready` and sleep
 * until killed. */
static void ep_child(int ready, long nsock, long established)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    struct rlimit rl = { 4096, 4096 };
    int l, one = 1;
    char ok = 'k';

    setrlimit(RLIMIT_NOFILE, &rl);
    if (!ep_bench_enter_netns("node-bench"))
        _exit(1);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4096) != 0)
        _exit(1);
    if (ep_bench_make_sockets("node-bench", &l, &a, 1, nsock, established) != 0)
        _exit(1);
    if (write(ready, &ok, 1) != 1)
        _exit(1);
    for (;;)
        pause();
}

/* Sticky ports by BPF, by probes (no BPF at all: no bound pass or walk
 * either) or not at all (bounds); "-dump13": the bound-only TCP sockets
 * asked of every namespace's dump (TCP_BOUND_INACTIVE) instead of the one
 * BPF pass; "-nowalk": every namespace's dump walks the host-wide TCP
 * established hash instead of the one BPF walk of it. */
#define EP_NMODES 7
static const char *const ep_mode_names[EP_NMODES] = { "bpf",         "bpf-dump13", "probes",
                                                      "none",        "none-dump13", "bpf-nowalk",
                                                      "none-nowalk" };
static const unsigned ep_mode_flags[EP_NMODES] = {
    0, EP_HOST_NO_BOUND_PASS, EP_HOST_NO_BPF, EP_HOST_NO_PROBE,
    EP_HOST_NO_PROBE | EP_HOST_NO_BOUND_PASS, EP_HOST_NO_EHASH_WALK,
    EP_HOST_NO_PROBE | EP_HOST_NO_EHASH_WALK,
};

/* One reading in a forked child: wall seconds, peak RSS, namespaces read. */
static int ep_read_once(int mode, double *secs, long *rss_kib, size_t *nread, size_t *ndest)
{
    int pfd[2], st;
    struct rusage ru;
    struct { double secs; size_t n, un, nd; } r;
    pid_t pid;

    if (pipe(pfd) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        ep_host_node_options o;
        ep_host_node *node;
        double t0 = ep_bench_now_s();
        size_t nd;
        ep_host_node_options_init(&o);
        o.host.flags = ep_mode_flags[mode];
        o.host.top = 10;
        if (ep_host_node_take(&o, &node) != 0)
            _exit(1);
        ep_host_node_dests(node, &nd, NULL);
        r.secs = ep_bench_now_s() - t0;
        {
            size_t nn;
            const char *const *notes = ep_host_node_notes(node, &nn);
            if (nn && !(o.host.flags &
                        (EP_HOST_NO_BOUND_PASS | EP_HOST_NO_BPF | EP_HOST_NO_EHASH_WALK)))
                fprintf(stderr, "node-bench: %s: %s\n", ep_mode_names[mode], notes[0]);
        }
        r.n = ep_host_node_count(node);
        r.un = ep_host_node_unreadable(node);
        r.nd = nd;
        ep_host_node_free(node);
        _exit(write(pfd[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
    }
    close(pfd[1]);
    if (read(pfd[0], &r, sizeof r) != (ssize_t)sizeof r)
        r.secs = -1;
    close(pfd[0]);
    if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || r.secs < 0)
        return -1;
    *secs = r.secs;
    *rss_kib = ru.ru_maxrss;
    *nread = r.n - r.un;
    *ndest = r.nd;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "namespaces", required_argument, NULL, 'n' },
        { "sockets", required_argument, NULL, 's' },
        { "established", required_argument, NULL, 'e' },
        { "runs", required_argument, NULL, 'r' },
        { "child-hash", required_argument, NULL, 'H' },
        { "mode", required_argument, NULL, 'm' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long nns = 200, nsock = 500, established = 100, runs = 5, child_hash = 0;
    bool json = false;
    int ready[2], c, rc = 0, only = -1;
    pid_t *kids;
    double *t[EP_NMODES];
    long rss[EP_NMODES] = { 0 };
    size_t nread = 0, ndest = 0;

    while ((c = getopt_long(argc, argv, "n:s:e:r:H:m:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': nns = ep_arg("namespaces", optarg, 2000); break;
        case 's': nsock = ep_arg("sockets", optarg, 30000); break;
        case 'e': established = ep_arg("established", optarg, 1000); break;
        case 'r': runs = ep_arg("runs", optarg, 1000); break;
        case 'H': child_hash = ep_arg("child-hash", optarg, 1 << 20); break;
        case 'j': json = true; break;
        case 'm':
            for (int m = 0; m < EP_NMODES; m++)
                if (strcmp(optarg, ep_mode_names[m]) == 0)
                    only = m;
            if (only < 0) {
                fprintf(stderr, "node-bench: --mode is one of bpf, bpf-dump13, probes, none, "
                                "none-dump13, bpf-nowalk, none-nowalk, not '%s'\n", optarg);
                return 2;
            }
            break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: node-bench [--namespaces N] [--sockets N] [--established N] "
                    "[--runs N] [--child-hash B] [--mode M] [--json]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (established > nsock) {
        fprintf(stderr, "node-bench: --established must not exceed --sockets\n");
        return 2;
    }
    ep_bench_print_machine(json, EP_BENCH_BUILDTYPE);
    if (child_hash) {
        char v[32];
        snprintf(v, sizeof v, "%ld", child_hash);
        if (!ep_bench_enter_netns("node-bench") ||
            ep_bench_sysctl("net/ipv4/tcp_child_ehash_entries", v) != 0 ||
            ep_bench_sysctl("net/ipv4/udp_child_hash_entries", v) != 0) {
            fprintf(stderr, "node-bench: cannot give child namespaces hash tables of their own "
                            "(root, Linux 6.2+)\n");
            return 1;
        }
    }
    kids = calloc((size_t)nns, sizeof *kids);
    for (int m = 0; m < EP_NMODES; m++)
        t[m] = calloc((size_t)runs, sizeof *t[m]);
    for (int m = 0; m < EP_NMODES; m++)
        if (!t[m])
            return 1;
    if (!kids || pipe(ready) != 0)
        return 1;
    for (long i = 0; i < nns; i++) {
        char ok;
        kids[i] = fork();
        if (kids[i] < 0) {
            perror("node-bench: fork");
            rc = 1;
            goto out;
        }
        if (kids[i] == 0)
            ep_child(ready[1], nsock, established);
        if (read(ready[0], &ok, 1) != 1) {
            fprintf(stderr, "node-bench: namespace %ld could not be set up (root?)\n", i);
            rc = 1;
            goto out;
        }
    }
    for (long r = 0; r < runs; r++) {
        for (int k = 0; k < EP_NMODES; k++) {
            int m = (int)((r + k) % EP_NMODES); /* rotate which mode goes first */
            long kib;
            if (only >= 0 && m != only)
                continue;
            if (ep_read_once(m, &t[m][r], &kib, &nread, &ndest) != 0) {
                fprintf(stderr, "node-bench: reading the node failed (%s)\n", ep_mode_names[m]);
                rc = 1;
                goto out;
            }
            if (kib > rss[m])
                rss[m] = kib;
        }
    }
    if (!json)
        printf("%ld namespaces x %ld sockets (%ld established), %s socket hash, %zu namespaces "
               "read, %zu destinations kept (top 10), %ld runs\n\n%-11s %10s %10s %10s\n",
               nns, nsock, established, child_hash ? "per-namespace" : "host-wide", nread, ndest,
               runs, "mode", "median s", "max s", "RSS MiB");
    for (int m = 0; m < EP_NMODES; m++) {
        double med, max;
        if (only >= 0 && m != only)
            continue;
        qsort(t[m], (size_t)runs, sizeof *t[m], ep_bench_cmp_double);
        med = ep_bench_percentile(t[m], (size_t)runs, 0.5);
        max = t[m][runs - 1];
        if (json)
            ep_bench_emit(json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:f}", "bench", "node",
                                    "sticky", ep_mode_names[m], "namespaces", (int)nns,
                                    "sockets", (int)nsock, "child_hash", (int)child_hash,
                                    "runs", (int)runs, "median_s", med,
                                    "max_s", max, "rss_mib", (double)rss[m] / 1024));
        else
            printf("%-11s %10.3f %10.3f %10.1f\n", ep_mode_names[m], med, max,
                   (double)rss[m] / 1024);
    }
out:
    for (long i = 0; i < nns; i++)
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
        }
    return rc;
}
