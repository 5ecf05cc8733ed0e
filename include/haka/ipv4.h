/*
 * IPv4: header decoding and validation, checksums, field accessors, and
 * fragment reassembly (ipv4_defrag.c).
 */
#ifndef HAKA_IPV4_H
#define HAKA_IPV4_H

#include <haka/anomaly.h>
#include <haka/packet.h>

#define IPV4_PROTO_ICMP 1
#define IPV4_PROTO_TCP  6
#define IPV4_PROTO_UDP  17

#define IPV4_FLAG_RB 0x8000
#define IPV4_FLAG_DF 0x4000
#define IPV4_FLAG_MF 0x2000

/* Internet checksum (RFC 1071) of len bytes, folded, added to 'sum'. */
uint32_t inet_sum(const void *data, size_t len, uint32_t sum);
uint16_t inet_fold(uint32_t sum);

/*
 * Decode and validate the IPv4 header at pkt->l3_off: version 4, header
 * length >= 20 and within the frame, total length >= header length. A
 * frame shorter than the total length is an anomaly (IPV4_TRUNCATED);
 * trailing link padding beyond the total length is ignored. On success
 * sets PKT_F_IPV4, ip_hlen, ip_len, l4_off and returns HK_OK. On failure
 * returns HK_ERR and sets *anom (pkt fields untouched).
 * When verify_checksum is true, a bad header checksum is reported in
 * *anom = ANOM_IPV4_BAD_CHECKSUM with HK_OK still returned (the caller
 * counts it; the policy decides).
 */
int ipv4_decode(struct packet *pkt, bool verify_checksum, enum anomaly *anom,
                bool *bad_checksum);

static inline const uint8_t *
ipv4_hdr(const struct packet *pkt)
{
	return pkt->data + pkt->l3_off;
}

/* Field accessors (host byte order). Valid once ipv4_decode succeeded. */
static inline uint8_t
ipv4_version(const struct packet *p)
{
	return ipv4_hdr(p)[0] >> 4;
}
static inline uint8_t
ipv4_tos(const struct packet *p)
{
	return ipv4_hdr(p)[1];
}
static inline uint16_t
ipv4_total_len(const struct packet *p)
{
	return hk_rd16(ipv4_hdr(p) + 2);
}
static inline uint16_t
ipv4_id(const struct packet *p)
{
	return hk_rd16(ipv4_hdr(p) + 4);
}
static inline uint16_t
ipv4_flags(const struct packet *p)
{
	return hk_rd16(ipv4_hdr(p) + 6) & 0xe000;
}
/* Fragment offset in bytes. */
static inline uint32_t
ipv4_frag_off(const struct packet *p)
{
	return (uint32_t)(hk_rd16(ipv4_hdr(p) + 6) & 0x1fff) * 8;
}
static inline uint8_t
ipv4_ttl(const struct packet *p)
{
	return ipv4_hdr(p)[8];
}
static inline uint8_t
ipv4_proto(const struct packet *p)
{
	return ipv4_hdr(p)[9];
}
static inline uint16_t
ipv4_checksum(const struct packet *p)
{
	return hk_rd16(ipv4_hdr(p) + 10);
}
static inline uint32_t
ipv4_src(const struct packet *p)
{
	return hk_rd32(ipv4_hdr(p) + 12);
}
static inline uint32_t
ipv4_dst(const struct packet *p)
{
	return hk_rd32(ipv4_hdr(p) + 16);
}

static inline bool
ipv4_is_fragment(const struct packet *p)
{
	return (hk_rd16(ipv4_hdr(p) + 6) & 0x3fff) != 0;
}

/* "a.b.c.d" into buf (at least 16 bytes). Returns buf. */
char *ipv4_addr_str(uint32_t addr, char *buf);

/* Parse "a.b.c.d". HK_OK or HK_ERR. */
int ipv4_addr_parse(const char *s, uint32_t *addr);

/* --- fragment reassembly ------------------------------------------- */

struct defrag_conf {
	uint64_t memcap;       /* bytes held in fragments, all trackers */
	uint32_t timeout_sec;  /* tracker lifetime from its first fragment */
	uint32_t max_frags;    /* fragments per datagram */
	uint32_t max_trackers; /* datagrams being reassembled at once */
};

struct defrag_stats {
	uint64_t fragments, reassembled, timeouts, overlaps, overlaps_diff,
	    invalid, memcap_drops, too_large, bytes_held;
};

struct defrag;

struct defrag *defrag_new(const struct defrag_conf *conf, anomaly_fn anom,
                          void *anom_arg);

/*
 * Insert a fragment (pkt decoded by ipv4_decode, ipv4_is_fragment true).
 * Trackers are keyed (src, dst, id, proto).
 *  - HK_AGAIN: the fragment is held (a reference is taken) until its
 *    datagram completes or times out.
 *  - HK_OK: the datagram is complete: *out is a new packet (refcnt 1,
 *    PKT_F_REASSEMBLED | PKT_F_NO_OUTPUT | PKT_F_IPV4, linktype DLT_RAW,
 *    l3_off 0) holding the rebuilt datagram contiguously (header of the
 *    first fragment with total length, flags and offset fixed and the
 *    checksum recomputed), decoded with ipv4_decode; its frags list holds
 *    a reference on every fragment, in arrival order. When the rebuilt
 *    packet is released, its verdict is given to every fragment.
 *  - HK_ERR: the fragment is invalid (anomaly raised: data past the end
 *    given by the last fragment, datagram over 65535 bytes, too many
 *    fragments, memcap); it is not held and the caller drops it.
 * Overlaps: the first copy wins; an overlap carrying different bytes
 * raises IPV4_FRAG_OVERLAP_DIFF, an identical one IPV4_FRAG_OVERLAP.
 */
int defrag_insert(struct defrag *d, struct packet *pkt,
                  const struct hk_time *now, struct packet **out);

/*
 * Expire trackers older than timeout_sec at 'now': their fragments get
 * the DROP verdict and are released; IPV4_FRAG_TIMEOUT is raised once per
 * tracker.
 */
void defrag_expire(struct defrag *d, const struct hk_time *now);

const struct defrag_stats *defrag_stats(const struct defrag *d);

/* Free everything; held fragments are released with the DROP verdict. */
void defrag_free(struct defrag *d);

#endif
