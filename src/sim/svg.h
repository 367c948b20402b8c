/* svg.h - the simulation chart as a standalone SVG 1.1 file.  Private to
 * src/sim. */
#ifndef EP_SIM_SVG_H
#define EP_SIM_SVG_H

#include <stdio.h>

#include "sim.h"

/* Draw ports in use (solid) and in TIME_WAIT (dashed) per destination over
 * virtual time, the capacity line of each destination's effective range,
 * and failures (red ticks; a labelled line at the first).  At most
 * EP_SVG_MAX_DESTS destinations are drawn, busiest first; the legend says
 * how many were left out.  title is escaped.  Returns 0 or -EIO. */
#define EP_SVG_MAX_DESTS 8
int ep_svg_write(const ep_sim_result *res, const char *title, FILE *f);

/* Write s with &, <, >, " and ' escaped, control characters dropped. */
void ep_svg_escape(FILE *f, const char *s);

#endif
