/* fuzz-nat-ipfix.c - libFuzzer target for the IPFIX reader (natlog_ipfix.c):
 * the input is a stream of messages, each cut by its header's length as
 * `nat log import --format ipfix` cuts them; no crash, no read outside the
 * message (ASan), every refusal has a message; every accepted event is a
 * port block with its range in order, and encodes back into a message the
 * reader accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/natlog.h>

static int check(const ep_natlog_ipfix_event *ev, uint64_t off, void *arg)
{
    uint8_t buf[256];
    ep_natlog_ipfix_reader *rd2 = arg;
    int n;
    (void)off;
    if (ev->port_hi < ev->port_lo ||
        (ev->nat_event != EP_NATLOG_IPFIX_PB_ALLOC && ev->nat_event != EP_NATLOG_IPFIX_PB_DEALLOC))
        abort();
    if (ev->port_lo == 0 && ev->port_hi == 65535)
        return 0; /* 65536 ports: portRangeNumPorts cannot say it */
    n = ep_natlog_ipfix_encode(ev, 1, 0, 0, 0, buf, sizeof buf);
    if (n < 0 || ep_natlog_ipfix_parse(rd2, buf, (size_t)n, NULL, NULL, NULL) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ep_natlog_ipfix_reader rd, rd2;
    ep_parse_error err;
    size_t off = 0;
    ep_natlog_ipfix_reader_init(&rd);
    ep_natlog_ipfix_reader_init(&rd2);
    while (off < size) {
        size_t len = size - off;
        uint8_t *msg;
        int rc;
        if (len >= 4 && ((size_t)data[off + 2] << 8 | data[off + 3]) <= len)
            len = (size_t)data[off + 2] << 8 | data[off + 3];
        msg = malloc(len ? len : 1); /* its own allocation: ASan sees any overread */
        if (!msg)
            return 0;
        memcpy(msg, data + off, len);
        err.message[0] = '\0';
        rc = ep_natlog_ipfix_parse(&rd, msg, len, check, &rd2, &err);
        free(msg);
        if (rc != 0) {
            if (err.message[0] == '\0')
                abort();
            break;
        }
        off += len;
    }
    return 0;
}
