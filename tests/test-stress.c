/* test-stress.c - concurrent allocation and release on one thread-safe pool
 * (suite 'stress', also run under ThreadSanitizer by `make tsan`).
 *
 * Several threads hammer one pool with a deliberately small range so that
 * exhaustion, TIME_WAIT expiry and port sharing across destinations happen
 * all the time (two TCP destinations on one server, one UDP destination, two
 * local addresses, named or left to the pool, binds on one of them, half
 * the connections closed by reference), and check the invariant the
 * engine exists for:
 *
 *   a 4-tuple is never handed out twice, and an exclusively bound
 *   (address, port) is never held by two bindings at once.
 *
 * The check is a shared table of atomic flags, one per (local address,
 * destination, port) and one per bound port.  A thread sets the flag with an
 * atomic exchange right after the engine hands the tuple out, and clears it
 * right before giving the tuple back.  If the exchange finds the flag already
 * set, two holders own the same tuple at the same moment: a failure.  This is
 * sound whatever the interleaving: the engine's hand-out happens before our
 * set and our clear happens before the engine's release.
 *
 * Time is a shared atomic counter (1 ns per operation), so TIME_WAIT entries
 * expire while other threads allocate.  cmocka's assertions are not thread
 * safe, so worker threads record the first failure and the main thread
 * asserts on it.  EP_STRESS_OPS (environment) overrides the total number of
 * operations (default 2,400,000).
 */
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

#define NTHREADS   4
#define NLOCAL     2
#define NDEST      3
#define LO         40000
#define NPORTS     64
#define HI         (LO + NPORTS - 1)
#define MAX_HELD   40

static ep_pool *g_pool;
static ep_addr g_local[NLOCAL];
static ep_addr g_remote[NDEST];
static const uint16_t g_rport[NDEST] = { 80, 443, 80 };
static atomic_uchar g_tuple_flag[NLOCAL][NDEST][NPORTS];
static atomic_uint g_bind_excl[NPORTS];    /* exclusive bindings holding the port */
static atomic_uint g_bind_shared[NPORTS];  /* SO_REUSEADDR bindings holding it */
static atomic_uint g_bind_gen[NPORTS];     /* odd while an exclusive binding holds
                                              the port (only its holder bumps it) */
static atomic_uint_fast64_t g_clock;
static atomic_int g_failed;
static char g_failure[256];
static uint64_t g_ops_per_thread;

struct worker_stats {
    uint64_t connects, exhausted, closes, binds, bind_conflicts;
};

static void stress_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void stress_fail(const char *fmt, ...)
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
    /* splitmix64: plenty for choosing operations */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int local_index(const ep_addr *a)
{
    for (int i = 0; i < NLOCAL; i++)
        if (ep_addr_equal(a, &g_local[i]))
            return i;
    return -1;
}

struct held {
    ep_tuple t;
    int li, di;
    ep_conn_ref ref;    /* from ep_pool_connect_ref, or 0 */
};

static ep_time tick(void)
{
    return atomic_fetch_add(&g_clock, 1) + 1;
}

static void release_one(struct held *h, int active, struct worker_stats *st)
{
    atomic_store(&g_tuple_flag[h->li][h->di][h->t.local_port - LO], 0);
    ep_close_how how = active ? EP_CLOSE_ACTIVE : EP_CLOSE_PASSIVE;
    int rc = h->ref ? ep_pool_close_ref(g_pool, h->ref, how, tick())
                    : ep_pool_close(g_pool, &h->t, how, tick());
    if (rc != 0)
        stress_fail("close of port %u returned %d", h->t.local_port, rc);
    st->closes++;
}

static void do_connect(uint64_t *rng, struct held *held, int *nheld, struct worker_stats *st)
{
    int di = (int)(rng_next(rng) % NDEST);
    uint64_t r = rng_next(rng);
    ep_tuple t;
    memset(&t, 0, sizeof t);
    t.proto = di == 2 ? EP_PROTO_UDP : EP_PROTO_TCP; /* UDP: its own port space */
    t.remote = g_remote[di];
    t.remote_port = g_rport[di];
    if (r & 1)   /* half the time name the local address, else let the pool pick */
        t.local = g_local[(r >> 1) % NLOCAL];
    unsigned gen_before[NPORTS];
    for (int p = 0; p < NPORTS; p++)
        gen_before[p] = atomic_load(&g_bind_gen[p]);
    ep_conn_ref ref = 0;
    int rc = ((r >> 40) & 1) ? ep_pool_connect_ref(g_pool, &t, 0, tick(), &ref) /* closed by reference */
                     : ep_pool_connect(g_pool, &t, 0, tick());
    if (rc == EP_EADDRNOTAVAIL) {
        st->exhausted++;
        return;
    }
    if (rc != 0) {
        stress_fail("connect returned %d (%s)", rc, ep_err_name(rc));
        return;
    }
    st->connects++;
    int li = local_index(&t.local);
    if (li < 0 || t.local_port < LO || t.local_port > HI) {
        stress_fail("connect handed out an invalid tuple (local index %d, port %u)", li, t.local_port);
        return;
    }
    if (atomic_exchange(&g_tuple_flag[li][di][t.local_port - LO], 1) != 0) {
        stress_fail("4-tuple (local %d, port %u, destination %d) handed out twice", li, t.local_port, di);
        return;
    }
    /* A port bound on local 0 for the whole call must not be handed out
     * from local 0: same odd generation before and after = same binding. */
    unsigned g = atomic_load(&g_bind_gen[t.local_port - LO]);
    if (li == 0 && t.proto == EP_PROTO_TCP && (g & 1) && g == gen_before[t.local_port - LO])
        stress_fail("connect handed out port %u while it was bound on the address", t.local_port);
    held[*nheld].t = t;
    held[*nheld].li = li;
    held[*nheld].di = di;
    held[*nheld].ref = ref;
    (*nheld)++;
}

struct bound {
    ep_bind_id id;
    uint16_t port;
    bool shared;
};

/* Each thread holds at most one binding on local 0: bind when it holds
 * none, unbind otherwise.  Half are SO_REUSEADDR (they may share a port with
 * each other and with connections), half exclusive. */
static void do_bind(uint64_t *rng, struct bound *bd, struct worker_stats *st)
{
    if (bd->id) {
        uint16_t i = bd->port - LO;
        if (bd->shared) {
            atomic_fetch_sub(&g_bind_shared[i], 1);
        } else {
            atomic_fetch_add(&g_bind_gen[i], 1); /* even: no exclusive holder */
            atomic_fetch_sub(&g_bind_excl[i], 1);
        }
        int rc = ep_pool_unbind(g_pool, bd->id, tick());
        if (rc != 0)
            stress_fail("unbind returned %d", rc);
        bd->id = 0;
        return;
    }
    ep_bind_req req;
    memset(&req, 0, sizeof req);
    req.proto = EP_PROTO_TCP;
    req.addr = g_local[0];
    req.port = (rng_next(rng) & 1) ? 0 : (uint16_t)(LO + rng_next(rng) % NPORTS);
    req.flags = (rng_next(rng) & 1) ? EP_BIND_REUSEADDR : 0;
    ep_bind_id id = 0;
    uint16_t port = 0;
    int rc = ep_pool_bind(g_pool, &req, tick(), &id, &port);
    if (rc == EP_EADDRINUSE || rc == EP_EADDRNOTAVAIL) {
        st->bind_conflicts++;
        return;
    }
    if (rc != 0) {
        stress_fail("bind returned %d (%s)", rc, ep_err_name(rc));
        return;
    }
    st->binds++;
    if (port < LO || port > HI || (req.port != 0 && port != req.port)) {
        stress_fail("bind returned port %u for request %u", port, req.port);
        return;
    }
    uint16_t i = port - LO;
    bd->id = id;
    bd->port = port;
    bd->shared = req.flags != 0;
    /* Mark first, then look: whichever of two overlapping holders marks
     * second sees the other, and both are held by the engine at that time. */
    if (bd->shared) {
        atomic_fetch_add(&g_bind_shared[i], 1);
        if (atomic_load(&g_bind_excl[i]) != 0)
            stress_fail("port %u bound with SO_REUSEADDR while bound exclusively", port);
    } else {
        if (atomic_fetch_add(&g_bind_excl[i], 1) != 0 || atomic_load(&g_bind_shared[i]) != 0)
            stress_fail("port %u bound exclusively while bound by another", port);
        atomic_fetch_add(&g_bind_gen[i], 1); /* odd: this binding holds it */
    }
}

static void *worker(void *arg)
{
    uint64_t rng = 0x5eed0000u + (uint64_t)(uintptr_t)arg;
    struct worker_stats *st = calloc(1, sizeof *st);
    struct held held[MAX_HELD];
    int nheld = 0;
    struct bound bd = { 0, 0, false };

    for (uint64_t i = 0; i < g_ops_per_thread && !atomic_load(&g_failed); i++) {
        uint64_t r = rng_next(&rng) % 100;
        if (r < 55 && nheld < MAX_HELD) {
            do_connect(&rng, held, &nheld, st);
        } else if (r < 95 && nheld > 0) {
            int k = (int)(rng_next(&rng) % (uint64_t)nheld);
            release_one(&held[k], (int)(r & 1), st);
            held[k] = held[--nheld];
        } else {
            do_bind(&rng, &bd, st);
        }
    }
    if (bd.id)
        do_bind(&rng, &bd, st); /* releases it */
    while (nheld > 0)
        release_one(&held[--nheld], 0, st);
    return st;
}

static void stress_no_double_handout(void **state)
{
    (void)state;
    const char *env = getenv("EP_STRESS_OPS");
    uint64_t total = env ? strtoull(env, NULL, 10) : 2400000u;
    if (total < NTHREADS)
        total = NTHREADS;
    g_ops_per_thread = total / NTHREADS;

    ep_pool_config cfg;
    assert_int_equal(ep_pool_config_init(&cfg, "linux"), 0);
    cfg.lo = LO;
    cfg.hi = HI;
    cfg.time_wait = 2000;          /* 2000 ticks of the shared clock */
    cfg.seeded = true;
    cfg.seed = 42;
    cfg.thread_safe = true;
    assert_int_equal(ep_pool_new(&cfg, &g_pool, NULL), 0);
    assert_int_equal(ep_addr_parse("10.0.0.1", &g_local[0]), 0);
    assert_int_equal(ep_addr_parse("10.0.0.2", &g_local[1]), 0);
    assert_int_equal(ep_addr_parse("192.0.2.1", &g_remote[0]), 0);
    assert_int_equal(ep_addr_parse("192.0.2.1", &g_remote[1]), 0);
    assert_int_equal(ep_addr_parse("198.51.100.7", &g_remote[2]), 0);
    for (int i = 0; i < NLOCAL; i++)
        assert_int_equal(ep_pool_add_address(g_pool, &g_local[i]), 0);

    pthread_t th[NTHREADS];
    for (uintptr_t i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)i), 0);
    struct worker_stats sum = { 0 };
    for (int i = 0; i < NTHREADS; i++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        struct worker_stats *st = ret;
        sum.connects += st->connects;
        sum.exhausted += st->exhausted;
        sum.closes += st->closes;
        sum.binds += st->binds;
        sum.bind_conflicts += st->bind_conflicts;
        free(st);
    }
    if (atomic_load(&g_failed))
        fail_msg("%s", g_failure);
    print_message("stress: %llu connects, %llu exhausted, %llu closes, %llu binds, "
                  "%llu bind conflicts\n",
                  (unsigned long long)sum.connects, (unsigned long long)sum.exhausted,
                  (unsigned long long)sum.closes, (unsigned long long)sum.binds,
                  (unsigned long long)sum.bind_conflicts);
    /* The workload must really have exercised exhaustion and sharing. */
    assert_true(sum.connects > total / 10);
    assert_true(sum.exhausted > 0);
    assert_int_equal(sum.connects, sum.closes);

    /* Everything was given back: after TIME_WAIT has passed, nothing is held. */
    ep_pool_stats ps;
    ep_time end = atomic_load(&g_clock) + 1000000;
    assert_int_equal(ep_pool_stats_get(g_pool, end, &ps), 0);
    assert_int_equal(ps.in_use, 0);
    assert_int_equal(ps.time_wait, 0);
    assert_int_equal(ps.quarantine, 0);
    assert_int_equal(ps.binds, 0);
    assert_int_equal(ps.releases, sum.closes + sum.binds);
    assert_int_equal(ps.allocations, sum.connects + sum.binds);
    assert_int_equal(ps.failures[EP_FAIL_EXHAUSTED],
                     sum.exhausted + (sum.bind_conflicts - ps.failures[EP_FAIL_ADDRINUSE]));
    ep_pool_free(g_pool);
    g_pool = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stress_no_double_handout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
