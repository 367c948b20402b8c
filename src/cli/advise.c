/* advise.c - `ephport advise`: how to inspect and change the ephemeral port
 * range and TIME_WAIT settings of Linux, Windows, macOS or FreeBSD, and, for
 * Linux on this host, what the live numbers say should change.
 *
 * The per-OS texts are data in src/lib/advice_os.c; the numbers (default
 * range, TIME_WAIT) come from the OS profiles.  This file only renders them
 * (a text report or one JSON object) and, for the live part, takes one host
 * snapshot (ephport/host.h) and prints its settings and the advice the
 * snapshot computed (destination, headroom, sustainable rate, remedy).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/capacity.h>
#include <ephport/host.h>
#include <ephport/pool.h>
#include <ephport/profile.h>

#include <ephport/advice.h>
#include "cli.h"
#include <ephport/host-json.h>

#ifdef __linux__
#define EP_ADVISE_DEFAULT_OS "linux"
#else
#define EP_ADVISE_DEFAULT_OS NULL
#endif

struct ep_advise_opts {
    const char *os;
    const char *netns;
    bool json;
    bool live;       /* read this host (Linux only) */
};

static void ep_advise_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport advise [--os linux|windows|macos|freebsd] [--generic]\n"
            "                      [--netns NAME|PATH] [--json] [--help]\n"
            "\n"
            "How to inspect and change an OS's ephemeral port range and TIME_WAIT\n"
            "settings, with exact commands and how to make them persistent. For Linux\n"
            "on this host (the default), also the live values and recommendations\n"
            "computed from the sockets in use.\n"
            "\n"
            "  --os OS          linux (default here), windows, macos or freebsd\n"
            "  --generic        Linux: only the reference, do not read this host\n"
            "  --netns NAME|PATH  Linux: read the namespace /run/netns/NAME or at PATH\n"
            "  --json           one JSON object instead of text\n"
            "  --help           this text\n"
            "\n"
            "Example, inside a container (PID of a process in it):\n"
            "  ephport advise --netns /proc/PID/ns/net\n"
            "\n"
            "Exit codes: 0 success, 1 the host could not be read, 2 bad command line.\n");
}

/* ---- text output ---------------------------------------------------- */

/* Print `text` wrapped at `width` columns, each line indented by `indent`
 * spaces.  Words longer than a line are printed whole, never cut. */
static void ep_advise_wrap(const char *text, int indent, int width)
{
    const char *p = text;
    int col = 0;
    while (*p) {
        const char *w;
        int len;
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        w = p;
        while (*p && *p != ' ')
            p++;
        len = (int)(p - w);
        if (col > 0 && col + 1 + len > width) {
            putchar('\n');
            col = 0;
        }
        if (col == 0) {
            printf("%*s%.*s", indent, "", len, w);
            col = indent + len;
        } else {
            printf(" %.*s", len, w);
            col += 1 + len;
        }
    }
    if (col > 0)
        putchar('\n');
}

static void ep_advise_print_rate(const char *lead, uint32_t ports, uint32_t tw_ms)
{
    double rate = ep_advice_sustainable_rate(ports, tw_ms);
    if (tw_ms == 0)
        printf("%s: no TIME_WAIT, no steady-state limit\n", lead);
    else
        printf("%s: %u ports / %g s TIME_WAIT = %.0f new connections/s per destination\n",
               lead, ports, tw_ms / 1000.0, floor(rate));
}

static void ep_advise_text_os(const ep_advice_os *os, bool color)
{
    const ep_profile *p = ep_advice_os_profile(os);
    const char *b = color ? "\033[1m" : "", *e = color ? "\033[0m" : "";

    printf("%s%s%s: ephemeral range %u-%u (%u ports)", b, p->title, e, p->lo, p->hi,
           ep_advice_os_ports(os));
    if (p->high_lo)
        printf(", high range %u-%u", p->high_lo, p->high_hi);
    printf(", TIME_WAIT %g s\n", p->time_wait_ms / 1000.0);
    ep_advise_print_rate("  sustainable", ep_advice_os_ports(os), p->time_wait_ms);
    printf("  range: %s\n  TIME_WAIT: %s\n", p->range_setting, p->tw_setting);

    for (size_t i = 0; i < os->n_items; i++) {
        const ep_advice_item *it = &os->items[i];
        printf("\n%s%s%s", b, it->topic, e);
        if (it->setting[0] != '(')
            printf(" - %s", it->setting);
        if (it->default_value)
            printf(" (default: %s)", it->default_value);
        putchar('\n');
        ep_advise_wrap(it->why, 4, 78);
        if (it->inspect)
            printf("    inspect: %s\n", it->inspect);
        if (it->change)
            printf("    change:  %s\n", it->change);
        if (it->persist)
            printf("    persist: %s\n", it->persist);
    }
}

static void ep_advise_print_i64(const char *label, int64_t v, const char *unit)
{
    if (v == EP_HOST_UNKNOWN)
        printf("  %-24s unknown (see notes)\n", label);
    else
        printf("  %-24s %lld%s\n", label, (long long)v, unit);
}

static const char *ep_advise_tw_reuse_meaning(int64_t v)
{
    switch (v) {
    case 0: return " (off)";
    case 1: return " (on for every destination)";
    case 2: return " (loopback connections only)";
    default: return "";
    }
}

/* "tcp 10.0.0.1 -> 10.0.0.9:443" into buf. */
static void ep_advise_dest_text(const ep_host_dest *d, char *buf, size_t len)
{
    char l[EP_ADDR_STRLEN] = "?", r[EP_ADDR_STRLEN] = "?";
    ep_addr_format(&d->local, l, sizeof l);
    ep_addr_format(&d->remote, r, sizeof r);
    snprintf(buf, len, "%s %s -> %s%s%s:%u", d->proto == EP_PROTO_UDP ? "udp" : "tcp", l,
             d->remote.family == AF_INET6 ? "[" : "", r, d->remote.family == AF_INET6 ? "]" : "",
             d->remote_port);
}

static void ep_advise_text_host(const ep_host_snapshot *snap, bool color)
{
    const ep_host_settings *s = ep_host_snapshot_settings(snap);
    const ep_host_totals *t = ep_host_snapshot_totals(snap);
    const ep_host_advice *adv;
    const char *const *notes;
    const char *ns = ep_host_snapshot_netns(snap);
    const char *b = color ? "\033[1m" : "", *e = color ? "\033[0m" : "";
    size_t nadv, nnotes;

    printf("\n%sThis host%s (network namespace: %s)\n", b, e, ns ? ns : "this process's");
    if (s->port_lo == EP_HOST_UNKNOWN || s->port_hi == EP_HOST_UNKNOWN)
        printf("  %-24s unknown (see notes)\n", "ip_local_port_range");
    else
        printf("  %-24s %lld %lld\n", "ip_local_port_range", (long long)s->port_lo,
               (long long)s->port_hi);
    printf("  %-24s %s\n", "ip_local_reserved_ports",
           !s->reserved_text ? "unknown (see notes)" : s->reserved_text[0] ? s->reserved_text
                                                                            : "(none)");
    ep_advise_print_i64("effective ports", s->effective_ports, "");
    if (s->tw_reuse == EP_HOST_UNKNOWN)
        ep_advise_print_i64("tcp_tw_reuse", s->tw_reuse, "");
    else
        printf("  %-24s %lld%s\n", "tcp_tw_reuse", (long long)s->tw_reuse,
               ep_advise_tw_reuse_meaning(s->tw_reuse));
    if (s->tw_reuse_delay_ms != EP_HOST_UNKNOWN)
        ep_advise_print_i64("tcp_tw_reuse_delay", s->tw_reuse_delay_ms, " ms");
    ep_advise_print_i64("tcp_fin_timeout", s->fin_timeout_s, " s (FIN_WAIT_2, not TIME_WAIT)");
    ep_advise_print_i64("tcp_max_tw_buckets", s->max_tw_buckets, "");
    if (s->conntrack_count == EP_HOST_UNKNOWN || s->conntrack_max == EP_HOST_UNKNOWN)
        printf("  %-24s not available (see notes)\n", "nf_conntrack");
    else
        printf("  %-24s %lld of %lld\n", "nf_conntrack", (long long)s->conntrack_count,
               (long long)s->conntrack_max);
    printf("  %-24s %llu in the range (TCP), %lld in the namespace\n", "TIME_WAIT now",
           (unsigned long long)t->tcp[EP_HOST_TIME_WAIT], (long long)t->sockstat_tcp_tw);
    if (s->effective_ports != EP_HOST_UNKNOWN && s->time_wait_s > 0)
        /* this host is Linux: TIME_WAIT as its kernel keeps it (capacity.h) */
        ep_advise_print_rate("  sustainable", (uint32_t)s->effective_ports,
                             (uint32_t)(ep_linux_time_wait_upper(EP_SEC(s->time_wait_s)) /
                                        EP_NSEC_PER_MSEC));

    adv = ep_host_snapshot_advice(snap, &nadv);
    printf("\n%sRecommendations from the live data%s\n", b, e);
    if (nadv == 0)
        printf("  none: no destination is short of ports and the settings raise no warning\n");
    for (size_t i = 0; i < nadv; i++) {
        const ep_host_advice *a = &adv[i];
        char dest[160];
        printf("  [%s] %s: ", ep_host_severity_name(a->severity), a->code);
        ep_advise_wrap(a->message, 0, 1000);
        if (a->dest) {
            ep_advise_dest_text(a->dest, dest, sizeof dest);
            printf("    destination: %s\n", dest);
        }
        if (a->headroom_pct >= 0)
            printf("    headroom: %.1f %%\n", a->headroom_pct);
        if (a->sustainable_rate >= 0)
            printf("    sustainable: %.0f new connections/s per destination\n",
                   floor(a->sustainable_rate));
        if (a->remedy)
            printf("    remedy: %s\n", a->remedy);
    }

    notes = ep_host_snapshot_notes(snap, &nnotes);
    if (nnotes) {
        printf("\n%sCould not read%s\n", b, e);
        for (size_t i = 0; i < nnotes; i++)
            printf("  %s\n", notes[i]);
    }
}

/* ---- JSON output ---------------------------------------------------- */

static json_t *ep_advise_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *ep_advise_range_json(uint32_t lo, uint32_t hi)
{
    return json_pack("{s:I, s:I, s:I}", "lo", (json_int_t)lo, "hi", (json_int_t)hi, "ports",
                     (json_int_t)(hi - lo + 1));
}

static json_t *ep_advise_os_json(const ep_advice_os *os)
{
    const ep_profile *p = ep_advice_os_profile(os);
    json_t *o, *items;

    o = json_pack("{s:s, s:s, s:o, s:f, s:f, s:s, s:s, s:s}", "os", os->name, "title", p->title,
                  "range", ep_advise_range_json(p->lo, p->hi), "time_wait_seconds",
                  p->time_wait_ms / 1000.0, "sustainable_rate_per_destination",
                  ep_advice_sustainable_rate(ep_advice_os_ports(os), p->time_wait_ms),
                  "range_setting", p->range_setting, "time_wait_setting", p->tw_setting,
                  "source", p->source);
    if (!o)
        return NULL;
    if (p->high_lo &&
        json_object_set_new(o, "high_range", ep_advise_range_json(p->high_lo, p->high_hi)) != 0)
        goto fail;
    items = json_array();
    if (!items || json_object_set_new(o, "settings", items) != 0)
        goto fail;
    for (size_t i = 0; i < os->n_items; i++) {
        const ep_advice_item *it = &os->items[i];
        json_t *j = json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o}", "topic", it->topic,
                              "setting", it->setting, "default",
                              ep_advise_str_or_null(it->default_value), "why", it->why,
                              "inspect", ep_advise_str_or_null(it->inspect), "change",
                              ep_advise_str_or_null(it->change), "persist",
                              ep_advise_str_or_null(it->persist));
        if (!j || json_array_append_new(items, j) != 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* The live part: the same "settings", "advice" and "notes" objects as
 * `ephport status --json` (host-json.c), so the two schemas cannot drift. */
static json_t *ep_advise_host_json(const ep_host_snapshot *snap)
{
    json_t *status = ep_host_snapshot_to_json(snap), *o;
    const char *ns = ep_host_snapshot_netns(snap);

    if (!status)
        return NULL;
    o = json_pack("{s:o, s:O, s:O, s:O}", "netns", ns ? json_string(ns) : json_null(),
                  "settings", json_object_get(status, "settings"), "recommendations",
                  json_object_get(status, "advice"), "notes", json_object_get(status, "notes"));
    json_decref(status);
    return o;
}

/* ---- the command ---------------------------------------------------- */

static int ep_advise_parse(int argc, char **argv, struct ep_advise_opts *o)
{
    static const struct option opts[] = {
        { "os", required_argument, NULL, 'o' },
        { "generic", no_argument, NULL, 'g' },
        { "netns", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool generic = false;
    int c;

    memset(o, 0, sizeof *o);
    o->os = EP_ADVISE_DEFAULT_OS;
    while ((c = getopt_long(argc, argv, "o:gn:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o->os = optarg;
            break;
        case 'g':
            generic = true;
            break;
        case 'n':
            o->netns = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            ep_advise_usage(stdout);
            return -1;
        default:
            ep_advise_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ep_cli_error("advise", "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    if (!o->os) {
        ep_cli_error("advise", "this is not Linux: choose an OS with --os "
                               "linux|windows|macos|freebsd");
        return EP_EXIT_USAGE;
    }
    if (!ep_advice_os_find(o->os)) {
        ep_cli_error("advise", "unknown OS '%s' (expected linux, windows, macos or freebsd)",
                     o->os);
        return EP_EXIT_USAGE;
    }
#ifdef __linux__
    o->live = strcmp(o->os, "linux") == 0 && !generic;
#endif
    if (o->netns && !o->live) {
        ep_cli_error("advise", "--netns reads a Linux host: it needs --os linux without "
                               "--generic");
        return EP_EXIT_USAGE;
    }
    return 0;
}

int ep_cmd_advise(int argc, char **argv)
{
    struct ep_advise_opts o;
    const ep_advice_os *os;
    ep_host_snapshot *snap = NULL;
    int rc = ep_advise_parse(argc, argv, &o);

    if (rc != 0)
        return rc < 0 ? EP_EXIT_OK : rc;
    os = ep_advice_os_find(o.os);

    if (o.live) {
        ep_host_options hopts;
        ep_host_options_init(&hopts);
        hopts.netns = o.netns;
        hopts.top = 10;
        rc = ep_host_snapshot_take(&hopts, &snap);
        if (rc < 0) {
            if (o.netns)
                ep_cli_error("advise", "cannot read network namespace '%s': %s", o.netns,
                             strerror(-rc));
            else
                ep_cli_error("advise", "cannot read this host: %s", strerror(-rc));
            return EP_EXIT_FAILURE;
        }
    }

    if (o.json) {
        json_t *j = ep_advise_os_json(os);
        if (j && snap && json_object_set_new(j, "host", ep_advise_host_json(snap)) != 0) {
            json_decref(j);
            j = NULL;
        }
        if (snap)
            ep_host_snapshot_free(snap);
        return ep_cli_print_json(j);
    }

    bool color = ep_cli_use_color(stdout);
    ep_advise_text_os(os, color);
    if (snap)
    if (snap) {
        ep_advise_text_host(snap, color);
        ep_host_snapshot_free(snap);
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? EP_EXIT_OK : EP_EXIT_FAILURE;
}
