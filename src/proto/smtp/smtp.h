/*
 * The SMTP dissector (RFC 5321 with PIPELINING, CHUNKING, AUTH and
 * STARTTLS), built on the grammar engine and the state machine engine.
 * The engine attaches an instance to a connection; the dissector reports
 * what it sees through struct smtp_hooks (the Lua binding raises them as
 * rule events).
 */
#ifndef HAKA_SMTP_H
#define HAKA_SMTP_H

#include <stdio.h>

#include <haka/anomaly.h>
#include <haka/dissector.h>
#include <haka/grammar.h>
#include <haka/smtp_limits.h>

enum smtp_verb {
	SMTP_V_UNKNOWN = 0,
	SMTP_V_HELO,
	SMTP_V_EHLO,
	SMTP_V_MAIL,
	SMTP_V_RCPT,
	SMTP_V_DATA,
	SMTP_V_BDAT,
	SMTP_V_RSET,
	SMTP_V_VRFY,
	SMTP_V_EXPN,
	SMTP_V_HELP,
	SMTP_V_NOOP,
	SMTP_V_QUIT,
	SMTP_V_STARTTLS,
	SMTP_V_AUTH,
	SMTP_V_ETRN,
	SMTP_V_TURN,
	SMTP_V_ATRN,
	SMTP_V_XCLIENT,
	SMTP_V_XFORWARD,
	/* pseudo-commands waiting for a reply */
	SMTP_V_GREETING,  /* the server's welcome */
	SMTP_V_DOT,       /* end of DATA */
	SMTP_V_AUTH_CONT, /* a line of an AUTH exchange */
	SMTP_V_COUNT
};

const char *smtp_verb_str(enum smtp_verb v);

/* What the dissector knows of the current mail transaction. */
#define SMTP_MAX_RCPT 64
#define SMTP_ADDR_MAX 256
struct smtp_txn {
	char helo[SMTP_ADDR_MAX];
	char mail_from[SMTP_ADDR_MAX];
	char (*rcpt)[SMTP_ADDR_MAX]; /* accepted recipients (grown on use) */
	uint32_t rcpt_cap;
	uint32_t nrcpt;       /* stored (accepted) recipients */
	uint32_t nrcpt_total; /* accepted recipients, including unstored */
	uint64_t data_bytes;  /* content bytes, dot-unstuffed */
	bool in_data;
	bool tls;
};

struct smtp_hooks {
	/* A command (res: record with command, parameter) was parsed. */
	void (*command)(void *arg, struct flow *f, const struct gresult *res);
	/* A reply (res: record with responses) was parsed. */
	void (*response)(void *arg, struct flow *f, const struct gresult *res);
	/* Whether content pieces are wanted (rules on mail_content). */
	bool (*want_content)(void *arg);
	/* A piece of mail content, dot-unstuffed; last ends the mail. */
	void (*content)(void *arg, struct flow *f, const uint8_t *p, size_t len,
	                bool last);
	void (*anomaly)(void *arg, struct flow *f, enum anomaly a);
	void (*starttls)(void *arg, struct flow *f);
	/* The dissector failed on traffic that is not SMTP: drop it. */
	void (*drop)(void *arg, struct flow *f);
	void *arg;
};

/*
 * Set the limits smtp_init builds with (by default SMTP_LIMITS_DEFAULT).
 * Before smtp_init only: the grammar is built with them.
 */
void smtp_set_limits(const struct smtp_limits *lim);
const struct smtp_limits *smtp_get_limits(void);

/*
 * Bytes the calling thread's SMTP sessions hold now: the count that
 * limits.memcap bounds (state, queues, buffers, state machine, parsers).
 */
uint64_t smtp_memory(void);

/*
 * Build the grammar and the state machine, once; called again once built,
 * it does nothing. It writes globals without a lock: the daemon calls it
 * in main, before any worker starts; hakapcap, single-threaded, when a
 * rule file first uses the SMTP module (so that rule files without SMTP
 * do not pay for it).
 */
int smtp_init(char *err, size_t errlen);
void smtp_cleanup(void);

/*
 * The keys of the result fields (grammar_key), for gresult_field: set by
 * smtp_init, read-only after it. Each is also the field's name.
 */
struct smtp_keys {
	const char *command, *parameter, *responses, *code, *sep, *line;
};
extern struct smtp_keys smtp_keys;

/* The dissector's operations, for engine_flow_attach. */
extern const struct app_dissector smtp_dissector;

/*
 * A new instance for a connection. NULL when the thread's sessions hold
 * limits.memcap bytes or more, or on memory exhaustion.
 */
void *smtp_new(struct flow *f, const struct smtp_hooks *hooks,
               const struct hk_time *now);

/* The instance's transaction and state (for the rules). */
const struct smtp_txn *smtp_txn(const void *inst);
const char *smtp_state(const void *inst);

/* Change where an instance reports (rule reload). */
void smtp_set_hooks_arg(void *inst, void *arg);

/* The instance attached to a flow, or NULL. */
void *smtp_of_flow(const struct flow *f);

/* Write <name>-grammar.dot and <name>-state-machine.dot in dir. */
int smtp_dump_graphs(const char *dir, char *err, size_t errlen);

#endif
