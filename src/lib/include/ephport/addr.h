/* ephport/addr.h - IPv4/IPv6 addresses as plain values.
 *
 * ep_addr is a small value type (20 bytes) that can be copied, compared with
 * ep_addr_equal() and hashed.  family is AF_INET, AF_INET6, or 0 for
 * "unspecified" (let the pool choose a local address).  The all-zero address
 * of a family (0.0.0.0, ::) is that family's wildcard.
 */
#ifndef EPHPORT_ADDR_H
#define EPHPORT_ADDR_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ep_addr {
    uint8_t family;          /* AF_INET, AF_INET6 or 0 (unspecified) */
    uint8_t pad_[3];         /* always zero */
    union {
        uint8_t bytes[16];   /* IPv4 uses the first 4 bytes, rest zero */
        struct in_addr v4;
        struct in6_addr v6;
    } u;
} ep_addr;

/* Longest text ep_addr_format() writes, NUL included. */
#define EP_ADDR_STRLEN 46

/* Parse "192.0.2.1", "2001:db8::1" or "[2001:db8::1]".  -EINVAL otherwise. */
EP_API int ep_addr_parse(const char *text, ep_addr *out);

/* Write the text form; -ENOSPC if len is too small, -EINVAL for family 0. */
EP_API int ep_addr_format(const ep_addr *a, char *buf, size_t len);

/* Build from raw network-order bytes (4 for AF_INET, 16 for AF_INET6). */
EP_API int ep_addr_from_bytes(int family, const void *bytes, ep_addr *out);

EP_API bool ep_addr_equal(const ep_addr *a, const ep_addr *b);

/* true for family 0 and for the all-zero address of a family. */
EP_API bool ep_addr_is_wildcard(const ep_addr *a);

#ifdef __cplusplus
}
#endif
#endif
