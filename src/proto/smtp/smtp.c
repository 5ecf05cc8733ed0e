/*
 * The SMTP dissector: its grammar (commands, multi-line replies, DATA,
 * BDAT chunks, AUTH lines) and its bidirectional state machine, defined
 * with the generic engines of grammar/ and fsm/; the pipelining queue that
 * matches each reply to the command it answers (RFC 2920); the mail
 * transaction; DATA dot-unstuffing and SMTP smuggling detection. Called by
 * the engine with the reassembled bytes of each direction.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <haka/alert.h>
#include <haka/fsm.h>
#include <haka/log.h>
#include <haka/stream.h>

#include "proto/smtp/smtp.h"

/*
 * The pipelining queue (RFC 2920): a ring of commands awaiting replies,
 * grown on demand up to limits.max_pending, and the parameters kept for
 * the transaction (HELO/EHLO, MAIL, RCPT) in a FIFO of bytes beside it.
 * Most sessions never leave the inline storage.
 */
#define SMTP_PENDING_INLINE 16
#define SMTP_PARAMS_INLINE  1024
#define SMTP_PARAMS_MAX     (256 * 1024)

struct pending {
	uint8_t verb;
	uint16_t plen; /* parameter bytes kept, with their NUL; 0: none */
	uint32_t poff; /* in s->params */
};

/*
 * A value worked out once per element (the verb of a command, the code
 * of a reply) that several transitions and callbacks ask for. The arena
 * reuses addresses: the offset tells elements apart.
 */
struct res_memo {
	const struct gresult *res;
	uint64_t off;
	int val;
};

/* true: m->val is res's; false: m now belongs to res, set m->val. */
static bool
memo_hit(struct res_memo *m, const struct gresult *res)
{
	if (m->res == res && m->off == res->off)
		return true;
	m->res = res;
	m->off = res->off;
	return false;
}

struct smtp {
	struct fsm *fsm;
	struct flow *flow;
	struct smtp_hooks hooks;
	struct smtp_txn txn;
	struct pending *pq; /* ring of pcap entries */
	uint32_t pcap, phead, pcount;
	char *params; /* the kept parameters, oldest first */
	uint32_t params_cap, params_head, params_len;
	uint32_t errors;
	bool bare_lf; /* the client ends its lines with LF alone */
	bool line_seen;
	bool closed;    /* 221 to QUIT: nothing more to parse */
	bool resync[2]; /* parse error: skip to the next line */
	uint64_t resync_off[2];
	uint64_t bdat_size;
	uint64_t bdat_start; /* stream offset of the chunk */
	uint64_t bdat_left;  /* bytes of the chunk still to come */
	bool bdat_last;
	bool bdat_mail; /* a BDAT was sent since the last MAIL, RSET, HELO
	                   or EHLO command */
	bool up_held;   /* client bytes wait for DATA's reply */
	/* DATA content scanning (dot-unstuffing, smuggling, line lengths) */
	bool content;   /* pieces wanted by the rules */
	uint8_t ds;     /* scan state, see data_scan */
	uint32_t dline; /* length of the current content line */
	uint8_t *buf;   /* unstuffed bytes waiting for the rules */
	uint32_t buflen;
	struct res_memo verb; /* of the last command result looked at */
	struct res_memo code; /* of the last reply result looked at */
	/* input of the current call */
	const struct stream *st;
	const struct stream_seg *hint;
	bool up_eof; /* this call has the client's last bytes (a close) */
	/* last: not zeroed by smtp_new (written before being read) */
	struct pending pq_inline[SMTP_PENDING_INLINE];
	char params_inline[SMTP_PARAMS_INLINE];
};

static struct smtp_limits limits = SMTP_LIMITS_DEFAULT;

/*
 * Bytes held by this thread's sessions (limits.memcap): counted where
 * they are allocated and freed, by the sessions (own_size) and by their
 * state machines and parsers (fsm_set_counter).
 */
static _Thread_local uint64_t smtp_mem;

#define SMTP_CONTENT_BUF 4096

/* Bytes s holds itself: its block and what it grew. */
static size_t
own_size(const struct smtp *s)
{
	size_t n = sizeof(*s) + (size_t)s->txn.rcpt_cap * SMTP_ADDR_MAX;

	if (s->pq != s->pq_inline)
		n += (size_t)s->pcap * sizeof(*s->pq);
	if (s->params != s->params_inline)
		n += s->params_cap;
	if (s->buf != NULL)
		n += SMTP_CONTENT_BUF;
	return n;
}

static struct grammar *G;
struct smtp_keys smtp_keys;
static struct gnode *n_command, *n_responses, *n_data, *n_bdat, *n_auth;
static struct fsm_def *D;
static struct fsm_state *S_init, *S_client, *S_command, *S_response, *S_data,
    *S_data_wait, *S_bdat, *S_auth, *S_tls;

static const char *const verb_names[SMTP_V_COUNT] = {
    [SMTP_V_UNKNOWN] = "?",           [SMTP_V_HELO] = "HELO",
    [SMTP_V_EHLO] = "EHLO",           [SMTP_V_MAIL] = "MAIL",
    [SMTP_V_RCPT] = "RCPT",           [SMTP_V_DATA] = "DATA",
    [SMTP_V_BDAT] = "BDAT",           [SMTP_V_RSET] = "RSET",
    [SMTP_V_VRFY] = "VRFY",           [SMTP_V_EXPN] = "EXPN",
    [SMTP_V_HELP] = "HELP",           [SMTP_V_NOOP] = "NOOP",
    [SMTP_V_QUIT] = "QUIT",           [SMTP_V_STARTTLS] = "STARTTLS",
    [SMTP_V_AUTH] = "AUTH",           [SMTP_V_ETRN] = "ETRN",
    [SMTP_V_TURN] = "TURN",           [SMTP_V_ATRN] = "ATRN",
    [SMTP_V_XCLIENT] = "XCLIENT",     [SMTP_V_XFORWARD] = "XFORWARD",
    [SMTP_V_GREETING] = "<greeting>", [SMTP_V_DOT] = "<end of data>",
    [SMTP_V_AUTH_CONT] = "<auth>",
};

const char *
smtp_verb_str(enum smtp_verb v)
{
	if ((unsigned)v >= SMTP_V_COUNT)
		return "?";
	return verb_names[v];
}

/*
 * A verb of at most 8 bytes, upper-cased, as one number: RFC 5321 verbs
 * are case-insensitive (section 2.4). 0 for anything longer or empty.
 */
static uint64_t
verb_key(const uint8_t *s, uint32_t len)
{
	uint64_t k = 0;
	uint32_t i;

	if (len == 0 || len > 8)
		return 0;
	for (i = 0; i < len; i++)
		k |= (uint64_t)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i])
		     << (8 * i);
	return k;
}

/* verb_key of each name, made once by build_grammar. */
static uint64_t verb_keys[SMTP_V_COUNT];

static enum smtp_verb
verb_lookup(const uint8_t *s, uint32_t len)
{
	uint64_t k = verb_key(s, len);
	int v;

	if (k == 0)
		return SMTP_V_UNKNOWN;
	for (v = SMTP_V_HELO; v < SMTP_V_GREETING; v++)
		if (verb_keys[v] == k)
			return v;
	return SMTP_V_UNKNOWN;
}

static enum smtp_verb
res_verb(const struct gresult *res)
{
	const struct gresult *c = gresult_field(res, smtp_keys.command);

	return c != NULL ? verb_lookup(c->s, c->len) : SMTP_V_UNKNOWN;
}

/* The verb of a command result, looked up once per command. */
static enum smtp_verb
cmd_verb(struct smtp *s, const struct gresult *res)
{
	if (!memo_hit(&s->verb, res))
		s->verb.val = (int)res_verb(res);
	return (enum smtp_verb)s->verb.val;
}

static const struct gresult *
res_param(const struct gresult *res)
{
	return gresult_field(res, smtp_keys.parameter);
}

/* Code of the first line of a reply, as a number (0 if none). */
static int
res_code(const struct gresult *res)
{
	const struct gresult *r = gresult_field(res, smtp_keys.responses);
	const struct gresult *c;

	if (r == NULL || (r = gresult_at(r, 0)) == NULL ||
	    (c = gresult_field(r, smtp_keys.code)) == NULL || c->len != 3)
		return 0;
	return (c->s[0] - '0') * 100 + (c->s[1] - '0') * 10 + (c->s[2] - '0');
}

/* The code of a reply result, worked out once per reply. */
static int
reply_code(struct smtp *s, const struct gresult *res)
{
	if (!memo_hit(&s->code, res))
		s->code.val = res_code(res);
	return s->code.val;
}

/* --- grammar callbacks ------------------------------------------------ */

/*
 * Every verb takes an optional parameter: a verb that should have none
 * ("QUIT x") or lacks one ("HELO") is the server's business (it replies
 * 501), not a reason to lose the session (the original's bug 2).
 */
static const char *
select_verb(const struct gresult *rec, struct gctx *ctx)
{
	(void)rec;
	(void)ctx;
	return NULL;
}

static bool
next_not_eol(const struct gresult *elem, struct gctx *ctx)
{
	int c = gctx_lookahead(ctx);

	(void)elem;
	return c != '\r' && c != '\n' && c >= 0;
}

static bool
has_sep(const struct gresult *elem, struct gctx *ctx)
{
	const struct gresult *sep = gresult_field(ctx->rec, smtp_keys.sep);

	(void)elem;
	return sep != NULL && sep->len > 0;
}

/* untilcond of the reply lines: stop after a line that is not "NNN-". */
static bool
reply_last(const struct gresult *prev, struct gctx *ctx)
{
	const struct gresult *sep;

	(void)ctx;
	if (prev == NULL)
		return false;
	sep = gresult_field(prev, smtp_keys.sep);
	return sep == NULL || sep->len == 0 || sep->s[0] != '-';
}

static const char *
select_data_variant(const struct gresult *rec, struct gctx *ctx)
{
	const struct smtp *s = ctx->user;

	(void)rec;
	return s->bare_lf ? "lf" : "crlf";
}

static int64_t
bdat_count(const struct gresult *rec, struct gctx *ctx)
{
	const struct smtp *s = ctx->user;

	(void)rec;
	return (int64_t)s->bdat_left;
}

static void content_piece(struct smtp *s, const uint8_t *p, size_t len,
                          bool last, bool stuffed);
static bool bdat_parse(const struct gresult *param, uint64_t *size, bool *last);

static void
data_chunk(struct gctx *ctx, const uint8_t *p, size_t len, uint64_t off,
           bool last)
{
	(void)off;
	content_piece(ctx->user, p, len, last, true);
}

static void
bdat_chunk(struct gctx *ctx, const uint8_t *p, size_t len, uint64_t off,
           bool last)
{
	struct smtp *s = ctx->user;

	(void)off;
	content_piece(s, p, len, last && s->bdat_last, false);
}

/* --- the instance ------------------------------------------------------- */

static void
anomaly(struct smtp *s, enum anomaly a)
{
	if (s->hooks.anomaly != NULL)
		s->hooks.anomaly(s->hooks.arg, s->flow, a);
}

static void smtp_alert(enum alert_level sev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
smtp_alert(enum alert_level sev, const char *fmt, ...)
{
	struct alert a;
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	memset(&a, 0, sizeof(a));
	a.severity = sev;
	a.description = desc;
	alert_post(&a);
}

/* Room for need more parameter bytes: compacted, then grown. */
static bool
params_reserve(struct smtp *s, uint32_t need)
{
	uint32_t i, cap;
	char *n;

	if (s->params_len + need <= s->params_cap)
		return true;
	if (s->params_head > 0) {
		/* The bytes before params_head were popped with their entry. */
		memmove(s->params, s->params + s->params_head,
		        s->params_len - s->params_head);
		for (i = 0; i < s->pcount; i++) {
			struct pending *p = &s->pq[(s->phead + i) % s->pcap];

			if (p->plen > 0)
				p->poff -= s->params_head;
		}
		s->params_len -= s->params_head;
		s->params_head = 0;
		if (s->params_len + need <= s->params_cap)
			return true;
	}
	for (cap = s->params_cap; cap < s->params_len + need; cap *= 2)
		;
	if (cap > SMTP_PARAMS_MAX)
		return false;
	if (s->params == s->params_inline) {
		n = malloc(cap);
		if (n != NULL)
			memcpy(n, s->params, s->params_len);
	} else
		n = realloc(s->params, cap);
	if (n == NULL)
		return false;
	smtp_mem -= own_size(s);
	s->params = n;
	s->params_cap = cap;
	smtp_mem += own_size(s);
	return true;
}

/* Twice the room for entries, up to limits.max_pending. */
static bool
pending_grow(struct smtp *s)
{
	uint32_t cap = s->pcap * 2, i;
	struct pending *n;

	if (cap > limits.max_pending)
		cap = limits.max_pending;
	if (cap <= s->pcap || (n = malloc(cap * sizeof(*n))) == NULL)
		return false;
	for (i = 0; i < s->pcount; i++)
		n[i] = s->pq[(s->phead + i) % s->pcap];
	smtp_mem -= own_size(s);
	if (s->pq != s->pq_inline)
		free(s->pq);
	s->pq = n;
	s->pcap = cap;
	smtp_mem += own_size(s);
	s->phead = 0;
	return true;
}

static void
pending_push(struct smtp *s, enum smtp_verb v, const struct gresult *param)
{
	struct pending *p;

	if (s->pcount >= limits.max_pending ||
	    (s->pcount == s->pcap && !pending_grow(s))) {
		anomaly(s, ANOM_SMTP_EXCESSIVE_PENDING);
		return;
	}
	p = &s->pq[(s->phead + s->pcount) % s->pcap];
	s->pcount++;
	p->verb = (uint8_t)v;
	p->plen = 0;
	if (param != NULL && (v == SMTP_V_HELO || v == SMTP_V_EHLO ||
	                      v == SMTP_V_MAIL || v == SMTP_V_RCPT)) {
		uint32_t n = param->len < SMTP_ADDR_MAX - 1 ? param->len
		                                            : SMTP_ADDR_MAX - 1;

		/* Without room the command stays paired, its parameter lost. */
		if (!params_reserve(s, n + 1))
			return;
		p->poff = s->params_len;
		p->plen = (uint16_t)(n + 1);
		memcpy(s->params + p->poff, param->s, n);
		s->params[p->poff + n] = '\0';
		s->params_len += n + 1;
	}
}

static const struct pending *
pending_front(const struct smtp *s)
{
	return s->pcount > 0 ? &s->pq[s->phead] : NULL;
}

/* The parameter kept with p ("" if none). */
static const char *
pending_param(const struct smtp *s, const struct pending *p)
{
	return p->plen > 0 ? s->params + p->poff : "";
}

static void
pending_pop(struct smtp *s)
{
	const struct pending *p = pending_front(s);

	if (p == NULL)
		return;
	if (p->plen > 0)
		s->params_head = p->poff + p->plen;
	s->phead = (s->phead + 1) % s->pcap;
	s->pcount--;
	if (s->pcount == 0)
		s->params_head = s->params_len = 0;
}

/*
 * The address of "FROM:<a@b>" / "TO:<a@b> NOTIFY=..." (RFC 5321 4.1.2),
 * tolerating spaces after the colon and a missing pair of brackets.
 */
static void
extract_path(const char *param, char *out, size_t outlen)
{
	const char *p = strchr(param, ':'), *e;
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '<') {
		p++;
		e = strchr(p, '>');
		if (e == NULL)
			e = p + strlen(p);
	} else {
		e = p;
		while (*e != '\0' && *e != ' ' && *e != '\t')
			e++;
	}
	n = (size_t)(e - p) < outlen - 1 ? (size_t)(e - p) : outlen - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/*
 * The reply to a MAIL, RSET, HELO or EHLO. BDAT chunks sent after the
 * last of these commands, pipelined ahead of this reply (RFC 3030 4.2),
 * belong to the transaction that follows: their count stays.
 */
static void
txn_reset(struct smtp *s)
{
	s->txn.mail_from[0] = '\0';
	s->txn.nrcpt = 0;
	s->txn.nrcpt_total = 0;
	if (!s->bdat_mail)
		s->txn.data_bytes = 0;
	s->txn.in_data = false;
}

/* A reply to the command at the front of the queue. */
static void
txn_reply(struct smtp *s, const struct pending *p, int code)
{
	bool ok = code >= 200 && code < 300;

	if (p == NULL)
		return;
	switch (p->verb) {
	case SMTP_V_HELO:
	case SMTP_V_EHLO:
		if (ok) {
			snprintf(s->txn.helo, sizeof(s->txn.helo), "%s",
			         pending_param(s, p));
			txn_reset(s);
		}
		break;
	case SMTP_V_MAIL:
		if (ok) {
			txn_reset(s);
			extract_path(pending_param(s, p), s->txn.mail_from,
			             sizeof(s->txn.mail_from));
		}
		break;
	case SMTP_V_RCPT:
		if (ok) {
			if (s->txn.nrcpt == s->txn.rcpt_cap &&
			    s->txn.rcpt_cap < SMTP_MAX_RCPT) {
				uint32_t cap =
				    s->txn.rcpt_cap ? s->txn.rcpt_cap * 2 : 4;
				void *n = realloc(s->txn.rcpt,
				                  (size_t)cap * SMTP_ADDR_MAX);

				if (n != NULL) {
					smtp_mem -= own_size(s);
					s->txn.rcpt = n;
					s->txn.rcpt_cap = cap;
					smtp_mem += own_size(s);
				}
			}
			if (s->txn.nrcpt < s->txn.rcpt_cap)
				extract_path(pending_param(s, p),
				             s->txn.rcpt[s->txn.nrcpt++],
				             SMTP_ADDR_MAX);
			s->txn.nrcpt_total++;
		}
		break;
	case SMTP_V_RSET:
		if (ok)
			txn_reset(s);
		break;
	case SMTP_V_DATA:
		if (code == 354) {
			s->txn.in_data = true;
			s->txn.data_bytes = 0;
		}
		break;
	default:
		break;
	}
}

/* --- DATA content ------------------------------------------------------ */

enum {
	DS_LINE = 0, /* inside a line */
	DS_START,    /* at the start of a line */
	DS_DOT,      /* a line started with a dot */
	DS_DOT_CR,   /* ".\r" at the start of a line */
};

static void
content_flush(struct smtp *s, bool last)
{
	if (s->content && s->hooks.content != NULL && (s->buflen > 0 || last))
		s->hooks.content(s->hooks.arg, s->flow, s->buf, s->buflen,
		                 last);
	s->buflen = 0;
}

static void
content_out(struct smtp *s, const uint8_t *p, size_t len)
{
	s->txn.data_bytes += len;
	if (!s->content)
		return;
	if (s->buf == NULL) {
		if ((s->buf = malloc(SMTP_CONTENT_BUF)) == NULL)
			return; /* the rules miss it; counted in data_bytes */
		smtp_mem += SMTP_CONTENT_BUF;
	}
	while (len > 0) {
		size_t n = SMTP_CONTENT_BUF - s->buflen;

		if (n > len)
			n = len;
		memcpy(s->buf + s->buflen, p, n);
		s->buflen += (uint32_t)n;
		p += n;
		len -= n;
		if (s->buflen == SMTP_CONTENT_BUF)
			content_flush(s, false);
	}
}

/*
 * Measure the lines of [p, end) (s->dline bytes of the first one were
 * seen before): RFC 5321 4.5.3.1.6 limits a text line to 1000 bytes with
 * its CRLF. One backwards search per window of the allowed length: when a
 * window holds a LF, every line that ends in it is short enough.
 */
static void
line_lengths(struct smtp *s, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q;
	size_t lim, win;

	while (p < end) {
		lim = s->dline < limits.text_line ? limits.text_line - s->dline
		                                  : 0;
		win = (size_t)(end - p) < lim ? (size_t)(end - p) : lim;
		q = win > 0 ? memrchr(p, '\n', win) : NULL;
		if (q != NULL) {
			s->dline = 0;
			p = q + 1;
			continue;
		}
		if (win == (size_t)(end - p) && win < lim) {
			s->dline += (uint32_t)win; /* the line goes on */
			return;
		}
		/* No LF within the limit: too long (said once per line). */
		if (s->dline < limits.text_line)
			anomaly(s, ANOM_SMTP_DATA_LINE_TOO_LONG);
		q = memchr(p + win, '\n', (size_t)(end - p - win));
		if (q == NULL) {
			s->dline = limits.text_line + 1;
			return;
		}
		s->dline = 0;
		p = q + 1;
	}
}

/*
 * Scan a piece of DATA content: remove the dot that starts a stuffed line
 * (RFC 5321 4.5.2), count line lengths (4.5.3.1.6), and notice a line
 * made of a dot ended otherwise than the session's end of data: in a CRLF
 * session "\n.\r\n" or "\r\n.\n" is data here but may end the message
 * for another implementation (SMTP smuggling).
 */
static void
content_piece(struct smtp *s, const uint8_t *p, size_t len, bool last,
              bool stuffed)
{
	const uint8_t *end = p + len, *q, *stop, *from = p;

	if (!stuffed) {
		content_out(s, p, len);
		goto done;
	}
	while (p < end) {
		switch (s->ds) {
		case DS_START:
			if (*p == '.') {
				/* The stuffed dot is removed. */
				content_out(s, from, (size_t)(p - from));
				from = p + 1;
				s->ds = DS_DOT;
				p++;
				continue;
			}
			s->ds = DS_LINE;
			break;
		case DS_DOT:
			if (*p == '\r') {
				s->ds = DS_DOT_CR;
				p++;
				continue;
			}
			if (*p == '\n')
				anomaly(s, ANOM_SMTP_SMUGGLING);
			s->ds = DS_LINE;
			break;
		case DS_DOT_CR:
			/* ".\r\n" inside the data: a bare LF before it. */
			if (*p == '\n')
				anomaly(s, ANOM_SMTP_SMUGGLING);
			s->ds = DS_LINE;
			break;
		default:
			break;
		}
		/*
		 * Inside a line: only the next line that starts with a dot
		 * needs a look; the lines before it are only measured.
		 */
		for (q = p + 1;
		     q < end && (q = memchr(q, '.', (size_t)(end - q))); q++)
			if (q[-1] == '\n')
				break;
		stop = q != NULL && q < end ? q : end;
		line_lengths(s, p, stop);
		p = stop;
		s->ds = stop[-1] == '\n' ? DS_START : DS_LINE;
	}
	content_out(s, from, (size_t)(end - from));
	/*
	 * The last line's line ending belongs to the end of data: it counts
	 * towards the line's length all the same (a longer line was already
	 * said: dline is then past the limit).
	 */
	if (last && s->dline > 0 && s->dline <= limits.text_line &&
	    s->dline + (s->bare_lf ? 1u : 2u) > limits.text_line)
		anomaly(s, ANOM_SMTP_DATA_LINE_TOO_LONG);
done:
	if (last) {
		content_flush(s, true);
		s->ds = DS_START;
		s->dline = 0;
	}
}

/* --- transitions --------------------------------------------------------- */

static bool
when_220(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	(void)ctx;
	(void)m;
	(void)arg;
	return reply_code(ctx, a->res) == 220;
}

static void
emit_response(struct smtp *s, const struct gresult *res)
{
	const struct gresult *r = gresult_field(res, smtp_keys.responses), *e,
	                     *c;
	const struct gresult *c0 = NULL;
	bool mismatch = false;

	for (e = r != NULL ? r->first : NULL; e != NULL; e = e->next) {
		if (e->end - e->off > limits.reply_line)
			anomaly(s, ANOM_SMTP_REPLY_LINE_TOO_LONG);
		/* RFC 5321 4.2.1: every line of a reply has the same code. */
		if (e->next == NULL && c0 == NULL)
			break;
		if ((c = gresult_field(e, smtp_keys.code)) == NULL)
			continue;
		if (c0 == NULL)
			c0 = c;
		else if (c->len != c0->len || memcmp(c->s, c0->s, c->len) != 0)
			mismatch = true;
	}
	if (mismatch)
		anomaly(s, ANOM_SMTP_REPLY_CODE_MISMATCH);
	if (s->hooks.response != NULL)
		s->hooks.response(s->hooks.arg, s->flow, res);
}

static void
ex_greeting(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;

	(void)m;
	(void)arg;
	pending_pop(s);
	emit_response(s, a->res);
}

static void
ex_bad_greeting(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;

	(void)m;
	(void)arg;
	anomaly(s, ANOM_SMTP_BAD_GREETING);
	pending_pop(s);
	/*
	 * The original's alert (without its bug 1). The server refuses the
	 * session itself: the reply is let through.
	 */
	smtp_alert(ALERT_LOW, "unavailable service: %d", reply_code(s, a->res));
	emit_response(s, a->res);
}

static void
ex_parse_error_reply(void *ctx, struct fsm *m, const struct fsm_args *a,
                     void *arg)
{
	char buf[256];

	(void)ctx;
	(void)m;
	(void)arg;
	smtp_alert(ALERT_HIGH, "invalid smtp response %s",
	           gparse_error_str(a->error, buf, sizeof(buf)));
}

static void
ex_parse_error_command(void *ctx, struct fsm *m, const struct fsm_args *a,
                       void *arg)
{
	char buf[256];

	(void)ctx;
	(void)m;
	(void)arg;
	smtp_alert(ALERT_LOW, "invalid smtp command %s",
	           gparse_error_str(a->error, buf, sizeof(buf)));
}

/* A client command: queued, checked, raised to the rules. */
static void
ex_command(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;
	enum smtp_verb v = cmd_verb(s, a->res);
	const struct gresult *param = res_param(a->res);
	bool bdat_empty = false;

	(void)arg;
	if (gresult_field(a->res, smtp_keys.command) == NULL) {
		/*
		 * An element begun under another state (an AUTH line, a BDAT
		 * chunk) ended after a reply changed the state: it is not a
		 * command, but the server answers an AUTH line.
		 */
		if (gresult_field(a->res, smtp_keys.line) != NULL)
			pending_push(s, SMTP_V_AUTH_CONT, NULL);
		return;
	}
	if (a->res->end - a->res->off > limits.command_line)
		anomaly(s, ANOM_SMTP_COMMAND_LINE_TOO_LONG);
	if (v == SMTP_V_UNKNOWN)
		anomaly(s, ANOM_SMTP_UNKNOWN_COMMAND);
	if (fsm_current(m) == S_client && v != SMTP_V_HELO &&
	    v != SMTP_V_EHLO) {
		anomaly(s, ANOM_SMTP_COMMAND_BEFORE_HELO);
		if (v == SMTP_V_MAIL || v == SMTP_V_RCPT || v == SMTP_V_DATA ||
		    v == SMTP_V_BDAT)
			smtp_alert(ALERT_LOW,
			           "invalid client initiation command");
	}
	if (v == SMTP_V_MAIL || v == SMTP_V_RSET || v == SMTP_V_HELO ||
	    v == SMTP_V_EHLO)
		s->bdat_mail = false;
	if (v == SMTP_V_BDAT &&
	    bdat_parse(param, &s->bdat_size, &s->bdat_last)) {
		/* The first chunk after MAIL starts the mail's count. */
		if (!s->bdat_mail)
			s->txn.data_bytes = 0;
		s->bdat_mail = true;
		s->bdat_start = a->res->end;
		s->bdat_left = s->bdat_size;
		bdat_empty = s->bdat_size == 0;
	}
	pending_push(s, v, param);
	if (s->hooks.command != NULL)
		s->hooks.command(s->hooks.arg, s->flow, a->res);
	/* An empty chunk is complete with its command (RFC 3030 2). */
	if (bdat_empty)
		content_piece(s, (const uint8_t *)"", 0, s->bdat_last, false);
}

/*
 * "BDAT size [LAST]" (RFC 3030 2): only a well-formed command announces a
 * chunk; the server rejects another one without reading a chunk.
 */
static bool
bdat_parse(const struct gresult *param, uint64_t *size, bool *last)
{
	const char *p = param != NULL ? (const char *)param->s : "";
	uint64_t n = 0;
	int digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 19) {
		n = n * 10 + (uint64_t)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0 || (*p >= '0' && *p <= '9'))
		return false;
	*last = false;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "LAST", 4) == 0) {
		*last = true;
		p += 4;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	if (*p != '\0')
		return false;
	*size = n;
	return true;
}

/* A well-formed BDAT command, and the size of its chunk. */
static bool
cmd_bdat(struct smtp *s, const struct gresult *res, uint64_t *size)
{
	bool last;

	return cmd_verb(s, res) == SMTP_V_BDAT &&
	       bdat_parse(res_param(res), size, &last);
}

static bool
when_bdat(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	uint64_t size;

	(void)m;
	(void)arg;
	return cmd_bdat(ctx, a->res, &size);
}

/* "BDAT 0 [LAST]": no chunk follows the command line. */
static bool
when_bdat_empty(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	uint64_t size;

	(void)m;
	(void)arg;
	return cmd_bdat(ctx, a->res, &size) && size == 0;
}

static bool
when_data(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	(void)m;
	(void)arg;
	return cmd_verb(ctx, a->res) == SMTP_V_DATA;
}

/* The reply to a DATA that is not 354: the client goes on with commands. */
static bool
when_data_refused(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	const struct pending *p = pending_front(ctx);

	(void)m;
	(void)arg;
	return p != NULL && p->verb == SMTP_V_DATA &&
	       reply_code(ctx, a->res) != 354;
}

static void parse_dir(struct smtp *s, struct flow *f, int dir, uint64_t end,
                      bool finished, uint64_t *keep);

static bool
when_up_held(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	const struct smtp *s = ctx;

	(void)m;
	(void)a;
	(void)arg;
	return s->up_held;
}

/*
 * Entering the state after DATA's reply: the client bytes held since are
 * parsed now, before the replies that follow (which may answer them).
 */
static void
ex_parse_held(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;
	struct stream *up = &s->flow->dir[FLOW_UP];
	const struct stream *st = s->st;
	const struct stream_seg *hint = s->hint;
	uint64_t k;

	(void)m;
	(void)a;
	(void)arg;
	s->up_held = false;
	parse_dir(s, s->flow, FLOW_UP, stream_contig_end(up, up->consumed),
	          false, &k);
	/* Back to the direction being parsed. */
	s->st = st;
	s->hint = hint;
}

static void
ex_hold(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;

	/*
	 * Client bytes after DATA, before its reply: kept unparsed until the
	 * reply says whether they are content or commands (RFC 2920 3.1:
	 * the client should wait; some do not).
	 */
	(void)m;
	(void)a;
	(void)arg;
	s->up_held = true;
}

/* A reply: matched with the command it answers. */
static void
ex_reply(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;
	const struct pending *p = pending_front(s);
	int code = reply_code(s, a->res);

	(void)m;
	(void)arg;
	if (p == NULL) {
		anomaly(s, ANOM_SMTP_UNMATCHED_REPLY);
	} else {
		txn_reply(s, p, code);
		if (p->verb == SMTP_V_QUIT && code == 221)
			s->closed = true;
		pending_pop(s);
	}
	emit_response(s, a->res);
	if (p != NULL && p->verb == SMTP_V_STARTTLS && code == 220) {
		s->txn.tls = true;
		if (s->hooks.starttls != NULL)
			s->hooks.starttls(s->hooks.arg, s->flow);
	}
}

/* The front command and the reply code decide the next state. */
static bool
when_reply(struct smtp *s, const struct fsm_args *a, int verb, int code)
{
	const struct pending *p = pending_front(s);

	return p != NULL && p->verb == verb && reply_code(s, a->res) == code;
}

static bool
when_354(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	(void)m;
	(void)arg;
	return when_reply(ctx, a, SMTP_V_DATA, 354);
}

static bool
when_221(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	(void)m;
	(void)arg;
	return reply_code(ctx, a->res) == 221 && pending_front(ctx) != NULL &&
	       pending_front(ctx)->verb == SMTP_V_QUIT;
}

static bool
when_starttls(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	(void)m;
	(void)arg;
	return when_reply(ctx, a, SMTP_V_STARTTLS, 220);
}

static bool
when_334(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	const struct pending *p = pending_front(ctx);

	(void)m;
	(void)arg;
	return p != NULL &&
	       (p->verb == SMTP_V_AUTH || p->verb == SMTP_V_AUTH_CONT) &&
	       reply_code(ctx, a->res) == 334;
}

static bool
when_last_pending(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	const struct smtp *s = ctx;

	(void)m;
	(void)a;
	(void)arg;
	return s->pcount <= 1;
}

static void
ex_unmatched(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;

	(void)m;
	(void)arg;
	anomaly(s, ANOM_SMTP_UNMATCHED_REPLY);
	emit_response(s, a->res);
}

static void
ex_end_of_data(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;

	(void)m;
	(void)a;
	(void)arg;
	s->txn.in_data = false;
	pending_push(s, SMTP_V_DOT, NULL);
}

static void
ex_bdat_done(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;

	(void)m;
	(void)a;
	(void)arg;
	s->bdat_left = 0;
}

static void
ex_auth_line(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	(void)m;
	(void)a;
	(void)arg;
	pending_push(ctx, SMTP_V_AUTH_CONT, NULL);
}

static bool resync_point(struct smtp *s, uint64_t from, uint64_t end,
                         uint64_t *out);

/*
 * Whether the reply line holding the parse error ends its reply: a line
 * "NNN-..." announces more lines, any other line is the last (RFC 5321
 * 4.2.1). The bytes from the element's start are still in the stream.
 */
static bool
reply_line_last(struct smtp *s, const struct gparse_error *e)
{
	uint64_t ls = e->start, at;
	const uint8_t *p;
	size_t len;

	while (ls < e->position && resync_point(s, ls, e->position, &at))
		ls = at;
	p = stream_span(s->st, ls + 3, &len, &s->hint);
	return p == NULL || p[0] != '-';
}

/*
 * Invalid lines: an anomaly each; the parser skips to the next line. The
 * pairing of replies with commands survives them: an invalid client line
 * is queued, for the server answers it too (500), and an invalid reply
 * still answers the command at the front of the queue.
 */
static void
ex_invalid(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;
	const struct pending *p;
	const struct fsm_state *cur = fsm_current(m);
	uint8_t verb;

	(void)arg;
	s->errors++;
	anomaly(s, a->dir == FSM_UP ? ANOM_SMTP_INVALID_COMMAND
	                            : ANOM_SMTP_INVALID_REPLY);
	s->resync[a->dir] = true;
	s->resync_off[a->dir] = a->error->position;
	if (a->dir == FSM_UP) {
		pending_push(s, SMTP_V_UNKNOWN, NULL);
		/* A reply is now awaited, as after any command. */
		if (cur == S_command)
			fsm_jump(m, S_response);
		return;
	}
	if ((p = pending_front(s)) == NULL || !reply_line_last(s, a->error))
		return;
	/* Its code is unknown: DATA and AUTH are taken as refused. */
	verb = p->verb;
	pending_pop(s);
	if (cur == S_data_wait && verb == SMTP_V_DATA)
		fsm_jump(m, S_response);
	else if (cur == S_auth || (cur == S_response && s->pcount == 0))
		fsm_jump(m, S_command);
}

static bool
when_too_many_errors(void *ctx, struct fsm *m, const struct fsm_args *a,
                     void *arg)
{
	const struct smtp *s = ctx;

	(void)m;
	(void)a;
	(void)arg;
	return s->errors + 1 >= limits.max_errors;
}

static void
ex_too_many_errors(void *ctx, struct fsm *m, const struct fsm_args *a,
                   void *arg)
{
	char buf[256];

	(void)m;
	(void)arg;
	anomaly(ctx, a->dir == FSM_UP ? ANOM_SMTP_INVALID_COMMAND
	                              : ANOM_SMTP_INVALID_REPLY);
	smtp_alert(ALERT_LOW, "invalid smtp %s %s",
	           a->dir == FSM_UP ? "command" : "response",
	           gparse_error_str(a->error, buf, sizeof(buf)));
}

/*
 * The client's bytes end (the connection closes) inside mail content: the
 * parse error is the end of the input, before the end of data or the end
 * of the BDAT chunk.
 */
static bool
when_data_cut(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	const struct smtp *s = ctx;

	(void)m;
	(void)arg;
	return a->dir == FSM_UP && s->up_eof;
}

/*
 * Everything the client sent was passed on as content, up to the end of
 * the connection, but the mail never ended: truncated, not invalid. DATA's
 * node ended the content at the end of the input; a chunk's is ended here.
 */
static void
ex_data_cut(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;

	(void)a;
	(void)arg;
	anomaly(s, ANOM_SMTP_TRUNCATED);
	s->txn.in_data = false;
	if (fsm_current(m) == S_bdat) {
		content_flush(s, true);
		s->bdat_left = 0;
		fsm_jump(m, S_response);
	}
}

static void
ex_parse_error_data(void *ctx, struct fsm *m, const struct fsm_args *a,
                    void *arg)
{
	char buf[256];

	(void)ctx;
	(void)m;
	(void)arg;
	smtp_alert(ALERT_LOW, "invalid data blob %s",
	           gparse_error_str(a->error, buf, sizeof(buf)));
}

static void
ex_missing_grammar(void *ctx, struct fsm *m, const struct fsm_args *a,
                   void *arg)
{
	(void)ctx;
	(void)m;
	(void)arg;
	smtp_alert(ALERT_LOW, "%s",
	           a->dir == FSM_UP ? "unexpected client command"
	                            : "unexpected server response");
}

static void
ex_fail(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct smtp *s = ctx;

	(void)m;
	(void)a;
	(void)arg;
	if (s->hooks.drop != NULL)
		s->hooks.drop(s->hooks.arg, s->flow);
}

static bool
when_up(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	(void)ctx;
	(void)m;
	(void)arg;
	return a->dir == FSM_UP;
}

/* --- definitions --------------------------------------------------------- */

static void
warn_states(const char *msg)
{
	hk_log(LOG_WARNING, "states", "%s", msg);
}

static int
build_grammar(char *err, size_t errlen)
{
	struct gnode *WS, *CRLF, *MESSAGE, *PARAM, *resp, *term_crlf, *term_lf;

	for (int v = SMTP_V_HELO; v < SMTP_V_GREETING; v++)
		verb_keys[v] = verb_key((const uint8_t *)verb_names[v],
		                        (uint32_t)strlen(verb_names[v]));
	G = grammar_new("smtp");
	if (G == NULL)
		return HK_ERR;
	WS = g_token(G, "[[:blank:]]+");
	/* Lines end with LF, after any CRs ("\r\r\n" is seen in the wild). */
	CRLF = g_token(G, "%r*%n");
	MESSAGE = g_limit(g_token(G, "[^%r%n]*"), limits.max_line);
	PARAM =
	    g_record(G, "PARAM", WS, g_field(G, "parameter", MESSAGE), NULL);
	n_command = g_record(
	    G, "smtp_command",
	    g_field(G, "command",
	            g_limit(g_token(G, "[[:alpha:]][[:alnum:]_-]*"), 64)),
	    g_default(g_branch(G, select_verb, NULL),
	              g_optional(G, PARAM, next_not_eol)),
	    CRLF, NULL);

	resp = g_record(G, "smtp_response",
	                g_field(G, "code", g_token(G, "[0-9]{3}")),
	                g_field(G, "sep", g_token(G, "[- ]?")),
	                g_optional(G,
	                           g_field(G, "parameter",
	                                   g_limit(g_token(G, "[^%r%n]*"),
	                                           limits.max_line)),
	                           has_sep),
	                g_token(G, "[%r]?[%n]"), NULL);
	n_responses = g_record(
	    G, "smtp_responses",
	    g_field(G, "responses",
	            g_limit(g_untilcond(g_array(G, resp), reply_last), 1000)),
	    NULL);

	/*
	 * DATA ends at CRLF.CRLF (RFC 5321 4.1.1.4); a client that ends its
	 * lines with LF alone gets the original's lenient terminator.
	 */
	term_crlf = g_token(G, "%r%n%.%r%n");
	term_lf = g_token(G, "%r?%n%.%r?%n");
	n_data = g_record(
	    G, "smtp_data",
	    g_branch(
	        G, select_data_variant, "crlf",
	        g_try(
	            G, g_record(G, "empty_data", g_token(G, "%.%r%n"), NULL),
	            g_record(G, "data_crlf",
	                     g_field(G, "data",
	                             g_chunked(g_untiltoken(g_limit(g_bytes(G),
	                                                            UINT32_MAX),
	                                                    "%r%n%.%r%n"),
	                                       data_chunk)),
	                     term_crlf, NULL),
	            NULL),
	        "lf",
	        g_try(
	            G,
	            g_record(G, "empty_data_lf", g_token(G, "%.%r?%n"), NULL),
	            g_record(G, "data_lf",
	                     g_field(G, "data",
	                             g_chunked(g_untiltoken(g_limit(g_bytes(G),
	                                                            UINT32_MAX),
	                                                    "%r?%n%.%r?%n"),
	                                       data_chunk)),
	                     term_lf, NULL),
	            NULL),
	        NULL),
	    NULL);
	n_bdat = g_record(
	    G, "smtp_bdat",
	    g_field(G, "data",
	            g_chunked(
	                g_count_fn(g_limit(g_bytes(G), UINT32_MAX), bdat_count),
	                bdat_chunk)),
	    NULL);
	n_auth =
	    g_record(G, "smtp_auth",
	             g_field(G, "line", g_limit(g_token(G, "[^%r%n]*"), 12288)),
	             g_token(G, "[%r]?[%n]"), NULL);
	grammar_export(G, "smtp_command", n_command);
	grammar_export(G, "smtp_responses", n_responses);
	grammar_export(G, "smtp_data", n_data);
	grammar_export(G, "smtp_bdat", n_bdat);
	grammar_export(G, "smtp_auth", n_auth);
	smtp_keys.command = grammar_key(G, "command");
	smtp_keys.parameter = grammar_key(G, "parameter");
	smtp_keys.responses = grammar_key(G, "responses");
	smtp_keys.code = grammar_key(G, "code");
	smtp_keys.sep = grammar_key(G, "sep");
	smtp_keys.line = grammar_key(G, "line");
	return grammar_compile(G, err, errlen);
}

static int
build_fsm(void)
{
	D = fsm_def_new("smtp", FSM_TYPE_BIDIRECTIONAL);
	if (D == NULL)
		return HK_ERR;
	fsm_def_set_grammar(D, G);
	S_init = fsm_state_new(D, "session_initiation", NULL, n_responses);
	S_client =
	    fsm_state_new(D, "client_initiation", n_command, n_responses);
	S_command = fsm_state_new(D, "command", n_command, n_responses);
	S_response = fsm_state_new(D, "response", n_command, n_responses);
	S_data = fsm_state_new(D, "data_transmission", n_data, n_responses);
	S_data_wait = fsm_state_new(D, "data_wait", NULL, n_responses);
	S_bdat = fsm_state_new(D, "bdat_transmission", n_bdat, n_responses);
	S_auth = fsm_state_new(D, "authentication", n_auth, n_responses);
	S_tls = fsm_state_new(D, "tls", NULL, NULL);

	/* session_initiation: the server's greeting. */
	fsm_on(D, S_init, FSM_EV_DOWN, when_220, ex_greeting, S_client, NULL);
	fsm_on(D, S_init, FSM_EV_DOWN, NULL, ex_bad_greeting, S_client, NULL);
	fsm_on(D, S_init, FSM_EV_PARSE_ERROR, NULL, ex_parse_error_reply,
	       FSM_FAIL, NULL);

	/* client_initiation: HELO or EHLO expected. */
	fsm_on(D, S_client, FSM_EV_UP, when_data, ex_command, S_data_wait,
	       NULL);
	fsm_on(D, S_client, FSM_EV_UP, when_bdat_empty, ex_command, S_response,
	       NULL);
	fsm_on(D, S_client, FSM_EV_UP, when_bdat, ex_command, S_bdat, NULL);
	fsm_on(D, S_client, FSM_EV_UP, NULL, ex_command, S_response, NULL);
	fsm_on(D, S_client, FSM_EV_DOWN, NULL, ex_unmatched, NULL, NULL);
	fsm_on(D, S_client, FSM_EV_PARSE_ERROR, when_up, ex_parse_error_command,
	       FSM_FAIL, NULL);
	fsm_on(D, S_client, FSM_EV_PARSE_ERROR, NULL, ex_parse_error_reply,
	       FSM_FAIL, NULL);

	/* command: nothing pending. */
	fsm_on(D, S_command, FSM_EV_UP, when_data, ex_command, S_data_wait,
	       NULL);
	fsm_on(D, S_command, FSM_EV_UP, when_bdat_empty, ex_command, S_response,
	       NULL);
	fsm_on(D, S_command, FSM_EV_UP, when_bdat, ex_command, S_bdat, NULL);
	fsm_on(D, S_command, FSM_EV_UP, NULL, ex_command, S_response, NULL);
	fsm_on(D, S_command, FSM_EV_DOWN, NULL, ex_unmatched, NULL, NULL);

	/* response: replies awaited; pipelined commands keep coming. */
	fsm_on(D, S_response, FSM_EV_DOWN, when_354, ex_reply, S_data, NULL);
	fsm_on(D, S_response, FSM_EV_DOWN, when_221, ex_reply, FSM_FINISH,
	       NULL);
	fsm_on(D, S_response, FSM_EV_DOWN, when_starttls, ex_reply, S_tls,
	       NULL);
	fsm_on(D, S_response, FSM_EV_DOWN, when_334, ex_reply, S_auth, NULL);
	fsm_on(D, S_response, FSM_EV_DOWN, when_last_pending, ex_reply,
	       S_command, NULL);
	fsm_on(D, S_response, FSM_EV_DOWN, NULL, ex_reply, NULL, NULL);
	fsm_on(D, S_response, FSM_EV_UP, when_data, ex_command, S_data_wait,
	       NULL);
	fsm_on(D, S_response, FSM_EV_UP, when_bdat_empty, ex_command,
	       S_response, NULL);
	fsm_on(D, S_response, FSM_EV_UP, when_bdat, ex_command, S_bdat, NULL);
	fsm_on(D, S_response, FSM_EV_UP, NULL, ex_command, NULL, NULL);

	/* data_wait: DATA sent, its reply decides what follows. */
	fsm_on(D, S_data_wait, FSM_EV_DOWN, when_354, ex_reply, S_data, NULL);
	fsm_on(D, S_data_wait, FSM_EV_DOWN, when_data_refused, ex_reply,
	       S_response, NULL);
	fsm_on(D, S_data_wait, FSM_EV_DOWN, NULL, ex_reply, NULL, NULL);
	fsm_on(D, S_data_wait, FSM_EV_MISSING_GRAMMAR, when_up, ex_hold, NULL,
	       NULL);
	fsm_on(D, S_data, FSM_EV_ENTER, when_up_held, ex_parse_held, NULL,
	       NULL);
	fsm_on(D, S_response, FSM_EV_ENTER, when_up_held, ex_parse_held, NULL,
	       NULL);

	/* data_transmission: the content, up to the end of data. */
	fsm_on(D, S_data, FSM_EV_UP, NULL, ex_end_of_data, S_response, NULL);
	fsm_on(D, S_data, FSM_EV_DOWN, NULL, ex_reply, NULL, NULL);
	fsm_on(D, S_data, FSM_EV_PARSE_ERROR, when_data_cut, ex_data_cut, NULL,
	       NULL);
	fsm_on(D, S_data, FSM_EV_PARSE_ERROR, when_up, ex_parse_error_data,
	       FSM_FAIL, NULL);

	/* bdat_transmission: a chunk of the announced size. */
	fsm_on(D, S_bdat, FSM_EV_UP, NULL, ex_bdat_done, S_response, NULL);
	fsm_on(D, S_bdat, FSM_EV_PARSE_ERROR, when_data_cut, ex_data_cut, NULL,
	       NULL);
	fsm_on(D, S_bdat, FSM_EV_DOWN, NULL, ex_reply, NULL, NULL);

	/* authentication: one line of the AUTH exchange. */
	fsm_on(D, S_auth, FSM_EV_UP, NULL, ex_auth_line, S_response, NULL);
	fsm_on(D, S_auth, FSM_EV_DOWN, NULL, ex_reply, S_command, NULL);

	/* Invalid lines after the greeting: skipped, up to a limit. */
	fsm_on(D, FSM_ANY, FSM_EV_PARSE_ERROR, when_too_many_errors,
	       ex_too_many_errors, FSM_FAIL, NULL);
	fsm_on(D, FSM_ANY, FSM_EV_PARSE_ERROR, NULL, ex_invalid, NULL, NULL);
	fsm_on(D, FSM_ANY, FSM_EV_MISSING_GRAMMAR, NULL, ex_missing_grammar,
	       FSM_FAIL, NULL);
	fsm_on(D, FSM_ANY, FSM_EV_FAIL, NULL, ex_fail, NULL, NULL);
	fsm_initial(D, S_init);
	return fsm_def_check(D, warn_states);
}

void
smtp_set_limits(const struct smtp_limits *lim)
{
	limits = *lim;
}

const struct smtp_limits *
smtp_get_limits(void)
{
	return &limits;
}

uint64_t
smtp_memory(void)
{
	return smtp_mem;
}

int
smtp_init(char *err, size_t errlen)
{
	if (G != NULL)
		return HK_OK;
	if (build_grammar(err, errlen) != HK_OK || build_fsm() != HK_OK) {
		if (err[0] == '\0')
			snprintf(err, errlen,
			         "cannot build the SMTP dissector");
		smtp_cleanup();
		return HK_ERR;
	}
	return HK_OK;
}

void
smtp_cleanup(void)
{
	if (D != NULL)
		fsm_def_free(D);
	if (G != NULL)
		grammar_free(G);
	D = NULL;
	G = NULL;
	memset(&smtp_keys, 0, sizeof(smtp_keys));
}

int
smtp_dump_graphs(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/smtp-grammar.dot", dir);
	if ((fp = fopen(path, "w")) == NULL)
		goto fail;
	grammar_dump_dot(G, fp);
	if (fclose(fp) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/smtp-state-machine.dot", dir);
	if ((fp = fopen(path, "w")) == NULL)
		goto fail;
	fsm_dump_dot(D, fp);
	if (fclose(fp) != 0)
		goto fail;
	return HK_OK;
fail:
	snprintf(err, errlen, "cannot write %s: %m", path);
	return HK_ERR;
}

/* --- the instance -------------------------------------------------------- */

void *
smtp_new(struct flow *f, const struct smtp_hooks *hooks,
         const struct hk_time *now)
{
	struct smtp *s;

	if (G == NULL || (limits.memcap != 0 && smtp_mem >= limits.memcap))
		return NULL;
	s = malloc(sizeof(*s));
	if (s == NULL)
		return NULL;
	memset(s, 0, offsetof(struct smtp, pq_inline));
	s->pq = s->pq_inline;
	s->pcap = SMTP_PENDING_INLINE;
	s->params = s->params_inline;
	s->params_cap = SMTP_PARAMS_INLINE;
	s->flow = f;
	s->hooks = *hooks;
	s->ds = DS_START;
	s->bare_lf = false;
	s->fsm = fsm_new(D, s, now);
	if (s->fsm == NULL) {
		free(s);
		return NULL;
	}
	smtp_mem += own_size(s);
	fsm_set_counter(s->fsm, &smtp_mem);
	pending_push(s, SMTP_V_GREETING, NULL);
	return s;
}

static void
smtp_free(void *inst)
{
	struct smtp *s = inst;

	if (s == NULL)
		return;
	smtp_mem -= own_size(s);
	fsm_free(s->fsm);
	if (s->pq != s->pq_inline)
		free(s->pq);
	if (s->params != s->params_inline)
		free(s->params);
	free(s->buf);
	free(s->txn.rcpt);
	free(s);
}

const struct smtp_txn *
smtp_txn(const void *inst)
{
	return &((const struct smtp *)inst)->txn;
}

const char *
smtp_state(const void *inst)
{
	const struct smtp *s = inst;

	return fsm_finished(s->fsm) ? "finish" : fsm_current_name(s->fsm);
}

void
smtp_set_hooks_arg(void *inst, void *arg)
{
	((struct smtp *)inst)->hooks.arg = arg;
}

void *
smtp_of_flow(const struct flow *f)
{
	return f->app_ops == &smtp_dissector ? f->app : NULL;
}

static const uint8_t *
input_span(void *ctx, uint64_t off, size_t *len)
{
	struct smtp *s = ctx;

	return stream_span(s->st, off, len, &s->hint);
}

/* Find the end of the line the parse error is in: the resync point. */
static bool
resync_point(struct smtp *s, uint64_t from, uint64_t end, uint64_t *out)
{
	uint64_t off = from;
	const uint8_t *p, *q;
	size_t len;

	while (off < end && (p = stream_span(s->st, off, &len, &s->hint))) {
		if (len > end - off)
			len = (size_t)(end - off);
		q = memchr(p, '\n', len);
		if (q != NULL) {
			*out = off + (uint64_t)(q - p) + 1;
			return true;
		}
		off += len;
	}
	return false;
}

/* The client's line endings decide the session's end-of-data form. */
static void
learn_line_endings(struct smtp *s, uint64_t end)
{
	const uint8_t *p;
	size_t len;

	if (s->line_seen || end == 0)
		return;
	p = stream_span(s->st, end - 1, &len, &s->hint);
	if (p == NULL || p[0] != '\n')
		return;
	s->line_seen = true;
	if (end >= 2) {
		p = stream_span(s->st, end - 2, &len, &s->hint);
		s->bare_lf = p != NULL && p[0] != '\r';
	}
}

/* Parse what direction dir has up to end; *keep: the bytes still needed. */
static void
parse_dir(struct smtp *s, struct flow *f, int dir, uint64_t end, bool finished,
          uint64_t *keep)
{
	struct ginput in;
	uint64_t from;
	int guard;

	s->st = &f->dir[dir];
	s->hint = NULL;
	*keep = end;
	in.span = input_span;
	in.ctx = s;
	in.end = end;
	in.eof = finished;
	for (guard = 0; guard < 4096; guard++) {
		if (s->resync[dir]) {
			uint64_t at;

			from = s->resync_off[dir] > s->st->consumed
			           ? s->resync_off[dir]
			           : s->st->consumed;
			if (!resync_point(s, from, end, &at)) {
				/* Wait for the end of the line (bounded). */
				if (end - from < limits.max_line && !finished)
					*keep = from;
				return;
			}
			s->resync[dir] = false;
			fsm_resync(s->fsm, dir, at);
		}
		if (fsm_update(s->fsm, dir, &in, keep) != HK_OK) {
			*keep = end;
			return;
		}
		if (dir == FLOW_UP)
			learn_line_endings(s, *keep);
		if (fsm_current(s->fsm) == S_tls) {
			*keep = end;
			return;
		}
		if (!s->resync[dir])
			break;
	}
}

static int
smtp_receive(void *inst, struct flow *f, int dir, uint64_t end, bool finished,
             uint64_t *keep)
{
	struct smtp *s = inst;
	uint64_t k;

	*keep = end;
	if (s->closed || fsm_finished(s->fsm)) {
		if (end > f->dir[dir].consumed && !s->txn.tls)
			anomaly(s, ANOM_SMTP_DATA_AFTER_CLOSE);
		return HK_OK;
	}
	if (fsm_current(s->fsm) == S_tls)
		return HK_OK; /* encrypted: metadata only */
	s->content = s->hooks.want_content != NULL &&
	             s->hooks.want_content(s->hooks.arg);
	s->up_eof = finished && dir == FLOW_UP;
	parse_dir(s, f, dir, end, finished, keep);
	s->up_eof = false;
	if (dir == FLOW_DOWN && s->up_held && !fsm_finished(s->fsm) &&
	    fsm_current(s->fsm) != S_data_wait) {
		/*
		 * DATA's reply came: the client bytes held meanwhile are
		 * parsed now (content after 354, commands otherwise). They
		 * are released with the next client bytes.
		 */
		struct stream *up = &f->dir[FLOW_UP];

		s->up_held = false;
		parse_dir(s, f, FLOW_UP, stream_contig_end(up, up->consumed),
		          false, &k);
	}
	return HK_OK;
}

/* Bytes were lost: the parse of that direction starts again after them. */
static void
smtp_gap(void *inst, struct flow *f, int dir, uint64_t off, uint64_t len)
{
	struct smtp *s = inst;

	(void)f;
	if (s->closed || fsm_finished(s->fsm))
		return;
	anomaly(s, ANOM_SMTP_GAP);
	s->resync[dir] = false;
	if (dir == FLOW_UP && fsm_current(s->fsm) == S_bdat &&
	    s->bdat_start + s->bdat_size > off + len) {
		/* The chunk goes on after the hole, for what is left of it. */
		s->bdat_left = s->bdat_start + s->bdat_size - (off + len);
		s->bdat_start = off + len;
		s->bdat_size = s->bdat_left;
	} else if (dir == FLOW_UP && fsm_current(s->fsm) == S_bdat) {
		/* The chunk ended in the hole: commands follow it. */
		s->bdat_left = 0;
		if (s->bdat_last)
			content_piece(s, (const uint8_t *)"", 0, true, false);
		fsm_jump(s->fsm, S_response);
		fsm_resync(s->fsm, dir, off + len);
		return;
	}
	fsm_resync(s->fsm, dir, off + len);
}

static void
smtp_end(void *inst, struct flow *f)
{
	struct smtp *s = inst;

	(void)f;
	if ((s->txn.in_data && fsm_current(s->fsm) == S_data) ||
	    fsm_current(s->fsm) == S_bdat || s->buflen > 0) {
		/* The connection ended inside a mail: the content stops here.
		 */
		anomaly(s, ANOM_SMTP_TRUNCATED);
		content_flush(s, true);
	}
}

const struct app_dissector smtp_dissector = {
    .name = "smtp",
    .receive = smtp_receive,
    .gap = smtp_gap,
    .end = smtp_end,
    .free = smtp_free,
};
