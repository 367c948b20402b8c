/* fuzz-sim-trace.c - libFuzzer target for the CSV trace reader
 * (src/sim/trace.c): no crash, no leak; a parsed trace keeps its promises
 * (times non-decreasing, every close names an earlier open, indexes in
 * range), and a rejected one says which line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ep_trace tr;
    char msg[256];
    msg[0] = '\0';
    if (ep_trace_parse(&tr, (const char *)data, size, "f", msg, sizeof msg) != 0) {
        if (strncmp(msg, "f:", 2) != 0 && strcmp(msg, "out of memory") != 0)
            abort();
        if (tr.ev || tr.nev)
            abort();
        return 0;
    }
    uint8_t *open = calloc(tr.nconn ? tr.nconn : 1, 1);
    if (!open)
        abort();
    for (size_t i = 0; i < tr.nev; i++) {
        const ep_trace_event *e = &tr.ev[i];
        if ((i && e->t < tr.ev[i - 1].t) || e->conn >= tr.nconn)
            abort();
        if (e->type == EP_TRACE_OPEN) {
            if (e->dest >= tr.ndest || open[e->conn])
                abort();
            open[e->conn] = 1;
        } else if (open[e->conn] != 1 || !tr.has_close[e->conn]) {
            abort();
        } else {
            open[e->conn] = 2;
        }
    }
    free(open);
    ep_trace_free(&tr);
    return 0;
}
