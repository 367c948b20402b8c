/* natlog.c - the durable port-block log: who held which external address
 * and port block, for which protocol, from when to when.
 *
 * Port-block allocation turns a per-connection log (billions of rows) into
 * a per-block log (one row per assignment), and this file keeps it in
 * SQLite (format 2):
 *
 *   blocks(id, subscriber BLOB, ext BLOB, proto, port_lo, port_hi,
 *          start, end, checksum)  STRICT, CHECKs  end NULL while assigned
 *   index blocks_lookup (ext, proto, port_lo, start)     the whois index
 *   index blocks_open   (ext, proto, port_lo) WHERE end IS NULL
 *
 * Addresses are stored as their 4 or 16 raw bytes.  No destination is ever
 * stored (RFC 6888 REQ-12): the schema has no column for one.  The record
 * rules and the checksum are natlog_record.c's; the CHECK constraints state
 * the same rules for writes, the checksum catches what changes afterwards.
 *
 * Durability (the contract nat.h documents): WAL journal; writes go into an
 * open transaction that is committed every `batch` events and on
 * ep_natlog_commit()/ep_natlog_close().  synchronous=FULL by default, so a
 * COMMIT that returned has been fsync'ed to the WAL.  The handle keeps the
 * accepted events of the open transaction in memory (pend).  Invariant:
 * in_txn <=> an SQLite transaction of ours is open, and then it holds
 * every pending event; !in_txn => none of them is stored.  Any failed
 * statement or COMMIT rolls the transaction back (SQLite may already have:
 * sqlite3_get_autocommit tells), so the file is back at the last
 * acknowledged commit and pend names what is missing; the next write or
 * commit opens a transaction and writes pend again before anything else.
 *
 * Damage: open checks the header (SQLite's first read), the format mark and
 * that the schema is exactly this version's (an in-memory database built
 * from the same statements is the reference); opt.verify adds
 * PRAGMA quick_check.  whois re-reads each candidate record by id from the
 * table and checks it, so neither a damaged record nor a damaged index
 * entry can produce an answer.
 *
 * whois: for the port asked, find the highest block start port_lo <= port
 * (and > port - the largest block ever logged), then the latest record at
 * that port_lo that started at or before t; if it covers the port and had
 * not ended by t it is the answer, else step to the next lower port_lo.
 * Each step is two index seeks and one rowid seek, and with a regular block
 * grid there is one step.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include <ephport/natlog.h>

#include "natlog_bulk.h"

#define EP_NATLOG_FORMAT "ephport-natlog 2"
#define EP_NATLOG_FORMAT_1 "ephport-natlog 1"

enum {
    ST_INSERT,
    ST_RELEASE_FIND,
    ST_RELEASE,
    ST_LO,
    ST_AT,
    ST_ROW,
    ST_MAXBLOCK,
    ST__COUNT
};

#define EP_NATLOG_COLS "subscriber, ext, proto, port_lo, port_hi, start, end, checksum"

static const char *const ep_natlog_sql[ST__COUNT] = {
    [ST_INSERT] = "INSERT INTO blocks(" EP_NATLOG_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    /* at most one open row per block (assign checks), found in the small
     * partial index rather than by walking the block's history */
    [ST_RELEASE_FIND] = "SELECT id FROM blocks INDEXED BY blocks_open WHERE ext = ?1 "
                        "AND proto = ?2 AND port_lo = ?3 AND end IS NULL LIMIT 1",
    [ST_RELEASE] = "UPDATE blocks SET end = ?2, checksum = ?3 WHERE id = ?1",
    [ST_LO] = "SELECT port_lo FROM blocks WHERE ext = ?1 AND proto = ?2 AND port_lo <= ?3 AND "
              "port_lo >= ?4 ORDER BY port_lo DESC LIMIT 1",
    [ST_AT] = "SELECT id FROM blocks WHERE ext = ?1 AND "
              "proto = ?2 AND port_lo = ?3 AND start <= ?4 ORDER BY start DESC LIMIT 1",
    [ST_ROW] = "SELECT " EP_NATLOG_COLS " FROM blocks NOT INDEXED WHERE id = ?1",
    [ST_MAXBLOCK] = "INSERT OR REPLACE INTO ephport_meta(key, value) VALUES ('max_block', ?1)",
};

struct ep_natlog {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    bool in_txn;           /* see the invariant above */
    bool track;            /* keep pending events (off during an import) */
    uint32_t batch;
    size_t npend, cap;     /* accepted events not acknowledged */
    ep_natlog_event *pend; /* NULL while !track */
    int64_t max_block;     /* largest port_hi - port_lo logged (may overestimate) */
    char errmsg[160];
};

static int ep_natlog_msg(ep_parse_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill err (messages are cut to fit its 160 bytes; paths first). */
static int ep_natlog_msg(ep_parse_error *err, int rc, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->offset = 0;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int ep_natlog_say(ep_natlog *log, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ep_natlog_say(ep_natlog *log, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log->errmsg, sizeof log->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

static bool ep_sqlite_damage(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* A failed statement or COMMIT: say why, roll back what is left of the
 * transaction (the pending events stay, to be written again), and give
 * -EBADMSG for damage, -EIO for the rest. */
static int ep_natlog_failed(ep_natlog *log, int src, const char *what)
{
    int sys = sqlite3_system_errno(log->db);
    int ext = sqlite3_extended_errcode(log->db);
    const char *why = ep_sqlite_damage(src) || ep_sqlite_damage(ext) ? "the file is damaged"
                      : (src & 0xff) == SQLITE_FULL || sys == ENOSPC ? "disk full"
                      : sys == EFBIG ? "file size limit reached"
                      : sqlite3_errstr(src);
    ep_natlog_say(log, 0, "%s failed: %s (%s%s%s)", what, why, sqlite3_errmsg(log->db),
                  sys ? ", " : "", sys ? strerror(sys) : "");
    if (!sqlite3_get_autocommit(log->db))
        sqlite3_exec(log->db, "ROLLBACK", NULL, NULL, NULL);
    log->in_txn = false;
    return ep_sqlite_damage(src) || ep_sqlite_damage(ext) ? EP_EBADMSG : EP_EIO;
}

static int ep_natlog_exec(ep_natlog *log, const char *sql)
{
    return sqlite3_exec(log->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : EP_EIO;
}

static void ep_natlog_finalize(ep_natlog *log)
{
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(log->st[i]);
    sqlite3_close(log->db);
    free(log->pend);
    free(log);
}

/* The format-2 schema.  Open compares a log's sqlite_schema with the one
 * these statements make in an empty in-memory database. */
static const char *ep_natlog_schema =
    "CREATE TABLE IF NOT EXISTS ephport_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blocks("
    " id INTEGER PRIMARY KEY,"
    " subscriber BLOB NOT NULL CHECK (length(subscriber) IN (4, 16)),"
    " ext BLOB NOT NULL CHECK (length(ext) IN (4, 16)),"
    " proto INTEGER NOT NULL CHECK (proto IN (1, 6, 17)),"
    " port_lo INTEGER NOT NULL CHECK (port_lo BETWEEN 0 AND 65535),"
    " port_hi INTEGER NOT NULL CHECK (port_hi BETWEEN port_lo AND 65535),"
    " start INTEGER NOT NULL CHECK (start >= 0),"
    " end INTEGER CHECK (end IS NULL OR end > start),"
    " checksum INTEGER NOT NULL) STRICT;"
    "CREATE INDEX IF NOT EXISTS blocks_lookup ON blocks(ext, proto, port_lo, start);"
    "CREATE INDEX IF NOT EXISTS blocks_open ON blocks(ext, proto, port_lo) WHERE end IS NULL;";

static const char *ep_natlog_schema_mark =
    "INSERT OR IGNORE INTO ephport_meta(key, value) VALUES ('format', '" EP_NATLOG_FORMAT "');";

#define EP_SCHEMA_QUERY "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY name"

/* The schema as text, one line per object, into a malloc'ed string. */
static char *ep_natlog_schema_text(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    bool ok = f != NULL;
    if (ok && sqlite3_prepare_v2(db, EP_SCHEMA_QUERY, -1, &st, NULL) == SQLITE_OK) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            for (int c = 0; c < 4; c++)
                fprintf(f, "%s%c", (const char *)sqlite3_column_text(st, c), c == 3 ? '\n' : '|');
        ok = rc == SQLITE_DONE;
    } else {
        ok = false;
    }
    sqlite3_finalize(st);
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}

/* Is db's schema exactly this version's?  0, -EBADMSG, -EIO/-ENOMEM. */
static int ep_natlog_schema_same(sqlite3 *db)
{
    sqlite3 *mem = NULL;
    char *want = NULL, *have = NULL;
    int rc = EP_ENOMEM;
    if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_exec(mem, ep_natlog_schema, NULL, NULL, NULL) == SQLITE_OK &&
        (want = ep_natlog_schema_text(mem)) != NULL) {
        have = ep_natlog_schema_text(db);
        rc = !have ? EP_EIO : strcmp(want, have) == 0 ? 0 : EP_EBADMSG;
    }
    sqlite3_close(mem);
    free(want);
    free(have);
    return rc;
}

/* "SELECT one text" helper: malloc'ed copy or NULL. */
static char *ep_natlog_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* PRAGMA integrity_check or quick_check: 0 on "ok", else -EIO/-EBADMSG
 * with the first line of the report in err. */
static int ep_natlog_pragma_check(sqlite3 *db, const char *pragma, ep_parse_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, s;
    if (sqlite3_prepare_v2(db, pragma, -1, &st, NULL) != SQLITE_OK)
        return ep_natlog_msg(err, ep_sqlite_damage(sqlite3_errcode(db)) ? EP_EBADMSG : EP_EIO,
                             "%s failed: %.100s", pragma + 7, sqlite3_errmsg(db));
    s = sqlite3_step(st);
    if (s != SQLITE_ROW)
        rc = ep_natlog_msg(err, ep_sqlite_damage(s) ? EP_EBADMSG : EP_EIO, "%s failed: %.100s",
                           pragma + 7, sqlite3_errmsg(db));
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        rc = ep_natlog_msg(err, EP_EBADMSG, "%s: %.120s", pragma + 7,
                           (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc;
}

int ep_natlog_open(const char *path, const ep_natlog_options *opt, ep_natlog **out,
                   ep_parse_error *err)
{
    ep_natlog_options o = { 0 };
    ep_natlog *log;
    struct stat sb;
    sqlite3_stmt *st = NULL;
    int flags, rc, tables = 0;
    char *fmt = NULL;

    if (!path || !out)
        return EP_EINVAL;
    *out = NULL;
    if (opt)
        o = *opt;
    if (stat(path, &sb) != 0) {
        if (!o.create || o.read_only)
            return ep_natlog_msg(err, EP_ENOENT, "%.120s: no such log file%s", path, "");
    } else if (!S_ISREG(sb.st_mode)) {
        return ep_natlog_msg(err, EP_EIO, "%.120s: not a regular file%s", path, "");
    }
    log = calloc(1, sizeof *log);
    if (!log)
        return EP_ENOMEM;
    log->batch = o.batch ? o.batch : 1000;
    log->track = true;
    flags = o.read_only ? SQLITE_OPEN_READONLY
                        : SQLITE_OPEN_READWRITE | (o.create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &log->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = ep_natlog_msg(err, EP_EIO, "%.120s: cannot open: %.80s", path,
                           log->db ? sqlite3_errmsg(log->db) : "out of memory");
        ep_natlog_finalize(log);
        return rc;
    }
    sqlite3_busy_timeout(log->db, 10000);
    if (o.cache_kib) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%u", o.cache_kib);
        ep_natlog_exec(log, pragma);
    }
    /* The first read of the header tells a database from anything else. */
    rc = sqlite3_prepare_v2(log->db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        tables = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_OK) {
        rc = ep_natlog_msg(err, EP_EIO, "%.120s: not an ephport NAT log (%.80s)", path,
                           sqlite3_errmsg(log->db));
        ep_natlog_finalize(log);
        return rc;
    }
    if (tables > 0) {
        fmt = ep_natlog_text(log->db, "SELECT value FROM ephport_meta WHERE key = 'format'");
        if (fmt && strcmp(fmt, EP_NATLOG_FORMAT_1) == 0)
            rc = ep_natlog_msg(err, EP_EIO,
                               "%.120s: a format-1 log (no record checksums): run "
                               "'ephport nat log upgrade' on it first",
                               path);
        else if (!fmt || strcmp(fmt, EP_NATLOG_FORMAT) != 0)
            rc = ep_natlog_msg(err, EP_EIO,
                               "%.120s: an SQLite database, but not an ephport NAT log "
                               "(no '%s' format mark)",
                               path, EP_NATLOG_FORMAT);
        else if ((rc = ep_natlog_schema_same(log->db)) != 0)
            rc = ep_natlog_msg(err, EP_EIO,
                               "%.120s: damaged: %s; 'ephport nat log check' says more", path,
                               rc == EP_EBADMSG ? "its schema is not the one this version writes"
                                                : "its schema cannot be read");
        free(fmt);
        if (rc != 0) {
            ep_natlog_finalize(log);
            return rc;
        }
        if (o.verify) {
            ep_parse_error e;
            if (ep_natlog_pragma_check(log->db, "PRAGMA quick_check", &e) != 0) {
                ep_natlog_finalize(log);
                return ep_natlog_msg(err, EP_EIO,
                                     "%.100s: damaged: %.80s; 'ephport nat log check' says more",
                                     path, e.message);
            }
        }
    }
    if (!o.read_only) {
        char pragmas[128];
        snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
                 o.sync_normal ? "NORMAL" : "FULL");
        if (ep_natlog_exec(log, pragmas) != 0 ||
            (tables == 0 && (ep_natlog_exec(log, "BEGIN IMMEDIATE") != 0 ||
                             ep_natlog_exec(log, ep_natlog_schema) != 0 ||
                             ep_natlog_exec(log, ep_natlog_schema_mark) != 0 ||
                             ep_natlog_exec(log, "COMMIT") != 0))) {
            rc = ep_natlog_msg(err, EP_EIO, "%.120s: cannot initialise the log: %.80s", path,
                               sqlite3_errmsg(log->db));
            ep_natlog_finalize(log);
            return rc;
        }
    }
    for (int i = 0; i < ST__COUNT; i++) {
        if (o.read_only && (i == ST_INSERT || i == ST_RELEASE || i == ST_MAXBLOCK))
            continue;
        if (sqlite3_prepare_v2(log->db, ep_natlog_sql[i], -1, &log->st[i], NULL) != SQLITE_OK) {
            rc = ep_natlog_msg(err, EP_EIO, "%.120s: not a usable ephport NAT log: %.80s", path,
                               sqlite3_errmsg(log->db));
            ep_natlog_finalize(log);
            return rc;
        }
    }
    if (sqlite3_prepare_v2(log->db, "SELECT value FROM ephport_meta WHERE key = 'max_block'", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        log->max_block = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    *out = log;
    return 0;
}

const char *ep_natlog_errmsg(const ep_natlog *log)
{
    return log ? log->errmsg : "";
}

size_t ep_natlog_pending(const ep_natlog *log, const ep_natlog_event **events)
{
    if (events)
        *events = log && log->npend ? log->pend : NULL;
    return log ? log->npend : 0;
}

void ep_natlog_discard(ep_natlog *log)
{
    if (!log)
        return;
    if (!sqlite3_get_autocommit(log->db))
        sqlite3_exec(log->db, "ROLLBACK", NULL, NULL, NULL);
    log->in_txn = false;
    log->npend = 0;
}

static size_t ep_addr_len(const ep_addr *a)
{
    return a->family == AF_INET ? 4 : 16;
}

static bool ep_addr_ok(const ep_addr *a)
{
    return a->family == AF_INET || a->family == AF_INET6;
}

static bool ep_proto_ok(uint8_t p)
{
    return p == 6 || p == 17 || p == 1;
}

static int ep_natlog_addr_col(sqlite3_stmt *st, int col, ep_addr *out)
{
    int n = sqlite3_column_bytes(st, col);
    const void *b = sqlite3_column_blob(st, col);
    if (sqlite3_column_type(st, col) != SQLITE_BLOB || !b || (n != 4 && n != 16))
        return EP_EBADMSG;
    return ep_addr_from_bytes(n == 4 ? AF_INET : AF_INET6, b, out) == 0 ? 0 : EP_EBADMSG;
}

/* Columns EP_NATLOG_COLS from col 0 into r, checked: NULL if the record is
 * sound, else what is wrong with it. */
static const char *ep_natlog_row(sqlite3_stmt *st, ep_natlog_record *r)
{
    static const int ints[] = { 2, 3, 4, 5, 7 };
    const char *bad;
    memset(r, 0, sizeof *r);
    if (ep_natlog_addr_col(st, 0, &r->subscriber) != 0)
        return "the subscriber is not a 4- or 16-byte address";
    if (ep_natlog_addr_col(st, 1, &r->ext) != 0)
        return "the external address is not a 4- or 16-byte address";
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (sqlite3_column_type(st, ints[i]) != SQLITE_INTEGER)
            return "a number field is not an integer";
    if (sqlite3_column_type(st, 6) != SQLITE_INTEGER && sqlite3_column_type(st, 6) != SQLITE_NULL)
        return "end is neither an integer nor open";
    {
        int64_t proto = sqlite3_column_int64(st, 2), lo = sqlite3_column_int64(st, 3),
                hi = sqlite3_column_int64(st, 4);
        if (proto < 0 || proto > 255 || lo < 0 || lo > 65535 || hi < 0 || hi > 65535)
            return "the protocol or a port is out of range";
        r->proto = (uint8_t)proto;
        r->port_lo = (uint16_t)lo;
        r->port_hi = (uint16_t)hi;
    }
    r->start = sqlite3_column_int64(st, 5);
    r->end = sqlite3_column_type(st, 6) == SQLITE_NULL ? EP_NATLOG_OPEN_END
                                                        : sqlite3_column_int64(st, 6);
    if (r->end == EP_NATLOG_OPEN_END && sqlite3_column_type(st, 6) != SQLITE_NULL)
        return "a closed block has the open end";
    if ((bad = ep_natlog_record_invalid(r)) != NULL)
        return bad;
    if ((uint64_t)sqlite3_column_int64(st, 7) != ep_natlog_record_sum(r))
        return "checksum mismatch";
    return NULL;
}

/* ---- writing ------------------------------------------------------------ */

/* The SQL of one event inside the open transaction.  Logical refusals
 * (-EEXIST, -ENOENT, -EINVAL) change nothing; a failed statement goes
 * through ep_natlog_failed (transaction rolled back). */
static int ep_natlog_apply(ep_natlog *log, const ep_natlog_event *ev)
{
    const ep_natlog_record *r = &ev->rec;
    sqlite3_stmt *st = log->st[ST_RELEASE_FIND];
    int64_t id = -1;
    int rc;

    assert(log->in_txn);
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, r->ext.u.bytes, (int)ep_addr_len(&r->ext), SQLITE_STATIC);
    sqlite3_bind_int(st, 2, r->proto);
    sqlite3_bind_int(st, 3, r->port_lo);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ep_natlog_failed(log, rc, "finding the open block");

    if (ev->release) {
        ep_natlog_record held;
        const char *bad;
        if (id < 0)
            return EP_ENOENT;
        /* the row is rewritten with its new checksum: check it first, so
         * a damaged record is never sealed as sound */
        st = log->st[ST_ROW];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(st);
            return ep_natlog_failed(log, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
                                    "reading the open block");
        }
        bad = ep_natlog_row(st, &held);
        sqlite3_reset(st);
        if (bad) {
            ep_natlog_failed(log, SQLITE_CORRUPT, "releasing the block");
            return ep_natlog_say(log, EP_EBADMSG, "record %lld: %s", (long long)id, bad);
        }
        if (r->end <= held.start || r->end == EP_NATLOG_OPEN_END)
            return EP_EINVAL;
        held.end = r->end;
        st = log->st[ST_RELEASE];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, r->end);
        sqlite3_bind_int64(st, 3, (int64_t)ep_natlog_record_sum(&held));
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : ep_natlog_failed(log, rc, "recording the release");
    }

    /* one open assignment per block: a second would make whois and release
     * ambiguous */
    if (r->end == EP_NATLOG_OPEN_END && id >= 0)
        return EP_EEXIST;
    st = log->st[ST_INSERT];
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, r->subscriber.u.bytes, (int)ep_addr_len(&r->subscriber), SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, r->ext.u.bytes, (int)ep_addr_len(&r->ext), SQLITE_STATIC);
    sqlite3_bind_int(st, 3, r->proto);
    sqlite3_bind_int(st, 4, r->port_lo);
    sqlite3_bind_int(st, 5, r->port_hi);
    sqlite3_bind_int64(st, 6, r->start);
    if (r->end == EP_NATLOG_OPEN_END)
        sqlite3_bind_null(st, 7);
    else
        sqlite3_bind_int64(st, 7, r->end);
    sqlite3_bind_int64(st, 8, (int64_t)ep_natlog_record_sum(r));
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return ep_natlog_failed(log, rc, "storing the record");
    if (r->port_hi - r->port_lo > log->max_block) {
        sqlite3_stmt *m = log->st[ST_MAXBLOCK];
        /* in memory at once: after a rollback it may overestimate, which
         * only widens whois's search */
        log->max_block = r->port_hi - r->port_lo;
        sqlite3_reset(m);
        sqlite3_bind_int64(m, 1, log->max_block);
        rc = sqlite3_step(m);
        sqlite3_reset(m);
        if (rc != SQLITE_DONE)
            return ep_natlog_failed(log, rc, "storing the largest block size");
    }
    return 0;
}

/* Make sure a transaction is open and holds every pending event. */
static int ep_natlog_ready(ep_natlog *log)
{
    if (log->in_txn)
        return 0;
    assert(log->track || log->npend == 0);
    {
        int rc = sqlite3_exec(log->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return ep_natlog_failed(log, rc, "BEGIN");
    }
    log->in_txn = true;
    for (size_t i = 0; i < log->npend; i++) {
        int rc = ep_natlog_apply(log, &log->pend[i]);
        if (rc != 0) {
            /* a logical refusal here means another writer changed the
             * log in between: the events stay pending for the caller */
            if (rc != EP_EIO && rc != EP_EBADMSG) {
                ep_natlog_failed(log, SQLITE_ABORT, "writing again");
                ep_natlog_say(log, 0, "writing the unacknowledged event %zu of %zu again: %s",
                              i + 1, log->npend, ep_strerror(rc));
            }
            return rc == EP_EBADMSG ? rc : EP_EIO;
        }
    }
    return 0;
}

int ep_natlog_commit(ep_natlog *log)
{
    int rc;
    if (!log)
        return EP_EINVAL;
    if (!log->in_txn && log->npend == 0)
        return 0;
    if ((rc = ep_natlog_ready(log)) != 0)
        return rc;
    rc = sqlite3_exec(log->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ep_natlog_failed(log, rc, "COMMIT");
    log->in_txn = false;
    log->npend = 0;
    return 0;
}

int ep_natlog_close(ep_natlog *log)
{
    int rc;
    if (!log)
        return 0;
    rc = ep_natlog_commit(log);
    ep_natlog_finalize(log);
    return rc;
}

/* Accept one event: room for it first (so an accepted event is never
 * missing from pend), then the SQL, then the batch commit. */
static int ep_natlog_write(ep_natlog *log, const ep_natlog_event *ev)
{
    int rc;
    if (log->track && log->npend == log->cap) {
        size_t ncap = log->cap ? log->cap * 2 : 64;
        ep_natlog_event *np = realloc(log->pend, ncap * sizeof *np);
        if (!np)
            return EP_ENOMEM;
        log->pend = np;
        log->cap = ncap;
    }
    if ((rc = ep_natlog_ready(log)) != 0 || (rc = ep_natlog_apply(log, ev)) != 0)
        return rc;
    if (log->track)
        log->pend[log->npend] = *ev;
    log->npend++;
    if (log->npend >= log->batch && (rc = ep_natlog_commit(log)) != 0) {
        /* rolled back: this call fails, so its event is not accepted */
        assert(!log->in_txn && log->npend > 0);
        log->npend--;
        return rc;
    }
    return 0;
}

int ep_natlog_assign(ep_natlog *log, const ep_natlog_record *r)
{
    ep_natlog_event ev = { .release = false };
    if (!log || !r || !log->st[ST_INSERT])
        return EP_EINVAL;
    if (!ep_addr_ok(&r->subscriber) || !ep_addr_ok(&r->ext) || ep_natlog_record_invalid(r))
        return EP_EINVAL;
    ev.rec = *r;
    return ep_natlog_write(log, &ev);
}

int ep_natlog_release(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port_lo,
                      int64_t end)
{
    ep_natlog_event ev = { .release = true };
    if (!log || !ext || !ep_addr_ok(ext) || !ep_proto_ok(proto) || !log->st[ST_RELEASE])
        return EP_EINVAL;
    ev.rec.ext = *ext;
    ev.rec.proto = proto;
    ev.rec.port_lo = port_lo;
    ev.rec.end = end;
    return ep_natlog_write(log, &ev);
}

/* ---- reading ------------------------------------------------------------ */

/* Record id read from the table itself and checked; it must be the block
 * (ext, proto, port_lo) the index said.  0, -EBADMSG (errmsg), -EIO. */
static int ep_natlog_read_checked(ep_natlog *log, int64_t id, const ep_addr *ext, uint8_t proto,
                                  int64_t port_lo, ep_natlog_record *r)
{
    sqlite3_stmt *st = log->st[ST_ROW];
    const char *bad;
    int rc;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return ep_natlog_say(log, EP_EBADMSG, "record %lld: in the index, not in the table",
                                 (long long)id);
        return ep_sqlite_damage(rc) ? ep_natlog_say(log, EP_EBADMSG, "record %lld: %s",
                                                    (long long)id, sqlite3_errmsg(log->db))
                                    : EP_EIO;
    }
    bad = ep_natlog_row(st, r);
    sqlite3_reset(st);
    if (bad)
        return ep_natlog_say(log, EP_EBADMSG, "record %lld: %s", (long long)id, bad);
    if (!ep_addr_equal(&r->ext, ext) || r->proto != proto || r->port_lo != port_lo)
        return ep_natlog_say(log, EP_EBADMSG,
                             "record %lld: the whois index does not match the record",
                             (long long)id);
    return 0;
}

static int ep_natlog_step_fail(ep_natlog *log, int rc)
{
    if (ep_sqlite_damage(rc))
        return ep_natlog_say(log, EP_EBADMSG, "the file is damaged: %s", sqlite3_errmsg(log->db));
    ep_natlog_say(log, 0, "%s", sqlite3_errmsg(log->db));
    return EP_EIO;
}

int ep_natlog_whois(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port,
                    int64_t t, ep_natlog_record *out)
{
    int64_t cur = port, floor;
    if (!log || !ext || !out || !ep_addr_ok(ext))
        return EP_EINVAL;
    floor = (int64_t)port - log->max_block;
    while (cur >= floor && cur >= 0) {
        sqlite3_stmt *lo = log->st[ST_LO], *at = log->st[ST_AT];
        ep_natlog_record r;
        int64_t x, id;
        int rc;
        sqlite3_reset(lo);
        sqlite3_bind_blob(lo, 1, ext->u.bytes, (int)ep_addr_len(ext), SQLITE_STATIC);
        sqlite3_bind_int(lo, 2, proto);
        sqlite3_bind_int64(lo, 3, cur);
        sqlite3_bind_int64(lo, 4, floor);
        rc = sqlite3_step(lo);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(lo);
            return rc == SQLITE_DONE ? EP_ENOENT : ep_natlog_step_fail(log, rc);
        }
        x = sqlite3_column_int64(lo, 0);
        sqlite3_reset(lo);
        sqlite3_reset(at);
        sqlite3_bind_blob(at, 1, ext->u.bytes, (int)ep_addr_len(ext), SQLITE_STATIC);
        sqlite3_bind_int(at, 2, proto);
        sqlite3_bind_int64(at, 3, x);
        sqlite3_bind_int64(at, 4, t);
        rc = sqlite3_step(at);
        if (rc == SQLITE_ROW) {
            id = sqlite3_column_int64(at, 0);
            sqlite3_reset(at);
            if ((rc = ep_natlog_read_checked(log, id, ext, proto, x, &r)) != 0)
                return rc;
            if (r.start > t)
                return ep_natlog_say(log, EP_EBADMSG,
                                     "record %lld: the whois index does not match the record",
                                     (long long)id);
            if (r.port_hi >= port && r.end > t) {
                *out = r;
                return 0;
            }
        } else if (rc != SQLITE_DONE) {
            sqlite3_reset(at);
            return ep_natlog_step_fail(log, rc);
        }
        sqlite3_reset(at);
        cur = x - 1;
    }
    return EP_ENOENT;
}

int ep_natlog_prune(ep_natlog *log, int64_t before, uint64_t *removed)
{
    sqlite3_stmt *st = NULL;
    int rc;
    if (!log || !log->st[ST_INSERT])
        return EP_EINVAL;
    if ((rc = ep_natlog_commit(log)) != 0 || (rc = ep_natlog_ready(log)) != 0)
        return rc;
    rc = sqlite3_prepare_v2(log->db, "DELETE FROM blocks WHERE end IS NOT NULL AND end < ?1", -1,
                            &st, NULL);
    if (rc != SQLITE_OK)
        return ep_natlog_failed(log, rc, "prune");
    sqlite3_bind_int64(st, 1, before);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return ep_natlog_failed(log, rc, "prune");
    if (removed)
        *removed = (uint64_t)sqlite3_changes64(log->db);
    return ep_natlog_commit(log);
}

/* Every record in id order; each is checked; fn gets the sound ones and
 * bad (if any) the damaged ones, else the first damaged one stops the walk
 * with -EBADMSG. */
static int ep_natlog_walk(ep_natlog *log, int (*fn)(const ep_natlog_record *, void *), void *arg,
                          int (*bad)(int64_t id, const char *why, void *arg), void *bad_arg,
                          uint64_t *count)
{
    sqlite3_stmt *st = NULL;
    uint64_t n = 0;
    int rc, ret = 0;
    bool damaged = false;
    rc = sqlite3_prepare_v2(log->db, "SELECT " EP_NATLOG_COLS ", id FROM blocks ORDER BY id", -1,
                            &st, NULL);
    if (rc != SQLITE_OK)
        return ep_natlog_step_fail(log, sqlite3_errcode(log->db));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ep_natlog_record r;
        const char *why = ep_natlog_row(st, &r);
        n++;
        if (why) {
            int64_t id = sqlite3_column_int64(st, 8);
            if (!damaged)
                ep_natlog_say(log, 0, "record %lld: %s", (long long)id, why);
            damaged = true;
            if (!bad) {
                ret = EP_EBADMSG;
                break;
            }
            if ((ret = bad(id, why, bad_arg)) != 0)
                break;
            continue;
        }
        if (fn && (ret = fn(&r, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = ep_natlog_step_fail(log, rc);
    sqlite3_finalize(st);
    if (count)
        *count = n;
    if (ret == 0 && damaged)
        ret = EP_EBADMSG;
    return ret;
}

int ep_natlog_foreach(ep_natlog *log, int (*fn)(const ep_natlog_record *, void *), void *arg)
{
    if (!log || !fn)
        return EP_EINVAL;
    return ep_natlog_walk(log, fn, arg, NULL, NULL, NULL);
}

static int ep_natlog_ignore_bad(int64_t id, const char *why, void *arg)
{
    (void)id;
    (void)why;
    (void)arg;
    return 0;
}

int ep_natlog_verify(ep_natlog *log, int (*bad)(int64_t id, const char *why, void *arg), void *arg,
                     uint64_t *records)
{
    if (!log)
        return EP_EINVAL;
    return ep_natlog_walk(log, NULL, NULL, bad ? bad : ep_natlog_ignore_bad, arg, records);
}

int ep_natlog_check(ep_natlog *log, ep_parse_error *err)
{
    int rc;
    if (!log)
        return EP_EINVAL;
    if ((rc = ep_natlog_pragma_check(log->db, "PRAGMA integrity_check", err)) != 0)
        return rc == EP_EBADMSG ? EP_EIO : rc;
    rc = ep_natlog_verify(log, NULL, NULL, NULL);
    if (rc != 0)
        return ep_natlog_msg(err, rc, "%.150s", log->errmsg);
    return 0;
}

struct ep_natlog_export {
    FILE *f;
};

static int ep_natlog_export_one(const ep_natlog_record *r, void *arg)
{
    struct ep_natlog_export *x = arg;
    char line[256];
    if (ep_natlog_csv_format(r, line, sizeof line) < 0)
        return EP_EIO;
    return fprintf(x->f, "%s\n", line) < 0 ? EP_EIO : 0;
}

int ep_natlog_export_csv(ep_natlog *log, FILE *f)
{
    struct ep_natlog_export x = { f };
    int rc;
    if (!log || !f)
        return EP_EINVAL;
    if (fprintf(f, "%s\n", EP_NATLOG_CSV_HEADER) < 0)
        return EP_EIO;
    rc = ep_natlog_foreach(log, ep_natlog_export_one, &x);
    if (rc == 0 && (fflush(f) != 0 || ferror(f)))
        rc = EP_EIO;
    return rc;
}

/* The whole import is one transaction: a bad line keeps nothing.  Its
 * events are not kept in memory (there may be millions): on any failure
 * the import is rolled back as a whole and says so. */
int ep_natlog_import_csv(ep_natlog *log, FILE *f, uint64_t *count, ep_parse_error *err)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    uint64_t done = 0;
    uint32_t batch;
    int rc;

    if (!log || !f)
        return EP_EINVAL;
    if (!log->st[ST_INSERT])
        return ep_natlog_msg(err, EP_EINVAL, "the log is open read-only%s%s", "", "");
    if ((rc = ep_natlog_commit(log)) != 0)
        return ep_natlog_msg(err, rc, "cannot commit the pending events: %.100s", log->errmsg);
    batch = log->batch;
    log->batch = UINT32_MAX;
    log->track = false;
    while ((n = getline(&line, &cap, f)) >= 0) {
        ep_natlog_record r;
        ep_parse_error e;
        char num[32];
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if ((size_t)n != strlen(line)) {
            snprintf(num, sizeof num, "%zu", lineno);
            rc = ep_natlog_msg(err, EP_EINVAL, "line %s: %s", num, "NUL byte in CSV");
            break;
        }
        if (lineno == 1) {
            if (strcmp(line, EP_NATLOG_CSV_HEADER) != 0) {
                rc = ep_natlog_msg(err, EP_EINVAL, "line 1: expected the header '%s'%s",
                                   EP_NATLOG_CSV_HEADER, "");
                break;
            }
            continue;
        }
        if (n == 0)
            continue;
        if (ep_natlog_csv_parse(line, &r, &e) != 0) {
            snprintf(num, sizeof num, "%zu", lineno);
            rc = ep_natlog_msg(err, EP_EINVAL, "line %s: %s", num, e.message);
            break;
        }
        if ((rc = ep_natlog_assign(log, &r)) != 0) {
            snprintf(num, sizeof num, "%zu", lineno);
            rc = ep_natlog_msg(err, rc == EP_EEXIST ? EP_EINVAL : rc, "line %s: %.120s", num,
                               rc == EP_EEXIST ? "this block is already assigned (open) in the log"
                                               : log->errmsg);
            break;
        }
        done++;
    }
    if (rc == 0 && ferror(f))
        rc = ep_natlog_msg(err, EP_EIO, "cannot read the CSV input%s%s", "", "");
    if (rc == 0 && lineno == 0)
        rc = ep_natlog_msg(err, EP_EINVAL, "empty CSV: expected the header '%s'%s",
                           EP_NATLOG_CSV_HEADER, "");
    free(line);
    log->batch = batch;
    if (rc == 0 && (rc = ep_natlog_commit(log)) != 0)
        ep_natlog_msg(err, rc, "%.150s", log->errmsg);
    if (rc != 0)
        ep_natlog_discard(log);
    log->track = true;
    if (rc == 0 && count)
        *count = done;
    return rc;
}

int ep_natlog_bulk_begin(ep_natlog *log, uint32_t *saved_batch, ep_parse_error *err)
{
    int rc;
    if (!log->st[ST_INSERT])
        return ep_natlog_msg(err, EP_EINVAL, "the log is open read-only%s", "");
    if ((rc = ep_natlog_commit(log)) != 0)
        return ep_natlog_msg(err, rc, "cannot commit the pending events: %.100s", log->errmsg);
    *saved_batch = log->batch;
    log->batch = UINT32_MAX;
    log->track = false;
    return 0;
}

int ep_natlog_bulk_end(ep_natlog *log, uint32_t saved_batch, int rc, ep_parse_error *err)
{
    log->batch = saved_batch;
    if (rc == 0 && (rc = ep_natlog_commit(log)) != 0)
        ep_natlog_msg(err, rc, "%.150s", log->errmsg);
    if (rc != 0)
        ep_natlog_discard(log);
    log->track = true;
    return rc;
}

/* ---- format 1 -> 2 ------------------------------------------------------ */

static void ep_natlog_sum_sql(sqlite3_context *ctx, int argc, sqlite3_value **v)
{
    ep_natlog_record r;
    int n0 = sqlite3_value_bytes(v[0]), n1 = sqlite3_value_bytes(v[1]);
    (void)argc;
    memset(&r, 0, sizeof r);
    if (sqlite3_value_type(v[0]) != SQLITE_BLOB || sqlite3_value_type(v[1]) != SQLITE_BLOB ||
        (n0 != 4 && n0 != 16) || (n1 != 4 && n1 != 16) ||
        ep_addr_from_bytes(n0 == 4 ? AF_INET : AF_INET6, sqlite3_value_blob(v[0]), &r.subscriber) ||
        ep_addr_from_bytes(n1 == 4 ? AF_INET : AF_INET6, sqlite3_value_blob(v[1]), &r.ext)) {
        sqlite3_result_error(ctx, "not an address", -1);
        return;
    }
    r.proto = (uint8_t)sqlite3_value_int(v[2]);
    r.port_lo = (uint16_t)sqlite3_value_int(v[3]);
    r.port_hi = (uint16_t)sqlite3_value_int(v[4]);
    r.start = sqlite3_value_int64(v[5]);
    r.end = sqlite3_value_type(v[6]) == SQLITE_NULL ? EP_NATLOG_OPEN_END : sqlite3_value_int64(v[6]);
    if (ep_natlog_record_invalid(&r)) {
        sqlite3_result_error(ctx, ep_natlog_record_invalid(&r), -1);
        return;
    }
    sqlite3_result_int64(ctx, (int64_t)ep_natlog_record_sum(&r));
}

int ep_natlog_upgrade(const char *path, uint64_t *records, ep_parse_error *err)
{
    sqlite3 *db = NULL;
    char *fmt = NULL;
    int rc = 0;
    static const char *copy =
        "ALTER TABLE blocks RENAME TO blocks_format1;"
        "DROP INDEX IF EXISTS blocks_lookup;"
        "DROP INDEX IF EXISTS blocks_open;";
    static const char *fill =
        "INSERT INTO blocks(id, " EP_NATLOG_COLS ") SELECT id, subscriber, ext, proto, port_lo, "
        "port_hi, start, end, ephport_record_sum(subscriber, ext, proto, port_lo, port_hi, start, "
        "end) FROM blocks_format1 ORDER BY id;"
        "DROP TABLE blocks_format1;"
        "UPDATE ephport_meta SET value = '" EP_NATLOG_FORMAT "' WHERE key = 'format';";

    if (!path)
        return EP_EINVAL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = ep_natlog_msg(err, EP_EIO, "%.120s: cannot open: %.80s", path,
                           db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 10000);
    fmt = ep_natlog_text(db, "SELECT value FROM ephport_meta WHERE key = 'format'");
    if (fmt && strcmp(fmt, EP_NATLOG_FORMAT) == 0) {
        rc = 0;
    } else if (!fmt || strcmp(fmt, EP_NATLOG_FORMAT_1) != 0) {
        rc = ep_natlog_msg(err, EP_EIO, "%.120s: not an ephport NAT log (no format mark)%s", path,
                           "");
    } else if ((rc = ep_natlog_pragma_check(db, "PRAGMA integrity_check", err)) != 0) {
        rc = EP_EIO;
    } else if (sqlite3_create_function(db, "ephport_record_sum", 7,
                                       SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                       ep_natlog_sum_sql, NULL, NULL) != SQLITE_OK ||
               sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                "BEGIN IMMEDIATE",
                            NULL, NULL, NULL) != SQLITE_OK) {
        rc = ep_natlog_msg(err, EP_EIO, "%.120s: %.80s", path, sqlite3_errmsg(db));
    } else if (sqlite3_exec(db, copy, NULL, NULL, NULL) != SQLITE_OK ||
               sqlite3_exec(db, ep_natlog_schema, NULL, NULL, NULL) != SQLITE_OK ||
               sqlite3_exec(db, fill, NULL, NULL, NULL) != SQLITE_OK) {
        rc = ep_natlog_msg(err, EP_EIO, "%.100s: not upgraded, nothing changed: %.80s", path,
                           sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    } else {
        char *cnt = ep_natlog_text(db, "SELECT count(*) FROM blocks");
        if (records)
            *records = cnt ? strtoull(cnt, NULL, 10) : 0;
        free(cnt);
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            rc = ep_natlog_msg(err, EP_EIO, "%.100s: not upgraded, nothing changed: %.80s", path,
                               sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    free(fmt);
    sqlite3_close(db);
    return rc;
}
