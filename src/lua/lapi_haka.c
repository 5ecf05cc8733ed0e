/*
 * The haka table of the rule API (HAKA.md section b): haka.rule,
 * haka.alert (with address/service and updates), haka.log, haka.abort,
 * the event objects, haka.dissectors and the built-in modules
 * protocol/ipv4, protocol/tcp and protocol/tcp_connection.
 */
#include <stdlib.h>
#include <string.h>

#include <haka/alert.h>
#include <haka/log.h>

#include "lua/lvm_priv.h"

#define ALERT_MAX_NODES  32
#define ALERT_MAX_VALUES 32
#define ALERT_MAX_REFS   32

/* An alert keeps at most max entries of a list: say what is left out. */
static void
alert_cut(const char *field, int n, int max)
{
	if (n > max)
		hk_log(LOG_WARNING, "lua",
		       "haka.alert: field '%s' has %d entries, only the first "
		       "%d are kept",
		       field, n, max);
}
#define ALERT_GOT_MAX 64 /* bytes of a wrong string shown */

static const char *const rule_keys[] = {"on",      "hook", "eval",
                                        "options", "name", NULL};

/*
 * The first key of the table at idx that is not one of keys (NULL-ended),
 * as a string ("?" for a key that is not a string), or NULL if none.
 * Valid while the table is.
 */
const char *
lapi_unknown_key(lua_State *L, int idx, const char *const *keys)
{
	const char *k;
	int i;

	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		for (i = 0; k != NULL && keys[i] != NULL; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		lua_pop(L, 1);
		if (k == NULL || keys[i] == NULL) {
			lua_pop(L, 1);
			return k != NULL ? k : "?";
		}
	}
	return NULL;
}

void
lapi_push_event(lua_State *L, struct lvm *vm, enum hk_event ev)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->events_ref);
	lua_rawgeti(L, -1, ev);
	lua_remove(L, -2);
}

static int
check_event(lua_State *L, int idx)
{
	int ev;

	/*
	 * An event is known by the object itself (the registry maps each
	 * event object to its id), not by its id field, which a rule file
	 * can change.
	 */
	idx = lua_absindex(L, idx);
	if (!lua_istable(L, idx))
		return luaL_error(L, "rule must bind on an event");
	lua_rawgeti(L, LUA_REGISTRYINDEX, lvm_from(L)->events_ref);
	lua_pushvalue(L, idx);
	lua_rawget(L, -2);
	ev = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : -1;
	lua_pop(L, 2);
	if (ev < 0)
		return luaL_error(L, "rule must bind on an event");
	return ev;
}

/* Append the function on top of the stack (popped) to the rules of ev. */
static void
add_rule(lua_State *L, struct lvm *vm, int ev, bool streamed)
{
	/* lvm_dispatch calls the plain rules, lvm_streamed the others. */
	lua_rawgeti(L, LUA_REGISTRYINDEX,
	            streamed ? vm->streamed_ref[ev] : vm->plain_ref[ev]);
	lua_insert(L, -2);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_pop(L, 1);
	vm->nrules[ev]++;
}

/*
 * prepend_rule(event, fn): fn becomes the first plain rule of event.
 * Given only to haka/policy's install (the built-in new_connection
 * policy runs before the rules, as the original's did); not reachable
 * from rule files.
 *
 * The first policy on new_connection may be registered by a rule that
 * new_connection is running: the list is copied, not shifted in place,
 * so that the dispatch under way goes on over the list it started with
 * (each rule once), and the next one starts with the policy.
 */
static int
l_prepend_rule(lua_State *L)
{
	struct lvm *vm = lvm_from(L);
	int ev = check_event(L, 1);
	lua_Integer i, n;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->plain_ref[ev]);
	n = (lua_Integer)lua_rawlen(L, -1);
	lua_createtable(L, (int)n + 1, 0);
	lua_pushvalue(L, 2);
	lua_rawseti(L, -2, 1);
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, -2, i);
		lua_rawseti(L, -2, i + 1);
	}
	lua_rawseti(L, LUA_REGISTRYINDEX, vm->plain_ref[ev]);
	vm->nrules[ev]++;
	return 0;
}

/* stopped(): the event being dispatched was stopped (rule groups). */
static int
l_event_stopped(lua_State *L)
{
	lua_pushboolean(L, lvm_event_stopped(lvm_from(L)));
	return 1;
}

/*
 * require(name) then its install(...) with the nargs values on top of the
 * stack (popped). If the file cannot be loaded, a warning says what is
 * missing.
 */
static void
install_module(lua_State *L, const char *name, int nargs, const char *missing)
{
	int base = lua_gettop(L) - nargs;

	lua_getglobal(L, "require");
	lua_pushstring(L, name);
	/* Not a table (another file on the path): indexing it would raise
	 * outside any pcall. */
	if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1) ||
	    lua_getfield(L, -1, "install") != LUA_TFUNCTION)
		goto fail;
	lua_insert(L, base + 1);
	lua_pop(L, 1);
	if (lua_pcall(L, nargs, 0, 0) != LUA_OK)
		goto fail;
	lua_settop(L, base);
	return;
fail:
	hk_log(LOG_WARNING, "lua", "%s not loaded, %s: %s", name, missing,
	       lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
	                                      : "no install function");
	lua_settop(L, base);
}

static int l_alert_fields(lua_State *L);

/*
 * haka.policy becomes lua/haka/policy.lua's table, given prepend_rule,
 * the C registration of next_dissector entries (haka.policy so far) and
 * the check of alert fields;
 * haka.rule_group comes from lua/haka/rule_group.lua. Without the files,
 * haka.policy stays the C function (next_dissector policies only) and
 * haka.rule_group is nil.
 */
void
lapi_modules_init(lua_State *L)
{
	lua_pushcfunction(L, l_prepend_rule);
	lua_getglobal(L, "haka");
	lua_getfield(L, -1, "policy");
	lua_remove(L, -2);
	lua_pushcfunction(L, l_alert_fields);
	install_module(L, "haka/policy", 3,
	               "only next_dissector policies work");
	lua_pushcfunction(L, l_event_stopped);
	install_module(L, "haka/rule_group", 1, "haka.rule_group is missing");
}

/* haka.rule{on = EVENT, eval = function, options = {streamed = bool}} */
static int
l_rule(lua_State *L)
{
	struct lvm *vm = lvm_from(L);
	const char *bad;
	int ev;
	bool streamed = false;

	luaL_checktype(L, 1, LUA_TTABLE);
	if ((bad = lapi_unknown_key(L, 1, rule_keys)) != NULL)
		return luaL_error(L, "unexpected field '%s' in rule", bad);
	if (lua_getfield(L, 1, "on") == LUA_TNIL) {
		lua_pop(L, 1);
		lua_getfield(L, 1, "hook");
	}
	if (lua_isnil(L, -1))
		return luaL_error(L, "no event defined for rule");
	ev = check_event(L, -1);
	lua_pop(L, 1);
	if (lua_getfield(L, 1, "eval") != LUA_TFUNCTION)
		return luaL_error(L, "rule eval function expected");
	lua_pop(L, 1);
	switch (lua_getfield(L, 1, "options")) {
	case LUA_TNIL:
		break;
	case LUA_TTABLE:
		lua_getfield(L, -1, "streamed");
		streamed = lua_toboolean(L, -1);
		lua_pop(L, 1);
		break;
	default:
		return luaL_error(L, "rule options should be table");
	}
	lua_pop(L, 1);
	if (streamed && ev != EV_TCPC_RECEIVE_DATA &&
	    ev != EV_SMTP_MAIL_CONTENT)
		return luaL_error(L, "event '%s' cannot be streamed",
		                  hk_event_name(ev));

	lua_getfield(L, 1, "eval");
	add_rule(L, vm, ev, streamed);
	return 0;
}

/*
 * haka.on_exit(fn): fn runs when the engine stops, as a rule on
 * haka.events.exiting (in registration order with those rules).
 */
static int
l_on_exit(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	add_rule(L, lvm_from(L), EV_EXITING, false);
	return 0;
}

/* --- alerts ---------------------------------------------------------- */

struct alert_build {
	struct alert a;
	struct alert_node nodes[2][ALERT_MAX_NODES];
	char *values[2][ALERT_MAX_NODES][ALERT_MAX_VALUES];
	const char *mref[ALERT_MAX_VALUES];
	uint64_t refs[ALERT_MAX_REFS];
	const char *fn; /* "haka.alert" or "alert:update", for the errors */
	int anchor;     /* stack index of a table keeping strings alive */
	int nanchor;
};

/*
 * Push how a wrong value is shown in an error: a string quoted, cut at
 * ALERT_GOT_MAX bytes and escaped as haka.log is (it may be the
 * attacker's), anything else by its type name.
 */
const char *
lapi_push_got(lua_State *L, int idx)
{
	char buf[4 * ALERT_GOT_MAX + 1];
	const char *s;
	size_t len;

	if (lua_type(L, idx) != LUA_TSTRING) {
		lua_pushstring(L, luaL_typename(L, idx));
		return lua_tostring(L, -1);
	}
	s = lua_tolstring(L, idx, &len);
	log_escape(buf, sizeof(buf), s,
	           len > ALERT_GOT_MAX ? ALERT_GOT_MAX : len);
	return lua_pushfstring(L, "'%s%s'", buf,
	                       len > ALERT_GOT_MAX ? "..." : "");
}

/*
 * Every argument error of haka.alert and a:update names the field:
 * "haka.alert: field 'severity': expected one of low, medium, high, got
 * 'urgent'". Raised at the rule's line (luaL_error, level 1).
 */
static int
field_error(lua_State *L, struct alert_build *b, const char *field,
            const char *expected, int idx)
{
	idx = lua_absindex(L, idx);
	return luaL_error(L, "%s: field '%s': expected %s, got %s", b->fn,
	                  field, expected, lapi_push_got(L, idx));
}

/*
 * "haka.alert: unexpected field 'x'" (key at idx; "method.x" in method),
 * shown as lapi_push_got shows a string.
 */
static int
unexpected_field(lua_State *L, struct alert_build *b, const char *prefix,
                 int idx)
{
	idx = lua_absindex(L, idx);
	lua_pushstring(L, prefix);
	luaL_tolstring(L, idx, NULL);
	lua_concat(L, 2);
	return luaL_error(L, "%s: unexpected field %s", b->fn,
	                  lapi_push_got(L, -1));
}

/* tostring(value), kept alive in the anchor table. */
static const char *
anchored_string(lua_State *L, struct alert_build *b, int idx)
{
	const char *s;

	idx = lua_absindex(L, idx);
	s = luaL_tolstring(L, idx, NULL);
	lua_rawseti(L, b->anchor, ++b->nanchor);
	return s;
}

/*
 * A text field: a string, a number, or an object with __tostring (such
 * as a data view), converted with tostring as the original did.
 */
static const char *
text_field(lua_State *L, struct alert_build *b, int idx, const char *field)
{
	int t = lua_type(L, idx);

	if (t != LUA_TSTRING && t != LUA_TNUMBER) {
		if (luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL)
			field_error(L, b, field, "a string", idx);
		lua_pop(L, 1);
	}
	return anchored_string(L, b, idx);
}

static enum alert_level
parse_level(lua_State *L, struct alert_build *b, int idx, const char *field,
            const char *expected)
{
	const char *s =
	    lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;

	if (s != NULL && strcmp(s, "low") == 0)
		return ALERT_LOW;
	if (s != NULL && strcmp(s, "medium") == 0)
		return ALERT_MEDIUM;
	if (s != NULL && strcmp(s, "high") == 0)
		return ALERT_HIGH;
	field_error(L, b, field, expected, idx);
	return ALERT_LEVEL_NONE;
}

static enum alert_completion
parse_completion(lua_State *L, struct alert_build *b, int idx)
{
	const char *s =
	    lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;

	if (s != NULL && strcmp(s, "failed") == 0)
		return ALERT_FAILED;
	if (s != NULL && strcmp(s, "successful") == 0)
		return ALERT_SUCCESSFUL;
	field_error(L, b, "completion", "one of failed, successful", idx);
	return ALERT_FAILED;
}

/* Alert times: from 1970 to the end of year 9999 (gmtime's range). */
#define ALERT_TIME_MAX 253402300799.0

/*
 * The number at idx if it is from lo to hi (a NaN or an infinity is not):
 * the casts to integers below are then defined.
 */
static bool
num_in(lua_State *L, int idx, double lo, double hi, double *out)
{
	double v;

	if (lua_type(L, idx) != LUA_TNUMBER)
		return false;
	v = lua_tonumber(L, idx);
	if (!(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/* Seconds (a number), or the original's haka.time as {secs =, nsecs =}. */
static void
parse_time(lua_State *L, struct alert_build *b, int idx, const char *field,
           struct hk_time *t)
{
	char sub[32];
	double v, ns = 0;

	idx = lua_absindex(L, idx);
	if (lua_istable(L, idx)) {
		lua_getfield(L, idx, "secs");
		if (!num_in(L, -1, 0, ALERT_TIME_MAX, &v)) {
			snprintf(sub, sizeof(sub), "%s.secs", field);
			field_error(L, b, sub,
			            "a number from 0 to 253402300799", -1);
		}
		if (lua_getfield(L, idx, "nsecs") != LUA_TNIL &&
		    !num_in(L, -1, 0, 999999999, &ns)) {
			snprintf(sub, sizeof(sub), "%s.nsecs", field);
			field_error(L, b, sub, "a number from 0 to 999999999",
			            -1);
		}
		t->sec = (int64_t)v;
		t->nsec = (int32_t)ns;
		lua_pop(L, 2);
		return;
	}
	if (!num_in(L, idx, 0, ALERT_TIME_MAX, &v))
		field_error(L, b, field,
		            "a number of seconds from 0 to 253402300799 or "
		            "{secs = ..., nsecs = ...}",
		            idx);
	t->sec = (int64_t)v;
	t->nsec = (int32_t)((v - (double)t->sec) * 1e9);
}

/* Is the value at idx made by haka.alert.address() or .service()? */
static bool
is_node(lua_State *L, int idx)
{
	bool yes;

	if (!lua_istable(L, idx))
		return false;
	yes = lua_getfield(L, idx, "__alert_node") == LUA_TSTRING;
	lua_pop(L, 1);
	return yes;
}

static void
parse_node(lua_State *L, struct alert_build *b, int idx,
           struct alert_node *node, char **values)
{
	int j, vlen;

	idx = lua_absindex(L, idx);
	lua_getfield(L, idx, "__alert_node");
	node->kind = strcmp(lua_tostring(L, -1), "service") == 0
	                 ? ALERT_NODE_SERVICE
	                 : ALERT_NODE_ADDRESS;
	lua_pop(L, 1);
	vlen = (int)lua_rawlen(L, idx);
	alert_cut(node->kind == ALERT_NODE_SERVICE ? "service" : "address",
	          vlen, ALERT_MAX_VALUES);
	node->values = values;
	node->nvalues = 0;
	for (j = 1; j <= vlen && j <= ALERT_MAX_VALUES; j++) {
		lua_rawgeti(L, idx, j);
		node->values[node->nvalues++] =
		    (char *)anchored_string(L, b, -1);
		lua_pop(L, 1);
	}
}

/* sources or targets: one node, or a list of nodes. */
static int
parse_nodes(lua_State *L, struct alert_build *b, int idx, int which,
            const char *field, struct alert_node **out)
{
	char sub[32];
	int n = 0, i, len;

	idx = lua_absindex(L, idx);
	*out = b->nodes[which];
	if (is_node(L, idx)) {
		parse_node(L, b, idx, &b->nodes[which][0], b->values[which][0]);
		return 1;
	}
	if (!lua_istable(L, idx))
		field_error(L, b, field,
		            "haka.alert.address(...), haka.alert.service(...) "
		            "or a list of them",
		            idx);
	len = (int)lua_rawlen(L, idx);
	alert_cut(field, len, ALERT_MAX_NODES);
	for (i = 1; i <= len && n < ALERT_MAX_NODES; i++) {
		lua_rawgeti(L, idx, i);
		if (!is_node(L, -1)) {
			snprintf(sub, sizeof(sub), "%s[%d]", field, i);
			field_error(L, b, sub,
			            "haka.alert.address(...) or "
			            "haka.alert.service(...)",
			            -1);
		}
		parse_node(L, b, -1, &b->nodes[which][n], b->values[which][n]);
		lua_pop(L, 1);
		n++;
	}
	return n;
}

/* method = {description = text, ref = text or list of texts} */
static void
parse_method(lua_State *L, struct alert_build *b, int idx)
{
	struct alert *a = &b->a;
	char sub[32];
	int i, n;

	idx = lua_absindex(L, idx);
	if (!lua_istable(L, idx))
		field_error(L, b, "method",
		            "a table {description = ..., ref = ...}", idx);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		const char *k =
		    lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";

		if (strcmp(k, "description") == 0) {
			a->method_description =
			    text_field(L, b, -1, "method.description");
		} else if (strcmp(k, "ref") == 0) {
			a->method_ref = b->mref;
			a->method_nref = 0;
			if (lua_istable(L, -1)) {
				n = (int)lua_rawlen(L, -1);
				alert_cut("method.ref", n, ALERT_MAX_VALUES);
				for (i = 1; i <= n && i <= ALERT_MAX_VALUES;
				     i++) {
					lua_rawgeti(L, -1, i);
					snprintf(sub, sizeof(sub),
					         "method.ref[%d]", i);
					b->mref[a->method_nref++] =
					    text_field(L, b, -1, sub);
					lua_pop(L, 1);
				}
			} else {
				b->mref[a->method_nref++] =
				    text_field(L, b, -1, "method.ref");
			}
		} else {
			unexpected_field(L, b, "method.", -2);
		}
		lua_pop(L, 1);
	}
}

/* The id of the alert at idx, or 0 when it is not one. */
static uint64_t
alert_id_of(lua_State *L, int idx)
{
	uint64_t id = 0;

	if (!lua_istable(L, idx))
		return 0;
	if (lua_getfield(L, idx, "__alert_id") == LUA_TNUMBER)
		id = (uint64_t)lua_tointeger(L, -1);
	lua_pop(L, 1);
	return id;
}

/*
 * ref = an alert, or a list of alerts; in a list, what is not an alert
 * is skipped.
 */
static void
parse_refs(lua_State *L, struct alert_build *b, int idx)
{
	struct alert *a = &b->a;
	uint64_t id;
	int i, n;

	idx = lua_absindex(L, idx);
	if (!lua_istable(L, idx))
		field_error(L, b, "ref", "an alert or a list of alerts", idx);
	a->refs = b->refs;
	a->nrefs = 0;
	if ((id = alert_id_of(L, idx)) != 0) {
		b->refs[a->nrefs++] = id;
		return;
	}
	n = (int)lua_rawlen(L, idx);
	alert_cut("ref", n, ALERT_MAX_REFS);
	for (i = 1; i <= n && a->nrefs < ALERT_MAX_REFS; i++) {
		lua_rawgeti(L, idx, i);
		if ((id = alert_id_of(L, -1)) != 0)
			b->refs[a->nrefs++] = id;
		lua_pop(L, 1);
	}
}

/* Fill b->a from the table at idx. Raises a Lua error on a bad field. */
static void
parse_alert(lua_State *L, int idx, struct alert_build *b, const char *fn)
{
	struct alert *a = &b->a;

	idx = lua_absindex(L, idx);
	b->fn = fn;
	if (!lua_istable(L, idx))
		luaL_error(L, "%s: expected a table of fields, got %s", fn,
		           lapi_push_got(L, idx));
	memset(a, 0, sizeof(*a));
	lua_newtable(L);
	b->anchor = lua_gettop(L);
	b->nanchor = 0;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		const char *k =
		    lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";

		if (strcmp(k, "description") == 0) {
			a->description = text_field(L, b, -1, "description");
		} else if (strcmp(k, "severity") == 0) {
			a->severity = parse_level(L, b, -1, "severity",
			                          "one of low, medium, high");
		} else if (strcmp(k, "confidence") == 0) {
			if (lua_type(L, -1) == LUA_TNUMBER) {
				a->confidence = ALERT_NUMERIC;
				a->confidence_num = lua_tonumber(L, -1);
			} else {
				a->confidence = parse_level(
				    L, b, -1, "confidence",
				    "one of low, medium, high or a number");
			}
		} else if (strcmp(k, "completion") == 0) {
			a->completion = parse_completion(L, b, -1);
		} else if (strcmp(k, "start_time") == 0) {
			parse_time(L, b, -1, "start_time", &a->start_time);
		} else if (strcmp(k, "end_time") == 0) {
			parse_time(L, b, -1, "end_time", &a->end_time);
		} else if (strcmp(k, "method") == 0) {
			parse_method(L, b, -1);
		} else if (strcmp(k, "sources") == 0) {
			a->nsources =
			    parse_nodes(L, b, -1, 0, "sources", &a->sources);
		} else if (strcmp(k, "targets") == 0) {
			a->ntargets =
			    parse_nodes(L, b, -1, 1, "targets", &a->targets);
		} else if (strcmp(k, "ref") == 0) {
			parse_refs(L, b, -1);
		} else {
			unexpected_field(L, b, "", -2);
		}
		lua_pop(L, 1);
	}
}

static int l_alert_update(lua_State *L);

/*
 * alert_fields(t): raises the error haka.alert would raise for t, posts
 * nothing. Given only to haka/policy's install (alert actions are checked
 * when declared).
 */
static int
l_alert_fields(lua_State *L)
{
	struct alert_build *b = lua_newuserdata(L, sizeof(*b));

	parse_alert(L, 1, b, "alert");
	return 0;
}

static int
l_alert(lua_State *L)
{
	struct alert_build *b;
	uint64_t id;

	b = lua_newuserdata(L, sizeof(*b)); /* freed by the GC */
	parse_alert(L, 1, b, "haka.alert");
	id = alert_post(&b->a);
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, (lua_Integer)id);
	lua_setfield(L, -2, "__alert_id");
	lua_pushcfunction(L, l_alert_update);
	lua_setfield(L, -2, "update");
	return 1;
}

static int
l_alert_update(lua_State *L)
{
	struct alert_build *b;
	uint64_t id;

	if ((id = alert_id_of(L, 1)) == 0)
		return luaL_error(L, "alert:update: not called on an alert "
		                     "(a:update{...}, a returned by "
		                     "haka.alert)");
	b = lua_newuserdata(L, sizeof(*b));
	parse_alert(L, 2, b, "alert:update");
	alert_update(id, &b->a);
	return 0;
}

static int
alert_node(lua_State *L, const char *kind)
{
	int n = lua_gettop(L), i;

	lua_createtable(L, n, 1);
	for (i = 1; i <= n; i++) {
		luaL_tolstring(L, i, NULL);
		lua_rawseti(L, -2, i);
	}
	lua_pushstring(L, kind);
	lua_setfield(L, -2, "__alert_node");
	return 1;
}

static int
l_alert_address(lua_State *L)
{
	return alert_node(L, "address");
}

static int
l_alert_service(lua_State *L)
{
	return alert_node(L, "service");
}

static int
l_alert_call(lua_State *L)
{
	lua_remove(L, 1); /* haka.alert table itself */
	return l_alert(L);
}

/* --- logging --------------------------------------------------------- */

/* string.format(...) of the arguments from index 'first', length in *len. */
static const char *
format_args(lua_State *L, int first, size_t *len)
{
	int n = lua_gettop(L) - first + 1;

	*len = 0;
	if (n <= 0)
		return "";
	lua_getglobal(L, "string");
	lua_getfield(L, -1, "format");
	lua_remove(L, -2);
	lua_insert(L, first);
	lua_call(L, n, 1);
	return luaL_tolstring(L, -1, len);
}

/*
 * The message is the rule's, often made of attacker-controlled text (an
 * SMTP parameter): hk_log_text escapes its control characters so that it
 * cannot forge log lines or terminal sequences. Upvalues: the section
 * name and the level.
 */
static int
log_at(lua_State *L, int first)
{
	const char *section = lua_tostring(L, lua_upvalueindex(1));
	enum log_level level =
	    (enum log_level)lua_tointeger(L, lua_upvalueindex(2));
	const char *msg;
	size_t len;

	if (!log_enabled(section, level))
		return 0;
	msg = format_args(L, first, &len);
	hk_log_text(level, section, msg, len);
	return 0;
}

static int
l_log(lua_State *L)
{
	return log_at(L, 1);
}

/* logger(fmt, ...): the first argument is the logger table itself */
static int
l_log_call(lua_State *L)
{
	return log_at(L, 2);
}

/*
 * Push a logger of the section at index sec: a table with one function
 * per level, callable itself as its info function. haka.log is the
 * logger of 'external', haka.log_section(name) makes one.
 */
static void
push_logger(lua_State *L, int sec)
{
	static const struct {
		const char *name;
		enum log_level level;
	} levels[] = {{"info", LOG_INFO},       {"debug", LOG_DEBUG},
	              {"warning", LOG_WARNING}, {"warn", LOG_WARNING},
	              {"error", LOG_ERROR},     {"fatal", LOG_FATAL},
	              {"trace", LOG_TRACE}};
	size_t i;

	sec = lua_absindex(L, sec);
	lua_createtable(L, 0, (int)(sizeof(levels) / sizeof(levels[0])));
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		lua_pushvalue(L, sec);
		lua_pushinteger(L, levels[i].level);
		lua_pushcclosure(L, l_log, 2);
		lua_setfield(L, -2, levels[i].name);
	}
	lua_createtable(L, 0, 1);
	lua_pushvalue(L, sec);
	lua_pushinteger(L, LOG_INFO);
	lua_pushcclosure(L, l_log_call, 2);
	lua_setfield(L, -2, "__call");
	lua_setmetatable(L, -2);
}

/* haka.log_section(name): a logger like haka.log in section 'name' */
static int
l_log_section(lua_State *L)
{
	size_t len;
	const char *name = luaL_checklstring(L, 1, &len);

	if (!log_section_valid(name, len))
		return luaL_error(L,
		                  "haka.log_section: invalid section name %s "
		                  "(1 to %d printable ASCII characters other "
		                  "than space, '=' and ',')",
		                  lapi_push_got(L, 1), LOG_SECTION_NAME - 1);
	lua_settop(L, 1);
	push_logger(L, 1);
	return 1;
}

/* --- misc -------------------------------------------------------------- */

static int
l_capture_mode(lua_State *L)
{
	struct lvm *vm = lvm_from(L);

	lua_pushstring(L,
	               engine_pass_through(vm->eng) ? "passthrough" : "normal");
	return 1;
}

static int
l_current_thread(lua_State *L)
{
	lua_pushinteger(L, lvm_from(L)->conf.thread);
	return 1;
}

static int
event_tostring(lua_State *L)
{
	lua_getfield(L, 1, "name");
	lua_pushfstring(L, "<event %s>", lua_tostring(L, -1));
	return 1;
}

static void
new_event(lua_State *L, struct lvm *vm, enum hk_event ev)
{
	lua_createtable(L, 0, 2);
	lua_pushstring(L, hk_event_name(ev));
	lua_setfield(L, -2, "name");
	lua_pushinteger(L, ev);
	lua_setfield(L, -2, "id");
	luaL_setmetatable(L, LMT_EVENT);
	/* events[id] = event, events[event] = id */
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->events_ref);
	lua_pushvalue(L, -2);
	lua_rawseti(L, -2, ev);
	lua_pushvalue(L, -2);
	lua_pushinteger(L, ev);
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Reading a name an events or policies table does not have
 * (smtp.events.comand) is an error at the reader's line that lists the
 * names it has, as in the original ("unknown event"), rather than a nil
 * that haka.rule or haka.policy would only report as "no event defined
 * for rule" or "no on defined for policy". Upvalues: the kind ("event"),
 * the owner ("smtp"), the kind in the plural ("events").
 */
static int
strict_index(lua_State *L)
{
	luaL_Buffer b;
	const char **names;
	int n = 0, i;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, 1) != 0) {
		n += lua_type(L, -2) == LUA_TSTRING;
		lua_pop(L, 1);
	}
	/* The strings stay anchored as keys of the table. */
	names = lua_newuserdata(L, (size_t)(n > 0 ? n : 1) * sizeof(*names));
	n = 0;
	lua_pushnil(L);
	while (lua_next(L, 1) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING)
			names[n++] = lua_tostring(L, -2);
		lua_pop(L, 1);
	}
	qsort(names, (size_t)n, sizeof(*names), cmp_names);
	luaL_buffinit(L, &b);
	luaL_addstring(&b, n > 0 ? "its " : "it has none");
	if (n > 0) {
		luaL_addstring(&b, lua_tostring(L, lua_upvalueindex(3)));
		luaL_addstring(&b, ": ");
	}
	for (i = 0; i < n; i++) {
		if (i > 0)
			luaL_addstring(&b, ", ");
		luaL_addstring(&b, names[i]);
	}
	luaL_pushresult(&b);
	if (lua_type(L, 2) == LUA_TSTRING)
		lapi_push_got(L, 2);
	else
		lua_pushfstring(L, "(a %s)", luaL_typename(L, 2));
	return luaL_error(
	    L, "unknown %s %s of %s (%s)", lua_tostring(L, lua_upvalueindex(1)),
	    lua_tostring(L, -1), lua_tostring(L, lua_upvalueindex(2)),
	    lua_tostring(L, -2));
}

void
lapi_set_strict(lua_State *L, const char *kind, const char *kinds,
                const char *owner)
{
	lua_createtable(L, 0, 1);
	lua_pushstring(L, kind);
	lua_pushstring(L, owner);
	lua_pushstring(L, kinds);
	lua_pushcclosure(L, strict_index, 3);
	lua_setfield(L, -2, "__index");
	/* getmetatable() gives this, not the metatable with its __index. */
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
}

void
lapi_push_events(lua_State *L, struct lvm *vm, const char *owner,
                 const char *const *names, const enum hk_event *evs, int n)
{
	int i;

	lua_createtable(L, 0, n);
	for (i = 0; i < n; i++) {
		lapi_push_event(L, vm, evs[i]);
		lua_setfield(L, -2, names[i]);
	}
	lapi_set_strict(L, "event", "events", owner);
}

/* Push a dissector module table {name, events = {...}}. */
static void
push_dissector(lua_State *L, struct lvm *vm, const char *name,
               const char *const *evnames, const enum hk_event *evs, int n)
{
	lua_newtable(L);
	lua_pushstring(L, name);
	lua_setfield(L, -2, "name");
	lapi_push_events(L, vm, name, evnames, evs, n);
	lua_setfield(L, -2, "events");
	lua_newtable(L);
	lapi_set_strict(L, "policy", "policies", name);
	lua_setfield(L, -2, "policies");
	lua_newtable(L);
	lua_setfield(L, -2, "helper");
}

static int
l_module_loader(lua_State *L)
{
	/* upvalue: the module table */
	lua_pushvalue(L, lua_upvalueindex(1));
	return 1;
}

static const char haka_prelude[] =
    "local ok, pp = pcall(require, 'haka/pprint')\n"
    "if ok and type(pp) == 'table' then\n"
    "  debug.pprint = pp.pprint\n"
    "  debug.hide_underscore = pp.hide_underscore\n"
    "  debug.hide_function = pp.hide_function\n"
    "end\n";

void
lapi_haka_init(lua_State *L, struct lvm *vm)
{
	static const char *const ipv4_ev[] = {"receive_packet", "anomaly"};
	static const enum hk_event ipv4_id[] = {EV_IPV4_RECEIVE_PACKET,
	                                        EV_IPV4_ANOMALY};
	static const char *const tcp_ev[] = {"receive_packet"};
	static const enum hk_event tcp_id[] = {EV_TCP_RECEIVE_PACKET};
	static const char *const tcpc_ev[] = {"new_connection",
	                                      "receive_packet", "receive_data",
	                                      "end_connection", "anomaly"};
	static const enum hk_event tcpc_id[] = {
	    EV_TCPC_NEW_CONNECTION, EV_TCPC_RECEIVE_PACKET,
	    EV_TCPC_RECEIVE_DATA, EV_TCPC_END_CONNECTION, EV_TCPC_ANOMALY};
	static const char *const haka_ev[] = {"started", "exiting"};
	static const enum hk_event haka_id[] = {EV_STARTED, EV_EXITING};
	static const char *const modnames[] = {"protocol/ipv4", "protocol/tcp",
	                                       "protocol/tcp_connection"};
	static const char *const disnames[] = {"ipv4", "tcp", "tcp_connection"};
	int i;

	luaL_newmetatable(L, LMT_EVENT);
	lua_pushcfunction(L, event_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pop(L, 1);
	lua_newtable(L);
	vm->events_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	for (i = 0; i < EV_COUNT; i++)
		new_event(L, vm, i);
	lua_pop(L, EV_COUNT);

	lua_newtable(L); /* haka */
	lua_pushcfunction(L, l_rule);
	lua_setfield(L, -2, "rule");
	lua_pushcfunction(L, l_capture_mode);
	lua_setfield(L, -2, "capture_mode");
	lua_pushcfunction(L, l_current_thread);
	lua_setfield(L, -2, "current_thread");
	lua_pushcfunction(L, l_on_exit);
	lua_setfield(L, -2, "on_exit");

	/* haka.alert: callable, with address and service */
	lua_newtable(L);
	lua_pushcfunction(L, l_alert_address);
	lua_setfield(L, -2, "address");
	lua_pushcfunction(L, l_alert_service);
	lua_setfield(L, -2, "service");
	lua_newtable(L);
	lua_pushcfunction(L, l_alert_call);
	lua_setfield(L, -2, "__call");
	lua_setmetatable(L, -2);
	lua_setfield(L, -2, "alert");

	/* haka.log: callable, with one function per level */
	lua_pushliteral(L, "external");
	push_logger(L, -1);
	lua_setfield(L, -3, "log");
	lua_pop(L, 1);
	lua_pushcfunction(L, l_log_section);
	lua_setfield(L, -2, "log_section");

	lapi_push_events(L, vm, "haka", haka_ev, haka_id,
	                 (int)HK_ARRAY_SIZE(haka_id));
	lua_setfield(L, -2, "events");

	lua_newtable(L); /* haka.dissectors */
	push_dissector(L, vm, "ipv4", ipv4_ev, ipv4_id, 2);
	lapi_ipv4_init(L, -1);
	lua_setfield(L, -2, "ipv4");
	push_dissector(L, vm, "tcp", tcp_ev, tcp_id, 1);
	lua_setfield(L, -2, "tcp");
	push_dissector(L, vm, "tcp_connection", tcpc_ev, tcpc_id, 5);
	lua_setfield(L, -2, "tcp_connection");

	/* require('protocol/...') returns the same tables. */
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	for (i = 0; i < 3; i++) {
		lua_getfield(L, -2, disnames[i]);
		lua_pushcclosure(L, l_module_loader, 1);
		lua_setfield(L, -2, modnames[i]);
	}
	lua_pop(L, 1);
	lua_setfield(L, -2, "dissectors");

	lua_setglobal(L, "haka");

	if (luaL_loadbufferx(L, haka_prelude, sizeof(haka_prelude) - 1, "=haka",
	                     "t") == LUA_OK)
		lua_pcall(L, 0, 0, 0);
	lua_settop(L, 0);
}
