/*
 * State machine definitions (HAKA.md "State machine"): states, their
 * transitions per event in definition order, the FSM_ANY transitions,
 * the initial state, the compile-time check and the Graphviz output.
 * Called at start-up by dissectors (smtp_fsm.c) and, later, by the Lua
 * binding; instances (fsm.c) only read a definition.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <haka/fsm.h>
#include <haka/log.h>

#include "fsm_priv.h"

static const char *const fsm_event_names[FSM_EV_COUNT] = {
    [FSM_EV_ENTER] = "enter",
    [FSM_EV_LEAVE] = "leave",
    [FSM_EV_INIT] = "init",
    [FSM_EV_FAIL] = "fail",
    [FSM_EV_FINISH] = "finish",
    [FSM_EV_TIMEOUT] = "timeout",
    [FSM_EV_UP] = "up",
    [FSM_EV_DOWN] = "down",
    [FSM_EV_PARSE_ERROR] = "parse_error",
    [FSM_EV_MISSING_GRAMMAR] = "missing_grammar",
};

const char *
fsm_event_name(enum fsm_event ev)
{
	if ((unsigned)ev >= FSM_EV_COUNT)
		return "unknown";
	return fsm_event_names[ev];
}

/*
 * The definition, or NULL on memory exhaustion. name is copied. The
 * caller frees it with fsm_def_free once no instance uses it.
 */
struct fsm_def *
fsm_def_new(const char *name, enum fsm_type_kind type)
{
	struct fsm_def *d;

	if (name == NULL ||
	    (type != FSM_TYPE_BASIC && type != FSM_TYPE_BIDIRECTIONAL))
		return NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	if ((d->name = strdup(name)) == NULL) {
		free(d);
		return NULL;
	}
	d->type = type;
	d->any.def = d;
	d->any.name = (char *)"any";
	d->any.index = UINT32_MAX;
	return d;
}

static void
fsm_state_free_lists(struct fsm_state *s)
{
	int ev;

	for (ev = 0; ev < FSM_EV_COUNT; ev++)
		free(s->on[ev].v);
}

/* Frees the definition, its states and transitions; NULL is a no-op. */
void
fsm_def_free(struct fsm_def *d)
{
	uint32_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nstates; i++) {
		fsm_state_free_lists(d->states[i]);
		free(d->states[i]->name);
		free(d->states[i]);
	}
	fsm_state_free_lists(&d->any);
	free(d->name);
	free(d);
}

const char *
fsm_def_name(const struct fsm_def *d)
{
	return d->name;
}

/*
 * A new state named name (copied), or NULL: more than FSM_MAX_STATES
 * states, a name already used or reserved ("any", "fail", "finish", which
 * the DOT output and the Lua DSL use for the pseudo-states), grammars
 * given to a basic machine, or memory exhaustion. The state belongs to d.
 */
struct fsm_state *
fsm_state_new(struct fsm_def *d, const char *name, const struct gnode *up,
              const struct gnode *down)
{
	struct fsm_state *s;
	uint32_t i;

	if (d == NULL || name == NULL || *name == '\0' ||
	    d->nstates >= FSM_MAX_STATES)
		return NULL;
	if (strcmp(name, "any") == 0 || strcmp(name, "fail") == 0 ||
	    strcmp(name, "finish") == 0)
		return NULL;
	if (d->type == FSM_TYPE_BASIC && (up != NULL || down != NULL))
		return NULL;
	for (i = 0; i < d->nstates; i++)
		if (strcmp(d->states[i]->name, name) == 0)
			return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->name = strdup(name)) == NULL) {
		free(s);
		return NULL;
	}
	s->def = d;
	s->index = d->nstates;
	s->grammar[FSM_UP] = up;
	s->grammar[FSM_DOWN] = down;
	d->states[d->nstates++] = s;
	return s;
}

/* Not owned: g must outlive d's instances. */
void
fsm_def_set_grammar(struct fsm_def *d, const struct grammar *g)
{
	d->grammar = g;
}

/* The state's name; the pseudo-states are "any", "fail" and "finish". */
const char *
fsm_state_name(const struct fsm_state *s)
{
	if (s == NULL)
		return "none";
	if (s == FSM_ANY)
		return "any";
	if (s == FSM_FAIL)
		return "fail";
	if (s == FSM_FINISH)
		return "finish";
	return s->name;
}

/* Whether machines of d's type have event ev (fsm_on's "unknown event"). */
static int
fsm_def_has_event(const struct fsm_def *d, enum fsm_event ev)
{
	if ((unsigned)ev >= FSM_EV_COUNT)
		return 0;
	if (ev >= FSM_EV_UP)
		return d->type == FSM_TYPE_BIDIRECTIONAL;
	return 1;
}

/* The transitions of s (a state of d, or FSM_ANY), or NULL. */
static struct fsm_state *
fsm_def_owner(struct fsm_def *d, struct fsm_state *s)
{
	if (s == FSM_ANY)
		return &d->any;
	if (s == NULL || fsm_is_pseudo(s) || s->def != d)
		return NULL;
	return s;
}

static int
fsm_tlist_push(struct fsm_tlist *l, const struct fsm_trans *t)
{
	struct fsm_trans *v;
	uint32_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 4;
		if ((v = realloc(l->v, cap * sizeof(*v))) == NULL)
			return HK_ERR;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *t;
	return HK_OK;
}

static int
fsm_add(struct fsm_def *d, struct fsm_state *s, enum fsm_event ev,
        const struct fsm_trans *t)
{
	struct fsm_state *owner;

	if (d == NULL || (owner = fsm_def_owner(d, s)) == NULL)
		return HK_ERR;
	if (!fsm_def_has_event(d, ev))
		return HK_ERR;
	/* The original: "action must have either an execute or a jump". */
	if (t->execute == NULL && t->jump == NULL)
		return HK_ERR;
	if (t->jump == FSM_ANY ||
	    (t->jump != NULL && !fsm_is_pseudo(t->jump) && t->jump->def != d))
		return HK_ERR;
	if (fsm_tlist_push(&owner->on[ev], t) != HK_OK)
		return HK_ERR;
	if (ev == FSM_EV_TIMEOUT) {
		if (owner == &d->any)
			d->any_timeouts = owner->on[ev].n;
		else if (owner->on[ev].n > d->max_timeouts)
			d->max_timeouts = owner->on[ev].n;
	}
	return HK_OK;
}

/*
 * Add a transition. HK_ERR, with nothing added, for an event the type
 * does not define, FSM_EV_TIMEOUT (use fsm_on_timeout), a state of
 * another definition, neither execute nor jump, or memory exhaustion.
 */
int
fsm_on(struct fsm_def *d, struct fsm_state *s, enum fsm_event ev,
       fsm_when_fn when, fsm_exec_fn execute, struct fsm_state *jump, void *arg)
{
	struct fsm_trans t = {when, execute, jump, arg, 0};

	if (ev == FSM_EV_TIMEOUT)
		return HK_ERR;
	return fsm_add(d, s, ev, &t);
}

/*
 * Add a timeout transition: it fires each time the state has been
 * current for another 'seconds' (> 0, rounded to the nanosecond). Each
 * timeout transition is its own timer. HK_ERR as for fsm_on, or for a
 * non-positive or non-finite delay.
 */
int
fsm_on_timeout(struct fsm_def *d, struct fsm_state *s, double seconds,
               fsm_when_fn when, fsm_exec_fn execute, struct fsm_state *jump,
               void *arg)
{
	struct fsm_trans t = {when, execute, jump, arg, 0};
	double ns;

	if (!isfinite(seconds) || seconds <= 0)
		return HK_ERR;
	ns = seconds * 1e9;
	if (ns >= (double)INT64_MAX / 2)
		return HK_ERR;
	t.period_ns = (int64_t)llround(ns);
	if (t.period_ns < 1)
		t.period_ns = 1;
	return fsm_add(d, s, FSM_EV_TIMEOUT, &t);
}

/* s must be a state of d; anything else is ignored. */
void
fsm_initial(struct fsm_def *d, struct fsm_state *s)
{
	if (d != NULL && s != NULL && !fsm_is_pseudo(s) && s->def == d)
		d->initial = s;
}

/*
 * Mark in reached[] the targets of s's transitions and of the FSM_ANY
 * ones (which apply to s), indexes FSM_MAX_STATES for fail and
 * FSM_MAX_STATES + 1 for finish, and append each newly reached index to
 * order[*n] in the order of first appearance: event by event, the state's
 * own transitions, then the FSM_ANY ones.
 */
static void
fsm_targets(const struct fsm_def *d, const struct fsm_state *s,
            char reached[FSM_MAX_STATES + 2],
            uint32_t order[FSM_MAX_STATES + 2], uint32_t *n)
{
	const struct fsm_tlist *lists[2];
	const struct fsm_state *j;
	uint32_t ev, k, i, idx;

	for (ev = 0; ev < FSM_EV_COUNT; ev++) {
		lists[0] = &s->on[ev];
		lists[1] = &d->any.on[ev];
		for (k = 0; k < 2; k++) {
			for (i = 0; i < lists[k]->n; i++) {
				j = lists[k]->v[i].jump;
				if (j == NULL)
					continue;
				if (j == FSM_FAIL)
					idx = FSM_MAX_STATES;
				else if (j == FSM_FINISH)
					idx = FSM_MAX_STATES + 1;
				else
					idx = j->index;
				if (reached[idx])
					continue;
				reached[idx] = 1;
				if (order != NULL)
					order[(*n)++] = idx;
			}
		}
	}
}

/*
 * HK_ERR when d has no initial state. Otherwise HK_OK, after calling
 * warn (or, when warn is NULL, logging a warning in section "states")
 * with "state machine NAME never jump on state: S" for each state,
 * other than the initial one, that no transition jumps to; the message
 * is only valid during the call.
 */
int
fsm_def_check(struct fsm_def *d, void (*warn)(const char *msg))
{
	char reached[FSM_MAX_STATES + 2] = {0};
	char msg[512];
	uint32_t i, n = 0;

	if (d == NULL || d->initial == NULL)
		return HK_ERR;
	for (i = 0; i < d->nstates; i++)
		fsm_targets(d, d->states[i], reached, NULL, &n);
	for (i = 0; i < d->nstates; i++) {
		if (reached[i] || d->states[i] == d->initial)
			continue;
		snprintf(msg, sizeof(msg),
		         "state machine %s never jump on state: %s", d->name,
		         d->states[i]->name);
		if (warn != NULL)
			warn(msg);
		else
			hk_log(LOG_WARNING, FSM_LOG_SECTION, "%s", msg);
	}
	return HK_OK;
}

/*
 * The original's dump_graph: the three coloured nodes, then one edge per
 * distinct (state, target) pair, the FSM_ANY transitions counting for
 * every state. The original walked Lua hash tables; here states come in
 * definition order and targets in order of first appearance.
 */
void
fsm_dump_dot(const struct fsm_def *d, FILE *out)
{
	char reached[FSM_MAX_STATES + 2];
	uint32_t order[FSM_MAX_STATES + 2];
	uint32_t i, k, n;
	const char *to;

	fputs("digraph state_machine {\n", out);
	fputs("fail [fillcolor=\"#ee0000\",style=\"filled\"]\n", out);
	fputs("finish [fillcolor=\"#00ee00\",style=\"filled\"]\n", out);
	if (d->initial != NULL)
		fprintf(out, "%s [fillcolor=\"#00d7ff\",style=\"filled\"]\n",
		        d->initial->name);
	for (i = 0; i < d->nstates; i++) {
		memset(reached, 0, sizeof(reached));
		n = 0;
		fsm_targets(d, d->states[i], reached, order, &n);
		for (k = 0; k < n; k++) {
			if (order[k] == FSM_MAX_STATES)
				to = "fail";
			else if (order[k] == FSM_MAX_STATES + 1)
				to = "finish";
			else
				to = d->states[order[k]]->name;
			fprintf(out, "%s -> %s;\n", d->states[i]->name, to);
		}
	}
	fputs("}\n", out);
}
