/* fuzz-listen.c - libFuzzer target for the two small parsers of the
 * exporter/exec area: the exporter's --listen ADDR:PORT (src/exporter/
 * listen.c) and the "LO-HI" range that `ephport exec` hands to the preload
 * shim (src/preload/range-env.c).  No crash; whatever parses must print
 * back to a text that parses to the same value; failures explain. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "range-env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), why[256], out[80], range[16];
    ep_listen_addr a, b;
    uint16_t lo, hi, lo2, hi2;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    why[0] = '\0';
    if (ep_listen_parse(text, &a, why, sizeof why) == 0) {
        if (ep_listen_format(&a, out, sizeof out) != 0 ||
            ep_listen_parse(out, &b, why, sizeof why) != 0 || memcmp(&a, &b, sizeof a) != 0)
            abort();
    } else if (why[0] == '\0') {
        abort();
    }
    if (ep_preload_range_parse(text, &lo, &hi)) {
        if (lo == 0 || lo > hi)
            abort();
        snprintf(range, sizeof range, "%u-%u", lo, hi);
        if (!ep_preload_range_parse(range, &lo2, &hi2) || lo2 != lo || hi2 != hi)
            abort();
    }
    free(text);
    return 0;
}
