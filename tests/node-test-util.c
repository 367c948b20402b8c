/* node-test-util.c - see node-test-util.h. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <cmocka.h>

#include "diag.h"
#include "node-test-util.h"

void ep_test_ns_report(int fd)
{
    struct stat st;
    unsigned char msg[1 + sizeof(uint64_t)];
    uint64_t ino;

    if (stat("/proc/self/ns/net", &st) != 0) {
        perror("stat /proc/self/ns/net");
        _exit(70);
    }
    ino = st.st_ino;
    msg[0] = 'k';
    memcpy(msg + 1, &ino, sizeof ino);
    if (write(fd, msg, sizeof msg) != (ssize_t)sizeof msg) {
        perror("report");
        _exit(70);
    }
}

bool ep_test_ns_got_report(int fd, uint64_t *ino)
{
    unsigned char msg[1 + sizeof(uint64_t)];

    if (read(fd, msg, sizeof msg) != (ssize_t)sizeof msg || msg[0] != 'k') {
        fprintf(stderr, "a holder could not set up its namespace\n");
        return false;
    }
    memcpy(ino, msg + 1, sizeof *ino);
    return true;
}

void ep_test_holders_kill(const pid_t *holder, int n)
{
    for (int k = 0; k < n; k++)
        if (holder[k] > 0) {
            kill(holder[k], SIGKILL);
            waitpid(holder[k], NULL, 0);
        }
}

const ep_host_snapshot *ep_test_snap_of(const ep_host_node *node, uint64_t ino)
{
    for (size_t i = 0; i < ep_host_node_count(node); i++)
        if (ep_host_node_netns(node, i)->inode == ino) {
            const char *why = NULL;
            const ep_host_snapshot *s = ep_host_node_snapshot(node, i, &why);
            if (!s)
                fail_msg("namespace %llu unreadable: %s", (unsigned long long)ino, why);
            return s;
        }
    fail_msg("namespace %llu not listed", (unsigned long long)ino);
    return NULL;
}

int ep_test_tcp_dump(uint32_t states, void (*fn)(const struct inet_diag_msg *m, void *arg),
                     void *arg)
{
    static const int fam[2] = { AF_INET, AF_INET6 };
    char buf[32768];
    int rc = 0, fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

    if (fd < 0)
        return -errno;
    for (int f = 0; f < 2 && rc == 0; f++) {
        uint32_t seq = 7 + (uint32_t)f;
        size_t len = ep_diag_request(buf, fam[f], IPPROTO_TCP, states, 1, 65535, seq);
        if (send(fd, buf, len, 0) != (ssize_t)len) {
            rc = -errno;
            break;
        }
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            int r = n < 0 ? -errno : ep_diag_walk(buf, (size_t)n, seq, 0, fn, arg);
            if (r <= 0) {
                rc = r;
                break;
            }
        }
    }
    close(fd);
    return rc;
}
