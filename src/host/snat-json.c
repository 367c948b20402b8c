/* snat-json.c - ep_snat as JSON (ephport/snat-json.h): what `ephport snat
 * --json` prints.  Unknown numbers are null, never 0; the schema is in
 * doc/ephport-snat.1.scd. */
#include <stdio.h>
#include <sys/socket.h>

#include <ephport/snat-json.h>

static json_t *ep_sj_int(int64_t v)
{
    return v < 0 ? json_null() : json_integer((json_int_t)v);
}

static json_t *ep_sj_addr(const ep_addr *a)
{
    char buf[EP_ADDR_STRLEN];
    if (ep_addr_format(a, buf, sizeof buf) < 0)
        return json_null();
    return json_string(buf);
}

static const char *ep_sj_proto(uint8_t p)
{
    switch (p) {
    case 6: return "tcp";
    case 17: return "udp";
    case 132: return "sctp";
    case 33: return "dccp";
    case 136: return "udplite";
    default: return NULL;
    }
}

json_t *ep_snat_unit_to_json(const ep_snat_unit *u)
{
    const char *p = ep_sj_proto(u->proto);
    return json_pack("{s:o, s:o, s:o, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:[i,i], "
                     "s:s, s:o, s:b}",
                     "nat_address", ep_sj_addr(&u->nat_addr),
                     "protocol", p ? json_string(p) : json_integer(u->proto),
                     "destination", ep_sj_addr(&u->dst),
                     "port", (int)u->dst_port,
                     "zone", (int)u->zone,
                     "used", (json_int_t)u->in_range,
                     "flows", (json_int_t)u->flows,
                     "local", (json_int_t)u->local,
                     "closing", (json_int_t)u->closing,
                     "outside_range", (json_int_t)(u->flows + u->local - u->in_range),
                     "ports", ep_sj_int(u->ports),
                     "free", ep_sj_int(u->free),
                     "headroom_pct", u->headroom_pct < 0 ? json_null() : json_real(u->headroom_pct),
                     "range", (int)u->port_lo, (int)u->port_hi,
                     "range_from", u->range_from,
                     "rule", u->rule < 0 ? json_null() : json_integer(u->rule),
                     "ambiguous", u->ambiguous);
}

static json_t *ep_sj_rule(const ep_snat_rule *r)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:b, s:b, s:b}", "kind", r->kind, "where", r->where,
                          "family", r->family == AF_INET    ? json_string("ipv4")
                                    : r->family == AF_INET6 ? json_string("ipv6")
                                                            : json_null(),
                          "protocol", r->proto ? json_string(ep_sj_proto(r->proto) ?: "other")
                                               : json_null(),
                          "random", r->random, "fully_random", r->fully_random,
                          "persistent", r->persistent);
    if (!o)
        return NULL;
    json_object_set_new(o, "ports", r->has_ports ? json_pack("[i,i]", r->port_lo, r->port_hi)
                                                 : json_null());
    if (r->has_addr)
        json_object_set_new(o, "addresses",
                            json_pack("[o,o]", ep_sj_addr(&r->addr_lo), ep_sj_addr(&r->addr_hi)));
    else
        json_object_set_new(o, "addresses", r->addr_unknown ? json_string("unknown") : json_null());
    return o;
}

json_t *ep_snat_to_json(const ep_snat *s)
{
    const ep_snat_stats *st = ep_snat_statistics(s);
    const ep_snat_unit *u;
    const ep_snat_rule *r;
    const ep_host_advice *adv;
    const char *const *notes;
    size_t n, total, nr, nn, na;
    bool known;
    json_t *o, *units, *rules, *jn, *ja;

    u = ep_snat_units(s, &n, &total);
    r = ep_snat_rules(s, &nr, &known);
    notes = ep_snat_notes(s, &nn);
    adv = ep_snat_advice(s, &na);
    units = json_array();
    rules = json_array();
    jn = json_array();
    ja = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(units, ep_snat_unit_to_json(&u[i]));
    for (size_t i = 0; i < nr; i++)
        json_array_append_new(rules, ep_sj_rule(&r[i]));
    for (size_t i = 0; i < nn; i++)
        json_array_append_new(jn, json_string(notes[i]));
    for (size_t i = 0; i < na; i++)
        json_array_append_new(ja, json_pack("{s:s, s:s, s:s, s:s}", "severity",
                                            ep_host_severity_name(adv[i].severity), "code",
                                            adv[i].code, "message", adv[i].message, "remedy",
                                            adv[i].remedy));
    o = json_pack(
        "{s:o, s:o, s:{s:o, s:o}, s:I, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o},"
        " s:b, s:o, s:o, s:I, s:o, s:o}",
        "netns", ep_snat_netns(s) ? json_string(ep_snat_netns(s)) : json_null(),
        "source", ep_snat_source(s) ? json_string(ep_snat_source(s)) : json_null(),
        "conntrack", "count", ep_sj_int(ep_snat_conntrack_count(s)), "max",
        ep_sj_int(ep_snat_conntrack_max(s)),
        "flows", (json_int_t)ep_snat_flows(s),
        "statistics", "cpus", ep_sj_int(st->ncpu), "found", ep_sj_int(st->found), "invalid",
        ep_sj_int(st->invalid), "insert", ep_sj_int(st->insert), "insert_failed",
        ep_sj_int(st->insert_failed), "drop", ep_sj_int(st->drop), "early_drop",
        ep_sj_int(st->early_drop), "error", ep_sj_int(st->error), "search_restart",
        ep_sj_int(st->search_restart), "clash_resolve", ep_sj_int(st->clash_resolve),
        "chain_toolong", ep_sj_int(st->chain_toolong),
        "rules_known", known, "rules", rules, "units", units, "units_total", (json_int_t)total,
        "notes", jn, "advice", ja);
    return o;
}
