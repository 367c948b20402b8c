/* sockdiag.c - live sockets through NETLINK_SOCK_DIAG (inet_diag) with
 * libmnl.  One dump per (family, protocol), all states, with
 * INET_DIAG_REQ_BYTECODE "sport >= lo && sport <= hi" so the kernel skips
 * sockets outside the ephemeral range before copying them.  Messages are
 * parsed straight out of the receive buffer into the aggregator (group.c):
 * nothing per socket is stored, so a dump of 100,000 sockets runs in the
 * memory of one buffer.  The parser (ep_host_sockdiag_parse) is a fuzz
 * target: it takes any bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include "host-internal.h"

#define EP_HOST_DIAG_BUF 32768 /* one recv of a dump (the kernel fills pages) */

/* ::ffff:a.b.c.d is IPv4 for port purposes (it shares the IPv4 ports). */
static void ep_host_diag_addr(int family, const uint32_t raw[4], ep_addr *out)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    const uint8_t *b = (const uint8_t *)raw;
    if (family == AF_INET6 && memcmp(b, mapped, 12) == 0)
        ep_addr_from_bytes(AF_INET, b + 12, out);
    else
        ep_addr_from_bytes(family, b, out);
}

static void ep_host_diag_msg(const struct inet_diag_msg *m, uint8_t proto, ep_host_agg *agg)
{
    ep_host_sock s;
    if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
        return;
    memset(&s, 0, sizeof s);
    s.proto = proto;
    s.state = m->idiag_state;
    s.local_port = ntohs(m->id.idiag_sport);
    s.remote_port = ntohs(m->id.idiag_dport);
    ep_host_diag_addr(m->idiag_family, m->id.idiag_src, &s.local);
    ep_host_diag_addr(m->idiag_family, m->id.idiag_dst, &s.remote);
    s.inode = m->idiag_inode;
    ep_host_agg_add(agg, &s);
}

/* Walk a buffer of netlink messages.  Written out rather than with
 * mnl_cb_run(): libmnl's length checks cast to int, and a corrupt
 * nlmsg_len near 2^32 makes it loop; this walk trusts no length.
 * seq / portid 0 skip those checks (the fuzz target). */
static int ep_host_diag_walk(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                             uint8_t proto, ep_host_agg *agg)
{
    const char *p = buf;
    while (len >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr h;
        size_t payload, step;
        memcpy(&h, p, sizeof h); /* no alignment assumed */
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > len)
            return -EBADMSG;
        if ((seq && h.nlmsg_seq != seq) || (portid && h.nlmsg_pid != portid))
            return -EPROTO;
        payload = h.nlmsg_len - NLMSG_HDRLEN; /* NLMSG_HDRLEN == sizeof h */
        if (h.nlmsg_type == NLMSG_DONE)
            return 0;
        if (h.nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr e;
            if (payload < sizeof e)
                return -EBADMSG;
            memcpy(&e, p + NLMSG_HDRLEN, sizeof e);
            if (e.error != 0)
                return e.error < 0 && e.error > -4096 ? e.error : -EPROTO;
        } else if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            struct inet_diag_msg m;
            if (payload < sizeof m)
                return -EBADMSG;
            memcpy(&m, p + NLMSG_HDRLEN, sizeof m);
            ep_host_diag_msg(&m, proto, agg);
        }
        step = NLMSG_ALIGN(h.nlmsg_len);
        if (step >= len)
            break;
        p += step;
        len -= step;
    }
    return 1;
}

int ep_host_sockdiag_parse(const void *buf, size_t len, uint8_t proto, ep_host_agg *agg)
{
    return ep_host_diag_walk(buf, len, 0, 0, proto, agg);
}

/* The request: inet_diag_req_v2 + bytecode on the source port range. */
static struct nlmsghdr *ep_host_diag_request(char *buf, int family, uint8_t proto,
                                             uint32_t states, uint16_t lo, uint16_t hi,
                                             uint32_t seq)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct inet_diag_req_v2 *req;
    struct inet_diag_bc_op bc[4];

    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = seq;
    req = mnl_nlmsg_put_extra_header(nlh, sizeof *req);
    req->sdiag_family = (uint8_t)family;
    req->sdiag_protocol = proto;
    req->idiag_states = states;
    /* Run: at each op, true jumps `yes` bytes, false jumps `no`; landing
     * exactly at the end accepts, beyond it rejects. */
    memset(bc, 0, sizeof bc);
    bc[0].code = INET_DIAG_BC_S_GE;
    bc[0].yes = sizeof bc[0] * 2;
    bc[0].no = sizeof bc + 4;
    bc[1].no = lo;
    bc[2].code = INET_DIAG_BC_S_LE;
    bc[2].yes = sizeof bc[0] * 2;
    bc[2].no = sizeof bc[0] * 2 + 4;
    bc[3].no = hi;
    mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, sizeof bc, bc);
    return nlh;
}

int ep_host_sockdiag_dump(ep_host_agg *agg, uint8_t proto, bool listen_only)
{
    static const int families[2] = { AF_INET, AF_INET6 };
    char *buf;
    struct mnl_socket *nl = mnl_socket_open(NETLINK_SOCK_DIAG);
    unsigned portid;
    int rc = 0, bufsize = 1 << 20;

    if (!nl)
        return -errno;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        mnl_socket_close(nl);
        return rc;
    }
    /* A larger receive buffer lets the kernel fill more per recv. */
    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    buf = malloc(EP_HOST_DIAG_BUF);
    if (!buf) {
        mnl_socket_close(nl);
        return -ENOMEM;
    }
    portid = mnl_socket_get_portid(nl);
    agg->listen_pass = listen_only; /* only record listening ports */
    for (int f = 0; f < 2 && rc == 0; f++) {
        uint32_t seq = (uint32_t)time(NULL) + (uint32_t)f;
        uint32_t states = listen_only ? 1u << EP_HOST_LISTEN : 0xffffffffu;
        struct nlmsghdr *nlh;
        if (agg->family && agg->family != families[f])
            continue;
        nlh = ep_host_diag_request(buf, families[f], proto, states, agg->lo, agg->hi, seq);
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
            rc = -errno;
            break;
        }
        for (;;) {
            ssize_t n = mnl_socket_recvfrom(nl, buf, EP_HOST_DIAG_BUF);
            int r;
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                rc = -errno;
                break;
            }
            r = ep_host_diag_walk(buf, (size_t)n, seq, portid, proto, agg);
            if (r < 0) {
                rc = r;
                break;
            }
            if (r == 0)
                break;
        }
        /* IPv4 worked but the kernel has no IPv6 (ipv6.disable=1): there
         * are no IPv6 sockets to count, which is not a reason to fall
         * back to /proc. */
        if (f == 1 && (rc == -ENOENT || rc == -EAFNOSUPPORT) && !agg->family)
            rc = 0;
    }
    agg->listen_pass = false;
    free(buf);
    mnl_socket_close(nl);
    if (rc == 0 && agg->error)
        rc = agg->error;
    return rc;
}
