/* tty-util.h - running $EPHPORT_BIN on a pseudo-terminal, as a user at a
 * terminal would (TERM=xterm, NO_COLOR=1), and reading what it draws: the
 * terminal views of top and trace are tested through it.  cmocka asserts. */
#ifndef EP_TEST_TTY_UTIL_H
#define EP_TEST_TTY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <termios.h>

struct ep_tty {
    pid_t pid;
    int master;
    size_t len;
    char buf[1 << 18];   /* what it wrote so far, NUL-terminated */
};

/* Start `$EPHPORT_BIN args...` (args NULL-terminated, at most 14) on a
 * rows x cols pseudo-terminal. */
void ep_tty_start(struct ep_tty *t, const char *const *args, int rows, int cols);
/* Read until needle shows up after offset from, or (needle NULL) until
 * EOF; 20 s at most, a guard against hanging, not a timing assertion.
 * True if seen (needle NULL: if EOF came). */
bool ep_tty_wait_for(struct ep_tty *t, size_t from, const char *needle);
/* Read to EOF, reap the program, and give the terminal's settings after
 * it (ncurses must restore them); its exit status, or 128 + signal. */
int ep_tty_finish(struct ep_tty *t, struct termios *after);

#endif
