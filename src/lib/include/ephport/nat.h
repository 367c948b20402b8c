/* ephport/nat.h - carrier-grade NAT port mapping: CIDR lists, deterministic
 * port blocks (RFC 7422), plan histories, nftables rulesets and dynamic port
 * blocks.  Arithmetic and files only (libc): part of libephport.  The
 * durable mapping log is ephport/natlog.h (libephport-natlog, SQLite).
 *
 * Deterministic NAT (paired pooling, RFC 6888 REQ-2): every inside address
 * gets exactly one external address and one contiguous block of ports on it,
 * computed from the plan alone, so "who had 203.0.113.7:40123?" needs no log.
 * Subscriber number i (inside addresses counted in the order the CIDRs were
 * given) gets external address number i % M and block number i / M, where M
 * is the number of external addresses: subscribers are spread evenly over
 * the external addresses, and both directions are O(1) arithmetic plus a
 * binary search over the (few) CIDRs of a list.
 *
 * Plans are IPv4 (NAT44); the CIDR parser also reads IPv6.
 *
 * Dynamic port blocks (ep_nat_blocks) hand blocks out on demand and the log
 * (ep_natlog, ephport/natlog.h) records each assignment and release; it never holds a
 * destination (RFC 6888 REQ-12).
 *
 * Times are int64 UTC seconds since the Unix epoch.  Errors are negative
 * errno values (ephport/error.h); functions that take an ep_parse_error fill
 * it with a sentence on failure (it may be NULL).
 */
#ifndef EPHPORT_NAT_H
#define EPHPORT_NAT_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ephport/addr.h>
#include <ephport/error.h>
#include <ephport/portset.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CIDRs and CIDR lists (cidr.c) ------------------------------------ */

typedef struct ep_cidr {
    ep_addr addr;       /* the network address (host bits zero) */
    uint8_t prefix;     /* 0..32 (IPv4) or 0..128 (IPv6) */
} ep_cidr;

/* Longest text ep_cidr_format() writes, NUL included. */
#define EP_CIDR_STRLEN (EP_ADDR_STRLEN + 4)
/* Most items a CIDR list may hold. */
#define EP_CIDR_LIST_MAX 65536

/* "192.0.2.0/24", "2001:db8::/32", or a bare address (= /32, /128).  Strict:
 * no white space, decimal prefix without leading zeros, host bits must be
 * zero (the error names the network meant).  -EINVAL with err filled. */
EP_API int ep_cidr_parse(const char *text, ep_cidr *out, ep_parse_error *err);

/* Canonical text; a /32 or /128 prints as the bare address.  -ENOSPC. */
EP_API int ep_cidr_format(const ep_cidr *c, char *buf, size_t len);

EP_API bool ep_cidr_contains(const ep_cidr *c, const ep_addr *a);
EP_API bool ep_cidr_overlaps(const ep_cidr *a, const ep_cidr *b);

/* Number of addresses in an IPv4 CIDR (1..2^32); 0 for IPv6. */
EP_API uint64_t ep_cidr_size4(const ep_cidr *c);

/* Comma-separated CIDRs ("100.64.0.0/24,100.64.1.0/25").  Empty items,
 * more than EP_CIDR_LIST_MAX items and overlapping items are errors.  On
 * success *out is malloc'ed (free() it) and *count > 0. */
EP_API int ep_cidr_list_parse(const char *text, ep_cidr **out, size_t *count, ep_parse_error *err);

/* Canonical comma-separated text.  Returns the length, or -ENOSPC. */
EP_API int ep_cidr_list_format(const ep_cidr *list, size_t count, char *buf, size_t len);

/* ---- times (nattime.c) ------------------------------------------------- */

/* "2026-11-24T10:02:00Z", "2026-11-24T10:02:00+00:00", "2026-11-24 10:02:00Z",
 * "2026-11-24" (midnight UTC), or Unix seconds ("1795000000", "@1795000000").
 * UTC only, whole seconds, years 1970-9999.  -EINVAL otherwise. */
EP_API int ep_nat_time_parse(const char *text, int64_t *out);

/* "2026-11-24T10:02:00Z" (needs 21 bytes).  -ENOSPC, -ERANGE. */
#define EP_NAT_TIME_STRLEN 21
EP_API int ep_nat_time_format(int64_t t, char *buf, size_t len);

/* ---- deterministic plans (detnat.c) ------------------------------------ */

typedef struct ep_nat_config {
    const char *inside;      /* CIDR list of subscribers (IPv4) */
    const char *outside;     /* CIDR list of external addresses (IPv4) */
    uint16_t port_lo;        /* external port range, default 1024-65535 */
    uint16_t port_hi;        /* (both 0 = default) */
    uint32_t ratio;          /* subscribers per external address, 0 = auto */
    uint32_t block_size;     /* ports per block, 0 = auto (give at most one
                                of ratio and block_size) */
} ep_nat_config;

typedef struct ep_nat_plan ep_nat_plan;

typedef struct ep_nat_plan_info {
    uint64_t subscribers;       /* inside addresses (N) */
    uint64_t ext_addrs;         /* external addresses (M) */
    uint16_t port_lo, port_hi;  /* external port range */
    uint32_t block_size;        /* ports per subscriber (B) */
    uint32_t blocks_per_addr;   /* K = floor(ports / B), the sharing ratio */
    uint64_t capacity;          /* M * K */
    uint32_t unused_ports;      /* per address: ports - K * B, never handed out */
} ep_nat_plan_info;

/* One subscriber's mapping. */
typedef struct ep_nat_mapping {
    uint64_t index;             /* subscriber number i */
    ep_addr inside;
    ep_addr ext;
    uint16_t port_lo, port_hi;  /* the block, inclusive */
} ep_nat_mapping;

/* Validate cfg and build the plan.  -EINVAL with err explaining: malformed
 * or overlapping CIDRs (within or between the lists), IPv6, a bad port
 * range, both ratio and block_size, a ratio or block size that does not fit
 * the range, more subscribers than capacity.  -ENOMEM. */
EP_API int ep_nat_plan_new(const ep_nat_config *cfg, ep_nat_plan **out, ep_parse_error *err);
EP_API void ep_nat_plan_free(ep_nat_plan *plan);

EP_API void ep_nat_plan_get_info(const ep_nat_plan *plan, ep_nat_plan_info *out);

/* Subscriber number index (0 .. subscribers-1).  -ENOENT past the end. */
EP_API int ep_nat_plan_at(const ep_nat_plan *plan, uint64_t index, ep_nat_mapping *out);

/* Inside address -> its mapping.  -ENOENT if not a subscriber. */
EP_API int ep_nat_plan_forward(const ep_nat_plan *plan, const ep_addr *inside, ep_nat_mapping *out);

/* External address and port -> the subscriber whose block holds it.
 * -ENOENT if the address is not external, or the port is outside the range,
 * in the unused tail, or in a block no subscriber has. */
EP_API int ep_nat_plan_reverse(const ep_nat_plan *plan, const ep_addr *ext, uint16_t port,
                        ep_nat_mapping *out);

/* "inside=... outside=... ports=LO-HI block-size=B": the canonical
 * parameters (the plan-file form).  Like snprintf: returns the full length
 * (call with len 0 to size a buffer); the text is complete only when the
 * result is < len. */
EP_API int ep_nat_plan_describe(const ep_nat_plan *plan, char *buf, size_t len);

/* ---- nftables (nftables.c) --------------------------------------------- */

/* Write an `nft -f` ruleset implementing the plan: table ip ephport_nat
 * (replaced atomically if it exists), a map from inside address to external
 * address . port block, and a postrouting nat chain that SNATs TCP, UDP and
 * ICMP (echo identifiers) of each subscriber into its block; with the RFC
 * 4787 / 5382 / 6888 behaviour nftables can express: UDP and TCP timeouts
 * for the translated flows, hairpinning, and ICMP host unreachable for a
 * flow a full block cannot take (ephport-nat(1), REQUIREMENTS).  -EIO if f
 * fails. */
EP_API int ep_nat_plan_write_nft(const ep_nat_plan *plan, FILE *f);

/* ---- plan histories (plan_file.c) ---------------------------------------
 * A text file of plans with the time each took effect:
 *
 *   # comments and blank lines are ignored
 *   ephport-nat-plans 1
 *   plan valid-from=2026-11-01T00:00:00Z inside=100.64.0.0/22 outside=203.0.113.0/30 ports=1024-65535 block-size=256
 *   plan valid-from=2026-11-20T00:00:00Z inside=... outside=... ports=... block-size=...
 *
 * valid-from strictly increasing; a plan is in force from its valid-from
 * until the next plan's.  Unknown keys, duplicate keys and any plan that
 * ep_nat_plan_new() rejects are errors naming the line. */

typedef struct ep_nat_history ep_nat_history;

#define EP_NAT_HISTORY_MAX_BYTES (64u << 20)

EP_API int ep_nat_history_parse(const char *text, size_t len, ep_nat_history **out, ep_parse_error *err);
/* -ENOENT if the file does not exist, -EIO on read errors, else as parse. */
EP_API int ep_nat_history_load(const char *path, ep_nat_history **out, ep_parse_error *err);
EP_API void ep_nat_history_free(ep_nat_history *h);

EP_API size_t ep_nat_history_count(const ep_nat_history *h);
/* Plan i, its valid-from, and valid-until (INT64_MAX for the last). */
EP_API const ep_nat_plan *ep_nat_history_at(const ep_nat_history *h, size_t i, int64_t *from,
                                     int64_t *until);
/* The plan in force at t; NULL if t is before the first plan. */
EP_API const ep_nat_plan *ep_nat_history_find(const ep_nat_history *h, int64_t t, int64_t *from,
                                       int64_t *until);

/* Append a plan in force from valid_from to the history at path (created if
 * missing).  The existing file must parse and valid_from must be later than
 * its last plan (-EINVAL).  Written to a temporary file, fsync'ed and
 * renamed, so the history is never half-written.  -EIO. */
EP_API int ep_nat_history_append(const char *path, const ep_nat_plan *plan, int64_t valid_from,
                          ep_parse_error *err);

/* ---- protocols --------------------------------------------------------- */

/* "tcp" -> 6, "udp" -> 17, "icmp" -> 1; -EINVAL otherwise. */
EP_API int ep_nat_proto_parse(const char *text, uint8_t *out);
/* "tcp", "udp", "icmp", NULL for others. */
EP_API const char *ep_nat_proto_name(uint8_t proto);

/* ---- dynamic port blocks (natblocks.c) ---------------------------------
 * Blocks handed out on demand from a pool of external addresses: paired
 * pooling (all of a subscriber's blocks on one external address while it
 * holds any), at most max_blocks per subscriber and protocol, idle
 * timeout.  Operations are O(1), except that pairing a subscriber with
 * no block scans the external addresses (O(M)) and expiry costs one step
 * per block expired.  Not thread-safe: one allocator per thread, or a lock
 * around it. */

typedef struct ep_nat_blocks ep_nat_blocks;

typedef struct ep_nat_blocks_config {
    const char *outside;      /* CIDR list of external addresses (IPv4) */
    uint16_t port_lo, port_hi;/* default 1024-65535 (both 0) */
    uint32_t block_size;      /* ports per block, required */
    uint32_t max_blocks;      /* per subscriber and protocol, 0 = 4 */
    int64_t idle_timeout;     /* seconds without touch before expiry, 0 = never */
    uint64_t seed;            /* which free block is picked (reproducible) */
} ep_nat_blocks_config;

typedef struct ep_nat_block {
    ep_addr subscriber, ext;
    uint8_t proto;
    uint16_t port_lo, port_hi;
    int64_t start, last_used;
} ep_nat_block;

typedef struct ep_nat_blocks_stats {
    uint32_t ext_addrs, blocks_per_addr, block_size;
    uint64_t held;              /* blocks assigned now, all protocols */
    uint64_t subscribers_seen;
} ep_nat_blocks_stats;

/* -EINVAL (err says why: bad list, IPv6, range, block size, more than 2^24
 * blocks in all), -ENOMEM. */
EP_API int ep_nat_blocks_new(const ep_nat_blocks_config *cfg, ep_nat_blocks **out, ep_parse_error *err);
EP_API void ep_nat_blocks_free(ep_nat_blocks *b);

/* A new block for subscriber (proto 6, 17 or 1) at time now.  -EDQUOT at
 * the per-subscriber limit, -EADDRNOTAVAIL when its paired address (or, for
 * a new subscriber, every address) has no free block, -EINVAL. */
EP_API int ep_nat_blocks_assign(ep_nat_blocks *b, const ep_addr *subscriber, uint8_t proto, int64_t now,
                         ep_nat_block *out);
/* The held block containing ext:port.  -ENOENT. */
EP_API int ep_nat_blocks_find(const ep_nat_blocks *b, const ep_addr *ext, uint8_t proto, uint16_t port,
                       ep_nat_block *out);
/* Activity on the block containing ext:port: postpones its expiry. */
EP_API int ep_nat_blocks_touch(ep_nat_blocks *b, const ep_addr *ext, uint8_t proto, uint16_t port,
                        int64_t now);
/* Release the block containing ext:port (out, may be NULL, gets it). */
EP_API int ep_nat_blocks_release(ep_nat_blocks *b, const ep_addr *ext, uint8_t proto, uint16_t port,
                          ep_nat_block *out);
/* Release every block idle for idle_timeout by now, oldest first, calling
 * fn (may be NULL) with the block and its end time (last use + timeout).
 * Returns the number released, or fn's error (expiry stops there; the
 * block passed to fn is already released). */
EP_API int ep_nat_blocks_expire(ep_nat_blocks *b, int64_t now,
                         int (*fn)(const ep_nat_block *blk, int64_t end, void *arg), void *arg);
EP_API void ep_nat_blocks_get_stats(const ep_nat_blocks *b, ep_nat_blocks_stats *out);
EP_API uint32_t ep_nat_blocks_held_by(const ep_nat_blocks *b, const ep_addr *subscriber, uint8_t proto);

#ifdef __cplusplus
}
#endif
#endif
