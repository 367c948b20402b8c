/* screen.h - what the terminal views of top, top --snat and trace share
 * (screen.c): taking the terminal with ncurses and giving it back, the
 * colours, the reverse-video column heads, the bold key line, and the steps
 * the +/- keys move the interval through. */
#ifndef EP_CLI_SCREEN_H
#define EP_CLI_SCREEN_H

#include <stdbool.h>

#include <curses.h>

/* Colour pairs set up when colour is used. */
enum { EP_SCREEN_RED = 1, EP_SCREEN_YELLOW = 2 };

/* Take the terminal (stdout, keys from stdin): cbreak, no echo, keypad, no
 * cursor; *color says whether colour is used (a terminal that has it, and
 * NO_COLOR unset).  NULL after printing "ephport CMD: cannot set up the
 * terminal (TERM=...); try HINT". */
SCREEN *ep_screen_open(const char *cmd, const char *hint, bool *color);
/* endwin() and free it; NULL is fine. */
void ep_screen_close(SCREEN *scr);
/* The column heads at row y, reverse video across the whole width. */
void ep_screen_colhead(int y, const char *line);
/* The key line, bold, on the last row. */
void ep_screen_keys(const char *line);
/* The next interval the +/- keys give from cur (dir +1 or -1): 0.25, 0.5,
 * 1, 2, 5, 10, 30, 60 s. */
double ep_screen_step_interval(double cur, int dir);

#endif
