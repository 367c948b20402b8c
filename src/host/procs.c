/* procs.c - `--processes`: which programs own the busiest destinations.
 * While grouping, each destination kept a sample of up to
 * EP_HOST_PROC_SAMPLE socket inodes (TIME_WAIT entries have none: no
 * process owns them any more).  Here one walk of /proc/<pid>/fd resolves
 * "socket:[inode]" links against a sorted table of those samples, so the
 * cost is one readlink per open fd on the host, done only on request. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host-internal.h"

struct ep_host_inode_ref {
    uint32_t inode;
    uint32_t dest;
};

static int ep_host_ref_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct ep_host_inode_ref *)a)->inode;
    uint32_t y = ((const struct ep_host_inode_ref *)b)->inode;
    return x < y ? -1 : x > y;
}

static void ep_host_proc_count(ep_host_snapshot *s, uint32_t di, int pid)
{
    ep_host_entry *e = &s->entries[di];
    ep_host_proc *p;
    for (size_t i = 0; i < e->d.nprocs; i++) {
        if (e->procs[i].pid == pid) {
            e->procs[i].sockets++;
            return;
        }
    }
    p = realloc(e->procs, (e->d.nprocs + 1) * sizeof *p);
    if (!p) {
        s->oom = 1;
        return;
    }
    e->procs = p;
    p = &e->procs[e->d.nprocs++];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->sockets = 1;
    {
        char path[64], *text;
        snprintf(path, sizeof path, "/proc/%d/comm", pid);
        if (ep_host_read_file(path, &text, NULL) == 0) {
            size_t n = strcspn(text, "\n");
            if (n >= sizeof p->comm)
                n = sizeof p->comm - 1;
            memcpy(p->comm, text, n);
            free(text);
            /* comm is arbitrary bytes; keep it printable ASCII (JSON, TTY) */
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)p->comm[i] < 0x20 || (unsigned char)p->comm[i] > 0x7e)
                    p->comm[i] = '?';
        }
    }
}

static int ep_host_procs_cmp(const void *a, const void *b)
{
    const ep_host_proc *x = a, *y = b;
    if (x->sockets != y->sockets)
        return x->sockets > y->sockets ? -1 : 1;
    return x->pid - y->pid;
}

void ep_host_find_processes(ep_host_snapshot *s)
{
    struct ep_host_inode_ref *refs;
    size_t nrefs = 0, cap = 0, denied = 0;
    DIR *proc;
    struct dirent *de;

    for (size_t i = 0; i < s->ndests; i++)
        cap += s->entries[i].nsample;
    if (cap == 0)
        return;
    refs = malloc(cap * sizeof *refs);
    if (!refs) {
        s->oom = 1;
        return;
    }
    for (size_t i = 0; i < s->ndests; i++)
        for (uint32_t j = 0; j < s->entries[i].nsample; j++)
            refs[nrefs++] = (struct ep_host_inode_ref){ s->entries[i].sample[j], (uint32_t)i };
    qsort(refs, nrefs, sizeof *refs, ep_host_ref_cmp);

    proc = opendir("/proc");
    if (!proc) {
        ep_host_note(s, "could not list /proc for --processes: %s", strerror(errno));
        free(refs);
        return;
    }
    while ((de = readdir(proc)) != NULL) {
        char path[600];
        DIR *fds;
        struct dirent *fe;
        int pid;
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        pid = atoi(de->d_name);
        snprintf(path, sizeof path, "/proc/%s/fd", de->d_name);
        fds = opendir(path);
        if (!fds) {
            if (errno == EACCES || errno == EPERM)
                denied++;
            continue;
        }
        while ((fe = readdir(fds)) != NULL) {
            char link[64];
            ssize_t n;
            unsigned long ino;
            struct ep_host_inode_ref key, *hit;
            if (fe->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/proc/%s/fd/%s", de->d_name, fe->d_name);
            n = readlink(path, link, sizeof link - 1);
            if (n <= 0)
                continue;
            link[n] = '\0';
            if (sscanf(link, "socket:[%lu]", &ino) != 1 || ino > UINT32_MAX)
                continue;
            key.inode = (uint32_t)ino;
            hit = bsearch(&key, refs, nrefs, sizeof *refs, ep_host_ref_cmp);
            if (!hit)
                continue;
            /* Several destinations never share an inode; walk equal keys
             * anyway in case a sample repeats. */
            while (hit > refs && hit[-1].inode == key.inode)
                hit--;
            for (; hit < refs + nrefs && hit->inode == key.inode; hit++)
                ep_host_proc_count(s, hit->dest, pid);
        }
        closedir(fds);
    }
    closedir(proc);
    free(refs);
    for (size_t i = 0; i < s->ndests; i++) {
        ep_host_entry *e = &s->entries[i];
        if (e->d.nprocs > 1)
            qsort(e->procs, e->d.nprocs, sizeof *e->procs, ep_host_procs_cmp);
        e->d.procs = e->procs;
    }
    if (denied)
        ep_host_note(s, "--processes: could not read the open files of %zu processes "
                        "(permission denied; run as root to see every owner)", denied);
}
