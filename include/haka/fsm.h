/*
 * The state machine engine (HAKA.md "State machine"): a definition (states
 * of one state type, transitions, initial state) built once, then
 * instantiated per flow with a context pointer.
 *
 * Semantics (exactly the original's):
 * - A transition is {event, when, execute, jump}. For one event, the
 *   state's own transitions are tried in definition order, then those
 *   defined on FSM_ANY; the first whose 'when' is absent or true runs
 *   'execute', then jumps (if it has a jump); no other is considered. If
 *   none matches, nothing happens.
 * - Jumping to a normal state: the leave transitions of the old state,
 *   timers stopped, the enter transitions of the new one, its timeouts
 *   started. An enter or leave transition that itself jumps redirects the
 *   transition.
 * - fsm_new enters the initial state (enter transitions), then runs its
 *   init transitions.
 * - Jump to FSM_FAIL: the current state's fail transitions (their jumps
 *   ignored), then its leave transitions, then the finish transitions;
 *   the instance is finished. Jump to FSM_FINISH: leave, then finish
 *   transitions; finished. A finished instance ignores every event
 *   (fsm_trigger returns HK_ERR; the original raised an error, bug 4).
 * - Timeouts: fsm_on_timeout(state, seconds, ...) fires when the state has
 *   been current for that long (repeating, restarted on every state
 *   change), checked by fsm_tick with the caller's clock (capture time
 *   when replaying).
 *
 * State types: FSM_TYPE_BASIC has the events of every state; the
 * bidirectional type (fsm_type_bidirectional) adds up, down, parse_error
 * and missing_grammar and a grammar per direction, and its update runs
 * the grammar of the current state for a direction. Callbacks are C
 * functions with an opaque argument, so that a binding can later plug in
 * Lua functions.
 */
#ifndef HAKA_FSM_H
#define HAKA_FSM_H

#include <stdio.h>

#include <haka/grammar.h>

enum fsm_event {
	FSM_EV_ENTER = 0,
	FSM_EV_LEAVE,
	FSM_EV_INIT,
	FSM_EV_FAIL,
	FSM_EV_FINISH,
	FSM_EV_TIMEOUT,
	/* bidirectional */
	FSM_EV_UP,
	FSM_EV_DOWN,
	FSM_EV_PARSE_ERROR,
	FSM_EV_MISSING_GRAMMAR,
	FSM_EV_COUNT
};

const char *fsm_event_name(enum fsm_event ev);

enum fsm_dir {
	FSM_UP = 0,
	FSM_DOWN = 1,
};

struct fsm_def;
struct fsm_state;
struct fsm;

/* Pseudo-states. */
#define FSM_ANY    ((struct fsm_state *)1)
#define FSM_FAIL   ((struct fsm_state *)2)
#define FSM_FINISH ((struct fsm_state *)3)

/* What a transition receives. */
struct fsm_args {
	enum fsm_event event;
	int dir;                          /* up/down events */
	const struct gresult *res;        /* up, down */
	const struct gparse_error *error; /* parse_error */
	uint64_t off;                     /* missing_grammar: offset */
	uint64_t len;                     /* missing_grammar: bytes */
};

typedef bool (*fsm_when_fn)(void *ctx, struct fsm *m, const struct fsm_args *a,
                            void *arg);
typedef void (*fsm_exec_fn)(void *ctx, struct fsm *m, const struct fsm_args *a,
                            void *arg);

enum fsm_type_kind {
	FSM_TYPE_BASIC = 0,
	FSM_TYPE_BIDIRECTIONAL,
};

/* --- definition (start-up) --------------------------------------------- */

struct fsm_def *fsm_def_new(const char *name, enum fsm_type_kind type);
void fsm_def_free(struct fsm_def *d);
const char *fsm_def_name(const struct fsm_def *d);

/*
 * A state. For a bidirectional machine, the grammar roots (exported nodes
 * of a compiled grammar) for the up and down directions; NULL means no
 * message is expected that way (missing_grammar).
 */
struct fsm_state *fsm_state_new(struct fsm_def *d, const char *name,
                                const struct gnode *up,
                                const struct gnode *down);
const char *fsm_state_name(const struct fsm_state *s);

/*
 * The compiled grammar whose exported nodes the states use as roots: the
 * instances' parsers are created from it (gparser_new needs the grammar).
 * Bidirectional machines with grammars call it before fsm_new.
 */
void fsm_def_set_grammar(struct fsm_def *d, const struct grammar *g);

/*
 * A transition on state s (or FSM_ANY) for an event. when and execute may
 * be NULL (not both with jump NULL); jump may be NULL (stay), a state,
 * FSM_FAIL or FSM_FINISH. arg is passed to when and execute. Returns
 * HK_ERR for an event the state type does not define ("unknown event").
 */
int fsm_on(struct fsm_def *d, struct fsm_state *s, enum fsm_event ev,
           fsm_when_fn when, fsm_exec_fn execute, struct fsm_state *jump,
           void *arg);
int fsm_on_timeout(struct fsm_def *d, struct fsm_state *s, double seconds,
                   fsm_when_fn when, fsm_exec_fn execute,
                   struct fsm_state *jump, void *arg);
void fsm_initial(struct fsm_def *d, struct fsm_state *s);

/*
 * Check the definition: an initial state, and a warning (through 'warn',
 * may be NULL) "state machine NAME never jump on state: S" for states no
 * transition reaches. HK_OK or HK_ERR.
 */
int fsm_def_check(struct fsm_def *d, void (*warn)(const char *msg));

/* Write the machine as Graphviz DOT, in the original's format. */
void fsm_dump_dot(const struct fsm_def *d, FILE *out);

/* --- instances --------------------------------------------------------- */

/* Instantiate: enter and init transitions of the initial state run. */
struct fsm *fsm_new(const struct fsm_def *d, void *ctx,
                    const struct hk_time *now);
void fsm_free(struct fsm *m);
/*
 * Count the bytes the instance holds, its parsers included, in *counter
 * (NULL: stop), as gparser_set_counter does; fsm_free takes them back.
 */
void fsm_set_counter(struct fsm *m, uint64_t *counter);

/* Fire an event on the current state. HK_ERR when finished. */
int fsm_trigger(struct fsm *m, enum fsm_event ev, const struct fsm_args *a);

/* Jump from outside a transition (e.g. a dissector error). */
void fsm_jump(struct fsm *m, struct fsm_state *to);

/*
 * Bidirectional update: parse the input of direction dir with the grammar
 * of the current state (an element begun under one state finishes with
 * the grammar it began with), firing up/down with each parsed element,
 * parse_error on an error (then the parse of that direction stops until
 * fsm_resync), missing_grammar when bytes arrive and the state has no
 * grammar for dir. Goes on while elements complete and the machine is not
 * finished. Returns HK_OK, or HK_ERR when finished. *keep is set to the
 * lowest offset of the direction still needed (the parser's pin).
 */
int fsm_update(struct fsm *m, int dir, const struct ginput *in, uint64_t *keep);

/* Restart the parse of direction dir at offset off (after a gap). */
void fsm_resync(struct fsm *m, int dir, uint64_t off);

/* Fire due timeouts. */
void fsm_tick(struct fsm *m, const struct hk_time *now);

const struct fsm_state *fsm_current(const struct fsm *m);
const char *fsm_current_name(const struct fsm *m);
bool fsm_finished(const struct fsm *m);
void *fsm_ctx(const struct fsm *m);

#endif
