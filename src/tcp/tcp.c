/*
 * TCP header decoding, checksum and RST forging. Called by the engine for
 * every IPv4 packet of protocol 6.
 */
#include <string.h>

#include <haka/tcp.h>

int
tcp_decode(struct packet *pkt, bool verify_checksum, enum anomaly *anom,
           bool *bad_checksum)
{
	uint32_t avail, hlen;
	const uint8_t *h;

	if (pkt->l4_off > pkt->l3_off + pkt->ip_len) {
		*anom = ANOM_TCP_TRUNCATED;
		return HK_ERR;
	}
	avail = pkt->l3_off + pkt->ip_len - pkt->l4_off;
	if (avail < 20) {
		*anom = ANOM_TCP_TRUNCATED;
		return HK_ERR;
	}
	h = pkt->data + pkt->l4_off;
	hlen = (uint32_t)(h[12] >> 4) * 4;
	if (hlen < 20 || hlen > avail) {
		*anom = ANOM_TCP_BAD_HLEN;
		return HK_ERR;
	}
	pkt->l4_hlen = hlen;
	pkt->pl_off = pkt->l4_off + hlen;
	pkt->pl_len = avail - hlen;
	if (verify_checksum && tcp_compute_checksum(pkt) != tcp_checksum(pkt))
		*bad_checksum = true;
	return HK_OK;
}

uint16_t
tcp_compute_checksum(const struct packet *pkt)
{
	const uint8_t *ip = pkt->data + pkt->l3_off;
	const uint8_t *h = pkt->data + pkt->l4_off;
	uint32_t len = pkt->l4_hlen + pkt->pl_len;
	uint32_t sum;

	sum = inet_sum(ip + 12, 8, 0);
	sum += IPV4_PROTO_TCP + len;
	/* The checksum field itself counts as zero. */
	sum = inet_sum(h, 16, sum);
	sum = inet_sum(h + 18, len - 18, sum);
	return inet_fold(sum);
}

struct packet *
tcp_forge_rst(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
              uint32_t seq, const uint8_t *lhdr, uint32_t lhdr_len,
              uint32_t linktype, const struct hk_time *ts)
{
	struct packet *pkt;
	uint8_t *ip, *th;

	pkt = packet_new(lhdr_len + 40);
	if (pkt == NULL)
		return NULL;
	if (lhdr_len > 0)
		memcpy(pkt->data, lhdr, lhdr_len);
	pkt->linktype = linktype;
	pkt->l3_off = lhdr_len;
	pkt->wirelen = pkt->caplen;
	pkt->ethertype = 0x0800;
	pkt->flags = PKT_F_FORGED | PKT_F_IPV4;
	pkt->ts = *ts;
	ip = pkt->data + lhdr_len;
	memset(ip, 0, 40);
	ip[0] = 0x45;
	hk_wr16(ip + 2, 40);
	ip[8] = 64;
	ip[9] = IPV4_PROTO_TCP;
	hk_wr32(ip + 12, src);
	hk_wr32(ip + 16, dst);
	hk_wr16(ip + 10, inet_fold(inet_sum(ip, 20, 0)));
	pkt->ip_hlen = 20;
	pkt->ip_len = 40;
	pkt->l4_off = lhdr_len + 20;
	pkt->l4_hlen = 20;
	pkt->pl_off = lhdr_len + 40;
	pkt->pl_len = 0;
	th = ip + 20;
	hk_wr16(th, sport);
	hk_wr16(th + 2, dport);
	hk_wr32(th + 4, seq);
	th[12] = 5 << 4;
	th[13] = TCP_RST;
	hk_wr16(th + 16, tcp_compute_checksum(pkt));
	return pkt;
}
