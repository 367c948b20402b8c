/* dist.h - the simulator's randomness: a seeded xoshiro256** generator and
 * the distributions a workload is made of (constant, exponential, lognormal
 * durations; Poisson gaps; Zipf weights).  Private to src/sim. */
#ifndef EP_SIM_DIST_H
#define EP_SIM_DIST_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ep_sim_rng {
    uint64_t s[4];
    double spare;       /* the polar method's second normal, if has_spare */
    int has_spare;
} ep_sim_rng;

/* Seed with splitmix64 (every seed, 0 included, gives a valid state). */
void ep_sim_rng_seed(ep_sim_rng *r, uint64_t seed);

/* The per-draw functions are inline: the simulator makes one to a dozen
 * draws per connection, and the calls cost as much as xoshiro itself. */
static inline uint64_t ep_sim_rng_rotl_(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman & Vigna). */
static inline uint64_t ep_sim_rng_next(ep_sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = ep_sim_rng_rotl_(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ep_sim_rng_rotl_(s[3], 45);
    return result;
}

/* Uniform in the open interval (0, 1): 53 random bits, shifted by half a
 * step, never 0, never 1. */
static inline double ep_sim_rng_uniform(ep_sim_rng *r)
{
    return ((double)(ep_sim_rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t ep_sim_rng_below(ep_sim_rng *r, uint64_t n);

/* The ziggurat of the standard exponential (Marsaglia & Tsang 2000): 256
 * layers of equal area.  Layer i > 0 is the rectangle [0, x_i) x [exp(-x_i),
 * exp(-x_{i-1})] (x_0 = 0, x_255 = R); the part of it left of x_{i-1} lies
 * wholly under the density.  k[i] = 2^53 x_{i-1} / x_i (that part, as a
 * 53-bit threshold), w[i] = x_i / 2^53 (scales a 53-bit draw onto the
 * layer), f[i] = exp(-x_i).  Layer 0 is the base strip and the tail beyond
 * R (dist.c). */
typedef struct ep_zig_exp {
    uint64_t k[256];
    double w[256], f[256];
} ep_zig_exp;
/* Built once, by the first ep_sim_rng_seed(). */
extern const ep_zig_exp *const ep_zig_exp_table;
double ep_sim_rng_exp1_slow(ep_sim_rng *r, unsigned layer, uint64_t j);

/* Standard exponential (mean 1).  One draw: its low 8 bits choose a layer,
 * its high 53 bits a point along it; 98.9 % of draws land wholly under the
 * density and return at once, the rest (the layer's edge wedge, or the
 * tail) take ep_sim_rng_exp1_slow, which is exact.  About a tenth of the cost
 * of -log(uniform). */
static inline double ep_sim_rng_exp1(ep_sim_rng *r)
{
    const ep_zig_exp *z = ep_zig_exp_table;
    uint64_t u = ep_sim_rng_next(r);
    unsigned i = (unsigned)(u & 255);
    uint64_t j = u >> 11;
    if (j < z->k[i])
        return (double)j * z->w[i];
    return ep_sim_rng_exp1_slow(r, i, j);
}

/* Exponential with the given mean (> 0). */
static inline double ep_sim_rng_exponential(ep_sim_rng *r, double mean)
{
    return mean * ep_sim_rng_exp1(r);
}
/* Standard normal (Marsaglia polar method; each draw makes two, the second
 * is kept for the next call). */
double ep_sim_rng_normal(ep_sim_rng *r);

typedef enum ep_dist_kind {
    EP_DIST_CONSTANT = 0,
    EP_DIST_EXPONENTIAL,
    EP_DIST_LOGNORMAL,
} ep_dist_kind;

/* A non-negative random duration in seconds.  mean is the distribution's
 * mean; sigma is the lognormal's shape (standard deviation of the log). */
typedef struct ep_dist {
    ep_dist_kind kind;
    double mean;
    double sigma;
} ep_dist;

/* Parse "0.2", "constant:0.2", "exponential:0.2" (or "exp:0.2"),
 * "lognormal:0.2:1.0".  Returns 0, or -EINVAL with msg (len bytes) filled. */
int ep_dist_parse(const char *text, ep_dist *out, char *msg, size_t len);
/* Canonical text of a distribution (never truncated: needs <= 80 bytes). */
void ep_dist_format(const ep_dist *d, char *buf, size_t len);
/* exp(mu + sigma Z), Z standard normal. */
double ep_sim_rng_lognormal(ep_sim_rng *r, double mu, double sigma);
/* The mu that gives a lognormal d its mean: E[exp(mu + sigma Z)] =
 * exp(mu + sigma^2 / 2) = mean.  A loop drawing many durations computes it
 * once (a log() per draw saved). */
static inline double ep_dist_lognormal_mu(const ep_dist *d)
{
    return log(d->mean) - d->sigma * d->sigma / 2.0;
}
static inline double ep_dist_sample(const ep_dist *d, ep_sim_rng *r)
{
    switch (d->kind) {
    case EP_DIST_EXPONENTIAL:
        return ep_sim_rng_exponential(r, d->mean);
    case EP_DIST_LOGNORMAL:
        return ep_sim_rng_lognormal(r, ep_dist_lognormal_mu(d), d->sigma);
    default:
        return d->mean;
    }
}

/* Zipf weights w[i] = 1 / (i + 1)^s, normalised to sum 1 (s = 0: uniform). */
void ep_zipf_weights(double *w, size_t n, double s);

#endif
