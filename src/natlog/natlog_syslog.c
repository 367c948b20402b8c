/* natlog_syslog.c - the syslog lines CGNAT boxes write for port blocks,
 * parsed (and, for the SRX form, written): pure functions, fuzzed
 * (fuzz-nat-syslog).
 *
 * Juniper SRX / MX-SPC3 ("srx"), structured, for example (Juniper
 * community techpost "SRX4600 CGN configuration breakdown", K. Hendrych,
 * 2024):
 *   RT_NAT - RT_SRC_NAT_PBA_ALLOC [internal-ip="10.0.10.10" block-used="1"
 *   block-max-per-host="4" block-port-low="48640" block-port-high="48895"
 *   reflexive-ip="1.2.84.172" nat-pool-name="guest" logical-system-id="0"
 *   epoch-time-64="624b0492"]
 * and RT_SRC_NAT_PBA_RELEASE / RT_SRC_NAT_PBA_INTERIM alike.  The time is
 * epoch-time-64, hexadecimal Unix seconds: no year or zone to guess.  The
 * SD-ID before the first parameter (junos@...) may be there or not; other
 * parameters are ignored; a parameter ephport adds, protocol-id, is read
 * when present.
 *
 * Junos MS-MPC / MS-MIC ("juniper"):
 *   ... JSERVICES_NAT_PORT_BLOCK_ALLOC: 10.1.1.2 -> 203.0.113.1:1024-1279 ...
 *   and _RELEASE (and the interim _ACTIVE), the block after the tag; what
 *   follows the range is ignored.  The time is the syslog header's: an RFC
 *   5424 header ("<14>1 2024-03-01T10:00:00.123+01:00 host ..."), an RFC
 *   3339 stamp at the start of the line (rsyslog's high-precision format),
 *   or RFC 3164 "Mar  1 10:00:00" which has no year and no zone (the
 *   options give them).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/natlog.h>

static int ep_sl_fail(ep_parse_error *err, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ep_sl_fail(ep_parse_error *err, size_t off, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->offset = off;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return EP_EINVAL;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t ep_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool ep_valid_date(int y, int m, int d)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
           d <= mdays[m - 1] + (m == 2 && leap);
}

/* n digits exactly at s */
static bool ep_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "HH:MM:SS" at s */
static bool ep_hms(const char *s, int *sec)
{
    int h, m, x;
    if (!ep_digits(s, 2, &h) || s[2] != ':' || !ep_digits(s + 3, 2, &m) || s[5] != ':' ||
        !ep_digits(s + 6, 2, &x) || h > 23 || m > 59 || x > 60)
        return false;
    *sec = h * 3600 + m * 60 + (x == 60 ? 59 : x);
    return true;
}

/* RFC 3339 at s ("2024-03-01T10:00:00[.frac](Z|+hh:mm|-hh:mm)"); *used
 * gets its length. */
static bool ep_rfc3339(const char *s, int64_t *t, bool *frac, size_t *used)
{
    int y, mo, d, hms, oh, om;
    const char *p;
    int64_t off = 0;
    if (!ep_digits(s, 4, &y) || s[4] != '-' || !ep_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !ep_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !ep_hms(s + 11, &hms) ||
        !ep_valid_date(y, mo, d))
        return false;
    p = s + 19;
    *frac = false;
    if (*p == '.') {
        const char *q = ++p;
        while (*p >= '0' && *p <= '9') {
            if (*p != '0')
                *frac = true;
            p++;
        }
        if (p == q || p - q > 9)
            return false;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && ep_digits(p + 1, 2, &oh) && p[3] == ':' &&
               ep_digits(p + 4, 2, &om) && oh <= 23 && om <= 59) {
        off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    *t = ep_days(y, mo, d) * 86400 + hms - off;
    *used = (size_t)(p - s);
    return *t >= 0;
}

/* The syslog header's time of a juniper line. */
static int ep_sl_header_time(const char *line, const ep_natlog_syslog_options *opt,
                             ep_natlog_syslog_line *out, ep_parse_error *err)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = line;
    size_t used;
    if (*p == '<') {
        const char *q = p + 1;
        while (*q >= '0' && *q <= '9' && q - p <= 3)
            q++;
        if (*q != '>' || q == p + 1)
            return ep_sl_fail(err, 0, "a syslog priority '<...>' that is not 1-3 digits");
        p = q + 1;
        if (p[0] == '1' && p[1] == ' ')
            p += 2; /* RFC 5424 version */
    }
    if (ep_rfc3339(p, &out->time, &out->time_frac, &used) && (p[used] == ' ' || !p[used]))
        return 0;
    for (int m = 0; m < 12; m++) {
        int d, hms;
        if (strncmp(p, months + 3 * m, 3) != 0 || p[3] != ' ')
            continue;
        if (p[4] == ' ' && ep_digits(p + 5, 1, &d))
            ;
        else if (!ep_digits(p + 4, 2, &d))
            break;
        if (p[6] != ' ' || !ep_hms(p + 7, &hms) || (p[15] != ' ' && p[15] != '\0'))
            break;
        if (!opt || opt->year == 0)
            return ep_sl_fail(err, (size_t)(p - line),
                              "the time '%.15s' has no year: give the year (--year)", p);
        if (!ep_valid_date(opt->year, m + 1, d))
            return ep_sl_fail(err, (size_t)(p - line), "'%.15s' is not a date in %d", p,
                              opt->year);
        out->time = ep_days(opt->year, m + 1, d) * 86400 + hms - opt->utc_offset;
        out->time_frac = false;
        if (out->time < 0)
            return ep_sl_fail(err, (size_t)(p - line), "'%.15s' is before 1970 in UTC", p);
        return 0;
    }
    return ep_sl_fail(err, (size_t)(p - line),
                      "no syslog time at the start of the line (RFC 3339 or 'Mmm dd hh:mm:ss')");
}

static bool ep_sl_port(const char *s, size_t n, uint16_t *out)
{
    unsigned v = 0;
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

static bool ep_sl_v4(const char *s, size_t n, ep_addr *out)
{
    char buf[16];
    if (n == 0 || n >= sizeof buf || strspn(s, "0123456789.") < n)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return ep_addr_parse(buf, out) == 0 && out->family == AF_INET;
}

static int ep_sl_juniper(const char *line, const ep_natlog_syslog_options *opt,
                         ep_natlog_syslog_line *out, ep_parse_error *err)
{
    static const struct {
        const char *tag;
        int kind;
    } tags[] = {
        { "JSERVICES_NAT_PORT_BLOCK_ALLOC: ", EP_NATLOG_LINE_ALLOC },
        { "JSERVICES_NAT_PORT_BLOCK_RELEASE: ", EP_NATLOG_LINE_RELEASE },
        { "JSERVICES_NAT_PORT_BLOCK_ACTIVE: ", EP_NATLOG_LINE_INTERIM },
    };
    const char *p = NULL, *q, *arrow, *colon, *dash;
    int rc;
    for (size_t i = 0; i < sizeof tags / sizeof tags[0] && !p; i++)
        if ((p = strstr(line, tags[i].tag)) != NULL) {
            out->kind = tags[i].kind;
            p += strlen(tags[i].tag);
        }
    if (!p)
        return 0;
    if ((rc = ep_sl_header_time(line, opt, out, err)) != 0)
        return rc;
    /* SUB -> EXT:LO-HI */
    arrow = strstr(p, " -> ");
    if (!arrow || !ep_sl_v4(p, (size_t)(arrow - p), &out->subscriber))
        return ep_sl_fail(err, (size_t)(p - line), "expected 'SUBSCRIBER -> EXT:LO-HI' after "
                                                   "the tag");
    q = arrow + 4;
    colon = strchr(q, ':');
    if (!colon || !ep_sl_v4(q, (size_t)(colon - q), &out->ext))
        return ep_sl_fail(err, (size_t)(q - line), "expected the external IPv4 address and ':'");
    dash = strchr(colon + 1, '-');
    if (!dash || !ep_sl_port(colon + 1, (size_t)(dash - colon - 1), &out->port_lo))
        return ep_sl_fail(err, (size_t)(colon + 1 - line), "expected the first port and '-'");
    q = dash + 1;
    {
        size_t n = strspn(q, "0123456789");
        if (!ep_sl_port(q, n, &out->port_hi) || (q[n] != ' ' && q[n] != '\0'))
            return ep_sl_fail(err, (size_t)(q - line), "expected the last port");
    }
    if (out->port_hi < out->port_lo)
        return ep_sl_fail(err, (size_t)(q - line), "port range %u-%u ends below its start",
                          out->port_lo, out->port_hi);
    return 0;
}

/* The value of key="..." inside the SD element [begin, end): pointer and
 * length, or NULL. */
static const char *ep_sl_param(const char *begin, const char *end, const char *key, size_t *n)
{
    size_t kl = strlen(key);
    for (const char *p = begin; p + kl + 2 <= end; p++) {
        const char *v, *close;
        if ((p != begin && p[-1] != ' ' && p[-1] != '[') || strncmp(p, key, kl) != 0 ||
            p[kl] != '=' || p[kl + 1] != '"')
            continue;
        v = p + kl + 2;
        close = memchr(v, '"', (size_t)(end - v));
        if (!close)
            return NULL;
        *n = (size_t)(close - v);
        return v;
    }
    return NULL;
}

static int ep_sl_srx(const char *line, ep_natlog_syslog_line *out, ep_parse_error *err)
{
    static const struct {
        const char *tag;
        int kind;
    } tags[] = {
        { "RT_SRC_NAT_PBA_ALLOC ", EP_NATLOG_LINE_ALLOC },
        { "RT_SRC_NAT_PBA_RELEASE ", EP_NATLOG_LINE_RELEASE },
        { "RT_SRC_NAT_PBA_INTERIM ", EP_NATLOG_LINE_INTERIM },
    };
    const char *p = NULL, *open, *close, *v;
    size_t n;
    for (size_t i = 0; i < sizeof tags / sizeof tags[0] && !p; i++)
        if ((p = strstr(line, tags[i].tag)) != NULL) {
            out->kind = tags[i].kind;
            p += strlen(tags[i].tag);
        }
    if (!p)
        return 0;
    open = strchr(p, '[');
    close = open ? strchr(open, ']') : NULL;
    if (!open || !close)
        return ep_sl_fail(err, (size_t)(p - line), "no [...] structured data after the tag");
#define PARAM(key)                                                                         \
    if (!(v = ep_sl_param(open + 1, close, key, &n)))                                      \
        return ep_sl_fail(err, (size_t)(open - line), "no " key "=\"...\" in the structured " \
                                                      "data");
    PARAM("internal-ip");
    if (!ep_sl_v4(v, n, &out->subscriber))
        return ep_sl_fail(err, (size_t)(v - line), "internal-ip is not an IPv4 address");
    PARAM("reflexive-ip");
    if (!ep_sl_v4(v, n, &out->ext))
        return ep_sl_fail(err, (size_t)(v - line), "reflexive-ip is not an IPv4 address");
    PARAM("block-port-low");
    if (!ep_sl_port(v, n, &out->port_lo))
        return ep_sl_fail(err, (size_t)(v - line), "block-port-low is not a port");
    PARAM("block-port-high");
    if (!ep_sl_port(v, n, &out->port_hi) || out->port_hi < out->port_lo)
        return ep_sl_fail(err, (size_t)(v - line), "block-port-high is not a port at or above "
                                                   "block-port-low");
    PARAM("epoch-time-64");
    {
        uint64_t t = 0;
        if (n == 0 || n > 15 || strspn(v, "0123456789abcdefABCDEF") < n)
            return ep_sl_fail(err, (size_t)(v - line), "epoch-time-64 is not hexadecimal "
                                                       "seconds");
        for (size_t i = 0; i < n; i++)
            t = t * 16 + (uint64_t)(v[i] <= '9' ? v[i] - '0' : (v[i] | 0x20) - 'a' + 10);
        if (t > (uint64_t)253402300799) /* 9999-12-31T23:59:59Z */
            return ep_sl_fail(err, (size_t)(v - line), "epoch-time-64 is after the year 9999");
        out->time = (int64_t)t;
        out->time_frac = false;
    }
#undef PARAM
    if ((v = ep_sl_param(open + 1, close, "protocol-id", &n)) != NULL) {
        uint16_t pr;
        if (!ep_sl_port(v, n, &pr) || (pr != 1 && pr != 6 && pr != 17))
            return ep_sl_fail(err, (size_t)(v - line), "protocol-id is not 1, 6 or 17");
        out->proto = (uint8_t)pr;
    }
    return 0;
}

int ep_natlog_syslog_parse(int format, const char *line, const ep_natlog_syslog_options *opt,
                           ep_natlog_syslog_line *out, ep_parse_error *err)
{
    if (!line || !out)
        return EP_EINVAL;
    memset(out, 0, sizeof *out);
    switch (format) {
    case EP_NATLOG_SYSLOG_SRX:
        return ep_sl_srx(line, out, err);
    case EP_NATLOG_SYSLOG_JUNIPER:
        return ep_sl_juniper(line, opt, out, err);
    default:
        return ep_sl_fail(err, 0, "unknown syslog format %d", format);
    }
}

int ep_natlog_srx_format(const ep_natlog_record *r, bool release, char *buf, size_t len)
{
    char sub[EP_ADDR_STRLEN], ext[EP_ADDR_STRLEN], when[EP_NAT_TIME_STRLEN];
    int64_t t;
    int n;
    if (!r || !buf || r->subscriber.family != AF_INET || r->ext.family != AF_INET ||
        (release && r->end == EP_NATLOG_OPEN_END))
        return EP_EINVAL;
    t = release ? r->end : r->start;
    if (ep_addr_format(&r->subscriber, sub, sizeof sub) != 0 ||
        ep_addr_format(&r->ext, ext, sizeof ext) != 0 ||
        ep_nat_time_format(t, when, sizeof when) != 0)
        return EP_EINVAL;
    n = snprintf(buf, len,
                 "%s ephport RT_NAT - RT_SRC_NAT_PBA_%s [internal-ip=\"%s\" block-port-low=\"%u\" "
                 "block-port-high=\"%u\" reflexive-ip=\"%s\" protocol-id=\"%u\" "
                 "epoch-time-64=\"%llx\"]",
                 when, release ? "RELEASE" : "ALLOC", sub, r->port_lo, r->port_hi, ext, r->proto,
                 (unsigned long long)t);
    if (n < 0 || (size_t)n >= len)
        return EP_ENOSPC;
    return n;
}
