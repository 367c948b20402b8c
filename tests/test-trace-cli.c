/* test-trace-cli.c - the `ephport trace` command: bad options exit 2 with
 * a message naming the command; where BPF is unusable (an unprivileged
 * user, or a build without BPF) it says why once and exits 3; as root, in a
 * private namespace, --json prints a failure object with exactly the
 * documented keys in order and an interval object with the counts, and the
 * human output names the errno with its message ("Cannot assign requested
 * address") and shows the destination table.  Suite cli; the root cases
 * skip (saying why) when not root. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ep-host-config.h"
#include "netns-util.h"
#include "tty-util.h"

struct run {
    char *out, *err;
    int status;
};

static char *slurp_fd(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    assert_non_null(buf);
    while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

/* Start $EPHPORT_BIN with args; stdout to a pipe (returned in *outfd),
 * stderr to a pipe (*errfd).  as_nobody: drop root first. */
static pid_t start_ephport(const char *const *args, bool as_nobody, int *outfd, int *errfd)
{
    const char *bin = as_nobody && geteuid() == 0 ? ep_test_nobody_bin() : getenv("EPHPORT_BIN");
    const char *argv[32];
    size_t n = 0;
    int out[2], err[2];
    pid_t pid;

    assert_non_null(bin);
    argv[n++] = bin;
    while (*args && n < 31)
        argv[n++] = *args++;
    argv[n] = NULL;
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        if (as_nobody && geteuid() == 0 &&
            (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0))
            _exit(126);
        setenv("NO_COLOR", "1", 1);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    *outfd = out[0];
    *errfd = err[0];
    return pid;
}

static int finish(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void run_ephport(struct run *r, bool as_nobody, const char *const *args)
{
    int o, e;
    pid_t pid = start_ephport(args, as_nobody, &o, &e);
    r->out = slurp_fd(o); /* the command writes little: no pipe fills */
    r->err = slurp_fd(e);
    r->status = finish(pid);
}

#define RUN(r, nobody, ...) run_ephport(r, nobody, (const char *const[]){ __VA_ARGS__, NULL })

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void bad_options_exit_2(void **state)
{
    struct run r;
    (void)state;
    RUN(&r, false, "trace", "--interval", "0");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "ephport trace: --interval '0'"));
    free(r.out), free(r.err);
    RUN(&r, false, "trace", "--pid", "x");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "ephport trace: --pid 'x'"));
    free(r.out), free(r.err);
    RUN(&r, false, "trace", "--duration", "-1");
    assert_int_equal(r.status, 2);
    free(r.out), free(r.err);
    RUN(&r, false, "trace", "extra");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "ephport trace: unexpected argument 'extra'"));
    free(r.out), free(r.err);
}

static void unavailable_says_why_once(void **state)
{
    struct run r;
    (void)state;
    /* As root this drops to nobody; otherwise the caller is unprivileged. */
    RUN(&r, true, "trace", "--duration", "1");
    fprintf(stderr, "stderr: %s", r.err);
    assert_int_equal(r.status, 3);
    assert_int_equal(count_of(r.err, "ephport trace: cannot trace:"), 1);
    assert_non_null(strstr(r.err, EP_HAVE_BPF ? "CAP_BPF" : "without BPF"));
    assert_string_equal(r.out, "");
    free(r.out), free(r.err);
}

/* In the current namespace (range 43000-43000): a child named
 * ep-trace-cli makes one connect succeed and one fail with EADDRNOTAVAIL
 * towards 127.0.0.1:8080, and exits 0; returns its pid once it has gone. */
static pid_t make_one_failure(void)
{
    pid_t child;
    int st;

    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
        int l = socket(AF_INET, SOCK_STREAM, 0), c1 = socket(AF_INET, SOCK_STREAM, 0),
            c2 = socket(AF_INET, SOCK_STREAM, 0);
        prctl(PR_SET_NAME, "ep-trace-cli");
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4) ||
            connect(c1, (struct sockaddr *)&a, sizeof a))
            _exit(1);
        int failed = connect(c2, (struct sockaddr *)&a, sizeof a) == -1 && errno == EADDRNOTAVAIL;
        /* c1 ends with a reset, never in TIME_WAIT: left to the exit, it
         * raced the listener's reset of its unaccepted peer and sometimes
         * closed first, giving a TIME_WAIT entry the test does not make. */
        struct linger lg = { 1, 0 };
        if (setsockopt(c1, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) || close(c1))
            _exit(3);
        _exit(failed ? 0 : 2);
    }
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return child;
}

/* Root, in a private namespace with a one-port range: trace, then make one
 * connect succeed and one fail; return the command's stdout. */
static char *trace_one_failure(const char *const *args, pid_t *failer)
{
    char why[256], line[512];
    int o, e;
    size_t got = 0;
    pid_t pid, child;

    assert_true(ep_test_enter_private_netns(why, sizeof why));
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "43000 43000"), 0);
    pid = start_ephport(args, false, &o, &e);
    /* Attached once it says so on stderr. */
    while (got < sizeof line - 1 && read(e, line + got, 1) == 1 && line[got] != '\n')
        got++;
    line[got] = '\0';
    if (!strstr(line, "tracing"))
        fail_msg("no banner: %s", line);
    child = make_one_failure();
    *failer = child;
    char *out = slurp_fd(o);
    free(slurp_fd(e));
    assert_int_equal(finish(pid), 0);
    return out;
}

static void json_schema_and_counts(void **state)
{
    static const char *const keys[] = { "type", "time", "pid", "comm", "cgroup", "netns",
                                        "proto", "local", "local_port", "remote",
                                        "remote_port", "errno" };
    pid_t failer;
    (void)state;
    EP_TEST_NEED_ROOT_BPF(EP_HAVE_BPF);
    char *out = trace_one_failure((const char *const[]){ "trace", "--json", "--netns",
                                                         "/proc/self/ns/net", "--duration",
                                                         "2", "--interval", "60", NULL },
                                  &failer);
    char *save = NULL, *line1 = strtok_r(out, "\n", &save), *line2 = strtok_r(NULL, "\n", &save);
    assert_non_null(line1);
    assert_non_null(line2);
    assert_null(strtok_r(NULL, "\n", &save));
    json_error_t err;
    json_t *f = json_loads(line1, 0, &err), *iv = json_loads(line2, 0, &err);
    assert_non_null(f);
    assert_non_null(iv);
    /* Exactly the documented keys, in order. */
    void *it = json_object_iter(f);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++, it = json_object_iter_next(f, it)) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), keys[i]);
    }
    assert_null(it);
    assert_string_equal(json_string_value(json_object_get(f, "type")), "failure");
    assert_int_equal(json_integer_value(json_object_get(f, "pid")), failer);
    assert_string_equal(json_string_value(json_object_get(f, "comm")), "ep-trace-cli");
    assert_string_equal(json_string_value(json_object_get(f, "proto")), "tcp");
    assert_string_equal(json_string_value(json_object_get(f, "local")), "127.0.0.1");
    assert_true(json_is_null(json_object_get(f, "local_port")));
    assert_string_equal(json_string_value(json_object_get(f, "remote")), "127.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(f, "remote_port")), 8080);
    assert_string_equal(json_string_value(json_object_get(f, "errno")), "EADDRNOTAVAIL");
    assert_string_equal(json_string_value(json_object_get(iv, "type")), "interval");
    assert_int_equal(json_integer_value(json_object_get(iv, "failures")), 1);
    json_t *d = json_array_get(json_object_get(iv, "destinations"), 0);
    assert_non_null(d);
    assert_int_equal(json_array_size(json_object_get(iv, "destinations")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "attempts")), 2);
    assert_int_equal(json_integer_value(json_object_get(d, "successes")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "failures"),
                                                        "EADDRNOTAVAIL")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "timewait")), 0);
    json_decref(f);
    json_decref(iv);
    free(out);
}

static void human_names_the_message(void **state)
{
    pid_t failer;
    char want[64];
    (void)state;
    EP_TEST_NEED_ROOT_BPF(EP_HAVE_BPF);
    char *out = trace_one_failure((const char *const[]){ "trace", "--netns", "/proc/self/ns/net",
                                                         "--duration", "2", "--interval",
                                                         "60", NULL },
                                  &failer);
    snprintf(want, sizeof want, "connect tcp pid %d (ep-trace-cli)", (int)failer);
    if (!strstr(out, want) ||
        !strstr(out, "127.0.0.1 -> 127.0.0.1:8080: EADDRNOTAVAIL (Cannot assign requested "
                     "address)") ||
        !strstr(out, "1 destination, 1 failure\n") || !strstr(out, "PROTO ") ||
        !strstr(out, "ATTEMPTS"))
        fail_msg("human output:\n%s", out);
    free(out);
}

/* The terminal: `trace` on a pseudo-terminal redraws a view in place (no
 * interval separators of the log), shows the failure and its destination,
 * quits on q with the terminal restored; --scroll gives the log there. */
static void terminal_view_refreshes_in_place(void **state)
{
    static struct ep_tty t;
    struct termios after;
    char why[256];
    (void)state;
    EP_TEST_NEED_ROOT_BPF(EP_HAVE_BPF);
    assert_true(ep_test_enter_private_netns(why, sizeof why));
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "43000 43000"), 0);
    ep_tty_start(&t, (const char *const[]){ "trace", "--netns", "/proc/self/ns/net",
                                             "--interval", "0.3", NULL }, 30, 160);
    assert_true(ep_tty_wait_for(&t, 0, "q quit"));
    make_one_failure();
    assert_true(ep_tty_wait_for(&t, 0, "EADDRNOTAVAIL (Cannot assign requested address)"));
    assert_true(ep_tty_wait_for(&t, 0, "127.0.0.1:8080"));
    /* Redrawn in place: cursor addressing, and never the log's separator
     * lines or its table heads printed once per interval. */
    assert_non_null(strstr(t.buf, "\033["));
    if (strstr(t.buf, "--- "))
        fail_msg("the log's interval lines on the terminal:\n%s", t.buf);
    assert_int_equal(waitpid(t.pid, NULL, WNOHANG), 0); /* still running */
    assert_int_equal(write(t.master, "q", 1), 1);
    assert_int_equal(ep_tty_finish(&t, &after), 0);
    assert_true(after.c_lflag & ICANON);
    assert_true(after.c_lflag & ECHO);
    /* Once the view is gone (the terminal's own screen back), what it
     * showed stays: the summary, the table and the failure line. */
    const char *back = strstr(t.buf, "\033[?1049l");
    if (!back || !strstr(back, "1 failure since the start") ||
        !strstr(back, "EADDRNOTAVAIL (Cannot assign requested address)") ||
        !strstr(back, "127.0.0.1:8080"))
        fail_msg("nothing left on the terminal after the view:\n%s", back ? back : t.buf);

    /* --scroll: the log, even on a terminal. */
    ep_tty_start(&t, (const char *const[]){ "trace", "--netns", "/proc/self/ns/net",
                                             "--interval", "0.3", "--duration", "1",
                                             "--scroll", NULL }, 30, 160);
    assert_true(ep_tty_wait_for(&t, 0, "tracing"));
    make_one_failure();
    assert_true(ep_tty_wait_for(&t, 0, "EADDRNOTAVAIL (Cannot assign requested address)"));
    assert_true(ep_tty_wait_for(&t, 0, "--- "));
    assert_int_equal(ep_tty_finish(&t, &after), 0);
    assert_null(strstr(t.buf, "q quit"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_options_exit_2),
        cmocka_unit_test(unavailable_says_why_once),
        cmocka_unit_test(json_schema_and_counts),
        cmocka_unit_test(human_names_the_message),
        cmocka_unit_test(terminal_view_refreshes_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
