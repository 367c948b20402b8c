/* test-exporter-trace.c - `ephport exporter --trace` against the real
 * kernel: in a private namespace with a two-port range, 2 connects that get
 * a port and 3 that find none (EADDRNOTAVAIL) towards 127.0.0.1:8080, then
 * a scrape: ephport_connect_attempts_total is exactly 5 and
 * ephport_connect_failures_total{reason="EADDRNOTAVAIL"} exactly 3 for that
 * destination, and they add up over a second round.  Unprivileged, the
 * exporter says once why it cannot trace and serves without those series.
 * Suite integration; skips (saying why) when not root. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ep-host-config.h"
#include "netns-util.h"

struct et_exporter {
    pid_t pid;
    int err;          /* its stderr */
    uint16_t port;
    char banner[512]; /* what it said on stderr up to "listening on" */
};

/* The running exporter, killed by the teardown when a test failed first. */
static pid_t et_running = -1;

static int et_teardown(void **state)
{
    (void)state;
    if (et_running > 0) {
        kill(et_running, SIGTERM);
        waitpid(et_running, NULL, 0);
        et_running = -1;
    }
    return 0;
}

/* Start the exporter on 127.0.0.1:0 and read its port from the banner;
 * all: with --all-namespaces. */
static void et_start_opts(struct et_exporter *x, bool as_nobody, bool all)
{
    const char *bin = as_nobody && geteuid() == 0 ? ep_test_nobody_bin() : getenv("EPHPORT_BIN");
    int err[2];
    size_t got = 0;
    char *at;

    assert_non_null(bin);
    assert_int_equal(pipe(err), 0);
    fflush(stderr);
    x->pid = fork();
    assert_true(x->pid >= 0);
    if (x->pid == 0) {
        dup2(err[1], 2);
        close(err[0]);
        if (as_nobody && (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0))
            _exit(126);
        if (all)
            execl(bin, bin, "exporter", "--trace", "--all-namespaces", "--listen", "127.0.0.1:0",
                  "--min-count", "0", "--top", "10000", (char *)NULL);
        else
            execl(bin, bin, "exporter", "--trace", "--listen", "127.0.0.1:0", "--min-count", "0",
                  (char *)NULL);
        _exit(127);
    }
    close(err[1]);
    et_running = x->pid;
    x->err = err[0];
    while (got < sizeof x->banner - 1 && read(x->err, x->banner + got, 1) == 1) {
        got++;
        x->banner[got] = '\0';
        if (x->banner[got - 1] == '\n' && strstr(x->banner, "listening on"))
            break;
    }
    x->banner[got] = '\0';
    at = strstr(x->banner, "listening on 127.0.0.1:");
    if (!at)
        fail_msg("exporter did not start: %s", x->banner);
    x->port = (uint16_t)atoi(at + strlen("listening on 127.0.0.1:"));
}

static void et_start(struct et_exporter *x, bool as_nobody)
{
    et_start_opts(x, as_nobody, false);
}

static void et_stop(struct et_exporter *x)
{
    int st;
    kill(x->pid, SIGTERM);
    assert_int_equal(waitpid(x->pid, &st, 0), x->pid);
    et_running = -1;
    close(x->err);
}

static char *et_scrape(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t n;

    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_non_null(buf);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    /* Grows: with --all-namespaces a busy host's exposition is large. */
    while ((n = read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
        if (len == cap - 1) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    close(fd);
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
        fail_msg("scrape: %.200s", buf);
    return buf;
}

/* The value of the sample line starting with `series`, or -1. */
static long long et_value(const char *text, const char *series)
{
    for (const char *p = text; (p = strstr(p, series)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[strlen(series)] == ' ')
            return atoll(p + strlen(series) + 1);
    return -1;
}

/* ok connects that get a port towards 127.0.0.1:8080, then fail that do
 * not; the sockets stay open (their fds leak into this test process). */
static void et_connects(int ok, int fail)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < ok + fail; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        int rc = connect(c, (struct sockaddr *)&a, sizeof a);
        if (i < ok)
            assert_int_equal(rc, 0);
        else
            assert_true(rc == -1 && errno == EADDRNOTAVAIL);
        if (rc != 0)
            close(c);
    }
}

#define ET_DEST "{proto=\"tcp\",local=\"127.0.0.1\",remote=\"127.0.0.1\",remote_port=\"8080\""

static void counters_equal_driven_counts(void **state)
{
    struct et_exporter x;
    char why[256];
    (void)state;
    EP_TEST_NEED_ROOT_BPF(EP_HAVE_BPF);
    assert_true(ep_test_enter_private_netns(why, sizeof why));
    /* The exporter's own port (bound to port 0) first, outside the two. */
    et_start(&x, false);
    assert_null(strstr(x.banner, "cannot trace"));
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "43000 43001"), 0);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 16), 0);
    et_connects(2, 3);
    char *m = et_scrape(x.port);
    assert_int_equal(et_value(m, "ephport_connect_attempts_total" ET_DEST "}"), 5);
    assert_int_equal(et_value(m, "ephport_connect_failures_total" ET_DEST ",reason=\"EADDRNOTAVAIL\"}"), 3);
    assert_int_equal(et_value(m, "ephport_connect_failures_total" ET_DEST ",reason=\"other\"}"), 0);
    assert_int_equal(et_value(m, "ephport_trace_lost_total{what=\"counts\"}"), 0);
    free(m);
    /* Two more failures: the counters add up (the scrape's own connects
     * go to another destination). */
    et_connects(0, 2);
    m = et_scrape(x.port);
    assert_int_equal(et_value(m, "ephport_connect_attempts_total" ET_DEST "}"), 7);
    assert_int_equal(et_value(m, "ephport_connect_failures_total" ET_DEST ",reason=\"EADDRNOTAVAIL\"}"), 5);
    free(m);
    et_stop(&x);
    close(l);
}

/* The value of the sample of `metric` whose labels start with the
 * namespace netns="INODE" and end with `rest` (the closing brace included),
 * or -1; *labelled gets whether its namespace label is set. */
static long long et_value_ns(const char *text, const char *metric, uint64_t inode,
                             const char *rest, bool *labelled)
{
    char head[128];
    int hl = snprintf(head, sizeof head, "%s{netns=\"%llu\",", metric, (unsigned long long)inode);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        const char *eol = strchr(p, '\n'), *r;
        if (strncmp(p, head, (size_t)hl) != 0)
            continue;
        r = strstr(p, rest);
        if (!r || (eol && r > eol) || r[strlen(rest)] != ' ')
            continue;
        if (labelled)
            *labelled = strncmp(p + hl, "namespace=\"\"", 13) != 0;
        return atoll(r + strlen(rest) + 1);
    }
    return -1;
}

static uint64_t et_inode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_ino;
}

/* --all-namespaces --trace: one tracer over every namespace, each count
 * labelled with its own; two namespaces driven with different counts. */
static void node_counts_labelled_per_namespace(void **state)
{
    static const char dest[] = ",proto=\"tcp\",local=\"127.0.0.1\",remote=\"127.0.0.1\","
                               "remote_port=\"8080\"}";
    struct et_exporter x;
    char why[256], path[64];
    bool named_a = false, named_b = false;
    (void)state;
    EP_TEST_NEED_ROOT_BPF(EP_HAVE_BPF);
    assert_true(ep_test_enter_private_netns(why, sizeof why));
    pid_t hb = ep_test_ns_hold();
    assert_true(hb > 0);
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)hb);
    uint64_t ino_a = et_inode("/proc/self/ns/net"), ino_b = et_inode(path);
    et_start_opts(&x, false, true);
    assert_null(strstr(x.banner, "cannot trace"));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    /* A (this test's namespace): 2 ports, 2 connects get one, 3 do not. */
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "43000 43001"), 0);
    int la = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(la, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(la, 16), 0);
    et_connects(2, 3);
    /* B: 1 port, 1 connect gets it, 2 do not. */
    assert_true(ep_test_ns_enter(hb));
    assert_int_equal(ep_test_sh("ip link set lo up"), 0);
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "44000 44000"), 0);
    int lb = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(lb, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lb, 16), 0);
    et_connects(1, 2);
    assert_true(ep_test_ns_enter(0));
    char *m = et_scrape(x.port);
    if (et_value_ns(m, "ephport_connect_attempts_total", ino_a, dest, &named_a) != 5 ||
        et_value_ns(m, "ephport_connect_attempts_total", ino_b, dest, &named_b) != 3)
        fail_msg("attempts per namespace (want 5 in %llu, 3 in %llu):\n%s",
                 (unsigned long long)ino_a, (unsigned long long)ino_b, m);
    assert_true(named_a && named_b);
    char fails[160];
    snprintf(fails, sizeof fails, "%.*s,reason=\"EADDRNOTAVAIL\"}", (int)strlen(dest) - 1, dest);
    assert_int_equal(et_value_ns(m, "ephport_connect_failures_total", ino_a, fails, NULL), 3);
    assert_int_equal(et_value_ns(m, "ephport_connect_failures_total", ino_b, fails, NULL), 2);
    free(m);
    et_stop(&x);
    close(la);
    ep_test_ns_release(hb);
}

static void unprivileged_serves_without(void **state)
{
    struct et_exporter x;
    char why[256];
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: needs root (to drop to nobody in a private namespace)\n");
        skip();
    }
    assert_true(ep_test_enter_private_netns(why, sizeof why));
    et_start(&x, true);
    const char *said = strstr(x.banner, "ephport exporter: --trace: cannot trace: ");
    if (!said || strstr(said + strlen("ephport exporter: --trace: cannot trace: "), "cannot trace") ||
        !strstr(x.banner, EP_HAVE_BPF ? "CAP_BPF" : "without BPF"))
        fail_msg("want one reason: %s", x.banner);
    char *m = et_scrape(x.port);
    assert_null(strstr(m, "ephport_connect_attempts_total"));
    assert_non_null(strstr(m, "ephport_local_port_range_first_port"));
    free(m);
    et_stop(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(counters_equal_driven_counts, et_teardown),
        cmocka_unit_test_teardown(node_counts_labelled_per_namespace, et_teardown),
        cmocka_unit_test_teardown(unprivileged_serves_without, et_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
