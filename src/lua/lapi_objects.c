/*
 * Lua proxies of C objects (CONVENTIONS.md section 9, "Objects"): a
 * userdata {kind, ptr} with a metatable. Packets and data views are lent
 * for one dispatch and invalidated after it; a flow has one proxy for its
 * lifetime, invalidated when the flow is freed; iterators of streamed
 * rules live with their coroutine. A method on an invalid proxy raises an
 * error instead of touching freed memory.
 */
#include <string.h>

#include <haka/ipv4.h>
#include <haka/tcp.h>

#include "lua/lvm_priv.h"

#define DATA_STRING_MAX (64u << 20)

const char *
lapi_dir_name(int dir)
{
	return dir == FLOW_UP ? "up" : "down";
}

static struct lproxy *
new_proxy(lua_State *L, int kind, void *ptr, const char *mt)
{
	struct lproxy *p = lua_newuserdata(L, sizeof(*p));

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->ptr = ptr;
	luaL_setmetatable(L, mt);
	return p;
}

/*
 * A borrowed proxy is valid until the end of the current dispatch, which
 * moves vm->gen on: nothing to record per proxy, so a rule may make as
 * many as it likes, and one the collector has freed is never touched.
 */
static void
borrow(struct lvm *vm, struct lproxy *p)
{
	p->genp = &vm->gen;
	p->gen = vm->gen;
}

static bool
proxy_valid(const struct lproxy *p)
{
	return p->ptr != NULL && (p->genp == NULL || *p->genp == p->gen);
}

/*
 * The lapi_push_* functions push on the VM's main thread; a C function
 * called from a coroutine (a streamed rule) returns on its own stack.
 */
static void
to_caller(lua_State *L, struct lvm *vm)
{
	if (L != vm->L)
		lua_xmove(vm->L, L, 1);
}

void
lapi_invalidate_borrowed(struct lvm *vm)
{
	vm->gen++;
}

struct lproxy *
lapi_push_packet(struct lvm *vm, struct packet *pkt, int kind)
{
	struct lproxy *p = new_proxy(vm->L, kind, pkt, LMT_PACKET);

	borrow(vm, p);
	return p;
}

struct lproxy *
lapi_push_data_pkt(struct lvm *vm, struct packet *pkt, uint32_t off,
                   uint32_t len)
{
	struct lproxy *p = new_proxy(vm->L, LPROXY_DATA_PKT, pkt, LMT_DATA);

	p->off = off;
	p->len = len;
	borrow(vm, p);
	return p;
}

struct lproxy *
lapi_push_data_stream(struct lvm *vm, struct flow *f, int dir, uint64_t off,
                      uint64_t len)
{
	struct lproxy *p = new_proxy(vm->L, LPROXY_DATA_STREAM, f, LMT_DATA);

	p->dir = dir;
	p->off = off;
	p->len = len;
	borrow(vm, p);
	return p;
}

struct lproxy *
lapi_push_iter(struct lvm *vm, struct flow *f, int dir, uint64_t pos)
{
	struct lproxy *p = new_proxy(vm->L, LPROXY_ITER, f, LMT_ITER);

	p->dir = dir;
	p->off = pos;
	return p;
}

/*
 * The flow's proxy. The VM holds it (f->lua_ref) until the connection
 * ends; after, while it stays in the table for its timed wait, only
 * weakly (vm->flows_ref, where every proxy is entered when made, so that
 * lvm_flow_ended allocates nothing): a rule that still refers to it gets
 * it again, else a new one is made, with the fields the rules have set
 * on the flow (its uservalue, also held by f->fields_ref). A rule cannot
 * tell the new proxy from the one freed, which nothing referred to any
 * more.
 */
void
lapi_push_flow(struct lvm *vm, struct flow *f)
{
	lua_State *L = vm->L;
	bool ended = (f->flags & FLOW_F_ENDED) != 0;

	if (f->lua_ref >= 0) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, f->lua_ref);
		return;
	}
	if (ended) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, vm->flows_ref);
		if (lua_rawgetp(L, -1, f) == LUA_TUSERDATA) {
			lua_remove(L, -2);
			return;
		}
		lua_pop(L, 2);
	}
	new_proxy(L, LPROXY_FLOW, f, LMT_FLOW);
	if (f->fields_ref >= 0) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, f->fields_ref);
		lua_setuservalue(L, -2);
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->flows_ref);
	lua_pushvalue(L, -2);
	lua_rawsetp(L, -2, f);
	lua_pop(L, 1);
	if (!ended) {
		lua_pushvalue(L, -1);
		f->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
}

static struct lproxy *
check_valid(lua_State *L, int idx, const char *mt)
{
	struct lproxy *p = luaL_checkudata(L, idx, mt);

	if (!proxy_valid(p))
		luaL_error(L,
		           "%s used outside of its event (or after its "
		           "connection ended)",
		           mt + 5);
	return p;
}

/* --- packets --------------------------------------------------------- */

static int
push_flag_table(lua_State *L, const char *const *names, int n, unsigned bits,
                unsigned all)
{
	int i;

	lua_createtable(L, 0, n + 1);
	for (i = 0; i < n; i++) {
		lua_pushboolean(L, (bits >> i) & 1);
		lua_setfield(L, -2, names[i]);
	}
	lua_pushinteger(L, all);
	lua_setfield(L, -2, "all");
	return 1;
}

static int
pkt_ipv4_field(lua_State *L, struct packet *pkt, const char *k)
{
	char buf[16];

	switch (k[0]) {
	case 'c':
		if (strcmp(k, "checksum") == 0)
			return lua_pushinteger(L, ipv4_checksum(pkt)), 1;
		break;
	case 'd':
		if (strcmp(k, "dst") == 0)
			return lua_pushstring(
			           L, ipv4_addr_str(ipv4_dst(pkt), buf)),
			       1;
		if (strcmp(k, "dont_reassemble") == 0)
			return lua_pushboolean(L, 0), 1;
		break;
	case 'f':
		if (strcmp(k, "flags") == 0) {
			static const char *const n[] = {"mf", "df", "rb"};
			unsigned f = ipv4_flags(pkt) >> 13;

			return push_flag_table(L, n, 3, f, f);
		}
		if (strcmp(k, "frag_offset") == 0)
			return lua_pushinteger(L, ipv4_frag_off(pkt)), 1;
		break;
	case 'h':
		if (strcmp(k, "hdr_len") == 0)
			return lua_pushinteger(L, pkt->ip_hlen), 1;
		break;
	case 'i':
		if (strcmp(k, "id") == 0)
			return lua_pushinteger(L, ipv4_id(pkt)), 1;
		break;
	case 'l':
		if (strcmp(k, "len") == 0)
			return lua_pushinteger(L, ipv4_total_len(pkt)), 1;
		break;
	case 'n':
		if (strcmp(k, "name") == 0)
			return lua_pushliteral(L, "ipv4"), 1;
		break;
	case 'p':
		if (strcmp(k, "proto") == 0)
			return lua_pushinteger(L, ipv4_proto(pkt)), 1;
		break;
	case 's':
		if (strcmp(k, "src") == 0)
			return lua_pushstring(
			           L, ipv4_addr_str(ipv4_src(pkt), buf)),
			       1;
		break;
	case 't':
		if (strcmp(k, "ttl") == 0)
			return lua_pushinteger(L, ipv4_ttl(pkt)), 1;
		if (strcmp(k, "tos") == 0)
			return lua_pushinteger(L, ipv4_tos(pkt)), 1;
		if (strcmp(k, "timestamp") == 0)
			return lua_pushnumber(L, (double)pkt->ts.sec +
			                             pkt->ts.nsec / 1e9),
			       1;
		break;
	case 'v':
		if (strcmp(k, "version") == 0)
			return lua_pushinteger(L, ipv4_version(pkt)), 1;
		break;
	}
	return 0;
}

static int
pkt_tcp_field(lua_State *L, struct packet *pkt, const char *k)
{
	switch (k[0]) {
	case 'a':
		if (strcmp(k, "ack_seq") == 0)
			return lua_pushinteger(L, tcp_ack(pkt)), 1;
		break;
	case 'c':
		if (strcmp(k, "checksum") == 0)
			return lua_pushinteger(L, tcp_checksum(pkt)), 1;
		break;
	case 'd':
		if (strcmp(k, "dstport") == 0)
			return lua_pushinteger(L, tcp_dport(pkt)), 1;
		break;
	case 'f':
		if (strcmp(k, "flags") == 0) {
			static const char *const n[] = {"fin", "syn", "rst",
			                                "psh", "ack", "urg",
			                                "ecn", "cwr"};
			unsigned f = tcp_flags(pkt);

			return push_flag_table(L, n, 8, f, f);
		}
		break;
	case 'h':
		if (strcmp(k, "hdr_len") == 0)
			return lua_pushinteger(L, pkt->l4_hlen), 1;
		break;
	case 'n':
		if (strcmp(k, "name") == 0)
			return lua_pushliteral(L, "tcp"), 1;
		break;
	case 'r':
		if (strcmp(k, "res") == 0)
			return lua_pushinteger(L, tcp_res(pkt)), 1;
		break;
	case 's':
		if (strcmp(k, "srcport") == 0)
			return lua_pushinteger(L, tcp_sport(pkt)), 1;
		if (strcmp(k, "seq") == 0)
			return lua_pushinteger(L, tcp_seq(pkt)), 1;
		break;
	case 'u':
		if (strcmp(k, "urgent_pointer") == 0)
			return lua_pushinteger(L, tcp_urgptr(pkt)), 1;
		break;
	case 'w':
		if (strcmp(k, "window_size") == 0)
			return lua_pushinteger(L, tcp_window(pkt)), 1;
		break;
	}
	return 0;
}

static int
pkt_drop(lua_State *L)
{
	struct lproxy *p = check_valid(L, 1, LMT_PACKET);

	packet_drop(p->ptr);
	return 0;
}

static int
pkt_send(lua_State *L)
{
	check_valid(L, 1, LMT_PACKET);
	return 0; /* packets are sent when the rules return */
}

static int
pkt_verify_checksum(lua_State *L)
{
	struct lproxy *p = check_valid(L, 1, LMT_PACKET);
	struct packet *pkt = p->ptr;

	if (!(pkt->flags & PKT_F_IPV4))
		lua_pushboolean(L, 0); /* no valid header to check */
	else if (p->kind == LPROXY_PACKET_TCP)
		lua_pushboolean(L,
		                tcp_compute_checksum(pkt) == tcp_checksum(pkt));
	else
		lua_pushboolean(L, inet_fold(inet_sum(ipv4_hdr(pkt),
		                                      pkt->ip_hlen, 0)) == 0);
	return 1;
}

static int
pkt_index(lua_State *L)
{
	struct lproxy *p = check_valid(L, 1, LMT_PACKET);
	struct packet *pkt = p->ptr;
	const char *k = luaL_checkstring(L, 2);
	bool readable = (pkt->flags & PKT_F_IPV4) != 0;
	struct lvm *vm;

	if (!readable) {
		/*
		 * A packet raised with a malformed-IPv4 or link anomaly: its
		 * header cannot be read, so every field of it is nil (its
		 * methods and timestamp still work).
		 */
		if (strcmp(k, "timestamp") == 0 || strcmp(k, "name") == 0)
			return pkt_ipv4_field(L, pkt, k);
		goto method;
	}
	if (p->kind == LPROXY_PACKET_TCP && pkt_tcp_field(L, pkt, k))
		return 1;
	if (strcmp(k, "payload") == 0) {
		vm = lvm_from(L);
		if (p->kind == LPROXY_PACKET_TCP)
			lapi_push_data_pkt(vm, pkt, pkt->pl_off, pkt->pl_len);
		else
			lapi_push_data_pkt(vm, pkt, pkt->l4_off,
			                   pkt->l3_off + pkt->ip_len -
			                       pkt->l4_off);
		to_caller(L, vm);
		return 1;
	}
	if (p->kind == LPROXY_PACKET_TCP && strcmp(k, "ip") == 0) {
		vm = lvm_from(L);
		lapi_push_packet(vm, pkt, LPROXY_PACKET_IPV4);
		to_caller(L, vm);
		return 1;
	}
	if (pkt_ipv4_field(L, pkt, k))
		return 1;
method:
	lua_getmetatable(L, 1);
	if (lua_getfield(L, -1, k) == LUA_TFUNCTION && k[0] != '_')
		return 1;
	if (!readable) {
		lua_pushnil(L);
		return 1;
	}
	return luaL_error(L, "%s: unknown field '%s'",
	                  p->kind == LPROXY_PACKET_TCP ? "tcp" : "ipv4", k);
}

static int
pkt_newindex(lua_State *L)
{
	check_valid(L, 1, LMT_PACKET);
	return luaL_error(L, "read only buffer");
}

static int
pkt_tostring(lua_State *L)
{
	struct lproxy *p = luaL_checkudata(L, 1, LMT_PACKET);

	lua_pushfstring(L, "<%s packet %p>",
	                p->kind == LPROXY_PACKET_TCP ? "tcp" : "ipv4", p->ptr);
	return 1;
}

/* --- flows ----------------------------------------------------------- */

static struct flow *
check_flow(lua_State *L, int idx)
{
	return check_valid(L, idx, LMT_FLOW)->ptr;
}

static int
flow_drop(lua_State *L)
{
	struct flow *f = check_flow(L, 1);

	engine_flow_drop(lvm_from(L)->eng, f);
	return 0;
}

/*
 * flow:reset() forges a RST toward each end, then drops the connection;
 * flow:halfreset() a RST to the server only: the server frees the
 * connection, the client is told nothing (its later packets are
 * dropped), which keeps an abusive client waiting. The original
 * documented halfreset so and sent its one RST to the client instead.
 */
static int
reset_flow(lua_State *L, bool half)
{
	struct flow *f = check_flow(L, 1);

	if (engine_flow_reset(lvm_from(L)->eng, f, half) != HK_OK)
		return luaL_error(L,
		                  "cannot reset a non-established connection");
	return 0;
}

static int
flow_reset(lua_State *L)
{
	return reset_flow(L, false);
}

static int
flow_halfreset(lua_State *L)
{
	return reset_flow(L, true);
}

static int
flow_send(lua_State *L)
{
	check_flow(L, 1);
	return 0;
}

static int
flow_index(lua_State *L)
{
	struct flow *f = check_flow(L, 1);
	const char *k = luaL_checkstring(L, 2);
	char buf[16];

	if (strcmp(k, "srcip") == 0)
		lua_pushstring(L, ipv4_addr_str(f->cli_ip, buf));
	else if (strcmp(k, "dstip") == 0)
		lua_pushstring(L, ipv4_addr_str(f->srv_ip, buf));
	else if (strcmp(k, "srcport") == 0)
		lua_pushinteger(L, f->cli_port);
	else if (strcmp(k, "dstport") == 0)
		lua_pushinteger(L, f->srv_port);
	else if (strcmp(k, "state") == 0 && lvm_from(L)->in_app_event &&
	         lapi_smtp_field(L, f, "state"))
		return 1;
	else if (strcmp(k, "state") == 0)
		lua_pushstring(L, tcp_state_str(f->state));
	else if (strcmp(k, "name") == 0)
		lua_pushliteral(L, "tcp_connection");
	else if (strcmp(k, "id") == 0)
		lua_pushinteger(L, (lua_Integer)f->id);
	else if (lapi_smtp_field(L, f, k))
		return 1;
	else {
		if (lua_getuservalue(L, 1) == LUA_TTABLE &&
		    lua_getfield(L, -1, k) != LUA_TNIL)
			return 1;
		lua_getmetatable(L, 1);
		if (lua_getfield(L, -1, k) == LUA_TFUNCTION && k[0] != '_')
			return 1;
		return luaL_error(
		    L, "unknown field '%s' on dissector 'tcp_connection'", k);
	}
	return 1;
}

/* Fields set by the rules go to a uservalue table made on use. */
static int
flow_newindex(lua_State *L)
{
	struct flow *f = check_flow(L, 1);

	luaL_checkstring(L, 2);
	if (lua_getuservalue(L, 1) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setuservalue(L, 1);
		lua_pushvalue(L, -1);
		f->fields_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	lua_rawset(L, -3);
	return 0;
}

static int
flow_tostring(lua_State *L)
{
	struct lproxy *p = luaL_checkudata(L, 1, LMT_FLOW);
	struct flow *f = p->ptr;
	char a[16], b[16];

	if (f == NULL)
		lua_pushliteral(L, "<ended tcp_connection>");
	else
		lua_pushfstring(L, "<tcp_connection %s:%d -> %s:%d>",
		                ipv4_addr_str(f->cli_ip, a), f->cli_port,
		                ipv4_addr_str(f->srv_ip, b), f->srv_port);
	return 1;
}

/* --- data views ------------------------------------------------------ */

static struct lproxy *
check_data(lua_State *L, int idx)
{
	return check_valid(L, idx, LMT_DATA);
}

static void
push_data_string(lua_State *L, struct lproxy *p, uint64_t off, uint64_t len)
{
	luaL_Buffer b;
	char *dst;

	if (len > DATA_STRING_MAX)
		luaL_error(L, "data too large for a string (%llu bytes)",
		           (unsigned long long)len);
	if (p->kind == LPROXY_DATA_PKT) {
		struct packet *pkt = p->ptr;

		lua_pushlstring(L, (const char *)pkt->data + p->off + off,
		                (size_t)len);
		return;
	}
	dst = luaL_buffinitsize(L, &b, (size_t)len);
	stream_copy(&((struct flow *)p->ptr)->dir[p->dir], p->off + off,
	            (uint8_t *)dst, len);
	luaL_pushresultsize(&b, (size_t)len);
}

static int
data_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)check_data(L, 1)->len);
	return 1;
}

static int
data_asstring(lua_State *L)
{
	struct lproxy *p = check_data(L, 1);

	push_data_string(L, p, 0, p->len);
	return 1;
}

/* data:sub(offset[, size]): offset is 0-based, as the original. */
static int
data_sub(lua_State *L)
{
	struct lproxy *p = check_data(L, 1);
	lua_Integer off = luaL_optinteger(L, 2, 0);
	lua_Integer len = luaL_optinteger(L, 3, -1);
	struct lproxy *n;
	struct lvm *vm = lvm_from(L);

	if (off < 0 || (uint64_t)off > p->len)
		return luaL_error(L, "invalid offset %d", (int)off);
	if (len < 0 || (uint64_t)(off + len) > p->len)
		len = (lua_Integer)(p->len - (uint64_t)off);
	if (p->kind == LPROXY_DATA_PKT)
		n = lapi_push_data_pkt(vm, p->ptr, (uint32_t)(p->off + off),
		                       (uint32_t)len);
	else
		n = lapi_push_data_stream(
		    vm, p->ptr, p->dir, p->off + (uint64_t)off, (uint64_t)len);
	(void)n;
	to_caller(L, vm);
	return 1;
}

/* data[i]: byte at 1-based index i, as the original vbuffers. */
static int
data_index(lua_State *L)
{
	struct lproxy *p;
	lua_Integer i;
	uint8_t c;

	if (lua_type(L, 2) != LUA_TNUMBER) {
		lua_getmetatable(L, 1);
		lua_getfield(L, -1, luaL_checkstring(L, 2));
		return 1;
	}
	p = check_data(L, 1);
	i = luaL_checkinteger(L, 2);
	if (i < 1 || (uint64_t)i > p->len)
		return luaL_error(L, "index out of range");
	if (p->kind == LPROXY_DATA_PKT)
		c = ((struct packet *)p->ptr)->data[p->off + (uint64_t)i - 1];
	else
		stream_copy(&((struct flow *)p->ptr)->dir[p->dir],
		            p->off + (uint64_t)i - 1, &c, 1);
	lua_pushinteger(L, c);
	return 1;
}

static int
data_tostring(lua_State *L)
{
	struct lproxy *p = luaL_checkudata(L, 1, LMT_DATA);

	if (!proxy_valid(p)) {
		lua_pushliteral(L, "<expired data>");
		return 1;
	}
	push_data_string(L, p, 0, p->len);
	return 1;
}

/* --- stream iterators ------------------------------------------------ */

static int iter_need(lua_State *L);

static int
iter_need_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	(void)ctx;
	return iter_need(L);
}

/*
 * iter:_need(n): true once n bytes are available from the position,
 * false if the stream ends first. Blocks (yields) otherwise.
 */
static int
iter_need(lua_State *L)
{
	struct lproxy *p = luaL_checkudata(L, 1, LMT_ITER);
	lua_Integer n = luaL_optinteger(L, 2, 1);
	struct flow *f = p->ptr;
	struct stream *st;
	struct lvm *vm = lvm_from(L);

	if (f == NULL || (f->flags & FLOW_F_DROPPED)) {
		lua_pushboolean(L, 0);
		return 1;
	}
	st = &f->dir[p->dir];
	/* Bytes lost in a gap are skipped (the gap is an anomaly event). */
	p->off = stream_skip_gap(st, p->off);
	if (stream_contig_end(st, p->off) - p->off >= (uint64_t)n) {
		lua_pushboolean(L, 1);
		return 1;
	}
	if (vm->data_finished && vm->cur_flow == f) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (!lua_isyieldable(L))
		return luaL_error(L,
		                  "iterator can only wait in a streamed rule");
	return lua_yieldk(L, 0, 0, iter_need_k);
}

static int
iter_available(lua_State *L)
{
	struct lproxy *p = check_valid(L, 1, LMT_ITER);
	struct flow *f = p->ptr;
	struct stream *st = &f->dir[p->dir];

	lua_pushinteger(L,
	                (lua_Integer)(stream_contig_end(st, p->off) - p->off));
	return 1;
}

/* iter:_take(n): a data view of n available bytes; the position moves. */
static int
iter_take(lua_State *L)
{
	struct lproxy *p = check_valid(L, 1, LMT_ITER);
	struct flow *f = p->ptr;
	uint64_t avail = stream_contig_end(&f->dir[p->dir], p->off) - p->off;
	lua_Integer n = luaL_optinteger(L, 2, (lua_Integer)avail);

	if (n < 0 || (uint64_t)n > avail)
		n = (lua_Integer)avail;
	struct lvm *vm = lvm_from(L);

	lapi_push_data_stream(vm, f, p->dir, p->off, (uint64_t)n);
	to_caller(L, vm);
	p->off += (uint64_t)n;
	return 1;
}

static int
iter_tostring(lua_State *L)
{
	struct lproxy *p = luaL_checkudata(L, 1, LMT_ITER);

	lua_pushfstring(L, "<stream iterator at %d>", (int)p->off);
	return 1;
}

/*
 * The blocking parts of the iterator API, written over _need and _take
 * (they may yield from inside the rule's coroutine). The mail content
 * iterator (lapi_smtp.c) has the same primitives and takes these
 * methods. check_available(n [, nonblocking]) is the original's: it
 * waits (unless nonblocking) until n bytes are available or the stream
 * ends, does not move the position, and returns true, n or false and the
 * bytes available.
 */
static const char iter_prelude[] =
    "local M = ...\n"
    "function M:wait() return self:_need(1) end\n"
    "function M:check_available(n, nonblocking)\n"
    "  local size = math.tointeger(n)\n"
    "  if size == nil or size < 0 then\n"
    "    error(string.format(\"bad argument #1 to 'check_available' \" ..\n"
    "      '(a size >= 0 expected, got %s)', type(n) == 'number' and n or "
    "type(n)), 2)\n"
    "  end\n"
    "  local avail = self:available()\n"
    "  if avail >= size then return true, size end\n"
    "  if nonblocking then return false, avail end\n"
    "  if self:_need(size) then return true, size end\n"
    "  return false, self:available()\n"
    "end\n"
    "function M:advance(n)\n"
    "  if n == 'available' then self:_take(); return end\n"
    "  self:_need(n); self:_take(n)\n"
    "end\n"
    "function M:sub(n)\n"
    "  if n == nil or n == 'available' then\n"
    "    if not self:_need(1) then return nil end\n"
    "    return self:_take()\n"
    "  elseif n == 'all' then\n"
    "    while self:_need(self:available() + 1) do end\n"
    "    return self:_take()\n"
    "  end\n"
    "  self:_need(n)\n"
    "  return self:_take(n)\n"
    "end\n"
    "function M:foreach_available()\n"
    "  return function ()\n"
    "    if self:_need(1) then return self:_take() end\n"
    "  end\n"
    "end\n";

static void
new_class(lua_State *L, const char *name, const luaL_Reg *meta,
          const luaL_Reg *methods)
{
	luaL_newmetatable(L, name);
	luaL_setfuncs(L, meta, 0);
	if (methods != NULL)
		luaL_setfuncs(L, methods, 0);
	lua_pushliteral(L, "haka object");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
}

void
lapi_objects_init(lua_State *L)
{
	static const luaL_Reg pkt_meta[] = {{"__index", pkt_index},
	                                    {"__newindex", pkt_newindex},
	                                    {"__tostring", pkt_tostring},
	                                    {NULL, NULL}};
	static const luaL_Reg pkt_methods[] = {
	    {"drop", pkt_drop},
	    {"send", pkt_send},
	    {"verify_checksum", pkt_verify_checksum},
	    {NULL, NULL}};
	static const luaL_Reg flow_meta[] = {{"__index", flow_index},
	                                     {"__newindex", flow_newindex},
	                                     {"__tostring", flow_tostring},
	                                     {NULL, NULL}};
	static const luaL_Reg flow_methods[] = {{"drop", flow_drop},
	                                        {"reset", flow_reset},
	                                        {"halfreset", flow_halfreset},
	                                        {"send", flow_send},
	                                        {NULL, NULL}};
	static const luaL_Reg data_meta[] = {{"__index", data_index},
	                                     {"__len", data_len},
	                                     {"__tostring", data_tostring},
	                                     {"asstring", data_asstring},
	                                     {"sub", data_sub},
	                                     {NULL, NULL}};
	static const luaL_Reg iter_methods[] = {{"_need", iter_need},
	                                        {"_take", iter_take},
	                                        {"available", iter_available},
	                                        {"__tostring", iter_tostring},
	                                        {NULL, NULL}};

	new_class(L, LMT_PACKET, pkt_meta, pkt_methods);
	new_class(L, LMT_FLOW, flow_meta, flow_methods);
	new_class(L, LMT_DATA, data_meta, NULL);

	luaL_newmetatable(L, LMT_ITER);
	luaL_setfuncs(L, iter_methods, 0);
	lua_pushvalue(L, -1);
	lua_setfield(L, -2, "__index");
	lua_pushliteral(L, "haka object");
	lua_setfield(L, -2, "__metatable");
	if (luaL_loadbufferx(L, iter_prelude, sizeof(iter_prelude) - 1,
	                     "=iterator", "t") != LUA_OK)
		lua_error(L);
	lua_pushvalue(L, -2);
	lua_call(L, 1, 0);
	lua_pop(L, 1);
}
