/* ephport/nat.h - carrier-grade NAT port mapping: CIDR lists, deterministic
 * port blocks (RFC 7422), plan histories, nftables rulesets, dynamic port
 * blocks and the durable mapping log.
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
 * (ep_natlog, SQLite) records each assignment and release; it never holds a
 * destination (RFC 6888 REQ-12).
 *
 * Times are int64 UTC seconds since the Unix epoch.  Errors are negative
 * errno values (ephport/error.h); functions that take an ep_parse_error fill
 * it with a sentence on failure (it may be NULL).
 */
#ifndef EPHPORT_NAT_H
#define EPHPORT_NAT_H

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
int ep_cidr_parse(const char *text, ep_cidr *out, ep_parse_error *err);

/* Canonical text; a /32 or /128 prints as the bare address.  -ENOSPC. */
int ep_cidr_format(const ep_cidr *c, char *buf, size_t len);

bool ep_cidr_contains(const ep_cidr *c, const ep_addr *a);
bool ep_cidr_overlaps(const ep_cidr *a, const ep_cidr *b);

/* Number of addresses in an IPv4 CIDR (1..2^32); 0 for IPv6. */
uint64_t ep_cidr_size4(const ep_cidr *c);

/* Comma-separated CIDRs ("100.64.0.0/24,100.64.1.0/25").  Empty items,
 * more than EP_CIDR_LIST_MAX items and overlapping items are errors.  On
 * success *out is malloc'ed (free() it) and *count > 0. */
int ep_cidr_list_parse(const char *text, ep_cidr **out, size_t *count, ep_parse_error *err);

/* Canonical comma-separated text.  Returns the length, or -ENOSPC. */
int ep_cidr_list_format(const ep_cidr *list, size_t count, char *buf, size_t len);

/* ---- times (nattime.c) ------------------------------------------------- */

/* "2026-11-24T10:02:00Z", "2026-11-24T10:02:00+00:00", "2026-11-24 10:02:00Z",
 * "2026-11-24" (midnight UTC), or Unix seconds ("1795000000", "@1795000000").
 * UTC only, whole seconds, years 1970-9999.  -EINVAL otherwise. */
int ep_nat_time_parse(const char *text, int64_t *out);

/* "2026-11-24T10:02:00Z" (needs 21 bytes).  -ENOSPC, -ERANGE. */
#define EP_NAT_TIME_STRLEN 21
int ep_nat_time_format(int64_t t, char *buf, size_t len);

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
int ep_nat_plan_new(const ep_nat_config *cfg, ep_nat_plan **out, ep_parse_error *err);
void ep_nat_plan_free(ep_nat_plan *plan);

void ep_nat_plan_get_info(const ep_nat_plan *plan, ep_nat_plan_info *out);

/* Subscriber number index (0 .. subscribers-1).  -ENOENT past the end. */
int ep_nat_plan_at(const ep_nat_plan *plan, uint64_t index, ep_nat_mapping *out);

/* Inside address -> its mapping.  -ENOENT if not a subscriber. */
int ep_nat_plan_forward(const ep_nat_plan *plan, const ep_addr *inside, ep_nat_mapping *out);

/* External address and port -> the subscriber whose block holds it.
 * -ENOENT if the address is not external, or the port is outside the range,
 * in the unused tail, or in a block no subscriber has. */
int ep_nat_plan_reverse(const ep_nat_plan *plan, const ep_addr *ext, uint16_t port,
                        ep_nat_mapping *out);

/* "inside=... outside=... ports=LO-HI block-size=B": the canonical
 * parameters (the plan-file form).  Like snprintf: returns the full length
 * (call with len 0 to size a buffer); the text is complete only when the
 * result is < len. */
int ep_nat_plan_describe(const ep_nat_plan *plan, char *buf, size_t len);

/* ---- nftables (nftables.c) --------------------------------------------- */

/* Write an `nft -f` ruleset implementing the plan: table ip ephport_nat
 * (replaced atomically if it exists), a map from inside address to external
 * address . port block, and a postrouting nat chain that SNATs TCP, UDP and
 * ICMP (echo identifiers) of each subscriber into its block.  -EIO if f
 * fails. */
int ep_nat_plan_write_nft(const ep_nat_plan *plan, FILE *f);

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

int ep_nat_history_parse(const char *text, size_t len, ep_nat_history **out, ep_parse_error *err);
/* -ENOENT if the file does not exist, -EIO on read errors, else as parse. */
int ep_nat_history_load(const char *path, ep_nat_history **out, ep_parse_error *err);
void ep_nat_history_free(ep_nat_history *h);

size_t ep_nat_history_count(const ep_nat_history *h);
/* Plan i, its valid-from, and valid-until (INT64_MAX for the last). */
const ep_nat_plan *ep_nat_history_at(const ep_nat_history *h, size_t i, int64_t *from,
                                     int64_t *until);
/* The plan in force at t; NULL if t is before the first plan. */
const ep_nat_plan *ep_nat_history_find(const ep_nat_history *h, int64_t t, int64_t *from,
                                       int64_t *until);

/* Append a plan in force from valid_from to the history at path (created if
 * missing).  The existing file must parse and valid_from must be later than
 * its last plan (-EINVAL).  Written to a temporary file, fsync'ed and
 * renamed, so the history is never half-written.  -EIO. */
int ep_nat_history_append(const char *path, const ep_nat_plan *plan, int64_t valid_from,
                          ep_parse_error *err);

/* ---- protocols --------------------------------------------------------- */

/* "tcp" -> 6, "udp" -> 17, "icmp" -> 1; -EINVAL otherwise. */
int ep_nat_proto_parse(const char *text, uint8_t *out);
/* "tcp", "udp", "icmp", NULL for others. */
const char *ep_nat_proto_name(uint8_t proto);

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
int ep_nat_blocks_new(const ep_nat_blocks_config *cfg, ep_nat_blocks **out, ep_parse_error *err);
void ep_nat_blocks_free(ep_nat_blocks *b);

/* A new block for subscriber (proto 6, 17 or 1) at time now.  -EDQUOT at
 * the per-subscriber limit, -EADDRNOTAVAIL when its paired address (or, for
 * a new subscriber, every address) has no free block, -EINVAL. */
int ep_nat_blocks_assign(ep_nat_blocks *b, const ep_addr *subscriber, uint8_t proto, int64_t now,
                         ep_nat_block *out);
/* The held block containing ext:port.  -ENOENT. */
int ep_nat_blocks_find(const ep_nat_blocks *b, const ep_addr *ext, uint8_t proto, uint16_t port,
                       ep_nat_block *out);
/* Activity on the block containing ext:port: postpones its expiry. */
int ep_nat_blocks_touch(ep_nat_blocks *b, const ep_addr *ext, uint8_t proto, uint16_t port,
                        int64_t now);
/* Release the block containing ext:port (out, may be NULL, gets it). */
int ep_nat_blocks_release(ep_nat_blocks *b, const ep_addr *ext, uint8_t proto, uint16_t port,
                          ep_nat_block *out);
/* Release every block idle for idle_timeout by now, oldest first, calling
 * fn (may be NULL) with the block and its end time (last use + timeout).
 * Returns the number released, or fn's error (expiry stops there; the
 * block passed to fn is already released). */
int ep_nat_blocks_expire(ep_nat_blocks *b, int64_t now,
                         int (*fn)(const ep_nat_block *blk, int64_t end, void *arg), void *arg);
void ep_nat_blocks_get_stats(const ep_nat_blocks *b, ep_nat_blocks_stats *out);
uint32_t ep_nat_blocks_held_by(const ep_nat_blocks *b, const ep_addr *subscriber, uint8_t proto);

/* ---- the mapping log (natlog.c, natlog_record.c, natlog_csv.c) ---------
 * An SQLite database (WAL) of port-block records: subscriber, external
 * address, protocol, block, start and end (end open while assigned), each
 * with a checksum (ep_natlog_record_sum).
 *
 * Durability contract.  An event (an assign or a release) is *accepted*
 * when its call returns 0 and *acknowledged* when a commit containing it
 * returns 0: ep_natlog_commit(), or the automatic commit of a full batch
 * (every `batch` events; ep_natlog_pending() is 0 right after it).  With
 * sync_full (the default), COMMIT returns only after the WAL is fsync'ed:
 * an acknowledged event survives a crash of the process and of the machine.
 * Without it (synchronous=NORMAL) it survives a crash of the process; a
 * power loss may lose the last transactions, but never corrupts the file.
 * Accepted events not yet acknowledged are kept in memory by the handle
 * (ep_natlog_pending lists them).  When a commit or a write fails (disk
 * full, file size limit, I/O error), the open transaction is rolled back:
 * the file holds exactly the acknowledged events, ep_natlog_pending()
 * lists exactly the events that are not stored, and the next write or
 * commit writes them again first, in order (ep_natlog_discard() drops them
 * instead).  The event whose own call failed was not accepted and is not
 * in the list.  A process that dies loses only unacknowledged events.
 *
 * Damage.  Opening checks the file cheaply (SQLite header, format mark,
 * the exact schema; with opt.verify also PRAGMA quick_check of every
 * page); every record read by whois, foreach and export is checked
 * against its checksum and the record rules, and a failure is -EBADMSG
 * with ep_natlog_errmsg() naming the record.  ep_natlog_verify() checks
 * them all. */

typedef struct ep_natlog ep_natlog;

#define EP_NATLOG_OPEN_END INT64_MAX   /* end of a block still assigned */

typedef struct ep_natlog_options {
    bool create;          /* create the file if missing */
    bool read_only;
    bool sync_normal;     /* synchronous=NORMAL instead of FULL */
    bool verify;          /* open also runs PRAGMA quick_check (reads every page) */
    uint32_t batch;       /* events per automatic commit, 0 = 1000 */
    uint32_t cache_kib;   /* SQLite page cache, 0 = SQLite's default (2 MiB);
                             bulk loads of millions of events want more */
} ep_natlog_options;

typedef struct ep_natlog_record {
    ep_addr subscriber;   /* inside address */
    ep_addr ext;          /* external address */
    uint8_t proto;        /* 6, 17 or 1 */
    uint16_t port_lo, port_hi;
    int64_t start;
    int64_t end;          /* EP_NATLOG_OPEN_END while assigned */
} ep_natlog_record;

/* One accepted event: an assignment (rec as given to ep_natlog_assign) or
 * a release (rec.ext, rec.proto, rec.port_lo and rec.end only). */
typedef struct ep_natlog_event {
    bool release;
    ep_natlog_record rec;
} ep_natlog_event;

/* The record's checksum (64-bit FNV-1a of a canonical form; natlog_record.c
 * says why that detects any single-byte damage).  Pure. */
uint64_t ep_natlog_record_sum(const ep_natlog_record *rec);
/* NULL if rec obeys the record rules (families, protocol, ports, end >
 * start >= 0), else a sentence saying which rule it breaks.  Pure. */
const char *ep_natlog_record_invalid(const ep_natlog_record *rec);

/* Open (and with create, initialise) a log.  A file that is not an ephport
 * NAT log, is damaged, or is a format-1 log (ep_natlog_upgrade) gives -EIO
 * with err saying so; -ENOENT if missing and not create. */
int ep_natlog_open(const char *path, const ep_natlog_options *opt, ep_natlog **out,
                   ep_parse_error *err);
/* Commit what is pending and close.  Returns the commit's result; on
 * failure the pending events are lost with the handle (call
 * ep_natlog_commit() first to keep them). */
int ep_natlog_close(ep_natlog *log);

/* Record an assignment (end EP_NATLOG_OPEN_END) or a whole past block.
 * -EINVAL for a bad record (families, ports, end <= start); -EEXIST for an
 * open assignment of a block (ext, proto, port_lo) that is already open;
 * -EIO (ep_natlog_errmsg says why) when the write failed: the event is not
 * accepted, and the contract above tells what became of the pending ones. */
int ep_natlog_assign(ep_natlog *log, const ep_natlog_record *rec);
/* Close the open block (ext, proto, port_lo) at time end.  -ENOENT if no
 * such open block, -EINVAL if end is before its start, -EIO as assign. */
int ep_natlog_release(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port_lo,
                      int64_t end);
/* Commit the pending events (writing them again first if a failure rolled
 * them back): on 0 every accepted event is acknowledged.  -EIO (the
 * events stay pending), -EBADMSG if the file turned out damaged. */
int ep_natlog_commit(ep_natlog *log);
/* The accepted events not yet acknowledged, in the order written; after a
 * failed write or commit, exactly the events not stored.  *events (may be
 * NULL) points into the handle, valid until the next call on it. */
size_t ep_natlog_pending(const ep_natlog *log, const ep_natlog_event **events);
/* Roll back and forget the pending events. */
void ep_natlog_discard(ep_natlog *log);
/* The last failure in words ("disk full", "record 12: checksum mismatch"),
 * "" if none. */
const char *ep_natlog_errmsg(const ep_natlog *log);

/* Who held ext:port (proto) at time t?  Interval lookup on the index
 * (ext, proto, port_lo, start): O(log n) per candidate block; every
 * candidate record is re-read and checked (-EBADMSG: damaged).  -ENOENT. */
int ep_natlog_whois(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port,
                    int64_t t, ep_natlog_record *out);

/* Delete the records that ended before `before` (open ones are kept).
 * *removed (may be NULL) gets the count. */
int ep_natlog_prune(ep_natlog *log, int64_t before, uint64_t *removed);

/* Visit every record in the order they were logged, each checked first
 * (-EBADMSG at the first damaged one); stop when fn returns non-zero and
 * return that value. */
int ep_natlog_foreach(ep_natlog *log, int (*fn)(const ep_natlog_record *, void *), void *arg);

/* Check every record (checksum, rules, readable fields), calling bad (may
 * be NULL) with the record's id and what is wrong for each damaged one.
 * *records (may be NULL) gets the number read.  0 if all are sound,
 * -EBADMSG if any is not, -EIO if the table cannot be read to the end. */
int ep_natlog_verify(ep_natlog *log, int (*bad)(int64_t id, const char *why, void *arg),
                     void *arg, uint64_t *records);

/* PRAGMA integrity_check, then ep_natlog_verify: 0 when both are clean,
 * else -EIO (integrity) or -EBADMSG (records) with err naming the first
 * problem. */
int ep_natlog_check(ep_natlog *log, ep_parse_error *err);

/* Turn a format-1 log (ephport before record checksums) into the current
 * format in place, in one transaction: refused (-EIO, err says why) unless
 * PRAGMA integrity_check is clean and every record obeys the rules, since
 * the checksums added then vouch for the records as they are.  *records
 * (may be NULL) gets the count.  A current log: 0, nothing changed. */
int ep_natlog_upgrade(const char *path, uint64_t *records, ep_parse_error *err);

/* CSV, one record per line, header line first:
 *   subscriber,ext_addr,proto,port_lo,port_hi,start,end
 *   100.64.0.1,203.0.113.1,tcp,1024,2047,2026-11-24T10:00:00Z,2026-11-24T11:00:00Z
 * end is empty for an open block; times are RFC 3339 UTC or Unix seconds. */
#define EP_NATLOG_CSV_HEADER "subscriber,ext_addr,proto,port_lo,port_hi,start,end"

/* Parse one CSV line (without its newline).  -EINVAL with err. */
int ep_natlog_csv_parse(const char *line, ep_natlog_record *out, ep_parse_error *err);
/* Format one record as a CSV line (no newline).  Returns length or -ENOSPC. */
int ep_natlog_csv_format(const ep_natlog_record *rec, char *buf, size_t len);

/* Import a CSV stream (the header is required) in batched transactions.
 * Any bad line fails the whole import (nothing is kept); err names the line.
 * *count (may be NULL) gets the records imported. */
int ep_natlog_import_csv(ep_natlog *log, FILE *f, uint64_t *count, ep_parse_error *err);
int ep_natlog_export_csv(ep_natlog *log, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
