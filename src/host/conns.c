/* conns.c in libephport-host - one NETLINK_SOCK_DIAG dump of TCP sockets in the given states,
 * with each one's cookie and timer, for each frame of `ephport top`
 * (ephport/conns.h says why).  The kernel filters: the request carries the state
 * mask and bytecode "sport >= lo && sport <= hi", so only sockets on
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

#include "diag.h"
#include "host-internal.h"
#include <ephport/conns.h>

#define EP_HOST_CONNS_BUF 32768

struct ep_host_conns_ctx {
    ep_host_conn_fn fn;
    void *arg;
    uint32_t states;
};

static void ep_host_conns_one(const struct inet_diag_msg *m, void *arg)
{
    const struct ep_host_conns_ctx *c = arg;
    ep_host_conn tw;
    if (m->idiag_state >= 32 || !(c->states & 1u << m->idiag_state) ||
        (m->idiag_family != AF_INET && m->idiag_family != AF_INET6))
        return;
    memset(&tw, 0, sizeof tw);
    ep_diag_addr(m->idiag_family, m->id.idiag_src, &tw.local);
    ep_diag_addr(m->idiag_family, m->id.idiag_dst, &tw.remote);
    tw.local_port = ntohs(m->id.idiag_sport);
    tw.remote_port = ntohs(m->id.idiag_dport);
    tw.expires_ms = m->idiag_expires;
    tw.state = m->idiag_state;
    tw.cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
    c->fn(&tw, c->arg);
}

int ep_host_conns_parse_tw(const void *buf, size_t len, ep_host_conn_fn fn, void *arg)
{
    return ep_host_conns_parse_states(buf, len, 1u << TCP_TIME_WAIT, fn, arg);
}

int ep_host_conns_parse_states(const void *buf, size_t len, uint32_t states, ep_host_conn_fn fn,
                           void *arg)
{
    struct ep_host_conns_ctx c = { fn, arg, states };
    int rc = ep_diag_walk(buf, len, 0, 0, ep_host_conns_one, &c);
    /* conns.h's convention: 1 at the end of the dump, 0 for more. */
    if (rc == 0 || rc == 1)
        return !rc;
    return rc == -EBADMSG ? -EINVAL : rc;
}

/* The sock_diag socket, opened in the namespace to read (ep_host_in_netns):
 * a netlink socket answers for the namespace it was created in, so the dump
 * itself runs on the caller's thread. */
static int ep_host_conns_open_diag(void *arg)
{
    int *fd = arg;

    *fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    return *fd < 0 ? -errno : 0;
}

static int ep_host_conns_dump_fd(int fd, uint16_t lo, uint16_t hi, uint32_t states,
                                 ep_host_conn_fn fn, void *arg)
{
    static const int families[2] = { AF_INET, AF_INET6 };
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    char *buf;
    int rc = 0;

    buf = malloc(EP_HOST_CONNS_BUF);
    if (!buf)
        return -ENOMEM;
    for (int f = 0; f < 2 && rc == 0; f++) {
        size_t n = ep_diag_request(buf, families[f], IPPROTO_TCP, states, lo, hi,
                                   (uint32_t)time(NULL) + (uint32_t)f);
        if (sendto(fd, buf, n, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
            rc = -errno;
            break;
        }
        for (;;) {
            ssize_t got = recv(fd, buf, EP_HOST_CONNS_BUF, 0);
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
            r = ep_host_conns_parse_states(buf, (size_t)got, states, fn, arg);
            if (r != 0) {
                rc = r < 0 ? r : 0;
                break;
            }
        }
    }
    free(buf);
    return rc;
}

int ep_host_conns_dump(const char *netns, uint16_t lo, uint16_t hi, uint32_t states,
                       ep_host_conn_fn fn, void *arg)
{
    char why[300];
    int fd = -1, rc;

    if (lo > hi)
        return -EINVAL;
    rc = ep_host_in_netns(netns, ep_host_conns_open_diag, &fd, why, sizeof why);
    if (rc)
        return rc;
    rc = ep_host_conns_dump_fd(fd, lo, hi, states, fn, arg);
    close(fd);
    return rc;
}
