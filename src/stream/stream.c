/*
 * TCP stream reassembly for one direction (see include/haka/stream.h for
 * the layout). Called by the TCP session code of the engine for every
 * segment, and by the consumers (rules, dissectors) through
 * stream_consume.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <haka/stream.h>

/* Per worker thread, as the streams themselves. */
static _Thread_local struct stream_limits limits = {
    .max_ooo_bytes = 1 << 20,
    .max_ooo_segs = 4096,
    .memcap = 256ULL << 20,
};
static _Thread_local uint64_t global_held, global_peak;
static _Thread_local struct stream_seg *seg_pool;
static _Thread_local uint32_t seg_pool_len;

void
stream_set_limits(const struct stream_limits *lim)
{
	limits = *lim;
}

uint64_t
stream_global_held(void)
{
	return global_held;
}

uint64_t
stream_global_peak(void)
{
	return global_peak;
}

static struct stream_seg *
seg_new(uint64_t off, uint32_t len, const uint8_t *p)
{
	struct stream_seg *s = seg_pool;

	if (s != NULL) {
		seg_pool = s->next;
		seg_pool_len--;
	} else if ((s = malloc(sizeof(*s))) == NULL) {
		return NULL;
	}
	s->off = off;
	s->len = len;
	s->p = p;
	s->next = NULL;
	return s;
}

static void
seg_free(struct stream_seg *s)
{
	if (seg_pool_len >= 65536) {
		free(s);
		return;
	}
	s->next = seg_pool;
	seg_pool = s;
	seg_pool_len++;
}

void
stream_pool_flush(void)
{
	struct stream_seg *s;

	while ((s = seg_pool) != NULL) {
		seg_pool = s->next;
		free(s);
	}
	seg_pool_len = 0;
}

/*
 * A held packet's borrowed bytes were copied (packet_own): the segments
 * cut from them point into the copy now. A segment never spans two
 * packets, so each one lies in the old bytes or not at all.
 */
static void
stream_moved(struct packet_holder *h, const uint8_t *from, uint32_t len,
             const uint8_t *to)
{
	struct stream *st =
	    (struct stream *)(void *)((char *)h -
	                              offsetof(struct stream, holder));
	uintptr_t lo = (uintptr_t)from, hi = lo + len;
	struct stream_seg *s;
	int pass;

	for (pass = 0; pass < 2; pass++)
		for (s = pass == 0 ? st->head : st->ooo; s != NULL; s = s->next)
			if (s->p != NULL && (uintptr_t)s->p >= lo &&
			    (uintptr_t)s->p < hi)
				s->p = to + ((uintptr_t)s->p - lo);
}

void
stream_init(struct stream *st, uint32_t seq)
{
	memset(st, 0, sizeof(*st));
	st->seq0 = seq;
	st->init = true;
	st->holder.moved = stream_moved;
}

int64_t
stream_seq_off(const struct stream *st, uint32_t seq)
{
	/* Sequence numbers are unwrapped around the in-order end. */
	int32_t d = (int32_t)(seq - stream_off_seq(st, st->next));

	return (int64_t)st->next + d;
}

static void
hold_push(struct stream *st, struct packet *pkt, uint64_t hold_end)
{
	packet_ref(pkt);
	pkt->hold_end = hold_end;
	pkt->holder = &st->holder;
	pkt->next = NULL;
	if (st->hold_tail != NULL)
		st->hold_tail->next = pkt;
	else
		st->hold_head = pkt;
	st->hold_tail = pkt;
	st->held_pkts++;
	st->held_bytes += pkt->caplen;
	global_held += pkt->caplen;
	if (global_held > global_peak)
		global_peak = global_held;
}

static inline void
hold_release(struct stream *st, bool all)
{
	struct packet *pkt;

	while ((pkt = st->hold_head) != NULL &&
	       (all || pkt->hold_end <= st->consumed)) {
		st->hold_head = pkt->next;
		if (st->hold_head == NULL)
			st->hold_tail = NULL;
		pkt->next = NULL;
		pkt->holder = NULL;
		st->held_pkts--;
		st->held_bytes -= pkt->caplen;
		global_held -= pkt->caplen;
		packet_unref(pkt);
	}
}

/*
 * Compare new bytes with the first copy still in memory: in-order chunks
 * from 'consumed', then the queue. Bytes no longer in memory are not
 * compared.
 */
static void
compare_old(const struct stream *st, uint64_t off, const uint8_t *p,
            uint32_t len, struct stream_insert_res *res)
{
	const struct stream_seg *s;
	uint64_t end = off + len;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (s = pass == 0 ? st->head : st->ooo; s != NULL;
		     s = s->next) {
			uint64_t a, b, i;

			if (s->off >= end)
				break;
			if (s->off + s->len <= off || s->p == NULL)
				continue;
			a = s->off > off ? s->off : off;
			b = s->off + s->len < end ? s->off + s->len : end;
			for (i = a; i < b; i++) {
				if (s->p[i - s->off] == p[i - off])
					res->same_bytes++;
				else
					res->diff_bytes++;
			}
		}
	}
}

static void
append_inorder(struct stream *st, struct stream_seg *s)
{
	s->next = NULL;
	if (st->tail != NULL)
		st->tail->next = s;
	else
		st->head = s;
	st->tail = s;
	st->next = s->off + s->len;
}

/* Move queued segments that became contiguous to the in-order list. */
static void
drain_ooo(struct stream *st)
{
	struct stream_seg *s;

	while ((s = st->ooo) != NULL && s->off <= st->next) {
		st->ooo = s->next;
		st->ooo_bytes -= s->len;
		st->ooo_segs--;
		if (s->off + s->len <= st->next) {
			seg_free(s);
			continue;
		}
		if (s->off < st->next) {
			uint32_t d = (uint32_t)(st->next - s->off);

			s->off += d;
			s->len -= d;
			if (s->p != NULL)
				s->p += d;
		}
		append_inorder(st, s);
	}
}

/*
 * Bytes and pieces that [off, end) (beyond next) would add to the queue:
 * what the queued segments do not cover yet.
 */
static void
count_new(const struct stream *st, uint64_t off, uint64_t end, uint32_t *bytes,
          uint32_t *pieces)
{
	const struct stream_seg *s;
	uint64_t cur = off;

	*bytes = 0;
	*pieces = 0;
	for (s = st->ooo; s != NULL && cur < end; s = s->next) {
		if (s->off + s->len <= cur)
			continue;
		if (s->off > cur) {
			uint64_t pe = s->off < end ? s->off : end;

			*bytes += (uint32_t)(pe - cur);
			(*pieces)++;
		}
		cur = s->off + s->len;
	}
	if (cur < end) {
		*bytes += (uint32_t)(end - cur);
		(*pieces)++;
	}
}

int
stream_insert(struct stream *st, struct packet *pkt, uint32_t seq,
              struct stream_insert_res *res)
{
	const uint8_t *data = pkt->data + pkt->pl_off;
	uint32_t len = pkt->pl_len;
	int64_t soff;
	uint64_t off, end, cur;
	struct stream_seg *prev, *s, *n;

	memset(res, 0, sizeof(*res));
	if (len == 0) {
		hold_push(st, pkt, st->next);
		return HK_OK;
	}
	soff = stream_seq_off(st, seq);
	if (soff < 0) {
		/* Bytes before the start of the stream: trim them. */
		if ((uint64_t)-soff >= len) {
			res->old_bytes = len;
			res->dup_of_held = true; /* nothing of the stream */
			return HK_OK;
		}
		data += -soff;
		len -= (uint32_t)-soff;
		res->old_bytes = (uint32_t)-soff;
		soff = 0;
	}
	off = (uint64_t)soff;
	end = off + len;

	if (off > st->next) {
		uint32_t nbytes, npieces;

		/*
		 * Refuse to queue beyond the limits (the sender retransmits);
		 * only the bytes and pieces this segment would add count.
		 */
		count_new(st, off, end, &nbytes, &npieces);
		if (st->ooo_bytes + nbytes > limits.max_ooo_bytes ||
		    st->ooo_segs + npieces > limits.max_ooo_segs) {
			res->memcap_flow = true;
			return HK_ERR;
		}
		if (global_held + pkt->caplen > limits.memcap) {
			res->memcap_global = true;
			return HK_ERR;
		}
	}

	cur = off;
	if (cur < st->next) {
		uint64_t ce = end < st->next ? end : st->next;

		res->old_bytes += (uint32_t)(ce - cur);
		if (ce > st->consumed) {
			uint64_t a = cur > st->consumed ? cur : st->consumed;

			compare_old(st, a, data + (a - off), (uint32_t)(ce - a),
			            res);
		}
		cur = ce;
	}
	prev = NULL;
	s = st->ooo;
	while (cur < end) {
		while (s != NULL && s->off + s->len <= cur) {
			prev = s;
			s = s->next;
		}
		if (s != NULL && s->off <= cur) {
			uint64_t ce =
			    end < s->off + s->len ? end : s->off + s->len;

			res->old_bytes += (uint32_t)(ce - cur);
			compare_old(st, cur, data + (cur - off),
			            (uint32_t)(ce - cur), res);
			cur = ce;
			continue;
		}
		{
			uint64_t pe = s != NULL && s->off < end ? s->off : end;

			n = seg_new(cur, (uint32_t)(pe - cur),
			            data + (cur - off));
			if (n == NULL) {
				res->memcap_global = true;
				break;
			}
			n->next = s;
			if (prev != NULL)
				prev->next = n;
			else
				st->ooo = n;
			prev = n;
			st->ooo_bytes += n->len;
			st->ooo_segs++;
			res->new_bytes += n->len;
			cur = pe;
		}
	}
	drain_ooo(st);
	/*
	 * Nothing new, nothing different from what is still in memory (the
	 * bytes below 'consumed' were inspected and released already).
	 */
	if (len > 0 && res->new_bytes == 0 && res->diff_bytes == 0) {
		res->dup_of_held = true;
		return HK_OK;
	}
	hold_push(st, pkt, end);
	return HK_OK;
}

void
stream_consume(struct stream *st, uint64_t upto)
{
	struct stream_seg *s;

	if (upto > st->next)
		upto = st->next;
	if (upto > st->consumed) {
		while ((s = st->head) != NULL && s->off + s->len <= upto) {
			st->head = s->next;
			seg_free(s);
		}
		if (st->head == NULL)
			st->tail = NULL;
		else if (st->head->off < upto) {
			uint32_t d = (uint32_t)(upto - st->head->off);

			s = st->head;
			s->off += d;
			s->len -= d;
			if (s->p != NULL)
				s->p += d;
		}
		st->consumed = upto;
	}
	hold_release(st, false);
}

uint64_t
stream_gap(struct stream *st, uint64_t upto)
{
	struct stream_seg *g;
	uint64_t first = stream_ooo_first(st);
	uint64_t len;

	if (upto == 0)
		upto = first == UINT64_MAX ? st->next : first;
	if (upto > first)
		upto = first;
	if (upto <= st->next)
		return 0;
	len = upto - st->next;
	g = seg_new(st->next, (uint32_t)len, NULL);
	if (g == NULL)
		return 0;
	append_inorder(st, g);
	st->gap_bytes += len;
	drain_ooo(st);
	return len;
}

uint64_t
stream_contig_end(const struct stream *st, uint64_t from)
{
	const struct stream_seg *s;
	uint64_t end = from;

	for (s = st->head; s != NULL; s = s->next) {
		if (s->off + s->len <= end)
			continue;
		if (s->off > end || s->p == NULL)
			break;
		end = s->off + s->len;
	}
	return end;
}

const uint8_t *
stream_span(const struct stream *st, uint64_t off, size_t *len,
            const struct stream_seg **hint)
{
	const struct stream_seg *s = st->head;

	if (hint != NULL && *hint != NULL && (*hint)->off <= off)
		s = *hint;
	for (; s != NULL && s->off <= off; s = s->next) {
		if (off >= s->off + s->len)
			continue;
		if (s->p == NULL)
			return NULL;
		if (hint != NULL)
			*hint = s;
		*len = (size_t)(s->off + s->len - off);
		return s->p + (off - s->off);
	}
	return NULL;
}

uint64_t
stream_skip_gap(const struct stream *st, uint64_t off)
{
	const struct stream_seg *s;

	for (s = st->head; s != NULL && s->off <= off; s = s->next)
		if (s->p == NULL && off < s->off + s->len)
			off = s->off + s->len;
	return off;
}

uint64_t
stream_copy(const struct stream *st, uint64_t off, uint8_t *dst, uint64_t len)
{
	const struct stream_seg *s;
	uint64_t end = off + len, gaps = 0;

	for (s = st->head; s != NULL && s->off < end; s = s->next) {
		uint64_t a, b;

		if (s->off + s->len <= off)
			continue;
		a = s->off > off ? s->off : off;
		b = s->off + s->len < end ? s->off + s->len : end;
		if (s->p != NULL)
			memcpy(dst + (a - off), s->p + (a - s->off), b - a);
		else {
			memset(dst + (a - off), 0, b - a);
			gaps += b - a;
		}
	}
	return gaps;
}

void
stream_drop_held(struct stream *st)
{
	struct packet *pkt;

	for (pkt = st->hold_head; pkt != NULL; pkt = pkt->next)
		pkt->verdict = PKT_DROP;
}

void
stream_release_all(struct stream *st, bool drop)
{
	struct stream_seg *s;

	if (drop)
		stream_drop_held(st);
	while ((s = st->head) != NULL) {
		st->head = s->next;
		seg_free(s);
	}
	st->tail = NULL;
	while ((s = st->ooo) != NULL) {
		st->ooo = s->next;
		seg_free(s);
	}
	st->ooo_bytes = 0;
	st->ooo_segs = 0;
	st->consumed = st->next;
	hold_release(st, true);
}
