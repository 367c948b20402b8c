/* toeplitz.c - the Toeplitz hash of RSS (ephport/rss.h), pure functions.
 *
 * Written from Microsoft's definition ("RSS Hashing Functions"): the
 * result starts at 0 and, for every input bit that is set, from the left,
 * takes the XOR of the 32-bit window of the key that starts at that bit.
 * That makes the hash linear over GF(2) in its input, which is what
 * rss.c builds on: hash(x ^ y) = hash(x) ^ hash(y) for inputs of one
 * length.
 *
 * This is the reference form, a loop over the bits (about 300 steps for an
 * IPv6 tuple); the engine's hot path uses per-byte tables derived from the
 * same windows (rss.c).  ep_toeplitz_window is shared with it. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/rss.h>

#include "toeplitz.h"

const uint8_t ep_rss_default_key[40] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
    0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
    0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
    0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

uint32_t ep_toeplitz_window(const uint8_t *key, size_t key_len, size_t bit)
{
    uint64_t w = 0;
    size_t byte = bit / 8;

    for (size_t i = 0; i < 5; i++)
        w = w << 8 | (byte + i < key_len ? key[byte + i] : 0);
    return (uint32_t)(w >> (8 - bit % 8));
}

int ep_toeplitz_hash(const uint8_t *key, size_t key_len, const void *data, size_t len,
                     uint32_t *out)
{
    const uint8_t *in = data;
    uint32_t h = 0;

    if (!out || (!key && key_len) || (!data && len) || key_len < len + 4)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        for (int b = 0; b < 8; b++)
            if (in[i] & (0x80u >> b))
                h ^= ep_toeplitz_window(key, key_len, i * 8 + (size_t)b);
    *out = h;
    return 0;
}

/* The input of a packet from src to dst: source address, destination
 * address, then (ports) source port and destination port, big-endian. */
static int ep_rss_input(const ep_addr *src, const ep_addr *dst, bool ports, uint16_t sport,
                        uint16_t dport, uint8_t buf[EP_RSS_INPUT_MAX], size_t *len)
{
    size_t alen;

    if (!src || !dst || src->family != dst->family)
        return -EINVAL;
    if (src->family == AF_INET)
        alen = 4;
    else if (src->family == AF_INET6)
        alen = 16;
    else
        return -EINVAL;
    memcpy(buf, src->u.bytes, alen);
    memcpy(buf + alen, dst->u.bytes, alen);
    *len = 2 * alen;
    if (ports) {
        buf[*len] = (uint8_t)(sport >> 8);
        buf[*len + 1] = (uint8_t)sport;
        buf[*len + 2] = (uint8_t)(dport >> 8);
        buf[*len + 3] = (uint8_t)dport;
        *len += 4;
    }
    return 0;
}

int ep_rss_hash_addrs(const uint8_t *key, size_t key_len, const ep_addr *src,
                      const ep_addr *dst, uint32_t *out)
{
    uint8_t buf[EP_RSS_INPUT_MAX];
    size_t len;
    int rc = ep_rss_input(src, dst, false, 0, 0, buf, &len);
    return rc < 0 ? rc : ep_toeplitz_hash(key, key_len, buf, len, out);
}

int ep_rss_hash_ports(const uint8_t *key, size_t key_len, const ep_addr *src, uint16_t sport,
                      const ep_addr *dst, uint16_t dport, uint32_t *out)
{
    uint8_t buf[EP_RSS_INPUT_MAX];
    size_t len;
    int rc = ep_rss_input(src, dst, true, sport, dport, buf, &len);
    return rc < 0 ? rc : ep_toeplitz_hash(key, key_len, buf, len, out);
}
