/* kernel-oracle.c - the real Linux kernel as a test oracle (see
 * kernel-oracle.h): a table of real sockets addressed by small handles, the
 * namespace's sysctls, addresses and listeners, and the side-effect-free
 * TCP_REPAIR probe.
 *
 * Why it is built this way:
 * - Every socket is non-blocking, so a TCP connect() returns the kernel's
 *   port verdict at once and the handshake is then awaited with a bounded
 *   poll(); nothing here can hang a test.
 * - A completed TCP connect is accepted on its listener straight away and
 *   the server side is kept with the client's handle, so ko_close() can order
 *   the two closes (who closes first decides where TIME_WAIT lands).
 * - ko_close() then asks sock_diag for the client's exact 4-tuple (a single
 *   lookup, not a dump) until it is in TIME_WAIT or gone, so the next
 *   operation sees the final state.
 * - Owners become socket uids through setfsuid(): sock_alloc() stamps the
 *   socket inode with the caller's fsuid and the socket's uid (the one
 *   SO_REUSEPORT groups compare) is taken from that inode.
 * - Anything that fails in the harness itself returns KO_EHARNESS with the
 *   reason in ko_harness_error(), never a plausible errno. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kernel-oracle.h"
#include "netns-util.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif
#ifndef TCP_REPAIR
#define TCP_REPAIR 19
#endif

/* Bounds on the waits; on loopback every one of them normally ends at the
 * first look. */
#define KO_CONNECT_WAIT_MS 3000
#define KO_CLOSE_WAIT_MS 3000
#define KO_MAX_LISTENERS 64

typedef struct ko_sock {
    int fd;              /* -1 = free slot */
    int peer;            /* accepted server side of a TCP connect, or -1 */
    uint8_t proto;       /* IPPROTO_TCP / IPPROTO_UDP */
    uint8_t family;
    bool listening;
    bool connected;      /* TCP: handshake done; UDP: connect() returned 0 */
    struct sockaddr_storage local, remote; /* valid when connected */
} ko_sock;

typedef struct ko_listener {
    int fd;
    ep_addr addr;
    uint16_t port;
} ko_listener;

static ko_sock ko_socks[KO_MAX_SOCKETS];
static bool ko_socks_ready;
static ko_listener ko_listeners[KO_MAX_LISTENERS];
static size_t ko_nlisteners;
static uint16_t ko_range_lo, ko_range_hi;
static int ko_diag_fd = -1;
static char ko_why[256];

static int ko_harness(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ko_why, sizeof ko_why, fmt, ap);
    va_end(ap);
    return KO_EHARNESS;
}

const char *ko_harness_error(void)
{
    return ko_why;
}

static void ko_socks_init(void)
{
    if (ko_socks_ready)
        return;
    for (size_t i = 0; i < KO_MAX_SOCKETS; i++) {
        ko_socks[i].fd = -1;
        ko_socks[i].peer = -1;
    }
    ko_socks_ready = true;
}

static ko_sock *ko_get(int h)
{
    if (h < 0 || h >= KO_MAX_SOCKETS || !ko_socks_ready || ko_socks[h].fd < 0)
        return NULL;
    return &ko_socks[h];
}

int ko_fd(int h)
{
    ko_sock *s = ko_get(h);
    return s ? s->fd : -1;
}

/* ---- addresses -------------------------------------------------------- */

/* Build the sockaddr for a socket of `family`: family 0 or a wildcard gives
 * that family's wildcard; an IPv4 address on an AF_INET6 socket becomes
 * ::ffff:a.b.c.d. */
static int ko_sockaddr(uint8_t family, const ep_addr *a, uint16_t port,
                       struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        if (a && a->family == AF_INET6)
            return -1;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (a && a->family == AF_INET)
            sin->sin_addr = a->u.v4;
        *len = sizeof *sin;
        return 0;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (a && a->family == AF_INET6) {
        sin6->sin6_addr = a->u.v6;
    } else if (a && a->family == AF_INET && a->u.v4.s_addr != 0) {
        sin6->sin6_addr.s6_addr[10] = 0xff;
        sin6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&sin6->sin6_addr.s6_addr[12], &a->u.v4, 4);
    }
    *len = sizeof *sin6;
    return 0;
}

static void ko_from_sockaddr(const struct sockaddr_storage *ss, ep_addr *a, uint16_t *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        if (a)
            ep_addr_from_bytes(AF_INET, &sin->sin_addr, a);
        if (port)
            *port = ntohs(sin->sin_port);
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        if (a)
            ep_addr_from_bytes(AF_INET6, &sin6->sin6_addr, a);
        if (port)
            *port = ntohs(sin6->sin6_port);
    }
}

/* Equal endpoints, with ::ffff:a.b.c.d equal to a.b.c.d (an AF_INET6
 * socket talking to an AF_INET one sees the other in mapped form). */
static void ko_norm(const struct sockaddr_storage *ss, ep_addr *a, uint16_t *port)
{
    ko_from_sockaddr(ss, a, port);
    if (a->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->u.v6)) {
        uint8_t v4[4];
        memcpy(v4, &a->u.bytes[12], sizeof v4);  /* from_bytes clears *a first */
        ep_addr_from_bytes(AF_INET, v4, a);
    }
}

static bool ko_sockaddr_equal(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
    ep_addr a, b;
    uint16_t pa, pb;
    ko_norm(x, &a, &pa);
    ko_norm(y, &b, &pb);
    return pa == pb && ep_addr_equal(&a, &b);
}

/* ---- sock_diag: the state of one exact 4-tuple ------------------------ */

/* The TCP state of the socket whose local end is `local` and remote end
 * `remote` (TCP_ESTABLISHED..., TCP_TIME_WAIT), 0 when there is none, or
 * KO_EHARNESS. */
static int ko_diag_state(const struct sockaddr_storage *local, const struct sockaddr_storage *remote)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } msg;
    char buf[8192];
    ssize_t n;

    if (ko_diag_fd < 0) {
        ko_diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (ko_diag_fd < 0)
            return ko_harness("socket(NETLINK_SOCK_DIAG): %s", strerror(errno));
    }
    memset(&msg, 0, sizeof msg);
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.req.sdiag_family = local->ss_family;
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = ~0u;
    msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    if (local->ss_family == AF_INET) {
        const struct sockaddr_in *l = (const void *)local, *r = (const void *)remote;
        msg.req.id.idiag_sport = l->sin_port;
        msg.req.id.idiag_dport = r->sin_port;
        memcpy(msg.req.id.idiag_src, &l->sin_addr, 4);
        memcpy(msg.req.id.idiag_dst, &r->sin_addr, 4);
    } else {
        const struct sockaddr_in6 *l = (const void *)local, *r = (const void *)remote;
        msg.req.id.idiag_sport = l->sin6_port;
        msg.req.id.idiag_dport = r->sin6_port;
        memcpy(msg.req.id.idiag_src, &l->sin6_addr, 16);
        memcpy(msg.req.id.idiag_dst, &r->sin6_addr, 16);
    }
    if (send(ko_diag_fd, &msg, sizeof msg, 0) != (ssize_t)sizeof msg)
        return ko_harness("sock_diag send: %s", strerror(errno));
    n = recv(ko_diag_fd, buf, sizeof buf, 0);
    if (n < (ssize_t)sizeof(struct nlmsghdr))
        return ko_harness("sock_diag recv: %s", n < 0 ? strerror(errno) : "short");
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof *e))
            return ko_harness("sock_diag: short error message");
        if (e->error == -ENOENT)
            return 0;
        return ko_harness("sock_diag lookup: %s", strerror(-e->error));
    }
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)) || (size_t)n < h->nlmsg_len)
        return ko_harness("sock_diag: unexpected reply type %u", h->nlmsg_type);
    struct inet_diag_msg *m = NLMSG_DATA(h);
    /* An exact lookup falls back to a listener on the local end: that is
     * not our socket. */
    if (m->idiag_state == TCP_LISTEN)
        return 0;
    return m->idiag_state;
}

static void ko_sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

/* Wait until the tuple is in TIME_WAIT (want_tw) or gone.  0 or KO_EHARNESS. */
static int ko_wait_final(const ko_sock *s, bool want_tw)
{
    long waited_us = 0, step = 20;
    for (;;) {
        int st = ko_diag_state(&s->local, &s->remote);
        if (st == KO_EHARNESS)
            return st;
        if (want_tw ? st == TCP_TIME_WAIT : st == 0)
            return 0;
        if (!want_tw && st == TCP_TIME_WAIT)
            return ko_harness("close: the client ended in TIME_WAIT where none was expected");
        if (want_tw && st == 0)
            return ko_harness("close: the client is gone, no TIME_WAIT (timestamps off?)");
        if (waited_us >= KO_CLOSE_WAIT_MS * 1000L)
            return ko_harness("close: client still in TCP state %d after %d ms", st,
                              KO_CLOSE_WAIT_MS);
        ko_sleep_us(step);
        waited_us += step;
        if (step < 5000)
            step *= 2;
    }
}

/* Wait for POLLIN/POLLRDHUP etc. on fd, bounded.  0 or KO_EHARNESS. */
static int ko_poll(int fd, short events, int ms, const char *what)
{
    struct pollfd p = { .fd = fd, .events = events };
    int r;
    do {
        r = poll(&p, 1, ms);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return ko_harness("%s: poll: %s", what, strerror(errno));
    if (r == 0)
        return ko_harness("%s: nothing after %d ms", what, ms);
    return 0;
}

/* ---- environment ------------------------------------------------------ */

static int ko_add_address(const ep_addr *a, char *why, size_t len)
{
    char text[EP_ADDR_STRLEN], cidr[EP_ADDR_STRLEN + 16];
    if (ep_addr_format(a, text, sizeof text) != 0) {
        snprintf(why, len, "address of family %u cannot be formatted", a->family);
        return -1;
    }
    /* 127.0.0.0/8 is local already (lo's 127.0.0.1/8 route). */
    if (a->family == AF_INET && a->u.bytes[0] == 127)
        return 0;
    if (a->family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&a->u.v6))
        return 0;
    snprintf(cidr, sizeof cidr, a->family == AF_INET ? "%s/32" : "%s/128 nodad", text);
    /* "File exists" is fine: a remote can also be a local address. */
    ep_test_add_lo_address(cidr);
    /* Is it local now?  A bind tells. */
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ko_sockaddr(a->family, a, 0, &ss, &sl) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        snprintf(why, len, "address %s is not local after adding it to lo: %s", text,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* Routable too?  An IPv6 address's local route is inserted by the
     * kernel's address-configuration work, which runs after `ip addr add`
     * returns even with nodad: bind() already works, while connect() can
     * still fail with ENETUNREACH (seen under load).  A UDP connect() does
     * the route lookup; wait for it, at most 2 s. */
    if (ko_sockaddr(a->family, a, 9, &ss, &sl) != 0) {
        snprintf(why, len, "address %s: no socket address", text);
        close(fd);
        return -1;
    }
    for (int tries = 0;; tries++) {
        if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
            break;
        if (errno != ENETUNREACH || tries == 2000) {
            snprintf(why, len, "address %s is not routable after adding it to lo: %s", text,
                     strerror(errno));
            close(fd);
            return -1;
        }
        ko_msleep(1);
    }
    close(fd);
    return 0;
}

static int ko_start_listener(const ep_addr *a, uint16_t port, char *why, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1;
    char text[EP_ADDR_STRLEN] = "?";

    ep_addr_format(a, text, sizeof text);
    if (ko_nlisteners == KO_MAX_LISTENERS) {
        snprintf(why, len, "more than %d remotes", KO_MAX_LISTENERS);
        return -1;
    }
    if (a->family != AF_INET && a->family != AF_INET6) {
        snprintf(why, len, "remote of family %u", a->family);
        return -1;
    }
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (a->family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        ko_sockaddr(a->family, a, port, &ss, &sl) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 4096) != 0) {
        snprintf(why, len, "listener on %s port %u: %s", text, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ko_listeners[ko_nlisteners].fd = fd;
    ko_listeners[ko_nlisteners].addr = *a;
    ko_listeners[ko_nlisteners].port = port;
    ko_nlisteners++;
    return 0;
}

int ko_env_setup(const ko_config *cfg, char *why, size_t len)
{
    char text[64];
    int rc;

    ko_socks_init();
    /* A paired TCP handle holds two descriptors: lift the soft limit so
     * that KO_MAX_SOCKETS handles fit (up to the hard limit). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = 2 * KO_MAX_SOCKETS + 256;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
            want = rl.rlim_max;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    if (cfg->lo == 0 || cfg->lo > cfg->hi) {
        snprintf(why, len, "bad port range %u-%u", cfg->lo, cfg->hi);
        return -1;
    }
    snprintf(text, sizeof text, "%u %u", cfg->lo, cfg->hi);
    if ((rc = ep_test_write_sysctl("net/ipv4/ip_local_port_range", text)) != 0) {
        snprintf(why, len, "ip_local_port_range = %s: %s", text, strerror(-rc));
        return -1;
    }
    ko_range_lo = cfg->lo;
    ko_range_hi = cfg->hi;
    /* Writing an empty string is refused; a newline clears the set. */
    const char *reserved = cfg->reserved && cfg->reserved[0] ? cfg->reserved : "\n";
    if ((rc = ep_test_write_sysctl("net/ipv4/ip_local_reserved_ports", reserved)) != 0) {
        snprintf(why, len, "ip_local_reserved_ports = %s: %s", reserved, strerror(-rc));
        return -1;
    }
    snprintf(text, sizeof text, "%d", cfg->tw_reuse);
    if ((rc = ep_test_write_sysctl("net/ipv4/tcp_tw_reuse", text)) != 0) {
        snprintf(why, len, "tcp_tw_reuse = %s: %s", text, strerror(-rc));
        return -1;
    }
    if (cfg->tw_reuse_delay_ms) {
        snprintf(text, sizeof text, "%u", cfg->tw_reuse_delay_ms);
        if ((rc = ep_test_write_sysctl("net/ipv4/tcp_tw_reuse_delay", text)) != 0) {
            snprintf(why, len, "tcp_tw_reuse_delay = %s: %s", text, strerror(-rc));
            return -1;
        }
    }
    for (size_t i = 0; i < cfg->nlocal; i++) {
        ep_addr a;
        if (ep_addr_parse(cfg->local_addrs[i], &a) != 0) {
            snprintf(why, len, "local address \"%s\" does not parse", cfg->local_addrs[i]);
            return -1;
        }
        if (ko_add_address(&a, why, len) != 0)
            return -1;
    }
    for (size_t i = 0; i < cfg->nremote; i++) {
        if (ko_add_address(&cfg->remotes[i], why, len) != 0 ||
            ko_start_listener(&cfg->remotes[i], cfg->remote_ports[i], why, len) != 0)
            return -1;
    }
    return 0;
}

static void ko_drop(ko_sock *s)
{
    if (s->peer >= 0)
        close(s->peer);
    if (s->fd >= 0)
        close(s->fd);
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->peer = -1;
}

void ko_env_teardown(void)
{
    ko_socks_init();
    for (size_t i = 0; i < KO_MAX_SOCKETS; i++)
        if (ko_socks[i].fd >= 0)
            ko_drop(&ko_socks[i]);
    for (size_t i = 0; i < ko_nlisteners; i++)
        close(ko_listeners[i].fd);
    ko_nlisteners = 0;
    if (ko_diag_fd >= 0)
        close(ko_diag_fd);
    ko_diag_fd = -1;
}

/* ---- operations ------------------------------------------------------- */

int ko_socket(uint8_t proto, uint8_t family, unsigned flags, uint32_t owner)
{
    int one = 1, zero = 0, h = -1, fd, saved, type;

    ko_socks_init();
    if (proto == IPPROTO_TCP)
        type = SOCK_STREAM;
    else if (proto == IPPROTO_UDP)
        type = SOCK_DGRAM;
    else
        return ko_harness("ko_socket: protocol %u", proto);
    if (family != AF_INET && family != AF_INET6)
        return ko_harness("ko_socket: family %u", family);
    if (owner > UINT32_MAX - KO_UID_BASE)
        return ko_harness("ko_socket: owner %u out of range", owner);
    for (int i = 0; i < KO_MAX_SOCKETS; i++)
        if (ko_socks[i].fd < 0) {
            h = i;
            break;
        }
    if (h < 0)
        return ko_harness("ko_socket: all %d handles in use", KO_MAX_SOCKETS);

    if (owner != 0)
        setfsuid(KO_UID_BASE + owner);
    fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    saved = errno;
    if (owner != 0) {
        setfsuid(0);
        if ((uid_t)setfsuid(-1) != 0) {  /* setfsuid(-1) reports, changes nothing */
            if (fd >= 0)
                close(fd);
            return ko_harness("ko_socket: could not restore fsuid 0");
        }
    }
    if (fd < 0) {
        if (saved == EMFILE || saved == ENFILE || saved == ENOMEM || saved == ENOBUFS)
            return ko_harness("ko_socket: socket: %s", strerror(saved));
        return -saved;
    }

    if (((flags & KO_REUSEADDR) &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) ||
        ((flags & KO_REUSEPORT) &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        ((flags & KO_NO_PORT) &&
         setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0) ||
        (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
                                          (flags & KO_V6ONLY) ? &one : &zero, sizeof one) != 0)) {
        saved = errno;
        close(fd);
        return ko_harness("ko_socket: setsockopt: %s", strerror(saved));
    }
    ko_sock *s = &ko_socks[h];
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->peer = -1;
    s->proto = proto;
    s->family = family;
    return h;
}

/* Narrow the socket's autobind range to [p, p]; p must lie inside the
 * namespace's range, or the kernel would quietly ignore the narrowing. */
static int ko_only_port(int fd, uint16_t p)
{
    uint32_t range = (uint32_t)p << 16 | p;
    if (p < ko_range_lo || p > ko_range_hi)
        return ko_harness("only_port %u outside the namespace range %u-%u", p, ko_range_lo,
                          ko_range_hi);
    if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof range) != 0)
        return ko_harness("IP_LOCAL_PORT_RANGE [%u, %u]: %s", p, p, strerror(errno));
    return 0;
}

int ko_bind(int h, const ep_addr *addr, uint16_t port, uint16_t only_port, uint16_t *port_out)
{
    ko_sock *s = ko_get(h);
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc;

    if (!s)
        return ko_harness("ko_bind: no handle %d", h);
    if (ko_sockaddr(s->family, addr, port, &ss, &sl) != 0)
        return ko_harness("ko_bind: an IPv6 address on an IPv4 socket");
    if (only_port && (rc = ko_only_port(s->fd, only_port)) != 0)
        return rc;
    if (bind(s->fd, (struct sockaddr *)&ss, sl) != 0)
        return -errno;
    if (port_out) {
        sl = sizeof ss;
        if (getsockname(s->fd, (struct sockaddr *)&ss, &sl) != 0)
            return ko_harness("ko_bind: getsockname: %s", strerror(errno));
        ko_from_sockaddr(&ss, NULL, port_out);
    }
    return 0;
}

int ko_listen(int h)
{
    ko_sock *s = ko_get(h);
    if (!s)
        return ko_harness("ko_listen: no handle %d", h);
    if (listen(s->fd, 16) != 0)
        return -errno;
    s->listening = true;
    return 0;
}

/* The listening fd a TCP connect to (remote, rport) lands on: an exact
 * match first, then a wildcard of the family (a dual-stack :: also serves
 * IPv4); -1 if the oracle has none (the connection is then left unpaired). */
static int ko_find_listener(const struct sockaddr_storage *remote)
{
    int wild = -1;
    for (size_t i = 0; i < ko_nlisteners; i++) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (ko_sockaddr(remote->ss_family, &ko_listeners[i].addr, ko_listeners[i].port, &ss,
                        &sl) == 0 && ko_sockaddr_equal(&ss, remote))
            return ko_listeners[i].fd;
    }
    for (int i = 0; i < KO_MAX_SOCKETS; i++) {
        ko_sock *l = &ko_socks[i];
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (l->fd < 0 || !l->listening || l->proto != IPPROTO_TCP ||
            getsockname(l->fd, (struct sockaddr *)&ss, &sl) != 0)
            continue;
        ep_addr a;
        uint16_t lp, rp;
        ko_from_sockaddr(&ss, &a, &lp);
        ko_from_sockaddr(remote, NULL, &rp);
        if (lp != rp)
            continue;
        if (ko_sockaddr_equal(&ss, remote))
            return l->fd;
        if (ep_addr_is_wildcard(&a) &&
            (ss.ss_family == remote->ss_family || ss.ss_family == AF_INET6))
            wild = l->fd;
    }
    return wild;
}

/* Accept the server side of the connection whose client end is `client`. */
static int ko_accept_peer(int lfd, const struct sockaddr_storage *client)
{
    for (int tries = 0; tries < 64; tries++) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR)
                return ko_harness("accept: %s", strerror(errno));
            int rc = ko_poll(lfd, POLLIN, KO_CONNECT_WAIT_MS, "accept");
            if (rc != 0)
                return rc;
            continue;
        }
        if (ko_sockaddr_equal(&peer, client))
            return fd;
        close(fd);  /* a stray from an earlier, abandoned connect */
    }
    return ko_harness("accept: the connection never reached the accept queue");
}

int ko_connect(int h, const ep_addr *remote, uint16_t rport, uint16_t only_port,
               ep_addr *local_out, uint16_t *lport_out)
{
    ko_sock *s = ko_get(h);
    struct sockaddr_storage ss, local;
    socklen_t sl;
    int rc;

    if (!s)
        return ko_harness("ko_connect: no handle %d", h);
    if (!remote || ep_addr_is_wildcard(remote))
        return ko_harness("ko_connect: the remote must be an address");
    if (ko_sockaddr(s->family, remote, rport, &ss, &sl) != 0)
        return ko_harness("ko_connect: an IPv6 remote on an IPv4 socket");
    if (only_port && (rc = ko_only_port(s->fd, only_port)) != 0)
        return rc;
    if (connect(s->fd, (struct sockaddr *)&ss, sl) != 0) {
        if (errno != EINPROGRESS)
            return -errno;
        /* TCP: the port is chosen; wait for the handshake. */
        int err = 0;
        socklen_t el = sizeof err;
        if ((rc = ko_poll(s->fd, POLLOUT, KO_CONNECT_WAIT_MS, "connect")) != 0)
            return rc;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
            return ko_harness("connect: SO_ERROR: %s", strerror(errno));
        if (err != 0)
            return -err;
    }
    sl = sizeof local;
    if (getsockname(s->fd, (struct sockaddr *)&local, &sl) != 0)
        return ko_harness("connect: getsockname: %s", strerror(errno));
    s->connected = true;
    s->local = local;
    s->remote = ss;
    if (s->proto == IPPROTO_TCP) {
        int lfd = ko_find_listener(&ss);
        if (lfd >= 0) {
            int pfd = ko_accept_peer(lfd, &local);
            if (pfd < 0)
                return pfd;
            s->peer = pfd;
        }
    }
    ko_from_sockaddr(&local, local_out, lport_out);
    return 0;
}

int ko_close(int h, ko_close_how how)
{
    ko_sock *s = ko_get(h);
    int rc = 0;

    if (!s)
        return ko_harness("ko_close: no handle %d", h);
    if (s->proto != IPPROTO_TCP || !s->connected || s->peer < 0) {
        ko_drop(s);
        return 0;
    }
    ko_sock c = *s;
    s->fd = -1;
    s->peer = -1;
    ko_drop(s);
    switch (how) {
    case KO_CLOSE_ACTIVE:
        /* Our FIN first; once the peer has read it, the peer's FIN. */
        close(c.fd);
        rc = ko_poll(c.peer, POLLIN | POLLRDHUP, KO_CLOSE_WAIT_MS, "close: peer sees FIN");
        close(c.peer);
        return rc ? rc : ko_wait_final(&c, true);
    case KO_CLOSE_PASSIVE:
        close(c.peer);
        rc = ko_poll(c.fd, POLLIN | POLLRDHUP, KO_CLOSE_WAIT_MS, "close: we see FIN");
        close(c.fd);
        return rc ? rc : ko_wait_final(&c, false);
    case KO_CLOSE_RESET: {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        if (setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0)
            rc = ko_harness("close: SO_LINGER: %s", strerror(errno));
        close(c.fd);
        close(c.peer);
        return rc ? rc : ko_wait_final(&c, false);
    }
    }
    close(c.fd);
    close(c.peer);
    return ko_harness("ko_close: unknown way %d", (int)how);
}

/* ---- the side-effect-free probe --------------------------------------- */

int ko_probe_tcp_port(const ep_addr *local, const ep_addr *remote, uint16_t rport, uint16_t p,
                      int *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1, rc, fd;
    uint8_t family;

    if (!remote || ep_addr_is_wildcard(remote))
        return ko_harness("probe: the remote must be an address");
    family = remote->family;
    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return ko_harness("probe: socket: %s", strerror(errno));
    if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof one) != 0) {
        rc = ko_harness("probe: TCP_REPAIR: %s (needs CAP_NET_ADMIN)", strerror(errno));
        goto out;
    }
    if ((rc = ko_only_port(fd, p)) != 0)
        goto out;
    if (local && !ep_addr_is_wildcard(local)) {
        /* The address now, the port at connect(): the kernel's own choice. */
        if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0) {
            rc = ko_harness("probe: IP_BIND_ADDRESS_NO_PORT: %s", strerror(errno));
            goto out;
        }
        if (ko_sockaddr(family, local, 0, &ss, &sl) != 0 ||
            bind(fd, (struct sockaddr *)&ss, sl) != 0) {
            rc = ko_harness("probe: bind to the local address: %s", strerror(errno));
            goto out;
        }
    }
    if (ko_sockaddr(family, remote, rport, &ss, &sl) != 0) {
        rc = ko_harness("probe: remote address");
        goto out;
    }
    if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
        rc = 1;
        if (err)
            *err = 0;
    } else if (errno == EINPROGRESS) {
        rc = ko_harness("probe: connect sent a SYN (TCP_REPAIR not in effect)");
    } else {
        rc = 0;
        if (err)
            *err = errno;
    }
out:
    close(fd);
    return rc;
}

int ko_count_tcp_free(const ep_addr *local, const ep_addr *remote, uint16_t rport)
{
    int n = 0;
    for (unsigned p = ko_range_lo; p <= ko_range_hi; p++) {
        int rc = ko_probe_tcp_port(local, remote, rport, (uint16_t)p, NULL);
        if (rc < 0)
            return rc;
        n += rc;
    }
    return n;
}

/* ---- helpers the kernel tests share ----------------------------------- */

ep_addr ko_addr(const char *text)
{
    ep_addr a;
    if (ep_addr_parse(text, &a) != 0)
        abort();
    return a;
}

void ko_msleep(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int ko_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}
