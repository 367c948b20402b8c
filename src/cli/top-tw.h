/* top-tw.h - the ages of the TIME_WAIT entries present when `ephport top`
 * starts, read once from their kernel timers (NETLINK_SOCK_DIAG reports the
 * milliseconds left before each entry expires), so the rate estimator does
 * not have to assume them evenly aged (see top-rate.h).
 *
 * The host snapshot (ephport/host.h) counts TIME_WAIT per destination but
 * does not keep timers; this is a second, TIME_WAIT-only dump, done once.
 */
#ifndef EP_CLI_TOP_TW_H
#define EP_CLI_TOP_TW_H

#include <stddef.h>
#include <stdint.h>

#include <ephport/addr.h>

/* One TIME_WAIT socket: its destination as the host snapshot keys it
 * (v4-mapped IPv6 addresses folded to IPv4) and the time it has left. */
typedef struct ep_top_tw {
    ep_addr local, remote;
    uint16_t local_port, remote_port;
    uint32_t expires_ms;
} ep_top_tw;

typedef void (*ep_top_tw_fn)(const ep_top_tw *tw, void *arg);

/* Walk one buffer of netlink messages from a sock_diag dump, calling fn for
 * each TCP TIME_WAIT socket (other states are skipped).  Trusts no length:
 * returns 0 when the buffer ended without NLMSG_DONE (read more), 1 at
 * NLMSG_DONE, the kernel's negative errno for NLMSG_ERROR, -EINVAL for a
 * malformed message. */
int ep_top_tw_parse(const void *buf, size_t len, ep_top_tw_fn fn, void *arg);

/* Dump the TCP TIME_WAIT sockets (IPv4 and IPv6) whose local port lies in
 * [lo, hi] in network namespace `netns` (NULL: the caller's; a name under
 * /run/netns or a path), returning to the caller's namespace before it
 * returns.  0 or a negative errno. */
int ep_top_tw_dump(const char *netns, uint16_t lo, uint16_t hi, ep_top_tw_fn fn, void *arg);

#endif
