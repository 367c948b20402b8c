/* status-node.h - `status --all-namespaces`: the node view status.c and
 * check.c share (status-node.c). */
#ifndef EP_CLI_STATUS_NODE_H
#define EP_CLI_STATUS_NODE_H

#include <stdbool.h>

#include <ephport/node.h>

/* Print the node as text (colour as given). */
void ep_status_node_print(const ep_host_node *node, bool color);

#endif
