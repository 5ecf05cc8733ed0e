/*
 * TCP: header decoding, checksums and forging of RST segments.
 * Connection tracking lives in the engine (engine/tcp_session.c), stream
 * reassembly in stream/stream.c.
 */
#ifndef HAKA_TCP_H
#define HAKA_TCP_H

#include <haka/anomaly.h>
#include <haka/ipv4.h>
#include <haka/packet.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/*
 * Decode the TCP header of an IPv4 packet (PKT_F_IPV4, proto 6): sets
 * l4_hlen, pl_off and pl_len. HK_ERR with *anom for a truncated segment or
 * a bad data offset. With verify_checksum, a bad checksum sets
 * *bad_checksum (HK_OK is still returned).
 */
int tcp_decode(struct packet *pkt, bool verify_checksum, enum anomaly *anom,
               bool *bad_checksum);

static inline const uint8_t *
tcp_hdr(const struct packet *p)
{
	return p->data + p->l4_off;
}

static inline uint16_t
tcp_sport(const struct packet *p)
{
	return hk_rd16(tcp_hdr(p));
}
static inline uint16_t
tcp_dport(const struct packet *p)
{
	return hk_rd16(tcp_hdr(p) + 2);
}
static inline uint32_t
tcp_seq(const struct packet *p)
{
	return hk_rd32(tcp_hdr(p) + 4);
}
static inline uint32_t
tcp_ack(const struct packet *p)
{
	return hk_rd32(tcp_hdr(p) + 8);
}
static inline uint8_t
tcp_flags(const struct packet *p)
{
	return tcp_hdr(p)[13];
}
static inline uint8_t
tcp_res(const struct packet *p)
{
	return tcp_hdr(p)[12] & 0x0f;
}
static inline uint16_t
tcp_window(const struct packet *p)
{
	return hk_rd16(tcp_hdr(p) + 14);
}
static inline uint16_t
tcp_checksum(const struct packet *p)
{
	return hk_rd16(tcp_hdr(p) + 16);
}
static inline uint16_t
tcp_urgptr(const struct packet *p)
{
	return hk_rd16(tcp_hdr(p) + 18);
}

/* Checksum the segment would have (pseudo-header included). */
uint16_t tcp_compute_checksum(const struct packet *pkt);

/*
 * Forge a RST segment (HAKA.md "How drop / reset is done inline"): IPv4
 * id 0, TTL 64, no options, window 0, no payload, ACK flag clear, the
 * given addresses, ports and sequence number, checksums computed. The
 * link header lhdr (lhdr_len bytes, of linktype) is copied in front, so
 * the packet can be written to the output capture of that link type;
 * lhdr_len may be 0 (then linktype should be DLT_RAW). The packet is
 * PKT_F_FORGED, refcnt 1, ts as given. NULL on memory exhaustion.
 */
struct packet *tcp_forge_rst(uint32_t src, uint32_t dst, uint16_t sport,
                             uint16_t dport, uint32_t seq, const uint8_t *lhdr,
                             uint32_t lhdr_len, uint32_t linktype,
                             const struct hk_time *ts);

#endif
