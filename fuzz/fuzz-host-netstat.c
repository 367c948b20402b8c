/* fuzz-host-netstat.c - libFuzzer target for the /proc/net/netstat,
 * /proc/net/snmp and /proc/net/sockstat parsers (src/host/netstat.c):
 * any text, every lookup the snapshot makes; no crash, no over-read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fields[] = { "TCPTimeWaitOverflow", "TW", "TWRecycled",
                                          "ActiveOpens", "inuse", "tw" };
    static const char *const prefixes[] = { "TcpExt", "Tcp", "TCP", "UDP" };
    char *text = malloc(size + 1);
    int64_t v;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (size_t p = 0; p < 4; p++)
        for (size_t f = 0; f < 6; f++) {
            ep_host_netstat_lookup(text, prefixes[p], fields[f], &v);
            ep_host_sockstat_lookup(text, prefixes[p], fields[f], &v);
        }
    free(text);
    return 0;
}
