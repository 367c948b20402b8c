/* netns.c - `--netns NAME|PATH`: read another network namespace by moving
 * the calling thread into it with setns(2) and back afterwards.  A NAME is
 * looked up under /run/netns (where ip-netns(8) keeps them); anything with a
 * slash is a path (/proc/PID/ns/net, a bind mount).  Entering needs
 * CAP_SYS_ADMIN; the error says so. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host-internal.h"

int ep_host_netns_enter(const char *spec, int *saved, char *why, size_t len)
{
    char path[4096];
    int fd, self, e;

    *saved = -1;
    if (!spec || !*spec) {
        snprintf(why, len, "empty namespace name");
        return -EINVAL;
    }
    if (strchr(spec, '/')) {
        if (strlen(spec) >= sizeof path) {
            snprintf(why, len, "namespace path too long");
            return -EINVAL;
        }
        snprintf(path, sizeof path, "%s", spec);
    } else {
        if (strcmp(spec, ".") == 0 || strcmp(spec, "..") == 0 || strlen(spec) > 255) {
            snprintf(why, len, "'%s' is not a namespace name", spec);
            return -EINVAL;
        }
        snprintf(path, sizeof path, "/run/netns/%s", spec);
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        snprintf(why, len, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        e = errno;
        snprintf(why, len, "cannot open /proc/thread-self/ns/net: %s", strerror(e));
        close(fd);
        return -e;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
        e = errno;
        if (e == EINVAL)
            snprintf(why, len, "%s is not a network namespace", path);
        else if (e == EPERM)
            snprintf(why, len, "cannot enter %s: %s (needs CAP_SYS_ADMIN)", path, strerror(e));
        else
            snprintf(why, len, "cannot enter %s: %s", path, strerror(e));
        close(fd);
        close(self);
        return -e;
    }
    close(fd);
    *saved = self;
    return 0;
}

void ep_host_netns_leave(int saved)
{
    if (saved < 0)
        return;
    /* Returning to the namespace we came from is permitted whenever entering
     * was; if it still fails the thread would read the wrong namespace, so
     * there is no safe way to continue. */
    if (setns(saved, CLONE_NEWNET) != 0) {
        perror("ephport: cannot return to the original network namespace");
        _exit(70);
    }
    close(saved);
}
