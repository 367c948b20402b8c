/* lock-t.h - the pool mutex's type (lock.h has its operations and says
 * why it is built this way), apart so that pool-t.h can embed it without
 * pulling in logic.  Private to libephport. */
#ifndef EP_LOCK_T_H
#define EP_LOCK_T_H

#ifdef __linux__
#include <stdatomic.h>
#include <stdint.h>

typedef struct ep_lock {
    _Atomic uint32_t v;
} ep_lock;
#else
#include <pthread.h>

typedef struct ep_lock {
    pthread_mutex_t m;
} ep_lock;
#endif

#endif
