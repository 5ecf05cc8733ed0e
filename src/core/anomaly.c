/*
 * Anomaly names and global counters. Raised by every decoding module
 * through the engine; read by the end-of-run summary and hakactl.
 */
#include <haka/anomaly.h>

static const char *const anomaly_names[ANOM_COUNT] = {
#define HK_ANOM_NAME(id, name) [ANOM_##id] = name,
    HK_ANOMALIES(HK_ANOM_NAME)
#undef HK_ANOM_NAME
};

static uint64_t anomaly_counters[ANOM_COUNT];

const char *
anomaly_name(enum anomaly a)
{
	if ((unsigned)a >= ANOM_COUNT)
		return "unknown";
	return anomaly_names[a];
}

void
anomaly_count(enum anomaly a)
{
	/* Shared by the workers: hakactl reads the totals. */
	if ((unsigned)a < ANOM_COUNT)
		__atomic_fetch_add(&anomaly_counters[a], 1, __ATOMIC_RELAXED);
}

uint64_t
anomaly_get(enum anomaly a)
{
	if ((unsigned)a >= ANOM_COUNT)
		return 0;
	return __atomic_load_n(&anomaly_counters[a], __ATOMIC_RELAXED);
}

void
anomaly_reset_all(void)
{
	for (int i = 0; i < ANOM_COUNT; i++)
		anomaly_counters[i] = 0;
}
