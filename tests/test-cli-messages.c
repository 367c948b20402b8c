/* test-cli-messages.c - what an operator sees when a command line is wrong
 * or a file cannot be written: every message names "ephport CMD" (never
 * the binary's path or a bare "status:"), says the reason (a namespace
 * NAME is looked up in /run/netns; a /proc file cannot be replaced), and
 * the options mean the same in every command (--top 0 = all; percentages
 * are decimal).  Runs the built binary (EPHPORT_BIN); no privilege needed
 * except where a case says so. */
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

struct ep_run {
    int rc;          /* exit status */
    char out[8192];  /* stdout */
    char err[8192];  /* stderr */
};

static void ep_slurp(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
}

/* Run EPHPORT_BIN with the NULL-terminated arguments. */
static void ep_run(struct ep_run *r, ...)
{
    const char *bin = getenv("EPHPORT_BIN");
    char *argv[32], outp[] = "/tmp/ep-cli-out-XXXXXX", errp[] = "/tmp/ep-cli-err-XXXXXX";
    int n = 0, fo, fe, st;
    va_list ap;
    pid_t pid;

    assert_non_null(bin);
    argv[n++] = (char *)bin;
    va_start(ap, r);
    while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    fo = mkstemp(outp);
    fe = mkstemp(errp);
    assert_true(fo >= 0 && fe >= 0);
    unlink(outp);
    unlink(errp);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        execv(bin, argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    r->rc = WEXITSTATUS(st);
    ep_slurp(fo, r->out, sizeof r->out);
    ep_slurp(fe, r->err, sizeof r->err);
}

static void ep_expect_prefix(const char *text, const char *prefix)
{
    if (strncmp(text, prefix, strlen(prefix)) != 0)
        fail_msg("expected a message starting '%s', got '%s'", prefix, text);
}

/* getopt's own messages carry the command's name, as ep_cli_error does. */
static void unknown_options_name_the_command(void **state)
{
    static const char *const cmds[][2] = {
        { "status", NULL }, { "top", NULL }, { "advise", NULL }, { "exporter", NULL },
        { "simulate", NULL }, { "plan", NULL }, { "profiles", NULL }, { "exec", NULL },
    };
    struct ep_run r;
    char want[64];
    (void)state;
    ep_run(&r, "--bogus", NULL);
    assert_int_equal(r.rc, 2);
    ep_expect_prefix(r.err, "ephport: unrecognized option '--bogus'");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        ep_run(&r, cmds[i][0], "--bogus", NULL);
        assert_int_equal(r.rc, 2);
        snprintf(want, sizeof want, "ephport %s: unrecognized option '--bogus'", cmds[i][0]);
        ep_expect_prefix(r.err, want);
    }
    ep_run(&r, "status", "--top", NULL);
    assert_int_equal(r.rc, 2);
    ep_expect_prefix(r.err, "ephport status: option '--top' requires an argument");
    ep_run(&r, "nat", "plan", "--bogus", NULL);
    assert_int_equal(r.rc, 2);
    ep_expect_prefix(r.err, "ephport nat plan: unrecognized option '--bogus'");
    ep_run(&r, "nat", "whois", "--bogus", NULL);
    ep_expect_prefix(r.err, "ephport nat whois: unrecognized option '--bogus'");
}

/* top explains a namespace NAME as status does. */
static void top_explains_a_missing_namespace(void **state)
{
    struct ep_run r;
    (void)state;
    ep_run(&r, "top", "--once", "--netns", "no-such-namespace-xyz", NULL);
    assert_int_equal(r.rc, 1);
    ep_expect_prefix(r.err, "ephport top: cannot read namespace 'no-such-namespace-xyz'");
    assert_non_null(strstr(r.err, "/run/netns"));
    ep_run(&r, "status", "--netns", "no-such-namespace-xyz", NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "/run/netns"));
}

/* --top 0 means all destinations in status and in top alike. */
static void top_zero_means_all_everywhere(void **state)
{
    struct ep_run r;
    (void)state;
    ep_run(&r, "top", "--top", "0", "--once", "--interval", "0.25", "--json", NULL);
    if (r.rc == 1) { /* the host itself unreadable here: say so, but the option was taken */
        assert_null(strstr(r.err, "--top"));
    } else {
        assert_int_equal(r.rc, 0);
    }
    ep_run(&r, "top", "--top", "x", "--once", NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "0 = all"));
    ep_run(&r, "status", "--top", "0", "--json", NULL);
    assert_true(r.rc == 0 || r.rc == 1);
}

/* --prometheus says why a file cannot be written; with --json it is refused. */
static void status_prometheus_errors(void **state)
{
    struct ep_run r;
    char dir[] = "/tmp/ep-cli-prom-XXXXXX", path[96];
    struct stat st;
    (void)state;
    ep_run(&r, "status", "--prometheus", "/proc/version", NULL);
    assert_int_equal(r.rc, 1);
    ep_expect_prefix(r.err, "ephport status: --prometheus: cannot write /proc/version: "
                            "cannot create the temporary file beside it in /proc");

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ephport.prom", dir);
    ep_run(&r, "status", "--json", "--prometheus", path, NULL);
    assert_int_equal(r.rc, 2);
    ep_expect_prefix(r.err, "ephport status: --json and --prometheus");
    assert_int_equal(r.out[0], '\0');
    assert_int_equal(stat(path, &st), -1); /* nothing written */
    ep_run(&r, "status", "--prometheus", path, "--json", NULL);
    assert_int_equal(r.rc, 2);
    assert_int_equal(rmdir(dir), 0);
}

/* check takes percentages in decimal only: 0x50 is not 80. */
static void check_percentages_are_decimal(void **state)
{
    static const char *const bad[] = { "0x50", "8e1", " 80", "+80", "80.125", "80.", ".5",
                                       "100.01", "inf", "nan", "" };
    struct ep_run r;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ep_run(&r, "check", "--warn", bad[i], NULL);
        if (r.rc != 3)
            fail_msg("check --warn '%s' exited %d, not 3 (UNKNOWN): %s", bad[i], r.rc, r.out);
        ep_expect_prefix(r.out, "EPHPORT UNKNOWN - --warn wants a decimal percentage");
        ep_run(&r, "check", "--crit", bad[i], NULL);
        assert_int_equal(r.rc, 3);
    }
    ep_run(&r, "check", "--warn", "80.25", "--crit", "95.5", NULL);
    assert_null(strstr(r.out, "--warn wants"));
    assert_null(strstr(r.out, "--crit wants"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_options_name_the_command),
        cmocka_unit_test(top_explains_a_missing_namespace),
        cmocka_unit_test(top_zero_means_all_everywhere),
        cmocka_unit_test(status_prometheus_errors),
        cmocka_unit_test(check_percentages_are_decimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
