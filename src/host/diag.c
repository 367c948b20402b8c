/* diag.c - NETLINK_SOCK_DIAG requests and reply walking, shared by every
 * inet_diag dump (see diag.h).  The walk is written out rather than done
 * with mnl_cb_run(): libmnl's length checks cast to int, and a corrupt
 * nlmsg_len near 2^32 makes it loop; this walk copies every header before
 * reading it and trusts no length. */
#include <errno.h>
#include <string.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include "diag.h"

void ep_diag_addr(int family, const uint32_t raw[4], ep_addr *out)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    const uint8_t *b = (const uint8_t *)raw;
    if (family == AF_INET6 && memcmp(b, mapped, 12) == 0)
        ep_addr_from_bytes(AF_INET, b + 12, out);
    else
        ep_addr_from_bytes(family, b, out);
}

/* The "sport >= lo && sport <= hi" bytecode of both request forms. */
static void ep_diag_bytecode(struct nlattr *attr, struct inet_diag_bc_op bc[4], uint16_t lo,
                             uint16_t hi)
{
    attr->nla_len = sizeof *attr + 4 * sizeof bc[0];
    attr->nla_type = INET_DIAG_REQ_BYTECODE;
    /* At each op, true jumps `yes` bytes and false `no`; landing exactly at
     * the end accepts, beyond it rejects.  GE/LE take their port in the
     * `no` field of the op that follows. */
    bc[0].code = INET_DIAG_BC_S_GE;
    bc[0].yes = sizeof bc[0] * 2;
    bc[0].no = 4 * sizeof bc[0] + 4;
    bc[1].no = lo;
    bc[2].code = INET_DIAG_BC_S_LE;
    bc[2].yes = sizeof bc[0] * 2;
    bc[2].no = sizeof bc[0] * 2 + 4;
    bc[3].no = hi;
}

size_t ep_diag_request(void *buf, int family, uint8_t proto, uint32_t states, uint16_t lo,
                       uint16_t hi, uint32_t seq)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
        struct nlattr attr;
        struct inet_diag_bc_op bc[4];
    } r;

    _Static_assert(sizeof r == EP_DIAG_REQUEST_LEN, "the request has no padding");
    memset(&r, 0, sizeof r);
    r.nlh.nlmsg_len = sizeof r;
    r.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    r.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    r.nlh.nlmsg_seq = seq;
    r.req.sdiag_family = (uint8_t)family;
    r.req.sdiag_protocol = proto;
    r.req.idiag_states = states;
    ep_diag_bytecode(&r.attr, r.bc, lo, hi);
    memcpy(buf, &r, sizeof r);
    return sizeof r;
}

size_t ep_diag_request_compat(void *buf, uint32_t states, uint16_t lo, uint16_t hi, uint32_t seq)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req req;
        struct nlattr attr;
        struct inet_diag_bc_op bc[4];
    } r;

    _Static_assert(sizeof r == EP_DIAG_REQUEST_COMPAT_LEN, "the request has no padding");
    memset(&r, 0, sizeof r);
    r.nlh.nlmsg_len = sizeof r;
    r.nlh.nlmsg_type = TCPDIAG_GETSOCK;
    r.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    r.nlh.nlmsg_seq = seq;
    r.req.idiag_family = AF_INET; /* the kernel dumps both families for this form */
    r.req.idiag_states = states;
    ep_diag_bytecode(&r.attr, r.bc, lo, hi);
    memcpy(buf, &r, sizeof r);
    return sizeof r;
}

int ep_diag_walk(const void *buf, size_t len, uint32_t seq, uint32_t portid, ep_diag_fn fn,
                 void *arg)
{
    const char *p = buf;
    while (len >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr h;
        size_t payload, step;
        memcpy(&h, p, sizeof h); /* no alignment assumed */
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > len)
            return -EBADMSG;
        if ((seq && h.nlmsg_seq != seq) || (portid && h.nlmsg_pid != portid))
            return -EPROTO;
        payload = h.nlmsg_len - NLMSG_HDRLEN; /* NLMSG_HDRLEN == sizeof h */
        if (h.nlmsg_type == NLMSG_DONE)
            return 0;
        if (h.nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr e;
            if (payload < sizeof e)
                return -EBADMSG;
            memcpy(&e, p + NLMSG_HDRLEN, sizeof e);
            if (e.error != 0)
                return e.error < 0 && e.error > -4096 ? e.error : -EPROTO;
        } else if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY || h.nlmsg_type == TCPDIAG_GETSOCK) {
            struct inet_diag_msg m;
            if (payload < sizeof m)
                return -EBADMSG;
            memcpy(&m, p + NLMSG_HDRLEN, sizeof m);
            fn(&m, arg);
        }
        step = NLMSG_ALIGN(h.nlmsg_len);
        if (step >= len)
            break;
        p += step;
        len -= step;
    }
    return 1;
}
