/* sticky.bpf.c - a BPF iterator over every TCP socket of a network
 * namespace that reports the sticky ports: the local ports of sockets that
 * did not get their port from connect()'s autobind.
 *
 * Since Linux 6.18 ("tcp: Update bind bucket state on port release") the
 * kernel marks a socket autobound by __inet_hash_connect with
 * SOCK_CONNECT_BIND in sk_userlocks and copies the mark into its TIME_WAIT
 * (tw_connect_bind); a bind bucket is skipped by every connect() while it
 * holds a socket without the mark (bound explicitly, listening, accepted
 * from a listener, or their TIME_WAIT).  The tcp iterator walks the
 * listening hash and the established hash (TIME_WAIT and request sockets
 * included) of the namespace it was created in; bound-only sockets are in
 * neither, but sock_diag shows them and they are sticky by definition.
 * Request sockets (TCP_NEW_SYN_RECV) hold no bucket and are skipped.
 *
 * The kernel types are kernel-sock.h's, and here the time-wait and
 * iterator types only this program reads: every access is relocated
 * against the running kernel's BTF when the program is loaded (CO-RE), so
 * no vmlinux.h of the build machine is needed.
 * When the running kernel has no tw_connect_bind, the program writes the
 * marker EP_STICKY_NO_MARKS and nothing else. */
#include "ep-bpf.h"
#include "kernel-sock.h"
#include "sticky-abi.h"

struct seq_file;

struct bpf_iter_meta {
    struct seq_file *seq;
    __u64 session_id;
    __u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__tcp {
    struct bpf_iter_meta *meta;
    struct sock_common *sk_common;
    __u32 uid;
} __attribute__((preserve_access_index));

struct inet_connection_sock {
    struct inet_sock icsk_inet;
} __attribute__((preserve_access_index));

struct tcp_sock {
    struct inet_connection_sock inet_conn;
} __attribute__((preserve_access_index));

struct inet_timewait_sock {
    struct sock_common __tw_common;
    unsigned int tw_connect_bind : 1;
} __attribute__((preserve_access_index));

struct tcp_timewait_sock {
    struct inet_timewait_sock tw_sk;
} __attribute__((preserve_access_index));

enum {
    EP_TCP_TIME_WAIT = 6,
    EP_TCP_LISTEN = 10,
    EP_TCP_NEW_SYN_RECV = 12,
};

const volatile struct ep_sticky_cfg ep_cfg = { 1, 65535 };

/* Ports already written: the iterator shows each socket once, but many
 * sockets share a port. */
__u64 ep_written[65536 / 64];

/* Write port once; a write the seq buffer had no room for is retried when
 * the kernel shows the same socket again at the next read(). */
static __always_inline void ep_report(struct seq_file *seq, __u16 port)
{
    __u32 word = port >> 6;
    __u64 bit = 1ULL << (port & 63);

    if (ep_written[word] & bit)
        return;
    if (bpf_seq_write(seq, &port, sizeof port) == 0)
        ep_written[word] |= bit;
}

SEC("iter/tcp")
int ep_sticky_ports(struct bpf_iter__tcp *ctx)
{
    struct seq_file *seq = ctx->meta->seq;
    struct sock_common *skc = ctx->sk_common;
    __u16 port;
    __u8 state;

    if (!bpf_core_field_exists(struct inet_timewait_sock, tw_connect_bind)) {
        ep_report(seq, EP_STICKY_NO_MARKS);
        return 0;
    }
    if (!skc)
        return 0;                 /* the last call, after every socket */
    state = skc->skc_state;
    port = skc->skc_num;
    if (state == EP_TCP_NEW_SYN_RECV || port < ep_cfg.lo || port > ep_cfg.hi)
        return 0;
    if (state == EP_TCP_TIME_WAIT) {
        struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(skc);
        if (tw && !BPF_CORE_READ_BITFIELD_PROBED(&tw->tw_sk, tw_connect_bind))
            ep_report(seq, port);
    } else if (state == EP_TCP_LISTEN) {
        ep_report(seq, port);
    } else {
        struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
        if (tp && !(tp->inet_conn.icsk_inet.sk.sk_userlocks & EP_SOCK_CONNECT_BIND))
            ep_report(seq, port);
    }
    return 0;
}

/* GPL-compatible (bpf_seq_write is GPL-only); the source stays MIT. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
