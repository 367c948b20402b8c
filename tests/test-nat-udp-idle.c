/* test-nat-udp-idle.c - RFC 4787 REQ-5 measured, not read: a UDP mapping
 * made through the ruleset `ephport nat plan --nft` prints, then left idle
 * for 125 s, still exists.  The server sends first after the pause (a
 * mapping that expired would leave the router nothing to translate it back
 * with, so it would never arrive), then the subscriber sends from the same
 * socket and the server sees the same external port.  Long (125 s): its own
 * test, suite integration.  Topology: nat-topo.h with one subscriber. */
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

#include "nat-topo.h"

#define IDLE_SECONDS 125

static char skip_why[256];

static int setup(void **state)
{
    (void)state;
    if (!nat_topo_up(1, skip_why, sizeof skip_why))
        return 0;
    return nat_topo_run("r", "\"%s\" nat plan --inside 100.64.1.2 --outside 203.0.113.1 "
                             "--ports 20000-20003 --block-size 4 --nft | nft -f -",
                        getenv("EPHPORT_BIN")) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nat_topo_down();
    return 0;
}

static int udp_in(const char *ns, uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    struct timeval tv = { .tv_sec = 3 };
    int fd;
    assert_true(nat_topo_enter(ns));
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (port)
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_true(nat_topo_enter(""));
    return fd;
}

static void udp_mapping_survives_idle(void **state)
{
    struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(9500) }, ext, again;
    socklen_t len = sizeof ext;
    int o, c;
    char b;
    (void)state;
    if (skip_why[0]) {
        fprintf(stderr, "SKIP: nat-udp-idle: %s\n", skip_why);
        skip();
    }
    inet_pton(AF_INET, "203.0.113.100", &srv.sin_addr);
    o = udp_in("o", 9500);
    c = udp_in("s1", 0);
    /* a mapping with a reply: the kernel's own timeout would be 30 s */
    assert_int_equal(sendto(c, "a", 1, 0, (struct sockaddr *)&srv, sizeof srv), 1);
    assert_int_equal(recvfrom(o, &b, 1, 0, (struct sockaddr *)&ext, &len), 1);
    assert_int_equal(sendto(o, "b", 1, 0, (struct sockaddr *)&ext, len), 1);
    assert_int_equal(recv(c, &b, 1, 0), 1);
    fprintf(stderr, "nat-udp-idle: mapping to external port %u; idle for %d s\n",
            ntohs(ext.sin_port), IDLE_SECONDS);
    sleep(IDLE_SECONDS);
    assert_int_equal(sendto(o, "c", 1, 0, (struct sockaddr *)&ext, len), 1);
    if (recv(c, &b, 1, 0) != 1)
        fail_msg("after %d s idle the mapping to port %u is gone (RFC 4787 REQ-5: >= 120 s): %s",
                 IDLE_SECONDS, ntohs(ext.sin_port), strerror(errno));
    assert_int_equal(b, 'c');
    assert_int_equal(sendto(c, "d", 1, 0, (struct sockaddr *)&srv, sizeof srv), 1);
    len = sizeof again;
    assert_int_equal(recvfrom(o, &b, 1, 0, (struct sockaddr *)&again, &len), 1);
    assert_int_equal(ntohs(again.sin_port), ntohs(ext.sin_port));
    close(c);
    close(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(udp_mapping_survives_idle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
