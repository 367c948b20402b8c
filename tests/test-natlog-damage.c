/* test-natlog-damage.c - a damaged log never answers silently.
 *
 * A record changed behind the log's back (written with SQLite directly,
 * constraints off, as a bit flip on disk would leave it) fails its
 * checksum: whois refuses with -EBADMSG naming the record, export stops,
 * verify and check name it.  Then one-bit flips at random places of a real
 * log file: each damaged copy is refused on open, or whois gives the
 * intact log's answer or an error - never another subscriber - and when any
 * answer or record differs from the intact log, check says damaged; opening
 * with verify (quick_check) refuses more copies than the cheap check.
 * Format-1 logs are refused on open and upgraded by ep_natlog_upgrade. */
#include <arpa/inet.h>
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
#include <sqlite3.h>

#include <ephport/natlog.h>

#include "tmpdir-util.h"

#define NREC 400

static ep_natlog_record rec(int i)
{
    ep_natlog_record r;
    uint32_t sub = htonl(0x64400000u + (uint32_t)i);
    memset(&r, 0, sizeof r);
    ep_addr_from_bytes(AF_INET, &sub, &r.subscriber);
    ep_addr_parse("203.0.113.1", &r.ext);
    r.proto = 6;
    r.port_lo = (uint16_t)(1024 + (i % 40) * 1000);
    r.port_hi = (uint16_t)(r.port_lo + 999);
    r.start = 1000000 + (int64_t)(i / 40) * 100;
    r.end = i >= NREC - 40 ? EP_NATLOG_OPEN_END : r.start + 100;
    return r;
}

static void build(const char *path)
{
    ep_natlog_options o = { .create = true };
    ep_natlog *log;
    ep_parse_error err;
    unlink(path);
    if (ep_natlog_open(path, &o, &log, &err) != 0)
        fail_msg("%s", err.message);
    for (int i = 0; i < NREC; i++) {
        ep_natlog_record r = rec(i);
        assert_int_equal(ep_natlog_assign(log, &r), 0);
    }
    assert_int_equal(ep_natlog_close(log), 0);
}

static void sql(const char *path, const char *stmt)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, stmt, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", stmt, sqlite3_errmsg(db));
    sqlite3_close(db);
}

static int count_bad(int64_t id, const char *why, void *arg)
{
    (void)why;
    (void)id;
    (*(int *)arg)++;
    return 0;
}

static int ignore(const ep_natlog_record *r, void *arg)
{
    (void)r;
    (void)arg;
    return 0;
}

/* The case: a record whose end is now before its start. */
static void changed_record_is_named_and_never_answered(void **state)
{
    char path[256];
    ep_natlog_options ro = { .read_only = true };
    ep_natlog *log;
    ep_parse_error err;
    ep_natlog_record out, r = rec(5);
    int bad = 0;
    (void)state;
    snprintf(path, sizeof path, "%s/changed.db", ep_test_dir);
    build(path);
    assert_int_equal(ep_natlog_open(path, &ro, &log, &err), 0);
    assert_int_equal(ep_natlog_whois(log, &r.ext, 6, (uint16_t)(r.port_lo + 7), r.start + 1, &out),
                     0);
    assert_true(ep_addr_equal(&out.subscriber, &r.subscriber));
    ep_natlog_close(log);

    sql(path, "PRAGMA ignore_check_constraints=1; UPDATE blocks SET end = start - 1 WHERE id = 6");
    assert_int_equal(ep_natlog_open(path, &ro, &log, &err), 0);   /* the cheap check passes */
    assert_int_equal(ep_natlog_whois(log, &r.ext, 6, (uint16_t)(r.port_lo + 7), r.start + 1, &out),
                     EP_EBADMSG);
    assert_non_null(strstr(ep_natlog_errmsg(log), "record 6: the block ends before it starts"));
    assert_int_equal(ep_natlog_foreach(log, ignore, NULL), EP_EBADMSG);
    assert_int_equal(ep_natlog_verify(log, count_bad, &bad, NULL), EP_EBADMSG);
    assert_int_equal(bad, 1);
    assert_int_equal(ep_natlog_check(log, &err), EP_EBADMSG);
    assert_non_null(strstr(err.message, "record 6"));
    ep_natlog_close(log);

    /* the subscriber changed, the record still obeys every rule: the
     * checksum alone catches it */
    build(path);
    sql(path, "UPDATE blocks SET subscriber = X'64400063' WHERE id = 6");
    assert_int_equal(ep_natlog_open(path, &ro, &log, &err), 0);
    assert_int_equal(ep_natlog_whois(log, &r.ext, 6, (uint16_t)(r.port_lo + 7), r.start + 1, &out),
                     EP_EBADMSG);
    assert_non_null(strstr(ep_natlog_errmsg(log), "record 6: checksum mismatch"));
    ep_natlog_close(log);

    /* release refuses to reseal a damaged open record */
    build(path);
    r = rec(NREC - 1);
    sql(path, "UPDATE blocks SET port_hi = port_hi - 1 WHERE id = 400");
    {
        ep_natlog_options rw = { 0 };
        assert_int_equal(ep_natlog_open(path, &rw, &log, &err), 0);
        assert_int_equal(ep_natlog_release(log, &r.ext, 6, r.port_lo, r.start + 5000), EP_EBADMSG);
        assert_int_equal(ep_natlog_commit(log), 0);
        ep_natlog_close(log);
        assert_int_equal(ep_natlog_open(path, &ro, &log, &err), 0);
        assert_int_equal(ep_natlog_check(log, &err), EP_EBADMSG);
        ep_natlog_close(log);
    }

    /* a changed schema (a constraint dropped by hand) is refused on open */
    build(path);
    sql(path, "DROP INDEX blocks_open");
    assert_int_equal(ep_natlog_open(path, &ro, &log, &err), EP_EIO);
    assert_non_null(strstr(err.message, "damaged"));
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void one_bit_flips(void **state)
{
    char good[256], bad[256];
    unsigned char *bytes;
    long size;
    FILE *f;
    int refused = 0, verify_refused = 0, caught = 0, harmless = 0, false_none = 0, flips = 600;
    (void)state;
    snprintf(good, sizeof good, "%s/good.db", ep_test_dir);
    snprintf(bad, sizeof bad, "%s/bad.db", ep_test_dir);
    build(good);
    f = fopen(good, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);

    for (int k = 0; k < flips; k++) {
        long pos = (long)(rnd() % (uint64_t)size);
        int bit = (int)(rnd() % 8), differs = 0;
        ep_natlog_options ro = { .read_only = true };
        ep_natlog *log;
        ep_parse_error err;
        bool check_ok;
        unlink(bad);
        f = fopen(bad, "wb");
        bytes[pos] ^= (unsigned char)(1u << bit);
        fwrite(bytes, 1, (size_t)size, f);
        bytes[pos] ^= (unsigned char)(1u << bit);
        fclose(f);
        {
            /* verify (quick_check on open) refuses at least what the cheap
             * check does */
            ep_natlog_options vo = { .read_only = true, .verify = true };
            if (ep_natlog_open(bad, &vo, &log, &err) != 0)
                verify_refused++;
            else
                ep_natlog_close(log);
        }
        if (ep_natlog_open(bad, &ro, &log, &err) != 0) {
            assert_true(err.message[0] != '\0');
            refused++;
            continue;
        }
        check_ok = ep_natlog_check(log, &err) == 0;
        for (int i = 0; i < NREC; i++) {
            ep_natlog_record r = rec(i), out;
            int rc = ep_natlog_whois(log, &r.ext, 6, (uint16_t)(r.port_lo + 500), r.start + 50,
                                     &out);
            if (rc == 0) {
                if (memcmp(&out, &r, sizeof r) != 0)
                    fail_msg("flip at byte %ld bit %d: whois for record %d answered another "
                             "record",
                             pos, bit, i + 1);
            } else {
                differs++;
                if (rc == EP_ENOENT)
                    false_none++;
            }
        }
        {
            /* every record as written, or an error */
            int n = 0;
            if (ep_natlog_verify(log, NULL, NULL, NULL) != 0)
                differs++;
            else if (ep_natlog_foreach(log, ignore, &n) != 0)
                differs++;
        }
        ep_natlog_close(log);
        if (differs && check_ok)
            fail_msg("flip at byte %ld bit %d changed answers, and check says clean", pos, bit);
        if (differs || !check_ok)
            caught++;
        else
            harmless++;
    }
    free(bytes);
    fprintf(stderr,
            "%d one-bit flips: %d refused on open (%d with verify), %d found by check or a "
            "read, %d harmless (free space, unused header bits); %d whois lookups said 'no "
            "subscriber' on a damaged log that check flags\n",
            flips, refused, verify_refused, caught, harmless, false_none);
    assert_true(verify_refused > refused);
}

/* A format-1 log (the schema before checksums) is refused on open, then
 * upgraded: records kept, checksums added, answers unchanged. */
static void format1_refused_then_upgraded(void **state)
{
    char path[256];
    ep_natlog_options ro = { .read_only = true };
    ep_natlog *log;
    ep_parse_error err;
    ep_natlog_record r = rec(3), out;
    uint64_t n = 0;
    (void)state;
    snprintf(path, sizeof path, "%s/v1.db", ep_test_dir);
    unlink(path);
    sql(path,
        "CREATE TABLE ephport_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO ephport_meta VALUES ('format', 'ephport-natlog 1'), ('max_block', '999');"
        "CREATE TABLE blocks(id INTEGER PRIMARY KEY, subscriber BLOB NOT NULL, ext BLOB NOT NULL,"
        " proto INTEGER NOT NULL, port_lo INTEGER NOT NULL, port_hi INTEGER NOT NULL,"
        " start INTEGER NOT NULL, end INTEGER);"
        "CREATE INDEX blocks_lookup ON blocks(ext, proto, port_lo, start);"
        "CREATE INDEX blocks_open ON blocks(ext, proto, port_lo) WHERE end IS NULL;"
        "INSERT INTO blocks VALUES (4, X'64400003', X'CB007101', 6, 4024, 5023, 1000000, 1000100);"
        "INSERT INTO blocks VALUES (9, X'64400009', X'CB007101', 6, 1024, 2023, 1000000, NULL);");
    assert_int_equal(ep_natlog_open(path, &ro, &log, &err), EP_EIO);
    assert_non_null(strstr(err.message, "format-1 log"));
    assert_non_null(strstr(err.message, "upgrade"));
    assert_int_equal(ep_natlog_upgrade(path, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ep_natlog_open(path, &ro, &log, &err), 0);
    assert_int_equal(ep_natlog_check(log, &err), 0);
    assert_int_equal(ep_natlog_whois(log, &r.ext, 6, 4500, 1000050, &out), 0);
    assert_true(ep_addr_equal(&out.subscriber, &r.subscriber));
    ep_natlog_close(log);
    assert_int_equal(ep_natlog_upgrade(path, &n, &err), 0);   /* already current */

    /* a format-1 log with a record that breaks the rules is not blessed */
    unlink(path);
    sql(path,
        "CREATE TABLE ephport_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO ephport_meta VALUES ('format', 'ephport-natlog 1');"
        "CREATE TABLE blocks(id INTEGER PRIMARY KEY, subscriber BLOB NOT NULL, ext BLOB NOT NULL,"
        " proto INTEGER NOT NULL, port_lo INTEGER NOT NULL, port_hi INTEGER NOT NULL,"
        " start INTEGER NOT NULL, end INTEGER);"
        "CREATE INDEX blocks_lookup ON blocks(ext, proto, port_lo, start);"
        "CREATE INDEX blocks_open ON blocks(ext, proto, port_lo) WHERE end IS NULL;"
        "INSERT INTO blocks VALUES (4, X'64400003', X'CB007101', 6, 4024, 5023, 1000000, 999);");
    assert_int_equal(ep_natlog_upgrade(path, &n, &err), EP_EIO);
    assert_non_null(strstr(err.message, "nothing changed"));
    assert_int_equal(ep_natlog_open(path, &ro, &log, &err), EP_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(changed_record_is_named_and_never_answered),
        cmocka_unit_test(one_bit_flips),
        cmocka_unit_test(format1_refused_then_upgraded),
    };
    return cmocka_run_group_tests(tests, ep_test_dir_make, ep_test_dir_remove);
}
