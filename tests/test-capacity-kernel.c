/* test-capacity-kernel.c - the capacity rules against the real kernel, in a
 * private network namespace (suite integration; skips without root).
 *
 * tw_reuse_rule_matches_kernel: for tcp_tw_reuse 0, 1 and 2 and pairs of
 * local and remote addresses (loopback both, neither, one of them), a
 * client-first close leaves a TIME_WAIT entry; after tcp_tw_reuse_delay a
 * new socket with IP_LOCAL_PORT_RANGE = [p, p] connects to the same
 * destination from the same port, which succeeds exactly when the kernel
 * reuses the entry; ep_linux_tw_reuse_applies() must say the same.
 *
 * plan_suggestion_survives_kernel: `plan --range 40000-40059 --rate 2
 * --arrivals constant --duration 0` (client closes first, tcp_tw_reuse 0)
 * suggests a range; 80 s of real loopback connections at 2/s on exactly
 * that range (past the 60-62 s at which TIME_WAIT entries start to expire,
 * so in steady state) must see no EADDRNOTAVAIL.  The old plan's 121 ports
 * failed here from about 61 s on (EP_SURVIVAL_WIDTH=121 runs that width).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/capacity.h>

#include "netns-util.h"
#include "plan.h"
#include "workload.h"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

static bool ep_skipping;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts;
    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int listener_at(const struct sockaddr_in *a)
{
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    assert_int_equal(bind(fd, (const struct sockaddr *)a, sizeof *a), 0);
    assert_int_equal(listen(fd, 1024), 0);
    return fd;
}

/* connect() from `local` (0.0.0.0: the route's) and, with port 0, the
 * kernel's autobind over the namespace's range, else exactly that port
 * through IP_LOCAL_PORT_RANGE; fd or -errno. */
static int client(const struct sockaddr_in *local, uint16_t port, const struct sockaddr_in *dst)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in l = *local;
    int one = 1;
    if (c < 0)
        return -errno;
    l.sin_port = 0;
    if (port) {
        uint32_t range = (uint32_t)port | ((uint32_t)port << 16);
        if (setsockopt(c, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof range) != 0)
            goto fail;
    }
    /* IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect() by
     * __inet_hash_connect (which can take over a TIME_WAIT), not by bind(). */
    if (local->sin_addr.s_addr != 0 &&
        (setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0 ||
         bind(c, (struct sockaddr *)&l, sizeof l) != 0))
        goto fail;
    if (connect(c, (const struct sockaddr *)dst, sizeof *dst) != 0)
        goto fail;
    return c;
fail: {
        int e = errno;
        close(c);
        return -e;
    }
}

/* Close c first, let the server see the FIN and close: c's side is left in
 * TIME_WAIT. */
static void close_client_first(int c, int listener)
{
    int s = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    char b;
    assert_true(s >= 0);
    close(c);
    assert_int_equal(read(s, &b, 1), 0);
    close(s);
}

static struct sockaddr_in sin4(const char *a, uint16_t port)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof s);
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
    return s;
}

static int setup(void **state)
{
    char why[256];
    (void)state;
    if (!ep_test_enter_private_netns(why, sizeof why)) {
        fprintf(stderr, "SKIP: %s\n", why);
        ep_skipping = true;
        return 0;
    }
    if (ep_test_add_lo_address("10.7.0.1/32") != 0 ||
        ep_test_write_sysctl("net/ipv4/tcp_tw_reuse_delay", "1000") != 0) {
        fprintf(stderr, "cannot configure the namespace\n");
        return -1;
    }
    return 0;
}

static void tw_reuse_rule_matches_kernel(void **state)
{
    static const struct {
        const char *local, *remote;
    } pairs[] = {
        { "127.0.0.1", "127.0.0.1" }, /* both loopback */
        { "10.7.0.1", "10.7.0.1" },   /* neither */
        { "10.7.0.1", "127.0.0.1" },  /* remote loopback only */
        { "127.0.0.1", "10.7.0.1" },  /* local loopback only */
    };
    uint16_t port = 41000;
    (void)state;
    if (ep_skipping)
        skip();
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "41000 41999"), 0);
    for (int reuse = 0; reuse <= 2; reuse++) {
        char v[4];
        snprintf(v, sizeof v, "%d", reuse);
        assert_int_equal(ep_test_write_sysctl("net/ipv4/tcp_tw_reuse", v), 0);
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++, port++) {
            struct sockaddr_in l = sin4(pairs[i].local, 0), r = sin4(pairs[i].remote, 9100 + i);
            ep_addr la, ra;
            int lst = listener_at(&r), c;
            bool kernel, rule;
            c = client(&l, port, &r);
            if (c < 0)
                fail_msg("connect %s -> %s from %u: %s", pairs[i].local, pairs[i].remote, port,
                         strerror(-c));
            close_client_first(c, lst);
            sleep_s(1.1); /* past tcp_tw_reuse_delay (1000 ms) */
            c = client(&l, port, &r);
            kernel = c >= 0;
            if (c >= 0) {
                struct linger lg = { 1, 0 };
                setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                close(c);
            } else if (c != -EADDRNOTAVAIL) {
                fail_msg("second connect %s -> %s: %s", pairs[i].local, pairs[i].remote,
                         strerror(-c));
            }
            assert_int_equal(ep_addr_parse(pairs[i].local, &la), 0);
            assert_int_equal(ep_addr_parse(pairs[i].remote, &ra), 0);
            rule = ep_linux_tw_reuse_applies(reuse, &la, &ra);
            if (kernel != rule)
                fail_msg("tcp_tw_reuse=%d %s -> %s: kernel %s, ep_linux_tw_reuse_applies %s",
                         reuse, pairs[i].local, pairs[i].remote,
                         kernel ? "reuses" : "refuses", rule ? "true" : "false");
            close(lst);
        }
    }
}

static void set(ep_workload *w, const char *k, const char *v)
{
    char msg[EP_WL_MSG];
    if (ep_workload_set(w, k, v, msg, sizeof msg) != 0)
        fail_msg("%s = %s: %s", k, v, msg);
}

static void plan_suggestion_survives_kernel(void **state)
{
    const double rate = 2, run = 80;
    struct sockaddr_in any = sin4("0.0.0.0", 0), dst = sin4("127.0.0.1", 9000);
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG], range[32];
    const char *width_env = getenv("EP_SURVIVAL_WIDTH");
    unsigned lo, hi, fails = 0, made = 0;
    double t0, first_fail = -1;
    int lst;
    (void)state;
    if (ep_skipping)
        skip();
    ep_workload_init(&w);
    set(&w, "rate", "2");
    set(&w, "arrivals", "constant");
    set(&w, "duration", "0");
    set(&w, "range", "40000-40059");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_false(p.target_ok);
    assert_true(p.range_possible);
    lo = p.new_lo;
    hi = p.new_hi;
    if (width_env) /* e.g. 121, the old plan's suggestion */
        lo = hi - (unsigned)atoi(width_env) + 1;
    print_message("plan suggests %u ports (%u-%u); running %u-%u at %g/s for %g s\n",
                  p.range_width, p.new_lo, p.new_hi, lo, hi, rate, run);
    ep_workload_free(&w);

    snprintf(range, sizeof range, "%u %u", lo, hi);
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", range), 0);
    assert_int_equal(ep_test_write_sysctl("net/ipv4/tcp_tw_reuse", "0"), 0);
    lst = listener_at(&dst);
    t0 = now_s();
    for (unsigned i = 0; i < (unsigned)(rate * run); i++) {
        int c;
        sleep_s(t0 + i / rate - now_s());
        c = client(&any, 0, &dst);
        if (c == -EADDRNOTAVAIL) {
            if (fails++ == 0)
                first_fail = now_s() - t0;
            continue;
        }
        if (c < 0)
            fail_msg("connect #%u: %s", i, strerror(-c));
        close_client_first(c, lst);
        made++;
    }
    close(lst);
    print_message("%u connections, %u EADDRNOTAVAIL (first at %.1f s)\n", made, fails,
                  first_fail);
    if (fails)
        fail_msg("%u of %u connects failed with EADDRNOTAVAIL on %u-%u, the first at %.1f s",
                 fails, made + fails, lo, hi, first_fail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tw_reuse_rule_matches_kernel),
        cmocka_unit_test(plan_suggestion_survives_kernel),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
