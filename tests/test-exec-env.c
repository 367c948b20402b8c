/* test-exec-env.c - the "LO-HI" parser shared by `ephport exec` and the
 * preload shim (src/preload/range-env.c), and the option value it encodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "range-env.h"

static void accepts_valid_ranges(void **state)
{
    uint16_t lo = 0, hi = 0;
    (void)state;
    assert_true(ep_preload_range_parse("40000-40099", &lo, &hi));
    assert_int_equal(lo, 40000);
    assert_int_equal(hi, 40099);
    assert_true(ep_preload_range_parse("1-65535", &lo, &hi));
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 65535);
    assert_true(ep_preload_range_parse("7-7", &lo, &hi));
    assert_int_equal(lo, 7);
    assert_int_equal(hi, 7);
}

static void rejects_everything_else(void **state)
{
    static const char *bad[] = { "", "-", "1-", "-1", "0-10", "10-9", "1-65536", "99999-1",
                                 "000001-2", " 1-2", "1-2 ", "1 2", "+1-2", "1--2", "1-2-3",
                                 "a-b", "1-2\n", NULL };
    uint16_t lo = 123, hi = 456;
    (void)state;
    for (size_t i = 0; bad[i]; i++) {
        assert_false(ep_preload_range_parse(bad[i], &lo, &hi));
        assert_int_equal(lo, 123);
        assert_int_equal(hi, 456);
    }
    assert_false(ep_preload_range_parse(NULL, &lo, &hi));
}

static void encodes_hi_above_lo(void **state)
{
    (void)state;
    /* IP_LOCAL_PORT_RANGE: upper 16 bits high bound, lower 16 bits low. */
    assert_int_equal(ep_preload_range_value(40000, 40099), (40099u << 16) | 40000u);
    assert_int_equal(IP_LOCAL_PORT_RANGE, 51);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_valid_ranges),
        cmocka_unit_test(rejects_everything_else),
        cmocka_unit_test(encodes_hi_above_lo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
