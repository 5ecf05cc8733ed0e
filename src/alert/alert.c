/*
 * Alert records and their outputs. The Lua binding builds a struct alert
 * for haka.alert{} and calls alert_post() or alert_update(); this file
 * numbers alerts and writes them, formatted at once, to every output
 * registered at start-up by the CLI (hakapcap: pretty on stdout; daemon:
 * pretty or oneline alert file, JSON lines for SIEMs).
 *
 * The pretty and oneline forms reproduce the original engine byte for
 * byte (HAKA.md section c), with one hardening: control bytes (C0 and
 * DEL) inside text fields are escaped as haka.log escapes them
 * (log_escape: \n, \r, \t, \xHH), so that text copied from traffic cannot
 * forge alert lines. JSON strings are escaped per RFC 8259.
 */
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <haka/alert.h>
#include <haka/log.h>

#define ALERT_OUTPUTS_MAX 8
#define ALERT_TIME_BUF    64

struct alert_output {
	FILE *out;
	enum alert_format fmt;
	bool owned;
};

static struct alert_output alert_outputs[ALERT_OUTPUTS_MAX];
static int alert_noutputs;
static atomic_uint_fast64_t alert_last_id;
static pthread_mutex_t alert_lock = PTHREAD_MUTEX_INITIALIZER;
static char alert_paths[8][1024]; /* path of the outputs opened by file */

static const struct alert alert_empty;

/*
 * A writer that remembers the first failure, so that formatting code can
 * write unconditionally and check once at the end.
 */
struct alert_writer {
	FILE *f;
	int err;
};

static void
aw_puts(struct alert_writer *w, const char *s)
{
	if (fputs(s, w->f) == EOF)
		w->err = 1;
}

static void
aw_putc(struct alert_writer *w, int c)
{
	if (putc(c, w->f) == EOF)
		w->err = 1;
}

static void aw_printf(struct alert_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
aw_printf(struct alert_writer *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vfprintf(w->f, fmt, ap) < 0)
		w->err = 1;
	va_end(ap);
}

static const char *
alert_level_str(enum alert_level l)
{
	switch (l) {
	case ALERT_LOW:
		return "low";
	case ALERT_MEDIUM:
		return "medium";
	case ALERT_HIGH:
		return "high";
	default:
		return NULL;
	}
}

static const char *
alert_completion_str(enum alert_completion c)
{
	switch (c) {
	case ALERT_FAILED:
		return "failed";
	case ALERT_SUCCESSFUL:
		return "successful";
	default:
		return NULL;
	}
}

static const char *
alert_node_str(int kind)
{
	switch (kind) {
	case ALERT_NODE_ADDRESS:
		return "address";
	case ALERT_NODE_SERVICE:
		return "service";
	default:
		return "unknown";
	}
}

static bool
alert_time_present(const struct hk_time *t)
{
	return t->sec != 0 || t->nsec != 0;
}

/*
 * ctime() text without its newline ("Mon Jan 20 17:44:43 2014"), in the
 * local time zone, with fixed English names whatever the locale. A time
 * that the C library cannot convert is printed as its number of seconds.
 */
static void
alert_ctime(int64_t sec, char *buf, size_t len)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
	                                "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
	                                   "May", "Jun", "Jul", "Aug",
	                                   "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)sec;
	struct tm tm;

	if ((int64_t)t != sec || localtime_r(&t, &tm) == NULL ||
	    tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11) {
		snprintf(buf, len, "%" PRId64, sec);
		return;
	}
	snprintf(buf, len, "%s %s %2d %02d:%02d:%02d %lld", days[tm.tm_wday],
	         months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
	         tm.tm_sec, (long long)tm.tm_year + 1900);
}

/*
 * ISO 8601 UTC ("2014-01-20T16:44:43Z"), with the fraction of a second,
 * trailing zeros removed, when frac is set and nsec is not zero. Returns
 * false when the time cannot be converted.
 */
static bool
alert_isotime(const struct hk_time *ht, bool frac, char *buf, size_t len)
{
	time_t t = (time_t)ht->sec;
	struct tm tm;
	int n;

	if ((int64_t)t != ht->sec || gmtime_r(&t, &tm) == NULL)
		return false;
	n = snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d",
	             (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	             tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= len)
		return false;
	if (frac && ht->nsec > 0 && ht->nsec < 1000000000) {
		char digits[16];
		int nd;

		snprintf(digits, sizeof(digits), "%09d", (int)ht->nsec);
		for (nd = 9; digits[nd - 1] == '0'; nd--)
			;
		n += snprintf(buf + n, len - (size_t)n, ".%.*s", nd, digits);
		if ((size_t)n >= len)
			return false;
	}
	if ((size_t)n + 2 > len)
		return false;
	buf[n] = 'Z';
	buf[n + 1] = '\0';
	return true;
}

/* --- pretty and oneline ----------------------------------------------- */

/*
 * Text with its control bytes escaped as the log escapes them (\n, \r,
 * \t, \xHH; see the top comment), a piece at a time: an escape is at most
 * four bytes, so each piece fits whole.
 */
static void
alert_text(struct alert_writer *w, const char *s)
{
	char buf[4 * 256 + 1];
	size_t len = s != NULL ? strlen(s) : 0, off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < 256 ? len - off : 256;
		log_escape(buf, sizeof(buf), s + off, n);
		aw_puts(w, buf);
	}
}

/* " a, b, c" as the original's string lists. */
static void
alert_text_list(struct alert_writer *w, const char *const *v, int n)
{
	if (v == NULL)
		return;
	for (int i = 0; i < n; i++) {
		if (i != 0)
			aw_putc(w, ',');
		aw_putc(w, ' ');
		alert_text(w, v[i]);
	}
}

/*
 * "{" NL "address: a, b" NL "service: c" "}" where NL is the line break
 * (nl) for the outer level and nl2 for the nested one.
 */
static void
alert_nodes(struct alert_writer *w, const struct alert_node *nodes, int n,
            const char *nl, const char *nl2)
{
	aw_putc(w, '{');
	for (int i = 0; i < n; i++) {
		aw_puts(w, nl2);
		aw_puts(w, alert_node_str(nodes[i].kind));
		aw_putc(w, ':');
		alert_text_list(w, (const char *const *)nodes[i].values,
		                nodes[i].nvalues);
	}
	aw_puts(w, nl);
	aw_putc(w, '}');
}

static void
alert_format_text(struct alert_writer *w, bool oneline, uint64_t id,
                  bool update, const struct alert *a, const struct hk_time *now)
{
	const char *nl = oneline ? " " : "\n\t";
	const char *nl2 = oneline ? " " : "\n\t\t";
	char tbuf[ALERT_TIME_BUF];
	const char *s;

	aw_printf(w, "alert: %sid = %" PRIu64, update ? "update " : "", id);
	if (now != NULL) {
		alert_ctime(now->sec, tbuf, sizeof(tbuf));
		aw_printf(w, "%stime = %s", nl, tbuf);
	}
	if (alert_time_present(&a->start_time)) {
		alert_ctime(a->start_time.sec, tbuf, sizeof(tbuf));
		aw_printf(w, "%sstart time = %s", nl, tbuf);
	}
	if (alert_time_present(&a->end_time)) {
		alert_ctime(a->end_time.sec, tbuf, sizeof(tbuf));
		aw_printf(w, "%send time = %s", nl, tbuf);
	}
	if ((s = alert_level_str(a->severity)) != NULL)
		aw_printf(w, "%sseverity = %s", nl, s);
	if (a->confidence == ALERT_NUMERIC)
		aw_printf(w, "%sconfidence = %g", nl, a->confidence_num);
	else if ((s = alert_level_str(a->confidence)) != NULL)
		aw_printf(w, "%sconfidence = %s", nl, s);
	if ((s = alert_completion_str(a->completion)) != NULL)
		aw_printf(w, "%scompletion = %s", nl, s);
	if (a->description != NULL) {
		aw_printf(w, "%sdescription = ", nl);
		alert_text(w, a->description);
	}
	if (a->method_description != NULL || a->method_ref != NULL) {
		aw_printf(w, "%smethod = {", nl);
		if (a->method_description != NULL) {
			aw_printf(w, "%sdescription = ", nl2);
			alert_text(w, a->method_description);
		}
		if (a->method_ref != NULL) {
			aw_printf(w, "%sref = {", nl2);
			alert_text_list(w, a->method_ref, a->method_nref);
			aw_puts(w, " }");
		}
		aw_printf(w, "%s}", nl);
	}
	if (a->sources != NULL) {
		aw_printf(w, "%ssources = ", nl);
		alert_nodes(w, a->sources, a->nsources, nl, nl2);
	}
	if (a->targets != NULL) {
		aw_printf(w, "%stargets = ", nl);
		alert_nodes(w, a->targets, a->ntargets, nl, nl2);
	}
	if (a->refs != NULL && a->nrefs > 0) {
		aw_printf(w, "%srefs = {", nl);
		for (int i = 0; i < a->nrefs; i++)
			aw_printf(w, "%s %" PRIu64, i != 0 ? "," : "",
			          a->refs[i]);
		aw_puts(w, " }");
	}
	aw_putc(w, '\n');
}

/* --- JSON ------------------------------------------------------------- */

/*
 * Length of the valid UTF-8 sequence at p (at most n bytes), or 0 when
 * the bytes there are not valid UTF-8 (overlong forms, surrogates and
 * code points above U+10FFFF are invalid, RFC 3629 section 4).
 */
static size_t
alert_utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return len;
}

/*
 * A JSON string. Valid UTF-8 passes through; each byte of an invalid
 * sequence is written as \u00XX (its Latin-1 reading), so the output is
 * always valid JSON.
 */
static void
alert_json_str(struct alert_writer *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t n = strlen((const char *)p);

	aw_putc(w, '"');
	while (n > 0) {
		size_t len;

		switch (*p) {
		case '"':
			aw_puts(w, "\\\"");
			break;
		case '\\':
			aw_puts(w, "\\\\");
			break;
		case '\b':
			aw_puts(w, "\\b");
			break;
		case '\f':
			aw_puts(w, "\\f");
			break;
		case '\n':
			aw_puts(w, "\\n");
			break;
		case '\r':
			aw_puts(w, "\\r");
			break;
		case '\t':
			aw_puts(w, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				aw_printf(w, "\\u%04x", *p);
				break;
			}
			len = alert_utf8_len(p, n);
			if (len == 0) {
				aw_printf(w, "\\u%04x", *p);
				break;
			}
			if (fwrite(p, 1, len, w->f) != len)
				w->err = 1;
			p += len;
			n -= len;
			continue;
		}
		p++;
		n--;
	}
	aw_putc(w, '"');
}

static void
alert_json_str_array(struct alert_writer *w, const char *const *v, int n)
{
	aw_putc(w, '[');
	for (int i = 0; v != NULL && i < n; i++) {
		if (i != 0)
			aw_putc(w, ',');
		alert_json_str(w, v[i]);
	}
	aw_putc(w, ']');
}

static void
alert_json_time(struct alert_writer *w, const char *key,
                const struct hk_time *t, bool frac)
{
	char buf[ALERT_TIME_BUF];

	aw_printf(w, ",\"%s\":", key);
	if (alert_isotime(t, frac, buf, sizeof(buf)))
		aw_printf(w, "\"%s\"", buf);
	else
		aw_puts(w, "null");
}

static void
alert_json_nodes(struct alert_writer *w, const char *key,
                 const struct alert_node *nodes, int n)
{
	aw_printf(w, ",\"%s\":[", key);
	for (int i = 0; i < n; i++) {
		if (i != 0)
			aw_putc(w, ',');
		aw_printf(w, "{\"%s\":", alert_node_str(nodes[i].kind));
		alert_json_str_array(w, (const char *const *)nodes[i].values,
		                     nodes[i].nvalues);
		aw_putc(w, '}');
	}
	aw_putc(w, ']');
}

static void
alert_format_json(struct alert_writer *w, uint64_t id, bool update,
                  const struct alert *a, const struct hk_time *now)
{
	const char *s;

	aw_printf(w, "{\"alert_id\":%" PRIu64 ",\"update\":%s", id,
	          update ? "true" : "false");
	if (now != NULL)
		alert_json_time(w, "time", now, false);
	if (alert_time_present(&a->start_time))
		alert_json_time(w, "start_time", &a->start_time, true);
	if (alert_time_present(&a->end_time))
		alert_json_time(w, "end_time", &a->end_time, true);
	if ((s = alert_level_str(a->severity)) != NULL)
		aw_printf(w, ",\"severity\":\"%s\"", s);
	if (a->confidence == ALERT_NUMERIC) {
		/* JSON has no NaN nor infinity. */
		if (isfinite(a->confidence_num))
			aw_printf(w, ",\"confidence\":%.15g",
			          a->confidence_num);
		else
			aw_puts(w, ",\"confidence\":null");
	} else if ((s = alert_level_str(a->confidence)) != NULL)
		aw_printf(w, ",\"confidence\":\"%s\"", s);
	if ((s = alert_completion_str(a->completion)) != NULL)
		aw_printf(w, ",\"completion\":\"%s\"", s);
	if (a->description != NULL) {
		aw_puts(w, ",\"description\":");
		alert_json_str(w, a->description);
	}
	if (a->method_description != NULL || a->method_ref != NULL) {
		aw_puts(w, ",\"method\":{");
		if (a->method_description != NULL) {
			aw_puts(w, "\"description\":");
			alert_json_str(w, a->method_description);
		}
		if (a->method_ref != NULL) {
			if (a->method_description != NULL)
				aw_putc(w, ',');
			aw_puts(w, "\"ref\":");
			alert_json_str_array(w, a->method_ref, a->method_nref);
		}
		aw_putc(w, '}');
	}
	if (a->sources != NULL)
		alert_json_nodes(w, "sources", a->sources, a->nsources);
	if (a->targets != NULL)
		alert_json_nodes(w, "targets", a->targets, a->ntargets);
	if (a->refs != NULL && a->nrefs > 0) {
		aw_puts(w, ",\"refs\":[");
		for (int i = 0; i < a->nrefs; i++)
			aw_printf(w, "%s%" PRIu64, i != 0 ? "," : "",
			          a->refs[i]);
		aw_putc(w, ']');
	}
	aw_puts(w, "}\n");
}

/*
 * Absent fields: NULL pointers, zero times and NONE enums. A list whose
 * pointer is set is printed even when its count is zero ("sources = {"
 * then "}"), as the original printed an empty Lua table; only refs needs
 * a positive count. Negative counts are read as zero. The alert is
 * written while the stream is locked, so that alerts of several threads
 * never mix. Returns HK_OK, or HK_ERR when out or a is NULL, fmt is
 * unknown, or a write failed (the output may then hold part of it).
 */
int
alert_format(FILE *out, enum alert_format fmt, uint64_t id, bool update,
             const struct alert *a, const struct hk_time *now)
{
	struct alert_writer w = {out, 0};
	struct alert c;

	if (out == NULL || a == NULL)
		return HK_ERR;
	if (fmt != ALERT_FMT_PRETTY && fmt != ALERT_FMT_ONELINE &&
	    fmt != ALERT_FMT_JSON)
		return HK_ERR;

	/* Work on a copy with counts that can be trusted. */
	c = *a;
	if (c.method_nref < 0)
		c.method_nref = 0;
	if (c.nsources < 0)
		c.nsources = 0;
	if (c.ntargets < 0)
		c.ntargets = 0;

	flockfile(out);
	if (fmt == ALERT_FMT_JSON)
		alert_format_json(&w, id, update, &c, now);
	else
		alert_format_text(&w, fmt == ALERT_FMT_ONELINE, id, update, &c,
		                  now);
	funlockfile(out);
	return w.err ? HK_ERR : HK_OK;
}

/* --- outputs ----------------------------------------------------------- */

/*
 * Call at start-up, before any alert is posted: the table is not locked.
 * Returns HK_ERR (and the caller keeps out, even when owned) when out is
 * NULL, fmt is unknown or ALERT_OUTPUTS_MAX outputs are registered.
 */
int
alert_add_output(FILE *out, enum alert_format fmt, bool owned)
{
	if (out == NULL || alert_noutputs == ALERT_OUTPUTS_MAX)
		return HK_ERR;
	if (fmt != ALERT_FMT_PRETTY && fmt != ALERT_FMT_ONELINE &&
	    fmt != ALERT_FMT_JSON)
		return HK_ERR;
	alert_outputs[alert_noutputs].out = out;
	alert_outputs[alert_noutputs].fmt = fmt;
	alert_outputs[alert_noutputs].owned = owned;
	alert_paths[alert_noutputs][0] = '\0';
	alert_noutputs++;
	return HK_OK;
}

/* Flushes every output, closes the owned ones, and forgets them all. */
void
alert_clear_outputs(void)
{
	for (int i = 0; i < alert_noutputs; i++) {
		if (alert_outputs[i].owned)
			fclose(alert_outputs[i].out);
		else
			fflush(alert_outputs[i].out);
		alert_outputs[i].out = NULL;
	}
	alert_noutputs = 0;
}

static void
alert_write_all(uint64_t id, bool update, const struct alert *a)
{
	struct timespec ts;
	struct hk_time now = {0, 0};

	if (alert_noutputs == 0)
		return;
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
		now.sec = ts.tv_sec;
		now.nsec = (int32_t)ts.tv_nsec;
	}
	/* Workers post concurrently: one alert is written whole. */
	pthread_mutex_lock(&alert_lock);
	for (int i = 0; i < alert_noutputs; i++) {
		/*
		 * A failing output (disk full) must not stop the others nor
		 * the engine; the alert is still counted.
		 */
		alert_format(alert_outputs[i].out, alert_outputs[i].fmt, id,
		             update, a, &now);
		fflush(alert_outputs[i].out);
	}
	pthread_mutex_unlock(&alert_lock);
}

/*
 * Reopen the outputs that are files (after logrotate): each owned output
 * opened on a path is reopened in append mode. Called by the daemon on
 * SIGHUP; HK_ERR if one could not be reopened (it keeps the old stream).
 */
int
alert_reopen(void)
{
	int rc = HK_OK;

	pthread_mutex_lock(&alert_lock);
	for (int i = 0; i < alert_noutputs; i++) {
		FILE *fp;

		if (alert_paths[i][0] == '\0')
			continue;
		fp = fopen(alert_paths[i], "a");
		if (fp == NULL) {
			rc = HK_ERR;
			continue;
		}
		fclose(alert_outputs[i].out);
		alert_outputs[i].out = fp;
	}
	pthread_mutex_unlock(&alert_lock);
	return rc;
}

int
alert_add_file(const char *path, enum alert_format fmt)
{
	FILE *fp = fopen(path, "a");

	if (fp == NULL)
		return HK_ERR;
	if (alert_add_output(fp, fmt, true) != HK_OK) {
		fclose(fp);
		return HK_ERR;
	}
	pthread_mutex_lock(&alert_lock);
	snprintf(alert_paths[alert_noutputs - 1],
	         sizeof(alert_paths[alert_noutputs - 1]), "%s", path);
	pthread_mutex_unlock(&alert_lock);
	return HK_OK;
}

/*
 * Ids are unique over the process and start at 1. A NULL alert is posted
 * as an empty one (id line and time only) rather than lost.
 */
uint64_t
alert_post(const struct alert *a)
{
	uint64_t id = atomic_fetch_add(&alert_last_id, 1) + 1;

	alert_write_all(id, false, a != NULL ? a : &alert_empty);
	return id;
}

/* The update carries only the fields that changed; id is not checked. */
void
alert_update(uint64_t id, const struct alert *a)
{
	alert_write_all(id, true, a != NULL ? a : &alert_empty);
}

uint64_t
alert_count(void)
{
	return atomic_load(&alert_last_id);
}

int
alert_format_parse(const char *name, enum alert_format *fmt)
{
	static const struct {
		const char *name;
		enum alert_format fmt;
	} names[] = {
	    {"pretty", ALERT_FMT_PRETTY},
	    {"oneline", ALERT_FMT_ONELINE},
	    {"json", ALERT_FMT_JSON},
	};

	if (name == NULL || fmt == NULL)
		return HK_ERR;
	for (size_t i = 0; i < HK_ARRAY_SIZE(names); i++) {
		if (strcmp(name, names[i].name) == 0) {
			*fmt = names[i].fmt;
			return HK_OK;
		}
	}
	return HK_ERR;
}
