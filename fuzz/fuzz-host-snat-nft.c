/* fuzz-host-snat-nft.c - libFuzzer target for the `nft -j list ruleset`
 * parser of the SNAT view (src/host/snat-nft.c).  No crash, no leak; every
 * rule found has an ordered port range and a kind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snat-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ep_snat_rule *r = NULL;
    char why[256];
    int n = ep_snat_parse_nft_json((const char *)data, size, &r, why, sizeof why);
    for (int i = 0; i < n; i++)
        if ((r[i].has_ports && r[i].port_lo > r[i].port_hi) || !r[i].kind[0])
            abort();
    free(r);
    return 0;
}
