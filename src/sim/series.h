/* series.h - the time series a simulation records: per destination, ports in
 * use and in TIME_WAIT at each sampling instant, and the failures since the
 * previous sample; written as CSV or JSON.  Private to src/sim. */
#ifndef EP_SIM_SERIES_H
#define EP_SIM_SERIES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

typedef struct ep_series_cell {
    uint32_t in_use;
    uint32_t time_wait;   /* TIME_WAIT plus quarantine: held but not in use */
    uint32_t failures;    /* failed connects since the previous sample */
} ep_series_cell;

typedef struct ep_series {
    size_t ndest;
    size_t n, cap;          /* samples */
    double *t;              /* virtual seconds */
    ep_series_cell *cells;  /* n rows of ndest cells */
} ep_series;

/* The CSV header, documented in ephport-simulate(1). */
#define EP_SERIES_CSV_HEADER "time,destination,in_use,time_wait,capacity,failures,semantics"

void ep_series_init(ep_series *s, size_t ndest);
void ep_series_free(ep_series *s);
/* Append a sample at time t; returns its ndest zeroed cells, NULL on ENOMEM. */
ep_series_cell *ep_series_append(ep_series *s, double t);
static inline const ep_series_cell *ep_series_row(const ep_series *s, size_t i)
{
    return s->cells + i * s->ndest;
}

/* One line per (sample, destination), header first.  names[d] and
 * capacity[d] describe destination d; semantics ("linux", "stack") names
 * the port rules that produced the numbers, on every line.  Returns 0 or
 * -EIO. */
int ep_series_write_csv(const ep_series *s, const char *const *names, const uint32_t *capacity,
                        const char *semantics, FILE *f);
/* [{"time": T, "destinations": [{"in_use":..,"time_wait":..,"failures":..}]}] */
json_t *ep_series_to_json(const ep_series *s);

#endif
