/* node.c - ephport/node.h: every network namespace of the host read as one
 * snapshot each (nsenum.c lists and names them), and the destinations of
 * all of them in one list ordered as a snapshot orders its own (pressure,
 * then used).  A namespace that cannot be read keeps its identity and a
 * reason, and contributes nothing to the list: never zeros.
 *
 * Bound-but-inactive TCP sockets (bind() alone) are found for every
 * namespace at once, by one BPF pass over every open file of the host
 * (bound-bpf.c), and each namespace's TCP dump leaves them out: asking
 * sock_diag for them walks the host-wide bind hash once per dump (36 ms at
 * 100,000 bound sockets), which made a node of 200 namespaces take seconds
 * (docs/BENCHMARKS.md, issue 13).  Without BPF (not privileged, no BTF, a
 * build without it) each dump asks for them as before, and the node's
 * notes say so once.
 *
 * Likewise the host-wide TCP established hash (every connected, closing,
 * TIME_WAIT and request socket of the namespaces without tables of their
 * own) is walked once for every namespace by a BPF program (ehash-bpf.c),
 * and the dumps of the namespaces it covers ask for LISTEN only: each dump
 * walked that whole table (262,144 buckets, every socket of the host) to
 * keep its own.  Without it, each dump walks the table as before, with a
 * note.  EP_HOST_NO_EHASH_WALK asks for the old way (tests compare).  The
 * walk's sockets stay under a memory budget (ep_host_ehash_budget, 16 MiB):
 * past it the node is read in rounds of namespaces whose shares fit, one
 * walk each (ep_node_read_rounds), so memory does not grow with the
 * node's socket count. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ephport/node.h>

#include "host-internal.h"

struct ep_host_node {
    ep_host_ns_list list;
    ep_host_netns_info *info;     /* [list.n], views into list */
    ep_host_snapshot **snap;      /* [list.n], NULL when unreadable */
    char **why;                   /* [list.n], NULL when read */
    size_t unreadable;
    ep_host_node_dest *dests;
    size_t ndests, total;
    ep_host_bound_pass bound;     /* the pass's sockets, when bound_ok */
    bool bound_ok;
    ep_host_ehash_walk walk;      /* the walk's sockets, when walk_ok */
    bool walk_ok;
    size_t walks;                 /* walks of the established hash made */
    atomic_size_t walk_reads;     /* namespaces whose TCP came from a walk */
    char *notes[2];               /* why a pass was not used, or none */
    size_t nnotes;
};

void ep_host_node_options_init(ep_host_node_options *opts)
{
    memset(opts, 0, sizeof *opts);
    ep_host_options_init(&opts->host);
}

/* The reason a namespace could not be read, from the snapshot's error. */
static char *ep_node_why(const ep_host_ns_entry *ns, int rc)
{
    char buf[512];

    switch (-rc) {
    case ENOENT:
    case ESRCH:
        snprintf(buf, sizeof buf, "vanished during the scan: %s is gone", ns->path);
        break;
    case ESTALE:
        snprintf(buf, sizeof buf,
                 "vanished during the scan: %s now names another namespace (pid reused)",
                 ns->path);
        break;
    case EPERM:
    case EACCES:
        snprintf(buf, sizeof buf, "cannot enter %s: %s (needs CAP_SYS_ADMIN)", ns->path,
                 strerror(-rc));
        break;
    default:
        snprintf(buf, sizeof buf, "cannot read %s: %s", ns->path, ep_host_strerror(rc));
    }
    return strdup(buf);
}

/* Pressure first, then used: the order of ep_host_snapshot_dests. */
static int ep_node_dest_order(const void *a, const void *b)
{
    const ep_host_dest *x = ((const ep_host_node_dest *)a)->dest;
    const ep_host_dest *y = ((const ep_host_node_dest *)b)->dest;
    if (x->pressure != y->pressure)
        return x->pressure > y->pressure ? -1 : 1;
    if (x->used != y->used)
        return x->used > y->used ? -1 : 1;
    /* equal keys: namespace order, then the snapshot's own order, so the
     * list is the same from run to run (qsort is not stable) */
    if (((const ep_host_node_dest *)a)->netns != ((const ep_host_node_dest *)b)->netns)
        return ((const ep_host_node_dest *)a)->netns < ((const ep_host_node_dest *)b)->netns ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int ep_node_collect(ep_host_node *node, size_t top)
{
    size_t n = 0, k = 0;

    for (size_t i = 0; i < node->list.n; i++) {
        size_t nd = 0;
        if (node->snap[i])
            ep_host_snapshot_dests(node->snap[i], &nd, NULL);
        n += nd;
    }
    node->dests = calloc(n ? n : 1, sizeof *node->dests);
    if (!node->dests)
        return -ENOMEM;
    for (size_t i = 0; i < node->list.n; i++) {
        size_t nd = 0;
        const ep_host_dest *d = node->snap[i] ? ep_host_snapshot_dests(node->snap[i], &nd, NULL)
                                              : NULL;
        for (size_t j = 0; j < nd; j++) {
            node->dests[k].netns = i;
            node->dests[k].dest = &d[j];
            k++;
        }
    }
    assert(k == n);
    qsort(node->dests, n, sizeof *node->dests, ep_node_dest_order);
    node->total = n;
    node->ndests = top && top < n ? top : n;
    return 0;
}

/* The reading threads share the list and take the next namespace from an
 * atomic counter; each writes only its own slots. */
typedef struct ep_node_job {
    ep_host_node *node;
    const ep_host_node_options *opts;
    const size_t *idx;            /* the namespaces to read, [n] */
    size_t n;
    atomic_size_t next;
    atomic_int oom;
} ep_node_job;

/* Read namespace i into its slots.  -ENOMEM only; other failures are the
 * namespace's reason. */
static int ep_node_read_one(ep_node_job *job, size_t i)
{
    ep_host_node *node = job->node;
    const ep_host_ns_entry *e = &node->list.v[i];
    ep_host_options o = job->opts->host;
    int rc;

    if (job->opts->before_read)
        job->opts->before_read(i, node->list.n, &node->info[i], job->opts->arg);
    /* the caller's own namespace is read in place; another one is read
     * without creating sockets in it (no TCP_REPAIR probes: a probe holds
     * a port of that namespace for a moment) */
    o.netns = e->self ? NULL : e->path;
    o.netns_inode = e->self ? 0 : e->inode;
    if (!e->self)
        o.flags |= EP_HOST_NO_SOCKETS;
    if (node->bound_ok || node->walk_ok) {
        ep_host_bound_given given;
        memset(&given, 0, sizeof given);
        if (node->bound_ok)
            given.v = ep_host_bound_pass_find(&node->bound, e->inode, &given.n);
        given.ask_bound = !node->bound_ok;
        bool used = false;
        given.walk = node->walk_ok ? &node->walk : NULL;
        given.netns = e->inode;
        given.walk_used = &used;
        rc = ep_host_snapshot_take_given(&o, &given, &node->snap[i]);
        if (rc == 0 && used)
            atomic_fetch_add(&node->walk_reads, 1);
    } else {
        rc = ep_host_snapshot_take(&o, &node->snap[i]);
    }
    if (rc == EP_ENOMEM)
        return rc;
    if (rc != 0) {
        node->snap[i] = NULL;
        node->why[i] = ep_node_why(e, rc);
        if (!node->why[i])
            return EP_ENOMEM;
    }
    return 0;
}

static void *ep_node_worker(void *arg)
{
    ep_node_job *job = arg;
    size_t i;

    while (!atomic_load(&job->oom) && (i = atomic_fetch_add(&job->next, 1)) < job->n)
        if (ep_node_read_one(job, job->idx[i]) != 0)
            atomic_store(&job->oom, 1);
    return NULL;
}

/* Every namespace, on as many threads as there are CPUs (at most 8): the
 * kernel's sock_diag dump of each namespace walks the host-wide socket hash,
 * so a node of many namespaces is CPU-bound in the kernel and spreads over
 * cores.  A thread that cannot be started leaves its share to the others. */
static int ep_node_read_some(ep_host_node *node, const ep_host_node_options *opts,
                             const size_t *idx, size_t n)
{
    ep_node_job job = { .node = node, .opts = opts, .idx = idx, .n = n };
    pthread_t t[8];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cpus < 1 ? 1 : cpus > 8 ? 8 : (size_t)cpus, started = 0;

    atomic_init(&job.next, 0);
    atomic_init(&job.oom, 0);
    if (nt > n)
        nt = n;
    for (size_t k = 1; k < nt; k++)
        if (pthread_create(&t[started], NULL, ep_node_worker, &job) == 0)
            started++;
    ep_node_worker(&job);
    for (size_t k = 0; k < started; k++)
        pthread_join(t[k], NULL);
    return atomic_load(&job.oom) ? EP_ENOMEM : 0;
}

size_t ep_host_ehash_budget = EP_HOST_EHASH_BUDGET;

size_t ep_host_node_walks(const ep_host_node *node)
{
    return node->walks;
}

size_t ep_host_node_walk_reads(const ep_host_node *node)
{
    return atomic_load(&node->walk_reads);
}

/* The walk went over its budget: read the namespaces in rounds, each a
 * group whose sockets (as the first walk measured them) fit the budget,
 * with a walk of its own kept for that group only.  A namespace larger
 * than the budget is a round alone; the namespaces with no socket in the
 * table (or a table of their own) go with the first.  So the sockets held
 * at once stay under the budget (or one namespace's), whatever the node
 * holds.  A round whose walk fails reads its namespaces through their
 * dumps.  -ENOMEM only. */
static int ep_node_read_rounds(ep_host_node *node, const ep_host_node_options *opts)
{
    size_t n = node->list.n, budget = node->walk.budget, *share, *idx, left = n;
    uint64_t *inodes;
    bool *done;
    int rc = 0;

    share = malloc(n * sizeof *share);
    idx = malloc(n * sizeof *idx);
    inodes = malloc(n * sizeof *inodes);
    done = calloc(n, sizeof *done);
    if (!share || !idx || !inodes || !done) {
        rc = EP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        share[i] = ep_host_ehash_walk_share(&node->walk, node->list.v[i].inode);
    ep_host_ehash_walk_free(&node->walk);
    node->walk_ok = false;
    while (left > 0 && rc == 0) {
        size_t m = 0, bytes = 0;
        char why[300] = "";
        for (size_t i = 0; i < n; i++)
            if (!done[i] && (m == 0 || share[i] == 0 || bytes + share[i] <= budget)) {
                done[i] = true;
                idx[m] = i;
                inodes[m++] = node->list.v[i].inode;
                bytes += share[i];
            }
        left -= m;
        int wr = ep_host_ehash_walk_take(&node->walk, inodes, m, 0, why, sizeof why);
        node->walks++;
        if (wr == -ENOMEM) {
            rc = EP_ENOMEM;
            break;
        }
        node->walk_ok = wr == 0;  /* else these namespaces are dumped whole */
        rc = ep_node_read_some(node, opts, idx, m);
        ep_host_ehash_walk_free(&node->walk);
        node->walk_ok = false;
    }
out:
    free(share);
    free(idx);
    free(inodes);
    free(done);
    return rc;
}

/* Every namespace: with the walk's sockets when they fitted its budget,
 * else in rounds. */
static int ep_node_read_all(ep_host_node *node, const ep_host_node_options *opts)
{
    size_t *idx;
    int rc;

    if (node->walk_ok && node->walk.over) {
        rc = ep_node_read_rounds(node, opts);
    } else {
        idx = malloc((node->list.n ? node->list.n : 1) * sizeof *idx);
        if (!idx)
            return EP_ENOMEM;
        for (size_t i = 0; i < node->list.n; i++)
            idx[i] = i;
        rc = ep_node_read_some(node, opts, idx, node->list.n);
        free(idx);
    }
    for (size_t i = 0; i < node->list.n; i++)
        if (!node->snap[i])
            node->unreadable++;
    return rc;
}

/* After a pass over the whole host (the bound-only pass, the walk): 0
 * when it worked (rc 0); -ENOMEM; else the node's note "what: why", so
 * that the slower way the dumps take is said once.  -ENOMEM only. */
static int ep_node_pass_note(ep_host_node *node, int rc, const char *what, const char *why)
{
    char note[700];

    if (rc == 0)
        return 0;
    if (rc == -ENOMEM)
        return EP_ENOMEM;
    assert(node->nnotes < sizeof node->notes / sizeof node->notes[0]);
    snprintf(note, sizeof note, "%s: %s", what, why);
    node->notes[node->nnotes] = strdup(note);
    if (!node->notes[node->nnotes])
        return EP_ENOMEM;
    node->nnotes++;
    return 0;
}

/* The bound-only TCP sockets of every namespace in one pass, when TCP is
 * read through sock_diag; a note when the pass cannot be used.  -ENOMEM
 * only. */
static int ep_node_bound_pass(ep_host_node *node, const ep_host_options *o)
{
    char why[300] = "";
    int rc;

    if ((o->flags & EP_HOST_NO_TCP) || o->source == EP_HOST_SOURCE_PROC)
        return 0;                 /* no sock_diag TCP dump to spare */
    if (o->flags & (EP_HOST_NO_BOUND_PASS | EP_HOST_NO_BPF)) {
        snprintf(why, sizeof why, "not asked for (%s)",
                 o->flags & EP_HOST_NO_BOUND_PASS ? "EP_HOST_NO_BOUND_PASS" : "EP_HOST_NO_BPF");
        rc = -ENOTSUP;
    } else {
        rc = ep_host_bound_pass_take(&node->bound, why, sizeof why);
    }
    node->bound_ok = rc == 0;
    return ep_node_pass_note(node, rc,
                             "bound-only TCP sockets were asked of each namespace's sock_diag "
                             "dump, which walks the host's whole bind table every time (slow on "
                             "a node of many namespaces): one BPF pass over every open file "
                             "could not be used",
                             why);
}

/* The host-wide TCP established hash in one walk for every namespace, when
 * TCP is read through sock_diag; a note when the walk cannot be used.
 * -ENOMEM only. */
static int ep_node_ehash_walk(ep_host_node *node, const ep_host_options *o)
{
    char why[300] = "";
    uint64_t *inodes;
    int rc;

    if ((o->flags & EP_HOST_NO_TCP) || o->source == EP_HOST_SOURCE_PROC)
        return 0;                 /* no sock_diag TCP dump to spare */
    if (o->flags & (EP_HOST_NO_EHASH_WALK | EP_HOST_NO_BPF)) {
        snprintf(why, sizeof why, "not asked for (%s)",
                 o->flags & EP_HOST_NO_EHASH_WALK ? "EP_HOST_NO_EHASH_WALK" : "EP_HOST_NO_BPF");
        rc = -ENOTSUP;
    } else {
        inodes = malloc((node->list.n ? node->list.n : 1) * sizeof *inodes);
        if (!inodes)
            return EP_ENOMEM;
        for (size_t i = 0; i < node->list.n; i++)
            inodes[i] = node->list.v[i].inode;
        rc = ep_host_ehash_walk_take(&node->walk, inodes, node->list.n, ep_host_ehash_budget,
                                     why, sizeof why);
        free(inodes);
        node->walks++;
    }
    node->walk_ok = rc == 0;
    return ep_node_pass_note(node, rc,
                             "established TCP sockets were asked of each namespace's sock_diag "
                             "dump, which walks the host's whole established hash every time "
                             "(slow on a node of many namespaces without hash tables of their "
                             "own): one BPF walk of it could not be used",
                             why);
}

int ep_host_node_take(const ep_host_node_options *opts, ep_host_node **out)
{
    ep_host_node_options defaults;
    ep_host_node *node;
    int rc;

    *out = NULL;
    if (!opts) {
        ep_host_node_options_init(&defaults);
        opts = &defaults;
    }
    if (opts->host.netns)
        return EP_EINVAL;
    node = calloc(1, sizeof *node);
    if (!node)
        return EP_ENOMEM;
    rc = ep_host_ns_list_take(&node->list, opts->host_root);
    if (rc != 0) {
        free(node);
        return rc;
    }
    node->info = calloc(node->list.n ? node->list.n : 1, sizeof *node->info);
    node->snap = calloc(node->list.n ? node->list.n : 1, sizeof *node->snap);
    node->why = calloc(node->list.n ? node->list.n : 1, sizeof *node->why);
    if (!node->info || !node->snap || !node->why) {
        ep_host_node_free(node);
        return EP_ENOMEM;
    }
    for (size_t i = 0; i < node->list.n; i++) {
        const ep_host_ns_entry *e = &node->list.v[i];
        node->info[i] = (ep_host_netns_info){
            .inode = e->inode, .self = e->self, .init = e->init, .name = e->name,
            .container = e->container, .container_name = e->container_name,
            .pod_uid = e->pod_uid, .pod_name = e->pod_name, .pid = e->pid, .comm = e->comm,
            .path = e->path, .label = e->label,
        };
    }
    rc = ep_node_bound_pass(node, &opts->host);
    if (rc == 0)
        rc = ep_node_ehash_walk(node, &opts->host);
    if (rc == 0)
        rc = ep_node_read_all(node, opts);
    if (rc != 0) {
        ep_host_node_free(node);
        return rc;
    }
    rc = ep_node_collect(node, opts->host.top);
    if (rc != 0) {
        ep_host_node_free(node);
        return rc;
    }
    *out = node;
    return 0;
}

void ep_host_node_free(ep_host_node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->list.n; i++) {
        if (node->snap)
            ep_host_snapshot_free(node->snap[i]);
        if (node->why)
            free(node->why[i]);
    }
    free(node->snap);
    free(node->why);
    free(node->info);
    free(node->dests);
    ep_host_bound_pass_free(&node->bound);
    ep_host_ehash_walk_free(&node->walk);
    for (size_t i = 0; i < node->nnotes; i++)
        free(node->notes[i]);
    ep_host_ns_list_free(&node->list);
    free(node);
}

size_t ep_host_node_count(const ep_host_node *node)
{
    return node->list.n;
}

const ep_host_netns_info *ep_host_node_netns(const ep_host_node *node, size_t i)
{
    return i < node->list.n ? &node->info[i] : NULL;
}

const ep_host_snapshot *ep_host_node_snapshot(const ep_host_node *node, size_t i,
                                              const char **why)
{
    if (i >= node->list.n) {
        if (why)
            *why = "no such namespace";
        return NULL;
    }
    if (why)
        *why = node->why[i];
    return node->snap[i];
}

const ep_host_node_dest *ep_host_node_dests(const ep_host_node *node, size_t *n, size_t *total)
{
    *n = node->ndests;
    if (total)
        *total = node->total;
    return node->ndests ? node->dests : NULL;
}

size_t ep_host_node_unreadable(const ep_host_node *node)
{
    return node->unreadable;
}

const char *const *ep_host_node_notes(const ep_host_node *node, size_t *n)
{
    *n = node->nnotes;
    return (const char *const *)node->notes;
}
