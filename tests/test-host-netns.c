/* test-host-netns.c - suite integration: reading another network namespace
 * (--netns) never moves the calling thread.  The namespace is read from a
 * thread that enters it and ends (src/host/netns.c), so after every call,
 * successful or not, the caller is where it was; the snapshot and the
 * connection dump see the other namespace's settings and sockets; bad specs
 * give the documented errors; nothing leaks a file descriptor.
 *
 * The other namespace lives on a thread of this test that unshare(2)s its
 * own network namespace: /proc/self/task/TID/ns/net names it as a path. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include <ephport/conns.h>
#include <ephport/host.h>

#include "netns-util.h"

static char skip_why[256];
static pthread_t other;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int other_state;     /* 0 starting, 1 ready, -errno failed, 2 told to end */
static char other_path[64];
static int other_fds[2] = { -1, -1 };

static ino_t netns_inode(void)
{
    struct stat st;
    assert_int_equal(stat("/proc/thread-self/ns/net", &st), 0);
    return st.st_ino;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* The other namespace: range 40000-40009, one connection on 127.0.0.1
 * (the client on a port of that range) that stays established until the test ends. */
static void *other_main(void *unused)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
    socklen_t al = sizeof a;
    int rc = 0, l = -1, c = -1;

    (void)unused;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (unshare(CLONE_NEWNET) != 0)
        rc = -errno;
    if (!rc && system("ip link set lo up") != 0)
        rc = -EIO;
    if (!rc && ep_test_write_sysctl("net/ipv4/ip_local_port_range", "40000 40009") != 0)
        rc = -EIO;
    if (!rc) {
        l = socket(AF_INET, SOCK_STREAM, 0);
        c = socket(AF_INET, SOCK_STREAM, 0);
        if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 8) != 0 ||
            connect(c, (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(c, (struct sockaddr *)&a, &al) != 0)
            rc = -errno;
    }
    pthread_mutex_lock(&mu);
    snprintf(other_path, sizeof other_path, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
    other_fds[0] = l;
    other_fds[1] = c;
    other_state = rc ? rc : 1;
    pthread_cond_broadcast(&cv);
    while (other_state != 2 && rc == 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    if (!ep_test_enter_private_netns(skip_why, sizeof skip_why))
        return 0;
    if (ep_test_write_sysctl("net/ipv4/ip_local_port_range", "30000 30100") != 0) {
        snprintf(skip_why, sizeof skip_why, "cannot set the range of the test's namespace");
        return -1;
    }
    if (pthread_create(&other, NULL, other_main, NULL) != 0)
        return -1;
    pthread_mutex_lock(&mu);
    while (other_state == 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    if (other_state < 0) {
        fprintf(stderr, "cannot make the other namespace: %s\n", strerror(-other_state));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (skip_why[0])
        return 0;
    pthread_mutex_lock(&mu);
    other_state = 2;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(other, NULL);
    close(other_fds[0]);
    close(other_fds[1]);
    return 0;
}

#define NEED_ROOT()                                                     \
    do {                                                                \
        if (skip_why[0]) {                                              \
            fprintf(stderr, "SKIP: %s\n", skip_why);                    \
            skip();                                                     \
        }                                                               \
    } while (0)

static void snapshot_reads_the_other_namespace(void **state)
{
    ep_host_options o;
    ep_host_snapshot *s;
    ino_t before;
    int fds;

    (void)state;
    NEED_ROOT();
    before = netns_inode();
    fds = count_fds();
    for (int i = 0; i < 50; i++) {
        ep_host_options_init(&o);
        o.netns = other_path;
        o.flags = EP_HOST_NO_PROBE;
        assert_int_equal(ep_host_snapshot_take(&o, &s), 0);
        assert_int_equal(ep_host_snapshot_settings(s)->port_lo, 40000);
        assert_int_equal(ep_host_snapshot_settings(s)->port_hi, 40009);
        assert_int_equal(ep_host_snapshot_totals(s)->tcp[EP_HOST_ESTABLISHED], 1);
        ep_host_snapshot_free(s);
        assert_true(netns_inode() == before);
    }
    /* and without --netns, the caller's own */
    ep_host_options_init(&o);
    assert_int_equal(ep_host_snapshot_take(&o, &s), 0);
    assert_int_equal(ep_host_snapshot_settings(s)->port_lo, 30000);
    ep_host_snapshot_free(s);
    assert_int_equal(count_fds(), fds);
}

/* The dump filters on the local port (40000-40009 asked): only the client
 * end of the connection comes back, the server end is on 8080. */
static void count_one(const ep_host_conn *c, void *arg)
{
    int *n = arg;
    if (c->local_port >= 40000 && c->local_port <= 40009 && c->remote_port == 8080)
        (*n)++;
}

static void conns_dump_reads_the_other_namespace(void **state)
{
    ino_t before;
    int n = 0, fds;

    (void)state;
    NEED_ROOT();
    before = netns_inode();
    fds = count_fds();
    assert_int_equal(ep_host_conns_dump(other_path, 40000, 40009, EP_HOST_CONN_STATES, count_one,
                                        &n), 0);
    assert_int_equal(n, 1);     /* the client end of the one connection */
    assert_true(netns_inode() == before);
    n = 0;
    assert_int_equal(ep_host_conns_dump(NULL, 40000, 40009, EP_HOST_CONN_STATES, count_one, &n), 0);
    assert_int_equal(n, 0);     /* nothing of it here */
    assert_int_equal(count_fds(), fds);
}

static void bad_namespaces_leave_the_caller_alone(void **state)
{
    ep_host_options o;
    ep_host_snapshot *s = NULL;
    ino_t before;
    int fds, n = 0;

    (void)state;
    NEED_ROOT();
    before = netns_inode();
    fds = count_fds();
    ep_host_options_init(&o);
    o.netns = "/proc/self/ns/uts";             /* a namespace, not a network one */
    assert_int_equal(ep_host_snapshot_take(&o, &s), -EINVAL);
    assert_null(s);
    o.netns = "ephport-test-no-such-namespace";
    assert_int_equal(ep_host_snapshot_take(&o, &s), -ENOENT);
    o.netns = "";
    assert_int_equal(ep_host_snapshot_take(&o, &s), -EINVAL);
    assert_int_equal(ep_host_conns_dump("/proc/self/ns/uts", 1, 65535, EP_HOST_CONN_STATES,
                                        count_one, &n), -EINVAL);
    assert_int_equal(ep_host_conns_dump("/nonexistent/ns", 1, 65535, EP_HOST_CONN_STATES,
                                        count_one, &n), -ENOENT);
    assert_true(netns_inode() == before);
    assert_int_equal(count_fds(), fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_reads_the_other_namespace),
        cmocka_unit_test(conns_dump_reads_the_other_namespace),
        cmocka_unit_test(bad_namespaces_leave_the_caller_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
