/* bound.bpf.c - a BPF iterator over every open file of every process
 * (iter/task_file) that reports the TCP sockets bound but inactive: in
 * TCP_CLOSE with a local port (bind() without listen() or connect()), with
 * their network namespace's inode.
 *
 * Why: a sock_diag dump that asks for such sockets (state bit
 * TCP_BOUND_INACTIVE) walks the host-wide bind hash (bhash2, Linux 6.9+)
 * whatever the namespace asked, 36 ms at 100,000 bound sockets, so reading
 * 200 namespaces cost seconds.  These sockets are in no other table, but
 * each has a file descriptor: one walk over every descriptor of the host
 * finds them for every namespace at once, and each namespace is then dumped
 * without that bit (src/host/bound-bpf.c, node.c).  The test is the dump's
 * own: sk_state TCP_CLOSE and a local port (inet_num); the fields written
 * are the ones inet_diag fills in for them.
 *
 * Threads sharing their process's descriptor table are visited once (the
 * kernel's task_file iterator skips them); a socket open in several
 * descriptors or processes is written once per descriptor: the reader
 * deduplicates by inode.  A socket with no descriptor at all (passed in
 * flight over a unix socket, or held by io_uring's fixed files only) is not
 * seen: bound-bpf.c says so.
 *
 * The kernel types are kernel-sock.h's (CO-RE: relocated by the kernel
 * against its own BTF when the program is loaded, no vmlinux.h). */
#include "ep-bpf.h"
#include "bound-abi.h"
#include "kernel-sock.h"

struct seq_file;

struct bpf_iter_meta {
    struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
    struct bpf_iter_meta *meta;
    __u32 fd;
    struct file *file;
} __attribute__((preserve_access_index));

enum {
    EP_AF_INET = 2,
    EP_AF_INET6 = 10,
    EP_SOCK_STREAM = 1,
    EP_IPPROTO_TCP = 6,
    EP_TCP_CLOSE = 7,
};

SEC("iter/task_file")
int ep_bound_sockets(struct bpf_iter__task_file *ctx)
{
    struct seq_file *seq = ctx->meta->seq;
    struct file *file = ctx->file;
    struct ep_bound_rec rec;
    struct socket *sock;
    struct sock *sk;

    if (!file)
        return 0;                 /* the last call, after every file */
    sock = bpf_sock_from_file(file);
    if (!sock)
        return 0;
    sk = BPF_CORE_READ(sock, sk);
    if (!sk)
        return 0;
    if (BPF_CORE_READ(sk, sk_protocol) != EP_IPPROTO_TCP ||
        BPF_CORE_READ(sk, sk_type) != EP_SOCK_STREAM ||
        BPF_CORE_READ(sk, __sk_common.skc_state) != EP_TCP_CLOSE ||
        BPF_CORE_READ(sk, __sk_common.skc_num) == 0)
        return 0;
    __builtin_memset(&rec, 0, sizeof rec);
    rec.family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (rec.family == EP_AF_INET) {
        bpf_core_read(rec.src, 4, &sk->__sk_common.skc_rcv_saddr);
        bpf_core_read(rec.dst, 4, &sk->__sk_common.skc_daddr);
    } else if (rec.family == EP_AF_INET6) {
        bpf_core_read(rec.src, 16, &sk->__sk_common.skc_v6_rcv_saddr);
        bpf_core_read(rec.dst, 16, &sk->__sk_common.skc_v6_daddr);
    } else {
        return 0;
    }
    rec.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
    rec.inode = BPF_CORE_READ(file, f_inode, i_ino);
    rec.sport = BPF_CORE_READ((struct inet_sock *)sk, inet_sport);
    if (!rec.sport)
        return 0;                 /* caught inside bind(), between inet_num
                                     and inet_sport: a dump would report
                                     port 0, which no range holds */
    rec.dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
    rec.state = EP_TCP_CLOSE;
    bpf_seq_write(seq, &rec, sizeof rec);
    return 0;
}

/* GPL-compatible (bpf_seq_write is GPL-only); the source stays MIT. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
