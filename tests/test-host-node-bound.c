/* test-host-node-bound.c - suite integration: the bound-but-inactive TCP
 * sockets of every namespace found in one BPF pass over every open file
 * (src/host/bound-bpf.c) and given to each namespace's snapshot in place of
 * the sock_diag state TCP_BOUND_INACTIVE (src/host/node.c).
 *
 * Three namespaces with known bound-only sockets: A, held by two processes
 * that share every descriptor (IPv4, IPv6, v4-mapped, one outside the
 * range, one dup'ed, beside a listener); B, kept only by a bind mount under
 * a /run/netns of a temporary host root, its sockets held by a process that
 * has gone back to the test's namespace; C, empty.  Each is checked exactly
 * through ep_host_node_take with the pass and without it
 * (EP_HOST_NO_BOUND_PASS, the node's note then says so), and for every
 * namespace of the machine the pass's sockets equal what a sock_diag dump
 * asking for TCP_BOUND_INACTIVE alone returns in that namespace. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <cmocka.h>

#include <ephport/node.h>

#include "diag.h"
#include "ep-host-config.h"
#include "host-internal.h"
#include "node-test-util.h"

enum { NS_A, NS_B, NS_C, NNS };

static char skip_why[256];
static pid_t holder[NNS];
static uint64_t ns_inode[NNS];
static char hostroot[64] = "/tmp/ephport-bound-XXXXXX", mnt[256];
static bool mounted;

static void die(const char *what)
{
    fprintf(stderr, "holder: %s: %s\n", what, strerror(errno));
    _exit(1);
}

static int tcp_bound(int family, const char *addr, uint16_t port, bool v6only)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, s = socket(family, SOCK_STREAM, 0);

    if (s < 0)
        die("socket");
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, addr, &a->sin_addr);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, addr, &a->sin6_addr);
        len = sizeof *a;
        if (v6only && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
            die("IPV6_V6ONLY");
    }
    if (bind(s, (struct sockaddr *)&ss, len) != 0)
        die("bind");
    return s;
}

/* 'k' and the namespace's inode in one write: A's two processes report
 * on the same pipe at once, and a pipe keeps a small write whole. */

static void hold(void)
{
    for (;;)
        pause();
}

/* A: range 40000-40009; bound-only 127.0.0.1:40001, 0.0.0.0:40002 (twice:
 * dup'ed), [::1]:40003, [::ffff:127.0.0.1]:40004 (an IPv6 socket on an IPv4
 * address: counted as IPv4), 0.0.0.0:50000 (outside the range); a listener
 * on 40009; then a second process holding all of them too. */
static void holder_a(int fd)
{
    int l;
    if (unshare(CLONE_NEWNET) != 0 || system("ip link set lo up") != 0 ||
        system("sysctl -qw net.ipv4.ip_local_port_range='40000 40009'") != 0)
        die("namespace");
    tcp_bound(AF_INET, "127.0.0.1", 40001, false);
    if (dup(tcp_bound(AF_INET, "0.0.0.0", 40002, false)) < 0)
        die("dup");
    tcp_bound(AF_INET6, "::1", 40003, true);
    tcp_bound(AF_INET6, "::ffff:127.0.0.1", 40004, false);
    tcp_bound(AF_INET, "0.0.0.0", 50000, false);
    l = tcp_bound(AF_INET, "127.0.0.1", 40009, false);
    if (listen(l, 4) != 0)
        die("listen");
    if (fork() == 0) {        /* the twin: same descriptors, same namespace */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        ep_test_ns_report(fd);
        hold();
    }
    ep_test_ns_report(fd);
    hold();
}

/* B: 0.0.0.0:40005 and [::]:40006 (IPv6 only) bound in a new namespace,
 * then back to the test's namespace with the sockets: B is then kept by
 * the bind mount and the sockets only. */
static void holder_b(int fd, int back)
{
    char ok;
    int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig < 0 || unshare(CLONE_NEWNET) != 0 || system("ip link set lo up") != 0)
        die("namespace");
    tcp_bound(AF_INET, "0.0.0.0", 40005, false);
    tcp_bound(AF_INET6, "::", 40006, true);
    ep_test_ns_report(fd);
    if (read(back, &ok, 1) != 1)  /* the parent has mounted B */
        die("wait");
    if (setns(orig, CLONE_NEWNET) != 0)
        die("setns");
    hold();
}

static void holder_c(int fd)
{
    if (unshare(CLONE_NEWNET) != 0)
        die("namespace");
    ep_test_ns_report(fd);
    hold();
}


static int setup(void **state)
{
    int rp[2], back[2];
    uint64_t twin_ino;
    char path[160];

    (void)state;
    if (geteuid() != 0) {
        snprintf(skip_why, sizeof skip_why, "needs root (namespaces, BPF, mounts)");
        return 0;
    }
    /* mounts made here stay in the test's own mount namespace */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        perror("private mount namespace");
        return -1;
    }
    if (pipe(rp) != 0 || pipe(back) != 0 || !mkdtemp(hostroot))
        return -1;
    holder[NS_A] = fork();
    if (holder[NS_A] == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        holder_a(rp[1]);
    }
    if (!ep_test_ns_got_report(rp[0], &twin_ino) || !ep_test_ns_got_report(rp[0], &ns_inode[NS_A]) ||
        twin_ino != ns_inode[NS_A])
        return -1;
    holder[NS_B] = fork();
    if (holder[NS_B] == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        holder_b(rp[1], back[0]);
    }
    if (!ep_test_ns_got_report(rp[0], &ns_inode[NS_B]))
        return -1;
    snprintf(path, sizeof path, "%s/run/netns", hostroot);
    snprintf(mnt, sizeof mnt, "%s/nsb", path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && touch %s", path, mnt);
    if (system(cmd) != 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)holder[NS_B]);
    if (mount(path, mnt, NULL, MS_BIND, NULL) != 0) {
        perror("bind mount of B");
        return -1;
    }
    mounted = true;
    if (write(back[1], "m", 1) != 1)
        return -1;
    holder[NS_C] = fork();
    if (holder[NS_C] == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        holder_c(rp[1]);
    }
    if (!ep_test_ns_got_report(rp[0], &ns_inode[NS_C]))
        return -1;
    /* B's holder has left B: wait until its /proc link says so */
    for (int i = 0; i < 200; i++) {
        struct stat st;
        if (stat(path, &st) == 0 && st.st_ino != ns_inode[NS_B])
            return 0;
        usleep(10000);
    }
    fprintf(stderr, "B's holder did not leave B\n");
    return -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    ep_test_holders_kill(holder, NNS);
    if (mounted)
        umount2(mnt, MNT_DETACH);
    if (strcmp(hostroot, "/tmp/ephport-bound-XXXXXX") != 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", hostroot);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", hostroot);
    }
    return 0;
}

#define NEED_ROOT() EP_TEST_SKIP_IF(skip_why)


/* The exact bound-only picture of A, B and C. */
static void check_known(const ep_host_node *node)
{
    const ep_host_snapshot *a = ep_test_snap_of(node, ns_inode[NS_A]);
    const ep_host_snapshot *b = ep_test_snap_of(node, ns_inode[NS_B]);
    const ep_host_snapshot *c = ep_test_snap_of(node, ns_inode[NS_C]);
    const ep_host_bound *ba = ep_host_snapshot_bound(a), *bb = ep_host_snapshot_bound(b);

    assert_int_equal(ba->tcp_bound, 4);     /* 40001-40004; 50000 is outside */
    assert_int_equal(ba->tcp_listen, 1);
    assert_int_equal(ep_host_snapshot_totals(a)->tcp_v4, 4); /* 40001, 40002, 40004, 40009 */
    assert_int_equal(ep_host_snapshot_totals(a)->tcp_v6, 1);
    assert_int_equal(ep_host_snapshot_totals(a)->tcp_all, 5);
    for (uint16_t p = 40001; p <= 40004; p++)
        assert_true(ep_portset_has(ba->tcp_set, p));
    assert_false(ep_portset_has(ba->tcp_set, 40005));
    assert_int_equal(ba->tcp_ports, 5);
    assert_int_equal(bb->tcp_bound, 2);
    assert_int_equal(ep_host_snapshot_totals(b)->tcp_v4, 1);
    assert_int_equal(ep_host_snapshot_totals(b)->tcp_v6, 1);
    assert_true(ep_portset_has(bb->tcp_set, 40005));
    assert_true(ep_portset_has(bb->tcp_set, 40006));
    assert_int_equal(ep_host_snapshot_bound(c)->tcp_bound, 0);
    assert_int_equal(ep_host_snapshot_totals(c)->tcp_all, 0);
}

static void node_gets_bound_sockets_from_the_pass(void **state)
{
    ep_host_node_options o;
    ep_host_node *node;
    size_t nn = 9;

    (void)state;
    NEED_ROOT();
    ep_host_node_options_init(&o);
    o.host.flags = EP_HOST_NO_PROBE;
    o.host_root = hostroot;
    assert_int_equal(ep_host_node_take(&o, &node), 0);
    ep_host_node_notes(node, &nn);
#if EP_HAVE_BPF
    assert_int_equal(nn, 0);              /* the pass was used */
#else
    assert_int_equal(nn, 1);
#endif
    check_known(node);
    ep_host_node_free(node);
}

static void node_without_the_pass_says_so(void **state)
{
    ep_host_node_options o;
    ep_host_node *node;
    size_t nn = 0;
    const char *const *notes;

    (void)state;
    NEED_ROOT();
    ep_host_node_options_init(&o);
    o.host.flags = EP_HOST_NO_PROBE | EP_HOST_NO_BOUND_PASS;
    o.host_root = hostroot;
    assert_int_equal(ep_host_node_take(&o, &node), 0);
    notes = ep_host_node_notes(node, &nn);
    assert_int_equal(nn, 1);
    assert_non_null(strstr(notes[0], "could not be used"));
    assert_non_null(strstr(notes[0], "EP_HOST_NO_BOUND_PASS"));
    check_known(node);
    ep_host_node_free(node);
}

/* --- the differential check --- */

typedef struct bound_set {
    ep_host_bound_sock v[4096];
    size_t n;
    int error;
} bound_set;

static void collect(const struct inet_diag_msg *m, void *arg)
{
    bound_set *set = arg;
    ep_host_bound_sock *b;
    if (set->n == sizeof set->v / sizeof set->v[0]) {
        set->error = -E2BIG;
        return;
    }
    b = &set->v[set->n++];
    memset(b, 0, sizeof *b);
    b->inode = m->idiag_inode;
    b->family = m->idiag_family;
    b->sport = m->id.idiag_sport;
    b->dport = m->id.idiag_dport;
    b->state = m->idiag_state;
    memcpy(b->src, m->id.idiag_src, 16);
    memcpy(b->dst, m->id.idiag_dst, 16);
}

/* In the namespace: every TCP socket sock_diag reports for
 * TCP_BOUND_INACTIVE alone, both families, every port. */
static int dump_bound(void *arg)
{
    bound_set *set = arg;
    set->n = 0;
    set->error = 0;
    int rc = ep_test_tcp_dump(1u << 13, collect, set);
    return rc ? rc : set->error;
}

static int by_inode(const void *a, const void *b)
{
    const ep_host_bound_sock *x = a, *y = b;
    return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* The pass's records of one namespace equal the dump's, field by field
 * (inet_diag's inode is 32 bits). */
static bool same(const bound_set *dump, const ep_host_bound_sock *pass, size_t n)
{
    if (dump->n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        const ep_host_bound_sock *x = &dump->v[i], *y = &pass[i];
        if (x->inode != (uint32_t)y->inode || x->family != y->family || x->sport != y->sport ||
            x->dport != y->dport || x->state != y->state ||
            memcmp(x->src, y->src, x->family == AF_INET ? 4 : 16) != 0 ||
            memcmp(x->dst, y->dst, x->family == AF_INET ? 4 : 16) != 0)
            return false;
    }
    return true;
}

static void pass_equals_the_dump_in_every_namespace(void **state)
{
    ep_host_ns_list list;
    static bound_set before, after;
    static ep_host_bound_sock mine[4096];
    char why[300] = "";
    size_t compared = 0, with_sockets = 0;

    (void)state;
    NEED_ROOT();
#if !EP_HAVE_BPF
    fprintf(stderr, "SKIP: built without BPF (-Dbpf=disabled)\n");
    skip();
#endif
    assert_int_equal(ep_host_ns_list_take(&list, hostroot), 0);
    for (size_t i = 0; i < list.n; i++) {
        const ep_host_ns_entry *e = &list.v[i];
        bool equal = false, mismatched = false;
        /* other programs may bind or close meanwhile: compare only when two
         * dumps around the pass agree, a few times */
        for (int attempt = 0; attempt < 5 && !equal; attempt++) {
            ep_host_bound_pass pass;
            const ep_host_bound_sock *v;
            size_t n;
            int rc = ep_host_in_netns_inode(e->self ? NULL : e->path, e->self ? 0 : e->inode,
                                            dump_bound, &before, why, sizeof why);
            if (rc == -ENOENT || rc == -ESRCH || rc == -ESTALE)
                break;            /* gone meanwhile */
            assert_int_equal(rc, 0);
            assert_int_equal(ep_host_bound_pass_take(&pass, why, sizeof why), 0);
            assert_int_equal(ep_host_in_netns_inode(e->self ? NULL : e->path,
                                                    e->self ? 0 : e->inode, dump_bound, &after,
                                                    why, sizeof why), 0);
            v = ep_host_bound_pass_find(&pass, e->inode, &n);
            assert_true(n <= sizeof mine / sizeof mine[0]);
            if (n)
                memcpy(mine, v, n * sizeof *v);
            ep_host_bound_pass_free(&pass);
            qsort(before.v, before.n, sizeof before.v[0], by_inode);
            qsort(after.v, after.n, sizeof after.v[0], by_inode);
            if (before.n != after.n || memcmp(before.v, after.v, before.n * sizeof before.v[0]))
                continue;         /* changed under us: again */
            equal = same(&before, mine, n);
            mismatched = !equal;
            if (!equal)
                fprintf(stderr, "namespace %llu (%s): the dump has %zu bound-only sockets, "
                        "the pass %zu\n", (unsigned long long)e->inode, e->label ? e->label : "",
                        before.n, n);
            else {
                compared++;
                with_sockets += n > 0;
            }
        }
        /* ours are never busy; another's may change on every try: then it
         * was never compared, but once it was, it must have been equal */
        if (e->inode == ns_inode[NS_A] || e->inode == ns_inode[NS_B] ||
            e->inode == ns_inode[NS_C] || mismatched)
            assert_true(equal);
    }
    ep_host_ns_list_free(&list);
    /* A and B at least had sockets to compare */
    assert_true(compared >= 3);
    assert_true(with_sockets >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(node_gets_bound_sockets_from_the_pass),
        cmocka_unit_test(node_without_the_pass_says_so),
        cmocka_unit_test(pass_equals_the_dump_in_every_namespace),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
