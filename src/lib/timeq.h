/* timeq.h - intrusive FIFO expiry queues over the entry slab.
 * Private to libephport. */
#ifndef EP_TIMEQ_H
#define EP_TIMEQ_H

#include "pool-t.h"

void ep_timeq_init(ep_timeq *q);
/* Append entry idx (its u.expire already set, not before the tail's). */
void ep_timeq_push(ep_timeq *q, ep_entry *base, uint32_t idx);
/* Remove entry idx from anywhere in the queue, O(1). */
void ep_timeq_unlink(ep_timeq *q, ep_entry *base, uint32_t idx);
/* The head if it is due at `now` (expire <= now), else EP_NIL. */
uint32_t ep_timeq_due(const ep_timeq *q, const ep_entry *base, ep_time now);

#endif
