/* ephport/rss.h - the Toeplitz hash of Receive Side Scaling, and port
 * choice that makes a connection's replies land on a given receive queue.
 *
 * A NIC with RSS hashes every received packet with the Toeplitz function
 * under a secret key (Microsoft, "RSS Hashing Functions"): the input is the
 * packet's source address, destination address, and for TCP/UDP its source
 * port and destination port, in that order, in network byte order.  The low
 * bits of the hash index the indirection table (RETA), whose entry names
 * the receive queue.  For a connection we open, a reply's source is the
 * remote end and its destination is us: the queue of our connection is
 *   reta[hash(remote, local, remote port, local port) & (reta_size - 1)].
 *
 * The hash functions below are pure (no pool, no state).  ep_pool_set_rss
 * gives a pool the NIC's key and table; ep_pool_connect_rss then chooses,
 * uniformly, among the ports free towards the destination whose replies
 * select the caller's queue (docs/ENGINE.md, "RSS-aware port choice").
 *
 * Errors are negative errno values (see ephport/error.h).
 */
#ifndef EPHPORT_RSS_H
#define EPHPORT_RSS_H

#include <ephport/api.h>

#include <stddef.h>
#include <stdint.h>

#include <ephport/addr.h>
#include <ephport/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The key Microsoft's verification suite and most drivers use by default
 * (40 bytes). */
extern EP_API const uint8_t ep_rss_default_key[40];

/* Limits of an ep_rss_config. */
#define EP_RSS_KEY_MIN 40       /* covers the IPv6 input (36 bytes) + 4 */
#define EP_RSS_KEY_MAX 256
#define EP_RSS_RETA_MAX 65536

/* The Toeplitz hash of data[0..len) under key: for each input bit set,
 * from the most significant bit of data[0] on, XOR in the 32 key bits that
 * start at that bit's position.  -EINVAL unless key_len >= len + 4 (the
 * window of the last input bit must lie inside the key), or a pointer is
 * NULL with a non-zero length. */
EP_API int ep_toeplitz_hash(const uint8_t *key, size_t key_len, const void *data, size_t len,
                     uint32_t *out);

/* The RSS hash of a packet from src to dst: addresses only ("IPv4" /
 * "IPv6" hash types: 8 or 32 input bytes) ... */
EP_API int ep_rss_hash_addrs(const uint8_t *key, size_t key_len, const ep_addr *src,
                      const ep_addr *dst, uint32_t *out);
/* ... and with the ports ("TCP_IPV4" / "TCP_IPV6": 12 or 36 bytes).
 * -EINVAL for families that differ or are neither AF_INET nor AF_INET6, or
 * a key too short for the input. */
EP_API int ep_rss_hash_ports(const uint8_t *key, size_t key_len, const ep_addr *src, uint16_t sport,
                      const ep_addr *dst, uint16_t dport, uint32_t *out);

/* A NIC's RSS configuration, as ethtool -x shows it. */
typedef struct ep_rss_config {
    const uint8_t *key;         /* the hash key */
    size_t key_len;             /* EP_RSS_KEY_MIN .. EP_RSS_KEY_MAX bytes */
    const uint16_t *reta;       /* indirection table: entry -> queue */
    uint32_t reta_size;         /* a power of two, 1 .. EP_RSS_RETA_MAX; the
                                   hash's low log2(reta_size) bits index it */
} ep_rss_config;

/* Give the pool a NIC's RSS configuration (copied), replacing any earlier
 * one; cfg NULL removes it.  -EINVAL for a NULL key or table, a key length
 * outside the limits, or a table size that is not a power of two in range;
 * -ENOMEM (the pool keeps its previous configuration).  Memory: about
 * 0.5 MiB per address family, built when first used. */
EP_API int ep_pool_set_rss(ep_pool *pool, const ep_rss_config *cfg);

/* ep_pool_connect (or with ref non-NULL ep_pool_connect_ref) choosing only
 * among local ports whose reply-direction hash selects `queue`: uniform
 * over the ports free towards the destination that belong to the queue,
 * and, with the local address left to the pool, over the free (address,
 * port) pairs of the queue.  Same inputs, outputs and errors as
 * ep_pool_connect, and: -EINVAL if the pool has no RSS configuration or
 * `queue` is in no entry of its table; -EADDRNOTAVAIL (counted as
 * exhaustion) when no port of that queue is free towards the destination,
 * even if ports of other queues are. */
EP_API int ep_pool_connect_rss(ep_pool *pool, ep_tuple *t, uint16_t queue, uint32_t owner,
                        ep_time now, ep_conn_ref *ref);

#ifdef __cplusplus
}
#endif
#endif
