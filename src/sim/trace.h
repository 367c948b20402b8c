/* trace.h - CSV traces of connection opens and closes, replayed by the
 * simulator instead of generated arrivals.  Private to src/sim.
 *
 * Columns (documented in ephport-simulate(1)):
 *   time,event,id,remote,port,closer
 *   time    seconds since the start, non-decreasing
 *   event   open | close
 *   id      connection number (0 .. 2^64-1), unique among open connections
 *   remote  open: destination address (IPv4 or IPv6); close: may be empty
 *   port    open: destination port 1..65535; close: may be empty
 *   closer  close only, optional: client | server (default: the `close` key)
 * Blank lines and lines starting with '#' are ignored; a first line whose
 * first field is "time" is a header.  Connections opened and never closed
 * close after a duration drawn from the workload's `duration`.
 */
#ifndef EP_SIM_TRACE_H
#define EP_SIM_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include <ephport/pool.h>

enum { EP_TRACE_OPEN = 0, EP_TRACE_CLOSE = 1 };
enum { EP_CLOSER_DEFAULT = 0, EP_CLOSER_CLIENT = 1, EP_CLOSER_SERVER = 2 };

typedef struct ep_trace_event {
    ep_time t;
    uint32_t conn;     /* dense number of the connection, in order of opens */
    uint32_t dest;     /* open: index into the trace's destinations */
    uint8_t type;      /* EP_TRACE_OPEN or EP_TRACE_CLOSE */
    uint8_t closer;    /* close: EP_CLOSER_* */
} ep_trace_event;

typedef struct ep_trace {
    ep_trace_event *ev;
    size_t nev;
    uint32_t nconn;
    uint8_t *has_close;   /* per connection: 1 if the trace closes it */
    ep_addr *dest_addr;
    uint16_t *dest_port;
    uint32_t ndest;
    ep_time last;         /* time of the last event */
} ep_trace;

#define EP_TRACE_MAX_DESTINATIONS 65536u
#define EP_TRACE_MAX_CONNECTIONS 0xfffffff0u

/* Parse len bytes of CSV.  -EINVAL with "ORIGIN:LINE: message" in msg;
 * -ENOMEM.  On failure *tr is left empty (nothing to free). */
int ep_trace_parse(ep_trace *tr, const char *text, size_t len, const char *origin, char *msg,
                   size_t mlen);
int ep_trace_load(ep_trace *tr, const char *path, char *msg, size_t mlen);
void ep_trace_free(ep_trace *tr);

#endif
