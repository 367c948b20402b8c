/* natblocks.c - dynamic port-block allocation for CGNAT: blocks handed out
 * on demand, bounded per subscriber, paired to one external address, and
 * released on request or after an idle timeout.
 *
 * Where deterministic NAT gives every subscriber a fixed block whether it
 * uses it or not, dynamic blocks share the pool by demand and the log
 * (natlog.c) records who held what when.  The rules (RFC 6888):
 *
 *   - paired pooling (REQ-2): all of a subscriber's blocks, every
 *     protocol, are on one external address, chosen when it takes its
 *     first block (the address with most free blocks of that protocol)
 *     and kept while it holds any;
 *   - a per-subscriber limit (REQ-4) of max_blocks per protocol: -EDQUOT;
 *   - an idle timeout: blocks not touched for idle_timeout seconds are
 *     released by ep_nat_blocks_expire(), which reports each release so it
 *     can be logged.
 *
 * Structures (O(1) per operation, except pairing a subscriber that holds
 * no block: a scan of the M external addresses for the most free blocks):
 *   blocks[]  one entry per (external address, protocol, block): owner
 *             (subscriber slot or -1), start, last use, LRU links;
 *   free[]    per (external address, protocol) a stack of free block
 *             numbers; a random entry is swapped to the top and popped,
 *             so the block a subscriber gets is not predictable;
 *   subs      open-addressing hash of subscriber address -> slot (paired
 *             address, blocks held per protocol); slots are kept after
 *             the last release (bounded by the subscribers ever seen);
 *   lru       held blocks in order of last use, so expiry visits only the
 *             blocks that expire.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <ephport/nat.h>

#define EP_NB_NONE UINT32_MAX
#define EP_NB_MAX_BLOCKS (1u << 24)

struct ep_nb_block {
    uint32_t owner;        /* subscriber slot, EP_NB_NONE when free */
    uint32_t prev, next;   /* LRU links among held blocks */
    int64_t start, last;
};

struct ep_nb_sub {
    ep_addr addr;          /* family 0: empty slot */
    uint32_t ext;          /* paired external address, EP_NB_NONE if none */
    uint32_t held[3];      /* per protocol index */
    uint32_t total;
};

struct ep_nat_blocks {
    ep_nat_blocks_config cfg;
    uint32_t *ext_addr;    /* host-order IPv4 external addresses */
    uint64_t *ext_sorted;  /* address << 32 | number, sorted: reverse index */
    uint32_t n_ext, per_addr;            /* M, K */
    struct ep_nb_block *blocks;          /* M * 3 * K */
    uint32_t *free_stack;                /* M * 3 stacks of K */
    uint32_t *free_top;                  /* M * 3 */
    struct ep_nb_sub *subs;
    uint32_t sub_cap, sub_used;
    uint32_t lru_head, lru_tail;
    uint64_t rng;
    uint64_t held;
};

static int ep_nb_proto_index(uint8_t proto)
{
    return proto == 6 ? 0 : proto == 17 ? 1 : proto == 1 ? 2 : -1;
}

static const uint8_t ep_nb_protos[3] = { 6, 17, 1 };

static uint64_t ep_nb_rand(ep_nat_blocks *b)
{
    /* splitmix64 */
    uint64_t z = (b->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int ep_nb_fail(ep_parse_error *err, const char *msg)
{
    if (err) {
        err->offset = 0;
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
    return EP_EINVAL;
}

static int ep_nb_cmp64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return a < b ? -1 : a > b;
}

void ep_nat_blocks_free(ep_nat_blocks *b)
{
    if (!b)
        return;
    free(b->ext_addr);
    free(b->ext_sorted);
    free(b->blocks);
    free(b->free_stack);
    free(b->free_top);
    free(b->subs);
    free(b);
}

int ep_nat_blocks_new(const ep_nat_blocks_config *cfg, ep_nat_blocks **out, ep_parse_error *err)
{
    ep_nat_blocks *b;
    ep_cidr *list = NULL;
    size_t n = 0;
    uint64_t M = 0, P, K, total;
    ep_parse_error e;
    int rc;

    if (!cfg || !out)
        return ep_nb_fail(err, "no configuration");
    *out = NULL;
    rc = ep_cidr_list_parse(cfg->outside, &list, &n, &e);
    if (rc != 0) {
        if (err && rc == EP_EINVAL) {
            *err = e;
            snprintf(err->message, sizeof err->message, "outside: %.140s", e.message);
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].addr.family != AF_INET) {
            free(list);
            return ep_nb_fail(err, "outside: IPv6 external addresses are not supported (NAT44)");
        }
        M += ep_cidr_size4(&list[i]);
    }
    b = calloc(1, sizeof *b);
    if (!b) {
        free(list);
        return EP_ENOMEM;
    }
    b->cfg = *cfg;
    b->cfg.outside = NULL;
    if (b->cfg.port_lo == 0 && b->cfg.port_hi == 0) {
        b->cfg.port_lo = 1024;
        b->cfg.port_hi = 65535;
    }
    if (b->cfg.max_blocks == 0)
        b->cfg.max_blocks = 4;
    P = (uint64_t)b->cfg.port_hi - b->cfg.port_lo + 1;
    if (b->cfg.port_lo == 0 || b->cfg.port_lo > b->cfg.port_hi) {
        rc = ep_nb_fail(err, "port range is not 1 <= LO <= HI <= 65535");
        goto fail;
    }
    if (b->cfg.block_size == 0 || b->cfg.block_size > P) {
        rc = ep_nb_fail(err, "block size does not fit in the port range");
        goto fail;
    }
    if (b->cfg.idle_timeout < 0) {
        rc = ep_nb_fail(err, "idle timeout is negative");
        goto fail;
    }
    K = P / b->cfg.block_size;
    total = M * 3 * K;
    if (total > EP_NB_MAX_BLOCKS) {
        rc = ep_nb_fail(err, "more than 16777216 blocks (addresses x 3 protocols x blocks): "
                             "use larger blocks or fewer addresses");
        goto fail;
    }
    b->n_ext = (uint32_t)M;
    b->per_addr = (uint32_t)K;
    b->ext_addr = malloc(M * sizeof *b->ext_addr);
    b->ext_sorted = malloc(M * sizeof *b->ext_sorted);
    b->blocks = malloc(total * sizeof *b->blocks);
    b->free_stack = malloc(total * sizeof *b->free_stack);
    b->free_top = malloc(M * 3 * sizeof *b->free_top);
    b->sub_cap = 1024;
    b->subs = calloc(b->sub_cap, sizeof *b->subs);
    if (!b->ext_addr || !b->ext_sorted || !b->blocks || !b->free_stack || !b->free_top || !b->subs) {
        rc = EP_ENOMEM;
        goto fail;
    }
    {
        uint32_t e = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t first;
            memcpy(&first, list[i].addr.u.bytes, 4);
            for (uint64_t j = 0; j < ep_cidr_size4(&list[i]); j++)
                b->ext_addr[e++] = ntohl(first) + (uint32_t)j;
        }
        for (e = 0; e < M; e++)
            b->ext_sorted[e] = (uint64_t)b->ext_addr[e] << 32 | e;
        qsort(b->ext_sorted, M, sizeof *b->ext_sorted, ep_nb_cmp64);
    }
    for (uint64_t i = 0; i < total; i++) {
        b->blocks[i] = (struct ep_nb_block){ EP_NB_NONE, EP_NB_NONE, EP_NB_NONE, 0, 0 };
        b->free_stack[i] = (uint32_t)(i % K);
    }
    for (uint64_t s = 0; s < M * 3; s++)
        b->free_top[s] = (uint32_t)K;
    b->lru_head = b->lru_tail = EP_NB_NONE;
    b->rng = cfg->seed;
    free(list);
    *out = b;
    return 0;
fail:
    free(list);
    ep_nat_blocks_free(b);
    return rc;
}

static uint64_t ep_nb_hash(const ep_addr *a)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ a->u.bytes[i]) * 1099511628211ull;
    return h ^ a->family;
}

/* Find the slot of a subscriber; create it when create is set. */
static uint32_t ep_nb_sub_find(ep_nat_blocks *b, const ep_addr *a, bool create)
{
    uint32_t mask, i;
    if (create && (b->sub_used + 1) * 2 > b->sub_cap) {
        uint32_t ncap = b->sub_cap * 2;
        struct ep_nb_sub *ns = calloc(ncap, sizeof *ns);
        /* slots move: block owners store slot numbers, so remap them */
        uint32_t *map = malloc(b->sub_cap * sizeof *map);
        uint64_t total = (uint64_t)b->n_ext * 3 * b->per_addr;
        if (!ns || !map) {
            free(ns);
            free(map);
            return EP_NB_NONE;
        }
        for (uint32_t k = 0; k < b->sub_cap; k++) {
            map[k] = EP_NB_NONE;
            if (!b->subs[k].addr.family)
                continue;
            i = (uint32_t)ep_nb_hash(&b->subs[k].addr) & (ncap - 1);
            while (ns[i].addr.family)
                i = (i + 1) & (ncap - 1);
            ns[i] = b->subs[k];
            map[k] = i;
        }
        for (uint64_t k = 0; k < total; k++)
            if (b->blocks[k].owner != EP_NB_NONE)
                b->blocks[k].owner = map[b->blocks[k].owner];
        free(map);
        free(b->subs);
        b->subs = ns;
        b->sub_cap = ncap;
    }
    mask = b->sub_cap - 1;
    i = (uint32_t)ep_nb_hash(a) & mask;
    while (b->subs[i].addr.family) {
        if (ep_addr_equal(&b->subs[i].addr, a))
            return i;
        i = (i + 1) & mask;
    }
    if (!create)
        return EP_NB_NONE;
    memset(&b->subs[i], 0, sizeof b->subs[i]);
    b->subs[i].addr = *a;
    b->subs[i].ext = EP_NB_NONE;
    b->sub_used++;
    return i;
}

static void ep_nb_lru_unlink(ep_nat_blocks *b, uint32_t id)
{
    struct ep_nb_block *x = &b->blocks[id];
    if (x->prev != EP_NB_NONE)
        b->blocks[x->prev].next = x->next;
    else
        b->lru_head = x->next;
    if (x->next != EP_NB_NONE)
        b->blocks[x->next].prev = x->prev;
    else
        b->lru_tail = x->prev;
    x->prev = x->next = EP_NB_NONE;
}

static void ep_nb_lru_append(ep_nat_blocks *b, uint32_t id)
{
    struct ep_nb_block *x = &b->blocks[id];
    x->prev = b->lru_tail;
    x->next = EP_NB_NONE;
    if (b->lru_tail != EP_NB_NONE)
        b->blocks[b->lru_tail].next = id;
    else
        b->lru_head = id;
    b->lru_tail = id;
}

/* Block id <-> (external address, protocol index, block number). */
static uint32_t ep_nb_id(const ep_nat_blocks *b, uint32_t e, int pi, uint32_t k)
{
    return ((e * 3u) + (uint32_t)pi) * b->per_addr + k;
}

static void ep_nb_describe(const ep_nat_blocks *b, uint32_t id, ep_nat_block *out)
{
    uint32_t k = id % b->per_addr, s = id / b->per_addr, e = s / 3;
    uint32_t be = htonl(b->ext_addr[e]);
    const struct ep_nb_block *x = &b->blocks[id];
    memset(out, 0, sizeof *out);
    out->subscriber = b->subs[x->owner].addr;
    ep_addr_from_bytes(AF_INET, &be, &out->ext);
    out->proto = ep_nb_protos[s % 3];
    out->port_lo = (uint16_t)(b->cfg.port_lo + k * b->cfg.block_size);
    out->port_hi = (uint16_t)(out->port_lo + b->cfg.block_size - 1);
    out->start = x->start;
    out->last_used = x->last;
}

int ep_nat_blocks_assign(ep_nat_blocks *b, const ep_addr *subscriber, uint8_t proto, int64_t now,
                         ep_nat_block *out)
{
    int pi = ep_nb_proto_index(proto);
    uint32_t s, e, slot, r, k, id;
    if (!b || !subscriber || !out || pi < 0 ||
        (subscriber->family != AF_INET && subscriber->family != AF_INET6))
        return EP_EINVAL;
    s = ep_nb_sub_find(b, subscriber, true);
    if (s == EP_NB_NONE)
        return EP_ENOMEM;
    if (b->subs[s].held[pi] >= b->cfg.max_blocks)
        return EP_EDQUOT;
    e = b->subs[s].ext;
    if (e == EP_NB_NONE) {
        /* pair with the address that has the most free blocks of proto */
        uint32_t best = 0;
        for (uint32_t x = 0; x < b->n_ext; x++)
            if (b->free_top[x * 3 + (uint32_t)pi] > best) {
                best = b->free_top[x * 3 + (uint32_t)pi];
                e = x;
            }
        if (e == EP_NB_NONE)
            return EP_EADDRNOTAVAIL;
    }
    slot = e * 3 + (uint32_t)pi;
    if (b->free_top[slot] == 0)
        return EP_EADDRNOTAVAIL;
    {
        uint32_t *stack = &b->free_stack[(uint64_t)slot * b->per_addr];
        r = (uint32_t)(ep_nb_rand(b) % b->free_top[slot]);
        k = stack[r];
        stack[r] = stack[b->free_top[slot] - 1];
        b->free_top[slot]--;
    }
    id = ep_nb_id(b, e, pi, k);
    b->blocks[id].owner = s;
    b->blocks[id].start = now;
    b->blocks[id].last = now;
    ep_nb_lru_append(b, id);
    b->subs[s].ext = e;
    b->subs[s].held[pi]++;
    b->subs[s].total++;
    b->held++;
    ep_nb_describe(b, id, out);
    return 0;
}

/* The held block containing (ext, proto, port), or EP_NB_NONE. */
static uint32_t ep_nb_lookup(const ep_nat_blocks *b, const ep_addr *ext, uint8_t proto,
                             uint16_t port)
{
    int pi = ep_nb_proto_index(proto);
    uint32_t a, lo = 0, hi, k, id;
    if (!ext || ext->family != AF_INET || pi < 0 || port < b->cfg.port_lo)
        return EP_NB_NONE;
    memcpy(&a, ext->u.bytes, 4);
    a = ntohl(a);
    /* binary search in the sorted (address << 32 | number) index */
    hi = b->n_ext;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((uint32_t)(b->ext_sorted[mid] >> 32) < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == b->n_ext || (uint32_t)(b->ext_sorted[lo] >> 32) != a)
        return EP_NB_NONE;
    lo = (uint32_t)b->ext_sorted[lo];
    k = (uint32_t)(port - b->cfg.port_lo) / b->cfg.block_size;
    if (k >= b->per_addr)
        return EP_NB_NONE;
    id = ep_nb_id(b, lo, pi, k);
    return b->blocks[id].owner == EP_NB_NONE ? EP_NB_NONE : id;
}

int ep_nat_blocks_find(const ep_nat_blocks *b, const ep_addr *ext, uint8_t proto, uint16_t port,
                       ep_nat_block *out)
{
    uint32_t id;
    if (!b || !out)
        return EP_EINVAL;
    id = ep_nb_lookup(b, ext, proto, port);
    if (id == EP_NB_NONE)
        return EP_ENOENT;
    ep_nb_describe(b, id, out);
    return 0;
}

int ep_nat_blocks_touch(ep_nat_blocks *b, const ep_addr *ext, uint8_t proto, uint16_t port,
                        int64_t now)
{
    uint32_t id;
    if (!b)
        return EP_EINVAL;
    id = ep_nb_lookup(b, ext, proto, port);
    if (id == EP_NB_NONE)
        return EP_ENOENT;
    if (now > b->blocks[id].last)
        b->blocks[id].last = now;
    ep_nb_lru_unlink(b, id);
    ep_nb_lru_append(b, id);
    return 0;
}

static void ep_nb_free_block(ep_nat_blocks *b, uint32_t id)
{
    uint32_t s = b->blocks[id].owner, slot = id / b->per_addr, pi = slot % 3;
    ep_nb_lru_unlink(b, id);
    b->free_stack[(uint64_t)slot * b->per_addr + b->free_top[slot]++] = id % b->per_addr;
    b->blocks[id].owner = EP_NB_NONE;
    b->subs[s].held[pi]--;
    if (--b->subs[s].total == 0)
        b->subs[s].ext = EP_NB_NONE;   /* the pairing ends with the last block */
    b->held--;
}

int ep_nat_blocks_release(ep_nat_blocks *b, const ep_addr *ext, uint8_t proto, uint16_t port,
                          ep_nat_block *out)
{
    uint32_t id;
    if (!b)
        return EP_EINVAL;
    id = ep_nb_lookup(b, ext, proto, port);
    if (id == EP_NB_NONE)
        return EP_ENOENT;
    if (out)
        ep_nb_describe(b, id, out);
    ep_nb_free_block(b, id);
    return 0;
}

int ep_nat_blocks_expire(ep_nat_blocks *b, int64_t now,
                         int (*fn)(const ep_nat_block *blk, int64_t end, void *arg), void *arg)
{
    int n = 0;
    if (!b)
        return EP_EINVAL;
    if (b->cfg.idle_timeout == 0)
        return 0;
    while (b->lru_head != EP_NB_NONE &&
           b->blocks[b->lru_head].last + b->cfg.idle_timeout <= now) {
        uint32_t id = b->lru_head;
        ep_nat_block blk;
        ep_nb_describe(b, id, &blk);
        ep_nb_free_block(b, id);
        n++;
        if (fn) {
            int rc = fn(&blk, blk.last_used + b->cfg.idle_timeout, arg);
            if (rc != 0)
                return rc < 0 ? rc : EP_EIO;
        }
    }
    return n;
}

void ep_nat_blocks_get_stats(const ep_nat_blocks *b, ep_nat_blocks_stats *out)
{
    memset(out, 0, sizeof *out);
    out->ext_addrs = b->n_ext;
    out->blocks_per_addr = b->per_addr;
    out->block_size = b->cfg.block_size;
    out->held = b->held;
    out->subscribers_seen = b->sub_used;
}

uint32_t ep_nat_blocks_held_by(const ep_nat_blocks *b, const ep_addr *subscriber, uint8_t proto)
{
    int pi = ep_nb_proto_index(proto);
    uint32_t s;
    if (!b || !subscriber || pi < 0)
        return 0;
    s = ep_nb_sub_find((ep_nat_blocks *)b, subscriber, false);
    return s == EP_NB_NONE ? 0 : b->subs[s].held[pi];
}
