/* test-advise.c - unit tests for the per-OS advice tables (src/lib/
 * advice_os.c): every OS is there, the commands are spelled exactly, the
 * example values are valid for their OS, and the defaults the texts quote
 * agree with the OS profiles (src/lib/profile.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ephport/ephport.h>

#include <ephport/advice.h>

/* The item whose inspect, change or persist text contains `needle`. */
static const ep_advice_item *find_item(const ep_advice_os *os, const char *needle)
{
    for (size_t i = 0; i < os->n_items; i++) {
        const ep_advice_item *it = &os->items[i];
        if ((it->inspect && strstr(it->inspect, needle)) ||
            (it->change && strstr(it->change, needle)) ||
            (it->persist && strstr(it->persist, needle)))
            return it;
    }
    fail_msg("%s: no command contains \"%s\"", os->name, needle);
    return NULL;
}

static const ep_advice_item *find_setting(const ep_advice_os *os, const char *setting)
{
    for (size_t i = 0; i < os->n_items; i++)
        if (strstr(os->items[i].setting, setting))
            return &os->items[i];
    fail_msg("%s: no item for %s", os->name, setting);
    return NULL;
}

static void every_os_has_complete_items(void **state)
{
    static const char *names[] = { "linux", "windows", "macos", "freebsd" };
    (void)state;
    assert_int_equal(ep_advice_os_count(), 4);
    assert_null(ep_advice_os_at(4));
    assert_null(ep_advice_os_find("solaris"));
    assert_null(ep_advice_os_find(NULL));
    assert_null(ep_advice_os_find("Linux"));
    for (size_t i = 0; i < 4; i++) {
        const ep_advice_os *os = ep_advice_os_at(i);
        assert_non_null(os);
        assert_string_equal(os->name, names[i]);
        assert_ptr_equal(ep_advice_os_find(names[i]), os);
        assert_non_null(ep_advice_os_profile(os));
        assert_true(os->n_items >= 3);
        for (size_t k = 0; k < os->n_items; k++) {
            const ep_advice_item *it = &os->items[k];
            assert_non_null(it->topic);
            assert_non_null(it->setting);
            assert_non_null(it->why);
            assert_true(strlen(it->why) > 20);
            assert_true(it->inspect || it->change); /* something to type */
            /* Commands are single lines: they are pasted as is. */
            assert_null(it->inspect ? strchr(it->inspect, '\n') : NULL);
            assert_null(it->change ? strchr(it->change, '\n') : NULL);
        }
    }
}

static void linux_commands_are_exact(void **state)
{
    const ep_advice_os *os = ep_advice_os_find("linux");
    const ep_profile *p = ep_advice_os_profile(os);
    const ep_advice_item *it;
    char want[32];
    uint16_t lo, hi;
    ep_portset set;
    const char *q;
    (void)state;

    it = find_setting(os, "net.ipv4.ip_local_port_range");
    assert_string_equal(it->inspect, "sysctl net.ipv4.ip_local_port_range");
    assert_string_equal(it->change, "sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"");
    assert_non_null(strstr(it->persist, "/etc/sysctl.d/"));
    assert_non_null(strstr(it->persist, "sysctl --system"));
    snprintf(want, sizeof want, "%u %u", p->lo, p->hi);
    assert_string_equal(it->default_value, want);
    /* The suggested range parses and keeps the ends of different parity. */
    assert_int_equal(ep_range_parse("1024 65535", &lo, &hi, NULL), 0);
    assert_int_not_equal(lo % 2, hi % 2);

    it = find_setting(os, "ip_local_reserved_ports");
    q = strchr(it->change, '"');
    assert_non_null(q);
    {
        char list[64];
        size_t n = strcspn(q + 1, "\"");
        assert_true(n < sizeof list);
        memcpy(list, q + 1, n);
        list[n] = '\0';
        assert_int_equal(ep_portset_parse(list, &set, NULL), 0);
        assert_true(ep_portset_has(&set, 30000) && ep_portset_has(&set, 32767));
    }

    it = find_setting(os, "tcp_tw_reuse");
    assert_string_equal(it->change, "sysctl -w net.ipv4.tcp_tw_reuse=1");
    assert_non_null(strstr(it->why, "0 = "));
    assert_non_null(strstr(it->why, "1 = "));
    assert_non_null(strstr(it->why, "2 = reuse for loopback"));

    it = find_setting(os, "tcp_fin_timeout");
    assert_non_null(strstr(it->why, "NOT the TIME_WAIT"));
    assert_null(it->change); /* changing it is no remedy */

    find_item(os, "sysctl net.ipv4.tcp_max_tw_buckets");
    find_item(os, "ss -Htan state time-wait");
    find_item(os, "IP_BIND_ADDRESS_NO_PORT");
    find_item(os, "IP_LOCAL_PORT_RANGE");
    find_item(os, "SO_REUSEADDR");
    find_item(os, "net.netfilter.nf_conntrack_max");
    assert_non_null(strstr(find_setting(os, "IP_LOCAL_PORT_RANGE")->setting, "6.3"));

    /* 28232 ports / 60 s. */
    assert_int_equal(ep_advice_os_ports(os), 28232);
    assert_true(ep_advice_sustainable_rate(28232, p->time_wait_ms) > 470.5);
    assert_true(ep_advice_sustainable_rate(28232, p->time_wait_ms) < 470.6);
}

static void windows_commands_are_exact(void **state)
{
    const ep_advice_os *os = ep_advice_os_find("windows");
    const ep_advice_item *it;
    unsigned start = 0, num = 0;
    const char *s;
    (void)state;

    it = find_item(os, "netsh int ipv4 show dynamicport tcp");
    assert_string_equal(it->change, "netsh int ipv4 set dynamicport tcp start=10000 num=55536");
    for (s = it->change; (s = strstr(s, "start=")) != NULL; s++) {
        assert_int_equal(sscanf(s, "start=%u num=%u", &start, &num), 2);
        /* netsh's limits: start >= 1025, at least 255 ports, end <= 65535. */
        assert_true(start >= 1025 && num >= 255 && start + num - 1 <= 65535);
    }
    assert_non_null(strstr(it->persist, "netsh int ipv4 set dynamicport udp start=10000 num=55536"));
    assert_non_null(strstr(it->persist, "netsh int ipv6 set dynamicport tcp start=10000 num=55536"));
    assert_non_null(strstr(it->persist, "netsh int ipv6 set dynamicport udp start=10000 num=55536"));

    it = find_setting(os, "TcpTimedWaitDelay");
    assert_string_equal(it->change, "reg add HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\"
                                    "Parameters /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f");
    assert_non_null(strstr(it->default_value, "120"));
    assert_int_equal(ep_advice_os_profile(os)->time_wait_ms, 120000);
    find_setting(os, "MaxUserPort");
    find_item(os, "netstat -ano | find \"TIME_WAIT\"");
    find_item(os, "Get-NetTCPConnection -State TimeWait");
    assert_int_equal(ep_advice_os_ports(os), 16384);
}

static void bsd_commands_use_their_sysctl(void **state)
{
    const ep_advice_os *mac = ep_advice_os_find("macos"), *bsd = ep_advice_os_find("freebsd");
    const ep_profile *mp = ep_advice_os_profile(mac), *bp = ep_advice_os_profile(bsd);
    const ep_advice_item *it;
    char want[32];
    (void)state;

    it = find_item(mac, "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last");
    assert_string_equal(it->change, "sudo sysctl -w net.inet.ip.portrange.first=32768");
    snprintf(want, sizeof want, "%u %u", mp->lo, mp->hi);
    assert_string_equal(it->default_value, want);
    it = find_setting(mac, "net.inet.tcp.msl");
    /* TIME_WAIT = 2 x MSL, both in milliseconds. */
    snprintf(want, sizeof want, "%u ", mp->time_wait_ms / 2);
    assert_true(strncmp(it->default_value, want, strlen(want)) == 0);

    it = find_item(bsd, "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last");
    snprintf(want, sizeof want, "%u %u", bp->lo, bp->hi);
    assert_string_equal(it->default_value, want);
    assert_non_null(strstr(it->persist, "/etc/sysctl.conf"));
    it = find_setting(bsd, "hifirst");
    snprintf(want, sizeof want, "%u %u", bp->high_lo, bp->high_hi);
    assert_string_equal(it->default_value, want);
    it = find_setting(bsd, "net.inet.tcp.msl");
    snprintf(want, sizeof want, "%u ", bp->time_wait_ms / 2);
    assert_true(strncmp(it->default_value, want, strlen(want)) == 0);
    find_item(bsd, "sysctl net.inet.tcp.maxtcptw");
    /* FreeBSD's sysctl takes name=value; -w is Linux and macOS. */
    for (size_t i = 0; i < bsd->n_items; i++)
        if (bsd->items[i].change)
            assert_null(strstr(bsd->items[i].change, "sysctl -w"));
}

static void sustainable_rate_math(void **state)
{
    (void)state;
    assert_true(ep_advice_sustainable_rate(0, 60000) == 0.0);
    assert_true(ep_advice_sustainable_rate(1000, 0) == 0.0);
    assert_true(ep_advice_sustainable_rate(16384, 30000) > 546.1);
    assert_true(ep_advice_sustainable_rate(16384, 30000) < 546.2);
    assert_int_equal(ep_advice_os_ports(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_os_has_complete_items),
        cmocka_unit_test(linux_commands_are_exact),
        cmocka_unit_test(windows_commands_are_exact),
        cmocka_unit_test(bsd_commands_use_their_sysctl),
        cmocka_unit_test(sustainable_rate_math),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
