/* profile.c - built-in operating-system profiles: default ephemeral ranges and
 * TIME_WAIT lengths, each with the setting that changes it and its source. */
#include <string.h>

#include <ephport/profile.h>

static const ep_profile ep_profiles[] = {
    { "linux", "Linux", 32768, 60999, 0, 0, 60000,
      "sysctl net.ipv4.ip_local_port_range (and ip_local_reserved_ports)",
      "fixed: TCP_TIMEWAIT_LEN = 60 s in include/net/tcp.h; tcp_tw_reuse allows early reuse",
      "Linux Documentation/networking/ip-sysctl.rst; include/net/tcp.h" },
    { "windows", "Windows (Vista and later)", 49152, 65535, 0, 0, 120000,
      "netsh int ipv4|ipv6 set dynamicport tcp|udp start=N num=N",
      "registry HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\\TcpTimedWaitDelay (default 120 s, 30-300)",
      "Microsoft KB 929851 (dynamic port range); TcpTimedWaitDelay documentation" },
    { "macos", "macOS", 49152, 65535, 0, 0, 30000,
      "sysctl net.inet.ip.portrange.first / net.inet.ip.portrange.last",
      "sysctl net.inet.tcp.msl (default 15000 ms; TIME_WAIT = 2 x MSL)",
      "XNU bsd/netinet/in_pcb.c (ipport_firstauto/lastauto), tcp_timer.c" },
    { "freebsd", "FreeBSD", 10000, 65535, 49152, 65535, 60000,
      "sysctl net.inet.ip.portrange.first / .last (IP_PORTRANGE_HIGH: .hifirst / .hilast)",
      "sysctl net.inet.tcp.msl (default 30000 ms; TIME_WAIT = 2 x MSL)",
      "FreeBSD sys/netinet/in.h (IPPORT_EPHEMERALFIRST/LAST, IPPORT_HIFIRSTAUTO), ip(4)" },
    { "iana", "IANA dynamic/private ports (RFC 6335)", 49152, 65535, 0, 0, 240000,
      "none: a registry range, not an OS setting",
      "RFC 793 MSL of 2 minutes: TIME_WAIT = 2 x MSL = 240 s",
      "RFC 6335 section 6; RFC 793" },
};

size_t ep_profile_count(void)
{
    return sizeof ep_profiles / sizeof ep_profiles[0];
}

const ep_profile *ep_profile_at(size_t i)
{
    return i < ep_profile_count() ? &ep_profiles[i] : NULL;
}

const ep_profile *ep_profile_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < ep_profile_count(); i++)
        if (strcmp(ep_profiles[i].name, name) == 0)
            return &ep_profiles[i];
    return NULL;
}
