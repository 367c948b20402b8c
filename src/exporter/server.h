/* server.h - the exporter's HTTP server: /metrics from a fresh host
 * snapshot per scrape, a landing page at /, over libmicrohttpd. */
#ifndef EP_EXPORTER_SERVER_H
#define EP_EXPORTER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listen.h"

typedef struct ep_exporter_config {
    ep_listen_addr listen;
    const char *netns;           /* NULL: our own namespace */
    bool all_namespaces;         /* every namespace of the host (not with netns);
                                    top bounds the node's destinations */
    size_t top;                  /* destinations exported at most (> 0) */
    uint32_t min_count;          /* ... with at least this many sockets */
    unsigned max_connections;    /* concurrent HTTP connections (0: 256) */
    unsigned timeout_s;          /* idle/slow connection timeout (0: 10 s) */
    size_t request_memory;       /* per-connection buffer: bounds the request
                                    line and headers (0: 16 KiB) */
    bool snat;                   /* --snat: the SNAT units of the conntrack table
                                    (of netns, else our own namespace) */
    bool trace;                  /* --trace: connect attempts and failures per
                                    destination from eBPF (trace-totals.c); when
                                    BPF is unusable: said once, served without */
} ep_exporter_config;

typedef struct ep_exporter ep_exporter;

/* Take a first snapshot (a --netns that cannot be entered fails here),
 * open the socket and start serving on an internal thread.  0, or a
 * negative errno with why filled. */
int ep_exporter_start(const ep_exporter_config *cfg, ep_exporter **out, char *why,
                      size_t whylen);

/* The address actually listened on (the chosen port for PORT 0). */
const ep_listen_addr *ep_exporter_address(const ep_exporter *e);

/* One scrape, as /metrics does it (serialized with the server's): on
 * success *text (caller frees) holds the exposition; otherwise a negative
 * errno and the reason in why.  Counts in the exporter's statistics. */
int ep_exporter_scrape(ep_exporter *e, char **text, size_t *len, char *why, size_t whylen);

/* Stop serving and free everything. */
void ep_exporter_stop(ep_exporter *e);

#endif
