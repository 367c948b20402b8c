/* metrics.h - the Prometheus text exposition format (version 0.0.4) of a
 * host snapshot: a pure function from data to text, shared by the exporter's
 * /metrics and `ephport status --prometheus FILE`.
 *
 * The renderer reads an ep_metrics_input, a flat view of the snapshot plus
 * the exporter's own figures, so it can be tested with hand-made data. */
#ifndef EP_EXPORTER_METRICS_H
#define EP_EXPORTER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/host.h>

#include "strbuf.h"

#define EP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct ep_metrics_input {
    const ep_host_settings *settings;
    const ep_host_totals *totals;
    const ep_host_bound *bound;
    const ep_host_dest *dests;       /* most pressure first */
    size_t ndests;
    size_t dests_total;              /* destinations seen before any cut */
    const ep_host_counter *counters;
    size_t ncounters;
    const ep_host_advice *advice;
    size_t nadvice;
    ep_host_source tcp_source, udp_source;
    size_t nnotes;                   /* things the snapshot could not read */
    uint32_t min_count;              /* export destinations with used >= this */

    double scrape_seconds;           /* time to read the host; < 0: omit */
    bool exporter_stats;             /* emit the two counters below */
    uint64_t scrapes;                /* scrapes answered so far, this one included */
    uint64_t scrape_errors;          /* scrapes that failed so far */
} ep_metrics_input;

/* Fill in from a snapshot (min_count 0, no scrape figures). */
void ep_metrics_input_from_snapshot(const ep_host_snapshot *snap, ep_metrics_input *in);

/* Whether the input can be exported: 0, or -EIO with the reason in why when
 * the port range or the sockets of a protocol could not be read (exporting
 * would publish zeros that are not true). */
int ep_metrics_check(const ep_metrics_input *in, char *why, size_t whylen);

/* Append the whole exposition to b (check b->failed afterwards). */
void ep_metrics_render(const ep_metrics_input *in, ep_strbuf *b);

/* Append only the exporter's own figures of `in` (scrape time, scrape
 * counters), as ep_metrics_render ends. */
void ep_metrics_render_self(const ep_metrics_input *in, ep_strbuf *b);

/* Append a label value escaped per the format: \ -> \\, " -> \", LF -> \n. */
void ep_metrics_escape_label(ep_strbuf *b, const char *value);

#endif
