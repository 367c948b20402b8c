/* sticky.c - which TCP ports are sticky, asked of the kernel.
 *
 * Linux keeps one bind bucket per TCP port; once a socket is bound to the
 * port explicitly (bind() with a port, or bind(addr, 0)), connect()'s
 * autobind (__inet_hash_connect) skips that port for every destination and
 * every local address, while any explicitly bound socket of the bucket
 * lives: bound, listening, connected, or its TIME_WAIT.  sock_diag shows
 * LISTEN and bound-only sockets, but not whether a connected socket or a
 * TIME_WAIT entry got its port from bind() or from connect(), so the only
 * sound way to know, without eBPF, is to ask: a socket in TCP_REPAIR mode
 * (CAP_NET_ADMIN) connects through the kernel's own port choice without
 * sending a packet, and IP_LOCAL_PORT_RANGE [p, p] (Linux 6.3) makes that
 * choice port p.  The 4-tuple asked for is 127.0.0.1:p -> 127.0.0.1:p (or
 * [::1]), which no connection holds, so a refusal (EADDRNOTAVAIL) can only
 * mean that p is sticky; closing a repair-mode socket leaves nothing
 * behind.  The bucket is per port, so one family answers for both.
 *
 * Cost: one probe per port passed, on one socket reused throughout (see
 * ep_prober); the caller passes only the ports whose answer changes some
 * destination's free count (ep_host_agg_sticky_candidates).  When the
 * kernel cannot be asked, every port passed stays unsure and the reason is
 * given: the free counts are then lower bounds. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host-internal.h"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif
#ifndef TCP_REPAIR
#define TCP_REPAIR 19
#endif

/* One repair-mode socket serves every probe: after a successful connect,
 * connect(AF_UNSPEC) disconnects it (tcp_disconnect releases the autobound
 * port: it was not bound with SOCK_BINDPORT_LOCK), and it can connect again.
 * That halves the cost of a probe against socket() + close() each time. */
typedef struct ep_prober {
    int fd;
    int family;
} ep_prober;

static int ep_prober_open(ep_prober *pr)
{
    int one = 1;
    pr->fd = socket(pr->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (pr->fd < 0)
        return -errno;
    if (setsockopt(pr->fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof one) != 0) {
        int e = -errno;
        close(pr->fd);
        pr->fd = -1;
        return e;
    }
    return 0;
}

/* 1 sticky, 0 not, or -errno when the probe itself cannot run. */
static int ep_sticky_ask(ep_prober *pr, uint16_t port)
{
    struct sockaddr_storage ss, got;
    socklen_t sl, gl = sizeof got;
    uint32_t range = (uint32_t)port << 16 | port;
    int rc;

    if (pr->fd < 0 && (rc = ep_prober_open(pr)) < 0)
        return rc;
    memset(&ss, 0, sizeof ss);
    if (pr->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        a->sin6_addr = in6addr_loopback;
        sl = sizeof *a;
    }
    if (setsockopt(pr->fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof range) != 0)
        return -errno;
    if (connect(pr->fd, (struct sockaddr *)&ss, sl) != 0)
        return errno == EADDRNOTAVAIL ? 1 : -errno;
    /* the kernel ignores a per-socket range outside the namespace's: make
     * sure it took exactly p */
    if (getsockname(pr->fd, (struct sockaddr *)&got, &gl) != 0)
        rc = -errno;
    else if (ntohs(pr->family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                         : ((struct sockaddr_in6 *)&got)->sin6_port) != port)
        rc = -ERANGE;
    else
        rc = 0;
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    if (connect(pr->fd, &unspec, sizeof unspec) != 0) {
        close(pr->fd); /* a repair-mode close leaves nothing behind either */
        pr->fd = -1;
    }
    return rc;
}

static const char *ep_sticky_words(int err)
{
    switch (-err) {
    case EPERM:
    case EACCES:
        return "TCP_REPAIR needs CAP_NET_ADMIN in the namespace";
    case ENOPROTOOPT:
        return "IP_LOCAL_PORT_RANGE needs Linux 6.3";
    case ENETUNREACH:
    case EADDRNOTAVAIL:
        return "no loopback address to ask from (lo down?)";
    case ERANGE:
        return "the kernel chose another port than asked (range changed meanwhile?)";
    default:
        return NULL;
    }
}

void ep_host_sticky_probe(const ep_portset *ports, uint16_t lo, uint16_t hi, ep_host_sticky *st)
{
    ep_prober pr = { -1, AF_INET };
    int rc;

    memset(st, 0, sizeof *st);
    st->known = true;
    for (uint32_t p = lo; p <= hi; p++) {
        if (!ep_portset_has(ports, (uint16_t)p))
            continue;
        rc = ep_sticky_ask(&pr, (uint16_t)p);
        if (rc == -ENETUNREACH && pr.family == AF_INET && st->probes == 0) {
            if (pr.fd >= 0)
                close(pr.fd);
            pr.fd = -1;
            pr.family = AF_INET6; /* no IPv4 loopback: ask through ::1 */
            rc = ep_sticky_ask(&pr, (uint16_t)p);
        }
        if (rc < 0) {
            const char *w = ep_sticky_words(rc);
            st->known = false;
            if (w)
                snprintf(st->why, sizeof st->why, "%s", w);
            else
                snprintf(st->why, sizeof st->why, "asking the kernel about port %u failed: %s",
                         p, strerror(-rc));
            /* everything not yet asked stays unsure */
            for (uint32_t q = p; q <= hi; q++)
                if (ep_portset_has(ports, (uint16_t)q))
                    ep_portset_add(&st->unsure, (uint16_t)q);
            break;
        }
        st->probes++;
        if (rc == 1)
            ep_portset_add(&st->sure, (uint16_t)p);
    }
    if (pr.fd >= 0)
        close(pr.fd);
}
