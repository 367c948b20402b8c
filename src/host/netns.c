/* netns.c - `--netns NAME|PATH`: read another network namespace.  A NAME is
 * looked up under /run/netns (where ip-netns(8) keeps them); anything with a
 * slash is a path (/proc/PID/ns/net, a bind mount).  Entering needs
 * CAP_SYS_ADMIN; the error says so.
 *
 * The reading runs on a thread of its own that enters the namespace with
 * setns(2) (network namespaces are per thread) and ends when the reading
 * does.  The caller's thread never changes namespace, so there is no "return
 * to the original namespace" that could fail and leave it reading the wrong
 * one, and a library call never has to end the process over it.  Readers
 * use /proc/thread-self/net and sockets opened on that thread, which follow
 * the thread's namespace. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "host-internal.h"

typedef struct ep_netns_job {
    int fd;                 /* the namespace to enter */
    const char *path;       /* for messages */
    int (*fn)(void *);
    void *arg;
    int rc;
    char *why;
    size_t len;
} ep_netns_job;

int ep_host_netns_path(const char *spec, char *path, size_t size, char *why, size_t len)
{
    if (!spec || !*spec) {
        snprintf(why, len, "empty namespace name");
        return -EINVAL;
    }
    if (strchr(spec, '/')) {
        if (strlen(spec) >= size) {
            snprintf(why, len, "namespace path too long");
            return -EINVAL;
        }
        snprintf(path, size, "%s", spec);
        return 0;
    }
    if (strcmp(spec, ".") == 0 || strcmp(spec, "..") == 0 || strlen(spec) > 255 ||
        strlen(spec) + sizeof "/run/netns/" > size) {
        snprintf(why, len, "'%s' is not a namespace name", spec);
        return -EINVAL;
    }
    snprintf(path, size, "/run/netns/%s", spec);
    return 0;
}

static void *ep_netns_thread(void *p)
{
    ep_netns_job *job = p;

    if (setns(job->fd, CLONE_NEWNET) != 0) {
        int e = errno;
        if (e == EINVAL)
            snprintf(job->why, job->len, "%s is not a network namespace", job->path);
        else if (e == EPERM)
            snprintf(job->why, job->len, "cannot enter %s: %s (needs CAP_SYS_ADMIN)", job->path,
                     strerror(e));
        else
            snprintf(job->why, job->len, "cannot enter %s: %s", job->path, strerror(e));
        job->rc = -e;
        return NULL;
    }
    job->rc = job->fn(job->arg);
    return NULL;
}

int ep_host_in_netns(const char *spec, int (*fn)(void *), void *arg, char *why, size_t len)
{
    return ep_host_in_netns_inode(spec, 0, fn, arg, why, len);
}

int ep_host_in_netns_inode(const char *spec, uint64_t inode, int (*fn)(void *), void *arg,
                           char *why, size_t len)
{
    char path[4096];
    ep_netns_job job = { .fn = fn, .arg = arg, .why = why, .len = len, .path = path };
    pthread_t t;
    int rc;

    if (!spec)
        return fn(arg);
    rc = ep_host_netns_path(spec, path, sizeof path, why, len);
    if (rc)
        return rc;
    job.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (job.fd < 0) {
        rc = -errno;
        snprintf(why, len, "cannot open %s: %s", path, strerror(-rc));
        return rc;
    }
    if (inode) {
        struct stat st;
        if (fstat(job.fd, &st) != 0 || (uint64_t)st.st_ino != inode) {
            snprintf(why, len, "%s is no longer namespace %llu", path,
                     (unsigned long long)inode);
            close(job.fd);
            return -ESTALE;
        }
    }
    rc = pthread_create(&t, NULL, ep_netns_thread, &job);
    if (rc != 0) {
        snprintf(why, len, "cannot start a thread to enter %s: %s", path, strerror(rc));
        close(job.fd);
        return -rc;
    }
    rc = pthread_join(t, NULL);
    close(job.fd);
    assert(rc == 0);    /* joinable, not self, not joined before */
    return job.rc;
}
