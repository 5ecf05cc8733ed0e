/*
 * Private structures of the grammar engine, shared by grammar.c (builders,
 * compilation, DOT output), gtoken.c (regular expressions: byte-class
 * loops and PCRE2) and gparser.c (the resumable parser). Nothing here is
 * part of the contract of include/haka/grammar.h.
 *
 * A node is built once and never changes after grammar_compile; parsers
 * only read it, so one grammar serves every flow and thread.
 */
#ifndef HAKA_GRAMMAR_PRIV_H
#define HAKA_GRAMMAR_PRIV_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>

#include <haka/grammar.h>

enum gkind {
	GN_RECORD = 0,
	GN_SEQUENCE,
	GN_FIELD,
	GN_TOKEN,
	GN_RAW_TOKEN,
	GN_BYTES,
	GN_ARRAY,
	GN_BRANCH,
	GN_OPTIONAL,
	GN_UNION,
	GN_TRY,
	GN_NUMBER,
	GN_FLAG,
	GN_EMPTY,
	GN_FAIL,
	GN_VERIFY,
	GN_EXECUTE,
	GN_KIND_COUNT
};

const char *gkind_str(enum gkind k);

/*
 * One item of a simple token: a byte class repeated min..max times
 * (max UINT32_MAX: unbounded). Possessive items never give bytes back.
 */
struct gitem {
	uint8_t cls[256]; /* 1: the byte belongs to the class */
	uint32_t min, max;
	bool possessive;
};

#define GITEM_INF        UINT32_MAX
#define GTOKEN_MAX_ITEMS 16

/*
 * A compiled regular expression. Simple tokens are a list of items
 * matched greedily without backtracking (only built when that gives
 * exactly PCRE's result); the others use PCRE2. first[] is the set of
 * bytes a match can start with (used to scan for untiltoken); when
 * nullable, the token matches the empty string and every position is a
 * candidate.
 */
struct gtoken {
	char *src;      /* as written, '%' syntax */
	char *pcre_src; /* '%' turned into '\' */
	bool simple;
	struct gitem *items;
	unsigned nitems;
	pcre2_code *code; /* NULL when simple */
	bool jit;
	uint8_t first[256];
	unsigned nfirst;   /* bytes in first[] */
	uint8_t firstb[2]; /* the bytes when nfirst <= 2 */
	bool nullable;
	/* A simple token of single bytes ("%r%n%.%r%n"): found by memmem. */
	uint8_t lit[GTOKEN_MAX_ITEMS];
	unsigned litlen; /* 0: not a literal */
	unsigned litkey; /* index of the byte searched first */
};

/* A branch case. */
struct gcase {
	const char *key;
	struct gnode *node;
};

struct gnode {
	enum gkind kind;
	unsigned id;            /* creation order, for DOT */
	struct gnode *all_next; /* every node of the grammar */
	const char *rule;       /* record rule or g_name */
	const char *name;       /* GN_FIELD: the field name */
	struct gnode **child;   /* record, sequence, union, try; field,
	                           array, optional: child[0] */
	unsigned nchild;
	struct gcase *cases; /* branch */
	unsigned ncases;
	struct gnode *def; /* branch default (or G_CONTINUE) */
	gselect_fn sel;
	gcond_fn cond;  /* optional, verify, untilcond */
	gcond_fn wcond; /* whilecond */
	gexec_fn exec;
	gcount_fn count_fn;
	gchunk_fn chunk_fn;
	uint32_t count;
	bool has_count;
	uint32_t limit; /* token, array, bytes (after compile) */
	bool has_limit;
	char *re; /* token, raw_token, untiltoken: as written */
	struct gtoken *tok;
	char *msg; /* fail, verify */
	int bits;
	bool little;
	char *bad; /* builder misuse, reported by grammar_compile */
	/*
	 * Set by grammar_compile: the subtree can be parsed by the
	 * contiguous fast path of gparser.c (no side effect, no PCRE, no
	 * bytes, no try or union: see gp_fast).
	 */
	bool fast;
};

struct gexport {
	char *name;
	struct gnode *node;
};

/* A field name, held once per grammar (see grammar_key). */
struct gname {
	struct gname *next;
	char s[];
};

struct grammar {
	char *name;
	struct gname *names; /* the field names, each once */
	struct gnode *nodes; /* all nodes, newest first */
	unsigned nnodes;
	struct gexport *exports;
	unsigned nexports;
	bool oom; /* a builder could not allocate */
	bool compiled;
	size_t scratch_max; /* bytes a PCRE token may need flattened */
	/*
	 * Frames a parser of this grammar can need: the longest chain of
	 * nodes, or GRAMMAR_MAX_DEPTH when a branch loops back up.
	 */
	unsigned frames_max;
	pcre2_match_context *mctx;
};

/* gtoken.c */

/* Match results. */
enum {
	GT_MATCH = 0,
	GT_NOMATCH,
	GT_MORE,    /* needs more bytes */
	GT_TOOLONG, /* the match would be longer than the limit */
	GT_LIMIT,   /* PCRE2 match limit hit */
};

int gtoken_compile(struct gtoken **out, const char *re, char *err,
                   size_t errlen);
void gtoken_free(struct gtoken *t);

/* Resumable state of a simple token. */
struct gsm_state {
	uint32_t item;
	uint32_t cnt;
};

/*
 * Feed buf[0..n) to a simple token from state st. GT_MATCH (*used bytes
 * of buf belong to the match), GT_NOMATCH, or GT_MORE (all n bytes were
 * consumed and the next one is needed to decide; st updated). Each item
 * takes as many bytes as its class and max allow; stopping on a byte
 * outside the class with fewer than min bytes is a mismatch.
 *
 * Inline: the fast path calls it from a fresh state once per token of a
 * line, most of them of one item, where a call and a state in memory
 * cost about as much as the match.
 */
static inline int
gtoken_sm_feed(const struct gtoken *t, struct gsm_state *st, const uint8_t *buf,
               size_t n, size_t *used)
{
	const struct gitem *it;
	uint32_t k = st->item, cnt = st->cnt;
	size_t i = 0, j, lim;

	while (k < t->nitems) {
		it = &t->items[k];
		lim = n - i;
		if (it->max != GITEM_INF && lim > it->max - cnt)
			lim = it->max - cnt;
		j = i;
		while (j - i < lim && it->cls[buf[j]])
			j++;
		cnt += (uint32_t)(j - i);
		i = j;
		if (cnt == it->max) {
			k++;
			cnt = 0;
			continue;
		}
		if (i == n) {
			st->item = k;
			st->cnt = cnt;
			*used = i;
			return GT_MORE;
		}
		if (cnt < it->min)
			return GT_NOMATCH;
		k++;
		cnt = 0;
	}
	st->item = k;
	st->cnt = 0;
	*used = i;
	return GT_MATCH;
}
/* At the end of the input: true when the match is complete. */
bool gtoken_sm_finish(const struct gtoken *t, const struct gsm_state *st);

/*
 * Anchored PCRE match of subject[0..n). partial: the subject may go on
 * (PCRE2_PARTIAL_HARD). GT_MATCH with *mlen, GT_NOMATCH, GT_MORE
 * (partial), GT_LIMIT.
 */
int gtoken_pcre_match(const struct gtoken *t, const struct grammar *g,
                      pcre2_match_data *md, const uint8_t *subject, size_t n,
                      bool partial, size_t *mlen);

/*
 * First byte at or after p (before e) that can start a match, or e. For
 * nullable tokens, p.
 */
const uint8_t *gtoken_scan(const struct gtoken *t, const uint8_t *p,
                           const uint8_t *e);

#endif
