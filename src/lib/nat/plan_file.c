/* plan_file.c - plan histories: which deterministic plan was in force when.
 *
 * Deterministic NAT needs no log only while the plan is known for every
 * past moment, so plans are never edited in place: a new plan is appended
 * with the time it takes effect, and `whois --at T` picks the last plan
 * whose valid-from is <= T.  The format is one plan per line (see
 * ephport/nat.h) so that it diffs, greps and survives hand-editing, and the
 * library needs no JSON.  The parser is strict and names the line of any
 * problem; every plan is fully validated by ep_nat_plan_new() on load.
 *
 * Format 2 ends every plan line with " sum=" and 16 hex digits: 64-bit
 * FNV-1a of the line before it.  A changed digit anywhere in the line is
 * refused with the line named (one changed byte always changes the sum:
 * natlog_record.c says why); the sum detects accidents and damage, not a
 * deliberate edit by someone who recomputes it.  Format-1 files (no sums)
 * are still read; the next append rewrites them as format 2, sealing every
 * line as it then reads (after it parsed and validated).
 *
 * Appends are all-or-nothing and serialised: the writer takes flock(2) on
 * the history itself, re-checks after locking that the path still names
 * the inode it locked (an append that finished meanwhile renamed a new
 * file over it: then it locks again), reads the history from that inode,
 * writes the whole new file to a temporary file beside it with the old
 * file's mode (and owner, when allowed), fsyncs it, renames it over the
 * history, fsyncs the directory, and only then unlocks.  A new history
 * is written the same way and link(2)ed into place (mode 0600 from
 * mkstemp), so it too appears whole; if another writer created it first,
 * the append starts over on that one.  Readers need no lock: rename and
 * link are atomic.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ephport/nat.h>

#define EP_HISTORY_MAGIC_1 "ephport-nat-plans 1"
#define EP_HISTORY_MAGIC "ephport-nat-plans 2"
#define EP_HISTORY_SUM " sum="
#define EP_HISTORY_SUM_DIGITS 16

/* 64-bit FNV-1a of a plan line's text before " sum=". */
static uint64_t ep_hist_line_sum(const char *text, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)text[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* A format-2 line: check and strip its " sum=XXXXXXXXXXXXXXXX" (line is
 * writable and NUL-terminated).  0 or -EINVAL with err. */
static int ep_hist_check_sum(char *line, size_t lineno, size_t off, ep_parse_error *err);

struct ep_nat_history_entry {
    int64_t from;
    ep_nat_plan *plan;
};

struct ep_nat_history {
    struct ep_nat_history_entry *e;
    size_t n, cap;
};

static int ep_hist_fail(ep_parse_error *err, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ep_hist_fail(ep_parse_error *err, size_t off, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->offset = off;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return EP_EINVAL;
}

void ep_nat_history_free(ep_nat_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        ep_nat_plan_free(h->e[i].plan);
    free(h->e);
    free(h);
}

/* Parse "plan k=v k=v ..." (line is a writable copy, NUL-terminated). */
static int ep_hist_plan_line(ep_nat_history *h, char *line, size_t lineno, size_t off,
                             ep_parse_error *err)
{
    char *save = NULL, *tok;
    const char *from = NULL, *inside = NULL, *outside = NULL, *ports = NULL, *bs = NULL;
    ep_nat_config cfg = { 0 };
    ep_parse_error e;
    int64_t t;
    int rc;

    tok = strtok_r(line, " \t", &save);   /* "plan" */
    while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
        char *eq = strchr(tok, '=');
        const char **slot;
        if (!eq)
            return ep_hist_fail(err, off, "line %zu: '%.40s' is not KEY=VALUE", lineno, tok);
        *eq = '\0';
        if (strcmp(tok, "valid-from") == 0)
            slot = &from;
        else if (strcmp(tok, "inside") == 0)
            slot = &inside;
        else if (strcmp(tok, "outside") == 0)
            slot = &outside;
        else if (strcmp(tok, "ports") == 0)
            slot = &ports;
        else if (strcmp(tok, "block-size") == 0)
            slot = &bs;
        else
            return ep_hist_fail(err, off, "line %zu: unknown key '%.40s'", lineno, tok);
        if (*slot)
            return ep_hist_fail(err, off, "line %zu: key '%s' given twice", lineno, tok);
        *slot = eq + 1;
    }
    if (!from || !inside || !outside || !ports || !bs)
        return ep_hist_fail(err, off,
                            "line %zu: a plan needs valid-from, inside, outside, ports and "
                            "block-size",
                            lineno);
    if (ep_nat_time_parse(from, &t) != 0)
        return ep_hist_fail(err, off, "line %zu: valid-from '%.40s' is not a UTC time", lineno,
                            from);
    if (h->n > 0 && t <= h->e[h->n - 1].from)
        return ep_hist_fail(err, off, "line %zu: valid-from %.40s is not after the previous plan's",
                            lineno, from);
    if (ep_range_parse(ports, &cfg.port_lo, &cfg.port_hi, &e) != 0)
        return ep_hist_fail(err, off, "line %zu: ports: %s", lineno, e.message);
    {
        size_t d = strspn(bs, "0123456789");
        if (d == 0 || d > 5 || bs[d] != '\0' || bs[0] == '0' || atoi(bs) > 65535)
            return ep_hist_fail(err, off, "line %zu: block-size '%.20s' is not 1..65535",
                                lineno, bs);
        cfg.block_size = (uint32_t)atoi(bs);
    }
    cfg.inside = inside;
    cfg.outside = outside;
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 4;
        struct ep_nat_history_entry *ne = realloc(h->e, ncap * sizeof *ne);
        if (!ne)
            return EP_ENOMEM;
        h->e = ne;
        h->cap = ncap;
    }
    rc = ep_nat_plan_new(&cfg, &h->e[h->n].plan, &e);
    if (rc == EP_EINVAL)
        return ep_hist_fail(err, off, "line %zu: %s", lineno, e.message);
    if (rc != 0)
        return rc;
    h->e[h->n].from = t;
    h->n++;
    return 0;
}

static int ep_hist_check_sum(char *line, size_t lineno, size_t off, ep_parse_error *err)
{
    char *at = strstr(line, EP_HISTORY_SUM), *end;
    size_t len = strlen(line);
    unsigned long long want;
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        line[--len] = '\0';
    if (!at || strstr(at + 1, EP_HISTORY_SUM) || strlen(at + strlen(EP_HISTORY_SUM)) !=
                                                     EP_HISTORY_SUM_DIGITS)
        return ep_hist_fail(err, off, "line %zu: no checksum (a format-2 plan line ends with "
                                      "sum= and 16 hex digits)", lineno);
    want = strtoull(at + strlen(EP_HISTORY_SUM), &end, 16);
    if (*end != '\0' || strspn(at + strlen(EP_HISTORY_SUM), "0123456789abcdef") !=
                            EP_HISTORY_SUM_DIGITS)
        return ep_hist_fail(err, off, "line %zu: the checksum is not 16 lower-case hex digits",
                            lineno);
    if (ep_hist_line_sum(line, (size_t)(at - line)) != (uint64_t)want)
        return ep_hist_fail(err, off,
                            "line %zu: checksum mismatch: the line changed after it was saved "
                            "(damaged or edited by hand)", lineno);
    *at = '\0';
    return 0;
}

int ep_nat_history_parse(const char *text, size_t len, ep_nat_history **out, ep_parse_error *err)
{
    ep_nat_history *h;
    size_t pos = 0, lineno = 0;
    bool magic = false, sums = false;
    char *line = NULL;
    int rc = 0;

    if (!text || !out)
        return ep_hist_fail(err, 0, "no plan history given");
    *out = NULL;
    if (len > EP_NAT_HISTORY_MAX_BYTES)
        return ep_hist_fail(err, 0, "plan history is larger than 64 MiB");
    if (memchr(text, '\0', len))
        return ep_hist_fail(err, (size_t)((const char *)memchr(text, '\0', len) - text),
                            "plan history contains a NUL byte");
    h = calloc(1, sizeof *h);
    line = malloc(len + 1);
    if (!h || !line) {
        free(h);
        free(line);
        return EP_ENOMEM;
    }
    while (pos < len && rc == 0) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - (text + pos)) : len - pos;
        size_t start = pos, s = 0;
        lineno++;
        memcpy(line, text + pos, llen);
        line[llen] = '\0';
        pos += llen + (nl ? 1 : 0);
        if (llen > 0 && line[llen - 1] == '\r')
            line[--llen] = '\0';
        while (line[s] == ' ' || line[s] == '\t')
            s++;
        if (line[s] == '\0' || line[s] == '#')
            continue;
        if (!magic) {
            if (strcmp(line + s, EP_HISTORY_MAGIC) == 0)
                sums = true;
            else if (strcmp(line + s, EP_HISTORY_MAGIC_1) != 0)
                rc = ep_hist_fail(err, start,
                                  "line %zu: not an ephport plan history (expected '"
                                  EP_HISTORY_MAGIC "')",
                                  lineno);
            magic = true;
            continue;
        }
        if (strncmp(line + s, "plan", 4) != 0 || (line[s + 4] != ' ' && line[s + 4] != '\t'))
            rc = ep_hist_fail(err, start, "line %zu: expected 'plan KEY=VALUE ...'", lineno);
        else if (!sums || (rc = ep_hist_check_sum(line + s, lineno, start, err)) == 0)
            rc = ep_hist_plan_line(h, line + s, lineno, start, err);
    }
    free(line);
    if (rc == 0 && !magic)
        rc = ep_hist_fail(err, 0, "empty file: not an ephport plan history");
    if (rc != 0) {
        ep_nat_history_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

static int ep_read_file(const char *path, char **text, size_t *len, ep_parse_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f) {
        int e = errno;
        if (err) {
            err->offset = 0;
            snprintf(err->message, sizeof err->message, "cannot open %.100s: %s", path,
                     strerror(e));
        }
        return e == ENOENT ? EP_ENOENT : EP_EIO;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            char *nb;
            if (cap >= EP_NAT_HISTORY_MAX_BYTES + 1)
                break;
            cap = cap ? cap * 2 : 4096;
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return EP_ENOMEM;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return ep_hist_fail(err, 0, "cannot read %.100s", path) == 0 ? 0 : EP_EIO;
    }
    fclose(f);
    *text = buf;
    *len = n;
    return 0;
}

int ep_nat_history_load(const char *path, ep_nat_history **out, ep_parse_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc;
    if (!path || !out)
        return EP_EINVAL;
    rc = ep_read_file(path, &text, &len, err);
    if (rc != 0)
        return rc;
    rc = ep_nat_history_parse(text ? text : "", len, out, err);
    free(text);
    return rc;
}

size_t ep_nat_history_count(const ep_nat_history *h)
{
    return h ? h->n : 0;
}

const ep_nat_plan *ep_nat_history_at(const ep_nat_history *h, size_t i, int64_t *from,
                                     int64_t *until)
{
    if (!h || i >= h->n)
        return NULL;
    if (from)
        *from = h->e[i].from;
    if (until)
        *until = i + 1 < h->n ? h->e[i + 1].from : INT64_MAX;
    return h->e[i].plan;
}

const ep_nat_plan *ep_nat_history_find(const ep_nat_history *h, int64_t t, int64_t *from,
                                       int64_t *until)
{
    size_t lo = 0, hi;
    if (!h || h->n == 0 || t < h->e[0].from)
        return NULL;
    hi = h->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->e[mid].from <= t)
            lo = mid;
        else
            hi = mid;
    }
    return ep_nat_history_at(h, lo, from, until);
}

/* Open and flock the history at path until the locked inode is the one
 * path names.  The fd, -ENOENT if there is no history (nothing locked), or
 * -EIO with err. */
static int ep_hist_lock(const char *path, struct stat *sb, ep_parse_error *err)
{
    for (int tries = 0; tries < 1000; tries++) {
        struct stat now;
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            return EP_ENOENT;
        if (fd < 0)
            return ep_hist_fail(err, 0, "cannot open %.100s: %s", path, strerror(errno)) ? EP_EIO
                                                                                         : EP_EIO;
        if (flock(fd, LOCK_EX) != 0 || fstat(fd, sb) != 0) {
            int e = errno;
            close(fd);
            return ep_hist_fail(err, 0, "cannot lock %.100s: %s", path, strerror(e)) ? EP_EIO
                                                                                     : EP_EIO;
        }
        if (stat(path, &now) == 0 && now.st_ino == sb->st_ino && now.st_dev == sb->st_dev)
            return fd;
        close(fd);   /* another append replaced the file meanwhile */
    }
    return ep_hist_fail(err, 0, "cannot lock %.100s: it keeps being replaced", path) ? EP_EIO
                                                                                      : EP_EIO;
}

static int ep_hist_read_fd(int fd, char **text, size_t *len, const char *path,
                           ep_parse_error *err)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        ssize_t got;
        if (n == cap) {
            char *nb;
            if (cap > EP_NAT_HISTORY_MAX_BYTES) {
                free(buf);
                return ep_hist_fail(err, 0, "plan history is larger than 64 MiB");
            }
            cap = cap ? cap * 2 : 4096;
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return EP_ENOMEM;
            }
            buf = nb;
        }
        got = pread(fd, buf + n, cap - n, (off_t)n);
        if (got < 0) {
            free(buf);
            return ep_hist_fail(err, 0, "cannot read %.100s: %s", path, strerror(errno)) ? EP_EIO
                                                                                         : EP_EIO;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    *text = buf;
    *len = n;
    return 0;
}

/* Copy a history that parsed: a format-2 one as it is, a format-1 one
 * with the format-2 mark and a sum at the end of every plan line (the rest,
 * comments included, unchanged).  Ends with a newline. */
static void ep_hist_copy(FILE *f, const char *old, size_t len)
{
    size_t pos = 0;
    bool v1 = false, magic = false;
    while (pos < len) {
        const char *line = old + pos, *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos, s = 0, e;
        pos += llen + (nl ? 1 : 0);
        while (s < llen && (line[s] == ' ' || line[s] == '\t'))
            s++;
        e = llen;
        while (e > s && (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r'))
            e--;
        if (s == e || line[s] == '#') {
            fwrite(line, 1, llen, f);
        } else if (!magic) {
            magic = true;
            v1 = e - s == strlen(EP_HISTORY_MAGIC_1) &&
                 memcmp(line + s, EP_HISTORY_MAGIC_1, e - s) == 0;
            if (v1)
                fputs(EP_HISTORY_MAGIC, f);
            else
                fwrite(line, 1, llen, f);
        } else if (v1) {
            fwrite(line, 1, e, f);
            fprintf(f, EP_HISTORY_SUM "%016llx",
                    (unsigned long long)ep_hist_line_sum(line + s, e - s));
        } else {
            fwrite(line, 1, llen, f);
        }
        fputc('\n', f);
    }
}

/* Write "plan valid-from=WHEN DESC sum=..." to f. */
static void ep_hist_write_line(FILE *f, const char *when, const char *desc)
{
    char *line = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&line, &len);
    if (!m) {
        fputs("\n", f);   /* the fflush/ferror check below cannot see this: make parse fail */
        return;
    }
    fprintf(m, "plan valid-from=%s %s", when, desc);
    fclose(m);
    fprintf(f, "%s" EP_HISTORY_SUM "%016llx\n", line,
            (unsigned long long)ep_hist_line_sum(line, len));
    free(line);
}

int ep_nat_history_append(const char *path, const ep_nat_plan *plan, int64_t valid_from,
                          ep_parse_error *err)
{
    char *old = NULL, *tmp = NULL, *desc = NULL, *dir = NULL;
    char when[EP_NAT_TIME_STRLEN];
    size_t oldlen = 0;
    ep_nat_history *h = NULL;
    int rc, fd = -1, lock = -1, dlen;
    struct stat sb;
    FILE *f = NULL;

    if (!path || !plan)
        return EP_EINVAL;
    if (ep_nat_time_format(valid_from, when, sizeof when) != 0)
        return ep_hist_fail(err, 0, "valid-from is out of range");
retry:
    lock = ep_hist_lock(path, &sb, err);
    if (lock < 0 && lock != EP_ENOENT)
        return lock;
    rc = lock < 0 ? 0 : ep_hist_read_fd(lock, &old, &oldlen, path, err);
    if (rc == 0 && oldlen > 0) {
        rc = ep_nat_history_parse(old, oldlen, &h, err);
        if (rc == 0 && h->n > 0 && valid_from <= h->e[h->n - 1].from) {
            char last[EP_NAT_TIME_STRLEN];
            ep_nat_time_format(h->e[h->n - 1].from, last, sizeof last);
            rc = ep_hist_fail(err, 0, "valid-from %s is not after the last plan's (%s)", when,
                              last);
        }
    }
    if (rc != 0)
        goto out;
    dlen = ep_nat_plan_describe(plan, NULL, 0);
    desc = malloc((size_t)dlen + 1);
    tmp = malloc(strlen(path) + 16);
    dir = strdup(path);
    if (!desc || !tmp || !dir) {
        rc = EP_ENOMEM;
        goto out;
    }
    ep_nat_plan_describe(plan, desc, (size_t)dlen + 1);
    sprintf(tmp, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0 || (lock >= 0 && fchmod(fd, sb.st_mode & 07777) != 0) ||
        !(f = fdopen(fd, "w"))) {
        rc = ep_hist_fail(err, 0, "cannot create a temporary file beside %.100s: %s", path,
                          strerror(errno)) ? EP_EIO : 0;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        goto out;
    }
    /* keep the owner too; only root may give a file away, so EPERM is fine */
    if (lock >= 0 && fchown(fd, sb.st_uid, sb.st_gid) != 0 && errno != EPERM) {
        rc = ep_hist_fail(err, 0, "cannot keep the owner of %.100s: %s", path, strerror(errno))
                 ? EP_EIO : 0;
        fclose(f);
        unlink(tmp);
        goto out;
    }
    if (oldlen == 0)
        fputs("# ephport nat plan history: one plan per line, in force from valid-from\n"
              EP_HISTORY_MAGIC "\n", f);
    else
        ep_hist_copy(f, old, oldlen);
    ep_hist_write_line(f, when, desc);
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
        fclose(f);
        unlink(tmp);
        rc = ep_hist_fail(err, 0, "cannot write %.100s: %s", tmp, strerror(errno)) ? EP_EIO : 0;
        goto out;
    }
    fclose(f);
    if (lock < 0) {
        /* a new history appears whole or not at all, and never over one
         * another writer created meanwhile (then append to that one) */
        int e = link(tmp, path) == 0 ? 0 : errno;
        unlink(tmp);
        if (e == EEXIST) {
            free(tmp);
            free(desc);
            free(dir);
            tmp = desc = dir = NULL;
            goto retry;
        }
        if (e != 0) {
            rc = ep_hist_fail(err, 0, "cannot create %.100s: %s", path, strerror(e)) ? EP_EIO : 0;
            goto out;
        }
    } else if (rename(tmp, path) != 0) {
        unlink(tmp);
        rc = ep_hist_fail(err, 0, "cannot rename onto %.100s: %s", path, strerror(errno))
                 ? EP_EIO : 0;
        goto out;
    }
    fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
out:
    if (lock >= 0)
        close(lock);
    ep_nat_history_free(h);
    free(old);
    free(tmp);
    free(desc);
    free(dir);
    return rc;
}
