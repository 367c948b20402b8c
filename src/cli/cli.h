/* cli.h - what every `ephport` command shares: the command table entry type,
 * exit codes, colour policy and JSON printing. */
#ifndef EP_CLI_H
#define EP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes of every command (documented in doc/ephport.1.scd). */
enum {
    EP_EXIT_OK = 0,
    EP_EXIT_FAILURE = 1,   /* the command ran and failed */
    EP_EXIT_USAGE = 2,     /* bad command line */
    /* `ephport check` uses the monitoring-plugin codes 0-3 instead. */
};

typedef int (*ep_command_fn)(int argc, char **argv);

struct ep_command {
    const char *name;
    ep_command_fn run;
    const char *summary;
};

/* The command functions, one per file under src/cli/. */
#define EP_COMMAND(name, summary) int ep_cmd_##name(int argc, char **argv);
#include "command-list.h"
#undef EP_COMMAND

/* true when `f` is a terminal and NO_COLOR is unset or empty. */
bool ep_cli_use_color(FILE *f);

/* Print a JSON value on stdout followed by a newline; returns an exit code.
 * Takes ownership of `value`. */
int ep_cli_print_json(json_t *value);

/* "ephport CMD: message" on stderr. */
void ep_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a whole decimal number in [min, max]; false on anything else. */
bool ep_cli_parse_ulong(const char *text, unsigned long min, unsigned long max, unsigned long *out);

#endif
