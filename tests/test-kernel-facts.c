/* test-kernel-facts.c - the kernel facts the engine's linux mode follows,
 * pinned on the real kernel (suite integration).  Each case runs in a
 * forked child inside a fresh private network namespace (its TIME_WAIT
 * sockets die with it), mostly on the one-port range 40000 so the verdict
 * is forced, and checks the kernel's exact errno.  The facts are listed
 * with the kernel function behind each in docs/LINUX-FACTS.md; the cases
 * go through tests/kernel-oracle.[ch], so they test the oracle too.
 *
 * Skips (SKIP line on stderr) only when not root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kernel-oracle.h"
#include "netns-util.h"

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define P 40000  /* the one port of most cases */

/* ---- the per-case child ------------------------------------------------ */

static int failures;

static const char *rc_text(int rc)
{
    static char buf[4][160];
    static int i;
    i = (i + 1) % 4;
    if (rc == KO_EHARNESS)
        snprintf(buf[i], sizeof buf[i], "HARNESS ERROR (%s)", ko_harness_error());
    else if (rc < 0)
        snprintf(buf[i], sizeof buf[i], "-%s", strerrorname_np(-rc) ? strerrorname_np(-rc) : "?");
    else
        snprintf(buf[i], sizeof buf[i], "%d", rc);
    return buf[i];
}

static int expect_at(int got, int want, const char *what, int line)
{
    if (got != want) {
        fprintf(stderr, "line %d: %s -> %s, want %s\n", line, what, rc_text(got), rc_text(want));
        failures++;
    }
    return got;
}
#define EXPECT(expr, want) expect_at((expr), (want), #expr, __LINE__)

/* A handle, or a failure counted (and -1, which every later call refuses). */
static int sock_at(uint8_t proto, uint8_t family, unsigned flags, uint32_t owner, int line)
{
    int h = ko_socket(proto, family, flags, owner);
    if (h < 0) {
        fprintf(stderr, "line %d: ko_socket -> %s\n", line, rc_text(h));
        failures++;
    }
    return h;
}
#define SOCK(proto, flags) sock_at((proto), AF_INET, (flags), 0, __LINE__)
#define SOCK6(proto, flags) sock_at((proto), AF_INET6, (flags), 0, __LINE__)
#define SOCK_AS(proto, flags, owner) sock_at((proto), AF_INET, (flags), (owner), __LINE__)

/* The addresses every case has: L1, L2 local loopback addresses; D the
 * listeners' address (ports 80-82); X1 -> X2:83 a pair on lo outside
 * 127/8; ANY4 / ANY6 wildcards; V6 = ::1 (listener port 85). */
static ep_addr L1, L2, D, X1, X2, ANY4, ANY6, V6;

typedef struct fact_env {
    uint16_t lo, hi;
    int tw_reuse;
    const char *reserved;
} fact_env;

/* Run body in a child in a fresh namespace set up as env says; the case
 * fails if any expectation inside does. */
static void run_fact(const fact_env *env, void (*body)(void))
{
    static const char *const locals[] = { "127.0.0.2", "10.9.0.1", "10.9.0.2", "fd00::1" };
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: needs root (a private network namespace, setfsuid, TCP_REPAIR)\n");
        skip();
    }
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char why[256];
        ep_addr remotes[6];
        uint16_t rports[6] = { 80, 81, 82, 83, 84, 85 };
        alarm(60);
        L1 = ko_addr("127.0.0.1");
        L2 = ko_addr("127.0.0.2");
        D = ko_addr("127.0.0.1");
        X1 = ko_addr("10.9.0.1");
        X2 = ko_addr("10.9.0.2");
        ANY4 = ko_addr("0.0.0.0");
        ANY6 = ko_addr("::");
        V6 = ko_addr("::1");
        remotes[0] = remotes[1] = remotes[2] = D;
        remotes[3] = X2;
        remotes[4] = ko_addr("127.0.0.3");
        remotes[5] = V6;
        ko_config cfg = {
            .lo = env->lo, .hi = env->hi, .reserved = env->reserved,
            .tw_reuse = env->tw_reuse, .tw_reuse_delay_ms = 50,
            .local_addrs = locals, .nlocal = 4,
            .remotes = remotes, .remote_ports = rports, .nremote = 6,
        };
        if (!ep_test_enter_private_netns(why, sizeof why) ||
            ko_env_setup(&cfg, why, sizeof why) != 0) {
            fprintf(stderr, "namespace setup: %s\n", why);
            _exit(2);
        }
        body();
        ko_env_teardown();
        _exit(failures ? 1 : 0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static const fact_env one_port = { P, P, 1, NULL };
static const fact_env tw0 = { P, P, 0, NULL }, tw1 = { P, P, 1, NULL }, tw2 = { P, P, 2, NULL };

#define FACT(name, env)                        \
    static void name##_body(void);             \
    static void name(void **state)             \
    {                                          \
        (void)state;                           \
        run_fact(&(env), name##_body);         \
    }                                          \
    static void name##_body(void)

/* A TCP connect from an unbound socket through only port P; the port. */
static int autobind(const ep_addr *local, const ep_addr *remote, uint16_t rport)
{
    int h = ko_socket(TCP, remote->family, local ? KO_NO_PORT : 0, 0);
    if (h < 0)
        return h;
    if (local) {
        int rc = ko_bind(h, local, 0, 0, NULL);
        if (rc != 0)
            return rc;
    }
    return ko_connect(h, remote, rport, P, NULL, NULL);
}

/* ---- (a) UDP: udp_lib_get_port / udp_lib_lport_inuse ------------------ */

/* connect() on an unbound UDP socket autobinds with the wildcard address,
 * before the route gives it a source: a socket on ANY local address on
 * the port blocks it, and exhaustion is EAGAIN. */
FACT(udp_autobind_is_wildcard, one_port)
{
    int x = SOCK(UDP, 0);
    EXPECT(ko_bind(x, &L2, P, 0, NULL), 0);
    EXPECT(ko_connect(SOCK(UDP, 0), &D, 53, 0, NULL, NULL), -EAGAIN);
    /* bind(addr, 0) looks at that address (and wildcards) only. */
    EXPECT(ko_bind(SOCK(UDP, 0), &L1, 0, 0, NULL), 0);
}

/* An autobound UDP port is not shared across destinations; once
 * connected, the socket holds the route's source address, not the
 * wildcard. */
FACT(udp_port_not_shared_across_destinations, one_port)
{
    ep_addr local, d2 = ko_addr("127.0.0.3");
    uint16_t port = 0;
    EXPECT(ko_connect(SOCK(UDP, 0), &D, 53, 0, &local, &port), 0);
    assert_int_equal(port, P);
    assert_true(ep_addr_equal(&local, &L1));
    EXPECT(ko_connect(SOCK(UDP, 0), &d2, 53, 0, NULL, NULL), -EAGAIN);
    EXPECT(ko_bind(SOCK(UDP, 0), &L1, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK(UDP, 0), &ANY4, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK(UDP, 0), &L2, P, 0, NULL), 0);
}

/* SO_REUSEADDR on both: autobound sockets share the port, to other
 * destinations and to the same one (no 4-tuple check); one without it is
 * refused. */
FACT(udp_reuseaddr_shares, one_port)
{
    ep_addr d2 = ko_addr("127.0.0.3");
    EXPECT(ko_connect(SOCK(UDP, KO_REUSEADDR), &D, 53, 0, NULL, NULL), 0);
    EXPECT(ko_connect(SOCK(UDP, KO_REUSEADDR), &d2, 53, 0, NULL, NULL), 0);
    EXPECT(ko_connect(SOCK(UDP, KO_REUSEADDR), &D, 53, 0, NULL, NULL), 0);
    EXPECT(ko_connect(SOCK(UDP, 0), &D, 54, 0, NULL, NULL), -EAGAIN);
}

/* Two explicitly bound UDP sockets connected to the same 4-tuple, both
 * with SO_REUSEADDR: allowed.  Then bind(addr, 0) with SO_REUSEADDR beside
 * them takes the only port (UDP's bind(0) honours SO_REUSEADDR). */
FACT(udp_same_four_tuple_and_bind0_share, one_port)
{
    uint16_t port = 0;
    int y = SOCK(UDP, KO_REUSEADDR), z = SOCK(UDP, KO_REUSEADDR);
    EXPECT(ko_bind(y, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(y, &D, 53, 0, NULL, NULL), 0);
    EXPECT(ko_bind(z, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(z, &D, 53, 0, NULL, NULL), 0);
    EXPECT(ko_bind(SOCK(UDP, KO_REUSEADDR), &L1, 0, 0, &port), 0);
    assert_int_equal(port, P);
    EXPECT(ko_bind(SOCK(UDP, 0), &L1, 0, 0, NULL), -EADDRINUSE);
}

/* No port left: UDP connect() autobind EAGAIN, TCP connect() autobind
 * EADDRNOTAVAIL, bind(addr, 0) EADDRINUSE for both protocols. */
FACT(exhaustion_errnos, one_port)
{
    EXPECT(ko_bind(SOCK(TCP, 0), &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK(TCP, 0), &L1, 0, 0, NULL), -EADDRINUSE);
    EXPECT(ko_connect(SOCK(TCP, 0), &D, 80, 0, NULL, NULL), -EADDRNOTAVAIL);
    EXPECT(ko_bind(SOCK(UDP, 0), &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK(UDP, 0), &L1, 0, 0, NULL), -EADDRINUSE);
    EXPECT(ko_connect(SOCK(UDP, 0), &D, 53, 0, NULL, NULL), -EAGAIN);
}

/* SO_REUSEPORT shares only within one uid; the oracle's owners are uids
 * (setfsuid around socket()), seen on the socket inode. */
FACT(reuseport_same_uid_only, one_port)
{
    struct stat st;
    int y = SOCK_AS(UDP, KO_REUSEPORT, 1);
    assert_int_equal(fstat(ko_fd(y), &st), 0);
    assert_int_equal(st.st_uid, KO_UID_BASE + 1);
    assert_int_equal(fstat(ko_fd(SOCK_AS(TCP, 0, 0)), &st), 0);
    assert_int_equal(st.st_uid, 0);
    EXPECT(ko_bind(y, &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK_AS(UDP, KO_REUSEPORT, 1), &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK_AS(UDP, KO_REUSEPORT, 2), &L1, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK_AS(UDP, KO_REUSEPORT, 0), &L1, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_connect(SOCK_AS(UDP, KO_REUSEPORT, 2), &D, 53, 0, NULL, NULL), -EAGAIN);
    EXPECT(ko_connect(SOCK_AS(UDP, KO_REUSEPORT, 1), &D, 53, 0, NULL, NULL), 0);
    /* TCP the same. */
    EXPECT(ko_bind(SOCK_AS(TCP, KO_REUSEPORT, 1), &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK_AS(TCP, KO_REUSEPORT, 1), &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK_AS(TCP, KO_REUSEPORT, 2), &L1, P, 0, NULL), -EADDRINUSE);
}

/* An AF_INET6 socket on :: without IPV6_V6ONLY holds the port for IPv4
 * too; with IPV6_V6ONLY it does not. */
FACT(dual_stack_wildcard_conflicts_with_ipv4, one_port)
{
    EXPECT(ko_bind(SOCK6(UDP, 0), &ANY6, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK(UDP, 0), &L1, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_connect(SOCK(UDP, 0), &D, 53, 0, NULL, NULL), -EAGAIN);
    EXPECT(ko_bind(SOCK6(UDP, KO_V6ONLY), &ANY6, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK6(TCP, 0), &ANY6, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK(TCP, 0), &L1, P, 0, NULL), -EADDRINUSE);
}

FACT(v6only_wildcard_leaves_ipv4_alone, one_port)
{
    EXPECT(ko_bind(SOCK6(UDP, KO_V6ONLY), &ANY6, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK(UDP, 0), &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK6(TCP, KO_V6ONLY), &ANY6, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK(TCP, 0), &L1, P, 0, NULL), 0);
    /* A dual-stack autobind (connect to ::1) is a wildcard choice too. */
    EXPECT(ko_connect(SOCK6(UDP, 0), &V6, 53, 0, NULL, NULL), -EAGAIN);
}

/* ---- (b) TCP sticky bind buckets: __inet_hash_connect skips a port
 * whose bucket has fastreuse >= 0 or fastreuseport >= 0 -------------- */

static void expect_sticky(int line)
{
    int err = 0;
    if (ko_probe_tcp_port(&L1, &D, 81, P, &err) != 0 || err != EADDRNOTAVAIL ||
        ko_probe_tcp_port(&L2, &D, 81, P, NULL) != 0 ||
        ko_probe_tcp_port(&ANY4, &D, 82, P, NULL) != 0) {
        fprintf(stderr, "line %d: port %d usable to autobind, want sticky\n", line, P);
        failures++;
    }
}

static void expect_free(int line)
{
    if (ko_probe_tcp_port(&L1, &D, 81, P, NULL) != 1 ||
        ko_probe_tcp_port(&L2, &D, 81, P, NULL) != 1) {
        fprintf(stderr, "line %d: port %d not usable to autobind, want free\n", line, P);
        failures++;
    }
}
#define EXPECT_STICKY() expect_sticky(__LINE__)
#define EXPECT_FREE() expect_free(__LINE__)

/* An explicit bind makes the port's bucket sticky: no autobind connect()
 * from ANY local address may use it, with or without SO_REUSEADDR /
 * SO_REUSEPORT, towards any destination. */
FACT(explicit_bind_makes_port_sticky, one_port)
{
    static const unsigned flags[] = { 0, KO_REUSEADDR, KO_REUSEPORT, KO_REUSEADDR | KO_REUSEPORT };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int b = SOCK(TCP, flags[i]);
        EXPECT(ko_bind(b, &L1, P, 0, NULL), 0);
        EXPECT_STICKY();
        EXPECT(autobind(&L1, &D, 81), -EADDRNOTAVAIL);
        EXPECT(autobind(NULL, &D, 81), -EADDRNOTAVAIL);
        int c = SOCK(TCP, flags[i]);
        EXPECT(ko_connect(c, &D, 81, P, NULL, NULL), -EADDRNOTAVAIL);
        EXPECT(ko_close(b, KO_CLOSE_ACTIVE), 0);
        EXPECT_FREE();  /* never connected: its bucket went with it */
    }
}

/* ... the bound socket connecting keeps it sticky; its TIME_WAIT too
 * (tw_reuse does not matter: the bucket is skipped before any 4-tuple
 * check); a passive close (no TIME_WAIT here) frees it. */
FACT(sticky_while_connected_and_in_time_wait, one_port)
{
    int b = SOCK(TCP, 0);
    EXPECT(ko_bind(b, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(b, &D, 80, 0, NULL, NULL), 0);
    EXPECT_STICKY();
    EXPECT(ko_close(b, KO_CLOSE_ACTIVE), 0);
    ko_msleep(120);  /* past tcp_tw_reuse_delay */
    EXPECT_STICKY();
    b = SOCK(TCP, 0);
    EXPECT(ko_bind(b, &L2, P, 0, NULL), 0);  /* another address: no conflict */
    EXPECT(ko_connect(b, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_close(b, KO_CLOSE_PASSIVE), 0);
    EXPECT_STICKY();  /* the first one's TIME_WAIT still holds it */
}

FACT(passive_close_releases_sticky_port, one_port)
{
    int b = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_bind(b, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(b, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_close(b, KO_CLOSE_PASSIVE), 0);
    EXPECT_FREE();
    b = SOCK(TCP, 0);
    EXPECT(ko_bind(b, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(b, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_close(b, KO_CLOSE_RESET), 0);
    EXPECT_FREE();
}

/* bind(addr, 0): the port chosen by inet_csk_get_port is sticky exactly
 * like an explicit one.  IP_BIND_ADDRESS_NO_PORT defers the choice to
 * connect() (inet_hash_connect): not sticky. */
FACT(bind0_sticky_no_port_not, one_port)
{
    uint16_t port = 0;
    int b = SOCK(TCP, 0);
    EXPECT(ko_bind(b, &L1, 0, 0, &port), 0);
    assert_int_equal(port, P);
    EXPECT_STICKY();
    EXPECT(ko_close(b, KO_CLOSE_ACTIVE), 0);
    int n = SOCK(TCP, KO_NO_PORT);
    EXPECT(ko_bind(n, &L1, 0, 0, &port), 0);
    assert_int_equal(port, 0);
    EXPECT(ko_connect(n, &D, 80, 0, NULL, &port), 0);
    assert_int_equal(port, P);
    EXPECT_FREE();
    EXPECT(autobind(&L2, &D, 81), 0);
    EXPECT(autobind(NULL, &D, 82), 0);
}

/* A bind that joins a bucket made by connect() autobind (another address,
 * SO_REUSEADDR) makes it sticky; on Linux 6.18 ("Update bind bucket state
 * on port release", SOCK_CONNECT_BIND) the bucket becomes usable again
 * once only connect()-autobound owners are left. */
FACT(joining_bind_sticky_until_released, one_port)
{
    static const unsigned flags[] = { KO_REUSEADDR, KO_REUSEADDR | KO_REUSEPORT };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int c = SOCK(TCP, flags[i]);
        uint16_t port = 0;
        EXPECT(ko_connect(c, &D, 80, 0, NULL, &port), 0);
        assert_int_equal(port, P);
        EXPECT(ko_probe_tcp_port(&L1, &D, 81, P, NULL), 1);
        int b = SOCK(TCP, flags[i]);
        EXPECT(ko_bind(b, &L2, P, 0, NULL), 0);
        EXPECT(ko_probe_tcp_port(&L1, &D, 81, P, NULL), 0);
        EXPECT(ko_close(b, KO_CLOSE_ACTIVE), 0);
        EXPECT(ko_probe_tcp_port(&L1, &D, 81, P, NULL), 1);
        EXPECT(ko_close(c, KO_CLOSE_RESET), 0);
    }
}

/* ---- (c) bind-then-connect onto a TIME_WAIT 4-tuple: takeover -------- */

/* __inet_hash_connect with a bound port asks __inet_check_established
 * without a twp, and tcp_twsk_unique then reuses any TIME_WAIT with
 * timestamps, at once, whatever tcp_tw_reuse says (loopback or not). */
static void takeover_body(void)
{
    int c = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_connect(c, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_close(c, KO_CLOSE_ACTIVE), 0);
    int b = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_bind(b, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(b, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_close(b, KO_CLOSE_RESET), 0);  /* its bucket was sticky */
    /* The same off loopback (10.9.0.1 -> 10.9.0.2, both on lo). */
    c = SOCK(TCP, KO_REUSEADDR | KO_NO_PORT);
    EXPECT(ko_bind(c, &X1, 0, 0, NULL), 0);
    EXPECT(ko_connect(c, &X2, 83, 0, NULL, NULL), 0);
    EXPECT(ko_close(c, KO_CLOSE_ACTIVE), 0);
    b = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_bind(b, &X1, P, 0, NULL), 0);
    EXPECT(ko_connect(b, &X2, 83, 0, NULL, NULL), 0);
}

static void bind_connect_takes_over_time_wait(void **state)
{
    (void)state;
    for (int twr = 0; twr <= 2; twr++) {
        fact_env env = { P, P, twr, NULL };
        run_fact(&env, takeover_body);
    }
}

/* The bind itself needs SO_REUSEADDR on both: a TIME_WAIT of a client
 * without it refuses bind(addr, p) (inet_csk_bind_conflict). */
FACT(time_wait_without_reuseaddr_refuses_bind, one_port)
{
    int c = SOCK(TCP, 0);
    EXPECT(ko_connect(c, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_close(c, KO_CLOSE_ACTIVE), 0);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &L1, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK(TCP, 0), &L1, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &L2, P, 0, NULL), 0);
}

/* A bind-then-connect onto a 4-tuple that is in use (not TIME_WAIT):
 * __inet_check_established finds it, EADDRNOTAVAIL; another destination
 * from the same bound port is fine. */
FACT(bind_connect_onto_established_tuple, one_port)
{
    int x = SOCK(TCP, KO_REUSEADDR), y = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_bind(x, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(x, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_bind(y, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(y, &D, 80, 0, NULL, NULL), -EADDRNOTAVAIL);
    EXPECT(ko_connect(y, &D, 81, 0, NULL, NULL), 0);
}

/* A TIME_WAIT of a SO_REUSEADDR socket is no obstacle to a SO_REUSEADDR
 * bind or listen on its address (a TIME_WAIT is never listening); bind(addr,
 * 0) still avoids it (no relaxed check without ip_autobind_reuse). */
FACT(reuseaddr_time_wait_allows_bind_and_listen, one_port)
{
    int x = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_bind(x, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(x, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_close(x, KO_CLOSE_ACTIVE), 0);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &L1, 0, 0, NULL), -EADDRINUSE);
    int y = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_bind(y, &L1, P, 0, NULL), 0);
    EXPECT(ko_listen(y), 0);
}

/* SO_REUSEPORT beside a SO_REUSEPORT TIME_WAIT: the uid of a TIME_WAIT is
 * not compared (inet_bind_conflict), so another owner may bind. */
FACT(reuseport_beside_time_wait_of_any_uid, one_port)
{
    int x = SOCK_AS(TCP, KO_REUSEPORT, 1);
    EXPECT(ko_bind(x, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(x, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_close(x, KO_CLOSE_ACTIVE), 0);
    EXPECT(ko_bind(SOCK_AS(TCP, KO_REUSEPORT, 2), &L1, P, 0, NULL), 0);
}

/* The server side's TIME_WAIT (the client closed second) does not stop the
 * client from using the same 4-tuple again at once, tcp_tw_reuse 0: the
 * server's TIME_WAIT accepts the new SYN (timestamps). */
FACT(server_side_time_wait_does_not_block, tw0)
{
    for (int i = 0; i < 3; i++) {
        int c = SOCK(TCP, 0);
        uint16_t port = 0;
        EXPECT(ko_connect(c, &D, 80, 0, NULL, &port), 0);
        assert_int_equal(port, P);
        EXPECT(ko_close(c, KO_CLOSE_PASSIVE), 0);
    }
}

/* ---- (d) listen: inet_csk_listen_start re-checks with inet_csk_get_port */

FACT(listen_beside_reuseaddr_neighbours, one_port)
{
    int x = SOCK(TCP, KO_REUSEADDR), y = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_bind(x, &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(y, &L1, P, 0, NULL), 0);
    EXPECT(ko_listen(y), 0);             /* neighbour bound, not listening */
    EXPECT(ko_listen(x), -EADDRINUSE);   /* neighbour now listening */
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &L1, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &ANY4, P, 0, NULL), -EADDRINUSE);
    int v = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_bind(v, &L2, P, 0, NULL), 0);
    EXPECT(ko_listen(v), 0);
}

FACT(listen_wildcard_after_specific, one_port)
{
    int x = SOCK(TCP, KO_REUSEADDR), y = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_bind(x, &ANY4, P, 0, NULL), 0);
    EXPECT(ko_bind(y, &L1, P, 0, NULL), 0);
    EXPECT(ko_listen(y), 0);
    EXPECT(ko_listen(x), -EADDRINUSE);
}

/* ---- (e) SO_REUSEPORT beside a connected socket of the same uid ------- */

FACT(reuseport_beside_connected_same_uid, one_port)
{
    int x = SOCK_AS(TCP, KO_REUSEPORT, 1);
    EXPECT(ko_bind(x, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(x, &D, 80, 0, NULL, NULL), 0);
    int y = SOCK_AS(TCP, KO_REUSEPORT, 1);
    EXPECT(ko_bind(y, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(y, &D, 81, 0, NULL, NULL), 0);
    EXPECT(ko_bind(SOCK_AS(TCP, KO_REUSEPORT, 2), &L1, P, 0, NULL), -EADDRINUSE);

    int u = SOCK_AS(UDP, KO_REUSEPORT, 1);
    EXPECT(ko_bind(u, &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(u, &D, 53, 0, NULL, NULL), 0);
    EXPECT(ko_bind(SOCK_AS(UDP, KO_REUSEPORT, 1), &L1, P, 0, NULL), 0);
    EXPECT(ko_connect(SOCK_AS(UDP, KO_REUSEPORT, 3), &D, 54, 0, NULL, NULL), -EAGAIN);
}

FACT(reuseport_beside_autobound_same_uid, one_port)
{
    EXPECT(ko_connect(SOCK_AS(TCP, KO_REUSEPORT, 1), &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_bind(SOCK_AS(TCP, KO_REUSEPORT, 1), &L1, P, 0, NULL), 0);
}

/* ---- (f) SO_REUSEADDR beside a connect()ed client --------------------- */

FACT(reuseaddr_beside_client, one_port)
{
    int c = SOCK(TCP, 0);
    EXPECT(ko_connect(c, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &L1, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &ANY4, P, 0, NULL), -EADDRINUSE);
    EXPECT(ko_close(c, KO_CLOSE_RESET), 0);
    c = SOCK(TCP, KO_REUSEADDR);
    EXPECT(ko_connect(c, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &ANY4, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK(TCP, 0), &L1, P, 0, NULL), -EADDRINUSE);
}

/* ---- (g) tcp_tw_reuse for connect() autobind onto a TIME_WAIT --------- */

/* One 4-tuple into TIME_WAIT from `local` (NULL = routing), then: is its
 * port usable again to the same destination right away, and after the
 * 50 ms tcp_tw_reuse_delay?  Results as probe verdicts (1 yes, 0 no). */
static void tw_reuse_check(const ep_addr *local, const ep_addr *remote, uint16_t rport,
                           int want_now, int want_later, int line)
{
    int c = ko_socket(TCP, AF_INET, KO_NO_PORT, 0);
    int now, later, conn;
    if (local)
        expect_at(ko_bind(c, local, 0, 0, NULL), 0, "bind", line);
    expect_at(ko_connect(c, remote, rport, P, NULL, NULL), 0, "connect", line);
    expect_at(ko_close(c, KO_CLOSE_ACTIVE), 0, "close", line);
    now = ko_probe_tcp_port(local, remote, rport, P, NULL);
    ko_msleep(120);
    c = ko_socket(TCP, AF_INET, KO_NO_PORT, 0);
    if (local)
        expect_at(ko_bind(c, local, 0, 0, NULL), 0, "bind", line);
    conn = ko_connect(c, remote, rport, P, NULL, NULL);
    later = conn == 0 ? 1 : conn == -EADDRNOTAVAIL ? 0 : conn;
    expect_at(now, want_now, "TIME_WAIT 4-tuple usable right after the close", line);
    expect_at(later, want_later, "TIME_WAIT 4-tuple usable after tcp_tw_reuse_delay", line);
}


FACT(tw_reuse_0_never, tw0)
{
    tw_reuse_check(&L1, &D, 80, 0, 0, __LINE__);
    tw_reuse_check(&X1, &X2, 83, 0, 0, __LINE__);
}

FACT(tw_reuse_1_after_delay, tw1)
{
    tw_reuse_check(&L1, &D, 80, 0, 1, __LINE__);
    tw_reuse_check(&X1, &X2, 83, 0, 1, __LINE__);
}

/* 2: only when either end's address is loopback (127/8, ::1). */
FACT(tw_reuse_2_loopback_either_end, tw2)
{
    tw_reuse_check(&L1, &D, 80, 0, 1, __LINE__);
    tw_reuse_check(&L1, &X2, 83, 0, 1, __LINE__);   /* one end 127/8 */
    tw_reuse_check(&X1, &X2, 83, 0, 0, __LINE__);   /* both on lo, neither 127/8 */
}

/* A connect that takes over a reusable TIME_WAIT ends it, probe or not. */
FACT(takeover_ends_time_wait, tw1)
{
    int c = SOCK(TCP, 0);
    EXPECT(ko_connect(c, &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_close(c, KO_CLOSE_ACTIVE), 0);
    ko_msleep(120);
    EXPECT(ko_probe_tcp_port(&L1, &D, 80, P, NULL), 1);
    assert_int_equal(ep_test_write_sysctl("net/ipv4/tcp_tw_reuse", "0"), 0);
    EXPECT(ko_probe_tcp_port(&L1, &D, 80, P, NULL), 1);
}

/* ---- (h) bind(addr, 0) and reserved ports ----------------------------- */

/* inet_csk_find_open_port with ip_autobind_reuse = 0: bind(addr, 0) takes
 * no port that any socket on that address (or a wildcard) holds, even
 * with SO_REUSEADDR on both; another address is no conflict. */
FACT(bind0_shares_no_port_on_its_address, one_port)
{
    uint16_t port = 0;
    EXPECT(ko_connect(SOCK(TCP, KO_REUSEADDR), &D, 80, 0, NULL, NULL), 0);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &L1, 0, 0, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK(TCP, KO_REUSEADDR), &L2, 0, 0, &port), 0);
    assert_int_equal(port, P);
    EXPECT(ko_bind(SOCK(TCP, 0), &ANY4, 0, 0, NULL), -EADDRINUSE);
}

static const fact_env reserved_first = { P, P + 1, 1, "40000" };

/* ip_local_reserved_ports: skipped by bind(addr, 0) and by connect()
 * autobind (TCP and UDP), even when IP_LOCAL_PORT_RANGE names only that
 * port; an explicit bind to it works. */
FACT(reserved_ports_skipped_by_autobind_only, reserved_first)
{
    uint16_t port = 0;
    int b = SOCK(TCP, 0);
    EXPECT(ko_bind(b, &L1, 0, 0, &port), 0);
    assert_int_equal(port, P + 1);
    EXPECT(ko_close(b, KO_CLOSE_ACTIVE), 0);
    int c = SOCK(TCP, 0);
    EXPECT(ko_connect(c, &D, 80, 0, NULL, &port), 0);
    assert_int_equal(port, P + 1);
    EXPECT(ko_connect(SOCK(TCP, 0), &D, 81, P, NULL, NULL), -EADDRNOTAVAIL);
    EXPECT(ko_connect(SOCK(UDP, 0), &D, 53, 0, NULL, &port), 0);
    assert_int_equal(port, P + 1);
    EXPECT(ko_connect(SOCK(UDP, 0), &D, 54, P, NULL, NULL), -EAGAIN);
    EXPECT(ko_bind(SOCK(UDP, 0), &L1, 0, P, NULL), -EADDRINUSE);
    EXPECT(ko_bind(SOCK(TCP, 0), &L1, P, 0, NULL), 0);
    EXPECT(ko_bind(SOCK(UDP, 0), &L1, P, 0, NULL), 0);
}

/* ---- the oracle's own promises ---------------------------------------- */

static const fact_env ten_ports = { P, P + 9, 0, NULL };

/* IP_LOCAL_PORT_RANGE [p, p] picks exactly p, IPv4 and IPv6, bind(0) and
 * connect(); the TCP_REPAIR probe leaves nothing behind (the same 4-tuple
 * connects for real with tcp_tw_reuse 0 afterwards); ko_close leaves the
 * active closer in TIME_WAIT and the passive one gone; harness errors are
 * KO_EHARNESS. */
FACT(oracle_promises, ten_ports)
{
    uint16_t port = 0;
    EXPECT(ko_bind(SOCK(TCP, 0), &L1, 0, P + 3, &port), 0);
    assert_int_equal(port, P + 3);
    EXPECT(ko_bind(SOCK6(TCP, 0), &V6, 0, P + 4, &port), 0);
    assert_int_equal(port, P + 4);
    EXPECT(ko_connect(SOCK6(UDP, 0), &V6, 53, P + 5, NULL, &port), 0);
    assert_int_equal(port, P + 5);
    EXPECT(ko_connect(SOCK6(TCP, 0), &V6, 85, P + 6, NULL, &port), 0);
    assert_int_equal(port, P + 6);
    /* An AF_INET6 socket towards an IPv4 listener (::ffff:127.0.0.1) is
     * paired and closed like any other. */
    int m = SOCK6(TCP, 0);
    EXPECT(ko_connect(m, &D, 80, P + 9, NULL, &port), 0);
    assert_int_equal(port, P + 9);
    EXPECT(ko_close(m, KO_CLOSE_ACTIVE), 0);
    EXPECT(ko_probe_tcp_port(&L1, &D, 80, P + 9, NULL), 0);

    EXPECT(ko_probe_tcp_port(&L1, &D, 80, P + 7, NULL), 1);
    EXPECT(ko_probe_tcp_port(&V6, &V6, 85, P + 7, NULL), 1);
    int c = SOCK(TCP, 0);
    EXPECT(ko_connect(c, &D, 80, P + 7, NULL, &port), 0);
    assert_int_equal(port, P + 7);
    EXPECT(ko_close(c, KO_CLOSE_ACTIVE), 0);
    int err = 0;
    EXPECT(ko_probe_tcp_port(&L1, &D, 80, P + 7, &err), 0);  /* its TIME_WAIT */
    assert_int_equal(err, EADDRNOTAVAIL);
    EXPECT(ko_probe_tcp_port(&L1, &D, 81, P + 7, NULL), 1);
    c = SOCK(TCP, 0);
    EXPECT(ko_connect(c, &D, 81, P + 8, NULL, NULL), 0);
    EXPECT(ko_close(c, KO_CLOSE_PASSIVE), 0);
    EXPECT(ko_probe_tcp_port(&L1, &D, 81, P + 8, NULL), 1);
    /* Towards 127.0.0.1:82 every port but the two bound ones (P+3, and
     * P+4 bound on ::1: TCP's bind buckets are per port, both families);
     * P+6 (autobound, connected elsewhere) and P+7 (TIME_WAIT elsewhere)
     * are free to this destination. */
    EXPECT(ko_count_tcp_free(&L1, &D, 82), 8);

    EXPECT(ko_bind(SOCK(TCP, 0), &L1, 0, 1000, NULL), KO_EHARNESS);
    EXPECT(ko_bind(12345, &L1, 0, 0, NULL), KO_EHARNESS);
    EXPECT(ko_connect(SOCK(TCP, 0), &ANY4, 80, 0, NULL, NULL), KO_EHARNESS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(udp_autobind_is_wildcard),
        cmocka_unit_test(udp_port_not_shared_across_destinations),
        cmocka_unit_test(udp_reuseaddr_shares),
        cmocka_unit_test(udp_same_four_tuple_and_bind0_share),
        cmocka_unit_test(exhaustion_errnos),
        cmocka_unit_test(reuseport_same_uid_only),
        cmocka_unit_test(dual_stack_wildcard_conflicts_with_ipv4),
        cmocka_unit_test(v6only_wildcard_leaves_ipv4_alone),
        cmocka_unit_test(explicit_bind_makes_port_sticky),
        cmocka_unit_test(sticky_while_connected_and_in_time_wait),
        cmocka_unit_test(passive_close_releases_sticky_port),
        cmocka_unit_test(bind0_sticky_no_port_not),
        cmocka_unit_test(joining_bind_sticky_until_released),
        cmocka_unit_test(bind_connect_takes_over_time_wait),
        cmocka_unit_test(time_wait_without_reuseaddr_refuses_bind),
        cmocka_unit_test(bind_connect_onto_established_tuple),
        cmocka_unit_test(reuseaddr_time_wait_allows_bind_and_listen),
        cmocka_unit_test(reuseport_beside_time_wait_of_any_uid),
        cmocka_unit_test(server_side_time_wait_does_not_block),
        cmocka_unit_test(listen_beside_reuseaddr_neighbours),
        cmocka_unit_test(listen_wildcard_after_specific),
        cmocka_unit_test(reuseport_beside_connected_same_uid),
        cmocka_unit_test(reuseport_beside_autobound_same_uid),
        cmocka_unit_test(reuseaddr_beside_client),
        cmocka_unit_test(tw_reuse_0_never),
        cmocka_unit_test(tw_reuse_1_after_delay),
        cmocka_unit_test(tw_reuse_2_loopback_either_end),
        cmocka_unit_test(takeover_ends_time_wait),
        cmocka_unit_test(bind0_shares_no_port_on_its_address),
        cmocka_unit_test(reserved_ports_skipped_by_autobind_only),
        cmocka_unit_test(oracle_promises),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
