/* series.c - sampled time series of a simulation and its CSV/JSON forms.
 *
 * Memory is samples x destinations cells of 12 bytes, fixed by `length`,
 * `sample` and `destinations`, never by the number of connections simulated.
 * Times are printed with %.9g: exact for any sample instant a user can ask
 * for, and the same bytes on every run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "series.h"

void ep_series_init(ep_series *s, size_t ndest)
{
    memset(s, 0, sizeof *s);
    s->ndest = ndest;
}

void ep_series_free(ep_series *s)
{
    free(s->t);
    free(s->cells);
    ep_series_init(s, 0);
}

ep_series_cell *ep_series_append(ep_series *s, double t)
{
    ep_series_cell *row;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        double *nt = realloc(s->t, ncap * sizeof *nt);
        ep_series_cell *nc;
        if (!nt)
            return NULL;
        s->t = nt;
        nc = realloc(s->cells, ncap * s->ndest * sizeof *nc);
        if (!nc)
            return NULL;
        s->cells = nc;
        s->cap = ncap;
    }
    s->t[s->n] = t;
    row = s->cells + s->n * s->ndest;
    memset(row, 0, s->ndest * sizeof *row);
    s->n++;
    return row;
}

int ep_series_write_csv(const ep_series *s, const char *const *names, const uint32_t *capacity,
                        const char *semantics, FILE *f)
{
    fputs(EP_SERIES_CSV_HEADER "\n", f);
    for (size_t i = 0; i < s->n; i++) {
        const ep_series_cell *row = ep_series_row(s, i);
        for (size_t d = 0; d < s->ndest; d++)
            fprintf(f, "%.9g,%s,%u,%u,%u,%u,%s\n", s->t[i], names[d], row[d].in_use,
                    row[d].time_wait, capacity[d], row[d].failures, semantics);
    }
    return ferror(f) ? -EIO : 0;
}

json_t *ep_series_to_json(const ep_series *s)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < s->n; i++) {
        const ep_series_cell *row = ep_series_row(s, i);
        json_t *dests = json_array(), *o;
        for (size_t d = 0; dests && d < s->ndest; d++) {
            json_t *c = json_pack("{s:I, s:I, s:I}", "in_use", (json_int_t)row[d].in_use,
                                  "time_wait", (json_int_t)row[d].time_wait, "failures",
                                  (json_int_t)row[d].failures);
            if (!c || json_array_append_new(dests, c) != 0) {
                json_decref(dests);
                dests = NULL;
            }
        }
        o = dests ? json_pack("{s:f, s:o}", "time", s->t[i], "destinations", dests) : NULL;
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}
