/* top-rate.h - the arithmetic behind `ephport top`: the new-connection rate
 * towards one destination from successive socket dumps, and the time until
 * that destination runs out of ports at that rate.
 *
 * Kept apart from top.c (screen, keys, signals) so that the estimator is
 * pure functions of numbers and time, tested without a host or a terminal.
 *
 * Why connections are counted, not inferred.  A connection closed first by
 * this side goes ESTABLISHED -> ... -> TIME_WAIT -> gone, so between two
 * samples new connections = change in used + departures from TIME_WAIT.
 * Top used to count that way, with the departures inferred: entries were
 * assumed to leave exactly T = 60 s after they arrived.  Linux does not do
 * that.  Measured on this kernel (6.18, HZ=250) in a private namespace, 200
 * loopback connections closed client-first at 10/s, sock_diag dumped every
 * 20 ms: each TIME_WAIT entry's timer reads 60.000 s (-4 ms) when it
 * appears, but entries leave 60.04-62.06 s after the close (mean 61.03 s),
 * in batches every 2.04-2.06 s (15-21 entries each at 10/s), and while they
 * wait for their batch sock_diag shows their timer as 0.  The TIME_WAIT
 * timer is a timer-wheel timer: 60 s is 15000 jiffies at HZ=250, which the
 * wheel files in its level of 512-jiffy (2.048 s) buckets, rounding the
 * expiry up to the bucket's end (HZ=100: 5.12 s buckets, HZ=1000: 4.096 s).
 * With departures inferred evenly and real ones in batches, a steady 12/s
 * read 24, 0, 24, 0 ... frame after frame, and the time to exhaustion
 * flipped between a number and "never" with it.  Smoothing over a window
 * does not cure that without a window of many batches (30 s and more, which
 * would take as long to follow a change of rate), and modelling the wheel
 * would need HZ, which user space cannot read.  Counting arrivals into
 * TIME_WAIT instead (new = change in non-TIME_WAIT sockets + arrivals) is
 * exact in itself, but needs the counts and the arrivals from the same
 * moment; from two dumps (the snapshot's and a TIME_WAIT one) a connection
 * that closes between them is off by one in two frames.
 *
 * So top counts connections by socket cookie.  Each frame it dumps the TCP
 * sockets on ephemeral ports in every connection state (top-tw.c) and
 * notes their cookies.  The kernel keeps one cookie for a connection from
 * SYN_SENT through FIN_WAIT2 to the end of its TIME_WAIT (the TIME_WAIT
 * entry copies the socket's), and a connection that takes a 4-tuple over
 * later (tcp_tw_reuse) is a new socket with a new cookie; checked on 6.18:
 * the cookie seen while ESTABLISHED, FIN_WAIT2 and TIME_WAIT is the same
 * and equals SO_COOKIE.  A new connection is a cookie that was not in the
 * previous dump (ep_top_arrivals_*), except a TIME_WAIT entry whose timer
 * says it entered TIME_WAIT before that dump began: the dump skipped it (a
 * netlink dump is not a consistent snapshot when the table changes under
 * it), it is not new.  The rate is new connections / time between the two
 * dumps.  When entries expire no longer matters, there is no warm-up, and a
 * change of rate shows in the next frame.
 *
 * What it cannot see: a connection that opens and is gone between two
 * dumps without TIME_WAIT on this side (closed first by the peer, or reset)
 * is not counted, so the rate is a lower bound for such traffic.  A socket
 * in a state other than TIME_WAIT that a dump skips and the next one shows
 * is counted twice; that needs the kernel's hash bucket at a dump's buffer
 * boundary to change in the microseconds between two reads.  Connections
 * that take over a port still in TIME_WAIT (tcp_tw_reuse) are counted:
 * they are new sockets.
 *
 * Without that dump (sock_diag unusable at start) top falls back to
 * inferring departures (ep_top_track_update): entries leave T after they
 * arrived, in one-second buckets; entries present at the first sample are
 * assumed evenly aged.  That estimate is right on average but not frame by
 * frame under batched expiry.  UDP has no TIME_WAIT and is not dumped: its
 * rate is the growth of `used` (ep_top_track_update with T = 0).
 *
 * Time to exhaustion: see ep_top_time_to_exhaustion.  Around the sustainable
 * rate a few connections more or less in a frame would flip it between a
 * number and "never"; ep_top_track_exhaustion keeps a number until the rate
 * is clearly (EP_TOP_EXHAUST_BAND) below the sustainable rate.  That errs on
 * the side of warning, never of headroom.
 */
#ifndef EPHPORT_CONN_RATE_H
#define EPHPORT_CONN_RATE_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One-second buckets of inferred TIME_WAIT arrivals (fallback only).  The
 * ring must cover T + the longest interval + 1 s; top caps both at 60 s. */
#define EP_TOP_RING 128
#define EP_TOP_MAX_SPAN 120.0  /* T + interval must stay below this (seconds) */

/* Once a destination has had a time to exhaustion, "never" comes back only
 * when the rate is below (1 - this) x the sustainable rate. */
#define EP_TOP_EXHAUST_BAND 0.10

/* A TIME_WAIT timer read at t_read may be off by a jiffy (up to 10 ms at
 * HZ=100) plus the kernel's rounding to milliseconds. */
#define EP_TOP_TIMER_SLACK 0.05

typedef struct ep_top_track {
    double t_last;             /* time of the last sample (seconds) */
    double t_first;            /* time of the first sample */
    double legacy;             /* fallback: TIME_WAIT entries of unknown age at t_first */
    uint32_t used, time_wait;  /* fallback: counts at t_last */
    bool exhausting;           /* the last time to exhaustion was a number */
    int64_t newest;            /* fallback: newest second with a bucket written */
    float arrivals[EP_TOP_RING]; /* fallback: arrivals in second s at [s mod EP_TOP_RING] */
} ep_top_track;

/* Start tracking at time t with the counts seen then.  `known_age` is false
 * for a destination present at the program's first sample (its TIME_WAIT
 * entries have unknown ages) and true for one that appeared later (it had no
 * socket at the previous sample, so call with used = tw = 0 at that time and
 * then update). */
EP_API void ep_top_track_init(ep_top_track *tr, double t, uint32_t used, uint32_t time_wait,
                       bool known_age);

/* Feed the dump at time t (> t_last) with `arrivals`, the connections it
 * showed for the first time (ep_top_arrivals_add).  Returns the new
 * connections per second over (t_last, t]: arrivals / (t - t_last); 0 if
 * t <= t_last (nothing changes then). */
EP_API double ep_top_track_count(ep_top_track *tr, double t, uint32_t arrivals);

/* Fallback without TIME_WAIT timers.  TIME_WAIT entries expected to expire
 * in (t0, t1], not clamped. */
EP_API double ep_top_track_expiries(const ep_top_track *tr, double t0, double t1, double tw_len);

/* Fallback: feed the sample at time t (> t_last).  Returns the estimated new
 * connections per second over (t_last, t], >= 0; 0 if t <= t_last. */
EP_API double ep_top_track_update(ep_top_track *tr, double t, uint32_t used, uint32_t time_wait,
                           double tw_len);

/* Which connections are new since the previous dump, by socket cookie.
 * Use: init; per dump begin, add for every socket, then end (or abort if
 * the dump failed, which keeps the previous one); free. */
typedef struct ep_top_arrivals {
    uint64_t *prev, *cur;  /* cookies of the last complete dump (sorted), of the one under way */
    size_t nprev, ncur, capprev, capcur;
    double t_prev, t_cur;  /* when they began */
    bool have_prev;
    bool nomem;            /* an allocation failed during the dump under way */
} ep_top_arrivals;

EP_API void ep_top_arrivals_init(ep_top_arrivals *a);
EP_API void ep_top_arrivals_free(ep_top_arrivals *a);
/* A dump begins at time t (before the first entry is read). */
EP_API void ep_top_arrivals_begin(ep_top_arrivals *a, double t);
/* One socket of the dump under way: its cookie and, for a TIME_WAIT entry,
 * the seconds its timer had left (`tw_left`, read no later than t_read;
 * negative for any other state); tw_len is the TIME_WAIT timer's length
 * (60 s).  Returns true if the connection is new: its cookie is not in the
 * previous dump and, in TIME_WAIT, t_read + tw_left - tw_len >= that dump's
 * start - EP_TOP_TIMER_SLACK.  Nothing is new in the first dump.  A cookie
 * added twice to one dump (the table changed under it) is true twice: the
 * caller counts distinct cookies. */
EP_API bool ep_top_arrivals_add(ep_top_arrivals *a, uint64_t cookie, double tw_left, double t_read,
                         double tw_len);
/* The dump completed: it becomes the previous one.  Returns 0, or EP_ENOMEM
 * if an add could not record its cookie: then the dump is dropped as by
 * ep_top_arrivals_abort and its arrivals must not be used. */
EP_API int ep_top_arrivals_end(ep_top_arrivals *a);
/* The dump failed: forget it; the next one is compared with the previous. */
EP_API void ep_top_arrivals_abort(ep_top_arrivals *a);

/* Seconds until the destination has no free port if new connections keep
 * arriving at `rate` per second, each holding its port for TIME_WAIT
 * `tw_len` after it closes.  free = ports still free, time_wait = entries now.
 * Model: current TIME_WAIT entries expire evenly over tw_len, so for
 * t <= tw_len free(t) = free - (rate - time_wait/tw_len) t and afterwards the
 * occupancy is flat.  Returns 0 if free <= 0, INFINITY when the rate is
 * sustainable (rate * tw_len < free + time_wait).  tw_len = 0 (UDP): free /
 * rate, INFINITY if rate is 0.  At the sustainable rate exactly the result
 * is tw_len, and it falls as the rate grows. */
EP_API double ep_top_time_to_exhaustion(double rate, int64_t free, uint32_t time_wait, double tw_len);

/* ep_top_time_to_exhaustion with hysteresis on the never / number verdict:
 * after a number, a rate that the formula calls sustainable but that is
 * within EP_TOP_EXHAUST_BAND of the sustainable rate (free + time_wait) /
 * tw_len still gets a number, the formula's value at the sustainable rate
 * (tw_len).  A rate below that band gives "never" again. */
EP_API double ep_top_track_exhaustion(ep_top_track *tr, double rate, int64_t free, uint32_t time_wait,
                               double tw_len);

/* "12 s", "4 min", "2.5 h", "never", "now" into buf (at least 16 bytes). */
EP_API void ep_top_format_duration(double seconds, char *buf, unsigned long len);

#endif
