/* test-natlog-backends.c - the same NAT log cases against both backends:
 * SQLite (a file) and PostgreSQL (a private server this test starts: see
 * pg-util.h).  Each case runs in a forked child per backend, so a crash
 * or a failed assertion still lets the parent stop the server and remove
 * its directory.
 *
 * Cases: whois against a brute-force model; a damaged record (changed
 * behind ephport's back) refused by whois and named by verify/check;
 * several router processes writing their own external addresses at once;
 * two writers racing for the same blocks (exactly one holder each, the
 * loser gets -EEXIST); a writer killed with SIGKILL at random moments
 * (every acknowledged event stored, once).  PostgreSQL only: the server
 * stopped (-m immediate) before a commit (the commit fails, pending lists
 * exactly the unstored events, after the restart the next commit stores
 * them once), the exclusion constraint against overlapping histories and
 * against writes that bypass ephport, open refusing what is not an
 * ephport log, and the command line taking the URI as --log.
 *
 * PostgreSQL needs root (the server runs as `postgres`) and the
 * PostgreSQL 15 binaries; without them its half of each case is a visible
 * skip. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <ephport/natlog.h>

#include "pg-util.h"

/* What a case body gets: the log name, and for PostgreSQL the server. */
struct ctx {
    const char *name;   /* "sqlite" or "postgresql" */
    char log[300];      /* path or URI */
    ep_test_pg *pg;     /* NULL for SQLite */
};

/* Inside a forked child: failures exit non-zero with a message. */
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, c->name, \
                    #cond);                                                               \
            _exit(1);                                                                     \
        }                                                                                 \
    } while (0)
#define CHECK_EQ(a, b)                                                                    \
    do {                                                                                  \
        long long a_ = (long long)(a), b_ = (long long)(b);                               \
        if (a_ != b_) {                                                                   \
            fprintf(stderr, "%s:%d: %s: %s = %lld, expected %lld\n", __FILE__, __LINE__,  \
                    c->name, #a, a_, b_);                                                 \
            _exit(1);                                                                     \
        }                                                                                 \
    } while (0)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static ep_addr A(const char *s)
{
    ep_addr a;
    if (ep_addr_parse(s, &a) != 0)
        abort();
    return a;
}

static ep_natlog *open_log(const struct ctx *c, const ep_natlog_options *o)
{
    ep_natlog_options d = { .create = true };
    ep_natlog *log = NULL;
    ep_parse_error err;
    if (ep_natlog_open(c->log, o ? o : &d, &log, &err) != 0) {
        fprintf(stderr, "%s: open %s: %s\n", c->name, c->log, err.message);
        _exit(1);
    }
    return log;
}

static void run_child(const struct ctx *c, int (*body)(const struct ctx *))
{
    int st;
    pid_t pid;
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(100);
        _exit(body(c));
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s case failed (exit %d, signal %d)", c->name,
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* The case on SQLite, then (or skip) on PostgreSQL; pg_only skips SQLite. */
static void both(int (*body)(const struct ctx *), bool pg_only)
{
    struct ctx c = { 0 };
    char why[160];
    if (!pg_only) {
        char dir[64] = "/tmp/ep-natlog-XXXXXX", cmd[96];
        assert_non_null(mkdtemp(dir));
        c.name = "sqlite";
        snprintf(c.log, sizeof c.log, "%s/log.db", dir);
        run_child(&c, body);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
    if (!ep_test_pg_possible(why, sizeof why)) {
        fprintf(stderr, "SKIP: PostgreSQL backend: %s\n", why);
        skip();
    }
    {
        ep_test_pg pg;
        if (ep_test_pg_start(&pg, "eplog", why, sizeof why) != 0)
            fail_msg("cannot start a PostgreSQL server: %s", why);
        c.name = "postgresql";
        c.pg = &pg;
        snprintf(c.log, sizeof c.log, "%s", pg.uri);
        /* the server stays ours to stop and remove whatever the child did */
        pid_t pid;
        int st;
        fflush(stderr);
        pid = fork();
        if (pid == 0) {
            alarm(100);
            _exit(body(&c));
        }
        waitpid(pid, &st, 0);
        ep_test_pg_stop(&pg, "fast");
        pg.running = false;
        ep_test_pg_remove(&pg);
        if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("postgresql case failed (exit %d, signal %d)",
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
}

/* ---- whois against a model ---------------------------------------------- */

struct model {
    ep_natlog_record *r;
    size_t n;
};

static int model_whois(const struct model *m, const ep_addr *ext, uint8_t proto, uint16_t port,
                       int64_t t, ep_natlog_record *out)
{
    int found = 0;
    for (size_t i = 0; i < m->n; i++) {
        const ep_natlog_record *x = &m->r[i];
        if (ep_addr_equal(&x->ext, ext) && x->proto == proto && x->port_lo <= port &&
            port <= x->port_hi && x->start <= t && t < x->end) {
            *out = *x;
            found++;
        }
    }
    return found ? 0 : EP_ENOENT;
}

static int whois_body(const struct ctx *c)
{
    static const char *const exts[] = { "203.0.113.1", "203.0.113.2", "2001:db8::7" };
    static const uint16_t bsize[] = { 64, 100, 1 };
    ep_natlog *log = open_log(c, NULL);
    struct model m = { calloc(8000, sizeof(ep_natlog_record)), 0 };
    ptrdiff_t open_at[3][2][20];
    int64_t busy[3][2][20], now = 1000000;
    ep_natlog_record r0 = { .subscriber = A("100.64.0.1"), .ext = A("198.51.100.1"), .proto = 6,
                            .port_lo = 1024, .port_hi = 2047, .start = 10,
                            .end = EP_NATLOG_OPEN_END };
    ep_addr e0 = A("198.51.100.1");
    CHECK(m.r != NULL);
    /* the API's refusals are the same on both backends */
    CHECK_EQ(ep_natlog_assign(log, &r0), 0);
    r0.start = 20;
    CHECK_EQ(ep_natlog_assign(log, &r0), EP_EEXIST);
    CHECK_EQ(ep_natlog_release(log, &e0, 6, 1024, 5), EP_EINVAL);
    CHECK_EQ(ep_natlog_release(log, &e0, 6, 1025, 50), EP_ENOENT);
    CHECK_EQ(ep_natlog_release(log, &e0, 6, 1024, 50), 0);
    CHECK_EQ(ep_natlog_release(log, &e0, 6, 1024, 60), EP_ENOENT);
    CHECK_EQ(ep_natlog_pending(log, NULL), 2);

    memset(open_at, 0xff, sizeof open_at);
    memset(busy, 0, sizeof busy);
    for (int step = 0; step < 4000; step++) {
        unsigned e = (unsigned)(rnd() % 3), b = (unsigned)(rnd() % 20);
        unsigned pi = (unsigned)(rnd() % 2);
        uint8_t proto = pi ? 6 : 17;
        uint16_t lo = (uint16_t)(1024 + b * bsize[e]);
        ep_addr ext = A(exts[e]);
        ptrdiff_t open = open_at[e][pi][b];
        now += (int64_t)(rnd() % 5);
        if (open >= 0) {
            if (now == m.r[open].start)
                continue;
            CHECK_EQ(ep_natlog_release(log, &ext, proto, lo, now), 0);
            m.r[open].end = now;
            busy[e][pi][b] = now;
            open_at[e][pi][b] = -1;
        } else {
            char sub[32];
            ep_natlog_record r = { .ext = ext, .proto = proto, .port_lo = lo,
                                   .port_hi = (uint16_t)(lo + bsize[e] - 1), .start = now,
                                   .end = EP_NATLOG_OPEN_END };
            if (rnd() % 4 == 0)
                r.end = now + 1 + (int64_t)(rnd() % 3);
            if (busy[e][pi][b] > now)
                continue;
            snprintf(sub, sizeof sub, "100.64.%u.%u", (unsigned)(rnd() % 4),
                     (unsigned)(rnd() % 250));
            r.subscriber = A(sub);
            CHECK_EQ(ep_natlog_assign(log, &r), 0);
            if (r.end == EP_NATLOG_OPEN_END)
                open_at[e][pi][b] = (ptrdiff_t)m.n;
            else
                busy[e][pi][b] = r.end;
            m.r[m.n++] = r;
        }
    }
    CHECK_EQ(ep_natlog_commit(log), 0);
    CHECK_EQ(ep_natlog_pending(log, NULL), 0);
    for (int q = 0; q < 3000; q++) {
        unsigned e = (unsigned)(rnd() % 3);
        uint8_t proto = rnd() % 2 ? 6 : 17;
        uint16_t port = (uint16_t)(1000 + rnd() % (20 * bsize[e] + 60));
        int64_t t = 1000000 + (int64_t)(rnd() % (uint64_t)(now - 1000000 + 10));
        ep_addr ext = A(exts[e]);
        ep_natlog_record a, b;
        int ra = ep_natlog_whois(log, &ext, proto, port, t, &a);
        int rb = model_whois(&m, &ext, proto, port, t, &b);
        CHECK_EQ(ra, rb);
        if (ra == 0) {
            CHECK(ep_addr_equal(&a.subscriber, &b.subscriber));
            CHECK_EQ(a.port_lo, b.port_lo);
            CHECK_EQ(a.port_hi, b.port_hi);
            CHECK_EQ(a.start, b.start);
            CHECK_EQ(a.end, b.end);
        }
    }
    {
        ep_natlog_record out;
        CHECK_EQ(ep_natlog_whois(log, &e0, 6, 2047, 49, &out), 0);
        CHECK_EQ(out.end, 50);
        CHECK_EQ(ep_natlog_whois(log, &e0, 6, 2047, 50, &out), EP_ENOENT);
    }
    /* prune keeps open records */
    {
        uint64_t removed = 0, n = 0;
        size_t open = 0;
        for (size_t i = 0; i < m.n; i++)
            open += m.r[i].end == EP_NATLOG_OPEN_END;
        CHECK_EQ(ep_natlog_prune(log, INT64_MAX - 1, &removed), 0);
        CHECK_EQ(removed, m.n - open + 1);
        CHECK_EQ(ep_natlog_verify(log, NULL, NULL, &n), 0);
        CHECK_EQ(n, open);
    }
    free(m.r);
    CHECK_EQ(ep_natlog_close(log), 0);
    return 0;
}

static void whois_matches_model(void **state)
{
    (void)state;
    both(whois_body, false);
}

/* ---- damage ------------------------------------------------------------- */

/* Change record `id`'s subscriber behind ephport's back. */
static void tamper(const struct ctx *c, int64_t id)
{
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE blocks SET subscriber = X'64400063' WHERE id = %lld",
             (long long)id);
    if (c->pg) {
        char pgsql[160];
        snprintf(pgsql, sizeof pgsql, "UPDATE blocks SET subscriber = '\\x64400063' WHERE id = %lld",
                 (long long)id);
        CHECK_EQ(ep_test_pg_sql(c->pg, pgsql), 0);
    } else {
        sqlite3 *db;
        CHECK_EQ(sqlite3_open(c->log, &db), SQLITE_OK);
        CHECK_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        CHECK_EQ(sqlite3_changes(db), 1);
        sqlite3_close(db);
    }
}

struct bad_seen {
    int n;
    int64_t id;
};

static int note_bad(int64_t id, const char *why, void *arg)
{
    struct bad_seen *b = arg;
    b->n++;
    b->id = id;
    return strcmp(why, "checksum mismatch") == 0 ? 0 : 1;
}

static int damage_body(const struct ctx *c)
{
    ep_natlog *log = open_log(c, NULL);
    ep_natlog_options ro = { .read_only = true };
    ep_addr ext = A("203.0.113.9");
    ep_natlog_record out;
    ep_parse_error err;
    struct bad_seen b = { 0 };
    uint64_t n = 0;
    for (int i = 0; i < 10; i++) {
        ep_natlog_record r = { .subscriber = A("100.64.0.1"), .ext = ext, .proto = 17,
                               .port_lo = (uint16_t)(2000 + i * 100),
                               .port_hi = (uint16_t)(2099 + i * 100), .start = 100,
                               .end = i % 2 ? 200 : EP_NATLOG_OPEN_END };
        CHECK_EQ(ep_natlog_assign(log, &r), 0);
    }
    CHECK_EQ(ep_natlog_close(log), 0);
    tamper(c, 4);   /* the 4th record: ports 2300-2399, closed */

    log = open_log(c, &ro);
    CHECK_EQ(ep_natlog_whois(log, &ext, 17, 2250, 150, &out), 0);
    CHECK_EQ(ep_natlog_whois(log, &ext, 17, 2350, 150, &out), EP_EBADMSG);
    CHECK(strstr(ep_natlog_errmsg(log), "record 4") != NULL);
    CHECK(strstr(ep_natlog_errmsg(log), "checksum") != NULL);
    CHECK_EQ(ep_natlog_verify(log, note_bad, &b, &n), EP_EBADMSG);
    CHECK_EQ(b.n, 1);
    CHECK_EQ(b.id, 4);
    CHECK_EQ(n, 10);
    CHECK_EQ(ep_natlog_check(log, &err), EP_EBADMSG);
    CHECK(strstr(err.message, "record 4") != NULL);
    {
        FILE *devnull = fopen("/dev/null", "w");
        CHECK(devnull != NULL);
        CHECK_EQ(ep_natlog_export_csv(log, devnull), EP_EBADMSG);
        fclose(devnull);
    }
    ep_natlog_close(log);
    return 0;
}

static void damaged_record_refused(void **state)
{
    (void)state;
    both(damage_body, false);
}

/* ---- several routers at once -------------------------------------------- */

#define ROUTERS 4
#define ROUTER_EVENTS 1500

static int router(const struct ctx *c, int k)
{
    ep_natlog_options o = { .create = true, .batch = 100 };
    ep_natlog *log = open_log(c, &o);
    char ext_s[32];
    snprintf(ext_s, sizeof ext_s, "203.0.113.%d", 10 + k);
    ep_addr ext = A(ext_s);
    for (int i = 0; i < ROUTER_EVENTS; i++) {
        /* 30 blocks, each assigned and released in turn */
        int b = i % 30, round = i / 30;
        ep_natlog_record r = { .ext = ext, .proto = 6, .port_lo = (uint16_t)(1024 + b * 2000),
                               .port_hi = (uint16_t)(1024 + b * 2000 + 1999),
                               .start = 1000 + round * 10, .end = 1000 + round * 10 + 5 };
        uint32_t sub = htonl(0x64400000u + (uint32_t)(k * 100000 + i));
        ep_addr_from_bytes(AF_INET, &sub, &r.subscriber);
        if (ep_natlog_assign(log, &r) != 0) {
            fprintf(stderr, "router %d event %d: %s\n", k, i, ep_natlog_errmsg(log));
            return 1;
        }
    }
    return ep_natlog_close(log) == 0 ? 0 : 2;
}

static int routers_body(const struct ctx *c)
{
    pid_t pids[ROUTERS];
    ep_natlog *log = open_log(c, NULL);   /* create it before the race */
    uint64_t n = 0;
    ep_natlog_close(log);
    for (int k = 0; k < ROUTERS; k++) {
        pids[k] = fork();
        CHECK(pids[k] >= 0);
        if (pids[k] == 0)
            _exit(router(c, k));
    }
    for (int k = 0; k < ROUTERS; k++) {
        int st;
        CHECK_EQ(waitpid(pids[k], &st, 0), pids[k]);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    log = open_log(c, NULL);
    CHECK_EQ(ep_natlog_verify(log, NULL, NULL, &n), 0);
    CHECK_EQ(n, ROUTERS * ROUTER_EVENTS);
    for (int k = 0; k < ROUTERS; k++) {
        char ext_s[32];
        ep_natlog_record out;
        snprintf(ext_s, sizeof ext_s, "203.0.113.%d", 10 + k);
        ep_addr ext = A(ext_s);
        for (int i = 0; i < ROUTER_EVENTS; i += 7) {
            int b = i % 30, round = i / 30;
            uint32_t sub = htonl(0x64400000u + (uint32_t)(k * 100000 + i));
            ep_addr want;
            ep_addr_from_bytes(AF_INET, &sub, &want);
            CHECK_EQ(ep_natlog_whois(log, &ext, 6, (uint16_t)(1024 + b * 2000 + 7),
                                     1000 + round * 10 + 2, &out), 0);
            CHECK(ep_addr_equal(&out.subscriber, &want));
        }
    }
    ep_natlog_close(log);
    return 0;
}

static void routers_write_at_once(void **state)
{
    (void)state;
    both(routers_body, false);
}

/* ---- two writers racing for the same blocks ----------------------------- */

#define RACE_BLOCKS 150

static int racer(const struct ctx *c, int k, int fd)
{
    ep_natlog_options o = { .create = true, .batch = 1 };
    ep_natlog *log = open_log(c, &o);
    uint8_t won[RACE_BLOCKS];
    for (int i = 0; i < RACE_BLOCKS; i++) {
        int b = k ? RACE_BLOCKS - 1 - i : i;   /* opposite orders: they meet */
        ep_natlog_record r = { .ext = A("203.0.113.50"), .proto = 17,
                               .port_lo = (uint16_t)(1024 + b * 100),
                               .port_hi = (uint16_t)(1024 + b * 100 + 99), .start = 5000 + k,
                               .end = EP_NATLOG_OPEN_END };
        r.subscriber = A(k ? "100.64.9.2" : "100.64.9.1");
        int rc = ep_natlog_assign(log, &r);
        if (rc != 0 && rc != EP_EEXIST) {
            fprintf(stderr, "racer %d block %d: %s (%s)\n", k, b, ep_strerror(rc),
                    ep_natlog_errmsg(log));
            return 1;
        }
        won[b] = rc == 0;
    }
    if (write(fd, won, sizeof won) != (ssize_t)sizeof won)
        return 2;
    return ep_natlog_close(log) == 0 ? 0 : 3;
}

static int race_body(const struct ctx *c)
{
    int p[2][2];
    pid_t pid[2];
    uint8_t won[2][RACE_BLOCKS];
    ep_natlog *log = open_log(c, NULL);
    uint64_t n = 0;
    ep_natlog_close(log);
    for (int k = 0; k < 2; k++) {
        CHECK_EQ(pipe(p[k]), 0);
        pid[k] = fork();
        CHECK(pid[k] >= 0);
        if (pid[k] == 0)
            _exit(racer(c, k, p[k][1]));
        close(p[k][1]);
    }
    for (int k = 0; k < 2; k++) {
        int st;
        CHECK_EQ(read(p[k][0], won[k], sizeof won[k]), sizeof won[k]);
        CHECK_EQ(waitpid(pid[k], &st, 0), pid[k]);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    log = open_log(c, NULL);
    for (int b = 0; b < RACE_BLOCKS; b++) {
        ep_natlog_record out;
        ep_addr ext = A("203.0.113.50");
        CHECK_EQ(won[0][b] + won[1][b], 1);   /* exactly one holder */
        CHECK_EQ(ep_natlog_whois(log, &ext, 17, (uint16_t)(1024 + b * 100 + 50), 6000, &out), 0);
        {
            ep_addr want = A(won[0][b] ? "100.64.9.1" : "100.64.9.2");
            CHECK(ep_addr_equal(&out.subscriber, &want));
        }
    }
    CHECK_EQ(ep_natlog_verify(log, NULL, NULL, &n), 0);
    CHECK_EQ(n, RACE_BLOCKS);
    ep_natlog_close(log);
    return 0;
}

static void racing_writers_one_holder(void **state)
{
    (void)state;
    both(race_body, false);
}

/* ---- SIGKILL at random moments ------------------------------------------ */

static void killed_writer(const struct ctx *c, int fd, uint64_t first)
{
    ep_natlog_options o = { .create = true, .batch = 1000000 };
    ep_natlog *log;
    ep_natlog_record r = { .proto = 6, .ext = A("203.0.113.77") };
    uint64_t n = first;
    if (ep_natlog_open(c->log, &o, &log, NULL) != 0)
        _exit(3);
    for (;;) {
        uint32_t sub = htonl(0x64400000u + (uint32_t)n);
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

struct seq_check {
    uint64_t next;
    bool ok;
};

static int seq_one(const ep_natlog_record *r, void *arg)
{
    struct seq_check *s = arg;
    if ((uint64_t)r->start != s->next)
        s->ok = false;
    s->next++;
    return 0;
}

static int sigkill_body(const struct ctx *c)
{
    uint64_t reported = 0;
    ep_natlog *log = open_log(c, NULL);
    ep_natlog_close(log);
    for (int round = 0; round < 5; round++) {
        int p[2], st;
        uint64_t v;
        struct timespec ts = { 0, (long)(20 + rnd() % 150) * 1000000L };
        pid_t pid;
        CHECK_EQ(pipe(p), 0);
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            killed_writer(c, p[1], reported);
        }
        close(p[1]);
        /* wait for a first acknowledged commit, then a random moment */
        CHECK_EQ(read(p[0], &v, sizeof v), sizeof v);
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        reported = v;
        while (read(p[0], &v, sizeof v) == sizeof v)
            reported = v;
        close(p[0]);
        CHECK_EQ(waitpid(pid, &st, 0), pid);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        /* every acknowledged event is there, once, in order; nothing else
         * (the writer's unacknowledged tail was rolled back) */
        {
            ep_natlog_options ro = { .read_only = true };
            struct seq_check s = { 0, true };
            ep_parse_error err;
            log = open_log(c, &ro);
            CHECK_EQ(ep_natlog_check(log, &err), 0);
            CHECK_EQ(ep_natlog_foreach(log, seq_one, &s), 0);
            CHECK(s.ok);
            CHECK(s.next >= reported);
            reported = s.next;   /* the next writer continues after what is stored */
            ep_natlog_close(log);
        }
    }
    CHECK(reported > 0);
    return 0;
}

static void sigkill_loses_nothing_acknowledged(void **state)
{
    (void)state;
    both(sigkill_body, false);
}

/* ---- PostgreSQL only ---------------------------------------------------- */

static ep_natlog_event ev_assign(int i)
{
    ep_natlog_event e = { .release = false };
    uint32_t sub = htonl(0x64400100u + (uint32_t)i);
    ep_addr_from_bytes(AF_INET, &sub, &e.rec.subscriber);
    e.rec.ext = A("203.0.113.99");
    e.rec.proto = 6;
    e.rec.port_lo = (uint16_t)(1024 + i * 10);
    e.rec.port_hi = (uint16_t)(1024 + i * 10 + 9);
    e.rec.start = 100 + i;
    e.rec.end = EP_NATLOG_OPEN_END;
    return e;
}

struct count {
    uint64_t n;
    uint64_t seen[64];
};

static int count_port(const ep_natlog_record *r, void *arg)
{
    struct count *k = arg;
    k->n++;
    if (r->port_lo >= 1024 && (r->port_lo - 1024) / 10 < 64)
        k->seen[(r->port_lo - 1024) / 10]++;
    return 0;
}

/* Events accepted, the server stopped (-m immediate) before the commit:
 * -EIO, pending lists exactly those events; after the restart the next
 * commit stores them, each once. */
static int server_stop_body(const struct ctx *c)
{
    ep_natlog_options o = { .create = true, .batch = 1000 };
    ep_natlog *log = open_log(c, &o);
    const ep_natlog_event *pend;
    struct count k = { 0 };
    ep_addr ext = A("203.0.113.99");
    ep_natlog_record out;
    for (int i = 0; i < 10; i++) {
        ep_natlog_event e = ev_assign(i);
        CHECK_EQ(ep_natlog_assign(log, &e.rec), 0);
    }
    CHECK_EQ(ep_natlog_commit(log), 0);   /* 0..9 acknowledged */
    for (int i = 10; i < 30; i++) {
        ep_natlog_event e = ev_assign(i);
        CHECK_EQ(ep_natlog_assign(log, &e.rec), 0);
    }
    CHECK_EQ(ep_natlog_release(log, &ext, 6, 1024 + 3 * 10, 500), 0);
    CHECK_EQ(ep_test_pg_stop(c->pg, "immediate"), 0);
    CHECK_EQ(ep_natlog_commit(log), EP_EIO);
    CHECK(ep_natlog_errmsg(log)[0] != '\0');
    CHECK_EQ(ep_natlog_pending(log, &pend), 21);
    for (int i = 10; i < 30; i++) {
        ep_natlog_event e = ev_assign(i);
        CHECK(!pend[i - 10].release);
        CHECK(memcmp(&pend[i - 10].rec, &e.rec, sizeof e.rec) == 0);
    }
    CHECK(pend[20].release && pend[20].rec.port_lo == 1054 && pend[20].rec.end == 500);
    /* still down: a write fails and is not accepted, the list stays */
    {
        ep_natlog_event e = ev_assign(40);
        CHECK_EQ(ep_natlog_assign(log, &e.rec), EP_EIO);
        CHECK_EQ(ep_natlog_pending(log, NULL), 21);
        CHECK_EQ(ep_natlog_commit(log), EP_EIO);
    }
    CHECK_EQ(ep_test_pg_restart(c->pg), 0);
    CHECK_EQ(ep_natlog_commit(log), 0);
    CHECK_EQ(ep_natlog_pending(log, NULL), 0);
    CHECK_EQ(ep_natlog_foreach(log, count_port, &k), 0);
    CHECK_EQ(k.n, 30);
    for (int i = 0; i < 30; i++)
        CHECK_EQ(k.seen[i], 1);
    CHECK_EQ(ep_natlog_whois(log, &ext, 6, 1055, 499, &out), 0);
    CHECK_EQ(out.end, 500);
    /* a restart between commits: the handle reconnects by itself */
    CHECK_EQ(ep_test_pg_stop(c->pg, "fast"), 0);
    CHECK_EQ(ep_test_pg_restart(c->pg), 0);
    CHECK_EQ(ep_natlog_whois(log, &ext, 6, 1045, 200, &out), EP_EIO);   /* the old connection */
    CHECK_EQ(ep_natlog_whois(log, &ext, 6, 1045, 200, &out), 0);
    CHECK_EQ(ep_natlog_close(log), 0);
    return 0;
}

static void pg_server_stopped_before_commit(void **state)
{
    (void)state;
    both(server_stop_body, true);
}

/* The exclusion constraint: overlapping histories are refused, through
 * ephport (-EEXIST) and around it (the server's own error). */
static int constraint_body(const struct ctx *c)
{
    ep_natlog *log = open_log(c, NULL);
    ep_natlog_record r = { .subscriber = A("100.64.0.1"), .ext = A("203.0.113.5"), .proto = 6,
                           .port_lo = 1024, .port_hi = 2047, .start = 100, .end = 200 };
    CHECK_EQ(ep_natlog_assign(log, &r), 0);
    r.subscriber = A("100.64.0.2");
    r.start = 150;   /* overlaps in time */
    r.end = 250;
    CHECK_EQ(ep_natlog_assign(log, &r), EP_EEXIST);
    r.port_lo = 2000;   /* overlapping ports, another block start */
    r.port_hi = 2999;
    CHECK_EQ(ep_natlog_assign(log, &r), EP_EEXIST);
    r.start = 200;   /* right after: fine (end is exclusive) */
    CHECK_EQ(ep_natlog_assign(log, &r), 0);
    r.proto = 17;    /* another protocol: fine */
    r.start = 150;
    CHECK_EQ(ep_natlog_assign(log, &r), 0);
    CHECK_EQ(ep_natlog_pending(log, NULL), 3);   /* the refusals cost nothing */
    CHECK_EQ(ep_natlog_close(log), 0);
    /* around ephport: the server itself refuses */
    CHECK(ep_test_pg_sql(c->pg, "INSERT INTO blocks(subscriber, ext, proto, port_lo, port_hi, "
                                "start, \"end\", checksum) VALUES ('\\x64400009', '\\xcb007105', "
                                "6, 1500, 1600, 120, 130, 0)") != 0);
    CHECK_EQ(ep_test_pg_sql(c->pg, "INSERT INTO blocks(subscriber, ext, proto, port_lo, port_hi, "
                                   "start, \"end\", checksum) VALUES ('\\x64400009', '\\xcb007105', "
                                   "6, 1500, 1600, 20, 30, 0)"), 0);
    return 0;
}

static void pg_constraint_one_holder(void **state)
{
    (void)state;
    both(constraint_body, true);
}

/* What is not an ephport log is refused with a clear message. */
static int refuse_body(const struct ctx *c)
{
    ep_natlog_options plain = { 0 }, ro = { .read_only = true };
    ep_natlog *log = NULL;
    ep_parse_error err;
    uint64_t n;
    CHECK_EQ(ep_natlog_open(c->log, &plain, &log, &err), EP_ENOENT);
    CHECK(strstr(err.message, "no ephport NAT log") != NULL);
    CHECK(strstr(err.message, "user=") == NULL);   /* parameters are not echoed */
    CHECK_EQ(ep_natlog_upgrade(c->log, &n, &err), EP_ENOTSUP);
    CHECK_EQ(ep_test_pg_sql(c->pg, "CREATE TABLE blocks(x int)"), 0);
    CHECK_EQ(ep_natlog_open(c->log, &ro, &log, &err), EP_EIO);
    CHECK(strstr(err.message, "not an ephport NAT log") != NULL);
    CHECK_EQ(ep_test_pg_sql(c->pg, "DROP TABLE blocks"), 0);
    log = open_log(c, NULL);
    ep_natlog_close(log);
    CHECK_EQ(ep_natlog_open(c->log, &ro, &log, &err), 0);
    CHECK_EQ(ep_natlog_check(log, &err), 0);
    ep_natlog_close(log);
    CHECK_EQ(ep_test_pg_sql(c->pg, "ALTER TABLE blocks DROP CONSTRAINT blocks_one_holder"), 0);
    CHECK_EQ(ep_natlog_open(c->log, &ro, &log, &err), EP_EIO);
    CHECK(strstr(err.message, "schema") != NULL);
    CHECK_EQ(ep_test_pg_sql(c->pg, "UPDATE ephport_meta SET value = 'ephport-natlog-pg 9'"), 0);
    CHECK_EQ(ep_natlog_open(c->log, &ro, &log, &err), EP_EIO);
    CHECK(strstr(err.message, "format") != NULL);
    return 0;
}

static void pg_open_refuses_what_is_not_a_log(void **state)
{
    (void)state;
    both(refuse_body, true);
}

/* A server that accepts and never answers: libpq alone would wait for ever
 * (its connect_timeout is unset by default); the log's default makes the
 * open fail, with the reason, after EP_PG_CONNECT_TIMEOUT (10 s).  Needs
 * no server and no root: a listening socket nobody accepts on. */
static void pg_silent_server_times_out(void **state)
{
    (void)state;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char uri[128];
    ep_natlog_options o = { .create = false };
    ep_natlog *log = NULL;
    ep_parse_error err;

    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 8), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    snprintf(uri, sizeof uri, "postgresql://127.0.0.1:%u/ephport?sslmode=disable",
             ntohs(a.sin_port));
    memset(&err, 0, sizeof err);
    int rc = ep_natlog_open(uri, &o, &log, &err);
    fprintf(stderr, "silent server: %d, %s\n", rc, err.message);
    assert_int_equal(rc, EP_EIO);
    assert_null(log);
    assert_non_null(strstr(err.message, "cannot connect"));
    assert_non_null(strstr(err.message, "timeout"));
    close(l);
}

/* The command line takes the URI wherever it takes a log file. */
static int cli(const struct ctx *c, const char *args, char *out, size_t len)
{
    char cmd[900];
    const char *bin = getenv("EPHPORT_BIN");
    FILE *f;
    size_t n;
    int st;
    snprintf(cmd, sizeof cmd, "'%s' %s --log '%s' 2>&1", bin ? bin : "ephport", args, c->log);
    f = popen(cmd, "r");
    if (!f)
        return -1;
    n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cli_body(const struct ctx *c)
{
    char out[2048];
    CHECK_EQ(cli(c, "nat log add --subscriber 100.64.0.7 --ext 203.0.113.3 --ports 1024-2047 "
                    "--start 2026-11-24T10:00:00Z", out, sizeof out), 0);
    CHECK_EQ(cli(c, "nat log add --subscriber 100.64.0.8 --ext 203.0.113.3 --ports 1024-2047 "
                    "--start 2026-11-24T10:30:00Z", out, sizeof out), 1);
    CHECK(strstr(out, "already assigned") != NULL);
    CHECK_EQ(cli(c, "nat log release --ext 203.0.113.3 --port 1024 --end 2026-11-24T11:00:00Z",
                 out, sizeof out), 0);
    CHECK_EQ(cli(c, "nat whois 203.0.113.3:1500 --at 2026-11-24T10:15:00Z", out, sizeof out), 0);
    CHECK(strstr(out, "inside 100.64.0.7") != NULL);
    CHECK_EQ(cli(c, "nat log export", out, sizeof out), 0);
    CHECK(strstr(out, "100.64.0.7,203.0.113.3,tcp,1024,2047,2026-11-24T10:00:00Z,"
                      "2026-11-24T11:00:00Z") != NULL);
    CHECK_EQ(cli(c, "nat log check", out, sizeof out), 0);
    CHECK_EQ(cli(c, "nat log upgrade", out, sizeof out), 1);
    CHECK(strstr(out, "PostgreSQL") != NULL);
    CHECK_EQ(cli(c, "nat log prune --before 2026-11-25T00:00:00Z", out, sizeof out), 0);
    CHECK_EQ(cli(c, "nat whois 203.0.113.3:1500 --at 2026-11-24T10:15:00Z", out, sizeof out), 1);
    return 0;
}

static void pg_command_line(void **state)
{
    (void)state;
    both(cli_body, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whois_matches_model),
        cmocka_unit_test(damaged_record_refused),
        cmocka_unit_test(routers_write_at_once),
        cmocka_unit_test(racing_writers_one_holder),
        cmocka_unit_test(sigkill_loses_nothing_acknowledged),
        cmocka_unit_test(pg_server_stopped_before_commit),
        cmocka_unit_test(pg_constraint_one_holder),
        cmocka_unit_test(pg_open_refuses_what_is_not_a_log),
        cmocka_unit_test(pg_command_line),
        cmocka_unit_test(pg_silent_server_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
