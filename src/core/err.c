/*
 * Error messages into a caller's buffer: the convention of every
 * function that takes (char *err, size_t errlen).
 */
#include <stdarg.h>
#include <stdio.h>

#include <haka/types.h>

void
hk_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
