/* kernel-connect.c - the real Linux kernel as a baseline for ephport-bench:
 * connect() to one loopback destination at a given occupancy of the
 * kernel's ephemeral range, in a private network namespace.
 *
 * Why a namespace: the range, the sockets and the TIME_WAIT state are then
 * the benchmark's alone (a fresh namespace has the default range
 * 32768-60999 and nothing in it), and nothing leaks into the host.
 * Occupancy = client connections held open towards 127.0.0.1:KC_PORT by
 * child processes (at most KC_PER_CHILD each: the file limit may be as low
 * as 20,000 and need not be raisable); a thread accepts and closes the
 * server side, so the clients sit in CLOSE_WAIT still holding their ports.  One measured pair is socket() +
 * connect() + close() with SO_LINGER 0 (a reset: no TIME_WAIT, the port is
 * free again at once), the kernel's counterpart of ep_pool_connect() +
 * ep_pool_close(PASSIVE).  It includes the handshake over loopback, so only
 * its growth with occupancy compares with the engine, not its level.
 */
#include "kernel-connect.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define KC_PORT 8080
#define KC_PER_CHILD 8000
#define KC_MAX_CHILDREN 16

struct kc_state {
    int listen_fd;
    pthread_t acceptor;
    pid_t child[KC_MAX_CHILDREN];
    int nchild;
    uint32_t nheld;
};

static void *kc_accept_loop(void *arg)
{
    kc_state *k = arg;
    for (;;) {
        int fd = accept(k->listen_fd, NULL, NULL);
        if (fd >= 0)
            close(fd);
        else if (errno == EBADF || errno == EINVAL)
            return NULL; /* the listener was closed */
    }
}

static int kc_lo_up(void)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), rc = 0;
    if (fd < 0)
        return -errno;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        rc = -errno;
    ifr.ifr_flags |= IFF_UP;
    if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static struct sockaddr_in kc_dest(void)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(KC_PORT);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

int kc_open(kc_state **out, char *why, size_t len)
{
    struct sockaddr_in sa = kc_dest();
    kc_state *k;
    int one = 1;

    if (unshare(CLONE_NEWNET) < 0) {
        snprintf(why, len, "unshare(CLONE_NEWNET): %s (needs root or CAP_SYS_ADMIN)",
                 strerror(errno));
        return -errno;
    }
    if (kc_lo_up() < 0) {
        snprintf(why, len, "cannot bring lo up in the namespace");
        return -EIO;
    }
    if (!(k = calloc(1, sizeof *k)))
        return -ENOMEM;
    k->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (k->listen_fd < 0 || setsockopt(k->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(k->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(k->listen_fd, 65535) < 0 ||
        pthread_create(&k->acceptor, NULL, kc_accept_loop, k) != 0) {
        snprintf(why, len, "listener on 127.0.0.1:%d: %s", KC_PORT, strerror(errno));
        if (k->listen_fd >= 0)
            close(k->listen_fd);
        free(k);
        return -EIO;
    }
    *out = k;
    return 0;
}

static int kc_connect(void)
{
    struct sockaddr_in sa = kc_dest();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void kc_reset_close(int fd)
{
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* A child that opens n connections, reports 0 or -errno on the pipe, and
 * then holds them until it is killed. */
static int kc_spawn(kc_state *k, uint32_t n)
{
    int pfd[2], status = -EIO;
    pid_t pid;

    if (k->nchild == KC_MAX_CHILDREN)
        return -EMFILE;
    if (pipe(pfd) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -errno;
    }
    if (pid == 0) {
        struct rlimit rl;
        int rc = 0;
        close(pfd[0]);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            int fd = kc_connect();
            if (fd < 0)
                rc = fd;
        }
        if (write(pfd[1], &rc, sizeof rc) != (ssize_t)sizeof rc)
            _exit(1);
        for (;;)
            pause();
    }
    close(pfd[1]);
    if (read(pfd[0], &status, sizeof status) != (ssize_t)sizeof status)
        status = -EIO;
    close(pfd[0]);
    k->child[k->nchild++] = pid;
    return status;
}

int kc_occupy(kc_state *k, uint32_t n)
{
    if (n < k->nheld)
        return -EINVAL; /* occupancy only grows */
    while (k->nheld < n) {
        uint32_t add = n - k->nheld < KC_PER_CHILD ? n - k->nheld : KC_PER_CHILD;
        int rc = kc_spawn(k, add);
        if (rc < 0)
            return rc;
        k->nheld += add;
    }
    return 0;
}

int kc_pair(kc_state *k)
{
    (void)k;
    int fd = kc_connect();
    if (fd < 0)
        return fd;
    kc_reset_close(fd);
    return 0;
}

void kc_close(kc_state *k)
{
    if (!k)
        return;
    for (int i = 0; i < k->nchild; i++) {
        kill(k->child[i], SIGKILL);
        waitpid(k->child[i], NULL, 0);
    }
    shutdown(k->listen_fd, SHUT_RDWR); /* wakes the acceptor with EINVAL */
    close(k->listen_fd);
    pthread_join(k->acceptor, NULL);
    free(k);
}
