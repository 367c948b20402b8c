/* trace-totals.h - the exporter's `--trace` counters: the tracer's
 * per-interval counts (ephport/trace.h) summed into per-destination totals
 * since the exporter started, and rendered as Prometheus counters.  Pure:
 * data in, text out (the unit test feeds hand-made intervals). */
#ifndef EP_EXPORTER_TRACE_TOTALS_H
#define EP_EXPORTER_TRACE_TOTALS_H

#include <stddef.h>
#include <stdint.h>

#include <ephport/trace.h>

#include "strbuf.h"

typedef struct ep_trace_totals ep_trace_totals;

ep_trace_totals *ep_trace_totals_new(void);
void ep_trace_totals_free(ep_trace_totals *t);

/* Add one interval.  0, or -ENOMEM (the totals are then unchanged). */
int ep_trace_totals_add(ep_trace_totals *t, const ep_trace_interval *iv);

/* The label set of the namespace with inode netns, written first in each
 * sample's braces (--all-namespaces: netns="...",namespace="...",...), or
 * NULL when that namespace is not known (then netns alone is set, the
 * others empty). */
typedef const char *(*ep_trace_totals_labels_fn)(uint32_t netns, void *arg);

/* Append ephport_connect_attempts_total and ephport_connect_failures_total
 * {reason} for at most top destinations (most attempts first) with at least
 * min_count attempts, and ephport_trace_lost_total{what} (check b->failed).
 * labels NULL: one namespace's, no namespace labels. */
void ep_trace_totals_render(const ep_trace_totals *t, size_t top, uint64_t min_count,
                            ep_trace_totals_labels_fn labels, void *arg, ep_strbuf *b);

#endif
