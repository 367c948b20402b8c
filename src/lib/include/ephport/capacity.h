/* ephport/capacity.h - the capacity rules, in one place: how long Linux
 * really keeps a TIME_WAIT entry, when tcp_tw_reuse lets connect() take one
 * over, the sustainable rate of new connections, and the Erlang-B loss
 * arithmetic that sizes a range for a failure probability.
 *
 * Every face that states a capacity (the planner, status / check advice, top,
 * advise, and the engine's Linux mode) calls these functions instead of
 * doing its own arithmetic, so the rules cannot drift apart.  Pure functions,
 * libc only, no state.  Times in the TIME_WAIT functions are ep_time
 * (nanoseconds); rates and hold times elsewhere are seconds as double.
 */
#ifndef EPHPORT_CAPACITY_H
#define EPHPORT_CAPACITY_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stdint.h>

#include <ephport/addr.h>
#include <ephport/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Linux's TIME_WAIT length (TCP_TIMEWAIT_LEN): 60 s, no sysctl changes it. */
#define EP_LINUX_TIME_WAIT EP_SEC(60)

/* The granularity of the kernel's timer wheel for a timer `delay` from now
 * at CONFIG_HZ = hz (kernel/time/timer.c: 64 buckets per level, level n
 * holding delays from 63 x 8^(n-1) jiffies with a granularity of 8^n
 * jiffies).  The wheel rounds a timer's expiry up to its level's
 * granularity, so the timer fires between delay + 1 jiffy and delay +
 * granularity after it was armed.  60 s: 2.048 s at HZ=250, 1.707 s at
 * HZ=300, 4.096 s at HZ=1000, 5.12 s at HZ=100.  0 when hz is 0. */
EP_API ep_time ep_linux_timer_granularity(ep_time delay, unsigned hz);

/* The longest the kernel keeps a TIME_WAIT entry of `nominal` length on a
 * kernel built with CONFIG_HZ = hz: nominal + the wheel's granularity
 * (above).  hz = 0 means "not known": the worst of the usual CONFIG_HZ
 * values (100, 250, 300, 1000), 65.12 s for 60 s. */
EP_API ep_time ep_linux_time_wait_upper_hz(ep_time nominal, unsigned hz);

/* ep_linux_time_wait_upper_hz(nominal, 0): what a planner that does not
 * know the target kernel's HZ must assume so as not to overstate headroom
 * (measured on Linux 6.18, HZ=250: 60.01-62.05 s, docs/BENCHMARKS.md). */
EP_API ep_time ep_linux_time_wait_upper(ep_time nominal);

/* Whether tcp_tw_reuse lets connect() from `local` to `remote` take over a
 * 4-tuple in TIME_WAIT (net/ipv4/tcp_ipv4.c, tcp_twsk_unique): 0 never,
 * 1 always, 2 when either address is loopback (127.0.0.0/8, ::1, or
 * ::ffff:127.0.0.0/104).  Any other value: never.  The kernel also needs TCP
 * timestamps on the old connection, never reuses a TIME_WAIT entry still in
 * its FIN_WAIT2 substate, and with 2 also reuses entries bound to the lo
 * device; none of that shows in two addresses, so callers that know it
 * apply it themselves.  Either address may be NULL (not loopback). */
EP_API bool ep_linux_tw_reuse_applies(int tw_reuse_sysctl, const ep_addr *local,
                               const ep_addr *remote);

/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104 (NULL: false). */
EP_API bool ep_linux_addr_is_loopback(const ep_addr *a);

/* Seconds a port stays unusable for the next connection to the same
 * destination after one that was open `in_use` seconds: in_use +
 * time_wait, or in_use + min(time_wait, reuse_delay) where tcp_tw_reuse
 * applies.  time_wait is what the kernel keeps (see above), 0 when the
 * peer closes first or for UDP. */
EP_API double ep_capacity_block_time(double in_use, double time_wait, bool reuse_applies,
                              double reuse_delay);

/* The mean rate of new connections `ports` ports sustain when each is
 * blocked `block` seconds: ports / block (Little's law).  INFINITY when
 * block is 0, 0 when ports is 0.  A mean: at that rate about half the
 * connects would fail; ep_erlang_b() gives the failures below it. */
EP_API double ep_capacity_sustainable_rate(double ports, double block);

/* Erlang B: the probability that a connect finds all `ports` ports blocked
 * when `offered` = (new connections per second) x (mean seconds a port is
 * blocked) erlangs are offered with Poisson arrivals.  Exact for the
 * M/G/c/c loss system whatever the distribution of the blocked time
 * (insensitivity).  Computed with the recurrence B(0) = 1,
 * B(k) = A B(k-1) / (k + A B(k-1)), stable for any c.  1 for ports = 0,
 * 0 for offered = 0 (and ports > 0); NAN for offered < 0 or NaN. */
EP_API double ep_erlang_b(uint32_t ports, double offered);

/* The smallest number of ports whose Erlang-B blocking at `offered` erlangs
 * is at most `blocking` (0 < blocking <= 1).  0 when offered is 0 or
 * blocking is 1.  UINT32_MAX when more than `limit` ports would be needed
 * (the search stops there) or an argument is out of range. */
EP_API uint32_t ep_erlang_b_ports(double offered, double blocking, uint32_t limit);

/* The largest offered load (erlangs) that `ports` ports carry with a
 * blocking of at most `blocking` (0 < blocking < 1), to 1e-9 relative: the
 * inverse of ep_erlang_b in its second argument.  0 for ports = 0;
 * NAN for blocking outside (0, 1). */
EP_API double ep_erlang_b_offered(uint32_t ports, double blocking);

#ifdef __cplusplus
}
#endif
#endif
