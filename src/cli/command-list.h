/* command-list.h - the table of contents of the `ephport` command: one line
 * per subcommand, expanded by main.c (dispatch, help) and cli.h
 * (declarations).  Add a line here when a src/cli/<name>.c lands. */
EP_COMMAND(status, "show the ephemeral ports of this host per destination, with advice")
EP_COMMAND(check, "monitoring-plugin check of the destination under most port pressure")
EP_COMMAND(top, "live per-destination view with connection rates and time to exhaustion")
EP_COMMAND(advise, "how to inspect and change port range and TIME_WAIT settings, per OS")
EP_COMMAND(profiles, "list the ephemeral port ranges and TIME_WAIT defaults of each OS")
EP_COMMAND(exec, "run a program whose sockets take ephemeral ports only from a given range")
EP_COMMAND(nat, "CGNAT port blocks: deterministic plans, nftables, whois, port-block logs")
EP_COMMAND(snat, "source NAT ports per NAT address and destination, from conntrack, with advice")
EP_COMMAND(exporter, "serve Prometheus metrics about ephemeral ports over HTTP")
EP_COMMAND(simulate, "run a workload through the engine in virtual time: when do ports run out")
EP_COMMAND(plan, "ports needed per destination, highest sustainable rate, what to change")
EP_COMMAND(trace, "who fails to get a port (EADDRNOTAVAIL, EAGAIN, EADDRINUSE), towards where (eBPF)")
