/* sockfill.c - the host benchmarks' socket fixture: a private network
 * namespace, and connections made and closed so that they sit in TIME_WAIT
 * (TIME_WAIT needs no file descriptor, so 100,000 of them are cheap). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sockfill.h"

int ep_bench_sysctl(const char *path, const char *value)
{
    char full[128];
    int fd, ok;
    snprintf(full, sizeof full, "/proc/sys/%s", path);
    fd = open(full, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
    close(fd);
    return ok ? 0 : -1;
}

bool ep_bench_enter_netns(const char *prog)
{
    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "%s: unshare(CLONE_NEWNET): %s (needs root)\n", prog, strerror(errno));
        return false;
    }
    if (system("ip link set lo up") != 0) {
        fprintf(stderr, "%s: cannot bring lo up\n", prog);
        return false;
    }
    return ep_bench_sysctl("net/ipv4/ip_local_port_range", "1024 65535") == 0 &&
           ep_bench_sysctl("net/ipv4/tcp_max_tw_buckets", "1000000") == 0;
}

/* Make n sockets towards the listeners: the last `keep` stay open. */
int ep_bench_make_sockets(const char *prog, int *listeners, struct sockaddr_in *addrs, int ndest,
                          long n, long keep)
{
    for (long i = 0; i < n; i++) {
        int d = (int)(i % ndest);
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s;
        char b;
        if (c < 0 || connect(c, (struct sockaddr *)&addrs[d], sizeof addrs[d]) != 0) {
            fprintf(stderr, "%s: connect #%ld: %s\n", prog, i, strerror(errno));
            return -1;
        }
        s = accept(listeners[d], NULL, NULL);
        if (s < 0) {
            fprintf(stderr, "%s: accept: %s\n", prog, strerror(errno));
            return -1;
        }
        if (i >= n - keep)
            continue; /* both ends stay open: ESTABLISHED */
        close(c);                      /* client closes first: TIME_WAIT here */
        if (read(s, &b, 1) != 0) {     /* wait for the FIN */
            fprintf(stderr, "%s: no FIN\n", prog);
            return -1;
        }
        close(s);
    }
    return 0;
}

