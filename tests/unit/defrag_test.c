/*
 * Unit tests for src/ipv4/ipv4_defrag.c: reassembly in any order, the
 * first-copy-wins overlap policy and its anomalies, invalid fragments,
 * limits (memcap, trackers, fragments, 65535 bytes), timeouts, verdict
 * hand-over from the rebuilt datagram to its fragments, and a randomised
 * comparison against a byte-by-byte model.
 */
#include <string.h>

#include <haka/ipv4.h>

#include "unittest.h"

#define SRC    0xc0a80001
#define DST    0x0a000002
#define MAXREC 4096

struct anom_rec {
	enum anomaly a;
	uint64_t pkt_id;
};
static struct anom_rec anoms[MAXREC];
static int nanoms;

struct rel_rec {
	uint64_t id;
	uint8_t verdict;
};
static struct rel_rec rels[MAXREC];
static int nrels;

static uint32_t last_refcnt; /* refcnt of the fragment after insert */
static int anom_arg_token;

static void
on_anom(void *arg, enum anomaly a, struct packet *pkt)
{
	if (arg != &anom_arg_token || nanoms >= MAXREC)
		return;
	anoms[nanoms].a = a;
	anoms[nanoms].pkt_id = pkt != NULL ? pkt->id : 0;
	nanoms++;
}

static void
on_release(struct packet *pkt, void *arg)
{
	if (nrels >= MAXREC)
		return;
	rels[nrels].id = pkt->id;
	rels[nrels].verdict = pkt->verdict;
	nrels++;
}

static void
reset_recs(void)
{
	nanoms = 0;
	nrels = 0;
}

static uint8_t
pat(uint32_t i)
{
	return (uint8_t)(i * 31 + 7);
}

/*
 * A decoded raw IPv4 fragment: packet id 'pid', IP id 'ipid', fragment
 * offset 'off' bytes, MF, 'len' payload bytes from 'pl' (pattern when
 * NULL), header of hlen bytes with TTL 'ttl', correct checksum.
 */
static struct packet *
make_frag_full(uint64_t pid, uint16_t ipid, uint8_t proto, uint32_t off,
               bool mf, const uint8_t *pl, uint32_t len, uint32_t hlen,
               uint8_t ttl)
{
	struct packet *pkt = packet_new(hlen + len);
	enum anomaly a;
	uint8_t *h;
	uint32_t i;

	if (pkt == NULL)
		return NULL;
	pkt->id = pid;
	pkt->ts.sec = 1000 + (int64_t)pid;
	pkt->ts.nsec = 5;
	pkt->linktype = 12;
	pkt->l3_off = 0;
	pkt->wirelen = hlen + len;
	h = pkt->data;
	memset(h, 0, hlen);
	h[0] = 0x40 | (uint8_t)(hlen / 4);
	hk_wr16(h + 2, (uint16_t)(hlen + len));
	hk_wr16(h + 4, ipid);
	hk_wr16(h + 6, (uint16_t)((mf ? IPV4_FLAG_MF : 0) | IPV4_FLAG_DF |
	                          ((off / 8) & 0x1fff)));
	h[8] = ttl;
	h[9] = proto;
	hk_wr16(h + 12, SRC >> 16);
	hk_wr16(h + 14, SRC & 0xffff);
	hk_wr16(h + 16, DST >> 16);
	hk_wr16(h + 18, DST & 0xffff);
	for (i = 20; i < hlen; i++)
		h[i] = 1;
	hk_wr16(h + 10, inet_fold(inet_sum(h, hlen, 0)));
	for (i = 0; i < len; i++)
		h[hlen + i] = pl != NULL ? pl[i] : pat(off + i);
	if (ipv4_decode(pkt, true, &a, NULL) != HK_OK) {
		packet_unref(pkt);
		return NULL;
	}
	return pkt;
}

static struct packet *
make_frag(uint64_t pid, uint16_t ipid, uint32_t off, bool mf, const uint8_t *pl,
          uint32_t len)
{
	return make_frag_full(pid, ipid, IPV4_PROTO_UDP, off, mf, pl, len, 20,
	                      64);
}

/*
 * Insert like the engine: then give up the capture's reference (dropping
 * the fragment first when it was refused).
 */
static int
ins_at(struct defrag *d, struct packet *f, int64_t sec, struct packet **out)
{
	struct hk_time t = {sec, 0};
	int rc;

	*out = NULL;
	rc = defrag_insert(d, f, &t, out);
	last_refcnt = f->refcnt;
	if (rc == HK_ERR)
		packet_drop(f);
	packet_unref(f);
	return rc;
}

static int
ins(struct defrag *d, struct packet *f, struct packet **out)
{
	return ins_at(d, f, 1000, out);
}

static struct defrag *
new_defrag(uint64_t memcap, uint32_t timeout, uint32_t max_frags,
           uint32_t max_trackers)
{
	struct defrag_conf c = {memcap, timeout, max_frags, max_trackers};

	reset_recs();
	packet_set_release_hook(on_release, NULL);
	return defrag_new(&c, on_anom, &anom_arg_token);
}

/* The rebuilt datagram carries hlen + len bytes: header then pattern. */
static int
dgram_ok(const struct packet *out, uint32_t hlen, uint32_t len, uint8_t proto)
{
	const uint8_t *h = out->data;
	uint32_t i;

	if (out->l3_off != 0 || out->linktype != 12 ||
	    out->caplen != hlen + len)
		return 0;
	if (out->flags != (PKT_F_REASSEMBLED | PKT_F_NO_OUTPUT | PKT_F_IPV4))
		return 0;
	if (out->ip_hlen != hlen || out->ip_len != hlen + len ||
	    out->l4_off != hlen || out->refcnt != 1)
		return 0;
	if (ipv4_total_len(out) != hlen + len || ipv4_is_fragment(out) ||
	    ipv4_flags(out) != IPV4_FLAG_DF || ipv4_proto(out) != proto ||
	    ipv4_src(out) != SRC || ipv4_dst(out) != DST)
		return 0;
	if (inet_fold(inet_sum(h, hlen, 0)) != 0)
		return 0;
	for (i = 0; i < len; i++)
		if (h[hlen + i] != pat(i))
			return 0;
	return 1;
}

/* The frags list holds exactly ids[0..n) in that order. */
static int
frags_are(const struct packet *out, const uint64_t *ids, int n)
{
	const struct packet *f = out->frags;
	int i;

	for (i = 0; i < n; i++, f = f->next)
		if (f == NULL || f->id != ids[i] || f->refcnt != 1)
			return 0;
	return f == NULL;
}

static int
all_released(int n, uint8_t verdict)
{
	int i;

	if (nrels != n)
		return 0;
	for (i = 0; i < n; i++)
		if (rels[i].verdict != verdict)
			return 0;
	return 1;
}

static void
test_in_order(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	static const uint64_t ids[] = {1, 2, 3};
	struct packet *out;

	FAIL_IF(d == NULL);
	FAIL_IF(ins(d, make_frag(1, 7, 0, true, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(last_refcnt != 2 || out != NULL);
	FAIL_IF(ins(d, make_frag(2, 7, 16, true, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(defrag_stats(d)->bytes_held == 0);
	FAIL_IF(ins(d, make_frag(3, 7, 32, false, NULL, 5), &out) != HK_OK);
	FAIL_IF(out == NULL);
	FAIL_IF(!dgram_ok(out, 20, 37, IPV4_PROTO_UDP));
	FAIL_IF(!frags_are(out, ids, 3));
	/* Time and id of the completing fragment. */
	FAIL_IF(out->id != 3 || out->ts.sec != 1003 || out->ts.nsec != 5);
	FAIL_IF(nanoms != 0 || nrels != 0);
	FAIL_IF(defrag_stats(d)->bytes_held != 0);
	FAIL_IF(defrag_stats(d)->reassembled != 1);
	FAIL_IF(defrag_stats(d)->fragments != 3);
	packet_unref(out);
	FAIL_IF(!all_released(3, PKT_PENDING));
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_reverse_order(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	static const uint64_t ids[] = {3, 2, 1};
	struct packet *out;

	FAIL_IF(d == NULL);
	FAIL_IF(ins(d, make_frag(3, 9, 32, false, NULL, 5), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(2, 9, 16, true, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(1, 9, 0, true, NULL, 16), &out) != HK_OK);
	FAIL_IF(!dgram_ok(out, 20, 37, IPV4_PROTO_UDP));
	/* Arrival order, not offset order. */
	FAIL_IF(!frags_are(out, ids, 3));
	FAIL_IF(out->id != 1);
	FAIL_IF(nanoms != 0);
	packet_unref(out);
	FAIL_IF(nrels != 3);
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_options_header(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	struct packet *out;

	FAIL_IF(d == NULL);
	/* Only the offset-0 fragment's header (24 bytes) is kept. */
	FAIL_IF(ins(d,
	            make_frag_full(1, 5, IPV4_PROTO_TCP, 24, false, NULL, 8, 20,
	                           10),
	            &out) != HK_AGAIN);
	FAIL_IF(
	    ins(d,
	        make_frag_full(2, 5, IPV4_PROTO_TCP, 0, true, NULL, 24, 24, 20),
	        &out) != HK_OK);
	FAIL_IF(!dgram_ok(out, 24, 32, IPV4_PROTO_TCP));
	FAIL_IF(ipv4_ttl(out) != 20 || out->data[20] != 1);
	packet_unref(out);
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_duplicate(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	static const uint64_t ids[] = {1, 2, 3, 4};
	struct packet *out;

	FAIL_IF(d == NULL);
	FAIL_IF(ins(d, make_frag(1, 7, 0, true, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(2, 7, 16, true, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(3, 7, 16, true, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(last_refcnt != 2); /* held even though it adds nothing */
	FAIL_IF(nanoms != 1 || anoms[0].a != ANOM_IPV4_FRAG_OVERLAP ||
	        anoms[0].pkt_id != 3);
	FAIL_IF(ins(d, make_frag(4, 7, 32, false, NULL, 8), &out) != HK_OK);
	FAIL_IF(!dgram_ok(out, 20, 40, IPV4_PROTO_UDP));
	FAIL_IF(!frags_are(out, ids, 4));
	FAIL_IF(defrag_stats(d)->overlaps != 1);
	FAIL_IF(defrag_stats(d)->overlaps_diff != 0);
	packet_unref(out);
	FAIL_IF(!all_released(4, PKT_PENDING));
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_partial_overlap_same(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	struct packet *out;

	FAIL_IF(d == NULL);
	/* [8,24) then [0,16) then [16,40): the middle ones add new bytes. */
	FAIL_IF(ins(d, make_frag(1, 3, 8, true, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(2, 3, 0, true, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(3, 3, 16, false, NULL, 24), &out) != HK_OK);
	FAIL_IF(!dgram_ok(out, 20, 40, IPV4_PROTO_UDP));
	FAIL_IF(nanoms != 2 || anoms[0].a != ANOM_IPV4_FRAG_OVERLAP ||
	        anoms[1].a != ANOM_IPV4_FRAG_OVERLAP || anoms[1].pkt_id != 3);
	packet_unref(out);
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_overlap_diff(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	uint8_t a[16], b[16];
	struct packet *out;
	uint32_t i;

	FAIL_IF(d == NULL);
	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	/* [0,16) 'A', then [8,24) 'B' overlapping [8,16), then last. */
	FAIL_IF(ins(d, make_frag(1, 4, 0, true, a, 16), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(2, 4, 8, true, b, 16), &out) != HK_AGAIN);
	FAIL_IF(nanoms != 1 || anoms[0].a != ANOM_IPV4_FRAG_OVERLAP_DIFF ||
	        anoms[0].pkt_id != 2);
	FAIL_IF(ins(d, make_frag(3, 4, 24, false, b, 8), &out) != HK_OK);
	FAIL_IF(out->ip_len != 52);
	/* The first copy wins. */
	for (i = 0; i < 16; i++)
		FAIL_IF(out->data[20 + i] != 'A');
	for (i = 16; i < 32; i++)
		FAIL_IF(out->data[20 + i] != 'B');
	FAIL_IF(defrag_stats(d)->overlaps_diff != 1);
	FAIL_IF(defrag_stats(d)->overlaps != 0);
	packet_unref(out);
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_invalid(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	struct packet *out;

	FAIL_IF(d == NULL);
	/* Not the last and not a multiple of 8 bytes. */
	FAIL_IF(ins(d, make_frag(1, 1, 0, true, NULL, 12), &out) != HK_ERR);
	FAIL_IF(last_refcnt != 1 || nanoms != 1 ||
	        anoms[0].a != ANOM_IPV4_FRAG_INVALID || anoms[0].pkt_id != 1);

	/* The last fragment ends the datagram at 24. */
	FAIL_IF(ins(d, make_frag(2, 2, 16, false, NULL, 8), &out) != HK_AGAIN);
	/* Beyond the end. */
	FAIL_IF(ins(d, make_frag(3, 2, 24, true, NULL, 8), &out) != HK_ERR);
	FAIL_IF(last_refcnt != 1);
	/* A second last fragment with another end. */
	FAIL_IF(ins(d, make_frag(4, 2, 16, false, NULL, 16), &out) != HK_ERR);
	FAIL_IF(ins(d, make_frag(9, 2, 0, false, NULL, 16), &out) != HK_ERR);
	/* A second last fragment with the same end is an overlap only. */
	FAIL_IF(ins(d, make_frag(5, 2, 8, false, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(nanoms != 5 || anoms[1].a != ANOM_IPV4_FRAG_INVALID ||
	        anoms[2].a != ANOM_IPV4_FRAG_INVALID ||
	        anoms[3].a != ANOM_IPV4_FRAG_INVALID || anoms[3].pkt_id != 9 ||
	        anoms[4].a != ANOM_IPV4_FRAG_OVERLAP);
	FAIL_IF(ins(d, make_frag(6, 2, 0, true, NULL, 8), &out) != HK_OK);
	FAIL_IF(!dgram_ok(out, 20, 24, IPV4_PROTO_UDP));
	packet_unref(out);

	/* Data already beyond the end a late last fragment claims. */
	FAIL_IF(ins(d, make_frag(7, 3, 16, true, NULL, 16), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(8, 3, 0, false, NULL, 16), &out) != HK_ERR);
	FAIL_IF(anoms[nanoms - 1].a != ANOM_IPV4_FRAG_INVALID);
	FAIL_IF(defrag_stats(d)->invalid != 5);
	FAIL_IF(rels[nrels - 1].id != 8 || rels[nrels - 1].verdict != PKT_DROP);
	defrag_free(d);
	FAIL_IF(rels[nrels - 1].id != 7 || rels[nrels - 1].verdict != PKT_DROP);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_too_large(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	struct packet *out;

	FAIL_IF(d == NULL);
	/* 65528 + 16 + 20 > 65535. */
	FAIL_IF(ins(d, make_frag(1, 1, 65528, true, NULL, 16), &out) != HK_ERR);
	FAIL_IF(last_refcnt != 1);
	FAIL_IF(nanoms != 1 || anoms[0].a != ANOM_IPV4_FRAG_TOO_LARGE);
	FAIL_IF(ins(d, make_frag(2, 1, 65528, false, NULL, 8), &out) != HK_ERR);
	/* 65504 + 8 + 20 fits; a 24-byte header at offset 0 would not. */
	FAIL_IF(ins(d, make_frag(3, 1, 65504, false, NULL, 8), &out) !=
	        HK_AGAIN);
	FAIL_IF(
	    ins(d,
	        make_frag_full(4, 1, IPV4_PROTO_UDP, 0, true, NULL, 8, 24, 64),
	        &out) != HK_ERR);
	FAIL_IF(anoms[nanoms - 1].a != ANOM_IPV4_FRAG_TOO_LARGE);
	FAIL_IF(defrag_stats(d)->too_large != 3);
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_too_many(void)
{
	struct defrag *d = new_defrag(0, 0, 3, 0);
	struct packet *out;

	FAIL_IF(d == NULL);
	FAIL_IF(ins(d, make_frag(1, 1, 0, true, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(2, 1, 8, true, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(3, 1, 8, true, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(4, 1, 16, false, NULL, 8), &out) != HK_ERR);
	FAIL_IF(last_refcnt != 1);
	FAIL_IF(anoms[nanoms - 1].a != ANOM_IPV4_FRAG_TOO_MANY ||
	        anoms[nanoms - 1].pkt_id != 4);
	defrag_free(d);
	FAIL_IF(!all_released(4, PKT_DROP));
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_memcap(void)
{
	struct defrag *d;
	struct packet *out;
	uint64_t unit, cap;
	int i, rc = HK_AGAIN, held = 0;

	/* What one full-size fragment in its own tracker costs. */
	d = new_defrag(0, 0, 0, 0);
	FAIL_IF(d == NULL);
	FAIL_IF(ins(d, make_frag(1, 1, 0, true, NULL, 1480), &out) != HK_AGAIN);
	unit = defrag_stats(d)->bytes_held;
	FAIL_IF(unit < sizeof(struct packet) + 1500);
	defrag_free(d);

	/* Two such datagrams, plus one more fragment but not a tracker. */
	cap = 2 * unit + sizeof(struct packet) + 2048 + 16;
	d = new_defrag(cap, 0, 0, 0);
	FAIL_IF(d == NULL);
	for (i = 1; i <= 10 && rc == HK_AGAIN; i++) {
		rc = ins(d, make_frag(i, (uint16_t)i, 0, true, NULL, 1480),
		         &out);
		if (rc == HK_AGAIN)
			held++;
	}
	FAIL_IF(rc != HK_ERR || held != 2);
	FAIL_IF(last_refcnt != 1);
	FAIL_IF(nanoms != 1 || anoms[0].a != ANOM_IPV4_FRAG_MEMCAP ||
	        anoms[0].pkt_id != 3);
	FAIL_IF(defrag_stats(d)->memcap_drops != 1);
	FAIL_IF(defrag_stats(d)->bytes_held != 2 * unit);
	/* A fragment of a known datagram still fits, and completes it. */
	FAIL_IF(ins(d, make_frag(20, 1, 1480, false, NULL, 8), &out) != HK_OK);
	FAIL_IF(!dgram_ok(out, 20, 1488, IPV4_PROTO_UDP));
	packet_unref(out);
	FAIL_IF(defrag_stats(d)->bytes_held != unit);
	FAIL_IF(ins(d, make_frag(21, 50, 0, true, NULL, 1480), &out) !=
	        HK_AGAIN);
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_max_trackers(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 2);
	struct packet *out;

	FAIL_IF(d == NULL);
	FAIL_IF(ins(d, make_frag(1, 1, 0, true, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(2, 2, 0, true, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(3, 3, 0, true, NULL, 8), &out) != HK_ERR);
	FAIL_IF(anoms[nanoms - 1].a != ANOM_IPV4_FRAG_MEMCAP);
	/* Existing datagrams still progress. */
	FAIL_IF(ins(d, make_frag(4, 2, 8, false, NULL, 8), &out) != HK_OK);
	packet_unref(out);
	FAIL_IF(ins(d, make_frag(5, 3, 0, true, NULL, 8), &out) != HK_AGAIN);
	/* Same id, other protocol: another datagram. */
	FAIL_IF(
	    ins(d,
	        make_frag_full(6, 3, IPV4_PROTO_TCP, 8, false, NULL, 8, 20, 64),
	        &out) != HK_ERR);
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_timeout(void)
{
	struct defrag *d = new_defrag(0, 30, 0, 0);
	struct hk_time t;
	struct packet *out;

	FAIL_IF(d == NULL);
	FAIL_IF(ins_at(d, make_frag(1, 1, 0, true, NULL, 8), 100, &out) !=
	        HK_AGAIN);
	FAIL_IF(ins_at(d, make_frag(2, 1, 16, true, NULL, 8), 110, &out) !=
	        HK_AGAIN);
	FAIL_IF(ins_at(d, make_frag(3, 2, 0, true, NULL, 8), 120, &out) !=
	        HK_AGAIN);
	t = (struct hk_time){129, 999999999};
	defrag_expire(d, &t);
	FAIL_IF(nanoms != 0 || nrels != 0);
	/* 30 s after the FIRST fragment, not the last one. */
	t = (struct hk_time){130, 0};
	defrag_expire(d, &t);
	FAIL_IF(nanoms != 1 || anoms[0].a != ANOM_IPV4_FRAG_TIMEOUT ||
	        anoms[0].pkt_id != 1);
	FAIL_IF(nrels != 2 || rels[0].id != 1 || rels[1].id != 2);
	FAIL_IF(!all_released(2, PKT_DROP));
	FAIL_IF(defrag_stats(d)->timeouts != 1);
	/* A late fragment of the expired datagram starts a new one. */
	FAIL_IF(ins_at(d, make_frag(4, 1, 8, false, NULL, 8), 131, &out) !=
	        HK_AGAIN);
	/* Inserting also expires. */
	FAIL_IF(ins_at(d, make_frag(5, 9, 0, true, NULL, 8), 150, &out) !=
	        HK_AGAIN);
	FAIL_IF(nanoms != 2 || anoms[1].pkt_id != 3 || nrels != 3);
	t = (struct hk_time){1000, 0};
	defrag_expire(d, &t);
	FAIL_IF(defrag_stats(d)->timeouts != 4);
	FAIL_IF(!all_released(5, PKT_DROP));
	FAIL_IF(defrag_stats(d)->bytes_held != 0);
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_free_drops(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	struct packet *out;

	FAIL_IF(d == NULL);
	FAIL_IF(ins(d, make_frag(1, 1, 0, true, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(2, 2, 8, false, NULL, 8), &out) != HK_AGAIN);
	defrag_free(d);
	FAIL_IF(!all_released(2, PKT_DROP));
	FAIL_IF(nanoms != 0);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_verdict_handover(void)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	struct packet *out;

	FAIL_IF(d == NULL);
	FAIL_IF(ins(d, make_frag(1, 1, 0, true, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(2, 1, 16, false, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(3, 1, 8, true, NULL, 8), &out) != HK_OK);
	packet_drop(out);
	packet_unref(out);
	FAIL_IF(!all_released(3, PKT_DROP));
	FAIL_IF(rels[0].id != 1 || rels[1].id != 2 || rels[2].id != 3);

	reset_recs();
	FAIL_IF(ins(d, make_frag(4, 2, 0, true, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(5, 2, 16, false, NULL, 8), &out) != HK_AGAIN);
	FAIL_IF(ins(d, make_frag(6, 2, 8, true, NULL, 8), &out) != HK_OK);
	/* A reference held elsewhere (a stream chunk) delays the release. */
	packet_ref(out);
	packet_unref(out);
	FAIL_IF(nrels != 0);
	packet_unref(out);
	FAIL_IF(!all_released(3, PKT_PENDING));
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

/* 60004-byte ICMP datagram: 20 + 40 * 1480 + 784, in 41 fragments. */
static void
run_big(const int *order)
{
	struct defrag *d = new_defrag(0, 0, 0, 0);
	struct packet *out = NULL;
	uint64_t ids[41];
	int i, k, rc;

	FAIL_IF(d == NULL);
	for (i = 0; i < 41; i++) {
		k = order[i];
		ids[i] = (uint64_t)k + 1;
		rc =
		    ins(d,
		        make_frag_full((uint64_t)k + 1, 0x4242, IPV4_PROTO_ICMP,
		                       (uint32_t)k * 1480, k < 40, NULL,
		                       k < 40 ? 1480 : 784, 20, 64),
		        &out);
		FAIL_IF(rc != (i < 40 ? HK_AGAIN : HK_OK));
	}
	FAIL_IF(out == NULL);
	FAIL_IF(out->ip_len != 60004 || out->caplen != 60004);
	FAIL_IF(!dgram_ok(out, 20, 59984, IPV4_PROTO_ICMP));
	FAIL_IF(!frags_are(out, ids, 41));
	FAIL_IF(nanoms != 0);
	packet_unref(out);
	FAIL_IF(!all_released(41, PKT_PENDING));
	defrag_free(d);
	FAIL_IF(packet_stats()->live != 0);
}

static uint32_t rng_state = 2463534242u;

static uint32_t
rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return n ? rng_state % n : 0;
}

static void
test_big(void)
{
	int order[41], i, j, tmp;

	for (i = 0; i < 41; i++)
		order[i] = i;
	run_big(order);
	for (i = 0; i < 41; i++)
		order[i] = 40 - i;
	run_big(order);
	for (i = 40; i > 0; i--) {
		j = (int)rnd((uint32_t)i + 1);
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	run_big(order);
}

/*
 * Random fragmentations with random extra overlapping fragments, some
 * carrying different bytes, in random order, compared with a model that
 * applies first-copy-wins byte by byte.
 */
#define RND_MAXLEN   3000
#define RND_MAXFRAGS 64

struct rfrag {
	uint32_t off, len;
	bool mf;
	uint8_t ttl;
	uint8_t data[RND_MAXLEN];
};

static void
test_random(void)
{
	static struct rfrag fr[RND_MAXFRAGS];
	static uint8_t model[RND_MAXLEN];
	static bool have[RND_MAXLEN];
	struct defrag *d = new_defrag(0, 0, 0, 0);
	struct packet *out, *f;
	uint32_t iter, L, nf, i, j, pos, cut, s, e, b;
	uint8_t ttl0;
	enum anomaly want;
	bool diff, ovl, last_seen, zero_seen, done;
	int rc, na;

	FAIL_IF(d == NULL);
	for (iter = 0; iter < 3000; iter++) {
		reset_recs();
		L = 1 + rnd(RND_MAXLEN);
		nf = 0;
		/* A covering partition at random multiples of 8. */
		for (pos = 0; pos < L && nf < RND_MAXFRAGS / 2; pos = cut) {
			cut = pos + 8 * (1 + rnd(64));
			if (cut >= L || nf == RND_MAXFRAGS / 2 - 1)
				cut = L;
			fr[nf].off = pos;
			fr[nf].len = cut - pos;
			fr[nf].mf = cut < L;
			nf++;
		}
		/* Extra fragments, 8-aligned, some ending at L. */
		for (j = rnd(RND_MAXFRAGS / 2); j > 0; j--) {
			s = 8 * rnd((L + 7) / 8);
			if (s >= L)
				s = 0;
			if (rnd(4) == 0) {
				e = L;
			} else {
				e = s + 8 * (1 + rnd(32));
				if (e >= L)
					e = L;
			}
			fr[nf].off = s;
			fr[nf].len = e - s;
			fr[nf].mf = e < L;
			nf++;
		}
		for (i = 0; i < nf; i++) {
			b = rnd(3) == 0 ? 1 + rnd(255) : 0;
			for (j = 0; j < fr[i].len; j++)
				fr[i].data[j] = pat(fr[i].off + j) ^ (uint8_t)b;
			fr[i].ttl = (uint8_t)(1 + i);
		}
		for (i = nf - 1; i > 0; i--) {
			struct rfrag tmp;

			j = rnd(i + 1);
			tmp = fr[i];
			fr[i] = fr[j];
			fr[j] = tmp;
		}
		memset(have, 0, sizeof(have));
		last_seen = zero_seen = done = false;
		ttl0 = 0;
		na = 0;
		for (i = 0; i < nf && !done; i++) {
			diff = ovl = false;
			for (j = 0; j < fr[i].len; j++) {
				b = fr[i].off + j;
				if (have[b]) {
					ovl = true;
					diff |= model[b] != fr[i].data[j];
				} else {
					have[b] = true;
					model[b] = fr[i].data[j];
				}
			}
			if (!fr[i].mf)
				last_seen = true;
			if (fr[i].off == 0 && !zero_seen) {
				zero_seen = true;
				ttl0 = fr[i].ttl;
			}
			done = last_seen && zero_seen;
			for (j = 0; done && j < L; j++)
				done = have[j];
			f = make_frag_full(
			    i + 1, (uint16_t)iter, IPV4_PROTO_UDP, fr[i].off,
			    fr[i].mf, fr[i].data, fr[i].len, 20, fr[i].ttl);
			FAIL_IF(f == NULL);
			rc = ins(d, f, &out);
			FAIL_IF(rc != (done ? HK_OK : HK_AGAIN));
			if (ovl) {
				want = diff ? ANOM_IPV4_FRAG_OVERLAP_DIFF
				            : ANOM_IPV4_FRAG_OVERLAP;
				FAIL_IF(na >= nanoms || anoms[na].a != want ||
				        anoms[na].pkt_id != i + 1);
				na++;
			}
			FAIL_IF(nanoms != na);
		}
		FAIL_IF(!done);
		FAIL_IF(out->ip_len != 20 + L || ipv4_ttl(out) != ttl0);
		FAIL_IF(memcmp(out->data + 20, model, L) != 0);
		for (j = 0, f = out->frags; f != NULL; f = f->next, j++)
			FAIL_IF(f->id != j + 1);
		FAIL_IF(j != i);
		if (rnd(2))
			packet_drop(out);
		b = out->verdict == PKT_DROP ? PKT_DROP : PKT_PENDING;
		packet_unref(out);
		FAIL_IF(!all_released((int)i, (uint8_t)b));
		FAIL_IF(defrag_stats(d)->bytes_held != 0);
		FAIL_IF(packet_stats()->live != 0);
	}
	FAIL_IF(defrag_stats(d)->reassembled != 3000);
	defrag_free(d);
}

/*
 * Hostile mix: arbitrary offsets, lengths and flags on a few keys, time
 * going back and forth, small limits. Nothing may crash or leak, and the
 * accounting must return to zero.
 */
static void
test_hostile(void)
{
	static uint8_t junk[1600];
	struct defrag *d = new_defrag(256 * 1024, 5, 48, 4);
	struct packet *f, *out;
	struct hk_time t;
	int64_t now = 1000;
	uint32_t i, off, len;
	int rc;

	FAIL_IF(d == NULL);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rnd(4);
	for (i = 0; i < 200000; i++) {
		off = rnd(50) == 0 ? 8 * rnd(8192) : 8 * rnd(16);
		len = rnd(10) == 0 ? rnd(1500) : 8 * rnd(5);
		f = make_frag_full(i + 1, (uint16_t)rnd(3),
		                   rnd(8) ? IPV4_PROTO_UDP : IPV4_PROTO_TCP,
		                   off, rnd(6) != 0, junk + rnd(64), len,
		                   rnd(5) == 0 ? 24 : 20, 64);
		FAIL_IF(f == NULL);
		if (rnd(20) == 0)
			now += (int64_t)rnd(4) - 1;
		rc = ins_at(d, f, now, &out);
		FAIL_IF(rc != HK_OK && rc != HK_AGAIN && rc != HK_ERR);
		if (rc == HK_OK) {
			FAIL_IF(out == NULL || out->ip_len != out->caplen);
			if (rnd(2))
				packet_drop(out);
			packet_unref(out);
		}
		if (rnd(100) == 0) {
			t = (struct hk_time){now, 0};
			defrag_expire(d, &t);
		}
		if (nanoms > MAXREC / 2 || nrels > MAXREC / 2)
			reset_recs();
	}
	FAIL_IF(defrag_stats(d)->reassembled == 0);
	FAIL_IF(defrag_stats(d)->overlaps_diff == 0);
	FAIL_IF(defrag_stats(d)->timeouts == 0);
	FAIL_IF(defrag_stats(d)->invalid == 0);
	t = (struct hk_time){now + 3600, 0};
	defrag_expire(d, &t);
	FAIL_IF(defrag_stats(d)->bytes_held != 0);
	FAIL_IF(packet_stats()->live != 0);
	defrag_free(d);
}

int
main(void)
{
	RUN_TEST(test_in_order);
	RUN_TEST(test_reverse_order);
	RUN_TEST(test_options_header);
	RUN_TEST(test_duplicate);
	RUN_TEST(test_partial_overlap_same);
	RUN_TEST(test_overlap_diff);
	RUN_TEST(test_invalid);
	RUN_TEST(test_too_large);
	RUN_TEST(test_too_many);
	RUN_TEST(test_memcap);
	RUN_TEST(test_max_trackers);
	RUN_TEST(test_timeout);
	RUN_TEST(test_free_drops);
	RUN_TEST(test_verdict_handover);
	RUN_TEST(test_big);
	RUN_TEST(test_random);
	RUN_TEST(test_hostile);
	packet_set_release_hook(NULL, NULL);
	packet_pool_flush();
	UT_DONE();
}
