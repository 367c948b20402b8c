/* pg-util.c - see pg-util.h.  Commands run without a shell (fork + execv
 * of runuser), their output appended to DIR/server.log. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pg-util.h"

bool ep_test_pg_possible(char *why, size_t len)
{
    if (geteuid() != 0) {
        snprintf(why, len, "needs root to run a PostgreSQL server as the postgres user");
        return false;
    }
    if (access(EP_TEST_PG_BIN "/initdb", X_OK) != 0 || access(EP_TEST_PG_BIN "/pg_ctl", X_OK) != 0) {
        snprintf(why, len, "no PostgreSQL 15 server binaries in " EP_TEST_PG_BIN
                           " (Debian package postgresql-15)");
        return false;
    }
    if (!getpwnam("postgres")) {
        snprintf(why, len, "no 'postgres' user");
        return false;
    }
    return true;
}

/* runuser -u postgres -- argv...; exit status 0 -> 0. */
static int ep_pg_run(const ep_test_pg *pg, const char *const *argv)
{
    char logpath[96];
    const char *full[16] = { "runuser", "-u", "postgres", "--" };
    int n = 4, st;
    pid_t pid;
    while (*argv && n < 15)
        full[n++] = *argv++;
    full[n] = NULL;
    snprintf(logpath, sizeof logpath, "%s/server.log", pg->dir);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0666);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv("/usr/sbin/runuser", (char *const *)full);
        execvp("runuser", (char *const *)full);
        _exit(127);
    }
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int ep_test_pg_restart(ep_test_pg *pg)
{
    char data[96], opts[160];
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(opts, sizeof opts, "-k %s/sock -c listen_addresses=''", pg->dir);
    const char *argv[] = { EP_TEST_PG_BIN "/pg_ctl", "-D", data, "-o", opts, "-w", "-s", "start",
                           NULL };
    if (ep_pg_run(pg, argv) != 0)
        return -1;
    pg->running = true;
    return 0;
}

int ep_test_pg_stop(ep_test_pg *pg, const char *mode)
{
    char data[96];
    snprintf(data, sizeof data, "%s/data", pg->dir);
    const char *argv[] = { EP_TEST_PG_BIN "/pg_ctl", "-D", data, "-m", mode, "-w", "-s", "stop",
                           NULL };
    if (ep_pg_run(pg, argv) != 0)
        return -1;
    pg->running = false;
    return 0;
}

int ep_test_pg_sql(const ep_test_pg *pg, const char *sql)
{
    const char *argv[] = { "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg->uri, "-c", sql,
                           NULL };
    return ep_pg_run(pg, argv);
}

int ep_test_pg_start(ep_test_pg *pg, const char *db, char *why, size_t len)
{
    struct passwd *pw = getpwnam("postgres");
    char data[96], sock[96], admin[256];
    memset(pg, 0, sizeof *pg);
    snprintf(pg->dir, sizeof pg->dir, "/tmp/ep-pg-XXXXXX");
    if (!pw || !mkdtemp(pg->dir)) {
        snprintf(why, len, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(sock, sizeof sock, "%s/sock", pg->dir);
    if (mkdir(sock, 0700) != 0 || chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0 ||
        chown(sock, pw->pw_uid, pw->pw_gid) != 0) {
        snprintf(why, len, "preparing %s: %s", pg->dir, strerror(errno));
        ep_test_pg_remove(pg);
        return -1;
    }
    {
        const char *argv[] = { EP_TEST_PG_BIN "/initdb", "-D", data, "-A", "trust", "-U",
                               "postgres", "-N", NULL };
        if (ep_pg_run(pg, argv) != 0) {
            snprintf(why, len, "initdb failed (see %s/server.log)", pg->dir);
            ep_test_pg_remove(pg);
            return -1;
        }
    }
    if (ep_test_pg_restart(pg) != 0) {
        snprintf(why, len, "pg_ctl start failed");
        ep_test_pg_remove(pg);
        return -1;
    }
    snprintf(admin, sizeof admin, "postgresql:///postgres?host=%s&user=postgres", sock);
    snprintf(pg->uri, sizeof pg->uri, "%s", admin);
    {
        char sql[96];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
        if (ep_test_pg_sql(pg, sql) != 0) {
            snprintf(why, len, "CREATE DATABASE failed");
            ep_test_pg_remove(pg);
            return -1;
        }
    }
    snprintf(pg->uri, sizeof pg->uri, "postgresql:///%s?host=%s&user=postgres", db, sock);
    return 0;
}

void ep_test_pg_remove(ep_test_pg *pg)
{
    char cmd[128];
    if (!pg->dir[0])
        return;
    if (pg->running)
        ep_test_pg_stop(pg, "fast");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", pg->dir);
    pg->dir[0] = '\0';
}
