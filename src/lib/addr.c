/* addr.c - ep_addr: parsing, printing and comparing IPv4/IPv6 addresses. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/addr.h>
#include <ephport/error.h>

int ep_addr_parse(const char *text, ep_addr *out)
{
    char buf[EP_ADDR_STRLEN + 2];
    size_t n;

    if (!text || !out)
        return EP_EINVAL;
    n = strlen(text);
    if (n == 0 || n >= sizeof buf)
        return EP_EINVAL;
    if (text[0] == '[') {
        if (n < 3 || text[n - 1] != ']')
            return EP_EINVAL;
        memcpy(buf, text + 1, n - 2);
        buf[n - 2] = '\0';
    } else {
        memcpy(buf, text, n + 1);
    }
    memset(out, 0, sizeof *out);
    if (text[0] != '[' && inet_pton(AF_INET, buf, &out->u.v4) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &out->u.v6) == 1) {
        out->family = AF_INET6;
        return 0;
    }
    memset(out, 0, sizeof *out);
    return EP_EINVAL;
}

int ep_addr_format(const ep_addr *a, char *buf, size_t len)
{
    char tmp[EP_ADDR_STRLEN];

    if (!a || !buf || (a->family != AF_INET && a->family != AF_INET6))
        return EP_EINVAL;
    if (!inet_ntop(a->family, a->u.bytes, tmp, sizeof tmp))
        return EP_EINVAL;
    if (strlen(tmp) + 1 > len)
        return EP_ENOSPC;
    memcpy(buf, tmp, strlen(tmp) + 1);
    return 0;
}

int ep_addr_from_bytes(int family, const void *bytes, ep_addr *out)
{
    if (!bytes || !out || (family != AF_INET && family != AF_INET6))
        return EP_EINVAL;
    memset(out, 0, sizeof *out);
    out->family = (uint8_t)family;
    memcpy(out->u.bytes, bytes, family == AF_INET ? 4 : 16);
    return 0;
}

bool ep_addr_equal(const ep_addr *a, const ep_addr *b)
{
    return a->family == b->family && memcmp(a->u.bytes, b->u.bytes, 16) == 0;
}

bool ep_addr_is_wildcard(const ep_addr *a)
{
    static const uint8_t zero[16];
    return a->family == 0 || memcmp(a->u.bytes, zero, 16) == 0;
}
