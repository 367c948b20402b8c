/* nat-topo.h - a NAT router topology in network namespaces for the NAT
 * behaviour tests: subscribers s1..sN (100.64.i.2/24, gateway 100.64.i.1),
 * a router r (203.0.113.1/24 outside, forwarding) and a server o
 * (203.0.113.100/24, with a route back to 100.64.0.0/10 through the router
 * so untranslated traffic can be forwarded too).  Each namespace is held by
 * a child process (unshare) and entered with setns(2); commands run in one
 * through nsenter --net=/proc/PID/ns/net.  No named namespaces (see
 * test-nat-e2e.c for why). */
#ifndef EP_TEST_NAT_TOPO_H
#define EP_TEST_NAT_TOPO_H

#include <stdbool.h>
#include <stddef.h>

#define NAT_TOPO_MAX_SUB 4

/* Build the topology with nsub subscribers (1..NAT_TOPO_MAX_SUB).  Returns
 * false with the reason in why when the test must skip (not root, no ip,
 * nft or nsenter, no namespaces, no /proc/net/nf_conntrack). */
bool nat_topo_up(int nsub, char *why, size_t len);
/* Kill the namespace holders. */
void nat_topo_down(void);
/* Switch this process into "s1".."sN", "r", "o", or "" (the original). */
bool nat_topo_enter(const char *name);
/* Run a shell command (sh -c, no single quotes in it) inside a namespace;
 * its exit status as system(3). */
int nat_topo_run(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The router's conntrack entry that contains every one of the given
 * substrings (NULL-terminated list), copied into line; false if none. */
bool nat_topo_conntrack(char *line, size_t len, ...);
/* The timeout (seconds left) of a /proc/net/nf_conntrack line, -1 if none. */
long nat_topo_ct_timeout(const char *line);

#endif
