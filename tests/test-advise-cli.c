/* test-advise-cli.c - `ephport advise` as operators run it: the text and JSON
 * for each OS carry the right commands and numbers, bad command lines exit 2
 * with a message, and on Linux the live part reports a private namespace's
 * real settings and the destination that is short of ports. */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "netns-util.h"

struct run {
    int status;        /* exit code, or 128 + signal */
    char *out, *err;
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

/* Run $EPHPORT_BIN with args (NULL-terminated); stderr goes to a temp file so
 * that neither pipe can fill up while the other is read. */
static void run_ephport(struct run *r, const char *const *args)
{
    const char *bin = getenv("EPHPORT_BIN");
    char errpath[] = "/tmp/ep-advise-err-XXXXXX";
    int out[2], errfd, st;
    pid_t pid;
    const char *argv[32];
    size_t n = 0;

    assert_non_null(bin);
    argv[n++] = bin;
    while (*args && n < 31)
        argv[n++] = *args++;
    argv[n] = NULL;
    assert_int_equal(pipe(out), 0);
    errfd = mkstemp(errpath);
    assert_true(errfd >= 0);
    unlink(errpath);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(errfd, 2);
        close(out[0]);
        setenv("NO_COLOR", "1", 1);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    r->out = slurp_fd(out[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    lseek(errfd, 0, SEEK_SET);
    r->err = slurp_fd(errfd);
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

#define RUN(r, ...) run_ephport(r, (const char *const[]){ __VA_ARGS__, NULL })

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("output lacks \"%s\":\n%s", needle, hay);
}

static void each_os_prints_its_commands(void **state)
{
    struct run r;
    (void)state;

    RUN(&r, "advise", "--os", "windows");
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "ephemeral range 49152-65535 (16384 ports)");
    assert_contains(r.out, "TIME_WAIT 120 s");
    assert_contains(r.out, "16384 ports / 120 s TIME_WAIT = 136 new connections/s");
    assert_contains(r.out, "inspect: netsh int ipv4 show dynamicport tcp\n");
    assert_contains(r.out, "change:  netsh int ipv4 set dynamicport tcp start=10000 num=55536\n");
    assert_contains(r.out, "/v TcpTimedWaitDelay /t REG_DWORD /d 30 /f\n");
    assert_contains(r.out, "MaxUserPort");
    assert_contains(r.out, "netstat -ano | find \"TIME_WAIT\"");
    assert_contains(r.out, "Get-NetTCPConnection -State TimeWait");
    assert_null(strstr(r.out, "This host"));
    run_free(&r);

    RUN(&r, "advise", "--os", "macos");
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "16384 ports / 30 s TIME_WAIT = 546 new connections/s");
    assert_contains(r.out, "inspect: sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last\n");
    assert_contains(r.out, "change:  sudo sysctl -w net.inet.ip.portrange.first=32768\n");
    assert_contains(r.out, "net.inet.tcp.msl");
    run_free(&r);

    RUN(&r, "advise", "--os", "freebsd");
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "ephemeral range 10000-65535 (55536 ports), high range 49152-65535");
    assert_contains(r.out, "55536 ports / 60 s TIME_WAIT = 925 new connections/s");
    assert_contains(r.out, "net.inet.ip.portrange.hifirst");
    assert_contains(r.out, "inspect: sysctl net.inet.tcp.maxtcptw\n");
    assert_contains(r.out, ">> /etc/sysctl.conf");
    run_free(&r);

    RUN(&r, "advise", "--os", "linux", "--generic");
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "28232 ports / 60 s TIME_WAIT = 470 new connections/s per destination");
    assert_contains(r.out, "change:  sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"\n");
    assert_contains(r.out, "/etc/sysctl.d/");
    assert_contains(r.out, "net.ipv4.tcp_tw_reuse");
    assert_contains(r.out, "IP_BIND_ADDRESS_NO_PORT");
    assert_contains(r.out, "IP_LOCAL_PORT_RANGE");
    assert_contains(r.out, "ss -Htan state time-wait");
    assert_contains(r.out, "nf_conntrack_max");
    assert_null(strstr(r.out, "This host"));
    run_free(&r);
}

static void bad_command_lines_exit_2(void **state)
{
    static const char *const bad[][4] = {
        { "advise", "--os", "solaris", NULL },
        { "advise", "--os", "", NULL },
        { "advise", "--bogus", NULL },
        { "advise", "extra", NULL },
        { "advise", "--os", "windows", "--netns" }, /* missing argument */
        { "advise", "--os", NULL },
    };
    struct run r;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_ephport(&r, bad[i]);
        assert_int_equal(r.status, 2);
        assert_string_equal(r.out, "");
        assert_true(strlen(r.err) > 10);
        run_free(&r);
    }
    RUN(&r, "advise", "--os", "solaris");
    assert_contains(r.err, "unknown OS 'solaris'");
    run_free(&r);
    RUN(&r, "advise", "--os", "windows", "--netns", "x");
    assert_int_equal(r.status, 2);
    assert_contains(r.err, "--netns");
    run_free(&r);
    RUN(&r, "advise", "--help");
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "Usage: ephport advise");
    run_free(&r);
}

static json_t *parse_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON (%s at line %d): %s", e.text, e.line, text);
    return j;
}

static void json_schema_per_os(void **state)
{
    static const struct { const char *os; int lo, hi, ports, tw; } want[] = {
        { "linux", 32768, 60999, 28232, 60 }, { "windows", 49152, 65535, 16384, 120 },
        { "macos", 49152, 65535, 16384, 30 }, { "freebsd", 10000, 65535, 55536, 60 },
    };
    (void)state;
    for (size_t i = 0; i < 4; i++) {
        struct run r;
        json_t *j, *range, *settings, *it;
        size_t k;

        RUN(&r, "advise", "--os", want[i].os, "--generic", "--json");
        if (strcmp(want[i].os, "linux") != 0) {
            run_free(&r); /* --generic is Linux-only in meaning, harmless elsewhere */
            RUN(&r, "advise", "--os", want[i].os, "--json");
        }
        assert_int_equal(r.status, 0);
        j = parse_json(r.out);
        assert_string_equal(json_string_value(json_object_get(j, "os")), want[i].os);
        range = json_object_get(j, "range");
        assert_int_equal(json_integer_value(json_object_get(range, "lo")), want[i].lo);
        assert_int_equal(json_integer_value(json_object_get(range, "hi")), want[i].hi);
        assert_int_equal(json_integer_value(json_object_get(range, "ports")), want[i].ports);
        assert_true(fabs(json_real_value(json_object_get(j, "time_wait_seconds")) - want[i].tw) <
                    1e-9);
        assert_true(fabs(json_real_value(json_object_get(j, "sustainable_rate_per_destination")) -
                         (double)want[i].ports / want[i].tw) < 1e-6);
        assert_true(json_is_string(json_object_get(j, "range_setting")));
        assert_true(json_is_string(json_object_get(j, "time_wait_setting")));
        assert_int_equal(json_object_get(j, "high_range") != NULL,
                         strcmp(want[i].os, "freebsd") == 0);
        assert_null(json_object_get(j, "host"));
        settings = json_object_get(j, "settings");
        assert_true(json_is_array(settings) && json_array_size(settings) >= 3);
        json_array_foreach(settings, k, it) {
            assert_true(json_is_string(json_object_get(it, "topic")));
            assert_true(json_is_string(json_object_get(it, "setting")));
            assert_true(json_is_string(json_object_get(it, "why")));
            for (const char *const *key = (const char *const[]){ "default", "inspect", "change",
                                                                 "persist", NULL };
                 *key; key++) {
                json_t *v = json_object_get(it, *key);
                assert_true(json_is_string(v) || json_is_null(v));
            }
        }
        json_decref(j);
        run_free(&r);
    }
}

/* Connect to 127.0.0.1:port and close from the client first: the client's
 * ephemeral port goes to TIME_WAIT. */
static void make_time_wait(int listener, uint16_t port, int count)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < count; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0), s;
        assert_true(c >= 0);
        assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
        s = accept(listener, NULL, NULL);
        assert_true(s >= 0);
        close(c);
        close(s);
    }
}

static int listen_on(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1024), 0);
    return fd;
}

/* Linux on this host: a private namespace with a 1000-port range, 10 of them
 * reserved, and 900 TIME_WAIT entries towards one destination. */
static void live_linux_reads_the_namespace(void **state)
{
    char why[256];
    struct run r;
    json_t *j, *host, *set, *recs, *rec, *dest;
    int lfd;
    (void)state;

    if (!ep_test_enter_private_netns(why, sizeof why)) {
        fprintf(stderr, "SKIP: the live part: %s\n", why);
        skip();
    }
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_port_range", "40000 40999"), 0);
    assert_int_equal(ep_test_write_sysctl("net/ipv4/ip_local_reserved_ports", "40990-40999"), 0);
    /* loopback TIME_WAIT under tcp_tw_reuse = 2 becomes free after the
     * delay: the longest delay keeps the headroom below exact */
    assert_int_equal(ep_test_write_sysctl("net/ipv4/tcp_tw_reuse_delay", "60000"), 0);
    lfd = listen_on(8080);
    make_time_wait(lfd, 8080, 900);

    RUN(&r, "advise", "--json");
    assert_int_equal(r.status, 0);
    j = parse_json(r.out);
    host = json_object_get(j, "host");
    assert_non_null(host);
    assert_true(json_is_null(json_object_get(host, "netns")));
    /* The same settings object as `ephport status --json`. */
    set = json_object_get(host, "settings");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(set, "port_range"), "lo")),
                     40000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(set, "port_range"), "hi")),
                     40999);
    assert_string_equal(json_string_value(json_object_get(set, "reserved_ports")), "40990-40999");
    assert_int_equal(json_integer_value(json_object_get(set, "effective_ports")), 990);
    assert_int_equal(json_integer_value(json_object_get(set, "time_wait_seconds")), 60);
    assert_true(fabs(json_real_value(json_object_get(set, "sustainable_rate_per_destination")) -
                     990.0 / 60.0) < 1e-9);
    assert_true(json_is_array(json_object_get(host, "notes")));
    /* 900 of 990 ports in TIME_WAIT towards 127.0.0.1:8080: a warning that
     * names the destination and a remedy. */
    recs = json_object_get(host, "recommendations");
    assert_true(json_array_size(recs) >= 1);
    rec = json_array_get(recs, 0);
    assert_string_equal(json_string_value(json_object_get(rec, "severity")), "warning");
    dest = json_object_get(rec, "destination");
    assert_true(json_is_object(dest));
    assert_string_equal(json_string_value(json_object_get(dest, "proto")), "tcp");
    assert_string_equal(json_string_value(json_object_get(dest, "remote")), "127.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(dest, "remote_port")), 8080);
    assert_true(fabs(json_number_value(json_object_get(rec, "headroom_pct")) - 9.1) < 0.051);
    assert_true(json_is_string(json_object_get(rec, "message")));
    assert_non_null(strstr(json_string_value(json_object_get(rec, "remedy")),
                           "net.ipv4.ip_local_port_range"));
    json_decref(j);
    run_free(&r);

    RUN(&r, "advise");
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "This host (network namespace: this process's)");
    assert_contains(r.out, "ip_local_port_range      40000 40999\n");
    assert_contains(r.out, "ip_local_reserved_ports  40990-40999\n");
    assert_contains(r.out, "effective ports          990\n");
    /* TIME_WAIT as the kernel keeps it (capacity.h: 65.12 s with HZ unknown),
     * as top and status say */
    assert_contains(r.out, "990 ports / 65.12 s TIME_WAIT = 15 new connections/s per destination");
    assert_contains(r.out, "destination: tcp 127.0.0.1 -> 127.0.0.1:8080\n");
    assert_contains(r.out, "headroom: 9.1 %\n");
    run_free(&r);

    RUN(&r, "advise", "--netns", "/nonexistent/ns");
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "/nonexistent/ns");
    run_free(&r);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_os_prints_its_commands),
        cmocka_unit_test(bad_command_lines_exit_2),
        cmocka_unit_test(json_schema_per_os),
        cmocka_unit_test(live_linux_reads_the_namespace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
