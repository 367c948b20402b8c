/* snapshot.c - ep_host_snapshot_take(): the order in which a host is read,
 * and the snapshot's accessors.
 *
 *   1. enter --netns if given (netns.c), and always come back;
 *   2. settings (sysctl.c, conntrack.c): the range decides what is dumped;
 *   3. sockets per protocol: sock_diag (sockdiag.c), LISTEN first so that
 *      accepted sockets can be told from outgoing ones, then all states
 *      (but the bound-only TCP ones when the caller gives them: node.c's
 *      one pass for every namespace, bound-bpf.c);
 *      on failure /proc/net (procnet.c) into a fresh aggregator, noted;
 *      then which connected TCP ports are sticky, for the ports whose answer
 *      changes a free count: a BPF iterator reading every socket's autobind
 *      mark (sticky-bpf.c; or the same marks from node.c's walk of the
 *      established hash, when it gave this namespace its sockets), else the
 *      kernel asked port by port (sticky.c), else bounds, noted;
 *   4. counters (netstat.c);
 *   5. outside the namespace: sort and cut destinations, owners
 *      (procs.c) and advice (advice.c).
 * TCP and UDP aggregate separately so that one protocol falling back to
 * /proc never mixes partial netlink data with /proc data. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "host-internal.h"

static int ep_host_push(void ***v, size_t *n, size_t *cap, void *item)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        void **nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = item;
    return 0;
}

char *ep_host_vstrf(ep_host_snapshot *s, const char *fmt, va_list ap)
{
    char *str;
    if (vasprintf(&str, fmt, ap) < 0) {
        s->oom = 1;
        return NULL;
    }
    if (ep_host_push((void ***)&s->strings, &s->nstrings, &s->cap_strings, str) != 0) {
        free(str);
        s->oom = 1;
        return NULL;
    }
    return str;
}

char *ep_host_strf(ep_host_snapshot *s, const char *fmt, ...)
{
    va_list ap;
    char *str;
    va_start(ap, fmt);
    str = ep_host_vstrf(s, fmt, ap);
    va_end(ap);
    return str;
}

void ep_host_note(ep_host_snapshot *s, const char *fmt, ...)
{
    va_list ap;
    char *str;
    va_start(ap, fmt);
    if (vasprintf(&str, fmt, ap) < 0)
        str = NULL;
    va_end(ap);
    if (!str || ep_host_push((void ***)&s->notes, &s->nnotes, &s->cap_notes, str) != 0) {
        free(str);
        s->oom = 1;
    }
}

void ep_host_options_init(ep_host_options *opts)
{
    memset(opts, 0, sizeof *opts);
}

static const char *const ep_host_state_names[EP_HOST_NSTATES] = {
    NULL, "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
    "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
};

const char *ep_host_state_name(int state)
{
    return state > 0 && state < EP_HOST_NSTATES ? ep_host_state_names[state] : NULL;
}

static const char *const ep_host_source_names[] = { "auto", "netlink", "proc", "none" };

const char *ep_host_source_name(ep_host_source s)
{
    return (unsigned)s < 4 ? ep_host_source_names[s] : "none";
}

int ep_host_source_from_name(const char *name, ep_host_source *out)
{
    for (int i = 0; i < 3; i++) {
        if (name && strcmp(name, ep_host_source_names[i]) == 0) {
            *out = (ep_host_source)i;
            return 0;
        }
    }
    return EP_EINVAL;
}

const char *ep_host_strerror(int err)
{
    switch (err) {
    case -ENOENT:
        return "no such network namespace (a NAME is looked up in /run/netns)";
    case -EPERM:
    case -EACCES:
        return "permission denied (entering a namespace needs CAP_SYS_ADMIN)";
    case -EINVAL:
        return "not a network namespace, or invalid options";
    case -ENOMEM:
        return "out of memory";
    default:
        return err < 0 ? strerror(-err) : "success";
    }
}

const char *ep_host_severity_name(ep_host_severity s)
{
    switch (s) {
    case EP_HOST_INFO:
        return "info";
    case EP_HOST_WARNING:
        return "warning";
    case EP_HOST_CRITICAL:
        return "critical";
    }
    return "info";
}

/* A fresh aggregator that knows the namespace's tcp_tw_reuse (which
 * TIME_WAIT entries a connect() may take over). */
static int ep_host_agg_begin(const ep_host_snapshot *s, ep_host_agg *agg, uint16_t lo, uint16_t hi,
                             const ep_portset *res, bool samples, int family)
{
    int rc = ep_host_agg_init(agg, lo, hi, res, samples, family);
    if (rc == 0) {
        agg->tw_reuse = s->settings.tw_reuse == EP_HOST_UNKNOWN ? -1 : (int)s->settings.tw_reuse;
        /* the kernel's default where the sysctl is absent (before 6.13) */
        agg->tw_reuse_delay_ms =
            s->settings.tw_reuse_delay_ms == EP_HOST_UNKNOWN ? 1000 : s->settings.tw_reuse_delay_ms;
    }
    return rc;
}

/* Read one protocol into a fresh aggregator; *src tells where from. */
static int ep_host_read_proto(ep_host_snapshot *s, const ep_host_options *o,
                              const ep_host_bound_given *given, uint8_t proto, uint16_t lo,
                              uint16_t hi, ep_host_agg *agg, ep_host_source *src)
{
    const char *pname = proto == 6 ? "TCP" : "UDP";
    bool samples = (o->flags & EP_HOST_WITH_PROCESSES) != 0;
    const ep_portset *res = s->reserved_known ? &s->reserved : NULL;
    char why[200];
    int rc;

    if (o->source != EP_HOST_SOURCE_PROC) {
        rc = ep_host_agg_begin(s, agg, lo, hi, res, samples, o->family);
        if (rc)
            return rc;
        if (proto == 6)
            rc = ep_host_sockdiag_dump(agg, proto, true, NULL);
        if (rc == 0)
            rc = ep_host_sockdiag_dump(agg, proto, false, proto == 6 ? given : NULL);
        if (rc == 0) {
            *src = EP_HOST_SOURCE_NETLINK;
            return 0;
        }
        ep_host_agg_free(agg);
        if (rc == -ENOMEM)
            return rc;
        if (o->source == EP_HOST_SOURCE_NETLINK) {
            ep_host_note(s, "could not read %s sockets through netlink sock_diag: %s", pname,
                         strerror(-rc));
            *src = EP_HOST_SOURCE_NONE;
            return ep_host_agg_begin(s, agg, lo, hi, res, samples, o->family);
        }
        ep_host_note(s, "could not read %s sockets through netlink sock_diag (%s); "
                        "read /proc/net/%s instead", pname, strerror(-rc),
                     proto == 6 ? "tcp{,6}" : "udp{,6}");
    }
    rc = ep_host_agg_begin(s, agg, lo, hi, res, samples, o->family);
    if (rc)
        return rc;
    rc = ep_host_procnet_read(agg, proto, why, sizeof why);
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        ep_host_note(s, "%s sockets unknown: %s", pname, why);
        ep_host_agg_free(agg);
        *src = EP_HOST_SOURCE_NONE;
        return ep_host_agg_begin(s, agg, lo, hi, res, samples, o->family);
    }
    *src = EP_HOST_SOURCE_PROC;
    if (proto == 6)
        ep_host_note(s, "TCP from /proc/net: sockets that are bound but neither listening nor "
                        "connected are not visible there");
    return 0;
}

static int ep_host_merge(ep_host_snapshot *s, ep_host_agg *tcp, ep_host_agg *udp,
                         const ep_host_options *o, const ep_host_sticky *sticky)
{
    ep_host_entry *et, *eu;
    size_t nt, nu, keep;
    int64_t eff = s->settings.effective_ports;
    int rc;

    rc = ep_host_agg_finish(tcp, eff, sticky, &et, &nt);
    if (rc)
        return rc;
    rc = ep_host_agg_finish(udp, eff, NULL, &eu, &nu);
    if (rc) {
        ep_host_entries_free(et, nt);
        return rc;
    }
    s->entries = realloc(et, (nt + nu ? nt + nu : 1) * sizeof *et);
    if (!s->entries) {
        ep_host_entries_free(et, nt);
        ep_host_entries_free(eu, nu);
        return -ENOMEM;
    }
    memcpy(s->entries + nt, eu, nu * sizeof *eu);
    free(eu);
    s->ndests = s->total_dests = nt + nu;
    /* Both halves are sorted: merge them by (pressure, used). */
    if (nt && nu) {
        size_t i = 0, j = nt, k = 0;
        ep_host_entry *m = malloc((nt + nu) * sizeof *m);
        if (!m)
            return -ENOMEM;
        while (i < nt || j < nt + nu) {
            bool take_i;
            if (i >= nt)
                take_i = false;
            else if (j >= nt + nu)
                take_i = true;
            else if (s->entries[i].d.pressure != s->entries[j].d.pressure)
                take_i = s->entries[i].d.pressure > s->entries[j].d.pressure;
            else
                take_i = s->entries[i].d.used >= s->entries[j].d.used;
            m[k++] = take_i ? s->entries[i++] : s->entries[j++];
        }
        free(s->entries);
        s->entries = m;
    }
    keep = o->top && o->top < s->ndests ? o->top : s->ndests;
    for (size_t i = keep; i < s->ndests; i++) {
        free(s->entries[i].sample);
        s->entries[i].sample = NULL;
    }
    s->ndests = keep;
    /* totals and bind-only sockets: TCP fields from tcp, UDP from udp */
    s->totals.tcp_v4 = tcp->totals.tcp_v4;
    s->totals.tcp_v6 = tcp->totals.tcp_v6;
    s->totals.tcp_all = tcp->totals.tcp_all;
    s->totals.accepted = tcp->totals.accepted;
    memcpy(s->totals.tcp, tcp->totals.tcp, sizeof s->totals.tcp);
    s->totals.udp_v4 = udp->totals.udp_v4;
    s->totals.udp_v6 = udp->totals.udp_v6;
    s->totals.udp_all = udp->totals.udp_all;
    memcpy(s->totals.udp, udp->totals.udp, sizeof s->totals.udp);
    s->bound.tcp_bound = tcp->bound.tcp_bound;
    s->bound.tcp_listen = tcp->bound.tcp_listen;
    s->bound.tcp_ports = tcp->bound.tcp_ports;
    s->bound.udp_unconnected = udp->bound.udp_unconnected;
    s->bound.udp_ports = udp->bound.udp_ports;
    s->bound.udp_free = s->source_udp == EP_HOST_SOURCE_NONE ? EP_HOST_UNKNOWN
                                                             : udp->bound.udp_free;
    s->tcp_set = tcp->tcp_set;
    s->udp_set = udp->udp_set;
    s->listen_set = tcp->listen_set;
    s->bound.tcp_set = &s->tcp_set;
    s->bound.udp_set = &s->udp_set;
    s->bound.listen_set = &s->listen_set;
    /* sticky ports: LISTEN and bound-only ones, and those the kernel named */
    s->bound.sticky_known = sticky->known;
    s->bound.sticky_probes = sticky->probes;
    s->bound.sticky_ports = tcp->bound.tcp_ports;
    s->bound.sticky_unknown = 0;
    for (uint32_t p = tcp->lo; p <= tcp->hi; p++) {
        s->bound.sticky_ports += ep_portset_has(&sticky->sure, (uint16_t)p) &&
                                 !ep_portset_has(&tcp->tcp_set, (uint16_t)p);
        s->bound.sticky_unknown += ep_portset_has(&sticky->unsure, (uint16_t)p);
    }
    s->bound.sticky_why = sticky->known ? NULL : ep_host_strf(s, "%s", sticky->why);
    s->bound.sticky_method = sticky->method;
    return 0;
}

/* Which of the candidate ports are sticky: one BPF iterator walk when the
 * kernel allows it (exact: it reads every socket's autobind mark), else the
 * kernel asked port by port; what neither can answer stays unsure.  Nothing
 * to ask, nothing asked. */
/* The sticky ports node.c's walk of the established hash saw for this
 * namespace (each socket's autobind mark, as sticky.bpf.c reads it), and
 * its listening ports: what the sticky iterator would have written. */
static void ep_host_sticky_walked(const ep_host_agg *tcp, uint16_t lo, uint16_t hi,
                                  ep_portset *found)
{
    ep_host_ehash_sock e;
    size_t off = 0;

    *found = tcp->listen_set;
    while (ep_host_ehash_part_next(tcp->walked, &off, &e)) {
        uint16_t port = ntohs(e.sport);
        if (e.sticky && port >= lo && port <= hi)
            ep_portset_add(found, port);
    }
}

static void ep_host_sticky_ask(const ep_host_options *o, const ep_host_agg *tcp,
                               const ep_host_bound_given *given, const ep_portset *cand,
                               uint16_t lo, uint16_t hi, ep_host_sticky *sticky)
{
    char bpf_why[240] = "";
    int rc = -ENOTSUP;

    if (ep_portset_count(cand, lo, hi) == 0) {
        memset(sticky, 0, sizeof *sticky);
        sticky->known = true;
        return;
    }
    if (!(o->flags & EP_HOST_NO_BPF)) {
        ep_portset *found = malloc(sizeof *found);
        if (found && tcp->walk_used && given && given->walk && given->walk->marks) {
            ep_host_sticky_walked(tcp, lo, hi, found);
            rc = 0;
        } else {
            rc = found ? ep_host_sticky_bpf(lo, hi, found, bpf_why, sizeof bpf_why) : -ENOMEM;
        }
        if (rc == 0) {
            memset(sticky, 0, sizeof *sticky);
            sticky->known = true;
            sticky->method = "bpf";
            for (uint32_t p = lo; p <= hi; p++)
                if (ep_portset_has(cand, (uint16_t)p) && ep_portset_has(found, (uint16_t)p))
                    ep_portset_add(&sticky->sure, (uint16_t)p);
        }
        free(found);
        if (rc == -ENOMEM)
            snprintf(bpf_why, sizeof bpf_why, "out of memory");
        if (rc == 0)
            return;
    }
    if (o->flags & EP_HOST_NO_SOCKETS) {
        sticky->known = false;
        sticky->unsure = *cand;
        snprintf(sticky->why, sizeof sticky->why,
                 "asking port by port would create sockets in that namespace (BPF: %.150s)",
                 bpf_why[0] ? bpf_why : "not available");
        return;
    }
    ep_host_sticky_probe(cand, lo, hi, sticky);
    if (sticky->known) {
        sticky->method = "probe";
    } else if (bpf_why[0]) {
        size_t n = strlen(sticky->why);
        snprintf(sticky->why + n, sizeof sticky->why - n, "; BPF: %s", bpf_why);
    }
}

static int ep_host_read_sockets(ep_host_snapshot *s, const ep_host_options *o,
                                const ep_host_bound_given *given)
{
    ep_host_agg *tcp = calloc(1, sizeof *tcp), *udp = calloc(1, sizeof *udp);
    ep_host_sticky *sticky = NULL;
    ep_portset *cand = NULL;
    uint16_t lo = 1, hi = 65535;
    int rc = -ENOMEM;

    if (!tcp || !udp)
        goto out;
    if (s->settings.port_lo != EP_HOST_UNKNOWN) {
        lo = (uint16_t)s->settings.port_lo;
        hi = (uint16_t)s->settings.port_hi;
    } else {
        ep_host_note(s, "the ephemeral range is unknown: grouping sockets on every port, "
                        "free ports unknown");
    }
    s->source_tcp = s->source_udp = EP_HOST_SOURCE_NONE;
    if (!(o->flags & EP_HOST_NO_TCP))
        rc = ep_host_read_proto(s, o, given, 6, lo, hi, tcp, &s->source_tcp);
    else
        rc = ep_host_agg_init(tcp, lo, hi, NULL, false, o->family);
    if (rc)
        goto out;
    if (!(o->flags & EP_HOST_NO_UDP))
        rc = ep_host_read_proto(s, o, NULL, 17, lo, hi, udp, &s->source_udp);
    else
        rc = ep_host_agg_init(udp, lo, hi, NULL, false, o->family);
    if (rc)
        goto out;
    /* Which connected ports are sticky: asked of the kernel, in the
     * namespace, for the ports whose answer changes a free count. */
    sticky = calloc(1, sizeof *sticky);
    cand = calloc(1, sizeof *cand);
    if (!sticky || !cand) {
        rc = -ENOMEM;
        goto out;
    }
    if (s->source_tcp != EP_HOST_SOURCE_NONE && s->settings.port_lo != EP_HOST_UNKNOWN) {
        ep_host_agg_sticky_candidates(tcp, cand);
        if (o->flags & EP_HOST_NO_PROBE) {
            sticky->known = false;
            sticky->unsure = *cand;
            snprintf(sticky->why, sizeof sticky->why, "the kernel was not asked (--no-probe)");
        } else {
            ep_host_sticky_ask(o, tcp, given, cand, lo, hi, sticky);
        }
        if (!sticky->known)
            ep_host_note(s, "which connected TCP ports were bound explicitly (sticky: skipped by "
                            "every connect()) is unknown: %s; free TCP ports are lower bounds",
                         sticky->why);
    } else {
        sticky->known = s->source_tcp != EP_HOST_SOURCE_NONE;
    }
    rc = ep_host_merge(s, tcp, udp, o, sticky);
out:
    free(sticky);
    free(cand);
    if (tcp)
        ep_host_agg_free(tcp);
    if (udp)
        ep_host_agg_free(udp);
    free(tcp);
    free(udp);
    return rc;
}

static void ep_host_settings_unknown(ep_host_settings *st)
{
    st->port_lo = st->port_hi = EP_HOST_UNKNOWN;
    st->reserved_in_range = st->effective_ports = EP_HOST_UNKNOWN;
    st->tw_reuse = st->tw_reuse_delay_ms = st->fin_timeout_s = EP_HOST_UNKNOWN;
    st->max_tw_buckets = st->conntrack_count = st->conntrack_max = EP_HOST_UNKNOWN;
    st->time_wait_s = EP_HOST_TIME_WAIT_SECONDS;
}

/* What is read inside the namespace (ep_host_in_netns): everything that
 * depends on it.  Processes are found afterwards, from the caller's /proc. */
typedef struct ep_host_read_job {
    ep_host_snapshot *snap;
    const ep_host_options *opts;
    const ep_host_bound_given *given;
} ep_host_read_job;

static int ep_host_read_namespace(void *arg)
{
    ep_host_read_job *job = arg;
    int rc;

    ep_host_read_settings(job->snap);
    ep_host_read_conntrack(job->snap);
    rc = ep_host_read_sockets(job->snap, job->opts, job->given);
    if (rc == 0)
        ep_host_read_counters(job->snap);
    return rc;
}

int ep_host_snapshot_take(const ep_host_options *opts, ep_host_snapshot **out)
{
    return ep_host_snapshot_take_given(opts, NULL, out);
}

int ep_host_snapshot_take_given(const ep_host_options *opts, const ep_host_bound_given *given,
                                ep_host_snapshot **out)
{
    ep_host_options defaults;
    ep_host_snapshot *s;
    ep_host_read_job job;
    int rc;
    char why[300];

    *out = NULL;
    if (!opts) {
        ep_host_options_init(&defaults);
        opts = &defaults;
    }
    if (opts->source > EP_HOST_SOURCE_PROC ||
        (opts->family && opts->family != AF_INET && opts->family != AF_INET6) ||
        opts->warn_pct < 0 || opts->crit_pct < 0 || opts->warn_pct > 100 || opts->crit_pct > 100)
        return EP_EINVAL;
    s = calloc(1, sizeof *s);
    if (!s)
        return EP_ENOMEM;
    ep_host_settings_unknown(&s->settings);
    job.snap = s;
    job.opts = opts;
    job.given = given;
    if (opts->netns) {
        s->netns = strdup(opts->netns);
        if (!s->netns) {
            free(s);
            return EP_ENOMEM;
        }
    }
    why[0] = '\0';
    rc = ep_host_in_netns_inode(opts->netns, opts->netns_inode, ep_host_read_namespace, &job,
                                why, sizeof why);
    if (rc && why[0]) {
        /* the namespace could not be entered: nothing was read */
        ep_host_snapshot_free(s);
        return rc;
    }
    if (rc == 0) {
        if (opts->flags & EP_HOST_WITH_PROCESSES)
            ep_host_find_processes(s);
        s->dests = calloc(s->ndests ? s->ndests : 1, sizeof *s->dests);
        if (!s->dests)
            rc = EP_ENOMEM;
    }
    if (rc == 0) {
        double warn = opts->warn_pct > 0 ? opts->warn_pct : 80;
        double crit = opts->crit_pct > 0 ? opts->crit_pct : 95;
        /* With --processes every destination gets a list, maybe empty. */
        static const ep_host_proc no_procs[1];
        for (size_t i = 0; i < s->ndests; i++) {
            s->dests[i] = s->entries[i].d;
            s->dests[i].procs = s->entries[i].procs;
            if (!s->dests[i].procs && (opts->flags & EP_HOST_WITH_PROCESSES))
                s->dests[i].procs = no_procs;
        }
        ep_host_compute_advice(s, warn, crit);
        if (s->oom)
            rc = EP_ENOMEM;
    }
    if (rc) {
        ep_host_snapshot_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void ep_host_snapshot_free(ep_host_snapshot *s)
{
    if (!s)
        return;
    free(s->netns);
    free(s->reserved_text);
    ep_host_entries_free(s->entries, s->total_dests);
    free(s->dests);
    for (size_t i = 0; i < s->nnotes; i++)
        free(s->notes[i]);
    free(s->notes);
    for (size_t i = 0; i < s->nstrings; i++)
        free(s->strings[i]);
    free(s->strings);
    free(s->advice);
    free(s);
}

const ep_host_settings *ep_host_snapshot_settings(const ep_host_snapshot *s)
{
    return &s->settings;
}

const ep_host_totals *ep_host_snapshot_totals(const ep_host_snapshot *s)
{
    return &s->totals;
}

const ep_host_bound *ep_host_snapshot_bound(const ep_host_snapshot *s)
{
    return &s->bound;
}

ep_host_source ep_host_snapshot_source(const ep_host_snapshot *s, int proto)
{
    return proto == 17 ? s->source_udp : s->source_tcp;
}

const ep_host_dest *ep_host_snapshot_dests(const ep_host_snapshot *s, size_t *n, size_t *total)
{
    if (n)
        *n = s->ndests;
    if (total)
        *total = s->total_dests;
    return s->ndests ? s->dests : NULL;
}

const ep_host_counter *ep_host_snapshot_counters(const ep_host_snapshot *s, size_t *n)
{
    *n = s->ncounters;
    return s->counters;
}

const char *const *ep_host_snapshot_notes(const ep_host_snapshot *s, size_t *n)
{
    *n = s->nnotes;
    return (const char *const *)s->notes;
}

const ep_host_advice *ep_host_snapshot_advice(const ep_host_snapshot *s, size_t *n)
{
    *n = s->nadvice;
    return s->advice;
}

const char *ep_host_snapshot_netns(const ep_host_snapshot *s)
{
    return s->netns;
}
