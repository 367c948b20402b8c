/* trace.c - `ephport trace`: who fails to get a port, towards where, as it
 * happens.  Options and rendering only: the tracer (eBPF programs, their
 * events and per-destination counts) is libephport's, include/ephport/trace.h.
 *
 * Human output on a terminal: a view refreshed in place (trace-screen.c),
 * the table of destinations of the last interval and the latest failures.
 * To a pipe or a file, or with --scroll: a log, one line per failure as it
 * arrives, at most EP_TRACE_LINES_PER_INTERVAL per interval (the rest
 * folded into a count), and at every interval a table of the destinations
 * that moved.  --json:
 * one object per line, failures and interval summaries (schema in
 * doc/ephport-trace.1.scd).  When BPF is unusable the command says why once
 * and exits with EP_TRACE_EXIT_UNAVAILABLE. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ephport/trace.h>

#include "cli.h"
#include "trace.h"

/* Exit code when the kernel cannot be traced (no BPF, no BTF, no
 * privilege, a locked-down kernel); documented in ephport-trace(1). */
#define EP_TRACE_EXIT_UNAVAILABLE 3
#define EP_TRACE_LINES_PER_INTERVAL 20
#define EP_TRACE_TABLE_ROWS 20

struct ep_trace_cli {
    const char *netns, *cgroup;
    int pid;
    bool json, scroll;
    ep_trace_screen *screen; /* the refreshing view, or NULL: the log */
    double duration;   /* 0: until interrupted */
    double interval;
    unsigned lines;    /* failure lines printed this interval */
    uint64_t folded;   /* failure lines not printed this interval */
    uint64_t failures; /* events this interval */
    bool write_error;
};

static volatile sig_atomic_t ep_trace_stop;

static void ep_trace_on_signal(int sig)
{
    (void)sig;
    ep_trace_stop = 1;
}

static void ep_trace_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport trace [--netns NAME|PATH] [--json] [--duration SEC]\n"
            "                     [--interval SEC] [--pid PID] [--cgroup PATH]\n"
            "\n"
            "Watch the kernel (eBPF on tracepoints) for connect(), bind() and autobinding\n"
            "sendto()/sendmsg() calls that fail with EADDRNOTAVAIL (Cannot assign requested\n"
            "address), EAGAIN (Resource temporarily unavailable: UDP ports exhausted) or\n"
            "EADDRINUSE (Address already in use): one line per failure (who, where, which\n"
            "errno) and per interval a table of destinations with their connect attempts,\n"
            "successes, failures by errno and new TIME_WAIT entries.  Needs root (CAP_BPF\n"
            "and CAP_PERFMON); exit status 3 when the kernel cannot be traced.\n"
            "\n"
            "  -n, --netns NAME|PATH  only this network namespace (default: every one)\n"
            "  -j, --json             one JSON object per line (see ephport-trace(1))\n"
            "  -d, --duration SEC     stop after SEC seconds (default: at Ctrl-C)\n"
            "  -i, --interval SEC     seconds per summary, 0.1 to 3600 (default 1)\n"
            "  -p, --pid PID          only this process's calls\n"
            "  -c, --cgroup PATH      only processes in this cgroup v2 or below it\n"
            "  -s, --scroll           on a terminal too, the line log instead of the view\n"
            "                         refreshed in place (a pipe or a file always gets it)\n"
            "  -h, --help             this text\n"
            "\n"
            "On a terminal the view shows the last interval's destinations and, below,\n"
            "the latest failures (q quits).  Columns of the destination table:\n"
            "  NETNS          network namespace inode of the calling socket\n"
            "  PROTO          tcp or udp\n"
            "  LOCAL          the address the port was taken on (* : any)\n"
            "  REMOTE         destination address:port\n"
            "  ATTEMPTS       connect() calls, and sendto()/sendmsg() that autobind\n"
            "  OK             attempts that got a port (returned 0 or EINPROGRESS)\n"
            "  EADDRNOTAVAIL  Cannot assign requested address: no local port free\n"
            "  EAGAIN         Resource temporarily unavailable: UDP autobind found no port\n"
            "  EADDRINUSE     Address already in use\n"
            "  OTHER          attempts that failed with any other errno\n"
            "  TIME_WAIT      connections towards it that entered TIME_WAIT\n"
            "A failure line: time, call, protocol, pid (command), cgroup, netns: local ->\n"
            "remote: errno (its message).\n");
}

static bool ep_trace_parse_seconds(const char *text, double min, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int ep_trace_parse(int argc, char **argv, struct ep_trace_cli *o)
{
    static const struct option opts[] = {
        { "netns", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "duration", required_argument, NULL, 'd' },
        { "interval", required_argument, NULL, 'i' },
        { "pid", required_argument, NULL, 'p' },
        { "cgroup", required_argument, NULL, 'c' },
        { "scroll", no_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned long v;
    int c;

    memset(o, 0, sizeof *o);
    o->interval = 1.0;
    while ((c = getopt_long(argc, argv, "n:jd:i:p:c:sh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            o->netns = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'd':
            if (!ep_trace_parse_seconds(optarg, 0.001, 31536000, &o->duration)) {
                ep_cli_error("trace", "--duration '%s': expected seconds, more than 0", optarg);
                return EP_EXIT_USAGE;
            }
            break;
        case 'i':
            if (!ep_trace_parse_seconds(optarg, 0.1, 3600, &o->interval)) {
                ep_cli_error("trace", "--interval '%s': expected seconds from 0.1 to 3600",
                             optarg);
                return EP_EXIT_USAGE;
            }
            break;
        case 'p':
            if (!ep_cli_parse_ulong(optarg, 1, 4194304, &v)) {
                ep_cli_error("trace", "--pid '%s': expected a process id 1..4194304", optarg);
                return EP_EXIT_USAGE;
            }
            o->pid = (int)v;
            break;
        case 'c':
            o->cgroup = optarg;
            break;
        case 's':
            o->scroll = true;
            break;
        case 'h':
            ep_trace_usage(stdout);
            return -1;
        default:
            ep_trace_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ep_cli_error("trace", "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    return 0;
}

const char *ep_trace_errno_name(int err)
{
    switch (err) {
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAGAIN: return "EAGAIN";
    case EADDRINUSE: return "EADDRINUSE";
    }
    return "UNKNOWN";
}

static const char *ep_trace_proto(int proto)
{
    return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

/* RFC 3339 UTC with microseconds. */
static void ep_trace_time(int64_t ns, char *buf, size_t len)
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    char base[64];

    gmtime_r(&s, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06" PRId64 "Z", base, (ns % 1000000000) / 1000);
}

static json_t *ep_trace_addr_json(bool has, const ep_addr *a)
{
    char text[EP_ADDR_STRLEN];
    if (!has || ep_addr_format(a, text, sizeof text) != 0)
        return json_null();
    return json_string(text);
}

static void ep_trace_put_json(struct ep_trace_cli *o, json_t *obj)
{
    if (!obj || json_dumpf(obj, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
        fputc('\n', stdout) == EOF || fflush(stdout) != 0)
        o->write_error = true;
    json_decref(obj);
}

static int ep_trace_on_failure(const ep_trace_failure *f, void *arg)
{
    struct ep_trace_cli *o = arg;

    o->failures++;
    if (o->json) {
        char when[96];
        ep_trace_time(f->time_ns, when, sizeof when);
        json_t *j = json_object();
        json_object_set_new(j, "type", json_string("failure"));
        json_object_set_new(j, "time", json_string(when));
        json_object_set_new(j, "pid", json_integer(f->pid));
        json_object_set_new(j, "comm", json_string(f->comm));
        json_object_set_new(j, "cgroup", f->cgroup ? json_string(f->cgroup) : json_null());
        json_object_set_new(j, "netns", json_integer(f->netns));
        json_object_set_new(j, "proto", json_string(ep_trace_proto(f->proto)));
        json_object_set_new(j, "local", ep_trace_addr_json(f->has_local, &f->local));
        json_object_set_new(j, "local_port",
                            f->local_port >= 0 ? json_integer(f->local_port) : json_null());
        json_object_set_new(j, "remote", ep_trace_addr_json(f->has_remote, &f->remote));
        json_object_set_new(j, "remote_port",
                            f->remote_port >= 0 ? json_integer(f->remote_port) : json_null());
        json_object_set_new(j, "errno", json_string(ep_trace_errno_name(f->err)));
        ep_trace_put_json(o, j);
        return 0;
    }
    if (o->screen) {
        ep_trace_screen_failure(o->screen, f);
        return 0;
    }
    if (o->lines >= EP_TRACE_LINES_PER_INTERVAL) {
        o->folded++;
        return 0;
    }
    o->lines++;
    char line[512];
    ep_trace_fmt_failure(f, line, sizeof line);
    if (puts(line) == EOF || fflush(stdout) != 0)
        o->write_error = true;
    return 0;
}

void ep_trace_fmt_failure(const ep_trace_failure *f, char *buf, size_t len)
{
    char when[96], local[EP_ADDR_STRLEN + 8], remote[EP_ADDR_STRLEN + 8];

    ep_trace_time(f->time_ns, when, sizeof when);
    if (f->has_local && ep_addr_format(&f->local, local, sizeof local) == 0) {
        if (f->local_port >= 0)
            snprintf(local + strlen(local), sizeof local - strlen(local), ":%d", f->local_port);
    } else {
        snprintf(local, sizeof local, "*");
    }
    if (!f->has_remote || ep_addr_format(&f->remote, remote, sizeof remote) != 0)
        snprintf(remote, sizeof remote, "-");
    else
        snprintf(remote + strlen(remote), sizeof remote - strlen(remote), ":%d", f->remote_port);
    snprintf(buf, len, "%s %s %s pid %" PRIu32 " (%s) cgroup %s netns %" PRIu32 ": %s -> %s: %s (%s)",
             when + 11, ep_trace_call_name(f->call), ep_trace_proto(f->proto), f->pid, f->comm,
             f->cgroup ? f->cgroup : "unknown", f->netns, local, remote,
             ep_trace_errno_name(f->err), strerror(f->err));
}

void ep_trace_fmt_colhead(char *buf, size_t len)
{
    snprintf(buf, len, "%-10s %-5s %-22s %-28s %9s %9s %13s %7s %10s %6s %9s", "NETNS", "PROTO",
             "LOCAL", "REMOTE", "ATTEMPTS", "OK", "EADDRNOTAVAIL", "EAGAIN", "EADDRINUSE",
             "OTHER", "TIME_WAIT");
}

void ep_trace_fmt_dest(const ep_trace_dest *d, char *buf, size_t len)
{
    char l[EP_ADDR_STRLEN], r[EP_ADDR_STRLEN + 8], tw[24];

    if (ep_addr_format(&d->local, l, sizeof l) != 0)
        snprintf(l, sizeof l, "?");
    if (ep_addr_format(&d->remote, r, sizeof r) != 0)
        snprintf(r, sizeof r, "?");
    snprintf(r + strlen(r), sizeof r - strlen(r), ":%u", d->remote_port);
    if (d->timewait >= 0)
        snprintf(tw, sizeof tw, "%" PRId64, d->timewait);
    else
        snprintf(tw, sizeof tw, "unknown");
    snprintf(buf, len,
             "%-10" PRIu32 " %-5s %-22s %-28s %9" PRIu64 " %9" PRIu64 " %13" PRIu64 " %7" PRIu64
             " %10" PRIu64 " %6" PRIu64 " %9s",
             d->netns, ep_trace_proto(d->proto), l, r, d->attempts, d->successes,
             d->eaddrnotavail, d->eagain, d->eaddrinuse, d->other, tw);
}

static json_t *ep_trace_dest_json(const ep_trace_dest *d)
{
    json_t *j = json_object(), *fail = json_object();
    json_object_set_new(j, "netns", json_integer(d->netns));
    json_object_set_new(j, "proto", json_string(ep_trace_proto(d->proto)));
    json_object_set_new(j, "local", ep_trace_addr_json(true, &d->local));
    json_object_set_new(j, "remote", ep_trace_addr_json(true, &d->remote));
    json_object_set_new(j, "remote_port", json_integer(d->remote_port));
    json_object_set_new(j, "attempts", json_integer((json_int_t)d->attempts));
    json_object_set_new(j, "successes", json_integer((json_int_t)d->successes));
    json_object_set_new(fail, "EADDRNOTAVAIL", json_integer((json_int_t)d->eaddrnotavail));
    json_object_set_new(fail, "EAGAIN", json_integer((json_int_t)d->eagain));
    json_object_set_new(fail, "EADDRINUSE", json_integer((json_int_t)d->eaddrinuse));
    json_object_set_new(fail, "other", json_integer((json_int_t)d->other));
    json_object_set_new(j, "failures", fail);
    json_object_set_new(j, "timewait",
                        d->timewait >= 0 ? json_integer(d->timewait) : json_null());
    return j;
}

static void ep_trace_print_interval(struct ep_trace_cli *o, const ep_trace_interval *iv)
{
    char start[96], end[96];

    ep_trace_time(iv->start_ns, start, sizeof start);
    ep_trace_time(iv->end_ns, end, sizeof end);
    if (o->screen) {
        ep_trace_screen_interval(o->screen, iv);
        ep_trace_screen_draw(o->screen, true);
        return;
    }
    if (o->json) {
        json_t *j = json_object(), *dests = json_array(), *lost = json_object();
        for (size_t i = 0; i < iv->ndests; i++)
            json_array_append_new(dests, ep_trace_dest_json(&iv->dests[i]));
        json_object_set_new(j, "type", json_string("interval"));
        json_object_set_new(j, "start", json_string(start));
        json_object_set_new(j, "end", json_string(end));
        json_object_set_new(j, "failures", json_integer((json_int_t)o->failures));
        json_object_set_new(lost, "events", json_integer((json_int_t)iv->lost_events));
        json_object_set_new(lost, "counts", json_integer((json_int_t)iv->lost_counts));
        json_object_set_new(lost, "calls", json_integer((json_int_t)iv->lost_calls));
        json_object_set_new(j, "lost", lost);
        json_object_set_new(j, "timewait_unknown",
                            iv->timewait_why ? json_string(iv->timewait_why) : json_null());
        json_object_set_new(j, "destinations", dests);
        ep_trace_put_json(o, j);
        return;
    }
    if (o->folded)
        printf("... %" PRIu64 " more failures this interval not shown (at most %d lines per "
               "interval; --json shows all)\n", o->folded, EP_TRACE_LINES_PER_INTERVAL);
    printf("--- %s to %s: %zu destination%s, %" PRIu64 " failure%s", start + 11, end + 11,
           iv->ndests, iv->ndests == 1 ? "" : "s", o->failures, o->failures == 1 ? "" : "s");
    if (iv->lost_events || iv->lost_counts || iv->lost_calls)
        printf("; LOST (fixed kernel buffers full): %" PRIu64 " events, %" PRIu64
               " counts, %" PRIu64 " calls", iv->lost_events, iv->lost_counts, iv->lost_calls);
    printf("\n");
    if (iv->ndests) {
        char line[512];
        ep_trace_fmt_colhead(line, sizeof line);
        puts(line);
        for (size_t i = 0; i < iv->ndests && i < EP_TRACE_TABLE_ROWS; i++) {
            ep_trace_fmt_dest(&iv->dests[i], line, sizeof line);
            puts(line);
        }
        if (iv->ndests > EP_TRACE_TABLE_ROWS)
            printf("(%zu more destinations; --json lists all)\n",
                   iv->ndests - EP_TRACE_TABLE_ROWS);
        if (iv->timewait_why)
            printf("TIME_WAIT unknown: %s\n", iv->timewait_why);
    }
    if (fflush(stdout) != 0)
        o->write_error = true;
}

static double ep_trace_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ep_cmd_trace(int argc, char **argv)
{
    struct ep_trace_cli o;
    ep_trace_opts topts;
    ep_trace *t;
    ep_trace_interval iv;
    struct sigaction sa;
    char why[512];
    double start, next, stop_at;
    int rc;

    rc = ep_trace_parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? EP_EXIT_OK : rc;
    memset(&topts, 0, sizeof topts);
    topts.netns = o.netns;
    topts.pid = o.pid;
    topts.cgroup = o.cgroup;
    rc = ep_trace_open(&topts, &t, why, sizeof why);
    if (rc < 0) {
        ep_cli_error("trace", "cannot trace: %s", why);
        /* Bad --netns or --cgroup is the caller's; everything else the
         * kernel's or the build's. */
        return rc == -ENOENT || rc == -EINVAL || rc == -ENOTDIR || rc == -ENAMETOOLONG
                   ? EP_EXIT_FAILURE
                   : EP_TRACE_EXIT_UNAVAILABLE;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ep_trace_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "ephport trace: tracing connect, bind, sendto, sendmsg in %s (%s); %s\n",
            o.netns ? o.netns : "every network namespace", ep_trace_method(t),
            o.duration > 0 ? "stops after --duration" : "Ctrl-C stops");
    /* The refreshing view needs a terminal that can address its cursor on
     * both sides (keys are read); anything else gets the log. */
    const char *term = getenv("TERM");
    if (!o.json && !o.scroll && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) && term &&
        *term && strcmp(term, "dumb") != 0) {
        o.screen = ep_trace_screen_open(o.netns ? o.netns : "every network namespace",
                                        ep_trace_method(t), o.interval);
        if (!o.screen) {
            ep_trace_close(t);
            return EP_EXIT_FAILURE;
        }
        ep_trace_screen_draw(o.screen, true);
    }
    start = ep_trace_now();
    next = start + o.interval;
    stop_at = o.duration > 0 ? start + o.duration : INFINITY;
    while (!ep_trace_stop && !o.write_error) {
        double now = ep_trace_now(), until = fmin(next, stop_at);
        int wait_ms = until > now ? (int)ceil((until - now) * 1000) : 0;
        rc = ep_trace_poll(t, wait_ms > 100 ? 100 : wait_ms, ep_trace_on_failure, &o);
        if (rc < 0) {
            ep_trace_screen_close(o.screen);
            ep_cli_error("trace", "reading the kernel's events: %s", strerror(-rc));
            ep_trace_close(t);
            return EP_EXIT_FAILURE;
        }
        if (o.screen) {
            if (ep_trace_screen_keys(o.screen))
                break;
            ep_trace_screen_draw(o.screen, false);
        }
        now = ep_trace_now();
        bool last = now >= stop_at;
        if (now >= next || last) {
            rc = ep_trace_interval_take(t, &iv);
            if (rc < 0) {
                ep_trace_screen_close(o.screen);
                ep_cli_error("trace", "reading the kernel's counts: %s", strerror(-rc));
                ep_trace_close(t);
                return EP_EXIT_FAILURE;
            }
            ep_trace_print_interval(&o, &iv);
            o.lines = 0;
            o.folded = 0;
            o.failures = 0;
            while (next <= now)
                next += o.interval;
        }
        if (last)
            break;
    }
    if (ep_trace_stop && !o.write_error) {
        /* Interrupted: what arrived since the last interval, then its counts. */
        ep_trace_poll(t, 0, ep_trace_on_failure, &o);
        if (ep_trace_interval_take(t, &iv) == 0)
            ep_trace_print_interval(&o, &iv);
    }
    ep_trace_screen_close(o.screen);
    ep_trace_close(t);
    if (o.write_error) {
        ep_cli_error("trace", "cannot write output");
        return EP_EXIT_FAILURE;
    }
    return EP_EXIT_OK;
}
