/* ephport/profile.h - the ephemeral-port defaults of common operating systems.
 *
 * Each profile documents where its numbers come from (source), so that the
 * `ephport profiles` table and the planner can cite them.
 */
#ifndef EPHPORT_PROFILE_H
#define EPHPORT_PROFILE_H

#include <ephport/api.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ep_profile {
    const char *name;           /* "linux", "windows", "macos", "freebsd", "iana" */
    const char *title;          /* "Linux (net.ipv4.ip_local_port_range)" */
    uint16_t lo, hi;            /* default ephemeral range */
    uint16_t high_lo, high_hi;  /* secondary "high" range (FreeBSD), 0 if none */
    uint32_t time_wait_ms;      /* default TIME_WAIT length, 0 if not applicable */
    const char *range_setting;  /* where the range is configured */
    const char *tw_setting;     /* where TIME_WAIT is configured */
    const char *source;         /* documentation the numbers come from */
} ep_profile;

EP_API size_t ep_profile_count(void);
EP_API const ep_profile *ep_profile_at(size_t i);           /* NULL past the end */
EP_API const ep_profile *ep_profile_find(const char *name); /* NULL if unknown */

#ifdef __cplusplus
}
#endif
#endif
