/* listen.c - parse --listen ADDR:PORT and open the exporter's listening
 * socket ourselves (rather than letting libmicrohttpd do it) so bind errors
 * get a precise message and ":PORT" is one dual-stack socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

static int ep_listen_fail(char *why, size_t whylen, const char *msg, const char *arg)
{
    if (why && whylen)
        snprintf(why, whylen, msg, arg);
    return -EINVAL;
}

static bool ep_listen_parse_port(const char *p, uint16_t *out)
{
    uint32_t v = 0;
    int n = 0;
    if (!*p)
        return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || ++n > 5)
            return false;
        v = v * 10 + (uint32_t)(*p - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

int ep_listen_parse(const char *text, ep_listen_addr *out, char *why, size_t whylen)
{
    char host[64];
    const char *colon;
    size_t hlen;
    ep_listen_addr a;

    memset(&a, 0, sizeof a);
    if (!text || !*text)
        return ep_listen_fail(why, whylen, "empty address%s", "");
    colon = strrchr(text, ':');
    if (!colon)
        return ep_listen_fail(why, whylen, "'%s' has no ':PORT' (e.g. 127.0.0.1:9808, "
                                           "[::1]:9808, :9808)", text);
    if (!ep_listen_parse_port(colon + 1, &a.port))
        return ep_listen_fail(why, whylen, "bad port '%s' (expected 0-65535)", colon + 1);
    hlen = (size_t)(colon - text);
    if (hlen == 0) {
        *out = a;
        return 0;
    }
    if (hlen >= sizeof host)
        return ep_listen_fail(why, whylen, "address too long in '%s'", text);
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    if (host[0] == '[') {
        if (hlen < 3 || host[hlen - 1] != ']')
            return ep_listen_fail(why, whylen, "unbalanced brackets in '%s'", text);
        host[hlen - 1] = '\0';
        if (ep_addr_parse(host + 1, &a.addr) != 0 || a.addr.family != AF_INET6)
            return ep_listen_fail(why, whylen, "'%s' is not an IPv6 address", host + 1);
    } else if (strchr(host, ':')) {
        return ep_listen_fail(why, whylen, "IPv6 addresses need brackets: [%s]:PORT", host);
    } else if (ep_addr_parse(host, &a.addr) != 0 || a.addr.family != AF_INET) {
        return ep_listen_fail(why, whylen, "'%s' is not a numeric IPv4 address (host names "
                                           "are not resolved)", host);
    }
    *out = a;
    return 0;
}

int ep_listen_format(const ep_listen_addr *a, char *buf, size_t len)
{
    char host[EP_ADDR_STRLEN];
    int n;
    if (a->addr.family == 0)
        n = snprintf(buf, len, ":%u", a->port);
    else if (ep_addr_format(&a->addr, host, sizeof host) != 0)
        return -EINVAL;
    else if (a->addr.family == AF_INET6)
        n = snprintf(buf, len, "[%s]:%u", host, a->port);
    else
        n = snprintf(buf, len, "%s:%u", host, a->port);
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static socklen_t ep_listen_sockaddr(const ep_listen_addr *a, int family,
                                    struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        if (a->addr.family == AF_INET6)
            s6->sin6_addr = a->addr.u.v6;
        else
            s6->sin6_addr = in6addr_any;
        return sizeof *s6;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a->port);
    s4->sin_addr.s_addr = a->addr.family == AF_INET ? a->addr.u.v4.s_addr : htonl(INADDR_ANY);
    return sizeof *s4;
}

int ep_listen_open(const ep_listen_addr *a, int backlog, ep_listen_addr *bound, char *why,
                   size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char text[80];
    int family = a->addr.family ? a->addr.family : AF_INET6;
    int one = 1, zero = 0, fd, e;

    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && a->addr.family == 0 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
        family = AF_INET;
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (ep_listen_format(a, text, sizeof text) != 0)
        snprintf(text, sizeof text, "?");
    if (fd < 0) {
        e = errno;
        snprintf(why, whylen, "socket for %s: %s", text, strerror(e));
        return -e;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6 && a->addr.family == 0)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sl = ep_listen_sockaddr(a, family, &ss);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, backlog) != 0) {
        e = errno;
        snprintf(why, whylen, "cannot listen on %s: %s", text, strerror(e));
        close(fd);
        return -e;
    }
    if (bound) {
        *bound = *a;
        sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            bound->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}
