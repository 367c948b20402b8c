/* ephport/portset.h - port ranges and port sets in the kernel's text forms.
 *
 * Parses and prints the two sysctl syntaxes operators already know:
 *   net.ipv4.ip_local_port_range     "32768 60999" (also "32768-60999")
 *   net.ipv4.ip_local_reserved_ports "8080,9000-9100" (empty = none)
 * Errors carry the byte offset of the problem and a readable sentence.
 */
#ifndef EPHPORT_PORTSET_H
#define EPHPORT_PORTSET_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ep_parse_error {
    size_t offset;        /* byte offset in the input where parsing failed */
    char message[160];    /* e.g. "port 70000 is above 65535" */
} ep_parse_error;

/* A set of ports 0..65535 as a bitmap (8 KiB, no allocation). */
typedef struct ep_portset {
    uint64_t bits[65536 / 64];
} ep_portset;

/* "LO HI", "LO-HI" or "LO\tHI" with 1 <= LO <= HI <= 65535; surrounding white
 * space and one trailing newline are accepted.  -EINVAL with err filled
 * (err may be NULL) for anything else. */
EP_API int ep_range_parse(const char *text, uint16_t *lo, uint16_t *hi, ep_parse_error *err);

/* Comma-separated ports and LO-HI ranges, ports 1..65535, as in
 * ip_local_reserved_ports.  An empty string is the empty set.  Replaces *out. */
EP_API int ep_portset_parse(const char *text, ep_portset *out, ep_parse_error *err);

/* Canonical text ("8080,9000-9100", "" when empty).  Returns the length
 * written, or -ENOSPC if len is too small (buf then holds nothing useful). */
EP_API int ep_portset_format(const ep_portset *set, char *buf, size_t len);

EP_API void ep_portset_clear(ep_portset *set);
EP_API void ep_portset_add(ep_portset *set, uint16_t port);
EP_API void ep_portset_remove(ep_portset *set, uint16_t port);
EP_API bool ep_portset_has(const ep_portset *set, uint16_t port);
/* Number of members in [lo, hi]. */
EP_API uint32_t ep_portset_count(const ep_portset *set, uint16_t lo, uint16_t hi);

#ifdef __cplusplus
}
#endif
#endif
