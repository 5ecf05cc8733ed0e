/*
 * Unit tests of the sandboxed Lua VM (src/lua/lvm.c, lapi_haka.c;
 * CONVENTIONS.md section 9) and of the rule API it exposes (HAKA.md
 * section b): memory cap, instruction budget, strict globals and private
 * environments, the library set, text-only loading, require, rule
 * validation, rule errors, haka.abort, alerts, logs and debug.pprint.
 *
 * Every rule file is written at run time into a mkdtemp directory. Log
 * lines are captured with log_set_output() and alerts with
 * alert_add_output(), both into memstreams. The binary runs with the
 * working directory tests/ of the source tree (ctest), but the project's
 * lua/ directory is taken from HAKA_LUA_DIR when the build defines it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>

#include <haka/alert.h>
#include <haka/engine.h>
#include <haka/log.h>
#include <haka/lvm.h>

#include "unittest.h"

#ifdef HAKA_LUA_DIR
#define TEST_LUA_DIR HAKA_LUA_DIR
#else
#define TEST_LUA_DIR "../lua" /* run from tests/ */
#endif

#define MB (1024 * 1024)

/* --- fixture ------------------------------------------------------------ */

static char tmpdir[] = "/tmp/lvm_test.XXXXXX";
static struct engine *eng;

/* The VM of the running test, and the captured log and alert text. */
static struct lvm *vm;
static char *log_buf, *alert_buf;
static size_t log_len, alert_len;
static FILE *log_f, *alert_f;
static int failures_before;

static struct lvm *
vm_start(size_t mem_limit, uint64_t instr_limit, bool allow_io)
{
	struct lvm_conf conf;

	memset(&conf, 0, sizeof(conf));
	conf.mem_limit = mem_limit;
	conf.instr_limit = instr_limit;
	conf.allow_io = allow_io;
	conf.lua_dir = TEST_LUA_DIR;
	vm = lvm_new(&conf, eng);
	return vm;
}

static void
capture_start(void)
{
	log_f = open_memstream(&log_buf, &log_len);
	if (log_f != NULL)
		log_set_output(log_f);
	alert_f = open_memstream(&alert_buf, &alert_len);
	if (alert_f != NULL)
		alert_add_output(alert_f, ALERT_FMT_PRETTY, false);
}

/* The log text captured so far. */
static const char *
log_text(void)
{
	if (log_f == NULL)
		return "";
	fflush(log_f);
	return log_buf != NULL ? log_buf : "";
}

static const char *
alert_text(void)
{
	if (alert_f == NULL)
		return "";
	fflush(alert_f);
	return alert_buf != NULL ? alert_buf : "";
}

static bool
log_has(const char *needle)
{
	return strstr(log_text(), needle) != NULL;
}

/* Forget what was logged so far. */
static void
log_reset(void)
{
	if (log_f == NULL)
		return;
	fflush(log_f);
	rewind(log_f);
	fflush(log_f);
	if (log_buf != NULL)
		log_buf[0] = '\0';
}

static void
setup(void)
{
	failures_before = ut_failures;
	vm = NULL;
	capture_start();
}

/* Runs after every test, whether it passed or returned early. */
static void
teardown(void)
{
	if (ut_failures != failures_before) {
		fprintf(stderr, "--- log of the failed test:\n%s---\n",
		        log_text());
		fprintf(stderr, "--- alerts of the failed test:\n%s---\n",
		        alert_text());
	}
	lvm_free(vm);
	vm = NULL;
	log_set_output(NULL);
	alert_clear_outputs();
	if (log_f != NULL)
		fclose(log_f);
	if (alert_f != NULL)
		fclose(alert_f);
	free(log_buf);
	free(alert_buf);
	log_f = alert_f = NULL;
	log_buf = alert_buf = NULL;
	log_len = alert_len = 0;
}

#define RUN(fn)                                                                \
	do {                                                                   \
		setup();                                                       \
		RUN_TEST(fn);                                                  \
		teardown();                                                    \
	} while (0)

/* Path of a file of the temporary directory (a static buffer per slot). */
static const char *
tmp_path(const char *name)
{
	static char buf[4][512];
	static int slot;
	char *p = buf[slot++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return p;
}

static int
write_bytes(const char *name, const void *data, size_t len)
{
	FILE *fp = fopen(tmp_path(name), "wb");
	int rc = 0;

	if (fp == NULL)
		return -1;
	if (fwrite(data, 1, len, fp) != len)
		rc = -1;
	if (fclose(fp) != 0)
		rc = -1;
	return rc;
}

/* Write the rule file tmpdir/name and load it into the test's VM. */
static int
load_text(const char *name, const char *text)
{
	if (write_bytes(name, text, strlen(text)) != 0)
		return -2;
	return lvm_load_rules(vm, tmp_path(name));
}

/* --- 1. memory cap ------------------------------------------------------- */

static void
test_mem_cap_at_load(void)
{
	static const char hog[] =
	    "local t = {}\n"
	    "for i = 1, 1e7 do t[i] = string.rep('x', 100) .. i end\n";
	static const char ok[] =
	    "loaded_after_oom = true\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('after oom %s', tostring(loaded_after_oom))\n"
	    "end}\n";

	FAIL_IF(vm_start(8 * MB, 0, false) == NULL);
	FAIL_IF_NOT(load_text("hog.lua", hog) == HK_ERR);
	FAIL_IF_NOT(log_has("not enough memory"));
	FAIL_IF_NOT(log_has("error"));
	FAIL_IF(lvm_memory(vm) > 8 * MB);
	/* The VM is still usable: another file loads and its rule runs. */
	log_reset();
	FAIL_IF_NOT(load_text("after.lua", ok) == HK_OK);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_STARTED) == 1);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(log_has("after oom true"));
}

static void
test_mem_cap_in_rule(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  local t = {}\n"
	    "  for i = 1, 1e7 do t[i] = string.rep('y', 100) .. i end\n"
	    "end}\n"
	    "haka.rule{on = haka.events.exiting, eval = function ()\n"
	    "  local v = 'first'\n"
	    "  haka.log('still %s', 'alive')\n"
	    "end}\n";

	FAIL_IF(vm_start(8 * MB, 0, false) == NULL);
	FAIL_IF_NOT(load_text("hog_rule.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_ERR);
	FAIL_IF_NOT(log_has("not enough memory"));
	FAIL_IF(lvm_memory(vm) > 8 * MB);
	/*
	 * Other rules still run. (The exiting rule starts with a local so
	 * that no stale register keeps the garbage alive: see the next test.)
	 */
	FAIL_IF_NOT(lvm_event_simple(vm, EV_EXITING) == HK_OK);
	FAIL_IF_NOT(log_has("still alive"));
	FAIL_IF(lvm_memory(vm) > 1 * MB);
	/* Again: it fails the same way, and nothing crashes. */
	log_reset();
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_ERR);
	FAIL_IF_NOT(log_has("not enough memory"));
	FAIL_IF(lvm_memory(vm) > 8 * MB);
}

/*
 * Regression (lvm_pcall's LUA_ERRMEM branch): after a rule failed with
 * "not enough memory", its garbage stayed reachable (a stale register of
 * the Lua frame, marked by the emergency collection when the next global
 * read needed a CallInfo) and every following event failed too. A full
 * collection after LUA_ERRMEM, while the stack is shallow, frees it
 * (8.38 MB back to 0.11 MB when this was found).
 */
static void
test_mem_recovers_after_oom_in_rule(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  local t = {}\n"
	    "  for i = 1, 1e7 do t[i] = string.rep('y', 100) .. i end\n"
	    "end}\n"
	    "haka.rule{on = haka.events.exiting, eval = function ()\n"
	    "  haka.log('still %s', 'alive')\n"
	    "end}\n";

	FAIL_IF(vm_start(8 * MB, 0, false) == NULL);
	FAIL_IF_NOT(load_text("hog_rule2.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_ERR);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_EXITING) == HK_OK);
	FAIL_IF_NOT(log_has("still alive"));
	FAIL_IF(lvm_memory(vm) > 1 * MB);
}

/*
 * Regression: a rule that keeps what it allocates up to the limit (pcall
 * swallows its own "not enough memory") left no room for the engine's
 * next event arguments, made outside any protected call (the flow's
 * proxy here): the refusal raised with no handler, and the panic aborted
 * the engine. The limit now binds rule code only; the event's rule then
 * fails, and runs again once the memory is released.
 */
static void
test_mem_cap_event_args(void)
{
	static const char rules[] =
	    "local tcpc = require('protocol/tcp_connection')\n"
	    "local head, ends = nil, 0\n"
	    "local function fill () while true do head = {head} end end\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  pcall(fill)\n"
	    "  pcall(fill)\n"
	    "end}\n"
	    "haka.rule{on = tcpc.events.end_connection, eval = function (f)\n"
	    "  ends = ends + 1\n"
	    "  local t = {f, ends}\n"
	    "  haka.log('end %d', ends)\n"
	    "end}\n"
	    "haka.rule{on = haka.events.exiting, eval = function ()\n"
	    "  head = nil\n"
	    "end}\n";
	struct flow *f = calloc(1, sizeof(*f));

	FAIL_IF(f == NULL);
	f->lua_ref = f->fields_ref = LUA_NOREF;
	FAIL_IF(vm_start(4 * MB, 0, false) == NULL);
	FAIL_IF_NOT(load_text("hoard.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF(lvm_memory(vm) < 4 * MB - 4096);
	/* The proxy is made over the limit; the rule's table is refused. */
	FAIL_IF_NOT(lvm_event_flow(vm, EV_TCPC_END_CONNECTION, f, NULL, 0) ==
	            HK_ERR);
	FAIL_IF_NOT(log_has("not enough memory"));
	FAIL_IF(log_has("end 1\n"));
	FAIL_IF(lvm_memory(vm) > 4 * MB + 64 * 1024);
	/* Released: the same event runs again. */
	FAIL_IF_NOT(lvm_event_simple(vm, EV_EXITING) == HK_OK);
	log_reset();
	FAIL_IF_NOT(lvm_event_flow(vm, EV_TCPC_END_CONNECTION, f, NULL, 0) ==
	            HK_OK);
	FAIL_IF_NOT(log_has("end 2\n"));
	lvm_flow_free(vm, f);
	free(f);
}

/*
 * Blocks of every size move between the slab classes and malloc (lvm.c:
 * up to 256 bytes from slabs): strings of 1 to 700 bytes, tables grown
 * from empty to 300 entries (their parts resized through the classes and
 * past them), emptied and refilled, all checked after the collector ran
 * over the garbage they left.
 */
static void
test_heap_blocks(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  local strs, tabs = {}, {}\n"
	    "  for round = 1, 3 do\n"
	    "    for n = 1, 700 do\n"
	    "      strs[n] = string.rep(string.char(65 + n % 26), n) .. round\n"
	    "    end\n"
	    "    for n = 1, 300, 7 do\n"
	    "      local t = {}\n"
	    "      for i = 1, n do t['k' .. i] = i; t[i] = -i end\n"
	    "      for i = 1, n, 2 do t['k' .. i] = nil end\n"
	    "      for i = n + 1, n + 5 do t['x' .. i] = i end\n"
	    "      tabs[n] = t\n"
	    "    end\n"
	    "    local junk = {}\n"
	    "    for i = 1, 20000 do junk[i % 100 + 1] = {i, tostring(i)} end\n"
	    "  end\n"
	    "  for n = 1, 700 do\n"
	    "    local s = strs[n]\n"
	    "    assert(#s == n + 1 and s:sub(-1) == '3', 'string ' .. n)\n"
	    "    assert(s:byte(1) == 65 + n % 26 and s:byte(n) == 65 + n % 26)\n"
	    "  end\n"
	    "  for n = 1, 300, 7 do\n"
	    "    local t, c = tabs[n], 0\n"
	    "    for i = 1, n do\n"
	    "      assert(t[i] == -i)\n"
	    "      assert(t['k' .. i] == (i % 2 == 0 and i or nil))\n"
	    "    end\n"
	    "    for k in pairs(t) do c = c + 1 end\n"
	    "    assert(c == n + n // 2 + 5, 'table ' .. n)\n"
	    "  end\n"
	    "  haka.log('heap %s', 'ok')\n"
	    "end}\n";

	FAIL_IF(vm_start(64 * MB, 0, false) == NULL);
	FAIL_IF_NOT(load_text("heap.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(log_has("heap ok"));
}

/* --- 2. instruction budget ---------------------------------------------- */

static double
cpu_seconds(clock_t start)
{
	return (double)(clock() - start) / CLOCKS_PER_SEC;
}

static void
test_instr_budget_loop(void)
{
	clock_t start = clock();

	FAIL_IF(vm_start(0, 1000000, false) == NULL);
	FAIL_IF_NOT(load_text("loop.lua", "while true do end\n") == HK_ERR);
	FAIL_IF_NOT(log_has("error lua:"));
	FAIL_IF_NOT(log_has("loop.lua:1:"));
	FAIL_IF(cpu_seconds(start) > 5.0);
	/* The VM is still usable, with a fresh budget. */
	log_reset();
	FAIL_IF_NOT(load_text("after_loop.lua",
	                      "for i = 1, 1000 do end\n"
	                      "haka.log('after %s', 'loop')\n") == HK_OK);
	FAIL_IF_NOT(log_has("after loop"));
}

/*
 * Regression (lvm_hook): the first overrun's message was formatted with
 * %llu, which lua_pushfstring does not know, so "while true do end" was
 * logged as "invalid option '%l'" instead of "instruction budget
 * exceeded".
 */
static void
test_instr_budget_message(void)
{
	FAIL_IF(vm_start(0, 1000000, false) == NULL);
	FAIL_IF_NOT(load_text("loop_msg.lua", "while true do end\n") == HK_ERR);
	FAIL_IF_NOT(log_has("instruction budget exceeded"));
	FAIL_IF(log_has("invalid option"));
}

static void
test_instr_budget_not_swallowed_by_pcall(void)
{
	static const char rules[] =
	    "local ok = pcall(function () while true do end end)\n"
	    "while true do end\n";
	static const char rules2[] =
	    "for i = 1, 1000 do\n"
	    "  pcall(function () while true do end end)\n"
	    "end\n"
	    "haka.log('swallowed the budget')\n";
	clock_t start = clock();

	FAIL_IF(vm_start(0, 1000000, false) == NULL);
	FAIL_IF_NOT(load_text("pcall_loop.lua", rules) == HK_ERR);
	FAIL_IF_NOT(log_has("instruction budget exceeded"));
	FAIL_IF(cpu_seconds(start) > 5.0);
	/* Nor by a pcall in a loop, nor by xpcall. */
	log_reset();
	start = clock();
	FAIL_IF_NOT(load_text("pcall_loop2.lua", rules2) == HK_ERR);
	FAIL_IF(log_has("swallowed the budget"));
	FAIL_IF_NOT(log_has("instruction budget exceeded"));
	FAIL_IF_NOT(load_text("xpcall_loop.lua",
	                      "xpcall(function () while true do end end,\n"
	                      "  function (e) return e end)\n"
	                      "haka.log('swallowed the budget')\n") == HK_ERR);
	FAIL_IF(log_has("swallowed the budget"));
	FAIL_IF(cpu_seconds(start) > 5.0);
}

/*
 * Regression (lvm_hook, lvm_pcall): an overrun inside a coroutine used
 * to re-arm the hook on the coroutine only, so a pcall of the parent
 * thread caught the error and the load or event ended with HK_OK; the
 * budget is now checked by the main thread too (vm->over_budget).
 */
static void
test_instr_budget_coroutine(void)
{
	clock_t start = clock();

	FAIL_IF(vm_start(0, 1000000, false) == NULL);
	FAIL_IF_NOT(
	    load_text("coro_loop.lua",
	              "pcall(coroutine.wrap(function () while true do end "
	              "end))\n"
	              "haka.log('swallowed the budget')\n") == HK_ERR);
	FAIL_IF(log_has("swallowed the budget"));
	FAIL_IF_NOT(log_has("instruction budget exceeded"));
	FAIL_IF(cpu_seconds(start) > 5.0);
}

static void
test_instr_budget_per_event(void)
{
	/* About 300k instructions per call: fine once, never cumulative. */
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  local n = 0\n"
	    "  for i = 1, 100000 do n = n + i end\n"
	    "end}\n"
	    "haka.rule{on = haka.events.exiting, eval = function ()\n"
	    "  while true do end\n"
	    "end}\n";
	clock_t start = clock();
	int i;

	FAIL_IF(vm_start(0, 1000000, false) == NULL);
	FAIL_IF_NOT(load_text("budget.lua", rules) == HK_OK);
	for (i = 0; i < 20; i++)
		FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF(log_has("error"));
	FAIL_IF_NOT(lvm_event_simple(vm, EV_EXITING) == HK_ERR);
	FAIL_IF_NOT(log_has("budget.lua:6:"));
	/* The next event gets a fresh budget. */
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF(cpu_seconds(start) > 5.0);
}

/* --- 3. strict globals, private environments ----------------------------- */

static void
test_strict_globals(void)
{
	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("undef.lua", "local x = undefined_name\n") ==
	            HK_ERR);
	FAIL_IF_NOT(log_has("undefined global 'undefined_name'"));
	/* The error carries the file and line. */
	FAIL_IF_NOT(log_has("undef.lua:1:"));
	/* Also at event time, inside a rule. */
	log_reset();
	FAIL_IF_NOT(
	    load_text("undef_rule.lua",
	              "haka.rule{on = haka.events.started, eval = function "
	              "()\n"
	              "  return another_undefined\n"
	              "end}\n") == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_ERR);
	FAIL_IF_NOT(log_has("undefined global 'another_undefined'"));
}

/*
 * A shared global read from a rule file is copied into the file's
 * environment: reading it again, shadowing it and clearing the shadow
 * behave as before, and unknown names still fail.
 */
static void
test_global_copies(void)
{
	static const char src[] =
	    "local s1 = string\n"
	    "assert(rawget(_ENV, 'string') == s1, 'not copied')\n"
	    "assert(string == _G.string)\n"
	    "string = 'mine'\n"
	    "assert(string == 'mine', 'shadow lost')\n"
	    "assert(_G.string == s1, 'shared table changed')\n"
	    "string = nil\n"
	    "assert(string == s1, 'the shared string library is back')\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('upper %s', string.upper('ok'))\n"
	    "  return not_defined_here\n"
	    "end}\n";
	int i;

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("copies.lua", src) == HK_OK);
	for (i = 0; i < 3; i++) {
		log_reset();
		FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_ERR);
		FAIL_IF_NOT(log_has("upper OK"));
		FAIL_IF_NOT(log_has("undefined global 'not_defined_here'"));
	}
}

static void
test_private_environments(void)
{
	static const char a[] =
	    "shared_name = 42\n"
	    "function helper() return shared_name + 1 end\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  assert(shared_name == 42 and helper() == 43)\n"
	    "  haka.log('a sees %d', shared_name)\n"
	    "end}\n";
	static const char b[] =
	    "assert(_G.shared_name == nil)\n"
	    "assert(_G.helper == nil)\n"
	    "local ok, err = pcall(function () return shared_name end)\n"
	    "assert(not ok, 'b sees the name of a')\n"
	    "assert(err:find(\"undefined global 'shared_name'\", 1, true), "
	    "err)\n"
	    "shared_name = 'b'\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('b sees %s', shared_name)\n"
	    "end}\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("env_a.lua", a) == HK_OK);
	FAIL_IF_NOT(load_text("env_b.lua", b) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(log_has("a sees 42"));
	FAIL_IF_NOT(log_has("b sees b"));
}

static void
test_global_table_locked(void)
{
	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("g_assign.lua", "_G.x = 1\n") == HK_ERR);
	FAIL_IF_NOT(log_has("refused"));
	FAIL_IF_NOT(log_has("'x'"));
	/* At event time as well. */
	log_reset();
	FAIL_IF_NOT(
	    load_text("g_assign_rule.lua",
	              "haka.rule{on = haka.events.started, eval = function "
	              "()\n"
	              "  _G.y = 1\n"
	              "end}\n") == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_ERR);
	FAIL_IF_NOT(log_has("refused"));
	/* Nothing leaked into _G. */
	log_reset();
	FAIL_IF_NOT(load_text("g_check.lua", "assert(_G.x == nil and "
	                                     "_G.y == nil)\n") == HK_OK);
}

/* Loading text as the file PREFIX<i>.lua fails and logs msg. */
static bool
load_refused(const char *prefix, size_t i, const char *text, const char *msg)
{
	char name[32];

	log_reset();
	snprintf(name, sizeof(name), "%s%zu.lua", prefix, i);
	if (load_text(name, text) == HK_ERR && log_has(msg))
		return true;
	fprintf(stderr, "case %zu: not refused with '%s'\n", i, msg);
	return false;
}

/*
 * Replacing a shared global that exists (string, haka, ...) is refused
 * like creating one, at load and at event time, and through rawset: the
 * other rule files keep seeing the library. pairs(_G) still lists the
 * shared names.
 */
static void
test_global_replace_refused(void)
{
	static const char evil[] =
	    "local ok, err = pcall(function () _G.string = 'replaced' end)\n"
	    "assert(not ok and err:find('refused', 1, true), 'replaced')\n"
	    "assert(not pcall(rawset, _G, 'string', 'raw'), 'rawset')\n"
	    "local seen = false\n"
	    "for k in pairs(_G) do if k == 'string' then seen = true end end\n"
	    "assert(seen, 'pairs(_G) lists string')\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  _G.haka = nil\n"
	    "end}\n";
	static const char other[] =
	    "assert(type(string) == 'table' and _G.string == string)\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('other sees %s', string.upper('the library'))\n"
	    "end}\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("g_replace.lua", evil) == HK_OK);
	FAIL_IF_NOT(load_text("g_other.lua", other) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_ERR);
	FAIL_IF_NOT(log_has("assignment to the shared global 'haka' refused"));
	FAIL_IF_NOT(log_has("other sees THE LIBRARY"));
}

/*
 * The engine's module tables are locked as the libraries are: each of
 * these assignments fails at its line with the table's name (the first
 * also through rawset), and a second rule file still finds what the
 * first tried to replace. require() gives the same locked tables that
 * haka holds, and reading, pairs(), calling haka.alert, haka.log and
 * haka.policy, and a strict events table's error work through them.
 */
static void
test_module_tables_locked(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	    {"haka.rule = nil\n", "assignment to haka.rule refused"},
	    {"function haka.helper () end\n",
	     "assignment to haka.helper refused"},
	    {"rawset(haka, 'rule', print)\n",
	     "assignment to a field of the shared library 'haka' refused"},
	    {"haka.events.started = 1\n",
	     "assignment to haka.events.started refused"},
	    {"haka.alert.address = nil\n",
	     "assignment to haka.alert.address refused"},
	    {"haka.log.info = print\n", "assignment to haka.log.info refused"},
	    {"haka.policy.x = 1\n", "assignment to haka.policy.x refused"},
	    {"haka.dissectors.smtp = nil\n",
	     "assignment to haka.dissectors.smtp refused"},
	    {"require('smtp').install_tcp_rule = nil\n",
	     "assignment to haka.dissectors.smtp.install_tcp_rule refused"},
	    {"require('smtp').events.command = nil\n",
	     "assignment to haka.dissectors.smtp.events.command refused"},
	    {"local t = require('protocol/tcp_connection')\n"
	     "t.policies.next_dissector = nil\n",
	     "assignment to haka.dissectors.tcp_connection.policies."
	     "next_dissector refused"},
	};
	static const char still[] =
	    "local smtp = require('smtp')\n"
	    "assert(smtp == haka.dissectors.smtp)\n"
	    "assert(require('haka/policy') == haka.policy)\n"
	    "assert(require('protocol/tcp_connection') ==\n"
	    "  haka.dissectors.tcp_connection)\n"
	    "assert(type(haka.rule) == 'function' and haka.helper == nil)\n"
	    "assert(type(smtp.install_tcp_rule) == 'function')\n"
	    "assert(type(haka.alert.address) == 'function')\n"
	    "assert(getmetatable(haka) == 'locked')\n"
	    "local n = 0\n"
	    "for k in pairs(haka) do n = n + 1 end\n"
	    "assert(n >= 10, n)\n"
	    "local ok, err = pcall(function () return smtp.events.comand end)\n"
	    "assert(not ok and err:find('unknown event', 1, true), err)\n"
	    "haka.policy{on = haka.dissectors.tcp_connection.policies\n"
	    "  .next_dissector, port = 25, action = smtp.install}\n"
	    "haka.rule{on = smtp.events.command, eval = function () end}\n"
	    "haka.log.info('still %s', 'there')\n";
	size_t i;

	FAIL_IF(vm_start(0, 0, false) == NULL);
	for (i = 0; i < HK_ARRAY_SIZE(cases); i++)
		FAIL_IF_NOT(
		    load_refused("lock", i, cases[i].text, cases[i].msg));
	log_reset();
	FAIL_IF_NOT(load_text("lock_still.lua", still) == HK_OK);
	FAIL_IF_NOT(log_has("still there"));
	FAIL_IF_NOT(lvm_rule_count(vm, EV_SMTP_COMMAND) == 1);
}

/*
 * The lock cannot be taken off: the metatables of _G and of the private
 * environments are protected (__metatable), rawset refuses _G, so none
 * of these attempts leaks a name to the other rule files or turns strict
 * reads off.
 */
static void
test_global_table_lock_cannot_be_removed(void)
{
	static const char bypass[] =
	    "pcall(setmetatable, _G, nil)\n"
	    "pcall(function () getmetatable(_G).__newindex = nil end)\n"
	    "pcall(rawset, _G, 'leaked_raw', 1)\n"
	    "pcall(function () _G.leaked = 1 end)\n"
	    "pcall(function () getmetatable(_ENV).__index = _G end)\n";
	static const char check[] =
	    "assert(_G.leaked == nil, 'leaked into _G')\n"
	    "assert(_G.leaked_raw == nil, 'rawset into _G')\n"
	    "assert(not pcall(function () return still_undefined end),\n"
	    "  'strict reads turned off')\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("g_bypass.lua", bypass) == HK_OK);
	FAIL_IF_NOT(load_text("g_bypass_check.lua", check) == HK_OK);
}

/* --- 4. library set, text-only loading ------------------------------------ */

static void
test_no_dangerous_functions(void)
{
	static const char rules[] =
	    "for _, name in ipairs{'load', 'loadfile', 'dofile',\n"
	    "    'collectgarbage', 'loadstring', 'io', 'os', 'package'} do\n"
	    "  assert(_G[name] == nil, name .. ' is present')\n"
	    "  assert(not pcall(function () return _ENV[name] end), name)\n"
	    "end\n"
	    "assert(debug.getinfo == nil and debug.sethook == nil\n"
	    "  and debug.setupvalue == nil and debug.getregistry == nil)\n"
	    "for _, name in ipairs{'string', 'table', 'math', 'utf8',\n"
	    "    'coroutine', 'pairs', 'pcall', 'require', 'haka'} do\n"
	    "  assert(_G[name] ~= nil, name .. ' is missing')\n"
	    "end\n"
	    "assert(unpack == table.unpack)\n"
	    /* no finalizer: it would run rule code outside any event */
	    "local ok, err = pcall(setmetatable, {}, {__gc = print})\n"
	    "assert(not ok and err:find('__gc metamethods are not allowed'))\n"
	    "local mt = {__index = {x = 1}}\n"
	    "assert(getmetatable(setmetatable({}, mt)) == mt)\n"
	    "assert(setmetatable({}, mt).x == 1)\n"
	    "local p = setmetatable({}, {__metatable = 'locked'})\n"
	    "assert(not pcall(setmetatable, p, {}))\n"
	    "assert(not pcall(setmetatable, {}, 1))\n"
	    "assert(getmetatable(setmetatable(setmetatable({}, mt), nil))\n"
	    "  == nil)\n"
	    "haka.log('library set checked')\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("libs.lua", rules) == HK_OK);
	FAIL_IF_NOT(log_has("library set checked"));
}

static void
test_io_os_allowed(void)
{
	static const char rules[] =
	    "assert(type(io) == 'table' and type(io.open) == 'function')\n"
	    "assert(type(os) == 'table' and type(os.time) == 'function')\n"
	    "assert(_G.load == nil and _G.dofile == "
	    "nil)\n"
	    "haka.log('io and os present')\n";

	FAIL_IF(vm_start(0, 0, true) == NULL);
	FAIL_IF_NOT(load_text("io.lua", rules) == HK_OK);
	FAIL_IF_NOT(log_has("io and os present"));
}

static int
dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
	(void)L;
	return fwrite(p, 1, sz, ud) == sz ? 0 : 1;
}

/* Compile src with a plain Lua state and write the bytecode to name. */
static int
write_bytecode(const char *name, const char *prefix, const char *src)
{
	lua_State *L = luaL_newstate();
	FILE *fp;
	int rc = -1;

	if (L == NULL)
		return -1;
	fp = fopen(tmp_path(name), "wb");
	if (fp != NULL) {
		fputs(prefix, fp);
		if (luaL_loadstring(L, src) == LUA_OK &&
		    lua_dump(L, dump_writer, fp, 0) == 0)
			rc = 0;
		if (fclose(fp) != 0)
			rc = -1;
	}
	lua_close(L);
	return rc;
}

static void
test_bytecode_rejected(void)
{
	static const char src[] = "haka.log('bytecode ran')\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF(write_bytecode("bytecode.lua", "", src) != 0);
	FAIL_IF_NOT(lvm_load_rules(vm, tmp_path("bytecode.lua")) == HK_ERR);
	FAIL_IF_NOT(log_has("binary") || log_has("text"));
	FAIL_IF(log_has("bytecode ran"));
	/* Behind a "#!" line. */
	log_reset();
	FAIL_IF(write_bytecode("bytecode_sh.lua", "#!/usr/bin/haka\n", src) !=
	        0);
	FAIL_IF_NOT(lvm_load_rules(vm, tmp_path("bytecode_sh.lua")) == HK_ERR);
	FAIL_IF(log_has("bytecode ran"));
	/* As a module. */
	log_reset();
	FAIL_IF(write_bytecode("binmod.lua", "", src) != 0);
	FAIL_IF_NOT(load_text("req_bin.lua", "require('binmod')\n") == HK_ERR);
	FAIL_IF_NOT(log_has("binary") || log_has("text"));
	FAIL_IF(log_has("bytecode ran"));
	/* string.dump may exist, but nothing can load what it makes. */
	log_reset();
	FAIL_IF_NOT(load_text("dump.lua",
	                      "local d = string.dump and "
	                      "string.dump(function () end)\n"
	                      "assert(_G.load == nil)\n"
	                      "haka.log('dump checked')\n") == HK_OK);
	FAIL_IF_NOT(log_has("dump checked"));
}

static void
test_missing_file(void)
{
	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(lvm_load_rules(vm, tmp_path("does_not_exist.lua")) ==
	            HK_ERR);
	FAIL_IF_NOT(log_has("cannot open"));
	log_reset();
	FAIL_IF_NOT(load_text("syntax.lua", "local x = = 1\n") == HK_ERR);
	FAIL_IF_NOT(log_has("syntax.lua:1:"));
}

/* --- 5. require ------------------------------------------------------------
 */

static void
test_require(void)
{
	static const char mymod[] = "local M = {}\n"
	                            "function M.answer() return 42 end\n"
	                            "return M\n";
	static const char rules[] =
	    "local class = require('class')\n"
	    "assert(type(class) == 'table' and type(class.class) == "
	    "'function')\n"
	    "local A = class.class('A')\n"
	    "assert(class.isa(A:new(), A))\n"
	    "local re = require('regexp/pcre').re\n"
	    "assert(re:match('b+', 'abbbc') == 'bbb')\n"
	    "local tcpc = require('protocol/tcp_connection')\n"
	    "local ev = tcpc.events.new_connection\n"
	    "assert(tostring(ev) == '<event tcp_connection:new_connection>', "
	    "tostring(ev))\n"
	    "haka.rule{on = ev, eval = function () end}\n"
	    "assert(require('protocol/ipv4').events.receive_packet)\n"
	    "assert(require('protocol/tcp').events.receive_packet)\n"
	    "local mymod = require('mymod')\n"
	    "assert(mymod.answer() == 42)\n"
	    "assert(require('mymod') == mymod, 'module loaded twice')\n"
	    "for _, name in ipairs{'../etc/passwd', 'no_such_module',\n"
	    "    '/etc/passwd', 'a/../../mymod'} do\n"
	    "  local ok, err = pcall(require, name)\n"
	    "  assert(not ok, name)\n"
	    "  assert(err:find(\"module '\" .. name .. \"' not found\", 1, "
	    "true), err)\n"
	    "end\n"
	    "haka.log('require checked')\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF(write_bytes("mymod.lua", mymod, strlen(mymod)) != 0);
	FAIL_IF_NOT(load_text("require.lua", rules) == HK_OK);
	FAIL_IF_NOT(log_has("require checked"));
	FAIL_IF_NOT(lvm_rule_count(vm, EV_TCPC_NEW_CONNECTION) == 1);
	/* A missing module fails the load with the message. */
	log_reset();
	FAIL_IF_NOT(load_text("require_missing.lua",
	                      "require('../etc/passwd')\n") == HK_ERR);
	FAIL_IF_NOT(log_has("module '../etc/passwd' not found"));
}

/* A module gets its own strict environment too. */
static void
test_require_module_env(void)
{
	static const char mod[] =
	    "module_global = 1\n"
	    "return { get = function () return module_global end }\n";
	static const char rules[] =
	    "local m = require('envmod')\n"
	    "assert(m.get() == 1)\n"
	    "assert(not pcall(function () return module_global end))\n"
	    "haka.log('module env checked')\n";
	static const char undef[] = "return not_defined_anywhere\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF(write_bytes("envmod.lua", mod, strlen(mod)) != 0);
	FAIL_IF_NOT(load_text("require_env.lua", rules) == HK_OK);
	FAIL_IF_NOT(log_has("module env checked"));
	FAIL_IF(write_bytes("undefmod.lua", undef, strlen(undef)) != 0);
	FAIL_IF_NOT(load_text("require_undef.lua", "require('undefmod')\n") ==
	            HK_ERR);
	FAIL_IF_NOT(log_has("undefined global 'not_defined_anywhere'"));
	FAIL_IF_NOT(log_has("undefmod.lua:1:"));
}

/*
 * Regression (l_require): a module from the preload table
 * (regexp/pcre, protocol/ipv4, ...) was stored in PRELOAD instead of
 * LOADED, so a second require of it called a table ("attempt to call a
 * table value") and two rule files requiring it could not be loaded
 * together.
 */
static void
test_require_preloaded_twice(void)
{
	static const char rules[] =
	    "local a = require('regexp/pcre')\n"
	    "local b = require('regexp/pcre')\n"
	    "assert(a == b)\n"
	    "local c = require('protocol/ipv4')\n"
	    "local d = require('protocol/ipv4')\n"
	    "assert(c == d and c == haka.dissectors.ipv4)\n"
	    "haka.log('required twice')\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("require_twice.lua", rules) == HK_OK);
	FAIL_IF_NOT(log_has("required twice"));
	FAIL_IF_NOT(load_text("require_again.lua",
	                      "require('protocol/ipv4')\n") == HK_OK);
}

/* --- 6. rule validation ------------------------------------------------------
 */

static void
test_rule_validation(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	    {"haka.rule{}\n", "no event defined for rule"},
	    {"haka.rule{on = 42, eval = function () end}\n",
	     "rule must bind on an event"},
	    {"haka.rule{on = {}, eval = function () end}\n",
	     "rule must bind on an event"},
	    {"haka.rule{on = setmetatable({}, {}), eval = function () end}\n",
	     "rule must bind on an event"},
	    {"haka.rule{on = haka.events.started, eval = 1}\n",
	     "rule eval function expected"},
	    {"haka.rule{on = haka.events.started}\n",
	     "rule eval function expected"},
	    {"haka.rule{on = haka.events.started, eval = function () end,\n"
	     "  options = 3}\n",
	     "rule options should be table"},
	    {"haka.rule{hook = 'started', eval = function () end}\n",
	     "rule must bind on an event"},
	    /* a mistyped event is named, at the line that reads it */
	    {"haka.rule{on = haka.events.strated, eval = function () end}\n",
	     ".lua:1: unknown event 'strated' of haka (its events: exiting, "
	     "started)"},
	    {"local t = require('protocol/tcp_connection')\n"
	     "haka.rule{on = t.events.new_conection, eval = function () end}\n",
	     ".lua:2: unknown event 'new_conection' of tcp_connection (its "
	     "events: anomaly, end_connection, new_connection, receive_data, "
	     "receive_packet)"},
	    {"haka.rule{on = haka.dissectors.ipv4.events[1],\n"
	     "  eval = function () end}\n",
	     ".lua:1: unknown event (a number) of ipv4 (its events: anomaly, "
	     "receive_packet)"},
	    {"local smtp = require('smtp')\n"
	     "haka.rule{on = smtp.events.comand, eval = function () end}\n",
	     ".lua:2: unknown event 'comand' of smtp (its events: anomaly, "
	     "command, mail_content, response, starttls)"},
	    {"local p = haka.dissectors.tcp_connection.policies.next_dissetor\n",
	     ".lua:1: unknown policy 'next_dissetor' of tcp_connection (its "
	     "policies: new_connection, next_dissector)"},
	    {"local p = require('smtp').policies.next_dissector\n",
	     ".lua:1: unknown policy 'next_dissector' of smtp (it has none)"},
	};
	size_t i;

	FAIL_IF(vm_start(0, 0, false) == NULL);
	for (i = 0; i < HK_ARRAY_SIZE(cases); i++)
		FAIL_IF_NOT(
		    load_refused("invalid", i, cases[i].text, cases[i].msg));
	for (i = 0; i < EV_COUNT; i++)
		FAIL_IF_NOT(lvm_rule_count(vm, (enum hk_event)i) == 0);
	/* The strict tables' metatables are not reachable from rules. */
	FAIL_IF_NOT(
	    load_text("strict_mt.lua",
	              "assert(getmetatable(require('smtp').events)\n"
	              "  == 'locked')\n"
	              "local p = haka.dissectors.tcp_connection.policies\n"
	              "assert(getmetatable(p) == 'locked')\n") == HK_OK);
	/* An event is known by its object, not by its (writable) id field. */
	FAIL_IF_NOT(load_text("event_id.lua",
	                      "haka.events.started.id = 99\n"
	                      "haka.rule{on = haka.events.started,\n"
	                      "  eval = function () end}\n") == HK_OK);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_STARTED) == 1);
}

static void
test_rule_count(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('rule on')\n"
	    "end}\n"
	    "haka.rule{hook = haka.events.started, eval = function ()\n"
	    "  haka.log('rule hook')\n"
	    "end, name = 'named', options = {}}\n"
	    "haka.rule{on = haka.events.exiting, eval = function () end}\n"
	    "local tcpc = require('protocol/tcp_connection')\n"
	    "haka.rule{on = tcpc.events.receive_data,\n"
	    "  options = {streamed = true}, eval = function () end}\n"
	    "haka.rule{on = haka.dissectors.ipv4.events.receive_packet,\n"
	    "  eval = function () end}\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("count.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_STARTED) == 2);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_EXITING) == 1);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_TCPC_RECEIVE_DATA) == 1);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_IPV4_RECEIVE_PACKET) == 1);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_TCP_RECEIVE_PACKET) == 0);
	FAIL_IF_NOT(lvm_has_rules(vm, EV_STARTED));
	FAIL_IF(lvm_has_rules(vm, EV_TCPC_END_CONNECTION));
	/* Counts add up over files. */
	FAIL_IF_NOT(
	    load_text("count2.lua",
	              "haka.rule{on = haka.events.started, eval = function "
	              "() end}\n") == HK_OK);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_STARTED) == 3);
	/* Both forms run, in registration order. */
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(log_has("rule on"));
	FAIL_IF_NOT(log_has("rule hook"));
	FAIL_IF_NOT(strstr(log_text(), "rule on") <
	            strstr(log_text(), "rule hook"));
	/* The summary. */
	log_reset();
	lvm_rule_summary(vm);
	FAIL_IF_NOT(log_has("3 rule(s) on event 'haka:started'"));
	FAIL_IF_NOT(log_has("1 rule(s) on event 'haka:exiting'"));
	FAIL_IF_NOT(log_has("6 rule(s) registered"));
	/*
	 * An event's plain rules run in registration order, streamed ones
	 * never through lvm_dispatch (they get a coroutine, lvm_streamed).
	 */
	FAIL_IF_NOT(
	    load_text("mixed.lua",
	              "local tcpc = require('protocol/tcp_connection')\n"
	              "haka.rule{on = tcpc.events.receive_data,\n"
	              "  eval = function () haka.log('plain one') end}\n"
	              "haka.rule{on = tcpc.events.receive_data,\n"
	              "  options = {streamed = true},\n"
	              "  eval = function () haka.log('streamed ran') end}\n"
	              "haka.rule{on = tcpc.events.receive_data,\n"
	              "  eval = function () haka.log('plain two') end}\n") ==
	    HK_OK);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_TCPC_RECEIVE_DATA) == 4);
	log_reset();
	FAIL_IF_NOT(lvm_event_simple(vm, EV_TCPC_RECEIVE_DATA) == HK_OK);
	FAIL_IF_NOT(log_has("plain one"));
	FAIL_IF_NOT(log_has("plain two"));
	FAIL_IF_NOT(strstr(log_text(), "plain one") <
	            strstr(log_text(), "plain two"));
	FAIL_IF(log_has("streamed ran"));
	/* A streamed rule on an event that cannot stream is refused. */
	log_reset();
	FAIL_IF_NOT(load_text("count3.lua",
	                      "haka.rule{on = haka.events.started, options = "
	                      "{streamed = true}, eval = function () end}\n") ==
	            HK_ERR);
	FAIL_IF_NOT(log_has("cannot be streamed"));
	FAIL_IF_NOT(lvm_rule_count(vm, EV_STARTED) == 3);
}

/* --- 7. rule errors, haka.abort --------------------------------------------
 */

static void
test_rule_error_traceback(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  local function inner()\n"
	    "    error('boom')\n"
	    "  end\n"
	    "  inner()\n"
	    "end}\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('second rule ran')\n"
	    "end}\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("boom.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_ERR);
	FAIL_IF_NOT(log_has("error lua:"));
	FAIL_IF_NOT(log_has("boom"));
	FAIL_IF_NOT(log_has(tmp_path("boom.lua")));
	FAIL_IF_NOT(log_has("boom.lua:3: boom"));
	FAIL_IF_NOT(log_has("stack traceback"));
	FAIL_IF_NOT(log_has("boom.lua:5:"));
	/* An error does not stop the other rules of the event. */
	FAIL_IF_NOT(log_has("second rule ran"));
	/* Non-string error objects are reported too. */
	log_reset();
	FAIL_IF_NOT(
	    load_text("boom2.lua",
	              "haka.rule{on = haka.events.exiting, eval = function "
	              "()\n"
	              "  error({})\n"
	              "end}\n") == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_EXITING) == HK_ERR);
	FAIL_IF_NOT(log_has("error object is a table value"));
}

static void
test_abort(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('first rule ran')\n"
	    "  haka.abort()\n"
	    "  haka.log('after abort')\n"
	    "end}\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('second rule ran')\n"
	    "end}\n"
	    "haka.rule{on = haka.events.exiting, eval = function ()\n"
	    "  haka.log('exiting ran')\n"
	    "end}\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("abort.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(log_has("first rule ran"));
	FAIL_IF(log_has("after abort"));
	FAIL_IF(log_has("second rule ran"));
	FAIL_IF(log_has("error"));
	FAIL_IF(log_has("traceback"));
	/* Only that dispatch stopped. */
	FAIL_IF_NOT(lvm_event_simple(vm, EV_EXITING) == HK_OK);
	FAIL_IF_NOT(log_has("exiting ran"));
}

/* --- 8. alerts
 * ---------------------------------------------------------------- */

/*
 * The reference filter: drop the wall-clock "time" lines and mask the
 * ids of "alert: id = N" and "alert: update id = N". The result is
 * malloc'd.
 */
static char *
mask_alerts(const char *text)
{
	char *out = malloc(strlen(text) * 2 + 1);
	const char *p = text, *eol;
	char *o = out;

	if (out == NULL)
		return NULL;
	while (*p != '\0') {
		eol = strchr(p, '\n');
		eol = eol != NULL ? eol + 1 : p + strlen(p);
		if (strncmp(p, "\ttime = ", 8) == 0) {
			/* removed */
		} else if (strncmp(p, "alert: id = ", 12) == 0) {
			static const char m[] = "alert: id = = <>\n";

			memcpy(o, m, sizeof(m) - 1);
			o += sizeof(m) - 1;
		} else if (strncmp(p, "alert: update id = ", 19) == 0) {
			static const char m[] = "alert: update id = = <>\n";

			memcpy(o, m, sizeof(m) - 1);
			o += sizeof(m) - 1;
		} else {
			memcpy(o, p, (size_t)(eol - p));
			o += eol - p;
		}
		p = eol;
	}
	*o = '\0';
	return out;
}

static bool
check_alerts(const char *want)
{
	char *got = mask_alerts(alert_text());
	bool ok = got != NULL && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "alerts:\n[%s]\nwant:\n[%s]\n",
		        got != NULL ? got : "(null)", want);
	free(got);
	return ok;
}

static void
test_alert_pretty(void)
{
	/* The core-alert test of the original (alert-ref.txt, first pair). */
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  local a = haka.alert{\n"
	    "    start_time = 1390236283,\n"
	    "    end_time = 1390236283,\n"
	    "    description = 'filtering IP 192.168.20.99',\n"
	    "    severity = 'medium',\n"
	    "    confidence = 7,\n"
	    "    completion = 'failed',\n"
	    "    method = {\n"
	    "      description = 'packet sent on the network',\n"
	    "      ref = {'cve/255-45', 'http://...', 'cwe:dff'}\n"
	    "    },\n"
	    "    sources = {haka.alert.address('192.168.20.99', 'local.org',\n"
	    "        'blalvla', 33), haka.alert.service(22, 'ssh')},\n"
	    "    targets = {haka.alert.address('192.168.20.1/22'),\n"
	    "        haka.alert.address('192.168.20.1')},\n"
	    "  }\n"
	    "  a:update{\n"
	    "    severity = 'high',\n"
	    "    confidence = 'low',\n"
	    "    description = 'filtering IP 192.168.20.99',\n"
	    "    method = {ref = {'cve/255-45'}},\n"
	    "    sources = {haka.alert.address('192.168.20.99')},\n"
	    "    ref = {a},\n"
	    "  }\n"
	    "  haka.alert{severity = 'low', confidence = 'high',\n"
	    "    completion = 'successful', description = 'second',\n"
	    "    method = {ref = 'single'},\n"
	    "    targets = haka.alert.service('tcp/25', 'smtp'), ref = a}\n"
	    "end}\n";
	char want[2048];
	uint64_t first;

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("alert.lua", rules) == HK_OK);
	first = alert_count() + 1;
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(alert_count() == first + 1);
	snprintf(want, sizeof(want),
	         "alert: id = = <>\n"
	         "\tstart time = Mon Jan 20 17:44:43 2014\n"
	         "\tend time = Mon Jan 20 17:44:43 2014\n"
	         "\tseverity = medium\n"
	         "\tconfidence = 7\n"
	         "\tcompletion = failed\n"
	         "\tdescription = filtering IP 192.168.20.99\n"
	         "\tmethod = {\n"
	         "\t\tdescription = packet sent on the network\n"
	         "\t\tref = { cve/255-45, http://..., cwe:dff }\n"
	         "\t}\n"
	         "\tsources = {\n"
	         "\t\taddress: 192.168.20.99, local.org, blalvla, 33\n"
	         "\t\tservice: 22, ssh\n"
	         "\t}\n"
	         "\ttargets = {\n"
	         "\t\taddress: 192.168.20.1/22\n"
	         "\t\taddress: 192.168.20.1\n"
	         "\t}\n"
	         "alert: update id = = <>\n"
	         "\tseverity = high\n"
	         "\tconfidence = low\n"
	         "\tdescription = filtering IP 192.168.20.99\n"
	         "\tmethod = {\n"
	         "\t\tref = { cve/255-45 }\n"
	         "\t}\n"
	         "\tsources = {\n"
	         "\t\taddress: 192.168.20.99\n"
	         "\t}\n"
	         "\trefs = { %llu }\n"
	         "alert: id = = <>\n"
	         "\tseverity = low\n"
	         "\tconfidence = high\n"
	         "\tcompletion = successful\n"
	         "\tdescription = second\n"
	         "\tmethod = {\n"
	         "\t\tref = { single }\n"
	         "\t}\n"
	         "\ttargets = {\n"
	         "\t\tservice: tcp/25, smtp\n"
	         "\t}\n"
	         "\trefs = { %llu }\n",
	         (unsigned long long)first, (unsigned long long)first);
	FAIL_IF_NOT(check_alerts(want));
	/* The ids themselves. */
	snprintf(want, sizeof(want),
	         "alert: id = %llu\n\ttime = ", (unsigned long long)first);
	FAIL_IF_NOT(strncmp(alert_text(), want, strlen(want)) == 0);
	snprintf(want, sizeof(want), "alert: update id = %llu\n",
	         (unsigned long long)first);
	FAIL_IF_NOT(strstr(alert_text(), want) != NULL);
}

static void
test_alert_update(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  local a = haka.alert{description = 'to update'}\n"
	    "  a:update{severity = 'high'}\n"
	    "end}\n";
	char want[128];
	uint64_t id;

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("alert_update.lua", rules) == HK_OK);
	id = alert_count() + 1;
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(alert_count() == id); /* an update is not an alert */
	snprintf(want, sizeof(want), "alert: update id = %llu\n",
	         (unsigned long long)id);
	FAIL_IF_NOT(strstr(alert_text(), want) != NULL);
	FAIL_IF_NOT(check_alerts("alert: id = = <>\n"
	                         "\tdescription = to update\n"
	                         "alert: update id = = <>\n"
	                         "\tseverity = high\n"));
}

/*
 * Every argument error of haka.alert and a:update names the field and
 * what was expected, at the rule's line; a wrong string is shown quoted,
 * escaped and cut at 64 bytes.
 */
static void
test_alert_bad_fields(void)
{
	static const char rules[] =
	    "local function fails(t, msg)\n"
	    "  local ok, err = pcall(function () return haka.alert(t) end)\n"
	    "  assert(not ok, msg)\n"
	    "  assert(err:find('alert_bad.lua:2: ' .. msg, 1, true), err)\n"
	    "end\n"
	    "local NODE = 'haka.alert.address(...) or "
	    "haka.alert.service(...)'\n"
	    "local obj = setmetatable({}, {__tostring = function () "
	    "return 'obj' end})\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  fails({x = 1}, \"haka.alert: unexpected field 'x'\")\n"
	    "  fails({[1] = 'low'}, \"haka.alert: unexpected field '1'\")\n"
	    "  fails({severity = 'urgent'}, \"haka.alert: field 'severity': "
	    "expected one of low, medium, high, got 'urgent'\")\n"
	    "  fails({severity = 3}, \"haka.alert: field 'severity': "
	    "expected one of low, medium, high, got number\")\n"
	    "  fails({confidence = 'sure'}, \"haka.alert: field "
	    "'confidence': expected one of low, medium, high or a number, "
	    "got 'sure'\")\n"
	    "  fails({completion = 'maybe'}, \"haka.alert: field "
	    "'completion': expected one of failed, successful, got "
	    "'maybe'\")\n"
	    "  fails({completion = true}, \"haka.alert: field 'completion': "
	    "expected one of failed, successful, got boolean\")\n"
	    "  fails({description = {}}, \"haka.alert: field 'description': "
	    "expected a string, got table\")\n"
	    "  fails({description = print}, \"haka.alert: field "
	    "'description': expected a string, got function\")\n"
	    "  fails({start_time = 'noon'}, \"haka.alert: field "
	    "'start_time': expected a number of seconds from 0 to "
	    "253402300799 or {secs = ..., nsecs = ...}, got 'noon'\")\n"
	    "  -- out of range, an integer conversion would be undefined\n"
	    "  fails({start_time = 1e300}, \"haka.alert: field 'start_time': expected a "
	    "number of seconds from 0 to 253402300799\")\n"
	    "  fails({start_time = 0/0}, \"haka.alert: field 'start_time': expected\")\n"
	    "  fails({start_time = -1}, \"haka.alert: field 'start_time': expected\")\n"
	    "  fails({end_time = {secs = 'x'}}, \"haka.alert: field "
	    "'end_time.secs': expected a number from 0 to 253402300799, got "
	    "'x'\")\n"
	    "  fails({end_time = {secs = 1, nsecs = {}}}, \"haka.alert: "
	    "field 'end_time.nsecs': expected a number from 0 to 999999999, "
	    "got table\")\n"
	    "  fails({end_time = {secs = 1, nsecs = 5e9}}, \"haka.alert: field "
	    "'end_time.nsecs': expected a number from 0 to 999999999\")\n"
	    "  fails({method = 'spam'}, \"haka.alert: field 'method': "
	    "expected a table {description = ..., ref = ...}, got 'spam'\")\n"
	    "  fails({method = {description = {}}}, \"haka.alert: field "
	    "'method.description': expected a string, got table\")\n"
	    "  fails({method = {ref = {'a', {}}}}, \"haka.alert: field "
	    "'method.ref[2]': expected a string, got table\")\n"
	    "  fails({method = {ref = true}}, \"haka.alert: field "
	    "'method.ref': expected a string, got boolean\")\n"
	    "  fails({method = {kind = 1}}, \"haka.alert: unexpected field "
	    "'method.kind'\")\n"
	    "  fails({sources = '1.2.3.4'}, \"haka.alert: field 'sources': "
	    "expected haka.alert.address(...), haka.alert.service(...) or a "
	    "list of them, got '1.2.3.4'\")\n"
	    "  fails({sources = {'1.2.3.4'}}, \"haka.alert: field "
	    "'sources[1]': expected \" .. NODE .. \", got '1.2.3.4'\")\n"
	    "  fails({targets = {haka.alert.address('a'), 5}}, \"haka.alert: "
	    "field 'targets[2]': expected \" .. NODE .. \", got number\")\n"
	    "  fails({targets = true}, \"haka.alert: field 'targets': "
	    "expected haka.alert.address(...), haka.alert.service(...) or a "
	    "list of them, got boolean\")\n"
	    "  fails({ref = 'x'}, \"haka.alert: field 'ref': expected an "
	    "alert or a list of alerts, got 'x'\")\n"
	    "  fails('x', \"haka.alert: expected a table of fields, got "
	    "'x'\")\n"
	    "  fails({severity = 'x\\r\\n\\27[2J' .. string.rep('y', 100)},\n"
	    "    \"haka.alert: field 'severity': expected one of low, medium, "
	    "high, got 'x\\\\r\\\\n\\\\x1b[2J\" .. string.rep('y', 57) .. "
	    "\"...'\")\n"
	    /* Accepted: tostring-able values, as the original's tostring. */
	    "  haka.alert{description = 42, method = {description = obj,\n"
	    "    ref = 7}}\n"
	    "  local a = haka.alert{description = 'ok'}\n"
	    "  local ok, err = pcall(function () a:update{y = 2} end)\n"
	    "  assert(not ok and err:find(\"alert_bad.lua:42: alert:update: "
	    "unexpected field 'y'\", 1, true), err)\n"
	    "  ok, err = pcall(function () a:update{severity = 'urgent'} "
	    "end)\n"
	    "  assert(not ok and err:find(\"alert_bad.lua:44: alert:update: "
	    "field 'severity': expected one of low, medium, high, got "
	    "'urgent'\", 1, true), err)\n"
	    "  ok, err = pcall(function () a.update{severity = 'high'} end)\n"
	    "  assert(not ok and err:find(\"alert_bad.lua:46: alert:update: "
	    "not called on an alert\", 1, true), err)\n"
	    "  haka.log('bad fields checked')\n"
	    "end}\n"
	    "haka.rule{on = haka.events.exiting, eval = function ()\n"
	    "  haka.alert{description = 'x', severity = 'urgent'}\n"
	    "end}\n";
	uint64_t before;

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("alert_bad.lua", rules) == HK_OK);
	before = alert_count();
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(log_has("bad fields checked"));
	FAIL_IF_NOT(alert_count() == before + 2); /* the two accepted */
	FAIL_IF_NOT(strstr(alert_text(), "\tdescription = 42\n") != NULL);
	FAIL_IF_NOT(strstr(alert_text(), "\t\tdescription = obj\n") != NULL);
	FAIL_IF_NOT(strstr(alert_text(), "\t\tref = { 7 }\n") != NULL);
	before = alert_count();
	FAIL_IF_NOT(lvm_event_simple(vm, EV_EXITING) == HK_ERR);
	FAIL_IF_NOT(log_has("alert_bad.lua:51: haka.alert: field 'severity': "
	                    "expected one of low, medium, high, got "
	                    "'urgent'"));
	FAIL_IF_NOT(alert_count() == before); /* nothing posted */
}

/*
 * Regression (parse_alert, the "ref" list): an element that is a table
 * without __alert_id left a value on the stack, so the rest of the list
 * was read from the wrong table and the rule failed with "invalid key to
 * 'next'" instead of ignoring the entry.
 */
static void
test_alert_ref_not_an_alert(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  local a = haka.alert{description = 'target'}\n"
	    "  haka.alert{description = 'refs', ref = {{}, a, 'x'}}\n"
	    "end}\n";
	char want[256];

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("alert_ref.lua", rules) == HK_OK);
	snprintf(want, sizeof(want), "\trefs = { %llu }\n",
	         (unsigned long long)(alert_count() + 1));
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(strstr(alert_text(), want) != NULL);
}

/*
 * Regression (parse_time): for a table time ({secs = s, nsecs = n}, the
 * original's haka.time) the "nsecs" lookup used a relative index after
 * "secs" was pushed, and the rule failed with "attempt to index a number
 * value".
 */
static void
test_alert_time_table(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.alert{start_time = {secs = 1390236283, nsecs = 0},\n"
	    "    end_time = {secs = 1390236283, nsecs = 500000000}}\n"
	    "end}\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("alert_time.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(check_alerts("alert: id = = <>\n"
	                         "\tstart time = Mon Jan 20 17:44:43 2014\n"
	                         "\tend time = Mon Jan 20 17:44:43 2014\n"));
}

/* --- 9. haka.log
 * --------------------------------------------------------------- */

static void
test_log(void)
{
	static const char rules[] =
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('x %d', 1)\n"
	    "  haka.log.debug('hidden %s', 'debug')\n"
	    "  haka.log.warning('careful %s', 'now')\n"
	    "  haka.log.info('info %s', {} ~= nil)\n"
	    "  haka.log.error('bad %05.1f', 2.5)\n"
	    "  haka.log('param %s end',\n"
	    "    'FROM:<a>\\r\\ninfo  external: forged\\t\\27[2J\\0\\127')\n"
	    "  haka.log.warning('q %q c:\\\\dir', 'a\\r\\nb')\n"
	    "end}\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("log.lua", rules) == HK_OK);
	FAIL_IF(log_enabled("external", LOG_DEBUG));
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(log_has("info  external: x 1\n"));
	FAIL_IF(log_has("hidden"));
	FAIL_IF_NOT(log_has("warn  external: careful now\n"));
	FAIL_IF_NOT(log_has("info  external: info true\n"));
	FAIL_IF_NOT(log_has("error external: bad 002.5\n"));
	/*
	 * Control characters of the message are escaped: attacker text (an
	 * SMTP parameter) cannot forge a line or a terminal sequence; the
	 * rest of the message is unchanged (%q, backslashes).
	 */
	FAIL_IF_NOT(log_has("info  external: param FROM:<a>\\r\\n"
	                    "info  external: forged\\t\\x1b[2J\\x00"
	                    "\\x7f end\n"));
	FAIL_IF(log_has("\ninfo  external: forged"));
	FAIL_IF_NOT(log_has("warn  external: q \"a\\13\\\\nb\" "
	                    "c:\\dir\n"));
	/* A bad format is a rule error. */
	log_reset();
	FAIL_IF_NOT(load_text("log_bad.lua",
	                      "haka.log('%d', 'not a number')\n") == HK_ERR);
	FAIL_IF_NOT(log_has("log_bad.lua:1:"));
}

/*
 * haka.on_exit(fn): fn runs with the rules of haka.events.exiting, in
 * registration order, and counts as one of them; a non-function is an
 * error at the caller's line.
 */
static void
test_on_exit(void)
{
	static const char rules[] =
	    "haka.on_exit(function () haka.log('exit 1') end)\n"
	    "haka.rule{on = haka.events.exiting, eval = function ()\n"
	    "  haka.log('exit 2') end}\n"
	    "haka.on_exit(function () haka.log('exit 3') end)\n"
	    "local ok, err = pcall(function () haka.on_exit('x') end)\n"
	    "assert(not ok and err:find('on_exit.lua:5: bad argument #1 to '\n"
	    "  .. \"'on_exit' (function expected\", 1, true), err)\n";
	const char *t, *a, *b, *c;

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("on_exit.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_EXITING) == 3);
	FAIL_IF(log_has("exit 1"));
	FAIL_IF_NOT(lvm_event_simple(vm, EV_EXITING) == HK_OK);
	t = log_text();
	a = strstr(t, "exit 1\n");
	b = strstr(t, "exit 2\n");
	c = strstr(t, "exit 3\n");
	FAIL_IF_NOT(a != NULL && b != NULL && c != NULL && a < b && b < c);
}

/*
 * Once its connection has ended, a flow's Lua object lives while a rule
 * can reach it, not while the connection sits in the table (60 s after
 * it closed): once freed, the next event gets a new one with the fields
 * rules had set; one a rule keeps stays the flow's object; lvm_flow_free
 * invalidates it. The rules
 * have no collectgarbage: garbage is made until an unreachable key
 * leaves a weak table, twice, for a whole cycle.
 */
static void
test_flow_proxy_lifetime(void)
{
	static const char rules[] =
	    "local tcpc = require('protocol/tcp_connection')\n"
	    "local seen = setmetatable({}, {__mode = 'k'})\n"
	    "local kept, step = nil, 0\n"
	    "local function full_gc()\n"
	    "  for _ = 1, 2 do\n"
	    "    local probe = setmetatable({}, {__mode = 'k'})\n"
	    "    probe[{}] = true\n"
	    "    while next(probe) ~= nil do\n"
	    "      for i = 1, 1000 do local _ = {i} end\n"
	    "    end\n"
	    "  end\n"
	    "end\n"
	    "local function alive()\n"
	    "  local n = 0\n"
	    "  for _ in pairs(seen) do n = n + 1 end\n"
	    "  return n\n"
	    "end\n"
	    "haka.rule{on = tcpc.events.end_connection, eval = function (flow)\n"
	    "  step = step + 1\n"
	    "  if step == 1 then\n" /* flow 1 */
	    "    flow.number = 1\n"
	    "    seen[flow] = true\n"
	    "  elseif step == 2 then\n" /* flow 2 */
	    "    full_gc()\n"
	    "    seen[flow] = true\n"
	    "    haka.log('step 2: %d alive', alive())\n"
	    "  elseif step == 3 then\n" /* flow 1 */
	    "    haka.log('step 3: number %s', tostring(flow.number))\n"
	    "    kept = flow\n"
	    "  elseif step == 4 then\n" /* flow 1 */
	    "    full_gc()\n"
	    "    haka.log('step 4: same %s', tostring(kept == flow))\n"
	    "  else\n" /* flow 2, flow 1 freed */
	    "    local ok, err = pcall(function () return kept.number end)\n"
	    "    haka.log('step 5: %s', ok and 'valid' or err)\n"
	    "  end\n"
	    "end}\n";
	struct flow *f1 = calloc(1, sizeof(*f1)), *f2 = calloc(1, sizeof(*f2));

	FAIL_IF(f1 == NULL || f2 == NULL);
	f1->lua_ref = f2->lua_ref = LUA_NOREF;
	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("proxy.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_event_flow(vm, EV_TCPC_END_CONNECTION, f1, NULL, 0) ==
	            HK_OK);
	f1->flags |= FLOW_F_ENDED; /* as flow_end does */
	lvm_flow_ended(vm, f1);
	FAIL_IF_NOT(lvm_event_flow(vm, EV_TCPC_END_CONNECTION, f2, NULL, 0) ==
	            HK_OK);
	FAIL_IF_NOT(log_has("step 2: 1 alive\n"));
	FAIL_IF_NOT(lvm_event_flow(vm, EV_TCPC_END_CONNECTION, f1, NULL, 0) ==
	            HK_OK);
	FAIL_IF_NOT(log_has("step 3: number 1\n"));
	FAIL_IF_NOT(lvm_event_flow(vm, EV_TCPC_END_CONNECTION, f1, NULL, 0) ==
	            HK_OK);
	FAIL_IF_NOT(log_has("step 4: same true\n"));
	lvm_flow_free(vm, f1);
	FAIL_IF_NOT(f1->lua_ref == LUA_NOREF);
	FAIL_IF_NOT(lvm_event_flow(vm, EV_TCPC_END_CONNECTION, f2, NULL, 0) ==
	            HK_OK);
	FAIL_IF_NOT(log_has("proxy.lua:34: flow used outside of its "
	                    "event (or after its connection ended)\n"));
	lvm_flow_free(vm, f2);
	free(f1);
	free(f2);
}

/*
 * A module file of haka's own (haka/policy.lua, haka/rule_group.lua) on
 * the path that returns no table: the VM starts with a warning; indexing
 * what it returned used to raise outside any pcall (lvm_panic, abort).
 */
static void
test_module_not_table(void)
{
	struct lvm_conf conf;
	struct lvm *v;

	FAIL_IF(mkdir(tmp_path("mods"), 0700) != 0 ||
	        mkdir(tmp_path("mods/haka"), 0700) != 0);
	FAIL_IF(write_bytes("mods/haka/policy.lua", "return\n", 7) != 0);
	FAIL_IF(write_bytes("mods/haka/rule_group.lua", "return 42\n", 10) !=
	        0);
	memset(&conf, 0, sizeof(conf));
	conf.lua_dir = tmp_path("mods");
	v = lvm_new(&conf, eng);
	FAIL_IF(v == NULL);
	lvm_free(v);
	FAIL_IF_NOT(log_has("haka/policy not loaded"));
	FAIL_IF_NOT(log_has("haka/rule_group not loaded"));
}

/*
 * haka.policy: criteria, the last eligible entry wins, actions given the
 * policy (its name), and the argument errors at the rule file's line. A table
 * with a drop method stands for a packet or a flow.
 */
static void
test_policy(void)
{
	static const char rules[] =
	    "local seen = {}\n"
	    "local ctx = {dropped = 0}\n"
	    "function ctx:drop() self.dropped = self.dropped + 1 end\n"
	    "local function mark(s) return function (e)\n"
	    "  seen[#seen + 1] = s .. ':' .. e.name end end\n"
	    "local P = haka.policy.new('test')\n"
	    "assert(require('haka/policy') == haka.policy)\n"
	    "assert(rawget(haka.policy, 'install') == nil)\n"
	    "haka.policy{on = P, name = 'default', action = mark('d')}\n"
	    "haka.policy{on = P, name = 'mail', port = haka.policy.set{25, 587},\n"
	    "  action = {mark('m'), haka.policy.drop}}\n"
	    "haka.policy{on = P, name = 'range',\n"
	    "  port = haka.policy.range(1000, 2000), action = haka.policy.accept}\n"
	    "haka.policy{on = P, port = haka.policy.outofrange(1, 65535),\n"
	    "  action = mark('o')}\n"
	    "haka.policy{on = P, name = 'net',\n"
	    "  src = haka.policy.ipv4_in_network('10.0.0.0/8'),\n"
	    "  user = haka.policy.present(), action = mark('n')}\n"
	    "haka.policy{on = P, name = 'seven', port = 7,\n"
	    "  user = haka.policy.absent(), action = mark('s')}\n"
	    "for _, v in ipairs{{port = 25}, {port = 1500}, {port = 70000},\n"
	    "    {port = 80, src = '10.1.2.3', user = 'x'},\n"
	    "    {port = 80, src = '11.1.2.3', user = 'x'},\n"
	    "    {port = 80, src = 'not an address', user = 'x'},\n"
	    "    {port = 7}, {port = 7, user = 'x'}, {}} do\n"
	    "  P:apply{ctx = ctx, values = v}\n"
	    "end\n"
	    "local got = table.concat(seen, ',')\n"
	    "assert(got == 'm:test,o:test,n:test,d:test,d:test,s:test,'\n"
	    "  .. 'd:test,d:test', got)\n"
	    "assert(ctx.dropped == 1)\n"
	    "local function fails(msg, f, ...)\n"
	    "  local ok, err = pcall(f, ...)\n"
	    "  assert(not ok and err:find(msg, 1, true), tostring(err))\n"
	    "end\n"
	    "fails('no on defined for policy', haka.policy,\n"
	    "  {action = haka.policy.accept})\n"
	    "fails('policy on must be a Policy', haka.policy,\n"
	    "  {on = {}, action = haka.policy.accept})\n"
	    "fails('policy action must be a function or a list of functions',\n"
	    "  haka.policy, {on = P, action = {haka.policy.drop, 3}})\n"
	    "fails('policy parameter must be a table', haka.policy, 'x')\n"
	    "fails('no context defined for policy', P.apply, P, {})\n"
	    "fails('range: invalid bounds', haka.policy.range, 3, 1)\n"
	    "fails('policy name must be a string', haka.policy.new, 3)\n"
	    "fails('ipv4_in_network', haka.policy.ipv4_in_network, 'x')\n"
	    "fails(\"haka.policy has no field 'Drop'\", function ()\n"
	    "  return haka.policy.Drop end)\n"
	    "fails('a value or a criterion expected', haka.policy,\n"
	    "  {on = P, port = haka.policy.present, action = haka.policy.drop})\n"
	    "fails('a value or a criterion expected', haka.policy,\n"
	    "  {on = P, src = haka.dissectors.ipv4.network('10.0.0.0/8'),\n"
	    "   action = haka.policy.drop})\n"
	    "fails('policy action must be a function', haka.policy,\n"
	    "  {on = P, action = {haka.policy.accept, nil, haka.policy.drop}})\n"
	    "fails('log: a logging function expected', haka.policy.log, {}, 'x')\n"
	    "fails(\"alert: field 'severity': expected one of low, medium, high, \"\n"
	    "  .. \"got 'huge'\", haka.policy.alert, {severity = 'huge'})\n"
	    "fails(\"alert: field 'confidence'\", haka.policy.drop_with_alert,\n"
	    "  {confidence = {}})\n"
	    "fails(\"alert: unexpected field 'sevrity'\", haka.policy.alert,\n"
	    "  {sevrity = 'low'})\n"
	    "for _, f in ipairs{haka.policy.alert, haka.policy.drop_with_alert} do\n"
	    "  local ok, err = pcall(function () f{severity = 'huge'} end)\n"
	    "  assert(err:find('/policy.lua:%d+: alert: field')\n"
	    "    and not err:find('haka/policy.lua', 1, true), err)\n"
	    "end\n"
	    "local ok, err = pcall(function () haka.policy.range(3, 1) end)\n"
	    "assert(err:find('/policy.lua:%d+: range: invalid bounds')\n"
	    "  and not err:find('haka/policy.lua', 1, true), err)\n"
	    "haka.policy{on = P, name = 'last', action = haka.policy.log(\n"
	    "  haka.log.info, 'policy log %d %s', 42, 'x')}\n"
	    "P:apply{ctx = ctx}\n"
	    "local ok, err = pcall(function () haka.policy{on = P} end)\n"
	    "assert(err:find('/policy.lua:%d+: policy action must')\n"
	    "  and not err:find('haka/policy.lua', 1, true), err)\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("policy.lua", rules) == HK_OK);
	FAIL_IF_NOT(log_has("register policy 'mail' on 'test'"));
	FAIL_IF_NOT(log_has("register policy on 'test'"));
	FAIL_IF_NOT(log_has("policy log 42 x"));
	FAIL_IF(log_has("error"));
}

/*
 * haka.rule_group: init, the rules in order while continue(ret, ...)
 * says so, final when all ran (not after a stop); haka.abort() ends the
 * group and the event; the argument errors are the rule file's.
 */
static void
test_rule_group(void)
{
	static const char rules[] =
	    "local seen = {}\n"
	    "local function add(s) seen[#seen + 1] = s end\n"
	    "local g = haka.rule_group{on = haka.events.started, name = 'g',\n"
	    "  init = function () add('init') end,\n"
	    "  continue = function (ret) add('c' .. tostring(ret));\n"
	    "    return ret ~= 'stop' end,\n"
	    "  final = function () add('final') end}\n"
	    "g:rule{eval = function () add('r1'); return 1 end}\n"
	    "g:rule{eval = function () add('r2'); return 'stop' end}\n"
	    "g:rule{eval = function () add('r3') end}\n"
	    "local all = haka.rule_group{hook = haka.events.started,\n"
	    "  final = function () add('final') end}\n"
	    "all:rule{eval = function () add('a1') end}\n"
	    "all:rule{eval = function () add('a2') end}\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  haka.log('order %s', table.concat(seen, ',')) end}\n"
	    "local ab = haka.rule_group{on = haka.events.exiting,\n"
	    "  final = function () haka.log('not reached') end}\n"
	    "ab:rule{eval = function () haka.log('aborting'); haka.abort() end}\n"
	    "ab:rule{eval = function () haka.log('not reached') end}\n"
	    "haka.rule{on = haka.events.exiting, eval = function ()\n"
	    "  haka.log('not reached either') end}\n"
	    "local function fails(msg, f, ...)\n"
	    "  local ok, err = pcall(f, ...)\n"
	    "  assert(not ok and err:find(msg, 1, true), tostring(err))\n"
	    "end\n"
	    "fails('no event defined for rule group', haka.rule_group, {})\n"
	    "fails('rule must bind on an event', haka.rule_group, {on = 3})\n"
	    "fails('rule group init function expected', haka.rule_group,\n"
	    "  {on = haka.events.started, init = 3})\n"
	    "fails('rule group options should be table', haka.rule_group,\n"
	    "  {on = haka.events.started, options = 3})\n"
	    "fails('rule parameter must be a table', haka.rule_group, 3)\n"
	    "local fake = setmetatable({id = 100000},\n"
	    "  getmetatable(haka.events.started))\n"
	    "fails('rule must bind on an event', haka.rule,\n"
	    "  {on = fake, eval = print})\n"
	    "local copy = setmetatable({id = haka.events.started.id},\n"
	    "  getmetatable(haka.events.started))\n"
	    "fails('rule must bind on an event', haka.rule_group, {on = copy})\n"
	    "fails('rule eval function expected', g.rule, g, {})\n"
	    "fails('rule parameter must be a table', g.rule, g, 3)\n"
	    "local ok, err = pcall(function () haka.rule_group{on = 3} end)\n"
	    "assert(err:find('/group.lua:43: rule must bind', 1, true), err)\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("group.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_rule_count(vm, EV_STARTED) == 3);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	FAIL_IF_NOT(log_has("order init,r1,c1,r2,cstop,a1,a2,final\n"));
	FAIL_IF_NOT(lvm_rule_count(vm, EV_EXITING) == 2);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_EXITING) == HK_OK);
	FAIL_IF_NOT(log_has("aborting"));
	FAIL_IF(log_has("not reached"));
	FAIL_IF(log_has("error"));
}

/*
 * haka.log_section(name): the same logger as haka.log in its own section,
 * whose level -l NAME=LEVEL sets; a name that -l could not name is an
 * error.
 */
static void
test_log_section(void)
{
	static const char rules[] =
	    "local log = haka.log_section('filter')\n"
	    "haka.rule{on = haka.events.started, eval = function ()\n"
	    "  log('called %d', 1)\n"
	    "  log.info('info %s', 'x')\n"
	    "  log.debug('shown %s', 'debug')\n"
	    "  haka.log.debug('hidden')\n"
	    "  log.warn('w\\n')\n"
	    "end}\n"
	    "for _, bad in ipairs{'a b', 'a=b', 'a,b', '', "
	    "string.rep('x', 32), 'a\\n'} do\n"
	    "  local ok, err = pcall(haka.log_section, bad)\n"
	    "  assert(not ok and err:find('invalid section name', 1, true),"
	    " bad)\n"
	    "end\n"
	    "assert(not pcall(haka.log_section))\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(log_set_level_spec("info,filter=debug", NULL, 0) == 0);
	FAIL_IF_NOT(load_text("log_section.lua", rules) == HK_OK);
	FAIL_IF_NOT(lvm_event_simple(vm, EV_STARTED) == HK_OK);
	/* the padding after the section follows the longest one printed */
	FAIL_IF_NOT(log_has("info  filter:") && log_has(" called 1\n"));
	FAIL_IF_NOT(log_has(" info x\n"));
	FAIL_IF_NOT(log_has("debug filter:") && log_has(" shown debug\n"));
	FAIL_IF(log_has("hidden"));
	FAIL_IF_NOT(log_has("warn  filter:") && log_has(" w\\n\n"));
	log_set_level_spec("info,filter=default", NULL, 0);
}

/*
 * ipv4.addr gives the canonical dotted string, which pkt.src and
 * flow.srcip are, so == compares addresses; ipv4.network(...) has net,
 * mask, contains() and tostring; every bad argument is an error saying
 * what was expected; host bits set are cleared with a warning, as the
 * original did.
 */
static void
test_ipv4_addr_network(void)
{
	static const char rules[] =
	    "local ipv4 = require('protocol/ipv4')\n"
	    "local function eq(a, b) assert(a == b, tostring(a) .. ' ~= ' .."
	    " tostring(b)) end\n"
	    "local function fails(f, msg, ...)\n"
	    "  local ok, err = pcall(f, ...)\n"
	    "  assert(not ok and err:find(msg, 1, true), tostring(err))\n"
	    "end\n"
	    "eq(ipv4.addr('192.168.10.10'), '192.168.10.10')\n"
	    "fails(ipv4.addr, 'invalid IPv4 address', '01.2.3.4')\n"
	    "-- the networks' metatable is shared by every file: hidden\n"
	    "eq(getmetatable(ipv4.network('10.0.0.0/8')), 'haka.ipv4network')\n"
	    "eq(ipv4.addr(192, 168, 10, 10), '192.168.10.10')\n"
	    "eq(ipv4.addr(0xC0A80A0A), '192.168.10.10')\n"
	    "eq(ipv4.addr(0), '0.0.0.0')\n"
	    "eq(ipv4.addr(0xFFFFFFFF), '255.255.255.255')\n"
	    "eq(ipv4.addr(2^32 - 1), '255.255.255.255')\n"
	    "eq(ipv4.addr(10, 0, 0, 4/2), '10.0.0.2')\n"
	    "local n = ipv4.network('192.168.10.0/27')\n"
	    "eq(tostring(n), '192.168.10.0/27')\n"
	    "eq(n.net, '192.168.10.0') eq(n.mask, 27)\n"
	    "eq(n:contains('192.168.10.31'), true)\n"
	    "eq(n:contains('192.168.10.32'), false)\n"
	    "eq(n:contains(ipv4.addr(192, 168, 10, 0)), true)\n"
	    "eq(n:contains(0xC0A80A01), true)\n"
	    "eq(ipv4.network(ipv4.addr('10.0.0.0'), 8), "
	    "ipv4.network('10.0.0.0/8'))\n"
	    "eq(ipv4.network('10.0.0.0', 16/2), ipv4.network('10.0.0.0/8'))\n"
	    "eq(n:contains(2^31 * 0 + 0xC0A80A01), true)\n"
	    "local re = require('regexp/pcre').re:compile('x')\n"
	    "eq(n == re, false) eq(re == n, false)\n"
	    "eq(n == ipv4.network('192.168.10.0/28'), false)\n"
	    "local seen = {[ipv4.addr(1, 2, 3, 4)] = true}\n"
	    "eq(seen['1.2.3.4'], true)\n"
	    "eq(ipv4.network('0.0.0.0/0'):contains('255.1.2.3'), true)\n"
	    "eq(ipv4.network('10.1.2.3/32'):contains('10.1.2.4'), false)\n"
	    "eq(tostring(ipv4.network('10.1.2.3/8')), '10.0.0.0/8')\n"
	    "for _, bad in ipairs{'1.2.3', '1.2.3.256', '01.2.3.4', "
	    "' 1.2.3.4', '1.2.3.4 ', '', '1.2.3.4\\0x'} do\n"
	    "  fails(ipv4.addr, \"ipv4.addr: invalid IPv4 address '\","
	    " bad)\n"
	    "  fails(n.contains, 'invalid IPv4 address', n, bad)\n"
	    "end\n"
	    "fails(ipv4.addr, \"invalid IPv4 address '1.2.3.4\\\\x00x'\", "
	    "'1.2.3.4\\0x')\n"
	    "fails(ipv4.addr, \"address '\" .. string.rep('x', 64) .. "
	    "\"...'\", string.rep('x', 300))\n"
	    "fails(ipv4.addr, 'byte 4 is not an integer from 0 to 255', 1, 2, "
	    "3, 256)\n"
	    "fails(ipv4.addr, 'byte 1 is not', 1.5, 2, 3, 4)\n"
	    "fails(ipv4.addr, 'byte 1 is not', '1', 2, 3, 4)\n"
	    "local RANGE = 'an address number must be an integer from 0 to "
	    "4294967295'\n"
	    "fails(ipv4.addr, RANGE, -1)\n"
	    "fails(ipv4.addr, RANGE, 2^32)\n"
	    "fails(ipv4.addr, RANGE, 1.5)\n"
	    "fails(ipv4.addr, 'expected an IPv4 address, got table', {})\n"
	    "fails(ipv4.addr, \"expected 'a.b.c.d', a number or four "
	    "bytes\")\n"
	    "for _, bad in ipairs{'1.2.3.4', '1.2.3.4/33', '1.2.3.4/', "
	    "'1.2.3.4/-1', '1.2.3.4/8x', '1.2.3/8', '/8', "
	    "'1.2.3.4.5.6.7.8.9/8', '1.2.3.4/08', '1.2.3.4/032', '1.2.3.4/ 8',"
	    " '1.2.3.4/8 ', '1.2.3.4/8\\0x', '1.2.3.4\\0/8'} do\n"
	    "  fails(ipv4.network, \"ipv4.network: invalid network '\", bad)\n"
	    "end\n"
	    "fails(ipv4.network, \"invalid network '1.2.3.4\\\\x00/8'\", "
	    "'1.2.3.4\\0/8')\n"
	    "fails(ipv4.network, 'prefix length is not an integer from 0 to "
	    "32', '1.2.3.4', 33)\n"
	    "fails(ipv4.network, 'prefix length', '1.2.3.4', 8.5)\n"
	    "fails(ipv4.network, 'prefix length', '1.2.3.4', '8')\n"
	    "fails(ipv4.network, \"expected 'a.b.c.d/len' or an address\")\n"
	    "fails(function () return n.foo end, "
	    "\"ipv4.network: unknown field 'foo'\")\n"
	    "fails(function () n.mask = 3 end, "
	    "\"ipv4.network: field 'mask' is read only\")\n"
	    "fails(n.contains, 'got nil', n, nil)\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("ipv4_net.lua", rules) == HK_OK);
	FAIL_IF_NOT(log_has("warn  ipv4:") &&
	            log_has(" ipv4.network: 10.1.2.3/8 has host bits set, "
	                    "using 10.0.0.0/8\n"));
}

/* --- 10. debug.pprint
 * ---------------------------------------------------------- */

static void
test_pprint(void)
{
	static const char rules[] =
	    "assert(type(debug.pprint) == 'function', 'no debug.pprint')\n"
	    "assert(type(debug.hide_underscore) == 'function')\n"
	    "local lines = {}\n"
	    "debug.pprint({a = 1, b = 'x', c = {d = true}, [1] = 'one',\n"
	    "    _hidden = 2},\n"
	    "  {out = function (l) lines[#lines + 1] = l end,\n"
	    "   hide = debug.hide_underscore})\n"
	    "for _, l in ipairs(lines) do haka.log('pp|%s|', l) end\n";

	FAIL_IF(vm_start(0, 0, false) == NULL);
	FAIL_IF_NOT(load_text("pprint.lua", rules) == HK_OK);
	FAIL_IF_NOT(log_has("pp|table {|\n"));
	FAIL_IF_NOT(log_has("pp|  1 : \"one\"|\n"));
	FAIL_IF_NOT(log_has("pp|  a : 1|\n"));
	FAIL_IF_NOT(log_has("pp|  b : \"x\"|\n"));
	FAIL_IF_NOT(log_has("pp|  c : table {|\n"));
	FAIL_IF_NOT(log_has("pp|    d : true|\n"));
	FAIL_IF_NOT(log_has("pp|  }|\n"));
	FAIL_IF_NOT(log_has("pp|}|\n"));
	FAIL_IF(log_has("_hidden"));
}

/* --- main
 * ------------------------------------------------------------------------- */

static void
remove_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

int
main(void)
{
	struct engine_conf conf;

	/* The alert times of the references are in Paris local time. */
	setenv("TZ", "Europe/Paris", 1);
	tzset();
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	engine_conf_defaults(&conf);
	eng = engine_new(&conf, NULL);
	if (eng == NULL) {
		fprintf(stderr, "cannot create the engine\n");
		remove_tmpdir();
		return 1;
	}

	RUN(test_mem_cap_at_load);
	RUN(test_mem_cap_in_rule);
	RUN(test_heap_blocks);
	RUN(test_mem_recovers_after_oom_in_rule);
	RUN(test_mem_cap_event_args);
	RUN(test_instr_budget_loop);
	RUN(test_instr_budget_message);
	RUN(test_instr_budget_not_swallowed_by_pcall);
	RUN(test_instr_budget_per_event);
	RUN(test_instr_budget_coroutine);
	RUN(test_strict_globals);
	RUN(test_global_copies);
	RUN(test_private_environments);
	RUN(test_global_table_locked);
	RUN(test_global_replace_refused);
	RUN(test_module_tables_locked);
	RUN(test_global_table_lock_cannot_be_removed);
	RUN(test_no_dangerous_functions);
	RUN(test_io_os_allowed);
	RUN(test_bytecode_rejected);
	RUN(test_missing_file);
	RUN(test_require);
	RUN(test_require_module_env);
	RUN(test_require_preloaded_twice);
	RUN(test_rule_validation);
	RUN(test_rule_count);
	RUN(test_rule_error_traceback);
	RUN(test_abort);
	RUN(test_alert_pretty);
	RUN(test_alert_time_table);
	RUN(test_alert_update);
	RUN(test_alert_bad_fields);
	RUN(test_alert_ref_not_an_alert);
	RUN(test_log);
	RUN(test_log_section);
	RUN(test_on_exit);
	RUN(test_flow_proxy_lifetime);
	RUN(test_module_not_table);
	RUN(test_policy);
	RUN(test_rule_group);
	RUN(test_ipv4_addr_network);
	RUN(test_pprint);

	engine_free(eng);
	remove_tmpdir();
	UT_DONE();
}
