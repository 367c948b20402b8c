/* test-pool-util.h - small helpers shared by the engine's unit tests
 * (tests/test-pool-*.c): building pools, addresses and tuples, and asserting
 * the pool's internal consistency with ep_pool_check(). */
#ifndef TEST_POOL_UTIL_H
#define TEST_POOL_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <ephport/ephport.h>

static inline ep_addr tp_addr(const char *s)
{
    ep_addr a;
    memset(&a, 0, sizeof a);
    if (s && ep_addr_parse(s, &a) != 0)
        fail_msg("bad test address %s", s);
    return a;
}

static inline ep_tuple tp_tuple(uint8_t proto, const char *local, const char *remote, uint16_t rport)
{
    ep_tuple t;
    memset(&t, 0, sizeof t);
    t.proto = proto;
    t.local = tp_addr(local);
    t.remote = tp_addr(remote);
    t.remote_port = rport;
    return t;
}

/* A seeded pool on [lo, hi] with the given algorithm and addresses
 * (NULL-terminated list). */
static inline ep_pool *tp_pool_cfg(const ep_pool_config *cfg, const char *const *addrs)
{
    ep_pool *p = NULL;
    ep_parse_error err;
    int rc = ep_pool_new(cfg, &p, &err);
    if (rc != 0)
        fail_msg("ep_pool_new: %d %s", rc, err.message);
    for (size_t i = 0; addrs && addrs[i]; i++) {
        ep_addr a = tp_addr(addrs[i]);
        assert_int_equal(ep_pool_add_address(p, &a), 0);
    }
    return p;
}

static inline ep_pool_config tp_cfg(uint16_t lo, uint16_t hi, ep_algorithm alg)
{
    ep_pool_config c;
    assert_int_equal(ep_pool_config_init(&c, NULL), 0);
    c.lo = lo;
    c.hi = hi;
    c.algorithm = alg;
    c.seeded = true;
    c.seed = 42;
    return c;
}

static inline ep_pool *tp_pool(uint16_t lo, uint16_t hi, ep_algorithm alg, const char *addr)
{
    ep_pool_config c = tp_cfg(lo, hi, alg);
    const char *addrs[] = { addr, NULL };
    return tp_pool_cfg(&c, addrs);
}

#define tp_check(pool)                                                      \
    do {                                                                    \
        char why_[256] = "";                                                \
        int rc_ = ep_pool_check((pool), why_, sizeof why_);                 \
        if (rc_ != 0)                                                       \
            fail_msg("ep_pool_check: %d %s", rc_, why_);                    \
    } while (0)

static inline ep_dest_stats tp_dstats(ep_pool *p, const ep_tuple *t, ep_time now)
{
    ep_dest_stats s;
    assert_int_equal(ep_pool_dest_stats(p, t, now, &s), 0);
    return s;
}

static inline ep_pool_stats tp_stats(ep_pool *p, ep_time now)
{
    ep_pool_stats s;
    assert_int_equal(ep_pool_stats_get(p, now, &s), 0);
    return s;
}

#endif
