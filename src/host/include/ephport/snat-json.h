/* ephport/snat-json.h - the JSON form of an ep_snat (jansson;
 * libephport-host), printed by `ephport snat --json` and used by the
 * exporter's tests.  The schema is documented in doc/ephport-snat.1.scd. */
#ifndef EPHPORT_SNAT_JSON_H
#define EPHPORT_SNAT_JSON_H

#include <ephport/api.h>

#include <jansson.h>

#include <ephport/snat.h>

#ifdef __cplusplus
extern "C" {
#endif

/* {"netns", "source", "conntrack": {"count", "max"}, "flows",
 *  "statistics": {"cpus", "insert_failed", "drop", "early_drop",
 *  "search_restart", ...}, "rules_known", "rules": [...],
 *  "units": [...], "units_total", "notes": [...], "advice": [...]};
 * unknown values are null.  NULL on allocation failure. */
EP_API json_t *ep_snat_to_json(const ep_snat *s);

/* One unit (the elements of "units"). */
EP_API json_t *ep_snat_unit_to_json(const ep_snat_unit *u);

#ifdef __cplusplus
}
#endif

#endif
