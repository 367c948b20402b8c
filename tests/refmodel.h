/* refmodel.h - a deliberately simple reference model of an ep_pool, for the
 * differential test (test-differential.c).
 *
 * The model is written from the documented semantics of ephport/pool.h and
 * docs/ENGINE.md, with plain arrays and linear scans and no cleverness, so
 * that it is easy to believe.  It does not choose ports itself (except that
 * it can predict EP_ALG_SEQUENTIAL's choice): for every automatic choice it
 * checks that the engine's port is one the model considers valid, and then
 * adopts it, so the model and the engine stay in lockstep.
 *
 * Every rm_* call mirrors the ep_pool_* call of the same name and returns the
 * result code the model expects.  Calls that choose a port take the engine's
 * answer (`pick`); if the model expects success but the engine's choice is
 * not acceptable, the call returns RM_BADPICK and sets rm_model.why.
 */
#ifndef EP_TEST_REFMODEL_H
#define EP_TEST_REFMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ephport/ephport.h>

#define RM_BADPICK 1000   /* not an errno: the engine chose an invalid port */

#define RM_MAX_ADDRS    8
#define RM_MAX_ENTRIES  4096
#define RM_MAX_BINDS    512
#define RM_MAX_DESTS    512
#define RM_MAX_OWNERS   16

enum rm_state { RM_INUSE = 1, RM_TIMEWAIT, RM_QUARANTINE };

typedef struct rm_entry {
    ep_tuple t;
    int state;
    ep_time closed_at;      /* TIME_WAIT / quarantine start */
    ep_time expires;        /* TIME_WAIT / quarantine end */
    uint32_t owner;
    ep_bind_id bind_id;     /* the binding it came from (connect_bound), or 0 */
} rm_entry;

typedef struct rm_binding {
    ep_bind_id id;
    uint8_t proto;
    ep_addr addr;
    uint16_t port;          /* 0 while a NO_PORT binding is deferred */
    unsigned flags;
    uint32_t owner;
    bool listening;
    bool connected;         /* became a connection (connect_bound) */
} rm_binding;

/* Per-destination history that outlives its entries. */
typedef struct rm_dest {
    uint8_t proto;
    ep_addr local, remote;
    uint16_t remote_port;
    uint32_t high_water;
    uint64_t failures;
} rm_dest;

typedef struct rm_model {
    ep_pool_config cfg;
    ep_portset reserved;
    ep_addr addrs[RM_MAX_ADDRS];
    size_t naddrs;
    rm_entry entries[RM_MAX_ENTRIES];
    size_t nentries;
    rm_binding binds[RM_MAX_BINDS];
    size_t nbinds;
    rm_dest dests[RM_MAX_DESTS];
    size_t ndests;
    struct { uint32_t owner, cap; } quotas[RM_MAX_OWNERS];
    size_t nquotas;
    ep_time now;            /* largest time seen */
    uint32_t seq_next;      /* EP_ALG_SEQUENTIAL: the effective index (the
                               range without reserved ports, in order) after
                               the last port chosen; starts at 0 */
    uint64_t allocations, releases;
    uint64_t failures[EP_FAIL__COUNT];
    char why[256];          /* explanation of the last RM_BADPICK */
} rm_model;

/* Initialise from a config that ep_pool_new() accepted. */
void rm_init(rm_model *m, const ep_pool_config *cfg);

int rm_add_address(rm_model *m, const ep_addr *a);
int rm_set_reserved(rm_model *m, const char *text);
int rm_set_owner_quota(rm_model *m, uint32_t owner, uint32_t cap);

/* t is the request; pick the engine's result tuple (used only on success). */
int rm_connect(rm_model *m, const ep_tuple *t, uint32_t owner, ep_time now, const ep_tuple *pick);
int rm_close(rm_model *m, const ep_tuple *t, ep_close_how how, ep_time now);
/* id/port: the engine's answer (used only on success). */
int rm_bind(rm_model *m, const ep_bind_req *req, ep_time now, ep_bind_id id, uint16_t port);
int rm_listen(rm_model *m, ep_bind_id id);
int rm_unbind(rm_model *m, ep_bind_id id, ep_time now);
int rm_connect_bound(rm_model *m, ep_bind_id id, const ep_tuple *t, ep_time now,
                     const ep_tuple *pick);
void rm_advance(rm_model *m, ep_time now);

/* The statistics the engine must report (same meaning as ep_pool_stats_get,
 * ep_pool_dest_stats).  rm_dest_stats returns -ENOENT for an unknown local. */
void rm_stats(rm_model *m, ep_time now, ep_pool_stats *out);
int rm_dest_stats(rm_model *m, const ep_tuple *t, ep_time now, ep_dest_stats *out);

#endif
