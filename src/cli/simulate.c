/* simulate.c - `ephport simulate`: run a workload through the real
 * libephport engine in virtual time (src/sim) and report peak use per
 * destination, failures by cause, the first failure and steady-state
 * headroom; or a CSV/JSON time series, an SVG chart, or a side-by-side
 * comparison of settings on the same arrivals.
 *
 * Every workload key of src/sim/workload.c is also a flag of the same name
 * (`--rate 600` is `rate = 600`; `--time-wait` and `--time_wait` both work).
 * Flags override the config file whatever their order.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "plan.h"
#include "sim.h"
#include "svg.h"
#include "wlopts.h"
#include "workload.h"

enum { OPT_CSV = 1, OPT_JSON, OPT_SVG, OPT_COMPARE, OPT_HELP };

static void ep_simulate_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport simulate [--config FILE] [--KEY VALUE ...] [--csv | --json]\n"
            "                        [--svg FILE] [--compare KEY=V1,V2,...] [--help]\n"
            "\n"
            "Run a workload through the libephport engine in virtual time and report\n"
            "peak ports per destination, failures by cause, the first failure and the\n"
            "steady-state headroom.\n"
            "\n"
            "  --config FILE   read 'key = value' lines (flags override them)\n"
            "  --csv           print the time series as CSV, one line per sample and\n"
            "                  destination: time (s), destination, in_use (ports\n"
            "                  held by open connections), time_wait (ports in\n"
            "                  TIME_WAIT), capacity (ports it may use), failures\n"
            "                  (since the previous sample), semantics (port rules)\n"
            "  --json          print the summary and time series as JSON\n"
            "  --svg FILE      also draw the chart into FILE (SVG 1.1)\n"
            "  --semantics linux|stack\n"
            "                  port rules: linux (the kernel's: UDP ports exclusive per local\n"
            "                  address, EAGAIN; TIME_WAIT as the kernel keeps it, 60 s + up to\n"
            "                  5.12 s; the default for profile linux) or stack (the idealised\n"
            "                  kernel of a userspace stack; the default for other profiles)\n"
            "  --compare K=V1,V2,...\n"
            "                  run one variant per value of key K on the same arrivals and\n"
            "                  print one table (values split on ';' when any is present)\n"
            "  --help          this text\n"
            "\n"
            );
    ep_wlopt_help(f);
    fprintf(f, "\nExit codes: 0 simulated (port failures are results, not errors),\n"
               "1 run failed (I/O, memory, engine), 2 bad command line or workload.\n"
               "See ephport-simulate(1).\n");
}

/* Progress bar: only on a terminal, only once the run has lasted 1 s. */
typedef struct ep_progress {
    struct timespec start;
    bool shown;
} ep_progress;

static void ep_progress_cb(void *ctx, double frac)
{
    ep_progress *p = ctx;
    struct timespec now;
    double el;
    int width = 40, fill;
    clock_gettime(CLOCK_MONOTONIC, &now);
    el = (now.tv_sec - p->start.tv_sec) + (now.tv_nsec - p->start.tv_nsec) / 1e9;
    if (el < 1.0)
        return;
    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    fill = (int)(frac * width);
    fprintf(stderr, "\r[%.*s%*s] %3.0f%%", fill, "########################################",
            width - fill, "", frac * 100);
    p->shown = true;
}

static int ep_simulate_run(const ep_workload *w, bool reuse, ep_sim_result *res)
{
    ep_progress prog = { { 0, 0 }, false };
    ep_sim_options o = { NULL, NULL, reuse };
    char msg[EP_WL_MSG];
    int rc;
    if (isatty(STDERR_FILENO) == 1) {
        clock_gettime(CLOCK_MONOTONIC, &prog.start);
        o.progress = ep_progress_cb;
        o.progress_ctx = &prog;
    }
    rc = ep_sim_run(w, &o, res, msg, sizeof msg);
    if (prog.shown)
        fprintf(stderr, "\r%60s\r", "");
    if (rc != 0) {
        ep_cli_error("simulate", "%s", msg);
        return rc == -EINVAL ? EP_EXIT_USAGE : EP_EXIT_FAILURE;
    }
    return EP_EXIT_OK;
}

static void ep_fmt_time(double t, char *buf, size_t len)
{
    if (t < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.3f s", t);
}

static void ep_simulate_summary(const ep_workload *w, const ep_sim_result *res)
{
    bool color = ep_cli_use_color(stdout);
    const char *b = color ? "\033[1m" : "", *n = color ? "\033[0m" : "";
    const char *red = color ? "\033[31m" : "";
    ep_pool_config cfg;
    char msg[EP_WL_MSG], dur[96], ff[32], tw[96];
    size_t shown = res->ndest < 20 ? res->ndest : 20;

    ep_workload_pool_config(w, &cfg, msg, sizeof msg);
    ep_dist_format(&w->duration, dur, sizeof dur);
    printf("%sSimulated%s %g virtual s: ", b, n, res->length);
    if (w->arrivals == EP_ARR_TRACE)
        printf("trace %s", w->trace);
    else
        printf("%s arrivals, %g requests/s, %u per connection, duration %s", ep_arrival_name(w->arrivals),
               w->rate, w->requests_per_conn, dur);
    if (cfg.time_wait == 0 || w->proto == EP_PROTO_UDP)
        snprintf(tw, sizeof tw, "%g s%s", ep_workload_time_wait_nominal(w),
                 w->proto == EP_PROTO_UDP ? " (tcp only)" : "");
    else if (cfg.time_wait / 1e9 != ep_workload_time_wait_nominal(w))
        snprintf(tw, sizeof tw, "%g s kept %g s (the kernel's timer wheel)",
                 ep_workload_time_wait_nominal(w), cfg.time_wait / 1e9);
    else
        snprintf(tw, sizeof tw, "%g s", cfg.time_wait / 1e9);
    printf("\n  %s semantics, %zu destination%s, %s closes first, %s, range %u-%u (%u effective "
           "ports x %u source%s), TIME_WAIT %s, tw_reuse %s, algorithm %s, seed %llu\n",
           ep_semantics_name(res->semantics), res->ndest, res->ndest == 1 ? "" : "s",
           w->server_closes ? "server" : "client", w->proto == EP_PROTO_UDP ? "udp" : "tcp",
           cfg.lo, cfg.hi, res->effective_ports, res->sources, res->sources == 1 ? "" : "s", tw,
           !w->tw_reuse ? "off" : w->tw_reuse_loopback ? "2 (loopback ends only)" : "on",
           ep_algorithm_name(w->algorithm), (unsigned long long)w->seed);
    printf("Connections: %llu attempted, %llu established, %llu closed, peak %llu open at once\n",
           (unsigned long long)res->attempts, (unsigned long long)res->connections,
           (unsigned long long)res->closes, (unsigned long long)res->peak_open);
    printf("Failures: %s%llu%s (", res->total_failures ? red : "",
           (unsigned long long)res->total_failures, res->total_failures ? n : "");
    for (int c = 0; c < EP_FAIL__COUNT; c++)
        printf("%s%s%s%s%s %llu", c ? ", " : "", ep_sim_cause_name(c),
               c == EP_FAIL_EXHAUSTED ? " (" : "",
               c == EP_FAIL_EXHAUSTED ? ep_err_name(res->exhausted_err) : "",
               c == EP_FAIL_EXHAUSTED ? ")" : "", (unsigned long long)res->failures[c]);
    printf(")\n");
    if (res->first_failure >= 0)
        printf("First failure: %.3f s (%s: %s)\n", res->first_failure,
               ep_err_name(res->first_failure_err), ep_strerror(res->first_failure_err));
    else
        printf("First failure: none\n");
    printf("\n%s%-24s %8s %8s %11s %11s %9s %9s %13s%s\n", b, "DESTINATION", "CAPACITY", "PEAK",
           "STEADY MEAN", "STEADY PEAK", "HEADROOM", "FAILURES", "FIRST FAILURE", n);
    for (size_t d = 0; d < shown; d++) {
        const ep_sim_dest *x = &res->dest[d];
        int64_t head = ep_sim_headroom(x);
        char hr[32];
        ep_fmt_time(x->first_failure, ff, sizeof ff);
        snprintf(hr, sizeof hr, "%.1f%%", x->capacity ? 100.0 * head / x->capacity : 0.0);
        printf("%-24s %8u %8u %11.1f %11u %9s %9llu %13s\n", x->name, x->capacity, x->peak,
               x->ss_mean, x->ss_peak, hr, (unsigned long long)x->failures, ff);
    }
    if (res->ndest > shown)
        printf("(%zu more destinations; use --json or --csv for all)\n", res->ndest - shown);
    printf("\nSteady state = samples in the second half of the run; headroom = 1 - steady peak / "
           "capacity.\n");
    if (res->udp_shared)
        printf("UDP under Linux semantics: a source port is exclusive per local address "
               "(udp_lib_get_port),\nso every destination draws on the same ports: PEAK, "
               "STEADY and HEADROOM count every\nUDP socket, and running out is EAGAIN "
               "(\"Resource temporarily unavailable\").%s\n",
               res->sources > 1 ? "\nEach socket is bound to a source address before "
                                  "connect() (an unbound one\ntakes its port on every address)."
                                : "");
}

static int ep_simulate_single(const ep_workload *w, bool csv, bool json, const char *svg)
{
    ep_sim_result res;
    int rc = ep_simulate_run(w, json, &res);
    if (rc != EP_EXIT_OK)
        return rc;
    if (svg) {
        FILE *f = fopen(svg, "w");
        char *title = NULL;
        int n;
        if (w->arrivals == EP_ARR_TRACE)
            n = asprintf(&title, "ephport simulate: trace %s, seed %llu", w->trace,
                         (unsigned long long)w->seed);
        else
            n = asprintf(&title, "ephport simulate: %s, %g req/s, seed %llu",
                         ep_arrival_name(w->arrivals), w->rate, (unsigned long long)w->seed);
        rc = n < 0 || !f || ep_svg_write(&res, title, f) != 0;
        if (f && fclose(f) != 0)
            rc = 1;
        if (n >= 0)
            free(title);
        if (rc) {
            ep_cli_error("simulate", "cannot write %s", svg);
            ep_sim_result_free(&res);
            return EP_EXIT_FAILURE;
        }
    }
    if (csv) {
        const char **names = malloc(res.ndest * sizeof *names);
        uint32_t *cap = malloc(res.ndest * sizeof *cap);
        rc = EP_EXIT_FAILURE;
        if (names && cap) {
            for (size_t d = 0; d < res.ndest; d++) {
                names[d] = res.dest[d].name;
                cap[d] = res.dest[d].capacity;
            }
            if (ep_series_write_csv(&res.series, names, cap,
                                    ep_semantics_name(res.semantics), stdout) == 0 && fflush(stdout) == 0)
                rc = EP_EXIT_OK;
            else
                ep_cli_error("simulate", "cannot write output");
        }
        free(names);
        free(cap);
    } else if (json) {
        json_t *o = json_object();
        if (o) {
            json_object_set_new(o, "workload", ep_workload_to_json(w));
            json_object_set_new(o, "result", ep_sim_result_to_json(&res, true));
        }
        rc = ep_cli_print_json(o);
    } else {
        ep_simulate_summary(w, &res);
        rc = fflush(stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE;
    }
    ep_sim_result_free(&res);
    return rc;
}

static int ep_simulate_compare(const ep_workload *base, const char *spec, bool json)
{
    char *copy = strdup(spec), *eq, *vals, *v, sep;
    json_t *arr = NULL;
    bool color = ep_cli_use_color(stdout);
    int rc = EP_EXIT_OK;
    size_t nvar = 0;

    if (!copy)
        return EP_EXIT_FAILURE;
    eq = strchr(copy, '=');
    if (!eq || eq == copy || !eq[1]) {
        ep_cli_error("simulate", "--compare wants KEY=V1,V2,..., got '%s'", spec);
        free(copy);
        return EP_EXIT_USAGE;
    }
    *eq = '\0';
    if (strcmp(copy, "algorithms") == 0) /* the natural plural, as in the docs' example */
        copy[strlen("algorithm")] = '\0';
    vals = eq + 1;
    sep = strchr(vals, ';') ? ';' : ',';
    /* Check every variant before running any. */
    for (v = vals;;) {
        char *end = strchr(v, sep), msg[EP_WL_MSG], save = 0;
        ep_workload w;
        if (end) {
            save = *end;
            *end = '\0';
        }
        if (ep_workload_copy(&w, base) != 0) {
            free(copy);
            return EP_EXIT_FAILURE;
        }
        if (ep_workload_set(&w, copy, v, msg, sizeof msg) != 0 ||
            ep_workload_check(&w, msg, sizeof msg) != 0) {
            ep_cli_error("simulate", "--compare %s=%s: %s", copy, v, msg);
            ep_workload_free(&w);
            free(copy);
            return EP_EXIT_USAGE;
        }
        ep_workload_free(&w);
        nvar++;
        if (!end)
            break;
        *end = save;
        v = end + 1;
    }
    if (json)
        arr = json_array();
    else
        printf("%s%-28s %10s %13s %8s %10s %8s %8s %14s%s\n", color ? "\033[1m" : "", "VARIANT",
               "FAILURES", "FIRST FAILURE", "PEAK", "REUSE MEAN", "MIN", "P5", "PREDICTABILITY",
               color ? "\033[0m" : "");
    for (v = vals;;) {
        char *end = strchr(v, sep), msg[EP_WL_MSG];
        ep_workload w;
        ep_sim_result res;
        if (end)
            *end = '\0';
        if (ep_workload_copy(&w, base) != 0 || ep_workload_set(&w, copy, v, msg, sizeof msg) != 0) {
            rc = EP_EXIT_FAILURE;
            break;
        }
        rc = ep_simulate_run(&w, true, &res);
        if (rc != EP_EXIT_OK) {
            ep_workload_free(&w);
            break;
        }
        if (json) {
            json_t *o = json_object();
            if (o) {
                json_object_set_new(o, "variant", json_string(v));
                json_object_set_new(o, "workload", ep_workload_to_json(&w));
                json_object_set_new(o, "result", ep_sim_result_to_json(&res, false));
            }
            if (!o || !arr || json_array_append_new(arr, o) != 0)
                rc = EP_EXIT_FAILURE;
        } else {
            const ep_sim_reuse *r = &res.reuse;
            char name[64], ff[32], mean[32], mn[32], p5[32], pred[48];
            uint32_t peak = 0;
            for (size_t d = 0; d < res.ndest; d++)
                if (res.dest[d].peak > peak)
                    peak = res.dest[d].peak;
            snprintf(name, sizeof name, "%s=%s", copy, v);
            ep_fmt_time(res.first_failure, ff, sizeof ff);
            if (r->reuses) {
                snprintf(mean, sizeof mean, "%.1f", r->mean);
                snprintf(mn, sizeof mn, "%llu", (unsigned long long)r->min);
                snprintf(p5, sizeof p5, "%s%llu", r->p5_above ? ">=" : "",
                         (unsigned long long)r->p5);
            } else {
                strcpy(mean, "-");
                strcpy(mn, "-");
                strcpy(p5, "-");
            }
            snprintf(pred, sizeof pred, "%.2f%% %s", 100 * r->predictability,
                     r->predictions ? r->predictor : "");
            printf("%-28s %10llu %13s %8u %10s %8s %8s %14s\n", name,
                   (unsigned long long)res.total_failures, ff, peak, mean, mn, p5, pred);
        }
        ep_sim_result_free(&res);
        ep_workload_free(&w);
        if (!end)
            break;
        v = end + 1;
    }
    free(copy);
    (void)nvar;
    if (json) {
        if (rc != EP_EXIT_OK) {
            json_decref(arr);
            return rc;
        }
        return ep_cli_print_json(arr);
    }
    if (rc == EP_EXIT_OK)
        printf("\nReuse distance: connections between two uses of one port towards the busiest\n"
               "destination (from the first source address). Predictability: share of its next\n"
               "ports guessed by the best simple predictor (prev+1, prev+2, prev, prev+delta).\n");
    return rc == EP_EXIT_OK && fflush(stdout) != 0 ? EP_EXIT_FAILURE : rc;
}

typedef struct ep_sim_flags {
    bool csv, json;
    const char *svg, *compare;
} ep_sim_flags;

static int ep_simulate_flag(int opt, const char *arg, void *ctx)
{
    ep_sim_flags *fl = ctx;
    switch (opt) {
    case OPT_CSV:
        fl->csv = true;
        return -1;
    case OPT_JSON:
        fl->json = true;
        return -1;
    case OPT_SVG:
        fl->svg = arg;
        return -1;
    case OPT_COMPARE:
        fl->compare = arg;
        return -1;
    case OPT_HELP:
        ep_simulate_usage(stdout);
        return EP_EXIT_OK;
    default:
        ep_simulate_usage(stderr);
        return EP_EXIT_USAGE;
    }
}

int ep_cmd_simulate(int argc, char **argv)
{
    static const struct option fixed[] = {
        { "csv", no_argument, NULL, OPT_CSV },
        { "json", no_argument, NULL, OPT_JSON },
        { "svg", required_argument, NULL, OPT_SVG },
        { "compare", required_argument, NULL, OPT_COMPARE },
        { "help", no_argument, NULL, OPT_HELP },
    };
    ep_sim_flags fl = { false, false, NULL, NULL };
    ep_wlopt_args args;
    char msg[EP_WL_MSG] = "";
    ep_workload w;
    int rc;

    rc = ep_wlopt_parse(argc, argv, fixed, sizeof fixed / sizeof fixed[0], ep_simulate_flag, &fl,
                        &args, msg, sizeof msg);
    if (rc >= 0) {
        if (msg[0])
            ep_cli_error("simulate", "%s", msg);
        ep_wlopt_args_free(&args);
        return rc;
    }
    if (fl.csv && fl.json) {
        ep_cli_error("simulate", "--csv and --json are exclusive");
        ep_wlopt_args_free(&args);
        return EP_EXIT_USAGE;
    }
    if (fl.compare && (fl.csv || fl.svg)) {
        ep_cli_error("simulate", "--compare prints a table (or --json); it takes no --csv or --svg");
        ep_wlopt_args_free(&args);
        return EP_EXIT_USAGE;
    }
    rc = ep_wlopt_workload(&args, &w, msg, sizeof msg);
    ep_wlopt_args_free(&args);
    if (rc != 0) {
        ep_cli_error("simulate", "%s", msg);
        rc = rc == -ENOMEM ? EP_EXIT_FAILURE : EP_EXIT_USAGE;
    } else {
        rc = fl.compare ? ep_simulate_compare(&w, fl.compare, fl.json)
                        : ep_simulate_single(&w, fl.csv, fl.json, fl.svg);
    }
    ep_workload_free(&w);
    return rc;
}
