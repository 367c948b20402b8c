/* wlopts.c - workload keys as command-line flags.
 *
 * The option table is built from ep_workload_keys at run time, so a key added
 * to workload.c is at once a config key, a flag of `simulate` and of `plan`,
 * and a line of their --help.  Flags are collected first and applied after
 * the config file, so they override it wherever they appear.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wlopts.h"

int ep_wlopt_parse(int argc, char **argv, const struct option *fixed, size_t nfixed,
                   ep_wlopt_fn on_fixed, void *ctx, ep_wlopt_args *out, char *msg, size_t len)
{
    static char hyphen[64][40];
    struct option *opts;
    size_t n = 0;
    int c, rc = -1;

    memset(out, 0, sizeof *out);
    if (ep_workload_nkeys > 64)
        return 1;
    opts = calloc(nfixed + 2 * ep_workload_nkeys + 2, sizeof *opts);
    out->kv = calloc((size_t)argc + 1, sizeof *out->kv);
    if (!opts || !out->kv) {
        free(opts);
        snprintf(msg, len, "out of memory");
        return 1;
    }
    for (size_t i = 0; i < nfixed; i++)
        opts[n++] = fixed[i];
    opts[n++] = (struct option){ "config", required_argument, NULL, EP_WLOPT_CONFIG };
    for (size_t i = 0; i < ep_workload_nkeys; i++) {
        const char *name = ep_workload_keys[i].name;
        opts[n++] = (struct option){ name, required_argument, NULL, EP_WLOPT_KEY + (int)i };
        if (strchr(name, '_')) {
            snprintf(hyphen[i], sizeof hyphen[i], "%s", name);
            for (char *p = hyphen[i]; *p; p++)
                if (*p == '_')
                    *p = '-';
            opts[n++] = (struct option){ hyphen[i], required_argument, NULL,
                                         EP_WLOPT_KEY + (int)i };
        }
    }
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c >= EP_WLOPT_KEY && c < EP_WLOPT_KEY + (int)ep_workload_nkeys) {
            out->kv[out->nkv].key = ep_workload_keys[c - EP_WLOPT_KEY].name;
            out->kv[out->nkv++].value = optarg;
        } else if (c == EP_WLOPT_CONFIG) {
            out->config = optarg;
        } else if ((rc = on_fixed(c, optarg, ctx)) >= 0) {
            break;
        }
    }
    free(opts);
    if (rc < 0 && optind < argc) {
        snprintf(msg, len, "unexpected argument '%s'", argv[optind]);
        rc = 2;
    }
    return rc;
}

void ep_wlopt_args_free(ep_wlopt_args *a)
{
    free(a->kv);
    memset(a, 0, sizeof *a);
}

int ep_wlopt_workload(const ep_wlopt_args *a, ep_workload *w, char *msg, size_t len)
{
    char m[EP_WL_MSG];
    int rc;
    ep_workload_init(w);
    if (a->config && (rc = ep_workload_load(w, a->config, msg, len)) != 0)
        return rc == -ENOMEM ? rc : -EINVAL;
    for (size_t i = 0; i < a->nkv; i++) {
        if ((rc = ep_workload_set(w, a->kv[i].key, a->kv[i].value, m, sizeof m)) != 0) {
            snprintf(msg, len, "--%s: %s", a->kv[i].key, m);
            return rc;
        }
    }
    return ep_workload_check(w, msg, len);
}

void ep_wlopt_help(FILE *f)
{
    fprintf(f, "Workload keys (config file 'key = value', or flags --key VALUE):\n");
    for (size_t i = 0; i < ep_workload_nkeys; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s %s", ep_workload_keys[i].name, ep_workload_keys[i].arg);
        fprintf(f, "  %-28s %s\n", flag, ep_workload_keys[i].help);
    }
}
