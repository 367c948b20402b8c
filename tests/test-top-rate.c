/* test-top-rate.c - unit tests for `ephport top`'s estimator (src/cli/
 * top-rate.c): TIME_WAIT arrivals told apart by socket cookie, the rate
 * counted from them and the counts, replayed against a model of the
 * kernel's batched TIME_WAIT expiry at steady rates and across rate steps;
 * the inferred-expiry fallback and its bookkeeping; the time to exhaustion
 * and its hysteresis. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <ephport/conn-rate.h>

#define T 60.0

static void assert_near(double got, double want, double tol)
{
    if (fabs(got - want) > tol)
        fail_msg("got %.9f, want %.9f (tolerance %g)", got, want, tol);
}

/* ---- new connections by socket cookie ---- */

/* The first dump only records; later ones count cookies not seen before,
 * but not a TIME_WAIT entry whose timer started before the previous dump
 * began (that dump skipped it). */
static void new_connections_are_new_cookies(void **state)
{
    ep_top_arrivals a;
    (void)state;
    ep_top_arrivals_init(&a);
    ep_top_arrivals_begin(&a, 10.0);
    assert_false(ep_top_arrivals_add(&a, 1, 59.0, 10.0, T));
    assert_false(ep_top_arrivals_add(&a, 2, 30.0, 10.0, T));
    assert_false(ep_top_arrivals_add(&a, 3, 0.0, 10.0, T));
    assert_false(ep_top_arrivals_add(&a, 10, -1.0, 10.0, T)); /* ESTABLISHED */
    assert_int_equal(ep_top_arrivals_end(&a), 0);

    ep_top_arrivals_begin(&a, 11.0);
    assert_false(ep_top_arrivals_add(&a, 2, 29.0, 11.0, T));  /* seen: same entry */
    assert_false(ep_top_arrivals_add(&a, 3, 0.0, 11.0, T));   /* seen, due, not yet gone */
    assert_false(ep_top_arrivals_add(&a, 10, 59.8, 11.0, T)); /* seen ESTABLISHED, now TIME_WAIT */
    assert_true(ep_top_arrivals_add(&a, 11, -1.0, 11.0, T));  /* new, ESTABLISHED */
    assert_true(ep_top_arrivals_add(&a, 4, 59.5, 11.0, T));   /* opened and closed since */
    /* Entered at 10.001, while the previous dump ran, and not in it. */
    assert_true(ep_top_arrivals_add(&a, 5, 59.001, 11.0, T));
    /* Not in the previous dump, but entered TIME_WAIT at 5.0: skipped. */
    assert_false(ep_top_arrivals_add(&a, 6, 54.0, 11.0, T));
    assert_false(ep_top_arrivals_add(&a, 7, 0.0, 11.0, T));   /* due: entered >= 60 s ago */
    /* Read up to EP_TOP_TIMER_SLACK early: still new. */
    assert_true(ep_top_arrivals_add(&a, 8, 58.96, 11.0, T));
    assert_int_equal(ep_top_arrivals_end(&a), 0);
    assert_int_equal(a.nprev, 9);

    /* Entry 1 left; 4, 5 and 11 are old now; a port taken over by
     * tcp_tw_reuse comes back as a new socket with a new cookie. */
    ep_top_arrivals_begin(&a, 12.0);
    assert_false(ep_top_arrivals_add(&a, 4, 58.5, 12.0, T));
    assert_false(ep_top_arrivals_add(&a, 5, 58.0, 12.0, T));
    assert_false(ep_top_arrivals_add(&a, 11, -1.0, 12.0, T));
    assert_true(ep_top_arrivals_add(&a, 9, -1.0, 12.0, T));
    assert_int_equal(ep_top_arrivals_end(&a), 0);
    ep_top_arrivals_free(&a);
}

/* A failed dump is forgotten: the next one is compared with the last
 * complete one, so nothing that arrived meanwhile is lost. */
static void new_connections_survive_a_failed_dump(void **state)
{
    ep_top_arrivals a;
    (void)state;
    ep_top_arrivals_init(&a);
    ep_top_arrivals_begin(&a, 0.0);
    assert_false(ep_top_arrivals_add(&a, 1, 50.0, 0.0, T));
    assert_int_equal(ep_top_arrivals_end(&a), 0);
    ep_top_arrivals_begin(&a, 1.0);
    assert_true(ep_top_arrivals_add(&a, 2, 59.5, 1.0, T));
    ep_top_arrivals_abort(&a);
    ep_top_arrivals_begin(&a, 2.0);
    assert_false(ep_top_arrivals_add(&a, 1, 48.0, 2.0, T));
    assert_true(ep_top_arrivals_add(&a, 2, 58.5, 2.0, T));
    assert_int_equal(ep_top_arrivals_end(&a), 0);
    ep_top_arrivals_free(&a);
}

/* Many cookies, in any order: the sorted previous dump finds them all. */
static void new_connections_at_scale(void **state)
{
    ep_top_arrivals a;
    uint32_t n = 0;
    (void)state;
    ep_top_arrivals_init(&a);
    ep_top_arrivals_begin(&a, 0.0);
    for (uint64_t c = 0; c < 50000; c++)
        ep_top_arrivals_add(&a, (c * 0x9e3779b97f4a7c15u) | 1, c % 2 ? 30.0 : -1.0, 0.0, T);
    assert_int_equal(ep_top_arrivals_end(&a), 0);
    ep_top_arrivals_begin(&a, 1.0);
    for (uint64_t c = 0; c < 60000; c++)
        n += ep_top_arrivals_add(&a, (c * 0x9e3779b97f4a7c15u) | 1, c < 50000 ? 29.0 : 59.5, 1.0,
                                 T);
    assert_int_equal(ep_top_arrivals_end(&a), 0);
    assert_int_equal(n, 10000);
    ep_top_arrivals_free(&a);
}

/* ---- replaying the kernel's batched TIME_WAIT expiry ----
 * Connections to one destination open at given times, stay ESTABLISHED for
 * SIM_LIFE seconds, are closed first by this side and sit in TIME_WAIT.  Each
 * entry's timer reads T when it enters (in jiffies of 4 ms) and 0 once due,
 * and the entry leaves as Linux 6.18 at HZ=250 lets it, measured in a
 * namespace: at the end of the 2.048 s timer-wheel bucket its expiry falls
 * in, plus 40 ms, so 60.04-62.09 s after the close, in batches 2.048 s
 * apart. */
#define SIM_WHEEL 2.048
#define SIM_LIFE 0.2
#define SIM_MAX 400000
#define SIM_PORTS 28232

static double sim_open[SIM_MAX]; /* increasing */
static size_t sim_n;

static double sim_leaves(size_t j)
{
    return ceil((sim_open[j] + SIM_LIFE + T) / SIM_WHEEL) * SIM_WHEEL + 0.04;
}

/* Open connections at `rate` per second over [t0, t1). */
static void sim_drive(double rate, double t0, double t1)
{
    for (size_t k = 0; t0 + (double)k / rate < t1; k++) {
        assert_true(sim_n < SIM_MAX);
        sim_open[sim_n++] = t0 + (double)k / rate;
    }
}

struct sim_frame {
    uint32_t used, tw, arrivals; /* as top sees them */
    uint32_t opened, left;       /* the truth since the previous frame */
};

/* One frame of top: the socket dump at td, the snapshot 5 ms later. */
static struct sim_frame sim_frame(ep_top_arrivals *a, double td_prev, double td)
{
    struct sim_frame f = { 0, 0, 0, 0, 0 };
    double t = td + 0.005;

    size_t lo = 0, hi = sim_n;
    while (lo < hi) { /* connections opened within the last 70 s or so */
        size_t mid = lo + (hi - lo) / 2;
        if (sim_open[mid] < td_prev - T - 2 * SIM_WHEEL - 1.0 && sim_open[mid] < td - 70.0)
            lo = mid + 1;
        else
            hi = mid;
    }
    ep_top_arrivals_begin(a, td);
    for (size_t j = lo; j < sim_n && sim_open[j] <= t; j++) {
        double closed = sim_open[j] + SIM_LIFE, gone = sim_leaves(j);
        if (td < gone && sim_open[j] <= td) {
            double left = floor((closed + T - td) / 0.004) * 0.004;
            f.arrivals += ep_top_arrivals_add(a, j + 1000, td < closed ? -1.0 : left > 0 ? left : 0,
                                              td + 0.001, T);
        }
        if (t < gone) {
            f.used++;
            f.tw += t >= closed;
        }
        f.opened += sim_open[j] > td_prev && sim_open[j] <= td;
        f.left += gone > td_prev && gone <= td;
    }
    assert_int_equal(ep_top_arrivals_end(a), 0);
    return f;
}

/* Top started at t0 dumps every `interval` until t1; every frame's rate
 * times its length must be the connections opened in it, and within 10 %
 * of `rate` where the frame lies inside [from, to).  Returns how many
 * frames saw no TIME_WAIT entry leave, the most that left in one, and how
 * often the time to exhaustion flipped between never and a number. */
static void replay(double t0, double t1, double interval, double rate, double from, double to,
                   uint32_t *quiet, uint32_t *most_left, int *flips)
{
    ep_top_arrivals a;
    ep_top_track tr;
    struct sim_frame f;
    double t_prev = t0;
    int last_never = -1;

    *quiet = *most_left = 0;
    *flips = 0;
    ep_top_arrivals_init(&a);
    f = sim_frame(&a, t0 - 1000, t0);
    ep_top_track_init(&tr, t0, 0, 0, true);
    for (double t = t0 + interval; t < t1; t += interval) {
        double r, tte;
        f = sim_frame(&a, t_prev, t);
        r = ep_top_track_count(&tr, t, f.arrivals);
        if (fabs(r * (t - t_prev) - f.opened) > 1e-6)
            fail_msg("t=%.2f: %.3f/s x %.2f s, but %u opened", t, r, t - t_prev, f.opened);
        if (t_prev >= from && t <= to && fabs(r - rate) > 0.1 * rate)
            fail_msg("t=%.2f: %.3f/s, driven at %.1f/s", t, r, rate);
        tte = ep_top_track_exhaustion(&tr, r, SIM_PORTS - (int64_t)f.used, f.tw, T);
        if (last_never >= 0 && last_never != (int)isinf(tte))
            (*flips)++;
        last_never = isinf(tte);
        *quiet += f.left == 0;
        if (f.left > *most_left)
            *most_left = f.left;
        t_prev = t;
    }
    ep_top_arrivals_free(&a);
}

/* The measured case: a steady 12/s read 24, 0, 24, 0 ... with expiries
 * inferred.  Counted, every frame reads 12, at any rate and interval, with
 * entries present at start and in steady state. */
static void steady_rates_under_batched_expiry(void **state)
{
    static const double rates[] = { 12.0, 50.0, 400.0 };
    static const double intervals[] = { 1.0, 0.25, 2.5 };
    uint32_t quiet, most;
    int flips;
    (void)state;
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        for (size_t k = 0; k < sizeof intervals / sizeof intervals[0]; k++) {
            sim_n = 0;
            sim_drive(rates[i], -200.0, 200.0);
            replay(0.37, 150.0, intervals[k], rates[i], 0.0, 200.0, &quiet, &most, &flips);
            assert_int_equal(flips, 0);
            if (intervals[k] == 1.0) {
                /* The replay does exercise batches: at 1 s frames some
                 * see none leave and some see a 2 s batch. */
                assert_true(quiet > 20);
                assert_true(most >= (uint32_t)(1.9 * rates[i]));
            }
        }
}

/* A step from 10/s to 50/s and back is followed in the first frame that
 * lies wholly after it, before and after the entries of each rate start
 * leaving in batches. */
static void rate_steps_are_followed_at_once(void **state)
{
    uint32_t quiet, most;
    int flips;
    (void)state;
    sim_n = 0;
    sim_drive(10.0, -200.0, 100.0);
    sim_drive(50.0, 100.0, 200.0);
    sim_drive(10.0, 200.0, 400.0);
    replay(0.37, 100.0, 1.0, 10.0, 0.0, 100.0, &quiet, &most, &flips);
    replay(0.37, 200.0, 1.0, 50.0, 100.0, 200.0, &quiet, &most, &flips);
    replay(0.37, 330.0, 1.0, 10.0, 200.0, 330.0, &quiet, &most, &flips);
    assert_int_equal(flips, 0);
}

/* Near the sustainable rate a frame's count decides the verdict: 17/s
 * exhausts (17 x 60 > 40 + 957), 16/s does not.  The stateless formula flips
 * every frame; the tracked verdict keeps the number (the formula's value at
 * the sustainable rate, T) until the rate is 10 % below it, then says
 * never at once. */
static void exhaustion_keeps_a_number_near_the_boundary(void **state)
{
    ep_top_track tr;
    int flips = 0;
    (void)state;
    ep_top_track_init(&tr, 0.0, 0, 0, true);
    for (int k = 0; k < 20; k++) {
        double r = k % 2 ? 16.0 : 17.0;
        double stateless = ep_top_time_to_exhaustion(r, 40, 957, T);
        double tracked = ep_top_track_exhaustion(&tr, r, 40, 957, T);
        flips += k > 0 && isinf(stateless) != isinf(ep_top_time_to_exhaustion(
                                                     k % 2 ? 17.0 : 16.0, 40, 957, T));
        assert_false(isinf(tracked));
        if (isinf(stateless))
            assert_near(tracked, T, 0.0);
        else
            assert_near(tracked, stateless, 0.0);
    }
    assert_int_equal(flips, 19);
    /* 90 % of (40 + 957) / 60 = 14.955/s: just above keeps the number... */
    assert_near(ep_top_track_exhaustion(&tr, 14.96, 40, 957, T), T, 0.0);
    /* ...below it, never, and never again until the formula says so. */
    assert_true(isinf(ep_top_track_exhaustion(&tr, 14.9, 40, 957, T)));
    assert_true(isinf(ep_top_track_exhaustion(&tr, 16.0, 40, 957, T)));
    assert_false(isinf(ep_top_track_exhaustion(&tr, 17.0, 40, 957, T)));
    /* A drop to a low rate: never in that frame. */
    assert_true(isinf(ep_top_track_exhaustion(&tr, 5.0, 40, 957, T)));
    /* No free port: now, whatever the state; UDP (no TIME_WAIT) unchanged. */
    assert_near(ep_top_track_exhaustion(&tr, 0.0, 0, 957, T), 0.0, 0.0);
    assert_near(ep_top_track_exhaustion(&tr, 10.0, 100, 0, 0.0), 10.0, 1e-12);
}

/* Counted: new connections over the time between the two dumps. */
static void counted_rate_is_new_over_time(void **state)
{
    ep_top_track tr;
    (void)state;
    ep_top_track_init(&tr, 0.0, 10, 4, true);
    assert_near(ep_top_track_count(&tr, 2.0, 5), 2.5, 1e-12);
    assert_near(ep_top_track_count(&tr, 2.5, 0), 0.0, 0.0);
    assert_near(ep_top_track_count(&tr, 2.5, 9), 0.0, 0.0); /* no time passed */
    assert_near(ep_top_track_count(&tr, 3.0, 9), 18.0, 1e-12);
}

/* ---- the inferred-expiry fallback (no TIME_WAIT dump) ---- */

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
        cmocka_unit_test(new_connections_are_new_cookies),
        cmocka_unit_test(new_connections_survive_a_failed_dump),
        cmocka_unit_test(new_connections_at_scale),
        cmocka_unit_test(steady_rates_under_batched_expiry),
        cmocka_unit_test(rate_steps_are_followed_at_once),
        cmocka_unit_test(exhaustion_keeps_a_number_near_the_boundary),
        cmocka_unit_test(counted_rate_is_new_over_time),
        cmocka_unit_test(steady_state_reports_the_rate),
        cmocka_unit_test(burst_then_idle_reports_zero),
        cmocka_unit_test(expiries_follow_arrival_times),
        cmocka_unit_test(replacement_traffic_is_counted),
        cmocka_unit_test(rate_is_never_negative),
        cmocka_unit_test(udp_rate_is_growth),
        cmocka_unit_test(legacy_entries_expire_evenly),
        cmocka_unit_test(exhaustion_at_linux_defaults),
        cmocka_unit_test(exhaustion_edges),
        cmocka_unit_test(durations_read_well),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
