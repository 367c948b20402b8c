/* chacha-t.h - the CSPRNG's state type (chacha.h has its functions), apart
 * so that pool-t.h can embed it without pulling in logic.  Private to
 * libephport. */
#ifndef EP_CHACHA_T_H
#define EP_CHACHA_T_H

#include <stdint.h>

#define EP_RNG_BUFWORDS 128 /* eight ChaCha20 blocks per refill */

typedef struct ep_rng {
    uint32_t key[8];
    uint64_t counter;               /* block counter */
    uint32_t buf[EP_RNG_BUFWORDS];
    unsigned pos;                   /* next unread word in buf */
} ep_rng;

#endif
