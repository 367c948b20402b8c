/* natlog.c - the durable port-block log: who held which external address
 * and port block, for which protocol, from when to when.  This is the
 * generic part, the same for every storage backend (natlog_int.h): the
 * log name picks one (postgresql:// or postgres:// -> natlog_pg.c, anything
 * else a file -> natlog_sqlite.c, the embedded default).
 *
 * Durability (the contract ephport/natlog.h documents): writes go into an
 * open transaction that is committed every `batch` events and on
 * ep_natlog_commit()/ep_natlog_close().  The handle keeps the accepted
 * events of the open transaction in memory (pend).  Invariant: in_txn <=>
 * a transaction of ours is open, and then it holds every pending event;
 * !in_txn => none of them is stored.  Any failed statement or COMMIT rolls
 * the transaction back (the backend does, and clears in_txn), so storage
 * is back at the last acknowledged commit and pend names what is missing;
 * the next write or commit opens a transaction and writes pend again
 * before anything else.
 *
 * Reading: whois is the backend's (each has its own index); the walk
 * behind foreach, verify and export gets every record checked by the
 * backend (record rules and checksum, natlog_record.c) and decides here
 * what a damaged one means.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/natlog.h>

#include "natlog_bulk.h"
#include "natlog_int.h"

int ep_natlog_msg(ep_parse_error *err, int rc, const char *fmt, ...)
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

int ep_natlog_say(ep_natlog *log, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log->errmsg, sizeof log->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

bool ep_natlog_is_pg(const char *name)
{
    return strncmp(name, "postgresql://", 13) == 0 || strncmp(name, "postgres://", 11) == 0;
}

static void ep_natlog_free(ep_natlog *log)
{
    if (log->be)
        log->be->close(log);
    free(log->pend);
    free(log);
}

int ep_natlog_open(const char *path, const ep_natlog_options *opt, ep_natlog **out,
                   ep_parse_error *err)
{
    ep_natlog_options o = { 0 };
    ep_natlog *log;
    int rc;

    if (!path || !out)
        return EP_EINVAL;
    *out = NULL;
    if (opt)
        o = *opt;
    log = calloc(1, sizeof *log);
    if (!log)
        return EP_ENOMEM;
    log->batch = o.batch ? o.batch : 1000;
    log->track = true;
    log->read_only = o.read_only;
    rc = ep_natlog_is_pg(path) ? ep_natlog_pg_open(log, path, &o, err)
                               : ep_natlog_sqlite_open(log, path, &o, err);
    if (rc != 0) {
        assert(!log->be);
        ep_natlog_free(log);
        return rc;
    }
    assert(log->be);
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
    log->be->rollback(log);
    log->in_txn = false;
    log->npend = 0;
}

static bool ep_addr_ok(const ep_addr *a)
{
    return a->family == AF_INET || a->family == AF_INET6;
}

static bool ep_proto_ok(uint8_t p)
{
    return p == 6 || p == 17 || p == 1;
}

/* ---- writing ------------------------------------------------------------ */

/* Make sure a transaction is open and holds every pending event. */
static int ep_natlog_ready(ep_natlog *log)
{
    int rc;
    if (log->in_txn)
        return 0;
    assert(log->track || log->npend == 0);
    rc = log->be->begin(log);
    if (rc < 0)
        return rc;
    log->in_txn = true;
    if (rc > 0)
        log->npend = 0;   /* the commit reported failed had been stored */
    for (size_t i = 0; i < log->npend; i++) {
        rc = log->be->apply(log, &log->pend[i]);
        if (rc != 0) {
            /* a logical refusal here means another writer changed the
             * log in between: the events stay pending for the caller */
            if (rc != EP_EIO && rc != EP_EBADMSG) {
                log->be->rollback(log);
                log->in_txn = false;
                ep_natlog_say(log, 0, "writing the unacknowledged event %zu of %zu again: %s",
                              i + 1, log->npend, ep_strerror(rc));
            }
            assert(!log->in_txn);
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
    if ((rc = log->be->commit(log)) != 0) {
        assert(!log->in_txn);
        return rc;
    }
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
    ep_natlog_free(log);
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
    if ((rc = ep_natlog_ready(log)) != 0 || (rc = log->be->apply(log, ev)) != 0)
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
    if (!log || !r || log->read_only)
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
    if (!log || !ext || !ep_addr_ok(ext) || !ep_proto_ok(proto) || log->read_only)
        return EP_EINVAL;
    ev.rec.ext = *ext;
    ev.rec.proto = proto;
    ev.rec.port_lo = port_lo;
    ev.rec.end = end;
    return ep_natlog_write(log, &ev);
}

/* ---- reading ------------------------------------------------------------ */

int ep_natlog_whois(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port,
                    int64_t t, ep_natlog_record *out)
{
    if (!log || !ext || !out || !ep_addr_ok(ext))
        return EP_EINVAL;
    return log->be->whois(log, ext, proto, port, t, out);
}

int ep_natlog_prune(ep_natlog *log, int64_t before, uint64_t *removed)
{
    uint64_t n = 0;
    int rc;
    if (!log || log->read_only)
        return EP_EINVAL;
    if ((rc = ep_natlog_commit(log)) != 0 || (rc = ep_natlog_ready(log)) != 0)
        return rc;
    if ((rc = log->be->prune(log, before, &n)) != 0)
        return rc;
    if (removed)
        *removed = n;
    return ep_natlog_commit(log);
}

struct ep_natlog_walk {
    ep_natlog *log;
    int (*fn)(const ep_natlog_record *, void *);
    void *arg;
    int (*bad)(int64_t id, const char *why, void *arg);
    void *bad_arg;
    bool damaged;
};

static int ep_natlog_walk_row(int64_t id, const ep_natlog_record *r, const char *why, void *arg)
{
    struct ep_natlog_walk *w = arg;
    if (why) {
        if (!w->damaged)
            ep_natlog_say(w->log, 0, "record %lld: %s", (long long)id, why);
        w->damaged = true;
        if (!w->bad)
            return EP_EBADMSG;
        return w->bad(id, why, w->bad_arg);
    }
    return w->fn ? w->fn(r, w->arg) : 0;
}

/* Every record in the order logged; each is checked; fn gets the sound
 * ones and bad (if any) the damaged ones, else the first damaged one stops
 * the walk with -EBADMSG. */
static int ep_natlog_walk(ep_natlog *log, int (*fn)(const ep_natlog_record *, void *), void *arg,
                          int (*bad)(int64_t id, const char *why, void *arg), void *bad_arg,
                          uint64_t *count)
{
    struct ep_natlog_walk w = { log, fn, arg, bad, bad_arg, false };
    uint64_t n = 0;
    int ret = log->be->scan(log, ep_natlog_walk_row, &w, &n);
    if (count)
        *count = n;
    if (ret == 0 && w.damaged)
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
    if ((rc = log->be->integrity(log, err)) != 0)
        return rc;
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
    if (log->read_only)
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
    if (log->read_only)
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

int ep_natlog_upgrade(const char *path, uint64_t *records, ep_parse_error *err)
{
    if (!path)
        return EP_EINVAL;
    if (ep_natlog_is_pg(path))
        return ep_natlog_msg(err, EP_ENOTSUP,
                             "a PostgreSQL log has no format 1 to upgrade from: "
                             "there is nothing to upgrade%s", "");
    return ep_natlog_sqlite_upgrade(path, records, err);
}
