/* nat-log.c - `ephport nat log`: write and maintain the port-block log
 * (an SQLite file or a PostgreSQL database) (add, release, import, export - CSV, IPFIX, SRX and Junos syslog -
 * prune, check).  The log records
 * subscriber, external address, protocol, port block, start and end; never
 * a destination (RFC 6888 REQ-12). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "nat.h"

static void ep_nat_log_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport nat log <action> --log FILE|URI [options]\n"
            "\n"
            "  add --subscriber ADDR --ext ADDR --ports LO-HI --start TIME [--end TIME]\n"
            "      [--proto P]          record a block assignment (open until released)\n"
            "  release --ext ADDR --port LO --end TIME [--proto P]\n"
            "                           close the open block starting at port LO\n"
            "  import FILE              add every record of a file (- = stdin), all or none\n"
            "  export [FILE]            write every record (default stdout)\n"
            "  prune --before TIME      delete records that ended before TIME\n"
            "  check                    SQLite integrity check (PostgreSQL: the schema),\n"
            "                           every record against its checksum and rules (each\n"
            "                           damaged one named), count\n"
            "  upgrade                  turn a format-1 log (no checksums) into format 2\n"
            "  simulate --inside LIST --outside LIST --block-size N ...\n"
            "                           write a log by driving the dynamic block allocator\n"
            "                           (see ephport nat log simulate --help)\n"
            "\n"
            "  --log FILE|URI the log (add, import and simulate create it if missing):\n"
            "                 an SQLite file, or a PostgreSQL database named by a\n"
            "                 postgresql:// or postgres:// URI (many routers, one log;\n"
            "                 schema, constraint and privileges: ephport-nat(1))\n"
            "  --proto P      tcp (default), udp or icmp\n"
            "  --sync MODE    full (default: fsync at every commit) or normal\n"
            "                 (PostgreSQL: synchronous_commit on or off)\n"
            "  --json         check and prune: one JSON object\n"
            "  --format F     import/export: csv (default), ipfix (RFC 7011/8158 NAT44\n"
            "                 port block events), srx (Juniper RT_SRC_NAT_PBA_* lines);\n"
            "                 import also juniper (JSERVICES_NAT_PORT_BLOCK_* lines)\n"
            "  --skip-bad     import: count and skip events the log refuses or lines\n"
            "                 that do not parse, instead of failing\n"
            "  --year Y       import: the year of 'Mmm dd hh:mm:ss' syslog times\n"
            "  --utc-offset +HH:MM  import: the zone of such times (default +00:00)\n"
            "                 events without a protocol are imported for tcp, udp and\n"
            "                 icmp, or for --proto P alone\n"
            "  --help         this text\n"
            "\n"
            "CSV: " EP_NATLOG_CSV_HEADER "\n"
            "Times: RFC 3339 UTC (2026-11-24T10:02:00Z) or Unix seconds.\n"
            "Exit codes: 0 success, 1 failure (bad data, a damaged or unreadable log,\n"
            "a write that could not be committed), 2 usage.\n");
}

struct ep_nat_log_args {
    const char *log, *subscriber, *ext, *ports, *csv;
    const char *proto;
    int64_t start, end, before;
    bool has_start, has_end, has_before, json, sync_normal, has_proto, skip_bad;
    const char *format;
    ep_natlog_syslog_options syslog;
    long port;
};

static int ep_nat_log_open(const char *cmd, const struct ep_nat_log_args *a, bool create,
                           bool read_only, ep_natlog **log)
{
    ep_natlog_options o = { .create = create, .read_only = read_only,
                            .sync_normal = a->sync_normal };
    ep_parse_error err;
    int rc = ep_natlog_open(a->log, &o, log, &err);
    if (rc != 0) {
        ep_cli_error(cmd, "%s", rc == EP_ENOMEM ? ep_strerror(rc) : err.message);
        return EP_EXIT_FAILURE;
    }
    return EP_EXIT_OK;
}

/* A failed write or read, in words: damage points at check, a failed
 * commit says how many accepted events were not stored. */
static void ep_nat_log_failed(const char *cmd, const char *path, ep_natlog *log, const char *what,
                              int rc)
{
    size_t lost = ep_natlog_pending(log, NULL);
    if (rc == EP_EBADMSG)
        ep_cli_error(cmd, "%s is damaged: %s; 'ephport nat log check --log %s' lists what is "
                          "wrong", path, ep_natlog_errmsg(log), path);
    else if (lost)
        ep_cli_error(cmd, "%s: %s; %zu event(s) not stored", what,
                     ep_natlog_errmsg(log)[0] ? ep_natlog_errmsg(log) : ep_strerror(rc), lost);
    else
        ep_cli_error(cmd, "%s: %s", what,
                     ep_natlog_errmsg(log)[0] ? ep_natlog_errmsg(log) : ep_strerror(rc));
}

static int ep_nat_log_finish(const char *cmd, const char *path, ep_natlog *log, int rc)
{
    int crc = ep_natlog_commit(log);
    if (crc != 0 && rc == EP_EXIT_OK) {
        ep_nat_log_failed(cmd, path, log, "cannot commit the log", crc);
        rc = EP_EXIT_FAILURE;
    }
    ep_natlog_close(log);
    return rc;
}

static int ep_nat_log_add(const struct ep_nat_log_args *a)
{
    const char *cmd = "nat log add";
    ep_natlog_record r = { 0 };
    ep_parse_error err;
    ep_natlog *log;
    int rc;

    if (!a->subscriber || !a->ext || !a->ports || !a->has_start) {
        ep_cli_error(cmd, "--subscriber, --ext, --ports and --start are required");
        return EP_EXIT_USAGE;
    }
    if (ep_addr_parse(a->subscriber, &r.subscriber) != 0) {
        ep_cli_error(cmd, "--subscriber '%s' is not an address", a->subscriber);
        return EP_EXIT_USAGE;
    }
    if (ep_addr_parse(a->ext, &r.ext) != 0) {
        ep_cli_error(cmd, "--ext '%s' is not an address", a->ext);
        return EP_EXIT_USAGE;
    }
    if (ep_range_parse(a->ports, &r.port_lo, &r.port_hi, &err) != 0) {
        /* a single port is a block of one */
        unsigned long p;
        if (!ep_cli_parse_ulong(a->ports, 1, 65535, &p)) {
            ep_cli_error(cmd, "--ports '%s': %s", a->ports, err.message);
            return EP_EXIT_USAGE;
        }
        r.port_lo = r.port_hi = (uint16_t)p;
    }
    ep_nat_proto_parse(a->proto, &r.proto);
    r.start = a->start;
    r.end = a->has_end ? a->end : EP_NATLOG_OPEN_END;
    if (r.end <= r.start) {
        ep_cli_error(cmd, "--end must be after --start");
        return EP_EXIT_USAGE;
    }
    if ((rc = ep_nat_log_open(cmd, a, true, false, &log)) != EP_EXIT_OK)
        return rc;
    rc = ep_natlog_assign(log, &r);
    if (rc == EP_EEXIST)
        ep_cli_error(cmd, "%s %s:%u is already assigned and not released in %s", a->proto,
                     a->ext, r.port_lo, a->log);
    else if (rc != 0)
        ep_nat_log_failed(cmd, a->log, log, "cannot record the block", rc);
    return ep_nat_log_finish(cmd, a->log, log, rc == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE);
}

static int ep_nat_log_release(const struct ep_nat_log_args *a)
{
    const char *cmd = "nat log release";
    ep_addr ext;
    uint8_t proto;
    ep_natlog *log;
    int rc;

    if (!a->ext || a->port < 0 || !a->has_end) {
        ep_cli_error(cmd, "--ext, --port and --end are required");
        return EP_EXIT_USAGE;
    }
    if (ep_addr_parse(a->ext, &ext) != 0) {
        ep_cli_error(cmd, "--ext '%s' is not an address", a->ext);
        return EP_EXIT_USAGE;
    }
    ep_nat_proto_parse(a->proto, &proto);
    if ((rc = ep_nat_log_open(cmd, a, false, false, &log)) != EP_EXIT_OK)
        return rc;
    rc = ep_natlog_release(log, &ext, proto, (uint16_t)a->port, a->end);
    if (rc == EP_ENOENT)
        ep_cli_error(cmd, "no open %s block at %s:%ld", a->proto, a->ext, a->port);
    else if (rc == EP_EINVAL)
        ep_cli_error(cmd, "--end is not after the block's start");
    else if (rc != 0)
        ep_nat_log_failed(cmd, a->log, log, "cannot record the release", rc);
    return ep_nat_log_finish(cmd, a->log, log, rc == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE);
}

static int ep_nat_log_import(const struct ep_nat_log_args *a)
{
    const char *cmd = "nat log import";
    FILE *f;
    ep_natlog *log;
    ep_parse_error err;
    uint64_t n = 0;
    ep_natlog_import_result res;
    bool formats = false;
    int rc;

    if (!a->csv) {
        ep_cli_error(cmd, "give the file to import (- for stdin)");
        return EP_EXIT_USAGE;
    }
    f = strcmp(a->csv, "-") == 0 ? stdin : fopen(a->csv, "r");
    if (!f) {
        ep_cli_error(cmd, "cannot open %s: %s", a->csv, strerror(errno));
        return EP_EXIT_FAILURE;
    }
    if ((rc = ep_nat_log_open(cmd, a, true, false, &log)) != EP_EXIT_OK) {
        if (f != stdin)
            fclose(f);
        return rc;
    }
    if (strcmp(a->format, "csv") == 0) {
        rc = ep_natlog_import_csv(log, f, &n, &err);
    } else {
        ep_natlog_import_options o = { .skip_bad = a->skip_bad, .syslog = a->syslog };
        uint8_t pr = 0;
        if (a->has_proto && ep_nat_proto_parse(a->proto, &pr) == 0)
            o.protos = pr == 6 ? 1 : pr == 17 ? 2 : 4;
        rc = strcmp(a->format, "ipfix") == 0
                 ? ep_natlog_import_ipfix(log, f, &o, &res, &err)
                 : ep_natlog_import_syslog(log, f,
                                           strcmp(a->format, "srx") == 0 ? EP_NATLOG_SYSLOG_SRX
                                                                         : EP_NATLOG_SYSLOG_JUNIPER,
                                           &o, &res, &err);
        n = res.assigned;
        formats = true;
    }
    if (f != stdin)
        fclose(f);
    if (rc != 0) {
        if (rc == EP_EBADMSG)
            ep_nat_log_failed(cmd, a->log, log, "", rc);
        else
            ep_cli_error(cmd, "%s: %s; nothing imported", a->csv,
                         rc == EP_EINVAL || rc == EP_EIO ? err.message : ep_strerror(rc));
        return ep_nat_log_finish(cmd, a->log, log, EP_EXIT_FAILURE);
    }
    if (!formats) {
        fprintf(stderr, "ephport nat log import: %llu records from %s\n", (unsigned long long)n,
                a->csv);
        return ep_nat_log_finish(cmd, a->log, log, EP_EXIT_OK);
    }
    fprintf(stderr,
            "ephport nat log import: %llu records, %llu releases from %s (%s); %llu %s not "
            "port-block events or interim reports, ignored",
            (unsigned long long)res.assigned, (unsigned long long)res.released, a->csv, a->format,
            (unsigned long long)res.ignored,
            strcmp(a->format, "ipfix") == 0 ? "data records" : "lines");
    if (res.skipped)
        fprintf(stderr, "; %llu skipped (--skip-bad), the first: %s",
                (unsigned long long)res.skipped, res.first_skipped);
    fputc('\n', stderr);
    return ep_nat_log_finish(cmd, a->log, log, EP_EXIT_OK);
}

static int ep_nat_log_export(const struct ep_nat_log_args *a)
{
    const char *cmd = "nat log export";
    FILE *f = stdout;
    ep_natlog *log;
    ep_parse_error err;
    int rc;

    if (strcmp(a->format, "juniper") == 0) {
        ep_cli_error(cmd, "--format juniper is for import only (export writes csv, ipfix or srx)");
        return EP_EXIT_USAGE;
    }

    if ((rc = ep_nat_log_open(cmd, a, false, true, &log)) != EP_EXIT_OK)
        return rc;
    if (a->csv && strcmp(a->csv, "-") != 0 && !(f = fopen(a->csv, "w"))) {
        ep_cli_error(cmd, "cannot create %s: %s", a->csv, strerror(errno));
        return ep_nat_log_finish(cmd, a->log, log, EP_EXIT_FAILURE);
    }
    if (strcmp(a->format, "csv") == 0)
        rc = ep_natlog_export_csv(log, f);
    else if (strcmp(a->format, "ipfix") == 0)
        rc = ep_natlog_export_ipfix(log, f, (uint32_t)ep_nat_cli_now(), 0, &err);
    else
        rc = ep_natlog_export_srx(log, f, &err);
    if (rc == EP_EINVAL)
        ep_cli_error(cmd, "%s", err.message);
    if (f != stdout && fclose(f) != 0 && rc == 0)
        rc = EP_EIO;
    if (rc != 0)
        ep_nat_log_failed(cmd, a->log, log, "export failed (the output is incomplete)",
                          rc == EP_EINVAL ? EP_EIO : rc);
    return ep_nat_log_finish(cmd, a->log, log, rc == 0 ? EP_EXIT_OK : EP_EXIT_FAILURE);
}

static int ep_nat_log_prune(const struct ep_nat_log_args *a)
{
    const char *cmd = "nat log prune";
    ep_natlog *log;
    uint64_t n = 0;
    int rc;

    if (!a->has_before) {
        ep_cli_error(cmd, "--before TIME is required");
        return EP_EXIT_USAGE;
    }
    if ((rc = ep_nat_log_open(cmd, a, false, false, &log)) != EP_EXIT_OK)
        return rc;
    rc = ep_natlog_prune(log, a->before, &n);
    if (rc != 0) {
        ep_nat_log_failed(cmd, a->log, log, "prune failed, nothing removed", rc);
        return ep_nat_log_finish(cmd, a->log, log, EP_EXIT_FAILURE);
    }
    rc = ep_nat_log_finish(cmd, a->log, log, EP_EXIT_OK);
    if (rc != EP_EXIT_OK)
        return rc;
    if (a->json)
        return ep_cli_print_json(json_pack("{s:I}", "removed", (json_int_t)n));
    printf("removed %llu records that ended before the given time\n", (unsigned long long)n);
    return EP_EXIT_OK;
}

struct ep_nat_log_bad {
    json_t *list;    /* --json: every damaged record */
    uint64_t n;
};

/* One damaged record: a line on stderr (the first 20), or a JSON item. */
static int ep_nat_log_bad_record(int64_t id, const char *why, void *arg)
{
    struct ep_nat_log_bad *b = arg;
    if (b->list)
        json_array_append_new(b->list, json_pack("{s:I, s:s}", "record", (json_int_t)id,
                                                 "problem", why));
    else if (b->n < 20)
        fprintf(stderr, "ephport nat log check: record %lld: %s\n", (long long)id, why);
    b->n++;
    return 0;
}

static int ep_nat_log_check(const struct ep_nat_log_args *a)
{
    const char *cmd = "nat log check";
    struct ep_nat_log_bad bad = { NULL, 0 };
    ep_natlog *log;
    ep_parse_error err;
    uint64_t n = 0;
    int rc;

    if ((rc = ep_nat_log_open(cmd, a, false, true, &log)) != EP_EXIT_OK)
        return rc;
    rc = ep_natlog_check(log, &err);
    if (rc != 0 && rc != EP_EBADMSG) {
        ep_cli_error(cmd, "%s: damaged: %s", a->log, err.message);
        return ep_nat_log_finish(cmd, a->log, log, EP_EXIT_FAILURE);
    }
    if (a->json)
        bad.list = json_array();
    rc = ep_natlog_verify(log, ep_nat_log_bad_record, &bad, &n);
    ep_natlog_close(log);
    if (rc != 0 && rc != EP_EBADMSG) {
        json_decref(bad.list);
        ep_cli_error(cmd, "%s: cannot read every record: %s", a->log, ep_strerror(rc));
        return EP_EXIT_FAILURE;
    }
    if (a->json) {
        rc = ep_cli_print_json(json_pack("{s:s, s:I, s:o}", "integrity",
                                          bad.n ? "damaged" : "ok", "records", (json_int_t)n,
                                          "damaged", bad.list));
        return bad.n ? EP_EXIT_FAILURE : rc;
    }
    if (bad.n) {
        ep_cli_error(cmd, "%s: damaged: %llu of %llu records fail their checksum or rules%s",
                     a->log, (unsigned long long)bad.n, (unsigned long long)n,
                     bad.n > 20 ? " (the first 20 are listed)" : "");
        return EP_EXIT_FAILURE;
    }
    printf("%s: integrity ok, %llu records, every checksum ok\n", a->log, (unsigned long long)n);
    return EP_EXIT_OK;
}

static int ep_nat_log_upgrade(const struct ep_nat_log_args *a)
{
    const char *cmd = "nat log upgrade";
    ep_parse_error err;
    uint64_t n = 0;
    struct stat sb;
    int rc;
    /* a file must exist (a PostgreSQL URI is refused by the library) */
    if (!strstr(a->log, "://") && stat(a->log, &sb) != 0) {
        ep_cli_error(cmd, "%s: %s", a->log, strerror(errno));
        return EP_EXIT_FAILURE;
    }
    rc = ep_natlog_upgrade(a->log, &n, &err);
    if (rc != 0) {
        ep_cli_error(cmd, "%s", rc == EP_ENOMEM ? ep_strerror(rc) : err.message);
        return EP_EXIT_FAILURE;
    }
    printf("%s: format 2, %llu records with checksums\n", a->log, (unsigned long long)n);
    return EP_EXIT_OK;
}

int ep_nat_cmd_log(int argc, char **argv)
{
    static const struct option opts[] = {
        { "log", required_argument, NULL, 'L' },
        { "subscriber", required_argument, NULL, 's' },
        { "ext", required_argument, NULL, 'e' },
        { "ports", required_argument, NULL, 'p' },
        { "port", required_argument, NULL, 'P' },
        { "proto", required_argument, NULL, 't' },
        { "start", required_argument, NULL, 'S' },
        { "end", required_argument, NULL, 'E' },
        { "before", required_argument, NULL, 'B' },
        { "sync", required_argument, NULL, 'y' },
        { "json", no_argument, NULL, 'j' },
        { "format", required_argument, NULL, 'F' },
        { "skip-bad", no_argument, NULL, 'K' },
        { "year", required_argument, NULL, 'Y' },
        { "utc-offset", required_argument, NULL, 'U' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ep_nat_log_args a = { .proto = "tcp", .port = -1, .format = "csv" };
    const char *cmd = "nat log", *action;
    uint8_t proto;
    unsigned long p;
    int c;

    /* simulate has options of its own, so it must come first */
    if (argc > 1 && strcmp(argv[1], "simulate") == 0)
        return ep_nat_log_simulate(argc, argv);

    while ((c = getopt_long(argc, argv, "L:s:e:p:P:t:S:E:B:y:jF:KY:U:h", opts, NULL)) != -1) {
        switch (c) {
        case 'L':
            a.log = optarg;
            break;
        case 's':
            a.subscriber = optarg;
            break;
        case 'e':
            a.ext = optarg;
            break;
        case 'p':
            a.ports = optarg;
            break;
        case 'P':
            if (!ep_cli_parse_ulong(optarg, 0, 65535, &p)) {
                ep_cli_error(cmd, "--port '%s' is not 0-65535", optarg);
                return EP_EXIT_USAGE;
            }
            a.port = (long)p;
            break;
        case 't':
            if (ep_nat_proto_parse(optarg, &proto) != 0) {
                ep_cli_error(cmd, "--proto '%s' is not tcp, udp or icmp", optarg);
                return EP_EXIT_USAGE;
            }
            a.proto = optarg;
            a.has_proto = true;
            break;
        case 'F':
            if (strcmp(optarg, "csv") && strcmp(optarg, "ipfix") && strcmp(optarg, "srx") &&
                strcmp(optarg, "juniper")) {
                ep_cli_error(cmd, "--format '%s' is not csv, ipfix, srx or juniper", optarg);
                return EP_EXIT_USAGE;
            }
            a.format = optarg;
            break;
        case 'K':
            a.skip_bad = true;
            break;
        case 'Y':
            if (!ep_cli_parse_ulong(optarg, 1970, 9999, &p)) {
                ep_cli_error(cmd, "--year '%s' is not 1970-9999", optarg);
                return EP_EXIT_USAGE;
            }
            a.syslog.year = (int)p;
            break;
        case 'U': {
            unsigned long h, m;
            char hh[3] = "", mm[3] = "";
            if ((optarg[0] != '+' && optarg[0] != '-') || strlen(optarg) != 6 || optarg[3] != ':' ||
                !(memcpy(hh, optarg + 1, 2), memcpy(mm, optarg + 4, 2), true) ||
                !ep_cli_parse_ulong(hh, 0, 23, &h) || !ep_cli_parse_ulong(mm, 0, 59, &m)) {
                ep_cli_error(cmd, "--utc-offset '%s' is not +HH:MM or -HH:MM", optarg);
                return EP_EXIT_USAGE;
            }
            a.syslog.utc_offset = (int32_t)((h * 3600 + m * 60) * (optarg[0] == '-' ? -1 : 1));
            break;
        }
        case 'S':
            if (!ep_nat_cli_time(cmd, "--start", optarg, &a.start))
                return EP_EXIT_USAGE;
            a.has_start = true;
            break;
        case 'E':
            if (!ep_nat_cli_time(cmd, "--end", optarg, &a.end))
                return EP_EXIT_USAGE;
            a.has_end = true;
            break;
        case 'B':
            if (!ep_nat_cli_time(cmd, "--before", optarg, &a.before))
                return EP_EXIT_USAGE;
            a.has_before = true;
            break;
        case 'y':
            if (strcmp(optarg, "full") == 0)
                a.sync_normal = false;
            else if (strcmp(optarg, "normal") == 0)
                a.sync_normal = true;
            else {
                ep_cli_error(cmd, "--sync '%s' is not full or normal", optarg);
                return EP_EXIT_USAGE;
            }
            break;
        case 'j':
            a.json = true;
            break;
        case 'h':
            ep_nat_log_usage(stdout);
            return EP_EXIT_OK;
        default:
            ep_nat_log_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        ep_cli_error(cmd, "give an action: add, release, import, export, prune, check or upgrade");
        return EP_EXIT_USAGE;
    }
    action = argv[optind++];
    if (strcmp(action, "simulate") == 0) {
        ep_cli_error(cmd, "put 'simulate' first: ephport nat log simulate [options]");
        return EP_EXIT_USAGE;
    }
    if ((strcmp(action, "import") == 0 || strcmp(action, "export") == 0) && optind < argc)
        a.csv = argv[optind++];
    if (optind < argc) {
        ep_cli_error(cmd, "unexpected argument '%s'", argv[optind]);
        return EP_EXIT_USAGE;
    }
    if (!a.log && strcmp(action, "add") && strcmp(action, "release") && strcmp(action, "import") &&
        strcmp(action, "export") && strcmp(action, "prune") && strcmp(action, "check") &&
        strcmp(action, "upgrade")) {
        ep_cli_error(cmd, "unknown action '%s' (add, release, import, export, prune, check, upgrade)",
                     action);
        return EP_EXIT_USAGE;
    }
    if (!a.log) {
        ep_cli_error(cmd, "--log FILE is required");
        return EP_EXIT_USAGE;
    }
    if (strcmp(action, "add") == 0)
        return ep_nat_log_add(&a);
    if (strcmp(action, "release") == 0)
        return ep_nat_log_release(&a);
    if (strcmp(action, "import") == 0)
        return ep_nat_log_import(&a);
    if (strcmp(action, "export") == 0)
        return ep_nat_log_export(&a);
    if (strcmp(action, "prune") == 0)
        return ep_nat_log_prune(&a);
    if (strcmp(action, "check") == 0)
        return ep_nat_log_check(&a);
    if (strcmp(action, "upgrade") == 0)
        return ep_nat_log_upgrade(&a);
    ep_cli_error(cmd, "unknown action '%s' (add, release, import, export, prune, check, upgrade)", action);
    return EP_EXIT_USAGE;
}
