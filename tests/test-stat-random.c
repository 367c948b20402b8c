/* test-stat-random.c - statistical tests of the default selection algorithm
 * (EP_ALG_RANDOM), suite 'statistical'.  Every pool here is seeded, so each
 * run draws exactly the same ports: the tests are deterministic, and a
 * failure is a real property of the algorithm, not bad luck on the day.
 *
 * 1. Uniformity (chi-square goodness of fit).  We fix which ports of a range
 *    are occupied, then draw many ports towards the same destination, each
 *    draw released at once so the free set never changes.  If the algorithm
 *    is uniform over the free ports, the count of each free port is
 *    multinomial with equal cells and the statistic
 *        X^2 = sum over free ports (observed - expected)^2 / expected
 *    follows a chi-square distribution with (free ports - 1) degrees of
 *    freedom.  We reject at significance level alpha = 0.001; the critical
 *    value comes from the Wilson-Hilferty approximation
 *        crit = k (1 - 2/(9k) + z sqrt(2/(9k)))^3,   z = 3.0902 (upper 0.001)
 *    which is within 0.1% of the exact quantile for k >= 10.  Cases: half of
 *    the range occupied at random, 99% occupied (the dense path), and free
 *    ports that each sit right after a long used run (an algorithm that
 *    probes linearly from a random start picks those ports far more often;
 *    we show the same test rejects EP_ALG_RFC6056_1 there, so it can fail).
 *
 * 2. Unpredictability across destinations.  An observer connects to its own
 *    server and sees its ports; between two of its connections a victim
 *    connects to another destination.  After each guess the victim's port is
 *    revealed to the observer (the strongest version of RFC 6056's threat:
 *    one leaked port must not help predict the next).  The observer tries
 *    simple predictors (own port + 1, own port + last seen offset to the
 *    victim, victim's last port + own delta, victim's last port + 1, same as
 *    the victim's last).  Under a uniform choice among F free ports each
 *    predictor hits with probability p0 <= 1/F per trial, so its hit count
 *    is at most Binomial(n, p0).  We compute the smallest k with
 *    P(X >= k) <= 0.001 / predictors (Bonferroni over the predictors) and
 *    require every predictor to stay below k.  The same test must detect the
 *    leak of EP_ALG_SEQUENTIAL and EP_ALG_RFC6056_3 (global counter).
 *
 * 3. Reproducibility: same seed and calls give the same ports; different
 *    seeds give different ports.
 *
 * 4. Beyond the port: with the local address left to the pool, the choice
 *    is weighted by each address's free ports, so every free (address,
 *    port) pair is equally likely (chi-square over the pairs, and over the
 *    two addresses); bind(0) is uniform over the ports free on the address.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ephport/ephport.h>

#define Z_001 3.090232306167813   /* upper 0.001 quantile of N(0, 1) */

static ep_addr g_local, g_remote_a, g_remote_b;

static int addrs_init(void)
{
    if (ep_addr_parse("10.1.0.1", &g_local) != 0 || ep_addr_parse("192.0.2.10", &g_remote_a) != 0
        || ep_addr_parse("198.51.100.20", &g_remote_b) != 0)
        return -1;
    return 0;
}

static ep_pool *pool_make(ep_algorithm alg, uint16_t lo, uint16_t hi, uint64_t seed)
{
    ep_pool_config cfg;
    ep_pool *p = NULL;
    assert_int_equal(ep_pool_config_init(&cfg, "linux"), 0);
    cfg.lo = lo;
    cfg.hi = hi;
    cfg.algorithm = alg;
    cfg.time_wait = 0;
    cfg.seeded = true;
    cfg.seed = seed;
    cfg.thread_safe = false;
    assert_int_equal(ep_pool_new(&cfg, &p, NULL), 0);
    assert_int_equal(ep_pool_add_address(p, &g_local), 0);
    return p;
}

static ep_tuple tuple_to(const ep_addr *remote, uint16_t rport)
{
    ep_tuple t;
    memset(&t, 0, sizeof t);
    t.proto = EP_PROTO_TCP;
    t.local = g_local;
    t.remote = *remote;
    t.remote_port = rport;
    return t;
}

static double chi2_critical(double k)
{
    double a = 2.0 / (9.0 * k);
    double c = 1.0 - a + Z_001 * sqrt(a);
    return k * c * c * c;
}

/* Occupy exactly the ports of [lo, hi] for which used[port - lo] is set:
 * connect until the destination is exhausted (every port once), then close
 * the ones that must be free.  Returns the number of free ports. */
static uint32_t occupy(ep_pool *p, uint16_t lo, uint16_t hi, const bool *used)
{
    uint32_t n = (uint32_t)(hi - lo + 1), freed = 0;
    ep_tuple t;
    for (uint32_t i = 0; i < n; i++) {
        t = tuple_to(&g_remote_a, 80);
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    }
    t = tuple_to(&g_remote_a, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EADDRNOTAVAIL);
    for (uint32_t i = 0; i < n; i++) {
        if (used[i])
            continue;
        t = tuple_to(&g_remote_a, 80);
        t.local_port = (uint16_t)(lo + i);
        assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, 0), 0);
        freed++;
    }
    return freed;
}

/* Draw `draws` ports (each released at once) and return the chi-square
 * statistic over the free ports; fails if a used port is ever returned. */
static double draw_chi2(ep_pool *p, uint16_t lo, uint16_t hi, const bool *used,
                        uint32_t nfree, uint32_t draws)
{
    uint32_t n = (uint32_t)(hi - lo + 1);
    uint32_t *count = calloc(n, sizeof *count);
    assert_non_null(count);
    for (uint32_t d = 0; d < draws; d++) {
        ep_tuple t = tuple_to(&g_remote_a, 80);
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        assert_true(t.local_port >= lo && t.local_port <= hi);
        assert_false(used[t.local_port - lo]);
        count[t.local_port - lo]++;
        assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, 0), 0);
    }
    double expected = (double)draws / nfree, x2 = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (used[i])
            continue;
        double d = count[i] - expected;
        x2 += d * d / expected;
    }
    free(count);
    return x2;
}

static double chi2_case(ep_algorithm alg, uint16_t lo, uint16_t hi, const bool *used,
                        uint32_t draws_per_port, uint64_t seed, double *crit)
{
    ep_pool *p = pool_make(alg, lo, hi, seed);
    uint32_t nfree = occupy(p, lo, hi, used);
    double x2 = draw_chi2(p, lo, hi, used, nfree, nfree * draws_per_port);
    ep_pool_free(p);
    *crit = chi2_critical(nfree - 1.0);
    return x2;
}

static void chi2_half_occupied(void **state)
{
    (void)state;
    enum { LO = 20000, N = 1000 };
    bool used[N];
    uint64_t s = 12345;
    uint32_t nused = 0;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        used[i] = (s >> 63) != 0;
        nused += used[i];
    }
    assert_true(nused > 400 && nused < 600);
    double crit, x2 = chi2_case(EP_ALG_RANDOM, LO, LO + N - 1, used, 60, 1, &crit);
    print_message("half occupied: X^2 = %.1f, critical %.1f (df %u)\n", x2, crit, N - nused - 1);
    assert_true(x2 < crit);
}

static void chi2_dense_99(void **state)
{
    (void)state;
    enum { LO = 30000, N = 10000 };
    bool *used = malloc(N * sizeof *used);
    assert_non_null(used);
    /* 100 free ports (1%) scattered by a fixed permutation step. */
    for (int i = 0; i < N; i++)
        used[i] = true;
    for (int k = 0; k < 100; k++)
        used[(k * 7919 + 13) % N] = false;
    double crit, x2 = chi2_case(EP_ALG_RANDOM, LO, LO + N - 1, used, 200, 2, &crit);
    print_message("99%% occupied: X^2 = %.1f, critical %.1f (df 99)\n", x2, crit);
    assert_true(x2 < crit);
    free(used);
}

/* Free ports: a block of 50 contiguous ones, plus 50 singles each right after
 * a run of 17 used ports.  A linear prober from a random start lands on a
 * single 18 times as often as on a block port. */
static void long_runs_layout(bool *used, int n)
{
    for (int i = 0; i < n; i++)
        used[i] = true;
    for (int i = 0; i < 50; i++)
        used[i] = false;
    for (int k = 0; k < 50; k++)
        used[50 + 17 + k * 18] = false;
    assert_true(50 + 17 + 49 * 18 < n);
}

static void chi2_after_long_runs(void **state)
{
    (void)state;
    enum { LO = 50000, N = 1000 };
    bool used[N];
    long_runs_layout(used, N);
    double crit, x2 = chi2_case(EP_ALG_RANDOM, LO, LO + N - 1, used, 100, 3, &crit);
    print_message("after long runs: X^2 = %.1f, critical %.1f (df 99)\n", x2, crit);
    assert_true(x2 < crit);
}

static void chi2_detects_linear_probe_bias(void **state)
{
    (void)state;
    enum { LO = 50000, N = 1000 };
    bool used[N];
    long_runs_layout(used, N);
    double crit, x2 = chi2_case(EP_ALG_RFC6056_1, LO, LO + N - 1, used, 100, 3, &crit);
    print_message("rfc6056-1 after long runs: X^2 = %.1f, critical %.1f\n", x2, crit);
    assert_true(x2 > crit);
}

/* ---- unpredictability across destinations ------------------------------- */

#define NPRED 5

/* Smallest k with P(Binomial(n, p) >= k) <= alpha. */
static uint32_t binom_threshold(uint32_t n, double p, double alpha)
{
    /* pmf by recurrence in log space; tail summed from the top down */
    double *pmf = malloc((n + 1) * sizeof *pmf);
    assert_non_null(pmf);
    for (uint32_t k = 0; k <= n; k++)
        pmf[k] = exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0)
                     + k * log(p) + (n - k) * log1p(-p));
    double tail = 0;
    uint32_t k = n + 1;
    while (k > 0 && tail + pmf[k - 1] <= alpha) {
        tail += pmf[k - 1];
        k--;
    }
    free(pmf);
    return k;
}

/* Play the observer's game for n trials; hits[i] counts predictor i. */
static void observer_game(ep_algorithm alg, uint64_t seed, uint32_t n, uint32_t hits[NPRED],
                          uint32_t *range)
{
    enum { LO = 10000, HI = 10999 };
    ep_pool *p = pool_make(alg, LO, HI, seed);
    *range = HI - LO + 1;
    memset(hits, 0, NPRED * sizeof hits[0]);
    int prev_a = -1, prev_b = -1;
    for (uint32_t i = 0; i < n + 1; i++) {
        ep_tuple a = tuple_to(&g_remote_a, 80);
        ep_tuple b = tuple_to(&g_remote_b, 443);
        assert_int_equal(ep_pool_connect(p, &a, 0, 0), 0);
        assert_int_equal(ep_pool_connect(p, &b, 0, 0), 0);
        int pa = a.local_port, pb = b.local_port;
        if (prev_a >= 0) {
            /* the range is public: every guess wraps inside it */
            int guess[NPRED] = {
                pa + 1,                               /* global counter */
                pa + (prev_b - prev_a),               /* constant offset to victim */
                prev_b + (pa - prev_a),               /* victim moves like me */
                prev_b + 1,                           /* victim counts up */
                prev_b,                               /* victim repeats */
            };
            for (int g = 0; g < NPRED; g++) {
                int w = ((guess[g] - LO) % (int)*range + (int)*range) % (int)*range + LO;
                hits[g] += w == pb;
            }
        }
        prev_a = pa;
        prev_b = pb;
        assert_int_equal(ep_pool_close(p, &a, EP_CLOSE_PASSIVE, 0), 0);
        assert_int_equal(ep_pool_close(p, &b, EP_CLOSE_PASSIVE, 0), 0);
    }
    ep_pool_free(p);
}

static uint32_t best_hits(const uint32_t hits[NPRED])
{
    uint32_t best = 0;
    for (int g = 0; g < NPRED; g++)
        if (hits[g] > best)
            best = hits[g];
    return best;
}

enum { GAME_TRIALS = 4000 };

static uint32_t game_threshold(uint32_t range)
{
    /* Every free port is equally likely, and the victim's destination has the
     * whole range free at each draw (everything is released), so p0 = 1/F. */
    return binom_threshold(GAME_TRIALS, 1.0 / range, 0.001 / NPRED);
}

static void unpredictable_across_destinations(void **state)
{
    (void)state;
    uint32_t hits[NPRED], range;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        observer_game(EP_ALG_RANDOM, seed, GAME_TRIALS, hits, &range);
        uint32_t k = game_threshold(range);
        print_message("random seed %llu: best predictor %u hits of %u (chance %.1f, bound %u)\n",
                      (unsigned long long)seed, best_hits(hits), GAME_TRIALS,
                      (double)GAME_TRIALS / range, k);
        for (int g = 0; g < NPRED; g++)
            assert_true(hits[g] < k);
    }
}

static void observer_detects_global_counter(void **state)
{
    (void)state;
    static const ep_algorithm leaky[] = { EP_ALG_SEQUENTIAL, EP_ALG_RFC6056_3 };
    uint32_t hits[NPRED], range;
    for (size_t i = 0; i < sizeof leaky / sizeof leaky[0]; i++) {
        observer_game(leaky[i], 7, GAME_TRIALS, hits, &range);
        uint32_t k = game_threshold(range);
        print_message("%s: best predictor %u hits of %u (bound %u)\n",
                      ep_algorithm_name(leaky[i]), best_hits(hits), GAME_TRIALS, k);
        assert_true(best_hits(hits) >= k);
    }
}

/* ---- reproducibility ----------------------------------------------------- */

static void draw_sequence(uint64_t seed, uint16_t *out, int n)
{
    ep_pool *p = pool_make(EP_ALG_RANDOM, 20000, 20999, seed);
    ep_tuple held[64];
    for (int i = 0; i < n; i++) {
        ep_tuple t = tuple_to(i % 2 ? &g_remote_a : &g_remote_b, 80);
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        out[i] = t.local_port;
        /* keep a window of 64 open so the free set evolves too */
        if (i >= 64)
            assert_int_equal(ep_pool_close(p, &held[i % 64], EP_CLOSE_PASSIVE, 0), 0);
        held[i % 64] = t;
    }
    ep_pool_free(p);
}

static void seeded_pools_reproduce(void **state)
{
    (void)state;
    enum { N = 500 };
    uint16_t a[N], b[N], c[N];
    draw_sequence(99, a, N);
    draw_sequence(99, b, N);
    draw_sequence(100, c, N);
    assert_memory_equal(a, b, sizeof a);
    int same = 0;
    for (int i = 0; i < N; i++)
        same += a[i] == c[i];
    /* Independent uniform draws over ~1000 ports agree about N/1000 times. */
    print_message("seed 99 vs 100: %d of %d ports equal\n", same, N);
    assert_true(same < 10);
}

/* ---- local-address weighting and bind(0) ---------------------------------- */

static void unspecified_local_uniform_over_pairs(void **state)
{
    (void)state;
    enum { LO = 40000, N = 1000, DRAWS = 24000 };
    ep_addr l2;
    assert_int_equal(ep_addr_parse("10.1.0.2", &l2), 0);
    ep_pool *p = pool_make(EP_ALG_RANDOM, LO, LO + N - 1, 5);
    assert_int_equal(ep_pool_add_address(p, &l2), 0);
    /* Address 1 keeps its first 100 ports free, address 2 its first 300. */
    const ep_addr *addr[2] = { &g_local, &l2 };
    const uint32_t nfree[2] = { 100, 300 };
    for (int a = 0; a < 2; a++) {
        for (uint32_t i = 0; i < N; i++) {
            ep_tuple t = tuple_to(&g_remote_a, 80);
            t.local = *addr[a];
            assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        }
        for (uint32_t i = 0; i < nfree[a]; i++) {
            ep_tuple t = tuple_to(&g_remote_a, 80);
            t.local = *addr[a];
            t.local_port = (uint16_t)(LO + i);
            assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, 0), 0);
        }
    }
    uint32_t count[2][300] = { { 0 } }, per_addr[2] = { 0, 0 };
    for (int d = 0; d < DRAWS; d++) {
        ep_tuple t = tuple_to(&g_remote_a, 80);
        memset(&t.local, 0, sizeof t.local);
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        int a = ep_addr_equal(&t.local, &l2);
        assert_true(a || ep_addr_equal(&t.local, &g_local));
        assert_true(t.local_port >= LO && t.local_port < LO + nfree[a]);
        count[a][t.local_port - LO]++;
        per_addr[a]++;
        assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, 0), 0);
    }
    ep_pool_free(p);
    double expected = DRAWS / 400.0, x2 = 0;
    for (int a = 0; a < 2; a++)
        for (uint32_t i = 0; i < nfree[a]; i++)
            x2 += (count[a][i] - expected) * (count[a][i] - expected) / expected;
    double crit = chi2_critical(399);
    /* the addresses alone: expected 1/4 and 3/4; df 1, critical 10.83 */
    double e0 = DRAWS / 4.0, e1 = DRAWS * 3 / 4.0;
    double x2a = (per_addr[0] - e0) * (per_addr[0] - e0) / e0 + (per_addr[1] - e1) * (per_addr[1] - e1) / e1;
    print_message("pairs: X^2 = %.1f, critical %.1f (df 399); addresses %u/%u, X^2 = %.2f, critical 10.83\n",
                  x2, crit, per_addr[0], per_addr[1], x2a);
    assert_true(x2 < crit);
    assert_true(x2a < 10.828);
}

static void bind0_uniform_over_free_ports(void **state)
{
    (void)state;
    enum { LO = 45000, N = 1000 };
    bool used[N];
    for (int i = 0; i < N; i++)
        used[i] = (i % 3) != 0 || (i > 600 && i < 700); /* ~330 free, one long used run */
    ep_pool *p = pool_make(EP_ALG_RANDOM, LO, LO + N - 1, 6);
    uint32_t nfree = occupy(p, LO, LO + N - 1, used); /* connections on the address */
    uint32_t *count = calloc(N, sizeof *count);
    assert_non_null(count);
    uint32_t draws = nfree * 60;
    for (uint32_t d = 0; d < draws; d++) {
        ep_bind_req req;
        memset(&req, 0, sizeof req);
        req.proto = EP_PROTO_TCP;
        req.addr = g_local;
        ep_bind_id id;
        uint16_t port;
        assert_int_equal(ep_pool_bind(p, &req, 0, &id, &port), 0);
        assert_true(port >= LO && port < LO + N);
        assert_false(used[port - LO]); /* bind(0) avoids ports used by tuples */
        count[port - LO]++;
        assert_int_equal(ep_pool_unbind(p, id, 0), 0);
    }
    ep_pool_free(p);
    double expected = 60.0, x2 = 0;
    for (int i = 0; i < N; i++)
        if (!used[i])
            x2 += (count[i] - expected) * (count[i] - expected) / expected;
    free(count);
    double crit = chi2_critical(nfree - 1.0);
    print_message("bind(0): X^2 = %.1f, critical %.1f (df %u)\n", x2, crit, nfree - 1);
    assert_true(x2 < crit);
}

int main(void)
{
    if (addrs_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chi2_half_occupied),
        cmocka_unit_test(chi2_dense_99),
        cmocka_unit_test(chi2_after_long_runs),
        cmocka_unit_test(chi2_detects_linear_probe_bias),
        cmocka_unit_test(unpredictable_across_destinations),
        cmocka_unit_test(observer_detects_global_counter),
        cmocka_unit_test(seeded_pools_reproduce),
        cmocka_unit_test(unspecified_local_uniform_over_pairs),
        cmocka_unit_test(bind0_uniform_over_free_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
