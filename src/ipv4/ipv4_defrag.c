/*
 * IPv4 fragment reassembly (RFC 791 section 3.2, RFC 815), in the spirit
 * of Suricata's defrag.c with a single policy: the first copy of a byte
 * wins. Owns the trackers, the overlap checks, the timeouts and the
 * memcap. Called by the engine for every decoded packet for which
 * ipv4_is_fragment() is true; defrag_expire is called as time passes.
 *
 * Layout:
 *
 *   buckets[hash & mask] -> tracker -> tracker ...   (hnext, hprev)
 *   fifo_head -> tracker -> ... -> fifo_tail         (creation order)
 *
 *   tracker (src, dst, id, proto)
 *     head -> frag -> frag -> frag -> NULL  (pkt->next, ARRIVAL order,
 *                                            one reference each)
 *     segs[]: sorted, disjoint payload byte ranges; each one points into
 *             the fragment that supplied those bytes first:
 *
 *     payload   0          8                  24        32
 *               [ f2       )[ f1                        )   segs
 *                           |<--- f3 -------->|             f3 overlaps f1:
 *                                                           compared only
 *
 * A fragment that overlaps accepted bytes is compared with them (overlap
 * anomaly), is still held (it is forwarded with its datagram) and adds
 * only the bytes nobody sent before. When the ranges cover [0, end) and
 * the last fragment and the fragment at offset 0 are known, one packet is
 * rebuilt and the fragment list moves to its frags list.
 *
 * Memory: every held fragment is charged sizeof(struct packet) + its
 * buffer, every tracker its own size plus its heap segment array, against
 * conf.memcap (stats.bytes_held). Trackers are capped by max_trackers,
 * fragments per tracker by max_frags (which also bounds the segment
 * array: at most 2 * max_frags entries, inserted in O(n)).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <haka/hash.h>
#include <haka/ipv4.h>

#define DEFRAG_DEF_MEMCAP       (32ULL << 20)
#define DEFRAG_DEF_TIMEOUT      60
#define DEFRAG_DEF_MAX_FRAGS    8192 /* a full datagram in 8-byte pieces */
#define DEFRAG_DEF_MAX_TRACKERS 65535
#define DEFRAG_MIN_BUCKETS      16
#define DEFRAG_MAX_BUCKETS      (1U << 20)
#define DEFRAG_SEGS_INLINE      8     /* enough for most datagrams: no malloc */
#define DEFRAG_SPARE_MAX        64    /* idle trackers kept for reuse */
#define DEFRAG_IP_MAX           65535 /* RFC 791: total length is 16 bits */
#define DEFRAG_DLT_RAW          12

struct defrag_seg {
	uint32_t start, end; /* payload bytes [start, end) */
	const uint8_t *src;  /* byte 'start' in the fragment that sent it */
};

struct defrag_tracker {
	struct defrag_tracker *hnext, **hprev; /* hash chain */
	struct defrag_tracker *fnext, *fprev;  /* creation FIFO */
	uint32_t src, dst;
	uint16_t id;
	uint8_t proto;
	bool has_last;              /* the MF=0 fragment fixed 'end' */
	int64_t created_ns;         /* capture time of the first fragment */
	struct packet *head, *tail; /* held fragments, arrival order */
	struct packet *first0;      /* first fragment at offset 0: the header */
	uint32_t nfrags;
	uint32_t end;     /* payload length, valid when has_last */
	uint32_t covered; /* bytes in segs */
	uint32_t nseg, segcap;
	struct defrag_seg *segs; /* seg_inline or heap */
	uint64_t charged;        /* bytes counted in stats.bytes_held */
	struct defrag_seg seg_inline[DEFRAG_SEGS_INLINE];
};

struct defrag {
	struct defrag_conf conf;
	int64_t timeout_ns;
	anomaly_fn anom;
	void *anom_arg;
	uint64_t seed;
	struct defrag_tracker **buckets;
	uint32_t mask;
	uint32_t ntrackers;
	struct defrag_tracker *fifo_head, *fifo_tail;
	struct defrag_tracker *spare; /* idle trackers, through hnext */
	uint32_t nspare;
	struct defrag_stats stats;
};

/* Where a new fragment falls among the accepted segments. */
struct defrag_place {
	uint32_t i0, i1; /* segs[i0, i1) overlap the fragment */
	uint32_t gaps;   /* new segments the fragment fills */
	bool overlap, diff;
};

static void
defrag_raise(struct defrag *d, enum anomaly a, struct packet *pkt)
{
	if (d->anom != NULL)
		d->anom(d->anom_arg, a, pkt);
}

static int
defrag_reject(struct defrag *d, struct packet *pkt, enum anomaly a,
              uint64_t *counter)
{
	(*counter)++;
	defrag_raise(d, a, pkt);
	return HK_ERR;
}

/*
 * Capture time in ns. Seconds are clamped to +-2^32 so that neither the
 * product nor the difference of two times can overflow on a hostile
 * timestamp.
 */
static int64_t
defrag_time_ns(const struct hk_time *t)
{
	int64_t sec = t->sec;

	if (sec > (int64_t)1 << 32)
		sec = (int64_t)1 << 32;
	else if (sec < -((int64_t)1 << 32))
		sec = -((int64_t)1 << 32);
	return sec * 1000000000LL + t->nsec;
}

/*
 * The key is chosen by the sender, so the hash is seeded with a secret
 * per-instance value; chains are short unless the seed leaks, and are
 * bounded by max_trackers anyway.
 */
static uint32_t
defrag_hash(const struct defrag *d, uint32_t src, uint32_t dst, uint16_t id,
            uint8_t proto)
{
	uint64_t h;

	h = hk_mix64(d->seed ^ ((uint64_t)src << 32 | dst));
	h = hk_mix64(h ^ ((uint64_t)id << 8 | proto));
	return (uint32_t)(h >> 32);
}

static uint64_t
defrag_frag_cost(const struct packet *pkt)
{
	return sizeof(struct packet) + pkt->data_cap;
}

static void
defrag_charge(struct defrag *d, struct defrag_tracker *t, uint64_t n)
{
	t->charged += n;
	d->stats.bytes_held += n;
}

static struct defrag_tracker *
defrag_lookup(struct defrag *d, uint32_t bucket, uint32_t src, uint32_t dst,
              uint16_t id, uint8_t proto)
{
	struct defrag_tracker *t;

	for (t = d->buckets[bucket]; t != NULL; t = t->hnext)
		if (t->src == src && t->dst == dst && t->id == id &&
		    t->proto == proto)
			return t;
	return NULL;
}

/* A tracker linked in the hash and the FIFO, charged its own size. */
static struct defrag_tracker *
defrag_tracker_new(struct defrag *d, uint32_t bucket, uint32_t src,
                   uint32_t dst, uint16_t id, uint8_t proto, int64_t now_ns)
{
	struct defrag_tracker *t, **bp;

	if ((t = d->spare) != NULL) {
		d->spare = t->hnext;
		d->nspare--;
	} else if ((t = malloc(sizeof(*t))) == NULL)
		return NULL;
	memset(t, 0, offsetof(struct defrag_tracker, seg_inline));
	t->src = src;
	t->dst = dst;
	t->id = id;
	t->proto = proto;
	t->created_ns = now_ns;
	t->segs = t->seg_inline;
	t->segcap = DEFRAG_SEGS_INLINE;

	bp = &d->buckets[bucket];
	t->hnext = *bp;
	if (*bp != NULL)
		(*bp)->hprev = &t->hnext;
	t->hprev = bp;
	*bp = t;

	t->fprev = d->fifo_tail;
	if (d->fifo_tail != NULL)
		d->fifo_tail->fnext = t;
	else
		d->fifo_head = t;
	d->fifo_tail = t;

	d->ntrackers++;
	defrag_charge(d, t, sizeof(*t));
	return t;
}

/*
 * Unlink and free a tracker whose fragment list has already been emptied
 * (moved to a rebuilt packet or released).
 */
static void
defrag_tracker_free(struct defrag *d, struct defrag_tracker *t)
{
	assert(t->head == NULL);
	*t->hprev = t->hnext;
	if (t->hnext != NULL)
		t->hnext->hprev = t->hprev;
	if (t->fprev != NULL)
		t->fprev->fnext = t->fnext;
	else
		d->fifo_head = t->fnext;
	if (t->fnext != NULL)
		t->fnext->fprev = t->fprev;
	else
		d->fifo_tail = t->fprev;
	d->ntrackers--;
	d->stats.bytes_held -= t->charged;
	if (t->segs != t->seg_inline)
		free(t->segs);
	if (d->nspare < DEFRAG_SPARE_MAX) {
		t->hnext = d->spare;
		d->spare = t;
		d->nspare++;
	} else
		free(t);
}

/*
 * Give every held fragment the DROP verdict, release our references and
 * free the tracker. With 'timeout', IPV4_FRAG_TIMEOUT is raised once,
 * about the first fragment, while it is still referenced.
 */
static void
defrag_tracker_drop(struct defrag *d, struct defrag_tracker *t, bool timeout)
{
	struct packet *f, *next;

	if (timeout) {
		d->stats.timeouts++;
		if (t->head != NULL)
			defrag_raise(d, ANOM_IPV4_FRAG_TIMEOUT, t->head);
	}
	f = t->head;
	t->head = t->tail = t->first0 = NULL;
	for (; f != NULL; f = next) {
		next = f->next;
		f->next = NULL;
		f->verdict = PKT_DROP;
		packet_unref(f);
	}
	defrag_tracker_free(d, t);
}

static bool
defrag_expired(const struct defrag *d, const struct defrag_tracker *t,
               int64_t now_ns)
{
	return now_ns - t->created_ns >= d->timeout_ns;
}

/*
 * Find where [s, e) falls among the segments, compare the bytes it shares
 * with them and count the holes it fills. Read-only.
 */
static void
defrag_place(const struct defrag_tracker *t, uint32_t s, uint32_t e,
             const uint8_t *data, struct defrag_place *pl)
{
	const struct defrag_seg *sg;
	uint32_t lo = 0, hi = t->nseg, mid, pos, os, oe, j;

	memset(pl, 0, sizeof(*pl));
	/* First segment ending after s: ends are sorted too. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (t->segs[mid].end > s)
			hi = mid;
		else
			lo = mid + 1;
	}
	pl->i0 = lo;
	pos = s;
	for (j = lo; j < t->nseg && t->segs[j].start < e; j++) {
		sg = &t->segs[j];
		if (sg->start > pos)
			pl->gaps++;
		os = sg->start > s ? sg->start : s;
		oe = sg->end < e ? sg->end : e;
		if (os < oe) {
			pl->overlap = true;
			if (!pl->diff &&
			    memcmp(data + (os - s), sg->src + (os - sg->start),
			           oe - os) != 0)
				pl->diff = true;
		}
		pos = sg->end;
	}
	pl->i1 = j;
	if (pos < e)
		pl->gaps++;
}

/* Capacity needed for pl->gaps more segments, or segcap if enough. */
static uint32_t
defrag_seg_want(const struct defrag_tracker *t, uint32_t gaps)
{
	uint32_t need = t->nseg + gaps, cap = t->segcap;

	while (cap < need)
		cap *= 2;
	return cap;
}

static uint64_t
defrag_seg_heap(const struct defrag_tracker *t, uint32_t cap)
{
	return cap > DEFRAG_SEGS_INLINE
	           ? (uint64_t)cap * sizeof(struct defrag_seg)
	           : 0;
}

/* Grow segs to cap entries. HK_ERR on memory exhaustion (segs intact). */
static int
defrag_seg_grow(struct defrag *d, struct defrag_tracker *t, uint32_t cap)
{
	struct defrag_seg *n;

	if (cap <= t->segcap)
		return HK_OK;
	if (t->segs == t->seg_inline) {
		n = malloc((size_t)cap * sizeof(*n));
		if (n != NULL)
			memcpy(n, t->segs, t->nseg * sizeof(*n));
	} else
		n = realloc(t->segs, (size_t)cap * sizeof(*n));
	if (n == NULL)
		return HK_ERR;
	defrag_charge(d, t,
	              defrag_seg_heap(t, cap) - defrag_seg_heap(t, t->segcap));
	t->segs = n;
	t->segcap = cap;
	return HK_OK;
}

/*
 * Insert the holes of [s, e) left by segs[i0, i1) as new segments
 * pointing into data. Capacity was reserved. Works backwards so that each
 * old segment moves once.
 */
static void
defrag_seg_fill(struct defrag_tracker *t, const struct defrag_place *pl,
                uint32_t s, uint32_t e, const uint8_t *data)
{
	struct defrag_seg *sg = t->segs;
	uint32_t w = pl->i1 + pl->gaps, lim = e, j;

	if (pl->gaps == 0)
		return;
	memmove(&sg[w], &sg[pl->i1], (t->nseg - pl->i1) * sizeof(*sg));
	for (j = pl->i1; j > pl->i0; j--) {
		if (sg[j - 1].end < lim) {
			sg[--w] = (struct defrag_seg){
			    sg[j - 1].end, lim, data + (sg[j - 1].end - s)};
			t->covered += lim - sg[j - 1].end;
		}
		sg[--w] = sg[j - 1];
		lim = sg[w].start;
	}
	if (s < lim) {
		sg[--w] = (struct defrag_seg){s, lim, data};
		t->covered += lim - s;
	}
	assert(w == pl->i0);
	t->nseg += pl->gaps;
}

/*
 * Build the datagram of a complete tracker: the header of the first
 * fragment at offset 0 (options included) with total length set, MF and
 * offset cleared and the checksum recomputed, then the accepted bytes.
 * On HK_OK the fragments move to (*outp)->frags and the tracker is freed.
 * On HK_ERR (no memory) the tracker is dropped with all its fragments,
 * 'pkt' (the completing fragment) included.
 */
static int
defrag_rebuild(struct defrag *d, struct defrag_tracker *t, struct packet *pkt,
               struct packet **outp)
{
	struct packet *f0 = t->first0, *out;
	uint32_t hlen = f0->ip_hlen, total = hlen + t->end, i;
	const struct defrag_seg *sg;
	enum anomaly a;
	uint8_t *h;

	out = packet_new(total);
	if (out == NULL) {
		defrag_tracker_drop(d, t, false);
		return defrag_reject(d, pkt, ANOM_IPV4_FRAG_MEMCAP,
		                     &d->stats.memcap_drops);
	}
	h = out->data;
	memcpy(h, f0->data + f0->l3_off, hlen);
	hk_wr16(h + 2, (uint16_t)total);
	hk_wr16(h + 6, hk_rd16(h + 6) & (IPV4_FLAG_RB | IPV4_FLAG_DF));
	hk_wr16(h + 10, 0);
	hk_wr16(h + 10, inet_fold(inet_sum(h, hlen, 0)));
	for (i = 0; i < t->nseg; i++) {
		sg = &t->segs[i];
		memcpy(h + hlen + sg->start, sg->src, sg->end - sg->start);
	}
	out->l3_off = 0;
	out->linktype = DEFRAG_DLT_RAW;
	out->ethertype = 0x0800;
	out->wirelen = total;
	out->flags = PKT_F_REASSEMBLED | PKT_F_NO_OUTPUT | PKT_F_IPV4;
	out->ts = pkt->ts;
	out->id = pkt->id;
	out->ifindex = pkt->ifindex;
	/* Cannot fail: the header was decoded and total >= hlen. */
	if (ipv4_decode(out, false, &a, NULL) != HK_OK) {
		packet_unref(out);
		defrag_tracker_drop(d, t, false);
		return defrag_reject(d, pkt, ANOM_IPV4_FRAG_INVALID,
		                     &d->stats.invalid);
	}
	out->frags = t->head;
	t->head = t->tail = t->first0 = NULL;
	defrag_tracker_free(d, t);
	d->stats.reassembled++;
	*outp = out;
	return HK_OK;
}

/*
 * conf may be NULL; a zero field takes its default (32 MiB, 60 s, 8192
 * fragments, 65535 trackers). Returns NULL on memory exhaustion. The
 * anomaly callback gets the packet concerned and must not call back into
 * this defrag instance.
 */
struct defrag *
defrag_new(const struct defrag_conf *conf, anomaly_fn anom, void *anom_arg)
{
	struct defrag *d;
	uint32_t nb = DEFRAG_MIN_BUCKETS;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	if (conf != NULL)
		d->conf = *conf;
	if (d->conf.memcap == 0)
		d->conf.memcap = DEFRAG_DEF_MEMCAP;
	if (d->conf.timeout_sec == 0)
		d->conf.timeout_sec = DEFRAG_DEF_TIMEOUT;
	if (d->conf.max_frags == 0)
		d->conf.max_frags = DEFRAG_DEF_MAX_FRAGS;
	if (d->conf.max_trackers == 0)
		d->conf.max_trackers = DEFRAG_DEF_MAX_TRACKERS;
	d->timeout_ns = (int64_t)d->conf.timeout_sec * 1000000000LL;
	d->anom = anom;
	d->anom_arg = anom_arg;

	while (nb < d->conf.max_trackers && nb < DEFRAG_MAX_BUCKETS)
		nb <<= 1;
	if ((d->buckets = calloc(nb, sizeof(*d->buckets))) == NULL) {
		free(d);
		return NULL;
	}
	d->mask = nb - 1;
	d->seed = hk_secret_seed(d);
	return d;
}

/*
 * See ipv4.h for the return codes. Checks, before anything is kept: a
 * non-last fragment must carry a multiple of 8 bytes, no data may go past
 * the end fixed by a last fragment and two last fragments must agree
 * (IPV4_FRAG_INVALID), the datagram must fit in 65535 bytes
 * (IPV4_FRAG_TOO_LARGE), then the max_frags, max_trackers and memcap
 * limits. pkt->next must be unused (NULL): the held fragment is linked
 * through it. Expired trackers are released first (cheap when none is).
 */
int
defrag_insert(struct defrag *d, struct packet *pkt, const struct hk_time *now,
              struct packet **out)
{
	struct defrag_tracker *t;
	struct defrag_place pl;
	const uint8_t *data;
	uint32_t src, dst, off, plen, fend, bucket, hlen_ref, maxend, cap;
	uint16_t id;
	uint8_t proto;
	uint64_t need;
	int64_t now_ns = defrag_time_ns(now);
	bool last;

	assert(pkt->flags & PKT_F_IPV4);
	assert(pkt->next == NULL && pkt->frags == NULL);

	d->stats.fragments++;
	defrag_expire(d, now);
	/* The segments point into the fragment, kept past this packet. */
	packet_own(pkt);

	src = ipv4_src(pkt);
	dst = ipv4_dst(pkt);
	id = ipv4_id(pkt);
	proto = ipv4_proto(pkt);
	off = ipv4_frag_off(pkt);
	last = !(ipv4_flags(pkt) & IPV4_FLAG_MF);
	plen = (uint32_t)pkt->ip_len - pkt->ip_hlen;
	fend = off + plen;
	data = pkt->data + pkt->l3_off + pkt->ip_hlen;

	bucket = defrag_hash(d, src, dst, id, proto) & d->mask;
	t = defrag_lookup(d, bucket, src, dst, id, proto);
	/* Capture times may go backwards: the FIFO head is not always the
	 * oldest. */
	if (t != NULL && defrag_expired(d, t, now_ns)) {
		defrag_tracker_drop(d, t, true);
		t = NULL;
	}

	/* RFC 791: all fragments but the last carry 8-byte units. */
	if (!last && plen % 8 != 0)
		return defrag_reject(d, pkt, ANOM_IPV4_FRAG_INVALID,
		                     &d->stats.invalid);
	if (t != NULL && t->has_last &&
	    (fend > t->end || (last && fend != t->end)))
		return defrag_reject(d, pkt, ANOM_IPV4_FRAG_INVALID,
		                     &d->stats.invalid);
	if (t != NULL && !t->has_last && last && t->nseg > 0 &&
	    t->segs[t->nseg - 1].end > fend)
		return defrag_reject(d, pkt, ANOM_IPV4_FRAG_INVALID,
		                     &d->stats.invalid);

	/* The rebuilt header is the first offset-0 fragment's: until it is
	 * known, count the minimum. */
	if (t != NULL && t->first0 != NULL)
		hlen_ref = t->first0->ip_hlen;
	else
		hlen_ref = off == 0 ? pkt->ip_hlen : 20;
	maxend = fend;
	if (t != NULL && t->has_last && t->end > maxend)
		maxend = t->end;
	if (t != NULL && t->nseg > 0 && t->segs[t->nseg - 1].end > maxend)
		maxend = t->segs[t->nseg - 1].end;
	if (hlen_ref + maxend > DEFRAG_IP_MAX)
		return defrag_reject(d, pkt, ANOM_IPV4_FRAG_TOO_LARGE,
		                     &d->stats.too_large);
	if (t != NULL && t->nfrags >= d->conf.max_frags)
		return defrag_reject(d, pkt, ANOM_IPV4_FRAG_TOO_MANY,
		                     &d->stats.memcap_drops);

	need = defrag_frag_cost(pkt);
	if (t != NULL) {
		defrag_place(t, off, fend, data, &pl);
		cap = defrag_seg_want(t, pl.gaps);
		need += defrag_seg_heap(t, cap) - defrag_seg_heap(t, t->segcap);
	} else {
		memset(&pl, 0, sizeof(pl));
		pl.gaps = plen > 0;
		cap = DEFRAG_SEGS_INLINE;
		need += sizeof(struct defrag_tracker);
		if (d->ntrackers >= d->conf.max_trackers)
			return defrag_reject(d, pkt, ANOM_IPV4_FRAG_MEMCAP,
			                     &d->stats.memcap_drops);
	}
	if (d->stats.bytes_held + need > d->conf.memcap)
		return defrag_reject(d, pkt, ANOM_IPV4_FRAG_MEMCAP,
		                     &d->stats.memcap_drops);

	if (t == NULL) {
		t = defrag_tracker_new(d, bucket, src, dst, id, proto, now_ns);
		if (t == NULL)
			return defrag_reject(d, pkt, ANOM_IPV4_FRAG_MEMCAP,
			                     &d->stats.memcap_drops);
	} else if (defrag_seg_grow(d, t, cap) != HK_OK)
		return defrag_reject(d, pkt, ANOM_IPV4_FRAG_MEMCAP,
		                     &d->stats.memcap_drops);

	/* Committed: nothing below can fail but the rebuild. */
	defrag_seg_fill(t, &pl, off, fend, data);
	packet_ref(pkt);
	if (t->tail != NULL)
		t->tail->next = pkt;
	else
		t->head = pkt;
	t->tail = pkt;
	t->nfrags++;
	defrag_charge(d, t, defrag_frag_cost(pkt));
	if (off == 0 && t->first0 == NULL)
		t->first0 = pkt;
	if (last) {
		t->has_last = true;
		t->end = fend;
	}
	if (pl.diff) {
		d->stats.overlaps_diff++;
		defrag_raise(d, ANOM_IPV4_FRAG_OVERLAP_DIFF, pkt);
	} else if (pl.overlap) {
		d->stats.overlaps++;
		defrag_raise(d, ANOM_IPV4_FRAG_OVERLAP, pkt);
	}

	if (t->has_last && t->first0 != NULL && t->covered == t->end)
		return defrag_rebuild(d, t, pkt, out);
	return HK_AGAIN;
}

/*
 * Trackers live in a FIFO by creation time, so this stops at the first
 * one still in time: O(1) when nothing expires.
 */
void
defrag_expire(struct defrag *d, const struct hk_time *now)
{
	int64_t now_ns = defrag_time_ns(now);
	struct defrag_tracker *t;

	while ((t = d->fifo_head) != NULL && defrag_expired(d, t, now_ns))
		defrag_tracker_drop(d, t, true);
}

/* Valid until defrag_free. */
const struct defrag_stats *
defrag_stats(const struct defrag *d)
{
	return &d->stats;
}

/*
 * Release every held fragment with the DROP verdict (no anomaly is
 * raised: the engine is going away) and free everything. d may be NULL.
 */
void
defrag_free(struct defrag *d)
{
	struct defrag_tracker *t;

	if (d == NULL)
		return;
	while ((t = d->fifo_head) != NULL)
		defrag_tracker_drop(d, t, false);
	while ((t = d->spare) != NULL) {
		d->spare = t->hnext;
		free(t);
	}
	free(d->buckets);
	free(d);
}
