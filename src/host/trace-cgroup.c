/* trace-cgroup.c - cgroup v2 ids and paths, for the container of a failure
 * event and for --cgroup.
 *
 * The BPF programs see a cgroup as its v2 id (bpf_get_current_cgroup_id),
 * which on 64-bit kernels is the inode number of the cgroup's directory.
 * A path is found from an id by opening the directory by file handle (the
 * kernfs handle is the 64-bit id: open_by_handle_at, which needs
 * CAP_DAC_READ_SEARCH) and reading the link in /proc/self/fd; a cgroup
 * removed meanwhile has no path (unknown, never a guess).  The last
 * EP_CG_CACHE answers are kept, so a process failing in a loop costs one
 * lookup.  The v2 mount is found in /proc/self/mountinfo: /sys/fs/cgroup
 * on a unified host, /sys/fs/cgroup/unified on a hybrid one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace-internal.h"

#define EP_CG_CACHE 64
#define EP_FILEID_KERNFS 0xfe

struct ep_trace_cgroups {
    char mount[PATH_MAX];
    int mount_fd;
    struct {
        uint64_t id;
        char *path;               /* NULL: known to be unknown */
    } cache[EP_CG_CACHE];
    size_t next;
};

/* The mount point of the cgroup2 file system, from mountinfo. */
static int ep_cg_find_mount(char *out, size_t len)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    int rc = -ENOENT;

    if (!f)
        return -errno;
    while (fgets(line, sizeof line, f)) {
        /* id parent major:minor root mountpoint options ... - fstype src */
        char *dash = strstr(line, " - ");
        char mnt[PATH_MAX];
        if (!dash || strncmp(dash + 3, "cgroup2 ", 8) != 0)
            continue;
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
            continue;
        if (strlen(mnt) >= len)
            continue;
        snprintf(out, len, "%s", mnt);
        rc = 0;
        break;
    }
    fclose(f);
    return rc;
}

ep_trace_cgroups *ep_trace_cgroups_open(void)
{
    ep_trace_cgroups *cg = calloc(1, sizeof *cg);

    if (!cg)
        return NULL;
    if (ep_cg_find_mount(cg->mount, sizeof cg->mount) != 0) {
        free(cg);
        return NULL;
    }
    cg->mount_fd = open(cg->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg->mount_fd < 0) {
        free(cg);
        return NULL;
    }
    return cg;
}

void ep_trace_cgroups_close(ep_trace_cgroups *cg)
{
    if (!cg)
        return;
    for (size_t i = 0; i < EP_CG_CACHE; i++)
        free(cg->cache[i].path);
    close(cg->mount_fd);
    free(cg);
}

static char *ep_cg_resolve(ep_trace_cgroups *cg, uint64_t id)
{
    union {
        struct file_handle fh;
        unsigned char space[sizeof(struct file_handle) + sizeof(uint64_t)];
    } h;
    char link[64], target[PATH_MAX];
    size_t mlen = strlen(cg->mount);
    ssize_t n;
    int fd;

    h.fh.handle_bytes = sizeof id;
    h.fh.handle_type = EP_FILEID_KERNFS;
    memcpy(h.fh.f_handle, &id, sizeof id);
    fd = open_by_handle_at(cg->mount_fd, &h.fh, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    target[n] = '\0';
    if (strncmp(target, cg->mount, mlen) != 0 || (target[mlen] != '/' && target[mlen]))
        return NULL;
    return strdup(target[mlen] ? target + mlen : "/");
}

const char *ep_trace_cgroups_path(ep_trace_cgroups *cg, uint64_t id)
{
    size_t slot;

    if (!cg)
        return NULL;
    for (size_t i = 0; i < EP_CG_CACHE; i++)
        if (cg->cache[i].id == id && id)
            return cg->cache[i].path;
    slot = cg->next++ % EP_CG_CACHE;
    free(cg->cache[slot].path);
    cg->cache[slot].id = id;
    cg->cache[slot].path = ep_cg_resolve(cg, id);
    return cg->cache[slot].path;
}

int ep_trace_cgroups_lookup(ep_trace_cgroups *cg, const char *path, uint64_t *id,
                            uint32_t *level, char *why, size_t len)
{
    char full[PATH_MAX], real[PATH_MAX];
    size_t mlen;
    struct stat st;
    const char *rel;

    if (!cg) {
        snprintf(why, len, "--cgroup needs a cgroup v2 file system, and none is mounted");
        return -ENOTSUP;
    }
    mlen = strlen(cg->mount);
    if (strncmp(path, cg->mount, mlen) == 0 && (path[mlen] == '/' || !path[mlen]))
        snprintf(full, sizeof full, "%s", path);
    else if ((size_t)snprintf(full, sizeof full, "%s/%s", cg->mount,
                              path + strspn(path, "/")) >= sizeof full) {
        snprintf(why, len, "cgroup path too long");
        return -ENAMETOOLONG;
    }
    if (!realpath(full, real) || stat(real, &st) != 0) {
        int e = errno;
        snprintf(why, len, "cgroup %s: %s", full, strerror(e));
        return -e;
    }
    if (!S_ISDIR(st.st_mode) || strncmp(real, cg->mount, mlen) != 0 ||
        (real[mlen] != '/' && real[mlen])) {
        snprintf(why, len, "%s is not a cgroup under %s", full, cg->mount);
        return -EINVAL;
    }
    *id = (uint64_t)st.st_ino;
    *level = 0;
    for (rel = real + mlen; *rel; rel++)
        if (*rel == '/' && rel[1])
            (*level)++;
    return 0;
}
