/* lock.c - the contended half of the pool's futex mutex (lock.h): spinning
 * a little, sleeping in FUTEX_WAIT, waking in FUTEX_WAKE.  The uncontended
 * path is inline in lock.h. */
#include "lock.h"

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The contended path, built for critical sections of ~50-100 ns on a few
 * cores (the pool's case):
 *
 *   - spin first, with exponential backoff: the waiter re-reads the word
 *     (test before compare-and-swap, so a waiting core keeps the line
 *     shared and does not steal it from the holder), then pauses 1, 2, 4 ...
 *     up to EP_LOCK_BACKOFF_MAX times before the next look.  Backing off
 *     lets the holder, whose next call starts a few ns after its release,
 *     take the lock again with its data still in its cache: the lock is
 *     unfair on purpose, and a burst of one thread's calls costs no cache
 *     misses.  Handing over on every release (a fair or a queue lock)
 *     moves the pool's cache lines between cores on every call, which is
 *     what collapsed two threads to 0.1-0.6x of one;
 *   - keep spinning when another waiter sleeps (word 2): the old "queue
 *     behind the sleepers" rule sent every waiter to FUTEX_WAIT at once,
 *     after which every release paid a FUTEX_WAKE system call (~1 us, ten
 *     pool calls) and every acquire a sleep;
 *   - sleep in FUTEX_WAIT only after EP_LOCK_SPIN_BUDGET pause steps in all
 *     (tens of us: a holder that was preempted, or more threads than
 *     cores), so a burnt time slice stays bounded. */
#define EP_LOCK_BACKOFF_MAX 256
#define EP_LOCK_SPIN_BUDGET 16384

static inline void ep_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void ep_futex(_Atomic uint32_t *word, int op, uint32_t val)
{
    /* Errors are all benign here: EAGAIN (the word changed before we slept)
     * and EINTR send the caller round its loop again. */
    (void)syscall(SYS_futex, (uint32_t *)word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

void ep_lock_acquire_slow(ep_lock *l)
{
    uint32_t c, spent = 0, backoff = 1;

    while (spent < EP_LOCK_SPIN_BUDGET) {
        for (uint32_t i = 0; i < backoff; i++)
            ep_cpu_relax();
        spent += backoff;
        if (backoff < EP_LOCK_BACKOFF_MAX)
            backoff *= 2;
        c = atomic_load_explicit(&l->v, memory_order_relaxed);
        if (c == 0) {
            /* take it as it was found (0 -> 1): a sleeper, if any, marked
             * the word 2 when it went to sleep and its wake-up comes from
             * the release that sees 2, so never clear a 2 here */
            if (atomic_compare_exchange_weak_explicit(&l->v, &c, 1, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
        }
    }
    /* From here on we may have slept, so we may not know whether other
     * waiters remain: always take the lock as "contended" (2), which makes
     * the holder's release wake one more sleeper, possibly for nothing. */
    while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
        ep_futex(&l->v, FUTEX_WAIT, 2);
}

void ep_lock_wake(ep_lock *l)
{
    ep_futex(&l->v, FUTEX_WAKE, 1);
}
#endif
