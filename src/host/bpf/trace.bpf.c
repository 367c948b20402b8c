/* trace.bpf.c - who fails to get a local port, towards where: programs on
 * the syscall tracepoints of connect, bind, sendto and sendmsg (enter and
 * exit), and on the raw tracepoint inet_sock_set_state.
 *
 * The syscall tracepoints (syscalls:sys_enter_connect ...) run only for
 * their own call; the loader attaches them through perf events, their ids
 * read from tracefs.  When those cannot be found, the loader attaches the
 * same logic on the raw tracepoints sys_enter and sys_exit instead, which
 * run for every system call and return after one comparison of the
 * syscall number (for sys_exit: one read of orig_ax); they read the
 * arguments from x86-64's registers.
 *
 * On entry a pending call is recorded in the calling task's storage (one
 * slot per task, no hashing, nothing to delete): the socket (from the
 * caller's fd table, checked by the socket's back pointer to its file),
 * its protocol, the port it is bound to, and where the sockaddr argument
 * is.  sendto and sendmsg are recorded only on an unbound UDP socket: the
 * calls that autobind.  inet_sock_set_state fires inside a TCP connect()
 * as the socket enters SYN_SENT, with the destination set, after the route
 * chose the source address and before the port is picked; the kernel
 * clears that address again when the pick fails, so both are taken there.
 * On exit the call is counted in its destination's counters and, for
 * EADDRNOTAVAIL, EAGAIN and EADDRINUSE, written to the ring buffer as an
 * event; the sockaddr's user memory is read then, and only when the socket
 * did not say it (UDP, a bind, a connect that failed before SYN_SENT).
 *
 * Cost.  Every call of every traced system call pays for these programs,
 * so kernel memory is read through typed pointers (the current task as
 * bpf_get_current_task_btf gives it, other kernel pointers through
 * bpf_rdonly_cast): the verifier turns each field read into a plain load
 * it guards against faults, where BPF_CORE_READ costs a helper call per
 * field (about 30 ns each here; an entry used to make 17 of them).  The
 * state program decides on its arguments (the states) before it reads the
 * socket: most transitions concern nothing here.
 *
 * TIME_WAIT has no transition of its own in this tracepoint: a full TCP
 * socket handed to the TIME_WAIT table goes from FIN_WAIT2 or CLOSING to
 * CLOSE (tcp_time_wait, then tcp_done).  Such a transition without a socket
 * error (a reset sets sk_err first) is counted as a new TIME_WAIT entry.
 * Measured on Linux 6.18: an active close shows ESTABLISHED -> FIN_WAIT1 ->
 * FIN_WAIT2 -> CLOSE and one TIME_WAIT socket in sockstat; at the CLOSE the
 * socket's skc_num is already 0, its inet_sport still the port.
 *
 * Kernel types are kernel-sock.h's and, here, those only this program
 * reads: CO-RE against the running kernel's BTF, no vmlinux.h from the
 * build machine.  Every map has a fixed size (the task storage grows with the
 * tasks that call, one slot each, freed with the task); what does not fit
 * is counted in ep_lost_* (read by the loader), never dropped silently. */
#include "ep-bpf.h"
#include "kernel-sock.h"
#include "trace-abi.h"

struct bpf_raw_tracepoint_args {
    __u64 args[0];
};

struct pt_regs {
    unsigned long di, si, dx, r10, r8, r9, orig_ax;
} __attribute__((preserve_access_index));

struct fdtable {
    unsigned int max_fds;
    struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
    struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
    struct files_struct *files;
} __attribute__((preserve_access_index));

struct user_msghdr {
    void *msg_name;
    int msg_namelen;
};

enum {
    EP_AF_INET = 2,
    EP_AF_INET6 = 10,
    EP_IPPROTO_TCP = 6,
    EP_IPPROTO_UDP = 17,
    EP_EAGAIN = 11,
    EP_EADDRINUSE = 98,
    EP_EADDRNOTAVAIL = 99,
    EP_EINPROGRESS = 115,
    EP_TCP_SYN_SENT = 2,
    EP_TCP_FIN_WAIT2 = 5,
    EP_TCP_CLOSE = 7,
    EP_TCP_CLOSING = 11,
    /* UAPI constants of linux/bpf.h (not included: ep-bpf.h defines the
     * fixed-width types itself). */
    EP_BPF_MAP_TYPE_HASH = 1,
    EP_BPF_MAP_TYPE_RINGBUF = 27,
    EP_BPF_MAP_TYPE_TASK_STORAGE = 29,
    EP_BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
    EP_BPF_NOEXIST = 1,
    EP_BPF_F_NO_PREALLOC = 1,
};

const volatile struct ep_trace_cfg ep_cfg = { 0 };

/* What did not fit: the ring buffer was full, the destination map was
 * full, no task slot could be allocated.  Read by the loader through the
 * skeleton's mapped .bss. */
__u64 ep_lost_events, ep_lost_dests, ep_lost_pending;

/* A call in progress, in its task's storage (call 0: none).  The user
 * memory of its arguments is read only when needed, at exit: a TCP
 * connect() that reaches SYN_SENT takes its destination from the socket. */
struct ep_pending {
    struct sock *sk;
    const void *uaddr;    /* the sockaddr argument (sendmsg: the msghdr) */
    long ulen;
    __u8 call, proto, has_local, syn_seen, pad[4];
    __u16 local_port, remote_port;
    __u8 local[16];
    __u8 remote[16];      /* valid when syn_seen */
    __u8 syn_local[16];
    __u32 netns;
};

struct {
    __uint(type, EP_BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, EP_BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct ep_pending);
} ep_pending_calls SEC(".maps");

struct {
    __uint(type, EP_BPF_MAP_TYPE_HASH);
    __uint(max_entries, EP_TRACE_MAX_DESTS);
    __uint(map_flags, EP_BPF_F_NO_PREALLOC); /* memory follows destinations */
    __type(key, struct ep_trace_key);
    __type(value, struct ep_trace_counts);
} ep_dests SEC(".maps");

struct {
    __uint(type, EP_BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, EP_TRACE_RINGBUF_BYTES);
} ep_events SEC(".maps");

static __always_inline void ep_v4_mapped(__u8 out[16], __be32 a)
{
    __builtin_memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    __builtin_memcpy(out + 12, &a, 4);
}

static __always_inline int ep_zero16(const __u8 a[16])
{
    __u64 x, y;
    __builtin_memcpy(&x, a, 8);
    __builtin_memcpy(&y, a + 8, 8);
    return (x | y) == 0;
}

/* The wildcard of either family (::, or ::ffff:0.0.0.0 as IPv4's). */
static __always_inline int ep_wildcard(const __u8 a[16])
{
    __u32 v4;
    if (ep_zero16(a))
        return 1;
    __builtin_memcpy(&v4, a + 12, 4);
    return v4 == 0 && a[10] == 0xff && a[11] == 0xff;
}

/* The socket's bound local address, IPv6 or IPv4-mapped. */
static __always_inline void ep_sock_local(struct sock *sk, __u8 out[16])
{
    __be32 v4 = sk->__sk_common.skc_rcv_saddr;

    if (sk->__sk_common.skc_family == EP_AF_INET) {
        ep_v4_mapped(out, v4);
    } else {
        __builtin_memcpy(out, sk->__sk_common.skc_v6_rcv_saddr.u6_addr8, 16);
        /* An IPv6 socket bound to nothing but connected over IPv4 keeps the
         * IPv4 source in skc_rcv_saddr. */
        if (ep_zero16(out) && v4)
            ep_v4_mapped(out, v4);
    }
}

static __always_inline __u32 ep_sock_netns(struct sock *sk)
{
    return sk->__sk_common.skc_net.net->ns.inum;
}

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* A kernel pointer as a typed one the verifier lets the program read
 * directly (plain loads it guards), not through a helper call each. */
static __always_inline struct sock *ep_sk(const void *p)
{
    return bpf_rdonly_cast(p, bpf_core_type_id_kernel(struct sock));
}

/* The socket behind fd in the current task, or NULL. */
static __always_inline struct sock *ep_fd_sock(long fd)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct fdtable *fdt = task->files->fdt;
    struct file *file;
    struct socket *sock;

    if (!fdt || fd < 0 || (unsigned long)fd >= fdt->max_fds)
        return 0;
    if (bpf_probe_read_kernel(&file, sizeof file, fdt->fd + fd) || !file)
        return 0;
    file = bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
    sock = bpf_rdonly_cast(file->private_data, bpf_core_type_id_kernel(struct socket));
    /* Only a socket's file is what its socket's back pointer names. */
    if (!sock || sock->file != file)
        return 0;
    return ep_sk(sock->sk);
}

/* Read a sockaddr from user memory into addr/port; 0 or -1 (not inet). */
static __always_inline int ep_read_sockaddr(const void *uaddr, long len, __u8 addr[16],
                                            __u16 *port)
{
    struct {
        __u16 family;
        __be16 port;
        __be32 v4;        /* sockaddr_in: the address; sockaddr_in6: flowinfo */
        __u8 v6[16];
    } sa;

    if (!uaddr || len < 8)
        return -1;
    __builtin_memset(&sa, 0, sizeof sa);
    if (bpf_probe_read_user(&sa, len >= (long)sizeof sa ? sizeof sa : 8, uaddr))
        return -1;
    if (sa.family == EP_AF_INET) {
        ep_v4_mapped(addr, sa.v4);
    } else if (sa.family == EP_AF_INET6 && len >= 24) {
        __builtin_memcpy(addr, sa.v6, 16);
    } else {
        return -1;
    }
    *port = __builtin_bswap16(sa.port);
    return 0;
}

static __always_inline int ep_cgroup_matches(void)
{
    if (!ep_cfg.cgroup_id)
        return 1;
    return bpf_get_current_ancestor_cgroup_id(ep_cfg.cgroup_level) == ep_cfg.cgroup_id;
}

/* A call begins: record it if it may take a port.  uaddr and ulen are the
 * sockaddr argument (connect, bind, sendto), umsg the msghdr (sendmsg).
 * Each program reads only its own tracepoint's fields: the kernel refuses
 * to attach a program that reads past a tracepoint's record. */
static __always_inline struct ep_pending *ep_task_pending(int create)
{
    return bpf_task_storage_get(&ep_pending_calls, bpf_get_current_task_btf(), 0,
                                create ? EP_BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* A call begins: record it if it may take a port.  uaddr and ulen are the
 * sockaddr argument (connect, bind, sendto), umsg the msghdr (sendmsg).
 * Each program reads only its own tracepoint's fields: the kernel refuses
 * to attach a program that reads past a tracepoint's record. */
static __always_inline int ep_enter(__u8 call, long fd, const void *uaddr, long ulen,
                                    const void *umsg)
{
    __u64 id = bpf_get_current_pid_tgid();
    struct ep_pending *p;
    struct sock *sk;
    __u16 proto, local_port, fam;

    if (ep_cfg.tgid && (__u32)(id >> 32) != ep_cfg.tgid)
        return 0;
    if (!ep_cgroup_matches())
        return 0;
    sk = ep_fd_sock(fd);
    if (!sk)
        return 0;
    proto = sk->sk_protocol;
    if (proto != EP_IPPROTO_TCP && proto != EP_IPPROTO_UDP)
        return 0;
    local_port = sk->__sk_common.skc_num;
    /* A TCP connect() on a socket already connecting or connected
     * (EALREADY, EISCONN: how some programs poll a non-blocking connect)
     * takes no port: not an attempt. */
    if (call == EP_TRACE_CONNECT && proto == EP_IPPROTO_TCP &&
        sk->__sk_common.skc_state != EP_TCP_CLOSE)
        return 0;
    /* sendto/sendmsg matter only when they autobind: unbound UDP. */
    if ((call == EP_TRACE_SENDTO || call == EP_TRACE_SENDMSG) &&
        (proto != EP_IPPROTO_UDP || local_port))
        return 0;
    fam = sk->__sk_common.skc_family;
    if (fam != EP_AF_INET && fam != EP_AF_INET6)
        return 0;
    __u32 netns = ep_sock_netns(sk);
    if (ep_cfg.netns && netns != ep_cfg.netns)
        return 0;
    p = ep_task_pending(1);
    if (!p) {
        __sync_fetch_and_add(&ep_lost_pending, 1);
        return 0;
    }
    p->sk = sk;
    p->call = call;
    p->proto = (__u8)proto;
    p->syn_seen = 0;
    p->local_port = local_port;
    p->netns = netns;
    /* What the socket is bound to before the call: a UDP connect() sets
     * its source address, so read at exit it would key its successes
     * apart from its failures. */
    ep_sock_local(sk, p->local);
    p->has_local = local_port != 0 || !ep_wildcard(p->local);
    p->uaddr = umsg ? umsg : uaddr;
    p->ulen = umsg ? -1 : ulen;
    return 0;
}

/* The call's sockaddr argument (for sendmsg, through its msghdr): 0, or -1
 * when there is no inet address to read. */
static __always_inline int ep_call_sockaddr(const struct ep_pending *p, __u8 addr[16],
                                            __u16 *port)
{
    const void *uaddr = p->uaddr;
    long ulen = p->ulen;

    if (ulen < 0) {
        struct user_msghdr m;
        if (bpf_probe_read_user(&m, sizeof m, uaddr))
            return -1;
        uaddr = m.msg_name;
        ulen = m.msg_namelen;
    }
    return ep_read_sockaddr(uaddr, ulen, addr, port);
}

static __always_inline void ep_count(struct ep_trace_key *k, int ret, int tw)
{
    struct ep_trace_counts *c = bpf_map_lookup_elem(&ep_dests, k);

    if (!c) {
        struct ep_trace_counts zero = { 0 };
        /* BPF_NOEXIST: another CPU may have created it meanwhile. */
        if (bpf_map_update_elem(&ep_dests, k, &zero, EP_BPF_NOEXIST) &&
            !bpf_map_lookup_elem(&ep_dests, k)) {
            __sync_fetch_and_add(&ep_lost_dests, 1);
            return;
        }
        c = bpf_map_lookup_elem(&ep_dests, k);
        if (!c) {
            __sync_fetch_and_add(&ep_lost_dests, 1);
            return;
        }
    }
    if (tw) {
        __sync_fetch_and_add(&c->timewait, 1);
        return;
    }
    __sync_fetch_and_add(&c->attempts, 1);
    if (ret >= 0 || ret == -EP_EINPROGRESS)
        __sync_fetch_and_add(&c->successes, 1);
    else if (ret == -EP_EADDRNOTAVAIL)
        __sync_fetch_and_add(&c->eaddrnotavail, 1);
    else if (ret == -EP_EAGAIN)
        __sync_fetch_and_add(&c->eagain, 1);
    else if (ret == -EP_EADDRINUSE)
        __sync_fetch_and_add(&c->eaddrinuse, 1);
    else
        __sync_fetch_and_add(&c->other, 1);
}

/* A recorded call returns ret: count it, and report a failure. */
static __always_inline int ep_exit(long ret)
{
    struct ep_pending *p = ep_task_pending(0);
    struct ep_trace_event *e;
    struct sock *sk;
    __u8 local[16], remote[16];
    __u16 local_port, remote_port = 0;
    int failure, has_local, has_remote = 0;
    __u32 netns;

    if (!p || !p->call)
        return 0;
    failure = ret == -EP_EADDRNOTAVAIL || ret == -EP_EAGAIN || ret == -EP_EADDRINUSE;
    if (p->call == EP_TRACE_BIND && !failure)
        goto out;
    sk = ep_sk(p->sk); /* ep_pending is ours: a plain read */
    /* EAGAIN from a send is an autobind failure only if the socket is
     * still unbound; otherwise it was a full send buffer. */
    if (ret == -EP_EAGAIN && (p->call == EP_TRACE_SENDTO || p->call == EP_TRACE_SENDMSG) &&
        sk->__sk_common.skc_num)
        failure = 0;
    netns = p->netns;
    local_port = p->local_port;
    /* The address the port was taken on: TCP's source as connect() chose
     * it, else what the socket was bound to (UDP autobinds on its bound
     * address, the wildcard when unbound); bind: the address asked for. */
    if (p->syn_seen) {
        __builtin_memcpy(local, p->syn_local, 16);
        has_local = 1;
    } else {
        __builtin_memcpy(local, p->local, 16);
        has_local = p->has_local;
    }
    if (p->call == EP_TRACE_BIND) {
        if (ep_call_sockaddr(p, local, &local_port))
            goto out;
        has_local = 1;
    } else if (p->syn_seen) {
        __builtin_memcpy(remote, p->remote, 16);
        remote_port = p->remote_port;
        has_remote = 1;
    } else {
        /* No inet destination (AF_UNSPEC disconnects, a connected socket's
         * send): nothing to attribute. */
        if (ep_call_sockaddr(p, remote, &remote_port))
            goto out;
        has_remote = 1;
    }
    if (p->call != EP_TRACE_BIND) {
        struct ep_trace_key k;
        __builtin_memset(&k, 0, sizeof k);
        k.netns = netns;
        k.proto = p->proto;
        k.remote_port = remote_port;
        __builtin_memcpy(k.remote, remote, 16);
        __builtin_memcpy(k.local, local, 16);
        ep_count(&k, (int)ret, 0);
    }
    if (failure) {
        __u64 id = bpf_get_current_pid_tgid();
        e = bpf_ringbuf_reserve(&ep_events, sizeof *e, 0);
        if (!e) {
            __sync_fetch_and_add(&ep_lost_events, 1);
            goto out;
        }
        e->time_ns = bpf_ktime_get_ns();
        e->cgroup_id = bpf_get_current_cgroup_id();
        e->pid = (__u32)(id >> 32);
        e->tid = (__u32)id;
        e->netns = netns;
        e->err = (__s32)-ret;
        e->call = p->call;
        e->proto = p->proto;
        e->has_remote = has_remote;
        e->local_port = local_port;
        e->remote_port = remote_port;
        e->has_local = has_local;
        __builtin_memcpy(e->local, local, 16);
        __builtin_memcpy(e->remote, remote, 16);
        bpf_get_current_comm(e->comm, sizeof e->comm);
        bpf_ringbuf_submit(e, 0);
    }
out:
    p->call = 0;
    return 0;
}

/* The syscalls:sys_enter_* / sys_exit_* tracepoints (attached through
 * perf events): run only for their own call.  Their records start with 8
 * bytes of common fields and the syscall number, then the arguments, or
 * the return value, as 8-byte fields at offset 16. */
struct ep_sys_enter_args {
    __u64 common;
    __s32 nr;
    __u32 pad;
    unsigned long args[6];
};

struct ep_sys_exit_args {
    __u64 common;
    __s32 nr;
    __u32 pad;
    long ret;
};

SEC("tracepoint/syscalls/sys_enter_connect")
int ep_tp_enter_connect(struct ep_sys_enter_args *ctx)
{
    return ep_enter(EP_TRACE_CONNECT, (long)ctx->args[0], (const void *)ctx->args[1],
                    (long)ctx->args[2], 0);
}

SEC("tracepoint/syscalls/sys_enter_bind")
int ep_tp_enter_bind(struct ep_sys_enter_args *ctx)
{
    return ep_enter(EP_TRACE_BIND, (long)ctx->args[0], (const void *)ctx->args[1],
                    (long)ctx->args[2], 0);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int ep_tp_enter_sendto(struct ep_sys_enter_args *ctx)
{
    return ep_enter(EP_TRACE_SENDTO, (long)ctx->args[0], (const void *)ctx->args[4],
                    (long)ctx->args[5], 0);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int ep_tp_enter_sendmsg(struct ep_sys_enter_args *ctx)
{
    return ep_enter(EP_TRACE_SENDMSG, (long)ctx->args[0], 0, 0, (const void *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int ep_tp_exit_connect(struct ep_sys_exit_args *ctx)
{
    return ep_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int ep_tp_exit_bind(struct ep_sys_exit_args *ctx)
{
    return ep_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int ep_tp_exit_sendto(struct ep_sys_exit_args *ctx)
{
    return ep_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int ep_tp_exit_sendmsg(struct ep_sys_exit_args *ctx)
{
    return ep_exit(ctx->ret);
}

/* The raw tracepoints sys_enter / sys_exit: the fallback when the syscall
 * tracepoints' ids cannot be found (no tracefs).  They run for every
 * system call of the host and return after comparing its number. */
SEC("raw_tracepoint/sys_enter")
int ep_raw_enter(struct bpf_raw_tracepoint_args *ctx)
{
    long nr = (long)ctx->args[1];
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    unsigned long fd, a1, a2, a4, a5;
    __u8 call;

    if (nr == ep_cfg.nr_connect)
        call = EP_TRACE_CONNECT;
    else if (nr == ep_cfg.nr_bind)
        call = EP_TRACE_BIND;
    else if (nr == ep_cfg.nr_sendto)
        call = EP_TRACE_SENDTO;
    else if (nr == ep_cfg.nr_sendmsg)
        call = EP_TRACE_SENDMSG;
    else
        return 0;
    /* x86-64's syscall argument registers: di, si, dx, r10, r8, r9. */
    fd = BPF_CORE_READ(regs, di);
    a1 = BPF_CORE_READ(regs, si);
    if (call == EP_TRACE_SENDMSG)
        return ep_enter(call, (long)fd, 0, 0, (const void *)a1);
    if (call == EP_TRACE_SENDTO) {
        a4 = BPF_CORE_READ(regs, r8);
        a5 = BPF_CORE_READ(regs, r9);
        return ep_enter(call, (long)fd, (const void *)a4, (long)a5, 0);
    }
    a2 = BPF_CORE_READ(regs, dx);
    return ep_enter(call, (long)fd, (const void *)a1, (long)a2, 0);
}

SEC("raw_tracepoint/sys_exit")
int ep_raw_exit(struct bpf_raw_tracepoint_args *ctx)
{
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    long nr = (long)BPF_CORE_READ(regs, orig_ax);

    if (nr != ep_cfg.nr_connect && nr != ep_cfg.nr_bind && nr != ep_cfg.nr_sendto &&
        nr != ep_cfg.nr_sendmsg)
        return 0;
    return ep_exit((long)ctx->args[1]);
}

SEC("raw_tracepoint/inet_sock_set_state")
int ep_trace_state(struct bpf_raw_tracepoint_args *ctx)
{
    struct sock *sk = ep_sk((const void *)ctx->args[0]);
    int oldstate = (int)ctx->args[1];
    int newstate = (int)ctx->args[2];

    /* Most transitions matter to no one here: decide on the states (free,
     * they are arguments) before reading the socket (a helper call each). */
    if (newstate != EP_TCP_SYN_SENT &&
        !(newstate == EP_TCP_CLOSE && (oldstate == EP_TCP_FIN_WAIT2 || oldstate == EP_TCP_CLOSING)))
        return 0;
    /* Most transitions matter to no one here: decide on the states (free,
     * they are arguments) before reading the socket (a helper call each). */
    if (newstate != EP_TCP_SYN_SENT &&
        !(newstate == EP_TCP_CLOSE && (oldstate == EP_TCP_FIN_WAIT2 || oldstate == EP_TCP_CLOSING)))
        return 0;
    if (sk->sk_protocol != EP_IPPROTO_TCP)
        return 0;
    if (newstate == EP_TCP_SYN_SENT) {
        /* Inside connect(): the route chose the source address, the
         * destination is set, the port not yet picked. */
        struct ep_pending *p = ep_task_pending(0);
        if (p && p->call == EP_TRACE_CONNECT && p->sk == sk) {
            ep_sock_local(sk, p->syn_local);
            if (sk->__sk_common.skc_family == EP_AF_INET)
                ep_v4_mapped(p->remote, sk->__sk_common.skc_daddr);
            else
                __builtin_memcpy(p->remote, sk->__sk_common.skc_v6_daddr.u6_addr8, 16);
            p->remote_port = __builtin_bswap16(sk->__sk_common.skc_dport);
            p->syn_seen = 1;
        }
        return 0;
    }
    if (newstate == EP_TCP_CLOSE && (oldstate == EP_TCP_FIN_WAIT2 || oldstate == EP_TCP_CLOSING)) {
        struct ep_trace_key k;
        __u16 lport;

        if (!ep_cfg.count_tw || sk->sk_err)
            return 0;
        /* skc_num is already 0 here (the port went to the TIME_WAIT
         * socket); the source port stays in inet_sport. */
        lport = __builtin_bswap16(((struct inet_sock *)bpf_rdonly_cast(
            sk, bpf_core_type_id_kernel(struct inet_sock)))->inet_sport);
        if (lport < ep_cfg.tw_lo || lport > ep_cfg.tw_hi)
            return 0;
        __builtin_memset(&k, 0, sizeof k);
        k.netns = ep_sock_netns(sk);
        if (ep_cfg.netns && k.netns != ep_cfg.netns)
            return 0;
        k.proto = EP_IPPROTO_TCP;
        k.remote_port = __builtin_bswap16(sk->__sk_common.skc_dport);
        ep_sock_local(sk, k.local);
        if (sk->__sk_common.skc_family == EP_AF_INET)
            ep_v4_mapped(k.remote, sk->__sk_common.skc_daddr);
        else
            __builtin_memcpy(k.remote, sk->__sk_common.skc_v6_daddr.u6_addr8, 16);
        ep_count(&k, 0, 1);
    }
    return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
