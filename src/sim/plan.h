/* plan.h - `ephport plan`: port capacity in closed form for a workload (the
 * mean by Little's law, the failure probability by Erlang B, TIME_WAIT as
 * the kernel keeps it), and what to change to reach a target rate at a
 * stated share of successful connects.  Private to src/sim. */
#ifndef EP_SIM_PLAN_H
#define EP_SIM_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "workload.h"

/* Default share of connects that must succeed: 99.9 % (blocking <= 0.1 %). */
#define EP_PLAN_SUCCESS_DEFAULT 0.999

typedef struct ep_plan {
    /* the workload, reduced to what capacity depends on */
    double rate;             /* requests per second, all destinations */
    uint32_t rpc;            /* requests per connection */
    double duration;         /* mean request duration, seconds */
    double busiest_weight;   /* share of the busiest destination; 1 for UDP */
    ep_semantics semantics;  /* the port rules (ep_workload_semantics) */
    bool udp_shared;         /* UDP under Linux semantics: a source port is
                                exclusive per local address, so all
                                destinations share the ports (EAGAIN) */
    uint32_t destinations;
    double dest_conn_rate;   /* new connections per second to it (UDP: all) */
    double time_wait_nominal;/* TIME_WAIT on our side: 0 if the server closes or udp */
    double time_wait;        /* as the kernel keeps it at most (Linux semantics:
                                nominal + timer wheel granularity,
                                ep_linux_time_wait_upper), what simulate keeps */
    double reuse_delay;      /* with tw_reuse: min(time_wait, tw_reuse_delay) */
    int tcp_tw_reuse;        /* as configured: 0, 1, 2 */
    bool tw_reuse;           /* whether it applies (2: never, no loopback end) */
    double hold;             /* mean seconds a port is held: rpc x duration +
                                time_wait (Little; simulate keeps the same) */
    double block;            /* seconds a port cannot be reused, for sizing:
                                rpc x duration + time_wait, or + reuse_delay */
    bool poisson;            /* arrivals Poisson: Erlang B exact */
    uint32_t burst;          /* burst arrivals: ports added to Erlang B's count */
    /* the range */
    uint16_t lo, hi;
    uint32_t range_ports, reserved_in_range, effective_ports, sources, capacity;
    /* results for the busiest destination */
    double success;          /* share of connects that must succeed (0.999) */
    double blocking;         /* 1 - success: the failure probability allowed */
    double ports_needed;     /* Little: dest_conn_rate x hold (mean in use + TIME_WAIT) */
    double ports_blocked;    /* dest_conn_rate x block: the offered load in erlangs */
    double mean_in_use;      /* dest_conn_rate x rpc x duration */
    double utilisation;      /* ports_blocked / capacity */
    double loss;             /* Erlang B: share of connects that fail as configured */
    double failures_per_s;   /* dest_conn_rate x loss */
    uint32_t ports_required; /* fewest ports (capacity) meeting `blocking` at rate,
                                UINT32_MAX beyond any range and source count */
    double max_load;         /* erlangs the capacity carries at `blocking` */
    double max_dest_conn_rate; /* max_load / block */
    double max_rate;         /* highest request rate meeting `blocking`, all destinations */
    double mean_max_rate;    /* capacity / block: the mean's limit (half the connects
                                would fail near it) */
    bool sustainable;        /* loss <= blocking */
    double first_failure;    /* seconds after start at a steady rate, < 0 if none
                                predicted: capacity / dest_conn_rate when the
                                range fills before the first port comes back */
    /* what to change to reach target (requests per second, all destinations) */
    double target;           /* 0 = no target given: use rate */
    double target_dest_conn_rate;
    double target_loss;      /* Erlang B at the target, as configured */
    uint32_t target_ports;   /* fewest ports meeting `blocking` at the target */
    bool target_ok;          /* target_loss <= blocking */
    bool range_possible;
    uint32_t range_width;    /* ports the range needs (reserved ones included) */
    uint16_t new_lo, new_hi;
    bool tw_reuse_possible;  /* client closes TCP, tw_reuse off, and it suffices */
    double rate_with_tw_reuse;
    bool rpc_possible;
    uint32_t rpc_needed;
    uint32_t sources_needed;
    bool server_close_possible; /* letting the server close first suffices */
    /* per-owner quota (the engine charges connections in use, not TIME_WAIT) */
    uint32_t quota, owners;  /* quota 0 = none */
    double owner_in_use;     /* mean connections in use per owner: rate x duration / owners */
    bool quota_ok;           /* owner_in_use <= quota (a mean: peaks go above it) */
    const char *profile;
} ep_plan;

/* Compute the plan for w; target <= 0 means "the workload's own rate";
 * success is the share of connects that must succeed, in (0, 1).
 * -EINVAL with msg for an impossible workload. */
int ep_plan_compute_at(const ep_workload *w, double target, double success, ep_plan *p,
                       char *msg, size_t len);

/* ep_plan_compute_at(w, target, EP_PLAN_SUCCESS_DEFAULT, ...). */
int ep_plan_compute(const ep_workload *w, double target, ep_plan *p, char *msg, size_t len);

/* The exact command that sets range lo-hi on the profile's OS, into buf. */
void ep_plan_range_setting(const char *profile, uint16_t lo, uint16_t hi, char *buf, size_t len);

json_t *ep_plan_to_json(const ep_plan *p);

#endif
