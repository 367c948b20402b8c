/* netstat.c - the kernel counters that reveal port trouble, from
 * /proc/net/netstat and /proc/net/snmp (pairs of "Prefix: names" /
 * "Prefix: values" lines) and /proc/net/sockstat ("TCP: inuse 3 tw 2") with
 * /proc/net/sockstat6 ("TCP6: inuse 4"): the kernel counts IPv4 sockets in
 * the first and IPv6 ones (IPv4-mapped included) in the second, while "tw"
 * counts TIME_WAIT of both families; a namespace's sockets are the sum, as
 * `ss -s` adds them.
 * TCPTimeWaitOverflow means tcp_max_tw_buckets was hit and TIME_WAIT
 * sockets were destroyed early; TWRecycled counts tcp_tw_reuse at work.
 * The parsers take the text, not the file, so they can be fuzzed
 * (fuzz/fuzz-host-netstat.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host-internal.h"

/* The next white-space separated word of [*p, end); false at the end. */
static bool ep_host_next_word(const char **p, const char *end, const char **w, size_t *wlen)
{
    const char *q = *p;
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    if (q >= end)
        return false;
    *w = q;
    while (q < end && *q != ' ' && *q != '\t')
        q++;
    *wlen = (size_t)(q - *w);
    *p = q;
    return true;
}

static int ep_host_word_i64(const char *w, size_t wlen, int64_t *out)
{
    char tmp[32];
    if (wlen == 0 || wlen >= sizeof tmp)
        return -EINVAL;
    memcpy(tmp, w, wlen);
    tmp[wlen] = '\0';
    return ep_host_parse_i64(tmp, out);
}

static const char *ep_host_line_end(const char *p)
{
    const char *e = strchr(p, '\n');
    return e ? e : p + strlen(p);
}

int ep_host_netstat_lookup(const char *text, const char *prefix, const char *field, int64_t *out)
{
    size_t plen = strlen(prefix), flen = strlen(field);
    const char *line = text;

    while (*line) {
        const char *end = ep_host_line_end(line);
        const char *next = *end ? end + 1 : end;
        /* A names line: "Prefix:" then words; the values line follows. */
        if ((size_t)(end - line) > plen && memcmp(line, prefix, plen) == 0 && line[plen] == ':') {
            const char *vline = next, *vend, *p, *q, *w, *v;
            size_t wlen, vlen;
            long idx = -1, i = 0;
            if (!*vline)
                return -EINVAL;
            vend = ep_host_line_end(vline);
            if ((size_t)(vend - vline) <= plen || memcmp(vline, prefix, plen) != 0 ||
                vline[plen] != ':')
                return -EINVAL;
            p = line + plen + 1;
            while (ep_host_next_word(&p, end, &w, &wlen)) {
                if (wlen == flen && memcmp(w, field, flen) == 0) {
                    idx = i;
                    break;
                }
                i++;
            }
            if (idx >= 0) {
                q = vline + plen + 1;
                for (i = 0; ep_host_next_word(&q, vend, &v, &vlen); i++)
                    if (i == idx)
                        return ep_host_word_i64(v, vlen, out);
                return -EINVAL; /* fewer values than names */
            }
            next = *vend ? vend + 1 : vend;
        }
        line = next;
    }
    return -ENOENT;
}

int ep_host_sockstat_lookup(const char *text, const char *prefix, const char *field, int64_t *out)
{
    size_t plen = strlen(prefix), flen = strlen(field);
    const char *line = text;

    while (*line) {
        const char *end = ep_host_line_end(line);
        if ((size_t)(end - line) > plen && memcmp(line, prefix, plen) == 0 && line[plen] == ':') {
            const char *p = line + plen + 1, *w, *v;
            size_t wlen, vlen;
            while (ep_host_next_word(&p, end, &w, &wlen)) {
                if (!ep_host_next_word(&p, end, &v, &vlen))
                    return -EINVAL;
                if (wlen == flen && memcmp(w, field, flen) == 0)
                    return ep_host_word_i64(v, vlen, out);
            }
            return -ENOENT;
        }
        line = *end ? end + 1 : end;
    }
    return -ENOENT;
}

static const struct {
    const char *file;   /* under /proc/thread-self/net/ */
    const char *prefix;
    const char *field;
    const char *name;   /* as reported */
} ep_host_counter_list[] = {
    { "netstat", "TcpExt", "TCPTimeWaitOverflow", "TcpExt.TCPTimeWaitOverflow" },
    { "netstat", "TcpExt", "TW", "TcpExt.TW" },
    { "netstat", "TcpExt", "TWRecycled", "TcpExt.TWRecycled" },
    { "netstat", "TcpExt", "TWKilled", "TcpExt.TWKilled" },
    { "netstat", "TcpExt", "ListenOverflows", "TcpExt.ListenOverflows" },
    { "netstat", "TcpExt", "ListenDrops", "TcpExt.ListenDrops" },
    { "snmp", "Tcp", "ActiveOpens", "Tcp.ActiveOpens" },
    { "snmp", "Tcp", "PassiveOpens", "Tcp.PassiveOpens" },
    { "snmp", "Tcp", "AttemptFails", "Tcp.AttemptFails" },
    { "snmp", "Tcp", "CurrEstab", "Tcp.CurrEstab" },
};

#define EP_HOST_NCOUNTERS (sizeof ep_host_counter_list / sizeof ep_host_counter_list[0])

/* Whole-namespace socket counts: sockstat (IPv4, and TIME_WAIT of both
 * families) plus sockstat6 (IPv6).  No sockstat6 at all means no IPv6 in
 * this kernel, so no IPv6 sockets; any other failure leaves the counts
 * unknown with a note. */
static void ep_host_read_sockstat(ep_host_snapshot *s, int rc_sockstat, const char *sockstat)
{
    ep_host_totals *t = &s->totals;
    char *sockstat6 = NULL;
    int64_t tcp6 = 0, udp6 = 0;
    int rc6 = ep_host_read_file("/proc/thread-self/net/sockstat6", &sockstat6, NULL);

    t->sockstat_tcp_inuse = t->sockstat_tcp_tw = t->sockstat_udp_inuse = EP_HOST_UNKNOWN;
    if (rc_sockstat) {
        ep_host_note(s, "could not read /proc/net/sockstat: %s", ep_host_errno_words(rc_sockstat));
    } else if (rc6 && rc6 != -ENOENT) {
        ep_host_note(s, "could not read /proc/net/sockstat6 (the IPv6 sockets): %s",
                     ep_host_errno_words(rc6));
    } else if (ep_host_sockstat_lookup(sockstat, "TCP", "inuse", &t->sockstat_tcp_inuse) ||
               ep_host_sockstat_lookup(sockstat, "TCP", "tw", &t->sockstat_tcp_tw) ||
               ep_host_sockstat_lookup(sockstat, "UDP", "inuse", &t->sockstat_udp_inuse)) {
        t->sockstat_tcp_inuse = t->sockstat_tcp_tw = t->sockstat_udp_inuse = EP_HOST_UNKNOWN;
        ep_host_note(s, "could not read /proc/net/sockstat: unexpected contents");
    } else if (sockstat6 && (ep_host_sockstat_lookup(sockstat6, "TCP6", "inuse", &tcp6) ||
                             ep_host_sockstat_lookup(sockstat6, "UDP6", "inuse", &udp6))) {
        t->sockstat_tcp_inuse = t->sockstat_tcp_tw = t->sockstat_udp_inuse = EP_HOST_UNKNOWN;
        ep_host_note(s, "could not read /proc/net/sockstat6: unexpected contents");
    } else {
        t->sockstat_tcp_inuse += tcp6;
        t->sockstat_udp_inuse += udp6;
    }
    free(sockstat6);
}

void ep_host_read_counters(ep_host_snapshot *s)
{
    char *netstat = NULL, *snmp = NULL, *sockstat = NULL;
    int rc_netstat = ep_host_read_file("/proc/thread-self/net/netstat", &netstat, NULL);
    int rc_snmp = ep_host_read_file("/proc/thread-self/net/snmp", &snmp, NULL);
    int rc_sockstat = ep_host_read_file("/proc/thread-self/net/sockstat", &sockstat, NULL);

    if (rc_netstat)
        ep_host_note(s, "could not read /proc/net/netstat: %s", ep_host_errno_words(rc_netstat));
    if (rc_snmp)
        ep_host_note(s, "could not read /proc/net/snmp: %s", ep_host_errno_words(rc_snmp));
    for (size_t i = 0; i < EP_HOST_NCOUNTERS && i < sizeof s->counters / sizeof s->counters[0];
         i++) {
        bool is_netstat = ep_host_counter_list[i].file[0] == 'n';
        const char *text = is_netstat ? netstat : snmp;
        int64_t v = EP_HOST_UNKNOWN;
        if (text) {
            int rc = ep_host_netstat_lookup(text, ep_host_counter_list[i].prefix,
                                            ep_host_counter_list[i].field, &v);
            if (rc != 0) {
                v = EP_HOST_UNKNOWN;
                ep_host_note(s, "could not read %s from /proc/net/%s: %s",
                             ep_host_counter_list[i].name, ep_host_counter_list[i].file,
                             rc == -ENOENT ? "no such counter on this kernel"
                                           : "unexpected contents");
            }
        }
        s->counters[s->ncounters].name = ep_host_counter_list[i].name;
        s->counters[s->ncounters++].value = v;
    }

    ep_host_read_sockstat(s, rc_sockstat, sockstat);
    free(netstat);
    free(snmp);
    free(sockstat);
}
