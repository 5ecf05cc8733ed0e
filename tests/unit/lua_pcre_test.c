/*
 * Unit tests of the Lua support modules: regexp/pcre (src/lua/lapi_pcre.c),
 * class (lua/class.lua) and haka/pprint (lua/haka/pprint.lua). Each test
 * runs Lua chunks in a fresh state; a Lua error or a failed assert fails
 * the test and prints the message with a traceback.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua/lapi_pcre.h"
#include "unittest.h"

#ifdef HAKA_LUA_DIR
#define TEST_LUA_PATH HAKA_LUA_DIR "/?.lua"
#else
#define TEST_LUA_PATH "../lua/?.lua" /* run from tests/ */
#endif

static int
msgh(lua_State *L)
{
	const char *msg;

	msg = lua_tostring(L, 1);
	if (msg == NULL)
		msg = luaL_tolstring(L, 1, NULL);
	luaL_traceback(L, L, msg, 1);
	return 1;
}

static lua_State *
test_state(void)
{
	lua_State *L;

	L = luaL_newstate();
	if (L == NULL)
		return NULL;
	luaL_openlibs(L);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_regexp_pcre);
	lua_setfield(L, -2, "regexp/pcre");
	lua_pop(L, 1);
	lua_getglobal(L, "package");
	lua_pushstring(L, TEST_LUA_PATH);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, "");
	lua_setfield(L, -2, "cpath");
	lua_pop(L, 1);
	return L;
}

/*
 * Run chunk in a fresh state. Returns 0 when it ran to the end, -1 (after
 * printing the error) otherwise.
 */
static int
lua_run(const char *name, const char *chunk)
{
	lua_State *L;
	int rc;

	L = test_state();
	if (L == NULL) {
		fprintf(stderr, "%s: cannot create a Lua state\n", name);
		return -1;
	}
	lua_pushcfunction(L, msgh);
	rc = luaL_loadbufferx(L, chunk, strlen(chunk), name, "t");
	if (rc == LUA_OK)
		rc = lua_pcall(L, 0, 0, 1);
	if (rc != LUA_OK)
		fprintf(stderr, "%s: %s\n", name, lua_tostring(L, -1));
	lua_close(L);
	return rc == LUA_OK ? 0 : -1;
}

static void
test_harness_reports_failure(void)
{
	fprintf(stderr, "(an assertion failure is expected below)\n");
	FAIL_IF(lua_run("=harness", "assert(false, 'expected failure')") == 0);
	FAIL_IF(lua_run("=harness", "assert(true)") != 0);
}

static void
test_pcre_spam_filter(void)
{
	static const char chunk[] =
	    "local rem = require('regexp/pcre')\n"
	    "local re = rem.re:compile('@.*')\n"
	    "local param = 'FROM: hacker@suspicious.org'\n"
	    "local m, b, e = re:match(param)\n"
	    "assert(m == '@suspicious.org', m)\n"
	    "assert(b == 12 and math.type(b) == 'integer', b)\n"
	    "assert(e == 27 and math.type(e) == 'integer', e)\n"
	    "assert(string.sub(param, b + 2, e) == 'suspicious.org')\n"
	    "assert(string.sub(param, b + 1, e) == m)\n"
	    "local m2, b2, e2 = re:exec(param)\n"
	    "assert(m2 == m and b2 == b and e2 == e)\n"
	    "-- the compile+match shortcut\n"
	    "m, b, e = rem.re:match('@.*', param)\n"
	    "assert(m == '@suspicious.org' and b == 12 and e == 27)\n"
	    "m, b, e = rem.re.match('@.*', param)\n"
	    "assert(m == '@suspicious.org' and b == 12 and e == 27)\n"
	    "local re2 = rem.re.compile('susp')\n"
	    "assert(select(2, re2:match(param)) == 13)\n";

	FAIL_IF(lua_run("=spam_filter", chunk) != 0);
}

static void
test_pcre_percent(void)
{
	static const char chunk[] =
	    "local re = require('regexp/pcre').re\n"
	    "local m, b, e = re:compile('%d+'):match('abc 12345 def')\n"
	    "assert(m == '12345' and b == 4 and e == 9)\n"
	    "m = re:compile('100%%'):match('it is 100% sure')\n"
	    "assert(m == '100%', m)\n"
	    "assert(re:compile('%%d'):match('5') == nil)\n"
	    "assert(re:compile('%%d'):match('%d') == '%d')\n"
	    "m = re:compile('^HELO%s+(%S+)%r%n$'):match('HELO  x.org\\r\\n')\n"
	    "assert(m == 'HELO  x.org\\r\\n')\n"
	    "assert(re:compile('a%.b'):match('axb') == nil)\n"
	    "assert(re:compile('a%.b'):match('a.b') == 'a.b')\n"
	    "-- a backslash works as in PCRE\n"
	    "assert(re:compile('\\\\d'):match('x7') == '7')\n"
	    "-- a trailing % is a trailing backslash: an error\n"
	    "assert(not pcall(re.compile, re, 'abc%'))\n";

	FAIL_IF(lua_run("=percent", chunk) != 0);
}

static void
test_pcre_options(void)
{
	static const char chunk[] =
	    "local re = require('regexp/pcre').re\n"
	    "assert(math.type(re.CASE_INSENSITIVE) == 'integer')\n"
	    "assert(re.CASE_INSENSITIVE & re.EXTENDED == 0)\n"
	    "assert(re:compile('mail from'):match('MAIL FROM:') == nil)\n"
	    "local m = re:compile('mail from', re.CASE_INSENSITIVE)"
	    ":match('MAIL FROM:')\n"
	    "assert(m == 'MAIL FROM', m)\n"
	    "-- EXTENDED ignores white space and comments in the pattern\n"
	    "local x = re:compile('m a i l  # a comment\\n from', "
	    "re.CASE_INSENSITIVE | re.EXTENDED)\n"
	    "assert(x:match('MAILFROM') == 'MAILFROM')\n"
	    "assert(re:match('a b', 'ab', re.EXTENDED) == 'ab')\n"
	    "assert(re:match('A', 'xa', re.CASE_INSENSITIVE) == 'a')\n"
	    "local ok, err = pcall(re.compile, re, 'a', 64)\n"
	    "assert(not ok and err:find('unknown regexp option'), err)\n";

	FAIL_IF(lua_run("=options", chunk) != 0);
}

static void
test_pcre_nomatch(void)
{
	static const char chunk[] =
	    "local rem = require('regexp/pcre')\n"
	    "local re = rem.re:compile('@.*')\n"
	    "assert(select('#', re:match('no at sign')) == 1)\n"
	    "assert(re:match('no at sign') == nil)\n"
	    "assert(rem.re:match('z', 'abc') == nil)\n"
	    "assert(re:match('') == nil)\n"
	    "-- an empty match is a match\n"
	    "local m, b, e = rem.re:match('x*', 'abc')\n"
	    "assert(m == '' and b == 0 and e == 0)\n"
	    "-- subjects may hold NUL bytes\n"
	    "m, b, e = rem.re:match('b%x00c', 'ab\\0cd')\n"
	    "assert(m == 'b\\0c' and b == 1 and e == 4)\n";

	FAIL_IF(lua_run("=nomatch", chunk) != 0);
}

static void
test_pcre_compile_error(void)
{
	static const char chunk[] =
	    "local re = require('regexp/pcre').re\n"
	    "local ok, err = pcall(re.compile, re, 'ab(c')\n"
	    "assert(not ok)\n"
	    "assert(err:find(\"pcre: .* at offset 4 in pattern 'ab%(c'$\"), "
	    "err)\n"
	    "ok, err = pcall(re.match, re, '[z', 'abc')\n"
	    "assert(not ok and err:find(\"in pattern '%[z'\"), err)\n"
	    "ok, err = pcall(re.compile, re)\n"
	    "assert(not ok and err:find('string expected'), err)\n"
	    "ok, err = pcall(re.compile, re, string.rep('a', 65537))\n"
	    "assert(not ok and err:find('pattern too long'), err)\n"
	    "-- the error is raised at the rule's line\n"
	    "ok, err = pcall(function () return re:compile('(') end)\n"
	    "assert(err:find('^compile_error:%d+: pcre: '), err)\n";

	FAIL_IF(lua_run("=compile_error", chunk) != 0);
}

static void
test_pcre_limits(void)
{
	static const char chunk[] =
	    "local re = require('regexp/pcre').re\n"
	    "local s = string.rep('a', 30) .. '!'\n"
	    "for _, pat in ipairs{'(a+)+$', '(*NO_JIT)(a+)+$',\n"
	    "    '(*NO_JIT)(?:a|a)*b', '(*NO_JIT)(a*)*(a*)*$'} do\n"
	    "  local r = re:compile(pat)\n"
	    "  local t = os.clock()\n"
	    "  local ok, m = pcall(r.match, r, s)\n"
	    "  assert(os.clock() - t < 1, pat .. ' took too long')\n"
	    "  assert((ok and m == nil) or\n"
	    "    (not ok and m:find('pcre: match limit exceeded', 1, true)),"
	    "    tostring(m))\n"
	    "  -- the regexp stays usable after hitting a limit\n"
	    "  assert(pcall(r.match, r, 'aab'))\n"
	    "end\n"
	    "-- without JIT the interpreter must hit the limit\n"
	    "local ok, err = pcall(re.match, re, '(*NO_JIT)(a+)+$', s)\n"
	    "assert(not ok and err:find('pcre: match limit exceeded'), "
	    "tostring(err))\n"
	    "-- a pattern cannot raise the limit\n"
	    "ok, err = pcall(re.match, re,\n"
	    "  '(*LIMIT_MATCH=1000000000)(*NO_JIT)(a+)+$', s)\n"
	    "assert(not ok and err:find('match limit exceeded'), "
	    "tostring(err))\n"
	    "-- a JIT stack overflow falls back to the interpreter\n"
	    "local m, b, e = re:match('^(a|b)*c',\n"
	    "  string.rep('ab', 1000) .. 'c')\n"
	    "assert(b == 0 and e == 2001, tostring(e))\n"
	    "-- subjects are capped at 1 MiB\n"
	    "local big = string.rep('a', 1024 * 1024)\n"
	    "assert(re:match('a$', big) == 'a')\n"
	    "ok, err = pcall(re.match, re, 'a', big .. 'a')\n"
	    "assert(not ok and err:find('subject too long'), err)\n";

	FAIL_IF(lua_run("=limits", chunk) != 0);
}

static void
test_pcre_object(void)
{
	static const char chunk[] =
	    "local re = require('regexp/pcre').re\n"
	    "local r = re:compile('x%d')\n"
	    "assert(type(r) == 'userdata')\n"
	    "assert(getmetatable(r) == 'haka.regexp')\n"
	    "assert(tostring(r) == \"regexp 'x%d'\", tostring(r))\n"
	    "assert(not pcall(r.match, {}, 'x'))\n"
	    "assert(not pcall(r.match, r))\n"
	    "assert(require('regexp/pcre') == require('regexp/pcre'))\n"
	    "-- compiled code is released by __gc (ASan checks leaks)\n"
	    "for i = 1, 2000 do\n"
	    "  local c = re:compile('a' .. i .. '%w*')\n"
	    "  assert(c:match('xa' .. i .. 'bc') == 'a' .. i .. 'bc')\n"
	    "  assert(re:match('b' .. i, 'ab' .. i) == 'b' .. i)\n"
	    "end\n"
	    "collectgarbage()\n"
	    "collectgarbage()\n";

	FAIL_IF(lua_run("=object", chunk) != 0);
}

static void
test_class_inheritance(void)
{
	static const char chunk[] =
	    "local class = require('class')\n"
	    "local Animal = class.class('Animal')\n"
	    "function Animal.method:__init(name)\n"
	    "  self.name = name\n"
	    "  self.legs = 4\n"
	    "end\n"
	    "function Animal.method:describe()\n"
	    "  return self.name .. ' has ' .. self.legs .. ' legs'\n"
	    "end\n"
	    "function Animal.method:sound() return '...' end\n"
	    "local Bird = class.class('Bird', Animal)\n"
	    "function Bird.method:__init(name)\n"
	    "  class.super(Bird).__init(self, name)\n"
	    "  self.legs = 2\n"
	    "end\n"
	    "function Bird.method:sound() return 'tweet' end\n"
	    "local Parrot = class.class('Parrot', Bird)\n"
	    "local a, b, p = Animal:new('dog'), Bird:new('tit'),\n"
	    "  Parrot:new('polly')\n"
	    "assert(a:describe() == 'dog has 4 legs')\n"
	    "assert(b:describe() == 'tit has 2 legs')\n"
	    "assert(p:describe() == 'polly has 2 legs')\n"
	    "assert(a:sound() == '...' and p:sound() == 'tweet')\n"
	    "assert(class.super(Parrot).sound(p) == 'tweet')\n"
	    "assert(class.super(Bird).sound(p) == '...')\n"
	    "assert(class.isa(p, Parrot) and class.isa(p, Bird))\n"
	    "assert(class.isa(p, Animal) and class.isa(p, class.BaseObject))\n"
	    "assert(not class.isa(b, Parrot) and not class.isa({}, Animal))\n"
	    "assert(not class.isa(42, Animal))\n"
	    "assert(class.classof(p) == Parrot and class.classof({}) == nil)\n"
	    "assert(class.isclass(Bird) and not class.isclass(b))\n"
	    "assert(not class.isclass({}) and not class.isclass('x'))\n"
	    "assert(class.isaclass(Parrot, Animal))\n"
	    "assert(not class.isaclass(Animal, Parrot))\n"
	    "assert(Parrot.name == 'Parrot' and Parrot.super == Bird)\n"
	    "assert(tostring(Bird) == '<class: Bird>')\n"
	    "assert(tostring(p):find('^<class instance Parrot: '), "
	    "tostring(p))\n"
	    "-- methods added later are seen by existing instances\n"
	    "function Animal.method:late() return 'late ' .. self.name end\n"
	    "assert(p:late() == 'late polly')\n"
	    "-- the view of super is read-only\n"
	    "assert(not pcall(function () class.super(Bird).x = 1 end))\n"
	    "assert(Bird.method.describe == Animal.method.describe)\n"
	    "assert(not pcall(class.super, class.BaseObject))\n"
	    "assert(not pcall(class.class, 'X', {}))\n"
	    "local c = p:clone()\n"
	    "assert(class.classof(c) == Parrot and c.name == 'polly')\n"
	    "assert(rawequal(c, p) == false)\n";

	FAIL_IF(lua_run("=class_inheritance", chunk) != 0);
}

static void
test_class_properties(void)
{
	static const char chunk[] =
	    "local class = require('class')\n"
	    "local Box = class.class('Box')\n"
	    "function Box.method:__init(v) self._v = v end\n"
	    "Box.property.value = {\n"
	    "  get = function (self) return self._v end,\n"
	    "  set = function (self, v) self._v = v * 10 end,\n"
	    "}\n"
	    "Box.property.double = {\n"
	    "  get = function (self) return self._v * 2 end }\n"
	    "local Sub = class.class('Sub', Box)\n"
	    "Sub.property.triple = {\n"
	    "  get = function (self) return self._v * 3 end }\n"
	    "local s = Sub:new(2)\n"
	    "assert(s.value == 2 and s.double == 4 and s.triple == 6)\n"
	    "s.value = 3\n"
	    "assert(rawget(s, 'value') == nil and s._v == 30)\n"
	    "assert(s.double == 60)\n"
	    "-- a property without a setter is shadowed, as in the "
	    "original\n"
	    "s.double = 1\n"
	    "assert(rawget(s, 'double') == 1 and s.double == 1)\n"
	    "-- per-object properties\n"
	    "local t = Box:new(1)\n"
	    "local store\n"
	    "t:addproperty('dyn',\n"
	    "  function (self) return 'dyn' .. self._v end,\n"
	    "  function (self, v) store = v end)\n"
	    "assert(t.dyn == 'dyn1')\n"
	    "t.dyn = 'w'\n"
	    "assert(store == 'w' and rawget(t, 'dyn') == nil)\n"
	    "assert(Box:new(5).dyn == nil)\n"
	    "-- a child method overrides a parent property\n"
	    "function Sub.method:value() return 'method' end\n"
	    "assert(s:value() == 'method')\n";

	FAIL_IF(lua_run("=class_properties", chunk) != 0);
}

static void
test_class_hooks(void)
{
	static const char chunk[] =
	    "local class = require('class')\n"
	    "local Base = class.class('Base')\n"
	    "local created = {}\n"
	    "function Base.__class_init(parent, cls)\n"
	    "  assert(class.isclass(parent) and class.isclass(cls))\n"
	    "  assert(cls.super == parent)\n"
	    "  created[#created + 1] = parent.name .. '>' .. cls.name\n"
	    "  cls.events = {}\n"
	    "end\n"
	    "local A = class.class('A', Base)\n"
	    "local B = class.class('B', A)\n"
	    "assert(created[1] == 'Base>A' and created[2] == 'A>B', "
	    "table.concat(created, ','))\n"
	    "assert(A.events ~= B.events and rawget(B, 'events'))\n"
	    "-- class-level fields and functions are inherited\n"
	    "Base.auto = true\n"
	    "function Base.register(cls, n) cls.events[n] = true end\n"
	    "B:register('x')\n"
	    "assert(B.auto and B.events.x and not A.events.x)\n"
	    "function A.method:__init(parent) self._parent = parent end\n"
	    "function A.method:__index(key)\n"
	    "  if key:sub(1, 1) ~= '_' and self._parent then\n"
	    "    return self._parent[key]\n"
	    "  end\n"
	    "end\n"
	    "local b = B:new({ srcport = 25 })\n"
	    "assert(b.srcport == 25 and b._missing == nil)\n"
	    "assert(b.__init ~= nil)\n"
	    "-- metamethods are methods, inherited\n"
	    "function A.method:__tostring() return 'A(' .. "
	    "tostring(self.n) .. ')' end\n"
	    "function A.method:__eq(o) return self.n == o.n end\n"
	    "function A.method:__lt(o) return self.n < o.n end\n"
	    "function A.method:__len() return 42 end\n"
	    "function A.method:__call(x) return x + 1 end\n"
	    "local x, y = B:new(), B:new()\n"
	    "x.n, y.n = 1, 2\n"
	    "assert(tostring(x) == 'A(1)')\n"
	    "assert(x ~= y and x < y and x <= y and not (y <= x))\n"
	    "y.n = 1\n"
	    "assert(x == y and #x == 42 and x(1) == 2)\n"
	    "local plain = Base:new()\n"
	    "assert(#plain == 0 and plain ~= Base:new())\n"
	    "assert(not pcall(function () return plain() end))\n"
	    "assert(not pcall(function () return plain < plain end))\n"
	    "assert(not pcall(function () return plain .. 'x' end))\n"
	    "-- __newindex fallback\n"
	    "local W = class.class('W')\n"
	    "local log = {}\n"
	    "function W.method:__newindex(k, v) log[k] = v end\n"
	    "local w = W:new()\n"
	    "w.z = 3\n"
	    "assert(log.z == 3 and rawget(w, 'z') == nil)\n"
	    "-- class.merge moves fields and dynamic properties\n"
	    "local m1, m2 = Base:new(), Base:new()\n"
	    "m2.f = 1\n"
	    "m2:addproperty('p', function () return 'p' end)\n"
	    "class.merge(m1, m2)\n"
	    "assert(m1.f == 1 and m1.p == 'p' and m2.p == nil)\n";

	FAIL_IF(lua_run("=class_hooks", chunk) != 0);
}

/* The tutorial's dissector style (sample/smtp_dissector/smtp.lua). */
static void
test_class_tutorial(void)
{
	static const char chunk[] =
	    "local class = require('class')\n"
	    "local Dissector = class.class('Dissector')\n"
	    "function Dissector.method:__init(parent)\n"
	    "  self._parent = parent\n"
	    "end\n"
	    "Dissector.property.name = {\n"
	    "  get = function (self) return class.classof(self).name end }\n"
	    "local FlowDissector = class.class('FlowDissector', Dissector)\n"
	    "local SmtpDissector = class.class('SmtpDissector', "
	    "FlowDissector)\n"
	    "function SmtpDissector.method:__init(flow)\n"
	    "  class.super(SmtpDissector).__init(self, flow)\n"
	    "  self.flow = flow\n"
	    "end\n"
	    "SmtpDissector.property.connection = {\n"
	    "  get = function (self) return self.flow.connection end }\n"
	    "local d = SmtpDissector:new({ connection = 'conn' })\n"
	    "assert(d.connection == 'conn' and d.name == 'SmtpDissector')\n"
	    "assert(d._parent == d.flow)\n"
	    "assert(class.isa(d, Dissector))\n";

	FAIL_IF(lua_run("=class_tutorial", chunk) != 0);
}

static void
test_pprint_result(void)
{
	static const char chunk[] =
	    "local pp = require('haka/pprint')\n"
	    "local R = { __pprint_name = 'class Result' }\n"
	    "local A = { __pprint_name = 'class ArrayResult' }\n"
	    "local r = setmetatable({ responses = setmetatable({\n"
	    "  setmetatable({ code = '220', parameter =\n"
	    "    'metasploitable.localdomain ESMTP Postfix (Ubuntu)',\n"
	    "    sep = ' ', _internal = 1, fn = print }, R) }, A) }, R)\n"
	    "local lines = {}\n"
	    "pp.pprint(r, { hide = { pp.hide_underscore, pp.hide_function "
	    "},\n"
	    "  out = function (l) lines[#lines + 1] = l end })\n"
	    "local want = {\n"
	    "  'class Result {',\n"
	    "  '  responses : class ArrayResult {',\n"
	    "  '    1 : class Result {',\n"
	    "  '      code : \"220\"',\n"
	    "  '      parameter : \"metasploitable.localdomain ESMTP "
	    "Postfix (Ubuntu)\"',\n"
	    "  '      sep : \" \"',\n"
	    "  '    }',\n"
	    "  '  }',\n"
	    "  '}',\n"
	    "}\n"
	    "assert(table.concat(lines, '\\n') == table.concat(want, "
	    "'\\n'),\n"
	    "  'got:\\n' .. table.concat(lines, '\\n'))\n"
	    "-- calling the module table is calling pprint\n"
	    "local n = 0\n"
	    "pp(r, { out = function () n = n + 1 end })\n"
	    "assert(n == 11, n)\n";

	FAIL_IF(lua_run("=pprint_result", chunk) != 0);
}

static void
test_pprint_format(void)
{
	static const char chunk[] =
	    "local pp = require('haka/pprint')\n"
	    "local function lines(obj, opts)\n"
	    "  local t = {}\n"
	    "  opts = opts or {}\n"
	    "  opts.out = function (l) t[#t + 1] = l end\n"
	    "  pp.pprint(obj, opts)\n"
	    "  return table.concat(t, '\\n')\n"
	    "end\n"
	    "local function eq(got, want)\n"
	    "  assert(got == want, '\\ngot:\\n' .. got .. '\\nwant:\\n' .. "
	    "want)\n"
	    "end\n"
	    "-- sorting: numbers ascending, then strings\n"
	    "eq(lines({ [10] = 'j', [2] = 'b', z = 1.5, a = true, "
	    "[1.5] = 0 }),\n"
	    "  'table {\\n  1.5 : 0\\n  2 : \"b\"\\n  10 : \"j\"\\n'\n"
	    "  .. '  a : true\\n  z : 1.5\\n}')\n"
	    "-- escapes, empty tables, functions, integral floats\n"
	    "eq(lines({ s = 'a\"b\\\\c', e = {}, f = print, n = 2.0 }),\n"
	    "  'table {\\n  e : table {\\n  }\\n  f : function\\n'\n"
	    "  .. '  n : 2\\n  s : \"a\\\\\"b\\\\\\\\c\"\\n}')\n"
	    "-- hide\n"
	    "local t = { _x = 1, f = print, k = 'v' }\n"
	    "eq(lines(t, { hide = pp.hide_underscore }),\n"
	    "  'table {\\n  f : function\\n  k : \"v\"\\n}')\n"
	    "eq(lines(t, { hide = pp.hide_function }),\n"
	    "  'table {\\n  _x : 1\\n  k : \"v\"\\n}')\n"
	    "eq(lines(t, { hide = { pp.hide_function, "
	    "pp.hide_underscore } }),\n"
	    "  'table {\\n  k : \"v\"\\n}')\n"
	    "assert(pp.hide_underscore('_a', 1) and not "
	    "pp.hide_underscore(1, 1))\n"
	    "assert(pp.hide_function('x', print) and not "
	    "pp.hide_function('x', 1))\n"
	    "-- scalars at the top level\n"
	    "eq(lines('x'), '\"x\"')\n"
	    "eq(lines(nil), 'nil')\n"
	    "-- depth and indent\n"
	    "local d = { a = { b = { c = 1 } } }\n"
	    "eq(lines(d, { depth = 0 }), 'table')\n"
	    "eq(lines(d, { depth = 1 }), 'table {\\n  a : table\\n}')\n"
	    "eq(lines(d, { depth = 2, indent = '> ' }),\n"
	    "  '> table {\\n>   a : table {\\n>     b : table\\n>   "
	    "}\\n> }')\n"
	    "-- the original's positional form\n"
	    "local got = {}\n"
	    "pp.pprint({ _a = 1, b = 2 }, '', 1, pp.hide_underscore,\n"
	    "  function (l) got[#got + 1] = l end)\n"
	    "eq(table.concat(got, '\\n'), 'table {\\n  b : 2\\n}')\n"
	    "-- userdata from the C modules\n"
	    "local re = require('regexp/pcre').re:compile('a')\n"
	    "eq(lines({ r = re }), \"table {\\n  r : userdata regexp "
	    "regexp 'a'\\n}\")\n";

	FAIL_IF(lua_run("=pprint_format", chunk) != 0);
}

static void
test_pprint_cycle(void)
{
	static const char chunk[] =
	    "local pp = require('haka/pprint')\n"
	    "local out = {}\n"
	    "local function collect(l) out[#out + 1] = l end\n"
	    "local t = { name = 'loop' }\n"
	    "t.self = t\n"
	    "t.sub = { back = t }\n"
	    "pp.pprint(t, { out = collect })\n"
	    "local want = 'table {\\n  name : \"loop\"\\n'\n"
	    "  .. '  self : recursive value\\n  sub : table {\\n'\n"
	    "  .. '    back : recursive value\\n  }\\n}'\n"
	    "assert(table.concat(out, '\\n') == want, "
	    "table.concat(out, '\\n'))\n"
	    "-- a table shared by two branches is not a cycle\n"
	    "out = {}\n"
	    "local shared = { 1 }\n"
	    "pp.pprint({ a = shared, b = shared }, { out = collect })\n"
	    "assert(table.concat(out, '\\n') ==\n"
	    "  'table {\\n  a : table {\\n    1 : 1\\n  }\\n'\n"
	    "  .. '  b : table {\\n    1 : 1\\n  }\\n}', "
	    "table.concat(out, '\\n'))\n";

	FAIL_IF(lua_run("=pprint_cycle", chunk) != 0);
}

static void
test_pprint_class(void)
{
	static const char chunk[] =
	    "local class = require('class')\n"
	    "local pp = require('haka/pprint')\n"
	    "local P = class.class('Point')\n"
	    "function P.method:__init(x, y) self.x, self.y = x, y end\n"
	    "P.property.sum = { get = function (self) return self.x + "
	    "self.y end }\n"
	    "P.property.bad = { get = function () error('no', 0) end }\n"
	    "local p = P:new(1, 2)\n"
	    "p:addproperty('dyn', function () return 'd' end)\n"
	    "local out = {}\n"
	    "pp.pprint({ p = p }, { hide = pp.hide_underscore,\n"
	    "  out = function (l) out[#out + 1] = l end })\n"
	    "local want = 'table {\\n  p : class Point {\\n    x : 1\\n'\n"
	    "  .. '    y : 2\\n    dyn : \"d\"\\n    bad : <error: no>\\n'\n"
	    "  .. '    sum : 3\\n  }\\n}'\n"
	    "assert(table.concat(out, '\\n') == want, "
	    "table.concat(out, '\\n'))\n";

	FAIL_IF(lua_run("=pprint_class", chunk) != 0);
}

int
main(void)
{
	RUN_TEST(test_harness_reports_failure);
	RUN_TEST(test_pcre_spam_filter);
	RUN_TEST(test_pcre_percent);
	RUN_TEST(test_pcre_options);
	RUN_TEST(test_pcre_nomatch);
	RUN_TEST(test_pcre_compile_error);
	RUN_TEST(test_pcre_limits);
	RUN_TEST(test_pcre_object);
	RUN_TEST(test_class_inheritance);
	RUN_TEST(test_class_properties);
	RUN_TEST(test_class_hooks);
	RUN_TEST(test_class_tutorial);
	RUN_TEST(test_pprint_result);
	RUN_TEST(test_pprint_format);
	RUN_TEST(test_pprint_cycle);
	RUN_TEST(test_pprint_class);
	UT_DONE();
}
