/* test-host-truth.c - what `ephport status` shows as free is what the kernel
 * grants.  In a fresh private namespace per case, a scenario of real sockets
 * (bind-before-connect sockets connected and in TIME_WAIT, plain connects and
 * their TIME_WAIT, a listener and a bound-only socket inside the range,
 * reserved ports, UDP sockets) is built; a host snapshot is taken
 * (ep_host_snapshot_take, as status, check, top and the exporter do); then
 * one destination is driven with real connect()s until the kernel says
 * EADDRNOTAVAIL (TCP) or EAGAIN (UDP), and the number that succeeded must
 * equal the free count shown just before.  Cases cover tcp_tw_reuse 0, 1
 * and 2 (TIME_WAIT entries old enough to be taken over), a destination the
 * scenario does not use, and the same snapshot taken without asking the
 * kernel (EP_HOST_NO_PROBE): then free must be a lower bound and free_max
 * an upper bound of what succeeds.  The sticky ports come from the BPF
 * iterator where the kernel has it (Linux 6.18, as root: the snapshot must
 * say "bpf"), and some cases force the TCP_REPAIR probes (EP_HOST_NO_BPF)
 * to check that way too.
 *
 * Before sticky ports were asked of the kernel, status subtracted only
 * LISTEN and bound-only ports: with explicitly bound connections and their
 * TIME_WAIT elsewhere, it showed more free ports than connect() found.
 * Suite integration; skips (saying why) when not root. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/ephport.h>
#include <ephport/host.h>

#include "ep-host-config.h"
#include "kernel-oracle.h"
#include "netns-util.h"

#define HT_LO 40000
#define HT_HI 40039

/* An explicitly bound TCP socket from local:port, connected to remote. */
static int ht_bound_connect(const char *local, uint16_t port, const ep_addr *remote, uint16_t rport)
{
    ep_addr l = ko_addr(local);
    int h = ko_socket(EP_PROTO_TCP, AF_INET, KO_REUSEADDR, 0);
    if (h < 0 || ko_bind(h, &l, port, 0, NULL) != 0 || ko_connect(h, remote, rport, 0, NULL, NULL) != 0)
        return -1;
    return h;
}

static int ht_plain_connect(uint8_t proto, const ep_addr *remote, uint16_t rport)
{
    int h = ko_socket(proto, AF_INET, 0, 0);
    if (h < 0 || ko_connect(h, remote, rport, 0, NULL, NULL) != 0)
        return -1;
    return h;
}

/* The snapshot's destination (proto, local, remote, rport), or NULL. */
static const ep_host_dest *ht_find(const ep_host_snapshot *snap, uint8_t proto, const ep_addr *local,
                                   const ep_addr *remote, uint16_t rport)
{
    size_t n;
    const ep_host_dest *d = ep_host_snapshot_dests(snap, &n, NULL);
    for (size_t i = 0; i < n; i++)
        if (d[i].proto == proto && d[i].remote_port == rport &&
            ep_addr_equal(&d[i].local, local) && ep_addr_equal(&d[i].remote, remote))
            return &d[i];
    return NULL;
}

/* connect() towards remote until the kernel refuses; the count, or -1. */
static int ht_drive(uint8_t proto, const ep_addr *remote, uint16_t rport, int *last)
{
    int n = 0;
    for (;;) {
        int h = ko_socket(proto, AF_INET, 0, 0);
        if (h < 0)
            return -1;
        *last = ko_connect(h, remote, rport, 0, NULL, NULL);
        if (*last != 0)
            return n;
        if (++n > HT_HI - HT_LO + 1)
            return -1;
    }
}

typedef struct ht_case {
    int tw_reuse;
    uint8_t proto;
    const char *remote;     /* the destination driven, from its route's source */
    uint16_t rport;
    bool no_probe;          /* EP_HOST_NO_PROBE: bounds instead of the count */
    bool no_bpf;            /* EP_HOST_NO_BPF: the probes answer */
} ht_case;

/* Should the BPF iterator answer here: built with it, on Linux 6.18+ (the
 * kernel marks autobound sockets)?  Root is checked by the caller. */
static bool ht_bpf_expected(void)
{
    struct utsname u;
    int major = 0, minor = 0;
    if (!EP_HAVE_BPF || uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
        return false;
    return major > 6 || (major == 6 && minor >= 18);
}

/* The scenario, the snapshot, the drive.  0 when they agree. */
static int ht_run(const ht_case *c)
{
    static const char *const locals[] = { "127.0.0.2", "10.9.0.1", "10.9.0.2" };
    ep_addr remotes[4] = { ko_addr("127.0.0.1"), ko_addr("127.0.0.1"), ko_addr("10.9.0.2"),
                           ko_addr("127.0.0.1") };
    uint16_t rports[4] = { 80, 81, 80, 82 };
    ep_addr A = remotes[0], X = remotes[2];
    char why[256];
    ko_config cfg = {
        .lo = HT_LO, .hi = HT_HI, .reserved = "40038-40039", .tw_reuse = c->tw_reuse,
        .tw_reuse_delay_ms = 50, .local_addrs = locals, .nlocal = 3,
        .remotes = remotes, .remote_ports = rports, .nremote = 4,
    };
    if (!ep_test_enter_private_netns(why, sizeof why) || ko_env_setup(&cfg, why, sizeof why) != 0)
        return ko_fail("namespace setup: %s", why);

    /* 4 explicitly bound connections to A:80 from 127.0.0.1, two of them
     * closed first by us (their TIME_WAIT keeps the ports sticky) */
    int hb[4];
    for (int i = 0; i < 4; i++)
        KO_CHECK((hb[i] = ht_bound_connect("127.0.0.1", (uint16_t)(40030 + i), &A, 80)) >= 0,
                 "bound connect %d", i);
    KO_CHECK(ko_close(hb[0], KO_CLOSE_ACTIVE) == 0 && ko_close(hb[1], KO_CLOSE_ACTIVE) == 0,
             "close bound");
    /* one from another address, towards X */
    KO_CHECK(ht_bound_connect("10.9.0.1", 40035, &X, 80) >= 0, "bound connect to X");
    /* plain connects: 6 to A:80 (3 then closed first: autobound TIME_WAIT),
     * 3 to A:81, 2 to X:80 (one closed: a TIME_WAIT reuse=2 does not take) */
    int hp[6];
    for (int i = 0; i < 6; i++)
        KO_CHECK((hp[i] = ht_plain_connect(EP_PROTO_TCP, &A, 80)) >= 0, "plain connect %d", i);
    for (int i = 0; i < 3; i++)
        KO_CHECK(ko_close(hp[i], KO_CLOSE_ACTIVE) == 0, "close plain");
    for (int i = 0; i < 3; i++)
        KO_CHECK(ht_plain_connect(EP_PROTO_TCP, &A, 81) >= 0, "connect to :81");
    int hx = ht_plain_connect(EP_PROTO_TCP, &X, 80);
    KO_CHECK(hx >= 0 && ht_plain_connect(EP_PROTO_TCP, &X, 80) >= 0, "connect to X");
    KO_CHECK(ko_close(hx, KO_CLOSE_ACTIVE) == 0, "close X");
    /* a listener and a bound-only socket in the range */
    ep_addr l2 = ko_addr("127.0.0.2");
    int hl = ko_socket(EP_PROTO_TCP, AF_INET, 0, 0), hbo = ko_socket(EP_PROTO_TCP, AF_INET, 0, 0);
    KO_CHECK(hl >= 0 && ko_bind(hl, &l2, 40036, 0, NULL) == 0 && ko_listen(hl) == 0, "listener");
    KO_CHECK(hbo >= 0 && ko_bind(hbo, &l2, 40037, 0, NULL) == 0, "bound-only");
    /* UDP: 5 connected sockets and one bound */
    for (int i = 0; i < 5; i++)
        KO_CHECK(ht_plain_connect(EP_PROTO_UDP, &A, 53) >= 0, "udp connect %d", i);
    int hu = ko_socket(EP_PROTO_UDP, AF_INET, 0, 0);
    KO_CHECK(hu >= 0 && ko_bind(hu, &l2, 0, 0, NULL) == 0, "udp bind");
    /* past tcp_tw_reuse_delay: reusable TIME_WAIT entries are reusable */
    ko_msleep(150);

    ep_host_options o;
    ep_host_snapshot *snap = NULL;
    ep_host_options_init(&o);
    if (c->no_probe)
        o.flags |= EP_HOST_NO_PROBE;
    if (c->no_bpf)
        o.flags |= EP_HOST_NO_BPF;
    KO_CHECK(ep_host_snapshot_take(&o, &snap) == 0, "snapshot");
    const ep_host_bound *b = ep_host_snapshot_bound(snap);
    ep_addr remote = ko_addr(c->remote), local;
    /* the route's source towards the remote, as a plain connect gets it */
    int probe = ko_socket(EP_PROTO_UDP, AF_INET, 0, 0);
    KO_CHECK(probe >= 0 && ko_connect(probe, &remote, 9, 0, &local, NULL) == 0, "route source");
    ko_close(probe, KO_CLOSE_RESET);
    const ep_host_dest *d = ht_find(snap, c->proto, &local, &remote, c->rport);
    int64_t shown = d ? d->free : -1, shown_max = d ? d->free_max : -1;
    int64_t udp_free = b->udp_free;
    bool known = b->sticky_known;
    char method[16];
    snprintf(method, sizeof method, "%s", b->sticky_method ? b->sticky_method : "none");
    ep_host_snapshot_free(snap);
    KO_CHECK(d != NULL || (c->proto == EP_PROTO_TCP && c->rport == 82),
             "destination %s:%u not in the snapshot", c->remote, c->rport);
    if (!d) {
        /* a destination with no socket is not listed: what would it have?
         * take a fresh snapshot after one connect and add it back */
        KO_CHECK(ht_plain_connect(c->proto, &remote, c->rport) >= 0, "first connect");
        KO_CHECK(ep_host_snapshot_take(&o, &snap) == 0, "second snapshot");
        d = ht_find(snap, c->proto, &local, &remote, c->rport);
        KO_CHECK(d != NULL, "still no destination");
        shown = d->free;
        shown_max = d->free_max;
        known = ep_host_snapshot_bound(snap)->sticky_known;
        b = ep_host_snapshot_bound(snap);
        snprintf(method, sizeof method, "%s", b->sticky_method ? b->sticky_method : "none");
        ep_host_snapshot_free(snap);
    }
    int last = 0;
    int got = ht_drive(c->proto, &remote, c->rport, &last);
    int want_err = c->proto == EP_PROTO_TCP ? -EADDRNOTAVAIL : -EAGAIN;
    fprintf(stderr, "tcp_tw_reuse %d, %s %s:%u%s: shown free %lld (max %lld, %s, sticky ports "
                    "by %s), %d connects succeeded, then %d\n", c->tw_reuse,
            c->proto == EP_PROTO_TCP ? "tcp" : "udp", c->remote, c->rport,
            c->no_probe ? " without asking" : c->no_bpf ? " without BPF" : "", (long long)shown,
            (long long)shown_max, known ? "exact" : "bounds", method, got, last);
    KO_CHECK(got >= 0 && last == want_err, "the drive ended with %d, not the exhaustion errno", last);
    if (c->no_probe) {
        KO_CHECK(!known, "no probes, yet exact");
        KO_CHECK(shown <= got && got <= shown_max, "bounds [%lld, %lld] miss %d", (long long)shown,
                 (long long)shown_max, got);
    } else {
        KO_CHECK(known, "as root the kernel should have been asked");
        const char *want = c->no_bpf || !ht_bpf_expected() ? "probe" : "bpf";
        KO_CHECK(strcmp(method, want) == 0, "sticky ports found by %s, not %s", method, want);
        KO_CHECK(shown == got, "shown free %lld, the kernel granted %d", (long long)shown, got);
        KO_CHECK(c->proto != EP_PROTO_UDP || udp_free == got,
                 "UDP capacity shown %lld, the kernel granted %d", (long long)udp_free, got);
    }
    return 0;
}

static int ht_call(const void *c)
{
    return ht_run(c);
}

/* Each case in a child process of its own (netns-util.c). */
static void ht_case_run(const ht_case *c)
{
    ep_test_forked_case("a private network namespace, TCP_REPAIR", ht_call, c);
}

#define HT_CASE(name, ...)                                                   \
    static void name(void **state)                                           \
    {                                                                        \
        (void)state;                                                         \
        static const ht_case c = { __VA_ARGS__ };                            \
        ht_case_run(&c);                                                     \
    }

/* the busy destination, tw_reuse 0 / 1 / 2 (its TIME_WAIT is loopback) */
HT_CASE(busy_destination_reuse0, 0, EP_PROTO_TCP, "127.0.0.1", 80, false, false)
HT_CASE(busy_destination_reuse1, 1, EP_PROTO_TCP, "127.0.0.1", 80, false, false)
HT_CASE(busy_destination_reuse2, 2, EP_PROTO_TCP, "127.0.0.1", 80, false, false)
/* another destination: only the sticky ports and its own are gone */
HT_CASE(other_destination_reuse0, 0, EP_PROTO_TCP, "127.0.0.1", 81, false, false)
/* a destination outside 127/8 with a TIME_WAIT that reuse = 2 keeps */
HT_CASE(non_loopback_reuse2, 2, EP_PROTO_TCP, "10.9.0.2", 80, false, false)
HT_CASE(non_loopback_reuse1, 1, EP_PROTO_TCP, "10.9.0.2", 80, false, false)
/* a destination the scenario does not use */
HT_CASE(unused_destination, 0, EP_PROTO_TCP, "127.0.0.1", 82, false, false)
/* UDP: what the next UDP socket can get, EAGAIN at the end */
HT_CASE(udp_next_socket, 0, EP_PROTO_UDP, "127.0.0.1", 53, false, false)
/* the same answers when the kernel is asked port by port (no BPF) */
HT_CASE(busy_destination_probes, 0, EP_PROTO_TCP, "127.0.0.1", 80, false, true)
HT_CASE(other_destination_probes, 0, EP_PROTO_TCP, "127.0.0.1", 81, false, true)
HT_CASE(non_loopback_reuse2_probes, 2, EP_PROTO_TCP, "10.9.0.2", 80, false, true)
/* without asking the kernel: honest bounds */
HT_CASE(bounds_without_probes, 0, EP_PROTO_TCP, "127.0.0.1", 81, true, false)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(busy_destination_reuse0),
        cmocka_unit_test(busy_destination_reuse1),
        cmocka_unit_test(busy_destination_reuse2),
        cmocka_unit_test(other_destination_reuse0),
        cmocka_unit_test(non_loopback_reuse2),
        cmocka_unit_test(non_loopback_reuse1),
        cmocka_unit_test(unused_destination),
        cmocka_unit_test(udp_next_socket),
        cmocka_unit_test(busy_destination_probes),
        cmocka_unit_test(other_destination_probes),
        cmocka_unit_test(non_loopback_reuse2_probes),
        cmocka_unit_test(bounds_without_probes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
