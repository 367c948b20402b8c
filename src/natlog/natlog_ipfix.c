/* natlog_ipfix.c - port-block events as IPFIX messages, both ways (pure).
 *
 * The writer makes RFC 7011 messages: a 16-byte header (version 10,
 * length, export time, sequence number = data records sent before,
 * observation domain), a template set (set id 2) holding template 256, and
 * one data set (set id 256) of RFC 8158 "NAT44 port block allocation" /
 * "de-allocation" events (natEvent 16 / 17, IANA NAT Event Type registry).
 * Template 256, 30 bytes a record, in this order:
 *   observationTimeMilliseconds 323 (8)  natEvent 230 (1)
 *   natInstanceID 463 (4)  sourceIPv4Address 8 (4)
 *   postNATSourceIPv4Address 225 (4)  protocolIdentifier 4 (1)
 *   portRangeStart 361 (2)  portRangeEnd 362 (2)
 *   portRangeStepSize 363 (2, always 1)  portRangeNumPorts 364 (2)
 * (RFC 8158 lists timeStamp, natEvent, sourceIPv4Address,
 * postNATSourceIPv4Address, portRangeStart/End/StepSize/NumPorts for the
 * port block events; natInstanceID and protocolIdentifier are additions
 * ephport writes so a per-protocol block survives the round trip.)
 *
 * The reader is strict and trusts no length: every header, set, template
 * and record length is checked against what holds it before it is used;
 * what it does not understand (another version, set ids 0-1 and 4-255, a
 * data set before its template, a known element with a length its type
 * cannot have, a stepped port range, a port-block event missing a
 * mandatory element) is refused with the stream offset.  Templates (and
 * options templates, whose records are skipped) are kept per observation
 * domain for the stream; unknown elements are skipped by their length,
 * variable-length ones included (RFC 7011 section 7).  Fuzzed:
 * fuzz-nat-ipfix. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/natlog.h>

enum {
    IE_PROTO = 4,
    IE_SRC4 = 8,
    IE_POSTNAT_SRC4 = 225,
    IE_NAT_EVENT = 230,
    IE_OBS_MS = 323,
    IE_RANGE_START = 361,
    IE_RANGE_END = 362,
    IE_RANGE_STEP = 363,
    IE_RANGE_NUM = 364,
    IE_NAT_INSTANCE = 463,
};

#define VARLEN 65535

static const struct {
    uint16_t ie, len;
} ep_ipfix_fields[] = {
    { IE_OBS_MS, 8 },      { IE_NAT_EVENT, 1 },   { IE_NAT_INSTANCE, 4 },
    { IE_SRC4, 4 },        { IE_POSTNAT_SRC4, 4 }, { IE_PROTO, 1 },
    { IE_RANGE_START, 2 }, { IE_RANGE_END, 2 },   { IE_RANGE_STEP, 2 },
    { IE_RANGE_NUM, 2 },
};
#define NFIELDS (sizeof ep_ipfix_fields / sizeof ep_ipfix_fields[0])

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    return put16(put16(p, (uint16_t)(v >> 16)), (uint16_t)v);
}

static uint64_t get_n(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

void ep_natlog_ipfix_reader_init(ep_natlog_ipfix_reader *rd)
{
    if (rd)
        memset(rd, 0, sizeof *rd);
}

int ep_natlog_ipfix_encode(const ep_natlog_ipfix_event *ev, size_t n, uint32_t export_time,
                           uint32_t seq, uint32_t domain, uint8_t *buf, size_t len)
{
    size_t tset = 4 + 4 + 4 * NFIELDS, total;
    uint8_t *p = buf;
    if (!ev || !buf || n == 0 || n > EP_NATLOG_IPFIX_MAX_RECORDS)
        return EP_EINVAL;
    total = 16 + tset + 4 + n * EP_NATLOG_IPFIX_RECORD_LEN;
    if (len < total)
        return EP_ENOSPC;
    for (size_t i = 0; i < n; i++)
        if (ev[i].subscriber.family != AF_INET || ev[i].ext.family != AF_INET ||
            ev[i].port_hi < ev[i].port_lo || ev[i].time_ms < 0 ||
            (ev[i].nat_event != EP_NATLOG_IPFIX_PB_ALLOC &&
             ev[i].nat_event != EP_NATLOG_IPFIX_PB_DEALLOC) ||
            (ev[i].port_lo == 0 && ev[i].port_hi == 65535))
            return EP_EINVAL;
    p = put16(p, 10);
    p = put16(p, (uint16_t)total);
    p = put32(p, export_time);
    p = put32(p, seq);
    p = put32(p, domain);
    p = put16(p, 2);
    p = put16(p, (uint16_t)tset);
    p = put16(p, EP_NATLOG_IPFIX_TEMPLATE_ID);
    p = put16(p, (uint16_t)NFIELDS);
    for (size_t i = 0; i < NFIELDS; i++) {
        p = put16(p, ep_ipfix_fields[i].ie);
        p = put16(p, ep_ipfix_fields[i].len);
    }
    p = put16(p, EP_NATLOG_IPFIX_TEMPLATE_ID);
    p = put16(p, (uint16_t)(4 + n * EP_NATLOG_IPFIX_RECORD_LEN));
    for (size_t i = 0; i < n; i++) {
        const ep_natlog_ipfix_event *e = &ev[i];
        uint64_t ms = (uint64_t)e->time_ms;
        p = put32(p, (uint32_t)(ms >> 32));
        p = put32(p, (uint32_t)ms);
        *p++ = e->nat_event;
        p = put32(p, e->instance);
        memcpy(p, e->subscriber.u.bytes, 4);
        memcpy(p + 4, e->ext.u.bytes, 4);
        p += 8;
        *p++ = e->proto;
        p = put16(p, e->port_lo);
        p = put16(p, e->port_hi);
        p = put16(p, 1);
        p = put16(p, (uint16_t)(e->port_hi - e->port_lo + 1));
    }
    return (int)(p - buf);
}

/* ---- reader ------------------------------------------------------------- */

struct ep_ipfix_ctx {
    ep_natlog_ipfix_reader *rd;
    const uint8_t *msg;
    ep_parse_error *err;
};

static int ep_ipfix_fail(struct ep_ipfix_ctx *c, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ep_ipfix_fail(struct ep_ipfix_ctx *c, const uint8_t *at, const char *fmt, ...)
{
    if (c->err) {
        va_list ap;
        uint64_t off = c->rd->offset + (uint64_t)(at - c->msg);
        int n;
        c->err->offset = (size_t)off;
        n = snprintf(c->err->message, sizeof c->err->message, "offset %llu: ",
                     (unsigned long long)off);
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < sizeof c->err->message)
            vsnprintf(c->err->message + n, sizeof c->err->message - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return EP_EINVAL;
}

static ep_natlog_ipfix_template_ *ep_ipfix_find(ep_natlog_ipfix_reader *rd, uint32_t domain,
                                                uint16_t id)
{
    for (size_t i = 0; i < rd->ntemplates; i++)
        if (rd->t[i].domain == domain && rd->t[i].id == id)
            return &rd->t[i];
    return NULL;
}

/* The length a known element may have (reduced-size encoding, RFC 7011
 * section 6.2, for unsigned integers), or NULL for an unknown element. */
static bool ep_ipfix_known(uint16_t ie, uint16_t len, bool *ok)
{
    switch (ie) {
    case IE_OBS_MS:
        *ok = len == 8;
        return true;
    case IE_SRC4:
    case IE_POSTNAT_SRC4:
        *ok = len == 4;
        return true;
    case IE_NAT_EVENT:
    case IE_PROTO:
        *ok = len == 1;
        return true;
    case IE_NAT_INSTANCE:
        *ok = len >= 1 && len <= 4;
        return true;
    case IE_RANGE_START:
    case IE_RANGE_END:
    case IE_RANGE_STEP:
    case IE_RANGE_NUM:
        *ok = len >= 1 && len <= 2;
        return true;
    default:
        return false;
    }
}

/* Template or options template records of one set [p, end). */
static int ep_ipfix_templates(struct ep_ipfix_ctx *c, uint32_t domain, bool options,
                              const uint8_t *p, const uint8_t *end)
{
    size_t hdr = options ? 6 : 4;
    while ((size_t)(end - p) >= hdr) {
        const uint8_t *rec = p;
        uint16_t id = (uint16_t)get_n(p, 2), nf = (uint16_t)get_n(p + 2, 2), scope = 0;
        ep_natlog_ipfix_template_ t, *slot;
        if (id < 256)
            return ep_ipfix_fail(c, rec, "template id %u is below 256", id);
        if (nf == 0 && !options) {
            /* a template withdrawal (RFC 7011 section 8.1) */
            slot = ep_ipfix_find(c->rd, domain, id);
            if (slot)
                *slot = c->rd->t[--c->rd->ntemplates];
            p += 4;
            continue;
        }
        if (options) {
            scope = (uint16_t)get_n(p + 4, 2);
            if (scope == 0 || scope > nf)
                return ep_ipfix_fail(c, rec, "options template %u: scope field count %u of %u",
                                     id, scope, nf);
        }
        if (nf > EP_NATLOG_IPFIX_MAX_FIELDS)
            return ep_ipfix_fail(c, rec, "template %u has %u fields, more than %d", id, nf,
                                 EP_NATLOG_IPFIX_MAX_FIELDS);
        memset(&t, 0, sizeof t);
        t.domain = domain;
        t.id = id;
        t.nfields = nf;
        t.scope = scope;
        p += hdr;
        for (uint16_t i = 0; i < nf; i++) {
            uint16_t ie, len;
            bool ok;
            if (end - p < 4)
                return ep_ipfix_fail(c, p, "template %u: field %u of %u is cut off", id, i + 1,
                                     nf);
            ie = (uint16_t)get_n(p, 2);
            len = (uint16_t)get_n(p + 2, 2);
            p += 4;
            if (ie & 0x8000) {
                if (end - p < 4)
                    return ep_ipfix_fail(c, p, "template %u: enterprise number cut off", id);
                p += 4;
                t.enterprise[i] = 1;
                ie &= 0x7fff;
            }
            if (len == 0)
                return ep_ipfix_fail(c, p - 4, "template %u: field %u has length 0", id, ie);
            if (!t.enterprise[i] && ep_ipfix_known(ie, len, &ok)) {
                if (!ok)
                    return ep_ipfix_fail(c, p - 4,
                                         "template %u: element %u cannot have length %u", id,
                                         ie, len);
                for (uint16_t k = 0; k < i; k++)
                    if (!t.enterprise[k] && t.ie[k] == ie)
                        return ep_ipfix_fail(c, p - 4, "template %u: element %u twice", id, ie);
            }
            t.ie[i] = ie;
            t.len[i] = len;
        }
        slot = ep_ipfix_find(c->rd, domain, id);
        if (!slot) {
            if (c->rd->ntemplates == EP_NATLOG_IPFIX_MAX_TEMPLATES)
                return ep_ipfix_fail(c, rec, "more than %d templates",
                                     EP_NATLOG_IPFIX_MAX_TEMPLATES);
            slot = &c->rd->t[c->rd->ntemplates++];
        }
        *slot = t;
    }
    /* padding (RFC 7011 section 3.3.1): shorter than a record, all zero */
    for (; p < end; p++)
        if (*p)
            return ep_ipfix_fail(c, p, "bytes after the last template record are not padding");
    return 0;
}

/* One data record at *pp (advanced), checked against end. */
static int ep_ipfix_record(struct ep_ipfix_ctx *c, const ep_natlog_ipfix_template_ *t,
                           const uint8_t **pp, const uint8_t *end,
                           int (*fn)(const ep_natlog_ipfix_event *, uint64_t, void *), void *arg)
{
    const uint8_t *rec = *pp, *p = *pp;
    ep_natlog_ipfix_event ev;
    bool have_ev = false, have_t = false, have_s = false, have_x = false, have_lo = false,
         have_hi = false, have_num = false;
    uint64_t num = 0;
    memset(&ev, 0, sizeof ev);
    for (uint16_t i = 0; i < t->nfields; i++) {
        size_t len = t->len[i];
        if (len == VARLEN) {
            if (end - p < 1)
                return ep_ipfix_fail(c, p, "record cut off in a variable-length field");
            len = *p++;
            if (len == 255) {
                if (end - p < 2)
                    return ep_ipfix_fail(c, p, "record cut off in a variable-length field");
                len = (size_t)get_n(p, 2);
                p += 2;
            }
        }
        if ((size_t)(end - p) < len)
            return ep_ipfix_fail(c, p, "record cut off: field %u needs %zu bytes", t->ie[i], len);
        if (!t->scope && !t->enterprise[i]) {
            uint64_t v = len <= 8 ? get_n(p, len) : 0;
            switch (t->ie[i]) {
            case IE_NAT_EVENT:
                ev.nat_event = (uint8_t)v;
                have_ev = true;
                break;
            case IE_OBS_MS:
                if (v > (uint64_t)INT64_MAX / 2)
                    return ep_ipfix_fail(c, p, "observationTimeMilliseconds %llu is out of range",
                                         (unsigned long long)v);
                ev.time_ms = (int64_t)v;
                have_t = true;
                break;
            case IE_NAT_INSTANCE:
                ev.instance = (uint32_t)v;
                break;
            case IE_SRC4:
                ep_addr_from_bytes(AF_INET, p, &ev.subscriber);
                have_s = true;
                break;
            case IE_POSTNAT_SRC4:
                ep_addr_from_bytes(AF_INET, p, &ev.ext);
                have_x = true;
                break;
            case IE_PROTO:
                ev.proto = (uint8_t)v;
                break;
            case IE_RANGE_START:
                ev.port_lo = (uint16_t)v;
                have_lo = true;
                break;
            case IE_RANGE_END:
                ev.port_hi = (uint16_t)v;
                have_hi = true;
                break;
            case IE_RANGE_STEP:
                if (v > 1)
                    return ep_ipfix_fail(c, p, "portRangeStepSize %llu: a stepped range is not "
                                               "a block", (unsigned long long)v);
                break;
            case IE_RANGE_NUM:
                num = v;
                have_num = true;
                break;
            default:
                break;
            }
        }
        p += len;
    }
    *pp = p;
    if (t->scope || !have_ev ||
        (ev.nat_event != EP_NATLOG_IPFIX_PB_ALLOC && ev.nat_event != EP_NATLOG_IPFIX_PB_DEALLOC)) {
        c->rd->ignored++;
        return 0;
    }
    if (!have_t || !have_s || !have_x || !have_lo || (!have_hi && !have_num))
        return ep_ipfix_fail(c, rec, "port block event without %s",
                             !have_t ? "observationTimeMilliseconds (323)"
                             : !have_s ? "sourceIPv4Address (8)"
                             : !have_x ? "postNATSourceIPv4Address (225)"
                             : !have_lo ? "portRangeStart (361)"
                                        : "portRangeEnd (362) or portRangeNumPorts (364)");
    if (have_num) {
        if (num == 0 || ev.port_lo + num - 1 > 65535 ||
            (have_hi && ev.port_hi != ev.port_lo + num - 1))
            return ep_ipfix_fail(c, rec, "portRangeNumPorts %llu does not fit %u-%u",
                                 (unsigned long long)num, ev.port_lo,
                                 have_hi ? ev.port_hi : ev.port_lo);
        ev.port_hi = (uint16_t)(ev.port_lo + num - 1);
    }
    if (ev.port_hi < ev.port_lo)
        return ep_ipfix_fail(c, rec, "portRangeEnd %u is below portRangeStart %u", ev.port_hi,
                             ev.port_lo);
    return fn ? fn(&ev, c->rd->offset + (uint64_t)(rec - c->msg), arg) : 0;
}

int ep_natlog_ipfix_parse(ep_natlog_ipfix_reader *rd, const uint8_t *msg, size_t len,
                          int (*fn)(const ep_natlog_ipfix_event *, uint64_t, void *), void *arg,
                          ep_parse_error *err)
{
    struct ep_ipfix_ctx c = { rd, msg, err };
    const uint8_t *p, *end;
    uint32_t domain;
    uint16_t mlen;
    if (!rd || (!msg && len))
        return EP_EINVAL;
    if (len < 16)
        return ep_ipfix_fail(&c, msg, "%zu bytes: shorter than a message header (16)", len);
    if (get_n(msg, 2) != 10)
        return ep_ipfix_fail(&c, msg, "version %u, not IPFIX (10)", (unsigned)get_n(msg, 2));
    mlen = (uint16_t)get_n(msg + 2, 2);
    if (mlen != len)
        return ep_ipfix_fail(&c, msg + 2, "message length %u, but the message has %zu bytes",
                             mlen, len);
    domain = (uint32_t)get_n(msg + 12, 4);
    p = msg + 16;
    end = msg + len;
    while (p < end) {
        const uint8_t *set = p, *send;
        uint16_t id, slen;
        int rc;
        if (end - p < 4)
            return ep_ipfix_fail(&c, p, "%zu bytes left: shorter than a set header",
                                 (size_t)(end - p));
        id = (uint16_t)get_n(p, 2);
        slen = (uint16_t)get_n(p + 2, 2);
        if (slen < 4 || slen > end - p)
            return ep_ipfix_fail(&c, p + 2, "set length %u does not fit the %zu bytes left",
                                 slen, (size_t)(end - p));
        send = p + slen;
        p += 4;
        if (id == 2 || id == 3) {
            if ((rc = ep_ipfix_templates(&c, domain, id == 3, p, send)) != 0)
                return rc;
        } else if (id < 256) {
            return ep_ipfix_fail(&c, set, "set id %u is not a template (2), options template "
                                          "(3) or data set (256 and up)", id);
        } else {
            const ep_natlog_ipfix_template_ *t = ep_ipfix_find(rd, domain, id);
            size_t minlen = 0;
            if (!t)
                return ep_ipfix_fail(&c, set, "data set %u before its template", id);
            for (uint16_t i = 0; i < t->nfields; i++)
                minlen += t->len[i] == VARLEN ? 1 : t->len[i];
            while ((size_t)(send - p) >= minlen && p < send) {
                if ((rc = ep_ipfix_record(&c, t, &p, send, fn, arg)) != 0)
                    return rc;
            }
            for (; p < send; p++)
                if (*p)
                    return ep_ipfix_fail(&c, p, "bytes after the last record of data set %u are "
                                                "not padding", id);
        }
        p = send;
    }
    rd->offset += len;
    return 0;
}
