/*
 * The engine: one worker's packet path (CONVENTIONS.md section 1, "Data
 * flow, one packet"): link -> IPv4 (defragmentation) -> TCP -> connection
 * -> stream -> events into the rules -> verdicts.
 */
#ifndef HAKA_ENGINE_H
#define HAKA_ENGINE_H

#include <haka/flow.h>
#include <haka/ipv4.h>
#include <haka/lvm.h>
#include <haka/stream.h>

enum midstream_policy {
	MIDSTREAM_ACCEPT = 0, /* pick the connection up (default) */
	MIDSTREAM_PASS,       /* forward without tracking */
	MIDSTREAM_DROP,       /* drop the packet */
};

struct engine_conf {
	bool pass_through;         /* verdicts and injections not applied */
	bool ipv4_verify_checksum; /* default true: counted */
	bool tcp_verify_checksum;  /* default true: counted */
	bool drop_bad_checksum;    /* default false */
	enum midstream_policy midstream;
	enum rule_error_policy rule_error;
	uint32_t tcp_timeout_est;     /* idle established, seconds */
	uint32_t tcp_timeout_closing; /* timed_wait / reset, seconds */
	uint32_t tcp_timeout_syn;     /* opening, seconds */
	uint32_t max_flows;
	struct stream_limits stream;
	struct defrag_conf defrag;
};

/* Defaults of every setting (documented in docs/). */
void engine_conf_defaults(struct engine_conf *conf);

struct engine_stats {
	uint64_t packets, bytes;
	uint64_t ipv4, non_ipv4, ipv6, fragments, reassembled;
	uint64_t tcp, non_tcp, tcp_untracked;
	uint64_t accepted, dropped, forged;
	uint64_t flows, flows_dropped, flows_reset, midstream;
	uint64_t rule_errors;
	uint64_t would_drop; /* drops decided in pass-through mode */
};

struct engine_output {
	/* A packet's final verdict (accept = true: forward it). */
	void (*verdict)(void *arg, struct packet *pkt, bool accept);
	/* A forged packet to send (the RSTs of flow:reset()). */
	void (*inject)(void *arg, struct packet *pkt);
	void *arg;
};

struct engine;

struct engine *engine_new(const struct engine_conf *conf,
                          const struct engine_output *out);
void engine_set_lvm(struct engine *e, struct lvm *vm);
void engine_free(struct engine *e);

/*
 * Process one packet (the engine takes over the caller's reference). The
 * packet's time also drives the timers when replaying captures.
 */
void engine_process(struct engine *e, struct packet *pkt);

/* Advance the clock (live capture): expire connections and fragments. */
void engine_tick(struct engine *e, const struct hk_time *now);

/* End of input: close every connection (end events fire). */
void engine_finish(struct engine *e);

/*
 * Shutdown of an inline worker: with drop (fail-closed), every packet
 * still held is dropped; otherwise the connections end as engine_finish.
 */
void engine_shutdown(struct engine *e, bool drop);

/*
 * Replace the rules (reload) without cutting connections: every
 * connection leaves the old VM (its Lua objects and streamed rules end)
 * and its application dissector reports to the new one. The caller frees
 * the old VM afterwards.
 */
void engine_replace_lvm(struct engine *e, struct lvm *vm);

const struct engine_stats *engine_stats(const struct engine *e);
uint32_t engine_flow_count(const struct engine *e);

/* --- used by the Lua bindings ---------------------------------------- */

/*
 * A rule failed outside the engine's own calls (an application
 * dissector's event, haka.events.started/exiting): counted in
 * rule_errors, and under rule_error drop the packet in progress, if any,
 * is dropped.
 */
void engine_rule_failed(struct engine *e);
/* Request a drop of the flow (applied when the rules return). */
void engine_flow_drop(struct engine *e, struct flow *f);
/*
 * Request a reset: a RST toward each end (toward the server only when
 * half is true), then drop. HK_ERR if refused (not established yet).
 */
int engine_flow_reset(struct engine *e, struct flow *f, bool half);
bool engine_pass_through(const struct engine *e);
/* Current time (capture time when replaying). */
const struct hk_time *engine_now(const struct engine *e);

#endif
