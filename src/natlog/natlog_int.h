/* natlog_int.h - private to libephport-natlog: the log handle and the
 * small vtable a storage backend fills (natlog_sqlite.c, natlog_pg.c).
 *
 * natlog.c owns what every backend shares: the accepted-but-unacknowledged
 * events (pend) and the durability contract of ephport/natlog.h, the
 * record rules checked before a write, batching, the walk that checks each
 * record, CSV import/export and bulk loads.  A backend owns its SQL: it
 * opens a transaction, applies one event inside it, commits, rolls back,
 * answers whois, prunes and scans records.
 *
 * Rules a backend keeps (natlog.c relies on them):
 * - apply: a logical refusal (-EEXIST, -ENOENT, -EINVAL) changes nothing
 *   and leaves the transaction open; any other failure rolls the whole
 *   transaction back, clears log->in_txn and says why in log->errmsg
 *   (-EIO, or -EBADMSG for damage).
 * - commit: 0, or the transaction is rolled back (in_txn cleared, errmsg
 *   set) and -EIO / -EBADMSG.
 * - begin: 0 with a transaction open, or a negative errno with none open;
 *   1 (transaction open) when the backend learned that the last commit it
 *   reported failed had in fact been stored (a connection lost while the
 *   server committed): natlog.c then forgets the pending events instead of
 *   writing them twice.
 */
#ifndef EP_NATLOG_INT_H
#define EP_NATLOG_INT_H

#include <ephport/natlog.h>

/* One record read from storage, for natlog.c's checked walk: why is NULL
 * when r is sound (rules and checksum), else what is wrong.  Non-zero
 * return stops the scan and is returned by it. */
typedef int (*ep_natlog_row_fn)(int64_t id, const ep_natlog_record *r, const char *why,
                                void *arg);

struct ep_natlog_backend {
    const char *name;                            /* "SQLite", "PostgreSQL" */
    void (*close)(ep_natlog *log);               /* free the backend state */
    int (*begin)(ep_natlog *log);
    int (*apply)(ep_natlog *log, const ep_natlog_event *ev);
    int (*commit)(ep_natlog *log);
    void (*rollback)(ep_natlog *log);            /* if a transaction is open */
    int (*whois)(ep_natlog *log, const ep_addr *ext, uint8_t proto, uint16_t port, int64_t t,
                 ep_natlog_record *out);
    /* inside an open transaction; *removed gets the count */
    int (*prune)(ep_natlog *log, int64_t before, uint64_t *removed);
    /* every record in the order logged; -EIO (errmsg) if the scan broke */
    int (*scan)(ep_natlog *log, ep_natlog_row_fn fn, void *arg, uint64_t *count);
    /* the storage-level part of ep_natlog_check (0, -EIO, -EBADMSG) */
    int (*integrity)(ep_natlog *log, ep_parse_error *err);
};

struct ep_natlog {
    const struct ep_natlog_backend *be;
    void *bs;              /* the backend's state */
    bool read_only;
    bool in_txn;           /* a transaction of ours is open and holds every pending event */
    bool track;            /* keep pending events (off during an import) */
    uint32_t batch;
    size_t npend, cap;     /* accepted events not acknowledged */
    ep_natlog_event *pend; /* NULL while !track */
    char errmsg[160];
};

/* Fill err (messages cut to its 160 bytes), return rc. */
int ep_natlog_msg(ep_parse_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fill log->errmsg, return rc. */
int ep_natlog_say(ep_natlog *log, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The backends' open: fill log->be and log->bs, or fail with err set (the
 * handle is then freed by the caller). */
int ep_natlog_sqlite_open(ep_natlog *log, const char *path, const ep_natlog_options *o,
                          ep_parse_error *err);
int ep_natlog_sqlite_upgrade(const char *path, uint64_t *records, ep_parse_error *err);
int ep_natlog_pg_open(ep_natlog *log, const char *uri, const ep_natlog_options *o,
                      ep_parse_error *err);

/* Does the log name select the PostgreSQL backend (postgresql:// or
 * postgres://)? */
bool ep_natlog_is_pg(const char *name);

#endif
