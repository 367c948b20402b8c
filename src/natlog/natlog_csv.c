/* natlog_csv.c - one port-block record as a CSV line, both ways.
 *
 * The interchange form of the NAT log (import, export, hand-made test
 * data): seven plain fields, no quoting because no field can hold a comma.
 * The parser is strict (exact field count, canonical numbers, UTC times)
 * and is a pure function, so it is fuzzed on its own (fuzz-nat-csv).
 */
#include <stdio.h>
#include <string.h>

#include <ephport/natlog.h>

#define EP_CSV_FIELDS 7

static int ep_csv_fail(ep_parse_error *err, size_t off, const char *what, const char *field)
{
    if (err) {
        err->offset = off;
        snprintf(err->message, sizeof err->message, "%s '%.60s'", what, field);
    }
    return EP_EINVAL;
}

static bool ep_csv_port(const char *s, uint16_t *out)
{
    size_t d = strspn(s, "0123456789");
    unsigned v = 0;
    if (d == 0 || d > 5 || s[d] != '\0' || (d > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < d; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

int ep_natlog_csv_parse(const char *line, ep_natlog_record *out, ep_parse_error *err)
{
    char buf[512];
    char *f[EP_CSV_FIELDS];
    size_t off[EP_CSV_FIELDS];
    size_t n, nf = 0;

    if (!line || !out)
        return ep_csv_fail(err, 0, "no line", "");
    n = strlen(line);
    if (n >= sizeof buf)
        return ep_csv_fail(err, 0, "line too long for a record:", "");
    memcpy(buf, line, n + 1);
    f[nf] = buf;
    off[nf++] = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != ',')
            continue;
        if (nf == EP_CSV_FIELDS)
            return ep_csv_fail(err, i, "more than 7 fields at", buf + i);
        buf[i] = '\0';
        f[nf] = buf + i + 1;
        off[nf++] = i + 1;
    }
    if (nf != EP_CSV_FIELDS) {
        if (err) {
            err->offset = n;
            snprintf(err->message, sizeof err->message,
                     "%zu fields, expected 7 (" EP_NATLOG_CSV_HEADER ")", nf);
        }
        return EP_EINVAL;
    }
    memset(out, 0, sizeof *out);
    if (ep_addr_parse(f[0], &out->subscriber) != 0 || f[0][0] == '[')
        return ep_csv_fail(err, off[0], "bad subscriber address", f[0]);
    if (ep_addr_parse(f[1], &out->ext) != 0 || f[1][0] == '[')
        return ep_csv_fail(err, off[1], "bad external address", f[1]);
    if (ep_nat_proto_parse(f[2], &out->proto) != 0)
        return ep_csv_fail(err, off[2], "protocol is not tcp, udp or icmp:", f[2]);
    if (!ep_csv_port(f[3], &out->port_lo))
        return ep_csv_fail(err, off[3], "bad port_lo", f[3]);
    if (!ep_csv_port(f[4], &out->port_hi))
        return ep_csv_fail(err, off[4], "bad port_hi", f[4]);
    if (out->port_lo > out->port_hi)
        return ep_csv_fail(err, off[4], "port_hi is below port_lo:", f[4]);
    if (ep_nat_time_parse(f[5], &out->start) != 0)
        return ep_csv_fail(err, off[5], "bad start time", f[5]);
    if (f[6][0] == '\0') {
        out->end = EP_NATLOG_OPEN_END;
    } else {
        if (ep_nat_time_parse(f[6], &out->end) != 0)
            return ep_csv_fail(err, off[6], "bad end time", f[6]);
        if (out->end <= out->start)
            return ep_csv_fail(err, off[6], "end is not after start:", f[6]);
    }
    return 0;
}

int ep_natlog_csv_format(const ep_natlog_record *r, char *buf, size_t len)
{
    char sub[EP_ADDR_STRLEN], ext[EP_ADDR_STRLEN];
    char start[EP_NAT_TIME_STRLEN], end[EP_NAT_TIME_STRLEN] = "";
    const char *proto;
    int n;
    if (!r || !buf)
        return EP_EINVAL;
    proto = ep_nat_proto_name(r->proto);
    if (!proto || ep_addr_format(&r->subscriber, sub, sizeof sub) != 0 ||
        ep_addr_format(&r->ext, ext, sizeof ext) != 0 ||
        ep_nat_time_format(r->start, start, sizeof start) != 0 ||
        (r->end != EP_NATLOG_OPEN_END && ep_nat_time_format(r->end, end, sizeof end) != 0))
        return EP_EINVAL;
    n = snprintf(buf, len, "%s,%s,%s,%u,%u,%s,%s", sub, ext, proto, r->port_lo, r->port_hi,
                 start, end);
    if (n < 0 || (size_t)n >= len)
        return EP_ENOSPC;
    return n;
}
