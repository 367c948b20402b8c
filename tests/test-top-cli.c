/* test-top-cli.c - `ephport top` in batch mode against a private network
 * namespace with known sockets: the counts per destination are exact, every
 * connection made between two frames is counted once, plain frames carry
 * the same rows, the terminal view restores the terminal, bad command lines
 * exit 2; and (last, about 80 s) NEW/s follows a steady rate of real
 * connections frame by frame while the kernel expires their TIME_WAIT
 * entries in batches. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <ephport/capacity.h>

#include "netns-util.h"
#include "tty-util.h"

/* ---- running the binary ---- */

struct child {
    pid_t pid;
    FILE *out;
};

static void start_ephport(struct child *c, const char *const *args, bool quiet_stderr)
{
    const char *bin = getenv("EPHPORT_BIN");
    const char *argv[32];
    size_t n = 0;
    int p[2];

    assert_non_null(bin);
    argv[n++] = bin;
    while (*args && n < 31)
        argv[n++] = *args++;
    argv[n] = NULL;
    assert_int_equal(pipe(p), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        if (quiet_stderr)
            (void)!freopen("/dev/null", "w", stderr);
        setenv("NO_COLOR", "1", 1);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    c->out = fdopen(p[0], "r");
    assert_non_null(c->out);
}

static int finish(struct child *c)
{
    int st;
    fclose(c->out);
    assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run to completion; returns the exit code and all of stdout in buf. */
static int run_all(const char *const *args, char *buf, size_t len)
{
    struct child c;
    size_t got;
    start_ephport(&c, args, true);
    got = fread(buf, 1, len - 1, c.out);
    buf[got] = '\0';
    return finish(&c);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- sockets ---- */

static int fds[64];
static size_t nfds;

static void keep(int fd)
{
    assert_true(fd >= 0);
    assert_true(nfds < sizeof fds / sizeof fds[0]);
    fds[nfds++] = fd;
}

static socklen_t make_addr(int family, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sizeof *a;
    }
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    a6->sin6_addr = in6addr_loopback;
    return sizeof *a6;
}

static int listen_on(int family, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(family, port, &ss);
    int one = 1, fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(listen(fd, 512), 0);
    return fd;
}

/* One connection to the listener; closed by the client first (TIME_WAIT on
 * the client's ephemeral port) or kept open. */
static void connect_one(int lfd, int family, uint16_t port, bool time_wait)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(family, port, &ss);
    int c = socket(family, SOCK_STREAM, 0), s;
    assert_true(c >= 0);
    assert_int_equal(connect(c, (struct sockaddr *)&ss, len), 0);
    s = accept(lfd, NULL, NULL);
    assert_true(s >= 0);
    if (time_wait) {
        close(c);
        close(s);
    } else {
        keep(c);
        keep(s);
    }
}

/* ---- JSON helpers ---- */

static json_t *find_dest(json_t *frame, const char *proto, const char *remote, int port)
{
    json_t *d;
    size_t i;
    json_array_foreach(json_object_get(frame, "destinations"), i, d) {
        if (strcmp(json_string_value(json_object_get(d, "proto")), proto) == 0 &&
            strcmp(json_string_value(json_object_get(d, "remote")), remote) == 0 &&
            json_integer_value(json_object_get(d, "remote_port")) == port)
            return d;
    }
    fail_msg("no %s destination %s:%d in the frame", proto, remote, port);
    return NULL;
}

static long long ival(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", k);
    return json_integer_value(v);
}

static double rval(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_number(v))
        fail_msg("%s is not a number", k);
    return json_number_value(v);
}

static json_t *parse_line(const char *line)
{
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    if (!j)
        fail_msg("bad JSON frame (%s): %s", e.text, line);
    return j;
}

/* ---- the namespace ---- */

static int setup(void **state)
{
    static bool skip_all;
    char why[256];
    int l4, l6, u;
    struct sockaddr_storage ss;
    socklen_t len;

    *state = &skip_all;
    if (!ep_test_enter_private_netns(why, sizeof why)) {
        fprintf(stderr, "SKIP: cannot make a private network namespace: %s\n", why);
        skip_all = true;
        return 0;
    }
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "40000 40999"), 0);
    /* The fixture's TIME_WAIT entries are loopback and tcp_tw_reuse is 2:
     * after tcp_tw_reuse_delay a connect() may take them over and FREE counts
     * them as free (the kernel's truth).  The longest delay keeps the exact
     * figures below independent of how long the tests take. */
    assert_int_equal(ep_test_write_sysctl("net/ipv4/tcp_tw_reuse_delay", "60000"), 0);
    l4 = listen_on(AF_INET, 8080);
    l6 = listen_on(AF_INET6, 8081);
    keep(l4);
    keep(l6);
    for (int i = 0; i < 5; i++)
        connect_one(l4, AF_INET, 8080, true);
    for (int i = 0; i < 3; i++)
        connect_one(l4, AF_INET, 8080, false);
    for (int i = 0; i < 2; i++)
        connect_one(l6, AF_INET6, 8081, false);
    u = socket(AF_INET, SOCK_DGRAM, 0);
    len = make_addr(AF_INET, 9999, &ss);
    assert_int_equal(connect(u, (struct sockaddr *)&ss, len), 0);
    keep(u);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    return 0;
}

/* ---- tests ---- */

static void once_json_counts_are_exact(void **state)
{
    static char out[65536];
    json_t *f, *d;
    if (*(bool *)*state)
        skip();
    assert_int_equal(run_all(ARGS("top", "--once", "--json", "--interval", "0.25"), out,
                             sizeof out), 0);
    assert_non_null(strchr(out, '\n'));
    assert_null(strchr(strchr(out, '\n') + 1, '\n')); /* exactly one frame */
    f = parse_line(out);
    assert_int_equal(ival(f, "effective_ports"), 1000);
    assert_int_equal(ival(f, "time_wait_seconds"), 60);
    assert_int_equal(ival(f, "destinations_total"), 3);
    assert_true(json_is_null(json_object_get(f, "netns")));

    d = find_dest(f, "tcp", "127.0.0.1", 8080);
    assert_string_equal(json_string_value(json_object_get(d, "local")), "127.0.0.1");
    assert_int_equal(ival(d, "used"), 8);
    assert_int_equal(ival(d, "established"), 3);
    assert_int_equal(ival(d, "time_wait"), 5);
    assert_int_equal(ival(d, "free"), 992);
    /* Nothing changed, and the entries' ages came from their kernel timers
     * (none expires for a minute): no new connection. */
    assert_true(json_is_true(json_object_get(f, "time_wait_ages_from_timers")));
    assert_true(rval(d, "new_per_second") == 0.0);
    /* Loopback with tcp_tw_reuse = 2: reuse applies, far from exhaustion. */
    assert_true(json_is_true(json_object_get(d, "tw_reuse_applies")));
    assert_true(json_is_null(json_object_get(d, "seconds_to_exhaustion")));
    assert_string_equal(json_string_value(json_object_get(d, "exhausted_in")), "never");

    d = find_dest(f, "tcp", "::1", 8081);
    assert_int_equal(ival(d, "used"), 2);
    assert_int_equal(ival(d, "established"), 2);
    assert_int_equal(ival(d, "time_wait"), 0);
    assert_true(rval(d, "new_per_second") == 0.0);

    d = find_dest(f, "udp", "127.0.0.1", 9999);
    assert_int_equal(ival(d, "used"), 1);
    assert_int_equal(ival(d, "free"), 999);
    assert_true(json_is_false(json_object_get(d, "tw_reuse_applies")));
    json_decref(f);
}

/* Every connection made between two frames is counted once, in the second,
 * and the entries already there (5 in TIME_WAIT, seconds old) are not. */
static void rate_counts_each_connection_once(void **state)
{
    struct child c;
    char line[65536];
    json_t *f1, *f2, *d;
    double dt;
    long long u1, u2;
    int lfd;
    if (*(bool *)*state)
        skip();
    assert_int_equal(ep_test_write_sysctl("net/ipv4/tcp_tw_reuse", "0"), 0);
    lfd = fds[0]; /* the IPv4 listener on 8080 */
    start_ephport(&c, ARGS("top", "--batch", "--iterations", "2", "--json", "--interval", "1"),
                  false);
    assert_non_null(fgets(line, sizeof line, c.out));
    f1 = parse_line(line);
    /* The frame is printed after its dump: all 40 land before the next. */
    for (int i = 0; i < 40; i++)
        connect_one(lfd, AF_INET, 8080, true);
    assert_non_null(fgets(line, sizeof line, c.out));
    f2 = parse_line(line);
    assert_int_equal(finish(&c), 0);

    u1 = ival(find_dest(f1, "tcp", "127.0.0.1", 8080), "used");
    u2 = ival(find_dest(f2, "tcp", "127.0.0.1", 8080), "used");
    assert_int_equal(ival(find_dest(f1, "tcp", "127.0.0.1", 8080), "time_wait"), 5);
    assert_int_equal(u2 - u1, 40);
    dt = rval(f2, "elapsed_seconds") - rval(f1, "elapsed_seconds");
    assert_true(dt > 0);
    assert_true(json_is_true(json_object_get(f1, "time_wait_ages_from_timers")));
    assert_true(json_is_true(json_object_get(f2, "time_wait_ages_from_timers")));
    /* 40 new over the time between the two dumps, which differs from the
     * time between the snapshots printed by milliseconds: 40, not 39 or 41. */
    d = find_dest(f2, "tcp", "127.0.0.1", 8080);
    assert_true(fabs(rval(d, "new_per_second") * dt - 40.0) < 0.5);
    assert_true(json_is_false(json_object_get(d, "tw_reuse_applies")));
    /* Nothing new towards the other destinations. */
    assert_true(rval(find_dest(f2, "tcp", "::1", 8081), "new_per_second") == 0.0);
    /* Namespace counters: exactly 40 connect() calls, no TIME_WAIT port
     * reused (tcp_tw_reuse is 0). */
    assert_true(json_is_number(
        json_object_get(json_object_get(f1, "namespace"), "connects_per_second")));
    {
        json_t *ns = json_object_get(f2, "namespace");
        assert_true(fabs(rval(ns, "connects_per_second") * dt - 40.0) < 1e-6);
        assert_true(rval(ns, "time_wait_reused_per_second") == 0.0);
    }
    json_decref(f1);
    json_decref(f2);
    assert_int_equal(ep_test_write_sysctl("net/ipv4/tcp_tw_reuse", "2"), 0);
}

static void plain_frame_has_the_rows(void **state)
{
    static char out[65536];
    if (*(bool *)*state)
        skip();
    assert_int_equal(run_all(ARGS("top", "--once", "--interval", "0.25", "--sort", "time-wait"),
                             out, sizeof out), 0);
    assert_non_null(strstr(out, "ephport top"));
    assert_non_null(strstr(out, "range 40000-40999"));
    assert_non_null(strstr(out, "effective 1000 ports"));
    /* 1000 ports / 65.12 s (TIME_WAIT as the kernel keeps it, capacity.h) */
    assert_non_null(strstr(out, "sustainable 15/s per destination"));
    assert_non_null(strstr(out, "sort: time-wait"));
    assert_non_null(strstr(out, "PROTO"));
    assert_non_null(strstr(out, "EXHAUSTED IN"));
    assert_non_null(strstr(out, "127.0.0.1:8080"));
    assert_non_null(strstr(out, "[::1]:8081"));
    assert_non_null(strstr(out, "127.0.0.1:9999"));
    /* time-wait order: 8080 (with TIME_WAIT entries) comes first. */
    assert_true(strstr(out, "127.0.0.1:8080") < strstr(out, "[::1]:8081"));
    /* --top limits the rows and says how many were left out. */
    assert_int_equal(run_all(ARGS("top", "--once", "--interval", "0.25", "--top", "1"), out,
                             sizeof out), 0);
    assert_non_null(strstr(out, "(2 more destinations"));
}

/* The header's sustainable rate and the advice's "at most" come from the one
 * function of capacity.h and are printed the same way, truncated: 1100
 * ports / 65.12 s = 16.9/s is "16" in both (the advice said 17). */
static void header_and_advice_agree_on_the_rate(void **state)
{
    static char out[65536];
    char want_header[96], want_advice[160];
    double tw = (double)ep_linux_time_wait_upper(EP_SEC(60)) / 1e9;
    double rate = ep_capacity_sustainable_rate(1100, ep_capacity_block_time(0, tw, false, 0));
    int rc;
    if (*(bool *)*state)
        skip();
    assert_true(rate > 16 && rate < 17); /* the case where rounding and truncating differ */
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "40000 41099"), 0);
    rc = run_all(ARGS("top", "--once", "--interval", "0.25"), out, sizeof out);
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "40000 40999"), 0);
    assert_int_equal(rc, 0);
    snprintf(want_header, sizeof want_header, "sustainable %.0f/s per destination", floor(rate));
    snprintf(want_advice, sizeof want_advice, "only 1100 ephemeral ports are usable: at most "
             "%.0f new TCP connections/s", floor(rate));
    if (!strstr(out, want_header) || !strstr(out, want_advice))
        fail_msg("wanted '%s' and '%s' in:\n%s", want_header, want_advice, out);
}

static void bad_command_lines(void **state)
{
    const char *const *bad[] = {
        ARGS("top", "--interval", "0.1"), ARGS("top", "--interval", "61"),
        ARGS("top", "--interval", "abc"), ARGS("top", "--interval", "nan"),
        ARGS("top", "--interval", ""),    ARGS("top", "--top", "1000001"),
        ARGS("top", "--top", "-3"),       ARGS("top", "--sort", "bogus"),
        ARGS("top", "--once", "--iterations", "3"),
        ARGS("top", "--iterations", "0"), ARGS("top", "extra"), ARGS("top", "--bogus"),
    };
    static char out[4096];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(run_all(bad[i], out, sizeof out), 2);
        assert_string_equal(out, "");
    }
    assert_int_equal(run_all(ARGS("top", "--once", "--netns", "/nonexistent/netns"), out,
                             sizeof out), 1);
    assert_int_equal(run_all(ARGS("top", "--help"), out, sizeof out), 0);
    assert_non_null(strstr(out, "Usage: ephport top"));
}

/* ---- the terminal view, driven through a pseudo-terminal ---- */

static void terminal_view_keys_and_restore(void **state)
{
    static struct ep_tty t;
    struct termios after;
    size_t mark;
    if (*(bool *)*state)
        skip();
    ep_tty_start(&t, (const char *const[]){ "top", "--interval", "0.25", NULL }, 24, 120);
    assert_true(ep_tty_wait_for(&t, 0, "q quit"));
    assert_true(ep_tty_wait_for(&t, 0, "127.0.0.1:8080"));
    /* s, + and - are taken and the view keeps refreshing (their effect on
     * the screen is not asserted here: ncurses sends only changed cells,
     * sometimes as delete-character sequences, so the byte stream holds no
     * stable text for them; the report describes the tmux check). */
    for (const char *k = "s+-s"; *k; k++) {
        mark = t.len;
        assert_int_equal(write(t.master, k, 1), 1);
        assert_true(ep_tty_wait_for(&t, mark, "\033["));
        assert_int_equal(waitpid(t.pid, NULL, WNOHANG), 0); /* still running */
    }
    assert_int_equal(write(t.master, "q", 1), 1);
    assert_int_equal(ep_tty_finish(&t, &after), 0);
    /* xterm's rmcup: the alternate screen was left. */
    t.buf[t.len] = '\0';
    assert_non_null(strstr(t.buf, "\033[?1049l"));
    assert_true(after.c_lflag & ECHO);
    assert_true(after.c_lflag & ICANON);
}

static void terminal_view_restores_on_sigterm(void **state)
{
    static struct ep_tty t;
    struct termios after;
    size_t mark;
    if (*(bool *)*state)
        skip();
    ep_tty_start(&t, (const char *const[]){ "top", "--interval", "0.25", NULL }, 24, 120);
    assert_true(ep_tty_wait_for(&t, 0, "q quit"));
    mark = t.len;
    assert_int_equal(kill(t.pid, SIGTERM), 0);
    assert_int_equal(ep_tty_finish(&t, &after), 0);
    t.buf[t.len] = '\0';
    assert_non_null(strstr(t.buf + mark, "\033[?1049l"));
    assert_true(after.c_lflag & ECHO);
    assert_true(after.c_lflag & ICANON);
}

/* ---- a steady rate across batched TIME_WAIT expiry ----
 * Linux expires TIME_WAIT entries by a timer wheel: on this kernel (HZ=250)
 * they leave 60.04-62.06 s after the close, in batches about 2.05 s apart
 * (src/cli/top-rate.h).  Here connections to 127.0.0.1:8090 are driven at
 * STEADY_RATE per second, closed client-first, from 2 s before `ephport top
 * --batch --json` starts until its STEADY_FRAMES one-second frames are done,
 * so the last ~18 frames see entries leave in batches.  Every frame's NEW/s
 * must be within 10 % of the connections actually made in it, the time to
 * exhaustion must stay "never" (40/s x 60 s is far below 5000 ports), and
 * the batches must have been there to see.  About 80 s: it runs last, and
 * its suite timeout allows for it. */
#define STEADY_RATE 40.0
#define STEADY_FRAMES 78
#define STEADY_MAX_CONN 4000

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double made_at[STEADY_MAX_CONN];
static size_t nmade;

static uint32_t made_in(double t0, double t1)
{
    uint32_t n = 0;
    for (size_t i = 0; i < nmade; i++)
        n += made_at[i] > t0 && made_at[i] <= t1;
    return n;
}

static void steady_rate_across_batched_expiry(void **state)
{
    static char buf[1 << 20];
    struct child c;
    size_t len = 0;
    int lfd, frames = 0, out_fd;
    double next, start, prev_e = 0.0, drive0;
    long long prev_tw = -1;
    int most_left = -1, least_left = 1 << 30;
    bool done = false;
    if (*(bool *)*state)
        skip();
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "40000 44999"), 0);
    assert_int_equal(ep_test_write_sysctl("net/ipv4/tcp_tw_reuse", "0"), 0);
    lfd = listen_on(AF_INET, 8090);
    nmade = 0;
    drive0 = next = mono();
    /* Steady traffic first, so that every frame has it. */
    while (mono() < drive0 + 2.0) {
        for (double now = mono(); now >= next; next += 1.0 / STEADY_RATE) {
            connect_one(lfd, AF_INET, 8090, true);
            made_at[nmade++] = mono();
        }
        usleep(2000);
    }
    start = mono();
    start_ephport(&c, ARGS("top", "--batch", "--json", "--interval", "1", "--iterations", "78"),
                  false);
    out_fd = fileno(c.out);
    while (!done) {
        struct pollfd p = { .fd = out_fd, .events = POLLIN };
        double now = mono();
        int wait_ms;
        char *nl;

        for (; now >= next; next += 1.0 / STEADY_RATE) {
            assert_true(nmade < STEADY_MAX_CONN);
            connect_one(lfd, AF_INET, 8090, true);
            made_at[nmade++] = mono();
        }
        wait_ms = (int)((next - mono()) * 1000.0);
        if (poll(&p, 1, wait_ms > 0 ? wait_ms : 0) <= 0)
            continue;
        {
            ssize_t n = read(out_fd, buf + len, sizeof buf - 1 - len);
            assert_true(n >= 0);
            if (n == 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
        }
        while ((nl = strchr(buf, '\n')) != NULL) {
            json_t *f, *d;
            double e, rate, dt;
            long long tw;
            uint32_t truth;

            *nl = '\0';
            f = parse_line(buf);
            memmove(buf, nl + 1, len - (size_t)(nl + 1 - buf) + 1);
            len -= (size_t)(nl + 1 - buf);
            e = rval(f, "elapsed_seconds");
            d = find_dest(f, "tcp", "127.0.0.1", 8090);
            rate = rval(d, "new_per_second");
            tw = ival(d, "time_wait");
            /* The frame's dump ran a few ms before its snapshot (e) and top
             * started a few ms after `start`: allow one connection either
             * side of the window besides the 10 %. */
            dt = e - prev_e;
            truth = made_in(start + prev_e, start + e);
            if (fabs(rate * dt - truth) > 0.1 * truth + 2.0)
                fail_msg("frame %d at %.2f s of traffic: NEW/s %.2f x %.3f s = %.1f, but %u "
                         "connections were made", frames + 1, start + e - drive0, rate, dt,
                         rate * dt, truth);
            assert_true(json_is_true(json_object_get(f, "time_wait_ages_from_timers")));
            if (strcmp(json_string_value(json_object_get(d, "exhausted_in")), "never") != 0)
                fail_msg("frame %d: exhausted in %s at a steady %.0f/s", frames + 1,
                         json_string_value(json_object_get(d, "exhausted_in")), STEADY_RATE);
            /* Entries that left in this frame: made - growth of TIME_WAIT. */
            if (prev_tw >= 0 && start + prev_e - drive0 > 63.0) {
                int left = (int)truth - (int)(tw - prev_tw);
                most_left = left > most_left ? left : most_left;
                least_left = left < least_left ? left : least_left;
            }
            prev_tw = tw;
            prev_e = e;
            frames++;
            json_decref(f);
            if (frames == STEADY_FRAMES)
                done = true;
        }
    }
    assert_int_equal(finish(&c), 0);
    assert_int_equal(frames, STEADY_FRAMES);
    /* Batches were seen: some one-second frames lost about two seconds of
     * entries at once, some none or nearly none. */
    print_message("TIME_WAIT entries leaving per frame after 63 s: %d to %d\n", least_left,
                  most_left);
    assert_true(most_left >= (int)(1.6 * STEADY_RATE));
    assert_true(least_left <= (int)(0.4 * STEADY_RATE));
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_command_lines),
        cmocka_unit_test(once_json_counts_are_exact),
        cmocka_unit_test(rate_counts_each_connection_once),
        cmocka_unit_test(plain_frame_has_the_rows),
        cmocka_unit_test(header_and_advice_agree_on_the_rate),
        cmocka_unit_test(terminal_view_keys_and_restore),
        cmocka_unit_test(terminal_view_restores_on_sigterm),
        cmocka_unit_test(steady_rate_across_batched_expiry), /* last: about 80 s */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
