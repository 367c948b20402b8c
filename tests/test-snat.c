/* test-snat.c - `ephport snat` against a real Linux NAT box: a router
 * namespace masquerades client -> server traffic to ports 40000-40009, the
 * client holds connections open until one destination has no port left,
 * and the view must report exactly the held flows as used, 0 free, and the
 * refused attempts in the conntrack statistics.
 *
 * Topology (namespaces made here, each held by a child that unshared it;
 * commands run in them through nsenter --net=/proc/PID/ns/net):
 *
 *   client 10.77.1.2 --- router 10.77.1.1 | 198.51.100.1 --- server 198.51.100.2
 *                        nft: oifname OUT meta l4proto tcp masquerade to :40000-40009
 *                             oifname OUT meta l4proto udp masquerade to :40000-40009
 *
 * Cases, in order, on one topology:
 *   tcp: 10 connections to server:80 held open, an 11th SYN refused by NAT;
 *        snat --json: unit (198.51.100.1, tcp, 198.51.100.2, 80) used 10,
 *        free 0, ports 10, range from the rule; insert_failed and drop grew
 *        (the counters nf_conntrack's clash path increments);
 *   port: 3 connections to server:81 succeed meanwhile: their own unit,
 *        used 3, free 7;
 *   udp: 10 datagrams from 10 sockets to server:53 and an 11th refused:
 *        used 10, free 0;
 *   top: `top --snat --json` frames around the port step: :80 exhausted
 *        and not growing, :81 growing by exactly its 3 flows;
 *   check: `check --snat` is CRITICAL on that unit, with exact perfdata;
 *   proc: `--source proc` reports the same units;
 *   unprivileged: uid 65534 gets exit 0, no units, and notes that say why.
 * Skips (with the reason) when not root or without ip, nft, nsenter. */
#include <errno.h>
#include <math.h>
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
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <ephport/snat.h>

#include "http-util.h"
#include "netns-util.h"

#define RANGE_PORTS 10

static char tag[16];
static char skip_why[256];

static const char *const ns_names[] = { "c", "r", "s" };
#define NNS (sizeof ns_names / sizeof ns_names[0])
static pid_t ns_pid[NNS];


static pid_t holder(const char *name)
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
    pid_t h = name[0] ? holder(name) : 0;
    return h >= 0 && ep_test_ns_enter(h);
}

static int setup(void **state)
{
    unsigned r = (unsigned)getpid() ^ (unsigned)time(NULL);
    (void)state;
    if (getuid() != 0 || system("command -v nft >/dev/null && command -v ip >/dev/null && "
                                "command -v nsenter >/dev/null && command -v setpriv "
                                ">/dev/null") != 0) {
        snprintf(skip_why, sizeof skip_why, "needs root, ip(8), nft(8), nsenter(1), setpriv(1)");
        return 0;
    }
    snprintf(tag, sizeof tag, "sn%05x", r & 0xfffff);
    atexit(cleanup);
    for (size_t i = 0; i < NNS; i++)
        if ((ns_pid[i] = ep_test_ns_hold()) < 0) {
            snprintf(skip_why, sizeof skip_why, "unshare(CLONE_NEWNET) failed");
            ns_pid[i] = 0;
            return 0;
        }
    if (ep_test_sh("set -e; T=%s; C=%d; R=%d; S=%d\n"
            "N() { p=$1; shift; nsenter --net=/proc/$p/ns/net \"$@\"; }\n"
            "for p in $C $R $S; do N $p ip link set lo up; done\n"
            "ip link add ${T}i netns $R type veth peer name ${T}c netns $C\n"
            "ip link add ${T}o netns $R type veth peer name ${T}s netns $S\n"
            "N $R ip addr add 10.77.1.1/24 dev ${T}i; N $R ip link set ${T}i up\n"
            "N $R ip addr add 198.51.100.1/24 dev ${T}o; N $R ip link set ${T}o up\n"
            "N $C ip addr add 10.77.1.2/24 dev ${T}c; N $C ip link set ${T}c up\n"
            "N $C ip route add default via 10.77.1.1\n"
            "N $S ip addr add 198.51.100.2/24 dev ${T}s; N $S ip link set ${T}s up\n"
            "N $R sysctl -qw net.ipv4.ip_forward=1\n"
            "printf 'table ip nat {\\n chain post {\\n  type nat hook postrouting priority srcnat;\\n"
            "  oifname \"%%s\" meta l4proto tcp masquerade to :40000-40009\\n"
            "  oifname \"%%s\" meta l4proto udp masquerade to :40000-40009\\n }\\n}\\n' "
            "${T}o ${T}o | N $R nft -f -\n",
            tag, (int)holder("c"), (int)holder("r"), (int)holder("s")) != 0) {
        snprintf(skip_why, sizeof skip_why, "cannot build the veth topology or load nftables "
                                            "masquerade (nf_nat / nft_masq missing?)");
        return 0;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cleanup();
    return 0;
}

/* `ephport snat --json EXTRA` in the router's namespace (as uid 65534
 * when unpriv), parsed; its exit status in *status. */
static json_t *snat_json(const char *extra, bool unpriv, int *status)
{
    char cmd[1024];
    json_error_t err;
    json_t *j;
    FILE *p;
    if (unpriv)
        snprintf(cmd, sizeof cmd, "nsenter --net=/proc/%d/ns/net setpriv --reuid=65534 "
                 "--regid=65534 --clear-groups --inh-caps=-all \"%s\" snat --json --top 0 %s",
                 (int)holder("r"), getenv("EPHPORT_BIN"), extra);
    else
        snprintf(cmd, sizeof cmd, "\"%s\" snat --json --top 0 --netns /proc/%d/ns/net %s",
                 getenv("EPHPORT_BIN"), (int)holder("r"), extra);
    p = popen(cmd, "r");
    assert_non_null(p);
    j = json_loadf(p, 0, &err);
    *status = pclose(p);
    if (!j)
        fail_msg("%s: not JSON: %s", cmd, err.text);
    return j;
}

static json_t *find_unit(json_t *j, const char *proto, int port)
{
    json_t *units = json_object_get(j, "units"), *u;
    size_t i;
    json_array_foreach(units, i, u) {
        if (strcmp(json_string_value(json_object_get(u, "protocol")), proto) == 0 &&
            json_integer_value(json_object_get(u, "port")) == port &&
            strcmp(json_string_value(json_object_get(u, "destination")), "198.51.100.2") == 0)
            return u;
    }
    return NULL;
}

static void expect_unit(json_t *j, const char *proto, int port, int used, int free_ports)
{
    json_t *u = find_unit(j, proto, port);
    if (!u)
        fail_msg("no %s unit towards 198.51.100.2:%d in %s", proto, port,
                 json_dumps(j, JSON_COMPACT));
    assert_string_equal(json_string_value(json_object_get(u, "nat_address")), "198.51.100.1");
    assert_int_equal(json_integer_value(json_object_get(u, "used")), used);
    assert_int_equal(json_integer_value(json_object_get(u, "flows")), used);
    assert_int_equal(json_integer_value(json_object_get(u, "free")), free_ports);
    assert_int_equal(json_integer_value(json_object_get(u, "ports")), RANGE_PORTS);
    assert_string_equal(json_string_value(json_object_get(u, "range_from")), "rule");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(u, "range"), 0)), 40000);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(u, "range"), 1)), 40009);
}

/* The router's statistics through the library. */
static ep_snat_stats router_stats(void)
{
    char path[64];
    ep_snat_options o;
    ep_snat *s;
    ep_snat_stats st;
    ep_snat_options_init(&o);
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)holder("r"));
    o.netns = path;
    o.flags = EP_SNAT_NO_NFT;
    assert_int_equal(ep_snat_take(&o, &s), 0);
    st = *ep_snat_statistics(s);
    assert_true(st.ncpu > 0);
    ep_snat_free(s);
    return st;
}

/* Wait (bounded) until the router counted a failed insertion beyond
 * `before`: the refused packet crosses the router asynchronously. */
static ep_snat_stats wait_insert_failed(const ep_snat_stats *before)
{
    ep_snat_stats st;
    for (int i = 0; i < 200; i++) {
        st = router_stats();
        if (st.insert_failed > before->insert_failed)
            return st;
        usleep(50 * 1000);
    }
    fail_msg("insert_failed stayed at %lld after a refused flow", (long long)before->insert_failed);
    return st;
}

static int tcp_connect(uint16_t port, bool block)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (block ? 0 : SOCK_NONBLOCK), 0);
    a.sin_addr.s_addr = inet_addr("198.51.100.2");
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && !(!block && errno == EINPROGRESS))
        fail_msg("connect to :%u: %s", port, strerror(errno));
    return fd;
}

static int udp_send(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    a.sin_addr.s_addr = inet_addr("198.51.100.2");
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(send(fd, "x", 1, 0), 1);
    return fd;
}

/* `top --snat --json` on the router, two frames one second apart. */
static FILE *top_snat_start(void)
{
    char cmd[512];
    FILE *p;
    snprintf(cmd, sizeof cmd, "\"%s\" top --snat --netns /proc/%d/ns/net --json --interval 1 "
             "--iterations 2 --top 0", getenv("EPHPORT_BIN"), (int)holder("r"));
    p = popen(cmd, "r");
    assert_non_null(p);
    return p;
}

static json_t *top_snat_frame(FILE *p)
{
    static char line[1 << 16];
    json_error_t err;
    json_t *j;
    if (!fgets(line, sizeof line, p))
        fail_msg("top --snat printed no frame");
    j = json_loads(line, 0, &err);
    if (!j)
        fail_msg("top --snat frame is not JSON (%s): %s", err.text, line);
    return j;
}

static json_t *top_unit(json_t *frame, int port)
{
    json_t *u = find_unit(frame, "tcp", port);
    if (!u)
        fail_msg("top --snat: no tcp unit towards :%d in %s", port,
                 json_dumps(frame, JSON_COMPACT));
    return u;
}

/* Frame 1 came while nothing changed: the exhausted unit :80 grows 0 and
 * is exhausted now.  Frame 2 came after 3 flows to :81: that unit grew by
 * exactly 3 over the frame's sampling gap, and runs out when its 7 free
 * ports are taken at that pace.  The statistics are rates, not unknown. */
static void top_snat_check(json_t *f1, json_t *f2)
{
    json_t *u80 = top_unit(f1, 80), *u81, *ps = json_object_get(f1, "per_second");
    double dt = json_number_value(json_object_get(f2, "sample_seconds")), g;

    assert_int_equal(json_integer_value(json_object_get(u80, "used")), RANGE_PORTS);
    assert_true(json_number_value(json_object_get(u80, "growth_per_second")) == 0.0);
    assert_true(json_number_value(json_object_get(u80, "seconds_to_exhaustion")) == 0.0);
    assert_null(find_unit(f1, "tcp", 81));
    assert_true(json_is_number(json_object_get(ps, "insert_failed")));
    assert_true(json_is_number(json_object_get(ps, "drop")));
    assert_int_equal(json_integer_value(json_object_get(f1, "units_total")), 1);

    u81 = top_unit(f2, 81);
    assert_true(dt > 0.5 && dt < 10);
    g = json_number_value(json_object_get(u81, "growth_per_second"));
    assert_int_equal(json_integer_value(json_object_get(u81, "used")), 3);
    assert_int_equal(json_integer_value(json_object_get(u81, "free")), RANGE_PORTS - 3);
    if (fabs(g * dt - 3.0) > 1e-6)
        fail_msg("top --snat: growth %g/s over %g s is not 3 flows", g, dt);
    if (fabs(json_number_value(json_object_get(u81, "seconds_to_exhaustion")) -
             (RANGE_PORTS - 3) / g) > 1e-6)
        fail_msg("top --snat: exhaustion of :81 not 7 / growth: %s",
                 json_dumps(u81, JSON_COMPACT));
    assert_true(json_number_value(json_object_get(top_unit(f2, 80), "growth_per_second")) == 0.0);
    assert_int_equal(json_integer_value(json_object_get(f2, "units_total")), 2);
    json_decref(f1);
    json_decref(f2);
}

/* exporter --snat on the router: the same units as Prometheus series,
 * with the refused translations counted. */
static void exporter_snat_series(void)
{
    uint16_t port = (uint16_t)(20000 + getpid() % 20000);
    char listen_at[32], netns[64], *body;
    pid_t ex;

    snprintf(listen_at, sizeof listen_at, "127.0.0.1:%u", port);
    snprintf(netns, sizeof netns, "/proc/%d/ns/net", (int)holder("r"));
    ex = fork();
    assert_true(ex >= 0);
    if (ex == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(getenv("EPHPORT_BIN"), "ephport", "exporter", "--snat", "--netns", netns,
              "--listen", listen_at, (char *)NULL);
        _exit(127);
    }
    body = ep_test_http_get(port, "/metrics");
    kill(ex, SIGTERM);
    waitpid(ex, NULL, 0);
    assert_non_null(body);
    assert_true(ep_test_sample(body, "ephport_snat_up ") == 1);
    assert_true(ep_test_sample(body, "ephport_snat_used_ports{nat_address=\"198.51.100.1\","
                                     "proto=\"tcp\",remote=\"198.51.100.2\",remote_port=\"80\"") ==
                RANGE_PORTS);
    assert_true(ep_test_sample(body, "ephport_snat_free_ports{nat_address=\"198.51.100.1\","
                                     "proto=\"tcp\",remote=\"198.51.100.2\",remote_port=\"80\"") == 0);
    assert_true(ep_test_sample(body, "ephport_snat_free_ports{nat_address=\"198.51.100.1\","
                                     "proto=\"tcp\",remote=\"198.51.100.2\",remote_port=\"81\"") ==
                RANGE_PORTS - 3);
    assert_true(ep_test_sample(body, "ephport_snat_range_ports{nat_address=\"198.51.100.1\","
                                     "proto=\"tcp\",remote=\"198.51.100.2\",remote_port=\"81\"") ==
                RANGE_PORTS);
    assert_true(ep_test_sample(body, "ephport_conntrack_insert_failed_total ") >= 1);
    free(body);
}

static void snat_exhaustion(void **state)
{
    int held[2 * RANGE_PORTS + 8], nheld = 0, lsn80, lsn81, udp53, late, status;
    struct sockaddr_in srv = { .sin_family = AF_INET };
    ep_snat_stats s0, s1, s2;
    json_t *j;
    (void)state;

    if (skip_why[0]) {
        fprintf(stderr, "SKIP: snat: %s\n", skip_why);
        skip();
    }
    assert_non_null(getenv("EPHPORT_BIN"));

    /* The server: TCP 80 and 81 with room in the backlog, UDP 53. */
    assert_true(enter("s"));
    srv.sin_addr.s_addr = inet_addr("198.51.100.2");
    lsn80 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    lsn81 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    udp53 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    srv.sin_port = htons(80);
    assert_int_equal(bind(lsn80, (struct sockaddr *)&srv, sizeof srv), 0);
    srv.sin_port = htons(81);
    assert_int_equal(bind(lsn81, (struct sockaddr *)&srv, sizeof srv), 0);
    srv.sin_port = htons(53);
    assert_int_equal(bind(udp53, (struct sockaddr *)&srv, sizeof srv), 0);
    assert_int_equal(listen(lsn80, 64), 0);
    assert_int_equal(listen(lsn81, 64), 0);

    /* tcp: the whole range towards :80, then one more. */
    s0 = router_stats();
    assert_true(enter("c"));
    for (int i = 0; i < RANGE_PORTS; i++)
        held[nheld++] = tcp_connect(80, true);
    late = tcp_connect(80, false);
    assert_true(enter(""));
    s1 = wait_insert_failed(&s0);
    fprintf(stderr, "snat: tcp refused: insert_failed +%lld, drop +%lld, early_drop +%lld, "
                    "search_restart +%lld, clash_resolve +%lld, invalid +%lld\n",
            (long long)(s1.insert_failed - s0.insert_failed), (long long)(s1.drop - s0.drop),
            (long long)(s1.early_drop - s0.early_drop),
            (long long)(s1.search_restart - s0.search_restart),
            (long long)(s1.clash_resolve - s0.clash_resolve),
            (long long)(s1.invalid - s0.invalid));
    assert_true(s1.drop > s0.drop);

    /* port: another destination port has a range of its own; top --snat
     * watches it appear (its frames: top_snat_frames). */
    FILE *top = top_snat_start();
    json_t *f1 = top_snat_frame(top);
    assert_true(enter("c"));
    for (int i = 0; i < 3; i++)
        held[nheld++] = tcp_connect(81, true);
    assert_true(enter(""));
    json_t *f2 = top_snat_frame(top);
    assert_int_equal(pclose(top), 0);
    top_snat_check(f1, f2);

    j = snat_json("", false, &status);
    assert_int_equal(status, 0);
    assert_string_equal(json_string_value(json_object_get(j, "source")), "netlink");
    expect_unit(j, "tcp", 80, RANGE_PORTS, 0);
    expect_unit(j, "tcp", 81, 3, RANGE_PORTS - 3);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "statistics"),
                                                   "insert_failed")) >= s1.insert_failed);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "advice"), 0), "code")),
                        "snat-exhausted");
    json_decref(j);
    {
        char cmd[512], line[512] = "";
        FILE *p;
        snprintf(cmd, sizeof cmd, "\"%s\" check --snat --netns /proc/%d/ns/net",
                 getenv("EPHPORT_BIN"), (int)holder("r"));
        p = popen(cmd, "r");
        assert_non_null(p);
        if (!fgets(line, sizeof line, p))
            line[0] = '\0';
        status = pclose(p);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 2);
        if (!strstr(line, "EPHPORT CRITICAL - SNAT 198.51.100.1 -> 198.51.100.2:80/tcp 100% used "
                          "(0 free) | used=10;@8:;@9.5:;0;10 free=0;;;0;10 units=2 insert_failed="))
            fail_msg("check --snat said: %s", line);
    }
    exporter_snat_series();

    /* udp: the whole range towards :53, then one more datagram. */
    assert_true(enter("c"));
    for (int i = 0; i < RANGE_PORTS; i++)
        held[nheld++] = udp_send(53);
    assert_true(enter(""));
    /* the ten are in the table before the eleventh is sent */
    for (int i = 0; i < 200; i++) {
        j = snat_json("--no-nft", false, &status);
        json_t *u = find_unit(j, "udp", 53);
        bool all = u && json_integer_value(json_object_get(u, "flows")) == RANGE_PORTS;
        json_decref(j);
        if (all)
            break;
        usleep(50 * 1000);
    }
    assert_true(enter("c"));
    held[nheld++] = udp_send(53);
    assert_true(enter(""));
    s2 = wait_insert_failed(&s1);
    fprintf(stderr, "snat: udp refused: insert_failed +%lld, drop +%lld, clash_resolve +%lld\n",
            (long long)(s2.insert_failed - s1.insert_failed), (long long)(s2.drop - s1.drop),
            (long long)(s2.clash_resolve - s1.clash_resolve));
    assert_true(s2.drop > s1.drop);
    j = snat_json("", false, &status);
    assert_int_equal(status, 0);
    expect_unit(j, "udp", 53, RANGE_PORTS, 0);
    expect_unit(j, "tcp", 80, RANGE_PORTS, 0);
    json_decref(j);

    /* proc: the same units from /proc/net/nf_conntrack. */
    j = snat_json("--source proc", false, &status);
    assert_int_equal(status, 0);
    assert_string_equal(json_string_value(json_object_get(j, "source")), "proc");
    expect_unit(j, "tcp", 80, RANGE_PORTS, 0);
    expect_unit(j, "tcp", 81, 3, RANGE_PORTS - 3);
    expect_unit(j, "udp", 53, RANGE_PORTS, 0);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "statistics"),
                                                   "insert_failed")) >= s2.insert_failed);
    json_decref(j);

    /* unprivileged: no numbers, and the reason. */
    j = snat_json("", true, &status);
    assert_int_equal(status, 0);
    assert_true(json_is_null(json_object_get(j, "source")));
    assert_int_equal(json_array_size(json_object_get(j, "units")), 0);
    assert_true(json_is_null(json_object_get(json_object_get(j, "statistics"), "insert_failed")));
    {
        char *notes = json_dumps(json_object_get(j, "notes"), JSON_COMPACT);
        assert_non_null(notes);
        if (!strstr(notes, "CAP_NET_ADMIN") || !strstr(notes, "/proc/net/nf_conntrack: "
                                                               "permission denied"))
            fail_msg("unprivileged notes do not say why: %s", notes);
        free(notes);
    }
    json_decref(j);

    for (int i = 0; i < nheld; i++)
        close(held[i]);
    close(late);
    close(lsn80);
    close(lsn81);
    close(udp53);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snat_exhaustion),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
