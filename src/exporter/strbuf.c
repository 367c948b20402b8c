/* strbuf.c - the growable text buffer behind the exporter's renderers
 * (doubling growth, sticky failure flag; see strbuf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

void ep_strbuf_init(ep_strbuf *b)
{
    memset(b, 0, sizeof *b);
}

void ep_strbuf_free(ep_strbuf *b)
{
    free(b->data);
    ep_strbuf_init(b);
}

static bool ep_strbuf_reserve(ep_strbuf *b, size_t extra)
{
    size_t need, cap;
    char *p;
    if (b->failed)
        return false;
    if (extra > (size_t)-1 - b->len - 1) {
        b->failed = true;
        return false;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void ep_strbuf_append(ep_strbuf *b, const char *text, size_t len)
{
    if (!ep_strbuf_reserve(b, len))
        return;
    memcpy(b->data + b->len, text, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void ep_strbuf_puts(ep_strbuf *b, const char *text)
{
    ep_strbuf_append(b, text, strlen(text));
}

void ep_strbuf_printf(ep_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    char small[256];

    if (b->failed)
        return;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        ep_strbuf_append(b, small, (size_t)n);
        return;
    }
    if (!ep_strbuf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *ep_strbuf_take(ep_strbuf *b, size_t *len)
{
    char *d;
    if (b->failed) {
        ep_strbuf_free(b);
        return NULL;
    }
    if (!ep_strbuf_reserve(b, 0)) {
        ep_strbuf_free(b);
        return NULL;
    }
    d = b->data;
    if (len)
        *len = b->len;
    ep_strbuf_init(b);
    return d;
}
