/* status-node.c - `ephport status --all-namespaces` as text: the node's
 * namespaces (who each is, its range, sockets, its worst headroom, or why
 * it could not be read), one table of the destinations under most pressure
 * across all of them with a namespace column, then each namespace's
 * warnings and notes under its name.  The reading is libephport-host's
 * (ephport/node.h); this file only presents. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "status-node.h"

static void ep_node_free_text(const ep_host_dest *d, char *buf, size_t len)
{
    if (d->free == EP_HOST_UNKNOWN)
        snprintf(buf, len, "unknown");
    else if (d->free_max != d->free)
        snprintf(buf, len, "%lld-%lld", (long long)d->free, (long long)d->free_max);
    else
        snprintf(buf, len, "%lld", (long long)d->free);
}

static void ep_node_namespaces(const ep_host_node *node, const char *bold, const char *off)
{
    printf("%s  %-24s %-12s %7s %-13s %7s %6s %8s%s\n", bold, "NAMESPACE", "INODE", "PID",
           "RANGE", "SOCKETS", "DESTS", "WORST", off);
    for (size_t i = 0; i < ep_host_node_count(node); i++) {
        const ep_host_netns_info *ns = ep_host_node_netns(node, i);
        const char *why;
        const ep_host_snapshot *s = ep_host_node_snapshot(node, i, &why);
        char pid[16] = "-", range[32] = "unknown", worst[16] = "-";
        size_t nd, total;
        const ep_host_dest *d;

        if (ns->pid)
            snprintf(pid, sizeof pid, "%d", ns->pid);
        if (!s) {
            printf("  %-24.24s %-12llu %7s %s\n", ns->label, (unsigned long long)ns->inode, pid,
                   why ? why : "could not be read");
            continue;
        }
        const ep_host_settings *st = ep_host_snapshot_settings(s);
        const ep_host_totals *t = ep_host_snapshot_totals(s);
        if (st->port_lo != EP_HOST_UNKNOWN)
            snprintf(range, sizeof range, "%lld-%lld", (long long)st->port_lo,
                     (long long)st->port_hi);
        d = ep_host_snapshot_dests(s, &nd, &total);
        if (nd && d[0].headroom_pct >= 0)
            snprintf(worst, sizeof worst, "%.1f%%", d[0].headroom_pct);
        else if (nd)
            snprintf(worst, sizeof worst, "unknown");
        printf("  %-24.24s %-12llu %7s %-13s %7llu %6zu %8s\n", ns->label,
               (unsigned long long)ns->inode, pid, range,
               (unsigned long long)(t->tcp_all + t->udp_all), total, worst);
        if (ns->container || ns->pod_uid)
            printf("  %-24s   %s%s%s%s%s\n", "", ns->container ? "container " : "",
                   ns->container ? ns->container : "", ns->container && ns->pod_uid ? ", " : "",
                   ns->pod_uid ? "pod " : "", ns->pod_uid ? ns->pod_uid : "");
    }
}

static void ep_node_dests(const ep_host_node *node, bool color, const char *bold, const char *off)
{
    size_t n, total;
    const ep_host_node_dest *nd = ep_host_node_dests(node, &n, &total);

    printf("\n%sDestinations across the node%s (%zu of %zu, by pressure)\n", bold, off, n, total);
    if (n == 0) {
        printf("  none: no connection uses a port of its namespace's range\n");
        return;
    }
    printf("%s  %-20s %-5s %-40s %-24s %7s %7s %9s %6s %7s %8s%s\n", bold, "NAMESPACE", "PROTO",
           "DESTINATION", "LOCAL", "USED", "ESTAB", "TIME_WAIT", "OTHER", "FREE", "HEADROOM", off);
    for (size_t i = 0; i < n; i++) {
        const ep_host_dest *d = nd[i].dest;
        char r[EP_ADDR_STRLEN], l[EP_ADDR_STRLEN], dest[64], fr[24], hr[16];
        const char *warn = "", *woff = "";
        ep_addr_format(&d->remote, r, sizeof r);
        ep_addr_format(&d->local, l, sizeof l);
        snprintf(dest, sizeof dest, d->remote.family == AF_INET6 ? "[%s]:%u" : "%s:%u", r,
                 d->remote_port);
        ep_node_free_text(d, fr, sizeof fr);
        if (d->headroom_pct < 0)
            snprintf(hr, sizeof hr, "unknown");
        else
            snprintf(hr, sizeof hr, "%.1f%%", d->headroom_pct);
        if (color && d->headroom_pct >= 0 && d->headroom_pct < 20) {
            warn = d->headroom_pct < 5 ? "\033[31m" : "\033[33m";
            woff = "\033[0m";
        }
        printf("%s  %-20.20s %-5s %-40s %-24s %7u %7u %9u %6u %7s %8s%s\n", warn,
               ep_host_node_netns(node, nd[i].netns)->label, d->proto == 6 ? "tcp" : "udp",
               dest, l, d->used, d->established, d->time_wait, d->other, fr, hr, woff);
    }
}

/* Warnings and notes of every namespace read, each under its label. */
static void ep_node_tail(const ep_host_node *node, bool color, const char *bold, const char *off)
{
    bool header = false;

    for (size_t i = 0; i < ep_host_node_count(node); i++) {
        const ep_host_snapshot *s = ep_host_node_snapshot(node, i, NULL);
        size_t na = 0, nn = 0;
        const ep_host_advice *a = s ? ep_host_snapshot_advice(s, &na) : NULL;
        const char *const *notes = s ? ep_host_snapshot_notes(s, &nn) : NULL;
        if (!na && !nn)
            continue;
        if (!header)
            printf("\n%sWarnings, advice and notes per namespace%s\n", bold, off);
        header = true;
        printf("  %s:\n", ep_host_node_netns(node, i)->label);
        for (size_t k = 0; k < na; k++) {
            const char *col = !color ? ""
                              : a[k].severity == EP_HOST_CRITICAL ? "\033[31m"
                              : a[k].severity == EP_HOST_WARNING ? "\033[33m" : "";
            printf("    %s%-8s%s %s\n", col, ep_host_severity_name(a[k].severity),
                   color ? "\033[0m" : "", a[k].message ? a[k].message : "");
            if (a[k].remedy)
                printf("             remedy: %s\n", a[k].remedy);
        }
        for (size_t k = 0; k < nn; k++)
            printf("    could not read: %s\n", notes[k]);
    }
}

void ep_status_node_print(const ep_host_node *node, bool color)
{
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
    size_t un = ep_host_node_unreadable(node), nn = 0;
    const char *const *notes = ep_host_node_notes(node, &nn);

    printf("%sNode%s: %zu network namespaces", bold, off, ep_host_node_count(node));
    if (un)
        printf(", %zu could not be read (shown with the reason, not as zeros)", un);
    printf("\n");
    for (size_t k = 0; k < nn; k++)
        printf("  note: %s\n", notes[k]);
    printf("\n");
    ep_node_namespaces(node, bold, off);
    ep_node_dests(node, color, bold, off);
    ep_node_tail(node, color, bold, off);
}
