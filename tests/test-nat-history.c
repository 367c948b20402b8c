/* test-nat-history.c - plan histories you can trust: a changed digit is
 * refused with its line named, concurrent appends (20 processes at once)
 * lose nothing (flock), the file keeps its mode, and a format-1 history is
 * read and becomes format 2 (comments kept) on the next append. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ephport/nat.h>

#include "tmpdir-util.h"

static ep_nat_plan *plan(const char *outside)
{
    ep_nat_config cfg = { .inside = "100.64.0.0/24", .outside = outside };
    ep_nat_plan *p = NULL;
    ep_parse_error err;
    if (ep_nat_plan_new(&cfg, &p, &err) != 0)
        fail_msg("%s", err.message);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1 << 16);
    assert_non_null(f);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

static void spill(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* The case: one digit changed (the external address) and whois
 * would name another subscriber.  Every single-digit change of every plan
 * line is refused, naming the line. */
static void changed_digit_is_refused(void **state)
{
    char path[256];
    ep_nat_plan *p = plan("203.0.113.1"), *q = plan("203.0.113.1,203.0.113.2");
    ep_nat_history *h;
    ep_parse_error err;
    size_t len;
    char *text;
    int refused = 0, tried = 0;
    (void)state;
    snprintf(path, sizeof path, "%s/digits", ep_test_dir);
    assert_int_equal(ep_nat_history_append(path, p, 1000, &err), 0);
    assert_int_equal(ep_nat_history_append(path, q, 2000, &err), 0);
    text = slurp(path, &len);
    assert_non_null(strstr(text, "ephport-nat-plans 2\n"));
    assert_int_equal(ep_nat_history_parse(text, len, &h, &err), 0);
    ep_nat_history_free(h);
    for (size_t i = strstr(text, "\nplan") - text; i < len; i++) {
        char c = text[i];
        if (c < '0' || c > '9')
            continue;
        text[i] = c == '9' ? '0' : (char)(c + 1);
        tried++;
        memset(&err, 0, sizeof err);
        if (ep_nat_history_parse(text, len, &h, &err) == EP_EINVAL &&
            (strstr(err.message, "checksum") || strstr(err.message, "line")))
            refused++;
        else
            fail_msg("digit %zu changed ('%c' -> '%c') was accepted", i, c, text[i]);
        text[i] = c;
    }
    fprintf(stderr, "%d single-digit changes, %d refused\n", tried, refused);
    assert_true(tried > 50);
    /* the message names the line and the cause */
    {
        char *at = strstr(text, "outside=203.0.113.1 ");
        at[18] = '7';
        assert_int_equal(ep_nat_history_parse(text, len, &h, &err), EP_EINVAL);
        assert_non_null(strstr(err.message, "line 3: checksum mismatch"));
    }
    free(text);
    ep_nat_plan_free(p);
    ep_nat_plan_free(q);
}

static void mode_is_kept(void **state)
{
    static const mode_t modes[] = { 0644, 0640, 0600, 0664 };
    ep_nat_plan *p = plan("203.0.113.1");
    ep_parse_error err;
    (void)state;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char path[256];
        struct stat sb;
        snprintf(path, sizeof path, "%s/mode-%zu", ep_test_dir, i);
        assert_int_equal(ep_nat_history_append(path, p, 1000, &err), 0);
        assert_int_equal(chmod(path, modes[i]), 0);
        assert_int_equal(ep_nat_history_append(path, p, 2000, &err), 0);
        assert_int_equal(stat(path, &sb), 0);
        if ((sb.st_mode & 07777) != modes[i])
            fail_msg("mode %04o became %04o after an append", (unsigned)modes[i],
                     (unsigned)(sb.st_mode & 07777));
    }
    ep_nat_plan_free(p);
}

/* 20 processes append at once (released together by closing a pipe);
 * every append that reports success is in the file, and the others were
 * refused for the one legitimate reason (valid-from not after the last).
 * Rounds 0-1 try once each; rounds 2-4 read the last plan and append one
 * second later until they get in, so all 20 must end up in the file. */
static void concurrent_appends_lose_nothing(void **state)
{
    enum { N = 20, ROUNDS = 5 };
    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        char path[256];
        int go[2], ok = 0, refused = 0;
        pid_t pids[N];
        ep_nat_history *h;
        ep_parse_error err;
        snprintf(path, sizeof path, "%s/concurrent-%d", ep_test_dir, round);
        assert_int_equal(pipe(go), 0);
        for (int i = 0; i < N; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                char c;
                ep_nat_plan *p;
                close(go[1]);
                p = plan(i % 2 ? "203.0.113.1" : "203.0.113.1,203.0.113.2");
                (void)!read(go[0], &c, 1);   /* EOF when the parent closes it */
                if (round < 2) {
                    /* one try each: refused when a later plan got in first */
                    if (ep_nat_history_append(path, p, 1000 + (round ? N - i : i), &err) == 0)
                        _exit(0);
                    _exit(strstr(err.message, "is not after the last plan") ? 1 : 2);
                }
                /* read the last plan, append one second later, again when
                 * another got in first: every child must succeed */
                for (int t = 0; t < 1000; t++) {
                    int64_t last = 999;
                    int rc = ep_nat_history_load(path, &h, &err);
                    if (rc == 0) {
                        ep_nat_history_at(h, ep_nat_history_count(h) - 1, &last, NULL);
                        ep_nat_history_free(h);
                    } else if (rc != EP_ENOENT) {
                        _exit(2);
                    }
                    if (ep_nat_history_append(path, p, last + 1, &err) == 0)
                        _exit(0);
                    if (!strstr(err.message, "is not after the last plan"))
                        _exit(2);
                }
                _exit(2);
            }
        }
        close(go[0]);
        close(go[1]);
        for (int i = 0; i < N; i++) {
            int st;
            assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
            assert_true(WIFEXITED(st));
            if (WEXITSTATUS(st) == 0)
                ok++;
            else if (WEXITSTATUS(st) == 1)
                refused++;
            else
                fail_msg("round %d: an append failed for another reason", round);
        }
        assert_int_equal(ep_nat_history_load(path, &h, &err), 0);
        fprintf(stderr, "round %d: %d appends reported success, %d refused, %zu plans in the file\n",
                round, ok, refused, ep_nat_history_count(h));
        if (ep_nat_history_count(h) != (size_t)ok)
            fail_msg("round %d: %d appends reported success, %zu plans in the file", round, ok,
                     ep_nat_history_count(h));
        assert_true(ok >= 1);
        if (round >= 2)
            assert_int_equal(ok, N);
        ep_nat_history_free(h);
    }
}

static void format1_becomes_format2(void **state)
{
    char path[256];
    static const char v1[] =
        "# kept comment\n"
        "ephport-nat-plans 1\n"
        "plan valid-from=1970-01-01T00:16:40Z inside=100.64.0.0/24 outside=203.0.113.1 "
        "ports=1024-65535 block-size=252\n";
    ep_nat_plan *p = plan("203.0.113.1,203.0.113.2");
    ep_nat_history *h;
    ep_parse_error err;
    size_t len;
    char *text;
    (void)state;
    snprintf(path, sizeof path, "%s/v1", ep_test_dir);
    spill(path, v1, sizeof v1 - 1);
    assert_int_equal(ep_nat_history_load(path, &h, &err), 0);   /* format 1 is still read */
    ep_nat_history_free(h);
    assert_int_equal(ep_nat_history_append(path, p, 2000, &err), 0);
    text = slurp(path, &len);
    assert_non_null(strstr(text, "# kept comment\nephport-nat-plans 2\nplan valid-from=1970-01-01T00:16:40Z "
                                 "inside=100.64.0.0/24 outside=203.0.113.1 ports=1024-65535 "
                                 "block-size=252 sum="));
    assert_int_equal(ep_nat_history_parse(text, len, &h, &err), 0);
    assert_int_equal(ep_nat_history_count(h), 2);
    ep_nat_history_free(h);
    free(text);
    ep_nat_plan_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(changed_digit_is_refused),
        cmocka_unit_test(mode_is_kept),
        cmocka_unit_test(concurrent_appends_lose_nothing),
        cmocka_unit_test(format1_becomes_format2),
    };
    return cmocka_run_group_tests(tests, ep_test_dir_make, ep_test_dir_remove);
}
