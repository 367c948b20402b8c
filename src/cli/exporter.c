/* exporter.c - `ephport exporter`: serve the host's ephemeral port metrics
 * to Prometheus until SIGINT or SIGTERM.  Options and lifecycle only; the
 * server is src/exporter/server.c, the text src/exporter/metrics.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <ephport/error.h>

#include "cli.h"
#include "listen.h"
#include "server.h"

#define EP_EXPORTER_TOP 20
#define EP_EXPORTER_MIN_COUNT 5

static void ep_exporter_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport exporter [--listen ADDR:PORT] [--netns NAME|PATH | --all-namespaces]\n"
            "                        [--top N]\n"
            "                        [--min-count N] [--max-connections N] [--timeout SECONDS]\n"
            "                        [--trace] [--snat]\n"
            "\n"
            "Serve Prometheus metrics about ephemeral ports at http://ADDR:PORT/metrics,\n"
            "read fresh from the host at each scrape (a failed read answers 500).\n"
            "\n"
            "  -l, --listen ADDR:PORT     127.0.0.1:9808, [::1]:9808 or :9808 for every\n"
            "                             address (default %s)\n"
            "  -N, --netns NAME|PATH      read this network namespace (/run/netns/NAME or\n"
            "                             a path such as /proc/PID/ns/net; needs CAP_SYS_ADMIN)\n"
            "  -A, --all-namespaces       every network namespace of the host (containers,\n"
            "                             pods): series labelled netns, namespace, container,\n"
            "                             pod; --top bounds the destinations of the whole node\n"
            "  -t, --top N                export at most N destinations, most pressure first\n"
            "                             (default %d, at most 10000)\n"
            "  -m, --min-count N          ... holding at least N sockets (default %d)\n"
            "  -c, --max-connections N    concurrent HTTP connections (default 256)\n"
            "  -T, --timeout SECONDS      close idle or slow connections after this (default 10)\n"
            "      --trace                add connect attempts and failures per destination,\n"
            "                             counted by eBPF (ephport_connect_attempts_total,\n"
            "                             ephport_connect_failures_total{reason}); same --top\n"
            "                             and --min-count (attempts) bound; needs root\n"
            "      --snat                 add the SNAT units of the conntrack table (the\n"
            "                             namespace's NAT: used, free, range per translated\n"
            "                             address and destination; insert_failed and drops)\n"
            "                             as `ephport snat` reads them; needs CAP_NET_ADMIN\n"
            "  -h, --help                 this text\n"
            "\n"
            "Example, one exporter for a container (PID of a process in it):\n"
            "  ephport exporter --netns /proc/PID/ns/net --listen 127.0.0.1:9809\n"
            "Every container and pod of the node from one exporter:\n"
            "  ephport exporter --all-namespaces\n"
            "The metrics and their labels are listed in ephport-exporter(1).\n"
            "\n"
            "Exit status: 0 after SIGINT/SIGTERM, 1 cannot start (address in use, namespace\n"
            "not found), 2 bad command line.\n",
            EP_LISTEN_DEFAULT, EP_EXPORTER_TOP, EP_EXPORTER_MIN_COUNT);
}

int ep_cmd_exporter(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "netns", required_argument, NULL, 'N' },
        { "all-namespaces", no_argument, NULL, 'A' },
        { "top", required_argument, NULL, 't' },
        { "min-count", required_argument, NULL, 'm' },
        { "max-connections", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, 'T' },
        { "trace", no_argument, NULL, 'R' },
        { "snat", no_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    ep_exporter_config cfg;
    const char *listen_text = EP_LISTEN_DEFAULT;
    ep_exporter *e;
    unsigned long v;
    char why[512], addr[80];
    sigset_t sigs;
    int c, rc, sig;

    memset(&cfg, 0, sizeof cfg);
    cfg.top = EP_EXPORTER_TOP;
    cfg.min_count = EP_EXPORTER_MIN_COUNT;
    while ((c = getopt_long(argc, argv, "l:N:At:m:c:T:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen_text = optarg;
            break;
        case 'N':
            if (!*optarg) {
                ep_cli_error("exporter", "--netns needs a name or a path");
                return EP_EXIT_USAGE;
            }
            cfg.netns = optarg;
            break;
        case 'A':
            cfg.all_namespaces = true;
            break;
        case 't':
            if (!ep_cli_parse_ulong(optarg, 1, 10000, &v)) {
                ep_cli_error("exporter", "bad --top '%s' (expected 1-10000)", optarg);
                return EP_EXIT_USAGE;
            }
            cfg.top = v;
            break;
        case 'm':
            if (!ep_cli_parse_ulong(optarg, 0, 65535, &v)) {
                ep_cli_error("exporter", "bad --min-count '%s' (expected 0-65535)", optarg);
                return EP_EXIT_USAGE;
            }
            cfg.min_count = (uint32_t)v;
            break;
        case 'c':
            if (!ep_cli_parse_ulong(optarg, 1, 100000, &v)) {
                ep_cli_error("exporter", "bad --max-connections '%s' (expected 1-100000)",
                             optarg);
                return EP_EXIT_USAGE;
            }
            cfg.max_connections = (unsigned)v;
            break;
        case 'T':
            if (!ep_cli_parse_ulong(optarg, 1, 3600, &v)) {
                ep_cli_error("exporter", "bad --timeout '%s' (expected 1-3600 seconds)", optarg);
                return EP_EXIT_USAGE;
            }
            cfg.timeout_s = (unsigned)v;
            break;
        case 'S':
            cfg.snat = true;
            break;
        case 'R':
            cfg.trace = true;
            break;
        case 'h':
            ep_exporter_usage(stdout);
            return EP_EXIT_OK;
        default:
            ep_exporter_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ep_cli_error("exporter", "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    if (cfg.all_namespaces && cfg.netns) {
        ep_cli_error("exporter", "--all-namespaces reads every namespace; leave out --netns");
        return EP_EXIT_USAGE;
    }
    if (ep_listen_parse(listen_text, &cfg.listen, why, sizeof why) != 0) {
        ep_cli_error("exporter", "bad --listen: %s", why);
        return EP_EXIT_USAGE;
    }

    /* Block the stop signals before the server thread starts, so it
     * inherits the mask and only sigwait() below sees them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = ep_exporter_start(&cfg, &e, why, sizeof why);
    if (rc != 0) {
        ep_cli_error("exporter", "%s", why);
        return EP_EXIT_FAILURE;
    }
    if (ep_listen_format(ep_exporter_address(e), addr, sizeof addr) != 0)
        snprintf(addr, sizeof addr, "?");
    fprintf(stderr, "ephport exporter: listening on %s (/metrics)\n", addr);
    fflush(stderr);
    do {
        rc = sigwait(&sigs, &sig);
    } while (rc == EINTR);
    ep_exporter_stop(e);
    return EP_EXIT_OK;
}
