/* fuzz-nat-syslog.c - libFuzzer target for the port-block syslog line
 * parsers (natlog_syslog.c), SRX and Junos: no crash; a refusal has a
 * message; an accepted port-block line has its range in order, and an SRX
 * allocation formats back (ep_natlog_srx_format) to a line that parses to
 * the same block and time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/natlog.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ep_natlog_syslog_options opt = { 2026, -18000 };
    char *text = malloc(size + 1);
    ep_natlog_syslog_line l, m;
    ep_parse_error err;
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (int fmt = EP_NATLOG_SYSLOG_SRX; fmt <= EP_NATLOG_SYSLOG_JUNIPER; fmt++) {
        err.message[0] = '\0';
        if (ep_natlog_syslog_parse(fmt, text, &opt, &l, &err) != 0) {
            if (err.message[0] == '\0')
                abort();
            continue;
        }
        if (l.kind == EP_NATLOG_LINE_OTHER)
            continue;
        if (l.port_hi < l.port_lo || l.time < 0)
            abort();
        if (fmt == EP_NATLOG_SYSLOG_SRX && l.kind == EP_NATLOG_LINE_ALLOC) {
            ep_natlog_record r = { l.subscriber, l.ext, l.proto ? l.proto : 6, l.port_lo,
                                   l.port_hi, l.time, EP_NATLOG_OPEN_END };
            char line[512];
            if (ep_natlog_srx_format(&r, false, line, sizeof line) < 0 ||
                ep_natlog_syslog_parse(fmt, line, NULL, &m, NULL) != 0 ||
                m.kind != EP_NATLOG_LINE_ALLOC || m.port_lo != l.port_lo ||
                m.port_hi != l.port_hi || m.time != l.time || !ep_addr_equal(&m.ext, &l.ext))
                abort();
        }
    }
    free(text);
    return 0;
}
