/* test-kernel-diff.c - the engine in Linux semantics against the real
 * kernel: seeded random sequences of socket operations run on an ep_pool
 * (EP_SEM_LINUX) and on real sockets in a fresh private network namespace
 * (tests/kernel-oracle.h), comparing every verdict and errno.
 *
 * How the two are kept in step: where the engine chooses a port (connect()
 * autobind, bind(addr, 0), a deferred IP_BIND_ADDRESS_NO_PORT connect), the
 * kernel is asked to take exactly that port through its own path, with
 * IP_LOCAL_PORT_RANGE = [p, p] on the socket; where the engine says no port
 * is left, the kernel is asked with the whole range and must say the same
 * errno.  Every few operations the engine's free count towards one
 * destination is compared with the number of ports the kernel would grant
 * (TCP: TCP_REPAIR probes, which send nothing; UDP: autobind probes), in
 * the seeds where tcp_tw_reuse is 0 (a probe takes over a reusable
 * TIME_WAIT, as any connect would).
 *
 * Time: the engine's clock moves only at ticks, which sleep 60 ms of real
 * time; tcp_tw_reuse_delay is 50 ms, and a tick is forced before an epoch
 * lasts 40 ms, so a TIME_WAIT closed in an earlier epoch is reusable for
 * both and one closed in this epoch for neither.  No TIME_WAIT expires:
 * a seed lasts well under 60 s.
 *
 * What is not compared (the engine's documented choices, ENGINE.md 13):
 * the local address a wildcard-bound socket connects from (routing vs the
 * pool's choice), so wildcard and deferred binds connect only from a
 * specific address here.
 *
 * Runs in suite `integration` as root; elsewhere it skips saying why.
 * A seed stops after 450 compared verdicts (or 2000 operations); 48 seeds
 * make at least 20,000.  EP_KDIFF_SEED=n runs one seed with a trace of
 * every operation; EP_KDIFF_SEEDS, EP_KDIFF_VERDICTS, EP_KDIFF_OPS and
 * EP_KDIFF_MIN_VERDICTS change how many (the ASan+UBSan run of `make
 * check` runs 12 seeds: the plain run holds the 20,000).  ep_pool_check()
 * runs every 8 operations and at the end of each seed. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernel-oracle.h"
#include "netns-util.h"
#include "test-pool-util.h"

#define KD_MAX_SOCKS 96
#define KD_TICK_MS 60
#define KD_DELAY_MS 50
#define KD_EPOCH_MAX_MS 40
#define KD_LO 40000

static const char *const kd_locals[] = {
    "127.0.0.1", "127.0.0.2", "10.9.0.1", "10.9.0.2", "::1", "fd00::1", "fd00::2",
};
#define KD_NLOCAL (sizeof kd_locals / sizeof kd_locals[0])
/* listeners (TCP) and UDP remotes */
static const char *const kd_remote_addr[] = { "127.0.0.1", "127.0.0.1", "10.9.0.2", "::1", "fd00::2" };
static const uint16_t kd_remote_port[] = { 80, 81, 80, 80, 80 };
#define KD_NREMOTE 5

typedef enum { KS_FREE = 0, KS_BOUND, KS_NOPORT, KS_LISTEN, KS_CONN } kd_state;

typedef struct kd_sock {
    kd_state st;
    int kh;                 /* oracle handle */
    uint8_t proto, family;
    unsigned flags;         /* EP_BIND_* */
    uint32_t owner;
    ep_bind_id bid;         /* engine binding (BOUND, NOPORT, LISTEN) */
    ep_tuple t;             /* engine tuple (CONN) */
    bool explicit_addr;     /* bound to a specific address */
} kd_sock;

typedef struct kd_run {
    uint64_t seed;
    uint64_t rng;
    bool trace;
    ep_pool *pool;
    ep_time now;
    struct timespec epoch_start;
    int tw_reuse;
    uint16_t lo, hi;
    ep_addr locals[KD_NLOCAL];
    ep_addr remotes[KD_NREMOTE];
    ep_addr route_src[KD_NREMOTE];
    kd_sock s[KD_MAX_SOCKS];
    unsigned verdicts, counts;
    char fail[512];
} kd_run;

static uint64_t kd_next(kd_run *r)
{
    /* splitmix64: enough for choosing operations */
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t kd_below(kd_run *r, uint32_t n)
{
    return (uint32_t)(kd_next(r) % n);
}

static double kd_ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void kd_tick(kd_run *r)
{
    struct timespec ts = { 0, KD_TICK_MS * 1000000L };
    nanosleep(&ts, NULL);
    r->now += EP_MSEC(KD_TICK_MS);
    clock_gettime(CLOCK_MONOTONIC, &r->epoch_start);
    if (r->trace)
        fprintf(stderr, "  tick -> %llu ms\n", (unsigned long long)(r->now / EP_NSEC_PER_MSEC));
}

static const char *kd_fmt(const ep_addr *a, char *buf)
{
    if (ep_addr_format(a, buf, EP_ADDR_STRLEN) != 0)
        snprintf(buf, EP_ADDR_STRLEN, "(none)");
    return buf;
}

/* Record a disagreement (the first one ends the seed). */
static bool kd_agree(kd_run *r, const char *what, int engine, int kernel)
{
    r->verdicts++;
    if (engine == kernel)
        return true;
    snprintf(r->fail, sizeof r->fail, "seed %" PRIu64 ": %s: engine %d (%s), kernel %d (%s)",
             r->seed, what, engine, engine ? ep_err_name(engine) : "ok", kernel,
             kernel ? ep_err_name(kernel) : "ok");
    return false;
}

static bool kd_harness(kd_run *r, const char *what, int rc)
{
    snprintf(r->fail, sizeof r->fail, "seed %" PRIu64 ": harness failure in %s: %d (%s)", r->seed,
             what, rc, ep_err_name(rc));
    return false;
}

static int kd_free_slot(kd_run *r)
{
    for (int i = 0; i < KD_MAX_SOCKS; i++)
        if (r->s[i].st == KS_FREE)
            return i;
    return -1;
}

static int kd_pick(kd_run *r, int want1, int want2)
{
    int idx[KD_MAX_SOCKS], n = 0;
    for (int i = 0; i < KD_MAX_SOCKS; i++)
        if (r->s[i].st != KS_FREE && ((int)r->s[i].st == want1 || (int)r->s[i].st == want2))
            idx[n++] = i;
    return n ? idx[kd_below(r, (uint32_t)n)] : -1;
}

static uint32_t kd_local_index(const kd_run *r, const ep_addr *a)
{
    for (uint32_t i = 0; i < KD_NLOCAL; i++)
        if (r->locals[i].family == a->family && memcmp(&r->locals[i].u, &a->u, 16) == 0)
            return i;
    return UINT32_MAX;
}

static unsigned kd_random_flags(kd_run *r, uint8_t family)
{
    unsigned f = 0;
    if (kd_below(r, 3) == 0)
        f |= EP_BIND_REUSEADDR;
    if (kd_below(r, 4) == 0)
        f |= EP_BIND_REUSEPORT;
    if (family == AF_INET6 && kd_below(r, 4) == 0)
        f |= EP_BIND_V6ONLY;
    return f;
}

static unsigned kd_ko_flags(unsigned f)
{
    return ((f & EP_BIND_REUSEADDR) ? KO_REUSEADDR : 0) | ((f & EP_BIND_REUSEPORT) ? KO_REUSEPORT : 0) |
           ((f & EP_BIND_NO_PORT) ? KO_NO_PORT : 0) | ((f & EP_BIND_V6ONLY) ? KO_V6ONLY : 0);
}

/* A plain connect(): autobind, from the route's source. */
static bool kd_op_connect(kd_run *r)
{
    int slot = kd_free_slot(r);
    if (slot < 0)
        return true;
    uint32_t ri = kd_below(r, KD_NREMOTE);
    uint8_t proto = kd_below(r, 3) ? EP_PROTO_TCP : EP_PROTO_UDP;
    uint32_t owner = kd_below(r, 3);
    ep_tuple t;
    memset(&t, 0, sizeof t);
    t.proto = proto;
    t.local = r->route_src[ri];
    t.remote = r->remotes[ri];
    t.remote_port = proto == EP_PROTO_TCP ? kd_remote_port[ri] : (uint16_t)(53 + kd_remote_port[ri] % 2);
    int erc = ep_pool_connect(r->pool, &t, owner, r->now);
    int kh = ko_socket(proto, t.remote.family, 0, owner);
    if (kh < 0)
        return kd_harness(r, "socket", kh);
    ep_addr kl;
    uint16_t kp = 0;
    int krc = ko_connect(kh, &t.remote, t.remote_port, erc == 0 ? t.local_port : 0, &kl, &kp);
    char b1[EP_ADDR_STRLEN], b2[EP_ADDR_STRLEN], what[160];
    snprintf(what, sizeof what, "%s connect %s -> %s:%u (engine port %u)",
             proto == EP_PROTO_TCP ? "tcp" : "udp", kd_fmt(&t.local, b1), kd_fmt(&t.remote, b2),
             t.remote_port, erc == 0 ? t.local_port : 0);
    if (r->trace)
        fprintf(stderr, "  #%d %s: engine %d kernel %d (port %u)\n", slot, what, erc, krc, kp);
    if (!kd_agree(r, what, erc, krc))
        return false;
    if (krc != 0) {
        ko_close(kh, KO_CLOSE_RESET);
        return true;
    }
    if (kp != t.local_port || kd_local_index(r, &kl) != kd_local_index(r, &t.local))
        return kd_agree(r, "connect: the kernel's port/source", t.local_port, kp);
    kd_sock *s = &r->s[slot];
    memset(s, 0, sizeof *s);
    s->st = KS_CONN;
    s->kh = kh;
    s->proto = proto;
    s->family = t.remote.family;
    s->owner = owner;
    s->t = t;
    return true;
}

/* bind(): explicit port, port 0, or a deferred (NO_PORT) bind. */
static bool kd_op_bind(kd_run *r)
{
    int slot = kd_free_slot(r);
    if (slot < 0)
        return true;
    uint8_t proto = kd_below(r, 2) ? EP_PROTO_TCP : EP_PROTO_UDP;
    uint32_t li = kd_below(r, KD_NLOCAL);
    uint8_t family = r->locals[li].family;
    bool wild = kd_below(r, 5) == 0;
    unsigned kind = kd_below(r, 10); /* 0-5 explicit, 6-7 port 0, 8-9 NO_PORT */
    ep_bind_req q;
    memset(&q, 0, sizeof q);
    q.proto = proto;
    q.owner = kd_below(r, 3);
    q.flags = kd_random_flags(r, family);
    if (wild) {
        q.addr.family = family; /* the family's wildcard */
    } else {
        q.addr = r->locals[li];
    }
    if (kind < 6)
        q.port = (uint16_t)(r->lo + kd_below(r, (uint32_t)(r->hi - r->lo + 2))); /* hi + 1: outside */
    if (kind >= 8) {
        if (wild)
            q.addr = r->locals[li]; /* deferred binds connect from a known address */
        wild = false;
        q.flags |= EP_BIND_NO_PORT;
    }
    ep_bind_id id = 0;
    uint16_t eport = 0, kport = 0;
    int erc = ep_pool_bind(r->pool, &q, r->now, &id, &eport);
    int kh = ko_socket(proto, family, kd_ko_flags(q.flags), q.owner);
    if (kh < 0)
        return kd_harness(r, "socket", kh);
    uint16_t only = (q.port == 0 && !(q.flags & EP_BIND_NO_PORT) && erc == 0) ? eport : 0;
    int krc = ko_bind(kh, &q.addr, q.port, only, &kport);
    char b1[EP_ADDR_STRLEN], what[200];
    snprintf(what, sizeof what, "%s bind %s%s:%u flags %#x owner %u (engine port %u)",
             proto == EP_PROTO_TCP ? "tcp" : "udp", wild ? "wildcard " : "",
             kd_fmt(&q.addr, b1), q.port, q.flags, q.owner, eport);
    if (r->trace)
        fprintf(stderr, "  #%d %s: engine %d kernel %d (port %u)\n", slot, what, erc, krc, kport);
    if (!kd_agree(r, what, erc, krc))
        return false;
    if (krc != 0) {
        ko_close(kh, KO_CLOSE_RESET);
        return true;
    }
    if (kport != eport)
        return kd_agree(r, "bind: the kernel's port", eport, kport);
    kd_sock *s = &r->s[slot];
    memset(s, 0, sizeof *s);
    s->st = (q.flags & EP_BIND_NO_PORT) ? KS_NOPORT : KS_BOUND;
    s->kh = kh;
    s->proto = proto;
    s->family = family;
    s->flags = q.flags;
    s->owner = q.owner;
    s->bid = id;
    s->explicit_addr = !wild;
    return true;
}

static bool kd_op_listen(kd_run *r)
{
    int i = kd_pick(r, KS_BOUND, -1);
    if (i < 0 || r->s[i].proto != EP_PROTO_TCP)
        return true;
    kd_sock *s = &r->s[i];
    int erc = ep_pool_listen(r->pool, s->bid);
    int krc = ko_listen(s->kh);
    if (r->trace)
        fprintf(stderr, "  listen #%d: engine %d kernel %d\n", i, erc, krc);
    if (!kd_agree(r, "listen", erc, krc))
        return false;
    if (erc == 0)
        s->st = KS_LISTEN;
    return true;
}

/* connect() of a bound socket (explicit port, or deferred). */
static bool kd_op_connect_bound(kd_run *r)
{
    int i = kd_pick(r, KS_BOUND, KS_NOPORT);
    if (i < 0)
        return true;
    kd_sock *s = &r->s[i];
    if (!s->explicit_addr)
        return true; /* the source would be the route's choice: not compared */
    uint32_t ri = kd_below(r, KD_NREMOTE);
    if (r->remotes[ri].family != s->family)
        return true;
    ep_tuple t;
    memset(&t, 0, sizeof t);
    t.remote = r->remotes[ri];
    t.remote_port = s->proto == EP_PROTO_TCP ? kd_remote_port[ri] : (uint16_t)(53 + kd_remote_port[ri] % 2);
    int erc = ep_pool_connect_bound(r->pool, s->bid, &t, r->now);
    uint16_t only = (s->st == KS_NOPORT && erc == 0) ? t.local_port : 0;
    ep_addr kl;
    uint16_t kp = 0;
    int krc = ko_connect(s->kh, &t.remote, t.remote_port, only, &kl, &kp);
    char b1[EP_ADDR_STRLEN], what[200];
    snprintf(what, sizeof what, "%s connect of %s socket #%d (flags %#x) -> %s:%u (engine port %u)",
             s->proto == EP_PROTO_TCP ? "tcp" : "udp", s->st == KS_NOPORT ? "deferred" : "bound", i,
             s->flags, kd_fmt(&t.remote, b1), t.remote_port, erc == 0 ? t.local_port : 0);
    if (r->trace)
        fprintf(stderr, "  %s: engine %d kernel %d (port %u)\n", what, erc, krc, kp);
    if (!kd_agree(r, what, erc, krc))
        return false;
    if (erc != 0) {
        /* Linux leaves a socket whose connect failed bound; the engine
         * keeps the binding too.  A deferred one that failed to autobind
         * stays deferred on both sides. */
        return true;
    }
    if (kp != t.local_port)
        return kd_agree(r, "connect of a bound socket: the kernel's port", t.local_port, kp);
    s->st = KS_CONN;
    s->t = t;
    return true;
}

static bool kd_op_close(kd_run *r)
{
    int i = kd_pick(r, KS_CONN, kd_below(r, 3) ? -1 : (int)KS_BOUND + (int)kd_below(r, 3));
    if (i < 0)
        return true;
    kd_sock *s = &r->s[i];
    int how = (int)kd_below(r, 3);
    int erc;
    if (s->st == KS_CONN)
        erc = ep_pool_close(r->pool, &s->t, how == KO_CLOSE_ACTIVE ? EP_CLOSE_ACTIVE : EP_CLOSE_PASSIVE,
                            r->now);
    else
        erc = ep_pool_unbind(r->pool, s->bid, r->now);
    int krc = ko_close(s->kh, (ko_close_how)how);
    if (r->trace)
        fprintf(stderr, "  close #%d (%s, how %d): engine %d kernel %d\n", i,
                s->st == KS_CONN ? "connected" : "bound", how, erc, krc);
    if (erc != 0)
        return kd_agree(r, "close (engine)", erc, 0);
    if (krc != 0)
        return kd_harness(r, "close", krc);
    s->st = KS_FREE;
    return true;
}

/* How many UDP autobinds towards (remote, rport) from the route's source
 * the kernel would grant: one probe per port of the range. */
static int kd_count_udp_free(const kd_run *r, uint32_t ri)
{
    int n = 0;
    for (uint32_t p = r->lo; p <= r->hi; p++) {
        int h = ko_socket(EP_PROTO_UDP, r->remotes[ri].family, 0, 0);
        if (h < 0)
            return h;
        int rc = ko_connect(h, &r->remotes[ri], 53, (uint16_t)p, NULL, NULL);
        ko_close(h, KO_CLOSE_RESET);
        if (rc == 0)
            n++;
        else if (rc != -EAGAIN)
            return rc;
    }
    return n;
}

/* The engine's free count towards one destination against the kernel's. */
static bool kd_op_count(kd_run *r)
{
    uint32_t ri = kd_below(r, KD_NREMOTE);
    uint8_t proto = kd_below(r, 2) ? EP_PROTO_TCP : EP_PROTO_UDP;
    ep_tuple t;
    memset(&t, 0, sizeof t);
    t.proto = proto;
    t.local = r->route_src[ri];
    t.remote = r->remotes[ri];
    t.remote_port = proto == EP_PROTO_TCP ? kd_remote_port[ri] : 53;
    ep_dest_stats ds;
    int rc = ep_pool_dest_stats(r->pool, &t, r->now, &ds);
    if (rc != 0)
        return kd_harness(r, "ep_pool_dest_stats", rc);
    int k = proto == EP_PROTO_TCP ? ko_count_tcp_free(&t.local, &t.remote, t.remote_port)
                                  : kd_count_udp_free(r, ri);
    if (k < 0)
        return kd_harness(r, "count", k);
    r->counts++;
    char b1[EP_ADDR_STRLEN], what[160];
    snprintf(what, sizeof what, "%s free ports towards %s:%u", proto == EP_PROTO_TCP ? "tcp" : "udp",
             kd_fmt(&t.remote, b1), t.remote_port);
    if (r->trace)
        fprintf(stderr, "  %s: engine %u kernel %d\n", what, ds.free, k);
    return kd_agree(r, what, (int)ds.free, k);
}

static bool kd_setup(kd_run *r, char *why, size_t len)
{
    uint32_t n = 1u << kd_below(r, 4); /* 1, 2, 4 or 8 ports */
    char reserved[16] = "";
    ep_pool_config c;

    r->lo = KD_LO;
    r->hi = (uint16_t)(KD_LO + n - 1);
    r->tw_reuse = (int)kd_below(r, 3);
    if (n >= 4 && kd_below(r, 2))
        snprintf(reserved, sizeof reserved, "%u", r->lo + 1 + kd_below(r, n - 1));
    for (uint32_t i = 0; i < KD_NLOCAL; i++)
        r->locals[i] = tp_addr(kd_locals[i]);
    for (uint32_t i = 0; i < KD_NREMOTE; i++)
        r->remotes[i] = tp_addr(kd_remote_addr[i]);

    ko_config kc;
    memset(&kc, 0, sizeof kc);
    kc.lo = r->lo;
    kc.hi = r->hi;
    kc.reserved = reserved[0] ? reserved : NULL;
    kc.tw_reuse = r->tw_reuse;
    kc.tw_reuse_delay_ms = KD_DELAY_MS;
    kc.local_addrs = kd_locals;
    kc.nlocal = KD_NLOCAL;
    kc.remotes = r->remotes;
    kc.remote_ports = kd_remote_port;
    kc.nremote = KD_NREMOTE;
    if (ko_env_setup(&kc, why, len) != 0)
        return false;
    /* the route's source towards each remote, as a plain connect() gets it */
    for (uint32_t i = 0; i < KD_NREMOTE; i++) {
        int h = ko_socket(EP_PROTO_UDP, r->remotes[i].family, 0, 0);
        int rc = h < 0 ? h : ko_connect(h, &r->remotes[i], 9, 0, &r->route_src[i], NULL);
        if (h >= 0)
            ko_close(h, KO_CLOSE_RESET);
        if (rc != 0) {
            snprintf(why, len, "cannot learn the route's source towards %s: %d", kd_remote_addr[i], rc);
            return false;
        }
    }

    assert_int_equal(ep_pool_config_init(&c, "linux"), 0);
    c.lo = r->lo;
    c.hi = r->hi;
    c.reserved = reserved;
    c.semantics = EP_SEM_LINUX;
    c.seeded = true;
    c.seed = r->seed;
    c.time_wait = EP_SEC(60);
    c.tw_reuse = r->tw_reuse != 0;
    c.tw_reuse_loopback = r->tw_reuse == 2;
    c.tw_reuse_delay = EP_MSEC(KD_DELAY_MS);
    c.thread_safe = false;
    ep_parse_error perr;
    if (ep_pool_new(&c, &r->pool, &perr) != 0) {
        snprintf(why, len, "ep_pool_new: %s", perr.message);
        return false;
    }
    for (uint32_t i = 0; i < KD_NLOCAL; i++)
        assert_int_equal(ep_pool_add_address(r->pool, &r->locals[i]), 0);
    if (r->trace)
        fprintf(stderr, "seed %" PRIu64 ": range %u-%u reserved '%s' tcp_tw_reuse %d\n", r->seed,
                r->lo, r->hi, reserved, r->tw_reuse);
    return true;
}

/* One seed, in the calling (child) process, inside a fresh namespace. */
static int kd_run_seed(uint64_t seed, unsigned ops, unsigned target, bool trace, int result_fd)
{
    static kd_run run;
    kd_run *r = &run;
    char why[256];
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->rng = seed * 0x2545f4914f6cdd1dull + 1;
    r->trace = trace;
    if (!ep_test_enter_private_netns(why, sizeof why) || !kd_setup(r, why, sizeof why)) {
        dprintf(result_fd, "H harness: %s\n", why);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &r->epoch_start);
    bool ok = true;
    for (unsigned i = 0; i < ops && ok && r->verdicts < target; i++) {
        if (kd_ms_since(&r->epoch_start) > KD_EPOCH_MAX_MS)
            kd_tick(r);
        uint32_t k = kd_below(r, 100);
        if (k < 30)
            ok = kd_op_connect(r);
        else if (k < 52)
            ok = kd_op_bind(r);
        else if (k < 58)
            ok = kd_op_listen(r);
        else if (k < 72)
            ok = kd_op_connect_bound(r);
        else if (k < 94)
            ok = kd_op_close(r);
        else if (k < 97)
            kd_tick(r);
        else if (r->tw_reuse == 0)
            ok = kd_op_count(r);
        if (ok && (i % 8 == 7 || i + 1 == ops || r->verdicts >= target)) {
            /* the full check is O(addresses x 65536): every 8 operations */
            char cwhy[256];
            if (ep_pool_check(r->pool, cwhy, sizeof cwhy) != 0) {
                snprintf(r->fail, sizeof r->fail, "seed %" PRIu64 ": ep_pool_check: %s", seed, cwhy);
                ok = false;
            }
        }
    }
    dprintf(result_fd, "V %u %u\n", r->verdicts, r->counts);
    if (!ok)
        dprintf(result_fd, "F %s\n", r->fail);
    ko_env_teardown();
    ep_pool_free(r->pool);
    return ok ? 0 : 1;
}

static unsigned kd_env(const char *name, unsigned dflt)
{
    const char *v = getenv(name);
    return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

static void kernel_differential(void **state)
{
    (void)state;
    char why[256];
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: the kernel differential test needs root (private network "
                        "namespaces, TCP_REPAIR, setfsuid)\n");
        skip();
    }
    const char *one = getenv("EP_KDIFF_SEED");
    unsigned seeds = one ? 1 : kd_env("EP_KDIFF_SEEDS", 48);
    unsigned ops = kd_env("EP_KDIFF_OPS", 2000);
    unsigned target = kd_env("EP_KDIFF_VERDICTS", 450); /* per seed */
    /* the sanitizer builds (Makefile) run fewer seeds and ask for fewer */
    unsigned min_total = kd_env("EP_KDIFF_MIN_VERDICTS", 20000);
    uint64_t first = one ? strtoull(one, NULL, 10) : 1;
    unsigned long verdicts = 0, counts = 0;
    int failures = 0;
    (void)why;

    for (unsigned k = 0; k < seeds; k++) {
        uint64_t seed = first + k;
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            _exit(kd_run_seed(seed, ops, target, one != NULL, fds[1]));
        }
        close(fds[1]);
        char buf[4096];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)n;
        buf[got] = 0;
        close(fds[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        unsigned v = 0, c = 0;
        char *line = strstr(buf, "V ");
        if (line)
            sscanf(line, "V %u %u", &v, &c);
        verdicts += v;
        counts += c;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failures++;
            fprintf(stderr, "%s", buf[0] ? buf : "seed child died without a word\n");
            if (WIFSIGNALED(status))
                fprintf(stderr, "seed %" PRIu64 ": killed by signal %d\n", seed, WTERMSIG(status));
        }
    }
    fprintf(stderr, "kernel differential: %u seeds, %lu verdicts compared (%lu free counts), "
                    "%d seeds disagreed\n", seeds, verdicts, counts, failures);
    assert_int_equal(failures, 0);
    if (!one)
        assert_true(verdicts >= min_total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kernel_differential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
