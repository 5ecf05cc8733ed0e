/*
 * Private interface between the Lua binding files: the VM structure, the
 * proxies (packet, flow, data, iterator) and the helpers that create and
 * invalidate them.
 */
#ifndef HAKA_LVM_PRIV_H
#define HAKA_LVM_PRIV_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <haka/engine.h>
#include <haka/lvm.h>

/* Small blocks of the Lua heap: free lists per 16-byte class (lvm.c). */
#define LVM_SMALL_STEP  16
#define LVM_SMALL_MAX   256
#define LVM_SMALL_CLASS (LVM_SMALL_MAX / LVM_SMALL_STEP)

struct lvm_slab;

struct lvm {
	uint32_t nrules[EV_COUNT]; /* first: see struct lvm_counts */
	lua_State *L;
	struct engine *eng;
	struct lvm_conf conf;
	size_t mem_used, mem_peak;
	void *small_free[LVM_SMALL_CLASS]; /* freed blocks, by class */
	struct lvm_slab *slabs;            /* where small blocks are cut */
	size_t slab_used;                  /* bytes cut from slabs->data */
	uint64_t instr_used;               /* during the current call */
	bool over_budget;
	/*
	 * Rule code running (protected calls and resumes nest): the memory
	 * limit is enforced then only, so that what the engine builds
	 * outside them (an event's arguments) never raises unprotected.
	 */
	unsigned rule_depth;
	/* registry: eval functions of an event's rules, in rule order */
	int plain_ref[EV_COUNT];    /* rules called once per event */
	int streamed_ref[EV_COUNT]; /* rules run as coroutines */
	int events_ref;       /* registry: event objects by id, ids by object */
	int coros_ref;        /* registry: streamed coroutines per flow */
	int flows_ref;        /* registry: flow proxies by flow, weak values */
	int env_mt_ref;       /* registry: metatable of rule envs */
	const char *rule_dir; /* directory of the rule file */
	char *rule_dir_buf;
	/* Proxies lent to rules during one dispatch, invalidated after. */
	uint64_t gen;       /* borrowed proxies of an older value are invalid */
	bool data_finished; /* receive_data: no more data will come */
	struct flow *cur_flow;  /* flow of the event being dispatched */
	struct packet *cur_pkt; /* its packet, for lvm_dispatch's events */
	bool stopped;           /* haka.abort() (see event_stopped) */
	bool in_app_event;      /* flow.state is the dissector's state */
	uint8_t ports[8192];    /* TCP ports given to the SMTP dissector */
	int mailiter_ref;       /* registry: the mail content iterator class */
	int result_mt_ref;      /* registry: metatable of "class Result" */
	int array_mt_ref;       /* registry: metatable of "class ArrayResult" */
	int result_key_ref[5];  /* registry: result field names (lapi_smtp) */
};

/* The VM of a Lua state (stored in the registry). */
struct lvm *lvm_from(lua_State *L);

/* Proxy kinds. */
enum lproxy_kind {
	LPROXY_PACKET_IPV4 = 1,
	LPROXY_PACKET_TCP,
	LPROXY_FLOW,
	LPROXY_DATA_PKT,    /* bytes of a packet */
	LPROXY_DATA_STREAM, /* bytes of a stream direction */
	LPROXY_ITER,
};

struct lproxy {
	int kind;
	void *ptr;    /* packet or flow; NULL once invalid */
	int dir;      /* stream direction */
	uint64_t off; /* data: absolute offset; iter: position */
	uint64_t len; /* data length */
	/* borrowed: valid while *genp == gen (genp NULL: not borrowed) */
	const uint64_t *genp;
	uint64_t gen;
};

#define LMT_PACKET "haka.packet"
#define LMT_FLOW   "haka.flow"
#define LMT_DATA   "haka.data"
#define LMT_ITER   "haka.iter"
#define LMT_EVENT  "haka.event"
#define LMT_ALERT  "haka.alertid"

/* lapi_objects.c */
void lapi_objects_init(lua_State *L);
/* Push a borrowed proxy (invalid after the current dispatch). */
struct lproxy *lapi_push_packet(struct lvm *vm, struct packet *pkt, int kind);
struct lproxy *lapi_push_data_pkt(struct lvm *vm, struct packet *pkt,
                                  uint32_t off, uint32_t len);
struct lproxy *lapi_push_data_stream(struct lvm *vm, struct flow *f, int dir,
                                     uint64_t off, uint64_t len);
/* Push the flow's proxy (one per flow, lives as long as the flow). */
void lapi_push_flow(struct lvm *vm, struct flow *f);
/* Push a new iterator over direction dir of f, from 'pos'. */
struct lproxy *lapi_push_iter(struct lvm *vm, struct flow *f, int dir,
                              uint64_t pos);
void lapi_invalidate_borrowed(struct lvm *vm);
const char *lapi_dir_name(int dir);

/* lapi_ipv4.c: ipv4.addr and ipv4.network, set in the table at idx. */
void lapi_ipv4_init(lua_State *L, int idx);

/* lapi_haka.c */
void lapi_haka_init(lua_State *L, struct lvm *vm);
/*
 * Push, and return, how the wrong value at idx is shown in an error: a
 * string quoted, escaped as haka.log escapes and cut at 64 bytes; any
 * other value by its type name.
 */
const char *lapi_push_got(lua_State *L, int idx);
/*
 * The first key of the table at idx not among keys (NULL-ended), "?" for
 * a key that is not a string; NULL when every key is one of them.
 */
const char *lapi_unknown_key(lua_State *L, int idx, const char *const *keys);
/* Push the event object of id ev. */
void lapi_push_event(lua_State *L, struct lvm *vm, enum hk_event ev);
/*
 * Push a new events table of owner (a dissector's name, for errors):
 * names[i] = the event object of evs[i]; reading any other name is an
 * error.
 */
void lapi_push_events(lua_State *L, struct lvm *vm, const char *owner,
                      const char *const *names, const enum hk_event *evs,
                      int n);
/*
 * Make reading a name that the table on top of the stack does not have an
 * error: "unknown KIND 'name' of OWNER (its KINDS: ...)".
 */
void lapi_set_strict(lua_State *L, const char *kind, const char *kinds,
                     const char *owner);
/*
 * haka.policy and haka.rule_group from lua/haka/; after lapi_smtp_init.
 */
void lapi_modules_init(lua_State *L);

/* lvm.c: protected call with traceback, hook and stack check. */
int lvm_pcall(struct lvm *vm, int nargs, const char *what);

/*
 * Call the non-streamed rules of ev in order with the arguments pushed by
 * push; stops when a rule aborts or drops the packet or the flow.
 */
typedef void (*push_args_fn)(struct lvm *vm, void *arg);
int lvm_dispatch(struct lvm *vm, enum hk_event ev, push_args_fn push, void *arg,
                 int nargs, struct packet *pkt, struct flow *f);
/* The event being dispatched was stopped: abort, dropped packet or flow. */
bool lvm_event_stopped(const struct lvm *vm);

/*
 * One round of the streamed rules of an event for a flow. Each streamed
 * rule has a coroutine, kept per flow under key_base + its index among
 * the event's streamed rules as a
 * record {co, it, done}. When create allows it, a missing record is made:
 * push_iter pushes the iterator and the coroutine starts as
 * eval(flow, it[, extra pushed by push_extra]). feed (may be NULL) sees
 * the record on top before each resume, after (may be NULL) after it when
 * the rule still runs. A rule that returned is not called again until
 * its record is forgotten (forget: at the end of this round). HK_ERR when
 * a rule failed.
 */
struct lvm_streamed_ops {
	enum hk_event ev;
	int key_base;
	bool create;
	bool forget;
	void (*push_iter)(struct lvm *vm, void *arg);
	void (*push_extra)(lua_State *co, void *arg);
	void (*feed)(struct lvm *vm, void *arg);
	void (*after)(struct lvm *vm, void *arg);
	void *arg;
};
int lvm_streamed(struct lvm *vm, struct flow *f,
                 const struct lvm_streamed_ops *ops);

/* lapi_smtp.c */
void lapi_smtp_init(lua_State *L, struct lvm *vm);
/* flow.<key> for SMTP connections; 0 if not an SMTP field. */
int lapi_smtp_field(lua_State *L, struct flow *f, const char *key);

#endif
