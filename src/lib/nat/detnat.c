/* detnat.c - deterministic NAT (RFC 7422) with paired pooling: every inside
 * address gets one external address and one contiguous port block, both
 * ways in O(1).
 *
 * Numbering: the inside CIDRs, in the order given, number the subscribers
 * 0..N-1; the outside CIDRs number the external addresses 0..M-1.  The port
 * range [lo, hi] of P ports is cut into K = floor(P / B) blocks of B ports
 * (the tail P - K*B is never used).  Subscriber i gets
 *
 *     external address  i % M,     block  i / M  (ports lo + b*B .. + B-1)
 *
 * and the reverse is i = b * M + e.  Round-robin over addresses keeps the
 * load of every external address within one subscriber of the others, and
 * a subscriber never moves when more inside CIDRs are appended at the end.
 * The only non-arithmetic step is finding which CIDR holds an address (or
 * an index): a binary search over the list, which is a handful of entries
 * in practice.
 *
 * Sizing: --block-size B fixes B (K follows); --ratio R fixes K = R
 * (B = floor(P / R)); neither picks the largest B that fits:
 * K = ceil(N / M).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <ephport/nat.h>

struct ep_nat_span {
    uint32_t first;   /* first address, host order */
    uint64_t size;    /* addresses in the CIDR */
    uint64_t base;    /* number of the first address */
};

struct ep_nat_plan {
    ep_nat_plan_info info;
    struct ep_nat_span *in_order, *in_sorted;   /* by base, by first */
    size_t n_in;
    struct ep_nat_span *out_order, *out_sorted;
    size_t n_out;
    char *inside_text, *outside_text;            /* canonical lists */
};

static int ep_plan_fail(ep_parse_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ep_plan_fail(ep_parse_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->offset = 0;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return EP_EINVAL;
}

static int ep_span_cmp(const void *pa, const void *pb)
{
    const struct ep_nat_span *a = pa, *b = pb;
    return a->first < b->first ? -1 : a->first > b->first;
}

/* Parse one list, check it is IPv4, build its spans; *total gets the count. */
static int ep_plan_list(const char *what, const char *text, ep_cidr **cidrs, size_t *n,
                        struct ep_nat_span **order, struct ep_nat_span **sorted,
                        uint64_t *total, char **canon, ep_parse_error *err)
{
    ep_parse_error e;
    int rc;
    uint64_t sum = 0;
    size_t cap;

    if (!text)
        return ep_plan_fail(err, "no %s addresses given", what);
    rc = ep_cidr_list_parse(text, cidrs, n, &e);
    if (rc != 0) {
        if (rc == EP_EINVAL)
            ep_plan_fail(err, "%s: %s", what, e.message);
        return rc;
    }
    for (size_t i = 0; i < *n; i++) {
        if ((*cidrs)[i].addr.family != AF_INET) {
            char c[EP_CIDR_STRLEN];
            ep_cidr_format(&(*cidrs)[i], c, sizeof c);
            return ep_plan_fail(err, "%s: %s is IPv6; NAT plans are IPv4 (NAT44)", what, c);
        }
    }
    *order = malloc(*n * sizeof **order);
    *sorted = malloc(*n * sizeof **sorted);
    cap = *n * EP_CIDR_STRLEN + 1;
    *canon = malloc(cap);
    if (!*order || !*sorted || !*canon)
        return EP_ENOMEM;
    for (size_t i = 0; i < *n; i++) {
        uint32_t first;
        memcpy(&first, (*cidrs)[i].addr.u.bytes, 4);
        (*order)[i].first = ntohl(first);
        (*order)[i].size = ep_cidr_size4(&(*cidrs)[i]);
        (*order)[i].base = sum;
        sum += (*order)[i].size;
    }
    memcpy(*sorted, *order, *n * sizeof **order);
    qsort(*sorted, *n, sizeof **sorted, ep_span_cmp);
    if (ep_cidr_list_format(*cidrs, *n, *canon, cap) < 0)
        return EP_ENOMEM;
    *total = sum;
    return 0;
}

void ep_nat_plan_free(ep_nat_plan *plan)
{
    if (!plan)
        return;
    free(plan->in_order);
    free(plan->in_sorted);
    free(plan->out_order);
    free(plan->out_sorted);
    free(plan->inside_text);
    free(plan->outside_text);
    free(plan);
}

int ep_nat_plan_new(const ep_nat_config *cfg, ep_nat_plan **out, ep_parse_error *err)
{
    ep_nat_plan *p;
    ep_cidr *in = NULL, *ext = NULL;
    size_t nin = 0, next = 0;
    uint64_t N = 0, M = 0, P, K, B;
    int rc;

    if (!cfg || !out)
        return ep_plan_fail(err, "no plan configuration");
    *out = NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return EP_ENOMEM;
    rc = ep_plan_list("inside", cfg->inside, &in, &nin, &p->in_order, &p->in_sorted, &N,
                      &p->inside_text, err);
    if (rc == 0)
        rc = ep_plan_list("outside", cfg->outside, &ext, &next, &p->out_order, &p->out_sorted,
                          &M, &p->outside_text, err);
    if (rc != 0)
        goto fail;
    p->n_in = nin;
    p->n_out = next;
    for (size_t i = 0; i < nin; i++) {
        for (size_t j = 0; j < next; j++) {
            if (ep_cidr_overlaps(&in[i], &ext[j])) {
                char a[EP_CIDR_STRLEN], b[EP_CIDR_STRLEN];
                ep_cidr_format(&in[i], a, sizeof a);
                ep_cidr_format(&ext[j], b, sizeof b);
                rc = ep_plan_fail(err, "inside %s overlaps outside %s", a, b);
                goto fail;
            }
        }
    }
    p->info.port_lo = cfg->port_lo;
    p->info.port_hi = cfg->port_hi;
    if (cfg->port_lo == 0 && cfg->port_hi == 0) {
        p->info.port_lo = 1024;
        p->info.port_hi = 65535;
    }
    if (p->info.port_lo == 0 || p->info.port_lo > p->info.port_hi) {
        rc = ep_plan_fail(err, "port range %u-%u is not 1 <= LO <= HI <= 65535",
                          p->info.port_lo, p->info.port_hi);
        goto fail;
    }
    P = (uint64_t)p->info.port_hi - p->info.port_lo + 1;
    if (cfg->ratio && cfg->block_size) {
        rc = ep_plan_fail(err, "give a ratio or a block size, not both");
        goto fail;
    }
    if (cfg->block_size) {
        B = cfg->block_size;
        if (B > P) {
            rc = ep_plan_fail(err, "block size %u does not fit in ports %u-%u (%llu ports)",
                              cfg->block_size, p->info.port_lo, p->info.port_hi,
                              (unsigned long long)P);
            goto fail;
        }
        K = P / B;
    } else if (cfg->ratio) {
        K = cfg->ratio;
        if (K > P) {
            rc = ep_plan_fail(err,
                              "ratio %u does not fit: ports %u-%u give at most %llu "
                              "subscribers per address (1 port each)",
                              cfg->ratio, p->info.port_lo, p->info.port_hi, (unsigned long long)P);
            goto fail;
        }
        B = P / K;
    } else {
        K = (N + M - 1) / M;
        if (K > P) {
            rc = ep_plan_fail(err,
                              "%llu subscribers do not fit: %llu external addresses x %llu "
                              "ports = %llu subscribers at 1 port each",
                              (unsigned long long)N, (unsigned long long)M,
                              (unsigned long long)P, (unsigned long long)(M * P));
            goto fail;
        }
        B = P / K;
    }
    if (N > M * K) {
        rc = ep_plan_fail(err,
                          "%llu subscribers do not fit: %llu external addresses x %llu blocks "
                          "of %llu ports = %llu subscribers",
                          (unsigned long long)N, (unsigned long long)M, (unsigned long long)K,
                          (unsigned long long)B, (unsigned long long)(M * K));
        goto fail;
    }
    p->info.subscribers = N;
    p->info.ext_addrs = M;
    p->info.block_size = (uint32_t)B;
    p->info.blocks_per_addr = (uint32_t)K;
    p->info.capacity = M * K;
    p->info.unused_ports = (uint32_t)(P - K * B);
    free(in);
    free(ext);
    *out = p;
    return 0;
fail:
    free(in);
    free(ext);
    ep_nat_plan_free(p);
    return rc;
}

void ep_nat_plan_get_info(const ep_nat_plan *plan, ep_nat_plan_info *out)
{
    *out = plan->info;
}

/* The span whose addresses hold a (host order), or NULL. */
static const struct ep_nat_span *ep_span_by_addr(const struct ep_nat_span *s, size_t n, uint32_t a)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid].first <= a)
            lo = mid;
        else
            hi = mid;
    }
    if (n == 0 || a < s[lo].first || (uint64_t)(a - s[lo].first) >= s[lo].size)
        return NULL;
    return &s[lo];
}

/* The address numbered idx (< total). */
static uint32_t ep_span_by_index(const struct ep_nat_span *s, size_t n, uint64_t idx)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid].base <= idx)
            lo = mid;
        else
            hi = mid;
    }
    return s[lo].first + (uint32_t)(idx - s[lo].base);
}

static void ep_addr4(uint32_t host, ep_addr *out)
{
    uint32_t be = htonl(host);
    memset(out, 0, sizeof *out);
    out->family = AF_INET;
    memcpy(out->u.bytes, &be, 4);
}

static uint32_t ep_addr4_host(const ep_addr *a)
{
    uint32_t be;
    memcpy(&be, a->u.bytes, 4);
    return ntohl(be);
}

/* Fill out for subscriber i whose inside address is known. */
static void ep_plan_fill(const ep_nat_plan *plan, uint64_t i, uint32_t inside, ep_nat_mapping *out)
{
    uint64_t M = plan->info.ext_addrs;
    uint64_t e = i % M, b = i / M;
    memset(out, 0, sizeof *out);
    out->index = i;
    ep_addr4(inside, &out->inside);
    ep_addr4(ep_span_by_index(plan->out_order, plan->n_out, e), &out->ext);
    out->port_lo = (uint16_t)(plan->info.port_lo + b * plan->info.block_size);
    out->port_hi = (uint16_t)(out->port_lo + plan->info.block_size - 1);
}

int ep_nat_plan_at(const ep_nat_plan *plan, uint64_t index, ep_nat_mapping *out)
{
    if (!plan || !out)
        return EP_EINVAL;
    if (index >= plan->info.subscribers)
        return EP_ENOENT;
    ep_plan_fill(plan, index, ep_span_by_index(plan->in_order, plan->n_in, index), out);
    return 0;
}

int ep_nat_plan_forward(const ep_nat_plan *plan, const ep_addr *inside, ep_nat_mapping *out)
{
    const struct ep_nat_span *s;
    uint32_t a;
    if (!plan || !inside || !out)
        return EP_EINVAL;
    if (inside->family != AF_INET)
        return EP_ENOENT;
    a = ep_addr4_host(inside);
    s = ep_span_by_addr(plan->in_sorted, plan->n_in, a);
    if (!s)
        return EP_ENOENT;
    ep_plan_fill(plan, s->base + (a - s->first), a, out);
    return 0;
}

int ep_nat_plan_reverse(const ep_nat_plan *plan, const ep_addr *ext, uint16_t port,
                        ep_nat_mapping *out)
{
    const struct ep_nat_span *s;
    uint32_t a;
    uint64_t e, b, i;
    if (!plan || !ext || !out)
        return EP_EINVAL;
    if (ext->family != AF_INET || port < plan->info.port_lo || port > plan->info.port_hi)
        return EP_ENOENT;
    a = ep_addr4_host(ext);
    s = ep_span_by_addr(plan->out_sorted, plan->n_out, a);
    if (!s)
        return EP_ENOENT;
    e = s->base + (a - s->first);
    b = (uint64_t)(port - plan->info.port_lo) / plan->info.block_size;
    if (b >= plan->info.blocks_per_addr)
        return EP_ENOENT;
    i = b * plan->info.ext_addrs + e;
    if (i >= plan->info.subscribers)
        return EP_ENOENT;
    ep_plan_fill(plan, i, ep_span_by_index(plan->in_order, plan->n_in, i), out);
    return 0;
}

int ep_nat_plan_describe(const ep_nat_plan *plan, char *buf, size_t len)
{
    if (!plan || (!buf && len))
        return EP_EINVAL;
    return snprintf(buf, len, "inside=%s outside=%s ports=%u-%u block-size=%u",
                    plan->inside_text, plan->outside_text, plan->info.port_lo,
                    plan->info.port_hi, plan->info.block_size);
}
