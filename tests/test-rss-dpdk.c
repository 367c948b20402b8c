/* test-rss-dpdk.c - the Toeplitz hash against an independent
 * implementation: DPDK's software Toeplitz, rte_softrss (header-only, in
 * rte_thash.h of the Debian package dpdk-dev; nothing of DPDK is linked).
 *
 * rte_softrss takes the input as 32-bit words in CPU order (the input's
 * bytes big-endian, four at a time) and a key of at least one word more
 * than the input.  On random keys and inputs:
 *   - ep_toeplitz_hash on random byte strings of 4..36 bytes;
 *   - ep_rss_hash_addrs / ep_rss_hash_ports on random IPv4 and IPv6
 *     tuples;
 *   - the engine's choice: ports from ep_pool_connect_rss towards random
 *     destinations, their queue recomputed with rte_softrss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_thash.h>

#include <cmocka.h>

#include <ephport/ephport.h>

static uint32_t dpdk_hash(const uint8_t *key, const uint8_t *in, size_t len)
{
    uint32_t words[EP_RSS_KEY_MAX / 4];
    assert_true(len % 4 == 0 && len / 4 <= sizeof words / sizeof words[0]);
    for (size_t i = 0; i < len / 4; i++)
        words[i] = (uint32_t)in[4 * i] << 24 | (uint32_t)in[4 * i + 1] << 16 |
                   (uint32_t)in[4 * i + 2] << 8 | in[4 * i + 3];
    return rte_softrss(words, (uint32_t)(len / 4), key);
}

static void random_bytes(uint8_t *b, size_t n, unsigned *seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rand_r(seed);
}

static void test_raw(void **state)
{
    (void)state;
    unsigned seed = 1;
    for (int n = 0; n < 100000; n++) {
        uint8_t key[40], in[36];
        size_t len = 4 * (1 + (size_t)rand_r(&seed) % 9);
        uint32_t h;
        random_bytes(key, sizeof key, &seed);
        random_bytes(in, len, &seed);
        assert_int_equal(ep_toeplitz_hash(key, sizeof key, in, len, &h), 0);
        if (h != dpdk_hash(key, in, len))
            fail_msg("case %d (%zu bytes): ephport %08x, rte_softrss %08x", n, len, h,
                     dpdk_hash(key, in, len));
    }
}

static void random_tuple(int family, ep_addr *src, ep_addr *dst, uint16_t *sp, uint16_t *dp,
                         unsigned *seed)
{
    uint8_t b[32];
    size_t alen = family == AF_INET ? 4 : 16;
    random_bytes(b, 2 * alen, seed);
    assert_int_equal(ep_addr_from_bytes(family, b, src), 0);
    assert_int_equal(ep_addr_from_bytes(family, b + alen, dst), 0);
    *sp = (uint16_t)rand_r(seed);
    *dp = (uint16_t)rand_r(seed);
}

static void test_tuples(void **state)
{
    (void)state;
    unsigned seed = 2;
    for (int n = 0; n < 100000; n++) {
        int family = n % 2 ? AF_INET6 : AF_INET;
        size_t alen = family == AF_INET ? 4 : 16;
        uint8_t key[40], in[36];
        ep_addr s, d;
        uint16_t sp, dp;
        uint32_t h;
        random_bytes(key, sizeof key, &seed);
        random_tuple(family, &s, &d, &sp, &dp, &seed);
        memcpy(in, s.u.bytes, alen);
        memcpy(in + alen, d.u.bytes, alen);
        in[2 * alen] = (uint8_t)(sp >> 8);
        in[2 * alen + 1] = (uint8_t)sp;
        in[2 * alen + 2] = (uint8_t)(dp >> 8);
        in[2 * alen + 3] = (uint8_t)dp;
        assert_int_equal(ep_rss_hash_addrs(key, sizeof key, &s, &d, &h), 0);
        assert_int_equal(h, dpdk_hash(key, in, 2 * alen));
        assert_int_equal(ep_rss_hash_ports(key, sizeof key, &s, sp, &d, dp, &h), 0);
        assert_int_equal(h, dpdk_hash(key, in, 2 * alen + 4));
    }
}

static void test_engine_choice(void **state)
{
    (void)state;
    unsigned seed = 3;
    for (int round = 0; round < 20; round++) {
        int family = round % 2 ? AF_INET6 : AF_INET;
        size_t alen = family == AF_INET ? 4 : 16;
        uint8_t key[40];
        uint16_t reta[128];
        uint32_t nq = 1 + (uint32_t)rand_r(&seed) % 16;
        ep_pool_config c;
        ep_pool *p = NULL;
        ep_addr local, remote;
        uint16_t sp, dp;

        random_bytes(key, sizeof key, &seed);
        for (int x = 0; x < 128; x++)
            reta[x] = (uint16_t)(x % nq);
        assert_int_equal(ep_pool_config_init(&c, NULL), 0);
        c.seeded = true;
        c.seed = (uint64_t)round;
        assert_int_equal(ep_pool_new(&c, &p, NULL), 0);
        random_tuple(family, &local, &remote, &sp, &dp, &seed);
        local.u.bytes[0] |= 1; /* not a wildcard */
        remote.u.bytes[0] |= 1;
        assert_int_equal(ep_pool_add_address(p, &local), 0);
        ep_rss_config rc = { key, sizeof key, reta, 128 };
        assert_int_equal(ep_pool_set_rss(p, &rc), 0);
        for (int n = 0; n < 2000; n++) {
            ep_tuple t;
            uint32_t q = (uint32_t)rand_r(&seed) % nq;
            uint8_t in[36];
            memset(&t, 0, sizeof t);
            t.proto = EP_PROTO_TCP;
            t.remote = remote;
            t.remote_port = (uint16_t)(1 + n % 7);
            assert_int_equal(ep_pool_connect_rss(p, &t, (uint16_t)q, 0, 0, NULL), 0);
            /* the reply: remote -> local */
            memcpy(in, remote.u.bytes, alen);
            memcpy(in + alen, local.u.bytes, alen);
            in[2 * alen] = (uint8_t)(t.remote_port >> 8);
            in[2 * alen + 1] = (uint8_t)t.remote_port;
            in[2 * alen + 2] = (uint8_t)(t.local_port >> 8);
            in[2 * alen + 3] = (uint8_t)t.local_port;
            uint32_t got = reta[dpdk_hash(key, in, 2 * alen + 4) & 127];
            if (got != q)
                fail_msg("round %d: port %u lands on queue %u by rte_softrss, asked %u", round,
                         t.local_port, got, q);
        }
        ep_pool_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_tuples),
        cmocka_unit_test(test_engine_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
