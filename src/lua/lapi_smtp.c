/*
 * The rule API of the SMTP dissector (HAKA.md sections b and f): the
 * module returned by require('smtp') (events, install_tcp_rule, dissect),
 * haka.dissectors.smtp, haka.policy for the next-dissector choice, the
 * command and response results as the original's Result tables, the
 * streamed mail_content iterator, and flow.smtp (the transaction so far).
 */
#include <string.h>

#include <haka/log.h>

#include "lua/lvm_priv.h"
#include "proto/smtp/smtp.h"

/* --- the hooks the dissector calls ---------------------------------------- */

/*
 * A rule of an SMTP event failed: counted, and the packet in progress
 * dropped under rule_error drop, like the failure of a packet rule.
 */
static void
check_rules(struct lvm *vm, int rc)
{
	if (rc != HK_OK && vm->eng != NULL)
		engine_rule_failed(vm->eng);
}

struct res_args {
	struct flow *f;
	const struct gresult *res;
};

/*
 * The fields of the result tables. Their names are Lua strings made once
 * (vm->result_key_ref): a field is stored by lua_rawset, without the
 * lookup of a C string that lua_setfield makes for every store (the
 * tables' metatables have no __newindex: the same result).
 */
enum result_key { RK_COMMAND, RK_PARAMETER, RK_CODE, RK_SEP, RK_RESPONSES };

static const char *const result_key_names[] = {"command", "parameter", "code",
                                               "sep", "responses"};
_Static_assert(HK_ARRAY_SIZE(result_key_names) ==
                   HK_ARRAY_SIZE(((struct lvm *)0)->result_key_ref),
               "one registry string per result key");

/* The grammar's key of k's field (set when the grammar is built). */
static const char *
result_key_grammar(enum result_key k)
{
	switch (k) {
	case RK_COMMAND:
		return smtp_keys.command;
	case RK_PARAMETER:
		return smtp_keys.parameter;
	case RK_CODE:
		return smtp_keys.code;
	case RK_SEP:
		return smtp_keys.sep;
	default:
		return smtp_keys.responses;
	}
}

/* The grammar field named k of r, if any, as the string field k. */
static void
push_result_string(struct lvm *vm, const struct gresult *r, enum result_key k)
{
	lua_State *L = vm->L;
	const struct gresult *v = gresult_field(r, result_key_grammar(k));

	if (v == NULL)
		return;
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->result_key_ref[k]);
	lua_pushlstring(L, (const char *)v->s, v->len);
	lua_rawset(L, -3);
}

/*
 * A table with the original's pretty-print name ("class Result"); the two
 * metatables are made once and kept in upvalue-free registry slots.
 */
static int
result_mt(lua_State *L, const char *cls)
{
	lua_createtable(L, 0, 2);
	lua_pushstring(L, cls);
	lua_setfield(L, -2, "__pprint_name");
	/*
	 * getmetatable() gives a copy that only names the class (for
	 * debug.pprint): the metatable itself, shared by every result the
	 * engine makes outside any protected call, is out of the rules'
	 * reach (a __gc added to it would finalize every later result).
	 */
	lua_createtable(L, 0, 1);
	lua_pushstring(L, cls);
	lua_setfield(L, -2, "__pprint_name");
	lua_setfield(L, -2, "__metatable");
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

static void
new_result(struct lvm *vm, bool array, int narr, int nrec)
{
	lua_State *L = vm->L;

	lua_createtable(L, narr, nrec);
	lua_rawgeti(L, LUA_REGISTRYINDEX,
	            array ? vm->array_mt_ref : vm->result_mt_ref);
	lua_setmetatable(L, -2);
}

static void
push_command(struct lvm *vm, void *arg)
{
	struct res_args *a = arg;

	lapi_push_flow(vm, a->f);
	new_result(vm, false, 0, 2);
	push_result_string(vm, a->res, RK_COMMAND);
	push_result_string(vm, a->res, RK_PARAMETER);
}

static void
push_response(struct lvm *vm, void *arg)
{
	struct res_args *a = arg;
	lua_State *L = vm->L;
	const struct gresult *r = gresult_field(a->res, smtp_keys.responses),
	                     *e;
	int i = 0;

	lapi_push_flow(vm, a->f);
	new_result(vm, false, 0, 1);
	new_result(vm, true, r != NULL ? (int)r->count : 0, 0);
	for (e = r != NULL ? r->first : NULL; e != NULL; e = e->next) {
		new_result(vm, false, 0, 3);
		push_result_string(vm, e, RK_CODE);
		push_result_string(vm, e, RK_SEP);
		push_result_string(vm, e, RK_PARAMETER);
		lua_rawseti(L, -2, ++i);
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->result_key_ref[RK_RESPONSES]);
	lua_insert(L, -2);
	lua_rawset(L, -3);
}

static void
hook_command(void *arg, struct flow *f, const struct gresult *res)
{
	struct lvm *vm = arg;
	struct res_args a = {f, res};

	if (lvm_has_rules(vm, EV_SMTP_COMMAND)) {
		vm->in_app_event = true;
		check_rules(vm, lvm_dispatch(vm, EV_SMTP_COMMAND, push_command,
		                             &a, 2, NULL, f));
		vm->in_app_event = false;
	}
}

static void
hook_response(void *arg, struct flow *f, const struct gresult *res)
{
	struct lvm *vm = arg;
	struct res_args a = {f, res};

	if (lvm_has_rules(vm, EV_SMTP_RESPONSE)) {
		vm->in_app_event = true;
		check_rules(vm, lvm_dispatch(vm, EV_SMTP_RESPONSE,
		                             push_response, &a, 2, NULL, f));
		vm->in_app_event = false;
	}
}

static bool
hook_want_content(void *arg)
{
	return lvm_has_rules(arg, EV_SMTP_MAIL_CONTENT);
}

struct content_args {
	struct flow *f;
	const uint8_t *p;
	size_t len;
};

/* A data view of a string: #d, d:asstring(), d:sub(off, len). */
static void
push_string_data(struct lvm *vm, const uint8_t *p, size_t len)
{
	lua_State *L = vm->L;

	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->mailiter_ref);
	lua_getfield(L, -1, "data");
	lua_pushlstring(L, (const char *)p, len);
	lua_call(L, 1, 1);
	lua_remove(L, -2);
}

static void
push_content(struct lvm *vm, void *arg)
{
	struct content_args *a = arg;

	lapi_push_flow(vm, a->f);
	push_string_data(vm, a->p, a->len);
}

static void
mail_push_iter(struct lvm *vm, void *arg)
{
	lua_State *L = vm->L;

	(void)arg;
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->mailiter_ref);
	lua_getfield(L, -1, "new");
	lua_call(L, 0, 1);
	lua_remove(L, -2);
}

struct mail_piece {
	const uint8_t *p;
	size_t len;
	bool last;
};

/* it:_push(piece, last), the record on top. */
static void
mail_feed(struct lvm *vm, void *arg)
{
	struct mail_piece *m = arg;
	lua_State *L = vm->L;

	lua_getfield(L, -1, "it");
	lua_getfield(L, -1, "_push");
	lua_insert(L, -2);
	lua_pushlstring(L, (const char *)m->p, m->len);
	lua_pushboolean(L, m->last);
	lua_call(L, 3, 0);
}

/*
 * A piece of mail content: non-streamed rules get it as data; each
 * streamed rule has a coroutine per mail, resumed with every piece, whose
 * iterator ends when the mail does.
 */
static void
hook_content(void *arg, struct flow *f, const uint8_t *p, size_t len, bool last)
{
	struct lvm *vm = arg;
	struct content_args a = {f, p, len};
	struct mail_piece m = {p, len, last};
	struct lvm_streamed_ops ops = {
	    .ev = EV_SMTP_MAIL_CONTENT,
	    .key_base = 900000,
	    .create = true,
	    .forget = last, /* the next mail starts them again */
	    .push_iter = mail_push_iter,
	    .feed = mail_feed,
	    .arg = &m,
	};

	if (!lvm_has_rules(vm, EV_SMTP_MAIL_CONTENT))
		return;
	if (len > 0)
		check_rules(vm, lvm_dispatch(vm, EV_SMTP_MAIL_CONTENT,
		                             push_content, &a, 2, NULL, f));
	if (f->flags & FLOW_F_DROPPED)
		return;
	check_rules(vm, lvm_streamed(vm, f, &ops));
}

struct anom_args {
	struct flow *f;
	enum anomaly a;
};

static void
push_anomaly(struct lvm *vm, void *arg)
{
	struct anom_args *a = arg;

	lapi_push_flow(vm, a->f);
	lua_pushstring(vm->L, anomaly_name(a->a));
}

static void
hook_anomaly(void *arg, struct flow *f, enum anomaly an)
{
	struct lvm *vm = arg;
	struct anom_args a = {f, an};

	anomaly_count(an);
	if (LOG_DEBUG_ENABLED("anomaly"))
		hk_log(LOG_DEBUG, "anomaly", "%s", anomaly_name(an));
	if (lvm_has_rules(vm, EV_SMTP_ANOMALY))
		check_rules(vm, lvm_dispatch(vm, EV_SMTP_ANOMALY, push_anomaly,
		                             &a, 2, NULL, f));
}

static void
push_flow_only(struct lvm *vm, void *arg)
{
	lapi_push_flow(vm, arg);
}

static void
hook_starttls(void *arg, struct flow *f)
{
	struct lvm *vm = arg;

	if (lvm_has_rules(vm, EV_SMTP_STARTTLS))
		check_rules(vm, lvm_dispatch(vm, EV_SMTP_STARTTLS,
		                             push_flow_only, f, 1, NULL, f));
}

static void
hook_drop(void *arg, struct flow *f)
{
	struct lvm *vm = arg;

	engine_flow_drop(vm->eng, f);
}

/* --- attaching -------------------------------------------------------------
 */

/*
 * The connection gets the dissector. When it cannot (smtp.memcap
 * reached, or no memory) it would go through uninspected: it is dropped
 * instead, with the anomaly smtp_memcap, raised to the rules (raise)
 * unless the refusal comes from inside a rule.
 */
static void
attach(struct lvm *vm, struct flow *f, bool raise)
{
	/* One warning per run of refusals, not one per connection. */
	static _Thread_local bool warned;
	struct smtp_hooks h = {
	    .command = hook_command,
	    .response = hook_response,
	    .want_content = hook_want_content,
	    .content = hook_content,
	    .anomaly = hook_anomaly,
	    .starttls = hook_starttls,
	    .drop = hook_drop,
	    .arg = vm,
	};
	void *inst;

	if (f->app_ops != NULL)
		return;
	inst = smtp_new(f, &h, engine_now(vm->eng));
	if (inst == NULL) {
		engine_flow_drop(vm->eng, f);
		if (raise)
			hook_anomaly(vm, f, ANOM_SMTP_MEMCAP);
		else
			anomaly_count(ANOM_SMTP_MEMCAP);
		if (!warned)
			hk_log(LOG_WARNING, "smtp",
			       "new connections dropped: the SMTP sessions "
			       "hold smtp.memcap (%llu bytes) or more, or "
			       "memory is exhausted",
			       (unsigned long long)smtp_get_limits()->memcap);
		warned = true;
		return;
	}
	warned = false;
	(void)engine_flow_attach(vm->eng, f, &smtp_dissector, inst);
	if (LOG_DEBUG_ENABLED("smtp"))
		hk_log(LOG_DEBUG, "smtp", "selecting smtp dissector on flow");
}

void
lvm_flow_adopt(struct lvm *vm, struct flow *f)
{
	void *inst = smtp_of_flow(f);

	if (inst != NULL)
		smtp_set_hooks_arg(inst, vm);
}

void
lvm_flow_opened(struct lvm *vm, struct flow *f)
{
	if (vm->ports[f->srv_port >> 3] & (1u << (f->srv_port & 7)))
		attach(vm, f, true);
}

static void
add_port(struct lvm *vm, lua_Integer port)
{
	vm->ports[port >> 3] |= (uint8_t)(1u << (port & 7));
}

static int
ensure_init(lua_State *L)
{
	char err[256] = "";

	if (smtp_init(err, sizeof(err)) != HK_OK)
		return luaL_error(L, "smtp: %s", err);
	return 0;
}

/* smtp.install_tcp_rule(port): connections to port get the dissector. */
static int
l_install_tcp_rule(lua_State *L)
{
	lua_Integer port = luaL_checkinteger(L, 1);

	luaL_argcheck(L, port > 0 && port < 65536, 1, "invalid port");
	ensure_init(L);
	add_port(lvm_from(L), port);
	return 0;
}

/* smtp.dissect(flow): this connection gets the dissector now. */
static int
l_dissect(lua_State *L)
{
	struct lproxy *p = luaL_checkudata(L, 1, LMT_FLOW);

	if (p->ptr == NULL)
		return luaL_error(L, "flow used after its connection ended");
	ensure_init(L);
	attach(lvm_from(L), p->ptr, false);
	return 0;
}

/* haka.dissectors.smtp.install(policy, ctx, values, desc) */
static int
l_install(lua_State *L)
{
	struct lproxy *p;

	if (lua_isuserdata(L, 2)) {
		p = luaL_checkudata(L, 2, LMT_FLOW);
		if (p->ptr != NULL) {
			ensure_init(L);
			attach(lvm_from(L), p->ptr, false);
		}
	}
	return 0;
}

/*
 * haka.policy{on = POLICY, port = N, action = haka.dissectors.X.install,
 * name = ...}: the next-dissector choice of the original (0.4 API). Only
 * the port criterion of tcp_connection's next_dissector policy is
 * supported, which is what selects a dissector for a port.
 */
static int
l_policy(lua_State *L)
{
	static const char *const keys[] = {"on", "name", "port", "action",
	                                   NULL};
	struct lvm *vm = lvm_from(L);
	const char *bad;
	lua_Integer port;

	luaL_checktype(L, 1, LUA_TTABLE);
	/*
	 * A criterion left out would make the policy apply more widely than
	 * written (srcip = ... ignored: every client).
	 */
	if ((bad = lapi_unknown_key(L, 1, keys)) != NULL)
		return luaL_error(L,
		                  "policy: criterion '%s' is not supported "
		                  "(only port)",
		                  bad);
	/* rawget: the events and policies tables are strict. */
	if (lua_getfield(L, 1, "on") != LUA_TTABLE ||
	    (lua_pushliteral(L, "__policy"), lua_rawget(L, -2)) != LUA_TSTRING)
		return luaL_error(L, "policy must bind on a policy");
	if (strcmp(lua_tostring(L, -1), "tcp_connection next dissector") != 0)
		return luaL_error(L, "unsupported policy '%s'",
		                  lua_tostring(L, -1));
	lua_pop(L, 2);
	lua_getfield(L, 1, "action");
	lua_pushcfunction(L, l_install);
	if (!lua_tocfunction(L, -2) ||
	    lua_tocfunction(L, -2) != lua_tocfunction(L, -1))
		return luaL_error(L, "unsupported policy action (only "
		                     "haka.dissectors.smtp.install)");
	lua_pop(L, 2);
	if (lua_getfield(L, 1, "port") != LUA_TNUMBER)
		return luaL_error(L, "policy: a port criterion is required");
	port = lua_tointeger(L, -1);
	if (port <= 0 || port >= 65536)
		return luaL_error(L, "policy: invalid port");
	ensure_init(L);
	add_port(vm, port);
	if (lua_getfield(L, 1, "name") == LUA_TSTRING)
		hk_log(LOG_INFO, "core",
		       "register policy '%s' on 'tcp_connection "
		       "next dissector'",
		       lua_tostring(L, -1));
	else
		hk_log(LOG_INFO, "core",
		       "register policy on 'tcp_connection next dissector'");
	return 0;
}

/* --- flow.smtp ---------------------------------------------------------------
 */

int
lapi_smtp_field(lua_State *L, struct flow *f, const char *key)
{
	const struct smtp_txn *t;
	void *inst;
	uint32_t i;

	if (strcmp(key, "state") == 0) {
		/* In the SMTP events, the state of the SMTP machine. */
		inst = smtp_of_flow(f);
		if (inst == NULL)
			return 0;
		lua_pushstring(L, smtp_state(inst));
		return 1;
	}
	if (strcmp(key, "smtp") != 0)
		return 0;
	inst = smtp_of_flow(f);
	if (inst == NULL) {
		lua_pushnil(L);
		return 1;
	}
	t = smtp_txn(inst);
	lua_createtable(L, 0, 6);
	lua_pushstring(L, t->helo);
	lua_setfield(L, -2, "helo");
	lua_pushstring(L, t->mail_from);
	lua_setfield(L, -2, "mail_from");
	lua_createtable(L, (int)t->nrcpt, 0);
	for (i = 0; i < t->nrcpt; i++) {
		lua_pushstring(L, t->rcpt[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "rcpt_to");
	lua_pushinteger(L, (lua_Integer)t->data_bytes);
	lua_setfield(L, -2, "data_bytes");
	lua_pushboolean(L, t->tls);
	lua_setfield(L, -2, "tls");
	lua_pushstring(L, smtp_state(inst));
	lua_setfield(L, -2, "state");
	return 1;
}

/* --- the module
 * ---------------------------------------------------------------- */

/*
 * The mail content iterator, in Lua because it blocks (yields) inside the
 * rule's coroutine. It has the primitives available, _need(n) (wait
 * until n bytes or the end) and _take(n); wait, check_available, sub,
 * advance and foreach_available are the TCP stream iterator's, written
 * once over those primitives (lapi_objects.c), as the original's vbuffer
 * iterator (HAKA.md section b). The data of a non-streamed rule and the
 * pieces the iterator returns are the same Data views: #d, d:asstring(),
 * d:sub(), and d[i], the byte at 1-based index i, as the original's
 * vbuffer_sub (an index outside 1..#d is an error, as on the TCP data
 * views).
 *
 * Data's and the iterator's metatables, set by the engine on its next
 * objects, are out of the rules' reach: getmetatable() gives an empty
 * table, and the iterator's methods are its metatable's __index, not the
 * metatable itself (it.__index is nil).
 */
static const char mailiter_src[] =
    "local StreamIter = ...\n"
    "local Data = {}\n"
    "Data.__index = function (d, k)\n"
    "  if type(k) ~= 'number' then return Data[k] end\n"
    "  local i = math.tointeger(k)\n"
    "  if i == nil then error('number has no integer representation', 2) "
    "end\n"
    "  if i < 1 or i > #d._s then error('index out of range', 2) end\n"
    "  return string.byte(d._s, i)\n"
    "end\n"
    "Data.__len = function (d) return #d._s end\n"
    "Data.__metatable = {}\n"
    "Data.__tostring = function (d) return d._s end\n"
    "function Data:asstring() return self._s end\n"
    "function Data:sub(off, len)\n"
    "  off = off or 0\n"
    "  local e = len and off + len or #self._s\n"
    "  return setmetatable({_s = string.sub(self._s, off + 1, e)}, Data)\n"
    "end\n"
    "local Iter = {}\n"
    "local IterMT = {__index = Iter, __metatable = {}}\n"
    "function Iter:_push(s, last)\n"
    "  if #s > 0 then self._q[#self._q + 1] = s; self._n = self._n + #s end\n"
    "  if last then self._fin = true end\n"
    "end\n"
    "function Iter:available() return self._n end\n"
    "function Iter:_need(n)\n"
    "  while not self._fin and self:available() < n do coroutine.yield() "
    "end\n"
    "  return self:available() >= n\n"
    "end\n"
    "function Iter:_take(n)\n"
    "  local s = table.concat(self._q)\n"
    "  self._q, self._n = {}, 0\n"
    "  if n and n < #s then\n"
    "    self._q[1] = string.sub(s, n + 1)\n"
    "    self._n = #s - n\n"
    "    s = string.sub(s, 1, n)\n"
    "  end\n"
    "  return setmetatable({_s = s}, Data)\n"
    "end\n"
    "for _, k in ipairs({'wait', 'check_available', 'advance', 'sub',\n"
    "    'foreach_available'}) do\n"
    "  Iter[k] = StreamIter[k]\n"
    "end\n"
    "return {\n"
    "  new = function () return setmetatable({_q = {}, _n = 0, _fin = false}, IterMT) end,\n"
    "  data = function (s) return setmetatable({_s = s}, Data) end,\n"
    "}\n";

static int
l_module_loader(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	return 1;
}

void
lapi_smtp_init(lua_State *L, struct lvm *vm)
{
	static const char *const ev_names[] = {
	    "command", "response", "mail_content", "anomaly", "starttls"};
	static const enum hk_event ev_ids[] = {
	    EV_SMTP_COMMAND, EV_SMTP_RESPONSE, EV_SMTP_MAIL_CONTENT,
	    EV_SMTP_ANOMALY, EV_SMTP_STARTTLS};
	int i;

	if (luaL_loadbufferx(L, mailiter_src, sizeof(mailiter_src) - 1, "=smtp",
	                     "t") != LUA_OK)
		lua_error(L);
	luaL_getmetatable(L, LMT_ITER); /* the iterator methods to share */
	lua_call(L, 1, 1);
	vm->mailiter_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	vm->result_mt_ref = result_mt(L, "class Result");
	vm->array_mt_ref = result_mt(L, "class ArrayResult");
	for (i = 0; i < (int)HK_ARRAY_SIZE(vm->result_key_ref); i++) {
		lua_pushstring(L, result_key_names[i]);
		vm->result_key_ref[i] = luaL_ref(L, LUA_REGISTRYINDEX);
	}

	/* The module: require('smtp') and haka.dissectors.smtp. */
	lua_newtable(L);
	lua_pushliteral(L, "smtp");
	lua_setfield(L, -2, "name");
	lapi_push_events(L, vm, "smtp", ev_names, ev_ids,
	                 (int)HK_ARRAY_SIZE(ev_ids));
	lua_setfield(L, -2, "events");
	lua_newtable(L);
	lapi_set_strict(L, "policy", "policies", "smtp");
	lua_setfield(L, -2, "policies");
	lua_pushcfunction(L, l_install_tcp_rule);
	lua_setfield(L, -2, "install_tcp_rule");
	lua_pushcfunction(L, l_dissect);
	lua_setfield(L, -2, "dissect");
	lua_pushcfunction(L, l_install);
	lua_setfield(L, -2, "install");

	lua_getglobal(L, "haka");
	lua_getfield(L, -1, "dissectors");
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "smtp");
	/* tcp_connection's next dissector policy object. */
	lua_getfield(L, -1, "tcp_connection");
	lua_getfield(L, -1, "policies");
	lua_newtable(L);
	lua_pushliteral(L, "tcp_connection next dissector");
	lua_setfield(L, -2, "__policy");
	lua_setfield(L, -2, "next_dissector");
	lua_pop(L, 3);
	lua_pushcfunction(L, l_policy);
	lua_setfield(L, -2, "policy");
	lua_pop(L, 1);

	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushvalue(L, -2);
	lua_pushcclosure(L, l_module_loader, 1);
	lua_setfield(L, -2, "smtp");
	lua_pop(L, 2);
}
