/* trace.h - what the files of `ephport trace` share.  trace.c: the command
 * line, the loop, JSON and the line log (a pipe, a file, --scroll);
 * trace-screen.c: the refreshing terminal view (ncurses), where the table
 * of destinations is redrawn in place every interval and the latest
 * failures fill the space below it. */
#ifndef EP_CLI_TRACE_H
#define EP_CLI_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/trace.h>

/* One failure as the line log and the view show it (no newline):
 * "hh:mm:ss.ssssss connect tcp pid 12 (curl) cgroup /x netns 4026531840:
 *  10.0.0.1 -> 192.0.2.7:443: EADDRNOTAVAIL (Cannot assign requested address)". */
void ep_trace_fmt_failure(const ep_trace_failure *f, char *buf, size_t len);
/* The destination table's column heads, and one destination's row. */
void ep_trace_fmt_colhead(char *buf, size_t len);
void ep_trace_fmt_dest(const ep_trace_dest *d, char *buf, size_t len);
const char *ep_trace_errno_name(int err);

typedef struct ep_trace_screen ep_trace_screen;

/* Take the terminal (stdout, keys from stdin).  NULL after printing why
 * (TERM unusable, out of memory). */
ep_trace_screen *ep_trace_screen_open(const char *scope, const char *method, double interval);
/* A failure arrived: counted, and kept among the latest lines. */
void ep_trace_screen_failure(ep_trace_screen *s, const ep_trace_failure *f);
/* An interval ended: its destinations replace the table's rows. */
void ep_trace_screen_interval(ep_trace_screen *s, const ep_trace_interval *iv);
/* Read the keys typed (never waits): true when the user asked to quit
 * (q).  A resize redraws. */
bool ep_trace_screen_keys(ep_trace_screen *s);
/* Redraw if anything changed and the last redraw is old enough (failures
 * arriving in a flood redraw a few times a second, not once each), or now
 * with force. */
void ep_trace_screen_draw(ep_trace_screen *s, bool force);
/* Give the terminal back as it was, then print the last interval's table
 * and the latest failures there, so they outlast the view. */
void ep_trace_screen_close(ep_trace_screen *s);

#endif
