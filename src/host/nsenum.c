/* nsenum.c - which network namespaces this host has, and who they are: the
 * listing behind ephport/node.h.  Every process's /proc/PID/ns/net and every
 * file under /run/netns, deduplicated by inode; for each, the lowest pid
 * inside, its command and cgroup path, and from those the container id and
 * pod UID (ep_host_cgroup_ids, a pure parser), then the names the runtimes
 * keep on disk.  Reads files only; asks no daemon. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "host-internal.h"

/* The longest run of lowercase hex digits in [s, s + n) of exactly 64
 * characters, delimited by non-hex characters: a container id. */
static const char *ep_cg_hex64(const char *s, size_t n)
{
    const char *found = NULL;
    size_t i = 0;

    while (i < n) {
        size_t j = i;
        while (j < n && (isdigit((unsigned char)s[j]) || (s[j] >= 'a' && s[j] <= 'f')))
            j++;
        if (j - i == 64)
            found = s + i;      /* the last one wins: the innermost cgroup */
        i = j > i ? j : i + 1;
    }
    return found;
}

/* "pod" + a 36-character UID (hyphens, or underscores under the systemd
 * cgroup driver) ending the path component: kubepods-...-pod<uid>.slice
 * or /kubepods/.../pod<uid>/. */
static bool ep_cg_pod(const char *s, size_t n, char *uid, size_t len)
{
    bool ok = false;

    for (size_t i = 0; i + 3 + 36 <= n; i++) {
        const char *p = s + i + 3;
        size_t k;
        if (memcmp(s + i, "pod", 3) != 0 || (i > 0 && s[i - 1] != '/' && s[i - 1] != '-'))
            continue;
        for (k = 0; k < 36; k++) {
            char c = p[k];
            bool dash = k == 8 || k == 13 || k == 18 || k == 23;
            if (dash ? (c != '-' && c != '_')
                     : !(isdigit((unsigned char)c) || (c >= 'a' && c <= 'f')))
                break;
        }
        if (k < 36 || (i + 3 + 36 < n && s[i + 3 + 36] != '/' && s[i + 3 + 36] != '.'))
            continue;
        if (len > 36) {
            for (k = 0; k < 36; k++)
                uid[k] = p[k] == '_' ? '-' : p[k];
            uid[36] = '\0';
            ok = true;
        }
    }
    return ok;
}

int ep_host_cgroup_ids(const char *text, size_t len, char *container, size_t clen,
                       char *pod_uid, size_t plen)
{
    size_t pos = 0;
    int found = 0;

    if (clen)
        container[0] = '\0';
    if (plen)
        pod_uid[0] = '\0';
    while (pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        /* "ID:CONTROLLERS:PATH": the path is after the second colon */
        const char *c1 = memchr(line, ':', n);
        const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line)) : NULL;
        pos += n + 1;
        if (!c2)
            continue;
        const char *path = c2 + 1;
        size_t plen_line = n - (size_t)(path - line);
        const char *id = ep_cg_hex64(path, plen_line);
        if (id && clen > 64 && !container[0]) {
            memcpy(container, id, 64);
            container[64] = '\0';
            found |= 1;
        }
        if (plen && !pod_uid[0] && ep_cg_pod(path, plen_line, pod_uid, plen))
            found |= 2;
    }
    return found;
}

/* ---- listing ----------------------------------------------------------- */

static int ep_ns_inode_of(const char *path, uint64_t *ino)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

static ep_host_ns_entry *ep_ns_find(ep_host_ns_list *l, uint64_t ino)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].inode == ino)
            return &l->v[i];
    return NULL;
}

static ep_host_ns_entry *ep_ns_add(ep_host_ns_list *l, uint64_t ino)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        ep_host_ns_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    memset(&l->v[l->n], 0, sizeof l->v[0]);
    l->v[l->n].inode = ino;
    return &l->v[l->n++];
}

/* /proc/PID/ns/net of every process: the lowest pid of each namespace. */
static int ep_ns_scan_proc(ep_host_ns_list *l)
{
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (!d)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char path[64], *end;
        long pid = strtol(e->d_name, &end, 10);
        uint64_t ino = 0;
        ep_host_ns_entry *ns;
        if (*end || pid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/ns/net", pid);
        if (ep_ns_inode_of(path, &ino) != 0) {
            l->unreadable_pids++;   /* exited, or not ours to read (EACCES) */
            continue;
        }
        ns = ep_ns_find(l, ino);
        if (!ns && !(ns = ep_ns_add(l, ino))) {
            closedir(d);
            return -ENOMEM;
        }
        if (!ns->pid || pid < ns->pid)
            ns->pid = (int)pid;
    }
    closedir(d);
    return 0;
}

/* /run/netns/NAME (ip-netns): names, and namespaces no process is in. */
static int ep_ns_scan_run(ep_host_ns_list *l, const char *root)
{
    char dir[4096];
    DIR *d;
    struct dirent *e;

    snprintf(dir, sizeof dir, "%s/run/netns", root);
    d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d)) != NULL) {
        char path[4096 + 256];
        uint64_t ino = 0;
        ep_host_ns_entry *ns;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (ep_ns_inode_of(path, &ino) != 0)
            continue;   /* a stale file: its namespace is gone */
        ns = ep_ns_find(l, ino);
        if (!ns && !(ns = ep_ns_add(l, ino))) {
            closedir(d);
            return -ENOMEM;
        }
        if (!ns->name || strcmp(e->d_name, ns->name) < 0) {
            char *name = strdup(e->d_name), *p = strdup(path);
            if (!name || !p) {
                free(name);
                free(p);
                closedir(d);
                return -ENOMEM;
            }
            free(ns->name);
            free(ns->run_path);
            ns->name = name;
            ns->run_path = p;
        }
    }
    closedir(d);
    return 0;
}

/* ---- identity ---------------------------------------------------------- */

static char *ep_ns_read_trimmed(const char *path)
{
    char *text = NULL;
    size_t len;
    if (ep_host_read_file(path, &text, &len) != 0)
        return NULL;
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = '\0';
    return text;
}

/* docker: /var/lib/docker/containers/ID/config.v2.json {"Name": "/web"}. */
static char *ep_ns_docker_name(const char *root, const char *id)
{
    char path[4096];
    json_t *j, *name;
    char *out = NULL;

    snprintf(path, sizeof path, "%s/var/lib/docker/containers/%s/config.v2.json", root, id);
    j = json_load_file(path, 0, NULL);
    if (!j)
        return NULL;
    name = json_object_get(j, "Name");
    if (json_is_string(name)) {
        const char *s = json_string_value(name);
        out = strdup(s[0] == '/' ? s + 1 : s);
    }
    json_decref(j);
    return out;
}

/* The first name in ROOT/SUB that match() turns into a string (malloc'd), or
 * NULL. */
static char *ep_ns_find_in_dir(const char *root, const char *sub, const char *key,
                               char *(*match)(const char *name, size_t n, const char *key))
{
    char dir[4096];
    DIR *d;
    struct dirent *e;
    char *out = NULL;

    snprintf(dir, sizeof dir, "%s/%s", root, sub);
    if (!(d = opendir(dir)))
        return NULL;
    while (!out && (e = readdir(d)) != NULL)
        out = match(e->d_name, strlen(e->d_name), key);
    closedir(d);
    return out;
}

/* /var/log/containers/POD_NAMESPACE_CONTAINER-<64 hex id>.log: the
 * container's name. */
static char *ep_ns_match_container(const char *name, size_t n, const char *id)
{
    const char *us;

    if (n < 64 + 5 + 3 || strcmp(name + n - 4, ".log") != 0 ||
        strncmp(name + n - 4 - 64, id, 64) != 0 || name[n - 4 - 65] != '-')
        return NULL;
    us = memrchr(name, '_', n - 4 - 65);
    return us ? strndup(us + 1, (size_t)(name + n - 4 - 65 - (us + 1))) : NULL;
}

/* /var/log/pods/NAMESPACE_POD_UID: "NAMESPACE/POD". */
static char *ep_ns_match_pod(const char *name, size_t n, const char *uid)
{
    const char *us;
    char *out;

    if (n < 36 + 4 || strcmp(name + n - 36, uid) != 0 || name[n - 37] != '_')
        return NULL;
    us = memchr(name, '_', n - 37);
    if (!us || us >= name + n - 37)
        return NULL;
    size_t nsl = (size_t)(us - name), podl = (size_t)(name + n - 37 - (us + 1));
    if ((out = malloc(nsl + 1 + podl + 1)) != NULL)
        snprintf(out, nsl + 1 + podl + 1, "%.*s/%.*s", (int)nsl, name, (int)podl, us + 1);
    return out;
}

/* The kubelet's logs name things: /var/log/containers gives a container's
 * name, /var/log/pods a pod's. */
static char *ep_ns_kube_container(const char *root, const char *id)
{
    return ep_ns_find_in_dir(root, "var/log/containers", id, ep_ns_match_container);
}

static char *ep_ns_kube_pod(const char *root, const char *uid)
{
    return ep_ns_find_in_dir(root, "var/log/pods", uid, ep_ns_match_pod);
}

/* Who the namespace is: from its lowest pid (command, cgroup) and the
 * runtimes' files.  Missing pieces stay NULL. */
static void ep_ns_identify(ep_host_ns_entry *ns, const char *root)
{
    char path[64], container[65], uid[37];
    char *cg = NULL;
    size_t len;

    if (!ns->pid)
        return;
    snprintf(path, sizeof path, "/proc/%d/comm", ns->pid);
    ns->comm = ep_ns_read_trimmed(path);
    snprintf(path, sizeof path, "/proc/%d/cgroup", ns->pid);
    if (ep_host_read_file(path, &cg, &len) != 0)
        return;
    ep_host_cgroup_ids(cg, len, container, sizeof container, uid, sizeof uid);
    free(cg);
    if (container[0]) {
        ns->container = strdup(container);
        ns->container_name = ep_ns_docker_name(root, container);
        if (!ns->container_name)
            ns->container_name = ep_ns_kube_container(root, container);
    }
    if (uid[0]) {
        ns->pod_uid = strdup(uid);
        ns->pod_name = ep_ns_kube_pod(root, uid);
    }
}

static int ep_ns_order(const void *a, const void *b)
{
    const ep_host_ns_entry *x = a, *y = b;
    if (x->self != y->self)
        return x->self ? -1 : 1;
    if (x->init != y->init)
        return x->init ? -1 : 1;
    if (!x->name != !y->name)
        return x->name ? -1 : 1;
    if (x->name && y->name)
        return strcmp(x->name, y->name);
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static char *ep_ns_label(const ep_host_ns_entry *ns)
{
    char buf[320];
    if (ns->init)
        snprintf(buf, sizeof buf, "host");
    else if (ns->name)
        snprintf(buf, sizeof buf, "%s", ns->name);
    else if (ns->container_name)
        snprintf(buf, sizeof buf, "%s", ns->container_name);
    else if (ns->pod_name)
        snprintf(buf, sizeof buf, "%s", ns->pod_name);
    else if (ns->container)
        snprintf(buf, sizeof buf, "%.12s", ns->container);
    else if (ns->pid)
        snprintf(buf, sizeof buf, "pid %d (%s)", ns->pid, ns->comm ? ns->comm : "?");
    else
        snprintf(buf, sizeof buf, "netns %llu", (unsigned long long)ns->inode);
    return strdup(buf);
}

int ep_host_ns_list_take(ep_host_ns_list *l, const char *root)
{
    uint64_t self = 0, init = 0;
    int rc;

    memset(l, 0, sizeof *l);
    if (!root || !*root || strcmp(root, "/") == 0)
        root = "";
    rc = ep_ns_scan_proc(l);
    if (rc == 0)
        rc = ep_ns_scan_run(l, root);
    if (rc != 0) {
        ep_host_ns_list_free(l);
        return rc;
    }
    (void)ep_ns_inode_of("/proc/thread-self/ns/net", &self);
    (void)ep_ns_inode_of("/proc/1/ns/net", &init);
    for (size_t i = 0; i < l->n; i++) {
        ep_host_ns_entry *ns = &l->v[i];
        char path[64];
        ns->self = ns->inode == self;
        ns->init = ns->inode == init;
        ep_ns_identify(ns, root);
        if (ns->run_path) {
            ns->path = strdup(ns->run_path);
        } else {
            snprintf(path, sizeof path, "/proc/%d/ns/net", ns->pid);
            ns->path = strdup(path);
        }
        ns->label = ep_ns_label(ns);
        if (!ns->path || !ns->label) {
            ep_host_ns_list_free(l);
            return -ENOMEM;
        }
    }
    qsort(l->v, l->n, sizeof l->v[0], ep_ns_order);
    return 0;
}

void ep_host_ns_list_free(ep_host_ns_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        ep_host_ns_entry *ns = &l->v[i];
        free(ns->name);
        free(ns->run_path);
        free(ns->comm);
        free(ns->container);
        free(ns->container_name);
        free(ns->pod_uid);
        free(ns->pod_name);
        free(ns->path);
        free(ns->label);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}
