/*
 * The Lua module 'regexp/pcre': PCRE2 regular expressions for rules, with
 * the API of the original engine's regexp module.
 *
 *   local rem = require('regexp/pcre')
 *   local re = rem.re:compile('@.*'[, rem.re.CASE_INSENSITIVE])
 *   local m, b, e = re:match('FROM: hacker@suspicious.org')
 *           -- m = '@suspicious.org', b = 12, e = 27
 *   local m, b, e = rem.re:match(pattern, subject[, options])
 *
 * begin is the 0-based offset of the first matched byte and end the
 * 0-based exclusive end, so string.sub(subject, b + 1, e) == m. No match
 * returns a single nil.
 *
 * Pattern syntax is PCRE with every '%' turned into '\' (the byte after a
 * '%' is copied as is), so '%d' is '\d' and '%%' is '\%', a literal '%'.
 *
 * The instruction hook of the VM is blind inside C functions, so every
 * match is bounded here: subjects are capped at LRE_SUBJECT_MAX bytes and
 * pcre2_match runs with match, depth and heap limits. Exceeding a limit
 * raises "pcre: match limit exceeded"; it never runs unbounded.
 *
 * Called by the Lua VM (luaopen_regexp_pcre is registered in
 * package.preload) and by tests/unit/lua_pcre_test.c.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <pcre2.h>

#include "lua/lapi_pcre.h"

#define LRE_MT "haka.regexp"

/* Option bits of the original API (re.CASE_INSENSITIVE, re.EXTENDED). */
#define LRE_CASE_INSENSITIVE 0x1
#define LRE_EXTENDED         0x2
#define LRE_OPTIONS          (LRE_CASE_INSENSITIVE | LRE_EXTENDED)

#define LRE_SUBJECT_MAX (1024 * 1024) /* bytes */
#define LRE_PATTERN_MAX (64 * 1024)   /* bytes */
#define LRE_MATCH_LIMIT 100000        /* calls to the internal match() */
#define LRE_DEPTH_LIMIT 100000        /* backtracking depth */
#define LRE_HEAP_LIMIT  (8 * 1024)    /* KiB of backtracking frames */

/*
 * The userdata behind a compiled regexp. Every pointer is owned by the
 * userdata and released by __gc, so a Lua error raised at any point
 * leaks nothing. md is created on first use and dropped after a limit
 * error, so that a hostile subject does not leave a large frame vector
 * attached to the regexp.
 */
struct lre {
	pcre2_code *code;
	pcre2_match_context *mctx;
	pcre2_match_data *md;
};

static struct lre *
lre_check(lua_State *L, int arg)
{
	struct lre *re;

	re = luaL_checkudata(L, arg, LRE_MT);
	if (re->code == NULL)
		luaL_error(L, "pcre: regexp used after it was freed");
	return re;
}

/*
 * Module functions are called as rem.re:compile(...) or rem.re.compile(...);
 * return the index of the first real argument.
 */
static int
lre_first_arg(lua_State *L)
{
	return lua_istable(L, 1) ? 2 : 1;
}

/*
 * Raise "pcre: <msg> at offset N in pattern '<pat>'". The pattern is added
 * with its length, so a pattern holding NUL bytes is reported whole.
 */
static int
lre_compile_error(lua_State *L, int errcode, PCRE2_SIZE off, const char *pat,
                  size_t len)
{
	PCRE2_UCHAR msg[256];
	char num[32];
	luaL_Buffer b;

	if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
		snprintf((char *)msg, sizeof(msg), "error %d", errcode);
	snprintf(num, sizeof(num), "%zu", (size_t)off);

	luaL_buffinit(L, &b);
	luaL_where(L, 1);
	luaL_addvalue(&b); /* "file:line:" of the calling rule */
	luaL_addstring(&b, "pcre: ");
	luaL_addstring(&b, (const char *)msg);
	luaL_addstring(&b, " at offset ");
	luaL_addstring(&b, num);
	luaL_addstring(&b, " in pattern '");
	luaL_addlstring(&b, pat, len);
	luaL_addchar(&b, '\'');
	luaL_pushresult(&b);
	return lua_error(L);
}

/*
 * Compile the pattern at stack index arg with the options at arg + 1 and
 * push the new "haka.regexp" userdata. Raises a Lua error on a bad
 * pattern, bad options or out of memory.
 */
static struct lre *
lre_compile_at(lua_State *L, int arg)
{
	const char *pat, *conv;
	struct lre *re;
	luaL_Buffer b;
	lua_Integer opts;
	PCRE2_SIZE erroff;
	uint32_t flags;
	size_t len, i;
	char *dst;
	int errcode;

	pat = luaL_checklstring(L, arg, &len);
	opts = luaL_optinteger(L, arg + 1, 0);
	if ((opts & ~(lua_Integer)LRE_OPTIONS) != 0)
		luaL_argerror(L, arg + 1, "unknown regexp option");
	if (len > LRE_PATTERN_MAX)
		luaL_error(L, "pcre: pattern too long (%d bytes, limit %d)",
		           (int)len, LRE_PATTERN_MAX);

	/* '%' -> '\'; the byte after a '%' is never converted itself. */
	dst = luaL_buffinitsize(L, &b, len);
	for (i = 0; i < len; i++) {
		if (pat[i] == '%') {
			dst[i] = '\\';
			if (i + 1 < len) {
				i++;
				dst[i] = pat[i];
			}
		} else
			dst[i] = pat[i];
	}
	luaL_pushresultsize(&b, len);
	conv = lua_tostring(L, -1);

	flags = 0;
	if (opts & LRE_CASE_INSENSITIVE)
		flags |= PCRE2_CASELESS;
	if (opts & LRE_EXTENDED)
		flags |= PCRE2_EXTENDED;

	/* The userdata exists before anything is allocated: __gc owns it. */
	re = lua_newuserdata(L, sizeof(*re));
	memset(re, 0, sizeof(*re));
	luaL_setmetatable(L, LRE_MT);
	lua_pushvalue(L, arg);
	lua_setuservalue(L, -2); /* the source pattern, for __tostring */

	re->code = pcre2_compile((PCRE2_SPTR)conv, len, flags, &errcode,
	                         &erroff, NULL);
	if (re->code == NULL)
		lre_compile_error(L, errcode, erroff, pat, len);
	/* JIT is an optimisation only: the interpreter is used on failure. */
	(void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);

	re->mctx = pcre2_match_context_create(NULL);
	if (re->mctx == NULL)
		luaL_error(L, "pcre: out of memory");
	pcre2_set_match_limit(re->mctx, LRE_MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, LRE_DEPTH_LIMIT);
	pcre2_set_heap_limit(re->mctx, LRE_HEAP_LIMIT);

	lua_remove(L, -2); /* the converted pattern */
	return re;
}

/*
 * Match the subject at stack index arg. Pushes match, begin, end and
 * returns 3, or pushes nil and returns 1 when nothing matches. Raises a
 * Lua error when the subject is too long, a limit is exceeded or PCRE2
 * fails.
 */
static int
lre_exec(lua_State *L, struct lre *re, int arg)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE *ov;
	const char *s;
	size_t len;
	int rc;

	s = luaL_checklstring(L, arg, &len);
	if (len > LRE_SUBJECT_MAX)
		return luaL_error(L,
		                  "pcre: subject too long (%d bytes, limit %d)",
		                  (int)len, LRE_SUBJECT_MAX);

	if (re->md == NULL) {
		re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
		if (re->md == NULL)
			return luaL_error(L, "pcre: out of memory");
	}

	rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, re->md, re->mctx);
	/*
	 * The default JIT stack (32 KiB) overflows on subjects of a few KiB
	 * with a capturing repeat such as ^(a|b)*c; the interpreter, bounded
	 * by the same match, depth and heap limits, goes further.
	 */
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, PCRE2_NO_JIT,
		                 re->md, re->mctx);
	if (rc == PCRE2_ERROR_NOMATCH) {
		lua_pushnil(L);
		return 1;
	}
	if (rc < 0) {
		switch (rc) {
		case PCRE2_ERROR_MATCHLIMIT:
		case PCRE2_ERROR_DEPTHLIMIT:
		case PCRE2_ERROR_HEAPLIMIT:
		case PCRE2_ERROR_JIT_STACKLIMIT:
			/* Release the frames a hostile subject made grow. */
			pcre2_match_data_free(re->md);
			re->md = NULL;
			return luaL_error(L, "pcre: match limit exceeded");
		default:
			if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
				snprintf((char *)msg, sizeof(msg), "error %d",
				         rc);
			return luaL_error(L, "pcre: match failed: %s",
			                  (const char *)msg);
		}
	}

	ov = pcre2_get_ovector_pointer(re->md);
	/* \K in a lookaround could invert them; PCRE2 forbids it by default. */
	if (ov[0] > ov[1] || ov[1] > len)
		return luaL_error(L, "pcre: invalid match offsets");
	lua_pushlstring(L, s + ov[0], ov[1] - ov[0]);
	lua_pushinteger(L, (lua_Integer)ov[0]);
	lua_pushinteger(L, (lua_Integer)ov[1]);
	return 3;
}

/* re:compile(pattern[, options]) -> regexp */
static int
lre_mod_compile(lua_State *L)
{
	lre_compile_at(L, lre_first_arg(L));
	return 1;
}

/* re:match(pattern, subject[, options]) -> match, begin, end | nil */
static int
lre_mod_match(lua_State *L)
{
	struct lre *re;
	int arg;

	arg = lre_first_arg(L);
	luaL_checkstring(L, arg + 1);
	/* Options come after the subject in this form: move them. */
	lua_settop(L, arg + 2);
	lua_pushvalue(L, arg + 2);
	lua_pushvalue(L, arg);
	lua_replace(L, arg + 2); /* arg + 2 = pattern, top = options */
	re = lre_compile_at(L, arg + 2);
	return lre_exec(L, re, arg + 1);
}

/* regexp:match(subject) and regexp:exec(subject) */
static int
lre_obj_match(lua_State *L)
{
	return lre_exec(L, lre_check(L, 1), 2);
}

static int
lre_obj_gc(lua_State *L)
{
	struct lre *re;

	re = luaL_checkudata(L, 1, LRE_MT);
	pcre2_match_data_free(re->md);
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	memset(re, 0, sizeof(*re));
	return 0;
}

static int
lre_obj_tostring(lua_State *L)
{
	luaL_checkudata(L, 1, LRE_MT);
	lua_getuservalue(L, 1);
	lua_pushfstring(L, "regexp '%s'", lua_tostring(L, -1));
	return 1;
}

static const luaL_Reg lre_module_funcs[] = {
    {"compile", lre_mod_compile},
    {"match", lre_mod_match},
    {NULL, NULL},
};

static const luaL_Reg lre_methods[] = {
    {"match", lre_obj_match},
    {"exec", lre_obj_match},
    {NULL, NULL},
};

static const luaL_Reg lre_meta[] = {
    {"__gc", lre_obj_gc},
    {"__tostring", lre_obj_tostring},
    {NULL, NULL},
};

int
luaopen_regexp_pcre(lua_State *L)
{
	if (luaL_newmetatable(L, LRE_MT)) {
		luaL_setfuncs(L, lre_meta, 0);
		luaL_newlib(L, lre_methods);
		lua_setfield(L, -2, "__index");
		lua_pushliteral(L, LRE_MT);
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);

	lua_createtable(L, 0, 1);
	luaL_newlib(L, lre_module_funcs);
	lua_pushinteger(L, LRE_CASE_INSENSITIVE);
	lua_setfield(L, -2, "CASE_INSENSITIVE");
	lua_pushinteger(L, LRE_EXTENDED);
	lua_setfield(L, -2, "EXTENDED");
	lua_setfield(L, -2, "re");
	return 1;
}
