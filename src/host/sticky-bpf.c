/* sticky-bpf.c - which TCP ports are sticky, read from the sockets
 * themselves through a BPF iterator (bpf/sticky.bpf.c).
 *
 * Linux 6.18 marks a socket whose port came from connect()'s autobind
 * (SOCK_CONNECT_BIND in sk_userlocks, tw_connect_bind in its TIME_WAIT), and
 * a port's bind bucket is skipped by every connect() while it holds a socket
 * without the mark.  The iterator walks every TCP socket of the current
 * network namespace once (the kernel binds a tcp iterator to the namespace
 * of the process that creates it) and writes each unmarked port in
 * [lo, hi] once; one walk answers for every port, where sticky.c asks port
 * by port.  Bound-only sockets are in no hash the iterator walks: the caller
 * knows them from sock_diag, and they are sticky by definition.
 *
 * Every run loads the program afresh (libbpf relocates the kernel fields
 * against /sys/kernel/btf/vmlinux: CO-RE), attaches, reads and drops it all
 * again: nothing stays in the kernel after the call.  Costs: the load (a few
 * milliseconds, mostly libbpf parsing the kernel's BTF) and one walk of the
 * hash tables.
 *
 * When it cannot answer it returns a negative errno and the reason, and the
 * caller falls back to the probes: -EPERM (no CAP_BPF + CAP_PERFMON or
 * CAP_SYS_ADMIN), -ENOTSUP (no kernel BTF, a kernel that does not mark
 * autobound sockets: before 6.18, where a bucket stays sticky by a rule the
 * sockets alone do not show, or a library built without BPF), or what
 * libbpf or the kernel said.  libbpf's messages go to a private buffer, not
 * to stderr (libbpf_set_print is process-wide: it is swapped for the call
 * and put back). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ep-host-config.h"
#include "host-internal.h"

#if EP_HAVE_BPF

#include <assert.h>
#include <linux/types.h>
#include <stdlib.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/sticky-abi.h"

/* Generated from bpf/sticky.bpf.c by bpf/embed.c. */
extern const unsigned char ep_sticky_bpf_obj[];
extern const size_t ep_sticky_bpf_obj_len;

#define EP_KERNEL_BTF "/sys/kernel/btf/vmlinux"

/* The last warning libbpf printed during the call (for the reason). */
static _Thread_local char ep_bpf_last[160];

static int ep_bpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char line[sizeof ep_bpf_last];
    size_t n;

    if (level == LIBBPF_DEBUG)
        return 0;
    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    if (n)
        memcpy(ep_bpf_last, line, n + 1);
    return 0;
}

static int ep_bpf_fail(int err, char *why, size_t len, const char *what)
{
    assert(err < 0);
    switch (-err) {
    case EPERM:
    case EACCES:
        snprintf(why, len, "loading a BPF iterator needs CAP_BPF and CAP_PERFMON "
                           "(or CAP_SYS_ADMIN)");
        break;
    default:
        if (ep_bpf_last[0])
            snprintf(why, len, "%s: %s (libbpf: %s)", what, strerror(-err), ep_bpf_last);
        else
            snprintf(why, len, "%s: %s", what, strerror(-err));
    }
    return err;
}

/* The program's read-only data is exactly its ep_sticky_cfg. */
static int ep_bpf_set_cfg(struct bpf_object *obj, const struct ep_sticky_cfg *cfg)
{
    struct bpf_map *map;
    bpf_object__for_each_map(map, obj) {
        const char *name = bpf_map__name(map);
        size_t n = strlen(name);
        if (bpf_map__is_internal(map) && n >= 7 && strcmp(name + n - 7, ".rodata") == 0)
            return bpf_map__set_initial_value(map, cfg, sizeof *cfg);
    }
    return -ENOENT;
}

/* Read the iterator's records into ports.  0, or -ENOTSUP when it said the
 * kernel does not mark autobound sockets, or -errno. */
static int ep_bpf_read_ports(int fd, uint16_t lo, uint16_t hi, ep_portset *ports)
{
    enum { CAP = 32768 };         /* the kernel's seq buffer for iterators */
    unsigned char *buf = malloc(CAP + 1);
    size_t have = 0;
    bool no_marks = false;
    ssize_t got;
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    for (;;) {
        got = read(fd, buf + have, CAP);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            rc = -errno;
            break;
        }
        if (got == 0)
            break;
        have += (size_t)got;
        for (size_t i = 0; i + 2 <= have; i += 2) {
            uint16_t port;
            memcpy(&port, buf + i, sizeof port);
            if (port == EP_STICKY_NO_MARKS)
                no_marks = true;
            else if (port >= lo && port <= hi)
                ep_portset_add(ports, port);
            else
                rc = -EPROTO; /* the program wrote something it should not */
        }
        if (have % 2) /* keep an odd byte for the next read */
            buf[0] = buf[have - 1];
        have %= 2;
    }
    free(buf);
    if (rc == 0 && have)
        rc = -EPROTO;
    if (rc == 0 && no_marks)
        rc = -ENOTSUP;
    return rc;
}

int ep_host_sticky_bpf(uint16_t lo, uint16_t hi, ep_portset *ports, char *why, size_t len)
{
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "ep_sticky");
    struct ep_sticky_cfg cfg = { lo, hi };
    libbpf_print_fn_t old_print;
    struct bpf_object *obj;
    struct bpf_program *prog;
    struct bpf_link *link = NULL;
    int fd = -1, rc;

    assert(lo >= 1 && lo <= hi);
    memset(ports, 0, sizeof *ports);
    if (access(EP_KERNEL_BTF, R_OK) != 0) {
        rc = errno == EACCES ? -EACCES : -ENOTSUP;
        snprintf(why, len, "the kernel's BTF (" EP_KERNEL_BTF ") is %s",
                 rc == -EACCES ? "not readable" : "missing: a kernel without CONFIG_DEBUG_INFO_BTF");
        return rc;
    }
    ep_bpf_last[0] = '\0';
    old_print = libbpf_set_print(ep_bpf_print);
    obj = bpf_object__open_mem(ep_sticky_bpf_obj, ep_sticky_bpf_obj_len, &opts);
    if (!obj) {
        rc = ep_bpf_fail(-errno, why, len, "opening the BPF object");
        goto out;
    }
    rc = ep_bpf_set_cfg(obj, &cfg);
    if (rc) {
        rc = ep_bpf_fail(rc, why, len, "setting the iterator's port range");
        goto out;
    }
    rc = bpf_object__load(obj);
    if (rc) {
        rc = ep_bpf_fail(rc, why, len, "loading the BPF iterator");
        goto out;
    }
    prog = bpf_object__find_program_by_name(obj, "ep_sticky_ports");
    assert(prog);
    link = bpf_program__attach_iter(prog, NULL);
    if (!link) {
        rc = ep_bpf_fail(-errno, why, len, "attaching the BPF iterator");
        goto out;
    }
    fd = bpf_iter_create(bpf_link__fd(link));
    if (fd < 0) {
        rc = ep_bpf_fail(-errno, why, len, "creating the BPF iterator");
        goto out;
    }
    rc = ep_bpf_read_ports(fd, lo, hi, ports);
    if (rc == -ENOTSUP)
        snprintf(why, len, "this kernel does not mark sockets autobound by connect() "
                           "(tw_connect_bind: Linux 6.18): sockets alone cannot show its "
                           "sticky ports");
    else if (rc == -EPROTO)
        snprintf(why, len, "the BPF iterator wrote a port outside the range asked");
    else if (rc)
        rc = ep_bpf_fail(rc, why, len, "reading the BPF iterator");
out:
    if (fd >= 0)
        close(fd);
    bpf_link__destroy(link);
    bpf_object__close(obj);
    libbpf_set_print(old_print);
    if (rc)
        memset(ports, 0, sizeof *ports);
    return rc;
}

#else /* !EP_HAVE_BPF */

int ep_host_sticky_bpf(uint16_t lo, uint16_t hi, ep_portset *ports, char *why, size_t len)
{
    (void)lo;
    (void)hi;
    memset(ports, 0, sizeof *ports);
    snprintf(why, len, "ephport was built without BPF (meson -Dbpf=disabled)");
    return -ENOTSUP;
}

#endif
