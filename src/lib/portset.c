/* portset.c - the kernel's text forms of a port range ("32768 60999") and of
 * a port list ("8080,9000-9100"), parsed strictly: every error names the byte
 * offset and what was wrong, never a silent truncation. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <ephport/error.h>
#include <ephport/portset.h>

static int ep_parse_fail(ep_parse_error *err, size_t offset, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return EP_EINVAL;
}

static bool ep_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Read a decimal port at text[*pos]; 1..65535. */
static int ep_parse_port(const char *text, size_t *pos, uint16_t *out, ep_parse_error *err)
{
    size_t start = *pos, i = *pos;
    unsigned long v = 0;

    if (text[i] < '0' || text[i] > '9') {
        if (text[i] == '\0')
            return ep_parse_fail(err, i, "expected a port number, found the end of the text");
        return ep_parse_fail(err, i, "expected a port number, found '%c'", text[i]);
    }
    while (text[i] >= '0' && text[i] <= '9') {
        v = v * 10 + (unsigned long)(text[i] - '0');
        if (v > 65535) {
            while (text[i] >= '0' && text[i] <= '9')
                i++;
            return ep_parse_fail(err, start, "port %.*s is above 65535",
                                 (int)(i - start > 20 ? 20 : i - start), text + start);
        }
        i++;
    }
    if (v == 0)
        return ep_parse_fail(err, start, "port 0 is not a valid port (ports are 1-65535)");
    *pos = i;
    *out = (uint16_t)v;
    return 0;
}

int ep_range_parse(const char *text, uint16_t *lo, uint16_t *hi, ep_parse_error *err)
{
    size_t i = 0;
    uint16_t a, b;
    int rc;

    if (!text || !lo || !hi)
        return ep_parse_fail(err, 0, "no text given");
    while (ep_is_space(text[i]))
        i++;
    if ((rc = ep_parse_port(text, &i, &a, err)) < 0)
        return rc;
    if (text[i] == '-') {
        i++;
    } else if (text[i] == ' ' || text[i] == '\t') {
        while (text[i] == ' ' || text[i] == '\t')
            i++;
    } else {
        if (text[i] == '\0')
            return ep_parse_fail(err, i, "a range needs two ports, \"LO HI\" or \"LO-HI\"");
        return ep_parse_fail(err, i, "unexpected '%c' after the first port", text[i]);
    }
    if ((rc = ep_parse_port(text, &i, &b, err)) < 0)
        return rc;
    while (ep_is_space(text[i]))
        i++;
    if (text[i] != '\0')
        return ep_parse_fail(err, i, "unexpected '%c' after the range", text[i]);
    if (a > b)
        return ep_parse_fail(err, 0, "the range %u-%u is empty: the first port is above the last",
                             a, b);
    *lo = a;
    *hi = b;
    return 0;
}

int ep_portset_parse(const char *text, ep_portset *out, ep_parse_error *err)
{
    ep_portset set;
    size_t i = 0;
    int rc;

    if (!text || !out)
        return ep_parse_fail(err, 0, "no text given");
    ep_portset_clear(&set);
    while (ep_is_space(text[i]))
        i++;
    while (text[i] != '\0') {
        uint16_t a, b;
        if ((rc = ep_parse_port(text, &i, &a, err)) < 0)
            return rc;
        b = a;
        if (text[i] == '-') {
            size_t dash = i++;
            if ((rc = ep_parse_port(text, &i, &b, err)) < 0)
                return rc;
            if (a > b)
                return ep_parse_fail(err, dash, "the range %u-%u is empty: the first port is above the last", a, b);
        }
        for (uint32_t p = a; p <= b; p++)
            ep_portset_add(&set, (uint16_t)p);
        while (text[i] == ' ' || text[i] == '\t')
            i++;
        if (text[i] == ',') {
            i++;
            while (text[i] == ' ' || text[i] == '\t')
                i++;
            if (text[i] == '\0' || ep_is_space(text[i]))
                return ep_parse_fail(err, i, "a port or range must follow ','");
            continue;
        }
        while (ep_is_space(text[i]))
            i++;
        if (text[i] != '\0')
            return ep_parse_fail(err, i, "unexpected '%c': separate ports with ','", text[i]);
    }
    *out = set;
    return 0;
}

int ep_portset_format(const ep_portset *set, char *buf, size_t len)
{
    size_t n = 0;
    uint32_t p = 1;

    if (!set || !buf || len == 0)
        return EP_EINVAL;
    buf[0] = '\0';
    while (p <= 65535) {
        uint32_t q;
        char item[16];
        int w;
        if (!ep_portset_has(set, (uint16_t)p)) {
            p++;
            continue;
        }
        q = p;
        while (q < 65535 && ep_portset_has(set, (uint16_t)(q + 1)))
            q++;
        if (q == p)
            w = snprintf(item, sizeof item, "%s%u", n ? "," : "", p);
        else
            w = snprintf(item, sizeof item, "%s%u-%u", n ? "," : "", p, q);
        if (n + (size_t)w + 1 > len)
            return EP_ENOSPC;
        memcpy(buf + n, item, (size_t)w + 1);
        n += (size_t)w;
        p = q + 1;
    }
    return (int)n;
}

void ep_portset_clear(ep_portset *set)
{
    memset(set->bits, 0, sizeof set->bits);
}

void ep_portset_add(ep_portset *set, uint16_t port)
{
    set->bits[port >> 6] |= 1ull << (port & 63);
}

void ep_portset_remove(ep_portset *set, uint16_t port)
{
    set->bits[port >> 6] &= ~(1ull << (port & 63));
}

bool ep_portset_has(const ep_portset *set, uint16_t port)
{
    return (set->bits[port >> 6] >> (port & 63)) & 1;
}

uint32_t ep_portset_count(const ep_portset *set, uint16_t lo, uint16_t hi)
{
    uint32_t n = 0;
    for (uint32_t p = lo; p <= hi; p++)
        n += ep_portset_has(set, (uint16_t)p);
    return n;
}
