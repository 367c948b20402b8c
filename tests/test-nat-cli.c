/* test-nat-cli.c - `ephport nat` as an operator runs it: exit codes and
 * messages for bad input, plan --json (streamed: bytes and memory), plan histories with --save and
 * whois --plan --at, and the log commands end to end (add, release, whois
 * --log, export, import, prune, check, a corrupt file, a damaged record). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

static char dir[64];
static char out[1 << 16];

/* Run `ephport ARGS` (a shell fragment), capture stdout+stderr in out,
 * return the exit code. */
static int ep(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ep(const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    FILE *p;
    size_t n;
    int st;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd '%s' && \"%s\" %s 2>&1", dir, getenv("EPHPORT_BIN"), args);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

#define EXPECT(code, needle, ...)                                                        \
    do {                                                                                 \
        int rc_ = ep(__VA_ARGS__);                                                       \
        if (rc_ != (code) || !strstr(out, needle))                                       \
            fail_msg("ephport " #__VA_ARGS__ ": exit %d (want %d), output:\n%s", rc_,    \
                     code, out);                                                         \
    } while (0)

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ep-natcli-XXXXXX");
    if (!getenv("EPHPORT_BIN") || !mkdtemp(dir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void help_and_usage(void **state)
{
    (void)state;
    EXPECT(0, "plan", "nat --help");
    EXPECT(0, "--block-size", "nat plan --help");
    EXPECT(0, "--at TIME", "nat whois --help");
    EXPECT(0, "prune --before", "nat log --help");
    EXPECT(2, "Usage", "nat");
    EXPECT(2, "unknown subcommand 'frobnicate'", "nat frobnicate");
    EXPECT(2, "--inside and --outside are required", "nat plan --inside 100.64.0.0/24");
    EXPECT(2, "not a whole number", "nat plan --inside 100.64.0.0/24 --outside 203.0.113.1 --ratio 0");
    EXPECT(2, "not both", "nat plan --inside 100.64.0.0/24 --outside 203.0.113.1 --ratio 4 --block-size 4");
    EXPECT(2, "--ports", "nat plan --inside 100.64.0.0/24 --outside 203.0.113.1 --ports 9-2");
    EXPECT(2, "go together", "nat plan --inside 100.64.0.1 --outside 203.0.113.1 --save x");
    EXPECT(2, "exactly one of", "nat whois 203.0.113.1:4000");
    EXPECT(2, "port 'port' is not 0-65535", "nat whois 203.0.113.1:port --inside 100.64.0.1 --outside 203.0.113.1");
    EXPECT(2, "not a UTC time", "nat whois 203.0.113.1:4000 --plan p --at 'next tuesday'");
    EXPECT(2, "--proto 'sctp'", "nat whois 203.0.113.1:4000 --log l --proto sctp");
}

/* Options that describe no plan are usage errors (exit 2), like a bad
 * --ports: a bad CIDR exited 1 before. */
static void plan_bad_input(void **state)
{
    (void)state;
    EXPECT(2, "has host bits set", "nat whois 203.0.113.1:4000 --inside 100.64.0.1/24 "
                                   "--outside 203.0.113.1");
    EXPECT(2, "inside list: ", "nat log simulate --log sim-bad.db --inside 100.64.0/24 "
                            "--outside 203.0.113.1 --block-size 100");
    EXPECT(2, "has host bits set; the network is 100.64.0.0/24",
           "nat plan --inside 100.64.0.1/24 --outside 203.0.113.1");
    EXPECT(2, "empty item", "nat plan --inside 100.64.0.0/24,,100.64.1.0/24 --outside 203.0.113.1");
    EXPECT(2, "is not an IPv4 or IPv6 address", "nat plan --inside 100.64.0/24 --outside 203.0.113.1");
    EXPECT(2, "inside: 100.64.0.0/16 overlaps 100.64.1.0/24",
           "nat plan --inside 100.64.0.0/16,100.64.1.0/24 --outside 203.0.113.1");
    EXPECT(2, "inside 100.64.0.0/24 overlaps outside 100.64.0.7",
           "nat plan --inside 100.64.0.0/24 --outside 100.64.0.7");
    EXPECT(2, "ratio 5000 does not fit",
           "nat plan --inside 100.64.0.0/24 --outside 203.0.113.1 --ports 1024-2047 --ratio 5000");
    EXPECT(2, "256 subscribers do not fit",
           "nat plan --inside 100.64.0.0/24 --outside 203.0.113.1 --block-size 2000");
}

static void plan_json_and_table(void **state)
{
    json_t *j, *maps;
    json_error_t jerr;
    (void)state;
    EXPECT(0, "ports per subscriber 8064, sharing ratio 8:1",
           "nat plan --inside 100.64.0.0/29 --outside 203.0.113.1");
    EXPECT(0, "100.64.0.7       203.0.113.1      57472-65535",
           "nat plan --inside 100.64.0.0/29 --outside 203.0.113.1");
    assert_int_equal(ep("nat plan --inside 100.64.0.0/28 --outside 203.0.113.1,203.0.113.2 "
                        "--ratio 10 --json"), 0);
    j = json_loads(out, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "subscribers")), 16);
    assert_int_equal(json_integer_value(json_object_get(j, "sharing_ratio")), 10);
    assert_int_equal(json_integer_value(json_object_get(j, "ports_per_subscriber")), 6451);
    assert_int_equal(json_integer_value(json_object_get(j, "unused_ports_per_address")), 2);
    maps = json_object_get(j, "mappings");
    assert_int_equal(json_array_size(maps), 16);
    assert_string_equal(json_string_value(json_object_get(json_array_get(maps, 3), "external")),
                        "203.0.113.2");
    json_decref(j);
    EXPECT(0, "table ip ephport_nat {",
           "nat plan --inside 100.64.0.0/28 --outside 203.0.113.1 --nft");
}

/* --json streams the mappings: its bytes must be exactly jansson's dump of
 * the same document (the layout scripts saw before), and its memory must
 * not grow with the plan.  A /13 is 524,288 mappings: the whole jansson
 * document took about 760 bytes a mapping (3.18 GB for a /10, issue 16),
 * so about 400 MB here; streaming keeps it near 6 MB (ASan builds: ~30
 * MB).  The bound, 100 MB of the largest child's maxrss, is far from both. */
static void plan_json_streams(void **state)
{
    json_t *j;
    char *again;
    struct rusage ru;
    (void)state;
    assert_int_equal(ep("nat plan --inside 100.64.0.0/26,10.1.0.0/28 --outside 203.0.113.0/30 "
                        "--json"), 0);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "mappings")), 80);
    again = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    assert_non_null(again);
    assert_int_equal(strlen(out), strlen(again) + 1);
    assert_memory_equal(out, again, strlen(again));
    assert_int_equal(out[strlen(again)], '\n');
    free(again);
    json_decref(j);
    assert_int_equal(ep("nat plan --inside 100.64.0.0/13 --outside 198.18.0.0/20 --json "
                        "| tail -c 12"), 0);
    assert_non_null(strstr(out, "}\n  ]\n}\n"));
    assert_int_equal(getrusage(RUSAGE_CHILDREN, &ru), 0);
    if (ru.ru_maxrss >= 100 * 1024)
        fail_msg("nat plan --json of a /13: largest child maxrss %ld KiB", ru.ru_maxrss);
}

static void plan_history_and_whois_at(void **state)
{
    (void)state;
    EXPECT(0, "saved to plans, in force from 2026-11-01T00:00:00Z",
           "nat plan --inside 100.64.0.0/24 --outside 203.0.113.1 --save plans "
           "--valid-from 2026-11-01T00:00:00Z");
    EXPECT(0, "saved to plans",
           "nat plan --inside 100.64.0.0/24 --outside 203.0.113.1,203.0.113.2 --save plans "
           "--valid-from 2026-11-20");
    EXPECT(1, "is not after the last plan",
           "nat plan --inside 100.64.0.0/24 --outside 203.0.113.1 --save plans "
           "--valid-from 2026-11-10");
    /* Nov 10: one external address, 252 ports each: port 1024+252*5 is subscriber 5. */
    EXPECT(0, "-> inside 100.64.0.5, external 203.0.113.1 ports 2284-2535",
           "nat whois 203.0.113.1:2300 --plan plans --at 2026-11-10T12:00:00Z");
    /* Nov 21: two addresses, 504 ports each: 203.0.113.1:2300 is block 2 -> subscriber 4. */
    EXPECT(0, "-> inside 100.64.0.4, external 203.0.113.1 ports 2032-2535",
           "nat whois 203.0.113.1:2300 --plan plans --at 2026-11-21T00:00:00Z");
    EXPECT(0, "\"inside\": \"100.64.0.9\"",
           "nat whois 100.64.0.9 --plan plans --at 1795000000 --json");
    EXPECT(1, "no plan in plans was in force at 2026-10-01T00:00:00Z",
           "nat whois 203.0.113.1:2300 --plan plans --at 2026-10-01");
    /* the plan in force, back out of the history */
    EXPECT(0, "ports per subscriber 252", "nat plan --plan plans --at 2026-11-10");
    EXPECT(0, "100.64.0.1 : 203.0.113.2 . 1024-1527,", "nat plan --plan plans --at 2026-11-21 --nft");
    EXPECT(1, "no plan in plans was in force", "nat plan --plan plans --at 2026-10-01");
    EXPECT(2, "--plan FILE takes the plan from the history",
           "nat plan --plan plans --inside 100.64.0.0/24");
    EXPECT(2, "--at needs --plan FILE", "nat plan --inside 100.64.0.0/24 --outside 203.0.113.1 "
                                        "--at 2026-11-10");
    EXPECT(1, "is not in any subscriber's block",
           "nat whois 203.0.113.9:2300 --plan plans --at 2026-11-10");
    EXPECT(1, "not an inside address", "nat whois 100.64.1.1 --plan plans --at 2026-11-10");
    EXPECT(1, "cannot open nothere: No such file", "nat whois 203.0.113.1:2300 --plan nothere --at 2026-11-10");
    {
        char p[256];
        FILE *f;
        snprintf(p, sizeof p, "%s/badplans", dir);
        f = fopen(p, "w");
        fputs("ephport-nat-plans 1\nplan valid-from=10 inside=100.64.0.0/24\n", f);
        fclose(f);
    }
    EXPECT(1, "line 2: a plan needs", "nat whois 203.0.113.1:2300 --plan badplans --at 20");
}

static void log_commands(void **state)
{
    json_t *j;
    (void)state;
    EXPECT(0, "", "nat log add --log l.db --subscriber 100.64.0.1 --ext 203.0.113.1 --proto udp "
                  "--ports 4000-4999 --start 2026-11-24T10:00:00Z");
    EXPECT(0, "", "nat log add --log l.db --subscriber 100.64.0.2 --ext 203.0.113.1 "
                  "--ports 4000-4999 --start 2026-11-24T09:00:00Z --end 2026-11-24T09:30:00Z");
    EXPECT(1, "udp 203.0.113.1:4000 is already assigned and not released in l.db",
           "nat log add --log l.db --subscriber 100.64.0.7 --ext 203.0.113.1 --proto udp "
           "--ports 4000-4999 --start 2026-11-24T10:01:00Z");
    EXPECT(0, "-> inside 100.64.0.1, external 203.0.113.1 ports 4000-4999 (udp, held "
              "2026-11-24T10:00:00Z until now)",
           "nat whois 203.0.113.1:4500 --proto udp --log l.db --at 2026-11-24T10:02:00Z");
    EXPECT(1, "no subscriber held 203.0.113.1:4500 (tcp) at 2026-11-24T10:02:00Z",
           "nat whois 203.0.113.1:4500 --log l.db --at 2026-11-24T10:02:00Z");
    EXPECT(0, "inside 100.64.0.2", "nat whois 203.0.113.1:4500 --log l.db --at 2026-11-24T09:10:00Z");
    EXPECT(0, "", "nat log release --log l.db --ext 203.0.113.1 --proto udp --port 4000 "
                  "--end 2026-11-24T11:00:00Z");
    EXPECT(1, "no open udp block", "nat log release --log l.db --ext 203.0.113.1 --proto udp "
                                   "--port 4000 --end 2026-11-24T12:00:00Z");
    EXPECT(1, "no subscriber held", "nat whois 203.0.113.1:4500 --proto udp --log l.db --at "
                                    "2026-11-24T11:00:00Z");
    EXPECT(2, "with --log, give EXT_ADDR:PORT", "nat whois 203.0.113.1 --log l.db");
    EXPECT(0, "100.64.0.1,203.0.113.1,udp,4000,4999,2026-11-24T10:00:00Z,2026-11-24T11:00:00Z",
           "nat log export --log l.db");
    EXPECT(0, "", "nat log export --log l.db out.csv");
    EXPECT(0, "2 records", "nat log import --log copy.db out.csv");
    EXPECT(0, "integrity ok, 2 records", "nat log check --log copy.db");
    assert_int_equal(ep("nat log prune --log copy.db --before 2026-11-24T10:00:00Z --json"), 0);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "removed")), 1);
    json_decref(j);
    EXPECT(0, "integrity ok, 1 records", "nat log check --log copy.db");
    EXPECT(2, "--before TIME is required", "nat log prune --log copy.db");
    EXPECT(2, "unknown action", "nat log frob --log copy.db");
    EXPECT(2, "--log FILE is required", "nat log check");
    EXPECT(1, "no such log file", "nat log check --log nothere.db");

    /* Bad CSV: nothing imported, the line is named. */
    {
        char p[256];
        FILE *f;
        snprintf(p, sizeof p, "%s/bad.csv", dir);
        f = fopen(p, "w");
        fputs("subscriber,ext_addr,proto,port_lo,port_hi,start,end\n"
              "100.64.0.3,203.0.113.1,tcp,1,10,100,200\n"
              "100.64.0.3,203.0.113.1,tcp,11,10,100,200\n", f);
        fclose(f);
        snprintf(p, sizeof p, "%s/corrupt.db", dir);
        f = fopen(p, "w");
        for (int i = 0; i < 4096; i++)
            fputc("corrupt!"[i % 8], f);
        fclose(f);
    }
    EXPECT(1, "line 3: port_hi is below port_lo", "nat log import --log copy.db bad.csv");
    EXPECT(0, "integrity ok, 1 records", "nat log check --log copy.db");
    EXPECT(1, "not an ephport NAT log", "nat log check --log corrupt.db");
    EXPECT(1, "not an ephport NAT log", "nat whois 203.0.113.1:5 --log corrupt.db");
    EXPECT(1, "not an ephport NAT log", "nat log add --log corrupt.db --subscriber 100.64.0.1 "
                                        "--ext 203.0.113.1 --ports 1-2 --start 5");
}

/* A record changed behind the log's back (constraints off, as a flip on
 * disk leaves it): every command that reads it refuses, naming the record
 * and pointing at check; check lists it and exits 1.  The unfixed code
 * answered "no subscriber" and check said "integrity ok". */
static void damaged_log_is_refused(void **state)
{
    char p[256];
    sqlite3 *db;
    (void)state;
    EXPECT(0, "", "nat log add --log dmg.db --subscriber 100.64.0.5 --ext 203.0.113.1 "
                  "--ports 4000-4999 --start 1000 --end 2000");
    EXPECT(0, "", "nat log add --log dmg.db --subscriber 100.64.0.6 --ext 203.0.113.1 "
                  "--ports 5000-5999 --start 1000");
    EXPECT(0, "-> inside 100.64.0.5", "nat whois 203.0.113.1:4500 --log dmg.db --at 1500");
    snprintf(p, sizeof p, "%s/dmg.db", dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA ignore_check_constraints=1; "
                                      "UPDATE blocks SET end = 999 WHERE id = 1;"
                                      "UPDATE blocks SET port_hi = 5998 WHERE id = 2;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    EXPECT(1, "dmg.db is damaged, no answer: record 1: the block ends before it starts; "
              "'ephport nat log check --log dmg.db' lists what is wrong",
           "nat whois 203.0.113.1:4500 --log dmg.db --at 1500");
    EXPECT(1, "record 2: checksum mismatch", "nat whois 203.0.113.1:5500 --log dmg.db --at 1500");
    EXPECT(1, "dmg.db is damaged: record 1", "nat log export --log dmg.db");
    EXPECT(1, "record 2: checksum mismatch", "nat log release --log dmg.db --ext 203.0.113.1 "
                                             "--port 5000 --end 3000");
    EXPECT(1, "record 1: the block ends before it starts",
           "nat log check --log dmg.db");
    EXPECT(1, "damaged: 2 of 2 records fail their checksum or rules", "nat log check --log dmg.db");
    EXPECT(1, "\"problem\": \"checksum mismatch\"", "nat log check --log dmg.db --json");
    /* a schema changed by hand: refused on open by every command */
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP INDEX blocks_open", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    EXPECT(1, "its schema is not the one this version writes",
           "nat log add --log dmg.db --subscriber 100.64.0.7 --ext 203.0.113.1 "
           "--ports 7000-7999 --start 1000");
    EXPECT(1, "its schema is not the one this version writes",
           "nat whois 203.0.113.1:7500 --log dmg.db --at 1500");
    EXPECT(1, "its schema is not the one this version writes", "nat log prune --log dmg.db "
                                                                "--before 5000");
}

static void log_simulate(void **state)
{
    json_t *j;
    static char a[sizeof out];
    long assigned;
    (void)state;
    assert_int_equal(ep("nat log simulate --log s1.db --inside 100.64.0.0/24 --outside "
                        "203.0.113.0/30 --block-size 4032 --duration 300 --rate 2 --idle 60 "
                        "--seed 42 --sync normal --json"), 0);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assigned = (long)json_integer_value(json_object_get(j, "assigned"));
    assert_true(assigned > 100 && assigned < 600);   /* the export must fit in out */
    assert_true(json_integer_value(json_object_get(j, "expired")) > 0);
    json_decref(j);
    /* every assignment is one record */
    {
        char want[64];
        snprintf(want, sizeof want, "integrity ok, %ld records", assigned);
        EXPECT(0, want, "nat log check --log s1.db");
    }
    /* same seed, same log */
    assert_int_equal(ep("nat log simulate --log s2.db --inside 100.64.0.0/24 --outside "
                        "203.0.113.0/30 --block-size 4032 --duration 300 --rate 2 --idle 60 "
                        "--seed 42 --sync normal"), 0);
    assert_int_equal(ep("nat log export --log s1.db"), 0);
    memcpy(a, out, sizeof a);
    a[sizeof a - 1] = '\0';
    assert_int_equal(ep("nat log export --log s2.db"), 0);
    assert_string_equal(a, out);
    EXPECT(2, "--log, --inside, --outside and --block-size are required",
           "nat log simulate --inside 100.64.0.0/24");
    EXPECT(2, "block size", "nat log simulate --log s3.db --inside 100.64.0.0/24 --outside "
                            "203.0.113.1 --block-size 65535 --ports 1024-2047");
    EXPECT(0, "--max-blocks", "nat log simulate --help");
    /* a log file named "simulate" is a file, not the action */
    assert_int_equal(ep("nat log export --log s2.db simulate.csv"), 0);
    {
        char cp[600];
        snprintf(cp, sizeof cp, "cp '%s/s2.db' '%s/simulate'", dir, dir);
        assert_int_equal(system(cp), 0);
    }
    EXPECT(0, "records", "nat log check --log simulate");
    EXPECT(2, "put 'simulate' first", "nat log --log s4.db simulate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(help_and_usage),
        cmocka_unit_test(plan_bad_input),
        cmocka_unit_test(plan_json_and_table),
        cmocka_unit_test(plan_json_streams),
        cmocka_unit_test(plan_history_and_whois_at),
        cmocka_unit_test(log_commands),
        cmocka_unit_test(damaged_log_is_refused),
        cmocka_unit_test(log_simulate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
