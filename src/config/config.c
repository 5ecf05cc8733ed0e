/*
 * The daemon's configuration: haka.conf (YAML, read with libyaml's
 * document API) and the --opt overrides, both applied through one table
 * of keys, so that a value means the same in the file and on the command
 * line. Called once at start by the daemon and by the tests; nothing here
 * runs on the packet path. Every key is documented in the commented
 * haka.conf at the top of the repository.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include <haka/conf.h>
#include <haka/log.h>
#include <haka/engine.h>
#include <haka/types.h>

#define CONF_MSG_MAX     512
#define CONF_SHOW_MAX    64   /* bytes of a bad value quoted in a message */
#define CONF_WHERE_MAX   96   /* "capture.nfqueue.queue_length", "alerts[7]" */
#define CONF_OPT_MAX     2048 /* one --opt argument */
#define CONF_IFNAME_MAX  15   /* IFNAMSIZ - 1 */
#define CONF_TIMEOUT_MAX 604800 /* seconds: one week */
#define CONF_MIB         (1ULL << 20)

/* State of one conf_load or conf_set: where values come from. */
struct conf_ctx {
	/* Prefix of relative paths ("" or "dir/"); NULL: taken as given. */
	const char *dir;
	uint32_t alert; /* the alert output being set */
	char msg[CONF_MSG_MAX];
};

enum conf_kind {
	CK_NUM,   /* unsigned integer field, checked against lo..hi */
	CK_BOOL,  /* yes/no/true/false/on/off */
	CK_NAME,  /* user, group, chain: letters, digits, '.', '_', '-' */
	CK_PATH,  /* a relative path is resolved against the file's directory */
	CK_FUNC,  /* set() does everything */
	CK_LIST,  /* clear(), then set() once per item */
	CK_GROUP, /* nested keys, in sub */
	CK_ALERTS, /* a list of outputs, each a mapping of the keys in sub */
};

enum conf_num {
	NUM_DEC,
	NUM_SIZE, /* optional K, M or G suffix (powers of 1024) */
	NUM_HEX,  /* decimal, or hexadecimal with 0x */
	NUM_MODE, /* octal with a leading 0 (or 0o), else decimal */
};

struct conf_key {
	const char *name;
	enum conf_kind kind;
	size_t off, size; /* the field of struct conf (CK_NUM..CK_PATH) */
	enum conf_num num;
	uint64_t lo, hi;
	bool empty_ok; /* CK_NAME, CK_PATH: "" accepted */
	int (*set)(struct conf_ctx *x, struct conf *c, const char *v);
	void (*clear)(struct conf *c);
	const struct conf_key *sub;
};

/* --- messages --------------------------------------------------------- */

static int conf_fail(struct conf_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record why a value was refused; always returns HK_ERR. */
static int
conf_fail(struct conf_ctx *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	return HK_ERR;
}

/*
 * Copy len bytes of s into buf for quoting in a message: control bytes
 * become '?' (a value must not be able to forge log lines) and anything
 * past CONF_SHOW_MAX bytes becomes "...". Returns buf.
 */
static const char *
conf_shown(char *buf, const char *s, size_t len)
{
	size_t i, n = len > CONF_SHOW_MAX ? CONF_SHOW_MAX : len;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

#define CONF_SHOW_BUF (CONF_SHOW_MAX + 4)

static const char *
conf_show(char *buf, const char *s)
{
	return conf_shown(buf, s, strlen(s));
}

/* --- values ----------------------------------------------------------- */

/*
 * Parse an unsigned number written in the given notation. Negative
 * numbers, signs, blanks and trailing bytes are refused; overflow is
 * detected (strtoull's ERANGE, then the suffix shift). HK_OK with *out
 * set, or HK_ERR with the reason in x->msg.
 */
static int
conf_number(struct conf_ctx *x, const char *v, enum conf_num num, uint64_t *out)
{
	char s[CONF_SHOW_BUF];
	const char *p = v, *digits;
	char *end;
	unsigned long long n;
	unsigned shift = 0;
	int base = 10;

	if (*v == '\0')
		return conf_fail(x, "missing value");
	if (*v == '-')
		return conf_fail(x, "negative number '%s'", conf_show(s, v));
	if (num == NUM_HEX && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (num == NUM_MODE && p[0] == '0' &&
	           (p[1] == 'o' || p[1] == 'O')) {
		base = 8;
		p += 2;
	} else if (num == NUM_MODE && p[0] == '0') {
		base = 8;
	}
	/*
	 * strtoull would also take blanks, a sign and a second "0x": only
	 * the digits counted here may be consumed.
	 */
	for (digits = p; base == 16 ? isxdigit((unsigned char)*digits)
	                            : *digits >= '0' && *digits < '0' + base;
	     digits++)
		;
	if (digits == p)
		goto invalid;
	errno = 0;
	n = strtoull(p, &end, base);
	if (errno == ERANGE)
		goto too_large;
	if (end != digits)
		goto invalid;
	if (num == NUM_SIZE) {
		switch (*end) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		}
		if (shift != 0)
			end++;
	}
	if (*end != '\0')
		goto invalid;
	if (shift != 0 && n > (UINT64_MAX >> shift))
		goto too_large;
	*out = (uint64_t)n << shift;
	return HK_OK;

invalid:
	if (num == NUM_SIZE)
		return conf_fail(
		    x,
		    "invalid size '%s' (bytes, with an optional K, M or G "
		    "suffix)",
		    conf_show(s, v));
	return conf_fail(x, "invalid number '%s'", conf_show(s, v));
too_large:
	return conf_fail(x, "value '%s' is too large", conf_show(s, v));
}

static int
conf_range(struct conf_ctx *x, const char *v, uint64_t n, enum conf_num num,
           uint64_t lo, uint64_t hi)
{
	char s[CONF_SHOW_BUF];

	if (n >= lo && n <= hi)
		return HK_OK;
	if (num == NUM_MODE)
		return conf_fail(x, "value '%s' out of range (0%llo to 0%llo)",
		                 conf_show(s, v), (unsigned long long)lo,
		                 (unsigned long long)hi);
	return conf_fail(x, "value '%s' out of range (%llu to %llu)",
	                 conf_show(s, v), (unsigned long long)lo,
	                 (unsigned long long)hi);
}

static int
conf_bool(struct conf_ctx *x, const char *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on"};
	static const char *const no[] = {"no", "false", "off"};
	char s[CONF_SHOW_BUF];

	for (size_t i = 0; i < HK_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return HK_OK;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return HK_OK;
		}
	}
	return conf_fail(x,
	                 "invalid value '%s' (yes, no, true, false, on or off)",
	                 conf_show(s, v));
}

/*
 * Look v up in names (n entries). HK_OK with its index in *idx, or HK_ERR
 * with "invalid value 'v' (a, b or c)".
 */
static int
conf_enum(struct conf_ctx *x, const char *v, const char *const *names, size_t n,
          size_t *idx)
{
	char s[CONF_SHOW_BUF], choices[128];
	size_t used = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(v, names[i]) == 0) {
			*idx = i;
			return HK_OK;
		}
	}
	choices[0] = '\0';
	for (size_t i = 0; i < n && used < sizeof(choices); i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w = snprintf(choices + used, sizeof(choices) - used, "%s%s",
		                 sep, names[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
	return conf_fail(x, "invalid value '%s' (%s)", conf_show(s, v),
	                 choices);
}

static int
conf_string(struct conf_ctx *x, char *field, size_t size, const char *v,
            bool empty_ok)
{
	size_t len = strlen(v);

	if (len == 0 && !empty_ok)
		return conf_fail(x, "missing value");
	if (len >= size)
		return conf_fail(x, "value too long (at most %zu bytes)",
		                 size - 1);
	memcpy(field, v, len + 1);
	return HK_OK;
}

/*
 * Names handed to system calls and to the iptables command line: a
 * leading '-' could be read as an option.
 */
static int
conf_name(struct conf_ctx *x, char *field, size_t size, const char *v,
          bool empty_ok)
{
	char s[CONF_SHOW_BUF];

	for (const char *p = v; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' &&
		    (*p != '-' || p == v))
			return conf_fail(
			    x,
			    "invalid name '%s' (letters, digits, '.', '_' "
			    "and '-', not first)",
			    conf_show(s, v));
	}
	return conf_string(x, field, size, v, empty_ok);
}

/* A relative path is resolved against x->dir (the file's directory). */
static int
conf_path(struct conf_ctx *x, char *field, size_t size, const char *v,
          bool empty_ok)
{
	const char *dir = x->dir != NULL && v[0] != '/' ? x->dir : "";
	size_t dlen = strlen(dir), len = strlen(v);

	if (len == 0) {
		if (!empty_ok)
			return conf_fail(x, "missing value");
		field[0] = '\0';
		return HK_OK;
	}
	if (dlen + len >= size)
		return conf_fail(x, "path too long (at most %zu bytes)",
		                 size - 1);
	memcpy(field, dir, dlen);
	memcpy(field + dlen, v, len + 1);
	return HK_OK;
}

/* --- keys with their own rules ---------------------------------------- */

static void
conf_derive(struct conf *c)
{
	if (!c->threads_given)
		c->threads =
		    c->capture == CONF_CAPTURE_NFQUEUE && c->nqueues > 0
		        ? c->nqueues
		        : 1;
}

static int
set_threads(struct conf_ctx *x, struct conf *c, const char *v)
{
	uint64_t n;

	if (conf_number(x, v, NUM_DEC, &n) != HK_OK ||
	    conf_range(x, v, n, NUM_DEC, 1, CONF_MAX_QUEUES) != HK_OK)
		return HK_ERR;
	c->threads = (uint32_t)n;
	c->threads_given = true;
	return HK_OK;
}

static int
set_capture_mode(struct conf_ctx *x, struct conf *c, const char *v)
{
	static const char *const names[] = {"nfqueue", "pcap"};
	size_t i;

	if (conf_enum(x, v, names, HK_ARRAY_SIZE(names), &i) != HK_OK)
		return HK_ERR;
	c->capture = i == 0 ? CONF_CAPTURE_NFQUEUE : CONF_CAPTURE_PCAP;
	return HK_OK;
}

static void
clear_queues(struct conf *c)
{
	c->nqueues = 0;
}

/* One queue number, or a range "first-last". */
static int
set_queue(struct conf_ctx *x, struct conf *c, const char *v)
{
	char s[CONF_SHOW_BUF], first[32];
	const char *dash = strchr(v, '-');
	uint64_t lo, hi;

	if (dash != NULL && dash != v) {
		size_t len = (size_t)(dash - v);

		if (len >= sizeof(first))
			return conf_fail(x, "invalid queue range '%s'",
			                 conf_show(s, v));
		memcpy(first, v, len);
		first[len] = '\0';
		if (conf_number(x, first, NUM_DEC, &lo) != HK_OK ||
		    conf_range(x, first, lo, NUM_DEC, 0, 65535) != HK_OK ||
		    conf_number(x, dash + 1, NUM_DEC, &hi) != HK_OK ||
		    conf_range(x, dash + 1, hi, NUM_DEC, 0, 65535) != HK_OK)
			return HK_ERR;
		if (hi < lo)
			return conf_fail(x, "invalid queue range '%s'",
			                 conf_show(s, v));
	} else {
		if (conf_number(x, v, NUM_DEC, &lo) != HK_OK ||
		    conf_range(x, v, lo, NUM_DEC, 0, 65535) != HK_OK)
			return HK_ERR;
		hi = lo;
	}
	if (hi - lo + 1 > CONF_MAX_QUEUES - c->nqueues)
		return conf_fail(x, "too many queues (at most %d)",
		                 CONF_MAX_QUEUES);
	for (uint64_t q = lo; q <= hi; q++) {
		for (uint32_t i = 0; i < c->nqueues; i++) {
			if (c->queues[i] == q)
				return conf_fail(x, "queue %llu listed twice",
				                 (unsigned long long)q);
		}
		c->queues[c->nqueues++] = (uint16_t)q;
	}
	return HK_OK;
}

static int
set_iptables(struct conf_ctx *x, struct conf *c, const char *v)
{
	static const char *const names[] = {"auto", "manual"};
	size_t i;

	if (conf_enum(x, v, names, HK_ARRAY_SIZE(names), &i) != HK_OK)
		return HK_ERR;
	c->install_iptables = i == 0;
	return HK_OK;
}

static int
set_fail(struct conf_ctx *x, struct conf *c, const char *v)
{
	static const char *const names[] = {"open", "closed"};
	size_t i;

	if (conf_enum(x, v, names, HK_ARRAY_SIZE(names), &i) != HK_OK)
		return HK_ERR;
	c->fail_open = i == 0;
	return HK_OK;
}

static void
clear_ifaces(struct conf *c)
{
	c->nifaces = 0;
}

static int
set_iface(struct conf_ctx *x, struct conf *c, const char *v)
{
	char name[sizeof(c->ifaces[0])], s[CONF_SHOW_BUF];

	if (c->nifaces == CONF_MAX_IFACES)
		return conf_fail(x, "too many interfaces (at most %d)",
		                 CONF_MAX_IFACES);
	if (conf_name(x, name, sizeof(name), v, false) != HK_OK)
		return HK_ERR;
	if (strlen(name) > CONF_IFNAME_MAX)
		return conf_fail(
		    x, "interface name '%s' too long (at most %d bytes)",
		    conf_show(s, v), CONF_IFNAME_MAX);
	for (uint32_t i = 0; i < c->nifaces; i++) {
		if (strcmp(c->ifaces[i], name) == 0)
			return conf_fail(x, "interface '%s' listed twice",
			                 conf_show(s, v));
	}
	memcpy(c->ifaces[c->nifaces++], name, sizeof(name));
	return HK_OK;
}

/*
 * "LEVEL[,section=LEVEL...]", checked here with the grammar of
 * log_set_level_spec() but without applying it: the log module is set up
 * by the daemon once the whole configuration is known.
 */
static int
set_log_level(struct conf_ctx *x, struct conf *c, const char *v)
{
	char msg[256];

	if (*v == '\0')
		return conf_fail(x, "missing value");
	if (log_check_level_spec(v, msg, sizeof(msg)) != HK_OK)
		return conf_fail(x, "%s", msg);
	return conf_string(x, c->log_level, sizeof(c->log_level), v, false);
}

static int
set_log_output(struct conf_ctx *x, struct conf *c, const char *v)
{
	if (strcmp(v, "stdout") == 0) {
		c->log_syslog = false;
		c->log_file[0] = '\0';
		return HK_OK;
	}
	if (strcmp(v, "syslog") == 0) {
		c->log_syslog = true;
		c->log_file[0] = '\0';
		return HK_OK;
	}
	if (conf_path(x, c->log_file, sizeof(c->log_file), v, false) != HK_OK)
		return HK_ERR;
	c->log_syslog = false;
	return HK_OK;
}

static int
set_lua_memory(struct conf_ctx *x, struct conf *c, const char *v)
{
	char s[CONF_SHOW_BUF];
	uint64_t n;

	if (conf_number(x, v, NUM_SIZE, &n) != HK_OK)
		return HK_ERR;
	if ((n != 0 && n < CONF_MIB) || n > SIZE_MAX)
		return conf_fail(
		    x,
		    "value '%s' out of range (0 for no limit, or at least 1M)",
		    conf_show(s, v));
	c->lua_memory = n;
	return HK_OK;
}

static int
set_on_error(struct conf_ctx *x, struct conf *c, const char *v)
{
	static const char *const names[] = {"drop", "accept"};
	size_t i;

	if (conf_enum(x, v, names, HK_ARRAY_SIZE(names), &i) != HK_OK)
		return HK_ERR;
	c->rule_error_drop = i == 0;
	return HK_OK;
}

static int
set_midstream(struct conf_ctx *x, struct conf *c, const char *v)
{
	static const char *const names[] = {"accept", "pass", "drop"};
	static const int policies[] = {MIDSTREAM_ACCEPT, MIDSTREAM_PASS,
	                               MIDSTREAM_DROP};
	size_t i;

	if (conf_enum(x, v, names, HK_ARRAY_SIZE(names), &i) != HK_OK)
		return HK_ERR;
	c->midstream = policies[i];
	return HK_OK;
}

static int
set_alert_type(struct conf_ctx *x, struct conf *c, const char *v)
{
	static const char *const names[] = {"file", "syslog"};
	size_t i;

	if (conf_enum(x, v, names, HK_ARRAY_SIZE(names), &i) != HK_OK)
		return HK_ERR;
	c->alerts[x->alert].sink = i == 0 ? CONF_ALERT_FILE : CONF_ALERT_SYSLOG;
	return HK_OK;
}

static int
set_alert_path(struct conf_ctx *x, struct conf *c, const char *v)
{
	struct conf_alert_output *o = &c->alerts[x->alert];

	if (strcmp(v, "-") == 0) {
		memcpy(o->path, "-", 2);
		return HK_OK;
	}
	return conf_path(x, o->path, sizeof(o->path), v, false);
}

static int
set_alert_format(struct conf_ctx *x, struct conf *c, const char *v)
{
	char s[CONF_SHOW_BUF];
	enum alert_format fmt;

	if (alert_format_parse(v, &fmt) != HK_OK)
		return conf_fail(x,
		                 "invalid value '%s' (pretty, oneline or json)",
		                 conf_show(s, v));
	c->alerts[x->alert].format = fmt;
	return HK_OK;
}

static void
conf_alert_default(struct conf_alert_output *o)
{
	memset(o, 0, sizeof(*o));
	o->sink = CONF_ALERT_FILE;
	o->format = ALERT_FMT_PRETTY;
	memcpy(o->path, "-", 2);
}

/* --- the keys --------------------------------------------------------- */

#define FIELD(f)                                                               \
	.off = offsetof(struct conf, f), .size = sizeof(((struct conf *)0)->f)
#define KNUM(n, f, k, l, h)                                                    \
	{                                                                      \
		.name = (n), .kind = CK_NUM, FIELD(f), .num = (k), .lo = (l),  \
		.hi = (h)                                                      \
	}
#define KBOOL(n, f)                                                            \
	{                                                                      \
		.name = (n), .kind = CK_BOOL, FIELD(f)                         \
	}
#define KTEXT(n, k, f, e)                                                      \
	{                                                                      \
		.name = (n), .kind = (k), FIELD(f), .empty_ok = (e)            \
	}
#define KFUNC(n, fn)                                                           \
	{                                                                      \
		.name = (n), .kind = CK_FUNC, .set = (fn)                      \
	}
#define KLIST(n, fn, cl)                                                       \
	{                                                                      \
		.name = (n), .kind = CK_LIST, .set = (fn), .clear = (cl)       \
	}
#define KGROUP(n, k, t)                                                        \
	{                                                                      \
		.name = (n), .kind = (k), .sub = (t)                           \
	}
#define KEND                                                                   \
	{                                                                      \
		.name = NULL                                                   \
	}

static const struct conf_key conf_general[] = {
    KTEXT("rules", CK_PATH, rules, true),
    KFUNC("threads", set_threads),
    KTEXT("user", CK_NAME, user, true),
    KTEXT("group", CK_NAME, group, true),
    KTEXT("pid_file", CK_PATH, pid_file, false),
    KEND,
};

static const struct conf_key conf_nfqueue[] = {
    KLIST("queues", set_queue, clear_queues),
    KFUNC("iptables", set_iptables),
    KTEXT("chain", CK_NAME, iptables_chain, false),
    KNUM("port", iptables_port, NUM_DEC, 0, 65535),
    KFUNC("fail", set_fail),
    KNUM("queue_length", queue_maxlen, NUM_DEC, 1, UINT32_MAX),
    KNUM("receive_buffer", rcvbuf, NUM_SIZE, 4096, INT_MAX),
    KNUM("mark", mark, NUM_HEX, 1, UINT32_MAX),
    KEND,
};

static const struct conf_key conf_pcap[] = {
    KLIST("interfaces", set_iface, clear_ifaces),
    KTEXT("file", CK_PATH, pcap_file, true),
    KEND,
};

static const struct conf_key conf_capture[] = {
    KFUNC("mode", set_capture_mode),
    KGROUP("nfqueue", CK_GROUP, conf_nfqueue),
    KGROUP("pcap", CK_GROUP, conf_pcap),
    KEND,
};

static const struct conf_key conf_log[] = {
    KFUNC("level", set_log_level),
    KFUNC("output", set_log_output),
    KEND,
};

static const struct conf_key conf_alert[] = {
    KFUNC("type", set_alert_type),
    KFUNC("path", set_alert_path),
    KFUNC("format", set_alert_format),
    KEND,
};

static const struct conf_key conf_control[] = {
    KTEXT("socket", CK_PATH, ctl_socket, false),
    KNUM("mode", ctl_mode, NUM_MODE, 0, 0777),
    KEND,
};

static const struct conf_key conf_limits[] = {
    KFUNC("lua_memory", set_lua_memory),
    KNUM("lua_instructions", lua_instructions, NUM_DEC, 0, UINT64_MAX),
    KNUM("max_connections", max_connections, NUM_DEC, 1, UINT32_MAX),
    KNUM("stream_memcap", stream_memcap, NUM_SIZE, 1, UINT64_MAX),
    KNUM("stream_ooo_bytes", stream_ooo_bytes, NUM_SIZE, 0, UINT32_MAX),
    KNUM("defrag_memcap", defrag_memcap, NUM_SIZE, 1, UINT64_MAX),
    KNUM("tcp_timeout_established", tcp_timeout_established, NUM_DEC, 1,
         CONF_TIMEOUT_MAX),
    KNUM("tcp_timeout_closing", tcp_timeout_closing, NUM_DEC, 1,
         CONF_TIMEOUT_MAX),
    KNUM("tcp_timeout_syn", tcp_timeout_syn, NUM_DEC, 1, CONF_TIMEOUT_MAX),
    KEND,
};

static const struct conf_key conf_rules[] = {
    KFUNC("on_error", set_on_error),
    KBOOL("allow_io", lua_allow_io),
    KBOOL("allow_debug", lua_allow_debug),
    KFUNC("midstream", set_midstream),
    KEND,
};

static const struct conf_key conf_smtp[] = {
    KNUM("command_line", smtp.command_line, NUM_SIZE, 1, SMTP_LINE_LIMIT_MAX),
    KNUM("reply_line", smtp.reply_line, NUM_SIZE, 1, SMTP_LINE_LIMIT_MAX),
    KNUM("text_line", smtp.text_line, NUM_SIZE, 1, SMTP_LINE_LIMIT_MAX),
    KNUM("max_line", smtp.max_line, NUM_SIZE, SMTP_MAX_LINE_MIN,
         SMTP_LINE_LIMIT_MAX),
    KNUM("max_pending", smtp.max_pending, NUM_DEC, 1, SMTP_MAX_PENDING_MAX),
    KNUM("max_errors", smtp.max_errors, NUM_DEC, 1, UINT32_MAX),
    KNUM("memcap", smtp.memcap, NUM_SIZE, 0, UINT64_MAX),
    KEND,
};

static const struct conf_key conf_sections[] = {
    KGROUP("general", CK_GROUP, conf_general),
    KGROUP("capture", CK_GROUP, conf_capture),
    KGROUP("log", CK_GROUP, conf_log),
    KGROUP("alerts", CK_ALERTS, conf_alert),
    KGROUP("control", CK_GROUP, conf_control),
    KGROUP("limits", CK_GROUP, conf_limits),
    KGROUP("rules", CK_GROUP, conf_rules),
    KGROUP("smtp", CK_GROUP, conf_smtp),
    KEND,
};

static const struct conf_key *
conf_find(const struct conf_key *tab, const char *name)
{
	for (; tab->name != NULL; tab++) {
		if (strcmp(tab->name, name) == 0)
			return tab;
	}
	return NULL;
}

static void
conf_store(void *field, size_t size, uint64_t n)
{
	switch (size) {
	case sizeof(uint16_t): {
		uint16_t v = (uint16_t)n;

		memcpy(field, &v, sizeof(v));
		break;
	}
	case sizeof(uint32_t): {
		uint32_t v = (uint32_t)n;

		memcpy(field, &v, sizeof(v));
		break;
	}
	case sizeof(uint64_t):
		memcpy(field, &n, sizeof(n));
		break;
	default:
		abort(); /* a key table entry of an unexpected width */
	}
}

/*
 * Apply one value (not a list) to key k. HK_OK, or HK_ERR with the reason
 * in x->msg (c may then hold part of a list).
 */
static int
conf_apply(struct conf_ctx *x, struct conf *c, const struct conf_key *k,
           const char *v)
{
	char *field = (char *)c + k->off;
	uint64_t n = 0;
	bool b = false;

	switch (k->kind) {
	case CK_NUM:
		if (conf_number(x, v, k->num, &n) != HK_OK ||
		    conf_range(x, v, n, k->num, k->lo, k->hi) != HK_OK)
			return HK_ERR;
		conf_store(field, k->size, n);
		return HK_OK;
	case CK_BOOL:
		if (conf_bool(x, v, &b) != HK_OK)
			return HK_ERR;
		memcpy(field, &b, sizeof(b));
		return HK_OK;
	case CK_NAME:
		return conf_name(x, field, k->size, v, k->empty_ok);
	case CK_PATH:
		return conf_path(x, field, k->size, v, k->empty_ok);
	case CK_FUNC:
		return k->set(x, c, v);
	default:
		abort(); /* lists and groups never reach here */
	}
}

/*
 * A list written as one string: "0-3", "0,2,4", "eth0, eth1". An empty
 * string is the empty list.
 */
static int
conf_apply_list(struct conf_ctx *x, struct conf *c, const struct conf_key *k,
                const char *v)
{
	char item[CONF_PATH_MAX];
	const char *p = v;

	k->clear(c);
	if (*v == '\0')
		return HK_OK;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *s = p;

		hk_trim_blanks(&s, &len);
		if (len == 0)
			return conf_fail(x, "empty item in the list");
		if (len >= sizeof(item))
			return conf_fail(x, "list item too long");
		memcpy(item, s, len);
		item[len] = '\0';
		if (k->set(x, c, item) != HK_OK)
			return HK_ERR;
		if (end == NULL)
			return HK_OK;
		p = end + 1;
	}
}

/* --- defaults --------------------------------------------------------- */

void
conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));

	c->threads = 1;
	snprintf(c->pid_file, sizeof(c->pid_file), "%s", "/var/run/haka.pid");

	c->capture = CONF_CAPTURE_NFQUEUE;
	c->queues[0] = 0;
	c->nqueues = 1;
	c->install_iptables = true;
	snprintf(c->iptables_chain, sizeof(c->iptables_chain), "%s", "FORWARD");
	c->iptables_port = 25;
	c->fail_open = true;
	c->queue_maxlen = 4096;
	c->rcvbuf = 8 << 20;
	c->mark = 0xffff;

	snprintf(c->log_level, sizeof(c->log_level), "%s", "info");

	conf_alert_default(&c->alerts[0]);
	c->nalerts = 1;

	snprintf(c->ctl_socket, sizeof(c->ctl_socket), "%s",
	         "/var/run/haka-ctl.sock");
	c->ctl_mode = 0660;

	c->lua_memory = 256 * CONF_MIB;
	c->lua_instructions = 100000000;
	c->max_connections = 1000000;
	c->stream_memcap = 256 * CONF_MIB;
	c->stream_ooo_bytes = 1 << 20;
	c->defrag_memcap = 32 * CONF_MIB;
	c->tcp_timeout_established = 3600;
	c->tcp_timeout_closing = 60;
	c->tcp_timeout_syn = 60;

	c->rule_error_drop = true;
	c->lua_allow_io = false;
	c->lua_allow_debug = false;
	c->midstream = MIDSTREAM_ACCEPT;

	c->smtp = (struct smtp_limits)SMTP_LIMITS_DEFAULT;
}

/* --- the file --------------------------------------------------------- */

struct conf_yaml {
	struct conf_ctx x;
	yaml_document_t *doc;
	const char *file;
	char *err;
	size_t errlen;
};

static int conf_yerr(struct conf_yaml *y, const yaml_node_t *n, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

/* "FILE:LINE:COL: message" at node n (libyaml marks are 0-based). */
static int
conf_yerr(struct conf_yaml *y, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[CONF_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hk_errf(y->err, y->errlen, "%s:%zu:%zu: %s", y->file,
	        n->start_mark.line + 1, n->start_mark.column + 1, msg);
	return HK_ERR;
}

static const char *
conf_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a value";
	}
}

/* An empty value, "~" or "null" without quotes: YAML's null. */
static bool
conf_is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The text of scalar n ("" for null), or NULL after an error. */
static const char *
conf_scalar(struct conf_yaml *y, const yaml_node_t *n, const char *where)
{
	if (n->type != YAML_SCALAR_NODE) {
		conf_yerr(y, n, "%s: expected a value, found %s", where,
		          conf_node_kind(n));
		return NULL;
	}
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL) {
		conf_yerr(y, n, "%s: NUL byte in the value", where);
		return NULL;
	}
	if (conf_is_null(n))
		return "";
	return (const char *)n->data.scalar.value;
}

static int conf_walk(struct conf_yaml *y, struct conf *c,
                     const struct conf_key *tab, const yaml_node_t *map,
                     const char *where);

static int
conf_walk_list(struct conf_yaml *y, struct conf *c, const struct conf_key *k,
               const yaml_node_t *n, const char *where)
{
	const char *v;

	if (n->type == YAML_MAPPING_NODE)
		return conf_yerr(y, n,
		                 "%s: expected a value or a list, found "
		                 "a mapping",
		                 where);
	if (n->type == YAML_SCALAR_NODE) {
		if ((v = conf_scalar(y, n, where)) == NULL)
			return HK_ERR;
		if (conf_apply_list(&y->x, c, k, v) != HK_OK)
			return conf_yerr(y, n, "%s: %s", where, y->x.msg);
		return HK_OK;
	}
	k->clear(c);
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		const yaml_node_t *in = yaml_document_get_node(y->doc, *it);

		if ((v = conf_scalar(y, in, where)) == NULL)
			return HK_ERR;
		if (k->set(&y->x, c, v) != HK_OK)
			return conf_yerr(y, in, "%s: %s", where, y->x.msg);
	}
	return HK_OK;
}

/* The list of alert outputs replaces the default one. */
static int
conf_walk_alerts(struct conf_yaml *y, struct conf *c, const struct conf_key *k,
                 const yaml_node_t *n, const char *where)
{
	c->nalerts = 0;
	if (conf_is_null(n))
		return HK_OK;
	if (n->type != YAML_SEQUENCE_NODE)
		return conf_yerr(y, n,
		                 "%s: expected a list of outputs, found %s",
		                 where, conf_node_kind(n));
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		const yaml_node_t *in = yaml_document_get_node(y->doc, *it);
		char sub[CONF_WHERE_MAX];

		if (c->nalerts == CONF_MAX_ALERT_OUTPUTS)
			return conf_yerr(y, in,
			                 "%s: too many outputs (at most %d)",
			                 where, CONF_MAX_ALERT_OUTPUTS);
		snprintf(sub, sizeof(sub), "%.32s[%u]", where, c->nalerts);
		if (in->type != YAML_MAPPING_NODE)
			return conf_yerr(y, in,
			                 "%s: expected a mapping, found %s",
			                 sub, conf_node_kind(in));
		y->x.alert = c->nalerts;
		conf_alert_default(&c->alerts[c->nalerts++]);
		if (conf_walk(y, c, k->sub, in, sub) != HK_OK)
			return HK_ERR;
		if (c->alerts[y->x.alert].sink != CONF_ALERT_SYSLOG)
			continue;
		/* Only files have a path: better said than ignored. */
		for (yaml_node_pair_t *p = in->data.mapping.pairs.start;
		     p < in->data.mapping.pairs.top; p++) {
			const yaml_node_t *kn =
			    yaml_document_get_node(y->doc, p->key);

			if (strcmp((const char *)kn->data.scalar.value,
			           "path") == 0)
				return conf_yerr(
				    y, kn, "%s: 'path' is only for type file",
				    sub);
		}
	}
	return HK_OK;
}

/*
 * Apply the mapping map with the keys of tab; where names it in messages
 * ("" for the top level, whose keys are sections).
 */
static int
conf_walk(struct conf_yaml *y, struct conf *c, const struct conf_key *tab,
          const yaml_node_t *map, const char *where)
{
	char s[CONF_SHOW_BUF];

	if (conf_is_null(map))
		return HK_OK;
	if (map->type != YAML_MAPPING_NODE) {
		if (*where == '\0')
			return conf_yerr(
			    y, map, "expected a mapping of sections, found %s",
			    conf_node_kind(map));
		return conf_yerr(y, map, "%s: expected a mapping, found %s",
		                 where, conf_node_kind(map));
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *kn = yaml_document_get_node(y->doc, p->key);
		const yaml_node_t *vn =
		    yaml_document_get_node(y->doc, p->value);
		const struct conf_key *k;
		char sub[CONF_WHERE_MAX];
		const char *name, *v;
		int rc;

		if (kn->type != YAML_SCALAR_NODE)
			return conf_yerr(y, kn, "keys must be names, found %s",
			                 conf_node_kind(kn));
		name = (const char *)kn->data.scalar.value;
		if ((k = conf_find(tab, name)) == NULL) {
			if (*where == '\0')
				return conf_yerr(y, kn, "unknown section '%s'",
				                 conf_show(s, name));
			return conf_yerr(y, kn, "unknown key '%s' in %s",
			                 conf_show(s, name), where);
		}
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p;
		     q++) {
			const yaml_node_t *qn =
			    yaml_document_get_node(y->doc, q->key);

			if (strcmp((const char *)qn->data.scalar.value, name) !=
			    0)
				continue;
			if (*where == '\0')
				return conf_yerr(
				    y, kn, "duplicate section '%s'", name);
			return conf_yerr(y, kn, "duplicate key '%s' in %s",
			                 name, where);
		}
		snprintf(sub, sizeof(sub), "%s%s%s", where,
		         *where == '\0' ? "" : ".", k->name);
		switch (k->kind) {
		case CK_GROUP:
			rc = conf_walk(y, c, k->sub, vn, sub);
			break;
		case CK_ALERTS:
			rc = conf_walk_alerts(y, c, k, vn, sub);
			break;
		case CK_LIST:
			rc = conf_walk_list(y, c, k, vn, sub);
			break;
		default:
			if ((v = conf_scalar(y, vn, sub)) == NULL)
				return HK_ERR;
			rc = conf_apply(&y->x, c, k, v);
			if (rc != HK_OK)
				return conf_yerr(y, vn, "%s: %s", sub,
				                 y->x.msg);
		}
		if (rc != HK_OK)
			return HK_ERR;
	}
	return HK_OK;
}

/*
 * Reader errors (bad UTF-8...) carry a byte offset, not a mark: count the
 * lines up to it. The column is in bytes.
 */
static void
conf_offset_mark(FILE *f, size_t offset, size_t *line, size_t *col)
{
	int ch;

	*line = 1;
	*col = 1;
	if (fseek(f, 0, SEEK_SET) != 0)
		return;
	for (size_t i = 0; i < offset && (ch = getc(f)) != EOF; i++) {
		if (ch == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void
conf_syntax_error(struct conf_yaml *y, const yaml_parser_t *p, FILE *f)
{
	size_t line = p->problem_mark.line + 1;
	size_t col = p->problem_mark.column + 1;
	const char *problem = p->problem != NULL ? p->problem : "syntax error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		hk_errf(y->err, y->errlen, "%s: out of memory", y->file);
		return;
	case YAML_READER_ERROR:
		conf_offset_mark(f, p->problem_offset, &line, &col);
		break;
	default:
		break;
	}
	if (p->context != NULL)
		hk_errf(y->err, y->errlen, "%s:%zu:%zu: %s (%s)", y->file, line,
		        col, problem, p->context);
	else
		hk_errf(y->err, y->errlen, "%s:%zu:%zu: %s", y->file, line, col,
		        problem);
}

/* Read the single document of the file and apply it to c. */
static int
conf_parse(struct conf_yaml *y, struct conf *c, FILE *f)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	const yaml_node_t *root;
	int rc;

	if (!yaml_parser_initialize(&parser)) {
		hk_errf(y->err, y->errlen, "%s: out of memory", y->file);
		return HK_ERR;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		conf_syntax_error(y, &parser, f);
		yaml_parser_delete(&parser);
		return HK_ERR;
	}
	y->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	rc = root != NULL ? conf_walk(y, c, conf_sections, root, "") : HK_OK;
	yaml_document_delete(&doc);
	if (rc == HK_OK) {
		/* A second document would be silently ignored otherwise. */
		if (!yaml_parser_load(&parser, &doc)) {
			conf_syntax_error(y, &parser, f);
			rc = HK_ERR;
		} else {
			root = yaml_document_get_root_node(&doc);
			if (root != NULL)
				rc = conf_yerr(
				    y, root,
				    "only one YAML document is allowed");
			yaml_document_delete(&doc);
		}
	}
	yaml_parser_delete(&parser);
	return rc;
}

int
conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	struct conf_yaml y;
	char dir[CONF_PATH_MAX];
	const char *slash;
	size_t len = strlen(path);
	struct stat st;
	FILE *f;
	int rc;

	conf_defaults(c);
	if (len >= sizeof(c->path)) {
		hk_errf(err, errlen, "%.64s...: path too long", path);
		return HK_ERR;
	}
	memcpy(c->path, path, len + 1);
	slash = strrchr(path, '/');
	len = slash != NULL ? (size_t)(slash - path) + 1 : 0;
	memcpy(dir, path, len);
	dir[len] = '\0';

	memset(&y, 0, sizeof(y));
	y.x.dir = dir;
	y.file = path;
	y.err = err;
	y.errlen = errlen;
	if ((f = fopen(path, "r")) == NULL ||
	    (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))) {
		hk_errf(err, errlen, "%s: %s", path,
		        strerror(f != NULL ? EISDIR : errno));
		if (f != NULL)
			fclose(f);
		return HK_ERR;
	}
	rc = conf_parse(&y, c, f);
	fclose(f);
	if (rc == HK_OK)
		conf_derive(c);
	return rc;
}

/* --- overrides -------------------------------------------------------- */

/* "N.KEY" of an alert output; N == nalerts adds one. */
static int
conf_set_alert(struct conf_ctx *x, struct conf *c, const struct conf_key *sec,
               char *key, const char *v)
{
	char s[CONF_SHOW_BUF];
	const struct conf_key *k;
	char *dot = strchr(key, '.'), *end;
	unsigned long n;

	if (!isdigit((unsigned char)key[0]) || dot == NULL)
		return conf_fail(
		    x, "expected alerts:N.KEY=VALUE (N: the output, from 0)");
	*dot = '\0';
	errno = 0;
	n = strtoul(key, &end, 10);
	if (*end != '\0' || errno == ERANGE || n > c->nalerts ||
	    n >= CONF_MAX_ALERT_OUTPUTS)
		return conf_fail(
		    x, "no alert output %s (%u defined, at most %d)",
		    conf_show(s, key), c->nalerts, CONF_MAX_ALERT_OUTPUTS);
	if ((k = conf_find(sec->sub, dot + 1)) == NULL)
		return conf_fail(x, "unknown key '%s' in alerts[%lu]",
		                 conf_show(s, dot + 1), n);
	if (n == c->nalerts)
		conf_alert_default(&c->alerts[c->nalerts++]);
	x->alert = (uint32_t)n;
	return conf_apply(x, c, k, v);
}

/* Apply opt ("section:key=value") to c, which is a scratch copy. */
static int
conf_set_opt(struct conf_ctx *x, struct conf *c, char *opt)
{
	char s[CONF_SHOW_BUF], where[CONF_WHERE_MAX];
	const struct conf_key *tab, *k;
	char *key = strchr(opt, ':'), *eq;
	const char *v = "true";

	if (key == NULL || key == opt || key[1] == '\0' || key[1] == '=')
		return conf_fail(x, "expected SECTION:KEY[=VALUE]");
	*key++ = '\0';
	if ((eq = strchr(key, '=')) != NULL) {
		*eq = '\0';
		v = eq + 1;
	}
	if ((k = conf_find(conf_sections, opt)) == NULL)
		return conf_fail(x, "unknown section '%s'", conf_show(s, opt));
	if (k->kind == CK_ALERTS)
		return conf_set_alert(x, c, k, key, v);
	snprintf(where, sizeof(where), "%s", k->name);
	tab = k->sub;
	for (;;) {
		char *dot = strchr(key, '.');

		if (dot != NULL)
			*dot = '\0';
		if ((k = conf_find(tab, key)) == NULL)
			return conf_fail(x, "unknown key '%s' in %s",
			                 conf_show(s, key), where);
		if (k->kind == CK_GROUP) {
			size_t len = strlen(where);

			if (dot == NULL)
				return conf_fail(
				    x, "%s.%s is a group of keys, not a value",
				    where, k->name);
			snprintf(where + len, sizeof(where) - len, ".%s",
			         k->name);
			tab = k->sub;
			key = dot + 1;
			continue;
		}
		if (dot != NULL)
			return conf_fail(x, "%s.%s has no sub-keys", where,
			                 k->name);
		if (k->kind == CK_LIST)
			return conf_apply_list(x, c, k, v);
		return conf_apply(x, c, k, v);
	}
}

/*
 * Apply buf ("section:key=value", overwritten) to c; on error, err reads
 * "PREFIX SHOWN: message". A failed override leaves c as it was.
 */
static int
conf_override(struct conf *c, char *buf, const char *prefix, const char *shown,
              char *err, size_t errlen)
{
	struct conf_ctx x;
	struct conf *tmp;

	memset(&x, 0, sizeof(x));
	if ((tmp = malloc(sizeof(*tmp))) == NULL) {
		hk_errf(err, errlen, "%s%s: out of memory", prefix, shown);
		return HK_ERR;
	}
	memcpy(tmp, c, sizeof(*tmp));
	if (conf_set_opt(&x, tmp, buf) != HK_OK) {
		hk_errf(err, errlen, "%s%s: %s", prefix, shown, x.msg);
		free(tmp);
		return HK_ERR;
	}
	conf_derive(tmp);
	memcpy(c, tmp, sizeof(*c));
	free(tmp);
	return HK_OK;
}

int
conf_set(struct conf *c, const char *opt, char *err, size_t errlen)
{
	char buf[CONF_OPT_MAX];
	size_t len = strlen(opt);

	if (len >= sizeof(buf)) {
		hk_errf(err, errlen, "--opt %.64s...: too long", opt);
		return HK_ERR;
	}
	memcpy(buf, opt, len + 1);
	return conf_override(c, buf, "--opt ", opt, err, errlen);
}

int
conf_set_key(struct conf *c, const char *section, const char *kv, char *err,
             size_t errlen)
{
	char buf[CONF_OPT_MAX];

	if ((size_t)snprintf(buf, sizeof(buf), "%s:%s", section, kv) >=
	    sizeof(buf)) {
		hk_errf(err, errlen, "%.64s...: too long", kv);
		return HK_ERR;
	}
	if (strchr(kv, '=') == NULL) {
		hk_errf(err, errlen, "%s: expected KEY=VALUE", kv);
		return HK_ERR;
	}
	return conf_override(c, buf, "", kv, err, errlen);
}

/* --- the whole -------------------------------------------------------- */

int
conf_check(const struct conf *c, char *err, size_t errlen)
{
	if (c->rules[0] == '\0') {
		hk_errf(
		    err, errlen,
		    "%s: general.rules is not set (the rule file is required)",
		    c->path[0] != '\0' ? c->path : "configuration");
		return HK_ERR;
	}
	if (c->capture == CONF_CAPTURE_PCAP) {
		if (c->nifaces == 0 && c->pcap_file[0] == '\0') {
			hk_errf(err, errlen,
			        "%s: capture mode pcap needs capture.pcap."
			        "interfaces or capture.pcap.file",
			        c->path[0] != '\0' ? c->path : "configuration");
			return HK_ERR;
		}
		if (c->nifaces != 0 && c->pcap_file[0] != '\0') {
			hk_errf(
			    err, errlen,
			    "%s: capture.pcap.interfaces and capture.pcap.file "
			    "exclude each other",
			    c->path[0] != '\0' ? c->path : "configuration");
			return HK_ERR;
		}
		return HK_OK;
	}
	if (c->nqueues == 0) {
		hk_errf(err, errlen,
		        "%s: capture mode nfqueue needs at least one queue "
		        "(capture.nfqueue.queues)",
		        c->path[0] != '\0' ? c->path : "configuration");
		return HK_ERR;
	}
	/* One worker reads one queue (haka/nfq.h): more would sit idle. */
	if (c->threads > c->nqueues) {
		hk_errf(
		    err, errlen,
		    "%s: general.threads (%u) is more than the nfqueue queues "
		    "(%u): one worker reads one queue",
		    c->path[0] != '\0' ? c->path : "configuration", c->threads,
		    c->nqueues);
		return HK_ERR;
	}
	return HK_OK;
}
