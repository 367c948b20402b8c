/* test-nat-blocks.c - dynamic port blocks: configuration errors, paired
 * pooling, the per-subscriber bound, exhaustion, idle expiry, invariants
 * under random operations, and the allocator driving the port-block log:
 * every assignment and release (explicit or by timeout) is logged, and
 * whois on the log then agrees with the allocator's own history. */
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

#include <ephport/natlog.h>

static ep_addr A(const char *s)
{
    ep_addr a;
    assert_int_equal(ep_addr_parse(s, &a), 0);
    return a;
}

static ep_addr sub_addr(unsigned i)
{
    uint32_t be = htonl(0x64400000u + i);
    ep_addr a;
    ep_addr_from_bytes(AF_INET, &be, &a);
    return a;
}

static void config_errors(void **state)
{
    ep_nat_blocks *b = NULL;
    ep_parse_error err;
    (void)state;
    assert_int_equal(ep_nat_blocks_new(&(ep_nat_blocks_config){ .outside = "203.0.113.1/24",
                                                                .block_size = 64 }, &b, &err),
                     EP_EINVAL);
    assert_non_null(strstr(err.message, "outside: '203.0.113.1/24' has host bits set"));
    assert_int_equal(ep_nat_blocks_new(&(ep_nat_blocks_config){ .outside = "203.0.113.1" }, &b,
                                       &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "block size"));
    assert_int_equal(ep_nat_blocks_new(&(ep_nat_blocks_config){ .outside = "203.0.113.1",
                                                                .port_lo = 1000, .port_hi = 1009,
                                                                .block_size = 11 }, &b, &err),
                     EP_EINVAL);
    assert_int_equal(ep_nat_blocks_new(&(ep_nat_blocks_config){ .outside = "2001:db8::1",
                                                                .block_size = 64 }, &b, &err),
                     EP_EINVAL);
    assert_non_null(strstr(err.message, "IPv6"));
    assert_int_equal(ep_nat_blocks_new(&(ep_nat_blocks_config){ .outside = "198.18.0.0/15",
                                                                .block_size = 1 }, &b, &err),
                     EP_EINVAL);
    assert_non_null(strstr(err.message, "16777216"));
    assert_int_equal(ep_nat_blocks_new(&(ep_nat_blocks_config){ .outside = "203.0.113.1",
                                                                .block_size = 64,
                                                                .idle_timeout = -1 }, &b, &err),
                     EP_EINVAL);
    assert_null(b);
}

static void paired_bounded_exhaustible(void **state)
{
    ep_nat_blocks_config cfg = { .outside = "203.0.113.1,203.0.113.2", .port_lo = 1024,
                                 .port_hi = 1024 + 4 * 100 - 1, .block_size = 100,
                                 .max_blocks = 3, .seed = 7 };
    ep_nat_blocks *b;
    ep_nat_block blk, first, found;
    ep_addr s1 = A("100.64.0.1");
    (void)state;
    assert_int_equal(ep_nat_blocks_new(&cfg, &b, NULL), 0);
    assert_int_equal(ep_nat_blocks_assign(b, &s1, 6, 100, &first), 0);
    assert_int_equal(first.port_hi - first.port_lo + 1, 100);
    assert_int_equal((first.port_lo - 1024) % 100, 0);
    /* every block of s1, any protocol, on the same external address */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ep_nat_blocks_assign(b, &s1, 6, 101, &blk), 0);
        assert_true(ep_addr_equal(&blk.ext, &first.ext));
    }
    assert_int_equal(ep_nat_blocks_assign(b, &s1, 6, 102, &blk), EP_EDQUOT);
    assert_int_equal(ep_nat_blocks_held_by(b, &s1, 6), 3);
    assert_int_equal(ep_nat_blocks_assign(b, &s1, 17, 102, &blk), 0);
    assert_true(ep_addr_equal(&blk.ext, &first.ext));
    assert_int_equal(ep_nat_blocks_assign(b, &s1, 1, 102, &blk), 0);
    assert_true(ep_addr_equal(&blk.ext, &first.ext));
    assert_int_equal(ep_nat_blocks_assign(b, &s1, 47, 102, &blk), EP_EINVAL);
    /* find by any port of the block */
    assert_int_equal(ep_nat_blocks_find(b, &first.ext, 6, (uint16_t)(first.port_lo + 57), &found), 0);
    assert_true(ep_addr_equal(&found.subscriber, &s1));
    assert_int_equal(found.start, 100);
    assert_int_equal(ep_nat_blocks_find(b, &first.ext, 6, (uint16_t)(first.port_lo - 1), &found) == 0
                         ? ep_addr_equal(&found.subscriber, &s1)
                         : 1, 1);
    /* a second subscriber pairs with the other address (most free blocks) */
    {
        ep_addr s2 = A("100.64.0.2"), s3 = A("100.64.0.3");
        ep_nat_block b2;
        assert_int_equal(ep_nat_blocks_assign(b, &s2, 6, 103, &b2), 0);
        assert_false(ep_addr_equal(&b2.ext, &first.ext));
        /* s3 pairs with s2's address (1 TCP block free on s1's, 3 on s2's) */
        for (int i = 0; i < 3; i++)
            assert_int_equal(ep_nat_blocks_assign(b, &s3, 6, 104, &blk), 0);
        assert_true(ep_addr_equal(&blk.ext, &b2.ext));
        /* s2's address is now full for TCP: s2 cannot grow */
        assert_int_equal(ep_nat_blocks_assign(b, &s2, 6, 105, &blk), EP_EADDRNOTAVAIL);
        /* release one of s3's: s2 can */
        assert_int_equal(ep_nat_blocks_release(b, &blk.ext, 6, blk.port_lo, &found), 0);
        assert_true(ep_addr_equal(&found.subscriber, &s3));
        assert_int_equal(ep_nat_blocks_release(b, &blk.ext, 6, blk.port_lo, NULL), EP_ENOENT);
        assert_int_equal(ep_nat_blocks_assign(b, &s2, 6, 106, &blk), 0);
        assert_int_equal(blk.port_lo, found.port_lo);
    }
    ep_nat_blocks_free(b);
}

struct expired {
    int n;
    int64_t ends[16];
    uint16_t lo[16];
};

static int on_expire(const ep_nat_block *blk, int64_t end, void *arg)
{
    struct expired *e = arg;
    e->ends[e->n] = end;
    e->lo[e->n++] = blk->port_lo;
    return 0;
}

static void idle_expiry(void **state)
{
    ep_nat_blocks_config cfg = { .outside = "203.0.113.1", .port_lo = 1024, .port_hi = 2047,
                                 .block_size = 128, .max_blocks = 8, .idle_timeout = 60 };
    ep_nat_blocks *b;
    ep_nat_block x, y, z;
    struct expired e = { 0 };
    ep_addr s = A("100.64.0.9");
    ep_nat_blocks_stats st;
    (void)state;
    assert_int_equal(ep_nat_blocks_new(&cfg, &b, NULL), 0);
    assert_int_equal(ep_nat_blocks_assign(b, &s, 6, 0, &x), 0);
    assert_int_equal(ep_nat_blocks_assign(b, &s, 6, 10, &y), 0);
    assert_int_equal(ep_nat_blocks_assign(b, &s, 17, 20, &z), 0);
    assert_int_equal(ep_nat_blocks_touch(b, &x.ext, 6, (uint16_t)(x.port_lo + 3), 50), 0);
    assert_int_equal(ep_nat_blocks_touch(b, &x.ext, 1, (uint16_t)(x.port_lo + 3), 50), EP_ENOENT);
    assert_int_equal(ep_nat_blocks_expire(b, 69, on_expire, &e), 0);
    assert_int_equal(ep_nat_blocks_expire(b, 80, on_expire, &e), 2);   /* y at 70, z at 80 */
    assert_int_equal(e.ends[0], 70);
    assert_int_equal(e.lo[0], y.port_lo);
    assert_int_equal(e.ends[1], 80);
    assert_int_equal(ep_nat_blocks_held_by(b, &s, 6), 1);
    assert_int_equal(ep_nat_blocks_expire(b, 1000, on_expire, &e), 1);
    assert_int_equal(e.ends[2], 110);
    assert_int_equal(e.lo[2], x.port_lo);
    ep_nat_blocks_get_stats(b, &st);
    assert_int_equal(st.held, 0);
    assert_int_equal(st.blocks_per_addr, 8);
    ep_nat_blocks_free(b);
}

/* Random operations; after each, the invariants hold against a model of
 * who holds which block. */
static void random_invariants(void **state)
{
    enum { SUBS = 20, EXT = 4, K = 16 };
    ep_nat_blocks_config cfg = { .outside = "203.0.113.8/30", .port_lo = 1024,
                                 .port_hi = 1024 + K * 64 - 1, .block_size = 64,
                                 .max_blocks = 5, .idle_timeout = 400, .seed = 99 };
    static int owner[EXT][3][K];   /* subscriber + 1, 0 = free */
    ep_nat_blocks *b;
    uint64_t rng = 12345;
    int64_t now = 0;
    unsigned fails_quota = 0, fails_full = 0, assigned = 0, expired = 0;
    (void)state;
    memset(owner, 0, sizeof owner);
    assert_int_equal(ep_nat_blocks_new(&cfg, &b, NULL), 0);
    for (int step = 0; step < 30000; step++) {
        unsigned op, s;
        uint8_t proto;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        op = (unsigned)(rng >> 33) % 10;
        s = (unsigned)(rng >> 40) % SUBS;
        proto = (uint8_t[]){ 6, 17, 1 }[(rng >> 20) % 3];
        now += (int64_t)((rng >> 50) % 3);
        if (op < 5) {
            ep_addr a = sub_addr(s);
            ep_nat_block blk;
            int rc = ep_nat_blocks_assign(b, &a, proto, now, &blk);
            if (rc == EP_EDQUOT) {
                fails_quota++;
                assert_int_equal(ep_nat_blocks_held_by(b, &a, proto), 5);
            } else if (rc == EP_EADDRNOTAVAIL) {
                fails_full++;
            } else {
                uint32_t e;
                int pi = proto == 6 ? 0 : proto == 17 ? 1 : 2;
                unsigned k = (blk.port_lo - 1024) / 64;
                assert_int_equal(rc, 0);
                memcpy(&e, blk.ext.u.bytes, 4);
                e = ntohl(e) - 0xcb007108u;
                assert_true(e < EXT);
                assert_int_equal(owner[e][pi][k], 0);
                owner[e][pi][k] = (int)s + 1;
                assigned++;
                /* paired: every other block of s is on the same address */
                for (unsigned x = 0; x < EXT; x++)
                    for (int p = 0; p < 3; p++)
                        for (unsigned q = 0; q < K; q++)
                            if (owner[x][p][q] == (int)s + 1)
                                assert_int_equal(x, e);
            }
        } else if (op < 8) {
            /* touch or release a random block */
            unsigned e = (unsigned)(rng >> 45) % EXT, k = (unsigned)(rng >> 13) % K;
            int pi = proto == 6 ? 0 : proto == 17 ? 1 : 2;
            uint32_t be = htonl(0xcb007108u + e);
            ep_addr ext;
            ep_nat_block got;
            ep_addr_from_bytes(AF_INET, &be, &ext);
            if (op == 5) {
                int rc = ep_nat_blocks_touch(b, &ext, proto, (uint16_t)(1024 + k * 64 + 10), now);
                assert_int_equal(rc, owner[e][pi][k] ? 0 : EP_ENOENT);
            } else {
                int rc = ep_nat_blocks_release(b, &ext, proto, (uint16_t)(1024 + k * 64), &got);
                assert_int_equal(rc, owner[e][pi][k] ? 0 : EP_ENOENT);
                if (rc == 0) {
                    ep_addr want = sub_addr((unsigned)owner[e][pi][k] - 1);
                    assert_true(ep_addr_equal(&got.subscriber, &want));
                    owner[e][pi][k] = 0;
                }
            }
        } else {
            /* expire and mirror in the model through the callback */
            int n = ep_nat_blocks_expire(b, now, NULL, NULL);
            assert_true(n >= 0);
            expired += (unsigned)n;
            /* resync the model from the allocator: every model block that is
             * gone must have been idle (cannot check age here), so rebuild */
            for (unsigned e = 0; e < EXT; e++)
                for (int p = 0; p < 3; p++)
                    for (unsigned k = 0; k < K; k++) {
                        uint32_t be = htonl(0xcb007108u + e);
                        ep_addr ext;
                        ep_nat_block got;
                        ep_addr_from_bytes(AF_INET, &be, &ext);
                        if (ep_nat_blocks_find(b, &ext, (uint8_t[]){ 6, 17, 1 }[p],
                                               (uint16_t)(1024 + k * 64), &got) == 0) {
                            ep_addr want = sub_addr((unsigned)owner[e][p][k] - 1);
                            assert_true(owner[e][p][k] != 0);
                            assert_true(ep_addr_equal(&got.subscriber, &want));
                            assert_true(got.last_used + 400 > now);
                        } else {
                            owner[e][p][k] = 0;
                        }
                    }
        }
    }
    assert_true(assigned > 1000);
    assert_true(fails_quota > 0);
    assert_true(fails_full > 0);
    assert_true(expired > 100);
    ep_nat_blocks_free(b);
}

/* ---- the allocator as the log writer ------------------------------------ */

struct hist {
    ep_natlog_record *r;
    size_t n, cap;
};

struct writer {
    ep_natlog *log;
    struct hist *h;
};

static void hist_close(struct hist *h, const ep_addr *ext, uint8_t proto, uint16_t lo, int64_t end)
{
    for (size_t i = h->n; i-- > 0;)
        if (h->r[i].end == EP_NATLOG_OPEN_END && h->r[i].proto == proto && h->r[i].port_lo == lo &&
            ep_addr_equal(&h->r[i].ext, ext)) {
            h->r[i].end = end;
            return;
        }
    fail_msg("closing a block the history does not hold open");
}

static int log_expired(const ep_nat_block *blk, int64_t end, void *arg)
{
    struct writer *w = arg;
    int rc = ep_natlog_release(w->log, &blk->ext, blk->proto, blk->port_lo, end);
    hist_close(w->h, &blk->ext, blk->proto, blk->port_lo, end);
    return rc;
}

static void allocator_drives_log(void **state)
{
    char dir[] = "/tmp/ep-natblocks-XXXXXX", path[128], cmd[160];
    ep_nat_blocks_config cfg = { .outside = "203.0.113.16/29", .port_lo = 1024, .port_hi = 65535,
                                 .block_size = 2016, .max_blocks = 2, .idle_timeout = 120,
                                 .seed = 5 };
    ep_natlog_options lo = { .create = true, .sync_normal = true, .batch = 500 };
    struct hist h = { calloc(50000, sizeof(ep_natlog_record)), 0, 50000 };
    struct writer w = { NULL, &h };
    ep_nat_blocks *b;
    uint64_t rng = 777;
    int64_t now = 1795514400;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/blocks.db", dir);
    assert_int_equal(ep_natlog_open(path, &lo, &w.log, NULL), 0);
    assert_int_equal(ep_nat_blocks_new(&cfg, &b, NULL), 0);
    for (int step = 0; step < 20000 && h.n + 10 < h.cap; step++) {
        unsigned s;
        ep_addr a;
        ep_nat_block blk;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        s = (unsigned)(rng >> 33) % 500;
        a = sub_addr(s);
        now += (int64_t)((rng >> 20) % 4);
        assert_true(ep_nat_blocks_expire(b, now, log_expired, &w) >= 0);
        if ((rng >> 60) < 12) {
            uint8_t proto = (rng >> 10) % 2 ? 6 : 17;
            if (ep_nat_blocks_assign(b, &a, proto, now, &blk) == 0) {
                ep_natlog_record r = { .subscriber = blk.subscriber, .ext = blk.ext,
                                       .proto = blk.proto, .port_lo = blk.port_lo,
                                       .port_hi = blk.port_hi, .start = now,
                                       .end = EP_NATLOG_OPEN_END };
                assert_int_equal(ep_natlog_assign(w.log, &r), 0);
                h.r[h.n++] = r;
            }
        } else {
            /* activity of a random subscriber keeps its blocks alive;
             * sometimes it gives one back */
            for (uint16_t port = 1024; port < 65535 - 2016; port += 2016) {
                uint32_t be = htonl(0xcb007110u + (unsigned)((rng >> 24) % 8));
                ep_addr ext;
                ep_addr_from_bytes(AF_INET, &be, &ext);
                if (ep_nat_blocks_find(b, &ext, 6, port, &blk) == 0 &&
                    ep_addr_equal(&blk.subscriber, &a)) {
                    if ((rng >> 8) % 5 == 0 && now > blk.start) {
                        assert_int_equal(ep_nat_blocks_release(b, &ext, 6, port, NULL), 0);
                        assert_int_equal(ep_natlog_release(w.log, &ext, 6, port, now), 0);
                        hist_close(&h, &ext, 6, port, now);
                    } else {
                        ep_nat_blocks_touch(b, &ext, 6, port, now);
                    }
                }
            }
        }
    }
    assert_int_equal(ep_natlog_commit(w.log), 0);
    assert_true(h.n > 500);
    /* whois on the log agrees with the history, at random times and ports */
    for (int q = 0; q < 4000; q++) {
        ep_natlog_record got;
        size_t i;
        uint32_t be;
        ep_addr ext;
        uint8_t proto;
        uint16_t port;
        int64_t t;
        int want = EP_ENOENT;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        be = htonl(0xcb007110u + (unsigned)((rng >> 24) % 8));
        ep_addr_from_bytes(AF_INET, &be, &ext);
        proto = (rng >> 10) % 2 ? 6 : 17;
        port = (uint16_t)(1024 + (rng >> 33) % 64512);
        t = 1795514400 + (int64_t)((rng >> 40) % (uint64_t)(now - 1795514400 + 1));
        for (i = 0; i < h.n; i++) {
            const ep_natlog_record *r = &h.r[i];
            if (ep_addr_equal(&r->ext, &ext) && r->proto == proto && r->port_lo <= port &&
                port <= r->port_hi && r->start <= t && t < r->end) {
                want = 0;
                break;
            }
        }
        assert_int_equal(ep_natlog_whois(w.log, &ext, proto, port, t, &got), want);
        if (want == 0) {
            assert_true(ep_addr_equal(&got.subscriber, &h.r[i].subscriber));
            assert_int_equal(got.start, h.r[i].start);
            assert_int_equal(got.end, h.r[i].end);
        }
    }
    ep_nat_blocks_free(b);
    assert_int_equal(ep_natlog_close(w.log), 0);
    free(h.r);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_errors),
        cmocka_unit_test(paired_bounded_exhaustible),
        cmocka_unit_test(idle_expiry),
        cmocka_unit_test(random_invariants),
        cmocka_unit_test(allocator_drives_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
