/* promfile.h - `ephport status --prometheus FILE`: the exporter's text for
 * node_exporter's textfile collector, written atomically. */
#ifndef EP_EXPORTER_PROMFILE_H
#define EP_EXPORTER_PROMFILE_H

#include <stddef.h>

#include <ephport/host.h>

/* Render snap (as /metrics would, plus ephport_last_read_timestamp_seconds)
 * and replace `path` with it atomically.  read_seconds is how long the read
 * took (< 0: unknown).  0, or a negative errno with the reason in why: -EIO
 * when the snapshot lacks the data (the old file is then left alone, so its
 * timestamp shows it is stale), or the error of the write. */
int ep_promfile_write(const ep_host_snapshot *snap, const char *path, double read_seconds,
                      char *why, size_t whylen);

#endif
