/* test-netns-util.c - the namespace helper itself: entering a private
 * namespace gives a working loopback whose sysctls are our own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "netns-util.h"

static int ns_setup(void **state)
{
    static char why[256];
    if (!ep_test_enter_private_netns(why, sizeof why)) {
        fprintf(stderr, "SKIP: cannot make a private network namespace: %s\n", why);
        *state = why;
    } else {
        *state = NULL;
    }
    return 0;
}

static void private_loopback_works(void **state)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    int l, c;
    if (*state)
        skip();
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "40000 40009"), 0);
    l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 8), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    c = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    alen = sizeof a;
    assert_int_equal(getsockname(c, (struct sockaddr *)&a, &alen), 0);
    assert_true(ntohs(a.sin_port) >= 40000 && ntohs(a.sin_port) <= 40009);
    close(c);
    close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(private_loopback_works),
    };
    return cmocka_run_group_tests(tests, ns_setup, NULL);
}
