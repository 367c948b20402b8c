/* plan.h - `ephport plan`: port capacity in closed form (Little's law) for a
 * workload, and what to change to reach a target rate.  Private to src/sim. */
#ifndef EP_SIM_PLAN_H
#define EP_SIM_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "workload.h"

typedef struct ep_plan {
    /* the workload, reduced to what capacity depends on */
    double rate;             /* requests per second, all destinations */
    uint32_t rpc;            /* requests per connection */
    double duration;         /* mean request duration, seconds */
    double busiest_weight;   /* share of the busiest destination */
    double dest_conn_rate;   /* new connections per second to it */
    double time_wait;        /* TIME_WAIT on our side: 0 if the server closes or udp */
    double reuse_delay;      /* with tw_reuse: min(time_wait, tw_reuse_delay) */
    bool tw_reuse;
    double hold;             /* mean seconds a port is held: rpc x duration + time_wait */
    double block;            /* seconds a port cannot be reused: hold, or with
                                tw_reuse rpc x duration + reuse_delay */
    /* the range */
    uint16_t lo, hi;
    uint32_t range_ports, reserved_in_range, effective_ports, sources, capacity;
    /* results for the busiest destination */
    double ports_needed;     /* Little: dest_conn_rate x hold (mean in use + TIME_WAIT) */
    double ports_blocked;    /* dest_conn_rate x block: what must fit in capacity */
    double mean_in_use;      /* dest_conn_rate x rpc x duration */
    double utilisation;      /* ports_blocked / capacity */
    double max_dest_conn_rate; /* capacity / block */
    double max_rate;         /* highest sustainable request rate, all destinations */
    bool sustainable;        /* ports_blocked <= capacity */
    double first_failure;    /* seconds after start at a steady rate, < 0 if none
                                predicted: capacity / dest_conn_rate when the
                                range fills before the first port comes back */
    /* what to change to reach target (requests per second, all destinations) */
    double target;           /* 0 = no target given: use rate */
    double target_dest_conn_rate;
    bool target_ok;          /* already sustainable as configured */
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

/* Compute the plan for w; target <= 0 means "the workload's own rate".
 * -EINVAL with msg for an impossible workload. */
int ep_plan_compute(const ep_workload *w, double target, ep_plan *p, char *msg, size_t len);

/* The exact command that sets range lo-hi on the profile's OS, into buf. */
void ep_plan_range_setting(const char *profile, uint16_t lo, uint16_t hi, char *buf, size_t len);

json_t *ep_plan_to_json(const ep_plan *p);

#endif
