/* engine-connect.c - libephport alone (pkg-config ephport): a pool with
 * Linux's rules over a small range, connections towards one destination
 * until it runs out, then one close that puts a port into TIME_WAIT.
 * Prints what a proxy embedding the engine would see.  Exit 0 when every
 * step behaved as documented in ephport/pool.h. */
#include <stdio.h>

#include <ephport/ephport.h>

int main(void)
{
    ep_pool_config cfg;
    ep_pool *pool;
    ep_parse_error err;
    ep_tuple t = { .proto = EP_PROTO_TCP, .remote_port = 443 };
    ep_addr local;
    unsigned granted = 0;
    int rc;

    if (ep_pool_config_init(&cfg, "linux") != 0)
        return 1;
    cfg.lo = 40000;
    cfg.hi = 40009;                 /* ten ports */
    cfg.semantics = EP_SEM_LINUX;
    if (ep_pool_new(&cfg, &pool, &err) != 0) {
        fprintf(stderr, "engine-connect: %s\n", err.message);
        return 1;
    }
    if (ep_addr_parse("192.0.2.10", &local) != 0 || ep_pool_add_address(pool, &local) != 0 ||
        ep_addr_parse("198.51.100.1", &t.remote) != 0)
        return 1;
    for (;;) {
        ep_tuple c = t;
        rc = ep_pool_connect(pool, &c, 0, 0);
        if (rc != 0)
            break;
        granted++;
        if (granted == 1)
            t.local_port = c.local_port;   /* remember one to close */
    }
    printf("granted %u ports, then %s (%s)\n", granted, ep_err_name(rc), ep_strerror(rc));
    t.local = local;
    rc = ep_pool_close(pool, &t, EP_CLOSE_ACTIVE, 0);
    ep_pool_free(pool);
    return granted == 10 && rc == 0 ? 0 : 1;
}
