/* screen.c - the ncurses plumbing the terminal views share (screen.h):
 * one place that takes the terminal and gives it back as it was, so that
 * every view restores it on every way out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "screen.h"

static bool ep_screen_color;

SCREEN *ep_screen_open(const char *cmd, const char *hint)
{
    SCREEN *scr = newterm(NULL, stdout, stdin);

    if (!scr) {
        ep_cli_error(cmd, "cannot set up the terminal (TERM=%s); try %s",
                     getenv("TERM") ? getenv("TERM") : "", hint);
        return NULL;
    }
    set_term(scr);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    ep_screen_color = ep_cli_use_color(stdout) && has_colors();
    if (ep_screen_color) {
        start_color();
        use_default_colors();
        init_pair(EP_SCREEN_RED, COLOR_RED, -1);
        init_pair(EP_SCREEN_YELLOW, COLOR_YELLOW, -1);
    }
    return scr;
}

void ep_screen_close(SCREEN *scr)
{
    if (!scr)
        return;
    endwin();
    delscreen(scr);
}

void ep_screen_row(int y, const char *line, int pair)
{
    bool on = ep_screen_color && pair;
    if (on)
        attron(COLOR_PAIR(pair));
    mvaddnstr(y, 0, line, COLS);
    if (on)
        attroff(COLOR_PAIR(pair));
}

void ep_screen_advice(int y, const ep_host_advice *a, size_t n)
{
    char line[512];
    for (size_t i = 0; i < n && i < 2 && y < LINES - 1; i++) {
        snprintf(line, sizeof line, "%s: %s", ep_host_severity_name(a[i].severity), a[i].message);
        mvaddnstr(y++, 0, line, COLS);
    }
}

void ep_screen_colhead(int y, const char *line)
{
    attron(A_REVERSE);
    mvaddnstr(y, 0, line, COLS);
    for (int x = (int)strlen(line); x < COLS; x++)
        mvaddch(y, x, ' ');
    attroff(A_REVERSE);
}

void ep_screen_keys(const char *line)
{
    attron(A_BOLD);
    mvaddnstr(LINES - 1, 0, line, COLS);
    attroff(A_BOLD);
}

double ep_screen_step_interval(double cur, int dir)
{
    static const double steps[] = { 0.25, 0.5, 1, 2, 5, 10, 30, 60 };
    const size_t n = sizeof steps / sizeof steps[0];
    size_t i = 0;

    /* Nearest step at or above the current interval, then move. */
    while (i < n - 1 && steps[i] < cur - 1e-9)
        i++;
    if (dir > 0 && steps[i] <= cur + 1e-9 && i < n - 1)
        i++;
    else if (dir < 0 && i > 0)
        i--;
    return steps[i];
}
