/* top-tw.c - one NETLINK_SOCK_DIAG dump of TCP sockets in the given states,
 * with each one's cookie and timer, for each frame of `ephport top`
 * (top-tw.h says why).  The kernel filters: the request carries the state
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
#include "top-tw.h"

#define EP_TOP_TW_BUF 32768

struct ep_top_tw_ctx {
    ep_top_tw_fn fn;
    void *arg;
    uint32_t states;
};

static void ep_top_tw_one(const struct inet_diag_msg *m, void *arg)
{
    const struct ep_top_tw_ctx *c = arg;
    ep_top_tw tw;
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

int ep_top_tw_parse(const void *buf, size_t len, ep_top_tw_fn fn, void *arg)
{
    return ep_top_tw_parse_states(buf, len, 1u << TCP_TIME_WAIT, fn, arg);
}

int ep_top_tw_parse_states(const void *buf, size_t len, uint32_t states, ep_top_tw_fn fn,
                           void *arg)
{
    struct ep_top_tw_ctx c = { fn, arg, states };
    int rc = ep_diag_walk(buf, len, 0, 0, ep_top_tw_one, &c);
    /* top-tw.h's convention: 1 at the end of the dump, 0 for more. */
    if (rc == 0 || rc == 1)
        return !rc;
    return rc == -EBADMSG ? -EINVAL : rc;
}

static int ep_top_tw_dump_here(uint16_t lo, uint16_t hi, uint32_t states, ep_top_tw_fn fn,
                               void *arg)
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
        size_t n = ep_diag_request(buf, families[f], IPPROTO_TCP, states, lo, hi,
                                   (uint32_t)time(NULL) + (uint32_t)f);
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
            r = ep_top_tw_parse_states(buf, (size_t)got, states, fn, arg);
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

int ep_top_tw_dump(const char *netns, uint16_t lo, uint16_t hi, uint32_t states,
                   ep_top_tw_fn fn, void *arg)
{
    char path[4096];
    int target, self, rc;

    if (lo > hi)
        return -EINVAL;
    if (!netns)
        return ep_top_tw_dump_here(lo, hi, states, fn, arg);
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
    rc = ep_top_tw_dump_here(lo, hi, states, fn, arg);
    /* Going back where we came from is allowed whenever entering was; if it
     * fails, this thread would read the wrong namespace from now on. */
    if (setns(self, CLONE_NEWNET) != 0) {
        perror("ephport top: cannot return to the original network namespace");
        _exit(70);
    }
    close(self);
    return rc;
}
