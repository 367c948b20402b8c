/* top-rate.h - the arithmetic behind `ephport top`: the new-connection rate
 * towards one destination estimated from successive socket counts, and the
 * time until that destination runs out of ports at that rate.
 *
 * Kept apart from top.c (screen, keys, signals) so that the estimator is
 * pure functions of numbers and time, tested without a host or a terminal.
 *
 * The estimator.  A sample gives, per destination, `used` (sockets with a
 * local port in the range, TIME_WAIT included) and `time_wait`.  Between two
 * samples at t0 and t1:
 *
 *     new connections  n = (used1 - used0) + E
 *     TIME_WAIT arrivals a = (tw1 - tw0) + E
 *
 * where E is the number of TIME_WAIT entries that expired in (t0, t1]: an
 * entry leaves exactly TIME_WAIT seconds (T) after it arrived.  The track
 * remembers the arrivals it inferred, in one-second buckets, so E is the
 * arrivals of (t0 - T, t1 - T].  Entries already present at the first sample
 * get their ages from their kernel timers where top could read them
 * (ep_top_track_seed); the rest have unknown ages and are assumed spread
 * evenly over the last T seconds (the steady state), so they expire at tw/T
 * per second during the first T seconds.  n and a are clamped at 0 and E at tw0.  The rate is n / (t1-t0).
 *
 * What it cannot see: a connection opened and fully gone between two samples
 * without TIME_WAIT (closed first by the peer, or reset) is not counted, so
 * the rate is a lower bound for such traffic; nor one that takes over a port
 * still in TIME_WAIT (tcp_tw_reuse), which replaces the entry without moving
 * any count (top shows those namespace-wide from TcpExt.TWRecycled).  Without kernel timers, right
 * after start a burst that ended shortly before is taken for steady traffic
 * until T has passed.
 * UDP has no TIME_WAIT: callers pass T = 0 and the rate is the growth of
 * `used`.
 */
#ifndef EP_CLI_TOP_RATE_H
#define EP_CLI_TOP_RATE_H

#include <stdbool.h>
#include <stdint.h>

/* One-second buckets of inferred TIME_WAIT arrivals.  The ring must cover
 * T + the longest interval + 1 s; top caps both at 60 s. */
#define EP_TOP_RING 128
#define EP_TOP_MAX_SPAN 120.0  /* T + interval must stay below this (seconds) */

typedef struct ep_top_track {
    double t_last;             /* time of the last sample (seconds) */
    double t_first;            /* time of the first sample */
    double legacy;             /* TIME_WAIT entries of unknown age at t_first */
    uint32_t used, time_wait;  /* counts at t_last */
    int64_t newest;            /* newest second with a bucket written */
    float arrivals[EP_TOP_RING]; /* arrivals in second s at [s mod EP_TOP_RING] */
} ep_top_track;

/* Start tracking at time t with the counts seen then.  `known_age` is false
 * for a destination present at the program's first sample (its TIME_WAIT
 * entries have unknown ages) and true for one that appeared later (it had no
 * socket at the previous sample, so call with used = tw = 0 at that time and
 * then update). */
void ep_top_track_init(ep_top_track *tr, double t, uint32_t used, uint32_t time_wait,
                       bool known_age);

/* Tell a track started with known_age = false that `count` of its
 * TIME_WAIT entries arrived at time `t_arrival` (<= its first sample), as
 * read from their kernel timers: they leave the unknown-age pool and expire
 * exactly T after t_arrival.  At most the pool's size is moved. */
void ep_top_track_seed(ep_top_track *tr, double t_arrival, uint32_t count);

/* TIME_WAIT entries expected to expire in (t0, t1], not clamped. */
double ep_top_track_expiries(const ep_top_track *tr, double t0, double t1, double tw_len);

/* Feed the sample at time t (> t_last).  Returns the estimated new
 * connections per second over (t_last, t], >= 0; 0 if t <= t_last. */
double ep_top_track_update(ep_top_track *tr, double t, uint32_t used, uint32_t time_wait,
                           double tw_len);

/* Seconds until the destination has no free port if new connections keep
 * arriving at `rate` per second, each holding its port for TIME_WAIT
 * `tw_len` after it closes.  free = ports still free, time_wait = entries now.
 * Model: current TIME_WAIT entries expire evenly over tw_len, so for
 * t <= tw_len free(t) = free - (rate - time_wait/tw_len) t and afterwards the
 * occupancy is flat.  Returns 0 if free <= 0, INFINITY when the rate is
 * sustainable (rate * tw_len < free + time_wait).  tw_len = 0 (UDP): free /
 * rate, INFINITY if rate is 0. */
double ep_top_time_to_exhaustion(double rate, int64_t free, uint32_t time_wait, double tw_len);

/* "12 s", "4 min", "2.5 h", "never", "now" into buf (at least 16 bytes). */
void ep_top_format_duration(double seconds, char *buf, unsigned long len);

#endif
