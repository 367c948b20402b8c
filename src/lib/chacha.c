/* chacha.c - ChaCha20 (RFC 8439 block function) as the engine's CSPRNG.
 *
 * Every random choice the engine makes (the default algorithm's draws, the
 * RFC 6056 offsets and increments, the secrets of the keyed hashes) comes
 * from here.  Keys come from getrandom(2), so an observer cannot predict
 * the next port; with cfg.seeded the key is derived from cfg.seed so that a
 * test or a simulation replays exactly.  Output is produced eight blocks at
 * a time into a buffer, the eight computed side by side in vector lanes:
 * one refill serves 128 draws. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "chacha.h"
#include "siphash.h"

#define ROTL32(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QR(a, b, c, d)                                   \
    do {                                                 \
        a += b; d ^= a; d = ROTL32(d, 16);               \
        c += d; b ^= c; b = ROTL32(b, 12);               \
        a += b; d ^= a; d = ROTL32(d, 8);                \
        c += d; b ^= c; b = ROTL32(b, 7);                \
    } while (0)

void ep_chacha20_block(const uint32_t key[8], uint64_t counter, uint32_t out[16])
{
    uint32_t s[16], x[16];

    s[0] = 0x61707865; s[1] = 0x3320646e; s[2] = 0x79622d32; s[3] = 0x6b206574;
    memcpy(s + 4, key, 32);
    s[12] = (uint32_t)counter;
    s[13] = (uint32_t)(counter >> 32);
    s[14] = 0;
    s[15] = 0;
    memcpy(x, s, sizeof x);
    for (int i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++)
        out[i] = x[i] + s[i];
}

/* Eight blocks at once, one per lane of 256-bit vectors (GCC/Clang vector
 * extensions).  Built twice on x86-64 with GCC: for AVX2, where the eight
 * lanes are one register and a refill costs about what one scalar block
 * does, and for baseline x86-64, where the compiler splits each operation
 * into two SSE2 ones (the cost per word of a four-lane version); the
 * library picks the one the CPU supports when it loads (not with clang,
 * which builds the baseline only).
 * Same output as eight calls of ep_chacha20_block with consecutive
 * counters, whichever is built (checked by the unit test), so seeded
 * streams do not depend on the CPU. */
typedef uint32_t ep_v8 __attribute__((vector_size(32)));
#define VROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define VQR(a, b, c, d)                                  \
    do {                                                 \
        a += b; d ^= a; d = VROTL(d, 16);                \
        c += d; b ^= c; b = VROTL(b, 12);                \
        a += b; d ^= a; d = VROTL(d, 8);                 \
        c += d; b ^= c; b = VROTL(b, 7);                 \
    } while (0)

static inline __attribute__((always_inline)) void ep_rng_refill_body(ep_rng *r)
{
    ep_v8 s[16], x[16];
    static const uint32_t sigma[4] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 };

    for (int i = 0; i < 4; i++)
        s[i] = (ep_v8){ 0 } + sigma[i];
    for (int i = 0; i < 8; i++)
        s[4 + i] = (ep_v8){ 0 } + r->key[i];
    for (int l = 0; l < 8; l++) {
        uint64_t c = r->counter + (uint64_t)l;
        s[12][l] = (uint32_t)c;
        s[13][l] = (uint32_t)(c >> 32);
    }
    s[14] = s[15] = (ep_v8){ 0 };
    memcpy(x, s, sizeof x);
    for (int i = 0; i < 10; i++) {
        VQR(x[0], x[4], x[8], x[12]);
        VQR(x[1], x[5], x[9], x[13]);
        VQR(x[2], x[6], x[10], x[14]);
        VQR(x[3], x[7], x[11], x[15]);
        VQR(x[0], x[5], x[10], x[15]);
        VQR(x[1], x[6], x[11], x[12]);
        VQR(x[2], x[7], x[8], x[13]);
        VQR(x[3], x[4], x[9], x[14]);
    }
    for (int w = 0; w < 16; w++) {
        ep_v8 o = x[w] + s[w];
        for (int l = 0; l < 8; l++)
            r->buf[16 * l + w] = o[l];
    }
    r->counter += 8;
    r->pos = 0;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* The choice is made once, by a constructor, and called through a pointer.
 * Not GCC's target_clones: its generated resolver is an exported weak
 * symbol whatever the visibility, which would leak into libephport's ABI.
 * Not an ifunc either: its resolver runs while the dynamic loader (or the
 * static startup code) applies relocations, before AddressSanitizer's
 * runtime is up, and an instrumented resolver crashes there.  One indirect
 * call per 128 words costs nothing measurable. */
__attribute__((target("avx2"))) static void ep_rng_refill_avx2(ep_rng *r)
{
    ep_rng_refill_body(r);
}

static void ep_rng_refill_baseline(ep_rng *r)
{
    ep_rng_refill_body(r);
}

static void (*ep_rng_refill_impl)(ep_rng *) = ep_rng_refill_baseline;

/* Before main and before any thread: the pointer is written once. */
__attribute__((constructor)) static void ep_rng_refill_pick(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        ep_rng_refill_impl = ep_rng_refill_avx2;
}

void ep_rng_refill(ep_rng *r)
{
    ep_rng_refill_impl(r);
}
#else
void ep_rng_refill(ep_rng *r)
{
    ep_rng_refill_body(r);
}
#endif

int ep_rng_init(ep_rng *r, bool seeded, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    if (seeded) {
        /* Expand the 64-bit seed into a 256-bit key with SipHash under a
         * fixed key: nearby seeds give unrelated streams. */
        static const uint8_t k[16] = "ephport-seed-key";
        for (uint32_t i = 0; i < 4; i++) {
            uint64_t in[2] = { seed, i }, h = ep_siphash24(k, in, sizeof in);
            r->key[2 * i] = (uint32_t)h;
            r->key[2 * i + 1] = (uint32_t)(h >> 32);
        }
    } else {
        size_t got = 0;
        while (got < sizeof r->key) {
            ssize_t n = getrandom((uint8_t *)r->key + got, sizeof r->key - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -EIO;
            }
            got += (size_t)n;
        }
    }
    r->pos = EP_RNG_BUFWORDS; /* refill on first use */
    return 0;
}

void ep_rng_bytes(ep_rng *r, void *out, size_t len)
{
    uint8_t *p = out;
    while (len) {
        uint32_t w = ep_rng_u32(r);
        size_t n = len < 4 ? len : 4;
        memcpy(p, &w, n);
        p += n;
        len -= n;
    }
}
