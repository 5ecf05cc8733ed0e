/*
 * Unit tests for src/grammar (include/haka/grammar.h): every combinator
 * and option, the SMTP-like grammar of HAKA.md (f) with the original's
 * exact error texts, limits, DOT output, debug logging, and the
 * simple-token matcher against PCRE2.
 *
 * "Test every split" (CONVENTIONS.md section 7): each input is fed whole,
 * one byte at a time, cut at every position into two chunks, and in
 * random chunks; every chunk lives in its own exactly sized malloc, and
 * chunks wholly below gparser_pin() are freed as soon as a run returns,
 * so a read below the pin is caught (by ASan or by the span callback).
 * The results (printed as text), the errors and the pieces handed to
 * chunked callbacks must be identical for every split, and for a valid
 * element every strict prefix must give HK_AGAIN.
 *
 * The last test streams a 10 MB DATA body through
 * bytes():untiltoken():chunked() and prints the scan throughput.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <haka/grammar.h>
#include <haka/log.h>

#include "grammar/grammar_priv.h"
#include "unittest.h"

/* --- chunked input ------------------------------------------------- */

struct tin {
	uint8_t **chunk; /* NULL once released */
	size_t *len;
	uint64_t *off;
	size_t n;
	size_t avail;   /* chunks visible to the parser */
	size_t freed;   /* chunks [0, freed) released */
	bool violation; /* a span below the pin was asked for */
};

static const uint8_t *
tin_span(void *ctx, uint64_t off, size_t *len)
{
	struct tin *t = ctx;
	size_t lo = 0, hi = t->avail, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (t->off[mid] + t->len[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= t->avail || off < t->off[lo])
		return NULL;
	if (t->chunk[lo] == NULL) {
		t->violation = true;
		return NULL;
	}
	*len = t->len[lo] - (size_t)(off - t->off[lo]);
	return t->chunk[lo] + (off - t->off[lo]);
}

/* Split data into chunks of the given sizes (the last takes the rest). */
static void
tin_init(struct tin *t, const void *data, size_t size, const size_t *sizes,
         size_t nsizes)
{
	size_t i, off = 0, n;

	memset(t, 0, sizeof(*t));
	t->chunk = calloc(nsizes + 1, sizeof(*t->chunk));
	t->len = calloc(nsizes + 1, sizeof(*t->len));
	t->off = calloc(nsizes + 1, sizeof(*t->off));
	for (i = 0; i < nsizes && off < size; i++) {
		n = sizes[i];
		if (n > size - off || i == nsizes - 1)
			n = size - off;
		if (n == 0)
			continue;
		t->chunk[t->n] = malloc(n);
		memcpy(t->chunk[t->n], (const uint8_t *)data + off, n);
		t->len[t->n] = n;
		t->off[t->n] = off;
		t->n++;
		off += n;
	}
}

static void
tin_free(struct tin *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->chunk[i]);
	free(t->chunk);
	free(t->len);
	free(t->off);
}

static uint64_t
tin_end(const struct tin *t)
{
	return t->avail == 0 ? 0 : t->off[t->avail - 1] + t->len[t->avail - 1];
}

/* Release the chunks the parser no longer needs. */
static void
tin_release(struct tin *t, uint64_t pin)
{
	while (t->freed < t->avail &&
	       t->off[t->freed] + t->len[t->freed] <= pin) {
		free(t->chunk[t->freed]);
		t->chunk[t->freed] = NULL;
		t->freed++;
	}
}

/* --- what callbacks record ----------------------------------------- */

struct tuser {
	char verb[16];
	uint8_t *data; /* chunked pieces, concatenated */
	size_t dlen, dcap;
	uint64_t next_off; /* where the next piece must start */
	int pieces, lasts;
	bool bad_piece; /* not contiguous, or after the last */
	int la_asks;    /* lookahead answered -2 */
	int execs;
};

static void
tuser_clear(struct tuser *u)
{
	free(u->data);
	memset(u, 0, sizeof(*u));
}

static void
on_chunk(struct gctx *ctx, const uint8_t *p, size_t len, uint64_t off,
         bool last)
{
	struct tuser *u = ctx->user;

	if (u->lasts > 0 || (u->pieces + u->lasts > 0 && off != u->next_off))
		u->bad_piece = true;
	if (u->pieces + u->lasts == 0)
		u->next_off = off;
	if (off != u->next_off)
		u->bad_piece = true;
	if (u->dlen + len > u->dcap) {
		u->dcap = (u->dlen + len) * 2 + 64;
		u->data = realloc(u->data, u->dcap);
	}
	if (len > 0)
		memcpy(u->data + u->dlen, p, len);
	u->dlen += len;
	u->next_off = off + len;
	if (last)
		u->lasts++;
	else
		u->pieces++;
}

/* --- results as text ----------------------------------------------- */

struct sbuf {
	char *s;
	size_t len, cap;
};

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void
sb_bytes(struct sbuf *b, const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
			sb_printf(b, "%c", s[i]);
		else
			sb_printf(b, "\\x%02x", s[i]);
	}
}

static void
dump(struct sbuf *b, const struct gresult *r)
{
	const struct gresult *c;

	if (r->name != NULL)
		sb_printf(b, "%s=", r->name);
	switch (r->type) {
	case GV_STRING:
		sb_printf(b, "\"");
		sb_bytes(b, r->s, r->len);
		sb_printf(b, "\"");
		break;
	case GV_BYTES:
		if (r->s != NULL) {
			sb_printf(b, "b\"");
			sb_bytes(b, r->s, r->len);
			sb_printf(b, "\"");
		} else
			sb_printf(b, "bytes(%u)", r->len);
		break;
	case GV_NUMBER:
		sb_printf(b, "%lld", (long long)r->num);
		break;
	case GV_BOOL:
		sb_printf(b, "%s", r->num ? "true" : "false");
		break;
	case GV_RECORD:
	case GV_ARRAY:
		sb_printf(b, r->type == GV_RECORD ? "{" : "[");
		for (c = r->first; c != NULL; c = c->next) {
			if (c->parent != r)
				sb_printf(b, "!parent!");
			dump(b, c);
			if (c->next != NULL)
				sb_printf(b, ",");
		}
		sb_printf(b, r->type == GV_RECORD ? "}" : "]");
		break;
	default:
		sb_printf(b, "none");
	}
	if (r->type != GV_RECORD ||
	    (r->parent != NULL && r->parent->type == GV_ARRAY))
		sb_printf(b, "@%llu-%llu", (unsigned long long)r->off,
		          (unsigned long long)r->end);
}

/* --- feeding ------------------------------------------------------- */

/*
 * Parse one element of data split into the given chunk sizes. Returns
 * the outcome as text ("OK <result> off=N" or "ERR <error>", plus the
 * chunked pieces); *early is set when the parse ended before the last
 * chunk was given.
 */
static char *
parse_split(struct gparser *p, struct tuser *u, const void *data, size_t size,
            const size_t *sizes, size_t nsizes, bool *early, bool *pin_ok)
{
	struct ginput in;
	struct tin t;
	struct sbuf b = {0};
	char ebuf[400];
	int rc = HK_AGAIN;
	uint64_t pin, last_pin = 0;

	tuser_clear(u);
	tin_init(&t, data, size, sizes, nsizes);
	gparser_reset(p, 0);
	*early = false;
	*pin_ok = true;
	in.span = tin_span;
	in.ctx = &t;
	in.eof = false;
	if (!gparser_idle(p))
		*pin_ok = false;
	for (t.avail = t.n == 0 ? 0 : 1; t.avail <= t.n; t.avail++) {
		in.end = tin_end(&t);
		rc = gparser_run(p, &in);
		if (rc != HK_AGAIN) {
			if (t.avail < t.n)
				*early = true;
			break;
		}
		pin = gparser_pin(p);
		if (pin < last_pin || pin > in.end)
			*pin_ok = false;
		last_pin = pin;
		tin_release(&t, pin);
		if (t.n == 0)
			break;
	}
	if (t.avail > t.n)
		t.avail = t.n;
	if (rc == HK_AGAIN) {
		in.end = tin_end(&t);
		in.eof = true;
		rc = gparser_run(p, &in);
	}
	if (t.violation)
		*pin_ok = false;
	if (rc == HK_OK) {
		sb_printf(&b, "OK ");
		dump(&b, gparser_result(p));
		sb_printf(&b, " off=%llu",
		          (unsigned long long)gparser_offset(p));
	} else if (rc == HK_ERR)
		sb_printf(
		    &b, "ERR %s",
		    gparse_error_str(gparser_error(p), ebuf, sizeof(ebuf)));
	else
		sb_printf(&b, "AGAIN?");
	if (u->pieces + u->lasts > 0) {
		sb_printf(&b, " chunked(%d last, %s) \"", u->lasts,
		          u->bad_piece ? "BAD" : "ok");
		sb_bytes(&b, u->data, u->dlen);
		sb_printf(&b, "\"");
	}
	tin_free(&t);
	return b.s;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * The outcome of data fed whole, which must equal 'expect' (a prefix
 * match when expect ends with '*', NULL: anything) and be the same for
 * every split. Returns false after printing the first difference.
 */
static bool
check_splits(struct gparser *p, struct tuser *u, const void *data, size_t size,
             const char *expect)
{
	size_t *sizes, i, k, n;
	char *whole, *o;
	bool early, pin_ok, ok = true;

	sizes = calloc(size + 2, sizeof(*sizes));
	sizes[0] = size;
	whole = parse_split(p, u, data, size, sizes, 1, &early, &pin_ok);
	if (expect != NULL &&
	    (expect[strlen(expect) - 1] == '*'
	         ? strncmp(whole, expect, strlen(expect) - 1) != 0
	         : strcmp(whole, expect) != 0)) {
		fprintf(stderr, "  input \"%.*s\"\n  got    %s\n  expect %s\n",
		        (int)size, (const char *)data, whole, expect);
		ok = false;
	}
	/* byte per byte, then every cut in two, then random chunks */
	for (k = 0; ok && k < size + 24; k++) {
		if (k == 0) {
			for (i = 0; i < size; i++)
				sizes[i] = 1;
			n = size;
		} else if (k <= size) {
			sizes[0] = k;
			sizes[1] = size;
			n = 2;
			if (k == size)
				continue;
		} else {
			for (n = 0, i = 0; i < size; n++) {
				sizes[n] = 1 + rng() % (size / 3 + 1);
				i += sizes[n];
			}
		}
		o = parse_split(p, u, data, size, sizes, n, &early, &pin_ok);
		if (strcmp(o, whole) != 0 || !pin_ok) {
			fprintf(stderr,
			        "  input \"%.*s\" split %zu (%zu chunks)%s%s\n"
			        "  whole %s\n  split %s\n",
			        (int)size, (const char *)data, k, n,
			        pin_ok ? "" : " PIN VIOLATION",
			        early ? " EARLY" : "", whole, o);
			ok = false;
		}
		free(o);
	}
	free(whole);
	free(sizes);
	return ok;
}

#define CHECK(p, u, str, expect)                                               \
	FAIL_IF_NOT(check_splits((p), (u), (str), strlen(str), (expect)))

static struct grammar *
compiled(struct grammar *g)
{
	char err[256];

	if (grammar_compile(g, err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "  compile: %s\n", err);
		return NULL;
	}
	return g;
}

/* --- the SMTP-like grammar of HAKA.md (f) --------------------------- */

static const char *
sel_upper_verb(const struct gresult *rec, struct gctx *ctx)
{
	struct tuser *u = ctx->user;
	const struct gresult *c = gresult_get(rec, "command");
	size_t i;

	if (c == NULL || c->len >= sizeof(u->verb))
		return NULL;
	for (i = 0; i < c->len; i++)
		u->verb[i] =
		    (char)(c->s[i] >= 'a' && c->s[i] <= 'z' ? c->s[i] - 32
		                                            : c->s[i]);
	u->verb[i] = '\0';
	return u->verb;
}

/* The original's harness: exact, case-sensitive verb. */
static const char *
sel_exact_verb(const struct gresult *rec, struct gctx *ctx)
{
	const struct gresult *c = gresult_get(rec, "command");

	return c != NULL ? (const char *)c->s : NULL;
}

static bool
not_crlf(const struct gresult *rec, struct gctx *ctx)
{
	struct tuser *u = ctx->user;
	int c = gctx_lookahead(ctx);

	if (c == -2)
		u->la_asks++;
	return c >= 0 && c != '\r' && c != '\n';
}

static bool
resp_last(const struct gresult *prev, struct gctx *ctx)
{
	const struct gresult *sep = gresult_get(prev, "sep");

	return sep != NULL && sep->s[0] == ' ';
}

/*
 * exact: the original's test harness (rules cmd, PARAM, resp, data; verb
 * table HELO, DATA, HELP only). Otherwise the intended SMTP grammar.
 */
static struct grammar *
smtp_grammar(bool exact)
{
	struct grammar *g = grammar_new("smtp");
	struct gnode *param, *crlf, *cmd, *resp, *resps, *data, *opt;

	param = g_record(g, "PARAM", g_token(g, "[[:blank:]]+"),
	                 g_field(g, "parameter", g_token(g, "[^%r%n]*")), NULL);
	crlf = g_token(g, "[%r]?[%n]");
	opt = g_optional(g, param, not_crlf);
	if (exact)
		cmd = g_record(
		    g, "cmd", g_field(g, "command", g_token(g, "[[:alpha:]]+")),
		    g_branch(g, sel_exact_verb, "HELO", param, "DATA",
		             g_empty(g), "HELP", opt, NULL),
		    crlf, NULL);
	else
		cmd = g_record(
		    g, "smtp_command",
		    g_field(g, "command", g_token(g, "[[:alpha:]]+")),
		    g_default(g_branch(g, sel_upper_verb, "HELO", param, "EHLO",
		                       param, "MAIL", param, "RCPT", param,
		                       "DATA", g_empty(g), "QUIT", g_empty(g),
		                       "RSET", g_empty(g), "HELP", opt, "NOOP",
		                       opt, NULL),
		              opt),
		    crlf, NULL);
	resp = g_record(g, exact ? "resp" : "smtp_response",
	                g_field(g, "code", g_token(g, "[0-9]{3}")),
	                g_field(g, "sep", g_token(g, "[- ]")),
	                g_field(g, "parameter", g_token(g, "[^%r%n]*")),
	                g_token(g, "[%r]?[%n]"), NULL);
	resps =
	    g_field(g, "responses", g_untilcond(g_array(g, resp), resp_last));
	data =
	    g_record(g, exact ? "data" : "smtp_data",
	             g_field(g, "data",
	                     g_chunked(g_untiltoken(g_bytes(g), "%r?%n%.%r?%n"),
	                               on_chunk)),
	             g_token(g, "%r?%n%.%r?%n"), NULL);
	grammar_export(g, "smtp_command", cmd);
	grammar_export(g, "smtp_responses", resps);
	grammar_export(g, "smtp_data", data);
	return compiled(g);
}

static void
test_smtp_original_texts(void)
{
	struct grammar *g = smtp_grammar(true);
	struct gparser *cmd, *resps, *data;
	struct tuser u = {0};

	FAIL_IF(g == NULL);
	cmd = gparser_new(g, grammar_get(g, "smtp_command"), &u);
	resps = gparser_new(g, grammar_get(g, "smtp_responses"), &u);
	data = gparser_new(g, grammar_get(g, "smtp_data"), &u);
	FAIL_IF(cmd == NULL || resps == NULL || data == NULL);
	CHECK(cmd, &u, "HELO foo\r\n",
	      "OK {command=\"HELO\"@0-4,parameter=\"foo\"@5-8} off=10");
	CHECK(cmd, &u, "helo foo\r\n",
	      "ERR parse error at byte 4 for field cmd in <unknown>: invalid "
	      "case");
	CHECK(cmd, &u, "RSET\r\n",
	      "ERR parse error at byte 4 for field cmd in <unknown>: invalid "
	      "case");
	CHECK(cmd, &u, "HELP\r\n", "OK {command=\"HELP\"@0-4} off=6");
	CHECK(cmd, &u, "HELP me\n",
	      "OK {command=\"HELP\"@0-4,parameter=\"me\"@5-7} off=8");
	CHECK(cmd, &u, "DATA\n", "OK {command=\"DATA\"@0-4} off=5");
	CHECK(cmd, &u, "DATA x\n",
	      "ERR parse error at byte 4 for field 3 in cmd: token /[%r]?[%n]/ "
	      "doesn't match");
	CHECK(cmd, &u, "HELO\r\n",
	      "ERR parse error at byte 4 for field 1 in PARAM: token "
	      "/[[:blank:]]+/ doesn't match");
	CHECK(
	    resps, &u, "250-a\r\n250-b\r\n250 c\r\n",
	    "OK {responses=[{code=\"250\"@0-3,sep=\"-\"@3-4,parameter=\"a\"@4-"
	    "5}@0-7,{code=\"250\"@7-10,sep=\"-\"@10-11,parameter=\"b\"@11-12}@"
	    "7-14,{code=\"250\"@14-17,sep=\" \"@17-18,parameter=\"c\"@18-19}@"
	    "14-21]@0-21} off=21");
	CHECK(resps, &u, "2500 x\r\n",
	      "ERR parse error at byte 3 for field 2 in resp: token /[- ]/ "
	      "doesn't match");
	CHECK(data, &u, "line1\r\nline2\r\n.\r\n",
	      "OK {data=bytes(12)@0-12} off=17 chunked(1 last, ok) "
	      "\"line1\\x0d\\x0aline2\"");
	CHECK(data, &u, "no terminator",
	      "ERR parse error at byte 13 for field 2 in data: token "
	      "/%r?%n%.%r?%n/ doesn't match chunked(1 last, ok) \"no "
	      "terminator\"");
	gparser_free(cmd);
	gparser_free(resps);
	gparser_free(data);
	grammar_free(g);
	tuser_clear(&u);
}

static void
test_smtp_commands(void)
{
	struct grammar *g = smtp_grammar(false);
	struct gparser *cmd;
	struct tuser u = {0};
	const struct gresult *r;
	struct ginput in;
	struct tin t;
	const char *pipe = "HELO a\r\nmail FROM:<x@y>\r\nQUIT\r\n";
	size_t sz = strlen(pipe);
	const char *verbs[] = {"HELO", "MAIL", "QUIT"};
	int i;

	FAIL_IF(g == NULL);
	cmd = gparser_new(g, grammar_get(g, "smtp_command"), &u);
	FAIL_IF(cmd == NULL);
	CHECK(cmd, &u, "MAIL FROM: hacker@suspicious.org\r\n",
	      "OK {command=\"MAIL\"@0-4,parameter=\"FROM: "
	      "hacker@suspicious.org\"@5-32} off=34");
	CHECK(cmd, &u, "helo foo\r\n",
	      "OK {command=\"helo\"@0-4,parameter=\"foo\"@5-8} off=10");
	CHECK(cmd, &u, "RSET\r\n", "OK {command=\"RSET\"@0-4} off=6");
	CHECK(cmd, &u, "QUIT\n", "OK {command=\"QUIT\"@0-4} off=5");
	CHECK(cmd, &u, "NOOP\r\n", "OK {command=\"NOOP\"@0-4} off=6");
	CHECK(cmd, &u, "noop  x y\r\n",
	      "OK {command=\"noop\"@0-4,parameter=\"x y\"@6-9} off=11");
	CHECK(cmd, &u, "STARTTLS\r\n", "OK {command=\"STARTTLS\"@0-8} off=10");
	CHECK(cmd, &u, "VRFY bob\r\n",
	      "OK {command=\"VRFY\"@0-4,parameter=\"bob\"@5-8} off=10");
	CHECK(cmd, &u, "EHLO\tx\r\n",
	      "OK {command=\"EHLO\"@0-4,parameter=\"x\"@5-6} off=8");
	CHECK(cmd, &u, "EHLO \r\n",
	      "OK {command=\"EHLO\"@0-4,parameter=\"\"@5-5} off=7");
	CHECK(cmd, &u, "RCPT\r\n",
	      "ERR parse error at byte 4 for field 1 in PARAM: token "
	      "/[[:blank:]]+/ doesn't match");
	CHECK(cmd, &u, "QUIT now\r\n",
	      "ERR parse error at byte 4 for field 3 in smtp_command: token "
	      "/[%r]?[%n]/ doesn't match");
	CHECK(cmd, &u, "\r\n",
	      "ERR parse error at byte 0 for field 1 in smtp_command: token "
	      "/[[:alpha:]]+/ doesn't match");
	CHECK(cmd, &u, "",
	      "ERR parse error at byte 0 for field 1 in "
	      "smtp_command: token /[[:alpha:]]+/ doesn't match");
	CHECK(cmd, &u, "HELO foo\r\r\n",
	      "ERR parse error at byte 8 for field 3 in smtp_command: token "
	      "/[%r]?[%n]/ doesn't match");

	/* the predicate of HELP's optional must wait for its byte */
	u.la_asks = 0;
	{
		size_t one[] = {4, 2};
		bool early, pin_ok;
		char *o = parse_split(cmd, &u, "HELP\r\n", 6, one, 2, &early,
		                      &pin_ok);

		FAIL_IF_NOT(strcmp(o, "OK {command=\"HELP\"@0-4} off=6") == 0);
		free(o);
	}

	/* pipelined commands in one buffer, parsed one after the other */
	size_t sizes[] = {3, 9, 1, 20};
	tin_init(&t, pipe, sz, sizes, 4);
	in.span = tin_span;
	in.ctx = &t;
	t.avail = t.n;
	in.end = sz;
	in.eof = false;
	gparser_reset(cmd, 0);
	for (i = 0; i < 3; i++) {
		FAIL_IF_NOT(gparser_run(cmd, &in) == HK_OK);
		r = gresult_get(gparser_result(cmd), "command");
		FAIL_IF(r == NULL);
		FAIL_IF_NOT(strcasecmp((const char *)r->s, verbs[i]) == 0);
		gparser_reset(cmd, gparser_offset(cmd));
		FAIL_IF_NOT(gparser_idle(cmd));
	}
	FAIL_IF_NOT(gparser_offset(cmd) == sz);
	FAIL_IF_NOT(gparser_run(cmd, &in) == HK_AGAIN);
	FAIL_IF_NOT(gparser_idle(cmd));
	in.eof = true;
	FAIL_IF_NOT(gparser_run(cmd, &in) == HK_ERR);
	tin_free(&t);
	gparser_free(cmd);
	grammar_free(g);
	tuser_clear(&u);
}

static void
test_smtp_responses_data(void)
{
	struct grammar *g = smtp_grammar(false);
	struct gparser *resps, *data;
	struct tuser u = {0};

	FAIL_IF(g == NULL);
	resps = gparser_new(g, grammar_get(g, "smtp_responses"), &u);
	data = gparser_new(g, grammar_get(g, "smtp_data"), &u);
	FAIL_IF(resps == NULL || data == NULL);
	CHECK(
	    resps, &u, "220 ok\n",
	    "OK {responses=[{code=\"220\"@0-3,sep=\" \"@3-4,parameter=\"ok\"@4-"
	    "6}@0-7]@0-7} off=7");
	CHECK(resps, &u, "250-x\r\n251-y\n",
	      "ERR parse error at byte 13 for field 1 in smtp_response: token "
	      "/[0-9]{3}/ doesn't match");
	CHECK(resps, &u, "25 x\r\n",
	      "ERR parse error at byte 0 for field 1 in smtp_response: token "
	      "/[0-9]{3}/ doesn't match");
	CHECK(
	    data, &u, ".\r\n",
	    "ERR parse error at byte 3 for field 2 in smtp_data: token "
	    "/%r?%n%.%r?%n/ doesn't match chunked(1 last, ok) \".\\x0d\\x0a\"");
	CHECK(data, &u, "\r\n.\r\n",
	      "OK {data=bytes(0)@0-0} off=5 chunked(1 last, ok) \"\"");
	CHECK(data, &u, "\n.\n",
	      "OK {data=bytes(0)@0-0} off=3 chunked(1 last, "
	      "ok) \"\"");
	CHECK(data, &u, "a\r\n..\r\nb\r.\r\nc\n.\r\nd",
	      "OK {data=bytes(13)@0-13} off=17 chunked(1 last, ok) "
	      "\"a\\x0d\\x0a..\\x0d\\x0ab\\x0d.\\x0d\\x0ac\"");
	CHECK(data, &u, "x\r\r\n.\r\n",
	      "OK {data=bytes(2)@0-2} off=7 chunked(1 last, ok) \"x\\x0d\"");
	gparser_free(resps);
	gparser_free(data);
	grammar_free(g);
	tuser_clear(&u);
}

/* --- combinators ---------------------------------------------------- */

static void
test_record_sequence_field(void)
{
	struct grammar *g = grammar_new("t");
	struct gnode *root;
	struct gparser *p;
	struct tuser u = {0};
	const struct gresult *r, *d;

	root = g_record(
	    g, "R", g_field(g, "a", g_token(g, "[a-z]+")),
	    g_sequence(g, g_token(g, ":"),
	               g_field(g, "b", g_token(g, "[0-9]+")), NULL),
	    g_record(g, "inner", g_field(g, "c", g_token(g, "x")), NULL),
	    g_field(g, "d",
	            g_record(g, "S", g_field(g, "e", g_token(g, "y")), NULL)),
	    g_token(g, ";"), NULL);
	grammar_export(g, "root", root);
	FAIL_IF(compiled(g) == NULL);
	p = gparser_new(g, root, &u);
	FAIL_IF(p == NULL);
	CHECK(
	    p, &u, "abc:12xy;",
	    "OK {a=\"abc\"@0-3,b=\"12\"@4-6,c=\"x\"@6-7,d={e=\"y\"@7-8}} off=9");
	CHECK(p, &u, "abc:12xz;",
	      "ERR parse error at byte 7 for field 1 in S: token /y/ doesn't "
	      "match");
	CHECK(p, &u, "abc12",
	      "ERR parse error at byte 3 for field 1 in <unknown>: token /:/ "
	      "doesn't match");
	CHECK(p, &u, "abc:12xy",
	      "ERR parse error at byte 8 for field 5 in R: token /;/ doesn't "
	      "match");
	/* the accessors */
	{
		bool early, pin_ok;
		size_t one[] = {9};
		char *o =
		    parse_split(p, &u, "abc:12xy;", 9, one, 1, &early, &pin_ok);

		free(o);
	}
	r = gparser_result(p);
	FAIL_IF(r == NULL || r->type != GV_RECORD || r->count != 4);
	FAIL_IF_NOT(strcmp((const char *)gresult_get(r, "b")->s, "12") == 0);
	d = gresult_get(r, "d");
	FAIL_IF(d == NULL || d->type != GV_RECORD || d->parent != r);
	FAIL_IF_NOT(d->off == 7 && d->end == 8);
	FAIL_IF_NOT(gresult_get(r, "zz") == NULL);
	FAIL_IF_NOT(gresult_get(d, "e")->s[1] == '\0');
	FAIL_IF_NOT(r->off == 0 && r->end == 9);
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

/*
 * grammar_key and gresult_field: every field of a name carries the
 * grammar's one copy of it, whichever path parsed the element (whole:
 * the fast path; split: the frame machine), and a lookup by key is a
 * comparison of pointers (a key of another grammar finds nothing).
 */
static void
test_field_keys(void)
{
	struct grammar *g = grammar_new("t"), *g2 = grammar_new("t2");
	struct gnode *root;
	struct gparser *p;
	struct tuser u = {0};
	const struct gresult *r, *in;
	const char *ka, *kb;
	size_t whole[] = {6}, split[] = {2, 4};
	size_t *cuts[] = {whole, split};
	size_t ncuts[] = {1, 2};
	int i;

	root = g_record(
	    g, "R", g_field(g, "a", g_token(g, "[a-z]+")), g_token(g, ":"),
	    g_field(
	        g, "b",
	        g_record(g, "S", g_field(g, "a", g_token(g, "[0-9]+")), NULL)),
	    g_token(g, ";"), NULL);
	grammar_export(g, "root", root);
	ka = grammar_key(g, "a");
	kb = grammar_key(g, "b");
	FAIL_IF(ka == NULL || kb == NULL || ka == kb);
	FAIL_IF_NOT(grammar_key(g, "a") == ka && strcmp(ka, "a") == 0);
	FAIL_IF(g2 == NULL || grammar_key(g2, "a") == ka);
	FAIL_IF(compiled(g) == NULL);
	p = gparser_new(g, root, &u);
	FAIL_IF(p == NULL);
	for (i = 0; i < 2; i++) {
		bool early, pin_ok;
		char *o = parse_split(p, &u, "ab:12;", 6, cuts[i], ncuts[i],
		                      &early, &pin_ok);

		FAIL_IF_NOT(strcmp(o, "OK {a=\"ab\"@0-2,b={a=\"12\"@3-5}} "
		                      "off=6") == 0);
		free(o);
		r = gparser_result(p);
		FAIL_IF(r == NULL);
		FAIL_IF_NOT(
		    gresult_field(r, ka) != NULL &&
		    gresult_field(r, ka)->name == ka &&
		    strcmp((const char *)gresult_field(r, ka)->s, "ab") == 0);
		in = gresult_field(r, kb);
		FAIL_IF(in == NULL || in->name != kb);
		FAIL_IF_NOT(
		    gresult_field(in, ka) != NULL &&
		    strcmp((const char *)gresult_field(in, ka)->s, "12") == 0);
		FAIL_IF_NOT(gresult_field(r, grammar_key(g2, "a")) == NULL);
		FAIL_IF_NOT(gresult_field(r, grammar_key(g, "zz")) == NULL);
		FAIL_IF_NOT(gresult_field(NULL, ka) == NULL);
	}
	gparser_free(p);
	grammar_free(g);
	grammar_free(g2);
	tuser_clear(&u);
}

/*
 * gparser_set_counter: the parser's bytes are added, follow the result
 * arena as it grows with an element and shrinks at the next one, and are
 * taken back by gparser_free (the SMTP memcap relies on it). Parsed over
 * 'sizes' (nsizes chunks), n bytes of 'a' then ';' for the token re, up
 * to 'limit' bytes; with 'scratch' the token is matched over the
 * parser's flattened copy (a PCRE token split across chunks), which is
 * counted too and stays after the element.
 */
static bool
memory_counter(const char *re, uint32_t limit, size_t n, const size_t *sizes,
               size_t nsizes, bool scratch)
{
	struct grammar *g = grammar_new("t");
	struct gnode *root;
	struct gparser *p = NULL;
	struct tuser u = {0};
	uint64_t ctr = 0, idle;
	char *text = malloc(n + 2), *o;
	bool early, pin_ok, ok = false;

	if (text == NULL)
		goto out;
	memset(text, 'a', n);
	memcpy(text + n, ";", 2);
	root = g_record(g, "R", g_field(g, "x", g_limit(g_token(g, re), limit)),
	                g_token(g, ";"), NULL);
	grammar_export(g, "root", root);
	if (compiled(g) == NULL || (p = gparser_new(g, root, &u)) == NULL)
		goto out;
	gparser_set_counter(p, &ctr);
	idle = ctr;
	o = parse_split(p, &u, text, n + 1, sizes, nsizes, &early, &pin_ok);
	ok = strncmp(o, "OK {x=", 6) == 0 && idle > sizeof(struct gresult);
	free(o);
	/* the n-byte value is in the arena while the result lives */
	ok = ok && gparser_result(p) != NULL && ctr > idle + n;
	gparser_reset(p, 0);
	ok = ok && (scratch ? ctr > idle : ctr == idle);
	gparser_free(p);
	ok = ok && ctr == 0;
out:
	free(text);
	grammar_free(g);
	tuser_clear(&u);
	return ok;
}

/* A token "xy" inside depth - 1 records: depth frames to parse. */
static struct gnode *
nested(struct grammar *g, unsigned depth)
{
	struct gnode *n = g_field(g, "t", g_token(g, "xy"));

	for (depth -= 2; depth > 0; depth--)
		n = g_record(g, NULL, n, NULL);
	grammar_export(g, "n", n);
	return n;
}

/*
 * A parser's frame stack is as deep as its grammar needs, not
 * GRAMMAR_MAX_DEPTH frames for every connection: a parser of a 3-node
 * grammar counts fewer bytes than one of a 64-node chain, by more than
 * 61 frames of 64 bytes. The shallow one goes back to the pool and is
 * taken for the deep grammar, whose stack must then grow (ASan sees an
 * overflow if not), and both parse "xy" fed a byte at a time, where the
 * frame machine pushes every frame (it fails if one is missing).
 */
static void
test_frames_sized(void)
{
	struct grammar *gs = grammar_new("shallow"), *gd = grammar_new("deep");
	struct gnode *rs = nested(gs, 3), *rd = nested(gd, GRAMMAR_MAX_DEPTH);
	struct gparser *p;
	struct tuser u = {0};
	uint64_t cs = 0, cd = 0, idle;
	size_t ones[2] = {1, 1};
	bool early, pin_ok;
	char *o;

	FAIL_IF(compiled(gs) == NULL || compiled(gd) == NULL);
	p = gparser_new(gs, rs, &u);
	FAIL_IF(p == NULL);
	gparser_set_counter(p, &cs);
	idle = cs; /* gparser_free takes it back */
	o = parse_split(p, &u, "xy", 2, ones, 2, &early, &pin_ok);
	FAIL_IF(strncmp(o, "OK ", 3) != 0);
	free(o);
	gparser_free(p);
	p = gparser_new(gd, rd, &u);
	FAIL_IF(p == NULL);
	gparser_set_counter(p, &cd);
	FAIL_IF(cs != 0 || cd < idle + (GRAMMAR_MAX_DEPTH - 3) * 64);
	o = parse_split(p, &u, "xy", 2, ones, 2, &early, &pin_ok);
	if (strncmp(o, "OK ", 3) != 0)
		fprintf(stderr, "  deep: %s\n", o);
	FAIL_IF(strncmp(o, "OK ", 3) != 0);
	free(o);
	gparser_free(p);
	grammar_free(gs);
	grammar_free(gd);
	tuser_clear(&u);
}

static void
test_memory_counter(void)
{
	size_t one[1] = {100001}, two[2] = {50, 51};

	FAIL_IF_NOT(memory_counter("[a-z]*", 1 << 20, 100000, one, 1, false));
	FAIL_IF_NOT(memory_counter("(?:a|b)+(?=;)", 4096, 100, two, 2, true));
}

static void
test_tokens(void)
{
	struct grammar *g = grammar_new("t");
	struct gnode *pc, *raw, *lim, *plim, *pct, *esc;
	struct gparser *p;
	struct tuser u = {0};

	pc = g_record(g, "pc", g_field(g, "t", g_token(g, "a(b|c)+d")), NULL);
	raw = g_record(g, "raw",
	               g_field(g, "t", g_raw_token(g, "[%x00-%x1f]{2}")), NULL);
	lim = g_record(g, "lim",
	               g_field(g, "t", g_limit(g_token(g, "[a-z]+"), 8)),
	               g_token(g, ";"), NULL);
	plim =
	    g_record(g, "plim",
	             g_field(g, "t", g_limit(g_token(g, "(?:ab)+"), 4)), NULL);
	pct = g_record(g, "pct", g_field(g, "t", g_token(g, "%d+%%")), NULL);
	esc = g_record(
	    g, "esc",
	    g_field(g, "t", g_token(g, "[[:upper:]%.]{2,3}[%s]*+[0-9]")), NULL);
	FAIL_IF(compiled(g) == NULL);
	FAIL_IF(pc->child[0]->child[0]->tok->simple);
	FAIL_IF_NOT(raw->child[0]->child[0]->tok->simple);
	FAIL_IF_NOT(lim->child[0]->child[0]->tok->simple);
	FAIL_IF(plim->child[0]->child[0]->tok->simple);
	FAIL_IF_NOT(pct->child[0]->child[0]->tok->simple);
	FAIL_IF_NOT(esc->child[0]->child[0]->tok->simple);

	p = gparser_new(g, pc, &u);
	CHECK(p, &u, "abcbd", "OK {t=\"abcbd\"@0-5} off=5");
	CHECK(p, &u, "abcbe",
	      "ERR parse error at byte 0 for field 1 in pc: token /a(b|c)+d/ "
	      "doesn't match");
	CHECK(p, &u, "abcb", "ERR *");
	gparser_free(p);

	p = gparser_new(g, raw, &u);
	CHECK(p, &u, "\x01\x1fz", "OK {t=b\"\\x01\\x1f\"@0-2} off=2");
	gparser_free(p);

	p = gparser_new(g, lim, &u);
	CHECK(p, &u, "abcdefgh;", "OK {t=\"abcdefgh\"@0-8} off=9");
	CHECK(p, &u, "abcdefghi;",
	      "ERR parse error at byte 0 for field 1 in lim: token /[a-z]+/ "
	      "longer than 8 bytes");
	gparser_free(p);

	p = gparser_new(g, plim, &u);
	CHECK(p, &u, "ababx", "OK {t=\"abab\"@0-4} off=4");
	CHECK(p, &u, "ababab",
	      "ERR parse error at byte 0 for field 1 in plim: token /(?:ab)+/ "
	      "longer than 4 bytes");
	gparser_free(p);

	p = gparser_new(g, pct, &u);
	CHECK(p, &u, "42%", "OK {t=\"42%\"@0-3} off=3");
	gparser_free(p);

	p = gparser_new(g, esc, &u);
	CHECK(p, &u, "A.B \t 1", "OK {t=\"A.B \\x09 1\"@0-7} off=7");
	CHECK(p, &u, "AB1", "OK {t=\"AB1\"@0-3} off=3");
	CHECK(p, &u, "AB x", "ERR *");
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

/* The simple matcher gives PCRE2's answer on random subjects. */
#define NSIMPLE 25
static void
test_simple_vs_pcre(void)
{
	static const char *const pats[] = {
	    "[%r]?[%n]", "%r?%n%.%r?%n", "[[:alpha:]]+", "[0-9]{3}", "[- ]",
	    "[^%r%n]*", "[[:blank:]]+", "a*b", "a{2,3}b?c", "[ab]*+b", "x?y?z",
	    "[[:xdigit:]]{1,4}[g-z]", "%w+%s", "%d*%D", "[%]%-]+", "a*b*c",
	    "[a-c]{0,2}[d-f]{2}", "%x41+", "[^%x00-%x7f]+", "q{0}r",
	    "[[:^digit:]]+", "[[:punct:][:cntrl:]]", "a?b?c?", "%.*",
	    "[[:a]b:]",
	    /* not simple: overlapping classes or unsupported syntax */
	    "a*a", "[a-z]*x", "a?ab", "(ab)+", "a|b", "a+?b", ".x", "^a",
	    "[a-z]*[0-9]?[a-z]", "%bx"};
	static const char alpha[] = "aabbcxyz09AF\r\n. -]%\x80\x01gqr[:";
	struct gtoken *t;
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	struct grammar *g = grammar_new("t");
	uint8_t subj[12];
	char err[200];
	size_t i, k, n, used, mlen;
	int rc1, rc2, simple = 0;
	struct gsm_state st;

	FAIL_IF(compiled(g) == NULL);
	for (i = 0; i < HK_ARRAY_SIZE(pats); i++) {
		FAIL_IF_NOT(gtoken_compile(&t, pats[i], err, sizeof(err)) ==
		            HK_OK);
		simple += t->simple;
		if (i < NSIMPLE && !t->simple)
			fprintf(stderr, "  /%s/ should be simple\n", pats[i]);
		FAIL_IF(i < NSIMPLE && !t->simple);
		FAIL_IF(i >= NSIMPLE && t->simple);
		for (k = 0; t->simple && k < 3000; k++) {
			n = rng() % sizeof(subj);
			for (size_t j = 0; j < n; j++)
				subj[j] =
				    (uint8_t)alpha[rng() % (sizeof(alpha) - 1)];
			memset(&st, 0, sizeof(st));
			rc1 = gtoken_sm_feed(t, &st, subj, n, &used);
			if (rc1 == GT_MORE) {
				rc1 = gtoken_sm_finish(t, &st) ? GT_MATCH
				                               : GT_NOMATCH;
				used = n;
			}
			rc2 =
			    gtoken_pcre_match(t, g, md, subj, n, false, &mlen);
			if (rc1 != rc2 || (rc1 == GT_MATCH && used != mlen)) {
				fprintf(stderr, "  /%s/ on \"", pats[i]);
				fwrite(subj, 1, n, stderr);
				fprintf(stderr,
				        "\": simple %d/%zu pcre %d/%zu\n", rc1,
				        used, rc2, mlen);
				FAIL_IF(1);
			}
			/* the first-byte set covers every match */
			if (rc2 == GT_MATCH && mlen > 0 && !t->nullable)
				FAIL_IF_NOT(t->first[subj[0]]);
		}
		gtoken_free(t);
	}
	FAIL_IF_NOT(gtoken_compile(&t, "a(b", err, sizeof(err)) == HK_ERR);
	FAIL_IF(strstr(err, "token /a(b/") == NULL);
	pcre2_match_data_free(md);
	grammar_free(g);
}

static int64_t
count_from_len(const struct gresult *rec, struct gctx *ctx)
{
	const struct gresult *n = gresult_get(rec, "len");

	return n != NULL ? n->num : -1;
}

static void
test_bytes(void)
{
	struct grammar *g = grammar_new("t");
	struct gnode *fixed, *fn, *chk, *eof, *lim, *until, *pcre, *many, *nul,
	    *start, *big;
	struct gparser *p;
	struct tuser u = {0};

	fixed = g_record(g, "fixed", g_field(g, "b", g_count(g_bytes(g), 3)),
	                 g_field(g, "c", g_count(g_bytes(g), 0)), NULL);
	fn = g_record(g, "fn", g_field(g, "len", g_number(g, 8, false)),
	              g_field(g, "b", g_count_fn(g_bytes(g), count_from_len)),
	              NULL);
	chk = g_record(
	    g, "chk",
	    g_field(g, "b", g_chunked(g_count(g_bytes(g), 5), on_chunk)),
	    g_token(g, "!"), NULL);
	eof = g_record(g, "eof", g_token(g, "<"),
	               g_field(g, "rest", g_bytes(g)), NULL);
	lim = g_record(
	    g, "lim",
	    g_field(g, "b", g_limit(g_untiltoken(g_bytes(g), ";"), 4)), NULL);
	until = g_record(g, "until",
	                 g_field(g, "b", g_untiltoken(g_bytes(g), "%r?%n")),
	                 g_token(g, "%r?%n"), NULL);
	pcre = g_record(
	    g, "pcre",
	    g_field(
	        g, "b",
	        g_chunked(g_untiltoken(g_bytes(g), "(?:END|STOP)!"), on_chunk)),
	    g_token(g, "(?:END|STOP)!"), NULL);
	many =
	    g_record(g, "many",
	             g_field(g, "b", g_untiltoken(g_bytes(g), "[xyz]#")), NULL);
	nul = g_record(g, "nul",
	               g_field(g, "b", g_untiltoken(g_bytes(g), "q*")), NULL);
	start = g_record(g, "start", g_number(g, 4, false),
	                 g_field(g, "b", g_count(g_bytes(g), 1)), NULL);
	big = g_record(
	    g, "big",
	    g_field(g, "b", g_limit(g_count(g_bytes(g), 2 << 20), 4 << 20)),
	    NULL);
	FAIL_IF(compiled(g) == NULL);
	FAIL_IF_NOT(many->child[0]->child[0]->tok->nfirst == 3);
	FAIL_IF(pcre->child[0]->child[0]->tok->simple);

	p = gparser_new(g, fixed, &u);
	CHECK(p, &u, "abcd", "OK {b=b\"abc\"@0-3,c=b\"\"@3-3} off=3");
	CHECK(p, &u, "ab",
	      "ERR parse error at byte 0 for field 1 in fixed: end of input "
	      "before the 3 bytes");
	gparser_free(p);

	p = gparser_new(g, fn, &u);
	CHECK(p, &u, "\x04wxyzq", "OK {len=4@0-1,b=b\"wxyz\"@1-5} off=5");
	FAIL_IF_NOT(check_splits(p, &u, "\x00q", 2,
	                         "OK {len=0@0-1,b=b\"\"@1-1} off=1"));
	gparser_free(p);

	p = gparser_new(g, chk, &u);
	CHECK(p, &u, "hello!",
	      "OK {b=bytes(5)@0-5} off=6 chunked(1 last, ok) \"hello\"");
	gparser_free(p);

	p = gparser_new(g, eof, &u);
	CHECK(p, &u, "<all of it\r\n",
	      "OK {rest=b\"all of it\\x0d\\x0a\"@1-12} off=12");
	CHECK(p, &u, "<", "OK {rest=b\"\"@1-1} off=1");
	gparser_free(p);

	p = gparser_new(g, lim, &u);
	CHECK(p, &u, "abcd;", "OK {b=b\"abcd\"@0-4} off=4");
	CHECK(p, &u, "abcde;",
	      "ERR parse error at byte 0 for field 1 in lim: bytes longer than "
	      "4 bytes");
	gparser_free(p);

	p = gparser_new(g, until, &u);
	CHECK(p, &u, "abc\r\n", "OK {b=b\"abc\"@0-3} off=5");
	CHECK(p, &u, "\n", "OK {b=b\"\"@0-0} off=1");
	CHECK(p, &u, "a\rb\r\r\n", "OK {b=b\"a\\x0db\\x0d\"@0-4} off=6");
	gparser_free(p);

	p = gparser_new(g, pcre, &u);
	CHECK(p, &u, "aEND STO STOP!",
	      "OK {b=bytes(9)@0-9} off=14 chunked(1 last, ok) \"aEND STO \"");
	CHECK(p, &u, "END!",
	      "OK {b=bytes(0)@0-0} off=4 chunked(1 last, ok) "
	      "\"\"");
	CHECK(p, &u, "ENDSTOP",
	      "ERR parse error at byte 7 for field 2 in pcre: token "
	      "/(?:END|STOP)!/ doesn't match chunked(1 last, ok) \"ENDSTOP\"");
	gparser_free(p);

	p = gparser_new(g, many, &u);
	CHECK(p, &u, "axbz#y#", "OK {b=b\"axb\"@0-3} off=3");
	gparser_free(p);

	p = gparser_new(g, nul, &u);
	CHECK(p, &u, "abc", "OK {b=b\"\"@0-0} off=0");
	gparser_free(p);

	p = gparser_new(g, start, &u);
	CHECK(p, &u, "ab",
	      "ERR parse error at byte 0 for field 2 in start: bytes are not "
	      "byte aligned");
	gparser_free(p);

	/* results are bounded by the arena */
	p = gparser_new(g, big, &u);
	{
		size_t n = 2 << 20, one[] = {n};
		char *data = calloc(1, n), *o;
		bool early, pin_ok;

		o = parse_split(p, &u, data, n, one, 1, &early, &pin_ok);
		FAIL_IF(strstr(o, "result memory exhausted") == NULL);
		free(o);
		free(data);
	}
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

static bool
until_zero(const struct gresult *prev, struct gctx *ctx)
{
	return prev != NULL && prev->num == 0;
}

static bool
while_lower(const struct gresult *prev, struct gctx *ctx)
{
	int c = gctx_lookahead(ctx);

	return c >= 'a' && c <= 'z';
}

static bool
never(const struct gresult *prev, struct gctx *ctx)
{
	return false;
}

static void
test_array(void)
{
	struct grammar *g = grammar_new("t");
	struct gnode *cnt, *fn, *until, *whl, *lim, *nested, *cntbig;
	struct gparser *p;
	struct tuser u = {0};
	const struct gresult *r, *a;

	cnt = g_record(
	    g, "cnt",
	    g_field(g, "a", g_count(g_array(g, g_token(g, "[a-z]")), 3)), NULL);
	fn = g_record(g, "fn", g_field(g, "len", g_number(g, 8, false)),
	              g_field(g, "a",
	                      g_count_fn(g_array(g, g_number(g, 8, false)),
	                                 count_from_len)),
	              NULL);
	until = g_record(
	    g, "until",
	    g_field(g, "a",
	            g_untilcond(g_array(g, g_number(g, 8, false)), until_zero)),
	    NULL);
	whl = g_record(
	    g, "whl",
	    g_field(
	        g, "a",
	        g_whilecond(
	            g_array(g, g_record(g, "el",
	                                g_field(g, "c", g_token(g, "[a-z]")),
	                                g_token(g, ","), NULL)),
	            while_lower)),
	    g_token(g, "."), NULL);
	lim = g_record(
	    g, "lim",
	    g_field(
	        g, "a",
	        g_limit(g_untilcond(g_array(g, g_token(g, "x")), never), 3)),
	    NULL);
	nested = g_record(
	    g, "nested",
	    g_field(g, "a",
	            g_count(g_array(g, g_count(g_array(g, g_empty(g)), 2)), 2)),
	    NULL);
	cntbig = g_record(
	    g, "cntbig",
	    g_field(
	        g, "a",
	        g_limit(g_count_fn(g_array(g, g_empty(g)), count_from_len), 2)),
	    NULL);
	FAIL_IF(compiled(g) == NULL);

	p = gparser_new(g, cnt, &u);
	CHECK(p, &u, "abcd",
	      "OK {a=[\"a\"@0-1,\"b\"@1-2,\"c\"@2-3]@0-3} off=3");
	CHECK(p, &u, "ab1",
	      "ERR parse error at byte 2 for field 1 in cnt: token /[a-z]/ "
	      "doesn't match");
	gparser_free(p);

	p = gparser_new(g, fn, &u);
	CHECK(p, &u, "\x02\x07\x08",
	      "OK {len=2@0-1,a=[7@1-2,8@2-3]@1-3} off=3");
	FAIL_IF_NOT(
	    check_splits(p, &u, "\x00", 1, "OK {len=0@0-1,a=[]@1-1} off=1"));
	gparser_free(p);

	p = gparser_new(g, until, &u);
	FAIL_IF_NOT(check_splits(p, &u, "\x05\x06\x00\x07", 4,
	                         "OK {a=[5@0-1,6@1-2,0@2-3]@0-3} off=3"));
	gparser_free(p);

	/* whilecond applies (the original's bug 7 is not copied) */
	p = gparser_new(g, whl, &u);
	CHECK(p, &u, "a,b,.",
	      "OK {a=[{c=\"a\"@0-1}@0-2,{c=\"b\"@2-3}@2-4]@0-4} off=5");
	CHECK(p, &u, ".", "OK {a=[]@0-0} off=1");
	gparser_free(p);

	p = gparser_new(g, lim, &u);
	CHECK(
	    p, &u, "xxxxx",
	    "ERR parse error at byte 3 for field 1 in lim: array longer than 3 "
	    "elements");
	gparser_free(p);

	p = gparser_new(g, nested, &u);
	CHECK(p, &u, "",
	      "OK {a=[[none@0-0,none@0-0]@0-0,[none@0-0,none@0-0]@0-"
	      "0]@0-0} off=0");
	r = gparser_result(p);
	a = gresult_get(r, "a");
	FAIL_IF(a == NULL || a->count != 2);
	FAIL_IF_NOT(gresult_at(a, 1) == a->last);
	FAIL_IF_NOT(gresult_at(a, 2) == NULL);
	FAIL_IF_NOT(gresult_at(gresult_at(a, 0), 1)->type == GV_NONE);
	gparser_free(p);

	p = gparser_new(g, cntbig, &u);
	CHECK(p, &u, "",
	      "ERR parse error at byte 0 for field 1 in cntbig: "
	      "invalid array count -1 (limit 2)");
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

static const char *
sel_first(const struct gresult *rec, struct gctx *ctx)
{
	const struct gresult *k = gresult_get(rec, "k");

	return k != NULL ? (const char *)k->s : NULL;
}

static void
test_branch_optional(void)
{
	struct grammar *g = grammar_new("t");
	struct gnode *br, *cont, *nodef, *opt, *val;
	struct gparser *p;
	struct tuser u = {0};

	br = g_record(
	    g, "br", g_field(g, "k", g_token(g, "[a-z]")),
	    g_default(g_branch(g, sel_first, "a",
	                       g_field(g, "num", g_token(g, "[0-9]+")), "b",
	                       g_field(g, "word", g_token(g, "[A-Z]+")), NULL),
	              g_field(g, "other", g_token(g, "."))),
	    NULL);
	cont = g_record(
	    g, "cont", g_field(g, "k", g_token(g, "[a-z]")),
	    g_default(g_branch(g, sel_first, "a", g_token(g, "!"), NULL),
	              G_CONTINUE),
	    g_token(g, ";"), NULL);
	nodef = g_record(g, "nodef", g_field(g, "k", g_token(g, "[a-z]")),
	                 g_branch(g, sel_first, "a", g_empty(g), NULL), NULL);
	opt = g_record(
	    g, "opt", g_field(g, "k", g_token(g, "[a-z]{3}")),
	    g_optional(g, g_field(g, "rest", g_token(g, " [^%n]*")), not_crlf),
	    g_token(g, "%n"), NULL);
	/* a branch as a field: the chosen case's value */
	val = g_record(
	    g, "val", g_field(g, "k", g_token(g, "[a-z]")),
	    g_field(
	        g, "v",
	        g_branch(g, sel_first, "a", g_token(g, "[0-9]"), "b",
	                 g_record(g, "r", g_field(g, "x", g_token(g, "[0-9]")),
	                          NULL),
	                 NULL)),
	    NULL);
	FAIL_IF(compiled(g) == NULL);

	p = gparser_new(g, br, &u);
	CHECK(p, &u, "a12;", "OK {k=\"a\"@0-1,num=\"12\"@1-3} off=3");
	CHECK(p, &u, "bXY;", "OK {k=\"b\"@0-1,word=\"XY\"@1-3} off=3");
	CHECK(p, &u, "c?", "OK {k=\"c\"@0-1,other=\"?\"@1-2} off=2");
	gparser_free(p);

	p = gparser_new(g, cont, &u);
	CHECK(p, &u, "a!;", "OK {k=\"a\"@0-1} off=3");
	CHECK(p, &u, "z;", "OK {k=\"z\"@0-1} off=2");
	gparser_free(p);

	p = gparser_new(g, nodef, &u);
	CHECK(p, &u, "a", "OK {k=\"a\"@0-1} off=1");
	CHECK(p, &u, "b",
	      "ERR parse error at byte 1 for field nodef in <unknown>: invalid "
	      "case");
	gparser_free(p);

	p = gparser_new(g, opt, &u);
	CHECK(p, &u, "abc xy\n", "OK {k=\"abc\"@0-3,rest=\" xy\"@3-6} off=7");
	CHECK(p, &u, "abc\n", "OK {k=\"abc\"@0-3} off=4");
	{
		/* the byte after "abc" is not there yet: ask again later */
		size_t sizes[] = {3, 3};
		bool early, pin_ok;
		char *o;

		o = parse_split(p, &u, "abc x\n", 6, sizes, 2, &early, &pin_ok);
		FAIL_IF_NOT(
		    strcmp(o, "OK {k=\"abc\"@0-3,rest=\" x\"@3-5} off=6") == 0);
		/*
		 * Asked (and answered -2) at least once; the fast path and
		 * the frame machine may each ask (grammar.h: pure callbacks).
		 */
		FAIL_IF_NOT(u.la_asks >= 1);
		free(o);
	}
	gparser_free(p);

	p = gparser_new(g, val, &u);
	CHECK(p, &u, "a1", "OK {k=\"a\"@0-1,v=\"1\"@1-2} off=2");
	CHECK(p, &u, "b2", "OK {k=\"b\"@0-1,v={x=\"2\"@1-2}} off=2");
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

static void
test_union_try(void)
{
	struct grammar *g = grammar_new("t");
	struct gnode *un, *tr, *trall, *nested;
	struct gparser *p;
	struct tuser u = {0};

	un = g_record(
	    g, "un",
	    g_union(
	        g,
	        g_record(g, NULL, g_field(g, "a", g_token(g, "[a-z]+")), NULL),
	        g_record(g, NULL, g_field(g, "b", g_token(g, "[a-z]{2}")),
	                 NULL),
	        NULL),
	    g_field(g, "end", g_token(g, ";")), NULL);
	tr = g_record(
	    g, "tr",
	    g_try(g,
	          g_record(g, "t1", g_field(g, "a", g_token(g, "[0-9]+")),
	                   g_token(g, ";"), NULL),
	          g_record(g, "t2", g_field(g, "b", g_token(g, "[0-9a-z]+")),
	                   g_token(g, ","), NULL),
	          NULL),
	    g_field(g, "end", g_token(g, "%.")), NULL);
	trall = g_record(
	    g, "trall", g_try(g, g_fail(g, "no"), g_token(g, "x"), NULL), NULL);
	/* a try inside a try, the outer one backtracks over the inner */
	nested = g_record(
	    g, "nested",
	    g_try(g,
	          g_sequence(g,
	                     g_try(g, g_field(g, "p", g_token(g, "ab")),
	                           g_field(g, "q", g_token(g, "a")), NULL),
	                     g_token(g, "c"), NULL),
	          g_field(g, "r", g_token(g, "abd")), NULL),
	    NULL);
	FAIL_IF(compiled(g) == NULL);

	p = gparser_new(g, un, &u);
	CHECK(p, &u, "abcd;",
	      "OK {a=\"abcd\"@0-4,b=\"ab\"@0-2,end=\";\"@4-5} off=5");
	CHECK(p, &u, "a;",
	      "ERR parse error at byte 0 for field 1 in <unknown>: token "
	      "/[a-z]{2}/ doesn't match");
	gparser_free(p);

	p = gparser_new(g, tr, &u);
	CHECK(p, &u, "12;.", "OK {a=\"12\"@0-2,end=\".\"@3-4} off=4");
	CHECK(p, &u, "12ab,.", "OK {b=\"12ab\"@0-4,end=\".\"@5-6} off=6");
	CHECK(p, &u, "12ab;.",
	      "ERR parse error at byte 0 for field 1 in tr: cannot find a "
	      "successful try case");
	gparser_free(p);

	p = gparser_new(g, trall, &u);
	CHECK(p, &u, "x", "OK {} off=1");
	CHECK(p, &u, "y",
	      "ERR parse error at byte 0 for field 1 in trall: cannot find a "
	      "successful try case");
	gparser_free(p);

	p = gparser_new(g, nested, &u);
	CHECK(p, &u, "abc", "OK {p=\"ab\"@0-2} off=3");
	CHECK(p, &u, "ac", "OK {q=\"a\"@0-1} off=2");
	CHECK(p, &u, "abd", "OK {r=\"abd\"@0-3} off=3");
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

static void
test_numbers(void)
{
	struct grammar *g = grammar_new("t");
	struct gnode *bits, *wide, *le;
	struct gparser *p;
	struct tuser u = {0};

	bits = g_record(g, "bits", g_field(g, "v", g_number(g, 4, false)),
	                g_field(g, "w", g_number(g, 12, false)),
	                g_field(g, "f", g_flag(g)),
	                g_field(g, "g", g_number(g, 7, false)),
	                g_field(g, "x", g_number(g, 16, true)), NULL);
	wide = g_record(g, "wide", g_number(g, 4, false),
	                g_field(g, "v", g_number(g, 64, false)),
	                g_field(g, "t", g_number(g, 4, false)), NULL);
	le = g_record(g, "le", g_field(g, "a", g_number(g, 32, true)),
	              g_field(g, "b", g_number(g, 3, true)),
	              g_field(g, "c", g_number(g, 5, true)),
	              g_field(g, "d", g_number(g, 24, false)), NULL);
	FAIL_IF(compiled(g) == NULL);

	p = gparser_new(g, bits, &u);
	CHECK(p, &u, "\xab\xcd\x85\x34\x12",
	      "OK {v=10@0-1,w=3021@0-2,f=true@2-3,g=5@2-3,x=4660@3-5} off=5");
	CHECK(
	    p, &u, "\xab\xcd\x85\x34",
	    "ERR parse error at byte 3 for field 5 in bits: end of input in a "
	    "16-bit number");
	gparser_free(p);

	p = gparser_new(g, wide, &u);
	CHECK(p, &u, "\xf1\x23\x45\x67\x89\xab\xcd\xef\x0a",
	      "OK {v=1311768467463790320@0-9,t=10@8-9} off=9");
	gparser_free(p);

	p = gparser_new(g, le, &u);
	FAIL_IF_NOT(
	    check_splits(p, &u, "\x01\x02\x03\x04\xf5\x00\x00\x07", 8,
	                 "OK {a=67305985@0-4,b=5@4-5,c=30@4-5,d=7@5-8} off=8"));
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

static bool
verify_even(const struct gresult *rec, struct gctx *ctx)
{
	const struct gresult *n = gresult_get(rec, "n");

	return n != NULL && n->num % 2 == 0;
}

static void
exec_count(struct gresult *rec, struct gctx *ctx)
{
	struct tuser *u = ctx->user;

	u->execs++;
	FAIL_IF(ctx->rec != rec || ctx->parser == NULL);
}

static void
test_misc_nodes(void)
{
	struct grammar *g = grammar_new("t");
	struct gnode *vr, *fl, *tok_root, *fl_root, *seq_root, *named;
	struct gparser *p;
	struct tuser u = {0};

	vr = g_record(g, "vr", g_field(g, "n", g_number(g, 8, false)),
	              g_execute(g, exec_count), g_empty(g),
	              g_verify(g, verify_even, "odd number"), NULL);
	fl = g_record(g, "fl", g_token(g, "a"), g_fail(g, "not today"), NULL);
	tok_root = g_token(g, "[a-z]+");
	fl_root = g_fail(g, "incomplete grammar");
	seq_root = g_sequence(g, g_field(g, "s", g_token(g, "s")), NULL);
	/* g_name names a rule (errors, DOT), overriding a record's rule */
	named = g_name(g_record(g, "old", g_token(g, "n"), NULL), "named");
	grammar_export(g, "named", named);
	FAIL_IF(compiled(g) == NULL);
	FAIL_IF_NOT(strcmp(grammar_name(g), "t") == 0);
	FAIL_IF_NOT(grammar_get(g, "named") == named);
	FAIL_IF_NOT(grammar_get(g, "nope") == NULL);

	p = gparser_new(g, named, &u);
	CHECK(p, &u, "m",
	      "ERR parse error at byte 0 for field 1 in named: "
	      "token /n/ doesn't match");
	gparser_free(p);

	p = gparser_new(g, vr, &u);
	CHECK(p, &u, "\x04", "OK {n=4@0-1} off=1");
	FAIL_IF_NOT(u.execs == 1);
	CHECK(p, &u, "\x05",
	      "ERR parse error at byte 1 for field 4 in vr: odd number");
	gparser_free(p);

	p = gparser_new(g, fl, &u);
	CHECK(p, &u, "ab",
	      "ERR parse error at byte 1 for field 2 in fl: not today");
	gparser_free(p);

	/* the original's partial workshop grammar */
	p = gparser_new(g, fl_root, &u);
	CHECK(p, &u, "220 x\r\n",
	      "ERR parse error at byte 0 for field <unknown> in <unknown>: "
	      "incomplete grammar");
	gparser_free(p);

	/* a root that is not a record: its value is the result */
	p = gparser_new(g, tok_root, &u);
	CHECK(p, &u, "abc1", "OK \"abc\"@0-3 off=3");
	gparser_free(p);
	p = gparser_new(g, seq_root, &u);
	CHECK(p, &u, "s", "OK {s=\"s\"@0-1} off=1");
	/* set_root: the next element starts where the last one ended */
	gparser_set_root(p, tok_root);
	FAIL_IF_NOT(gparser_offset(p) == 1 && gparser_idle(p));
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

static const char *
sel_loop(const struct gresult *rec, struct gctx *ctx)
{
	return "x";
}

static void
test_limits_and_errors(void)
{
	struct grammar *g;
	struct gnode *n, *br, *rec;
	struct gparser *p;
	struct tuser u = {0};
	char err[256];
	int i;

	/* nesting deeper than the frame stack: refused at compile time */
	g = grammar_new("deep");
	n = g_token(g, "x");
	for (i = 0; i < GRAMMAR_MAX_DEPTH; i++)
		n = g_record(g, NULL, n, NULL);
	grammar_export(g, "deep", n);
	FAIL_IF_NOT(grammar_compile(g, err, sizeof(err)) == HK_ERR);
	FAIL_IF(strstr(err, "nesting deeper") == NULL);
	FAIL_IF_NOT(gparser_new(g, n, NULL) == NULL);
	grammar_free(g);

	/* a cycle through a branch default: refused while parsing */
	g = grammar_new("cycle");
	br = g_branch(g, sel_loop, "y", g_empty(g), NULL);
	rec = g_record(g, "loop", g_token(g, "a"), br, NULL);
	g_default(br, rec);
	grammar_export(g, "loop", rec);
	FAIL_IF(compiled(g) == NULL);
	p = gparser_new(g, rec, &u);
	{
		size_t n100 = 100;
		char *s = malloc(n100);
		bool early, pin_ok;
		char *o;

		memset(s, 'a', n100);
		o = parse_split(p, &u, s, n100, &n100, 1, &early, &pin_ok);
		FAIL_IF(strstr(o, "grammar nesting deeper than 64") == NULL);
		free(o);
		free(s);
	}
	gparser_free(p);
	grammar_free(g);

	/* build errors reported by grammar_compile */
	g = grammar_new("bad");
	grammar_export(g, "r", g_record(g, "r", g_token(g, "a(b"), NULL));
	FAIL_IF_NOT(grammar_compile(g, err, sizeof(err)) == HK_ERR);
	FAIL_IF(strstr(err, "token /a(b/") == NULL);
	grammar_free(g);

	g = grammar_new("bad");
	g_count(g_token(g, "a"), 3);
	FAIL_IF_NOT(grammar_compile(g, err, sizeof(err)) == HK_ERR);
	FAIL_IF(strstr(err, "count on a node") == NULL);
	grammar_free(g);

	g = grammar_new("bad");
	g_array(g, g_token(g, "a"));
	FAIL_IF_NOT(grammar_compile(g, err, sizeof(err)) == HK_ERR);
	FAIL_IF(strstr(err, "needs count") == NULL);
	grammar_free(g);

	g = grammar_new("bad");
	g_untiltoken(g_count(g_bytes(g), 3), "x");
	FAIL_IF_NOT(grammar_compile(g, err, sizeof(err)) == HK_ERR);
	grammar_free(g);

	g = grammar_new("bad");
	g_number(g, 65, false);
	FAIL_IF_NOT(grammar_compile(g, err, sizeof(err)) == HK_ERR);
	grammar_free(g);

	g = grammar_new("bad");
	g_record(g, "r", g_field(g, "x", NULL), NULL);
	FAIL_IF_NOT(grammar_compile(g, err, sizeof(err)) == HK_ERR);
	grammar_free(g);
	tuser_clear(&u);
}

static void
test_dot(void)
{
	struct grammar *g = smtp_grammar(false);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	FAIL_IF(g == NULL);
	f = open_memstream(&buf, &len);
	grammar_dump_dot(g, f);
	fclose(f);
	FAIL_IF(strncmp(buf, "digraph grammar {", 17) != 0);
	FAIL_IF(strstr(buf, "subgraph cluster_smtp_command {") == NULL);
	FAIL_IF(strstr(buf, "subgraph cluster_smtp_responses {") == NULL);
	FAIL_IF(strstr(buf, "subgraph cluster_smtp_data {") == NULL);
	FAIL_IF(strstr(buf, "DGToken: command\\n/[[:alpha:]]+/") == NULL);
	FAIL_IF(strstr(buf, "DGRecord: smtp_command") == NULL);
	FAIL_IF(strstr(buf, "DGBytes: data\\nuntil /%r?%n%.%r?%n/") == NULL);
	FAIL_IF(strstr(buf, "[label=\"HELO\"]") == NULL);
	FAIL_IF(strstr(buf, " -> ") == NULL);
	free(buf);
	grammar_free(g);
}

static void
test_logging(void)
{
	struct grammar *g = smtp_grammar(true);
	struct gparser *p;
	struct tuser u = {0};
	char err[64], *buf = NULL;
	size_t len = 0;
	FILE *f;

	FAIL_IF(g == NULL);
	p = gparser_new(g, grammar_get(g, "smtp_command"), &u);
	f = open_memstream(&buf, &len);
	log_set_output(f);
	FAIL_IF_NOT(log_set_level_spec("info,grammar=debug", err,
	                               sizeof(err)) == HK_OK);
	CHECK(p, &u, "DATA x\n", NULL);
	log_set_level_spec("info,grammar=info", err, sizeof(err));
	log_set_output(NULL);
	fclose(f);
	FAIL_IF(strstr(buf,
	               "debug grammar: in rule 'cmd' field '1': parsing "
	               "token /[[:alpha:]]+/\n\tat byte 0: DATA x\\x0a...") ==
	        NULL);
	FAIL_IF(strstr(buf, "debug grammar: parse error at byte 4 for field 3 "
	                    "in cmd: token /[%r]?[%n]/ doesn't match") == NULL);
	FAIL_IF(strstr(buf, "debug grammar: parse error context:  x\\x0a...") ==
	        NULL);
	free(buf);
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

/* pin and idle while a DATA body streams in */
static void
test_pin_idle(void)
{
	struct grammar *g = smtp_grammar(false);
	struct gparser *p;
	struct tuser u = {0};
	const char *s = "hello world\r\n.";
	struct ginput in;
	struct tin t;
	size_t sizes[] = {3, 10, 1, 50};

	FAIL_IF(g == NULL);
	p = gparser_new(g, grammar_get(g, "smtp_data"), &u);
	tin_init(&t, s, strlen(s), sizes, 4);
	in.span = tin_span;
	in.ctx = &t;
	in.eof = false;
	gparser_reset(p, 0);
	FAIL_IF_NOT(gparser_idle(p));
	t.avail = 0;
	in.end = 0;
	FAIL_IF_NOT(gparser_run(p, &in) == HK_AGAIN);
	FAIL_IF_NOT(gparser_idle(p) && gparser_pin(p) == 0);
	t.avail = 1;
	in.end = 3;
	FAIL_IF_NOT(gparser_run(p, &in) == HK_AGAIN);
	FAIL_IF(gparser_idle(p));
	FAIL_IF_NOT(gparser_pin(p) == 3); /* "hel" delivered */
	t.avail = 2;
	in.end = 13;
	FAIL_IF_NOT(gparser_run(p, &in) == HK_AGAIN);
	FAIL_IF_NOT(gparser_pin(p) == 11); /* candidate "\r\n" */
	t.avail = 3;
	in.end = 14;
	FAIL_IF_NOT(gparser_run(p, &in) == HK_AGAIN);
	FAIL_IF_NOT(gparser_pin(p) == 11);
	FAIL_IF_NOT(u.dlen == 11 && memcmp(u.data, "hello world", 11) == 0);
	FAIL_IF_NOT(u.lasts == 0);
	in.eof = true;
	FAIL_IF_NOT(gparser_run(p, &in) == HK_ERR);
	FAIL_IF_NOT(u.lasts == 1 && u.dlen == 14);
	FAIL_IF_NOT(gparser_error(p)->position == 14);
	FAIL_IF_NOT(gparser_result(p) == NULL);
	tin_free(&t);
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

/*
 * A try around chunked bytes (the SMTP dissector's DATA): once bytes were
 * delivered the try is committed and no longer pins the body's start.
 */
static void
test_try_chunked(void)
{
	struct grammar *g = grammar_new("t");
	struct gnode *root;
	struct gparser *p;
	struct tuser u = {0};
	struct ginput in;
	struct tin t;
	const char *s = "abcdef\r\nxyz";
	size_t sizes[] = {4, 4, 5};

	root = g_record(
	    g, "smtp_data",
	    g_try(g, g_record(g, "empty_data", g_token(g, "%.%r%n"), NULL),
	          g_record(
	              g, "data_crlf",
	              g_field(g, "data",
	                      g_chunked(g_untiltoken(g_bytes(g), "%r%n%.%r%n"),
	                                on_chunk)),
	              g_token(g, "%r%n%.%r%n"), NULL),
	          NULL),
	    NULL);
	FAIL_IF(compiled(g) == NULL);
	p = gparser_new(g, root, &u);
	CHECK(p, &u, ".\r\n", "OK {} off=3");
	CHECK(p, &u, "a.b\r\n.\r\n",
	      "OK {data=bytes(3)@0-3} off=8 chunked(1 last, ok) \"a.b\"");
	/* the error of the committed alternative, not the try's */
	CHECK(p, &u, "a.b\r\n",
	      "ERR parse error at byte 5 for field 2 in data_crlf: token "
	      "/%r%n%.%r%n/ doesn't match chunked(1 last, ok) "
	      "\"a.b\\x0d\\x0a\"");
	CHECK(p, &u, ".x",
	      "ERR parse error at byte 2 for field 2 in data_crlf: token "
	      "/%r%n%.%r%n/ doesn't match chunked(1 last, ok) \".x\"");

	tin_init(&t, s, strlen(s), sizes, 3);
	in.span = tin_span;
	in.ctx = &t;
	in.eof = false;
	gparser_reset(p, 0);
	tuser_clear(&u);
	t.avail = 1;
	in.end = 4;
	FAIL_IF_NOT(gparser_run(p, &in) == HK_AGAIN);
	FAIL_IF_NOT(gparser_pin(p) == 4);
	t.avail = 2;
	in.end = 8;
	FAIL_IF_NOT(gparser_run(p, &in) == HK_AGAIN);
	FAIL_IF_NOT(gparser_pin(p) == 6);
	tin_free(&t);
	gparser_free(p);
	grammar_free(g);
	tuser_clear(&u);
}

/* --- a 10 MB DATA body --------------------------------------------- */

struct bigcheck {
	const uint8_t *body;
	size_t len;
	uint64_t next;
	bool bad;
	int lasts;
	bool verify;
};

static void
on_big_chunk(struct gctx *ctx, const uint8_t *p, size_t len, uint64_t off,
             bool last)
{
	struct bigcheck *b = ctx->user;

	if (off != b->next || off + len > b->len || b->lasts > 0)
		b->bad = true;
	else if (b->verify && memcmp(p, b->body + off, len) != 0)
		b->bad = true;
	b->next = off + len;
	if (last)
		b->lasts++;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
feed_big(struct gparser *p, struct bigcheck *bc, const uint8_t *in_data,
         size_t total, size_t maxchunk, bool *ok)
{
	struct ginput in;
	struct tin t;
	size_t *sizes, n = 0, i;
	double t0, t1;
	int rc = HK_AGAIN;
	size_t cap = 1024;

	sizes = malloc(cap * sizeof(*sizes));
	for (i = 0; i < total; n++) {
		if (n == cap) {
			cap *= 2;
			sizes = realloc(sizes, cap * sizeof(*sizes));
		}
		sizes[n] = maxchunk == 0 ? total : 1 + rng() % maxchunk;
		i += sizes[n];
	}
	tin_init(&t, in_data, total, sizes, n);
	free(sizes);
	in.span = tin_span;
	in.ctx = &t;
	in.eof = false;
	bc->next = 0;
	bc->bad = false;
	bc->lasts = 0;
	gparser_reset(p, 0);
	t0 = now_s();
	for (t.avail = 1; t.avail <= t.n; t.avail++) {
		in.end = tin_end(&t);
		rc = gparser_run(p, &in);
		if (rc != HK_AGAIN)
			break;
		tin_release(&t, gparser_pin(p));
	}
	t1 = now_s();
	*ok = rc == HK_OK && !t.violation && !bc->bad && bc->lasts == 1 &&
	      bc->next == bc->len && gparser_offset(p) == total;
	if (!*ok)
		fprintf(stderr,
		        "  rc %d violation %d bad %d lasts %d next %llu\n", rc,
		        t.violation, bc->bad, bc->lasts,
		        (unsigned long long)bc->next);
	tin_free(&t);
	return (double)total / (1 << 20) / (t1 - t0);
}

static void
test_big_data(void)
{
	struct grammar *g = grammar_new("big");
	struct gnode *data;
	struct gparser *p;
	struct bigcheck bc = {0};
	const size_t body_len = 10u << 20;
	uint8_t *buf;
	size_t i, line = 0;
	bool ok;
	double r1, r2, r3;

	data = g_record(
	    g, "smtp_data",
	    g_field(g, "data",
	            g_limit(g_chunked(g_untiltoken(g_bytes(g), "%r?%n%.%r?%n"),
	                              on_big_chunk),
	                    UINT32_MAX)),
	    g_token(g, "%r?%n%.%r?%n"), NULL);
	grammar_export(g, "smtp_data", data);
	FAIL_IF(compiled(g) == NULL);
	p = gparser_new(g, data, &bc);

	/* text lines of 0 to 99 bytes; none is a lone "." */
	buf = malloc(body_len + 5);
	for (i = 0; i < body_len; i++) {
		if (line > 0 && rng() % 72 == 0 && i + 2 < body_len) {
			buf[i++] = '\r';
			buf[i] = '\n';
			line = 0;
			continue;
		}
		if (line == 0)
			buf[i] = (uint8_t)('a' + rng() % 26);
		else
			buf[i] = (uint8_t) " .abcdefghijklmnopqrstuvwxyz"
			                   "0123456789"[rng() % 38];
		line++;
	}
	memcpy(buf + body_len, "\r\n.\r\n", 5);
	bc.body = buf;
	bc.len = body_len;

	bc.verify = true;
	feed_big(p, &bc, buf, body_len + 5, 3000, &ok);
	FAIL_IF_NOT(ok);
	bc.verify = false;
	r1 = feed_big(p, &bc, buf, body_len + 5, 3000, &ok);
	FAIL_IF_NOT(ok);
	r2 = feed_big(p, &bc, buf, body_len + 5, 65536, &ok);
	FAIL_IF_NOT(ok);
	r3 = feed_big(p, &bc, buf, body_len + 5, 0, &ok);
	FAIL_IF_NOT(ok);
	fprintf(
	    stderr,
	    "  untiltoken scan of a 10 MB body: %.0f MB/s (chunks <= 3000 B), "
	    "%.0f MB/s (<= 64 KB), %.0f MB/s (one chunk)\n",
	    r1, r2, r3);
	free(buf);
	gparser_free(p);
	grammar_free(g);
}

/*
 * Freed parsers are kept and reused by the thread: a reused one starts
 * clean, and its PCRE scratch is made again when the new grammar needs a
 * larger one (a split PCRE token is flattened into it).
 */
static void
test_parser_pool(void)
{
	struct grammar *g1 = grammar_new("small"), *g2 = grammar_new("pcre");
	struct gnode *r1, *r2;
	struct gparser *p, *q;
	struct tuser u = {0};

	r1 = g_record(g1, "r1", g_field(g1, "w", g_token(g1, "[a-z]+")),
	              g_token(g1, ";"), NULL);
	r2 = g_record(g2, "r2",
	              g_field(g2, "w", g_limit(g_token(g2, "(ab|cd)+"), 8000)),
	              g_token(g2, ";"), NULL);
	FAIL_IF(compiled(g1) == NULL || compiled(g2) == NULL);
	gparser_pool_flush();
	p = gparser_new(g1, r1, &u);
	FAIL_IF(p == NULL);
	CHECK(p, &u, "abc;", "OK {w=\"abc\"@0-3} off=4");
	gparser_free(p);
	q = gparser_new(g2, r2, &u);
	FAIL_IF_NOT(q == p); /* from the pool */
	CHECK(q, &u, "abcdab;", "OK {w=\"abcdab\"@0-6} off=7");
	gparser_free(q);
	p = gparser_new(g1, r1, &u);
	FAIL_IF_NOT(p == q);
	CHECK(p, &u, "xyz;", "OK {w=\"xyz\"@0-3} off=4");
	gparser_free(p);
	gparser_pool_flush();
	grammar_free(g1);
	grammar_free(g2);
}

int
main(void)
{
	RUN_TEST(test_smtp_original_texts);
	RUN_TEST(test_smtp_commands);
	RUN_TEST(test_smtp_responses_data);
	RUN_TEST(test_record_sequence_field);
	RUN_TEST(test_field_keys);
	RUN_TEST(test_memory_counter);
	RUN_TEST(test_frames_sized);
	RUN_TEST(test_tokens);
	RUN_TEST(test_simple_vs_pcre);
	RUN_TEST(test_bytes);
	RUN_TEST(test_array);
	RUN_TEST(test_branch_optional);
	RUN_TEST(test_union_try);
	RUN_TEST(test_numbers);
	RUN_TEST(test_misc_nodes);
	RUN_TEST(test_limits_and_errors);
	RUN_TEST(test_dot);
	RUN_TEST(test_logging);
	RUN_TEST(test_pin_idle);
	RUN_TEST(test_try_chunked);
	RUN_TEST(test_big_data);
	RUN_TEST(test_parser_pool);
	gparser_pool_flush();
	UT_DONE();
}
