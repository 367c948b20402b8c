/* capacity.c - the one owner of the capacity rules (include/ephport/capacity.h).
 *
 * TIME_WAIT as Linux keeps it.  The kernel arms a 60 s timer_list for each
 * TIME_WAIT entry; the timer wheel files a timer in the level whose range
 * holds its delay and rounds the expiry up to that level's granularity
 * (8^level jiffies), so that it never fires early.  A 60 s delay is 15,000
 * jiffies at HZ=250: level 3, 512 jiffies = 2.048 s.  The entry therefore
 * lives between 60.004 and 62.048 s; tw-hold (bench/) measured 60.024-62.048 s,
 * median 61.0 s, on Linux 6.18 at HZ=250 (docs/BENCHMARKS.md).  A planner
 * does not know the target's HZ, so the upper bound it uses is the worst of
 * the usual CONFIG_HZ values (HZ=100: 6,000 jiffies, level 3, 5.12 s).
 *
 * tcp_tw_reuse: the kernel's tcp_twsk_unique() lets connect() take a
 * TIME_WAIT 4-tuple with reuse = 1, or with reuse = 2 when the entry's remote
 * or local address is loopback (IPv4 127/8, IPv6 ::1 or the IPv4-mapped
 * 127/8), after tcp_tw_reuse_delay ms since the last timestamp it saw.
 *
 * Erlang B.  New connections towards one destination that each block a port
 * for a while are a loss system: a connect that finds every port blocked
 * fails (EADDRNOTAVAIL) and holds nothing.  With Poisson arrivals its
 * blocking probability is Erlang B, which depends on the blocked time's
 * mean only (M/G/c/c insensitivity), so exponential request durations plus
 * a constant TIME_WAIT need no special case.  The recurrence
 * B(k) = A B(k-1) / (k + A B(k-1)) stays in [0, 1] and loses no precision
 * at any c, unlike the factorial form.
 */
#include <assert.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/capacity.h>

/* Timer wheel shape (kernel/time/timer.c): LVL_CLK_SHIFT 3, LVL_BITS 6. */
#define EP_WHEEL_CLK_SHIFT 3
#define EP_WHEEL_LEVELS 9

ep_time ep_linux_timer_granularity(ep_time delay, unsigned hz)
{
    uint64_t jiffies, gran = 1;
    if (hz == 0)
        return 0;
    /* Whole jiffies, rounded up as msecs_to_jiffies() does. */
    jiffies = (delay / EP_NSEC_PER_MSEC * hz + 999) / 1000;
    for (int lvl = 1; lvl < EP_WHEEL_LEVELS; lvl++) {
        uint64_t start = (uint64_t)63 << (EP_WHEEL_CLK_SHIFT * (lvl - 1));
        if (jiffies < start)
            break;
        gran = (uint64_t)1 << (EP_WHEEL_CLK_SHIFT * lvl);
    }
    return (ep_time)(gran * EP_NSEC_PER_SEC / hz);
}

ep_time ep_linux_time_wait_upper_hz(ep_time nominal, unsigned hz)
{
    static const unsigned usual_hz[] = { 100, 250, 300, 1000 };
    ep_time worst = 0;
    if (nominal == 0)
        return 0;
    if (hz != 0)
        return nominal + ep_linux_timer_granularity(nominal, hz);
    for (size_t i = 0; i < sizeof usual_hz / sizeof usual_hz[0]; i++) {
        ep_time g = ep_linux_timer_granularity(nominal, usual_hz[i]);
        if (g > worst)
            worst = g;
    }
    return nominal + worst;
}

ep_time ep_linux_time_wait_upper(ep_time nominal)
{
    return ep_linux_time_wait_upper_hz(nominal, 0);
}

bool ep_linux_addr_is_loopback(const ep_addr *a)
{
    static const uint8_t lo6[16] = { [15] = 1 };
    static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
    if (!a)
        return false;
    if (a->family == AF_INET)
        return a->u.bytes[0] == 127;
    if (a->family != AF_INET6)
        return false;
    return memcmp(a->u.bytes, lo6, 16) == 0 ||
           (memcmp(a->u.bytes, mapped, 12) == 0 && a->u.bytes[12] == 127);
}

bool ep_linux_tw_reuse_applies(int tw_reuse_sysctl, const ep_addr *local, const ep_addr *remote)
{
    if (tw_reuse_sysctl == 1)
        return true;
    if (tw_reuse_sysctl == 2)
        return ep_linux_addr_is_loopback(local) || ep_linux_addr_is_loopback(remote);
    return false;
}

double ep_capacity_block_time(double in_use, double time_wait, bool reuse_applies,
                              double reuse_delay)
{
    double after = time_wait;
    if (reuse_applies && reuse_delay < time_wait)
        after = reuse_delay;
    return in_use + after;
}

double ep_capacity_sustainable_rate(double ports, double block)
{
    if (ports <= 0)
        return 0.0;
    if (block <= 0)
        return INFINITY;
    return ports / block;
}

double ep_erlang_b(uint32_t ports, double offered)
{
    double b = 1.0;
    if (isnan(offered) || offered < 0)
        return NAN;
    if (offered == 0)
        return ports == 0 ? 1.0 : 0.0;
    if (isinf(offered))
        return 1.0;
    for (uint32_t k = 1; k <= ports; k++) {
        b = offered * b / ((double)k + offered * b);
        if (b == 0)
            break; /* underflow: stays 0 for every larger k */
    }
    assert(b >= 0 && b <= 1);
    return b;
}

uint32_t ep_erlang_b_ports(double offered, double blocking, uint32_t limit)
{
    double b = 1.0;
    if (isnan(offered) || offered < 0 || isinf(offered) || !(blocking > 0 && blocking <= 1))
        return UINT32_MAX;
    if (offered == 0 || blocking >= 1)
        return 0;
    for (uint32_t k = 1; k <= limit && k < UINT32_MAX; k++) {
        b = offered * b / ((double)k + offered * b);
        if (b <= blocking)
            return k;
    }
    return UINT32_MAX;
}

double ep_erlang_b_offered(uint32_t ports, double blocking)
{
    double lo = 0, hi, x;
    if (!(blocking > 0 && blocking < 1))
        return NAN;
    if (ports == 0)
        return 0;
    /* B(c, A) rises with A.  A loss system carries A (1 - B) <= c erlangs,
     * so at A = c / (1 - blocking) the blocking is at least `blocking`. */
    hi = (double)ports / (1.0 - blocking);
    x = (double)ports;
    /* Newton on B(c, A) - blocking with dB/dA = B (c / A - 1 + B), kept
     * inside the bracket (bisection when a step leaves it): a handful of
     * O(c) evaluations instead of ~30 for bisection alone. */
    for (int i = 0; i < 100 && hi - lo > 1e-9 * hi; i++) {
        double b = ep_erlang_b(ports, x), d, next;
        if (b <= blocking)
            lo = x;
        else
            hi = x;
        d = b * ((double)ports / x - 1.0 + b);
        next = d > 0 ? x - (b - blocking) / d : NAN;
        if (!(next > lo && next < hi))
            next = 0.5 * (lo + hi);
        else if (fabs(next - x) < 1e-10 * x) {
            /* converged; settle on the side that meets the target */
            if (ep_erlang_b(ports, next) <= blocking)
                return next;
            next = 0.5 * (lo + hi);
        }
        x = next;
    }
    return lo;
}
