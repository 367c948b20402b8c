/* conntrack.c - nf_conntrack_count and nf_conntrack_max of the namespace.
 * Connection tracking is a second table that exhausts (NAT and stateful
 * firewalls drop new flows when it is full), so status reports it beside the
 * ports; when the module is not loaded the values stay unknown and the note
 * says so instead of printing zeros. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "host-internal.h"

int ep_host_netfilter_sysctl(const char *name, int64_t *out, char *path, size_t len)
{
    char *text;
    int64_t v;
    int rc;

    snprintf(path, len, "/proc/sys/net/netfilter/%s", name);
    rc = ep_host_read_file(path, &text, NULL);
    if (rc != 0)
        return rc;
    rc = ep_host_parse_i64(text, &v);
    free(text);
    if (rc == 0 && v < 0)
        rc = -EINVAL;
    if (rc == 0)
        *out = v;
    return rc;
}

static int64_t ep_host_conntrack_value(ep_host_snapshot *s, const char *name, bool *missing)
{
    char path[96];
    int64_t v;
    int rc = ep_host_netfilter_sysctl(name, &v, path, sizeof path);

    if (rc == 0)
        return v;
    if (rc == -ENOENT) {
        *missing = true;
        return EP_HOST_UNKNOWN;
    }
    ep_host_note(s, "could not read %s: %s", path, ep_host_errno_words(rc));
    return EP_HOST_UNKNOWN;
}

void ep_host_read_conntrack(ep_host_snapshot *s)
{
    bool missing = false;
    struct stat st;

    s->settings.conntrack_count = ep_host_conntrack_value(s, "nf_conntrack_count", &missing);
    s->settings.conntrack_max = ep_host_conntrack_value(s, "nf_conntrack_max", &missing);
    if (!missing)
        return;
    if (stat("/proc/sys/net/netfilter", &st) != 0)
        ep_host_note(s, "conntrack unavailable: nf_conntrack is not loaded "
                        "(no /proc/sys/net/netfilter)");
    else
        ep_host_note(s, "conntrack unavailable: nf_conntrack is not loaded "
                        "(no nf_conntrack_count in /proc/sys/net/netfilter)");
}
