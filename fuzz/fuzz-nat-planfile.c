/* fuzz-nat-planfile.c - libFuzzer target for the plan-history parser
 * (plan_file.c): no crash on any bytes; accepted histories have strictly
 * increasing valid-from times and find() agrees with at(). */
#include <stdint.h>
#include <stdlib.h>

#include <ephport/nat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ep_nat_history *h;
    ep_parse_error err;

    if (ep_nat_history_parse((const char *)data, size, &h, &err) != 0) {
        if (err.message[0] == '\0' || err.offset > size)
            abort();
        return 0;
    }
    for (size_t i = 0; i < ep_nat_history_count(h); i++) {
        int64_t from, until, f2, u2;
        const ep_nat_plan *p = ep_nat_history_at(h, i, &from, &until);
        if (!p || until <= from || ep_nat_history_find(h, from, &f2, &u2) != p || f2 != from ||
            u2 != until)
            abort();
    }
    ep_nat_history_free(h);
    return 0;
}
