/* test-natlog-formats.c - the standard event formats of the port-block log:
 * IPFIX messages (RFC 7011 / RFC 8158) against a hand-checked byte
 * sequence, the Juniper SRX and Junos syslog lines against the vendors'
 * published examples, round trips log -> format -> log record for record,
 * malformed inputs refused with the offset, --skip-bad counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/natlog.h>

static char dir[64];

static ep_addr A(const char *s)
{
    ep_addr a;
    assert_int_equal(ep_addr_parse(s, &a), 0);
    return a;
}

static ep_natlog *open_log(const char *name)
{
    char path[128];
    ep_natlog_options o = { .create = true, .sync_normal = true };
    ep_natlog *log = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    assert_int_equal(ep_natlog_open(path, &o, &log, NULL), 0);
    return log;
}

struct recs {
    ep_natlog_record r[64];
    size_t n;
};

static int collect(const ep_natlog_record *r, void *arg)
{
    struct recs *rs = arg;
    assert_true(rs->n < 64);
    rs->r[rs->n++] = *r;
    return 0;
}

/* closed and open blocks, three protocols, and a block whose closed
 * history was logged after its open holder (not in time order) */
static void fill(ep_natlog *log)
{
    ep_natlog_record r = { A("100.64.0.1"), A("203.0.113.1"), 6, 1024, 1535, 1795000000, 1795003600 };
    assert_int_equal(ep_natlog_assign(log, &r), 0);
    r.proto = 17;
    r.end = EP_NATLOG_OPEN_END;
    assert_int_equal(ep_natlog_assign(log, &r), 0);
    r = (ep_natlog_record){ A("100.64.0.2"), A("203.0.113.1"), 6, 1024, 1535, 1795003700, EP_NATLOG_OPEN_END };
    assert_int_equal(ep_natlog_assign(log, &r), 0);
    r = (ep_natlog_record){ A("100.64.0.3"), A("203.0.113.1"), 6, 1024, 1535, 1794990000, 1794999000 };
    assert_int_equal(ep_natlog_assign(log, &r), 0);
    r = (ep_natlog_record){ A("100.64.0.4"), A("203.0.113.2"), 1, 60000, 65535, 1795000001, 1795000002 };
    assert_int_equal(ep_natlog_assign(log, &r), 0);
    assert_int_equal(ep_natlog_commit(log), 0);
}

static void same_records(ep_natlog *a, ep_natlog *b)
{
    struct recs ra = { .n = 0 }, rb = { .n = 0 };
    assert_int_equal(ep_natlog_foreach(a, collect, &ra), 0);
    assert_int_equal(ep_natlog_foreach(b, collect, &rb), 0);
    assert_int_equal(ra.n, rb.n);
    for (size_t i = 0; i < ra.n; i++)
        assert_memory_equal(&ra.r[i], &rb.r[i], sizeof ra.r[i]);
}

/* One allocation, encoded by hand from RFC 7011 section 3 and the
 * template in natlog_ipfix.c. */
static void ipfix_known_answer(void **state)
{
    static const uint8_t want[] = {
        /* header: version 10, length 98, export time, sequence 7, domain 3 */
        0x00, 0x0a, 0x00, 0x62, 0x6a, 0xfd, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03,
        /* template set: id 2, length 48; template 256, 10 fields */
        0x00, 0x02, 0x00, 0x30, 0x01, 0x00, 0x00, 0x0a,
        0x01, 0x43, 0x00, 0x08, /* observationTimeMilliseconds 323, 8 */
        0x00, 0xe6, 0x00, 0x01, /* natEvent 230, 1 */
        0x01, 0xcf, 0x00, 0x04, /* natInstanceID 463, 4 */
        0x00, 0x08, 0x00, 0x04, /* sourceIPv4Address 8, 4 */
        0x00, 0xe1, 0x00, 0x04, /* postNATSourceIPv4Address 225, 4 */
        0x00, 0x04, 0x00, 0x01, /* protocolIdentifier 4, 1 */
        0x01, 0x69, 0x00, 0x02, /* portRangeStart 361, 2 */
        0x01, 0x6a, 0x00, 0x02, /* portRangeEnd 362, 2 */
        0x01, 0x6b, 0x00, 0x02, /* portRangeStepSize 363, 2 */
        0x01, 0x6c, 0x00, 0x02, /* portRangeNumPorts 364, 2 */
        /* data set 256, length 34 */
        0x01, 0x00, 0x00, 0x22,
        0x00, 0x00, 0x01, 0xa1, 0xee, 0x56, 0x5e, 0x00, /* 1795000000000 ms */
        0x10,                                           /* natEvent 16 */
        0x00, 0x00, 0x00, 0x00,                         /* instance 0 */
        0x64, 0x40, 0x00, 0x01,                         /* 100.64.0.1 */
        0xcb, 0x00, 0x71, 0x01,                         /* 203.0.113.1 */
        0x06,                                           /* tcp */
        0x04, 0x00, 0x05, 0xff, 0x00, 0x01, 0x02, 0x00, /* 1024, 1535, step 1, 512 ports */
    };
    ep_natlog_ipfix_event ev = { EP_NATLOG_IPFIX_PB_ALLOC, 0, 1795000000000LL, A("100.64.0.1"),
                                 A("203.0.113.1"), 6, 1024, 1535 };
    uint8_t buf[256];
    ep_natlog_ipfix_reader rd;
    ep_parse_error err;
    (void)state;
    assert_int_equal(ep_natlog_ipfix_encode(&ev, 1, 0x6afd2e00, 7, 3, buf, sizeof buf),
                     (int)sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(ep_natlog_ipfix_encode(&ev, 1, 0, 0, 0, buf, 97), EP_ENOSPC);
    ep_natlog_ipfix_reader_init(&rd);
    assert_int_equal(ep_natlog_ipfix_parse(&rd, want, sizeof want, NULL, NULL, &err), 0);
    assert_int_equal(rd.offset, sizeof want);
}

static int first_event(const ep_natlog_ipfix_event *ev, uint64_t off, void *arg)
{
    (void)off;
    *(ep_natlog_ipfix_event *)arg = *ev;
    return 0;
}

/* Each broken message is refused, and the message names the offset. */
static void ipfix_malformed(void **state)
{
    ep_natlog_ipfix_event ev = { EP_NATLOG_IPFIX_PB_DEALLOC, 9, 1795000000123LL, A("100.64.0.1"),
                                 A("203.0.113.1"), 17, 2048, 2303 };
    uint8_t good[256], m[256];
    ep_natlog_ipfix_reader rd;
    ep_parse_error err;
    ep_natlog_ipfix_event got;
    int n = ep_natlog_ipfix_encode(&ev, 1, 1, 0, 0, good, sizeof good);
    (void)state;
    assert_int_equal(n, 98);
    ep_natlog_ipfix_reader_init(&rd);
    assert_int_equal(ep_natlog_ipfix_parse(&rd, good, 98, first_event, &got, &err), 0);
    assert_int_equal(got.time_ms, 1795000000123LL);
    assert_int_equal(got.port_hi, 2303);
    assert_int_equal(got.instance, 9);

#define BAD(len, needle)                                                                  \
    do {                                                                                  \
        ep_natlog_ipfix_reader_init(&rd);                                                 \
        assert_int_equal(ep_natlog_ipfix_parse(&rd, m, (len), NULL, NULL, &err), EP_EINVAL); \
        if (!strstr(err.message, needle))                                                 \
            fail_msg("got '%s', want '%s'", err.message, needle);                         \
    } while (0)
    memcpy(m, good, 98);
    m[1] = 9;
    BAD(98, "offset 0: version 9, not IPFIX");
    memcpy(m, good, 98);
    BAD(97, "offset 2: message length 98, but the message has 97 bytes");
    memcpy(m, good, 98);
    m[19] = 0x60; /* template set length 96 */
    BAD(98, "offset 18: set length 96 does not fit the 82 bytes left");
    memcpy(m, good, 98);
    m[17] = 0; /* template set id 2 -> 0 */
    BAD(98, "offset 16: set id 0 is not a template");
    memcpy(m, good, 98);
    m[31] = 2; /* natEvent length 2 */
    BAD(98, "offset 28: template 256: element 230 cannot have length 2");
    memcpy(m, good, 98);
    m[20] = 0; /* template id 256 -> 0 */
    BAD(98, "offset 20: template id 0 is below 256");
    /* a data set alone: no template for it */
    memcpy(m, good, 16);
    memcpy(m + 16, good + 64, 34);
    m[3] = 50;
    BAD(50, "offset 16: data set 256 before its template");
    /* step size 2 */
    memcpy(m, good, 98);
    m[95] = 2;
    BAD(98, "offset 94: portRangeStepSize 2");
    /* portRangeNumPorts that contradicts portRangeEnd */
    memcpy(m, good, 98);
    m[97] = 9;
    BAD(98, "offset 68: portRangeNumPorts 265 does not fit 2048-2303");
    /* no ports */
    memcpy(m, good, 98);
    m[96] = 0;
    m[97] = 0;
    BAD(98, "offset 68: portRangeNumPorts 0");
    /* a data set whose length cuts the record: the set is shorter than a
     * record and the rest is not zero padding */
    memcpy(m, good, 98);
    m[67] = 30;
    m[3] = 94;
    BAD(94, "not padding");
    /* a template with a field cut off */
    memcpy(m, good, 98);
    m[19] = 46;
    m[3] = 62;
    m[16 + 46] = 0;
    BAD(62, "offset 60: template 256: field 10 of 10 is cut off");
    /* shorter than a header */
    BAD(10, "offset 0: 10 bytes: shorter than a message header (16)");
#undef BAD
}

static void ipfix_round_trip(void **state)
{
    ep_natlog *a = open_log("ip-a.db"), *b = open_log("ip-b.db");
    ep_natlog_import_result res;
    ep_parse_error err;
    FILE *f = tmpfile();
    (void)state;
    fill(a);
    assert_non_null(f);
    assert_int_equal(ep_natlog_export_ipfix(a, f, 1795010000, 0, &err), 0);
    rewind(f);
    assert_int_equal(ep_natlog_import_ipfix(b, f, NULL, &res, &err), 0);
    assert_int_equal(res.assigned, 5);
    assert_int_equal(res.skipped, 0);
    same_records(a, b);
    /* the same file again: the open blocks are already open */
    rewind(f);
    assert_int_equal(ep_natlog_import_ipfix(b, f, NULL, &res, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "offset 128: "));
    assert_non_null(strstr(err.message, "already assigned"));
    rewind(f);
    {
        ep_natlog_import_options o = { .skip_bad = true };
        assert_int_equal(ep_natlog_import_ipfix(b, f, &o, &res, &err), 0);
        assert_int_equal(res.skipped, 2);
        assert_int_equal(res.assigned, 3);
        assert_non_null(strstr(res.first_skipped, "already assigned"));
    }
    /* a file cut inside a message imports nothing */
    {
        ep_natlog *c = open_log("ip-c.db");
        struct recs rc = { .n = 0 };
        char buf[512];
        size_t n;
        FILE *g = tmpfile();
        rewind(f);
        n = fread(buf, 1, 100, f);
        assert_int_equal(n, 100);
        fwrite(buf, 1, n, g);
        rewind(g);
        assert_int_equal(ep_natlog_import_ipfix(c, g, NULL, &res, &err), EP_EINVAL);
        assert_non_null(strstr(err.message, "offset 0: the file ends inside a message"));
        assert_int_equal(ep_natlog_foreach(c, collect, &rc), 0);
        assert_int_equal(rc.n, 0);
        fclose(g);
        ep_natlog_close(c);
    }
    fclose(f);
    ep_natlog_close(a);
    ep_natlog_close(b);
}

/* The example lines of the Juniper community techpost (K. Hendrych,
 * "SRX4600 CGN configuration breakdown", 2024). */
static void srx_known_answer(void **state)
{
    ep_natlog_syslog_line l;
    ep_parse_error err;
    char buf[512];
    ep_natlog_record r = { A("100.64.0.1"), A("203.0.113.1"), 17, 1024, 1535, 1795000000, 1795000300 };
    (void)state;
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_SRX,
        "RT_NAT - RT_SRC_NAT_PBA_ALLOC [internal-ip=\"10.0.10.10\" block-used=\"1\" "
        "block-max-per-host=\"4\" block-port-low=\"48640\" block-port-high=\"48895\" "
        "reflexive-ip=\"1.2.84.172\" nat-pool-name=\"guest\" logical-system-id=\"0\" "
        "epoch-time-64=\"624b0492\"]", NULL, &l, &err), 0);
    assert_int_equal(l.kind, EP_NATLOG_LINE_ALLOC);
    assert_true(ep_addr_equal(&l.subscriber, &(ep_addr){ 0 }) == false);
    {
        ep_addr s = A("10.0.10.10"), x = A("1.2.84.172");
        assert_true(ep_addr_equal(&l.subscriber, &s));
        assert_true(ep_addr_equal(&l.ext, &x));
    }
    assert_int_equal(l.port_lo, 48640);
    assert_int_equal(l.port_hi, 48895);
    assert_int_equal(l.time, 0x624b0492);
    assert_int_equal(l.proto, 0);
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_SRX,
        "RT_NAT - RT_SRC_NAT_PBA_RELEASE [internal-ip=\"10.0.10.10\" block-used=\"0\" "
        "block-max-per-host=\"4\" block-port-low=\"48640\" block-port-high=\"48895\" "
        "reflexive-ip=\"1.2.84.172\" nat-pool-name=\"guest\" logical-system-id=\"0\" "
        "epoch-time-64=\"624b0cc7\"]", NULL, &l, &err), 0);
    assert_int_equal(l.kind, EP_NATLOG_LINE_RELEASE);
    assert_int_equal(l.time, 0x624b0cc7);
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_SRX,
        "RT_NAT - RT_SRC_NAT_PBA_INTERIM [internal-ip=\"10.0.10.10\" block-port-low=\"48640\" "
        "block-port-high=\"48895\" reflexive-ip=\"1.2.84.172\" epoch-time-64=\"624b0492\"]",
        NULL, &l, &err), 0);
    assert_int_equal(l.kind, EP_NATLOG_LINE_INTERIM);
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_SRX, "kernel: eth0 link up", NULL,
                                            &l, &err), 0);
    assert_int_equal(l.kind, EP_NATLOG_LINE_OTHER);
    /* refused, with the column */
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_SRX,
        "RT_SRC_NAT_PBA_ALLOC [internal-ip=\"10.0.10.10\" block-port-low=\"48640\" "
        "block-port-high=\"48895\" reflexive-ip=\"1.2.84.172\" epoch-time-64=\"62zz\"]",
        NULL, &l, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "epoch-time-64 is not hexadecimal"));
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_SRX,
        "RT_SRC_NAT_PBA_ALLOC [internal-ip=\"10.0.10.10\" block-port-low=\"48640\" "
        "block-port-high=\"48000\" reflexive-ip=\"1.2.84.172\" epoch-time-64=\"1\"]",
        NULL, &l, &err), EP_EINVAL);
    assert_int_equal(err.offset, 87);
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_SRX, "RT_SRC_NAT_PBA_ALLOC [x=\"1\"",
                                            NULL, &l, &err), EP_EINVAL);
    /* what ephport writes reads back */
    assert_true(ep_natlog_srx_format(&r, true, buf, sizeof buf) > 0);
    assert_string_equal(buf, "2026-11-18T11:11:40Z ephport RT_NAT - RT_SRC_NAT_PBA_RELEASE "
                             "[internal-ip=\"100.64.0.1\" block-port-low=\"1024\" "
                             "block-port-high=\"1535\" reflexive-ip=\"203.0.113.1\" "
                             "protocol-id=\"17\" epoch-time-64=\"6afd87ec\"]");
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_SRX, buf, NULL, &l, &err), 0);
    assert_int_equal(l.time, 1795000300);
    assert_int_equal(l.proto, 17);
}

static void juniper_lines(void **state)
{
    ep_natlog_syslog_line l;
    ep_parse_error err;
    ep_natlog_syslog_options o = { 2026, 3600 };
    const char *bsd = "Jan 30 15:00:00 mx1 (FPC Slot 2, PIC Slot 0) {sset1}[jservices-nat]: "
                      "JSERVICES_NAT_PORT_BLOCK_ALLOC: 10.1.1.2 -> 203.0.113.1:1024-1279 0x54cba8c0";
    (void)state;
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_JUNIPER, bsd, &o, &l, &err), 0);
    assert_int_equal(l.kind, EP_NATLOG_LINE_ALLOC);
    assert_int_equal(l.port_lo, 1024);
    assert_int_equal(l.port_hi, 1279);
    /* 2026-01-30T15:00:00+01:00 = 14:00 UTC */
    assert_int_equal(l.time, 1769781600);
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_JUNIPER, bsd, NULL, &l, &err),
                     EP_EINVAL);
    assert_non_null(strstr(err.message, "has no year"));
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_JUNIPER,
        "<14>1 2026-01-30T15:00:00.500-02:00 mx1 jservices-nat - - - "
        "JSERVICES_NAT_PORT_BLOCK_RELEASE: 10.1.1.2 -> 203.0.113.1:1024-1279", NULL, &l, &err), 0);
    assert_int_equal(l.kind, EP_NATLOG_LINE_RELEASE);
    assert_int_equal(l.time, 1769792400);
    assert_true(l.time_frac);
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_JUNIPER,
        "2026-01-30T15:00:00Z mx1 JSERVICES_NAT_PORT_BLOCK_ALLOC: 10.1.1.2 -> 203.0.113.1:1279-1024",
        NULL, &l, &err), EP_EINVAL);
    assert_non_null(strstr(err.message, "ends below its start"));
    assert_int_equal(ep_natlog_syslog_parse(EP_NATLOG_SYSLOG_JUNIPER,
        "2026-01-30T15:00:00Z mx1 JSERVICES_NAT_PORT_BLOCK_ALLOC: 10.1.1 -> 203.0.113.1:1-2",
        NULL, &l, &err), EP_EINVAL);
    assert_int_equal(err.offset, 57);
}

static void syslog_round_trip(void **state)
{
    ep_natlog *a = open_log("sl-a.db"), *b = open_log("sl-b.db"), *c = open_log("sl-c.db");
    ep_natlog_import_result res;
    ep_parse_error err;
    FILE *f = tmpfile(), *g = tmpfile();
    (void)state;
    fill(a);
    assert_int_equal(ep_natlog_export_srx(a, f, &err), 0);
    rewind(f);
    assert_int_equal(ep_natlog_import_syslog(b, f, EP_NATLOG_SYSLOG_SRX, NULL, &res, &err), 0);
    same_records(a, b);
    /* juniper lines without a protocol: one record per protocol asked for;
     * a release of a block never allocated fails, naming the line */
    fputs("Jan 30 15:00:00 mx1 {s}[jservices-nat]: JSERVICES_NAT_PORT_BLOCK_ALLOC: 10.1.1.2 -> 203.0.113.1:1024-1279\n"
          "Jan 30 15:00:05 mx1 other message\n"
          "Jan 30 15:10:00 mx1 {s}[jservices-nat]: JSERVICES_NAT_PORT_BLOCK_RELEASE: 10.1.1.9 -> 203.0.113.1:2048-2303\n",
          g);
    rewind(g);
    {
        ep_natlog_import_options o = { .protos = 3, .syslog = { 2026, 0 } };
        assert_int_equal(ep_natlog_import_syslog(c, g, EP_NATLOG_SYSLOG_JUNIPER, &o, &res, &err),
                         EP_EINVAL);
        assert_string_equal(err.message, "line 3: release of a block that is not open in the log");
        rewind(g);
        o.skip_bad = true;
        assert_int_equal(ep_natlog_import_syslog(c, g, EP_NATLOG_SYSLOG_JUNIPER, &o, &res, &err), 0);
        assert_int_equal(res.assigned, 2);
        assert_int_equal(res.skipped, 2);
        assert_int_equal(res.ignored, 1);
    }
    {
        ep_natlog_record w;
        ep_addr x = A("203.0.113.1"), s = A("10.1.1.2");
        assert_int_equal(ep_natlog_whois(c, &x, 17, 1100, 1769785300, &w), 0);
        assert_true(ep_addr_equal(&w.subscriber, &s));
        assert_int_equal(ep_natlog_whois(c, &x, 1, 1100, 1769785300, &w), EP_ENOENT);
    }
    fclose(f);
    fclose(g);
    ep_natlog_close(a);
    ep_natlog_close(b);
    ep_natlog_close(c);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ep-natfmt-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipfix_known_answer), cmocka_unit_test(ipfix_malformed),
        cmocka_unit_test(ipfix_round_trip),   cmocka_unit_test(srx_known_answer),
        cmocka_unit_test(juniper_lines),      cmocka_unit_test(syslog_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
