/* test-sim-stat.c - statistical agreement of `plan` and `simulate`: for
 * Poisson arrivals the steady-state mean number of ports held (in use plus
 * TIME_WAIT) must match Little's law within 5 %.
 *
 * Why 5 % is safe and still meaningful: 100 connections/s holding a port
 * 60.5 s on average give L = 6050.  The number held at an instant is Poisson
 * with mean L (M/G/inf), standard deviation 78 (1.3 %); the test averages 301
 * samples over 300 s, about 5 independent TIME_WAIT lifetimes, so the
 * standard error is near 0.6 % and 5 % is 8 standard errors.  A simulator
 * that forgot TIME_WAIT (L = 50) or counted it twice (12050) fails. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "plan.h"
#include "sim.h"
#include "workload.h"

static void set(ep_workload *w, const char *k, const char *v)
{
    char msg[EP_WL_MSG];
    if (ep_workload_set(w, k, v, msg, sizeof msg) != 0)
        fail_msg("%s = %s: %s", k, v, msg);
}

static void check(const char *const kv[][2], size_t n)
{
    ep_workload w;
    ep_sim_result r;
    ep_plan p;
    char msg[EP_WL_MSG];
    double err;

    ep_workload_init(&w);
    set(&w, "arrivals", "poisson");
    set(&w, "length", "600");
    for (size_t i = 0; i < n; i++)
        set(&w, kv[i][0], kv[i][1]);
    assert_int_equal(ep_workload_check(&w, msg, sizeof msg), 0);
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    if (ep_sim_run(&w, NULL, &r, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    assert_int_equal(r.total_failures, 0);
    err = fabs(r.dest[0].ss_mean - p.ports_needed) / p.ports_needed;
    print_message("plan %.1f ports, simulate %.1f (%.2f %%)\n", p.ports_needed, r.dest[0].ss_mean,
                  100 * err);
    if (err > 0.05)
        fail_msg("plan says %.1f ports, simulate %.1f", p.ports_needed, r.dest[0].ss_mean);
    ep_sim_result_free(&r);
    ep_workload_free(&w);
}

static void poisson_exponential(void **state)
{
    static const char *const kv[][2] = { { "rate", "100" }, { "duration", "exponential:0.5" } };
    (void)state;
    check(kv, 2);
}

static void poisson_lognormal_keepalive_two_destinations(void **state)
{
    /* busiest destination: 2/3 x 450 / 3 = 100 conn/s, hold 3 x 2 + 30 s */
    static const char *const kv[][2] = {
        { "rate", "450" }, { "duration", "lognormal:2:1" }, { "requests_per_conn", "3" },
        { "weights", "2,1" }, { "time_wait", "30" }, { "seed", "9" },
    };
    (void)state;
    check(kv, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(poisson_exponential),
        cmocka_unit_test(poisson_lognormal_keepalive_two_destinations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
