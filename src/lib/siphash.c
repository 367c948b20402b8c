/* siphash.c - SipHash-2-4 over a byte string, the reference algorithm
 * (https://github.com/veorq/SipHash) written for one job: keyed 64-bit
 * hashes of short keys.  See siphash.h for where it is used. */
#include <string.h>

#include "siphash.h"

#define ROTL(v, n) (((v) << (n)) | ((v) >> (64 - (n))))
#define SIPROUND                                                        \
    do {                                                                \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);       \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                          \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                          \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);       \
    } while (0)

static uint64_t ep_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t ep_siphash(int c, int d, const uint8_t key[16], const void *data,
                           size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = ep_le64(key), k1 = ep_le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    uint64_t b = (uint64_t)len << 56, m;
    size_t i, end = len - (len % 8);

    for (i = 0; i < end; i += 8) {
        m = ep_le64(in + i);
        v3 ^= m;
        for (int r = 0; r < c; r++)
            SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; j < len % 8; j++)
        b |= (uint64_t)in[end + j] << (8 * j);
    v3 ^= b;
    for (int r = 0; r < c; r++)
        SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < d; r++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t ep_siphash24(const uint8_t key[16], const void *data, size_t len)
{
    return ep_siphash(2, 4, key, data, len);
}
