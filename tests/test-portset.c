/* test-portset.c - unit tests for the small value modules: port range and
 * reserved-port text (portset.c), addresses (addr.c), error names (error.c)
 * and OS profiles (profile.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <ephport/ephport.h>

static void range_accepts_kernel_forms(void **state)
{
    uint16_t lo, hi;
    (void)state;
    assert_int_equal(ep_range_parse("32768\t60999\n", &lo, &hi, NULL), 0);
    assert_int_equal(lo, 32768);
    assert_int_equal(hi, 60999);
    assert_int_equal(ep_range_parse("1024-65535", &lo, &hi, NULL), 0);
    assert_int_equal(lo, 1024);
    assert_int_equal(hi, 65535);
    assert_int_equal(ep_range_parse("  5 5  ", &lo, &hi, NULL), 0);
    assert_int_equal(lo, 5);
    assert_int_equal(hi, 5);
}

static void range_rejects_bad_text(void **state)
{
    static const char *bad[] = { "", "0 100", "100 0", "70000 70001", "100", "100-",
                                 "-100", "10 x", "10 20 30", "a b", "200 100",
                                 "99999999999999999999 1", "1,2" };
    uint16_t lo = 7, hi = 9;
    ep_parse_error err;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(ep_range_parse(bad[i], &lo, &hi, &err), EP_EINVAL);
        assert_true(strlen(err.message) > 0);
        assert_true(err.offset <= strlen(bad[i]));
    }
    assert_int_equal(lo, 7); /* outputs untouched on failure */
    assert_int_equal(hi, 9);
    assert_int_equal(ep_range_parse(NULL, &lo, &hi, NULL), EP_EINVAL);
    assert_int_equal(ep_range_parse("200 100", &lo, &hi, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "empty"));
    assert_int_equal(ep_range_parse("1 70000", &lo, &hi, &err), EP_EINVAL);
    assert_int_equal(err.offset, 2);
    assert_non_null(strstr(err.message, "70000"));
}

static void portset_parses_and_formats(void **state)
{
    ep_portset s;
    char buf[64];
    (void)state;
    assert_int_equal(ep_portset_parse("8080,9000-9100, 22", &s, NULL), 0);
    assert_true(ep_portset_has(&s, 8080));
    assert_true(ep_portset_has(&s, 9000));
    assert_true(ep_portset_has(&s, 9100));
    assert_false(ep_portset_has(&s, 9101));
    assert_true(ep_portset_has(&s, 22));
    assert_int_equal(ep_portset_count(&s, 1, 65535), 103);
    assert_int_equal(ep_portset_format(&s, buf, sizeof buf), (int)strlen("22,8080,9000-9100"));
    assert_string_equal(buf, "22,8080,9000-9100");
    assert_int_equal(ep_portset_format(&s, buf, 5), EP_ENOSPC);
    assert_int_equal(ep_portset_parse("", &s, NULL), 0);
    assert_int_equal(ep_portset_count(&s, 1, 65535), 0);
    assert_int_equal(ep_portset_format(&s, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(ep_portset_parse("65535\n", &s, NULL), 0);
    assert_true(ep_portset_has(&s, 65535));
}

static void portset_rejects_bad_text(void **state)
{
    static const char *bad[] = { "0", "1,", ",1", "1,,2", "5-3", "65536", "1-65536",
                                 "abc", "1 2", "1;2", "1-", "-1", "1--2" };
    ep_portset s;
    ep_parse_error err;
    (void)state;
    ep_portset_clear(&s);
    ep_portset_add(&s, 4242);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(ep_portset_parse(bad[i], &s, &err), EP_EINVAL);
        assert_true(strlen(err.message) > 0);
    }
    assert_true(ep_portset_has(&s, 4242)); /* untouched on failure */
    assert_int_equal(ep_portset_count(&s, 1, 65535), 1);
}

static void addr_round_trips(void **state)
{
    ep_addr a, b;
    char buf[EP_ADDR_STRLEN];
    (void)state;
    assert_int_equal(ep_addr_parse("192.0.2.1", &a), 0);
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(ep_addr_format(&a, buf, sizeof buf), 0);
    assert_string_equal(buf, "192.0.2.1");
    assert_int_equal(ep_addr_parse("[2001:db8::1]", &b), 0);
    assert_int_equal(b.family, AF_INET6);
    assert_int_equal(ep_addr_format(&b, buf, sizeof buf), 0);
    assert_string_equal(buf, "2001:db8::1");
    assert_false(ep_addr_equal(&a, &b));
    assert_int_equal(ep_addr_format(&b, buf, 4), EP_ENOSPC);
    assert_int_equal(ep_addr_parse("::", &b), 0);
    assert_true(ep_addr_is_wildcard(&b));
    assert_false(ep_addr_is_wildcard(&a));
    assert_int_equal(ep_addr_parse("[192.0.2.1]", &a), EP_EINVAL);
    assert_int_equal(ep_addr_parse("300.1.1.1", &a), EP_EINVAL);
    assert_int_equal(ep_addr_parse("", &a), EP_EINVAL);
    assert_int_equal(ep_addr_parse(NULL, &a), EP_EINVAL);
    memset(&a, 0, sizeof a);
    assert_int_equal(ep_addr_format(&a, buf, sizeof buf), EP_EINVAL);
    assert_int_equal(ep_addr_from_bytes(AF_INET, "\x7f\0\0\1", &a), 0);
    assert_int_equal(ep_addr_format(&a, buf, sizeof buf), 0);
    assert_string_equal(buf, "127.0.0.1");
    assert_int_equal(ep_addr_from_bytes(AF_UNIX, "x", &a), EP_EINVAL);
}

static void errors_have_names(void **state)
{
    (void)state;
    assert_string_equal(ep_err_name(EP_EADDRNOTAVAIL), "EADDRNOTAVAIL");
    assert_string_equal(ep_err_name(EP_EDQUOT), "EDQUOT");
    assert_string_equal(ep_err_name(-99999), "UNKNOWN");
    assert_string_equal(ep_strerror(EP_EADDRNOTAVAIL), "no free port for this destination");
    assert_non_null(ep_strerror(-99999));
    assert_int_equal(EP_EINVAL, -EINVAL);
}

static void profiles_match_documented_defaults(void **state)
{
    const ep_profile *p;
    (void)state;
    assert_int_equal(ep_profile_count(), 5);
    p = ep_profile_find("linux");
    assert_non_null(p);
    assert_int_equal(p->lo, 32768);
    assert_int_equal(p->hi, 60999);
    assert_int_equal(p->time_wait_ms, 60000);
    p = ep_profile_find("windows");
    assert_int_equal(p->lo, 49152);
    assert_int_equal(p->hi, 65535);
    assert_int_equal(p->time_wait_ms, 120000);
    p = ep_profile_find("freebsd");
    assert_int_equal(p->lo, 10000);
    assert_int_equal(p->high_lo, 49152);
    assert_int_equal(p->high_hi, 65535);
    assert_non_null(ep_profile_find("macos"));
    assert_non_null(ep_profile_find("iana"));
    assert_null(ep_profile_find("plan9"));
    assert_null(ep_profile_find(NULL));
    assert_null(ep_profile_at(5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(range_accepts_kernel_forms),
        cmocka_unit_test(range_rejects_bad_text),
        cmocka_unit_test(portset_parses_and_formats),
        cmocka_unit_test(portset_rejects_bad_text),
        cmocka_unit_test(addr_round_trips),
        cmocka_unit_test(errors_have_names),
        cmocka_unit_test(profiles_match_documented_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
