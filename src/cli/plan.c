/* plan.c - `ephport plan`: how many ephemeral ports a workload needs per
 * destination (Little's law), the highest rate a range sustains, and what to
 * change to reach a target rate, with the exact settings.  The arithmetic is
 * in src/sim/plan.c; this file parses flags and prints. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plan.h"
#include "wlopts.h"
#include "workload.h"

enum { OPT_JSON = 1, OPT_TARGET, OPT_HELP };

typedef struct ep_plan_flags {
    bool json;
    double target;
    bool bad_target;
} ep_plan_flags;

static void ep_plan_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport plan [--config FILE] [--KEY VALUE ...] [--target-rate RATE]\n"
            "                    [--json] [--help]\n"
            "\n"
            "Closed-form ephemeral port capacity: ports needed per destination\n"
            "(rate x (requests_per_conn x mean duration + TIME_WAIT)), the highest\n"
            "sustainable rate for the range, and what to change (range, tw_reuse,\n"
            "keep-alive, source addresses) to reach --target-rate.\n"
            "\n"
            "  --config FILE        read 'key = value' lines (same file as simulate)\n"
            "  --target-rate RATE   requests per second to plan for (default: rate)\n"
            "  --json               one JSON object instead of text\n"
            "  --help               this text\n"
            "\n"
            "plan uses rate, duration (its mean), destinations, zipf, weights, protocol,\n"
            "close, requests_per_conn, profile, range, reserved, time_wait, tw_reuse,\n"
            "tw_reuse_delay, sources, quota and owners; the other keys are accepted and\n"
            "ignored.\n\n");
    ep_wlopt_help(f);
    fprintf(f, "\nExit codes: 0 planned, 1 output error, 2 bad command line or workload.\n"
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
    case OPT_HELP:
        ep_plan_usage(stdout);
        return EP_EXIT_OK;
    default:
        ep_plan_usage(stderr);
        return EP_EXIT_USAGE;
    }
}

static void ep_plan_print(const ep_plan *p)
{
    bool color = ep_cli_use_color(stdout);
    const char *b = color ? "\033[1m" : "", *n = color ? "\033[0m" : "";
    const char *bad = color ? "\033[31m" : "", *good = color ? "\033[32m" : "";
    char cmd[160];
    int k = 0;

    printf("%sWorkload%s: %g requests/s, %u per connection, mean duration %g s;\n"
           "  busiest destination takes %.1f%% = %g new connections/s\n", b, n, p->rate, p->rpc,
           p->duration, 100 * p->busiest_weight, p->dest_conn_rate);
    printf("  each port is held %g s (%g s in use + %g s TIME_WAIT)", p->hold,
           p->rpc * p->duration, p->time_wait);
    if (p->tw_reuse)
        printf(", reusable after %g s (tw_reuse)", p->block);
    printf("\n%sRange%s %u-%u: %u ports, %u reserved, %u effective x %u source%s = %u per "
           "destination\n\n", b, n, p->lo, p->hi, p->range_ports, p->reserved_in_range,
           p->effective_ports, p->sources, p->sources == 1 ? "" : "s", p->capacity);
    printf("Ports held per destination (Little's law): %.1f (%.1f in use + %.1f in TIME_WAIT)\n",
           p->ports_needed, p->mean_in_use, p->ports_needed - p->mean_in_use);
    if (p->tw_reuse)
        printf("Ports that cannot be reused yet (tw_reuse): %.1f\n", p->ports_blocked);
    printf("Utilisation: %s%.1f%%%s -> %s%s%s\n", p->sustainable ? good : bad,
           100 * p->utilisation, n, p->sustainable ? good : bad,
           p->sustainable ? "sustainable" : "NOT sustainable", n);
    if (p->first_failure >= 0)
        printf("At a steady rate the first connect fails %.2f s after start (%u ports / %g per s)\n",
               p->first_failure, p->capacity, p->dest_conn_rate);
    if (isfinite(p->max_rate))
        printf("Highest sustainable rate: %.1f requests/s (%.1f new connections/s per "
               "destination)\n", p->max_rate, p->max_dest_conn_rate);
    else
        printf("Highest sustainable rate: unbounded (ports are never held)\n");

    if (p->quota)
        printf("Quota: each of %u owner%s holds %.1f connections in use on average at %g "
               "requests/s (cap %u): %s%s%s\n", p->owners, p->owners == 1 ? "" : "s",
               p->owner_in_use, p->target, p->quota, p->quota_ok ? good : bad,
               p->quota_ok ? "within the cap (peaks go higher; simulate to see them)"
                           : "ABOVE the cap: connects will fail with EDQUOT", n);
    printf("\n%sTo sustain %g requests/s%s", b, p->target, n);
    if (p->target_ok) {
        printf(": nothing to change (%.1f%% of the range).\n",
               100 * p->target_dest_conn_rate * p->block / p->capacity);
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
    if (p->sources_needed > p->sources)
        printf("  %d. use %u source addresses in total (now %u), e.g. IP_BIND_ADDRESS_NO_PORT "
               "+ bind() to each\n", ++k, p->sources_needed, p->sources);
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
        { "help", no_argument, NULL, OPT_HELP },
    };
    ep_plan_flags fl = { false, 0, false };
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
        rc = ep_plan_compute(&w, fl.target, &p, msg, sizeof msg);
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
