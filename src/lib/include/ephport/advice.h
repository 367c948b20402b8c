/* advice_os.h - per-OS operator advice: for each operating system profile,
 * the settings that bound its ephemeral ports and TIME_WAIT, with the exact
 * commands to inspect them, change them and make the change survive a reboot.
 *
 * Private to ephport (the `advise` command today, the planner later): the
 * texts are data, not logic, so the command renders them as a table or JSON
 * and the tests check them for exact command spellings.  The numbers (default
 * range, TIME_WAIT length) come from ephport/profile.h, never from this file,
 * so the two cannot disagree.
 */
#ifndef EPHPORT_ADVICE_H
#define EPHPORT_ADVICE_H

#include <ephport/api.h>

#include <stddef.h>
#include <stdint.h>

#include <ephport/profile.h>

/* One tunable or technique. Any text field except topic and why may be NULL
 * ("no such command on this OS"). */
typedef struct ep_advice_item {
    const char *topic;          /* short title: "ephemeral port range" */
    const char *setting;        /* the knob: "net.ipv4.ip_local_port_range" */
    const char *default_value;  /* the OS default as the OS prints it */
    const char *why;            /* what it does for port exhaustion, in one or two sentences */
    const char *inspect;        /* exact command that shows the current value */
    const char *change;         /* exact command that changes it now */
    const char *persist;        /* how the change survives a reboot */
} ep_advice_item;

typedef struct ep_advice_os {
    const char *name;           /* profile name: "linux", "windows", "macos", "freebsd" */
    const ep_advice_item *items;
    size_t n_items;
} ep_advice_os;

/* The OSes with advice, in a fixed order (linux, windows, macos, freebsd). */
EP_API size_t ep_advice_os_count(void);
EP_API const ep_advice_os *ep_advice_os_at(size_t i);        /* NULL past the end */
EP_API const ep_advice_os *ep_advice_os_find(const char *name); /* NULL if unknown */

/* The OS's profile (default ranges, TIME_WAIT length); never NULL for an
 * entry of this table. */
EP_API const ep_profile *ep_advice_os_profile(const ep_advice_os *os);

/* Ports in a profile's default range (the primary range, not the high one). */
EP_API uint32_t ep_advice_os_ports(const ep_advice_os *os);

/* The steady-state new-connection rate one destination can sustain on the
 * mean: every connection this host closes first holds its port for
 * TIME_WAIT, so at most `ports` connections per `time_wait_ms`
 * (ep_capacity_sustainable_rate).  time_wait_ms is the OS's nominal length:
 * for Linux as the kernel keeps it, pass ep_linux_time_wait_upper().
 * Returns connections per second, 0.0 when time_wait_ms is 0 (no
 * TIME_WAIT: unbounded, callers say so). */
EP_API double ep_advice_sustainable_rate(uint32_t ports, uint32_t time_wait_ms);

#endif
