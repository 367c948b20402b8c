/* screen.h - what the terminal views of top, top --snat and trace share
 * (screen.c): taking the terminal with ncurses and giving it back, the
 * coloured rows, the reverse-video column heads, the advice lines, the bold
 * key line, and the steps the +/- keys move the interval through.  One
 * terminal at a time: screen.c remembers whether it uses colour. */
#ifndef EP_CLI_SCREEN_H
#define EP_CLI_SCREEN_H

#include <stdbool.h>

#include <curses.h>

#include <ephport/host.h>

/* Colour pairs set up when colour is used. */
enum { EP_SCREEN_RED = 1, EP_SCREEN_YELLOW = 2 };

/* Take the terminal (stdout, keys from stdin): cbreak, no echo, keypad, no
 * cursor; colour is used when the terminal has it and NO_COLOR is unset.
 * NULL after printing "ephport CMD: cannot set up the terminal (TERM=...);
 * try HINT". */
SCREEN *ep_screen_open(const char *cmd, const char *hint);
/* endwin() and free it; NULL is fine. */
void ep_screen_close(SCREEN *scr);
/* A line at row y, in colour pair `pair` (0: none) when colour is used. */
void ep_screen_row(int y, const char *line, int pair);
/* Up to two advice lines ("warning: ...") from row y, above the key line. */
void ep_screen_advice(int y, const ep_host_advice *a, size_t n);
/* The column heads at row y, reverse video across the whole width. */
void ep_screen_colhead(int y, const char *line);
/* The key line, bold, on the last row. */
void ep_screen_keys(const char *line);
/* The next interval the +/- keys give from cur (dir +1 or -1): 0.25, 0.5,
 * 1, 2, 5, 10, 30, 60 s. */
double ep_screen_step_interval(double cur, int dir);

#endif
