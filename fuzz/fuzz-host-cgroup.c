/* fuzz-host-cgroup.c - libFuzzer target for the cgroup-path parser behind
 * `--all-namespaces` (ep_host_cgroup_ids, src/host/nsenum.c): any bytes, no
 * terminator assumed; a container id found is 64 lowercase hex digits that
 * occur in the input, a pod UID is 36 characters in the 8-4-4-4-12 shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host-internal.h"

static int ep_fuzz_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char c[65], p[37];
    char *copy = malloc(size ? size : 1);   /* exact size: ASan sees overreads */
    int found;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    found = ep_host_cgroup_ids(copy, size, c, sizeof c, p, sizeof p);
    if (found & 1) {
        if (strlen(c) != 64 || !memmem(copy, size, c, 64))
            abort();
        for (int i = 0; i < 64; i++)
            if (!ep_fuzz_hex(c[i]))
                abort();
    } else if (c[0]) {
        abort();
    }
    if (found & 2) {
        if (strlen(p) != 36)
            abort();
        for (int i = 0; i < 36; i++)
            if ((i == 8 || i == 13 || i == 18 || i == 23) ? p[i] != '-' : !ep_fuzz_hex(p[i]))
                abort();
    } else if (p[0]) {
        abort();
    }
    free(copy);
    return 0;
}
