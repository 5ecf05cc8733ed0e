/*
 * Unit tests for src/ipv4/ipv4.c: internet checksum, header decoding and
 * validation, address formatting and parsing.
 */
#include <stdlib.h>
#include <string.h>

#include <haka/ipv4.h>

#include "unittest.h"

#define LINK_HDR 14

/*
 * A frame of caplen bytes: LINK_HDR bytes of fake link header, then an
 * IPv4 header of hlen bytes claiming 'tot' bytes, with a correct
 * checksum.
 */
static struct packet *
make_ip(uint32_t caplen, uint32_t hlen, uint32_t tot)
{
	struct packet *pkt = packet_new(caplen);
	uint8_t *h;
	uint32_t i;

	if (pkt == NULL)
		return NULL;
	memset(pkt->data, 0xee, caplen);
	pkt->l3_off = LINK_HDR;
	h = pkt->data + LINK_HDR;
	memset(h, 0, hlen);
	h[0] = 0x40 | (uint8_t)(hlen / 4);
	hk_wr16(h + 2, (uint16_t)tot);
	hk_wr16(h + 4, 0x1234);
	h[8] = 64;
	h[9] = IPV4_PROTO_TCP;
	hk_wr16(h + 12, 0xc0a8);
	hk_wr16(h + 14, 0x0001);
	hk_wr16(h + 16, 0x0a00);
	hk_wr16(h + 18, 0x0002);
	for (i = 20; i < hlen; i++)
		h[i] = 1; /* NOP options */
	hk_wr16(h + 10, inet_fold(inet_sum(h, hlen, 0)));
	return pkt;
}

/* Straightforward RFC 1071 reference, big-endian words. */
static uint16_t
ref_cksum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/*
 * A block whose native 32-bit halves add up to 0x1_0000_ffff_ffff: the
 * fold to 16 bits carries at every step (0x1_0000_ffff, 0x1ffff,
 * 0x10000, 1), so a fold with one step fewer gives 0 instead of 1.
 */
static void
test_cksum_fold_carries(void)
{
	size_t n = 0x10001 + 1, i;
	uint32_t *w = malloc(n * sizeof(*w));

	FAIL_IF(w == NULL);
	for (i = 0; i + 1 < n; i++)
		w[i] = 0xffffffff;
	w[n - 1] = 0x10000;
	FAIL_IF(inet_fold(inet_sum(w, n * sizeof(*w), 0)) !=
	        ref_cksum((const uint8_t *)w, n * sizeof(*w)));
	free(w);
}

static void
test_cksum_known(void)
{
	static const uint8_t hdr[20] = {
	    0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06,
	    0x00, 0x00, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01};
	uint8_t h2[20];

	FAIL_IF(inet_fold(inet_sum(hdr, sizeof(hdr), 0)) != 0x7cce);
	memcpy(h2, hdr, sizeof(h2));
	h2[10] = 0x7c;
	h2[11] = 0xce;
	/* A header with its checksum sums to all ones. */
	FAIL_IF(inet_fold(inet_sum(h2, sizeof(h2), 0)) != 0);
	/* RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 -> ddf2. */
	static const uint8_t rfc[8] = {0x00, 0x01, 0xf2, 0x03,
	                               0xf4, 0xf5, 0xf6, 0xf7};
	FAIL_IF(inet_fold(inet_sum(rfc, 8, 0)) != (uint16_t)~0xddf2);
	FAIL_IF(inet_fold(inet_sum(NULL, 0, 0)) != 0xffff);
}

static void
test_cksum_random(void)
{
	static uint8_t buf[70000 + 8];
	uint32_t x = 12345, i;
	size_t len, al;

	for (i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245 + 12345;
		buf[i] = (uint8_t)(x >> 16);
	}
	/* Every length and alignment near the unrolled loop's edges. */
	for (al = 0; al < 8; al++)
		for (len = 0; len < 100; len++)
			FAIL_IF(inet_fold(inet_sum(buf + al, len, 0)) !=
			        ref_cksum(buf + al, len));
	FAIL_IF(inet_fold(inet_sum(buf + 3, 70000, 0)) !=
	        ref_cksum(buf + 3, 70000));
	/* All ones: the accumulator carries a lot. */
	memset(buf, 0xff, 70000);
	FAIL_IF(inet_fold(inet_sum(buf, 70000, 0)) != ref_cksum(buf, 70000));
	FAIL_IF(inet_fold(inet_sum(buf, 65535, 0)) != ref_cksum(buf, 65535));
}

static void
test_cksum_chain(void)
{
	uint8_t buf[301];
	uint32_t s;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	/* Even-sized blocks chain; only the last may be odd. */
	s = inet_sum(buf, 16, 0);
	s = inet_sum(buf + 16, 100, s);
	s = inet_sum(buf + 116, 185, s);
	FAIL_IF(inet_fold(s) != ref_cksum(buf, sizeof(buf)));
	/* Host-order values may be added (pseudo-header). */
	s = inet_sum(buf, 20, 0) + 6 + 1000;
	uint8_t ph[24];
	memcpy(ph, buf, 20);
	hk_wr16(ph + 20, 6);
	hk_wr16(ph + 22, 1000);
	FAIL_IF(inet_fold(s) != ref_cksum(ph, 24));
	FAIL_IF(inet_fold(inet_sum(buf, 20, 0xfffffff0)) !=
	        inet_fold(inet_sum(buf, 20, 0xfff0 + 0xffff)));
}

static void
test_decode_valid(void)
{
	struct packet *pkt = make_ip(LINK_HDR + 40, 20, 40);
	enum anomaly a = ANOM_COUNT;
	bool bad = true;

	FAIL_IF(pkt == NULL);
	FAIL_IF(ipv4_decode(pkt, true, &a, &bad) != HK_OK);
	FAIL_IF(bad);
	FAIL_IF(a != ANOM_COUNT);
	FAIL_IF(!(pkt->flags & PKT_F_IPV4));
	FAIL_IF(pkt->ip_hlen != 20 || pkt->ip_len != 40);
	FAIL_IF(pkt->l4_off != LINK_HDR + 20);
	FAIL_IF(pkt->pl_off != 0 || pkt->pl_len != 0);
	FAIL_IF(ipv4_version(pkt) != 4 || ipv4_id(pkt) != 0x1234);
	FAIL_IF(ipv4_src(pkt) != 0xc0a80001 || ipv4_dst(pkt) != 0x0a000002);
	FAIL_IF(ipv4_proto(pkt) != IPV4_PROTO_TCP || ipv4_is_fragment(pkt));
	packet_unref(pkt);

	/* Options: IHL 6, exactly the captured bytes. */
	pkt = make_ip(LINK_HDR + 24, 24, 24);
	FAIL_IF(pkt == NULL);
	FAIL_IF(ipv4_decode(pkt, true, &a, &bad) != HK_OK);
	FAIL_IF(bad || pkt->ip_hlen != 24 || pkt->ip_len != 24);
	FAIL_IF(pkt->l4_off != LINK_HDR + 24);
	packet_unref(pkt);
	FAIL_IF(packet_stats()->live != 0);
}

/* Decoding must fail with 'want' and leave pkt as it was. */
static int
decode_fails(struct packet *pkt, enum anomaly want)
{
	uint16_t flags = pkt->flags;
	enum anomaly a = ANOM_COUNT;
	bool bad = false;
	int ok;

	ok = ipv4_decode(pkt, true, &a, &bad) == HK_ERR && a == want && !bad &&
	     pkt->flags == flags && pkt->ip_hlen == 0 && pkt->ip_len == 0 &&
	     pkt->l4_off == 0;
	packet_unref(pkt);
	return ok;
}

static void
test_decode_errors(void)
{
	struct packet *pkt;

	/* Shorter than a header. */
	pkt = make_ip(LINK_HDR + 20, 20, 20);
	pkt->caplen = LINK_HDR + 19;
	FAIL_IF(!decode_fails(pkt, ANOM_IPV4_TRUNCATED));
	pkt = make_ip(LINK_HDR + 20, 20, 20);
	pkt->l3_off = LINK_HDR + 30; /* past the frame */
	FAIL_IF(!decode_fails(pkt, ANOM_IPV4_TRUNCATED));

	pkt = make_ip(LINK_HDR + 40, 20, 40);
	pkt->data[LINK_HDR] = 0x65;
	FAIL_IF(!decode_fails(pkt, ANOM_IPV4_BAD_VERSION));

	pkt = make_ip(LINK_HDR + 40, 20, 40);
	pkt->data[LINK_HDR] = 0x44; /* 16-byte header */
	FAIL_IF(!decode_fails(pkt, ANOM_IPV4_BAD_HLEN));
	pkt = make_ip(LINK_HDR + 40, 20, 40);
	pkt->data[LINK_HDR] = 0x4f; /* 60-byte header, 40 captured */
	FAIL_IF(!decode_fails(pkt, ANOM_IPV4_BAD_HLEN));

	/* Total length below the header length. */
	pkt = make_ip(LINK_HDR + 40, 24, 20);
	FAIL_IF(!decode_fails(pkt, ANOM_IPV4_BAD_LEN));
	/* Total length beyond the captured bytes. */
	pkt = make_ip(LINK_HDR + 40, 20, 41);
	FAIL_IF(!decode_fails(pkt, ANOM_IPV4_TRUNCATED));
	pkt = make_ip(LINK_HDR + 40, 20, 65535);
	FAIL_IF(!decode_fails(pkt, ANOM_IPV4_TRUNCATED));
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_decode_padding(void)
{
	/* Ethernet pads a 40-byte datagram to 46 bytes of payload. */
	struct packet *pkt = make_ip(LINK_HDR + 46, 20, 40);
	enum anomaly a;
	bool bad = true;

	FAIL_IF(pkt == NULL);
	FAIL_IF(ipv4_decode(pkt, true, &a, &bad) != HK_OK || bad);
	FAIL_IF(pkt->ip_len != 40 || pkt->caplen != LINK_HDR + 46);
	packet_unref(pkt);
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_decode_bad_checksum(void)
{
	struct packet *pkt = make_ip(LINK_HDR + 40, 20, 40);
	enum anomaly a = ANOM_COUNT;
	bool bad = false;

	FAIL_IF(pkt == NULL);
	pkt->data[LINK_HDR + 8] = 63; /* TTL changed, checksum not */
	FAIL_IF(ipv4_decode(pkt, true, &a, &bad) != HK_OK);
	FAIL_IF(!bad);
	FAIL_IF(a != ANOM_IPV4_BAD_CHECKSUM);
	FAIL_IF(!(pkt->flags & PKT_F_IPV4) || pkt->ip_len != 40);
	/* Not verified: not flagged. */
	bad = true;
	FAIL_IF(ipv4_decode(pkt, false, &a, &bad) != HK_OK || bad);
	packet_unref(pkt);
	FAIL_IF(packet_stats()->live != 0);
}

/*
 * ipv4_decode's checksum test (the sum taken in memory order, compared
 * with all ones) against the RFC 1071 reference: random headers of 20 to
 * 60 bytes (every tail length of the summing loop), with their checksum
 * right, then with one random byte changed; one in seven has every byte
 * from the fourth on 0xff, to make the sum carry most.
 */
static void
test_decode_checksum_random(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	enum anomaly a;
	bool bad;
	uint32_t hlen;
	int i, j, k;

	for (i = 0; i < 20000; i++) {
		struct packet *pkt;
		uint8_t *h;

		hlen = 20 + 4 * (uint32_t)(i % 11);
		pkt = make_ip(LINK_HDR + hlen, hlen, hlen);
		FAIL_IF(pkt == NULL);
		h = pkt->data + LINK_HDR;
		for (j = 4; j < (int)hlen; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			h[j] = i % 7 == 0 ? 0xff : (uint8_t)x;
		}
		h[10] = h[11] = 0;
		hk_wr16(h + 10, ref_cksum(h, hlen));
		bad = true;
		FAIL_IF(ipv4_decode(pkt, true, &a, &bad) != HK_OK || bad);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		k = 4 + (int)(x % (hlen - 4));
		h[k] ^= (uint8_t)(1 + (x >> 8) % 255);
		FAIL_IF(ipv4_decode(pkt, true, &a, &bad) != HK_OK);
		FAIL_IF(bad != (ref_cksum(h, hlen) != 0));
		packet_unref(pkt);
	}
	FAIL_IF(packet_stats()->live != 0);
}

static void
test_addr(void)
{
	static const char *const bad[] = {
	    "",          "1.2.3",    "1.2.3.4.", "1.2.3.4.5",  "256.1.1.1",
	    "1.2.3.256", "01.2.3.4", "1..2.3",   " 1.2.3.4",   "1.2.3.4 ",
	    "1.2.3.4x",  "a.b.c.d",  "1.2.3.-4", "1234.1.1.1", "1.2.3.0004"};
	char buf[16];
	uint32_t a = 0x11111111;
	size_t i;

	FAIL_IF(strcmp(ipv4_addr_str(0xc0a80001, buf), "192.168.0.1") != 0);
	FAIL_IF(strcmp(ipv4_addr_str(0xffffffff, buf), "255.255.255.255"));
	FAIL_IF(strcmp(ipv4_addr_str(0, buf), "0.0.0.0") != 0);
	FAIL_IF(ipv4_addr_parse("192.168.0.1", &a) != HK_OK || a != 0xc0a80001);
	FAIL_IF(ipv4_addr_parse("255.255.255.255", &a) != HK_OK ||
	        a != 0xffffffff);
	FAIL_IF(ipv4_addr_parse("0.0.0.0", &a) != HK_OK || a != 0);
	FAIL_IF(ipv4_addr_parse("10.0.100.2", &a) != HK_OK || a != 0x0a006402);
	for (i = 0; i < HK_ARRAY_SIZE(bad); i++) {
		a = 0x11111111;
		FAIL_IF(ipv4_addr_parse(bad[i], &a) != HK_ERR);
		FAIL_IF(a != 0x11111111);
	}
	FAIL_IF(ipv4_addr_parse(NULL, &a) != HK_ERR);
}

int
main(void)
{
	RUN_TEST(test_cksum_known);
	RUN_TEST(test_cksum_random);
	RUN_TEST(test_cksum_fold_carries);
	RUN_TEST(test_cksum_chain);
	RUN_TEST(test_decode_valid);
	RUN_TEST(test_decode_errors);
	RUN_TEST(test_decode_padding);
	RUN_TEST(test_decode_bad_checksum);
	RUN_TEST(test_decode_checksum_random);
	RUN_TEST(test_addr);
	packet_pool_flush();
	UT_DONE();
}
