/* ephport/pool.h - the ephemeral-port allocation engine.
 *
 * An ep_pool owns one port range [lo, hi], a reserved set, a list of local
 * addresses, and every 4-tuple handed out from them, for TCP and UDP (two
 * separate port spaces).  It reproduces the kernel's rules:
 *
 *   - connect-style allocation (ep_pool_connect): a local port is unique per
 *     full 4-tuple (local address, local port, remote address, remote port)
 *     and protocol, so one port serves many destinations at once; a
 *     destination (local address, remote address, remote port, protocol) is
 *     the unit that runs out;
 *   - bind-style allocation (ep_pool_bind): an explicit port or 0 = pick one,
 *     held for (local address, port) with SO_REUSEADDR / SO_REUSEPORT rules,
 *     and deferred binding (IP_BIND_ADDRESS_NO_PORT);
 *   - TIME_WAIT after a TCP active close, tcp_tw_reuse-style reuse, and an
 *     optional quarantine (hold-down) after any other release.
 *
 * Time is an input: every call that depends on time takes `now`, a count of
 * nanoseconds on the caller's monotonic clock (ep_now() reads CLOCK_MONOTONIC
 * for live use).  Time never goes backwards inside a pool: a `now` smaller
 * than the largest seen so far is treated as that largest value.
 *
 * All functions are thread-safe on one pool (internal locks), unless the
 * pool was created with thread_safe = false.  A thread-safe pool with stack
 * semantics and the random algorithm is split by destination: the first
 * thread to connect towards a destination places it on a shard of its
 * own, so threads working towards different destinations scale across
 * cores (docs/ENGINE.md section 15).  A pool used by one thread is fastest
 * with thread_safe = false.
 *
 * Errors are negative errno values (see ephport/error.h).
 */
#ifndef EPHPORT_POOL_H
#define EPHPORT_POOL_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/addr.h>
#include <ephport/error.h>
#include <ephport/portset.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t ep_time; /* nanoseconds */
#define EP_NSEC_PER_MSEC 1000000ull
#define EP_NSEC_PER_SEC  1000000000ull
#define EP_SEC(s)  ((ep_time)(s) * EP_NSEC_PER_SEC)
#define EP_MSEC(m) ((ep_time)(m) * EP_NSEC_PER_MSEC)

/* CLOCK_MONOTONIC in nanoseconds, for callers that run in real time. */
EP_API ep_time ep_now(void);

enum { EP_PROTO_TCP = 6, EP_PROTO_UDP = 17 }; /* IPPROTO_TCP, IPPROTO_UDP */

/* Port selection algorithms.  All run on the same engine (same tables, same
 * TIME_WAIT, same errors) so they can be compared on the same workload. */
typedef enum ep_algorithm {
    EP_ALG_RANDOM = 0,   /* default: uniform among the ports actually free for
                            the 4-tuple, CSPRNG, bounded cost at any occupancy */
    EP_ALG_SEQUENTIAL,   /* global counter, next free port (lwIP style) */
    EP_ALG_RFC6056_1,    /* random start, linear probe */
    EP_ALG_RFC6056_2,    /* random tries, then linear probe fallback */
    EP_ALG_RFC6056_3,    /* keyed hash + global counter (gVisor style) */
    EP_ALG_RFC6056_4,    /* keyed hash + perturbation table, even/odd split,
                            random increments (Linux __inet_hash_connect) */
    EP_ALG_RFC6056_5,    /* random increments */
    EP_ALG__COUNT
} ep_algorithm;

/* "random", "sequential", "rfc6056-1" ... "rfc6056-5"; NULL if out of range. */
EP_API const char *ep_algorithm_name(ep_algorithm alg);
/* Accepts the names above plus "default", "linux" (= rfc6056-4). */
EP_API int ep_algorithm_from_name(const char *name, ep_algorithm *out);

/* Whose rules the pool follows (docs/ENGINE.md, section 13 for linux, 12
 * for stack's deviations). */
typedef enum ep_semantics {
    EP_SEM_STACK = 0,   /* the idealised kernel a userspace stack or proxy
                           wants: bound ports block only their own address
                           while bound, UDP shares ports per 4-tuple like TCP,
                           connect-style tuples never refuse a SO_REUSEADDR
                           bind (the documented deviations) */
    EP_SEM_LINUX = 1,   /* exactly what Linux 6.18 grants, rule by rule:
                           sticky TCP bind buckets, UDP autobind, the
                           kernel's bind conflicts and errnos */
} ep_semantics;

/* "stack", "linux"; NULL if out of range. */
EP_API const char *ep_semantics_name(ep_semantics sem);

typedef struct ep_pool_config {
    uint16_t lo, hi;           /* the range, 1 <= lo <= hi <= 65535 */
    const char *reserved;      /* ip_local_reserved_ports text, NULL = none */
    ep_algorithm algorithm;
    ep_time time_wait;         /* TCP TIME_WAIT length; 0 = no TIME_WAIT */
    bool tw_reuse;             /* tcp_tw_reuse: reuse a TIME_WAIT tuple towards
                                  the same destination once older than
                                  tw_reuse_delay */
    ep_time tw_reuse_delay;    /* default 1 s */
    ep_time quarantine;        /* hold-down after a release that does not enter
                                  TIME_WAIT (any protocol); 0 = none */
    uint32_t owner_quota;      /* default cap on ports held per owner, 0 = none */
    bool seeded;               /* true: derive every secret from seed
                                  (reproducible); false: getrandom(2) */
    uint64_t seed;
    bool thread_safe;          /* default true: internal locks (and shards,
                                  see the top of this file) */
    ep_semantics semantics;    /* default EP_SEM_STACK */
    bool tw_reuse_loopback;    /* with tw_reuse: only TIME_WAIT entries whose
                                  local or remote address is loopback (127/8,
                                  ::1, ::ffff:127/104) are reusable, as
                                  net.ipv4.tcp_tw_reuse = 2 (Linux's default);
                                  tcp_tw_reuse = 1 is tw_reuse alone */
} ep_pool_config;

/* Fill cfg with the defaults of a named profile (see ephport/profile.h):
 * its range and TIME_WAIT, no reserved ports, EP_ALG_RANDOM, tw_reuse off
 * with a 1 s delay, no quarantine, no quota, unseeded, thread-safe, stack
 * semantics (set cfg->semantics = EP_SEM_LINUX for the kernel's rules).
 * profile NULL means "linux".  -EINVAL for an unknown profile. */
EP_API int ep_pool_config_init(ep_pool_config *cfg, const char *profile);

typedef struct ep_pool ep_pool;

/* Validate cfg and create a pool.  -EINVAL (err explains, may be NULL) for a
 * bad range, a bad reserved list, a reserved set covering the whole range, or
 * an unknown algorithm; -ENOMEM. */
EP_API int ep_pool_new(const ep_pool_config *cfg, ep_pool **out, ep_parse_error *err);
EP_API void ep_pool_free(ep_pool *pool);

/* Add a local address (IPv4 or IPv6, not a wildcard).  Returns 0,
 * -EEXIST if present, -EINVAL for family 0 or a wildcard. */
EP_API int ep_pool_add_address(ep_pool *pool, const ep_addr *addr);

/* Replace the reserved set at run time (ip_local_reserved_ports semantics:
 * affects future automatic selection only; tuples already holding a newly
 * reserved port keep it).  -EINVAL if the text is bad or covers the range. */
EP_API int ep_pool_set_reserved(ep_pool *pool, const char *text, ep_parse_error *err);

/* Per-owner quota override (cap 0 = unlimited for this owner). */
EP_API int ep_pool_set_owner_quota(ep_pool *pool, uint32_t owner, uint32_t cap);

/* A full 4-tuple plus protocol. */
typedef struct ep_tuple {
    uint8_t proto;          /* EP_PROTO_TCP or EP_PROTO_UDP */
    ep_addr local;
    uint16_t local_port;
    ep_addr remote;
    uint16_t remote_port;
} ep_tuple;

/* connect-style allocation.  In: t->proto, t->remote (not a wildcard),
 * t->remote_port (1..65535), t->local (a pool address, or family 0 / the
 * wildcard: the pool picks one of its addresses of the remote's family,
 * weighted by how many ports each has free towards that destination).
 * Out: t->local and t->local_port.  owner 0 = no owner (no quota).
 * Errors: -EINVAL (bad tuple or protocol), -EAFNOSUPPORT (no pool address of
 * that family), -ENOENT (t->local is not a pool address), -EADDRNOTAVAIL (no
 * port free towards that destination; counted; Linux: "Cannot assign
 * requested address"), -EAGAIN (Linux semantics, UDP: no port free for a
 * new UDP socket, "Resource temporarily unavailable"; counted as
 * exhaustion), -EDQUOT (owner at quota). */
EP_API int ep_pool_connect(ep_pool *pool, ep_tuple *t, uint32_t owner, ep_time now);

typedef enum ep_close_how {
    EP_CLOSE_ACTIVE = 0,    /* we closed first: TCP enters TIME_WAIT */
    EP_CLOSE_PASSIVE = 1,   /* peer closed first or reset: no TIME_WAIT */
} ep_close_how;

/* Release a connect-style tuple.  TCP + EP_CLOSE_ACTIVE enters TIME_WAIT (if
 * time_wait > 0); every other release enters quarantine (if > 0) or frees
 * the tuple at once.  -ENOENT if the tuple is not held, -EALREADY if it is
 * already in TIME_WAIT or quarantine, -EINVAL for a malformed tuple. */
EP_API int ep_pool_close(ep_pool *pool, const ep_tuple *t, ep_close_how how, ep_time now);

/* A reference to a held connect-style tuple, for closing it without handing
 * the tuple back (no address validation, no lookups): what a stack that
 * keeps per-connection state stores beside it.  Opaque; never 0. */
typedef uint64_t ep_conn_ref;

/* ep_pool_connect, and on success *ref for ep_pool_close_ref.  Same
 * inputs, outputs and errors; -EINVAL if ref is NULL. */
EP_API int ep_pool_connect_ref(ep_pool *pool, ep_tuple *t, uint32_t owner, ep_time now,
                        ep_conn_ref *ref);

/* ep_pool_close of the tuple ref names, with the same effects.  A reference
 * is valid from ep_pool_connect_ref until its tuple is closed (through it or
 * through ep_pool_close); -ENOENT for one that is not (never issued,
 * already closed, or its tuple in TIME_WAIT or quarantine), -EINVAL for a
 * bad how.  A stale reference can only be mistaken for a live one after
 * 2^32 further connects on the pool have come round to its slot. */
EP_API int ep_pool_close_ref(ep_pool *pool, ep_conn_ref ref, ep_close_how how, ep_time now);

/* bind-style allocation. */
enum {
    EP_BIND_REUSEADDR = 1u << 0,   /* SO_REUSEADDR */
    EP_BIND_REUSEPORT = 1u << 1,   /* SO_REUSEPORT */
    EP_BIND_NO_PORT   = 1u << 2,   /* IP_BIND_ADDRESS_NO_PORT: with port 0, the
                                      port is chosen at ep_pool_connect_bound */
    EP_BIND_V6ONLY    = 1u << 3,   /* IPV6_V6ONLY (IPv6 only; -EINVAL on IPv4).
                                      Linux semantics: without it an IPv6
                                      socket is dual-stack, as Linux's default;
                                      stack semantics treat every IPv6 socket
                                      as V6ONLY */
};

typedef struct ep_bind_req {
    uint8_t proto;
    ep_addr addr;       /* a pool address or a family's wildcard */
    uint16_t port;      /* 0 = pick a port free on addr */
    unsigned flags;
    uint32_t owner;     /* also the "user" for SO_REUSEPORT groups */
} ep_bind_req;

typedef uint64_t ep_bind_id; /* never 0 */

/* Hold (addr, port).  On success *id identifies the binding and *port_out
 * (may be NULL) the port (0 for a deferred NO_PORT binding).
 * Errors: -EINVAL, -ENOENT (addr not a pool address), -EADDRINUSE (conflict
 * under the reuse rules; Linux semantics also for port 0 with none free),
 * -EADDRNOTAVAIL (stack semantics, port 0: none free), -EDQUOT.
 * Explicit ports may lie outside the range (as in the kernel); port 0 picks
 * inside it, never a reserved port.  The rules, one by one, are in
 * docs/ENGINE.md section 5 (stack) and 13 (Linux); in short, for stack
 * semantics: overlapping addresses conflict unless
 * both REUSEPORT with the same owner, or both REUSEADDR and neither a
 * listening TCP binding; a binding also conflicts with connect-style tuples
 * on that port and address (in use, TIME_WAIT or quarantine) unless it has
 * REUSEADDR; port 0 avoids ports with any binding or tuple there. */
EP_API int ep_pool_bind(ep_pool *pool, const ep_bind_req *req, ep_time now,
                 ep_bind_id *id, uint16_t *port_out);

/* Mark a TCP binding as listening (affects SO_REUSEADDR conflicts).  The
 * reuse rules are checked again with the binding listening (Linux
 * inet_csk_listen_start): -EADDRINUSE if a SO_REUSEADDR neighbour now
 * conflicts (the binding stays as it was).  Listening twice: 0.
 * -ENOENT unknown (or connected) id, -ENOTSUP for UDP, -EINVAL for a
 * deferred binding that has no port yet. */
EP_API int ep_pool_listen(ep_pool *pool, ep_bind_id id);

/* Release a binding that was not connected.  -ENOENT if unknown (a binding
 * that was connected with ep_pool_connect_bound is released by closing its
 * connection; its id is no longer valid). */
EP_API int ep_pool_unbind(ep_pool *pool, ep_bind_id id, ep_time now);

/* bind-before-connect: connect binding `id` to t->remote:t->remote_port.
 * An explicit port is kept (-EADDRNOTAVAIL if that 4-tuple is taken); a
 * NO_PORT binding gets a port chosen connect-style.  Linux semantics: a
 * TIME_WAIT of the 4-tuple is taken over whatever tw_reuse says; UDP checks
 * no 4-tuple; a deferred UDP binding on an address (or with options) gets
 * its port as bind(addr, 0) would, -EAGAIN if none.  On success the binding
 * becomes the connection: release it with ep_pool_close(), which also ends
 * the binding.  t->proto/local/local_port are filled from the binding. */
EP_API int ep_pool_connect_bound(ep_pool *pool, ep_bind_id id, ep_tuple *t, ep_time now);

/* Expire TIME_WAIT and quarantine entries due by `now`.  Every other call
 * does this too; call it to make statistics current without allocating. */
EP_API void ep_pool_advance(ep_pool *pool, ep_time now);

/* Failure causes counted per pool and per destination. */
typedef enum ep_fail_cause {
    EP_FAIL_EXHAUSTED = 0,  /* -EADDRNOTAVAIL */
    EP_FAIL_QUOTA,          /* -EDQUOT */
    EP_FAIL_ADDRINUSE,      /* -EADDRINUSE on bind */
    EP_FAIL_INVALID,        /* -EINVAL, -ENOENT, -EALREADY, ... */
    EP_FAIL__COUNT
} ep_fail_cause;

typedef struct ep_pool_stats {
    uint32_t range_ports;       /* hi - lo + 1 */
    uint32_t effective_ports;   /* range minus reserved */
    uint64_t in_use;            /* connect-style tuples held */
    uint64_t time_wait;
    uint64_t quarantine;
    uint64_t binds;             /* bindings that hold a port */
    uint64_t destinations;      /* destinations with at least one entry */
    uint64_t allocations;       /* successful connect + bind */
    uint64_t releases;
    uint64_t failures[EP_FAIL__COUNT];
} ep_pool_stats;

typedef struct ep_dest_stats {
    uint8_t proto;
    ep_addr local, remote;
    uint16_t remote_port;
    uint32_t in_use;
    uint32_t time_wait;
    uint32_t quarantine;
    uint32_t blocked;      /* effective ports unusable here because bound on
                              the local address (or its wildcard) */
    uint32_t free;         /* ports a connect towards it could take now */
    uint32_t high_water;   /* peak of in_use + time_wait + quarantine */
    uint64_t failures;     /* -EADDRNOTAVAIL towards it */
    double pressure;       /* 1 - free / effective_ports, in [0, 1] */
} ep_dest_stats;

EP_API int ep_pool_stats_get(ep_pool *pool, ep_time now, ep_pool_stats *out);

/* Statistics of one destination (t->local must be a pool address; local_port
 * is ignored).  A destination with no entries reports zeros and its free
 * count; -ENOENT for an unknown local address. */
EP_API int ep_pool_dest_stats(ep_pool *pool, const ep_tuple *t, ep_time now, ep_dest_stats *out);

/* The destinations with entries, highest pressure first (ties: more in use
 * first).  Fills at most max rows and returns how many were written; *total
 * (may be NULL) receives the number of destinations. */
EP_API int ep_pool_top_destinations(ep_pool *pool, ep_time now, ep_dest_stats *out,
                             size_t max, size_t *total);

/* The pool's effective configuration (after profile and defaults).
 * out->reserved points into the pool: valid until the next
 * ep_pool_set_reserved() or ep_pool_free(). */
EP_API int ep_pool_get_config(const ep_pool *pool, ep_pool_config *out);

/* Consistency check for tests (SQLite's integrity_check idea): recompute
 * every derived counter, index, queue and dense set from the pool's primary
 * records.  0 if consistent; -EIO (a bug in the engine) with a description
 * in why (may be NULL); -ENOMEM.  O(entries + addresses * 65536). */
EP_API int ep_pool_check(ep_pool *pool, char *why, size_t len);

#ifdef __cplusplus
}
#endif
#endif
