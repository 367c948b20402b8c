/* metrics-snat.c - `exporter --snat`: per SNAT unit (translated source
 * address, protocol, destination address and port: what runs out in
 * nf_nat) the ports the translation can use, those taken and those free,
 * and the conntrack statistics that count what NAT refused.  Pure, like
 * metrics.c; a value ep_snat_take could not know is left out, never 0. */
#include <stdio.h>

#include "metrics.h"
#include "metrics-snat.h"

static const char *ep_ms_proto(uint8_t p)
{
    switch (p) {
    case 6: return "tcp";
    case 17: return "udp";
    case 132: return "sctp";
    case 33: return "dccp";
    case 136: return "udplite";
    default: return "other";
    }
}

static void ep_ms_labels(ep_strbuf *b, const ep_snat_unit *u)
{
    char a[EP_ADDR_STRLEN], d[EP_ADDR_STRLEN];
    if (ep_addr_format(&u->nat_addr, a, sizeof a) != 0)
        snprintf(a, sizeof a, "?");
    if (ep_addr_format(&u->dst, d, sizeof d) != 0)
        snprintf(d, sizeof d, "?");
    ep_strbuf_printf(b, "{nat_address=\"%s\",proto=\"%s\",remote=\"%s\",remote_port=\"%u\","
                        "zone=\"%u\"}", a, ep_ms_proto(u->proto), d, u->dst_port, u->zone);
}

static void ep_ms_head(ep_strbuf *b, const char *name, const char *type, const char *help)
{
    ep_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family over the units; value < 0 leaves a unit out (unknown). */
static void ep_ms_family(ep_strbuf *b, const ep_snat_unit *u, size_t n, const char *name,
                         const char *help, int64_t (*value)(const ep_snat_unit *))
{
    ep_ms_head(b, name, "gauge", help);
    for (size_t i = 0; i < n; i++) {
        int64_t v = value(&u[i]);
        if (v < 0)
            continue;
        ep_strbuf_puts(b, name);
        ep_ms_labels(b, &u[i]);
        ep_strbuf_printf(b, " %lld\n", (long long)v);
    }
}

static int64_t ep_ms_used(const ep_snat_unit *u) { return u->in_range; }
static int64_t ep_ms_flows(const ep_snat_unit *u) { return u->flows; }
static int64_t ep_ms_ports(const ep_snat_unit *u) { return u->ports; }
static int64_t ep_ms_free(const ep_snat_unit *u) { return u->free; }

static void ep_ms_counter(ep_strbuf *b, const char *name, const char *help, int64_t v)
{
    if (v == EP_HOST_UNKNOWN || v < 0)
        return;
    ep_ms_head(b, name, "counter", help);
    ep_strbuf_printf(b, "%s %lld\n", name, (long long)v);
}

void ep_metrics_render_snat(const ep_snat *s, size_t top, ep_strbuf *b)
{
    const ep_snat_unit *u;
    const ep_snat_stats *st;
    size_t n, total, nnotes = 0;

    ep_ms_head(b, "ephport_snat_up", "gauge",
               "1 if the conntrack table was read for --snat, 0 if not (no other SNAT series "
               "then).");
    ep_strbuf_printf(b, "ephport_snat_up %d\n", s ? 1 : 0);
    if (!s)
        return;
    u = ep_snat_units(s, &n, &total);
    if (top && n > top)
        n = top;
    ep_ms_head(b, "ephport_snat_units", "gauge",
               "SNAT units (translated address, protocol, destination address and port) in the "
               "conntrack table; at most --top are exported, least headroom first.");
    ep_strbuf_printf(b, "ephport_snat_units %zu\n", total);
    ep_ms_family(b, u, n, "ephport_snat_range_ports",
                 "Ports the translation may use towards the destination (the rule's range, "
                 "else the kernel's default).", ep_ms_ports);
    ep_ms_family(b, u, n, "ephport_snat_used_ports",
                 "Ports of that range held by conntrack entries towards the destination "
                 "(translated flows and the box's own).", ep_ms_used);
    ep_ms_family(b, u, n, "ephport_snat_free_ports",
                 "Ports a new translated flow towards the destination can still get; at 0 "
                 "new flows are dropped (insert_failed).", ep_ms_free);
    ep_ms_family(b, u, n, "ephport_snat_flows", "Translated flows in the unit.", ep_ms_flows);
    st = ep_snat_statistics(s);
    if (st) {
        ep_ms_counter(b, "ephport_conntrack_insert_failed_total",
                      "Conntrack entries that could not be inserted (a NAT tuple clash: "
                      "SNAT ports exhausted), summed over CPUs.", st->insert_failed);
        ep_ms_counter(b, "ephport_conntrack_drop_total",
                      "Packets dropped by conntrack (insert failures among them), summed over "
                      "CPUs.", st->drop);
        ep_ms_counter(b, "ephport_conntrack_early_drop_total",
                      "Conntrack entries evicted early because the table was full.",
                      st->early_drop);
        ep_ms_counter(b, "ephport_conntrack_search_restart_total",
                      "Conntrack lookups restarted (table resized under them).",
                      st->search_restart);
    }
    (void)ep_snat_notes(s, &nnotes);
    ep_ms_head(b, "ephport_snat_read_problems", "gauge",
               "Things --snat could not read (see `ephport snat` notes).");
    ep_strbuf_printf(b, "ephport_snat_read_problems %zu\n", nnotes);
}
