/*
 * TCP connections: the table keyed on the 4-tuple (looked up in both
 * orientations), per-connection state and the two stream directions.
 * Direction 0 ("up") is from the client (the SYN sender, or the guessed
 * client of a connection picked up mid-stream) to the server.
 */
#ifndef HAKA_FLOW_H
#define HAKA_FLOW_H

#include <haka/stream.h>

enum flow_dir {
	FLOW_UP = 0,
	FLOW_DOWN = 1,
};

/* TCP states, named as the original's tcp_connection state machine. */
enum tcp_state {
	TCP_ST_SYN = 0,
	TCP_ST_SYN_SENT,
	TCP_ST_SYN_RECEIVED,
	TCP_ST_ESTABLISHED,
	TCP_ST_FIN_WAIT_1,
	TCP_ST_FIN_WAIT_2,
	TCP_ST_CLOSING,
	TCP_ST_TIMED_WAIT,
	TCP_ST_RESET,
	TCP_ST_CLOSED,
};

const char *tcp_state_str(enum tcp_state st);

enum flow_flags {
	FLOW_F_DROPPED = 1 << 0,   /* every later packet is dropped */
	FLOW_F_MIDSTREAM = 1 << 1, /* picked up without a handshake */
	FLOW_F_ENDED = 1 << 2,     /* end_connection fired */
	FLOW_F_NEW_FIRED = 1 << 3, /* new_connection fired */
	FLOW_F_RESET = 1 << 4,     /* reset() requested */
	FLOW_F_DROP_DONE = 1 << 5, /* the drop has been applied */
	FLOW_F_UNTRACKED = 1 << 6, /* forward without inspection */
	FLOW_F_HALFRESET = 1 << 7, /* halfreset(): RST to the server only */
};

#define FLOW_LHDR_MAX 32

struct flow {
	struct flow *hnext;         /* hash chain */
	struct flow *lprev, *lnext; /* timeout list */
	uint64_t id;
	uint32_t hash;
	uint32_t cli_ip, srv_ip; /* host byte order */
	uint16_t cli_port, srv_port;
	uint8_t state;  /* enum tcp_state */
	uint8_t list;   /* which timeout list */
	uint16_t flags; /* enum flow_flags */
	struct hk_time first_ts, last_ts;
	uint32_t isn[2]; /* initial sequence numbers */
	uint64_t pkts[2], bytes[2];
	struct stream dir[2];
	uint64_t rd_off[2]; /* delivered to receive_data rules */
	uint32_t linktype;
	uint8_t lhdr_len[2];
	uint8_t lhdr[2][FLOW_LHDR_MAX]; /* link header seen per direction */
	int lua_ref;    /* registry ref of the Lua proxy, until the end */
	int fields_ref; /* registry ref of the fields rules set (Lua) */
	const struct app_dissector *app_ops; /* application dissector */
	void *app;                           /* its per-connection instance */
};

struct app_dissector;
struct flow_table;

/* max_flows: table limit (new connections beyond are refused). */
struct flow_table *flow_table_new(uint32_t max_flows);
void flow_table_free(struct flow_table *t);

/*
 * The table's hash of a 4-tuple, the same in both orientations. Seeded
 * with a secret drawn when the table is made: two tables disagree.
 */
uint32_t flow_table_hash(const struct flow_table *t, uint32_t a, uint32_t b,
                         uint16_t pa, uint16_t pb);

/*
 * Find the connection of a segment src:sport -> dst:dport in either
 * orientation; *dir tells the segment's direction. NULL if none.
 */
struct flow *flow_lookup(struct flow_table *t, uint32_t src, uint32_t dst,
                         uint16_t sport, uint16_t dport, enum flow_dir *dir);

/*
 * Create a connection with cli -> srv as direction "up". NULL when the
 * table is full or memory is exhausted.
 */
struct flow *flow_create(struct flow_table *t, uint32_t cli, uint32_t srv,
                         uint16_t cport, uint16_t sport,
                         const struct hk_time *now);

/* Unlink and free (streams must have been released). */
void flow_destroy(struct flow_table *t, struct flow *f);

/*
 * Timeout lists: a connection sits in the list of its timeout class and
 * is moved to the tail on every packet, so each list is ordered by
 * deadline.
 */
enum flow_list {
	FLOW_LIST_ACTIVE = 0, /* established: idle timeout */
	FLOW_LIST_CLOSING,    /* timed_wait, reset: short timeout */
	FLOW_LIST_OPENING,    /* handshake not completed */
	FLOW_LIST_COUNT
};
void flow_touch(struct flow_table *t, struct flow *f, enum flow_list list,
                const struct hk_time *now);

/*
 * The oldest connection of a list whose last activity is at or before
 * 'before', or NULL.
 */
struct flow *flow_expired(struct flow_table *t, enum flow_list list,
                          const struct hk_time *before);

/* Any connection (to empty the table at exit), or NULL. */
struct flow *flow_any(struct flow_table *t);

uint32_t flow_count(const struct flow_table *t);

/* Call fn on every connection (fn must not destroy any). */
void flow_foreach(struct flow_table *t, void (*fn)(struct flow *f, void *arg),
                  void *arg);
uint64_t flow_created(const struct flow_table *t);

#endif
