/* test-nat-plan.c - deterministic NAT: CIDR and CIDR-list parsing (good and
 * bad input), UTC times, plan validation with its error messages, the
 * properties of random plans (every inside address one block, blocks never
 * overlap, whois inverts the plan), plan histories and the nft text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/nat.h>

static void cidr_accepts_canonical_forms(void **state)
{
    ep_cidr c;
    char buf[EP_CIDR_STRLEN];
    static const char *const ok[][2] = {
        { "100.64.0.0/10", "100.64.0.0/10" }, { "203.0.113.7", "203.0.113.7" },
        { "203.0.113.7/32", "203.0.113.7" },  { "0.0.0.0/0", "0.0.0.0/0" },
        { "2001:db8::/32", "2001:db8::/32" }, { "2001:db8::1", "2001:db8::1" },
        { "::/0", "::/0" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(ep_cidr_parse(ok[i][0], &c, NULL), 0);
        assert_true(ep_cidr_format(&c, buf, sizeof buf) > 0);
        assert_string_equal(buf, ok[i][1]);
    }
    assert_int_equal(ep_cidr_parse("100.64.0.0/10", &c, NULL), 0);
    assert_int_equal(ep_cidr_size4(&c), 1u << 22);
    assert_int_equal(ep_cidr_format(&c, buf, 5), EP_ENOSPC);
}

static void cidr_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "", "1.2.3", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/024", " 1.2.3.4", "1.2.3.4 ",
        "1.2.3.4/2x", "::1/129", "[::1]", "[::1]/128", "1.2.3.4/-1", "1.2.3.4//8", "300.1.1.1",
        "1.2.3.4/99999999999999999999", "/8", "a.b.c.d/8", "01.2.3.4",
    };
    ep_parse_error err;
    ep_cidr c;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        if (ep_cidr_parse(bad[i], &c, &err) != EP_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(err.message[0] != '\0');
        assert_true(err.offset <= strlen(bad[i]));
    }
    assert_int_equal(ep_cidr_parse("100.64.0.1/24", &c, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "host bits set"));
    assert_non_null(strstr(err.message, "100.64.0.0/24"));
    assert_int_equal(ep_cidr_parse("2001:db8::1/32", &c, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "2001:db8::/32"));
}

static void cidr_lists_and_overlaps(void **state)
{
    ep_cidr *l = NULL;
    size_t n = 0;
    ep_parse_error err;
    char buf[256];
    (void)state;
    assert_int_equal(ep_cidr_list_parse("100.64.0.0/24,100.64.1.0/25,203.0.113.1", &l, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ep_cidr_list_format(l, n, buf, sizeof buf), 39);
    assert_string_equal(buf, "100.64.0.0/24,100.64.1.0/25,203.0.113.1");
    assert_int_equal(ep_cidr_list_format(l, n, buf, 10), EP_ENOSPC);
    assert_true(ep_cidr_overlaps(&l[0], &l[0]));
    assert_false(ep_cidr_overlaps(&l[0], &l[1]));
    free(l);

    assert_int_equal(ep_cidr_list_parse("10.0.0.0/8,192.0.2.0/24,10.200.0.0/16", &l, &n, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "10.0.0.0/8 overlaps 10.200.0.0/16"));
    assert_int_equal(ep_cidr_list_parse("192.0.2.1,192.0.2.1", &l, &n, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "overlaps"));
    assert_int_equal(ep_cidr_list_parse("192.0.2.0/25,,192.0.2.128/25", &l, &n, &err), EP_EINVAL);
    assert_int_equal(err.offset, 13);
    assert_non_null(strstr(err.message, "empty item"));
    assert_int_equal(ep_cidr_list_parse("192.0.2.0/25,", &l, &n, &err), EP_EINVAL);
    assert_int_equal(ep_cidr_list_parse("192.0.2.0/25,192.0.2.129/25", &l, &n, &err), EP_EINVAL);
    assert_int_equal(err.offset, 13);
    assert_int_equal(ep_cidr_list_parse("", &l, &n, &err), EP_EINVAL);
    /* Different families never overlap. */
    assert_int_equal(ep_cidr_list_parse("::/0,0.0.0.0/0", &l, &n, &err), 0);
    free(l);
}

static void times_parse_strictly(void **state)
{
    int64_t t;
    char buf[EP_NAT_TIME_STRLEN];
    static const char *const bad[] = {
        "", "2026-11-24T10:02", "2026-11-24T10:02:00+01:00", "2026-11-24T10:02:00.5Z",
        "2026-02-29", "2026-13-01", "2026-11-24T24:00:00Z", "1969-12-31T23:59:59Z",
        "-5", "@", "0123", "2026-11-24X", "2026-11-24T10:02:00ZZ", "99999999999999",
    };
    (void)state;
    assert_int_equal(ep_nat_time_parse("2026-11-24T10:02:00Z", &t), 0);
    assert_int_equal(t, 1795514520);
    assert_int_equal(ep_nat_time_parse("2026-11-24 10:02:00+00:00", &t), 0);
    assert_int_equal(t, 1795514520);
    assert_int_equal(ep_nat_time_parse("1795514520", &t), 0);
    assert_int_equal(t, 1795514520);
    assert_int_equal(ep_nat_time_parse("@0", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(ep_nat_time_parse("2024-02-29", &t), 0);
    assert_int_equal(ep_nat_time_format(t, buf, sizeof buf), 0);
    assert_string_equal(buf, "2024-02-29T00:00:00Z");
    assert_int_equal(ep_nat_time_format(t, buf, 5), EP_ENOSPC);
    assert_int_equal(ep_nat_time_format(-1, buf, sizeof buf), EP_ERANGE);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ep_nat_time_parse(bad[i], &t) == 0)
            fail_msg("'%s' was accepted as a time", bad[i]);
}

static void expect_plan_error(const ep_nat_config *cfg, const char *needle)
{
    ep_nat_plan *p = (ep_nat_plan *)1;
    ep_parse_error err = { 0 };
    assert_int_equal(ep_nat_plan_new(cfg, &p, &err), EP_EINVAL);
    assert_null(p);
    if (!strstr(err.message, needle))
        fail_msg("expected '%s' in '%s'", needle, err.message);
}

static void plan_rejects_bad_configurations(void **state)
{
    (void)state;
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/33", .outside = "203.0.113.1" },
                      "inside: prefix length 33");
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/24", .outside = "203.0.113.1/24" },
                      "outside: '203.0.113.1/24' has host bits set");
    expect_plan_error(&(ep_nat_config){ .inside = "10.0.0.0/8", .outside = "10.1.2.3" },
                      "inside 10.0.0.0/8 overlaps outside 10.1.2.3");
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/24,100.64.0.128/25",
                                        .outside = "203.0.113.1" },
                      "overlaps");
    expect_plan_error(&(ep_nat_config){ .inside = "2001:db8::/120", .outside = "203.0.113.1" },
                      "IPv6");
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/24", .outside = "203.0.113.1",
                                        .port_lo = 1024, .port_hi = 2047, .ratio = 2000 },
                      "ratio 2000 does not fit");
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/24", .outside = "203.0.113.1",
                                        .port_lo = 1024, .port_hi = 2047, .block_size = 2000 },
                      "block size 2000 does not fit");
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/24", .outside = "203.0.113.1",
                                        .block_size = 1000 },
                      "256 subscribers do not fit: 1 external addresses x 64 blocks");
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/24", .outside = "203.0.113.1",
                                        .ratio = 100 },
                      "do not fit");
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/10", .outside = "203.0.113.1" },
                      "4194304 subscribers do not fit");
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/24", .outside = "203.0.113.1",
                                        .ratio = 4, .block_size = 4 },
                      "not both");
    expect_plan_error(&(ep_nat_config){ .inside = "100.64.0.0/24", .outside = "203.0.113.1",
                                        .port_lo = 2000, .port_hi = 1000 },
                      "port range");
    expect_plan_error(&(ep_nat_config){ .inside = NULL, .outside = "203.0.113.1" }, "inside");
}

static void plan_small_example(void **state)
{
    ep_nat_config cfg = { .inside = "100.64.0.0/29", .outside = "203.0.113.1,203.0.113.2",
                          .port_lo = 1024, .port_hi = 2047 };
    ep_nat_plan *p;
    ep_nat_plan_info in;
    ep_nat_mapping m;
    ep_addr a;
    char buf[256];
    (void)state;
    assert_int_equal(ep_nat_plan_new(&cfg, &p, NULL), 0);
    ep_nat_plan_get_info(p, &in);
    assert_int_equal(in.subscribers, 8);
    assert_int_equal(in.ext_addrs, 2);
    assert_int_equal(in.blocks_per_addr, 4);
    assert_int_equal(in.block_size, 256);
    assert_int_equal(in.unused_ports, 0);
    ep_addr_parse("100.64.0.5", &a);
    assert_int_equal(ep_nat_plan_forward(p, &a, &m), 0);
    ep_addr_format(&m.ext, buf, sizeof buf);
    assert_string_equal(buf, "203.0.113.2");
    assert_int_equal(m.port_lo, 1536);
    assert_int_equal(m.port_hi, 1791);
    ep_addr_parse("203.0.113.2", &a);
    assert_int_equal(ep_nat_plan_reverse(p, &a, 1700, &m), 0);
    ep_addr_format(&m.inside, buf, sizeof buf);
    assert_string_equal(buf, "100.64.0.5");
    assert_int_equal(ep_nat_plan_reverse(p, &a, 1023, &m), EP_ENOENT);
    ep_addr_parse("203.0.113.3", &a);
    assert_int_equal(ep_nat_plan_reverse(p, &a, 1700, &m), EP_ENOENT);
    ep_addr_parse("100.64.0.8", &a);
    assert_int_equal(ep_nat_plan_forward(p, &a, &m), EP_ENOENT);
    assert_int_equal(ep_nat_plan_at(p, 8, &m), EP_ENOENT);
    assert_int_equal(ep_nat_plan_describe(p, buf, sizeof buf), 83);
    assert_int_equal(strlen(buf), 83);
    assert_string_equal(buf, "inside=100.64.0.0/29 outside=203.0.113.1,203.0.113.2 "
                             "ports=1024-2047 block-size=256");
    ep_nat_plan_free(p);
}

/* xorshift64*: reproducible randomness for the property test. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* A random list of non-overlapping IPv4 CIDRs from base: distinct 4096-
 * address slots, each holding one aligned prefix of minpfx..32 (>= 20). */
static void random_list(char *buf, size_t len, uint32_t base, unsigned items, unsigned minpfx)
{
    uint32_t used = 0;
    size_t off = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < items; i++) {
        unsigned slot, pfx;
        uint32_t a;
        do
            slot = (unsigned)(rnd() % 32);
        while (used & (1u << slot));
        used |= 1u << slot;
        pfx = minpfx + (unsigned)(rnd() % (33 - minpfx));
        a = base + (slot << 12) + (uint32_t)((rnd() % (4096u >> (32 - pfx))) << (32 - pfx));
        {
            struct in_addr ia = { htonl(a) };
            char s[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &ia, s, sizeof s);
            off += (size_t)snprintf(buf + off, len - off, "%s%s/%u", i ? "," : "", s, pfx);
        }
    }
}

static void plan_properties_random(void **state)
{
    unsigned exhaustive = 0, built = 0;
    (void)state;
    for (int round = 0; round < 300; round++) {
        char inside[512], outside[512];
        ep_nat_config cfg = { 0 };
        ep_nat_plan *p;
        ep_nat_plan_info in;
        ep_parse_error err;
        uint8_t *owner;
        size_t P;
        int rc;

        random_list(inside, sizeof inside, 0x64400000u, 1 + (unsigned)(rnd() % 4), 23);
        random_list(outside, sizeof outside, 0xcb000000u, 1 + (unsigned)(rnd() % 3), 29);
        cfg.inside = inside;
        cfg.outside = outside;
        cfg.port_lo = (uint16_t)(1 + rnd() % 60000);
        cfg.port_hi = (uint16_t)(cfg.port_lo + rnd() % (65536 - cfg.port_lo));
        switch (rnd() % 3) {
        case 0:
            break;
        case 1:
            cfg.ratio = (uint32_t)(1 + rnd() % 600);
            break;
        default:
            cfg.block_size = (uint32_t)(1 + rnd() % 300);
            break;
        }
        rc = ep_nat_plan_new(&cfg, &p, &err);
        if (rc != 0) {
            assert_int_equal(rc, EP_EINVAL);
            assert_non_null(strstr(err.message, "fit"));
            continue;
        }
        built++;
        ep_nat_plan_get_info(p, &in);
        P = (size_t)in.port_hi - in.port_lo + 1;
        assert_true(in.subscribers <= in.capacity);
        assert_int_equal(in.capacity, in.ext_addrs * in.blocks_per_addr);
        assert_int_equal(in.unused_ports, P - (size_t)in.blocks_per_addr * in.block_size);
        assert_true(in.block_size >= 1);
        /* Every (external address, port) owned by at most one subscriber:
         * mark each subscriber's block in an owner map. */
        owner = calloc(in.ext_addrs * P, 1);
        assert_non_null(owner);
        for (uint64_t i = 0; i < in.subscribers; i++) {
            ep_nat_mapping m, f, r;
            ep_cidr c;
            uint64_t e = 0;
            assert_int_equal(ep_nat_plan_at(p, i, &m), 0);
            assert_int_equal(m.index, i);
            assert_int_equal(m.port_hi - m.port_lo + 1, in.block_size);
            assert_true(m.port_lo >= in.port_lo && m.port_hi <= in.port_hi);
            /* forward(inside(i)) == i: one block per inside address */
            assert_int_equal(ep_nat_plan_forward(p, &m.inside, &f), 0);
            assert_int_equal(f.index, i);
            assert_memory_equal(&f, &m, sizeof m);
            /* reverse at both ends of the block and inside it */
            assert_int_equal(ep_nat_plan_reverse(p, &m.ext, m.port_lo, &r), 0);
            assert_int_equal(r.index, i);
            assert_int_equal(ep_nat_plan_reverse(p, &m.ext, m.port_hi, &r), 0);
            assert_int_equal(r.index, i);
            /* locate the external address's number by brute force */
            {
                ep_cidr *l;
                size_t n;
                assert_int_equal(ep_cidr_list_parse(outside, &l, &n, NULL), 0);
                for (size_t k = 0; k < n; k++) {
                    c = l[k];
                    if (ep_cidr_contains(&c, &m.ext)) {
                        uint32_t a, b;
                        memcpy(&a, m.ext.u.bytes, 4);
                        memcpy(&b, c.addr.u.bytes, 4);
                        e += ntohl(a) - ntohl(b);
                        break;
                    }
                    e += ep_cidr_size4(&c);
                }
                free(l);
            }
            assert_true(e < in.ext_addrs);
            for (uint32_t q = m.port_lo; q <= m.port_hi; q++) {
                uint8_t *o = &owner[e * P + (q - in.port_lo)];
                if (*o)
                    fail_msg("round %d: port %u of external %llu in two blocks", round, q,
                             (unsigned long long)e);
                *o = 1;
            }
        }
        /* whois inverts the plan everywhere: for a few plans, every port of
         * every external address; unowned ports must say ENOENT. */
        if (in.ext_addrs * P <= 200000 && exhaustive < 25) {
            ep_cidr *l;
            size_t n;
            uint64_t e = 0;
            exhaustive++;
            assert_int_equal(ep_cidr_list_parse(outside, &l, &n, NULL), 0);
            for (size_t k = 0; k < n; k++) {
                for (uint64_t j = 0; j < ep_cidr_size4(&l[k]); j++, e++) {
                    uint32_t a;
                    ep_addr ext;
                    memcpy(&a, l[k].addr.u.bytes, 4);
                    a = htonl(ntohl(a) + (uint32_t)j);
                    ep_addr_from_bytes(AF_INET, &a, &ext);
                    for (size_t q = 0; q < P; q++) {
                        ep_nat_mapping r;
                        int rr = ep_nat_plan_reverse(p, &ext, (uint16_t)(in.port_lo + q), &r);
                        if (owner[e * P + q]) {
                            assert_int_equal(rr, 0);
                            assert_true(ep_addr_equal(&r.ext, &ext));
                            assert_true(in.port_lo + q >= r.port_lo && in.port_lo + q <= r.port_hi);
                        } else {
                            assert_int_equal(rr, EP_ENOENT);
                        }
                    }
                }
            }
            free(l);
        }
        free(owner);
        ep_nat_plan_free(p);
    }
    assert_true(built >= 50);
    assert_true(exhaustive >= 5);
}

static const char *history_text =
    "# test history\n"
    "ephport-nat-plans 1\n"
    "\n"
    "plan valid-from=2026-11-01T00:00:00Z inside=100.64.0.0/24 outside=203.0.113.1 "
    "ports=1024-65535 block-size=252\n"
    "  plan valid-from=2026-11-20T00:00:00Z inside=100.64.0.0/24 outside=203.0.113.1,203.0.113.2 "
    "ports=1024-65535 block-size=504\r\n";

static void history_picks_plan_in_force(void **state)
{
    ep_nat_history *h;
    ep_parse_error err;
    int64_t t, from, until;
    const ep_nat_plan *p;
    ep_nat_plan_info in;
    (void)state;
    assert_int_equal(ep_nat_history_parse(history_text, strlen(history_text), &h, &err), 0);
    assert_int_equal(ep_nat_history_count(h), 2);
    ep_nat_time_parse("2026-10-31T23:59:59Z", &t);
    assert_null(ep_nat_history_find(h, t, &from, &until));
    ep_nat_time_parse("2026-11-01T00:00:00Z", &t);
    p = ep_nat_history_find(h, t, &from, &until);
    assert_non_null(p);
    ep_nat_plan_get_info(p, &in);
    assert_int_equal(in.block_size, 252);
    assert_int_equal(from, t);
    ep_nat_time_parse("2026-11-20T00:00:00Z", &t);
    assert_int_equal(until, t);
    p = ep_nat_history_find(h, t, &from, &until);
    ep_nat_plan_get_info(p, &in);
    assert_int_equal(in.block_size, 504);
    assert_int_equal(until, INT64_MAX);
    ep_nat_history_free(h);
}

static void history_rejects_bad_files(void **state)
{
    static const char *const bad[][2] = {
        { "", "empty" },
        { "plan valid-from=0 inside=1.2.3.4 outside=5.6.7.8 ports=1-2 block-size=1\n",
          "not an ephport plan history" },
        { "ephport-nat-plans 3\n", "not an ephport plan history" },
        { "ephport-nat-plans 1\nplan valid-from=10 inside=100.64.0.1 outside=203.0.113.1 "
          "ports=1024-2047 block-size=4\nplan valid-from=5 inside=100.64.0.1 "
          "outside=203.0.113.1 ports=1024-2047 block-size=4\n",
          "line 3: valid-from 5 is not after" },
        { "ephport-nat-plans 1\nplan valid-from=10 inside=100.64.0.1 outside=203.0.113.1 "
          "ports=1024-2047 block-size=4 colour=red\n",
          "line 2: unknown key 'colour'" },
        { "ephport-nat-plans 1\nplan valid-from=10 inside=100.64.0.1 inside=100.64.0.2 "
          "outside=203.0.113.1 ports=1024-2047 block-size=4\n",
          "given twice" },
        { "ephport-nat-plans 1\nplan valid-from=10 inside=100.64.0.0/24 outside=203.0.113.1 "
          "ports=1024-2047 block-size=100\n",
          "line 2: 256 subscribers do not fit" },
        { "ephport-nat-plans 1\nplan valid-from=10 inside=100.64.0.1 outside=203.0.113.1\n",
          "needs valid-from, inside" },
        { "ephport-nat-plans 1\nplan valid-from=yesterday inside=100.64.0.1 "
          "outside=203.0.113.1 ports=1024-2047 block-size=4\n",
          "not a UTC time" },
        { "ephport-nat-plans 1\nplan valid-from=10 inside=100.64.0.1 outside=203.0.113.1 "
          "ports=1024-2047 block-size=0\n",
          "block-size" },
        { "ephport-nat-plans 1\nplanet\n", "expected 'plan" },
    };
    ep_nat_history *h;
    ep_parse_error err;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(ep_nat_history_parse(bad[i][0], strlen(bad[i][0]), &h, &err), EP_EINVAL);
        if (!strstr(err.message, bad[i][1]))
            fail_msg("case %zu: expected '%s' in '%s'", i, bad[i][1], err.message);
    }
    assert_int_equal(ep_nat_history_parse("ephport-nat-plans 1\n\0", 21, &h, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "NUL"));
}

static void history_append_and_load(void **state)
{
    char dir[] = "/tmp/ep-nat-hist-XXXXXX", path[256];
    ep_nat_config cfg = { .inside = "100.64.0.0/28", .outside = "203.0.113.1", .ratio = 16 };
    ep_nat_plan *p;
    ep_nat_history *h;
    ep_parse_error err;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/plans", dir);
    assert_int_equal(ep_nat_history_load(path, &h, &err), EP_ENOENT);
    assert_int_equal(ep_nat_plan_new(&cfg, &p, NULL), 0);
    assert_int_equal(ep_nat_history_append(path, p, 1000, &err), 0);
    assert_int_equal(ep_nat_history_append(path, p, 2000, &err), 0);
    assert_int_equal(ep_nat_history_append(path, p, 2000, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "is not after the last plan"));
    assert_int_equal(ep_nat_history_load(path, &h, &err), 0);
    assert_int_equal(ep_nat_history_count(h), 2);
    {
        int64_t from;
        ep_nat_plan_info in;
        const ep_nat_plan *q = ep_nat_history_at(h, 1, &from, NULL);
        assert_int_equal(from, 2000);
        ep_nat_plan_get_info(q, &in);
        assert_int_equal(in.blocks_per_addr, 16);
        assert_int_equal(in.block_size, 4032);
    }
    ep_nat_history_free(h);
    /* A corrupt history is never appended to. */
    {
        FILE *f = fopen(path, "a");
        fputs("garbage\n", f);
        fclose(f);
    }
    assert_int_equal(ep_nat_history_append(path, p, 3000, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "line"));
    ep_nat_plan_free(p);
    unlink(path);
    rmdir(dir);
}

static void nft_text_has_every_subscriber(void **state)
{
    ep_nat_config cfg = { .inside = "100.64.0.0/30", .outside = "203.0.113.1",
                          .port_lo = 1024, .port_hi = 1031, .block_size = 2 };
    ep_nat_plan *p;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    (void)state;
    assert_int_equal(ep_nat_plan_new(&cfg, &p, NULL), 0);
    f = open_memstream(&text, &len);
    assert_int_equal(ep_nat_plan_write_nft(p, f), 0);
    fclose(f);
    assert_non_null(strstr(text, "table ip ephport_nat {"));
    assert_non_null(strstr(text, "100.64.0.0 : 203.0.113.1 . 1024-1025,"));
    assert_non_null(strstr(text, "100.64.0.3 : 203.0.113.1 . 1030-1031\n"));
    assert_non_null(strstr(text, "meta l4proto { tcp, udp } snat ip to ip saddr map @subscriber_block"));
    assert_non_null(strstr(text, "meta l4proto icmp snat"));
    free(text);
    ep_nat_plan_free(p);
    /* one-port blocks are still written as ranges (nft refuses a bare port
     * in interval map data) */
    cfg.block_size = 1;
    assert_int_equal(ep_nat_plan_new(&cfg, &p, NULL), 0);
    text = NULL;
    f = open_memstream(&text, &len);
    assert_int_equal(ep_nat_plan_write_nft(p, f), 0);
    fclose(f);
    assert_non_null(strstr(text, "100.64.0.0 : 203.0.113.1 . 1024-1024,"));
    free(text);
    ep_nat_plan_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cidr_accepts_canonical_forms),
        cmocka_unit_test(cidr_rejects_malformed),
        cmocka_unit_test(cidr_lists_and_overlaps),
        cmocka_unit_test(times_parse_strictly),
        cmocka_unit_test(plan_rejects_bad_configurations),
        cmocka_unit_test(plan_small_example),
        cmocka_unit_test(plan_properties_random),
        cmocka_unit_test(history_picks_plan_in_force),
        cmocka_unit_test(history_rejects_bad_files),
        cmocka_unit_test(history_append_and_load),
        cmocka_unit_test(nft_text_has_every_subscriber),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
