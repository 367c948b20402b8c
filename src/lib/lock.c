/* lock.c - the contended half of the pool's futex mutex (lock.h): spinning
 * with exponential backoff, sleeping in FUTEX_WAIT, waking in FUTEX_WAKE.
 * The uncontended path is inline in lock.h. */
#include "lock.h"

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How a waiter spins.  A pool call holds the lock for 20-50 ns, and the
 * holder's next call usually follows at once, so what costs is not the
 * wait but the hand-over: every time the lock changes core, the pool's hot
 * lines (the lock, the shard's records and tables) move with it, ~10x a
 * call.  A waiter that looks at the word often also pulls the lock's line
 * away from the holder at each look.  So it looks with exponential backoff
 * (1, 2, 4 ... pause instructions between looks, up to EP_LOCK_BACKOFF_MAX:
 * ~26 us with the 26 ns pause measured on this AMD EPYC), which lets the
 * holder run long bursts with warm caches: two threads on one destination
 * then keep 0.85-0.9 of one thread's throughput instead of collapsing to a
 * quarter of it in wake-ups (docs/ENGINE.md section 15, BENCHMARKS.md
 * "Threads").  The price is latency under contention and no fairness: a
 * waiter may wait many holder calls.  After EP_LOCK_SPIN_BUDGET pauses
 * (~0.4 ms) it sleeps in FUTEX_WAIT, so a holder preempted by the
 * scheduler costs a sleep, not a burnt time slice. */
#define EP_LOCK_SPIN_BUDGET 16384
#define EP_LOCK_BACKOFF_MAX 1024

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
    uint32_t c;
    unsigned backoff = 1;

    for (unsigned spent = 0; spent < EP_LOCK_SPIN_BUDGET; spent += backoff) {
        c = atomic_load_explicit(&l->v, memory_order_relaxed);
        if (c == 0) {
            if (atomic_compare_exchange_weak_explicit(&l->v, &c, 1, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
        } else if (c == 2) {
            break; /* others are already asleep: queue behind them */
        }
        for (unsigned i = 0; i < backoff; i++)
            ep_cpu_relax();
        if (backoff < EP_LOCK_BACKOFF_MAX)
            backoff <<= 1;
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
