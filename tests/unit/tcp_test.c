/*
 * Unit tests for src/tcp/tcp.c: header decoding (options, truncated
 * segments, bad data offsets, link padding), field accessors, the
 * checksum (against a straightforward RFC 1071 reference, odd lengths
 * included, and its verification in tcp_decode), and forged RST segments.
 */
#include <string.h>

#include <haka/tcp.h>

#include "unittest.h"

#define LINK_HDR 14
#define SRC      0xc0a80001 /* 192.168.0.1 */
#define DST      0x0a000002 /* 10.0.0.2 */

/* Writable TCP header of a test packet. */
static uint8_t *
th_w(struct packet *p)
{
	return p->data + p->l4_off;
}

/* Straightforward RFC 1071 sum of big-endian words (odd byte padded). */
static uint32_t
ref_sum(const uint8_t *p, size_t len, uint32_t s)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static uint16_t
ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/*
 * Reference TCP checksum of the segment of seglen bytes at ip + 20 (IPv4
 * header without options at ip), checksum field taken as zero.
 */
static uint16_t
ref_tcp_cksum(const uint8_t *ip, uint32_t seglen)
{
	static uint8_t seg[65536];
	uint32_t s;

	memcpy(seg, ip + 20, seglen);
	seg[16] = seg[17] = 0;
	s = ref_sum(ip + 12, 8, 0);
	s += 6 + seglen;
	s = ref_sum(seg, seglen, s);
	return ref_fold(s);
}

/*
 * A frame: LINK_HDR bytes of link header, a 20-byte IPv4 header, a TCP
 * header of hlen bytes (options: MSS, NOPs, window scale, SACK permitted,
 * then EOL padding), len payload bytes, then pad bytes of link padding
 * (not counted in the IPv4 total length). The TCP checksum is correct
 * (reference implementation). Only the fields the IPv4 decoder would set
 * are set: l4_hlen, pl_off and pl_len are left to tcp_decode (they hold
 * the sentinel 0xdead).
 */
static struct packet *
mk_seg(uint32_t hlen, const uint8_t *pl, uint32_t len, uint32_t pad)
{
	static const uint8_t opts[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2};
	uint32_t tot = 20 + hlen + len;
	struct packet *p = packet_new(LINK_HDR + tot + pad);
	uint8_t *ip, *th;
	uint32_t i;

	if (p == NULL) {
		fprintf(stderr, "packet_new failed\n");
		exit(1);
	}
	memset(p->data, 0xee, LINK_HDR + tot + pad);
	p->linktype = 1;
	p->l3_off = LINK_HDR;
	p->ethertype = 0x0800;
	p->flags = PKT_F_IPV4;
	p->ip_hlen = 20;
	p->ip_len = (uint16_t)tot;
	p->l4_off = LINK_HDR + 20;
	p->l4_hlen = p->pl_off = p->pl_len = 0xdead;
	ip = p->data + LINK_HDR;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	hk_wr16(ip + 2, (uint16_t)tot);
	ip[8] = 64;
	ip[9] = IPV4_PROTO_TCP;
	hk_wr32(ip + 12, SRC);
	hk_wr32(ip + 16, DST);
	hk_wr16(ip + 10, ref_fold(ref_sum(ip, 20, 0)));
	th = ip + 20;
	if (hlen >= 20) {
		memset(th, 0, hlen);
		hk_wr16(th, 0x8235);
		hk_wr16(th + 2, 25);
		hk_wr32(th + 4, 0x01020304);
		hk_wr32(th + 8, 0xa0b0c0d0);
		th[12] = (uint8_t)((hlen / 4) << 4);
		th[13] = TCP_ACK | TCP_PSH;
		hk_wr16(th + 14, 0xfedc);
		hk_wr16(th + 18, 0x0102);
		for (i = 20; i < hlen && i - 20 < sizeof(opts); i++)
			th[i] = opts[i - 20];
		if (len > 0)
			memcpy(th + hlen, pl, len);
		hk_wr16(th + 16, ref_tcp_cksum(ip, hlen + len));
	}
	return p;
}

static void
test_decode_options(void)
{
	static const uint8_t pl[] = "MAIL FROM:<a@b>\r\n";
	struct packet *p = mk_seg(32, pl, sizeof(pl) - 1, 0);
	enum anomaly anom = ANOM_COUNT;
	bool bad = false;

	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK);
	FAIL_IF(bad || anom != ANOM_COUNT);
	FAIL_IF(p->l4_hlen != 32);
	FAIL_IF(p->pl_off != LINK_HDR + 20 + 32);
	FAIL_IF(p->pl_len != sizeof(pl) - 1);
	FAIL_IF(memcmp(p->data + p->pl_off, pl, p->pl_len) != 0);
	FAIL_IF(tcp_hdr(p) != p->data + LINK_HDR + 20);
	FAIL_IF(tcp_sport(p) != 0x8235 || tcp_dport(p) != 25);
	FAIL_IF(tcp_seq(p) != 0x01020304 || tcp_ack(p) != 0xa0b0c0d0);
	FAIL_IF(tcp_flags(p) != (TCP_ACK | TCP_PSH));
	FAIL_IF(tcp_res(p) != 0);
	FAIL_IF(tcp_window(p) != 0xfedc || tcp_urgptr(p) != 0x0102);
	FAIL_IF(tcp_checksum(p) != ref_tcp_cksum(p->data + LINK_HDR, 32 + 17));
	FAIL_IF(tcp_compute_checksum(p) != tcp_checksum(p));
	packet_unref(p);

	/* Reserved bits and every flag, and the largest header (60). */
	p = mk_seg(60, pl, 4, 0);
	th_w(p)[12] |= 0x0f;
	th_w(p)[13] = 0xff;
	FAIL_IF(tcp_decode(p, false, &anom, &bad) != HK_OK);
	FAIL_IF(p->l4_hlen != 60 || p->pl_len != 4);
	FAIL_IF(tcp_res(p) != 0x0f || tcp_flags(p) != 0xff);
	packet_unref(p);

	/* No payload, and Ethernet padding that is not payload. */
	p = mk_seg(20, NULL, 0, 6);
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK || bad);
	FAIL_IF(p->l4_hlen != 20 || p->pl_len != 0);
	FAIL_IF(p->pl_off != LINK_HDR + 40);
	packet_unref(p);

	/* Header exactly as long as the segment. */
	p = mk_seg(40, NULL, 0, 0);
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK || bad);
	FAIL_IF(p->l4_hlen != 40 || p->pl_len != 0);
	packet_unref(p);
	FAIL_IF(packet_stats()->live != 0);
}

/* On failure the outputs are untouched (CONVENTIONS.md section 4). */
static bool
untouched(const struct packet *p)
{
	return p->l4_hlen == 0xdead && p->pl_off == 0xdead &&
	       p->pl_len == 0xdead;
}

static void
test_truncated(void)
{
	struct packet *p;
	enum anomaly anom;
	bool bad;
	uint32_t n;

	/* 0..19 bytes of TCP header in the datagram. */
	for (n = 0; n < 20; n++) {
		p = mk_seg(20, NULL, 0, 0);
		p->ip_len = (uint16_t)(20 + n);
		anom = ANOM_COUNT;
		bad = false;
		FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_ERR);
		FAIL_IF(anom != ANOM_TCP_TRUNCATED || bad);
		FAIL_IF_NOT(untouched(p));
		packet_unref(p);
	}
	/* The transport header starts past the end of the datagram. */
	p = mk_seg(20, NULL, 0, 0);
	p->ip_len = 20;
	p->l4_off = LINK_HDR + 24;
	anom = ANOM_COUNT;
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_ERR);
	FAIL_IF(anom != ANOM_TCP_TRUNCATED || !untouched(p));
	packet_unref(p);
	/* A 20-byte segment: enough. */
	p = mk_seg(20, NULL, 0, 0);
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK);
	packet_unref(p);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_bad_data_offset(void)
{
	struct packet *p;
	enum anomaly anom;
	bool bad;
	int doff;

	/* Data offset 0..4 (below the 20-byte minimum). */
	for (doff = 0; doff < 5; doff++) {
		p = mk_seg(20, (const uint8_t *)"0123456789012345678901234", 25,
		           0);
		th_w(p)[12] = (uint8_t)(doff << 4);
		anom = ANOM_COUNT;
		FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_ERR);
		FAIL_IF(anom != ANOM_TCP_BAD_HLEN || !untouched(p));
		packet_unref(p);
	}
	/* Beyond the datagram: 24 and 60 bytes of header in 20 + 3. */
	for (doff = 6; doff <= 15; doff += 9) {
		p = mk_seg(20, (const uint8_t *)"abc", 3, 0);
		th_w(p)[12] = (uint8_t)(doff << 4);
		anom = ANOM_COUNT;
		FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_ERR);
		FAIL_IF(anom != ANOM_TCP_BAD_HLEN || !untouched(p));
		packet_unref(p);
	}
	/* Beyond the datagram although within the frame (link padding). */
	p = mk_seg(20, NULL, 0, 40);
	th_w(p)[12] = 6 << 4;
	anom = ANOM_COUNT;
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_ERR);
	FAIL_IF(anom != ANOM_TCP_BAD_HLEN || !untouched(p));
	packet_unref(p);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_checksum(void)
{
	uint8_t pl[64];
	struct packet *p;
	enum anomaly anom;
	bool bad;
	uint32_t len, i;

	for (i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)(0xf0 + i * 7);
	/* Every payload length, odd ones included, with and w/o options. */
	for (len = 0; len <= sizeof(pl); len++) {
		uint32_t hlen = (len & 2) ? 32 : 20;

		p = mk_seg(hlen, pl, len, len & 1);
		bad = false;
		FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK);
		FAIL_IF(bad);
		FAIL_IF(tcp_compute_checksum(p) != tcp_checksum(p));
		FAIL_IF(tcp_compute_checksum(p) !=
		        ref_tcp_cksum(p->data + LINK_HDR, hlen + len));
		/* Summing the pseudo-header and the segment folds to 0. */
		{
			const uint8_t *ip = p->data + LINK_HDR;
			uint32_t s = inet_sum(ip + 12, 8, 0);

			s += IPV4_PROTO_TCP + hlen + len;
			s = inet_sum(ip + 20, hlen + len, s);
			FAIL_IF(inet_fold(s) != 0);
		}
		packet_unref(p);
	}

	/* A corrupted payload byte: reported, still decoded. */
	p = mk_seg(20, pl, 33, 0);
	p->data[LINK_HDR + 40 + 32] ^= 0x01;
	bad = false;
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK);
	FAIL_IF(!bad || p->pl_len != 33);
	/* Not checked when not asked. */
	bad = false;
	FAIL_IF(tcp_decode(p, false, &anom, &bad) != HK_OK || bad);
	packet_unref(p);

	/* A corrupted checksum field, header option, and pseudo-header. */
	p = mk_seg(32, pl, 10, 0);
	th_w(p)[17] ^= 0x80;
	bad = false;
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK || !bad);
	packet_unref(p);
	p = mk_seg(32, pl, 10, 0);
	th_w(p)[25] ^= 0x10;
	bad = false;
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK || !bad);
	packet_unref(p);
	p = mk_seg(20, pl, 10, 0);
	p->data[LINK_HDR + 19] ^= 0x01; /* destination address */
	bad = false;
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK || !bad);
	packet_unref(p);
	/* Link padding is not summed. */
	p = mk_seg(20, pl, 11, 5);
	memset(p->data + LINK_HDR + 40 + 11, 0x5a, 5);
	bad = false;
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK || bad);
	packet_unref(p);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_forge_rst(void)
{
	static const uint8_t eth[LINK_HDR] = {0x00, 0x11, 0x22, 0x33, 0x44,
	                                      0x55, 0x66, 0x77, 0x88, 0x99,
	                                      0xaa, 0xbb, 0x08, 0x00};
	struct hk_time ts = {1234567, 890};
	struct packet *p;
	const uint8_t *ip, *th;
	enum anomaly anom = ANOM_COUNT;
	bool bad = false;

	p = tcp_forge_rst(SRC, DST, 0x8235, 25, 0xfffffffe, eth, LINK_HDR, 1,
	                  &ts);
	FAIL_IF(p == NULL);
	FAIL_IF(p->refcnt != 1);
	FAIL_IF(p->flags != (PKT_F_FORGED | PKT_F_IPV4));
	FAIL_IF(p->ts.sec != 1234567 || p->ts.nsec != 890);
	FAIL_IF(p->linktype != 1 || p->ethertype != 0x0800);
	FAIL_IF(p->caplen != LINK_HDR + 40 || p->wirelen != LINK_HDR + 40);
	FAIL_IF(memcmp(p->data, eth, LINK_HDR) != 0);
	FAIL_IF(p->l3_off != LINK_HDR || p->ip_hlen != 20 || p->ip_len != 40);
	FAIL_IF(p->l4_off != LINK_HDR + 20 || p->l4_hlen != 20);
	FAIL_IF(p->pl_off != LINK_HDR + 40 || p->pl_len != 0);
	FAIL_IF(p->verdict != PKT_PENDING);
	/* IPv4 header. */
	ip = packet_l3(p);
	FAIL_IF(ip[0] != 0x45 || ip[1] != 0);
	FAIL_IF(ipv4_total_len(p) != 40);
	FAIL_IF(ipv4_id(p) != 0);
	FAIL_IF((hk_rd16(ip + 6)) != 0); /* no flags, no fragment */
	FAIL_IF(ipv4_ttl(p) != 64 || ipv4_proto(p) != IPV4_PROTO_TCP);
	FAIL_IF(ipv4_src(p) != SRC || ipv4_dst(p) != DST);
	FAIL_IF(inet_fold(inet_sum(ip, 20, 0)) != 0);
	FAIL_IF(ref_fold(ref_sum(ip, 20, 0)) != 0);
	/* TCP header. */
	th = tcp_hdr(p);
	FAIL_IF(th != ip + 20);
	FAIL_IF(tcp_sport(p) != 0x8235 || tcp_dport(p) != 25);
	FAIL_IF(tcp_seq(p) != 0xfffffffe || tcp_ack(p) != 0);
	FAIL_IF(th[12] != 0x50);
	FAIL_IF(tcp_flags(p) != TCP_RST); /* RST only, ACK clear */
	FAIL_IF(tcp_window(p) != 0 || tcp_urgptr(p) != 0);
	FAIL_IF(tcp_compute_checksum(p) != tcp_checksum(p));
	FAIL_IF(ref_tcp_cksum(ip, 20) != tcp_checksum(p));
	/* It decodes as a valid segment. */
	FAIL_IF(tcp_decode(p, true, &anom, &bad) != HK_OK || bad);
	FAIL_IF(p->pl_len != 0 || p->l4_hlen != 20);
	packet_unref(p);

	/* Without a link header (raw IP). */
	p = tcp_forge_rst(DST, SRC, 25, 0x8235, 0x12345678, NULL, 0, 12, &ts);
	FAIL_IF(p == NULL);
	FAIL_IF(p->caplen != 40 || p->l3_off != 0 || p->l4_off != 20);
	FAIL_IF(p->linktype != 12);
	ip = packet_l3(p);
	FAIL_IF(ip != p->data || ip[0] != 0x45);
	FAIL_IF(ipv4_src(p) != DST || ipv4_dst(p) != SRC);
	FAIL_IF(inet_fold(inet_sum(ip, 20, 0)) != 0);
	FAIL_IF(tcp_seq(p) != 0x12345678 || tcp_flags(p) != TCP_RST);
	FAIL_IF(tcp_sport(p) != 25 || tcp_dport(p) != 0x8235);
	FAIL_IF(tcp_compute_checksum(p) != tcp_checksum(p));
	FAIL_IF(ref_tcp_cksum(ip, 20) != tcp_checksum(p));
	packet_unref(p);
	FAIL_IF(packet_stats()->live != 0);
}

int
main(void)
{
	RUN_TEST(test_decode_options);
	RUN_TEST(test_truncated);
	RUN_TEST(test_bad_data_offset);
	RUN_TEST(test_checksum);
	RUN_TEST(test_forge_rst);
	packet_pool_flush();
	UT_DONE();
}
