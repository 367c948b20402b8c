/* fuzz-host-sysctl.c - libFuzzer target for the sysctl value parser
 * (src/host/sysctl.c) that reads tcp_tw_reuse, tcp_fin_timeout,
 * tcp_max_tw_buckets and the conntrack files nf_conntrack_count/max: any
 * text; a parsed value must print back to the same number. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), back[32];
    int64_t v, w;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (ep_host_parse_i64(text, &v) == 0) {
        snprintf(back, sizeof back, "%" PRId64 "\n", v);
        if (ep_host_parse_i64(back, &w) != 0 || w != v)
            abort();
    }
    free(text);
    return 0;
}
