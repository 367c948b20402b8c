/* chacha.h - the engine's CSPRNG: ChaCha20 in counter mode, keyed from
 * getrandom(2) or, for reproducible runs, from a caller-supplied seed.
 * Private to libephport. */
#ifndef EP_CHACHA_H
#define EP_CHACHA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chacha-t.h"

/* Key the generator: from getrandom(2) unless seeded, else from seed
 * (expanded with SipHash so that nearby seeds give unrelated streams).
 * Returns 0 or -EIO if getrandom fails. */
int ep_rng_init(ep_rng *r, bool seeded, uint64_t seed);

/* One ChaCha20 block (RFC 8439 state layout, 64-bit counter, zero nonce). */
void ep_chacha20_block(const uint32_t key[8], uint64_t counter, uint32_t out[16]);

void ep_rng_refill(ep_rng *r);

static inline uint32_t ep_rng_u32(ep_rng *r)
{
    if (r->pos >= EP_RNG_BUFWORDS)
        ep_rng_refill(r);
    return r->buf[r->pos++];
}

static inline uint64_t ep_rng_u64(ep_rng *r)
{
    uint64_t hi = ep_rng_u32(r);
    return (hi << 32) | ep_rng_u32(r);
}

/* Uniform in [0, n), n >= 1, without modulo bias (Lemire's method).  The
 * division runs only when l < n (probability n / 2^32): the hint keeps the
 * compiler from noticing that t < n makes "l < n" redundant and computing t
 * on every draw, which it otherwise does (a ~20-cycle division per port). */
static inline uint32_t ep_rng_below(ep_rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)ep_rng_u32(r) * n;
    uint32_t l = (uint32_t)m;
    if (__builtin_expect(l < n, 0)) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)ep_rng_u32(r) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void ep_rng_bytes(ep_rng *r, void *out, size_t len);

#endif
