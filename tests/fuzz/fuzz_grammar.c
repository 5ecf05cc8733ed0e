/*
 * libFuzzer target for the grammar engine (src/grammar): the SMTP-like
 * grammars of HAKA.md (f) are built once; each input is parsed twice,
 * as one chunk and cut in chunks, and both parses must give the same
 * elements, errors and chunked bytes ("test every split").
 *
 * Input: byte 0 selects the export (command, responses, data, or a
 * mixed grammar with try, union, numbers and PCRE tokens); bytes 1..8
 * are chunk sizes (1..256, reused in turn); the rest is the stream.
 * Elements are parsed one after the other until an error or the end.
 * Every chunk is its own malloc and is freed as soon as it is wholly
 * below gparser_pin(), so a read below the pin is caught by ASan.
 *
 * Standalone build:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -I include -I src tests/fuzz/fuzz_grammar.c src/grammar/g*.c \
 *     src/core/log.c -lpcre2-8 -o fuzz_grammar
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <haka/grammar.h>

#define FZ_MAX_CHUNKS 4096
#define FZ_OUT_MAX    (64 * 1024)

struct fz_in {
	uint8_t *chunk[FZ_MAX_CHUNKS]; /* NULL once released */
	size_t len[FZ_MAX_CHUNKS];
	uint64_t off[FZ_MAX_CHUNKS];
	size_t n, avail, freed;
};

/* The outcome of a parse, as text, for comparing two parses. */
struct fz_out {
	char s[FZ_OUT_MAX];
	size_t len;
	char verb[16];
	uint64_t next_off; /* chunked pieces must be contiguous */
	bool in_piece;
};

static struct grammar *G;
static const struct gnode *roots[4];

static void out_printf(struct fz_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
out_printf(struct fz_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len >= sizeof(o->s) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->s + o->len, sizeof(o->s) - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
	if (o->len > sizeof(o->s) - 1)
		o->len = sizeof(o->s) - 1;
}

static void
out_bytes(struct fz_out *o, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out_printf(o, "%02x", p[i]);
}

static void
out_result(struct fz_out *o, const struct gresult *r, int depth)
{
	const struct gresult *c;
	uint32_t n = 0;

	if (depth > 64)
		abort();
	out_printf(o, "%s:%d@%llu-%llu", r->name != NULL ? r->name : "",
	           (int)r->type, (unsigned long long)r->off,
	           (unsigned long long)r->end);
	switch (r->type) {
	case GV_STRING:
	case GV_BYTES:
		if (r->s != NULL) {
			if (r->s[r->len] != '\0' || r->end - r->off != r->len)
				abort();
			out_bytes(o, r->s, r->len);
		}
		break;
	case GV_NUMBER:
	case GV_BOOL:
		out_printf(o, "=%lld", (long long)r->num);
		break;
	case GV_RECORD:
	case GV_ARRAY:
		out_printf(o, "{");
		for (c = r->first; c != NULL; c = c->next, n++) {
			if (c->parent != r)
				abort();
			out_result(o, c, depth + 1);
			out_printf(o, ",");
		}
		if (n != r->count)
			abort();
		out_printf(o, "}");
		break;
	default:
		break;
	}
}

static const uint8_t *
fz_span(void *ctx, uint64_t off, size_t *len)
{
	struct fz_in *t = ctx;
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
	if (t->chunk[lo] == NULL)
		abort(); /* read below the pin */
	*len = t->len[lo] - (size_t)(off - t->off[lo]);
	return t->chunk[lo] + (off - t->off[lo]);
}

/* --- the grammars ----------------------------------------------------- */

static const char *
sel_verb(const struct gresult *rec, struct gctx *ctx)
{
	struct fz_out *o = ctx->user;
	const struct gresult *c = gresult_get(rec, "command");
	size_t i;

	if (c == NULL || c->len >= sizeof(o->verb))
		return NULL;
	for (i = 0; i < c->len; i++)
		o->verb[i] =
		    (char)(c->s[i] >= 'a' && c->s[i] <= 'z' ? c->s[i] - 32
		                                            : c->s[i]);
	o->verb[i] = '\0';
	return o->verb;
}

static bool
not_crlf(const struct gresult *rec, struct gctx *ctx)
{
	int c = gctx_lookahead(ctx);

	return c >= 0 && c != '\r' && c != '\n';
}

static bool
resp_last(const struct gresult *prev, struct gctx *ctx)
{
	const struct gresult *sep = gresult_get(prev, "sep");

	return sep != NULL && sep->s[0] == ' ';
}

static bool
more_items(const struct gresult *prev, struct gctx *ctx)
{
	return gctx_lookahead(ctx) == '+';
}

static int64_t
count_len(const struct gresult *rec, struct gctx *ctx)
{
	const struct gresult *n = gresult_get(rec, "len");

	return n != NULL ? n->num % 40 : 0;
}

static void
on_chunk(struct gctx *ctx, const uint8_t *p, size_t len, uint64_t off,
         bool last)
{
	struct fz_out *o = ctx->user;

	if (o->in_piece && off != o->next_off)
		abort();
	o->in_piece = !last;
	o->next_off = off + len;
	out_bytes(o, p, len);
	if (last)
		out_printf(o, "|last@%llu|", (unsigned long long)off);
}

static void
build(void)
{
	struct gnode *param, *crlf, *opt, *cmd, *resp, *resps, *data, *mix;
	char err[256];

	G = grammar_new("fuzz");
	param = g_record(G, "PARAM", g_token(G, "[[:blank:]]+"),
	                 g_field(G, "parameter", g_token(G, "[^%r%n]*")), NULL);
	crlf = g_token(G, "[%r]?[%n]");
	opt = g_optional(G, param, not_crlf);
	cmd = g_record(
	    G, "smtp_command",
	    g_field(G, "command", g_limit(g_token(G, "[[:alpha:]]+"), 64)),
	    g_default(g_branch(G, sel_verb, "HELO", param, "EHLO", param,
	                       "MAIL", param, "RCPT", param, "DATA", g_empty(G),
	                       "QUIT", g_empty(G), "RSET", g_empty(G), "HELP",
	                       opt, "NOOP", opt, NULL),
	              opt),
	    crlf, NULL);
	resp = g_record(
	    G, "smtp_response", g_field(G, "code", g_token(G, "[0-9]{3}")),
	    g_field(G, "sep", g_token(G, "[- ]")),
	    g_field(G, "parameter", g_limit(g_token(G, "[^%r%n]*"), 512)),
	    g_token(G, "[%r]?[%n]"), NULL);
	resps = g_field(G, "responses",
	                g_limit(g_untilcond(g_array(G, resp), resp_last), 50));
	data = g_record(
	    G, "smtp_data",
	    g_try(
	        G, g_record(G, "empty", g_token(G, "%.%r?%n"), NULL),
	        g_record(G, "body",
	                 g_field(G, "data",
	                         g_chunked(g_limit(g_untiltoken(g_bytes(G),
	                                                        "%r?%n%.%r?%n"),
	                                           4096),
	                                   on_chunk)),
	                 g_token(G, "%r?%n%.%r?%n"), NULL),
	        NULL),
	    NULL);
	mix = g_record(
	    G, "mix", g_field(G, "len", g_number(G, 6, false)),
	    g_field(G, "f", g_flag(G)), g_field(G, "x", g_number(G, 9, true)),
	    g_field(G, "raw", g_count_fn(g_bytes(G), count_len)),
	    g_try(G,
	          g_record(G, "t1", g_field(G, "a", g_token(G, "(ab|cd)+e")),
	                   NULL),
	          g_record(G, "t2", g_field(G, "b", g_token(G, "[a-z]+")),
	                   g_token(G, "!"), NULL),
	          g_fail(G, "neither"), NULL),
	    g_union(G, g_field(G, "u1", g_token(G, "[0-9]*")),
	            g_field(G, "u2", g_raw_token(G, "[0-9a-f]*")), NULL),
	    g_field(
	        G, "items",
	        g_limit(g_whilecond(
	                    g_array(G, g_record(G, "item", g_token(G, "%+"),
	                                        g_field(G, "it",
	                                                g_raw_token(
	                                                    G, "[^+;]{0,5}")),
	                                        NULL)),
	                    more_items),
	                20)),
	    g_token(G, ";"), NULL);
	grammar_export(G, "smtp_command", cmd);
	grammar_export(G, "smtp_responses", resps);
	grammar_export(G, "smtp_data", data);
	if (grammar_compile(G, err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "fuzz_grammar: %s\n", err);
		abort();
	}
	roots[0] = cmd;
	roots[1] = resps;
	roots[2] = data;
	roots[3] = mix;
}

/* Parse elements of t until an error or the end; the outcome in o. */
static void
parse_all(struct gparser *p, struct fz_in *t, struct fz_out *o)
{
	struct ginput in = {fz_span, t, 0, false};
	char ebuf[400];
	int rc, elems = 0;
	uint64_t pin;

	o->len = 0;
	o->in_piece = false;
	gparser_reset(p, 0);
	for (t->avail = 1;; t->avail++) {
		if (t->avail > t->n) {
			t->avail = t->n;
			in.eof = true;
		}
		in.end = t->avail == 0
		             ? 0
		             : t->off[t->avail - 1] + t->len[t->avail - 1];
		for (;;) {
			rc = gparser_run(p, &in);
			if (rc != HK_OK)
				break;
			out_printf(o, "\nOK ");
			out_result(o, gparser_result(p), 0);
			if (gparser_offset(p) > in.end)
				abort();
			/* an empty element would repeat forever */
			if (++elems > 1000 ||
			    gparser_offset(p) == gparser_result(p)->off) {
				rc = HK_ERR;
				goto done;
			}
			gparser_reset(p, gparser_offset(p));
		}
		if (rc == HK_ERR) {
			out_printf(o, "\nERR %s",
			           gparse_error_str(gparser_error(p), ebuf,
			                            sizeof(ebuf)));
			break;
		}
		if (in.eof)
			abort(); /* HK_AGAIN at the end of the input */
		pin = gparser_pin(p);
		if (pin > in.end)
			abort();
		while (t->freed < t->avail &&
		       t->off[t->freed] + t->len[t->freed] <= pin) {
			free(t->chunk[t->freed]);
			t->chunk[t->freed] = NULL;
			t->freed++;
		}
	}
done:
	return;
}

static void
fz_split(struct fz_in *t, const uint8_t *data, size_t size,
         const uint8_t *sizes, size_t nsizes)
{
	size_t off = 0, n, k = 0;

	memset(t, 0, sizeof(*t));
	while (off < size) {
		n = nsizes > 0 ? (size_t)sizes[k++ % nsizes] + 1 : size;
		if (n > size - off || t->n == FZ_MAX_CHUNKS - 1)
			n = size - off;
		t->chunk[t->n] = malloc(n);
		memcpy(t->chunk[t->n], data + off, n);
		t->len[t->n] = n;
		t->off[t->n] = off;
		t->n++;
		off += n;
	}
}

static void
fz_free(struct fz_in *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->chunk[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_in t1, t2;
	static struct fz_out o1, o2;
	struct gparser *p1, *p2;
	size_t nsizes;

	if (G == NULL)
		build();
	if (size < 1)
		return 0;
	nsizes = size - 1 < 8 ? size - 1 : 8;
	p1 = gparser_new(G, roots[data[0] % 4], &o1);
	p2 = gparser_new(G, roots[data[0] % 4], &o2);
	if (p1 == NULL || p2 == NULL)
		abort();
	fz_split(&t1, data + 1 + nsizes, size - 1 - nsizes, NULL, 0);
	fz_split(&t2, data + 1 + nsizes, size - 1 - nsizes, data + 1, nsizes);
	parse_all(p1, &t1, &o1);
	parse_all(p2, &t2, &o2);
	if (o1.len != o2.len || memcmp(o1.s, o2.s, o1.len) != 0) {
		fprintf(stderr, "whole:%.*s\nsplit:%.*s\n", (int)o1.len, o1.s,
		        (int)o2.len, o2.s);
		abort();
	}
	fz_free(&t1);
	fz_free(&t2);
	gparser_free(p1);
	gparser_free(p2);
	return 0;
}
