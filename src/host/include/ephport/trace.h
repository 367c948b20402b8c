/* ephport/trace.h - who fails to get an ephemeral port, towards where,
 * right now: the kernel tells, through eBPF programs on tracepoints.
 *
 * ep_trace_open() loads and attaches eBPF programs (on the tracepoints
 * syscalls:sys_enter_/sys_exit_ connect, bind, sendto, sendmsg - or, when
 * their ids cannot be found, the raw tracepoints sys_enter/sys_exit - and on
 * inet_sock_set_state) that watch connect(),
 * bind(), and the sendto()/sendmsg() calls that autobind an unbound UDP
 * socket, in every network namespace or in one:
 *
 *   - every such call that fails with EADDRNOTAVAIL ("Cannot assign
 *     requested address"), EAGAIN ("Resource temporarily unavailable": UDP
 *     autobind exhaustion) or EADDRINUSE ("Address already in use") is a
 *     failure event: time, process, cgroup, namespace, protocol, local and
 *     remote address and port, errno (ep_trace_poll());
 *   - per destination (namespace, protocol, local address, remote address,
 *     remote port): connect() attempts (and autobinding sends), the ones
 *     that got a port, failures by errno, and new TIME_WAIT entries,
 *     counted in the kernel and read as differences per interval
 *     (ep_trace_interval_take()).
 *
 * Everything has a fixed size in the kernel (16384 destinations, a 256 KiB
 * ring buffer); what does not fit is counted and reported as lost, never
 * dropped silently.  Nothing stays in the kernel after ep_trace_close()
 * (or the process's exit).
 *
 * ep_trace_open() fails with a negative errno and the reason: -EINVAL,
 * -ENOENT, -ENOTDIR or -ENAMETOOLONG only for options that cannot be used
 * (a --netns or --cgroup that is not one, a negative pid); -EPERM or
 * -EACCES without CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN), or when a
 * locked-down kernel refuses; -ENOMEM; -ENOTSUP for everything else the
 * kernel or the build refuses (no kernel BTF, a program the kernel does not
 * load or attach - its words are in why - no usable syscall tracepoint, a
 * library built with -Dbpf=disabled).
 */
#ifndef EPHPORT_TRACE_H
#define EPHPORT_TRACE_H

#include <ephport/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/addr.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A count the tracer could not know (the reason is in the interval). */
#define EP_TRACE_UNKNOWN (-1)

typedef struct ep_trace ep_trace;

typedef struct ep_trace_opts {
    const char *netns;  /* NULL: every namespace; a name under /run/netns or
                           a path (/proc/PID/ns/net) */
    int pid;            /* 0: every process; else only this process's calls */
    const char *cgroup; /* NULL: any; a cgroup v2 directory (a path under
                           its mount, or relative to its root: "/system.slice");
                           its descendants are included */
} ep_trace_opts;

typedef enum ep_trace_call {
    EP_TRACE_CALL_CONNECT = 1,
    EP_TRACE_CALL_BIND,
    EP_TRACE_CALL_SENDTO,
    EP_TRACE_CALL_SENDMSG,
} ep_trace_call;

typedef struct ep_trace_failure {
    int64_t time_ns;        /* CLOCK_REALTIME, nanoseconds since the epoch */
    uint32_t pid, tid;
    char comm[17];
    const char *cgroup;     /* cgroup v2 path from its root ("/" ...), NULL:
                               unknown (no cgroup v2, or gone) */
    uint32_t netns;         /* the socket's network namespace inode */
    int proto;              /* IPPROTO_TCP or IPPROTO_UDP */
    ep_trace_call call;
    bool has_local;         /* bound, or the source connect() chose */
    ep_addr local;
    int local_port;         /* -1: not bound (the call was to pick it) */
    bool has_remote;        /* false for bind() */
    ep_addr remote;
    int remote_port;        /* -1 when !has_remote */
    int err;                /* positive errno: EADDRNOTAVAIL, EAGAIN, EADDRINUSE */
} ep_trace_failure;

typedef struct ep_trace_dest {
    uint32_t netns;
    int proto;
    ep_addr local;          /* where the port was taken: connect()'s source
                               for TCP, the bound address (wildcard) for UDP */
    ep_addr remote;
    uint16_t remote_port;
    /* Over the interval; attempts = successes + the four failure counts. */
    uint64_t attempts, successes;
    uint64_t eaddrnotavail, eagain, eaddrinuse, other;
    int64_t timewait;       /* EP_TRACE_UNKNOWN when not counted */
} ep_trace_dest;

typedef struct ep_trace_interval {
    int64_t start_ns, end_ns;    /* CLOCK_REALTIME */
    const ep_trace_dest *dests;  /* the destinations with any count, most
                                    attempts first; valid until the next call */
    size_t ndests;
    /* Lost in the interval because a fixed size was reached: failure events
     * (ring buffer full), counts (destination map full), calls (the kernel
     * could not allocate a task's slot for its call in flight). */
    uint64_t lost_events, lost_counts, lost_calls;
    const char *timewait_why;    /* why timewait is unknown, or NULL */
} ep_trace_interval;

/* Load and attach.  0, or a negative errno and the reason in why. */
EP_API int ep_trace_open(const ep_trace_opts *opts, ep_trace **out, char *why, size_t len);

/* The namespace inode --netns resolved to (0: every namespace). */
EP_API uint32_t ep_trace_netns(const ep_trace *t);

/* How the calls are watched: "syscall tracepoints", or the raw tracepoints
 * with the reason (slower for every system call of the host). */
EP_API const char *ep_trace_method(const ep_trace *t);

/* Wait up to timeout_ms for failure events and pass each to fn (the
 * failure is valid during the call); fn returning non-zero stops early and
 * is returned.  Otherwise the number of events passed, or -errno. */
EP_API int ep_trace_poll(ep_trace *t, int timeout_ms,
                  int (*fn)(const ep_trace_failure *f, void *arg), void *arg);

/* The counts since the previous call (or ep_trace_open()).  0 or -errno. */
EP_API int ep_trace_interval_take(ep_trace *t, ep_trace_interval *out);

/* Detach, unload, free.  NULL is fine. */
EP_API void ep_trace_close(ep_trace *t);

/* "connect", "bind", "sendto", "sendmsg". */
EP_API const char *ep_trace_call_name(ep_trace_call call);

#ifdef __cplusplus
}
#endif
#endif
