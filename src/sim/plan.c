/* plan.c - closed-form capacity planning for ephemeral ports.
 *
 * The mean: by Little's law the ports held towards one destination are
 * L = lambda x W, with lambda the new connections per second towards it and
 * W the time each holds its port (requests_per_conn x mean duration, plus
 * TIME_WAIT when our side closes TCP first).  Keep-alive divides lambda by
 * the requests per connection, which is why it is the cheapest fix.
 *
 * The tail: a connect that finds every port blocked fails and holds
 * nothing, so one destination is a loss system with `capacity` servers and
 * lambda x B erlangs offered, B the seconds a port cannot be reused (with
 * tw_reuse, tw_reuse_delay replaces TIME_WAIT).  Erlang B gives the share
 * of connects that fail, exactly for Poisson arrivals whatever the holding
 * distribution (M/G/c/c is insensitive), conservatively for evenly spaced
 * ones.  A range that merely holds the mean loses about 1 / sqrt(2 pi c) of
 * its connects (0.95 % at 1000 ports and 97 % load), so every verdict and
 * suggestion here is sized for a stated share of successful connects
 * (default 99.9 %).  Bursts are rougher than Poisson: plan adds the burst
 * size and says so; simulate checks.
 *
 * TIME_WAIT as the kernel keeps it: Linux's 60 s timer fires up to a timer
 * wheel granularity late (2.048 s at HZ=250, 5.12 s at HZ=100), so under
 * Linux semantics (the default for the linux profile) both the mean and the
 * tail use ep_linux_time_wait_upper() - the same TIME_WAIT simulate's engine
 * keeps (ep_workload_time_wait_kept), so the two agree; stack semantics use
 * the nominal length.  All of this arithmetic lives in ephport/capacity.h;
 * this file only applies it to a workload.
 *
 * UDP under Linux semantics: the kernel gives a UDP socket's source port
 * exclusively per local address (udp_lib_get_port), whatever the
 * destination, so the busiest "destination" is the whole workload, and
 * running out is EAGAIN.  Stack semantics share UDP ports per 4-tuple like
 * TCP's.
 *
 * For a steady rate above the limit, the first failure comes when the range
 * fills before any port is released: capacity / lambda seconds after start,
 * if that is shorter than the shortest possible hold (TIME_WAIT as kept, plus
 * the duration when it is constant).  The simulator is tested against this.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/capacity.h>
#include <ephport/portset.h>
#include <ephport/profile.h>

#include "plan.h"

/* The Erlang-B search never looks past every port of the most sources. */
#define EP_PLAN_PORT_LIMIT (65535u * EP_WL_MAX_SOURCES)

static uint32_t ep_plan_ceil(double x)
{
    if (x <= 0)
        return 0;
    if (x >= 4e9)
        return UINT32_MAX;
    return (uint32_t)ceil(x - 1e-9);
}

/* Fewest ports (all sources together) that keep blocking at `load` erlangs
 * within the target, plus what a burst adds; UINT32_MAX if none will. */
static uint32_t ep_plan_ports_for(const ep_plan *p, double load)
{
    uint32_t c = ep_erlang_b_ports(load, p->blocking, EP_PLAN_PORT_LIMIT);
    if (c == UINT32_MAX)
        return c;
    if (c > 0 && p->burst > 1)
        c += p->burst - 1;
    return c;
}

/* Whether `capacity` ports carry `load` erlangs within the target. */
static bool ep_plan_fits(const ep_plan *p, double load)
{
    uint32_t extra = p->burst > 1 ? p->burst - 1 : 0;
    if (load <= 0)
        return true;
    return p->capacity > extra && ep_erlang_b(p->capacity - extra, load) <= p->blocking;
}

int ep_plan_compute_at(const ep_workload *w, double target, double success, ep_plan *p,
                       char *msg, size_t len)
{
    ep_pool_config cfg;
    ep_portset set;
    double *weights;
    double r, need, mind, burst_ports;
    bool tw_ours;
    int rc;

    memset(p, 0, sizeof *p);
    if (!(success > 0 && success < 1)) {
        snprintf(msg, len, "the share of connects that must succeed must lie in (0, 1)");
        return -EINVAL;
    }
    if ((rc = ep_workload_pool_config(w, &cfg, msg, len)) != 0)
        return rc;
    if (w->arrivals == EP_ARR_TRACE) {
        snprintf(msg, len, "plan works from rates, not traces; use simulate for a trace");
        return -EINVAL;
    }
    weights = malloc(w->destinations * sizeof *weights);
    if (!weights) {
        snprintf(msg, len, "out of memory");
        return -ENOMEM;
    }
    ep_workload_weights(w, weights);
    for (uint32_t i = 0; i < w->destinations; i++)
        if (weights[i] > p->busiest_weight)
            p->busiest_weight = weights[i];
    free(weights);
    p->destinations = w->destinations;
    p->semantics = ep_workload_semantics(w);
    p->udp_shared = w->proto == EP_PROTO_UDP && p->semantics == EP_SEM_LINUX;
    if (p->udp_shared)
        p->busiest_weight = 1.0; /* every destination draws on the same ports */

    p->profile = w->profile;
    p->success = success;
    p->blocking = 1.0 - success;
    p->poisson = w->arrivals == EP_ARR_POISSON;
    p->burst = w->arrivals == EP_ARR_BURST ? w->burst : 1;
    p->rate = w->rate;
    p->rpc = w->requests_per_conn;
    p->duration = w->duration.mean;
    p->dest_conn_rate = w->rate * p->busiest_weight / p->rpc;
    tw_ours = w->proto == EP_PROTO_TCP && !w->server_closes;
    p->time_wait_nominal = tw_ours ? ep_workload_time_wait_nominal(w) : 0;
    p->time_wait = tw_ours ? ep_workload_time_wait_kept(w) : 0;
    /* Generated destinations (198.18.0.0/15) and sources are not loopback,
     * so tcp_tw_reuse = 2 never applies here (the kernel's rule). */
    p->tcp_tw_reuse = ep_workload_tcp_tw_reuse(w);
    p->tw_reuse = ep_linux_tw_reuse_applies(p->tcp_tw_reuse, NULL, NULL);
    p->reuse_delay = fmin(p->time_wait, w->tw_reuse_delay);
    p->hold = p->rpc * p->duration + p->time_wait;
    p->block = ep_capacity_block_time(p->rpc * p->duration, p->time_wait, p->tw_reuse,
                                      w->tw_reuse_delay);

    p->lo = cfg.lo;
    p->hi = cfg.hi;
    p->range_ports = cfg.hi - cfg.lo + 1u;
    ep_portset_clear(&set);
    if (w->reserved && ep_portset_parse(w->reserved, &set, NULL) != 0) {
        snprintf(msg, len, "reserved: cannot parse '%s'", w->reserved);
        return -EINVAL;
    }
    p->reserved_in_range = ep_portset_count(&set, cfg.lo, cfg.hi);
    p->effective_ports = p->range_ports - p->reserved_in_range;
    p->sources = w->sources;
    p->capacity = p->effective_ports * w->sources;

    /* The mean (Little), with the nominal TIME_WAIT simulate models. */
    p->ports_needed = p->dest_conn_rate * p->hold;
    p->mean_in_use = p->dest_conn_rate * p->rpc * p->duration;
    /* The tail (Erlang B), with TIME_WAIT as the kernel keeps it. */
    p->ports_blocked = p->dest_conn_rate * p->block;
    p->utilisation = p->ports_blocked / p->capacity;
    p->loss = ep_erlang_b(p->capacity, p->ports_blocked);
    p->failures_per_s = p->dest_conn_rate * p->loss;
    p->ports_required = ep_plan_ports_for(p, p->ports_blocked);
    /* The burst's extra ports come off what the capacity carries. */
    burst_ports = p->burst > 1 ? p->burst - 1.0 : 0.0;
    p->max_load = p->capacity > burst_ports
                      ? ep_erlang_b_offered(p->capacity - (uint32_t)burst_ports, p->blocking)
                      : 0.0;
    p->max_dest_conn_rate = ep_capacity_sustainable_rate(p->max_load, p->block);
    if (p->max_load == 0)
        p->max_dest_conn_rate = 0;
    p->max_rate = p->max_dest_conn_rate * p->rpc / p->busiest_weight;
    p->mean_max_rate =
        ep_capacity_sustainable_rate(p->capacity, p->block) * p->rpc / p->busiest_weight;
    p->sustainable = ep_plan_fits(p, p->ports_blocked);
    /* Shortest hold any port can have: the part of `block` that is certain,
     * with TIME_WAIT as simulate keeps it (the kernel's upper bound under
     * Linux semantics: a failure it might see is predicted). */
    mind = (p->tw_reuse ? fmin(p->time_wait, w->tw_reuse_delay) : p->time_wait) +
           (w->duration.kind == EP_DIST_CONSTANT ? p->rpc * p->duration : 0);
    p->first_failure = -1;
    if (p->dest_conn_rate > 0 && p->capacity / p->dest_conn_rate < mind)
        p->first_failure = p->capacity / p->dest_conn_rate;

    /* Reaching the target (the workload's rate when none given). */
    p->target = target > 0 ? target : w->rate;
    r = p->target * p->busiest_weight / p->rpc;   /* connections/s, busiest destination */
    p->target_dest_conn_rate = r;
    need = r * p->block;                          /* erlangs offered */
    p->target_loss = ep_erlang_b(p->capacity, need);
    p->target_ports = ep_plan_ports_for(p, need);
    p->target_ok = ep_plan_fits(p, need);
    if (p->target_ports != UINT32_MAX) {
        uint32_t per_source = ep_plan_ceil((double)p->target_ports / w->sources);
        uint64_t width = (uint64_t)per_source + p->reserved_in_range;
        uint32_t hi = cfg.hi;
        if (width < p->range_ports)
            width = p->range_ports;
        p->range_width = width > 65535 ? 65535 : (uint32_t)width;
        if ((uint64_t)hi < width + 1023)
            hi = 65535;
        p->range_possible = width <= 65535 - 1023 && hi >= width + 1023;
        if (p->range_possible) {
            p->new_hi = (uint16_t)hi;
            p->new_lo = (uint16_t)(hi - width + 1);
        }
        p->sources_needed = ep_plan_ceil((double)p->target_ports / p->effective_ports);
    } else {
        p->sources_needed = UINT32_MAX;
    }
    if (p->sources_needed < 1)
        p->sources_needed = 1;
    if (w->proto == EP_PROTO_TCP && !w->server_closes && !p->tw_reuse &&
        p->time_wait > w->tw_reuse_delay) {
        double b = ep_capacity_block_time(p->rpc * p->duration, p->time_wait, true,
                                          w->tw_reuse_delay);
        p->rate_with_tw_reuse = (b > 0 ? p->max_load / b : INFINITY) * p->rpc / p->busiest_weight;
        p->tw_reuse_possible = ep_plan_fits(p, r * b);
    }
    {
        /* k requests per connection: requests/s q offer q x d + (q / k) x tw
         * erlangs, which must stay within max_load. */
        double q = p->target * p->busiest_weight;
        double tw = p->tw_reuse ? p->reuse_delay : p->time_wait;
        double room = p->max_load - q * p->duration;
        if (tw <= 0) {
            p->rpc_possible = room >= 0;
            p->rpc_needed = p->rpc;
        } else if (room > 0) {
            double k = ceil(q * tw / room - 1e-9);
            p->rpc_possible = k <= EP_WL_MAX_RPC;
            p->rpc_needed = k < 1 ? 1 : (uint32_t)fmin(k, EP_WL_MAX_RPC);
        }
    }
    if (w->proto == EP_PROTO_TCP && !w->server_closes && p->time_wait > 0)
        p->server_close_possible = ep_plan_fits(p, r * p->rpc * p->duration);
    /* Owners share all destinations round robin; each connection is in use
     * rpc x duration, so an owner holds rate x duration / owners on average. */
    p->quota = w->quota;
    p->owners = w->owners;
    p->owner_in_use = p->target * p->duration / w->owners;
    p->quota_ok = w->quota == 0 || p->owner_in_use <= w->quota;
    return 0;
}

int ep_plan_compute(const ep_workload *w, double target, ep_plan *p, char *msg, size_t len)
{
    return ep_plan_compute_at(w, target, EP_PLAN_SUCCESS_DEFAULT, p, msg, len);
}

void ep_plan_range_setting(const char *profile, uint16_t lo, uint16_t hi, char *buf, size_t len)
{
    if (strcmp(profile, "windows") == 0)
        snprintf(buf, len, "netsh int ipv4 set dynamicport tcp start=%u num=%u", lo, hi - lo + 1u);
    else if (strcmp(profile, "macos") == 0 || strcmp(profile, "freebsd") == 0)
        snprintf(buf, len, "sysctl net.inet.ip.portrange.first=%u net.inet.ip.portrange.last=%u",
                 lo, hi);
    else if (strcmp(profile, "linux") == 0)
        snprintf(buf, len, "sysctl -w net.ipv4.ip_local_port_range=\"%u %u\"", lo, hi);
    else
        snprintf(buf, len, "set the ephemeral port range to %u-%u", lo, hi);
}

static json_t *ep_plan_num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

json_t *ep_plan_to_json(const ep_plan *p)
{
    json_t *o = json_object(), *t = json_object();
    char cmd[160];
    if (!o || !t) {
        json_decref(o);
        json_decref(t);
        return NULL;
    }
    json_object_set_new(o, "rate", json_real(p->rate));
    json_object_set_new(o, "requests_per_conn", json_integer(p->rpc));
    json_object_set_new(o, "mean_duration", json_real(p->duration));
    json_object_set_new(o, "busiest_weight", json_real(p->busiest_weight));
    json_object_set_new(o, "semantics", json_string(ep_semantics_name(p->semantics)));
    json_object_set_new(o, "udp_shared", json_boolean(p->udp_shared));
    json_object_set_new(o, "exhaustion_error",
                        json_string(p->udp_shared ? "EAGAIN" : "EADDRNOTAVAIL"));
    json_object_set_new(o, "dest_conn_rate", json_real(p->dest_conn_rate));
    json_object_set_new(o, "time_wait_nominal", json_real(p->time_wait_nominal));
    json_object_set_new(o, "time_wait", json_real(p->time_wait));
    json_object_set_new(o, "tw_reuse", json_boolean(p->tw_reuse));
    json_object_set_new(o, "tcp_tw_reuse", json_integer(p->tcp_tw_reuse));
    json_object_set_new(o, "hold", json_real(p->hold));
    json_object_set_new(o, "block", json_real(p->block));
    json_object_set_new(o, "poisson", json_boolean(p->poisson));
    json_object_set_new(o, "lo", json_integer(p->lo));
    json_object_set_new(o, "hi", json_integer(p->hi));
    json_object_set_new(o, "range_ports", json_integer(p->range_ports));
    json_object_set_new(o, "reserved_in_range", json_integer(p->reserved_in_range));
    json_object_set_new(o, "effective_ports", json_integer(p->effective_ports));
    json_object_set_new(o, "sources", json_integer(p->sources));
    json_object_set_new(o, "capacity", json_integer(p->capacity));
    json_object_set_new(o, "success", json_real(p->success));
    json_object_set_new(o, "ports_needed", json_real(p->ports_needed));
    json_object_set_new(o, "ports_blocked", json_real(p->ports_blocked));
    json_object_set_new(o, "mean_in_use", json_real(p->mean_in_use));
    json_object_set_new(o, "utilisation", json_real(p->utilisation));
    json_object_set_new(o, "loss", json_real(p->loss));
    json_object_set_new(o, "failures_per_second", json_real(p->failures_per_s));
    json_object_set_new(o, "ports_required", p->ports_required == UINT32_MAX
                                                 ? json_null()
                                                 : json_integer(p->ports_required));
    json_object_set_new(o, "max_dest_conn_rate", ep_plan_num(p->max_dest_conn_rate));
    json_object_set_new(o, "max_rate", ep_plan_num(p->max_rate));
    json_object_set_new(o, "mean_max_rate", ep_plan_num(p->mean_max_rate));
    json_object_set_new(o, "sustainable", json_boolean(p->sustainable));
    json_object_set_new(o, "first_failure", p->first_failure < 0 ? json_null()
                                                                 : json_real(p->first_failure));
    json_object_set_new(t, "rate", json_real(p->target));
    json_object_set_new(t, "dest_conn_rate", json_real(p->target_dest_conn_rate));
    json_object_set_new(t, "loss", json_real(p->target_loss));
    json_object_set_new(t, "ports", p->target_ports == UINT32_MAX ? json_null()
                                                                 : json_integer(p->target_ports));
    json_object_set_new(t, "sustainable", json_boolean(p->target_ok));
    if (p->range_possible) {
        ep_plan_range_setting(p->profile, p->new_lo, p->new_hi, cmd, sizeof cmd);
        json_object_set_new(t, "range", json_pack("{s:i, s:i, s:I, s:s}", "lo", p->new_lo, "hi",
                                                  p->new_hi, "ports", (json_int_t)p->range_width,
                                                  "setting", cmd));
    } else {
        json_object_set_new(t, "range", json_null());
    }
    json_object_set_new(t, "tw_reuse", p->tw_reuse_possible
                            ? json_pack("{s:f, s:f, s:s}", "max_rate", p->rate_with_tw_reuse,
                                        "delay", p->reuse_delay, "setting",
                                        strcmp(p->profile, "linux") == 0
                                            ? "sysctl -w net.ipv4.tcp_tw_reuse=1"
                                            : "tcp_tw_reuse (Linux only)")
                            : json_null());
    json_object_set_new(t, "requests_per_conn", p->rpc_possible ? json_integer(p->rpc_needed)
                                                                : json_null());
    json_object_set_new(t, "sources", p->sources_needed == UINT32_MAX
                                          ? json_null()
                                          : json_integer(p->sources_needed));
    json_object_set_new(t, "server_closes_first", json_boolean(p->server_close_possible));
    json_object_set_new(o, "quota",
                        p->quota ? json_pack("{s:I, s:I, s:f, s:b}", "cap", (json_int_t)p->quota,
                                             "owners", (json_int_t)p->owners,
                                             "mean_in_use_per_owner", p->owner_in_use, "ok",
                                             (int)p->quota_ok)
                                 : json_null());
    json_object_set_new(o, "target", t);
    return o;
}
