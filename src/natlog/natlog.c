/* natlog.c - the durable port-block log: who held which external address
 * and port block, for which protocol, from when to when.
 *
 * Port-block allocation turns a per-connection log (billions of rows) into
 * a per-block log (one row per assignment), and this file keeps it in
 * SQLite:
 *
 *   blocks(id, subscriber BLOB, ext BLOB, proto, port_lo, port_hi,
 *          start, end)                     end NULL while still assigned
 *   index blocks_lookup (ext, proto, port_lo, start)     the whois index
 *   index blocks_open   (ext, proto, port_lo) WHERE end IS NULL
 *
 * Addresses are stored as their 4 or 16 raw bytes.  No destination is ever
 * stored (RFC 6888 REQ-12): the schema has no column for one.
 *
 * Durability (the policy nat.h documents): WAL journal; writes go into an
 * open transaction that is committed every `batch` events and on
 * ep_natlog_commit()/ep_natlog_close().  synchronous=FULL by default, so a
 * COMMIT that returned has been fsync'ed to the WAL; synchronous=NORMAL
 * trades the last transactions on power loss (never on a process crash)
 * for fewer fsyncs.
 *
 * whois: for the port asked, find the highest block start port_lo <= port
 * (and > port - the largest block ever logged), then the latest record at
 * that port_lo that started at or before t; if it covers the port and had
 * not ended by t it is the answer, else step to the next lower port_lo.
 * Each step is two index seeks, and with a regular block grid there is one
 * step.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include <ephport/natlog.h>

#define EP_NATLOG_FORMAT "ephport-natlog 1"

enum {
    ST_INSERT,
    ST_RELEASE_FIND,
    ST_RELEASE,
    ST_LO,
    ST_AT,
    ST_MAXBLOCK,
    ST__COUNT
};

static const char *const ep_natlog_sql[ST__COUNT] = {
    [ST_INSERT] = "INSERT INTO blocks(subscriber, ext, proto, port_lo, port_hi, start, end) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* at most one open row per block (assign checks), found in the small
     * partial index rather than by walking the block's history */
    [ST_RELEASE_FIND] = "SELECT id, start FROM blocks INDEXED BY blocks_open WHERE ext = ?1 "
                        "AND proto = ?2 AND port_lo = ?3 AND end IS NULL LIMIT 1",
    [ST_RELEASE] = "UPDATE blocks SET end = ?2 WHERE id = ?1",
    [ST_LO] = "SELECT port_lo FROM blocks WHERE ext = ?1 AND proto = ?2 AND port_lo <= ?3 AND "
              "port_lo >= ?4 ORDER BY port_lo DESC LIMIT 1",
    [ST_AT] = "SELECT subscriber, port_hi, start, end FROM blocks WHERE ext = ?1 AND "
              "proto = ?2 AND port_lo = ?3 AND start <= ?4 ORDER BY start DESC LIMIT 1",
    [ST_MAXBLOCK] = "INSERT OR REPLACE INTO ephport_meta(key, value) VALUES ('max_block', ?1)",
};

struct ep_natlog {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    bool in_txn;
    uint32_t pending, batch;
    int64_t max_block;     /* largest port_hi - port_lo logged */
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

static int ep_natlog_exec(ep_natlog *log, const char *sql)
{
    return sqlite3_exec(log->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : EP_EIO;
}

static void ep_natlog_finalize(ep_natlog *log)
{
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(log->st[i]);
    sqlite3_close(log->db);
    free(log);
}

static const char *ep_natlog_schema =
    "CREATE TABLE IF NOT EXISTS ephport_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO ephport_meta(key, value) VALUES ('format', '" EP_NATLOG_FORMAT "');"
    "CREATE TABLE IF NOT EXISTS blocks("
    " id INTEGER PRIMARY KEY, subscriber BLOB NOT NULL, ext BLOB NOT NULL,"
    " proto INTEGER NOT NULL, port_lo INTEGER NOT NULL, port_hi INTEGER NOT NULL,"
    " start INTEGER NOT NULL, end INTEGER);"
    "CREATE INDEX IF NOT EXISTS blocks_lookup ON blocks(ext, proto, port_lo, start);"
    "CREATE INDEX IF NOT EXISTS blocks_open ON blocks(ext, proto, port_lo) WHERE end IS NULL;";

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
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        tables = sqlite3_column_int(st, 0);
    else
        rc = SQLITE_NOTADB;
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_OK) {
        rc = ep_natlog_msg(err, EP_EIO, "%.120s: not an ephport NAT log (%.80s)", path,
                           sqlite3_errmsg(log->db));
        ep_natlog_finalize(log);
        return rc;
    }
    if (tables > 0) {
        if (sqlite3_prepare_v2(log->db, "SELECT value FROM ephport_meta WHERE key = 'format'",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            fmt = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        st = NULL;
        if (!fmt || strcmp(fmt, EP_NATLOG_FORMAT) != 0) {
            free(fmt);
            ep_natlog_finalize(log);
            return ep_natlog_msg(err, EP_EIO,
                                 "%.120s: an SQLite database, but not an ephport NAT log "
                                 "(no '%s' format mark)",
                                 path, EP_NATLOG_FORMAT);
        }
        free(fmt);
    }
    if (!o.read_only) {
        char pragmas[128];
        snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
                 o.sync_normal ? "NORMAL" : "FULL");
        if (ep_natlog_exec(log, pragmas) != 0 || ep_natlog_exec(log, ep_natlog_schema) != 0) {
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

int ep_natlog_commit(ep_natlog *log)
{
    if (!log)
        return EP_EINVAL;
    if (!log->in_txn)
        return 0;
    if (ep_natlog_exec(log, "COMMIT") != 0)
        return EP_EIO;
    log->in_txn = false;
    log->pending = 0;
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

static int ep_natlog_begin(ep_natlog *log)
{
    if (log->in_txn)
        return 0;
    if (ep_natlog_exec(log, "BEGIN IMMEDIATE") != 0)
        return EP_EIO;
    log->in_txn = true;
    return 0;
}

/* One event written: commit when the batch is full. */
static int ep_natlog_written(ep_natlog *log)
{
    if (++log->pending >= log->batch)
        return ep_natlog_commit(log);
    return 0;
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

int ep_natlog_assign(ep_natlog *log, const ep_natlog_record *r)
{
    sqlite3_stmt *st;
    int rc;
    if (!log || !r || !log->st[ST_INSERT])
        return EP_EINVAL;
    if (!ep_addr_ok(&r->subscriber) || !ep_addr_ok(&r->ext) || !ep_proto_ok(r->proto) ||
        r->port_lo > r->port_hi || r->start < 0 || r->end <= r->start)
        return EP_EINVAL;
    if ((rc = ep_natlog_begin(log)) != 0)
        return rc;
    if (r->end == EP_NATLOG_OPEN_END) {
        /* one open assignment per block: a second would make whois and
         * release ambiguous */
        st = log->st[ST_RELEASE_FIND];
        sqlite3_reset(st);
        sqlite3_bind_blob(st, 1, r->ext.u.bytes, (int)ep_addr_len(&r->ext), SQLITE_STATIC);
        sqlite3_bind_int(st, 2, r->proto);
        sqlite3_bind_int(st, 3, r->port_lo);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
            return EP_EEXIST;
        if (rc != SQLITE_DONE)
            return EP_EIO;
    }
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
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return EP_EIO;
    if (r->port_hi - r->port_lo > log->max_block) {
        sqlite3_stmt *m = log->st[ST_MAXBLOCK];
        log->max_block = r->port_hi - r->port_lo;
        sqlite3_reset(m);
        sqlite3_bind_int64(m, 1, log->max_block);
        rc = sqlite3_step(m);
        sqlite3_reset(m);
        if (rc != SQLITE_DONE)
            return EP_EIO;
    }
    return ep_natlog_written(log);
}

int ep_natlog_release(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port_lo,
                      int64_t end)
{
    sqlite3_stmt *st;
    int64_t id, start;
    int rc;
    if (!log || !ext || !ep_addr_ok(ext) || !ep_proto_ok(proto) || !log->st[ST_RELEASE])
        return EP_EINVAL;
    if ((rc = ep_natlog_begin(log)) != 0)
        return rc;
    st = log->st[ST_RELEASE_FIND];
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, ext->u.bytes, (int)ep_addr_len(ext), SQLITE_STATIC);
    sqlite3_bind_int(st, 2, proto);
    sqlite3_bind_int(st, 3, port_lo);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? EP_ENOENT : EP_EIO;
    }
    id = sqlite3_column_int64(st, 0);
    start = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    if (end <= start || end == EP_NATLOG_OPEN_END)
        return EP_EINVAL;
    st = log->st[ST_RELEASE];
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, end);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return EP_EIO;
    return ep_natlog_written(log);
}

static int ep_natlog_addr_col(sqlite3_stmt *st, int col, ep_addr *out)
{
    int n = sqlite3_column_bytes(st, col);
    const void *b = sqlite3_column_blob(st, col);
    if (!b || (n != 4 && n != 16))
        return EP_EIO;
    return ep_addr_from_bytes(n == 4 ? AF_INET : AF_INET6, b, out) == 0 ? 0 : EP_EIO;
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
        int64_t x;
        int rc;
        sqlite3_reset(lo);
        sqlite3_bind_blob(lo, 1, ext->u.bytes, (int)ep_addr_len(ext), SQLITE_STATIC);
        sqlite3_bind_int(lo, 2, proto);
        sqlite3_bind_int64(lo, 3, cur);
        sqlite3_bind_int64(lo, 4, floor);
        rc = sqlite3_step(lo);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(lo);
            return rc == SQLITE_DONE ? EP_ENOENT : EP_EIO;
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
            int64_t hi = sqlite3_column_int64(at, 1), start = sqlite3_column_int64(at, 2);
            bool open = sqlite3_column_type(at, 3) == SQLITE_NULL;
            int64_t end = open ? EP_NATLOG_OPEN_END : sqlite3_column_int64(at, 3);
            if (hi >= port && end > t) {
                memset(out, 0, sizeof *out);
                rc = ep_natlog_addr_col(at, 0, &out->subscriber);
                sqlite3_reset(at);
                if (rc != 0)
                    return rc;
                out->ext = *ext;
                out->proto = proto;
                out->port_lo = (uint16_t)x;
                out->port_hi = (uint16_t)hi;
                out->start = start;
                out->end = end;
                return 0;
            }
        } else if (rc != SQLITE_DONE) {
            sqlite3_reset(at);
            return EP_EIO;
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
    if (!log)
        return EP_EINVAL;
    if ((rc = ep_natlog_commit(log)) != 0 || (rc = ep_natlog_begin(log)) != 0)
        return rc;
    if (sqlite3_prepare_v2(log->db, "DELETE FROM blocks WHERE end IS NOT NULL AND end < ?1", -1,
                           &st, NULL) != SQLITE_OK) {
        ep_natlog_exec(log, "ROLLBACK");
        log->in_txn = false;
        return EP_EIO;
    }
    sqlite3_bind_int64(st, 1, before);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        ep_natlog_exec(log, "ROLLBACK");
        log->in_txn = false;
        return EP_EIO;
    }
    if (removed)
        *removed = (uint64_t)sqlite3_changes64(log->db);
    return ep_natlog_commit(log);
}

int ep_natlog_foreach(ep_natlog *log, int (*fn)(const ep_natlog_record *, void *), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = 0;
    if (!log || !fn)
        return EP_EINVAL;
    if (sqlite3_prepare_v2(log->db,
                           "SELECT subscriber, ext, proto, port_lo, port_hi, start, end "
                           "FROM blocks ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return EP_EIO;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ep_natlog_record r;
        memset(&r, 0, sizeof r);
        if (ep_natlog_addr_col(st, 0, &r.subscriber) != 0 || ep_natlog_addr_col(st, 1, &r.ext) != 0) {
            ret = EP_EIO;
            break;
        }
        r.proto = (uint8_t)sqlite3_column_int(st, 2);
        r.port_lo = (uint16_t)sqlite3_column_int(st, 3);
        r.port_hi = (uint16_t)sqlite3_column_int(st, 4);
        r.start = sqlite3_column_int64(st, 5);
        r.end = sqlite3_column_type(st, 6) == SQLITE_NULL ? EP_NATLOG_OPEN_END
                                                           : sqlite3_column_int64(st, 6);
        if ((ret = fn(&r, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = EP_EIO;
    sqlite3_finalize(st);
    return ret;
}

int ep_natlog_check(ep_natlog *log, ep_parse_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (!log)
        return EP_EINVAL;
    if (sqlite3_prepare_v2(log->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return ep_natlog_msg(err, EP_EIO, "integrity_check failed: %.100s%s",
                             sqlite3_errmsg(log->db), "");
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = ep_natlog_msg(err, EP_EIO, "integrity_check failed: %.100s%s",
                           sqlite3_errmsg(log->db), "");
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        rc = ep_natlog_msg(err, EP_EIO, "integrity_check: %.120s%s",
                           (const char *)sqlite3_column_text(st, 0), "");
    sqlite3_finalize(st);
    return rc;
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

/* The whole import is one transaction: a bad line keeps nothing. */
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
    if ((rc = ep_natlog_commit(log)) != 0 || (rc = ep_natlog_begin(log)) != 0)
        return rc;
    batch = log->batch;
    log->batch = UINT32_MAX;
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
            rc = ep_natlog_msg(err, rc == EP_EEXIST ? EP_EINVAL : rc, "line %s: %s", num,
                               rc == EP_EEXIST ? "this block is already assigned (open) in the log"
                                               : "cannot store the record");
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
    if (rc != 0) {
        ep_natlog_exec(log, "ROLLBACK");
        log->in_txn = false;
        log->pending = 0;
        return rc;
    }
    rc = ep_natlog_commit(log);
    if (rc == 0 && count)
        *count = done;
    return rc;
}
