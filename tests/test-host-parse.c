/* test-host-parse.c - the kernel-text and netlink parsers of src/host and
 * the per-destination grouping, on fixed inputs: sysctl integers,
 * /proc/net/netstat and sockstat, /proc/net/tcp{,6} lines (IPv4, IPv6,
 * v4-mapped) and the streaming reader over them (any cut into reads gives
 * the same result; truncated, malformed and overlong lines are errors that
 * name the line), a hand-built sock_diag dump, and free-port arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "host-internal.h"

static void parse_i64_accepts_sysctl_values(void **state)
{
    int64_t v;
    (void)state;
    assert_int_equal(ep_host_parse_i64("262144\n", &v), 0);
    assert_int_equal(v, 262144);
    assert_int_equal(ep_host_parse_i64("  -1 ", &v), 0);
    assert_int_equal(v, -1);
    assert_int_equal(ep_host_parse_i64("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(ep_host_parse_i64("9223372036854775808", &v), -ERANGE);
    assert_int_equal(ep_host_parse_i64("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(ep_host_parse_i64("", &v), -EINVAL);
    assert_int_equal(ep_host_parse_i64("12 13", &v), -EINVAL);
    assert_int_equal(ep_host_parse_i64("0x10", &v), -EINVAL);
    assert_int_equal(ep_host_parse_i64("-", &v), -EINVAL);
}

static const char netstat_text[] =
    "TcpExt: SyncookiesSent TW TWRecycled TCPTimeWaitOverflow\n"
    "TcpExt: 0 13 2 7\n"
    "IpExt: InNoRoutes TW\n"
    "IpExt: 5 99\n";

static void netstat_lookup_pairs_names_and_values(void **state)
{
    int64_t v;
    (void)state;
    assert_int_equal(ep_host_netstat_lookup(netstat_text, "TcpExt", "TW", &v), 0);
    assert_int_equal(v, 13);
    assert_int_equal(ep_host_netstat_lookup(netstat_text, "TcpExt", "TCPTimeWaitOverflow", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(ep_host_netstat_lookup(netstat_text, "IpExt", "TW", &v), 0);
    assert_int_equal(v, 99);
    assert_int_equal(ep_host_netstat_lookup(netstat_text, "TcpExt", "Nope", &v), -ENOENT);
    assert_int_equal(ep_host_netstat_lookup("TcpExt: A B\nTcpExt: 1\n", "TcpExt", "B", &v),
                     -EINVAL);
    assert_int_equal(ep_host_netstat_lookup("TcpExt: A B\n", "TcpExt", "B", &v), -EINVAL);
    assert_int_equal(ep_host_netstat_lookup("TcpExt: A\nTcpExt: x\n", "TcpExt", "A", &v),
                     -EINVAL);
}

static void sockstat_lookup_reads_word_pairs(void **state)
{
    static const char text[] = "sockets: used 16\nTCP: inuse 1 orphan 0 tw 2 alloc 1 mem 59\n"
                               "UDP: inuse 4 mem 0\n";
    int64_t v;
    (void)state;
    assert_int_equal(ep_host_sockstat_lookup(text, "TCP", "tw", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(ep_host_sockstat_lookup(text, "UDP", "inuse", &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(ep_host_sockstat_lookup(text, "UDP", "tw", &v), -ENOENT);
    assert_int_equal(ep_host_sockstat_lookup("TCP: inuse\n", "TCP", "inuse", &v), -EINVAL);
}

static void procnet_lines_ipv4_ipv6_mapped(void **state)
{
    ep_host_sock s;
    char buf[EP_ADDR_STRLEN];
    (void)state;
    assert_int_equal(ep_host_procnet_parse_line(
                         "  sl  local_address rem_address   st tx_queue rx_queue", AF_INET, 6, &s, NULL),
                     1);
    assert_int_equal(ep_host_procnet_parse_line(
                         "   0: 0100007F:9C40 0200007F:1389 06 00000000:00000000 03:00000DB2 "
                         "00000000     0        0 0 3 0000000000000000", AF_INET, 6, &s, NULL), 0);
    assert_int_equal(s.local_port, 40000);
    assert_int_equal(s.remote_port, 5001);
    assert_int_equal(s.state, EP_HOST_TIME_WAIT);
    assert_int_equal(s.inode, 0);
    ep_addr_format(&s.remote, buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.2");
    assert_int_equal(ep_host_procnet_parse_line(
                         "   1: 00000000000000000000000001000000:9C41 "
                         "00000000000000000000000001000000:138A 01 00000000:00000000 "
                         "00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 0 10 -1",
                         AF_INET6, 6, &s, NULL), 0);
    ep_addr_format(&s.local, buf, sizeof buf);
    assert_string_equal(buf, "::1");
    assert_int_equal(s.inode, 4242);
    /* ::ffff:127.0.0.1 folds to IPv4 */
    assert_int_equal(ep_host_procnet_parse_line(
                         "   2: 0000000000000000FFFF00000100007F:9C42 "
                         "0000000000000000FFFF00000100007F:1389 01 00000000:00000000 "
                         "00:00000000 00000000     0        0 7 1", AF_INET6, 6, &s, NULL), 0);
    assert_int_equal(s.local.family, AF_INET);
    ep_addr_format(&s.local, buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1");
    /* malformed */
    assert_int_equal(ep_host_procnet_parse_line("   0: 0100007F:9C40", AF_INET, 6, &s, NULL), -EINVAL);
    assert_int_equal(ep_host_procnet_parse_line(
                         "   0: 0100007G:9C40 0200007F:1389 06 0:0 0:0 0 0 0 0", AF_INET, 6, &s, NULL),
                     -EINVAL);
    assert_int_equal(ep_host_procnet_parse_line(
                         "   0: 0100007F:9C40 0200007F:1389 00 0:0 0:0 0 0 0 0", AF_INET, 6, &s, NULL),
                     -EINVAL);
    assert_int_equal(ep_host_procnet_parse_line(
                         "   0: 0100007F:9C40 0200007F:1389 01 0:0 0:0 0 0 0 99999999999",
                         AF_INET, 6, &s, NULL), -EINVAL);
}

/* A small /proc/net/tcp: header, a TIME_WAIT and an ESTABLISHED towards
 * 127.0.0.2:5001, one towards 127.0.0.1:5000, a listener (bind-only). */
static const char procnet_tcp_text[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode\n"
    "   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        "
    "0 101 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:9C40 0200007F:1389 06 00000000:00000000 03:00000DB2 00000000     0        "
    "0 0 3 0000000000000000\n"
    "   2: 0100007F:9C41 0200007F:1389 01 00000000:00000000 00:00000000 00000000     0        "
    "0 102 1 0000000000000000 20 4 0 10 -1\n"
    "   3: 0100007F:9C42 0100007F:1388 01 00000000:00000000 00:00000000 00000000     0        "
    "0 103 1 0000000000000000 20 4 0 10 -1\n";

/* Feed text in pieces of `step` bytes (0 = whole); the reader's result. */
static int ep_feed_text(const char *text, size_t len, size_t step, ep_host_agg *agg,
                        ep_host_procnet_reader *r)
{
    int rc = 0;
    ep_host_procnet_begin(r, AF_INET, 6, agg);
    for (size_t off = 0; off < len && rc == 0; off += step ? step : len) {
        size_t n = step && len - off > step ? step : len - off;
        rc = ep_host_procnet_feed(r, text + off, n);
    }
    return rc ? rc : ep_host_procnet_end(r);
}

/* The same file cut into reads of any size gives the same destinations. */
static void procnet_reader_streams_in_any_chunks(void **state)
{
    static const size_t steps[] = { 0, 1, 2, 7, 149, 150, 151, 4096 };
    static ep_host_agg agg;
    static ep_host_procnet_reader r;
    ep_host_entry *e;
    size_t n;
    (void)state;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        assert_int_equal(ep_host_agg_init(&agg, 40000, 40099, NULL, false, 0), 0);
        assert_int_equal(ep_feed_text(procnet_tcp_text, strlen(procnet_tcp_text), steps[i], &agg,
                                      &r), 0);
        assert_int_equal(r.line_no, 5);
        assert_int_equal(r.sockets, 4);
        assert_int_equal(ep_host_agg_finish(&agg, 100, NULL, &e, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(e[0].d.remote_port, 5001);
        assert_int_equal(e[0].d.used, 2);
        assert_int_equal(e[0].d.time_wait, 1);
        assert_int_equal(e[0].d.free, 98);
        assert_int_equal(e[1].d.remote_port, 5000);
        assert_int_equal(e[1].d.used, 1);
        ep_host_entries_free(e, n);
        ep_host_agg_free(&agg);
    }
}

/* Run text through a reader (whole, then byte by byte: same verdict);
 * expect -EINVAL at line `line` with a reason containing `words`. */
static void ep_expect_bad(const char *text, size_t len, uint64_t line, const char *words)
{
    static ep_host_agg agg;
    static ep_host_procnet_reader r;
    for (size_t step = 0; step < 2; step++) {
        assert_int_equal(ep_host_agg_init(&agg, 1, 65535, NULL, false, 0), 0);
        assert_int_equal(ep_feed_text(text, len, step, &agg, &r), -EINVAL);
        if (r.line_no != line || !r.why || !strstr(r.why, words))
            fail_msg("line %llu (want %llu), why '%s' (want '%s')",
                     (unsigned long long)r.line_no, (unsigned long long)line,
                     r.why ? r.why : "(null)", words);
        /* sticky: more input does not clear it */
        assert_int_equal(ep_host_procnet_feed(&r, "\n", 1), -EINVAL);
        assert_int_equal(ep_host_procnet_end(&r), -EINVAL);
        ep_host_agg_free(&agg);
    }
}

/* Every kind of damage is an error naming the line, never a skipped line
 * (a skipped socket would overstate free ports). */
static void procnet_reader_rejects_malformed_input(void **state)
{
    static char text[4096];
    size_t hl = strcspn(procnet_tcp_text, "\n") + 1; /* the header line */
    size_t len = strlen(procnet_tcp_text);
    (void)state;
    /* truncated: the last line has no newline (cut mid-line, or just before it) */
    ep_expect_bad(procnet_tcp_text, len - 20, 5, "truncated");
    ep_expect_bad(procnet_tcp_text, len - 1, 5, "truncated");
    /* truncated inside a line that still ends with a newline */
    snprintf(text, sizeof text, "%.*s   0: 0100007F:9C40\n", (int)hl, procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 2, "bad remote address");
    snprintf(text, sizeof text, "%.*s   0: 0100007F:9C40 0200007F:1389 06 00000000:00000000\n",
             (int)hl, procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 2, "missing fields");
    /* bad hex: in an address, in a port, in the state */
    snprintf(text, sizeof text, "%s   4: 0100007G:9C40 0200007F:1389 06 0:0 0:0 0 0 0 0\n",
             procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 6, "bad local address");
    snprintf(text, sizeof text, "%s   4: 0100007F:9C40 0200007F:13Z9 06 0:0 0:0 0 0 0 0\n",
             procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 6, "bad remote address");
    snprintf(text, sizeof text, "%s   4: 0100007F:9C40 0200007F:1389 0x 0:0 0:0 0 0 0 0\n",
             procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 6, "bad state");
    /* a token that runs on: "9C40X", state "061" */
    snprintf(text, sizeof text, "%s   4: 0100007F:9C40X 0200007F:1389 06 0:0 0:0 0 0 0 0\n",
             procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 6, "bad local address");
    snprintf(text, sizeof text, "%s   4: 0100007F:9C40 0200007F:1389 061 0:0 0:0 0 0 0 0\n",
             procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 6, "bad state");
    /* an IPv4 address in an IPv6 file is the wrong width */
    {
        static ep_host_agg agg;
        static ep_host_procnet_reader r;
        assert_int_equal(ep_host_agg_init(&agg, 1, 65535, NULL, false, 0), 0);
        ep_host_procnet_begin(&r, AF_INET6, 6, &agg);
        assert_int_equal(ep_host_procnet_feed(&r, procnet_tcp_text, len), -EINVAL);
        assert_int_equal(r.line_no, 2);
        assert_non_null(strstr(r.why, "32 hex digits"));
        ep_host_agg_free(&agg);
    }
    /* bad inode */
    snprintf(text, sizeof text, "%s   4: 0100007F:9C40 0200007F:1389 01 0:0 0:0 0 0 0 12x4\n",
             procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 6, "bad inode");
    snprintf(text, sizeof text, "%s   4: 0100007F:9C40 0200007F:1389 01 0:0 0:0 0 0 0 4294967296\n",
             procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 6, "bad inode");
    /* overlong: a line of 1025 bytes, and one of 3000 */
    for (size_t over = EP_HOST_PROCNET_LINE_MAX + 1; over < 4000; over += 1975) {
        size_t n = (size_t)snprintf(text, sizeof text, "%s   4: 0100007F:9C40 0200007F:1389 01 "
                                    "0:0 0:0 0 0 0 7", procnet_tcp_text);
        memset(text + n, ' ', over - (n - len));
        n = len + over;
        text[n++] = '\n';
        ep_expect_bad(text, n, 6, "longer than 1024 bytes");
    }
    /* ... while the longest accepted line is accepted */
    {
        static ep_host_agg agg;
        static ep_host_procnet_reader r;
        size_t n = (size_t)snprintf(text, sizeof text, "%s   4: 0100007F:9C40 0200007F:1389 01 "
                                    "0:0 0:0 0 0 0 7", procnet_tcp_text);
        memset(text + n, ' ', EP_HOST_PROCNET_LINE_MAX - (n - len));
        n = len + EP_HOST_PROCNET_LINE_MAX;
        text[n++] = '\n';
        assert_int_equal(ep_host_agg_init(&agg, 1, 65535, NULL, false, 0), 0);
        assert_int_equal(ep_feed_text(text, n, 1, &agg, &r), 0);
        assert_int_equal(r.sockets, 5);
        ep_host_agg_free(&agg);
    }
    /* structure: empty file, no header, a second header, an empty line, a NUL */
    ep_expect_bad("", 0, 1, "empty file");
    ep_expect_bad(procnet_tcp_text + hl, len - hl, 1, "no header");
    snprintf(text, sizeof text, "%s%.*s", procnet_tcp_text, (int)hl, procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 6, "header line after");
    snprintf(text, sizeof text, "%s\n", procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 6, "empty line");
    memcpy(text, procnet_tcp_text, len);
    text[hl + strcspn(procnet_tcp_text + hl, "\n") - 3] = '\0'; /* line 2, after its inode */
    ep_expect_bad(text, len, 2, "NUL byte");
    /* a line starting "sl" that is not the header is not skipped */
    snprintf(text, sizeof text, "%.*ssl garbage\n", (int)hl, procnet_tcp_text);
    ep_expect_bad(text, strlen(text), 2, "not a socket line");
}

/* The LISTEN pass stops at the first socket that is not listening (the
 * kernel prints listeners first): what follows is not even parsed. */
static void procnet_listen_pass_stops_after_listeners(void **state)
{
    static ep_host_agg agg;
    static ep_host_procnet_reader r;
    static char text[4096];
    (void)state;
    snprintf(text, sizeof text, "%sgarbage\n", procnet_tcp_text);
    assert_int_equal(ep_host_agg_init(&agg, 1, 65535, NULL, false, 0), 0);
    agg.listen_pass = true;
    ep_host_procnet_begin(&r, AF_INET, 6, &agg);
    r.listen_only = true;
    assert_int_equal(ep_host_procnet_feed(&r, text, strlen(text)), 0);
    assert_true(r.done);
    assert_int_equal(r.line_no, 3);   /* header, the listener, the first other */
    assert_int_equal(r.sockets, 1);
    assert_true(ep_portset_has(&agg.listen_set, 5000));
    assert_int_equal(agg.totals.tcp_all, 0);
    assert_int_equal(ep_host_procnet_feed(&r, "partial", 7), 0);
    assert_int_equal(ep_host_procnet_end(&r), 0);
    ep_host_agg_free(&agg);
}

/* Append one SOCK_DIAG_BY_FAMILY message to buf at *off. */
static void ep_put_diag(char *buf, size_t *off, uint8_t state, const char *src, uint16_t sport,
                        const char *dst, uint16_t dport)
{
    struct nlmsghdr *nlh = (struct nlmsghdr *)(buf + *off);
    struct inet_diag_msg *m = (struct inet_diag_msg *)NLMSG_DATA(nlh);
    memset(nlh, 0, NLMSG_SPACE(sizeof *m));
    nlh->nlmsg_len = NLMSG_LENGTH(sizeof *m);
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_MULTI;
    m->idiag_family = AF_INET;
    m->idiag_state = state;
    m->id.idiag_sport = htons(sport);
    m->id.idiag_dport = htons(dport);
    inet_pton(AF_INET, src, m->id.idiag_src);
    inet_pton(AF_INET, dst, m->id.idiag_dst);
    *off += NLMSG_SPACE(sizeof *m);
}

static void sockdiag_dump_groups_by_destination(void **state)
{
    static char buf[4096] __attribute__((aligned(8)));
    static ep_host_agg agg;
    static ep_portset reserved;
    ep_host_entry *e;
    size_t off = 0, n;
    struct nlmsghdr *done;
    (void)state;

    assert_int_equal(ep_portset_parse("40005", &reserved, NULL), 0);
    assert_int_equal(ep_host_agg_init(&agg, 40000, 40009, &reserved, false, 0), 0);
    ep_put_diag(buf, &off, EP_HOST_ESTABLISHED, "10.0.0.1", 40000, "10.0.0.9", 443);
    ep_put_diag(buf, &off, EP_HOST_TIME_WAIT, "10.0.0.1", 40001, "10.0.0.9", 443);
    ep_put_diag(buf, &off, EP_HOST_TIME_WAIT, "10.0.0.1", 40005, "10.0.0.9", 443); /* reserved */
    ep_put_diag(buf, &off, EP_HOST_ESTABLISHED, "10.0.0.1", 40002, "10.0.0.8", 443);
    ep_put_diag(buf, &off, EP_HOST_CLOSE, "0.0.0.0", 40003, "0.0.0.0", 0);     /* bind-only */
    ep_put_diag(buf, &off, EP_HOST_ESTABLISHED, "10.0.0.1", 39999, "10.0.0.9", 443); /* out */
    assert_int_equal(ep_host_sockdiag_parse(buf, off, 6, &agg), 1);
    done = (struct nlmsghdr *)buf;
    memset(done, 0, NLMSG_SPACE(sizeof(int)));
    done->nlmsg_len = NLMSG_LENGTH(sizeof(int));
    done->nlmsg_type = NLMSG_DONE;
    assert_int_equal(ep_host_sockdiag_parse(buf, NLMSG_SPACE(sizeof(int)), 6, &agg), 0);
    /* garbage length is an error, not a crash */
    done->nlmsg_len = 3;
    assert_true(ep_host_sockdiag_parse(buf, 16, 6, &agg) <= 1);

    assert_int_equal(ep_host_agg_finish(&agg, 9, NULL, &e, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(agg.totals.tcp_all, 5);
    assert_int_equal(agg.bound.tcp_bound, 1);
    assert_int_equal(agg.bound.tcp_ports, 1);
    /* 10.0.0.9:443: 3 used, 2 on effective ports, + 1 bind-only = 6 free of 9 */
    assert_int_equal(e[0].d.remote_port, 443);
    assert_int_equal(e[0].d.used, 3);
    assert_int_equal(e[0].d.time_wait, 2);
    assert_int_equal(e[0].d.established, 1);
    assert_int_equal(e[0].d.free, 6);
    assert_true(e[0].d.headroom_pct > 66.6 && e[0].d.headroom_pct < 66.7);
    assert_int_equal(e[1].d.used, 1);
    assert_int_equal(e[1].d.free, 7);
    ep_host_entries_free(e, n);
    ep_host_agg_free(&agg);
}

static void grouping_survives_many_destinations(void **state)
{
    static ep_host_agg agg;
    ep_host_entry *e;
    size_t n;
    (void)state;
    assert_int_equal(ep_host_agg_init(&agg, 1024, 65535, NULL, true, 0), 0);
    for (uint32_t i = 0; i < 5000; i++) {
        ep_host_sock s = { .proto = 6, .state = EP_HOST_ESTABLISHED,
                           .local_port = (uint16_t)(1024 + i % 60000), .remote_port = 80,
                           .inode = i + 1 };
        uint32_t ip = htonl(0x0a000000u + i / 3);
        ep_addr_from_bytes(AF_INET, "\x0a\x00\x00\x01", &s.local);
        ep_addr_from_bytes(AF_INET, &ip, &s.remote);
        ep_host_agg_add(&agg, &s);
    }
    assert_int_equal(ep_host_agg_finish(&agg, 64512, NULL, &e, &n), 0);
    assert_int_equal(n, 1667);
    assert_int_equal(e[0].d.used, 3);
    assert_int_equal(e[n - 1].d.used, 2);
    ep_host_entries_free(e, n);
    ep_host_agg_free(&agg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_i64_accepts_sysctl_values),
        cmocka_unit_test(netstat_lookup_pairs_names_and_values),
        cmocka_unit_test(sockstat_lookup_reads_word_pairs),
        cmocka_unit_test(procnet_lines_ipv4_ipv6_mapped),
        cmocka_unit_test(procnet_reader_streams_in_any_chunks),
        cmocka_unit_test(procnet_reader_rejects_malformed_input),
        cmocka_unit_test(procnet_listen_pass_stops_after_listeners),
        cmocka_unit_test(sockdiag_dump_groups_by_destination),
        cmocka_unit_test(grouping_survives_many_destinations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
