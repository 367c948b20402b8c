/* bind.h - bind-style allocation and the reuse rules.  Private. */
#ifndef EP_BIND_H
#define EP_BIND_H

#include "pool-t.h"
#include "sockrules.h"

/* A binding as a socket, for the rules of sockrules.h. */
ep_sock_view ep_bind_view(const ep_binding *b);

int ep_binds_init(ep_pool *pool);
void ep_binds_destroy(ep_pool *pool);

int ep_bind_do(ep_pool *pool, const ep_bind_req *req, ep_bind_id *id, uint16_t *port_out);
int ep_bind_listen_do(ep_pool *pool, ep_bind_id id);
int ep_bind_unbind_do(ep_pool *pool, ep_bind_id id);
/* t->remote and t->remote_port are validated canonical inputs. */
int ep_bind_connect_do(ep_pool *pool, ep_bind_id id, ep_tuple *t);

/* The connection of a connected binding was closed: end the binding. */
void ep_bind_end(ep_pool *pool, uint32_t bidx);
/* A local address was added: apply its family's wildcard bindings to it. */
void ep_bind_new_address(ep_pool *pool, uint32_t lidx);

#endif
