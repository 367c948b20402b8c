/* cidr.c - strict parsing and printing of IPv4/IPv6 CIDRs and CIDR lists,
 * containment and overlap.
 *
 * NAT plans are built from operator-typed lists, and a typo there silently
 * moves subscribers onto someone else's block.  So the parser refuses rather
 * than guesses: no white space, no leading zeros in the prefix, host bits
 * must be zero ("100.64.0.1/24" is an error that names 100.64.0.0/24), no
 * empty items, and no two items of one list may overlap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/nat.h>

static int ep_cidr_fail(ep_parse_error *err, size_t off, const char *fmt, const char *arg)
{
    if (err) {
        err->offset = off;
        snprintf(err->message, sizeof err->message, fmt, arg);
    }
    return EP_EINVAL;
}

static unsigned ep_cidr_max_prefix(const ep_addr *a)
{
    return a->family == AF_INET ? 32 : 128;
}

/* Is bit i (0 = most significant) of the address set? */
static bool ep_cidr_bit(const ep_addr *a, unsigned i)
{
    return (a->u.bytes[i / 8] >> (7 - i % 8)) & 1;
}

static void ep_cidr_mask(ep_addr *a, unsigned prefix)
{
    unsigned max = ep_cidr_max_prefix(a);
    for (unsigned i = prefix; i < max; i++)
        a->u.bytes[i / 8] &= (uint8_t)~(1u << (7 - i % 8));
}

int ep_cidr_parse(const char *text, ep_cidr *out, ep_parse_error *err)
{
    char buf[EP_CIDR_STRLEN + 8];
    const char *slash;
    size_t alen, n;
    unsigned prefix, max;
    ep_addr masked;

    if (!text || !out)
        return ep_cidr_fail(err, 0, "%s", "no CIDR given");
    n = strlen(text);
    if (n == 0)
        return ep_cidr_fail(err, 0, "%s", "empty CIDR");
    for (size_t i = 0; i < n; i++)
        if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')
            return ep_cidr_fail(err, i, "%s", "white space inside a CIDR");
    slash = strchr(text, '/');
    alen = slash ? (size_t)(slash - text) : n;
    if (alen == 0 || alen >= EP_ADDR_STRLEN)
        return ep_cidr_fail(err, 0, "'%.60s' is not an IPv4 or IPv6 address", text);
    memcpy(buf, text, alen);
    buf[alen] = '\0';
    memset(out, 0, sizeof *out);
    if (buf[0] == '[' || ep_addr_parse(buf, &out->addr) != 0)
        return ep_cidr_fail(err, 0, "'%.60s' is not an IPv4 or IPv6 address", buf);
    max = ep_cidr_max_prefix(&out->addr);
    if (!slash) {
        out->prefix = (uint8_t)max;
        return 0;
    }
    {
        const char *p = slash + 1;
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || p[digits] != '\0')
            return ep_cidr_fail(err, (size_t)(p - text), "prefix length '%.20s' is not a number", p);
        if (digits > 1 && p[0] == '0')
            return ep_cidr_fail(err, (size_t)(p - text), "prefix length '%.20s' has a leading zero", p);
        if (digits > 3)
            return ep_cidr_fail(err, (size_t)(p - text), "prefix length '%.20s' is too long", p);
        prefix = (unsigned)atoi(p);
        if (prefix > max) {
            if (err) {
                err->offset = (size_t)(p - text);
                snprintf(err->message, sizeof err->message,
                         "prefix length %u is above %u for an IPv%c address", prefix, max,
                         max == 32 ? '4' : '6');
            }
            return EP_EINVAL;
        }
    }
    masked = out->addr;
    ep_cidr_mask(&masked, prefix);
    if (!ep_addr_equal(&masked, &out->addr)) {
        char net[EP_ADDR_STRLEN];
        if (err) {
            ep_addr_format(&masked, net, sizeof net);
            err->offset = 0;
            snprintf(err->message, sizeof err->message,
                     "'%.60s' has host bits set; the network is %s/%u", text, net, prefix);
        }
        return EP_EINVAL;
    }
    out->prefix = (uint8_t)prefix;
    return 0;
}

int ep_cidr_format(const ep_cidr *c, char *buf, size_t len)
{
    char a[EP_ADDR_STRLEN];
    int n;
    if (!c || !buf || ep_addr_format(&c->addr, a, sizeof a) != 0)
        return EP_EINVAL;
    if (c->prefix == ep_cidr_max_prefix(&c->addr))
        n = snprintf(buf, len, "%s", a);
    else
        n = snprintf(buf, len, "%s/%u", a, c->prefix);
    if (n < 0 || (size_t)n >= len)
        return EP_ENOSPC;
    return n;
}

bool ep_cidr_contains(const ep_cidr *c, const ep_addr *a)
{
    if (!c || !a || c->addr.family != a->family)
        return false;
    for (unsigned i = 0; i < c->prefix; i++)
        if (ep_cidr_bit(&c->addr, i) != ep_cidr_bit(a, i))
            return false;
    return true;
}

bool ep_cidr_overlaps(const ep_cidr *a, const ep_cidr *b)
{
    if (!a || !b || a->addr.family != b->addr.family)
        return false;
    /* Two prefixes overlap iff the shorter contains the longer's network. */
    return a->prefix <= b->prefix ? ep_cidr_contains(a, &b->addr) : ep_cidr_contains(b, &a->addr);
}

uint64_t ep_cidr_size4(const ep_cidr *c)
{
    if (!c || c->addr.family != AF_INET)
        return 0;
    return (uint64_t)1 << (32 - c->prefix);
}

static int ep_cidr_cmp(const void *pa, const void *pb)
{
    const ep_cidr *a = pa, *b = pb;
    int c;
    if (a->addr.family != b->addr.family)
        return a->addr.family < b->addr.family ? -1 : 1;
    c = memcmp(a->addr.u.bytes, b->addr.u.bytes, 16);
    if (c)
        return c;
    return (int)a->prefix - (int)b->prefix;
}

int ep_cidr_list_parse(const char *text, ep_cidr **out, size_t *count, ep_parse_error *err)
{
    ep_cidr *list = NULL;
    size_t n = 0, cap = 0, pos = 0, len;

    if (!text || !out || !count)
        return ep_cidr_fail(err, 0, "%s", "no CIDR list given");
    len = strlen(text);
    if (len == 0)
        return ep_cidr_fail(err, 0, "%s", "empty CIDR list");
    for (;;) {
        const char *comma = strchr(text + pos, ',');
        size_t ilen = comma ? (size_t)(comma - (text + pos)) : len - pos;
        char item[EP_CIDR_STRLEN + 8];
        ep_parse_error e;
        int rc;

        if (ilen == 0) {
            free(list);
            return ep_cidr_fail(err, pos, "%s", "empty item in CIDR list");
        }
        if (ilen >= sizeof item) {
            free(list);
            return ep_cidr_fail(err, pos, "'%.60s...' is too long for a CIDR", text + pos);
        }
        if (n == EP_CIDR_LIST_MAX) {
            free(list);
            return ep_cidr_fail(err, pos, "%s", "more than 65536 items in CIDR list");
        }
        memcpy(item, text + pos, ilen);
        item[ilen] = '\0';
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            ep_cidr *nl = realloc(list, ncap * sizeof *nl);
            if (!nl) {
                free(list);
                return EP_ENOMEM;
            }
            list = nl;
            cap = ncap;
        }
        rc = ep_cidr_parse(item, &list[n], &e);
        if (rc != 0) {
            free(list);
            if (err) {
                *err = e;
                err->offset += pos;
            }
            return rc;
        }
        n++;
        if (!comma)
            break;
        pos += ilen + 1;
    }
    /* Overlap check: sort a copy by (family, address) and compare
     * neighbours; with sorted networks, any overlap shows up between an
     * item and its successor: if X contains Z and Y sorts between them,
     * X contains Y too, so the first overlapping pair is adjacent. */
    {
        ep_cidr *s = malloc(n * sizeof *s);
        if (!s) {
            free(list);
            return EP_ENOMEM;
        }
        memcpy(s, list, n * sizeof *s);
        qsort(s, n, sizeof *s, ep_cidr_cmp);
        for (size_t i = 1; i < n; i++) {
            size_t j = i - 1;
            if (ep_cidr_overlaps(&s[j], &s[i])) {
                char a[EP_CIDR_STRLEN], b[EP_CIDR_STRLEN];
                ep_cidr_format(&s[j], a, sizeof a);
                ep_cidr_format(&s[i], b, sizeof b);
                if (err) {
                    err->offset = 0;
                    snprintf(err->message, sizeof err->message, "%s overlaps %s", a, b);
                }
                free(s);
                free(list);
                return EP_EINVAL;
            }
        }
        free(s);
    }
    *out = list;
    *count = n;
    return 0;
}

int ep_cidr_list_format(const ep_cidr *list, size_t count, char *buf, size_t len)
{
    size_t used = 0;
    if (!buf || len == 0)
        return EP_ENOSPC;
    buf[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        char item[EP_CIDR_STRLEN];
        int n = ep_cidr_format(&list[i], item, sizeof item);
        if (n < 0)
            return n;
        if (used + (i ? 1 : 0) + (size_t)n + 1 > len)
            return EP_ENOSPC;
        if (i)
            buf[used++] = ',';
        memcpy(buf + used, item, (size_t)n + 1);
        used += (size_t)n;
    }
    return (int)used;
}
