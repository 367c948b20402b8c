/* test-plan.c - unit tests of the closed-form planner (src/sim/plan.c) and
 * of the pieces it shares with the simulator: Little's law, Erlang B at a
 * percentile with TIME_WAIT as the kernel keeps it, the sustainable rate, the
 * first-failure bound, UDP's shared range, and the suggested changes with
 * their exact settings.  Numbers are worked out in the comments (Erlang B
 * values from an independent python evaluation). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"
#include "workload.h"

static void set(ep_workload *w, const char *k, const char *v)
{
    char msg[EP_WL_MSG];
    if (ep_workload_set(w, k, v, msg, sizeof msg) != 0)
        fail_msg("%s = %s: %s", k, v, msg);
}

static void plan_linux_default_limits(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG];
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "400");
    set(&w, "duration", "0");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    /* Linux: 32768-60999 = 28232 ports, TIME_WAIT 60 s, kept up to 65.12 s
     * (the timer wheel's 5.12 s at HZ=100, the worst usual HZ). */
    assert_int_equal(p.range_ports, 28232);
    assert_int_equal(p.capacity, 28232);
    assert_true(fabs(p.time_wait_nominal - 60) < 1e-9);
    assert_true(fabs(p.time_wait - 65.12) < 1e-9);
    /* The mean uses the TIME_WAIT simulate keeps: the kernel's, 65.12 s. */
    assert_true(fabs(p.ports_needed - 26048) < 1e-6);     /* 400 x 65.12 (the mean) */
    assert_true(fabs(p.ports_blocked - 26048) < 1e-6);    /* 400 x 65.12 erlangs */
    assert_true(p.sustainable);
    assert_true(p.loss < 1e-30);
    assert_true(p.first_failure < 0);
    /* 28232 ports carry 28000.83 erlangs at 0.1 % (Erlang B, bisection in
     * python): 28000.83 / 65.12 = 429.99/s, not the mean's 28232 / 60 = 470.5 */
    assert_true(fabs(p.max_rate - 429.98819) < 1e-3);
    assert_true(fabs(p.mean_max_rate - 28232.0 / 65.12) < 1e-6);
    assert_true(p.target_ok);

    set(&w, "rate", "600");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_false(p.sustainable);
    assert_true(fabs(p.first_failure - 28232.0 / 600) < 1e-9); /* 47.05 s */
    assert_false(p.target_ok);
    /* Range: 600 x 65.12 = 39072 erlangs need 39324 ports for 0.1 %,
     * widened downwards from the top it has: 21676-60999. */
    assert_true(p.range_possible);
    assert_int_equal(p.target_ports, 39324);
    assert_int_equal(p.range_width, 39324);
    assert_int_equal(p.new_hi, 60999);
    assert_int_equal(p.new_lo, 60999 - 39324 + 1);
    /* tw_reuse: blocked 1 s per connection -> 600 erlangs; the range then
     * carries 28000.83 connections/s. */
    assert_true(p.tw_reuse_possible);
    assert_true(fabs(p.rate_with_tw_reuse - 28000.83112) < 1e-2);
    /* keep-alive: 600 x 65.12 / k <= 28000.83 -> k = 2. */
    assert_true(p.rpc_possible);
    assert_int_equal(p.rpc_needed, 2);
    /* two source addresses: 39324 / 28232 -> 2. */
    assert_int_equal(p.sources_needed, 2);
    assert_true(p.server_close_possible);
    ep_workload_free(&w);
}

static void plan_keepalive_reuse_sources_reserved(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG];
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "1000");
    set(&w, "duration", "exponential:0.5");
    set(&w, "requests_per_conn", "10");
    set(&w, "sources", "3");
    set(&w, "range", "40000-40999");
    set(&w, "reserved", "40000-40099,50000");
    set(&w, "destinations", "4");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_int_equal(p.effective_ports, 900);
    assert_int_equal(p.reserved_in_range, 100);
    assert_int_equal(p.capacity, 2700);
    /* uniform over 4: 250 req/s, 25 conn/s, hold 10 x 0.5 + 65.12 = 70.12 s */
    assert_true(fabs(p.dest_conn_rate - 25) < 1e-9);
    assert_true(fabs(p.hold - 70.12) < 1e-9);
    assert_true(fabs(p.ports_needed - 1753) < 1e-6);
    assert_true(fabs(p.mean_in_use - 125) < 1e-6);
    assert_true(p.sustainable);

    set(&w, "tw_reuse", "on");
    set(&w, "tw_reuse_delay", "2");
    assert_int_equal(ep_plan_compute(&w, 4000, &p, msg, sizeof msg), 0);
    assert_true(fabs(p.block - 7) < 1e-9);            /* 5 s in use + 2 s */
    assert_true(fabs(p.ports_blocked - 175) < 1e-6);
    /* 2700 ports carry 2595.92 erlangs at 0.1 %: 2595.92 / 7 = 370.85/s */
    assert_true(fabs(p.max_dest_conn_rate - 370.84599) < 1e-3);
    /* target 4000/s: 100 conn/s x 7 = 700 erlangs, far below */
    assert_true(p.target_ok);

    set(&w, "close", "server");
    set(&w, "tw_reuse", "off");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_true(p.time_wait == 0);
    assert_true(fabs(p.hold - 5) < 1e-9);
    ep_workload_free(&w);
}

static void plan_zipf_busiest_destination(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG];
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "300");
    set(&w, "weights", "2,1");
    set(&w, "duration", "1");
    set(&w, "time_wait", "30");
    assert_int_equal(w.destinations, 2);
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_true(fabs(p.busiest_weight - 2.0 / 3) < 1e-12);
    /* 30 s kept up to 32.048 s (HZ=250's 2.048 s is the worst for 30 s) */
    assert_true(fabs(p.time_wait - 32.048) < 1e-9);
    assert_true(fabs(p.ports_needed - 200 * 33.048) < 1e-6);
    /* The first failure needs the range to fill before the shortest hold
     * (32.048 + 1 s): 28232 / 200 = 141 s is later, so none is predicted. */
    assert_true(p.first_failure < 0);
    assert_true(p.sustainable);
    ep_workload_free(&w);
}

static void plan_impossible_range_and_settings(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG], cmd[160];
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "5000");
    set(&w, "duration", "0.01");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    /* 5000 x 65.13 = 325650 erlangs: no single range can hold that. */
    assert_false(p.range_possible);
    assert_int_equal(p.target_ports, 325869);
    assert_int_equal(p.sources_needed, 12); /* ceil(325869 / 28232) */
    ep_plan_range_setting("linux", 1024, 65535, cmd, sizeof cmd);
    assert_string_equal(cmd, "sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"");
    ep_plan_range_setting("windows", 10000, 65535, cmd, sizeof cmd);
    assert_string_equal(cmd, "netsh int ipv4 set dynamicport tcp start=10000 num=55536");
    ep_workload_free(&w);
}

static void plan_json_has_the_numbers(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG];
    json_t *o;
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "600");
    set(&w, "duration", "0");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    o = ep_plan_to_json(&p);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "capacity")), 28232);
    assert_true(fabs(json_real_value(json_object_get(o, "first_failure")) - 47.0533333) < 1e-6);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(o, "target"), "range"), "setting")),
                        "sysctl -w net.ipv4.ip_local_port_range=\"21676 60999\"");
    json_decref(o);
    ep_workload_free(&w);
}

static void plan_quota(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG];
    json_t *o;
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "100");
    set(&w, "duration", "30");
    set(&w, "quota", "1000");
    set(&w, "owners", "2");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    /* 100/s x 30 s = 3000 in use, 1500 per owner > 1000 */
    assert_true(fabs(p.owner_in_use - 1500) < 1e-9);
    assert_false(p.quota_ok);
    assert_int_equal(ep_plan_compute(&w, 60, &p, msg, sizeof msg), 0);
    assert_true(fabs(p.owner_in_use - 900) < 1e-9);
    assert_true(p.quota_ok);
    o = ep_plan_to_json(&p);
    assert_true(json_is_true(json_object_get(json_object_get(o, "quota"), "ok")));
    json_decref(o);
    set(&w, "quota", "0");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_true(p.quota_ok);
    o = ep_plan_to_json(&p);
    assert_true(json_is_null(json_object_get(o, "quota")));
    json_decref(o);
    ep_workload_free(&w);
}

/* Issue 11: at 97 % load (1000 ports, 970 connections/s each holding a port
 * for an exponential 1 s, the server closing) the mean fits, yet Erlang B
 * says 0.95 % of connects fail (simulate agrees).  At the default 99.9 %
 * the range needs 1041 ports. */
static void plan_97_percent_load_is_not_sustainable(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG];
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "970");
    set(&w, "duration", "exponential:1");
    set(&w, "close", "server");
    set(&w, "range", "40000-40999");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_false(p.sustainable);
    assert_false(p.target_ok);
    assert_true(p.range_possible);
    assert_int_equal(p.range_width, 1041);
    assert_int_equal(p.new_hi, 40999);
    assert_int_equal(p.new_lo, 40999 - 1041 + 1);
    ep_workload_free(&w);
}

/* Issue 11: `plan --range 40000-40059 --rate 2` suggested 121 ports (2/s x
 * 60.1 s), and the kernel failed 9 times in 180 s on that range: the kernel
 * keeps TIME_WAIT up to 62.05 s at HZ=250 (65.12 s at HZ=100), and arrivals
 * are Poisson.  2 x (0.1 + 65.12) = 130.44 erlangs: 162 ports for 0.1 %. */
static void plan_small_range_sized_for_the_kernel(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG];
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "2");
    set(&w, "range", "40000-40059");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_false(p.target_ok);
    assert_true(p.range_possible);
    assert_int_equal(p.range_width, 162);
    assert_int_equal(p.new_lo, 40059 - 162 + 1);
    ep_workload_free(&w);
}

/* UDP under Linux: a source port is exclusive per local address
 * (udp_lib_get_port), so 4 destinations share one range: the "busiest
 * destination" is the whole workload, 600 sockets/s x 0.2 s = 120 erlangs,
 * 151 ports for 0.1 % (Erlang B). */
static void plan_udp_shares_the_range(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG];
    json_t *o;
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "600");
    set(&w, "duration", "0.2");
    set(&w, "protocol", "udp");
    set(&w, "destinations", "4");
    set(&w, "range", "40000-40099");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_true(p.udp_shared);
    assert_true(p.busiest_weight == 1.0);
    assert_true(fabs(p.dest_conn_rate - 600) < 1e-9);
    assert_true(p.time_wait == 0);
    assert_true(fabs(p.ports_blocked - 120) < 1e-9);
    assert_false(p.target_ok);
    assert_int_equal(p.target_ports, 151);
    assert_int_equal(p.range_width, 151);
    o = ep_plan_to_json(&p);
    assert_true(json_is_true(json_object_get(o, "udp_shared")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "target"), "ports")),
                     151);
    json_decref(o);
    /* TCP to the same 4 destinations: each takes a quarter */
    set(&w, "protocol", "tcp");
    set(&w, "close", "server");
    assert_int_equal(ep_plan_compute(&w, 0, &p, msg, sizeof msg), 0);
    assert_false(p.udp_shared);
    assert_true(fabs(p.dest_conn_rate - 150) < 1e-9);
    ep_workload_free(&w);
}

/* The percentile: 970 erlangs need 1041 ports for 99.9 % and 999 for 99 %;
 * the loss as configured (1000 ports) is 0.953 % either way, and
 * failures per second = 970 x 0.953 %. */
static void plan_percentile_and_loss(void **state)
{
    ep_workload w;
    ep_plan p;
    char msg[EP_WL_MSG];
    json_t *o;
    (void)state;
    ep_workload_init(&w);
    set(&w, "rate", "970");
    set(&w, "duration", "exponential:1");
    set(&w, "close", "server");
    set(&w, "range", "40000-40999");
    assert_int_equal(ep_plan_compute_at(&w, 0, 0.99, &p, msg, sizeof msg), 0);
    assert_true(fabs(p.loss - 0.00952919327172) < 1e-10);
    assert_true(fabs(p.failures_per_s - 970 * 0.00952919327172) < 1e-8);
    assert_true(p.sustainable); /* 0.953 % <= 1 % */
    assert_int_equal(p.ports_required, 999);
    assert_true(p.target_ok);
    assert_int_equal(ep_plan_compute_at(&w, 0, 0.999, &p, msg, sizeof msg), 0);
    assert_int_equal(p.ports_required, 1041);
    /* 1000 ports carry 930.33 erlangs at 0.1 % */
    assert_true(fabs(p.max_rate - 930.325126864) < 1e-3);
    o = ep_plan_to_json(&p);
    assert_true(fabs(json_real_value(json_object_get(o, "success")) - 0.999) < 1e-12);
    assert_true(fabs(json_real_value(json_object_get(o, "loss")) - 0.00952919327172) < 1e-10);
    assert_int_equal(json_integer_value(json_object_get(o, "ports_required")), 1041);
    json_decref(o);
    assert_int_equal(ep_plan_compute_at(&w, 0, 1.0, &p, msg, sizeof msg), -EINVAL);
    assert_int_equal(ep_plan_compute_at(&w, 0, 0.0, &p, msg, sizeof msg), -EINVAL);
    ep_workload_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan_linux_default_limits),
        cmocka_unit_test(plan_keepalive_reuse_sources_reserved),
        cmocka_unit_test(plan_zipf_busiest_destination),
        cmocka_unit_test(plan_impossible_range_and_settings),
        cmocka_unit_test(plan_json_has_the_numbers),
        cmocka_unit_test(plan_quota),
        cmocka_unit_test(plan_97_percent_load_is_not_sustainable),
        cmocka_unit_test(plan_small_range_sized_for_the_kernel),
        cmocka_unit_test(plan_udp_shares_the_range),
        cmocka_unit_test(plan_percentile_and_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
