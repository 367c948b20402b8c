/* fuzz-portset.c - libFuzzer target for the port range and reserved-port
 * parsers (portset.c): no crash, and whatever parses must print back to a
 * text that parses to the same set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/portset.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    static ep_portset a, b;
    static char out[400000];
    ep_parse_error err;
    uint16_t lo, hi;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (ep_range_parse(text, &lo, &hi, &err) == 0 && (lo == 0 || lo > hi))
        abort();
    if (ep_portset_parse(text, &a, &err) == 0) {
        if (ep_portset_format(&a, out, sizeof out) < 0)
            abort();
        if (ep_portset_parse(out, &b, &err) != 0 || memcmp(&a, &b, sizeof a) != 0)
            abort();
    } else if (err.offset > size || err.message[0] == '\0') {
        abort();
    }
    free(text);
    return 0;
}
