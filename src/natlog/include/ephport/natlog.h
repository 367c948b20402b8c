/* ephport/natlog.h - the durable NAT mapping log: libephport-natlog
 * (SQLite, or PostgreSQL through libpq).  Port-block records from ep_nat_blocks (ephport/nat.h), who held
 * an external address and port at a time, CSV, IPFIX and syslog import and
 * export, and the
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

/* ---- the mapping log (natlog.c, natlog_sqlite.c, natlog_pg.c,
 * natlog_record.c, natlog_csv.c) ------------------------------------------
 * Port-block records: subscriber, external address, protocol, block, start
 * and end (end open while assigned), each with a checksum
 * (ep_natlog_record_sum).  The log's name picks the backend: a file path is
 * an SQLite database (WAL), the embedded default; a libpq URI starting
 * postgresql:// or postgres:// is a PostgreSQL database that many routers
 * write at once, each handle its own connection (schema, constraint and
 * privileges: ephport-nat(1), CENTRAL LOG).  Records, semantics and this
 * contract are the same; the differences are said where they apply.
 *
 * Durability contract.  An event (an assign or a release) is *accepted*
 * when its call returns 0 and *acknowledged* when a commit containing it
 * returns 0: ep_natlog_commit(), or the automatic commit of a full batch
 * (every `batch` events; ep_natlog_pending() is 0 right after it).  With
 * sync_full (the default), COMMIT returns only after the WAL is fsync'ed:
 * an acknowledged event survives a crash of the process and of the machine.
 * Without it (synchronous=NORMAL) it survives a crash of the process; a
 * power loss may lose the last transactions, but never corrupts the file.
 * (PostgreSQL: synchronous_commit on, or off without sync_full; a COMMIT
 * whose connection broke is resolved by a commit receipt at the next
 * commit, so its events are neither lost nor written twice; until then
 * ep_natlog_pending lists them as not known to be stored.)
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
    bool verify;          /* open also runs PRAGMA quick_check (reads every page;
                             SQLite only, ignored for PostgreSQL) */
    uint32_t batch;       /* events per automatic commit, 0 = 1000 */
    uint32_t cache_kib;   /* SQLite page cache, 0 = SQLite's default (2 MiB);
                             bulk loads of millions of events want more
                             (SQLite only) */
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
EP_API uint64_t ep_natlog_record_sum(const ep_natlog_record *rec);
/* NULL if rec obeys the record rules (families, protocol, ports, end >
 * start >= 0), else a sentence saying which rule it breaks.  Pure. */
EP_API const char *ep_natlog_record_invalid(const ep_natlog_record *rec);

/* Open (and with create, initialise) a log.  A file that is not an ephport
 * NAT log, is damaged, or is a format-1 log (ep_natlog_upgrade) gives -EIO
 * with err saying so; -ENOENT if missing and not create.  PostgreSQL: -EIO
 * when the server cannot be reached or the database has another format
 * mark or schema (err says which), -ENOENT when it holds no log and not
 * create; with create the tables are made (CREATE EXTENSION btree_gist
 * included) in the connection's current schema. */
EP_API int ep_natlog_open(const char *path, const ep_natlog_options *opt, ep_natlog **out,
                   ep_parse_error *err);
/* Commit what is pending and close.  Returns the commit's result; on
 * failure the pending events are lost with the handle (call
 * ep_natlog_commit() first to keep them). */
EP_API int ep_natlog_close(ep_natlog *log);

/* Record an assignment (end EP_NATLOG_OPEN_END) or a whole past block.
 * -EINVAL for a bad record (families, ports, end <= start); -EEXIST for an
 * open assignment of a block (ext, proto, port_lo) that is already open
 * (PostgreSQL: for any record that shares a port with another holder at an
 * overlapping time, the exclusion constraint blocks_one_holder; also what
 * the loser of two writers racing for one block gets);
 * -EIO (ep_natlog_errmsg says why) when the write failed: the event is not
 * accepted, and the contract above tells what became of the pending ones. */
EP_API int ep_natlog_assign(ep_natlog *log, const ep_natlog_record *rec);
/* Close the open block (ext, proto, port_lo) at time end.  -ENOENT if no
 * such open block, -EINVAL if end is before its start, -EIO as assign. */
EP_API int ep_natlog_release(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port_lo,
                      int64_t end);
/* Commit the pending events (writing them again first if a failure rolled
 * them back): on 0 every accepted event is acknowledged.  -EIO (the
 * events stay pending), -EBADMSG if the file turned out damaged. */
EP_API int ep_natlog_commit(ep_natlog *log);
/* The accepted events not yet acknowledged, in the order written; after a
 * failed write or commit, exactly the events not stored.  *events (may be
 * NULL) points into the handle, valid until the next call on it. */
EP_API size_t ep_natlog_pending(const ep_natlog *log, const ep_natlog_event **events);
/* Roll back and forget the pending events. */
EP_API void ep_natlog_discard(ep_natlog *log);
/* The last failure in words ("disk full", "record 12: checksum mismatch"),
 * "" if none. */
EP_API const char *ep_natlog_errmsg(const ep_natlog *log);

/* Who held ext:port (proto) at time t?  Interval lookup on the index
 * (ext, proto, port_lo, start): O(log n) per candidate block; every
 * candidate record is re-read and checked (-EBADMSG: damaged).  -ENOENT. */
EP_API int ep_natlog_whois(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port,
                    int64_t t, ep_natlog_record *out);

/* Delete the records that ended before `before` (open ones are kept).
 * *removed (may be NULL) gets the count. */
EP_API int ep_natlog_prune(ep_natlog *log, int64_t before, uint64_t *removed);

/* Visit every record in the order they were logged, each checked first
 * (-EBADMSG at the first damaged one); stop when fn returns non-zero and
 * return that value. */
EP_API int ep_natlog_foreach(ep_natlog *log, int (*fn)(const ep_natlog_record *, void *), void *arg);

/* Check every record (checksum, rules, readable fields), calling bad (may
 * be NULL) with the record's id and what is wrong for each damaged one.
 * *records (may be NULL) gets the number read.  0 if all are sound,
 * -EBADMSG if any is not, -EIO if the table cannot be read to the end. */
EP_API int ep_natlog_verify(ep_natlog *log, int (*bad)(int64_t id, const char *why, void *arg),
                     void *arg, uint64_t *records);

/* PRAGMA integrity_check, then ep_natlog_verify: 0 when both are clean,
 * else -EIO (integrity) or -EBADMSG (records) with err naming the first
 * problem.  PostgreSQL has no integrity_check: the format mark and exact
 * schema are checked again instead (-EIO), after committing what is
 * pending. */
EP_API int ep_natlog_check(ep_natlog *log, ep_parse_error *err);

/* Turn a format-1 log (ephport before record checksums) into the current
 * format in place, in one transaction: refused (-EIO, err says why) unless
 * PRAGMA integrity_check is clean and every record obeys the rules, since
 * the checksums added then vouch for the records as they are.  *records
 * (may be NULL) gets the count.  A current log: 0, nothing changed.
 * A PostgreSQL URI: -ENOTSUP (it has no format 1), err says so. */
EP_API int ep_natlog_upgrade(const char *path, uint64_t *records, ep_parse_error *err);

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

/* ---- standard formats (natlog_ipfix.c, natlog_syslog.c, natlog_import.c)
 * Port-block events as CGNAT boxes and collectors exchange them, both ways,
 * so `nat whois --at` answers from an operator's existing logs.  Imports go
 * through ep_natlog_assign / ep_natlog_release (the record rules, one open
 * assignment per block) in one transaction, like the CSV import: by default
 * the first event the parser or the log refuses fails the whole import and
 * err names it ("line 12: ...", "offset 4096: ..."); with skip_bad such
 * events are counted (ep_natlog_import_result) and the first is named.  An
 * allocation followed at once by the release of the same block becomes one
 * closed record, so an export imports back record for record.
 *
 * IPFIX (RFC 7011 messages, RFC 8158 NAT events; IANA "IPFIX Information
 * Elements" and "NAT Event Type" registries): natEvent (230) 16 "NAT44 Port
 * block allocation" and 17 "NAT44 Port block de-allocation", with
 * observationTimeMilliseconds (323), natInstanceID (463),
 * sourceIPv4Address (8, the subscriber), postNATSourceIPv4Address (225),
 * protocolIdentifier (4), portRangeStart (361), portRangeEnd (362),
 * portRangeStepSize (363), portRangeNumPorts (364). */
#define EP_NATLOG_IPFIX_PB_ALLOC 16
#define EP_NATLOG_IPFIX_PB_DEALLOC 17
#define EP_NATLOG_IPFIX_TEMPLATE_ID 256     /* the one template ephport writes */
#define EP_NATLOG_IPFIX_RECORD_LEN 30       /* bytes per data record written */
#define EP_NATLOG_IPFIX_MAX_RECORDS 1000    /* data records per message written */
#define EP_NATLOG_IPFIX_MAX_TEMPLATES 64    /* templates a reader keeps */
#define EP_NATLOG_IPFIX_MAX_FIELDS 64       /* fields per template a reader takes */

typedef struct ep_natlog_ipfix_event {
    uint8_t nat_event;         /* EP_NATLOG_IPFIX_PB_ALLOC or _DEALLOC */
    uint32_t instance;         /* natInstanceID, 0 when absent */
    int64_t time_ms;           /* observationTimeMilliseconds (Unix ms, UTC) */
    ep_addr subscriber;        /* sourceIPv4Address */
    ep_addr ext;               /* postNATSourceIPv4Address */
    uint8_t proto;             /* protocolIdentifier, 0 when the template has none */
    uint16_t port_lo, port_hi; /* portRangeStart, portRangeEnd */
} ep_natlog_ipfix_event;

/* Reader state kept between messages (templates live for the stream).
 * Treat as opaque; zero it (or ep_natlog_ipfix_reader_init) to start. */
typedef struct ep_natlog_ipfix_template_ {
    uint32_t domain;
    uint16_t id, nfields, scope; /* scope > 0: an options template */
    uint16_t ie[EP_NATLOG_IPFIX_MAX_FIELDS];
    uint16_t len[EP_NATLOG_IPFIX_MAX_FIELDS];
    uint8_t enterprise[EP_NATLOG_IPFIX_MAX_FIELDS];
} ep_natlog_ipfix_template_;
typedef struct ep_natlog_ipfix_reader {
    uint64_t offset;             /* stream offset of the next message */
    uint64_t ignored;            /* data records that are not port-block events */
    size_t ntemplates;
    ep_natlog_ipfix_template_ t[EP_NATLOG_IPFIX_MAX_TEMPLATES];
} ep_natlog_ipfix_reader;

EP_API void ep_natlog_ipfix_reader_init(ep_natlog_ipfix_reader *rd);

/* One IPFIX message: header, the template set of EP_NATLOG_IPFIX_TEMPLATE_ID
 * and one data set of the n events (1..EP_NATLOG_IPFIX_MAX_RECORDS,
 * IPv4 only).  seq is the number of data records sent before this message
 * (RFC 7011 section 3.1).  Returns the message length, -ENOSPC if buf is
 * short, -EINVAL for a bad event.  Pure. */
EP_API int ep_natlog_ipfix_encode(const ep_natlog_ipfix_event *ev, size_t n, uint32_t export_time,
                                  uint32_t seq, uint32_t domain, uint8_t *buf, size_t len);

/* Parse one whole message (len bytes: the header's length must say len),
 * calling fn for each port-block event (fn's non-zero return stops and is
 * returned).  Trusts no length: anything it does not understand or that
 * breaks RFC 7011 is -EINVAL with err->offset the stream offset
 * (rd->offset + position) and err->message saying what; data records that
 * are not port-block events are counted in rd->ignored.  On 0, rd->offset
 * moves past the message. */
EP_API int ep_natlog_ipfix_parse(ep_natlog_ipfix_reader *rd, const uint8_t *msg, size_t len,
                                 int (*fn)(const ep_natlog_ipfix_event *ev, uint64_t offset,
                                           void *arg),
                                 void *arg, ep_parse_error *err);

/* Syslog lines of CGNAT port-block allocation (see ephport-nat(1)):
 * EP_NATLOG_SYSLOG_SRX: Juniper SRX / MX-SPC3 structured lines
 *   RT_SRC_NAT_PBA_ALLOC / _RELEASE / _INTERIM [internal-ip="..."
 *   block-port-low="..." block-port-high="..." reflexive-ip="..."
 *   epoch-time-64="<hex Unix seconds>" ...]; ephport writes these, adding
 *   protocol-id="6" (the vendor's lines have none: a block serves every
 *   protocol).
 * EP_NATLOG_SYSLOG_JUNIPER: Junos MS-MPC/MS-MIC lines
 *   JSERVICES_NAT_PORT_BLOCK_ALLOC: SUB -> EXT:LO-HI ... (and _RELEASE,
 *   _ACTIVE), timed by the syslog header: RFC 5424 / RFC 3339 (with its
 *   offset), or RFC 3164 "Mmm dd hh:mm:ss", which has no year and no zone:
 *   opt.year and opt.utc_offset say them (no year: the line is refused). */
enum { EP_NATLOG_SYSLOG_SRX = 1, EP_NATLOG_SYSLOG_JUNIPER = 2 };
enum { EP_NATLOG_LINE_OTHER = 0, EP_NATLOG_LINE_ALLOC, EP_NATLOG_LINE_RELEASE,
       EP_NATLOG_LINE_INTERIM };

typedef struct ep_natlog_syslog_options {
    int year;            /* for RFC 3164 timestamps; 0 = refuse them */
    int32_t utc_offset;  /* seconds east of UTC of such timestamps */
} ep_natlog_syslog_options;

typedef struct ep_natlog_syslog_line {
    int kind;            /* EP_NATLOG_LINE_* */
    ep_addr subscriber, ext;
    uint8_t proto;       /* 0: the line names none */
    uint16_t port_lo, port_hi;
    int64_t time;        /* UTC seconds, rounded down */
    bool time_frac;      /* the line's time had a fraction of a second */
} ep_natlog_syslog_line;

/* Parse one line (no newline).  A line without the format's port-block tag
 * is kind EP_NATLOG_LINE_OTHER (0 returned); a tagged line that breaks the
 * format is -EINVAL with err (offset in the line).  Pure. */
EP_API int ep_natlog_syslog_parse(int format, const char *line,
                                  const ep_natlog_syslog_options *opt,
                                  ep_natlog_syslog_line *out, ep_parse_error *err);
/* One SRX line for a record's allocation (release false, at r->start) or
 * release (at r->end).  Returns the length or -ENOSPC / -EINVAL. */
EP_API int ep_natlog_srx_format(const ep_natlog_record *r, bool release, char *buf, size_t len);

typedef struct ep_natlog_import_options {
    bool skip_bad;       /* count refused events instead of failing */
    uint8_t protos;      /* events without a protocol are recorded for each of
                            these: bit 0 tcp, 1 udp, 2 icmp; 0 = all three */
    ep_natlog_syslog_options syslog;
} ep_natlog_import_options;

typedef struct ep_natlog_import_result {
    uint64_t assigned;   /* records written (closed ones included) */
    uint64_t released;   /* open records closed by a release */
    uint64_t skipped;    /* events refused and skipped (skip_bad) */
    uint64_t ignored;    /* lines / records that are not port-block events,
                            and interim reports */
    char first_skipped[160]; /* where and why, "" if none */
} ep_natlog_import_result;

EP_API int ep_natlog_import_ipfix(ep_natlog *log, FILE *f, const ep_natlog_import_options *opt,
                                  ep_natlog_import_result *res, ep_parse_error *err);
EP_API int ep_natlog_import_syslog(ep_natlog *log, FILE *f, int format,
                                   const ep_natlog_import_options *opt,
                                   ep_natlog_import_result *res, ep_parse_error *err);
/* Every record as events in the order logged: its allocation, then (if
 * closed) its release.  IPFIX: messages of EP_NATLOG_IPFIX_MAX_RECORDS
 * events stamped export_time in observation domain `domain`; an IPv6
 * record is -EINVAL (NAT44 only), err naming it. */
EP_API int ep_natlog_export_ipfix(ep_natlog *log, FILE *f, uint32_t export_time, uint32_t domain,
                                  ep_parse_error *err);
EP_API int ep_natlog_export_srx(ep_natlog *log, FILE *f, ep_parse_error *err);

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

/* Check a configuration without running it (the inside list, the block
 * allocator's settings): 0, or -EINVAL with err saying why. */
EP_API int ep_natlog_simulate_check(const ep_natlog_sim_config *cfg, ep_parse_error *err);

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
