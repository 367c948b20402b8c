/* trace-dests.c - per-destination counts per interval.  The BPF programs
 * keep cumulative counters per destination in a hash map (never deleted
 * from: deleting an entry a CPU is incrementing would lose its increment);
 * each interval this file reads the whole map and subtracts what it read
 * the time before, kept in an open-addressing table of the same fixed
 * bound (EP_TRACE_MAX_DESTS entries, at most half full). */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "trace-internal.h"

#define EP_PREV_SLOTS (2 * EP_TRACE_MAX_DESTS) /* a power of two */

struct ep_prev_slot {
    struct ep_trace_key key;
    struct ep_trace_counts counts;
    bool used;
};

struct ep_trace_prev {
    struct ep_prev_slot *slots;
    size_t used;
};

ep_trace_prev *ep_trace_prev_new(void)
{
    ep_trace_prev *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->slots = calloc(EP_PREV_SLOTS, sizeof *p->slots);
    if (!p->slots) {
        free(p);
        return NULL;
    }
    return p;
}

void ep_trace_prev_free(ep_trace_prev *p)
{
    if (!p)
        return;
    free(p->slots);
    free(p);
}

static size_t ep_key_hash(const struct ep_trace_key *k)
{
    /* FNV-1a over the key's bytes: 40 bytes, no padding left undefined
     * (the program zeroes the whole key). */
    const unsigned char *b = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < sizeof *k; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

static struct ep_prev_slot *ep_prev_find(ep_trace_prev *p, const struct ep_trace_key *k)
{
    size_t i = ep_key_hash(k) & (EP_PREV_SLOTS - 1);

    for (;;) {
        struct ep_prev_slot *s = &p->slots[i];
        if (!s->used || memcmp(&s->key, k, sizeof *k) == 0)
            return s;
        i = (i + 1) & (EP_PREV_SLOTS - 1);
    }
}

static long ep_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

void ep_trace_key_addr(const __u8 bytes[16], ep_addr *out)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (memcmp(bytes, mapped, 12) == 0)
        ep_addr_from_bytes(AF_INET, bytes + 12, out);
    else
        ep_addr_from_bytes(AF_INET6, bytes, out);
}

static int ep_dest_order(const void *a, const void *b)
{
    const ep_trace_dest *x = a, *y = b;
    uint64_t fx = x->attempts - x->successes, fy = y->attempts - y->successes;

    if (x->attempts != y->attempts)
        return x->attempts > y->attempts ? -1 : 1;
    if (fx != fy)
        return fx > fy ? -1 : 1;
    if (x->timewait != y->timewait)
        return x->timewait > y->timewait ? -1 : 1;
    return memcmp(&x->remote, &y->remote, sizeof x->remote);
}

int ep_trace_prev_diff(ep_trace_prev *p, int map_fd, bool timewait_known,
                       ep_trace_dest **out, size_t *cap)
{
    struct ep_trace_key key, next;
    struct ep_trace_counts now;
    union bpf_attr attr;
    size_t n = 0;
    bool first = true;

    for (;;) {
        memset(&attr, 0, sizeof attr);
        attr.map_fd = (__u32)map_fd;
        attr.key = first ? 0 : (__u64)(unsigned long)&key;
        attr.next_key = (__u64)(unsigned long)&next;
        if (ep_bpf(BPF_MAP_GET_NEXT_KEY, &attr) != 0) {
            if (errno == ENOENT)
                break;
            return -errno;
        }
        first = false;
        key = next;
        memset(&attr, 0, sizeof attr);
        attr.map_fd = (__u32)map_fd;
        attr.key = (__u64)(unsigned long)&key;
        attr.value = (__u64)(unsigned long)&now;
        if (ep_bpf(BPF_MAP_LOOKUP_ELEM, &attr) != 0) {
            if (errno == ENOENT)
                continue; /* never deleted, but be safe */
            return -errno;
        }
        struct ep_prev_slot *s = ep_prev_find(p, &key);
        if (!s->used) {
            if (p->used + 1 > EP_PREV_SLOTS / 2)
                return -ENOSPC; /* more keys than the map can hold */
            s->used = true;
            s->key = key;
            memset(&s->counts, 0, sizeof s->counts);
            p->used++;
        }
        struct ep_trace_counts d = {
            .attempts = now.attempts - s->counts.attempts,
            .successes = now.successes - s->counts.successes,
            .eaddrnotavail = now.eaddrnotavail - s->counts.eaddrnotavail,
            .eagain = now.eagain - s->counts.eagain,
            .eaddrinuse = now.eaddrinuse - s->counts.eaddrinuse,
            .other = now.other - s->counts.other,
            .timewait = now.timewait - s->counts.timewait,
        };
        s->counts = now;
        if (!d.attempts && !d.timewait)
            continue;
        if (n == *cap) {
            size_t ncap = *cap ? 2 * *cap : 64;
            ep_trace_dest *grown = realloc(*out, ncap * sizeof *grown);
            if (!grown)
                return -ENOMEM;
            *out = grown;
            *cap = ncap;
        }
        ep_trace_dest *o = &(*out)[n++];
        memset(o, 0, sizeof *o);
        o->netns = key.netns;
        o->proto = key.proto;
        ep_trace_key_addr(key.local, &o->local);
        ep_trace_key_addr(key.remote, &o->remote);
        o->remote_port = key.remote_port;
        o->attempts = d.attempts;
        o->successes = d.successes;
        o->eaddrnotavail = d.eaddrnotavail;
        o->eagain = d.eagain;
        o->eaddrinuse = d.eaddrinuse;
        o->other = d.other;
        o->timewait = timewait_known ? (int64_t)d.timewait : EP_TRACE_UNKNOWN;
    }
    if (n > 1)
        qsort(*out, n, sizeof **out, ep_dest_order);
    return (int)n;
}
