/* nat-topo.c - the namespaces, veths and addresses of nat-topo.h, and the
 * router's conntrack table read from /proc/net/nf_conntrack in its
 * namespace (the conntrack tool is not needed). */
#include "nat-topo.h"
#include "netns-util.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int nsub;
static pid_t holder[NAT_TOPO_MAX_SUB + 2];   /* s1..sN, then r, then o */

static pid_t holder_of(const char *name)
{
    if (strcmp(name, "r") == 0)
        return holder[nsub];
    if (strcmp(name, "o") == 0)
        return holder[nsub + 1];
    if (name[0] == 's' && name[1] >= '1' && name[1] < '1' + nsub && !name[2])
        return holder[name[1] - '1'];
    return -1;
}

void nat_topo_down(void)
{
    for (int i = 0; i < nsub + 2; i++) {
        ep_test_ns_release(holder[i]);
        holder[i] = 0;
    }
}

int nat_topo_run(const char *name, const char *fmt, ...)
{
    char cmd[2048];
    int n;
    va_list ap;
    n = snprintf(cmd, sizeof cmd, "nsenter --net=/proc/%d/ns/net sh -c '", (int)holder_of(name));
    va_start(ap, fmt);
    n += vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    if ((size_t)n + 2 >= sizeof cmd)
        return -1;
    strcat(cmd, "'");
    return system(cmd);
}

bool nat_topo_enter(const char *name)
{
    pid_t h = name[0] ? holder_of(name) : 0;
    return h >= 0 && ep_test_ns_enter(h);
}

bool nat_topo_up(int n, char *why, size_t len)
{
    char tag[16], script[3072];
    size_t off;
    if (n < 1 || n > NAT_TOPO_MAX_SUB) {
        snprintf(why, len, "bad subscriber count %d", n);
        return false;
    }
    if (getuid() != 0 || system("command -v nft >/dev/null && command -v ip >/dev/null && "
                                   "command -v nsenter >/dev/null") != 0) {
        snprintf(why, len, "needs root, ip(8), nft(8) and nsenter(1)");
        return false;
    }
    nsub = n;
    for (int i = 0; i < nsub + 2; i++)
        if ((holder[i] = ep_test_ns_hold()) < 0) {
            holder[i] = 0;
            nat_topo_down();
            snprintf(why, len, "unshare(CLONE_NEWNET) failed");
            return false;
        }
    snprintf(tag, sizeof tag, "nt%05x", (unsigned)getpid() & 0xfffff);
    off = (size_t)snprintf(script, sizeof script,
                           "set -e; T=%s; R=%d; O=%d\n"
                           "N() { p=$1; shift; nsenter --net=/proc/$p/ns/net \"$@\"; }\n"
                           "N $R ip link set lo up; N $O ip link set lo up\n",
                           tag, (int)holder[nsub], (int)holder[nsub + 1]);
    for (int i = 1; i <= nsub; i++)
        off += (size_t)snprintf(script + off, sizeof script - off,
                                "S=%d; N $S ip link set lo up\n"
                                "ip link add ${T}a%d netns $R type veth peer name ${T}b%d netns $S\n"
                                "N $R ip addr add 100.64.%d.1/24 dev ${T}a%d\n"
                                "N $R ip link set ${T}a%d up\n"
                                "N $S ip addr add 100.64.%d.2/24 dev ${T}b%d\n"
                                "N $S ip link set ${T}b%d up\n"
                                "N $S ip route add default via 100.64.%d.1\n",
                                (int)holder[i - 1], i, i, i, i, i, i, i, i, i);
    snprintf(script + off, sizeof script - off,
             "ip link add ${T}ro netns $R type veth peer name ${T}or netns $O\n"
             "N $R ip addr add 203.0.113.1/24 dev ${T}ro; N $R ip link set ${T}ro up\n"
             "N $O ip addr add 203.0.113.100/24 dev ${T}or; N $O ip link set ${T}or up\n"
             "N $O ip route add 100.64.0.0/10 via 203.0.113.1\n"
             "N $R sysctl -qw net.ipv4.ip_forward=1\n");
    if (system(script) != 0) {
        nat_topo_down();
        snprintf(why, len, "cannot build the veth topology");
        return false;
    }
    /* conntrack is loaded by now if nft can NAT; its table is read here */
    if (nat_topo_run("r", "nft add table ip nat_topo_probe && nft add chain ip nat_topo_probe c "
                          "\"{ type nat hook postrouting priority srcnat; }\" && "
                          "nft delete table ip nat_topo_probe && test -r /proc/net/nf_conntrack") != 0) {
        nat_topo_down();
        snprintf(why, len, "no NAT in nftables or no /proc/net/nf_conntrack");
        return false;
    }
    return true;
}

bool nat_topo_conntrack(char *line, size_t len, ...)
{
    char cmd[96], buf[1024];
    FILE *p;
    bool found = false;
    snprintf(cmd, sizeof cmd, "nsenter --net=/proc/%d/ns/net cat /proc/net/nf_conntrack",
             (int)holder_of("r"));
    p = popen(cmd, "r");
    if (!p)
        return false;
    while (!found && fgets(buf, sizeof buf, p)) {
        va_list ap;
        const char *s;
        bool all = true;
        va_start(ap, len);
        while ((s = va_arg(ap, const char *)) != NULL)
            if (!strstr(buf, s))
                all = false;
        va_end(ap);
        if (all) {
            snprintf(line, len, "%s", buf);
            found = true;
        }
    }
    pclose(p);
    return found;
}

long nat_topo_ct_timeout(const char *line)
{
    char l3[16], l4[16];
    int l3num, l4num;
    long t;
    if (sscanf(line, "%15s %d %15s %d %ld", l3, &l3num, l4, &l4num, &t) != 5)
        return -1;
    return t;
}
