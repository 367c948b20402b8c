/* bench-util.c - shared benchmark helpers: read the machine description,
 * nearest-rank percentiles, JSON rows through jansson (never by hand). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

void ep_bench_machine_read(ep_bench_machine *m)
{
    char line[512];
    struct utsname u;
    FILE *f = fopen("/proc/cpuinfo", "r");

    snprintf(m->cpu, sizeof m->cpu, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        char *v = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && v) {
            v++;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            snprintf(m->cpu, sizeof m->cpu, "%s", v);
            break;
        }
    }
    if (f)
        fclose(f);
    m->cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof m->kernel, "%s", u.release);
    else
        snprintf(m->kernel, sizeof m->kernel, "unknown");
}

void ep_bench_print_machine(bool json, const char *build)
{
    ep_bench_machine m;
    ep_bench_machine_read(&m);
    if (json)
        ep_bench_emit(json_pack("{s:s, s:s, s:i, s:s, s:s}", "bench", "machine", "cpu", m.cpu,
                                "cores", (int)m.cores, "kernel", m.kernel, "build", build));
    else
        printf("machine: %s, %ld cores, Linux %s; build: %s\n", m.cpu, m.cores, m.kernel, build);
}

int ep_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ep_bench_percentile(double *v, size_t n, double q)
{
    size_t k;
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, ep_bench_cmp_double);
    k = (size_t)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

void ep_bench_emit(json_t *row)
{
    char *s;
    if (!row) {
        fprintf(stderr, "bench: out of memory building a JSON row\n");
        exit(1);
    }
    s = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(row);
    if (!s) {
        fprintf(stderr, "bench: cannot serialise a JSON row\n");
        exit(1);
    }
    puts(s);
    free(s);
}

double ep_bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t ep_bench_xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}
