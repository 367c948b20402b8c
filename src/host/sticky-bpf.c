/* sticky-bpf.c - which TCP ports are sticky, read from the sockets
 * themselves through a BPF iterator (bpf/sticky.bpf.c).
 *
 * Linux 6.18 marks a socket whose port came from connect()'s autobind
 * (SOCK_CONNECT_BIND in sk_userlocks, tw_connect_bind in its TIME_WAIT), and
 * a port's bind bucket is skipped by every connect() while it holds a socket
 * without the mark.  The iterator walks every TCP socket of the current
 * network namespace once (the kernel binds a tcp iterator to the namespace
 * of the process that creates it) and writes each unmarked port in
 * [lo, hi] once; one walk answers for every port, where sticky.c asks port
 * by port.  Bound-only sockets are in no hash the iterator walks: the caller
 * knows them from sock_diag, and they are sticky by definition.
 *
 * Every run loads the program afresh and drops it after the walk: nothing
 * stays in the kernel after the call.  The loader is bpftool's light
 * skeleton (gen skeleton -L): the kernel itself relocates the program's
 * kernel-type accesses against its own BTF (CO-RE in the kernel, Linux
 * 5.17), so the library neither links libbpf nor parses the 5 MB
 * /sys/kernel/btf/vmlinux (libbpf's loader did: +9 ms and +11 MB RSS per
 * run).  Costs: under a millisecond to load, plus one walk of the hash
 * tables (about 2 ms empty, 25 ms at 100,000 sockets).
 *
 * When it cannot answer it returns a negative errno and the reason, and the
 * caller falls back to the probes: -EPERM (no CAP_BPF + CAP_PERFMON or
 * CAP_SYS_ADMIN), -ENOTSUP (no kernel BTF, a kernel that does not mark
 * autobound sockets: before 6.18, where a bucket stays sticky by a rule the
 * sockets alone do not show, or a library built without BPF), or what the
 * kernel said.  Prints nothing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ep-host-config.h"
#include "host-internal.h"

#if EP_HAVE_BPF

#include <assert.h>
#include <linux/types.h>
#include <stdlib.h>
#include <unistd.h>

#include "bpf-iter.h"
#include "bpf/sticky-abi.h"
#include "sticky.lskel.h" /* generated from bpf/sticky.bpf.c by bpftool */

/* What the iterator wrote, port by port (2-byte records). */
struct ep_sticky_read {
    uint16_t lo, hi;
    ep_portset *ports;
    bool no_marks;
};

static int ep_sticky_record(const void *rec, void *arg)
{
    struct ep_sticky_read *r = arg;
    uint16_t port;

    memcpy(&port, rec, sizeof port);
    if (port == EP_STICKY_NO_MARKS)
        r->no_marks = true;
    else if (port >= r->lo && port <= r->hi)
        ep_portset_add(r->ports, port);
    else
        return -EPROTO; /* a port outside the range asked */
    return 0;
}

int ep_host_sticky_bpf(uint16_t lo, uint16_t hi, ep_portset *ports, char *why, size_t len)
{
    struct ep_sticky *skel;
    struct ep_sticky_read r = { .lo = lo, .hi = hi, .ports = ports };
    int link = -1, fd = -1, rc;

    assert(lo >= 1 && lo <= hi);
    memset(ports, 0, sizeof *ports);
    rc = ep_bpf_btf_check(why, len);
    if (rc)
        return rc;
    errno = 0;
    skel = ep_sticky__open();
    if (!skel)
        return ep_bpf_fail(errno ? -errno : -ENOMEM, why, len, "preparing the BPF iterator");
    skel->rodata->ep_cfg.lo = lo;
    skel->rodata->ep_cfg.hi = hi;
    rc = ep_sticky__load(skel);
    if (rc) {
        rc = ep_bpf_fail(rc < 0 ? rc : -EINVAL, why, len,
                         "loading the BPF iterator (Linux 5.17 or later relocates it)");
        goto out;
    }
    fd = ep_bpf_iter_start(skel->progs.ep_sticky_ports.prog_fd, "the BPF iterator", &link, why,
                           len);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    rc = ep_bpf_iter_read(fd, sizeof(uint16_t), ep_sticky_record, &r);
    if (rc == 0 && r.no_marks)
        rc = -ENOTSUP;
    if (rc == -ENOTSUP)
        snprintf(why, len, "this kernel does not mark sockets autobound by connect() "
                           "(tw_connect_bind: Linux 6.18): sockets alone cannot show its "
                           "sticky ports");
    else if (rc == -EPROTO)
        snprintf(why, len, "the BPF iterator wrote a port outside the range asked");
    else if (rc)
        rc = ep_bpf_fail(rc, why, len, "reading the BPF iterator");
out:
    if (fd >= 0)
        close(fd);
    if (link >= 0)
        close(link);
    ep_sticky__destroy(skel);
    if (rc)
        memset(ports, 0, sizeof *ports);
    return rc;
}

#else /* !EP_HAVE_BPF */

int ep_host_sticky_bpf(uint16_t lo, uint16_t hi, ep_portset *ports, char *why, size_t len)
{
    (void)lo;
    (void)hi;
    memset(ports, 0, sizeof *ports);
    snprintf(why, len, "ephport was built without BPF (meson -Dbpf=disabled)");
    return -ENOTSUP;
}

#endif
