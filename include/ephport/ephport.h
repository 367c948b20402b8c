/* ephport/ephport.h - the umbrella header of libephport.
 *
 *   ephport/error.h    negative-errno error codes, ep_strerror()
 *   ephport/addr.h     IPv4/IPv6 address values
 *   ephport/portset.h  port range and reserved-port text, port sets
 *   ephport/profile.h  OS profiles (ranges, TIME_WAIT)
 *   ephport/pool.h     the allocation engine
 *   ephport/capacity.h TIME_WAIT as Linux keeps it, tw_reuse, sustainable rate, Erlang B
 *   ephport/nat.h      CGNAT port blocks, plans, nftables, mapping logs
 *   ephport/host.h     reading a live Linux host's ephemeral ports
 */
#ifndef EPHPORT_EPHPORT_H
#define EPHPORT_EPHPORT_H

#include <ephport/error.h>
#include <ephport/addr.h>
#include <ephport/portset.h>
#include <ephport/profile.h>
#include <ephport/pool.h>
#include <ephport/capacity.h>
#include <ephport/nat.h>
#include <ephport/host.h>
#include <ephport/trace.h>

#endif
