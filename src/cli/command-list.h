/* command-list.h - the table of contents of the `ephport` command: one line
 * per subcommand, expanded by main.c (dispatch, help) and cli.h
 * (declarations).  Add a line here when a src/cli/<name>.c lands. */
EP_COMMAND(profiles, "list the ephemeral port ranges and TIME_WAIT defaults of each OS")
EP_COMMAND(exec, "run a program whose sockets take ephemeral ports only from a given range")
