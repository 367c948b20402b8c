/* trace-tp.c - attaching BPF programs to the syscalls:sys_enter_* and
 * sys_exit_* tracepoints without libbpf: their ids from tracefs, and one
 * perf event per tracepoint carrying the program.
 *
 * Why these and not the raw tracepoints sys_enter/sys_exit: a program on
 * those runs for every system call of the host; on a syscall tracepoint it
 * runs for its own call only, and the others pay just the kernel's slow
 * syscall path, which any syscall tracing turns on.  Measured on this
 * machine (Linux 6.18, a VM) with getppid() in a loop: 190 ns untraced,
 * about 250 ns with the syscall events of connect enabled, about 400 ns
 * with two empty BPF programs on the raw tracepoints.
 *
 * The ids are in tracefs (events/syscalls/NAME/id).  When no tracefs is
 * mounted (common: nothing mounts it at boot), a thread of its own mounts
 * one in a mount namespace of its own, reads the ids and ends: the host's
 * mounts are not touched.  That needs CAP_SYS_ADMIN; without it the caller
 * falls back to the raw tracepoints.
 *
 * A BPF program on a tracepoint's perf event runs for that event on every
 * CPU (the program hangs on the tracepoint, not on the perf event's CPU),
 * so one perf event, CPU 0, all processes, is enough. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include "trace-internal.h"

static const char *const ep_tracefs_dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

#define EP_TP_MAX 16

/* Read each of paths into ids.  0 or -errno. */
static int ep_tp_read_paths(char (*paths)[256], int n, int *ids)
{
    for (int i = 0; i < n; i++) {
        char buf[32];
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC), v = 0;
        ssize_t got;

        if (fd < 0)
            return -errno;
        got = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (got <= 0)
            return got < 0 ? -errno : -EINVAL;
        for (ssize_t k = 0; k < got && buf[k] >= '0' && buf[k] <= '9' && v < 100000000; k++)
            v = v * 10 + (buf[k] - '0');
        if (v <= 0)
            return -EINVAL;
        ids[i] = v;
    }
    return 0;
}

static int ep_tp_paths(const char *dir, const char *const *names, int n, char (*paths)[256])
{
    for (int i = 0; i < n; i++)
        if ((size_t)snprintf(paths[i], 256, "%s/events/syscalls/%s/id", dir, names[i]) >= 256)
            return -ENAMETOOLONG;
    return 0;
}

/* The mount runs on a thread of its own: unshare(CLONE_NEWNS) gives that
 * thread alone a private mount namespace (it unshares its fs_struct too),
 * which ends with the thread, so neither the host's mounts nor the
 * caller's threads see the tracefs mount. */
typedef struct ep_tp_job {
    char (*paths)[256];
    int n, *ids, rc;
} ep_tp_job;

static void *ep_tp_mount_and_read(void *arg)
{
    ep_tp_job *job = arg;

    if (unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tracefs", ep_tracefs_dirs[0], "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) != 0)
        job->rc = -errno;
    else
        job->rc = ep_tp_read_paths(job->paths, job->n, job->ids);
    return NULL;
}

int ep_trace_tp_ids(const char *const *names, int n, int *ids, char *why, size_t len)
{
    char paths[EP_TP_MAX][256];
    ep_tp_job job = { .paths = paths, .n = n, .ids = ids };
    pthread_t t;
    int rc;

    if (n < 1 || n > EP_TP_MAX)
        return -EINVAL;
    for (size_t d = 0; d < sizeof ep_tracefs_dirs / sizeof ep_tracefs_dirs[0]; d++)
        if (ep_tp_paths(ep_tracefs_dirs[d], names, n, paths) == 0 &&
            ep_tp_read_paths(paths, n, ids) == 0)
            return 0;
    rc = ep_tp_paths(ep_tracefs_dirs[0], names, n, paths);
    if (rc) {
        snprintf(why, len, "tracefs path too long");
        return rc;
    }
    rc = pthread_create(&t, NULL, ep_tp_mount_and_read, &job);
    if (rc != 0) {
        snprintf(why, len, "cannot start a thread to mount tracefs: %s", strerror(rc));
        return -rc;
    }
    pthread_join(t, NULL);
    if (job.rc)
        snprintf(why, len, "no tracefs mounted, and mounting one in a private mount namespace "
                           "failed: %s", strerror(-job.rc));
    return job.rc;
}

int ep_trace_tp_attach(int id, int prog_fd)
{
    struct perf_event_attr attr;
    int fd;

    memset(&attr, 0, sizeof attr);
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof attr;
    attr.config = (__u64)id;
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    fd = (int)syscall(__NR_perf_event_open, &attr, -1 /* every process */, 0 /* CPU 0 */,
                      -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd) != 0 ||
        ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}
