/* toeplitz.h - what toeplitz.c shares with the engine's RSS choice (rss.c).
 * Private to libephport. */
#ifndef EP_TOEPLITZ_H
#define EP_TOEPLITZ_H

#include <stddef.h>
#include <stdint.h>

/* Longest RSS input: two IPv6 addresses and two ports. */
#define EP_RSS_INPUT_MAX 36

/* The 32 key bits starting at bit `bit` (bit 0 = the most significant bit
 * of key[0]); bits past the key's end read as 0. */
uint32_t ep_toeplitz_window(const uint8_t *key, size_t key_len, size_t bit);

#endif
