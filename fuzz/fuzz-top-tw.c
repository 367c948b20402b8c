/* fuzz-top-tw.c - libFuzzer target for `ephport top`'s TIME_WAIT timer
 * dump parser (src/cli/top-tw.c): arbitrary bytes as one netlink buffer;
 * no crash, no over-read, only well-formed TIME_WAIT records reported. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/conns.h>

static void check(const ep_host_conn *tw, void *arg)
{
    size_t *count = arg;
    /* Each address is folded on its own (::ffff:a.b.c.d -> IPv4), as the
     * snapshot does, so the two may differ on malformed input. */
    if ((tw->local.family != AF_INET && tw->local.family != AF_INET6) ||
        (tw->remote.family != AF_INET && tw->remote.family != AF_INET6))
        abort();
    ++*count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t count = 0;
    void *buf = malloc(size ? size : 1); /* received buffers are aligned */
    int rc;
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    rc = ep_host_conns_parse_tw(buf, size, check, &count);
    if (rc > 1 || (count && size < 16 + 72))
        abort();
    free(buf);
    return 0;
}
