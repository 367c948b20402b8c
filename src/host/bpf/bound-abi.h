/* bound-abi.h - what bound.bpf.c and bound-bpf.c agree on: the record the
 * iterator writes for each bound-but-inactive TCP socket it meets.
 * Included by both the BPF program (clang -target bpf) and the library, so
 * it uses only fixed-width types each side defines. */
#ifndef EP_BOUND_ABI_H
#define EP_BOUND_ABI_H

/* One file descriptor of a TCP socket in TCP_CLOSE with a local port (what
 * a sock_diag dump asking for TCP_BOUND_INACTIVE reports).  A socket open
 * in several descriptors or processes is written once for each: the reader
 * deduplicates by inode.  Addresses and ports as inet_diag reports them:
 * network byte order, an IPv4 address in the first 4 bytes. */
struct ep_bound_rec {
    __u64 netns;                  /* the socket's network namespace's inode */
    __u64 inode;                  /* the socket's inode (sockfs) */
    __u8 src[16], dst[16];        /* local and remote address */
    __u16 family;                 /* AF_INET or AF_INET6 */
    __be16 sport, dport;          /* local and remote port */
    __u8 state;                   /* the kernel's state: TCP_CLOSE (7) */
    __u8 pad;
};

#endif
