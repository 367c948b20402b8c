/* ephport/error.h - error codes shared by every face of libephport.
 *
 * Like libuv, every function that can fail returns 0 (or a non-negative
 * value) on success and a negative errno value on failure.  The EP_E* names
 * below are those negative values, so callers can compare against either
 * spelling: `rc == EP_EADDRNOTAVAIL` and `rc == -EADDRNOTAVAIL` are the same.
 */
#ifndef EPHPORT_ERROR_H
#define EPHPORT_ERROR_H

#include <ephport/api.h>

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EP_EINVAL        (-EINVAL)        /* malformed argument or text */
#define EP_ENOMEM        (-ENOMEM)        /* allocation failed */
#define EP_EADDRNOTAVAIL (-EADDRNOTAVAIL) /* no port free for that destination */
#define EP_EADDRINUSE    (-EADDRINUSE)    /* bind conflicts with a holder */
#define EP_EDQUOT        (-EDQUOT)        /* owner quota reached */
#define EP_ENOENT        (-ENOENT)        /* no such connection, binding, entry */
#define EP_EAFNOSUPPORT  (-EAFNOSUPPORT)  /* address family not usable here */
#define EP_ERANGE        (-ERANGE)        /* port outside the pool's range */
#define EP_EALREADY      (-EALREADY)      /* operation already done (double close) */
#define EP_ENOSPC        (-ENOSPC)        /* output buffer too small */
#define EP_EEXIST        (-EEXIST)        /* already present */
#define EP_EPERM         (-EPERM)         /* not permitted */
#define EP_EIO           (-EIO)           /* I/O or storage error */
#define EP_ENOTSUP       (-ENOTSUP)       /* not supported here */
#define EP_EBADMSG       (-EBADMSG)       /* stored data failed its check (damaged) */

/* A short human sentence for an error code ("no free port for this
 * destination"); never NULL.  Unknown codes fall back to strerror(). */
EP_API const char *ep_strerror(int err);

/* The constant's name without the EP_ prefix ("EADDRNOTAVAIL"); never NULL,
 * "UNKNOWN" for codes this library does not return. */
EP_API const char *ep_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
