/* fuzz-host-procnet.c - libFuzzer target for the /proc/net/{tcp,tcp6,udp,
 * udp6} parser (src/host/procnet.c): any text, either family, into the
 * grouping; no crash, and every parsed socket has a valid state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "host-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ep_host_agg agg;
    ep_host_entry *e;
    ep_host_sock s;
    size_t n;
    char *text;
    int family;

    if (size < 1)
        return 0;
    family = data[0] & 1 ? AF_INET6 : AF_INET;
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (ep_host_procnet_parse_line(text, family, 6, &s) == 0 &&
        (s.state == 0 || s.state >= EP_HOST_NSTATES))
        abort();
    if (ep_host_agg_init(&agg, 1024, 65535, NULL, true, 0) == 0) {
        ep_host_procnet_parse(text, family, data[0] & 2 ? 17 : 6, &agg);
        if (ep_host_agg_finish(&agg, 64512, &e, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                if (e[i].d.free < 0 || e[i].d.used == 0)
                    abort();
            ep_host_entries_free(e, n);
        }
        ep_host_agg_free(&agg);
    }
    free(text);
    return 0;
}
