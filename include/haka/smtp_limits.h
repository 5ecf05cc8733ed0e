/*
 * The SMTP dissector's limits: set in haka.conf (section smtp) or with
 * hakapcap --smtp-limit, given to the dissector once at start
 * (smtp_set_limits, before smtp_init builds the grammar with max_line)
 * and read by the sessions as they run.
 */
#ifndef HAKA_SMTP_LIMITS_H
#define HAKA_SMTP_LIMITS_H

#include <stdint.h>

struct smtp_limits {
	uint32_t command_line; /* RFC 5321 4.5.3.1.4: 512, anomaly beyond */
	uint32_t reply_line;   /* RFC 5321 4.5.3.1.5: 512, anomaly beyond */
	uint32_t text_line;    /* RFC 5321 4.5.3.1.6: 1000, anomaly beyond */
	uint32_t max_line;     /* parameter or reply text; longer: invalid */
	uint32_t max_pending;  /* pipelined commands awaiting replies */
	uint32_t max_errors;   /* invalid lines before giving up */
	/*
	 * Bytes of SMTP sessions (their state and parsers) per worker: a
	 * new session is refused (its connection dropped) at or above it;
	 * 0 = no limit.
	 */
	uint64_t memcap;
};

/* The defaults, as an initializer. */
#define SMTP_LIMITS_DEFAULT                                                    \
	{                                                                      \
		.command_line = 512, .reply_line = 512, .text_line = 1000,     \
		.max_line = 4096, .max_pending = 1000, .max_errors = 10,       \
		.memcap = 256ULL << 20                                         \
	}

/* The bounds the configuration accepts. */
#define SMTP_LINE_LIMIT_MAX  (1u << 20)
#define SMTP_MAX_LINE_MIN    512u
#define SMTP_MAX_PENDING_MAX 100000u

#endif
