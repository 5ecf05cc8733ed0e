/*
 * Project-wide return codes and small shared types.
 * Every module returns these (CONVENTIONS.md section 4).
 */
#ifndef HAKA_TYPES_H
#define HAKA_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	HK_OK = 0,        /* done; outputs valid */
	HK_ERR = -1,      /* failed; outputs untouched */
	HK_AGAIN = -2,    /* need more data */
	HK_GAP = -3,      /* a hole in the stream was reached */
	HK_DECLINED = -5, /* not mine */
};

/* Capture or wall-clock time, in nanoseconds resolution. */
struct hk_time {
	int64_t sec;
	int32_t nsec;
};

static inline int64_t
hk_time_ns(const struct hk_time *t)
{
	return t->sec * 1000000000LL + t->nsec;
}

#define HK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Big-endian (network order) loads and stores at any alignment. */
static inline uint16_t
hk_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
hk_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void
hk_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
hk_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Shrink [*s, *s + *len) past its leading and trailing blanks and tabs. */
static inline void
hk_trim_blanks(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/*
 * Format a message into err (errlen bytes; err may be NULL): how every
 * function taking (char *err, size_t errlen) reports a failure.
 */
void hk_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
