/* procnet.c - the fallback reader: /proc/net/{tcp,tcp6,udp,udp6}, used only
 * when sock_diag is unavailable (and then the snapshot says so).  It sees
 * the same sockets except TCP sockets that are bound but neither listening
 * nor connected, which only sock_diag reports.  Lines look like
 *
 *   sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode
 *    0: 0100007F:9C40 0100007F:1389 01 00000000:00000000 00:00000000 00000000     0        0 12345 ...
 *
 * where each address is the kernel's __be32 words printed with %08X in host
 * byte order.  ep_host_procnet_parse_line is a fuzz target. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "host-internal.h"

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
    if (!ep_host_hex(p, 4, &v))
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

int ep_host_procnet_parse_line(const char *line, int family, uint8_t proto, ep_host_sock *out)
{
    const char *p = line;
    uint32_t st;
    char *end;
    unsigned long long inode;

    if (family != AF_INET && family != AF_INET6)
        return -EINVAL;
    ep_host_skip_spaces(&p);
    if (strncmp(p, "sl", 2) == 0)
        return 1;
    /* "N:" */
    if (*p < '0' || *p > '9')
        return -EINVAL;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != ':')
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->proto = proto;
    ep_host_skip_spaces(&p);
    if (!ep_host_proc_endpoint(&p, family, &out->local, &out->local_port))
        return -EINVAL;
    ep_host_skip_spaces(&p);
    if (!ep_host_proc_endpoint(&p, family, &out->remote, &out->remote_port))
        return -EINVAL;
    ep_host_skip_spaces(&p);
    if (!ep_host_hex(&p, 2, &st) || st == 0 || st >= EP_HOST_NSTATES)
        return -EINVAL;
    out->state = (uint8_t)st;
    /* tx:rx, tr:when, retrnsmt, uid, timeout, then the inode. */
    for (int i = 0; i < 5; i++)
        if (!ep_host_skip_field(&p))
            return -EINVAL;
    ep_host_skip_spaces(&p);
    if (*p < '0' || *p > '9')
        return -EINVAL;
    errno = 0;
    inode = strtoull(p, &end, 10);
    if (errno || inode > UINT32_MAX || (*end != ' ' && *end != '\0' && *end != '\n'))
        return -EINVAL;
    out->inode = (uint32_t)inode;
    return 0;
}

int ep_host_procnet_parse(const char *text, int family, uint8_t proto, ep_host_agg *agg)
{
    const char *line = text;
    int n = 0;
    while (*line) {
        const char *nl = strchr(line, '\n');
        ep_host_sock s;
        int rc;
        if (line[0] != '\n') {
            rc = ep_host_procnet_parse_line(line, family, proto, &s);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                ep_host_agg_add(agg, &s);
                n++;
            }
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return agg->error ? agg->error : n;
}

int ep_host_procnet_read(ep_host_agg *agg, uint8_t proto, char *why, size_t len)
{
    static const int families[2] = { AF_INET, AF_INET6 };
    char *text[2] = { NULL, NULL };
    int rc = 0;

    for (int f = 0; f < 2; f++) {
        char path[64];
        if (agg->family && agg->family != families[f])
            continue;
        snprintf(path, sizeof path, "/proc/thread-self/net/%s%s", proto == 6 ? "tcp" : "udp",
                 f ? "6" : "");
        rc = ep_host_read_file(path, &text[f], NULL);
        if (rc == -ENOENT && f == 1) {
            rc = 0; /* IPv6 disabled: nothing to count */
            continue;
        }
        if (rc != 0) {
            snprintf(why, len, "could not read /proc/net/%s%s: %s", proto == 6 ? "tcp" : "udp",
                     f ? "6" : "", ep_host_errno_words(rc));
            goto out;
        }
    }
    /* Listening ports first, so accepted sockets can be told apart. */
    for (int pass = 0; pass < 2; pass++) {
        agg->listen_pass = pass == 0;
        for (int f = 0; f < 2; f++) {
            if (!text[f])
                continue;
            rc = ep_host_procnet_parse(text[f], families[f], proto, agg);
            if (rc < 0) {
                snprintf(why, len, "could not parse /proc/net/%s%s: %s",
                         proto == 6 ? "tcp" : "udp", f ? "6" : "", ep_host_errno_words(rc));
                agg->listen_pass = false;
                goto out;
            }
        }
    }
    agg->listen_pass = false;
    rc = 0;
out:
    free(text[0]);
    free(text[1]);
    return rc;
}
