/* test-top-trace.c - `ephport top` with the eBPF tracer: a child drives
 * 50 connects/s towards 127.0.0.1:8080, 20/s towards :8081 and 5 failing
 * connects/s (EADDRNOTAVAIL: a one-port per-socket range, IP_LOCAL_PORT_RANGE,
 * whose port is held) towards :8082, paced on absolute deadlines; in every
 * frame of `top --json --interval 2` the TCP rates say "ebpf" and are
 * within 5 % of the driven rates, and the failures within one failure of
 * the driven count.  Suite integration; skips (saying why) when not root or
 * built without BPF. */
#include <errno.h>
#include <arpa/inet.h>
#include <math.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ep-host-config.h"
#include "netns-util.h"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

#define TT_SECONDS 11.0

static double tt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sockaddr_in tt_addr(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    return a;
}

/* A socket confined to local port 50000 (Linux 6.3). */
static int tt_confined(void)
{
    uint32_t range = 50000u | (50000u << 16);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof range) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The driver: three streams on absolute deadlines for TT_SECONDS. */
static int tt_drive(void)
{
    static const double rate[3] = { 50, 20, 5 };
    struct sockaddr_in dst[3] = { tt_addr(8080), tt_addr(8081), tt_addr(8082) };
    long done[3] = { 0, 0, 0 };
    double t0 = tt_now();
    int held = tt_confined();

    if (held < 0 || connect(held, (struct sockaddr *)&dst[2], sizeof dst[2]) != 0)
        return 2;
    for (;;) {
        double now = tt_now() - t0, next = INFINITY;
        int k = -1;
        if (now >= TT_SECONDS)
            return 0;
        for (int i = 0; i < 3; i++) {
            double due = (double)done[i] / rate[i];
            if (due < next)
                next = due, k = i;
        }
        if (next > now) {
            struct timespec ts = { 0, (long)((next - now) * 1e9) };
            nanosleep(&ts, NULL);
        }
        int fd = k == 2 ? tt_confined() : socket(AF_INET, SOCK_STREAM, 0);
        int rc = connect(fd, (struct sockaddr *)&dst[k], sizeof dst[k]);
        if (k == 2 ? !(rc == -1 && errno == EADDRNOTAVAIL) : rc != 0)
            return 3;
        close(fd);
        done[k]++;
    }
}

static void rates_within_five_percent(void **state)
{
    const char *bin = getenv("EPHPORT_BIN");
    char why[256];
    (void)state;
    EP_TEST_NEED_ROOT_BPF(EP_HAVE_BPF);
    assert_non_null(bin);
    assert_true(ep_test_enter_private_netns(why, sizeof why));
    int ls[3];
    for (int i = 0; i < 3; i++) {
        struct sockaddr_in a = tt_addr((uint16_t)(8080 + i));
        ls[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(bind(ls[i], (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(listen(ls[i], 4096), 0);
    }
    /* The driver first: every frame of top then lies inside the steady
     * streams (top's first sample starts them, as documented). */
    fflush(stderr);
    pid_t drv = fork();
    assert_true(drv >= 0);
    if (drv == 0)
        _exit(tt_drive());
    usleep(500000);
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t top = fork();
    assert_true(top >= 0);
    if (top == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(bin, bin, "top", "--json", "--interval", "2", "--iterations", "4", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[1 << 16];
    int frames = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        assert_non_null(j);
        frames++;
        assert_string_equal(json_string_value(json_object_get(j, "tcp_rates")), "ebpf");
        double seen[3] = { -1, -1, -1 }, failed = -1;
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(j, "destinations"), i, d)
        {
            int port = (int)json_integer_value(json_object_get(d, "remote_port"));
            if (port >= 8080 && port <= 8082)
                seen[port - 8080] = json_real_value(json_object_get(d, "new_per_second"));
            if (port == 8082)
                failed = json_real_value(json_object_get(d, "failures_per_second"));
        }
        fprintf(stderr, "frame %d: %.2f/s, %.2f/s, %.2f/s; failing %.2f/s\n", frames, seen[0],
                seen[1], seen[2], failed);
        if (fabs(seen[0] - 50) > 2.5 || fabs(seen[1] - 20) > 1.0 || seen[2] != 0 ||
            fabs(failed - 5) > 0.5 + 0.05 * 5)
            fail_msg("frame %d off the driven rates", frames);
        json_decref(j);
    }
    fclose(f);
    int st;
    assert_int_equal(waitpid(top, &st, 0), top);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(frames, 4);
    assert_int_equal(waitpid(drv, &st, 0), drv);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0); /* every call as driven */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rates_within_five_percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
