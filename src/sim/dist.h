/* dist.h - the simulator's randomness: a seeded xoshiro256** generator and
 * the distributions a workload is made of (constant, exponential, lognormal
 * durations; Poisson gaps; Zipf weights).  Private to src/sim. */
#ifndef EP_SIM_DIST_H
#define EP_SIM_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct ep_rng {
    uint64_t s[4];
    double spare;       /* the polar method's second normal, if has_spare */
    int has_spare;
} ep_rng;

/* Seed with splitmix64 (every seed, 0 included, gives a valid state). */
void ep_rng_seed(ep_rng *r, uint64_t seed);
uint64_t ep_rng_next(ep_rng *r);
/* Uniform in the open interval (0, 1). */
double ep_rng_uniform(ep_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t ep_rng_below(ep_rng *r, uint64_t n);
/* Exponential with the given mean (> 0). */
double ep_rng_exponential(ep_rng *r, double mean);
/* Standard normal (Marsaglia polar method; each draw makes two, the second
 * is kept for the next call). */
double ep_rng_normal(ep_rng *r);

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
double ep_dist_sample(const ep_dist *d, ep_rng *r);

/* Zipf weights w[i] = 1 / (i + 1)^s, normalised to sum 1 (s = 0: uniform). */
void ep_zipf_weights(double *w, size_t n, double s);

#endif
