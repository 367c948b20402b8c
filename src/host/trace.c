/* trace.c - ephport trace's engine: load and attach bpf/trace.bpf.c, read
 * its failure events and its per-destination counts (include/ephport/trace.h).
 *
 * The loader is bpftool's light skeleton, as for sticky-bpf.c: the kernel
 * relocates the programs against its own BTF and the library needs no
 * libbpf at run time.  The call programs go on the syscalls:sys_enter_* /
 * sys_exit_* tracepoints of connect, bind, sendto and sendmsg through perf
 * events (trace-tp.c: they cost the host's other system calls the least);
 * when those cannot be found (no tracefs and no right to mount one) on the
 * raw tracepoints sys_enter/sys_exit, which run for every system call and
 * read x86-64's registers.  inet_sock_set_state is always a raw
 * tracepoint.  ep_trace_method() says which.  The ring buffer is read from
 * its mapped pages (trace-ringbuf.c), the counts through bpf() map walks
 * (trace-dests.c), cgroup ids turned into paths by trace-cgroup.c.
 *
 * The TIME_WAIT counts keep to the ephemeral range of the traced namespace
 * (with no --netns, of the caller's): the sockets that hold a port a
 * connect() could have taken, not a server's accepted connections. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ephport/trace.h>

#include "ep-host-config.h"

const char *ep_trace_call_name(ep_trace_call call)
{
    switch (call) {
    case EP_TRACE_CALL_CONNECT: return "connect";
    case EP_TRACE_CALL_BIND: return "bind";
    case EP_TRACE_CALL_SENDTO: return "sendto";
    case EP_TRACE_CALL_SENDMSG: return "sendmsg";
    }
    return "?";
}

#if EP_HAVE_BPF

#include <assert.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bpf-iter.h"
#include "host-internal.h"
#include "trace-internal.h"
#include "trace.lskel.h" /* generated from bpf/trace.bpf.c by bpftool */


struct ep_trace {
    struct ep_trace_bpf *skel;
    ep_ringbuf rb;
    ep_trace_prev *prev;
    ep_trace_cgroups *cg;
    uint32_t netns;
    bool timewait_known;
    int64_t realtime_minus_mono;
    int64_t last_ns;
    uint64_t lost_seen[3];
    ep_trace_dest *dests;
    size_t dests_cap;
    int tp_fds[8];               /* perf events carrying the syscall programs */
    char method[400];
};

/* The syscall tracepoints, in the order of ep_trace_attach_tp's programs. */
static const char *const ep_tp_names[8] = {
    "sys_enter_connect", "sys_enter_bind", "sys_enter_sendto", "sys_enter_sendmsg",
    "sys_exit_connect",  "sys_exit_bind",  "sys_exit_sendto",  "sys_exit_sendmsg",
};

/* The programs on the syscall tracepoints; 0 or -errno and why. */
static int ep_trace_attach_tp(ep_trace *t, char *why, size_t len)
{
    int progs[8] = {
        t->skel->progs.ep_tp_enter_connect.prog_fd, t->skel->progs.ep_tp_enter_bind.prog_fd,
        t->skel->progs.ep_tp_enter_sendto.prog_fd, t->skel->progs.ep_tp_enter_sendmsg.prog_fd,
        t->skel->progs.ep_tp_exit_connect.prog_fd, t->skel->progs.ep_tp_exit_bind.prog_fd,
        t->skel->progs.ep_tp_exit_sendto.prog_fd, t->skel->progs.ep_tp_exit_sendmsg.prog_fd,
    };
    int ids[8], rc;

    rc = ep_trace_tp_ids(ep_tp_names, 8, ids, why, len);
    if (rc)
        return rc;
    /* Exits first: a call that enters from here on is seen returning. */
    for (int i = 7; i >= 0; i--) {
        t->tp_fds[i] = ep_trace_tp_attach(ids[i], progs[i]);
        if (t->tp_fds[i] < 0) {
            rc = t->tp_fds[i];
            snprintf(why, len, "attaching to syscalls:%s: %s", ep_tp_names[i], strerror(-rc));
            return rc;
        }
    }
    return 0;
}

static void ep_trace_detach_tp(ep_trace *t)
{
    for (int i = 0; i < 8; i++) {
        if (t->tp_fds[i] >= 0)
            close(t->tp_fds[i]);
        t->tp_fds[i] = -1;
    }
}

static int64_t ep_clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A failure of the kernel's: -EPERM/-EACCES stay (no privilege, lockdown,
 * or the verifier, as bpf-iter.c tells them apart), everything else becomes -ENOTSUP with the kernel's words in
 * why, so that -EINVAL and -ENOENT mean only options that cannot be used. */
static int ep_trace_fail(int err, char *why, size_t len, const char *what)
{
    assert(err < 0);
    if (err == -EPERM || err == -EACCES)
        return ep_bpf_fail(err, why, len, what); /* the capabilities, or whose refusal */
    snprintf(why, len, "%s: %s", what, strerror(-err));
    return err == -ENOMEM ? err : -ENOTSUP;
}

/* The namespace's inode and ephemeral range, read inside it. */
typedef struct ep_trace_facts {
    uint32_t ino;
    uint16_t lo, hi;
    char *why;
    size_t len;
} ep_trace_facts;

static int ep_trace_read_facts(void *arg)
{
    ep_trace_facts *f = arg;
    struct stat st;
    char *text = NULL;
    size_t tlen;
    unsigned a, b;

    if (stat("/proc/thread-self/ns/net", &st) != 0) {
        int e = errno;
        snprintf(f->why, f->len, "cannot read /proc/thread-self/ns/net: %s", strerror(e));
        return -e;
    }
    f->ino = (uint32_t)st.st_ino;
    if (ep_host_read_file("/proc/sys/net/ipv4/ip_local_port_range", &text, &tlen) == 0 &&
        sscanf(text, "%u %u", &a, &b) == 2 && a >= 1 && a <= b && b <= 65535) {
        f->lo = (uint16_t)a;
        f->hi = (uint16_t)b;
    } else {
        f->lo = 32768; /* the kernel's default, when the file says nothing */
        f->hi = 60999;
    }
    free(text);
    return 0;
}

static int ep_trace_netns_facts(const char *spec, uint32_t *ino, uint16_t *lo, uint16_t *hi,
                                char *why, size_t len)
{
    ep_trace_facts f = { .why = why, .len = len };
    int rc;

    if (spec) {
        /* The caller's own namespace needs no setns() (nor CAP_SYS_ADMIN). */
        char path[4096];
        struct stat a, b;
        if (ep_host_netns_path(spec, path, sizeof path, why, len) != 0)
            return -EINVAL;
        if (stat(path, &a) == 0 && stat("/proc/thread-self/ns/net", &b) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            spec = NULL;
    }
    rc = ep_host_in_netns(spec, ep_trace_read_facts, &f, why, len);
    if (rc == 0) {
        *ino = f.ino;
        *lo = f.lo;
        *hi = f.hi;
    }
    return rc;
}

int ep_trace_open(const ep_trace_opts *opts, ep_trace **out, char *why, size_t len)
{
    ep_trace *t;
    uint32_t ino = 0;
    uint16_t lo = 0, hi = 0;
    uint64_t cg_id = 0;
    uint32_t cg_level = 0;
    int rc;

    *out = NULL;
    if (opts->pid < 0) {
        snprintf(why, len, "pid %d is not a process id", opts->pid);
        return -EINVAL;
    }
    rc = ep_bpf_btf_check(why, len);
    if (rc)
        return rc;
    t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->rb.fd = -1;
    for (int i = 0; i < 8; i++)
        t->tp_fds[i] = -1;
    t->cg = ep_trace_cgroups_open();
    rc = ep_trace_netns_facts(opts->netns, &ino, &lo, &hi, why, len);
    if (rc)
        goto fail;
    t->netns = opts->netns ? ino : 0;
    if (opts->cgroup) {
        rc = ep_trace_cgroups_lookup(t->cg, opts->cgroup, &cg_id, &cg_level, why, len);
        if (rc)
            goto fail;
    }
    t->prev = ep_trace_prev_new();
    if (!t->prev) {
        rc = -ENOMEM;
        snprintf(why, len, "out of memory");
        goto fail;
    }
    errno = 0;
    t->skel = ep_trace_bpf__open();
    if (!t->skel) {
        rc = ep_trace_fail(errno ? -errno : -ENOMEM, why, len, "preparing the BPF programs");
        goto fail;
    }
    struct ep_trace_cfg *cfg = &t->skel->rodata->ep_cfg;
    cfg->netns = t->netns;
    cfg->tgid = (uint32_t)opts->pid;
    cfg->cgroup_id = cg_id;
    cfg->cgroup_level = cg_level;
    cfg->nr_connect = SYS_connect;
    cfg->nr_bind = SYS_bind;
    cfg->nr_sendto = SYS_sendto;
    cfg->nr_sendmsg = SYS_sendmsg;
    cfg->tw_lo = lo;
    cfg->tw_hi = hi;
    t->timewait_known = opts->pid == 0 && !opts->cgroup;
    cfg->count_tw = t->timewait_known;
    rc = ep_trace_bpf__load(t->skel);
    if (rc) {
        rc = ep_trace_fail(rc < 0 ? rc : -EINVAL, why, len,
                           "loading the BPF programs (they need Linux 6.2 or later)");
        goto fail;
    }
    rc = ep_trace_bpf__ep_trace_state__attach(t->skel);
    if (rc < 0) {
        rc = ep_trace_fail(rc, why, len, "attaching to the raw tracepoint inet_sock_set_state");
        goto fail;
    }
    /* The syscall tracepoints; the raw ones when their ids cannot be
     * found (EP_TRACE_RAW=1 forces those: tests run both). */
    char tp_why[300] = "EP_TRACE_RAW is set";
    const char *force_raw = getenv("EP_TRACE_RAW");
    rc = force_raw && *force_raw == '1' ? -ENOENT : ep_trace_attach_tp(t, tp_why, sizeof tp_why);
    if (rc == 0) {
        snprintf(t->method, sizeof t->method, "syscall tracepoints");
    } else {
        ep_trace_detach_tp(t);
#if defined(__x86_64__)
        rc = ep_trace_bpf__ep_raw_exit__attach(t->skel);
        if (rc >= 0)
            rc = ep_trace_bpf__ep_raw_enter__attach(t->skel);
        if (rc < 0) {
            rc = ep_trace_fail(rc, why, len, "attaching to the raw tracepoints sys_enter and "
                                             "sys_exit");
            goto fail;
        }
        snprintf(t->method, sizeof t->method,
                 "raw tracepoints sys_enter/sys_exit, slower for every system call (%s)", tp_why);
#else
        snprintf(why, len, "%s; the raw-tracepoint fallback reads x86-64 registers only",
                 tp_why);
        rc = -ENOTSUP;
        goto fail;
#endif
    }
    rc = ep_ringbuf_open(&t->rb, t->skel->maps.ep_events.map_fd, EP_TRACE_RINGBUF_BYTES);
    if (rc) {
        rc = ep_trace_fail(rc, why, len, "mapping the BPF ring buffer");
        goto fail;
    }
    t->realtime_minus_mono = ep_clock_ns(CLOCK_REALTIME) - ep_clock_ns(CLOCK_MONOTONIC);
    t->last_ns = ep_clock_ns(CLOCK_REALTIME);
    *out = t;
    return 0;
fail:
    ep_trace_close(t);
    return rc;
}

uint32_t ep_trace_netns(const ep_trace *t)
{
    return t->netns;
}

const char *ep_trace_method(const ep_trace *t)
{
    return t->method;
}

struct ep_poll_ctx {
    ep_trace *t;
    int (*fn)(const ep_trace_failure *f, void *arg);
    void *arg;
};

static int ep_trace_event(const void *rec, size_t len, void *arg)
{
    struct ep_poll_ctx *c = arg;
    struct ep_trace_event e;
    ep_trace_failure f;

    if (len < sizeof e)
        return 0; /* not ours: the program writes only whole events */
    memcpy(&e, rec, sizeof e);
    memset(&f, 0, sizeof f);
    f.time_ns = (int64_t)e.time_ns + c->t->realtime_minus_mono;
    f.pid = e.pid;
    f.tid = e.tid;
    memcpy(f.comm, e.comm, sizeof e.comm);
    f.comm[sizeof e.comm] = '\0';
    f.cgroup = ep_trace_cgroups_path(c->t->cg, e.cgroup_id);
    f.netns = e.netns;
    f.proto = e.proto;
    f.call = (ep_trace_call)e.call;
    f.has_local = e.has_local;
    if (e.has_local)
        ep_trace_key_addr(e.local, &f.local);
    f.local_port = e.local_port ? e.local_port : -1;
    f.has_remote = e.has_remote;
    if (e.has_remote)
        ep_trace_key_addr(e.remote, &f.remote);
    f.remote_port = e.has_remote ? e.remote_port : -1;
    f.err = e.err;
    return c->fn(&f, c->arg);
}

int ep_trace_poll(ep_trace *t, int timeout_ms,
                  int (*fn)(const ep_trace_failure *f, void *arg), void *arg)
{
    struct ep_poll_ctx c = { t, fn, arg };
    struct pollfd pfd = { .fd = t->rb.fd, .events = POLLIN };
    int n = ep_ringbuf_consume(&t->rb, ep_trace_event, &c);

    if (n != 0 || timeout_ms == 0)
        return n;
    if (poll(&pfd, 1, timeout_ms) < 0)
        return errno == EINTR ? 0 : -errno;
    return ep_ringbuf_consume(&t->rb, ep_trace_event, &c);
}

int ep_trace_interval_take(ep_trace *t, ep_trace_interval *out)
{
    uint64_t lost[3];
    int n;

    memset(out, 0, sizeof *out);
    out->start_ns = t->last_ns;
    out->end_ns = t->last_ns = ep_clock_ns(CLOCK_REALTIME);
    lost[0] = __atomic_load_n(&t->skel->bss->ep_lost_events, __ATOMIC_RELAXED);
    lost[1] = __atomic_load_n(&t->skel->bss->ep_lost_dests, __ATOMIC_RELAXED);
    lost[2] = __atomic_load_n(&t->skel->bss->ep_lost_pending, __ATOMIC_RELAXED);
    n = ep_trace_prev_diff(t->prev, t->skel->maps.ep_dests.map_fd, t->timewait_known,
                           &t->dests, &t->dests_cap);
    if (n < 0)
        return n;
    out->dests = t->dests;
    out->ndests = (size_t)n;
    out->lost_events = lost[0] - t->lost_seen[0];
    out->lost_counts = lost[1] - t->lost_seen[1];
    out->lost_calls = lost[2] - t->lost_seen[2];
    memcpy(t->lost_seen, lost, sizeof lost);
    if (!t->timewait_known)
        out->timewait_why = "a socket enters TIME_WAIT when a packet arrives, outside any "
                            "process: not counted with --pid or --cgroup";
    return 0;
}

void ep_trace_close(ep_trace *t)
{
    if (!t)
        return;
    ep_ringbuf_close(&t->rb);
    ep_trace_detach_tp(t);
    if (t->skel)
        ep_trace_bpf__destroy(t->skel);
    ep_trace_prev_free(t->prev);
    ep_trace_cgroups_close(t->cg);
    free(t->dests);
    free(t);
}

#else /* no BPF in this build */

int ep_trace_open(const ep_trace_opts *opts, ep_trace **out, char *why, size_t len)
{
    (void)opts;
    *out = NULL;
    snprintf(why, len, "ephport was built without BPF (meson -Dbpf=disabled)");
    return -ENOTSUP;
}

uint32_t ep_trace_netns(const ep_trace *t)
{
    (void)t;
    return 0;
}

const char *ep_trace_method(const ep_trace *t)
{
    (void)t;
    return "none";
}

int ep_trace_poll(ep_trace *t, int timeout_ms,
                  int (*fn)(const ep_trace_failure *f, void *arg), void *arg)
{
    (void)t, (void)timeout_ms, (void)fn, (void)arg;
    return -ENOTSUP;
}

int ep_trace_interval_take(ep_trace *t, ep_trace_interval *out)
{
    (void)t;
    memset(out, 0, sizeof *out);
    return -ENOTSUP;
}

void ep_trace_close(ep_trace *t)
{
    (void)t;
}

#endif
