/*
 * Unit tests for src/stream/stream.c: in-order and out-of-order
 * reassembly, every split of a payload in every order (CONVENTIONS.md
 * section 10 "test every split"), the first-copy-wins overlap policy and
 * its counters, partial overlaps (HAKA.md bug 12), the hold queue (packets
 * released in arrival order once their bytes are consumed), gaps, memory
 * caps, sequence wrap-around (32-bit and past 4 GiB of stream), data
 * before the ISN, release on teardown, and a randomised comparison with
 * a byte-array model.
 *
 * Every test ends with no packet alive and nothing held.
 */
#include <stdlib.h>
#include <string.h>

#include <haka/ipv4.h>
#include <haka/stream.h>

#include "unittest.h"

#define MAXREC 4096

struct rel_rec {
	uint64_t id;
	uint8_t verdict;
	uint32_t refcnt;
};
static struct rel_rec rels[MAXREC];
static int nrels;
static uint64_t pkt_ids;

/* The stream under test; global so that a failed test can be cleaned. */
static struct stream st;

/* Packets the test still owns (refused by stream_insert). */
static struct packet *owned[16];
static int nowned;

static const struct stream_limits default_limits = {
    .max_ooo_bytes = 1 << 20,
    .max_ooo_segs = 4096,
    .memcap = 256ULL << 20,
};

static void
on_release(struct packet *pkt, void *arg)
{
	(void)arg;
	if (nrels >= MAXREC)
		return;
	rels[nrels].id = pkt->id;
	rels[nrels].verdict = pkt->verdict;
	rels[nrels].refcnt = pkt->refcnt;
	nrels++;
}

/*
 * Start a test: whatever a failed test left behind is released, the
 * records and the limits are reset.
 */
static void
fresh(void)
{
	int i;

	if (st.init)
		stream_release_all(&st, false);
	memset(&st, 0, sizeof(st));
	for (i = 0; i < nowned; i++)
		packet_unref(owned[i]);
	nowned = 0;
	stream_set_limits(&default_limits);
	nrels = 0;
	pkt_ids = 0;
}

/*
 * A raw IPv4+TCP packet (no link header) carrying len payload bytes,
 * with the next packet id.
 */
static struct packet *
mk(const void *pl, uint32_t len)
{
	struct packet *p = packet_new(40 + len);
	uint8_t *d;

	if (p == NULL) {
		fprintf(stderr, "packet_new failed\n");
		exit(1);
	}
	d = p->data;
	memset(d, 0, 40);
	d[0] = 0x45;
	hk_wr16(d + 2, (uint16_t)(40 + len));
	d[8] = 64;
	d[9] = 6;
	d[20 + 12] = 5 << 4;
	if (len > 0)
		memcpy(d + 40, pl, len);
	p->id = ++pkt_ids;
	p->linktype = 12;
	p->l3_off = 0;
	p->ethertype = 0x0800;
	p->flags = PKT_F_IPV4;
	p->ip_hlen = 20;
	p->ip_len = (uint16_t)(40 + len);
	p->l4_off = 20;
	p->l4_hlen = 20;
	p->pl_off = 40;
	p->pl_len = len;
	return p;
}

/*
 * Insert len bytes at seq into st, as the engine does: on HK_OK the
 * caller's reference is dropped (the stream holds the packet); on HK_ERR
 * the test keeps owning it (owned[], see drop_owned). *out (if not NULL)
 * gets the packet, valid while held.
 */
static int
put(uint32_t seq, const void *pl, uint32_t len, struct stream_insert_res *res,
    struct packet **out)
{
	struct packet *p = mk(pl, len);
	int rc;

	rc = stream_insert(&st, p, seq, res);
	if (out != NULL)
		*out = p;
	if (rc == HK_OK)
		packet_unref(p);
	else if (nowned < (int)HK_ARRAY_SIZE(owned))
		owned[nowned++] = p;
	return rc;
}

/* Drop the test's reference to a refused packet. */
static void
drop_owned(struct packet *p)
{
	int i;

	for (i = 0; i < nowned; i++) {
		if (owned[i] == p) {
			owned[i] = owned[--nowned];
			break;
		}
	}
	packet_unref(p);
}

/* The release record is exactly ids[0..n) in that order. */
static bool
released(const uint64_t *ids, int n)
{
	int i;

	if (nrels != n)
		return false;
	for (i = 0; i < n; i++)
		if (rels[i].id != ids[i] || rels[i].refcnt != 0)
			return false;
	return true;
}

static bool
all_verdicts(uint8_t v)
{
	int i;

	for (i = 0; i < nrels; i++)
		if (rels[i].verdict != v)
			return false;
	return true;
}

/* The in-order bytes from 'from' equal s. */
static bool
bytes_are(uint64_t from, const char *s)
{
	uint8_t buf[256];
	size_t n = strlen(s);

	if (st.next - from != n || n > sizeof(buf))
		return false;
	memset(buf, 0xa5, sizeof(buf));
	if (stream_copy(&st, from, buf, n) != 0)
		return false;
	return memcmp(buf, s, n) == 0;
}

/* Nothing held, no packet alive (every test ends with it). */
#define CHECK_CLEAN()                                                          \
	do {                                                                   \
		FAIL_IF(st.held_pkts != 0);                                    \
		FAIL_IF(st.held_bytes != 0);                                   \
		FAIL_IF(st.hold_head != NULL || st.hold_tail != NULL);         \
		FAIL_IF(stream_global_held() != 0);                            \
		FAIL_IF(packet_stats()->live != 0);                            \
	} while (0)

static void
test_in_order(void)
{
	struct stream_insert_res r;
	static const uint64_t first[] = {1}, all[] = {1, 2, 3};
	uint8_t buf[8];

	fresh();
	stream_init(&st, 1000);
	FAIL_IF(stream_seq_off(&st, 1000) != 0);
	FAIL_IF(put(1000, "abc", 3, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 3 || r.old_bytes != 0 || r.diff_bytes != 0);
	FAIL_IF(put(1003, "defg", 4, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 4 || r.old_bytes != 0);
	FAIL_IF(put(1007, "hij", 3, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 3 || r.old_bytes != 0);
	FAIL_IF(stream_avail(&st) != 10 || st.next != 10);
	FAIL_IF(stream_ooo_first(&st) != UINT64_MAX || st.ooo_segs != 0);
	FAIL_IF(stream_seq_off(&st, 1010) != 10);
	FAIL_IF(stream_off_seq(&st, 10) != 1010);
	FAIL_IF_NOT(bytes_are(0, "abcdefghij"));
	/* A sub-range across chunk boundaries. */
	FAIL_IF(stream_copy(&st, 2, buf, 6) != 0);
	FAIL_IF(memcmp(buf, "cdefgh", 6) != 0);
	/* Held until consumed. */
	FAIL_IF(st.held_pkts != 3 || nrels != 0);
	FAIL_IF(st.held_bytes != 3 * 40 + 10);
	FAIL_IF(stream_global_held() != 3 * 40 + 10);
	stream_consume(&st, 3);
	FAIL_IF_NOT(released(first, 1));
	FAIL_IF(stream_avail(&st) != 7);
	FAIL_IF_NOT(bytes_are(3, "defghij"));
	stream_consume(&st, 10);
	FAIL_IF_NOT(released(all, 3));
	FAIL_IF_NOT(all_verdicts(PKT_PENDING));
	FAIL_IF(stream_avail(&st) != 0 || st.head != NULL || st.tail != NULL);
	/* Consuming beyond next is clamped. */
	stream_consume(&st, 100);
	FAIL_IF(st.consumed != 10);
	CHECK_CLEAN();
}

static void
test_out_of_order_132(void)
{
	struct stream_insert_res r;
	static const uint64_t first[] = {1}, all[] = {1, 2, 3};

	fresh();
	stream_init(&st, 0);
	FAIL_IF(put(0, "abc", 3, &r, NULL) != HK_OK);
	FAIL_IF(put(7, "hij", 3, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 3 || r.old_bytes != 0);
	FAIL_IF(stream_avail(&st) != 3);
	FAIL_IF(stream_ooo_first(&st) != 7);
	FAIL_IF(st.ooo_segs != 1 || st.ooo_bytes != 3);
	FAIL_IF(put(3, "defg", 4, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 4 || r.old_bytes != 0);
	FAIL_IF(stream_avail(&st) != 10);
	FAIL_IF(st.ooo != NULL || st.ooo_segs != 0 || st.ooo_bytes != 0);
	FAIL_IF_NOT(bytes_are(0, "abcdefghij"));
	/*
	 * Arrival order: packet 2 ("hij", ends at 10) holds back packet 3
	 * ("defg", ends at 7) although its bytes are consumed.
	 */
	stream_consume(&st, 7);
	FAIL_IF_NOT(released(first, 1));
	stream_consume(&st, 10);
	FAIL_IF_NOT(released(all, 3));
	CHECK_CLEAN();
}

/*
 * One delivery: segments [cut[k], cut[k+1]) of the 30-byte payload sent
 * in the order ord[0..n), from isn. After each insert, the in-order bytes
 * must be the longest covered prefix; then the bytes are consumed one by
 * one and the packets must be released exactly in arrival order, each as
 * soon as it and every earlier one have all their bytes consumed.
 */
static int
deliver(uint32_t isn, const uint8_t *pl, const uint32_t *cut, const int *ord,
        int n)
{
	bool have[30];
	uint32_t k, newsum = 0, prefix, end[30];
	uint8_t buf[30];
	struct stream_insert_res r;
	int i, want;
	uint64_t upto;

	fresh();
	memset(have, 0, sizeof(have));
	stream_init(&st, isn);
	for (i = 0; i < n; i++) {
		int s = ord[i];
		uint32_t a = cut[s], b = cut[s + 1];

		if (put(isn + a, pl + a, b - a, &r, NULL) != HK_OK)
			return __LINE__;
		if (r.new_bytes != b - a || r.old_bytes != 0)
			return __LINE__;
		end[i] = b;
		newsum += r.new_bytes;
		for (k = a; k < b; k++)
			have[k] = true;
		for (prefix = 0; prefix < 30 && have[prefix]; prefix++)
			;
		if (st.next != prefix)
			return __LINE__;
		if (nrels != 0)
			return __LINE__;
	}
	if (newsum != 30 || st.next != 30 || st.ooo != NULL)
		return __LINE__;
	memset(buf, 0, sizeof(buf));
	if (stream_copy(&st, 0, buf, 30) != 0 || memcmp(buf, pl, 30) != 0)
		return __LINE__;
	for (upto = 0; upto <= 30; upto++) {
		stream_consume(&st, upto);
		for (want = 0; want < n && end[want] <= upto; want++)
			;
		if (nrels != want)
			return __LINE__;
		for (i = 0; i < nrels; i++)
			if (rels[i].id != (uint64_t)i + 1)
				return __LINE__;
	}
	if (st.held_pkts != 0 || packet_stats()->live != 0)
		return __LINE__;
	return 0;
}

static void
test_every_split(void)
{
	static const uint32_t isns[] = {1, 0xfffffff0, 0x7ffffff5};
	static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
	                                {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
	uint8_t pl[30];
	uint32_t cut[31], i, j, x;
	int ord[30], p, k, line;
	size_t n;

	for (i = 0; i < 30; i++)
		pl[i] = (uint8_t)('A' + i);
	for (n = 0; n < HK_ARRAY_SIZE(isns); n++) {
		uint32_t isn = isns[n];

		/* Whole. */
		cut[0] = 0;
		cut[1] = 30;
		ord[0] = 0;
		line = deliver(isn, pl, cut, ord, 1);
		if (line != 0)
			fprintf(stderr, "whole isn %x: line %d\n", isn, line);
		FAIL_IF(line != 0);
		/* Cut at i: two chunks, both orders. */
		for (i = 1; i < 30; i++) {
			cut[1] = i;
			cut[2] = 30;
			for (p = 0; p < 2; p++) {
				ord[0] = p;
				ord[1] = !p;
				line = deliver(isn, pl, cut, ord, 2);
				if (line != 0)
					fprintf(stderr,
					        "isn %x cut %u order %d: "
					        "line %d\n",
					        isn, i, p, line);
				FAIL_IF(line != 0);
			}
		}
		/* Cuts at i < j: three chunks, all six orders. */
		for (i = 1; i < 30; i++) {
			for (j = i + 1; j < 30; j++) {
				cut[1] = i;
				cut[2] = j;
				cut[3] = 30;
				for (p = 0; p < 6; p++) {
					line =
					    deliver(isn, pl, cut, perms[p], 3);
					if (line != 0)
						fprintf(
						    stderr,
						    "isn %x cuts %u,%u perm "
						    "%d: line %d\n",
						    isn, i, j, p, line);
					FAIL_IF(line != 0);
				}
			}
		}
		/* One byte at a time: in order, reversed, evens then odds. */
		for (i = 0; i <= 30; i++)
			cut[i] = i;
		for (k = 0; k < 30; k++)
			ord[k] = k;
		FAIL_IF(deliver(isn, pl, cut, ord, 30) != 0);
		for (k = 0; k < 30; k++)
			ord[k] = 29 - k;
		FAIL_IF(deliver(isn, pl, cut, ord, 30) != 0);
		for (k = 0; k < 15; k++) {
			ord[k] = 2 * k;
			ord[15 + k] = 2 * k + 1;
		}
		FAIL_IF(deliver(isn, pl, cut, ord, 30) != 0);
		/* Deterministic shuffles. */
		x = 12345 + isn;
		for (p = 0; p < 50; p++) {
			for (k = 0; k < 30; k++)
				ord[k] = k;
			for (k = 29; k > 0; k--) {
				int t, r;

				x = x * 1103515245 + 12345;
				r = (int)((x >> 16) % (uint32_t)(k + 1));
				t = ord[k];
				ord[k] = ord[r];
				ord[r] = t;
			}
			line = deliver(isn, pl, cut, ord, 30);
			if (line != 0)
				fprintf(stderr, "shuffle %d: line %d\n", p,
				        line);
			FAIL_IF(line != 0);
		}
	}
	CHECK_CLEAN();
}

static void
test_retransmit_consumed(void)
{
	struct stream_insert_res r;
	static const uint64_t one[] = {1}, two[] = {1, 2};

	fresh();
	stream_init(&st, 500);
	FAIL_IF(put(500, "hello", 5, &r, NULL) != HK_OK);
	stream_consume(&st, 5);
	FAIL_IF_NOT(released(one, 1));
	/* The same bytes again: old, no longer in memory, not compared. */
	FAIL_IF(put(500, "hello", 5, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 5 || r.new_bytes != 0);
	FAIL_IF(r.same_bytes != 0 || r.diff_bytes != 0);
	FAIL_IF(r.memcap_flow || r.memcap_global);
	FAIL_IF(st.next != 5 || stream_avail(&st) != 0);
	/* Nothing to inspect: released at the next consume, no new data. */
	stream_consume(&st, st.consumed);
	FAIL_IF_NOT(released(two, 2));
	/* A partial retransmission: 2 consumed bytes and 3 new ones. */
	FAIL_IF(put(503, "loabc", 5, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 2 || r.new_bytes != 3);
	FAIL_IF(r.same_bytes != 0 || r.diff_bytes != 0);
	FAIL_IF_NOT(bytes_are(5, "abc"));
	stream_consume(&st, 8);
	FAIL_IF(nrels != 3 || rels[2].id != 3);
	CHECK_CLEAN();
}

/* Retransmitted in-order bytes not consumed yet are compared. */
static void
test_retransmit_inorder(void)
{
	struct stream_insert_res r;

	fresh();
	stream_init(&st, 7);
	FAIL_IF(put(7, "abcdef", 6, &r, NULL) != HK_OK);
	stream_consume(&st, 1);
	FAIL_IF(nrels != 0);
	/* [0,6) again, 'X' and 'Y' differ; byte 0 is consumed. */
	FAIL_IF(put(7, "abXdYf", 6, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 6 || r.new_bytes != 0);
	FAIL_IF(r.same_bytes != 3 || r.diff_bytes != 2);
	FAIL_IF_NOT(bytes_are(1, "bcdef"));
	stream_consume(&st, 6);
	FAIL_IF(nrels != 2 || rels[0].id != 1 || rels[1].id != 2);
	CHECK_CLEAN();
}

static void
test_retransmit_queued_diff(void)
{
	struct stream_insert_res r;
	static const uint64_t all[] = {4, 1, 2, 3, 5};

	fresh();
	stream_init(&st, 0x10000);
	FAIL_IF(put(0x10000, "abc", 3, &r, NULL) != HK_OK);
	FAIL_IF(put(0x10006, "ghij", 4, &r, NULL) != HK_OK);
	FAIL_IF(st.ooo_bytes != 4);
	/* Same place, different bytes (H and X differ). */
	FAIL_IF(put(0x10006, "gHiX", 4, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 4 || r.new_bytes != 0);
	FAIL_IF(r.same_bytes != 2 || r.diff_bytes != 2);
	FAIL_IF(st.ooo_bytes != 4 || st.ooo_segs != 1);
	/*
	 * An identical copy of bytes still held: not held itself (released
	 * at once, so that the receiver can acknowledge it).
	 */
	FAIL_IF(put(0x10006, "ghij", 4, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 4 || r.same_bytes != 4 || r.diff_bytes != 0);
	FAIL_IF(!r.dup_of_held || nrels != 1 || rels[0].id != 4);
	FAIL_IF(put(0x10003, "def", 3, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 3);
	/* The first copy won. */
	FAIL_IF_NOT(bytes_are(0, "abcdefghij"));
	stream_consume(&st, 10);
	FAIL_IF_NOT(released(all, 5));
	CHECK_CLEAN();
}

/*
 * A segment that only partly overlaps keeps its new bytes (the original
 * rejected it whole: HAKA.md "Bugs" 12).
 */
static void
test_partial_overlap(void)
{
	struct stream_insert_res r;

	fresh();
	stream_init(&st, 0);
	FAIL_IF(put(0, "abcd", 4, &r, NULL) != HK_OK);
	/* Over in-order bytes: 2 old (different), 4 new. */
	FAIL_IF(put(2, "CDefgh", 6, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 2 || r.new_bytes != 4);
	FAIL_IF(r.diff_bytes != 2 || r.same_bytes != 0);
	FAIL_IF_NOT(bytes_are(0, "abcdefgh"));
	/* Over a queued segment, new bytes on both sides. */
	FAIL_IF(put(12, "mnop", 4, &r, NULL) != HK_OK);
	FAIL_IF(put(10, "klMNOPqr", 8, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 4 || r.new_bytes != 4);
	FAIL_IF(r.diff_bytes != 4 || r.same_bytes != 0);
	FAIL_IF(st.ooo_bytes != 8 || st.ooo_segs != 3);
	FAIL_IF(stream_ooo_first(&st) != 10);
	/* Same bytes, spanning a queued segment. */
	FAIL_IF(put(20, "uv", 2, &r, NULL) != HK_OK);
	FAIL_IF(put(19, "tuvw", 4, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 2 || r.same_bytes != 2 || r.new_bytes != 2);
	/* Across the in-order end and two queued runs at once. */
	FAIL_IF(put(6, "GHijKLmnopqrs", 13, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 3 || r.old_bytes != 10);
	FAIL_IF(r.same_bytes != 6 || r.diff_bytes != 4);
	FAIL_IF(st.ooo != NULL || st.ooo_bytes != 0 || st.ooo_segs != 0);
	FAIL_IF_NOT(bytes_are(0, "abcdefghijklmnopqrstuvw"));
	stream_consume(&st, 23);
	FAIL_IF(nrels != 7);
	CHECK_CLEAN();
}

/* A pure ACK is held behind the data before it, in arrival order. */
static void
test_zero_length(void)
{
	struct stream_insert_res r;
	struct packet *ack;
	static const uint64_t one[] = {1}, three[] = {1, 2, 3},
	                      all[] = {1, 2, 3, 4, 5, 6};

	fresh();
	stream_init(&st, 100);
	/* On an empty stream nothing holds it back. */
	FAIL_IF(put(100, NULL, 0, &r, &ack) != HK_OK);
	FAIL_IF(r.new_bytes != 0 || r.old_bytes != 0);
	FAIL_IF(ack->hold_end != 0);
	stream_consume(&st, 0);
	FAIL_IF_NOT(released(one, 1));
	FAIL_IF(put(100, "abcde", 5, &r, NULL) != HK_OK);
	FAIL_IF(put(105, NULL, 0, &r, &ack) != HK_OK);
	FAIL_IF(ack->hold_end != 5 || ack->refcnt != 1);
	FAIL_IF(st.next != 5 || st.held_pkts != 2);
	stream_consume(&st, 4);
	FAIL_IF(nrels != 1);
	stream_consume(&st, 5);
	FAIL_IF_NOT(released(three, 3));
	/* Behind a queued segment: released only after it. */
	FAIL_IF(put(110, "klmno", 5, &r, NULL) != HK_OK); /* 4 */
	FAIL_IF(put(105, NULL, 0, &r, NULL) != HK_OK);    /* 5 */
	stream_consume(&st, 5);
	FAIL_IF(nrels != 3);
	FAIL_IF(put(105, "fghij", 5, &r, NULL) != HK_OK); /* 6 */
	stream_consume(&st, 10);
	FAIL_IF(nrels != 3);
	stream_consume(&st, 15);
	FAIL_IF_NOT(released(all, 6));
	CHECK_CLEAN();
}

/* A packet is held until all its bytes are inspected. */
static void
test_hold_until_consumed(void)
{
	struct stream_insert_res r;
	struct packet *p;
	uint8_t buf[5];
	static const uint64_t one[] = {1};

	fresh();
	stream_init(&st, 42);
	FAIL_IF(put(42, "0123456789", 10, &r, &p) != HK_OK);
	FAIL_IF(p->refcnt != 1 || p->hold_end != 10);
	stream_consume(&st, 5);
	FAIL_IF(nrels != 0 || st.held_pkts != 1 || p->refcnt != 1);
	FAIL_IF(stream_avail(&st) != 5);
	/* The unconsumed half still points into the packet. */
	FAIL_IF(stream_copy(&st, 5, buf, 5) != 0);
	FAIL_IF(memcmp(buf, "56789", 5) != 0);
	FAIL_IF(st.head == NULL || st.head->p != p->data + p->pl_off + 5);
	stream_consume(&st, 9);
	FAIL_IF(nrels != 0);
	stream_consume(&st, 10);
	FAIL_IF_NOT(released(one, 1));
	CHECK_CLEAN();
}

/*
 * A packet that borrows its bytes (as from the capture file reader): once
 * held, packet_own copies them and the stream's segments follow, in order
 * (trimmed by a partial consume) and queued out of order; the lent buffer
 * is then scribbled over and the stream still reads the right bytes.
 */
static uint8_t *
lend(struct packet *p)
{
	uint8_t *b = malloc(p->caplen);

	if (b == NULL) {
		fprintf(stderr, "malloc failed\n");
		exit(1);
	}
	memcpy(b, p->data, p->caplen);
	packet_borrow(p, b);
	return b;
}

static void
test_borrowed_held(void)
{
	struct stream_insert_res r;
	struct packet *a, *c;
	uint8_t *la, *lc, buf[12];
	uint64_t owned0 = packet_stats()->owned;
	static const uint64_t all[] = {1, 2, 3};

	fresh();
	stream_init(&st, 100);
	a = mk("0123", 4);
	la = lend(a);
	c = mk("89ab", 4);
	lc = lend(c);
	FAIL_IF(a->data != la || !(a->flags & PKT_F_BORROWED));
	FAIL_IF(stream_insert(&st, a, 100, &r) != HK_OK);
	FAIL_IF(stream_insert(&st, c, 108, &r) != HK_OK); /* queued */
	stream_consume(&st, 1);
	FAIL_IF(a->holder == NULL || c->holder == NULL);
	packet_own(a);
	packet_own(c);
	FAIL_IF(a->flags & PKT_F_BORROWED || c->flags & PKT_F_BORROWED);
	FAIL_IF(a->data == la || c->data == lc);
	FAIL_IF(packet_stats()->owned != owned0 + 2);
	/* Owning twice is nothing. */
	packet_own(a);
	FAIL_IF(packet_stats()->owned != owned0 + 2);
	memset(la, 'x', a->caplen);
	memset(lc, 'x', c->caplen);
	free(la);
	free(lc);
	FAIL_IF(st.head == NULL || st.head->p != a->data + a->pl_off + 1);
	FAIL_IF(st.ooo == NULL || st.ooo->p != c->data + c->pl_off);
	packet_unref(a);
	packet_unref(c);
	FAIL_IF(put(104, "4567", 4, &r, NULL) != HK_OK);
	memset(buf, 0, sizeof(buf));
	FAIL_IF(stream_copy(&st, 1, buf, 11) != 0);
	FAIL_IF(memcmp(buf, "123456789ab", 11) != 0);
	stream_consume(&st, 12);
	FAIL_IF_NOT(released(all, 3));
	CHECK_CLEAN();
}

static void
test_gap(void)
{
	struct stream_insert_res r;
	uint8_t buf[16];
	static const uint64_t all[] = {4, 1, 2, 3};

	fresh();
	stream_init(&st, 9000);
	/* Nothing queued: no gap. */
	FAIL_IF(stream_gap(&st, 0) != 0);
	FAIL_IF(put(9000, "AAAA", 4, &r, NULL) != HK_OK);
	FAIL_IF(put(9008, "CCCC", 4, &r, NULL) != HK_OK);
	FAIL_IF(stream_avail(&st) != 4);
	FAIL_IF(stream_gap(&st, 0) != 4);
	FAIL_IF(st.gap_bytes != 4);
	FAIL_IF(st.next != 12 || st.ooo != NULL || st.ooo_bytes != 0);
	memset(buf, 0xa5, sizeof(buf));
	FAIL_IF(stream_copy(&st, 0, buf, 12) != 4);
	FAIL_IF(memcmp(buf, "AAAA\0\0\0\0CCCC", 12) != 0);
	/* A range that starts inside the gap. */
	FAIL_IF(stream_copy(&st, 6, buf, 4) != 2);
	FAIL_IF(memcmp(buf, "\0\0CC", 4) != 0);
	/* The stream goes on after C. */
	FAIL_IF(put(9012, "DDDD", 4, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 4 || st.next != 16);
	/*
	 * The lost bytes arriving late are old (not compared with a gap),
	 * and not held: they bring nothing to the stream.
	 */
	FAIL_IF(put(9004, "BBBB", 4, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 4 || r.new_bytes != 0 || !r.dup_of_held);
	FAIL_IF(r.same_bytes != 0 || r.diff_bytes != 0);
	FAIL_IF(stream_copy(&st, 0, buf, 16) != 4);
	FAIL_IF(memcmp(buf, "AAAA\0\0\0\0CCCCDDDD", 16) != 0);
	stream_consume(&st, 16);
	FAIL_IF_NOT(released(all, 4));
	/* An explicit end is capped at the first queued segment. */
	FAIL_IF(put(9030, "EE", 2, &r, NULL) != HK_OK);
	FAIL_IF(stream_gap(&st, 100) != 14);
	FAIL_IF(st.next != 32 || st.gap_bytes != 18);
	/* Nothing queued: up to the given end. */
	FAIL_IF(stream_gap(&st, 40) != 8 || st.next != 40);
	FAIL_IF(stream_gap(&st, 40) != 0);
	FAIL_IF(stream_copy(&st, 16, buf, 16) != 14);
	stream_consume(&st, 40);
	FAIL_IF(nrels != 5);
	CHECK_CLEAN();
}

static void
test_memcap(void)
{
	struct stream_insert_res r;
	struct stream_limits lim = default_limits;
	struct packet *p;
	uint32_t held;
	uint64_t gheld;

	fresh();
	lim.max_ooo_bytes = 10;
	stream_set_limits(&lim);
	stream_init(&st, 0);
	FAIL_IF(put(0, "ab", 2, &r, NULL) != HK_OK);
	FAIL_IF(put(10, "01234567", 8, &r, NULL) != HK_OK);
	/* 8 + 4 > 10: refused, not held. */
	held = st.held_pkts;
	gheld = stream_global_held();
	FAIL_IF(put(20, "wxyz", 4, &r, &p) != HK_ERR);
	FAIL_IF(!r.memcap_flow || r.memcap_global);
	FAIL_IF(p->refcnt != 1 || st.hold_tail == p);
	FAIL_IF(st.held_pkts != held || stream_global_held() != gheld);
	FAIL_IF(st.ooo_bytes != 8 || st.ooo_segs != 1);
	FAIL_IF(stream_ooo_first(&st) != 10);
	/* The caller decides the verdict; released at once. */
	packet_drop(p);
	drop_owned(p);
	FAIL_IF(nrels != 1 || rels[0].id != 3 || rels[0].verdict != PKT_DROP);
	/* Exactly at the limit: accepted. */
	FAIL_IF(put(20, "wx", 2, &r, NULL) != HK_OK);
	FAIL_IF(st.ooo_bytes != 10);
	/* In-order data is not limited by the queue cap. */
	FAIL_IF(put(2, "cdefghijklmnop", 14, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 8 || r.old_bytes != 6);
	FAIL_IF(st.next != 18 || st.ooo_bytes != 2);
	stream_consume(&st, st.next);
	/* 1 and 2 go; "wx" (ends at 22) holds the last one back. */
	FAIL_IF(nrels != 3 || rels[1].id != 1 || rels[2].id != 2);
	stream_gap(&st, 0);
	stream_consume(&st, st.next);
	FAIL_IF(nrels != 5);

	/* Segment count. */
	lim = default_limits;
	lim.max_ooo_segs = 2;
	stream_set_limits(&lim);
	FAIL_IF(put(30, "a", 1, &r, NULL) != HK_OK);
	FAIL_IF(put(32, "b", 1, &r, NULL) != HK_OK);
	FAIL_IF(put(34, "c", 1, &r, &p) != HK_ERR);
	FAIL_IF(!r.memcap_flow || r.memcap_global || p->refcnt != 1);
	drop_owned(p);
	FAIL_IF(st.ooo_segs != 2);

	/* Global memcap (frame bytes held by every stream). */
	lim = default_limits;
	lim.memcap = stream_global_held() + 40 + 4 - 1;
	stream_set_limits(&lim);
	FAIL_IF(put(40, "dddd", 4, &r, &p) != HK_ERR);
	FAIL_IF(r.memcap_flow || !r.memcap_global || p->refcnt != 1);
	drop_owned(p);
	FAIL_IF(put(40, "ddd", 3, &r, NULL) != HK_OK);
	/* In-order data is always taken. */
	FAIL_IF(put(22, "12345678", 8, &r, NULL) != HK_OK);
	FAIL_IF(st.next != 31);
	stream_set_limits(&default_limits);
	stream_release_all(&st, false);
	CHECK_CLEAN();
}

/*
 * Regression (stream_insert's queue cap): the cap was checked with the
 * whole segment length before looking at what was already queued, so a
 * retransmission of queued bytes, which adds nothing, was refused
 * (memcap_flow) near the cap, and a copy with different bytes was
 * reported as a memcap event instead of an overlap. Now only the bytes
 * and pieces a segment adds count. Input: max_ooo_bytes 10, queued
 * [10,18), the same 8 bytes again, then 8 bytes differing in one.
 */
static void
test_memcap_duplicate(void)
{
	struct stream_insert_res r;
	struct stream_limits lim = default_limits;
	struct packet *p;
	int rc;

	fresh();
	lim.max_ooo_bytes = 10;
	stream_set_limits(&lim);
	stream_init(&st, 0);
	FAIL_IF(put(10, "01234567", 8, &r, NULL) != HK_OK);
	rc = put(10, "01234567", 8, &r, &p);
	FAIL_IF(rc != HK_OK || r.same_bytes != 8 || r.memcap_flow);
	if (rc != HK_OK)
		drop_owned(p);
	/* Different bytes: the overlap should be reported. */
	rc = put(10, "0123456X", 8, &r, &p);
	FAIL_IF(rc != HK_OK || r.diff_bytes != 1);
	if (rc != HK_OK)
		drop_owned(p);
	/* Below the cap, the same retransmission is compared. */
	lim.max_ooo_bytes = 16;
	stream_set_limits(&lim);
	FAIL_IF(put(10, "0123456X", 8, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 8 || r.diff_bytes != 1 || r.same_bytes != 7);
	stream_set_limits(&default_limits);
	stream_release_all(&st, false);
	CHECK_CLEAN();
}

/*
 * Regression (stream_insert's segment cap): the count was checked once
 * before the insert, but one segment spanning k queued runs adds up to
 * k + 1 pieces, so the queue went past max_ooo_segs. Input: max_ooo_segs
 * 3, queued 1-byte segments at 10 and 12, then 5 bytes at [9,14).
 */
static void
test_memcap_segs_overshoot(void)
{
	struct stream_insert_res r;
	struct stream_limits lim = default_limits;
	struct packet *p;
	int rc;

	fresh();
	lim.max_ooo_segs = 3;
	stream_set_limits(&lim);
	stream_init(&st, 0);
	FAIL_IF(put(10, "b", 1, &r, NULL) != HK_OK);
	FAIL_IF(put(12, "d", 1, &r, NULL) != HK_OK);
	FAIL_IF(st.ooo_segs != 2);
	rc = put(9, "abcde", 5, &r, &p);
	if (rc == HK_OK)
		FAIL_IF(r.new_bytes != 3 || r.same_bytes != 2);
	else
		drop_owned(p);
	FAIL_IF(st.ooo_segs > lim.max_ooo_segs);
	stream_set_limits(&default_limits);
	stream_release_all(&st, false);
	CHECK_CLEAN();
}

static void
test_seq_wrap(void)
{
	struct stream_insert_res r;
	uint8_t pl[40];
	int i;
	static const uint64_t all[] = {5, 1, 2, 3, 4};

	fresh();
	for (i = 0; i < 40; i++)
		pl[i] = (uint8_t)('0' + i);
	stream_init(&st, 0xfffffff0);
	FAIL_IF(put(0xfffffff0, pl, 10, &r, NULL) != HK_OK);
	FAIL_IF(stream_seq_off(&st, 0x00000004) != 20);
	FAIL_IF(stream_off_seq(&st, 20) != 0x00000004);
	FAIL_IF(put(0x00000004, pl + 20, 10, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 10 || stream_ooo_first(&st) != 20);
	FAIL_IF(put(0x0000000e, pl + 30, 10, &r, NULL) != HK_OK);
	FAIL_IF(stream_ooo_first(&st) != 20 || st.ooo_bytes != 20);
	FAIL_IF(put(0xfffffffa, pl + 10, 10, &r, NULL) != HK_OK);
	FAIL_IF(r.new_bytes != 10 || r.old_bytes != 0);
	FAIL_IF(st.next != 40 || st.ooo != NULL);
	FAIL_IF_NOT(bytes_are(0, "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVW"));
	/* Across the wrap, before the in-order end: old bytes. */
	FAIL_IF(put(0xfffffffe, pl + 14, 10, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 10 || r.same_bytes != 10 || !r.dup_of_held);
	stream_consume(&st, 40);
	FAIL_IF_NOT(released(all, 5));
	CHECK_CLEAN();
}

/*
 * Past 4 GiB of stream: offsets are 64-bit and sequence numbers keep
 * being unwrapped around the in-order end. The same packet (kept alive by
 * the test's reference) is inserted and consumed over and over.
 */
static void
test_seq_wrap_64(void)
{
	struct stream_insert_res r;
	struct packet *p;
	uint32_t seq, isn = 0x89abcdef, len = 60000, i;
	uint64_t total = 0, n = 0;

	fresh();
	stream_init(&st, isn);
	p = packet_new(40 + len);
	FAIL_IF(p == NULL);
	for (i = 0; i < len; i++)
		p->data[40 + i] = (uint8_t)i;
	p->id = 1000;
	p->pl_off = 40;
	p->pl_len = len;
	seq = isn;
	while (total < (5ULL << 30)) {
		if (stream_insert(&st, p, seq, &r) != HK_OK ||
		    r.new_bytes != len || p->refcnt != 2) {
			packet_unref(p);
			FAIL_IF(1);
		}
		total += len;
		seq += len;
		stream_consume(&st, total);
		n++;
		if (p->refcnt != 1 || st.next != total) {
			packet_unref(p);
			FAIL_IF(1);
		}
	}
	/* The test's reference kept it alive: never released so far. */
	FAIL_IF(nrels != 0 || n < 80000);
	FAIL_IF(stream_off_seq(&st, total) != seq);
	FAIL_IF(stream_seq_off(&st, seq) != (int64_t)total);
	FAIL_IF(stream_seq_off(&st, seq - 10) != (int64_t)total - 10);
	/* A queued segment and the hole before it, beyond 4 GiB. */
	p->pl_len = 100;
	FAIL_IF(stream_insert(&st, p, seq + 100, &r) != HK_OK);
	FAIL_IF(stream_ooo_first(&st) != total + 100);
	FAIL_IF(stream_gap(&st, 0) != 100);
	FAIL_IF(st.next != total + 200);
	stream_consume(&st, st.next);
	FAIL_IF(p->refcnt != 1 || st.held_pkts != 0);
	packet_unref(p);
	FAIL_IF(nrels != 1 || rels[0].id != 1000);
	CHECK_CLEAN();
}

static void
test_release_all(void)
{
	struct stream_insert_res r;
	static const uint64_t all[] = {1, 2, 3, 4};

	fresh();
	stream_init(&st, 3);
	FAIL_IF(put(3, "abc", 3, &r, NULL) != HK_OK);
	FAIL_IF(put(8, "fgh", 3, &r, NULL) != HK_OK);
	FAIL_IF(put(6, NULL, 0, &r, NULL) != HK_OK);
	FAIL_IF(put(4, "bcd", 3, &r, NULL) != HK_OK);
	stream_consume(&st, 1);
	FAIL_IF(nrels != 0);
	stream_release_all(&st, true);
	FAIL_IF_NOT(released(all, 4));
	FAIL_IF_NOT(all_verdicts(PKT_DROP));
	FAIL_IF(st.head != NULL || st.tail != NULL || st.ooo != NULL);
	FAIL_IF(st.ooo_bytes != 0 || st.ooo_segs != 0);
	FAIL_IF(stream_avail(&st) != 0);
	CHECK_CLEAN();

	/* Without drop: the verdicts are left alone. */
	fresh();
	stream_init(&st, 3);
	FAIL_IF(put(3, "abc", 3, &r, NULL) != HK_OK);
	FAIL_IF(put(10, "x", 1, &r, NULL) != HK_OK);
	stream_release_all(&st, false);
	FAIL_IF(nrels != 2 || !all_verdicts(PKT_PENDING));
	CHECK_CLEAN();

	/* stream_drop_held marks, the packets stay held. */
	fresh();
	stream_init(&st, 3);
	FAIL_IF(put(3, "abc", 3, &r, NULL) != HK_OK);
	FAIL_IF(put(6, "def", 3, &r, NULL) != HK_OK);
	stream_drop_held(&st);
	FAIL_IF(nrels != 0 || st.held_pkts != 2);
	/* Arriving later: not marked. */
	FAIL_IF(put(9, "ghi", 3, &r, NULL) != HK_OK);
	stream_consume(&st, 9);
	FAIL_IF(nrels != 3);
	FAIL_IF(rels[0].verdict != PKT_DROP || rels[1].verdict != PKT_DROP ||
	        rels[2].verdict != PKT_PENDING);
	CHECK_CLEAN();
}

/* Bytes before the first sequence number are trimmed. */
static void
test_before_isn(void)
{
	struct stream_insert_res r;
	struct packet *p;

	fresh();
	stream_init(&st, 1000);
	FAIL_IF(put(995, "xxxxx01234", 10, &r, &p) != HK_OK);
	FAIL_IF(r.old_bytes != 5 || r.new_bytes != 5);
	FAIL_IF(p->hold_end != 5);
	FAIL_IF_NOT(bytes_are(0, "01234"));
	/* Entirely before: old, no data, held behind what is there. */
	FAIL_IF(put(990, "yyyyy", 5, &r, &p) != HK_OK);
	FAIL_IF(r.old_bytes != 5 || r.new_bytes != 0 || st.next != 5);
	FAIL_IF_NOT(bytes_are(0, "01234"));
	/* 3 bytes trimmed, 5 compared (the 'z' differs), 2 new. */
	FAIL_IF(put(997, "zzz01z3456", 10, &r, NULL) != HK_OK);
	FAIL_IF(r.old_bytes != 8 || r.new_bytes != 2);
	FAIL_IF(r.same_bytes != 4 || r.diff_bytes != 1);
	FAIL_IF_NOT(bytes_are(0, "0123456"));
	stream_consume(&st, 7);
	FAIL_IF(nrels != 3);
	CHECK_CLEAN();
}

/*
 * Randomised comparison with a byte-array model of the contract: first
 * copy wins, counters (new, old, same, diff), the in-order end, queued
 * bytes, gaps, the per-direction queue cap (only the bytes a segment
 * adds count), and the FIFO release of the
 * hold queue. Offsets stay below MODEL_MAX.
 */
#define MODEL_MAX 8192

struct model {
	uint8_t val[MODEL_MAX];
	bool known[MODEL_MAX]; /* a first copy (or a gap) is there */
	bool gap[MODEL_MAX];
	uint64_t next, consumed;
	uint64_t hold_id[MAXREC], hold_end[MAXREC];
	int hold_head, hold_n;
	uint64_t released[MAXREC];
	int nreleased;
};

static uint32_t rnd_x;

static uint32_t
rnd(uint32_t n)
{
	rnd_x = rnd_x * 1103515245 + 12345;
	return (rnd_x >> 8) % n;
}

static uint32_t
model_ooo_bytes(const struct model *m)
{
	uint32_t n = 0;
	uint64_t i;

	for (i = m->next; i < MODEL_MAX; i++)
		n += m->known[i];
	return n;
}

static void
model_release(struct model *m)
{
	while (m->hold_head < m->hold_n &&
	       m->hold_end[m->hold_head] <= m->consumed)
		m->released[m->nreleased++] = m->hold_id[m->hold_head++];
}

static void
model_advance(struct model *m)
{
	while (m->next < MODEL_MAX && m->known[m->next])
		m->next++;
}

/* One random insert; 0 or the line of the first mismatch. */
static int
model_insert(struct model *m, uint32_t isn, uint32_t max_ooo)
{
	uint8_t pl[64];
	struct stream_insert_res r, w;
	int64_t o = (int64_t)m->next - 40 + (int64_t)rnd(300);
	uint32_t len = rnd(8) == 0 ? 0 : 1 + rnd(60), k;
	int64_t i;
	struct packet *p;
	bool alt = rnd(6) == 0;
	uint64_t end;
	int rc;

	if (o + len >= MODEL_MAX - 64)
		o = (int64_t)m->next;
	for (k = 0; k < len; k++) {
		i = o + k;
		/* The truth is i * 7; an alternative copy differs. */
		pl[k] = (uint8_t)(i * 7 + (alt && (k % 3) == 0 ? 1 : 0));
	}
	memset(&w, 0, sizeof(w));
	end = m->next;
	if (len > 0) {
		int64_t a = o < 0 ? 0 : o;

		if (o < 0)
			w.old_bytes = (uint32_t)(-o < len ? -o : len);
		if (a < o + len)
			end = (uint64_t)(o + len);
		uint32_t newb = 0;

		for (i = a; i < o + len; i++)
			if (!((uint64_t)i < m->next || m->known[i]))
				newb++;
		if ((uint64_t)a > m->next &&
		    model_ooo_bytes(m) + newb > max_ooo) {
			w.memcap_flow = true;
		} else {
			for (i = a; i < o + len; i++) {
				uint8_t b = pl[i - o];

				if ((uint64_t)i < m->next || m->known[i]) {
					w.old_bytes++;
					if ((uint64_t)i >= m->consumed &&
					    !m->gap[i]) {
						if (m->val[i] == b)
							w.same_bytes++;
						else
							w.diff_bytes++;
					}
				} else {
					w.new_bytes++;
					m->known[i] = true;
					m->val[i] = b;
				}
			}
		}
	}
	rc = put(isn + (uint32_t)o, pl, len, &r, &p);
	if (w.memcap_flow) {
		if (rc != HK_ERR || !r.memcap_flow || p->refcnt != 1)
			return __LINE__;
		drop_owned(p);
		m->released[m->nreleased++] = pkt_ids;
		return 0;
	}
	if (rc != HK_OK)
		return __LINE__;
	if (r.new_bytes != w.new_bytes || r.old_bytes != w.old_bytes ||
	    r.same_bytes != w.same_bytes || r.diff_bytes != w.diff_bytes ||
	    r.memcap_flow || r.memcap_global)
		return __LINE__;
	if (len > 0 && w.new_bytes == 0 && w.diff_bytes == 0) {
		/* A copy of bytes still held: released at once. */
		if (!r.dup_of_held)
			return __LINE__;
		m->released[m->nreleased++] = pkt_ids;
		return 0;
	}
	if (r.dup_of_held)
		return __LINE__;
	m->hold_id[m->hold_n] = pkt_ids;
	m->hold_end[m->hold_n++] = end;
	model_advance(m);
	return 0;
}

static int
model_check(const struct model *m)
{
	static uint8_t buf[MODEL_MAX];
	uint64_t i, gaps = 0;
	int k;

	if (st.next != m->next || st.consumed != m->consumed)
		return __LINE__;
	if (st.ooo_bytes != model_ooo_bytes(m))
		return __LINE__;
	if ((st.ooo == NULL) != (st.ooo_bytes == 0))
		return __LINE__;
	for (i = m->next; i < MODEL_MAX && !m->known[i]; i++)
		;
	if (stream_ooo_first(&st) != (i < MODEL_MAX ? i : UINT64_MAX))
		return __LINE__;
	memset(buf, 0xa5, sizeof(buf));
	for (i = m->consumed; i < m->next; i++)
		gaps += m->gap[i];
	if (stream_copy(&st, m->consumed, buf, m->next - m->consumed) != gaps)
		return __LINE__;
	for (i = m->consumed; i < m->next; i++)
		if (buf[i - m->consumed] != (m->gap[i] ? 0 : m->val[i]))
			return __LINE__;
	if (nrels != m->nreleased)
		return __LINE__;
	for (k = 0; k < nrels; k++)
		if (rels[k].id != m->released[k])
			return __LINE__;
	if (st.held_pkts != (uint32_t)(m->hold_n - m->hold_head))
		return __LINE__;
	return 0;
}

static int
model_run(uint32_t isn, uint32_t max_ooo)
{
	static struct model m;
	struct stream_limits lim = default_limits;
	int op, line;

	fresh();
	memset(&m, 0, sizeof(m));
	lim.max_ooo_bytes = max_ooo;
	stream_set_limits(&lim);
	stream_init(&st, isn);
	for (op = 0; op < 400 && m.next < MODEL_MAX - 400; op++) {
		uint32_t what = rnd(10);

		if (what < 7) {
			line = model_insert(&m, isn, max_ooo);
		} else if (what < 9) {
			uint64_t upto =
			    m.consumed +
			    rnd((uint32_t)(m.next - m.consumed) + 1);

			stream_consume(&st, upto);
			m.consumed = upto;
			model_release(&m);
			line = 0;
		} else {
			uint64_t first, upto = 0, i, len;

			for (first = m.next;
			     first < MODEL_MAX && !m.known[first]; first++)
				;
			if (rnd(2))
				upto = m.next + rnd(100);
			len = stream_gap(&st, upto);
			if (upto == 0)
				upto = first < MODEL_MAX ? first : m.next;
			if (upto > first)
				upto = first;
			if (upto < m.next)
				upto = m.next;
			if (len != upto - m.next)
				return __LINE__;
			for (i = m.next; i < upto; i++) {
				m.known[i] = true;
				m.gap[i] = true;
			}
			model_advance(&m);
			line = 0;
		}
		if (line == 0)
			line = model_check(&m);
		if (line != 0) {
			fprintf(stderr, "isn %x op %d: line %d\n", isn, op,
			        line);
			return line;
		}
	}
	stream_release_all(&st, false);
	if (nrels != m.nreleased + (m.hold_n - m.hold_head))
		return __LINE__;
	stream_set_limits(&default_limits);
	return 0;
}

static void
test_random_model(void)
{
	int run;

	rnd_x = 20240601;
	for (run = 0; run < 300; run++) {
		uint32_t isn = rnd(3) == 0 ? 0xffffffff - rnd(2000) : rnd_x;
		uint32_t max_ooo = rnd(2) ? 200 + rnd(200) : 1 << 20;

		FAIL_IF(model_run(isn, max_ooo) != 0);
	}
	CHECK_CLEAN();
}

int
main(void)
{
	packet_set_release_hook(on_release, NULL);
	RUN_TEST(test_in_order);
	RUN_TEST(test_out_of_order_132);
	RUN_TEST(test_every_split);
	RUN_TEST(test_retransmit_consumed);
	RUN_TEST(test_retransmit_inorder);
	RUN_TEST(test_retransmit_queued_diff);
	RUN_TEST(test_partial_overlap);
	RUN_TEST(test_zero_length);
	RUN_TEST(test_hold_until_consumed);
	RUN_TEST(test_borrowed_held);
	RUN_TEST(test_gap);
	RUN_TEST(test_memcap);
	RUN_TEST(test_memcap_duplicate);
	RUN_TEST(test_memcap_segs_overshoot);
	RUN_TEST(test_seq_wrap);
	RUN_TEST(test_seq_wrap_64);
	RUN_TEST(test_release_all);
	RUN_TEST(test_before_isn);
	RUN_TEST(test_random_model);
	fresh();
	packet_set_release_hook(NULL, NULL);
	packet_pool_flush();
	stream_pool_flush();
	UT_DONE();
}
