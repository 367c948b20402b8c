/* host-json.h - the JSON form of an ep_host_snapshot, shared by
 * `ephport status --json`, `ephport top` and the exporter's tests.  It lives
 * in the CLI (not libephport) because the library does not depend on jansson.
 * The schema is documented in doc/ephport-status.1.scd. */
#ifndef EPHPORT_HOST_JSON_H
#define EPHPORT_HOST_JSON_H

#include <ephport/api.h>

#include <jansson.h>

#include <ephport/host.h>

/* The whole snapshot as one object; NULL on allocation failure.  Unknown
 * values are JSON null (the "notes" array says why). */
EP_API json_t *ep_host_snapshot_to_json(const ep_host_snapshot *snap);

/* One destination as an object (the elements of "destinations"). */
EP_API json_t *ep_host_dest_to_json(const ep_host_dest *d);

#endif
