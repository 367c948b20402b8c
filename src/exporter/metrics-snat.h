/* metrics-snat.h - the Prometheus series of `exporter --snat`: the SNAT
 * units of the conntrack table (ephport/snat.h) and the conntrack
 * statistics that count refused translations (metrics-snat.c). */
#ifndef EP_EXPORTER_METRICS_SNAT_H
#define EP_EXPORTER_METRICS_SNAT_H

#include <stddef.h>

#include <ephport/snat.h>

#include "strbuf.h"

/* Append the SNAT families for s, at most top units (the least headroom
 * first, as ep_snat_units orders them; 0: all).  s NULL: the reading
 * failed: only ephport_snat_up 0. */
void ep_metrics_render_snat(const ep_snat *s, size_t top, ep_strbuf *b);

#endif
