/* test-pool-ops.c - the engine against itself: seeded random sequences of
 * every operation (connect, close, bind, listen, unbind, connect_bound,
 * advance, set_reserved, add_address) on small ranges, for every algorithm
 * and with TIME_WAIT, tw_reuse and quarantine, running ep_pool_check()
 * after the steps (each of the first 40, then every 20th) so that any drift between primary records and derived
 * counters, queues or bitmaps is caught where it happens.  Also checks that
 * automatically chosen ports are in range, not reserved, and never give two
 * live connections the same 4-tuple.  (The comparison against an
 * independent reference model is tests/test-differential.c.) */
#include <stdio.h>
#include <stdlib.h>

#include "test-pool-util.h"

#include "chacha.h"

#define MAXT 512
#define MAXB 64

typedef struct ops_state {
    ep_pool *p;
    ep_rng r;
    ep_time now;
    ep_tuple held[MAXT];
    int nheld;
    ep_bind_id binds[MAXB];
    int nbinds;
    ep_portset reserved;
    uint16_t lo, hi;
} ops_state;

static const char *const locals[] = { "10.0.0.1", "10.0.0.2", "fd00::1" };
static const char *const remotes[] = { "192.0.2.1", "192.0.2.2", "2001:db8::1" };

static uint32_t rnd(ops_state *s, uint32_t n)
{
    return ep_rng_below(&s->r, n);
}

static void remember(ops_state *s, const ep_tuple *t)
{
    for (int i = 0; i < s->nheld; i++) {
        const ep_tuple *h = &s->held[i];
        if (h->proto == t->proto && h->local_port == t->local_port &&
            h->remote_port == t->remote_port && ep_addr_equal(&h->local, &t->local) &&
            ep_addr_equal(&h->remote, &t->remote))
            fail_msg("4-tuple handed out twice (port %u)", t->local_port);
    }
    if (s->nheld < MAXT)
        s->held[s->nheld++] = *t;
}

static ep_tuple random_dest(ops_state *s)
{
    int six = rnd(s, 4) == 0;
    ep_tuple t = tp_tuple(rnd(s, 2) ? EP_PROTO_TCP : EP_PROTO_UDP, NULL,
                          six ? remotes[2] : remotes[rnd(s, 2)], (uint16_t)(80 + rnd(s, 3)));
    uint32_t how = rnd(s, 3);
    if (how == 1)
        t.local = tp_addr(six ? locals[2] : locals[rnd(s, 2)]);
    else if (how == 2)
        t.local = tp_addr(six ? "::" : "0.0.0.0");
    return t;
}

static void step(ops_state *s, bool check)
{
    uint32_t op = rnd(s, 100);
    int rc;

    s->now += rnd(s, 4) == 0 ? EP_MSEC(rnd(s, 3000)) : 0;
    if (op < 40) {
        ep_tuple t = random_dest(s);
        rc = ep_pool_connect(s->p, &t, rnd(s, 3), s->now);
        if (rc == 0) {
            assert_in_range(t.local_port, s->lo, s->hi);
            assert_false(ep_portset_has(&s->reserved, t.local_port));
            remember(s, &t);
        } else if (rc != EP_EADDRNOTAVAIL && rc != EP_EDQUOT && rc != EP_EAFNOSUPPORT) {
            fail_msg("connect: %d", rc);
        }
    } else if (op < 65 && s->nheld) {
        int i = (int)rnd(s, (uint32_t)s->nheld);
        rc = ep_pool_close(s->p, &s->held[i], rnd(s, 2) ? EP_CLOSE_ACTIVE : EP_CLOSE_PASSIVE, s->now);
        assert_int_equal(rc, 0);
        if (rnd(s, 4) == 0) /* double close */
            assert_true(ep_pool_close(s->p, &s->held[i], EP_CLOSE_ACTIVE, s->now) == EP_EALREADY ||
                        ep_pool_close(s->p, &s->held[i], EP_CLOSE_ACTIVE, s->now) == EP_ENOENT);
        s->held[i] = s->held[--s->nheld];
    } else if (op < 75) {
        ep_bind_req r = { .proto = rnd(s, 2) ? EP_PROTO_TCP : EP_PROTO_UDP,
                          .addr = tp_addr(rnd(s, 3) ? locals[rnd(s, 3)] : "0.0.0.0"),
                          .port = rnd(s, 2) ? 0 : (uint16_t)(s->lo + rnd(s, (uint32_t)(s->hi - s->lo + 3))),
                          .flags = rnd(s, 8), .owner = rnd(s, 3) };
        ep_bind_id id;
        uint16_t port;
        r.flags &= EP_BIND_REUSEADDR | EP_BIND_REUSEPORT | EP_BIND_NO_PORT;
        rc = ep_pool_bind(s->p, &r, s->now, &id, &port);
        if (rc == 0) {
            if (r.port == 0 && !(r.flags & EP_BIND_NO_PORT)) {
                assert_in_range(port, s->lo, s->hi);
                assert_false(ep_portset_has(&s->reserved, port));
            }
            if (s->nbinds < MAXB)
                s->binds[s->nbinds++] = id;
            else
                assert_int_equal(ep_pool_unbind(s->p, id, s->now), 0);
        } else if (rc != EP_EADDRINUSE && rc != EP_EADDRNOTAVAIL && rc != EP_EDQUOT) {
            fail_msg("bind: %d", rc);
        }
    } else if (op < 80 && s->nbinds) {
        int i = (int)rnd(s, (uint32_t)s->nbinds);
        rc = ep_pool_listen(s->p, s->binds[i]);
        assert_true(rc == 0 || rc == EP_EADDRINUSE || rc == EP_ENOTSUP || rc == EP_EINVAL);
    } else if (op < 86 && s->nbinds) {
        int i = (int)rnd(s, (uint32_t)s->nbinds);
        assert_int_equal(ep_pool_unbind(s->p, s->binds[i], s->now), 0);
        s->binds[i] = s->binds[--s->nbinds];
    } else if (op < 94 && s->nbinds) {
        int i = (int)rnd(s, (uint32_t)s->nbinds);
        ep_tuple t = tp_tuple(0, NULL, remotes[rnd(s, 3)], (uint16_t)(80 + rnd(s, 3)));
        rc = ep_pool_connect_bound(s->p, s->binds[i], &t, s->now);
        if (rc == 0) {
            remember(s, &t);
            s->binds[i] = s->binds[--s->nbinds];
        } else if (rc != EP_EADDRNOTAVAIL && rc != EP_EDQUOT && rc != EP_EINVAL) {
            fail_msg("connect_bound: %d", rc);
        }
    } else if (op < 97) {
        s->now += EP_SEC(rnd(s, 90));
        ep_pool_advance(s->p, s->now);
    } else if (op < 99) {
        char text[32];
        uint32_t a = s->lo + rnd(s, (uint32_t)(s->hi - s->lo + 1));
        snprintf(text, sizeof text, "%u-%u", a, a + rnd(s, 4));
        if (rnd(s, 3) == 0)
            text[0] = '\0';
        rc = ep_pool_set_reserved(s->p, text, NULL);
        if (rc == 0)
            assert_int_equal(ep_portset_parse(text, &s->reserved, NULL), 0);
        else
            assert_int_equal(rc, EP_EINVAL);
    } else {
        ep_addr a = tp_addr("10.0.0.3");
        rc = ep_pool_add_address(s->p, &a);
        assert_true(rc == 0 || rc == EP_EEXIST);
    }
    if (check)
        tp_check(s->p);
}

static void run_ops(ep_algorithm alg, int variant, uint64_t seed, int steps)
{
    static ops_state s;
    ep_pool_config c = tp_cfg(5000, (uint16_t)(5000 + (variant == 2 ? 4 : 23)), alg);
    const char *addrs[] = { locals[0], locals[1], locals[2], NULL };

    memset(&s, 0, sizeof s);
    c.seed = seed;
    c.time_wait = EP_SEC(60);
    c.tw_reuse = variant >= 1;
    c.tw_reuse_delay = EP_SEC(1);
    c.quarantine = variant == 1 ? EP_SEC(30) : 0;
    c.owner_quota = variant == 2 ? 6 : 0;
    c.thread_safe = variant != 1;
    s.lo = c.lo;
    s.hi = c.hi;
    ep_portset_clear(&s.reserved);
    s.p = tp_pool_cfg(&c, addrs);
    ep_rng_init(&s.r, true, seed * 31 + (uint64_t)alg);
    /* ep_pool_check costs O(65536) per address: after every step at first,
     * then every 20 steps, to keep the sanitizer build fast */
    for (int i = 0; i < steps; i++)
        step(&s, i < 40 || i % 20 == 0);
    /* drain: close everything, expire, and the pool must be empty */
    for (int i = 0; i < s.nheld; i++)
        assert_int_equal(ep_pool_close(s.p, &s.held[i], EP_CLOSE_ACTIVE, s.now), 0);
    for (int i = 0; i < s.nbinds; i++)
        assert_int_equal(ep_pool_unbind(s.p, s.binds[i], s.now), 0);
    ep_pool_stats st = tp_stats(s.p, s.now + EP_SEC(3600));
    assert_int_equal(st.in_use + st.time_wait + st.quarantine + st.binds + st.destinations, 0);
    tp_check(s.p);
    ep_pool_free(s.p);
}

static void random_ops_all_algorithms(void **state)
{
    (void)state;
    for (int alg = 0; alg < EP_ALG__COUNT; alg++)
        for (int variant = 0; variant < 3; variant++)
            run_ops((ep_algorithm)alg, variant, 1000 + (uint64_t)variant, 250);
}

static void random_ops_default_long(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++)
        run_ops(EP_ALG_RANDOM, (int)(seed % 3), seed, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_ops_all_algorithms),
        cmocka_unit_test(random_ops_default_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
