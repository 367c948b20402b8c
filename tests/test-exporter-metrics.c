/* test-exporter-metrics.c - the exporter's pure parts with hand-made data:
 * the text renderer (names, HELP/TYPE, `_total` only on counters, escaping,
 * unknown values left out, destination filtering, refusal of unusable
 * snapshots), the --listen parser and the atomic textfile write. */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "listen.h"
#include "metrics.h"
#include "textfile.h"

static ep_host_settings settings;
static ep_host_totals totals;
static ep_host_bound bound;
static ep_host_dest dests[3];
static ep_host_counter counters[4];
static ep_host_advice advice[3];

static void fill(ep_metrics_input *in)
{
    memset(&settings, 0, sizeof settings);
    settings.port_lo = 32768;
    settings.port_hi = 60999;
    settings.reserved_in_range = 2;
    settings.effective_ports = 28230;
    settings.tw_reuse = 2;
    settings.tw_reuse_delay_ms = EP_HOST_UNKNOWN;
    settings.fin_timeout_s = 60;
    settings.max_tw_buckets = 262144;
    settings.conntrack_count = EP_HOST_UNKNOWN;
    settings.conntrack_max = EP_HOST_UNKNOWN;
    settings.time_wait_s = 60;
    memset(&totals, 0, sizeof totals);
    totals.tcp[EP_HOST_ESTABLISHED] = 12;
    totals.tcp[EP_HOST_TIME_WAIT] = 7;
    totals.udp[EP_HOST_CLOSE] = 3;
    totals.sockstat_tcp_inuse = 40;
    totals.sockstat_tcp_tw = EP_HOST_UNKNOWN;
    totals.sockstat_udp_inuse = 3;
    memset(&bound, 0, sizeof bound);
    bound.tcp_listen = 1;
    bound.tcp_ports = 1;
    memset(dests, 0, sizeof dests);
    for (int i = 0; i < 3; i++) {
        dests[i].proto = i == 2 ? 17 : 6;
        ep_addr_parse(i == 1 ? "2001:db8::1" : "10.0.0.1", &dests[i].local);
        ep_addr_parse(i == 1 ? "2001:db8::2" : "10.0.0.2", &dests[i].remote);
        dests[i].remote_port = (uint16_t)(443 + i);
        dests[i].used = (uint32_t)(10 - 4 * i);   /* 10, 6, 2 */
        dests[i].established = dests[i].used;
        dests[i].free = i == 1 ? (int64_t)EP_HOST_UNKNOWN : 28230 - (int64_t)dests[i].used;
        dests[i].pressure = (double)dests[i].used / 28230.0;
    }
    counters[0] = (ep_host_counter){ "TcpExt.TCPTimeWaitOverflow", 5 };
    counters[1] = (ep_host_counter){ "Tcp.CurrEstab", 9 };
    counters[2] = (ep_host_counter){ "TcpExt.TWKilled", EP_HOST_UNKNOWN };
    counters[3] = (ep_host_counter){ "Odd\"Name\\With\nBreak", 4 };
    memset(advice, 0, sizeof advice);
    advice[0] = (ep_host_advice){ .severity = EP_HOST_WARNING, .code = "dest-pressure" };
    advice[1] = (ep_host_advice){ .severity = EP_HOST_WARNING, .code = "dest-pressure" };
    advice[2] = (ep_host_advice){ .severity = EP_HOST_INFO, .code = "narrow-range" };

    memset(in, 0, sizeof *in);
    in->settings = &settings;
    in->totals = &totals;
    in->bound = &bound;
    in->dests = dests;
    in->ndests = 3;
    in->dests_total = 7;
    in->counters = counters;
    in->ncounters = 4;
    in->advice = advice;
    in->nadvice = 3;
    in->tcp_source = EP_HOST_SOURCE_NETLINK;
    in->udp_source = EP_HOST_SOURCE_PROC;
    in->nnotes = 1;
    in->min_count = 5;
    in->scrape_seconds = 0.25;
    in->exporter_stats = true;
    in->scrapes = 3;
    in->scrape_errors = 1;
}

static char *render(const ep_metrics_input *in)
{
    ep_strbuf b;
    char *text;
    ep_strbuf_init(&b);
    ep_metrics_render(in, &b);
    text = ep_strbuf_take(&b, NULL);
    assert_non_null(text);
    return text;
}

static bool has_line(const char *text, const char *line)
{
    size_t l = strlen(line);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, line, l) == 0 && (p[l] == '\n' || p[l] == '\0'))
            return true;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return false;
}

/* Every line is a HELP, a TYPE or a sample of the family last typed; names
 * are valid; families appear once; counters and only counters end _total. */
static void well_formed(void **state)
{
    ep_metrics_input in;
    char *text, *save = NULL, *line, family[128] = "", type[16] = "";
    char seen[4096] = " ";
    regex_t name_re;
    (void)state;
    fill(&in);
    text = render(&in);
    assert_int_equal(regcomp(&name_re, "^ephport_[a-z0-9_]*[a-z0-9]$", REG_EXTENDED | REG_NOSUB), 0);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[160];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s", family), 1);
            assert_int_equal(regexec(&name_re, family, 0, NULL, 0), 0);
            snprintf(name, sizeof name, " %s ", family);
            assert_null(strstr(seen, name)); /* each family once */
            assert_true(strlen(seen) + strlen(name) < sizeof seen);
            strcat(seen, name + 1);
            assert_true(strlen(line) > 8 + strlen(family)); /* has text */
            type[0] = '\0';
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%159s %15s", name, type), 2);
            assert_string_equal(name, family);
            if (strcmp(type, "counter") == 0) {
                assert_true(strlen(family) > 6 &&
                            strcmp(family + strlen(family) - 6, "_total") == 0);
            } else {
                assert_string_equal(type, "gauge");
                assert_false(strlen(family) > 6 &&
                             strcmp(family + strlen(family) - 6, "_total") == 0);
            }
            continue;
        }
        /* A sample: family name, then '{' or ' '. */
        assert_true(type[0] != '\0');
        assert_true(strncmp(line, family, strlen(family)) == 0);
        assert_true(line[strlen(family)] == '{' || line[strlen(family)] == ' ');
    }
    regfree(&name_re);
    free(text);
}

static void values_and_filters(void **state)
{
    ep_metrics_input in;
    char *text;
    (void)state;
    fill(&in);
    text = render(&in);
    assert_true(has_line(text, "ephport_local_port_range_ports 28232"));
    assert_true(has_line(text, "ephport_effective_ports 28230"));
    assert_true(has_line(text, "ephport_reserved_ports 2"));
    assert_true(has_line(text, "ephport_sockets{proto=\"tcp\",state=\"TIME_WAIT\"} 7"));
    assert_true(has_line(text, "ephport_sockets{proto=\"udp\",state=\"CLOSE\"} 3"));
    assert_true(has_line(text, "ephport_bind_only_sockets{proto=\"tcp\",kind=\"listen\"} 1"));
    assert_true(has_line(text, "ephport_destinations 7"));
    /* min_count 5: the UDP destination (2 sockets) is left out. */
    assert_true(has_line(text, "ephport_destinations_exported 2"));
    assert_true(has_line(text, "ephport_destination_used_ports{proto=\"tcp\",local=\"10.0.0.1\","
                               "remote=\"10.0.0.2\",remote_port=\"443\"} 10"));
    assert_true(has_line(text, "ephport_destination_used_ports{proto=\"tcp\",local=\"2001:db8::1\","
                               "remote=\"2001:db8::2\",remote_port=\"444\"} 6"));
    assert_null(strstr(text, "remote_port=\"445\""));
    assert_true(has_line(text, "ephport_destination_free_ports{proto=\"tcp\",local=\"10.0.0.1\","
                               "remote=\"10.0.0.2\",remote_port=\"443\"} 28220"));
    /* Unknown values are absent, never 0. */
    assert_null(strstr(text, "ephport_destination_free_ports{proto=\"tcp\",local=\"2001:db8::1\""));
    assert_null(strstr(text, "ephport_conntrack_entries"));
    assert_null(strstr(text, "ephport_conntrack_max"));
    assert_null(strstr(text, "ephport_tcp_tw_reuse_delay_seconds"));
    assert_null(strstr(text, "ephport_namespace_tcp_time_wait_sockets"));
    assert_null(strstr(text, "ephport_tcp_timewait_killed_total"));
    /* Counters: known names mapped, CurrEstab is a gauge, others generic. */
    assert_true(has_line(text, "ephport_tcp_timewait_overflow_total 5"));
    assert_true(has_line(text, "# TYPE ephport_tcp_current_established_connections gauge"));
    assert_true(has_line(text, "ephport_kernel_statistic{name=\"Odd\\\"Name\\\\With\\nBreak\"} 4"));
    assert_true(has_line(text, "ephport_advice{code=\"dest-pressure\",severity=\"warning\"} 2"));
    assert_true(has_line(text, "ephport_advice{code=\"narrow-range\",severity=\"info\"} 1"));
    assert_true(has_line(text, "ephport_read_problems 1"));
    assert_true(has_line(text, "ephport_scrape_duration_seconds 0.25"));
    assert_true(has_line(text, "ephport_scrapes_total 3"));
    assert_true(has_line(text, "ephport_scrape_errors_total 1"));
    assert_true(has_line(text, "ephport_socket_source_info{proto=\"udp\",source=\"proc\"} 1"));
    free(text);

    /* min_count 0 exports every destination; no exporter figures. */
    in.min_count = 0;
    in.exporter_stats = false;
    in.scrape_seconds = -1;
    text = render(&in);
    assert_true(has_line(text, "ephport_destinations_exported 3"));
    assert_non_null(strstr(text, "remote_port=\"445\""));
    assert_null(strstr(text, "ephport_scrape"));
    free(text);
}

static void ratios_stay_in_0_1(void **state)
{
    ep_metrics_input in;
    char *text, *p;
    (void)state;
    fill(&in);
    settings.conntrack_count = 300;
    settings.conntrack_max = 200; /* a racing read can exceed max: still a number */
    dests[0].pressure = 1.5;
    text = render(&in);
    p = strstr(text, "\nephport_destination_used_ratio{");
    assert_non_null(p);
    p = strchr(p + 1, '}');
    assert_true(strtod(p + 2, NULL) <= 1.0);
    assert_true(has_line(text, "ephport_conntrack_entries 300"));
    free(text);
}

static void escaping(void **state)
{
    ep_strbuf b;
    char *t;
    (void)state;
    ep_strbuf_init(&b);
    ep_metrics_escape_label(&b, "a\\b\"c\nd");
    t = ep_strbuf_take(&b, NULL);
    assert_string_equal(t, "a\\\\b\\\"c\\nd");
    free(t);
}

static void refuses_unusable_input(void **state)
{
    ep_metrics_input in;
    char why[256];
    (void)state;
    fill(&in);
    assert_int_equal(ep_metrics_check(&in, why, sizeof why), 0);
    settings.port_lo = EP_HOST_UNKNOWN;
    assert_int_equal(ep_metrics_check(&in, why, sizeof why), -EIO);
    assert_non_null(strstr(why, "ip_local_port_range"));
    fill(&in);
    in.tcp_source = EP_HOST_SOURCE_NONE;
    assert_int_equal(ep_metrics_check(&in, why, sizeof why), -EIO);
    assert_non_null(strstr(why, "TCP"));
}

static void listen_parser(void **state)
{
    static const char *bad[] = { "", "9808", "localhost:9808", "::1:9808", "[::1]", "[::1:9808",
                                 "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:80x",
                                 "[1.2.3.4]:80", "1.2.3:80", ":123456", NULL };
    ep_listen_addr a;
    char why[256], buf[80];
    (void)state;
    assert_int_equal(ep_listen_parse("127.0.0.1:9808", &a, why, sizeof why), 0);
    assert_int_equal(a.addr.family, AF_INET);
    assert_int_equal(a.port, 9808);
    assert_int_equal(ep_listen_format(&a, buf, sizeof buf), 0);
    assert_string_equal(buf, "127.0.0.1:9808");
    assert_int_equal(ep_listen_parse("[::1]:0", &a, why, sizeof why), 0);
    assert_int_equal(a.addr.family, AF_INET6);
    assert_int_equal(a.port, 0);
    assert_int_equal(ep_listen_format(&a, buf, sizeof buf), 0);
    assert_string_equal(buf, "[::1]:0");
    assert_int_equal(ep_listen_parse(":65535", &a, why, sizeof why), 0);
    assert_int_equal(a.addr.family, 0);
    assert_int_equal(a.port, 65535);
    for (size_t i = 0; bad[i]; i++) {
        why[0] = '\0';
        assert_int_equal(ep_listen_parse(bad[i], &a, why, sizeof why), -EINVAL);
        assert_true(why[0] != '\0');
    }
    assert_int_equal(ep_listen_parse("localhost:9808", &a, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "not resolved"));
}

static void textfile_atomic_write(void **state)
{
    char dir[] = "/tmp/ephport-test-tf-XXXXXX", path[128], buf[64], why[512];
    struct stat st;
    FILE *f;
    size_t n;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/x.prom", dir);
    assert_int_equal(ep_textfile_write(path, "first\n", 6, NULL, 0), 0);
    assert_int_equal(ep_textfile_write(path, "second\n", 7, why, sizeof why), 0);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_string_equal(buf, "second\n");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(ep_textfile_write(dir, "x", 1, why, sizeof why), -EISDIR);
    snprintf(path, sizeof path, "%s/missing/x.prom", dir);
    assert_int_equal(ep_textfile_write(path, "x", 1, why, sizeof why), -ENOENT);
    assert_int_equal(ep_textfile_write("", "x", 1, NULL, 0), -EINVAL);
    /* A file whose directory cannot hold the temporary file (a /proc file):
     * the reason names that step, not a bare "No such file or directory". */
    assert_int_equal(ep_textfile_write("/proc/version", "x", 1, why, sizeof why), -ENOENT);
    assert_non_null(strstr(why, "cannot write /proc/version: cannot create the temporary file "
                                "beside it in /proc"));
    /* Only the target is left behind. */
    snprintf(path, sizeof path, "%s/x.prom", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Every metric name the Grafana dashboard queries is one the renderer
 * emits (with every optional value known), so the dashboard cannot drift. */
static void dashboard_uses_real_names(void **state)
{
    ep_metrics_input in;
    char *text, *json, *p;
    FILE *f = fopen(EP_SOURCE_ROOT "/contrib/grafana/ephport.json", "r");
    long len;
    int names = 0;
    (void)state;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    json = calloc(1, (size_t)len + 1);
    assert_int_equal(fread(json, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    fill(&in);
    settings.conntrack_count = 10;
    settings.conntrack_max = 100;
    settings.tw_reuse_delay_ms = 1000;
    totals.sockstat_tcp_tw = 7;
    dests[1].free = 100;
    counters[2].value = 1;
    counters[3] = (ep_host_counter){ "TcpExt.TWRecycled", 1 };
    in.ncounters = 4;
    {
        static ep_host_counter more[10] = {
            { "TcpExt.TCPTimeWaitOverflow", 1 }, { "TcpExt.TW", 1 }, { "TcpExt.TWRecycled", 1 },
            { "TcpExt.TWKilled", 1 }, { "TcpExt.ListenOverflows", 1 },
            { "TcpExt.ListenDrops", 1 }, { "Tcp.ActiveOpens", 1 }, { "Tcp.PassiveOpens", 1 },
            { "Tcp.AttemptFails", 1 }, { "Tcp.CurrEstab", 1 },
        };
        in.counters = more;
        in.ncounters = 10;
    }
    text = render(&in);
    for (p = strstr(json, "ephport_"); p; p = strstr(p, "ephport_")) {
        char name[128], typeline[160];
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        assert_true(n < sizeof name);
        memcpy(name, p, n);
        name[n] = '\0';
        p += n;
        snprintf(typeline, sizeof typeline, "# TYPE %s ", name);
        if (!strstr(text, typeline))
            fail_msg("the dashboard uses %s, which the exporter does not emit", name);
        names++;
    }
    assert_true(names > 10);
    free(text);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed),
        cmocka_unit_test(values_and_filters),
        cmocka_unit_test(ratios_stay_in_0_1),
        cmocka_unit_test(escaping),
        cmocka_unit_test(refuses_unusable_input),
        cmocka_unit_test(listen_parser),
        cmocka_unit_test(textfile_atomic_write),
        cmocka_unit_test(dashboard_uses_real_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
