/* node-test-util.h - what the tests of a whole node's reading share
 * (test-host-node.c, test-host-node-bound.c, test-host-node-ehash.c):
 * namespace holders that report their namespace's inode through a pipe
 * and are killed at teardown, a namespace's snapshot found in a node by
 * inode, and a sock_diag TCP dump of the calling namespace for a state
 * mask (the independent reading the BPF passes are compared with). */
#ifndef EP_NODE_TEST_UTIL_H
#define EP_NODE_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/inet_diag.h>

#include <ephport/node.h>

/* In a holder: write its network namespace's inode to fd ('k' + 8 bytes);
 * exits the process with 70 if it cannot. */
void ep_test_ns_report(int fd);
/* In the test: read one holder's report; false (with a line on stderr)
 * when the holder died before it. */
bool ep_test_ns_got_report(int fd, uint64_t *ino);
/* SIGKILL and reap the holders whose pid is > 0. */
void ep_test_holders_kill(const pid_t *holder, int n);

/* The snapshot of namespace ino in node; the test fails (cmocka) when the
 * namespace is not listed or could not be read. */
const ep_host_snapshot *ep_test_snap_of(const ep_host_node *node, uint64_t ino);

/* Dump the calling namespace's TCP sockets of both families in the states
 * of mask (1 << TCP state) through sock_diag, calling fn for each message.
 * 0, or -errno of the socket, send or walk. */
int ep_test_tcp_dump(uint32_t states, void (*fn)(const struct inet_diag_msg *m, void *arg),
                     void *arg);

/* Skip the case, visibly ("SKIP: why" on stderr), when why (a char
 * array the setup filled) is not empty. */
#define EP_TEST_SKIP_IF(why)                                                                   \
    do {                                                                                      \
        if ((why)[0]) {                                                                       \
            fprintf(stderr, "SKIP: %s\n", (why));                                              \
            skip();                                                                           \
        }                                                                                     \
    } while (0)

#endif
