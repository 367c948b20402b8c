/* test-host-sticky-bpf.c - the BPF iterator (src/host/sticky-bpf.c) and the
 * kernel's own answer (src/host/sticky.c's TCP_REPAIR probes) agree on
 * which TCP ports are sticky, port by port, in a private namespace holding
 * every kind of socket that takes a port: a listener's accepted child that
 * outlives it, explicit bind + connect (kept and in TIME_WAIT), bind(addr,
 * 0) + connect, IP_BIND_ADDRESS_NO_PORT + connect, plain connects and their
 * TIME_WAIT, IPv6 both ways, a bound-only socket (sock_diag's, not the
 * iterator's), and a bucket an explicit socket joined and left again (the
 * kernel makes it non-sticky when the last explicit socket goes).  Also:
 * the iterator sees only the namespace it is created in; a snapshot gives
 * the same free counts either way (EP_HOST_NO_BPF forces the probes) and
 * says which way answered; without privileges it says why, and status's
 * numbers become bounds.
 * Suite integration; skips (saying why) when not root, or when the kernel
 * does not mark autobound sockets (before Linux 6.18). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/ephport.h>
#include <ephport/host.h>

#include "ep-host-config.h"
#include "host-internal.h"
#include "kernel-oracle.h"
#include "netns-util.h"
#if EP_HAVE_BPF
#include "bpf-iter.h"
#endif

#define SB_LO 41000
#define SB_HI 41039

/* exit code of a case that must skip */
#define SB_SKIP EP_TEST_SKIP

static int sb_setup(void)
{
    static const char *const locals[] = { "127.0.0.2" };
    static ep_addr remotes[2];
    static const uint16_t rports[2] = { 80, 80 };
    char why[256];
    remotes[0] = ko_addr("127.0.0.1");
    remotes[1] = ko_addr("::1");
    ko_config cfg = {
        .lo = SB_LO, .hi = SB_HI, .local_addrs = locals, .nlocal = 1,
        .remotes = remotes, .remote_ports = rports, .nremote = 2,
    };
    if (!ep_test_enter_private_netns(why, sizeof why) || ko_env_setup(&cfg, why, sizeof why) != 0)
        return ko_fail("namespace setup: %s", why);
    return 0;
}

/* The BPF answer, or SB_SKIP when this kernel cannot give it. */
static int sb_bpf(ep_portset *ports)
{
    char why[300] = "";
    int rc = ep_host_sticky_bpf(SB_LO, SB_HI, ports, why, sizeof why);
    if (rc == -ENOTSUP) {
        fprintf(stderr, "SKIP: %s\n", why);
        return SB_SKIP;
    }
    KO_CHECK(rc == 0, "ep_host_sticky_bpf: %d (%s)", rc, why);
    KO_CHECK(why[0] == '\0', "a reason with success: %s", why);
    return 0;
}

/* BPF and the probes over the whole range agree; bound_only are the
 * bound-only ports (sticky, but in no hash the iterator walks); every port
 * of want is sticky, every port of not_want is not.  0 when all holds. */
static int sb_compare(const char *stage, const ep_portset *bound_only, const uint16_t *want,
                      size_t nwant, const uint16_t *not_want, size_t nnot)
{
    ep_portset bpf, all;
    ep_host_sticky st;
    int rc = sb_bpf(&bpf);
    if (rc)
        return rc;
    ep_portset_clear(&all);
    for (uint32_t p = SB_LO; p <= SB_HI; p++)
        ep_portset_add(&all, (uint16_t)p);
    ep_host_sticky_probe(&all, SB_LO, SB_HI, &st);
    KO_CHECK(st.known, "%s: the probes could not ask: %s", stage, st.why);
    KO_CHECK(st.probes == SB_HI - SB_LO + 1, "%s: %u probes", stage, st.probes);
    for (uint32_t p = SB_LO; p <= SB_HI; p++) {
        bool by_bpf = ep_portset_has(&bpf, (uint16_t)p) || ep_portset_has(bound_only, (uint16_t)p);
        bool by_probe = ep_portset_has(&st.sure, (uint16_t)p);
        KO_CHECK(by_bpf == by_probe, "%s: port %u: BPF says %s, the kernel's probe says %s", stage,
                 p, by_bpf ? "sticky" : "not sticky", by_probe ? "sticky" : "not sticky");
        KO_CHECK(!ep_portset_has(&bpf, (uint16_t)p) || !ep_portset_has(bound_only, (uint16_t)p),
                 "%s: port %u: the iterator saw a bound-only socket", stage, p);
    }
    for (size_t i = 0; i < nwant; i++)
        KO_CHECK(ep_portset_has(&st.sure, want[i]), "%s: port %u should be sticky", stage, want[i]);
    for (size_t i = 0; i < nnot; i++)
        KO_CHECK(!ep_portset_has(&st.sure, not_want[i]), "%s: port %u should not be sticky", stage,
                 not_want[i]);
    fprintf(stderr, "%s: BPF and %u probes agree (%u sticky)\n", stage, st.probes,
            ep_portset_count(&st.sure, SB_LO, SB_HI));
    return 0;
}

static int sb_port_of(int h)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(ko_fd(h), (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A TCP socket: bind (addr, port) unless addr is NULL, then connect. */
static int sb_conn(uint8_t family, unsigned flags, const char *addr, uint16_t port,
                   const char *remote)
{
    ep_addr r = ko_addr(remote);
    int h = ko_socket(EP_PROTO_TCP, family, flags, 0);
    if (h < 0)
        return -1;
    if (addr) {
        ep_addr l = ko_addr(addr);
        if (ko_bind(h, &l, port, 0, NULL) != 0)
            return -1;
    }
    return ko_connect(h, &r, 80, 0, NULL, NULL) == 0 ? h : -1;
}

static int sb_agree(void)
{
    ep_portset bound_only;
    int h, rc;

    if (sb_setup() != 0)
        return 1;
    ep_portset_clear(&bound_only);
    /* Fixed ports first, then the kernel's choices (which then cannot
     * collide with them). */
    ep_addr lo1 = ko_addr("127.0.0.1"), l2 = ko_addr("127.0.0.2");
    /* an autobound bucket an explicit socket joins (both SO_REUSEADDR) */
    const uint16_t joined = 41039;
    int ha = ko_socket(EP_PROTO_TCP, AF_INET, KO_REUSEADDR, 0);
    KO_CHECK(ha >= 0 && ko_connect(ha, &lo1, 80, joined, NULL, NULL) == 0, "autobound %u", joined);
    int hj = ko_socket(EP_PROTO_TCP, AF_INET, KO_REUSEADDR, 0);
    KO_CHECK(hj >= 0 && ko_bind(hj, &lo1, joined, 0, NULL) == 0, "join port %u", joined);
    ep_portset_add(&bound_only, joined); /* bound-only: sock_diag's to see */
    /* a listener in the range (its accepted child comes below) */
    int hl = ko_socket(EP_PROTO_TCP, AF_INET, 0, 0);
    KO_CHECK(hl >= 0 && ko_bind(hl, &l2, 41036, 0, NULL) == 0 && ko_listen(hl) == 0, "listener");
    /* explicit bind + connect: kept, and in TIME_WAIT; IPv6 in TIME_WAIT */
    KO_CHECK(sb_conn(AF_INET, KO_REUSEADDR, "127.0.0.1", 41030, "127.0.0.1") >= 0, "bound 41030");
    h = sb_conn(AF_INET, KO_REUSEADDR, "127.0.0.1", 41031, "127.0.0.1");
    KO_CHECK(h >= 0 && ko_close(h, KO_CLOSE_ACTIVE) == 0, "bound 41031 to TIME_WAIT");
    h = sb_conn(AF_INET6, KO_REUSEADDR | KO_V6ONLY, "::1", 41033, "::1");
    KO_CHECK(h >= 0 && ko_close(h, KO_CLOSE_ACTIVE) == 0, "v6 bound 41033 to TIME_WAIT");
    /* bound only (on 127.0.0.1 without SO_REUSEADDR: no bind(127.0.0.1, 0)
     * below can share it) */
    h = ko_socket(EP_PROTO_TCP, AF_INET, 0, 0);
    KO_CHECK(h >= 0 && ko_bind(h, &lo1, 41037, 0, NULL) == 0, "bound-only");
    ep_portset_add(&bound_only, 41037);
    /* bind(addr, 0) then connect: the port came from bind */
    h = sb_conn(AF_INET, 0, "127.0.0.1", 0, "127.0.0.1");
    KO_CHECK(h >= 0, "bind(addr, 0) + connect");
    int bind0 = sb_port_of(h);
    /* the listener's child outlives it: it keeps the bucket explicit */
    h = ko_socket(EP_PROTO_TCP, AF_INET, 0, 0);
    KO_CHECK(h >= 0 && ko_connect(h, &l2, 41036, 0, NULL, NULL) == 0, "connect to the listener");
    int child_client = sb_port_of(h);
    KO_CHECK(ko_close(hl, KO_CLOSE_RESET) == 0, "close listener");
    /* IP_BIND_ADDRESS_NO_PORT: the port came from connect */
    h = sb_conn(AF_INET, KO_NO_PORT, "127.0.0.1", 0, "127.0.0.1");
    KO_CHECK(h >= 0, "NO_PORT bind + connect");
    int no_port = sb_port_of(h);
    /* plain connects, one closed into TIME_WAIT; IPv6 */
    int plain[3];
    for (int i = 0; i < 3; i++) {
        KO_CHECK((h = sb_conn(AF_INET, 0, NULL, 0, "127.0.0.1")) >= 0, "plain %d", i);
        plain[i] = sb_port_of(h);
        if (i == 0)
            KO_CHECK(ko_close(h, KO_CLOSE_ACTIVE) == 0, "plain to TIME_WAIT");
    }
    KO_CHECK((h = sb_conn(AF_INET6, KO_V6ONLY, NULL, 0, "::1")) >= 0, "v6 plain");
    int plain6 = sb_port_of(h);

    uint16_t want[] = { 41030, 41031, (uint16_t)bind0, 41033, 41036, joined };
    uint16_t not_want[] = { (uint16_t)no_port, (uint16_t)plain[0], (uint16_t)plain[1],
                            (uint16_t)plain[2], (uint16_t)plain6, (uint16_t)child_client };
    rc = sb_compare("every kind of socket", &bound_only, want, 6, not_want, 6);
    if (rc)
        return rc;
    /* the explicit socket leaves: the bucket is the autobound one's again */
    KO_CHECK(ko_close(hj, KO_CLOSE_RESET) == 0, "close the joined socket");
    ep_portset_remove(&bound_only, joined);
    uint16_t not_any_more[] = { joined };
    return sb_compare("after the explicit socket left", &bound_only, want, 5, not_any_more, 1);
}

static int sb_netns(void)
{
    ep_portset seen;
    ep_addr lo1 = ko_addr("127.0.0.1");
    char why[256];
    int rc, ns_a, h;

    if (sb_setup() != 0)
        return 1;
    ns_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    KO_CHECK(ns_a >= 0, "open namespace A");
    h = ko_socket(EP_PROTO_TCP, AF_INET, 0, 0);
    KO_CHECK(h >= 0 && ko_bind(h, &lo1, 41010, 0, NULL) == 0 && ko_listen(h) == 0, "listen in A");
    if (!ep_test_enter_private_netns(why, sizeof why))
        return ko_fail("namespace B: %s", why);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(41011),
                               .sin_addr.s_addr = htonl(0x7f000001) };
    KO_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(fd, 1) == 0,
             "listen in B");
    if ((rc = sb_bpf(&seen)) != 0)
        return rc;
    KO_CHECK(ep_portset_has(&seen, 41011) && !ep_portset_has(&seen, 41010) &&
             ep_portset_count(&seen, SB_LO, SB_HI) == 1, "namespace B sees A's listener, or not its own");
    KO_CHECK(setns(ns_a, CLONE_NEWNET) == 0, "back to A");
    if ((rc = sb_bpf(&seen)) != 0)
        return rc;
    KO_CHECK(ep_portset_has(&seen, 41010) && !ep_portset_has(&seen, 41011) &&
             ep_portset_count(&seen, SB_LO, SB_HI) == 1, "namespace A sees B's listener, or not its own");
    fprintf(stderr, "each namespace's iterator saw its own listener only\n");
    return 0;
}

/* A snapshot with flags; its TCP destinations' free counts into out. */
static int sb_snapshot(unsigned flags, int64_t *free_out, size_t *n, ep_host_bound *b,
                       char *method, size_t mlen)
{
    ep_host_options o;
    ep_host_snapshot *snap;
    size_t nd;
    ep_host_options_init(&o);
    o.flags = flags;
    KO_CHECK(ep_host_snapshot_take(&o, &snap) == 0, "snapshot");
    const ep_host_dest *d = ep_host_snapshot_dests(snap, &nd, NULL);
    *n = 0;
    for (size_t i = 0; i < nd && *n < 8; i++)
        if (d[i].proto == EP_PROTO_TCP)
            free_out[(*n)++] = d[i].free;
    *b = *ep_host_snapshot_bound(snap);
    snprintf(method, mlen, "%s", b->sticky_method ? b->sticky_method : "(none)");
    b->sticky_method = b->sticky_why = NULL; /* owned by snap */
    b->tcp_set = b->udp_set = b->listen_set = NULL;
    ep_host_snapshot_free(snap);
    return 0;
}

static int sb_snapshots(void)
{
    int64_t f1[8], f2[8];
    size_t n1, n2;
    ep_host_bound b1, b2;
    char m1[16], m2[16];
    ep_portset unused;
    int h, rc;

    if (sb_setup() != 0)
        return 1;
    if ((rc = sb_bpf(&unused)) != 0)
        return rc;
    /* explicit ports first, so that no autobound socket holds them too */
    for (int i = 0; i < 6; i++) {
        h = sb_conn(AF_INET, KO_REUSEADDR, "127.0.0.1", (uint16_t)(41020 + i), "127.0.0.1");
        KO_CHECK(h >= 0 && (i % 2 || ko_close(h, KO_CLOSE_ACTIVE) == 0), "bound %d", i);
    }
    for (int i = 0; i < 6; i++) {
        h = sb_conn(i % 2 ? AF_INET : AF_INET6, 0, NULL, 0, i % 2 ? "127.0.0.1" : "::1");
        KO_CHECK(h >= 0 && (i % 2 || ko_close(h, KO_CLOSE_ACTIVE) == 0), "plain %d", i);
    }
    KO_CHECK(sb_snapshot(0, f1, &n1, &b1, m1, sizeof m1) == 0, "snapshot with BPF");
    KO_CHECK(sb_snapshot(EP_HOST_NO_BPF, f2, &n2, &b2, m2, sizeof m2) == 0, "snapshot with probes");
    fprintf(stderr, "BPF: method %s, %lld sticky, %u probes; probes: method %s, %lld sticky, %u "
                    "probes; %zu TCP destinations\n", m1, (long long)b1.sticky_ports,
            b1.sticky_probes, m2, (long long)b2.sticky_ports, b2.sticky_probes, n1);
    KO_CHECK(strcmp(m1, "bpf") == 0 && b1.sticky_probes == 0, "the snapshot did not use BPF");
    KO_CHECK(strcmp(m2, "probe") == 0 && b2.sticky_probes > 0, "EP_HOST_NO_BPF did not probe");
    KO_CHECK(b1.sticky_known && b2.sticky_known, "not exact");
    KO_CHECK(b1.sticky_ports == b2.sticky_ports && b1.sticky_ports == 6,
             "sticky ports: %lld with BPF, %lld with probes", (long long)b1.sticky_ports,
             (long long)b2.sticky_ports);
    KO_CHECK(n1 == n2 && n1 == 2, "destinations: %zu and %zu", n1, n2);
    for (size_t i = 0; i < n1; i++)
        KO_CHECK(f1[i] == f2[i], "destination %zu: free %lld with BPF, %lld with probes", i,
                 (long long)f1[i], (long long)f2[i]);
    return 0;
}

/* Without privileges neither way can ask: the reasons are given, and the
 * snapshot's free counts are lower bounds. */
static int sb_unprivileged(void)
{
    ep_portset ports;
    char why[300] = "";
    int64_t f[8];
    size_t n;
    ep_host_bound b;
    char m[16];
    int h;

    if (sb_setup() != 0)
        return 1;
    h = sb_conn(AF_INET, KO_REUSEADDR, "127.0.0.1", 41020, "127.0.0.1");
    KO_CHECK(h >= 0 && sb_conn(AF_INET6, 0, NULL, 0, "::1") >= 0, "sockets");
    KO_CHECK(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0,
             "drop root");
    int rc = ep_host_sticky_bpf(SB_LO, SB_HI, &ports, why, sizeof why);
    fprintf(stderr, "unprivileged: %d, %s\n", rc, why);
    if (EP_HAVE_BPF) {
        KO_CHECK(rc == -EPERM && strstr(why, "CAP_BPF") != NULL, "want -EPERM naming CAP_BPF");
#if EP_HAVE_BPF
        /* without the capabilities, a refusal of either kind asks for them */
        KO_CHECK(!ep_bpf_privileged(), "nobody counted as privileged");
        KO_CHECK(ep_bpf_fail(-EACCES, why, sizeof why, "loading") == -EACCES &&
                     strstr(why, "CAP_BPF") != NULL,
                 "EACCES unprivileged: %s", why);
#endif
    } else
        KO_CHECK(rc == -ENOTSUP && strstr(why, "without BPF") != NULL, "want -ENOTSUP");
    KO_CHECK(ep_portset_count(&ports, SB_LO, SB_HI) == 0, "ports with a failure");
    KO_CHECK(sb_snapshot(0, f, &n, &b, m, sizeof m) == 0, "snapshot");
    KO_CHECK(!b.sticky_known && strcmp(m, "(none)") == 0 && b.sticky_unknown > 0,
             "unprivileged snapshot claims to know (method %s)", m);
    return 0;
}

/* Each case in a child process of its own (netns-util.c). */
static int sb_call(const void *arg)
{
    int (*const *fn)(void) = arg;
    return (*fn)();
}

static void sb_case(int (*fn)(void))
{
    ep_test_forked_case("a private network namespace, BPF, TCP_REPAIR", sb_call, &fn);
}

static void bpf_agrees_with_probes(void **state)
{
    (void)state;
    sb_case(sb_agree);
}

static void bpf_sees_its_namespace_only(void **state)
{
    (void)state;
    sb_case(sb_netns);
}

static void snapshot_same_either_way(void **state)
{
    (void)state;
    sb_case(sb_snapshots);
}

/* With the capabilities, a refusal is the kernel's: the sentence says
 * which (the verifier, or lockdown / a security module), not "needs
 * CAP_BPF", which sent a privileged user looking in the wrong place. */
static int sb_privileged_refusal(void)
{
#if EP_HAVE_BPF
    char why[300];
    KO_CHECK(ep_bpf_privileged(), "root not counted as privileged");
    KO_CHECK(ep_bpf_fail(-EACCES, why, sizeof why, "loading the walk") == -EACCES, "rc");
    KO_CHECK(strstr(why, "loading the walk") && strstr(why, "verifier") && !strstr(why, "needs CAP"),
             "EACCES as root: %s", why);
    KO_CHECK(ep_bpf_fail(-EPERM, why, sizeof why, "loading the walk") == -EPERM, "rc");
    KO_CHECK(strstr(why, "locked-down") && !strstr(why, "needs CAP"), "EPERM as root: %s", why);
    KO_CHECK(ep_bpf_fail(-E2BIG, why, sizeof why, "loading the walk") == -E2BIG &&
                 strstr(why, strerror(E2BIG)),
             "E2BIG: %s", why);
#endif
    return 0;
}

static void privileged_refusal_says_whose(void **state)
{
    (void)state;
    if (!EP_HAVE_BPF) {
        fprintf(stderr, "SKIP: built without BPF: no loader to describe\n");
        skip();
    }
    sb_case(sb_privileged_refusal);
}

static void unprivileged_says_why(void **state)
{
    (void)state;
    sb_case(sb_unprivileged);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bpf_agrees_with_probes),
        cmocka_unit_test(bpf_sees_its_namespace_only),
        cmocka_unit_test(snapshot_same_either_way),
        cmocka_unit_test(unprivileged_says_why),
        cmocka_unit_test(privileged_refusal_says_whose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
