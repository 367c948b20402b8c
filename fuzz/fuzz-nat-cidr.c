/* fuzz-nat-cidr.c - libFuzzer target for the CIDR and CIDR-list parsers
 * (cidr.c) and the plan builder on top of them (detnat.c): no crash, what
 * parses prints back to text that parses to the same list, no two items of
 * an accepted list overlap, and a plan built from the input as inside list
 * maps every subscriber forward and back consistently. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/nat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *out;
    ep_cidr *a = NULL, *b = NULL, one;
    size_t na = 0, nb = 0;
    ep_parse_error err;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (ep_cidr_parse(text, &one, &err) == 0) {
        char buf[EP_CIDR_STRLEN];
        ep_cidr two;
        if (ep_cidr_format(&one, buf, sizeof buf) < 0 || ep_cidr_parse(buf, &two, NULL) != 0 ||
            !ep_addr_equal(&one.addr, &two.addr) || one.prefix != two.prefix)
            abort();
    } else if (err.message[0] == '\0' || err.offset > size) {
        abort();
    }
    if (ep_cidr_list_parse(text, &a, &na, &err) == 0) {
        size_t cap = na * EP_CIDR_STRLEN + 1;
        out = malloc(cap);
        if (!out || ep_cidr_list_format(a, na, out, cap) < 0 ||
            ep_cidr_list_parse(out, &b, &nb, NULL) != 0 || nb != na)
            abort();
        for (size_t i = 0; i < na; i++) {
            if (!ep_addr_equal(&a[i].addr, &b[i].addr) || a[i].prefix != b[i].prefix)
                abort();
            for (size_t j = i + 1; j < na && j < i + 64; j++)
                if (ep_cidr_overlaps(&a[i], &a[j]))
                    abort();
        }
        free(out);
        free(b);
        free(a);
        /* As the inside list of a plan (bounded so a run stays fast). */
        {
            ep_nat_config cfg = { .inside = text, .outside = "203.0.113.0/28" };
            ep_nat_plan *p;
            if (ep_nat_plan_new(&cfg, &p, &err) == 0) {
                ep_nat_plan_info in;
                ep_nat_plan_get_info(p, &in);
                for (uint64_t i = 0; i < in.subscribers && i < 256; i++) {
                    ep_nat_mapping m, f, r;
                    if (ep_nat_plan_at(p, i, &m) != 0 || ep_nat_plan_forward(p, &m.inside, &f) != 0 ||
                        f.index != i || ep_nat_plan_reverse(p, &m.ext, m.port_hi, &r) != 0 ||
                        r.index != i)
                        abort();
                }
                ep_nat_plan_free(p);
            } else if (err.message[0] == '\0') {
                abort();
            }
        }
    } else if (err.message[0] == '\0' || err.offset > size) {
        abort();
    }
    free(text);
    return 0;
}
