/* snat-nft.c - the port ranges source NAT may use, from the nftables
 * ruleset: `nft -j list ruleset` (JSON schema 1, parsed with jansson) run in
 * the namespace being read, and each `masquerade` / `snat` statement turned
 * into an ep_snat_rule.
 *
 * What nft writes (libnftables 1.0):
 *   {"masquerade": null}                         no range: kernel default
 *   {"masquerade": {"port": {"range": [40000, 40009]},
 *                   "flags": ["fully-random", "persistent"]}}
 *   {"snat": {"family": "ip", "addr": {"range": ["203.0.113.1", "203.0.113.2"]},
 *             "port": 5000, "flags": "random"}}
 * A port range needs a transport match in the same rule (nft refuses it
 * otherwise), so the protocol is taken from `ip protocol X`, `meta l4proto
 * X` (or a set of them) or a `tcp`/`udp` payload match before the
 * statement; a set of several protocols leaves proto 0 (either).
 * iptables-nft's MASQUERADE / SNAT targets appear as "xt" expressions whose
 * range nft does not print: they are not rules here, and the caller notes
 * it.  The parser is a fuzz target (fuzz/fuzz-host-snat-nft.c). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "snat-internal.h"

static uint8_t ep_nft_proto_name(const char *s)
{
    if (strcmp(s, "tcp") == 0)
        return 6;
    if (strcmp(s, "udp") == 0)
        return 17;
    if (strcmp(s, "sctp") == 0)
        return 132;
    if (strcmp(s, "dccp") == 0)
        return 33;
    if (strcmp(s, "udplite") == 0)
        return 136;
    return 0;
}

/* The protocol a match expression pins, 0 if none or several. */
static uint8_t ep_nft_match_proto(json_t *match)
{
    json_t *left = json_object_get(match, "left");
    json_t *right = json_object_get(match, "right");
    const char *op = json_string_value(json_object_get(match, "op"));
    json_t *meta = json_object_get(left, "meta");
    json_t *payload = json_object_get(left, "payload");
    bool proto_key = false;
    if (op && strcmp(op, "==") != 0 && strcmp(op, "in") != 0)
        return 0;
    if (meta && json_is_string(json_object_get(meta, "key")) &&
        strcmp(json_string_value(json_object_get(meta, "key")), "l4proto") == 0)
        proto_key = true;
    if (payload) {
        const char *proto = json_string_value(json_object_get(payload, "protocol"));
        const char *field = json_string_value(json_object_get(payload, "field"));
        if (proto && field && (strcmp(field, "protocol") == 0 || strcmp(field, "nexthdr") == 0))
            proto_key = true;
        else if (proto && ep_nft_proto_name(proto))
            return ep_nft_proto_name(proto); /* tcp dport 80 and the like */
    }
    if (!proto_key)
        return 0;
    if (json_is_string(right))
        return ep_nft_proto_name(json_string_value(right));
    if (json_is_integer(right) && json_integer_value(right) > 0 && json_integer_value(right) < 256)
        return (uint8_t)json_integer_value(right);
    if (json_is_object(right) && json_is_array(json_object_get(right, "set")) &&
        json_array_size(json_object_get(right, "set")) == 1) {
        json_t *one = json_array_get(json_object_get(right, "set"), 0);
        if (json_is_string(one))
            return ep_nft_proto_name(json_string_value(one));
    }
    return 0;
}

static bool ep_nft_port(json_t *v, uint16_t *out)
{
    json_int_t n;
    if (!json_is_integer(v))
        return false;
    n = json_integer_value(v);
    if (n < 0 || n > 65535)
        return false;
    *out = (uint16_t)n;
    return true;
}

/* The statement's body (masquerade/snat object).  -EINVAL on a malformed
 * port. */
static int ep_nft_statement(json_t *body, ep_snat_rule *r)
{
    json_t *port, *flags, *addr;
    if (!body || json_is_null(body))
        return 0;
    if (!json_is_object(body))
        return -EINVAL;
    port = json_object_get(body, "port");
    if (port) {
        json_t *range = json_object_get(port, "range");
        if (range) {
            if (!json_is_array(range) || json_array_size(range) != 2 ||
                !ep_nft_port(json_array_get(range, 0), &r->port_lo) ||
                !ep_nft_port(json_array_get(range, 1), &r->port_hi))
                return -EINVAL;
            if (r->port_lo > r->port_hi) {
                uint16_t t = r->port_lo;
                r->port_lo = r->port_hi;
                r->port_hi = t;
            }
        } else if (ep_nft_port(port, &r->port_lo)) {
            r->port_hi = r->port_lo;
        } else {
            return -EINVAL;
        }
        r->has_ports = true;
    }
    flags = json_object_get(body, "flags");
    if (flags) {
        size_t n = json_is_array(flags) ? json_array_size(flags) : 1;
        for (size_t i = 0; i < n; i++) {
            const char *f = json_string_value(json_is_array(flags) ? json_array_get(flags, i) : flags);
            if (!f)
                return -EINVAL;
            if (strcmp(f, "random") == 0)
                r->random = true;
            else if (strcmp(f, "fully-random") == 0)
                r->fully_random = true;
            else if (strcmp(f, "persistent") == 0)
                r->persistent = true;
        }
    }
    addr = json_object_get(body, "addr");
    if (addr) {
        json_t *range = json_object_get(addr, "range");
        if (json_is_string(addr) && ep_addr_parse(json_string_value(addr), &r->addr_lo) == 0) {
            r->addr_hi = r->addr_lo;
            r->has_addr = true;
        } else if (range && json_is_array(range) && json_array_size(range) == 2 &&
                   json_is_string(json_array_get(range, 0)) &&
                   json_is_string(json_array_get(range, 1)) &&
                   ep_addr_parse(json_string_value(json_array_get(range, 0)), &r->addr_lo) == 0 &&
                   ep_addr_parse(json_string_value(json_array_get(range, 1)), &r->addr_hi) == 0 &&
                   r->addr_lo.family == r->addr_hi.family) {
            r->has_addr = true;
        } else {
            r->addr_unknown = true; /* a map, a prefix, a variable */
        }
    }
    return 0;
}

static int ep_nft_family(const char *f, const char *stmt_family)
{
    if (stmt_family && strcmp(stmt_family, "ip") == 0)
        return AF_INET;
    if (stmt_family && strcmp(stmt_family, "ip6") == 0)
        return AF_INET6;
    if (f && strcmp(f, "ip") == 0)
        return AF_INET;
    if (f && strcmp(f, "ip6") == 0)
        return AF_INET6;
    return 0;
}

int ep_snat_parse_nft_json(const char *text, size_t len, ep_snat_rule **out, char *why,
                           size_t whylen)
{
    json_error_t err;
    json_t *root, *list;
    ep_snat_rule *rules = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    *out = NULL;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        snprintf(why, whylen, "not JSON: %s (line %d)", err.text, err.line);
        return -EINVAL;
    }
    list = json_object_get(root, "nftables");
    if (!json_is_array(list)) {
        snprintf(why, whylen, "no \"nftables\" array");
        json_decref(root);
        return -EINVAL;
    }
    for (size_t i = 0; i < json_array_size(list) && rc == 0; i++) {
        json_t *rule = json_object_get(json_array_get(list, i), "rule");
        json_t *expr = json_object_get(rule, "expr");
        uint8_t proto = 0;
        if (!rule)
            continue;
        if (!json_is_array(expr)) {
            snprintf(why, whylen, "a rule without an \"expr\" array");
            rc = -EINVAL;
            break;
        }
        for (size_t j = 0; j < json_array_size(expr); j++) {
            json_t *e = json_array_get(expr, j);
            json_t *m = json_object_get(e, "match");
            const char *kind = json_object_get(e, "masquerade") ? "masquerade"
                             : json_object_get(e, "snat")       ? "snat"
                                                                 : NULL;
            ep_snat_rule r;
            if (m) {
                uint8_t p = ep_nft_match_proto(m);
                if (p)
                    proto = p;
                continue;
            }
            if (!kind)
                continue;
            memset(&r, 0, sizeof r);
            snprintf(r.kind, sizeof r.kind, "%s", kind);
            r.proto = proto;
            if (ep_nft_statement(json_object_get(e, kind), &r) < 0) {
                snprintf(why, whylen, "a %s statement with a malformed port or flags", kind);
                rc = -EINVAL;
                break;
            }
            r.family = ep_nft_family(json_string_value(json_object_get(rule, "family")),
                                     json_string_value(json_object_get(json_object_get(e, kind),
                                                                       "family")));
            snprintf(r.where, sizeof r.where, "table %s %s chain %s handle %lld",
                     json_string_value(json_object_get(rule, "family")) ?: "?",
                     json_string_value(json_object_get(rule, "table")) ?: "?",
                     json_string_value(json_object_get(rule, "chain")) ?: "?",
                     (long long)json_integer_value(json_object_get(rule, "handle")));
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                ep_snat_rule *t = realloc(rules, nc * sizeof *t);
                if (!t) {
                    rc = -ENOMEM;
                    snprintf(why, whylen, "out of memory");
                    break;
                }
                rules = t;
                cap = nc;
            }
            rules[n++] = r;
        }
    }
    json_decref(root);
    if (rc < 0) {
        free(rules);
        return rc;
    }
    *out = rules;
    return (int)n;
}

int ep_snat_nft_run(char **out, size_t *len, char *why, size_t whylen)
{
    char *const argv[] = { "nft", "-j", "list", "ruleset", NULL };
    posix_spawn_file_actions_t fa;
    int p[2], status, rc = 0;
    pid_t pid;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int devnull;

    *out = NULL;
    *len = 0;
    if (pipe2(p, O_CLOEXEC) != 0) {
        rc = -errno;
        snprintf(why, whylen, "pipe: %s", strerror(-rc));
        return rc;
    }
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    if (devnull >= 0)
        posix_spawn_file_actions_adddup2(&fa, devnull, 2);
    rc = posix_spawnp(&pid, "nft", &fa, NULL, argv, NULL);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (devnull >= 0)
        close(devnull);
    if (rc != 0) {
        close(p[0]);
        snprintf(why, whylen, "cannot run nft: %s", strerror(rc));
        return -rc;
    }
    for (;;) {
        ssize_t got;
        if (n + 4096 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 65536;
            char *t = nc > (64u << 20) ? NULL : realloc(buf, nc);
            if (!t) {
                rc = -ENOMEM;
                break;
            }
            buf = t;
            cap = nc;
        }
        got = read(p[0], buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(p[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        free(buf);
        snprintf(why, whylen, "nft's output is too large");
        return rc;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(buf);
        snprintf(why, whylen, "`nft -j list ruleset` failed (exit %d; reading the ruleset needs "
                              "CAP_NET_ADMIN)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -EPERM;
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf)
            return -ENOMEM;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
