/* test-rss-bench-smoke.c - smoke test of bench/rss-bench (suite 'bench'):
 * `--quick --json` prints the machine row, then for 4, 16 and 64 queues
 * and each occupancy (0, 50, 90, 99, 99.9 %) one "exact" and one
 * "rejection" row and one ratio row, each with its documented fields.  It
 * checks the shape of the output only, never the timings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#define BENCH EP_BUILD_ROOT "/bench/rss-bench"

static double num(json_t *row, const char *key)
{
    json_t *v = json_object_get(row, key);
    if (!json_is_number(v))
        fail_msg("field %s missing or not a number", key);
    return json_number_value(v);
}

static void rss_bench_quick_json(void **state)
{
    (void)state;
    static const int queues[] = { 4, 16, 64 };
    static const double occ[] = { 0.0, 0.5, 0.9, 0.99, 0.999 };
    int seen[3][5][3] = { { { 0 } } }, machine = 0, lines = 0;
    char line[4096];
    FILE *f = popen(BENCH " --quick --json", "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *row = json_loads(line, 0, &err);
        const char *bench;
        int qi = -1, oi = -1, kind;
        lines++;
        if (!row || !json_is_object(row))
            fail_msg("line %d is not a JSON object: %s", lines, line);
        bench = json_string_value(json_object_get(row, "bench"));
        assert_non_null(bench);
        if (strcmp(bench, "machine") == 0) {
            machine++;
            json_decref(row);
            continue;
        }
        for (int i = 0; i < 3; i++)
            if (num(row, "queues") == queues[i])
                qi = i;
        for (int i = 0; i < 5; i++)
            if (num(row, "occupancy") > occ[i] - 1e-9 && num(row, "occupancy") < occ[i] + 1e-9)
                oi = i;
        assert_true(qi >= 0 && oi >= 0);
        if (strcmp(bench, "rss-ratio") == 0) {
            assert_true(num(row, "rejection_over_exact") > 0);
            kind = 2;
        } else {
            const char *method = json_string_value(json_object_get(row, "method"));
            assert_string_equal(bench, "rss");
            assert_non_null(method);
            kind = strcmp(method, "exact") == 0 ? 0 : 1;
            if (kind == 1) {
                assert_string_equal(method, "rejection");
                assert_true(num(row, "draws_mean") >= 1);
            }
            assert_true(num(row, "median_ns") > 0);
            assert_true(num(row, "p99_ns") >= num(row, "median_ns"));
            assert_true(num(row, "free") >= 1 && num(row, "free") <= num(row, "share"));
        }
        seen[qi][oi][kind]++;
        json_decref(row);
    }
    assert_int_equal(pclose(f), 0);
    assert_int_equal(machine, 1);
    for (int q = 0; q < 3; q++)
        for (int o = 0; o < 5; o++)
            for (int k = 0; k < 3; k++)
                if (seen[q][o][k] != 1)
                    fail_msg("%d queues, occupancy %g: %d rows of kind %d", queues[q], occ[o],
                             seen[q][o][k], k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rss_bench_quick_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
