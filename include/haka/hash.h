/*
 * Hashing of keys an attacker chooses (addresses, ports, fragment ids):
 * tables keyed on them take a secret seed per instance, so that nobody
 * outside can pick keys that fall into one chain.
 */
#ifndef HAKA_HASH_H
#define HAKA_HASH_H

#include <stdint.h>

/* A 64-bit finalizer (splitmix64's): every input bit moves every output bit. */
static inline uint64_t
hk_mix64(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

/*
 * A secret seed from getrandom(); if the kernel cannot give one without
 * blocking, a mix of the clock and salt (an address of the caller's).
 */
uint64_t hk_secret_seed(const void *salt);

#endif
