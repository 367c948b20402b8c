/* json.c - an ep_host_snapshot, and a whole node, as JSON built with
 * jansson.  One builder serves `status --json`, `top` and the exporter's
 * tests, so they cannot drift.
 * Unknown values are null, never 0; "notes" says why.  The schema is
 * documented in doc/ephport-status.1.scd. */
#include <sys/socket.h>

#include <ephport/host-json.h>

static json_t *ep_json_i64(int64_t v)
{
    return v == EP_HOST_UNKNOWN ? json_null() : json_integer((json_int_t)v);
}

static json_t *ep_json_pct(double v)
{
    return v < 0 ? json_null() : json_real((double)(int64_t)(v * 100 + 0.5) / 100.0);
}

static json_t *ep_json_addr(const ep_addr *a)
{
    char buf[EP_ADDR_STRLEN];
    if (ep_addr_format(a, buf, sizeof buf) < 0)
        return json_null();
    return json_string(buf);
}

/* Set key to value and report failure; json_object_set_new steals value. */
static bool ep_json_set(json_t *o, const char *key, json_t *value)
{
    return value && json_object_set_new(o, key, value) == 0;
}

static json_t *ep_json_states(const uint64_t *v, bool all)
{
    json_t *o = json_object();
    for (int st = 1; o && st < EP_HOST_NSTATES; st++) {
        if (!all && v[st] == 0)
            continue;
        if (!ep_json_set(o, ep_host_state_name(st), json_integer((json_int_t)v[st]))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *ep_json_settings(const ep_host_settings *st)
{
    json_t *o = json_object(), *range, *ct;
    bool ok = o != NULL;
    if (st->port_lo == EP_HOST_UNKNOWN)
        range = json_null();
    else
        range = json_pack("{s:I, s:I}", "lo", (json_int_t)st->port_lo, "hi",
                          (json_int_t)st->port_hi);
    ok = ok && ep_json_set(o, "port_range", range);
    ok = ok && ep_json_set(o, "reserved_ports",
                           st->reserved_text ? json_string(st->reserved_text) : json_null());
    ok = ok && ep_json_set(o, "reserved_in_range", ep_json_i64(st->reserved_in_range));
    ok = ok && ep_json_set(o, "effective_ports", ep_json_i64(st->effective_ports));
    ok = ok && ep_json_set(o, "tcp_tw_reuse", ep_json_i64(st->tw_reuse));
    ok = ok && ep_json_set(o, "tcp_tw_reuse_delay_ms", ep_json_i64(st->tw_reuse_delay_ms));
    ok = ok && ep_json_set(o, "tcp_fin_timeout", ep_json_i64(st->fin_timeout_s));
    ok = ok && ep_json_set(o, "tcp_max_tw_buckets", ep_json_i64(st->max_tw_buckets));
    ok = ok && ep_json_set(o, "time_wait_seconds", json_integer(st->time_wait_s));
    ok = ok && ep_json_set(o, "sustainable_rate_per_destination",
                           st->effective_ports > 0
                               ? json_real((double)st->effective_ports / (double)st->time_wait_s)
                               : json_null());
    ct = json_object();
    ok = ok && ep_json_set(o, "conntrack", ct);
    ok = ok && ep_json_set(ct, "count", ep_json_i64(st->conntrack_count));
    ok = ok && ep_json_set(ct, "max", ep_json_i64(st->conntrack_max));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *ep_json_totals(const ep_host_snapshot *snap)
{
    const ep_host_totals *t = ep_host_snapshot_totals(snap);
    json_t *o = json_object(), *tcp = json_object(), *udp = json_object(), *ss = json_object();
    bool ok = o && tcp && udp && ss;
    if (!ok) {
        json_decref(tcp);
        json_decref(udp);
        json_decref(ss);
    }
    ok = ok && ep_json_set(o, "tcp", tcp);
    ok = ok && ep_json_set(o, "udp", udp);
    ok = ok && ep_json_set(o, "sockstat", ss);
    ok = ok && ep_json_set(tcp, "all", json_integer((json_int_t)t->tcp_all));
    ok = ok && ep_json_set(tcp, "ipv4", json_integer((json_int_t)t->tcp_v4));
    ok = ok && ep_json_set(tcp, "ipv6", json_integer((json_int_t)t->tcp_v6));
    ok = ok && ep_json_set(tcp, "accepted", json_integer((json_int_t)t->accepted));
    ok = ok && ep_json_set(tcp, "states", ep_json_states(t->tcp, true));
    ok = ok && ep_json_set(udp, "all", json_integer((json_int_t)t->udp_all));
    ok = ok && ep_json_set(udp, "ipv4", json_integer((json_int_t)t->udp_v4));
    ok = ok && ep_json_set(udp, "ipv6", json_integer((json_int_t)t->udp_v6));
    ok = ok && ep_json_set(udp, "connected", json_integer((json_int_t)t->udp[EP_HOST_ESTABLISHED]));
    ok = ok && ep_json_set(udp, "unconnected", json_integer((json_int_t)t->udp[EP_HOST_CLOSE]));
    ok = ok && ep_json_set(ss, "tcp_inuse", ep_json_i64(t->sockstat_tcp_inuse));
    ok = ok && ep_json_set(ss, "tcp_time_wait", ep_json_i64(t->sockstat_tcp_tw));
    ok = ok && ep_json_set(ss, "udp_inuse", ep_json_i64(t->sockstat_udp_inuse));
    /* A protocol whose sockets could not be read is unknown, not zero. */
    if (ok && ep_host_snapshot_source(snap, 6) == EP_HOST_SOURCE_NONE)
        ok = ep_json_set(o, "tcp", json_null());
    if (ok && ep_host_snapshot_source(snap, 17) == EP_HOST_SOURCE_NONE)
        ok = ep_json_set(o, "udp", json_null());
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *ep_json_count(uint64_t v, bool known)
{
    return known ? json_integer((json_int_t)v) : json_null();
}

static json_t *ep_json_bound(const ep_host_snapshot *snap)
{
    const ep_host_bound *b = ep_host_snapshot_bound(snap);
    bool tcp = ep_host_snapshot_source(snap, 6) != EP_HOST_SOURCE_NONE;
    bool udp = ep_host_snapshot_source(snap, 17) != EP_HOST_SOURCE_NONE;
    json_t *o = json_object();
    bool ok = o != NULL;
    ok = ok && ep_json_set(o, "tcp_bound", ep_json_count(b->tcp_bound, tcp));
    ok = ok && ep_json_set(o, "tcp_listen", ep_json_count(b->tcp_listen, tcp));
    ok = ok && ep_json_set(o, "tcp_ports", ep_json_count(b->tcp_ports, tcp));
    ok = ok && ep_json_set(o, "udp_unconnected", ep_json_count(b->udp_unconnected, udp));
    ok = ok && ep_json_set(o, "udp_ports", ep_json_count(b->udp_ports, udp));
    ok = ok && ep_json_set(o, "udp_free", ep_json_i64(b->udp_free));
    /* ports held by explicitly bound TCP sockets (skipped by every
     * connect()): exact when sticky_known, a lower bound otherwise */
    ok = ok && ep_json_set(o, "sticky_known", json_boolean(tcp && b->sticky_known));
    ok = ok && ep_json_set(o, "sticky_ports", ep_json_count((uint64_t)b->sticky_ports, tcp));
    ok = ok && ep_json_set(o, "sticky_unknown", ep_json_count((uint64_t)b->sticky_unknown, tcp));
    ok = ok && ep_json_set(o, "sticky_probes", ep_json_count(b->sticky_probes, tcp));
    ok = ok && ep_json_set(o, "sticky_why", b->sticky_why ? json_string(b->sticky_why) : json_null());
    /* how: "bpf" (the sockets' autobind marks), "probe" (port by port), or
     * null (not asked) */
    ok = ok && ep_json_set(o, "sticky_method",
                           b->sticky_method ? json_string(b->sticky_method) : json_null());
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *ep_json_dest_key(const ep_host_dest *d)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    ok = ok && ep_json_set(o, "proto", json_string(d->proto == 6 ? "tcp" : "udp"));
    ok = ok && ep_json_set(o, "family",
                           json_string(d->remote.family == AF_INET6 ? "ipv6" : "ipv4"));
    ok = ok && ep_json_set(o, "local", ep_json_addr(&d->local));
    ok = ok && ep_json_set(o, "remote", ep_json_addr(&d->remote));
    ok = ok && ep_json_set(o, "remote_port", json_integer(d->remote_port));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ep_host_dest_to_json(const ep_host_dest *d)
{
    json_t *o = ep_json_dest_key(d);
    uint64_t states[EP_HOST_NSTATES];
    bool ok = o != NULL;

    for (int i = 0; i < EP_HOST_NSTATES; i++)
        states[i] = d->states[i];
    ok = ok && ep_json_set(o, "used", json_integer(d->used));
    ok = ok && ep_json_set(o, "established", json_integer(d->established));
    ok = ok && ep_json_set(o, "time_wait", json_integer(d->time_wait));
    ok = ok && ep_json_set(o, "other", json_integer(d->other));
    ok = ok && ep_json_set(o, "states", ep_json_states(states, false));
    ok = ok && ep_json_set(o, "free", ep_json_i64(d->free));
    ok = ok && ep_json_set(o, "free_max", ep_json_i64(d->free_max));
    ok = ok && ep_json_set(o, "free_exact", json_boolean(d->free != EP_HOST_UNKNOWN &&
                                                         d->free == d->free_max));
    ok = ok && ep_json_set(o, "headroom_pct", ep_json_pct(d->headroom_pct));
    if (ok && d->procs) {
        /* Owners are found from a sample of at most EP_HOST_PROC_SAMPLE
         * sockets per destination (TIME_WAIT ones have no owner).  A
         * process's count is exact only when the sample could hold every
         * socket that has an owner; otherwise it is null, and
         * sockets_sampled says how many of the sample were its. */
        bool whole = d->used - d->time_wait <= EP_HOST_PROC_SAMPLE;
        json_t *arr = json_array();
        ok = ep_json_set(o, "processes", arr);
        for (size_t i = 0; ok && i < d->nprocs; i++)
            ok = json_array_append_new(
                     arr, json_pack("{s:i, s:s, s:o, s:i}", "pid", d->procs[i].pid, "comm",
                                    d->procs[i].comm, "sockets",
                                    whole ? json_integer(d->procs[i].sockets) : json_null(),
                                    "sockets_sampled", (int)d->procs[i].sockets)) == 0;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *ep_json_advice(const ep_host_advice *a)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    ok = ok && ep_json_set(o, "severity", json_string(ep_host_severity_name(a->severity)));
    ok = ok && ep_json_set(o, "code", json_string(a->code));
    ok = ok && ep_json_set(o, "destination", a->dest ? ep_json_dest_key(a->dest) : json_null());
    ok = ok && ep_json_set(o, "headroom_pct", ep_json_pct(a->headroom_pct));
    ok = ok && ep_json_set(o, "sustainable_rate",
                           a->sustainable_rate < 0 ? json_null() : json_real(a->sustainable_rate));
    ok = ok && ep_json_set(o, "message", a->message ? json_string(a->message) : json_null());
    ok = ok && ep_json_set(o, "remedy", a->remedy ? json_string(a->remedy) : json_null());
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ep_host_snapshot_to_json(const ep_host_snapshot *snap)
{
    json_t *o = json_object(), *src, *arr, *ctr;
    const ep_host_dest *dests;
    const ep_host_counter *counters;
    const ep_host_advice *adv;
    const char *const *notes;
    size_t n, total;
    const char *ns = ep_host_snapshot_netns(snap);
    bool ok = o != NULL;

    ok = ok && ep_json_set(o, "netns", ns ? json_string(ns) : json_null());
    src = json_pack("{s:s, s:s}", "tcp",
                    ep_host_source_name(ep_host_snapshot_source(snap, 6)), "udp",
                    ep_host_source_name(ep_host_snapshot_source(snap, 17)));
    ok = ok && ep_json_set(o, "source", src);
    ok = ok && ep_json_set(o, "settings", ep_json_settings(ep_host_snapshot_settings(snap)));
    ok = ok && ep_json_set(o, "totals", ep_json_totals(snap));
    ok = ok && ep_json_set(o, "bind_only", ep_json_bound(snap));
    dests = ep_host_snapshot_dests(snap, &n, &total);
    ok = ok && ep_json_set(o, "destinations_total", json_integer((json_int_t)total));
    arr = json_array();
    ok = ok && ep_json_set(o, "destinations", arr);
    for (size_t i = 0; ok && i < n; i++)
        ok = json_array_append_new(arr, ep_host_dest_to_json(&dests[i])) == 0;
    counters = ep_host_snapshot_counters(snap, &n);
    ctr = json_object();
    ok = ok && ep_json_set(o, "counters", ctr);
    for (size_t i = 0; ok && i < n; i++)
        ok = ep_json_set(ctr, counters[i].name, ep_json_i64(counters[i].value));
    adv = ep_host_snapshot_advice(snap, &n);
    arr = json_array();
    ok = ok && ep_json_set(o, "advice", arr);
    for (size_t i = 0; ok && i < n; i++)
        ok = json_array_append_new(arr, ep_json_advice(&adv[i])) == 0;
    notes = ep_host_snapshot_notes(snap, &n);
    arr = json_array();
    ok = ok && ep_json_set(o, "notes", arr);
    for (size_t i = 0; ok && i < n; i++)
        ok = json_array_append_new(arr, json_string(notes[i])) == 0;
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *ep_json_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *ep_host_netns_to_json(const ep_host_netns_info *ns)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (!ep_json_set(o, "inode", json_integer((json_int_t)ns->inode)) ||
        !ep_json_set(o, "label", json_string(ns->label)) ||
        !ep_json_set(o, "self", json_boolean(ns->self)) ||
        !ep_json_set(o, "host", json_boolean(ns->init)) ||
        !ep_json_set(o, "name", ep_json_str(ns->name)) ||
        !ep_json_set(o, "container", ep_json_str(ns->container)) ||
        !ep_json_set(o, "container_name", ep_json_str(ns->container_name)) ||
        !ep_json_set(o, "pod_uid", ep_json_str(ns->pod_uid)) ||
        !ep_json_set(o, "pod", ep_json_str(ns->pod_name)) ||
        !ep_json_set(o, "pid", ns->pid ? json_integer(ns->pid) : json_null()) ||
        !ep_json_set(o, "comm", ep_json_str(ns->comm)) ||
        !ep_json_set(o, "path", json_string(ns->path))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ep_host_node_to_json(const ep_host_node *node)
{
    json_t *o = json_object(), *list = json_array(), *dests = json_array();
    size_t n, total;
    const ep_host_node_dest *d = ep_host_node_dests(node, &n, &total);
    bool ok = o && list && dests;

    for (size_t i = 0; ok && i < ep_host_node_count(node); i++) {
        const char *why;
        const ep_host_snapshot *snap = ep_host_node_snapshot(node, i, &why);
        json_t *ns = ep_host_netns_to_json(ep_host_node_netns(node, i));
        ok = ns && ep_json_set(ns, "readable", json_boolean(snap != NULL)) &&
             ep_json_set(ns, "why", ep_json_str(snap ? NULL : why)) &&
             ep_json_set(ns, "status", snap ? ep_host_snapshot_to_json(snap) : json_null());
        if (!ok || json_array_append_new(list, ns) != 0) {
            json_decref(ok ? NULL : ns);
            ok = false;
        }
    }
    for (size_t i = 0; ok && i < n; i++) {
        json_t *x = ep_host_dest_to_json(d[i].dest);
        ok = x && ep_json_set(x, "netns", json_integer(
                                              (json_int_t)ep_host_node_netns(node, d[i].netns)->inode)) &&
             ep_json_set(x, "namespace", json_string(ep_host_node_netns(node, d[i].netns)->label));
        if (!ok || json_array_append_new(dests, x) != 0) {
            json_decref(ok ? NULL : x);
            ok = false;
        }
    }
    size_t nn = 0;
    const char *const *notes = ep_host_node_notes(node, &nn);
    json_t *narr = ok ? json_array() : NULL;
    ok = ok && narr && ep_json_set(o, "notes", narr);
    for (size_t i = 0; ok && i < nn; i++)
        ok = json_array_append_new(narr, json_string(notes[i])) == 0;
    if (!ok) {
        /* Not handed to o yet: theirs to free. */
        json_decref(list);
        json_decref(dests);
        json_decref(o);
        return NULL;
    }
    /* ep_json_set hands each value to o, on failure too: both are set
     * (or freed) before the result is looked at. */
    bool lists = ep_json_set(o, "namespaces", list);
    lists = ep_json_set(o, "destinations", dests) && lists;
    if (lists && ep_json_set(o, "destinations_total", json_integer((json_int_t)total)) &&
        ep_json_set(o, "unreadable", json_integer((json_int_t)ep_host_node_unreadable(node))))
        return o;
    json_decref(o);
    return NULL;
}
