/* test-trace.c - ephport trace's engine (include/ephport/trace.h) against
 * the real kernel.  In a private namespace with a two-port range, a child
 * with a known pid and name drives every failure the tracer reports -
 * connect() out of ports (EADDRNOTAVAIL), UDP sendto() and sendmsg() that
 * cannot autobind (EAGAIN), a UDP connect() that cannot (EAGAIN: one row with
 * its success, keyed by the unbound socket), bind() to a taken port
 * (EADDRINUSE) - beside
 * successes towards two destinations and one active close (TIME_WAIT), and
 * the events and interval counts must be exactly those.  Also: --netns
 * keeps another namespace's failures out (and without it they are seen);
 * the same on the raw-tracepoint fallback; --pid and --cgroup keep other
 * processes' failures out and say why TIME_WAIT is then unknown, and an
 * event names its process's cgroup v2 path; without privileges ep_trace_open() says why and nothing crashes.
 * Suite integration; skips (saying why) when not root. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/trace.h>

#include "ep-host-config.h"
#include "netns-util.h"

#define TR_SKIP EP_TEST_SKIP
#define TR_COMM "ep-trace-wk"

#define TR_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static uint32_t tr_netns_ino(void)
{
    struct stat st;
    return stat("/proc/self/ns/net", &st) == 0 ? (uint32_t)st.st_ino : 0;
}

static struct sockaddr_in tr_sin(const char *ip, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static int tr_listen(uint16_t port)
{
    struct sockaddr_in a = tr_sin("127.0.0.1", port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0)
        return -1;
    return fd;
}

/* connect() to 127.0.0.1:port: the fd, or -errno. */
static int tr_connect(uint16_t port)
{
    struct sockaddr_in a = tr_sin("127.0.0.1", port);
    int fd = socket(AF_INET, SOCK_STREAM, 0), e;
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static int tr_tw_count(void)
{
    char buf[4096];
    FILE *f = fopen("/proc/net/sockstat", "r");
    int tw = -1;
    if (!f)
        return -1;
    while (fgets(buf, sizeof buf, f)) {
        const char *p = strstr(buf, " tw ");
        if (strncmp(buf, "TCP:", 4) == 0 && p)
            tw = atoi(p + 4);
    }
    fclose(f);
    return tw;
}

/* The worker: runs in the caller's namespace (two-port range set) and
 * exits 0 when every call returned what the test expects. */
static int tr_workload(void)
{
    struct sockaddr_in udp_dst = tr_sin("127.0.0.1", 9999), taken = tr_sin("127.0.0.1", 8080);
    int l1 = tr_listen(8080), l2 = tr_listen(8081);
    int c1, c2, a1, a2, c5, u[3], b;

    prctl(PR_SET_NAME, TR_COMM);
    TR_CHECK(l1 >= 0 && l2 >= 0, "listeners");
    /* Two connects take the two ports; two more find none. */
    c1 = tr_connect(8080);
    c2 = tr_connect(8080);
    TR_CHECK(c1 >= 0 && c2 >= 0, "first two connects: %d %d", c1, c2);
    TR_CHECK(tr_connect(8080) == -EADDRNOTAVAIL, "third connect");
    TR_CHECK(tr_connect(8080) == -EADDRNOTAVAIL, "fourth connect");
    /* Another destination may reuse a port. */
    c5 = tr_connect(8081);
    TR_CHECK(c5 >= 0, "connect to a second destination: %d", c5);
    /* connect() again on a connected socket (how some programs poll a
     * non-blocking connect): EISCONN, no port taken, not an attempt. */
    {
        struct sockaddr_in again = tr_sin("127.0.0.1", 8081);
        TR_CHECK(connect(c5, (struct sockaddr *)&again, sizeof again) == -1 && errno == EISCONN,
                 "second connect: errno %d", errno);
    }
    /* UDP: two autobinding sends take the two ports, the third cannot. */
    for (int i = 0; i < 3; i++)
        u[i] = socket(AF_INET, SOCK_DGRAM, 0);
    TR_CHECK(sendto(u[0], "x", 1, 0, (struct sockaddr *)&udp_dst, sizeof udp_dst) == 1, "udp 1");
    TR_CHECK(sendto(u[1], "x", 1, 0, (struct sockaddr *)&udp_dst, sizeof udp_dst) == 1, "udp 2");
    TR_CHECK(sendto(u[2], "x", 1, 0, (struct sockaddr *)&udp_dst, sizeof udp_dst) == -1 &&
             errno == EAGAIN, "udp 3: errno %d", errno);
    {
        struct iovec iov = { .iov_base = "x", .iov_len = 1 };
        struct msghdr m = { .msg_name = &udp_dst, .msg_namelen = sizeof udp_dst,
                            .msg_iov = &iov, .msg_iovlen = 1 };
        TR_CHECK(sendmsg(u[2], &m, 0) == -1 && errno == EAGAIN, "udp sendmsg: errno %d", errno);
    }
    /* A send on a bound socket is no autobind: not counted. */
    TR_CHECK(sendto(u[0], "y", 1, 0, (struct sockaddr *)&udp_dst, sizeof udp_dst) == 1, "udp 4");
    /* bind() to the listener's port. */
    b = socket(AF_INET, SOCK_STREAM, 0);
    TR_CHECK(bind(b, (struct sockaddr *)&taken, sizeof taken) == -1 && errno == EADDRINUSE,
             "bind: errno %d", errno);
    /* UDP connect(): a success sets the socket's source address, yet it and
     * a failure towards the same destination are one row, keyed by what
     * the socket was bound to before the call (nothing: the wildcard). */
    {
        struct sockaddr_in udp2 = tr_sin("127.0.0.1", 9998);
        int v1 = socket(AF_INET, SOCK_DGRAM, 0), v2 = socket(AF_INET, SOCK_DGRAM, 0);
        close(u[1]); /* one UDP port free again */
        TR_CHECK(connect(v1, (struct sockaddr *)&udp2, sizeof udp2) == 0,
                 "udp connect 1: errno %d", errno);
        TR_CHECK(connect(v2, (struct sockaddr *)&udp2, sizeof udp2) == -1 && errno == EAGAIN,
                 "udp connect 2: errno %d", errno);
    }
    /* c1 closes first: its port goes to TIME_WAIT.  c2's peer closes first:
     * TIME_WAIT on the server side, port 8080, outside the range. */
    a1 = accept(l1, NULL, NULL);
    a2 = accept(l1, NULL, NULL);
    TR_CHECK(a1 >= 0 && a2 >= 0, "accept");
    int tw0 = tr_tw_count();
    close(c1);
    close(a2);
    for (int i = 0; i < 200 && tr_tw_count() < tw0; i++)
        usleep(5000);
    usleep(50000);
    close(a1);
    close(c2);
    for (int i = 0; i < 400 && tr_tw_count() < tw0 + 2; i++)
        usleep(5000);
    TR_CHECK(tr_tw_count() == tw0 + 2, "two TIME_WAIT sockets (sockstat says %d)",
             tr_tw_count());
    return 0;
}

struct tr_seen {
    ep_trace_failure f[32];
    char cgroup[32][256];
    int n;
};

static int tr_collect(const ep_trace_failure *f, void *arg)
{
    struct tr_seen *s = arg;
    if (s->n < 32) {
        s->f[s->n] = *f;
        snprintf(s->cgroup[s->n], sizeof s->cgroup[0], "%s", f->cgroup ? f->cgroup : "(null)");
        s->f[s->n].cgroup = s->cgroup[s->n];
    }
    s->n++;
    return 0;
}

/* Poll until no event arrives for a while (events are in the ring buffer
 * before the worker's calls return; this only drains it). */
static void tr_drain(ep_trace *t, struct tr_seen *s)
{
    for (int quiet = 0; quiet < 3;)
        quiet = ep_trace_poll(t, 50, tr_collect, s) > 0 ? 0 : quiet + 1;
}

static int tr_enter(const char *range)
{
    char why[256];
    if (!ep_test_enter_private_netns(why, sizeof why)) {
        fprintf(stderr, "namespace: %s\n", why);
        return 1;
    }
    if (ep_test_write_sysctl("net/ipv4/ip_local_port_range", range) != 0 ||
        ep_test_write_sysctl("net/ipv4/tcp_tw_reuse", "0") != 0) {
        fprintf(stderr, "sysctls\n");
        return 1;
    }
    return 0;
}

static int tr_open(const char *netns, int pid, ep_trace **t)
{
    ep_trace_opts o = { .netns = netns, .pid = pid };
    char why[512];
    int rc = ep_trace_open(&o, t, why, sizeof why);
    if (rc == -ENOTSUP && !EP_HAVE_BPF) {
        fprintf(stderr, "SKIP: %s\n", why);
        return TR_SKIP;
    }
    if (rc != 0)
        fprintf(stderr, "ep_trace_open: %d, %s\n", rc, why);
    return rc;
}

static pid_t tr_spawn(int (*fn)(void))
{
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn());
    return pid;
}

static int tr_reap(pid_t pid)
{
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const ep_trace_dest *tr_dest(const ep_trace_interval *iv, int proto, uint16_t port)
{
    for (size_t i = 0; i < iv->ndests; i++)
        if (iv->dests[i].proto == proto && iv->dests[i].remote_port == port)
            return &iv->dests[i];
    return NULL;
}

static bool tr_is(const ep_addr *a, const char *text)
{
    char buf[EP_ADDR_STRLEN];
    return ep_addr_format(a, buf, sizeof buf) == 0 && strcmp(buf, text) == 0;
}

static int tr_exact(void)
{
    struct tr_seen s = { .n = 0 };
    ep_trace_interval iv;
    ep_trace *t;
    int rc, counts[5] = { 0 };
    uint32_t ino;
    pid_t w;

    if (tr_enter("41000 41001"))
        return 1;
    ino = tr_netns_ino();
    rc = tr_open("/proc/self/ns/net", 0, &t);
    if (rc)
        return rc == TR_SKIP ? TR_SKIP : 1;
    TR_CHECK(ep_trace_netns(t) == ino, "netns %u, want %u", ep_trace_netns(t), ino);
    const char *raw = getenv("EP_TRACE_RAW");
    TR_CHECK(strncmp(ep_trace_method(t), raw ? "raw tracepoints" : "syscall tracepoints",
                     raw ? 15 : 19) == 0, "method: %s", ep_trace_method(t));
    w = tr_spawn(tr_workload);
    TR_CHECK(tr_reap(w) == 0, "workload");
    tr_drain(t, &s);
    TR_CHECK(ep_trace_interval_take(t, &iv) == 0, "interval");

    TR_CHECK(s.n == 6, "want 6 failure events, got %d", s.n);
    for (int i = 0; i < s.n; i++) {
        const ep_trace_failure *f = &s.f[i];
        TR_CHECK(f->pid == (uint32_t)w && strcmp(f->comm, TR_COMM) == 0 && f->netns == ino,
                 "event %d: pid %u comm %s netns %u", i, f->pid, f->comm, f->netns);
        TR_CHECK(strcmp(f->cgroup, "(null)") != 0 && f->cgroup[0] == '/',
                 "event %d: cgroup %s", i, f->cgroup);
        if (f->call == EP_TRACE_CALL_CONNECT && f->proto == IPPROTO_UDP) {
            TR_CHECK(f->err == EAGAIN && !f->has_local && f->local_port == -1,
                     "udp connect event: unbound, EAGAIN");
            TR_CHECK(f->has_remote && tr_is(&f->remote, "127.0.0.1") && f->remote_port == 9998,
                     "udp connect: the destination");
            counts[4]++;
        } else if (f->call == EP_TRACE_CALL_CONNECT) {
            TR_CHECK(f->err == EADDRNOTAVAIL && f->proto == IPPROTO_TCP, "connect event");
            TR_CHECK(f->has_local && tr_is(&f->local, "127.0.0.1") && f->local_port == -1,
                     "connect: the source address chosen, no port");
            TR_CHECK(f->has_remote && tr_is(&f->remote, "127.0.0.1") && f->remote_port == 8080,
                     "connect: the destination");
            counts[0]++;
        } else if (f->call == EP_TRACE_CALL_SENDTO || f->call == EP_TRACE_CALL_SENDMSG) {
            TR_CHECK(f->err == EAGAIN && f->proto == IPPROTO_UDP, "send event");
            TR_CHECK(!f->has_local && f->local_port == -1, "send: unbound");
            TR_CHECK(f->has_remote && tr_is(&f->remote, "127.0.0.1") && f->remote_port == 9999,
                     "send: the destination");
            counts[f->call == EP_TRACE_CALL_SENDTO ? 1 : 2]++;
        } else {
            TR_CHECK(f->call == EP_TRACE_CALL_BIND && f->err == EADDRINUSE &&
                     f->proto == IPPROTO_TCP, "bind event");
            TR_CHECK(f->has_local && tr_is(&f->local, "127.0.0.1") && f->local_port == 8080 &&
                     !f->has_remote && f->remote_port == -1, "bind: the address asked for");
            counts[3]++;
        }
    }
    TR_CHECK(counts[0] == 2 && counts[1] == 1 && counts[2] == 1 && counts[3] == 1 &&
             counts[4] == 1,
             "events by call: %d connect, %d sendto, %d sendmsg, %d bind, %d udp connect",
             counts[0], counts[1], counts[2], counts[3], counts[4]);

    TR_CHECK(iv.ndests == 4, "want 4 destinations, got %zu", iv.ndests);
    TR_CHECK(iv.lost_events == 0 && iv.lost_counts == 0 && iv.lost_calls == 0 &&
             iv.timewait_why == NULL, "nothing lost");
    const ep_trace_dest *d = tr_dest(&iv, IPPROTO_TCP, 8080);
    TR_CHECK(d && d->netns == ino && tr_is(&d->local, "127.0.0.1") && tr_is(&d->remote, "127.0.0.1"),
             "tcp 8080 row");
    TR_CHECK(d->attempts == 4 && d->successes == 2 && d->eaddrnotavail == 2 && d->eagain == 0 &&
             d->eaddrinuse == 0 && d->other == 0 && d->timewait == 1,
             "tcp 8080: %lu attempts %lu ok %lu EADDRNOTAVAIL %ld TIME_WAIT",
             (unsigned long)d->attempts, (unsigned long)d->successes,
             (unsigned long)d->eaddrnotavail, (long)d->timewait);
    d = tr_dest(&iv, IPPROTO_TCP, 8081);
    TR_CHECK(d && d->attempts == 1 && d->successes == 1 && d->other == 0 && d->timewait == 0,
             "tcp 8081 row: %lu attempts, %lu other", d ? (unsigned long)d->attempts : 0,
             d ? (unsigned long)d->other : 0);
    d = tr_dest(&iv, IPPROTO_UDP, 9999);
    TR_CHECK(d && tr_is(&d->local, "0.0.0.0") && d->attempts == 4 && d->successes == 2 &&
             d->eagain == 2 && d->other == 0 && d->timewait == 0,
             "udp 9999: %lu attempts %lu ok %lu EAGAIN", d ? (unsigned long)d->attempts : 0,
             d ? (unsigned long)d->successes : 0, d ? (unsigned long)d->eagain : 0);

    d = tr_dest(&iv, IPPROTO_UDP, 9998);
    TR_CHECK(d && tr_is(&d->local, "0.0.0.0") && d->attempts == 2 && d->successes == 1 &&
             d->eagain == 1 && d->other == 0,
             "udp 9998 (connect): one row, %lu attempts %lu ok %lu EAGAIN",
             d ? (unsigned long)d->attempts : 0, d ? (unsigned long)d->successes : 0,
             d ? (unsigned long)d->eagain : 0);

    /* The next interval starts from zero. */
    TR_CHECK(ep_trace_interval_take(t, &iv) == 0 && iv.ndests == 0, "second interval empty");
    ep_trace_close(t);
    return 0;
}

/* One EADDRNOTAVAIL towards 127.0.0.1:port (the range is a single port). */
static int tr_one_failure_to(uint16_t port)
{
    int c;
    prctl(PR_SET_NAME, TR_COMM);
    if (tr_listen(port) < 0 || (c = tr_connect(port)) < 0)
        return 1;
    return tr_connect(port) == -EADDRNOTAVAIL ? 0 : 1;
}

static int tr_one_failure(void)
{
    return tr_one_failure_to(8080);
}

/* The same towards another destination, so both can run in one namespace. */
static int tr_one_failure_8090(void)
{
    return tr_one_failure_to(8090);
}

/* A child in a namespace of its own. */
static int tr_one_failure_elsewhere(void)
{
    return tr_enter("42000 42000") ? 1 : tr_one_failure();
}

/* The unfiltered tracer sees the whole host, where other programs may fail
 * to get ports all the time (other tests, a busy machine): it never falls
 * quiet, so it is drained until the other namespace's failure arrived, and
 * a little longer to catch a duplicate. */
struct tr_from_pid {
    uint32_t pid, not_netns;
    int n;
};

static int tr_count_from_pid(const ep_trace_failure *f, void *arg)
{
    struct tr_from_pid *w = arg;
    w->n += f->pid == w->pid && f->netns != w->not_netns;
    return 0;
}

static int tr_netns_filter(void)
{
    struct tr_seen mine = { .n = 0 };
    ep_trace *tm, *ta;
    pid_t here, there;
    int rc;

    if (tr_enter("41000 41000"))
        return 1;
    rc = tr_open("/proc/self/ns/net", 0, &tm);
    if (rc)
        return rc == TR_SKIP ? TR_SKIP : 1;
    TR_CHECK(tr_open(NULL, 0, &ta) == 0, "unfiltered trace");
    there = tr_spawn(tr_one_failure_elsewhere);
    TR_CHECK(tr_reap(there) == 0, "the other namespace's workload");
    here = tr_spawn(tr_one_failure);
    TR_CHECK(tr_reap(here) == 0, "this namespace's workload");
    tr_drain(tm, &mine);
    TR_CHECK(mine.n == 1 && mine.f[0].pid == (uint32_t)here && mine.f[0].netns == tr_netns_ino(),
             "--netns: want only this namespace's failure, got %d events", mine.n);
    struct tr_from_pid all = { .pid = (uint32_t)there, .not_netns = tr_netns_ino() };
    for (int polls = 0, after = 0; polls < 200 && after < 4; polls++) {
        ep_trace_poll(ta, 50, tr_count_from_pid, &all);
        after += all.n > 0;
    }
    TR_CHECK(all.n == 1, "unfiltered: the other namespace's failure (%d)", all.n);
    ep_trace_close(tm);
    ep_trace_close(ta);
    return 0;
}

static int tr_pid_filter(void)
{
    struct tr_seen s = { .n = 0 };
    ep_trace_interval iv;
    ep_trace *t;
    pid_t a, b;
    int rc;

    if (tr_enter("41000 41000"))
        return 1;
    /* Fork the traced child first (stopped on a pipe) to know its pid. */
    int go[2];
    TR_CHECK(pipe(go) == 0, "pipe");
    fflush(stderr);
    a = fork();
    if (a == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        _exit(tr_one_failure());
    }
    close(go[0]);
    rc = tr_open("/proc/self/ns/net", (int)a, &t);
    if (rc) {
        close(go[1]);
        tr_reap(a);
        return rc == TR_SKIP ? TR_SKIP : 1;
    }
    /* Another process, same namespace: only --pid keeps it out. */
    b = tr_spawn(tr_one_failure_8090);
    TR_CHECK(tr_reap(b) == 0, "the untraced process");
    TR_CHECK(write(go[1], "g", 1) == 1 && tr_reap(a) == 0, "the traced process");
    tr_drain(t, &s);
    TR_CHECK(ep_trace_interval_take(t, &iv) == 0, "interval");
    TR_CHECK(s.n == 1 && s.f[0].pid == (uint32_t)a, "--pid: %d events", s.n);
    TR_CHECK(iv.ndests == 1 && iv.dests[0].attempts == 2 && iv.dests[0].eaddrnotavail == 1 &&
             iv.dests[0].timewait == EP_TRACE_UNKNOWN && iv.timewait_why != NULL,
             "--pid interval: TIME_WAIT unknown with a reason");
    ep_trace_close(t);
    return 0;
}

/* The cgroup v2 mount, or NULL. */
static const char *tr_cgroup2(void)
{
    static const char *const dirs[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
    for (size_t i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/cgroup.procs", dirs[i]);
        if (access(path, W_OK) == 0) {
            snprintf(path, sizeof path, "%s/cgroup.controllers", dirs[i]);
            if (access(path, R_OK) == 0) /* only cgroup v2 has this file */
                return dirs[i];
        }
    }
    return NULL;
}

static int tr_cgroup_filter(void)
{
    struct tr_seen s = { .n = 0 };
    ep_trace_interval iv;
    ep_trace *t = NULL;
    const char *mnt = tr_cgroup2();
    char name[64], dir[256], procs[300], pidtext[32];
    int go[2], rc = 1, fd;
    pid_t a, b;

    if (!mnt) {
        fprintf(stderr, "SKIP: no writable cgroup v2 mount\n");
        return TR_SKIP;
    }
    snprintf(name, sizeof name, "/ep-trace-test-%d", (int)getpid());
    snprintf(dir, sizeof dir, "%s%s", mnt, name);
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    if (mkdir(dir, 0755) != 0) {
        fprintf(stderr, "SKIP: cannot make a cgroup (%s: %s)\n", dir, strerror(errno));
        return TR_SKIP;
    }
    if (tr_enter("41000 41000"))
        goto out;
    if (pipe(go) != 0)
        goto out;
    fflush(stderr);
    a = fork();
    if (a == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        _exit(tr_one_failure());
    }
    close(go[0]);
    snprintf(pidtext, sizeof pidtext, "%d", (int)a);
    fd = open(procs, O_WRONLY);
    if (fd < 0 || write(fd, pidtext, strlen(pidtext)) != (ssize_t)strlen(pidtext)) {
        fprintf(stderr, "moving %d into %s: %s\n", (int)a, procs, strerror(errno));
        goto out_child;
    }
    close(fd);
    ep_trace_opts o = { .netns = "/proc/self/ns/net", .cgroup = name };
    char why[512];
    rc = ep_trace_open(&o, &t, why, sizeof why);
    if (rc) {
        fprintf(stderr, "ep_trace_open --cgroup %s: %d, %s\n", name, rc, why);
        rc = rc == -ENOTSUP && !EP_HAVE_BPF ? TR_SKIP : 1;
        goto out_child;
    }
    rc = 1;
    /* Outside the cgroup, in the same namespace: only --cgroup keeps it out. */
    b = tr_spawn(tr_one_failure_8090);
    if (tr_reap(b) != 0)
        goto out_child;
    if (write(go[1], "g", 1) != 1 || tr_reap(a) != 0)
        goto out;
    tr_drain(t, &s);
    if (ep_trace_interval_take(t, &iv) != 0)
        goto out;
    if (s.n != 1 || s.f[0].pid != (uint32_t)a || strcmp(s.f[0].cgroup, name) != 0) {
        fprintf(stderr, "--cgroup: %d events, first pid %u cgroup %s (want %d, %s)\n", s.n,
                s.n ? s.f[0].pid : 0, s.n ? s.f[0].cgroup : "-", (int)a, name);
        goto out;
    }
    if (iv.ndests != 1 || iv.dests[0].attempts != 2 || iv.dests[0].timewait != EP_TRACE_UNKNOWN) {
        fprintf(stderr, "--cgroup interval: %zu destinations\n", iv.ndests);
        goto out;
    }
    rc = 0;
    goto out;
out_child:
    close(go[1]);
    tr_reap(a);
out:
    ep_trace_close(t);
    rmdir(dir);
    return rc;
}

static int tr_unprivileged(void)
{
    ep_trace_opts o = { 0 };
    ep_trace *t = (ep_trace *)&o;
    char why[512] = "";
    int rc;

    TR_CHECK(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0,
             "drop root");
    rc = ep_trace_open(&o, &t, why, sizeof why);
    fprintf(stderr, "unprivileged: %d, %s\n", rc, why);
    TR_CHECK(t == NULL, "no tracer on failure");
    if (EP_HAVE_BPF)
        TR_CHECK(rc == -EPERM && strstr(why, "CAP_BPF") != NULL, "want -EPERM naming CAP_BPF");
    else
        TR_CHECK(rc == -ENOTSUP && strstr(why, "without BPF") != NULL, "want -ENOTSUP");
    ep_trace_close(NULL);
    return 0;
}

/* Each case in a child process of its own (netns-util.c). */
static int tr_call(const void *arg)
{
    int (*const *fn)(void) = arg;
    return (*fn)();
}

static void tr_case(int (*fn)(void))
{
    ep_test_forked_case("a private network namespace, BPF", tr_call, &fn);
}

static void failures_and_counts_exact(void **state)
{
    (void)state;
    tr_case(tr_exact);
}

/* The same on the raw tracepoints sys_enter/sys_exit (the fallback when
 * the syscall tracepoints' ids cannot be found). */
static int tr_exact_raw(void)
{
    setenv("EP_TRACE_RAW", "1", 1);
    return tr_exact();
}

static void failures_and_counts_exact_raw(void **state)
{
    (void)state;
    tr_case(tr_exact_raw);
}

static void netns_filter_keeps_others_out(void **state)
{
    (void)state;
    tr_case(tr_netns_filter);
}

static void pid_filter_keeps_others_out(void **state)
{
    (void)state;
    tr_case(tr_pid_filter);
}

static void cgroup_filter_and_path(void **state)
{
    (void)state;
    tr_case(tr_cgroup_filter);
}

static void unprivileged_says_why(void **state)
{
    (void)state;
    tr_case(tr_unprivileged);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failures_and_counts_exact),
        cmocka_unit_test(failures_and_counts_exact_raw),
        cmocka_unit_test(netns_filter_keeps_others_out),
        cmocka_unit_test(pid_filter_keeps_others_out),
        cmocka_unit_test(cgroup_filter_and_path),
        cmocka_unit_test(unprivileged_says_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
