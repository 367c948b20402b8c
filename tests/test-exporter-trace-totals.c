/* test-exporter-trace-totals.c - the exporter's --trace counters
 * (src/exporter/trace-totals.c) from hand-made tracer intervals: totals
 * add up across intervals, a destination seen again keeps its total, the
 * top N by attempts and the minimum count bound the series, every
 * destination gets the four reasons, and the lost counts are summed.
 * Suite unit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "trace-totals.h"

static ep_trace_dest tt_dest(const char *remote, uint16_t port, uint64_t attempts,
                             uint64_t ok, uint64_t addrnotavail)
{
    ep_trace_dest d;
    memset(&d, 0, sizeof d);
    d.netns = 4026531840u;
    d.proto = 6;
    assert_int_equal(ep_addr_parse("10.0.0.1", &d.local), 0);
    assert_int_equal(ep_addr_parse(remote, &d.remote), 0);
    d.remote_port = port;
    d.attempts = attempts;
    d.successes = ok;
    d.eaddrnotavail = addrnotavail;
    d.other = attempts - ok - addrnotavail;
    d.timewait = 0;
    return d;
}

static char *tt_render(const ep_trace_totals *t, size_t top, uint64_t min)
{
    ep_strbuf b;
    size_t len;
    ep_strbuf_init(&b);
    ep_trace_totals_render(t, top, min, NULL, NULL, &b);
    char *text = ep_strbuf_take(&b, &len);
    assert_non_null(text);
    return text;
}

static void totals_add_up_and_bound(void **state)
{
    (void)state;
    ep_trace_totals *t = ep_trace_totals_new();
    assert_non_null(t);
    ep_trace_dest a1[2] = { tt_dest("192.0.2.1", 443, 10, 7, 3), tt_dest("192.0.2.2", 80, 4, 4, 0) };
    ep_trace_interval iv = { .dests = a1, .ndests = 2, .lost_events = 1 };
    assert_int_equal(ep_trace_totals_add(t, &iv), 0);
    /* Second interval: 192.0.2.1 again, a new 192.0.2.3 with the most. */
    ep_trace_dest a2[2] = { tt_dest("192.0.2.3", 53, 20, 20, 0), tt_dest("192.0.2.1", 443, 5, 0, 5) };
    iv = (ep_trace_interval){ .dests = a2, .ndests = 2, .lost_counts = 2, .lost_calls = 3 };
    assert_int_equal(ep_trace_totals_add(t, &iv), 0);

    char *text = tt_render(t, 2, 0);
    /* Top 2 by attempts: 192.0.2.3 (20), then 192.0.2.1 (15); 192.0.2.2 (4) cut. */
    const char *want =
        "# HELP ephport_connect_attempts_total connect() calls and autobinding UDP sends per "
        "destination since the exporter started (eBPF)\n"
        "# TYPE ephport_connect_attempts_total counter\n"
        "ephport_connect_attempts_total{proto=\"tcp\",local=\"10.0.0.1\",remote=\"192.0.2.3\","
        "remote_port=\"53\"} 20\n"
        "ephport_connect_attempts_total{proto=\"tcp\",local=\"10.0.0.1\",remote=\"192.0.2.1\","
        "remote_port=\"443\"} 15\n";
    assert_true(strncmp(text, want, strlen(want)) == 0);
    assert_non_null(strstr(text, "ephport_connect_failures_total{proto=\"tcp\",local=\"10.0.0.1\","
                                 "remote=\"192.0.2.1\",remote_port=\"443\",reason=\"EADDRNOTAVAIL\"} 8\n"));
    assert_non_null(strstr(text, "ephport_connect_failures_total{proto=\"tcp\",local=\"10.0.0.1\","
                                 "remote=\"192.0.2.3\",remote_port=\"53\",reason=\"EAGAIN\"} 0\n"));
    assert_null(strstr(text, "192.0.2.2"));
    assert_non_null(strstr(text, "ephport_trace_lost_total{what=\"events\"} 1\n"
                                 "ephport_trace_lost_total{what=\"counts\"} 2\n"
                                 "ephport_trace_lost_total{what=\"calls\"} 3\n"));
    free(text);

    /* The minimum count: only 192.0.2.3 has 16 or more. */
    text = tt_render(t, 10, 16);
    assert_non_null(strstr(text, "192.0.2.3"));
    assert_null(strstr(text, "192.0.2.1"));
    free(text);

    /* 192.0.2.2 comes back into the top: its total kept (4 + 30). */
    ep_trace_dest a3[1] = { tt_dest("192.0.2.2", 80, 30, 30, 0) };
    iv = (ep_trace_interval){ .dests = a3, .ndests = 1 };
    assert_int_equal(ep_trace_totals_add(t, &iv), 0);
    text = tt_render(t, 1, 0);
    assert_non_null(strstr(text, "remote=\"192.0.2.2\",remote_port=\"80\"} 34\n"));
    free(text);
    ep_trace_totals_free(t);
}

static void empty_totals_still_declare_families(void **state)
{
    (void)state;
    ep_trace_totals *t = ep_trace_totals_new();
    char *text = tt_render(t, 20, 5);
    assert_non_null(strstr(text, "# TYPE ephport_connect_attempts_total counter\n# HELP"));
    assert_non_null(strstr(text, "ephport_trace_lost_total{what=\"calls\"} 0\n"));
    free(text);
    ep_trace_totals_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(totals_add_up_and_bound),
        cmocka_unit_test(empty_totals_still_declare_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
