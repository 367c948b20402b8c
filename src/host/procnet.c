/* procnet.c - the fallback reader: /proc/net/{tcp,tcp6,udp,udp6}, used only
 * when sock_diag is unavailable or when the caller forces it
 * (EP_HOST_SOURCE_PROC); the snapshot says which.  It sees the same sockets
 * except TCP sockets that are bound but neither listening nor connected,
 * which only sock_diag reports.  Lines look like
 *
 *   sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode
 *    0: 0100007F:9C40 0100007F:1389 01 00000000:00000000 00:00000000 00000000     0        0 12345 ...
 *
 * where each address is the kernel's __be32 words printed with %08X in host
 * byte order.
 *
 * The files are streamed: read() into a fixed buffer, each complete line
 * parsed and folded into the destination aggregation (group.c) at once, so
 * memory follows destinations, never sockets, and there is no size cap (a
 * host out of ports has 28,000+ sockets towards one destination, 4 MiB of
 * /proc/net/tcp).  The reader never skips a line it does not understand:
 * one missed socket would overstate free ports, so a malformed, overlong
 * or truncated line (no newline at the end of the file) makes the whole
 * protocol unknown, with the line number and the reason.  A file that
 * grows or shrinks while it is read is fine: the kernel's seq_file resumes
 * each read() where the last one stopped, so a socket that comes or goes
 * meanwhile may be seen or not, as with a netlink dump.
 *
 * The reader is a push parser (begin, feed any chunks, end) so that the
 * way data is cut into read()s cannot change the result; the fuzz target
 * fuzz/fuzz-host-procnet.c checks exactly that. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host-internal.h"

#define EP_HOST_STR_(x) #x
#define EP_HOST_STR(x) EP_HOST_STR_(x)

/* Bytes asked of each read(): a few hundred lines. */
#define EP_HOST_PROCNET_CHUNK (64u << 10)

static int ep_host_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* n hex digits at *p into v; advances *p. */
static bool ep_host_hex(const char **p, int n, uint32_t *v)
{
    uint32_t x = 0;
    for (int i = 0; i < n; i++) {
        int d = ep_host_hexval((*p)[i]);
        if (d < 0)
            return false;
        x = x << 4 | (uint32_t)d;
    }
    *p += n;
    *v = x;
    return true;
}

/* A fixed-width token ends at white space or the end of the line (it
 * never runs into more characters). */
static bool ep_host_token_end(const char *p)
{
    return *p == ' ' || *p == '\t' || *p == '\0' || *p == '\n';
}

/* "0100007F:9C40" (IPv4) or 32 hex digits ":" port (IPv6). */
static bool ep_host_proc_endpoint(const char **p, int family, ep_addr *a, uint16_t *port)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    uint32_t words[4], v;
    int nwords = family == AF_INET ? 1 : 4;
    for (int i = 0; i < nwords; i++) {
        if (!ep_host_hex(p, 8, &words[i]))
            return false;
    }
    if (**p != ':')
        return false;
    (*p)++;
    if (!ep_host_hex(p, 4, &v) || !ep_host_token_end(*p))
        return false;
    *port = (uint16_t)v;
    if (family == AF_INET6 && memcmp(words, mapped, 12) == 0)
        ep_addr_from_bytes(AF_INET, &words[3], a);
    else
        ep_addr_from_bytes(family, words, a);
    return true;
}

static void ep_host_skip_spaces(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

/* Skip one white-space separated field; false if there is none. */
static bool ep_host_skip_field(const char **p)
{
    ep_host_skip_spaces(p);
    if (**p == '\0' || **p == '\n')
        return false;
    while (**p && **p != ' ' && **p != '\t' && **p != '\n')
        (*p)++;
    return true;
}

/* The header: "sl" then white space then "local_address" (tcp, udp and
 * their IPv6 files all start so, after leading spaces). */
static bool ep_host_procnet_is_header(const char *p)
{
    if (strncmp(p, "sl", 2) != 0 || (p[2] != ' ' && p[2] != '\t'))
        return false;
    p += 2;
    ep_host_skip_spaces(&p);
    return strncmp(p, "local_address", 13) == 0;
}

static int ep_host_bad(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -EINVAL;
}

int ep_host_procnet_parse_line(const char *line, int family, uint8_t proto, ep_host_sock *out,
                               const char **why)
{
    const char *p = line;
    uint32_t st;
    char *end;
    unsigned long long inode;

    if (family != AF_INET && family != AF_INET6)
        return ep_host_bad(why, "unknown address family");
    ep_host_skip_spaces(&p);
    if (ep_host_procnet_is_header(p))
        return 1;
    /* "N:" */
    if (*p < '0' || *p > '9')
        return ep_host_bad(why, "not a socket line (no slot number 'N:')");
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != ':')
        return ep_host_bad(why, "not a socket line (no slot number 'N:')");
    memset(out, 0, sizeof *out);
    out->tw_age_ms = -1; /* the /proc timer column is not read: TIME_WAIT entries
                            count as not reusable (never optimistic) */
    out->proto = proto;
    ep_host_skip_spaces(&p);
    if (!ep_host_proc_endpoint(&p, family, &out->local, &out->local_port))
        return ep_host_bad(why, family == AF_INET
                                    ? "bad local address (want 8 hex digits ':' 4 hex digits)"
                                    : "bad local address (want 32 hex digits ':' 4 hex digits)");
    ep_host_skip_spaces(&p);
    if (!ep_host_proc_endpoint(&p, family, &out->remote, &out->remote_port))
        return ep_host_bad(why, family == AF_INET
                                    ? "bad remote address (want 8 hex digits ':' 4 hex digits)"
                                    : "bad remote address (want 32 hex digits ':' 4 hex digits)");
    ep_host_skip_spaces(&p);
    if (!ep_host_hex(&p, 2, &st) || !ep_host_token_end(p) || st == 0 || st >= EP_HOST_NSTATES)
        return ep_host_bad(why, "bad state (want 2 hex digits, 01 to 0C)");
    out->state = (uint8_t)st;
    /* tx:rx, tr:when, retrnsmt, uid, timeout, then the inode. */
    for (int i = 0; i < 5; i++)
        if (!ep_host_skip_field(&p))
            return ep_host_bad(why, "missing fields before the inode");
    ep_host_skip_spaces(&p);
    if (*p < '0' || *p > '9')
        return ep_host_bad(why, "missing or bad inode");
    errno = 0;
    inode = strtoull(p, &end, 10);
    if (errno || inode > UINT32_MAX || (*end != ' ' && *end != '\0' && *end != '\n'))
        return ep_host_bad(why, "bad inode (want a decimal number below 2^32)");
    out->inode = (uint32_t)inode;
    return 0;
}

void ep_host_procnet_begin(ep_host_procnet_reader *r, int family, uint8_t proto, ep_host_agg *agg)
{
    memset(r, 0, sizeof *r);
    r->family = family;
    r->proto = proto;
    r->agg = agg;
}

/* One complete line (without its newline) in r->line[0..r->len). */
static int ep_host_procnet_line(ep_host_procnet_reader *r)
{
    ep_host_sock s;
    int rc;

    assert(r->len <= EP_HOST_PROCNET_LINE_MAX);
    r->line_no++;
    r->line[r->len] = '\0';
    if (memchr(r->line, '\0', r->len))
        rc = ep_host_bad(&r->why, "a NUL byte in the line");
    else if (r->len == 0)
        rc = ep_host_bad(&r->why, "an empty line");
    else
        rc = ep_host_procnet_parse_line(r->line, r->family, r->proto, &s, &r->why);
    r->len = 0;
    if (rc == 1 && r->line_no != 1)
        rc = ep_host_bad(&r->why, "a header line after the first line");
    if (rc == 0 && r->line_no == 1)
        rc = ep_host_bad(&r->why, "no header line (the file is not /proc/net/tcp or udp)");
    if (rc < 0)
        return r->error = rc;
    if (rc == 0 && r->listen_only && s.state != EP_HOST_LISTEN) {
        r->done = true; /* the listening part is over */
        return 0;
    }
    if (rc == 0) {
        ep_host_agg_add(r->agg, &s);
        r->sockets++;
        if (r->agg->error)
            return r->error = r->agg->error;
    }
    return 0;
}

int ep_host_procnet_feed(ep_host_procnet_reader *r, const char *data, size_t n)
{
    while (n > 0 && !r->error && !r->done) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (take > EP_HOST_PROCNET_LINE_MAX - r->len) {
            r->line_no++;
            r->why = "longer than " EP_HOST_STR(EP_HOST_PROCNET_LINE_MAX) " bytes";
            return r->error = -EINVAL;
        }
        memcpy(r->line + r->len, data, take);
        r->len += take;
        if (!nl)
            break;
        data += take + 1;
        n -= take + 1;
        ep_host_procnet_line(r);
    }
    return r->error;
}

int ep_host_procnet_end(ep_host_procnet_reader *r)
{
    if (r->error)
        return r->error;
    if (r->done)
        return 0; /* a LISTEN pass that stopped early left the rest unread */
    if (r->len > 0) {
        r->line_no++;
        r->why = "truncated (no newline at the end of the file)";
        return r->error = -EINVAL;
    }
    if (r->line_no == 0) {
        r->line_no = 1;
        r->why = "empty file (no header line)";
        return r->error = -EINVAL;
    }
    return 0;
}

/* Stream one file through a reader.  0, -errno of open/read (why says
 * "could not read"), or the reader's error (why says which line). */
static int ep_host_procnet_file(ep_host_procnet_reader *r, char *buf, const char *name,
                                char *why, size_t len)
{
    char path[64];
    int fd, rc = 0;

    snprintf(path, sizeof path, "/proc/thread-self/net/%s", name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        snprintf(why, len, "could not read /proc/net/%s: %s", name, ep_host_errno_words(rc));
        return rc;
    }
    for (;;) {
        ssize_t got = read(fd, buf, EP_HOST_PROCNET_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = -errno;
            snprintf(why, len, "could not read /proc/net/%s: %s", name, ep_host_errno_words(rc));
            break;
        }
        rc = got ? ep_host_procnet_feed(r, buf, (size_t)got) : ep_host_procnet_end(r);
        if (rc == 0 && r->done)
            break;
        if (rc == -ENOMEM)
            snprintf(why, len, "out of memory while grouping /proc/net/%s", name);
        else if (rc)
            snprintf(why, len, "could not parse /proc/net/%s line %llu: %s", name,
                     (unsigned long long)r->line_no, r->why);
        if (rc || got == 0)
            break;
    }
    close(fd);
    return rc;
}

int ep_host_procnet_read(ep_host_agg *agg, uint8_t proto, char *why, size_t len)
{
    static const int families[2] = { AF_INET, AF_INET6 };
    ep_host_procnet_reader *r = malloc(sizeof *r);
    char *buf = malloc(EP_HOST_PROCNET_CHUNK);
    bool skip[2] = { false, false };
    int rc = 0;

    if (!r || !buf) {
        rc = -ENOMEM;
        snprintf(why, len, "out of memory");
        goto out;
    }
    /* TCP: listening ports first (a pass of their own, like the LISTEN
     * dump of sockdiag.c), so accepted sockets can be told apart.  The
     * kernel lists every listening socket before the others (the listening
     * hash, then the established one; Documentation/networking/
     * proc_net_tcp.rst), so that pass stops at the first socket that is not
     * LISTEN instead of reading the whole file twice.  Were a listener ever
     * printed later, the main pass still records it, and only sockets read
     * before it would be counted as connections rather than accepted: fewer
     * free ports, never more. */
    for (int pass = proto == 6 ? 0 : 1; pass < 2; pass++) {
        agg->listen_pass = pass == 0;
        for (int f = 0; f < 2; f++) {
            char name[8];
            if (skip[f] || (agg->family && agg->family != families[f]))
                continue;
            snprintf(name, sizeof name, "%s%s", proto == 6 ? "tcp" : "udp", f ? "6" : "");
            ep_host_procnet_begin(r, families[f], proto, agg);
            r->listen_only = pass == 0;
            rc = ep_host_procnet_file(r, buf, name, why, len);
            if (rc == -ENOENT && f == 1 && r->line_no == 0) {
                skip[f] = true; /* IPv6 disabled: nothing to count */
                rc = 0;
                continue;
            }
            if (rc)
                goto out;
        }
    }
out:
    agg->listen_pass = false;
    free(r);
    free(buf);
    return rc;
}
