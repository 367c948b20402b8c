/* listen.h - the exporter's --listen ADDR:PORT: parsing (fuzzed by
 * fuzz/fuzz-listen.c) and opening the listening socket. */
#ifndef EP_EXPORTER_LISTEN_H
#define EP_EXPORTER_LISTEN_H

#include <stddef.h>
#include <stdint.h>

#include <ephport/addr.h>

#define EP_LISTEN_DEFAULT ":9808"

typedef struct ep_listen_addr {
    ep_addr addr;      /* family 0: every address (":PORT") */
    uint16_t port;     /* 0: let the kernel choose */
} ep_listen_addr;

/* Accepts "IPV4:PORT", "[IPV6]:PORT" and ":PORT" (all addresses, IPv6 and
 * IPv4), PORT 0..65535 in decimal.  Host names are refused (the exporter
 * never resolves names).  -EINVAL with a sentence in why (may be NULL). */
int ep_listen_parse(const char *text, ep_listen_addr *out, char *why, size_t whylen);

/* "127.0.0.1:9808", "[::1]:9808", ":9808".  -ENOSPC if len is too small. */
int ep_listen_format(const ep_listen_addr *a, char *buf, size_t len);

/* Open a bound, listening, non-blocking TCP socket (SO_REUSEADDR; for ":PORT"
 * an IPv6 dual-stack socket, IPv4 only if IPv6 is unavailable).  Returns
 * the fd or a negative errno with why filled.  *bound (may be NULL) gets
 * the address actually bound (the chosen port when PORT was 0). */
int ep_listen_open(const ep_listen_addr *a, int backlog, ep_listen_addr *bound, char *why,
                   size_t whylen);

#endif
