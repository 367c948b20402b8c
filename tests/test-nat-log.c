/* test-nat-log.c - the SQLite port-block log: interval whois, release and
 * prune (whois against a brute-force model is test-natlog-backends.c's, on
 * both backends), CSV parse/format/import/export,
 * corrupt files, and durability: a writer killed with SIGKILL mid-stream
 * loses no event it had reported committed, and the file stays readable. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/natlog.h>

#include "tmpdir-util.h"

static void path_in_dir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", ep_test_dir, name);
}

static ep_natlog *open_new(const char *name)
{
    char path[256];
    ep_natlog_options o = { .create = true };
    ep_natlog *log = NULL;
    ep_parse_error err;
    path_in_dir(path, sizeof path, name);
    unlink(path);
    if (ep_natlog_open(path, &o, &log, &err) != 0)
        fail_msg("open %s: %s", path, err.message);
    return log;
}

static ep_addr A(const char *s)
{
    ep_addr a;
    assert_int_equal(ep_addr_parse(s, &a), 0);
    return a;
}

static void whois_basic_intervals(void **state)
{
    ep_natlog *log = open_new("basic.db");
    ep_natlog_record r = { .subscriber = A("100.64.0.1"), .ext = A("203.0.113.1"), .proto = 6,
                           .port_lo = 1024, .port_hi = 2047, .start = 1000,
                           .end = EP_NATLOG_OPEN_END };
    ep_natlog_record out;
    ep_addr ext = A("203.0.113.1");
    char sub[EP_ADDR_STRLEN];
    (void)state;
    assert_int_equal(ep_natlog_assign(log, &r), 0);
    assert_int_equal(ep_natlog_release(log, &ext, 6, 1024, 2000), 0);
    assert_int_equal(ep_natlog_release(log, &ext, 6, 1024, 2500), EP_ENOENT);
    r.subscriber = A("100.64.0.2");
    r.start = 2000;
    assert_int_equal(ep_natlog_assign(log, &r), 0);
    /* one open assignment per block */
    r.start = 2100;
    assert_int_equal(ep_natlog_assign(log, &r), EP_EEXIST);
    r.start = 2000;
    assert_int_equal(ep_natlog_release(log, &ext, 6, 1024, 1999), EP_EINVAL);
    assert_int_equal(ep_natlog_commit(log), 0);

    assert_int_equal(ep_natlog_whois(log, &ext, 6, 1500, 999, &out), EP_ENOENT);
    assert_int_equal(ep_natlog_whois(log, &ext, 6, 1024, 1000, &out), 0);
    ep_addr_format(&out.subscriber, sub, sizeof sub);
    assert_string_equal(sub, "100.64.0.1");
    assert_int_equal(out.end, 2000);
    assert_int_equal(ep_natlog_whois(log, &ext, 6, 2047, 1999, &out), 0);
    ep_addr_format(&out.subscriber, sub, sizeof sub);
    assert_string_equal(sub, "100.64.0.1");
    /* end is exclusive, start inclusive */
    assert_int_equal(ep_natlog_whois(log, &ext, 6, 2047, 2000, &out), 0);
    ep_addr_format(&out.subscriber, sub, sizeof sub);
    assert_string_equal(sub, "100.64.0.2");
    assert_int_equal(out.end, EP_NATLOG_OPEN_END);
    assert_int_equal(ep_natlog_whois(log, &ext, 6, 2048, 2000, &out), EP_ENOENT);
    assert_int_equal(ep_natlog_whois(log, &ext, 17, 1500, 2000, &out), EP_ENOENT);
    ext = A("203.0.113.2");
    assert_int_equal(ep_natlog_whois(log, &ext, 6, 1500, 2000, &out), EP_ENOENT);

    /* bad records */
    r.end = r.start;
    assert_int_equal(ep_natlog_assign(log, &r), EP_EINVAL);
    r.end = EP_NATLOG_OPEN_END;
    r.proto = 47;
    assert_int_equal(ep_natlog_assign(log, &r), EP_EINVAL);
    r.proto = 6;
    r.port_lo = 3000;
    r.port_hi = 2999;
    assert_int_equal(ep_natlog_assign(log, &r), EP_EINVAL);
    assert_int_equal(ep_natlog_close(log), 0);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void prune_keeps_open_and_recent(void **state)
{
    ep_natlog *log = open_new("prune.db");
    ep_natlog_record r = { .subscriber = A("100.64.0.1"), .ext = A("203.0.113.1"), .proto = 17,
                           .port_lo = 1024, .port_hi = 1087 };
    ep_natlog_record out;
    uint64_t removed = 99;
    (void)state;
    for (int i = 0; i < 10; i++) {
        r.start = 100 * i;
        r.end = 100 * i + 50;
        assert_int_equal(ep_natlog_assign(log, &r), 0);
    }
    r.start = 2000;
    r.end = EP_NATLOG_OPEN_END;
    assert_int_equal(ep_natlog_assign(log, &r), 0);
    assert_int_equal(ep_natlog_prune(log, 450, &removed), 0);
    assert_int_equal(removed, 4);   /* ended at 50, 150, 250, 350 */
    assert_int_equal(ep_natlog_whois(log, &r.ext, 17, 1030, 320, &out), EP_ENOENT);
    assert_int_equal(ep_natlog_whois(log, &r.ext, 17, 1030, 420, &out), 0);
    assert_int_equal(ep_natlog_prune(log, INT64_MAX - 1, &removed), 0);
    assert_int_equal(removed, 6);
    assert_int_equal(ep_natlog_whois(log, &r.ext, 17, 1030, 5000, &out), 0);
    assert_int_equal(ep_natlog_close(log), 0);
}

static void csv_lines(void **state)
{
    ep_natlog_record r;
    ep_parse_error err;
    char buf[256];
    static const char *const bad[][2] = {
        { "", "1 fields" },
        { "100.64.0.1,203.0.113.1,tcp,1024,2047,2026-11-24T10:00:00Z", "6 fields" },
        { "100.64.0.1,203.0.113.1,tcp,1024,2047,2026-11-24T10:00:00Z,,", "more than 7" },
        { "100.64.0.x,203.0.113.1,tcp,1024,2047,0,", "bad subscriber" },
        { "100.64.0.1,[::1],tcp,1024,2047,0,", "bad external" },
        { "100.64.0.1,203.0.113.1,sctp,1024,2047,0,", "protocol" },
        { "100.64.0.1,203.0.113.1,tcp,01024,2047,0,", "bad port_lo" },
        { "100.64.0.1,203.0.113.1,tcp,1024,65536,0,", "bad port_hi" },
        { "100.64.0.1,203.0.113.1,tcp,2048,2047,0,", "below port_lo" },
        { "100.64.0.1,203.0.113.1,tcp,1024,2047,tomorrow,", "bad start" },
        { "100.64.0.1,203.0.113.1,tcp,1024,2047,100,100", "not after start" },
        { "100.64.0.1,203.0.113.1,tcp,1024,2047,100,x", "bad end" },
        { "100.64.0.1, 203.0.113.1,tcp,1024,2047,100,", "bad external" },
    };
    (void)state;
    assert_int_equal(ep_natlog_csv_parse("100.64.0.1,203.0.113.1,udp,1024,2047,"
                                         "2026-11-24T10:00:00Z,1795518000", &r, &err), 0);
    assert_int_equal(r.proto, 17);
    assert_int_equal(r.end, 1795518000);
    assert_int_equal(ep_natlog_csv_format(&r, buf, sizeof buf), (int)strlen("100.64.0.1,203.0.113.1,udp,1024,2047,2026-11-24T10:00:00Z,2026-11-24T11:00:00Z"));
    assert_string_equal(buf, "100.64.0.1,203.0.113.1,udp,1024,2047,2026-11-24T10:00:00Z,"
                             "2026-11-24T11:00:00Z");
    assert_int_equal(ep_natlog_csv_format(&r, buf, 20), EP_ENOSPC);
    assert_int_equal(ep_natlog_csv_parse("2001:db8::5,2001:db8::1,icmp,0,65535,0,", &r, &err), 0);
    assert_int_equal(r.end, EP_NATLOG_OPEN_END);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(ep_natlog_csv_parse(bad[i][0], &r, &err), EP_EINVAL);
        if (!strstr(err.message, bad[i][1]))
            fail_msg("'%s': expected '%s' in '%s'", bad[i][0], bad[i][1], err.message);
    }
}

static void csv_round_trip_and_atomic_import(void **state)
{
    char csv[256], path[256];
    ep_natlog *a = open_new("export.db"), *b;
    ep_natlog_record r = { .subscriber = A("100.64.0.9"), .ext = A("203.0.113.5"), .proto = 6,
                           .port_lo = 4096, .port_hi = 8191 };
    ep_parse_error err;
    uint64_t n = 0;
    FILE *f;
    char *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    (void)state;
    for (int i = 0; i < 50; i++) {
        r.start = 1795514520 + i * 60;
        r.end = i < 45 ? r.start + 30 : EP_NATLOG_OPEN_END;   /* one open per block */
        r.port_lo = (uint16_t)(4096 + (i % 5) * 4096);
        r.port_hi = (uint16_t)(r.port_lo + 4095);
        assert_int_equal(ep_natlog_assign(a, &r), 0);
    }
    path_in_dir(csv, sizeof csv, "export.csv");
    f = fopen(csv, "w");
    assert_int_equal(ep_natlog_export_csv(a, f), 0);
    fclose(f);
    b = open_new("import.db");
    f = fopen(csv, "r");
    assert_int_equal(ep_natlog_import_csv(b, f, &n, &err), 0);
    fclose(f);
    assert_int_equal(n, 50);
    f = open_memstream(&ta, &la);
    ep_natlog_export_csv(a, f);
    fclose(f);
    f = open_memstream(&tb, &lb);
    ep_natlog_export_csv(b, f);
    fclose(f);
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
    ep_natlog_close(a);

    /* A bad line in the middle: nothing of that import is kept. */
    f = fopen(csv, "w");
    fprintf(f, "%s\n100.64.0.1,203.0.113.9,tcp,1,10,100,200\n"
               "100.64.0.1,203.0.113.9,tcp,11,20,100,200\n"
               "100.64.0.1,203.0.113.9,tcp,21,30,100,oops\n", EP_NATLOG_CSV_HEADER);
    fclose(f);
    f = fopen(csv, "r");
    assert_int_equal(ep_natlog_import_csv(b, f, &n, &err), EP_EINVAL);
    fclose(f);
    assert_non_null(strstr(err.message, "line 4: bad end time"));
    {
        ep_natlog_record out;
        ep_addr e = A("203.0.113.9");
        assert_int_equal(ep_natlog_whois(b, &e, 6, 5, 150, &out), EP_ENOENT);
    }
    /* No header. */
    f = fopen(csv, "w");
    fprintf(f, "100.64.0.1,203.0.113.9,tcp,1,10,100,200\n");
    fclose(f);
    f = fopen(csv, "r");
    assert_int_equal(ep_natlog_import_csv(b, f, &n, &err), EP_EINVAL);
    fclose(f);
    assert_non_null(strstr(err.message, "header"));
    assert_int_equal(ep_natlog_check(b, &err), 0);
    ep_natlog_close(b);
    path_in_dir(path, sizeof path, "import.db");
    (void)path;
}

static void corrupt_files_are_refused(void **state)
{
    char path[256];
    ep_natlog_options o = { .create = false };
    ep_natlog *log;
    ep_parse_error err;
    FILE *f;
    (void)state;
    path_in_dir(path, sizeof path, "missing.db");
    assert_int_equal(ep_natlog_open(path, &o, &log, &err), EP_ENOENT);

    path_in_dir(path, sizeof path, "garbage.db");
    f = fopen(path, "w");
    for (int i = 0; i < 8192; i++)
        fputc((int)(rnd() & 0xff), f);
    fclose(f);
    memset(&err, 0, sizeof err);
    assert_int_equal(ep_natlog_open(path, &o, &log, &err), EP_EIO);
    assert_non_null(strstr(err.message, "not an ephport NAT log"));

    /* A text file. */
    path_in_dir(path, sizeof path, "text.db");
    f = fopen(path, "w");
    fputs(EP_NATLOG_CSV_HEADER "\n", f);
    fclose(f);
    assert_int_equal(ep_natlog_open(path, &o, &log, &err), EP_EIO);

    {
        /* Build an SQLite file whose ephport_meta says something else. */
        ep_natlog_options c = { .create = true };
        path_in_dir(path, sizeof path, "wrongmark.db");
        assert_int_equal(ep_natlog_open(path, &c, &log, &err), 0);
        ep_natlog_close(log);
        /* Flip the mark by patching the file bytes ("ephport-natlog 2" -> "...log 9"). */
        f = fopen(path, "r+b");
        assert_non_null(f);
        {
            char buf[65536];
            size_t n = fread(buf, 1, sizeof buf, f);
            char *hit = memmem(buf, n, "ephport-natlog 2", 16);
            assert_non_null(hit);
            hit[15] = '9';
            fseek(f, 0, SEEK_SET);
            fwrite(buf, 1, n, f);
        }
        fclose(f);
        assert_int_equal(ep_natlog_open(path, &o, &log, &err), EP_EIO);
        assert_non_null(strstr(err.message, "not an ephport NAT log"));
    }

    /* A log cut in half: refused or reported by the integrity check, never
     * a crash. */
    {
        ep_natlog *w = open_new("cut.db");
        ep_natlog_record r = { .subscriber = A("100.64.0.1"), .ext = A("203.0.113.1"),
                               .proto = 6, .port_lo = 1, .port_hi = 10, .end = EP_NATLOG_OPEN_END };
        for (int i = 0; i < 5000; i++) {
            r.start = i;
            r.port_lo = (uint16_t)(1 + (i % 6000) * 10);
            r.port_hi = (uint16_t)(r.port_lo + 9);
            r.end = i + 1;
            assert_int_equal(ep_natlog_assign(w, &r), 0);
        }
        ep_natlog_close(w);
        path_in_dir(path, sizeof path, "cut.db");
        {
            /* close checkpointed the WAL into the file; cut it in half */
            struct stat sb;
            assert_int_equal(stat(path, &sb), 0);
            assert_true(sb.st_size > 8192);
            assert_int_equal(truncate(path, sb.st_size / 2), 0);
        }
        if (ep_natlog_open(path, &o, &log, &err) == 0) {
            int rc = ep_natlog_check(log, &err);
            ep_natlog_close(log);
            assert_int_equal(rc, EP_EIO);
            assert_true(err.message[0] != '\0');
        } else {
            assert_true(err.message[0] != '\0');
        }
    }
}

/* Durability: the child writes events forever, committing every few, and
 * after each commit reports the number of events committed on a pipe.
 * The parent kills it with SIGKILL at a random moment and checks that the
 * log holds at least every reported event, exactly as written. */
static void child_writer(const char *path, int fd, bool sync_normal)
{
    ep_natlog_options o = { .create = true, .sync_normal = sync_normal, .batch = 1000000 };
    ep_natlog *log;
    ep_natlog_record r = { .proto = 6 };
    uint64_t n = 0;
    ep_addr_parse("203.0.113.1", &r.ext);
    if (ep_natlog_open(path, &o, &log, NULL) != 0)
        _exit(3);
    for (;;) {
        uint32_t sub = htonl(0x64400000u + (uint32_t)(n % 4000000));
        ep_addr_from_bytes(AF_INET, &sub, &r.subscriber);
        r.start = (int64_t)n;
        r.end = (int64_t)n + 1;
        r.port_lo = (uint16_t)(1024 + (n % 64) * 1000);
        r.port_hi = (uint16_t)(r.port_lo + 999);
        if (ep_natlog_assign(log, &r) != 0)
            _exit(4);
        n++;
        if (n % 5 == 0) {
            if (ep_natlog_commit(log) != 0)
                _exit(5);
            if (write(fd, &n, sizeof n) != sizeof n)
                _exit(6);
        }
    }
}

struct count_arg {
    uint64_t n;
    bool in_order;
};

static int count_one(const ep_natlog_record *r, void *arg)
{
    struct count_arg *c = arg;
    uint32_t want = htonl(0x64400000u + (uint32_t)(c->n % 4000000));
    ep_addr a;
    ep_addr_from_bytes(AF_INET, &want, &a);
    if (r->start != (int64_t)c->n || r->end != (int64_t)c->n + 1 || !ep_addr_equal(&a, &r->subscriber))
        c->in_order = false;
    c->n++;
    return 0;
}

static void killed_writer_loses_nothing_committed(void **state)
{
    (void)state;
    for (int round = 0; round < 6; round++) {
        char path[256];
        int p[2];
        pid_t pid;
        uint64_t reported = 0, v;
        uint64_t target = 20 + rnd() % 400;
        ep_natlog *log;
        ep_natlog_options o = { .read_only = false };
        ep_parse_error err;
        struct count_arg c = { 0, true };
        int status;

        snprintf(path, sizeof path, "%s/durable-%d.db", ep_test_dir, round);
        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_writer(path, p[1], round % 2 == 1);
        }
        close(p[1]);
        while (reported < target && read(p[0], &v, sizeof v) == sizeof v)
            reported = v;
        /* Kill it mid-stream: it is writing the next batch right now. */
        kill(pid, SIGKILL);
        while (read(p[0], &v, sizeof v) == sizeof v)
            reported = v;   /* anything reported before the kill landed counts */
        close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_true(reported >= target);

        if (ep_natlog_open(path, &o, &log, &err) != 0)
            fail_msg("round %d: reopen after SIGKILL: %s", round, err.message);
        if (ep_natlog_check(log, &err) != 0)
            fail_msg("round %d: %s", round, err.message);
        assert_int_equal(ep_natlog_foreach(log, count_one, &c), 0);
        if (c.n < reported)
            fail_msg("round %d: %llu events reported committed, %llu in the log", round,
                     (unsigned long long)reported, (unsigned long long)c.n);
        assert_true(c.in_order);
        /* The last committed event answers whois. */
        {
            ep_natlog_record out;
            uint64_t last = reported - 1;
            ep_addr ext;
            ep_addr_parse("203.0.113.1", &ext);
            assert_int_equal(ep_natlog_whois(log, &ext, 6, (uint16_t)(1024 + (last % 64) * 1000 + 5),
                                             (int64_t)last, &out), 0);
            assert_int_equal(out.start, (int64_t)last);
        }
        ep_natlog_close(log);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whois_basic_intervals),
        cmocka_unit_test(prune_keeps_open_and_recent),
        cmocka_unit_test(csv_lines),
        cmocka_unit_test(csv_round_trip_and_atomic_import),
        cmocka_unit_test(corrupt_files_are_refused),
        cmocka_unit_test(killed_writer_loses_nothing_committed),
    };
    return cmocka_run_group_tests(tests, ep_test_dir_make, ep_test_dir_remove);
}
