/*
 * Logging in the original engine's format (HAKA.md section c):
 *
 *   "info  core:      message"
 *
 * level name left-justified on 5 columns, a space, "section:", padding so
 * that messages align on the longest section name printed so far, a space,
 * the message. FATAL goes to stderr, everything else to stdout (or to the
 * file set with log_set_output). Levels are per section.
 */
#ifndef HAKA_LOG_H
#define HAKA_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

enum log_level {
	LOG_FATAL = 0,
	LOG_ERROR,
	LOG_WARNING,
	LOG_INFO,
	LOG_DEBUG,
	LOG_TRACE,
	LOG_LEVEL_COUNT
};

/* Name as printed ("fatal", "error", "warn", "info", "debug", "trace"). */
const char *log_level_str(enum log_level level);

/*
 * Parse a level specification: "LEVEL[,section=LEVEL...]", for example
 * "warn,tcp=debug". Level names: fatal, error, warn, warning, info, debug,
 * trace, default. Returns HK_OK, or HK_ERR with a message in err (a static
 * or caller-owned buffer of errlen bytes) and the current levels untouched.
 */
int log_set_level_spec(const char *spec, char *err, size_t errlen);

/* Check a specification as log_set_level_spec does, without applying it. */
int log_check_level_spec(const char *spec, char *err, size_t errlen);

/* Set the default level (sections without their own level). */
void log_set_default_level(enum log_level level);

/* True when a message of this level in this section would be printed. */
int log_enabled(const char *section, enum log_level level);

/*
 * A section name that a level can be given to (-l NAME=LEVEL): 1 to
 * LOG_SECTION_NAME - 1 bytes, none of them a space, a control byte, '='
 * or ','. Returns 1 if valid.
 */
#define LOG_SECTION_NAME 32 /* including the NUL */
int log_section_valid(const char *s, size_t len);

/*
 * Print one message. The section is a short constant string ("core",
 * "tcp", "external"...). A message ending with '\n' prints an empty line
 * after it, as in the original.
 */
void hk_log(enum log_level level, const char *section, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hk_vlog(enum log_level level, const char *section, const char *fmt,
             va_list ap) __attribute__((format(printf, 3, 0)));

/*
 * Print one message of untrusted text (a rule's haka.log, bytes from the
 * network): len bytes of text, NULs included, with every byte below 0x20
 * and 0x7f written as \n, \r, \t or \xHH (\x1b, \x00...), so that the
 * message stays on one line of its own in every output (file, stdout,
 * syslog) and cannot drive a terminal. Other bytes, backslash included,
 * are copied as they are. Messages are truncated as hk_log's, never in the
 * middle of an escape. C code that logs text with line breaks on purpose
 * (tracebacks, the original's empty lines) keeps using hk_log().
 */
void hk_log_text(enum log_level level, const char *section, const char *text,
                 size_t len);

/*
 * The escaping of hk_log_text(): write the escaped form of len bytes of
 * src into dst (cap bytes, cap > 0), NUL-terminated, stopping before an
 * escape that would not fit. Returns the length written (without the NUL).
 */
size_t log_escape(char *dst, size_t cap, const char *src, size_t len);

/*
 * With raw true, hk_log_text() writes the text as it is, up to its first
 * NUL: the original engine's output, which the test references of its
 * captures hold. Unsafe with hostile traffic; hakapcap --log-raw-text
 * only. Set at start-up.
 */
void log_set_raw_text(bool raw);

/* Redirect non-fatal output (default stdout). The stream is not closed. */
void log_set_output(FILE *out);

/*
 * A stream whose lines go to syslog (ident "haka"): kind 0 for the log
 * (facility daemon, priority info), 1 for alerts (local0, notice, as the
 * original). NULL on memory exhaustion.
 */
#define LOG_SYSLOG_LOG    0
#define LOG_SYSLOG_ALERTS 1
FILE *log_syslog_stream(int kind);

/*
 * The most verbose level of the default and of any section: a debug
 * check on the hot path is one load when nothing logs at debug level.
 */
extern int log_max_level;

#define LOG_DEBUG_ENABLED(sec)                                                 \
	(__atomic_load_n(&log_max_level, __ATOMIC_RELAXED) >= LOG_DEBUG &&     \
	 log_enabled((sec), LOG_DEBUG))

#endif
