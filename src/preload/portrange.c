/* portrange.c - libephport-preload.so, the LD_PRELOAD shim behind
 * `ephport exec`: per-process ephemeral port policy without changing the
 * program.
 *
 * It interposes two libc entry points:
 *
 *   socket()  every new AF_INET / AF_INET6 TCP or UDP socket gets the
 *             IP_LOCAL_PORT_RANGE option (Linux 6.3+), value (hi << 16) | lo,
 *             so the kernel picks its ephemeral ports (connect, bind(0),
 *             UDP autobind) only from [lo, hi];
 *   bind()    with EPHPORT_EXEC_NO_PORT_BIND=1, bind(address, port 0) on a TCP
 *             socket sets IP_BIND_ADDRESS_NO_PORT first, so bind-before-connect
 *             programs stop reserving a port per socket: the port is chosen
 *             at connect() time, per 4-tuple.
 *
 * The policy comes from the environment (see range-env.h), read once.  It
 * fails closed: if the option cannot be set, socket() / bind() fail with the
 * kernel's errno rather than silently handing out a port outside the range
 * (`ephport exec` probes the kernel up front, so this is rare).  A malformed
 * policy variable is reported once on stderr and disables the shim.
 *
 * Not covered, by construction: static binaries, setuid programs (ld.so
 * ignores LD_PRELOAD for them), programs that issue the socket syscall
 * directly (Go without cgo, io_uring), and libc's own internal sockets
 * (glibc's resolver calls its private __socket, not socket()).
 *
 * The shim only uses libc and libdl; it is built without sanitizers so it can
 * be preloaded into any program.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "range-env.h"

#define EP_EXPORT __attribute__((visibility("default")))

typedef int (*ep_socket_fn)(int, int, int);
typedef int (*ep_bind_fn)(int, const struct sockaddr *, socklen_t);

static _Atomic(ep_socket_fn) ep_real_socket;
static _Atomic(ep_bind_fn) ep_real_bind;

/* The policy; written once under pthread_once (from our constructor, or
 * from the first wrapped call if another library's constructor creates a
 * socket before ours runs), read-only afterwards. */
static pthread_once_t ep_policy_once = PTHREAD_ONCE_INIT;
static bool ep_have_range;
static uint32_t ep_range_value;
static bool ep_no_port_bind;

static void ep_preload_warn(const char *msg)
{
    /* write(2), not stdio: we may run inside a constructor or a signal-unsafe
     * spot of the host program. */
    static const char prefix[] = "ephport-preload: ";
    ssize_t r = write(STDERR_FILENO, prefix, sizeof prefix - 1);
    r = write(STDERR_FILENO, msg, strlen(msg));
    r = write(STDERR_FILENO, "\n", 1);
    (void)r;
}

static void ep_preload_resolve(void)
{
    if (!atomic_load(&ep_real_socket))
        atomic_store(&ep_real_socket, (ep_socket_fn)dlsym(RTLD_NEXT, "socket"));
    if (!atomic_load(&ep_real_bind))
        atomic_store(&ep_real_bind, (ep_bind_fn)dlsym(RTLD_NEXT, "bind"));
}

static void ep_preload_load_policy(void)
{
    const char *range = getenv(EP_PRELOAD_ENV_RANGE);
    const char *nopb = getenv(EP_PRELOAD_ENV_NO_PORT_BIND);
    uint16_t lo, hi;

    ep_preload_resolve();
    if (range) {
        if (ep_preload_range_parse(range, &lo, &hi)) {
            ep_have_range = true;
            ep_range_value = ep_preload_range_value(lo, hi);
        } else {
            ep_preload_warn("EPHPORT_EXEC_RANGE is not LO-HI with 1 <= LO <= HI <= 65535; "
                            "no port range applied");
        }
    }
    ep_no_port_bind = nopb && strcmp(nopb, "1") == 0;
}

__attribute__((constructor)) static void ep_preload_init(void)
{
    pthread_once(&ep_policy_once, ep_preload_load_policy);
}

/* TCP or UDP over IPv4/IPv6: the sockets that take ephemeral ports. */
static bool ep_preload_is_inet_tcp_udp(int domain, int type, int protocol)
{
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET && domain != AF_INET6)
        return false;
    if (base == SOCK_STREAM)
        return protocol == 0 || protocol == IPPROTO_TCP;
    if (base == SOCK_DGRAM)
        return protocol == 0 || protocol == IPPROTO_UDP;
    return false;
}

EP_EXPORT int socket(int domain, int type, int protocol)
{
    ep_socket_fn real;
    int fd, saved;

    pthread_once(&ep_policy_once, ep_preload_load_policy);
    real = atomic_load(&ep_real_socket);
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    fd = real(domain, type, protocol);
    if (fd < 0 || !ep_have_range || !ep_preload_is_inet_tcp_udp(domain, type, protocol))
        return fd;
    /* SOL_IP also applies to AF_INET6 sockets (ipv6_setsockopt hands SOL_IP
     * options to ip_setsockopt). */
    if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &ep_range_value,
                   sizeof ep_range_value) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static bool ep_preload_is_port_zero(const struct sockaddr *addr, socklen_t len)
{
    if (!addr)
        return false;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in))
        return ((const struct sockaddr_in *)addr)->sin_port == 0;
    if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))
        return ((const struct sockaddr_in6 *)addr)->sin6_port == 0;
    return false;
}

static bool ep_preload_is_tcp(int fd)
{
    int v = 0;
    socklen_t l = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) != 0 || v != SOCK_STREAM)
        return false;
    l = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) != 0 || v != IPPROTO_TCP)
        return false;
    l = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0 && (v == AF_INET || v == AF_INET6);
}

EP_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    ep_bind_fn real;
    int one = 1;

    pthread_once(&ep_policy_once, ep_preload_load_policy);
    real = atomic_load(&ep_real_bind);
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if (ep_no_port_bind && ep_preload_is_port_zero(addr, len) && ep_preload_is_tcp(fd) &&
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0)
        return -1;
    return real(fd, addr, len);
}
