/* sim.h - `ephport simulate`'s engine driver: runs a workload through a real
 * libephport pool in virtual time and reports what happened.  Private to
 * src/sim. */
#ifndef EP_SIM_SIM_H
#define EP_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <ephport/pool.h>

#include "series.h"
#include "workload.h"

#define EP_SIM_NAME_LEN (EP_ADDR_STRLEN + 8)
#define EP_SIM_REUSE_HIST (1u << 17)   /* reuse distances counted exactly below this */
#define EP_SIM_MAX_CELLS 10000000.0    /* samples x destinations */
#define EP_SIM_MAX_STAT_CALLS 50000000.0 /* samples x destinations x sources */

typedef struct ep_sim_dest {
    char name[EP_SIM_NAME_LEN];   /* "198.18.0.1:443", "[2001:db8::1]:443" */
    ep_addr remote;
    uint16_t port;
    double weight;                /* share of the arrivals (generated workloads) */
    uint32_t capacity;            /* effective ports x source addresses */
    uint32_t peak;                /* engine high water (in use + TIME_WAIT), summed
                                     over source addresses; shared UDP: the most
                                     UDP sockets open at once */
    uint32_t sampled_peak;        /* highest sampled in use + TIME_WAIT */
    uint64_t attempts;
    uint64_t failures;            /* all causes */
    double first_failure;         /* virtual seconds, < 0 if none */
    double ss_mean;               /* mean sampled in use + TIME_WAIT, second half */
    double ss_mean_in_use;
    uint32_t ss_peak;             /* highest sampled in use + TIME_WAIT, second half */
} ep_sim_dest;

/* Reuse distance and predictability of the ports handed out towards the
 * busiest destination (destination 0) from the first source address; all
 * zero unless ep_sim_options.reuse. */
typedef struct ep_sim_reuse {
    uint64_t connections;     /* ports observed */
    uint64_t reuses;          /* of which reused a port seen before */
    double mean;              /* connections between two uses of a port */
    uint64_t min;
    uint64_t p5;              /* 5th percentile */
    bool p5_above;            /* p5 >= EP_SIM_REUSE_HIST (then p5 is that bound) */
    uint64_t predictions;     /* ports with two predecessors */
    uint64_t predicted;       /* guessed right by the best predictor */
    double predictability;    /* predicted / predictions, 0 if none */
    const char *predictor;    /* "prev+1", "prev+2", "prev", "prev+delta" */
} ep_sim_reuse;

typedef struct ep_sim_result {
    ep_semantics semantics;        /* the port rules the engine followed */
    bool udp_shared;               /* UDP under Linux semantics: every destination
                                      draws on the same ports, so a destination's
                                      peak, steady figures and headroom count
                                      every UDP socket of the run */
    int exhausted_err;             /* what exhaustion returns: -EAGAIN (shared
                                      UDP) or EP_EADDRNOTAVAIL */
    double length;                 /* virtual seconds simulated */
    uint32_t range_ports, effective_ports;
    uint32_t sources;
    uint64_t requests;             /* requests carried by successful connections */
    uint64_t attempts;             /* connect calls */
    uint64_t connections;          /* successful connects */
    uint64_t closes;
    uint64_t failures[EP_FAIL__COUNT];
    uint64_t total_failures;
    double first_failure;          /* virtual seconds, < 0 if none */
    int first_failure_err;         /* its negative errno */
    uint64_t peak_open;            /* highest number of open connections */
    size_t ndest;
    ep_sim_dest *dest;
    ep_sim_reuse reuse;
    ep_series series;
} ep_sim_result;

typedef void (*ep_sim_progress_fn)(void *ctx, double fraction);

typedef struct ep_sim_options {
    ep_sim_progress_fn progress;   /* may be NULL; called every 2^16 events */
    void *progress_ctx;
    bool reuse;                    /* measure reuse distance and predictability
                                      (costs two cache misses per connection) */
} ep_sim_options;

/* Run w (already checked with ep_workload_check) to completion.  Returns 0,
 * or a negative errno with msg filled: -EINVAL (bad workload or trace),
 * -ENOMEM, -EIO (the engine refused an operation it must accept). */
int ep_sim_run(const ep_workload *w, const ep_sim_options *o, ep_sim_result *res, char *msg,
               size_t len);
void ep_sim_result_free(ep_sim_result *res);

/* Headroom of destination d: capacity minus steady-state peak, in ports
 * (negative when it ran out). */
static inline int64_t ep_sim_headroom(const ep_sim_dest *d)
{
    return (int64_t)d->capacity - (int64_t)d->ss_peak;
}

/* Name of a failure cause: "exhausted", "quota", "addrinuse", "invalid". */
const char *ep_sim_cause_name(int cause);

/* The summary (and with_series, the time series) as JSON. */
json_t *ep_sim_result_to_json(const ep_sim_result *res, bool with_series);

#endif
