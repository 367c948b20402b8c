/* ehash.bpf.c - one walk of the host-wide TCP established hash (the table
 * of every connected, connecting, closing, TIME_WAIT and request socket of
 * every network namespace that has no table of its own), each socket
 * written with its namespace's inode, for `status --all-namespaces`
 * (src/host/ehash-bpf.c, node.c).
 *
 * Why: a sock_diag dump of one namespace walks that whole table (262,144
 * buckets here) and every socket of the host to keep its own, so reading
 * 200 namespaces walked it 200 times (docs/BENCHMARKS.md, issue 13).  This
 * walks it once and each namespace's dump leaves those states out.
 *
 * What is written per socket is what inet_diag reports for it: the state
 * (a TIME_WAIT socket's substate, TCP_SYN_RECV for a request socket), the
 * family, addresses and ports from the sock_common all three kinds share,
 * the socket inode of a full socket, and a TIME_WAIT socket's time to its
 * timer in jiffies (the reader turns it into milliseconds as the dump does);
 * and whether the socket's port is sticky - it did not come from connect()'s
 * autobind (Linux 6.18 marks those: sticky.bpf.c) - so that no namespace
 * needs a sticky walk of its own either.
 *
 * How: a task iterator (iter/task) used only for its calls: each call
 * walks buckets on from a cursor kept in the program's global data, as many
 * as the records left room for in the kernel's seq buffer (read from the
 * seq_file), and advances the cursor only when its records were written; a
 * write that did not fit makes the kernel show the same task again at the
 * next read(), with the buffer empty.  When the tasks run out first, the
 * reader creates the iterator again and the walk goes on from the cursor.
 * The table is the initial namespace's (net->ipv4.tcp_death_row.hashinfo),
 * reached through init_task, the end of every task's real_parent chain:
 * tcp_hashinfo itself is not in the kernel's BTF.  Chains are read without
 * the bucket locks, under RCU as the kernel's own lookups read them: socket
 * memory is type-stable (SLAB_TYPESAFE_BY_RCU), and a chain that ends in
 * another bucket's end marker (a socket freed and reused while it was read)
 * is read again, up to 4 times, its records staged and written only once
 * it ends where it should.  What can still differ from a dump is said in
 * ehash-bpf.c.
 *
 * The kernel types are kernel-sock.h's and the ones below (CO-RE:
 * relocated by the kernel against its own BTF when the program is loaded;
 * a ___ep suffix names a local view of a type kernel-sock.h declares). */
#include "ep-bpf.h"
#include "ehash-abi.h"
#include "kernel-sock.h"

#include <bpf/bpf_endian.h>

struct seq_file;

struct bpf_iter_meta {
    struct seq_file *seq;
} __attribute__((preserve_access_index));

struct task_struct;

struct bpf_iter__task {
    struct bpf_iter_meta *meta;
    struct task_struct *task;
} __attribute__((preserve_access_index));

struct seq_file___ep {
    __u64 size;
    __u64 count;
} __attribute__((preserve_access_index));

struct hlist_nulls_head {
    struct hlist_nulls_node *first;
} __attribute__((preserve_access_index));

struct inet_ehash_bucket {
    struct hlist_nulls_head chain;
} __attribute__((preserve_access_index));

struct inet_hashinfo {
    struct inet_ehash_bucket *ehash;
    unsigned int ehash_mask;
} __attribute__((preserve_access_index));

struct inet_timewait_death_row {
    struct inet_hashinfo *hashinfo;
} __attribute__((preserve_access_index));

struct netns_ipv4 {
    struct inet_timewait_death_row tcp_death_row;
    int sysctl_tcp_keepalive_time;
} __attribute__((preserve_access_index));

struct net___ep {
    struct ns_common ns;
    struct netns_ipv4 ipv4;
} __attribute__((preserve_access_index));

struct nsproxy {
    struct net___ep *net_ns;
} __attribute__((preserve_access_index));

struct task_struct {
    int pid;
    struct task_struct *real_parent;
    struct nsproxy *nsproxy;
} __attribute__((preserve_access_index));

struct timer_list {
    unsigned long expires;
} __attribute__((preserve_access_index));

struct inet_timewait_sock {
    struct sock_common __tw_common;
    unsigned char tw_substate;
    unsigned int tw_connect_bind : 1;
    struct timer_list tw_timer;
} __attribute__((preserve_access_index));

struct socket_alloc {
    struct socket socket;
    struct inode vfs_inode;
} __attribute__((preserve_access_index));

enum {
    EP_AF_INET = 2,
    EP_AF_INET6 = 10,
    EP_TCP_SYN_RECV = 3,
    EP_TCP_TIME_WAIT = 6,
    EP_TCP_NEW_SYN_RECV = 12,
    EP_TASK_DEPTH = 256,          /* real_parent links to init_task, at most */
    EP_STAGE = 600,               /* records of one call: 31,200 bytes */
    EP_RETRIES = 4,
    EP_BUDGET = 65536,            /* buckets one call walks at most */
    EP_STEPS = 1 << 18,           /* enough for them and EP_STAGE sockets */
    EP_HEADS = 16,                /* bucket heads read at once */
};

/* The records of the buckets this call walks, written at its end. */
struct ep_ehash_rec ep_stage[EP_STAGE];

/* The walk so far: the reader reads ep_cursor == ep_buckets at the end. */
__u32 ep_cursor, ep_buckets;
__u32 ep_info_written;

/* Stage the socket at sk (any of the three kinds) in ep_stage[slot].  A
 * global function: verified once, not once per chain position. */
__noinline int ep_read_sock(__u64 slot, __u64 addr, __u64 now)
{
    struct sock *sk = (struct sock *)addr;
    struct ep_ehash_rec *rec;
    __u8 state;

    if (slot >= EP_STAGE || !sk)
        return -1;
    barrier_var(slot);            /* index with the checked register */
    rec = &ep_stage[slot];
    __builtin_memset(rec, 0, sizeof *rec);
    state = BPF_CORE_READ(sk, __sk_common.skc_state);
    rec->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
    rec->family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (rec->family == EP_AF_INET6) {
        bpf_core_read(rec->src, 16, &sk->__sk_common.skc_v6_rcv_saddr);
        bpf_core_read(rec->dst, 16, &sk->__sk_common.skc_v6_daddr);
    } else {
        bpf_core_read(rec->src, 4, &sk->__sk_common.skc_rcv_saddr);
        bpf_core_read(rec->dst, 4, &sk->__sk_common.skc_daddr);
    }
    rec->sport = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
    rec->dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
    if (state == EP_TCP_TIME_WAIT) {
        struct inet_timewait_sock *tw = (struct inet_timewait_sock *)sk;
        long left = (long)(BPF_CORE_READ(tw, tw_timer.expires) - now);
        rec->kind = EP_EHASH_TW;
        rec->state = BPF_CORE_READ(tw, tw_substate);
        if (bpf_core_field_exists(struct inet_timewait_sock, tw_connect_bind) &&
            !BPF_CORE_READ_BITFIELD_PROBED(tw, tw_connect_bind))
            rec->flags = EP_EHASH_STICKY;
        rec->timer = left <= 0 ? 0 : left > 0x7fffffffL ? 0x7fffffff : (__u32)left;
    } else if (state == EP_TCP_NEW_SYN_RECV) {
        rec->kind = EP_EHASH_REQ;
        rec->state = EP_TCP_SYN_RECV;
    } else {
        rec->kind = EP_EHASH_SOCK;
        rec->state = state;
        if (!(BPF_CORE_READ(sk, sk_userlocks) & EP_EHASH_CONNECT_BIND))
            rec->flags = EP_EHASH_STICKY;
        if (bpf_core_field_exists(sk->sk_ino)) {
            rec->inode = (__u32)BPF_CORE_READ(sk, sk_ino);
        } else {
            struct socket *sock = BPF_CORE_READ(sk, sk_socket);
            if (sock)
                rec->inode = (__u32)BPF_CORE_READ((struct socket_alloc *)sock, vfs_inode.i_ino);
        }
    }
    return 0;
}

/* A batch of bucket heads (each bucket is one pointer). */
__u64 ep_heads[EP_HEADS];

/* In global data, not on the stack: the verifier then knows none of its
 * values, and checks the loop body once instead of value by value. */
struct ep_walk ep_w;

static long ep_step(__u32 i, void *arg)
{
    struct ep_walk *w = &ep_w;
    struct hlist_nulls_node *node;

    (void)i;
    (void)arg;
    if (w->node == 0) {           /* the heads of up to 16 buckets in one
                                     read; the empty ones (most are) done
                                     here, the first other one followed */
        __u32 left, cnt;
        __u64 bytes;

        if (w->b >= w->end)
            return 1;
        left = w->end - w->b;
        cnt = left < EP_HEADS ? left : EP_HEADS;
        bytes = (__u64)cnt * sizeof(__u64);
        barrier_var(bytes);       /* checked below in the register used */
        if (bpf_core_type_size(struct inet_ehash_bucket) != sizeof(__u64) || bytes == 0 ||
            bytes > sizeof ep_heads ||
            bpf_probe_read_kernel(ep_heads, bytes,
                                  (void *)(w->ehash + (__u64)w->b * sizeof(__u64))) != 0) {
            w->fail = EP_EHASH_FAIL_TABLE;
            w->fail_bucket = w->b;
            return 1;
        }
        for (int k = 0; k < EP_HEADS; k++) {
            __u64 first;
            if ((__u32)k >= cnt)
                break;
            first = ep_heads[k];
            w->chain = 0;
            if (first == 0) {
                w->fail = EP_EHASH_FAIL_TABLE;
                w->fail_bucket = w->b;
                return 1;
            }
            if (first != (((__u64)w->b << 1) | 1)) {
                w->node = first;
                return 0;
            }
            w->done++;
            w->b++;
            w->nstart = w->n;
        }
        return 0;
    }
    if (w->node & 1) {            /* the chain's end marker */
        if ((w->node >> 1) == w->b) {
            w->nstart = w->n;
            w->done++;
            w->b++;
            w->attempts = 0;
        } else if (++w->attempts >= EP_RETRIES) {
            w->fail = EP_EHASH_FAIL_MOVED;
            w->fail_bucket = w->b;
            return 1;
        } else {
            w->n = w->nstart;     /* another bucket's end: read this one again */
        }
        w->node = 0;
        return 0;
    }
    if (w->chain >= EP_EHASH_CHAIN_MAX) {
        w->fail = EP_EHASH_FAIL_CHAIN;
        w->fail_bucket = w->b;
        return 1;
    }
    if (w->n >= w->room ||
        ep_read_sock(w->n, w->node - bpf_core_field_offset(struct sock_common, skc_nulls_node),
                     w->now) != 0) {
        w->full = 1;
        w->n = w->nstart;
        return 1;
    }
    w->n++;
    w->chain++;
    node = (struct hlist_nulls_node *)w->node;
    w->node = (__u64)BPF_CORE_READ(node, next);
    return 0;
}

static long ep_write_meta(struct seq_file *seq, __u8 kind, __u8 why, __u32 netns, __u32 inode,
                          __u32 timer, __u8 flags)
{
    struct ep_ehash_rec rec;

    __builtin_memset(&rec, 0, sizeof rec);
    rec.kind = kind;
    rec.state = why;
    rec.netns = netns;
    rec.inode = inode;
    rec.timer = timer;
    rec.flags = flags;
    return bpf_seq_write(seq, &rec, sizeof rec);
}

/* One step up the real_parent chain, until init_task (pid 0). */
static long ep_parent(__u32 i, void *arg)
{
    struct task_struct **t = arg;

    (void)i;
    if (!*t || BPF_CORE_READ(*t, pid) == 0)
        return 1;
    *t = BPF_CORE_READ(*t, real_parent);
    return 0;
}

SEC("iter/task")
int ep_ehash_walk(struct bpf_iter__task *ctx)
{
    struct seq_file *seq = ctx->meta->seq;
    struct seq_file___ep *sf = (struct seq_file___ep *)seq;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct task_struct *me = task;
    struct inet_hashinfo *table;
    struct net___ep *init_net;
    struct ep_walk *w = &ep_w;
    __u64 nb, size, count, budget, ehash;

    if (!ctx->task)
        return 0;                 /* the last call, after every task */
    if (ep_buckets && ep_cursor >= ep_buckets)
        return 0;                 /* done: the calls left do nothing */
    bpf_loop(EP_TASK_DEPTH, ep_parent, &task, 0);
    if (!task || BPF_CORE_READ(task, pid) != 0) {
        ep_write_meta(seq, EP_EHASH_FAIL, EP_EHASH_FAIL_TABLE, 0, 0, 0, 0);
        return 0;
    }
    init_net = BPF_CORE_READ(task, nsproxy, net_ns);
    table = BPF_CORE_READ(init_net, ipv4.tcp_death_row.hashinfo);
    ehash = (__u64)BPF_CORE_READ(table, ehash);
    if (!table || !ehash) {
        ep_write_meta(seq, EP_EHASH_FAIL, EP_EHASH_FAIL_TABLE, 0, 0, 0, 0);
        return 0;
    }
    nb = (__u64)BPF_CORE_READ(table, ehash_mask) + 1;
    if (nb > (1ULL << 31)) {
        ep_write_meta(seq, EP_EHASH_FAIL, EP_EHASH_FAIL_SIZE, 0, 0, 0, 0);
        return 0;
    }
    if (!ep_info_written) {
        /* a call of its own, so that it is written exactly once */
        if (ep_write_meta(seq, EP_EHASH_INFO, 0, BPF_CORE_READ(init_net, ns.inum),
                          BPF_CORE_READ(me, nsproxy, net_ns, ipv4.sysctl_tcp_keepalive_time),
                          (__u32)nb,
                          bpf_core_field_exists(struct inet_timewait_sock, tw_connect_bind)
                              ? EP_EHASH_MARKS
                              : 0) == 0) {
            ep_info_written = 1;
            ep_buckets = (__u32)nb;
        }
        return 0;
    }
    if ((__u32)nb != ep_buckets) {
        ep_write_meta(seq, EP_EHASH_FAIL, EP_EHASH_FAIL_TABLE, 0, 0, 0, 0);
        return 0;
    }
    __builtin_memset(w, 0, sizeof *w);
    w->ehash = ehash;
    size = BPF_CORE_READ(sf, size);
    count = BPF_CORE_READ(sf, count);
    w->room = count < size ? (__u32)((size - count) / sizeof(struct ep_ehash_rec)) : 0;
    if (w->room > EP_STAGE)
        w->room = EP_STAGE;
    w->b = ep_cursor;
    budget = nb - w->b < EP_BUDGET ? nb - w->b : EP_BUDGET;
    w->end = w->b + (__u32)budget;
    w->now = bpf_jiffies64();
    bpf_loop(EP_STEPS, ep_step, NULL, 0);
    w->n = w->nstart;               /* whole buckets only */
    if (w->fail) {
        ep_write_meta(seq, EP_EHASH_FAIL, (__u8)w->fail, 0, 0, w->fail_bucket, 0);
        return 0;
    }
    if (w->done == 0 && w->full) {
        /* not one bucket fits the room left: write more than the buffer
         * holds, so that this task is shown again with the buffer empty */
        bpf_seq_write(seq, ep_stage, sizeof ep_stage);
        return 0;
    }
    if (w->n > EP_STAGE)
        w->n = EP_STAGE;
    if (w->n && bpf_seq_write(seq, ep_stage, w->n * sizeof(struct ep_ehash_rec)) != 0)
        return 0;                 /* shown again at the next read() */
    ep_cursor += w->done;
    return 0;
}

/* GPL-compatible (bpf_seq_write is GPL-only); the source stays MIT. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
