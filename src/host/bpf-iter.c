/* bpf-iter.c - see bpf-iter.h: the plumbing the BPF loaders share, one
 * copy.  The programs themselves and what their records mean stay with
 * their owners (sticky-bpf.c, bound-bpf.c, ehash-bpf.c, trace.c). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ep-host-config.h"

#if EP_HAVE_BPF

#include <assert.h>
#include <linux/types.h>

#include <bpf/skel_internal.h>

#include "bpf-iter.h"

#define EP_KERNEL_BTF "/sys/kernel/btf/vmlinux"

int ep_bpf_btf_check(char *why, size_t len)
{
    int rc;

    if (access(EP_KERNEL_BTF, R_OK) == 0)
        return 0;
    rc = errno == EACCES ? -EACCES : -ENOTSUP;
    snprintf(why, len, "the kernel's BTF (" EP_KERNEL_BTF ") is %s",
             rc == -EACCES ? "not readable" : "missing: a kernel without CONFIG_DEBUG_INFO_BTF");
    return rc;
}

bool ep_bpf_privileged(void)
{
    char line[256];
    unsigned long long eff = 0;
    bool found = false;
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return false;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "CapEff: %llx", &eff) == 1;
    fclose(f);
    /* capability numbers of <linux/capability.h>: CAP_SYS_ADMIN 21,
     * CAP_PERFMON 38, CAP_BPF 39 */
    return found && ((eff >> 21 & 1) || ((eff >> 38 & 1) && (eff >> 39 & 1)));
}

int ep_bpf_fail(int err, char *why, size_t len, const char *what)
{
    assert(err < 0);
    if ((err == -EPERM || err == -EACCES) && !ep_bpf_privileged())
        snprintf(why, len, "loading a BPF program needs CAP_BPF and CAP_PERFMON "
                           "(or CAP_SYS_ADMIN)");
    else if (err == -EPERM)
        snprintf(why, len, "%s: the kernel refused it (EPERM) although this process has "
                           "CAP_BPF and CAP_PERFMON: a locked-down kernel (lockdown=confidentiality) "
                           "or a security module forbids it", what);
    else if (err == -EACCES)
        snprintf(why, len, "%s: the kernel's BPF verifier rejected the program (EACCES): this "
                           "kernel lacks something the program needs", what);
    else
        snprintf(why, len, "%s: %s", what, strerror(-err));
    return err;
}

int ep_bpf_iter_start(int prog_fd, const char *what, int *link, char *why, size_t len)
{
    union bpf_attr attr;
    char step[160];
    int fd;

    *link = skel_link_create(prog_fd, 0, BPF_TRACE_ITER);
    if (*link < 0) {
        snprintf(step, sizeof step, "attaching %s", what);
        return ep_bpf_fail(-errno, why, len, step);
    }
    memset(&attr, 0, sizeof attr);
    attr.iter_create.link_fd = (__u32)*link;
    fd = skel_sys_bpf(BPF_ITER_CREATE, &attr, sizeof attr);
    if (fd < 0) {
        int err = -errno;
        close(*link);
        *link = -1;
        snprintf(step, sizeof step, "creating %s", what);
        return ep_bpf_fail(err, why, len, step);
    }
    return fd;
}

int ep_bpf_iter_read(int fd, size_t rec, int (*fn)(const void *rec, void *arg), void *arg)
{
    enum { CAP = 32768 };         /* the kernel's seq buffer for iterators */
    unsigned char *buf;
    size_t have = 0;
    int rc = 0;

    assert(rec > 0 && rec <= CAP);
    buf = malloc(CAP + rec);
    if (!buf)
        return -ENOMEM;
    while (rc == 0) {
        ssize_t got = read(fd, buf + have, CAP);
        size_t used = 0;
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            rc = -errno;
            break;
        }
        if (got == 0)
            break;
        have += (size_t)got;
        for (; used + rec <= have && rc == 0; used += rec)
            rc = fn(buf + used, arg);
        memmove(buf, buf + used, have - used); /* a record cut by the read */
        have -= used;
    }
    free(buf);
    if (rc == 0 && have)
        rc = -EPROTO;
    return rc;
}

#endif
