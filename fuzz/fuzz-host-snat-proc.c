/* fuzz-host-snat-proc.c - libFuzzer target for the /proc fallback parsers
 * of the SNAT view (src/host/snat-proc.c): first byte 'S' feeds the rest to
 * the /proc/net/stat/nf_conntrack parser, anything else splits it into
 * /proc/net/nf_conntrack lines.  No crash; parsed lines are complete. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snat-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    if (size < 1)
        return 0;
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (data[0] == 'S') {
        ep_snat_stats st = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
        if (ep_snat_proc_stats(text, &st) == 0 && st.ncpu <= 0)
            abort();
    } else {
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            ep_snat_flow f;
            if (ep_snat_proc_line(line, &f) == 0 &&
                (f.osrc.family == 0 || f.rdst.family != f.rsrc.family))
                abort();
        }
    }
    free(text);
    return 0;
}
