/*
 * Unit tests of src/core/log.c: the exact line format of the original
 * engine (padding that grows with the longest section printed), level
 * filtering per section, the level specification parser, and the
 * escaping of untrusted text (hk_log_text).
 *
 * The alignment width is process-wide and only grows, so the tests that
 * compare padded lines run first, in order.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <haka/log.h>
#include <haka/types.h>

#include "unittest.h"

static char *mem_buf;
static size_t mem_len;
static FILE *mem;

static void
capture_start(void)
{
	mem_buf = NULL;
	mem_len = 0;
	mem = open_memstream(&mem_buf, &mem_len);
	log_set_output(mem);
}

/* Returns the captured text (owned by the caller); output back to stdout. */
static char *
capture_end(void)
{
	log_set_output(NULL);
	fclose(mem);
	mem = NULL;
	return mem_buf;
}

static int
check_text(char *got, const char *want)
{
	int ok = got != NULL && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "got:\n[%s]\nwant:\n[%s]\n",
		        got != NULL ? got : "(null)", want);
	free(got);
	return ok;
}

/* Clear the section overrides the tests set, default back to info. */
static void
reset_levels(void)
{
	char err[128];

	log_set_level_spec("info,tcp=default,ipv4=default,core=default,"
	                   "states=default,x=default",
	                   err, sizeof(err));
}

static void
test_alignment_grows(void)
{
	capture_start();
	hk_log(LOG_INFO, "core", "load module '%s', %s", "capture/pcap.so",
	       "Pcap Module");
	hk_log(LOG_INFO, "core",
	       "setting packet capture mode to pass-through\n");
	hk_log(LOG_INFO, "dissector", "register new dissector '%s'", "packet");
	hk_log(
	    LOG_INFO, "core",
	    "register policy 'unknown dissector' on 'packet next dissector'");
	hk_log(LOG_INFO, "capture", "opening file 'smtp.pcap'");
	hk_log(LOG_INFO, "core", "2 rule(s) registered\n");
	hk_log(LOG_WARNING, "tcp", "retransmit packet (ignored)");
	hk_log(LOG_ERROR, "lua", "boom");
	FAIL_IF_NOT(check_text(
	    capture_end(),
	    "info  core: load module 'capture/pcap.so', Pcap Module\n"
	    "info  core: setting packet capture mode to pass-through\n"
	    "\n"
	    "info  dissector: register new dissector 'packet'\n"
	    "info  core:      register policy 'unknown dissector' on 'packet "
	    "next dissector'\n"
	    "info  capture:   opening file 'smtp.pcap'\n"
	    "info  core:      2 rule(s) registered\n"
	    "\n"
	    "warn  tcp:       retransmit packet (ignored)\n"
	    "error lua:       boom\n"));

	/* A longer section widens the padding for every later line. */
	capture_start();
	hk_log(LOG_INFO, "tcp_connection", "x");
	hk_log(LOG_INFO, "core", "y");
	FAIL_IF_NOT(check_text(capture_end(), "info  tcp_connection: x\n"
	                                      "info  core:           y\n"));
}

static void
test_level_names(void)
{
	FAIL_IF(strcmp(log_level_str(LOG_FATAL), "fatal") != 0);
	FAIL_IF(strcmp(log_level_str(LOG_ERROR), "error") != 0);
	FAIL_IF(strcmp(log_level_str(LOG_WARNING), "warn") != 0);
	FAIL_IF(strcmp(log_level_str(LOG_INFO), "info") != 0);
	FAIL_IF(strcmp(log_level_str(LOG_DEBUG), "debug") != 0);
	FAIL_IF(strcmp(log_level_str(LOG_TRACE), "trace") != 0);
	FAIL_IF(strcmp(log_level_str(LOG_LEVEL_COUNT), "unknown") != 0);
	FAIL_IF(strcmp(log_level_str((enum log_level) - 1), "unknown") != 0);
}

static void
test_default_is_info(void)
{
	FAIL_IF_NOT(log_enabled("core", LOG_INFO));
	FAIL_IF_NOT(log_enabled("core", LOG_FATAL));
	FAIL_IF(log_enabled("core", LOG_DEBUG));
	FAIL_IF(log_enabled("core", LOG_TRACE));
	FAIL_IF(log_enabled("core", LOG_LEVEL_COUNT));

	capture_start();
	hk_log(LOG_DEBUG, "core", "hidden %d", 1);
	hk_log(LOG_TRACE, "core", "hidden %d", 2);
	FAIL_IF_NOT(check_text(capture_end(), ""));
}

static void
test_debug_and_trace_lines(void)
{
	char err[128];

	FAIL_IF(log_set_level_spec("trace", err, sizeof(err)) != HK_OK);
	capture_start();
	hk_log(LOG_DEBUG, "core", "d");
	hk_log(LOG_TRACE, "core", "t");
	FAIL_IF_NOT(check_text(capture_end(), "debug core:           d\n"
	                                      "trace core:           t\n"));
	reset_levels();
}

static void
test_spec_per_section(void)
{
	char err[128];

	FAIL_IF(log_set_level_spec("warn,tcp=debug,ipv4=info", err,
	                           sizeof(err)) != HK_OK);
	FAIL_IF_NOT(log_enabled("tcp", LOG_DEBUG));
	FAIL_IF(log_enabled("tcp", LOG_TRACE));
	FAIL_IF_NOT(log_enabled("ipv4", LOG_INFO));
	FAIL_IF(log_enabled("ipv4", LOG_DEBUG));
	FAIL_IF_NOT(log_enabled("core", LOG_WARNING));
	FAIL_IF(log_enabled("core", LOG_INFO));
	/* Same name from another pointer: compared by content. */
	{
		char name[] = "tcp";
		FAIL_IF_NOT(log_enabled(name, LOG_DEBUG));
	}
	/* A prefix of a section name is another section. */
	FAIL_IF(log_enabled("tc", LOG_INFO));
	FAIL_IF(log_enabled("tcp_connection", LOG_INFO));

	capture_start();
	hk_log(LOG_DEBUG, "tcp", "seen");
	hk_log(LOG_INFO, "core", "not seen");
	hk_log(LOG_WARNING, "core", "seen too");
	hk_log(LOG_DEBUG, "ipv4", "not seen");
	FAIL_IF_NOT(check_text(capture_end(),
	                       "debug tcp:            seen\n"
	                       "warn  core:           seen too\n"));

	/* Applied on top: a later spec changes only what it names. */
	FAIL_IF(log_set_level_spec("tcp=error", err, sizeof(err)) != HK_OK);
	FAIL_IF(log_enabled("tcp", LOG_WARNING));
	FAIL_IF_NOT(log_enabled("tcp", LOG_ERROR));
	FAIL_IF_NOT(log_enabled("ipv4", LOG_INFO));
	FAIL_IF(log_enabled("core", LOG_INFO));

	/* "default": info for the default level, no override for a section. */
	FAIL_IF(log_set_level_spec("default,tcp=default", err, sizeof(err)) !=
	        HK_OK);
	FAIL_IF_NOT(log_enabled("core", LOG_INFO));
	FAIL_IF(log_enabled("core", LOG_DEBUG));
	FAIL_IF_NOT(log_enabled("tcp", LOG_INFO));
	FAIL_IF(log_set_level_spec("debug", err, sizeof(err)) != HK_OK);
	FAIL_IF_NOT(log_enabled("tcp", LOG_DEBUG));
	FAIL_IF_NOT(log_enabled("ipv4", LOG_INFO));
	FAIL_IF(log_enabled("ipv4", LOG_DEBUG));

	/* Blanks around tokens are tolerated. */
	FAIL_IF(log_set_level_spec(" warn , states = trace ", err,
	                           sizeof(err)) != HK_OK);
	FAIL_IF_NOT(log_enabled("states", LOG_TRACE));
	FAIL_IF(log_enabled("core", LOG_INFO));
	reset_levels();
	FAIL_IF_NOT(log_enabled("core", LOG_INFO));
	FAIL_IF(log_enabled("states", LOG_DEBUG));
}

static void
test_warning_accepted(void)
{
	char err[128];

	FAIL_IF(log_set_level_spec("warning", err, sizeof(err)) != HK_OK);
	FAIL_IF_NOT(log_enabled("core", LOG_WARNING));
	FAIL_IF(log_enabled("core", LOG_INFO));
	FAIL_IF(log_set_level_spec("info,tcp=warning", err, sizeof(err)) !=
	        HK_OK);
	FAIL_IF(log_enabled("tcp", LOG_INFO));
	FAIL_IF_NOT(log_enabled("tcp", LOG_WARNING));
	FAIL_IF(log_set_level_spec("fatal,x=error", err, sizeof(err)) != HK_OK);
	FAIL_IF(log_enabled("core", LOG_ERROR));
	FAIL_IF_NOT(log_enabled("core", LOG_FATAL));
	FAIL_IF_NOT(log_enabled("x", LOG_ERROR));
	reset_levels();
}

static void
test_invalid_spec(void)
{
	static const struct {
		const char *spec, *err;
	} bad[] = {
	    {"foo", "invalid logging level: foo"},
	    {"warn,tcp=bogus", "invalid logging level: bogus"},
	    {"", "invalid logging level: "},
	    {"debug,", "invalid logging level: "},
	    {"Debug", "invalid logging level: Debug"},
	    {"warnings", "invalid logging level: warnings"},
	    {"=debug", "invalid logging section: "},
	    {"a b=debug", "invalid logging section: a b"},
	    {"tcp=", "invalid logging level: "},
	    {"tcp=debug=x", "invalid logging level: debug=x"},
	    {"a_section_name_that_is_far_too_long=debug",
	     "invalid logging section: "
	     "a_section_name_that_is_far_too_long"},
	};
	char err[128];

	FAIL_IF(log_set_level_spec("warn,tcp=debug", err, sizeof(err)) !=
	        HK_OK);
	for (size_t i = 0; i < HK_ARRAY_SIZE(bad); i++) {
		memset(err, 'Z', sizeof(err));
		FAIL_IF(log_set_level_spec(bad[i].spec, err, sizeof(err)) !=
		        HK_ERR);
		if (strcmp(err, bad[i].err) != 0)
			fprintf(stderr, "spec [%s]: err [%s]\n", bad[i].spec,
			        err);
		FAIL_IF(strcmp(err, bad[i].err) != 0);
		/* Nothing changed, even by the valid tokens before the bad. */
		FAIL_IF_NOT(log_enabled("core", LOG_WARNING));
		FAIL_IF(log_enabled("core", LOG_INFO));
		FAIL_IF_NOT(log_enabled("tcp", LOG_DEBUG));
		FAIL_IF(log_enabled("tcp", LOG_TRACE));
	}
	/* NULL spec, no error buffer, tiny error buffer: no crash. */
	FAIL_IF(log_set_level_spec(NULL, NULL, 0) != HK_ERR);
	FAIL_IF(log_set_level_spec("nope", NULL, 0) != HK_ERR);
	FAIL_IF(log_set_level_spec("nope", err, 8) != HK_ERR);
	FAIL_IF(strcmp(err, "invalid") != 0);
	reset_levels();
	FAIL_IF(log_enabled("tcp", LOG_DEBUG));
}

static void
test_section_table_full(void)
{
	char spec[64 * 16 + 16], err[128];
	size_t off = 0;

	off += (size_t)snprintf(spec + off, sizeof(spec) - off, "info");
	for (int i = 0; i < 64; i++)
		off += (size_t)snprintf(spec + off, sizeof(spec) - off,
		                        ",s%d=debug", i);
	FAIL_IF(log_set_level_spec(spec, err, sizeof(err)) != HK_OK);
	FAIL_IF_NOT(log_enabled("s63", LOG_DEBUG));
	FAIL_IF(log_set_level_spec("s64=debug", err, sizeof(err)) != HK_ERR);
	FAIL_IF(strcmp(err, "too many logging sections: s64") != 0);
	FAIL_IF(log_enabled("s64", LOG_DEBUG));
	/* Changing an existing one still works when full. */
	FAIL_IF(log_set_level_spec("s0=error", err, sizeof(err)) != HK_OK);
	FAIL_IF(log_enabled("s0", LOG_WARNING));

	/* Remove them all; the table has room again. */
	off = 0;
	off += (size_t)snprintf(spec + off, sizeof(spec) - off, "info");
	for (int i = 0; i < 64; i++)
		off += (size_t)snprintf(spec + off, sizeof(spec) - off,
		                        ",s%d=default", i);
	FAIL_IF(log_set_level_spec(spec, err, sizeof(err)) != HK_OK);
	FAIL_IF(log_enabled("s5", LOG_DEBUG));
	FAIL_IF(log_set_level_spec("s64=debug", err, sizeof(err)) != HK_OK);
	FAIL_IF_NOT(log_enabled("s64", LOG_DEBUG));
	FAIL_IF(log_set_level_spec("s64=default", err, sizeof(err)) != HK_OK);
}

static void
test_set_default_level(void)
{
	log_set_default_level(LOG_ERROR);
	FAIL_IF(log_enabled("core", LOG_WARNING));
	FAIL_IF_NOT(log_enabled("core", LOG_ERROR));
	log_set_default_level(LOG_LEVEL_COUNT); /* ignored */
	FAIL_IF(log_enabled("core", LOG_WARNING));
	log_set_default_level(LOG_INFO);
	FAIL_IF_NOT(log_enabled("core", LOG_INFO));
}

static void
test_long_message_truncated(void)
{
	char *big = malloc(6000), *got;
	const char *prefix = "info  core:           ";

	FAIL_IF(big == NULL);
	memset(big, 'a', 5999);
	big[5999] = '\0';
	capture_start();
	hk_log(LOG_INFO, "core", "%s", big);
	got = capture_end();
	free(big);
	FAIL_IF(got == NULL);
	/* 4095 bytes of message, then the newline. */
	if (strlen(got) != strlen(prefix) + 4095 + 1 ||
	    strncmp(got, prefix, strlen(prefix)) != 0 ||
	    got[strlen(got) - 1] != '\n' || got[strlen(got) - 2] != 'a') {
		free(got);
		FAIL_IF(1);
	}
	free(got);
}

/* hk_vlog has no format attribute: lets the test pass a NULL format. */
static void
call_vlog(enum log_level level, const char *section, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hk_vlog(level, section, fmt, ap);
	va_end(ap);
}

static void
test_hostile_arguments(void)
{
	capture_start();
	hk_log(LOG_INFO, NULL, "no section");
	call_vlog(LOG_INFO, "core", NULL);
	hk_log((enum log_level)42, "core", "bad level");
	hk_log((enum log_level) - 3, "core", "bad level");
	FAIL_IF_NOT(check_text(capture_end(),
	                       "info  ?:              no section\n"
	                       "info  core:           \n"));
	FAIL_IF(log_enabled(NULL, LOG_INFO) != 1);
}

/*
 * hk_log_text, for untrusted text (haka.log): every byte below 0x20 and
 * 0x7f is escaped, NULs included, so that a message cannot forge a line
 * or a terminal sequence; other bytes, backslash included, are kept.
 */
static void
test_text_escaped(void)
{
	static const char text[] = "MAIL FROM:<a>\r\ninfo  core: forged\t"
	                           "\x1b[2J\x7f\x00\x01 \\n \xc3\xa9 end";

	capture_start();
	hk_log_text(LOG_INFO, "core", text, sizeof(text) - 1);
	hk_log_text(LOG_INFO, "core", "plain %s 100%", 13);
	hk_log_text(LOG_INFO, "core", NULL, 5);
	hk_log_text(LOG_DEBUG, "core", "hidden", 6);
	FAIL_IF_NOT(check_text(capture_end(),
	                       "info  core:           MAIL FROM:<a>\\r\\n"
	                       "info  core: forged\\t\\x1b[2J\\x7f\\x00\\x01"
	                       " \\n \xc3\xa9 end\n"
	                       "info  core:           plain %s 100%\n"
	                       "info  core:           \n"));
}

/* Escapes are never cut: the message stops before one that would not fit. */
static void
test_text_escaped_truncated(void)
{
	char big[5000], out[16], *got;
	size_t n;

	memset(big, 0x1b, sizeof(big));
	capture_start();
	hk_log_text(LOG_INFO, "core", big, sizeof(big));
	got = capture_end();
	FAIL_IF(got == NULL);
	/* 1023 escapes of 4 bytes fit in 4095, then the newline. */
	n = strlen(got);
	if (n != strlen("info  core:           ") + 1023 * 4 + 1 ||
	    strcmp(got + n - 5, "\\x1b\n") != 0) {
		free(got);
		FAIL_IF(1);
	}
	free(got);
	FAIL_IF(log_escape(out, sizeof(out), "ab\ncd", 5) != 6);
	FAIL_IF(strcmp(out, "ab\\ncd") != 0);
	FAIL_IF(log_escape(out, 4, "ab\ncd", 5) != 2);
	FAIL_IF(strcmp(out, "ab") != 0);
	FAIL_IF(log_escape(out, 1, "ab", 2) != 0 || out[0] != '\0');
}

/* hakapcap --log-raw-text: the original's output, up to the first NUL. */
static void
test_text_raw(void)
{
	capture_start();
	log_set_raw_text(true);
	hk_log_text(LOG_INFO, "core", "a\r\nb\x00 c", 6);
	log_set_raw_text(false);
	hk_log_text(LOG_INFO, "core", "a\nb", 3);
	FAIL_IF_NOT(check_text(capture_end(), "info  core:           a\r\nb\n"
	                                      "info  core:           a\\nb\n"));
}

/*
 * FATAL goes to stderr, after the log output was flushed; a configured
 * output other than stdout (a log file, syslog) gets the line too.
 */
static void
test_fatal_to_stderr(void)
{
	FILE *tmp = tmpfile();
	int saved;
	char buf[256];
	size_t n;

	FAIL_IF(tmp == NULL);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	FAIL_IF(saved < 0);
	FAIL_IF(dup2(fileno(tmp), STDERR_FILENO) < 0);

	capture_start();
	hk_log(LOG_INFO, "core", "before");
	/* open_memstream updates mem_len only when the stream is flushed. */
	if (mem_len != 0) {
		dup2(saved, STDERR_FILENO);
		close(saved);
		fclose(tmp);
		free(capture_end());
		FAIL_IF(1);
	}
	hk_log(LOG_FATAL, "core", "cannot go on: %s", "why");
	n = mem_len;
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	FAIL_IF(n != strlen("info  core:           before\n"
	                    "fatal core:           cannot go on: why\n"));
	FAIL_IF_NOT(check_text(capture_end(),
	                       "info  core:           before\n"
	                       "fatal core:           cannot go on: why\n"));
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	FAIL_IF(strcmp(buf, "fatal core:           cannot go on: why\n") != 0);
}

int
main(void)
{
	RUN_TEST(test_alignment_grows);
	RUN_TEST(test_level_names);
	RUN_TEST(test_default_is_info);
	RUN_TEST(test_debug_and_trace_lines);
	RUN_TEST(test_spec_per_section);
	RUN_TEST(test_warning_accepted);
	RUN_TEST(test_invalid_spec);
	RUN_TEST(test_section_table_full);
	RUN_TEST(test_set_default_level);
	RUN_TEST(test_long_message_truncated);
	RUN_TEST(test_hostile_arguments);
	RUN_TEST(test_text_escaped);
	RUN_TEST(test_text_escaped_truncated);
	RUN_TEST(test_text_raw);
	RUN_TEST(test_fatal_to_stderr);
	UT_DONE();
}
