/*
 * Minimal unit test macros (after Suricata's util-unittest.h): FAIL_IF
 * reports the file and line and makes the test binary exit non-zero.
 */
#ifndef HAKA_UNITTEST_H
#define HAKA_UNITTEST_H

#include <stdio.h>
#include <stdlib.h>

static int ut_failures;
static int ut_passed;

#define FAIL_IF(expr)                                                          \
	do {                                                                   \
		if (expr) {                                                    \
			fprintf(stderr, "%s:%d: FAIL_IF(%s)\n", __FILE__,      \
			        __LINE__, #expr);                              \
			ut_failures++;                                         \
			return;                                                \
		}                                                              \
	} while (0)
#define FAIL_IF_NOT(expr) FAIL_IF(!(expr))

#define RUN_TEST(fn)                                                           \
	do {                                                                   \
		int before_ = ut_failures;                                     \
		fn();                                                          \
		if (ut_failures == before_) {                                  \
			ut_passed++;                                           \
			fprintf(stderr, "ok   %s\n", #fn);                     \
		} else {                                                       \
			fprintf(stderr, "FAIL %s\n", #fn);                     \
		}                                                              \
	} while (0)

#define UT_DONE()                                                              \
	do {                                                                   \
		fprintf(stderr, "%d passed, %d failed\n", ut_passed,           \
		        ut_failures);                                          \
		return ut_failures ? 1 : 0;                                    \
	} while (0)

#endif
