/* check-snat.c - `ephport check --snat`: the monitoring-plugin check of the
 * source NAT unit (translated address, protocol, destination address and
 * port) with the least headroom, read by libephport-host's ep_snat_take():
 *
 *   EPHPORT CRITICAL - SNAT 198.51.100.1 -> 198.51.100.2:80/tcp 100% used (0 free) | used=10;@8:;@9.5:;0;10 free=0;;;0;10 insert_failed=3c units=3
 *
 * Conntrack that cannot be read (unprivileged, no nf_conntrack) is
 * UNKNOWN, never OK; no translated flow at all is OK with units=0. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/snat.h>

#include "check-snat.h"

static const char *const ep_cs_words[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

/* warn (hundredths of a per cent) of ports, exactly: "8", "9.5". */
static void ep_cs_threshold(long pct100, int64_t ports, char *buf, size_t len)
{
    long long x = (long long)pct100 * ports; /* in 1/10000 of a port */
    long long whole = x / 10000, frac = x % 10000;
    int digits = 4;
    if (!frac) {
        snprintf(buf, len, "%lld", whole);
        return;
    }
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    snprintf(buf, len, "%lld.%0*lld", whole, digits, frac);
}

static int ep_cs_level(const ep_snat_unit *u, long warn, long crit, long min_free)
{
    long long used100 = (long long)(u->ports - u->free) * 10000;
    if (u->free < 0 || u->ports <= 0)
        return 3;
    if (used100 >= (long long)crit * u->ports || (min_free >= 0 && u->free < min_free))
        return 2;
    if (used100 >= (long long)warn * u->ports)
        return 1;
    return 0;
}

int ep_check_snat(const char *netns, long warn, long crit, long min_free)
{
    ep_snat_options o;
    ep_snat *s;
    const ep_snat_unit *u, *worst = NULL;
    const ep_snat_stats *st;
    size_t n, total;
    int rc, level = 0;

    ep_snat_options_init(&o);
    o.netns = netns;
    rc = ep_snat_take(&o, &s);
    if (rc < 0) {
        printf("EPHPORT UNKNOWN - cannot read %s: %s\n", netns ? netns : "this namespace",
               ep_host_strerror(rc));
        return 3;
    }
    if (!ep_snat_source(s)) {
        size_t nn;
        const char *const *notes = ep_snat_notes(s, &nn);
        printf("EPHPORT UNKNOWN - SNAT: conntrack could not be read: %s\n",
               nn ? notes[nn - 1] : "unknown reason");
        ep_snat_free(s);
        return 3;
    }
    u = ep_snat_units(s, &n, &total);
    for (size_t i = 0; i < n; i++) {
        int l = ep_cs_level(&u[i], warn, crit, min_free);
        if (!worst || l > level) {
            worst = &u[i];
            level = l;
        }
    }
    st = ep_snat_statistics(s);
    if (!worst) {
        printf("EPHPORT OK - SNAT: no translated flows | units=0");
    } else {
        char nat[EP_ADDR_STRLEN], dst[EP_ADDR_STRLEN], wt[32], ct[32];
        ep_addr_format(&worst->nat_addr, nat, sizeof nat);
        ep_addr_format(&worst->dst, dst, sizeof dst);
        ep_cs_threshold(warn, worst->ports, wt, sizeof wt);
        ep_cs_threshold(crit, worst->ports, ct, sizeof ct);
        printf("EPHPORT %s - SNAT %s -> %s%s%s:%u/%s %.0f%% used (%lld free%s)",
               ep_cs_words[level], nat, worst->dst.family == AF_INET6 ? "[" : "", dst,
               worst->dst.family == AF_INET6 ? "]" : "", worst->dst_port,
               worst->proto == 6 ? "tcp" : worst->proto == 17 ? "udp" : "other",
               100.0 * (double)(worst->ports - worst->free) / (double)worst->ports,
               (long long)worst->free,
               strcmp(worst->range_from, "rule") ? ", range not from a rule" : "");
        char mf[24] = "";
        if (min_free >= 0)
            snprintf(mf, sizeof mf, "%ld:", min_free);
        printf(" | used=%lld;@%s:;@%s:;0;%lld free=%lld;;%s;0;%lld units=%zu",
               (long long)(worst->ports - worst->free), wt, ct, (long long)worst->ports,
               (long long)worst->free, mf, (long long)worst->ports, total);
    }
    if (st->insert_failed >= 0)
        printf(" insert_failed=%lldc drop=%lldc", (long long)st->insert_failed,
               (long long)st->drop);
    printf("\n");
    ep_snat_free(s);
    return fflush(stdout) == 0 ? level : 3;
}
