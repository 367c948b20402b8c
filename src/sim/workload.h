/* workload.h - what `ephport simulate` and `ephport plan` are asked about:
 * the workload model, its `key = value` config file, and the keys that double
 * as command-line flags.  Private to src/sim. */
#ifndef EP_SIM_WORKLOAD_H
#define EP_SIM_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <ephport/pool.h>

#include "dist.h"

#define EP_WL_MAX_DESTINATIONS 65536u
#define EP_WL_MAX_SOURCES 1024u
#define EP_WL_MAX_RPC 1000000u
#define EP_WL_MAX_LENGTH (86400.0 * 365)   /* one virtual year */
#define EP_WL_MSG 256                      /* size of error message buffers */

typedef enum ep_arrival_kind {
    EP_ARR_CONSTANT = 0,   /* evenly spaced, 1 / rate apart */
    EP_ARR_POISSON,        /* exponential gaps of mean 1 / rate */
    EP_ARR_BURST,          /* `burst` arrivals at once, every burst / rate s */
    EP_ARR_TRACE,          /* opens and closes read from `trace` */
} ep_arrival_kind;

typedef struct ep_workload {
    double rate;                /* new requests per second, all destinations */
    ep_arrival_kind arrivals;
    uint32_t burst;             /* arrivals per burst (EP_ARR_BURST) */
    ep_dist duration;           /* of one request, seconds */
    uint32_t destinations;
    double zipf;                /* skew of the destination weights, 0 = uniform */
    double *weights;            /* explicit weights (owned), NULL = zipf */
    uint16_t port;              /* remote port of every generated destination */
    uint8_t proto;              /* EP_PROTO_TCP or EP_PROTO_UDP */
    bool server_closes;         /* close = server: no TIME_WAIT on our side */
    uint32_t requests_per_conn; /* keep-alive / pooling factor, >= 1 */
    char profile[16];
    bool range_set;
    uint16_t lo, hi;
    char *reserved;             /* owned, NULL = none */
    bool time_wait_set;
    double time_wait;           /* seconds */
    bool tw_reuse;              /* tcp_tw_reuse 1 or 2 */
    bool tw_reuse_loopback;     /* tcp_tw_reuse 2: only where an end is loopback */
    double tw_reuse_delay;      /* seconds */
    bool semantics_set;         /* false: linux for the linux profile, else stack */
    ep_semantics semantics;     /* as set (see ep_workload_semantics) */
    ep_algorithm algorithm;
    uint32_t sources;           /* local addresses */
    uint32_t quota;             /* ports per owner, 0 = none */
    uint32_t owners;            /* connections are spread over this many owners */
    bool length_set;
    double length;              /* virtual seconds */
    uint64_t seed;
    char *trace;                /* owned path, NULL = generated arrivals */
    double sample;              /* sampling interval, virtual seconds */
} ep_workload;

/* One config key (= one command-line flag of the same name). */
typedef struct ep_workload_key {
    const char *name;
    const char *arg;            /* "RATE", "on|off", ... */
    const char *help;
} ep_workload_key;

extern const ep_workload_key ep_workload_keys[];
extern const size_t ep_workload_nkeys;

/* Defaults: rate 100, poisson, exponential:0.1, 1 destination, tcp, client
 * closes, 1 request per connection, profile linux, algorithm random,
 * 1 source, no quota, length 300, seed 1, sample 1. */
void ep_workload_init(ep_workload *w);
void ep_workload_free(ep_workload *w);
/* Deep copy; -ENOMEM. */
int ep_workload_copy(ep_workload *dst, const ep_workload *src);

/* Set one key from its text.  "time-wait" and "time_wait" are the same key.
 * -EINVAL with msg filled for an unknown key or a bad value. */
int ep_workload_set(ep_workload *w, const char *key, const char *value, char *msg, size_t len);

/* Parse config text: lines "key = value", '#' comments, blank lines.
 * Errors read "ORIGIN:LINE: message". */
int ep_workload_parse(ep_workload *w, const char *text, const char *origin, char *msg,
                      size_t len);
/* Read and parse a config file (at most 1 MiB). */
int ep_workload_load(ep_workload *w, const char *path, char *msg, size_t len);

/* Cross-key checks, after every key is set. */
int ep_workload_check(const ep_workload *w, char *msg, size_t len);

/* The port rules the workload runs under: the `semantics` key if set, else
 * EP_SEM_LINUX for the linux profile and EP_SEM_STACK for every other. */
ep_semantics ep_workload_semantics(const ep_workload *w);

/* tcp_tw_reuse as the kernel's sysctl would read: 0 (off), 1, 2 (loopback). */
int ep_workload_tcp_tw_reuse(const ep_workload *w);

/* TIME_WAIT in seconds: the nominal length (time_wait, or the profile's),
 * and the one the engine keeps: under Linux semantics the kernel's,
 * nominal + its timer wheel's granularity for the worst usual HZ
 * (ep_linux_time_wait_upper: 65.12 s for 60 s), the nominal elsewhere. */
double ep_workload_time_wait_nominal(const ep_workload *w);
double ep_workload_time_wait_kept(const ep_workload *w);

/* The engine configuration this workload runs on (range, reserved ports,
 * semantics, TIME_WAIT as kept, reuse (tcp_tw_reuse 2 = tw_reuse +
 * tw_reuse_loopback), algorithm, quota, seed; thread_safe = false). */
int ep_workload_pool_config(const ep_workload *w, ep_pool_config *cfg, char *msg, size_t len);

/* Destination weights, summing to 1, for n = w->destinations. */
void ep_workload_weights(const ep_workload *w, double *out);

const char *ep_arrival_name(ep_arrival_kind k);

/* The workload as a JSON object (every key, effective values). */
json_t *ep_workload_to_json(const ep_workload *w);

#endif
