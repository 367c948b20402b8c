/* natsim.c - the driver behind `ephport nat log simulate`: random subscriber
 * activity over simulated time against the dynamic block allocator
 * (ep_nat_blocks), every assignment, early release and idle expiry written
 * to the log exactly as a NAT would write it.  Seeded, so one seed gives one
 * log.  Here rather than in the CLI because it is the log's own workload:
 * the CLI only parses options and prints the summary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <ephport/natlog.h>

/* Recently assigned blocks: the ones that go back early or show activity. */
#define EP_NATSIM_RECENT 4096

typedef struct ep_natsim {
    ep_natlog *log;
    ep_natlog_sim_result *res;
} ep_natsim;

static int ep_natsim_expired(const ep_nat_block *blk, int64_t end, void *arg)
{
    ep_natsim *s = arg;
    int rc = ep_natlog_release(s->log, &blk->ext, blk->proto, blk->port_lo, end);
    if (rc == 0)
        s->res->expired++;
    return rc;
}

/* splitmix64: the simulation's own stream, so a seed names one log. */
static uint64_t ep_natsim_rand(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Subscriber number i of the inside list (IPv4 only, checked by the caller). */
static void ep_natsim_subscriber(const ep_cidr *l, size_t n, uint64_t i, ep_addr *out)
{
    for (size_t k = 0; k < n; k++) {
        uint64_t size = ep_cidr_size4(&l[k]);
        if (i < size) {
            uint32_t a;
            memcpy(&a, l[k].addr.u.bytes, 4);
            a = htonl(ntohl(a) + (uint32_t)i);
            ep_addr_from_bytes(AF_INET, &a, out);
            return;
        }
        i -= size;
    }
}

static void ep_natsim_err(ep_natlog *log, ep_parse_error *err, const char *what, int rc)
{
    const char *why = log ? ep_natlog_errmsg(log) : "";
    if (err)
        snprintf(err->message, sizeof err->message, "%s: %.100s", what,
                 why && *why ? why : ep_strerror(rc));
}

/* One simulated event: a recent block released or touched, or a new
 * assignment for a random subscriber.  0 or a negative errno (err set). */
static int ep_natsim_event(ep_natsim *s, ep_nat_blocks *b, const ep_cidr *in, size_t nin,
                           uint64_t nsubs, int64_t now, uint64_t r, ep_nat_block *recent,
                           size_t *ring_n, ep_parse_error *err)
{
    ep_nat_block blk;
    ep_addr sub;
    int rc;

    if (r % 4 == 0 && *ring_n > 0) {
        size_t j = (size_t)((r >> 8) % *ring_n);
        ep_nat_block *x = &recent[j];
        if (ep_nat_blocks_find(b, &x->ext, x->proto, x->port_lo, &blk) == 0 &&
            ep_addr_equal(&blk.subscriber, &x->subscriber) && blk.start == x->start &&
            now > blk.start) {
            if ((r >> 40) % 2) {
                ep_nat_blocks_release(b, &x->ext, x->proto, x->port_lo, NULL);
                rc = ep_natlog_release(s->log, &x->ext, x->proto, x->port_lo, now);
                if (rc != 0) {
                    ep_natsim_err(s->log, err, "cannot write the log", rc);
                    return rc;
                }
                s->res->released++;
            } else {
                ep_nat_blocks_touch(b, &x->ext, x->proto, x->port_lo, now);
            }
        }
        recent[j] = recent[--*ring_n];
        return 0;
    }
    ep_natsim_subscriber(in, nin, (r >> 8) % nsubs, &sub);
    rc = ep_nat_blocks_assign(b, &sub, (r >> 60) % 2 ? 17 : 6, now, &blk);
    if (rc == EP_EDQUOT) {
        s->res->refused_quota++;
    } else if (rc == EP_EADDRNOTAVAIL) {
        s->res->refused_exhausted++;
    } else if (rc == 0) {
        ep_natlog_record rec = { .subscriber = blk.subscriber, .ext = blk.ext,
                                 .proto = blk.proto, .port_lo = blk.port_lo,
                                 .port_hi = blk.port_hi, .start = now,
                                 .end = EP_NATLOG_OPEN_END };
        rc = ep_natlog_assign(s->log, &rec);
        if (rc == EP_EEXIST) {
            if (err)
                snprintf(err->message, sizeof err->message,
                         "the log already holds an open block at the simulated start; "
                         "use a new log");
            return rc;
        }
        if (rc != 0) {
            ep_natsim_err(s->log, err, "cannot write the log", rc);
            return rc;
        }
        s->res->assigned++;
        if (*ring_n < EP_NATSIM_RECENT)
            recent[(*ring_n)++] = blk;
        else
            recent[(r >> 16) % EP_NATSIM_RECENT] = blk;
    }
    return 0;
}

/* Parse and check the configuration: the inside list (IPv4 only) and the
 * block allocator built from it.  0, or -EINVAL/-ENOMEM with err. */
static int ep_natsim_prepare(const ep_natlog_sim_config *cfg, ep_cidr **in, size_t *nin,
                             uint64_t *nsubs, ep_nat_blocks **b, ep_parse_error *err)
{
    ep_nat_blocks_config bc;
    int rc;

    *in = NULL;
    *b = NULL;
    *nsubs = 0;
    if (!cfg || !cfg->inside)
        return EP_EINVAL;
    rc = ep_cidr_list_parse(cfg->inside, in, nin, err);
    if (rc != 0) {
        if (err) {
            char why[sizeof err->message];
            snprintf(why, sizeof why, "%s", err->message);
            snprintf(err->message, sizeof err->message, "inside list: %.140s", why);
        }
        return rc;
    }
    for (size_t k = 0; k < *nin; k++) {
        if ((*in)[k].addr.family != AF_INET) {
            if (err)
                snprintf(err->message, sizeof err->message,
                         "inside list: IPv6 subscribers are not supported (NAT44)");
            free(*in);
            *in = NULL;
            return EP_EINVAL;
        }
        *nsubs += ep_cidr_size4(&(*in)[k]);
    }
    bc = cfg->blocks;
    bc.seed = cfg->seed;
    rc = ep_nat_blocks_new(&bc, b, err);
    if (rc != 0) {
        free(*in);
        *in = NULL;
    }
    return rc;
}

int ep_natlog_simulate_check(const ep_natlog_sim_config *cfg, ep_parse_error *err)
{
    ep_cidr *in;
    size_t nin = 0;
    uint64_t nsubs;
    ep_nat_blocks *b;
    int rc = ep_natsim_prepare(cfg, &in, &nin, &nsubs, &b, err);

    if (rc == 0) {
        ep_nat_blocks_free(b);
        free(in);
    }
    return rc;
}

int ep_natlog_simulate(ep_natlog *log, const ep_natlog_sim_config *cfg,
                       ep_natlog_sim_result *out, ep_parse_error *err)
{
    ep_natsim s = { .log = log, .res = out };
    ep_nat_blocks *b = NULL;
    ep_nat_block *recent = NULL;
    ep_cidr *in = NULL;
    size_t nin = 0, ring_n = 0;
    uint64_t nsubs = 0, rng;
    int rc;

    if (!log || !cfg || !out)
        return EP_EINVAL;
    memset(out, 0, sizeof *out);
    rc = ep_natsim_prepare(cfg, &in, &nin, &nsubs, &b, err);
    if (rc != 0)
        return rc;
    recent = calloc(EP_NATSIM_RECENT, sizeof *recent);
    if (!recent) {
        rc = EP_ENOMEM;
        ep_natsim_err(log, err, "simulation", rc);
        goto out;
    }
    rng = cfg->seed;
    for (uint32_t sec = 0; sec <= cfg->duration; sec++) {
        int64_t now = cfg->start + sec;
        rc = ep_nat_blocks_expire(b, now, ep_natsim_expired, &s);
        if (rc < 0) {
            ep_natsim_err(log, err, "cannot write the log", rc);
            goto out;
        }
        for (uint32_t k = 0; k < cfg->rate; k++) {
            rc = ep_natsim_event(&s, b, in, nin, nsubs, now, ep_natsim_rand(&rng), recent,
                                 &ring_n, err);
            if (rc != 0)
                goto out;
        }
    }
    rc = ep_natlog_commit(log);
    if (rc != 0) {
        ep_natsim_err(log, err, "cannot commit the log", rc);
        goto out;
    }
    ep_nat_blocks_get_stats(b, &out->blocks);
out:
    free(recent);
    ep_nat_blocks_free(b);
    free(in);
    return rc;
}
