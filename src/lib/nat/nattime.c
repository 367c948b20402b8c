/* nattime.c - the times of NAT plans and logs: RFC 3339 UTC text and Unix
 * seconds, both ways.
 *
 * Abuse and legal queries arrive as wall-clock times; logs and plan files
 * store them.  Only UTC is accepted (a "Z" or "+00:00" suffix, or none):
 * guessing a local zone is how a query lands on the wrong subscriber.  Whole
 * seconds only, so nothing is rounded without the caller knowing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ephport/nat.h>

static bool ep_time_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int ep_time_num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int ep_days_in_month(int y, int m)
{
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

int ep_nat_time_parse(const char *text, int64_t *out)
{
    size_t n;
    int y, mo, d, h = 0, mi = 0, s = 0;
    struct tm tm;
    const char *rest;

    if (!text || !out)
        return EP_EINVAL;
    n = strlen(text);
    if (n > 0 && (text[0] == '@' || ep_time_digits(text, n))) {
        const char *p = text[0] == '@' ? text + 1 : text;
        size_t pn = strlen(p);
        /* Plain digits: "2026" alone is a year-like number, still seconds. */
        if (pn == 0 || pn > 12 || !ep_time_digits(p, pn) || (pn > 1 && p[0] == '0'))
            return EP_EINVAL;
        *out = strtoll(p, NULL, 10);
        return *out <= 253402300799LL ? 0 : EP_EINVAL;
    }
    if (n < 10 || !ep_time_digits(text, 4) || text[4] != '-' || !ep_time_digits(text + 5, 2) ||
        text[7] != '-' || !ep_time_digits(text + 8, 2))
        return EP_EINVAL;
    y = ep_time_num(text, 4);
    mo = ep_time_num(text + 5, 2);
    d = ep_time_num(text + 8, 2);
    rest = text + 10;
    if (*rest == 'T' || *rest == 't' || *rest == ' ') {
        if (strlen(rest) < 9 || !ep_time_digits(rest + 1, 2) || rest[3] != ':' ||
            !ep_time_digits(rest + 4, 2) || rest[6] != ':' || !ep_time_digits(rest + 7, 2))
            return EP_EINVAL;
        h = ep_time_num(rest + 1, 2);
        mi = ep_time_num(rest + 4, 2);
        s = ep_time_num(rest + 7, 2);
        rest += 9;
        if (strcmp(rest, "Z") != 0 && strcmp(rest, "z") != 0 && strcmp(rest, "+00:00") != 0 &&
            strcmp(rest, "") != 0)
            return EP_EINVAL;
    } else if (*rest != '\0') {
        return EP_EINVAL;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > ep_days_in_month(y, mo) || h > 23 ||
        mi > 59 || s > 59)
        return EP_EINVAL;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int ep_nat_time_format(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!buf)
        return EP_EINVAL;
    if (t < 0 || t > 253402300799LL || !gmtime_r(&tt, &tm))
        return EP_ERANGE;
    if (len < EP_NAT_TIME_STRLEN)
        return EP_ENOSPC;
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return 0;
}
