/* pg-util.h - a private PostgreSQL server for the NAT log tests: a fresh
 * data directory under /tmp owned by the `postgres` user (the server
 * refuses to run as root), listening only on a Unix socket in a private
 * directory (no TCP at all), stopped and removed at the end. */
#ifndef EP_TEST_PG_UTIL_H
#define EP_TEST_PG_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#define EP_TEST_PG_BIN "/usr/lib/postgresql/15/bin"

typedef struct ep_test_pg {
    char dir[64];      /* the temporary directory: data/, sock/, server.log */
    char uri[256];     /* postgresql:///DB?host=SOCK&user=postgres */
    bool running;
} ep_test_pg;

/* Can this process run a server?  false with the reason in why (not root,
 * no PostgreSQL 15 binaries, no `postgres` user). */
bool ep_test_pg_possible(char *why, size_t len);

/* initdb, start, create database `db`: 0, or -1 with the reason in why
 * (the directory is removed again). */
int ep_test_pg_start(ep_test_pg *pg, const char *db, char *why, size_t len);
/* pg_ctl stop -m MODE ("fast", "immediate"): 0 or -1. */
int ep_test_pg_stop(ep_test_pg *pg, const char *mode);
/* Start the stopped server again (same data): 0 or -1. */
int ep_test_pg_restart(ep_test_pg *pg);
/* Stop (fast) if running and remove the directory. */
void ep_test_pg_remove(ep_test_pg *pg);

/* Run `sql` in the test database with psql (as postgres): 0 or -1. */
int ep_test_pg_sql(const ep_test_pg *pg, const char *sql);

#endif
