/* ephport/snat.h - source NAT port exhaustion, read from connection tracking.
 *
 * A Linux NAT box (nftables `masquerade` / `snat`, iptables MASQUERADE /
 * SNAT, a Kubernetes node) gives each new flow a translated source
 * (address, port) such that the flow's reply tuple is unique: nf_nat
 * (nf_nat_used_tuple) rejects a port when a conntrack entry already has the
 * reply tuple (destination address:port -> translated address:port, same
 * protocol and zone).  So ports run out per UNIT = (translated source
 * address, protocol, destination address, destination port, zone), not per
 * host: 10 ports in the rule's range mean 10 concurrent flows towards one
 * server port per SNAT address, however many other destinations there are.
 *
 * ep_snat_take() reads one namespace's conntrack table through ctnetlink
 * (the kernel filters on the IPS_SRC_NAT status bit: CTA_STATUS with
 * CTA_STATUS_MASK), or /proc/net/nf_conntrack when netlink cannot be used
 * (the result says so), groups the translated flows into units, counts the
 * untranslated entries that hold a reply tuple of a unit (the NAT box's own
 * connections from its outside address take the same ports), and compares
 * each unit with the port range NAT can use there:
 *
 *   - the range of the nftables rule (`masquerade to :40000-40009`,
 *     `snat to ADDR:PORTS`, with its flags random / fully-random /
 *     persistent), read from `nft -j list ruleset` run in the namespace;
 *   - else the kernel's default: a rule without a port range keeps the
 *     flow's original source port when that tuple is free, and otherwise
 *     picks one in the original port's class: 1-511 for ports below 512,
 *     600-1023 for 512-1023, 1024-65535 for the rest (nf_nat_core.c,
 *     nf_nat_l4proto_unique_tuple).  Client ports are >= 1024, so a unit
 *     has 64512 ports.
 *
 * Also the table's count and maximum and the per-CPU statistics
 * (IPCTNL_MSG_CT_GET_STATS_CPU, or /proc/net/stat/nf_conntrack): a
 * connection that finds no free tuple is dropped when its conntrack entry
 * is confirmed, and counted in insert_failed and drop.
 *
 * Unknown values are EP_HOST_UNKNOWN (-1) with a note saying why, never 0.
 * Errors are negative errno values; the library never ends the process.
 */
#ifndef EPHPORT_SNAT_H
#define EPHPORT_SNAT_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/addr.h>
#include <ephport/host.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ep_snat_options.flags */
#define EP_SNAT_SOURCE_PROC 0x1u   /* read /proc/net/nf_conntrack, not netlink */
#define EP_SNAT_NO_NFT      0x2u   /* do not run nft(8): kernel default ranges */

typedef struct ep_snat_options {
    const char *netns;             /* NULL: the caller's namespace; else NAME
                                      (/run/netns) or PATH, as --netns */
    unsigned flags;
    const char *nft_json;          /* `nft -j list ruleset` output to use
                                      instead of running nft (NULL: run it) */
    size_t top;                    /* at most this many units (0: all) */
} ep_snat_options;

EP_API void ep_snat_options_init(ep_snat_options *o);

/* One nftables source NAT statement. */
typedef struct ep_snat_rule {
    char kind[12];                 /* "masquerade" or "snat" */
    int family;                    /* AF_INET, AF_INET6, or 0 (inet table,
                                      statement for either) */
    uint8_t proto;                 /* 6, 17, or 0: the rule does not say */
    bool has_ports;                /* false: no port range (kernel default) */
    uint16_t port_lo, port_hi;
    bool has_addr;                 /* snat: the address range it maps to */
    ep_addr addr_lo, addr_hi;
    bool addr_unknown;             /* snat to a map or expression: unknown */
    bool random, fully_random, persistent;
    char where[160];               /* "table ip nat chain postrouting handle 4" */
} ep_snat_rule;

/* One unit: the tuples of a translated source address towards one
 * destination address and port. */
typedef struct ep_snat_unit {
    ep_addr nat_addr;              /* the translated source address */
    uint8_t proto;                 /* 6, 17, 132 (SCTP), 33 (DCCP), 136 */
    ep_addr dst;
    uint16_t dst_port;
    uint16_t zone;
    uint32_t flows;                /* translated flows in the unit */
    uint32_t closing;              /* of flows: TCP entries in TIME_WAIT or
                                      CLOSE, which Linux may take over for a
                                      new SYN when few ports are left
                                      (nf_nat_used_tuple_harder) */
    uint32_t local;                /* untranslated entries with a reply tuple
                                      of this unit (the NAT box's own flows
                                      from nat_addr): they hold ports too */
    uint32_t in_range;             /* of flows + local: translated port in
                                      [port_lo, port_hi] */
    uint16_t port_lo, port_hi;     /* the range compared with */
    const char *range_from;        /* "rule" (rules[rule]), "default" (the
                                      kernel's 1024-65535), "unknown" */
    int rule;                      /* index into ep_snat_rules(), or -1 */
    bool ambiguous;                /* several rules could apply: the
                                      narrowest range is shown */
    int64_t ports;                 /* ports in the range, or UNKNOWN */
    int64_t free;                  /* ports - in_range, or UNKNOWN */
    double headroom_pct;           /* free / ports * 100; < 0 if unknown */
} ep_snat_unit;

/* Connection tracking statistics, summed over CPUs (UNKNOWN when not read). */
typedef struct ep_snat_stats {
    int ncpu;                      /* CPUs reported, or UNKNOWN */
    int64_t found, invalid, insert, insert_failed, drop, early_drop, error,
            search_restart, clash_resolve, chain_toolong;
} ep_snat_stats;

typedef struct ep_snat ep_snat;

/* Read a namespace.  Fails only when nothing can be read: -ENOENT, -EPERM,
 * -EINVAL for a --netns that cannot be entered, -ENOMEM.  A kernel without
 * conntrack, an unprivileged caller, a missing nft: notes in a successful
 * result. */
EP_API int ep_snat_take(const ep_snat_options *opts, ep_snat **out);
EP_API void ep_snat_free(ep_snat *s);

/* "netlink" or "proc": where the flows came from; NULL: not read (a note
 * says why). */
EP_API const char *ep_snat_source(const ep_snat *s);
/* The table's entries and limit (nf_conntrack_count / _max), or UNKNOWN. */
EP_API int64_t ep_snat_conntrack_count(const ep_snat *s);
EP_API int64_t ep_snat_conntrack_max(const ep_snat *s);
/* Translated flows seen (all units). */
EP_API uint64_t ep_snat_flows(const ep_snat *s);
EP_API const ep_snat_stats *ep_snat_statistics(const ep_snat *s);
/* Units, least headroom first (unknown last; ties: more used first), at
 * most opts->top; *total (may be NULL) gets the number before the cut. */
EP_API const ep_snat_unit *ep_snat_units(const ep_snat *s, size_t *n, size_t *total);
/* The nftables rules found; *known false when the ruleset was not read. */
EP_API const ep_snat_rule *ep_snat_rules(const ep_snat *s, size_t *n, bool *known);
EP_API const char *const *ep_snat_notes(const ep_snat *s, size_t *n);
/* Advice, most severe first (codes "snat-exhausted", "snat-pressure",
 * "snat-insert-failed", "snat-not-fully-random", "conntrack-full"). */
EP_API const ep_host_advice *ep_snat_advice(const ep_snat *s, size_t *n);
EP_API const char *ep_snat_netns(const ep_snat *s);

/* Parse `nft -j list ruleset` output (pure): the source NAT statements of
 * chains of every table, in order.  Returns the count (>= 0) with *out
 * malloc'ed (free() it), or -EINVAL with why filled. */
EP_API int ep_snat_parse_nft_json(const char *text, size_t len, ep_snat_rule **out,
                                  char *why, size_t whylen);

#ifdef __cplusplus
}
#endif

#endif
