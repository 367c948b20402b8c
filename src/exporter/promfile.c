/* promfile.c - one snapshot to a .prom file for node_exporter's textfile
 * collector: the same renderer as /metrics (metrics.c), the atomic write of
 * textfile.c, and a timestamp series so a file that stopped being refreshed
 * can be told apart from a quiet host. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "promfile.h"
#include "textfile.h"

int ep_promfile_write(const ep_host_snapshot *snap, const char *path, double read_seconds,
                      char *why, size_t whylen)
{
    ep_metrics_input in;
    ep_strbuf b;
    struct timespec now;
    char *text;
    size_t len;
    int rc;

    ep_metrics_input_from_snapshot(snap, &in);
    if ((rc = ep_metrics_check(&in, why, whylen)) != 0)
        return rc;
    in.min_count = 1;
    in.scrape_seconds = read_seconds;
    ep_strbuf_init(&b);
    ep_metrics_render(&in, &b);
    clock_gettime(CLOCK_REALTIME, &now);
    ep_strbuf_printf(&b,
                     "# HELP ephport_last_read_timestamp_seconds When this file was written "
                     "(Unix time).\n"
                     "# TYPE ephport_last_read_timestamp_seconds gauge\n"
                     "ephport_last_read_timestamp_seconds %lld.%03ld\n",
                     (long long)now.tv_sec, now.tv_nsec / 1000000);
    text = ep_strbuf_take(&b, &len);
    if (!text) {
        snprintf(why, whylen, "out of memory rendering the metrics");
        return -ENOMEM;
    }
    rc = ep_textfile_write(path, text, len, why, whylen);
    free(text);
    return rc;
}
