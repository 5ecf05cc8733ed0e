/*
 * The sandboxed Lua 5.3 VM (CONVENTIONS.md section 9): counting allocator
 * with a cap, instruction budget that a rule's own pcall cannot swallow,
 * a safe library set, strict globals with a private environment per rule
 * file, text-only loading, and the one protected call every rule goes
 * through. Also the event dispatch used by the engine.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <haka/log.h>

#include "lua/lapi_pcre.h"
#include "lua/lvm_priv.h"

static const char *const event_names[EV_COUNT] = {
    [EV_STARTED] = "haka:started",
    [EV_EXITING] = "haka:exiting",
    [EV_IPV4_RECEIVE_PACKET] = "ipv4:receive_packet",
    [EV_TCP_RECEIVE_PACKET] = "tcp:receive_packet",
    [EV_TCPC_NEW_CONNECTION] = "tcp_connection:new_connection",
    [EV_TCPC_RECEIVE_PACKET] = "tcp_connection:receive_packet",
    [EV_TCPC_RECEIVE_DATA] = "tcp_connection:receive_data",
    [EV_TCPC_END_CONNECTION] = "tcp_connection:end_connection",
    [EV_IPV4_ANOMALY] = "ipv4:anomaly",
    [EV_TCPC_ANOMALY] = "tcp_connection:anomaly",
    [EV_SMTP_COMMAND] = "smtp:command",
    [EV_SMTP_RESPONSE] = "smtp:response",
    [EV_SMTP_MAIL_CONTENT] = "smtp:mail_content",
    [EV_SMTP_ANOMALY] = "smtp:anomaly",
    [EV_SMTP_STARTTLS] = "smtp:starttls",
};

const char *
hk_event_name(enum hk_event ev)
{
	if ((unsigned)ev >= EV_COUNT)
		return "unknown";
	return event_names[ev];
}

static const char lvm_key = 'k';

struct lvm *
lvm_from(lua_State *L)
{
	struct lvm *vm;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &lvm_key);
	vm = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return vm;
}

/*
 * Small blocks (strings, tables and their parts: most of what a rule
 * event allocates) are cut from 64 KB slabs and recycled through free
 * lists of 16-byte size classes, without going through malloc; the slabs
 * go back when the VM is closed. Lua always gives the block's size when it
 * frees or resizes it, so the class is known. Sanitizer builds use malloc
 * for every block, so that ASan sees each one.
 */
#if defined(__SANITIZE_ADDRESS__)
#define LVM_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LVM_POOL 0
#endif
#endif
#ifndef LVM_POOL
#define LVM_POOL 1
#endif

#define LVM_SLAB_BYTES (64u << 10)

struct lvm_slab {
	struct lvm_slab *next;
	_Alignas(16) unsigned char data[LVM_SLAB_BYTES];
};

static bool
lvm_small(size_t size)
{
	return LVM_POOL && size <= LVM_SMALL_MAX;
}

static unsigned
lvm_class(size_t size)
{
	return (unsigned)((size - 1) / LVM_SMALL_STEP);
}

static void *
lvm_block_new(struct lvm *vm, size_t size)
{
	struct lvm_slab *s;
	unsigned c;
	size_t bytes;
	void *b;

	if (!lvm_small(size))
		return malloc(size);
	c = lvm_class(size);
	if ((b = vm->small_free[c]) != NULL) {
		vm->small_free[c] = *(void **)b;
		return b;
	}
	bytes = (size_t)(c + 1) * LVM_SMALL_STEP;
	if (vm->slabs == NULL || LVM_SLAB_BYTES - vm->slab_used < bytes) {
		if ((s = malloc(sizeof(*s))) == NULL)
			return NULL;
		s->next = vm->slabs;
		vm->slabs = s;
		vm->slab_used = 0;
	}
	b = vm->slabs->data + vm->slab_used;
	vm->slab_used += bytes;
	return b;
}

static void
lvm_block_free(struct lvm *vm, void *b, size_t size)
{
	unsigned c;

	if (!lvm_small(size)) {
		free(b);
		return;
	}
	c = lvm_class(size);
	*(void **)b = vm->small_free[c];
	vm->small_free[c] = b;
}

static void
lvm_slabs_free(struct lvm *vm)
{
	struct lvm_slab *s;

	while ((s = vm->slabs) != NULL) {
		vm->slabs = s->next;
		free(s);
	}
	memset(vm->small_free, 0, sizeof(vm->small_free));
}

/*
 * Counting allocator: refuses growth past the limit, always accepts
 * shrinks. When ptr is NULL, osize is a type tag, not a size.
 */
static void *
lvm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct lvm *vm = ud;
	size_t old = ptr != NULL ? osize : 0;
	void *n;

	if (nsize == 0) {
		if (ptr != NULL)
			lvm_block_free(vm, ptr, osize);
		vm->mem_used -= old;
		return NULL;
	}
	/*
	 * The limit holds for rule code only. Outside it, the engine's own
	 * calls (an event's arguments, a flow's proxy) run unprotected: a
	 * refusal there would raise with no handler, and the panic would
	 * stop the engine. What they add is bounded by the event, and the
	 * next rule's allocations fail until enough is collected.
	 */
	if (nsize > old && vm->conf.mem_limit != 0 && vm->rule_depth > 0 &&
	    vm->mem_used - old + nsize > vm->conf.mem_limit)
		return NULL;
	if (ptr == NULL)
		n = lvm_block_new(vm, nsize);
	else if (!lvm_small(osize) && !lvm_small(nsize))
		n = realloc(ptr, nsize);
	else if (lvm_small(osize) && lvm_small(nsize) &&
	         lvm_class(osize) == lvm_class(nsize))
		n = ptr;
	else {
		/* Between a class and malloc, or between classes. */
		n = lvm_block_new(vm, nsize);
		if (n == NULL)
			return NULL;
		memcpy(n, ptr, osize < nsize ? osize : nsize);
		lvm_block_free(vm, ptr, osize);
	}
	if (n == NULL)
		return NULL;
	vm->mem_used = vm->mem_used - old + nsize;
	if (vm->mem_used > vm->mem_peak)
		vm->mem_peak = vm->mem_used;
	return n;
}

size_t
lvm_memory(const struct lvm *vm)
{
	return vm->mem_used;
}

static int
lvm_panic(lua_State *L)
{
	hk_log(LOG_FATAL, "lua", "panic: %s", lua_tostring(L, -1));
	abort();
}

#define HOOK_STEP 1000

/*
 * Instruction budget: once exceeded, the hook is re-armed to fire on every
 * instruction, so a rule's own pcall cannot swallow the error.
 */
static void
lvm_hook(lua_State *L, lua_Debug *ar)
{
	struct lvm *vm = lvm_from(L);

	(void)ar;
	if (vm->over_budget) {
		luaL_error(L, "instruction budget exceeded");
		return;
	}
	vm->instr_used += HOOK_STEP;
	if (vm->conf.instr_limit != 0 &&
	    vm->instr_used > vm->conf.instr_limit) {
		vm->over_budget = true;
		/* Every thread: a coroutine's pcall must not swallow it. */
		lua_sethook(L, lvm_hook, LUA_MASKCOUNT, 1);
		lua_sethook(vm->L, lvm_hook, LUA_MASKCOUNT, 1);
		luaL_error(L, "instruction budget exceeded (%I instructions)",
		           (lua_Integer)vm->conf.instr_limit);
	}
}

static void
arm_hook(struct lvm *vm, lua_State *co)
{
	vm->instr_used = 0;
	vm->over_budget = false;
	vm->rule_depth++;
	if (vm->conf.instr_limit != 0)
		lua_sethook(co, lvm_hook, LUA_MASKCOUNT, HOOK_STEP);
}

static void
disarm_hook(struct lvm *vm, lua_State *co)
{
	if (vm->conf.instr_limit != 0)
		lua_sethook(co, NULL, 0, 0);
	vm->over_budget = false;
	vm->rule_depth--;
}

/*
 * The message of the rule error at idx, escaped into esc as haka.log
 * escapes: the message may carry traffic (error(cmd.parameter), or an
 * object whose __tostring returns it), so that it cannot forge log lines.
 * May push values on L.
 */
static void
error_text(lua_State *L, int idx, char *esc, size_t cap)
{
	size_t len;
	const char *msg;

	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER)
		msg = lua_tolstring(L, idx, &len);
	else if (luaL_callmeta(L, idx, "__tostring") &&
	         lua_type(L, -1) == LUA_TSTRING)
		msg = lua_tolstring(L, -1, &len);
	else {
		msg = lua_pushfstring(L, "(error object is a %s value)",
		                      luaL_typename(L, idx));
		len = strlen(msg);
	}
	log_escape(esc, cap, msg, len);
}

/* The message of a rule error, escaped, with its traceback. */
static int
msgh(lua_State *L)
{
	char esc[4096];

	error_text(L, 1, esc, sizeof(esc));
	luaL_traceback(L, L, esc, 1);
	return 1;
}

static const char abort_key = 'a';

/* True when the error on top of the stack is haka.abort(). */
static bool
is_abort(lua_State *L, int idx)
{
	bool r;

	if (!lua_islightuserdata(L, idx))
		return false;
	r = lua_touserdata(L, idx) == (void *)&abort_key;
	return r;
}

static int
l_abort(lua_State *L)
{
	lua_pushlightuserdata(L, (void *)&abort_key);
	return lua_error(L);
}

static int
abort_aware_msgh(lua_State *L)
{
	if (is_abort(L, 1))
		return 1;
	return msgh(L);
}

/*
 * Call the function below nargs arguments, with the message handler at
 * stack index msgh: HK_OK with its nres results, or HK_ERR after logging
 * the error (no results). The function and its arguments are popped.
 */
static int
pcall_at(struct lvm *vm, int nargs, int nres, const char *what, int msgh)
{
	lua_State *L = vm->L;
	int rc;

	arm_hook(vm, L);
	rc = lua_pcall(L, nargs, nres, msgh);
	if (rc == LUA_OK && vm->over_budget) {
		/* Swallowed by a pcall inside a coroutine: still an error. */
		lua_pop(L, nres);
		lua_pushliteral(L, "instruction budget exceeded");
		rc = LUA_ERRRUN;
	}
	disarm_hook(vm, L);
	if (rc == LUA_OK)
		return HK_OK;
	if (is_abort(L, -1)) {
		vm->stopped = true;
		lua_pop(L, 1);
		return HK_OK;
	}
	if (rc == LUA_ERRMEM)
		hk_log(LOG_ERROR, "lua",
		       "%s: not enough memory (limit %zu bytes)", what,
		       vm->conf.mem_limit);
	else
		hk_log(LOG_ERROR, "lua", "%s", lua_tostring(L, -1));
	lua_pop(L, 1);
	if (rc == LUA_ERRMEM)
		lua_gc(L, LUA_GCCOLLECT, 0);
	return HK_ERR;
}

/* pcall_at with the message handler put below the function. */
static int
pcall_n(struct lvm *vm, int nargs, int nres, const char *what)
{
	lua_State *L = vm->L;
	int base = lua_gettop(L) - nargs; /* the function */
	int rc;

	lua_pushcfunction(L, abort_aware_msgh);
	lua_insert(L, base);
	rc = pcall_at(vm, nargs, nres, what, base);
	lua_remove(L, base);
	return rc;
}

int
lvm_pcall(struct lvm *vm, int nargs, const char *what)
{
	return pcall_n(vm, nargs, 0, what);
}

/* --- sandbox --------------------------------------------------------- */

/*
 * Reading an unknown name in a rule file is an error; a new global lands
 * in the file's own environment, never in _G. A name found in _G is
 * copied into the environment: the next reads of it (string, haka, ... in
 * a rule run for every event) are plain table hits instead of a call to
 * this function. Rule files cannot change the shared globals
 * (lock_globals), so the copy stays right.
 */
static int
env_index(lua_State *L)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	lua_pushvalue(L, 2);
	if (lua_rawget(L, -2) != LUA_TNIL) {
		lua_pushvalue(L, 2);
		lua_pushvalue(L, -2);
		lua_rawset(L, 1);
		return 1;
	}
	if (lua_type(L, 2) == LUA_TSTRING)
		return luaL_error(L, "undefined global '%s'",
		                  lua_tostring(L, 2));
	return luaL_error(L, "undefined global");
}

static int
global_newindex(lua_State *L)
{
	return luaL_error(L, "assignment to the shared global '%s' refused",
	                  lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2)
	                                                : "?");
}

/* Push a new private environment for a rule or module file. */
static void
push_env(struct lvm *vm)
{
	lua_State *L = vm->L;

	lua_newtable(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->env_mt_ref);
	lua_setmetatable(L, -2);
}

/* Load a file as text in a private environment; the chunk is pushed. */
static int
load_file(struct lvm *vm, const char *path, const char *chunkname)
{
	lua_State *L = vm->L;
	FILE *fp;
	char *buf;
	long n;
	size_t got;
	char *start;
	int rc;

	fp = fopen(path, "rb");
	if (fp == NULL) {
		lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
		return LUA_ERRFILE;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0 || n > (64L << 20)) {
		fclose(fp);
		lua_pushfstring(L, "cannot read %s", path);
		return LUA_ERRFILE;
	}
	buf = malloc((size_t)n + 1);
	if (buf == NULL) {
		fclose(fp);
		lua_pushfstring(L, "cannot read %s: out of memory", path);
		return LUA_ERRMEM;
	}
	got = fread(buf, 1, (size_t)n, fp);
	fclose(fp);
	/*
	 * Text only: bytecode is not checked by Lua. A "#!" first line is
	 * skipped but its newline kept, so line numbers stay right.
	 */
	start = buf;
	if (got > 0 && buf[0] == '#') {
		start = memchr(buf, '\n', got);
		if (start == NULL)
			start = buf + got;
	}
	rc = luaL_loadbufferx(L, start, got - (size_t)(start - buf), chunkname,
	                      "t");
	free(buf);
	if (rc != LUA_OK)
		return rc;
	push_env(vm);
	if (lua_setupvalue(L, -2, 1) == NULL)
		lua_pop(L, 1);
	return LUA_OK;
}

static bool
file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * require(name): already loaded modules, built-in modules (preload), then
 * NAME.lua in the rule file's directory, then in the project's lua/.
 */
static int
l_require(lua_State *L)
{
	struct lvm *vm = lvm_from(L);
	const char *name = luaL_checkstring(L, 1);
	const char *dirs[2];
	char path[4096], chunk[4200];
	int i, rc;

	if (strstr(name, "..") != NULL)
		return luaL_error(L, "module '%s' not found", name);
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, name) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	if (lua_getfield(L, -1, name) != LUA_TNIL) {
		lua_remove(L, -2); /* LOADED stays below the result */
		lua_pushstring(L, name);
		lua_call(L, 1, 1);
		goto loaded;
	}
	lua_pop(L, 2);
	dirs[0] = vm->rule_dir;
	dirs[1] = vm->conf.lua_dir;
	for (i = 0; i < 2; i++) {
		if (dirs[i] == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s.lua", dirs[i], name);
		if (!file_exists(path))
			continue;
		snprintf(chunk, sizeof(chunk), "@%s", path);
		rc = load_file(vm, path, chunk);
		if (rc != LUA_OK)
			return lua_error(L);
		lua_pushstring(L, name);
		lua_call(L, 1, 1);
		goto loaded;
	}
	return luaL_error(L, "module '%s' not found", name);
loaded:
	/* LOADED table is below the result. */
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, name);
	return 1;
}

/*
 * setmetatable as the base library's, except that a metatable with a
 * __gc field is refused: a finalizer would run rule code whenever the
 * collector does, outside any event, its instruction budget and its
 * memory limit (Lua marks a table for finalization when its metatable
 * is set, so a __gc added later never runs).
 */
static int
l_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argcheck(L, t == LUA_TNIL || t == LUA_TTABLE, 2,
	              "nil or table expected");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: __gc metamethods "
			                     "are not allowed in rules");
		lua_pop(L, 1);
	}
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

static void
open_safe_libs(struct lvm *vm)
{
	lua_State *L = vm->L;
	static const luaL_Reg libs[] = {
	    {"_G", luaopen_base},
	    {LUA_STRLIBNAME, luaopen_string},
	    {LUA_TABLIBNAME, luaopen_table},
	    {LUA_MATHLIBNAME, luaopen_math},
	    {LUA_UTF8LIBNAME, luaopen_utf8},
	    {LUA_COLIBNAME, luaopen_coroutine},
	    {NULL, NULL},
	};
	static const char *const removed[] = {
	    "dofile", "loadfile", "load", "collectgarbage", "loadstring", NULL};
	const luaL_Reg *lib;
	int i;

	for (lib = libs; lib->func != NULL; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
	if (vm->conf.allow_io) {
		luaL_requiref(L, LUA_IOLIBNAME, luaopen_io, 1);
		luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
		lua_pop(L, 2);
	}
	if (vm->conf.allow_debug) {
		luaL_requiref(L, LUA_DBLIBNAME, luaopen_debug, 1);
		lua_pop(L, 1);
	} else {
		/*
		 * Only a harmless part of debug, as the global and as what
		 * require('debug') returns.
		 */
		luaL_requiref(L, LUA_DBLIBNAME, luaopen_debug, 0);
		lua_newtable(L);
		lua_getfield(L, -2, "traceback");
		lua_setfield(L, -2, "traceback");
		luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
		lua_pushvalue(L, -2);
		lua_setfield(L, -2, LUA_DBLIBNAME);
		lua_pop(L, 1);
		lua_setglobal(L, "debug");
		lua_pop(L, 1);
	}
	lua_pushglobaltable(L);
	for (i = 0; removed[i] != NULL; i++) {
		lua_pushnil(L);
		lua_setfield(L, -2, removed[i]);
	}
	lua_pushcfunction(L, l_require);
	lua_setfield(L, -2, "require");
	lua_pushcfunction(L, l_setmetatable);
	lua_setfield(L, -2, "setmetatable");
	/* The original (Lua 5.1 era) code uses unpack. */
	lua_getglobal(L, "table");
	lua_getfield(L, -1, "unpack");
	lua_setfield(L, -3, "unpack");
	lua_pop(L, 2);

	/* package.loaded / package.preload without the package library. */
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_pop(L, 1);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_regexp_pcre);
	lua_setfield(L, -2, "regexp/pcre");
	lua_pop(L, 1);

	/* Environment metatable: strict reads falling through to _G. */
	lua_newtable(L);
	lua_pushcfunction(L, env_index);
	lua_setfield(L, -2, "__index");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	vm->env_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Registry key of the set of read-only library views (lock_libs). */
static const char locked_key = 'L';

/*
 * rawset, refusing the shared globals, their view _G and the library
 * views (lock_globals).
 */
static int
l_rawset(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	lua_getfield(L, -1, "_G");
	if (lua_rawequal(L, 1, -1) || lua_rawequal(L, 1, -2))
		return luaL_error(L, "assignment to the shared global table "
		                     "refused");
	lua_pop(L, 2);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &locked_key) == LUA_TTABLE) {
		lua_pushvalue(L, 1);
		if (lua_rawget(L, -2) != LUA_TNIL)
			return luaL_error(L,
			                  "assignment to a field of the "
			                  "shared library '%s' refused",
			                  lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	luaL_checkany(L, 2);
	luaL_checkany(L, 3);
	lua_settop(L, 3);
	lua_rawset(L, 1);
	return 1;
}

/* An assignment to a field of a library view (upvalue 1: its name). */
static int
lib_newindex(lua_State *L)
{
	return luaL_error(L,
	                  "assignment to %s.%s refused (the library is shared "
	                  "by every rule file: use a local)",
	                  lua_tostring(L, lua_upvalueindex(1)),
	                  lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2)
	                                                : "?");
}

/* pairs(view): the fields of the table viewed (upvalue 1). */
static int
view_pairs(lua_State *L)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	lua_getfield(L, -1, "next");
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushnil(L);
	return 3;
}

/*
 * Replace the function on top of the stack (the view's __newindex) by an
 * empty read-only view of the table at target: reads go through to it,
 * pairs() lists its fields, assignments call the function, and the
 * metatable cannot be read or changed.
 */
static void
push_view(lua_State *L, int target)
{
	target = lua_absindex(L, target);
	lua_newtable(L);       /* the view */
	lua_newtable(L);       /* its metatable */
	lua_rotate(L, -3, -1); /* __newindex on top */
	lua_setfield(L, -2, "__newindex");
	lua_pushvalue(L, target);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, target);
	lua_pushcclosure(L, view_pairs, 1);
	lua_setfield(L, -2, "__pairs");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
}

/*
 * Replace the table at field key of the table at parent by an empty
 * read-only view of it named name (push_view; assignments fail with
 * lib_newindex's message), a callable table by a callable view: the view
 * goes into the set of views (index set, for rawset) and into map (the
 * table -> its view). Nothing if the field is not a table.
 */
static void
lock_field(lua_State *L, int parent, const char *key, const char *name, int set,
           int map)
{
	parent = lua_absindex(L, parent);
	set = lua_absindex(L, set);
	map = lua_absindex(L, map);
	if (lua_getfield(L, parent, key) != LUA_TTABLE) {
		lua_pop(L, 1);
		return;
	}
	lua_pushstring(L, name);
	lua_pushcclosure(L, lib_newindex, 1);
	push_view(L, -2); /* the table, its view */
	if (lua_getmetatable(L, -2)) {
		if (lua_getfield(L, -1, "__call") != LUA_TNIL) {
			lua_getmetatable(L, -3);
			lua_insert(L, -2);
			lua_setfield(L, -2, "__call");
			lua_pop(L, 1);
		} else {
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pushvalue(L, -2);
	lua_pushvalue(L, -2);
	lua_rawset(L, map);
	lua_pushvalue(L, -1);
	lua_pushstring(L, name);
	lua_rawset(L, set);
	lua_setfield(L, parent, key);
	lua_pop(L, 1);
}

/*
 * In the values of the table at t (LOADED) and the first upvalues of the
 * functions there (PRELOAD's loaders), a table of map becomes its view:
 * require('string') is the view that string is, require('smtp') the one
 * that haka.dissectors.smtp is.
 */
static void
views_in(lua_State *L, int t, int map)
{
	t = lua_absindex(L, t);
	map = lua_absindex(L, map);
	lua_pushnil(L);
	while (lua_next(L, t) != 0) {
		if (lua_type(L, -1) == LUA_TTABLE) {
			lua_pushvalue(L, -1);
			if (lua_rawget(L, map) == LUA_TTABLE) {
				/* an existing key: lua_next goes on */
				lua_pushvalue(L, -3);
				lua_insert(L, -2);
				lua_rawset(L, t);
			} else {
				lua_pop(L, 1);
			}
		} else if (lua_type(L, -1) == LUA_TFUNCTION &&
		           lua_getupvalue(L, -1, 1) != NULL) {
			if (lua_type(L, -1) == LUA_TTABLE &&
			    lua_rawget(L, map) == LUA_TTABLE)
				lua_setupvalue(L, -2, 1);
			else
				lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
}

/*
 * The engine's module tables in the globals at g, locked as the libraries
 * are (lock_libs): haka, haka.events, haka.alert, haka.log, haka.policy,
 * haka.dissectors, each dissector's table and its events and policies
 * tables, from the leaves up, so that a rule file's haka.rule = ... or
 * smtp.events.command = nil fails at its line instead of changing them
 * for every file. What the views hold is not locked: events, policies
 * (haka.policy adds entries to them) and the tables given to rules.
 */
static void
lock_modules(lua_State *L, int g, int set, int map)
{
	static const char *const in_haka[] = {"events", "alert", "log",
	                                      "policy"};
	const char *d, *name;
	size_t i;
	int top = lua_gettop(L), h, dis, dt;

	if (lua_getfield(L, g, "haka") != LUA_TTABLE) {
		lua_settop(L, top);
		return;
	}
	h = lua_gettop(L);
	if (lua_getfield(L, h, "dissectors") == LUA_TTABLE) {
		dis = lua_gettop(L);
		lua_pushnil(L);
		while (lua_next(L, dis) != 0) {
			dt = lua_gettop(L);
			if (lua_type(L, -2) != LUA_TSTRING ||
			    lua_type(L, -1) != LUA_TTABLE) {
				lua_pop(L, 1);
				continue;
			}
			d = lua_tostring(L, -2);
			name =
			    lua_pushfstring(L, "haka.dissectors.%s.events", d);
			lock_field(L, dt, "events", name, set, map);
			name = lua_pushfstring(L, "haka.dissectors.%s.policies",
			                       d);
			lock_field(L, dt, "policies", name, set, map);
			name = lua_pushfstring(L, "haka.dissectors.%s", d);
			lock_field(L, dis, d, name, set, map);
			lua_settop(L, dt - 1);
		}
	}
	lua_settop(L, h);
	lock_field(L, h, "dissectors", "haka.dissectors", set, map);
	for (i = 0; i < HK_ARRAY_SIZE(in_haka); i++) {
		name = lua_pushfstring(L, "haka.%s", in_haka[i]);
		lock_field(L, h, in_haka[i], name, set, map);
		lua_pop(L, 1);
	}
	lock_field(L, g, "haka", "haka", set, map);
	lua_settop(L, top);
}

/*
 * The standard libraries are shared by every rule file, by the modules and
 * by the engine's own Lua code (haka.log calls string.format): each global
 * library table is replaced by an empty read-only view of it, so that
 * string.find = nil or function string.trim () fails with a clear error
 * instead of changing them for everyone; the engine's module tables too
 * (lock_modules). require() returns the views. The string methods
 * ("x":find) use the library itself, which only C can reach now: the
 * strings' metatable is locked too.
 */
static void
lock_libs(lua_State *L)
{
	static const char *const libs[] = {
	    LUA_STRLIBNAME,  LUA_TABLIBNAME, LUA_MATHLIBNAME,
	    LUA_UTF8LIBNAME, LUA_COLIBNAME,  LUA_DBLIBNAME,
	    LUA_IOLIBNAME,   LUA_OSLIBNAME,  NULL};
	int i, set, map, g;

	luaL_checkstack(L, 24, "locking the shared tables");
	lua_newtable(L); /* the set of views: view -> name */
	set = lua_gettop(L);
	lua_newtable(L); /* each table locked -> its view */
	map = lua_gettop(L);
	lua_pushglobaltable(L);
	g = lua_gettop(L);
	for (i = 0; libs[i] != NULL; i++)
		lock_field(L, g, libs[i], libs[i], set, map);
	lock_modules(L, g, set, map);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	views_in(L, -1, map);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	views_in(L, -1, map);
	lua_settop(L, set);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &locked_key);
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/*
 * Before the first rule file runs: what Lua code calls _G becomes an
 * empty view of the shared globals, whose reads go through to them and
 * whose every assignment is refused, a new name as well as a replaced
 * one (_G.string = ...). The shared table itself is then reachable only
 * from C (the registry, env_index), and its own metatable refuses new
 * names too. Rule files therefore cannot change what other files see,
 * which also keeps env_index's copies exact.
 */
static void
lock_globals(struct lvm *vm)
{
	lua_State *L = vm->L;

	lua_pushglobaltable(L);
	if (lua_getmetatable(L, -1)) {
		lua_pop(L, 2); /* locked by an earlier rule file */
		return;
	}
	lua_pushcfunction(L, l_rawset);
	lua_setfield(L, -2, "rawset");
	lock_libs(L);
	/* the view, also what require('_G') returns */
	lua_pushcfunction(L, global_newindex);
	push_view(L, -2);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_pushvalue(L, -2);
	lua_setfield(L, -2, "_G");
	lua_pop(L, 1);
	lua_setfield(L, -2, "_G");
	/* the shared table */
	lua_newtable(L);
	lua_pushcfunction(L, global_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_pop(L, 1);
}

static const char *
default_lua_dir(void)
{
	const char *env = getenv("HAKA_LUA_PATH");

	if (env != NULL && *env != '\0')
		return env;
	if (file_exists(HAKA_LUA_DIR "/class.lua"))
		return HAKA_LUA_DIR;
	return HAKA_INSTALL_LUA_DIR;
}

struct lvm *
lvm_new(const struct lvm_conf *conf, struct engine *eng)
{
	struct lvm *vm = calloc(1, sizeof(*vm));
	lua_State *L;
	int i;

	if (vm == NULL)
		return NULL;
	vm->conf = *conf;
	if (vm->conf.lua_dir == NULL)
		vm->conf.lua_dir = default_lua_dir();
	vm->eng = eng;
	L = lua_newstate(lvm_alloc, vm);
	if (L == NULL) {
		lvm_slabs_free(vm);
		free(vm);
		return NULL;
	}
	vm->L = L;
	lua_atpanic(L, lvm_panic);
	lua_pushlightuserdata(L, vm);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &lvm_key);
	open_safe_libs(vm);
	for (i = 0; i < EV_COUNT; i++) {
		lua_newtable(L);
		vm->plain_ref[i] = luaL_ref(L, LUA_REGISTRYINDEX);
		lua_newtable(L);
		vm->streamed_ref[i] = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lua_newtable(L);
	vm->coros_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	/*
	 * The proxies of connections that have ended (kept in the table
	 * for their timed wait), held weakly: freed when no rule keeps
	 * them. The fields rules set on a flow are held by f->fields_ref
	 * and given to a new proxy.
	 */
	lua_newtable(L);
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "v");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	vm->flows_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lapi_objects_init(L);
	lapi_haka_init(L, vm);
	lapi_smtp_init(L, vm);
	lapi_modules_init(L);
	lua_pushcfunction(L, l_abort);
	lua_getglobal(L, "haka");
	lua_insert(L, -2);
	lua_setfield(L, -2, "abort");
	lua_pop(L, 1);
	return vm;
}

void
lvm_free(struct lvm *vm)
{
	if (vm == NULL)
		return;
	lua_close(vm->L);
	lvm_slabs_free(vm);
	free(vm->rule_dir_buf);
	free(vm);
}

int
lvm_load_rules(struct lvm *vm, const char *path)
{
	lua_State *L = vm->L;
	char chunk[4200];
	char *copy;
	int rc;

	copy = strdup(path);
	if (copy == NULL)
		return HK_ERR;
	free(vm->rule_dir_buf);
	vm->rule_dir_buf = strdup(dirname(copy));
	free(copy);
	vm->rule_dir = vm->rule_dir_buf;
	snprintf(chunk, sizeof(chunk), "@%s", path);
	rc = load_file(vm, path, chunk);
	if (rc != LUA_OK) {
		hk_log(LOG_ERROR, "lua", "%s", lua_tostring(L, -1));
		lua_pop(L, 1);
		return HK_ERR;
	}
	lock_globals(vm);
	if (lvm_pcall(vm, 0, path) != HK_OK)
		return HK_ERR;
	return HK_OK;
}

uint32_t
lvm_rule_count(const struct lvm *vm, enum hk_event ev)
{
	return vm->nrules[ev];
}

/*
 * Rules wait for SMTP events, yet no port is given to the dissector and
 * no rule on a connection event could call smtp.dissect(flow).
 */
static bool
smtp_rules_orphaned(const struct lvm *vm)
{
	uint32_t smtp = 0, tcp = 0;
	size_t i;
	int ev;

	for (ev = EV_SMTP_COMMAND; ev <= EV_SMTP_STARTTLS; ev++)
		smtp += vm->nrules[ev];
	for (ev = EV_TCPC_NEW_CONNECTION; ev <= EV_TCPC_ANOMALY; ev++)
		if (ev != EV_IPV4_ANOMALY)
			tcp += vm->nrules[ev];
	if (smtp == 0 || tcp > 0)
		return false;
	for (i = 0; i < sizeof(vm->ports); i++)
		if (vm->ports[i] != 0)
			return false;
	return true;
}

void
lvm_rule_summary(struct lvm *vm)
{
	uint32_t total = 0;
	int i;

	for (i = 0; i < EV_COUNT; i++) {
		if (vm->nrules[i] == 0)
			continue;
		hk_log(LOG_INFO, "core", "%u rule(s) on event '%s'",
		       vm->nrules[i], event_names[i]);
		total += vm->nrules[i];
	}
	if (total == 0)
		hk_log(LOG_WARNING, "core", "no registered rule");
	else
		hk_log(LOG_INFO, "core", "%u rule(s) registered\n", total);
	if (smtp_rules_orphaned(vm))
		hk_log(LOG_WARNING, "core",
		       "rules on SMTP events, but no connection gets the SMTP "
		       "dissector: they never run (add "
		       "smtp.install_tcp_rule(25), or a haka.policy)");
}

/* --- dispatch -------------------------------------------------------- */

/* haka.abort(), or the event's packet or flow dropped by a rule. */
static bool
event_stopped(const struct lvm *vm, const struct packet *pkt,
              const struct flow *f)
{
	return vm->stopped || (pkt != NULL && pkt->verdict == PKT_DROP) ||
	       (f != NULL && (f->flags & FLOW_F_DROPPED));
}

/*
 * Call every (non-streamed) rule of ev in registration order with the
 * arguments pushed by 'push'. Stops early when a rule aborts, drops the
 * packet or drops the flow.
 */
int
lvm_dispatch(struct lvm *vm, enum hk_event ev, push_args_fn push, void *arg,
             int nargs, struct packet *pkt, struct flow *f)
{
	lua_State *L = vm->L;
	int top = lua_gettop(L), i, n, rc = HK_OK;

	/* stack: message handler, eval functions */
	lua_pushcfunction(L, abort_aware_msgh);
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->plain_ref[ev]);
	n = (int)lua_rawlen(L, -1);
	vm->stopped = false;
	vm->cur_flow = f;
	vm->cur_pkt = pkt;
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, top + 2, i);
		push(vm, arg);
		if (pcall_at(vm, nargs, 0, event_names[ev], top + 1) != HK_OK)
			rc = HK_ERR;
		if (event_stopped(vm, pkt, f))
			break;
	}
	lua_settop(L, top);
	lapi_invalidate_borrowed(vm);
	vm->cur_flow = NULL;
	vm->cur_pkt = NULL;
	return rc;
}

bool
lvm_event_stopped(const struct lvm *vm)
{
	return event_stopped(vm, vm->cur_pkt, vm->cur_flow);
}

static void
push_none(struct lvm *vm, void *arg)
{
	(void)vm;
	(void)arg;
}

int
lvm_event_simple(struct lvm *vm, enum hk_event ev)
{
	return lvm_dispatch(vm, ev, push_none, NULL, 0, NULL, NULL);
}

static void
push_packet(struct lvm *vm, void *arg)
{
	struct packet *pkt = arg;

	lapi_push_packet(vm, pkt,
	                 pkt->l4_hlen != 0 ? LPROXY_PACKET_TCP
	                                   : LPROXY_PACKET_IPV4);
}

static void
push_packet_ipv4(struct lvm *vm, void *arg)
{
	lapi_push_packet(vm, arg, LPROXY_PACKET_IPV4);
}

int
lvm_event_packet(struct lvm *vm, enum hk_event ev, struct packet *pkt)
{
	/* ipv4 rules get the IPv4 view, even of a TCP packet. */
	return lvm_dispatch(vm, ev,
	                    ev == EV_IPV4_RECEIVE_PACKET ? push_packet_ipv4
	                                                 : push_packet,
	                    pkt, 1, pkt, NULL);
}

struct flow_args {
	struct flow *f;
	struct packet *pkt;
	int dir;
	enum hk_event ev;
	enum anomaly anom;
	uint64_t end;
};

static void
push_flow_args(struct lvm *vm, void *arg)
{
	struct flow_args *a = arg;

	lapi_push_flow(vm, a->f);
	switch (a->ev) {
	case EV_TCPC_NEW_CONNECTION:
		lapi_push_packet(vm, a->pkt, LPROXY_PACKET_TCP);
		break;
	case EV_TCPC_RECEIVE_PACKET:
		lapi_push_packet(vm, a->pkt, LPROXY_PACKET_TCP);
		lua_pushstring(vm->L, lapi_dir_name(a->dir));
		break;
	default:
		break;
	}
}

int
lvm_event_flow(struct lvm *vm, enum hk_event ev, struct flow *f,
               struct packet *pkt, int dir)
{
	struct flow_args a = {f, pkt, dir, ev, 0, 0};
	int nargs = ev == EV_TCPC_NEW_CONNECTION   ? 2
	            : ev == EV_TCPC_RECEIVE_PACKET ? 3
	                                           : 1;

	return lvm_dispatch(vm, ev, push_flow_args, &a, nargs, pkt, f);
}

static void
push_anomaly_args(struct lvm *vm, void *arg)
{
	struct flow_args *a = arg;

	if (a->f != NULL) {
		lapi_push_flow(vm, a->f);
		lua_pushstring(vm->L, anomaly_name(a->anom));
		if (a->pkt != NULL)
			lapi_push_packet(vm, a->pkt,
			                 a->pkt->l4_hlen != 0
			                     ? LPROXY_PACKET_TCP
			                     : LPROXY_PACKET_IPV4);
		else
			lua_pushnil(vm->L);
	} else {
		lapi_push_packet(vm, a->pkt, LPROXY_PACKET_IPV4);
		lua_pushstring(vm->L, anomaly_name(a->anom));
	}
}

int
lvm_event_anomaly(struct lvm *vm, enum hk_event ev, struct flow *f,
                  struct packet *pkt, enum anomaly an)
{
	struct flow_args a = {f, pkt, 0, ev, an, 0};

	return lvm_dispatch(vm, ev, push_anomaly_args, &a, f != NULL ? 3 : 2,
	                    pkt, f);
}

static int resume_streamed(struct lvm *vm, struct flow *f, int nargs,
                           lua_State *co);

static void
push_data_args(struct lvm *vm, void *arg)
{
	struct flow_args *a = arg;
	struct stream *st = &a->f->dir[a->dir];
	uint64_t from = st->consumed > a->f->rd_off[a->dir]
	                    ? st->consumed
	                    : a->f->rd_off[a->dir];

	lapi_push_flow(vm, a->f);
	lapi_push_data_stream(vm, a->f, a->dir, from, a->end - from);
	lua_pushstring(vm->L, lapi_dir_name(a->dir));
}

/*
 * An engine function that runs Lua a rule can reach (the streamed
 * iterator's methods and state live in a table the rule holds): run as
 * rule code is (pcall_n), so that a rule that changed them fails instead
 * of stopping the engine. fn sees the nargs values below it as its stack
 * and leaves nres values.
 */
struct engine_call {
	struct lvm *vm;
	void (*fn)(struct lvm *vm, void *arg);
	void *arg;
	int nres;
};

static int
engine_call_k(lua_State *L)
{
	struct engine_call *c = lua_touserdata(L, lua_gettop(L));

	lua_pop(L, 1);
	c->fn(c->vm, c->arg);
	return c->nres;
}

static int
engine_call(struct lvm *vm, void (*fn)(struct lvm *vm, void *arg), void *arg,
            int nargs, int nres, const char *what)
{
	lua_State *L = vm->L;
	struct engine_call c = {vm, fn, arg, nres};

	lua_pushcfunction(L, engine_call_k);
	lua_insert(L, -nargs - 1);
	lua_pushlightuserdata(L, &c);
	return pcall_n(vm, nargs + 1, nres, what);
}

/* The message of a streamed rule's error (1) with the traceback of its
 * coroutine (2, a light userdata). */
static int
streamed_msg(lua_State *L)
{
	char esc[4096];
	lua_State *co = lua_touserdata(L, 2);

	error_text(L, 1, esc, sizeof(esc));
	luaL_traceback(L, co, esc, 0);
	return 1;
}

/*
 * Resume one streamed coroutine; its record (a table {co, it, done}) is
 * on top of the stack. Returns HK_ERR when the rule failed.
 */
static int
resume_streamed(struct lvm *vm, struct flow *f, int nargs, lua_State *co)
{
	lua_State *L = vm->L;
	bool over;
	int rc;

	arm_hook(vm, co);
	rc = lua_resume(co, L, nargs);
	over = vm->over_budget;
	disarm_hook(vm, co);
	if (vm->conf.instr_limit != 0) {
		/*
		 * A rule may resume this coroutine itself (it can keep it):
		 * it stays budgeted, on the budget of the event running it.
		 * And an overrun in a coroutine it resumed left the main
		 * thread hooked at every instruction: cleared (no rule code
		 * runs on it around here).
		 */
		lua_sethook(co, lvm_hook, LUA_MASKCOUNT, HOOK_STEP);
		lua_sethook(L, NULL, 0, 0);
	}
	if (over && (rc == LUA_OK || rc == LUA_YIELD)) {
		/* Swallowed by a pcall around a nested coroutine. */
		lua_settop(co, 0);
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "done");
		hk_log(LOG_ERROR, "lua", "instruction budget exceeded");
		return HK_ERR;
	}
	if (rc == LUA_YIELD) {
		lua_settop(co, 0);
		return HK_OK;
	}
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "done");
	if (rc == LUA_OK)
		return HK_OK;
	if (is_abort(co, -1)) {
		vm->stopped = true;
		return HK_OK;
	}
	{
		int top = lua_gettop(L);

		/*
		 * The value is read on L: co is dead, nothing runs on it.
		 * Its __tostring is rule code: run protected and budgeted,
		 * as a plain rule's message handler is.
		 */
		lua_pushcfunction(L, streamed_msg);
		lua_xmove(co, L, 1);
		lua_pushlightuserdata(L, co);
		/* When it fails, pcall_n logs its own error. */
		if (pcall_n(vm, 2, 1, "a streamed rule's error") == HK_OK)
			hk_log(LOG_ERROR, "lua", "%s", lua_tostring(L, -1));
		lua_settop(L, top);
	}
	(void)f;
	return HK_ERR;
}

int
lvm_streamed(struct lvm *vm, struct flow *f, const struct lvm_streamed_ops *ops)
{
	lua_State *L = vm->L;
	int rc = HK_OK, top = lua_gettop(L), i, n, nargs;

	vm->cur_flow = f;
	vm->stopped = false;
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->streamed_ref[ops->ev]);
	n = (int)lua_rawlen(L, -1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->coros_ref);
	if (lua_rawgetp(L, -1, f) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, -3, f);
	}
	/* stack: eval functions, coros, flowcoros */
	for (i = 1; i <= n; i++) {
		lua_State *co;
		int key = ops->key_base + i;

		lua_rawgeti(L, top + 1, i); /* eval, at top + 4 */
		if (lua_rawgeti(L, top + 3, key) == LUA_TNIL) {
			if (!ops->create) {
				lua_pop(L, 2);
				continue;
			}
			/* A new coroutine: eval(flow, iterator[, extra]). */
			lua_pop(L, 1);
			lua_newtable(L);
			co = lua_newthread(L);
			lua_setfield(L, -2, "co");
			if (engine_call(vm, ops->push_iter, ops->arg, 0, 1,
			                event_names[ops->ev]) != HK_OK) {
				rc = HK_ERR;
				lua_pop(L, 2);
				continue;
			}
			lua_setfield(L, -2, "it");
			lua_pushvalue(L, -1);
			lua_rawseti(L, top + 3, key);
			lua_pushvalue(L, top + 4);
			lua_xmove(L, co, 1);
			lapi_push_flow(vm, f);
			lua_xmove(L, co, 1);
			lua_getfield(L, -1, "it");
			lua_xmove(L, co, 1);
			nargs = 2;
			if (ops->push_extra != NULL) {
				ops->push_extra(co, ops->arg);
				nargs++;
			}
		} else {
			if (lua_getfield(L, -1, "done") == LUA_TBOOLEAN) {
				/* The rule returned: not called again here. */
				lua_pop(L, 2);
				if (ops->forget) {
					lua_pushnil(L);
					lua_rawseti(L, top + 3, key);
				}
				lua_pop(L, 1);
				continue;
			}
			lua_pop(L, 1);
			lua_getfield(L, -1, "co");
			co = lua_tothread(L, -1);
			lua_pop(L, 1);
			nargs = 0;
		}
		if (ops->feed != NULL) {
			lua_pushvalue(L, -1);
			if (engine_call(vm, ops->feed, ops->arg, 1, 0,
			                event_names[ops->ev]) != HK_OK) {
				/* The rule broke its iterator: it stops. */
				rc = HK_ERR;
				lua_pushboolean(L, 1);
				lua_setfield(L, -2, "done");
				lua_settop(L, top + 3);
				continue;
			}
		}
		if (resume_streamed(vm, f, nargs, co) != HK_OK)
			rc = HK_ERR;
		if (lua_getfield(L, -1, "done") == LUA_TNIL &&
		    ops->after != NULL) {
			lua_pop(L, 1);
			ops->after(vm, ops->arg);
		} else {
			lua_pop(L, 1);
		}
		if (ops->forget) {
			lua_pushnil(L);
			lua_rawseti(L, top + 3, key);
		}
		lua_pop(L, 2);
		if (event_stopped(vm, NULL, f))
			break;
	}
	lua_settop(L, top);
	lapi_invalidate_borrowed(vm);
	vm->cur_flow = NULL;
	return rc;
}

struct data_round {
	struct flow *f;
	int dir;
	uint64_t *keep;
};

static void
data_push_iter(struct lvm *vm, void *arg)
{
	struct data_round *r = arg;

	lapi_push_iter(vm, r->f, r->dir, r->f->dir[r->dir].consumed);
}

static void
data_push_dir(lua_State *co, void *arg)
{
	lua_pushstring(co, lapi_dir_name(((struct data_round *)arg)->dir));
}

/* A rule still running needs the bytes from its iterator's position. */
static void
data_after(struct lvm *vm, void *arg)
{
	struct data_round *r = arg;
	struct lproxy *it;

	lua_getfield(vm->L, -1, "it");
	it = lua_touserdata(vm->L, -1);
	if (it != NULL && it->off < *r->keep)
		*r->keep = it->off;
	lua_pop(vm->L, 1);
}

int
lvm_event_data(struct lvm *vm, struct flow *f, int dir, uint64_t end,
               bool finished, uint64_t *keep)
{
	struct stream *st = &f->dir[dir];
	struct flow_args a = {f, NULL, dir, EV_TCPC_RECEIVE_DATA, 0, end};
	struct data_round r = {f, dir, keep};
	struct lvm_streamed_ops ops = {
	    .ev = EV_TCPC_RECEIVE_DATA,
	    .key_base = dir * 100000,
	    .create = end > st->consumed || finished,
	    .forget = false,
	    .push_iter = data_push_iter,
	    .push_extra = data_push_dir,
	    .after = data_after,
	    .arg = &r,
	};
	int rc = HK_OK;

	*keep = end;
	/* Non-streamed rules see each byte once, even if others keep it. */
	if (end > st->consumed && end > f->rd_off[dir]) {
		rc = lvm_dispatch(vm, EV_TCPC_RECEIVE_DATA, push_data_args, &a,
		                  3, NULL, f);
		f->rd_off[dir] = end;
	}
	if (f->flags & FLOW_F_DROPPED)
		return rc;
	/* Streamed rules: one coroutine per (flow, direction, rule). */
	vm->data_finished = finished;
	if (lvm_streamed(vm, f, &ops) != HK_OK)
		rc = HK_ERR;
	if (*keep < st->consumed)
		*keep = st->consumed;
	return rc;
}

void
lvm_flow_free(struct lvm *vm, struct flow *f)
{
	lua_State *L = vm->L;
	struct lproxy *p;

	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->coros_ref);
	if (lua_rawgetp(L, -1, f) == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2) != 0) {
			lua_getfield(L, -1, "it");
			p = lua_touserdata(L, -1);
			if (p != NULL)
				p->ptr = NULL;
			lua_pop(L, 2);
		}
		lua_pushnil(L);
		lua_rawsetp(L, -3, f);
	}
	lua_pop(L, 2);
	/* A live proxy is in flows_ref, held strongly or not. */
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->flows_ref);
	if (lua_rawgetp(L, -1, f) == LUA_TUSERDATA) {
		p = lua_touserdata(L, -1);
		p->ptr = NULL;
		lua_pushnil(L);
		lua_rawsetp(L, -3, f);
	}
	lua_pop(L, 2);
	lvm_flow_ended(vm, f);
	if (f->fields_ref >= 0) {
		luaL_unref(L, LUA_REGISTRYINDEX, f->fields_ref);
		f->fields_ref = LUA_NOREF;
	}
}

/*
 * The proxy is already in vm->flows_ref (lapi_push_flow): dropping the
 * strong reference allocates nothing, so no memory error can be raised
 * here, outside any protected call.
 */
void
lvm_flow_ended(struct lvm *vm, struct flow *f)
{
	if (f->lua_ref < 0)
		return;
	luaL_unref(vm->L, LUA_REGISTRYINDEX, f->lua_ref);
	f->lua_ref = LUA_NOREF;
}
