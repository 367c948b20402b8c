/* snat.c - ep_snat_take(): which source NAT units are short of ports.
 *
 * Order of reading, all on one thread in the namespace (netns.c): the
 * nftables ruleset (the ranges), the translated flows (ctnetlink dump the
 * kernel filters on IPS_SRC_NAT, else /proc/net/nf_conntrack), grouped as
 * they stream into an open-addressing table of units; then, when there are
 * units, the untranslated entries, of which only those holding a reply
 * tuple of a unit are counted (a second dump filtered on IPS_SRC_NAT == 0,
 * or a second pass over the file); then the statistics and the count.
 * Memory follows units, not flows.
 *
 * A unit's range: the narrowest of the nftables rules that could have made
 * its flows (family, protocol, the address range of `snat to`); a rule
 * without a port range has the kernel's default, 1024-65535 for a client
 * port (nf_nat_l4proto_unique_tuple; ports below 1024 map into 1-511 or
 * 600-1023, and are not counted in that range).  When the ruleset cannot be
 * read, or no rule fits, the default is assumed and the unit says so
 * ("assumed"): an upper bound of the free ports, with a note. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host-internal.h"
#include "snat-internal.h"

#define EP_SNAT_DEFAULT_LO 1024
#define EP_SNAT_DEFAULT_HI 65535

struct ep_snat {
    char *netns;
    const char *source;
    int64_t count, max;
    uint64_t flows;
    ep_snat_stats stats;
    ep_snat_unit *units;
    size_t nunits, cap_units, ntop;
    uint32_t *slots;               /* unit index + 1, 0 = empty */
    size_t nslots;
    ep_snat_rule *rules;
    size_t nrules;
    bool rules_known;
    char **notes;
    size_t nnotes;
    ep_host_advice *advice;
    size_t nadvice;
    char **strings;
    size_t nstrings;
    bool oom;
    const ep_snat_options *opts;
};

void ep_snat_options_init(ep_snat_options *o)
{
    memset(o, 0, sizeof *o);
}

static char *ep_snat_vstr(ep_snat *s, const char *fmt, va_list ap)
{
    char *str, **t;
    if (vasprintf(&str, fmt, ap) < 0) {
        s->oom = true;
        return NULL;
    }
    t = realloc(s->strings, (s->nstrings + 1) * sizeof *t);
    if (!t) {
        free(str);
        s->oom = true;
        return NULL;
    }
    s->strings = t;
    s->strings[s->nstrings++] = str;
    return str;
}

static char *ep_snat_str(ep_snat *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *ep_snat_str(ep_snat *s, const char *fmt, ...)
{
    va_list ap;
    char *r;
    va_start(ap, fmt);
    r = ep_snat_vstr(s, fmt, ap);
    va_end(ap);
    return r;
}

static void ep_snat_note(ep_snat *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ep_snat_note(ep_snat *s, const char *fmt, ...)
{
    va_list ap;
    char *str, **t;
    va_start(ap, fmt);
    str = ep_snat_vstr(s, fmt, ap);
    va_end(ap);
    if (!str)
        return;
    t = realloc(s->notes, (s->nnotes + 1) * sizeof *t);
    if (!t) {
        s->oom = true;
        return;
    }
    s->notes = t;
    s->notes[s->nnotes++] = str;
}

bool ep_snat_flow_translated(const ep_snat_flow *f)
{
    if (f->has_status)
        return (f->status & EP_IPS_SRC_NAT) != 0;
    return !ep_addr_equal(&f->rdst, &f->osrc) || f->rdport != f->osport;
}

/* --- the unit table --- */

static uint64_t ep_snat_hash(const ep_addr *nat, uint8_t proto, const ep_addr *dst,
                             uint16_t dport, uint16_t zone)
{
    uint64_t h = 1469598103934665603ull;
    const uint8_t *b;
    for (int k = 0; k < 2; k++) {
        b = (k ? dst : nat)->u.bytes;
        for (int i = 0; i < 16; i++)
            h = (h ^ b[i]) * 1099511628211ull;
        h = (h ^ (k ? dst : nat)->family) * 1099511628211ull;
    }
    h = (h ^ proto) * 1099511628211ull;
    h = (h ^ dport) * 1099511628211ull;
    h = (h ^ zone) * 1099511628211ull;
    return h ^ (h >> 29);
}

static bool ep_snat_key_eq(const ep_snat_unit *u, const ep_addr *nat, uint8_t proto,
                           const ep_addr *dst, uint16_t dport, uint16_t zone)
{
    return u->proto == proto && u->dst_port == dport && u->zone == zone &&
           ep_addr_equal(&u->nat_addr, nat) && ep_addr_equal(&u->dst, dst);
}

/* The slot of the key: its unit's, or the empty one where it would go. */
static size_t ep_snat_slot(const ep_snat *s, const ep_addr *nat, uint8_t proto,
                           const ep_addr *dst, uint16_t dport, uint16_t zone)
{
    size_t i = (size_t)ep_snat_hash(nat, proto, dst, dport, zone) & (s->nslots - 1);
    assert(s->nslots && (s->nslots & (s->nslots - 1)) == 0);
    while (s->slots[i] &&
           !ep_snat_key_eq(&s->units[s->slots[i] - 1], nat, proto, dst, dport, zone))
        i = (i + 1) & (s->nslots - 1);
    return i;
}

static int ep_snat_grow(ep_snat *s)
{
    size_t nslots = s->nslots ? s->nslots * 2 : 256;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    free(s->slots);
    s->slots = slots;
    s->nslots = nslots;
    for (size_t k = 0; k < s->nunits; k++) {
        const ep_snat_unit *u = &s->units[k];
        size_t i = ep_snat_slot(s, &u->nat_addr, u->proto, &u->dst, u->dst_port, u->zone);
        s->slots[i] = (uint32_t)k + 1;
    }
    return 0;
}

static bool ep_addr_between(const ep_addr *a, const ep_addr *lo, const ep_addr *hi)
{
    size_t n = a->family == AF_INET ? 4 : 16;
    if (a->family != lo->family || a->family != hi->family)
        return false;
    return memcmp(a->u.bytes, lo->u.bytes, n) >= 0 && memcmp(a->u.bytes, hi->u.bytes, n) <= 0;
}

/* The range a new unit is compared with. */
static void ep_snat_unit_range(const ep_snat *s, ep_snat_unit *u)
{
    int best = -1;
    uint32_t best_ports = 0;
    bool differ = false;
    for (size_t i = 0; i < s->nrules; i++) {
        const ep_snat_rule *r = &s->rules[i];
        uint32_t ports;
        if (r->family && r->family != u->nat_addr.family)
            continue;
        if (r->proto && r->proto != u->proto)
            continue;
        if (r->has_addr && !ep_addr_between(&u->nat_addr, &r->addr_lo, &r->addr_hi))
            continue;
        ports = r->has_ports ? (uint32_t)(r->port_hi - r->port_lo) + 1
                             : EP_SNAT_DEFAULT_HI - EP_SNAT_DEFAULT_LO + 1;
        if (best >= 0 && ports != best_ports)
            differ = true;
        if (best < 0 || ports < best_ports) {
            best = (int)i;
            best_ports = ports;
        }
    }
    u->rule = best;
    u->ambiguous = differ;
    if (best >= 0 && s->rules[best].has_ports) {
        u->port_lo = s->rules[best].port_lo;
        u->port_hi = s->rules[best].port_hi;
        u->range_from = "rule";
    } else {
        u->port_lo = EP_SNAT_DEFAULT_LO;
        u->port_hi = EP_SNAT_DEFAULT_HI;
        u->range_from = best >= 0 ? "default" : "assumed";
    }
}

static ep_snat_unit *ep_snat_unit_get(ep_snat *s, const ep_addr *nat, uint8_t proto,
                                      const ep_addr *dst, uint16_t dport, uint16_t zone,
                                      bool create)
{
    size_t i;
    ep_snat_unit *u;
    if (!s->nslots) {
        if (!create || ep_snat_grow(s) < 0)
            return NULL;
    }
    i = ep_snat_slot(s, nat, proto, dst, dport, zone);
    if (s->slots[i])
        return &s->units[s->slots[i] - 1];
    if (!create)
        return NULL;
    if ((s->nunits + 1) * 4 > s->nslots * 3) {
        if (ep_snat_grow(s) < 0)
            return NULL;
        i = ep_snat_slot(s, nat, proto, dst, dport, zone);
    }
    if (s->nunits == s->cap_units) {
        size_t nc = s->cap_units ? s->cap_units * 2 : 64;
        ep_snat_unit *t = realloc(s->units, nc * sizeof *t);
        if (!t)
            return NULL;
        s->units = t;
        s->cap_units = nc;
    }
    u = &s->units[s->nunits];
    memset(u, 0, sizeof *u);
    u->nat_addr = *nat;
    u->proto = proto;
    u->dst = *dst;
    u->dst_port = dport;
    u->zone = zone;
    ep_snat_unit_range(s, u);
    s->slots[i] = (uint32_t)++s->nunits;
    return u;
}

static bool ep_snat_has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 132 || proto == 33 || proto == 136;
}

/* Pass 1: a translated flow. */
static void ep_snat_add_translated(const ep_snat_flow *f, void *arg)
{
    ep_snat *s = arg;
    ep_snat_unit *u;
    if (!ep_snat_flow_translated(f) || !ep_snat_has_ports(f->proto))
        return;
    u = ep_snat_unit_get(s, &f->rdst, f->proto, &f->rsrc, f->rsport, f->zone, true);
    if (!u) {
        s->oom = true;
        return;
    }
    s->flows++;
    u->flows++;
    if (f->tcp_state == EP_CT_TCP_TIME_WAIT || f->tcp_state == EP_CT_TCP_CLOSE)
        u->closing++;
    if (f->rdport >= u->port_lo && f->rdport <= u->port_hi)
        u->in_range++;
}

/* Pass 2: an untranslated entry that holds a tuple of a unit. */
static void ep_snat_add_local(const ep_snat_flow *f, void *arg)
{
    ep_snat *s = arg;
    ep_snat_unit *u;
    if (ep_snat_flow_translated(f) || !ep_snat_has_ports(f->proto))
        return;
    u = ep_snat_unit_get(s, &f->rdst, f->proto, &f->rsrc, f->rsport, f->zone, false);
    if (!u)
        return;
    u->local++;
    if (f->rdport >= u->port_lo && f->rdport <= u->port_hi)
        u->in_range++;
}

/* --- the /proc fallback --- */

static int ep_snat_proc_pass(ep_snat *s, ep_snat_flow_fn fn, uint64_t *bad)
{
    FILE *f = fopen("/proc/thread-self/net/nf_conntrack", "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    if (!f)
        return -errno;
    while ((n = getline(&line, &cap, f)) > 0) {
        ep_snat_flow fl;
        if (ep_snat_proc_line(line, &fl) == 0)
            fn(&fl, s);
        else
            (*bad)++;
    }
    free(line);
    fclose(f);
    return 0;
}

static void ep_snat_read_proc(ep_snat *s)
{
    uint64_t bad = 0;
    char *text = NULL;
    int rc = ep_snat_proc_pass(s, ep_snat_add_translated, &bad);
    if (rc < 0) {
        ep_snat_note(s, "could not read /proc/net/nf_conntrack: %s%s", ep_host_errno_words(rc),
                     rc == -ENOENT ? " (nf_conntrack is not loaded, or the kernel has no "
                                     "CONFIG_NF_CONNTRACK_PROCFS)"
                                   : "");
        return;
    }
    s->source = "proc";
    if (s->nunits)
        ep_snat_proc_pass(s, ep_snat_add_local, &bad);
    if (bad)
        ep_snat_note(s, "%llu lines of /proc/net/nf_conntrack could not be parsed (not counted)",
                     (unsigned long long)bad);
    rc = ep_host_read_file("/proc/thread-self/net/stat/nf_conntrack", &text, NULL);
    if (rc == 0) {
        if (ep_snat_proc_stats(text, &s->stats) < 0)
            ep_snat_note(s, "could not parse /proc/net/stat/nf_conntrack");
        free(text);
    } else {
        ep_snat_note(s, "could not read /proc/net/stat/nf_conntrack: %s", ep_host_errno_words(rc));
    }
}

static int64_t ep_snat_sysctl(ep_snat *s, const char *name)
{
    char path[96];
    int64_t v;
    int rc = ep_host_netfilter_sysctl(name, &v, path, sizeof path);

    if (rc == 0)
        return v;
    ep_snat_note(s, "could not read %s: %s", path, ep_host_errno_words(rc));
    return EP_HOST_UNKNOWN;
}

static const char *ep_snat_nl_words(int rc)
{
    switch (rc) {
    case -EPERM:
    case -EACCES:
        return "permission denied (dumping conntrack needs CAP_NET_ADMIN)";
    case -EPROTONOSUPPORT:
    case -EAFNOSUPPORT:
        return "no NETLINK_NETFILTER in this kernel";
    case -EOPNOTSUPP:
    case -ENOENT:
        return "ctnetlink is not available (nf_conntrack_netlink not loaded)";
    default:
        return strerror(-rc);
    }
}

static void ep_snat_read_rules(ep_snat *s)
{
    char why[256] = "", *text = NULL;
    size_t len = 0;
    int rc;
    if (s->opts->nft_json) {
        text = (char *)s->opts->nft_json;
        len = strlen(text);
    } else if (s->opts->flags & EP_SNAT_NO_NFT) {
        ep_snat_note(s, "the nftables ruleset was not read (asked not to): ranges are the "
                        "kernel's default, an upper bound");
        return;
    } else if ((rc = ep_snat_nft_run(&text, &len, why, sizeof why)) < 0) {
        ep_snat_note(s, "could not read the nftables ruleset: %s; ranges are the kernel's "
                        "default, an upper bound", why);
        return;
    }
    rc = ep_snat_parse_nft_json(text, len, &s->rules, why, sizeof why);
    if (text != s->opts->nft_json)
        free(text);
    if (rc < 0) {
        ep_snat_note(s, "could not parse the nftables ruleset: %s", why);
        return;
    }
    s->nrules = (size_t)rc;
    s->rules_known = true;
}

static int ep_snat_read(void *arg)
{
    ep_snat *s = arg;
    int rc;
    ep_snat_read_rules(s);
    if (s->opts->flags & EP_SNAT_SOURCE_PROC) {
        ep_snat_read_proc(s);
    } else if ((rc = ep_snat_ct_dump(EP_IPS_SRC_NAT, ep_snat_add_translated, s)) < 0) {
        ep_snat_note(s, "ctnetlink conntrack dump failed: %s; reading /proc/net/nf_conntrack "
                        "instead", ep_snat_nl_words(rc));
        s->nunits = 0;
        s->flows = 0;
        if (s->slots)
            memset(s->slots, 0, s->nslots * sizeof *s->slots);
        ep_snat_read_proc(s);
    } else {
        s->source = "netlink";
        if (s->nunits && (rc = ep_snat_ct_dump(0, ep_snat_add_local, s)) < 0)
            ep_snat_note(s, "could not dump the untranslated entries: %s; the NAT box's own "
                            "connections are not counted", ep_snat_nl_words(rc));
        if ((rc = ep_snat_ct_stats(&s->stats, &s->count, &s->max)) < 0)
            ep_snat_note(s, "could not read the conntrack statistics over netlink: %s",
                         ep_snat_nl_words(rc));
    }
    if (s->count < 0 || s->max < 0) {
        bool no_sys = access("/proc/sys/net/netfilter/nf_conntrack_max", F_OK) != 0;
        if (no_sys)
            ep_snat_note(s, "conntrack unavailable: nf_conntrack is not loaded (no "
                            "/proc/sys/net/netfilter/nf_conntrack_max)");
        else {
            s->count = ep_snat_sysctl(s, "nf_conntrack_count");
            s->max = ep_snat_sysctl(s, "nf_conntrack_max");
        }
    }
    return 0;
}

/* --- results --- */

static int ep_snat_unit_cmp(const void *a, const void *b)
{
    const ep_snat_unit *x = a, *y = b;
    bool xu = x->free < 0, yu = y->free < 0;
    if (xu != yu)
        return xu ? 1 : -1;
    if (!xu && x->headroom_pct != y->headroom_pct)
        return x->headroom_pct < y->headroom_pct ? -1 : 1;
    if (x->in_range != y->in_range)
        return x->in_range > y->in_range ? -1 : 1;
    return x->flows > y->flows ? -1 : x->flows < y->flows;
}

static void ep_snat_finish_units(ep_snat *s)
{
    for (size_t i = 0; i < s->nunits; i++) {
        ep_snat_unit *u = &s->units[i];
        u->ports = (int64_t)(u->port_hi - u->port_lo) + 1;
        u->free = u->ports - u->in_range;
        if (u->free < 0)
            u->free = 0; /* entries racing the dump: never more used than ports */
        u->headroom_pct = (double)u->free * 100.0 / (double)u->ports;
    }
    if (s->nunits > 1)
        qsort(s->units, s->nunits, sizeof *s->units, ep_snat_unit_cmp);
    s->ntop = s->opts->top && s->opts->top < s->nunits ? s->opts->top : s->nunits;
}

static void ep_snat_unit_words(const ep_snat_unit *u, char *buf, size_t len)
{
    char nat[EP_ADDR_STRLEN], dst[EP_ADDR_STRLEN];
    const char *p = u->proto == 6 ? "tcp" : u->proto == 17 ? "udp" : u->proto == 132 ? "sctp"
                                                                                     : "proto";
    ep_addr_format(&u->nat_addr, nat, sizeof nat);
    ep_addr_format(&u->dst, dst, sizeof dst);
    if (u->dst.family == AF_INET6)
        snprintf(buf, len, "%s -> [%s]:%u/%s", nat, dst, u->dst_port, p);
    else
        snprintf(buf, len, "%s -> %s:%u/%s", nat, dst, u->dst_port, p);
}

static void ep_snat_advise(ep_snat *s, ep_host_severity sev, const char *code, double headroom,
                           const char *message, const char *remedy)
{
    ep_host_advice *t;
    if (!message || !remedy)
        return;
    t = realloc(s->advice, (s->nadvice + 1) * sizeof *t);
    if (!t) {
        s->oom = true;
        return;
    }
    s->advice = t;
    t[s->nadvice++] = (ep_host_advice){ .severity = sev, .code = code, .dest = NULL,
                                        .headroom_pct = headroom, .sustainable_rate = -1,
                                        .message = message, .remedy = remedy };
}

static int ep_snat_advice_cmp(const void *a, const void *b)
{
    const ep_host_advice *x = a, *y = b;
    return (int)y->severity - (int)x->severity;
}

static const char *ep_snat_remedy(ep_snat *s, const ep_snat_unit *u)
{
    const ep_snat_rule *r = u->rule >= 0 ? &s->rules[u->rule] : NULL;
    char nat[EP_ADDR_STRLEN];
    ep_addr_format(&u->nat_addr, nat, sizeof nat);
    return ep_snat_str(
        s,
        "%s%s%s"
        "more SNAT addresses: each address adds a whole range towards this destination "
        "(`snat to %s-<another address>:%u-%u`); "
        "a wider range (`masquerade to :1024-65535`, the most a port range can give); "
        "shorter timeouts for finished flows (sysctl net.netfilter.nf_conntrack_tcp_timeout_"
        "time_wait, nf_conntrack_udp_timeout), since an entry holds its port until it expires; "
        "connection reuse (keep-alive, pooling) on the clients",
        r ? "change rule " : "", r ? r->where : "", r ? ": " : "", nat, u->port_lo, u->port_hi);
}

static void ep_snat_make_advice(ep_snat *s)
{
    size_t exhausted = 0, pressed = 0;
    const ep_snat_unit *worst = s->nunits ? &s->units[0] : NULL;
    char w[200];
    for (size_t i = 0; i < s->nunits; i++) {
        if (s->units[i].free == 0)
            exhausted++;
        else if (s->units[i].headroom_pct < 20)
            pressed++;
    }
    if (worst && worst->free == 0) {
        ep_snat_unit_words(worst, w, sizeof w);
        ep_snat_advise(s, EP_HOST_CRITICAL, "snat-exhausted", 0,
                       ep_snat_str(s, "SNAT ports exhausted: %s holds all %lld ports of %u-%u%s; "
                                      "a new flow to it is dropped (conntrack insert_failed)%s",
                                   w, (long long)worst->ports, worst->port_lo, worst->port_hi,
                                   strcmp(worst->range_from, "rule") ? " (the kernel's default, "
                                                                       "assumed)" : "",
                                   exhausted > 1 ? ep_snat_str(s, "; %zu units in all", exhausted)
                                                 : ""),
                       ep_snat_remedy(s, worst));
    } else if (worst && worst->headroom_pct < 20) {
        ep_snat_unit_words(worst, w, sizeof w);
        ep_snat_advise(s, EP_HOST_WARNING, "snat-pressure", worst->headroom_pct,
                       ep_snat_str(s, "SNAT ports running out: %s has %lld of %lld free (%.1f%%)%s",
                                   w, (long long)worst->free, (long long)worst->ports,
                                   worst->headroom_pct,
                                   pressed > 1 ? ep_snat_str(s, "; %zu units under 20%%", pressed)
                                               : ""),
                       ep_snat_remedy(s, worst));
    }
    if (s->stats.insert_failed > 0)
        ep_snat_advise(s, EP_HOST_WARNING, "snat-insert-failed", -1,
                       ep_snat_str(s, "%lld new connections were dropped because their conntrack "
                                      "entry could not be inserted (insert_failed, since the "
                                      "counters were last reset): the sign of SNAT tuples "
                                      "running out or of two CPUs picking the same tuple",
                                   (long long)s->stats.insert_failed),
                       ep_snat_str(s, "see the units above; if none is full, make the NAT rules "
                                      "fully random (nftables `masquerade fully-random`, "
                                      "iptables `-j MASQUERADE --random-fully`)"));
    for (size_t i = 0; i < s->nrules && s->nunits; i++) {
        const ep_snat_rule *r = &s->rules[i];
        if (r->fully_random)
            continue;
        ep_snat_advise(s, EP_HOST_INFO, "snat-not-fully-random", -1,
                       ep_snat_str(s, "%s rule %s keeps a flow's source port when that tuple is "
                                      "free; two flows from different clients with the same "
                                      "port, confirmed at once on two CPUs, pick the same tuple "
                                      "and one is dropped (insert_failed)",
                                   r->kind, r->where),
                       ep_snat_str(s, "add the flag fully-random (`%s%s fully-random`; iptables "
                                      "`--random-fully`): every port is drawn at random",
                                   r->kind, r->has_ports ? " to :PORTS" : ""));
    }
    if (s->count >= 0 && s->max > 0 && s->count * 10 >= s->max * 9)
        ep_snat_advise(s, EP_HOST_CRITICAL, "conntrack-full", -1,
                       ep_snat_str(s, "the conntrack table holds %lld of %lld entries",
                                   (long long)s->count, (long long)s->max),
                       ep_snat_str(s, "raise net.netfilter.nf_conntrack_max (and "
                                      "nf_conntrack_buckets), or shorten the timeouts"));
    if (s->nadvice > 1)
        qsort(s->advice, s->nadvice, sizeof *s->advice, ep_snat_advice_cmp);
}

int ep_snat_take(const ep_snat_options *opts, ep_snat **out)
{
    ep_snat_options def;
    ep_snat *s;
    char why[256] = "";
    int rc;

    *out = NULL;
    if (!opts) {
        ep_snat_options_init(&def);
        opts = &def;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->opts = opts;
    s->count = s->max = EP_HOST_UNKNOWN;
    s->stats = (ep_snat_stats){ EP_HOST_UNKNOWN, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
    if (opts->netns && !(s->netns = strdup(opts->netns))) {
        free(s);
        return -ENOMEM;
    }
    rc = ep_host_in_netns(opts->netns, ep_snat_read, s, why, sizeof why);
    if (rc < 0) {
        ep_snat_free(s);
        return rc;
    }
    if (s->nunits)
        for (size_t i = 0; i < s->nunits; i++)
            if (!strcmp(s->units[i].range_from, "assumed") && s->rules_known) {
                ep_snat_note(s, "no nftables masquerade/snat rule fits some units (iptables-"
                                "legacy or an xt target?): their range is the kernel's "
                                "default, an upper bound");
                break;
            }
    ep_snat_finish_units(s);
    ep_snat_make_advice(s);
    s->opts = NULL;
    if (s->oom) {
        ep_snat_free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void ep_snat_free(ep_snat *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nstrings; i++)
        free(s->strings[i]);
    free(s->strings);
    free(s->notes);
    free(s->advice);
    free(s->units);
    free(s->slots);
    free(s->rules);
    free(s->netns);
    free(s);
}

const char *ep_snat_source(const ep_snat *s) { return s->source; }
int64_t ep_snat_conntrack_count(const ep_snat *s) { return s->count; }
int64_t ep_snat_conntrack_max(const ep_snat *s) { return s->max; }
uint64_t ep_snat_flows(const ep_snat *s) { return s->flows; }
const ep_snat_stats *ep_snat_statistics(const ep_snat *s) { return &s->stats; }
const char *ep_snat_netns(const ep_snat *s) { return s->netns; }

const ep_snat_unit *ep_snat_units(const ep_snat *s, size_t *n, size_t *total)
{
    *n = s->ntop;
    if (total)
        *total = s->nunits;
    return s->ntop ? s->units : NULL;
}

const ep_snat_rule *ep_snat_rules(const ep_snat *s, size_t *n, bool *known)
{
    *n = s->nrules;
    if (known)
        *known = s->rules_known;
    return s->rules;
}

const char *const *ep_snat_notes(const ep_snat *s, size_t *n)
{
    *n = s->nnotes;
    return (const char *const *)s->notes;
}

const ep_host_advice *ep_snat_advice(const ep_snat *s, size_t *n)
{
    *n = s->nadvice;
    return s->advice;
}
