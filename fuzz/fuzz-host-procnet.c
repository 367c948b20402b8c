/* fuzz-host-procnet.c - libFuzzer target for the /proc/net/{tcp,tcp6,udp,
 * udp6} streaming reader (src/host/procnet.c).
 *
 * Input: byte 0 picks the family (bit 0: IPv6) and protocol (bit 1: UDP),
 * byte 1 the size of the reads (1 + byte 1), the rest is the file.  The file
 * goes through one reader whole and through another in reads of that size:
 * both must reach the same verdict (error, line, reason, sockets and
 * destinations), since how the kernel cuts its output into read()s must not
 * matter.  No crash, every parsed socket has a valid state, every
 * destination a non-negative free count. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "host-internal.h"

static ep_host_procnet_reader ep_whole, ep_cut;
static ep_host_agg ep_agg_whole, ep_agg_cut;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ep_host_entry *e;
    ep_host_sock s;
    size_t n, step;
    int family, rc_whole, rc_cut;
    uint8_t proto;
    const char *text, *why;
    char *line;

    if (size < 2)
        return 0;
    family = data[0] & 1 ? AF_INET6 : AF_INET;
    proto = data[0] & 2 ? 17 : 6;
    step = 1 + (size_t)data[1];
    text = (const char *)data + 2;
    size -= 2;

    /* one line on its own, NUL-terminated */
    line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, text, size);
    line[size] = '\0';
    why = NULL;
    if (ep_host_procnet_parse_line(line, family, proto, &s, &why) == 0 &&
        (s.state == 0 || s.state >= EP_HOST_NSTATES || s.proto != proto))
        abort();
    free(line);

    if (ep_host_agg_init(&ep_agg_whole, 1024, 65535, NULL, true, 0) != 0)
        return 0;
    if (ep_host_agg_init(&ep_agg_cut, 1024, 65535, NULL, true, 0) != 0) {
        ep_host_agg_free(&ep_agg_whole);
        return 0;
    }
    ep_host_procnet_begin(&ep_whole, family, proto, &ep_agg_whole);
    rc_whole = ep_host_procnet_feed(&ep_whole, text, size);
    if (rc_whole == 0)
        rc_whole = ep_host_procnet_end(&ep_whole);
    ep_host_procnet_begin(&ep_cut, family, proto, &ep_agg_cut);
    rc_cut = 0;
    for (size_t off = 0; off < size && rc_cut == 0; off += step)
        rc_cut = ep_host_procnet_feed(&ep_cut, text + off, size - off < step ? size - off : step);
    if (rc_cut == 0)
        rc_cut = ep_host_procnet_end(&ep_cut);
    if (rc_whole != rc_cut || ep_whole.line_no != ep_cut.line_no ||
        ep_whole.sockets != ep_cut.sockets || (rc_whole == -EINVAL && ep_whole.why != ep_cut.why) ||
        ep_agg_whole.nused != ep_agg_cut.nused ||
        memcmp(&ep_agg_whole.totals, &ep_agg_cut.totals, sizeof ep_agg_whole.totals) != 0)
        abort();
    if (rc_whole == -EINVAL && !ep_whole.why)
        abort();
    if (ep_host_agg_finish(&ep_agg_whole, 64512, NULL, &e, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (e[i].d.free < 0 || e[i].d.used == 0)
                abort();
        ep_host_entries_free(e, n);
    }
    ep_host_agg_free(&ep_agg_whole);
    ep_host_agg_free(&ep_agg_cut);
    return 0;
}
