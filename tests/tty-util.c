/* tty-util.c - see tty-util.h: one program on a pseudo-terminal, read. */
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tty-util.h"

void ep_tty_start(struct ep_tty *t, const char *const *args, int rows, int cols)
{
    const char *bin = getenv("EPHPORT_BIN");
    struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
    const char *argv[16] = { bin };
    size_t n = 1;

    assert_non_null(bin);
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    t->len = 0;
    t->buf[0] = '\0';
    t->pid = forkpty(&t->master, NULL, NULL, &ws);
    assert_true(t->pid >= 0);
    if (t->pid == 0) {
        setenv("TERM", "xterm", 1);
        setenv("NO_COLOR", "1", 1);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
}

bool ep_tty_wait_for(struct ep_tty *t, size_t from, const char *needle)
{
    for (int rounds = 0; rounds < 200; rounds++) {
        struct pollfd p = { .fd = t->master, .events = POLLIN };
        ssize_t n;
        t->buf[t->len] = '\0';
        if (needle && t->len > from && strstr(t->buf + from, needle))
            return true;
        if (t->len + 1 >= sizeof t->buf || poll(&p, 1, 100) <= 0)
            continue;
        n = read(t->master, t->buf + t->len, sizeof t->buf - 1 - t->len);
        if (n <= 0)
            return needle == NULL; /* EOF / EIO: the program has gone */
        t->len += (size_t)n;
    }
    return false;
}

int ep_tty_finish(struct ep_tty *t, struct termios *after)
{
    int st;
    assert_true(ep_tty_wait_for(t, 0, NULL));
    assert_int_equal(waitpid(t->pid, &st, 0), t->pid);
    /* The pty keeps its settings after the program exits. */
    assert_int_equal(tcgetattr(t->master, after), 0);
    close(t->master);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
