/* error.c - ep_strerror() and ep_err_name(): the words for the negative errno
 * values that every libephport function returns. */
#include <string.h>

#include <ephport/error.h>

struct ep_error_text {
    int code;
    const char *name;
    const char *text;
};

static const struct ep_error_text ep_errors[] = {
    { EP_EINVAL, "EINVAL", "invalid argument" },
    { EP_ENOMEM, "ENOMEM", "out of memory" },
    { EP_EADDRNOTAVAIL, "EADDRNOTAVAIL", "no free port for this destination" },
    { EP_EADDRINUSE, "EADDRINUSE", "address and port already in use" },
    { -EAGAIN, "EAGAIN", "no free port for a UDP socket (Linux autobind)" },
    { EP_EDQUOT, "EDQUOT", "owner's port quota reached" },
    { EP_ENOENT, "ENOENT", "no such connection, binding or entry" },
    { EP_EAFNOSUPPORT, "EAFNOSUPPORT", "no usable address of that family" },
    { EP_ERANGE, "ERANGE", "port outside the allowed range" },
    { EP_EALREADY, "EALREADY", "already released" },
    { EP_ENOSPC, "ENOSPC", "buffer too small" },
    { EP_EEXIST, "EEXIST", "already present" },
    { EP_EPERM, "EPERM", "operation not permitted" },
    { EP_EIO, "EIO", "input/output error" },
    { EP_ENOTSUP, "ENOTSUP", "operation not supported" },
    { EP_EBADMSG, "EBADMSG", "stored data is damaged" },
};

static const struct ep_error_text *ep_error_lookup(int err)
{
    for (size_t i = 0; i < sizeof ep_errors / sizeof ep_errors[0]; i++)
        if (ep_errors[i].code == err)
            return &ep_errors[i];
    return NULL;
}

const char *ep_strerror(int err)
{
    const struct ep_error_text *e = ep_error_lookup(err);
    if (e)
        return e->text;
    if (err == 0)
        return "success";
    return strerror(err < 0 ? -err : err);
}

const char *ep_err_name(int err)
{
    const struct ep_error_text *e = ep_error_lookup(err);
    if (e)
        return e->name;
    return err == 0 ? "OK" : "UNKNOWN";
}
