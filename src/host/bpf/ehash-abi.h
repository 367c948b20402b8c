/* ehash-abi.h - what ehash.bpf.c and ehash-bpf.c agree on: the record the
 * walk of the host-wide TCP established hash writes for each socket it
 * meets, and the records that describe the walk itself.  Included by both
 * the BPF program (clang -target bpf) and the library, so it uses only
 * fixed-width types each side defines. */
#ifndef EP_EHASH_ABI_H
#define EP_EHASH_ABI_H

/* At most this many sockets in one bucket's chain (the average is under
 * one); a longer chain fails the walk (EP_EHASH_FAIL). */
#define EP_EHASH_CHAIN_MAX 128

enum ep_ehash_kind {
    EP_EHASH_SOCK = 0,            /* a full socket (inode may be 0: orphaned) */
    EP_EHASH_TW = 1,              /* a TIME_WAIT socket (inet_timewait_sock) */
    EP_EHASH_REQ = 2,             /* a request socket (TCP_NEW_SYN_RECV) */
    EP_EHASH_INFO = 3,            /* first record: netns = the table owner's
                                     (init_net) inode, inode = the reader's
                                     tcp_keepalive_time in jiffies (HZ),
                                     timer = the number of buckets, flags =
                                     EP_EHASH_MARKS when the kernel marks
                                     connect()-autobound sockets */
    EP_EHASH_FAIL = 4,            /* the walk is not complete: timer = the
                                     bucket, state = why (enum below) */
};

enum ep_ehash_fail {
    EP_EHASH_FAIL_TABLE = 1,      /* the table could not be found or read */
    EP_EHASH_FAIL_CHAIN = 2,      /* a chain longer than EP_EHASH_CHAIN_MAX */
    EP_EHASH_FAIL_MOVED = 3,      /* a chain kept ending in another bucket
                                     (sockets moving while it was read) */
    EP_EHASH_FAIL_SIZE = 4,       /* a table of 2^31 buckets or more */
};

/* ep_ehash_rec.flags */
#define EP_EHASH_STICKY 1         /* a socket (not a request) whose port did
                                     not come from connect()'s autobind: no
                                     SOCK_CONNECT_BIND (tw_connect_bind),
                                     what sticky.bpf.c reads */
#define EP_EHASH_MARKS 2          /* INFO: the kernel has those marks (6.18) */
#define EP_EHASH_CONNECT_BIND 16  /* sk_userlocks' SOCK_CONNECT_BIND */

/* One socket of the established hash as inet_diag reports it: state as the
 * dump reports it (a TIME_WAIT socket's substate, TCP_SYN_RECV for a
 * request), addresses and ports in network byte order (an IPv4 address in
 * the first 4 bytes), the socket inode for a full socket. */
struct ep_ehash_rec {
    __u32 netns;                  /* its network namespace's inode */
    __u32 inode;                  /* full socket: its inode (0: none) */
    __u32 timer;                  /* TIME_WAIT: jiffies to its timer (>= 0) */
    __u8 src[16], dst[16];        /* local and remote address */
    __u8 family;                  /* AF_INET or AF_INET6 */
    __u8 flags;                   /* EP_EHASH_STICKY, EP_EHASH_MARKS */
    __be16 sport, dport;          /* local and remote port */
    __u8 state;                   /* as inet_diag reports it */
    __u8 kind;                    /* enum ep_ehash_kind */
};

/* The program's state for one call, one step (a bucket's head, a socket,
 * or a chain's end) per bpf_loop iteration: a flat loop body the verifier
 * checks once.  Here because it is in the program's global data, which
 * the light skeleton shows the reader. */
struct ep_walk {
    __u64 ehash;                  /* the bucket array */
    __u64 now;                    /* jiffies */
    __u64 node;                   /* the next node of the chain; 0: the
                                     bucket's head is to be read */
    __u32 b, end;                 /* this bucket; stop before end */
    __u32 room;                   /* records the seq buffer has room for */
    __u32 n, nstart;              /* records staged; at this bucket's start */
    __u32 chain, attempts;        /* this bucket: nodes read; reads again */
    __u32 done;                   /* buckets staged whole */
    __u32 full;                   /* the next bucket did not fit in room */
    __u32 fail, fail_bucket;
};

#endif
