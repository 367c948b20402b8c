/* test-top-tw.c - unit tests for `ephport top`'s TIME_WAIT timer dump parser
 * (src/cli/top-tw.c): records decoded field by field, v4-mapped addresses
 * folded, other states skipped, NLMSG_DONE / NLMSG_ERROR / malformed lengths
 * reported as documented. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <ephport/conns.h>

static _Alignas(4) unsigned char buf[4096];
static size_t len;

static void put_msg(uint16_t type, const void *payload, size_t n)
{
    struct nlmsghdr h = { .nlmsg_len = (uint32_t)(NLMSG_HDRLEN + n), .nlmsg_type = type };
    memcpy(buf + len, &h, sizeof h);
    memcpy(buf + len + NLMSG_HDRLEN, payload, n);
    len += NLMSG_ALIGN(h.nlmsg_len);
}

static void put_sock(int family, int state, const char *src, const char *dst, uint16_t sport,
                     uint16_t dport, uint32_t expires)
{
    struct inet_diag_msg m;
    memset(&m, 0, sizeof m);
    m.idiag_family = (uint8_t)family;
    m.idiag_state = (uint8_t)state;
    m.id.idiag_sport = htons(sport);
    m.id.idiag_dport = htons(dport);
    inet_pton(family, src, m.id.idiag_src);
    inet_pton(family, dst, m.id.idiag_dst);
    m.idiag_expires = expires;
    put_msg(SOCK_DIAG_BY_FAMILY, &m, sizeof m);
}

static void put_done(void)
{
    int32_t zero = 0;
    put_msg(NLMSG_DONE, &zero, sizeof zero);
}

static ep_host_conn got[8];
static size_t ngot;

static void collect(const ep_host_conn *tw, void *arg)
{
    (void)arg;
    if (ngot < 8)
        got[ngot] = *tw;
    ngot++;
}

static int reset(void **state)
{
    (void)state;
    len = 0;
    ngot = 0;
    memset(buf, 0, sizeof buf);
    return 0;
}

static void decodes_time_wait_records(void **state)
{
    char a[EP_ADDR_STRLEN];
    (void)state;
    put_sock(AF_INET, TCP_TIME_WAIT, "127.0.0.1", "127.0.0.2", 40001, 8080, 59000);
    put_sock(AF_INET, TCP_ESTABLISHED, "127.0.0.1", "127.0.0.2", 40002, 8080, 0);
    put_sock(AF_INET6, TCP_TIME_WAIT, "::1", "fd00::9", 40003, 443, 1200);
    put_sock(AF_INET6, TCP_TIME_WAIT, "::ffff:10.0.0.1", "::ffff:10.0.0.9", 40004, 80, 30000);
    put_done();
    assert_int_equal(ep_host_conns_parse_tw(buf, len, collect, NULL), 1);
    assert_int_equal(ngot, 3); /* ESTABLISHED skipped */

    assert_int_equal(got[0].local.family, AF_INET);
    ep_addr_format(&got[0].remote, a, sizeof a);
    assert_string_equal(a, "127.0.0.2");
    assert_int_equal(got[0].local_port, 40001);
    assert_int_equal(got[0].remote_port, 8080);
    assert_int_equal(got[0].expires_ms, 59000);

    assert_int_equal(got[1].remote.family, AF_INET6);
    ep_addr_format(&got[1].remote, a, sizeof a);
    assert_string_equal(a, "fd00::9");
    assert_int_equal(got[1].expires_ms, 1200);

    /* v4-mapped: keyed as IPv4, like the host snapshot. */
    assert_int_equal(got[2].local.family, AF_INET);
    ep_addr_format(&got[2].remote, a, sizeof a);
    assert_string_equal(a, "10.0.0.9");
}

static void buffer_without_done_asks_for_more(void **state)
{
    (void)state;
    put_sock(AF_INET, TCP_TIME_WAIT, "127.0.0.1", "127.0.0.2", 40001, 8080, 1);
    assert_int_equal(ep_host_conns_parse_tw(buf, len, collect, NULL), 0);
    assert_int_equal(ngot, 1);
    assert_int_equal(ep_host_conns_parse_tw(buf, 0, collect, NULL), 0);
}

static void kernel_errors_and_bad_lengths(void **state)
{
    struct nlmsgerr e;
    struct nlmsghdr h;
    (void)state;
    memset(&e, 0, sizeof e);
    e.error = -EPERM;
    put_msg(NLMSG_ERROR, &e, sizeof e);
    assert_int_equal(ep_host_conns_parse_tw(buf, len, collect, NULL), -EPERM);

    /* A length past the buffer, and one shorter than the header. */
    reset(NULL);
    put_sock(AF_INET, TCP_TIME_WAIT, "127.0.0.1", "127.0.0.2", 1, 2, 3);
    assert_int_equal(ep_host_conns_parse_tw(buf, len - 1, collect, NULL), -EINVAL);
    memcpy(&h, buf, sizeof h);
    h.nlmsg_len = 8;
    memcpy(buf, &h, sizeof h);
    assert_int_equal(ep_host_conns_parse_tw(buf, len, collect, NULL), -EINVAL);
    /* A diag message too short for its body. */
    h.nlmsg_len = NLMSG_HDRLEN + 8;
    memcpy(buf, &h, sizeof h);
    assert_int_equal(ep_host_conns_parse_tw(buf, len, collect, NULL), -EINVAL);
    assert_int_equal(ngot, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(decodes_time_wait_records, reset),
        cmocka_unit_test_setup(buffer_without_done_asks_for_more, reset),
        cmocka_unit_test_setup(kernel_errors_and_bad_lengths, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
