/* netns-util.c - private network namespaces for integration tests: unshare,
 * bring loopback up, write sysctls inside the namespace. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "netns-util.h"

static bool ep_test_lo_up(char *why, size_t len)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, len, "socket: %s", strerror(errno));
        return false;
    }
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        snprintf(why, len, "SIOCGIFFLAGS lo: %s", strerror(errno));
        close(fd);
        return false;
    }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
        snprintf(why, len, "SIOCSIFFLAGS lo up: %s", strerror(errno));
        close(fd);
        return false;
    }
    close(fd);
    return true;
}

bool ep_test_enter_private_netns(char *why, size_t len)
{
    if (unshare(CLONE_NEWNET) != 0) {
        snprintf(why, len, "unshare(CLONE_NEWNET): %s (needs root or CAP_SYS_ADMIN)",
                 strerror(errno));
        return false;
    }
    return ep_test_lo_up(why, len);
}

int ep_test_write_sysctl(const char *path, const char *value)
{
    char full[256];
    int fd;
    ssize_t n;
    size_t vlen = strlen(value);

    snprintf(full, sizeof full, "/proc/sys/%s", path);
    fd = open(full, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = write(fd, value, vlen);
    if (n < 0 || (size_t)n != vlen) {
        int e = n < 0 ? errno : EIO;
        close(fd);
        return -e;
    }
    close(fd);
    return 0;
}

int ep_test_add_lo_address(const char *cidr)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ip addr add %s dev lo 2>/dev/null", cidr);
    return system(cmd) == 0 ? 0 : -1;
}

void ep_test_forked_case(const char *needs, int (*fn)(const void *), const void *arg)
{
    pid_t pid;
    int st;

    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: needs root (%s)\n", needs);
        skip();
    }
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        _exit(fn(arg));
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == EP_TEST_SKIP)
        skip();
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("case failed (exit %d, signal %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
