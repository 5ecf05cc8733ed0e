/*
 * State machine instances (HAKA.md "State machine"; the original's
 * lib/haka/state_machine.c plus its Lua layer): the current state,
 * transitions fired by events, jumps with their leave/enter redirections,
 * the fail and finish sequences, per-state repeating timeouts on the
 * caller's clock, and the bidirectional update that runs the grammar of
 * the current state on each direction. One instance per flow, created by
 * a dissector; never shared between threads.
 *
 * Re-entrancy. Callbacks (when, execute) run with m->depth > 0. A jump
 * asked for during a callback (fsm_jump, or the jump of a transition
 * fired by a nested fsm_trigger) is queued in m->pending and applied
 * once the callback's transition has run its execute, as the original
 * applied a transition's jump after its action. Queued requests combine:
 * FSM_FAIL wins over everything, then FSM_FINISH, then the latest
 * request; a request made during a transition's execute replaces that
 * transition's own jump.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <haka/fsm.h>
#include <haka/log.h>

#include "fsm_priv.h"

struct fsm_dirstate {
	struct gparser *p;        /* created on the first element */
	const struct gnode *root; /* root set in p */
	uint64_t off;             /* where the next element starts */
	uint64_t stop_off;        /* stopped: lowest offset still kept */
	uint32_t gen;             /* bumped by fsm_resync */
	bool stopped;             /* after a parse error, until fsm_resync */
	bool busy;                /* fsm_update running on this direction */
};

struct fsm {
	const struct fsm_def *def;
	void *ctx;
	struct fsm_state *cur;     /* NULL only inside a jump, or finished */
	struct fsm_state *left;    /* the state a leave redirection came from */
	struct fsm_state *pending; /* queued jump, NULL: none */
	int depth;                 /* callbacks in progress */
	uint32_t epoch;            /* bumped on every state entry */
	bool finishing;            /* fail/leave/finish sequence running */
	bool finished;
	bool failed;
	bool timers_on;
	int64_t now_ns;    /* latest clock value seen */
	int64_t *deadline; /* own timeouts of cur, then the FSM_ANY ones */
	uint32_t ntimers;
	uint64_t *memctr; /* fsm_set_counter's, or NULL */
	struct fsm_dirstate dir[2];
};

#define FSM_DEBUG(m, ...)                                                      \
	do {                                                                   \
		if (LOG_DEBUG_ENABLED(FSM_LOG_SECTION))                        \
			hk_log(LOG_DEBUG, FSM_LOG_SECTION, __VA_ARGS__);       \
	} while (0)

/* Combine a queued jump with a newer request (see the file comment). */
static struct fsm_state *
fsm_merge(struct fsm_state *old, struct fsm_state *newer)
{
	if (old == FSM_FAIL || newer == FSM_FAIL)
		return FSM_FAIL;
	if (old == FSM_FINISH || newer == FSM_FINISH)
		return FSM_FINISH;
	return newer != NULL ? newer : old;
}

static const struct fsm_trans *
fsm_trans_at(const struct fsm *m, const struct fsm_state *s, enum fsm_event ev,
             uint32_t i)
{
	const struct fsm_tlist *own = &s->on[ev];

	if (i < own->n)
		return &own->v[i];
	i -= own->n;
	if (i < m->def->any.on[ev].n)
		return &m->def->any.on[ev].v[i];
	return NULL;
}

/*
 * Run one transition whose 'when' holds: execute, then return where to
 * jump (its jump, or what was requested during the call), NULL to stay.
 * Jump requests queued before the call are kept aside meanwhile.
 */
static struct fsm_state *
fsm_run(struct fsm *m, const struct fsm_trans *t, const struct fsm_args *a)
{
	struct fsm_state *saved = m->pending, *to;

	m->pending = NULL;
	if (t->execute != NULL) {
		m->depth++;
		t->execute(m->ctx, m, a, t->arg);
		m->depth--;
	}
	to = fsm_merge(t->jump, m->pending);
	m->pending = saved;
	return to;
}

static bool
fsm_when(struct fsm *m, const struct fsm_trans *t, const struct fsm_args *a,
         struct fsm_state **asked)
{
	struct fsm_state *saved = m->pending;
	bool ok;

	if (t->when == NULL)
		return true;
	m->pending = NULL;
	m->depth++;
	ok = t->when(m->ctx, m, a, t->arg);
	m->depth--;
	*asked = fsm_merge(*asked, m->pending);
	m->pending = saved;
	return ok;
}

/*
 * Fire ev on state s: the first transition (s's own in definition order,
 * then the FSM_ANY ones) whose when is absent or true runs. Returns where
 * to jump, or NULL. A jump asked for by a 'when' counts too.
 */
static struct fsm_state *
fsm_fire(struct fsm *m, struct fsm_state *s, enum fsm_event ev,
         const struct fsm_args *a)
{
	const struct fsm_trans *t;
	struct fsm_state *asked = NULL;
	uint32_t i;

	for (i = 0; (t = fsm_trans_at(m, s, ev, i)) != NULL; i++) {
		if (fsm_when(m, t, a, &asked))
			return fsm_merge(asked, fsm_run(m, t, a));
	}
	return asked;
}

/* Fire a lifecycle event (no arguments) on s. */
static struct fsm_state *
fsm_fire_simple(struct fsm *m, struct fsm_state *s, enum fsm_event ev)
{
	struct fsm_args a;

	memset(&a, 0, sizeof(a));
	a.event = ev;
	return fsm_fire(m, s, ev, &a);
}

static void
fsm_timers_start(struct fsm *m)
{
	const struct fsm_state *s = m->cur;
	const struct fsm_trans *t;
	uint32_t i;

	for (i = 0; i < m->ntimers &&
	            (t = fsm_trans_at(m, s, FSM_EV_TIMEOUT, i)) != NULL;
	     i++)
		m->deadline[i] = m->now_ns + t->period_ns;
	m->timers_on = true;
}

/*
 * The end of the instance: when failing, the fail transitions of the
 * current state (their jumps ignored); then its leave transitions (unless
 * the state was already left, when a leave redirected to fail or finish),
 * then its finish transitions. Jumps asked for meanwhile are ignored.
 */
static void
fsm_end(struct fsm *m, bool fail)
{
	bool already_left = false;
	struct fsm_state *s;

	if (m->finishing || m->finished)
		return;
	m->finishing = true;
	if (m->cur == NULL) {
		m->cur = m->left;
		already_left = true;
	}
	s = m->cur;
	m->timers_on = false;
	if (fail) {
		m->failed = true;
		if (s != NULL) {
			FSM_DEBUG(m, "%s: fail transition on state '%s'",
			          m->def->name, s->name);
			(void)fsm_fire_simple(m, s, FSM_EV_FAIL);
		}
	}
	if (s != NULL && !already_left) {
		FSM_DEBUG(m, "%s: leave transition on state '%s'", m->def->name,
		          s->name);
		(void)fsm_fire_simple(m, s, FSM_EV_LEAVE);
	}
	if (s != NULL) {
		FSM_DEBUG(m, "%s: finish from state '%s'", m->def->name,
		          s->name);
		FSM_DEBUG(m, "%s: finish transition on state '%s'",
		          m->def->name, s->name);
		(void)fsm_fire_simple(m, s, FSM_EV_FINISH);
	}
	m->pending = NULL;
	m->finished = true;
	m->finishing = false;
}

/*
 * Jump to 'to' from outside any callback: leave transitions of the
 * current state, timers stopped, enter transitions of 'to', its timers
 * started. A leave or enter transition that jumps redirects the jump;
 * after FSM_MAX_REDIRECTS redirections the instance fails (an enter
 * loop would never end). initial: the first entry (fsm_new), which the
 * original does not log as a transition.
 */
static void
fsm_goto(struct fsm *m, struct fsm_state *to, bool initial)
{
	struct fsm_state *r;
	int hops;

	for (hops = 0; to != NULL; hops++) {
		if (m->finishing || m->finished)
			return;
		if (to == FSM_FAIL) {
			fsm_end(m, true);
			return;
		}
		if (to == FSM_FINISH) {
			fsm_end(m, false);
			return;
		}
		assert(to != FSM_ANY && to->def == m->def);
		if (hops > FSM_MAX_REDIRECTS) {
			hk_log(LOG_WARNING, FSM_LOG_SECTION,
			       "%s: too many redirections from state '%s' to "
			       "state '%s'",
			       m->def->name, fsm_current_name(m), to->name);
			fsm_end(m, true);
			return;
		}
		if (m->cur != NULL)
			FSM_DEBUG(m,
			          "%s: transition from state '%s' to "
			          "state '%s'",
			          m->def->name, m->cur->name, to->name);
		else if (!initial || hops > 0)
			FSM_DEBUG(m, "%s: transition to state '%s'",
			          m->def->name, to->name);

		if (m->cur != NULL) {
			m->timers_on = false;
			FSM_DEBUG(m, "%s: leave transition on state '%s'",
			          m->def->name, m->cur->name);
			r = fsm_fire_simple(m, m->cur, FSM_EV_LEAVE);
			if (m->finishing || m->finished)
				return;
			m->left = m->cur;
			m->cur = NULL;
			if (r != NULL) {
				to = r;
				continue;
			}
		}

		m->cur = to;
		m->left = NULL;
		m->epoch++;
		FSM_DEBUG(m, "%s: enter transition on state '%s'", m->def->name,
		          to->name);
		r = fsm_fire_simple(m, to, FSM_EV_ENTER);
		if (m->finishing || m->finished)
			return;
		if (r != NULL) {
			to = r;
			continue;
		}
		fsm_timers_start(m);
		return;
	}
}

/*
 * A new instance of d (which must have an initial state and stay alive
 * and unchanged while instances exist), or NULL on memory exhaustion or
 * without an initial state. The enter transitions of the initial state
 * run, then the init transitions of the current state (a jump of an init
 * transition is honoured; the original ignored it). now (NULL: 0) starts
 * the clock of the timeouts. The instance may already be finished when
 * returned (an enter transition jumped to fail). ctx is handed to every
 * callback and to the grammar callbacks (gctx.user).
 */
struct fsm *
fsm_new(const struct fsm_def *d, void *ctx, const struct hk_time *now)
{
	struct fsm_state *r;
	struct fsm *m;

	if (d == NULL || d->initial == NULL)
		return NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->def = d;
	m->ctx = ctx;
	m->ntimers = d->max_timeouts + d->any_timeouts;
	if (m->ntimers > 0 &&
	    (m->deadline = calloc(m->ntimers, sizeof(*m->deadline))) == NULL) {
		free(m);
		return NULL;
	}
	m->now_ns = now != NULL ? hk_time_ns(now) : 0;

	FSM_DEBUG(m, "%s: initial state '%s'", d->name, d->initial->name);
	fsm_goto(m, d->initial, true);
	if (m->finished || m->cur == NULL)
		return m;
	FSM_DEBUG(m, "%s: init transition on state '%s'", d->name,
	          m->cur->name);
	r = fsm_fire_simple(m, m->cur, FSM_EV_INIT);
	if (r != NULL)
		fsm_goto(m, r, false);
	return m;
}

/*
 * Free the instance and its parsers. No transition runs (call
 * fsm_jump(m, FSM_FINISH) first for the finish transitions). Never from
 * one of m's own callbacks. NULL is a no-op.
 */
void
fsm_free(struct fsm *m)
{
	int i;

	if (m == NULL)
		return;
	fsm_set_counter(m, NULL);
	for (i = 0; i < 2; i++)
		if (m->dir[i].p != NULL)
			gparser_free(m->dir[i].p);
	free(m->deadline);
	free(m);
}

/* Bytes of the instance itself (its parsers count for themselves). */
static size_t
fsm_own_memory(const struct fsm *m)
{
	return sizeof(*m) + m->ntimers * sizeof(*m->deadline);
}

void
fsm_set_counter(struct fsm *m, uint64_t *counter)
{
	int i;

	if (m->memctr != NULL)
		*m->memctr -= fsm_own_memory(m);
	m->memctr = counter;
	if (counter != NULL)
		*counter += fsm_own_memory(m);
	for (i = 0; i < 2; i++)
		if (m->dir[i].p != NULL)
			gparser_set_counter(m->dir[i].p, counter);
}

/* Events a caller may fire: the lifecycle ones are the engine's. */
static bool
fsm_triggerable(const struct fsm *m, enum fsm_event ev)
{
	return m->def->type == FSM_TYPE_BIDIRECTIONAL && ev >= FSM_EV_UP &&
	       ev < FSM_EV_COUNT;
}

/*
 * Fire ev (a->event is set to ev; a may be NULL) on the current state.
 * HK_OK whether or not a transition matched. HK_ERR when the instance is
 * finished (or running its fail/finish sequence), or for an event the
 * caller may not fire: one the type does not define, or a lifecycle
 * event (enter, leave, init, fail, finish, timeout: use fsm_jump). From
 * a callback of m, the transition runs at once and its jump is queued.
 */
int
fsm_trigger(struct fsm *m, enum fsm_event ev, const struct fsm_args *a)
{
	struct fsm_state *to;
	struct fsm_args args;

	if (m == NULL || m->finished || m->finishing || m->cur == NULL)
		return HK_ERR;
	if (!fsm_triggerable(m, ev))
		return HK_ERR;
	if (a != NULL)
		args = *a;
	else
		memset(&args, 0, sizeof(args));
	args.event = ev;
	to = fsm_fire(m, m->cur, ev, &args);
	if (to == NULL)
		return HK_OK;
	if (m->depth > 0)
		m->pending = fsm_merge(m->pending, to);
	else
		fsm_goto(m, to, false);
	return HK_OK;
}

/*
 * Jump to a state of m's definition, FSM_FAIL or FSM_FINISH with the
 * normal leave/enter semantics. From a callback of m the jump is queued
 * (see the file comment). Ignored once finished.
 */
void
fsm_jump(struct fsm *m, struct fsm_state *to)
{
	if (m == NULL || to == NULL || to == FSM_ANY || m->finished ||
	    m->finishing)
		return;
	if (!fsm_is_pseudo(to) && to->def != m->def)
		return;
	if (m->depth > 0)
		m->pending = fsm_merge(m->pending, to);
	else
		fsm_goto(m, to, false);
}

/*
 * Fire the timeout transitions of the current state that are due at
 * 'now', in definition order (the state's own, then the FSM_ANY ones).
 * A due timer fires once per call, however many periods passed, and is
 * re-armed at the next multiple of its period since the state was
 * entered. Stops at the first one that changes the state (the new
 * state's timers start from the time of the change). A clock going
 * backwards is ignored; calls from a callback of m do nothing.
 */
void
fsm_tick(struct fsm *m, const struct hk_time *now)
{
	const struct fsm_trans *t;
	struct fsm_state *s, *to;
	struct fsm_args a;
	uint32_t i, epoch;
	int64_t ns, late;

	if (m == NULL || now == NULL)
		return;
	ns = hk_time_ns(now);
	if (ns > m->now_ns && m->depth == 0)
		m->now_ns = ns;
	if (m->depth > 0 || m->finished || m->finishing || !m->timers_on)
		return;
	s = m->cur;
	epoch = m->epoch;
	memset(&a, 0, sizeof(a));
	a.event = FSM_EV_TIMEOUT;
	for (i = 0; i < m->ntimers &&
	            (t = fsm_trans_at(m, s, FSM_EV_TIMEOUT, i)) != NULL;
	     i++) {
		if (m->now_ns < m->deadline[i])
			continue;
		late = m->now_ns - m->deadline[i];
		m->deadline[i] += (late / t->period_ns + 1) * t->period_ns;
		FSM_DEBUG(m, "%s: timeout trigger on state '%s'", m->def->name,
		          s->name);
		to = NULL;
		if (fsm_when(m, t, &a, &to))
			to = fsm_merge(to, fsm_run(m, t, &a));
		if (to != NULL)
			fsm_goto(m, to, false);
		if (m->finished || m->epoch != epoch || !m->timers_on)
			return;
	}
}

/* The current state; NULL once finished. */
const struct fsm_state *
fsm_current(const struct fsm *m)
{
	if (m->finished)
		return NULL;
	return m->cur;
}

/*
 * The current state's name; once finished, "fail" or "finish" (how it
 * ended). Valid as long as the definition.
 */
const char *
fsm_current_name(const struct fsm *m)
{
	if (m->finished)
		return m->failed ? "fail" : "finish";
	if (m->cur == NULL)
		return m->left != NULL ? m->left->name : "none";
	return m->cur->name;
}

bool
fsm_finished(const struct fsm *m)
{
	return m->finished;
}

void *
fsm_ctx(const struct fsm *m)
{
	return m->ctx;
}

/* --- bidirectional update ---------------------------------------------- */

/*
 * The parser of a direction, created on the first element from the
 * definition's grammar (fsm_def_set_grammar), its root switched when the
 * state current at the start of an element has another one.
 */
static struct gparser *
fsm_parser(struct fsm *m, struct fsm_dirstate *ds, const struct gnode *root)
{
	if (ds->p == NULL) {
		ds->p = gparser_new(m->def->grammar, root, m->ctx);
		if (ds->p == NULL)
			return NULL;
		if (m->memctr != NULL)
			gparser_set_counter(ds->p, m->memctr);
		ds->root = root;
		gparser_reset(ds->p, ds->off);
	} else if (ds->root != root) {
		gparser_set_root(ds->p, root);
		ds->root = root;
	}
	return ds->p;
}

#define FSM_MAX_EMPTY 16 /* empty elements in a row per update */

/*
 * See fsm.h. The loop, per element: with no element in progress, take
 * the current state's grammar for dir (an element in progress keeps the
 * grammar it began with); without one and with bytes at the current
 * offset, fire missing_grammar (off, len: the bytes available) and
 * return, the bytes left to the caller (*keep: the current offset; the
 * transition may fsm_resync past them, or jump, and the caller call
 * again). A complete element fires up or down with its result (valid
 * during the transition only), and the next element starts after it.
 * A parse error fires parse_error and stops the direction: *keep is then
 * the error position (so that the caller can look at the bytes from there
 * to resynchronise) until fsm_resync, which a parse_error transition may
 * call itself to go on at once. HK_ERR (*keep untouched)
 * when the instance is or becomes finished, dir is not FSM_UP/FSM_DOWN,
 * the machine is not bidirectional, the call is nested in another
 * update of the same direction, or a parser cannot be allocated.
 */
int
fsm_update(struct fsm *m, int dir, const struct ginput *in, uint64_t *keep)
{
	const struct gparse_error *err;
	struct fsm_dirstate *ds;
	const struct gnode *root;
	struct fsm_args a;
	struct gparser *p;
	uint64_t next, start;
	uint32_t gen, empty = 0;
	int rc, ret = HK_OK;

	if (m == NULL || (dir != FSM_UP && dir != FSM_DOWN) ||
	    m->def->type != FSM_TYPE_BIDIRECTIONAL)
		return HK_ERR;
	if (m->finished || m->finishing || m->cur == NULL)
		return HK_ERR;
	ds = &m->dir[dir];
	if (ds->busy)
		return HK_ERR;
	ds->busy = true;
	for (;;) {
		if (m->finished || m->finishing) {
			ret = HK_ERR;
			break;
		}
		if (ds->stopped) {
			*keep = ds->stop_off;
			break;
		}
		p = ds->p;
		if (p == NULL || gparser_idle(p)) {
			root = m->cur->grammar[dir];
			if (root == NULL) {
				if (in->end > ds->off) {
					memset(&a, 0, sizeof(a));
					a.dir = dir;
					a.off = ds->off;
					a.len = in->end - ds->off;
					(void)fsm_trigger(
					    m, FSM_EV_MISSING_GRAMMAR, &a);
				}
				if (m->finished) {
					ret = HK_ERR;
					break;
				}
				*keep = ds->off;
				break;
			}
			/*
			 * Nothing to parse: running the parser could only
			 * report the end of the input as an error.
			 */
			if (in->end <= ds->off) {
				*keep = ds->off;
				break;
			}
			if ((p = fsm_parser(m, ds, root)) == NULL) {
				ret = HK_ERR;
				break;
			}
		}
		start = ds->off;
		rc = gparser_run(p, in);
		if (rc == HK_AGAIN) {
			*keep = gparser_pin(p);
			break;
		}
		gen = ds->gen;
		if (rc == HK_OK) {
			next = gparser_offset(p);
			memset(&a, 0, sizeof(a));
			a.dir = dir;
			a.res = gparser_result(p);
			(void)fsm_trigger(
			    m, dir == FSM_UP ? FSM_EV_UP : FSM_EV_DOWN, &a);
			/* A transition that resynced chose the next offset. */
			if (ds->gen == gen) {
				gparser_reset(p, next);
				ds->off = next;
			}
			/*
			 * An empty element would come again and again from
			 * the same offset.
			 */
			if (next == start && ++empty >= FSM_MAX_EMPTY) {
				if (m->finished) {
					ret = HK_ERR;
					break;
				}
				*keep = ds->off;
				break;
			}
			if (next != start)
				empty = 0;
			continue;
		}
		err = gparser_error(p);
		ds->stopped = true;
		/*
		 * The bytes before the error position may be gone already
		 * (the parser's pin had passed them); the caller resyncs
		 * from the error on.
		 */
		ds->stop_off = start;
		if (err != NULL && err->position > start)
			ds->stop_off =
			    err->position < in->end ? err->position : in->end;
		memset(&a, 0, sizeof(a));
		a.dir = dir;
		a.error = err;
		(void)fsm_trigger(m, FSM_EV_PARSE_ERROR, &a);
	}
	ds->busy = false;
	return ret;
}

/*
 * Restart direction dir at off: the element in progress, if any, is
 * abandoned (its result and error are freed), the next one starts at off
 * with the grammar of the state current then, and a stopped direction
 * goes on.
 */
void
fsm_resync(struct fsm *m, int dir, uint64_t off)
{
	struct fsm_dirstate *ds;

	if (m == NULL || (dir != FSM_UP && dir != FSM_DOWN))
		return;
	ds = &m->dir[dir];
	ds->off = off;
	ds->stopped = false;
	ds->gen++;
	if (ds->p != NULL)
		gparser_reset(ds->p, off);
}
