/* natlog_pg.c - the PostgreSQL backend of the port-block log (libpq): one
 * database that many routers write at once, each handle its own
 * connection.  Selected by a log name postgresql://... or postgres://...
 * (a libpq connection URI); natlog.c is the generic part (pending events,
 * batching, the checked walk), natlog_int.h the vtable filled here.
 *
 * Schema ("ephport-natlog-pg 1", in the connection's current schema):
 *
 *   ephport_meta(key text PRIMARY KEY, value text)   'format' -> the mark
 *   blocks(id bigint identity, subscriber bytea, ext bytea, proto smallint,
 *          port_lo int, port_hi int, start bigint, "end" bigint NULL while
 *          assigned, checksum bigint), the SQLite CHECKs, and
 *     CONSTRAINT blocks_one_holder EXCLUDE USING gist (ext WITH =,
 *          proto WITH =, int4range(port_lo, port_hi, '[]') WITH &&,
 *          int8range(start, "end") WITH &&)
 *   ephport_writers(token text PRIMARY KEY, seq bigint)   commit receipts
 *
 * The exclusion constraint makes two holders of one port at one time
 * impossible, whatever writes the table; its GiST index (btree_gist for
 * the = columns) is also the whois index: a range query "ext, proto, port
 * in [port_lo, port_hi], t in [start, end)" is one index search.  An
 * assignment is INSERT ... ON CONFLICT DO NOTHING RETURNING id: no row
 * back means the constraint refused it (-EEXIST), and the transaction
 * goes on, so one refusal never costs the batch.  Two writers racing for
 * one block: the second waits for the first's transaction and then gets
 * -EEXIST (or -EIO if the first holds one it wants too: a deadlock the
 * server breaks; the pending events are then written again, as after any
 * failed commit).
 *
 * Durability: a transaction of `batch` events; COMMIT returns after the
 * server flushed its WAL (synchronous_commit=on; sync_normal sets it off:
 * a server crash may lose the last transactions, never corrupt).  A
 * COMMIT whose connection broke is in doubt: the server may have
 * committed it.  So each COMMIT also writes (token, seq) of this handle
 * into ephport_writers in the same transaction; after a lost connection
 * the next begin reconnects and reads the receipt: if it is there, the
 * events were stored and natlog.c forgets them instead of writing them
 * twice (begin returns 1).  Until then ep_natlog_pending lists them as
 * not known to be stored.
 *
 * Damage: open checks the format mark and that the schema is exactly the
 * one this version makes (the same statements run in a temporary schema
 * are the reference, like the SQLite backend's in-memory one).  Every row
 * read is checked against the record rules and its checksum.  ep_natlog_check
 * runs that schema check again (there is no PRAGMA integrity_check: the
 * server's own page checksums, if initdb enabled them, guard the pages).
 *
 * Waiting: libpq waits for a connection as long as the network lets it (a
 * server that accepts and never answers: for ever), so a URI without its
 * own connect_timeout gets EP_PG_CONNECT_TIMEOUT seconds, for the first
 * connection and every reconnection; the URI's value wins when it has one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <libpq-fe.h>

#define EP_PG_CONNECT_TIMEOUT "10" /* seconds, when the URI gives none */

#include <ephport/natlog.h>

#include "natlog_int.h"

#define EP_PG_FORMAT "ephport-natlog-pg 1"
#define EP_PG_INIT_LOCK "7309475036516720487"   /* advisory lock while creating */

/* Type OIDs (pg_type.h; stable since PostgreSQL 7). */
#define EP_OID_BYTEA 17
#define EP_OID_INT8 20
#define EP_OID_INT2 21
#define EP_OID_INT4 23

#define EP_PG_COLS "subscriber, ext, proto, port_lo, port_hi, start, \"end\", checksum"

static const char *ep_pg_schema =
    "CREATE EXTENSION IF NOT EXISTS btree_gist;"
    "CREATE TABLE ephport_meta(key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE blocks("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " subscriber bytea NOT NULL CHECK (length(subscriber) IN (4, 16)),"
    " ext bytea NOT NULL CHECK (length(ext) IN (4, 16)),"
    " proto smallint NOT NULL CHECK (proto IN (1, 6, 17)),"
    " port_lo integer NOT NULL CHECK (port_lo BETWEEN 0 AND 65535),"
    " port_hi integer NOT NULL CHECK (port_hi BETWEEN port_lo AND 65535),"
    " start bigint NOT NULL CHECK (start >= 0),"
    " \"end\" bigint CHECK (\"end\" IS NULL OR \"end\" > start),"
    " checksum bigint NOT NULL,"
    " CONSTRAINT blocks_one_holder EXCLUDE USING gist (ext WITH =, proto WITH =,"
    "  int4range(port_lo, port_hi, '[]') WITH &&, int8range(start, \"end\") WITH &&));"
    "CREATE TABLE ephport_writers(token text PRIMARY KEY, seq bigint NOT NULL);";

/* One line per column, constraint and index of our tables in namespace $1. */
static const char *ep_pg_describe =
    "SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM ("
    " SELECT 'col ' || c.relname || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)"
    "  || ' ' || a.attnotnull || ' ' || a.attidentity::text AS x"
    "  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    "  WHERE c.relnamespace = $1::oid AND c.relkind = 'r'"
    "  AND c.relname IN ('ephport_meta', 'blocks', 'ephport_writers')"
    "  AND a.attnum > 0 AND NOT a.attisdropped"
    " UNION ALL"
    " SELECT 'con ' || c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)"
    "  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
    "  WHERE c.relnamespace = $1::oid AND c.relname IN ('ephport_meta', 'blocks', 'ephport_writers')"
    " UNION ALL"
    " SELECT 'idx ' || c.relname || ' ' || i.relname || ' ' || x.indisunique::text"
    "  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid"
    "  WHERE c.relnamespace = $1::oid AND c.relname IN ('ephport_meta', 'blocks', 'ephport_writers')"
    ") s";

enum { PS_INSERT, PS_FIND_OPEN, PS_RELEASE, PS_WHOIS, PS_PRUNE, PS_RECEIPT, PS__COUNT };

static const struct {
    const char *sql;
    int nparams;
    Oid types[8];
} ep_pg_stmt[PS__COUNT] = {
    [PS_INSERT] = { "INSERT INTO blocks(" EP_PG_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                    "ON CONFLICT DO NOTHING RETURNING id",
                    8, { EP_OID_BYTEA, EP_OID_BYTEA, EP_OID_INT2, EP_OID_INT4, EP_OID_INT4,
                         EP_OID_INT8, EP_OID_INT8, EP_OID_INT8 } },
    /* the open record of a block, found on the GiST index (an open range
     * contains the largest int8) and locked against a racing release */
    [PS_FIND_OPEN] = { "SELECT " EP_PG_COLS ", id FROM blocks WHERE ext = $1 AND proto = $2 "
                       "AND int4range(port_lo, port_hi, '[]') @> $3 AND int8range(start, \"end\") "
                       "@> 9223372036854775807::int8 AND port_lo = $3 AND \"end\" IS NULL "
                       "LIMIT 1 FOR UPDATE",
                       3, { EP_OID_BYTEA, EP_OID_INT2, EP_OID_INT4 } },
    [PS_RELEASE] = { "UPDATE blocks SET \"end\" = $2, checksum = $3 WHERE id = $1", 3,
                     { EP_OID_INT8, EP_OID_INT8, EP_OID_INT8 } },
    [PS_WHOIS] = { "SELECT " EP_PG_COLS ", id FROM blocks WHERE ext = $1 AND proto = $2 "
                   "AND int4range(port_lo, port_hi, '[]') @> $3 AND int8range(start, \"end\") @> $4 "
                   "ORDER BY start DESC LIMIT 1",
                   4, { EP_OID_BYTEA, EP_OID_INT2, EP_OID_INT4, EP_OID_INT8 } },
    [PS_PRUNE] = { "DELETE FROM blocks WHERE \"end\" IS NOT NULL AND \"end\" < $1", 1,
                   { EP_OID_INT8 } },
    [PS_RECEIPT] = { "SELECT seq FROM ephport_writers WHERE token = $1", 1, { 25 } },
};

struct ep_natlog_pg {
    PGconn *conn;
    char name[128];      /* the URI without password or parameters, for messages */
    char token[33];      /* this handle's receipt key */
    int64_t seq;         /* receipts written (commits tried) */
    bool doubt;          /* the last COMMIT lost its connection: seq may be stored */
    bool receipt;        /* a receipt row of ours exists (delete it at close) */
    bool prepared;       /* statements prepared on the current connection */
    bool sync_off;       /* synchronous_commit=off (sync_normal) */
};

static struct ep_natlog_pg *ep_pg(const ep_natlog *log)
{
    return log->bs;
}

/* The URI as shown in messages: no password, no parameters. */
static void ep_pg_redact(const char *uri, char *out, size_t len)
{
    const char *rest = strstr(uri, "://");
    const char *at, *q;
    size_t n;
    rest = rest ? rest + 3 : uri;
    q = strchr(rest, '?');
    at = strchr(rest, '@');
    if (at && (!q || at < q)) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon) {
            snprintf(out, len, "%.*s***%.*s", (int)(colon + 1 - uri), uri,
                     (int)((q ? q : at + strlen(at)) - at), at);
            return;
        }
    }
    n = q ? (size_t)(q - uri) : strlen(uri);
    snprintf(out, len, "%.*s", (int)n, uri);
}

/* The first line of libpq's or the server's message. */
static const char *ep_pg_firstline(const char *m, char *buf, size_t len)
{
    size_t n = strcspn(m ? m : "", "\n");
    snprintf(buf, len, "%.*s", (int)n, m ? m : "");
    return buf;
}

static bool ep_pg_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_SINGLE_TUPLE;
}

static bool ep_pg_damage_state(const char *state)
{
    /* XX001 data_corrupted, XX002 index_corrupted */
    return state && (strcmp(state, "XX001") == 0 || strcmp(state, "XX002") == 0);
}

/* A failed statement or COMMIT: say why, roll back what is left of the
 * transaction (natlog.c keeps the pending events), -EIO or -EBADMSG. */
static int ep_pg_failed(ep_natlog *log, const PGresult *res, const char *what)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                          : PQerrorMessage(pg->conn);
    char line[120];
    bool lost = PQstatus(pg->conn) != CONNECTION_OK;
    ep_natlog_say(log, 0, "%s failed: %s (%s)", what,
                  lost ? "lost the connection to the PostgreSQL server"
                  : state && strcmp(state, "53100") == 0 ? "disk full"
                  : ep_pg_damage_state(state) ? "the database is damaged"
                  : "PostgreSQL refused it",
                  ep_pg_firstline(msg, line, sizeof line));
    if (!lost && PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
        PQclear(PQexec(pg->conn, "ROLLBACK"));
    log->in_txn = false;
    return ep_pg_damage_state(state) ? EP_EBADMSG : EP_EIO;
}

static int ep_pg_prepare(struct ep_natlog_pg *pg)
{
    for (int i = 0; i < PS__COUNT; i++) {
        char name[8];
        PGresult *res;
        snprintf(name, sizeof name, "ep%d", i);
        res = PQprepare(pg->conn, name, ep_pg_stmt[i].sql, ep_pg_stmt[i].nparams,
                        ep_pg_stmt[i].types);
        if (!ep_pg_ok(res)) {
            PQclear(res);
            return EP_EIO;
        }
        PQclear(res);
    }
    pg->prepared = true;
    return 0;
}

/* Session settings every connection (and reconnection) gets. */
static int ep_pg_session(ep_natlog *log)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    char sql[160];
    PGresult *res;
    int rc;
    snprintf(sql, sizeof sql, "SET synchronous_commit = %s; SET default_transaction_read_only = %s",
             pg->sync_off ? "off" : "on", log->read_only ? "on" : "off");
    res = PQexec(pg->conn, sql);
    rc = ep_pg_ok(res) ? 0 : EP_EIO;
    PQclear(res);
    pg->prepared = false;
    return rc == 0 ? ep_pg_prepare(pg) : rc;
}

/* Reconnect if the connection broke (a server restart).  Never inside a
 * transaction of ours: that one is gone with the connection anyway. */
static int ep_pg_alive(ep_natlog *log)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    char line[120];
    if (PQstatus(pg->conn) == CONNECTION_OK)
        return 0;
    PQreset(pg->conn);
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return ep_natlog_say(log, EP_EIO, "cannot reach the PostgreSQL server of %s: %s",
                             pg->name, ep_pg_firstline(PQerrorMessage(pg->conn), line,
                                                       sizeof line));
    if (ep_pg_session(log) != 0)
        return ep_natlog_say(log, EP_EIO, "%s: cannot set up the session again: %s", pg->name,
                             ep_pg_firstline(PQerrorMessage(pg->conn), line, sizeof line));
    return 0;
}

/* Binary parameters. */
struct ep_pg_params {
    int n;
    const char *v[8];
    int len[8], fmt[8];
    unsigned char buf[8][8];
};

static void ep_pg_int(struct ep_pg_params *p, int64_t v, int bytes)
{
    int i = p->n++;
    for (int b = 0; b < bytes; b++)
        p->buf[i][b] = (unsigned char)((uint64_t)v >> (8 * (bytes - 1 - b)));
    p->v[i] = (const char *)p->buf[i];
    p->len[i] = bytes;
    p->fmt[i] = 1;
}

static void ep_pg_addr(struct ep_pg_params *p, const ep_addr *a)
{
    int i = p->n++;
    p->v[i] = (const char *)a->u.bytes;
    p->len[i] = a->family == AF_INET ? 4 : 16;
    p->fmt[i] = 1;
}

static void ep_pg_null(struct ep_pg_params *p)
{
    int i = p->n++;
    p->v[i] = NULL;
    p->len[i] = 0;
    p->fmt[i] = 1;
}

static PGresult *ep_pg_run(struct ep_natlog_pg *pg, int st, const struct ep_pg_params *p)
{
    char name[8];
    snprintf(name, sizeof name, "ep%d", st);
    return PQexecPrepared(pg->conn, name, p->n, p->v, p->len, p->fmt, 1);
}

static int64_t ep_pg_be(const char *v, int bytes)
{
    uint64_t x = 0;
    for (int b = 0; b < bytes; b++)
        x = x << 8 | (unsigned char)v[b];
    if (bytes == 2)
        return (int16_t)x;
    if (bytes == 4)
        return (int32_t)x;
    return (int64_t)x;
}

/* Row `row` of a binary result with columns EP_PG_COLS, id: NULL if sound,
 * else what is wrong. */
static const char *ep_pg_row(const PGresult *res, int row, ep_natlog_record *r, int64_t *id)
{
    static const int width[] = { -1, -1, 2, 4, 4, 8, 8, 8, 8 };
    const char *bad;
    memset(r, 0, sizeof *r);
    *id = -1;
    if (PQnfields(res) != 9)
        return "the table does not have the expected columns";
    for (int c = 0; c < 9; c++) {
        if (PQgetisnull(res, row, c)) {
            if (c != 6)
                return "a field that cannot be empty is NULL";
            continue;
        }
        if (width[c] > 0 && PQgetlength(res, row, c) != width[c])
            return "a number field has the wrong width";
    }
    *id = ep_pg_be(PQgetvalue(res, row, 8), 8);
    for (int c = 0; c < 2; c++) {
        int n = PQgetlength(res, row, c);
        if ((n != 4 && n != 16) ||
            ep_addr_from_bytes(n == 4 ? AF_INET : AF_INET6, PQgetvalue(res, row, c),
                               c == 0 ? &r->subscriber : &r->ext) != 0)
            return c == 0 ? "the subscriber is not a 4- or 16-byte address"
                          : "the external address is not a 4- or 16-byte address";
    }
    {
        int64_t proto = ep_pg_be(PQgetvalue(res, row, 2), 2);
        int64_t lo = ep_pg_be(PQgetvalue(res, row, 3), 4), hi = ep_pg_be(PQgetvalue(res, row, 4), 4);
        if (proto < 0 || proto > 255 || lo < 0 || lo > 65535 || hi < 0 || hi > 65535)
            return "the protocol or a port is out of range";
        r->proto = (uint8_t)proto;
        r->port_lo = (uint16_t)lo;
        r->port_hi = (uint16_t)hi;
    }
    r->start = ep_pg_be(PQgetvalue(res, row, 5), 8);
    if (PQgetisnull(res, row, 6)) {
        r->end = EP_NATLOG_OPEN_END;
    } else {
        r->end = ep_pg_be(PQgetvalue(res, row, 6), 8);
        if (r->end == EP_NATLOG_OPEN_END)
            return "a closed block has the open end";
    }
    if ((bad = ep_natlog_record_invalid(r)) != NULL)
        return bad;
    if ((uint64_t)ep_pg_be(PQgetvalue(res, row, 7), 8) != ep_natlog_record_sum(r))
        return "checksum mismatch";
    return NULL;
}

/* ---- open --------------------------------------------------------------- */

/* The server's notices ("terminating connection due to ...") are not
 * printed: library code does not write to stderr. */
static void ep_pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void ep_pg_close(ep_natlog *log)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    if (!pg)
        return;
    if (pg->conn && pg->receipt && !pg->doubt && PQstatus(pg->conn) == CONNECTION_OK) {
        const char *v[1] = { pg->token };
        PQclear(PQexecParams(pg->conn, "DELETE FROM ephport_writers WHERE token = $1", 1, NULL,
                             v, NULL, NULL, 0));
    }
    PQfinish(pg->conn);
    free(pg);
    log->bs = NULL;
}

/* One text value of a query without parameters, malloc'ed; NULL on error
 * or NULL value. */
static char *ep_pg_text(PGconn *conn, const char *sql, const char *param)
{
    const char *v[1] = { param };
    PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL, param ? v : NULL, NULL, NULL, 0);
    char *out = NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        out = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return out;
}

/* Is the schema exactly the one ep_pg_schema makes?  The same statements
 * run in this session's temporary schema, inside a transaction rolled
 * back, are the reference.  0, -EBADMSG, -EIO. */
static int ep_pg_schema_same(PGconn *conn)
{
    char *have = NULL, *want = NULL, *ns = NULL;
    PGresult *res;
    int rc = EP_EIO;
    ns = ep_pg_text(conn, "SELECT relnamespace::text FROM pg_class WHERE oid = to_regclass('blocks')",
                    NULL);
    if (!ns)
        return EP_EIO;
    have = ep_pg_text(conn, ep_pg_describe, ns);
    res = PQexec(conn, "BEGIN READ WRITE; SELECT set_config('search_path', 'pg_temp, ' || "
                       "current_setting('search_path'), true)");
    if (ep_pg_ok(res)) {
        PQclear(res);
        /* the extension exists already; the temporary tables take its
         * operator classes from the search path */
        res = PQexec(conn, strchr(ep_pg_schema, ';') + 1);
        if (ep_pg_ok(res)) {
            char *tns = ep_pg_text(conn, "SELECT pg_my_temp_schema()::text", NULL);
            if (tns)
                want = ep_pg_text(conn, ep_pg_describe, tns);
            free(tns);
        }
    }
    PQclear(res);
    PQclear(PQexec(conn, "ROLLBACK"));
    if (have && want)
        rc = strcmp(have, want) == 0 ? 0 : EP_EBADMSG;
    free(have);
    free(want);
    free(ns);
    return rc;
}

/* Create the tables unless another process just did (an advisory lock
 * serialises routers starting at once).  0 or -EIO with err. */
static int ep_pg_init(PGconn *conn, const char *name, ep_parse_error *err)
{
    char line[100];
    char *mark;
    PGresult *res = PQexec(conn, "BEGIN; SELECT pg_advisory_xact_lock(" EP_PG_INIT_LOCK ")");
    int rc = 0;
    if (!ep_pg_ok(res))
        goto fail;
    PQclear(res);
    res = NULL;
    mark = ep_pg_text(conn, "SELECT to_regclass('ephport_meta')::text", NULL);
    if (!mark) {
        res = PQexec(conn, ep_pg_schema);
        if (!ep_pg_ok(res))
            goto fail;
        PQclear(res);
        res = PQexec(conn, "INSERT INTO ephport_meta(key, value) VALUES ('format', '" EP_PG_FORMAT
                           "')");
        if (!ep_pg_ok(res))
            goto fail;
        PQclear(res);
    }
    free(mark);
    res = PQexec(conn, "COMMIT");
    if (!ep_pg_ok(res))
        goto fail;
    PQclear(res);
    return 0;
fail:
    rc = ep_natlog_msg(err, EP_EIO, "%.100s: cannot create the log: %.100s", name,
                       ep_pg_firstline(res ? PQresultErrorMessage(res) : PQerrorMessage(conn),
                                       line, sizeof line));
    PQclear(res);
    PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
}

static const struct ep_natlog_backend ep_natlog_pg_backend;

int ep_natlog_pg_open(ep_natlog *log, const char *uri, const ep_natlog_options *o,
                      ep_parse_error *err)
{
    struct ep_natlog_pg *pg = calloc(1, sizeof *pg);
    char line[120], *fmt = NULL, *blocks = NULL, *meta = NULL;
    unsigned char rnd[16];
    int rc;
    if (!pg)
        return EP_ENOMEM;
    log->bs = pg;
    ep_pg_redact(uri, pg->name, sizeof pg->name);
    pg->sync_off = o->sync_normal;
    {
        /* the default comes first: the URI, expanded after it, overrides */
        const char *const keys[] = { "connect_timeout", "dbname", NULL };
        const char *const vals[] = { EP_PG_CONNECT_TIMEOUT, uri, NULL };
        pg->conn = PQconnectdbParams(keys, vals, 1);
    }
    if (!pg->conn) {
        ep_pg_close(log);
        return EP_ENOMEM;
    }
    PQsetNoticeProcessor(pg->conn, ep_pg_quiet, NULL);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        rc = ep_natlog_msg(err, EP_EIO, "%.100s: cannot connect: %.100s", pg->name,
                           ep_pg_firstline(PQerrorMessage(pg->conn), line, sizeof line));
        ep_pg_close(log);
        return rc;
    }
    PQclear(PQexec(pg->conn, "SET client_min_messages = warning"));
    fmt = ep_pg_text(pg->conn, "SELECT value FROM ephport_meta WHERE key = 'format'", NULL);
    blocks = ep_pg_text(pg->conn, "SELECT to_regclass('blocks')::text", NULL);
    meta = ep_pg_text(pg->conn, "SELECT to_regclass('ephport_meta')::text", NULL);
    if (!fmt && !blocks && !meta && o->create && !o->read_only) {
        if ((rc = ep_pg_init(pg->conn, pg->name, err)) != 0) {
            free(blocks);
            ep_pg_close(log);
            return rc;
        }
        fmt = ep_pg_text(pg->conn, "SELECT value FROM ephport_meta WHERE key = 'format'", NULL);
        meta = ep_pg_text(pg->conn, "SELECT to_regclass('ephport_meta')::text", NULL);
    }
    rc = 0;
    if (!fmt && !blocks && !meta)
        rc = ep_natlog_msg(err, EP_ENOENT, "%.120s: no ephport NAT log in this database%s",
                           pg->name, o->create ? "" : " (add, import and simulate create one)");
    else if (!fmt)
        rc = ep_natlog_msg(err, EP_EIO,
                           "%.100s: a PostgreSQL database, but not an ephport NAT log "
                           "(no '%s' format mark)", pg->name, EP_PG_FORMAT);
    else if (strcmp(fmt, EP_PG_FORMAT) != 0)
        rc = ep_natlog_msg(err, EP_EIO, "%.100s: an ephport NAT log of format '%.20s'; this "
                           "version reads '%s'", pg->name, fmt, EP_PG_FORMAT);
    else if ((rc = ep_pg_schema_same(pg->conn)) != 0)
        rc = ep_natlog_msg(err, EP_EIO,
                           "%.100s: damaged: %s; 'ephport nat log check' says more", pg->name,
                           rc == EP_EBADMSG ? "its schema is not the one this version writes"
                                            : "its schema cannot be read");
    free(fmt);
    free(blocks);
    free(meta);
    if (rc != 0) {
        ep_pg_close(log);
        return rc;
    }
    if (ep_pg_session(log) != 0) {
        rc = ep_natlog_msg(err, EP_EIO, "%.100s: not a usable ephport NAT log: %.80s", pg->name,
                           ep_pg_firstline(PQerrorMessage(pg->conn), line, sizeof line));
        ep_pg_close(log);
        return rc;
    }
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        ep_pg_close(log);
        return ep_natlog_msg(err, EP_EIO, "no random token for the commit receipts%s", "");
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(pg->token + 2 * i, 3, "%02x", rnd[i]);
    log->be = &ep_natlog_pg_backend;
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

static int ep_pg_begin(ep_natlog *log)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    PGresult *res;
    int stored = 0, rc;
    if ((rc = ep_pg_alive(log)) != 0)
        return rc;
    if (pg->doubt) {
        /* the last COMMIT lost its connection: did the server commit it? */
        struct ep_pg_params p = { 0 };
        p.v[0] = pg->token;
        p.len[0] = (int)strlen(pg->token);
        p.n = 1;
        res = ep_pg_run(pg, PS_RECEIPT, &p);
        if (!ep_pg_ok(res)) {
            rc = ep_pg_failed(log, res, "reading the commit receipt");
            PQclear(res);
            return rc;
        }
        if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 8 &&
            ep_pg_be(PQgetvalue(res, 0, 0), 8) == pg->seq)
            stored = 1;
        PQclear(res);
        pg->doubt = false;
    }
    res = PQexec(pg->conn, "BEGIN");
    if (!ep_pg_ok(res)) {
        rc = ep_pg_failed(log, res, "BEGIN");
        PQclear(res);
        return rc;
    }
    PQclear(res);
    return stored;
}

static int ep_pg_commit(ep_natlog *log)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    char sql[200];
    PGresult *res;
    int rc;
    pg->seq++;
    snprintf(sql, sizeof sql,
             "INSERT INTO ephport_writers(token, seq) VALUES ('%s', %lld) ON CONFLICT (token) "
             "DO UPDATE SET seq = EXCLUDED.seq; COMMIT",
             pg->token, (long long)pg->seq);
    res = PQexec(pg->conn, sql);
    if (!ep_pg_ok(res)) {
        /* a COMMIT that lost its connection may have been stored */
        pg->doubt = PQstatus(pg->conn) != CONNECTION_OK;
        rc = ep_pg_failed(log, res, "COMMIT");
        PQclear(res);
        return rc;
    }
    PQclear(res);
    pg->receipt = true;
    return 0;
}

static void ep_pg_rollback(ep_natlog *log)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    if (PQstatus(pg->conn) == CONNECTION_OK && PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
        PQclear(PQexec(pg->conn, "ROLLBACK"));
}

static int ep_pg_apply(ep_natlog *log, const ep_natlog_event *ev)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    const ep_natlog_record *r = &ev->rec;
    struct ep_pg_params p = { 0 };
    PGresult *res;
    int rc;

    if (ev->release) {
        ep_natlog_record held;
        const char *bad;
        int64_t id;
        ep_pg_addr(&p, &r->ext);
        ep_pg_int(&p, r->proto, 2);
        ep_pg_int(&p, r->port_lo, 4);
        res = ep_pg_run(pg, PS_FIND_OPEN, &p);
        if (!ep_pg_ok(res)) {
            rc = ep_pg_failed(log, res, "finding the open block");
            PQclear(res);
            return rc;
        }
        if (PQntuples(res) == 0) {
            PQclear(res);
            return EP_ENOENT;
        }
        /* the row is rewritten with its new checksum: check it first, so
         * a damaged record is never sealed as sound */
        bad = ep_pg_row(res, 0, &held, &id);
        PQclear(res);
        if (bad) {
            ep_pg_rollback(log);
            log->in_txn = false;
            return ep_natlog_say(log, EP_EBADMSG, "record %lld: %s", (long long)id, bad);
        }
        if (r->end <= held.start || r->end == EP_NATLOG_OPEN_END)
            return EP_EINVAL;
        held.end = r->end;
        p.n = 0;
        ep_pg_int(&p, id, 8);
        ep_pg_int(&p, r->end, 8);
        ep_pg_int(&p, (int64_t)ep_natlog_record_sum(&held), 8);
        res = ep_pg_run(pg, PS_RELEASE, &p);
        rc = ep_pg_ok(res) ? 0 : ep_pg_failed(log, res, "recording the release");
        PQclear(res);
        return rc;
    }

    ep_pg_addr(&p, &r->subscriber);
    ep_pg_addr(&p, &r->ext);
    ep_pg_int(&p, r->proto, 2);
    ep_pg_int(&p, r->port_lo, 4);
    ep_pg_int(&p, r->port_hi, 4);
    ep_pg_int(&p, r->start, 8);
    if (r->end == EP_NATLOG_OPEN_END)
        ep_pg_null(&p);
    else
        ep_pg_int(&p, r->end, 8);
    ep_pg_int(&p, (int64_t)ep_natlog_record_sum(r), 8);
    res = ep_pg_run(pg, PS_INSERT, &p);
    if (!ep_pg_ok(res)) {
        rc = ep_pg_failed(log, res, "storing the record");
        PQclear(res);
        return rc;
    }
    /* no row: blocks_one_holder refused it (another holder of a port of
     * the block at an overlapping time, an open one included) */
    rc = PQntuples(res) == 1 ? 0 : EP_EEXIST;
    PQclear(res);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

static int ep_pg_whois(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port, int64_t t,
                       ep_natlog_record *out)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    struct ep_pg_params p = { 0 };
    ep_natlog_record r;
    const char *bad;
    PGresult *res;
    int64_t id;
    int rc;
    if (!log->in_txn && (rc = ep_pg_alive(log)) != 0)
        return rc;
    ep_pg_addr(&p, ext);
    ep_pg_int(&p, proto, 2);
    ep_pg_int(&p, port, 4);
    ep_pg_int(&p, t, 8);
    res = ep_pg_run(pg, PS_WHOIS, &p);
    if (!ep_pg_ok(res)) {
        rc = ep_pg_failed(log, res, "whois");
        PQclear(res);
        return rc;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return EP_ENOENT;
    }
    bad = ep_pg_row(res, 0, &r, &id);
    PQclear(res);
    if (bad)
        return ep_natlog_say(log, EP_EBADMSG, "record %lld: %s", (long long)id, bad);
    if (!ep_addr_equal(&r.ext, ext) || r.proto != proto || r.port_lo > port || r.port_hi < port ||
        r.start > t || r.end <= t)
        return ep_natlog_say(log, EP_EBADMSG,
                             "record %lld: the whois index does not match the record",
                             (long long)id);
    *out = r;
    return 0;
}

static int ep_pg_prune(ep_natlog *log, int64_t before, uint64_t *removed)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    struct ep_pg_params p = { 0 };
    PGresult *res;
    int rc = 0;
    ep_pg_int(&p, before, 8);
    res = ep_pg_run(pg, PS_PRUNE, &p);
    if (!ep_pg_ok(res))
        rc = ep_pg_failed(log, res, "prune");
    else
        *removed = strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return rc;
}

/* Every record in id order, one row at a time (a log of millions never
 * sits in memory).  An early stop drains the rest of the rows, so an open
 * transaction stays usable. */
static int ep_pg_scan(ep_natlog *log, ep_natlog_row_fn fn, void *arg, uint64_t *count)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    PGresult *res;
    PGresult *failed = NULL;
    uint64_t n = 0;
    int ret = 0, rc;
    if (!log->in_txn && (rc = ep_pg_alive(log)) != 0)
        return rc;
    if (!PQsendQueryParams(pg->conn, "SELECT " EP_PG_COLS ", id FROM blocks ORDER BY id", 0, NULL,
                           NULL, NULL, NULL, 1) ||
        !PQsetSingleRowMode(pg->conn))
        return ep_pg_failed(log, NULL, "reading the records");
    while ((res = PQgetResult(pg->conn)) != NULL) {
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_SINGLE_TUPLE && ret == 0) {
            ep_natlog_record r;
            int64_t id;
            const char *why = ep_pg_row(res, 0, &r, &id);
            n++;
            ret = fn(id, &r, why, arg);
        } else if (s != PGRES_SINGLE_TUPLE && s != PGRES_TUPLES_OK && !failed) {
            failed = res;   /* reported once every result is drained */
            continue;
        }
        PQclear(res);
    }
    *count = n;
    if (failed) {
        rc = ep_pg_failed(log, failed, "reading the records");
        PQclear(failed);
        if (ret == 0)
            ret = rc;
    }
    return ret;
}

static int ep_pg_integrity(ep_natlog *log, ep_parse_error *err)
{
    struct ep_natlog_pg *pg = ep_pg(log);
    int rc;
    /* the schema check runs (and rolls back) its own transaction */
    if ((rc = ep_natlog_commit(log)) != 0 || (rc = ep_pg_alive(log)) != 0)
        return ep_natlog_msg(err, rc, "%.150s", log->errmsg);
    rc = ep_pg_schema_same(pg->conn);
    if (rc == EP_EBADMSG)
        return ep_natlog_msg(err, EP_EIO,
                             "the schema is not the one this version writes "
                             "(a table, column, constraint or index changed)%s", "");
    if (rc != 0)
        return ep_natlog_msg(err, EP_EIO, "the schema cannot be read: %.120s",
                             PQerrorMessage(pg->conn));
    return 0;
}

static const struct ep_natlog_backend ep_natlog_pg_backend = {
    .name = "PostgreSQL",
    .close = ep_pg_close,
    .begin = ep_pg_begin,
    .apply = ep_pg_apply,
    .commit = ep_pg_commit,
    .rollback = ep_pg_rollback,
    .whois = ep_pg_whois,
    .prune = ep_pg_prune,
    .scan = ep_pg_scan,
    .integrity = ep_pg_integrity,
};
