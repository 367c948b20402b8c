/* test-capacity.c - unit tests of the capacity rules (src/lib/capacity.c):
 * the timer wheel's granularity and TIME_WAIT as Linux keeps it, the
 * tcp_tw_reuse rule of tcp_twsk_unique, block time and sustainable rate,
 * and Erlang B against table values (Erlang B tables: 10 ports carry 4.461
 * erlangs at 1 %, 100 ports 84.06) and against an independent log-space
 * evaluation of A^c/c! / sum A^k/k! (python, in the comments). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <ephport/addr.h>
#include <ephport/capacity.h>

static void near(double got, double want, double rel)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("got %.12g, want %.12g (relative %g)", got, want, rel);
}

static void timer_wheel_granularity(void **state)
{
    (void)state;
    /* 60 s: HZ=250 15000 jiffies, level 3 (4032..32255): 512 jiffies */
    assert_true(ep_linux_timer_granularity(EP_SEC(60), 250) == EP_MSEC(2048));
    /* HZ=100 6000 jiffies, level 3: 512 jiffies = 5.12 s */
    assert_true(ep_linux_timer_granularity(EP_SEC(60), 100) == EP_MSEC(5120));
    /* HZ=1000 60000 jiffies, level 4 (32256..258047): 4096 jiffies */
    assert_true(ep_linux_timer_granularity(EP_SEC(60), 1000) == EP_MSEC(4096));
    /* HZ=300 18000 jiffies, level 3: 512/300 s */
    assert_true(ep_linux_timer_granularity(EP_SEC(60), 300) == 512 * EP_NSEC_PER_SEC / 300);
    /* level boundaries at HZ=1000: 62 jiffies level 0, 63 level 1 */
    assert_true(ep_linux_timer_granularity(EP_MSEC(62), 1000) == EP_MSEC(1));
    assert_true(ep_linux_timer_granularity(EP_MSEC(63), 1000) == EP_MSEC(8));
    assert_true(ep_linux_timer_granularity(EP_SEC(60), 0) == 0);

    /* measured on Linux 6.18, HZ=250: 60.024-62.048 s */
    assert_true(ep_linux_time_wait_upper_hz(EP_LINUX_TIME_WAIT, 250) == EP_MSEC(62048));
    /* unknown HZ: the worst of 100/250/300/1000 is HZ=100 */
    assert_true(ep_linux_time_wait_upper(EP_LINUX_TIME_WAIT) == EP_MSEC(65120));
    assert_true(ep_linux_time_wait_upper(0) == 0);
}

static ep_addr addr(const char *text)
{
    ep_addr a;
    assert_int_equal(ep_addr_parse(text, &a), 0);
    return a;
}

static void tw_reuse_rule(void **state)
{
    ep_addr lo4 = addr("127.0.0.1"), lo4b = addr("127.200.0.9"), pub = addr("192.0.2.7"),
            lo6 = addr("::1"), mapped = addr("::ffff:127.0.0.5"),
            mapped_pub = addr("::ffff:192.0.2.7"), pub6 = addr("2001:db8::1"),
            two6 = addr("::2");
    (void)state;
    assert_true(ep_linux_addr_is_loopback(&lo4));
    assert_true(ep_linux_addr_is_loopback(&lo4b));
    assert_true(ep_linux_addr_is_loopback(&lo6));
    assert_true(ep_linux_addr_is_loopback(&mapped));
    assert_false(ep_linux_addr_is_loopback(&pub));
    assert_false(ep_linux_addr_is_loopback(&mapped_pub));
    assert_false(ep_linux_addr_is_loopback(&pub6));
    assert_false(ep_linux_addr_is_loopback(&two6));
    assert_false(ep_linux_addr_is_loopback(NULL));

    /* 0: never; 1: always */
    assert_false(ep_linux_tw_reuse_applies(0, &lo4, &lo4));
    assert_true(ep_linux_tw_reuse_applies(1, &pub, &pub));
    /* 2: either end loopback is enough (tcp_twsk_unique checks the entry's
     * remote and its local address separately) */
    assert_true(ep_linux_tw_reuse_applies(2, &lo4, &lo4));
    assert_true(ep_linux_tw_reuse_applies(2, &pub, &lo4b));
    assert_true(ep_linux_tw_reuse_applies(2, &lo4, &pub));
    assert_true(ep_linux_tw_reuse_applies(2, &pub6, &lo6));
    assert_true(ep_linux_tw_reuse_applies(2, &mapped, &mapped_pub));
    assert_true(ep_linux_tw_reuse_applies(2, &mapped_pub, &mapped));
    assert_false(ep_linux_tw_reuse_applies(2, &pub, &pub));
    assert_false(ep_linux_tw_reuse_applies(2, &mapped_pub, &pub6));
    assert_false(ep_linux_tw_reuse_applies(2, NULL, NULL));
    /* not a value the sysctl takes (e.g. unknown, -1): never */
    assert_false(ep_linux_tw_reuse_applies(-1, &lo4, &lo4));
    assert_false(ep_linux_tw_reuse_applies(3, &lo4, &lo4));
}

static void block_time_and_rate(void **state)
{
    (void)state;
    near(ep_capacity_block_time(0.5, 60, false, 1), 60.5, 1e-15);
    near(ep_capacity_block_time(0.5, 60, true, 1), 1.5, 1e-15);
    /* a reuse delay longer than TIME_WAIT changes nothing */
    near(ep_capacity_block_time(0, 2, true, 5), 2, 1e-15);
    near(ep_capacity_sustainable_rate(28232, 60), 28232.0 / 60, 1e-15);
    near(ep_capacity_sustainable_rate(28232, 65.12), 433.5380835, 1e-9);
    assert_true(isinf(ep_capacity_sustainable_rate(10, 0)));
    assert_true(ep_capacity_sustainable_rate(0, 60) == 0.0);
}

static void erlang_b_table_values(void **state)
{
    (void)state;
    near(ep_erlang_b(1, 1), 0.5, 1e-15);
    near(ep_erlang_b(2, 1), 0.2, 1e-14);
    near(ep_erlang_b(10, 5), 0.018384570336648, 1e-12);
    /* table: 10 ports at 1 % carry 4.461 erlangs, 100 ports 84.06 */
    near(ep_erlang_b(10, 4.461), 0.00999778668790, 1e-10);
    near(ep_erlang_b(100, 84.06), 0.00999170258803, 1e-10);
    near(ep_erlang_b_offered(10, 0.01), 4.46117685757769, 1e-8);
    near(ep_erlang_b_offered(100, 0.01), 84.0641588939475, 1e-8);
    /* issue 11: 1000 ports at 970 erlangs lose 0.95 % */
    near(ep_erlang_b(1000, 970), 0.00952919327172, 1e-10);
    /* edges */
    assert_true(ep_erlang_b(0, 3) == 1.0);
    assert_true(ep_erlang_b(5, 0) == 0.0);
    assert_true(ep_erlang_b(0, 0) == 1.0);
    assert_true(isnan(ep_erlang_b(5, -1)));
    assert_true(isnan(ep_erlang_b(5, NAN)));
    assert_true(ep_erlang_b(5, INFINITY) == 1.0);
    assert_true(isnan(ep_erlang_b_offered(10, 0)));
    assert_true(isnan(ep_erlang_b_offered(10, 1)));
    assert_true(ep_erlang_b_offered(0, 0.01) == 0);
}

static void erlang_b_large_c(void **state)
{
    double a;
    (void)state;
    /* log-space reference: B(100000, 99000) = 8.2257755986e-06,
     * B(100000, 100000) = 0.0025188934235 */
    near(ep_erlang_b(100000, 99000), 8.2257755986e-06, 1e-8);
    near(ep_erlang_b(100000, 100000), 0.0025188934235469, 1e-9);
    /* 16 full ranges at 99 % load: about 4.66e-27, no overflow, no NaN */
    near(ep_erlang_b(65535u * 16, 65535.0 * 16 * 0.99), 4.661010054497e-27, 1e-6);
    /* monotone in c and in A */
    assert_true(ep_erlang_b(5000, 4900) > ep_erlang_b(5001, 4900));
    assert_true(ep_erlang_b(5000, 4900) < ep_erlang_b(5000, 4901));
    /* the inverse at large c meets the target and is tight */
    a = ep_erlang_b_offered(1000000, 0.001);
    assert_true(ep_erlang_b(1000000, a) <= 0.001);
    assert_true(ep_erlang_b(1000000, a * (1 + 1e-8)) > 0.001);
}

static void smallest_ports(void **state)
{
    (void)state;
    /* 2 conn/s x 65.12 s (+0.1 s in use) = 130.44 erlangs: 162 ports for
     * 0.1 %; 1000 erlangs: 1072 */
    assert_int_equal(ep_erlang_b_ports(130.44, 0.001, 65535), 162);
    assert_int_equal(ep_erlang_b_ports(970, 0.001, 65535), 1041);
    assert_int_equal(ep_erlang_b_ports(970, 0.01, 65535), 999);
    assert_int_equal(ep_erlang_b_ports(1000, 0.001, 65535), 1072);
    /* the answer is the smallest: one port fewer misses the target */
    assert_true(ep_erlang_b(1071, 1000) > 0.001);
    assert_true(ep_erlang_b(1072, 1000) <= 0.001);
    assert_int_equal(ep_erlang_b_ports(0, 0.001, 10), 0);
    assert_int_equal(ep_erlang_b_ports(5, 1, 10), 0);
    /* more than the limit, or bad arguments */
    assert_int_equal(ep_erlang_b_ports(1000, 0.001, 1071), UINT32_MAX);
    assert_int_equal(ep_erlang_b_ports(10, 0, 100), UINT32_MAX);
    assert_int_equal(ep_erlang_b_ports(-1, 0.01, 100), UINT32_MAX);
    assert_int_equal(ep_erlang_b_ports(INFINITY, 0.01, 100), UINT32_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timer_wheel_granularity),
        cmocka_unit_test(tw_reuse_rule),
        cmocka_unit_test(block_time_and_rate),
        cmocka_unit_test(erlang_b_table_values),
        cmocka_unit_test(erlang_b_large_c),
        cmocka_unit_test(smallest_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
