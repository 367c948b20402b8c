/* algorithm.c - names of the selection algorithms and semantics, and ep_now(), the one
 * place the library reads a clock (only for callers that run in real time;
 * the engine itself takes time as an input). */
#include <string.h>
#include <time.h>

#include <ephport/pool.h>

static const char *const ep_alg_names[EP_ALG__COUNT] = {
    [EP_ALG_RANDOM] = "random",
    [EP_ALG_SEQUENTIAL] = "sequential",
    [EP_ALG_RFC6056_1] = "rfc6056-1",
    [EP_ALG_RFC6056_2] = "rfc6056-2",
    [EP_ALG_RFC6056_3] = "rfc6056-3",
    [EP_ALG_RFC6056_4] = "rfc6056-4",
    [EP_ALG_RFC6056_5] = "rfc6056-5",
};

const char *ep_algorithm_name(ep_algorithm alg)
{
    if ((unsigned)alg >= EP_ALG__COUNT)
        return NULL;
    return ep_alg_names[alg];
}

int ep_algorithm_from_name(const char *name, ep_algorithm *out)
{
    if (!name || !out)
        return EP_EINVAL;
    if (strcmp(name, "default") == 0) {
        *out = EP_ALG_RANDOM;
        return 0;
    }
    if (strcmp(name, "linux") == 0) {
        *out = EP_ALG_RFC6056_4;
        return 0;
    }
    for (int i = 0; i < EP_ALG__COUNT; i++) {
        if (strcmp(name, ep_alg_names[i]) == 0) {
            *out = (ep_algorithm)i;
            return 0;
        }
    }
    return EP_EINVAL;
}

ep_time ep_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ep_time)ts.tv_sec * EP_NSEC_PER_SEC + (ep_time)ts.tv_nsec;
}

const char *ep_semantics_name(ep_semantics sem)
{
    switch (sem) {
    case EP_SEM_STACK: return "stack";
    case EP_SEM_LINUX: return "linux";
    }
    return NULL;
}
