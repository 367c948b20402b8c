/* textfile.h - durable, atomic replacement of a small file, for
 * `ephport status --prometheus FILE` (node_exporter's textfile collector
 * must never read a half-written file). */
#ifndef EP_EXPORTER_TEXTFILE_H
#define EP_EXPORTER_TEXTFILE_H

#include <stddef.h>

/* Replace `path` with `len` bytes of `data`: write a temporary file in the
 * same directory (".<name>.XXXXXX"), fsync it, chmod 0644, rename it over
 * `path`, fsync the directory.  Readers see the old file or the new one,
 * never a mix.  Returns 0 or a negative errno (-EISDIR if path names a
 * directory, -EINVAL for an empty path); the temporary file is removed on
 * failure.  On failure `why` (may be NULL) says which step failed and why:
 * "cannot write PATH: cannot create the temporary file beside it in DIR
 * ...: Permission denied". */
int ep_textfile_write(const char *path, const char *data, size_t len, char *why, size_t whylen);

#endif
