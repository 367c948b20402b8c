/* natlog_record.c - what makes one port-block record valid, and its
 * checksum: the rules every log backend stores and checks the same way.
 *
 * A record is valid when its addresses are IPv4 or IPv6, the protocol is
 * TCP, UDP or ICMP, port_lo <= port_hi, start >= 0 and end > start (end
 * EP_NATLOG_OPEN_END while the block is held).  The SQLite log states the
 * same rules as CHECK constraints, but those only guard writes: a bit that
 * flips on disk later is caught by the checksum, which whois, export and
 * check recompute for every record they read.
 *
 * The checksum is 64-bit FNV-1a over a fixed-length canonical form of the
 * record (a domain string, then each field at a fixed width, big-endian).
 * Each FNV-1a step (xor a byte, multiply by an odd constant mod 2^64) is a
 * bijection of the state, so two inputs of the same length that differ in
 * exactly one byte always give different sums: any single-byte damage to a
 * field is detected with certainty, wider damage with probability 1 - 2^-64.
 * It detects accidents, not forgery: anyone who can write the file can
 * recompute it (a keyed MAC would need key management the log does not have).
 */
#include <string.h>
#include <sys/socket.h>

#include <ephport/natlog.h>

#define EP_FNV64_OFFSET 0xcbf29ce484222325ull
#define EP_FNV64_PRIME 0x100000001b3ull

static uint64_t ep_fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= EP_FNV64_PRIME;
    }
    return h;
}

static uint64_t ep_fnv1a_be(uint64_t h, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    return ep_fnv1a(h, b, (size_t)bytes);
}

static uint64_t ep_fnv1a_addr(uint64_t h, const ep_addr *a)
{
    uint8_t fam = a->family == AF_INET ? 4 : a->family == AF_INET6 ? 6 : 0;
    h = ep_fnv1a(h, &fam, 1);
    return ep_fnv1a(h, a->u.bytes, 16);
}

uint64_t ep_natlog_record_sum(const ep_natlog_record *r)
{
    static const char domain[] = "ephport-natlog-record 2";
    uint64_t h = ep_fnv1a(EP_FNV64_OFFSET, domain, sizeof domain);
    h = ep_fnv1a_addr(h, &r->subscriber);
    h = ep_fnv1a_addr(h, &r->ext);
    h = ep_fnv1a_be(h, r->proto, 1);
    h = ep_fnv1a_be(h, r->port_lo, 2);
    h = ep_fnv1a_be(h, r->port_hi, 2);
    h = ep_fnv1a_be(h, (uint64_t)r->start, 8);
    return ep_fnv1a_be(h, (uint64_t)r->end, 8);
}

static bool ep_natlog_addr_ok(const ep_addr *a)
{
    static const uint8_t zero[12];
    if (a->family == AF_INET6)
        return true;
    return a->family == AF_INET && memcmp(a->u.bytes + 4, zero, sizeof zero) == 0;
}

const char *ep_natlog_record_invalid(const ep_natlog_record *r)
{
    if (!ep_natlog_addr_ok(&r->subscriber))
        return "the subscriber is not an IPv4 or IPv6 address";
    if (!ep_natlog_addr_ok(&r->ext))
        return "the external address is not an IPv4 or IPv6 address";
    if (r->proto != 6 && r->proto != 17 && r->proto != 1)
        return "the protocol is not tcp, udp or icmp";
    if (r->port_lo > r->port_hi)
        return "port_hi is below port_lo";
    if (r->start < 0)
        return "start is before 1970";
    if (r->end <= r->start)
        return "the block ends before it starts";
    return NULL;
}
