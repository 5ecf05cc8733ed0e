/*
 * One direction of a TCP connection: segment ordering, overlap policy,
 * gaps, memory caps, and the zero-copy byte view of the reassembled
 * stream (CONVENTIONS.md section 6).
 *
 *   stream offsets (64-bit, unwrapped once here)
 *
 *   consumed            next                    (out of order)
 *      |<-- in-order --->|    hole    |<-seg->|   |<-seg->|
 *      [chunk][gap][chunk]            [ooo]       [ooo]
 *
 * Chunks point into the captured packets' bytes: nothing is copied on
 * insert. Every packet of the direction sits in a FIFO hold queue with the
 * offset its bytes end at (hold_end); a packet is released (its verdict
 * given) when all the bytes up to hold_end have been consumed and every
 * earlier packet of the direction has been released. So a packet is held
 * exactly until the bytes it carries have been inspected.
 *
 * Overlaps: the first copy of a byte wins. A later copy is compared with
 * the first while the first is still in memory; different bytes are
 * reported (overlap_diff).
 */
#ifndef HAKA_STREAM_H
#define HAKA_STREAM_H

#include <haka/packet.h>

struct stream_seg {
	uint64_t off; /* stream offset of the first byte */
	uint32_t len;
	const uint8_t *p; /* NULL: a gap (bytes never seen) */
	struct stream_seg *next;
};

struct stream {
	uint32_t seq0; /* sequence number of stream offset 0 */
	bool init;
	bool fin;                       /* a FIN was seen */
	uint64_t fin_off;               /* stream offset of the FIN */
	uint64_t next;                  /* end of the in-order bytes */
	uint64_t consumed;              /* bytes before are inspected */
	struct stream_seg *head, *tail; /* in-order, unconsumed */
	struct stream_seg *ooo;         /* beyond next, sorted, disjoint */
	uint32_t ooo_bytes;
	uint32_t ooo_segs;
	struct packet *hold_head, *hold_tail;
	struct packet_holder holder; /* of the held packets: moves seg->p */
	uint32_t held_pkts;
	uint64_t held_bytes; /* frame bytes of held packets */
	uint64_t gap_bytes;  /* bytes lost in gaps so far */
};

struct stream_limits {
	uint32_t max_ooo_bytes; /* per direction */
	uint32_t max_ooo_segs;  /* per direction */
	uint64_t memcap;        /* frame bytes held, all streams */
};

/* Set the limits (global). */
void stream_set_limits(const struct stream_limits *lim);

/* Frame bytes held by every stream now, and the peak. */
uint64_t stream_global_held(void);
uint64_t stream_global_peak(void);

/* Start the stream: seq is the sequence number of the first data byte. */
void stream_init(struct stream *st, uint32_t seq);

/* Stream offset of a sequence number (relative to next; may be < 0). */
int64_t stream_seq_off(const struct stream *st, uint32_t seq);

/* Sequence number of a stream offset. */
static inline uint32_t
stream_off_seq(const struct stream *st, uint64_t off)
{
	return st->seq0 + (uint32_t)off;
}

struct stream_insert_res {
	uint32_t new_bytes;  /* bytes added (in order or queued) */
	uint32_t old_bytes;  /* bytes already seen (retransmitted) */
	uint32_t same_bytes; /* of those, compared and identical */
	uint32_t diff_bytes; /* of those, compared and different */
	bool memcap_flow;    /* refused: direction over its limits */
	bool memcap_global;  /* refused: global memcap */
	bool dup_of_held;    /* a copy of bytes held now: not held itself */
};

/*
 * Insert a packet's payload (pkt->pl_off, pl_len) at sequence seq, and
 * put the packet in the hold queue (a reference is taken). A packet
 * without payload is held behind the bytes before it. A retransmission
 * that brings no new byte and no byte different from those still in
 * memory (e.g. a command the parser waits to complete) is not held
 * (dup_of_held): the receiver acknowledges it, so a sender that waits for
 * that (Nagle, retransmission timer) sends the rest; the first copy stays
 * held and gets the verdict. Returns HK_OK, or
 * HK_ERR when the data had to be refused (res->memcap_*): the packet is
 * then NOT held and the caller decides its verdict.
 */
int stream_insert(struct stream *st, struct packet *pkt, uint32_t seq,
                  struct stream_insert_res *res);

/*
 * Bytes nobody will read: a segment exactly at next, with nothing queued
 * or held before it, only moves the stream on (no chunk, no hold). Returns
 * true when it applied; false: use stream_insert.
 */
static inline bool
stream_pass(struct stream *st, uint32_t seq, uint32_t len)
{
	if (st->hold_head != NULL || st->ooo != NULL || st->head != NULL ||
	    st->consumed != st->next || seq != stream_off_seq(st, st->next))
		return false;
	st->next += len;
	st->consumed = st->next;
	return true;
}

/* Bytes available in order from 'consumed' (gaps included). */
static inline uint64_t
stream_avail(const struct stream *st)
{
	return st->next - st->consumed;
}

/*
 * Mark the bytes before 'upto' (<= next) as inspected: chunks below are
 * forgotten and the packets whose bytes are all inspected are released in
 * arrival order.
 */
void stream_consume(struct stream *st, uint64_t upto);

/*
 * Declare the bytes from next up to 'upto' lost: a gap chunk is appended
 * and queued data that becomes contiguous is moved in order. When upto is
 * 0, the gap goes up to the first queued segment (nothing if none).
 * Returns the gap length.
 */
uint64_t stream_gap(struct stream *st, uint64_t upto);

/* First queued (out of order) offset, or UINT64_MAX. */
static inline uint64_t
stream_ooo_first(const struct stream *st)
{
	return st->ooo != NULL ? st->ooo->off : UINT64_MAX;
}

/*
 * End of the run of bytes (no gap) that starts at 'from' (consumed <= from
 * <= next): 'from' itself when a gap starts there.
 */
uint64_t stream_contig_end(const struct stream *st, uint64_t from);

/*
 * Contiguous bytes at off (consumed <= off < next, not in a gap): a
 * pointer and *len, or NULL. *hint (may be NULL) caches the segment of
 * the previous call to make sequential reads O(1); it is only valid until
 * the stream changes.
 */
const uint8_t *stream_span(const struct stream *st, uint64_t off, size_t *len,
                           const struct stream_seg **hint);

/*
 * If 'off' falls in a hole (bytes lost, see stream_gap), the end of that
 * hole and of any that follows it at once; otherwise off.
 */
uint64_t stream_skip_gap(const struct stream *st, uint64_t off);

/*
 * Copy len bytes from stream offset off (consumed <= off, off+len <=
 * next) into dst; gap bytes read as zero. Returns the number of gap bytes
 * met.
 */
uint64_t stream_copy(const struct stream *st, uint64_t off, uint8_t *dst,
                     uint64_t len);

/*
 * Release every held packet (with the DROP verdict when drop is true) and
 * free every segment. The stream is empty afterwards.
 */
void stream_release_all(struct stream *st, bool drop);

/* Give the DROP verdict to every packet held now (still held). */
void stream_drop_held(struct stream *st);

/* Free the segment pool (at exit). */
void stream_pool_flush(void);

#endif
