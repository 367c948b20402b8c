/* test-host-json.c - the JSON form of a snapshot (src/cli/host-json.c):
 * every documented top-level key is present, and a protocol that was not
 * read is null rather than zeros.  Reads the test's own namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <ephport/host-json.h>

static void every_documented_key_is_present(void **state)
{
    static const char *const keys[] = { "netns", "source", "settings", "totals", "bind_only",
                                        "destinations_total", "destinations", "counters",
                                        "advice", "notes" };
    ep_host_snapshot *snap;
    json_t *j, *st;
    (void)state;
    assert_int_equal(ep_host_snapshot_take(NULL, &snap), 0);
    j = ep_host_snapshot_to_json(snap);
    assert_non_null(j);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_non_null(json_object_get(j, keys[i]));
    st = json_object_get(j, "settings");
    assert_true(json_is_integer(json_object_get(st, "time_wait_seconds")));
    assert_non_null(json_object_get(st, "conntrack"));
    assert_true(json_is_object(json_object_get(json_object_get(j, "totals"), "tcp")));
    json_decref(j);
    ep_host_snapshot_free(snap);
}

static void unread_protocol_is_null_not_zero(void **state)
{
    ep_host_options o;
    ep_host_snapshot *snap;
    json_t *j, *b;
    (void)state;
    ep_host_options_init(&o);
    o.flags = EP_HOST_NO_UDP;
    assert_int_equal(ep_host_snapshot_take(&o, &snap), 0);
    assert_int_equal(ep_host_snapshot_source(snap, 17), EP_HOST_SOURCE_NONE);
    j = ep_host_snapshot_to_json(snap);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "source"), "udp")),
                        "none");
    assert_true(json_is_null(json_object_get(json_object_get(j, "totals"), "udp")));
    assert_true(json_is_object(json_object_get(json_object_get(j, "totals"), "tcp")));
    b = json_object_get(j, "bind_only");
    assert_true(json_is_null(json_object_get(b, "udp_ports")));
    assert_true(json_is_integer(json_object_get(b, "tcp_ports")));
    json_decref(j);
    ep_host_snapshot_free(snap);
}

static void bad_options_are_rejected(void **state)
{
    ep_host_options o;
    ep_host_snapshot *snap = (ep_host_snapshot *)&o;
    (void)state;
    ep_host_options_init(&o);
    o.family = 99;
    assert_int_equal(ep_host_snapshot_take(&o, &snap), EP_EINVAL);
    assert_null(snap);
    ep_host_options_init(&o);
    o.warn_pct = 101;
    assert_int_equal(ep_host_snapshot_take(&o, &snap), EP_EINVAL);
    ep_host_options_init(&o);
    o.netns = "no-such-namespace-for-ephport-tests";
    assert_int_equal(ep_host_snapshot_take(&o, &snap), EP_ENOENT);
    assert_non_null(strstr(ep_host_strerror(EP_ENOENT), "/run/netns"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_documented_key_is_present),
        cmocka_unit_test(unread_protocol_is_null_not_zero),
        cmocka_unit_test(bad_options_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
