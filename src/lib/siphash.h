/* siphash.h - SipHash-2-4 (Aumasson & Bernstein), the keyed hash behind the
 * RFC 6056 F() values (algorithms 3 and 4) that an observer must not be
 * able to predict, and behind the expansion of a seed into a ChaCha20 key.
 * (The engine's hash tables use cheaper universal hashes: see
 * tuple_table.h and dest.c.)  Private to libephport. */
#ifndef EP_SIPHASH_H
#define EP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ep_siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
