/* test-exporter.c - `ephport exporter` end to end in a private network
 * namespace: the built binary serves on loopback, curl scrapes it, promtool
 * (scripts/install-deps.sh check puts it in .deps/bin/) validates the text, values are compared with
 * `ephport status --json` on the same namespace with known connections,
 * and bad clients (malformed requests, huge headers, wrong paths and
 * methods, 100 slow clients at once) never stop scrapes.  A namespace that
 * disappears turns scrapes into 500s, never zeros.  Also
 * `ephport status --prometheus FILE`. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "netns-util.h"

#define PORT 9808
#define PORT_B 9809
#define SERVICE 7000

static const char *bin(void)
{
    const char *b = getenv("EPHPORT_BIN");
    return b ? b : EP_BUILD_ROOT "/src/cli/ephport";
}

static bool have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* The exporters this test started, stopped by the teardown if a failed
 * assertion skipped stop_exporter(). */
static pid_t running[4];

static void track(pid_t pid, bool add)
{
    for (size_t i = 0; i < 4; i++)
        if (add ? running[i] == 0 : running[i] == pid) {
            running[i] = add ? pid : 0;
            return;
        }
}

static int kill_leftovers(void **state)
{
    (void)state;
    for (size_t i = 0; i < 4; i++)
        if (running[i] > 0) {
            kill(running[i], SIGKILL);
            waitpid(running[i], NULL, 0);
            running[i] = 0;
        }
    return 0;
}

/* Start `ephport exporter ARGS...` and wait for its "listening" line. */
static pid_t start_exporter(const char *const *args)
{
    char *argv[16];
    char line[512];
    int p[2], n = 0;
    pid_t pid;
    FILE *f;

    argv[n++] = (char *)bin();
    argv[n++] = "exporter";
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        execv(argv[0], argv);
        _exit(99);
    }
    close(p[1]);
    track(pid, true);
    f = fdopen(p[0], "r");
    assert_non_null(f);
    /* The child prints the line once it serves, or an error and exits:
     * either way the read returns. */
    if (!fgets(line, sizeof line, f) || !strstr(line, "listening on")) {
        fprintf(stderr, "exporter did not start: %s\n", line);
        fail();
    }
    fclose(f); /* later stderr writes go to a closed pipe: SIGPIPE is ignored */
    return pid;
}

static void stop_exporter(pid_t pid)
{
    int st;
    track(pid, false);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* curl: returns the HTTP status (0 on transport failure); body into a
 * malloc'd string when body != NULL. */
static int curl(const char *extra, const char *path, uint16_t port, char **body)
{
    char tmp[] = "/tmp/ephport-test-exporter-XXXXXX", code[16] = "", *cmd;
    int fd = mkstemp(tmp), status = 0;
    FILE *f;
    assert_true(fd >= 0);
    close(fd);
    assert_true(asprintf(&cmd,
                         "curl -s -o %s -w '%%{http_code}' --max-time 20 %s "
                         "'http://127.0.0.1:%u%s'",
                         tmp, extra ? extra : "", port, path) > 0);
    f = popen(cmd, "r");
    free(cmd);
    assert_non_null(f);
    if (fgets(code, sizeof code, f))
        status = atoi(code);
    pclose(f);
    if (body) {
        FILE *b = fopen(tmp, "r");
        long len;
        assert_non_null(b);
        fseek(b, 0, SEEK_END);
        len = ftell(b);
        rewind(b);
        *body = calloc(1, (size_t)len + 1);
        assert_non_null(*body);
        assert_int_equal(fread(*body, 1, (size_t)len, b), (size_t)len);
        fclose(b);
    }
    unlink(tmp);
    return status;
}

/* The value of the sample whose "name{labels}" is exactly key; -1 if absent. */
static double sample(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l;) {
        if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
            return strtod(l + kl + 1, NULL);
        l = strchr(l, '\n');
        l = l ? l + 1 : NULL;
    }
    return -1;
}

/* promtool: the one scripts/install-deps.sh check extracts from Debian's
 * prometheus package into .deps/bin/ of the source tree (so that no
 * Prometheus server gets installed), else one on PATH.  false if neither. */
static bool find_promtool(char *out, size_t len)
{
    snprintf(out, len, "%s/.deps/bin/promtool", EP_SOURCE_ROOT);
    if (access(out, X_OK) == 0)
        return true;
    snprintf(out, len, "promtool");
    return have("promtool");
}

static void promtool_ok(const char *text)
{
    char tmp[] = "/tmp/ephport-test-prom-XXXXXX", cmd[PATH_MAX + 64], promtool[PATH_MAX];
    int fd;
    if (!find_promtool(promtool, sizeof promtool)) {
        fprintf(stderr, "SKIP: promtool check: no promtool in %s/.deps/bin/ or on PATH "
                        "(scripts/install-deps.sh check extracts it there)\n", EP_SOURCE_ROOT);
        return;
    }
    fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    snprintf(cmd, sizeof cmd, "'%s' check metrics < %s", promtool, tmp);
    assert_int_equal(system(cmd), 0);
    unlink(tmp);
}

static int tcp_connect(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval tv = { .tv_sec = 15 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int ns_setup(void **state)
{
    static char why[256];
    signal(SIGPIPE, SIG_IGN);
    if (!ep_test_enter_private_netns(why, sizeof why)) {
        fprintf(stderr, "SKIP: cannot make a private network namespace: %s\n", why);
        *state = why;
    } else if (!have("curl")) {
        fprintf(stderr, "SKIP: curl is not installed\n");
        *state = "no curl";
    } else {
        *state = NULL;
    }
    return 0;
}

static void metrics_match_status_json(void **state)
{
    static const char *args[] = { "--listen", "127.0.0.1:9808", "--min-count", "1", "--top",
                                  "100", NULL };
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(SERVICE),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int lfd, cfd[30], one = 1;
    char *text, key[256], cmd[256];
    json_t *js, *dests, *d = NULL;
    json_error_t jerr;
    FILE *f;
    pid_t pid;
    size_t i;

    if (*state)
        skip();
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 64), 0);
    for (i = 0; i < 30; i++)
        cfd[i] = tcp_connect(SERVICE);

    pid = start_exporter(args);
    assert_int_equal(curl(NULL, "/metrics", PORT, &text), 200);
    promtool_ok(text);

    snprintf(cmd, sizeof cmd, "%s status --json --top 0", bin());
    f = popen(cmd, "r");
    assert_non_null(f);
    js = json_loadf(f, 0, &jerr);
    assert_int_equal(pclose(f), 0);
    assert_non_null(js);
    dests = json_object_get(js, "destinations");
    for (i = 0; i < json_array_size(dests); i++) {
        json_t *x = json_array_get(dests, i);
        if (json_integer_value(json_object_get(x, "remote_port")) == SERVICE)
            d = x;
    }
    assert_non_null(d);

    /* The destination we made: 30 connections, as the JSON says. */
#define DKEY(name) \
    (snprintf(key, sizeof key, \
              name "{proto=\"tcp\",local=\"127.0.0.1\",remote=\"127.0.0.1\",remote_port=\"%d\"}", \
              SERVICE), key)
    assert_true(sample(text, DKEY("ephport_destination_used_ports")) == 30);
    assert_true(sample(text, DKEY("ephport_destination_used_ports")) ==
                (double)json_integer_value(json_object_get(d, "used")));
    assert_true(sample(text, DKEY("ephport_destination_established_ports")) ==
                (double)json_integer_value(json_object_get(d, "established")));
    assert_true(sample(text, DKEY("ephport_destination_free_ports")) ==
                (double)json_integer_value(json_object_get(d, "free")));
    {
        double ratio = sample(text, DKEY("ephport_destination_used_ratio"));
        assert_true(ratio > 0 && ratio < 1);
    }
    /* Settings. */
    {
        json_t *s = json_object_get(js, "settings"), *r = json_object_get(s, "port_range");
        assert_true(sample(text, "ephport_effective_ports") ==
                    (double)json_integer_value(json_object_get(s, "effective_ports")));
        assert_true(sample(text, "ephport_local_port_range_ports") ==
                    (double)(json_integer_value(json_object_get(r, "hi")) -
                             json_integer_value(json_object_get(r, "lo")) + 1));
        assert_true(sample(text, "ephport_tcp_max_tw_buckets") ==
                    (double)json_integer_value(json_object_get(s, "tcp_max_tw_buckets")));
    }
    assert_true(sample(text, "ephport_scrape_duration_seconds") >= 0);
    assert_true(sample(text, "ephport_scrape_errors_total") == 0);
    json_decref(js);
    free(text);

    /* A second scrape is fresh: close 10 connections, the count drops. */
    for (i = 0; i < 10; i++)
        close(cfd[i]);
    assert_int_equal(curl(NULL, "/metrics", PORT, &text), 200);
    assert_true(sample(text, DKEY("ephport_destination_used_ports")) <= 30);
    assert_true(sample(text, "ephport_scrapes_total") == 2);
    free(text);
    stop_exporter(pid);
    for (i = 10; i < 30; i++)
        close(cfd[i]);
    close(lfd);
}

static void bad_requests_never_stop_scrapes(void **state)
{
    static const char *args[] = { "--listen", "127.0.0.1:9810", "--timeout", "5", NULL };
    static const char *garbage[] = { "BLAH\r\n\r\n", "GET /metrics HTTP/9.9\r\n\r\n",
                                     "\x01\x02\x03\xff\r\n\r\n", "GET\r\n\r\n",
                                     "GET /metrics HTTP/1.1\r\nNoColonHeader\r\n\r\n", NULL };
    char big[64 + 40000], *body;
    char resp[256];
    pid_t pid;
    if (*state)
        skip();
    pid = start_exporter(args);

    assert_int_equal(curl(NULL, "/nope", 9810, NULL), 404);
    assert_int_equal(curl(NULL, "/metrics/x", 9810, NULL), 404);
    assert_int_equal(curl("-X POST -d abc", "/metrics", 9810, NULL), 405);
    assert_int_equal(curl("-X DELETE", "/", 9810, NULL), 405);
    assert_int_equal(curl("-I", "/metrics", 9810, NULL), 200);
    assert_int_equal(curl(NULL, "/", 9810, &body), 200);
    assert_non_null(strstr(body, "/metrics"));
    free(body);
    /* Keep-alive: two scrapes in one curl run share one connection. */
    assert_int_equal(system("test \"$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}' "
                            "--max-time 20 http://127.0.0.1:9810/metrics "
                            "http://127.0.0.1:9810/metrics)\" = 10"),
                     0);

    /* A 40 KB header: refused by the per-connection memory cap. */
    memset(big, 'a', sizeof big);
    memcpy(big, "-H 'X-Big: ", 11);
    strcpy(big + sizeof big - 2, "'");
    assert_int_equal(curl(big, "/metrics", 9810, NULL), 431);

    for (size_t i = 0; garbage[i]; i++) {
        int fd = tcp_connect(9810);
        ssize_t n;
        assert_true(write(fd, garbage[i], strlen(garbage[i])) > 0);
        n = read(fd, resp, sizeof resp - 1);
        /* Either an HTTP error status or a closed connection; never 200. */
        if (n > 0) {
            resp[n] = '\0';
            assert_true(strncmp(resp, "HTTP/1.", 7) == 0);
            assert_null(strstr(resp, " 200 "));
        }
        close(fd);
        assert_int_equal(curl(NULL, "/metrics", 9810, NULL), 200);
    }
    /* HTTP/1.1 without a Host header, or with two: 400 (RFC 9112 3.2);
     * HTTP/1.0 may omit it. */
    {
        static const struct { const char *req; const char *status; } hosts[] = {
            { "GET /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 " },
            { "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400 " },
            { "GET /metrics HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", "HTTP/1.1 400 " },
            { "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
              "HTTP/1.1 200 " },
            { "GET /metrics HTTP/1.0\r\n\r\n", "HTTP/1.1 200 " }, /* MHD answers 1.1 */
        };
        for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
            int fd = tcp_connect(9810);
            ssize_t n;
            assert_true(write(fd, hosts[i].req, strlen(hosts[i].req)) > 0);
            n = read(fd, resp, sizeof resp - 1);
            assert_true(n > 0);
            resp[n] = '\0';
            if (strncmp(resp, hosts[i].status, strlen(hosts[i].status)) != 0)
                fail_msg("request %zu answered '%.40s', expected '%s'", i, resp,
                         hosts[i].status);
            close(fd);
        }
    }
    stop_exporter(pid);
}

static void slow_clients_do_not_stall_scrapes(void **state)
{
    static const char *args[] = { "--listen", "127.0.0.1:9811", "--timeout", "30", NULL };
    int fds[100];
    char *text;
    pid_t pid;
    if (*state)
        skip();
    pid = start_exporter(args);
    /* 100 clients that start a request and never finish it. */
    for (int i = 0; i < 100; i++) {
        static const char part[] = "GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
        fds[i] = tcp_connect(9811);
        assert_int_equal(write(fds[i], part, sizeof part - 1), (ssize_t)(sizeof part - 1));
    }
    /* Scrapes still answer, with the slow connections counted on the host. */
    for (int k = 0; k < 5; k++) {
        assert_int_equal(curl(NULL, "/metrics", 9811, &text), 200);
        assert_true(sample(text, "ephport_destinations") >= 1);
        free(text);
    }
    /* Clients that connect and send nothing at all, too. */
    for (int i = 0; i < 100; i++)
        close(fds[i]);
    for (int i = 0; i < 100; i++)
        fds[i] = tcp_connect(9811);
    assert_int_equal(curl(NULL, "/metrics", 9811, NULL), 200);
    for (int i = 0; i < 100; i++)
        close(fds[i]);
    stop_exporter(pid);
}

static void connections_beyond_the_limit_wait(void **state)
{
    static const char *args[] = { "--listen", "127.0.0.1:9816", "--max-connections", "10",
                                  "--timeout", "30", NULL };
    int fds[40];
    pid_t pid;
    if (*state)
        skip();
    pid = start_exporter(args);
    /* 40 idle clients against a limit of 10: the server takes 10, the rest
     * wait in the listen queue; nothing is answered, nothing crashes. */
    for (int i = 0; i < 40; i++)
        fds[i] = tcp_connect(9816);
    assert_int_equal(kill(pid, 0), 0);
    for (int i = 0; i < 40; i++)
        close(fds[i]);
    /* Once they are gone, scrapes are served again. */
    assert_int_equal(curl(NULL, "/metrics", 9816, NULL), 200);
    stop_exporter(pid);
}

static void unreadable_namespace_answers_500(void **state)
{
    char ns[64];
    const char *args[] = { "--listen", "127.0.0.1:9809", "--netns", ns, NULL };
    char *text;
    int st;
    pid_t child, pid;
    if (*state)
        skip();
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char why[128];
        if (!ep_test_enter_private_netns(why, sizeof why))
            _exit(1);
        pause();
        _exit(0);
    }
    /* Wait until the child is in its own namespace. */
    for (int i = 0; i < 2000; i++) {
        char a[64], b[64];
        ssize_t la, lb;
        snprintf(ns, sizeof ns, "/proc/%d/ns/net", (int)child);
        la = readlink(ns, a, sizeof a);
        lb = readlink("/proc/self/ns/net", b, sizeof b);
        if (la > 0 && lb > 0 && (la != lb || memcmp(a, b, (size_t)la) != 0))
            break;
        usleep(1000);
    }
    pid = start_exporter(args);
    assert_int_equal(curl(NULL, "/metrics", PORT_B, &text), 200);
    assert_true(sample(text, "ephport_effective_ports") > 0);
    free(text);
    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, &st, 0), child);
    /* The namespace is gone: 500 with the reason, never a page of zeros. */
    assert_int_equal(curl(NULL, "/metrics", PORT_B, &text), 500);
    assert_non_null(strstr(text, "scrape failed"));
    assert_non_null(strstr(text, "no such network namespace"));
    assert_null(strstr(text, "ephport_"));
    free(text);
    stop_exporter(pid);
}

static void start_errors_are_clear(void **state)
{
    char cmd[512];
    if (*state)
        skip();
    snprintf(cmd, sizeof cmd, "%s exporter --listen 127.0.0.1:9812 --netns /nonexistent/ns "
             "2>/dev/null", bin());
    assert_int_equal(WEXITSTATUS(system(cmd)), 1);
    snprintf(cmd, sizeof cmd, "%s exporter --listen localhost:9812 2>/dev/null", bin());
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s exporter --top 0 2>/dev/null", bin());
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s exporter extra 2>/dev/null", bin());
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    {
        /* Address in use. */
        static const char *args[] = { "--listen", "127.0.0.1:9812", NULL };
        pid_t pid = start_exporter(args);
        snprintf(cmd, sizeof cmd, "%s exporter --listen 127.0.0.1:9812 2>&1 | "
                 "grep -q 'Address already in use'", bin());
        assert_int_equal(system(cmd), 0);
        stop_exporter(pid);
    }
}

static void listens_on_every_address(void **state)
{
    static const char *args[] = { "--listen", ":9814", NULL };
    static const char *v6args[] = { "--listen", "[::1]:9815", NULL };
    char cmd[256];
    pid_t pid;
    if (*state)
        skip();
    /* ":PORT" is one dual-stack socket: IPv4 and IPv6 clients both get in. */
    pid = start_exporter(args);
    assert_int_equal(curl(NULL, "/metrics", 9814, NULL), 200);
    snprintf(cmd, sizeof cmd, "test \"$(curl -sg -o /dev/null -w '%%{http_code}' --max-time 20 "
             "'http://[::1]:9814/metrics')\" = 200");
    assert_int_equal(system(cmd), 0);
    stop_exporter(pid);
    pid = start_exporter(v6args);
    snprintf(cmd, sizeof cmd, "test \"$(curl -sg -o /dev/null -w '%%{http_code}' --max-time 20 "
             "'http://[::1]:9815/')\" = 200");
    assert_int_equal(system(cmd), 0);
    stop_exporter(pid);
}

static void status_prometheus_writes_atomically(void **state)
{
    char dir[] = "/tmp/ephport-test-textfile-XXXXXX", cmd[512], path[128];
    char *text;
    FILE *f;
    long len;
    if (*state)
        skip();
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ephport.prom", dir);
    for (int round = 0; round < 2; round++) { /* create, then replace */
        snprintf(cmd, sizeof cmd, "%s status --prometheus %s", bin(), path);
        assert_int_equal(system(cmd), 0);
    }
    f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)len + 1);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    assert_true(sample(text, "ephport_effective_ports") > 0);
    assert_true(sample(text, "ephport_last_read_timestamp_seconds") > 1e9);
    promtool_ok(text);
    free(text);
    /* Nothing but the file is left in the directory. */
    snprintf(cmd, sizeof cmd, "test \"$(ls -A %s)\" = ephport.prom", dir);
    assert_int_equal(system(cmd), 0);
    /* A directory as FILE: exit 1, with a message. */
    snprintf(cmd, sizeof cmd, "%s status --prometheus %s 2>&1 | grep -q 'Is a directory'",
             bin(), dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(metrics_match_status_json, kill_leftovers),
        cmocka_unit_test_teardown(bad_requests_never_stop_scrapes, kill_leftovers),
        cmocka_unit_test_teardown(slow_clients_do_not_stall_scrapes, kill_leftovers),
        cmocka_unit_test_teardown(connections_beyond_the_limit_wait, kill_leftovers),
        cmocka_unit_test_teardown(unreadable_namespace_answers_500, kill_leftovers),
        cmocka_unit_test_teardown(start_errors_are_clear, kill_leftovers),
        cmocka_unit_test_teardown(listens_on_every_address, kill_leftovers),
        cmocka_unit_test_teardown(status_prometheus_writes_atomically, kill_leftovers),
    };
    return cmocka_run_group_tests(tests, ns_setup, NULL);
}
