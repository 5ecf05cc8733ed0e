/*
 * The connection table: chained hash on a seeded symmetric hash of the
 * 4-tuple, grown by doubling, and two timeout lists ordered by last
 * activity.
 * Called by the engine's TCP session code.
 */
#include <stdlib.h>
#include <string.h>

#include <haka/flow.h>
#include <haka/hash.h>

struct flow_table {
	struct flow **buckets;
	uint32_t mask;
	uint32_t count;
	uint32_t max;
	uint64_t created;
	uint64_t seed;
	struct flow *lhead[FLOW_LIST_COUNT], *ltail[FLOW_LIST_COUNT];
};

static const char *const state_names[] = {
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

const char *
tcp_state_str(enum tcp_state st)
{
	if ((unsigned)st >= HK_ARRAY_SIZE(state_names))
		return "unknown";
	return state_names[st];
}

/*
 * The same hash for both orientations of a 4-tuple (its two ends taken
 * in a fixed order), seeded with the table's secret: the tuples are the
 * senders' choice, and an unseeded hash would let them fill one chain.
 */
uint32_t
flow_table_hash(const struct flow_table *t, uint32_t a, uint32_t b, uint16_t pa,
                uint16_t pb)
{
	uint64_t x = (uint64_t)a << 16 | pa, y = (uint64_t)b << 16 | pb;
	uint64_t lo = x < y ? x : y, hi = x < y ? y : x;

	return (uint32_t)(hk_mix64(hk_mix64(t->seed ^ lo) ^ hi) >> 32);
}

struct flow_table *
flow_table_new(uint32_t max_flows)
{
	struct flow_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->mask = 1023;
	t->buckets = calloc(t->mask + 1, sizeof(*t->buckets));
	if (t->buckets == NULL) {
		free(t);
		return NULL;
	}
	t->max = max_flows;
	t->seed = hk_secret_seed(t);
	return t;
}

void
flow_table_free(struct flow_table *t)
{
	if (t == NULL)
		return;
	free(t->buckets);
	free(t);
}

struct flow *
flow_lookup(struct flow_table *t, uint32_t src, uint32_t dst, uint16_t sport,
            uint16_t dport, enum flow_dir *dir)
{
	uint32_t h = flow_table_hash(t, src, dst, sport, dport);
	struct flow *f;

	for (f = t->buckets[h & t->mask]; f != NULL; f = f->hnext) {
		if (f->hash != h)
			continue;
		if (f->cli_ip == src && f->srv_ip == dst &&
		    f->cli_port == sport && f->srv_port == dport) {
			*dir = FLOW_UP;
			return f;
		}
		if (f->cli_ip == dst && f->srv_ip == src &&
		    f->cli_port == dport && f->srv_port == sport) {
			*dir = FLOW_DOWN;
			return f;
		}
	}
	return NULL;
}

static void
table_grow(struct flow_table *t)
{
	uint32_t nmask = t->mask * 2 + 1, i;
	struct flow **nb = calloc((size_t)nmask + 1, sizeof(*nb));
	struct flow *f, *next;

	if (nb == NULL)
		return; /* keep the smaller table; chains get longer */
	for (i = 0; i <= t->mask; i++) {
		for (f = t->buckets[i]; f != NULL; f = next) {
			next = f->hnext;
			f->hnext = nb[f->hash & nmask];
			nb[f->hash & nmask] = f;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->mask = nmask;
}

static void
list_unlink(struct flow_table *t, struct flow *f)
{
	if (f->lprev != NULL)
		f->lprev->lnext = f->lnext;
	else
		t->lhead[f->list] = f->lnext;
	if (f->lnext != NULL)
		f->lnext->lprev = f->lprev;
	else
		t->ltail[f->list] = f->lprev;
	f->lprev = f->lnext = NULL;
}

static void
list_append(struct flow_table *t, struct flow *f, enum flow_list list)
{
	f->list = list;
	f->lnext = NULL;
	f->lprev = t->ltail[list];
	if (f->lprev != NULL)
		f->lprev->lnext = f;
	else
		t->lhead[list] = f;
	t->ltail[list] = f;
}

struct flow *
flow_create(struct flow_table *t, uint32_t cli, uint32_t srv, uint16_t cport,
            uint16_t sport, const struct hk_time *now)
{
	struct flow *f;

	if (t->count >= t->max)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->id = ++t->created;
	f->cli_ip = cli;
	f->srv_ip = srv;
	f->cli_port = cport;
	f->srv_port = sport;
	f->hash = flow_table_hash(t, cli, srv, cport, sport);
	f->first_ts = *now;
	f->last_ts = *now;
	f->lua_ref = f->fields_ref = -2; /* LUA_NOREF */
	if (t->count + 1 > t->mask + 1)
		table_grow(t);
	f->hnext = t->buckets[f->hash & t->mask];
	t->buckets[f->hash & t->mask] = f;
	t->count++;
	list_append(t, f, FLOW_LIST_ACTIVE);
	return f;
}

void
flow_destroy(struct flow_table *t, struct flow *f)
{
	struct flow **pp;

	for (pp = &t->buckets[f->hash & t->mask]; *pp != NULL;
	     pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	}
	list_unlink(t, f);
	t->count--;
	free(f);
}

void
flow_touch(struct flow_table *t, struct flow *f, enum flow_list list,
           const struct hk_time *now)
{
	f->last_ts = *now;
	if (t->ltail[list] == f)
		return;
	list_unlink(t, f);
	list_append(t, f, list);
}

struct flow *
flow_expired(struct flow_table *t, enum flow_list list,
             const struct hk_time *before)
{
	struct flow *f = t->lhead[list];

	if (f == NULL)
		return NULL;
	if (f->last_ts.sec < before->sec ||
	    (f->last_ts.sec == before->sec && f->last_ts.nsec <= before->nsec))
		return f;
	return NULL;
}

struct flow *
flow_any(struct flow_table *t)
{
	for (int l = 0; l < FLOW_LIST_COUNT; l++)
		if (t->lhead[l] != NULL)
			return t->lhead[l];
	return NULL;
}

uint32_t
flow_count(const struct flow_table *t)
{
	return t->count;
}

uint64_t
flow_created(const struct flow_table *t)
{
	return t->created;
}

void
flow_foreach(struct flow_table *t, void (*fn)(struct flow *f, void *arg),
             void *arg)
{
	struct flow *f, *next;
	int l;

	for (l = 0; l < FLOW_LIST_COUNT; l++) {
		for (f = t->lhead[l]; f != NULL; f = next) {
			next = f->lnext;
			fn(f, arg);
		}
	}
}
