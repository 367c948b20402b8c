/* select.c - the selection algorithms, all on the same tables.
 *
 * Every algorithm answers the same question with the same predicate (a port
 * is available towards destination D on local address L iff it is
 * effective, not blocked by a binding on L or its wildcard, and D has no
 * non-reusable entry on it) and fails only when the exact free count is 0,
 * which the caller checks first: exhaustion costs one subtraction.
 *
 * EP_ALG_RANDOM, the default: uniform over the available ports.
 *   A sparse destination: rejection sampling, draw a uniform effective index
 *   (reserved ports are never drawn: the index->port table skips them),
 *   accept if available.  A dense destination (at least a quarter of the
 *   range unavailable), or after 8 misses: exact selection, k =
 *   uniform(free) and the index at position k of the destination's set of
 *   available indexes (dense.c), one draw and one read.  Both branches are
 *   uniform over the same set, so their mixture is.  No linear probing,
 *   hence no bias toward ports that follow a run of used ones, and no
 *   per-host state an observer could learn: every draw is fresh CSPRNG
 *   output.
 * EP_ALG_SEQUENTIAL: a pool-wide cursor over effective indexes, next
 *   available after the last port handed out (lwIP).
 * EP_ALG_RFC6056_1: random offset, linear probe (RFC 6056 3.3.1).
 * EP_ALG_RFC6056_2: up to `effective` random tries (RFC 6056 3.3.2), then,
 *   unlike the RFC (which gives up), a linear probe from a random offset so
 *   that it fails only on real exhaustion like the others.
 * EP_ALG_RFC6056_3: offset = F(local, remote, remote port) with SipHash-2-4
 *   under a pool secret, plus a global counter incremented per probe
 *   (RFC 6056 3.3.3, gVisor's hash + counter).
 * EP_ALG_RFC6056_4: Linux __inet_hash_connect() (>= 5.18): port_offset =
 *   F(), a 65536-entry perturbation table indexed by its low bits, offset =
 *   (table[index] + (port_offset >> 32)) % remaining with remaining the range
 *   size rounded down to even, an even pass then an odd pass of step 2 over
 *   the port range (reserved ports skipped), and on success table[index] +=
 *   max(i, random(0..7) * 2) + 2.  Deliberately O(range) when full: it is the
 *   baseline.  One deviation: when the range size is odd, the wrap at the
 *   top makes Linux skip one port (the first or the last); we try both
 *   after the passes, so the algorithm fails only on real exhaustion.
 * EP_ALG_RFC6056_5: position += random(1..500), linear probe from there
 *   (RFC 6056 3.3.5 with N = 500; the RFC adds a random increment per probe,
 *   we probe linearly after one increment so that every port is reached).
 * The linear probes walk effective indexes, so reserved ports cost nothing;
 * on a dense destination they read its set instead of hashing.
 * During ep_pool_connect_rss (pool->rss_queue >= 0) rss.c chooses instead:
 * the port among the queue's, the address weighed by the queue's ports. */
#include <errno.h>
#include <string.h>

#include "dest.h"
#include "engine.h"
#include "rsspool.h"
#include "select.h"
#include "siphash.h"
#include "tuple_table.h"
#include "chacha.h"
#include "dense.h"

#define EP_REJECT_TRIES 8
#define EP_RFC5_INCREMENT 500

typedef struct ep_sel {
    ep_pool *pool;
    uint32_t lidx;
    int pi;
    uint32_t di;
    const ep_dense *dn;
} ep_sel;

static bool ep_sel_ok(const ep_sel *s, uint32_t i)
{
    if (s->dn)
        return !ep_dense_test(s->dn, i);
    return ep_eff_port_available(s->pool, s->lidx, s->pi, s->di, ep_index_port(s->pool, i));
}

/* First available effective index at or after start (cyclic), or EP_NIL. */
static uint32_t ep_sel_probe(const ep_sel *s, uint32_t start)
{
    uint32_t n = s->pool->neff, i = start % n;
    for (uint32_t c = 0; c < n; c++) {
        if (ep_sel_ok(s, i))
            return i;
        if (++i == n)
            i = 0;
    }
    return EP_NIL;
}

/* The k-th available effective index by a scan (no dense set at hand). */
static uint32_t ep_sel_scan_kth(const ep_sel *s, uint32_t k)
{
    for (uint32_t i = 0; i < s->pool->neff; i++)
        if (ep_sel_ok(s, i) && k-- == 0)
            return i;
    return EP_NIL;
}

static uint64_t ep_sel_f(const ep_pool *pool, uint32_t lidx, const ep_addr *remote, uint16_t rport)
{
    struct { uint8_t l[16], r[16]; uint16_t rport; uint8_t family, pad; } in;
    memset(&in, 0, sizeof in);
    memcpy(in.l, pool->addrs[lidx].addr.u.bytes, 16);
    memcpy(in.r, remote->u.bytes, 16);
    in.rport = rport;
    in.family = remote->family;
    return ep_siphash24(pool->fkey, &in, sizeof in);
}

static uint32_t ep_sel_random(ep_sel *s, uint32_t free)
{
    ep_pool *pool = s->pool;
    unsigned tries = s->dn ? 0 : EP_REJECT_TRIES;

    for (unsigned t = 0; t < tries; t++) {
        uint32_t i = ep_rng_below(&pool->rng, pool->neff);
        if (ep_sel_ok(s, i))
            return i;
    }
    if (!s->dn && ep_shares_address_set(pool, s->pi)) {
        if (ep_lstate_make_own(pool, s->lidx, s->pi) == 0)
            s->dn = ep_ls(pool, s->lidx, s->pi)->own;
    } else if (!s->dn && s->di != EP_NIL && ep_dest_make_dense(pool, s->di) == 0) {
        s->dn = pool->dt.d[s->di].dense;
    }
    uint32_t k = ep_rng_below(&pool->rng, free);
    return s->dn ? ep_dense_select(s->dn, k) : ep_sel_scan_kth(s, k);
}

static uint32_t ep_sel_rfc4(ep_sel *s, const ep_addr *remote, uint16_t rport)
{
    ep_pool *pool = s->pool;
    uint32_t low = pool->cfg.lo, high = (uint32_t)pool->cfg.hi + 1;
    uint32_t remaining = high - low, offset, index, port, i;
    uint64_t port_offset = ep_sel_f(pool, s->lidx, remote, rport);

    if (remaining > 1)
        remaining &= ~1u;
    index = (uint32_t)port_offset & 0xffff;
    offset = (uint32_t)(((uint64_t)pool->perturb[index] + (port_offset >> 32)) % remaining);
    offset &= ~1u;
    for (;;) {
        port = low + offset;
        for (i = 0; i < remaining; i += 2, port += 2) {
            if (port >= high)
                port -= remaining;
            uint32_t idx = ep_port_index(pool, port);
            if (idx == EP_NIL || !ep_sel_ok(s, idx))
                continue;
            uint32_t inc = ep_rng_below(&pool->rng, 8) * 2;
            pool->perturb[index] += (i > inc ? i : inc) + 2;
            return idx;
        }
        offset++;
        if (!((offset & 1) && remaining > 1))
            break;
    }
    /* Odd-sized range: the wrap at `high` makes the even pass skip one port,
     * `low` when the offset is > 0, else `high - 1` (Linux skips it too);
     * we try both, so the algorithm fails only on real exhaustion. */
    if (low + remaining < high) {
        const uint32_t skipped[2] = { low, high - 1 };
        for (int c = 0; c < 2; c++) {
            uint32_t idx = ep_port_index(pool, skipped[c]);
            if (idx != EP_NIL && ep_sel_ok(s, idx))
                return idx;
        }
    }
    return EP_NIL;
}

int ep_select_port(ep_pool *pool, uint32_t lidx, int pi, uint32_t di,
                   const ep_addr *remote, uint16_t rport, uint16_t *port)
{
    ep_sel s = { pool, lidx, pi, di,
                 ep_shares_address_set(pool, pi) ? ep_ls(pool, lidx, pi)->own
                 : di != EP_NIL ? pool->dt.d[di].dense : NULL };
    uint32_t free = ep_dest_free(pool, lidx, pi, di), n = pool->neff, i = EP_NIL;

    if (free == 0)
        return -EADDRNOTAVAIL;
    if (pool->rss_queue >= 0) /* ep_pool_connect_rss: rss.c chooses */
        return ep_rss_select_port(pool, lidx, pi, di, remote, rport, port);
    switch (pool->cfg.algorithm) {
    case EP_ALG_RANDOM:
        i = ep_sel_random(&s, free);
        break;
    case EP_ALG_SEQUENTIAL:
        i = ep_sel_probe(&s, pool->seq_next % n);
        if (i != EP_NIL)
            pool->seq_next = (i + 1) % n;
        break;
    case EP_ALG_RFC6056_1:
        i = ep_sel_probe(&s, ep_rng_below(&pool->rng, n));
        break;
    case EP_ALG_RFC6056_2:
        for (uint32_t t = 0; t < n && i == EP_NIL; t++) {
            uint32_t c = ep_rng_below(&pool->rng, n);
            if (ep_sel_ok(&s, c))
                i = c;
        }
        if (i == EP_NIL)
            i = ep_sel_probe(&s, ep_rng_below(&pool->rng, n));
        break;
    case EP_ALG_RFC6056_3: {
        uint64_t off = ep_sel_f(pool, lidx, remote, rport) % n;
        for (uint32_t c = 0; c < n && i == EP_NIL; c++) {
            uint32_t cand = (uint32_t)((off + pool->alg3_counter++ % n) % n);
            if (ep_sel_ok(&s, cand))
                i = cand;
        }
        break;
    }
    case EP_ALG_RFC6056_4:
        i = ep_sel_rfc4(&s, remote, rport);
        break;
    case EP_ALG_RFC6056_5:
        pool->alg5_next = (pool->alg5_next + 1 + ep_rng_below(&pool->rng, EP_RFC5_INCREMENT)) % n;
        i = ep_sel_probe(&s, pool->alg5_next);
        if (i != EP_NIL)
            pool->alg5_next = i;
        break;
    default:
        break;
    }
    if (i == EP_NIL)
        return -EADDRNOTAVAIL; /* not reached: free > 0 */
    *port = ep_index_port(pool, i);
    return 0;
}

int ep_select_local(ep_pool *pool, uint8_t proto, const ep_addr *remote, uint16_t rport,
                    uint32_t *lidx, uint32_t *di)
{
    int pi = ep_proto_index(proto);
    uint64_t sum = 0, k;
    uint32_t only = pool->fam_addr[ep_family_index(remote->family)];

    if (only == EP_NIL)
        return -EAFNOSUPPORT;
    if (pool->rss_queue >= 0) /* ep_pool_connect_rss: weighed by the queue's ports */
        return ep_rss_select_local(pool, proto, remote, rport, lidx, di);
    if (only != EP_MANY) { /* the only address of the family (the common
                              case): no weighing, one lookup */
        uint32_t d = ep_dest_find(pool, proto, only, remote, rport);
        if (ep_dest_free(pool, only, pi, d) == 0) {
            ep_dest_count_failure(pool, d);
            return -EADDRNOTAVAIL;
        }
        *lidx = only;
        *di = d;
        return 0;
    }
    for (uint32_t a = 0; a < pool->naddrs; a++) {
        if (pool->addrs[a].addr.family != remote->family)
            continue;
        sum += ep_dest_free(pool, a, pi, ep_dest_find(pool, proto, a, remote, rport));
    }
    if (sum == 0) {
        for (uint32_t a = 0; a < pool->naddrs; a++) {
            if (pool->addrs[a].addr.family != remote->family)
                continue;
            ep_dest_count_failure(pool, ep_dest_find(pool, proto, a, remote, rport));
        }
        return -EADDRNOTAVAIL;
    }
    k = sum <= UINT32_MAX ? ep_rng_below(&pool->rng, (uint32_t)sum)
                          : ep_rng_u64(&pool->rng) % sum; /* > 65535 addresses */
    for (uint32_t a = 0; a < pool->naddrs; a++) {
        if (pool->addrs[a].addr.family != remote->family)
            continue;
        uint32_t d = ep_dest_find(pool, proto, a, remote, rport);
        uint32_t f = ep_dest_free(pool, a, pi, d);
        if (k < f) {
            *lidx = a;
            *di = d;
            return 0;
        }
        k -= f;
    }
    return -EADDRNOTAVAIL; /* not reached */
}
