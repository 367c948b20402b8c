/* plan.c - closed-form capacity planning for ephemeral ports.
 *
 * Little's law: the mean number of ports held towards one destination is
 * L = lambda x W, with lambda the new connections per second towards it and
 * W the time each holds its port (requests_per_conn x mean duration, plus
 * TIME_WAIT when our side closes TCP first).  The destination runs out when
 * the ports that cannot be reused exceed the effective range times the
 * source addresses: with tw_reuse, a TIME_WAIT port comes back after
 * tw_reuse_delay instead of TIME_WAIT.  Keep-alive divides lambda by the
 * requests per connection, which is why it is the cheapest fix.
 *
 * For a steady rate above the limit, the first failure comes when the range
 * fills before any port is released: capacity / lambda seconds after start,
 * if that is shorter than the shortest possible hold (TIME_WAIT, plus the
 * duration when it is constant).  The simulator is tested against this.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/portset.h>
#include <ephport/profile.h>

#include "plan.h"

static uint32_t ep_plan_ceil(double x)
{
    if (x <= 0)
        return 0;
    if (x >= 4e9)
        return UINT32_MAX;
    return (uint32_t)ceil(x - 1e-9);
}

int ep_plan_compute(const ep_workload *w, double target, ep_plan *p, char *msg, size_t len)
{
    ep_pool_config cfg;
    ep_portset set;
    double *weights;
    double r, need, mind;
    int rc;

    memset(p, 0, sizeof *p);
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

    p->profile = w->profile;
    p->rate = w->rate;
    p->rpc = w->requests_per_conn;
    p->duration = w->duration.mean;
    p->dest_conn_rate = w->rate * p->busiest_weight / p->rpc;
    p->time_wait = (w->proto == EP_PROTO_TCP && !w->server_closes) ? cfg.time_wait / 1e9 : 0;
    p->tw_reuse = w->tw_reuse;
    p->reuse_delay = fmin(p->time_wait, w->tw_reuse_delay);
    p->hold = p->rpc * p->duration + p->time_wait;
    p->block = p->rpc * p->duration + (w->tw_reuse ? p->reuse_delay : p->time_wait);

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

    p->ports_needed = p->dest_conn_rate * p->hold;
    p->ports_blocked = p->dest_conn_rate * p->block;
    p->mean_in_use = p->dest_conn_rate * p->rpc * p->duration;
    p->utilisation = p->ports_blocked / p->capacity;
    p->max_dest_conn_rate = p->block > 0 ? p->capacity / p->block : INFINITY;
    p->max_rate = p->max_dest_conn_rate * p->rpc / p->busiest_weight;
    p->sustainable = p->ports_blocked <= p->capacity;
    /* Shortest hold any port can have: the part of `block` that is certain. */
    mind = (w->tw_reuse ? p->reuse_delay : p->time_wait) +
           (w->duration.kind == EP_DIST_CONSTANT ? p->rpc * p->duration : 0);
    p->first_failure = -1;
    if (p->dest_conn_rate > 0 && p->capacity / p->dest_conn_rate < mind)
        p->first_failure = p->capacity / p->dest_conn_rate;

    /* Reaching the target (the workload's rate when none given). */
    p->target = target > 0 ? target : w->rate;
    r = p->target * p->busiest_weight / p->rpc;   /* connections/s, busiest destination */
    p->target_dest_conn_rate = r;
    need = r * p->block;                          /* ports that must fit */
    p->target_ok = need <= p->capacity;
    {
        uint32_t per_source = ep_plan_ceil(need / w->sources);
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
    }
    if (w->proto == EP_PROTO_TCP && !w->server_closes && !w->tw_reuse &&
        p->time_wait > p->reuse_delay) {
        double b = p->rpc * p->duration + p->reuse_delay;
        p->rate_with_tw_reuse = (b > 0 ? p->capacity / b : INFINITY) * p->rpc / p->busiest_weight;
        p->tw_reuse_possible = r * b <= p->capacity;
    }
    {
        /* k requests per connection: requests/s q hold q x d + (q / k) x tw. */
        double q = p->target * p->busiest_weight;
        double tw = w->tw_reuse ? p->reuse_delay : p->time_wait;
        double room = p->capacity - q * p->duration;
        if (tw <= 0) {
            p->rpc_possible = room >= 0;
            p->rpc_needed = p->rpc;
        } else if (room > 0) {
            double k = ceil(q * tw / room - 1e-9);
            p->rpc_possible = k <= EP_WL_MAX_RPC;
            p->rpc_needed = k < 1 ? 1 : (uint32_t)fmin(k, EP_WL_MAX_RPC);
        }
    }
    p->sources_needed = ep_plan_ceil(need / p->effective_ports);
    if (p->sources_needed < 1)
        p->sources_needed = 1;
    if (w->proto == EP_PROTO_TCP && !w->server_closes && p->time_wait > 0)
        p->server_close_possible = r * p->rpc * p->duration <= p->capacity;
    /* Owners share all destinations round robin; each connection is in use
     * rpc x duration, so an owner holds rate x duration / owners on average. */
    p->quota = w->quota;
    p->owners = w->owners;
    p->owner_in_use = p->target * p->duration / w->owners;
    p->quota_ok = w->quota == 0 || p->owner_in_use <= w->quota;
    return 0;
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
    json_object_set_new(o, "dest_conn_rate", json_real(p->dest_conn_rate));
    json_object_set_new(o, "time_wait", json_real(p->time_wait));
    json_object_set_new(o, "tw_reuse", json_boolean(p->tw_reuse));
    json_object_set_new(o, "hold", json_real(p->hold));
    json_object_set_new(o, "block", json_real(p->block));
    json_object_set_new(o, "lo", json_integer(p->lo));
    json_object_set_new(o, "hi", json_integer(p->hi));
    json_object_set_new(o, "range_ports", json_integer(p->range_ports));
    json_object_set_new(o, "reserved_in_range", json_integer(p->reserved_in_range));
    json_object_set_new(o, "effective_ports", json_integer(p->effective_ports));
    json_object_set_new(o, "sources", json_integer(p->sources));
    json_object_set_new(o, "capacity", json_integer(p->capacity));
    json_object_set_new(o, "ports_needed", json_real(p->ports_needed));
    json_object_set_new(o, "ports_blocked", json_real(p->ports_blocked));
    json_object_set_new(o, "mean_in_use", json_real(p->mean_in_use));
    json_object_set_new(o, "utilisation", json_real(p->utilisation));
    json_object_set_new(o, "max_dest_conn_rate", ep_plan_num(p->max_dest_conn_rate));
    json_object_set_new(o, "max_rate", ep_plan_num(p->max_rate));
    json_object_set_new(o, "sustainable", json_boolean(p->sustainable));
    json_object_set_new(o, "first_failure", p->first_failure < 0 ? json_null()
                                                                 : json_real(p->first_failure));
    json_object_set_new(t, "rate", json_real(p->target));
    json_object_set_new(t, "dest_conn_rate", json_real(p->target_dest_conn_rate));
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
                            ? json_pack("{s:f, s:s}", "max_rate", p->rate_with_tw_reuse, "setting",
                                        strcmp(p->profile, "linux") == 0
                                            ? "sysctl -w net.ipv4.tcp_tw_reuse=1"
                                            : "tcp_tw_reuse (Linux only)")
                            : json_null());
    json_object_set_new(t, "requests_per_conn", p->rpc_possible ? json_integer(p->rpc_needed)
                                                                : json_null());
    json_object_set_new(t, "sources", json_integer(p->sources_needed));
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
