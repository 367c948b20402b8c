/* trace-totals.c - per-destination totals of `ephport exporter --trace`.
 *
 * The tracer reports differences per interval (one per scrape); Prometheus
 * counters must only grow, so they are summed here, per destination
 * (namespace, protocol, local, remote, remote port), since the exporter
 * started.  Memory follows the destinations seen, at most the tracer's own
 * bound (EP_TRACE_MAX_DESTS in the kernel map).  Cardinality of the output
 * is bounded like the exporter's gauges: the top N destinations by total
 * attempts, and only those with at least --min-count attempts; a
 * destination that drops out of the top N and comes back keeps its total,
 * so its counter never goes down. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace-totals.h"

struct ep_tt_entry {
    ep_trace_dest d;       /* identity, and totals in the count fields */
};

struct ep_trace_totals {
    struct ep_tt_entry *v;
    size_t n, cap;
    uint64_t lost_events, lost_counts, lost_calls;
};

ep_trace_totals *ep_trace_totals_new(void)
{
    return calloc(1, sizeof(ep_trace_totals));
}

void ep_trace_totals_free(ep_trace_totals *t)
{
    if (!t)
        return;
    free(t->v);
    free(t);
}

/* Entries are sorted by identity; a scrape finds each destination that
 * moved by binary search and sorts again only when new ones came. */
static int ep_tt_cmp(const void *pa, const void *pb)
{
    const ep_trace_dest *a = pa, *b = pb;
    int c;
    if (a->netns != b->netns)
        return a->netns < b->netns ? -1 : 1;
    if (a->proto != b->proto)
        return a->proto < b->proto ? -1 : 1;
    if (a->remote_port != b->remote_port)
        return a->remote_port < b->remote_port ? -1 : 1;
    if ((c = memcmp(&a->local, &b->local, sizeof a->local)) != 0)
        return c;
    return memcmp(&a->remote, &b->remote, sizeof a->remote);
}

static struct ep_tt_entry *ep_tt_find(ep_trace_totals *t, const ep_trace_dest *d)
{
    return t->n ? bsearch(d, t->v, t->n, sizeof *t->v, ep_tt_cmp) : NULL;
}

int ep_trace_totals_add(ep_trace_totals *t, const ep_trace_interval *iv)
{
    size_t fresh = 0;

    for (size_t i = 0; i < iv->ndests; i++)
        fresh += ep_tt_find(t, &iv->dests[i]) == NULL;
    if (t->n + fresh > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < t->n + fresh)
            cap *= 2;
        struct ep_tt_entry *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    size_t sorted = t->n;
    for (size_t i = 0; i < iv->ndests; i++) {
        const ep_trace_dest *d = &iv->dests[i];
        struct ep_tt_entry *e = sorted ? bsearch(d, t->v, sorted, sizeof *t->v, ep_tt_cmp) : NULL;
        if (!e) {
            /* An interval lists each destination once: no duplicate here. */
            e = &t->v[t->n++];
            e->d = *d;
            continue;
        }
        e->d.attempts += d->attempts;
        e->d.successes += d->successes;
        e->d.eaddrnotavail += d->eaddrnotavail;
        e->d.eagain += d->eagain;
        e->d.eaddrinuse += d->eaddrinuse;
        e->d.other += d->other;
        if (e->d.timewait >= 0 && d->timewait >= 0)
            e->d.timewait += d->timewait;
    }
    if (t->n > sorted)
        qsort(t->v, t->n, sizeof *t->v, ep_tt_cmp);
    t->lost_events += iv->lost_events;
    t->lost_counts += iv->lost_counts;
    t->lost_calls += iv->lost_calls;
    return 0;
}

static int ep_tt_order(const void *pa, const void *pb)
{
    const ep_trace_dest *a = *(const ep_trace_dest *const *)pa;
    const ep_trace_dest *b = *(const ep_trace_dest *const *)pb;
    if (a->attempts != b->attempts)
        return a->attempts > b->attempts ? -1 : 1;
    return 0;
}

struct ep_tt_labeller {
    ep_trace_totals_labels_fn fn;
    void *arg;
};

static void ep_tt_labels(ep_strbuf *b, const char *name, const ep_trace_dest *d,
                         const struct ep_tt_labeller *ns)
{
    char local[EP_ADDR_STRLEN], remote[EP_ADDR_STRLEN];
    if (ep_addr_format(&d->local, local, sizeof local) != 0)
        snprintf(local, sizeof local, "*");
    if (ep_addr_format(&d->remote, remote, sizeof remote) != 0)
        snprintf(remote, sizeof remote, "*");
    ep_strbuf_printf(b, "%s{", name);
    if (ns->fn) {
        const char *l = ns->fn(d->netns, ns->arg);
        if (l)
            ep_strbuf_printf(b, "%s,", l);
        else
            ep_strbuf_printf(b, "netns=\"%" PRIu32 "\",namespace=\"\",container=\"\",pod=\"\",",
                             d->netns);
    }
    /* Addresses from ep_addr_format hold no character that needs escaping. */
    ep_strbuf_printf(b, "proto=\"%s\",local=\"%s\",remote=\"%s\",remote_port=\"%u\"",
                     d->proto == 6 ? "tcp" : d->proto == 17 ? "udp" : "other", local, remote,
                     d->remote_port);
}

void ep_trace_totals_render(const ep_trace_totals *t, size_t top, uint64_t min_count,
                            ep_trace_totals_labels_fn labels, void *arg, ep_strbuf *b)
{
    const struct ep_tt_labeller ns = { labels, arg };
    static const char *const reasons[] = { "EADDRNOTAVAIL", "EAGAIN", "EADDRINUSE", "other" };
    const ep_trace_dest **order = NULL;
    size_t n = 0;

    if (t->n) {
        order = malloc(t->n * sizeof *order);
        if (!order) {
            b->failed = true;
            return;
        }
    }
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].d.attempts >= min_count && t->v[i].d.attempts > 0)
            order[n++] = &t->v[i].d;
    if (n > 1)
        qsort(order, n, sizeof *order, ep_tt_order);
    if (n > top)
        n = top;
    ep_strbuf_puts(b, "# HELP ephport_connect_attempts_total connect() calls and autobinding "
                      "UDP sends per destination since the exporter started (eBPF)\n"
                      "# TYPE ephport_connect_attempts_total counter\n");
    for (size_t i = 0; i < n; i++) {
        ep_tt_labels(b, "ephport_connect_attempts_total", order[i], &ns);
        ep_strbuf_printf(b, "} %llu\n", (unsigned long long)order[i]->attempts);
    }
    ep_strbuf_puts(b, "# HELP ephport_connect_failures_total those calls that failed, by "
                      "errno (EADDRNOTAVAIL, EAGAIN, EADDRINUSE: no port; other)\n"
                      "# TYPE ephport_connect_failures_total counter\n");
    for (size_t i = 0; i < n; i++) {
        const uint64_t v[4] = { order[i]->eaddrnotavail, order[i]->eagain, order[i]->eaddrinuse,
                                order[i]->other };
        for (int r = 0; r < 4; r++) {
            ep_tt_labels(b, "ephport_connect_failures_total", order[i], &ns);
            ep_strbuf_printf(b, ",reason=\"%s\"} %llu\n", reasons[r], (unsigned long long)v[r]);
        }
    }
    ep_strbuf_printf(b, "# HELP ephport_trace_lost_total what the tracer's fixed kernel buffers "
                        "could not hold: failure events, counts, calls in flight\n"
                        "# TYPE ephport_trace_lost_total counter\n"
                        "ephport_trace_lost_total{what=\"events\"} %llu\n"
                        "ephport_trace_lost_total{what=\"counts\"} %llu\n"
                        "ephport_trace_lost_total{what=\"calls\"} %llu\n",
                     (unsigned long long)t->lost_events, (unsigned long long)t->lost_counts,
                     (unsigned long long)t->lost_calls);
    free(order);
}
