/* sockdiag.c - live sockets through NETLINK_SOCK_DIAG (inet_diag) with
 * libmnl.  One dump per protocol (TCP: both families in one request of
 * inet_diag's original form; else, and UDP, one per family), all states
 * (but, for --all-namespaces, those node.c's passes over the whole host
 * found already: bound-only sockets, and the established hash's, which are
 * then added as the messages the dump would have sent), with
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

#include "diag.h"
#include "host-internal.h"

#define EP_HOST_DIAG_BUF 32768 /* one recv of a dump (the kernel fills pages) */

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
    ep_diag_addr(m->idiag_family, m->id.idiag_src, &s.local);
    ep_diag_addr(m->idiag_family, m->id.idiag_dst, &s.remote);
    s.inode = m->idiag_inode;
    s.tw_age_ms = -1;
    /* a TIME_WAIT socket's timer counts down from TCP_TIMEWAIT_LEN (60 s);
     * it reads 0 while the entry waits for its timer wheel's batch */
    if (proto == 6 && m->idiag_state == EP_HOST_TIME_WAIT && m->idiag_timer == 3)
        s.tw_age_ms = m->idiag_expires >= 60000 ? 0 : (int32_t)(60000 - m->idiag_expires);
    ep_host_agg_add(agg, &s);
}

struct ep_host_diag_ctx {
    uint8_t proto;
    ep_host_agg *agg;
    size_t seen;
};

static void ep_host_diag_one(const struct inet_diag_msg *m, void *arg)
{
    struct ep_host_diag_ctx *c = arg;
    ep_host_diag_msg(m, c->proto, c->agg);
    c->seen++;
}

int ep_host_sockdiag_parse(const void *buf, size_t len, uint8_t proto, ep_host_agg *agg)
{
    struct ep_host_diag_ctx c = { proto, agg, 0 };
    return ep_diag_walk(buf, len, 0, 0, ep_host_diag_one, &c);
}

/* The given bound-but-inactive sockets of one family, as inet_diag would
 * have reported them (the same message, so the same reading). */
static void ep_host_diag_given(const ep_host_bound_given *given, int family, ep_host_agg *agg)
{
    for (size_t i = 0; i < given->n; i++) {
        const ep_host_bound_sock *b = &given->v[i];
        struct inet_diag_msg m;
        if (b->family != family)
            continue;
        memset(&m, 0, sizeof m);
        m.idiag_family = (uint8_t)b->family;
        m.idiag_state = b->state;
        m.id.idiag_sport = b->sport;
        m.id.idiag_dport = b->dport;
        memcpy(m.id.idiag_src, b->src, sizeof m.id.idiag_src);
        memcpy(m.id.idiag_dst, b->dst, sizeof m.id.idiag_dst);
        m.idiag_inode = (uint32_t)b->inode;
        ep_host_diag_msg(&m, 6, agg);
    }
}

/* One family's share of the walk of the host-wide established hash
 * (ehash-bpf.c), as inet_diag would have reported those sockets: the same
 * message, so the same reading. */
static void ep_host_diag_walked(const ep_host_ehash_part *part, int family, ep_host_agg *agg)
{
    ep_host_ehash_sock e;
    size_t off = 0;

    while (ep_host_ehash_part_next(part, &off, &e)) {
        struct inet_diag_msg m;
        if (e.family != family)
            continue;
        memset(&m, 0, sizeof m);
        m.idiag_family = e.family;
        m.idiag_state = e.state;
        m.id.idiag_sport = e.sport;
        m.id.idiag_dport = e.dport;
        memcpy(m.id.idiag_src, e.src, sizeof m.id.idiag_src);
        memcpy(m.id.idiag_dst, e.dst, sizeof m.id.idiag_dst);
        m.idiag_inode = e.inode;
        if (e.expires_ms >= 0) {
            m.idiag_timer = 3;
            m.idiag_expires = (uint32_t)e.expires_ms;
        }
        ep_host_diag_msg(&m, 6, agg);
    }
}

/* Send one dump request and fold every reply into agg.  *seen counts the
 * sockets folded (so a failed request that folded none can be retried
 * another way).  0 or -errno. */
static int ep_host_diag_run(struct mnl_socket *nl, char *buf, size_t reqlen, uint32_t seq,
                            uint8_t proto, ep_host_agg *agg, size_t *seen)
{
    struct ep_host_diag_ctx c = { proto, agg, 0 };
    unsigned portid = mnl_socket_get_portid(nl);
    int rc = 0;

    if (mnl_socket_sendto(nl, buf, reqlen) < 0)
        return -errno;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, EP_HOST_DIAG_BUF);
        int r;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        r = ep_diag_walk(buf, (size_t)n, seq, portid, ep_host_diag_one, &c);
        if (r <= 0) {
            rc = r;
            break;
        }
    }
    *seen = c.seen;
    return rc;
}

int ep_host_sockdiag_dump(ep_host_agg *agg, uint8_t proto, bool listen_only,
                          const ep_host_bound_given *given)
{
    static const int families[2] = { AF_INET, AF_INET6 };
    bool tcp_all = !listen_only && proto == 6;
    /* TCP_BOUND_INACTIVE (13) walks the host-wide bind hash: left out when
     * the caller knows those sockets already */
    bool feed = given && !given->ask_bound && tcp_all, both = false;
    /* every other state but LISTEN lives in the established hash, which a
     * dump walks whole: left out when the walk of it covers this
     * namespace (the kernel then reads its listening hash only) */
    const ep_host_ehash_part *walked = NULL;
    bool walk = given && given->walk && tcp_all &&
                ep_host_ehash_walk_covers(given->walk, given->netns);
    uint32_t states = listen_only ? 1u << EP_HOST_LISTEN
                      : walk      ? (1u << EP_HOST_LISTEN) | (feed ? 0 : 1u << 13)
                      : feed      ? 0xffffffffu & ~(1u << 13)
                                  : 0xffffffffu;
    char *buf;
    struct mnl_socket *nl = mnl_socket_open(NETLINK_SOCK_DIAG);
    int rc = 0, bufsize = 1 << 20;

    if (walk) {
        walked = ep_host_ehash_walk_find(given->walk, given->netns);
        agg->walked = walked;
        agg->walk_used = true;
        if (given->walk_used)
            *given->walk_used = true;
    }
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
    agg->listen_pass = listen_only; /* only record listening ports */
    /* TCP of both families: one request of the original inet_diag form,
     * which the kernel answers with one walk of its tables for both (each
     * walk of the host-wide established hash costs milliseconds, paid per
     * namespace by --all-namespaces); a kernel that refuses it before
     * answering anything is asked family by family. */
    if (proto == 6 && !agg->family) {
        uint32_t seq = (uint32_t)time(NULL) + 2;
        size_t seen = 0, reqlen = ep_diag_request_compat(buf, states, agg->lo, agg->hi, seq);
        rc = ep_host_diag_run(nl, buf, reqlen, seq, proto, agg, &seen);
        both = rc == 0;
        if (rc != 0 && seen == 0 && rc != -ENOMEM)
            rc = 0;
    }
    for (int f = 0; f < 2 && rc == 0; f++) {
        uint32_t seq = (uint32_t)time(NULL) + (uint32_t)f;
        size_t seen, reqlen;
        if (agg->family && agg->family != families[f])
            continue;
        if (!both) {
            reqlen = ep_diag_request(buf, families[f], proto, states, agg->lo, agg->hi, seq);
            rc = ep_host_diag_run(nl, buf, reqlen, seq, proto, agg, &seen);
        }
        if (rc == 0 && walked)
            ep_host_diag_walked(walked, families[f], agg);
        if (rc == 0 && feed)
            ep_host_diag_given(given, families[f], agg);
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
