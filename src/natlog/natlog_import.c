/* natlog_import.c - import and export of port-block events in the standard
 * formats (IPFIX, the SRX and Junos syslog lines) through the log's own
 * assign / release path.
 *
 * Import: the parsers (natlog_ipfix.c, natlog_syslog.c) give events in
 * file order; each becomes ep_natlog_assign (an allocation: an open block)
 * or ep_natlog_release (its end), inside one transaction (natlog_bulk.h),
 * so a failed import keeps nothing and a successful one is acknowledged
 * as a whole.  An allocation is held back one event: when the next event
 * releases the same block, the pair is written as one closed record, which
 * is what an export wrote (so export -> import is record for record even
 * for a log where a block's history was not logged in time order).  Times:
 * an allocation's start is rounded down to the second, a release's end up,
 * so the record covers the whole holding.  A line or record the log
 * refuses (a block already open, a release of a block not open) fails the
 * import naming it, or with skip_bad is counted and skipped; errors of the
 * file itself (-EIO, damage) always fail.  Nothing is dropped silently:
 * lines that are not port-block events and interim reports are counted in
 * `ignored`.  A release closes the open block (ext, protocol, first port)
 * whoever the line names as subscriber, as the CSV and `nat log release`
 * do.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ephport/natlog.h>

#include "natlog_bulk.h"

static const uint8_t ep_protos[3] = { 6, 17, 1 };

struct ep_imp {
    ep_natlog *log;
    ep_natlog_import_options opt;
    ep_natlog_import_result *res;
    ep_parse_error *err;
    bool held;
    ep_natlog_record hrec; /* proto 0: every protocol of opt.protos */
    char hwhere[32];
};

struct ep_imp_ev {
    bool release;
    ep_natlog_record rec;
};

static int ep_imp_refuse(struct ep_imp *im, const char *where, const char *why)
{
    if (im->opt.skip_bad) {
        if (im->res->skipped++ == 0)
            snprintf(im->res->first_skipped, sizeof im->res->first_skipped, "%.30s: %.125s", where, why);
        return 0;
    }
    if (im->err) {
        im->err->offset = 0;
        snprintf(im->err->message, sizeof im->err->message, "%.30s: %.125s", where, why);
    }
    return EP_EINVAL;
}

/* Write one event for each protocol it stands for. */
static int ep_imp_write(struct ep_imp *im, const struct ep_imp_ev *ev, const char *where)
{
    for (size_t i = 0; i < 3; i++) {
        ep_natlog_record r = ev->rec;
        int rc;
        if (r.proto == 0) {
            if (!(im->opt.protos & (1u << i)))
                continue;
            r.proto = ep_protos[i];
        } else if (i > 0) {
            break;
        }
        rc = ev->release ? ep_natlog_release(im->log, &r.ext, r.proto, r.port_lo, r.end)
                         : ep_natlog_assign(im->log, &r);
        if (rc == 0) {
            if (ev->release)
                im->res->released++;
            else
                im->res->assigned++;
            continue;
        }
        if (rc == EP_EEXIST)
            rc = ep_imp_refuse(im, where, "this block is already assigned (open) in the log");
        else if (rc == EP_ENOENT)
            rc = ep_imp_refuse(im, where, "release of a block that is not open in the log");
        else if (rc == EP_EINVAL)
            rc = ep_imp_refuse(im, where, ev->release ? "the release is not after the block's "
                                                        "start"
                                                      : "not a valid record (ports, times)");
        else {
            if (im->err) {
                im->err->offset = 0;
                snprintf(im->err->message, sizeof im->err->message, "%s: %.130s", where,
                         ep_natlog_errmsg(im->log));
            }
            return rc;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int ep_imp_flush(struct ep_imp *im)
{
    struct ep_imp_ev ev = { false, im->hrec };
    if (!im->held)
        return 0;
    im->held = false;
    return ep_imp_write(im, &ev, im->hwhere);
}

static int ep_imp_event(struct ep_imp *im, const struct ep_imp_ev *ev, const char *where)
{
    int rc;
    if (im->held && ev->release && ep_addr_equal(&ev->rec.ext, &im->hrec.ext) &&
        ev->rec.proto == im->hrec.proto && ev->rec.port_lo == im->hrec.port_lo &&
        ev->rec.end > im->hrec.start) {
        struct ep_imp_ev whole = { false, im->hrec };
        whole.rec.end = ev->rec.end;
        im->held = false;
        return ep_imp_write(im, &whole, where);
    }
    if ((rc = ep_imp_flush(im)) != 0)
        return rc;
    if (!ev->release) {
        im->held = true;
        im->hrec = ev->rec;
        snprintf(im->hwhere, sizeof im->hwhere, "%s", where);
        return 0;
    }
    return ep_imp_write(im, ev, where);
}

static int ep_imp_begin(struct ep_imp *im, ep_natlog *log, const ep_natlog_import_options *opt,
                        ep_natlog_import_result *res, ep_parse_error *err, uint32_t *batch)
{
    memset(im, 0, sizeof *im);
    memset(res, 0, sizeof *res);
    im->log = log;
    if (opt)
        im->opt = *opt;
    if ((im->opt.protos & 7) == 0)
        im->opt.protos = 7;
    im->res = res;
    im->err = err;
    return ep_natlog_bulk_begin(log, batch, err);
}

/* ---- IPFIX -------------------------------------------------------------- */

static int ep_imp_ipfix_event(const ep_natlog_ipfix_event *e, uint64_t off, void *arg)
{
    struct ep_imp *im = arg;
    struct ep_imp_ev ev;
    char where[32];
    snprintf(where, sizeof where, "offset %llu", (unsigned long long)off);
    memset(&ev, 0, sizeof ev);
    ev.release = e->nat_event == EP_NATLOG_IPFIX_PB_DEALLOC;
    ev.rec.subscriber = e->subscriber;
    ev.rec.ext = e->ext;
    ev.rec.port_lo = e->port_lo;
    ev.rec.port_hi = e->port_hi;
    if (e->proto != 0 && e->proto != 1 && e->proto != 6 && e->proto != 17)
        return ep_imp_refuse(im, where, "protocolIdentifier is not 1, 6 or 17");
    ev.rec.proto = e->proto;
    if (ev.release) {
        ev.rec.start = 0;
        ev.rec.end = e->time_ms / 1000 + (e->time_ms % 1000 != 0);
    } else {
        ev.rec.start = e->time_ms / 1000;
        ev.rec.end = EP_NATLOG_OPEN_END;
    }
    return ep_imp_event(im, &ev, where);
}

int ep_natlog_import_ipfix(ep_natlog *log, FILE *f, const ep_natlog_import_options *opt,
                           ep_natlog_import_result *res, ep_parse_error *err)
{
    static ep_natlog_ipfix_reader rd_zero;
    ep_natlog_ipfix_reader *rd;
    ep_natlog_import_result dummy;
    struct ep_imp im;
    uint8_t *msg;
    uint32_t batch;
    int rc;
    if (!log || !f)
        return EP_EINVAL;
    if (!res)
        res = &dummy;
    rd = malloc(sizeof *rd);
    msg = malloc(65535);
    if (!rd || !msg) {
        free(rd);
        free(msg);
        return EP_ENOMEM;
    }
    *rd = rd_zero;
    if ((rc = ep_imp_begin(&im, log, opt, res, err, &batch)) != 0) {
        free(rd);
        free(msg);
        return rc;
    }
    for (;;) {
        size_t got = fread(msg, 1, 4, f), len;
        if (got == 0 && !ferror(f))
            break;
        if (got < 4) {
            rc = ferror(f) ? EP_EIO : EP_EINVAL;
            if (err) {
                err->offset = (size_t)rd->offset;
                snprintf(err->message, sizeof err->message, "offset %llu: %s",
                         (unsigned long long)rd->offset,
                         rc == EP_EIO ? "cannot read the file" : "the file ends inside a "
                                                                 "message header");
            }
            break;
        }
        len = (size_t)msg[2] << 8 | msg[3];
        if (len < 16) {
            rc = ep_natlog_ipfix_parse(rd, msg, 4, NULL, NULL, err);
            if (rc == 0)
                rc = EP_EINVAL;
            break;
        }
        if (fread(msg + 4, 1, len - 4, f) != len - 4) {
            rc = ferror(f) ? EP_EIO : EP_EINVAL;
            if (err) {
                err->offset = (size_t)rd->offset;
                snprintf(err->message, sizeof err->message,
                         "offset %llu: the file ends inside a message of %zu bytes",
                         (unsigned long long)rd->offset, len);
            }
            break;
        }
        if ((rc = ep_natlog_ipfix_parse(rd, msg, len, ep_imp_ipfix_event, &im, err)) != 0)
            break;
    }
    if (rc == 0)
        rc = ep_imp_flush(&im);
    res->ignored = rd->ignored;
    free(rd);
    free(msg);
    return ep_natlog_bulk_end(log, batch, rc, err);
}

/* ---- syslog lines -------------------------------------------------------- */

int ep_natlog_import_syslog(ep_natlog *log, FILE *f, int format,
                            const ep_natlog_import_options *opt, ep_natlog_import_result *res,
                            ep_parse_error *err)
{
    ep_natlog_import_result dummy;
    struct ep_imp im;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    uint32_t batch;
    int rc;
    if (!log || !f || (format != EP_NATLOG_SYSLOG_SRX && format != EP_NATLOG_SYSLOG_JUNIPER))
        return EP_EINVAL;
    if (!res)
        res = &dummy;
    if ((rc = ep_imp_begin(&im, log, opt, res, err, &batch)) != 0)
        return rc;
    while ((n = getline(&line, &cap, f)) >= 0) {
        ep_natlog_syslog_line sl;
        ep_parse_error e;
        struct ep_imp_ev ev;
        char where[32];
        lineno++;
        snprintf(where, sizeof where, "line %zu", lineno);
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if ((size_t)n != strlen(line)) {
            if ((rc = ep_imp_refuse(&im, where, "NUL byte in the line")) != 0)
                break;
            continue;
        }
        if (ep_natlog_syslog_parse(format, line, &im.opt.syslog, &sl, &e) != 0) {
            char why[200];
            snprintf(why, sizeof why, "column %zu: %s", e.offset + 1, e.message);
            if ((rc = ep_imp_refuse(&im, where, why)) != 0)
                break;
            continue;
        }
        if (sl.kind == EP_NATLOG_LINE_OTHER || sl.kind == EP_NATLOG_LINE_INTERIM) {
            res->ignored++;
            continue;
        }
        memset(&ev, 0, sizeof ev);
        ev.release = sl.kind == EP_NATLOG_LINE_RELEASE;
        ev.rec.subscriber = sl.subscriber;
        ev.rec.ext = sl.ext;
        ev.rec.proto = sl.proto;
        ev.rec.port_lo = sl.port_lo;
        ev.rec.port_hi = sl.port_hi;
        ev.rec.start = ev.release ? 0 : sl.time;
        ev.rec.end = ev.release ? sl.time + sl.time_frac : EP_NATLOG_OPEN_END;
        if ((rc = ep_imp_event(&im, &ev, where)) != 0)
            break;
    }
    if (rc == 0 && ferror(f)) {
        rc = EP_EIO;
        if (err)
            snprintf(err->message, sizeof err->message, "cannot read the input");
    }
    if (rc == 0)
        rc = ep_imp_flush(&im);
    free(line);
    return ep_natlog_bulk_end(log, batch, rc, err);
}

/* ---- export -------------------------------------------------------------- */

struct ep_exp {
    FILE *f;
    ep_parse_error *err;
    uint64_t n;
    /* IPFIX */
    ep_natlog_ipfix_event ev[EP_NATLOG_IPFIX_MAX_RECORDS];
    size_t nev;
    uint32_t seq, export_time, domain;
    uint8_t msg[65535];
};

static int ep_exp_fail(struct ep_exp *x, const char *why)
{
    if (x->err) {
        x->err->offset = 0;
        snprintf(x->err->message, sizeof x->err->message, "record %llu in log order: %s",
                 (unsigned long long)x->n, why);
    }
    return EP_EINVAL;
}

static int ep_exp_ipfix_flush(struct ep_exp *x)
{
    int len;
    if (x->nev == 0)
        return 0;
    len = ep_natlog_ipfix_encode(x->ev, x->nev, x->export_time, x->seq, x->domain, x->msg,
                                 sizeof x->msg);
    if (len < 0)
        return len;
    if (fwrite(x->msg, 1, (size_t)len, x->f) != (size_t)len)
        return EP_EIO;
    x->seq += (uint32_t)x->nev;
    x->nev = 0;
    return 0;
}

static int ep_exp_ipfix_one(const ep_natlog_record *r, void *arg)
{
    struct ep_exp *x = arg;
    int rc;
    x->n++;
    if (r->subscriber.family != AF_INET || r->ext.family != AF_INET)
        return ep_exp_fail(x, "IPv6: NAT44 port block events carry IPv4 addresses only");
    for (int k = 0; k < (r->end == EP_NATLOG_OPEN_END ? 1 : 2); k++) {
        ep_natlog_ipfix_event *e;
        if (x->nev == EP_NATLOG_IPFIX_MAX_RECORDS && (rc = ep_exp_ipfix_flush(x)) != 0)
            return rc;
        e = &x->ev[x->nev++];
        memset(e, 0, sizeof *e);
        e->nat_event = k ? EP_NATLOG_IPFIX_PB_DEALLOC : EP_NATLOG_IPFIX_PB_ALLOC;
        e->time_ms = (k ? r->end : r->start) * 1000;
        e->subscriber = r->subscriber;
        e->ext = r->ext;
        e->proto = r->proto;
        e->port_lo = r->port_lo;
        e->port_hi = r->port_hi;
    }
    return 0;
}

int ep_natlog_export_ipfix(ep_natlog *log, FILE *f, uint32_t export_time, uint32_t domain,
                           ep_parse_error *err)
{
    struct ep_exp *x;
    int rc;
    if (!log || !f)
        return EP_EINVAL;
    if (!(x = calloc(1, sizeof *x)))
        return EP_ENOMEM;
    x->f = f;
    x->err = err;
    x->export_time = export_time;
    x->domain = domain;
    rc = ep_natlog_foreach(log, ep_exp_ipfix_one, x);
    if (rc == 0)
        rc = ep_exp_ipfix_flush(x);
    if (rc == 0 && (fflush(f) != 0 || ferror(f)))
        rc = EP_EIO;
    free(x);
    return rc;
}

static int ep_exp_srx_one(const ep_natlog_record *r, void *arg)
{
    struct ep_exp *x = arg;
    char line[512];
    x->n++;
    for (int k = 0; k < (r->end == EP_NATLOG_OPEN_END ? 1 : 2); k++) {
        int n = ep_natlog_srx_format(r, k == 1, line, sizeof line);
        if (n < 0)
            return ep_exp_fail(x, "IPv6: the SRX port block lines carry IPv4 addresses only");
        if (fprintf(x->f, "%s\n", line) < 0)
            return EP_EIO;
    }
    return 0;
}

int ep_natlog_export_srx(ep_natlog *log, FILE *f, ep_parse_error *err)
{
    struct ep_exp x;
    int rc;
    if (!log || !f)
        return EP_EINVAL;
    memset(&x, 0, offsetof(struct ep_exp, ev));
    x.f = f;
    x.err = err;
    rc = ep_natlog_foreach(log, ep_exp_srx_one, &x);
    if (rc == 0 && (fflush(f) != 0 || ferror(f)))
        rc = EP_EIO;
    return rc;
}
