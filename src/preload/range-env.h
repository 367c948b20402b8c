/* range-env.h - the contract between `ephport exec` and the LD_PRELOAD shim:
 * the names of the environment variables that carry the policy, and the
 * strict parser of the range text.  Shared by src/cli/exec.c (which writes
 * them) and src/preload/portrange.c (which reads them), so the two cannot
 * drift apart. */
#ifndef EP_PRELOAD_RANGE_ENV_H
#define EP_PRELOAD_RANGE_ENV_H

#include <stdbool.h>
#include <stdint.h>

/* "LO-HI", decimal, 1 <= LO <= HI <= 65535. */
#define EP_PRELOAD_ENV_RANGE "EPHPORT_EXEC_RANGE"
/* "1": bind(address, 0) on TCP sockets sets IP_BIND_ADDRESS_NO_PORT first. */
#define EP_PRELOAD_ENV_NO_PORT_BIND "EPHPORT_EXEC_NO_PORT_BIND"

/* The socket option, Linux 6.3+ (uapi linux/in.h); older headers lack it. */
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Parse exactly "LO-HI" (no spaces, no signs, no leading '+', at most five
 * digits each) with 1 <= LO <= HI <= 65535.  Returns false on anything
 * else and leaves *lo / *hi untouched. */
bool ep_preload_range_parse(const char *text, uint16_t *lo, uint16_t *hi);

/* The IP_LOCAL_PORT_RANGE value for [lo, hi]: (hi << 16) | lo. */
static inline uint32_t ep_preload_range_value(uint16_t lo, uint16_t hi)
{
    return ((uint32_t)hi << 16) | lo;
}

#endif
