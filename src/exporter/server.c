/* server.c - the exporter's HTTP side, on libmicrohttpd.
 *
 * One internal polling thread (epoll) serves every connection, so a slow
 * client costs a socket and a small buffer, never a thread; the handler runs
 * on that thread, which also serializes scrapes (a mutex makes it explicit
 * for ep_exporter_scrape callers on other threads).  Bounds that keep bad
 * clients from stalling scrapes: a connection limit (new connections beyond
 * it wait in the listen queue, existing scrapes unaffected), an idle timeout
 * that closes slow or silent clients (so a burst delays a scrape by at most
 * that long; a sustained flood is for a firewall), and a per-connection memory pool that caps the
 * request line and headers (libmicrohttpd answers 414 / 431 beyond it).
 *
 * HTTP/1.1 requires exactly one Host header (RFC 9112 section 3.2: a
 * server MUST answer 400 to a request without one or with several);
 * libmicrohttpd only enforces it in its pedantic mode, so it is checked here
 * before anything else.
 *
 * Routes: GET|HEAD /metrics (200 text/plain 0.0.4, or 500 with the reason
 * when the host cannot be read: never stale zeros), GET|HEAD / (a landing
 * page), anything else 404; other methods 405 with an Allow header.
 *
 * With --trace the exporter keeps an eBPF tracer (ephport/trace.h) open on
 * its namespace and adds, at each scrape, the counts since the last one to
 * per-destination totals (trace-totals.c); when BPF is unusable it says so
 * once at start and serves without those counters.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include <ephport/host.h>
#include <ephport/node.h>
#include <ephport/trace.h>

#include "metrics.h"
#include "metrics-node.h"
#include "metrics-snat.h"
#include "server.h"
#include "trace-totals.h"

#if MHD_VERSION < 0x00097002
typedef int ep_mhd_result;
#else
typedef enum MHD_Result ep_mhd_result;
#endif

struct ep_exporter {
    ep_exporter_config cfg;
    ep_listen_addr bound;
    struct MHD_Daemon *daemon;
    int fd;
    pthread_mutex_t lock;        /* serializes scrapes and the counters */
    uint64_t scrapes;
    uint64_t errors;
    ep_trace *trace;             /* --trace, when BPF is usable */
    ep_trace_totals *totals;
};

static int ep_exporter_drop_event(const ep_trace_failure *f, void *arg)
{
    (void)f;
    (void)arg;
    return 0; /* the exporter counts; the events themselves are `ephport trace`'s */
}

/* The tracer's counts since the last scrape, into the totals.  A failure
 * here costs the counters this interval, never the scrape. */
static void ep_exporter_trace_take(ep_exporter *e)
{
    ep_trace_interval iv;
    if (!e->trace)
        return;
    while (ep_trace_poll(e->trace, 0, ep_exporter_drop_event, NULL) > 0)
        ;
    if (ep_trace_interval_take(e->trace, &iv) == 0)
        ep_trace_totals_add(e->totals, &iv);
}

static const char ep_exporter_landing[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>ephport exporter</title></head>\n"
    "<body><h1>ephport exporter</h1>\n"
    "<p>Ephemeral port usage of this host: range, sockets by state, bind-only ports, "
    "per-destination used and free ports, conntrack, kernel counters.</p>\n"
    "<p><a href=\"/metrics\">/metrics</a> (Prometheus text format 0.0.4)</p>\n"
    "</body></html>\n";

static double ep_exporter_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --snat: the conntrack table's SNAT units, read at each scrape.  A read
 * that fails is ephport_snat_up 0 and a line on stderr, not a failed
 * scrape: the port series above are still true. */
static void ep_exporter_snat_render(ep_exporter *e, ep_strbuf *b)
{
    ep_snat_options o;
    ep_snat *s = NULL;
    int rc;

    ep_snat_options_init(&o);
    o.netns = e->cfg.netns;
    rc = ep_snat_take(&o, &s);
    if (rc != 0) {
        fprintf(stderr, "ephport exporter: --snat: cannot read the conntrack table: %s\n",
                ep_host_strerror(rc));
        s = NULL;
    }
    ep_metrics_render_snat(s, e->cfg.top, b);
    ep_snat_free(s);
}

/* --all-namespaces --trace: a namespace's label set by inode, for the
 * traced counters (the tracer sees every namespace; the scrape names them). */
struct ep_exporter_ns_labels {
    const ep_host_node *node;
    const ep_strbuf *labels;
    size_t n;
};

static const char *ep_exporter_ns_label_of(uint32_t netns, void *arg)
{
    const struct ep_exporter_ns_labels *l = arg;
    for (size_t i = 0; i < l->n; i++)
        if (ep_host_node_netns(l->node, i)->inode == netns)
            return l->labels[i].data;
    return NULL;
}

/* --all-namespaces: every namespace read (ep_host_node_take), each one's
 * series labelled, the node's top N destinations across all of them. */
static int ep_exporter_scrape_node(ep_exporter *e, char **text, size_t *len, char *why,
                                   size_t whylen)
{
    ep_host_node_options o;
    ep_host_node *node = NULL;
    ep_metrics_input *ins = NULL, self;
    ep_metrics_node_ns *ns = NULL;
    ep_strbuf *labels = NULL, b;
    const ep_host_node_dest *nd;
    size_t n, nd_n, nd_total;
    double t0 = ep_exporter_now();
    int rc;

    ep_host_node_options_init(&o);
    o.host.top = e->cfg.top;
    e->scrapes++;
    rc = ep_host_node_take(&o, &node);
    if (rc != 0) {
        snprintf(why, whylen, "cannot list the host's network namespaces: %s",
                 ep_host_strerror(rc));
        e->errors++;
        return rc;
    }
    n = ep_host_node_count(node);
    ins = calloc(n ? n : 1, sizeof *ins);
    ns = calloc(n ? n : 1, sizeof *ns);
    labels = calloc(n ? n : 1, sizeof *labels);
    if (!ins || !ns || !labels) {
        rc = -ENOMEM;
        goto out;
    }
    nd = ep_host_node_dests(node, &nd_n, &nd_total);
    for (size_t i = 0; i < n; i++) {
        const ep_host_netns_info *id = ep_host_node_netns(node, i);
        const ep_host_snapshot *s = ep_host_node_snapshot(node, i, NULL);
        char ignore[128];
        size_t keep = 0;
        ep_strbuf_init(&labels[i]);
        ep_metrics_node_labels(&labels[i], id->inode, id->label,
                               id->container_name ? id->container_name : id->container,
                               id->pod_name ? id->pod_name : id->pod_uid);
        ns[i].labels = labels[i].data;
        if (labels[i].failed) {
            rc = -ENOMEM;
            goto out;
        }
        if (!s)
            continue;
        ep_metrics_input_from_snapshot(s, &ins[i]);
        if (ep_metrics_check(&ins[i], ignore, sizeof ignore) != 0)
            continue;   /* exported as ephport_namespace_up 0 */
        /* the node's top N: this namespace's share is a prefix of its list */
        for (size_t k = 0; k < nd_n; k++)
            keep += nd[k].netns == i;
        ins[i].ndests = keep;
        ins[i].min_count = e->cfg.min_count;
        ns[i].input = &ins[i];
    }
    memset(&self, 0, sizeof self);
    self.scrape_seconds = ep_exporter_now() - t0;
    self.exporter_stats = true;
    self.scrapes = e->scrapes;
    self.scrape_errors = e->errors;
    ep_strbuf_init(&b);
    ep_metrics_render_node(&(ep_metrics_node_input){ .ns = ns, .n = n, .self = &self }, &b);
    if (e->trace) {
        struct ep_exporter_ns_labels l = { node, labels, n };
        ep_exporter_trace_take(e);
        ep_trace_totals_render(e->totals, e->cfg.top, e->cfg.min_count, ep_exporter_ns_label_of,
                               &l, &b);
    }
    if (e->cfg.snat)
        ep_exporter_snat_render(e, &b);
    *text = ep_strbuf_take(&b, len);
    rc = *text ? 0 : -ENOMEM;
out:
    if (rc == -ENOMEM)
        snprintf(why, whylen, "out of memory rendering the metrics");
    if (rc != 0)
        e->errors++;
    for (size_t i = 0; labels && i < n; i++)
        ep_strbuf_free(&labels[i]);
    free(labels);
    free(ns);
    free(ins);
    ep_host_node_free(node);
    return rc;
}

static int ep_exporter_scrape_locked(ep_exporter *e, char **text, size_t *len, char *why,
                                     size_t whylen)
{
    ep_host_options opts;
    ep_host_snapshot *snap = NULL;
    ep_metrics_input in;
    ep_strbuf b;
    double t0 = ep_exporter_now();
    int rc;

    if (e->cfg.all_namespaces)
        return ep_exporter_scrape_node(e, text, len, why, whylen);
    ep_host_options_init(&opts);
    opts.netns = e->cfg.netns;
    opts.top = e->cfg.top;
    e->scrapes++;
    rc = ep_host_snapshot_take(&opts, &snap);
    if (rc != 0) {
        snprintf(why, whylen, "cannot read the host%s%s: %s", e->cfg.netns ? " in netns " : "",
                 e->cfg.netns ? e->cfg.netns : "", ep_host_strerror(rc));
        e->errors++;
        return rc;
    }
    ep_metrics_input_from_snapshot(snap, &in);
    if ((rc = ep_metrics_check(&in, why, whylen)) != 0) {
        ep_host_snapshot_free(snap);
        e->errors++;
        return rc;
    }
    in.min_count = e->cfg.min_count;
    in.scrape_seconds = ep_exporter_now() - t0;
    in.exporter_stats = true;
    in.scrapes = e->scrapes;
    in.scrape_errors = e->errors;
    ep_strbuf_init(&b);
    ep_metrics_render(&in, &b);
    if (e->trace) {
        ep_exporter_trace_take(e);
        ep_trace_totals_render(e->totals, e->cfg.top, e->cfg.min_count, NULL, NULL, &b);
    }
    if (e->cfg.snat)
        ep_exporter_snat_render(e, &b);
    ep_host_snapshot_free(snap);
    *text = ep_strbuf_take(&b, len);
    if (!*text) {
        snprintf(why, whylen, "out of memory rendering the metrics");
        e->errors++;
        return -ENOMEM;
    }
    return 0;
}

int ep_exporter_scrape(ep_exporter *e, char **text, size_t *len, char *why, size_t whylen)
{
    int rc;
    pthread_mutex_lock(&e->lock);
    rc = ep_exporter_scrape_locked(e, text, len, why, whylen);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

static ep_mhd_result ep_exporter_reply(struct MHD_Connection *c, unsigned status,
                                       const char *type, void *body, size_t len,
                                       enum MHD_ResponseMemoryMode mode, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    ep_mhd_result ret;
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static ep_mhd_result ep_exporter_text(struct MHD_Connection *c, unsigned status, const char *msg,
                                      const char *allow)
{
    return ep_exporter_reply(c, status, "text/plain; charset=utf-8", (void *)msg, strlen(msg),
                             MHD_RESPMEM_PERSISTENT, allow);
}

static ep_mhd_result ep_exporter_metrics(ep_exporter *e, struct MHD_Connection *c)
{
    char why[512], *text = NULL, *msg;
    size_t len = 0;
    int rc = ep_exporter_scrape(e, &text, &len, why, sizeof why);
    if (rc == 0)
        return ep_exporter_reply(c, MHD_HTTP_OK, EP_METRICS_CONTENT_TYPE, text, len,
                                 MHD_RESPMEM_MUST_FREE, NULL);
    fprintf(stderr, "ephport exporter: scrape failed: %s\n", why);
    if (asprintf(&msg, "scrape failed: %s\n", why) < 0)
        return ep_exporter_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "scrape failed\n", NULL);
    return ep_exporter_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", msg,
                             strlen(msg), MHD_RESPMEM_MUST_FREE, NULL);
}

static ep_mhd_result ep_exporter_count_host(void *cls, enum MHD_ValueKind kind,
                                            const char *key, const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        (*(unsigned *)cls)++;
    return MHD_YES;
}

/* An HTTP/1.1 request must carry exactly one Host header. */
static bool ep_exporter_host_ok(struct MHD_Connection *c, const char *version)
{
    unsigned hosts = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, ep_exporter_count_host, &hosts);
    if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
        return hosts == 1;
    return hosts <= 1;
}

static ep_mhd_result ep_exporter_handle(void *cls, struct MHD_Connection *c, const char *url,
                                        const char *method, const char *version,
                                        const char *upload, size_t *upload_size, void **state)
{
    static int headers_seen;
    ep_exporter *e = cls;
    (void)upload;
    if (*state == NULL && !ep_exporter_host_ok(c, version))
        return ep_exporter_text(c, MHD_HTTP_BAD_REQUEST,
                                "bad request: HTTP/1.1 needs exactly one Host header\n", NULL);
    /* Other methods are refused at once (libmicrohttpd then closes the
     * connection instead of reading a body we do not want). */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return ep_exporter_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
                                "GET, HEAD");
    /* GET/HEAD: answer once the whole request is in (first call: headers
     * only; a body, if any, is discarded), so the connection can be kept
     * alive for the next scrape. */
    if (*state == NULL) {
        *state = &headers_seen;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") == 0)
        return ep_exporter_metrics(e, c);
    if (strcmp(url, "/") == 0)
        return ep_exporter_reply(c, MHD_HTTP_OK, "text/html; charset=utf-8",
                                 (void *)ep_exporter_landing, sizeof ep_exporter_landing - 1,
                                 MHD_RESPMEM_PERSISTENT, NULL);
    return ep_exporter_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", NULL);
}

/* What start made before serving: the lock and the tracer. */
static void ep_exporter_free(ep_exporter *e)
{
    ep_trace_close(e->trace);
    ep_trace_totals_free(e->totals);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

int ep_exporter_start(const ep_exporter_config *cfg, ep_exporter **out, char *why,
                      size_t whylen)
{
    ep_exporter *e = calloc(1, sizeof *e);
    char *text = NULL;
    size_t len;
    int rc;

    if (!e) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    e->cfg = *cfg;
    if (!e->cfg.max_connections)
        e->cfg.max_connections = 256;
    if (!e->cfg.timeout_s)
        e->cfg.timeout_s = 10;
    if (!e->cfg.request_memory)
        e->cfg.request_memory = 16 * 1024;
    pthread_mutex_init(&e->lock, NULL);
    if (e->cfg.trace) {
        /* One namespace's, or (--all-namespaces) every one's: then each
         * count carries its namespace's inode, labelled at the scrape. */
        ep_trace_opts topts = { .netns = e->cfg.all_namespaces ? NULL
                                         : e->cfg.netns       ? e->cfg.netns
                                                              : "/proc/self/ns/net" };
        char twhy[512];
        e->totals = ep_trace_totals_new();
        int trc = e->totals ? ep_trace_open(&topts, &e->trace, twhy, sizeof twhy) : -ENOMEM;
        if (trc != 0) {
            /* Said once; the exporter serves what it served without --trace. */
            fprintf(stderr, "ephport exporter: --trace: cannot trace: %s; serving without "
                            "ephport_connect_attempts_total and _failures_total\n",
                    trc == -ENOMEM ? "out of memory" : twhy);
            ep_trace_totals_free(e->totals);
            e->totals = NULL;
            e->trace = NULL;
        }
    }

    /* A first read: a namespace we cannot enter is a configuration error,
     * better reported now than as 500s later.  Other read problems may be
     * transient: warn and serve (scrapes answer 500 while they last). */
    rc = ep_exporter_scrape(e, &text, &len, why, whylen);
    free(text);
    if (rc == -ENOENT || rc == -EPERM || rc == -EINVAL || rc == -ENOMEM) {
        ep_exporter_free(e);
        return rc;
    }
    if (rc != 0)
        fprintf(stderr, "ephport exporter: warning: %s\n", why);
    e->scrapes = e->errors = 0;

    e->fd = ep_listen_open(&cfg->listen, 128, &e->bound, why, whylen);
    if (e->fd < 0) {
        rc = e->fd;
        ep_exporter_free(e);
        return rc;
    }
    e->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, ep_exporter_handle, e,
        MHD_OPTION_LISTEN_SOCKET, e->fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)e->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)e->cfg.timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)e->cfg.request_memory,
        MHD_OPTION_END);
    if (!e->daemon) {
        snprintf(why, whylen, "libmicrohttpd could not start");
        close(e->fd);
        ep_exporter_free(e);
        return -EIO;
    }
    *out = e;
    return 0;
}

const ep_listen_addr *ep_exporter_address(const ep_exporter *e)
{
    return &e->bound;
}

void ep_exporter_stop(ep_exporter *e)
{
    if (!e)
        return;
    MHD_stop_daemon(e->daemon); /* also closes the listening socket it was given */
    ep_exporter_free(e);
}
