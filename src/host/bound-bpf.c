/* bound-bpf.c - the bound-but-inactive TCP sockets (bind() without
 * listen() or connect(): TCP_CLOSE with a local port) of every network
 * namespace of the host in one pass, through a BPF iterator over every open
 * file (bpf/bound.bpf.c), for `status --all-namespaces` (node.c).
 *
 * Why: a sock_diag dump asking for them (TCP_BOUND_INACTIVE) walks the
 * host-wide bind hash whatever namespace it reads (36 ms at 100,000 bound
 * sockets on Linux 6.18, against 0.4 ms for the rest of a namespace's
 * dump), and a node of 200 namespaces asked it 400 times.  With this pass
 * each namespace is dumped without that state and gets its bound sockets
 * from here, by its inode (docs/BENCHMARKS.md, issue 13).
 *
 * The records are what inet_diag reports for those sockets (family,
 * addresses, ports, state, inode), deduplicated by socket inode (a socket
 * open in several descriptors or processes is one socket) and sorted by
 * (namespace, inode).  What the pass cannot see: a socket with no file
 * descriptor in any process (in flight over a unix socket, held only by
 * io_uring's fixed files or by the kernel); the single-namespace dump
 * still sees those.
 *
 * Like sticky-bpf.c: loaded per call from a light skeleton (the kernel
 * relocates it against its own BTF), dropped after the walk, nothing left
 * in the kernel.  -EPERM (no CAP_BPF + CAP_PERFMON or CAP_SYS_ADMIN),
 * -ENOTSUP (no kernel BTF, or built without BPF), or what the kernel said,
 * each with a reason; the caller then asks sock_diag as before.  Prints
 * nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep-host-config.h"
#include "host-internal.h"

static int ep_bound_order(const void *a, const void *b)
{
    const ep_host_bound_sock *x = a, *y = b;
    if (x->netns != y->netns)
        return x->netns < y->netns ? -1 : 1;
    return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* Sort by (namespace, inode) and keep one record per socket. */
void ep_host_bound_pass_sort(ep_host_bound_pass *p)
{
    size_t k = 0;
    if (p->n == 0)
        return;
    qsort(p->v, p->n, sizeof *p->v, ep_bound_order);
    for (size_t i = 1; i < p->n; i++)
        if (ep_bound_order(&p->v[k], &p->v[i]) != 0)
            p->v[++k] = p->v[i];
    p->n = k + 1;
}

const ep_host_bound_sock *ep_host_bound_pass_find(const ep_host_bound_pass *p, uint64_t netns,
                                                  size_t *n)
{
    size_t lo = 0, hi = p->n, first;
    while (lo < hi) {             /* the first record of netns or beyond */
        size_t mid = lo + (hi - lo) / 2;
        if (p->v[mid].netns < netns)
            lo = mid + 1;
        else
            hi = mid;
    }
    first = lo;
    while (lo < p->n && p->v[lo].netns == netns)
        lo++;
    *n = lo - first;
    return *n ? &p->v[first] : NULL;
}

void ep_host_bound_pass_free(ep_host_bound_pass *p)
{
    free(p->v);
    memset(p, 0, sizeof *p);
}

#if EP_HAVE_BPF

#include <assert.h>
#include <linux/types.h>
#include <unistd.h>

#include "bpf-iter.h"
#include "bpf/bound-abi.h"
#include "bound.lskel.h" /* generated from bpf/bound.bpf.c by bpftool */

static int ep_bound_push(ep_host_bound_pass *p, size_t *cap, const struct ep_bound_rec *r)
{
    ep_host_bound_sock *s;
    if (p->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        ep_host_bound_sock *nv = realloc(p->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        p->v = nv;
        *cap = nc;
    }
    s = &p->v[p->n++];
    s->netns = r->netns;
    s->inode = r->inode;
    memcpy(s->src, r->src, sizeof s->src);
    memcpy(s->dst, r->dst, sizeof s->dst);
    s->family = r->family;
    s->sport = r->sport;
    s->dport = r->dport;
    s->state = r->state;
    return 0;
}

/* What the iterator wrote, record by record into the pass. */
struct ep_bound_read {
    ep_host_bound_pass *p;
    size_t cap;
};

static int ep_bound_record(const void *rec, void *arg)
{
    struct ep_bound_read *rd = arg;
    struct ep_bound_rec r;

    memcpy(&r, rec, sizeof r);
    /* Only a bound TCP socket in CLOSE of either family can be one. */
    if ((r.family != 2 && r.family != 10) || r.state != 7 || r.sport == 0)
        return -EPROTO;
    return ep_bound_push(rd->p, &rd->cap, &r);
}

int ep_host_bound_pass_take(ep_host_bound_pass *p, char *why, size_t len)
{
    struct ep_bound *skel;
    struct ep_bound_read rd = { .p = p };
    int link = -1, fd = -1, rc;

    memset(p, 0, sizeof *p);
    rc = ep_bpf_btf_check(why, len);
    if (rc)
        return rc;
    errno = 0;
    skel = ep_bound__open();
    if (!skel)
        return ep_bpf_fail(errno ? -errno : -ENOMEM, why, len, "preparing the BPF iterator");
    rc = ep_bound__load(skel);
    if (rc) {
        rc = ep_bpf_fail(rc < 0 ? rc : -EINVAL, why, len,
                         "loading the BPF file iterator (Linux 5.17 or later relocates it)");
        goto out;
    }
    fd = ep_bpf_iter_start(skel->progs.ep_bound_sockets.prog_fd, "the BPF file iterator", &link,
                           why, len);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    rc = ep_bpf_iter_read(fd, sizeof(struct ep_bound_rec), ep_bound_record, &rd);
    if (rc == -EPROTO)
        snprintf(why, len, "the BPF file iterator wrote a record that is not a bound socket");
    else if (rc)
        rc = ep_bpf_fail(rc, why, len, "reading the BPF file iterator");
    else
        ep_host_bound_pass_sort(p);
out:
    if (fd >= 0)
        close(fd);
    if (link >= 0)
        close(link);
    ep_bound__destroy(skel);
    if (rc)
        ep_host_bound_pass_free(p);
    return rc;
}

#else /* !EP_HAVE_BPF */

int ep_host_bound_pass_take(ep_host_bound_pass *p, char *why, size_t len)
{
    memset(p, 0, sizeof *p);
    snprintf(why, len, "ephport was built without BPF (meson -Dbpf=disabled)");
    return -ENOTSUP;
}

#endif
