/* fuzz-nat-csv.c - libFuzzer target for the port-block log's CSV line
 * parser (natlog_csv.c): no crash; an accepted line formats back to a
 * line that parses to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/natlog.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char line[512];
    ep_natlog_record a, b;
    ep_parse_error err;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (ep_natlog_csv_parse(text, &a, &err) == 0) {
        if (a.port_lo > a.port_hi || a.end <= a.start)
            abort();
        if (ep_natlog_csv_format(&a, line, sizeof line) < 0 ||
            ep_natlog_csv_parse(line, &b, NULL) != 0 || !ep_addr_equal(&a.subscriber, &b.subscriber) ||
            !ep_addr_equal(&a.ext, &b.ext) || a.proto != b.proto || a.port_lo != b.port_lo ||
            a.port_hi != b.port_hi || a.start != b.start || a.end != b.end)
            abort();
    } else if (err.message[0] == '\0') {
        abort();
    }
    free(text);
    return 0;
}
