/* netns-util.c - private network namespaces for integration tests: unshare,
 * bring loopback up, write sysctls inside the namespace. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

static int ep_test_orig_ns = -1;

pid_t ep_test_ns_hold(void)
{
    int p[2];
    char c = 'n';
    pid_t pid;

    if (ep_test_orig_ns < 0)
        ep_test_orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (pipe(p) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
        if (write(p[1], &c, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    if (pid < 0 || read(p[0], &c, 1) != 1 || c != 'y') {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        pid = -1;
    }
    close(p[0]);
    return pid;
}

bool ep_test_ns_enter(pid_t holder)
{
    char path[64];
    int fd, rc;

    if (holder == 0)
        return ep_test_orig_ns >= 0 && setns(ep_test_orig_ns, CLONE_NEWNET) == 0;
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)holder);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc == 0;
}

void ep_test_ns_release(pid_t holder)
{
    if (ep_test_orig_ns >= 0)
        (void)setns(ep_test_orig_ns, CLONE_NEWNET);
    if (holder > 0) {
        kill(holder, SIGKILL);
        waitpid(holder, NULL, 0);
    }
}

int ep_test_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    return system(cmd);
}

static char ep_test_nobody_dir[64], ep_test_nobody_path[96];

static void ep_test_nobody_cleanup(void)
{
    unlink(ep_test_nobody_path);
    rmdir(ep_test_nobody_dir);
}

const char *ep_test_nobody_bin(void)
{
    char buf[65536];
    ssize_t n;
    int in, out;

    if (ep_test_nobody_path[0])
        return ep_test_nobody_path;
    snprintf(ep_test_nobody_dir, sizeof ep_test_nobody_dir, "/tmp/ephport-nobody-XXXXXX");
    assert_non_null(mkdtemp(ep_test_nobody_dir));
    assert_int_equal(chmod(ep_test_nobody_dir, 0755), 0);
    snprintf(ep_test_nobody_path, sizeof ep_test_nobody_path, "%s/ephport", ep_test_nobody_dir);
    in = open(getenv("EPHPORT_BIN"), O_RDONLY | O_CLOEXEC);
    out = open(ep_test_nobody_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    assert_true(in >= 0 && out >= 0);
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    assert_int_equal(close(out), 0);
    assert_int_equal(chmod(ep_test_nobody_path, 0755), 0);
    atexit(ep_test_nobody_cleanup);
    return ep_test_nobody_path;
}
