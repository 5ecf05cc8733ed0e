/*
 * Grammars of the grammar engine: the node builders, their options,
 * exports, grammar_compile (checks, regular expressions, limits, depth)
 * and grammar_dump_dot. Called at start-up by dissectors (the SMTP
 * grammar) and by tests; parsers (gparser.c) only read the result.
 *
 * Builders never fail loudly: a node they cannot allocate, or an option
 * applied to the wrong kind of node, is remembered and reported by
 * grammar_compile, so that a grammar can be written as one expression.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_priv.h"

#define G_MATCH_LIMIT 100000     /* calls of PCRE2's internal match() */
#define G_DEPTH_LIMIT 10000      /* backtracking depth */
#define G_HEAP_LIMIT  (4 * 1024) /* KiB of backtracking frames */

static const char *const gkind_names[GN_KIND_COUNT] = {
    [GN_RECORD] = "Record",
    [GN_SEQUENCE] = "Sequence",
    [GN_FIELD] = "Field",
    [GN_TOKEN] = "Token",
    [GN_RAW_TOKEN] = "RawToken",
    [GN_BYTES] = "Bytes",
    [GN_ARRAY] = "Array",
    [GN_BRANCH] = "Branch",
    [GN_OPTIONAL] = "Optional",
    [GN_UNION] = "Union",
    [GN_TRY] = "Try",
    [GN_NUMBER] = "Number",
    [GN_FLAG] = "Flag",
    [GN_EMPTY] = "Empty",
    [GN_FAIL] = "Fail",
    [GN_VERIFY] = "Verify",
    [GN_EXECUTE] = "Execute",
};

const char *
gkind_str(enum gkind k)
{
	if ((unsigned)k >= GN_KIND_COUNT)
		return "?";
	return gkind_names[k];
}

static char *
g_strdup(struct grammar *g, const char *s)
{
	char *d;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	d = malloc(n + 1);
	if (d == NULL) {
		g->oom = true;
		return NULL;
	}
	memcpy(d, s, n + 1);
	return d;
}

struct grammar *
grammar_new(const char *name)
{
	struct grammar *g;

	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->name = g_strdup(g, name != NULL ? name : "grammar");
	g->mctx = pcre2_match_context_create(NULL);
	if (g->name == NULL || g->mctx == NULL) {
		grammar_free(g);
		return NULL;
	}
	pcre2_set_match_limit(g->mctx, G_MATCH_LIMIT);
	pcre2_set_depth_limit(g->mctx, G_DEPTH_LIMIT);
	pcre2_set_heap_limit(g->mctx, G_HEAP_LIMIT);
	return g;
}

static void
g_node_free(struct gnode *n)
{
	unsigned i;

	for (i = 0; i < n->ncases; i++)
		free((char *)n->cases[i].key);
	free(n->cases);
	free(n->child);
	free((char *)n->rule);
	/* n->name is one of g->names */
	free(n->re);
	free(n->msg);
	free(n->bad);
	gtoken_free(n->tok);
	free(n);
}

void
grammar_free(struct grammar *g)
{
	struct gnode *n, *next;
	struct gname *k, *knext;
	unsigned i;

	if (g == NULL)
		return;
	for (n = g->nodes; n != NULL; n = next) {
		next = n->all_next;
		g_node_free(n);
	}
	for (k = g->names; k != NULL; k = knext) {
		knext = k->next;
		free(k);
	}
	for (i = 0; i < g->nexports; i++)
		free(g->exports[i].name);
	free(g->exports);
	pcre2_match_context_free(g->mctx);
	free(g->name);
	free(g);
}

const char *
grammar_name(const struct grammar *g)
{
	return g->name;
}

static struct gnode *
g_node(struct grammar *g, enum gkind kind)
{
	struct gnode *n;

	if (g == NULL)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		g->oom = true;
		return NULL;
	}
	n->kind = kind;
	n->id = g->nnodes++;
	n->all_next = g->nodes;
	g->nodes = n;
	return n;
}

/* Remember a misuse for grammar_compile (the first one wins). */
static void
g_bad(struct gnode *n, const char *what)
{
	if (n != NULL && n->bad == NULL) {
		n->bad = malloc(strlen(what) + 1);
		if (n->bad != NULL)
			memcpy(n->bad, what, strlen(what) + 1);
	}
}

/* Children from a NULL-terminated list. */
static void
g_children(struct grammar *g, struct gnode *n, va_list ap)
{
	struct gnode *c, **v;
	unsigned cap = 0;

	while ((c = va_arg(ap, struct gnode *)) != NULL) {
		if (n == NULL)
			continue;
		if (n->nchild == cap) {
			cap = cap ? cap * 2 : 4;
			v = realloc(n->child, cap * sizeof(*v));
			if (v == NULL) {
				g->oom = true;
				continue;
			}
			n->child = v;
		}
		n->child[n->nchild++] = c;
	}
}

static struct gnode *
g_one_child(struct grammar *g, struct gnode *n, struct gnode *c)
{
	if (n == NULL)
		return NULL;
	n->child = malloc(sizeof(*n->child));
	if (n->child == NULL) {
		g->oom = true;
		return n;
	}
	n->child[0] = c;
	n->nchild = 1;
	if (c == NULL)
		g_bad(n, "missing child node");
	return n;
}

struct gnode *
g_record(struct grammar *g, const char *rule, ...)
{
	struct gnode *n;
	va_list ap;

	n = g_node(g, GN_RECORD);
	if (n != NULL)
		n->rule = g_strdup(g, rule);
	va_start(ap, rule);
	g_children(g, n, ap);
	va_end(ap);
	return n;
}

struct gnode *
g_sequence(struct grammar *g, ...)
{
	struct gnode *n;
	va_list ap;

	n = g_node(g, GN_SEQUENCE);
	va_start(ap, g);
	g_children(g, n, ap);
	va_end(ap);
	return n;
}

/*
 * The grammar's copy of a field name: every field of that name points to
 * it, so that gresult_field can compare pointers. Interned on first use.
 */
const char *
grammar_key(struct grammar *g, const char *name)
{
	struct gname *k;
	size_t n;

	if (name == NULL)
		return NULL;
	for (k = g->names; k != NULL; k = k->next)
		if (strcmp(k->s, name) == 0)
			return k->s;
	n = strlen(name);
	if ((k = malloc(sizeof(*k) + n + 1)) == NULL) {
		g->oom = true;
		return NULL;
	}
	memcpy(k->s, name, n + 1);
	k->next = g->names;
	g->names = k;
	return k->s;
}

struct gnode *
g_field(struct grammar *g, const char *name, struct gnode *c)
{
	struct gnode *n;

	n = g_one_child(g, g_node(g, GN_FIELD), c);
	if (n != NULL) {
		n->name = grammar_key(g, name);
		if (name == NULL)
			g_bad(n, "field without a name");
	}
	return n;
}

static struct gnode *
g_tok(struct grammar *g, enum gkind kind, const char *re)
{
	struct gnode *n;

	n = g_node(g, kind);
	if (n != NULL) {
		n->re = g_strdup(g, re);
		if (re == NULL)
			g_bad(n, "token without a regular expression");
	}
	return n;
}

struct gnode *
g_token(struct grammar *g, const char *re)
{
	return g_tok(g, GN_TOKEN, re);
}

struct gnode *
g_raw_token(struct grammar *g, const char *re)
{
	return g_tok(g, GN_RAW_TOKEN, re);
}

struct gnode *
g_bytes(struct grammar *g)
{
	return g_node(g, GN_BYTES);
}

struct gnode *
g_array(struct grammar *g, struct gnode *elem)
{
	return g_one_child(g, g_node(g, GN_ARRAY), elem);
}

struct gnode *
g_branch(struct grammar *g, gselect_fn sel, ...)
{
	struct gnode *n, *c;
	struct gcase *v;
	const char *key;
	unsigned cap = 0;
	va_list ap;

	n = g_node(g, GN_BRANCH);
	if (n != NULL) {
		n->sel = sel;
		if (sel == NULL)
			g_bad(n, "branch without a selector");
	}
	va_start(ap, sel);
	while ((key = va_arg(ap, const char *)) != NULL) {
		c = va_arg(ap, struct gnode *);
		if (n == NULL)
			continue;
		if (c == NULL) {
			g_bad(n, "branch case without a node");
			break;
		}
		if (n->ncases == cap) {
			cap = cap ? cap * 2 : 4;
			v = realloc(n->cases, cap * sizeof(*v));
			if (v == NULL) {
				g->oom = true;
				break;
			}
			n->cases = v;
		}
		n->cases[n->ncases].key = g_strdup(g, key);
		n->cases[n->ncases].node = c;
		n->ncases++;
	}
	va_end(ap);
	return n;
}

struct gnode *
g_optional(struct grammar *g, struct gnode *c, gcond_fn present)
{
	struct gnode *n;

	n = g_one_child(g, g_node(g, GN_OPTIONAL), c);
	if (n != NULL) {
		n->cond = present;
		if (present == NULL)
			g_bad(n, "optional without a predicate");
	}
	return n;
}

struct gnode *
g_union(struct grammar *g, ...)
{
	struct gnode *n;
	va_list ap;

	n = g_node(g, GN_UNION);
	va_start(ap, g);
	g_children(g, n, ap);
	va_end(ap);
	return n;
}

struct gnode *
g_try(struct grammar *g, ...)
{
	struct gnode *n;
	va_list ap;

	n = g_node(g, GN_TRY);
	va_start(ap, g);
	g_children(g, n, ap);
	va_end(ap);
	return n;
}

struct gnode *
g_number(struct grammar *g, int bits, bool little_endian)
{
	struct gnode *n;

	n = g_node(g, GN_NUMBER);
	if (n != NULL) {
		n->bits = bits;
		n->little = little_endian;
		if (bits < 1 || bits > 64)
			g_bad(n, "number of bits out of 1..64");
	}
	return n;
}

struct gnode *
g_flag(struct grammar *g)
{
	struct gnode *n;

	n = g_node(g, GN_FLAG);
	if (n != NULL)
		n->bits = 1;
	return n;
}

struct gnode *
g_empty(struct grammar *g)
{
	return g_node(g, GN_EMPTY);
}

struct gnode *
g_fail(struct grammar *g, const char *msg)
{
	struct gnode *n;

	n = g_node(g, GN_FAIL);
	if (n != NULL)
		n->msg = g_strdup(g, msg != NULL ? msg : "fail");
	return n;
}

struct gnode *
g_verify(struct grammar *g, gcond_fn fn, const char *msg)
{
	struct gnode *n;

	n = g_node(g, GN_VERIFY);
	if (n != NULL) {
		n->cond = fn;
		n->msg = g_strdup(g, msg != NULL ? msg : "verify failed");
		if (fn == NULL)
			g_bad(n, "verify without a function");
	}
	return n;
}

struct gnode *
g_execute(struct grammar *g, gexec_fn fn)
{
	struct gnode *n;

	n = g_node(g, GN_EXECUTE);
	if (n != NULL) {
		n->exec = fn;
		if (fn == NULL)
			g_bad(n, "execute without a function");
	}
	return n;
}

/* --- options --------------------------------------------------------- */

struct gnode *
g_count(struct gnode *n, uint32_t count)
{
	if (n == NULL)
		return NULL;
	if (n->kind != GN_BYTES && n->kind != GN_ARRAY)
		g_bad(n, "count on a node that is not bytes or array");
	else if (n->has_count || n->count_fn != NULL || n->re != NULL)
		g_bad(n, "count given twice or with untiltoken");
	n->count = count;
	n->has_count = true;
	return n;
}

struct gnode *
g_count_fn(struct gnode *n, gcount_fn fn)
{
	if (n == NULL)
		return NULL;
	if (n->kind != GN_BYTES && n->kind != GN_ARRAY)
		g_bad(n, "count on a node that is not bytes or array");
	else if (n->has_count || n->count_fn != NULL || n->re != NULL ||
	         fn == NULL)
		g_bad(n, "count given twice or with untiltoken");
	n->count_fn = fn;
	return n;
}

struct gnode *
g_untiltoken(struct gnode *n, const char *re)
{
	char *d;

	if (n == NULL)
		return NULL;
	if (n->kind != GN_BYTES)
		g_bad(n, "untiltoken on a node that is not bytes");
	else if (n->has_count || n->count_fn != NULL || n->re != NULL ||
	         re == NULL)
		g_bad(n, "untiltoken given twice or with count");
	else {
		d = malloc(strlen(re) + 1);
		if (d == NULL)
			g_bad(n, "out of memory");
		else {
			memcpy(d, re, strlen(re) + 1);
			n->re = d;
		}
	}
	return n;
}

struct gnode *
g_chunked(struct gnode *n, gchunk_fn fn)
{
	if (n == NULL)
		return NULL;
	if (n->kind != GN_BYTES || fn == NULL)
		g_bad(n, "chunked on a node that is not bytes");
	n->chunk_fn = fn;
	return n;
}

struct gnode *
g_untilcond(struct gnode *n, gcond_fn fn)
{
	if (n == NULL)
		return NULL;
	if (n->kind != GN_ARRAY || fn == NULL)
		g_bad(n, "untilcond on a node that is not an array");
	else
		n->cond = fn;
	return n;
}

struct gnode *
g_whilecond(struct gnode *n, gcond_fn fn)
{
	if (n == NULL)
		return NULL;
	/* On the node itself (the original's bug 7 set it on another). */
	if (n->kind != GN_ARRAY || fn == NULL)
		g_bad(n, "whilecond on a node that is not an array");
	else
		n->wcond = fn;
	return n;
}

struct gnode *
g_default(struct gnode *n, struct gnode *d)
{
	if (n == NULL)
		return NULL;
	if (n->kind != GN_BRANCH || d == NULL)
		g_bad(n, "default on a node that is not a branch");
	else
		n->def = d;
	return n;
}

struct gnode *
g_limit(struct gnode *n, uint32_t max)
{
	if (n == NULL)
		return NULL;
	if (n->kind != GN_TOKEN && n->kind != GN_RAW_TOKEN &&
	    n->kind != GN_BYTES && n->kind != GN_ARRAY)
		g_bad(n, "limit on a node that is not a token, bytes or array");
	else if (max == 0 && n->kind != GN_ARRAY)
		g_bad(n, "limit of 0 bytes");
	n->limit = max;
	n->has_limit = true;
	return n;
}

struct gnode *
g_name(struct gnode *n, const char *rule)
{
	char *d;

	if (n == NULL || rule == NULL)
		return n;
	d = malloc(strlen(rule) + 1);
	if (d == NULL) {
		g_bad(n, "out of memory");
		return n;
	}
	memcpy(d, rule, strlen(rule) + 1);
	free((char *)n->rule);
	n->rule = d;
	return n;
}

void
grammar_export(struct grammar *g, const char *name, struct gnode *n)
{
	struct gexport *v;

	if (g == NULL)
		return;
	if (name == NULL || n == NULL) {
		g->oom = true;
		return;
	}
	v = realloc(g->exports, (g->nexports + 1) * sizeof(*v));
	if (v == NULL) {
		g->oom = true;
		return;
	}
	g->exports = v;
	v[g->nexports].name = g_strdup(g, name);
	v[g->nexports].node = n;
	g->nexports++;
}

struct gnode *
grammar_get(const struct grammar *g, const char *name)
{
	unsigned i;

	for (i = 0; i < g->nexports; i++)
		if (g->exports[i].name != NULL &&
		    strcmp(g->exports[i].name, name) == 0)
			return g->exports[i].node;
	return NULL;
}

/* --- compilation ----------------------------------------------------- */

/* Children of a node for graph walks (cases and the default included). */
static unsigned
g_nsucc(const struct gnode *n)
{
	return n->nchild + n->ncases +
	       (n->def != NULL && n->def != G_CONTINUE ? 1 : 0);
}

static struct gnode *
g_succ(const struct gnode *n, unsigned i)
{
	if (i < n->nchild)
		return n->child[i];
	i -= n->nchild;
	if (i < n->ncases)
		return n->cases[i].node;
	return n->def;
}

/*
 * Longest chain of frames from n. A cycle (a branch default pointing
 * back up) is allowed and sets *cyclic; its depth is checked while
 * parsing.
 */
static unsigned
g_depth(const struct gnode *n, unsigned *memo, uint8_t *onstack, bool *cyclic)
{
	unsigned i, d, best = 0;
	struct gnode *c;

	if (memo[n->id] != 0)
		return memo[n->id];
	if (onstack[n->id]) {
		*cyclic = true;
		return 0;
	}
	onstack[n->id] = 1;
	for (i = 0; i < g_nsucc(n); i++) {
		c = g_succ(n, i);
		if (c == NULL)
			continue;
		d = g_depth(c, memo, onstack, cyclic);
		if (d > best)
			best = d;
		if (best > GRAMMAR_MAX_DEPTH)
			break;
	}
	onstack[n->id] = 0;
	memo[n->id] = best + 1;
	return best + 1;
}

/*
 * Whether n's subtree suits the fast path (gparser.c, gp_fast): every
 * node is one it runs, and none has a side effect that would happen twice
 * when the fast path gives up and the frame machine parses the element
 * again (execute, chunked bytes). Conditions, selectors and counts are
 * pure functions of the result so far and the input. A cycle is not fast.
 * state: 0 unknown, 1 in progress, 2 fast, 3 not fast.
 */
static bool
g_fast(struct gnode *n, uint8_t *state)
{
	bool ok;
	unsigned i;

	if (state[n->id] == 1)
		return false;
	if (state[n->id] != 0)
		return state[n->id] == 2;
	state[n->id] = 1;
	switch (n->kind) {
	case GN_RECORD:
	case GN_SEQUENCE:
	case GN_FIELD:
	case GN_OPTIONAL:
	case GN_ARRAY:
	case GN_BRANCH:
	case GN_EMPTY:
	case GN_VERIFY:
		ok = true;
		break;
	case GN_TOKEN:
	case GN_RAW_TOKEN:
		ok = n->tok != NULL && n->tok->simple;
		break;
	default:
		ok = false;
		break;
	}
	for (i = 0; ok && i < g_nsucc(n); i++)
		if (g_succ(n, i) == NULL || !g_fast(g_succ(n, i), state))
			ok = false;
	state[n->id] = ok ? 2 : 3;
	n->fast = ok;
	return ok;
}

static int
g_check_node(struct grammar *g, struct gnode *n, char *err, size_t errlen)
{
	const char *what = gkind_str(n->kind);
	unsigned i;
	size_t need;

	if (n->bad != NULL) {
		snprintf(err, errlen, "%s node %u: %s", what, n->id, n->bad);
		return HK_ERR;
	}
	for (i = 0; i < n->nchild; i++)
		if (n->child[i] == NULL) {
			snprintf(err, errlen, "%s node %u: missing child node",
			         what, n->id);
			return HK_ERR;
		}
	switch (n->kind) {
	case GN_TOKEN:
	case GN_RAW_TOKEN:
		if (!n->has_limit)
			n->limit = GRAMMAR_DEFAULT_TOKEN_MAX;
		break;
	case GN_BYTES:
		if (!n->has_limit)
			n->limit = GRAMMAR_DEFAULT_BYTES_MAX;
		if (n->has_count && n->count > n->limit) {
			snprintf(err, errlen,
			         "bytes node %u: count %u over the limit %u",
			         n->id, n->count, n->limit);
			return HK_ERR;
		}
		break;
	case GN_ARRAY:
		if (!n->has_limit)
			n->limit = GRAMMAR_DEFAULT_ARRAY_MAX;
		if (!n->has_count && n->count_fn == NULL && n->cond == NULL &&
		    n->wcond == NULL) {
			snprintf(err, errlen,
			         "array node %u: needs count, untilcond or "
			         "whilecond",
			         n->id);
			return HK_ERR;
		}
		break;
	default:
		break;
	}
	if (n->re != NULL && n->tok == NULL) {
		if (gtoken_compile(&n->tok, n->re, err, errlen) != HK_OK)
			return HK_ERR;
		/* PCRE tokens are flattened into a scratch of limit + 1. */
		if (!n->tok->simple) {
			need = n->kind == GN_BYTES ? GRAMMAR_DEFAULT_TOKEN_MAX
			                           : n->limit;
			if (need + 1 > g->scratch_max)
				g->scratch_max = need + 1;
		}
	}
	return HK_OK;
}

int
grammar_compile(struct grammar *g, char *err, size_t errlen)
{
	struct gnode *n;
	unsigned *memo, i, d;
	uint8_t *onstack;
	bool cyclic = false;

	if (g->oom) {
		snprintf(err, errlen,
		         "grammar '%s': out of memory while building", g->name);
		return HK_ERR;
	}
	for (n = g->nodes; n != NULL; n = n->all_next)
		if (g_check_node(g, n, err, errlen) != HK_OK)
			return HK_ERR;
	memo = calloc(g->nnodes + 1, sizeof(*memo));
	onstack = calloc(g->nnodes + 1, 1);
	if (memo == NULL || onstack == NULL) {
		free(memo);
		free(onstack);
		snprintf(err, errlen, "grammar '%s': out of memory", g->name);
		return HK_ERR;
	}
	for (i = 0; i < g->nexports; i++) {
		d = g_depth(g->exports[i].node, memo, onstack, &cyclic);
		if (d > GRAMMAR_MAX_DEPTH) {
			snprintf(err, errlen,
			         "export '%s': nesting deeper than %d nodes",
			         g->exports[i].name, GRAMMAR_MAX_DEPTH);
			free(memo);
			free(onstack);
			return HK_ERR;
		}
	}
	/* Any node can be a parser's root (gparser_new). */
	g->frames_max = 1;
	for (n = g->nodes; n != NULL; n = n->all_next) {
		d = g_depth(n, memo, onstack, &cyclic);
		if (d > g->frames_max)
			g->frames_max = d;
	}
	if (cyclic || g->frames_max > GRAMMAR_MAX_DEPTH)
		g->frames_max = GRAMMAR_MAX_DEPTH;
	memset(onstack, 0, g->nnodes + 1);
	for (n = g->nodes; n != NULL; n = n->all_next)
		(void)g_fast(n, onstack);
	free(memo);
	free(onstack);
	g->compiled = true;
	return HK_OK;
}

/* --- DOT ------------------------------------------------------------- */

static void
g_dot_str(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		if ((unsigned char)*s < 0x20)
			fprintf(out, "\\\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
}

/*
 * One DOT node per grammar node reachable from an export, labelled as
 * the original does ("DGToken: command\n/[[:alpha:]]+/"); fields are
 * folded into their child's label.
 */
static void
g_dot_node(FILE *out, unsigned x, const struct gnode *n, const char *fname,
           uint8_t *seen)
{
	const struct gnode *c;
	unsigned i;

	while (n->kind == GN_FIELD && n->nchild > 0 && n->child[0] != NULL) {
		fname = n->name;
		n = n->child[0];
	}
	if (seen[n->id])
		return;
	seen[n->id] = 1;
	fprintf(out, "\t\te%u_n%u [label=\"DG%s", x, n->id, gkind_str(n->kind));
	if (fname != NULL || n->rule != NULL) {
		fputs(": ", out);
		g_dot_str(out, fname != NULL ? fname : n->rule);
	}
	if (n->kind == GN_TOKEN || n->kind == GN_RAW_TOKEN || n->re != NULL) {
		fputs(n->kind == GN_BYTES ? "\\nuntil /" : "\\n/", out);
		g_dot_str(out, n->re);
		fputc('/', out);
	}
	if (n->kind == GN_NUMBER)
		fprintf(out, "\\n%d bits%s", n->bits,
		        n->little ? " little" : "");
	if (n->msg != NULL && n->kind == GN_FAIL) {
		fputs("\\n", out);
		g_dot_str(out, n->msg);
	}
	fputs("\"];\n", out);
	for (i = 0; i < g_nsucc(n); i++) {
		c = g_succ(n, i);
		while (c != NULL && c->kind == GN_FIELD)
			c = c->nchild > 0 ? c->child[0] : NULL;
		if (c == NULL)
			continue;
		fprintf(out, "\t\te%u_n%u -> e%u_n%u", x, n->id, x, c->id);
		if (n->kind == GN_BRANCH) {
			fputs(" [label=\"", out);
			g_dot_str(out,
			          i < n->ncases ? n->cases[i].key : "default");
			fputs("\"]", out);
		}
		fputs(";\n", out);
	}
	for (i = 0; i < g_nsucc(n); i++)
		if (g_succ(n, i) != NULL)
			g_dot_node(out, x, g_succ(n, i), NULL, seen);
}

void
grammar_dump_dot(const struct grammar *g, FILE *out)
{
	uint8_t *seen;
	unsigned i;

	seen = calloc(g->nnodes + 1, 1);
	if (seen == NULL)
		return;
	fprintf(out, "digraph grammar {\n");
	for (i = 0; i < g->nexports; i++) {
		memset(seen, 0, g->nnodes + 1);
		fprintf(out, "\tsubgraph cluster_%s {\n\t\tlabel=\"",
		        g->exports[i].name);
		g_dot_str(out, g->exports[i].name);
		fprintf(out, "\";\n");
		g_dot_node(out, i, g->exports[i].node, NULL, seen);
		fprintf(out, "\t}\n");
	}
	fprintf(out, "}\n");
	free(seen);
}

/* --- results --------------------------------------------------------- */

const struct gresult *
gresult_get(const struct gresult *rec, const char *name)
{
	const struct gresult *r;

	if (rec == NULL || name == NULL)
		return NULL;
	for (r = rec->first; r != NULL; r = r->next)
		if (r->name != NULL && strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

const struct gresult *
gresult_field(const struct gresult *rec, const char *key)
{
	const struct gresult *r;

	if (rec == NULL)
		return NULL;
	for (r = rec->first; r != NULL; r = r->next)
		if (r->name == key)
			return r;
	return NULL;
}

const struct gresult *
gresult_at(const struct gresult *arr, uint32_t i)
{
	const struct gresult *r;

	if (arr == NULL || i >= arr->count)
		return NULL;
	for (r = arr->first; r != NULL && i > 0; r = r->next)
		i--;
	return r;
}
