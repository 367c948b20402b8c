/* test-host-node.c - suite integration: a whole node at once
 * (ephport/node.h).  Four child processes, each in a network namespace of
 * its own holding known sockets, are found among every namespace of the
 * machine and read exactly; the children's cgroup paths make two of them a
 * docker container and a Kubernetes pod, whose names come from runtime files
 * under a temporary host root; one child is killed just before its
 * namespace is read and must be reported as vanished, never as zeros.
 * Also `ephport status --all-namespaces --json` on the same children, and
 * the cgroup-path parser on the runtimes' formats (unit). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include <ephport/host-json.h>
#include <ephport/node.h>

#include "host-internal.h"
#include "node-test-util.h"
#include "http-util.h"

#define NCHILD 4
#define VANISHING 3                 /* the child killed mid-scan */

static const char *const hex1 = "3f4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778a";
static const char *const hex2 = "0badc0de00000000111111112222222233333333444444445555555566666666";
static const char *const uid = "1d2c3b4a-5e6f-4711-8899-aabbccddeeff";

static char skip_why[256];
static pid_t child[NCHILD];
static uint64_t inode[NCHILD];
static int report[2];
static char cgdir[1024], cgroot[256], hostroot[64] = "/tmp/ephport-node-XXXXXX";

/* In its own namespace: range 40000-40009, k + 1 connections to
 * 127.0.0.1:8080 kept open, then wait to be killed. */
static void child_main(int k)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
    char ok = 'x';
    int l;
    struct stat st;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (unshare(CLONE_NEWNET) != 0 || system("ip link set lo up") != 0)
        _exit(1);
    if (system("sysctl -qw net.ipv4.ip_local_port_range='40000 40009'") != 0)
        _exit(1);
    l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 16) != 0)
        _exit(1);
    for (int i = 0; i <= k; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0)
            _exit(1);
    }
    if (stat("/proc/self/ns/net", &st) != 0)
        _exit(1);
    ok = 'k';
    if (write(report[1], &ok, 1) != 1 || write(report[1], &st.st_ino, sizeof st.st_ino) < 0)
        _exit(1);
    for (;;)
        pause();
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc;
    if (!f)
        return -1;
    rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) == 0 ? rc : -1;
}

/* A cgroup hierarchy we may create folders in: v1 pids, hybrid v2, v2. */
static bool find_cgroup_root(void)
{
    static const char *const bases[] = { "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified",
                                         "/sys/fs/cgroup" };
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        snprintf(cgroot, sizeof cgroot, "%s/ephport-test-%d", bases[i], (int)getpid());
        if (mkdir(cgroot, 0755) == 0)
            return true;
    }
    cgroot[0] = '\0';
    return false;
}

static bool put_in_cgroup(pid_t pid, const char leaf[256])
{
    char procs[1100], num[32];
    snprintf(cgdir, sizeof cgdir, "%s/%s", cgroot, leaf);
    if (mkdir(cgdir, 0755) != 0 && errno != EEXIST)
        return false;
    snprintf(procs, sizeof procs, "%s/cgroup.procs", cgdir);
    snprintf(num, sizeof num, "%d", (int)pid);
    return write_file(procs, num) == 0;
}

static void rm_cgroups(void)
{
    char p[1024];
    if (!cgroot[0])
        return;
    snprintf(p, sizeof p, "%s/docker-%s.scope", cgroot, hex1);
    rmdir(p);
    snprintf(p, sizeof p, "%s/kubepods-besteffort-pod1d2c3b4a_5e6f_4711_8899_aabbccddeeff.slice",
             cgroot);
    char q[2048];
    snprintf(q, sizeof q, "%s/cri-containerd-%s.scope", p, hex2);
    rmdir(q);
    rmdir(p);
    rmdir(cgroot);
}

/* The runtimes' files: docker names hex1 "web"; the kubelet's logs name the
 * pod default/api-7d9f and hex2's container "app". */
static bool make_host_root(void)
{
    char p[1024];
    if (!mkdtemp(hostroot))
        return false;
    snprintf(p, sizeof p,
             "mkdir -p %s/var/lib/docker/containers/%s %s/var/log/pods/default_api-7d9f_%s "
             "%s/var/log/containers",
             hostroot, hex1, hostroot, uid, hostroot);
    if (system(p) != 0)
        return false;
    snprintf(p, sizeof p, "%s/var/lib/docker/containers/%s/config.v2.json", hostroot, hex1);
    if (write_file(p, "{\"ID\": \"x\", \"Name\": \"/web\"}") != 0)
        return false;
    snprintf(p, sizeof p, "%s/var/log/containers/api-7d9f_default_app-%s.log", hostroot, hex2);
    return write_file(p, "") == 0;
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        snprintf(skip_why, sizeof skip_why, "needs root (namespaces, cgroups)");
        return 0;
    }
    if (pipe(report) != 0 || !make_host_root())
        return -1;
    for (int k = 0; k < NCHILD; k++) {
        char ok;
        child[k] = fork();
        if (child[k] < 0)
            return -1;
        if (child[k] == 0)
            child_main(k);
        if (read(report[0], &ok, 1) != 1 || ok != 'k' ||
            read(report[0], &inode[k], sizeof inode[k]) != (ssize_t)sizeof inode[k]) {
            fprintf(stderr, "child %d could not set up its namespace\n", k);
            return -1;
        }
    }
    if (!find_cgroup_root()) {
        snprintf(skip_why, sizeof skip_why, "no cgroup hierarchy to create folders in");
        return 0;
    }
    char leaf[256];
    snprintf(leaf, sizeof leaf, "docker-%s.scope", hex1);
    if (!put_in_cgroup(child[0], leaf))
        return -1;
    snprintf(leaf, sizeof leaf, "kubepods-besteffort-pod1d2c3b4a_5e6f_4711_8899_aabbccddeeff.slice");
    if (!put_in_cgroup(child[1], leaf))   /* creates the pod's folder */
        return -1;
    snprintf(leaf, sizeof leaf,
             "kubepods-besteffort-pod1d2c3b4a_5e6f_4711_8899_aabbccddeeff.slice/"
             "cri-containerd-%s.scope", hex2);
    if (!put_in_cgroup(child[1], leaf))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    ep_test_holders_kill(child, NCHILD);
    rm_cgroups();
    if (strcmp(hostroot, "/tmp/ephport-node-XXXXXX") != 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", hostroot);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", hostroot);
    }
    return 0;
}

#define NEED_ROOT() EP_TEST_SKIP_IF(skip_why)

static size_t find(const ep_host_node *node, uint64_t ino)
{
    for (size_t i = 0; i < ep_host_node_count(node); i++)
        if (ep_host_node_netns(node, i)->inode == ino)
            return i;
    fail_msg("namespace %llu not listed", (unsigned long long)ino);
    return 0;
}

/* The hook: kill the vanishing child just before its namespace is read. */
static void kill_before_read(size_t i, size_t n, const ep_host_netns_info *ns, void *arg)
{
    (void)i;
    (void)n;
    (void)arg;
    if (ns->inode == inode[VANISHING] && child[VANISHING] > 0) {
        kill(child[VANISHING], SIGKILL);
        waitpid(child[VANISHING], NULL, 0);
        child[VANISHING] = 0;
    }
}

static void node_reads_every_namespace(void **state)
{
    ep_host_node_options o;
    ep_host_node *node;
    size_t n, total, seen = 0;
    const ep_host_node_dest *d;

    (void)state;
    NEED_ROOT();
    ep_host_node_options_init(&o);
    o.host.flags = EP_HOST_NO_PROBE;
    o.host_root = hostroot;
    o.before_read = kill_before_read;
    assert_int_equal(ep_host_node_take(&o, &node), 0);
    assert_true(ep_host_node_count(node) >= NCHILD + 1);
    assert_true(ep_host_node_netns(node, 0)->self);

    for (int k = 0; k < NCHILD; k++) {
        size_t i = find(node, inode[k]);
        const ep_host_netns_info *ns = ep_host_node_netns(node, i);
        const char *why = NULL;
        const ep_host_snapshot *s = ep_host_node_snapshot(node, i, &why);
        size_t nd;
        const ep_host_dest *dd;

        assert_false(ns->self);
        assert_non_null(ns->label);
        if (k == VANISHING) {
            assert_null(s);
            assert_non_null(why);
            assert_non_null(strstr(why, "vanished during the scan"));
            continue;
        }
        assert_non_null(s);
        assert_int_equal(ns->pid, child[k]);
        assert_int_equal(ep_host_snapshot_settings(s)->port_lo, 40000);
        dd = ep_host_snapshot_dests(s, &nd, NULL);
        assert_int_equal(nd, 1);
        assert_int_equal(dd[0].remote_port, 8080);
        assert_int_equal(dd[0].used, (unsigned)k + 1);
        assert_int_equal(dd[0].established, (unsigned)k + 1);
        assert_int_equal(dd[0].free, 10 - (k + 1));
    }
    /* identities from the cgroup paths and the runtimes' files */
    const ep_host_netns_info *c0 = ep_host_node_netns(node, find(node, inode[0]));
    const ep_host_netns_info *c1 = ep_host_node_netns(node, find(node, inode[1]));
    const ep_host_netns_info *c2 = ep_host_node_netns(node, find(node, inode[2]));
    assert_string_equal(c0->container, hex1);
    assert_string_equal(c0->container_name, "web");
    assert_null(c0->pod_uid);
    assert_string_equal(c0->label, "web");
    assert_string_equal(c1->container, hex2);
    assert_string_equal(c1->container_name, "app");
    assert_string_equal(c1->pod_uid, uid);
    assert_string_equal(c1->pod_name, "default/api-7d9f");
    assert_null(c2->container);
    assert_null(c2->pod_uid);
    assert_non_null(strstr(c2->label, "pid "));
    assert_true(ep_host_node_unreadable(node) >= 1);

    /* the node's list: our namespaces' destinations, in pressure order */
    d = ep_host_node_dests(node, &n, &total);
    assert_int_equal(n, total);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            assert_true(d[i - 1].dest->pressure >= d[i].dest->pressure);
        for (int k = 0; k < NCHILD; k++)
            if (ep_host_node_netns(node, d[i].netns)->inode == inode[k]) {
                assert_int_not_equal(k, VANISHING);
                seen++;
            }
    }
    assert_int_equal(seen, NCHILD - 1);
    ep_host_node_free(node);
}

static void status_all_namespaces_json(void **state)
{
    char cmd[512];
    FILE *p;
    json_t *j, *list, *dests;
    json_error_t e;
    size_t i;
    int found = 0;

    (void)state;
    NEED_ROOT();
    snprintf(cmd, sizeof cmd, "%s status --all-namespaces --json --no-probe --top 0",
             getenv("EPHPORT_BIN"));
    p = popen(cmd, "r");
    assert_non_null(p);
    j = json_loadf(p, 0, &e);
    assert_int_equal(pclose(p), 0);
    assert_non_null(j);
    list = json_object_get(j, "namespaces");
    dests = json_object_get(j, "destinations");
    assert_true(json_is_array(list) && json_is_array(dests));
    for (i = 0; i < json_array_size(list); i++) {
        json_t *ns = json_array_get(list, i);
        uint64_t ino = (uint64_t)json_integer_value(json_object_get(ns, "inode"));
        for (int k = 0; k < NCHILD; k++) {
            if (ino != inode[k] || k == VANISHING)
                continue;
            json_t *st = json_object_get(ns, "status");
            assert_true(json_is_true(json_object_get(ns, "readable")));
            assert_int_equal(json_integer_value(json_object_get(ns, "pid")), child[k]);
            assert_true(json_is_object(st));
            json_t *d0 = json_array_get(json_object_get(st, "destinations"), 0);
            assert_int_equal(json_integer_value(json_object_get(d0, "used")), k + 1);
            assert_int_equal(json_integer_value(json_object_get(d0, "free")), 10 - (k + 1));
            if (k == 0)
                assert_string_equal(json_string_value(json_object_get(ns, "container")), hex1);
            found++;
        }
    }
    assert_int_equal(found, NCHILD - 1);    /* every child but the one killed before */
    json_decref(j);
}

/* check --all-namespaces: child 2 holds 3 of 10 ports (30 %), so with
 * --warn 30 the node is at least WARNING, whatever else runs here. */
static void check_all_namespaces(void **state)
{
    char cmd[512], line[1024] = "";
    FILE *p;
    int st;

    (void)state;
    NEED_ROOT();
    snprintf(cmd, sizeof cmd, "%s check --all-namespaces --warn 30 --crit 95",
             getenv("EPHPORT_BIN"));
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    st = pclose(p);
    assert_true(WIFEXITED(st));
    assert_true(WEXITSTATUS(st) == 1 || WEXITSTATUS(st) == 2);
    assert_non_null(strstr(line, WEXITSTATUS(st) == 1 ? "EPHPORT WARNING - " : "EPHPORT CRITICAL - "));
    assert_non_null(strstr(line, " namespaces] | used="));
}

/* exporter --all-namespaces: each child's series under its netns label,
 * with the container and pod labels from its cgroup path. */
static void exporter_all_namespaces(void **state)
{
    uint16_t port = (uint16_t)(20000 + getpid() % 20000);
    char portarg[32], prefix[256];
    char *body;
    pid_t ex;

    (void)state;
    NEED_ROOT();
    snprintf(portarg, sizeof portarg, "127.0.0.1:%u", port);
    ex = fork();
    assert_true(ex >= 0);
    if (ex == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(getenv("EPHPORT_BIN"), "ephport", "exporter", "--all-namespaces", "--listen",
              portarg, "--min-count", "0", (char *)NULL);
        _exit(127);
    }
    body = ep_test_http_get(port, "/metrics");
    kill(ex, SIGTERM);
    waitpid(ex, NULL, 0);
    assert_non_null(body);
    assert_non_null(strstr(body, "200 OK"));
    for (int k = 0; k < NCHILD; k++) {
        if (k == VANISHING)
            continue;
        snprintf(prefix, sizeof prefix, "ephport_namespace_up{netns=\"%llu\"",
                 (unsigned long long)inode[k]);
        assert_true(ep_test_sample(body, prefix) == 1);
        snprintf(prefix, sizeof prefix, "ephport_destination_free_ports{netns=\"%llu\"",
                 (unsigned long long)inode[k]);
        assert_true(ep_test_sample(body, prefix) == 10 - (k + 1));
    }
    snprintf(prefix, sizeof prefix, "ephport_namespace_up{netns=\"%llu\",namespace=\"%.12s\",container=\"%s\",pod=\"\"}",
             (unsigned long long)inode[0], hex1, hex1);
    assert_non_null(strstr(body, prefix));
    snprintf(prefix, sizeof prefix, "container=\"%s\",pod=\"%s\"}", hex2, uid);
    assert_non_null(strstr(body, prefix));
    free(body);
}

/* top --all-namespaces, one JSON frame: each live child's destination
 * with its namespace's inode and label, counts exact. */
static void top_all_namespaces_json(void **state)
{
    char cmd[512];
    FILE *p;
    json_t *j, *dests;
    json_error_t e;
    int found = 0;

    (void)state;
    NEED_ROOT();
    snprintf(cmd, sizeof cmd, "EP_TOP_NO_TRACE=1 %s top --all-namespaces --once --json --top 0 "
             "--interval 0.25", getenv("EPHPORT_BIN"));
    p = popen(cmd, "r");
    assert_non_null(p);
    j = json_loadf(p, JSON_DISABLE_EOF_CHECK, &e);
    assert_int_equal(pclose(p), 0);
    assert_non_null(j);
    dests = json_object_get(j, "destinations");
    assert_true(json_is_array(dests));
    assert_true(json_integer_value(json_object_get(j, "namespaces")) >= NCHILD);
    for (size_t i = 0; i < json_array_size(dests); i++) {
        json_t *d = json_array_get(dests, i);
        uint64_t ino = (uint64_t)json_integer_value(json_object_get(d, "netns"));
        for (int k = 0; k < NCHILD; k++) {
            if (ino != inode[k] || k == VANISHING)
                continue;
            assert_int_equal(json_integer_value(json_object_get(d, "remote_port")), 8080);
            assert_int_equal(json_integer_value(json_object_get(d, "used")), k + 1);
            assert_int_equal(json_integer_value(json_object_get(d, "free")), 10 - (k + 1));
            assert_non_null(json_string_value(json_object_get(d, "namespace")));
            found++;
        }
    }
    assert_int_equal(found, NCHILD - 1);
    json_decref(j);
}

/* A namespace with two destinations (8080 and 8081 on 127.0.0.1), so some
 * of its connected ports are candidates for stickiness: a reader that may
 * create sockets there would probe them. */
static void two_dest_child(int ready)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    char ok = 'k';
    struct stat st;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    if (unshare(CLONE_NEWNET) != 0 || system("ip link set lo up") != 0 ||
        system("sysctl -qw net.ipv4.ip_local_port_range='40000 40009'") != 0)
        _exit(1);
    /* two connections to 8080 (two ports) and one to 8081: Linux may give
     * the 8081 one a port also used towards 8080, but not both, so at least
     * one port blocks one destination only - a stickiness candidate */
    for (int port = 8080; port <= 8081; port++) {
        int l = socket(AF_INET, SOCK_STREAM, 0);
        a.sin_port = htons((uint16_t)port);
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0)
            _exit(1);
        for (int i = 0; i < (port == 8080 ? 2 : 1); i++) {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0)
                _exit(1);
        }
    }
    if (stat("/proc/self/ns/net", &st) != 0 || write(ready, &ok, 1) != 1 ||
        write(ready, &st.st_ino, sizeof st.st_ino) < 0)
        _exit(1);
    for (;;)
        pause();
}

/* Reading the node creates no socket in another namespace: with the BPF
 * iterator turned off, the sticky ports of a namespace with candidates are
 * bounds, not TCP_REPAIR probes (a probe holds a port of that namespace for
 * a moment: a test running there once saw an extra "accepted" socket). */
static void other_namespaces_are_not_probed(void **state)
{
    ep_host_node_options o;
    ep_host_node *node;
    const ep_host_snapshot *s;
    const ep_host_bound *b;
    uint64_t ino = 0;
    int pfd[2];
    char ok = 0;
    pid_t pid;

    (void)state;
    NEED_ROOT();
    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        two_dest_child(pfd[1]);
    assert_int_equal(read(pfd[0], &ok, 1), 1);
    assert_int_equal(ok, 'k');
    assert_int_equal(read(pfd[0], &ino, sizeof ino), (ssize_t)sizeof ino);
    close(pfd[0]);
    close(pfd[1]);
    ep_host_node_options_init(&o);
    o.host.flags = EP_HOST_NO_BPF;
    o.host_root = hostroot;
    assert_int_equal(ep_host_node_take(&o, &node), 0);
    s = ep_host_node_snapshot(node, find(node, ino), NULL);
    assert_non_null(s);
    b = ep_host_snapshot_bound(s);
    assert_true(b->sticky_method == NULL || strcmp(b->sticky_method, "probe") != 0);
    assert_false(b->sticky_known);
    assert_non_null(strstr(b->sticky_why, "create sockets"));
    ep_host_node_free(node);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void cgroup_paths_of_the_runtimes(void **state)
{
    static const struct {
        const char *text, *container, *pod;
    } cases[] = {
        { "0::/system.slice/docker-3f4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778a.scope\n",
          "3f4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778a", "" },
        { "12:pids:/docker/0badc0de00000000111111112222222233333333444444445555555566666666\n"
          "0::/\n",
          "0badc0de00000000111111112222222233333333444444445555555566666666", "" },
        { "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1d2c3b4a_5e6f_4711_8899_aabbccddeeff.slice/"
          "cri-containerd-0badc0de00000000111111112222222233333333444444445555555566666666.scope",
          "0badc0de00000000111111112222222233333333444444445555555566666666",
          "1d2c3b4a-5e6f-4711-8899-aabbccddeeff" },
        { "0::/kubepods/besteffort/pod1d2c3b4a-5e6f-4711-8899-aabbccddeeff/"
          "crio-0badc0de00000000111111112222222233333333444444445555555566666666\n",
          "0badc0de00000000111111112222222233333333444444445555555566666666",
          "1d2c3b4a-5e6f-4711-8899-aabbccddeeff" },
        { "0::/machine.slice/libpod-0badc0de00000000111111112222222233333333444444445555555566666666.scope/container\n",
          "0badc0de00000000111111112222222233333333444444445555555566666666", "" },
        { "0::/user.slice/user-1000.slice/session-2.scope\n", "", "" },
        /* 63 and 65 hex digits are not ids; "pod" inside a word is not a pod */
        { "0::/x/abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678\n", "", "" },
        { "0::/x/abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567890\n", "", "" },
        { "0::/ipod1d2c3b4a-5e6f-4711-8899-aabbccddeeff\n", "", "" },
        { "", "", "" },
        { "garbage without colons", "", "" },
    };
    char c[65], pu[37];
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ep_host_cgroup_ids(cases[i].text, strlen(cases[i].text), c, sizeof c, pu, sizeof pu);
        assert_string_equal(c, cases[i].container);
        assert_string_equal(pu, cases[i].pod);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cgroup_paths_of_the_runtimes),
        cmocka_unit_test(node_reads_every_namespace),
        cmocka_unit_test(status_all_namespaces_json),
        cmocka_unit_test(check_all_namespaces),
        cmocka_unit_test(exporter_all_namespaces),
        cmocka_unit_test(top_all_namespaces_json),
        cmocka_unit_test(other_namespaces_are_not_probed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
