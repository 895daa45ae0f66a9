/* Mixing 64-bit values for hash tables. Private to tokensmith. */
#ifndef TS_COMMON_HASH_H
#define TS_COMMON_HASH_H

#include <stdint.h>

/** splitmix64's finaliser: every input bit affects every output bit. Tables mix a per-table
 *  random seed into what they hash, so that a client cannot aim its keys at one bucket. */
static inline uint64_t ts_common__mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#endif
