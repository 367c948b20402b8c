/* rss.c - RSS-aware port choice (ephport/rss.h): a pool's RSS
 * configuration, the tables derived from it, and the choice of a port, and
 * of a local address, whose replies the NIC steers to the caller's queue.
 *
 * The fact it rests on: the Toeplitz hash is linear over GF(2).  For a
 * reply to our connection the input is (remote, local, remote port, local
 * port), so
 *     hash = C(remote, local, remote port) ^ P(local port)
 * where C is the hash of the input with the local port zeroed and P the
 * XOR of the key windows of the port's set bits.  Only the low m bits
 * index the table (reta_size = 2^m): a port's queue is
 *     reta[(C ^ P(port)) & mask].
 * P(port) & mask - the port's *class* - depends on the key and the family
 * only, not on the destination: the ports of one class are a coset of the
 * kernel of the linear map port -> P(port) & mask, the same cosets for
 * every destination.  A destination only decides which classes go to which
 * queue (class v goes to reta[C ^ v]): queue q owns the classes
 * {x ^ (C & mask) : reta[x] == q}.  So, per pool and family, effective
 * port indexes are sorted once by class (corder, cstart), and:
 *
 *   - sparse destination (no exact set): rejection sampling inside the
 *     queue's own candidates - draw a uniform effective port of one of q's
 *     classes (weights = class sizes, a walk over q's |reta|/queues table
 *     entries), accept if free - at most EP_RSS_TRIES draws;
 *   - after that many misses, or at once when the destination already has
 *     one, the exact path: the destination's dense set (dense.c) gets an
 *     RSS layer (rsslayer.h), the same available/unavailable split kept
 *     with the indexes grouped by class, each class's available ones
 *     first, and a count per class.  Then q's free count is the sum of its
 *     classes' counts, and the k-th free port of q (k uniform) is one read
 *     after the walk.  Marking a port costs one more swap, done inside
 *     ep_dense_set / ep_dense_clear, so every path that keeps the dense set
 *     exact keeps the layer exact.
 *
 * Both paths are uniform over the same set (q's free ports), so their
 * mixture is; the exact path fails exactly when q has no free port.  Cost
 * per choice: O(reta_size / queues) for the walk, at any occupancy;
 * building a layer is O(range) once per destination.  A destination keeps
 * its layer (and so its dense set) until it has no entries: its queue may
 * be full while the destination as a whole is sparse.  Linux-semantics UDP
 * (ports shared per address, ep_lstate.own) and destinations without a
 * record (no entries yet) have no per-destination set: their exact
 * fallback counts and scans q's candidates, O(range / queues).
 *
 * Local address left to the pool: each address of the family is weighed
 * by its exact free count for q (the layer's counts; no entries and no
 * bindings: q's candidate count; otherwise the set is built), so the
 * (address, port) pair is uniform over q's free pairs. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/rss.h>

#include "chacha.h"
#include "dense.h"
#include "dest.h"
#include "engine.h"
#include "rsspool.h"
#include "select.h"
#include "toeplitz.h"

#define EP_RSS_TRIES 8

typedef struct ep_rss_fam {
    uint32_t inlen;             /* 12 (IPv4) or 36 (IPv6) input bytes */
    uint32_t (*btab)[256];      /* [inlen - 2][256]: hash contribution of
                                   input byte `pos` having value `b` */
    uint16_t *pcls;             /* [65536] class of each port */
    uint16_t *cls;              /* [65536] class of each effective index */
    uint16_t *corder;           /* [65536] effective indexes sorted by class */
    uint32_t *cstart;           /* [nclass + 1] segment of each class */
} ep_rss_fam;

struct ep_rss {
    uint8_t key[EP_RSS_KEY_MAX];
    size_t key_len;
    uint32_t reta_size, mask;   /* mask = reta_size - 1 = nclass - 1 */
    uint16_t *reta;             /* [reta_size] */
    uint32_t nqueues;           /* largest queue in the table + 1 */
    uint32_t *qstart;           /* [nqueues + 1] into qlist */
    uint16_t *qlist;            /* [reta_size] table entries, by queue */
    ep_rss_fam fam[2];          /* per ep_family_index */
};

/* ---- configuration and tables ------------------------------------------- */

static void ep_rss_free(struct ep_rss *r)
{
    if (!r)
        return;
    for (int f = 0; f < 2; f++) {
        free(r->fam[f].btab);
        free(r->fam[f].pcls);
        free(r->fam[f].cls);
        free(r->fam[f].corder);
        free(r->fam[f].cstart);
    }
    free(r->reta);
    free(r->qstart);
    free(r->qlist);
    free(r);
}

/* Sort the effective indexes by class (a counting sort): count, prefix
 * sums (cstart[v + 1] = end of class v), fill each class from its end
 * (leaving cstart[v + 1] = start of class v), shift back by one. */
static void ep_rss_fam_index(const ep_pool *pool, const struct ep_rss *r, ep_rss_fam *f)
{
    uint32_t nclass = r->mask + 1;

    memset(f->cstart, 0, (nclass + 1) * sizeof *f->cstart);
    for (uint32_t i = 0; i < pool->neff; i++) {
        f->cls[i] = f->pcls[pool->idx2port[i]];
        f->cstart[f->cls[i] + 1]++;
    }
    for (uint32_t v = 0; v < nclass; v++)
        f->cstart[v + 1] += f->cstart[v];
    for (uint32_t i = pool->neff; i-- > 0;)
        f->corder[--f->cstart[f->cls[i] + 1]] = (uint16_t)i;
    for (uint32_t v = 0; v < nclass; v++)
        f->cstart[v] = f->cstart[v + 1];
    f->cstart[nclass] = pool->neff;
}

static int ep_rss_fam_build(const ep_pool *pool, struct ep_rss *r, ep_rss_fam *f, uint32_t inlen)
{
    uint32_t nclass = r->mask + 1, pw[16];

    f->inlen = inlen;
    f->btab = malloc((inlen - 2) * sizeof *f->btab);
    f->pcls = malloc(65536 * sizeof *f->pcls);
    f->cls = malloc(65536 * sizeof *f->cls);
    f->corder = malloc(65536 * sizeof *f->corder);
    f->cstart = malloc((nclass + 1) * sizeof *f->cstart);
    if (!f->btab || !f->pcls || !f->cls || !f->corder || !f->cstart)
        return -ENOMEM;
    for (uint32_t pos = 0; pos < inlen - 2; pos++) {
        uint32_t w[8];
        for (int b = 0; b < 8; b++)
            w[b] = ep_toeplitz_window(r->key, r->key_len, pos * 8 + (uint32_t)b);
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t h = 0;
            for (int b = 0; b < 8; b++)
                if (v & (0x80u >> b))
                    h ^= w[b];
            f->btab[pos][v] = h;
        }
    }
    /* port bit j (0 = least significant) is input bit (inlen - 2) * 8 + 15 - j */
    for (uint32_t j = 0; j < 16; j++)
        pw[j] = ep_toeplitz_window(r->key, r->key_len, (inlen - 2) * 8 + 15 - j);
    f->pcls[0] = 0;
    for (uint32_t p = 1; p < 65536; p++) { /* P is linear: add the lowest bit */
        uint32_t j = (uint32_t)__builtin_ctz(p);
        f->pcls[p] = (uint16_t)((f->pcls[p & (p - 1)] ^ pw[j]) & r->mask);
    }
    ep_rss_fam_index(pool, r, f);
    return 0;
}

/* Every dense set loses its layer (the tables it points into change). */
static void ep_rss_drop_layers(ep_pool *pool)
{
    for (uint32_t a = 0; a < pool->naddrs; a++) {
        for (int pi = 0; pi < 2; pi++) {
            for (ep_dense *dn = ep_ls(pool, a, pi)->dense; dn; dn = dn->next) {
                free(dn->rss);
                dn->rss = NULL;
            }
        }
    }
}

int ep_rss_configure(ep_pool *pool, const ep_rss_config *cfg, struct ep_rss **out)
{
    struct ep_rss *r;
    uint32_t n;

    *out = NULL;
    if (!cfg)
        return 0;
    n = cfg->reta_size;
    if (!cfg->key || !cfg->reta || cfg->key_len < EP_RSS_KEY_MIN || cfg->key_len > EP_RSS_KEY_MAX ||
        n == 0 || n > EP_RSS_RETA_MAX || (n & (n - 1)))
        return -EINVAL;
    if (!(r = calloc(1, sizeof *r)))
        return -ENOMEM;
    memcpy(r->key, cfg->key, cfg->key_len);
    r->key_len = cfg->key_len;
    r->reta_size = n;
    r->mask = n - 1;
    r->reta = malloc(n * sizeof *r->reta);
    r->qlist = malloc(n * sizeof *r->qlist);
    if (!r->reta || !r->qlist)
        goto nomem;
    memcpy(r->reta, cfg->reta, n * sizeof *r->reta);
    for (uint32_t x = 0; x < n; x++)
        if (r->reta[x] + 1u > r->nqueues)
            r->nqueues = r->reta[x] + 1u;
    if (!(r->qstart = calloc((size_t)r->nqueues + 1, sizeof *r->qstart)))
        goto nomem;
    for (uint32_t x = 0; x < n; x++)
        r->qstart[r->reta[x] + 1]++;
    for (uint32_t q = 0; q < r->nqueues; q++)
        r->qstart[q + 1] += r->qstart[q];
    for (uint32_t x = n; x-- > 0;)
        r->qlist[--r->qstart[r->reta[x] + 1]] = (uint16_t)x;
    for (uint32_t q = 0; q < r->nqueues; q++)
        r->qstart[q] = r->qstart[q + 1];
    r->qstart[r->nqueues] = n;
    if (ep_rss_fam_build(pool, r, &r->fam[0], 12) < 0 || ep_rss_fam_build(pool, r, &r->fam[1], 36) < 0)
        goto nomem;
    *out = r;
    return 0;
nomem:
    ep_rss_free(r);
    return -ENOMEM;
}

void ep_rss_install(ep_pool *pool, struct ep_rss *r)
{
    ep_rss_drop_layers(pool);
    ep_rss_free(pool->rss);
    pool->rss = r;
}

void ep_rss_share(ep_pool *shard, struct ep_rss *r)
{
    ep_rss_drop_layers(shard);
    shard->rss = r;
}

void ep_rss_destroy(ep_pool *pool)
{
    ep_rss_free(pool->rss);
    pool->rss = NULL;
}

void ep_rss_reindex(ep_pool *pool)
{
    if (!pool->rss)
        return;
    ep_rss_drop_layers(pool);
    for (int f = 0; f < 2; f++)
        ep_rss_fam_index(pool, pool->rss, &pool->rss->fam[f]);
}

bool ep_rss_queue_ok(const ep_pool *pool, int32_t queue)
{
    const struct ep_rss *r = pool->rss;
    return r && queue >= 0 && (uint32_t)queue < r->nqueues &&
           r->qstart[queue + 1] > r->qstart[queue];
}

/* ---- one destination ----------------------------------------------------- */

/* C & mask for a reply from remote:rport to local (port bits zero). */
static uint32_t ep_rss_dest_class(const struct ep_rss *r, const ep_rss_fam *f,
                                  const ep_addr *local, const ep_addr *remote, uint16_t rport)
{
    uint32_t alen = (f->inlen - 4) / 2, h = 0;

    for (uint32_t i = 0; i < alen; i++)
        h ^= f->btab[i][remote->u.bytes[i]] ^ f->btab[alen + i][local->u.bytes[i]];
    h ^= f->btab[2 * alen][rport >> 8] ^ f->btab[2 * alen + 1][rport & 0xff];
    return h & r->mask;
}

/* What a choice for one (address, destination, queue) needs. */
typedef struct ep_rss_sel {
    ep_pool *pool;
    const struct ep_rss *r;
    const ep_rss_fam *f;
    uint32_t lidx, di, c;
    int pi;
    const uint16_t *qx, *qend;  /* the queue's table entries */
} ep_rss_sel;

static void ep_rss_sel_init(ep_rss_sel *s, ep_pool *pool, uint32_t lidx, int pi, uint32_t di,
                            const ep_addr *remote, uint16_t rport, uint32_t queue)
{
    const struct ep_rss *r = pool->rss;
    s->pool = pool;
    s->r = r;
    s->f = &r->fam[ep_family_index(remote->family)];
    s->lidx = lidx;
    s->pi = pi;
    s->di = di;
    s->c = ep_rss_dest_class(r, s->f, &pool->addrs[lidx].addr, remote, rport);
    s->qx = r->qlist + r->qstart[queue];
    s->qend = r->qlist + r->qstart[queue + 1];
}

static inline uint32_t ep_rss_seglen(const ep_rss_fam *f, uint32_t v)
{
    return f->cstart[v + 1] - f->cstart[v];
}

/* Can the destination have a set of its own?  Not without a live record
 * (none, or an idle one: no entries, and an idle record keeps no set), and
 * not under Linux UDP (the address's shared set). */
static bool ep_rss_sel_settable(const ep_rss_sel *s)
{
    return s->di != EP_NIL && !s->pool->dt.d[s->di].idle && !ep_shares_address_set(s->pool, s->pi);
}

/* The destination's layer, or NULL. */
static ep_rss_layer *ep_rss_sel_layer(const ep_rss_sel *s)
{
    if (!ep_rss_sel_settable(s) || !s->pool->dt.d[s->di].dense)
        return NULL;
    return s->pool->dt.d[s->di].dense->rss;
}

/* Give di (ep_rss_sel_settable) a dense set with a layer; -ENOMEM leaves
 * it without. */
static int ep_rss_attach(ep_rss_sel *s)
{
    ep_pool *pool = s->pool;
    ep_dense *dn;
    ep_rss_layer *l;
    uint32_t n = pool->neff, nclass = s->r->mask + 1;
    int rc;

    if ((rc = ep_dest_make_dense(pool, s->di)) < 0)
        return rc;
    dn = pool->dt.d[s->di].dense;
    if (dn->rss)
        return 0;
    l = malloc(sizeof *l + (size_t)n * 2 * sizeof(uint16_t) + (size_t)nclass * sizeof(uint32_t));
    if (!l)
        return -ENOMEM;
    l->cfree = (uint32_t *)(l + 1);
    l->order = (uint16_t *)(l->cfree + nclass);
    l->slot = l->order + n;
    l->cls = s->f->cls;
    l->cstart = s->f->cstart;
    memcpy(l->order, s->f->corder, (size_t)n * sizeof *l->order);
    for (uint32_t p = 0; p < n; p++)
        l->slot[l->order[p]] = (uint16_t)p;
    for (uint32_t v = 0; v < nclass; v++)
        l->cfree[v] = ep_rss_seglen(s->f, v);
    for (uint32_t i = 0; i < n; i++)
        if (ep_dense_test(dn, i))
            ep_rss_layer_set(l, i);
    dn->rss = l;
    return 0;
}

/* The queue's candidate count (ignoring availability). */
static uint32_t ep_rss_sel_candidates(const ep_rss_sel *s)
{
    uint32_t total = 0;
    for (const uint16_t *x = s->qx; x < s->qend; x++)
        total += ep_rss_seglen(s->f, *x ^ s->c);
    return total;
}

/* The k-th candidate (k < ep_rss_sel_candidates), an effective index. */
static uint32_t ep_rss_sel_candidate(const ep_rss_sel *s, uint32_t k)
{
    for (const uint16_t *x = s->qx; x < s->qend; x++) {
        uint32_t v = *x ^ s->c, n = ep_rss_seglen(s->f, v);
        if (k < n)
            return s->f->corder[s->f->cstart[v] + k];
        k -= n;
    }
    assert(0);
    return EP_NIL;
}

static bool ep_rss_sel_ok(const ep_rss_sel *s, uint32_t i)
{
    return ep_eff_port_available(s->pool, s->lidx, s->pi, s->di, ep_index_port(s->pool, i));
}

/* The queue's exact free count; with the k-th free index when want. */
static uint32_t ep_rss_sel_scan(const ep_rss_sel *s, bool want, uint32_t k, uint32_t *idx)
{
    uint32_t count = 0;
    for (const uint16_t *x = s->qx; x < s->qend; x++) {
        uint32_t v = *x ^ s->c;
        for (uint32_t p = s->f->cstart[v]; p < s->f->cstart[v + 1]; p++) {
            uint32_t i = s->f->corder[p];
            if (!ep_rss_sel_ok(s, i))
                continue;
            if (want && count == k) {
                *idx = i;
                return count + 1;
            }
            count++;
        }
    }
    return count;
}

static uint32_t ep_rss_layer_free(const ep_rss_sel *s, const ep_rss_layer *l)
{
    uint32_t total = 0;
    for (const uint16_t *x = s->qx; x < s->qend; x++)
        total += l->cfree[*x ^ s->c];
    return total;
}

static uint32_t ep_rss_layer_kth(const ep_rss_sel *s, const ep_rss_layer *l, uint32_t k)
{
    for (const uint16_t *x = s->qx; x < s->qend; x++) {
        uint32_t v = *x ^ s->c;
        if (k < l->cfree[v])
            return l->order[l->cstart[v] + k];
        k -= l->cfree[v];
    }
    assert(0);
    return EP_NIL;
}

/* The queue's exact free count on (lidx, di), building the layer when
 * that is the only exact way short of a scan. */
static uint32_t ep_rss_sel_free(ep_rss_sel *s)
{
    const ep_rss_layer *l = ep_rss_sel_layer(s);

    if (!l && ep_rss_sel_settable(s) && ep_rss_attach(s) == 0)
        l = ep_rss_sel_layer(s);
    if (l)
        return ep_rss_layer_free(s, l);
    if (ep_ls(s->pool, s->lidx, s->pi)->blocked == 0 && !ep_rss_sel_settable(s) &&
        !ep_shares_address_set(s->pool, s->pi))
        return ep_rss_sel_candidates(s);
    return ep_rss_sel_scan(s, false, 0, NULL);
}

int ep_rss_select_port(ep_pool *pool, uint32_t lidx, int pi, uint32_t di, const ep_addr *remote,
                       uint16_t rport, uint16_t *port)
{
    ep_rss_sel s;
    const ep_rss_layer *l;
    uint32_t i = EP_NIL, total;

    assert(pool->rss && pool->rss_queue >= 0);
    ep_rss_sel_init(&s, pool, lidx, pi, di, remote, rport, (uint32_t)pool->rss_queue);
    if (!(l = ep_rss_sel_layer(&s))) {
        total = ep_rss_sel_candidates(&s);
        for (unsigned t = 0; total && t < EP_RSS_TRIES; t++) {
            uint32_t c = ep_rss_sel_candidate(&s, ep_rng_below(&pool->rng, total));
            if (ep_rss_sel_ok(&s, c)) {
                i = c;
                goto found;
            }
        }
        if (ep_rss_sel_settable(&s) && ep_rss_attach(&s) == 0)
            l = ep_rss_sel_layer(&s);
    }
    if (l) {
        total = ep_rss_layer_free(&s, l);
        if (total)
            i = ep_rss_layer_kth(&s, l, ep_rng_below(&pool->rng, total));
    } else {
        total = ep_rss_sel_scan(&s, false, 0, NULL);
        if (total)
            (void)ep_rss_sel_scan(&s, true, ep_rng_below(&pool->rng, total), &i);
    }
    if (i == EP_NIL) {
        ep_dest_count_failure(pool, di);
        return -EADDRNOTAVAIL;
    }
found:
    assert(ep_rss_sel_ok(&s, i));
    *port = ep_index_port(pool, i);
    return 0;
}

int ep_rss_select_local(ep_pool *pool, uint8_t proto, const ep_addr *remote, uint16_t rport,
                        uint32_t *lidx, uint32_t *di)
{
    int pi = ep_proto_index(proto);
    uint32_t queue = (uint32_t)pool->rss_queue;
    uint64_t sum = 0, k;

    if (pool->fam_addr[ep_family_index(remote->family)] == EP_NIL)
        return -EAFNOSUPPORT;
    if (pool->fam_addr[ep_family_index(remote->family)] != EP_MANY) {
        /* one address: ep_rss_select_port decides for the queue */
        *lidx = pool->fam_addr[ep_family_index(remote->family)];
        *di = ep_dest_find(pool, proto, *lidx, remote, rport);
        if (ep_dest_free(pool, *lidx, pi, *di) == 0) {
            ep_dest_count_failure(pool, *di);
            return -EADDRNOTAVAIL;
        }
        return 0;
    }
    for (uint32_t a = 0; a < pool->naddrs; a++) {
        ep_rss_sel s;
        if (pool->addrs[a].addr.family != remote->family)
            continue;
        ep_rss_sel_init(&s, pool, a, pi, ep_dest_find(pool, proto, a, remote, rport), remote, rport,
                        queue);
        sum += ep_rss_sel_free(&s);
    }
    if (sum == 0) {
        for (uint32_t a = 0; a < pool->naddrs; a++)
            if (pool->addrs[a].addr.family == remote->family)
                ep_dest_count_failure(pool, ep_dest_find(pool, proto, a, remote, rport));
        return -EADDRNOTAVAIL;
    }
    k = sum <= UINT32_MAX ? ep_rng_below(&pool->rng, (uint32_t)sum) : ep_rng_u64(&pool->rng) % sum;
    for (uint32_t a = 0; a < pool->naddrs; a++) {
        ep_rss_sel s;
        uint32_t d, f;
        if (pool->addrs[a].addr.family != remote->family)
            continue;
        d = ep_dest_find(pool, proto, a, remote, rport);
        ep_rss_sel_init(&s, pool, a, pi, d, remote, rport, queue);
        f = ep_rss_sel_free(&s);
        if (k < f) {
            *lidx = a;
            *di = d;
            return 0;
        }
        k -= f;
    }
    return -EADDRNOTAVAIL; /* not reached */
}

/* ---- consistency (ep_pool_check) ------------------------------------------ */

const char *ep_rss_layer_verify(const ep_pool *pool, const ep_dense *dn)
{
    const ep_rss_layer *l = dn->rss;
    const struct ep_rss *r = pool->rss;
    uint32_t nclass, seen = 0;

    if (!l)
        return NULL;
    if (!r)
        return "a layer without an RSS configuration";
    nclass = r->mask + 1;
    if (l->cls != r->fam[0].cls && l->cls != r->fam[1].cls)
        return "a layer pointing at stale tables";
    for (uint32_t i = 0; i < pool->neff; i++) {
        uint32_t v = l->cls[i], p = l->slot[i];
        if (v >= nclass || p < l->cstart[v] || p >= l->cstart[v + 1] || l->order[p] != i)
            return "an index outside its class's segment, or not a permutation";
        if ((p < l->cstart[v] + l->cfree[v]) == ep_dense_test(dn, i))
            return "an index whose availability differs from the dense set";
    }
    for (uint32_t v = 0; v < nclass; v++) {
        if (l->cfree[v] > l->cstart[v + 1] - l->cstart[v])
            return "a class with more free indexes than members";
        seen += l->cfree[v];
    }
    if (seen != pool->neff - dn->nset)
        return "class free counts do not add up to the dense set's";
    return NULL;
}
