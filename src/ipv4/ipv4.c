/*
 * IPv4 header decoding and validation, the internet checksum and address
 * formatting. ipv4_decode is called by the engine for every frame whose
 * link layer says IPv4, and by ipv4_defrag.c on each rebuilt datagram;
 * inet_sum/inet_fold are shared with tcp.c (header and payload checksums).
 */
#include <stdio.h>
#include <string.h>

#include <haka/ipv4.h>

#define IPV4_HDR_MIN 20

/*
 * Bytes summed between two folds of the 64-bit accumulator. Each 8-byte
 * step adds two 32-bit halves (at most 2^33), so 2^30 bytes add less than
 * 2^60 and the accumulator can never wrap.
 */
#define INET_SUM_BLOCK ((size_t)1 << 30)

/*
 * Fold a 64-bit one's complement sum to 16 bits: 64 -> 33 bits, then three
 * 16-bit folds (at most 0x2fffe, then 0x10001, then 0xffff).
 */
static uint64_t
inet_fold64(uint64_t acc)
{
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (acc & 0xffff) + (acc >> 16);
}

/*
 * Sum 'len' bytes as 16-bit words in memory order. One's complement
 * addition is byte-order independent (RFC 1071 section 2(B)), so the
 * words are loaded natively, 8 bytes at a time, and the folded result is
 * swapped once at the end. The caller's block must be smaller than
 * INET_SUM_BLOCK.
 */
static uint64_t
inet_sum_native(const uint8_t *p, size_t len)
{
	uint64_t a0 = 0, a1 = 0, w0, w1;
	uint32_t w32;
	uint16_t w16;

	while (len >= 16) {
		memcpy(&w0, p, 8);
		memcpy(&w1, p + 8, 8);
		a0 += (w0 & 0xffffffff) + (w0 >> 32);
		a1 += (w1 & 0xffffffff) + (w1 >> 32);
		p += 16;
		len -= 16;
	}
	if (len >= 8) {
		memcpy(&w0, p, 8);
		a0 += (w0 & 0xffffffff) + (w0 >> 32);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		memcpy(&w32, p, 4);
		a0 += w32;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w16, p, 2);
		a0 += w16;
		p += 2;
		len -= 2;
	}
	if (len == 1) {
		/* A trailing odd byte is the high byte of a zero-padded word.
		 */
		w16 = 0;
		memcpy(&w16, p, 1);
		a0 += w16;
	}
	return inet_fold64(a0 + a1); /* each under 2^61: no carry lost */
}

/*
 * Internet checksum partial sum (RFC 1071) of len bytes, added to 'sum'.
 * The result is in host order (as if every word were read big-endian), so
 * callers may add host-order values (pseudo-header protocol and length)
 * to it. Sums can be chained over several blocks; only the last block may
 * have an odd length. The result is folded to at most 16 bits.
 */
uint32_t
inet_sum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = 0, v;
	size_t n;

	while (len > 0) {
		n = len < INET_SUM_BLOCK ? len : INET_SUM_BLOCK;
		acc += inet_sum_native(p, n);
		p += n;
		len -= n;
	}
	v = inet_fold64(acc);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = ((v & 0xff) << 8) | (v >> 8);
#endif
	return (uint32_t)inet_fold64(v + sum);
}

/*
 * Fold a partial sum from inet_sum and complement it: the value to store
 * in (or compare with) a checksum field, in host order. Summing a header
 * that includes a correct checksum folds to 0.
 */
uint16_t
inet_fold(uint32_t sum)
{
	return (uint16_t)~inet_fold64(sum);
}

/*
 * Checks, in order (RFC 791 section 3.1): at least 20 captured bytes,
 * version 4, IHL*4 >= 20 and within the captured bytes, total length >=
 * IHL*4, total length within the captured bytes. Outputs are written only
 * on success, except *anom which is written on failure and on a bad
 * checksum. anom and bad_checksum may be NULL.
 */
int
ipv4_decode(struct packet *pkt, bool verify_checksum, enum anomaly *anom,
            bool *bad_checksum)
{
	const uint8_t *h;
	uint32_t avail, hlen, tot;
	enum anomaly a;
	bool bad = false;

	if (pkt->l3_off > pkt->caplen ||
	    pkt->caplen - pkt->l3_off < IPV4_HDR_MIN) {
		a = ANOM_IPV4_TRUNCATED;
		goto fail;
	}
	avail = pkt->caplen - pkt->l3_off;
	h = pkt->data + pkt->l3_off;
	if (h[0] >> 4 != 4) {
		a = ANOM_IPV4_BAD_VERSION;
		goto fail;
	}
	hlen = (uint32_t)(h[0] & 0x0f) * 4;
	if (hlen < IPV4_HDR_MIN || hlen > avail) {
		a = ANOM_IPV4_BAD_HLEN;
		goto fail;
	}
	tot = hk_rd16(h + 2);
	if (tot < hlen) {
		a = ANOM_IPV4_BAD_LEN;
		goto fail;
	}
	/* Bytes past the total length are link padding, not ours. */
	if (tot > avail) {
		a = ANOM_IPV4_TRUNCATED;
		goto fail;
	}
	/*
	 * A header with its checksum sums to all ones, in either byte order:
	 * the sum in memory order needs no swap for this test.
	 */
	if (verify_checksum)
		bad = inet_sum_native(h, hlen) != 0xffff;

	pkt->flags |= PKT_F_IPV4;
	pkt->ip_hlen = (uint16_t)hlen;
	pkt->ip_len = (uint16_t)tot;
	pkt->l4_off = pkt->l3_off + hlen;
	if (bad_checksum != NULL)
		*bad_checksum = bad;
	if (bad && anom != NULL)
		*anom = ANOM_IPV4_BAD_CHECKSUM;
	return HK_OK;

fail:
	if (anom != NULL)
		*anom = a;
	return HK_ERR;
}

/* addr in host order. buf must hold at least 16 bytes. Returns buf. */
char *
ipv4_addr_str(uint32_t addr, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff,
	         (addr >> 8) & 0xff, addr & 0xff);
	return buf;
}

/*
 * Strict dotted quad: four decimal octets of 1 to 3 digits, no leading
 * zero (it would read as octal elsewhere), nothing after. *addr (host
 * order) is written only on HK_OK.
 */
int
ipv4_addr_parse(const char *s, uint32_t *addr)
{
	uint32_t v = 0, oct;
	int i, nd;

	if (s == NULL)
		return HK_ERR;
	for (i = 0; i < 4; i++) {
		oct = 0;
		for (nd = 0; *s >= '0' && *s <= '9'; nd++, s++) {
			if (nd == 3 || (nd > 0 && oct == 0))
				return HK_ERR;
			oct = oct * 10 + (uint32_t)(*s - '0');
		}
		if (nd == 0 || oct > 255)
			return HK_ERR;
		v = v << 8 | oct;
		if (i < 3 && *s++ != '.')
			return HK_ERR;
	}
	if (*s != '\0')
		return HK_ERR;
	*addr = v;
	return HK_OK;
}
