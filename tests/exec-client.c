/* exec-client.c - a tiny TCP client that test-exec.c runs under
 * `ephport exec`: it opens COUNT connections to ADDR:PORT, holds them all,
 * and reports each local port, so the test can check where the kernel took
 * them from.  Built without sanitizers: it is run with the preload shim in
 * LD_PRELOAD, which must come first in the library list.
 *
 *   exec-client ADDR PORT COUNT [bind0|udp]
 *
 * ADDR is IPv4 or IPv6.  Prints "port N" per connection (with bind0 also
 * "bound N": the port getsockname() reports after bind(ADDR, 0), before
 * connect; with udp the sockets are UDP, connected, which binds them), and
 * "fail ERRNAME" at the first failure.  Exit 0 if all COUNT connected,
 * 3 after a failure, 2 on bad arguments. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *errname(int e)
{
    switch (e) {
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EMFILE: return "EMFILE";
    default: return strerror(e);
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_storage dst, me;
    struct sockaddr_in *d4 = (struct sockaddr_in *)&dst;
    struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&dst;
    socklen_t len, dlen;
    int count, bind0, udp, family, i;
    uint16_t port;

    memset(&dst, 0, sizeof dst);
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: exec-client ADDR PORT COUNT [bind0|udp]\n");
        return 2;
    }
    port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &d4->sin_addr) == 1) {
        family = d4->sin_family = AF_INET;
        d4->sin_port = port;
        dlen = sizeof *d4;
    } else if (inet_pton(AF_INET6, argv[1], &d6->sin6_addr) == 1) {
        family = d6->sin6_family = AF_INET6;
        d6->sin6_port = port;
        dlen = sizeof *d6;
    } else {
        fprintf(stderr, "exec-client: bad address %s\n", argv[1]);
        return 2;
    }
    count = atoi(argv[3]);
    bind0 = argc == 5 && strcmp(argv[4], "bind0") == 0;
    udp = argc == 5 && strcmp(argv[4], "udp") == 0;
    for (i = 0; i < count; i++) {
        int fd = socket(family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
        if (fd < 0) {
            printf("fail %s\n", errname(errno));
            return 3;
        }
        if (bind0) {
            struct sockaddr_storage b = dst;
            if (family == AF_INET)
                ((struct sockaddr_in *)&b)->sin_port = 0;
            else
                ((struct sockaddr_in6 *)&b)->sin6_port = 0;
            if (bind(fd, (struct sockaddr *)&b, dlen) != 0) {
                printf("fail %s\n", errname(errno));
                return 3;
            }
            len = sizeof me;
            getsockname(fd, (struct sockaddr *)&me, &len);
            printf("bound %u\n", ntohs(((struct sockaddr_in *)&me)->sin_port));
        }
        if (connect(fd, (struct sockaddr *)&dst, dlen) != 0) {
            printf("fail %s\n", errname(errno));
            return 3;
        }
        len = sizeof me;
        getsockname(fd, (struct sockaddr *)&me, &len);
        /* sin_port and sin6_port sit at the same offset. */
        printf("port %u\n", ntohs(((struct sockaddr_in *)&me)->sin_port));
    }
    return 0; /* the sockets close at exit */
}
