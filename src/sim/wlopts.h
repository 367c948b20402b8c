/* wlopts.h - the workload keys as command-line flags, shared by
 * `ephport simulate` and `ephport plan`.  Private to src/sim. */
#ifndef EP_SIM_WLOPTS_H
#define EP_SIM_WLOPTS_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "workload.h"

enum {
    EP_WLOPT_CONFIG = 1000,   /* --config FILE, handled here */
    EP_WLOPT_KEY = 2000,      /* + index into ep_workload_keys */
};

typedef struct ep_kv {
    const char *key, *value;
} ep_kv;

/* A command's own option: called with its getopt value and argument;
 * returns -1 to go on, or an exit code to stop parsing with. */
typedef int (*ep_wlopt_fn)(int opt, const char *arg, void *ctx);

typedef struct ep_wlopt_args {
    const char *config;   /* --config FILE or NULL */
    ep_kv *kv;            /* workload flags in command-line order (owned) */
    size_t nkv;
} ep_wlopt_args;

/* getopt_long over argv with `fixed` plus --config plus every workload key
 * (as --key and, for keys with '_', --key-with-hyphens).  Returns -1 when
 * parsing finished and the command should run, or the exit code on_fixed
 * returned; 2 with msg set for a stray argument, 1 when out of memory. */
int ep_wlopt_parse(int argc, char **argv, const struct option *fixed, size_t nfixed,
                   ep_wlopt_fn on_fixed, void *ctx, ep_wlopt_args *out, char *msg, size_t len);
void ep_wlopt_args_free(ep_wlopt_args *a);

/* Defaults, then the config file, then the flags; then ep_workload_check.
 * 0 or -EINVAL/-ENOMEM with msg (w must be freed either way). */
int ep_wlopt_workload(const ep_wlopt_args *a, ep_workload *w, char *msg, size_t len);

/* The "Workload keys" section of --help. */
void ep_wlopt_help(FILE *f);

#endif
