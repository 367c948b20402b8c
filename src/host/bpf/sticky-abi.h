/* sticky-abi.h - what sticky.bpf.c and sticky-bpf.c agree on: the
 * iterator's configuration (its read-only data) and its output records.
 * Included by both the BPF program (clang -target bpf) and the library, so
 * it uses only fixed-width types each side defines. */
#ifndef EP_STICKY_ABI_H
#define EP_STICKY_ABI_H

/* The whole .rodata of sticky.bpf.c: the loader sets it before loading. */
struct ep_sticky_cfg {
    __u16 lo, hi;                 /* report local ports in [lo, hi] only */
};

/* The iterator writes one __u16 per port, host byte order, each port once:
 * a port in [lo, hi] held by a TCP socket that did not get it from
 * connect()'s autobind.  lo >= 1, so port 0 never occurs as such and is
 * the marker EP_STICKY_NO_MARKS instead: the running kernel does not mark
 * connect-autobound sockets (no tw_connect_bind: before Linux 6.18), so
 * sockets alone cannot tell which ports are sticky. */
#define EP_STICKY_NO_MARKS 0

/* sk_userlocks bit of a socket autobound by connect() (include/net/sock.h,
 * Linux 6.18). */
#define EP_SOCK_CONNECT_BIND 16

#endif
