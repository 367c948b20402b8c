/* dist.c - deterministic randomness for the simulator.
 *
 * xoshiro256** (Blackman & Vigna) seeded through splitmix64: fast, 256 bits of
 * state, and the same sequence on every machine for a given seed, which is
 * what makes `ephport simulate --seed N` byte-for-byte reproducible.  The
 * engine's own randomness is seeded separately (ep_pool_config.seed).
 *
 * Distributions are parameterised by their mean, so a planner's closed form
 * (Little's law needs only the mean duration) and the simulator agree on what
 * "duration = lognormal:0.2:1" means.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

static uint64_t ep_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- the exponential ziggurat ---------------------------------------------
 * Marsaglia & Tsang, "The Ziggurat Method for Generating Random Variables"
 * (J. Stat. Softw. 5(8), 2000), with 53-bit draws instead of 32-bit ones and
 * the layer index taken from bits the draw does not use.  R is where the
 * base strip ends and the tail begins, V the area of every layer. */
#define EP_ZIG_R 7.69711747013104972
#define EP_ZIG_V 3.949659822581572e-3
#define EP_ZIG_M 9007199254740992.0 /* 2^53 */

static ep_zig_exp ep_zig_exp_storage;
const ep_zig_exp *const ep_zig_exp_table = &ep_zig_exp_storage;
static pthread_once_t ep_zig_once = PTHREAD_ONCE_INIT;

static void ep_zig_exp_build(void)
{
    ep_zig_exp *z = &ep_zig_exp_storage;
    double x = EP_ZIG_R, prev = EP_ZIG_R;
    double q = EP_ZIG_V / exp(-EP_ZIG_R); /* width of the base strip */

    z->k[0] = (uint64_t)(EP_ZIG_R / q * EP_ZIG_M);
    z->k[1] = 0;
    z->w[0] = q / EP_ZIG_M;
    z->w[255] = EP_ZIG_R / EP_ZIG_M;
    z->f[0] = 1.0;
    z->f[255] = exp(-EP_ZIG_R);
    for (int i = 254; i >= 1; i--) {
        x = -log(EP_ZIG_V / x + exp(-x));
        z->k[i + 1] = (uint64_t)(x / prev * EP_ZIG_M);
        prev = x;
        z->f[i] = exp(-x);
        z->w[i] = x / EP_ZIG_M;
    }
}

double ep_sim_rng_exp1_slow(ep_sim_rng *r, unsigned i, uint64_t j)
{
    const ep_zig_exp *z = ep_zig_exp_table;
    for (;;) {
        double x;
        if (i == 0) /* the tail: memoryless, so R plus a fresh exponential */
            return EP_ZIG_R - log(ep_sim_rng_uniform(r));
        x = (double)j * z->w[i];
        /* the wedge: accept under the density, between f[i] and f[i - 1] */
        if (z->f[i] + ep_sim_rng_uniform(r) * (z->f[i - 1] - z->f[i]) < exp(-x))
            return x;
        uint64_t u = ep_sim_rng_next(r);
        i = (unsigned)(u & 255);
        j = u >> 11;
        if (j < z->k[i])
            return (double)j * z->w[i];
    }
}

void ep_sim_rng_seed(ep_sim_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    pthread_once(&ep_zig_once, ep_zig_exp_build);
    for (int i = 0; i < 4; i++)
        r->s[i] = ep_splitmix64(&x);
    r->spare = 0;
    r->has_spare = 0;
}

uint64_t ep_sim_rng_below(ep_sim_rng *r, uint64_t n)
{
    uint64_t limit = -n % n; /* 2^64 mod n: reject the short final cycle */
    uint64_t x;
    do
        x = ep_sim_rng_next(r);
    while (x < limit);
    return x % n;
}

double ep_sim_rng_normal(ep_sim_rng *r)
{
    double u, v, s, f;
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    do {
        u = 2.0 * ep_sim_rng_uniform(r) - 1.0;
        v = 2.0 * ep_sim_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

/* A finite, non-negative number filling the whole string. */
static int ep_dist_number(const char *text, double *out)
{
    char *end;
    double v;
    if (!text || !*text)
        return -EINVAL;
    errno = 0;
    v = strtod(text, &end);
    if (errno || *end != '\0' || !isfinite(v) || v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}

int ep_dist_parse(const char *text, ep_dist *out, char *msg, size_t len)
{
    char buf[128], *colon, *arg, *arg2 = NULL;
    ep_dist d = { EP_DIST_CONSTANT, 0, 0 };

    if (!text || strlen(text) >= sizeof buf) {
        snprintf(msg, len, "distribution text is missing or too long");
        return -EINVAL;
    }
    strcpy(buf, text);
    colon = strchr(buf, ':');
    if (!colon) {
        if (ep_dist_number(buf, &d.mean) != 0) {
            snprintf(msg, len, "'%s' is not a distribution (constant, exponential:MEAN, "
                     "lognormal:MEAN:SIGMA) nor a non-negative number of seconds", text);
            return -EINVAL;
        }
        *out = d;
        return 0;
    }
    *colon = '\0';
    arg = colon + 1;
    if (strcmp(buf, "constant") == 0 || strcmp(buf, "fixed") == 0) {
        d.kind = EP_DIST_CONSTANT;
    } else if (strcmp(buf, "exponential") == 0 || strcmp(buf, "exp") == 0) {
        d.kind = EP_DIST_EXPONENTIAL;
    } else if (strcmp(buf, "lognormal") == 0) {
        d.kind = EP_DIST_LOGNORMAL;
        arg2 = strchr(arg, ':');
        if (!arg2) {
            snprintf(msg, len, "lognormal needs MEAN:SIGMA, as in lognormal:0.2:1.0");
            return -EINVAL;
        }
        *arg2++ = '\0';
    } else {
        snprintf(msg, len, "unknown distribution '%s' (constant, exponential, lognormal)", buf);
        return -EINVAL;
    }
    if (ep_dist_number(arg, &d.mean) != 0) {
        snprintf(msg, len, "the mean of %s must be a non-negative number of seconds, not '%s'",
                 buf, arg);
        return -EINVAL;
    }
    if (d.kind == EP_DIST_EXPONENTIAL && d.mean <= 0) {
        snprintf(msg, len, "the mean of exponential must be above 0");
        return -EINVAL;
    }
    if (arg2 && (ep_dist_number(arg2, &d.sigma) != 0 || d.sigma > 10)) {
        snprintf(msg, len, "lognormal sigma must be a number in [0, 10], not '%s'", arg2);
        return -EINVAL;
    }
    if (d.kind == EP_DIST_LOGNORMAL && d.mean <= 0) {
        snprintf(msg, len, "the mean of lognormal must be above 0");
        return -EINVAL;
    }
    *out = d;
    return 0;
}

void ep_dist_format(const ep_dist *d, char *buf, size_t len)
{
    switch (d->kind) {
    case EP_DIST_EXPONENTIAL:
        snprintf(buf, len, "exponential:%g", d->mean);
        break;
    case EP_DIST_LOGNORMAL:
        snprintf(buf, len, "lognormal:%g:%g", d->mean, d->sigma);
        break;
    default:
        snprintf(buf, len, "constant:%g", d->mean);
        break;
    }
}

double ep_sim_rng_lognormal(ep_sim_rng *r, double mu, double sigma)
{
    return exp(mu + sigma * ep_sim_rng_normal(r));
}

void ep_zipf_weights(double *w, size_t n, double s)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        w[i] = s == 0 ? 1.0 : pow((double)(i + 1), -s);
        sum += w[i];
    }
    for (size_t i = 0; i < n; i++)
        w[i] /= sum;
}
