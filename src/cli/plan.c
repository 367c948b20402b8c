/* plan.c - `ephport plan`: how many ephemeral ports a workload needs per
 * destination (the mean by Little's law, the failure probability by Erlang
 * B with TIME_WAIT as the kernel keeps it), the highest rate a range
 * sustains at a stated share of successful connects, and what to change to
 * reach a target rate, with the exact settings.  The arithmetic is in
 * src/sim/plan.c and ephport/capacity.h; this file parses flags and prints. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plan.h"
#include "wlopts.h"
#include "workload.h"

enum { OPT_JSON = 1, OPT_TARGET, OPT_PERCENTILE, OPT_HELP };

typedef struct ep_plan_flags {
    bool json;
    double target;
    double success;     /* share of connects that must succeed */
} ep_plan_flags;

static void ep_plan_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport plan [--config FILE] [--KEY VALUE ...] [--target-rate RATE]\n"
            "                    [--percentile PCT] [--json] [--help]\n"
            "\n"
            "Closed-form ephemeral port capacity per destination: the mean ports held\n"
            "(Little's law), the share of connects that fail (Erlang B, with TIME_WAIT\n"
            "as the kernel keeps it: Linux's 60 s timer fires up to 5.12 s late), the\n"
            "highest rate the range sustains with PCT %% of connects succeeding, and\n"
            "what to change (range, tw_reuse, keep-alive, source addresses) to reach\n"
            "--target-rate.  Port rules as --semantics says (default: linux for the\n"
            "linux profile, stack for the others); under Linux semantics a UDP source\n"
            "port is exclusive per local address, so all destinations share the range\n"
            "(running out is EAGAIN), and TIME_WAIT is what the kernel keeps, the same\n"
            "figure simulate uses.\n"
            "\n"
            "  --config FILE        read 'key = value' lines (same file as simulate)\n"
            "  --target-rate RATE   requests per second to plan for (default: rate)\n"
            "  --percentile PCT     share of connects that must succeed, in percent,\n"
            "                       above 0 and below 100 (default 99.9: at most 0.1 %%\n"
            "                       fail with EADDRNOTAVAIL)\n"
            "  --json               one JSON object instead of text (fields: see below)\n"
            "  --help               this text\n"
            "\n"
            "plan uses rate, duration (its mean), destinations, zipf, weights, protocol,\n"
            "close, requests_per_conn, profile, range, reserved, time_wait, tw_reuse,\n"
            "tw_reuse_delay, semantics, sources, quota and owners; the other keys are\n"
            "accepted and ignored.\n\n");
    ep_wlopt_help(f);
    fprintf(f,
            "\nJSON fields (the text shows the same numbers; per destination means the\n"
            "busiest one, and for UDP under Linux semantics all destinations of a local\n"
            "address together):\n"
            "  rate, requests_per_conn, mean_duration   the workload as used\n"
            "  busiest_weight       the busiest destination's share of requests (shared\n"
            "                       UDP: 1)\n"
            "  semantics            the port rules: linux or stack\n"
            "  exhaustion_error     what a connect gets when none is free: EAGAIN (UDP,\n"
            "                       Linux semantics) or EADDRNOTAVAIL\n"
            "  udp_shared           UDP under Linux semantics: a source port is exclusive\n"
            "                       per local address, so all destinations share the\n"
            "                       range\n"
            "  dest_conn_rate       new connections per second: rate x weight / rpc\n"
            "  time_wait_nominal    TIME_WAIT the profile states (60 s on Linux; 0 when\n"
            "                       the server closes first or for UDP)\n"
            "  time_wait            TIME_WAIT as the kernel keeps it at most (Linux\n"
            "                       semantics: + the timer wheel granularity of the worst\n"
            "                       usual HZ, 5.12 s; stack: nominal); simulate keeps the same\n"
            "  tcp_tw_reuse         tw_reuse as configured: 0, 1 or 2 (loopback only)\n"
            "  tw_reuse             whether TIME_WAIT reuse applies (2: not to these\n"
            "                       non-loopback addresses)\n"
            "  hold                 mean seconds a port is held: in use + time_wait\n"
            "  block                seconds a port cannot be reused: in use + time_wait\n"
            "                       (or + tw_reuse_delay with tw_reuse)\n"
            "  poisson              arrivals are Poisson (Erlang B exact; conservative for\n"
            "                       constant arrivals, approximate for bursts)\n"
            "  lo, hi, range_ports, reserved_in_range, effective_ports, sources\n"
            "                       the range, reserved ports in it, the rest, addresses\n"
            "  capacity             effective ports x sources\n"
            "  success              the share of connects that must succeed (PCT / 100)\n"
            "  ports_needed         Little's law: dest_conn_rate x hold (a mean)\n"
            "  mean_in_use          of which in use: dest_conn_rate x rpc x duration\n"
            "  ports_blocked        offered load in erlangs: dest_conn_rate x block\n"
            "  utilisation          ports_blocked / capacity\n"
            "  loss                 share of connects that fail as configured (Erlang B)\n"
            "  failures_per_second  dest_conn_rate x loss\n"
            "  ports_required       fewest ports (all sources) with loss <= 100 - PCT %%,\n"
            "                       null beyond every range and source count\n"
            "  max_dest_conn_rate, max_rate   highest connection / request rates with\n"
            "                       loss <= 100 - PCT %%\n"
            "  mean_max_rate        capacity / block: the mean's limit, not sustainable\n"
            "  sustainable          loss <= 100 - PCT %%\n"
            "  first_failure        seconds to the first failure at a steady rate, or null\n"
            "  quota                {cap, owners, mean_in_use_per_owner, ok} or null\n"
            "  target               {rate, dest_conn_rate, loss, ports, sustainable, range\n"
            "                       {lo, hi, ports, setting}, tw_reuse {max_rate, delay,\n"
            "                       setting}, requests_per_conn, sources,\n"
            "                       server_closes_first}: the changes that each reach the\n"
            "                       target rate at PCT %%, null where one cannot\n"
            "\nExit codes: 0 planned, 1 output error, 2 bad command line or workload.\n"
            "See ephport-plan(1).\n");
}

static int ep_plan_flag(int opt, const char *arg, void *ctx)
{
    ep_plan_flags *fl = ctx;
    char *end;
    switch (opt) {
    case OPT_JSON:
        fl->json = true;
        return -1;
    case OPT_TARGET:
        errno = 0;
        fl->target = strtod(arg, &end);
        if (errno || end == arg || *end || !isfinite(fl->target) || fl->target <= 0 ||
            fl->target > 1e9) {
            ep_cli_error("plan", "--target-rate must be a positive number of requests per "
                         "second (at most 1e9), not '%s'", arg);
            return EP_EXIT_USAGE;
        }
        return -1;
    case OPT_PERCENTILE: {
        double pct;
        errno = 0;
        pct = strtod(arg, &end);
        if (errno || end == arg || *end || !isfinite(pct) || pct <= 0 || pct >= 100) {
            ep_cli_error("plan", "--percentile must be a percentage of connects that must "
                         "succeed, above 0 and below 100 (e.g. 99.9), not '%s'", arg);
            return EP_EXIT_USAGE;
        }
        fl->success = pct / 100.0;
        return -1;
    }
    case OPT_HELP:
        ep_plan_usage(stdout);
        return EP_EXIT_OK;
    default:
        ep_plan_usage(stderr);
        return EP_EXIT_USAGE;
    }
}

/* A share as a percentage with enough digits to show small losses. */
static void ep_plan_pct(double x, char *buf, size_t len)
{
    double pct = 100 * x;
    if (pct == 0)
        snprintf(buf, len, "0%%");
    else if (pct < 1e-12)
        snprintf(buf, len, "below 1e-12%%");
    else if (pct < 0.001)
        snprintf(buf, len, "%.1e%%", pct);
    else if (pct < 1)
        snprintf(buf, len, "%.3f%%", pct);
    else
        snprintf(buf, len, "%.1f%%", pct);
}

static void ep_plan_print(const ep_plan *p)
{
    bool color = ep_cli_use_color(stdout);
    const char *b = color ? "\033[1m" : "", *n = color ? "\033[0m" : "";
    const char *bad = color ? "\033[31m" : "", *good = color ? "\033[32m" : "";
    char cmd[160], loss[32], allowed[32], succ[32];
    int k = 0;

    ep_plan_pct(p->loss, loss, sizeof loss);
    ep_plan_pct(p->blocking, allowed, sizeof allowed);
    snprintf(succ, sizeof succ, "%g%%", 100 * p->success);
    printf("%sWorkload%s: %g requests/s, %u per connection, mean duration %g s;\n", b, n,
           p->rate, p->rpc, p->duration);
    if (p->udp_shared)
        printf("  UDP (Linux semantics): a source port is exclusive per local address "
               "(udp_lib_get_port), so all %u destination%s share the range = %g new "
               "sockets/s; running out is EAGAIN\n", p->destinations,
               p->destinations == 1 ? "" : "s", p->dest_conn_rate);
    else
        printf("  busiest destination takes %.1f%% = %g new connections/s\n",
               100 * p->busiest_weight, p->dest_conn_rate);
    if (p->time_wait > p->time_wait_nominal)
        printf("  TIME_WAIT as the kernel keeps it: up to %g s (%g s timer + up to %g s of "
               "timer wheel granularity)\n", p->time_wait, p->time_wait_nominal,
               p->time_wait - p->time_wait_nominal);
    printf("  each port is held %g s on average (%g s in use + %g s TIME_WAIT%s)", p->hold,
           p->rpc * p->duration, p->time_wait,
           p->time_wait > p->time_wait_nominal ? ", the kernel's upper bound" : "");
    if (p->tw_reuse)
        printf(", reusable after %g s (tw_reuse)", p->block);
    printf("\n%sRange%s %u-%u: %u ports, %u reserved, %u effective x %u source%s = %u per "
           "%s\n\n", b, n, p->lo, p->hi, p->range_ports, p->reserved_in_range,
           p->effective_ports, p->sources, p->sources == 1 ? "" : "s", p->capacity,
           p->udp_shared ? "all destinations together" : "destination");
    printf("Ports held per %s (Little's law, a mean): %.1f (%.1f in use + %.1f in "
           "TIME_WAIT)\n", p->udp_shared ? "all destinations" : "destination", p->ports_needed,
           p->mean_in_use, p->ports_needed - p->mean_in_use);
    printf("Offered load: %.1f ports blocked on average = %.1f%% of %u\n", p->ports_blocked,
           100 * p->utilisation, p->capacity);
    printf("Connects that fail (Erlang B%s): %s%s%s = %.3g per second\n",
           p->poisson ? "" : p->burst > 1 ? ", Poisson + burst: approximate, simulate to check"
                                          : ", Poisson: conservative for these arrivals",
           p->sustainable ? good : bad, loss, n, p->failures_per_s);
    printf("At %s success (at most %s fail): %s%s%s", succ, allowed,
           p->sustainable ? good : bad, p->sustainable ? "sustainable" : "NOT sustainable", n);
    if (p->ports_required != UINT32_MAX)
        printf(" (needs %u ports)\n", p->ports_required);
    else
        printf(" (no range and source count suffices)\n");
    if (p->first_failure >= 0)
        printf("At a steady rate the first connect fails %.2f s after start (%u ports / %g per s)\n",
               p->first_failure, p->capacity, p->dest_conn_rate);
    if (isfinite(p->max_rate))
        printf("Highest sustainable rate at %s: %.1f requests/s (%.1f new connections/s per "
               "%s); the mean alone would allow %.1f\n", succ, p->max_rate,
               p->max_dest_conn_rate, p->udp_shared ? "all destinations" : "destination",
               p->mean_max_rate);
    else
        printf("Highest sustainable rate: unbounded (ports are never held)\n");

    if (p->quota)
        printf("Quota: each of %u owner%s holds %.1f connections in use on average at %g "
               "requests/s (cap %u): %s%s%s\n", p->owners, p->owners == 1 ? "" : "s",
               p->owner_in_use, p->target, p->quota, p->quota_ok ? good : bad,
               p->quota_ok ? "within the cap (peaks go higher; simulate to see them)"
                           : "ABOVE the cap: connects will fail with EDQUOT", n);
    printf("\n%sTo sustain %g requests/s at %s success%s", b, p->target, succ, n);
    if (p->target_ok) {
        ep_plan_pct(p->target_loss, loss, sizeof loss);
        printf(": nothing to change (%u ports needed, %u available; %s of connects fail).\n",
               p->target_ports, p->capacity, loss);
        return;
    }
    printf(" (any one of):\n");
    if (p->range_possible) {
        ep_plan_range_setting(p->profile, p->new_lo, p->new_hi, cmd, sizeof cmd);
        printf("  %d. widen the range to %u ports (%u-%u):\n       %s\n", ++k, p->range_width,
               p->new_lo, p->new_hi, cmd);
    }
    if (p->tw_reuse_possible)
        printf("  %d. reuse TIME_WAIT ports after %g s (up to %.1f requests/s):\n       %s\n",
               ++k, p->reuse_delay, p->rate_with_tw_reuse,
               strcmp(p->profile, "linux") == 0
                   ? "sysctl -w net.ipv4.tcp_tw_reuse=1   (needs TCP timestamps)"
                   : "tcp_tw_reuse exists on Linux only");
    if (p->rpc_possible && p->rpc_needed > p->rpc)
        printf("  %d. keep connections alive: %u requests per connection (now %u)\n", ++k,
               p->rpc_needed, p->rpc);
    if (p->sources_needed != UINT32_MAX && p->sources_needed > p->sources)
        printf("  %d. use %u source addresses in total (now %u), %s\n", ++k,
               p->sources_needed, p->sources,
               p->udp_shared ? "each UDP socket bound to one before connect() (an unbound "
                               "socket takes its port on every address)"
                             : "e.g. IP_BIND_ADDRESS_NO_PORT + bind() to each");
    if (p->server_close_possible)
        printf("  %d. let the server close first: TIME_WAIT then stays on the server\n", ++k);
    if (k == 0)
        printf("  no single change suffices; combine them (e.g. more sources and keep-alive)\n");
}

int ep_cmd_plan(int argc, char **argv)
{
    static const struct option fixed[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "target-rate", required_argument, NULL, OPT_TARGET },
        { "target_rate", required_argument, NULL, OPT_TARGET },
        { "percentile", required_argument, NULL, OPT_PERCENTILE },
        { "help", no_argument, NULL, OPT_HELP },
    };
    ep_plan_flags fl = { false, 0, EP_PLAN_SUCCESS_DEFAULT };
    ep_wlopt_args args;
    char msg[EP_WL_MSG] = "";
    ep_workload w;
    ep_plan p;
    int rc;

    rc = ep_wlopt_parse(argc, argv, fixed, sizeof fixed / sizeof fixed[0], ep_plan_flag, &fl,
                        &args, msg, sizeof msg);
    if (rc >= 0) {
        if (msg[0])
            ep_cli_error("plan", "%s", msg);
        ep_wlopt_args_free(&args);
        return rc;
    }
    rc = ep_wlopt_workload(&args, &w, msg, sizeof msg);
    ep_wlopt_args_free(&args);
    if (rc == 0)
        rc = ep_plan_compute_at(&w, fl.target, fl.success, &p, msg, sizeof msg);
    if (rc != 0) {
        ep_cli_error("plan", "%s", msg);
        ep_workload_free(&w);
        return rc == -ENOMEM ? EP_EXIT_FAILURE : EP_EXIT_USAGE;
    }
    if (fl.json) {
        rc = ep_cli_print_json(ep_plan_to_json(&p));
    } else {
        ep_plan_print(&p);
        rc = fflush(stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE;
    }
    ep_workload_free(&w);
    return rc;
}
