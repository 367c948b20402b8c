/* fuzz-sim-config.c - libFuzzer target for the workload config parser
 * (src/sim/workload.c) and the distribution parser (dist.c): no crash, no
 * leak; an error always says where (ORIGIN:LINE:) and a parsed workload
 * passes or fails its cross-checks cleanly, and prints as JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), msg[EP_WL_MSG];
    ep_workload w;
    ep_dist d;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    ep_workload_init(&w);
    msg[0] = '\0';
    if (ep_workload_parse(&w, text, "f", msg, sizeof msg) == 0) {
        if (ep_workload_check(&w, msg, sizeof msg) == 0) {
            json_t *j = ep_workload_to_json(&w);
            if (!j)
                abort();
            json_decref(j);
            if (w.rate <= 0 || w.destinations < 1 || w.requests_per_conn < 1 || w.sources < 1)
                abort();
        }
    } else if (strncmp(msg, "f:", 2) != 0) {
        abort();
    }
    ep_workload_free(&w);
    if (ep_dist_parse(text, &d, msg, sizeof msg) == 0 && !(d.mean >= 0))
        abort();
    free(text);
    return 0;
}
