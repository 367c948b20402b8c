/* top.h - what the files of `ephport top` share: options, the per-frame
 * state (snapshot, tracked destinations, rows), and the functions each file
 * provides.  top.c: command line, signals, batch loop; top-sample.c: one
 * sample and the rates; top-print.c: formatting, text and JSON frames;
 * top-screen.c: the ncurses view. */
#ifndef EP_CLI_TOP_H
#define EP_CLI_TOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <ephport/host.h>
#include <ephport/node.h>
#include <ephport/trace.h>

#include <ephport/conn-rate.h>

enum ep_top_sort { EP_TOP_SORT_PRESSURE, EP_TOP_SORT_RATE, EP_TOP_SORT_EXHAUST, EP_TOP_SORT_TW,
                   EP_TOP_NSORT };
extern const char *const ep_top_sort_names[EP_TOP_NSORT]; /* "pressure", "rate", ... */


struct ep_top_opts {
    double interval;
    const char *netns;
    size_t top;            /* 0: as many as fit (terminal) / 20 (batch); SIZE_MAX: all */
    long iterations;       /* batch frames to print; 0 = until interrupted */
    bool batch, json;
    bool all;              /* --all-namespaces: every namespace of the host */
    bool snat;             /* --snat: conntrack's source NAT units instead */
    enum ep_top_sort sort;
};

/* A destination's identity across frames; compared with memcmp (ep_addr
 * keeps its padding zero). */
struct ep_top_key {
    uint64_t netns;        /* the namespace's inode with --all-namespaces, else 0 */
    ep_addr local, remote;
    uint16_t remote_port;
    uint8_t proto;
    uint8_t pad_;
};

struct ep_top_entry {
    struct ep_top_key key;
    ep_top_track track;
};

struct ep_top_row {
    const ep_host_dest *d;
    double rate;           /* NAN until two samples exist */
    double tte;            /* seconds; INFINITY = never; NAN = unknown */
    bool reuse;            /* tcp_tw_reuse applies to this destination */
    double fail_rate;      /* connect()s per second that failed for want of a port
                              (EADDRNOTAVAIL, EAGAIN, EADDRINUSE; eBPF); NAN: not traced */
    const ep_host_netns_info *ns; /* --all-namespaces: the destination's namespace */
};

/* Namespace counters top turns into rates: connect() calls
 * (Tcp.ActiveOpens) and TIME_WAIT ports taken over by tcp_tw_reuse
 * (TcpExt.TWRecycled), which the per-destination estimator cannot see: the
 * entry is replaced and no count moves.  (TcpExt.TW is left out: whether it
 * counts entries entering or leaving TIME_WAIT differs between kernels.) */
enum { EP_TOP_NS_CONNECT, EP_TOP_NS_REUSED, EP_TOP_NS_N };

struct ep_top_state {
    struct ep_top_opts o;
    double start;          /* CLOCK_MONOTONIC at the first sample */
    double t;              /* seconds since start of the current frame */
    bool have_prev;
    bool counting;         /* TCP rates counted by cookie from per-frame socket dumps
                              (ephport/conn-rate.h); false: the first dump failed, fallback */
    bool tw_timers;        /* this frame's TCP rates were counted from its dump */
    ep_top_arrivals arrivals; /* cookies of the last complete socket dump */
    /* Namespace-wide rates from the snapshot's counters (NAN until two
     * samples, or when a counter is unreadable), indexed by EP_TOP_NS_*. */
    double ns_prev[EP_TOP_NS_N], ns_rate[EP_TOP_NS_N];
    struct ep_top_entry *entries; /* sorted by key */
    size_t nentries;
    ep_host_snapshot *snap;       /* current frame (NULL with --all-namespaces) */
    ep_host_node *node;           /* current frame with --all-namespaces, else NULL */
    struct ep_top_row *rows;
    size_t nrows, total;
    /* Exact TCP rates from the eBPF tracer (ephport/trace.h) when it could be
     * opened; else the estimator's, and trace_why says why (said once). */
    ep_trace *trace;
    bool traced;           /* this frame's TCP rates came from the tracer */
    bool trace_said;       /* trace_why was printed */
    char trace_why[512];
};


/* Set by SIGINT/SIGTERM (top.c); every loop checks it. */
extern volatile sig_atomic_t ep_top_stop;
/* Sleep until the CLOCK_MONOTONIC deadline, or a signal (top.c). */
void ep_top_sleep_until(double deadline);

/* top-sample.c */
double ep_top_now(void);                       /* CLOCK_MONOTONIC seconds */
int ep_top_sample(struct ep_top_state *st);    /* 0 or negative errno */
void ep_top_sort_rows(struct ep_top_state *st);
void ep_top_state_free(struct ep_top_state *st);
/* Open the eBPF tracer for exact TCP rates, or note why not (top-sample.c). */
void ep_top_trace_open(struct ep_top_state *st);
/* "ephport top: cannot read network namespace NS: <strerror>" on stderr. */
void ep_top_read_error(const struct ep_top_state *st, int err);

/* top-print.c */
/* Four header lines; each buffer holds len bytes. */
void ep_top_fmt_header(const struct ep_top_state *st, char *l1, char *l2, char *l3, char *l4,
                       size_t len);
/* Column widths for the rows shown: local, remote, and namespace (0 when
 * the column is not shown). */
void ep_top_widths(const struct ep_top_state *st, size_t nshow, int *wl, int *wr, int *wn);
void ep_top_fmt_row(const struct ep_top_row *r, int wl, int wr, int wn, char *buf, size_t len);
void ep_top_fmt_colhead(int wl, int wr, int wn, char *buf, size_t len);
int ep_top_print_text(const struct ep_top_state *st, size_t nshow); /* exit code */
/* The frame's warnings (one namespace's; none with --all-namespaces, where
 * `ephport status -A` lists them per namespace). */
const ep_host_advice *ep_top_advice(const struct ep_top_state *st, size_t *n);
int ep_top_print_json(const struct ep_top_state *st, size_t nshow); /* exit code */

/* "-" for NAN (unknown), "never" for INFINITY, else a duration ("3m 20s"). */
void ep_top_fmt_tte(double t, char *buf, size_t len);

/* top-screen.c */
int ep_top_run_screen(struct ep_top_state *st);  /* exit code */
/* A key pressed in a top view (this one or top --snat's): 'q' quits (-1);
 * 's' steps o->sort to the next order (1: the view sorts its rows again);
 * '+' and '-' step o->interval; 0 for those and any other key (the view
 * redraws). */
int ep_top_view_key(int ch, struct ep_top_opts *o);

/* top-snat.c: `top --snat`, the source NAT units of a namespace's
 * conntrack table live (batch frames or the terminal view). */
int ep_top_snat_run(const struct ep_top_opts *o); /* exit code */

#endif
