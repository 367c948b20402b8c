/* http-util.h - what the exporter tests share: an HTTP/1.0 GET to a
 * local port, and the value of a sample in a Prometheus exposition. */
#ifndef EP_TEST_HTTP_UTIL_H
#define EP_TEST_HTTP_UTIL_H

#include <stdint.h>

/* GET path from 127.0.0.1:port, retrying the connect for up to 5 s while
 * the server starts; the whole response (status line, headers, body),
 * malloc'd, or NULL. */
char *ep_test_http_get(uint16_t port, const char *path);

/* The value of the first sample line that starts with prefix (a metric
 * name and the start of its labels), or -1 if there is none. */
double ep_test_sample(const char *text, const char *prefix);

#endif
