/* natlog_bulk.h - private to libephport-natlog: a bulk load as one
 * transaction (natlog.c owns the handle; natlog_import.c drives it).
 * Between begin and end no event is kept in memory and no batch commit
 * happens: end commits the whole load, or on failure rolls it back. */
#ifndef EP_NATLOG_BULK_H
#define EP_NATLOG_BULK_H

#include <ephport/natlog.h>

/* Commit what is pending, then switch to one transaction.  -EINVAL if
 * the log is read-only (err says so), the commit's error otherwise. */
int ep_natlog_bulk_begin(ep_natlog *log, uint32_t *saved_batch, ep_parse_error *err);
/* rc == 0: commit (its failure is returned, err says why); else roll back.
 * Either way the handle is back to normal batching. */
int ep_natlog_bulk_end(ep_natlog *log, uint32_t saved_batch, int rc, ep_parse_error *err);

#endif
