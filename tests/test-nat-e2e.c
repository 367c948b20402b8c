/* test-nat-e2e.c - deterministic NAT on a real Linux router: the ruleset
 * `ephport nat plan --nft` prints, loaded with nft into a router namespace,
 * must SNAT every subscriber's TCP, UDP and ICMP echo into its block, and
 * whois must map every address:port an outside server observes back to the
 * subscriber that made the connection.
 *
 * Topology (all namespaces created here, names prefixed with a random tag,
 * deleted at the end; addresses are CGNAT space 100.64/10 inside and
 * TEST-NET-3 outside, which exist only inside these namespaces):
 *
 *   sub1 100.64.1.2 --\                     /-- server 203.0.113.100
 *   sub2 100.64.2.2 ---- router (nft SNAT) -
 *   sub3 100.64.3.2 --/   203.0.113.1, .2 on its outside link
 *
 * The ruleset is printed from a plan history (`nat plan --save`, then
 * `nat plan --plan FILE --nft`), and whois is asked both with the plan
 * inline and through that history.
 *
 * One process does everything: a socket stays in the namespace it was
 * created in, so the test switches namespaces with setns(2) only to create
 * sockets.  Each namespace is held by a child process that made it
 * (unshare) and waits; commands run in it through nsenter --net=/proc/PID/
 * ns/net, which only calls setns.  No named namespaces: `ip netns add` and
 * `ip netns exec`/`ip -n` remount / (make-rslave), which fails where / is
 * not a mount point (a fresh root filesystem, a chroot).  Skips (with the
 * reason) when namespaces or nft are unavailable.
 */
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/nat.h>

#include "netns-util.h"

#define NSUB 3
#define CONNS 4
#define PLAN_INSIDE "100.64.9.0/30,100.64.1.2,100.64.2.2,100.64.3.2,100.64.9.4/30"
#define PLAN_OUTSIDE "203.0.113.1,203.0.113.2"
#define PLAN_PORTS "20000-20999"
#define PLAN_BLOCK "100"

static char tag[16];
static char skip_why[256];


/* The namespaces and the processes holding them. */
static const char *const ns_names[] = { "s1", "s2", "s3", "r", "o" };
#define NNS (sizeof ns_names / sizeof ns_names[0])
static pid_t ns_pid[NNS];

static pid_t ns_holder(const char *name)
{
    for (size_t i = 0; i < NNS; i++)
        if (strcmp(ns_names[i], name) == 0)
            return ns_pid[i];
    return -1;
}

static void cleanup(void)
{
    for (size_t i = 0; i < NNS; i++) {
        ep_test_ns_release(ns_pid[i]);
        ns_pid[i] = 0;
    }
}


static bool enter(const char *name)
{
    pid_t h = name[0] ? ns_holder(name) : 0;
    return h >= 0 && ep_test_ns_enter(h);
}

static int setup(void **state)
{
    unsigned r;
    FILE *f;
    (void)state;
    if (getuid() != 0 || system("command -v nft >/dev/null && command -v ip >/dev/null && "
                                   "command -v nsenter >/dev/null") != 0) {
        snprintf(skip_why, sizeof skip_why, "needs root, ip(8), nft(8) and nsenter(1)");
        return 0;
    }
    f = fopen("/dev/urandom", "rb");
    if (!f || fread(&r, sizeof r, 1, f) != 1) {
        snprintf(skip_why, sizeof skip_why, "cannot read /dev/urandom");
        if (f)
            fclose(f);
        return 0;
    }
    fclose(f);
    snprintf(tag, sizeof tag, "ep%06x", r & 0xffffff);
    atexit(cleanup);
    for (size_t i = 0; i < NNS; i++)
        if ((ns_pid[i] = ep_test_ns_hold()) < 0) {
            snprintf(skip_why, sizeof skip_why, "unshare(CLONE_NEWNET) failed");
            ns_pid[i] = 0;
            tag[0] = '\0';
            return 0;
        }
    /* N PID CMD...: run CMD in the namespace PID holds */
    if (ep_test_sh("set -e; T=%s; S1=%d; S2=%d; S3=%d; R=%d; O=%d\n"
            "N() { p=$1; shift; nsenter --net=/proc/$p/ns/net \"$@\"; }\n"
            "for p in $S1 $S2 $S3 $R $O; do N $p ip link set lo up; done\n"
            "i=0; for s in $S1 $S2 $S3; do i=$((i + 1))\n"
            "  ip link add ${T}a$i netns $R type veth peer name ${T}b$i netns $s\n"
            "  N $R ip addr add 100.64.$i.1/24 dev ${T}a$i; N $R ip link set ${T}a$i up\n"
            "  N $s ip addr add 100.64.$i.2/24 dev ${T}b$i; N $s ip link set ${T}b$i up\n"
            "  N $s ip route add default via 100.64.$i.1\n"
            "done\n"
            "ip link add ${T}ro netns $R type veth peer name ${T}or netns $O\n"
            "N $R ip addr add 203.0.113.1/24 dev ${T}ro\n"
            "N $R ip addr add 203.0.113.2/24 dev ${T}ro\n"
            "N $R ip link set ${T}ro up\n"
            "N $O ip addr add 203.0.113.100/24 dev ${T}or; N $O ip link set ${T}or up\n"
            "N $R sysctl -qw net.ipv4.ip_forward=1\n",
            tag, (int)ns_pid[0], (int)ns_pid[1], (int)ns_pid[2], (int)ns_pid[3],
            (int)ns_pid[4]) != 0) {
        snprintf(skip_why, sizeof skip_why, "cannot build the veth topology");
        return 0;
    }
    return 0;
}

static int teardown(void **state)
{
    char path[64];
    (void)state;
    if (tag[0]) {
        snprintf(path, sizeof path, "/tmp/%s.nft", tag);
        unlink(path);   /* left behind only when an assertion stopped the test */
        snprintf(path, sizeof path, "/tmp/%s.plans", tag);
        unlink(path);
    }
    cleanup();
    tag[0] = '\0';
    return 0;
}

struct seen {
    int sub;               /* which subscriber made it, 1..NSUB */
    uint8_t proto;
    struct in_addr addr;
    uint16_t port;
};

/* Look one observed source up with the library and with the CLI, whose
 * plan comes from `source` (inline options or --plan HISTORY). */
static void check_whois(const ep_nat_plan *plan, const struct seen *s, const char *source)
{
    char ext[INET_ADDRSTRLEN], want[32], cmd[1536], out[2048] = "";
    ep_addr a;
    ep_nat_mapping m;
    FILE *p;
    inet_ntop(AF_INET, &s->addr, ext, sizeof ext);
    snprintf(want, sizeof want, "100.64.%d.2", s->sub);
    assert_int_equal(ep_addr_from_bytes(AF_INET, &s->addr, &a), 0);
    assert_int_equal(ep_nat_plan_reverse(plan, &a, s->port, &m), 0);
    {
        char in[EP_ADDR_STRLEN];
        ep_addr_format(&m.inside, in, sizeof in);
        if (strcmp(in, want) != 0)
            fail_msg("%s:%u (proto %u) maps to %s, but %s sent it", ext, s->port, s->proto, in,
                     want);
    }
    assert_true(s->port >= m.port_lo && s->port <= m.port_hi);
    snprintf(cmd, sizeof cmd, "\"%s\" nat whois %s:%u %s --json", getenv("EPHPORT_BIN"), ext,
             s->port, source);
    p = popen(cmd, "r");
    assert_non_null(p);
    {
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = '\0';
    }
    assert_int_equal(pclose(p), 0);
    {
        char needle[64];
        snprintf(needle, sizeof needle, "\"inside\": \"%s\"", want);
        if (!strstr(out, needle))
            fail_msg("CLI whois %s:%u said: %s", ext, s->port, out);
    }
}

static uint16_t icmp_sum(const void *data, size_t len)
{
    const uint8_t *b = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (len & 1)
        sum += (uint32_t)b[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

static void nat_e2e(void **state)
{
    char path[256], cmd[1024], hist[256], inline_src[512], hist_src[300];
    struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(7777) };
    int ltcp, ludp, licmp, clients[NSUB * CONNS * 2];
    struct seen seen[NSUB * CONNS * 3];
    size_t nseen = 0, nclients = 0;
    ep_nat_plan *plan;
    ep_nat_config cfg = { .inside = PLAN_INSIDE, .outside = PLAN_OUTSIDE,
                          .port_lo = 20000, .port_hi = 20999, .block_size = 100 };
    int icmp_in_block = 0, icmp_seen = 0;
    (void)state;

    if (skip_why[0]) {
        fprintf(stderr, "SKIP: nat-e2e: %s\n", skip_why);
        skip();
    }
    assert_non_null(getenv("EPHPORT_BIN"));
    assert_int_equal(ep_nat_plan_new(&cfg, &plan, NULL), 0);

    /* The ruleset comes from the CLI, exactly as an operator would get it:
     * the plan saved to a plan history, the ruleset printed from it. */
    snprintf(path, sizeof path, "/tmp/%s.nft", tag);
    snprintf(hist, sizeof hist, "/tmp/%s.plans", tag);
    assert_int_equal(ep_test_sh("\"%s\" nat plan --inside %s --outside %s --ports %s --block-size %s "
                         "--save %s --valid-from 0 > /dev/null 2>&1 && "
                         "\"%s\" nat plan --plan %s --nft > %s",
                         getenv("EPHPORT_BIN"), PLAN_INSIDE, PLAN_OUTSIDE, PLAN_PORTS,
                         PLAN_BLOCK, hist, getenv("EPHPORT_BIN"), hist, path), 0);
    assert_int_equal(ep_test_sh("nsenter --net=/proc/%d/ns/net nft -c -f %s", (int)ns_holder("r"), path),
                     0);
    assert_int_equal(ep_test_sh("nsenter --net=/proc/%d/ns/net nft -f %s", (int)ns_holder("r"), path),
                     0);
    /* Loading twice replaces the table instead of failing or duplicating. */
    assert_int_equal(ep_test_sh("nsenter --net=/proc/%d/ns/net nft -f %s", (int)ns_holder("r"), path),
                     0);
    snprintf(cmd, sizeof cmd, "nsenter --net=/proc/%d/ns/net nft list chain ip ephport_nat "
                              "postrouting | grep -c snat | grep -qx 2", (int)ns_holder("r"));
    assert_int_equal(system(cmd), 0);
    /* One-port blocks are valid nft too (checked, not loaded). */
    assert_int_equal(ep_test_sh("\"%s\" nat plan --inside 100.64.9.0/29 --outside %s --ports 1024-1031 "
                         "--block-size 1 --nft > %s && nsenter --net=/proc/%d/ns/net nft -c -f %s",
                         getenv("EPHPORT_BIN"), PLAN_OUTSIDE, path, (int)ns_holder("r"), path),
                     0);
    unlink(path);

    /* The outside server. */
    assert_true(enter("o"));
    srv.sin_addr.s_addr = inet_addr("203.0.113.100");
    ltcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ludp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    licmp = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    assert_true(ltcp >= 0 && ludp >= 0 && licmp >= 0);
    assert_int_equal(bind(ltcp, (struct sockaddr *)&srv, sizeof srv), 0);
    assert_int_equal(listen(ltcp, 64), 0);
    assert_int_equal(bind(ludp, (struct sockaddr *)&srv, sizeof srv), 0);
    {
        struct timeval tv = { .tv_sec = 3 };
        setsockopt(ludp, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(licmp, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

    /* Every subscriber: TCP connections, UDP datagrams from fresh sockets,
     * and ICMP echo requests. */
    for (int s = 1; s <= NSUB; s++) {
        char ns[4];
        snprintf(ns, sizeof ns, "s%d", s);
        assert_true(enter(ns));
        for (int k = 0; k < CONNS; k++) {
            int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            int ic = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
            char msg[2] = { (char)('0' + s), 0 };
            struct { struct icmphdr h; uint8_t sub; } __attribute__((packed)) echo = {
                .h.type = ICMP_ECHO, .sub = (uint8_t)s };
            assert_true(c >= 0 && u >= 0 && ic >= 0);
            if (connect(c, (struct sockaddr *)&srv, sizeof srv) != 0)
                fail_msg("subscriber %d: TCP connect through the NAT: %s", s, strerror(errno));
            assert_int_equal(send(c, msg, 1, 0), 1);
            assert_int_equal(sendto(u, msg, 1, 0, (struct sockaddr *)&srv, sizeof srv), 1);
            echo.h.un.echo.id = htons((uint16_t)(s * 100 + k));
            echo.h.un.echo.sequence = htons(1);
            echo.h.checksum = icmp_sum(&echo, sizeof echo);
            assert_int_equal(sendto(ic, &echo, sizeof echo, 0, (struct sockaddr *)&srv, sizeof srv),
                             (ssize_t)sizeof echo);
            clients[nclients++] = c;
            clients[nclients++] = u;
            close(ic);
        }
    }
    assert_true(enter(""));

    for (size_t i = 0; i < NSUB * CONNS; i++) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        char b;
        int a = accept(ltcp, (struct sockaddr *)&peer, &plen);
        assert_true(a >= 0);
        assert_int_equal(recv(a, &b, 1, 0), 1);
        seen[nseen++] = (struct seen){ b - '0', 6, peer.sin_addr, ntohs(peer.sin_port) };
        close(a);
    }
    for (size_t i = 0; i < NSUB * CONNS; i++) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        char b;
        if (recvfrom(ludp, &b, 1, 0, (struct sockaddr *)&peer, &plen) != 1)
            fail_msg("UDP datagram %zu never arrived: %s", i, strerror(errno));
        seen[nseen++] = (struct seen){ b - '0', 17, peer.sin_addr, ntohs(peer.sin_port) };
    }
    snprintf(inline_src, sizeof inline_src, "--inside %s --outside %s --ports %s --block-size %s",
             PLAN_INSIDE, PLAN_OUTSIDE, PLAN_PORTS, PLAN_BLOCK);
    snprintf(hist_src, sizeof hist_src, "--plan %s", hist);
    for (size_t i = 0; i < nseen; i++)
        check_whois(plan, &seen[i], i % 2 ? hist_src : inline_src);
    unlink(hist);

    /* ICMP: the server sees each echo request with the translated id. */
    for (;;) {
        uint8_t pkt[256];
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        ssize_t n = recvfrom(licmp, pkt, sizeof pkt, 0, (struct sockaddr *)&peer, &plen);
        struct iphdr *ip = (struct iphdr *)pkt;
        struct icmphdr *ic;
        ep_addr a;
        ep_nat_mapping m;
        if (n < 0)
            break;
        if ((size_t)n < ip->ihl * 4u + sizeof *ic + 1)
            continue;
        ic = (struct icmphdr *)(pkt + ip->ihl * 4);
        if (ic->type != ICMP_ECHO)
            continue;
        icmp_seen++;
        ep_addr_from_bytes(AF_INET, &ip->saddr, &a);
        if (ep_nat_plan_reverse(plan, &a, ntohs(ic->un.echo.id), &m) == 0) {
            uint8_t sender = *(uint8_t *)(ic + 1);
            char in[EP_ADDR_STRLEN], want[32];
            ep_addr_format(&m.inside, in, sizeof in);
            snprintf(want, sizeof want, "100.64.%u.2", sender);
            if (strcmp(in, want) == 0)
                icmp_in_block++;
        }
        if (icmp_seen == NSUB * CONNS)
            break;
    }
    fprintf(stderr, "nat-e2e: %zu TCP/UDP sources mapped back; ICMP echo: %d seen, %d with "
                    "an identifier inside the sender's own block\n",
            nseen, icmp_seen, icmp_in_block);
    assert_int_equal(icmp_seen, NSUB * CONNS);
    assert_int_equal(icmp_in_block, NSUB * CONNS);

    for (size_t i = 0; i < nclients; i++)
        close(clients[i]);
    close(ltcp);
    close(ludp);
    close(licmp);
    ep_nat_plan_free(plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nat_e2e),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
