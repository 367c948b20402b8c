/* trace-screen.c - the refreshing terminal view of `ephport trace`:
 * ncurses, a header, the last interval's destinations redrawn in place,
 * and below them the latest failure lines, as many as fit; every failure
 * is counted, and the header says how many were not shown.  q quits; a
 * resize redraws.  The line log (trace.c) is what a pipe or --scroll gets:
 * a view that refreshes keeps no history, a log keeps it all. */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curses.h>

#include "cli.h"
#include "screen.h"
#include "trace.h"

#define EP_TRACE_SCREEN_ROWS 256    /* destination rows kept (the view shows what fits) */
#define EP_TRACE_SCREEN_LINES 256   /* latest failure lines kept */
#define EP_TRACE_SCREEN_LINE 256
#define EP_TRACE_SCREEN_MIN_GAP 0.2 /* seconds between redraws caused by failures */

struct ep_trace_screen {
    SCREEN *term;
    bool dirty;
    char scope[160], method[160];
    double interval, last_draw;
    /* The last interval. */
    bool have_interval;
    char when[32];
    size_t ndests;
    uint64_t iv_failures, lost_events, lost_counts, lost_calls;
    char tw_why[200];
    size_t nrows;
    char rows[EP_TRACE_SCREEN_ROWS][EP_TRACE_SCREEN_LINE];
    /* Failures: a ring of the latest lines, and counts. */
    uint64_t failures_now, failures_total;
    size_t nlines, next_line;
    char lines[EP_TRACE_SCREEN_LINES][EP_TRACE_SCREEN_LINE];
};

static double ep_trace_screen_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

ep_trace_screen *ep_trace_screen_open(const char *scope, const char *method, double interval)
{
    ep_trace_screen *s = calloc(1, sizeof *s);

    if (!s) {
        ep_cli_error("trace", "out of memory");
        return NULL;
    }
    s->term = ep_screen_open("trace", "--scroll");
    if (!s->term) {
        free(s);
        return NULL;
    }
    nodelay(stdscr, TRUE); /* keys are read between polls of the kernel */
    snprintf(s->scope, sizeof s->scope, "%s", scope);
    snprintf(s->method, sizeof s->method, "%s", method);
    s->interval = interval;
    s->dirty = true;
    return s;
}

void ep_trace_screen_failure(ep_trace_screen *s, const ep_trace_failure *f)
{
    ep_trace_fmt_failure(f, s->lines[s->next_line], EP_TRACE_SCREEN_LINE);
    s->next_line = (s->next_line + 1) % EP_TRACE_SCREEN_LINES;
    if (s->nlines < EP_TRACE_SCREEN_LINES)
        s->nlines++;
    s->failures_now++;
    s->failures_total++;
    s->dirty = true;
}

void ep_trace_screen_interval(ep_trace_screen *s, const ep_trace_interval *iv)
{
    time_t end = (time_t)(iv->end_ns / 1000000000);
    struct tm tm;

    s->have_interval = true;
    if (gmtime_r(&end, &tm))
        strftime(s->when, sizeof s->when, "%H:%M:%SZ", &tm);
    s->ndests = iv->ndests;
    s->iv_failures = s->failures_now;
    s->failures_now = 0;
    s->lost_events = iv->lost_events;
    s->lost_counts = iv->lost_counts;
    s->lost_calls = iv->lost_calls;
    snprintf(s->tw_why, sizeof s->tw_why, "%s", iv->timewait_why ? iv->timewait_why : "");
    s->nrows = iv->ndests < EP_TRACE_SCREEN_ROWS ? iv->ndests : EP_TRACE_SCREEN_ROWS;
    for (size_t i = 0; i < s->nrows; i++)
        ep_trace_fmt_dest(&iv->dests[i], s->rows[i], EP_TRACE_SCREEN_LINE);
    s->dirty = true;
}

bool ep_trace_screen_keys(ep_trace_screen *s)
{
    int ch;

    while ((ch = getch()) != ERR) {
        if (ch == 'q' || ch == 'Q')
            return true;
        s->dirty = true; /* KEY_RESIZE, or any key: redraw */
    }
    return false;
}

/* The i-th latest failure line (0: the newest). */
static const char *ep_trace_screen_line(const ep_trace_screen *s, size_t i)
{
    assert(i < s->nlines);
    return s->lines[(s->next_line + EP_TRACE_SCREEN_LINES - 1 - i) % EP_TRACE_SCREEN_LINES];
}

void ep_trace_screen_draw(ep_trace_screen *s, bool force)
{
    char line[EP_TRACE_SCREEN_LINE * 2];
    int rows = LINES, cols = COLS, y = 0;
    double now = ep_trace_screen_now();
    size_t room, nshow, nfail;

    if (!force && (!s->dirty || now - s->last_draw < EP_TRACE_SCREEN_MIN_GAP))
        return;
    s->dirty = false;
    s->last_draw = now;
    erase();
    snprintf(line, sizeof line, "ephport trace: %s (%s), every %g s", s->scope, s->method,
             s->interval);
    attron(A_BOLD);
    mvaddnstr(y++, 0, line, cols);
    attroff(A_BOLD);
    if (s->have_interval)
        snprintf(line, sizeof line,
                 "interval to %s: %zu destination%s, %" PRIu64 " failure%s; lost: %" PRIu64
                 " events, %" PRIu64 " counts, %" PRIu64 " calls",
                 s->when, s->ndests, s->ndests == 1 ? "" : "s", s->iv_failures,
                 s->iv_failures == 1 ? "" : "s", s->lost_events, s->lost_counts, s->lost_calls);
    else
        snprintf(line, sizeof line, "the first interval's counts appear after %g s",
                 s->interval);
    mvaddnstr(y++, 0, line, cols);
    y++;
    /* Half of what is left below the header for destinations (at least
     * their heads and one row), the rest for failures, the last line keys. */
    room = rows > y + 6 ? (size_t)(rows - y - 4) / 2 : 1;
    ep_trace_fmt_colhead(line, sizeof line);
    ep_screen_colhead(y++, line);
    nshow = s->nrows < room ? s->nrows : room;
    for (size_t i = 0; i < nshow && y < rows - 1; i++)
        mvaddnstr(y++, 0, s->rows[i], cols);
    if (s->ndests > nshow && y < rows - 1) {
        snprintf(line, sizeof line, "(%zu more destinations; --json lists all)",
                 s->ndests - nshow);
        mvaddnstr(y++, 0, line, cols);
    }
    if (s->tw_why[0] && y < rows - 1) {
        snprintf(line, sizeof line, "TIME_WAIT unknown: %s", s->tw_why);
        mvaddnstr(y++, 0, line, cols);
    }
    y++;
    nfail = rows - 1 > y + 1 ? (size_t)(rows - 1 - y - 1) : 0;
    if (nfail > s->nlines)
        nfail = s->nlines;
    if (y < rows - 1) {
        uint64_t hidden = s->failures_total - nfail;
        snprintf(line, sizeof line,
                 "failures: %" PRIu64 " since start, %" PRIu64 " this interval; "
                 "the latest %zu below, %" PRIu64 " not shown (--json or --scroll keeps them)",
                 s->failures_total, s->failures_now, nfail, hidden);
        attron(A_BOLD);
        mvaddnstr(y++, 0, line, cols);
        attroff(A_BOLD);
    }
    /* Oldest of those shown first, so the newest is at the bottom, as in
     * the log. */
    for (size_t i = nfail; i-- > 0 && y < rows - 1;)
        ep_screen_row(y++, ep_trace_screen_line(s, i), EP_SCREEN_RED);
    ep_screen_keys("q quit");
    refresh();
}

/* What stays on the terminal once the view is gone (most terminals give
 * the screen back as it was before it): the last interval's table and the
 * latest failures, as the log prints them. */
static void ep_trace_screen_leave_summary(const ep_trace_screen *s)
{
    char line[EP_TRACE_SCREEN_LINE * 2];
    size_t nfail = s->nlines < 20 ? s->nlines : 20;

    printf("ephport trace: %s (%s): %" PRIu64 " failure%s since the start", s->scope, s->method,
           s->failures_total, s->failures_total == 1 ? "" : "s");
    if (s->have_interval)
        printf("; the last interval, to %s: %zu destination%s, lost %" PRIu64 " events, %" PRIu64
               " counts, %" PRIu64 " calls",
               s->when, s->ndests, s->ndests == 1 ? "" : "s", s->lost_events, s->lost_counts,
               s->lost_calls);
    printf("\n");
    if (s->nrows) {
        ep_trace_fmt_colhead(line, sizeof line);
        puts(line);
        for (size_t i = 0; i < s->nrows && i < 20; i++)
            puts(s->rows[i]);
    }
    if (nfail < s->failures_total)
        printf("the latest %zu failures (%" PRIu64 " not shown):\n", nfail,
               s->failures_total - nfail);
    for (size_t i = nfail; i-- > 0;)
        puts(ep_trace_screen_line(s, i));
    fflush(stdout);
}

void ep_trace_screen_close(ep_trace_screen *s)
{
    if (!s)
        return;
    ep_screen_close(s->term);
    ep_trace_screen_leave_summary(s);
    free(s);
}
