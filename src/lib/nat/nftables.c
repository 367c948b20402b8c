/* nftables.c - an `nft -f` ruleset that makes a Linux router do what a
 * deterministic plan says.
 *
 * One map from inside address to "external address . port block" and one
 * rule per protocol, rather than a rule per subscriber: the kernel looks
 * the subscriber up in a set (O(1)-ish) however many there are.  nft 1.0.6
 * accepts an interval in map data when the map is declared
 * `type ipv4_addr : interval ipv4_addr . inet_service`; `snat ip to ip
 * saddr map @m` then picks the address and port range.  ICMP is included:
 * for ICMP echo the kernel's NAT treats the identifier as the port, so the
 * same block bounds the identifiers.  Other protocols are not translated.
 *
 * The file first creates and deletes the table, so loading it replaces a
 * previous ruleset atomically (nft applies a file as one transaction).
 */
#include <stdio.h>

#include <ephport/nat.h>

int ep_nat_plan_write_nft(const ep_nat_plan *plan, FILE *f)
{
    ep_nat_plan_info info;
    char desc[512];
    int dlen;

    if (!plan || !f)
        return EP_EINVAL;
    ep_nat_plan_get_info(plan, &info);
    dlen = ep_nat_plan_describe(plan, desc, sizeof desc);
    fprintf(f, "#!/usr/sbin/nft -f\n"
               "# ephport nat plan: %llu subscribers, %llu external addresses, "
               "%u ports each (ratio %u)\n",
            (unsigned long long)info.subscribers, (unsigned long long)info.ext_addrs,
            info.block_size, info.blocks_per_addr);
    if (dlen >= 0 && (size_t)dlen < sizeof desc)
        fprintf(f, "# %s\n", desc);
    fprintf(f, "table ip ephport_nat\n"
               "delete table ip ephport_nat\n"
               "table ip ephport_nat {\n"
               "\tmap subscriber_block {\n"
               "\t\ttype ipv4_addr : interval ipv4_addr . inet_service\n"
               "\t\tflags interval\n"
               "\t\telements = {\n");
    for (uint64_t i = 0; i < info.subscribers; i++) {
        ep_nat_mapping m;
        char in[EP_ADDR_STRLEN], ext[EP_ADDR_STRLEN];
        if (ep_nat_plan_at(plan, i, &m) != 0 || ep_addr_format(&m.inside, in, sizeof in) != 0 ||
            ep_addr_format(&m.ext, ext, sizeof ext) != 0)
            return EP_EINVAL;
        /* always LO-HI: nft rejects a bare port in interval map data */
        fprintf(f, "\t\t\t%s : %s . %u-%u%s\n", in, ext, m.port_lo, m.port_hi,
                i + 1 < info.subscribers ? "," : "");
    }
    fprintf(f, "\t\t}\n"
               "\t}\n"
               "\n"
               "\tchain postrouting {\n"
               "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
               "\t\tmeta l4proto { tcp, udp } snat ip to ip saddr map @subscriber_block\n"
               "\t\tmeta l4proto icmp snat ip to ip saddr map @subscriber_block\n"
               "\t}\n"
               "}\n");
    return fflush(f) == 0 && !ferror(f) ? 0 : EP_EIO;
}
