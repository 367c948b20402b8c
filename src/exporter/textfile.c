/* textfile.c - atomic file replacement (temporary file in the same
 * directory, fsync, rename, fsync of the directory), the write pattern of
 * node_exporter's textfile collector.  The temporary name starts with a dot
 * so the collector, which reads only *.prom, never picks it up. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "textfile.h"

static int ep_textfile_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Say which step failed: "cannot write PATH: STEP: strerror". */
static int ep_textfile_fail(char *why, size_t whylen, const char *path, const char *step,
                            const char *arg, int rc)
{
    if (why && whylen) {
        char what[256];
        snprintf(what, sizeof what, step, arg);
        snprintf(why, whylen, "cannot write %s: %s: %s", path, what, strerror(-rc));
    }
    return rc;
}

int ep_textfile_write(const char *path, const char *data, size_t len, char *why, size_t whylen)
{
    const char *slash, *base;
    char *dir = NULL, *tmp = NULL;
    struct stat st;
    size_t dlen;
    int fd = -1, dfd, rc = 0;

    if (why && whylen)
        why[0] = '\0';
    if (!path || !*path) {
        if (why && whylen)
            snprintf(why, whylen, "an empty file name");
        return -EINVAL;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return ep_textfile_fail(why, whylen, path, "it is a directory%s", "", -EISDIR);
    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    if (!*base)
        return ep_textfile_fail(why, whylen, path, "it names a directory%s", "", -EISDIR);
    dlen = slash ? (size_t)(slash - path) : 1;
    dir = malloc(dlen + 1);
    tmp = malloc(strlen(path) + 16);
    if (!dir || !tmp) {
        rc = ep_textfile_fail(why, whylen, path, "out of memory%s", "", -ENOMEM);
        goto out;
    }
    if (slash) {
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
        if (dlen == 0)
            strcpy(dir, "/");
    } else {
        strcpy(dir, ".");
    }
    sprintf(tmp, "%.*s.%s.XXXXXX", slash ? (int)(base - path) : 0, path, base);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        /* the file is replaced by a new one written beside it, so it is its
         * directory that must be writable (a /proc file never is) */
        rc = ep_textfile_fail(why, whylen, path,
                              "cannot create the temporary file beside it in %s (the file "
                              "is replaced by renaming a new one over it)", dir, -errno);
        goto out;
    }
    if ((rc = ep_textfile_write_all(fd, data, len)) != 0) {
        ep_textfile_fail(why, whylen, path, "writing %s", tmp, rc);
        goto fail;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        rc = ep_textfile_fail(why, whylen, path, "syncing %s", tmp, -errno);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = ep_textfile_fail(why, whylen, path, "closing %s", tmp, -errno);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = ep_textfile_fail(why, whylen, path, "renaming %s over it", tmp, -errno);
        goto fail;
    }
    /* Make the rename itself durable. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL)
            rc = ep_textfile_fail(why, whylen, path, "syncing the directory %s", dir, -errno);
        close(dfd);
    }
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(dir);
    free(tmp);
    return rc;
}
