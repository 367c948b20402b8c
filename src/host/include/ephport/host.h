/* ephport/host.h - reading a live Linux host's ephemeral ports.
 *
 * One call, ep_host_snapshot_take(), reads a network namespace once and
 * returns an immutable snapshot:
 *
 *   - settings: ip_local_port_range, ip_local_reserved_ports, the effective
 *     port count (range minus reserved), tcp_tw_reuse, tcp_tw_reuse_delay
 *     (kernels that have it), tcp_fin_timeout, tcp_max_tw_buckets, and
 *     nf_conntrack_count / nf_conntrack_max when nf_conntrack is loaded;
 *   - sockets, read with NETLINK_SOCK_DIAG (inet_diag, TCP and UDP, IPv4 and
 *     IPv6, all states; the kernel filters on the port range with bytecode),
 *     or from /proc/net/{tcp,tcp6,udp,udp6} when netlink is unavailable or
 *     when opts->source is EP_HOST_SOURCE_PROC (the snapshot says which
 *     source each protocol used, and why it fell back);
 *   - sockets whose local port lies in the ephemeral range, grouped by
 *     destination = (protocol, local address, remote address, remote port),
 *     the unit that exhausts, sorted by pressure;
 *   - totals per protocol and state, bind-only sockets and the ports they
 *     hold, counters from /proc/net/netstat and /proc/net/sockstat{,6};
 *   - notes: "could not read X: why" for everything that could not be read,
 *     and advice: warnings computed from the live data, each with the exact
 *     remedy.
 *
 * Unknown values are never reported as zero: integer settings and counters
 * use EP_HOST_UNKNOWN (-1) and a note explains why.
 *
 * Sockets are aggregated while the netlink dump or the /proc/net files
 * stream in; memory grows with the number of distinct destinations, not
 * with the number of sockets, and no number of sockets is too many.
 *
 * The snapshot is plain data: accessors return pointers into it that stay
 * valid until ep_host_snapshot_free().  Errors are negative errno values.
 */
#ifndef EPHPORT_HOST_H
#define EPHPORT_HOST_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/addr.h>
#include <ephport/error.h>
#include <ephport/portset.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An integer the snapshot could not read (a note says why). */
#define EP_HOST_UNKNOWN (-1)

/* Linux's TIME_WAIT length (TCP_TIMEWAIT_LEN, not tunable): 60 s. */
#define EP_HOST_TIME_WAIT_SECONDS 60

/* Kernel TCP states 1..12 (TCP_ESTABLISHED .. TCP_NEW_SYN_RECV), indexed
 * directly; index 0 is unused.  UDP sockets use 1 (TCP_ESTABLISHED) when
 * connected and 7 (TCP_CLOSE) when not, as inet_diag reports them. */
#define EP_HOST_NSTATES 13
enum {
    EP_HOST_ESTABLISHED = 1, EP_HOST_SYN_SENT, EP_HOST_SYN_RECV,
    EP_HOST_FIN_WAIT1, EP_HOST_FIN_WAIT2, EP_HOST_TIME_WAIT, EP_HOST_CLOSE,
    EP_HOST_CLOSE_WAIT, EP_HOST_LAST_ACK, EP_HOST_LISTEN, EP_HOST_CLOSING,
    EP_HOST_NEW_SYN_RECV,
};

/* "ESTABLISHED", "TIME_WAIT", ... as ss(8) spells them; NULL out of range. */
EP_API const char *ep_host_state_name(int state);

/* Where the sockets came from. */
typedef enum ep_host_source {
    EP_HOST_SOURCE_AUTO = 0,   /* options: netlink, /proc if netlink fails */
    EP_HOST_SOURCE_NETLINK,    /* NETLINK_SOCK_DIAG (inet_diag) */
    EP_HOST_SOURCE_PROC,       /* /proc/net/{tcp,tcp6,udp,udp6} */
    EP_HOST_SOURCE_NONE,       /* snapshot: neither could be read */
} ep_host_source;

/* "auto", "netlink", "proc", "none"; and back (-EINVAL if unknown). */
EP_API const char *ep_host_source_name(ep_host_source s);
EP_API int ep_host_source_from_name(const char *name, ep_host_source *out);

enum {
    EP_HOST_WITH_PROCESSES = 1u << 0, /* map busiest destinations to pid/comm
                                         by scanning /proc/<pid>/fd */
    EP_HOST_NO_TCP         = 1u << 1, /* skip TCP sockets */
    EP_HOST_NO_UDP         = 1u << 2, /* skip UDP sockets */
    EP_HOST_NO_PROBE       = 1u << 3, /* do not ask the kernel which
                                         connected TCP ports are sticky: free
                                         TCP ports become lower bounds */
    EP_HOST_NO_BPF         = 1u << 4, /* ask which ports are sticky port by
                                         port (TCP_REPAIR probes), not
                                         through the BPF iterator (tests
                                         compare the two) */
    EP_HOST_NO_SOCKETS     = 1u << 5, /* create no socket in the namespace
                                         read: sticky ports from the BPF
                                         iterator only, no TCP_REPAIR probes
                                         (they hold a port for a moment);
                                         without BPF, bounds.  What
                                         --all-namespaces uses for every
                                         namespace but the caller's */
    EP_HOST_NO_BOUND_PASS  = 1u << 6, /* node only: ask every namespace's
                                         sock_diag for its bound-only TCP
                                         sockets (each dump walks the host's
                                         whole bind table) instead of one BPF
                                         pass over every open file (the
                                         benchmark compares the two) */
    EP_HOST_NO_EHASH_WALK  = 1u << 7, /* node only: let every namespace's
                                         sock_diag dump walk the host-wide
                                         TCP established hash (once per
                                         namespace) instead of one BPF walk
                                         of it for all (tests and the
                                         benchmark compare the two) */
};

typedef struct ep_host_options {
    const char *netns;       /* NULL: the caller's namespace; a name under
                                /run/netns, or a path (/proc/PID/ns/net).
                                It is read from a thread that enters it with
                                setns(2) and ends; the calling thread never
                                changes namespace */
    size_t top;              /* keep the N destinations under most pressure;
                                0 = keep all */
    unsigned flags;          /* EP_HOST_WITH_PROCESSES, EP_HOST_NO_TCP, ... */
    ep_host_source source;   /* AUTO (default), or force NETLINK / PROC */
    int family;              /* 0 = both, AF_INET or AF_INET6 */
    double warn_pct;         /* advice: a destination is a warning when its
                                used share of the effective ports reaches
                                this percent (0 = default 80) */
    double crit_pct;         /* ... critical from this percent (0 = 95) */
    uint64_t netns_inode;    /* with netns: the inode the namespace must
                                have (0: any); otherwise -ESTALE, as when a
                                /proc/PID/ns/net path's pid exited and was
                                reused in another namespace */
} ep_host_options;

/* Zero-fill opts: current namespace, every destination, AUTO, defaults. */
EP_API void ep_host_options_init(ep_host_options *opts);

typedef struct ep_host_settings {
    int64_t port_lo, port_hi;      /* ip_local_port_range, or UNKNOWN */
    const char *reserved_text;     /* ip_local_reserved_ports as the kernel
                                      prints it ("" = none); NULL = unknown */
    const ep_portset *reserved;    /* the same as a set; NULL = unknown */
    int64_t reserved_in_range;     /* reserved ports inside the range */
    int64_t effective_ports;       /* range minus reserved (UNKNOWN if the
                                      range is unknown; reserved unknown
                                      counts as none and is noted) */
    int64_t tw_reuse;              /* tcp_tw_reuse: 0 off, 1 on, 2 loopback */
    int64_t tw_reuse_delay_ms;     /* tcp_tw_reuse_delay (6.13+), or UNKNOWN */
    int64_t fin_timeout_s;         /* tcp_fin_timeout */
    int64_t max_tw_buckets;        /* tcp_max_tw_buckets */
    int64_t conntrack_count;       /* nf_conntrack_count, UNKNOWN if nf_conntrack
                                      is not loaded or unreadable */
    int64_t conntrack_max;         /* nf_conntrack_max, likewise */
    int64_t time_wait_s;           /* EP_HOST_TIME_WAIT_SECONDS */
} ep_host_settings;

typedef struct ep_host_totals {
    /* Sockets whose local port lies in the ephemeral range, by state
     * (EP_HOST_ESTABLISHED ...).  Only those are dumped: the kernel filters. */
    uint64_t tcp[EP_HOST_NSTATES];
    uint64_t udp[EP_HOST_NSTATES];
    uint64_t tcp_v4, tcp_v6, udp_v4, udp_v6;
    uint64_t tcp_all, udp_all;     /* sums of the arrays above */
    uint64_t accepted;             /* of tcp_all: accepted from a listener
                                      whose port is in the range (not grouped
                                      as destinations) */
    /* Whole namespace: /proc/net/sockstat (IPv4; TIME_WAIT of both
     * families) plus /proc/net/sockstat6 (IPv6, IPv4-mapped included);
     * UNKNOWN if unreadable. */
    int64_t sockstat_tcp_inuse, sockstat_tcp_tw, sockstat_udp_inuse;
} ep_host_totals;

/* Bind-only sockets with a local port in the range: each blocks that port
 * for every destination of its protocol. */
typedef struct ep_host_bound {
    uint64_t tcp_bound;            /* TCP, state CLOSE, bound, not connected */
    uint64_t tcp_listen;           /* TCP LISTEN */
    uint64_t udp_unconnected;      /* UDP with no remote address */
    uint32_t tcp_ports;            /* distinct ports they hold, in range and
                                      not reserved (they reduce free ports) */
    uint32_t udp_ports;
    const ep_portset *tcp_set;     /* those ports (bound + listen) */
    const ep_portset *udp_set;
    const ep_portset *listen_set;  /* TCP listening ports in range, reserved
                                      or not (advice: reserve them) */
    /* Sticky TCP ports: Linux's connect() skips a port held by any
     * explicitly bound socket, for every destination.  LISTEN and bound-only
     * sockets are seen as such; whether a connected socket (or a TIME_WAIT)
     * was bound explicitly is not in sock_diag, so the kernel is asked port
     * through a BPF iterator that reads the sockets' autobind marks (Linux
     * 6.18), or failing that port by port (TCP_REPAIR connect through
     * IP_LOCAL_PORT_RANGE [p, p], which sends nothing; needs CAP_NET_ADMIN
     * and Linux 6.3). */
    int64_t udp_free;              /* ports the next unbound UDP socket's
                                      connect() can get (effective ports no UDP
                                      socket holds; exact for IPv6, a lower
                                      bound for IPv4); at 0 connect() fails with
                                      EAGAIN.  UNKNOWN if UDP or the range is */
    bool sticky_known;             /* every port that changes a free count was
                                      asked: free is exact */
    int64_t sticky_ports;          /* sticky effective ports found (lower
                                      bound when !sticky_known) */
    int64_t sticky_unknown;        /* ports whose stickiness is unknown */
    uint32_t sticky_probes;        /* ports asked of the kernel one by one */
    const char *sticky_why;        /* !sticky_known: why not; else NULL */
    const char *sticky_method;     /* how the kernel answered: "bpf" (one
                                      BPF iterator walk read which sockets
                                      connect() autobound: Linux 6.18, CAP_BPF
                                      + CAP_PERFMON), "probe" (port by port,
                                      see above), or NULL: not asked (no port
                                      to ask about, EP_HOST_NO_PROBE, or
                                      neither way worked: see sticky_why) */
} ep_host_bound;

/* A process holding sockets of a destination (EP_HOST_WITH_PROCESSES). */
typedef struct ep_host_proc {
    int pid;
    char comm[16];
    uint32_t sockets;              /* matched sockets (from a sample of at
                                      most EP_HOST_PROC_SAMPLE per dest) */
} ep_host_proc;
#define EP_HOST_PROC_SAMPLE 64

/* One destination: the unit that exhausts. */
typedef struct ep_host_dest {
    uint8_t proto;                 /* EP_PROTO_TCP (6) or EP_PROTO_UDP (17) */
    ep_addr local;
    ep_addr remote;
    uint16_t remote_port;
    uint32_t used;                 /* sockets in any state (port in range) */
    uint32_t states[EP_HOST_NSTATES];
    uint32_t time_wait;            /* = states[EP_HOST_TIME_WAIT] */
    uint32_t established;          /* = states[EP_HOST_ESTABLISHED] */
    uint32_t other;                /* used - time_wait - established */
    int64_t free;                  /* the connect()s towards it that would
                                      succeed now.  TCP: effective ports that
                                      are neither sticky (held by an explicitly
                                      bound socket: bound, listening, connected
                                      after bind(), or its TIME_WAIT) nor
                                      blocked by its own sockets (a TIME_WAIT
                                      that tcp_tw_reuse lets a connect() take
                                      over does not block).  UDP: effective
                                      ports with no UDP socket (UDP does not
                                      share ports across destinations).  A
                                      lower bound when bound->sticky_known is
                                      false (ports of unknown stickiness count
                                      as sticky).  Never negative; UNKNOWN if
                                      the range is */
    int64_t free_max;              /* the upper bound (= free when exact) */
    double headroom_pct;           /* free / effective * 100; < 0 if unknown */
    double pressure;               /* 1 - free / effective, in [0, 1] */
    size_t nprocs;                 /* EP_HOST_WITH_PROCESSES only */
    const ep_host_proc *procs;     /* busiest first */
} ep_host_dest;

typedef struct ep_host_counter {
    const char *name;              /* "TcpExt.TCPTimeWaitOverflow", ... */
    int64_t value;                 /* UNKNOWN if the file or field is missing */
} ep_host_counter;

typedef enum ep_host_severity {
    EP_HOST_INFO = 0,
    EP_HOST_WARNING = 1,
    EP_HOST_CRITICAL = 2,
} ep_host_severity;

/* "info", "warning", "critical". */
EP_API const char *ep_host_severity_name(ep_host_severity s);

/* A warning with concrete advice, computed from the snapshot. */
typedef struct ep_host_advice {
    ep_host_severity severity;
    const char *code;              /* stable id: "dest-pressure",
                                      "tw-overflow", "bind-only",
                                      "listener-in-range", "nodeport-overlap",
                                      "narrow-range", "conntrack-full", ... */
    const ep_host_dest *dest;      /* the destination concerned, or NULL */
    double headroom_pct;           /* the destination's, or < 0 */
    double sustainable_rate;       /* new connections per second towards one
                                      destination at the current settings:
                                      effective ports / TIME_WAIT length
                                      (about 470/s with Linux defaults);
                                      < 0 if unknown */
    const char *message;           /* one sentence: what is wrong */
    const char *remedy;            /* the exact change: sysctl lines, socket
                                      options, what to reserve */
} ep_host_advice;

typedef struct ep_host_snapshot ep_host_snapshot;

/* Read the host.  Fails only when nothing useful can be read:
 * -ENOENT / -EPERM / -EINVAL for a --netns that cannot be opened or entered
 * (setns needs CAP_SYS_ADMIN), -ENOMEM.  Partial failures (a sysctl, a
 * module, netlink) become notes in a successful snapshot. */
EP_API int ep_host_snapshot_take(const ep_host_options *opts, ep_host_snapshot **out);
EP_API void ep_host_snapshot_free(ep_host_snapshot *snap);

/* Words for an error of ep_host_snapshot_take() ("no such network
 * namespace (a NAME is looked up in /run/netns)"); never NULL. */
EP_API const char *ep_host_strerror(int err);

EP_API const ep_host_settings *ep_host_snapshot_settings(const ep_host_snapshot *snap);
EP_API const ep_host_totals *ep_host_snapshot_totals(const ep_host_snapshot *snap);
EP_API const ep_host_bound *ep_host_snapshot_bound(const ep_host_snapshot *snap);

/* Which source gave the sockets of a protocol (EP_PROTO_TCP / _UDP). */
EP_API ep_host_source ep_host_snapshot_source(const ep_host_snapshot *snap, int proto);

/* Destinations under most pressure first (ties: more used first), at most
 * opts->top of them; *total (may be NULL) gets the number seen before the
 * cut.  Returns the array (NULL when n is 0). */
EP_API const ep_host_dest *ep_host_snapshot_dests(const ep_host_snapshot *snap, size_t *n,
                                           size_t *total);

EP_API const ep_host_counter *ep_host_snapshot_counters(const ep_host_snapshot *snap, size_t *n);

/* "could not read /proc/sys/net/netfilter/nf_conntrack_count: nf_conntrack
 * is not loaded" and the like, in the order they happened. */
EP_API const char *const *ep_host_snapshot_notes(const ep_host_snapshot *snap, size_t *n);

/* Advice, most severe first. */
EP_API const ep_host_advice *ep_host_snapshot_advice(const ep_host_snapshot *snap, size_t *n);

/* The namespace that was read: opts->netns or NULL for the caller's. */
EP_API const char *ep_host_snapshot_netns(const ep_host_snapshot *snap);

#ifdef __cplusplus
}
#endif
#endif
