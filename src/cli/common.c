/* common.c - helpers shared by the `ephport` commands: colour policy, JSON
 * output, error messages, strict number parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

bool ep_cli_use_color(FILE *f)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && nc[0] != '\0')
        return false;
    return isatty(fileno(f)) == 1;
}

int ep_cli_print_json(json_t *value)
{
    int rc;
    if (!value) {
        fprintf(stderr, "ephport: out of memory building JSON output\n");
        return EP_EXIT_FAILURE;
    }
    rc = json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(value);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        fprintf(stderr, "ephport: cannot write output\n");
        return EP_EXIT_FAILURE;
    }
    return EP_EXIT_OK;
}

void ep_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ephport %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

bool ep_cli_parse_ulong(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;
    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}
