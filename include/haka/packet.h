/*
 * struct packet: one captured frame (or one IPv4 datagram rebuilt from
 * fragments, or one forged packet), its decoded layer offsets, its verdict
 * and its reference count.
 *
 * Lifetime: the capture creates a packet with refcnt 1 and hands it to the
 * engine. Anything that keeps the packet's bytes (a stream chunk, a
 * fragment list) takes a reference. When the last reference goes, the
 * packet is *released*: its release hook gives the verdict (accept unless
 * the verdict is PKT_DROP) to the capture, then the packet is freed.
 * So a packet is held exactly until nothing needs its bytes any more.
 *
 * Borrowed bytes: a capture may hand the engine a packet whose data points
 * into the capture's own buffer (PKT_F_BORROWED), valid only until the
 * capture reads its next frame; this saves copying every frame. The engine
 * calls packet_own before it returns from a packet that is still
 * referenced: the bytes are copied into the packet's own room, and the
 * holder that keeps pointers into them (the stream the packet is held by)
 * moves those pointers. Anything else that keeps the bytes (a fragment
 * list) calls packet_own before it takes its reference.
 */
#ifndef HAKA_PACKET_H
#define HAKA_PACKET_H

#include <haka/types.h>

enum pkt_verdict {
	PKT_PENDING = 0, /* no decision yet: accepted on release */
	PKT_ACCEPT,
	PKT_DROP,
};

enum pkt_flags {
	PKT_F_FORGED = 1 << 0,      /* made by the engine (RST) */
	PKT_F_REASSEMBLED = 1 << 1, /* datagram rebuilt from fragments */
	PKT_F_IPV4 = 1 << 2,        /* l3_off points to an IPv4 header */
	PKT_F_NO_OUTPUT = 1 << 3,   /* never given to the capture */
	PKT_F_BORROWED = 1 << 4,    /* data is the capture's: packet_own */
};

struct packet;
typedef void (*packet_release_fn)(struct packet *pkt, void *arg);

/*
 * What keeps pointers into a held packet's bytes: told by packet_own that
 * the len bytes at 'from' are now at 'to'.
 */
struct packet_holder {
	void (*moved)(struct packet_holder *h, const uint8_t *from,
	              uint32_t len, const uint8_t *to);
};

struct packet {
	uint64_t id;        /* capture order, from 1 */
	struct hk_time ts;  /* capture time */
	uint8_t *data;      /* frame bytes, from the link header */
	uint32_t caplen;    /* bytes in data */
	uint32_t wirelen;   /* original length on the wire */
	uint32_t linktype;  /* DLT_* of the frame */
	uint32_t l3_off;    /* offset of the network header in data */
	uint16_t ethertype; /* 0x0800 IPv4, 0x86dd IPv6, 0 unknown */
	uint16_t flags;     /* enum pkt_flags */
	uint8_t verdict;    /* enum pkt_verdict */
	uint8_t ifindex;    /* capture source index (file or queue) */
	uint32_t refcnt;

	/* Decoded by ipv4/tcp; valid when PKT_F_IPV4 is set. */
	uint16_t ip_hlen; /* IPv4 header length */
	uint16_t ip_len;  /* IPv4 total length, clamped to caplen */
	uint32_t l4_off;  /* offset of the transport header in data */
	uint32_t l4_hlen; /* transport header length */
	uint32_t pl_off;  /* offset of the transport payload in data */
	uint32_t pl_len;  /* payload length */

	uint64_t hold_end;    /* stream offset this packet's bytes end at */
	struct packet *next;  /* intrusive link: hold queue, fragment list */
	struct packet *frags; /* fragments of a reassembled datagram */
	void *capture_ctx;    /* backend data (nfqueue packet id...) */
	uint32_t capture_id;  /* backend id */
	uint32_t data_cap;    /* allocated bytes behind data */
	struct packet_holder *holder; /* keeps pointers into data, or NULL */
};

/*
 * Allocate a packet with room for len bytes (refcnt 1, verdict PENDING).
 * Returns NULL on memory exhaustion (counted in packet_stats).
 */
struct packet *packet_new(uint32_t len);

static inline void
packet_ref(struct packet *pkt)
{
	pkt->refcnt++;
}

/*
 * Lend the packet bytes it does not own (len <= its data_cap): data points
 * to them, PKT_F_BORROWED is set. See the lifetime note above.
 */
void packet_borrow(struct packet *pkt, const uint8_t *bytes);

/*
 * Copy borrowed bytes into the packet's own room and tell its holder;
 * nothing to do for a packet that owns its bytes.
 */
void packet_own(struct packet *pkt);

/* Drop one reference; on the last one the packet is released and freed. */
void packet_unref(struct packet *pkt);

/*
 * The release hook, called once per packet when its last reference goes,
 * before it is freed. Set once by the engine.
 */
void packet_set_release_hook(packet_release_fn fn, void *arg);

static inline void
packet_drop(struct packet *pkt)
{
	pkt->verdict = PKT_DROP;
}

static inline const uint8_t *
packet_l3(const struct packet *pkt)
{
	return pkt->data + pkt->l3_off;
}

struct packet_stats {
	uint64_t allocated, freed, live, live_bytes, peak_live;
	uint64_t owned; /* borrowed packets copied by packet_own */
};
const struct packet_stats *packet_stats(void);

/* Free pooled packets (at exit, for leak checkers). */
void packet_pool_flush(void);

#endif
