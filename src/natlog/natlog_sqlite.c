/* natlog_sqlite.c - the SQLite backend of the port-block log (the embedded
 * default; natlog_int.h is the vtable it fills, natlog.c the generic part:
 * pending events, batching, the checked walk, CSV).
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
 * COMMIT that returned has been fsync'ed to the WAL.  The handle (natlog.c)
 * keeps the accepted events of the open transaction in memory (pend).  Invariant:
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

#include "natlog_int.h"

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

/* The backend state (log->bs). */
struct ep_natlog_sqlite {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    int64_t max_block;     /* largest port_hi - port_lo logged (may overestimate) */
};

static struct ep_natlog_sqlite *ep_sq(const ep_natlog *log)
{
    return log->bs;
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
    int sys = sqlite3_system_errno(ep_sq(log)->db);
    int ext = sqlite3_extended_errcode(ep_sq(log)->db);
    const char *why = ep_sqlite_damage(src) || ep_sqlite_damage(ext) ? "the file is damaged"
                      : (src & 0xff) == SQLITE_FULL || sys == ENOSPC ? "disk full"
                      : sys == EFBIG ? "file size limit reached"
                      : sqlite3_errstr(src);
    ep_natlog_say(log, 0, "%s failed: %s (%s%s%s)", what, why, sqlite3_errmsg(ep_sq(log)->db),
                  sys ? ", " : "", sys ? strerror(sys) : "");
    if (!sqlite3_get_autocommit(ep_sq(log)->db))
        sqlite3_exec(ep_sq(log)->db, "ROLLBACK", NULL, NULL, NULL);
    log->in_txn = false;
    return ep_sqlite_damage(src) || ep_sqlite_damage(ext) ? EP_EBADMSG : EP_EIO;
}

static int ep_natlog_exec(ep_natlog *log, const char *sql)
{
    return sqlite3_exec(ep_sq(log)->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : EP_EIO;
}

static void ep_sqlite_close(ep_natlog *log)
{
    struct ep_natlog_sqlite *sq = ep_sq(log);
    if (!sq)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(sq->st[i]);
    sqlite3_close(sq->db);
    free(sq);
    log->bs = NULL;
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
static const struct ep_natlog_backend ep_natlog_sqlite_backend;

int ep_natlog_sqlite_open(ep_natlog *log, const char *path, const ep_natlog_options *opt,
                          ep_parse_error *err)
{
    const ep_natlog_options o = *opt;
    struct stat sb;
    sqlite3_stmt *st = NULL;
    int flags, rc, tables = 0;
    char *fmt = NULL;

    if (stat(path, &sb) != 0) {
        if (!o.create || o.read_only)
            return ep_natlog_msg(err, EP_ENOENT, "%.120s: no such log file%s", path, "");
    } else if (!S_ISREG(sb.st_mode)) {
        return ep_natlog_msg(err, EP_EIO, "%.120s: not a regular file%s", path, "");
    }
    log->bs = calloc(1, sizeof(struct ep_natlog_sqlite));
    if (!log->bs)
        return EP_ENOMEM;
    flags = o.read_only ? SQLITE_OPEN_READONLY
                        : SQLITE_OPEN_READWRITE | (o.create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &ep_sq(log)->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = ep_natlog_msg(err, EP_EIO, "%.120s: cannot open: %.80s", path,
                           ep_sq(log)->db ? sqlite3_errmsg(ep_sq(log)->db) : "out of memory");
        ep_sqlite_close(log);
        return rc;
    }
    sqlite3_busy_timeout(ep_sq(log)->db, 10000);
    if (o.cache_kib) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%u", o.cache_kib);
        ep_natlog_exec(log, pragma);
    }
    /* The first read of the header tells a database from anything else. */
    rc = sqlite3_prepare_v2(ep_sq(log)->db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        tables = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_OK) {
        rc = ep_natlog_msg(err, EP_EIO, "%.120s: not an ephport NAT log (%.80s)", path,
                           sqlite3_errmsg(ep_sq(log)->db));
        ep_sqlite_close(log);
        return rc;
    }
    if (tables > 0) {
        fmt = ep_natlog_text(ep_sq(log)->db, "SELECT value FROM ephport_meta WHERE key = 'format'");
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
        else if ((rc = ep_natlog_schema_same(ep_sq(log)->db)) != 0)
            rc = ep_natlog_msg(err, EP_EIO,
                               "%.120s: damaged: %s; 'ephport nat log check' says more", path,
                               rc == EP_EBADMSG ? "its schema is not the one this version writes"
                                                : "its schema cannot be read");
        free(fmt);
        if (rc != 0) {
            ep_sqlite_close(log);
            return rc;
        }
        if (o.verify) {
            ep_parse_error e;
            if (ep_natlog_pragma_check(ep_sq(log)->db, "PRAGMA quick_check", &e) != 0) {
                ep_sqlite_close(log);
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
                               sqlite3_errmsg(ep_sq(log)->db));
            ep_sqlite_close(log);
            return rc;
        }
    }
    for (int i = 0; i < ST__COUNT; i++) {
        if (o.read_only && (i == ST_INSERT || i == ST_RELEASE || i == ST_MAXBLOCK))
            continue;
        if (sqlite3_prepare_v2(ep_sq(log)->db, ep_natlog_sql[i], -1, &ep_sq(log)->st[i], NULL) != SQLITE_OK) {
            rc = ep_natlog_msg(err, EP_EIO, "%.120s: not a usable ephport NAT log: %.80s", path,
                               sqlite3_errmsg(ep_sq(log)->db));
            ep_sqlite_close(log);
            return rc;
        }
    }
    if (sqlite3_prepare_v2(ep_sq(log)->db, "SELECT value FROM ephport_meta WHERE key = 'max_block'", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ep_sq(log)->max_block = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    log->be = &ep_natlog_sqlite_backend;
    return 0;
}
static size_t ep_addr_len(const ep_addr *a)
{
    return a->family == AF_INET ? 4 : 16;
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

static int ep_sqlite_begin(ep_natlog *log)
{
    int rc = sqlite3_exec(ep_sq(log)->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : ep_natlog_failed(log, rc, "BEGIN");
}

static int ep_sqlite_commit(ep_natlog *log)
{
    int rc = sqlite3_exec(ep_sq(log)->db, "COMMIT", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : ep_natlog_failed(log, rc, "COMMIT");
}

static void ep_sqlite_rollback(ep_natlog *log)
{
    if (!sqlite3_get_autocommit(ep_sq(log)->db))
        sqlite3_exec(ep_sq(log)->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The SQL of one event inside the open transaction.  Logical refusals
 * (-EEXIST, -ENOENT, -EINVAL) change nothing; a failed statement goes
 * through ep_natlog_failed (transaction rolled back). */
static int ep_sqlite_apply(ep_natlog *log, const ep_natlog_event *ev)
{
    const ep_natlog_record *r = &ev->rec;
    sqlite3_stmt *st = ep_sq(log)->st[ST_RELEASE_FIND];
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
        st = ep_sq(log)->st[ST_ROW];
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
        st = ep_sq(log)->st[ST_RELEASE];
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
    st = ep_sq(log)->st[ST_INSERT];
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
    if (r->port_hi - r->port_lo > ep_sq(log)->max_block) {
        sqlite3_stmt *m = ep_sq(log)->st[ST_MAXBLOCK];
        /* in memory at once: after a rollback it may overestimate, which
         * only widens whois's search */
        ep_sq(log)->max_block = r->port_hi - r->port_lo;
        sqlite3_reset(m);
        sqlite3_bind_int64(m, 1, ep_sq(log)->max_block);
        rc = sqlite3_step(m);
        sqlite3_reset(m);
        if (rc != SQLITE_DONE)
            return ep_natlog_failed(log, rc, "storing the largest block size");
    }
    return 0;
}
/* ---- reading ------------------------------------------------------------ */

/* Record id read from the table itself and checked; it must be the block
 * (ext, proto, port_lo) the index said.  0, -EBADMSG (errmsg), -EIO. */
static int ep_natlog_read_checked(ep_natlog *log, int64_t id, const ep_addr *ext, uint8_t proto,
                                  int64_t port_lo, ep_natlog_record *r)
{
    sqlite3_stmt *st = ep_sq(log)->st[ST_ROW];
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
                                                    (long long)id, sqlite3_errmsg(ep_sq(log)->db))
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
        return ep_natlog_say(log, EP_EBADMSG, "the file is damaged: %s", sqlite3_errmsg(ep_sq(log)->db));
    ep_natlog_say(log, 0, "%s", sqlite3_errmsg(ep_sq(log)->db));
    return EP_EIO;
}

static int ep_sqlite_whois(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port,
                           int64_t t, ep_natlog_record *out)
{
    int64_t cur = port, floor;
    floor = (int64_t)port - ep_sq(log)->max_block;
    while (cur >= floor && cur >= 0) {
        sqlite3_stmt *lo = ep_sq(log)->st[ST_LO], *at = ep_sq(log)->st[ST_AT];
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
static int ep_sqlite_prune(ep_natlog *log, int64_t before, uint64_t *removed)
{
    sqlite3_stmt *st = NULL;
    int rc;
    rc = sqlite3_prepare_v2(ep_sq(log)->db, "DELETE FROM blocks WHERE end IS NOT NULL AND end < ?1", -1,
                            &st, NULL);
    if (rc != SQLITE_OK)
        return ep_natlog_failed(log, rc, "prune");
    sqlite3_bind_int64(st, 1, before);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return ep_natlog_failed(log, rc, "prune");
    *removed = (uint64_t)sqlite3_changes64(ep_sq(log)->db);
    return 0;
}

/* Every record in id order, each checked (ep_natlog_row). */
static int ep_sqlite_scan(ep_natlog *log, ep_natlog_row_fn fn, void *arg, uint64_t *count)
{
    sqlite3_stmt *st = NULL;
    uint64_t n = 0;
    int rc, ret = 0;
    rc = sqlite3_prepare_v2(ep_sq(log)->db, "SELECT " EP_NATLOG_COLS ", id FROM blocks ORDER BY id", -1,
                            &st, NULL);
    if (rc != SQLITE_OK)
        return ep_natlog_step_fail(log, sqlite3_errcode(ep_sq(log)->db));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ep_natlog_record r;
        const char *why = ep_natlog_row(st, &r);
        n++;
        if ((ret = fn(sqlite3_column_int64(st, 8), &r, why, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = ep_natlog_step_fail(log, rc);
    sqlite3_finalize(st);
    *count = n;
    return ret;
}

static int ep_sqlite_integrity(ep_natlog *log, ep_parse_error *err)
{
    int rc = ep_natlog_pragma_check(ep_sq(log)->db, "PRAGMA integrity_check", err);
    return rc == EP_EBADMSG ? EP_EIO : rc;
}

static const struct ep_natlog_backend ep_natlog_sqlite_backend = {
    .name = "SQLite",
    .close = ep_sqlite_close,
    .begin = ep_sqlite_begin,
    .apply = ep_sqlite_apply,
    .commit = ep_sqlite_commit,
    .rollback = ep_sqlite_rollback,
    .whois = ep_sqlite_whois,
    .prune = ep_sqlite_prune,
    .scan = ep_sqlite_scan,
    .integrity = ep_sqlite_integrity,
};

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

int ep_natlog_sqlite_upgrade(const char *path, uint64_t *records, ep_parse_error *err)
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
