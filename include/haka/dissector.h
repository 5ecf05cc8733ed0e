/*
 * Application dissectors attached to a TCP connection (the original's
 * "flow dissectors", e.g. smtp). The engine hands them the reassembled
 * bytes of each direction and consumes only what they no longer need, so
 * the packets carrying bytes a dissector is still parsing stay held.
 */
#ifndef HAKA_DISSECTOR_H
#define HAKA_DISSECTOR_H

#include <haka/flow.h>

struct engine;

struct app_dissector {
	const char *name;
	/*
	 * Bytes of direction dir are available from stream.consumed to end
	 * (no gap in between); finished: none will follow. Set *keep to the
	 * lowest offset still needed (end when none). HK_OK, or HK_ERR when
	 * the dissector is done with the connection (detached, the stream
	 * is then only given to the TCP rules).
	 */
	int (*receive)(void *inst, struct flow *f, int dir, uint64_t end,
	               bool finished, uint64_t *keep);
	/* Bytes [off, off+len) of direction dir were lost. */
	void (*gap)(void *inst, struct flow *f, int dir, uint64_t off,
	            uint64_t len);
	/* The connection ends (before end_connection). */
	void (*end)(void *inst, struct flow *f);
	void (*free)(void *inst);
};

/* Attach a dissector instance to a connection (replaces none). */
int engine_flow_attach(struct engine *e, struct flow *f,
                       const struct app_dissector *ops, void *inst);

#endif
