/* profiles.c - `ephport profiles`: the ephemeral port range and TIME_WAIT
 * defaults of each operating system profile the engine knows. */
#include <getopt.h>
#include <stdio.h>

#include <ephport/profile.h>

#include "cli.h"

static void ep_profiles_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport profiles [--json] [--help]\n"
            "\n"
            "List the built-in OS profiles: default ephemeral port range, port count,\n"
            "TIME_WAIT length, and where each is configured.\n"
            "\n"
            "  --json   one JSON array of objects instead of a table\n"
            "  --help   this text\n");
}

static int ep_profiles_json(void)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < ep_profile_count(); i++) {
        const ep_profile *p = ep_profile_at(i);
        json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:i, s:f, s:s, s:s, s:s}",
                              "name", p->name, "title", p->title,
                              "lo", p->lo, "hi", p->hi, "ports", p->hi - p->lo + 1,
                              "time_wait_seconds", p->time_wait_ms / 1000.0,
                              "range_setting", p->range_setting,
                              "time_wait_setting", p->tw_setting, "source", p->source);
        if (o && p->high_lo) {
            json_object_set_new(o, "high_lo", json_integer(p->high_lo));
            json_object_set_new(o, "high_hi", json_integer(p->high_hi));
        }
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return ep_cli_print_json(arr);
}

static void ep_profiles_table(void)
{
    bool color = ep_cli_use_color(stdout);
    printf("%s%-8s %-11s %6s %9s  %s%s\n", color ? "\033[1m" : "", "PROFILE", "RANGE",
           "PORTS", "TIME_WAIT", "RANGE SETTING", color ? "\033[0m" : "");
    for (size_t i = 0; i < ep_profile_count(); i++) {
        const ep_profile *p = ep_profile_at(i);
        char range[16], tw[16];
        snprintf(range, sizeof range, "%u-%u", p->lo, p->hi);
        snprintf(tw, sizeof tw, "%g s", p->time_wait_ms / 1000.0);
        printf("%-8s %-11s %6u %9s  %s\n", p->name, range, (unsigned)(p->hi - p->lo + 1), tw,
               p->range_setting);
        if (p->high_lo)
            printf("%-8s %u-%u (high range, IP_PORTRANGE_HIGH)\n", "", p->high_lo, p->high_hi);
    }
}

int ep_cmd_profiles(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool json = false;
    int c;

    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'h':
            ep_profiles_usage(stdout);
            return EP_EXIT_OK;
        default:
            ep_profiles_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ep_cli_error("profiles", "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    if (json)
        return ep_profiles_json();
    ep_profiles_table();
    return fflush(stdout) == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE;
}
