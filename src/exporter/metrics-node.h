/* metrics-node.h - the Prometheus exposition of a whole node: the families
 * of metrics.h once each, with every namespace's samples labelled
 * netns, namespace, container and pod (metrics-node.c). */
#ifndef EP_EXPORTER_METRICS_NODE_H
#define EP_EXPORTER_METRICS_NODE_H

#include "metrics.h"

typedef struct ep_metrics_node_ns {
    const ep_metrics_input *input;  /* NULL: the namespace could not be read */
    const char *labels;             /* from ep_metrics_node_labels */
} ep_metrics_node_ns;

typedef struct ep_metrics_node_input {
    const ep_metrics_node_ns *ns;
    size_t n;
    const ep_metrics_input *self;   /* the exporter's own figures (scrape time,
                                       counters), rendered once; may be NULL */
} ep_metrics_node_input;

/* The label set of a namespace: netns="INODE",namespace="LABEL",
 * container="ID",pod="NS/NAME" (empty values for unknown ones). */
void ep_metrics_node_labels(ep_strbuf *b, uint64_t inode, const char *label,
                            const char *container, const char *pod);

/* Append the node's exposition to b (check b->failed). */
void ep_metrics_render_node(const ep_metrics_node_input *in, ep_strbuf *b);

#endif
