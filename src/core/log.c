/*
 * Logging in the original engine's text format, with per-section levels.
 * Every module logs through hk_log(); text that may come from the
 * network or from a rule (haka.log) goes through hk_log_text(), which
 * escapes control characters. The command line and haka.conf set the
 * levels with log_set_level_spec(); hakapcap and the daemon choose the
 * output with log_set_output().
 *
 * Threading: hk_log() may be called from any thread; each line is written
 * with a single stdio call, so lines never interleave. The level table is
 * meant to be changed at start-up (or while workers are paused): a
 * concurrent change can make a racing message be filtered with the old or
 * the new level, never read out of bounds.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <haka/log.h>
#include <haka/types.h>

#define LOG_MSG_MAX      4096 /* longer messages are truncated */
#define LOG_SECTIONS_MAX 64   /* per-section overrides */
#define LOG_ALIGN_MAX    32   /* a longer section does not widen padding */

struct log_section {
	char name[LOG_SECTION_NAME];
	enum log_level level;
};

static const char *const log_level_names[LOG_LEVEL_COUNT] = {
    [LOG_FATAL] = "fatal", [LOG_ERROR] = "error", [LOG_WARNING] = "warn",
    [LOG_INFO] = "info",   [LOG_DEBUG] = "debug", [LOG_TRACE] = "trace",
};

static enum log_level log_default = LOG_INFO;
int log_max_level = LOG_INFO; /* __atomic builtins only */

static void log_update_max(void);
static struct log_section log_sections[LOG_SECTIONS_MAX];
static int log_nsections;
static FILE *log_out;     /* NULL: stdout */
static bool log_raw_text; /* hk_log_text does not escape */

/*
 * Longest section name printed so far: messages align on it, as in the
 * original, so the padding grows during a run.
 */
static atomic_size_t log_align;

const char *
log_level_str(enum log_level level)
{
	if ((unsigned)level >= LOG_LEVEL_COUNT)
		return "unknown";
	return log_level_names[level];
}

/*
 * Parse one level name of length len (not NUL-terminated). "default" is
 * reported as -1 so that the caller can tell it from an explicit "info".
 * Returns HK_OK with *level set, or HK_ERR.
 */
static int
log_parse_level(const char *s, size_t len, int *level)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
	    {"fatal", LOG_FATAL},  {"error", LOG_ERROR},
	    {"warn", LOG_WARNING}, {"warning", LOG_WARNING},
	    {"info", LOG_INFO},    {"debug", LOG_DEBUG},
	    {"trace", LOG_TRACE},  {"default", -1},
	};

	for (size_t i = 0; i < HK_ARRAY_SIZE(names); i++) {
		if (strlen(names[i].name) == len &&
		    memcmp(names[i].name, s, len) == 0) {
			*level = names[i].level;
			return HK_OK;
		}
	}
	return HK_ERR;
}

/* Index of the section override named s (len bytes), or -1. */
static int
log_find_section(const struct log_section *tab, int n, const char *s,
                 size_t len)
{
	for (int i = 0; i < n; i++) {
		if (strlen(tab[i].name) == len &&
		    memcmp(tab[i].name, s, len) == 0)
			return i;
	}
	return -1;
}

int
log_section_valid(const char *s, size_t len)
{
	if (len == 0 || len >= LOG_SECTION_NAME)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '=' || c == ',' || c >= 0x7f)
			return 0;
	}
	return 1;
}

static void
log_set_err(char *err, size_t errlen, const char *what, const char *s,
            size_t len)
{
	if (err == NULL || errlen == 0)
		return;
	if (len > 64)
		len = 64;
	snprintf(err, errlen, "%s: %.*s", what, (int)len, s);
}

/*
 * Tokens are applied on top of the current levels, left to right, as the
 * original did: "LEVEL" sets the default level ("default" meaning info),
 * "section=LEVEL" sets one section ("section=default" removes the
 * override, so the section follows the default again). The whole spec is
 * applied to a copy first so that an error changes nothing.
 */
static int log_spec(const char *spec, char *err, size_t errlen, bool apply);

int
log_set_level_spec(const char *spec, char *err, size_t errlen)
{
	return log_spec(spec, err, errlen, true);
}

int
log_check_level_spec(const char *spec, char *err, size_t errlen)
{
	return log_spec(spec, err, errlen, false);
}

static int
log_spec(const char *spec, char *err, size_t errlen, bool apply)
{
	struct log_section tab[LOG_SECTIONS_MAX];
	int n = log_nsections;
	enum log_level def = log_default;
	const char *p;

	if (spec == NULL) {
		log_set_err(err, errlen, "invalid logging level", "", 0);
		return HK_ERR;
	}
	memcpy(tab, log_sections, sizeof(tab));

	p = spec;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		const char *lvl = p, *sec = NULL;
		size_t lvllen = len, seclen = 0;
		int level;

		if (eq != NULL) {
			sec = p;
			seclen = (size_t)(eq - p);
			lvl = eq + 1;
			lvllen = len - seclen - 1;
			hk_trim_blanks(&sec, &seclen);
		}
		hk_trim_blanks(&lvl, &lvllen);
		if (log_parse_level(lvl, lvllen, &level) != HK_OK) {
			log_set_err(err, errlen, "invalid logging level", lvl,
			            lvllen);
			return HK_ERR;
		}
		if (sec == NULL) {
			def = level < 0 ? LOG_INFO : (enum log_level)level;
		} else {
			int i;

			if (!log_section_valid(sec, seclen)) {
				log_set_err(err, errlen,
				            "invalid logging section", sec,
				            seclen);
				return HK_ERR;
			}
			i = log_find_section(tab, n, sec, seclen);
			if (level < 0) {
				if (i >= 0) {
					tab[i] = tab[n - 1];
					n--;
				}
			} else if (i >= 0) {
				tab[i].level = (enum log_level)level;
			} else if (n == LOG_SECTIONS_MAX) {
				log_set_err(err, errlen,
				            "too many logging sections", sec,
				            seclen);
				return HK_ERR;
			} else {
				memset(tab[n].name, 0, sizeof(tab[n].name));
				memcpy(tab[n].name, sec, seclen);
				tab[n].level = (enum log_level)level;
				n++;
			}
		}
		if (end == NULL)
			break;
		p = end + 1;
	}

	if (!apply)
		return HK_OK;
	/*
	 * Shrink the count before rewriting entries and grow it after, so
	 * that a racing reader sees only complete entries.
	 */
	if (n < log_nsections)
		log_nsections = n;
	memcpy(log_sections, tab, sizeof(tab));
	log_nsections = n;
	log_default = def;
	log_update_max();
	return HK_OK;
}

static void
log_update_max(void)
{
	int max = (int)log_default, i;

	for (i = 0; i < log_nsections; i++)
		if ((int)log_sections[i].level > max)
			max = (int)log_sections[i].level;
	__atomic_store_n(&log_max_level, max, __ATOMIC_RELAXED);
}

void
log_set_default_level(enum log_level level)
{
	if ((unsigned)level < LOG_LEVEL_COUNT)
		log_default = level;
	log_update_max();
}

/*
 * Cheap when no section has its own level, which is the usual case; else
 * a linear scan of at most LOG_SECTIONS_MAX short names, where the first
 * byte rejects almost every entry before strcmp runs.
 */
int
log_enabled(const char *section, enum log_level level)
{
	enum log_level max = log_default;
	int n = log_nsections;

	if ((unsigned)level >= LOG_LEVEL_COUNT)
		return 0;
	if (n > 0 && section != NULL) {
		for (int i = 0; i < n; i++) {
			const struct log_section *e = &log_sections[i];

			if (e->name[0] == section[0] &&
			    strcmp(e->name, section) == 0) {
				max = e->level;
				break;
			}
		}
	}
	return level <= max;
}

void
log_set_output(FILE *out)
{
	log_out = out;
}

/*
 * Write one formatted line: level, section, padding, msg and a newline.
 * The caller checked log_enabled().
 */
static void
log_write(enum log_level level, const char *section, const char *msg)
{
	FILE *out = log_out != NULL ? log_out : stdout;
	size_t len, align;
	int pad;

	len = strlen(section);
	align = atomic_load_explicit(&log_align, memory_order_relaxed);
	if (len <= LOG_ALIGN_MAX) {
		/* On failure the CAS reloads align, and we test again. */
		while (len > align &&
		       !atomic_compare_exchange_weak_explicit(
		           &log_align, &align, len, memory_order_relaxed,
		           memory_order_relaxed))
			;
		if (len > align)
			align = len;
	}
	pad = len < align ? (int)(align - len) : 0;

	/*
	 * One stdio call per line: stdio locks the stream for the call, so
	 * lines of different threads never mix. A fatal message goes to
	 * stderr, and also to the configured log file or syslog when there is
	 * one, so that a daemon's log says why it stopped.
	 */
	if (level == LOG_FATAL) {
		if (out != stdout && out != stderr)
			fprintf(out, "%-5s %s:%*s %s\n", log_level_names[level],
			        section, pad, "", msg);
		/* Keep the order of what was logged before the fatal. */
		fflush(out);
		out = stderr;
	}
	fprintf(out, "%-5s %s:%*s %s\n", log_level_names[level], section, pad,
	        "", msg);
	if (level == LOG_FATAL)
		fflush(out);
}

void
hk_vlog(enum log_level level, const char *section, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];

	if (section == NULL)
		section = "?";
	if (!log_enabled(section, level))
		return;

	if (fmt == NULL || vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	log_write(level, section, msg);
}

size_t
log_escape(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (cap == 0)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		char esc[4];
		size_t n = 2;

		if (c >= 0x20 && c != 0x7f) {
			esc[0] = (char)c;
			n = 1;
		} else if (c == '\n') {
			memcpy(esc, "\\n", 2);
		} else if (c == '\r') {
			memcpy(esc, "\\r", 2);
		} else if (c == '\t') {
			memcpy(esc, "\\t", 2);
		} else {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 0xf];
			n = 4;
		}
		/* Truncate before an escape that does not fit, never in it. */
		if (o + n > cap - 1)
			break;
		memcpy(dst + o, esc, n);
		o += n;
	}
	dst[o] = '\0';
	return o;
}

void
hk_log_text(enum log_level level, const char *section, const char *text,
            size_t len)
{
	char msg[LOG_MSG_MAX];

	if (section == NULL)
		section = "?";
	if (!log_enabled(section, level))
		return;
	if (text == NULL)
		len = 0;
	if (log_raw_text) {
		/* As hk_log("%s"): a NUL ends the message. */
		if (len > sizeof(msg) - 1)
			len = sizeof(msg) - 1;
		memcpy(msg, text, len);
		msg[len] = '\0';
	} else {
		log_escape(msg, sizeof(msg), text, len);
	}
	log_write(level, section, msg);
}

void
log_set_raw_text(bool raw)
{
	log_raw_text = raw;
}

void
hk_log(enum log_level level, const char *section, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hk_vlog(level, section, fmt, ap);
	va_end(ap);
}
