/* advice.c - warnings with concrete advice, computed from a snapshot.
 *
 * Each piece of advice names the problem with live numbers and the exact
 * change: the sysctl line to widen the range or turn on tcp_tw_reuse,
 * IP_BIND_ADDRESS_NO_PORT instead of bind-before-connect, keep-alive and
 * pooling, more source addresses, ports to reserve.  The sustainable rate
 * of new connections towards one destination is effective ports / TIME_WAIT
 * as the kernel keeps it (up to 65.12 s: 28,232 / 65.12 = about 433/s with
 * Linux defaults), or / the reuse delay when tcp_tw_reuse applies to that
 * destination; both rules come from ephport/capacity.h. */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/capacity.h>

#include "host-internal.h"

static ep_host_advice *ep_host_advice_add(ep_host_snapshot *s, ep_host_severity sev,
                                          const char *code)
{
    ep_host_advice *a;
    if (s->nadvice == s->cap_advice) {
        size_t cap = s->cap_advice ? s->cap_advice * 2 : 8;
        ep_host_advice *na = realloc(s->advice, cap * sizeof *na);
        if (!na) {
            s->oom = 1;
            return NULL;
        }
        s->advice = na;
        s->cap_advice = cap;
    }
    a = &s->advice[s->nadvice++];
    memset(a, 0, sizeof *a);
    a->severity = sev;
    a->code = code;
    a->headroom_pct = -1;
    a->sustainable_rate = -1;
    return a;
}

/* Whether tcp_tw_reuse lets connect() take a TIME_WAIT port towards d: the
 * kernel's rule, from capacity.c (2 = either end loopback). */
static bool ep_host_reuse_applies(const ep_host_settings *st, const ep_host_dest *d)
{
    if (d->proto != 6 || st->tw_reuse == EP_HOST_UNKNOWN)
        return false;
    return ep_linux_tw_reuse_applies((int)st->tw_reuse, &d->local, &d->remote);
}

/* New connections/s one destination sustains on the mean: effective ports
 * over the time a closed port stays blocked, TIME_WAIT as the kernel keeps it
 * (ep_linux_time_wait_upper) or tcp_tw_reuse_delay where reuse applies. */
static double ep_host_rate(const ep_host_settings *st, const ep_host_dest *d)
{
    double wait = ep_linux_time_wait_upper(EP_SEC(EP_HOST_TIME_WAIT_SECONDS)) / 1e9;
    double delay = st->tw_reuse_delay_ms > 0 ? (double)st->tw_reuse_delay_ms / 1000.0 : 1.0;
    if (st->effective_ports <= 0)
        return -1;
    if (d && d->proto == 17)
        return -1; /* UDP has no TIME_WAIT: the rate is bounded by lifetime */
    return ep_capacity_sustainable_rate(
        (double)st->effective_ports,
        ep_capacity_block_time(0, wait, d && ep_host_reuse_applies(st, d), delay));
}

/* A sustainable rate as the faces print it: truncated, never rounded up
 * ("at most 16", not 17, for 16.9): one decimal below 10, none above.
 * top's header (src/cli/top-print.c) and status print it the same way. */
static double ep_host_rate_shown(double rate)
{
    return rate < 10 ? floor(rate * 10) / 10 : floor(rate);
}

static void ep_host_dest_name(const ep_host_dest *d, char *buf, size_t len)
{
    char r[EP_ADDR_STRLEN], l[EP_ADDR_STRLEN];
    if (ep_addr_format(&d->remote, r, sizeof r) < 0)
        snprintf(r, sizeof r, "?");
    if (ep_addr_format(&d->local, l, sizeof l) < 0)
        snprintf(l, sizeof l, "?");
    snprintf(buf, len, d->remote.family == AF_INET6 ? "[%s]:%u/%s from %s" : "%s:%u/%s from %s",
             r, d->remote_port, d->proto == 6 ? "tcp" : "udp", l);
}

static void ep_host_advise_dest(ep_host_snapshot *s, const ep_host_dest *d, double warn,
                                double crit)
{
    const ep_host_settings *st = &s->settings;
    double used_pct = 100.0 - d->headroom_pct;
    char name[160], remedy[1400];
    size_t n = 0;
    ep_host_advice *a;

    if (d->headroom_pct < 0 || used_pct < warn)
        return;
    a = ep_host_advice_add(s, used_pct >= crit ? EP_HOST_CRITICAL : EP_HOST_WARNING,
                           "dest-pressure");
    if (!a)
        return;
    ep_host_dest_name(d, name, sizeof name);
    a->dest = d;
    a->headroom_pct = d->headroom_pct;
    a->sustainable_rate = ep_host_rate(st, d);
    if (d->proto == 6)
        a->message = ep_host_strf(s, "%s: %.0f%% of %lld ports taken (%lld free, %u in "
                                  "TIME_WAIT); sustainable rate %.*f new connections/s",
                                  name, used_pct, (long long)st->effective_ports,
                                  (long long)d->free, d->time_wait,
                                  a->sustainable_rate < 10 ? 1 : 0,
                                  ep_host_rate_shown(a->sustainable_rate));
    else
        a->message = ep_host_strf(s, "%s: %.0f%% of %lld UDP ports taken (%lld free)", name,
                                  used_pct, (long long)st->effective_ports, (long long)d->free);
#define EP_ADD(...) \
    (n += (size_t)snprintf(remedy + n, n < sizeof remedy ? sizeof remedy - n : 0, __VA_ARGS__))
    if (st->port_lo > 1024 || st->port_hi < 65535)
        EP_ADD("widen the range (reserve listening ports first): "
               "sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"; ");
    if (d->proto == 6 && d->time_wait * 2 >= d->used && !ep_host_reuse_applies(st, d))
        EP_ADD("let connect() reuse TIME_WAIT ports towards this destination: "
               "sysctl -w net.ipv4.tcp_tw_reuse=1; ");
    if (d->proto == 6)
        EP_ADD("keep connections alive and pool them instead of one connection per request; ");
    if (s->bound.tcp_bound > 0 && d->proto == 6)
        EP_ADD("set IP_BIND_ADDRESS_NO_PORT before bind(addr, 0) so the port is chosen at "
               "connect() per destination; ");
    if (d->proto == 6)
        EP_ADD("spread connections over more source addresses (each adds %lld ports towards "
               "this destination)", (long long)st->effective_ports);
    else
        EP_ADD("reuse UDP sockets (one per peer, or unconnected sendto()) instead of a new "
               "connected socket per request: UDP ports are not shared between destinations");
#undef EP_ADD
    a->remedy = ep_host_strf(s, "%s", remedy);
}

/* Reserved-set text with extra ports added, for a ready-to-paste line. */
static char *ep_host_reserved_with(ep_host_snapshot *s, const ep_portset *extra, uint16_t lo,
                                   uint16_t hi)
{
    ep_portset *u = malloc(sizeof *u);
    char *text = NULL;
    size_t cap = 1 << 18;
    char *buf;
    if (!u)
        return NULL;
    *u = s->reserved;
    for (uint32_t p = lo; p <= hi; p++)
        if (ep_portset_has(extra, (uint16_t)p))
            ep_portset_add(u, (uint16_t)p);
    buf = malloc(cap);
    if (buf && ep_portset_format(u, buf, cap) >= 0)
        text = ep_host_strf(s, "%s", buf);
    free(buf);
    free(u);
    return text;
}

static void ep_host_advise_listeners(ep_host_snapshot *s)
{
    const ep_host_settings *st = &s->settings;
    ep_portset *open_ports = malloc(sizeof *open_ports);
    uint32_t n;
    char *text;
    ep_host_advice *a;

    if (!open_ports)
        return;
    ep_portset_clear(open_ports);
    for (int64_t p = st->port_lo; p <= st->port_hi; p++)
        if (ep_portset_has(&s->listen_set, (uint16_t)p) &&
            !ep_portset_has(&s->reserved, (uint16_t)p))
            ep_portset_add(open_ports, (uint16_t)p);
    n = ep_portset_count(open_ports, (uint16_t)st->port_lo, (uint16_t)st->port_hi);
    if (n > 0 && (a = ep_host_advice_add(s, EP_HOST_WARNING, "listener-in-range")) != NULL) {
        char list[200];
        if (ep_portset_format(open_ports, list, sizeof list) < 0)
            snprintf(list, sizeof list, "%u ports", n);
        a->message = ep_host_strf(s, "%u listening TCP port(s) lie inside the ephemeral range "
                                  "and are not reserved (%s): a restarting service can find "
                                  "its port taken by an outgoing connection", n, list);
        text = ep_host_reserved_with(s, open_ports, (uint16_t)st->port_lo,
                                     (uint16_t)st->port_hi);
        a->remedy = text ? ep_host_strf(s, "sysctl -w net.ipv4.ip_local_reserved_ports=\"%s\"",
                                        text)
                         : NULL;
    }
    /* Kubernetes NodePorts (30000-32767) inside the range. */
    ep_portset_clear(open_ports);
    for (int64_t p = st->port_lo; p <= st->port_hi; p++)
        if (p >= 30000 && p <= 32767 && !ep_portset_has(&s->reserved, (uint16_t)p))
            ep_portset_add(open_ports, (uint16_t)p);
    n = ep_portset_count(open_ports, (uint16_t)st->port_lo, (uint16_t)st->port_hi);
    if (n > 0 && (a = ep_host_advice_add(s, EP_HOST_INFO, "nodeport-overlap")) != NULL) {
        a->message = ep_host_strf(s, "%u ports of the Kubernetes NodePort range 30000-32767 lie "
                                  "inside the ephemeral range; on a Kubernetes node an "
                                  "outgoing connection can take a NodePort", n);
        text = ep_host_reserved_with(s, open_ports, (uint16_t)st->port_lo,
                                     (uint16_t)st->port_hi);
        a->remedy = text ? ep_host_strf(s, "sysctl -w net.ipv4.ip_local_reserved_ports=\"%s\"",
                                        text)
                         : NULL;
    }
    free(open_ports);
}

/* Most severe first, otherwise in the order computed (stable). */
static void ep_host_advice_sort(ep_host_advice *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        ep_host_advice x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1].severity < x.severity) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

void ep_host_compute_advice(ep_host_snapshot *s, double warn, double crit)
{
    const ep_host_settings *st = &s->settings;
    ep_host_advice *a;

    for (size_t i = 0; i < s->ndests; i++)
        ep_host_advise_dest(s, &s->dests[i], warn, crit);

    if (s->bound.tcp_bound > 0 && (a = ep_host_advice_add(s, EP_HOST_WARNING, "bind-only"))) {
        a->message = ep_host_strf(s, "%llu TCP socket(s) are bound but not connected, holding "
                                  "ports in the ephemeral range; each blocks its port for "
                                  "every destination",
                                  (unsigned long long)s->bound.tcp_bound);
        a->remedy = ep_host_strf(s, "bind(addr, 0) before connect() takes a port for every "
                                 "destination: set IP_BIND_ADDRESS_NO_PORT on the socket before "
                                 "bind(), or do not bind at all");
    }
    if (st->port_lo != EP_HOST_UNKNOWN)
        ep_host_advise_listeners(s);

    for (size_t i = 0; i < s->ncounters; i++) {
        if (strcmp(s->counters[i].name, "TcpExt.TCPTimeWaitOverflow") == 0 &&
            s->counters[i].value > 0 &&
            (a = ep_host_advice_add(s, EP_HOST_WARNING, "tw-overflow")) != NULL) {
            a->message = ep_host_strf(s, "TIME_WAIT overflowed %lld time(s): tcp_max_tw_buckets "
                                      "(%lld) was reached and connections closed without "
                                      "TIME_WAIT protection",
                                      (long long)s->counters[i].value,
                                      (long long)st->max_tw_buckets);
            a->remedy = ep_host_strf(s, "reduce connection churn (keep-alive, pooling), or raise "
                                     "the limit: sysctl -w net.ipv4.tcp_max_tw_buckets=%lld",
                                     st->max_tw_buckets > 0 ? (long long)st->max_tw_buckets * 2
                                                            : 262144LL);
        }
    }
    if (st->conntrack_count >= 0 && st->conntrack_max > 0 &&
        st->conntrack_count * 10 >= st->conntrack_max * 9 &&
        (a = ep_host_advice_add(s, st->conntrack_count >= st->conntrack_max ? EP_HOST_CRITICAL
                                                                            : EP_HOST_WARNING,
                                "conntrack-full"))) {
        a->message = ep_host_strf(s, "the conntrack table is %lld of %lld entries full; new flows "
                                  "are dropped when it is full",
                                  (long long)st->conntrack_count, (long long)st->conntrack_max);
        a->remedy = ep_host_strf(s, "sysctl -w net.netfilter.nf_conntrack_max=%lld",
                                 (long long)st->conntrack_max * 2);
    }
    if (st->effective_ports > 0 && st->effective_ports < 16384 &&
        (a = ep_host_advice_add(s, EP_HOST_INFO, "narrow-range"))) {
        a->sustainable_rate = ep_host_rate(st, NULL);
        a->message = ep_host_strf(s, "only %lld ephemeral ports are usable: at most %.*f new TCP "
                                  "connections/s towards any one destination without "
                                  "tcp_tw_reuse", (long long)st->effective_ports,
                                  a->sustainable_rate < 10 ? 1 : 0,
                                  ep_host_rate_shown(a->sustainable_rate));
        a->remedy = ep_host_strf(s, "sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\" "
                                 "(after reserving listening ports)");
    }
    ep_host_advice_sort(s->advice, s->nadvice);
}
