/* test-natlog-faults.c - the log's durability contract under injected
 * faults: a file size limit (RLIMIT_FSIZE), a full disk (ENOSPC on a small
 * tmpfs in a private mount namespace) and SIGKILL at random moments.
 *
 * Every case drives the same event stream (assign an open block, release
 * it, log a closed block, ...) and keeps a model of what the log must hold:
 * after a failure the events ep_natlog_pending() names are exactly those not
 * stored, no event whose call failed is ever stored, and once room is made a
 * commit stores every accepted event; after SIGKILL the file opens, checks
 * clean and holds every acknowledged event (a prefix of the stream).
 * The faults run in forked children (limits and mounts stay there); a child
 * reports through its exit status and stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/natlog.h>

#include "tmpdir-util.h"

/* Event i of the stream: i%3 == 0 opens block b, 1 releases it, 2 logs a
 * closed block elsewhere. */
static ep_natlog_event event(uint64_t i)
{
    ep_natlog_event ev;
    uint32_t sub = htonl(0x64400000u + (uint32_t)(i % 1000000));
    uint64_t b = (i / 3) % 60;
    memset(&ev, 0, sizeof ev);
    ep_addr_from_bytes(AF_INET, &sub, &ev.rec.subscriber);
    ep_addr_parse("203.0.113.1", &ev.rec.ext);
    ev.rec.proto = 6;
    ev.rec.port_lo = (uint16_t)(1024 + b * 1000);
    ev.rec.port_hi = (uint16_t)(ev.rec.port_lo + 499);
    ev.rec.start = (int64_t)i;
    ev.rec.end = EP_NATLOG_OPEN_END;
    if (i % 3 == 1) {
        ev.release = true;
        ev.rec.end = (int64_t)i;
    } else if (i % 3 == 2) {
        ev.rec.port_lo = (uint16_t)(ev.rec.port_lo + 500);
        ev.rec.port_hi = (uint16_t)(ev.rec.port_lo + 499);
        ev.rec.end = (int64_t)i + 1;
    }
    return ev;
}

static int write_event(ep_natlog *log, const ep_natlog_event *ev)
{
    if (ev->release)
        return ep_natlog_release(log, &ev->rec.ext, ev->rec.proto, ev->rec.port_lo, ev->rec.end);
    return ep_natlog_assign(log, &ev->rec);
}

/* What the log must hold after the accepted events, in order. */
struct model {
    ep_natlog_record *r;
    size_t n, cap;
};

static void model_apply(struct model *m, const ep_natlog_event *ev)
{
    if (ev->release) {
        for (size_t k = m->n; k-- > 0;)
            if (m->r[k].end == EP_NATLOG_OPEN_END && m->r[k].port_lo == ev->rec.port_lo &&
                m->r[k].proto == ev->rec.proto && ep_addr_equal(&m->r[k].ext, &ev->rec.ext)) {
                m->r[k].end = ev->rec.end;
                return;
            }
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->r = realloc(m->r, m->cap * sizeof *m->r);
        if (!m->r)
            abort();
    }
    m->r[m->n++] = ev->rec;
}

struct cmp {
    const struct model *m;
    size_t i;
    bool same;
};

static int cmp_one(const ep_natlog_record *r, void *arg)
{
    struct cmp *c = arg;
    if (c->i >= c->m->n || memcmp(r, &c->m->r[c->i], sizeof *r) != 0)
        c->same = false;
    c->i++;
    return 0;
}

/* 0 if the log holds exactly the model, else a reason on stderr. */
static int log_equals(ep_natlog *log, const struct model *m, bool quiet)
{
    struct cmp c = { m, 0, true };
    int rc = ep_natlog_foreach(log, cmp_one, &c);
    if (rc != 0 || !c.same || c.i != m->n) {
        if (!quiet)
            fprintf(stderr, "log differs from the model: foreach %d, %zu records, model %zu, %s\n",
                    rc, c.i, m->n, c.same ? "same prefix" : "different records");
        return -1;
    }
    return 0;
}

#define CHILD_FAIL(...)                                                                  \
    do {                                                                                 \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                             \
        _exit(10);                                                                       \
    } while (0)

/* The shared body: write until a write fails (the fault armed by the
 * caller hits), check the contract, make_room(), commit, check again. */
static void write_through_fault(const char *path, void (*arm)(const char *path),
                                void (*make_room)(void))
{
    ep_natlog_options o = { .create = true, .batch = 50 };
    ep_natlog *log;
    ep_parse_error err;
    struct model acked = { 0 }, accepted = { 0 };
    uint64_t i = 0, failures = 0;
    int rc = 0;

    if (ep_natlog_open(path, &o, &log, &err) != 0)
        CHILD_FAIL("open: %s", err.message);
    for (; i < 300; i++) {
        ep_natlog_event ev = event(i);
        if (write_event(log, &ev) != 0)
            CHILD_FAIL("event %llu before the fault failed", (unsigned long long)i);
        model_apply(&accepted, &ev);
    }
    if (ep_natlog_commit(log) != 0)
        CHILD_FAIL("commit before the fault: %s", ep_natlog_errmsg(log));
    for (size_t k = 0; k < accepted.n; k++)
        model_apply(&acked, &(ep_natlog_event){ .rec = accepted.r[k] });
    arm(path);
    /* Write until a call fails, then a few more (each may fail or be
     * accepted as pending, but none may be stored while reporting failure). */
    for (; i < 200000 && failures < 5; i++) {
        ep_natlog_event ev = event(i);
        const ep_natlog_event *pend;
        size_t np;
        rc = write_event(log, &ev);
        if (rc == 0) {
            model_apply(&accepted, &ev);
            if (ep_natlog_pending(log, NULL) == 0) {
                /* acknowledged by the batch commit */
                free(acked.r);
                acked = accepted;
                acked.r = malloc(accepted.cap * sizeof *acked.r);
                memcpy(acked.r, accepted.r, accepted.n * sizeof *acked.r);
            }
            continue;
        }
        if (rc == EP_ENOENT && ev.release)
            continue;   /* its assignment was the call that failed */
        if (rc != EP_EIO)
            CHILD_FAIL("event %llu: %d (%s), want -EIO", (unsigned long long)i, rc,
                       ep_natlog_errmsg(log));
        failures++;
        /* the pending events are exactly the accepted ones not acknowledged */
        np = ep_natlog_pending(log, &pend);
        if (np != accepted.n - acked.n + 0 && np == 0)
            CHILD_FAIL("nothing pending after a failed write");
        {
            struct model replay = acked;
            replay.r = malloc((acked.n + np + 1) * sizeof *replay.r);
            replay.cap = acked.n + np + 1;
            memcpy(replay.r, acked.r, acked.n * sizeof *replay.r);
            for (size_t k = 0; k < np; k++)
                model_apply(&replay, &pend[k]);
            if (replay.n != accepted.n ||
                memcmp(replay.r, accepted.r, accepted.n * sizeof *replay.r) != 0)
                CHILD_FAIL("acknowledged + pending events are not the accepted events");
            free(replay.r);
        }
        if (!strstr(ep_natlog_errmsg(log), "failed"))
            CHILD_FAIL("no reason given: '%s'", ep_natlog_errmsg(log));
    }
    if (failures == 0)
        CHILD_FAIL("the fault never hit after %llu events", (unsigned long long)i);
    {
        /* A second reader sees exactly the acknowledged events. */
        ep_natlog_options ro = { .read_only = true };
        ep_natlog *r;
        if (ep_natlog_open(path, &ro, &r, &err) != 0)
            CHILD_FAIL("reopen during the fault: %s", err.message);
        if (log_equals(r, &acked, false) != 0)
            CHILD_FAIL("during the fault, the file does not hold exactly the acknowledged events");
        ep_natlog_close(r);
    }
    make_room();
    if ((rc = ep_natlog_commit(log)) != 0)
        CHILD_FAIL("commit after making room: %d %s", rc, ep_natlog_errmsg(log));
    if (ep_natlog_pending(log, NULL) != 0)
        CHILD_FAIL("events still pending after a successful commit");
    ep_natlog_close(log);
    {
        ep_natlog_options ro = { .read_only = true };
        ep_natlog *r;
        if (ep_natlog_open(path, &ro, &r, &err) != 0)
            CHILD_FAIL("reopen: %s", err.message);
        if (ep_natlog_check(r, &err) != 0)
            CHILD_FAIL("check after the fault: %s", err.message);
        if (log_equals(r, &accepted, false) != 0)
            CHILD_FAIL("after the retry, the log is not every accepted event");
        ep_natlog_close(r);
    }
    fprintf(stderr, "fault hit %llu times in %llu events; %zu records stored\n",
            (unsigned long long)failures, (unsigned long long)i, accepted.n);
    _exit(0);
}

static void run_child(void (*body)(void))
{
    int status;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        body();
        _exit(11);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        skip();
        return;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child: status %d (see stderr)", status);
}

/* ---- RLIMIT_FSIZE ------------------------------------------------------- */

static void fsize_arm(const char *path)
{
    struct rlimit rl;
    struct stat sb;
    char wal[300];
    off_t most = 0;
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (stat(path, &sb) == 0)
        most = sb.st_size;
    if (stat(wal, &sb) == 0 && sb.st_size > most)
        most = sb.st_size;
    signal(SIGXFSZ, SIG_IGN);   /* write() then fails with EFBIG */
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = (rlim_t)most + 40000;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        CHILD_FAIL("setrlimit: %s", strerror(errno));
}

static void fsize_room(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        CHILD_FAIL("setrlimit back: %s", strerror(errno));
}

static void fsize_body(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/fsize.db", ep_test_dir);
    write_through_fault(path, fsize_arm, fsize_room);
}

static void file_size_limit(void **state)
{
    (void)state;
    run_child(fsize_body);
}

/* ---- ENOSPC on a small tmpfs -------------------------------------------- */

static char filler[300];

static void enospc_arm(const char *path)
{
    char buf[4096];
    struct stat sb;
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    (void)path;
    memset(buf, 0x5a, sizeof buf);
    if (fd < 0)
        CHILD_FAIL("filler: %s", strerror(errno));
    while (write(fd, buf, sizeof buf) == (ssize_t)sizeof buf)
        ;
    if (errno != ENOSPC)
        CHILD_FAIL("filling the tmpfs stopped with %s", strerror(errno));
    /* leave room for a few commits, so the fault hits mid-stream */
    fstat(fd, &sb);
    if (ftruncate(fd, sb.st_size - 40000 > 0 ? sb.st_size - 40000 : 0) != 0)
        CHILD_FAIL("ftruncate: %s", strerror(errno));
    close(fd);
}

static void enospc_room(void)
{
    unlink(filler);
}

static void enospc_body(void)
{
    char mnt[256], path[300];
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: a tmpfs mount in a private mount namespace needs root\n");
        _exit(77);
    }
    if (unshare(CLONE_NEWNS) != 0)
        CHILD_FAIL("unshare(CLONE_NEWNS): %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        CHILD_FAIL("make / private: %s", strerror(errno));
    snprintf(mnt, sizeof mnt, "%s/small", ep_test_dir);
    if (mkdir(mnt, 0700) != 0 && errno != EEXIST)
        CHILD_FAIL("mkdir: %s", strerror(errno));
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=512k") != 0)
        CHILD_FAIL("mount tmpfs: %s", strerror(errno));
    snprintf(path, sizeof path, "%s/full.db", mnt);
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    write_through_fault(path, enospc_arm, enospc_room);
}

static void disk_full(void **state)
{
    (void)state;
    run_child(enospc_body);
}

/* ---- SIGKILL at random moments ------------------------------------------ */

/* Writes the stream forever (batch 7, a commit every 13 events) and after
 * every call that leaves nothing pending reports the count of events
 * written, all acknowledged. */
static void killed_writer(const char *path, int fd)
{
    ep_natlog_options o = { .create = true, .batch = 7 };
    ep_natlog *log;
    if (ep_natlog_open(path, &o, &log, NULL) != 0)
        _exit(3);
    for (uint64_t i = 0;; i++) {
        ep_natlog_event ev = event(i);
        uint64_t n = i + 1;
        if (write_event(log, &ev) != 0)
            _exit(4);
        if (n % 13 == 0 && ep_natlog_commit(log) != 0)
            _exit(5);
        if (ep_natlog_pending(log, NULL) == 0 && write(fd, &n, sizeof n) != sizeof n)
            _exit(6);
    }
}

static void sigkill_at_random_moments(void **state)
{
    uint64_t seed = (uint64_t)time(NULL);
    (void)state;
    fprintf(stderr, "seed %llu\n", (unsigned long long)seed);
    srand((unsigned)seed);
    for (int round = 0; round < 8; round++) {
        char path[256];
        int p[2], status;
        uint64_t reported = 0, v;
        pid_t pid;
        ep_natlog *log;
        ep_natlog_options o = { .read_only = true };
        ep_parse_error err;
        struct model m = { 0 };
        bool found = false;

        snprintf(path, sizeof path, "%s/killed-%d.db", ep_test_dir, round);
        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            killed_writer(path, p[1]);
        }
        close(p[1]);
        /* the first report: the file exists; then a random moment */
        assert_int_equal(read(p[0], &v, sizeof v), (ssize_t)sizeof v);
        usleep((useconds_t)(rand() % 200000));
        kill(pid, SIGKILL);
        while (read(p[0], &v, sizeof v) == sizeof v)
            reported = v;
        close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        if (ep_natlog_open(path, &o, &log, &err) != 0)
            fail_msg("round %d: reopen after SIGKILL: %s", round, err.message);
        if (ep_natlog_check(log, &err) != 0)
            fail_msg("round %d: check after SIGKILL: %s", round, err.message);
        /* the log is the stream's first k events for some k >= reported */
        for (uint64_t k = 0; k < reported + 64 && !found; k++) {
            ep_natlog_event ev = event(k);
            model_apply(&m, &ev);
            if (k + 1 >= reported && log_equals(log, &m, true) == 0)
                found = true;
        }
        ep_natlog_close(log);
        free(m.r);
        if (!found)
            fail_msg("round %d: the log is not the first k >= %llu events of the stream", round,
                     (unsigned long long)reported);
        fprintf(stderr, "round %d: %llu events acknowledged before the kill\n", round,
                (unsigned long long)reported);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_size_limit),
        cmocka_unit_test(disk_full),
        cmocka_unit_test(sigkill_at_random_moments),
    };
    return cmocka_run_group_tests(tests, ep_test_dir_make, ep_test_dir_remove);
}
