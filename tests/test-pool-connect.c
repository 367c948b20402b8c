/* test-pool-connect.c - unit tests for connect-style allocation and the
 * tuple life cycle: ep_pool_connect, ep_pool_close, ep_pool_advance,
 * TIME_WAIT, tw_reuse, quarantine, exact expiry, time clamping, local
 * address choice, quotas, statistics, top destinations, every selection
 * algorithm, the dense/sparse transitions, and every error path (with the
 * pool's state checked unchanged). */
#include <stdio.h>
#include <stdlib.h>

#include "test-pool-util.h"

#define L1 "192.0.2.1"
#define L2 "192.0.2.2"
#define R1 "198.51.100.1"
#define R2 "198.51.100.2"

static void connect_fills_and_shares(void **state)
{
    ep_pool *p = tp_pool(1000, 1009, EP_ALG_RANDOM, L1);
    uint8_t seen[10] = { 0 };
    ep_tuple t;
    (void)state;
    for (int i = 0; i < 10; i++) {
        t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        assert_in_range(t.local_port, 1000, 1009);
        assert_false(seen[t.local_port - 1000]);
        seen[t.local_port - 1000] = 1;
        assert_true(ep_addr_equal(&t.local, &(ep_addr){ 0 }) == false);
        ep_addr l1 = tp_addr(L1);
        assert_true(ep_addr_equal(&t.local, &l1));
    }
    t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EADDRNOTAVAIL);
    t = tp_tuple(EP_PROTO_TCP, L1, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EADDRNOTAVAIL);
    ep_dest_stats ds = tp_dstats(p, &t, 0);
    assert_int_equal(ds.in_use, 10);
    assert_int_equal(ds.free, 0);
    assert_int_equal(ds.failures, 2);
    assert_true(ds.pressure == 1.0);
    /* the same ports serve other destinations: another remote port, another
     * remote address, the other protocol */
    for (int i = 0; i < 10; i++) {
        ep_tuple a = tp_tuple(EP_PROTO_TCP, NULL, R1, 443);
        ep_tuple b = tp_tuple(EP_PROTO_TCP, NULL, R2, 80);
        ep_tuple c = tp_tuple(EP_PROTO_UDP, NULL, R1, 80);
        assert_int_equal(ep_pool_connect(p, &a, 0, 0), 0);
        assert_int_equal(ep_pool_connect(p, &b, 0, 0), 0);
        assert_int_equal(ep_pool_connect(p, &c, 0, 0), 0);
    }
    ep_pool_stats st = tp_stats(p, 0);
    assert_int_equal(st.in_use, 40);
    assert_int_equal(st.destinations, 4);
    assert_int_equal(st.allocations, 40);
    assert_int_equal(st.failures[EP_FAIL_EXHAUSTED], 2);
    assert_int_equal(st.range_ports, 10);
    assert_int_equal(st.effective_ports, 10);
    tp_check(p);
    ep_pool_free(p);
}

static void connect_rejects_bad_input(void **state)
{
    ep_pool *p = tp_pool(1000, 1009, EP_ALG_RANDOM, L1);
    ep_tuple t;
    (void)state;
    assert_int_equal(ep_pool_connect(NULL, &t, 0, 0), EP_EINVAL);
    assert_int_equal(ep_pool_connect(p, NULL, 0, 0), EP_EINVAL);
    t = tp_tuple(0, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EINVAL);
    t = tp_tuple(1, NULL, R1, 80); /* ICMP */
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EINVAL);
    t = tp_tuple(EP_PROTO_TCP, NULL, NULL, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EINVAL);
    t = tp_tuple(EP_PROTO_TCP, NULL, "0.0.0.0", 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EINVAL);
    t = tp_tuple(EP_PROTO_TCP, NULL, R1, 0);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EINVAL);
    t = tp_tuple(EP_PROTO_TCP, "2001:db8::1", R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EINVAL);
    t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    t.remote.family = 77;
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EINVAL);
    t = tp_tuple(EP_PROTO_TCP, "192.0.2.99", R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_ENOENT);
    t = tp_tuple(EP_PROTO_TCP, NULL, "2001:db8::2", 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EAFNOSUPPORT);
    t = tp_tuple(EP_PROTO_TCP, "::", "2001:db8::2", 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EAFNOSUPPORT);
    ep_pool_stats st = tp_stats(p, 0);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.destinations, 0);
    assert_int_equal(st.allocations, 0);
    assert_int_equal(st.failures[EP_FAIL_INVALID], 11);
    /* the wildcard local of the right family is "let the pool choose" */
    t = tp_tuple(EP_PROTO_TCP, "0.0.0.0", R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    ep_addr l1 = tp_addr(L1);
    assert_true(ep_addr_equal(&t.local, &l1));
    tp_check(p);
    ep_pool_free(p);
}

static void close_paths(void **state)
{
    ep_pool *p = tp_pool(1000, 1009, EP_ALG_RANDOM, L1);
    ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80), u, v, bad;
    ep_time tw = EP_SEC(60);
    (void)state;

    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, EP_SEC(1)), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, EP_SEC(2)), EP_EALREADY);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, EP_SEC(2)), EP_EALREADY);
    ep_dest_stats ds = tp_dstats(p, &t, EP_SEC(2));
    assert_int_equal(ds.time_wait, 1);
    assert_int_equal(ds.in_use, 0);
    assert_int_equal(ds.free, 9);
    tp_check(p);
    /* the TIME_WAIT port is not handed out towards the same destination */
    for (int i = 0; i < 9; i++) {
        u = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
        assert_int_equal(ep_pool_connect(p, &u, 0, EP_SEC(3)), 0);
        assert_int_not_equal(u.local_port, t.local_port);
    }
    u = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &u, 0, EP_SEC(1) + tw - 1), EP_EADDRNOTAVAIL);
    /* exact expiry: gone at close + time_wait */
    ds = tp_dstats(p, &t, EP_SEC(1) + tw - 1);
    assert_int_equal(ds.time_wait, 1);
    ds = tp_dstats(p, &t, EP_SEC(1) + tw);
    assert_int_equal(ds.time_wait, 0);
    assert_int_equal(ds.free, 1);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, EP_SEC(1) + tw), EP_ENOENT);
    u = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &u, 0, EP_SEC(1) + tw), 0);
    assert_int_equal(u.local_port, t.local_port);
    /* passive TCP close and UDP: no TIME_WAIT, no quarantine: free at once */
    assert_int_equal(ep_pool_close(p, &u, EP_CLOSE_PASSIVE, EP_SEC(62)), 0);
    assert_int_equal(tp_dstats(p, &u, EP_SEC(62)).free, 1);
    assert_int_equal(ep_pool_close(p, &u, EP_CLOSE_PASSIVE, EP_SEC(62)), EP_ENOENT);
    v = tp_tuple(EP_PROTO_UDP, NULL, R1, 53);
    assert_int_equal(ep_pool_connect(p, &v, 0, EP_SEC(62)), 0);
    assert_int_equal(ep_pool_close(p, &v, EP_CLOSE_ACTIVE, EP_SEC(62)), 0);
    ep_pool_stats st = tp_stats(p, EP_SEC(62));
    assert_int_equal(st.time_wait, 0);
    assert_int_equal(st.quarantine, 0);
    assert_int_equal(st.releases, 3);
    /* malformed closes */
    bad = t;
    assert_int_equal(ep_pool_close(NULL, &t, EP_CLOSE_ACTIVE, 0), EP_EINVAL);
    assert_int_equal(ep_pool_close(p, NULL, EP_CLOSE_ACTIVE, 0), EP_EINVAL);
    assert_int_equal(ep_pool_close(p, &t, (ep_close_how)7, 0), EP_EINVAL);
    bad.local = tp_addr("0.0.0.0");
    assert_int_equal(ep_pool_close(p, &bad, EP_CLOSE_ACTIVE, 0), EP_EINVAL);
    memset(&bad.local, 0, sizeof bad.local);
    assert_int_equal(ep_pool_close(p, &bad, EP_CLOSE_ACTIVE, 0), EP_EINVAL);
    bad = t;
    bad.local_port = 0;
    assert_int_equal(ep_pool_close(p, &bad, EP_CLOSE_ACTIVE, 0), EP_EINVAL);
    bad = t;
    bad.local = tp_addr("192.0.2.77");
    assert_int_equal(ep_pool_close(p, &bad, EP_CLOSE_ACTIVE, 0), EP_ENOENT);
    bad = t;
    bad.proto = EP_PROTO_UDP;
    assert_int_equal(ep_pool_close(p, &bad, EP_CLOSE_ACTIVE, 0), EP_ENOENT);
    bad = t;
    bad.local_port = 5; /* outside the range: simply not held */
    assert_int_equal(ep_pool_close(p, &bad, EP_CLOSE_ACTIVE, 0), EP_ENOENT);
    tp_check(p);
    ep_pool_free(p);
}

/* ep_pool_connect_ref / ep_pool_close_ref: the same effects as the tuple
 * calls, and every reference that does not name a held tuple refused. */
static void close_by_reference(void **state)
{
    ep_pool *p = tp_pool(2000, 2003, EP_ALG_RANDOM, L1);
    ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80), u, w;
    ep_conn_ref r, r2, r3;
    (void)state;

    assert_int_equal(ep_pool_connect_ref(p, &t, 0, 0, &r), 0);
    assert_true(r != 0);
    assert_int_equal(t.local_port >= 2000 && t.local_port <= 2003, 1);
    assert_int_equal(tp_dstats(p, &t, 0).in_use, 1);
    /* active TCP close through the reference: TIME_WAIT, as ep_pool_close */
    assert_int_equal(ep_pool_close_ref(p, r, EP_CLOSE_ACTIVE, EP_SEC(1)), 0);
    assert_int_equal(tp_dstats(p, &t, EP_SEC(1)).time_wait, 1);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, EP_SEC(1)), EP_EALREADY);
    /* closed (in TIME_WAIT, then gone): the reference is refused */
    assert_int_equal(ep_pool_close_ref(p, r, EP_CLOSE_ACTIVE, EP_SEC(2)), EP_ENOENT);
    assert_int_equal(ep_pool_close_ref(p, r, EP_CLOSE_PASSIVE, EP_SEC(200)), EP_ENOENT);
    /* a slot reused by a new connection: the old reference stays refused,
     * the new one works, and a tuple closed with ep_pool_close invalidates
     * its reference too */
    u = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect_ref(p, &u, 0, EP_SEC(200), &r2), 0);
    assert_true((uint32_t)r2 == (uint32_t)r); /* same slot, new nonce */
    assert_true(r2 != r);
    assert_int_equal(ep_pool_close_ref(p, r, EP_CLOSE_PASSIVE, EP_SEC(200)), EP_ENOENT);
    assert_int_equal(tp_dstats(p, &u, EP_SEC(200)).in_use, 1);
    assert_int_equal(ep_pool_close(p, &u, EP_CLOSE_PASSIVE, EP_SEC(200)), 0);
    assert_int_equal(ep_pool_close_ref(p, r2, EP_CLOSE_PASSIVE, EP_SEC(200)), EP_ENOENT);
    /* UDP, passive: freed at once, counted as a release */
    w = tp_tuple(EP_PROTO_UDP, NULL, R2, 53);
    assert_int_equal(ep_pool_connect_ref(p, &w, 0, EP_SEC(200), &r3), 0);
    assert_int_equal(ep_pool_close_ref(p, r3, EP_CLOSE_ACTIVE, EP_SEC(200)), 0);
    assert_int_equal(tp_dstats(p, &w, EP_SEC(200)).free, 4);
    assert_int_equal(tp_stats(p, EP_SEC(200)).releases, 3);
    /* references never issued, and bad arguments */
    assert_int_equal(ep_pool_close_ref(p, 0, EP_CLOSE_ACTIVE, EP_SEC(200)), EP_ENOENT);
    assert_int_equal(ep_pool_close_ref(p, UINT64_MAX, EP_CLOSE_ACTIVE, EP_SEC(200)), EP_ENOENT);
    assert_int_equal(ep_pool_close_ref(p, (uint64_t)1 << 32 | 7777, EP_CLOSE_ACTIVE, EP_SEC(200)),
                     EP_ENOENT);
    u = tp_tuple(EP_PROTO_TCP, NULL, R2, 80);
    assert_int_equal(ep_pool_connect_ref(p, &u, 0, EP_SEC(200), &r), 0);
    assert_int_equal(ep_pool_close_ref(p, r ^ ((uint64_t)1 << 40), EP_CLOSE_ACTIVE, EP_SEC(200)),
                     EP_ENOENT);
    assert_int_equal(ep_pool_close_ref(p, r, (ep_close_how)9, EP_SEC(200)), EP_EINVAL);
    assert_int_equal(ep_pool_close_ref(NULL, r, EP_CLOSE_ACTIVE, EP_SEC(200)), EP_EINVAL);
    assert_int_equal(ep_pool_connect_ref(p, &u, 0, EP_SEC(200), NULL), EP_EINVAL);
    assert_int_equal(ep_pool_connect_ref(NULL, &u, 0, EP_SEC(200), &r2), EP_EINVAL);
    assert_int_equal(tp_dstats(p, &u, EP_SEC(200)).in_use, 1); /* untouched */
    assert_int_equal(ep_pool_close_ref(p, r, EP_CLOSE_PASSIVE, EP_SEC(200)), 0);
    /* errors of the connect are ep_pool_connect's, and counted alike */
    for (int i = 0; i < 4; i++) {
        u = tp_tuple(EP_PROTO_TCP, NULL, R2, 443);
        assert_int_equal(ep_pool_connect_ref(p, &u, 0, EP_SEC(201), &r), 0);
    }
    u = tp_tuple(EP_PROTO_TCP, NULL, R2, 443);
    r2 = 12345;
    assert_int_equal(ep_pool_connect_ref(p, &u, 0, EP_SEC(201), &r2), EP_EADDRNOTAVAIL);
    assert_true(r2 == 12345);
    assert_int_equal(tp_stats(p, EP_SEC(201)).failures[EP_FAIL_EXHAUSTED], 1);
    tp_check(p);
    ep_pool_free(p);
}

static void quarantine_rules(void **state)
{
    ep_pool_config c = tp_cfg(1000, 1000, EP_ALG_RANDOM);
    const char *addrs[] = { L1, NULL };
    ep_pool *p;
    ep_tuple t;
    (void)state;
    c.quarantine = EP_SEC(120);
    c.tw_reuse = true;
    c.tw_reuse_delay = 0;
    p = tp_pool_cfg(&c, addrs);
    t = tp_tuple(EP_PROTO_UDP, NULL, R1, 53);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, 0), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, 0), EP_EALREADY);
    ep_dest_stats ds = tp_dstats(p, &t, 0);
    assert_int_equal(ds.quarantine, 1);
    assert_int_equal(ds.free, 0);
    ep_tuple u = tp_tuple(EP_PROTO_UDP, NULL, R1, 53);
    /* never reusable, even with tw_reuse */
    assert_int_equal(ep_pool_connect(p, &u, 0, EP_SEC(120) - 1), EP_EADDRNOTAVAIL);
    assert_int_equal(ep_pool_connect(p, &u, 0, EP_SEC(120)), 0);
    /* TCP passive close goes to quarantine too; TCP active to TIME_WAIT */
    ep_tuple a = tp_tuple(EP_PROTO_TCP, NULL, R1, 80), b = tp_tuple(EP_PROTO_TCP, NULL, R2, 80);
    assert_int_equal(ep_pool_connect(p, &a, 0, EP_SEC(120)), 0);
    assert_int_equal(ep_pool_connect(p, &b, 0, EP_SEC(120)), 0);
    assert_int_equal(ep_pool_close(p, &a, EP_CLOSE_PASSIVE, EP_SEC(121)), 0);
    assert_int_equal(ep_pool_close(p, &b, EP_CLOSE_ACTIVE, EP_SEC(121)), 0);
    ep_pool_stats st = tp_stats(p, EP_SEC(121));
    assert_int_equal(st.quarantine, 1);
    assert_int_equal(st.time_wait, 1);
    assert_int_equal(st.in_use, 1);
    tp_check(p);
    st = tp_stats(p, EP_SEC(121) + EP_SEC(60));
    assert_int_equal(st.time_wait, 0);
    assert_int_equal(st.quarantine, 1);
    st = tp_stats(p, EP_SEC(241));
    assert_int_equal(st.quarantine, 0);
    assert_int_equal(st.destinations, 1);
    tp_check(p);
    ep_pool_free(p);
}

static ep_pool *tw_pool(bool reuse, ep_time delay, ep_time tw)
{
    ep_pool_config c = tp_cfg(1000, 1000, EP_ALG_RANDOM);
    const char *addrs[] = { L1, NULL };
    c.tw_reuse = reuse;
    c.tw_reuse_delay = delay;
    c.time_wait = tw;
    return tp_pool_cfg(&c, addrs);
}

static void tw_reuse_rules(void **state)
{
    ep_pool *p = tw_pool(true, EP_SEC(1), EP_SEC(60));
    ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80), u;
    ep_time t0 = EP_SEC(10);
    (void)state;
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, t0), 0);
    ep_dest_stats ds = tp_dstats(p, &t, t0 + EP_SEC(1));
    assert_int_equal(ds.time_wait, 1);
    assert_int_equal(ds.free, 0); /* age == delay: not yet "older than" */
    u = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &u, 0, t0 + EP_SEC(1)), EP_EADDRNOTAVAIL);
    ds = tp_dstats(p, &t, t0 + EP_SEC(1) + 1);
    assert_int_equal(ds.time_wait, 1); /* still reported under time_wait */
    assert_int_equal(ds.free, 1);      /* but counted as available */
    tp_check(p);
    /* another destination is unaffected by that TIME_WAIT entry */
    ep_tuple o = tp_tuple(EP_PROTO_TCP, NULL, R2, 80);
    assert_int_equal(ep_pool_connect(p, &o, 0, t0), 0);
    assert_int_equal(ep_pool_connect(p, &u, 0, t0 + EP_SEC(1) + 1), 0);
    assert_int_equal(u.local_port, 1000);
    ds = tp_dstats(p, &t, t0 + EP_SEC(1) + 1);
    assert_int_equal(ds.time_wait, 0);
    assert_int_equal(ds.in_use, 1);
    assert_int_equal(tp_stats(p, t0 + EP_SEC(1) + 1).time_wait, 0);
    tp_check(p);
    /* the reused tuple lives a normal life */
    assert_int_equal(ep_pool_close(p, &u, EP_CLOSE_ACTIVE, EP_SEC(20)), 0);
    assert_int_equal(tp_stats(p, EP_SEC(80) - 1).time_wait, 1);
    assert_int_equal(tp_stats(p, EP_SEC(80)).time_wait, 0);
    tp_check(p);
    ep_pool_free(p);

    /* tw_reuse off: blocked for the whole TIME_WAIT */
    p = tw_pool(false, EP_SEC(1), EP_SEC(60));
    t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, 0), 0);
    u = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &u, 0, EP_SEC(60) - 1), EP_EADDRNOTAVAIL);
    assert_int_equal(ep_pool_connect(p, &u, 0, EP_SEC(60)), 0);
    tp_check(p);
    ep_pool_free(p);

    /* a delay at least as long as TIME_WAIT: never reusable */
    p = tw_pool(true, EP_SEC(60), EP_SEC(60));
    t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, 0), 0);
    u = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &u, 0, EP_SEC(60) - 1), EP_EADDRNOTAVAIL);
    assert_int_equal(ep_pool_connect(p, &u, 0, EP_SEC(60)), 0);
    tp_check(p);
    ep_pool_free(p);

    /* time_wait 0: no TIME_WAIT at all */
    p = tw_pool(false, EP_SEC(1), 0);
    t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, 0), 0);
    assert_int_equal(tp_stats(p, 0).time_wait, 0);
    assert_int_equal(ep_pool_connect(p, &u, 0, 0), 0);
    ep_pool_free(p);
}

static void time_is_clamped(void **state)
{
    ep_pool *p = tp_pool(1000, 1009, EP_ALG_RANDOM, L1);
    ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    (void)state;
    assert_int_equal(ep_pool_connect(p, &t, 0, EP_SEC(100)), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, EP_SEC(100)), 0);
    /* a clock that went backwards is treated as the largest time seen */
    assert_int_equal(tp_stats(p, 0).time_wait, 1);
    ep_pool_advance(p, EP_SEC(50));
    assert_int_equal(tp_stats(p, EP_SEC(159)).time_wait, 1);
    ep_pool_advance(p, EP_SEC(160));
    assert_int_equal(tp_stats(p, 0).time_wait, 0);
    tp_check(p);
    ep_pool_free(p);
}

static void time_near_the_top(void **state)
{
    ep_pool_config c = tp_cfg(1000, 1009, EP_ALG_RANDOM);
    const char *addrs[] = { L1, NULL };
    ep_pool *p;
    ep_time top = UINT64_MAX;
    (void)state;
    c.tw_reuse = true;
    c.quarantine = EP_SEC(120);
    p = tp_pool_cfg(&c, addrs);
    ep_tuple a = tp_tuple(EP_PROTO_TCP, NULL, R1, 80), b = tp_tuple(EP_PROTO_UDP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &a, 0, top - 10), 0);
    assert_int_equal(ep_pool_connect(p, &b, 0, top - 10), 0);
    assert_int_equal(ep_pool_close(p, &a, EP_CLOSE_ACTIVE, top - 10), 0);
    assert_int_equal(ep_pool_close(p, &b, EP_CLOSE_ACTIVE, top - 10), 0);
    /* expiry saturates at the top of the clock instead of wrapping */
    ep_pool_stats st = tp_stats(p, top - 1);
    assert_int_equal(st.time_wait, 1);
    assert_int_equal(st.quarantine, 1);
    tp_check(p);
    st = tp_stats(p, top);
    assert_int_equal(st.time_wait, 0);
    assert_int_equal(st.quarantine, 0);
    tp_check(p);
    ep_pool_free(p);
}

static void expiry_of_many(void **state)
{
    ep_pool_config c = tp_cfg(10000, 19999, EP_ALG_RANDOM);
    const char *addrs[] = { L1, NULL };
    ep_pool *p;
    (void)state;
    c.quarantine = EP_SEC(30);
    p = tp_pool_cfg(&c, addrs);
    for (int i = 0; i < 3000; i++) {
        ep_tuple t = tp_tuple(i % 2 ? EP_PROTO_TCP : EP_PROTO_UDP, NULL, R1, (uint16_t)(1 + i % 7));
        ep_time now = EP_MSEC(i);
        assert_int_equal(ep_pool_connect(p, &t, 0, now), 0);
        assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, now), 0);
    }
    ep_pool_stats st = tp_stats(p, EP_MSEC(2999));
    assert_int_equal(st.time_wait, 1500);
    assert_int_equal(st.quarantine, 1500);
    tp_check(p);
    /* quarantine entries closed at ms 0, 2, 4 ... expire at 30 s + that */
    st = tp_stats(p, EP_SEC(30) + EP_MSEC(1000));
    assert_int_equal(st.quarantine, 1500 - 501);
    assert_int_equal(st.time_wait, 1500);
    st = tp_stats(p, EP_SEC(60) + EP_MSEC(2999));
    assert_int_equal(st.time_wait, 0);
    assert_int_equal(st.quarantine, 0);
    assert_int_equal(st.destinations, 0);
    tp_check(p);
    ep_pool_free(p);
}

static void local_address_choice(void **state)
{
    ep_pool_config c = tp_cfg(1000, 1009, EP_ALG_RANDOM);
    const char *addrs[] = { L1, L2, "2001:db8::1", NULL };
    ep_pool *p = tp_pool_cfg(&c, addrs);
    ep_addr l1 = tp_addr(L1), l2 = tp_addr(L2), l6 = tp_addr("2001:db8::1");
    int on1 = 0, on2 = 0;
    (void)state;
    /* capacity grows with source addresses */
    for (int i = 0; i < 20; i++) {
        ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        on1 += ep_addr_equal(&t.local, &l1);
        on2 += ep_addr_equal(&t.local, &l2);
    }
    assert_int_equal(on1, 10);
    assert_int_equal(on2, 10);
    ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EADDRNOTAVAIL);
    assert_int_equal(tp_dstats(p, &(ep_tuple){ .proto = EP_PROTO_TCP, .local = l1, .remote = tp_addr(R1), .remote_port = 80 }, 0).failures, 1);
    /* only the address with room is chosen */
    t = tp_tuple(EP_PROTO_TCP, L2, R1, 80);
    t.local_port = 0;
    for (uint16_t port = 1000; port <= 1009; port++) {
        ep_tuple x = tp_tuple(EP_PROTO_TCP, L2, R1, 80);
        x.local_port = port;
        if (ep_pool_close(p, &x, EP_CLOSE_PASSIVE, 0) == 0)
            break;
    }
    t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_true(ep_addr_equal(&t.local, &l2));
    /* IPv6 remotes use IPv6 addresses */
    t = tp_tuple(EP_PROTO_TCP, NULL, "2001:db8::99", 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_true(ep_addr_equal(&t.local, &l6));
    t = tp_tuple(EP_PROTO_TCP, "::", "2001:db8::99", 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_true(ep_addr_equal(&t.local, &l6));
    tp_check(p);
    ep_pool_free(p);
}

static void quotas(void **state)
{
    ep_pool_config c = tp_cfg(1000, 1999, EP_ALG_RANDOM);
    const char *addrs[] = { L1, NULL };
    ep_pool *p;
    ep_tuple t[4];
    (void)state;
    c.owner_quota = 2;
    p = tp_pool_cfg(&c, addrs);
    for (int i = 0; i < 2; i++) {
        t[i] = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
        assert_int_equal(ep_pool_connect(p, &t[i], 7, 0), 0);
    }
    t[2] = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t[2], 7, 0), EP_EDQUOT);
    assert_int_equal(tp_stats(p, 0).failures[EP_FAIL_QUOTA], 1);
    /* other owners and owner 0 are not affected */
    assert_int_equal(ep_pool_connect(p, &t[2], 8, 0), 0);
    for (int i = 0; i < 5; i++) {
        ep_tuple x = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
        assert_int_equal(ep_pool_connect(p, &x, 0, 0), 0);
    }
    /* TIME_WAIT is not charged: the owner's socket is gone */
    assert_int_equal(ep_pool_close(p, &t[0], EP_CLOSE_ACTIVE, 0), 0);
    t[3] = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t[3], 7, 0), 0);
    assert_int_equal(ep_pool_connect(p, &t[0], 7, 0), EP_EDQUOT);
    /* overrides: 0 = unlimited, or a smaller cap */
    assert_int_equal(ep_pool_set_owner_quota(p, 7, 0), 0);
    for (int i = 0; i < 10; i++) {
        ep_tuple x = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
        assert_int_equal(ep_pool_connect(p, &x, 7, 0), 0);
    }
    assert_int_equal(ep_pool_set_owner_quota(p, 8, 1), 0);
    ep_tuple y = tp_tuple(EP_PROTO_TCP, NULL, R2, 80);
    assert_int_equal(ep_pool_connect(p, &y, 8, 0), EP_EDQUOT);
    assert_int_equal(ep_pool_close(p, &t[2], EP_CLOSE_PASSIVE, 0), 0);
    assert_int_equal(ep_pool_connect(p, &y, 8, 0), 0);
    /* bindings that hold a port are charged; deferred ones are not */
    assert_int_equal(ep_pool_set_owner_quota(p, 9, 1), 0);
    ep_bind_req br = { .proto = EP_PROTO_TCP, .addr = tp_addr(L1), .port = 0,
                       .flags = EP_BIND_NO_PORT, .owner = 9 };
    ep_bind_id id1, id2;
    assert_int_equal(ep_pool_bind(p, &br, 0, &id1, NULL), 0);
    br.flags = 0;
    assert_int_equal(ep_pool_bind(p, &br, 0, &id2, NULL), 0);
    assert_int_equal(ep_pool_bind(p, &br, 0, &id2, NULL), EP_EDQUOT);
    ep_tuple z = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &z, 9, 0), EP_EDQUOT);
    /* the deferred binding's connect is charged at connect time */
    assert_int_equal(ep_pool_connect_bound(p, id1, &z, 0), EP_EDQUOT);
    assert_int_equal(ep_pool_unbind(p, id2, 0), 0);
    assert_int_equal(ep_pool_connect_bound(p, id1, &z, 0), 0);
    assert_int_equal(tp_stats(p, 0).failures[EP_FAIL_QUOTA], 6);
    tp_check(p);
    ep_pool_free(p);
}

static void stats_and_top(void **state)
{
    ep_pool *p = tp_pool(1000, 1099, EP_ALG_RANDOM, L1);
    ep_dest_stats rows[8];
    size_t total = 99;
    ep_tuple t;
    (void)state;
    assert_int_equal(ep_pool_top_destinations(p, 0, rows, 8, &total), 0);
    assert_int_equal(total, 0);
    /* destination k has k * 10 tuples in use (k = 1..4) */
    for (int k = 1; k <= 4; k++) {
        for (int i = 0; i < k * 10; i++) {
            t = tp_tuple(EP_PROTO_TCP, NULL, R1, (uint16_t)k);
            assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        }
    }
    /* same pressure as k = 2 (20 used) but with TIME_WAIT instead of in use */
    for (int i = 0; i < 20; i++) {
        t = tp_tuple(EP_PROTO_TCP, NULL, R2, 9);
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        if (i < 5)
            assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, 0), 0);
    }
    assert_int_equal(ep_pool_top_destinations(p, 0, rows, 8, &total), 5);
    assert_int_equal(total, 5);
    assert_int_equal(rows[0].remote_port, 4);
    assert_int_equal(rows[0].in_use, 40);
    assert_true(rows[0].pressure > 0.399 && rows[0].pressure < 0.401);
    assert_int_equal(rows[1].remote_port, 3);
    assert_int_equal(rows[2].remote_port, 2); /* ties: more in use first */
    assert_int_equal(rows[2].in_use, 20);
    assert_int_equal(rows[3].remote_port, 9);
    assert_int_equal(rows[3].in_use, 15);
    assert_int_equal(rows[3].time_wait, 5);
    assert_int_equal(rows[3].high_water, 20);
    assert_int_equal(rows[3].free, 80);
    assert_int_equal(rows[4].remote_port, 1);
    assert_int_equal(ep_pool_top_destinations(p, 0, rows, 2, &total), 2);
    assert_int_equal(total, 5);
    assert_int_equal(ep_pool_top_destinations(p, 0, NULL, 0, &total), 0);
    assert_int_equal(total, 5);
    assert_int_equal(ep_pool_top_destinations(p, 0, rows, 8, NULL), 5);
    assert_int_equal(ep_pool_top_destinations(p, 0, NULL, 3, NULL), EP_EINVAL);
    assert_int_equal(ep_pool_top_destinations(NULL, 0, rows, 3, NULL), EP_EINVAL);
    ep_pool_stats st = tp_stats(p, 0);
    assert_int_equal(st.in_use, 115);
    assert_int_equal(st.time_wait, 5);
    assert_int_equal(st.destinations, 5);
    assert_int_equal(st.allocations, 120);
    assert_int_equal(st.releases, 5);
    /* dest stats of an unused destination, and errors */
    t = tp_tuple(EP_PROTO_UDP, L1, R1, 1);
    ep_dest_stats ds = tp_dstats(p, &t, 0);
    assert_int_equal(ds.in_use, 0);
    assert_int_equal(ds.free, 100);
    assert_true(ds.pressure == 0.0);
    assert_int_equal(ds.proto, EP_PROTO_UDP);
    assert_int_equal(ep_pool_dest_stats(NULL, &t, 0, &ds), EP_EINVAL);
    assert_int_equal(ep_pool_dest_stats(p, NULL, 0, &ds), EP_EINVAL);
    assert_int_equal(ep_pool_dest_stats(p, &t, 0, NULL), EP_EINVAL);
    t = tp_tuple(EP_PROTO_UDP, NULL, R1, 1);
    assert_int_equal(ep_pool_dest_stats(p, &t, 0, &ds), EP_EINVAL);
    t = tp_tuple(EP_PROTO_UDP, "0.0.0.0", R1, 1);
    assert_int_equal(ep_pool_dest_stats(p, &t, 0, &ds), EP_EINVAL);
    t = tp_tuple(EP_PROTO_UDP, "192.0.2.50", R1, 1);
    assert_int_equal(ep_pool_dest_stats(p, &t, 0, &ds), EP_ENOENT);
    t = tp_tuple(EP_PROTO_UDP, L1, R1, 0);
    assert_int_equal(ep_pool_dest_stats(p, &t, 0, &ds), EP_EINVAL);
    tp_check(p);
    ep_pool_free(p);
}

/* Fill one destination completely with each algorithm; every port must be
 * effective and distinct; refill after random closes. */
static void algorithms_fill_exactly(void **state)
{
    (void)state;
    for (int alg = 0; alg < EP_ALG__COUNT; alg++) {
        for (int odd = 0; odd < 2; odd++) {
            ep_pool_config c = tp_cfg(1000, (uint16_t)(1063 + odd), (ep_algorithm)alg);
            const char *addrs[] = { L1, NULL };
            ep_pool *p;
            uint8_t held[65] = { 0 };
            uint32_t n = 0, want = 54 + (uint32_t)odd;
            c.reserved = "1010-1019,5000";
            p = tp_pool_cfg(&c, addrs);
            for (;;) {
                ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
                int rc = ep_pool_connect(p, &t, 0, 0);
                if (rc == EP_EADDRNOTAVAIL)
                    break;
                assert_int_equal(rc, 0);
                assert_in_range(t.local_port, 1000, 1063 + odd);
                assert_false(t.local_port >= 1010 && t.local_port <= 1019);
                assert_false(held[t.local_port - 1000]);
                held[t.local_port - 1000] = 1;
                n++;
            }
            if (n != want)
                fail_msg("%s: filled %u of %u", ep_algorithm_name((ep_algorithm)alg), n, want);
            tp_check(p);
            for (uint16_t port = 1000; port <= 1063 + odd; port += 3) {
                ep_tuple t = tp_tuple(EP_PROTO_TCP, L1, R1, 80);
                t.local_port = port;
                if (held[port - 1000]) {
                    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, 0), 0);
                    held[port - 1000] = 0;
                    n--;
                }
            }
            tp_check(p);
            for (;;) {
                ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
                if (ep_pool_connect(p, &t, 0, 0) != 0)
                    break;
                assert_false(held[t.local_port - 1000]);
                held[t.local_port - 1000] = 1;
                n++;
            }
            assert_int_equal(n, want);
            tp_check(p);
            ep_pool_free(p);
        }
    }
}

static void algorithms_are_deterministic(void **state)
{
    (void)state;
    for (int alg = 0; alg < EP_ALG__COUNT; alg++) {
        ep_pool_config c = tp_cfg(32768, 60999, (ep_algorithm)alg);
        const char *addrs[] = { L1, L2, NULL };
        ep_pool *p1 = tp_pool_cfg(&c, addrs), *p2 = tp_pool_cfg(&c, addrs), *p3;
        int differ = 0;
        c.seed = 43;
        p3 = tp_pool_cfg(&c, addrs);
        for (int i = 0; i < 200; i++) {
            ep_tuple a = tp_tuple(EP_PROTO_TCP, NULL, i % 2 ? R1 : R2, 80), b = a, d = a;
            assert_int_equal(ep_pool_connect(p1, &a, 0, 0), 0);
            assert_int_equal(ep_pool_connect(p2, &b, 0, 0), 0);
            assert_int_equal(ep_pool_connect(p3, &d, 0, 0), 0);
            assert_int_equal(a.local_port, b.local_port);
            assert_true(ep_addr_equal(&a.local, &b.local));
            differ += a.local_port != d.local_port;
        }
        if (alg != EP_ALG_SEQUENTIAL)
            assert_true(differ > 0);
        ep_pool_free(p1);
        ep_pool_free(p2);
        ep_pool_free(p3);
    }
}

static void sequential_order(void **state)
{
    ep_pool_config c = tp_cfg(1000, 1009, EP_ALG_SEQUENTIAL);
    const char *addrs[] = { L1, NULL };
    ep_pool *p;
    static const uint16_t want[] = { 1000, 1001, 1003, 1004, 1005, 1006, 1007, 1008, 1009 };
    (void)state;
    c.reserved = "1002";
    p = tp_pool_cfg(&c, addrs);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        assert_int_equal(t.local_port, want[i]);
    }
    /* next after the last one handed out wraps to the lowest free */
    ep_tuple t = tp_tuple(EP_PROTO_TCP, L1, R1, 80);
    t.local_port = 1004;
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, 0), 0);
    t = tp_tuple(EP_PROTO_TCP, NULL, R2, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(t.local_port, 1000); /* another destination: 1000 is free there */
    t = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(t.local_port, 1004);
    ep_pool_free(p);
}

/* A destination crossing the density thresholds both ways, with bindings
 * changing under it, stays exact (ep_pool_check compares every bit). */
static void dense_transitions(void **state)
{
    ep_pool_config c = tp_cfg(1000, 5999, EP_ALG_RANDOM);
    const char *addrs[] = { L1, NULL };
    ep_pool *p;
    static ep_tuple held[5000];
    uint32_t n = 0;
    (void)state;
    c.quarantine = EP_SEC(1);
    p = tp_pool_cfg(&c, addrs);
    for (int round = 0; round < 2; round++) {
        while (n < 5000) {
            held[n] = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
            int rc = ep_pool_connect(p, &held[n], 0, EP_SEC(round * 10));
            if (rc != 0)
                break;
            n++;
            if (n % 997 == 0)
                tp_check(p);
        }
        tp_check(p);
        assert_int_equal(tp_dstats(p, &held[0], EP_SEC(round * 10)).free, 0);
        /* a REUSEADDR binding over a used port, and one on a free port */
        ep_bind_req br = { .proto = EP_PROTO_TCP, .addr = tp_addr(L1), .port = held[0].local_port,
                           .flags = EP_BIND_REUSEADDR };
        ep_bind_id id1, id2;
        assert_int_equal(ep_pool_bind(p, &br, EP_SEC(round * 10), &id1, NULL), 0);
        tp_check(p);
        while (n > 10) {
            n--;
            assert_int_equal(ep_pool_close(p, &held[n], EP_CLOSE_PASSIVE, EP_SEC(round * 10)), 0);
            if (n % 500 == 0)
                tp_check(p);
        }
        br.port = held[n].local_port; /* freed above: in quarantine */
        br.flags = EP_BIND_REUSEADDR;
        assert_int_equal(ep_pool_bind(p, &br, EP_SEC(round * 10), &id2, NULL), 0);
        tp_check(p);
        ep_dest_stats ds = tp_dstats(p, &held[0], EP_SEC(round * 10) + EP_SEC(2));
        assert_int_equal(ds.in_use, 10);
        assert_int_equal(ds.quarantine, 0);
        assert_int_equal(ds.blocked, 2);
        assert_int_equal(ds.free, 5000 - 10 - 1);
        tp_check(p);
        assert_int_equal(ep_pool_unbind(p, id1, EP_SEC(round * 10) + EP_SEC(2)), 0);
        assert_int_equal(ep_pool_unbind(p, id2, EP_SEC(round * 10) + EP_SEC(2)), 0);
        tp_check(p);
    }
    ep_pool_free(p);
}

/* Enough destinations and owners to grow their tables, then empty them so
 * that idle destination records are evicted and their slots reused. */
static void many_destinations_and_owners(void **state)
{
    ep_pool *p = tp_pool(1000, 1999, EP_ALG_RANDOM, L1);
    static ep_tuple held[3000];
    char buf[32];
    int n = 0;
    (void)state;
    assert_int_equal(ep_pool_config_init(&(ep_pool_config){ 0 }, NULL), 0);
    for (int d = 0; d < 1000; d++) {
        snprintf(buf, sizeof buf, "10.%d.%d.1", d / 250, d % 250);
        for (int i = 0; i < 3; i++) {
            held[n] = tp_tuple(EP_PROTO_TCP, NULL, buf, 80);
            assert_int_equal(ep_pool_connect(p, &held[n], (uint32_t)(1 + n % 300), 0), 0);
            n++;
        }
    }
    ep_pool_stats st = tp_stats(p, 0);
    assert_int_equal(st.destinations, 1000);
    assert_int_equal(st.in_use, 3000);
    tp_check(p);
    /* ties everywhere: 3 in use each; the order is then by address */
    ep_dest_stats rows[1000];
    size_t total;
    assert_int_equal(ep_pool_top_destinations(p, 0, rows, 1000, &total), 1000);
    for (int i = 1; i < 1000; i++)
        assert_true(memcmp(&rows[i - 1].remote, &rows[i].remote, sizeof rows[i].remote) < 0);
    /* owners at their quota across a grown owner table */
    assert_int_equal(ep_pool_set_owner_quota(p, 5, 10), 0);
    ep_tuple x = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect(p, &x, 5, 0), EP_EDQUOT);
    /* empty every destination: records go idle, the oldest are freed */
    for (int i = 0; i < n; i++)
        assert_int_equal(ep_pool_close(p, &held[i], EP_CLOSE_PASSIVE, 0), 0);
    st = tp_stats(p, 0);
    assert_int_equal(st.destinations, 0);
    assert_int_equal(st.in_use, 0);
    tp_check(p);
    assert_int_equal(ep_pool_top_destinations(p, 0, rows, 1000, &total), 0);
    /* an idle destination reports zeros; reused and evicted slots work */
    ep_dest_stats ds = tp_dstats(p, &(ep_tuple){ .proto = EP_PROTO_TCP, .local = tp_addr(L1),
                                                 .remote = tp_addr("10.3.249.1"), .remote_port = 80 }, 0);
    assert_int_equal(ds.in_use + ds.high_water + ds.failures, 0);
    assert_int_equal(ds.free, 1000);
    for (int d = 0; d < 500; d++) {
        snprintf(buf, sizeof buf, "10.%d.%d.1", d / 250, (d * 7) % 250);
        ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, buf, 80);
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        assert_int_equal(tp_dstats(p, &t, 0).high_water, 1);
    }
    tp_check(p);
    ep_pool_free(p);
}

/* With most ports bound on the address, rejection sampling misses and a
 * destination without a record is served by the exact scan. */
static void exact_scan_without_bitmap(void **state)
{
    ep_pool *p = tp_pool(1000, 1099, EP_ALG_RANDOM, L1);
    ep_bind_req r = { .proto = EP_PROTO_TCP, .addr = tp_addr(L1) };
    ep_bind_id id;
    char buf[32];
    (void)state;
    for (uint16_t port = 1000; port <= 1097; port++) {
        r.port = port;
        assert_int_equal(ep_pool_bind(p, &r, 0, &id, NULL), 0);
    }
    for (int d = 0; d < 40; d++) {
        snprintf(buf, sizeof buf, "10.0.0.%d", d + 1);
        ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, buf, 80), u;
        assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
        assert_true(t.local_port == 1098 || t.local_port == 1099);
        u = tp_tuple(EP_PROTO_TCP, NULL, buf, 80);
        assert_int_equal(ep_pool_connect(p, &u, 0, 0), 0);
        assert_int_equal(u.local_port, t.local_port == 1098 ? 1099 : 1098);
        assert_int_equal(ep_pool_connect(p, &u, 0, 0), EP_EADDRNOTAVAIL);
        ep_dest_stats ds = tp_dstats(p, &t, 0);
        assert_int_equal(ds.blocked, 98);
        assert_int_equal(ds.free, 0);
    }
    tp_check(p);
    ep_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_fills_and_shares),
        cmocka_unit_test(connect_rejects_bad_input),
        cmocka_unit_test(close_paths),
        cmocka_unit_test(close_by_reference),
        cmocka_unit_test(quarantine_rules),
        cmocka_unit_test(tw_reuse_rules),
        cmocka_unit_test(time_is_clamped),
        cmocka_unit_test(time_near_the_top),
        cmocka_unit_test(expiry_of_many),
        cmocka_unit_test(local_address_choice),
        cmocka_unit_test(quotas),
        cmocka_unit_test(stats_and_top),
        cmocka_unit_test(algorithms_fill_exactly),
        cmocka_unit_test(algorithms_are_deterministic),
        cmocka_unit_test(sequential_order),
        cmocka_unit_test(dense_transitions),
        cmocka_unit_test(many_destinations_and_owners),
        cmocka_unit_test(exact_scan_without_bitmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
