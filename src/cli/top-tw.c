/* top-tw.c - one NETLINK_SOCK_DIAG dump of TCP sockets in TIME_WAIT, with
 * the time each has left, for `ephport top`'s first sample (top-tw.h says
 * why).  The kernel filters: the request asks for the TIME_WAIT state only
 * and carries bytecode "sport >= lo && sport <= hi", so only entries on
 * ephemeral ports come back.  The walk over the reply copies every header
 * before reading it and trusts no length (it is also a fuzz target). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "top-tw.h"

#define EP_TOP_TW_BUF 32768

/* ::ffff:a.b.c.d shares the IPv4 ports: key it as IPv4, like the snapshot. */
static void ep_top_tw_addr(int family, const uint32_t raw[4], ep_addr *out)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    const uint8_t *b = (const uint8_t *)raw;
    if (family == AF_INET6 && memcmp(b, mapped, 12) == 0)
        ep_addr_from_bytes(AF_INET, b + 12, out);
    else
        ep_addr_from_bytes(family, b, out);
}

int ep_top_tw_parse(const void *buf, size_t len, ep_top_tw_fn fn, void *arg)
{
    const char *p = buf;
    while (len >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr h;
        size_t payload, step;
        memcpy(&h, p, sizeof h);
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > len)
            return -EINVAL;
        payload = h.nlmsg_len - NLMSG_HDRLEN;
        if (h.nlmsg_type == NLMSG_DONE)
            return 1;
        if (h.nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr e;
            if (payload < sizeof e)
                return -EINVAL;
            memcpy(&e, p + NLMSG_HDRLEN, sizeof e);
            if (e.error != 0)
                return e.error < 0 && e.error > -4096 ? e.error : -EPROTO;
        } else if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            struct inet_diag_msg m;
            if (payload < sizeof m)
                return -EINVAL;
            memcpy(&m, p + NLMSG_HDRLEN, sizeof m);
            if (m.idiag_state == TCP_TIME_WAIT &&
                (m.idiag_family == AF_INET || m.idiag_family == AF_INET6)) {
                ep_top_tw tw;
                memset(&tw, 0, sizeof tw);
                ep_top_tw_addr(m.idiag_family, m.id.idiag_src, &tw.local);
                ep_top_tw_addr(m.idiag_family, m.id.idiag_dst, &tw.remote);
                tw.local_port = ntohs(m.id.idiag_sport);
                tw.remote_port = ntohs(m.id.idiag_dport);
                tw.expires_ms = m.idiag_expires;
                fn(&tw, arg);
            }
        }
        step = NLMSG_ALIGN(h.nlmsg_len);
        if (step >= len)
            break;
        p += step;
        len -= step;
    }
    return 0;
}

/* The request: inet_diag_req_v2 for TIME_WAIT + bytecode on the port range. */
static size_t ep_top_tw_request(char *buf, int family, uint16_t lo, uint16_t hi, uint32_t seq)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
        struct nlattr attr;
        struct inet_diag_bc_op bc[4];
    } *r = (void *)buf;

    memset(r, 0, sizeof *r);
    r->nlh.nlmsg_len = sizeof *r;
    r->nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    r->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    r->nlh.nlmsg_seq = seq;
    r->req.sdiag_family = (uint8_t)family;
    r->req.sdiag_protocol = IPPROTO_TCP;
    r->req.idiag_states = 1u << TCP_TIME_WAIT;
    r->attr.nla_len = sizeof r->attr + sizeof r->bc;
    r->attr.nla_type = INET_DIAG_REQ_BYTECODE;
    /* At each op, true jumps `yes` bytes and false `no`; landing exactly at
     * the end accepts, beyond it rejects.  GE/LE take their port in the
     * `no` field of the op that follows. */
    r->bc[0].code = INET_DIAG_BC_S_GE;
    r->bc[0].yes = sizeof r->bc[0] * 2;
    r->bc[0].no = sizeof r->bc + 4;
    r->bc[1].no = lo;
    r->bc[2].code = INET_DIAG_BC_S_LE;
    r->bc[2].yes = sizeof r->bc[0] * 2;
    r->bc[2].no = sizeof r->bc[0] * 2 + 4;
    r->bc[3].no = hi;
    return sizeof *r;
}

static int ep_top_tw_dump_here(uint16_t lo, uint16_t hi, ep_top_tw_fn fn, void *arg)
{
    static const int families[2] = { AF_INET, AF_INET6 };
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    char *buf;
    int fd, rc = 0;

    fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -errno;
    buf = malloc(EP_TOP_TW_BUF);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (int f = 0; f < 2 && rc == 0; f++) {
        size_t n = ep_top_tw_request(buf, families[f], lo, hi, (uint32_t)time(NULL) + (uint32_t)f);
        if (sendto(fd, buf, n, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
            rc = -errno;
            break;
        }
        for (;;) {
            ssize_t got = recv(fd, buf, EP_TOP_TW_BUF, 0);
            int r;
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                rc = -errno;
                break;
            }
            if (got == 0) {
                rc = -EPROTO;
                break;
            }
            r = ep_top_tw_parse(buf, (size_t)got, fn, arg);
            if (r != 0) {
                rc = r < 0 ? r : 0;
                break;
            }
        }
    }
    free(buf);
    close(fd);
    return rc;
}

int ep_top_tw_dump(const char *netns, uint16_t lo, uint16_t hi, ep_top_tw_fn fn, void *arg)
{
    char path[4096];
    int target, self, rc;

    if (lo > hi)
        return -EINVAL;
    if (!netns)
        return ep_top_tw_dump_here(lo, hi, fn, arg);
    if (!*netns || (snprintf(path, sizeof path, strchr(netns, '/') ? "%s" : "/run/netns/%s",
                             netns) >= (int)sizeof path))
        return -EINVAL;
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0)
        return -errno;
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        rc = -errno;
        close(target);
        return rc;
    }
    if (setns(target, CLONE_NEWNET) != 0) {
        rc = -errno;
        close(target);
        close(self);
        return rc;
    }
    close(target);
    rc = ep_top_tw_dump_here(lo, hi, fn, arg);
    /* Going back where we came from is allowed whenever entering was; if it
     * fails, this thread would read the wrong namespace from now on. */
    if (setns(self, CLONE_NEWNET) != 0) {
        perror("ephport top: cannot return to the original network namespace");
        _exit(70);
    }
    close(self);
    return rc;
}
