/* natlog-whois.c - libephport-natlog (pkg-config ephport-natlog): record
 * one port block in a new log (path from argv[1]), then ask who held one of
 * its ports during and after the assignment. */
#include <stdio.h>

#include <ephport/natlog.h>

int main(int argc, char **argv)
{
    ep_natlog_options opt = { .create = true };
    ep_natlog_record rec = { .proto = 6, .port_lo = 2048, .port_hi = 3071,
                             .start = 1795478400, .end = 1795482000 };
    ep_natlog_record who;
    ep_natlog *log;
    ep_parse_error err;
    char sub[64];
    int during, after;

    if (argc != 2) {
        fprintf(stderr, "usage: natlog-whois NEW-LOG-FILE\n");
        return 2;
    }
    if (ep_addr_parse("100.64.0.7", &rec.subscriber) != 0 ||
        ep_addr_parse("203.0.113.1", &rec.ext) != 0)
        return 1;
    if (ep_natlog_open(argv[1], &opt, &log, &err) != 0) {
        fprintf(stderr, "natlog-whois: %s\n", err.message);
        return 1;
    }
    if (ep_natlog_assign(log, &rec) != 0 || ep_natlog_commit(log) != 0)
        return 1;
    during = ep_natlog_whois(log, &rec.ext, 6, 2500, rec.start + 60, &who);
    if (during == 0 && ep_addr_format(&who.subscriber, sub, sizeof sub) == 0)
        printf("203.0.113.1:2500/tcp one minute in: %s\n", sub);
    after = ep_natlog_whois(log, &rec.ext, 6, 2500, rec.end + 60, &who);
    printf("one minute after the block ended: %s\n", ep_err_name(after));
    if (ep_natlog_close(log) != 0)
        return 1;
    return during == 0 && after == EP_ENOENT ? 0 : 1;
}
