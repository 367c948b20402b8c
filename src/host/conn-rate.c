/* top-rate.c - `ephport top`'s estimator: new connections per second towards
 * a destination counted by socket cookie, the fallback that infers them from
 * successive (used, TIME_WAIT) counts, and the time to exhaustion at that
 * rate.  Why it counts and what it cannot see are in top-rate.h; this file
 * is only arithmetic on numbers, times and sorted arrays of cookies. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/error.h>

#include <ephport/conn-rate.h>

static double ep_top_overlap(double a0, double a1, double b0, double b1)
{
    double lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0.0;
}

static size_t ep_top_slot(int64_t sec)
{
    int64_t m = sec % EP_TOP_RING;
    return (size_t)(m < 0 ? m + EP_TOP_RING : m);
}

/* Bucket of second `sec` if the ring still holds it, else 0. */
static double ep_top_bucket(const ep_top_track *tr, int64_t sec)
{
    if (sec > tr->newest || sec <= tr->newest - EP_TOP_RING)
        return 0.0;
    return tr->arrivals[ep_top_slot(sec)];
}

/* Make second `sec` writable: clear every slot between the newest one and it. */
static void ep_top_advance(ep_top_track *tr, int64_t sec)
{
    if (sec <= tr->newest)
        return;
    if (sec - tr->newest >= EP_TOP_RING)
        memset(tr->arrivals, 0, sizeof tr->arrivals);
    else
        for (int64_t s = tr->newest + 1; s <= sec; s++)
            tr->arrivals[ep_top_slot(s)] = 0.0f;
    tr->newest = sec;
}

void ep_top_track_init(ep_top_track *tr, double t, uint32_t used, uint32_t time_wait,
                       bool known_age)
{
    memset(tr, 0, sizeof *tr);
    tr->t_last = t;
    tr->t_first = t;
    tr->used = used;
    tr->time_wait = time_wait;
    tr->legacy = known_age ? 0.0 : (double)time_wait;
    tr->newest = (int64_t)floor(t);
}

double ep_top_track_count(ep_top_track *tr, double t, uint32_t arrivals)
{
    double dt = t - tr->t_last;

    if (!(dt > 0.0))
        return 0.0;
    tr->t_last = t;
    return (double)arrivals / dt;
}

double ep_top_track_expiries(const ep_top_track *tr, double t0, double t1, double tw_len)
{
    double e = 0.0;
    if (tw_len <= 0.0 || t1 <= t0)
        return 0.0;
    /* Entries of unknown age: evenly spread, all gone T after the first sample. */
    e += tr->legacy * ep_top_overlap(t0, t1, tr->t_first, tr->t_first + tw_len) / tw_len;
    /* Entries that arrived in (t0 - T, t1 - T] leave now. */
    for (int64_t s = (int64_t)floor(t0 - tw_len); (double)s < t1 - tw_len; s++)
        e += ep_top_bucket(tr, s) * ep_top_overlap(t0 - tw_len, t1 - tw_len, (double)s,
                                                   (double)s + 1.0);
    return e;
}

double ep_top_track_update(ep_top_track *tr, double t, uint32_t used, uint32_t time_wait,
                           double tw_len)
{
    double t0 = tr->t_last, dt = t - t0, e, n, a;

    if (!(dt > 0.0))
        return 0.0;
    e = ep_top_track_expiries(tr, t0, t, tw_len);
    if (e > tr->time_wait)
        e = tr->time_wait;
    n = (double)used - (double)tr->used + e;
    a = (double)time_wait - (double)tr->time_wait + e;
    if (n < 0.0)
        n = 0.0;
    if (a < 0.0)
        a = 0.0;
    if (tw_len > 0.0 && a > 0.0) {
        /* Spread the arrivals evenly over (t0, t] in one-second buckets. */
        ep_top_advance(tr, (int64_t)floor(t));
        for (int64_t s = (int64_t)floor(t0); (double)s < t; s++)
            if (s > tr->newest - EP_TOP_RING)
                tr->arrivals[ep_top_slot(s)] +=
                    (float)(a * ep_top_overlap(t0, t, (double)s, (double)s + 1.0) / dt);
    } else {
        ep_top_advance(tr, (int64_t)floor(t));
    }
    tr->t_last = t;
    tr->used = used;
    tr->time_wait = time_wait;
    return n / dt;
}

void ep_top_arrivals_init(ep_top_arrivals *a)
{
    memset(a, 0, sizeof *a);
}

void ep_top_arrivals_free(ep_top_arrivals *a)
{
    free(a->prev);
    free(a->cur);
    memset(a, 0, sizeof *a);
}

void ep_top_arrivals_begin(ep_top_arrivals *a, double t)
{
    a->ncur = 0;
    a->t_cur = t;
    a->nomem = false;
}

static int ep_top_cookie_cmp(const void *pa, const void *pb)
{
    uint64_t x = *(const uint64_t *)pa, y = *(const uint64_t *)pb;
    return x < y ? -1 : x > y;
}

bool ep_top_arrivals_add(ep_top_arrivals *a, uint64_t cookie, double tw_left, double t_read,
                         double tw_len)
{
    if (a->ncur == a->capcur && !a->nomem) {
        size_t cap = a->capcur ? 2 * a->capcur : 1024;
        uint64_t *v = cap > SIZE_MAX / sizeof *v ? NULL : realloc(a->cur, cap * sizeof *v);
        if (v) {
            a->cur = v;
            a->capcur = cap;
        } else {
            a->nomem = true;
        }
    }
    if (a->nomem)
        return false;
    assert(a->ncur < a->capcur);
    a->cur[a->ncur++] = cookie;
    if (!a->have_prev)
        return false;
    if (a->nprev && bsearch(&cookie, a->prev, a->nprev, sizeof *a->prev, ep_top_cookie_cmp))
        return false;
    /* Not seen before.  A TIME_WAIT timer started at tw_len when the entry
     * entered; if that was before the previous dump began, it skipped it. */
    return !(tw_left >= 0.0) || t_read + tw_left - tw_len >= a->t_prev - EP_TOP_TIMER_SLACK;
}

int ep_top_arrivals_end(ep_top_arrivals *a)
{
    uint64_t *v;
    size_t cap;

    if (a->nomem) {
        ep_top_arrivals_abort(a);
        return EP_ENOMEM;
    }
    if (a->ncur > 1)
        qsort(a->cur, a->ncur, sizeof *a->cur, ep_top_cookie_cmp);
    v = a->prev, a->prev = a->cur, a->cur = v;
    cap = a->capprev, a->capprev = a->capcur, a->capcur = cap;
    a->nprev = a->ncur;
    a->ncur = 0;
    assert(a->nprev <= a->capprev);
    a->t_prev = a->t_cur;
    a->have_prev = true;
    return 0;
}

void ep_top_arrivals_abort(ep_top_arrivals *a)
{
    a->ncur = 0;
    a->nomem = false;
}

double ep_top_time_to_exhaustion(double rate, int64_t free, uint32_t time_wait, double tw_len)
{
    double net;
    if (free <= 0)
        return 0.0;
    if (!(rate > 0.0))
        return INFINITY;
    if (tw_len <= 0.0)
        return (double)free / rate;
    /* Steady state at this rate holds rate * T ports in TIME_WAIT. */
    if (rate * tw_len < (double)free + (double)time_wait)
        return INFINITY;
    net = rate - (double)time_wait / tw_len; /* > 0 here, since free > 0 */
    return (double)free / net;
}

double ep_top_track_exhaustion(ep_top_track *tr, double rate, int64_t free, uint32_t time_wait,
                               double tw_len)
{
    double tte = ep_top_time_to_exhaustion(rate, free, time_wait, tw_len), sustainable;

    if (!isinf(tte)) {
        tr->exhausting = true;
        return tte;
    }
    if (!tr->exhausting || tw_len <= 0.0 || !(rate > 0.0))
        return tte;
    /* free > 0 here; at the sustainable rate the formula gives tw_len. */
    sustainable = ((double)free + (double)time_wait) / tw_len;
    if (rate >= (1.0 - EP_TOP_EXHAUST_BAND) * sustainable)
        return tw_len;
    tr->exhausting = false;
    return tte;
}

void ep_top_format_duration(double seconds, char *buf, unsigned long len)
{
    if (isinf(seconds))
        snprintf(buf, len, "never");
    else if (seconds <= 0.0)
        snprintf(buf, len, "now");
    else if (seconds < 60.0)
        snprintf(buf, len, "%.0f s", ceil(seconds));
    else if (seconds < 3600.0)
        snprintf(buf, len, "%.0f min", floor(seconds / 60.0));
    else if (seconds < 86400.0)
        snprintf(buf, len, "%.1f h", seconds / 3600.0);
    else
        snprintf(buf, len, "%.1f d", seconds / 86400.0);
}
