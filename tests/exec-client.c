/* exec-client.c - a tiny TCP client that test-exec.c runs under
 * `ephport exec`: it opens COUNT connections to ADDR:PORT, holds them all,
 * and reports each local port, so the test can check where the kernel took
 * them from.  Built without sanitizers: it is run with the preload shim in
 * LD_PRELOAD, which must come first in the library list.
 *
 *   exec-client ADDR PORT COUNT [bind0]
 *
 * Prints "port N" per connection (with bind0 also "bound N": the port
 * getsockname() reports after bind(ADDR, 0), before connect), and
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
    struct sockaddr_in dst = { .sin_family = AF_INET }, me;
    socklen_t len;
    int count, bind0, i;

    if (argc < 4 || argc > 5 || inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
        fprintf(stderr, "usage: exec-client ADDR PORT COUNT [bind0]\n");
        return 2;
    }
    dst.sin_port = htons((uint16_t)atoi(argv[2]));
    count = atoi(argv[3]);
    bind0 = argc == 5 && strcmp(argv[4], "bind0") == 0;
    for (i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            printf("fail %s\n", errname(errno));
            return 3;
        }
        if (bind0) {
            struct sockaddr_in b = { .sin_family = AF_INET, .sin_addr = dst.sin_addr };
            if (bind(fd, (struct sockaddr *)&b, sizeof b) != 0) {
                printf("fail %s\n", errname(errno));
                return 3;
            }
            len = sizeof me;
            getsockname(fd, (struct sockaddr *)&me, &len);
            printf("bound %u\n", ntohs(me.sin_port));
        }
        if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
            printf("fail %s\n", errname(errno));
            return 3;
        }
        len = sizeof me;
        getsockname(fd, (struct sockaddr *)&me, &len);
        printf("port %u\n", ntohs(me.sin_port));
    }
    return 0; /* the sockets close at exit */
}
