/* top.c - `ephport top`: a live view of a namespace's ephemeral ports per
 * destination, refreshed every interval, with each destination's
 * new-connection rate and the time to exhaustion at that rate.  This file
 * owns the command line, the signals and the batch loop; a frame is sampled
 * in top-sample.c (rates from top-rate.c), written in top-print.c, and drawn
 * on a terminal by top-screen.c.
 *
 * Signals: SIGINT and SIGTERM only set a flag; the loop (blocked in getch()
 * or nanosleep(), both interrupted) sees it, ends curses and returns, so the
 * terminal is restored on every way out.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "top.h"

volatile sig_atomic_t ep_top_stop;

static void ep_top_on_signal(int sig)
{
    (void)sig;
    ep_top_stop = 1;
}

static void ep_top_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport top [--interval SEC] [--netns NAME|PATH | --all-namespaces] [--top N]\n"
            "                   [--sort pressure|rate|exhaustion|time-wait]\n"
            "                   [--once | --batch [--iterations N]] [--json] [--help]\n"
            "       ephport top --snat [--netns NAME|PATH] [--interval SEC] [--top N] ...\n"
            "\n"
            "A live view of ephemeral ports per destination: used, TIME_WAIT, free,\n"
            "headroom, new connections per second (counted between samples) and the\n"
            "time until the destination runs out of ports at that rate.\n"
            "\n"
            "  --interval SEC   seconds between samples, 0.25 to 60 (default 1)\n"
            "  --netns NAME|PATH  read the namespace /run/netns/NAME or at PATH\n"
            "  -A, --all-namespaces  every network namespace of the host (containers,\n"
            "                   pods): one table, a NAMESPACE column first; the header's\n"
            "                   per-namespace settings are in ephport status -A\n"
            "  --top N          show at most N destinations, 0 = all (default: what\n"
            "                   fits; 20 in batch mode)\n"
            "  --sort KEY       initial order (default pressure)\n"
            "  --batch          plain frames on stdout (the default when stdout is not\n"
            "                   a terminal); the first frame comes after one interval\n"
            "  --iterations N   with --batch: stop after N frames\n"
            "  --once           the same as --batch --iterations 1\n"
            "  --json           with batch frames: one JSON object per line\n"
            "  --snat           source NAT instead: the conntrack table's units (NAT\n"
            "                   address, destination, protocol), see below\n"
            "  --help           this text\n"
            "\n"
            "Columns:\n"
            "  PROTO, LOCAL, REMOTE  the destination: protocol, local address, remote\n"
            "                   address:port (the unit that runs out of ports)\n"
            "  USED             its sockets on ports of the range, any state\n"
            "  TW               of USED, in TIME_WAIT\n"
            "  FREE             connect()s towards it that would succeed now (then\n"
            "                   EADDRNOTAVAIL \"Cannot assign requested address\";\n"
            "                   UDP: EAGAIN \"Resource temporarily unavailable\")\n"
            "  HEAD%%            FREE / effective ports\n"
            "  NEW/s            new connections per second since the last sample\n"
            "  EXHAUSTED IN     time until FREE reaches 0 at that rate (TIME_WAIT\n"
            "                   expiry counted), or never\n"
            "\n"
            "Columns with --snat (a NAT box: masquerade, snat; see ephport snat --help):\n"
            "  NAT ADDRESS, DESTINATION, PROTO  the unit: each flow in it needs its own\n"
            "                   port of the NAT rule's range\n"
            "  USED, FREE, PORTS  ports of the range held, left, and in all\n"
            "  HEAD%%            FREE / PORTS\n"
            "  CLOSING          of USED: TCP entries in TIME_WAIT or CLOSE\n"
            "  GROWTH/s         net change of USED per second since the last sample\n"
            "  EXHAUSTED IN     time until FREE reaches 0 at that growth, or never\n"
            "  RANGE            the range compared with, and where it comes from\n"
            "  The header adds the conntrack count and limit, and per second the\n"
            "  statistics that count refused flows (insert_failed, drop) and others.\n"
            "\n"
            "Example, inside a container (PID of a process in it):\n"
            "  ephport top --netns /proc/PID/ns/net\n"
            "\n"
            "Keys on a terminal: q quits, s changes the order, + and - change the\n"
            "interval.  SIGINT and SIGTERM end it like q.\n"
            "Exit codes: 0 success, 1 the host could not be read, 2 bad command line.\n");
}

static bool ep_top_parse_interval(const char *text, double *out)
{
    char *end;
    double v;
    if (!text || !*text)
        return false;
    errno = 0;
    v = strtod(text, &end);
    if (errno || *end != '\0' || !isfinite(v) || v < 0.25 || v > 60.0)
        return false;
    *out = v;
    return true;
}

static int ep_top_parse(int argc, char **argv, struct ep_top_opts *o)
{
    static const struct option opts[] = {
        { "interval", required_argument, NULL, 'i' },
        { "netns", required_argument, NULL, 'N' },
        { "all-namespaces", no_argument, NULL, 'A' },
        { "top", required_argument, NULL, 't' },
        { "sort", required_argument, NULL, 's' },
        { "once", no_argument, NULL, '1' },
        { "batch", no_argument, NULL, 'b' },
        { "iterations", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "snat", no_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned long v;
    bool once = false;
    int c;

    memset(o, 0, sizeof *o);
    o->interval = 1.0;
    while ((c = getopt_long(argc, argv, "i:N:At:s:1bn:jSh", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (!ep_top_parse_interval(optarg, &o->interval)) {
                ep_cli_error("top", "--interval '%s': expected seconds from 0.25 to 60", optarg);
                return EP_EXIT_USAGE;
            }
            break;
        case 'A':
            o->all = true;
            break;
        case 'N':
            o->netns = optarg;
            break;
        case 't':
            if (!ep_cli_parse_ulong(optarg, 0, 1000000, &v)) {
                ep_cli_error("top", "--top '%s': expected a count 0..1000000 (0 = all)",
                             optarg);
                return EP_EXIT_USAGE;
            }
            o->top = v ? v : SIZE_MAX; /* 0 = all, as in status */
            break;
        case 's': {
            int k;
            for (k = 0; k < EP_TOP_NSORT; k++)
                if (strcmp(optarg, ep_top_sort_names[k]) == 0)
                    break;
            if (k == EP_TOP_NSORT) {
                ep_cli_error("top", "--sort '%s': expected pressure, rate, exhaustion or "
                                    "time-wait", optarg);
                return EP_EXIT_USAGE;
            }
            o->sort = (enum ep_top_sort)k;
            break;
        }
        case '1':
            once = true;
            break;
        case 'b':
            o->batch = true;
            break;
        case 'n':
            if (!ep_cli_parse_ulong(optarg, 1, 1000000000, &v)) {
                ep_cli_error("top", "--iterations '%s': expected a number from 1", optarg);
                return EP_EXIT_USAGE;
            }
            o->iterations = (long)v;
            break;
        case 'j':
            o->json = true;
            break;
        case 'S':
            o->snat = true;
            break;
        case 'h':
            ep_top_usage(stdout);
            return -1;
        default:
            ep_top_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ep_cli_error("top", "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    if (o->all && o->snat) {
        ep_cli_error("top", "--snat reads one namespace's conntrack table (a NAT box); leave "
                            "out --all-namespaces, use --netns for another namespace");
        return EP_EXIT_USAGE;
    }
    if (o->all && o->netns) {
        ep_cli_error("top", "--all-namespaces reads every namespace; leave out --netns");
        return EP_EXIT_USAGE;
    }
    if (once && o->iterations > 1) {
        ep_cli_error("top", "--once and --iterations %ld contradict each other", o->iterations);
        return EP_EXIT_USAGE;
    }
    if (once)
        o->iterations = 1;
    /* A terminal without cursor addressing cannot show a refreshing view. */
    const char *term = getenv("TERM");
    if (once || o->json || o->iterations || !isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO) ||
        !term || !*term || strcmp(term, "dumb") == 0)
        o->batch = true;
    return 0;
}

void ep_top_sleep_until(double deadline)
{
    double left = deadline - ep_top_now();
    struct timespec ts;
    if (left <= 0 || ep_top_stop)
        return;
    ts.tv_sec = (time_t)left;
    ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL); /* EINTR on SIGINT/SIGTERM: the caller checks the flag */
}

static int ep_top_run_batch(struct ep_top_state *st)
{
    size_t top = st->o.top ? st->o.top : 20;
    double next;
    long frames = 0;
    int rc = ep_top_sample(st);

    if (rc < 0)
        goto fail;
    next = st->start;
    while (!ep_top_stop) {
        next += st->o.interval;
        ep_top_sleep_until(next);
        if (ep_top_stop)
            break;
        rc = ep_top_sample(st);
        if (rc < 0)
            goto fail;
        size_t nshow = st->nrows < top ? st->nrows : top;
        rc = st->o.json ? ep_top_print_json(st, nshow) : ep_top_print_text(st, nshow);
        if (rc != EP_EXIT_OK) {
            ep_cli_error("top", "cannot write output");
            return EP_EXIT_FAILURE;
        }
        if (st->o.iterations && ++frames >= st->o.iterations)
            break;
    }
    return EP_EXIT_OK;
fail:
    ep_top_read_error(st, rc);
    return EP_EXIT_FAILURE;
}

int ep_cmd_top(int argc, char **argv)
{
    struct ep_top_state st;
    struct sigaction sa, old_int, old_term;
    int rc;

    memset(&st, 0, sizeof st);
    rc = ep_top_parse(argc, argv, &st.o);
    if (rc != 0)
        return rc < 0 ? EP_EXIT_OK : rc;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ep_top_on_signal; /* no SA_RESTART: interrupt sleeps and getch() */
    sigemptyset(&sa.sa_mask);
    ep_top_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    if (st.o.snat) {
        rc = ep_top_snat_run(&st.o);
    } else {
        ep_top_trace_open(&st);
        rc = st.o.batch ? ep_top_run_batch(&st) : ep_top_run_screen(&st);
    }

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    ep_top_state_free(&st);
    return rc;
}
