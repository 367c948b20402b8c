/* test-bench-smoke.c - smoke test of bench/ephport-bench and bench/sim-bench
 * (suite 'bench'): runs each with `--quick --json` and checks that every
 * line is a JSON object with the documented fields: for ephport-bench an
 * alloc row per algorithm and occupancy, a semantics row per semantics
 * (stack, linux), case (tcp/1, udp/1, udp/100 destinations) and occupancy
 * with one linux/stack ratio row each, the memory and expiry rows, a
 * threads row per mode (different, same, own-pool) and 1, 2, 4 threads; for
 * sim-bench a throughput row per scenario and the two memory rows.  It
 * checks the shape of the output only, never the timings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <ephport/ephport.h>

#define BENCH EP_BUILD_ROOT "/bench/ephport-bench"
#define SIM_BENCH EP_BUILD_ROOT "/bench/sim-bench"

static bool positive_number(json_t *row, const char *key)
{
    json_t *v = json_object_get(row, key);
    return json_is_number(v) && json_number_value(v) > 0;
}

/* The next line of f as a JSON object, or NULL at the end; a line that is
 * not one fails the test. */
static json_t *next_json_row(FILE *f, int *lines)
{
    char line[4096];
    json_error_t err;
    json_t *row;
    if (!fgets(line, sizeof line, f))
        return NULL;
    (*lines)++;
    if (!(row = json_loads(line, 0, &err)))
        fail_msg("line %d is not JSON (%s): %s", *lines, err.text, line);
    assert_true(json_is_object(row));
    return row;
}

static void bench_quick_json_rows(void **state)
{
    (void)state;
    FILE *f = popen(BENCH " --quick --json", "r");
    assert_non_null(f);
    static const double occ[] = { 0.0, 0.5, 0.9, 0.99, 0.999 };
    int alloc_seen[EP_ALG__COUNT][5] = { { 0 } };
    int many_dest = 0, machine = 0, memory = 0, expiry = 0, ratio = 0, lines = 0;
    int threads_seen[3][5] = { { 0 } }; /* mode x threads (1, 2, 4) */
    int sem_seen[3][5][2] = { { { 0 } } }, sem_ratio[3][5] = { { 0 } };
    json_t *row;
    while ((row = next_json_row(f, &lines)) != NULL) {
        const char *bench = json_string_value(json_object_get(row, "bench"));
        assert_non_null(bench);
        if (strcmp(bench, "alloc") == 0) {
            const char *name = json_string_value(json_object_get(row, "algorithm"));
            ep_algorithm alg;
            assert_non_null(name);
            assert_int_equal(ep_algorithm_from_name(name, &alg), 0);
            assert_true(json_is_boolean(json_object_get(row, "default")));
            assert_int_equal(json_is_true(json_object_get(row, "default")), alg == EP_ALG_RANDOM);
            assert_true(positive_number(row, "median_ns"));
            assert_true(positive_number(row, "p99_ns"));
            assert_true(json_number_value(json_object_get(row, "p99_ns"))
                        >= json_number_value(json_object_get(row, "median_ns")));
            json_int_t dests = json_integer_value(json_object_get(row, "destinations"));
            double o = json_number_value(json_object_get(row, "occupancy"));
            if (dests == 100000) {
                many_dest++;
            } else {
                assert_int_equal(dests, 1);
                int k = -1;
                for (int i = 0; i < 5; i++)
                    if (o > occ[i] - 1e-9 && o < occ[i] + 1e-9)
                        k = i;
                assert_true(k >= 0);
                alloc_seen[alg][k]++;
            }
        } else if (strcmp(bench, "semantics") == 0 || strcmp(bench, "semantics_ratio") == 0) {
            const char *proto = json_string_value(json_object_get(row, "protocol"));
            json_int_t dests = json_integer_value(json_object_get(row, "destinations"));
            double o = json_number_value(json_object_get(row, "occupancy"));
            int c = -1, k = -1;
            assert_non_null(proto);
            if (strcmp(proto, "tcp") == 0 && dests == 1)
                c = 0;
            else if (strcmp(proto, "udp") == 0 && dests == 1)
                c = 1;
            else if (strcmp(proto, "udp") == 0 && dests == 100)
                c = 2;
            assert_true(c >= 0);
            for (int i = 0; i < 5; i++)
                if (o > occ[i] - 1e-9 && o < occ[i] + 1e-9)
                    k = i;
            assert_true(k >= 0);
            if (strcmp(bench, "semantics_ratio") == 0) {
                assert_true(positive_number(row, "median_ratio"));
                assert_true(positive_number(row, "median_cpu_ratio"));
                sem_ratio[c][k]++;
            } else {
                const char *rules = json_string_value(json_object_get(row, "semantics"));
                assert_non_null(rules);
                assert_true(strcmp(rules, "stack") == 0 || strcmp(rules, "linux") == 0);
                assert_true(positive_number(row, "median_ns"));
                assert_true(json_number_value(json_object_get(row, "p99_ns"))
                            >= json_number_value(json_object_get(row, "median_ns")));
                sem_seen[c][k][strcmp(rules, "linux") == 0]++;
            }
        } else if (strcmp(bench, "memory") == 0) {
            assert_true(positive_number(row, "bytes_per_connection"));
            memory++;
        } else if (strcmp(bench, "expiry") == 0) {
            assert_true(positive_number(row, "median_ns_per_entry"));
            expiry++;
        } else if (strcmp(bench, "machine") == 0) {
            assert_non_null(json_string_value(json_object_get(row, "cpu")));
            assert_non_null(json_string_value(json_object_get(row, "kernel")));
            assert_non_null(json_string_value(json_object_get(row, "build")));
            machine++;
        } else if (strcmp(bench, "ratio") == 0) {
            assert_true(positive_number(row, "median_ratio"));
            ratio++;
        } else if (strcmp(bench, "threads") == 0) {
            const char *mode = json_string_value(json_object_get(row, "mode"));
            int n = (int)json_integer_value(json_object_get(row, "threads"));
            assert_non_null(mode);
            int m = strcmp(mode, "different") == 0 ? 0 : strcmp(mode, "same") == 0 ? 1
                    : strcmp(mode, "own-pool") == 0 ? 2 : -1;
            assert_true(m >= 0);
            assert_true(n == 1 || n == 2 || n == 4);
            assert_true(positive_number(row, "pairs_per_s"));
            assert_true(positive_number(row, "ratio"));
            assert_true(positive_number(row, "pairs_per_cpu_s"));
            assert_true(positive_number(row, "cpu_ratio"));
            assert_non_null(json_object_get(row, "loadavg"));
            threads_seen[m][n]++;
        }
        json_decref(row);
    }
    assert_int_equal(pclose(f), 0);
    assert_int_equal(machine, 1);
    assert_int_equal(memory, 1);
    assert_int_equal(expiry, 1);
    assert_int_equal(many_dest, EP_ALG__COUNT);
    assert_int_equal(ratio, 6);
    for (int m = 0; m < 3; m++)
        for (int n = 1; n <= 4; n *= 2)
            assert_int_equal(threads_seen[m][n], 1);
    for (int a = 0; a < EP_ALG__COUNT; a++)
        for (int i = 0; i < 5; i++)
            assert_int_equal(alloc_seen[a][i], 1);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 5; i++) {
            assert_int_equal(sem_seen[c][i][0], 1);
            assert_int_equal(sem_seen[c][i][1], 1);
            assert_int_equal(sem_ratio[c][i], 1);
        }
}

static void sim_bench_quick_json_rows(void **state)
{
    (void)state;
    FILE *f = popen(SIM_BENCH " --quick --json", "r");
    assert_non_null(f);
    int machine = 0, throughput = 0, memory = 0, lines = 0;
    json_t *row;
    while ((row = next_json_row(f, &lines)) != NULL) {
        const char *kind = json_string_value(json_object_get(row, "row"));
        assert_non_null(kind);
        if (strcmp(kind, "machine") == 0) {
            assert_non_null(json_string_value(json_object_get(row, "build")));
            machine++;
        } else if (strcmp(kind, "throughput") == 0) {
            assert_non_null(json_string_value(json_object_get(row, "scenario")));
            assert_true(positive_number(row, "connections"));
            assert_true(positive_number(row, "median_ns"));
            assert_true(json_number_value(json_object_get(row, "p99_ns"))
                        >= json_number_value(json_object_get(row, "median_ns")));
            assert_true(positive_number(row, "mconn_per_s"));
            assert_true(positive_number(row, "engine_mconn_per_s"));
            throughput++;
        } else if (strcmp(kind, "memory") == 0) {
            assert_true(positive_number(row, "length"));
            assert_true(positive_number(row, "connections"));
            assert_true(positive_number(row, "peak_rss_kib"));
            memory++;
        } else {
            fail_msg("unknown row kind '%s'", kind);
        }
        json_decref(row);
    }
    assert_int_equal(pclose(f), 0);
    assert_int_equal(machine, 1);
    assert_int_equal(throughput, 6);
    assert_int_equal(memory, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bench_quick_json_rows),
        cmocka_unit_test(sim_bench_quick_json_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
