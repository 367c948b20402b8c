/* nat.h - private to the `ephport nat` command: its subcommands (one file
 * each: nat-plan.c, nat-whois.c, nat-log.c) and the option parsing they
 * share (nat.c). */
#ifndef EP_CLI_NAT_H
#define EP_CLI_NAT_H

#include <stdbool.h>
#include <stdint.h>

#include <ephport/natlog.h>

int ep_nat_cmd_plan(int argc, char **argv);
int ep_nat_cmd_whois(int argc, char **argv);
int ep_nat_cmd_log(int argc, char **argv);
/* `ephport nat log simulate ...` (nat-simulate.c); argv[0] is "log". */
int ep_nat_log_simulate(int argc, char **argv);

/* Parse a time option (RFC 3339 UTC or Unix seconds); prints the error. */
bool ep_nat_cli_time(const char *cmd, const char *opt, const char *text, int64_t *out);

/* --ports LO-HI, --ratio N, --block-size N into cfg; prints the error. */
bool ep_nat_cli_ports(const char *cmd, const char *text, ep_nat_config *cfg);
bool ep_nat_cli_u32(const char *cmd, const char *opt, const char *text, uint32_t max,
                    uint32_t *out);

/* Build a plan from cfg, printing "ephport CMD: <reason>" on failure;
 * *exit_code then gets EP_EXIT_USAGE when the options describe no plan (a
 * bad CIDR, a plan that does not fit), else EP_EXIT_FAILURE. */
ep_nat_plan *ep_nat_cli_plan_new(const char *cmd, const ep_nat_config *cfg, int *exit_code);

/* "ADDR:PORT" or "[V6]:PORT" -> addr + port (true, *has_port); a bare
 * address -> *has_port false.  Prints the error. */
bool ep_nat_cli_endpoint(const char *cmd, const char *text, ep_addr *addr, uint16_t *port,
                         bool *has_port);

/* Current UTC time in seconds. */
int64_t ep_nat_cli_now(void);

#endif
