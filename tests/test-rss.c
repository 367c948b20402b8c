/* test-rss.c - the Toeplitz hash and RSS-aware port choice (ephport/rss.h).
 *
 *   - the hash against Microsoft's published verification vectors;
 *   - bad configurations and queues;
 *   - exactness against a brute-force reference (every port of the range
 *     hashed with the reference ep_rss_hash_ports, the test's own record of
 *     the ports in use): random keys, RETAs (1 to 512 entries), queue
 *     counts, ranges, reserved ports, bindings, one or two local addresses;
 *     each choice must be a free port of the queue, and -EADDRNOTAVAIL must
 *     come exactly when the queue has none;
 *   - chi-square uniformity over the queue's free ports, at low occupancy
 *     (rejection path) and high (exact path);
 *   - ep_pool_check after mixed operations (TIME_WAIT, plain connects,
 *     reserved-set and RSS-configuration changes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test-pool-util.h"

/* Microsoft, "Verifying the RSS Hash Calculation" (Windows drivers,
 * network/verifying-the-rss-hash-calculation; the same suite is in the
 * Intel 82599 datasheet 7.1.2.8.3), with the default 40-byte key.  Each
 * row: destination, its port, source, its port, the "IPv4"/"IPv6" hash
 * (addresses only), the "TCP" hash (with ports).  The hash input is source
 * then destination. */
static const struct {
    const char *dst;
    uint16_t dport;
    const char *src;
    uint16_t sport;
    uint32_t h_ip, h_tcp;
} ms_vectors[] = {
    { "161.142.100.80", 1766, "66.9.149.187", 2794, 0x323e8fc2, 0x51ccc178 },
    { "65.69.140.83", 4739, "199.92.111.2", 14230, 0xd718262a, 0xc626b0ea },
    { "12.22.207.184", 38024, "24.19.198.95", 12898, 0xd2d0a5de, 0x5c2b394a },
    { "209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xafc7327f },
    { "202.188.127.2", 1303, "153.39.163.191", 44251, 0x5d1809c5, 0x10e828a2 },
    { "3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2cc18cd5, 0x40207d3d },
    { "ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0f0c461c, 0xdde51bbf },
    { "fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251,
      0x4b61e985, 0x02d1feef },
};

static void test_ms_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ms_vectors / sizeof ms_vectors[0]; i++) {
        ep_addr s = tp_addr(ms_vectors[i].src), d = tp_addr(ms_vectors[i].dst);
        uint32_t h = 0;
        assert_int_equal(ep_rss_hash_addrs(ep_rss_default_key, 40, &s, &d, &h), 0);
        if (h != ms_vectors[i].h_ip)
            fail_msg("row %zu (%s): address hash %08x, expected %08x", i, ms_vectors[i].src, h,
                     ms_vectors[i].h_ip);
        assert_int_equal(ep_rss_hash_ports(ep_rss_default_key, 40, &s, ms_vectors[i].sport, &d,
                                           ms_vectors[i].dport, &h), 0);
        if (h != ms_vectors[i].h_tcp)
            fail_msg("row %zu (%s): port hash %08x, expected %08x", i, ms_vectors[i].src, h,
                     ms_vectors[i].h_tcp);
    }
}

static void test_hash_bad_input(void **state)
{
    (void)state;
    ep_addr a = tp_addr("10.0.0.1"), b6 = tp_addr("::1");
    uint8_t data[36] = { 1 };
    uint32_t h;
    assert_int_equal(ep_toeplitz_hash(ep_rss_default_key, 40, data, 36, &h), 0);
    assert_int_equal(ep_toeplitz_hash(ep_rss_default_key, 39, data, 36, &h), EP_EINVAL);
    assert_int_equal(ep_toeplitz_hash(NULL, 40, data, 4, &h), EP_EINVAL);
    assert_int_equal(ep_rss_hash_ports(ep_rss_default_key, 40, &a, 1, &b6, 2, &h), EP_EINVAL);
    assert_int_equal(ep_rss_hash_addrs(ep_rss_default_key, 40, &b6, &b6, NULL), EP_EINVAL);
    /* linear over GF(2): hash(x ^ y) = hash(x) ^ hash(y) */
    uint8_t x[12], y[12], z[12];
    srand(7);
    for (int n = 0; n < 1000; n++) {
        uint32_t hx, hy, hz;
        for (int i = 0; i < 12; i++) {
            x[i] = (uint8_t)rand();
            y[i] = (uint8_t)rand();
            z[i] = x[i] ^ y[i];
        }
        ep_toeplitz_hash(ep_rss_default_key, 40, x, 12, &hx);
        ep_toeplitz_hash(ep_rss_default_key, 40, y, 12, &hy);
        ep_toeplitz_hash(ep_rss_default_key, 40, z, 12, &hz);
        assert_int_equal(hz, hx ^ hy);
    }
}

static void test_config_errors(void **state)
{
    (void)state;
    const char *addrs[] = { "10.0.0.1", NULL };
    ep_pool_config c = tp_cfg(1000, 1999, EP_ALG_RANDOM);
    ep_pool *p = tp_pool_cfg(&c, addrs);
    uint16_t reta[8] = { 0, 1, 2, 3, 0, 1, 2, 3 };
    uint8_t longkey[EP_RSS_KEY_MAX + 1] = { 0 };
    ep_rss_config rc = { ep_rss_default_key, 40, reta, 8 };
    ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, "192.0.2.1", 80);

    assert_int_equal(ep_pool_connect_rss(p, &t, 0, 0, 0, NULL), EP_EINVAL); /* no config */
    rc.key_len = 39;
    assert_int_equal(ep_pool_set_rss(p, &rc), EP_EINVAL);
    rc.key = longkey;
    rc.key_len = sizeof longkey;
    assert_int_equal(ep_pool_set_rss(p, &rc), EP_EINVAL);
    rc.key = ep_rss_default_key;
    rc.key_len = 40;
    rc.reta_size = 6;
    assert_int_equal(ep_pool_set_rss(p, &rc), EP_EINVAL);
    rc.reta_size = 0;
    assert_int_equal(ep_pool_set_rss(p, &rc), EP_EINVAL);
    rc.reta_size = 8;
    rc.reta = NULL;
    assert_int_equal(ep_pool_set_rss(p, &rc), EP_EINVAL);
    rc.reta = reta;
    assert_int_equal(ep_pool_set_rss(NULL, &rc), EP_EINVAL);
    assert_int_equal(ep_pool_set_rss(p, &rc), 0);
    assert_int_equal(ep_pool_connect_rss(p, &t, 4, 0, 0, NULL), EP_EINVAL); /* not in the table */
    assert_int_equal(ep_pool_connect_rss(p, &t, 3, 0, 0, NULL), 0);
    assert_int_equal(ep_pool_set_rss(p, NULL), 0);
    assert_int_equal(ep_pool_connect_rss(p, &t, 3, 0, 0, NULL), EP_EINVAL);
    ep_pool_free(p);
}

/* ---- the brute-force reference ------------------------------------------ */

typedef struct ref {
    uint8_t key[40];
    uint16_t reta[512];
    uint32_t reta_size, nq;
} ref;

static uint32_t ref_queue(const ref *r, const ep_addr *local, uint16_t lport, const ep_addr *remote,
                          uint16_t rport)
{
    uint32_t h;
    assert_int_equal(ep_rss_hash_ports(r->key, 40, remote, rport, local, lport, &h), 0);
    return r->reta[h & (r->reta_size - 1)];
}

static void ref_random(ref *r, unsigned *seed, bool default_key)
{
    for (int i = 0; i < 40; i++)
        r->key[i] = default_key ? ep_rss_default_key[i] : (uint8_t)rand_r(seed);
    r->reta_size = 1u << (rand_r(seed) % 10);
    r->nq = 1 + (uint32_t)rand_r(seed) % (r->reta_size < 64 ? r->reta_size : 64);
    for (uint32_t x = 0; x < r->reta_size; x++) /* every queue present */
        r->reta[x] = (uint16_t)(x < r->nq ? x : (uint32_t)rand_r(seed) % r->nq);
    for (uint32_t x = r->reta_size; x-- > 1;) { /* shuffled */
        uint32_t y = (uint32_t)rand_r(seed) % (x + 1);
        uint16_t t = r->reta[x];
        r->reta[x] = r->reta[y];
        r->reta[y] = t;
    }
}

static void check_pool(ep_pool *p)
{
    char why[256];
    if (ep_pool_check(p, why, sizeof why) != 0)
        fail_msg("ep_pool_check: %s", why);
}

/* One seed: a range, reserved ports, bindings, two addresses at most, one
 * destination; connects with random queues and closes, every answer
 * compared with the reference. */
static void exact_one(unsigned seed)
{
    ref r;
    unsigned s = seed;
    bool v6 = seed % 3 == 0, two = seed % 2 == 0;
    const char *addrs4[] = { "10.0.0.1", "10.0.0.2", NULL }, *addrs6[] = { "2001:db8::1", "2001:db8::2", NULL };
    const char **addrs = v6 ? addrs6 : addrs4;
    uint16_t lo = (uint16_t)(1024 + rand_r(&s) % 50000), n = (uint16_t)(64 + rand_r(&s) % 1500);
    ep_pool_config c = tp_cfg(lo, (uint16_t)(lo + n - 1), EP_ALG_RANDOM);
    char reserved[64];
    ep_pool *p;
    ep_addr local[2], remote = tp_addr(v6 ? "2001:db8:ffff::9" : "198.51.100.7");
    uint16_t rport = (uint16_t)(1 + rand_r(&s) % 65535);
    static uint8_t used[2][65536], blocked[2][65536];
    struct { uint16_t port; uint8_t a; } held[4096];
    uint32_t nheld = 0;

    ref_random(&r, &s, seed % 4 == 1);
    snprintf(reserved, sizeof reserved, "%u-%u", lo + 3, lo + 3 + (unsigned)(rand_r(&s) % 20));
    c.reserved = seed % 5 == 0 ? reserved : NULL;
    c.time_wait = 0;
    c.seeded = true;
    c.seed = seed;
    if (!two)
        addrs[1] = NULL;
    p = tp_pool_cfg(&c, addrs);
    addrs[1] = v6 ? "2001:db8::2" : "10.0.0.2";
    ep_rss_config rc = { r.key, 40, r.reta, r.reta_size };
    assert_int_equal(ep_pool_set_rss(p, &rc), 0);
    memset(used, 0, sizeof used);
    memset(blocked, 0, sizeof blocked);
    local[0] = tp_addr(addrs[0]);
    local[1] = tp_addr(addrs[1]);
    /* a few bindings block ports on an address */
    for (int b = rand_r(&s) % 6; b > 0; b--) {
        ep_bind_req req = { EP_PROTO_TCP, local[0], (uint16_t)(lo + rand_r(&s) % n), 0, 0 };
        ep_bind_id id;
        if (ep_pool_bind(p, &req, 0, &id, NULL) == 0)
            blocked[0][req.port] = 1;
    }
    ep_pool_config got;
    assert_int_equal(ep_pool_get_config(p, &got), 0);
    ep_portset rs;
    memset(&rs, 0, sizeof rs);
    if (got.reserved && *got.reserved)
        assert_int_equal(ep_portset_parse(got.reserved, &rs, NULL), 0);

    for (int op = 0; op < 3000; op++) {
        if (nheld > 0 && (rand_r(&s) % 100 < 35 || nheld == 4096)) {
            uint32_t k = (uint32_t)rand_r(&s) % nheld;
            ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, NULL, rport);
            t.local = local[held[k].a];
            t.remote = remote;
            t.local_port = held[k].port;
            assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, 0), 0);
            used[held[k].a][held[k].port] = 0;
            held[k] = held[--nheld];
            continue;
        }
        uint32_t q = (uint32_t)rand_r(&s) % r.nq;
        int fixed = two && rand_r(&s) % 3 == 0 ? (int)(rand_r(&s) % 2) : -1;
        uint32_t want = 0;
        for (int a = 0; a < (two ? 2 : 1); a++) {
            if (fixed >= 0 && a != fixed)
                continue;
            for (uint32_t port = lo; port < (uint32_t)lo + n; port++)
                if (!used[a][port] && !blocked[a][port] && !ep_portset_has(&rs, (uint16_t)port) &&
                    ref_queue(&r, &local[a], (uint16_t)port, &remote, rport) == q)
                    want++;
        }
        ep_tuple t = tp_tuple(EP_PROTO_TCP, NULL, NULL, rport);
        t.remote = remote;
        if (fixed >= 0)
            t.local = local[fixed];
        int rcode = ep_pool_connect_rss(p, &t, (uint16_t)q, 0, 0, NULL);
        if (want == 0) {
            if (rcode != EP_EADDRNOTAVAIL)
                fail_msg("seed %u op %d: queue %u has no free port, got %d", seed, op, q, rcode);
            continue;
        }
        if (rcode != 0)
            fail_msg("seed %u op %d: queue %u has %u free ports, got %d", seed, op, q, want, rcode);
        int a = ep_addr_equal(&t.local, &local[0]) ? 0 : 1;
        uint16_t port = t.local_port;
        if (port < lo || port >= lo + n || used[a][port] || blocked[a][port] ||
            ep_portset_has(&rs, port) || ref_queue(&r, &t.local, port, &remote, rport) != q)
            fail_msg("seed %u op %d: port %u (address %d) is not a free port of queue %u", seed,
                     op, port, a, q);
        used[a][port] = 1;
        held[nheld].port = port;
        held[nheld++].a = (uint8_t)a;
        if (op % 500 == 0)
            check_pool(p);
    }
    check_pool(p);
    ep_pool_free(p);
}

static void test_exact_random(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 40; seed++)
        exact_one(seed);
}

/* ---- uniformity ------------------------------------------------------------ */

/* Fill `fill` of queue 0's ports towards one destination, then draw and
 * release many times: every free port of the queue equally often. */
static void uniform_case(double fill, unsigned seed)
{
    ref r;
    const char *addrs[] = { "10.0.0.1", NULL };
    ep_pool_config c = tp_cfg(20000, 22047, EP_ALG_RANDOM);
    ep_addr local = tp_addr("10.0.0.1"), remote = tp_addr("203.0.113.5");
    static uint32_t hits[65536];
    uint32_t cand = 0, nfree = 0, draws;
    ep_pool *p;

    c.time_wait = 0;
    c.seeded = true;
    c.seed = seed;
    p = tp_pool_cfg(&c, addrs);
    r.reta_size = 128;
    r.nq = 4;
    memcpy(r.key, ep_rss_default_key, 40);
    for (uint32_t x = 0; x < 128; x++)
        r.reta[x] = (uint16_t)(x % 4);
    ep_rss_config rc = { r.key, 40, r.reta, 128 };
    assert_int_equal(ep_pool_set_rss(p, &rc), 0);
    for (uint32_t port = 20000; port <= 22047; port++)
        cand += ref_queue(&r, &local, (uint16_t)port, &remote, 443) == 0;
    for (uint32_t k = 0; k < (uint32_t)(fill * cand); k++) {
        ep_tuple t = tp_tuple(EP_PROTO_TCP, "10.0.0.1", "203.0.113.5", 443);
        assert_int_equal(ep_pool_connect_rss(p, &t, 0, 0, 0, NULL), 0);
    }
    memset(hits, 0, sizeof hits);
    nfree = cand - (uint32_t)(fill * cand);
    draws = nfree * 200;
    for (uint32_t k = 0; k < draws; k++) {
        ep_tuple t = tp_tuple(EP_PROTO_TCP, "10.0.0.1", "203.0.113.5", 443);
        assert_int_equal(ep_pool_connect_rss(p, &t, 0, 0, 0, NULL), 0);
        hits[t.local_port]++;
        assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, 0), 0);
    }
    double chi = 0, e = (double)draws / nfree;
    uint32_t seen = 0;
    for (uint32_t port = 0; port < 65536; port++) {
        if (!hits[port])
            continue;
        seen++;
        chi += (hits[port] - e) * (hits[port] - e) / e;
    }
    /* ports never drawn count too: (0 - e)^2 / e each */
    chi += (double)(nfree - seen) * e;
    double df = nfree - 1, bound = df + 6 * sqrt(2 * df);
    if (seen > nfree || chi > bound)
        fail_msg("fill %.2f: %u ports seen of %u free, chi-square %.1f > %.1f (df %.0f)", fill,
                 seen, nfree, chi, bound, df);
    check_pool(p);
    ep_pool_free(p);
}

static void test_uniform(void **state)
{
    (void)state;
    uniform_case(0.10, 11); /* rejection among the queue's candidates */
    uniform_case(0.95, 12); /* the exact layer */
}

/* ---- invariants after mixed operations ------------------------------------ */

static void test_mixed_invariants(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 6; seed++) {
        ref r;
        unsigned s = seed;
        const char *addrs[] = { "10.0.0.1", "10.0.0.2", "2001:db8::1", NULL };
        ep_pool_config c = tp_cfg(30000, 30999, EP_ALG_RANDOM);
        ep_pool *p;
        ep_tuple held[2048];
        uint32_t nheld = 0;
        const char *remotes[] = { "192.0.2.1", "192.0.2.2", "2001:db8:9::1" };
        ep_time now = 0;

        c.time_wait = EP_SEC(60);
        c.tw_reuse = seed % 2;
        c.seeded = true;
        c.seed = seed;
        c.semantics = seed % 3 == 0 ? EP_SEM_LINUX : EP_SEM_STACK;
        p = tp_pool_cfg(&c, addrs);
        ref_random(&r, &s, false);
        ep_rss_config rc = { r.key, 40, r.reta, r.reta_size };
        assert_int_equal(ep_pool_set_rss(p, &rc), 0);
        for (int op = 0; op < 6000; op++) {
            int k = rand_r(&s) % 100;
            now += EP_MSEC(rand_r(&s) % 50);
            if (k < 45 && nheld < 2048) {
                ep_tuple t = tp_tuple(rand_r(&s) % 4 ? EP_PROTO_TCP : EP_PROTO_UDP, NULL,
                                      remotes[rand_r(&s) % 3], (uint16_t)(80 + rand_r(&s) % 2));
                uint32_t q = (uint32_t)rand_r(&s) % r.nq;
                int rcode = k < 35 ? ep_pool_connect_rss(p, &t, (uint16_t)q, 0, now, NULL)
                                   : ep_pool_connect(p, &t, 0, now);
                if (rcode == 0) {
                    if (k < 35 && ref_queue(&r, &t.local, t.local_port, &t.remote, t.remote_port) != q)
                        fail_msg("seed %u op %d: port %u not of queue %u", seed, op, t.local_port, q);
                    held[nheld++] = t;
                } else if (rcode != EP_EADDRNOTAVAIL && rcode != -EAGAIN) {
                    fail_msg("seed %u op %d: connect %d", seed, op, rcode);
                }
            } else if (k < 90 && nheld) {
                uint32_t i = (uint32_t)rand_r(&s) % nheld;
                assert_int_equal(ep_pool_close(p, &held[i], rand_r(&s) % 2 ? EP_CLOSE_ACTIVE
                                                                          : EP_CLOSE_PASSIVE, now), 0);
                held[i] = held[--nheld];
            } else if (k < 93) {
                assert_int_equal(ep_pool_set_reserved(p, rand_r(&s) % 2 ? "30100-30400" : "", NULL), 0);
            } else if (k < 95) {
                ref_random(&r, &s, false);
                rc.reta_size = r.reta_size;
                assert_int_equal(ep_pool_set_rss(p, &rc), 0);
                /* connections already open keep their ports */
            } else if (k < 97) {
                now += EP_SEC(61);
            }
            if (op % 250 == 0)
                check_pool(p);
        }
        check_pool(p);
        ep_pool_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ms_vectors),
        cmocka_unit_test(test_hash_bad_input),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_exact_random),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_mixed_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
