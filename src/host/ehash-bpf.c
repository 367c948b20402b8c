/* ehash-bpf.c - the sockets of the host-wide TCP established hash (every
 * connected, connecting, closing, TIME_WAIT and request socket of every
 * network namespace without a table of its own) in one walk, through a BPF
 * iterator (bpf/ehash.bpf.c), for `status --all-namespaces` (node.c).
 *
 * Why: a sock_diag dump of one namespace walks that whole table and every
 * socket of the host to keep its own (16-23 ms per namespace at 120,000
 * sockets on Linux 6.18), so a node of 200 namespaces spent seconds in the
 * kernel (docs/BENCHMARKS.md, issue 13).  With the walk each covered
 * namespace's dump asks for LISTEN only (the listening hash) and gets the
 * rest from here, by its inode, as the messages the dump would have sent
 * (sockdiag.c).  Namespaces with tables of their own
 * (tcp_child_ehash_entries) are not in the table walked and are dumped as
 * before: their dumps are already cheap.
 *
 * Memory: the walk's sockets are kept, packed (18 bytes an IPv4 socket, 42
 * an IPv6 one), for the namespaces asked about only, until the node is
 * read: about 2-4 MiB at 120,000 sockets.  They cannot be folded as they
 * stream: each namespace's aggregation needs its own settings and
 * listening ports first, and 200 aggregators at once would cost more.
 * A walk given a budget stops keeping them when they would pass it and
 * only measures each namespace's share (the caller then walks again for
 * groups that fit: node.c's rounds).
 *
 * What can differ from a dump: the walk reads chains without the bucket
 * locks, as the kernel's own lookups do (under RCU; socket memory is
 * type-stable), while a dump takes each bucket's lock.  A socket that
 * changes state during the walk is read either before or after the change
 * (a field or two may come from each side for the instant of the change,
 * e.g. the state of a closing socket); a socket that moves between buckets
 * (freed and reused) sends the walk to another chain, which the walk
 * notices by the chain's end marker and reads the bucket again.  A socket
 * replaced by its TIME_WAIT twin in the same chain may be seen as both or
 * neither for that instant.  A dump has the same window between buckets
 * and between its messages; neither is a snapshot of the whole host, and
 * each namespace read after the walk shows its TCP sockets as of the walk
 * (up to the reading's duration earlier than its dump would have).
 * TIME_WAIT timers are turned into milliseconds as the dump does, with the
 * kernel's HZ found from tcp_keepalive_time (kept in jiffies, shown in
 * seconds).  Each socket also says whether its port is sticky (not from
 * connect()'s autobind, Linux 6.18's mark, as sticky.bpf.c reads it), so
 * that a covered namespace's sticky ports need no iterator of their own
 * either (snapshot.c).
 *
 * Like bound-bpf.c: loaded per call from a light skeleton, dropped after
 * the walk, nothing left in the kernel.  Prints nothing. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ep-host-config.h"
#include "host-internal.h"

#define EP_EHASH_V6 1u            /* packed: first byte's flags */
#define EP_EHASH_TIMER 2u         /* extra is ms to the TIME_WAIT timer */
#define EP_EHASH_STICKY_BIT 4u    /* its port is sticky */

int ep_host_ehash_part_add(ep_host_ehash_part *p, const ep_host_ehash_sock *s)
{
    size_t alen = s->family == AF_INET6 ? 16 : 4, need = 10 + 2 * alen;
    unsigned char *o;
    uint32_t extra;

    if (p->counting) {            /* over the walk's budget: sizes only */
        p->len += need;
        p->n++;
        return 0;
    }
    if (p->len + need > p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 512;
        unsigned char *nb;
        while (nc < p->len + need)
            nc *= 2;
        nb = realloc(p->buf, nc);
        if (!nb)
            return -ENOMEM;
        p->buf = nb;
        p->cap = nc;
    }
    o = p->buf + p->len;
    o[0] = (unsigned char)((s->family == AF_INET6 ? EP_EHASH_V6 : 0) |
                           (s->expires_ms >= 0 ? EP_EHASH_TIMER : 0) |
                           (s->sticky ? EP_EHASH_STICKY_BIT : 0));
    o[1] = s->state;
    memcpy(o + 2, &s->sport, 2);
    memcpy(o + 4, &s->dport, 2);
    extra = s->expires_ms >= 0 ? (uint32_t)s->expires_ms : s->inode;
    memcpy(o + 6, &extra, 4);
    memcpy(o + 10, s->src, alen);
    memcpy(o + 10 + alen, s->dst, alen);
    p->len += need;
    p->n++;
    return 0;
}

int ep_host_ehash_part_next(const ep_host_ehash_part *p, size_t *off, ep_host_ehash_sock *out)
{
    const unsigned char *o;
    size_t alen;
    uint32_t extra;

    if (!p || p->counting || *off >= p->len)
        return 0;
    o = p->buf + *off;
    alen = (o[0] & EP_EHASH_V6) ? 16 : 4;
    assert(*off + 10 + 2 * alen <= p->len);
    memset(out, 0, sizeof *out);
    out->family = (o[0] & EP_EHASH_V6) ? AF_INET6 : AF_INET;
    out->state = o[1];
    memcpy(&out->sport, o + 2, 2);
    memcpy(&out->dport, o + 4, 2);
    memcpy(&extra, o + 6, 4);
    out->expires_ms = (o[0] & EP_EHASH_TIMER) ? (int32_t)extra : -1;
    out->inode = (o[0] & EP_EHASH_TIMER) ? 0 : extra;
    out->sticky = (o[0] & EP_EHASH_STICKY_BIT) != 0;
    memcpy(out->src, o + 10, alen);
    memcpy(out->dst, o + 10 + alen, alen);
    *off += 10 + 2 * alen;
    return 1;
}

static size_t ep_ehash_index(const ep_host_ehash_walk *w, uint64_t netns)
{
    size_t lo = 0, hi = w->nns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->netns[mid] < netns)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->nns && w->netns[lo] == netns ? lo : w->nns;
}

size_t ep_host_ehash_walk_share(const ep_host_ehash_walk *w, uint64_t netns)
{
    size_t i = ep_ehash_index(w, netns);
    return i < w->nns ? w->part[i].len : 0;
}

const ep_host_ehash_part *ep_host_ehash_walk_find(const ep_host_ehash_walk *w, uint64_t netns)
{
    size_t i = ep_ehash_index(w, netns);
    return i < w->nns && w->part[i].n ? &w->part[i] : NULL;
}

void ep_host_ehash_walk_free(ep_host_ehash_walk *w)
{
    for (size_t i = 0; w->part && i < w->nns; i++)
        free(w->part[i].buf);
    free(w->part);
    free(w->netns);
    memset(w, 0, sizeof *w);
}

bool ep_host_ehash_walk_covers(const ep_host_ehash_walk *w, uint64_t netns)
{
    char *text = NULL;
    size_t len;
    int64_t v;
    int rc;

    /* a namespace not asked about (another round's) has no share here */
    if (w->over || ep_ehash_index(w, netns) == w->nns)
        return false;
    if (netns == w->owner)
        return true;
    /* what the namespace's own table holds: negative when it shares the
     * initial namespace's (Linux 6.1+); absent before, with one table */
    rc = ep_host_read_file("/proc/sys/net/ipv4/tcp_ehash_entries", &text, &len);
    if (rc == -ENOENT)
        return true;
    if (rc == 0)
        rc = ep_host_parse_i64(text, &v);
    free(text);
    return rc == 0 && v < 0;
}

#if EP_HAVE_BPF

#include <linux/types.h>
#include <unistd.h>

#include "bpf-iter.h"
#include "bpf/ehash-abi.h"
#include "ehash.lskel.h" /* generated from bpf/ehash.bpf.c by bpftool */

/* The walk's records into w, as they stream. */
struct ep_ehash_read {
    ep_host_ehash_walk *w;
    int64_t keepalive_s;          /* the reader's tcp_keepalive_time */
    bool info;                    /* the first record was seen */
    int fail;                     /* EP_EHASH_FAIL's reason */
    unsigned passes;              /* iterators created after the first */
    uint32_t fail_bucket;
};

static int ep_ehash_record(const void *buf, void *arg)
{
    struct ep_ehash_read *rd = arg;
    ep_host_ehash_walk *w = rd->w;
    struct ep_ehash_rec r;
    ep_host_ehash_sock s;
    size_t i, before;
    int rc;

    memcpy(&r, buf, sizeof r);
    if (r.kind == EP_EHASH_FAIL) {
        rd->fail = r.state ? r.state : EP_EHASH_FAIL_TABLE;
        rd->fail_bucket = r.timer;
        return -ECANCELED;
    }
    if (r.kind == EP_EHASH_INFO) {
        /* HZ: tcp_keepalive_time is kept in jiffies, shown in seconds */
        if (rd->info || rd->keepalive_s <= 0 || r.inode % rd->keepalive_s != 0 ||
            r.inode / rd->keepalive_s == 0 || r.inode / rd->keepalive_s > 100000)
            return -ENOTSUP;
        rd->info = true;
        w->owner = r.netns;
        w->buckets = r.timer;
        w->hz = (uint32_t)(r.inode / rd->keepalive_s);
        w->marks = (r.flags & EP_EHASH_MARKS) != 0;
        return 0;
    }
    if (!rd->info || r.kind > EP_EHASH_REQ || (r.family != AF_INET && r.family != AF_INET6) ||
        r.state == 0 || r.state > 12)
        return -EPROTO;
    i = ep_ehash_index(w, r.netns);
    if (i == w->nns) {
        w->others++;
        return 0;
    }
    before = w->part[i].len;
    memset(&s, 0, sizeof s);
    s.family = (uint8_t)r.family;
    s.state = r.state;
    s.sport = r.sport;
    s.dport = r.dport;
    memcpy(s.src, r.src, sizeof s.src);
    memcpy(s.dst, r.dst, sizeof s.dst);
    s.inode = r.kind == EP_EHASH_SOCK ? r.inode : 0;
    s.sticky = w->marks && (r.flags & EP_EHASH_STICKY);
    /* as the dump's jiffies_delta_to_msecs: rounded up */
    s.expires_ms = r.kind == EP_EHASH_TW
                       ? (int32_t)(((uint64_t)r.timer * 1000 + w->hz - 1) / w->hz)
                       : -1;
    w->sockets++;
    rc = ep_host_ehash_part_add(&w->part[i], &s);
    if (rc == 0 && !w->over && w->budget && (w->bytes += w->part[i].len - before) > w->budget) {
        /* over the budget: drop what is kept, go on counting sizes so
         * that the caller can plan rounds (node.c) */
        w->over = true;
        for (size_t k = 0; k < w->nns; k++) {
            free(w->part[k].buf);
            w->part[k].buf = NULL;
            w->part[k].cap = 0;
            w->part[k].counting = true;
        }
    }
    return rc;
}

static int ep_ehash_order(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int ep_host_ehash_walk_take(ep_host_ehash_walk *w, const uint64_t *netns, size_t n,
                            size_t budget, char *why, size_t len)
{
    struct ep_ehash *skel;
    struct ep_ehash_read rd = { .w = w };
    char *text = NULL;
    size_t tlen, k = 0;
    int link = -1, fd = -1, rc;

    memset(w, 0, sizeof *w);
    w->budget = budget;
    rc = ep_bpf_btf_check(why, len);
    if (rc)
        return rc;
    rc = ep_host_read_file("/proc/sys/net/ipv4/tcp_keepalive_time", &text, &tlen);
    if (rc == 0)
        rc = ep_host_parse_i64(text, &rd.keepalive_s);
    free(text);
    if (rc) {
        snprintf(why, len, "cannot read /proc/sys/net/ipv4/tcp_keepalive_time (to learn the "
                           "kernel's HZ): %s", strerror(-rc));
        return rc == -ENOMEM ? rc : -ENOTSUP;
    }
    w->netns = malloc((n ? n : 1) * sizeof *w->netns);
    w->part = calloc(n ? n : 1, sizeof *w->part);
    if (!w->netns || !w->part) {
        ep_host_ehash_walk_free(w);
        snprintf(why, len, "out of memory");
        return -ENOMEM;
    }
    memcpy(w->netns, netns, n * sizeof *netns);
    qsort(w->netns, n, sizeof *w->netns, ep_ehash_order);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || w->netns[k - 1] != w->netns[i])
            w->netns[k++] = w->netns[i];
    w->nns = k;
    errno = 0;
    skel = ep_ehash__open();
    if (!skel) {
        ep_host_ehash_walk_free(w);
        return ep_bpf_fail(errno ? -errno : -ENOMEM, why, len, "preparing the BPF hash walk");
    }
    rc = ep_ehash__load(skel);
    if (rc) {
        rc = ep_bpf_fail(rc < 0 ? rc : -EINVAL, why, len,
                         "loading the BPF walk of the TCP established hash (needs Linux 5.17 "
                         "or later)");
        goto out;
    }
    fd = ep_bpf_iter_start(skel->progs.ep_ehash_walk.prog_fd,
                           "the BPF walk of the TCP established hash", &link, why, len);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    /* Each task is one call, each call walks on from the cursor: when the
     * tasks run out first, another iterator on the same link goes on. */
    for (;;) {
        uint32_t before = skel->bss->ep_cursor;
        union bpf_attr attr;
        rc = ep_bpf_iter_read(fd, sizeof(struct ep_ehash_rec), ep_ehash_record, &rd);
        close(fd);
        fd = -1;
        if (rc || (skel->bss->ep_buckets && skel->bss->ep_cursor >= skel->bss->ep_buckets))
            break;
        if (rd.info && skel->bss->ep_cursor == before) {
            rc = -EAGAIN;         /* a whole pass of calls made no progress */
            snprintf(why, len, "the BPF walk of the TCP established hash stopped at bucket "
                               "%u of %u", before, skel->bss->ep_buckets);
            goto out;
        }
        memset(&attr, 0, sizeof attr);
        attr.iter_create.link_fd = (__u32)link;
        fd = skel_sys_bpf(BPF_ITER_CREATE, &attr, sizeof attr);
        if (fd < 0) {
            rc = ep_bpf_fail(-errno, why, len, "creating the BPF walk again");
            goto out;
        }
        rd.passes++;
    }
    if (rc == 0 && !rd.info)
        rc = -EPROTO;
    if (rc == -ECANCELED) {
        rc = rd.fail == EP_EHASH_FAIL_MOVED ? -EAGAIN
             : rd.fail == EP_EHASH_FAIL_TABLE ? -ENOTSUP
                                              : -E2BIG;
        snprintf(why, len, "the BPF walk of the TCP established hash %s (bucket %u)",
                 rd.fail == EP_EHASH_FAIL_MOVED ? "met a chain that kept changing"
                 : rd.fail == EP_EHASH_FAIL_TABLE ? "could not find the table"
                 : rd.fail == EP_EHASH_FAIL_SIZE  ? "met a table larger than it can cover"
                                                  : "met a chain too long to read",
                 rd.fail_bucket);
    } else if (rc == -ENOTSUP) {
        snprintf(why, len, "the kernel's HZ could not be told from tcp_keepalive_time");
    } else if (rc == -EPROTO) {
        snprintf(why, len, "the BPF walk of the TCP established hash wrote a record that is "
                           "not a socket");
    } else if (rc) {
        rc = ep_bpf_fail(rc, why, len, "reading the BPF walk of the TCP established hash");
    }
out:
    if (fd >= 0)
        close(fd);
    if (link >= 0)
        close(link);
    ep_ehash__destroy(skel);
    if (rc)
        ep_host_ehash_walk_free(w);
    return rc;
}

#else /* !EP_HAVE_BPF */

int ep_host_ehash_walk_take(ep_host_ehash_walk *w, const uint64_t *netns, size_t n,
                            size_t budget, char *why, size_t len)
{
    (void)netns;
    (void)budget;
    (void)n;
    memset(w, 0, sizeof *w);
    snprintf(why, len, "ephport was built without BPF (meson -Dbpf=disabled)");
    return -ENOTSUP;
}

#endif
