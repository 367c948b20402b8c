/* range-env.c - the strict "LO-HI" parser shared by `ephport exec` and the
 * preload shim.  It is deliberately tiny and libc-only (no libephport), so
 * the shim stays a small library with no dependencies of its own. */
#include "range-env.h"

static bool ep_preload_parse_port(const char **p, uint32_t *out)
{
    const char *s = *p;
    uint32_t v = 0;
    int n = 0;
    while (*s >= '0' && *s <= '9') {
        if (++n > 5)
            return false;
        v = v * 10 + (uint32_t)(*s - '0');
        s++;
    }
    if (n == 0 || v < 1 || v > 65535)
        return false;
    *p = s;
    *out = v;
    return true;
}

bool ep_preload_range_parse(const char *text, uint16_t *lo, uint16_t *hi)
{
    const char *p = text;
    uint32_t a, b;
    if (!p || !ep_preload_parse_port(&p, &a) || *p++ != '-' || !ep_preload_parse_port(&p, &b) ||
        *p != '\0' || a > b)
        return false;
    *lo = (uint16_t)a;
    *hi = (uint16_t)b;
    return true;
}
