/* test-pool-config.c - unit tests for the pool's configuration face:
 * ep_pool_config_init, ep_pool_new (every validation error),
 * ep_algorithm_name/from_name, ep_pool_add_address, ep_pool_set_reserved,
 * ep_pool_set_owner_quota, ep_pool_get_config, ep_now, NULL handling. */
#include "test-pool-util.h"

static void config_init_profiles(void **state)
{
    ep_pool_config c;
    (void)state;
    assert_int_equal(ep_pool_config_init(&c, NULL), 0);
    assert_int_equal(c.lo, 32768);
    assert_int_equal(c.hi, 60999);
    assert_true(c.time_wait == EP_SEC(60));
    assert_int_equal(c.algorithm, EP_ALG_RANDOM);
    assert_false(c.tw_reuse);
    assert_true(c.tw_reuse_delay == EP_SEC(1));
    assert_true(c.quarantine == 0);
    assert_int_equal(c.owner_quota, 0);
    assert_false(c.seeded);
    assert_true(c.thread_safe);
    assert_null(c.reserved);
    assert_int_equal(ep_pool_config_init(&c, "windows"), 0);
    assert_int_equal(c.lo, 49152);
    assert_int_equal(c.hi, 65535);
    assert_true(c.time_wait == EP_SEC(120));
    assert_int_equal(ep_pool_config_init(&c, "freebsd"), 0);
    assert_int_equal(c.lo, 10000);
    assert_int_equal(ep_pool_config_init(&c, "nope"), EP_EINVAL);
    assert_int_equal(ep_pool_config_init(NULL, "linux"), EP_EINVAL);
}

static void new_rejects_bad_config(void **state)
{
    ep_pool_config c;
    ep_pool *p = (ep_pool *)0x1;
    ep_parse_error err;
    (void)state;

    ep_pool_config_init(&c, NULL);
    c.lo = 0;
    memset(&err, 0, sizeof err);
    assert_int_equal(ep_pool_new(&c, &p, &err), EP_EINVAL);
    assert_true(strlen(err.message) > 0);
    ep_pool_config_init(&c, NULL);
    c.lo = 2000;
    c.hi = 1000;
    memset(&err, 0, sizeof err);
    assert_int_equal(ep_pool_new(&c, &p, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "empty"));
    ep_pool_config_init(&c, NULL);
    c.algorithm = EP_ALG__COUNT;
    assert_int_equal(ep_pool_new(&c, &p, &err), EP_EINVAL);
    c.algorithm = (ep_algorithm)-1;
    assert_int_equal(ep_pool_new(&c, &p, NULL), EP_EINVAL);
    ep_pool_config_init(&c, NULL);
    c.reserved = "80,garbage";
    memset(&err, 0, sizeof err);
    assert_int_equal(ep_pool_new(&c, &p, &err), EP_EINVAL);
    assert_int_equal(err.offset, 3);
    c.reserved = "70000";
    assert_int_equal(ep_pool_new(&c, &p, &err), EP_EINVAL);
    c.lo = 100;
    c.hi = 200;
    c.reserved = "50-150,151-300";
    memset(&err, 0, sizeof err);
    assert_int_equal(ep_pool_new(&c, &p, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "cover"));
    assert_true(p == (ep_pool *)0x1); /* untouched */
    assert_int_equal(ep_pool_new(NULL, &p, &err), EP_EINVAL);
    assert_int_equal(ep_pool_new(&c, NULL, NULL), EP_EINVAL);
}

static void new_accepts_edges(void **state)
{
    ep_pool_config c, got;
    ep_pool *p;
    ep_pool_stats st;
    (void)state;

    ep_pool_config_init(&c, NULL);
    c.lo = 1;
    c.hi = 65535;
    c.reserved = "1-65534";
    assert_int_equal(ep_pool_new(&c, &p, NULL), 0);
    assert_int_equal(ep_pool_stats_get(p, 0, &st), 0);
    assert_int_equal(st.range_ports, 65535);
    assert_int_equal(st.effective_ports, 1);
    assert_int_equal(ep_pool_get_config(p, &got), 0);
    assert_string_equal(got.reserved, "1-65534");
    assert_int_equal(got.lo, 1);
    ep_pool_free(p);
    c.lo = c.hi = 5000;
    c.reserved = NULL;
    c.thread_safe = false;
    assert_int_equal(ep_pool_new(&c, &p, NULL), 0);
    assert_int_equal(ep_pool_get_config(p, &got), 0);
    assert_string_equal(got.reserved, "");
    assert_false(got.thread_safe);
    ep_pool_free(p);
    ep_pool_free(NULL);
}

static void algorithm_names(void **state)
{
    ep_algorithm a;
    (void)state;
    for (int i = 0; i < EP_ALG__COUNT; i++) {
        const char *n = ep_algorithm_name((ep_algorithm)i);
        assert_non_null(n);
        assert_int_equal(ep_algorithm_from_name(n, &a), 0);
        assert_int_equal(a, i);
    }
    assert_string_equal(ep_algorithm_name(EP_ALG_RANDOM), "random");
    assert_string_equal(ep_algorithm_name(EP_ALG_RFC6056_4), "rfc6056-4");
    assert_null(ep_algorithm_name(EP_ALG__COUNT));
    assert_null(ep_algorithm_name((ep_algorithm)-3));
    assert_int_equal(ep_algorithm_from_name("default", &a), 0);
    assert_int_equal(a, EP_ALG_RANDOM);
    assert_int_equal(ep_algorithm_from_name("linux", &a), 0);
    assert_int_equal(a, EP_ALG_RFC6056_4);
    assert_int_equal(ep_algorithm_from_name("rfc6056-6", &a), EP_EINVAL);
    assert_int_equal(ep_algorithm_from_name("", &a), EP_EINVAL);
    assert_int_equal(ep_algorithm_from_name(NULL, &a), EP_EINVAL);
    assert_int_equal(ep_algorithm_from_name("random", NULL), EP_EINVAL);
}

static void add_address_rules(void **state)
{
    ep_pool *p = tp_pool(1000, 1999, EP_ALG_RANDOM, NULL);
    ep_addr a = tp_addr("192.0.2.1"), w4 = tp_addr("0.0.0.0"), w6 = tp_addr("::"), z;
    ep_addr six = tp_addr("2001:db8::1");
    (void)state;
    memset(&z, 0, sizeof z);
    assert_int_equal(ep_pool_add_address(p, &a), 0);
    assert_int_equal(ep_pool_add_address(p, &a), EP_EEXIST);
    assert_int_equal(ep_pool_add_address(p, &six), 0);
    assert_int_equal(ep_pool_add_address(p, &w4), EP_EINVAL);
    assert_int_equal(ep_pool_add_address(p, &w6), EP_EINVAL);
    assert_int_equal(ep_pool_add_address(p, &z), EP_EINVAL);
    z.family = 99;
    assert_int_equal(ep_pool_add_address(p, &z), EP_EINVAL);
    assert_int_equal(ep_pool_add_address(p, NULL), EP_EINVAL);
    assert_int_equal(ep_pool_add_address(NULL, &a), EP_EINVAL);
    /* garbage past the 4 bytes of an IPv4 address is ignored */
    ep_addr g = a;
    g.u.bytes[10] = 7;
    assert_int_equal(ep_pool_add_address(p, &g), EP_EEXIST);
    for (int i = 2; i < 40; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "192.0.2.%d", i);
        ep_addr x = tp_addr(buf);
        assert_int_equal(ep_pool_add_address(p, &x), 0);
    }
    tp_check(p);
    ep_pool_free(p);
}

static void set_reserved_rules(void **state)
{
    ep_pool *p = tp_pool(1000, 1009, EP_ALG_SEQUENTIAL, "192.0.2.1");
    ep_parse_error err;
    ep_pool_config got;
    ep_tuple t = tp_tuple(EP_PROTO_TCP, "192.0.2.1", "198.51.100.1", 80);
    (void)state;

    assert_int_equal(ep_pool_set_reserved(p, "1000-1008", &err), 0);
    assert_int_equal(tp_stats(p, 0).effective_ports, 1);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(t.local_port, 1009);
    tp_check(p);
    /* newly reserved: the holder keeps it, the count no longer includes it */
    memset(&err, 0, sizeof err);
    assert_int_equal(ep_pool_set_reserved(p, "1000-1009", &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "cover"));
    assert_int_equal(ep_pool_set_reserved(p, "1001-1009", &err), 0);
    assert_int_equal(tp_stats(p, 0).effective_ports, 1);
    ep_dest_stats ds = tp_dstats(p, &t, 0);
    assert_int_equal(ds.in_use, 1);
    assert_int_equal(ds.free, 1);
    tp_check(p);
    assert_int_equal(ep_pool_set_reserved(p, "x", &err), EP_EINVAL);
    assert_int_equal(tp_stats(p, 0).effective_ports, 1); /* unchanged */
    assert_int_equal(ep_pool_get_config(p, &got), 0);
    assert_string_equal(got.reserved, "1001-1009");
    assert_int_equal(ep_pool_set_reserved(p, NULL, NULL), 0);
    assert_int_equal(tp_stats(p, 0).effective_ports, 10);
    ds = tp_dstats(p, &t, 0);
    assert_int_equal(ds.free, 9);
    tp_check(p);
    assert_int_equal(ep_pool_set_reserved(NULL, "", NULL), EP_EINVAL);
    ep_pool_free(p);
}

static void owner_quota_and_misc(void **state)
{
    ep_pool *p = tp_pool(1000, 1999, EP_ALG_RANDOM, "192.0.2.1");
    ep_pool_config got;
    ep_time a, b;
    (void)state;
    assert_int_equal(ep_pool_set_owner_quota(p, 0, 5), EP_EINVAL);
    assert_int_equal(ep_pool_set_owner_quota(NULL, 1, 5), EP_EINVAL);
    assert_int_equal(ep_pool_set_owner_quota(p, 1, 5), 0);
    assert_int_equal(ep_pool_set_owner_quota(p, 1, 0), 0);
    assert_int_equal(ep_pool_get_config(NULL, &got), EP_EINVAL);
    assert_int_equal(ep_pool_get_config(p, NULL), EP_EINVAL);
    assert_int_equal(ep_pool_stats_get(NULL, 0, NULL), EP_EINVAL);
    assert_int_equal(ep_pool_stats_get(p, 0, NULL), EP_EINVAL);
    ep_pool_advance(NULL, 5);
    ep_pool_advance(p, 5);
    assert_int_equal(ep_pool_check(NULL, NULL, 0), EP_EINVAL);
    a = ep_now();
    b = ep_now();
    assert_true(a > 0 && b >= a);
    ep_pool_free(p);
}

static void unseeded_pools_differ(void **state)
{
    ep_pool_config c = tp_cfg(1000, 60000, EP_ALG_RANDOM);
    const char *addrs[] = { "192.0.2.1", NULL };
    ep_pool *p1, *p2;
    int same = 0;
    (void)state;
    c.seeded = false;
    p1 = tp_pool_cfg(&c, addrs);
    p2 = tp_pool_cfg(&c, addrs);
    for (int i = 0; i < 8; i++) {
        ep_tuple t1 = tp_tuple(EP_PROTO_TCP, NULL, "198.51.100.1", 80), t2 = t1;
        assert_int_equal(ep_pool_connect(p1, &t1, 0, 0), 0);
        assert_int_equal(ep_pool_connect(p2, &t2, 0, 0), 0);
        same += t1.local_port == t2.local_port;
    }
    assert_true(same < 8); /* 8 equal draws of 59001: probability ~1e-38 */
    ep_pool_free(p1);
    ep_pool_free(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_init_profiles),
        cmocka_unit_test(new_rejects_bad_config),
        cmocka_unit_test(new_accepts_edges),
        cmocka_unit_test(algorithm_names),
        cmocka_unit_test(add_address_rules),
        cmocka_unit_test(set_reserved_rules),
        cmocka_unit_test(owner_quota_and_misc),
        cmocka_unit_test(unseeded_pools_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
