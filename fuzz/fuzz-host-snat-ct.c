/* fuzz-host-snat-ct.c - libFuzzer target for the ctnetlink reply walks of
 * the SNAT view (src/host/snat-ct.c): the first byte chooses the conntrack
 * dump walk (even) or the per-CPU statistics walk (odd), the rest is one
 * received buffer.  No crash, no over-read, ports and protocols sane. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snat-internal.h"

static void ep_fuzz_flow(const ep_snat_flow *f, void *arg)
{
    (void)arg;
    if (f->osrc.family != 2 && f->osrc.family != 10)
        abort();
    if (f->rdst.family != 2 && f->rdst.family != 10)
        abort();
    (void)ep_snat_flow_translated(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ep_snat_stats st = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
    void *buf;
    if (size < 1)
        return 0;
    buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    if (data[0] & 1) {
        ep_snat_stats_walk(buf, size - 1, &st);
        if (st.insert_failed < -1 || st.drop < -1 || st.ncpu < -1)
            abort();
    } else {
        ep_snat_ct_walk(buf, size - 1, ep_fuzz_flow, NULL);
    }
    free(buf);
    return 0;
}
