/* fuzz-host-sockdiag.c - libFuzzer target for the sock_diag message parser
 * (src/host/sockdiag.c): arbitrary bytes as one netlink dump buffer into
 * the grouping; no crash, no over-read, sane destinations. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ep_host_agg agg;
    ep_host_entry *e;
    size_t n;
    void *buf;

    if (size < 1)
        return 0;
    /* netlink buffers are 4-byte aligned as received */
    buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    if (ep_host_agg_init(&agg, 1024, 65535, NULL, data[0] & 1, 0) == 0) {
        ep_host_sockdiag_parse(buf, size - 1, data[0] & 2 ? 17 : 6, &agg);
        if (ep_host_agg_finish(&agg, 64512, NULL, &e, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                if (e[i].d.used == 0 || e[i].d.free < 0)
                    abort();
            ep_host_entries_free(e, n);
        }
        ep_host_agg_free(&agg);
    }
    free(buf);
    return 0;
}
