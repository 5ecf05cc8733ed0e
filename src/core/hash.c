/* Secret seeds for the hash tables keyed on what the network sends. */
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

#include <haka/hash.h>

uint64_t
hk_secret_seed(const void *salt)
{
	uint64_t seed;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) ==
	    (ssize_t)sizeof(seed))
		return seed;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return hk_mix64((uint64_t)(uintptr_t)salt ^
	                ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec);
}
