/*
 * The Lua module 'regexp/pcre' (PCRE2 with bounded matching), as rules see
 * it through require('regexp/pcre'). The VM registers luaopen_regexp_pcre
 * in package.preload; see lapi_pcre.c for the Lua API.
 */
#ifndef HAKA_LAPI_PCRE_H
#define HAKA_LAPI_PCRE_H

#include <lua.h>

/*
 * Build the module table { re = { compile, match, CASE_INSENSITIVE,
 * EXTENDED } } and the "haka.regexp" metatable. Returns 1 (the module
 * table is on the stack). Raises a Lua error only on out of memory.
 */
int luaopen_regexp_pcre(lua_State *L);

#endif
