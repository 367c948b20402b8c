/* trace-internal.h - what the files of ephport trace share (private): the
 * ring buffer reader, the per-destination differences, the cgroup names. */
#ifndef EP_TRACE_INTERNAL_H
#define EP_TRACE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include <ephport/trace.h>

#include "bpf/trace-abi.h"

/* --- trace-ringbuf.c: a BPF ring buffer read from its mapped pages --- */
typedef struct ep_ringbuf {
    int fd;
    size_t size;                 /* data bytes, a power of two */
    size_t page;
    unsigned long *consumer;     /* our position, written back */
    const unsigned long *producer;
    const unsigned char *data;   /* mapped twice back to back: no wrapping */
    void *prod_map;
    size_t prod_len;
} ep_ringbuf;

int ep_ringbuf_open(ep_ringbuf *rb, int map_fd, size_t size);
/* Pass every committed record to fn; stop early when fn returns non-zero
 * (that record counts as read) and return its value, else the count. */
int ep_ringbuf_consume(ep_ringbuf *rb, int (*fn)(const void *rec, size_t len, void *arg),
                       void *arg);
void ep_ringbuf_close(ep_ringbuf *rb);

/* --- trace-dests.c: the kernel's cumulative counts as differences --- */
typedef struct ep_trace_prev ep_trace_prev;
ep_trace_prev *ep_trace_prev_new(void);
void ep_trace_prev_free(ep_trace_prev *p);
/* Read every entry of the destination map (fd) and fill *out with the
 * destinations whose counts moved since the previous read (out grows;
 * *cap is its size), sorted by attempts, most first.  timewait_known false:
 * every timewait is EP_TRACE_UNKNOWN.  The number of destinations or
 * -errno. */
int ep_trace_prev_diff(ep_trace_prev *p, int map_fd, bool timewait_known,
                       ep_trace_dest **out, size_t *cap);
/* Key to public form. */
void ep_trace_key_addr(const __u8 bytes[16], ep_addr *out);

/* --- trace-cgroup.c: cgroup v2 ids and paths --- */
typedef struct ep_trace_cgroups ep_trace_cgroups;
/* NULL when there is no cgroup v2 mount (then every path is unknown). */
ep_trace_cgroups *ep_trace_cgroups_open(void);
void ep_trace_cgroups_close(ep_trace_cgroups *cg);
/* The path of cgroup id from the v2 root ("/", "/system.slice/x.service"),
 * owned by cg (valid until the next call), or NULL when unknown. */
const char *ep_trace_cgroups_path(ep_trace_cgroups *cg, uint64_t id);
/* A user's cgroup (path under the mount or from the root) to its id and
 * depth.  0 or -errno and why. */
int ep_trace_cgroups_lookup(ep_trace_cgroups *cg, const char *path, uint64_t *id,
                            uint32_t *level, char *why, size_t len);

/* --- trace-tp.c: syscall tracepoints through perf events --- */
/* The ids of events/syscalls/<names[i]>; 0 or -errno and why. */
int ep_trace_tp_ids(const char *const *names, int n, int *ids, char *why, size_t len);
/* A perf event on tracepoint id carrying prog_fd: its fd (closing it
 * detaches), or -errno. */
int ep_trace_tp_attach(int id, int prog_fd);

#endif
