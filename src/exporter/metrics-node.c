/* metrics-node.c - the exposition of a whole node (`exporter
 * --all-namespaces`): every family once, with the samples of every
 * namespace under it, each labelled netns (inode), namespace (its label),
 * container and pod.  Each namespace is rendered by the one-snapshot
 * renderer (metrics.c) and its lines regrouped by family, so the two
 * cannot drift.  Pure, like metrics.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics-node.h"

/* One family: its HELP and TYPE lines and its samples, in first-seen order. */
typedef struct ep_family {
    char *name;
    char *head;                 /* "# HELP ...\n# TYPE ...\n" */
    ep_strbuf samples;
} ep_family;

typedef struct ep_families {
    ep_family *v;
    size_t n, cap;
    bool failed;
} ep_families;

static ep_family *ep_family_get(ep_families *f, const char *name, size_t len)
{
    for (size_t i = 0; i < f->n; i++)
        if (strlen(f->v[i].name) == len && memcmp(f->v[i].name, name, len) == 0)
            return &f->v[i];
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        ep_family *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return NULL;
        f->v = v;
        f->cap = cap;
    }
    ep_family *x = &f->v[f->n];
    memset(x, 0, sizeof *x);
    x->name = strndup(name, len);
    if (!x->name)
        return NULL;
    ep_strbuf_init(&x->samples);
    f->n++;
    return x;
}

/* The family a sample belongs to: its name up to '{' or ' '. */
static size_t ep_sample_name_len(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && line[i] != '{' && line[i] != ' ')
        i++;
    return i;
}

/* Add one namespace's exposition to the families, its samples labelled. */
static void ep_families_add(ep_families *f, const char *text, size_t len, const char *labels)
{
    size_t pos = 0;
    ep_family *cur = NULL;

    while (pos < len && !f->failed) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        if (n > 7 && memcmp(line, "# HELP ", 7) == 0) {
            const char *name = line + 7, *sp = memchr(name, ' ', n - 7);
            size_t nlen = sp ? (size_t)(sp - name) : n - 7;
            cur = ep_family_get(f, name, nlen);
            if (!cur) {
                f->failed = true;
                return;
            }
            if (!cur->head) {
                /* HELP and the TYPE line after it */
                const char *type_end = memchr(text + pos, '\n', len - pos);
                size_t hl = type_end ? (size_t)(type_end + 1 - line) : n + 1;
                cur->head = strndup(line, hl);
                if (!cur->head)
                    f->failed = true;
            }
            if (pos < len && len - pos > 7 && memcmp(text + pos, "# TYPE ", 7) == 0) {
                const char *te = memchr(text + pos, '\n', len - pos);
                pos = te ? (size_t)(te + 1 - text) : len;
            }
            continue;
        }
        if (n == 0 || line[0] == '#')
            continue;
        size_t nl_name = ep_sample_name_len(line, n);
        /* a sample of the family whose HELP came last (the renderer keeps
         * each family's samples together) */
        if (!cur || strlen(cur->name) != nl_name || memcmp(cur->name, line, nl_name) != 0) {
            cur = ep_family_get(f, line, nl_name);
            if (!cur) {
                f->failed = true;
                return;
            }
        }
        ep_strbuf_append(&cur->samples, line, nl_name);
        ep_strbuf_printf(&cur->samples, "{%s", labels);
        if (nl_name < n && line[nl_name] == '{') {
            ep_strbuf_puts(&cur->samples, ",");
            ep_strbuf_append(&cur->samples, line + nl_name + 1, n - nl_name - 1);
        } else {
            ep_strbuf_puts(&cur->samples, "}");
            ep_strbuf_append(&cur->samples, line + nl_name, n - nl_name);
        }
        ep_strbuf_puts(&cur->samples, "\n");
    }
}

void ep_metrics_node_labels(ep_strbuf *b, uint64_t inode, const char *label,
                            const char *container, const char *pod)
{
    ep_strbuf_printf(b, "netns=\"%llu\",namespace=\"", (unsigned long long)inode);
    ep_metrics_escape_label(b, label ? label : "");
    ep_strbuf_puts(b, "\",container=\"");
    ep_metrics_escape_label(b, container ? container : "");
    ep_strbuf_puts(b, "\",pod=\"");
    ep_metrics_escape_label(b, pod ? pod : "");
    ep_strbuf_puts(b, "\"");
}

void ep_metrics_render_node(const ep_metrics_node_input *in, ep_strbuf *b)
{
    ep_families f = { 0 };

    for (size_t i = 0; i < in->n && !f.failed; i++) {
        ep_strbuf one;
        char *text;
        size_t len;
        if (!in->ns[i].input)
            continue;
        ep_strbuf_init(&one);
        ep_metrics_render(in->ns[i].input, &one);
        text = ep_strbuf_take(&one, &len);
        if (!text) {
            f.failed = true;
            break;
        }
        ep_families_add(&f, text, len, in->ns[i].labels);
        free(text);
    }
    for (size_t i = 0; i < f.n && !f.failed; i++) {
        char *s;
        size_t len;
        if (f.v[i].head)
            ep_strbuf_puts(b, f.v[i].head);
        s = ep_strbuf_take(&f.v[i].samples, &len);
        if (!s) {
            f.failed = true;
            break;
        }
        ep_strbuf_append(b, s, len);
        free(s);
    }
    if (!f.failed) {
        ep_strbuf_puts(b, "# HELP ephport_namespace_up 1 if the namespace was read; 0 if it "
                          "could not be (vanished, cannot be entered, unreadable range or "
                          "sockets): its other series are left out, never zeros.\n"
                          "# TYPE ephport_namespace_up gauge\n");
        for (size_t i = 0; i < in->n; i++)
            ep_strbuf_printf(b, "ephport_namespace_up{%s} %d\n", in->ns[i].labels,
                             in->ns[i].input ? 1 : 0);
        ep_strbuf_printf(b, "# HELP ephport_namespaces Network namespaces found on the host.\n"
                            "# TYPE ephport_namespaces gauge\nephport_namespaces %zu\n",
                         in->n);
        if (in->self)
            ep_metrics_render_self(in->self, b);
    }
    for (size_t i = 0; i < f.n; i++) {
        free(f.v[i].name);
        free(f.v[i].head);
        ep_strbuf_free(&f.v[i].samples);
    }
    free(f.v);
    if (f.failed)
        b->failed = true;
}
