/* test-top-rate.c - unit tests for `ephport top`'s estimator (src/cli/
 * top-rate.c): the new-connection rate inferred from successive (used,
 * TIME_WAIT) counts, the expiry bookkeeping, and the time to exhaustion. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "src/cli/top-rate.h"

#define T 60.0

static void assert_near(double got, double want, double tol)
{
    if (fabs(got - want) > tol)
        fail_msg("got %.9f, want %.9f (tolerance %g)", got, want, tol);
}

/* Steady traffic at r/s: used = tw = r*T throughout, entries of unknown age
 * at start.  The estimator must report r, not 0. */
static void steady_state_reports_the_rate(void **state)
{
    ep_top_track tr;
    const double r = 100.0;
    (void)state;
    ep_top_track_init(&tr, 0.0, (uint32_t)(r * T), (uint32_t)(r * T), false);
    for (int i = 1; i <= 50; i++)
        assert_near(ep_top_track_update(&tr, i, (uint32_t)(r * T), (uint32_t)(r * T), T), r,
                    1e-6);
}

/* A burst seen arriving, then silence: no phantom rate while the entries sit
 * in TIME_WAIT, and none when they all leave T later. */
static void burst_then_idle_reports_zero(void **state)
{
    ep_top_track tr;
    (void)state;
    ep_top_track_init(&tr, 0.0, 0, 0, true);
    assert_near(ep_top_track_update(&tr, 1.0, 500, 500, T), 500.0, 1e-9);
    for (int t = 2; t <= 60; t++)
        assert_near(ep_top_track_update(&tr, t, 500, 500, T), 0.0, 1e-3);
    /* All 500 arrived in (0, 1]: they leave in (60, 61]. */
    assert_near(ep_top_track_expiries(&tr, 60.0, 61.0, T), 500.0, 1e-3);
    assert_near(ep_top_track_update(&tr, 61.0, 0, 0, T), 0.0, 1e-3);
    assert_near(ep_top_track_update(&tr, 62.0, 0, 0, T), 0.0, 1e-9);
}

/* Expiries of a burst are attributed to the right interval even when the
 * sampling interval is not one second. */
static void expiries_follow_arrival_times(void **state)
{
    ep_top_track tr;
    (void)state;
    ep_top_track_init(&tr, 10.0, 0, 0, true);
    assert_near(ep_top_track_update(&tr, 12.0, 200, 200, T), 100.0, 1e-9);
    assert_near(ep_top_track_expiries(&tr, 69.0, 70.0, T), 0.0, 1e-6);
    assert_near(ep_top_track_expiries(&tr, 70.0, 71.0, T), 100.0, 1e-3);
    assert_near(ep_top_track_expiries(&tr, 71.0, 72.0, T), 100.0, 1e-3);
    assert_near(ep_top_track_expiries(&tr, 72.0, 80.0, T), 0.0, 1e-6);
    assert_near(ep_top_track_expiries(&tr, 65.0, 75.0, T), 200.0, 1e-3);
}

/* Connections that replace expiring ones: used flat, yet traffic flows. */
static void replacement_traffic_is_counted(void **state)
{
    ep_top_track tr;
    (void)state;
    ep_top_track_init(&tr, 0.0, 0, 0, true);
    /* 60 per second for a minute fills TIME_WAIT to 3600... */
    for (int t = 1; t <= 60; t++)
        assert_near(ep_top_track_update(&tr, t, 60u * (uint32_t)t, 60u * (uint32_t)t, T), 60.0,
                    1e-3);
    /* ...then it stays flat while traffic continues: the rate stays 60. */
    for (int t = 61; t <= 100; t++)
        assert_near(ep_top_track_update(&tr, t, 3600, 3600, T), 60.0, 1e-2);
}

/* Established connections count too; closes without TIME_WAIT cannot push
 * the rate below zero. */
static void rate_is_never_negative(void **state)
{
    ep_top_track tr;
    (void)state;
    ep_top_track_init(&tr, 0.0, 1000, 0, false);
    assert_near(ep_top_track_update(&tr, 1.0, 10, 0, T), 0.0, 0.0);
    assert_near(ep_top_track_update(&tr, 3.0, 30, 0, T), 10.0, 1e-9);
    assert_near(ep_top_track_update(&tr, 3.0, 90, 0, T), 0.0, 0.0); /* no time passed */
}

/* UDP: no TIME_WAIT (T = 0): the rate is the growth of used. */
static void udp_rate_is_growth(void **state)
{
    ep_top_track tr;
    (void)state;
    ep_top_track_init(&tr, 0.0, 5, 0, false);
    assert_near(ep_top_track_update(&tr, 2.0, 25, 0, 0.0), 10.0, 1e-9);
    assert_near(ep_top_track_update(&tr, 4.0, 5, 0, 0.0), 0.0, 0.0);
}

/* The first samples with TIME_WAIT of unknown age assume an even spread. */
static void legacy_entries_expire_evenly(void **state)
{
    ep_top_track tr;
    (void)state;
    ep_top_track_init(&tr, 100.0, 600, 600, false);
    assert_near(ep_top_track_expiries(&tr, 100.0, 101.0, T), 10.0, 1e-9);
    assert_near(ep_top_track_expiries(&tr, 130.0, 160.0, T), 300.0, 1e-9);
    assert_near(ep_top_track_expiries(&tr, 160.0, 200.0, T), 0.0, 1e-9);
    /* Nothing changed in the first second: the estimator takes it for
     * 10 new connections replacing 10 expired ones. */
    assert_near(ep_top_track_update(&tr, 101.0, 600, 600, T), 10.0, 1e-9);
}

/* Entries whose kernel timers were read at start expire on time, and an
 * idle destination then shows no phantom rate. */
static void seeded_entries_expire_on_time(void **state)
{
    ep_top_track tr;
    (void)state;
    ep_top_track_init(&tr, 0.0, 103, 100, false);
    ep_top_track_seed(&tr, -50.5, 40); /* 40 arrived 50.5 s before start */
    ep_top_track_seed(&tr, -10.2, 60); /* 60 arrived 10.2 s before start */
    ep_top_track_seed(&tr, -5.0, 7);   /* more than the pool: ignored */
    assert_near(tr.legacy, 0.0, 0.0);
    assert_near(ep_top_track_expiries(&tr, 0.0, 9.0, T), 0.0, 1e-9);
    assert_near(ep_top_track_expiries(&tr, 9.0, 10.0, T), 40.0, 1e-3);
    assert_near(ep_top_track_expiries(&tr, 10.0, 49.0, T), 0.0, 1e-9);
    assert_near(ep_top_track_expiries(&tr, 49.0, 50.0, T), 60.0, 1e-3);
    /* Idle: nothing changes in the first second -> no new connections. */
    assert_near(ep_top_track_update(&tr, 1.0, 103, 100, T), 0.0, 1e-9);
    /* The 40 leave in (9, 10]: used drops by 40, still no new connection. */
    for (int t = 2; t <= 9; t++)
        assert_near(ep_top_track_update(&tr, t, 103, 100, T), 0.0, 1e-9);
    assert_near(ep_top_track_update(&tr, 10.0, 63, 60, T), 0.0, 1e-3);
    /* A partial seed leaves the rest in the evenly-aged pool. */
    ep_top_track_init(&tr, 0.0, 10, 10, false);
    ep_top_track_seed(&tr, -1.0, 4);
    assert_near(tr.legacy, 6.0, 0.0);
    assert_near(ep_top_track_expiries(&tr, 0.0, 1.0, T), 6.0 / 60.0, 1e-9);
}

/* Linux defaults: 28232 ports, 60 s; sustainable rate 470.5/s. */
static void exhaustion_at_linux_defaults(void **state)
{
    (void)state;
    /* Below the sustainable rate: never. */
    assert_true(isinf(ep_top_time_to_exhaustion(470.0, 28232, 0, T)));
    /* Above it from empty: free / rate. */
    assert_near(ep_top_time_to_exhaustion(500.0, 28232, 0, T), 28232.0 / 500.0, 1e-9);
    /* With entries already in TIME_WAIT that expire meanwhile. */
    assert_near(ep_top_time_to_exhaustion(1000.0, 20000, 6000, T), 20000.0 / (1000.0 - 100.0),
                1e-9);
    /* Steady at 400/s holds 24000 ports in TIME_WAIT: that fits in 232 free
     * + 24000 already waiting... */
    assert_true(isinf(ep_top_time_to_exhaustion(400.0, 232, 24000, T)));
    /* ...but not in 1000 + 23000: exactly one TIME_WAIT length away. */
    assert_near(ep_top_time_to_exhaustion(400.0, 1000, 23000, T), 60.0, 1e-9);
}

static void exhaustion_edges(void **state)
{
    (void)state;
    assert_near(ep_top_time_to_exhaustion(0.0, 0, 10, T), 0.0, 0.0);
    assert_near(ep_top_time_to_exhaustion(50.0, 0, 10, T), 0.0, 0.0);
    assert_near(ep_top_time_to_exhaustion(50.0, -1, 10, T), 0.0, 0.0);
    assert_true(isinf(ep_top_time_to_exhaustion(0.0, 100, 10, T)));
    assert_true(isinf(ep_top_time_to_exhaustion(NAN, 100, 10, T)));
    assert_near(ep_top_time_to_exhaustion(10.0, 100, 0, 0.0), 10.0, 1e-12);
    assert_true(isinf(ep_top_time_to_exhaustion(0.0, 100, 0, 0.0)));
}

static void durations_read_well(void **state)
{
    char b[16];
    (void)state;
    ep_top_format_duration(INFINITY, b, sizeof b);
    assert_string_equal(b, "never");
    ep_top_format_duration(0.0, b, sizeof b);
    assert_string_equal(b, "now");
    ep_top_format_duration(56.46, b, sizeof b);
    assert_string_equal(b, "57 s");
    ep_top_format_duration(600.0, b, sizeof b);
    assert_string_equal(b, "10 min");
    ep_top_format_duration(5400.0, b, sizeof b);
    assert_string_equal(b, "1.5 h");
    ep_top_format_duration(2 * 86400.0, b, sizeof b);
    assert_string_equal(b, "2.0 d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(steady_state_reports_the_rate),
        cmocka_unit_test(burst_then_idle_reports_zero),
        cmocka_unit_test(expiries_follow_arrival_times),
        cmocka_unit_test(replacement_traffic_is_counted),
        cmocka_unit_test(rate_is_never_negative),
        cmocka_unit_test(udp_rate_is_growth),
        cmocka_unit_test(legacy_entries_expire_evenly),
        cmocka_unit_test(seeded_entries_expire_on_time),
        cmocka_unit_test(exhaustion_at_linux_defaults),
        cmocka_unit_test(exhaustion_edges),
        cmocka_unit_test(durations_read_well),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
