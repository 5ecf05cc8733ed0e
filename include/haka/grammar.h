/*
 * The grammar engine (HAKA.md "Grammar"; CONVENTIONS.md section 7): a
 * grammar is a graph of nodes built once at start-up, then shared
 * read-only by every parser. A parser is resumable: its whole state is an
 * explicit, depth-bounded frame stack, so a parse interrupted because the
 * bytes are not there yet continues where it stopped when more arrive, with
 * the same results whatever the split of the input (no coroutines).
 *
 * Input is read by absolute stream offset through struct ginput; the
 * parser never keeps pointers into the input across calls. Bytes a parse
 * still needs (the start of the element in progress, the start of a try)
 * are reported by gparser_pin(): the caller must keep them available.
 * Token values are copied, bounded, into the parser's arena.
 *
 * Combinators: record, sequence, field, token, raw_token, bytes (count,
 * untiltoken, chunked), array (count, untilcond, whilecond), branch (with a
 * default, or "continue"), optional, union, try, number (1..64 bits, big or
 * little endian, bit-aligned), flag, empty, fail, verify, execute. Every
 * unbounded element has a limit (g_limit; defaults in GRAMMAR_DEFAULT_*).
 *
 * Tokens are regular expressions in the original's syntax: PCRE with '%'
 * for '\' (so "%r?%n" is "\r?\n"), anchored at the current position.
 * Simple tokens (a byte class with a repeat count: "[0-9]{3}",
 * "[^%r%n]*", "[[:alpha:]]+", "[- ]") are compiled to byte-class loops;
 * the others use PCRE2 with partial matching across input boundaries.
 */
#ifndef HAKA_GRAMMAR_H
#define HAKA_GRAMMAR_H

#include <stdio.h>

#include <haka/types.h>

#define GRAMMAR_MAX_DEPTH         64          /* frame stack */
#define GRAMMAR_DEFAULT_TOKEN_MAX 4096        /* bytes of a token */
#define GRAMMAR_DEFAULT_ARRAY_MAX 1024        /* elements of an array */
#define GRAMMAR_DEFAULT_BYTES_MAX (64u << 20) /* bytes of a bytes() */
#define GRAMMAR_DEFAULT_ARENA_MAX (1u << 20)  /* result bytes per element */

struct grammar;
struct gnode;
struct gparser;

/* --- results ---------------------------------------------------------- */

enum gval_type {
	GV_NONE = 0,
	GV_STRING, /* token, text */
	GV_BYTES,  /* raw_token, bytes: the stream range off/len (and s/len
	              copied when the node is not chunked and short enough) */
	GV_NUMBER,
	GV_BOOL,
	GV_RECORD,
	GV_ARRAY,
};

/*
 * A result node. Records and arrays have children (first..last, linked by
 * next); a record's children are its named fields, in parse order; an
 * array's children are its elements. All memory belongs to the parser and
 * stays valid until the next gparser_reset / gparser_free.
 */
struct gresult {
	enum gval_type type;
	const char *name; /* field name, NULL for unnamed */
	const uint8_t *s; /* GV_STRING / GV_BYTES value (NUL-terminated) */
	uint32_t len;
	int64_t num;  /* GV_NUMBER; GV_BOOL as 0/1 */
	uint64_t off; /* stream offset of the first byte */
	uint64_t end; /* stream offset after the last byte */
	struct gresult *first, *last, *next;
	uint32_t count; /* children */
	struct gresult *parent;
};

/* The named field of a record, or NULL. */
const struct gresult *gresult_get(const struct gresult *rec, const char *name);
/*
 * The same by key, a name as returned by grammar_key for the grammar
 * that parsed rec: a comparison of pointers per field, no strcmp.
 */
const struct gresult *gresult_field(const struct gresult *rec, const char *key);
/* Element i (0-based) of an array, or NULL. */
const struct gresult *gresult_at(const struct gresult *arr, uint32_t i);

/* --- callbacks -------------------------------------------------------- */

/*
 * Conditions, selectors and counts must be pure functions of their
 * arguments, the input and the user's state (which they must not change):
 * the parser may call them more than once for the same position (an
 * element tried by the contiguous fast path, then parsed again by the
 * frame machine when it needs more input). Execute and chunk callbacks
 * run exactly once per position.
 */

/* What callbacks see: the parser, the user pointer, the current record. */
struct gctx {
	struct gparser *parser;
	void *user;          /* gparser_new's user */
	struct gresult *rec; /* innermost record being built */
};

/*
 * Next input byte at the current position (for optional's predicate), or
 * -1 at the end of the input. When the byte is not available yet and the
 * input is not finished, returns -2: the predicate must return whatever it
 * likes; the engine will call it again when more input is there.
 */
int gctx_lookahead(struct gctx *ctx);

/* A boolean decision: untilcond (called before each element with the
 * previous element, NULL first), whilecond, optional, verify. */
typedef bool (*gcond_fn)(const struct gresult *elem, struct gctx *ctx);
/* branch: the key of the case to parse (NULL: the default). */
typedef const char *(*gselect_fn)(const struct gresult *rec, struct gctx *ctx);
/* execute: run code during the parse. */
typedef void (*gexec_fn)(struct gresult *rec, struct gctx *ctx);
/* count of bytes() or array() computed from what was parsed. */
typedef int64_t (*gcount_fn)(const struct gresult *rec, struct gctx *ctx);
/*
 * chunked bytes: each piece as soon as it is available (p valid during the
 * call only; off is its stream offset); last is true on the final call
 * (len may be 0).
 */
typedef void (*gchunk_fn)(struct gctx *ctx, const uint8_t *p, size_t len,
                          uint64_t off, bool last);

/* --- building a grammar (start-up only) -------------------------------- */

struct grammar *grammar_new(const char *name);
void grammar_free(struct grammar *g);
const char *grammar_name(const struct grammar *g);
/*
 * The key of a field name for gresult_field: the grammar's own copy of
 * the name, which every field of that name carries (NULL when out of
 * memory; grammar_compile then fails). Valid until grammar_free.
 */
const char *grammar_key(struct grammar *g, const char *name);

/*
 * Builders. Lists of children end with NULL. Build errors (a bad regular
 * expression...) are reported by grammar_compile. Nodes belong to the
 * grammar.
 */
struct gnode *g_record(struct grammar *g, const char *rule, ...);
struct gnode *g_sequence(struct grammar *g, ...);
struct gnode *g_field(struct grammar *g, const char *name, struct gnode *n);
struct gnode *g_token(struct grammar *g, const char *re);
struct gnode *g_raw_token(struct grammar *g, const char *re);
struct gnode *g_bytes(struct grammar *g);
struct gnode *g_array(struct grammar *g, struct gnode *elem);
/* branch: selector, then (key, node) pairs, NULL-terminated. */
struct gnode *g_branch(struct grammar *g, gselect_fn sel, ...);
struct gnode *g_optional(struct grammar *g, struct gnode *n, gcond_fn present);
struct gnode *g_union(struct grammar *g, ...);
struct gnode *g_try(struct grammar *g, ...);
struct gnode *g_number(struct grammar *g, int bits, bool little_endian);
struct gnode *g_flag(struct grammar *g);
struct gnode *g_empty(struct grammar *g);
struct gnode *g_fail(struct grammar *g, const char *msg);
struct gnode *g_verify(struct grammar *g, gcond_fn fn, const char *msg);
struct gnode *g_execute(struct grammar *g, gexec_fn fn);

/* Options (return the node, for chaining). */
struct gnode *g_count(struct gnode *n, uint32_t count);  /* bytes, array */
struct gnode *g_count_fn(struct gnode *n, gcount_fn fn); /* bytes, array */
struct gnode *g_untiltoken(struct gnode *bytes, const char *re);
struct gnode *g_chunked(struct gnode *bytes, gchunk_fn fn);
struct gnode *g_untilcond(struct gnode *array, gcond_fn fn);
struct gnode *g_whilecond(struct gnode *array, gcond_fn fn);
/* branch default: a node, or G_CONTINUE (parse nothing). */
#define G_CONTINUE ((struct gnode *)1)
struct gnode *g_default(struct gnode *branch, struct gnode *n);
/* Limit: token length, array elements, bytes() length. */
struct gnode *g_limit(struct gnode *n, uint32_t max);
/* Name a node as a rule (for error messages and graphs). */
struct gnode *g_name(struct gnode *n, const char *rule);

/* Mark an entry point. */
void grammar_export(struct grammar *g, const char *name, struct gnode *n);
/* An exported node by name, or NULL. */
struct gnode *grammar_get(const struct grammar *g, const char *name);

/*
 * Check and compile (regular expressions, limits). HK_OK, or HK_ERR with
 * a message naming the node in err.
 */
int grammar_compile(struct grammar *g, char *err, size_t errlen);

/* Write the grammar as a Graphviz DOT graph (one cluster per export). */
void grammar_dump_dot(const struct grammar *g, FILE *out);

/* --- parsing ---------------------------------------------------------- */

struct ginput {
	/*
	 * Contiguous bytes at absolute offset off: a pointer and *len > 0,
	 * or NULL when off >= end. Bytes from the parser's pin to end must
	 * be readable.
	 */
	const uint8_t *(*span)(void *ctx, uint64_t off, size_t *len);
	void *ctx;
	uint64_t end; /* bytes available: [pin, end) */
	bool eof;     /* no byte will come after end */
};

struct gparse_error {
	uint64_t position; /* absolute offset */
	uint64_t start;    /* offset where the element started */
	const char *field; /* field name or position ("3"), "<unknown>" */
	const char *rule;  /* enclosing rule, "<unknown>" */
	char description[160];
};

/* A parser of 'root' (an exported node); user is handed to callbacks. */
struct gparser *gparser_new(const struct grammar *g, const struct gnode *root,
                            void *user);
/*
 * Freed parsers are kept for reuse by the same thread (a parser per flow
 * direction is created and freed at connection rate).
 */
void gparser_free(struct gparser *p);
/* Free the calling thread's kept parsers (at thread exit). */
void gparser_pool_flush(void);
/*
 * Count the bytes the parser holds in *counter (NULL: stop): itself, its
 * result arena (which grows with the element in progress, up to the
 * arena limit) and its scratch. Added now, kept up to date as it
 * allocates and frees, taken back by gparser_free.
 */
void gparser_set_counter(struct gparser *p, uint64_t *counter);

/* Parse a new element of root from absolute offset 'off'. */
void gparser_reset(struct gparser *p, uint64_t off);
/* Switch to another root (the next element starts at the current offset). */
void gparser_set_root(struct gparser *p, const struct gnode *root);

/*
 * Go on parsing with the input available.
 *  HK_OK: one element is complete: gparser_result() holds it, and
 *         gparser_offset() is the offset after it. Call gparser_reset to
 *         parse the next one.
 *  HK_AGAIN: every available byte was used; call again when in->end grew
 *         (or eof). The bytes from gparser_pin() on must stay available.
 *  HK_ERR: parse error (gparser_error); the element is abandoned.
 * At eof with an element in progress, HK_ERR (the input ended).
 */
int gparser_run(struct gparser *p, const struct ginput *in);

const struct gresult *gparser_result(const struct gparser *p);
uint64_t gparser_offset(const struct gparser *p);
/* Lowest offset the element in progress may still read. */
uint64_t gparser_pin(const struct gparser *p);
/* True when no byte of a new element has been parsed yet. */
bool gparser_idle(const struct gparser *p);
const struct gparse_error *gparser_error(const struct gparser *p);

/*
 * "parse error at byte N for field F in R: description" (N relative to
 * the start of the element), as the original engine prints it.
 */
const char *gparse_error_str(const struct gparse_error *e, char *buf,
                             size_t len);

#endif
