/* pool-t.h - the engine's data types, and nothing else (HAProxy's "-t.h"
 * rule: type headers pull in no logic, so every engine file can include this
 * one without an include cycle).  Private to libephport.
 *
 * Memory layout, chosen for the targets in docs/ENGINE.md (at most 64 bytes
 * per tracked connection, TIME_WAIT included):
 *   - every connect-style tuple is one 32-byte ep_entry in a slab array,
 *     addressed by u32 index, linked into a chained hash (4-byte buckets);
 *   - destinations (local address, remote address, remote port, protocol)
 *     are ep_dest records in their own slab + hash, freed as soon as they
 *     have no entries;
 *   - per (local address, protocol), a port-indexed array of two u32
 *     counts: bindings that block the port, connect-style entries on it. */
#ifndef EP_POOL_T_H
#define EP_POOL_T_H

#include <stdbool.h>
#include <stdint.h>

#include <ephport/pool.h>

#include "chacha-t.h"
#include "dense-t.h"
#include "lock-t.h"

#define EP_NIL UINT32_MAX
#define EP_MANY (UINT32_MAX - 1)

/* Index of a protocol in per-protocol arrays. */
#define EP_PI_TCP 0
#define EP_PI_UDP 1

/* States of a connect-style entry. */
enum {
    EP_ST_FREE = 0,
    EP_ST_INUSE,    /* held by a connection */
    EP_ST_TWY,      /* TIME_WAIT, younger than tw_reuse_delay (tw_reuse only) */
    EP_ST_TW,       /* TIME_WAIT (reusable when the pool's tw reuse is on) */
    EP_ST_QUAR,     /* quarantine (hold-down) */
    EP_ST_TWN,      /* TIME_WAIT never reusable (tw_reuse on, but not for
                       this destination: tw_reuse_loopback) */
};

/* Entry flags (ep_entry.eflags). */
enum {
    EP_EF_REUSEADDR = 1u << 0,  /* the socket had SO_REUSEADDR (EP_BIND_*) */
    EP_EF_REUSEPORT = 1u << 1,  /* SO_REUSEPORT */
    EP_EF_V6ONLY    = 1u << 3,  /* IPV6_V6ONLY (same bit as EP_BIND_V6ONLY) */
    EP_EF_HOLD      = 1u << 4,  /* the entry holds its port for itself
                                   (sockrules.c: ep_rule_hold_apply applied):
                                   Linux UDP sockets, and TCP sockets that were
                                   bound explicitly once their binding ended */
    EP_EF_EXPLICIT  = 1u << 5,  /* came from an explicit binding */
};
#define EP_EF_SOCKOPTS (EP_EF_REUSEADDR | EP_EF_REUSEPORT | EP_EF_V6ONLY)

/* Expiry queues (see timeq.c). */
enum { EP_Q_TWY = 0, EP_Q_TW, EP_Q_QUAR, EP_Q_TWN, EP_Q__COUNT };

typedef struct ep_entry {
    uint32_t dest;          /* destination index */
    uint16_t port;          /* local port */
    uint8_t state;          /* EP_ST_* */
    uint8_t eflags;         /* EP_EF_* */
    uint32_t hnext;         /* hash chain */
    union {
        uint32_t prev;      /* queued: expiry queue link */
        uint32_t nonce;     /* in use: checked by ep_pool_close_ref */
    };
    uint32_t next;          /* queued: expiry queue link; free: free list */
    union {
        ep_time expire;     /* queued: when it leaves its queue */
        struct {
            uint32_t owner; /* in use: owner charged for it (0: none) */
            uint32_t bind;  /* in use: binding it came from (EP_NIL: none) */
        } held;
    } u;
} ep_entry;

typedef struct ep_ttable {
    ep_entry *e;
    uint32_t cap;           /* slots allocated */
    uint32_t used;          /* slots ever handed out (high mark) */
    uint32_t count;         /* live entries */
    uint32_t free_head;
    uint32_t *bucket;
    uint32_t mask;          /* buckets - 1 */
    uint32_t shift;         /* 64 - log2(buckets) */
    uint64_t k0, k1;        /* hash key, k1 odd */
    uint32_t limit;         /* most slots it may grow to (a power of two) */
} ep_ttable;

typedef struct ep_timeq {
    uint32_t head, tail;
} ep_timeq;

typedef struct ep_dest {
    ep_addr remote;
    uint16_t rport;
    uint8_t proto;          /* EP_PROTO_TCP / EP_PROTO_UDP; 0 = free slot */
    uint8_t idle;           /* no entries; kept in the idle list (dest.c) */
    uint32_t laddr;         /* local address index */
    uint32_t hnext;         /* hash chain; free list */
    uint32_t lprev, lnext;  /* list of the destinations of one local address */
    uint32_t iprev, inext;  /* idle list */
    uint32_t in_use, time_wait, quarantine;
    uint32_t nblk;          /* non-reusable entries on effective ports that
                               are not blocked by a binding on the address */
    uint32_t high_water;
    uint16_t few[2];        /* the ports of its entries while it has at most
                               two and never had more since it was empty */
    uint64_t failures;      /* -EADDRNOTAVAIL towards it */
    ep_dense *dense;        /* exact-selection set (dense.c), or NULL */
    uint8_t few_over;       /* few[] is not complete */
    uint8_t twr;            /* its TIME_WAIT entries become reusable
                               (reuse_on, and tw_reuse_loopback allows) */
} ep_dest;

typedef struct ep_dtable {
    ep_dest *d;
    uint32_t cap, used;
    uint32_t count;         /* destinations with entries (not idle) */
    uint32_t free_head;
    uint32_t idle_head, idle_tail, nidle;
    uint32_t last;          /* the record the last lookup found, or EP_NIL */
    uint32_t *bucket;
    uint32_t mask;
    uint32_t key[8];        /* NH key + final mixing key (dest.c) */
} ep_dtable;

/* Per port of one local address and protocol, side by side so that the
 * availability test of a port reads one cache line. */
typedef struct ep_portcount {
    uint32_t blk;           /* port-holding bindings on this address or on its
                               family's wildcard */
    uint32_t conn;          /* connect-style entries (any state) */
} ep_portcount;

/* One local address for one protocol. */
typedef struct ep_lstate {
    ep_portcount *pc;       /* [65536] */
    uint32_t blocked;       /* effective ports with blk > 0 */
    uint32_t dests;         /* head of the destination list */
    ep_dense *dense;        /* head of the dense-destination list */
    ep_dense *own;          /* Linux UDP: the address's own exact-selection
                               set (every destination from it sees the same
                               ports: those no UDP socket holds), built on
                               demand; its destinations have none */
} ep_lstate;

typedef struct ep_laddr {
    ep_addr addr;
    ep_lstate st[2];
} ep_laddr;

enum { EP_B_FREE = 0, EP_B_HOLD, EP_B_NOPORT, EP_B_CONNECTED };

typedef struct ep_binding {
    ep_addr addr;           /* canonical; a wildcard keeps its family */
    uint32_t laddr;         /* local address index, EP_NIL for a wildcard */
    uint32_t owner;
    uint32_t gen;           /* generation, part of the id */
    uint32_t pnext, pprev;  /* chain of bindings on (proto, port); free list */
    uint16_t port;
    uint8_t proto;
    uint8_t flags;
    uint8_t state;          /* EP_B_* */
    uint8_t listening;
} ep_binding;

/* Linux TCP, per port: the SO_REUSEPORT fast path of the port's bind
 * bucket (inet_csk_get_port(): sk_reuseport_match() lets a SO_REUSEPORT
 * socket of the recorded user, and for STRICT of the recorded address,
 * skip the conflict check; inet_csk_update_fastreuse() records it).  Only
 * meaningful while the port has an explicitly bound socket (sticky > 0):
 * otherwise the bucket is gone or back to -1 (6.18). */
enum { EP_FRP_NONE = 0, EP_FRP_ANY, EP_FRP_STRICT };
typedef struct ep_tcp_fast {
    uint8_t frp;            /* EP_FRP_* */
    uint8_t family;
    uint8_t v6only;
    uint8_t pad_;
    uint32_t lidx;          /* EP_NIL = wildcard */
    uint32_t uid;
    uint32_t sticky;        /* explicitly bound sockets on the port (bindings
                               holding it, and their TIME_WAIT entries) */
} ep_tcp_fast;

typedef struct ep_owner {
    uint32_t id, held, cap, next;
    bool has_cap;
} ep_owner;

typedef struct ep_owners {
    ep_owner *o;
    uint32_t cap, used, count, free_head;
    uint32_t *bucket;
    uint32_t mask;
} ep_owners;

/* Shards (shard.h, docs/ENGINE.md section 15).  A sharded pool is the
 * caller's ep_pool (shard 0, "the master") and EP_SHARDS - 1 more ep_pool
 * records, each owning the destinations of the directory slots (a hash of
 * remote address and port) that the directory gives it: their entries, destination records, expiry
 * queues, per-address entry counts, RNG stream and counters.  Bindings,
 * owners, the reserved set's index tables and the RSS tables live in the
 * master only (shards point at the shared tables).  Read-only after
 * ep_pool_new, alone on its cache line(s), so threads on other shards can
 * read the master's copy without moving a line another thread writes. */
#ifndef EP_SHARD_BITS        /* 1..8; -DEP_SHARD_BITS=n to experiment */
#define EP_SHARD_BITS 4
#endif
#define EP_SHARDS (1 << EP_SHARD_BITS)
#define EP_SHARD_ENTRIES (1u << (32 - EP_SHARD_BITS)) /* slots per shard: a
                               reference carries the shard in the top bits */
#define EP_DIR_BITS 12       /* directory slots: 4096 bytes per sharded pool */
#define EP_DIR_SLOTS (1u << EP_DIR_BITS)

typedef struct ep_pool_shared {
    _Alignas(64) _Atomic uint64_t now; /* largest time any call passed */
    _Alignas(64) ep_lock owners;       /* owner quotas, taken inside a shard
                                          lock only (leaf) */
    /* The directory: slot -> 1 + the shard that owns every destination
     * hashing to the slot, 0 while no call has needed it.  Written once per
     * slot (compare-and-swap from 0, by the first connect towards it), so
     * after warm-up its lines are read-only and shared by every core. */
    _Alignas(64) _Atomic uint8_t dir[EP_DIR_SLOTS];
} ep_pool_shared;

typedef struct ep_route {
    _Alignas(64) struct ep_pool *master;
    struct ep_pool **shard; /* [nshards], shard[0] == master */
    ep_pool_shared *shared; /* NULL when nshards == 1 */
    uint32_t nshards;       /* 1 (not sharded) or EP_SHARDS */
    uint32_t index;         /* this record's shard index */
    uint64_t key;           /* directory hash multiplier (odd; 0 with one
                               shard) */
} ep_route;

struct ep_pool {
    ep_lock lock;
    ep_route route;
    bool locking;
    ep_pool_config cfg;
    char *reserved_text;    /* our copy of cfg.reserved */
    ep_portset reserved;
    uint32_t neff;          /* effective ports */
    uint16_t *idx2port;     /* [neff] effective index -> port */
    uint16_t *port2idx;     /* [65536] port -> effective index, or 0xffff
                               (an index is < 65535); see ep_port_index() */
    bool contiguous;        /* no reserved port in the range: index =
                               port - lo (ep_port_index, ep_index_port) */
    bool reuse_on;          /* tw_reuse and a TIME_WAIT longer than the delay */
    bool linux_sem;         /* cfg.semantics == EP_SEM_LINUX */
    ep_time now;            /* largest time seen */
    ep_time next_due;       /* no queue head expires before this */
    ep_rng rng;
    uint8_t fkey[16];       /* SipHash-2-4 key of F() (RFC 6056 alg. 3, 4) */
    ep_ttable tt;
    ep_dtable dt;
    ep_timeq q[EP_Q__COUNT];
    ep_laddr *addrs;
    uint32_t naddrs, addrs_cap;
    uint32_t fam_addr[2];   /* per family (ep_family_index): EP_NIL = no
                               address, EP_MANY = several, else the index of
                               the only one */
    ep_binding *binds;
    uint32_t binds_cap, binds_used, binds_free;
    uint32_t *bhead[2];     /* [65536] per protocol: first binding on a port */
    ep_tcp_fast *tcpfast;   /* [65536] Linux semantics only (bind.c) */
    ep_owners owners;
    uint32_t ref_nonce;     /* last nonce given to an entry (never 0) */
    uint32_t seq_next;      /* sequential: next effective index to try */
    uint32_t alg3_counter;  /* RFC 6056 alg. 3 global counter */
    uint32_t alg5_next;     /* RFC 6056 alg. 5 position */
    uint32_t *perturb;      /* RFC 6056 alg. 4 table (65536 entries) */
    struct ep_rss *rss;     /* RSS configuration and tables (rss.c), or NULL */
    int32_t rss_queue;      /* during ep_pool_connect_rss: the queue; else -1 */
    ep_pool_stats st;       /* counters (the table-derived fields are
                               filled by ep_pool_stats_get) */
};

#endif
