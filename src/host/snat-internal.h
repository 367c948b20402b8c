/* snat-internal.h - what the files behind ephport/snat.h share: one
 * conntrack entry as ctnetlink or /proc/net/nf_conntrack reports it, the
 * parsers of the kernel's answers (each a fuzz target), and the readers.
 * Not installed. */
#ifndef EP_SNAT_INTERNAL_H
#define EP_SNAT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/snat.h>

/* Conntrack's TCP states (linux/netfilter/nf_conntrack_tcp.h) that a new
 * SYN may take over under port pressure. */
#define EP_CT_TCP_TIME_WAIT 7
#define EP_CT_TCP_CLOSE 8
/* ct->status bits (linux/netfilter/nf_conntrack_common.h). */
#define EP_IPS_SRC_NAT 0x10u

/* One conntrack entry: both tuples. */
typedef struct ep_snat_flow {
    uint8_t proto;
    uint16_t zone;
    ep_addr osrc, odst, rsrc, rdst;  /* original and reply tuples */
    uint16_t osport, odport, rsport, rdport;
    bool has_status;
    uint32_t status;
    uint8_t tcp_state;               /* 0 when not TCP or not reported */
} ep_snat_flow;

/* The source was translated: the reply goes to another address or port
 * than the original came from (with the status bit when there is one). */
bool ep_snat_flow_translated(const ep_snat_flow *f);

typedef void (*ep_snat_flow_fn)(const ep_snat_flow *f, void *arg);

/* --- snat-ct.c: ctnetlink --- */
/* Walk one received buffer of a conntrack dump: fn per IPCTNL_MSG_CT_NEW
 * message with both tuples.  Returns 1 when more is to come, 0 at
 * NLMSG_DONE, the kernel's negative errno for NLMSG_ERROR, -EBADMSG for a
 * malformed buffer.  Trusts no length. */
int ep_snat_ct_walk(const void *buf, size_t len, ep_snat_flow_fn fn, void *arg);
/* Walk one buffer of an IPCTNL_MSG_CT_GET_STATS_CPU dump, adding each
 * CPU's counters into st (fields start at 0).  Same returns. */
int ep_snat_stats_walk(const void *buf, size_t len, ep_snat_stats *st);
/* Dump the namespace's conntrack entries whose status & IPS_SRC_NAT ==
 * want (the kernel filters), fn for each.  0 or -errno. */
int ep_snat_ct_dump(uint32_t want, ep_snat_flow_fn fn, void *arg);
/* The per-CPU statistics, and the table's count and max (UNKNOWN when the
 * kernel does not say).  0 or -errno. */
int ep_snat_ct_stats(ep_snat_stats *st, int64_t *count, int64_t *max);

/* --- snat-proc.c: the /proc fallback --- */
/* One line of /proc/net/nf_conntrack.  0, or -EINVAL. */
int ep_snat_proc_line(const char *line, ep_snat_flow *f);
/* /proc/net/stat/nf_conntrack (a header line, then one line of hex fields
 * per CPU).  0, or -EINVAL. */
int ep_snat_proc_stats(const char *text, ep_snat_stats *st);

/* --- snat-nft.c --- */
/* Run `nft -j list ruleset` (in the calling thread's namespace).  0 with
 * *out malloc'ed, or -errno with why filled. */
int ep_snat_nft_run(char **out, size_t *len, char *why, size_t whylen);

#endif
