/* strbuf.h - a growable text buffer for the exporter's output: append with
 * printf-style calls, remember the first allocation failure, hand the text
 * over at the end.  Failure is sticky so renderers can append freely and
 * check once. */
#ifndef EP_EXPORTER_STRBUF_H
#define EP_EXPORTER_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ep_strbuf {
    char *data;      /* NUL-terminated when len > 0 or cap > 0 */
    size_t len;
    size_t cap;
    bool failed;     /* an allocation failed; data is incomplete */
} ep_strbuf;

void ep_strbuf_init(ep_strbuf *b);
void ep_strbuf_free(ep_strbuf *b);
void ep_strbuf_append(ep_strbuf *b, const char *text, size_t len);
void ep_strbuf_puts(ep_strbuf *b, const char *text);
void ep_strbuf_printf(ep_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Take the text (caller frees) and its length; NULL if any append failed
 * (the buffer is then freed).  The buffer is empty afterwards. */
char *ep_strbuf_take(ep_strbuf *b, size_t *len);

#endif
