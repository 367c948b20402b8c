/* test-pool-bind.c - unit tests for bind-style allocation, one test per rule
 * of docs/ENGINE.md "Bindings": address overlap, SO_REUSEADDR (and the
 * listening exception), SO_REUSEPORT (same owner), bindings against
 * connect-style tuples, bound ports blocking connect-style allocation,
 * port 0, IP_BIND_ADDRESS_NO_PORT, bind-then-connect, listen, unbind, ids,
 * and every error path. */
#include "test-pool-util.h"

#define L1 "192.0.2.1"
#define L2 "192.0.2.2"
#define L6 "2001:db8::1"
#define R1 "198.51.100.1"
#define R2 "198.51.100.2"

static ep_pool *bpool(uint16_t lo, uint16_t hi)
{
    ep_pool_config c = tp_cfg(lo, hi, EP_ALG_RANDOM);
    const char *addrs[] = { L1, L2, L6, NULL };
    return tp_pool_cfg(&c, addrs);
}

static int bind1(ep_pool *p, uint8_t proto, const char *addr, uint16_t port, unsigned flags,
                 uint32_t owner, ep_bind_id *id)
{
    ep_bind_req r = { .proto = proto, .addr = tp_addr(addr), .port = port, .flags = flags,
                      .owner = owner };
    ep_bind_id tmp;
    return ep_pool_bind(p, &r, 0, id ? id : &tmp, NULL);
}

static void overlap_rule(void **state)
{
    ep_pool *p = bpool(1000, 1999);
    (void)state;
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1500, 0, 0, NULL), 0);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1500, 0, 0, NULL), EP_EADDRINUSE);
    assert_int_equal(bind1(p, EP_PROTO_TCP, "0.0.0.0", 1500, 0, 0, NULL), EP_EADDRINUSE);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L2, 1500, 0, 0, NULL), 0);       /* other address */
    assert_int_equal(bind1(p, EP_PROTO_UDP, L1, 1500, 0, 0, NULL), 0);       /* other protocol */
    assert_int_equal(bind1(p, EP_PROTO_TCP, "::", 1500, 0, 0, NULL), 0);     /* other family */
    assert_int_equal(bind1(p, EP_PROTO_TCP, L6, 1500, 0, 0, NULL), EP_EADDRINUSE);
    assert_int_equal(bind1(p, EP_PROTO_TCP, "0.0.0.0", 1600, 0, 0, NULL), 0);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L2, 1600, 0, 0, NULL), EP_EADDRINUSE);
    /* explicit ports outside the range and reserved ports are allowed */
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 80, 0, 0, NULL), 0);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 65535, 0, 0, NULL), 0);
    ep_pool_stats st = tp_stats(p, 0);
    assert_int_equal(st.binds, 7);
    assert_int_equal(st.allocations, 7);
    assert_int_equal(st.failures[EP_FAIL_ADDRINUSE], 4);
    tp_check(p);
    ep_pool_free(p);
}

static void reuseaddr_rule(void **state)
{
    ep_pool *p = bpool(1000, 1999);
    ep_bind_id a, b;
    (void)state;
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1500, EP_BIND_REUSEADDR, 1, &a), 0);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1500, 0, 1, NULL), EP_EADDRINUSE);
    assert_int_equal(bind1(p, EP_PROTO_TCP, "0.0.0.0", 1500, EP_BIND_REUSEADDR, 2, &b), 0);
    /* listening: the pair now conflicts, listen() says so */
    assert_int_equal(ep_pool_listen(p, a), EP_EADDRINUSE);
    assert_int_equal(ep_pool_unbind(p, b, 0), 0);
    assert_int_equal(ep_pool_listen(p, a), 0);
    assert_int_equal(ep_pool_listen(p, a), 0); /* idempotent */
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1500, EP_BIND_REUSEADDR, 1, NULL), EP_EADDRINUSE);
    /* UDP: SO_REUSEADDR on both suffices */
    assert_int_equal(bind1(p, EP_PROTO_UDP, L1, 53, EP_BIND_REUSEADDR, 1, NULL), 0);
    assert_int_equal(bind1(p, EP_PROTO_UDP, L1, 53, EP_BIND_REUSEADDR, 2, NULL), 0);
    assert_int_equal(bind1(p, EP_PROTO_UDP, L1, 53, 0, 2, NULL), EP_EADDRINUSE);
    tp_check(p);
    ep_pool_free(p);
}

static void reuseport_rule(void **state)
{
    ep_pool *p = bpool(1000, 1999);
    ep_bind_id a, b;
    (void)state;
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 443, EP_BIND_REUSEPORT, 7, &a), 0);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 443, EP_BIND_REUSEPORT, 7, &b), 0);
    assert_int_equal(ep_pool_listen(p, a), 0);
    assert_int_equal(ep_pool_listen(p, b), 0); /* same owner: even listening */
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 443, EP_BIND_REUSEPORT, 8, NULL), EP_EADDRINUSE);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 443, 0, 7, NULL), EP_EADDRINUSE);
    assert_int_equal(bind1(p, EP_PROTO_TCP, "0.0.0.0", 443, EP_BIND_REUSEPORT, 7, NULL), 0);
    assert_int_equal(bind1(p, EP_PROTO_UDP, L1, 443, EP_BIND_REUSEPORT, 8, NULL), 0);
    assert_int_equal(tp_stats(p, 0).binds, 4);
    tp_check(p);
    ep_pool_free(p);
}

static void bindings_against_tuples(void **state)
{
    ep_pool_config c = tp_cfg(1000, 1000, EP_ALG_RANDOM);
    const char *addrs[] = { L1, L2, NULL };
    ep_pool *p;
    ep_bind_id id;
    (void)state;
    c.quarantine = EP_SEC(5);
    p = tp_pool_cfg(&c, addrs);
    ep_tuple t = tp_tuple(EP_PROTO_TCP, L1, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(t.local_port, 1000);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1000, 0, 0, NULL), EP_EADDRINUSE);
    assert_int_equal(bind1(p, EP_PROTO_TCP, "0.0.0.0", 1000, 0, 0, NULL), EP_EADDRINUSE);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L2, 1000, 0, 0, &id), 0);
    assert_int_equal(ep_pool_unbind(p, id, 0), 0);
    assert_int_equal(bind1(p, EP_PROTO_UDP, L1, 1000, 0, 0, &id), 0);
    assert_int_equal(ep_pool_unbind(p, id, 0), 0);
    /* TIME_WAIT keeps the port, as in Linux */
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_ACTIVE, 0), 0);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1000, 0, 0, NULL), EP_EADDRINUSE);
    /* SO_REUSEADDR binds over it */
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1000, EP_BIND_REUSEADDR, 0, &id), 0);
    assert_int_equal(ep_pool_unbind(p, id, 0), 0);
    ep_pool_advance(p, EP_SEC(60));
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1000, 0, 0, &id), 0);
    assert_int_equal(ep_pool_unbind(p, id, EP_SEC(60)), 0);
    /* so does quarantine */
    t = tp_tuple(EP_PROTO_UDP, L1, R1, 53);
    assert_int_equal(ep_pool_connect(p, &t, 0, EP_SEC(60)), 0);
    assert_int_equal(ep_pool_close(p, &t, EP_CLOSE_PASSIVE, EP_SEC(60)), 0);
    assert_int_equal(bind1(p, EP_PROTO_UDP, L1, 1000, 0, 0, NULL), EP_EADDRINUSE);
    ep_pool_advance(p, EP_SEC(65));
    assert_int_equal(bind1(p, EP_PROTO_UDP, L1, 1000, 0, 0, NULL), 0);
    tp_check(p);
    ep_pool_free(p);
}

static void bound_ports_block_connect(void **state)
{
    ep_pool *p = bpool(1000, 1001);
    ep_bind_id a, w;
    ep_tuple t;
    (void)state;
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1000, 0, 0, &a), 0);
    t = tp_tuple(EP_PROTO_TCP, L1, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(t.local_port, 1001);
    ep_dest_stats ds = tp_dstats(p, &t, 0);
    assert_int_equal(ds.blocked, 1);
    assert_int_equal(ds.free, 0);
    t = tp_tuple(EP_PROTO_TCP, L1, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), EP_EADDRNOTAVAIL);
    /* other addresses and the other protocol are not blocked */
    t = tp_tuple(EP_PROTO_TCP, L2, R1, 80);
    assert_int_equal(tp_dstats(p, &t, 0).free, 2);
    t = tp_tuple(EP_PROTO_UDP, L1, R1, 80);
    assert_int_equal(tp_dstats(p, &t, 0).free, 2);
    /* released: shareable again at once */
    assert_int_equal(ep_pool_unbind(p, a, 0), 0);
    t = tp_tuple(EP_PROTO_TCP, L1, R1, 80);
    assert_int_equal(tp_dstats(p, &t, 0).free, 1);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(t.local_port, 1000);
    /* a wildcard binding blocks every address of its family only */
    assert_int_equal(bind1(p, EP_PROTO_TCP, "0.0.0.0", 1001, EP_BIND_REUSEADDR, 0, &w), 0);
    t = tp_tuple(EP_PROTO_TCP, L2, R2, 80);
    ds = tp_dstats(p, &t, 0);
    assert_int_equal(ds.blocked, 1);
    assert_int_equal(ds.free, 1);
    t = tp_tuple(EP_PROTO_TCP, L6, "2001:db8::9", 80);
    assert_int_equal(tp_dstats(p, &t, 0).free, 2);
    /* an address added later inherits the wildcard's block */
    ep_addr l3 = tp_addr("192.0.2.3");
    assert_int_equal(ep_pool_add_address(p, &l3), 0);
    t = tp_tuple(EP_PROTO_TCP, "192.0.2.3", R2, 80);
    assert_int_equal(tp_dstats(p, &t, 0).blocked, 1);
    tp_check(p);
    assert_int_equal(ep_pool_unbind(p, w, 0), 0);
    assert_int_equal(tp_dstats(p, &t, 0).blocked, 0);
    tp_check(p);
    ep_pool_free(p);
}

static void port_zero(void **state)
{
    ep_pool_config c = tp_cfg(1000, 1009, EP_ALG_RANDOM);
    const char *addrs[] = { L1, L2, NULL };
    ep_pool *p;
    ep_bind_req r = { .proto = EP_PROTO_TCP, .addr = tp_addr(L1), .port = 0 };
    ep_bind_id id;
    uint16_t port, seen[10] = { 0 };
    (void)state;
    c.reserved = "1003";
    p = tp_pool_cfg(&c, addrs);
    ep_tuple t = tp_tuple(EP_PROTO_TCP, L1, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0); /* holds one port on L1 */
    /* an explicit binding on another port (which one the connect took
     * depends on the seed's stream) */
    uint16_t fixed = t.local_port == 1007 ? 1008 : 1007;
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, fixed, 0, 0, NULL), 0);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(ep_pool_bind(p, &r, 0, &id, &port), 0);
        assert_in_range(port, 1000, 1009);
        assert_int_not_equal(port, 1003);
        assert_int_not_equal(port, fixed);
        assert_int_not_equal(port, t.local_port);
        assert_false(seen[port - 1000]);
        seen[port - 1000] = 1;
    }
    assert_int_equal(ep_pool_bind(p, &r, 0, &id, &port), EP_EADDRNOTAVAIL);
    assert_int_equal(tp_stats(p, 0).failures[EP_FAIL_EXHAUSTED], 1);
    /* a wildcard port-0 binding needs the port free on every address */
    r.addr = tp_addr("0.0.0.0");
    assert_int_equal(ep_pool_bind(p, &r, 0, &id, &port), EP_EADDRNOTAVAIL);
    r.addr = tp_addr(L2);
    assert_int_equal(ep_pool_bind(p, &r, 0, &id, NULL), 0); /* port_out may be NULL */
    tp_check(p);
    ep_pool_free(p);
}

static void no_port_binding(void **state)
{
    ep_pool *p = bpool(1000, 1000);
    ep_bind_req r = { .proto = EP_PROTO_TCP, .addr = tp_addr(L1), .port = 0,
                      .flags = EP_BIND_NO_PORT };
    ep_bind_id a, b;
    uint16_t port = 9;
    (void)state;
    assert_int_equal(ep_pool_bind(p, &r, 0, &a, &port), 0);
    assert_int_equal(port, 0);
    assert_int_equal(ep_pool_bind(p, &r, 0, &b, &port), 0);
    assert_int_equal(tp_stats(p, 0).binds, 0);
    assert_int_equal(ep_pool_listen(p, a), EP_EINVAL);
    /* two deferred bindings share the one port towards two destinations */
    ep_tuple t1 = tp_tuple(EP_PROTO_UDP, NULL, R1, 80), t2 = tp_tuple(EP_PROTO_UDP, NULL, R2, 80);
    t1.local_port = 4242; /* outputs: overwritten */
    assert_int_equal(ep_pool_connect_bound(p, a, &t1, 0), 0);
    assert_int_equal(ep_pool_connect_bound(p, b, &t2, 0), 0);
    assert_int_equal(t1.proto, EP_PROTO_TCP);
    assert_int_equal(t1.local_port, 1000);
    assert_int_equal(t2.local_port, 1000);
    ep_addr l1 = tp_addr(L1);
    assert_true(ep_addr_equal(&t1.local, &l1));
    /* the bindings ended: their ids are gone */
    assert_int_equal(ep_pool_unbind(p, a, 0), EP_ENOENT);
    assert_int_equal(ep_pool_connect_bound(p, a, &t1, 0), EP_ENOENT);
    assert_int_equal(ep_pool_listen(p, b), EP_ENOENT);
    ep_pool_stats st = tp_stats(p, 0);
    assert_int_equal(st.in_use, 2);
    assert_int_equal(st.binds, 0);
    /* full towards R1: a third deferred connect there fails */
    assert_int_equal(ep_pool_bind(p, &r, 0, &a, NULL), 0);
    ep_tuple t3 = tp_tuple(EP_PROTO_TCP, NULL, R1, 80);
    assert_int_equal(ep_pool_connect_bound(p, a, &t3, 0), EP_EADDRNOTAVAIL);
    assert_int_equal(ep_pool_unbind(p, a, 0), 0); /* still a binding */
    /* a wildcard deferred binding picks an address of the family */
    r.addr = tp_addr("0.0.0.0");
    assert_int_equal(ep_pool_bind(p, &r, 0, &a, NULL), 0);
    assert_int_equal(ep_pool_connect_bound(p, a, &t3, 0), 0);
    ep_addr l2 = tp_addr(L2);
    assert_true(ep_addr_equal(&t3.local, &l2));
    /* NO_PORT with an explicit port is an ordinary explicit binding */
    r.addr = tp_addr(L1);
    r.port = 2000;
    assert_int_equal(ep_pool_bind(p, &r, 0, &a, &port), 0);
    assert_int_equal(port, 2000);
    assert_int_equal(tp_stats(p, 0).binds, 1);
    assert_int_equal(ep_pool_close(p, &t1, EP_CLOSE_PASSIVE, 0), 0);
    tp_check(p);
    ep_pool_free(p);
}

static void explicit_bind_then_connect(void **state)
{
    ep_pool *p = bpool(1000, 1000);
    ep_bind_id a, b;
    ep_tuple t;
    (void)state;
    /* the 4-tuple (L1:1000, R1:80) is taken by a connect */
    t = tp_tuple(EP_PROTO_TCP, L1, R1, 80);
    assert_int_equal(ep_pool_connect(p, &t, 0, 0), 0);
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1000, EP_BIND_REUSEADDR, 3, &a), 0);
    ep_tuple c1 = tp_tuple(0, NULL, R1, 80);
    assert_int_equal(ep_pool_connect_bound(p, a, &c1, 0), EP_EADDRNOTAVAIL);
    assert_int_equal(tp_dstats(p, &t, 0).failures, 1);
    ep_tuple c2 = tp_tuple(0, NULL, R2, 80);
    assert_int_equal(ep_pool_connect_bound(p, a, &c2, 0), 0);
    assert_int_equal(c2.local_port, 1000);
    assert_int_equal(c2.proto, EP_PROTO_TCP);
    assert_int_equal(ep_pool_unbind(p, a, 0), EP_ENOENT); /* now the connection */
    ep_pool_stats st = tp_stats(p, 0);
    assert_int_equal(st.binds, 1);
    assert_int_equal(st.in_use, 2);
    tp_check(p);
    /* the binding holds the port until the connection closes */
    assert_int_equal(bind1(p, EP_PROTO_TCP, L1, 1000, 0, 0, NULL), EP_EADDRINUSE);
    assert_int_equal(ep_pool_close(p, &c2, EP_CLOSE_ACTIVE, 0), 0);
    st = tp_stats(p, 0);
    assert_int_equal(st.binds, 0);
    assert_int_equal(st.time_wait, 1);
    assert_int_equal(ep_pool_close(p, &c2, EP_CLOSE_ACTIVE, 0), EP_EALREADY);
    /* TIME_WAIT only blocks that destination */
    ep_tuple o = tp_tuple(EP_PROTO_TCP, L1, "198.51.100.3", 80);
    assert_int_equal(ep_pool_connect(p, &o, 0, 0), 0);
    tp_check(p);
    /* a wildcard explicit binding connects from an address where the tuple is free */
    assert_int_equal(bind1(p, EP_PROTO_TCP, "0.0.0.0", 1000, EP_BIND_REUSEADDR, 0, &b), 0);
    ep_tuple c3 = tp_tuple(0, NULL, R1, 80);
    assert_int_equal(ep_pool_connect_bound(p, b, &c3, 0), 0);
    ep_addr l2 = tp_addr(L2);
    assert_true(ep_addr_equal(&c3.local, &l2));
    tp_check(p);
    ep_pool_free(p);
}

static void bind_errors(void **state)
{
    ep_pool *p = bpool(1000, 1999);
    ep_bind_req r = { .proto = EP_PROTO_TCP, .addr = tp_addr(L1), .port = 1500 };
    ep_bind_id id, old;
    ep_tuple t = tp_tuple(0, NULL, R1, 80);
    (void)state;
    assert_int_equal(ep_pool_bind(NULL, &r, 0, &id, NULL), EP_EINVAL);
    assert_int_equal(ep_pool_bind(p, NULL, 0, &id, NULL), EP_EINVAL);
    assert_int_equal(ep_pool_bind(p, &r, 0, NULL, NULL), EP_EINVAL);
    r.proto = 3;
    assert_int_equal(ep_pool_bind(p, &r, 0, &id, NULL), EP_EINVAL);
    r.proto = EP_PROTO_TCP;
    r.flags = 1u << 7;
    assert_int_equal(ep_pool_bind(p, &r, 0, &id, NULL), EP_EINVAL);
    r.flags = 0;
    memset(&r.addr, 0, sizeof r.addr);
    assert_int_equal(ep_pool_bind(p, &r, 0, &id, NULL), EP_EINVAL);
    r.addr = tp_addr("192.0.2.200");
    assert_int_equal(ep_pool_bind(p, &r, 0, &id, NULL), EP_ENOENT);
    assert_int_equal(tp_stats(p, 0).binds, 0);
    assert_int_equal(tp_stats(p, 0).failures[EP_FAIL_INVALID], 6); /* NULL pool: nothing to count in */
    r.addr = tp_addr(L1);
    assert_int_equal(ep_pool_bind(p, &r, 0, &old, NULL), 0);
    assert_int_not_equal(old, 0);
    /* listen / unbind / connect_bound errors */
    assert_int_equal(ep_pool_listen(NULL, old), EP_EINVAL);
    assert_int_equal(ep_pool_listen(p, 0), EP_ENOENT);
    assert_int_equal(ep_pool_listen(p, old + 1000), EP_ENOENT);
    assert_int_equal(ep_pool_unbind(NULL, old, 0), EP_EINVAL);
    assert_int_equal(ep_pool_unbind(p, 0, 0), EP_ENOENT);
    assert_int_equal(ep_pool_connect_bound(NULL, old, &t, 0), EP_EINVAL);
    assert_int_equal(ep_pool_connect_bound(p, old, NULL, 0), EP_EINVAL);
    assert_int_equal(ep_pool_connect_bound(p, 12345, &t, 0), EP_ENOENT);
    t = tp_tuple(0, NULL, "2001:db8::5", 80); /* family mismatch */
    assert_int_equal(ep_pool_connect_bound(p, old, &t, 0), EP_EINVAL);
    t = tp_tuple(0, NULL, "0.0.0.0", 80);
    assert_int_equal(ep_pool_connect_bound(p, old, &t, 0), EP_EINVAL);
    t = tp_tuple(0, NULL, R1, 0);
    assert_int_equal(ep_pool_connect_bound(p, old, &t, 0), EP_EINVAL);
    r.proto = EP_PROTO_UDP;
    assert_int_equal(ep_pool_bind(p, &r, 0, &id, NULL), 0);
    assert_int_equal(ep_pool_listen(p, id), EP_ENOTSUP);
    /* a released id never comes back, even when its slot is reused */
    assert_int_equal(ep_pool_unbind(p, old, 0), 0);
    assert_int_equal(ep_pool_unbind(p, old, 0), EP_ENOENT);
    r.proto = EP_PROTO_TCP;
    assert_int_equal(ep_pool_bind(p, &r, 0, &id, NULL), 0);
    assert_int_not_equal(id, old);
    assert_int_equal(ep_pool_unbind(p, old, 0), EP_ENOENT);
    assert_int_equal(ep_pool_listen(p, old), EP_ENOENT);
    assert_int_equal(tp_stats(p, 0).releases, 1);
    tp_check(p);
    ep_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(overlap_rule),
        cmocka_unit_test(reuseaddr_rule),
        cmocka_unit_test(reuseport_rule),
        cmocka_unit_test(bindings_against_tuples),
        cmocka_unit_test(bound_ports_block_connect),
        cmocka_unit_test(port_zero),
        cmocka_unit_test(no_port_binding),
        cmocka_unit_test(explicit_bind_then_connect),
        cmocka_unit_test(bind_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
