/* ephport/host-json.h - the JSON form of an ep_host_snapshot and of a whole
 * node, shared by `ephport status --json`, `ephport top`, `ephport advise`
 * and the exporter's tests (jansson; libephport-host).  The schema is
 * documented in doc/ephport-status.1.scd. */
#ifndef EPHPORT_HOST_JSON_H
#define EPHPORT_HOST_JSON_H

#include <ephport/api.h>

#include <jansson.h>

#include <ephport/host.h>
#include <ephport/node.h>

/* The whole snapshot as one object; NULL on allocation failure.  Unknown
 * values are JSON null (the "notes" array says why). */
EP_API json_t *ep_host_snapshot_to_json(const ep_host_snapshot *snap);

/* One destination as an object (the elements of "destinations"). */
EP_API json_t *ep_host_dest_to_json(const ep_host_dest *d);

/* Who a namespace is (the identity fields of ep_host_netns_info). */
EP_API json_t *ep_host_netns_to_json(const ep_host_netns_info *ns);

/* A whole node: {"namespaces": [identity + "readable", "why", "status": the
 * snapshot object or null], "destinations": [destination objects with
 * "netns" (inode) and "namespace" (label)], "destinations_total",
 * "unreadable"}. */
EP_API json_t *ep_host_node_to_json(const ep_host_node *node);

#endif
