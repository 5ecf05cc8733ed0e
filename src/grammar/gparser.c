/*
 * The resumable parser of the grammar engine (CONVENTIONS.md section 7):
 * gparser_run walks a compiled grammar with an explicit frame stack
 * instead of recursion or coroutines. Called by dissectors (through the
 * state machine engine) and by tests.
 *
 *   frames[0]            frames[depth - 1]
 *   +--------+--------+  +--------+
 *   | root   | child  |..| top    |   one frame per node in progress:
 *   +--------+--------+  +--------+   {node, state, idx, start, rec, ...}
 *
 * Only the top frame reads input. When it needs a byte past in->end and
 * the input is not finished it returns HK_AGAIN with everything it needs
 * to go on saved in its frame (a simple token's item and count, a bytes
 * scan position, a PCRE token's flattened prefix in the parser's
 * scratch), and the next gparser_run steps the same frame again. A child
 * that completes leaves its value in p->ret for its parent, which is
 * re-stepped in its "after child" state.
 *
 * Values. A node's value is what its parent may keep: a token's string,
 * a number, a record or array built by the node. Records named by a
 * field, the elements of arrays and a root that is not a record create a
 * new GV_RECORD; other records (the root, a record inside a record)
 * add their fields to the enclosing record, as the original's unnamed
 * records do. Branch, optional, try and union pass their chosen child's
 * value through. Values nobody keeps (an unnamed token inside a record)
 * are not copied.
 *
 * Memory: results live in an arena of blocks, at most
 * GRAMMAR_DEFAULT_ARENA_MAX bytes per element, released by
 * gparser_reset; a try rolls the arena back to where it started when an
 * alternative fails. Callbacks are not rolled back, and a try cannot
 * backtrack over bytes already handed to a chunked callback: from the
 * first such call the try is committed to its current alternative.
 *
 * Pin: the lowest offset still needed is the reading position of the top
 * frame (a token's start, a bytes' start when its value is copied, else
 * the first byte not yet delivered or scanned) or the start of an open
 * try or union. Records need nothing: values are copied.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <haka/log.h>

#include "grammar/grammar_priv.h"

#define GP_BLOCK_MIN     2048
#define GP_BLOCK_MAX     (256u << 10)
#define GP_CONTEXT_BYTES 100 /* of input logged with a parse error */
#define GP_TRACE_BYTES   20  /* of input logged with a token */

enum gp_status { GP_FRESH = 0, GP_RUN, GP_DONE, GP_ERROR };

/* What a step asks the run loop to do. */
enum {
	ST_PUSH = 1, /* a child frame was pushed */
	ST_POP,      /* the frame is done; its value is in p->ret */
	ST_STAY,     /* step the same frame again */
	ST_FAIL,     /* parse error in p->err */
	ST_AGAIN = HK_AGAIN,
};

/* Modes of a bytes frame (its state once started). */
enum { BY_COUNT = 1, BY_UNTIL, BY_EOF };

/* States of a try frame. */
enum { TRY_NEXT = 1, TRY_OPEN, TRY_COMMITTED };

struct gp_block {
	struct gp_block *next;
	size_t cap, used;
	unsigned char data[];
};

struct gp_mark {
	struct gp_block *blk;
	size_t used, total;
};

struct gframe {
	const struct gnode *node;
	struct gresult *rec;  /* where named fields of children go */
	struct gresult *res;  /* record or array built here; union value */
	struct gresult *prev; /* array: the previous element */
	uint64_t start;       /* offset where the node started */
	/*
	 * token: a = next byte to feed (simple), b = bytes flattened (PCRE)
	 * bytes: a = end (count) or flattened candidate (until), b = scan
	 *        position, c = bytes delivered / no longer needed
	 * union: a = furthest offset
	 */
	uint64_t a, b, c;
	struct gp_mark mark;      /* try */
	struct gresult *rec_last; /* try: rec's last field before */
	uint32_t rec_count;
	uint32_t idx; /* child, element or alternative; until: flattened */
	struct gsm_state sm;
	uint8_t state;
	uint8_t want; /* the parent keeps this node's value */
	uint8_t bit0; /* bit offset at start */
	uint8_t bit1; /* union: furthest bit offset */
};

struct gparser {
	const struct grammar *g;
	const struct gnode *root;
	void *user;
	enum gp_status status;
	int depth;
	int committed;     /* frames below hold no open try (gp_commit) */
	uint64_t start;    /* of the element */
	uint64_t pos;      /* next byte */
	uint8_t bit;       /* bits of pos already used */
	uint64_t seen_end; /* highest in->end seen for this element */
	struct gresult *top;
	struct gresult *result;
	struct gresult *ret;     /* value of the frame just popped */
	const struct ginput *in; /* during gparser_run only */
	bool la_again;           /* gctx_lookahead answered -2 */
	bool dbg;
	struct gp_block *afirst, *acur;
	size_t atotal;
	uint64_t *memctr; /* gparser_set_counter's, or NULL */
	uint8_t *scratch;
	size_t scratch_cap;
	pcre2_match_data *md;
	struct gparse_error err;
	char errfield[24];
	unsigned frames_cap; /* the grammar's frames_max, or more */
	struct gframe frames[];
};

/* --- arena ----------------------------------------------------------- */

static struct gp_block *
gp_block_new(size_t cap)
{
	struct gp_block *b;

	b = malloc(sizeof(*b) + cap);
	if (b == NULL)
		return NULL;
	b->next = NULL;
	b->cap = cap;
	b->used = 0;
	return b;
}

static void
gp_mark(const struct gparser *p, struct gp_mark *m)
{
	m->blk = p->acur;
	m->used = p->acur->used;
	m->total = p->atotal;
}

static void
gp_restore(struct gparser *p, const struct gp_mark *m)
{
	struct gp_block *b, *next;

	for (b = m->blk->next; b != NULL; b = next) {
		next = b->next;
		if (p->memctr != NULL)
			*p->memctr -= sizeof(*b) + b->cap;
		free(b);
	}
	m->blk->next = NULL;
	m->blk->used = m->used;
	p->acur = m->blk;
	p->atotal = m->total;
}

/* A new current block with room for size bytes (the arena grows). */
__attribute__((cold, noinline)) static struct gp_block *
gp_grow(struct gparser *p, size_t size)
{
	struct gp_block *nb;
	size_t cap = p->acur->cap * 2;

	if (cap > GP_BLOCK_MAX)
		cap = GP_BLOCK_MAX;
	if (cap < size)
		cap = size;
	nb = gp_block_new(cap);
	if (nb == NULL)
		return NULL;
	if (p->memctr != NULL)
		*p->memctr += sizeof(*nb) + cap;
	p->acur->next = nb;
	p->acur = nb;
	return nb;
}

/*
 * size bytes for this element, not initialised, or NULL past the arena
 * limit.
 */
static void *
gp_alloc_raw(struct gparser *p, size_t size)
{
	struct gp_block *b = p->acur;
	void *r;

	size = (size + 7) & ~(size_t)7;
	if (size > GRAMMAR_DEFAULT_ARENA_MAX - p->atotal)
		return NULL;
	if (b->cap - b->used < size && (b = gp_grow(p, size)) == NULL)
		return NULL;
	r = b->data + b->used;
	b->used += size;
	p->atotal += size;
	return r;
}

/* Zeroed memory for this element, or NULL past the arena limit. */
static void *
gp_alloc(struct gparser *p, size_t size)
{
	void *r = gp_alloc_raw(p, size);

	if (r != NULL)
		memset(r, 0, size);
	return r;
}

static struct gresult *
gp_value(struct gparser *p, enum gval_type type, uint64_t off, uint64_t end)
{
	struct gresult *r;

	r = gp_alloc(p, sizeof(*r));
	if (r != NULL) {
		r->type = type;
		r->off = off;
		r->end = end;
	}
	return r;
}

/*
 * A GV_STRING or GV_BYTES value of [off, off + len) with room for its
 * len bytes and a NUL right after it (one allocation; the caller fills
 * r->s[0, len)), or NULL.
 */
static struct gresult *
gp_bytes_value(struct gparser *p, enum gval_type type, uint64_t off,
               uint64_t len)
{
	struct gresult *r;
	uint8_t *s;

	if (len >= GRAMMAR_DEFAULT_ARENA_MAX)
		return NULL;
	r = gp_alloc_raw(p, sizeof(*r) + (size_t)len + 1);
	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->off = off;
	r->end = off + len;
	s = (uint8_t *)(r + 1);
	s[len] = '\0';
	r->s = s;
	r->len = (uint32_t)len;
	return r;
}

static void
gp_attach(struct gresult *parent, struct gresult *r)
{
	r->parent = parent;
	r->next = NULL;
	if (parent->last != NULL)
		parent->last->next = r;
	else
		parent->first = r;
	parent->last = r;
	parent->count++;
}

/* --- input ----------------------------------------------------------- */

/* Bytes at off (at most up to in->end), or NULL at the end. */
static const uint8_t *
gp_span(struct gparser *p, uint64_t off, size_t *len)
{
	const struct ginput *in = p->in;
	const uint8_t *s;

	if (off >= in->end)
		return NULL;
	*len = 0;
	s = in->span(in->ctx, off, len);
	if (s == NULL || *len == 0)
		return NULL; /* the caller released pinned bytes */
	if (*len > in->end - off)
		*len = (size_t)(in->end - off);
	return s;
}

/* Copy [off, off + len) out of the input; false if it is not there. */
static bool
gp_copy(struct gparser *p, uint64_t off, size_t len, uint8_t *dst)
{
	const uint8_t *s;
	size_t n;

	while (len > 0) {
		s = gp_span(p, off, &n);
		if (s == NULL)
			return false;
		if (n > len)
			n = len;
		memcpy(dst, s, n);
		dst += n;
		off += n;
		len -= n;
	}
	return true;
}

/* A GV_STRING or GV_BYTES value holding a copy of [off, off + len). */
static struct gresult *
gp_copy_value(struct gparser *p, enum gval_type type, uint64_t off,
              uint64_t len)
{
	struct gresult *r;

	r = gp_bytes_value(p, type, off, len);
	if (r == NULL || !gp_copy(p, off, (size_t)len, (uint8_t *)r->s))
		return NULL;
	return r;
}

/* Printable excerpt of the input at off, non-printables as \xHH. */
static void
gp_excerpt(struct gparser *p, uint64_t off, size_t max, char *buf,
           size_t buflen)
{
	const uint8_t *s;
	size_t n, i, o = 0;

	buf[0] = '\0';
	while (max > 0 && (s = gp_span(p, off, &n)) != NULL) {
		if (n > max)
			n = max;
		for (i = 0; i < n && o + 5 < buflen; i++) {
			if (s[i] >= 0x20 && s[i] < 0x7f)
				buf[o++] = (char)s[i];
			else
				o += (size_t)snprintf(buf + o, buflen - o,
				                      "\\x%02x", s[i]);
		}
		buf[o] = '\0';
		off += n;
		max -= n;
	}
}

/* --- errors ---------------------------------------------------------- */

/*
 * The innermost record (or sequence) with a child in progress names the
 * error: "field <child's 1-based position> in <rule>", as the original
 * prints it ("field 3 in cmd"). The original names an invalid branch
 * case differently ("field cmd in <unknown>"); case_quirk reproduces it.
 */
static void
gp_where(struct gparser *p, const char **field, const char **rule,
         bool case_quirk)
{
	const struct gframe *f;
	int i;

	*field = "<unknown>";
	*rule = "<unknown>";
	for (i = p->depth - 1; i >= 0; i--) {
		f = &p->frames[i];
		if ((f->node->kind == GN_RECORD ||
		     f->node->kind == GN_SEQUENCE) &&
		    f->state == 1 && f->idx > 0)
			break;
	}
	if (i < 0)
		return;
	if (case_quirk) {
		if (f->node->rule != NULL)
			*field = f->node->rule;
		return;
	}
	snprintf(p->errfield, sizeof(p->errfield), "%" PRIu32, f->idx);
	*field = p->errfield;
	if (f->node->rule != NULL)
		*rule = f->node->rule;
}

static int gp_fail(struct gparser *p, bool case_quirk, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Will a failure now be taken back by a try (an open alternative on the
 * stack, as gp_unwind looks for)? Then nobody reads the message: a DATA
 * element tries ".\r\n" first and fails it once per mail.
 */
static bool
gp_in_try(const struct gparser *p)
{
	int i;

	for (i = p->depth - 1; i >= 0; i--)
		if (p->frames[i].node->kind == GN_TRY &&
		    p->frames[i].state == TRY_OPEN)
			return true;
	return false;
}

static int
gp_fail(struct gparser *p, bool case_quirk, const char *fmt, ...)
{
	va_list ap;

	if (gp_in_try(p))
		return ST_FAIL;
	va_start(ap, fmt);
	vsnprintf(p->err.description, sizeof(p->err.description), fmt, ap);
	va_end(ap);
	p->err.position = p->pos;
	p->err.start = p->start;
	gp_where(p, &p->err.field, &p->err.rule, case_quirk);
	return ST_FAIL;
}

static int
gp_oom(struct gparser *p)
{
	return gp_fail(p, false, "result memory exhausted (%u bytes)",
	               (unsigned)GRAMMAR_DEFAULT_ARENA_MAX);
}

/* --- frames ---------------------------------------------------------- */

static int
gp_push(struct gparser *p, const struct gnode *n, bool want,
        struct gresult *rec)
{
	struct gframe *f;

	if (p->depth == (int)p->frames_cap)
		return gp_fail(p, false, "grammar nesting deeper than %u",
		               p->frames_cap);
	f = &p->frames[p->depth++];
	memset(f, 0, sizeof(*f));
	f->node = n;
	f->want = want;
	f->rec = rec;
	f->start = p->pos;
	f->bit0 = p->bit;
	return ST_PUSH;
}

static struct gctx
gp_ctx(struct gparser *p, struct gframe *f)
{
	struct gctx c = {p, p->user, f->rec};

	return c;
}

static int
gp_pop(struct gparser *p, struct gresult *v)
{
	p->ret = v;
	return ST_POP;
}

/* --- steps ----------------------------------------------------------- */

static int
gp_record(struct gparser *p, struct gframe *f)
{
	const struct gnode *n = f->node;

	if (f->state == 0) {
		if (f->want && n->kind == GN_RECORD) {
			f->res = gp_value(p, GV_RECORD, p->pos, p->pos);
			if (f->res == NULL)
				return gp_oom(p);
			f->rec = f->res;
		}
		f->state = 1;
	}
	if (f->idx == n->nchild) {
		if (f->res != NULL)
			f->res->end = p->pos;
		return gp_pop(p, f->res);
	}
	return gp_push(p, n->child[f->idx++], false, f->rec);
}

static int
gp_field(struct gparser *p, struct gframe *f)
{
	struct gresult *v;

	if (f->state == 0) {
		f->state = 1;
		return gp_push(p, f->node->child[0], true, f->rec);
	}
	v = p->ret;
	if (v != NULL) {
		v->name = f->node->name;
		gp_attach(f->rec, v);
	}
	return gp_pop(p, NULL);
}

/* Simple token: feed bytes from f->a on, resuming the item state. */
static int
gp_tok_simple(struct gparser *p, struct gframe *f, uint64_t *len)
{
	const struct gtoken *t = f->node->tok;
	uint64_t cap = f->start + (uint64_t)f->node->limit + 1;
	const uint8_t *s;
	size_t n, used;
	int rc;

	for (;;) {
		if (f->a >= cap)
			return GT_TOOLONG;
		s = gp_span(p, f->a, &n);
		if (s == NULL) {
			if (!p->in->eof)
				return GT_MORE;
			*len = f->a - f->start;
			return gtoken_sm_finish(t, &f->sm) ? GT_MATCH
			                                   : GT_NOMATCH;
		}
		if (n > cap - f->a)
			n = (size_t)(cap - f->a);
		rc = gtoken_sm_feed(t, &f->sm, s, n, &used);
		if (rc == GT_MATCH) {
			*len = f->a + used - f->start;
			return *len > f->node->limit ? GT_TOOLONG : GT_MATCH;
		}
		if (rc != GT_MORE)
			return rc;
		f->a += n;
	}
}

/*
 * PCRE2 on the bytes from 'at' (at most max of them): in place when they
 * are contiguous, else flattened into the scratch, whose first *have
 * bytes are already there from an earlier call.
 */
static int
gp_pcre_at(struct gparser *p, const struct gtoken *t, uint64_t at, size_t max,
           uint64_t *have, uint64_t *len)
{
	const uint8_t *s, *subj;
	size_t n, avail, mlen = 0;
	bool partial;
	int rc;

	avail = p->in->end - at < max ? (size_t)(p->in->end - at) : max;
	if (avail == 0 && !p->in->eof)
		return GT_MORE;
	s = gp_span(p, at, &n);
	if (s != NULL && n >= avail)
		subj = s;
	else {
		if (avail > p->g->scratch_max)
			return GT_LIMIT;
		if (p->scratch == NULL) {
			/* Most parsers never flatten: the scratch is lazy. */
			p->scratch = malloc(p->g->scratch_max);
			if (p->scratch == NULL)
				return GT_LIMIT;
			p->scratch_cap = p->g->scratch_max;
			if (p->memctr != NULL)
				*p->memctr += p->scratch_cap;
		}
		if (*have < avail &&
		    !gp_copy(p, at + *have, avail - (size_t)*have,
		             p->scratch + *have))
			return GT_LIMIT;
		*have = avail;
		subj = p->scratch;
	}
	/* with max bytes the match can be no longer: partial means too long */
	partial = !(p->in->eof && avail < max);
	rc = gtoken_pcre_match(t, p->g, p->md, subj, avail, partial, &mlen);
	if (rc == GT_MORE && avail == max)
		return GT_TOOLONG;
	if (rc == GT_MATCH && mlen >= max)
		return GT_TOOLONG;
	*len = mlen;
	return rc;
}

static void
gp_trace_token(struct gparser *p, struct gframe *f)
{
	const char *field, *rule;
	char ctx[GP_TRACE_BYTES * 4 + 1];

	gp_where(p, &field, &rule, false);
	gp_excerpt(p, f->start, GP_TRACE_BYTES, ctx, sizeof(ctx));
	hk_log(LOG_DEBUG, "grammar",
	       "in rule '%s' field '%s': parsing token /%s/\n\tat byte %" PRIu64
	       ": %s...",
	       rule, field, f->node->re, f->start - p->start, ctx);
}

static int
gp_token(struct gparser *p, struct gframe *f)
{
	const struct gnode *n = f->node;
	struct gresult *v = NULL;
	uint64_t len = 0;
	int rc;

	if (f->state == 0) {
		if (p->bit != 0)
			return gp_fail(p, false,
			               "token /%s/ is not byte aligned", n->re);
		f->a = p->pos;
		f->state = 1;
		if (p->dbg)
			gp_trace_token(p, f);
	}
	if (n->tok->simple)
		rc = gp_tok_simple(p, f, &len);
	else
		rc = gp_pcre_at(p, n->tok, f->start, (size_t)n->limit + 1,
		                &f->b, &len);
	switch (rc) {
	case GT_MATCH:
		break;
	case GT_MORE:
		return ST_AGAIN;
	case GT_TOOLONG:
		return gp_fail(p, false,
		               "token /%s/ longer than %" PRIu32 " bytes",
		               n->re, n->limit);
	case GT_LIMIT:
		return gp_fail(p, false, "token /%s/: match limit exceeded",
		               n->re);
	default:
		return gp_fail(p, false, "token /%s/ doesn't match", n->re);
	}
	if (f->want) {
		v = gp_copy_value(p, n->kind == GN_TOKEN ? GV_STRING : GV_BYTES,
		                  f->start, len);
		if (v == NULL)
			return gp_oom(p);
	}
	p->pos = f->start + len;
	return gp_pop(p, v);
}

/*
 * Bytes handed to a chunked callback cannot be taken back: every try
 * around the frame is committed to its current alternative (a later
 * failure goes past it) and stops pinning its start, so that a long
 * DATA body inside a try is not kept in memory.
 */
static void
gp_commit(struct gparser *p)
{
	int i;

	/*
	 * Only the frames from p->committed up can hold an open try: gp_try
	 * lowers it to the try's frame whenever a try opens a case.
	 */
	for (i = p->committed; i < p->depth; i++)
		if (p->frames[i].node->kind == GN_TRY &&
		    p->frames[i].state == TRY_OPEN)
			p->frames[i].state = TRY_COMMITTED;
	p->committed = p->depth;
}

/* Hand [f->c, upto) to the chunked callback, span by span. */
static void
gp_deliver(struct gparser *p, struct gframe *f, uint64_t upto)
{
	const gchunk_fn fn = f->node->chunk_fn;
	struct gctx ctx;
	const uint8_t *s;
	size_t n;

	if (fn == NULL) {
		if (upto > f->c)
			f->c = upto;
		return;
	}
	ctx = gp_ctx(p, f);
	while (f->c < upto && (s = gp_span(p, f->c, &n)) != NULL) {
		if (n > upto - f->c)
			n = (size_t)(upto - f->c);
		gp_commit(p);
		fn(&ctx, s, n, f->c, false);
		f->c += n;
	}
}

static bool
gp_bytes_copied(const struct gframe *f)
{
	return f->want && f->node->chunk_fn == NULL;
}

static int
gp_bytes_end(struct gparser *p, struct gframe *f, uint64_t end)
{
	const struct gnode *n = f->node;
	struct gresult *v = NULL;
	struct gctx ctx;

	gp_deliver(p, f, end);
	if (n->chunk_fn != NULL) {
		ctx = gp_ctx(p, f);
		gp_commit(p);
		n->chunk_fn(&ctx, (const uint8_t *)"", 0, end, true);
	}
	if (f->want) {
		if (n->chunk_fn != NULL) {
			v = gp_value(p, GV_BYTES, f->start, end);
			if (v != NULL)
				v->len = end - f->start > UINT32_MAX
				             ? UINT32_MAX
				             : (uint32_t)(end - f->start);
		} else
			v = gp_copy_value(p, GV_BYTES, f->start,
			                  end - f->start);
		if (v == NULL)
			return gp_oom(p);
	}
	p->pos = end;
	return gp_pop(p, v);
}

/*
 * Does the untiltoken delimiter match at cpos? c/clen: the bytes from
 * cpos in the current span. A delimiter longer than
 * GRAMMAR_DEFAULT_TOKEN_MAX does not match.
 */
static int
gp_until_try(struct gparser *p, struct gframe *f, uint64_t cpos,
             const uint8_t *c, size_t clen)
{
	const struct gtoken *t = f->node->tok;
	const size_t max = GRAMMAR_DEFAULT_TOKEN_MAX + 1;
	struct gsm_state st = {0, 0};
	uint64_t at, len, have;
	size_t used;
	int rc;

	if (t->litlen > 1) {
		/* a literal: compared span by span */
		for (at = 0;;) {
			if (clen > t->litlen - at)
				clen = (size_t)(t->litlen - at);
			if (memcmp(c, t->lit + at, clen) != 0)
				return GT_NOMATCH;
			at += clen;
			if (at == t->litlen)
				return GT_MATCH;
			c = gp_span(p, cpos + at, &clen);
			if (c == NULL)
				return p->in->eof ? GT_NOMATCH : GT_MORE;
		}
	}
	if (t->simple) {
		at = cpos;
		for (;;) {
			if (clen > cpos + max - at)
				clen = (size_t)(cpos + max - at);
			rc = gtoken_sm_feed(t, &st, c, clen, &used);
			if (rc != GT_MORE)
				return rc;
			at += clen;
			if (at >= cpos + max)
				return GT_NOMATCH;
			c = gp_span(p, at, &clen);
			if (c == NULL) {
				if (!p->in->eof)
					return GT_MORE;
				return gtoken_sm_finish(t, &st) ? GT_MATCH
				                                : GT_NOMATCH;
			}
		}
	}
	/* the flattened prefix in the scratch belongs to candidate f->a */
	have = f->a == cpos ? f->idx : 0;
	rc = gp_pcre_at(p, t, cpos, max, &have, &len);
	f->a = cpos;
	f->idx = (uint32_t)have;
	return rc == GT_TOOLONG ? GT_NOMATCH : rc;
}

/*
 * First occurrence of a literal delimiter: memchr for its rarest byte
 * (the one chosen at compile time, e.g. the '.' of "\r\n.\r\n", absent
 * from base64 bodies), then a comparison around it. glibc's memmem is
 * several times slower on such short needles.
 */
static const uint8_t *
lit_search(const uint8_t *s, size_t len, const struct gtoken *t)
{
	const uint8_t *e = s + len, *c;
	unsigned k = t->litkey;

	if (len < t->litlen)
		return NULL;
	for (c = s + k; c < e && (c = memchr(c, t->lit[k], (size_t)(e - c)));
	     c++) {
		if (c + (t->litlen - k) <= e &&
		    memcmp(c - k, t->lit, t->litlen) == 0)
			return c - k;
	}
	return NULL;
}

/*
 * untiltoken: scan for the first position where the delimiter matches;
 * the bytes before a candidate are data and can be delivered at once.
 */
static int
gp_until(struct gparser *p, struct gframe *f)
{
	const struct gnode *n = f->node;
	const uint64_t lim_end = f->start + n->limit;
	const uint8_t *s, *e, *q, *c;
	uint64_t cpos;
	size_t len;
	int rc;

	for (;;) {
		if (f->b > lim_end)
			return gp_fail(p, false,
			               "bytes longer than %" PRIu32 " bytes",
			               n->limit);
		s = gp_span(p, f->b, &len);
		if (s == NULL) {
			if (!p->in->eof) {
				gp_deliver(p, f, f->b);
				return ST_AGAIN;
			}
			/* at the end only an empty match is possible */
			rc = gp_until_try(p, f, f->b, (const uint8_t *)"", 0);
			if (rc == GT_LIMIT)
				goto limit;
			return gp_bytes_end(p, f, f->b);
		}
		if (len > lim_end + 1 - f->b)
			len = (size_t)(lim_end + 1 - f->b);
		e = s + len;
		q = s;
		if (n->tok->litlen > 1) {
			/*
			 * A literal delimiter (SMTP's "\r\n.\r\n"): memmem
			 * skips the lines; only a match that may run past
			 * the span goes through the candidates below.
			 */
			const uint8_t *hit = lit_search(s, len, n->tok);

			if (hit != NULL)
				return gp_bytes_end(p, f,
				                    f->b + (uint64_t)(hit - s));
			if (len >= n->tok->litlen)
				q = e - (n->tok->litlen - 1);
		}
		for (; (c = gtoken_scan(n->tok, q, e)) < e; q = c + 1) {
			cpos = f->b + (uint64_t)(c - s);
			rc = gp_until_try(p, f, cpos, c, (size_t)(e - c));
			switch (rc) {
			case GT_MATCH:
				return gp_bytes_end(p, f, cpos);
			case GT_MORE:
				f->b = cpos;
				gp_deliver(p, f, cpos);
				return ST_AGAIN;
			case GT_LIMIT:
				f->b = cpos;
				goto limit;
			default:
				break;
			}
		}
		f->b += len;
		gp_deliver(p, f, f->b);
	}
limit:
	return gp_fail(p, false, "token /%s/: match limit exceeded", n->re);
}

/*
 * The count of a bytes or array node with one (constant or computed from
 * the record): HK_OK and *out, ST_AGAIN when the count function asked for
 * a byte not there yet, or ST_FAIL past the node's limit.
 */
static int
gp_count(struct gparser *p, const struct gnode *n, struct gresult *rec,
         const char *what, uint64_t *out)
{
	struct gctx ctx = {p, p->user, rec};
	int64_t count;

	if (n->has_count)
		count = n->count;
	else {
		p->la_again = false;
		count = n->count_fn(rec, &ctx);
		if (p->la_again)
			return ST_AGAIN;
	}
	if (count < 0 || count > (int64_t)n->limit)
		return gp_fail(p, false,
		               "invalid %s count %" PRId64 " (limit %" PRIu32
		               ")",
		               what, count, n->limit);
	*out = (uint64_t)count;
	return HK_OK;
}

/*
 * Whether an array stops before element idx (count elements at most, the
 * previous one prev): HK_OK and *stop, or ST_AGAIN when a condition asked
 * for a byte not there yet.
 */
static int
gp_array_stop(struct gparser *p, const struct gnode *n, uint64_t idx,
              uint64_t count, const struct gresult *prev, struct gresult *rec,
              bool *stop)
{
	struct gctx ctx = {p, p->user, rec};

	p->la_again = false;
	*stop = idx >= count || (n->cond != NULL && n->cond(prev, &ctx)) ||
	        (n->wcond != NULL && !n->wcond(prev, &ctx));
	return p->la_again ? ST_AGAIN : HK_OK;
}

/* The node of the branch case named key, or NULL. */
static const struct gnode *
gp_case(const struct gnode *n, const char *key)
{
	unsigned i;

	for (i = 0; key != NULL && i < n->ncases; i++)
		if (strcmp(n->cases[i].key, key) == 0)
			return n->cases[i].node;
	return NULL;
}

static int
gp_bytes(struct gparser *p, struct gframe *f)
{
	const struct gnode *n = f->node;
	uint64_t count, upto;
	int rc;

	if (f->state == 0) {
		if (p->bit != 0)
			return gp_fail(p, false, "bytes are not byte aligned");
		f->b = f->c = p->pos;
		if (n->has_count || n->count_fn != NULL) {
			rc = gp_count(p, n, f->rec, "bytes", &count);
			if (rc != HK_OK)
				return rc;
			f->a = f->start + count;
			f->state = BY_COUNT;
		} else
			f->state = n->tok != NULL ? BY_UNTIL : BY_EOF;
	}
	switch (f->state) {
	case BY_COUNT:
		upto = p->in->end < f->a ? p->in->end : f->a;
		gp_deliver(p, f, upto);
		if (upto == f->a)
			return gp_bytes_end(p, f, f->a);
		if (p->in->eof)
			return gp_fail(p, false,
			               "end of input before the %" PRIu64
			               " bytes",
			               f->a - f->start);
		return ST_AGAIN;
	case BY_UNTIL:
		return gp_until(p, f);
	default:
		if (p->in->end - f->start > n->limit)
			return gp_fail(p, false,
			               "bytes longer than %" PRIu32 " bytes",
			               n->limit);
		gp_deliver(p, f, p->in->end);
		if (p->in->eof)
			return gp_bytes_end(p, f, p->in->end);
		return ST_AGAIN;
	}
}

static int
gp_array(struct gparser *p, struct gframe *f)
{
	const struct gnode *n = f->node;
	struct gresult *v;
	bool stop;
	int rc;

	switch (f->state) {
	case 0:
		f->a = UINT64_MAX;
		if (n->has_count || n->count_fn != NULL) {
			rc = gp_count(p, n, f->rec, "array", &f->a);
			if (rc != HK_OK)
				return rc;
		}
		f->res = gp_value(p, GV_ARRAY, p->pos, p->pos);
		if (f->res == NULL)
			return gp_oom(p);
		f->state = 1;
		/* FALLTHROUGH */
	case 1:
		/* a condition asked for a byte not there yet: ask again */
		if (gp_array_stop(p, n, f->idx, f->a, f->prev, f->rec, &stop) !=
		    HK_OK)
			return ST_AGAIN;
		if (stop) {
			f->res->end = p->pos;
			return gp_pop(p, f->want ? f->res : NULL);
		}
		if (f->idx >= n->limit)
			return gp_fail(p, false,
			               "array longer than %" PRIu32 " elements",
			               n->limit);
		f->state = 2;
		return gp_push(p, n->child[0], true, f->rec);
	default:
		v = p->ret;
		if (v == NULL) {
			v = gp_value(p, GV_NONE, p->pos, p->pos);
			if (v == NULL)
				return gp_oom(p);
		}
		gp_attach(f->res, v);
		f->prev = v;
		f->idx++;
		f->state = 1;
		return ST_STAY;
	}
}

static int
gp_branch(struct gparser *p, struct gframe *f)
{
	const struct gnode *n = f->node, *target = NULL;
	struct gctx ctx;
	const char *key;

	if (f->state == 1)
		return ST_POP; /* the case's value passes through */
	ctx = gp_ctx(p, f);
	p->la_again = false;
	key = n->sel(f->rec, &ctx);
	if (p->la_again)
		return ST_AGAIN;
	target = gp_case(n, key);
	if (target == NULL) {
		if (n->def == G_CONTINUE)
			return gp_pop(p, NULL);
		if (n->def == NULL)
			return gp_fail(p, true, "invalid case");
		target = n->def;
	}
	f->state = 1;
	return gp_push(p, target, f->want, f->rec);
}

static int
gp_optional(struct gparser *p, struct gframe *f)
{
	struct gctx ctx;
	bool present;

	if (f->state == 1)
		return ST_POP;
	ctx = gp_ctx(p, f);
	p->la_again = false;
	present = f->node->cond(f->rec, &ctx);
	/* the predicate asked for a byte not there yet: ask again later */
	if (p->la_again)
		return ST_AGAIN;
	if (!present)
		return gp_pop(p, NULL);
	f->state = 1;
	return gp_push(p, f->node->child[0], f->want, f->rec);
}

static int
gp_try(struct gparser *p, struct gframe *f)
{
	const struct gnode *n = f->node;

	switch (f->state) {
	case 0:
		gp_mark(p, &f->mark);
		f->rec_last = f->rec->last;
		f->rec_count = f->rec->count;
		f->state = TRY_NEXT;
		/* FALLTHROUGH */
	case TRY_NEXT:
		if (f->idx == n->nchild)
			return gp_fail(p, false,
			               "cannot find a successful try case");
		f->state = TRY_OPEN;
		/* f is the top frame (see gp_commit) */
		if (p->committed > p->depth - 1)
			p->committed = p->depth - 1;
		return gp_push(p, n->child[f->idx++], f->want, f->rec);
	default:
		return ST_POP; /* the alternative's value passes through */
	}
}

/* Back to the start of a try after its alternative failed. */
static void
gp_try_rollback(struct gparser *p, struct gframe *f)
{
	p->pos = f->start;
	p->bit = f->bit0;
	gp_restore(p, &f->mark);
	f->rec->last = f->rec_last;
	f->rec->count = f->rec_count;
	if (f->rec_last != NULL)
		f->rec_last->next = NULL;
	else
		f->rec->first = NULL;
	f->state = TRY_NEXT;
}

static int
gp_union(struct gparser *p, struct gframe *f)
{
	const struct gnode *n = f->node;

	switch (f->state) {
	case 0:
		f->a = p->pos;
		f->bit1 = p->bit;
		f->state = 1;
		/* FALLTHROUGH */
	case 1:
		if (f->idx == n->nchild) {
			p->pos = f->a;
			p->bit = f->bit1;
			return gp_pop(p, f->res);
		}
		p->pos = f->start;
		p->bit = f->bit0;
		f->state = 2;
		return gp_push(p, n->child[f->idx++], f->want, f->rec);
	default:
		if (p->pos > f->a || (p->pos == f->a && p->bit > f->bit1)) {
			f->a = p->pos;
			f->bit1 = p->bit;
		}
		if (p->ret != NULL)
			f->res = p->ret;
		f->state = 1;
		return ST_STAY;
	}
}

/*
 * number(bits): big endian reads the bits from the most significant bit
 * of the current byte on; little endian takes the bytes as a little
 * endian integer and the bits from its least significant bit on.
 */
static int
gp_number(struct gparser *p, struct gframe *f)
{
	const struct gnode *n = f->node;
	unsigned total = p->bit + (unsigned)n->bits;
	unsigned nbytes = (total + 7) / 8, i;
	unsigned __int128 v = 0;
	uint64_t x, mask;
	struct gresult *r = NULL;
	uint8_t buf[9];

	if (p->in->end - p->pos < nbytes) {
		if (!p->in->eof)
			return ST_AGAIN;
		return gp_fail(p, false, "end of input in a %d-bit number",
		               n->bits);
	}
	if (!gp_copy(p, p->pos, nbytes, buf))
		return gp_fail(p, false, "input not available");
	if (n->little) {
		for (i = nbytes; i-- > 0;)
			v = (v << 8) | buf[i];
		v >>= p->bit;
	} else {
		for (i = 0; i < nbytes; i++)
			v = (v << 8) | buf[i];
		v >>= 8 * nbytes - total;
	}
	mask = n->bits == 64 ? UINT64_MAX : ((uint64_t)1 << n->bits) - 1;
	x = (uint64_t)v & mask;
	if (f->want) {
		r = gp_value(p, n->kind == GN_FLAG ? GV_BOOL : GV_NUMBER,
		             p->pos, p->pos + nbytes);
		if (r == NULL)
			return gp_oom(p);
		r->num = n->kind == GN_FLAG ? (x != 0) : (int64_t)x;
	}
	p->pos += total / 8;
	p->bit = total % 8;
	return gp_pop(p, r);
}

static int
gp_step(struct gparser *p, struct gframe *f)
{
	struct gctx ctx;
	bool ok;

	switch (f->node->kind) {
	case GN_RECORD:
	case GN_SEQUENCE:
		return gp_record(p, f);
	case GN_FIELD:
		return gp_field(p, f);
	case GN_TOKEN:
	case GN_RAW_TOKEN:
		return gp_token(p, f);
	case GN_BYTES:
		return gp_bytes(p, f);
	case GN_ARRAY:
		return gp_array(p, f);
	case GN_BRANCH:
		return gp_branch(p, f);
	case GN_OPTIONAL:
		return gp_optional(p, f);
	case GN_UNION:
		return gp_union(p, f);
	case GN_TRY:
		return gp_try(p, f);
	case GN_NUMBER:
	case GN_FLAG:
		return gp_number(p, f);
	case GN_EMPTY:
		return gp_pop(p, NULL);
	case GN_FAIL:
		return gp_fail(p, false, "%s", f->node->msg);
	case GN_VERIFY:
		ctx = gp_ctx(p, f);
		p->la_again = false;
		ok = f->node->cond(f->rec, &ctx);
		if (p->la_again)
			return ST_AGAIN;
		if (!ok)
			return gp_fail(p, false, "%s", f->node->msg);
		return gp_pop(p, NULL);
	case GN_EXECUTE:
		ctx = gp_ctx(p, f);
		f->node->exec(f->rec, &ctx);
		return gp_pop(p, NULL);
	default:
		return gp_fail(p, false, "unknown node kind %d",
		               (int)f->node->kind);
	}
}

/* Unwind to the innermost try with an alternative left; false if none. */
static bool
gp_unwind(struct gparser *p)
{
	struct gframe *f;

	while (p->depth > 0) {
		f = &p->frames[p->depth - 1];
		if (f->node->kind == GN_TRY && f->state == TRY_OPEN) {
			gp_try_rollback(p, f);
			return true;
		}
		p->depth--;
	}
	return false;
}

static void
gp_log_error(struct gparser *p)
{
	char buf[320], ctx[GP_CONTEXT_BYTES * 4 + 1];

	hk_log(LOG_DEBUG, "grammar", "%s",
	       gparse_error_str(&p->err, buf, sizeof(buf)));
	gp_excerpt(p, p->err.position, GP_CONTEXT_BYTES, ctx, sizeof(ctx));
	hk_log(LOG_DEBUG, "grammar", "parse error context: %s...", ctx);
}

/* --- fast path ------------------------------------------------------- */

/*
 * Most elements (a command line, a reply) arrive whole in one span of
 * the input. gp_fast parses such an element by plain recursion over the
 * contiguous bytes, without frames, for the subtrees grammar_compile
 * marked fast. It builds exactly the values the frame machine builds, in
 * the same order, calling the same conditions with the same context. It
 * never fails and never waits: on anything else (bytes past the span, a
 * parse error, a condition asking for a byte not there, memory) it gives
 * up, the element is put back as it was, and the frame machine parses it
 * from its start, reporting errors or waiting as usual. Nothing it did is
 * visible then: its callbacks are pure (no execute, no chunk).
 */
enum { FP_OK = 0, FP_BAIL };

struct gp_fastin {
	const uint8_t *base; /* the bytes of [off, end) */
	uint64_t off, end;
	int depth;
};

static int gp_fast(struct gparser *p, struct gp_fastin *fx,
                   const struct gnode *n, bool want, struct gresult *rec,
                   struct gresult **out);

static int
gp_fast_token(struct gparser *p, struct gp_fastin *fx, const struct gnode *n,
              bool want, struct gresult **out)
{
	struct gsm_state st = {0, 0};
	uint64_t avail, len;
	size_t used;
	struct gresult *v;

	if (p->bit != 0 || p->pos >= fx->end)
		return FP_BAIL;
	avail = fx->end - p->pos;
	if (avail > (uint64_t)n->limit + 1)
		avail = (uint64_t)n->limit + 1;
	if (gtoken_sm_feed(n->tok, &st, fx->base + (p->pos - fx->off),
	                   (size_t)avail, &used) != GT_MATCH)
		return FP_BAIL;
	len = used;
	if (len > n->limit)
		return FP_BAIL;
	if (want) {
		v = gp_bytes_value(
		    p, n->kind == GN_TOKEN ? GV_STRING : GV_BYTES, p->pos, len);
		if (v == NULL)
			return FP_BAIL;
		memcpy((uint8_t *)v->s, fx->base + (p->pos - fx->off),
		       (size_t)len);
		*out = v;
	}
	p->pos += len;
	return FP_OK;
}

static int
gp_fast_array(struct gparser *p, struct gp_fastin *fx, const struct gnode *n,
              bool want, struct gresult *rec, struct gresult **out)
{
	struct gresult *res, *prev = NULL, *v;
	uint64_t count = UINT64_MAX, idx;
	bool stop;

	if ((n->has_count || n->count_fn != NULL) &&
	    gp_count(p, n, rec, "array", &count) != HK_OK)
		return FP_BAIL;
	res = gp_value(p, GV_ARRAY, p->pos, p->pos);
	if (res == NULL)
		return FP_BAIL;
	for (idx = 0;; idx++) {
		if (gp_array_stop(p, n, idx, count, prev, rec, &stop) != HK_OK)
			return FP_BAIL;
		if (stop)
			break;
		if (idx >= n->limit)
			return FP_BAIL;
		v = NULL;
		if (gp_fast(p, fx, n->child[0], true, rec, &v) != FP_OK)
			return FP_BAIL;
		if (v == NULL)
			v = gp_value(p, GV_NONE, p->pos, p->pos);
		if (v == NULL)
			return FP_BAIL;
		gp_attach(res, v);
		prev = v;
	}
	res->end = p->pos;
	if (want)
		*out = res;
	return FP_OK;
}

/*
 * A child of a record, sequence, optional or branch: a token, or a
 * field naming a token (most of a line), is parsed here rather than by a
 * call of gp_fast per node, with the same values and the same depth limit.
 */
static inline int
gp_fast_child(struct gparser *p, struct gp_fastin *fx, const struct gnode *c,
              bool want, struct gresult *rec, struct gresult **out)
{
	const struct gnode *t = c->kind == GN_FIELD ? c->child[0] : c;
	struct gresult *v = NULL;

	if ((t->kind != GN_TOKEN && t->kind != GN_RAW_TOKEN) ||
	    fx->depth + (t != c ? 2 : 1) > GRAMMAR_MAX_DEPTH)
		return gp_fast(p, fx, c, want, rec, out);
	if (t == c)
		return gp_fast_token(p, fx, t, want, out);
	if (gp_fast_token(p, fx, t, true, &v) != FP_OK)
		return FP_BAIL;
	v->name = c->name;
	gp_attach(rec, v);
	return FP_OK;
}

/* *out: the node's value (left as is when it has none). */
static int
gp_fast(struct gparser *p, struct gp_fastin *fx, const struct gnode *n,
        bool want, struct gresult *rec, struct gresult **out)
{
	struct gctx ctx = {p, p->user, rec};
	struct gresult *res = NULL, *v = NULL;
	const struct gnode *target = NULL;
	const char *key;
	unsigned i;
	bool ok;

	if (++fx->depth > GRAMMAR_MAX_DEPTH)
		return FP_BAIL;
	switch (n->kind) {
	case GN_RECORD:
	case GN_SEQUENCE:
		if (want && n->kind == GN_RECORD) {
			res = gp_value(p, GV_RECORD, p->pos, p->pos);
			if (res == NULL)
				return FP_BAIL;
			rec = res;
		}
		for (i = 0; i < n->nchild; i++)
			if (gp_fast_child(p, fx, n->child[i], false, rec, &v) !=
			    FP_OK)
				return FP_BAIL;
		if (res != NULL) {
			res->end = p->pos;
			*out = res;
		}
		break;
	case GN_FIELD:
		if (gp_fast(p, fx, n->child[0], true, rec, &v) != FP_OK)
			return FP_BAIL;
		if (v != NULL) {
			v->name = n->name;
			gp_attach(rec, v);
		}
		break;
	case GN_TOKEN:
	case GN_RAW_TOKEN:
		if (gp_fast_token(p, fx, n, want, out) != FP_OK)
			return FP_BAIL;
		break;
	case GN_ARRAY:
		if (gp_fast_array(p, fx, n, want, rec, out) != FP_OK)
			return FP_BAIL;
		break;
	case GN_OPTIONAL:
		p->la_again = false;
		ok = n->cond(rec, &ctx);
		if (p->la_again)
			return FP_BAIL;
		if (ok &&
		    gp_fast_child(p, fx, n->child[0], want, rec, out) != FP_OK)
			return FP_BAIL;
		break;
	case GN_BRANCH:
		p->la_again = false;
		key = n->sel(rec, &ctx);
		if (p->la_again)
			return FP_BAIL;
		target = gp_case(n, key);
		if (target == NULL) {
			if (n->def == NULL)
				return FP_BAIL; /* the frame machine's error */
			if (n->def == G_CONTINUE)
				break;
			target = n->def;
		}
		if (gp_fast_child(p, fx, target, want, rec, out) != FP_OK)
			return FP_BAIL;
		break;
	case GN_EMPTY:
		break;
	case GN_VERIFY:
		p->la_again = false;
		ok = n->cond(rec, &ctx);
		if (p->la_again || !ok)
			return FP_BAIL;
		break;
	default:
		return FP_BAIL;
	}
	fx->depth--;
	return FP_OK;
}

/*
 * A fresh element whose root is fast, tried on the span at p->pos.
 * HK_OK: the element is done. HK_AGAIN: not done, p as it was.
 */
static int
gp_fast_element(struct gparser *p)
{
	const struct gp_mark empty = {p->afirst, 0, 0};
	struct gp_fastin fx;
	struct gresult *top, *v = NULL;
	const uint8_t *s;
	uint64_t start = p->pos;
	size_t n;

	s = gp_span(p, p->pos, &n);
	if (s == NULL || p->bit != 0)
		return HK_AGAIN;
	fx.base = s;
	fx.off = p->pos;
	fx.end = p->pos + n;
	fx.depth = 0;
	top = gp_value(p, GV_RECORD, p->pos, p->pos);
	if (top != NULL &&
	    gp_fast(p, &fx, p->root,
	            p->root->kind != GN_RECORD && p->root->kind != GN_SEQUENCE,
	            top, &v) == FP_OK) {
		top->end = p->pos;
		p->top = top;
		p->result = v != NULL ? v : top;
		p->status = GP_DONE;
		return HK_OK;
	}
	gp_restore(p, &empty);
	p->pos = start;
	p->la_again = false;
	return HK_AGAIN;
}

/* --- API ------------------------------------------------------------- */

/*
 * Parsers freed by this thread, kept for the next connections: a parser
 * is a large block (its frame stack) that would otherwise go back to and
 * come again from the allocator at connection rate.
 */
#define GP_POOL_MAX 256
static _Thread_local struct gparser *gp_pool[GP_POOL_MAX];
static _Thread_local unsigned gp_pool_len;

/* Bytes of a parser with a stack of cap frames. */
static size_t
gp_size(unsigned cap)
{
	return offsetof(struct gparser, frames) + cap * sizeof(struct gframe);
}

static void
gp_destroy(struct gparser *p)
{
	if (p->afirst != NULL) {
		struct gp_mark m = {p->afirst, 0, 0};

		gp_restore(p, &m);
		free(p->afirst);
	}
	pcre2_match_data_free(p->md);
	free(p->scratch);
	free(p);
}

/* Bytes p holds: itself, its result arena, its scratch. */
static size_t
gp_memory(const struct gparser *p)
{
	const struct gp_block *b;
	size_t n = gp_size(p->frames_cap) + p->scratch_cap;

	for (b = p->afirst; b != NULL; b = b->next)
		n += sizeof(*b) + b->cap;
	return n;
}

void
gparser_set_counter(struct gparser *p, uint64_t *counter)
{
	if (p->memctr != NULL)
		*p->memctr -= gp_memory(p);
	p->memctr = counter;
	if (counter != NULL)
		*counter += gp_memory(p);
}

struct gparser *
gparser_new(const struct grammar *g, const struct gnode *root, void *user)
{
	struct gp_block *blk = NULL;
	pcre2_match_data *md = NULL;
	uint8_t *scratch = NULL;
	size_t scratch_cap = 0;
	struct gparser *p, *q;
	unsigned cap;

	if (g == NULL || root == NULL || !g->compiled)
		return NULL;
	if (gp_pool_len > 0) {
		p = gp_pool[gp_pool_len - 1];
		cap = p->frames_cap;
		if (cap < g->frames_max) {
			/* made for a shallower grammar: only the stack grows */
			q = realloc(p, gp_size(g->frames_max));
			if (q == NULL)
				return NULL;
			p = q;
			cap = g->frames_max;
		}
		gp_pool_len--;
		blk = p->afirst;
		md = p->md;
		/* a scratch too small for this grammar is made again lazily */
		if (p->scratch != NULL && p->scratch_cap >= g->scratch_max) {
			scratch = p->scratch;
			scratch_cap = p->scratch_cap;
		} else
			free(p->scratch);
	} else {
		/* The frame stack is initialised on push. */
		cap = g->frames_max;
		p = malloc(gp_size(cap));
		if (p == NULL)
			return NULL;
		blk = gp_block_new(GP_BLOCK_MIN);
		md = pcre2_match_data_create(1, NULL);
	}
	memset(p, 0, offsetof(struct gparser, frames));
	p->frames_cap = cap;
	p->g = g;
	p->root = root;
	p->user = user;
	p->afirst = p->acur = blk;
	p->md = md;
	p->scratch = scratch;
	p->scratch_cap = scratch_cap;
	if (p->afirst == NULL || p->md == NULL) {
		gp_destroy(p);
		return NULL;
	}
	gparser_reset(p, 0);
	return p;
}

void
gparser_free(struct gparser *p)
{
	if (p == NULL)
		return;
	gparser_set_counter(p, NULL);
	if (gp_pool_len < GP_POOL_MAX) {
		gparser_reset(p, 0); /* back to the first arena block */
		gp_pool[gp_pool_len++] = p;
		return;
	}
	gp_destroy(p);
}

void
gparser_pool_flush(void)
{
	while (gp_pool_len > 0)
		gp_destroy(gp_pool[--gp_pool_len]);
}

void
gparser_reset(struct gparser *p, uint64_t off)
{
	struct gp_mark m = {p->afirst, 0, 0};

	gp_restore(p, &m);
	p->status = GP_FRESH;
	p->depth = 0;
	p->start = p->pos = p->seen_end = off;
	p->bit = 0;
	p->top = p->result = p->ret = NULL;
	memset(&p->err, 0, sizeof(p->err));
}

void
gparser_set_root(struct gparser *p, const struct gnode *root)
{
	p->root = root;
	gparser_reset(p, gparser_offset(p));
}

int
gparser_run(struct gparser *p, const struct ginput *in)
{
	int rc;

	if (p->status == GP_DONE)
		return HK_OK;
	if (p->status == GP_ERROR)
		return HK_ERR;
	p->in = in;
	p->dbg = LOG_DEBUG_ENABLED("grammar");
	if (in->end > p->seen_end)
		p->seen_end = in->end;
	if (p->status == GP_FRESH && p->root->fast && !p->dbg &&
	    p->atotal == 0 && gp_fast_element(p) == HK_OK) {
		p->in = NULL;
		return HK_OK;
	}
	if (p->status == GP_FRESH) {
		p->status = GP_RUN;
		p->top = gp_value(p, GV_RECORD, p->pos, p->pos);
		if (p->top == NULL)
			rc = gp_oom(p);
		else
			/* a root record fills the element's record itself */
			rc = gp_push(p, p->root,
			             p->root->kind != GN_RECORD &&
			                 p->root->kind != GN_SEQUENCE,
			             p->top);
		if (rc == ST_FAIL)
			goto error;
	}
	for (;;) {
		rc = gp_step(p, &p->frames[p->depth - 1]);
		switch (rc) {
		case ST_PUSH:
		case ST_STAY:
			continue;
		case ST_POP:
			if (--p->depth > 0)
				continue;
			p->top->end = p->pos + (p->bit != 0);
			p->result = p->ret != NULL ? p->ret : p->top;
			p->pos += p->bit != 0;
			p->bit = 0;
			p->status = GP_DONE;
			p->in = NULL;
			return HK_OK;
		case ST_AGAIN:
			p->in = NULL;
			return HK_AGAIN;
		default:
			if (gp_unwind(p))
				continue;
			goto error;
		}
	}
error:
	p->status = GP_ERROR;
	p->depth = 0;
	if (p->dbg)
		gp_log_error(p);
	p->in = NULL;
	return HK_ERR;
}

const struct gresult *
gparser_result(const struct gparser *p)
{
	return p->status == GP_DONE ? p->result : NULL;
}

uint64_t
gparser_offset(const struct gparser *p)
{
	return p->pos + (p->bit != 0);
}

uint64_t
gparser_pin(const struct gparser *p)
{
	const struct gframe *f;
	uint64_t pin = p->pos;
	int i;

	if (p->status != GP_RUN || p->depth == 0)
		return gparser_offset(p);
	f = &p->frames[p->depth - 1];
	if ((f->node->kind == GN_TOKEN || f->node->kind == GN_RAW_TOKEN) &&
	    f->state != 0)
		pin = f->start;
	else if (f->node->kind == GN_BYTES && f->state != 0)
		pin = gp_bytes_copied(f) ? f->start : f->c;
	for (i = 0; i < p->depth; i++) {
		f = &p->frames[i];
		if (((f->node->kind == GN_TRY && f->state == TRY_OPEN) ||
		     f->node->kind == GN_UNION) &&
		    f->start < pin)
			pin = f->start;
	}
	return pin;
}

bool
gparser_idle(const struct gparser *p)
{
	return p->status == GP_FRESH ||
	       (p->status == GP_RUN && p->seen_end <= p->start);
}

const struct gparse_error *
gparser_error(const struct gparser *p)
{
	return p->status == GP_ERROR ? &p->err : NULL;
}

int
gctx_lookahead(struct gctx *ctx)
{
	struct gparser *p = ctx->parser;
	const uint8_t *s;
	size_t n;

	if (p == NULL || p->in == NULL)
		return -1;
	s = gp_span(p, p->pos, &n);
	if (s != NULL)
		return s[0];
	if (p->in->eof)
		return -1;
	p->la_again = true;
	return -2;
}

const char *
gparse_error_str(const struct gparse_error *e, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	snprintf(
	    buf, len, "parse error at byte %" PRIu64 " for field %s in %s: %s",
	    e->position - e->start, e->field != NULL ? e->field : "<unknown>",
	    e->rule != NULL ? e->rule : "<unknown>", e->description);
	return buf;
}
