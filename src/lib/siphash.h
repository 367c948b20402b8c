/* siphash.h - SipHash (Aumasson & Bernstein), the engine's keyed hash.
 * SipHash-2-4 for the RFC 6056 F()/G() values an observer must not predict;
 * SipHash-1-3 (the variant Rust and Python use for hash tables) for the
 * engine's own hash tables, where speed matters and the key only has to stop
 * an outsider from choosing colliding keys.  Private to libephport. */
#ifndef EP_SIPHASH_H
#define EP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ep_siphash24(const uint8_t key[16], const void *data, size_t len);
uint64_t ep_siphash13(const uint8_t key[16], const void *data, size_t len);

/* SipHash-1-3 of one 64-bit word (the 8 little-endian bytes of x), inline
 * for the tuple table's hot path.  k0/k1 are the key's two halves. */
static inline uint64_t ep_siphash13_u64(uint64_t k0, uint64_t k1, uint64_t x)
{
#define EP_ROTL(v, n) (((v) << (n)) | ((v) >> (64 - (n))))
#define EP_SIPROUND                                                         \
    do {                                                                    \
        v0 += v1; v1 = EP_ROTL(v1, 13); v1 ^= v0; v0 = EP_ROTL(v0, 32);    \
        v2 += v3; v3 = EP_ROTL(v3, 16); v3 ^= v2;                           \
        v0 += v3; v3 = EP_ROTL(v3, 21); v3 ^= v0;                           \
        v2 += v1; v1 = EP_ROTL(v1, 17); v1 ^= v2; v2 = EP_ROTL(v2, 32);    \
    } while (0)
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    uint64_t b = 8ull << 56;
    v3 ^= x; EP_SIPROUND; v0 ^= x;
    v3 ^= b; EP_SIPROUND; v0 ^= b;
    v2 ^= 0xff;
    EP_SIPROUND; EP_SIPROUND; EP_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
#undef EP_SIPROUND
#undef EP_ROTL
}

#endif
