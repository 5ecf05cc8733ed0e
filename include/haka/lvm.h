/*
 * The sandboxed Lua 5.3 VM that runs the rules (CONVENTIONS.md section 9)
 * and the events the engine raises into it. One VM per worker thread.
 *
 * The engine asks lvm_has_rules() before building anything for an event,
 * so an event nobody listens to costs one array read. Rules only set
 * flags (packet verdict, flow drop/reset requests, alerts); the engine
 * acts on them once the rules have returned.
 */
#ifndef HAKA_LVM_H
#define HAKA_LVM_H

#include <haka/anomaly.h>
#include <haka/flow.h>
#include <haka/packet.h>

enum hk_event {
	EV_STARTED = 0,         /* haka.events.started () */
	EV_EXITING,             /* haka.events.exiting () */
	EV_IPV4_RECEIVE_PACKET, /* ipv4:receive_packet (pkt) */
	EV_TCP_RECEIVE_PACKET,  /* tcp:receive_packet (pkt) */
	EV_TCPC_NEW_CONNECTION, /* tcp_connection:new_connection (flow, pkt) */
	EV_TCPC_RECEIVE_PACKET, /* tcp_connection:receive_packet (flow, pkt,
	                           dir) */
	EV_TCPC_RECEIVE_DATA,   /* tcp_connection:receive_data (flow, data, dir)
	                         */
	EV_TCPC_END_CONNECTION, /* tcp_connection:end_connection (flow) */
	EV_IPV4_ANOMALY,        /* ipv4:anomaly (pkt, name) */
	EV_TCPC_ANOMALY,        /* tcp_connection:anomaly (flow, name, pkt) */
	EV_SMTP_COMMAND,        /* smtp:command (flow, cmd) */
	EV_SMTP_RESPONSE,       /* smtp:response (flow, res) */
	EV_SMTP_MAIL_CONTENT,   /* smtp:mail_content (flow, iter), streamed */
	EV_SMTP_ANOMALY,        /* smtp:anomaly (flow, name) */
	EV_SMTP_STARTTLS,       /* smtp:starttls (flow) */
	EV_COUNT
};

const char *hk_event_name(enum hk_event ev);

/* What to do when a rule raises an error. */
enum rule_error_policy {
	RULE_ERROR_DROP = 0, /* the original's: drop the packet */
	RULE_ERROR_ACCEPT,   /* log and go on */
};

struct lvm_conf {
	size_t mem_limit;     /* bytes; 0 = unlimited */
	uint64_t instr_limit; /* VM instructions per event; 0 = none */
	bool allow_io;        /* expose io and os (documented option) */
	bool allow_debug;     /* expose the whole debug library */
	const char *lua_dir;  /* the project's lua/ modules */
	int thread;           /* haka.current_thread(): the worker's index */
};

struct lvm;
struct engine;

struct lvm *lvm_new(const struct lvm_conf *conf, struct engine *eng);
void lvm_free(struct lvm *vm);

/*
 * Load and run a rule file. On error logs "error lua: FILE:LINE: msg"
 * (with the traceback) and returns HK_ERR.
 */
int lvm_load_rules(struct lvm *vm, const char *path);

/* Log the registration summary ("N rule(s) on event 'x'"). */
void lvm_rule_summary(struct lvm *vm);

/* Number of rules listening on an event. */
uint32_t lvm_rule_count(const struct lvm *vm, enum hk_event ev);

/*
 * The first member of struct lvm: the rule counts, read inline on the
 * per-packet path.
 */
struct lvm_counts {
	uint32_t nrules[EV_COUNT];
};

static inline bool
lvm_has_rules(const struct lvm *vm, enum hk_event ev)
{
	return vm != NULL && ((const struct lvm_counts *)vm)->nrules[ev] > 0;
}

/*
 * Raise an event. Each returns HK_OK, or HK_ERR when a rule failed (the
 * error has been logged; the caller applies the rule error policy).
 * 'pkt' may be NULL where the event has no packet.
 */
int lvm_event_simple(struct lvm *vm, enum hk_event ev);
int lvm_event_packet(struct lvm *vm, enum hk_event ev, struct packet *pkt);
int lvm_event_flow(struct lvm *vm, enum hk_event ev, struct flow *f,
                   struct packet *pkt, int dir);
int lvm_event_anomaly(struct lvm *vm, enum hk_event ev, struct flow *f,
                      struct packet *pkt, enum anomaly a);

/*
 * receive_data: data are available in direction dir of f, from
 * stream.consumed to 'end' (no gap in between). Non-streamed rules get the
 * whole range;
 * streamed rules (options = {streamed = true}) are resumed. On return
 * *keep is the lowest offset a streamed rule still needs (stream.next
 * when none): the caller consumes up to it. 'finished' tells the
 * streamed rules that no more data will come in this direction.
 */
int lvm_event_data(struct lvm *vm, struct flow *f, int dir, uint64_t end,
                   bool finished, uint64_t *keep);

/*
 * A new connection was announced to the rules: attach the application
 * dissector its server port was given to (smtp.install_tcp_rule,
 * haka.policy).
 */
void lvm_flow_opened(struct lvm *vm, struct flow *f);

/*
 * A connection moves to this VM (rule reload): its application dissector
 * reports to it from now on.
 */
void lvm_flow_adopt(struct lvm *vm, struct flow *f);

/*
 * The connection has ended (after end_connection, FLOW_F_ENDED set) but
 * stays in the table for its timed wait: the VM stops holding its Lua
 * proxy, which lives on only while a rule refers to it.
 */
void lvm_flow_ended(struct lvm *vm, struct flow *f);

/* The flow is going away: invalidate its Lua proxy and coroutines. */
void lvm_flow_free(struct lvm *vm, struct flow *f);

/* Memory used by the VM (bytes). */
size_t lvm_memory(const struct lvm *vm);

#endif
