/* test-check-perfdata.c - `ephport check`'s performance data says what its
 * exit code says.  A monitoring system reads the warn and crit fields as
 * ranges of the Monitoring Plugins Development Guidelines ("X" alerts
 * outside 0..X, so only above X; "@X:" alerts from X up; "N:" alerts below
 * N) and must reach the level the plugin exited with, at the boundary too,
 * and a threshold must be printed as given, never rounded.
 *
 * Real sockets in a private network namespace: a range of exactly 100
 * ports, so N connections to one destination are N % used.  Every case
 * checks exit code == the level the printed ranges give. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "netns-util.h"

static char ep_skip_why[256];
static bool ep_skipping;
static int ep_listen_fd = -1;
static int ep_clients[128];
static int ep_nclients;

/* A threshold range of the guidelines: [@][start:][end], start "~" = -inf,
 * end empty = +inf.  Returns whether `v` raises the alert; an empty field
 * never does. */
static bool ep_range_alerts(const char *r, size_t len, double v)
{
    char buf[64], *colon, *end;
    double start = 0, stop = INFINITY;
    bool inside = false;

    if (len == 0)
        return false;
    assert_true(len < sizeof buf);
    memcpy(buf, r, len);
    buf[len] = '\0';
    r = buf;
    if (*r == '@') {
        inside = true;
        r++;
    }
    colon = strchr(r, ':');
    if (colon) {
        if (r[0] == '~' && r + 1 == colon)
            start = -INFINITY;
        else {
            start = strtod(r, &end);
            assert_true(end == colon);
        }
        r = colon + 1;
    }
    if (*r) {
        stop = strtod(r, &end);
        assert_true(*end == '\0');
    }
    assert_true(start <= stop);
    if (inside)
        return v >= start && v <= stop;
    return v < start || v > stop;
}

/* Field i (0 = value) of "label=value;warn;crit;min;max" in the perfdata. */
static void ep_perf_field(const char *out, const char *label, int i, const char **f, size_t *len)
{
    char key[32];
    const char *p;
    snprintf(key, sizeof key, " %s=", label);
    p = strstr(out, key);
    if (!p)
        fail_msg("no perfdata '%s' in: %s", label, out);
    p += strlen(key);
    for (; i > 0; i--) {
        p += strcspn(p, "; \n");
        assert_int_equal(*p, ';');
        p++;
    }
    *f = p;
    *len = strcspn(p, "; \n");
}

/* The level a monitoring system derives from the perfdata of "used" and
 * "free": 2 if a crit range alerts, else 1 if a warn range alerts, else 0. */
static int ep_perf_level(const char *out)
{
    static const char *const labels[] = { "used", "free" };
    int level = 0;
    for (size_t k = 0; k < 2; k++) {
        const char *f;
        size_t len;
        double v;
        ep_perf_field(out, labels[k], 0, &f, &len);
        v = strtod(f, NULL);
        ep_perf_field(out, labels[k], 2, &f, &len);
        if (ep_range_alerts(f, len, v))
            level = 2;
        ep_perf_field(out, labels[k], 1, &f, &len);
        if (level < 2 && ep_range_alerts(f, len, v))
            level = 1;
    }
    return level;
}

/* Run `ephport check ARGS`: its exit code, and its line in out. */
static int ep_check(char *out, size_t cap, const char *args)
{
    char cmd[512];
    FILE *p;
    size_t n;
    int st;
    snprintf(cmd, sizeof cmd, "%s check %s", getenv("EPHPORT_BIN"), args);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void ep_connect_n(int n)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(5000),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        assert_true(ep_nclients < 128);
        ep_clients[ep_nclients++] = fd;
    }
}

static void ep_close_one(void)
{
    struct linger lg = { 1, 0 }; /* reset: no TIME_WAIT left behind */
    assert_true(ep_nclients > 0);
    setsockopt(ep_clients[ep_nclients - 1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(ep_clients[--ep_nclients]);
}

static int ep_setup(void **state)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(5000),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    (void)state;
    if (!ep_test_enter_private_netns(ep_skip_why, sizeof ep_skip_why)) {
        fprintf(stderr, "SKIP: cannot make a private network namespace: %s\n", ep_skip_why);
        ep_skipping = true;
        return 0;
    }
    if (ep_test_write_sysctl("net/ipv4/ip_local_port_range", "40000 40099") != 0) {
        fprintf(stderr, "SKIP: cannot write the namespace's ip_local_port_range\n");
        ep_skipping = true;
        return 0;
    }
    ep_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(ep_listen_fd >= 0);
    assert_int_equal(bind(ep_listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ep_listen_fd, 256), 0);
    return 0;
}

static int ep_teardown(void **state)
{
    (void)state;
    while (ep_nclients > 0)
        ep_close_one();
    if (ep_listen_fd >= 0)
        close(ep_listen_fd);
    return 0;
}

/* Exit code and perfdata agree on every side of every threshold. */
static void ep_expect(const char *args, int level)
{
    char out[1024];
    int rc = ep_check(out, sizeof out, args);
    if (rc != level)
        fail_msg("check %s exited %d, expected %d: %s", args, rc, level, out);
    if (ep_perf_level(out) != rc)
        fail_msg("check %s exited %d but its perfdata says level %d: %s", args, rc,
                 ep_perf_level(out), out);
}

/* 80 of 100 ports used: exactly at the default warning. */
static void at_the_warning_threshold(void **state)
{
    char out[1024];
    (void)state;
    if (ep_skipping)
        skip();
    ep_connect_n(80);
    ep_expect("--warn 80 --crit 95", 1);
    ep_expect("", 1); /* the defaults are 80 and 95 */
    ep_expect("--warn 80.01 --crit 95", 0);
    ep_expect("--warn 79.99 --crit 95", 1);
    ep_expect("--warn 79 --crit 80", 2);
    ep_expect("--warn 79 --crit 80.5", 1);
    ep_expect("--warn 0 --crit 100", 1);
    ep_expect("--warn 85 --crit 90 --min-free 20", 0);
    ep_expect("--warn 85 --crit 90 --min-free 21", 2);
    assert_int_equal(ep_check(out, sizeof out, "--warn 80 --crit 95"), 1);
    assert_non_null(strstr(out, "EPHPORT WARNING - 127.0.0.1:5000/tcp 80% used (20 free)"));
    ep_close_one(); /* 79 used */
    ep_expect("--warn 80 --crit 95", 0);
    ep_expect("--warn 79 --crit 95", 1);
}

/* 95 used: exactly at the default critical; 95.5 is printed as 95.5. */
static void at_the_critical_threshold(void **state)
{
    char out[1024];
    (void)state;
    if (ep_skipping)
        skip();
    ep_connect_n(95 - ep_nclients);
    ep_expect("--warn 80 --crit 95", 2);
    ep_expect("--warn 80 --crit 95.5", 1);
    ep_expect("--warn 95 --crit 95.01", 1);
    assert_int_equal(ep_check(out, sizeof out, "--warn 80.25 --crit 95.5"), 1);
    /* the thresholds in ports, as given: 80.25 % and 95.5 % of 100 */
    if (!strstr(out, "used=95;@80.25:;@95.5:;0;100 "))
        fail_msg("thresholds not printed exactly: %s", out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(at_the_warning_threshold),
        cmocka_unit_test(at_the_critical_threshold),
    };
    return cmocka_run_group_tests(tests, ep_setup, ep_teardown);
}
