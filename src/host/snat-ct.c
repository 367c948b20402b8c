/* snat-ct.c - the conntrack table and its statistics through ctnetlink
 * (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_CTNETLINK) with libmnl's
 * socket helpers.
 *
 * The dump asks the kernel to filter: CTA_STATUS + CTA_STATUS_MASK select
 * the entries whose IPS_SRC_NAT bit has the wanted value (a kernel that
 * does not know the filter sends everything; the caller checks the bit of
 * every entry anyway).  The statistics come from IPCTNL_MSG_CT_GET_STATS_CPU
 * (one message per CPU) and IPCTNL_MSG_CT_GET_STATS (count and max).
 *
 * The reply walks copy every header before reading it (no alignment
 * assumed) and check every length against what is left, because they are
 * fuzz targets (fuzz/fuzz-host-snat-ct.c): libmnl's own walks trust
 * nlmsg_len. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "snat-internal.h"

/* One attribute of a run [p, p + len): type, payload, its length; the
 * offset of the next.  false at the end or on a malformed attribute. */
typedef struct ep_nla {
    uint16_t type;
    const unsigned char *data;
    size_t len;
} ep_nla;

static int ep_nla_next(const unsigned char **p, size_t *left, ep_nla *a)
{
    struct nlattr h;
    size_t step;
    if (*left < sizeof h)
        return 0;
    memcpy(&h, *p, sizeof h);
    if (h.nla_len < sizeof h || h.nla_len > *left)
        return -1;
    a->type = h.nla_type & NLA_TYPE_MASK;
    a->data = *p + NLA_HDRLEN;
    a->len = h.nla_len - NLA_HDRLEN;
    step = NLA_ALIGN(h.nla_len);
    if (step >= *left) {
        *p += *left;
        *left = 0;
    } else {
        *p += step;
        *left -= step;
    }
    return 1;
}

static uint32_t ep_be32(const unsigned char *d)
{
    uint32_t v;
    memcpy(&v, d, 4);
    return ntohl(v);
}

static uint16_t ep_be16(const unsigned char *d)
{
    uint16_t v;
    memcpy(&v, d, 2);
    return ntohs(v);
}

/* CTA_TUPLE_ORIG / CTA_TUPLE_REPLY. */
static int ep_ct_tuple(const unsigned char *p, size_t len, ep_addr *src, ep_addr *dst,
                       uint16_t *sport, uint16_t *dport, uint8_t *proto, int *have)
{
    ep_nla a, b;
    int rc;
    while ((rc = ep_nla_next(&p, &len, &a)) == 1) {
        const unsigned char *q = a.data;
        size_t ql = a.len;
        if (a.type == CTA_TUPLE_IP) {
            while ((rc = ep_nla_next(&q, &ql, &b)) == 1) {
                if ((b.type == CTA_IP_V4_SRC || b.type == CTA_IP_V4_DST) && b.len == 4) {
                    ep_addr_from_bytes(AF_INET, b.data, b.type == CTA_IP_V4_SRC ? src : dst);
                    *have |= b.type == CTA_IP_V4_SRC ? 1 : 2;
                } else if ((b.type == CTA_IP_V6_SRC || b.type == CTA_IP_V6_DST) && b.len == 16) {
                    ep_addr_from_bytes(AF_INET6, b.data, b.type == CTA_IP_V6_SRC ? src : dst);
                    *have |= b.type == CTA_IP_V6_SRC ? 1 : 2;
                }
            }
        } else if (a.type == CTA_TUPLE_PROTO) {
            while ((rc = ep_nla_next(&q, &ql, &b)) == 1) {
                if (b.type == CTA_PROTO_NUM && b.len >= 1) {
                    *proto = b.data[0];
                    *have |= 4;
                } else if (b.type == CTA_PROTO_SRC_PORT && b.len >= 2) {
                    *sport = ep_be16(b.data);
                } else if (b.type == CTA_PROTO_DST_PORT && b.len >= 2) {
                    *dport = ep_be16(b.data);
                }
            }
        }
        if (rc < 0)
            return -EBADMSG;
    }
    return rc < 0 ? -EBADMSG : 0;
}

/* One IPCTNL_MSG_CT_NEW payload after the nfgenmsg.  1: a flow with both
 * tuples, 0: incomplete (skipped), -EBADMSG. */
static int ep_ct_entry(const unsigned char *p, size_t len, ep_snat_flow *f)
{
    ep_nla a, b, c;
    int rc, have_o = 0, have_r = 0;
    uint8_t rproto = 0;
    memset(f, 0, sizeof *f);
    while ((rc = ep_nla_next(&p, &len, &a)) == 1) {
        switch (a.type) {
        case CTA_TUPLE_ORIG:
            if (ep_ct_tuple(a.data, a.len, &f->osrc, &f->odst, &f->osport, &f->odport, &f->proto,
                            &have_o) < 0)
                return -EBADMSG;
            break;
        case CTA_TUPLE_REPLY:
            if (ep_ct_tuple(a.data, a.len, &f->rsrc, &f->rdst, &f->rsport, &f->rdport, &rproto,
                            &have_r) < 0)
                return -EBADMSG;
            break;
        case CTA_STATUS:
            if (a.len >= 4) {
                f->status = ep_be32(a.data);
                f->has_status = true;
            }
            break;
        case CTA_ZONE:
            if (a.len >= 2)
                f->zone = ep_be16(a.data);
            break;
        case CTA_PROTOINFO: {
            const unsigned char *q = a.data;
            size_t ql = a.len;
            while ((rc = ep_nla_next(&q, &ql, &b)) == 1) {
                const unsigned char *r = b.data;
                size_t rl = b.len;
                if (b.type != CTA_PROTOINFO_TCP)
                    continue;
                while ((rc = ep_nla_next(&r, &rl, &c)) == 1)
                    if (c.type == CTA_PROTOINFO_TCP_STATE && c.len >= 1)
                        f->tcp_state = c.data[0];
                if (rc < 0)
                    return -EBADMSG;
            }
            if (rc < 0)
                return -EBADMSG;
            break;
        }
        default:
            break;
        }
    }
    if (rc < 0)
        return -EBADMSG;
    if (have_o != 7 || have_r != 7 || rproto != f->proto)
        return 0;
    if (f->proto != IPPROTO_TCP)
        f->tcp_state = 0;
    return 1;
}

/* The common walk: fn(payload after nfgenmsg, len, res_id, arg) per
 * message of type `type`. */
typedef int (*ep_nf_msg_fn)(const unsigned char *p, size_t len, uint16_t res_id, void *arg);

static int ep_nf_walk(const void *buf, size_t len, uint16_t type, ep_nf_msg_fn fn, void *arg)
{
    const unsigned char *p = buf;
    while (len >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr h;
        size_t payload, step;
        memcpy(&h, p, sizeof h);
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > len)
            return -EBADMSG;
        payload = h.nlmsg_len - NLMSG_HDRLEN;
        if (h.nlmsg_type == NLMSG_DONE)
            return 0;
        if (h.nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr e;
            if (payload < sizeof e)
                return -EBADMSG;
            memcpy(&e, p + NLMSG_HDRLEN, sizeof e);
            if (e.error != 0)
                return e.error < 0 && e.error > -4096 ? e.error : -EPROTO;
            if (!(h.nlmsg_flags & NLM_F_MULTI))
                return 0; /* the acknowledgement of a single request */
        } else if (h.nlmsg_type == type) {
            struct nfgenmsg g;
            int rc;
            if (payload < sizeof g)
                return -EBADMSG;
            memcpy(&g, p + NLMSG_HDRLEN, sizeof g);
            rc = fn(p + NLMSG_HDRLEN + NFA_ALIGN(sizeof g),
                    payload >= NFA_ALIGN(sizeof g) ? payload - NFA_ALIGN(sizeof g) : 0,
                    ntohs(g.res_id), arg);
            if (rc < 0)
                return rc;
        }
        step = NLMSG_ALIGN(h.nlmsg_len);
        if (step >= len)
            break;
        p += step;
        len -= step;
    }
    return 1;
}

typedef struct ep_ct_walk_arg {
    ep_snat_flow_fn fn;
    void *arg;
} ep_ct_walk_arg;

static int ep_ct_walk_one(const unsigned char *p, size_t len, uint16_t res_id, void *arg)
{
    ep_ct_walk_arg *w = arg;
    ep_snat_flow f;
    int rc = ep_ct_entry(p, len, &f);
    (void)res_id;
    if (rc == 1)
        w->fn(&f, w->arg);
    return rc < 0 ? rc : 0;
}

int ep_snat_ct_walk(const void *buf, size_t len, ep_snat_flow_fn fn, void *arg)
{
    ep_ct_walk_arg w = { fn, arg };
    return ep_nf_walk(buf, len, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW,
                      ep_ct_walk_one, &w);
}

static void ep_stat_add(int64_t *field, uint32_t v)
{
    if (*field < 0)
        *field = 0;
    *field += v;
}

static int ep_stats_one(const unsigned char *p, size_t len, uint16_t res_id, void *arg)
{
    ep_snat_stats *st = arg;
    ep_nla a;
    int rc;
    (void)res_id;
    while ((rc = ep_nla_next(&p, &len, &a)) == 1) {
        uint32_t v;
        if (a.len < 4)
            continue;
        v = ep_be32(a.data);
        switch (a.type) {
        case CTA_STATS_FOUND: ep_stat_add(&st->found, v); break;
        case CTA_STATS_INVALID: ep_stat_add(&st->invalid, v); break;
        case CTA_STATS_INSERT: ep_stat_add(&st->insert, v); break;
        case CTA_STATS_INSERT_FAILED: ep_stat_add(&st->insert_failed, v); break;
        case CTA_STATS_DROP: ep_stat_add(&st->drop, v); break;
        case CTA_STATS_EARLY_DROP: ep_stat_add(&st->early_drop, v); break;
        case CTA_STATS_ERROR: ep_stat_add(&st->error, v); break;
        case CTA_STATS_SEARCH_RESTART: ep_stat_add(&st->search_restart, v); break;
        case CTA_STATS_CLASH_RESOLVE: ep_stat_add(&st->clash_resolve, v); break;
        case CTA_STATS_CHAIN_TOOLONG: ep_stat_add(&st->chain_toolong, v); break;
        default: break;
        }
    }
    if (rc < 0)
        return -EBADMSG;
    st->ncpu = st->ncpu < 0 ? 1 : st->ncpu + 1;
    return 0;
}

int ep_snat_stats_walk(const void *buf, size_t len, ep_snat_stats *st)
{
    return ep_nf_walk(buf, len, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU,
                      ep_stats_one, st);
}

typedef struct ep_global {
    int64_t *count, *max;
} ep_global;

static int ep_global_one(const unsigned char *p, size_t len, uint16_t res_id, void *arg)
{
    ep_global *g = arg;
    ep_nla a;
    int rc;
    (void)res_id;
    while ((rc = ep_nla_next(&p, &len, &a)) == 1) {
        if (a.len < 4)
            continue;
        if (a.type == CTA_STATS_GLOBAL_ENTRIES)
            *g->count = ep_be32(a.data);
        else if (a.type == CTA_STATS_GLOBAL_MAX_ENTRIES)
            *g->max = ep_be32(a.data);
    }
    return rc < 0 ? -EBADMSG : 0;
}

/* Send one request and walk the answers with walk(buf, len, warg). */
typedef int (*ep_walk_fn)(const void *buf, size_t len, void *warg);

static int ep_nf_request(uint16_t msg, uint16_t flags, const uint32_t *status_filter,
                         ep_walk_fn walk, void *warg)
{
    enum { EP_NF_BUF = 65536 };
    char *buf;
    struct mnl_socket *nl;
    struct nlmsghdr *h;
    struct nfgenmsg *g;
    unsigned portid;
    uint32_t seq = 1;
    int rc;

    buf = malloc(EP_NF_BUF); /* a dump message can fill a page-sized datagram */
    if (!buf)
        return -ENOMEM;
    nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl) {
        rc = -errno;
        free(buf);
        return rc;
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        mnl_socket_close(nl);
        free(buf);
        return rc;
    }
    portid = mnl_socket_get_portid(nl);
    h = mnl_nlmsg_put_header(buf);
    h->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
    h->nlmsg_flags = NLM_F_REQUEST | flags;
    h->nlmsg_seq = seq;
    g = mnl_nlmsg_put_extra_header(h, sizeof *g);
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = 0;
    if (status_filter) {
        mnl_attr_put_u32(h, CTA_STATUS, htonl(status_filter[0]));
        mnl_attr_put_u32(h, CTA_STATUS_MASK, htonl(status_filter[1]));
    }
    if (mnl_socket_sendto(nl, h, h->nlmsg_len) < 0) {
        rc = -errno;
        mnl_socket_close(nl);
        free(buf);
        return rc;
    }
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, EP_NF_BUF);
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0) {
            rc = -EPROTO;
            break;
        }
        rc = walk(buf, (size_t)n, warg);
        if (rc <= 0)
            break;
        if (!(flags & NLM_F_DUMP)) {
            rc = 0;
            break;
        }
    }
    (void)portid;
    mnl_socket_close(nl);
    free(buf);
    return rc;
}

typedef struct ep_ct_dump_arg {
    ep_snat_flow_fn fn;
    void *arg;
} ep_ct_dump_arg;

static int ep_ct_dump_walk(const void *buf, size_t len, void *warg)
{
    ep_ct_dump_arg *d = warg;
    return ep_snat_ct_walk(buf, len, d->fn, d->arg);
}

int ep_snat_ct_dump(uint32_t want, ep_snat_flow_fn fn, void *arg)
{
    ep_ct_dump_arg d = { fn, arg };
    uint32_t filter[2] = { want, EP_IPS_SRC_NAT };
    return ep_nf_request(IPCTNL_MSG_CT_GET, NLM_F_DUMP, filter, ep_ct_dump_walk, &d);
}

static int ep_stats_dump_walk(const void *buf, size_t len, void *warg)
{
    return ep_snat_stats_walk(buf, len, warg);
}

static int ep_global_walk(const void *buf, size_t len, void *warg)
{
    return ep_nf_walk(buf, len, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS,
                      ep_global_one, warg);
}

int ep_snat_ct_stats(ep_snat_stats *st, int64_t *count, int64_t *max)
{
    ep_global g = { count, max };
    int rc = ep_nf_request(IPCTNL_MSG_CT_GET_STATS_CPU, NLM_F_DUMP, NULL, ep_stats_dump_walk, st);
    if (rc < 0)
        return rc;
    return ep_nf_request(IPCTNL_MSG_CT_GET_STATS, 0, NULL, ep_global_walk, &g);
}
