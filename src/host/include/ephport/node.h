/* ephport/node.h - a whole node at once: every network namespace of this
 * host (containers, pods, ip-netns), each read as ep_host_snapshot_take()
 * reads one, and the destinations under most pressure across all of them.
 * libephport-host.
 *
 * Which namespaces: the distinct network namespaces of all processes
 * (/proc/PID/ns/net) and the files under /run/netns (ip-netns), deduplicated
 * by inode.  Each is named by what a user recognises: its ip-netns name,
 * else the container id and pod UID from the cgroup path of a process inside
 * it (docker, containerd, CRI-O, podman; Kubernetes pods), with the
 * container and pod names where the runtime's files on disk say them
 * (docker's config.v2.json; the kubelet's /var/log/pods and
 * /var/log/containers names), else a pid and command.  Nothing asks a daemon.
 *
 * Bound-only TCP sockets (bind() without listen() or connect()) of every
 * namespace are found in one BPF pass over every open file of the host,
 * and each namespace's sock_diag dump leaves them out (asking for them
 * walks the host's whole bind table per dump).  The pass cannot see a
 * socket that no process holds a descriptor of (in flight over a unix
 * socket, only in io_uring's fixed files).  Without BPF each dump asks for
 * them, and ep_host_node_notes() says so.
 *
 * Other namespaces are read without creating sockets in them
 * (EP_HOST_NO_SOCKETS): which connected TCP ports are sticky comes from the
 * BPF iterator, else free TCP ports are bounds, never TCP_REPAIR probes that
 * would hold a container's port for a moment.
 *
 * A namespace that vanishes between the listing and its reading (its last
 * process exited, its pid was reused elsewhere) or that cannot be entered
 * has no snapshot and a reason; it is never shown as zeros.
 */
#ifndef EPHPORT_NODE_H
#define EPHPORT_NODE_H

#include <ephport/api.h>
#include <ephport/host.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Who a namespace is.  Strings are NULL when unknown. */
typedef struct ep_host_netns_info {
    uint64_t inode;             /* the namespace's inode (nsfs): its identity */
    bool self;                  /* the caller's own namespace */
    bool init;                  /* the namespace of pid 1 ("host") */
    const char *name;           /* ip-netns name (/run/netns/NAME) */
    const char *container;      /* container id (hex, as the runtime writes it) */
    const char *container_name; /* from the runtime's files on disk */
    const char *pod_uid;        /* Kubernetes pod UID */
    const char *pod_name;       /* "NAMESPACE/NAME" from the kubelet's files */
    int pid;                    /* a process inside (the lowest pid), 0 if none */
    const char *comm;           /* its command */
    const char *path;           /* what is entered: /run/netns/NAME or /proc/PID/ns/net */
    const char *label;          /* one short name for a table column, never NULL:
                                   "host", the ip-netns name, the container name or
                                   its id's first 12 characters, the pod name,
                                   "pid 123 (comm)" */
} ep_host_netns_info;

typedef struct ep_host_node_options {
    ep_host_options host;       /* for every namespace; host.netns must be NULL,
                                   host.top bounds each namespace's destinations
                                   and the node's list */
    const char *host_root;      /* where the host's / is mounted (a node agent in a
                                   container with the host's / at /host); NULL: "/".
                                   /proc is always the caller's */
    /* Called before each namespace is read (i of n): progress, or a test's
     * hook.  May be NULL.  Namespaces are read on several threads (one per
     * CPU, at most 8), so it may be called from any of them, concurrently. */
    void (*before_read)(size_t i, size_t n, const ep_host_netns_info *ns, void *arg);
    void *arg;
} ep_host_node_options;

typedef struct ep_host_node ep_host_node;

/* One destination of the node: which namespace (an index for the accessors
 * below) and the destination as that namespace's snapshot has it. */
typedef struct ep_host_node_dest {
    size_t netns;
    const ep_host_dest *dest;
} ep_host_node_dest;

/* Defaults: every destination, auto source, this host's root. */
EP_API void ep_host_node_options_init(ep_host_node_options *opts);

/* List every network namespace and read each.  0, or -EINVAL (bad options),
 * -ENOMEM, or the error of listing /proc.  A namespace that cannot be read
 * is not an error of the call: it has no snapshot and a reason. */
EP_API int ep_host_node_take(const ep_host_node_options *opts, ep_host_node **out);
EP_API void ep_host_node_free(ep_host_node *node);

/* Namespaces in order: the caller's first, then by ip-netns name, then by pid. */
EP_API size_t ep_host_node_count(const ep_host_node *node);
EP_API const ep_host_netns_info *ep_host_node_netns(const ep_host_node *node, size_t i);
/* Namespace i's snapshot, or NULL when it could not be read; then *why (may be
 * NULL) gets the reason ("vanished during the scan: ...", "cannot enter ..."). */
EP_API const ep_host_snapshot *ep_host_node_snapshot(const ep_host_node *node, size_t i,
                                                     const char **why);
/* The destinations of every namespace read, under most pressure first (as
 * ep_host_snapshot_dests orders them), at most opts->host.top (0: all);
 * *total (may be NULL) gets the number before the cut. */
EP_API const ep_host_node_dest *ep_host_node_dests(const ep_host_node *node, size_t *n,
                                                   size_t *total);
/* How many namespaces could not be read. */
EP_API size_t ep_host_node_unreadable(const ep_host_node *node);
/* Notes about the whole reading (*n of them, maybe 0): how it was read
 * when that is not the usual way, e.g. bound-only TCP sockets asked of
 * every namespace's dump because the one BPF pass could not be used. */
EP_API const char *const *ep_host_node_notes(const ep_host_node *node, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
