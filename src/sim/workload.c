/* workload.c - the workload model shared by `simulate` and `plan`.
 *
 * One table (ep_workload_keys) names every knob once: the config file reads
 * `key = value` lines through ep_workload_set(), and the command line turns
 * each key into a flag of the same name (`--rate 600` == `rate = 600`), so the
 * two can never drift apart.  Values are checked strictly here, with messages
 * that say what was expected; checks that involve several keys wait for
 * ep_workload_check(), once everything is set.
 *
 * The port rules: `semantics` picks the engine's EP_SEM_LINUX (what the Linux
 * kernel grants: UDP ports exclusive per local address, EAGAIN; TIME_WAIT
 * as the kernel keeps it) or EP_SEM_STACK; unset, the linux profile means
 * linux and every other profile stack.  tw_reuse takes tcp_tw_reuse's own
 * values too: 2 is tw_reuse limited to loopback ends (tw_reuse_loopback).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ephport/capacity.h>
#include <ephport/portset.h>
#include <ephport/profile.h>

#include "workload.h"

const ep_workload_key ep_workload_keys[] = {
    { "rate", "RATE", "new requests per second over all destinations (> 0)" },
    { "arrivals", "KIND", "constant, poisson, burst:N (N at once), or trace" },
    { "duration", "DIST", "request duration: SECONDS, constant:S, exponential:MEAN, lognormal:MEAN:SIGMA" },
    { "destinations", "N", "number of destinations (remote address, port)" },
    { "zipf", "S", "Zipf skew of destination popularity (0 = uniform)" },
    { "weights", "W,W,...", "explicit destination weights (sets destinations)" },
    { "port", "PORT", "remote port of the destinations (default 443)" },
    { "protocol", "tcp|udp", "transport protocol (udp has no TIME_WAIT)" },
    { "close", "client|server", "who closes first; client leaves TIME_WAIT here" },
    { "requests_per_conn", "N", "requests per connection (keep-alive, pooling)" },
    { "profile", "NAME", "OS defaults: linux, windows, macos, freebsd, iana" },
    { "range", "LO-HI", "ephemeral port range (overrides the profile)" },
    { "reserved", "PORTS", "reserved ports, ip_local_reserved_ports syntax" },
    { "time_wait", "SECONDS", "TIME_WAIT length (overrides the profile)" },
    { "tw_reuse", "on|off|0|1|2", "tcp_tw_reuse: reuse TIME_WAIT ports to the same destination "
      "(1 = on; 2 = only where an end is loopback, Linux's default, never here but in a trace)" },
    { "tw_reuse_delay", "SECONDS", "age before a TIME_WAIT port may be reused (default 1)" },
    { "semantics", "linux|stack", "port rules: linux (the kernel's; default for profile linux) "
      "or stack (the idealised kernel; default for the other profiles)" },
    { "algorithm", "NAME", "random, sequential, rfc6056-1 ... rfc6056-5, linux" },
    { "sources", "N", "local source addresses" },
    { "quota", "N", "cap on ports held per owner (0 = none)" },
    { "owners", "N", "owners the connections are spread over, round robin" },
    { "length", "SECONDS", "virtual seconds to simulate" },
    { "seed", "N", "seed of the workload and of the engine" },
    { "trace", "FILE", "CSV trace of open/close events (see ephport-simulate(1))" },
    { "sample", "SECONDS", "sampling interval of the time series" },
};
const size_t ep_workload_nkeys = sizeof ep_workload_keys / sizeof ep_workload_keys[0];

void ep_workload_init(ep_workload *w)
{
    memset(w, 0, sizeof *w);
    w->rate = 100;
    w->arrivals = EP_ARR_POISSON;
    w->burst = 1;
    w->duration.kind = EP_DIST_EXPONENTIAL;
    w->duration.mean = 0.1;
    w->destinations = 1;
    w->port = 443;
    w->proto = EP_PROTO_TCP;
    w->requests_per_conn = 1;
    strcpy(w->profile, "linux");
    w->tw_reuse_delay = 1.0;
    w->algorithm = EP_ALG_RANDOM;
    w->sources = 1;
    w->owners = 1;
    w->length = 300;
    w->seed = 1;
    w->sample = 1;
}

void ep_workload_free(ep_workload *w)
{
    free(w->weights);
    free(w->reserved);
    free(w->trace);
    w->weights = NULL;
    w->reserved = NULL;
    w->trace = NULL;
}

int ep_workload_copy(ep_workload *dst, const ep_workload *src)
{
    *dst = *src;
    dst->weights = NULL;
    dst->reserved = NULL;
    dst->trace = NULL;
    if (src->weights) {
        dst->weights = malloc(src->destinations * sizeof(double));
        if (!dst->weights)
            goto fail;
        memcpy(dst->weights, src->weights, src->destinations * sizeof(double));
    }
    if (src->reserved && !(dst->reserved = strdup(src->reserved)))
        goto fail;
    if (src->trace && !(dst->trace = strdup(src->trace)))
        goto fail;
    return 0;
fail:
    ep_workload_free(dst);
    return -ENOMEM;
}

static int ep_wl_double(const char *v, double min, double max, bool min_open, double *out)
{
    char *end;
    double d;
    if (!*v)
        return -EINVAL;
    errno = 0;
    d = strtod(v, &end);
    if (errno || *end || !isfinite(d) || d < min || d > max || (min_open && d == min))
        return -EINVAL;
    *out = d;
    return 0;
}

static int ep_wl_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long u;
    if (*v < '0' || *v > '9')
        return -EINVAL;
    errno = 0;
    u = strtoull(v, &end, 10);
    if (errno || *end || u < min || u > max)
        return -EINVAL;
    *out = u;
    return 0;
}

static int ep_wl_bool(const char *v, bool *out)
{
    static const char *yes[] = { "on", "yes", "true", "1" }, *no[] = { "off", "no", "false", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

static int ep_wl_set_weights(ep_workload *w, const char *v, char *msg, size_t len)
{
    size_t n = 1, i = 0;
    double *ws;
    char *copy, *tok;
    for (const char *p = v; *p; p++)
        n += *p == ',';
    if (n > EP_WL_MAX_DESTINATIONS) {
        snprintf(msg, len, "weights: at most %u destinations", EP_WL_MAX_DESTINATIONS);
        return -EINVAL;
    }
    ws = malloc(n * sizeof *ws);
    copy = strdup(v);
    if (!ws || !copy) {
        free(ws);
        free(copy);
        snprintf(msg, len, "out of memory");
        return -ENOMEM;
    }
    /* strtok_r would skip empty fields; walk by hand so "1,,2" is an error. */
    tok = copy;
    for (;;) {
        char *comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        if (ep_wl_double(tok, 0, 1e12, true, &ws[i]) != 0) {
            snprintf(msg, len, "weights: '%s' is not a positive number (expected W,W,...)", tok);
            free(ws);
            free(copy);
            return -EINVAL;
        }
        i++;
        if (!comma)
            break;
        tok = comma + 1;
    }
    free(copy);
    free(w->weights);
    w->weights = ws;
    w->destinations = (uint32_t)n;
    return 0;
}

static int ep_wl_set_string(char **slot, const char *v, char *msg, size_t len)
{
    char *s = strdup(v);
    if (!s) {
        snprintf(msg, len, "out of memory");
        return -ENOMEM;
    }
    free(*slot);
    *slot = s;
    return 0;
}

/* The canonical key name: '-' and '_' are the same. */
static bool ep_wl_key_is(const char *key, const char *name)
{
    for (; *key && *name; key++, name++) {
        char a = *key == '-' ? '_' : *key;
        if (a != *name)
            return false;
    }
    return *key == *name;
}

int ep_workload_set(ep_workload *w, const char *key, const char *v, char *msg, size_t len)
{
    uint64_t u;
    double d;
    ep_parse_error perr;

#define BAD(...)                           \
    do {                                   \
        snprintf(msg, len, __VA_ARGS__);   \
        return -EINVAL;                    \
    } while (0)

    if (!key || !v)
        BAD("missing key or value");
    if (ep_wl_key_is(key, "rate")) {
        if (ep_wl_double(v, 0, 1e9, true, &d) != 0)
            BAD("rate must be a positive number of requests per second (at most 1e9), not '%s'", v);
        w->rate = d;
    } else if (ep_wl_key_is(key, "arrivals")) {
        if (strcmp(v, "constant") == 0) {
            w->arrivals = EP_ARR_CONSTANT;
        } else if (strcmp(v, "poisson") == 0) {
            w->arrivals = EP_ARR_POISSON;
        } else if (strcmp(v, "trace") == 0) {
            w->arrivals = EP_ARR_TRACE;
        } else if (strncmp(v, "burst:", 6) == 0) {
            if (ep_wl_u64(v + 6, 1, 1000000, &u) != 0)
                BAD("burst:N needs N in 1..1000000, not '%s'", v + 6);
            w->arrivals = EP_ARR_BURST;
            w->burst = (uint32_t)u;
        } else {
            BAD("unknown arrivals '%s' (constant, poisson, burst:N, trace)", v);
        }
    } else if (ep_wl_key_is(key, "duration")) {
        ep_dist dist;
        char m[EP_WL_MSG];
        if (ep_dist_parse(v, &dist, m, sizeof m) != 0)
            BAD("duration: %s", m);
        w->duration = dist;
    } else if (ep_wl_key_is(key, "destinations")) {
        if (ep_wl_u64(v, 1, EP_WL_MAX_DESTINATIONS, &u) != 0)
            BAD("destinations must be a whole number in 1..%u, not '%s'", EP_WL_MAX_DESTINATIONS, v);
        free(w->weights);
        w->weights = NULL;
        w->destinations = (uint32_t)u;
    } else if (ep_wl_key_is(key, "zipf")) {
        if (ep_wl_double(v, 0, 10, false, &d) != 0)
            BAD("zipf must be a number in [0, 10], not '%s'", v);
        w->zipf = d;
    } else if (ep_wl_key_is(key, "weights")) {
        return ep_wl_set_weights(w, v, msg, len);
    } else if (ep_wl_key_is(key, "port")) {
        if (ep_wl_u64(v, 1, 65535, &u) != 0)
            BAD("port must be in 1..65535, not '%s'", v);
        w->port = (uint16_t)u;
    } else if (ep_wl_key_is(key, "protocol")) {
        if (strcmp(v, "tcp") == 0)
            w->proto = EP_PROTO_TCP;
        else if (strcmp(v, "udp") == 0)
            w->proto = EP_PROTO_UDP;
        else
            BAD("protocol must be tcp or udp, not '%s'", v);
    } else if (ep_wl_key_is(key, "close")) {
        if (strcmp(v, "client") == 0)
            w->server_closes = false;
        else if (strcmp(v, "server") == 0)
            w->server_closes = true;
        else
            BAD("close must be client or server, not '%s'", v);
    } else if (ep_wl_key_is(key, "requests_per_conn")) {
        if (ep_wl_u64(v, 1, EP_WL_MAX_RPC, &u) != 0)
            BAD("requests_per_conn must be a whole number in 1..%u, not '%s'", EP_WL_MAX_RPC, v);
        w->requests_per_conn = (uint32_t)u;
    } else if (ep_wl_key_is(key, "profile")) {
        if (!ep_profile_find(v) || strlen(v) >= sizeof w->profile)
            BAD("unknown profile '%s' (see `ephport profiles`)", v);
        strcpy(w->profile, v);
    } else if (ep_wl_key_is(key, "range")) {
        uint16_t lo, hi;
        if (ep_range_parse(v, &lo, &hi, &perr) != 0)
            BAD("range '%s': %s", v, perr.message);
        w->range_set = true;
        w->lo = lo;
        w->hi = hi;
    } else if (ep_wl_key_is(key, "reserved")) {
        static ep_portset set;
        if (ep_portset_parse(v, &set, &perr) != 0)
            BAD("reserved '%s': %s", v, perr.message);
        return ep_wl_set_string(&w->reserved, v, msg, len);
    } else if (ep_wl_key_is(key, "time_wait")) {
        if (ep_wl_double(v, 0, 86400, false, &d) != 0)
            BAD("time_wait must be a number of seconds in [0, 86400], not '%s'", v);
        w->time_wait_set = true;
        w->time_wait = d;
    } else if (ep_wl_key_is(key, "tw_reuse")) {
        if (strcmp(v, "2") == 0) {
            w->tw_reuse = true;
            w->tw_reuse_loopback = true;
        } else if (ep_wl_bool(v, &w->tw_reuse) == 0) {
            w->tw_reuse_loopback = false;
        } else {
            BAD("tw_reuse must be on or off (or tcp_tw_reuse's 0, 1, 2), not '%s'", v);
        }
    } else if (ep_wl_key_is(key, "semantics")) {
        if (strcmp(v, "linux") == 0)
            w->semantics = EP_SEM_LINUX;
        else if (strcmp(v, "stack") == 0)
            w->semantics = EP_SEM_STACK;
        else
            BAD("semantics must be linux or stack, not '%s'", v);
        w->semantics_set = true;
    } else if (ep_wl_key_is(key, "tw_reuse_delay")) {
        if (ep_wl_double(v, 0, 86400, false, &d) != 0)
            BAD("tw_reuse_delay must be a number of seconds in [0, 86400], not '%s'", v);
        w->tw_reuse_delay = d;
    } else if (ep_wl_key_is(key, "algorithm")) {
        ep_algorithm alg;
        if (ep_algorithm_from_name(v, &alg) != 0)
            BAD("unknown algorithm '%s' (random, sequential, rfc6056-1 ... rfc6056-5, linux)", v);
        w->algorithm = alg;
    } else if (ep_wl_key_is(key, "sources")) {
        if (ep_wl_u64(v, 1, EP_WL_MAX_SOURCES, &u) != 0)
            BAD("sources must be a whole number in 1..%u, not '%s'", EP_WL_MAX_SOURCES, v);
        w->sources = (uint32_t)u;
    } else if (ep_wl_key_is(key, "quota")) {
        if (ep_wl_u64(v, 0, 65535u * EP_WL_MAX_SOURCES, &u) != 0)
            BAD("quota must be a whole number of ports (0 = none), not '%s'", v);
        w->quota = (uint32_t)u;
    } else if (ep_wl_key_is(key, "owners")) {
        if (ep_wl_u64(v, 1, 1000000, &u) != 0)
            BAD("owners must be a whole number in 1..1000000, not '%s'", v);
        w->owners = (uint32_t)u;
    } else if (ep_wl_key_is(key, "length")) {
        if (ep_wl_double(v, 0, EP_WL_MAX_LENGTH, true, &d) != 0)
            BAD("length must be a positive number of virtual seconds (at most one year), not '%s'", v);
        w->length = d;
        w->length_set = true;
    } else if (ep_wl_key_is(key, "seed")) {
        if (ep_wl_u64(v, 0, UINT64_MAX, &u) != 0)
            BAD("seed must be a whole non-negative number, not '%s'", v);
        w->seed = u;
    } else if (ep_wl_key_is(key, "trace")) {
        if (!*v)
            BAD("trace needs a file name");
        if (ep_wl_set_string(&w->trace, v, msg, len) != 0)
            return -ENOMEM;
        w->arrivals = EP_ARR_TRACE;
    } else if (ep_wl_key_is(key, "sample")) {
        if (ep_wl_double(v, 0.001, 86400, false, &d) != 0)
            BAD("sample must be a number of seconds in [0.001, 86400], not '%s'", v);
        w->sample = d;
    } else {
        BAD("unknown key '%s' (see ephport-simulate(1) for the list)", key);
    }
    return 0;
#undef BAD
}

static char *ep_wl_trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

int ep_workload_parse(ep_workload *w, const char *text, const char *origin, char *msg,
                      size_t len)
{
    char *copy = strdup(text ? text : ""), *line, *next;
    unsigned lineno = 0;
    int rc = 0;

    if (!copy) {
        snprintf(msg, len, "out of memory");
        return -ENOMEM;
    }
    for (line = copy; line && rc == 0; line = next) {
        char *eq, *key, *val, *hash, m[EP_WL_MSG];
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        line = ep_wl_trim(line);
        if (!*line)
            continue;
        eq = strchr(line, '=');
        if (!eq) {
            snprintf(msg, len, "%s:%u: expected 'key = value', got '%.60s'", origin, lineno, line);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        key = ep_wl_trim(line);
        val = ep_wl_trim(eq + 1);
        if (!*key) {
            snprintf(msg, len, "%s:%u: missing key before '='", origin, lineno);
            rc = -EINVAL;
            break;
        }
        rc = ep_workload_set(w, key, val, m, sizeof m);
        if (rc != 0)
            snprintf(msg, len, "%s:%u: %s", origin, lineno, m);
    }
    free(copy);
    return rc;
}

int ep_workload_load(ep_workload *w, const char *path, char *msg, size_t len)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;
    int rc;

    if (!f) {
        snprintf(msg, len, "%s: %s", path, strerror(errno));
        return -errno;
    }
    buf = malloc((1u << 20) + 1);
    if (!buf) {
        fclose(f);
        snprintf(msg, len, "out of memory");
        return -ENOMEM;
    }
    n = fread(buf, 1, 1u << 20, f);
    if (ferror(f) || (n == 1u << 20 && fgetc(f) != EOF)) {
        snprintf(msg, len, "%s: %s", path, ferror(f) ? "read error" : "larger than 1 MiB");
        free(buf);
        fclose(f);
        return -EINVAL;
    }
    fclose(f);
    if (memchr(buf, '\0', n)) {
        snprintf(msg, len, "%s: contains a NUL byte; not a text config file", path);
        free(buf);
        return -EINVAL;
    }
    buf[n] = '\0';
    rc = ep_workload_parse(w, buf, path, msg, len);
    free(buf);
    return rc;
}

int ep_workload_check(const ep_workload *w, char *msg, size_t len)
{
    ep_pool_config cfg;
    if (w->arrivals == EP_ARR_TRACE && !w->trace) {
        snprintf(msg, len, "arrivals = trace needs trace = FILE");
        return -EINVAL;
    }
    if (w->length / w->sample > 10000000.0) {
        snprintf(msg, len, "length / sample gives more than 10 million samples; raise sample");
        return -EINVAL;
    }
    return ep_workload_pool_config(w, &cfg, msg, len);
}

ep_semantics ep_workload_semantics(const ep_workload *w)
{
    if (w->semantics_set)
        return w->semantics;
    return strcmp(w->profile, "linux") == 0 ? EP_SEM_LINUX : EP_SEM_STACK;
}

int ep_workload_tcp_tw_reuse(const ep_workload *w)
{
    return !w->tw_reuse ? 0 : w->tw_reuse_loopback ? 2 : 1;
}

double ep_workload_time_wait_nominal(const ep_workload *w)
{
    const ep_profile *p = ep_profile_find(w->profile);
    if (w->time_wait_set)
        return w->time_wait;
    return p ? p->time_wait_ms / 1000.0 : 0;
}

static ep_time ep_wl_time_wait_ns(const ep_workload *w)
{
    ep_time nominal = (ep_time)llround(ep_workload_time_wait_nominal(w) * 1e9);
    if (nominal > 0 && ep_workload_semantics(w) == EP_SEM_LINUX)
        return ep_linux_time_wait_upper(nominal);
    return nominal;
}

double ep_workload_time_wait_kept(const ep_workload *w)
{
    return ep_wl_time_wait_ns(w) / 1e9;
}

int ep_workload_pool_config(const ep_workload *w, ep_pool_config *cfg, char *msg, size_t len)
{
    const ep_profile *p = ep_profile_find(w->profile);
    ep_portset set;
    ep_parse_error perr;

    memset(cfg, 0, sizeof *cfg);
    if (!p) {
        snprintf(msg, len, "unknown profile '%s'", w->profile);
        return -EINVAL;
    }
    cfg->lo = w->range_set ? w->lo : p->lo;
    cfg->hi = w->range_set ? w->hi : p->hi;
    cfg->reserved = w->reserved;
    if (w->reserved) {
        if (ep_portset_parse(w->reserved, &set, &perr) != 0) {
            snprintf(msg, len, "reserved: %s", perr.message);
            return -EINVAL;
        }
        if (ep_portset_count(&set, cfg->lo, cfg->hi) >= (uint32_t)(cfg->hi - cfg->lo + 1)) {
            snprintf(msg, len, "the reserved ports cover the whole range %u-%u", cfg->lo, cfg->hi);
            return -EINVAL;
        }
    }
    cfg->algorithm = w->algorithm;
    cfg->semantics = ep_workload_semantics(w);
    cfg->time_wait = ep_wl_time_wait_ns(w);
    cfg->tw_reuse = w->tw_reuse;
    cfg->tw_reuse_loopback = w->tw_reuse_loopback;
    cfg->tw_reuse_delay = (ep_time)llround(w->tw_reuse_delay * 1e9);
    cfg->quarantine = 0;
    cfg->owner_quota = w->quota;
    cfg->seeded = true;
    cfg->seed = w->seed;
    cfg->thread_safe = false;
    return 0;
}

void ep_workload_weights(const ep_workload *w, double *out)
{
    if (w->weights) {
        double sum = 0;
        for (uint32_t i = 0; i < w->destinations; i++)
            sum += w->weights[i];
        for (uint32_t i = 0; i < w->destinations; i++)
            out[i] = w->weights[i] / sum;
    } else {
        ep_zipf_weights(out, w->destinations, w->zipf);
    }
}

const char *ep_arrival_name(ep_arrival_kind k)
{
    switch (k) {
    case EP_ARR_CONSTANT:
        return "constant";
    case EP_ARR_POISSON:
        return "poisson";
    case EP_ARR_BURST:
        return "burst";
    default:
        return "trace";
    }
}

json_t *ep_workload_to_json(const ep_workload *w)
{
    ep_pool_config cfg;
    char dur[96], m[EP_WL_MSG];
    json_t *o;

    if (ep_workload_pool_config(w, &cfg, m, sizeof m) != 0)
        return NULL;
    ep_dist_format(&w->duration, dur, sizeof dur);
    o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "rate", json_real(w->rate));
    json_object_set_new(o, "arrivals", json_string(ep_arrival_name(w->arrivals)));
    if (w->arrivals == EP_ARR_BURST)
        json_object_set_new(o, "burst", json_integer(w->burst));
    json_object_set_new(o, "duration", json_string(dur));
    json_object_set_new(o, "destinations", json_integer(w->destinations));
    json_object_set_new(o, "zipf", json_real(w->zipf));
    json_object_set_new(o, "port", json_integer(w->port));
    json_object_set_new(o, "protocol", json_string(w->proto == EP_PROTO_UDP ? "udp" : "tcp"));
    json_object_set_new(o, "close", json_string(w->server_closes ? "server" : "client"));
    json_object_set_new(o, "requests_per_conn", json_integer(w->requests_per_conn));
    json_object_set_new(o, "profile", json_string(w->profile));
    json_object_set_new(o, "lo", json_integer(cfg.lo));
    json_object_set_new(o, "hi", json_integer(cfg.hi));
    json_object_set_new(o, "reserved", json_string(w->reserved ? w->reserved : ""));
    json_object_set_new(o, "semantics", json_string(ep_semantics_name(cfg.semantics)));
    json_object_set_new(o, "time_wait", json_real(ep_workload_time_wait_nominal(w)));
    json_object_set_new(o, "time_wait_kept", json_real(cfg.time_wait / 1e9));
    json_object_set_new(o, "tw_reuse", json_boolean(w->tw_reuse));
    json_object_set_new(o, "tcp_tw_reuse", json_integer(ep_workload_tcp_tw_reuse(w)));
    json_object_set_new(o, "tw_reuse_delay", json_real(w->tw_reuse_delay));
    json_object_set_new(o, "algorithm", json_string(ep_algorithm_name(w->algorithm)));
    json_object_set_new(o, "sources", json_integer(w->sources));
    json_object_set_new(o, "quota", json_integer(w->quota));
    json_object_set_new(o, "owners", json_integer(w->owners));
    json_object_set_new(o, "length", json_real(w->length));
    json_object_set_new(o, "seed", json_integer((json_int_t)w->seed));
    if (w->trace)
        json_object_set_new(o, "trace", json_string(w->trace));
    json_object_set_new(o, "sample", json_real(w->sample));
    return o;
}
