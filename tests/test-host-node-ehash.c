/* test-host-node-ehash.c - suite integration: the sockets of the host-wide
 * TCP established hash read for every namespace in one BPF walk
 * (src/host/ehash-bpf.c) and given to each namespace's snapshot in place of
 * its sock_diag dump's walk of that table (src/host/node.c, sockdiag.c).
 *
 * Namespaces A and B hold TCP sockets in every state a test can hold
 * still - ESTABLISHED, SYN_SENT (to an address nftables drops), SYN_RECV
 * (a request socket whose final ACK is dropped), FIN_WAIT1 (its FIN
 * dropped), FIN_WAIT2 (shut down, and orphaned: a TIME_WAIT socket whose
 * substate is FIN_WAIT2), CLOSE_WAIT, LAST_ACK (the ACK of its FIN
 * dropped), TIME_WAIT - over IPv4, IPv6 and IPv4-mapped IPv6; D holds the
 * same over IPv4 in a namespace with a hash table of its own
 * (tcp_child_ehash_entries), which the walk does not cover.  CLOSING is
 * not held (both FINs would have to cross unacknowledged).
 *
 * Checked: in every namespace of the machine the walk reports exactly the
 * sockets a sock_diag dump of the established-hash states reports there
 * (family, state, addresses, ports, inode; TIME_WAIT timers between the
 * dumps taken before and after); the states above are all seen; and
 * ep_host_node_take gives the same snapshots (totals, bound sockets,
 * destinations with their counts) with the walk and without it
 * (EP_HOST_NO_EHASH_WALK, whose note says so), sticky ports included
 * (explicitly bound clients: the walk's autobind marks against each
 * namespace's sticky iterator). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <cmocka.h>
#include <jansson.h>

#include <ephport/host-json.h>
#include <ephport/node.h>

#include "diag.h"
#include "ep-host-config.h"
#include "host-internal.h"
#include "node-test-util.h"

enum { NS_A, NS_B, NS_D, NNS };

static char skip_why[256];
static pid_t holder[NNS];
static uint64_t ns_inode[NNS];

static void die(const char *what)
{
    fprintf(stderr, "holder: %s: %s\n", what, strerror(errno));
    _exit(1);
}

static void sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "holder: failed: %s\n", cmd);
        _exit(1);
    }
}

static socklen_t addr_of(int family, const char *addr, uint16_t port,
                         struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
            die("address");
        return sizeof *a;
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
        die("address");
    return sizeof *a;
}

static int listener(int family, const char *addr, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len = addr_of(family, addr, port, &ss);
    int one = 1, zero = 0, s = socket(family, SOCK_STREAM, 0);
    if (s < 0)
        die("socket");
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* "::" takes IPv4 too (v4-mapped); "::1" is IPv6 only anyway */
    if (family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(s, (struct sockaddr *)&ss, len) != 0 || listen(s, 16) != 0)
        die("listen");
    return s;
}

/* A non-blocking connect, from port `from` bound explicitly first (0:
 * connect()'s autobind); wait: until it is connected (2 s at most). */
static int dial_from(int family, const char *addr, uint16_t port, uint16_t from, bool wait)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int s = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct pollfd p = { .fd = s, .events = POLLOUT };
    if (s < 0)
        die("socket");
    if (from) {
        len = addr_of(family, addr, from, &ss);
        if (bind(s, (struct sockaddr *)&ss, len) != 0)
            die("bind");
    }
    len = addr_of(family, addr, port, &ss);
    if (connect(s, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS)
        die("connect");
    if (wait && (poll(&p, 1, 2000) != 1 || (p.revents & (POLLERR | POLLHUP))))
        die("connect wait");
    return s;
}

static int dial(int family, const char *addr, uint16_t port, bool wait)
{
    return dial_from(family, addr, port, 0, wait);
}

static int take(int l)
{
    struct pollfd p = { .fd = l, .events = POLLIN };
    int a = -1;
    if (poll(&p, 1, 2000) != 1 || (a = accept(l, NULL, NULL)) < 0)
        die("accept");
    return a;
}

/* Until the peer's FIN has arrived on a. */
static void wait_eof(int a)
{
    struct pollfd p = { .fd = a, .events = POLLIN };
    char c;
    if (poll(&p, 1, 2000) != 1 || recv(a, &c, 1, 0) != 0)
        die("wait for FIN");
}

/* Every state held still, in one family variant: listeners on base+1
 * (plain), base+2 (final ACK dropped), base+3 (FINs to it dropped), base+4
 * (everything to it dropped once its pair is half closed). */
static void hold_states(int family, const char *listen_addr, const char *addr,
                        const char *nowhere, uint16_t base)
{
    int l1 = listener(family, listen_addr, base + 1), l2 = listener(family, listen_addr, base + 2);
    int l3 = listener(family, listen_addr, base + 3), l4 = listener(family, listen_addr, base + 4);
    int c, a;

    sh("nft add rule inet ep out tcp dport %u 'tcp flags & (syn | ack) == ack' drop", base + 2);
    sh("nft add rule inet ep out tcp dport %u 'tcp flags & fin == fin' drop", base + 3);
    /* ESTABLISHED, both ends */
    dial(family, addr, base + 1, true);
    take(l1);
    /* TIME_WAIT: the client closes first, then the server */
    c = dial(family, addr, base + 1, true);
    a = take(l1);
    close(c);
    wait_eof(a);
    close(a);
    /* FIN_WAIT2 (shut down) against CLOSE_WAIT */
    c = dial(family, addr, base + 1, true);
    a = take(l1);
    shutdown(c, SHUT_WR);
    wait_eof(a);
    /* orphaned FIN_WAIT2 (a TIME_WAIT socket, substate FIN_WAIT2) against
     * CLOSE_WAIT */
    c = dial(family, addr, base + 1, true);
    a = take(l1);
    close(c);
    wait_eof(a);
    /* SYN_RECV: a request socket (the client thinks it is connected) */
    dial(family, addr, base + 2, true);
    /* FIN_WAIT1 against ESTABLISHED: the FIN is dropped */
    c = dial(family, addr, base + 3, true);
    take(l3);
    shutdown(c, SHUT_WR);
    /* LAST_ACK: the server's FIN is not acknowledged */
    c = dial(family, addr, base + 4, true);
    a = take(l4);
    shutdown(c, SHUT_WR);
    wait_eof(a);
    sh("nft add rule inet ep out tcp dport %u drop", base + 4);
    close(a);
    /* sticky ports: clients bound explicitly (base+8 kept, base+9 in
     * TIME_WAIT): connect() skips them for every destination */
    dial_from(family, addr, base + 1, base + 8, true);
    take(l1);
    c = dial_from(family, addr, base + 1, base + 9, true);
    a = take(l1);
    close(c);
    wait_eof(a);
    close(a);
    /* SYN_SENT: to an address nftables drops */
    dial(family, nowhere, base + 5, false);
    (void)l2;
    usleep(100000);               /* the last FINs on their way */
}

static void namespace_setup(void)
{
    if (system("ip link set lo up") != 0 ||
        system("sysctl -qw net.ipv4.ip_local_port_range='40000 49999'") != 0 ||
        system("sysctl -qw net.ipv4.tcp_tw_reuse=0") != 0 ||
        system("ip addr add 192.0.2.2/24 dev lo") != 0 ||
        system("ip addr add 2001:db8::2/64 dev lo nodad") != 0)
        die("namespace");
    sh("nft add table inet ep");
    sh("nft 'add chain inet ep out { type filter hook output priority 0 ; }'");
    sh("nft add rule inet ep out ip daddr 192.0.2.1 drop");
    sh("nft add rule inet ep out ip6 daddr 2001:db8::1 drop");
}


static void holder_main(int which, int fd)
{
    if (unshare(CLONE_NEWNET) != 0)
        die("unshare");
    if (which == NS_D) {
        /* a namespace created from here gets a hash table of its own */
        if (system("sysctl -qw net.ipv4.tcp_child_ehash_entries=256") != 0 ||
            unshare(CLONE_NEWNET) != 0)
            die("child hash");
    }
    namespace_setup();
    hold_states(AF_INET, "127.0.0.1", "127.0.0.1", "192.0.2.1", 41000);
    if (which != NS_D) {
        hold_states(AF_INET6, "::1", "::1", "2001:db8::1", 42000);
        hold_states(AF_INET6, "::", "::ffff:127.0.0.1", "::ffff:192.0.2.1", 43000);
    }
    ep_test_ns_report(fd);
    for (;;)
        pause();
}

static int setup(void **state)
{
    int rp[2];
    (void)state;
    if (geteuid() != 0) {
        snprintf(skip_why, sizeof skip_why, "needs root (namespaces, BPF, nftables)");
        return 0;
    }
    if (system("nft --version >/dev/null 2>&1") != 0) {
        snprintf(skip_why, sizeof skip_why, "needs nft(8) to hold sockets in their states");
        return 0;
    }
    if (pipe(rp) != 0)
        return -1;
    for (int k = 0; k < NNS; k++) {
        holder[k] = fork();
        if (holder[k] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            holder_main(k, rp[1]);
        }
        if (!ep_test_ns_got_report(rp[0], &ns_inode[k]))
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ep_test_holders_kill(holder, NNS);
    return 0;
}

#define NEED_ROOT() EP_TEST_SKIP_IF(skip_why)

/* --- the differential check --- */

typedef struct sock_set {
    ep_host_ehash_sock v[8192];
    size_t n;
    int error;
} sock_set;

static void collect(const struct inet_diag_msg *m, void *arg)
{
    sock_set *set = arg;
    ep_host_ehash_sock *s;
    if (set->n == sizeof set->v / sizeof set->v[0]) {
        set->error = -E2BIG;
        return;
    }
    s = &set->v[set->n++];
    memset(s, 0, sizeof *s);
    s->family = m->idiag_family;
    s->state = m->idiag_state;
    s->sport = m->id.idiag_sport;
    s->dport = m->id.idiag_dport;
    s->inode = m->idiag_inode;
    s->expires_ms = m->idiag_timer == 3 ? (int32_t)m->idiag_expires : -1;
    memcpy(s->src, m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
    memcpy(s->dst, m->id.idiag_dst, m->idiag_family == AF_INET ? 4 : 16);
}

/* In the namespace: every TCP socket of the established hash as sock_diag
 * reports it (all states but LISTEN and bound-only), both families, every
 * port. */
static int dump_ehash(void *arg)
{
    sock_set *set = arg;
    set->n = 0;
    set->error = 0;
    int rc = ep_test_tcp_dump(0xffffffffu & ~(1u << 10) & ~(1u << 13), collect, set);
    return rc ? rc : set->error;
}

struct covers_arg {
    const ep_host_ehash_walk *w;
    uint64_t netns;
};

static int covers_here(void *arg)
{
    const struct covers_arg *c = arg;
    return ep_host_ehash_walk_covers(c->w, c->netns) ? 1 : 0;
}

/* Order by everything but the timer. */
static int sock_order(const void *a, const void *b)
{
    const ep_host_ehash_sock *x = a, *y = b;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    if (x->sport != y->sport)
        return x->sport < y->sport ? -1 : 1;
    if (x->dport != y->dport)
        return x->dport < y->dport ? -1 : 1;
    if (x->state != y->state)
        return x->state < y->state ? -1 : 1;
    if (x->inode != y->inode)
        return x->inode < y->inode ? -1 : 1;
    int c = memcmp(x->src, y->src, 16);
    return c ? c : memcmp(x->dst, y->dst, 16);
}

static bool same_sockets(const sock_set *x, const sock_set *y)
{
    if (x->n != y->n)
        return false;
    for (size_t i = 0; i < x->n; i++)
        if (sock_order(&x->v[i], &y->v[i]) != 0 ||
            (x->v[i].expires_ms < 0) != (y->v[i].expires_ms < 0))
            return false;
    return true;
}

static void print_sock(const char *who, const ep_host_ehash_sock *s)
{
    char a[64], b[64];
    inet_ntop(s->family, s->src, a, sizeof a);
    inet_ntop(s->family, s->dst, b, sizeof b);
    fprintf(stderr, "  %s: %s %u -> %s %u state %u inode %u timer %d\n", who, a, ntohs(s->sport),
            b, ntohs(s->dport), s->state, s->inode, s->expires_ms);
}

static uint32_t states_seen;

static void walk_equals_the_dump_in_every_namespace(void **state)
{
    ep_host_ns_list list;
    static sock_set before, after, walked;
    uint64_t *inodes;
    char why[300] = "";
    size_t compared = 0, with_sockets = 0;
    bool ours_compared[NNS] = { false };

    (void)state;
    NEED_ROOT();
#if !EP_HAVE_BPF
    fprintf(stderr, "SKIP: built without BPF (-Dbpf=disabled)\n");
    skip();
#endif
    assert_int_equal(ep_host_ns_list_take(&list, NULL), 0);
    inodes = calloc(list.n, sizeof *inodes);
    assert_non_null(inodes);
    for (size_t i = 0; i < list.n; i++)
        inodes[i] = list.v[i].inode;
    for (size_t i = 0; i < list.n; i++) {
        const ep_host_ns_entry *e = &list.v[i];
        const char *path = e->self ? NULL : e->path;
        uint64_t want = e->self ? 0 : e->inode;
        bool equal = false, mismatched = false;
        int ours = -1;
        for (int k = 0; k < NNS; k++)
            if (e->inode == ns_inode[k])
                ours = k;
        /* other programs may connect or close meanwhile: compare only when
         * the dumps around the walk agree, a few times */
        for (int attempt = 0; attempt < 5 && !equal; attempt++) {
            ep_host_ehash_walk w;
            const ep_host_ehash_part *part;
            size_t off = 0;
            int rc = ep_host_in_netns_inode(path, want, dump_ehash, &before, why, sizeof why);
            int covers;
            if (rc == -ENOENT || rc == -ESRCH || rc == -ESTALE)
                break;            /* gone meanwhile */
            assert_int_equal(rc, 0);
            rc = ep_host_ehash_walk_take(&w, inodes, list.n, 0, why, sizeof why);
            if (rc != 0)
                fail_msg("the walk failed: %s", why);
            assert_int_equal(ep_host_in_netns_inode(path, want, dump_ehash, &after, why,
                                                    sizeof why), 0);
            struct covers_arg ca = { &w, e->inode };
            covers = ep_host_in_netns_inode(path, want, covers_here, &ca, why, sizeof why);
            assert_true(covers == 0 || covers == 1);
            walked.n = 0;
            part = ep_host_ehash_walk_find(&w, e->inode);
            if (!covers) {
                /* a table of its own: nothing of it in the host's */
                assert_null(part);
                ep_host_ehash_walk_free(&w);
                if (ours >= 0)
                    assert_int_equal(ours, NS_D);
                equal = true;
                break;
            }
            while (walked.n < sizeof walked.v / sizeof walked.v[0] &&
                   ep_host_ehash_part_next(part, &off, &walked.v[walked.n]))
                walked.n++;
            ep_host_ehash_walk_free(&w);
            qsort(before.v, before.n, sizeof before.v[0], sock_order);
            qsort(after.v, after.n, sizeof after.v[0], sock_order);
            qsort(walked.v, walked.n, sizeof walked.v[0], sock_order);
            if (!same_sockets(&before, &after))
                continue;         /* changed under us: again */
            equal = same_sockets(&before, &walked);
            /* a TIME_WAIT timer runs down, and starts again at 60 s when a
             * FIN comes again (the LAST_ACK peer's, unacknowledged): the
             * walk's lies between the dumps' (50 ms for the time between
             * the readings; a wrong HZ is off by seconds) */
            for (size_t j = 0; equal && j < walked.n; j++) {
                int32_t lo = before.v[j].expires_ms, hi = after.v[j].expires_ms;
                if (lo > hi) {
                    int32_t t = lo;
                    lo = hi;
                    hi = t;
                }
                if (walked.v[j].expires_ms >= 0 &&
                    (walked.v[j].expires_ms > hi + 50 || walked.v[j].expires_ms + 50 < lo)) {
                    fprintf(stderr, "TIME_WAIT timer: dump %d, walk %d, dump %d ms\n",
                            before.v[j].expires_ms, walked.v[j].expires_ms,
                            after.v[j].expires_ms);
                    equal = false;
                }
            }
            mismatched = !equal;
            if (!equal) {
                fprintf(stderr, "namespace %llu (%s): the dump has %zu sockets, the walk %zu\n",
                        (unsigned long long)e->inode, e->label ? e->label : "", before.n,
                        walked.n);
                for (size_t j = 0; j < before.n || j < walked.n; j++) {
                    if (j < before.n)
                        print_sock("dump", &before.v[j]);
                    if (j < walked.n)
                        print_sock("walk", &walked.v[j]);
                }
            } else {
                compared++;
                with_sockets += walked.n > 0;
                if (ours >= 0) {
                    ours_compared[ours] = true;
                    for (size_t j = 0; j < walked.n; j++)
                        states_seen |= 1u << walked.v[j].state;
                }
            }
        }
        /* ours are never busy; another's may change on every try: then it
         * was never compared, but once it was, it must have been equal */
        if (ours >= 0 || mismatched)
            assert_true(equal);
    }
    free(inodes);
    ep_host_ns_list_free(&list);
    assert_true(ours_compared[NS_A] && ours_compared[NS_B]);
    assert_true(compared >= 2 && with_sockets >= 2);
    /* every state the holders made was met (SYN_RECV stands for request
     * sockets; FIN_WAIT2 both as a socket and as a TIME_WAIT substate) */
    for (int st = 1; st <= 9; st++)
        if (st != 7 && !(states_seen & (1u << st)))
            fail_msg("no socket in state %d was compared", st);
}

/* --- the node with and without the walk --- */

/* A snapshot's JSON without what moves by itself (counters: our held
 * sockets retransmit), nor notes or advice that follow them. */
static json_t *stable_json(const ep_host_snapshot *s)
{
    json_t *j = ep_host_snapshot_to_json(s);
    assert_non_null(j);
    json_object_del(j, "counters");
    json_object_del(j, "notes");
    json_object_del(j, "advice");
    return j;
}

static ep_host_node *take_node(unsigned flags)
{
    ep_host_node_options o;
    ep_host_node *node;
    ep_host_node_options_init(&o);
    o.host.flags = flags;
    assert_int_equal(ep_host_node_take(&o, &node), 0);
    return node;
}


static void node_is_the_same(unsigned flags)
{
    ep_host_node *with, *without;
    const char *const *notes;
    size_t nn = 9;

    with = take_node(flags);
    without = take_node(flags | EP_HOST_NO_EHASH_WALK);
    notes = ep_host_node_notes(with, &nn);
#if EP_HAVE_BPF
    assert_int_equal(nn, 0);      /* the bound pass and the walk were used */
#else
    assert_true(nn >= 1);
#endif
    notes = ep_host_node_notes(without, &nn);
    assert_true(nn >= 1);
    assert_non_null(strstr(notes[nn - 1], "EP_HOST_NO_EHASH_WALK"));
    for (int k = 0; k < NNS; k++) {
        const ep_host_snapshot *a = ep_test_snap_of(with, ns_inode[k]);
        const ep_host_snapshot *b = ep_test_snap_of(without, ns_inode[k]);
        json_t *ja = stable_json(a), *jb = stable_json(b);
        const ep_host_totals *t = ep_host_snapshot_totals(a);
        if (!json_equal(ja, jb)) {
            char *sa = json_dumps(ja, JSON_INDENT(1)), *sb = json_dumps(jb, JSON_INDENT(1));
            fprintf(stderr, "namespace %d: with the walk:\n%s\nwithout:\n%s\n", k, sa, sb);
            free(sa);
            free(sb);
            fail_msg("namespace %d differs with and without the walk", k);
        }
        /* and it saw what the holder made: in each variant 9 connections
         * (16 sockets: 6 pairs, 1 TIME_WAIT, 1 orphan, 1 SYN_SENT, minus
         * the LAST_ACK pair's client, now TIME_WAIT) */
        assert_true(t->tcp[EP_HOST_ESTABLISHED] >= (k == NS_D ? 4 : 12));
        assert_true(t->tcp[EP_HOST_TIME_WAIT] >= (k == NS_D ? 2 : 6));
        if (!(flags & EP_HOST_NO_PROBE)) {
            /* the explicitly bound clients' ports were found sticky */
            const ep_host_bound *bd = ep_host_snapshot_bound(a);
            if (!bd->sticky_known)
                fprintf(stderr, "namespace %d: sticky unknown: %s\n", k, bd->sticky_why);
            assert_true(bd->sticky_known);
            assert_string_equal(bd->sticky_method, "bpf");
            assert_true(bd->sticky_ports >= bd->tcp_ports + (k == NS_D ? 2 : 6));
        }
        json_decref(ja);
        json_decref(jb);
    }
    ep_host_node_free(with);
    ep_host_node_free(without);
}

static void node_is_the_same_with_and_without_the_walk(void **state)
{
    (void)state;
    NEED_ROOT();
    node_is_the_same(EP_HOST_NO_PROBE);
}

/* A walk over its memory budget: the namespaces are read in rounds, each
 * with a walk of its own kept for its group (node.c), and every namespace
 * reads the same as without the walk.  A budget of 1 byte makes every
 * namespace with sockets in the table a round of its own. */
static void rounds_under_a_budget_read_the_same(void **state)
{
    (void)state;
    NEED_ROOT();
#if !EP_HAVE_BPF
    fprintf(stderr, "SKIP: built without BPF (-Dbpf=disabled)\n");
    skip();
#endif
    size_t saved = ep_host_ehash_budget, reads_one_walk;
    ep_host_node *one = take_node(EP_HOST_NO_PROBE);
    assert_int_equal(ep_host_node_walks(one), 1);
    reads_one_walk = ep_host_node_walk_reads(one);
    ep_host_node_free(one);
    ep_host_ehash_budget = 1;
    one = take_node(EP_HOST_NO_PROBE);
    /* the first walk, then at least one per holder namespace sharing the
     * table (NS_D has a table of its own: with the first round); and the
     * rounds' walks were used by as many namespaces as the single walk */
    fprintf(stderr, "1-byte budget: %zu walks, %zu namespaces read from them (%zu from one "
                    "walk)\n",
            ep_host_node_walks(one), ep_host_node_walk_reads(one), reads_one_walk);
    assert_true(ep_host_node_walks(one) >= 1 + (NNS - 1));
    assert_true(reads_one_walk >= NNS - 1);
    assert_int_equal(ep_host_node_walk_reads(one), reads_one_walk);
    ep_host_node_free(one);
    node_is_the_same(EP_HOST_NO_PROBE);
    node_is_the_same(0);
    ep_host_ehash_budget = saved;
}

/* Sticky ports from the walk's autobind marks, against the sticky
 * iterator of each namespace. */
static void sticky_ports_are_the_same_with_and_without_the_walk(void **state)
{
    (void)state;
    NEED_ROOT();
#if !EP_HAVE_BPF
    fprintf(stderr, "SKIP: built without BPF (-Dbpf=disabled)\n");
    skip();
#endif
    node_is_the_same(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(walk_equals_the_dump_in_every_namespace),
        cmocka_unit_test(node_is_the_same_with_and_without_the_walk),
        cmocka_unit_test(sticky_ports_are_the_same_with_and_without_the_walk),
        cmocka_unit_test(rounds_under_a_budget_read_the_same),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
