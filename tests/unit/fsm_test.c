/*
 * Unit tests of the state machine engine (src/fsm/): every callback
 * appends a line to a trace, and each test compares the exact sequence.
 * The first test replays the original's core-state_machine test and its
 * reference output. The bidirectional update tests use the grammar
 * engine (src/grammar/).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <haka/fsm.h>
#include <haka/grammar.h>
#include <haka/log.h>

#include "unittest.h"

/* --- trace ------------------------------------------------------------- */

static char trace[16384];

static void
tr_add(const char *s)
{
	size_t n = strlen(trace);

	snprintf(trace + n, sizeof(trace) - n, "%s\n", s);
}

static void
tr_reset(void)
{
	trace[0] = '\0';
}

/* Append tmpl with each '$' replaced by the current state's name. */
static void
say(struct fsm *m, const char *tmpl)
{
	char line[256];
	const char *name = fsm_current_name(m);
	size_t n = 0, k;

	for (; *tmpl != '\0' && n + 1 < sizeof(line); tmpl++) {
		if (*tmpl != '$') {
			line[n++] = *tmpl;
			continue;
		}
		for (k = 0; name[k] != '\0' && n + 1 < sizeof(line); k++)
			line[n++] = name[k];
	}
	line[n] = '\0';
	tr_add(line);
}

/* execute: say(arg). */
static void
x_say(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	say(m, arg);
}

static bool
w_false(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	return false;
}

static bool
w_true(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	return true;
}

static void
warn_cb(const char *msg)
{
	tr_add(msg);
}

static struct hk_time
at(double s)
{
	struct hk_time t;

	t.sec = (int64_t)floor(s);
	t.nsec = (int32_t)llround((s - floor(s)) * 1e9);
	return t;
}

/* --- the original's core-state_machine test ----------------------------- */

struct core_ctx {
	const char *hello;
	int count;
	struct fsm_state *s3;
};

static void
core_fail(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	say(m, "fail on $");
}

static void
core_finish(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	char line[64];

	snprintf(line, sizeof(line), "finished %s",
	         ((struct core_ctx *)ctx)->hello);
	tr_add(line);
}

static void
core_enter1(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	((struct core_ctx *)ctx)->count = 0;
	tr_add("enter state1");
}

/* The 'test' event of the original: arg is the message, dir the count. */
static void
core_received(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	char line[128];

	snprintf(line, sizeof(line), "%d %s received: %s", a->dir,
	         fsm_current_name(m), (const char *)a->res);
	tr_add(line);
}

static void
core_timeout1(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct core_ctx *c = ctx;

	tr_add("timeout from state1");
	if (++c->count > 5)
		fsm_jump(m, c->s3);
}

static void
core_timeout3(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	tr_add("timeout from state3");
	tr_add("go to state1");
}

static const char core_ref[] = "enter state1\n"
                               "initialize state1\n"
                               "0 state1 received: hello from state 'state1'\n"
                               "leave state1\n"
                               "enter state4\n"
                               "1 state4 received: hello from state 'state4'\n"
                               "leave state4\n"
                               "enter state1\n"
                               "timeout from state1\n"
                               "timeout from state1\n"
                               "timeout from state1\n"
                               "timeout from state1\n"
                               "timeout from state1\n"
                               "timeout from state1\n"
                               "leave state1\n"
                               "enter state3\n"
                               "timeout from state3\n"
                               "go to state1\n"
                               "leave state3\n"
                               "enter state2\n"
                               "fail on state2\n"
                               "leave state2\n"
                               "finished hello\n";

static const char *const core_log_ref[] = {
    "test: initial state 'state1'",
    "test: enter transition on state 'state1'",
    "test: init transition on state 'state1'",
    "test: transition from state 'state1' to state 'state4'",
    "test: leave transition on state 'state1'",
    "test: enter transition on state 'state4'",
    "test: transition from state 'state4' to state 'state1'",
    "test: leave transition on state 'state4'",
    "test: enter transition on state 'state1'",
    "test: timeout trigger on state 'state1'",
    "test: timeout trigger on state 'state1'",
    "test: timeout trigger on state 'state1'",
    "test: timeout trigger on state 'state1'",
    "test: timeout trigger on state 'state1'",
    "test: timeout trigger on state 'state1'",
    "test: transition from state 'state1' to state 'state3'",
    "test: leave transition on state 'state1'",
    "test: enter transition on state 'state3'",
    "test: timeout trigger on state 'state3'",
    "test: transition from state 'state3' to state 'state1'",
    "test: leave transition on state 'state3'",
    "test: transition to state 'state2'",
    "test: enter transition on state 'state2'",
    "test: fail transition on state 'state2'",
    "test: leave transition on state 'state2'",
    "test: finish from state 'state2'",
    "test: finish transition on state 'state2'",
    NULL,
};

static void
test_core_state_machine(void)
{
	struct fsm_state *s1, *s2, *s3, *s4;
	struct core_ctx c = {"hello", 0, NULL};
	struct fsm_def *d;
	struct fsm_args a;
	struct fsm *m;
	struct hk_time t;
	char msg[64], line[256], err[64], *p;
	FILE *log;
	int i, k;

	tr_reset();
	d = fsm_def_new("test", FSM_TYPE_BIDIRECTIONAL);
	FAIL_IF(d == NULL);
	s1 = fsm_state_new(d, "state1", NULL, NULL);
	s2 = fsm_state_new(d, "state2", NULL, NULL);
	s3 = fsm_state_new(d, "state3", NULL, NULL);
	s4 = fsm_state_new(d, "state4", NULL, NULL);
	FAIL_IF(s1 == NULL || s2 == NULL || s3 == NULL || s4 == NULL);
	c.s3 = s3;

	/* The state's own transitions come before the FSM_ANY ones. */
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_FAIL, NULL, core_fail, NULL, NULL));
	FAIL_IF(
	    fsm_on(d, FSM_ANY, FSM_EV_FINISH, NULL, core_finish, NULL, NULL));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_ENTER, NULL, x_say, NULL, "enter $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_LEAVE, NULL, x_say, NULL, "leave $"));

	FAIL_IF(
	    fsm_on(d, s1, FSM_EV_INIT, NULL, x_say, NULL, "initialize state1"));
	FAIL_IF(fsm_on(d, s1, FSM_EV_ENTER, NULL, core_enter1, NULL, NULL));
	FAIL_IF(fsm_on(d, s1, FSM_EV_UP, NULL, core_received, s4, NULL));
	FAIL_IF(fsm_on_timeout(d, s1, 0.5, NULL, core_timeout1, NULL, NULL));

	FAIL_IF(
	    fsm_on(d, s2, FSM_EV_ENTER, NULL, x_say, FSM_FAIL, "enter state2"));

	FAIL_IF(fsm_on(d, s3, FSM_EV_UP, NULL, NULL, s1, NULL));
	FAIL_IF(fsm_on_timeout(d, s3, 1, NULL, core_timeout3, s1, NULL));
	FAIL_IF(fsm_on(d, s3, FSM_EV_LEAVE, NULL, x_say, s2, "leave state3"));

	FAIL_IF(fsm_on(d, s4, FSM_EV_UP, NULL, core_received, s1, NULL));
	fsm_initial(d, s1);
	/* state3 is only reached through fsm_jump, which no check can see. */
	FAIL_IF(fsm_def_check(d, warn_cb) != HK_OK);
	FAIL_IF(
	    strcmp(trace, "state machine test never jump on state: state3\n") !=
	    0);
	tr_reset();

	log = tmpfile();
	FAIL_IF(log == NULL);
	FAIL_IF(log_set_level_spec("info,states=debug", err, sizeof(err)));
	log_set_output(log);

	t = at(0);
	m = fsm_new(d, &c, &t);
	FAIL_IF(m == NULL);
	for (i = 0; i < 2; i++) {
		snprintf(msg, sizeof(msg), "hello from state '%s'",
		         fsm_current_name(m));
		memset(&a, 0, sizeof(a));
		a.dir = i;
		a.res = (const struct gresult *)(void *)msg;
		FAIL_IF(fsm_trigger(m, FSM_EV_UP, &a) != HK_OK);
	}
	FAIL_IF(strcmp(fsm_current_name(m), "state1") != 0);
	for (i = 1; i <= 16; i++) {
		t = at(i * 0.25);
		fsm_tick(m, &t);
	}
	log_set_output(NULL);
	FAIL_IF(log_set_level_spec("info,states=default", err, sizeof(err)));

	FAIL_IF_NOT(fsm_finished(m));
	FAIL_IF(fsm_current(m) != NULL);
	FAIL_IF(strcmp(fsm_current_name(m), "fail") != 0);
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_ERR);
	if (strcmp(trace, core_ref) != 0)
		fprintf(stderr, "trace:\n%s", trace);
	FAIL_IF(strcmp(trace, core_ref) != 0);

	/* The debug lines, in order, and nothing else. */
	rewind(log);
	for (k = 0; fgets(line, sizeof(line), log) != NULL; k++) {
		line[strcspn(line, "\n")] = '\0';
		FAIL_IF(core_log_ref[k] == NULL);
		/* "debug states:" then the alignment padding. */
		FAIL_IF(strncmp(line, "debug states:", 13) != 0);
		p = line + 13 + strspn(line + 13, " ");
		if (strcmp(p, core_log_ref[k]) != 0)
			fprintf(stderr, "log %d: '%s'\n", k, line);
		FAIL_IF(strcmp(p, core_log_ref[k]) != 0);
	}
	FAIL_IF(core_log_ref[k] != NULL);
	fclose(log);
	fsm_free(m);
	fsm_def_free(d);
}

/* --- first matching transition, FSM_ANY fallback ------------------------- */

static void
test_order_and_any(void)
{
	struct fsm_state *a, *b, *c;
	struct fsm_def *d;
	struct fsm *m;

	tr_reset();
	d = fsm_def_new("order", FSM_TYPE_BIDIRECTIONAL);
	a = fsm_state_new(d, "a", NULL, NULL);
	b = fsm_state_new(d, "b", NULL, NULL);
	c = fsm_state_new(d, "c", NULL, NULL);
	FAIL_IF(a == NULL || b == NULL || c == NULL);
	FAIL_IF(fsm_on(d, a, FSM_EV_UP, w_false, x_say, b, "a1 on $"));
	FAIL_IF(fsm_on(d, a, FSM_EV_UP, NULL, x_say, b, "a2 on $"));
	FAIL_IF(fsm_on(d, a, FSM_EV_UP, NULL, x_say, c, "a3 on $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_UP, w_true, x_say, NULL, "any on $"));
	FAIL_IF(fsm_on(d, c, FSM_EV_DOWN, w_false, x_say, a, "never"));
	fsm_initial(d, a);
	m = fsm_new(d, NULL, NULL);
	FAIL_IF(m == NULL);

	/* a1's when is false: skipped; a2 runs and jumps; a3 is not tried. */
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	FAIL_IF(fsm_current(m) != b);
	/* b has no own 'up': the FSM_ANY one (when true, no jump). */
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	FAIL_IF(fsm_current(m) != b);
	/* No match at all: nothing happens. */
	FAIL_IF(fsm_trigger(m, FSM_EV_DOWN, NULL) != HK_OK);
	FAIL_IF(fsm_current(m) != b);
	FAIL_IF(strcmp(trace, "a2 on a\n"
	                      "any on b\n") != 0);
	fsm_jump(m, c);
	FAIL_IF(fsm_trigger(m, FSM_EV_DOWN, NULL) != HK_OK);
	FAIL_IF(fsm_current(m) != c);
	FAIL_IF(strcmp(fsm_state_name(fsm_current(m)), "c") != 0);
	fsm_free(m);
	fsm_def_free(d);
}

/* --- finish pseudo-state; a finished instance ignores everything ------- */

static void
test_finish(void)
{
	static const uint8_t bytes[] = "abc";
	struct fsm_state *a, *b;
	struct fsm_def *d;
	struct ginput in;
	struct hk_time t;
	uint64_t keep = 77;
	struct fsm *m;

	tr_reset();
	d = fsm_def_new("fin", FSM_TYPE_BIDIRECTIONAL);
	a = fsm_state_new(d, "a", NULL, NULL);
	b = fsm_state_new(d, "b", NULL, NULL);
	FAIL_IF(fsm_on(d, a, FSM_EV_UP, NULL, NULL, FSM_FINISH, NULL));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_LEAVE, NULL, x_say, b, "leave $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_FAIL, NULL, x_say, b, "fail $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_FINISH, NULL, x_say, b, "finish $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_ENTER, NULL, x_say, NULL, "enter $"));
	FAIL_IF(fsm_on_timeout(d, FSM_ANY, 1, NULL, x_say, NULL, "tick $"));
	fsm_initial(d, a);
	t = at(10);
	m = fsm_new(d, NULL, &t);
	FAIL_IF(m == NULL);
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	/* leave then finish; the jumps of leave/finish are ignored. */
	FAIL_IF(strcmp(trace, "enter a\n"
	                      "leave a\n"
	                      "finish a\n") != 0);
	FAIL_IF_NOT(fsm_finished(m));
	FAIL_IF(fsm_current(m) != NULL);
	FAIL_IF(strcmp(fsm_current_name(m), "finish") != 0);

	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_ERR);
	fsm_jump(m, b);
	fsm_jump(m, FSM_FAIL);
	t = at(100);
	fsm_tick(m, &t);
	in.span = NULL;
	in.ctx = (void *)bytes;
	in.end = 3;
	in.eof = false;
	FAIL_IF(fsm_update(m, FSM_UP, &in, &keep) != HK_ERR);
	FAIL_IF(keep != 77);
	fsm_resync(m, FSM_UP, 0);
	FAIL_IF(strcmp(trace, "enter a\n"
	                      "leave a\n"
	                      "finish a\n") != 0);
	FAIL_IF(strcmp(fsm_current_name(m), "finish") != 0);
	fsm_free(m);
	fsm_def_free(d);
}

/* --- definition errors --------------------------------------------------- */

static void
test_definition_errors(void)
{
	struct fsm_def *d, *d2;
	struct fsm_state *a, *b, *other;
	struct fsm *m;
	char name[16];
	int i;

	d = fsm_def_new("basic", FSM_TYPE_BASIC);
	d2 = fsm_def_new("other", FSM_TYPE_BASIC);
	FAIL_IF(d == NULL || d2 == NULL);
	FAIL_IF(strcmp(fsm_def_name(d), "basic") != 0);
	a = fsm_state_new(d, "a", NULL, NULL);
	FAIL_IF(a == NULL);
	FAIL_IF(strcmp(fsm_state_name(a), "a") != 0);
	other = fsm_state_new(d2, "x", NULL, NULL);
	FAIL_IF(other == NULL);

	/* Events of the bidirectional type are unknown to a basic one. */
	FAIL_IF(fsm_on(d, a, FSM_EV_UP, NULL, x_say, NULL, "") != HK_ERR);
	FAIL_IF(fsm_on(d, a, FSM_EV_DOWN, NULL, x_say, NULL, "") != HK_ERR);
	FAIL_IF(fsm_on(d, a, FSM_EV_PARSE_ERROR, NULL, x_say, NULL, "") !=
	        HK_ERR);
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_MISSING_GRAMMAR, NULL, x_say, NULL,
	               "") != HK_ERR);
	FAIL_IF(fsm_on(d, a, FSM_EV_COUNT, NULL, x_say, NULL, "") != HK_ERR);
	FAIL_IF(fsm_on(d, a, (enum fsm_event) - 1, NULL, x_say, NULL, "") !=
	        HK_ERR);
	/* Every basic event is accepted. */
	FAIL_IF(fsm_on(d, a, FSM_EV_ENTER, NULL, x_say, NULL, "") != HK_OK);
	FAIL_IF(fsm_on(d, a, FSM_EV_LEAVE, NULL, x_say, NULL, "") != HK_OK);
	FAIL_IF(fsm_on(d, a, FSM_EV_INIT, NULL, x_say, NULL, "") != HK_OK);
	FAIL_IF(fsm_on(d, a, FSM_EV_FAIL, NULL, x_say, NULL, "") != HK_OK);
	FAIL_IF(fsm_on(d, a, FSM_EV_FINISH, NULL, x_say, NULL, "") != HK_OK);
	/* Timeouts need their delay. */
	FAIL_IF(fsm_on(d, a, FSM_EV_TIMEOUT, NULL, x_say, NULL, "") != HK_ERR);
	FAIL_IF(fsm_on_timeout(d, a, 0, NULL, x_say, NULL, "") != HK_ERR);
	FAIL_IF(fsm_on_timeout(d, a, -1, NULL, x_say, NULL, "") != HK_ERR);
	FAIL_IF(fsm_on_timeout(d, a, NAN, NULL, x_say, NULL, "") != HK_ERR);
	FAIL_IF(fsm_on_timeout(d, a, 0.1, NULL, x_say, NULL, "") != HK_OK);
	/* Neither execute nor jump; bad states. */
	FAIL_IF(fsm_on(d, a, FSM_EV_ENTER, w_true, NULL, NULL, NULL) != HK_ERR);
	FAIL_IF(fsm_on(d, FSM_FAIL, FSM_EV_ENTER, NULL, x_say, NULL, "") !=
	        HK_ERR);
	FAIL_IF(fsm_on(d, other, FSM_EV_ENTER, NULL, x_say, NULL, "") !=
	        HK_ERR);
	FAIL_IF(fsm_on(d, a, FSM_EV_ENTER, NULL, NULL, other, NULL) != HK_ERR);
	FAIL_IF(fsm_on(d, a, FSM_EV_ENTER, NULL, NULL, FSM_ANY, NULL) !=
	        HK_ERR);
	/* Grammars on a basic machine, reserved and duplicate names. */
	FAIL_IF(fsm_state_new(d, "g", (const struct gnode *)d, NULL) != NULL);
	FAIL_IF(fsm_state_new(d, "a", NULL, NULL) != NULL);
	FAIL_IF(fsm_state_new(d, "fail", NULL, NULL) != NULL);
	FAIL_IF(fsm_state_new(d, "finish", NULL, NULL) != NULL);
	FAIL_IF(fsm_state_new(d, "any", NULL, NULL) != NULL);
	FAIL_IF(fsm_state_new(d, "", NULL, NULL) != NULL);
	/* Up to 64 states. */
	for (i = 1; i < 64; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		FAIL_IF(fsm_state_new(d, name, NULL, NULL) == NULL);
	}
	FAIL_IF(fsm_state_new(d, "s64", NULL, NULL) != NULL);

	/* No initial state: check fails, no instance. */
	FAIL_IF(fsm_def_check(d, NULL) != HK_ERR);
	FAIL_IF(fsm_new(d, NULL, NULL) != NULL);
	fsm_initial(d, other); /* ignored: another definition */
	FAIL_IF(fsm_new(d, NULL, NULL) != NULL);

	/* A basic machine has no event a caller may fire. */
	b = fsm_state_new(d2, "y", NULL, NULL);
	FAIL_IF(b == NULL);
	fsm_initial(d2, other);
	m = fsm_new(d2, NULL, NULL);
	FAIL_IF(m == NULL);
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_ERR);
	FAIL_IF(fsm_trigger(m, FSM_EV_ENTER, NULL) != HK_ERR);
	FAIL_IF(fsm_trigger(m, FSM_EV_FAIL, NULL) != HK_ERR);
	FAIL_IF(fsm_update(m, FSM_UP, NULL, NULL) != HK_ERR);
	FAIL_IF(fsm_finished(m));

	FAIL_IF(strcmp(fsm_event_name(FSM_EV_MISSING_GRAMMAR),
	               "missing_grammar") != 0);
	FAIL_IF(strcmp(fsm_event_name(FSM_EV_PARSE_ERROR), "parse_error") != 0);
	FAIL_IF(strcmp(fsm_event_name(FSM_EV_COUNT), "unknown") != 0);
	FAIL_IF(strcmp(fsm_state_name(FSM_FAIL), "fail") != 0);
	FAIL_IF(strcmp(fsm_state_name(FSM_FINISH), "finish") != 0);
	FAIL_IF(strcmp(fsm_state_name(FSM_ANY), "any") != 0);
	fsm_free(m);
	fsm_def_free(d);
	fsm_def_free(d2);
	FAIL_IF(fsm_def_new("x", (enum fsm_type_kind)7) != NULL);
}

/* --- fsm_def_check warnings ----------------------------------------------- */

static void
test_def_check(void)
{
	struct fsm_state *a, *b, *c, *e, *f;
	struct fsm_def *d;

	tr_reset();
	d = fsm_def_new("smtp", FSM_TYPE_BASIC);
	a = fsm_state_new(d, "a", NULL, NULL);
	b = fsm_state_new(d, "b", NULL, NULL);
	c = fsm_state_new(d, "c", NULL, NULL);
	e = fsm_state_new(d, "e", NULL, NULL);
	f = fsm_state_new(d, "f", NULL, NULL);
	FAIL_IF(f == NULL);
	/* b by a leave, e by an FSM_ANY transition, c by a timeout. */
	FAIL_IF(fsm_on(d, a, FSM_EV_LEAVE, NULL, NULL, b, NULL));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_FAIL, NULL, NULL, e, NULL));
	FAIL_IF(fsm_on_timeout(d, b, 3, NULL, NULL, c, NULL));
	FAIL_IF(fsm_on(d, f, FSM_EV_ENTER, NULL, NULL, FSM_FINISH, NULL));
	FAIL_IF(fsm_def_check(d, warn_cb) != HK_ERR);
	FAIL_IF(trace[0] != '\0');
	fsm_initial(d, a);
	FAIL_IF(fsm_def_check(d, warn_cb) != HK_OK);
	FAIL_IF(strcmp(trace, "state machine smtp never jump on state: f\n") !=
	        0);
	/* The initial state itself is never reported. */
	tr_reset();
	fsm_initial(d, f);
	FAIL_IF(fsm_def_check(d, warn_cb) != HK_OK);
	FAIL_IF(strcmp(trace, "state machine smtp never jump on state: a\n") !=
	        0);
	(void)e;
	fsm_def_free(d);
}

/* --- DOT ----------------------------------------------------------------- */

static void
test_dot(void)
{
	static const char ref[] =
	    "digraph state_machine {\n"
	    "fail [fillcolor=\"#ee0000\",style=\"filled\"]\n"
	    "finish [fillcolor=\"#00ee00\",style=\"filled\"]\n"
	    "session_initiation [fillcolor=\"#00d7ff\",style=\"filled\"]\n"
	    "session_initiation -> client_initiation;\n"
	    "session_initiation -> fail;\n"
	    "client_initiation -> response;\n"
	    "client_initiation -> fail;\n"
	    "response -> finish;\n"
	    "response -> command;\n"
	    "response -> fail;\n"
	    "command -> response;\n"
	    "command -> fail;\n"
	    "lonely -> fail;\n"
	    "}\n";
	struct fsm_state *si, *ci, *resp, *cmd, *lonely;
	struct fsm_def *d;
	char buf[2048];
	size_t n;
	FILE *f;

	d = fsm_def_new("smtp", FSM_TYPE_BIDIRECTIONAL);
	si = fsm_state_new(d, "session_initiation", NULL, NULL);
	ci = fsm_state_new(d, "client_initiation", NULL, NULL);
	resp = fsm_state_new(d, "response", NULL, NULL);
	cmd = fsm_state_new(d, "command", NULL, NULL);
	lonely = fsm_state_new(d, "lonely", NULL, NULL);
	FAIL_IF(lonely == NULL);
	fsm_initial(d, si);
	FAIL_IF(fsm_on(d, si, FSM_EV_DOWN, w_true, NULL, ci, NULL));
	FAIL_IF(fsm_on(d, si, FSM_EV_DOWN, NULL, NULL, ci, NULL));
	FAIL_IF(fsm_on(d, ci, FSM_EV_UP, NULL, NULL, resp, NULL));
	FAIL_IF(fsm_on(d, resp, FSM_EV_DOWN, w_false, NULL, cmd, NULL));
	FAIL_IF(fsm_on_timeout(d, resp, 300, NULL, NULL, FSM_FINISH, NULL));
	FAIL_IF(fsm_on(d, cmd, FSM_EV_UP, NULL, NULL, resp, NULL));
	/* An FSM_ANY edge goes from every state, listed once. */
	FAIL_IF(
	    fsm_on(d, FSM_ANY, FSM_EV_PARSE_ERROR, NULL, NULL, FSM_FAIL, NULL));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_MISSING_GRAMMAR, NULL, NULL, FSM_FAIL,
	               NULL));
	FAIL_IF(fsm_on(d, lonely, FSM_EV_ENTER, NULL, x_say, NULL, "x"));
	FAIL_IF(fsm_on(d, resp, FSM_EV_DOWN, NULL, NULL, FSM_FAIL, NULL));
	f = tmpfile();
	FAIL_IF(f == NULL);
	fsm_dump_dot(d, f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fsm_def_free(d);
	if (strcmp(buf, ref) != 0)
		fprintf(stderr, "dot:\n%s", buf);
	FAIL_IF(strcmp(buf, ref) != 0);
}

/* --- re-entrancy ---------------------------------------------------------- */

struct reent_ctx {
	struct fsm_state *target;
};

/* execute of 'up': fires 'down' on the same instance. */
static void
reent_up(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	say(m, "up start on $");
	FAIL_IF(fsm_trigger(m, FSM_EV_DOWN, NULL) != HK_OK);
	say(m, "up end on $");
}

static void
reent_jump(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct reent_ctx *c = ctx;

	say(m, arg);
	fsm_jump(m, c->target);
	say(m, "still on $");
}

static void
test_reentrant(void)
{
	struct fsm_state *a, *b, *c, *e;
	struct reent_ctx ctx;
	struct fsm_def *d;
	struct fsm *m;

	tr_reset();
	d = fsm_def_new("reent", FSM_TYPE_BIDIRECTIONAL);
	a = fsm_state_new(d, "a", NULL, NULL);
	b = fsm_state_new(d, "b", NULL, NULL);
	c = fsm_state_new(d, "c", NULL, NULL);
	e = fsm_state_new(d, "e", NULL, NULL);
	FAIL_IF(e == NULL);
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_ENTER, NULL, x_say, NULL, "enter $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_LEAVE, NULL, x_say, NULL, "leave $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_FAIL, NULL, x_say, NULL, "fail $"));
	FAIL_IF(
	    fsm_on(d, FSM_ANY, FSM_EV_FINISH, NULL, x_say, NULL, "finish $"));
	/* a: up's execute fires down, whose transition jumps to c. */
	FAIL_IF(fsm_on(d, a, FSM_EV_UP, NULL, reent_up, NULL, NULL));
	FAIL_IF(fsm_on(d, a, FSM_EV_DOWN, NULL, x_say, c, "down on $"));
	/* c: a jump asked during execute replaces the transition's own. */
	FAIL_IF(fsm_on(d, c, FSM_EV_UP, NULL, reent_jump, b, "up on $"));
	/* b: an enter that jumps from its execute redirects. */
	FAIL_IF(fsm_on(d, e, FSM_EV_ENTER, NULL, reent_jump, NULL, "enter e"));
	/* e's up: jump to a state and fail: fail wins. */
	FAIL_IF(fsm_on(d, b, FSM_EV_UP, NULL, reent_jump, e, "up on $"));
	fsm_initial(d, a);
	ctx.target = NULL;
	m = fsm_new(d, &ctx, NULL);
	FAIL_IF(m == NULL);

	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	FAIL_IF(fsm_current(m) != c);
	FAIL_IF(strcmp(trace, "enter a\n"
	                      "up start on a\n"
	                      "down on a\n"
	                      "up end on a\n"
	                      "leave a\n"
	                      "enter c\n") != 0);

	tr_reset();
	ctx.target = a;
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	FAIL_IF(fsm_current(m) != a);
	FAIL_IF(strcmp(trace, "up on c\n"
	                      "still on c\n"
	                      "leave c\n"
	                      "enter a\n") != 0);

	/* From outside: applied at once. */
	tr_reset();
	fsm_jump(m, b);
	FAIL_IF(fsm_current(m) != b);
	/* b's up would jump to e: the jump asked during execute replaces it. */
	tr_reset();
	ctx.target = c;
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	FAIL_IF(strcmp(trace, "up on b\n"
	                      "still on b\n"
	                      "leave b\n"
	                      "enter c\n") != 0);
	FAIL_IF(fsm_current(m) != c);

	/* A queued FSM_FAIL wins over the transition's jump. */
	fsm_jump(m, b);
	tr_reset();
	ctx.target = FSM_FAIL;
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	FAIL_IF(strcmp(trace, "up on b\n"
	                      "still on b\n"
	                      "fail b\n"
	                      "leave b\n"
	                      "finish b\n") != 0);
	FAIL_IF_NOT(fsm_finished(m));
	fsm_free(m);

	/* An enter whose execute jumps redirects. */
	tr_reset();
	ctx.target = c;
	fsm_initial(d, e);
	m = fsm_new(d, &ctx, NULL);
	FAIL_IF(m == NULL);
	FAIL_IF(fsm_current(m) != c);
	FAIL_IF(strcmp(trace, "enter e\n"
	                      "still on e\n"
	                      "leave e\n"
	                      "enter c\n") != 0);
	fsm_free(m);
	fsm_def_free(d);
}

/* --- redirection loops, leave redirections, init jumps ---------------- */

static int loop_enters;

static void
count_enter(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	loop_enters++;
}

static void
test_redirect_loop(void)
{
	struct fsm_state *s, *a, *b;
	struct fsm_def *d;
	struct fsm *m;
	char *p;
	int n;

	tr_reset();
	d = fsm_def_new("loop", FSM_TYPE_BIDIRECTIONAL);
	s = fsm_state_new(d, "s", NULL, NULL);
	a = fsm_state_new(d, "a", NULL, NULL);
	b = fsm_state_new(d, "b", NULL, NULL);
	FAIL_IF(b == NULL);
	FAIL_IF(fsm_on(d, a, FSM_EV_ENTER, NULL, count_enter, b, NULL));
	FAIL_IF(fsm_on(d, b, FSM_EV_ENTER, NULL, count_enter, a, NULL));
	FAIL_IF(fsm_on(d, s, FSM_EV_UP, NULL, NULL, a, NULL));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_LEAVE, NULL, x_say, NULL, "leave $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_FAIL, NULL, x_say, NULL, "fail $"));
	FAIL_IF(
	    fsm_on(d, FSM_ANY, FSM_EV_FINISH, NULL, x_say, NULL, "finish $"));
	fsm_initial(d, s);
	m = fsm_new(d, NULL, NULL);
	FAIL_IF(m == NULL);
	loop_enters = 0;
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	FAIL_IF_NOT(fsm_finished(m));
	FAIL_IF(strcmp(fsm_current_name(m), "fail") != 0);
	/* The jump plus 16 redirections, then fail. */
	FAIL_IF(loop_enters != 17);
	for (n = 0, p = trace; (p = strstr(p, "leave ")) != NULL; p++)
		n++;
	FAIL_IF(n != 18);
	FAIL_IF(strstr(trace, "leave b\nfail a\nleave a\nfinish a\n") == NULL);
	fsm_free(m);
	fsm_def_free(d);
}

static void
test_leave_redirect_and_init(void)
{
	struct fsm_state *a, *b, *c, *z;
	struct fsm_def *d;
	struct fsm *m;

	tr_reset();
	d = fsm_def_new("lv", FSM_TYPE_BIDIRECTIONAL);
	a = fsm_state_new(d, "a", NULL, NULL);
	b = fsm_state_new(d, "b", NULL, NULL);
	c = fsm_state_new(d, "c", NULL, NULL);
	z = fsm_state_new(d, "z", NULL, NULL);
	FAIL_IF(z == NULL);
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_ENTER, NULL, x_say, NULL, "enter $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_LEAVE, NULL, x_say, NULL, "leave $"));
	FAIL_IF(fsm_on(d, FSM_ANY, FSM_EV_FAIL, NULL, x_say, NULL, "fail $"));
	FAIL_IF(
	    fsm_on(d, FSM_ANY, FSM_EV_FINISH, NULL, x_say, NULL, "finish $"));
	/* init runs after enter, on the current state, and may jump. */
	FAIL_IF(fsm_on(d, a, FSM_EV_INIT, NULL, x_say, b, "init $"));
	FAIL_IF(fsm_on(d, b, FSM_EV_UP, NULL, NULL, c, NULL));
	FAIL_IF(fsm_on(d, b, FSM_EV_LEAVE, NULL, x_say, FSM_FAIL,
	               "leave b to fail"));
	FAIL_IF(fsm_on(d, c, FSM_EV_ENTER, NULL, x_say, NULL, "never"));
	fsm_initial(d, a);
	m = fsm_new(d, NULL, NULL);
	FAIL_IF(m == NULL);
	FAIL_IF(fsm_current(m) != b);
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	/* The leave redirected to fail: fail, no second leave, finish. */
	FAIL_IF(strcmp(trace, "enter a\n"
	                      "init a\n"
	                      "leave a\n"
	                      "enter b\n"
	                      "leave b to fail\n"
	                      "fail b\n"
	                      "finish b\n") != 0);
	FAIL_IF_NOT(fsm_finished(m));
	fsm_free(m);

	/* An initial state whose enter fails: finished at once, no init. */
	tr_reset();
	FAIL_IF(fsm_on(d, z, FSM_EV_ENTER, NULL, x_say, FSM_FAIL, "enter z"));
	FAIL_IF(fsm_on(d, z, FSM_EV_INIT, NULL, x_say, NULL, "init z"));
	fsm_initial(d, z);
	m = fsm_new(d, NULL, NULL);
	FAIL_IF(m == NULL);
	FAIL_IF_NOT(fsm_finished(m));
	FAIL_IF(strcmp(trace, "enter z\n"
	                      "fail z\n"
	                      "leave z\n"
	                      "finish z\n") != 0);
	fsm_free(m);
	fsm_def_free(d);
}

/* --- timeouts --------------------------------------------------------------
 */

static void
test_timeouts(void)
{
	struct fsm_state *a, *b;
	struct fsm_def *d;
	struct hk_time t;
	struct fsm *m;
	bool go = false;

	tr_reset();
	d = fsm_def_new("tmo", FSM_TYPE_BIDIRECTIONAL);
	a = fsm_state_new(d, "a", NULL, NULL);
	b = fsm_state_new(d, "b", NULL, NULL);
	FAIL_IF(b == NULL);
	FAIL_IF(fsm_on_timeout(d, a, 2, NULL, x_say, NULL, "2s on $"));
	FAIL_IF(fsm_on_timeout(d, a, 1, NULL, x_say, NULL, "1s on $"));
	FAIL_IF(fsm_on_timeout(d, a, 3, w_false, x_say, b, "never"));
	FAIL_IF(fsm_on_timeout(d, FSM_ANY, 1.5, NULL, x_say, NULL,
	                       "any 1.5s on $"));
	FAIL_IF(fsm_on(d, a, FSM_EV_UP, NULL, NULL, b, NULL));
	FAIL_IF(fsm_on(d, b, FSM_EV_UP, NULL, NULL, a, NULL));
	FAIL_IF(fsm_on_timeout(d, b, 0.25, NULL, x_say, a, "back from $"));
	fsm_initial(d, a);
	(void)go;
	t = at(100);
	m = fsm_new(d, NULL, &t);
	FAIL_IF(m == NULL);
	t = at(100.999999999);
	fsm_tick(m, &t);
	FAIL_IF(trace[0] != '\0');
	/* Definition order, own first then FSM_ANY. */
	t = at(102);
	fsm_tick(m, &t);
	FAIL_IF(strcmp(trace, "2s on a\n"
	                      "1s on a\n"
	                      "any 1.5s on a\n") != 0);
	/* Once per call however late; re-armed on the period's grid. */
	tr_reset();
	t = at(102.5);
	fsm_tick(m, &t);
	FAIL_IF(trace[0] != '\0');
	t = at(103);
	fsm_tick(m, &t);
	FAIL_IF(strcmp(trace, "1s on a\n"
	                      "any 1.5s on a\n") != 0);
	/* A clock going backwards is ignored. */
	tr_reset();
	t = at(50);
	fsm_tick(m, &t);
	FAIL_IF(trace[0] != '\0');
	/* A state change restarts the timers from the last clock value. */
	FAIL_IF(fsm_trigger(m, FSM_EV_UP, NULL) != HK_OK);
	FAIL_IF(fsm_current(m) != b);
	t = at(103.2);
	fsm_tick(m, &t);
	FAIL_IF(trace[0] != '\0');
	/* The first due timer that changes the state stops the tick. */
	t = at(103.25);
	fsm_tick(m, &t);
	FAIL_IF(strcmp(trace, "back from b\n") != 0);
	FAIL_IF(fsm_current(m) != a);
	tr_reset();
	t = at(104.25);
	fsm_tick(m, &t);
	FAIL_IF(strcmp(trace, "1s on a\n") != 0);
	fsm_free(m);
	fsm_def_free(d);
}

/* --- bidirectional update with the grammar engine --------------------------
 */

struct gtest_input {
	const uint8_t *data;
	uint64_t base; /* absolute offset of data[0] */
	uint64_t len;
};

static const uint8_t *
gtest_span(void *ctx, uint64_t off, size_t *len)
{
	struct gtest_input *gi = ctx;

	if (off < gi->base || off >= gi->base + gi->len)
		return NULL;
	*len = (size_t)(gi->base + gi->len - off);
	return gi->data + (off - gi->base);
}

struct gtest_ctx {
	struct fsm_state *words, *digits, *other;
	uint64_t resync_to;
	bool resync_in_error;
};

/* up/down/parse_error/missing_grammar: trace what arrived. */
static void
g_event(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	const struct gresult *w;
	char line[256];

	switch (a->event) {
	case FSM_EV_UP:
	case FSM_EV_DOWN:
		w = gresult_get(a->res, "w");
		snprintf(line, sizeof(line), "%s %s %s [%llu,%llu) on %s",
		         (const char *)arg, fsm_event_name(a->event),
		         w != NULL ? (const char *)w->s : "?",
		         (unsigned long long)a->res->off,
		         (unsigned long long)a->res->end, fsm_current_name(m));
		break;
	case FSM_EV_PARSE_ERROR:
		snprintf(line, sizeof(line), "%s parse_error dir %d at %llu",
		         (const char *)arg, a->dir,
		         (unsigned long long)a->error->position);
		break;
	case FSM_EV_MISSING_GRAMMAR:
		snprintf(line, sizeof(line),
		         "%s missing_grammar dir %d off %llu len %llu",
		         (const char *)arg, a->dir, (unsigned long long)a->off,
		         (unsigned long long)a->len);
		break;
	default:
		snprintf(line, sizeof(line), "?");
	}
	tr_add(line);
}

static void
g_error_resync(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct gtest_ctx *c = ctx;

	g_event(ctx, m, a, arg);
	if (c->resync_in_error)
		fsm_resync(m, a->dir, c->resync_to);
}

struct gtest {
	struct grammar *g;
	struct gnode *line, *num;
	struct fsm_def *d;
	struct fsm_state *words, *digits, *silent;
};

/*
 * line: w = [a-z]+ then "\n"; num: w = [0-9]+ then "\n". State words
 * parses lines both ways and moves to digits on "go" (up); digits parses
 * numbers up, lines down, and goes back on "0"; silent has no grammar.
 */
static bool
w_is(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	const struct gresult *w = gresult_get(a->res, "w");

	return w != NULL && strcmp((const char *)w->s, arg) == 0;
}

static int
gtest_build(struct gtest *t)
{
	char err[256];

	memset(t, 0, sizeof(*t));
	t->g = grammar_new("test");
	if (t->g == NULL)
		return HK_ERR;
	t->line =
	    g_record(t->g, "line", g_field(t->g, "w", g_token(t->g, "[a-z]+")),
	             g_token(t->g, "%n"), NULL);
	t->num =
	    g_record(t->g, "num", g_field(t->g, "w", g_token(t->g, "[0-9]+")),
	             g_token(t->g, "%n"), NULL);
	grammar_export(t->g, "line", t->line);
	grammar_export(t->g, "num", t->num);
	if (grammar_compile(t->g, err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "grammar: %s\n", err);
		return HK_ERR;
	}
	t->d = fsm_def_new("bidi", FSM_TYPE_BIDIRECTIONAL);
	fsm_def_set_grammar(t->d, t->g);
	t->words = fsm_state_new(t->d, "words", t->line, t->line);
	t->digits = fsm_state_new(t->d, "digits", t->num, t->line);
	t->silent = fsm_state_new(t->d, "silent", NULL, NULL);
	if (t->silent == NULL)
		return HK_ERR;
	fsm_on(t->d, t->words, FSM_EV_UP, w_is, g_event, t->digits,
	       (void *)"go");
	fsm_on(t->d, t->words, FSM_EV_UP, w_is, g_event, t->silent,
	       (void *)"quiet");
	fsm_on(t->d, t->digits, FSM_EV_UP, w_is, g_event, t->words,
	       (void *)"0");
	fsm_on(t->d, FSM_ANY, FSM_EV_UP, NULL, g_event, NULL, (void *)"ev");
	fsm_on(t->d, FSM_ANY, FSM_EV_DOWN, NULL, g_event, NULL, (void *)"ev");
	fsm_on(t->d, FSM_ANY, FSM_EV_PARSE_ERROR, NULL, g_error_resync, NULL,
	       (void *)"ev");
	fsm_on(t->d, FSM_ANY, FSM_EV_MISSING_GRAMMAR, NULL, g_event, NULL,
	       (void *)"ev");
	fsm_initial(t->d, t->words);
	return HK_OK;
}

static void
gtest_free(struct gtest *t)
{
	fsm_def_free(t->d);
	grammar_free(t->g);
}

/* Feed data[0..len) to dir as one span from base (already fed before). */
static int
feed(struct fsm *m, int dir, const char *data, uint64_t base, uint64_t len,
     uint64_t *keep)
{
	struct gtest_input gi = {(const uint8_t *)data, base, len};
	struct ginput in = {gtest_span, &gi, base + len, false};

	return fsm_update(m, dir, &in, keep);
}

static void
test_update_up_down(void)
{
	const char up[] = "hello\nworld\nhal";
	const char down[] = "yes\n";
	struct gtest_ctx c = {0};
	struct gtest t;
	uint64_t keep = 0;
	struct fsm *m;

	tr_reset();
	FAIL_IF(gtest_build(&t) != HK_OK);
	m = fsm_new(t.d, &c, NULL);
	FAIL_IF(m == NULL);
	FAIL_IF(feed(m, FSM_UP, up, 0, strlen(up), &keep) != HK_OK);
	/* "hal" is in progress: the parser pins its start. */
	FAIL_IF(keep != 12);
	FAIL_IF(feed(m, FSM_DOWN, down, 0, strlen(down), &keep) != HK_OK);
	FAIL_IF(keep != 4);
	FAIL_IF(strcmp(trace, "ev up hello [0,6) on words\n"
	                      "ev up world [6,12) on words\n"
	                      "ev down yes [0,4) on words\n") != 0);
	/* The rest of the element arrives: "hal" + "lo\n". */
	tr_reset();
	FAIL_IF(feed(m, FSM_UP, "hallo\n", 12, 6, &keep) != HK_OK);
	FAIL_IF(keep != 18);
	FAIL_IF(strcmp(trace, "ev up hallo [12,18) on words\n") != 0);
	fsm_free(m);
	gtest_free(&t);
}

/* Byte by byte: the same events. */
static void
test_update_split(void)
{
	const char up[] = "ab\ngo\n12\n0\ncd\n";
	const char *ref = "ev up ab [0,3) on words\n"
	                  "go up go [3,6) on words\n"
	                  "ev up 12 [6,9) on digits\n"
	                  "0 up 0 [9,11) on digits\n"
	                  "ev up cd [11,14) on words\n";
	struct gtest_ctx c = {0};
	struct gtest t;
	uint64_t keep = 0, i, n = strlen(up);
	struct fsm *m;

	FAIL_IF(gtest_build(&t) != HK_OK);
	tr_reset();
	m = fsm_new(t.d, &c, NULL);
	FAIL_IF(feed(m, FSM_UP, up, 0, n, &keep) != HK_OK);
	FAIL_IF(keep != n);
	if (strcmp(trace, ref) != 0)
		fprintf(stderr, "trace:\n%s", trace);
	FAIL_IF(strcmp(trace, ref) != 0);
	fsm_free(m);

	tr_reset();
	m = fsm_new(t.d, &c, NULL);
	for (i = 1; i <= n; i++) {
		/* The caller keeps bytes from keep on: give them all again. */
		FAIL_IF(feed(m, FSM_UP, up + keep, keep, i - keep, &keep) !=
		        HK_OK);
		FAIL_IF(keep > i);
	}
	FAIL_IF(keep != n);
	FAIL_IF(strcmp(trace, ref) != 0);
	fsm_free(m);
	gtest_free(&t);
}

/*
 * An element begun under one state finishes with the grammar it began
 * with, even when the other direction changes the state meanwhile.
 */
static void
test_update_grammar_in_effect(void)
{
	struct gtest_ctx c = {0};
	struct gtest t;
	uint64_t keep = 0;
	struct fsm *m;

	FAIL_IF(gtest_build(&t) != HK_OK);
	/* A 'down' line "go" also moves words to digits. */
	FAIL_IF(fsm_on(t.d, t.words, FSM_EV_DOWN, w_is, g_event, t.digits,
	               (void *)"go"));
	tr_reset();
	m = fsm_new(t.d, &c, NULL);
	/* Up begins a line under words... */
	FAIL_IF(feed(m, FSM_UP, "ab", 0, 2, &keep) != HK_OK);
	FAIL_IF(keep != 0);
	/* ...the state changes to digits (up grammar: num)... */
	FAIL_IF(feed(m, FSM_DOWN, "go\n", 0, 3, &keep) != HK_OK);
	FAIL_IF(fsm_current(m) != t.digits);
	/* ...the line still ends with 'line'; the next element is a num. */
	FAIL_IF(feed(m, FSM_UP, "abc\n42\n", 0, 7, &keep) != HK_OK);
	FAIL_IF(keep != 7);
	if (strcmp(trace, "go down go [0,3) on words\n"
	                  "ev up abc [0,4) on digits\n"
	                  "ev up 42 [4,7) on digits\n") != 0)
		fprintf(stderr, "trace:\n%s", trace);
	FAIL_IF(strcmp(trace, "go down go [0,3) on words\n"
	                      "ev up abc [0,4) on digits\n"
	                      "ev up 42 [4,7) on digits\n") != 0);
	fsm_free(m);
	gtest_free(&t);
}

static void
test_update_missing_grammar(void)
{
	struct gtest_ctx c = {0};
	struct gtest t;
	uint64_t keep = 99;
	struct fsm *m;

	FAIL_IF(gtest_build(&t) != HK_OK);
	tr_reset();
	m = fsm_new(t.d, &c, NULL);
	/* "quiet" moves to silent; the bytes after it have no grammar. */
	FAIL_IF(feed(m, FSM_UP, "quiet\nxyz", 0, 9, &keep) != HK_OK);
	FAIL_IF(keep != 6);
	FAIL_IF(fsm_current(m) != t.silent);
	/* No bytes: no event. */
	FAIL_IF(feed(m, FSM_DOWN, "", 0, 0, &keep) != HK_OK);
	FAIL_IF(keep != 0);
	FAIL_IF(feed(m, FSM_DOWN, "abc", 0, 3, &keep) != HK_OK);
	FAIL_IF(keep != 0);
	if (strcmp(trace, "quiet up quiet [0,6) on words\n"
	                  "ev missing_grammar dir 0 off 6 len 3\n"
	                  "ev missing_grammar dir 1 off 0 len 3\n") != 0)
		fprintf(stderr, "trace:\n%s", trace);
	FAIL_IF(strcmp(trace, "quiet up quiet [0,6) on words\n"
	                      "ev missing_grammar dir 0 off 6 len 3\n"
	                      "ev missing_grammar dir 1 off 0 len 3\n") != 0);
	/* The caller jumps back and calls again: the bytes are parsed. */
	tr_reset();
	fsm_jump(m, t.words);
	FAIL_IF(feed(m, FSM_UP, "xyz\n", 6, 4, &keep) != HK_OK);
	FAIL_IF(keep != 10);
	FAIL_IF(strcmp(trace, "ev up xyz [6,10) on words\n") != 0);
	fsm_free(m);
	gtest_free(&t);
}

static void
test_update_parse_error(void)
{
	struct gtest_ctx c = {0};
	struct gtest t;
	uint64_t keep = 0;
	struct fsm *m;

	FAIL_IF(gtest_build(&t) != HK_OK);
	tr_reset();
	m = fsm_new(t.d, &c, NULL);
	/* "ab1" is not a line: parse_error, then the direction stops. */
	FAIL_IF(feed(m, FSM_UP, "ok\nab1\nfine\n", 0, 12, &keep) != HK_OK);
	/* Stopped: the bytes from the error position are kept. */
	FAIL_IF(keep != 5);
	FAIL_IF(strcmp(trace, "ev up ok [0,3) on words\n"
	                      "ev parse_error dir 0 at 5\n") != 0);
	tr_reset();
	FAIL_IF(feed(m, FSM_UP, "1\nfine\nmore\n", 5, 12, &keep) != HK_OK);
	FAIL_IF(keep != 5);
	FAIL_IF(trace[0] != '\0');
	/* The other direction goes on. */
	FAIL_IF(feed(m, FSM_DOWN, "dn\n", 0, 3, &keep) != HK_OK);
	FAIL_IF(keep != 3);
	FAIL_IF(strcmp(trace, "ev down dn [0,3) on words\n") != 0);
	/* Resync after the bad line. */
	tr_reset();
	fsm_resync(m, FSM_UP, 7);
	FAIL_IF(feed(m, FSM_UP, "fine\nmore\n", 7, 10, &keep) != HK_OK);
	FAIL_IF(keep != 17);
	FAIL_IF(strcmp(trace, "ev up fine [7,12) on words\n"
	                      "ev up more [12,17) on words\n") != 0);

	/* A parse_error transition may resync itself and go on. */
	tr_reset();
	c.resync_in_error = true;
	c.resync_to = 21;
	FAIL_IF(feed(m, FSM_UP, "x2y\nzz\n", 17, 7, &keep) != HK_OK);
	FAIL_IF(keep != 24);
	FAIL_IF(strcmp(trace, "ev parse_error dir 0 at 18\n"
	                      "ev up zz [21,24) on words\n") != 0);
	fsm_free(m);
	gtest_free(&t);
}

static void
x_resync(void *ctx, struct fsm *m, const struct fsm_args *a, void *arg)
{
	struct gtest_ctx *c = ctx;

	g_event(ctx, m, a, arg);
	fsm_resync(m, a->dir, c->resync_to);
}

/* An up transition that resyncs chooses where the next element starts. */
static void
test_update_resync_in_transition(void)
{
	struct gtest_ctx c = {0};
	struct gtest t;
	uint64_t keep = 0;
	struct fsm *m;

	FAIL_IF(gtest_build(&t) != HK_OK);
	FAIL_IF(fsm_on(t.d, t.words, FSM_EV_UP, w_is, x_resync, NULL,
	               (void *)"skip"));
	tr_reset();
	c.resync_to = 7;
	m = fsm_new(t.d, &c, NULL);
	FAIL_IF(feed(m, FSM_UP, "skip\n12ab\n", 0, 10, &keep) != HK_OK);
	FAIL_IF(keep != 10);
	FAIL_IF(strcmp(trace, "skip up skip [0,5) on words\n"
	                      "ev up ab [7,10) on words\n") != 0);
	fsm_free(m);
	gtest_free(&t);
}

static void
test_update_eof_and_finish(void)
{
	struct gtest_ctx c = {0};
	struct gtest_input gi = {(const uint8_t *)"ab\ncd", 0, 5};
	struct ginput in = {gtest_span, &gi, 5, true};
	struct gtest t;
	uint64_t keep = 0;
	struct fsm *m;

	FAIL_IF(gtest_build(&t) != HK_OK);
	/* "end" finishes the machine. */
	FAIL_IF(
	    fsm_on(t.d, FSM_ANY, FSM_EV_FINISH, NULL, x_say, NULL, "finish $"));
	FAIL_IF(fsm_on(t.d, t.words, FSM_EV_DOWN, w_is, g_event, FSM_FINISH,
	               (void *)"end"));
	tr_reset();
	m = fsm_new(t.d, &c, NULL);
	/* The input ends inside an element: a parse error. */
	FAIL_IF(fsm_update(m, FSM_UP, &in, &keep) != HK_OK);
	FAIL_IF(keep != 5);
	FAIL_IF(strcmp(trace, "ev up ab [0,3) on words\n"
	                      "ev parse_error dir 0 at 5\n") != 0);
	/* At the end of the input with no element begun: nothing. */
	tr_reset();
	gi.data = (const uint8_t *)"x\n";
	gi.len = 2;
	in.end = 2;
	FAIL_IF(fsm_update(m, FSM_DOWN, &in, &keep) != HK_OK);
	FAIL_IF(keep != 2);
	FAIL_IF(fsm_update(m, FSM_DOWN, &in, &keep) != HK_OK);
	FAIL_IF(keep != 2);
	FAIL_IF(strcmp(trace, "ev down x [0,2) on words\n") != 0);
	/* The machine finishes during an update: HK_ERR, keep untouched. */
	tr_reset();
	keep = 1234;
	FAIL_IF(feed(m, FSM_DOWN, "end\nmore\n", 2, 9, &keep) != HK_ERR);
	FAIL_IF(keep != 1234);
	FAIL_IF(strcmp(trace, "end down end [2,6) on words\n"
	                      "finish words\n") != 0);
	FAIL_IF(feed(m, FSM_DOWN, "more\n", 6, 5, &keep) != HK_ERR);
	fsm_free(m);
	gtest_free(&t);
}

int
main(void)
{
	RUN_TEST(test_core_state_machine);
	RUN_TEST(test_order_and_any);
	RUN_TEST(test_finish);
	RUN_TEST(test_definition_errors);
	RUN_TEST(test_def_check);
	RUN_TEST(test_dot);
	RUN_TEST(test_reentrant);
	RUN_TEST(test_redirect_loop);
	RUN_TEST(test_leave_redirect_and_init);
	RUN_TEST(test_timeouts);
	RUN_TEST(test_update_up_down);
	RUN_TEST(test_update_split);
	RUN_TEST(test_update_grammar_in_effect);
	RUN_TEST(test_update_missing_grammar);
	RUN_TEST(test_update_parse_error);
	RUN_TEST(test_update_resync_in_transition);
	RUN_TEST(test_update_eof_and_finish);
	gparser_pool_flush();
	UT_DONE();
}
