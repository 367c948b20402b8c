/* natproto.c - the protocol names a NAT log and whois accept: the three
 * whose port (or ICMP echo identifier) space NAT port blocks divide. */
#include <string.h>

#include <ephport/nat.h>

int ep_nat_proto_parse(const char *text, uint8_t *out)
{
    if (!text || !out)
        return EP_EINVAL;
    if (strcmp(text, "tcp") == 0)
        *out = 6;
    else if (strcmp(text, "udp") == 0)
        *out = 17;
    else if (strcmp(text, "icmp") == 0)
        *out = 1;
    else
        return EP_EINVAL;
    return 0;
}

const char *ep_nat_proto_name(uint8_t proto)
{
    switch (proto) {
    case 6:
        return "tcp";
    case 17:
        return "udp";
    case 1:
        return "icmp";
    default:
        return NULL;
    }
}
