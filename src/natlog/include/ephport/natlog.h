/* ephport/natlog.h - the durable NAT mapping log: libephport-natlog
 * (SQLite).  Port-block records from ep_nat_blocks (ephport/nat.h), who held
 * an external address and port at a time, CSV import and export, and the
 * `ephport nat log simulate` driver.
 *
 * Times are int64 UTC seconds since the Unix epoch.  Errors are negative
 * errno values (ephport/error.h); functions that take an ep_parse_error fill
 * it with a sentence on failure (it may be NULL).
 */
#ifndef EPHPORT_NATLOG_H
#define EPHPORT_NATLOG_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ephport/nat.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the mapping log (natlog.c, natlog_csv.c) ---------------------------
 * An SQLite database (WAL) of port-block records: subscriber, external
 * address, protocol, block, start and end (end open while assigned).
 *
 * Durability: events are written inside a transaction that
 * ep_natlog_commit() commits (and that every `batch` events commits on its
 * own).  With sync_full (the default), COMMIT returns only after the WAL is
 * fsync'ed: a committed event survives a crash of the process and of the
 * machine.  Without it (synchronous=NORMAL) a committed event survives a
 * crash of the process; a power loss may lose the last transactions, but
 * never corrupts the database. */

typedef struct ep_natlog ep_natlog;

#define EP_NATLOG_OPEN_END INT64_MAX   /* end of a block still assigned */

typedef struct ep_natlog_options {
    bool create;          /* create the file if missing */
    bool read_only;
    bool sync_normal;     /* synchronous=NORMAL instead of FULL */
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

/* Open (and with create, initialise) a log.  A file that is not an ephport
 * NAT log or is corrupt gives -EIO with err saying so; -ENOENT if missing
 * and not create. */
EP_API int ep_natlog_open(const char *path, const ep_natlog_options *opt, ep_natlog **out,
                   ep_parse_error *err);
/* Commit what is pending and close.  Returns the commit's result. */
EP_API int ep_natlog_close(ep_natlog *log);

/* Record an assignment (end EP_NATLOG_OPEN_END) or a whole past block.
 * -EINVAL for a bad record (families, ports, end <= start); -EEXIST for an
 * open assignment of a block (ext, proto, port_lo) that is already open. */
EP_API int ep_natlog_assign(ep_natlog *log, const ep_natlog_record *rec);
/* Close the open block (ext, proto, port_lo) at time end.  -ENOENT if no
 * such open block, -EINVAL if end is before its start. */
EP_API int ep_natlog_release(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port_lo,
                      int64_t end);
/* Commit the pending batch: on 0 every event written before is committed
 * in the sense above.  -EIO. */
EP_API int ep_natlog_commit(ep_natlog *log);

/* Who held ext:port (proto) at time t?  Interval lookup on the index
 * (ext, proto, port_lo, start): O(log n) per candidate block.  -ENOENT. */
EP_API int ep_natlog_whois(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port,
                    int64_t t, ep_natlog_record *out);

/* Delete the records that ended before `before` (open ones are kept).
 * *removed (may be NULL) gets the count. */
EP_API int ep_natlog_prune(ep_natlog *log, int64_t before, uint64_t *removed);

/* Visit every record in the order they were logged; stop when fn returns
 * non-zero and return that value. */
EP_API int ep_natlog_foreach(ep_natlog *log, int (*fn)(const ep_natlog_record *, void *), void *arg);

/* PRAGMA integrity_check: 0 when "ok", -EIO with err holding the report. */
EP_API int ep_natlog_check(ep_natlog *log, ep_parse_error *err);

/* CSV, one record per line, header line first:
 *   subscriber,ext_addr,proto,port_lo,port_hi,start,end
 *   100.64.0.1,203.0.113.1,tcp,1024,2047,2026-11-24T10:00:00Z,2026-11-24T11:00:00Z
 * end is empty for an open block; times are RFC 3339 UTC or Unix seconds. */
#define EP_NATLOG_CSV_HEADER "subscriber,ext_addr,proto,port_lo,port_hi,start,end"

/* Parse one CSV line (without its newline).  -EINVAL with err. */
EP_API int ep_natlog_csv_parse(const char *line, ep_natlog_record *out, ep_parse_error *err);
/* Format one record as a CSV line (no newline).  Returns length or -ENOSPC. */
EP_API int ep_natlog_csv_format(const ep_natlog_record *rec, char *buf, size_t len);

/* Import a CSV stream (the header is required) in batched transactions.
 * Any bad line fails the whole import (nothing is kept); err names the line.
 * *count (may be NULL) gets the records imported. */
EP_API int ep_natlog_import_csv(ep_natlog *log, FILE *f, uint64_t *count, ep_parse_error *err);
EP_API int ep_natlog_export_csv(ep_natlog *log, FILE *f);


/* ---- a simulated workload (natsim.c) ------------------------------------
 * `ephport nat log simulate`: random subscriber activity over simulated
 * time, one second at a time, driving ep_nat_blocks and writing every
 * assignment, early release and idle expiry to the log.  Each simulated
 * second first expires idle blocks, then runs `rate` events: a quarter of
 * them release or touch a recently assigned block, the rest ask for a block
 * for a random subscriber of the inside list (TCP or UDP).  Same seed, same
 * log. */
typedef struct ep_natlog_sim_config {
    const char *inside;           /* subscriber CIDR list (IPv4), required */
    ep_nat_blocks_config blocks;  /* outside, ports, block size, max blocks, idle;
                                     its seed is replaced by `seed` */
    int64_t start;                /* first simulated second (UTC) */
    uint32_t duration;            /* simulated seconds after start */
    uint32_t rate;                /* events per simulated second */
    uint64_t seed;
} ep_natlog_sim_config;

typedef struct ep_natlog_sim_result {
    uint64_t assigned, released, expired;
    uint64_t refused_quota;       /* subscriber at max_blocks (EDQUOT) */
    uint64_t refused_exhausted;   /* paired external address full */
    ep_nat_blocks_stats blocks;   /* the allocator at the end */
} ep_natlog_sim_result;

/* Run the simulation into an open log and commit.  -EINVAL (err says why:
 * bad or IPv6 inside list, bad block configuration), -EEXIST when the log
 * already holds an open block the simulation assigns (use a new log), or the
 * log's own errors (-EIO, -ENOSPC, ...) with err naming the step. */
EP_API int ep_natlog_simulate(ep_natlog *log, const ep_natlog_sim_config *cfg,
                              ep_natlog_sim_result *out, ep_parse_error *err);

#ifdef __cplusplus
}
#endif
#endif
