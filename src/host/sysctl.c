/* sysctl.c - the namespace's port settings from /proc/sys/net: the range,
 * the reserved ports, TIME_WAIT reuse and limits.  Every value that cannot
 * be read stays EP_HOST_UNKNOWN and leaves a note saying why; nothing is
 * guessed.  Also the small file reader and integer parser the other readers
 * share (the parser is fuzzed: fuzz/fuzz-host-sysctl.c). */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host-internal.h"

#define EP_HOST_FILE_MAX (4u << 20) /* no kernel text we read is near this */

int ep_host_read_file(const char *path, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    buf = malloc(cap);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t r;
        if (cap - n < 2) {
            char *nb;
            if (cap >= EP_HOST_FILE_MAX) {
                free(buf);
                close(fd);
                return -EFBIG;
            }
            nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            free(buf);
            close(fd);
            return -e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

static bool ep_host_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int ep_host_parse_i64(const char *text, int64_t *out)
{
    const char *p = text;
    bool neg = false;
    uint64_t v = 0;
    bool digits = false;

    while (ep_host_is_space(*p))
        p++;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p++ - '0');
        if (v > ((uint64_t)INT64_MAX + (neg ? 1u : 0u) - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
        digits = true;
    }
    while (ep_host_is_space(*p))
        p++;
    if (!digits || *p != '\0')
        return -EINVAL;
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

const char *ep_host_errno_words(int err)
{
    switch (err) {
    case -ENOENT:
        return "not present on this kernel or in this namespace";
    case -EACCES:
    case -EPERM:
        return "permission denied";
    case -EINVAL:
        return "unexpected contents";
    case -ERANGE:
        return "value out of range";
    case -ENOMEM:
        return "out of memory";
    default:
        return strerror(-err);
    }
}

/* Read /proc/sys/net/<name> as one integer; UNKNOWN and a note on failure,
 * unless quiet_enoent (settings that only some kernels have). */
static int64_t ep_host_sysctl_int(ep_host_snapshot *s, const char *name, bool quiet_enoent)
{
    char path[128];
    char *text;
    int64_t v;
    int rc;

    snprintf(path, sizeof path, "/proc/sys/net/%s", name);
    rc = ep_host_read_file(path, &text, NULL);
    if (rc == 0) {
        rc = ep_host_parse_i64(text, &v);
        free(text);
    }
    if (rc == 0)
        return v;
    if (!(quiet_enoent && rc == -ENOENT))
        ep_host_note(s, "could not read %s: %s", path, ep_host_errno_words(rc));
    return EP_HOST_UNKNOWN;
}

static void ep_host_read_range(ep_host_snapshot *s)
{
    static const char path[] = "/proc/sys/net/ipv4/ip_local_port_range";
    ep_parse_error perr;
    uint16_t lo, hi;
    char *text;
    int rc = ep_host_read_file(path, &text, NULL);

    if (rc != 0) {
        ep_host_note(s, "could not read %s: %s", path, ep_host_errno_words(rc));
        return;
    }
    rc = ep_range_parse(text, &lo, &hi, &perr);
    free(text);
    if (rc != 0) {
        ep_host_note(s, "could not read %s: %s", path, perr.message);
        return;
    }
    s->settings.port_lo = lo;
    s->settings.port_hi = hi;
}

static void ep_host_read_reserved(ep_host_snapshot *s)
{
    static const char path[] = "/proc/sys/net/ipv4/ip_local_reserved_ports";
    ep_parse_error perr;
    char *text;
    size_t len;
    int rc = ep_host_read_file(path, &text, &len);

    if (rc != 0) {
        ep_host_note(s, "could not read %s: %s; counting no reserved ports", path,
                     ep_host_errno_words(rc));
        return;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = '\0';
    rc = ep_portset_parse(text, &s->reserved, &perr);
    if (rc != 0) {
        ep_host_note(s, "could not read %s: %s; counting no reserved ports", path,
                     perr.message);
        free(text);
        ep_portset_clear(&s->reserved);
        return;
    }
    s->reserved_text = text;
    s->reserved_known = true;
    s->settings.reserved_text = text;
    s->settings.reserved = &s->reserved;
}

void ep_host_read_settings(ep_host_snapshot *s)
{
    ep_host_settings *st = &s->settings;

    ep_host_read_range(s);
    ep_host_read_reserved(s);
    if (st->port_lo != EP_HOST_UNKNOWN) {
        uint32_t width = (uint32_t)(st->port_hi - st->port_lo + 1);
        uint32_t r = ep_portset_count(&s->reserved, (uint16_t)st->port_lo,
                                      (uint16_t)st->port_hi);
        st->reserved_in_range = s->reserved_known ? (int64_t)r : EP_HOST_UNKNOWN;
        st->effective_ports = (int64_t)(width - r);
    }
    st->tw_reuse = ep_host_sysctl_int(s, "ipv4/tcp_tw_reuse", false);
    st->tw_reuse_delay_ms = ep_host_sysctl_int(s, "ipv4/tcp_tw_reuse_delay", true);
    st->fin_timeout_s = ep_host_sysctl_int(s, "ipv4/tcp_fin_timeout", false);
    st->max_tw_buckets = ep_host_sysctl_int(s, "ipv4/tcp_max_tw_buckets", false);
    st->time_wait_s = EP_HOST_TIME_WAIT_SECONDS;
}
