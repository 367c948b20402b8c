/* host-internal.h - what the files of src/host share: the snapshot's
 * private layout, one socket as every reader reports it, the aggregator that
 * groups sockets into destinations while a dump streams in, and the text
 * parsers (each also a fuzz target).  Not installed. */
#ifndef EP_HOST_INTERNAL_H
#define EP_HOST_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/host.h>

/* One socket, as sock_diag or /proc/net reports it. */
typedef struct ep_host_sock {
    uint8_t proto;        /* 6 or 17 */
    uint8_t state;        /* kernel TCP state number */
    uint16_t local_port, remote_port;
    ep_addr local, remote;/* v4-mapped IPv6 already folded to IPv4 */
    uint32_t inode;       /* 0 for TIME_WAIT and request sockets */
    int32_t tw_age_ms;    /* TIME_WAIT: ms since it began (from its timer),
                             -1 when unknown or not TIME_WAIT */
} ep_host_sock;

/* A destination while aggregating. */
typedef struct ep_host_entry {
    ep_host_dest d;
    uint32_t used_effective;      /* of used: ports not reserved */
    uint32_t id;                  /* order of creation (TCP: ep_host_block) */
    uint32_t blocking;            /* TCP: its sockets on effective ports that
                                     keep the port from a new connect() to it
                                     (all but reusable TIME_WAIT entries) */
    uint32_t nsample;
    uint32_t *sample;             /* socket inodes (WITH_PROCESSES only) */
    ep_host_proc *procs;
} ep_host_entry;

/* A TCP socket of a destination that blocks its port for that destination. */
typedef struct ep_host_block {
    uint32_t id;                  /* ep_host_entry.id */
    uint16_t port;
} ep_host_block;

/* Which ports are sticky (held by an explicitly bound TCP socket, which
 * makes connect() skip the port for every destination), as ep_host_sticky
 * found out. */
typedef struct ep_host_sticky {
    bool known;                   /* exact: every port that matters was asked */
    ep_portset sure;              /* sticky for certain (LISTEN, bound-only, or
                                     the kernel said so) */
    ep_portset unsure;            /* unknown: sticky or not (lower bound counts
                                     them, upper bound does not) */
    uint32_t probes;              /* ports asked of the kernel */
    const char *method;           /* "bpf", "probe", or NULL: not asked */
    char why[512];                /* when !known: why not */
} ep_host_sticky;

/* The aggregator: an open-addressing table of destinations plus totals. */
typedef struct ep_host_agg {
    uint16_t lo, hi;              /* the range; sockets outside are ignored */
    const ep_portset *reserved;   /* may be NULL */
    bool keep_samples;
    bool listen_pass;             /* true: only record TCP LISTEN ports */
    int family;                   /* 0 or AF_INET / AF_INET6 filter */
    ep_host_entry *slots;
    size_t nslots, nused;
    ep_host_totals totals;
    ep_host_bound bound;
    ep_portset tcp_set, udp_set, listen_set, udp_used;
    /* TCP, for the exact free count (ep_host_agg_finish): */
    int tw_reuse;                 /* tcp_tw_reuse, or -1 unknown (no reuse assumed) */
    int64_t tw_reuse_delay_ms;    /* tcp_tw_reuse_delay */
    ep_portset tcp_conn;          /* effective ports with a TCP socket that is
                                     not LISTEN or bound-only: explicitly bound
                                     or not, sock_diag does not say */
    ep_host_block *blocks;        /* (destination, port) of blocking sockets */
    size_t nblocks, cap_blocks;
    uint32_t *port_blockers;      /* [65536] destinations blocking each port */
    uint32_t next_id;
    const struct ep_host_ehash_part *walked; /* TCP: the established hash came
                                     from node.c's walk (this part; NULL: from
                                     the dump) */
    bool walk_used;
    int error;                    /* first -ENOMEM etc. */
} ep_host_agg;

int ep_host_agg_init(ep_host_agg *agg, uint16_t lo, uint16_t hi, const ep_portset *reserved,
                     bool keep_samples, int family);
void ep_host_agg_add(ep_host_agg *agg, const ep_host_sock *s);
/* The effective ports whose stickiness changes some TCP destination's free
 * count: ports in tcp_conn, not already sticky (tcp_set), not blocked by
 * every destination. */
void ep_host_agg_sticky_candidates(const ep_host_agg *agg, ep_portset *out);
/* Move the destinations out as a sorted array (pressure first) with free /
 * headroom computed against `effective` and, for TCP, the sticky ports
 * (NULL: none besides LISTEN and bound-only); agg keeps the totals. */
int ep_host_agg_finish(ep_host_agg *agg, int64_t effective, const ep_host_sticky *sticky,
                       ep_host_entry **out, size_t *n);

/* --- sticky.c --- */
/* Ask the kernel, port by port, whether a connect() autobind may take each
 * port of `ports` (a TCP_REPAIR socket connects through exactly that port
 * with IP_LOCAL_PORT_RANGE [p, p] and sends nothing): those it refuses are
 * sticky.  Runs in the current network namespace.  Fills st (sure: the
 * refused ones; unsure and !known with the reason when the kernel cannot
 * be asked: no CAP_NET_ADMIN, a kernel before 6.3, no loopback). */
void ep_host_sticky_probe(const ep_portset *ports, uint16_t lo, uint16_t hi, ep_host_sticky *st);

/* --- sticky-bpf.c --- */
/* Every port in [lo, hi] (lo >= 1) held by a TCP socket of the current
 * network namespace that did not get it from connect()'s autobind
 * (listening, accepted, bound explicitly then connected, or their
 * TIME_WAIT; bound-only sockets are not seen), read in one walk by a BPF
 * iterator.  0 and *ports filled, or -errno with why filled and *ports
 * empty: -EPERM (no CAP_BPF + CAP_PERFMON or CAP_SYS_ADMIN), -ENOTSUP (no
 * kernel BTF, a kernel before 6.18 that does not mark autobound sockets, or
 * a build without BPF), or what the kernel said.  Prints nothing. */
int ep_host_sticky_bpf(uint16_t lo, uint16_t hi, ep_portset *ports, char *why, size_t len);
void ep_host_agg_free(ep_host_agg *agg);
void ep_host_entries_free(ep_host_entry *e, size_t n);

/* --- the snapshot --- */
struct ep_host_snapshot {
    char *netns;
    ep_host_settings settings;
    char *reserved_text;
    ep_portset reserved;
    bool reserved_known;
    ep_host_totals totals;
    ep_host_bound bound;
    ep_portset tcp_set, udp_set, listen_set;
    ep_host_source source_tcp, source_udp;
    ep_host_entry *entries;
    ep_host_dest *dests;          /* copies of entries[i].d, after the cut */
    size_t ndests, total_dests;
    ep_host_counter counters[16];
    size_t ncounters;
    char **notes;
    size_t nnotes, cap_notes;
    ep_host_advice *advice;
    size_t nadvice, cap_advice;
    char **strings;               /* owned text of advice */
    size_t nstrings, cap_strings;
    int oom;                      /* a note or string could not be stored */
};

/* Append a note ("could not read X: why"). */
void ep_host_note(ep_host_snapshot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string owned by the snapshot; NULL (and s->oom set) on failure. */
char *ep_host_strf(ep_host_snapshot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *ep_host_vstrf(ep_host_snapshot *s, const char *fmt, va_list ap);

/* --- conntrack.c --- */
/* /proc/sys/net/netfilter/NAME as a non-negative integer into *out; path
 * (len bytes) gets the file's name for messages.  0 or -errno (-EINVAL:
 * not a non-negative integer; -ENOENT: nf_conntrack not loaded). */
int ep_host_netfilter_sysctl(const char *name, int64_t *out, char *path, size_t len);

/* --- files (sysctl.c) --- */
/* Read a whole small file into a malloc'd NUL-terminated buffer.  0 or -errno. */
int ep_host_read_file(const char *path, char **out, size_t *len);
/* A decimal integer with optional sign and surrounding white space (one
 * sysctl value).  -EINVAL for anything else, -ERANGE on overflow. */
int ep_host_parse_i64(const char *text, int64_t *out);
/* Read the namespace's settings into s (notes for what is missing). */
void ep_host_read_settings(ep_host_snapshot *s);
/* The words for a read failure: "permission denied", "not present on this
 * kernel", ... */
const char *ep_host_errno_words(int err);

/* --- conntrack.c --- */
void ep_host_read_conntrack(ep_host_snapshot *s);

/* --- netstat.c --- */
/* In /proc/net/netstat or /proc/net/snmp text ("Prefix: names" then
 * "Prefix: values"), the value of prefix.field.  0, -ENOENT, -EINVAL. */
int ep_host_netstat_lookup(const char *text, const char *prefix, const char *field, int64_t *out);
/* In /proc/net/sockstat text ("TCP: inuse 1 orphan 0 tw 2 ..."). */
int ep_host_sockstat_lookup(const char *text, const char *prefix, const char *field, int64_t *out);
void ep_host_read_counters(ep_host_snapshot *s);

/* --- bound-bpf.c --- */
/* A bound-but-inactive TCP socket (TCP_CLOSE with a local port) as the
 * pass found it: the fields inet_diag reports for it, in its byte orders
 * (addresses and ports in network order, IPv4 in src[0..3]). */
typedef struct ep_host_bound_sock {
    uint64_t netns;               /* its network namespace's inode */
    uint64_t inode;               /* its socket inode */
    uint8_t src[16], dst[16];
    uint16_t family;              /* AF_INET, AF_INET6 */
    uint16_t sport, dport;        /* network byte order */
    uint8_t state;                /* TCP_CLOSE */
} ep_host_bound_sock;

/* Every such socket of every namespace, one record per socket, sorted by
 * (netns, inode). */
typedef struct ep_host_bound_pass {
    ep_host_bound_sock *v;
    size_t n;
} ep_host_bound_pass;

/* One walk of every open file of the host (a BPF iterator).  0 and *p
 * filled, or -errno with why filled and *p empty: -EPERM (no CAP_BPF +
 * CAP_PERFMON or CAP_SYS_ADMIN), -ENOTSUP (no kernel BTF, a build without
 * BPF), or what the kernel said.  Prints nothing. */
int ep_host_bound_pass_take(ep_host_bound_pass *p, char *why, size_t len);
void ep_host_bound_pass_free(ep_host_bound_pass *p);
/* Sort p by (netns, inode) and drop duplicates (what _take does). */
void ep_host_bound_pass_sort(ep_host_bound_pass *p);
/* The records of namespace netns (*n of them), or NULL and 0. */
const ep_host_bound_sock *ep_host_bound_pass_find(const ep_host_bound_pass *p, uint64_t netns,
                                                  size_t *n);

/* --- ehash-bpf.c --- */
/* One namespace's sockets from the walk of the host-wide TCP established
 * hash, packed in the order the walk met them (bucket order, as a dump
 * reports them): about 18 bytes an IPv4 socket, 42 an IPv6 one. */
typedef struct ep_host_ehash_part {
    unsigned char *buf;
    size_t len, cap;
    size_t n;                     /* sockets */
    bool counting;                /* the walk went over its budget: len and n
                                     are what keeping them would take, buf is
                                     empty */
} ep_host_ehash_part;

/* What one walk found, for the namespaces asked about. */
typedef struct ep_host_ehash_walk {
    uint64_t owner;               /* inode of the namespace that owns the table
                                     walked (the initial one) */
    size_t nns;
    uint64_t *netns;              /* [nns], sorted: the namespaces kept */
    ep_host_ehash_part *part;     /* [nns] */
    size_t sockets, others;       /* kept; of namespaces not asked about */
    uint32_t buckets;             /* the table's size */
    uint32_t hz;                  /* the kernel's jiffies per second */
    bool marks;                   /* the kernel marks connect()-autobound
                                     sockets (6.18): sticky is known */
    size_t budget;                /* bytes the parts may hold, 0: no limit */
    size_t bytes;                 /* what they hold (until over) */
    bool over;                    /* went over the budget: every part is
                                     counting (sizes only), nothing covered */
} ep_host_ehash_walk;

/* One socket of a part, as inet_diag reports it (ports and addresses in
 * network order, IPv4 in src[0..3]). */
typedef struct ep_host_ehash_sock {
    uint8_t family, state;
    uint16_t sport, dport;
    uint32_t inode;               /* 0 for TIME_WAIT and request sockets */
    int32_t expires_ms;           /* TIME_WAIT: ms to its timer; else -1 */
    bool sticky;                  /* not a request, and its port did not come
                                     from connect()'s autobind (walk->marks) */
    uint8_t src[16], dst[16];
} ep_host_ehash_sock;

/* Walk the host-wide TCP established hash once (a BPF iterator) and keep
 * the sockets of the namespaces netns[0..n).  0 and *w filled, or -errno
 * with why filled and *w empty: -EPERM (no CAP_BPF + CAP_PERFMON or
 * CAP_SYS_ADMIN), -ENOTSUP (no kernel BTF, a build without BPF, the
 * kernel's HZ unknown), -EAGAIN (the table changed under the walk: a chain
 * kept moving, or the walk stopped), -E2BIG (a chain of more than 128
 * sockets), -ENOMEM, or what the kernel said.  budget (bytes, 0: none):
 * when the kept sockets would pass it, the walk drops them and goes on
 * measuring each namespace's share (w->over, parts counting: their n and
 * len), so that the caller can walk again for groups of namespaces that
 * fit.  Prints nothing. */
int ep_host_ehash_walk_take(ep_host_ehash_walk *w, const uint64_t *netns, size_t n,
                            size_t budget, char *why, size_t len);
void ep_host_ehash_walk_free(ep_host_ehash_walk *w);
/* Bytes namespace netns's part takes (or would take, when the walk went
 * over its budget); 0 when not asked about or without sockets. */
size_t ep_host_ehash_walk_share(const ep_host_ehash_walk *w, uint64_t netns);
/* The budget node.c gives its first walk, in packed bytes (the parts'
 * buffers grow by doubling: up to twice that in memory;
 * EP_HOST_EHASH_BUDGET; tests lower it to make rounds), and how many walks
 * a node's reading made. */
#define EP_HOST_EHASH_BUDGET ((size_t)16 << 20)
extern size_t ep_host_ehash_budget;
struct ep_host_node;
size_t ep_host_node_walks(const struct ep_host_node *node);
/* How many namespaces of that reading took their TCP sockets from a walk. */
size_t ep_host_node_walk_reads(const struct ep_host_node *node);
/* Namespace netns's part, or NULL (not asked about, or no socket). */
const ep_host_ehash_part *ep_host_ehash_walk_find(const ep_host_ehash_walk *w, uint64_t netns);
/* The socket at *off of p into *out and *off past it: 1, or 0 at the end. */
int ep_host_ehash_part_next(const ep_host_ehash_part *p, size_t *off, ep_host_ehash_sock *out);
/* Append one socket to p (what the walk does; tests build parts too).
 * 0 or -ENOMEM. */
int ep_host_ehash_part_add(ep_host_ehash_part *p, const ep_host_ehash_sock *s);
/* Whether the namespace the calling thread is in keeps its established
 * TCP sockets in the table the walk read: the owner itself, or a namespace
 * without a table of its own (tcp_ehash_entries negative, or absent: a
 * kernel before 6.1 has one table).  netns: its inode. */
bool ep_host_ehash_walk_covers(const ep_host_ehash_walk *w, uint64_t netns);

/* What a namespace's TCP dump is given in advance by node.c's passes over
 * the whole host.  Bound-but-inactive sockets: v[0..n) (the dump leaves
 * that state out, see bound-bpf.c), unless ask_bound.  Established-hash
 * sockets: walk's share for netns, when walk is set and covers the
 * namespace (the dump then asks for LISTEN only). */
typedef struct ep_host_bound_given {
    const ep_host_bound_sock *v;
    size_t n;
    bool ask_bound;               /* the bound pass did not run: ask state 13 */
    const ep_host_ehash_walk *walk; /* NULL: no walk */
    uint64_t netns;               /* the namespace's inode (for walk) */
    bool *walk_used;              /* out, may be NULL: set when the walk's
                                     share replaced the dump's */
} ep_host_bound_given;

/* ep_host_snapshot_take, with the namespace's bound-but-inactive TCP
 * sockets given (NULL: asked of sock_diag as usual). */
int ep_host_snapshot_take_given(const ep_host_options *opts, const ep_host_bound_given *given,
                                ep_host_snapshot **out);

/* --- sockdiag.c --- */
/* Dump one protocol (both families) into agg; the kernel filters on the
 * range.  With given (TCP, not listen_only): the dump leaves out the
 * bound-but-inactive state and each family's given sockets are added after
 * its dump.  0 or -errno (netlink unusable: the caller falls back). */
int ep_host_sockdiag_dump(ep_host_agg *agg, uint8_t proto, bool listen_only,
                          const ep_host_bound_given *given);
/* Parse a buffer of netlink messages as received from a dump.  Returns 1
 * when more messages follow, 0 at NLMSG_DONE, -errno on an error message
 * or malformed input. */
int ep_host_sockdiag_parse(const void *buf, size_t len, uint8_t proto, ep_host_agg *agg);

/* --- procnet.c --- */
/* One line of /proc/net/{tcp,tcp6,udp,udp6}, NUL-terminated (a newline
 * also ends it).  0 and *out filled; 1 for the header line; -EINVAL for a
 * malformed line, with *why (may be NULL) set to a static reason. */
int ep_host_procnet_parse_line(const char *line, int family, uint8_t proto, ep_host_sock *out,
                               const char **why);

/* The longest line accepted; the kernel's are at most about 180 bytes. */
#define EP_HOST_PROCNET_LINE_MAX 1024

/* A push parser over one file's bytes, cut anywhere: each complete line is
 * parsed and folded into agg as it arrives; only a partial line is kept.
 * The first line must be the header; every other line a socket.  Errors
 * are sticky: line_no and why say where and what. */
typedef struct ep_host_procnet_reader {
    int family;                   /* AF_INET (tcp, udp) or AF_INET6 (tcp6, udp6) */
    uint8_t proto;                /* 6 or 17 */
    ep_host_agg *agg;
    uint64_t line_no;             /* lines seen (the failing one on error) */
    uint64_t sockets;             /* socket lines folded into agg */
    bool listen_only;             /* stop (done) at the first socket that is
                                     not LISTEN: the kernel lists listeners
                                     first */
    bool done;
    int error;                    /* 0, -EINVAL (malformed) or agg's -ENOMEM */
    const char *why;              /* static reason of -EINVAL */
    size_t len;                   /* bytes of the pending partial line */
    char line[EP_HOST_PROCNET_LINE_MAX + 1];
} ep_host_procnet_reader;

void ep_host_procnet_begin(ep_host_procnet_reader *r, int family, uint8_t proto, ep_host_agg *agg);
/* 0, or the reader's (sticky) error. */
int ep_host_procnet_feed(ep_host_procnet_reader *r, const char *data, size_t n);
/* End of file: -EINVAL if a line is left without its newline (truncated)
 * or the file was empty; 0 after a listen_only reader stopped (done). */
int ep_host_procnet_end(ep_host_procnet_reader *r);
/* Stream the protocol's files of this namespace (TCP: a LISTEN pass first)
 * into agg.  0, or -errno with why filled ("could not parse /proc/net/tcp
 * line 12: bad state ..."). */
int ep_host_procnet_read(ep_host_agg *agg, uint8_t proto, char *why, size_t len);

/* --- procs.c --- */
void ep_host_find_processes(ep_host_snapshot *s);

/* --- advice.c --- */
void ep_host_compute_advice(ep_host_snapshot *s, double warn_pct, double crit_pct);

/* --- nsenum.c: the node's network namespaces --- */
typedef struct ep_host_ns_entry {
    uint64_t inode;
    bool self, init;
    int pid;                /* lowest pid inside, 0 if none */
    char *name, *run_path;  /* ip-netns name and its file, or NULL */
    char *comm, *container, *container_name, *pod_uid, *pod_name;
    char *path;             /* what to enter */
    char *label;
} ep_host_ns_entry;

typedef struct ep_host_ns_list {
    ep_host_ns_entry *v;
    size_t n, cap;
    size_t unreadable_pids; /* /proc/PID/ns/net that could not be read */
} ep_host_ns_list;

/* List the namespaces (root: where the host's / is, "" or NULL for "/").
 * 0 or a negative errno. */
int ep_host_ns_list_take(ep_host_ns_list *l, const char *root);
void ep_host_ns_list_free(ep_host_ns_list *l);
/* From /proc/PID/cgroup text: a container id (64 hex characters: docker,
 * containerd, CRI-O, podman) and a Kubernetes pod UID (hyphenated).  Either
 * is "" when absent.  Returns a bit mask: 1 container found, 2 pod found.
 * Pure (fuzz target host-cgroup). */
int ep_host_cgroup_ids(const char *text, size_t len, char *container, size_t clen,
                       char *pod_uid, size_t plen);

/* --- netns.c --- */
/* The file behind a --netns spec: a path as given, a name under /run/netns.
 * 0, or -EINVAL with why. */
int ep_host_netns_path(const char *spec, char *path, size_t size, char *why, size_t len);
/* fn(arg) in the network namespace spec (NULL: here, on the calling thread),
 * on a thread that enters it and ends with fn; the calling thread never
 * changes namespace.  fn's result, or a negative errno with why filled when
 * the namespace cannot be opened or entered. */
int ep_host_in_netns(const char *spec, int (*fn)(void *), void *arg, char *why, size_t len);
/* The same, and the namespace opened must have inode `inode` (0: any):
 * -ESTALE with why otherwise (the pid named in the path exited and was
 * reused, or an ip-netns file was replaced). */
int ep_host_in_netns_inode(const char *spec, uint64_t inode, int (*fn)(void *), void *arg,
                           char *why, size_t len);

#endif
