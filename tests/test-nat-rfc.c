/* test-nat-rfc.c - the RFC 4787 / 5382 / 6888 behaviour of the ruleset
 * `ephport nat plan --nft` prints, on a real router (nat-topo.h: two
 * subscribers, a router, a server; plan: 203.0.113.1 ports 20000-20007 in
 * blocks of 4).  Each test is one requirement of the table in
 * ephport-nat(1): the timeouts conntrack actually uses for translated flows
 * (and only for them), hairpinning with the sender's external address as
 * source, and a full block answered with ICMP host unreachable while the
 * other subscriber's block is untouched.  The 125 s idle UDP mapping is
 * test-nat-udp-idle.c (long, its own test). */
#include <errno.h>
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
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/nat.h>

#include "nat-topo.h"

#define PLAN "--inside 100.64.1.2,100.64.2.2 --outside 203.0.113.1 --ports 20000-20007 " \
             "--block-size 4"
#define EXT "203.0.113.1"
#define SERVER "203.0.113.100"
#define BLOCK 4

static char skip_why[256];
static uint16_t block_lo[3];   /* [sub] first port of subscriber 1's, 2's block */

static void skip_if_needed(void)
{
    if (skip_why[0]) {
        fprintf(stderr, "SKIP: nat-rfc: %s\n", skip_why);
        skip();
    }
}

static int setup(void **state)
{
    ep_nat_config cfg = { .inside = "100.64.1.2,100.64.2.2", .outside = EXT,
                          .port_lo = 20000, .port_hi = 20007, .block_size = BLOCK };
    ep_nat_plan *plan;
    (void)state;
    if (!nat_topo_up(2, skip_why, sizeof skip_why))
        return 0;
    if (ep_nat_plan_new(&cfg, &plan, NULL) != 0)
        return -1;
    for (int s = 1; s <= 2; s++) {
        ep_addr a;
        ep_nat_mapping m;
        char in[32];
        snprintf(in, sizeof in, "100.64.%d.2", s);
        if (ep_addr_parse(in, &a) != 0 || ep_nat_plan_forward(plan, &a, &m) != 0)
            return -1;
        block_lo[s] = m.port_lo;
    }
    ep_nat_plan_free(plan);
    if (nat_topo_run("r", "\"%s\" nat plan " PLAN " --nft > /tmp/nat-rfc-%d.nft && "
                          "nft -f /tmp/nat-rfc-%d.nft && nft -f /tmp/nat-rfc-%d.nft",
                     getenv("EPHPORT_BIN"), (int)getpid(), (int)getpid(), (int)getpid()) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char path[64];
    (void)state;
    snprintf(path, sizeof path, "/tmp/nat-rfc-%d.nft", (int)getpid());
    unlink(path);
    nat_topo_down();
    return 0;
}

static struct sockaddr_in sin_of(const char *addr, uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, addr, &a.sin_addr);
    return a;
}

/* A socket made in namespace ns (bound to port if nonzero), 3 s timeouts. */
static int sock_in(const char *ns, int type, uint16_t port)
{
    struct timeval tv = { .tv_sec = 3 };
    struct sockaddr_in any = sin_of("0.0.0.0", port);
    int one = 1, fd;
    assert_true(nat_topo_enter(ns));
    fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (port)
        assert_int_equal(bind(fd, (struct sockaddr *)&any, sizeof any), 0);
    assert_true(nat_topo_enter(""));
    return fd;
}

/* RFC 4787 REQ-5: a translated UDP mapping is kept 300 s (kernel: 30 s
 * while unreplied); DNS keeps the kernel's 30 s (REQ-5a); a flow the router
 * forwards without translating keeps the kernel's timeouts. */
static void udp_timeouts(void **state)
{
    struct sockaddr_in srv = sin_of(SERVER, 9100), dns = sin_of(SERVER, 53),
                       inside = sin_of("100.64.1.2", 9101);
    char line[1024];
    int c = sock_in("s1", SOCK_DGRAM, 0), d = sock_in("s1", SOCK_DGRAM, 0),
        o = sock_in("o", SOCK_DGRAM, 0);
    long t;
    (void)state;
    skip_if_needed();
    assert_int_equal(sendto(c, "u", 1, 0, (struct sockaddr *)&srv, sizeof srv), 1);
    assert_int_equal(sendto(d, "d", 1, 0, (struct sockaddr *)&dns, sizeof dns), 1);
    assert_int_equal(sendto(o, "o", 1, 0, (struct sockaddr *)&inside, sizeof inside), 1);
    assert_true(nat_topo_conntrack(line, sizeof line, "udp", "src=100.64.1.2", "dport=9100 ",
                                   (char *)NULL));
    t = nat_topo_ct_timeout(line);
    fprintf(stderr, "nat-rfc: UDP mapping: %s", line);
    if (t <= 240 || t > 300)
        fail_msg("translated UDP flow expires in %ld s, want 300 (RFC 4787 REQ-5: >= 120)", t);
    assert_true(nat_topo_conntrack(line, sizeof line, "udp", "src=100.64.1.2", "dport=53 ",
                                   (char *)NULL));
    t = nat_topo_ct_timeout(line);
    if (t > 30)
        fail_msg("DNS flow expires in %ld s, want the kernel's 30", t);
    assert_true(nat_topo_conntrack(line, sizeof line, "udp", "src=203.0.113.100", "dport=9101 ",
                                   (char *)NULL));
    t = nat_topo_ct_timeout(line);
    if (t > 30)
        fail_msg("untranslated flow expires in %ld s, want the kernel's 30: %s", t, line);
    close(c);
    close(d);
    close(o);
}

/* RFC 5382 REQ-5: established 2 h 4 min (kernel: 5 days), transitory
 * 4 min (kernel: 60-120 s). */
static void tcp_timeouts(void **state)
{
    struct sockaddr_in srv = sin_of(SERVER, 9200);
    char line[1024], b;
    int l = sock_in("o", SOCK_STREAM, 9200), c = sock_in("s1", SOCK_STREAM, 0), a;
    long t;
    (void)state;
    skip_if_needed();
    assert_int_equal(listen(l, 4), 0);
    assert_int_equal(connect(c, (struct sockaddr *)&srv, sizeof srv), 0);
    a = accept(l, NULL, NULL);
    assert_true(a >= 0);
    assert_int_equal(send(c, "x", 1, 0), 1);
    assert_int_equal(recv(a, &b, 1, 0), 1);
    assert_true(nat_topo_conntrack(line, sizeof line, "ESTABLISHED", "src=100.64.1.2",
                                   "dport=9200 ", (char *)NULL));
    t = nat_topo_ct_timeout(line);
    fprintf(stderr, "nat-rfc: TCP: %s", line);
    if (t <= 7440 - 60 || t > 7440)
        fail_msg("established TCP expires in %ld s, want 7440 (RFC 5382 REQ-5)", t);
    /* the subscriber closes its half: a closing (transitory) state */
    assert_int_equal(shutdown(c, SHUT_WR), 0);
    assert_int_equal(recv(a, &b, 1, 0), 0);
    assert_true(nat_topo_conntrack(line, sizeof line, "_WAIT", "src=100.64.1.2", "dport=9200 ",
                                   (char *)NULL));
    t = nat_topo_ct_timeout(line);
    fprintf(stderr, "nat-rfc: TCP closing: %s", line);
    if (t <= 240 - 60 || t > 240)
        fail_msg("closing TCP expires in %ld s, want 240 (RFC 5382 REQ-5: >= 4 min)", t);
    close(a);
    close(c);
    close(l);
}

/* RFC 4787 REQ-9 / RFC 5382 REQ-8: subscriber 1 reaches subscriber 2 at
 * its external address and port, and subscriber 2 sees subscriber 1's
 * external address and a port of subscriber 1's block.  Subscriber 2's
 * sockets use ports of its own block, which the NAT keeps. */
static void hairpin(void **state)
{
    uint16_t p2 = (uint16_t)(block_lo[2] + 1), p2t = (uint16_t)(block_lo[2] + 2);
    struct sockaddr_in srv = sin_of(SERVER, 9300), ext2 = sin_of(EXT, p2), ext2t = sin_of(EXT, p2t),
                       peer;
    socklen_t plen = sizeof peer;
    int o = sock_in("o", SOCK_DGRAM, 9300), s2 = sock_in("s2", SOCK_DGRAM, p2),
        s1 = sock_in("s1", SOCK_DGRAM, 0), l, c, a;
    char b;
    char pa[INET_ADDRSTRLEN];
    (void)state;
    skip_if_needed();
    /* subscriber 2's mapping, seen from outside: its own port kept */
    assert_int_equal(sendto(s2, "2", 1, 0, (struct sockaddr *)&srv, sizeof srv), 1);
    assert_int_equal(recvfrom(o, &b, 1, 0, (struct sockaddr *)&peer, &plen), 1);
    assert_int_equal(peer.sin_addr.s_addr, ext2.sin_addr.s_addr);
    assert_int_equal(ntohs(peer.sin_port), p2);
    /* UDP hairpin, and the answer back */
    assert_int_equal(sendto(s1, "1", 1, 0, (struct sockaddr *)&ext2, sizeof ext2), 1);
    plen = sizeof peer;
    if (recvfrom(s2, &b, 1, 0, (struct sockaddr *)&peer, &plen) != 1)
        fail_msg("hairpinned datagram to %s:%u never arrived: %s", EXT, p2, strerror(errno));
    inet_ntop(AF_INET, &peer.sin_addr, pa, sizeof pa);
    fprintf(stderr, "nat-rfc: hairpin UDP arrived from %s:%u\n", pa, ntohs(peer.sin_port));
    assert_string_equal(pa, EXT);
    assert_true(ntohs(peer.sin_port) >= block_lo[1] && ntohs(peer.sin_port) < block_lo[1] + BLOCK);
    assert_int_equal(sendto(s2, "r", 1, 0, (struct sockaddr *)&peer, plen), 1);
    plen = sizeof peer;
    assert_int_equal(recvfrom(s1, &b, 1, 0, (struct sockaddr *)&peer, &plen), 1);
    assert_int_equal(b, 'r');
    assert_int_equal(ntohs(peer.sin_port), p2);
    /* TCP hairpin */
    l = sock_in("s2", SOCK_STREAM, p2t);
    c = sock_in("s1", SOCK_STREAM, 0);
    assert_int_equal(listen(l, 2), 0);
    if (connect(c, (struct sockaddr *)&ext2t, sizeof ext2t) != 0)
        fail_msg("hairpinned TCP connect to %s:%u: %s", EXT, p2t, strerror(errno));
    plen = sizeof peer;
    a = accept(l, (struct sockaddr *)&peer, &plen);
    assert_true(a >= 0);
    inet_ntop(AF_INET, &peer.sin_addr, pa, sizeof pa);
    assert_string_equal(pa, EXT);
    assert_true(ntohs(peer.sin_port) >= block_lo[1] && ntohs(peer.sin_port) < block_lo[1] + BLOCK);
    close(a);
    close(c);
    close(l);
    close(o);
    close(s1);
    close(s2);
}

/* RFC 6888 REQ-11: when subscriber 1 has BLOCK flows to one destination,
 * the next is refused with ICMP host unreachable (EHOSTUNREACH at once,
 * not a timeout), UDP and TCP; subscriber 2 still gets every flow, from
 * its own block only (RFC 6888 REQ-8 across subscribers: a port of one
 * block never goes to another subscriber). */
static void full_block(void **state)
{
    struct sockaddr_in srv = sin_of(SERVER, 9400), peer;
    socklen_t plen;
    int o = sock_in("o", SOCK_DGRAM, 9400), l = sock_in("o", SOCK_STREAM, 9400);
    int u[2][BLOCK + 1], t[BLOCK + 1], one = 1;
    char b;
    (void)state;
    skip_if_needed();
    assert_int_equal(listen(l, 16), 0);
    for (int s = 1; s <= 2; s++) {
        for (int k = 0; k < BLOCK; k++) {
            u[s - 1][k] = sock_in(s == 1 ? "s1" : "s2", SOCK_DGRAM, 0);
            assert_int_equal(sendto(u[s - 1][k], "x", 1, 0, (struct sockaddr *)&srv, sizeof srv),
                             1);
            plen = sizeof peer;
            if (recvfrom(o, &b, 1, 0, (struct sockaddr *)&peer, &plen) != 1)
                fail_msg("subscriber %d flow %d never arrived", s, k);
            if (ntohs(peer.sin_port) < block_lo[s] || ntohs(peer.sin_port) >= block_lo[s] + BLOCK)
                fail_msg("subscriber %d flow %d came from port %u, outside its block", s, k,
                         ntohs(peer.sin_port));
        }
        if (s == 2)
            break;
        /* the fifth flow of subscriber 1 */
        u[0][BLOCK] = sock_in("s1", SOCK_DGRAM, 0);
        setsockopt(u[0][BLOCK], IPPROTO_IP, IP_RECVERR, &one, sizeof one);
        assert_int_equal(connect(u[0][BLOCK], (struct sockaddr *)&srv, sizeof srv), 0);
        assert_int_equal(send(u[0][BLOCK], "x", 1, 0), 1);
        errno = 0;
        if (recv(u[0][BLOCK], &b, 1, 0) != -1 || errno != EHOSTUNREACH)
            fail_msg("UDP flow %d of a %d-port block: want EHOSTUNREACH, got %s", BLOCK + 1,
                     BLOCK, strerror(errno));
    }
    for (int k = 0; k <= BLOCK; k++) {
        t[k] = sock_in("s1", SOCK_STREAM, 0);
        errno = 0;
        if (k < BLOCK) {
            if (connect(t[k], (struct sockaddr *)&srv, sizeof srv) != 0)
                fail_msg("TCP connection %d: %s", k, strerror(errno));
        } else if (connect(t[k], (struct sockaddr *)&srv, sizeof srv) == 0 ||
                   errno != EHOSTUNREACH) {
            fail_msg("TCP connection %d of a %d-port block: want EHOSTUNREACH, got %s",
                     BLOCK + 1, BLOCK, strerror(errno));
        }
    }
    for (int k = 0; k <= BLOCK; k++)
        close(t[k]);
    for (int k = 0; k < BLOCK; k++) {
        close(u[0][k]);
        close(u[1][k]);
    }
    close(u[0][BLOCK]);
    close(o);
    close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(udp_timeouts),
        cmocka_unit_test(tcp_timeouts),
        cmocka_unit_test(hairpin),
        cmocka_unit_test(full_block),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
