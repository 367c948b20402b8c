/* test-host-status.c - `ephport status` and `ephport check` against real
 * sockets in a private network namespace: a narrow range with reserved
 * ports, TCP and UDP connections over IPv4 and IPv6 to several local
 * listeners, TIME_WAIT entries made by active closes (IPv4 and IPv6),
 * bind-only sockets.
 * The real binary (EPHPORT_BIN) must report exactly those numbers, check
 * must exit on the right side of every threshold, the /proc fallback must
 * agree with netlink, and --netns must read another namespace.  The
 * unprivileged case runs a copy of the binary in a directory uid 65534 can
 * read, so it runs wherever the build directory is (/root is 0700). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "netns-util.h"

#define LO 40000
#define HI 40099
#define EFFECTIVE 90 /* 100 ports minus 40050-40059 */

static char ep_skip_why[256];
static bool ep_skipping;

/* Sockets the tests keep open. */
static int ep_fds[64];
static int ep_nfds;

static int ep_keep(int fd)
{
    assert_true(fd >= 0);
    assert_true(ep_nfds < 64);
    ep_fds[ep_nfds++] = fd;
    return fd;
}

static int ep_listener(int family, const char *addr, uint16_t port, int type)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd = socket(family, type | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        assert_int_equal(inet_pton(AF_INET, addr, &a->sin_addr), 1);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        assert_int_equal(inet_pton(AF_INET6, addr, &a->sin6_addr), 1);
        len = sizeof *a;
    }
    assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 64), 0);
    return fd;
}

/* A TCP listener on 127.0.0.1:port, or -1 if the port is taken. */
static int ep_try_listener(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int ep_connect_to(int listen_fd, int type)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd;
    assert_int_equal(getsockname(listen_fd, (struct sockaddr *)&ss, &len), 0);
    fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0); /* not in the children */
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    return fd;
}

/* A TIME_WAIT entry on the client side: client closes first. */
static void ep_time_wait_to(int listen_fd)
{
    int c = ep_connect_to(listen_fd, SOCK_STREAM);
    int s = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    char b;
    struct timeval tv = { 5, 0 }; /* fail, never hang, if no FIN comes */
    assert_true(s >= 0);
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(close(c), 0);
    assert_int_equal(read(s, &b, 1), 0); /* the FIN arrived */
    assert_int_equal(close(s), 0);
}

/* Run the binary with args; returns its exit status and its stdout. */
static int ep_run(char **out, const char *fmt, ...)
{
    const char *bin = getenv("EPHPORT_BIN");
    char args[512], cmd[1024];
    size_t cap = 1 << 16, n = 0;
    va_list ap;
    FILE *p;
    int st;

    assert_non_null(bin);
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", bin, args);
    p = popen(cmd, "r");
    assert_non_null(p);
    *out = malloc(cap);
    assert_non_null(*out);
    for (;;) {
        size_t r;
        if (cap - n < 4096) {
            cap *= 2;
            *out = realloc(*out, cap);
            assert_non_null(*out);
        }
        r = fread(*out + n, 1, cap - n - 1, p);
        if (r == 0)
            break;
        n += r;
    }
    (*out)[n] = '\0';
    st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static json_t *ep_status_json(const char *extra)
{
    char *out;
    json_error_t err;
    json_t *j;
    assert_int_equal(ep_run(&out, "status --json --top 0 %s", extra), 0);
    j = json_loads(out, 0, &err);
    if (!j)
        fprintf(stderr, "bad JSON (%s): %s\n", err.text, out);
    assert_non_null(j);
    free(out);
    return j;
}

static json_int_t ep_int(json_t *root, const char *path)
{
    json_t *v = root;
    char buf[128], *save, *tok;
    snprintf(buf, sizeof buf, "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        v = json_object_get(v, tok);
        if (!v)
            fprintf(stderr, "missing %s\n", path);
        assert_non_null(v);
    }
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static json_t *ep_find_dest(json_t *root, const char *proto, const char *remote, int port)
{
    json_t *arr = json_object_get(root, "destinations"), *d;
    size_t i;
    json_array_foreach(arr, i, d) {
        if (strcmp(json_string_value(json_object_get(d, "proto")), proto) == 0 &&
            strcmp(json_string_value(json_object_get(d, "remote")), remote) == 0 &&
            json_integer_value(json_object_get(d, "remote_port")) == port)
            return d;
    }
    fail_msg("no destination %s %s:%d", proto, remote, port);
    return NULL;
}

static void ep_expect_dest(json_t *root, const char *proto, const char *remote, int port,
                           int used, int estab, int tw, int free_ports)
{
    json_t *d = ep_find_dest(root, proto, remote, port);
    assert_int_equal(ep_int(d, "used"), used);
    assert_int_equal(ep_int(d, "established"), estab);
    assert_int_equal(ep_int(d, "time_wait"), tw);
    assert_int_equal(ep_int(d, "other"), used - estab - tw);
    assert_int_equal(ep_int(d, "free"), free_ports);
    assert_string_equal(json_string_value(json_object_get(d, "local")),
                        strchr(remote, ':') ? "::1" : "127.0.0.1");
}

static int ep_bound_tcp[2];

/* The workload, made once for the whole group. */
static int ep_setup(void **state)
{
    int l1, l2, l3, u1, u2;
    (void)state;
    if (!ep_test_enter_private_netns(ep_skip_why, sizeof ep_skip_why)) {
        fprintf(stderr, "SKIP: cannot make a private network namespace: %s\n", ep_skip_why);
        ep_skipping = true;
        return 0;
    }
    /* tcp_tw_reuse_delay at its longest: the loopback TIME_WAIT entries made
     * below stay not reusable (so not free) however long the tests take */
    if (ep_test_write_sysctl("net/ipv4/ip_local_port_range", "40000 40099") != 0 ||
        ep_test_write_sysctl("net/ipv4/ip_local_reserved_ports", "40050-40059") != 0 ||
        ep_test_write_sysctl("net/ipv4/tcp_tw_reuse_delay", "60000") != 0) {
        snprintf(ep_skip_why, sizeof ep_skip_why, "cannot write the namespace's sysctls");
        fprintf(stderr, "SKIP: %s\n", ep_skip_why);
        ep_skipping = true;
        return 0;
    }
    l1 = ep_keep(ep_listener(AF_INET, "127.0.0.1", 5000, SOCK_STREAM));
    l2 = ep_keep(ep_listener(AF_INET, "127.0.0.2", 5001, SOCK_STREAM));
    l3 = ep_keep(ep_listener(AF_INET6, "::1", 5002, SOCK_STREAM));
    u1 = ep_keep(ep_listener(AF_INET, "127.0.0.3", 6000, SOCK_DGRAM));
    u2 = ep_keep(ep_listener(AF_INET6, "::1", 6001, SOCK_DGRAM));
    for (int i = 0; i < 6; i++)
        ep_keep(ep_connect_to(l1, SOCK_STREAM));
    for (int i = 0; i < 4; i++)
        ep_time_wait_to(l2);
    for (int i = 0; i < 2; i++)
        ep_time_wait_to(l3); /* TIME_WAIT over IPv6 too (before the backlog fills:
                                ep_time_wait_to accepts the oldest pending) */
    for (int i = 0; i < 3; i++)
        ep_keep(ep_connect_to(l3, SOCK_STREAM));
    for (int i = 0; i < 2; i++)
        ep_keep(ep_connect_to(u1, SOCK_DGRAM));
    ep_keep(ep_connect_to(u2, SOCK_DGRAM));
    /* bind-only: two TCP sockets and one UDP socket on port 0 */
    for (int i = 0; i < 2; i++) {
        struct sockaddr_in a = { .sin_family = AF_INET };
        ep_bound_tcp[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(bind(ep_bound_tcp[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    {
        struct sockaddr_in a = { .sin_family = AF_INET };
        int u = ep_keep(socket(AF_INET, SOCK_DGRAM, 0));
        assert_int_equal(bind(u, (struct sockaddr *)&a, sizeof a), 0);
    }
    return 0;
}

static void status_reports_exact_numbers(void **state)
{
    json_t *j;
    (void)state;
    if (ep_skipping)
        skip();
    j = ep_status_json("");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "source"), "tcp")),
                        "netlink");
    assert_int_equal(ep_int(j, "settings.port_range.lo"), LO);
    assert_int_equal(ep_int(j, "settings.port_range.hi"), HI);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "settings"),
                                                          "reserved_ports")), "40050-40059");
    assert_int_equal(ep_int(j, "settings.reserved_in_range"), 10);
    assert_int_equal(ep_int(j, "settings.effective_ports"), EFFECTIVE);
    /* totals: only sockets whose local port is in the range */
    assert_int_equal(ep_int(j, "totals.tcp.states.ESTABLISHED"), 9);
    assert_int_equal(ep_int(j, "totals.tcp.states.TIME_WAIT"), 6);
    assert_int_equal(ep_int(j, "totals.tcp.states.CLOSE"), 2);
    assert_int_equal(ep_int(j, "totals.tcp.states.LISTEN"), 0);
    assert_int_equal(ep_int(j, "totals.tcp.all"), 17);
    assert_int_equal(ep_int(j, "totals.tcp.ipv6"), 5);
    assert_int_equal(ep_int(j, "totals.udp.connected"), 3);
    assert_int_equal(ep_int(j, "totals.udp.unconnected"), 1);
    assert_int_equal(ep_int(j, "totals.udp.ipv6"), 1);
    assert_int_equal(ep_int(j, "bind_only.tcp_bound"), 2);
    assert_int_equal(ep_int(j, "bind_only.tcp_ports"), 2);
    assert_int_equal(ep_int(j, "bind_only.udp_unconnected"), 1);
    assert_int_equal(ep_int(j, "destinations_total"), 5);
    /* The whole namespace, any port, IPv4 and IPv6 (sockstat + sockstat6):
     * TCP in use = hashed sockets: 3 listeners, 6 + 3 connections with both
     * ends (9 * 2), not the 2 bound-only sockets; 6 TIME_WAIT (4 IPv4, 2
     * IPv6); UDP: 2 servers, 3 connected, 1 bound (2 of the 6 IPv6). */
    assert_int_equal(ep_int(j, "totals.sockstat.tcp_inuse"), 3 + 18);
    assert_int_equal(ep_int(j, "totals.sockstat.tcp_time_wait"), 6);
    assert_int_equal(ep_int(j, "totals.sockstat.udp_inuse"), 6);
    /* TCP free = 90 - own ports - 2 bind-only ports; UDP free = 90 - the
     * 4 UDP ports in use (3 connected + 1 bind-only) */
    ep_expect_dest(j, "tcp", "127.0.0.1", 5000, 6, 6, 0, EFFECTIVE - 6 - 2);
    ep_expect_dest(j, "tcp", "127.0.0.2", 5001, 4, 0, 4, EFFECTIVE - 4 - 2);
    ep_expect_dest(j, "tcp", "::1", 5002, 5, 3, 2, EFFECTIVE - 5 - 2);
    ep_expect_dest(j, "udp", "127.0.0.3", 6000, 2, 2, 0, EFFECTIVE - 4);
    ep_expect_dest(j, "udp", "::1", 6001, 1, 1, 0, EFFECTIVE - 4);
    /* sorted by pressure: the busiest TCP destination first */
    assert_int_equal(ep_int(json_array_get(json_object_get(j, "destinations"), 0),
                            "remote_port"), 5000);
    json_decref(j);
}

static void status_top_and_table(void **state)
{
    json_t *j;
    char *out;
    (void)state;
    if (ep_skipping)
        skip();
    j = ep_status_json("--top 2");
    assert_int_equal(json_array_size(json_object_get(j, "destinations")), 2);
    assert_int_equal(ep_int(j, "destinations_total"), 5);
    json_decref(j);
    assert_int_equal(ep_run(&out, "status --top 3"), 0);
    assert_non_null(strstr(out, "127.0.0.1:5000"));
    assert_non_null(strstr(out, "bind-only: TCP 2 bound"));
    free(out);
    /* no command means status */
    assert_int_equal(ep_run(&out, ""), 0);
    assert_non_null(strstr(out, "ip_local_port_range      40000-40099 (100 ports)"));
    assert_non_null(strstr(out, "effective                90 ports"));
    free(out);
    assert_int_equal(ep_run(&out, "status --help"), 0);
    assert_non_null(strstr(out, "Usage: ephport status"));
    free(out);
    assert_int_equal(ep_run(&out, "check --help"), 0);
    assert_non_null(strstr(out, "Usage: ephport check"));
    free(out);
    assert_int_equal(ep_run(&out, "status extra 2>/dev/null"), 2);
    free(out);
    assert_int_equal(ep_run(&out, "status --top x 2>/dev/null"), 2);
    free(out);
    assert_int_equal(ep_run(&out, "status --source carrier-pigeon 2>/dev/null"), 2);
    free(out);
}

/* --processes: our own pid owns the 6 sockets towards 127.0.0.1:5000;
 * TIME_WAIT entries have no owner, so 127.0.0.2:5001 has an empty list. */
static void processes_names_the_owner(void **state)
{
    json_t *j, *d, *procs;
    (void)state;
    if (ep_skipping)
        skip();
    j = ep_status_json("--processes");
    d = ep_find_dest(j, "tcp", "127.0.0.1", 5000);
    procs = json_object_get(d, "processes");
    assert_int_equal(json_array_size(procs), 1);
    assert_int_equal(ep_int(json_array_get(procs, 0), "pid"), getpid());
    assert_int_equal(ep_int(json_array_get(procs, 0), "sockets"), 6);
    assert_int_equal(ep_int(json_array_get(procs, 0), "sockets_sampled"), 6);
    d = ep_find_dest(j, "tcp", "127.0.0.2", 5001);
    assert_int_equal(json_array_size(json_object_get(d, "processes")), 0);
    json_decref(j);

    /* 70 sockets towards one destination: more than the sample of 64, so
     * the count per process is unknown (null), not the sample's size. */
    {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(6002) };
        int many[70];
        inet_pton(AF_INET, "127.0.0.4", &a.sin_addr);
        for (int i = 0; i < 70; i++) {
            many[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            assert_int_equal(connect(many[i], (struct sockaddr *)&a, sizeof a), 0);
        }
        j = ep_status_json("--processes");
        d = ep_find_dest(j, "udp", "127.0.0.4", 6002);
        assert_int_equal(ep_int(d, "used"), 70);
        procs = json_object_get(d, "processes");
        assert_int_equal(json_array_size(procs), 1);
        if (!json_is_null(json_object_get(json_array_get(procs, 0), "sockets")))
            fail_msg("70 sockets reported as %lld (the sample's size)",
                     (long long)ep_int(json_array_get(procs, 0), "sockets"));
        assert_int_equal(ep_int(json_array_get(procs, 0), "sockets_sampled"), 64);
        json_decref(j);
        for (int i = 0; i < 70; i++)
            close(many[i]);
    }
}

static json_t *ep_find_advice(json_t *root, const char *code)
{
    json_t *arr = json_object_get(root, "advice"), *a;
    size_t i;
    json_array_foreach(arr, i, a) {
        if (strcmp(json_string_value(json_object_get(a, "code")), code) == 0)
            return a;
    }
    return NULL;
}

/* Advice from live data: the destination over --warn with its headroom,
 * rate and remedy; bind-only sockets; a listener inside the range. */
static void advice_names_destination_and_remedy(void **state)
{
    json_t *j, *a;
    const char *remedy;
    char want[128];
    int l, port;
    (void)state;
    if (ep_skipping)
        skip();
    j = ep_status_json("--warn 5 --crit 50");
    a = ep_find_advice(j, "dest-pressure");
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "severity")), "warning");
    assert_int_equal(ep_int(json_object_get(a, "destination"), "remote_port"), 5000);
    /* loopback with tcp_tw_reuse=2 (the default): 90 effective ports per
     * tcp_tw_reuse_delay (60 s in this namespace), not per TIME_WAIT */
    assert_true(json_real_value(json_object_get(a, "sustainable_rate")) == 1.5);
    remedy = json_string_value(json_object_get(a, "remedy"));
    assert_non_null(strstr(remedy, "sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\""));
    assert_non_null(ep_find_advice(j, "bind-only"));
    assert_null(ep_find_advice(j, "listener-in-range"));
    json_decref(j);
    /* below --warn: no destination advice */
    j = ep_status_json("--warn 50 --crit 60");
    assert_null(ep_find_advice(j, "dest-pressure"));
    json_decref(j);

    /* a free port inside the range (clients hold random ones) */
    l = -1;
    for (port = HI; l < 0 && port > 40059; port--)
        l = ep_try_listener(port);
    assert_true(l >= 0);
    port++;
    snprintf(want, sizeof want, "sysctl -w net.ipv4.ip_local_reserved_ports=\"40050-40059,%d\"",
             port);
    j = ep_status_json("");
    assert_int_equal(ep_int(j, "bind_only.tcp_listen"), 1);
    assert_int_equal(ep_int(j, "bind_only.tcp_ports"), 3);
    a = ep_find_advice(j, "listener-in-range");
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "remedy")), want);
    json_decref(j);

    /* A connection accepted by that listener is counted, not grouped: its
     * local port is the listener's.  The client side is a destination. */
    {
        struct linger lg = { 1, 0 };
        int c = ep_connect_to(l, SOCK_STREAM);
        int sa = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        assert_true(sa >= 0);
        j = ep_status_json("");
        assert_int_equal(ep_int(j, "totals.tcp.accepted"), 1);
        assert_int_equal(ep_int(ep_find_dest(j, "tcp", "127.0.0.1", port), "used"), 1);
        assert_int_equal(ep_int(j, "destinations_total"), 6);
        json_decref(j);
        /* reset, so neither side lingers in TIME_WAIT for the next tests */
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c);
        close(sa);
    }
    close(l);
}

#if defined(__x86_64__)
#define EP_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define EP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* In the child: make socket(AF_NETLINK, ...) fail with EPERM, as in a
 * sandbox that forbids netlink. */
static bool ep_forbid_netlink(void)
{
#ifdef EP_AUDIT_ARCH
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, EP_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof f / sizeof f[0], f };
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
    return false;
#endif
}

enum { EP_AS_NOBODY = 1, EP_NO_NETLINK = 2, EP_RANGE_UNREADABLE = 4 };

static int ep_run_child(char **out, const char *args, int how);

/* Run `ephport ARGS` as uid/gid 65534 (nobody); returns the exit status. */
static int ep_run_as_nobody(char **out, const char *args)
{
    return ep_run_child(out, args, EP_AS_NOBODY);
}

/* Run `ephport ARGS` where netlink sockets cannot be opened. */
static int ep_run_without_netlink(char **out, const char *args)
{
    return ep_run_child(out, args, EP_NO_NETLINK);
}

/* In the child: make ip_local_port_range unreadable (an empty file bound
 * over it in a private mount namespace); false if that cannot be done. */
static bool ep_hide_range(void)
{
    return unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
           mount("/dev/null", "/proc/sys/net/ipv4/ip_local_port_range", NULL, MS_BIND, NULL) == 0;
}


static int ep_run_child(char **out, const char *args, int how)
{
    const char *bin = (how & EP_AS_NOBODY) ? ep_test_nobody_bin() : getenv("EPHPORT_BIN");
    char cmd[1024];
    size_t cap = 1 << 16, n = 0;
    int fds[2], st;
    pid_t pid;

    snprintf(cmd, sizeof cmd, "%s %s", bin, args);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        if ((how & EP_RANGE_UNREADABLE) && !ep_hide_range())
            _exit(99);
        if ((how & EP_AS_NOBODY) &&
            (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            _exit(99);
        if ((how & EP_NO_NETLINK) && !ep_forbid_netlink())
            _exit(99);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(98);
    }
    close(fds[1]);
    *out = malloc(cap);
    assert_non_null(*out);
    for (;;) {
        ssize_t r;
        if (cap - n < 4096) {
            cap *= 2;
            *out = realloc(*out, cap);
            assert_non_null(*out);
        }
        r = read(fds[0], *out + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    (*out)[n] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* Unprivileged, status reads the same sockets (sock_diag needs no
 * privilege) and says plainly what it could not read: other users' fds. */
static void unprivileged_reads_and_says_what_it_could_not(void **state)
{
    json_t *root, *nobody, *notes;
    char *out, *sa, *sb;
    json_error_t err;
    bool said = false;
    size_t i;
    int rc;
    json_t *note;
    (void)state;
    if (ep_skipping)
        skip();
    root = ep_status_json("");
    rc = ep_run_as_nobody(&out, "status --json --top 0");
    if (rc == 126 || rc == 127 || rc == 99) {
        fprintf(stderr, "SKIP: uid 65534 cannot run %s (exit %d)\n", ep_test_nobody_bin(), rc);
        free(out);
        json_decref(root);
        skip();
    }
    assert_int_equal(rc, 0);
    nobody = json_loads(out, 0, &err);
    free(out);
    assert_non_null(nobody);
    /* the same destinations; without CAP_NET_ADMIN the kernel cannot be
     * asked which connected ports are sticky, so free becomes honest bounds
     * around the exact count root sees */
    json_t *dr = json_object_get(root, "destinations"), *dn = json_object_get(nobody, "destinations");
    assert_int_equal(json_array_size(dr), json_array_size(dn));
    for (i = 0; i < json_array_size(dr); i++) {
        json_t *a = json_deep_copy(json_array_get(dr, i));
        json_t *b = json_deep_copy(json_array_get(dn, i));
        json_int_t exact = json_integer_value(json_object_get(a, "free"));
        json_int_t lo = json_integer_value(json_object_get(b, "free"));
        json_int_t hi = json_integer_value(json_object_get(b, "free_max"));
        assert_true(json_is_true(json_object_get(a, "free_exact")));
        assert_true(lo <= exact && exact <= hi);
        static const char *const vary[] = { "free", "free_max", "free_exact", "headroom_pct" };
        for (size_t k = 0; k < 4; k++) {
            json_object_del(a, vary[k]);
            json_object_del(b, vary[k]);
        }
        sa = json_dumps(a, JSON_SORT_KEYS);
        sb = json_dumps(b, JSON_SORT_KEYS);
        assert_string_equal(sa, sb);
        free(sa);
        free(sb);
        json_decref(a);
        json_decref(b);
    }
    notes = json_object_get(nobody, "notes");
    said = false;
    json_array_foreach(notes, i, note) {
        if (strstr(json_string_value(note), "CAP_NET_ADMIN"))
            said = true;
    }
    assert_true(said || json_is_true(json_object_get(json_object_get(nobody, "bind_only"),
                                                     "sticky_known")));
    said = false;
    json_decref(nobody);
    json_decref(root);

    assert_int_equal(ep_run_as_nobody(&out, "status --json --top 0 --processes"), 0);
    nobody = json_loads(out, 0, &err);
    free(out);
    assert_non_null(nobody);
    assert_int_equal(json_array_size(json_object_get(
                         ep_find_dest(nobody, "tcp", "127.0.0.1", 5000), "processes")), 0);
    notes = json_object_get(nobody, "notes");
    json_array_foreach(notes, i, note) {
        if (strstr(json_string_value(note), "permission denied"))
            said = true;
    }
    assert_true(said);
    json_decref(nobody);
}

/* AUTO: when netlink is unavailable status reads /proc/net, says so, and
 * still reports the same destinations. */
static void auto_falls_back_to_proc_and_says_so(void **state)
{
    json_t *j, *ref, *note;
    char *out, *sa, *sb;
    json_error_t err;
    bool said = false;
    size_t i;
    int rc;
    (void)state;
    if (ep_skipping)
        skip();
    rc = ep_run_without_netlink(&out, "status --json --top 0");
    if (rc == 99) {
        fprintf(stderr, "SKIP: cannot install a seccomp filter here\n");
        free(out);
        skip();
    }
    assert_int_equal(rc, 0);
    j = json_loads(out, 0, &err);
    free(out);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "source"), "tcp")),
                        "proc");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "source"), "udp")),
                        "proc");
    json_array_foreach(json_object_get(j, "notes"), i, note) {
        if (strstr(json_string_value(note), "netlink sock_diag") &&
            strstr(json_string_value(note), "read /proc/net/tcp"))
            said = true;
    }
    assert_true(said);
    ref = ep_status_json("--source proc");
    sa = json_dumps(json_object_get(ref, "destinations"), JSON_SORT_KEYS);
    sb = json_dumps(json_object_get(j, "destinations"), JSON_SORT_KEYS);
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
    json_decref(ref);
    json_decref(j);
    /* forcing netlink where it cannot work: sockets unknown, check UNKNOWN */
    assert_int_equal(ep_run_without_netlink(&out, "check --source netlink"), 3);
    assert_non_null(strstr(out, "EPHPORT UNKNOWN"));
    free(out);
}

/* With the range unreadable the reserved ports are still known, but not
 * how many fall in the range: said so, never "-1 in the range". */
static void range_unreadable_is_said_plainly(void **state)
{
    char *out;
    int rc;
    (void)state;
    if (ep_skipping)
        skip();
    rc = ep_run_child(&out, "status", EP_RANGE_UNREADABLE);
    if (rc == 99) {
        fprintf(stderr, "SKIP: cannot bind a file over ip_local_port_range here\n");
        free(out);
        skip();
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "ip_local_port_range      unknown\n"));
    if (!strstr(out, "ip_local_reserved_ports  40050-40059 (in the range: unknown)\n"))
        fail_msg("reserved ports line: %s", out);
    free(out);
    assert_int_equal(ep_run_child(&out, "status --json", EP_RANGE_UNREADABLE), 0);
    assert_non_null(strstr(out, "\"reserved_in_range\": null"));
    free(out);
    assert_int_equal(ep_run_child(&out, "check", EP_RANGE_UNREADABLE), 3);
    assert_non_null(strstr(out, "EPHPORT UNKNOWN - the ephemeral port range is unreadable"));
    free(out);
}

/* The worst destination is 127.0.0.1:5000: 6 own + 2 bind-only ports of
 * 90 taken = 8.89%, 82 free. */
static void check_exit_codes_on_each_side(void **state)
{
    char *out;
    (void)state;
    if (ep_skipping)
        skip();
    assert_int_equal(ep_run(&out, "check --warn 9 --crit 50"), 0);
    assert_non_null(strstr(out, "EPHPORT OK - 127.0.0.1:5000/tcp 9% used (82 free) | used=8;"));
    free(out);
    assert_int_equal(ep_run(&out, "check --warn 8.8 --crit 50"), 1);
    assert_non_null(strstr(out, "EPHPORT WARNING - 127.0.0.1:5000/tcp"));
    free(out);
    assert_int_equal(ep_run(&out, "check --warn 5 --crit 8.9"), 1);
    free(out);
    assert_int_equal(ep_run(&out, "check --warn 5 --crit 8.8"), 2);
    assert_non_null(strstr(out, "EPHPORT CRITICAL - 127.0.0.1:5000/tcp"));
    free(out);
    assert_int_equal(ep_run(&out, "check --warn 50 --crit 60 --min-free 82"), 0);
    free(out);
    assert_int_equal(ep_run(&out, "check --warn 50 --crit 60 --min-free 83"), 2);
    free(out);
    assert_int_equal(ep_run(&out, "check --warn 90 --crit 80"), 3);
    assert_non_null(strstr(out, "EPHPORT UNKNOWN"));
    free(out);
    assert_int_equal(ep_run(&out, "check --warn abc"), 3);
    free(out);
    assert_int_equal(ep_run(&out, "check --bogus"), 3);
    free(out);
    assert_int_equal(ep_run(&out, "check --netns /nonexistent/ns"), 3);
    free(out);
}

/* /proc/net cannot see bound-only TCP sockets, so compare once they are
 * gone: everything else must match netlink exactly. */
static void proc_fallback_agrees_with_netlink(void **state)
{
    json_t *a, *b;
    char *sa, *sb;
    (void)state;
    if (ep_skipping)
        skip();
    for (int i = 0; i < 2; i++)
        close(ep_bound_tcp[i]);
    a = ep_status_json("--source netlink");
    b = ep_status_json("--source proc");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "source"), "tcp")),
                        "proc");
    sa = json_dumps(json_object_get(a, "destinations"), JSON_SORT_KEYS);
    sb = json_dumps(json_object_get(b, "destinations"), JSON_SORT_KEYS);
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
    sa = json_dumps(json_object_get(a, "totals"), JSON_SORT_KEYS);
    sb = json_dumps(json_object_get(b, "totals"), JSON_SORT_KEYS);
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
    assert_int_equal(ep_int(b, "totals.tcp.states.TIME_WAIT"), 6);
    assert_int_equal(ep_int(b, "destinations_total"), 5);
    json_decref(a);
    json_decref(b);
}

/* --netns PATH: a child in yet another namespace with its own range. */
static void netns_option_reads_another_namespace(void **state)
{
    int go[2], ready[2];
    pid_t pid;
    char c = 0, path[64];
    json_t *j;
    char *out;
    (void)state;
    if (ep_skipping)
        skip();
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ready), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ok = unshare(CLONE_NEWNET) == 0 &&
                 ep_test_write_sysctl("net/ipv4/ip_local_port_range", "41000 41010") == 0;
        c = ok ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) < 0)
            _exit(1);
        _exit(0);
    }
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
    j = ep_status_json(strcat(strcpy((char[96]){ 0 }, "--netns "), path));
    assert_int_equal(ep_int(j, "settings.port_range.lo"), 41000);
    assert_int_equal(ep_int(j, "settings.port_range.hi"), 41010);
    assert_int_equal(ep_int(j, "totals.tcp.all"), 0);
    assert_string_equal(json_string_value(json_object_get(j, "netns")), path);
    json_decref(j);
    assert_int_equal(ep_run(&out, "status --netns no-such-namespace-xyz 2>/dev/null"), 1);
    free(out);
    assert_int_equal(write(go[1], "x", 1), 1);
    waitpid(pid, NULL, 0);
    close(go[0]);
    close(go[1]);
    close(ready[0]);
    close(ready[1]);
}

static int ep_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < ep_nfds; i++)
        close(ep_fds[i]);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_reports_exact_numbers),
        cmocka_unit_test(status_top_and_table),
        cmocka_unit_test(check_exit_codes_on_each_side),
        cmocka_unit_test(range_unreadable_is_said_plainly),
        cmocka_unit_test(processes_names_the_owner),
        cmocka_unit_test(advice_names_destination_and_remedy),
        cmocka_unit_test(unprivileged_reads_and_says_what_it_could_not),
        cmocka_unit_test(auto_falls_back_to_proc_and_says_so),
        cmocka_unit_test(netns_option_reads_another_namespace),
        cmocka_unit_test(proc_fallback_agrees_with_netlink),
    };
    return cmocka_run_group_tests(tests, ep_setup, ep_teardown);
}
