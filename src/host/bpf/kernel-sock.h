/* kernel-sock.h - the kernel's socket, file and namespace types as
 * ephport's BPF programs read them: only the fields some program reads,
 * marked preserve_access_index, so that every access is relocated against
 * the running kernel's BTF when the program is loaded (CO-RE; the light
 * skeleton lets the kernel do it) and no vmlinux.h of the build machine is
 * needed.  A field declared here and not read costs nothing: only accesses
 * are relocated.  One copy for trace.bpf.c, bound.bpf.c, sticky.bpf.c and
 * ehash.bpf.c;
 * types only one program reads stay in it. */
#ifndef EP_BPF_KERNEL_SOCK_H
#define EP_BPF_KERNEL_SOCK_H

#include "ep-bpf.h"

struct in6_addr {
    __u8 u6_addr8[16];
};

struct ns_common {
    unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
    struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
    struct net *net;
} possible_net_t;

struct hlist_nulls_node {
    struct hlist_nulls_node *next;
} __attribute__((preserve_access_index));

struct socket;

struct sock_common {
    __be32 skc_daddr;
    __be32 skc_rcv_saddr;
    __be16 skc_dport;
    unsigned short skc_num;       /* local port, host order */
    unsigned short skc_family;
    volatile unsigned char skc_state;
    possible_net_t skc_net;
    struct in6_addr skc_v6_daddr;
    struct in6_addr skc_v6_rcv_saddr;
    struct hlist_nulls_node skc_nulls_node; /* its link in the established hash */
} __attribute__((preserve_access_index));

struct sock {
    struct sock_common __sk_common;
    __u16 sk_protocol;
    __u16 sk_type;
    __u8 sk_userlocks;
    int sk_err;
    struct socket *sk_socket;
    unsigned long sk_ino;         /* Linux 6.17+: its inode, 0 once orphaned */
} __attribute__((preserve_access_index));

struct inet_sock {
    struct sock sk;
    __be16 inet_sport;
} __attribute__((preserve_access_index));

struct inode {
    unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
    void *private_data;
    struct inode *f_inode;
} __attribute__((preserve_access_index));

struct socket {
    struct file *file;
    struct sock *sk;
} __attribute__((preserve_access_index));

#endif
