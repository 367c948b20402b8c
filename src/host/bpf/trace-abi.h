/* trace-abi.h - what trace.bpf.c and trace.c agree on: the programs'
 * configuration (their read-only data), the failure event they write to the
 * ring buffer, and the key and counters of the per-destination map.
 * Included by both the BPF program (clang -target bpf) and the library, so
 * it uses only fixed-width types each side defines. */
#ifndef EP_TRACE_ABI_H
#define EP_TRACE_ABI_H

/* The whole .rodata of trace.bpf.c: the loader sets it before loading.
 * Syscall numbers come from the loader's <sys/syscall.h>, so the program
 * itself knows no architecture's table. */
struct ep_trace_cfg {
    __u32 netns;          /* network namespace inode; 0: every namespace */
    __u32 tgid;           /* process id; 0: every process */
    __u64 cgroup_id;      /* cgroup v2 id (its directory's inode); 0: any */
    __u32 cgroup_level;   /* depth of cgroup_id below the root (root = 0) */
    __u32 nr_connect, nr_bind, nr_sendto, nr_sendmsg;
    __u16 tw_lo, tw_hi;   /* TIME_WAIT counted for local ports in [lo, hi] */
    __u32 count_tw;       /* 0: TIME_WAIT not counted (a pid or cgroup filter) */
};

/* Which call an event or a pending call is. */
enum {
    EP_TRACE_CONNECT = 1,
    EP_TRACE_BIND = 2,
    EP_TRACE_SENDTO = 3,
    EP_TRACE_SENDMSG = 4,
};

/* Addresses are 16 bytes, IPv6 or IPv4-mapped (::ffff:a.b.c.d), so a
 * destination seen through an IPv4 sockaddr, an IPv4-mapped IPv6 one or the
 * socket itself (TIME_WAIT) is one key. */
struct ep_trace_event {
    __u64 time_ns;        /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
    __u64 cgroup_id;      /* the caller's cgroup v2 id */
    __u32 pid;            /* thread group id: the process */
    __u32 tid;
    __u32 netns;          /* the socket's network namespace inode */
    __s32 err;            /* the errno, positive */
    __u8 call;            /* EP_TRACE_* */
    __u8 proto;           /* IPPROTO_TCP or IPPROTO_UDP */
    __u8 has_local;       /* local address known (bound, or chosen by connect) */
    __u8 has_remote;      /* remote address known (not for bind) */
    __u16 local_port;     /* host order; 0: not bound */
    __u16 remote_port;    /* host order */
    __u8 local[16];
    __u8 remote[16];
    char comm[16];
};

struct ep_trace_key {
    __u32 netns;
    __u8 proto;
    __u8 pad;
    __u16 remote_port;    /* host order */
    __u8 local[16];       /* the address the port was allocated on */
    __u8 remote[16];
};

/* Cumulative since the programs were loaded; the reader takes differences. */
struct ep_trace_counts {
    __u64 attempts;       /* connect(), and sendto()/sendmsg() that autobind */
    __u64 successes;      /* returned >= 0, or EINPROGRESS (a port was taken) */
    __u64 eaddrnotavail, eagain, eaddrinuse, other;
    __u64 timewait;       /* sockets handed to the TIME_WAIT table */
};

/* Fixed sizes: the kernel memory the tracer may use. */
#define EP_TRACE_MAX_DESTS 16384
#define EP_TRACE_RINGBUF_BYTES (256 * 1024)

#endif
