/* test-sim-workload.c - unit tests of the simulator's inputs: the workload
 * config format and its errors (with line numbers), distributions and the
 * seeded PRNG, the CSV trace reader and its errors, and the event heap. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dist.h"
#include "eventq.h"
#include "trace.h"
#include "workload.h"

static void config_parses_every_key(void **state)
{
    static const char text[] =
        "# a workload\n"
        "rate = 600\n"
        "arrivals = burst:10   # ten at once\n"
        "duration = lognormal:0.2:1.5\n"
        "destinations = 4\n"
        "zipf = 1.1\n"
        "port = 8443\n"
        "protocol = tcp\n"
        "close = server\n"
        "requests_per_conn = 10\n"
        "profile = windows\n"
        "range = 40000-49999\n"
        "reserved = 40000-40010,45000\n"
        "time_wait = 30\n"
        "tw_reuse = on\n"
        "tw-reuse-delay = 2\n"
        "algorithm = rfc6056-4\n"
        "sources = 2\n"
        "quota = 500\n"
        "owners = 3\n"
        "length = 120\n"
        "seed = 42\n"
        "sample = 0.5\n"
        "\n";
    ep_workload w;
    char msg[EP_WL_MSG];
    ep_pool_config cfg;
    (void)state;
    ep_workload_init(&w);
    assert_int_equal(ep_workload_parse(&w, text, "t.conf", msg, sizeof msg), 0);
    assert_true(w.rate == 600);
    assert_int_equal(w.arrivals, EP_ARR_BURST);
    assert_int_equal(w.burst, 10);
    assert_int_equal(w.duration.kind, EP_DIST_LOGNORMAL);
    assert_true(w.duration.mean == 0.2 && w.duration.sigma == 1.5);
    assert_int_equal(w.destinations, 4);
    assert_true(w.zipf == 1.1);
    assert_int_equal(w.port, 8443);
    assert_true(w.server_closes);
    assert_int_equal(w.requests_per_conn, 10);
    assert_string_equal(w.profile, "windows");
    assert_int_equal(w.lo, 40000);
    assert_int_equal(w.hi, 49999);
    assert_string_equal(w.reserved, "40000-40010,45000");
    assert_true(w.tw_reuse);
    assert_true(w.tw_reuse_delay == 2);
    assert_int_equal(w.algorithm, EP_ALG_RFC6056_4);
    assert_int_equal(w.sources, 2);
    assert_int_equal(w.quota, 500);
    assert_int_equal(w.owners, 3);
    assert_true(w.length == 120);
    assert_int_equal(w.seed, 42);
    assert_int_equal(ep_workload_check(&w, msg, sizeof msg), 0);
    assert_int_equal(ep_workload_pool_config(&w, &cfg, msg, sizeof msg), 0);
    assert_int_equal(cfg.lo, 40000);
    assert_int_equal(cfg.time_wait, EP_SEC(30));
    assert_int_equal(cfg.tw_reuse_delay, EP_SEC(2));
    assert_int_equal(cfg.owner_quota, 500);
    assert_true(cfg.seeded && cfg.seed == 42 && !cfg.thread_safe);
    ep_workload_free(&w);
}

static void config_profile_defaults(void **state)
{
    ep_workload w;
    ep_pool_config cfg;
    char msg[EP_WL_MSG];
    (void)state;
    ep_workload_init(&w);
    assert_int_equal(ep_workload_set(&w, "profile", "iana", msg, sizeof msg), 0);
    assert_int_equal(ep_workload_pool_config(&w, &cfg, msg, sizeof msg), 0);
    assert_int_equal(cfg.lo, 49152);
    assert_int_equal(cfg.hi, 65535);
    assert_int_equal(cfg.time_wait, EP_SEC(240));
    ep_workload_free(&w);
}

/* The port rules: Linux semantics for the linux profile (TIME_WAIT as the
 * kernel keeps it), stack for the others, `semantics` overrides either way;
 * tw_reuse takes tcp_tw_reuse's 0/1/2 (2 = loopback ends only). */
static void semantics_and_tcp_tw_reuse(void **state)
{
    ep_workload w;
    ep_pool_config cfg;
    char msg[EP_WL_MSG];
    json_t *o;
    (void)state;
    ep_workload_init(&w);
    assert_int_equal(ep_workload_semantics(&w), EP_SEM_LINUX);
    assert_int_equal(ep_workload_pool_config(&w, &cfg, msg, sizeof msg), 0);
    assert_int_equal(cfg.semantics, EP_SEM_LINUX);
    assert_int_equal(cfg.time_wait, EP_MSEC(65120));  /* 60 s + 5.12 s */
    assert_true(ep_workload_time_wait_nominal(&w) == 60);
    assert_true(fabs(ep_workload_time_wait_kept(&w) - 65.12) < 1e-9);
    assert_false(cfg.tw_reuse || cfg.tw_reuse_loopback);
    assert_int_equal(ep_workload_set(&w, "semantics", "stack", msg, sizeof msg), 0);
    assert_int_equal(ep_workload_pool_config(&w, &cfg, msg, sizeof msg), 0);
    assert_int_equal(cfg.semantics, EP_SEM_STACK);
    assert_int_equal(cfg.time_wait, EP_SEC(60));
    ep_workload_free(&w);

    ep_workload_init(&w);
    assert_int_equal(ep_workload_set(&w, "profile", "windows", msg, sizeof msg), 0);
    assert_int_equal(ep_workload_semantics(&w), EP_SEM_STACK);
    assert_int_equal(ep_workload_set(&w, "semantics", "linux", msg, sizeof msg), 0);
    assert_int_equal(ep_workload_semantics(&w), EP_SEM_LINUX);
    assert_int_equal(ep_workload_set(&w, "semantics", "bsd", msg, sizeof msg), -EINVAL);
    assert_non_null(strstr(msg, "semantics must be linux or stack"));

    assert_int_equal(ep_workload_set(&w, "tw_reuse", "2", msg, sizeof msg), 0);
    assert_int_equal(ep_workload_tcp_tw_reuse(&w), 2);
    assert_int_equal(ep_workload_pool_config(&w, &cfg, msg, sizeof msg), 0);
    assert_true(cfg.tw_reuse && cfg.tw_reuse_loopback);
    o = ep_workload_to_json(&w);
    assert_int_equal(json_integer_value(json_object_get(o, "tcp_tw_reuse")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "semantics")), "linux");
    json_decref(o);
    assert_int_equal(ep_workload_set(&w, "tw_reuse", "1", msg, sizeof msg), 0);
    assert_int_equal(ep_workload_tcp_tw_reuse(&w), 1);
    assert_int_equal(ep_workload_pool_config(&w, &cfg, msg, sizeof msg), 0);
    assert_true(cfg.tw_reuse && !cfg.tw_reuse_loopback);
    assert_int_equal(ep_workload_set(&w, "tw_reuse", "off", msg, sizeof msg), 0);
    assert_int_equal(ep_workload_tcp_tw_reuse(&w), 0);
    assert_int_equal(ep_workload_set(&w, "tw_reuse", "3", msg, sizeof msg), -EINVAL);
    ep_workload_free(&w);
}

/* Each bad config names its line and what was wrong. */
static void config_errors_name_the_line(void **state)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        { "rate = 5\nrate = -5\n", "t.conf:2: rate must be a positive number" },
        { "rate = 0\n", "t.conf:1: rate must be a positive" },
        { "\n\nduration = weibull:3\n", "t.conf:3: duration: unknown distribution 'weibull'" },
        { "colour = blue\n", "t.conf:1: unknown key 'colour'" },
        { "# ok\nrate 600\n", "t.conf:2: expected 'key = value'" },
        { " = 3\n", "t.conf:1: missing key" },
        { "arrivals = fractal\n", "t.conf:1: unknown arrivals 'fractal'" },
        { "arrivals = burst:0\n", "t.conf:1: burst:N needs N" },
        { "duration = lognormal:1\n", "t.conf:1: duration: lognormal needs MEAN:SIGMA" },
        { "duration = exponential:-1\n", "t.conf:1: duration: the mean of exponential" },
        { "range = 60999-32768\n", "t.conf:1: range '60999-32768'" },
        { "reserved = 1-2-3\n", "t.conf:1: reserved '1-2-3'" },
        { "tw_reuse = maybe\n", "t.conf:1: tw_reuse must be on or off" },
        { "algorithm = best\n", "t.conf:1: unknown algorithm 'best'" },
        { "sources = 0\n", "t.conf:1: sources must be" },
        { "weights = 1,,2\n", "t.conf:1: weights: '' is not a positive number" },
        { "profile = plan9\n", "t.conf:1: unknown profile 'plan9'" },
        { "seed = x\n", "t.conf:1: seed must be" },
        { "length = 1e99\n", "t.conf:1: length must be" },
        { "close = nobody\n", "t.conf:1: close must be client or server" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ep_workload w;
        char msg[EP_WL_MSG] = "";
        ep_workload_init(&w);
        assert_int_equal(ep_workload_parse(&w, bad[i].text, "t.conf", msg, sizeof msg), EP_EINVAL);
        if (strncmp(msg, bad[i].want, strlen(bad[i].want)) != 0)
            fail_msg("for %s got '%s', want '%s...'", bad[i].text, msg, bad[i].want);
        ep_workload_free(&w);
    }
}

static void config_cross_checks(void **state)
{
    ep_workload w;
    char msg[EP_WL_MSG];
    (void)state;
    ep_workload_init(&w);
    assert_int_equal(ep_workload_parse(&w, "arrivals = trace\n", "t", msg, sizeof msg), 0);
    assert_int_equal(ep_workload_check(&w, msg, sizeof msg), EP_EINVAL);
    assert_non_null(strstr(msg, "trace = FILE"));
    ep_workload_free(&w);
    ep_workload_init(&w);
    assert_int_equal(ep_workload_parse(&w, "range = 100-110\nreserved = 90-120\n", "t", msg,
                                       sizeof msg), 0);
    assert_int_equal(ep_workload_check(&w, msg, sizeof msg), EP_EINVAL);
    assert_non_null(strstr(msg, "cover the whole range"));
    ep_workload_free(&w);
}

static void config_copy_is_deep(void **state)
{
    ep_workload a, b;
    char msg[EP_WL_MSG];
    (void)state;
    ep_workload_init(&a);
    assert_int_equal(ep_workload_parse(&a, "weights = 3,1\nreserved = 40000\ntrace = x.csv\n", "t",
                                       msg, sizeof msg), 0);
    assert_int_equal(ep_workload_copy(&b, &a), 0);
    ep_workload_free(&a);
    assert_int_equal(b.destinations, 2);
    assert_true(b.weights[0] == 3);
    assert_string_equal(b.reserved, "40000");
    assert_string_equal(b.trace, "x.csv");
    ep_workload_free(&b);
}

static void rng_is_deterministic_and_distributions_have_their_mean(void **state)
{
    ep_sim_rng a, b;
    ep_dist d;
    char msg[EP_WL_MSG];
    double sum = 0;
    const int n = 200000;
    (void)state;
    ep_sim_rng_seed(&a, 7);
    ep_sim_rng_seed(&b, 7);
    for (int i = 0; i < 1000; i++)
        assert_true(ep_sim_rng_next(&a) == ep_sim_rng_next(&b));
    ep_sim_rng_seed(&b, 8);
    assert_true(ep_sim_rng_next(&a) != ep_sim_rng_next(&b));
    for (int i = 0; i < 1000; i++) {
        double u = ep_sim_rng_uniform(&a);
        assert_true(u > 0 && u < 1);
        assert_true(ep_sim_rng_below(&a, 10) < 10);
    }
    /* Lognormal is parameterised by its mean: the sample mean of 200000
     * draws with sigma 0.5 has a standard error of 0.53 x 0.2 / 447 =
     * 0.00024; 0.005 is 20 standard errors. */
    assert_int_equal(ep_dist_parse("lognormal:0.2:0.5", &d, msg, sizeof msg), 0);
    for (int i = 0; i < n; i++)
        sum += ep_dist_sample(&d, &a);
    assert_true(fabs(sum / n - 0.2) < 0.005);
    assert_int_equal(ep_dist_parse("exp:2", &d, msg, sizeof msg), 0);
    sum = 0;
    for (int i = 0; i < n; i++)
        sum += ep_dist_sample(&d, &a);
    assert_true(fabs(sum / n - 2) < 0.05); /* se 0.0045 */
    assert_int_equal(ep_dist_parse("0.25", &d, msg, sizeof msg), 0);
    assert_true(ep_dist_sample(&d, &a) == 0.25);
    assert_int_equal(ep_dist_parse("gamma:1", &d, msg, sizeof msg), EP_EINVAL);
    assert_non_null(strstr(msg, "gamma"));
}

/* The ziggurat exponential against its distribution function: 10^6 draws
 * (fixed seed) in 1,000 bins of equal probability, chi-square with 999
 * degrees of freedom below 1,150 (p about 0.0006: a fixed seed makes the
 * verdict deterministic, and a wrong layer table, wedge or tail shifts
 * thousands of draws); and the tail beyond R = 7.697 (the slow path), where
 * 454 draws are expected (sd 21). */
static void exponential_ziggurat_fits_its_distribution(void **state)
{
    enum { N = 1000000, BINS = 1000 };
    static uint32_t count[BINS];
    ep_sim_rng r;
    double chi2 = 0, sum = 0;
    uint32_t tail = 0;
    (void)state;
    ep_sim_rng_seed(&r, 2024);
    for (int i = 0; i < N; i++) {
        double x = ep_sim_rng_exp1(&r);
        assert_true(x >= 0 && isfinite(x));
        sum += x;
        tail += x > 7.69711747013104972;
        uint32_t b = (uint32_t)(BINS * -expm1(-x));
        count[b < BINS ? b : BINS - 1]++;
    }
    for (int b = 0; b < BINS; b++) {
        double d = count[b] - (double)N / BINS;
        chi2 += d * d / ((double)N / BINS);
    }
    print_message("chi2 %.1f (999 df), tail %u, mean %.5f\n", chi2, tail, sum / N);
    assert_true(chi2 < 1150);
    assert_true(tail > 370 && tail < 540);
    assert_true(fabs(sum / N - 1) < 0.005); /* se 0.001 */
    assert_true(ep_sim_rng_exponential(&r, 3) >= 0);
}

static void zipf_weights(void **state)
{
    double w[3];
    (void)state;
    ep_zipf_weights(w, 3, 1.0);
    /* 1, 1/2, 1/3 over 11/6 */
    assert_true(fabs(w[0] - 6.0 / 11) < 1e-12);
    assert_true(fabs(w[2] - 2.0 / 11) < 1e-12);
    ep_zipf_weights(w, 3, 0);
    assert_true(w[1] == 1.0 / 3);
}

static void trace_parses(void **state)
{
    static const char text[] =
        "time,event,id,remote,port,closer\n"
        "# comment\n"
        "0.0,open,1,192.0.2.1,443\n"
        "0.5,open,2,2001:db8::1,80\n"
        "1.0,close,1,,,client\n"
        "1.0,open,1,192.0.2.1,443\n"
        "2.5,close,2,,,server\n"
        "3,close,1\n";
    ep_trace tr;
    char msg[256];
    (void)state;
    assert_int_equal(ep_trace_parse(&tr, text, strlen(text), "t.csv", msg, sizeof msg), 0);
    assert_int_equal(tr.nev, 6);
    assert_int_equal(tr.nconn, 3);
    assert_int_equal(tr.ndest, 2);
    assert_int_equal(tr.ev[0].type, EP_TRACE_OPEN);
    assert_int_equal(tr.ev[3].conn, 2);       /* id 1 reopened: a new connection */
    assert_int_equal(tr.ev[3].dest, 0);
    assert_int_equal(tr.ev[4].closer, EP_CLOSER_SERVER);
    assert_int_equal(tr.ev[5].closer, EP_CLOSER_DEFAULT);
    assert_int_equal(tr.ev[1].t, EP_MSEC(500));
    assert_int_equal(tr.dest_port[1], 80);
    assert_int_equal(tr.last, EP_SEC(3));
    assert_true(tr.has_close[0] && tr.has_close[1] && tr.has_close[2]);
    ep_trace_free(&tr);
}

static void trace_errors_name_the_line(void **state)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        { "0,open,1,192.0.2.1,443\n-1,open,2,192.0.2.1,443\n", "t.csv:2: time '-1'" },
        { "2,open,1,192.0.2.1,443\n1,open,2,192.0.2.1,443\n", "t.csv:2: time 1 is earlier" },
        { "0,open,1,192.0.2.1,443\n0,open,1,192.0.2.1,443\n", "t.csv:2: connection 1 is already open" },
        { "time,event\n0,close,9\n", "t.csv:2: close of connection 9, which is not open" },
        { "0,open,1,nowhere,443\n", "t.csv:1: remote 'nowhere'" },
        { "0,open,1,192.0.2.1,0\n", "t.csv:1: port '0'" },
        { "0,open,1,192.0.2.1\n", "t.csv:1: open needs exactly" },
        { "0,listen,1\n", "t.csv:1: event 'listen'" },
        { "0,open,x,192.0.2.1,1\n", "t.csv:1: id 'x'" },
        { "0,open,1,192.0.2.1,1\n1,close,1,,,peer\n", "t.csv:2: closer 'peer'" },
        { "0,open\n", "t.csv:1: expected at least" },
        { "0,open,1,192.0.2.1,1,a,b\n", "t.csv:1: too many fields" },
        { "# nothing\n", "t.csv: the trace has no events" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ep_trace tr;
        char msg[256] = "";
        assert_int_equal(ep_trace_parse(&tr, bad[i].text, strlen(bad[i].text), "t.csv", msg,
                                        sizeof msg), EP_EINVAL);
        if (strncmp(msg, bad[i].want, strlen(bad[i].want)) != 0)
            fail_msg("for %s got '%s', want '%s...'", bad[i].text, msg, bad[i].want);
        assert_null(tr.ev);
    }
}

static void eventq_orders_by_time_then_id(void **state)
{
    ep_eventq q;
    ep_event e;
    ep_sim_rng r;
    ep_time prev = 0;
    uint32_t prev_id = 0;
    (void)state;
    ep_eventq_init(&q, false);
    ep_sim_rng_seed(&r, 3);
    for (uint32_t i = 0; i < 5000; i++)
        assert_int_equal(ep_eventq_push(&q, ep_sim_rng_below(&r, 1000), i), 0);
    for (int i = 0; i < 5000; i++) {
        assert_true(ep_eventq_pop(&q, &e));
        assert_true(e.t > prev || (e.t == prev && (i == 0 || e.id > prev_id)));
        prev = e.t;
        prev_id = e.id;
    }
    assert_false(ep_eventq_pop(&q, &e));
    assert_true(ep_eventq_empty(&q));
    ep_eventq_free(&q);
}

/* Pushes and pops interleaved, as the simulator does them (push at now +
 * duration, pop the earliest), against a linear scan: the heap must pop
 * exactly the (t, id) minimum at every step, whatever its size. */
static void eventq_interleaved_matches_a_scan(void **state)
{
    enum { CAP = 600 };
    ep_eventq q;
    ep_event e, ref[CAP];
    ep_sim_rng r;
    size_t n = 0;
    uint32_t next_id = 0;
    ep_time now = 0;
    (void)state;
    ep_eventq_init(&q, false);
    ep_sim_rng_seed(&r, 11);
    for (int step = 0; step < 40000; step++) {
        /* Grow towards CAP, shrink to empty, then grow again; few distinct
         * times, so ties (broken on id) are common. */
        bool grow = (step / 5000) % 2 == 0;
        bool push = n == 0 || (n < CAP && ep_sim_rng_below(&r, 4) < (grow ? 3u : 1u));
        if (push) {
            ep_time t = now + ep_sim_rng_below(&r, 50);
            uint32_t id = next_id++ % 100000;
            assert_int_equal(ep_eventq_push(&q, t, id), 0);
            ref[n++] = (ep_event){ t, id };
        } else {
            size_t m = 0;
            for (size_t i = 1; i < n; i++)
                if (ref[i].t < ref[m].t || (ref[i].t == ref[m].t && ref[i].id < ref[m].id))
                    m = i;
            assert_int_equal(ep_eventq_top(&q)->t, ref[m].t);
            assert_true(ep_eventq_pop(&q, &e));
            assert_int_equal(e.t, ref[m].t);
            assert_int_equal(e.id, ref[m].id);
            now = e.t;
            ref[m] = ref[--n];
        }
        assert_int_equal(q.n, n);
    }
    ep_eventq_free(&q);
}

static void eventq_fifo_mode(void **state)
{
    ep_eventq q;
    ep_event e;
    (void)state;
    ep_eventq_init(&q, true);
    /* Interleave pushes and pops across the ring's growth and wrap. */
    for (uint32_t i = 0; i < 3000; i++) {
        assert_int_equal(ep_eventq_push(&q, i / 2, i), 0);
        if (i % 3 == 2) {
            assert_true(ep_eventq_pop(&q, &e));
            assert_int_equal(e.id, (i / 3));
        }
    }
    assert_int_equal(ep_eventq_top(&q)->id, 1000);
    assert_int_equal(ep_eventq_push(&q, 0, 9), EP_EINVAL); /* out of order */
    for (uint32_t i = 1000; i < 3000; i++) {
        assert_true(ep_eventq_pop(&q, &e));
        assert_int_equal(e.id, i);
        assert_int_equal(e.t, i / 2);
    }
    assert_true(ep_eventq_empty(&q));
    ep_eventq_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_parses_every_key),
        cmocka_unit_test(config_profile_defaults),
        cmocka_unit_test(semantics_and_tcp_tw_reuse),
        cmocka_unit_test(config_errors_name_the_line),
        cmocka_unit_test(config_cross_checks),
        cmocka_unit_test(config_copy_is_deep),
        cmocka_unit_test(rng_is_deterministic_and_distributions_have_their_mean),
        cmocka_unit_test(exponential_ziggurat_fits_its_distribution),
        cmocka_unit_test(zipf_weights),
        cmocka_unit_test(trace_parses),
        cmocka_unit_test(trace_errors_name_the_line),
        cmocka_unit_test(eventq_orders_by_time_then_id),
        cmocka_unit_test(eventq_interleaved_matches_a_scan),
        cmocka_unit_test(eventq_fifo_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
