/* group.c - grouping sockets into destinations while a dump streams in.
 *
 * A destination is (protocol, local address, remote address, remote port):
 * the kernel lets one local port serve many 4-tuples, so that is the unit
 * that runs out.  Only sockets whose local port lies in the ephemeral range
 * count.  Each socket is folded into an open-addressing hash table the
 * moment it is parsed, so memory grows with destinations, never with
 * sockets (100,000 TIME_WAIT entries towards 4 servers cost 4 slots).
 *
 * Sockets that are not connections are kept apart: TCP LISTEN and
 * bound-but-unconnected TCP (state CLOSE, no peer) and unconnected UDP are
 * "bind-only"; their ports block every destination of that protocol.  TCP
 * sockets whose local port is a listening port were accepted, not connected
 * out, and are only counted.
 *
 * Free ports of a TCP destination D are the effective ports a connect()
 * towards it could take now (Linux __inet_hash_connect): neither sticky nor
 * blocked by D itself.  Sticky = held by an explicitly bound socket (bound,
 * listening, connected after bind(), or its TIME_WAIT), which makes every
 * autobind skip the port, whatever the destination; LISTEN and bound-only
 * sockets are sticky for certain, and for the rest sticky.c asks the kernel
 * (the ports passed here by ep_host_agg_sticky_candidates).  D blocks a port
 * with any socket of its 4-tuple there, except a TIME_WAIT entry that
 * tcp_tw_reuse lets a new connection take over (capacity.h's rule, and
 * older than tcp_tw_reuse_delay by its timer, with a 10 ms margin for the
 * timer's granularity).  So free(D) = effective - |sticky| - |D's blocking
 * ports that are not sticky|; the last term needs each blocking socket's
 * (destination, port), kept in a compact array (6 bytes a socket).
 *
 * UDP does not share a port between 4-tuples on connect(), so a UDP
 * destination's free ports = effective ports - every UDP port in use in the
 * range: exactly what the next UDP socket's autobind can get (EAGAIN at 0)
 * for IPv6, a lower bound for IPv4 (an IPv6-only socket would not block
 * it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/capacity.h>

#include "host-internal.h"

int ep_host_agg_init(ep_host_agg *agg, uint16_t lo, uint16_t hi, const ep_portset *reserved,
                     bool keep_samples, int family)
{
    memset(agg, 0, sizeof *agg);
    agg->lo = lo;
    agg->hi = hi;
    agg->reserved = reserved;
    agg->keep_samples = keep_samples;
    agg->family = family;
    agg->nslots = 64;
    agg->tw_reuse = -1;
    agg->slots = calloc(agg->nslots, sizeof *agg->slots);
    agg->port_blockers = calloc(65536, sizeof *agg->port_blockers);
    return agg->slots && agg->port_blockers ? 0 : -ENOMEM;
}

/* Record that destination e blocks port (TCP). */
static void ep_host_agg_block(ep_host_agg *agg, ep_host_entry *e, uint16_t port)
{
    if (agg->nblocks == agg->cap_blocks) {
        size_t n = agg->cap_blocks ? agg->cap_blocks * 2 : 256;
        ep_host_block *b = realloc(agg->blocks, n * sizeof *b);
        if (!b) {
            agg->error = -ENOMEM;
            return;
        }
        agg->blocks = b;
        agg->cap_blocks = n;
    }
    agg->blocks[agg->nblocks].id = e->id;
    agg->blocks[agg->nblocks].port = port;
    agg->nblocks++;
    agg->port_blockers[port]++;
    e->blocking++;
}

/* A TIME_WAIT entry a new connect() towards its destination may take over
 * now: tcp_tw_reuse applies (either end loopback for 2) and its timer says
 * it is older than the delay, with a margin for the timer's granularity
 * (one jiffy is at most 10 ms), so that the count is never optimistic. */
static bool ep_host_tw_reusable(const ep_host_agg *agg, const ep_host_sock *s)
{
    return s->state == EP_HOST_TIME_WAIT && agg->tw_reuse > 0 && s->tw_age_ms >= 0 &&
           agg->tw_reuse_delay_ms >= 0 && s->tw_age_ms > agg->tw_reuse_delay_ms + 10 &&
           ep_linux_tw_reuse_applies(agg->tw_reuse, &s->local, &s->remote);
}

static uint64_t ep_host_key_hash(uint8_t proto, const ep_addr *l, const ep_addr *r, uint16_t rport)
{
    uint64_t h = 1469598103934665603ull;
    const uint8_t *p;
#define EP_MIX(byte) (h = (h ^ (uint8_t)(byte)) * 1099511628211ull)
    EP_MIX(proto);
    EP_MIX(l->family);
    EP_MIX(r->family);
    EP_MIX(rport);
    EP_MIX(rport >> 8);
    p = l->u.bytes;
    for (int i = 0; i < 16; i++)
        EP_MIX(p[i]);
    p = r->u.bytes;
    for (int i = 0; i < 16; i++)
        EP_MIX(p[i]);
#undef EP_MIX
    return h ^ (h >> 29);
}

static bool ep_host_key_equal(const ep_host_dest *d, const ep_host_sock *s)
{
    return d->proto == s->proto && d->remote_port == s->remote_port &&
           ep_addr_equal(&d->local, &s->local) && ep_addr_equal(&d->remote, &s->remote);
}

static int ep_host_agg_grow(ep_host_agg *agg)
{
    size_t n = agg->nslots * 2;
    ep_host_entry *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < agg->nslots; i++) {
        ep_host_entry *e = &agg->slots[i];
        size_t j;
        if (!e->d.proto)
            continue;
        j = ep_host_key_hash(e->d.proto, &e->d.local, &e->d.remote, e->d.remote_port) & (n - 1);
        while (slots[j].d.proto)
            j = (j + 1) & (n - 1);
        slots[j] = *e;
    }
    free(agg->slots);
    agg->slots = slots;
    agg->nslots = n;
    return 0;
}

static ep_host_entry *ep_host_agg_find(ep_host_agg *agg, const ep_host_sock *s)
{
    size_t j;
    if ((agg->nused + 1) * 4 > agg->nslots * 3 && ep_host_agg_grow(agg) != 0)
        return NULL;
    j = ep_host_key_hash(s->proto, &s->local, &s->remote, s->remote_port) & (agg->nslots - 1);
    while (agg->slots[j].d.proto) {
        if (ep_host_key_equal(&agg->slots[j].d, s))
            return &agg->slots[j];
        j = (j + 1) & (agg->nslots - 1);
    }
    agg->slots[j].d.proto = s->proto;
    agg->slots[j].d.local = s->local;
    agg->slots[j].d.remote = s->remote;
    agg->slots[j].d.remote_port = s->remote_port;
    agg->slots[j].id = agg->next_id++;
    agg->nused++;
    return &agg->slots[j];
}

static bool ep_host_reserved(const ep_host_agg *agg, uint16_t port)
{
    return agg->reserved && ep_portset_has(agg->reserved, port);
}

void ep_host_agg_add(ep_host_agg *agg, const ep_host_sock *s)
{
    bool tcp = s->proto == 6;
    bool reserved;
    ep_host_entry *e;

    if (agg->error || (s->proto != 6 && s->proto != 17) || s->state == 0 ||
        s->state >= EP_HOST_NSTATES)
        return;
    if (agg->family && s->local.family != agg->family)
        return;
    if (s->local_port < agg->lo || s->local_port > agg->hi)
        return;
    if (agg->listen_pass) {
        if (tcp && s->state == EP_HOST_LISTEN)
            ep_portset_add(&agg->listen_set, s->local_port);
        return;
    }
    reserved = ep_host_reserved(agg, s->local_port);
    if (tcp) {
        agg->totals.tcp[s->state]++;
        agg->totals.tcp_all++;
        if (s->local.family == AF_INET6)
            agg->totals.tcp_v6++;
        else
            agg->totals.tcp_v4++;
        if (s->state == EP_HOST_LISTEN) {
            agg->bound.tcp_listen++;
            ep_portset_add(&agg->listen_set, s->local_port);
            if (!reserved)
                ep_portset_add(&agg->tcp_set, s->local_port);
            return;
        }
        if (s->state == EP_HOST_CLOSE && (s->remote_port == 0 || ep_addr_is_wildcard(&s->remote))) {
            agg->bound.tcp_bound++;
            if (!reserved)
                ep_portset_add(&agg->tcp_set, s->local_port);
            return;
        }
        if (ep_portset_has(&agg->listen_set, s->local_port)) {
            agg->totals.accepted++;
            return;
        }
    } else {
        agg->totals.udp[s->state]++;
        agg->totals.udp_all++;
        if (s->local.family == AF_INET6)
            agg->totals.udp_v6++;
        else
            agg->totals.udp_v4++;
        if (!reserved)
            ep_portset_add(&agg->udp_used, s->local_port);
        if (s->state != EP_HOST_ESTABLISHED || s->remote_port == 0) {
            agg->bound.udp_unconnected++;
            if (!reserved)
                ep_portset_add(&agg->udp_set, s->local_port);
            return;
        }
    }
    e = ep_host_agg_find(agg, s);
    if (!e) {
        agg->error = -ENOMEM;
        return;
    }
    e->d.used++;
    e->d.states[s->state]++;
    if (!reserved)
        e->used_effective++;
    if (tcp && !reserved) {
        ep_portset_add(&agg->tcp_conn, s->local_port);
        if (!ep_host_tw_reusable(agg, s))
            ep_host_agg_block(agg, e, s->local_port);
    }
    if (agg->keep_samples && s->inode && e->nsample < EP_HOST_PROC_SAMPLE) {
        if (!e->sample) {
            e->sample = malloc(EP_HOST_PROC_SAMPLE * sizeof *e->sample);
            if (!e->sample) {
                agg->error = -ENOMEM;
                return;
            }
        }
        e->sample[e->nsample++] = s->inode;
    }
}

static int ep_host_entry_cmp(const void *a, const void *b)
{
    const ep_host_dest *x = &((const ep_host_entry *)a)->d, *y = &((const ep_host_entry *)b)->d;
    int c;
    if (x->pressure != y->pressure)
        return x->pressure > y->pressure ? -1 : 1;
    if (x->used != y->used)
        return x->used > y->used ? -1 : 1;
    if (x->proto != y->proto)
        return x->proto < y->proto ? -1 : 1;
    if (x->remote.family != y->remote.family)
        return x->remote.family < y->remote.family ? -1 : 1;
    if ((c = memcmp(x->remote.u.bytes, y->remote.u.bytes, 16)) != 0)
        return c;
    if (x->remote_port != y->remote_port)
        return x->remote_port < y->remote_port ? -1 : 1;
    return memcmp(x->local.u.bytes, y->local.u.bytes, 16);
}

/* Members of set in [lo, hi], a word at a time (ep_portset_count tests
 * bit by bit; this runs on every snapshot and fuzz input). */
static uint32_t ep_host_count_range(const ep_portset *set, uint16_t lo, uint16_t hi)
{
    uint32_t n = 0;
    for (uint32_t w = lo / 64u; w <= hi / 64u; w++) {
        uint64_t bits = set->bits[w];
        if (w == lo / 64u)
            bits &= ~0ull << (lo % 64u);
        if (w == hi / 64u && hi % 64u != 63u)
            bits &= (1ull << (hi % 64u + 1u)) - 1u;
        n += (uint32_t)__builtin_popcountll(bits);
    }
    return n;
}

void ep_host_agg_sticky_candidates(const ep_host_agg *agg, ep_portset *out)
{
    size_t ntcp = 0;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < agg->nslots; i++)
        ntcp += agg->slots[i].d.proto == 6;
    if (ntcp == 0)
        return; /* no destination: stickiness changes no free count */
    for (uint32_t p = agg->lo; p <= agg->hi; p++)
        if (ep_portset_has(&agg->tcp_conn, (uint16_t)p) &&
            !ep_portset_has(&agg->tcp_set, (uint16_t)p) && agg->port_blockers[p] < ntcp)
            ep_portset_add(out, (uint16_t)p);
}

/* The free count of every TCP destination against a sticky set: effective
 * - |sticky| - (blocking - blocking ports that are sticky). */
static int ep_host_tcp_free(ep_host_agg *agg, ep_host_entry *arr, size_t k, int64_t effective,
                            const ep_portset *sticky, bool use_free_max)
{
    uint32_t *overlap = calloc(agg->next_id ? agg->next_id : 1, sizeof *overlap);
    int64_t nsticky = ep_host_count_range(sticky, agg->lo, agg->hi);
    if (!overlap)
        return -ENOMEM;
    for (size_t b = 0; b < agg->nblocks; b++)
        if (ep_portset_has(sticky, agg->blocks[b].port))
            overlap[agg->blocks[b].id]++;
    for (size_t i = 0; i < k; i++) {
        ep_host_entry *e = &arr[i];
        int64_t f;
        if (e->d.proto != 6)
            continue;
        f = effective - nsticky - ((int64_t)e->blocking - overlap[e->id]);
        if (f < 0)
            f = 0;
        if (use_free_max)
            e->d.free_max = f;
        else
            e->d.free = f;
    }
    free(overlap);
    return 0;
}

int ep_host_agg_finish(ep_host_agg *agg, int64_t effective, const ep_host_sticky *sticky,
                       ep_host_entry **out, size_t *n)
{
    ep_host_entry *arr;
    size_t k = 0;
    uint32_t udp_used;

    agg->bound.tcp_ports = ep_host_count_range(&agg->tcp_set, agg->lo, agg->hi);
    agg->bound.udp_ports = ep_host_count_range(&agg->udp_set, agg->lo, agg->hi);
    udp_used = ep_host_count_range(&agg->udp_used, agg->lo, agg->hi);
    agg->bound.udp_free = effective > 0 ? (effective - udp_used > 0 ? effective - udp_used : 0)
                                        : EP_HOST_UNKNOWN;
    *out = NULL;
    *n = 0;
    if (agg->error)
        return agg->error;
    arr = calloc(agg->nused ? agg->nused : 1, sizeof *arr);
    if (!arr)
        return -ENOMEM;
    for (size_t i = 0; i < agg->nslots; i++) {
        ep_host_entry *e = &agg->slots[i];
        ep_host_dest *d;
        if (!e->d.proto)
            continue;
        arr[k] = *e;
        e->sample = NULL; /* moved */
        d = &arr[k++].d;
        d->time_wait = d->states[EP_HOST_TIME_WAIT];
        d->established = d->states[EP_HOST_ESTABLISHED];
        d->other = d->used - d->time_wait - d->established;
        if (effective > 0 && d->proto != 6) {
            int64_t taken = (int64_t)udp_used;
            d->free = d->free_max = effective - taken > 0 ? effective - taken : 0;
        } else {
            d->free = d->free_max = EP_HOST_UNKNOWN;
        }
    }
    if (effective > 0) {
        /* TCP: the lower bound counts every port of unknown stickiness as
         * sticky, the upper bound none; they are equal when it is known */
        ep_portset lower = agg->tcp_set, upper = agg->tcp_set;
        int rc;
        if (sticky) {
            for (size_t w = 0; w < sizeof lower.bits / sizeof lower.bits[0]; w++) {
                lower.bits[w] |= sticky->sure.bits[w] | sticky->unsure.bits[w];
                upper.bits[w] |= sticky->sure.bits[w];
            }
        }
        if ((rc = ep_host_tcp_free(agg, arr, k, effective, &lower, false)) != 0 ||
            (rc = ep_host_tcp_free(agg, arr, k, effective, &upper, true)) != 0) {
            ep_host_entries_free(arr, k);
            return rc;
        }
    }
    for (size_t i = 0; i < k; i++) {
        ep_host_dest *d = &arr[i].d;
        if (effective > 0) {
            d->headroom_pct = 100.0 * (double)d->free / (double)effective;
            d->pressure = 1.0 - (double)d->free / (double)effective;
        } else {
            d->headroom_pct = -1;
            d->pressure = 0;
        }
    }
    qsort(arr, k, sizeof *arr, ep_host_entry_cmp);
    *out = arr;
    *n = k;
    return 0;
}

void ep_host_entries_free(ep_host_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].sample);
        free(e[i].procs);
    }
    free(e);
}

void ep_host_agg_free(ep_host_agg *agg)
{
    free(agg->blocks);
    agg->blocks = NULL;
    free(agg->port_blockers);
    agg->port_blockers = NULL;
    if (!agg->slots)
        return;
    for (size_t i = 0; i < agg->nslots; i++)
        free(agg->slots[i].sample);
    free(agg->slots);
    agg->slots = NULL;
}
