/* snat-proc.c - the /proc fallback of the SNAT view: one line of
 * /proc/net/nf_conntrack (CONFIG_NF_CONNTRACK_PROCFS) and the per-CPU table
 * of /proc/net/stat/nf_conntrack.  Used when ctnetlink cannot be (no
 * CONFIG_NF_CT_NETLINK, a seccomp filter, EP_SNAT_SOURCE_PROC).  The text
 * has no status word, so a translated source is recognised by the tuples
 * alone.  Both parsers are fuzz targets (fuzz/fuzz-host-snat-proc.c).
 *
 *   ipv4     2 tcp      6 117 ESTABLISHED src=10.0.0.2 dst=10.0.1.2
 *   sport=5000 dport=80 src=10.0.1.2 dst=10.0.0.1 sport=80 dport=40001
 *   [ASSURED] mark=0 zone=0 use=2                       (one line) */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snat-internal.h"

static const char *const ep_ct_tcp_names[] = {
    "NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
    "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
};

static int ep_parse_u16(const char *s, uint16_t *out)
{
    char *end;
    unsigned long v;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (*end || errno || v > 65535)
        return -EINVAL;
    *out = (uint16_t)v;
    return 0;
}

int ep_snat_proc_line(const char *line, ep_snat_flow *f)
{
    char buf[1024], *save = NULL, *tok;
    int field = 0, srcs = 0, dsts = 0, sports = 0, dports = 0;
    size_t n = strlen(line);
    memset(f, 0, sizeof *f);
    if (n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, line, n + 1);
    for (tok = strtok_r(buf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save), field++) {
        char *eq = strchr(tok, '=');
        if (field == 0) {
            if (strcmp(tok, "ipv4") != 0 && strcmp(tok, "ipv6") != 0)
                return -EINVAL;
            continue;
        }
        if (field == 3) { /* protocol number */
            uint16_t p;
            if (ep_parse_u16(tok, &p) < 0 || p > 255)
                return -EINVAL;
            f->proto = (uint8_t)p;
            continue;
        }
        if (field < 5)
            continue; /* family number, protocol name, timeout */
        if (!eq) {
            if (srcs == 0 && f->proto == 6)
                for (size_t i = 0; i < sizeof ep_ct_tcp_names / sizeof *ep_ct_tcp_names; i++)
                    if (strcmp(tok, ep_ct_tcp_names[i]) == 0)
                        f->tcp_state = (uint8_t)i;
            continue; /* [ASSURED], [UNREPLIED], the state */
        }
        *eq = '\0';
        if (strcmp(tok, "src") == 0 || strcmp(tok, "dst") == 0) {
            bool src = tok[0] == 's';
            int *k = src ? &srcs : &dsts;
            ep_addr *a;
            if (*k >= 2)
                return -EINVAL;
            a = *k == 0 ? (src ? &f->osrc : &f->odst) : (src ? &f->rsrc : &f->rdst);
            if (ep_addr_parse(eq + 1, a) < 0)
                return -EINVAL;
            (*k)++;
        } else if (strcmp(tok, "sport") == 0 || strcmp(tok, "dport") == 0) {
            bool s = tok[0] == 's';
            int *k = s ? &sports : &dports;
            uint16_t *p;
            if (*k >= 2)
                return -EINVAL;
            p = *k == 0 ? (s ? &f->osport : &f->odport) : (s ? &f->rsport : &f->rdport);
            if (ep_parse_u16(eq + 1, p) < 0)
                return -EINVAL;
            (*k)++;
        } else if (strcmp(tok, "zone") == 0) {
            if (ep_parse_u16(eq + 1, &f->zone) < 0)
                return -EINVAL;
        }
    }
    if (field < 5 || srcs != 2 || dsts != 2)
        return -EINVAL;
    if (f->osrc.family != f->odst.family || f->rsrc.family != f->rdst.family)
        return -EINVAL;
    /* ICMP and other protocols have no ports: ids are not ports. */
    if (sports != dports || (sports != 0 && sports != 2))
        return -EINVAL;
    return 0;
}

int ep_snat_proc_stats(const char *text, ep_snat_stats *st)
{
    static const struct { const char *name; size_t off; } cols[] = {
        { "found", offsetof(ep_snat_stats, found) },
        { "invalid", offsetof(ep_snat_stats, invalid) },
        { "insert", offsetof(ep_snat_stats, insert) },
        { "insert_failed", offsetof(ep_snat_stats, insert_failed) },
        { "drop", offsetof(ep_snat_stats, drop) },
        { "early_drop", offsetof(ep_snat_stats, early_drop) },
        { "error", offsetof(ep_snat_stats, error) },
        { "icmp_error", offsetof(ep_snat_stats, error) },
        { "search_restart", offsetof(ep_snat_stats, search_restart) },
        { "clash_resolve", offsetof(ep_snat_stats, clash_resolve) },
        { "clashres", offsetof(ep_snat_stats, clash_resolve) },
        { "chaintoolong", offsetof(ep_snat_stats, chain_toolong) },
        { "chainlength", offsetof(ep_snat_stats, chain_toolong) },
    };
    int map[64];
    int ncols = 0, ncpu = 0;
    const char *p = text, *eol;
    char line[1024];
    size_t n;

    eol = strchr(p, '\n');
    if (!eol)
        return -EINVAL;
    n = (size_t)(eol - p);
    if (n >= sizeof line)
        return -EINVAL;
    memcpy(line, p, n);
    line[n] = '\0';
    {
        char *save = NULL;
        for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
            if (ncols == 64)
                return -EINVAL;
            map[ncols] = -1;
            for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
                if (strcmp(t, cols[i].name) == 0)
                    map[ncols] = (int)i;
            ncols++;
        }
    }
    if (ncols == 0)
        return -EINVAL;
    for (p = eol + 1; *p; p = eol + 1) {
        char *save = NULL;
        int c = 0;
        int64_t vals[64];
        eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        n = (size_t)(eol - p);
        if (n >= sizeof line)
            return -EINVAL;
        memcpy(line, p, n);
        line[n] = '\0';
        for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
            char *end;
            unsigned long long v;
            if (c == ncols || !((*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'f')))
                return -EINVAL;
            errno = 0;
            v = strtoull(t, &end, 16);
            if (*end || errno || v > UINT32_MAX)
                return -EINVAL;
            vals[c++] = (int64_t)v;
        }
        if (c == 0 && !*eol)
            break;
        if (c != ncols)
            return -EINVAL;
        for (int i = 0; i < ncols; i++) {
            int64_t *field;
            if (map[i] < 0)
                continue;
            field = (int64_t *)((char *)st + cols[map[i]].off);
            if (*field < 0)
                *field = 0;
            *field += vals[i];
        }
        ncpu++;
        if (!*eol)
            break;
    }
    if (ncpu == 0)
        return -EINVAL;
    st->ncpu = ncpu;
    return 0;
}
