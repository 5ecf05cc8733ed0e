/*
 * ipv4.addr and ipv4.network of the rule API (HAKA.md section b, "tcp /
 * tcp_connection / ipv4 objects"), in the module protocol/ipv4.
 *
 * An address is its canonical dotted string, the type of pkt.src and
 * flow.srcip: ipv4.addr('192.168.10.10') == pkt.src compares addresses,
 * as the original's address objects did, and an address works as a table
 * key. A network is a read-only userdata with net, mask, contains() and
 * tostring 'a.b.c.d/len'.
 */
#include <string.h>

#include <haka/ipv4.h>
#include <haka/log.h>

#include "lua/lvm_priv.h"

#define LMT_NETWORK "haka.ipv4network"

struct ipv4_network {
	uint32_t net; /* host order, host bits zero */
	uint8_t len;  /* prefix length, 0..32 */
};

static uint32_t
prefix_mask(unsigned len)
{
	return len == 0 ? 0 : 0xffffffffu << (32 - len);
}

static void
push_addr(lua_State *L, uint32_t a)
{
	char buf[16];

	lua_pushstring(L, ipv4_addr_str(a, buf));
}

/*
 * A strict dotted quad (ipv4_addr_parse); len is the string's length, so
 * that a NUL inside it is refused.
 */
static bool
parse_dotted(const char *s, size_t len, uint32_t *out)
{
	return strlen(s) == len && ipv4_addr_parse(s, out) == HK_OK;
}

/*
 * The number at idx if it has an integer value from lo to hi (a float
 * such as 2^32 - 1 or 16/2 counts). Strings are not numbers here.
 */
static bool
int_arg(lua_State *L, int idx, lua_Integer lo, lua_Integer hi, lua_Integer *out)
{
	int ok = 0;
	lua_Integer n;

	if (lua_type(L, idx) != LUA_TNUMBER)
		return false;
	n = lua_tointegerx(L, idx, &ok);
	if (!ok || n < lo || n > hi)
		return false;
	*out = n;
	return true;
}

/*
 * The address at idx: a dotted string or a number from 0 to 2^32 - 1 (in
 * host order, as the original's ipv4.addr(n)). Raises an error naming fn.
 */
static uint32_t
check_addr(lua_State *L, int idx, const char *fn)
{
	lua_Integer n;
	uint32_t a;
	size_t len;
	const char *s;

	if (lua_type(L, idx) == LUA_TNUMBER) {
		if (!int_arg(L, idx, 0, 0xffffffff, &n))
			luaL_error(L,
			           "%s: an address number must be an integer "
			           "from 0 to 4294967295",
			           fn);
		return (uint32_t)n;
	}
	if (lua_type(L, idx) != LUA_TSTRING)
		luaL_error(L, "%s: expected an IPv4 address, got %s", fn,
		           luaL_typename(L, idx));
	s = lua_tolstring(L, idx, &len);
	if (!parse_dotted(s, len, &a))
		luaL_error(L, "%s: invalid IPv4 address %s", fn,
		           lapi_push_got(L, idx));
	return a;
}

/* ipv4.addr('a.b.c.d'), ipv4.addr(n) or ipv4.addr(a, b, c, d) */
static int
l_addr(lua_State *L)
{
	uint32_t a = 0;
	int i;

	if (lua_gettop(L) == 4) {
		for (i = 1; i <= 4; i++) {
			lua_Integer b;

			if (!int_arg(L, i, 0, 255, &b))
				return luaL_error(
				    L,
				    "ipv4.addr: byte %d is not an "
				    "integer from 0 to 255",
				    i);
			a = a << 8 | (uint32_t)b;
		}
	} else if (lua_gettop(L) == 1) {
		a = check_addr(L, 1, "ipv4.addr");
	} else {
		return luaL_error(L, "ipv4.addr: expected 'a.b.c.d', a number "
		                     "or four bytes");
	}
	push_addr(L, a);
	return 1;
}

static void
push_network(lua_State *L, uint32_t addr, unsigned len)
{
	struct ipv4_network *n = lua_newuserdata(L, sizeof(*n));
	uint32_t net = addr & prefix_mask(len);

	if (net != addr) {
		char a[16], m[16];

		hk_log(LOG_WARNING, "ipv4",
		       "ipv4.network: %s/%u has host bits set, using %s/%u",
		       ipv4_addr_str(addr, a), len, ipv4_addr_str(net, m), len);
	}
	n->net = net;
	n->len = (uint8_t)len;
	luaL_setmetatable(L, LMT_NETWORK);
}

/* The prefix length of a network: 0 to 32, in decimal, no zero pad. */
static bool
parse_len(const char *s, unsigned *len)
{
	if (s[0] >= '0' && s[0] <= '9' && s[1] == '\0') {
		*len = (unsigned)(s[0] - '0');
		return true;
	}
	if (s[0] >= '1' && s[0] <= '3' && s[1] >= '0' && s[1] <= '9' &&
	    s[2] == '\0' && (s[0] - '0') * 10 + (s[1] - '0') <= 32) {
		*len = (unsigned)((s[0] - '0') * 10 + (s[1] - '0'));
		return true;
	}
	return false;
}

/* ipv4.network('a.b.c.d/len') or ipv4.network(addr, len) */
static int
l_network(lua_State *L)
{
	uint32_t addr;
	unsigned len;

	if (lua_gettop(L) == 2) {
		lua_Integer l;

		addr = check_addr(L, 1, "ipv4.network");
		if (!int_arg(L, 2, 0, 32, &l))
			return luaL_error(L, "ipv4.network: the prefix length "
			                     "is not an integer from 0 to 32");
		len = (unsigned)l;
	} else if (lua_gettop(L) == 1 && lua_type(L, 1) == LUA_TSTRING) {
		size_t n;
		const char *s = lua_tolstring(L, 1, &n),
		           *slash = strchr(s, '/');
		char buf[16]; /* "255.255.255.255" */
		size_t alen = slash != NULL ? (size_t)(slash - s) : 0;
		bool ok = false;

		if (slash != NULL && alen < sizeof(buf) && strlen(s) == n) {
			memcpy(buf, s, alen);
			buf[alen] = '\0';
			ok = parse_dotted(buf, alen, &addr) &&
			     parse_len(slash + 1, &len);
		}
		if (!ok)
			return luaL_error(L,
			                  "ipv4.network: invalid network %s "
			                  "(expected 'a.b.c.d/len')",
			                  lapi_push_got(L, 1));
	} else {
		return luaL_error(L, "ipv4.network: expected 'a.b.c.d/len' or "
		                     "an address and a prefix length");
	}
	push_network(L, addr, len);
	return 1;
}

static struct ipv4_network *
check_network(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, LMT_NETWORK);
}

/* net:contains(addr): addr a dotted string or a number */
static int
net_contains(lua_State *L)
{
	const struct ipv4_network *n = check_network(L, 1);
	uint32_t a = check_addr(L, 2, "ipv4.network:contains");

	lua_pushboolean(L, (a & prefix_mask(n->len)) == n->net);
	return 1;
}

static int
net_index(lua_State *L)
{
	const struct ipv4_network *n = check_network(L, 1);
	const char *k = luaL_checkstring(L, 2);

	if (strcmp(k, "net") == 0)
		push_addr(L, n->net);
	else if (strcmp(k, "mask") == 0)
		lua_pushinteger(L, n->len);
	else if (strcmp(k, "contains") == 0)
		lua_pushcfunction(L, net_contains);
	else
		return luaL_error(L, "ipv4.network: unknown field '%s'", k);
	return 1;
}

static int
net_newindex(lua_State *L)
{
	return luaL_error(L, "ipv4.network: field '%s' is read only",
	                  luaL_checkstring(L, 2));
}

static int
net_tostring(lua_State *L)
{
	const struct ipv4_network *n = check_network(L, 1);

	push_addr(L, n->net);
	lua_pushfstring(L, "/%d", (int)n->len);
	lua_concat(L, 2);
	return 1;
}

/* == with another userdata (a flow, a packet) is false, not an error */
static int
net_eq(lua_State *L)
{
	const struct ipv4_network *a = luaL_testudata(L, 1, LMT_NETWORK);
	const struct ipv4_network *b = luaL_testudata(L, 2, LMT_NETWORK);

	lua_pushboolean(L, a != NULL && b != NULL && a->net == b->net &&
	                       a->len == b->len);
	return 1;
}

void
lapi_ipv4_init(lua_State *L, int idx)
{
	static const luaL_Reg mt[] = {{"__index", net_index},
	                              {"__newindex", net_newindex},
	                              {"__tostring", net_tostring},
	                              {"__eq", net_eq},
	                              {NULL, NULL}};

	idx = lua_absindex(L, idx);
	luaL_newmetatable(L, LMT_NETWORK);
	luaL_setfuncs(L, mt, 0);
	/*
	 * Rules see its name, not the metatable: a file that changed its
	 * __index would change every file's networks (and policies).
	 */
	lua_pushliteral(L, LMT_NETWORK);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
	lua_pushcfunction(L, l_addr);
	lua_setfield(L, idx, "addr");
	lua_pushcfunction(L, l_network);
	lua_setfield(L, idx, "network");
}
