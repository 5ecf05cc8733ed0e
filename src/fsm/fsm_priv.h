/*
 * Private layout of the state machine engine, shared by fsm_def.c (the
 * definition: states, transitions, check, DOT) and fsm.c (instances,
 * timeouts, bidirectional update). Nothing outside src/fsm/ includes it.
 *
 * A definition is read-only once instances exist: the transition arrays
 * below may move while transitions are added (start-up), never after.
 *
 *   struct fsm_def
 *     states[0..nstates)  --> struct fsm_state { on[event] = transitions }
 *     any                 --> the FSM_ANY transitions, tried after a
 *                             state's own for the same event
 *     initial
 */
#ifndef HAKA_FSM_PRIV_H
#define HAKA_FSM_PRIV_H

#include <haka/fsm.h>

#define FSM_MAX_STATES    64
#define FSM_MAX_REDIRECTS 16 /* enter/leave redirections per jump */
#define FSM_LOG_SECTION   "states"

struct fsm_trans {
	fsm_when_fn when;
	fsm_exec_fn execute;
	struct fsm_state *jump; /* NULL, a state, FSM_FAIL or FSM_FINISH */
	void *arg;
	int64_t period_ns; /* FSM_EV_TIMEOUT only */
};

/* Transitions of one (state, event), in definition order. */
struct fsm_tlist {
	struct fsm_trans *v;
	uint32_t n, cap;
};

struct fsm_state {
	struct fsm_def *def;
	char *name;
	uint32_t index; /* in def->states; UINT32_MAX for def->any */
	const struct gnode *grammar[2]; /* FSM_UP, FSM_DOWN */
	struct fsm_tlist on[FSM_EV_COUNT];
};

struct fsm_def {
	char *name;
	enum fsm_type_kind type;
	const struct grammar *grammar; /* of the states' roots, may be NULL */
	struct fsm_state *states[FSM_MAX_STATES];
	uint32_t nstates;
	struct fsm_state *initial;
	struct fsm_state any;
	uint32_t any_timeouts; /* == any.on[FSM_EV_TIMEOUT].n */
	uint32_t max_timeouts; /* largest own timeout count of a state */
};

/* True for a pseudo-state pointer (FSM_ANY, FSM_FAIL, FSM_FINISH). */
static inline int
fsm_is_pseudo(const struct fsm_state *s)
{
	return s == FSM_ANY || s == FSM_FAIL || s == FSM_FINISH;
}

#endif
