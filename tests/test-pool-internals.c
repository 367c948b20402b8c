/* test-pool-internals.c - unit tests for the engine's private building
 * blocks: the ChaCha20 block function (RFC 8439 test vectors), the CSPRNG's
 * bounded draws, SipHash-2-4 (reference vectors), the dense bitmap's
 * k-th-available selection against a naive model, and ep_pool_check
 * finding an owner's charge that disagrees with what it holds. */
#include <stdlib.h>

#include "test-pool-util.h"

#include "chacha.h"
#include "dense.h"
#include "siphash.h"
#include "pool-t.h"

static void chacha20_rfc8439_vectors(void **state)
{
    /* RFC 8439 A.1 test vectors #1 (counter 0) and #2 (counter 1):
     * all-zero key and nonce. */
    static const uint8_t want0[64] = {
        0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90, 0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86, 0xbd, 0x28,
        0xbd, 0xd2, 0x19, 0xb8, 0xa0, 0x8d, 0xed, 0x1a, 0xa8, 0x36, 0xef, 0xcc, 0x8b, 0x77, 0x0d, 0xc7,
        0xda, 0x41, 0x59, 0x7c, 0x51, 0x57, 0x48, 0x8d, 0x77, 0x24, 0xe0, 0x3f, 0xb8, 0xd8, 0x4a, 0x37,
        0x6a, 0x43, 0xb8, 0xf4, 0x15, 0x18, 0xa1, 0x1c, 0xc3, 0x87, 0xb6, 0x69, 0xb2, 0xee, 0x65, 0x86,
    };
    static const uint8_t want1[64] = {
        0x9f, 0x07, 0xe7, 0xbe, 0x55, 0x51, 0x38, 0x7a, 0x98, 0xba, 0x97, 0x7c, 0x73, 0x2d, 0x08, 0x0d,
        0xcb, 0x0f, 0x29, 0xa0, 0x48, 0xe3, 0x65, 0x69, 0x12, 0xc6, 0x53, 0x3e, 0x32, 0xee, 0x7a, 0xed,
        0x29, 0xb7, 0x21, 0x76, 0x9c, 0xe6, 0x4e, 0x43, 0xd5, 0x71, 0x33, 0xb0, 0x74, 0xd8, 0x39, 0xd5,
        0x31, 0xed, 0x1f, 0x28, 0x51, 0x0a, 0xfb, 0x45, 0xac, 0xe1, 0x0a, 0x1f, 0x4b, 0x79, 0x4d, 0x6f,
    };
    uint32_t key[8] = { 0 }, out[16];
    (void)state;
    ep_chacha20_block(key, 0, out);
    assert_memory_equal(out, want0, 64); /* little-endian host */
    ep_chacha20_block(key, 1, out);
    assert_memory_equal(out, want1, 64);
    /* the 8-lane refill equals eight scalar blocks */
    ep_rng r;
    assert_int_equal(ep_rng_init(&r, true, 5), 0);
    for (int round = 0; round < 3; round++) {
        uint64_t c = r.counter;
        ep_rng_refill(&r);
        assert_true(r.counter == c + 8);
        for (int l = 0; l < 8; l++) {
            ep_chacha20_block(r.key, c + (uint64_t)l, out);
            assert_memory_equal(out, r.buf + 16 * l, 64);
        }
    }
}

static void rng_seeded_and_bounded(void **state)
{
    ep_rng a, b, c;
    int same = 0;
    (void)state;
    assert_int_equal(ep_rng_init(&a, true, 1), 0);
    assert_int_equal(ep_rng_init(&b, true, 1), 0);
    assert_int_equal(ep_rng_init(&c, true, 2), 0);
    for (int i = 0; i < 1000; i++) {
        uint32_t x = ep_rng_u32(&a);
        assert_int_equal(x, ep_rng_u32(&b));
        same += x == ep_rng_u32(&c);
    }
    assert_true(same < 5);
    for (uint32_t n = 1; n < 5000; n += 37) {
        for (int i = 0; i < 50; i++)
            assert_true(ep_rng_below(&a, n) < n);
    }
    assert_int_equal(ep_rng_below(&a, 1), 0);
    for (int i = 0; i < 100; i++)
        assert_true(ep_rng_below(&a, 0x80000001u) <= 0x80000000u);
    /* every value of a small range appears */
    int hit[7] = { 0 };
    for (int i = 0; i < 700; i++)
        hit[ep_rng_below(&a, 7)]++;
    for (int i = 0; i < 7; i++)
        assert_true(hit[i] > 0);
    uint8_t buf[13];
    memset(buf, 0, sizeof buf);
    ep_rng_bytes(&a, buf, sizeof buf);
    int nz = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        nz += buf[i] != 0;
    assert_true(nz > 0);
    assert_int_equal(ep_rng_init(&a, false, 0), 0);
}

static void siphash_reference_vectors(void **state)
{
    uint8_t key[16], msg[64];
    (void)state;
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    /* vectors.h of the SipHash reference implementation (SipHash-2-4) */
    assert_true(ep_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ull);
    assert_true(ep_siphash24(key, msg, 8) == 0x93f5f5799a932462ull);
    assert_true(ep_siphash24(key, msg, 15) == 0xa129ca6149be45e5ull);
    assert_true(ep_siphash24(key, msg, 63) != ep_siphash24(key, msg, 62));
    key[0] ^= 1;
    assert_true(ep_siphash24(key, msg, 15) != 0xa129ca6149be45e5ull);
}

/* The dense set against a byte array: membership, count, and that
 * positions 0..free-1 enumerate exactly the available indexes, each once
 * (so a uniform position is a uniform available index). */
static void dense_check_against(const ep_dense *d, const uint8_t *naive, uint32_t n)
{
    uint32_t nset = 0;
    uint8_t *seen = calloc(n, 1);
    assert_non_null(seen);
    for (uint32_t j = 0; j < n; j++) {
        nset += naive[j];
        assert_int_equal(ep_dense_test(d, j), naive[j]);
    }
    assert_int_equal(d->nset, nset);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t idx = d->order[k];
        assert_true(idx < n);
        assert_int_equal(d->slot[idx], k);
        assert_false(seen[idx]);
        seen[idx] = 1;
        if (k < n - nset)
            assert_int_equal(ep_dense_select(d, k), idx);
        assert_int_equal(naive[idx], k >= n - nset);
    }
    free(seen);
}

static void dense_set_matches_naive(void **state)
{
    static const uint32_t sizes[] = { 1, 2, 63, 64, 65, 511, 4097, 28232, 65535 };
    ep_rng r;
    (void)state;
    ep_rng_init(&r, true, 9);
    assert_null(ep_dense_new(0, 0));
    assert_null(ep_dense_new(65536, 0));
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint32_t n = sizes[s];
        ep_dense *d = ep_dense_new(n, 7);
        uint8_t *naive = calloc(n, 1);
        assert_non_null(d);
        assert_non_null(naive);
        assert_int_equal(d->dest, 7);
        dense_check_against(d, naive, n);
        for (int round = 0; round < 400; round++) {
            /* set twice as often as clear, and repeat some operations so
             * that the no-op paths run too */
            uint32_t i = ep_rng_below(&r, n);
            if (ep_rng_below(&r, 3)) {
                ep_dense_set(d, i);
                naive[i] = 1;
            } else {
                ep_dense_clear(d, i);
                naive[i] = 0;
            }
            if (round % 16 == 0 || n < 100)
                dense_check_against(d, naive, n);
        }
        dense_check_against(d, naive, n);
        /* fill all but one, then select it */
        for (uint32_t j = 0; j < n; j++)
            ep_dense_set(d, j);
        ep_dense_clear(d, n - 1);
        assert_int_equal(d->nset, n - 1);
        assert_int_equal(ep_dense_select(d, 0), n - 1);
        ep_dense_set(d, n - 1);
        assert_int_equal(d->nset, n);
        ep_dense_clear(d, 0);
        assert_int_equal(ep_dense_select(d, 0), 0);
        memset(naive, 1, n);
        naive[0] = 0;
        dense_check_against(d, naive, n);
        assert_true(ep_dense_bytes(n) >= 4ull * n);
        free(naive);
        ep_dense_free(d);
    }
}

/* An owner's record is charged for its in-use tuples and its bindings
 * holding a port; ep_pool_check recounts them. */
static void check_finds_owner_charge_damage(void **state)
{
    (void)state;
    ep_pool *p = tp_pool(40000, 40009, EP_ALG_RANDOM, "10.0.0.1");
    ep_tuple t = tp_tuple(EP_PROTO_TCP, "10.0.0.1", "11.0.0.1", 80);
    ep_bind_req q = { .proto = EP_PROTO_TCP, .addr = tp_addr("10.0.0.1"), .owner = 7 };
    ep_bind_id id;
    char why[256];
    assert_int_equal(ep_pool_connect(p, &t, 7, 0), 0);
    assert_int_equal(ep_pool_bind(p, &q, 0, &id, NULL), 0);
    tp_check(p);
    ep_owner *r = NULL;
    for (uint32_t i = 0; i < p->owners.used; i++)
        if (p->owners.o[i].id == 7)
            r = &p->owners.o[i];
    assert_non_null(r);
    assert_int_equal(r->held, 2);
    r->held = 1;
    assert_int_equal(ep_pool_check(p, why, sizeof why), EP_EIO);
    assert_non_null(strstr(why, "owner 7"));
    r->held = 2;
    tp_check(p);
    ep_tuple u = tp_tuple(EP_PROTO_TCP, "10.0.0.1", "11.0.0.2", 80);
    assert_int_equal(ep_pool_connect(p, &u, 0, 0), 0);
    /* an owned tuple whose owner has no record */
    r->id = 8;
    assert_int_equal(ep_pool_check(p, why, sizeof why), EP_EIO);
    r->id = 7;
    tp_check(p);
    ep_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chacha20_rfc8439_vectors),
        cmocka_unit_test(rng_seeded_and_bounded),
        cmocka_unit_test(siphash_reference_vectors),
        cmocka_unit_test(dense_set_matches_naive),
        cmocka_unit_test(check_finds_owner_charge_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
