/* top-screen.c - the terminal view of `ephport top`: ncurses, one full
 * erase + redraw per frame (ncurses sends only the cells that changed, so
 * nothing flickers), keys q / s / + / -, and the way out: q, SIGINT and
 * SIGTERM all leave the loop so that endwin() restores the terminal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "cli.h"
#include "screen.h"
#include "top.h"

static void ep_top_draw(const struct ep_top_state *st)
{
    char l1[512], l2[512], l3[512], l4[512], line[512];
    const ep_host_advice *adv;
    size_t nadv, room, nshow;
    int wl, wr, wn, y = 0, rows = LINES, cols = COLS;

    erase();
    ep_top_fmt_header(st, l1, l2, l3, l4, sizeof l1);
    mvaddnstr(y++, 0, l1, cols);
    mvaddnstr(y++, 0, l2, cols);
    mvaddnstr(y++, 0, l3, cols);
    mvaddnstr(y++, 0, l4, cols);
    adv = ep_top_advice(st, &nadv);
    /* Header (4), blank, column heads, rows, blank, up to 2 advice lines, keys. */
    room = rows > 11 ? (size_t)(rows - 6 - 1 - (nadv ? (nadv > 1 ? 3 : 2) : 0) - 1) : 1;
    nshow = st->nrows < room ? st->nrows : room;
    if (st->o.top && nshow > st->o.top)
        nshow = st->o.top;
    ep_top_widths(st, nshow, &wl, &wr, &wn);
    y++;
    ep_top_fmt_colhead(wl, wr, wn, line, sizeof line);
    ep_screen_colhead(y++, line);
    for (size_t i = 0; i < nshow && y < rows - 1; i++) {
        const ep_host_dest *d = st->rows[i].d;
        int pair = d->pressure >= 0.95 ? EP_SCREEN_RED : d->pressure >= 0.80 ? EP_SCREEN_YELLOW : 0;
        ep_top_fmt_row(&st->rows[i], wl, wr, wn, line, sizeof line);
        ep_screen_row(y++, line, pair);
    }
    if (st->nrows > nshow && y < rows - 1) {
        snprintf(line, sizeof line, "(%zu more destinations)", st->nrows - nshow);
        mvaddnstr(y++, 0, line, cols);
    }
    y++;
    ep_screen_advice(y, adv, nadv);
    snprintf(line, sizeof line, "q quit  s sort (%s)  +/- interval (%g s)%s",
             ep_top_sort_names[st->o.sort], st->o.interval,
             st->have_prev ? "" : "  rates appear after the second sample");
    ep_screen_keys(line);
    refresh();
}

int ep_top_view_key(int ch, struct ep_top_opts *o)
{
    if (ch == 'q' || ch == 'Q')
        return -1;
    if (ch == 's' || ch == 'S') {
        o->sort = (enum ep_top_sort)((o->sort + 1) % EP_TOP_NSORT);
        return 1;
    }
    if (ch == '+' || ch == '=')
        o->interval = ep_screen_step_interval(o->interval, +1);
    else if (ch == '-' || ch == '_')
        o->interval = ep_screen_step_interval(o->interval, -1);
    return 0;
}

int ep_top_run_screen(struct ep_top_state *st)
{
    SCREEN *scr;
    int rc, result = EP_EXIT_OK;
    double last;

    /* Read once before touching the terminal, so errors print plainly. */
    rc = ep_top_sample(st);
    if (rc < 0) {
        ep_top_read_error(st, rc);
        return EP_EXIT_FAILURE;
    }
    last = ep_top_now();
    scr = ep_screen_open("top", "--batch");
    if (!scr)
        return EP_EXIT_FAILURE;
    ep_top_draw(st);

    while (!ep_top_stop) {
        double left = last + st->o.interval - ep_top_now();
        int ch;
        if (left <= 0) {
            rc = ep_top_sample(st);
            if (rc < 0) {
                result = rc;
                break;
            }
            last = ep_top_now();
            ep_top_draw(st);
            continue;
        }
        timeout((int)ceil(left * 1000.0));
        ch = getch();
        if (ch == ERR)
            continue; /* timeout or signal: the loop checks both */
        int act = ep_top_view_key(ch, &st->o);
        if (act < 0)
            break;
        if (act > 0)
            ep_top_sort_rows(st);
        ep_top_draw(st); /* also after KEY_RESIZE */
    }
    ep_screen_close(scr);
    if (result < 0) {
        ep_top_read_error(st, result);
        return EP_EXIT_FAILURE;
    }
    return EP_EXIT_OK;
}
