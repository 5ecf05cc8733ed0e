/*
 * Tokens of the grammar engine: regular expressions in the original's
 * syntax ('%' for '\'), compiled once by grammar_compile and matched by
 * gparser.c, anchored at the current position.
 *
 * Two matchers:
 * - simple tokens, a concatenation of at most GTOKEN_MAX_ITEMS items
 *   "byte class, repeat count" ("[%r]?[%n]", "[^%r%n]*", "[0-9]{3}"),
 *   become byte-class loops that can be fed chunk by chunk (no copy, no
 *   rescan). They are only used when greedy matching without
 *   backtracking gives exactly PCRE's result (see simple_is_exact), and
 *   each class is computed by asking PCRE2 itself about every byte, so
 *   escapes and POSIX classes mean exactly what they mean to PCRE2;
 * - every other token goes through PCRE2 (JIT when available) with
 *   partial matching and match/depth/heap limits.
 *
 * gtoken_scan finds the next position where a match can start, for
 * bytes():untiltoken(): memchr for one possible first byte, an SSE2
 * two-byte search for two, a 256-entry table otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "grammar/grammar_priv.h"

#define GT_PROBE_MAX 64 /* bytes of an atom */

static char *
gt_strndup(const char *s, size_t n)
{
	char *d;

	d = malloc(n + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/*
 * '%' becomes '\'; the byte after a '%' is copied as is, so "%%" is
 * "\%", a literal percent (same rule as the Lua regexp module).
 */
static char *
gt_convert(const char *re)
{
	size_t i, n;
	char *d;

	n = strlen(re);
	d = malloc(n + 1);
	if (d == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (re[i] == '%') {
			d[i] = '\\';
			if (i + 1 < n) {
				i++;
				d[i] = re[i];
			}
		} else
			d[i] = re[i];
	}
	d[n] = '\0';
	return d;
}

static bool
gt_ishex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/*
 * Length of the escape starting at s[0] == '\\' when it stands for one
 * byte or a byte class, else 0 (back references, assertions, \Q...).
 */
static size_t
gt_escape_len(const char *s)
{
	size_t n;

	if (s[1] == '\0')
		return 0;
	if (strchr("rntfeadDwWsShHvV", s[1]) != NULL)
		return 2;
	if (s[1] == 'x') {
		if (s[2] == '{')
			return 0;
		n = 2;
		while (n < 4 && gt_ishex(s[n]))
			n++;
		return n;
	}
	if ((s[1] >= 'a' && s[1] <= 'z') || (s[1] >= 'A' && s[1] <= 'Z') ||
	    (s[1] >= '0' && s[1] <= '9'))
		return 0;
	return 2; /* an escaped punctuation byte is literal */
}

/* Length of the bracket expression at s[0] == '[', or 0. */
static size_t
gt_bracket_len(const char *s)
{
	size_t i = 1, n;
	const char *e;

	if (s[i] == '^')
		i++;
	if (s[i] == ']')
		i++;
	for (;;) {
		switch (s[i]) {
		case '\0':
			return 0;
		case ']':
			return i + 1;
		case '\\':
			if (s[i + 1] == 'Q' || s[i + 1] == 'E')
				return 0;
			n = gt_escape_len(s + i);
			if (n == 0) {
				/* \b is a backspace in a class; probe it. */
				if (s[i + 1] == 'b')
					n = 2;
				else
					return 0;
			}
			i += n;
			break;
		case '[':
			if (s[i + 1] == '.' || s[i + 1] == '=')
				return 0;
			/* "[:name:]", unless a ']' comes first (as PCRE2) */
			e = NULL;
			if (s[i + 1] == ':')
				for (n = i + 2; s[n] != '\0' && s[n] != ']';
				     n++)
					if (s[n] == ':' && s[n + 1] == ']') {
						e = s + n;
						break;
					}
			i = e != NULL ? (size_t)(e - s) + 2 : i + 1;
			break;
		default:
			i++;
		}
	}
}

/*
 * The byte class of one atom, by asking PCRE2 about each byte: the atom
 * must have a fixed length (it compiles in a lookbehind), match exactly
 * one byte for some bytes, and never the empty string.
 */
static bool
gt_probe_class(const char *atom, size_t len, uint8_t cls[256])
{
	pcre2_code *code;
	pcre2_match_data *md;
	PCRE2_SIZE erroff, *ov;
	char behind[GT_PROBE_MAX + 8];
	int errcode, rc, b, n = 0;
	uint8_t one;
	bool ok = true;

	if (len > GT_PROBE_MAX)
		return false;
	snprintf(behind, sizeof(behind), "(?<=%.*s)", (int)len, atom);
	code = pcre2_compile((PCRE2_SPTR)behind, PCRE2_ZERO_TERMINATED, 0,
	                     &errcode, &erroff, NULL);
	if (code == NULL)
		return false;
	pcre2_code_free(code);
	code = pcre2_compile((PCRE2_SPTR)atom, len, PCRE2_ANCHORED, &errcode,
	                     &erroff, NULL);
	if (code == NULL)
		return false;
	md = pcre2_match_data_create(1, NULL);
	if (md == NULL) {
		pcre2_code_free(code);
		return false;
	}
	ov = pcre2_get_ovector_pointer(md);
	if (pcre2_match(code, (PCRE2_SPTR) "", 0, 0, 0, md, NULL) !=
	    PCRE2_ERROR_NOMATCH)
		ok = false;
	for (b = 0; ok && b < 256; b++) {
		one = (uint8_t)b;
		rc = pcre2_match(code, &one, 1, 0, 0, md, NULL);
		if (rc >= 0 && ov[1] == 1) {
			cls[b] = 1;
			n++;
		} else if (rc == PCRE2_ERROR_NOMATCH)
			cls[b] = 0;
		else
			ok = false;
	}
	pcre2_match_data_free(md);
	pcre2_code_free(code);
	return ok && n > 0;
}

static bool
gt_parse_uint(const char **pp, uint32_t *v)
{
	const char *p = *pp;
	uint32_t n = 0;

	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9') {
		n = n * 10 + (uint32_t)(*p - '0');
		if (n > 65535)
			return false;
		p++;
	}
	*v = n;
	*pp = p;
	return true;
}

/* Quantifier at *pp (none: {1,1}). False when not one we handle. */
static bool
gt_parse_quant(const char **pp, struct gitem *it)
{
	const char *p = *pp;
	uint32_t a, b;

	it->min = it->max = 1;
	it->possessive = false;
	switch (*p) {
	case '?':
		it->min = 0;
		p++;
		break;
	case '*':
		it->min = 0;
		it->max = GITEM_INF;
		p++;
		break;
	case '+':
		it->max = GITEM_INF;
		p++;
		break;
	case '{':
		p++;
		if (!gt_parse_uint(&p, &a))
			return false;
		b = a;
		if (*p == ',') {
			p++;
			if (*p == '}')
				b = GITEM_INF;
			else if (!gt_parse_uint(&p, &b))
				return false;
		}
		if (*p != '}' || b < a)
			return false;
		p++;
		it->min = a;
		it->max = b;
		break;
	default:
		*pp = p;
		return true;
	}
	if (*p == '+') {
		it->possessive = true;
		p++;
	} else if (*p == '?')
		return false; /* lazy */
	*pp = p;
	return true;
}

static bool
gt_disjoint(const uint8_t *a, const uint8_t *b)
{
	int i;

	for (i = 0; i < 256; i++)
		if (a[i] && b[i])
			return false;
	return true;
}

/*
 * Greedy matching without backtracking equals PCRE's backtracking
 * search when every variable, non-possessive item is disjoint from each
 * following item up to and including the first mandatory one: a shorter
 * choice for item i would leave a byte of its class for those items,
 * which cannot take it, so it fails wherever the greedy choice fails.
 */
static bool
gt_simple_is_exact(const struct gitem *it, unsigned n)
{
	unsigned i, j;

	for (i = 0; i < n; i++) {
		if (it[i].min == it[i].max || it[i].possessive)
			continue;
		for (j = i + 1; j < n; j++) {
			if (!gt_disjoint(it[i].cls, it[j].cls))
				return false;
			if (it[j].min > 0)
				break;
		}
	}
	return true;
}

static bool
gt_parse_simple(struct gtoken *t, const char *s)
{
	struct gitem items[GTOKEN_MAX_ITEMS];
	unsigned n = 0;
	size_t alen;

	while (*s != '\0') {
		if (n == GTOKEN_MAX_ITEMS)
			return false;
		if (*s == '[')
			alen = gt_bracket_len(s);
		else if (*s == '\\')
			alen = gt_escape_len(s);
		else if (strchr("^$.|?*+(){", *s) != NULL)
			alen = 0;
		else
			alen = 1;
		if (alen == 0 || alen > GT_PROBE_MAX)
			return false;
		memset(&items[n], 0, sizeof(items[n]));
		if (!gt_probe_class(s, alen, items[n].cls))
			return false;
		s += alen;
		if (!gt_parse_quant(&s, &items[n]))
			return false;
		n++;
	}
	if (n == 0 || !gt_simple_is_exact(items, n))
		return false;
	t->items = malloc(n * sizeof(*t->items));
	if (t->items == NULL)
		return false;
	memcpy(t->items, items, n * sizeof(*t->items));
	t->nitems = n;
	t->simple = true;
	return true;
}

/* A token made of single fixed bytes is a literal string. */
static void
gt_literal(struct gtoken *t)
{
	unsigned i, n;
	int b, which;

	t->litlen = 0;
	for (i = 0; i < t->nitems; i++) {
		if (t->items[i].min != 1 || t->items[i].max != 1)
			return;
		for (b = 0, n = 0, which = 0; b < 256; b++) {
			if (t->items[i].cls[b]) {
				n++;
				which = b;
			}
		}
		if (n != 1)
			return;
		t->lit[i] = (uint8_t)which;
	}
	t->litlen = t->nitems;
	/* Search the rarest byte first: anything but line ends and spaces. */
	t->litkey = 0;
	for (i = 0; i < t->litlen; i++) {
		if (t->lit[i] != '\r' && t->lit[i] != '\n' &&
		    t->lit[i] != ' ') {
			t->litkey = i;
			break;
		}
	}
}

static void
gt_first_simple(struct gtoken *t)
{
	unsigned i;
	int b;

	gt_literal(t);

	t->nullable = true;
	for (i = 0; i < t->nitems; i++) {
		for (b = 0; b < 256; b++)
			t->first[b] |= t->items[i].cls[b];
		if (t->items[i].min > 0) {
			t->nullable = false;
			break;
		}
	}
}

/*
 * First bytes of a PCRE token, from the unanchored pattern (PCRE2 does
 * not study anchored ones). Any doubt gives a superset.
 */
static void
gt_first_pcre(struct gtoken *t)
{
	pcre2_code *code;
	PCRE2_SIZE erroff;
	int errcode, b;
	uint32_t type, unit, minlen;
	const uint8_t *bitmap = NULL;

	memset(t->first, 1, sizeof(t->first));
	t->nullable = true;
	code = pcre2_compile((PCRE2_SPTR)t->pcre_src, PCRE2_ZERO_TERMINATED, 0,
	                     &errcode, &erroff, NULL);
	if (code == NULL)
		return;
	if (pcre2_pattern_info(code, PCRE2_INFO_MINLENGTH, &minlen) == 0 &&
	    minlen > 0)
		t->nullable = false;
	if (pcre2_pattern_info(code, PCRE2_INFO_FIRSTCODETYPE, &type) == 0 &&
	    type == 1 &&
	    pcre2_pattern_info(code, PCRE2_INFO_FIRSTCODEUNIT, &unit) == 0 &&
	    unit < 256) {
		memset(t->first, 0, sizeof(t->first));
		t->first[unit] = 1;
		/* the pattern may be caseless: take both cases */
		if (unit >= 'a' && unit <= 'z')
			t->first[unit - 32] = 1;
		if (unit >= 'A' && unit <= 'Z')
			t->first[unit + 32] = 1;
	} else if (pcre2_pattern_info(code, PCRE2_INFO_FIRSTBITMAP, &bitmap) ==
	               0 &&
	           bitmap != NULL) {
		for (b = 0; b < 256; b++)
			t->first[b] = (bitmap[b / 8] >> (b % 8)) & 1;
	}
	pcre2_code_free(code);
}

/*
 * Compile re (the original's syntax). HK_OK and *out, or HK_ERR with a
 * message in err. Start-up only.
 */
int
gtoken_compile(struct gtoken **out, const char *re, char *err, size_t errlen)
{
	struct gtoken *t;
	PCRE2_UCHAR msg[120];
	PCRE2_SIZE erroff;
	int errcode, b;
	unsigned n;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto oom;
	t->src = gt_strndup(re, strlen(re));
	t->pcre_src = gt_convert(re);
	if (t->src == NULL || t->pcre_src == NULL)
		goto oom;
	t->code = pcre2_compile((PCRE2_SPTR)t->pcre_src, PCRE2_ZERO_TERMINATED,
	                        PCRE2_ANCHORED, &errcode, &erroff, NULL);
	if (t->code == NULL) {
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		snprintf(err, errlen, "token /%s/: %s at offset %zu", re,
		         (const char *)msg, (size_t)erroff);
		gtoken_free(t);
		return HK_ERR;
	}
	if (!gt_parse_simple(t, t->pcre_src)) {
		t->jit =
		    pcre2_jit_compile(t->code, PCRE2_JIT_COMPLETE |
		                                   PCRE2_JIT_PARTIAL_HARD) == 0;
		gt_first_pcre(t);
	} else
		gt_first_simple(t);
	n = 0;
	for (b = 0; b < 256; b++)
		if (t->first[b]) {
			if (n < 2)
				t->firstb[n] = (uint8_t)b;
			n++;
		}
	t->nfirst = n;
	*out = t;
	return HK_OK;
oom:
	snprintf(err, errlen, "token /%s/: out of memory", re);
	gtoken_free(t);
	return HK_ERR;
}

void
gtoken_free(struct gtoken *t)
{
	if (t == NULL)
		return;
	pcre2_code_free(t->code);
	free(t->items);
	free(t->src);
	free(t->pcre_src);
	free(t);
}

bool
gtoken_sm_finish(const struct gtoken *t, const struct gsm_state *st)
{
	uint32_t k;

	if (st->item >= t->nitems)
		return true;
	if (st->cnt < t->items[st->item].min)
		return false;
	for (k = st->item + 1; k < t->nitems; k++)
		if (t->items[k].min > 0)
			return false;
	return true;
}

int
gtoken_pcre_match(const struct gtoken *t, const struct grammar *g,
                  pcre2_match_data *md, const uint8_t *subject, size_t n,
                  bool partial, size_t *mlen)
{
	PCRE2_SIZE *ov;
	int rc;

	if (n == 0)
		subject = (const uint8_t *)"";
	rc = pcre2_match(t->code, subject, n, 0,
	                 partial ? PCRE2_PARTIAL_HARD : 0, md, g->mctx);
	if (rc >= 0) {
		ov = pcre2_get_ovector_pointer(md);
		*mlen = ov[1];
		return GT_MATCH;
	}
	switch (rc) {
	case PCRE2_ERROR_NOMATCH:
		return GT_NOMATCH;
	case PCRE2_ERROR_PARTIAL:
		return GT_MORE;
	default:
		return GT_LIMIT;
	}
}

static const uint8_t *
gt_memchr2(const uint8_t *p, const uint8_t *e, uint8_t a, uint8_t b)
{
#if defined(__SSE2__)
	__m128i va = _mm_set1_epi8((char)a), vb = _mm_set1_epi8((char)b);
	__m128i x0, x1;
	unsigned m;

	while (e - p >= 32) {
		x0 = _mm_loadu_si128((const __m128i *)(const void *)p);
		x1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
		m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		        _mm_cmpeq_epi8(x0, va), _mm_cmpeq_epi8(x0, vb))) |
		    ((unsigned)_mm_movemask_epi8(_mm_or_si128(
		         _mm_cmpeq_epi8(x1, va), _mm_cmpeq_epi8(x1, vb)))
		     << 16);
		if (m != 0)
			return p + __builtin_ctz(m);
		p += 32;
	}
#endif
	while (p < e && *p != a && *p != b)
		p++;
	return p;
}

const uint8_t *
gtoken_scan(const struct gtoken *t, const uint8_t *p, const uint8_t *e)
{
	const uint8_t *q;

	if (t->nullable || p >= e)
		return p;
	switch (t->nfirst) {
	case 0:
		return e;
	case 1:
		q = memchr(p, t->firstb[0], (size_t)(e - p));
		return q != NULL ? q : e;
	case 2:
		return gt_memchr2(p, e, t->firstb[0], t->firstb[1]);
	case 256:
		return p;
	default:
		while (p < e && !t->first[*p])
			p++;
		return p;
	}
}
