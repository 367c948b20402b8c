/* lock.h - the pool's mutex.  Private to libephport.
 *
 * Every public pool call takes the lock once and releases it once, so on a
 * connect+close pair the uncontended path is four lock operations.  glibc's
 * pthread_mutex_lock/unlock spend ~55 instructions each on that path (mutex
 * type dispatch, lock elision checks, owner and counter bookkeeping); this
 * lock spends one atomic instruction and a branch.
 *
 * On Linux it is the three-state futex mutex of Drepper's "Futexes Are
 * Tricky" (mutex 3), the design Rust's std and musl also use: 0 unlocked,
 * 1 locked, 2 locked with possible waiters.  Acquire: compare-and-swap 0 -> 1;
 * on failure spin with exponential backoff (lock.c says why), then
 * mark the word 2 and sleep in FUTEX_WAIT until an exchange finds it 0.
 * Release: exchange with 0; if the old value was 2, FUTEX_WAKE one waiter.
 * It is not recursive and not robust, as the pool never needs either.
 * Elsewhere it is a plain pthread mutex.
 *
 * C11 atomics with acquire/release ordering carry the happens-before edges,
 * so ThreadSanitizer follows them without annotations. */
#ifndef EP_LOCK_H
#define EP_LOCK_H

#include "lock-t.h"

#ifdef __linux__
#include <stdatomic.h>
#include <stdint.h>


static inline int ep_lock_init(ep_lock *l)
{
    atomic_init(&l->v, 0);
    return 0;
}

static inline void ep_lock_destroy(ep_lock *l)
{
    (void)l;
}

void ep_lock_acquire_slow(ep_lock *l);
void ep_lock_wake(ep_lock *l);

static inline void ep_lock_acquire(ep_lock *l)
{
    uint32_t expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->v, &expected, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        ep_lock_acquire_slow(l);
}

static inline void ep_lock_release(ep_lock *l)
{
    if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
        ep_lock_wake(l);
}

#else /* !__linux__ */
#include <pthread.h>


static inline int ep_lock_init(ep_lock *l)
{
    return pthread_mutex_init(&l->m, NULL) == 0 ? 0 : -1;
}

static inline void ep_lock_destroy(ep_lock *l)
{
    pthread_mutex_destroy(&l->m);
}

static inline void ep_lock_acquire(ep_lock *l)
{
    pthread_mutex_lock(&l->m);
}

static inline void ep_lock_release(ep_lock *l)
{
    pthread_mutex_unlock(&l->m);
}
#endif

#endif
