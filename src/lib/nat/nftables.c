/* nftables.c - an `nft -f` ruleset that makes a Linux router do what a
 * deterministic plan says, and behave as RFC 4787 / 5382 / 6888 ask where
 * nftables can express it.
 *
 * Translation: one map from inside address to "external address . port
 * block" and one rule per protocol, rather than a rule per subscriber: the
 * kernel looks the subscriber up in a set however many there are.  nft
 * 1.0.6 accepts an interval in map data when the map is declared `type
 * ipv4_addr : interval ipv4_addr . inet_service`; `snat ip to ip saddr map
 * @m` then picks the address and port range.  ICMP is included: for ICMP
 * echo the kernel's NAT treats the identifier as the port, so the same block
 * bounds the identifiers.  Other protocols are not translated.
 *
 * The RFC behaviour, each part a small piece of the table (the requirement
 * table in ephport-nat(1) says what is met and what is not, and why):
 *
 *  - Timeouts (RFC 4787 REQ-5, RFC 5382 REQ-5): `ct timeout` objects, UDP
 *    300 s whether replied or not (the kernel default forgets an unreplied
 *    or short-lived UDP mapping after 30 s), TCP established 2 h 4 min and
 *    the partly open and closing states 4 min.  They are attached by a
 *    filter chain in postrouting just after the srcnat chain, to new
 *    connections the NAT translated into one of our external addresses
 *    (`ct status snat`, reply destination in @external) and nothing else.
 *    The chain must run after conntrack made the entry and before it is
 *    confirmed: `ct timeout set` does nothing in a raw-priority chain
 *    (measured on Linux 6.18: no entry yet).  DNS (UDP to port 53) keeps
 *    the kernel's timeouts, as REQ-5a allows, so lookups do not hold block
 *    ports for 5 minutes.
 *  - Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): a subscriber's packet to
 *    an external address and a port of some block is DNAT'ed to that
 *    block's owner, port unchanged; the srcnat chain then translates the
 *    sender into its own block, so the owner sees the sender's external
 *    address and port.  nftables cannot look a conntrack entry up by its
 *    reply tuple, so the packet reaches the owner at the external port
 *    number: it arrives where the owner's mapping kept its port (the kernel
 *    keeps a source port that lies inside the block and is free), not
 *    where the kernel chose another port.  Only subscribers' packets are
 *    redirected; from outside, only replies come in.
 *  - Full block (RFC 6888 REQ-11): the kernel's SNAT drops a packet it
 *    finds no free port for, silently.  Linux NAT needs a distinct external
 *    port only per (subscriber, destination address, protocol, destination
 *    port), so a block of B ports is full for that destination exactly when
 *    B connections of it exist; `ct count over B` on that key in a dynamic
 *    set, in the forward chain (after DNAT, before SNAT), rejects the next
 *    one with ICMP host unreachable instead (ICMP echo: key subscriber and
 *    destination, the identifier being the port).  Both count TIME_WAIT and
 *    closed TCP entries as free, like the kernel's NAT, which reuses their
 *    ports.
 *
 * The file first creates and deletes the table, so loading it replaces a
 * previous ruleset atomically (nft applies a file as one transaction).
 */
#include <stdio.h>
#include <string.h>

#include <ephport/nat.h>

/* The timeouts (seconds).  RFC 4787 REQ-5: a UDP mapping lives at least
 * 120 s, 300 s or more recommended (REQ-5c).  RFC 5382 REQ-5: established
 * TCP at least 2 h 4 min, transitory (partly open or closing) at least
 * 4 min. */
#define NFT_UDP_TIMEOUT 300
#define NFT_TCP_ESTABLISHED 7440
#define NFT_TCP_TRANSITORY 240

static int write_elements(const ep_nat_plan *plan, const ep_nat_plan_info *info, FILE *f,
                          bool by_port)
{
    for (uint64_t i = 0; i < info->subscribers; i++) {
        ep_nat_mapping m;
        char in[EP_ADDR_STRLEN], ext[EP_ADDR_STRLEN];
        const char *sep = i + 1 < info->subscribers ? "," : "";
        if (ep_nat_plan_at(plan, i, &m) != 0 || ep_addr_format(&m.inside, in, sizeof in) != 0 ||
            ep_addr_format(&m.ext, ext, sizeof ext) != 0)
            return EP_EINVAL;
        /* always LO-HI: nft rejects a bare port in interval map data */
        if (by_port)
            fprintf(f, "\t\t\t%s . %u-%u : %s%s\n", ext, m.port_lo, m.port_hi, in, sep);
        else
            fprintf(f, "\t\t\t%s : %s . %u-%u%s\n", in, ext, m.port_lo, m.port_hi, sep);
    }
    return 0;
}

/* The external addresses in use: subscriber i has address i mod M, so the
 * first min(N, M) subscribers name each used address once. */
static int write_external(const ep_nat_plan *plan, const ep_nat_plan_info *info, FILE *f)
{
    uint64_t n = info->subscribers < info->ext_addrs ? info->subscribers : info->ext_addrs;
    for (uint64_t i = 0; i < n; i++) {
        ep_nat_mapping m;
        char ext[EP_ADDR_STRLEN];
        if (ep_nat_plan_at(plan, i, &m) != 0 || ep_addr_format(&m.ext, ext, sizeof ext) != 0)
            return EP_EINVAL;
        fprintf(f, "%s%s", i ? ", " : "", ext);
    }
    return 0;
}

int ep_nat_plan_write_nft(const ep_nat_plan *plan, FILE *f)
{
    ep_nat_plan_info info;
    char desc[512];
    int dlen, rc;

    if (!plan || !f)
        return EP_EINVAL;
    ep_nat_plan_get_info(plan, &info);
    if (info.subscribers == 0)
        return EP_EINVAL;   /* a plan always has a subscriber; nft refuses empty elements */
    dlen = ep_nat_plan_describe(plan, desc, sizeof desc);
    fprintf(f, "#!/usr/sbin/nft -f\n"
               "# ephport nat plan: %llu subscribers, %llu external addresses, "
               "%u ports each (ratio %u)\n",
            (unsigned long long)info.subscribers, (unsigned long long)info.ext_addrs,
            info.block_size, info.blocks_per_addr);
    if (dlen >= 0 && (size_t)dlen < sizeof desc)
        fprintf(f, "# %s\n", desc);
    fprintf(f, "# RFC 4787/5382/6888: see ephport-nat(1), REQUIREMENTS\n"
               "table ip ephport_nat\n"
               "delete table ip ephport_nat\n"
               "table ip ephport_nat {\n"
               "\t# RFC 4787 REQ-5 (UDP), RFC 5382 REQ-5 (TCP)\n"
               "\tct timeout udp_mapping {\n"
               "\t\tprotocol udp; l3proto ip\n"
               "\t\tpolicy = { unreplied : %d, replied : %d }\n"
               "\t}\n"
               "\tct timeout tcp_mapping {\n"
               "\t\tprotocol tcp; l3proto ip\n"
               "\t\tpolicy = { established : %d, syn_sent : %d, syn_recv : %d, fin_wait : %d, "
               "close_wait : %d, last_ack : %d, time_wait : %d }\n"
               "\t}\n"
               "\n"
               "\tmap subscriber_block {\n"
               "\t\ttype ipv4_addr : interval ipv4_addr . inet_service\n"
               "\t\tflags interval\n"
               "\t\telements = {\n",
            NFT_UDP_TIMEOUT, NFT_UDP_TIMEOUT, NFT_TCP_ESTABLISHED, NFT_TCP_TRANSITORY,
            NFT_TCP_TRANSITORY, NFT_TCP_TRANSITORY, NFT_TCP_TRANSITORY, NFT_TCP_TRANSITORY,
            NFT_TCP_TRANSITORY);
    if ((rc = write_elements(plan, &info, f, false)) != 0)
        return rc;
    fprintf(f, "\t\t}\n"
               "\t}\n"
               "\n"
               "\t# hairpinning: external address . port -> the block's owner\n"
               "\tmap block_owner {\n"
               "\t\ttype ipv4_addr . inet_service : ipv4_addr\n"
               "\t\tflags interval\n"
               "\t\telements = {\n");
    if ((rc = write_elements(plan, &info, f, true)) != 0)
        return rc;
    fprintf(f, "\t\t}\n"
               "\t}\n"
               "\n"
               "\tset external {\n"
               "\t\ttype ipv4_addr\n"
               "\t\telements = { ");
    if ((rc = write_external(plan, &info, f)) != 0)
        return rc;
    fprintf(f, " }\n"
               "\t}\n"
               "\n"
               "\t# connections per subscriber and destination (RFC 6888 REQ-11)\n"
               "\tset block_use {\n"
               "\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n"
               "\t\tflags dynamic\n"
               "\t}\n"
               "\tset echo_use {\n"
               "\t\ttype ipv4_addr . ipv4_addr\n"
               "\t\tflags dynamic\n"
               "\t}\n"
               "\n"
               "\tchain prerouting {\n"
               "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
               "\t\tip saddr @subscriber_block meta l4proto { tcp, udp } "
               "dnat ip to ip daddr . th dport map @block_owner\n"
               "\t}\n"
               "\n"
               "\tchain forward {\n"
               "\t\ttype filter hook forward priority filter; policy accept;\n"
               "\t\tct state new ip saddr @subscriber_block meta l4proto { tcp, udp } "
               "add @block_use { ip saddr . ip daddr . meta l4proto . th dport ct count over %u } "
               "reject with icmp type host-unreachable\n"
               "\t\tct state new ip saddr @subscriber_block icmp type echo-request "
               "add @echo_use { ip saddr . ip daddr ct count over %u } "
               "reject with icmp type host-unreachable\n"
               "\t}\n"
               "\n"
               "\tchain postrouting {\n"
               "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
               "\t\tmeta l4proto { tcp, udp } snat ip to ip saddr map @subscriber_block\n"
               "\t\tmeta l4proto icmp snat ip to ip saddr map @subscriber_block\n"
               "\t}\n"
               "\n"
               "\tchain timeouts {\n"
               "\t\ttype filter hook postrouting priority srcnat + 1; policy accept;\n"
               "\t\tct status snat ct reply ip daddr @external udp dport != 53 "
               "ct timeout set \"udp_mapping\"\n"
               "\t\tct status snat ct reply ip daddr @external meta l4proto tcp "
               "ct timeout set \"tcp_mapping\"\n"
               "\t}\n"
               "}\n",
            info.block_size, info.block_size);
    return fflush(f) == 0 && !ferror(f) ? 0 : EP_EIO;
}
