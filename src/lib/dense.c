/* dense.c - the exact-selection structure of the default algorithm.
 *
 * A destination whose ports are mostly taken cannot be served by rejection
 * sampling (the expected number of draws is effective/free).  For those we
 * keep one bit per effective-port index, set when the port is unavailable
 * towards the destination, plus the number of set bits per 512-bit block
 * and per 4096-bit super-block.  "The k-th available index" then walks at
 * most 16 super-blocks (the whole 16-bit port space), 8 blocks, 8 words and
 * a 6-step binary search inside one word: a cost that does not depend on
 * occupancy, which is what keeps the default algorithm flat up to 99.9 %.
 *
 * Bits past n are kept set (never counted) so that the last word needs no
 * mask.  One allocation holds the header, the words and both summaries. */
#include <stdlib.h>
#include <string.h>

#include "dense.h"

static uint32_t ep_div_up(uint32_t a, uint32_t b)
{
    return (a + b - 1) / b;
}

uint64_t ep_dense_bytes(uint32_t n)
{
    uint32_t words = ep_div_up(n ? n : 1, 64);
    return sizeof(ep_dense) + (uint64_t)words * 8 +
           (uint64_t)(ep_div_up(words * 64, EP_DENSE_BLOCK) +
                      ep_div_up(words * 64, EP_DENSE_SUPER)) * 2;
}

ep_dense *ep_dense_new(uint32_t n, uint32_t dest)
{
    uint32_t words = ep_div_up(n ? n : 1, 64);
    uint32_t nblk = ep_div_up(words * 64, EP_DENSE_BLOCK);
    uint32_t nsup = ep_div_up(words * 64, EP_DENSE_SUPER);
    ep_dense *d = calloc(1, (size_t)ep_dense_bytes(n));

    if (!d)
        return NULL;
    d->n = n;
    d->dest = dest;
    d->bits = (uint64_t *)(d + 1);
    d->blk = (uint16_t *)(d->bits + words);
    d->sup = d->blk + nblk;
    (void)nsup;
    for (uint32_t i = n; i < words * 64; i++)
        d->bits[i >> 6] |= 1ull << (i & 63);
    return d;
}

void ep_dense_free(ep_dense *d)
{
    free(d);
}

/* Position of the k-th (0-based) set bit of x; x has more than k set bits. */
static uint32_t ep_select64(uint64_t x, uint32_t k)
{
    /* per-byte counts, then their prefix sums in each byte */
    uint64_t b = x - ((x >> 1) & 0x5555555555555555ull);
    b = (b & 0x3333333333333333ull) + ((b >> 2) & 0x3333333333333333ull);
    b = (b + (b >> 4)) & 0x0f0f0f0f0f0f0f0full;
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t prefix = b * ones; /* byte i: bits in bytes 0..i */
    /* The wanted byte is the number of bytes whose prefix is <= k (the
     * prefixes never decrease), counted without a loop: in each byte
     * (k | 0x80) - prefix keeps its high bit iff prefix <= k, and since
     * k < 64 and prefix <= 64 no byte borrows from its neighbour.  The
     * multiply sums the flags into the top byte (at most 7: prefix byte 7
     * is popcount(x) > k). */
    uint64_t le = ((k * ones) | high) - prefix;
    uint32_t byte = (uint32_t)((((le & high) >> 7) * ones) >> 56);
    k -= (uint32_t)(((prefix << 8) >> (8 * byte)) & 0xff); /* bits in bytes below */
    uint32_t v = (uint32_t)(x >> (8 * byte)) & 0xff;
    for (;;) {
        uint32_t low = (uint32_t)__builtin_ctz(v);
        if (k-- == 0)
            return 8 * byte + low;
        v &= v - 1;
    }
}

static uint32_t ep_span(uint32_t n, uint32_t start, uint32_t size)
{
    return n - start < size ? n - start : size;
}

/* Built twice, with and without the POPCNT instruction; the dynamic
 * loader picks the one this CPU supports (GCC function multiversioning).
 * Not with clang: clang 14 names the dispatcher "ep_dense_select.ifunc"
 * unless every declaration carries the attribute, so callers in other files
 * fail to link (the clang TSan and fuzz builds). */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(__clang__)
#if __has_attribute(target_clones)
__attribute__((target_clones("popcnt", "default")))
#endif
#endif
uint32_t ep_dense_select(const ep_dense *d, uint32_t k)
{
    uint32_t s = 0, b, w;

    for (;; s++) {
        uint32_t z = ep_span(d->n, s * EP_DENSE_SUPER, EP_DENSE_SUPER) - d->sup[s];
        if (k < z)
            break;
        k -= z;
    }
    for (b = s * (EP_DENSE_SUPER / EP_DENSE_BLOCK);; b++) {
        uint32_t z = ep_span(d->n, b * EP_DENSE_BLOCK, EP_DENSE_BLOCK) - d->blk[b];
        if (k < z)
            break;
        k -= z;
    }
    for (w = b * (EP_DENSE_BLOCK / 64);; w++) {
        uint32_t z = (uint32_t)__builtin_popcountll(~d->bits[w]);
        if (k < z)
            break;
        k -= z;
    }
    return w * 64 + ep_select64(~d->bits[w], k);
}
