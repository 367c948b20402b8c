/* trace.c - the CSV trace reader (format in trace.h and ephport-simulate(1)).
 *
 * The whole trace is checked before the simulation starts, so a bad line is
 * reported with its number and nothing runs: times must not go backwards, an
 * id may not be opened twice while open, and a close must name an open id.
 * Ids are mapped to dense connection numbers and destinations to dense
 * indexes here, so the replay needs only arrays.  Two small open-addressing
 * hash tables (linear probing, backward-shift deletion) do the mapping.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

typedef struct ep_hslot {
    uint64_t key;
    uint32_t val;
    uint32_t used;
} ep_hslot;

typedef struct ep_htab {
    ep_hslot *s;
    size_t cap, n;   /* cap is a power of two */
} ep_htab;

static uint64_t ep_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static int ep_htab_grow(ep_htab *h)
{
    size_t ncap = h->cap ? h->cap * 2 : 64;
    ep_hslot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < h->cap; i++) {
        if (!h->s[i].used)
            continue;
        size_t j = ep_mix64(h->s[i].key) & (ncap - 1);
        while (ns[j].used)
            j = (j + 1) & (ncap - 1);
        ns[j] = h->s[i];
    }
    free(h->s);
    h->s = ns;
    h->cap = ncap;
    return 0;
}

/* Slot of key, or of the empty slot where it would go. */
static size_t ep_htab_find(const ep_htab *h, uint64_t key)
{
    size_t j = ep_mix64(key) & (h->cap - 1);
    while (h->s[j].used && h->s[j].key != key)
        j = (j + 1) & (h->cap - 1);
    return j;
}

static int ep_htab_put(ep_htab *h, uint64_t key, uint32_t val)
{
    size_t j;
    if ((h->n + 1) * 2 > h->cap && ep_htab_grow(h) != 0)
        return -ENOMEM;
    j = ep_htab_find(h, key);
    if (!h->s[j].used)
        h->n++;
    h->s[j].key = key;
    h->s[j].val = val;
    h->s[j].used = 1;
    return 0;
}

static bool ep_htab_get(const ep_htab *h, uint64_t key, uint32_t *val)
{
    size_t j;
    if (!h->cap)
        return false;
    j = ep_htab_find(h, key);
    if (!h->s[j].used)
        return false;
    *val = h->s[j].val;
    return true;
}

static void ep_htab_del(ep_htab *h, uint64_t key)
{
    size_t mask = h->cap - 1, i, j;
    if (!h->cap)
        return;
    i = ep_htab_find(h, key);
    if (!h->s[i].used)
        return;
    h->s[i].used = 0;
    h->n--;
    /* Backward shift: pull later members of the cluster into the hole. */
    for (j = (i + 1) & mask; h->s[j].used; j = (j + 1) & mask) {
        size_t home = ep_mix64(h->s[j].key) & mask;
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            h->s[i] = h->s[j];
            h->s[j].used = 0;
            i = j;
        }
    }
}

void ep_trace_free(ep_trace *tr)
{
    free(tr->ev);
    free(tr->has_close);
    free(tr->dest_addr);
    free(tr->dest_port);
    memset(tr, 0, sizeof *tr);
}

static char *ep_trace_trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static int ep_trace_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    void *np;
    size_t ncap;
    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 1024;
    while (ncap < need)
        ncap *= 2;
    np = realloc(*p, ncap * elem);
    if (!np)
        return -ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

/* Destination key: FNV-1a over family, address bytes and port; equality is
 * rechecked against the stored destination, so a collision only costs a
 * probe (the table then stores a perturbed key). */
static uint64_t ep_trace_dest_key(const ep_addr *a, uint16_t port, uint64_t salt)
{
    uint64_t h = 0xcbf29ce484222325ull ^ salt;
    h = (h ^ a->family) * 0x100000001b3ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ a->u.bytes[i]) * 0x100000001b3ull;
    h = (h ^ (port >> 8)) * 0x100000001b3ull;
    return (h ^ (port & 0xff)) * 0x100000001b3ull;
}

typedef struct ep_trace_parser {
    ep_trace *tr;
    ep_htab ids, dests;
    size_t evcap, conncap, destcap;
} ep_trace_parser;

static int ep_trace_dest(ep_trace_parser *p, const ep_addr *a, uint16_t port, uint32_t *out)
{
    ep_trace *tr = p->tr;
    for (uint64_t salt = 0;; salt++) {
        uint64_t key = ep_trace_dest_key(a, port, salt);
        uint32_t idx;
        if (!ep_htab_get(&p->dests, key, &idx)) {
            size_t c1 = p->destcap;
            if (tr->ndest >= EP_TRACE_MAX_DESTINATIONS)
                return -ERANGE;
            if (ep_trace_grow((void **)&tr->dest_addr, &p->destcap, tr->ndest + 1,
                              sizeof *tr->dest_addr) != 0 ||
                ep_trace_grow((void **)&tr->dest_port, &c1, tr->ndest + 1,
                              sizeof *tr->dest_port) != 0 ||
                ep_htab_put(&p->dests, key, tr->ndest) != 0)
                return -ENOMEM;
            tr->dest_addr[tr->ndest] = *a;
            tr->dest_port[tr->ndest] = port;
            *out = tr->ndest++;
            return 0;
        }
        if (ep_addr_equal(&tr->dest_addr[idx], a) && tr->dest_port[idx] == port) {
            *out = idx;
            return 0;
        }
    }
}

/* One data line split into fields; returns 0 or -EINVAL with msg. */
static int ep_trace_line(ep_trace_parser *p, char *line, char *msg, size_t mlen)
{
    ep_trace *tr = p->tr;
    char *f[7];
    int nf = 0;
    char *end;
    double secs;
    ep_time t;
    ep_trace_event ev;
    unsigned long long id;

    memset(&ev, 0, sizeof ev);
    for (char *s = line;;) {
        char *comma = strchr(s, ',');
        if (nf == 6) {
            snprintf(msg, mlen, "too many fields (expected time,event,id,remote,port,closer)");
            return -EINVAL;
        }
        if (comma)
            *comma = '\0';
        f[nf++] = ep_trace_trim(s);
        if (!comma)
            break;
        s = comma + 1;
    }
    if (nf < 3) {
        snprintf(msg, mlen, "expected at least time,event,id; got %d field%s", nf,
                 nf == 1 ? "" : "s");
        return -EINVAL;
    }
    errno = 0;
    secs = strtod(f[0], &end);
    if (!*f[0] || *end || errno || !isfinite(secs) || secs < 0 || secs > 86400.0 * 365) {
        snprintf(msg, mlen, "time '%.40s' is not a number of seconds in [0, 31536000]", f[0]);
        return -EINVAL;
    }
    t = (ep_time)llround(secs * 1e9);
    if (tr->nev && t < tr->last) {
        snprintf(msg, mlen, "time %s is earlier than the previous event (%.9g s); the trace "
                 "must be sorted by time", f[0], tr->last / 1e9);
        return -EINVAL;
    }
    if (*f[2] < '0' || *f[2] > '9') {
        snprintf(msg, mlen, "id '%.40s' is not a whole non-negative number", f[2]);
        return -EINVAL;
    }
    errno = 0;
    id = strtoull(f[2], &end, 10);
    if (*end || errno) {
        snprintf(msg, mlen, "id '%.40s' is not a whole number below 2^64", f[2]);
        return -EINVAL;
    }
    ev.t = t;
    if (strcmp(f[1], "open") == 0) {
        ep_addr a;
        unsigned long port;
        uint32_t dummy;
        int rc;
        if (nf != 5) {
            snprintf(msg, mlen, "open needs exactly time,open,id,remote,port");
            return -EINVAL;
        }
        if (ep_htab_get(&p->ids, id, &dummy)) {
            snprintf(msg, mlen, "connection %llu is already open", id);
            return -EINVAL;
        }
        if (ep_addr_parse(f[3], &a) != 0 || ep_addr_is_wildcard(&a)) {
            snprintf(msg, mlen, "remote '%.60s' is not an IPv4 or IPv6 address", f[3]);
            return -EINVAL;
        }
        errno = 0;
        port = strtoul(f[4], &end, 10);
        if (*f[4] < '0' || *f[4] > '9' || *end || errno || port < 1 || port > 65535) {
            snprintf(msg, mlen, "port '%.40s' is not in 1..65535", f[4]);
            return -EINVAL;
        }
        if (tr->nconn >= EP_TRACE_MAX_CONNECTIONS) {
            snprintf(msg, mlen, "more than %u connections", EP_TRACE_MAX_CONNECTIONS);
            return -EINVAL;
        }
        rc = ep_trace_dest(p, &a, (uint16_t)port, &ev.dest);
        if (rc == -ERANGE) {
            snprintf(msg, mlen, "more than %u destinations", EP_TRACE_MAX_DESTINATIONS);
            return -EINVAL;
        }
        if (rc != 0 || ep_trace_grow((void **)&tr->has_close, &p->conncap, tr->nconn + 1, 1) != 0 ||
            ep_htab_put(&p->ids, id, tr->nconn) != 0)
            goto nomem;
        ev.type = EP_TRACE_OPEN;
        ev.conn = tr->nconn;
        tr->has_close[tr->nconn++] = 0;
    } else if (strcmp(f[1], "close") == 0) {
        if (!ep_htab_get(&p->ids, id, &ev.conn)) {
            snprintf(msg, mlen, "close of connection %llu, which is not open", id);
            return -EINVAL;
        }
        ev.type = EP_TRACE_CLOSE;
        ev.closer = EP_CLOSER_DEFAULT;
        if (nf == 6 && *f[5]) {
            if (strcmp(f[5], "client") == 0) {
                ev.closer = EP_CLOSER_CLIENT;
            } else if (strcmp(f[5], "server") == 0) {
                ev.closer = EP_CLOSER_SERVER;
            } else {
                snprintf(msg, mlen, "closer '%.40s' is not client or server", f[5]);
                return -EINVAL;
            }
        }
        ep_htab_del(&p->ids, id);
        tr->has_close[ev.conn] = 1;
    } else {
        snprintf(msg, mlen, "event '%.40s' is not open or close", f[1]);
        return -EINVAL;
    }
    if (ep_trace_grow((void **)&tr->ev, &p->evcap, tr->nev + 1, sizeof *tr->ev) != 0)
        goto nomem;
    tr->ev[tr->nev++] = ev;
    tr->last = t;
    return 0;
nomem:
    snprintf(msg, mlen, "out of memory");
    return -ENOMEM;
}

int ep_trace_parse(ep_trace *tr, const char *text, size_t len, const char *origin, char *msg,
                   size_t mlen)
{
    ep_trace_parser p;
    size_t pos = 0;
    unsigned long lineno = 0;
    bool first = true;
    char *line = NULL;
    size_t linecap = 0;
    int rc = 0;

    memset(tr, 0, sizeof *tr);
    memset(&p, 0, sizeof p);
    p.tr = tr;
    while (pos < len && rc == 0) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char m[200], *s;
        lineno++;
        if (memchr(text + pos, '\0', n)) {
            snprintf(msg, mlen, "%s:%lu: contains a NUL byte", origin, lineno);
            rc = -EINVAL;
            break;
        }
        if (n + 1 > linecap) {
            char *nlb = realloc(line, n + 1);
            if (!nlb) {
                rc = -ENOMEM;
                snprintf(msg, mlen, "out of memory");
                break;
            }
            line = nlb;
            linecap = n + 1;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + (nl ? 1 : 0);
        s = ep_trace_trim(line);
        if (!*s || *s == '#')
            continue;
        if (first) {
            first = false;
            if (strncmp(s, "time", 4) == 0 && (s[4] == ',' || s[4] == ' ' || !s[4]))
                continue; /* header */
        }
        rc = ep_trace_line(&p, s, m, sizeof m);
        if (rc != 0)
            snprintf(msg, mlen, "%s:%lu: %s", origin, lineno, m);
    }
    free(line);
    free(p.ids.s);
    free(p.dests.s);
    if (rc == 0 && tr->nev == 0) {
        snprintf(msg, mlen, "%s: the trace has no events", origin);
        rc = -EINVAL;
    }
    if (rc != 0)
        ep_trace_free(tr);
    return rc;
}

int ep_trace_load(ep_trace *tr, const char *path, char *msg, size_t mlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc;

    memset(tr, 0, sizeof *tr);
    if (!f) {
        snprintf(msg, mlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            char *nb = realloc(buf, cap ? cap * 2 : 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(msg, mlen, "out of memory reading %s", path);
                return -ENOMEM;
            }
            buf = nb;
            cap = cap ? cap * 2 : 65536;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        snprintf(msg, mlen, "%s: read error", path);
        return -EIO;
    }
    fclose(f);
    rc = ep_trace_parse(tr, buf, n, path, msg, mlen);
    free(buf);
    return rc;
}
