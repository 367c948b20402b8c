/* advice_os.c - the per-OS advice tables behind `ephport advise`: which
 * settings bound ephemeral ports and TIME_WAIT on Linux, Windows, macOS and
 * FreeBSD, and the exact commands to inspect, change and persist them.
 *
 * Every command here is meant to be pasted as is, so each one is the real
 * syntax of that OS's own tool (sysctl(8) of Linux and of the BSDs differ:
 * FreeBSD takes name=value without -w; Windows uses netsh and reg).  The
 * example values are chosen to be valid: start=10000 num=55536 ends exactly at
 * 65535, Linux's "1024 65535" keeps the odd/even split the kernel wants.
 * Defaults that are numbers (ranges, TIME_WAIT) live in profile.c; the texts
 * below repeat them only where the OS prints them that way, and the unit tests
 * check that the two agree.  The rate arithmetic is ephport/capacity.h's.
 */
#include <string.h>

#include <ephport/capacity.h>

#include <ephport/advice.h>

#define LINUX_PERSIST(line) "echo '" line "' >> /etc/sysctl.d/90-ephport.conf && sysctl --system"

static const ep_advice_item ep_advice_linux[] = {
    { "ephemeral port range", "net.ipv4.ip_local_port_range", "32768 60999",
      "The ports connect() and bind(0) choose from. Each destination (local address, remote "
      "address, remote port, protocol) can hold at most this many connections, TIME_WAIT "
      "included. Keep the two ends of different parity: connect() tries the ports of the "
      "first port's parity first and bind(0) the others. Starting at 1024 overlaps service "
      "ports: reserve the ones you listen on.",
      "sysctl net.ipv4.ip_local_port_range",
      "sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"",
      LINUX_PERSIST("net.ipv4.ip_local_port_range = 1024 65535") },
    { "reserved ports", "net.ipv4.ip_local_reserved_ports", "empty",
      "Ports inside the range that automatic choice skips (explicit bind() still works). Use it "
      "for listening services and for Kubernetes NodePorts (30000-32767) when the range covers "
      "them; reserved ports are subtracted from the effective range.",
      "sysctl net.ipv4.ip_local_reserved_ports",
      "sysctl -w net.ipv4.ip_local_reserved_ports=\"8080,30000-32767\"",
      LINUX_PERSIST("net.ipv4.ip_local_reserved_ports = 8080,30000-32767") },
    { "TIME_WAIT length", "TCP_TIMEWAIT_LEN (compile-time constant)", "60 s",
      "The side that closes first keeps the 4-tuple in TIME_WAIT for 60 s; this is fixed in "
      "the kernel source and no sysctl changes it. The timer fires up to one timer-wheel "
      "granularity late (2.05 s at HZ=250, 5.12 s at HZ=100), so a port stays blocked up to "
      "62-65 s. It caps the mean sustainable rate per destination at effective ports / 65.12 s "
      "(28232 / 65.12 = 433 new connections/s by default); fewer for few failures (ephport "
      "plan).",
      "ss -Htan state time-wait | wc -l",
      NULL,
      NULL },
    { "TIME_WAIT per destination", "(observation)", NULL,
      "Which remote address:port holds the most TIME_WAIT entries: the destination that will "
      "run out first.",
      "ss -Htan state time-wait | awk '{print $4}' | sort | uniq -c | sort -rn | head",
      NULL,
      NULL },
    { "TIME_WAIT reuse", "net.ipv4.tcp_tw_reuse", "2",
      "0 = never reuse a TIME_WAIT port for a new outgoing connection; 1 = reuse it for any "
      "destination when TCP timestamps prove it safe (needs net.ipv4.tcp_timestamps=1 on both "
      "ends); 2 = reuse for loopback connections only. Reuse waits tcp_tw_reuse_delay ms "
      "(default 1000) after the entry was created, on kernels that have that sysctl. It only "
      "helps outgoing connections. (tcp_tw_recycle was removed in Linux 4.12: do not look "
      "for it.)",
      "sysctl net.ipv4.tcp_tw_reuse net.ipv4.tcp_timestamps",
      "sysctl -w net.ipv4.tcp_tw_reuse=1",
      LINUX_PERSIST("net.ipv4.tcp_tw_reuse = 1") },
    { "FIN_WAIT_2 timeout", "net.ipv4.tcp_fin_timeout", "60",
      "How long an orphaned connection may stay in FIN_WAIT_2. It is NOT the TIME_WAIT "
      "length: lowering it does not free ports held in TIME_WAIT.",
      "sysctl net.ipv4.tcp_fin_timeout",
      NULL,
      NULL },
    { "TIME_WAIT table limit", "net.ipv4.tcp_max_tw_buckets", "half the TCP established hash size",
      "The most TIME_WAIT entries a namespace keeps. Past it new ones are destroyed at once "
      "(\"TCP: time wait bucket table overflow\", counter TcpExtTCPTimeWaitOverflow): ports "
      "come back early, without TIME_WAIT's protection.",
      "sysctl net.ipv4.tcp_max_tw_buckets; nstat -az TcpExtTCPTimeWaitOverflow",
      "sysctl -w net.ipv4.tcp_max_tw_buckets=262144",
      LINUX_PERSIST("net.ipv4.tcp_max_tw_buckets = 262144") },
    { "bind before connect", "IP_BIND_ADDRESS_NO_PORT (socket option, Linux 4.2+)", "off",
      "A client that calls bind() on a source address before connect() takes a port for every "
      "destination at once. Set this option before bind() and the port is chosen at connect() "
      "time per destination, so one port serves many destinations.",
      "ephport status  (the bind-only line counts ports held this way)",
      "setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &(int){1}, sizeof(int));  "
      "(before bind())",
      "in the application's code" },
    { "per-socket range", "IP_LOCAL_PORT_RANGE (socket option, Linux 6.3+)", "unset",
      "Narrows the range for one socket (lower 16 bits: first port, upper 16 bits: last port), "
      "e.g. to split the range between processes that share source addresses. It can only "
      "narrow the namespace's range, never widen it.",
      NULL,
      "setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &(uint32_t){(60999u << 16) | 40000u}, "
      "sizeof(uint32_t));",
      "in the application's code" },
    { "SO_REUSEADDR", "SO_REUSEADDR (socket option)", "off",
      "Lets a server bind its listening port again while old connections on it sit in "
      "TIME_WAIT. It does not raise the per-destination limit of outgoing connections and is "
      "not a remedy for exhaustion.",
      NULL,
      "setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));",
      "in the application's code" },
    { "more source addresses", "local addresses", NULL,
      "Each local address has its own full range per destination. Add addresses and spread "
      "connections over them with bind(addr, port 0) plus IP_BIND_ADDRESS_NO_PORT; likewise "
      "more destination addresses or ports multiply the limit.",
      "ip -brief address show",
      "ip address add 192.0.2.11/24 dev eth0",
      "in the distribution's network configuration (systemd-networkd, netplan, ifupdown)" },
    { "keep-alive and pooling", "application", NULL,
      "Every connection a client reuses instead of closing is one TIME_WAIT entry fewer. HTTP "
      "keep-alive and connection pools cut the new-connection rate at its source.",
      "ss -Htan state established | wc -l",
      NULL,
      NULL },
    { "connection tracking", "net.netfilter.nf_conntrack_max", "depends on memory",
      "With netfilter loaded every connection, TIME_WAIT included (nf_conntrack_tcp_timeout_"
      "time_wait, 120 s), takes a conntrack entry; a full table drops new connections "
      "(\"nf_conntrack: table full, dropping packet\").",
      "sysctl net.netfilter.nf_conntrack_count net.netfilter.nf_conntrack_max",
      "sysctl -w net.netfilter.nf_conntrack_max=262144",
      LINUX_PERSIST("net.netfilter.nf_conntrack_max = 262144")
      "  (nf_conntrack must be loaded before sysctl applies it)" },
    { "summary", "(observation)", NULL,
      "Socket totals per state, for a report.",
      "ss -s",
      NULL,
      NULL },
};

#define WIN_TCPIP "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"

static const ep_advice_item ep_advice_windows[] = {
    { "dynamic port range", "netsh int ipv4|ipv6 dynamicport tcp|udp", "start 49152, 16384 ports",
      "The ports Windows gives outgoing connections. Each protocol and IP version has its own "
      "range: set all four. The range must hold at least 255 ports, start at 1025 or above "
      "and end at 65535 or below.",
      "netsh int ipv4 show dynamicport tcp",
      "netsh int ipv4 set dynamicport tcp start=10000 num=55536",
      "netsh stores the range persistently by default; repeat for udp and ipv6: "
      "netsh int ipv4 set dynamicport udp start=10000 num=55536, "
      "netsh int ipv6 set dynamicport tcp start=10000 num=55536, "
      "netsh int ipv6 set dynamicport udp start=10000 num=55536" },
    { "dynamic port range (PowerShell)", "Get-NetTCPSetting", NULL,
      "The same range as seen by PowerShell, per TCP setting template.",
      "Get-NetTCPSetting | Select-Object SettingName, DynamicPortRangeStartPort, "
      "DynamicPortRangeNumberOfPorts",
      NULL,
      NULL },
    { "excluded port ranges", "netsh int ipv4 excludedportrange", "none; Hyper-V, WSL and WinNAT add some",
      "Ports Windows keeps for itself or for an administrator: neither automatic choice nor "
      "other programs get them, so inside the dynamic range they shrink it (the equivalent "
      "of Linux's reserved ports).",
      "netsh int ipv4 show excludedportrange protocol=tcp",
      "netsh int ipv4 add excludedportrange protocol=tcp startport=50000 numberofports=10",
      "excluded ranges added with netsh are persistent" },
    { "TIME_WAIT length", "TcpTimedWaitDelay (" WIN_TCPIP ")", "120 (seconds; absent = default)",
      "How long a closed connection keeps its port. Valid values are 30 to 300 seconds; 30 "
      "quadruples the sustainable rate per destination.",
      "reg query " WIN_TCPIP " /v TcpTimedWaitDelay",
      "reg add " WIN_TCPIP " /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f",
      "the registry value is persistent; it takes effect after a reboot" },
    { "legacy port limit", "MaxUserPort (" WIN_TCPIP ")", "5000 (Windows Server 2003, XP and earlier)",
      "Before Vista the range was 1025 to MaxUserPort. Vista and later use the netsh dynamic "
      "range instead; set MaxUserPort only on those legacy systems.",
      "reg query " WIN_TCPIP " /v MaxUserPort",
      "reg add " WIN_TCPIP " /v MaxUserPort /t REG_DWORD /d 65534 /f",
      "the registry value is persistent; it takes effect after a reboot" },
    { "TIME_WAIT entries", "(observation)", NULL,
      "Connections in TIME_WAIT now; count them with find /c.",
      "netstat -ano | find \"TIME_WAIT\"",
      NULL,
      NULL },
    { "TIME_WAIT per destination (PowerShell)", "(observation)", NULL,
      "Which remote address and port hold the most TIME_WAIT entries.",
      "Get-NetTCPConnection -State TimeWait | Group-Object RemoteAddress, RemotePort | "
      "Sort-Object Count -Descending | Select-Object -First 10 Count, Name",
      NULL,
      NULL },
};

#define MAC_PERSIST "sysctl -w lasts until reboot, and whether /etc/sysctl.conf is applied at " \
    "boot has varied between macOS releases: the dependable way is a LaunchDaemon plist in " \
    "/Library/LaunchDaemons with RunAtLoad that runs the same sysctl -w command"

static const ep_advice_item ep_advice_macos[] = {
    { "ephemeral port range", "net.inet.ip.portrange.first / net.inet.ip.portrange.last",
      "49152 65535",
      "The ports connect() and bind(0) choose from; a socket with IP_PORTRANGE_HIGH uses "
      "net.inet.ip.portrange.hifirst/.hilast instead (also 49152-65535).",
      "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
      "sudo sysctl -w net.inet.ip.portrange.first=32768",
      MAC_PERSIST },
    { "TIME_WAIT length", "net.inet.tcp.msl", "15000 (ms; TIME_WAIT = 2 x MSL = 30 s)",
      "TIME_WAIT lasts twice the maximum segment lifetime. Lowering it shortens TIME_WAIT "
      "for every connection; keep it well above the network's real round-trip times.",
      "sysctl net.inet.tcp.msl",
      "sudo sysctl -w net.inet.tcp.msl=10000",
      MAC_PERSIST },
    { "TIME_WAIT entries", "(observation)", NULL,
      "Connections in TIME_WAIT now.",
      "netstat -an -p tcp | grep -c TIME_WAIT",
      NULL,
      NULL },
};

#define BSD_PERSIST(line) "echo '" line "' >> /etc/sysctl.conf && service sysctl restart"

static const ep_advice_item ep_advice_freebsd[] = {
    { "ephemeral port range", "net.inet.ip.portrange.first / net.inet.ip.portrange.last",
      "10000 65535",
      "The ports connect() and bind(0) choose from by default (IP_PORTRANGE_DEFAULT).",
      "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
      "sysctl net.inet.ip.portrange.first=1024",
      BSD_PERSIST("net.inet.ip.portrange.first=1024") },
    { "high port range", "net.inet.ip.portrange.hifirst / net.inet.ip.portrange.hilast",
      "49152 65535",
      "The range of sockets that ask for IP_PORTRANGE_HIGH.",
      "sysctl net.inet.ip.portrange.hifirst net.inet.ip.portrange.hilast",
      "sysctl net.inet.ip.portrange.hifirst=32768",
      BSD_PERSIST("net.inet.ip.portrange.hifirst=32768") },
    { "TIME_WAIT length", "net.inet.tcp.msl", "30000 (ms; TIME_WAIT = 2 x MSL = 60 s)",
      "TIME_WAIT lasts twice the maximum segment lifetime; lowering it shortens TIME_WAIT for "
      "every connection.",
      "sysctl net.inet.tcp.msl",
      "sysctl net.inet.tcp.msl=15000",
      BSD_PERSIST("net.inet.tcp.msl=15000") },
    { "TIME_WAIT table limit", "net.inet.tcp.maxtcptw",
      "half the ephemeral range, at most maxsockets / 5",
      "The most compressed TIME_WAIT entries the kernel keeps; when they run out, the oldest "
      "entry is ended early to make room, so its port returns before 2 x MSL. Releases that "
      "no longer compress TIME_WAIT entries may lack this sysctl: sysctl -d "
      "net.inet.tcp.maxtcptw tells.",
      "sysctl net.inet.tcp.maxtcptw",
      "sysctl net.inet.tcp.maxtcptw=200000",
      BSD_PERSIST("net.inet.tcp.maxtcptw=200000") "  (or set it in /boot/loader.conf)" },
    { "TIME_WAIT entries", "(observation)", NULL,
      "Connections in TIME_WAIT now.",
      "netstat -an -p tcp | grep -c TIME_WAIT",
      NULL,
      NULL },
};

#define EP_N(a) (sizeof(a) / sizeof((a)[0]))

static const ep_advice_os ep_advice_table[] = {
    { "linux", ep_advice_linux, EP_N(ep_advice_linux) },
    { "windows", ep_advice_windows, EP_N(ep_advice_windows) },
    { "macos", ep_advice_macos, EP_N(ep_advice_macos) },
    { "freebsd", ep_advice_freebsd, EP_N(ep_advice_freebsd) },
};

size_t ep_advice_os_count(void)
{
    return EP_N(ep_advice_table);
}

const ep_advice_os *ep_advice_os_at(size_t i)
{
    return i < EP_N(ep_advice_table) ? &ep_advice_table[i] : NULL;
}

const ep_profile *ep_advice_os_profile(const ep_advice_os *os)
{
    /* profile.c owns the numbers; every name above is a built-in profile. */
    return os ? ep_profile_find(os->name) : NULL;
}

const ep_advice_os *ep_advice_os_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < EP_N(ep_advice_table); i++)
        if (strcmp(ep_advice_table[i].name, name) == 0)
            return &ep_advice_table[i];
    return NULL;
}

uint32_t ep_advice_os_ports(const ep_advice_os *os)
{
    const ep_profile *p = ep_advice_os_profile(os);
    if (!p)
        return 0;
    return (uint32_t)p->hi - p->lo + 1;
}

double ep_advice_sustainable_rate(uint32_t ports, uint32_t time_wait_ms)
{
    if (time_wait_ms == 0)
        return 0.0;
    return ep_capacity_sustainable_rate((double)ports, (double)time_wait_ms / 1000.0);
}
