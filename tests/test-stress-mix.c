/* test-stress-mix.c - threads on one pool in the shapes the locking must
 * survive (suite 'stress', also run under ThreadSanitizer by `make tsan`):
 * two threads each towards destinations of their own, two threads towards
 * one shared destination, and every thread mixing in the rare calls that
 * see the whole pool - bind/unbind, ep_pool_advance, ep_pool_stats_get,
 * ep_pool_top_destinations, ep_pool_set_reserved, bind-then-connect
 * (ep_pool_connect_bound) towards its destinations - and RSS connects
 * (ep_pool_connect_rss) towards its destinations.  Threads 0 and 2 connect
 * as owner 1, whose quota (OWNER_CAP) is below what they could hold
 * together.  Run once under stack semantics (a sharded pool: the
 * destinations spread over its shards, docs/ENGINE.md section 15) and once
 * under Linux semantics (one lock).
 *
 * Checked, whatever the interleaving (test-stress.c explains why an atomic
 * flag set right after the hand-out and cleared right before the release
 * is sound):
 *   - no 4-tuple is handed out twice (flag per (destination, port));
 *   - owner 1 never holds more than its quota (a count raised after each
 *     of its connects and lowered before each close never exceeds it);
 *   - an RSS connect's port belongs to the asked queue (ep_rss_hash_ports
 *     of the reply direction and the table);
 *   - statistics read while others work stay within what the threads can
 *     hold (in_use), and a destination's free count within the range;
 *   - at the end, after every release and TIME_WAIT: ep_pool_check()
 *     passes, nothing is held, and allocations = connects + binds.
 * EP_STRESS_OPS (environment) overrides the operations per run (default
 * 1,200,000 per semantics). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ephport/ephport.h>
#include <ephport/rss.h>

#define NTHREADS  4
#define LO        41000
#define NPORTS    96
#define HI        (LO + NPORTS - 1)
#define NDEST     5    /* 0,1: thread 0's; 2,3: thread 1's; 4: threads 2 and 3 share it */
#define MAX_HELD  24
#define NQUEUES   4
#define RETA      16
#define OWNER_CAP 30   /* owner 1 (threads 0 and 2, 2 x MAX_HELD at most) */

static ep_pool *g_pool;
static ep_addr g_local, g_remote[NDEST];
static atomic_uchar g_flag[NDEST][NPORTS];
static atomic_uint_fast64_t g_clock;
static atomic_int g_failed;
static char g_failure[256];
static uint64_t g_ops_per_thread;
static uint16_t g_reta[RETA];
static atomic_int g_owner_held;

struct wstats {
    uint64_t connects, exhausted, closes, binds, rss, bound, quota;
};

static void mix_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mix_fail(const char *fmt, ...)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&g_failed, &expected, 1)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_failure, sizeof g_failure, fmt, ap);
        va_end(ap);
    }
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static ep_time tick(void)
{
    return atomic_fetch_add(&g_clock, 1) + 1;
}

struct held {
    ep_tuple t;
    int di;
    ep_conn_ref ref;
    uint32_t owner;
};

/* The queue the NIC gives a reply of tuple t (remote -> local). */
static int reply_queue(const ep_tuple *t)
{
    uint32_t h;
    if (ep_rss_hash_ports(ep_rss_default_key, sizeof ep_rss_default_key, &t->remote,
                          t->remote_port, &t->local, t->local_port, &h) != 0)
        return -1;
    return g_reta[h & (RETA - 1)];
}

static void do_connect(int self, uint64_t *rng, struct held *held, int *nheld, struct wstats *st)
{
    int di = self >= 2 ? 4 : self * 2 + (int)(rng_next(rng) & 1);
    uint64_t r = rng_next(rng);
    uint32_t owner = self % 2 == 0 ? 1 : 0;
    ep_tuple t;
    memset(&t, 0, sizeof t);
    t.proto = EP_PROTO_TCP;
    t.remote = g_remote[di];
    t.remote_port = 80;
    if (r & 1)
        t.local = g_local;
    ep_conn_ref ref = 0;
    int queue = -1, rc;
    switch ((r >> 8) % 3) {
    case 0: rc = ep_pool_connect(g_pool, &t, owner, tick()); break;
    case 1: rc = ep_pool_connect_ref(g_pool, &t, owner, tick(), &ref); break;
    default:
        queue = (int)((r >> 16) % NQUEUES);
        rc = ep_pool_connect_rss(g_pool, &t, (uint16_t)queue, owner, tick(), &ref);
        break;
    }
    if (rc == EP_EADDRNOTAVAIL) {
        st->exhausted++;
        return;
    }
    if (rc == EP_EDQUOT && owner) {
        st->quota++;
        return;
    }
    if (rc != 0) {
        mix_fail("connect (queue %d) returned %d (%s)", queue, rc, ep_err_name(rc));
        return;
    }
    st->connects++;
    if (t.local_port < LO || t.local_port > HI || !ep_addr_equal(&t.local, &g_local)) {
        mix_fail("connect handed out port %u", t.local_port);
        return;
    }
    if (atomic_exchange(&g_flag[di][t.local_port - LO], 1) != 0) {
        mix_fail("4-tuple (port %u, destination %d) handed out twice", t.local_port, di);
        return;
    }
    if (queue >= 0) {
        st->rss++;
        if (reply_queue(&t) != queue)
            mix_fail("RSS connect for queue %d gave port %u of queue %d", queue, t.local_port,
                     reply_queue(&t));
    }
    if (owner && atomic_fetch_add(&g_owner_held, 1) + 1 > OWNER_CAP)
        mix_fail("owner 1 holds more than its quota of %d", OWNER_CAP);
    held[*nheld].t = t;
    held[*nheld].di = di;
    held[*nheld].ref = ref;
    held[*nheld].owner = owner;
    (*nheld)++;
}

/* Bind a port on the local address, then connect it towards one of the
 * thread's destinations (ep_pool_connect_bound): the tuple is then held
 * like a connect's, and its close ends the binding. */
static void do_bound(int self, uint64_t *rng, struct held *held, int *nheld, struct wstats *st)
{
    int di = self >= 2 ? 4 : self * 2 + (int)(rng_next(rng) & 1);
    ep_bind_req req;
    ep_bind_id id;
    ep_tuple t;
    memset(&req, 0, sizeof req);
    req.proto = EP_PROTO_TCP;
    req.addr = g_local;
    int rc = ep_pool_bind(g_pool, &req, tick(), &id, NULL);
    if (rc == EP_EADDRNOTAVAIL || rc == EP_EADDRINUSE)
        return;
    if (rc != 0) {
        mix_fail("bind for connect returned %d (%s)", rc, ep_err_name(rc));
        return;
    }
    st->binds++;
    memset(&t, 0, sizeof t);
    t.remote = g_remote[di];
    t.remote_port = 80;
    rc = ep_pool_connect_bound(g_pool, id, &t, tick());
    if (rc == EP_EADDRNOTAVAIL) {
        if (ep_pool_unbind(g_pool, id, tick()) != 0)
            mix_fail("unbind after a refused connect failed");
        st->exhausted++;
        return;
    }
    if (rc != 0) {
        mix_fail("connect_bound returned %d (%s)", rc, ep_err_name(rc));
        return;
    }
    st->bound++;
    st->connects++;
    if (atomic_exchange(&g_flag[di][t.local_port - LO], 1) != 0) {
        mix_fail("4-tuple (port %u, destination %d) handed out twice (bound)", t.local_port, di);
        return;
    }
    held[*nheld].t = t;
    held[*nheld].di = di;
    held[*nheld].ref = 0;
    held[*nheld].owner = 0;
    (*nheld)++;
}

static void release_one(struct held *h, bool active, struct wstats *st)
{
    atomic_store(&g_flag[h->di][h->t.local_port - LO], 0);
    if (h->owner)
        atomic_fetch_sub(&g_owner_held, 1);
    ep_close_how how = active ? EP_CLOSE_ACTIVE : EP_CLOSE_PASSIVE;
    int rc = h->ref ? ep_pool_close_ref(g_pool, h->ref, how, tick())
                    : ep_pool_close(g_pool, &h->t, how, tick());
    if (rc != 0)
        mix_fail("close of port %u returned %d", h->t.local_port, rc);
    st->closes++;
}

/* The rare calls: each sees the whole pool. */
static void do_rare(uint64_t *rng, ep_bind_id *bid, struct wstats *st)
{
    uint64_t r = rng_next(rng) % 6;
    if (r == 0) {
        if (*bid) {
            if (ep_pool_unbind(g_pool, *bid, tick()) != 0)
                mix_fail("unbind failed");
            *bid = 0;
        } else {
            ep_bind_req req;
            memset(&req, 0, sizeof req);
            req.proto = EP_PROTO_TCP;
            req.addr = g_local;
            req.port = (rng_next(rng) & 1) ? 0 : (uint16_t)(LO + rng_next(rng) % NPORTS);
            uint16_t port = 0;
            int rc = ep_pool_bind(g_pool, &req, tick(), bid, &port);
            if (rc == 0)
                st->binds++;
            else if (rc != EP_EADDRINUSE && rc != EP_EADDRNOTAVAIL)
                mix_fail("bind returned %d (%s)", rc, ep_err_name(rc));
        }
    } else if (r == 1) {
        ep_pool_advance(g_pool, tick());
    } else if (r == 2) {
        /* connects outstanding before and after bound the pool's in_use */
        /* each thread holds at most MAX_HELD tuples, plus the one whose
         * connect or close is under way */
        ep_pool_stats ps;
        if (ep_pool_stats_get(g_pool, tick(), &ps) != 0)
            mix_fail("stats failed");
        if (ps.in_use > NTHREADS * (MAX_HELD + 1))
            mix_fail("stats: %llu in use, more than the threads can hold",
                     (unsigned long long)ps.in_use);
    } else if (r == 3) {
        ep_dest_stats top[NDEST + 2];
        size_t total = 0;
        if (ep_pool_top_destinations(g_pool, tick(), top, NDEST + 2, &total) < 0)
            mix_fail("top destinations failed");
        if (total > NDEST + 1)   /* the 5 destinations and bind-then-connect ones: none here */
            mix_fail("top destinations: %zu destinations", total);
    } else if (r == 4) {
        /* reserve one port of the range for a while, then none again */
        char text[16];
        if (rng_next(rng) & 1)
            snprintf(text, sizeof text, "%u", LO + (unsigned)(rng_next(rng) % NPORTS));
        else
            text[0] = '\0';
        if (ep_pool_set_reserved(g_pool, text, NULL) != 0)
            mix_fail("set_reserved(%s) failed", text);
    } else {
        ep_tuple t;
        ep_dest_stats ds;
        memset(&t, 0, sizeof t);
        t.proto = EP_PROTO_TCP;
        t.local = g_local;
        t.remote = g_remote[rng_next(rng) % NDEST];
        t.remote_port = 80;
        if (ep_pool_dest_stats(g_pool, &t, tick(), &ds) != 0)
            mix_fail("dest stats failed");
        if (ds.free > NPORTS)
            mix_fail("dest stats: %u free of %u ports", ds.free, NPORTS);
    }
}

static void *worker(void *arg)
{
    int self = (int)(uintptr_t)arg;
    uint64_t rng = 0x313370000u + (uint64_t)self;
    struct wstats *st = calloc(1, sizeof *st);
    struct held held[MAX_HELD];
    int nheld = 0;
    ep_bind_id bid = 0;

    for (uint64_t i = 0; i < g_ops_per_thread && !atomic_load(&g_failed); i++) {
        uint64_t r = rng_next(&rng) % 1000;
        if (r < 5 && nheld < MAX_HELD) {
            do_bound(self, &rng, held, &nheld, st);
        } else if (r < 520 && nheld < MAX_HELD) {
            do_connect(self, &rng, held, &nheld, st);
        } else if (r < 990 && nheld > 0) {
            int k = (int)(rng_next(&rng) % (uint64_t)nheld);
            release_one(&held[k], r & 1, st);
            held[k] = held[--nheld];
        } else {
            do_rare(&rng, &bid, st);
        }
    }
    if (bid && ep_pool_unbind(g_pool, bid, tick()) != 0)
        mix_fail("final unbind failed");
    while (nheld > 0)
        release_one(&held[--nheld], false, st);
    return st;
}

static void run_mix(ep_semantics sem)
{
    const char *env = getenv("EP_STRESS_OPS");
    uint64_t total = env ? strtoull(env, NULL, 10) : 1200000u;
    if (total < NTHREADS)
        total = NTHREADS;
    g_ops_per_thread = total / NTHREADS;
    atomic_store(&g_failed, 0);
    atomic_store(&g_owner_held, 0);
    memset(g_flag, 0, sizeof g_flag);

    ep_pool_config cfg;
    assert_int_equal(ep_pool_config_init(&cfg, "linux"), 0);
    cfg.lo = LO;
    cfg.hi = HI;
    cfg.time_wait = 400;
    cfg.seeded = true;
    cfg.seed = 7;
    cfg.semantics = sem;
    cfg.thread_safe = true;
    assert_int_equal(ep_pool_new(&cfg, &g_pool, NULL), 0);
    assert_int_equal(ep_addr_parse("10.0.0.1", &g_local), 0);
    assert_int_equal(ep_pool_add_address(g_pool, &g_local), 0);
    for (int i = 0; i < NDEST; i++) {
        char text[32];
        snprintf(text, sizeof text, "192.0.2.%d", 10 + i);
        assert_int_equal(ep_addr_parse(text, &g_remote[i]), 0);
    }
    for (int i = 0; i < RETA; i++)
        g_reta[i] = (uint16_t)(i % NQUEUES);
    ep_rss_config rc = { ep_rss_default_key, sizeof ep_rss_default_key, g_reta, RETA };
    assert_int_equal(ep_pool_set_rss(g_pool, &rc), 0);
    assert_int_equal(ep_pool_set_owner_quota(g_pool, 1, OWNER_CAP), 0);

    pthread_t th[NTHREADS];
    for (uintptr_t i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)i), 0);
    struct wstats sum = { 0 };
    for (int i = 0; i < NTHREADS; i++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        struct wstats *st = ret;
        sum.connects += st->connects;
        sum.exhausted += st->exhausted;
        sum.closes += st->closes;
        sum.binds += st->binds;
        sum.rss += st->rss;
        sum.bound += st->bound;
        sum.quota += st->quota;
        free(st);
    }
    if (atomic_load(&g_failed))
        fail_msg("%s semantics: %s", ep_semantics_name(sem), g_failure);
    print_message("stress-mix (%s): %llu connects (%llu RSS), %llu exhausted, %llu closes, "
                  "%llu binds (%llu connected), %llu over quota\n", ep_semantics_name(sem),
                  (unsigned long long)sum.connects, (unsigned long long)sum.rss,
                  (unsigned long long)sum.exhausted, (unsigned long long)sum.closes,
                  (unsigned long long)sum.binds, (unsigned long long)sum.bound,
                  (unsigned long long)sum.quota);
    assert_true(sum.connects > total / 10);
    assert_true(sum.rss > 0);
    assert_true(sum.exhausted > 0);
    assert_true(sum.binds > 0);
    assert_int_equal(sum.connects, sum.closes);

    char why[256];
    int crc = ep_pool_check(g_pool, why, sizeof why);
    if (crc != 0)
        fail_msg("ep_pool_check: %d %s", crc, why);
    ep_pool_stats ps;
    assert_int_equal(ep_pool_stats_get(g_pool, atomic_load(&g_clock) + 1000000, &ps), 0);
    assert_int_equal(ps.in_use, 0);
    assert_int_equal(ps.time_wait, 0);
    assert_int_equal(ps.binds, 0);
    /* a connected binding is one allocation for its bind and one for its
     * connect, and one release: its close */
    assert_int_equal(ps.allocations, sum.connects + sum.binds);
    assert_int_equal(ps.releases, sum.closes + sum.binds - sum.bound);
    assert_true(sum.bound > 0);
    assert_true(sum.quota > 0);
    assert_int_equal(ep_pool_check(g_pool, why, sizeof why), 0);
    ep_pool_free(g_pool);
    g_pool = NULL;
}

static void stress_mix_stack(void **state)
{
    (void)state;
    run_mix(EP_SEM_STACK);
}

static void stress_mix_linux(void **state)
{
    (void)state;
    run_mix(EP_SEM_LINUX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stress_mix_stack),
        cmocka_unit_test(stress_mix_linux),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
