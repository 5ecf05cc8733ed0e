/*
 * Unit tests for src/flow/flow.c: creation and lookup in both
 * orientations, the seeded symmetric hash (tuples that collide in one
 * table are spread in another), growth of the table past its
 * initial 1024 buckets, destruction, the timeout lists (ordered by last
 * activity, flow_touch moves to the tail), flow_any, the table limit and
 * tcp_state_str.
 */
#include <string.h>

#include <haka/flow.h>

#include "unittest.h"

#define CLI 0xc0a80001 /* 192.168.0.1 */
#define SRV 0x0a000002 /* 10.0.0.2 */

/* The table under test; global so that a failed test can be cleaned. */
static struct flow_table *tab;

static void
drop_table(void)
{
	struct flow *f;

	if (tab == NULL)
		return;
	while ((f = flow_any(tab)) != NULL)
		flow_destroy(tab, f);
	flow_table_free(tab);
	tab = NULL;
}

static void
fresh(uint32_t max)
{
	drop_table();
	tab = flow_table_new(max);
	if (tab == NULL) {
		fprintf(stderr, "flow_table_new failed\n");
		exit(1);
	}
}

static struct hk_time
at(int64_t sec, int32_t nsec)
{
	struct hk_time t = {sec, nsec};

	return t;
}

/* f is found from both ends, with the right direction. */
static bool
found_both(struct flow *f, uint32_t cli, uint32_t srv, uint16_t cp, uint16_t sp)
{
	enum flow_dir d = FLOW_DOWN;

	if (flow_lookup(tab, cli, srv, cp, sp, &d) != f || d != FLOW_UP)
		return false;
	d = FLOW_UP;
	if (flow_lookup(tab, srv, cli, sp, cp, &d) != f || d != FLOW_DOWN)
		return false;
	return true;
}

static void
test_create_lookup(void)
{
	struct hk_time now = at(10, 500);
	struct flow *f, *g;
	enum flow_dir d;

	fresh(100);
	FAIL_IF(flow_count(tab) != 0 || flow_any(tab) != NULL);
	FAIL_IF(flow_lookup(tab, CLI, SRV, 1234, 25, &d) != NULL);
	f = flow_create(tab, CLI, SRV, 1234, 25, &now);
	FAIL_IF(f == NULL);
	FAIL_IF(f->cli_ip != CLI || f->srv_ip != SRV);
	FAIL_IF(f->cli_port != 1234 || f->srv_port != 25);
	FAIL_IF(f->id != 1 || flow_created(tab) != 1 || flow_count(tab) != 1);
	FAIL_IF(f->state != TCP_ST_SYN || f->flags != 0);
	FAIL_IF(f->first_ts.sec != 10 || f->first_ts.nsec != 500);
	FAIL_IF(f->last_ts.sec != 10 || f->last_ts.nsec != 500);
	FAIL_IF(f->list != FLOW_LIST_ACTIVE);
	FAIL_IF(f->dir[0].init || f->dir[1].init);
	FAIL_IF(f->lua_ref != -2 || f->app != NULL);
	FAIL_IF_NOT(found_both(f, CLI, SRV, 1234, 25));
	/* Near misses. */
	FAIL_IF(flow_lookup(tab, CLI, SRV, 1234, 26, &d) != NULL);
	FAIL_IF(flow_lookup(tab, CLI, SRV, 1235, 25, &d) != NULL);
	FAIL_IF(flow_lookup(tab, CLI, SRV, 25, 1234, &d) != NULL);
	FAIL_IF(flow_lookup(tab, SRV, CLI, 1234, 25, &d) != NULL);
	FAIL_IF(flow_lookup(tab, CLI + 1, SRV, 1234, 25, &d) != NULL);
	FAIL_IF(flow_lookup(tab, CLI, CLI, 1234, 25, &d) != NULL);

	/* The same addresses with the ports swapped: another connection. */
	g = flow_create(tab, CLI, SRV, 25, 1234, &now);
	FAIL_IF(g == NULL || g == f || g->id != 2);
	FAIL_IF_NOT(found_both(f, CLI, SRV, 1234, 25));
	FAIL_IF_NOT(found_both(g, CLI, SRV, 25, 1234));
	FAIL_IF(flow_count(tab) != 2);

	/* A connection with itself (same address and port on both ends). */
	f = flow_create(tab, CLI, CLI, 7, 7, &now);
	FAIL_IF(f == NULL);
	FAIL_IF(flow_lookup(tab, CLI, CLI, 7, 7, &d) != f);
	drop_table();
}

/* Growth past the initial 1024 buckets: every connection still found. */
static void
test_growth(void)
{
	static struct flow *fl[5000];
	struct hk_time now = at(1, 0);
	uint32_t i, n = 5000;

	fresh(1000000);
	for (i = 0; i < n; i++) {
		/* Few addresses, many ports: like real traffic. */
		uint32_t cli = CLI + (i % 7), srv = SRV + (i % 3);

		fl[i] =
		    flow_create(tab, cli, srv, (uint16_t)(1024 + i), 25, &now);
		FAIL_IF(fl[i] == NULL);
		FAIL_IF(fl[i]->id != i + 1);
		/* Check the early ones across each doubling. */
		if (i == 1023 || i == 1024 || i == 2048 || i == 4096) {
			uint32_t k;

			for (k = 0; k <= i; k++)
				FAIL_IF_NOT(found_both(
				    fl[k], CLI + (k % 7), SRV + (k % 3),
				    (uint16_t)(1024 + k), 25));
		}
	}
	FAIL_IF(flow_count(tab) != n || flow_created(tab) != n);
	for (i = 0; i < n; i++)
		FAIL_IF_NOT(found_both(fl[i], CLI + (i % 7), SRV + (i % 3),
		                       (uint16_t)(1024 + i), 25));
	/* Destroy every other one. */
	for (i = 0; i < n; i += 2)
		flow_destroy(tab, fl[i]);
	FAIL_IF(flow_count(tab) != n / 2);
	for (i = 0; i < n; i++) {
		enum flow_dir d;
		struct flow *f = flow_lookup(tab, CLI + (i % 7), SRV + (i % 3),
		                             (uint16_t)(1024 + i), 25, &d);

		if (i % 2 == 0)
			FAIL_IF(f != NULL);
		else
			FAIL_IF(f != fl[i] || d != FLOW_UP);
	}
	/* The timeout list still holds exactly the survivors, in order. */
	for (i = 1; i < n; i += 2) {
		struct flow *f = flow_expired(tab, FLOW_LIST_ACTIVE, &now);

		FAIL_IF(f != fl[i]);
		flow_destroy(tab, f);
	}
	FAIL_IF(flow_count(tab) != 0 || flow_any(tab) != NULL);
	drop_table();
}

/*
 * The hash is the same for both orientations, and seeded per table: 64
 * tuples that an attacker found to share a bucket of one table (its
 * first 1024 buckets) are spread over the buckets of another. With an
 * unseeded hash they would all share one chain there too. The chance
 * that 5 of 64 random hashes share one of 1024 buckets is below 1e-5.
 */
static void
test_seeded_hash(void)
{
	struct flow_table *other;
	static uint8_t seen[1024];
	uint32_t cli[64], srv, h, x = 7, n = 0, i;
	uint16_t port[64];
	uint8_t most = 0;

	fresh(1000);
	other = flow_table_new(1000);
	FAIL_IF(other == NULL);
	for (i = 0; i < 1000; i++) {
		x = x * 1103515245 + 12345;
		h = flow_table_hash(tab, CLI + x, SRV, (uint16_t)(x >> 7), 25);
		FAIL_IF(h != flow_table_hash(tab, SRV, CLI + x, 25,
		                             (uint16_t)(x >> 7)));
	}
	srv = SRV;
	for (i = 0; n < 64 && i < 10000000; i++) {
		x = x * 1103515245 + 12345;
		if ((flow_table_hash(tab, x, srv, (uint16_t)(x >> 16), 25) &
		     1023) != 0)
			continue;
		cli[n] = x;
		port[n++] = (uint16_t)(x >> 16);
	}
	FAIL_IF(n != 64);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < n; i++) {
		h = flow_table_hash(other, cli[i], srv, port[i], 25) & 1023;
		if (++seen[h] > most)
			most = seen[h];
	}
	flow_table_free(other);
	FAIL_IF(most > 4);
	drop_table();
}

static void
test_destroy(void)
{
	struct hk_time now = at(5, 0);
	struct flow *a, *b, *c;
	enum flow_dir d;

	fresh(10);
	a = flow_create(tab, CLI, SRV, 1000, 80, &now);
	b = flow_create(tab, CLI, SRV, 1001, 80, &now);
	c = flow_create(tab, CLI, SRV, 1002, 80, &now);
	FAIL_IF(a == NULL || b == NULL || c == NULL);
	/* The middle of the list. */
	flow_destroy(tab, b);
	FAIL_IF(flow_count(tab) != 2);
	FAIL_IF(flow_lookup(tab, CLI, SRV, 1001, 80, &d) != NULL);
	FAIL_IF(flow_lookup(tab, SRV, CLI, 80, 1001, &d) != NULL);
	FAIL_IF_NOT(found_both(a, CLI, SRV, 1000, 80));
	FAIL_IF_NOT(found_both(c, CLI, SRV, 1002, 80));
	FAIL_IF(a->lnext != c || c->lprev != a);
	/* The head, then the tail. */
	flow_destroy(tab, a);
	FAIL_IF(flow_any(tab) != c);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &now) != c);
	flow_destroy(tab, c);
	FAIL_IF(flow_any(tab) != NULL || flow_count(tab) != 0);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &now) != NULL);
	/* The table is usable again; ids keep counting. */
	a = flow_create(tab, CLI, SRV, 1001, 80, &now);
	FAIL_IF(a == NULL || a->id != 4 || flow_created(tab) != 4);
	FAIL_IF_NOT(found_both(a, CLI, SRV, 1001, 80));
	drop_table();
}

static void
test_expiry(void)
{
	struct hk_time t1 = at(1, 500), t2 = at(2, 0), t3 = at(3, 0),
	               t4 = at(4, 0), t;
	struct flow *f1, *f2, *f3;

	fresh(10);
	f1 = flow_create(tab, CLI, SRV, 1, 80, &t1);
	f2 = flow_create(tab, CLI, SRV, 2, 80, &t2);
	f3 = flow_create(tab, CLI, SRV, 3, 80, &t3);
	FAIL_IF(f1 == NULL || f2 == NULL || f3 == NULL);
	/* Nothing at or before 1.499; f1 at 1.500 exactly. */
	t = at(1, 499);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t) != NULL);
	t = at(0, 999999999);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t) != NULL);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t1) != f1);
	t = at(100, 0);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t) != f1);
	FAIL_IF(flow_expired(tab, FLOW_LIST_CLOSING, &t) != NULL);

	/* Activity on f1 moves it to the tail. */
	flow_touch(tab, f1, FLOW_LIST_ACTIVE, &t4);
	FAIL_IF(f1->last_ts.sec != 4 || f1->first_ts.sec != 1);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t1) != NULL);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t2) != f2);
	FAIL_IF(flow_any(tab) != f2);
	/* Touching the tail only updates its time. */
	t = at(5, 0);
	flow_touch(tab, f1, FLOW_LIST_ACTIVE, &t);
	FAIL_IF(f1->last_ts.sec != 5 || f1->list != FLOW_LIST_ACTIVE);
	FAIL_IF(f1->lnext != NULL || f1->lprev != f3);

	/* f2 moves to the closing list. */
	t = at(6, 0);
	flow_touch(tab, f2, FLOW_LIST_CLOSING, &t);
	FAIL_IF(f2->list != FLOW_LIST_CLOSING);
	FAIL_IF(flow_expired(tab, FLOW_LIST_CLOSING, &t4) != NULL);
	FAIL_IF(flow_expired(tab, FLOW_LIST_CLOSING, &t) != f2);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t) != f3);
	FAIL_IF(flow_any(tab) != f3);

	/* Expire in order: f3 (3), f1 (5) from active, f2 from closing. */
	t = at(100, 0);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t) != f3);
	flow_destroy(tab, f3);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t) != f1);
	flow_destroy(tab, f1);
	FAIL_IF(flow_expired(tab, FLOW_LIST_ACTIVE, &t) != NULL);
	/* flow_any falls through to the closing list. */
	FAIL_IF(flow_any(tab) != f2);
	FAIL_IF(flow_expired(tab, FLOW_LIST_CLOSING, &t) != f2);
	flow_destroy(tab, f2);
	FAIL_IF(flow_expired(tab, FLOW_LIST_CLOSING, &t) != NULL);
	FAIL_IF(flow_any(tab) != NULL || flow_count(tab) != 0);
	drop_table();
}

/* Many touches in a pseudo-random order: the list stays sorted. */
static void
test_expiry_random(void)
{
	static struct flow *fl[200];
	struct hk_time t;
	uint32_t x = 1, i, n = 200;
	int64_t last;

	fresh(1000);
	for (i = 0; i < n; i++) {
		t = at(i, 0);
		fl[i] = flow_create(tab, CLI, SRV, (uint16_t)i, 80, &t);
		FAIL_IF(fl[i] == NULL);
	}
	for (i = 0; i < 2000; i++) {
		x = x * 1103515245 + 12345;
		t = at(n + i, 0);
		flow_touch(
		    tab, fl[(x >> 16) % n],
		    ((x >> 8) & 1) ? FLOW_LIST_CLOSING : FLOW_LIST_ACTIVE, &t);
	}
	for (int l = 0; l < FLOW_LIST_COUNT; l++) {
		last = -1;
		t = at(1000000, 0);
		for (;;) {
			struct flow *f = flow_expired(tab, l, &t);

			if (f == NULL)
				break;
			FAIL_IF(f->list != l);
			FAIL_IF(hk_time_ns(&f->last_ts) < last);
			last = hk_time_ns(&f->last_ts);
			flow_destroy(tab, f);
		}
	}
	FAIL_IF(flow_count(tab) != 0);
	drop_table();
}

static void
test_limit(void)
{
	struct hk_time now = at(1, 0);
	struct flow *a, *b, *c;
	enum flow_dir d;

	fresh(2);
	a = flow_create(tab, CLI, SRV, 1, 80, &now);
	b = flow_create(tab, CLI, SRV, 2, 80, &now);
	FAIL_IF(a == NULL || b == NULL);
	c = flow_create(tab, CLI, SRV, 3, 80, &now);
	FAIL_IF(c != NULL);
	FAIL_IF(flow_count(tab) != 2 || flow_created(tab) != 2);
	FAIL_IF(flow_lookup(tab, CLI, SRV, 3, 80, &d) != NULL);
	/* Room again after a destroy. */
	flow_destroy(tab, a);
	c = flow_create(tab, CLI, SRV, 3, 80, &now);
	FAIL_IF(c == NULL || c->id != 3);
	FAIL_IF(flow_create(tab, CLI, SRV, 4, 80, &now) != NULL);
	FAIL_IF(flow_count(tab) != 2);
	drop_table();
}

static void
test_state_str(void)
{
	static const char *const want[] = {
	    [TCP_ST_SYN] = "syn",
	    [TCP_ST_SYN_SENT] = "syn_sent",
	    [TCP_ST_SYN_RECEIVED] = "syn_received",
	    [TCP_ST_ESTABLISHED] = "established",
	    [TCP_ST_FIN_WAIT_1] = "fin_wait_1",
	    [TCP_ST_FIN_WAIT_2] = "fin_wait_2",
	    [TCP_ST_CLOSING] = "closing",
	    [TCP_ST_TIMED_WAIT] = "timed_wait",
	    [TCP_ST_RESET] = "reset",
	    [TCP_ST_CLOSED] = "finish",
	};
	unsigned i;

	for (i = 0; i < HK_ARRAY_SIZE(want); i++) {
		const char *s = tcp_state_str((enum tcp_state)i);

		FAIL_IF(s == NULL || strcmp(s, want[i]) != 0);
	}
	FAIL_IF(strcmp(tcp_state_str((enum tcp_state)(TCP_ST_CLOSED + 1)),
	               "unknown") != 0);
	FAIL_IF(strcmp(tcp_state_str((enum tcp_state)255), "unknown") != 0);
	FAIL_IF(strcmp(tcp_state_str((enum tcp_state) - 1), "unknown") != 0);
}

int
main(void)
{
	RUN_TEST(test_create_lookup);
	RUN_TEST(test_seeded_hash);
	RUN_TEST(test_growth);
	RUN_TEST(test_destroy);
	RUN_TEST(test_expiry);
	RUN_TEST(test_expiry_random);
	RUN_TEST(test_limit);
	RUN_TEST(test_state_str);
	drop_table();
	UT_DONE();
}
