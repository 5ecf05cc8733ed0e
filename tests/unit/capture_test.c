/*
 * Unit tests for the offline capture backend: link_decode on frames built
 * in memory (every strict prefix of each frame must be declined without
 * reading past caplen), then pcap_sink and pcap_source on files written
 * at run time in a temporary directory, a pcapng file written by hand,
 * and a damaged capture from the public corpus
 * (tests/data/capture/sv-smtp-to-comma.pcap).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include <haka/capture.h>
#include <haka/log.h>

#include "unittest.h"

#define DLT_NULL_       0
#define DLT_EN10MB_     1
#define DLT_RAW_        12
#define DLT_RAW_BSDOS_  14
#define LINKTYPE_RAW_   101
#define DLT_LOOP_       108
#define DLT_LINUX_SLL_  113
#define DLT_IPV4_       228
#define DLT_IPV6_       229
#define DLT_LINUX_SLL2_ 276
#define DLT_IEEE802_11_ 105

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd

/* Damaged corpus file: 18 good records, then a 3.9 GB record length. */
#define DAMAGED_PCAP    "sv-smtp-to-comma.pcap"
#define DAMAGED_PCAP_OK 18

static char tmpdir[] = "/tmp/capture_test.XXXXXX";

/* --- frame builders ----------------------------------------------------- */

/* A 40-byte IPv4/TCP SYN 10.0.0.1:1234 -> 10.0.0.2:25. */
static size_t
put_ipv4_tcp(uint8_t *p)
{
	static const uint8_t ip[40] = {
	    0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06,
	    0x00, 0x00, 10,   0,    0,    1,    10,   0,    0,    2,
	    0x04, 0xd2, 0x00, 0x19, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	    0x00, 0x00, 0x50, 0x02, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
	};

	memcpy(p, ip, sizeof(ip));
	return sizeof(ip);
}

/* A 40-byte IPv6 header with no payload. */
static size_t
put_ipv6(uint8_t *p)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	p[6] = 59; /* no next header */
	p[7] = 64;
	p[23] = 1;
	p[39] = 2;
	return 40;
}

static size_t
put_eth(uint8_t *p, uint16_t type)
{
	size_t i;

	for (i = 0; i < 12; i++)
		p[i] = (uint8_t)(0xa0 + i);
	p[12] = (uint8_t)(type >> 8);
	p[13] = (uint8_t)type;
	return 14;
}

/* Append a VLAN tag (TCI vid, then the next EtherType). */
static size_t
put_tag(uint8_t *p, uint16_t vid, uint16_t next)
{
	p[0] = (uint8_t)(vid >> 8);
	p[1] = (uint8_t)vid;
	p[2] = (uint8_t)(next >> 8);
	p[3] = (uint8_t)next;
	return 4;
}

static size_t
put_sll(uint8_t *p, uint16_t proto)
{
	memset(p, 0, 16);
	p[1] = 4; /* outgoing */
	p[3] = 1; /* ARPHRD_ETHER */
	p[5] = 6; /* address length */
	memset(p + 6, 0x11, 6);
	p[14] = (uint8_t)(proto >> 8);
	p[15] = (uint8_t)proto;
	return 16;
}

static size_t
put_sll2(uint8_t *p, uint16_t proto)
{
	memset(p, 0, 20);
	p[0] = (uint8_t)(proto >> 8);
	p[1] = (uint8_t)proto;
	p[7] = 3;  /* ifindex */
	p[9] = 1;  /* ARPHRD_ETHER */
	p[10] = 0; /* to us */
	p[11] = 6;
	memset(p + 12, 0x22, 6);
	return 20;
}

/* --- link_decode -------------------------------------------------------- */

/*
 * Decode a copy of frame[0..len) held in an exactly sized heap block, so
 * that ASan reports any read past caplen. l3_off and ethertype start as
 * garbage to check that a decline resets them.
 */
static int
decode(int dlt, const uint8_t *frame, size_t len, uint32_t *l3_off,
       uint16_t *ethertype)
{
	struct packet pkt;
	int rc;

	memset(&pkt, 0, sizeof(pkt));
	/* For len 0, a zero-byte block (or NULL): any read is wrong. */
	pkt.data = malloc(len);
	if (pkt.data == NULL && len > 0)
		abort();
	if (len > 0)
		memcpy(pkt.data, frame, len);
	pkt.caplen = (uint32_t)len;
	pkt.wirelen = (uint32_t)len;
	pkt.linktype = (uint32_t)dlt;
	pkt.l3_off = 0xdead;
	pkt.ethertype = 0xbeef;
	rc = link_decode(&pkt);
	*l3_off = pkt.l3_off;
	*ethertype = pkt.ethertype;
	free(pkt.data);
	return rc;
}

/*
 * The whole frame decodes to (want_off, want_type) and every prefix
 * shorter than want_off (a truncated link header) is declined with both
 * outputs 0. Returns 0 when all hold.
 */
static int
check_frame(int dlt, const uint8_t *frame, size_t len, uint32_t want_off,
            uint16_t want_type)
{
	uint32_t off;
	uint16_t type;
	size_t cut;

	if (decode(dlt, frame, len, &off, &type) != HK_OK) {
		fprintf(stderr, "  dlt %d: not decoded\n", dlt);
		return -1;
	}
	if (off != want_off || type != want_type) {
		fprintf(stderr, "  dlt %d: l3_off %u ethertype 0x%04x\n", dlt,
		        off, type);
		return -1;
	}
	for (cut = 0; cut < want_off; cut++) {
		if (decode(dlt, frame, cut, &off, &type) != HK_DECLINED ||
		    off != 0 || type != 0) {
			fprintf(stderr, "  dlt %d: prefix %zu accepted\n", dlt,
			        cut);
			return -1;
		}
	}
	return 0;
}

static int
check_declined(int dlt, const uint8_t *frame, size_t len)
{
	uint32_t off;
	uint16_t type;

	if (decode(dlt, frame, len, &off, &type) != HK_DECLINED)
		return -1;
	return off == 0 && type == 0 ? 0 : -1;
}

static void
test_ethernet(void)
{
	uint8_t f[128];
	size_t n;

	n = put_eth(f, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	FAIL_IF(check_frame(DLT_EN10MB_, f, n, 14, ETH_IPV4) != 0);

	n = put_eth(f, ETH_IPV6);
	n += put_ipv6(f + n);
	FAIL_IF(check_frame(DLT_EN10MB_, f, n, 14, ETH_IPV6) != 0);

	/* A header alone: l3 is empty but the link header is whole. */
	n = put_eth(f, ETH_IPV4);
	FAIL_IF(check_frame(DLT_EN10MB_, f, n, 14, ETH_IPV4) != 0);

	/* Non-IP EtherTypes are reported as they are (ARP). */
	n = put_eth(f, 0x0806);
	n += 28;
	memset(f + 14, 0, 28);
	FAIL_IF(check_frame(DLT_EN10MB_, f, n, 14, 0x0806) != 0);
}

static void
test_ethernet_truncated(void)
{
	uint8_t f[64];

	put_eth(f, ETH_IPV4);
	FAIL_IF(check_declined(DLT_EN10MB_, f, 13) != 0);
	FAIL_IF(check_declined(DLT_EN10MB_, f, 1) != 0);
	FAIL_IF(check_declined(DLT_EN10MB_, f, 0) != 0);
}

static void
test_ethernet_8023(void)
{
	uint8_t f[64];
	size_t n;

	/* An 802.3 length field: LLC follows, no network header. */
	n = put_eth(f, 46);
	memset(f + n, 0x42, 46);
	FAIL_IF(check_declined(DLT_EN10MB_, f, n + 46) != 0);
	n = put_eth(f, 0x05ff);
	FAIL_IF(check_declined(DLT_EN10MB_, f, n) != 0);
}

static void
test_vlan_single(void)
{
	uint8_t f[128];
	size_t n;

	n = put_eth(f, 0x8100);
	n += put_tag(f + n, 42, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	FAIL_IF(check_frame(DLT_EN10MB_, f, n, 18, ETH_IPV4) != 0);
}

static void
test_vlan_qinq(void)
{
	uint8_t f[128];
	size_t n;

	n = put_eth(f, 0x88a8);
	n += put_tag(f + n, 100, 0x8100);
	n += put_tag(f + n, 42, ETH_IPV6);
	n += put_ipv6(f + n);
	FAIL_IF(check_frame(DLT_EN10MB_, f, n, 22, ETH_IPV6) != 0);

	/* The old 0x9100 outer tag. */
	n = put_eth(f, 0x9100);
	n += put_tag(f + n, 100, 0x8100);
	n += put_tag(f + n, 42, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	FAIL_IF(check_frame(DLT_EN10MB_, f, n, 22, ETH_IPV4) != 0);
}

static void
test_vlan_four(void)
{
	uint8_t f[128];
	size_t n;

	n = put_eth(f, 0x9100);
	n += put_tag(f + n, 1, 0x88a8);
	n += put_tag(f + n, 2, 0x8100);
	n += put_tag(f + n, 3, 0x8100);
	n += put_tag(f + n, 4, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	FAIL_IF(check_frame(DLT_EN10MB_, f, n, 30, ETH_IPV4) != 0);

	/* A fifth tag is beyond the supported depth. */
	n = put_eth(f, 0x8100);
	n += put_tag(f + n, 1, 0x8100);
	n += put_tag(f + n, 2, 0x8100);
	n += put_tag(f + n, 3, 0x8100);
	n += put_tag(f + n, 4, 0x8100);
	n += put_tag(f + n, 5, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	FAIL_IF(check_declined(DLT_EN10MB_, f, n) != 0);
}

static void
test_vlan_truncated(void)
{
	uint8_t f[64];
	size_t n;

	n = put_eth(f, 0x8100);
	n += put_tag(f + n, 42, ETH_IPV4);
	/* TCI only, no inner EtherType. */
	FAIL_IF(check_declined(DLT_EN10MB_, f, 16) != 0);
	FAIL_IF(check_declined(DLT_EN10MB_, f, 17) != 0);
	/* A tag followed by nothing at all. */
	FAIL_IF(check_declined(DLT_EN10MB_, f, 14) != 0);
	/* Whole tag, empty l3: the link header is complete. */
	FAIL_IF(check_frame(DLT_EN10MB_, f, n, 18, ETH_IPV4) != 0);
	/* A tag inside a tag that is cut. */
	n = put_eth(f, 0x88a8);
	n += put_tag(f + n, 1, 0x8100);
	n += put_tag(f + n, 2, ETH_IPV4);
	FAIL_IF(check_declined(DLT_EN10MB_, f, 20) != 0);
	/* An inner tag with an 802.3 length behind it. */
	n = put_eth(f, 0x8100);
	n += put_tag(f + n, 2, 0x0100);
	FAIL_IF(check_declined(DLT_EN10MB_, f, n) != 0);
}

static void
test_sll(void)
{
	uint8_t f[128];
	size_t n;

	n = put_sll(f, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	FAIL_IF(check_frame(DLT_LINUX_SLL_, f, n, 16, ETH_IPV4) != 0);

	n = put_sll(f, ETH_IPV6);
	n += put_ipv6(f + n);
	FAIL_IF(check_frame(DLT_LINUX_SLL_, f, n, 16, ETH_IPV6) != 0);

	/* A VLAN tag left in the frame by the kernel. */
	n = put_sll(f, 0x8100);
	n += put_tag(f + n, 7, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	FAIL_IF(check_frame(DLT_LINUX_SLL_, f, n, 20, ETH_IPV4) != 0);

	/* Protocol 0x0004: 802.2 LLC frames, not a network protocol. */
	n = put_sll(f, 0x0004);
	FAIL_IF(check_declined(DLT_LINUX_SLL_, f, n + 8) != 0);
	FAIL_IF(check_declined(DLT_LINUX_SLL_, f, 15) != 0);
}

static void
test_sll2(void)
{
	uint8_t f[128];
	size_t n;

	n = put_sll2(f, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	FAIL_IF(check_frame(DLT_LINUX_SLL2_, f, n, 20, ETH_IPV4) != 0);

	n = put_sll2(f, ETH_IPV6);
	n += put_ipv6(f + n);
	FAIL_IF(check_frame(DLT_LINUX_SLL2_, f, n, 20, ETH_IPV6) != 0);
	FAIL_IF(check_declined(DLT_LINUX_SLL2_, f, 19) != 0);
}

static void
test_null_loop(void)
{
	static const struct {
		uint8_t af[4];
		uint16_t type;
	} cases[] = {
	    {{2, 0, 0, 0}, ETH_IPV4},  /* little-endian host */
	    {{0, 0, 0, 2}, ETH_IPV4},  /* big-endian host or LOOP */
	    {{24, 0, 0, 0}, ETH_IPV6}, /* NetBSD/OpenBSD */
	    {{0, 0, 0, 24}, ETH_IPV6}, {{28, 0, 0, 0}, ETH_IPV6}, /* FreeBSD */
	    {{0, 0, 0, 28}, ETH_IPV6}, {{30, 0, 0, 0}, ETH_IPV6}, /* Darwin */
	    {{0, 0, 0, 30}, ETH_IPV6},
	};
	static const int dlts[] = {DLT_NULL_, DLT_LOOP_};
	uint8_t f[64];
	size_t i, j, n;

	for (j = 0; j < HK_ARRAY_SIZE(dlts); j++) {
		for (i = 0; i < HK_ARRAY_SIZE(cases); i++) {
			memcpy(f, cases[i].af, 4);
			if (cases[i].type == ETH_IPV4)
				n = 4 + put_ipv4_tcp(f + 4);
			else
				n = 4 + put_ipv6(f + 4);
			FAIL_IF(check_frame(dlts[j], f, n, 4, cases[i].type) !=
			        0);
		}
		/* Unknown family; a family in the wrong bytes. */
		memcpy(f, "\x63\x00\x00\x00", 4);
		FAIL_IF(check_declined(dlts[j], f, 44) != 0);
		memcpy(f, "\x00\x02\x00\x00", 4);
		FAIL_IF(check_declined(dlts[j], f, 44) != 0);
		FAIL_IF(check_declined(dlts[j], f, 3) != 0);
	}
}

static void
test_raw(void)
{
	static const int dlts[] = {DLT_RAW_, DLT_RAW_BSDOS_, LINKTYPE_RAW_};
	uint8_t f[64];
	size_t i, n;

	for (i = 0; i < HK_ARRAY_SIZE(dlts); i++) {
		n = put_ipv4_tcp(f);
		FAIL_IF(check_frame(dlts[i], f, n, 0, ETH_IPV4) != 0);
		n = put_ipv6(f);
		FAIL_IF(check_frame(dlts[i], f, n, 0, ETH_IPV6) != 0);
		FAIL_IF(check_declined(dlts[i], f, 0) != 0);
		f[0] = 0x55; /* version 5 */
		FAIL_IF(check_declined(dlts[i], f, n) != 0);
	}

	n = put_ipv4_tcp(f);
	FAIL_IF(check_frame(DLT_IPV4_, f, n, 0, ETH_IPV4) != 0);
	FAIL_IF(check_declined(DLT_IPV6_, f, n) != 0);
	n = put_ipv6(f);
	FAIL_IF(check_frame(DLT_IPV6_, f, n, 0, ETH_IPV6) != 0);
	FAIL_IF(check_declined(DLT_IPV4_, f, n) != 0);
}

static void
test_unsupported(void)
{
	uint8_t f[64];
	size_t n;

	n = put_eth(f, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	FAIL_IF(check_declined(DLT_IEEE802_11_, f, n) != 0);
	FAIL_IF(check_declined(-1 & 0xffff, f, n) != 0);

	FAIL_IF(!link_supported(DLT_EN10MB_));
	FAIL_IF(!link_supported(DLT_LINUX_SLL_));
	FAIL_IF(!link_supported(DLT_LINUX_SLL2_));
	FAIL_IF(!link_supported(DLT_NULL_));
	FAIL_IF(!link_supported(DLT_LOOP_));
	FAIL_IF(!link_supported(DLT_RAW_));
	FAIL_IF(!link_supported(DLT_RAW_BSDOS_));
	FAIL_IF(!link_supported(LINKTYPE_RAW_));
	FAIL_IF(!link_supported(DLT_IPV4_));
	FAIL_IF(link_supported(DLT_IEEE802_11_));
	FAIL_IF(link_supported(-1));
}

/* --- files -------------------------------------------------------------- */

static const char *
tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

/*
 * Path of a file under tests/data/capture: $HAKA_TEST_DATA (set by
 * ctest), else next to this source file, else relative to the working
 * directory.
 */
static const char *
data_path(char *buf, size_t len, const char *name)
{
	const char *dir = getenv("HAKA_TEST_DATA");
	const char *slash = strrchr(__FILE__, '/');

	if (dir != NULL)
		snprintf(buf, len, "%s/capture/%s", dir, name);
	else if (slash != NULL)
		snprintf(buf, len, "%.*s/../data/capture/%s",
		         (int)(slash - __FILE__), __FILE__, name);
	else
		snprintf(buf, len, "../data/capture/%s", name);
	if (access(buf, R_OK) != 0)
		fprintf(stderr, "  missing test data: %s\n", buf);
	return buf;
}

static int
write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (f == NULL)
		return -1;
	if (fwrite(buf, 1, len, f) != len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* A packet as a capture would hand it over: decoded, with its id. */
static struct packet *
make_packet(int dlt, const uint8_t *frame, size_t len, uint32_t wirelen,
            int64_t sec, int32_t nsec)
{
	struct packet *pkt = packet_new((uint32_t)len);

	if (pkt == NULL)
		abort();
	memcpy(pkt->data, frame, len);
	pkt->linktype = (uint32_t)dlt;
	pkt->wirelen = wirelen;
	pkt->ts.sec = sec;
	pkt->ts.nsec = nsec;
	(void)link_decode(pkt);
	return pkt;
}

/*
 * Read a file back and return its packets in pkts (up to max); returns
 * the count, or -1 when the file did not open or did not end cleanly.
 */
static int
read_all(const char *path, struct packet **pkts, int max)
{
	char err[256];
	char *files[1];
	struct pcap_source *src;
	struct packet *pkt;
	int n = 0, rc;

	files[0] = (char *)path;
	if ((src = pcap_source_open(files, 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "  %s\n", err);
		return -1;
	}
	while ((rc = pcap_source_next(src, &pkt)) == HK_OK) {
		if (n == max) {
			packet_unref(pkt);
			n = -1;
			break;
		}
		/* Kept past the next read: its bytes must be its own. */
		packet_own(pkt);
		pkts[n++] = pkt;
	}
	if (rc != HK_AGAIN && n >= 0)
		n = -1;
	if (pcap_source_errors(src) != 0)
		n = -1;
	pcap_source_close(src);
	return n;
}

static void
unref_all(struct packet **pkts, int n)
{
	int i;

	for (i = 0; i < n; i++)
		packet_unref(pkts[i]);
}

static void
test_sink_roundtrip(void)
{
	char path[256], err[256];
	uint8_t a[128], b[128];
	size_t na, nb;
	struct pcap_sink *sink;
	struct packet *pa, *pb, *got[4];
	int n;

	tmp_path(path, sizeof(path), "roundtrip.pcap");

	/* Ethernet with a tag, cut at capture (wirelen > caplen). */
	na = put_eth(a, 0x8100);
	na += put_tag(a + na, 42, ETH_IPV4);
	na += put_ipv4_tcp(a + na);
	pa = make_packet(DLT_EN10MB_, a, na, (uint32_t)na + 100, 1700000000,
	                 123456789);
	/* Linux cooked, another link type: gets an Ethernet header. */
	nb = put_sll(b, ETH_IPV4);
	nb += put_ipv4_tcp(b + nb);
	b[nb - 1] = 0x77;
	pb = make_packet(DLT_LINUX_SLL_, b, nb, (uint32_t)nb, 1700000001, 999);
	FAIL_IF(pb->l3_off != 16);

	sink = pcap_sink_open(path, DLT_EN10MB_, err, sizeof(err));
	FAIL_IF(sink == NULL);
	FAIL_IF(pcap_sink_write(sink, pa) != HK_OK);
	FAIL_IF(pcap_sink_write(sink, pb) != HK_OK);
	pcap_sink_close(sink);
	packet_unref(pa);
	packet_unref(pb);

	n = read_all(path, got, 4);
	FAIL_IF(n != 2);

	/* Same link type: byte for byte, microsecond timestamp. */
	FAIL_IF(got[0]->id != 1 || got[1]->id != 2);
	FAIL_IF(got[0]->linktype != DLT_EN10MB_);
	FAIL_IF(got[0]->caplen != na || memcmp(got[0]->data, a, na) != 0);
	FAIL_IF(got[0]->wirelen != na + 100);
	FAIL_IF(got[0]->ts.sec != 1700000000 || got[0]->ts.nsec != 123456000);
	FAIL_IF(got[0]->l3_off != 18 || got[0]->ethertype != ETH_IPV4);

	/* Other type: zero MACs, the EtherType, then the IPv4 bytes. */
	FAIL_IF(got[1]->caplen != 14 + nb - 16);
	FAIL_IF(got[1]->wirelen != got[1]->caplen);
	FAIL_IF(memcmp(got[1]->data, "\0\0\0\0\0\0\0\0\0\0\0\0\x08\x00", 14) !=
	        0);
	FAIL_IF(memcmp(got[1]->data + 14, b + 16, nb - 16) != 0);
	FAIL_IF(got[1]->ts.sec != 1700000001 || got[1]->ts.nsec != 0);
	FAIL_IF(got[1]->l3_off != 14 || got[1]->ethertype != ETH_IPV4);
	unref_all(got, n);
	unlink(path);
}

/*
 * An Ethernet IPv4 packet written to a file of each other link type: the
 * synthesised header is checked byte for byte and decodes back to the
 * same network layer.
 */
static void
test_sink_synth(void)
{
	static const struct {
		int dlt;      /* sink type */
		int read_dlt; /* pcap_datalink when read back */
		uint32_t hlen;
		uint8_t hdr[20]; /* expected header; NULL is host order */
	} cases[] = {
	    {DLT_LINUX_SLL_,
	     DLT_LINUX_SLL_,
	     16,
	     {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00}},
	    {DLT_LINUX_SLL2_, DLT_LINUX_SLL2_, 20, {0x08, 0x00, 0, 0, 0, 0, 0,
	                                            0,    0,    1, 0, 0, 0, 0,
	                                            0,    0,    0, 0, 0, 0}},
	    {DLT_NULL_, DLT_NULL_, 4, {0}},
	    {DLT_LOOP_, DLT_LOOP_, 4, {0, 0, 0, 2}},
	    {DLT_RAW_, DLT_RAW_, 0, {0}},
	    {LINKTYPE_RAW_, DLT_RAW_, 0, {0}},
	    {DLT_IPV4_, DLT_IPV4_, 0, {0}},
	};
	char path[256], err[256];
	uint8_t f[128], hdr[20];
	uint32_t host_af = 2;
	struct pcap_sink *sink;
	struct packet *pkt, *arp, *got[4];
	size_t i, n;
	int cnt;

	n = put_eth(f, ETH_IPV4);
	n += put_ipv4_tcp(f + n);
	pkt = make_packet(DLT_EN10MB_, f, n, (uint32_t)n, 5, 7000);
	arp = make_packet(DLT_EN10MB_, f, 42, 42, 6, 0);
	arp->data[12] = 0x08;
	arp->data[13] = 0x06;
	(void)link_decode(arp);
	tmp_path(path, sizeof(path), "synth.pcap");

	for (i = 0; i < HK_ARRAY_SIZE(cases); i++) {
		sink = pcap_sink_open(path, cases[i].dlt, err, sizeof(err));
		FAIL_IF(sink == NULL);
		FAIL_IF(pcap_sink_write(sink, pkt) != HK_OK);
		/* ARP has no place in NULL/LOOP/raw files: left out. */
		FAIL_IF(pcap_sink_write(sink, arp) != HK_OK);
		pcap_sink_close(sink);

		cnt = read_all(path, got, 4);
		if (cases[i].dlt == DLT_LINUX_SLL_ ||
		    cases[i].dlt == DLT_LINUX_SLL2_) {
			FAIL_IF(cnt != 2);
			FAIL_IF(got[1]->ethertype != 0x0806);
		} else {
			FAIL_IF(cnt != 1);
		}
		memcpy(hdr, cases[i].hdr, sizeof(hdr));
		if (cases[i].dlt == DLT_NULL_)
			memcpy(hdr, &host_af, 4);
		FAIL_IF((int)got[0]->linktype != cases[i].read_dlt);
		FAIL_IF(got[0]->caplen != cases[i].hlen + n - 14);
		FAIL_IF(memcmp(got[0]->data, hdr, cases[i].hlen) != 0);
		FAIL_IF(memcmp(got[0]->data + cases[i].hlen, f + 14, n - 14) !=
		        0);
		FAIL_IF(got[0]->l3_off != cases[i].hlen);
		FAIL_IF(got[0]->ethertype != ETH_IPV4);
		FAIL_IF(got[0]->ts.sec != 5 || got[0]->ts.nsec != 7000);
		unref_all(got, cnt);
		unlink(path);
	}
	packet_unref(pkt);
	packet_unref(arp);
}

static void
test_sink_errors(void)
{
	char err[256];
	uint8_t f[1600];
	struct pcap_sink *sink;
	struct packet *pkt;
	int i, rc = HK_OK;

	err[0] = '\0';
	sink = pcap_sink_open("/nonexistent/dir/out.pcap", DLT_EN10MB_, err,
	                      sizeof(err));
	FAIL_IF(sink != NULL);
	FAIL_IF(strstr(err, "/nonexistent/dir/out.pcap") == NULL);

	if (access("/dev/full", W_OK) != 0) {
		fprintf(stderr, "  no /dev/full: write error not tested\n");
		return;
	}
	/* /dev/full fails every write once stdio flushes its buffer. */
	sink = pcap_sink_open("/dev/full", DLT_EN10MB_, err, sizeof(err));
	FAIL_IF(sink == NULL);
	memset(f, 0, sizeof(f));
	put_eth(f, ETH_IPV4);
	put_ipv4_tcp(f + 14);
	pkt = make_packet(DLT_EN10MB_, f, sizeof(f), sizeof(f), 1, 0);
	for (i = 0; i < 64 && rc == HK_OK; i++)
		rc = pcap_sink_write(sink, pkt);
	FAIL_IF(rc != HK_ERR);
	FAIL_IF(pcap_sink_write(sink, pkt) != HK_ERR);
	pcap_sink_close(sink);
	packet_unref(pkt);
}

static void
put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * Append an Enhanced Packet Block (pcapng section 4.3) for interface 0,
 * timestamp in microseconds (the default if_tsresol). Returns its size.
 */
static size_t
put_epb(uint8_t *p, uint64_t ts_us, const uint8_t *frame, uint32_t caplen,
        uint32_t origlen)
{
	uint32_t padded = (caplen + 3) & ~3u;
	uint32_t total = 32 + padded;

	put32le(p, 6);
	put32le(p + 4, total);
	put32le(p + 8, 0);
	put32le(p + 12, (uint32_t)(ts_us >> 32));
	put32le(p + 16, (uint32_t)ts_us);
	put32le(p + 20, caplen);
	put32le(p + 24, origlen);
	memset(p + 28, 0, padded);
	memcpy(p + 28, frame, caplen);
	put32le(p + 28 + padded, total);
	return total;
}

static void
test_pcapng(void)
{
	uint8_t file[512], f1[128], f2[128];
	char path[256];
	size_t n = 0, n1, n2;
	struct packet *got[4];
	int cnt;

	/* Section Header Block: byte-order magic, v1.0, unknown length. */
	put32le(file + n, 0x0a0d0d0a);
	put32le(file + n + 4, 28);
	put32le(file + n + 8, 0x1a2b3c4d);
	file[n + 12] = 1;
	file[n + 13] = 0;
	file[n + 14] = 0;
	file[n + 15] = 0;
	memset(file + n + 16, 0xff, 8);
	put32le(file + n + 24, 28);
	n += 28;
	/* Interface Description Block: LINKTYPE_ETHERNET, no options. */
	put32le(file + n, 1);
	put32le(file + n + 4, 20);
	file[n + 8] = 1;
	file[n + 9] = 0;
	file[n + 10] = 0;
	file[n + 11] = 0;
	put32le(file + n + 12, 65535);
	put32le(file + n + 16, 20);
	n += 20;

	n1 = put_eth(f1, ETH_IPV4);
	n1 += put_ipv4_tcp(f1 + n1);
	n2 = put_eth(f2, 0x8100);
	n2 += put_tag(f2 + n2, 9, ETH_IPV6);
	n2 += put_ipv6(f2 + n2);
	f2[n2++] = 0xab; /* odd length: the block needs padding */
	n += put_epb(file + n, 1600000000ULL * 1000000 + 250001, f1,
	             (uint32_t)n1, (uint32_t)n1);
	n += put_epb(file + n, 1600000003ULL * 1000000 + 7, f2, (uint32_t)n2,
	             1500);

	tmp_path(path, sizeof(path), "hand.pcapng");
	FAIL_IF(write_file(path, file, n) != 0);
	cnt = read_all(path, got, 4);
	FAIL_IF(cnt != 2);
	FAIL_IF(got[0]->linktype != DLT_EN10MB_);
	FAIL_IF(got[0]->caplen != n1 || memcmp(got[0]->data, f1, n1) != 0);
	FAIL_IF(got[0]->wirelen != n1);
	FAIL_IF(got[0]->ts.sec != 1600000000 || got[0]->ts.nsec != 250001000);
	FAIL_IF(got[0]->l3_off != 14 || got[0]->ethertype != ETH_IPV4);
	FAIL_IF(got[1]->caplen != n2 || memcmp(got[1]->data, f2, n2) != 0);
	FAIL_IF(got[1]->wirelen != 1500);
	FAIL_IF(got[1]->ts.sec != 1600000003 || got[1]->ts.nsec != 7000);
	FAIL_IF(got[1]->l3_off != 18 || got[1]->ethertype != ETH_IPV6);
	FAIL_IF(got[0]->id != 1 || got[1]->id != 2);
	unref_all(got, cnt);
	unlink(path);
}

/*
 * Send the log to a temporary file until log_capture_has, which puts it
 * back on stdout and searches it.
 */
static FILE *
log_capture_start(void)
{
	FILE *f = tmpfile();

	if (f != NULL)
		log_set_output(f);
	return f;
}

static int
log_capture_has(FILE *f, const char *a, const char *b)
{
	char buf[4096];
	size_t len;

	log_set_output(stdout);
	if (f == NULL)
		return 0;
	rewind(f);
	len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = '\0';
	fclose(f);
	return strstr(buf, a) != NULL && (b == NULL || strstr(buf, b) != NULL);
}

static void
test_damaged(void)
{
	char path[256], err[256];
	char *files[1];
	struct pcap_source *src;
	struct packet *pkt;
	FILE *log;
	int n = 0, rc;

	data_path(path, sizeof(path), DAMAGED_PCAP);
	files[0] = path;
	src = pcap_source_open(files, 1, err, sizeof(err));
	FAIL_IF(src == NULL);
	log = log_capture_start();
	while ((rc = pcap_source_next(src, &pkt)) == HK_OK) {
		n++;
		if (pkt->id != (uint64_t)n || pkt->ethertype != ETH_IPV4 ||
		    pkt->l3_off != 14)
			n = -1000;
		packet_unref(pkt);
	}
	FAIL_IF(!log_capture_has(log, DAMAGED_PCAP, "after 18 packets"));
	FAIL_IF(rc != HK_AGAIN);
	FAIL_IF(n != DAMAGED_PCAP_OK);
	FAIL_IF(pcap_source_errors(src) != 1);
	/* At the end it stays at the end. */
	FAIL_IF(pcap_source_next(src, &pkt) != HK_AGAIN);
	FAIL_IF(pcap_source_errors(src) != 1);
	FAIL_IF(strcmp(pcap_source_file(src), path) != 0);
	pcap_source_close(src);
}

/* Write n Ethernet IPv4 packets (ttl 1..n) of the given link type. */
static int
write_capture(const char *path, int dlt, int count, int64_t sec)
{
	char err[256];
	uint8_t f[128];
	struct pcap_sink *sink;
	struct packet *pkt;
	size_t n;
	int i, rc = 0;

	if ((sink = pcap_sink_open(path, dlt, err, sizeof(err))) == NULL)
		return -1;
	for (i = 0; i < count; i++) {
		if (dlt == DLT_LINUX_SLL_)
			n = put_sll(f, ETH_IPV4);
		else
			n = put_eth(f, ETH_IPV4);
		put_ipv4_tcp(f + n);
		f[n + 8] = (uint8_t)(i + 1);
		n += 40;
		pkt = make_packet(dlt, f, n, (uint32_t)n, sec + i, 0);
		if (pcap_sink_write(sink, pkt) != HK_OK)
			rc = -1;
		packet_unref(pkt);
	}
	pcap_sink_close(sink);
	return rc;
}

static void
test_two_files(void)
{
	char p1[256], p2[256], missing[256], damaged[256], err[256];
	char *files[4];
	struct pcap_source *src;
	struct packet *pkt;
	FILE *log;
	uint64_t bytes = 0;
	int n = 0, rc, ok = 1;

	tmp_path(p1, sizeof(p1), "first.pcap");
	tmp_path(p2, sizeof(p2), "second.pcap");
	tmp_path(missing, sizeof(missing), "missing.pcap");
	data_path(damaged, sizeof(damaged), DAMAGED_PCAP);
	FAIL_IF(write_capture(p1, DLT_EN10MB_, 2, 100) != 0);
	FAIL_IF(write_capture(p2, DLT_LINUX_SLL_, 3, 200) != 0);

	/* The first file must open. */
	files[0] = missing;
	err[0] = '\0';
	FAIL_IF(pcap_source_open(files, 1, err, sizeof(err)) != NULL);
	FAIL_IF(strstr(err, "missing.pcap") == NULL);
	FAIL_IF(pcap_source_open(files, 0, err, sizeof(err)) != NULL);

	/* Ethernet, a damaged file, a missing file, Linux cooked. */
	files[0] = p1;
	files[1] = damaged;
	files[2] = missing;
	files[3] = p2;
	src = pcap_source_open(files, 4, err, sizeof(err));
	FAIL_IF(src == NULL);
	FAIL_IF(pcap_source_linktype(src) != DLT_EN10MB_);
	log = log_capture_start();
	while ((rc = pcap_source_next(src, &pkt)) == HK_OK) {
		n++;
		bytes += pkt->caplen;
		if (pkt->id != (uint64_t)n)
			ok = 0;
		if (n <= 2) {
			/* first.pcap */
			if (pkt->ifindex != 0 || pkt->linktype != DLT_EN10MB_ ||
			    pkt->l3_off != 14 || pkt->data[14 + 8] != n ||
			    pkt->ts.sec != 100 + n - 1 ||
			    strcmp(pcap_source_file(src), p1) != 0)
				ok = 0;
		} else if (n <= 2 + DAMAGED_PCAP_OK) {
			if (pkt->ifindex != 1 ||
			    strcmp(pcap_source_file(src), damaged) != 0)
				ok = 0;
		} else {
			/* second.pcap, after the skipped missing file */
			if (pkt->ifindex != 3 ||
			    pkt->linktype != DLT_LINUX_SLL_ ||
			    pkt->l3_off != 16 ||
			    pkt->data[16 + 8] != n - 2 - DAMAGED_PCAP_OK ||
			    pkt->ts.sec != 200 + n - 3 - DAMAGED_PCAP_OK ||
			    pcap_source_linktype(src) != DLT_LINUX_SLL_ ||
			    strcmp(pcap_source_file(src), p2) != 0)
				ok = 0;
		}
		packet_unref(pkt);
	}
	FAIL_IF(!log_capture_has(log, "missing.pcap", DAMAGED_PCAP));
	FAIL_IF(rc != HK_AGAIN);
	FAIL_IF(!ok);
	FAIL_IF(n != 2 + DAMAGED_PCAP_OK + 3);
	FAIL_IF(pcap_source_errors(src) != 2);
	FAIL_IF(pcap_source_bytes(src) != bytes);
	FAIL_IF(strcmp(pcap_source_file(src), p2) != 0);
	pcap_source_close(src);
	unlink(p1);
	unlink(p2);
}

/* A file cut in the middle of a record: the records before it are read. */
static void
test_truncated_file(void)
{
	char path[256], err[256];
	char *files[1];
	struct pcap_source *src;
	struct packet *pkt;
	FILE *f;
	long size;
	int n = 0;

	tmp_path(path, sizeof(path), "cut.pcap");
	FAIL_IF(write_capture(path, DLT_EN10MB_, 3, 1) != 0);
	f = fopen(path, "r+b");
	FAIL_IF(f == NULL);
	FAIL_IF(fseek(f, 0, SEEK_END) != 0);
	size = ftell(f);
	fclose(f);
	FAIL_IF(truncate(path, size - 10) != 0);

	files[0] = path;
	src = pcap_source_open(files, 1, err, sizeof(err));
	FAIL_IF(src == NULL);
	while (pcap_source_next(src, &pkt) == HK_OK) {
		n++;
		packet_unref(pkt);
	}
	FAIL_IF(n != 2);
	FAIL_IF(pcap_source_errors(src) != 1);
	pcap_source_close(src);
	unlink(path);
}

/* --- the direct reader against libpcap -------------------------------- */

static uint32_t dr_seed = 12345;

static uint32_t
dr_rand(void)
{
	dr_seed = dr_seed * 1103515245U + 12345U;
	return dr_seed >> 8;
}

static void
dr_put32(uint8_t *p, uint32_t v, int swapped)
{
	int i;

	for (i = 0; i < 4; i++)
		p[swapped ? 3 - i : i] = (uint8_t)(v >> (8 * i));
}

/*
 * A classic pcap file in buf: the given magic and snaplen, Ethernet, and
 * records of the lengths in caps (wire length 1514 or the caplen).
 * Returns its length.
 */
static size_t
dr_build(uint8_t *buf, uint32_t magic, int swapped, uint32_t snaplen,
         const uint32_t *caps, int n)
{
	size_t off = 24;
	uint32_t i, j;
	int k;

	dr_put32(buf, magic, swapped);
	buf[swapped ? 5 : 4] = 2; /* version 2.4 */
	buf[swapped ? 4 : 5] = 0;
	buf[swapped ? 7 : 6] = 4;
	buf[swapped ? 6 : 7] = 0;
	dr_put32(buf + 8, 0, swapped);
	dr_put32(buf + 12, 0, swapped);
	dr_put32(buf + 16, snaplen, swapped);
	dr_put32(buf + 20, DLT_EN10MB_, swapped);
	for (k = 0; k < n; k++) {
		/* Time stamps with a sign bit and a microsecond overflow. */
		dr_put32(buf + off, k == 1 ? 0x80000001U : 1000 + (uint32_t)k,
		         swapped);
		dr_put32(buf + off + 4,
		         k == 2 ? 0xfffffff0U
		                : (k == 3 ? 2999999999U : dr_rand()),
		         swapped);
		dr_put32(buf + off + 8, caps[k], swapped);
		dr_put32(buf + off + 12, caps[k] < 1514 ? 1514 : caps[k],
		         swapped);
		off += 16;
		for (i = 0, j = dr_rand(); i < caps[k]; i++)
			buf[off + i] = (uint8_t)(j + i * 7);
		off += caps[k];
	}
	return off;
}

/*
 * A classic pcap file of cooked captures (linktype SLL or SLL2) whose
 * records carry SocketCAN frames, some too short for a CAN ID, and some
 * of other protocols; records longer than snaplen are cut by the reader.
 * Returns its length.
 */
static size_t
dr_build_cooked(uint8_t *buf, int swapped, uint32_t linktype, uint32_t snaplen)
{
	/* protocol, captured and wire bytes past the cooked header */
	static const uint32_t recs[][3] = {
	    {0x000c, 8, 8},   {0x000d, 8, 72}, {0x000c, 4, 4},
	    {0x000c, 3, 100}, {0x000c, 8, 3},  {0x0800, 8, 8},
	    {0x010c, 8, 8},   {0x000e, 8, 8},  {0x000d, 0, 0},
	};
	uint32_t hlen = linktype == 113 ? 16 : 20;
	uint32_t proto_at = linktype == 113 ? 14 : 0, i, cap;
	size_t off = 24, k;

	dr_build(buf, 0xa1b2c3d4U, swapped, snaplen, NULL, 0);
	dr_put32(buf + 20, linktype, swapped);
	for (k = 0; k < sizeof(recs) / sizeof(recs[0]); k++) {
		cap = hlen + recs[k][1];
		dr_put32(buf + off, 1000, swapped);
		dr_put32(buf + off + 4, (uint32_t)k, swapped);
		dr_put32(buf + off + 8, cap, swapped);
		dr_put32(buf + off + 12, hlen + recs[k][2], swapped);
		off += 16;
		for (i = 0; i < cap; i++)
			buf[off + i] = (uint8_t)(0x11 * (i + 1));
		buf[off + proto_at] = (uint8_t)(recs[k][0] >> 8);
		buf[off + proto_at + 1] = (uint8_t)recs[k][0];
		off += cap;
	}
	return off;
}

struct dr_pkt {
	int64_t sec;
	int32_t nsec;
	uint32_t caplen, len, sum;
};

static uint32_t
dr_sum(const uint8_t *p, uint32_t len)
{
	uint32_t h = 2166136261U, i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619U;
	return h;
}

/*
 * Read path with libpcap itself: the packets into want (up to max), and
 * its last error in err ("" at a clean end). Returns the count, or -1
 * when libpcap does not open the file.
 */
static int
dr_libpcap(const char *path, struct dr_pkt *want, int max, char *err)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p;
	int n = 0, rc;
	int64_t sec, ns;

	p = pcap_open_offline_with_tstamp_precision(
	    path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (p == NULL)
		return -1;
	err[0] = '\0';
	while ((rc = pcap_next_ex(p, &h, &d)) == 1 && n < max) {
		sec = (int64_t)h->ts.tv_sec;
		ns = (int64_t)h->ts.tv_usec;
		sec += ns / 1000000000;
		ns %= 1000000000;
		if (ns < 0) {
			ns += 1000000000;
			sec--;
		}
		want[n].sec = sec;
		want[n].nsec = (int32_t)ns;
		want[n].caplen = h->caplen;
		want[n].len = h->len;
		want[n].sum = dr_sum(d, h->caplen);
		n++;
	}
	if (rc == -1)
		snprintf(err, PCAP_ERRBUF_SIZE, "%s", pcap_geterr(p));
	pcap_close(p);
	return n;
}

/*
 * The file at path, read by pcap_source, gives exactly libpcap's packets
 * and, when libpcap stops on an error, a warning with libpcap's message.
 * Returns 1 when it does; *direct tells whether the direct reader read it.
 */
static int
dr_same(const char *path, int *direct)
{
	static struct dr_pkt want[64];
	char want_err[PCAP_ERRBUF_SIZE], err[256];
	char *files[1];
	struct pcap_source *src;
	struct packet *pkt;
	FILE *log;
	int n, got = 0, ok = 1, rc;

	n = dr_libpcap(path, want, 64, want_err);
	files[0] = (char *)path;
	src = pcap_source_open(files, 1, err, sizeof(err));
	if (n < 0 || src == NULL) {
		if (src != NULL)
			pcap_source_close(src);
		return n < 0 && src == NULL;
	}
	*direct = pcap_source_direct(src);
	log = log_capture_start();
	while ((rc = pcap_source_next(src, &pkt)) == HK_OK) {
		if (got >= n || pkt->ts.sec != want[got].sec ||
		    pkt->ts.nsec != want[got].nsec ||
		    pkt->caplen != want[got].caplen ||
		    pkt->wirelen != want[got].len ||
		    dr_sum(pkt->data, pkt->caplen) != want[got].sum) {
			fprintf(stderr, "  %s: packet %d differs\n", path,
			        got + 1);
			ok = 0;
		}
		got++;
		packet_unref(pkt);
	}
	/* At a clean end want_err is "": the error count below tells. */
	if (!log_capture_has(log, want_err, NULL)) {
		fprintf(stderr, "  %s: no warning with \"%s\"\n", path,
		        want_err);
		ok = 0;
	}
	if (got != n || rc != HK_AGAIN ||
	    pcap_source_errors(src) != (want_err[0] != '\0')) {
		fprintf(stderr,
		        "  %s: %d packets for libpcap's %d, %" PRIu64
		        " errors for \"%s\"\n",
		        path, got, n, pcap_source_errors(src), want_err);
		ok = 0;
	}
	pcap_source_close(src);
	return ok;
}

/*
 * Classic pcap files are read without libpcap's pcap_next_ex: in both
 * byte orders and time stamp units, with records longer than the
 * snapshot, than the maximum and than the read buffer, cut at every kind
 * of place and with damaged lengths, pcap_source gives libpcap's packets
 * and libpcap's error messages.
 */
static void
test_direct_reader(void)
{
	static const uint32_t magics[2] = {0xa1b2c3d4U, 0xa1b23c4dU};
	/* Records across the 256 KB buffer's end, and one of 262144. */
	static const uint32_t caps[] = {60,    0,     1514,   65535, 200000,
	                                70000, 90000, 262144, 100,   40};
	static const uint32_t snaps[] = {0, 65535, 262144, 2000000};
	static uint8_t buf[2 * 1024 * 1024];
	char path[256];
	size_t len, cut;
	int ncaps = (int)(sizeof(caps) / sizeof(caps[0]));
	int m, sw, si, i, direct, ndirect = 0, ok = 1;
	uint32_t v;

	tmp_path(path, sizeof(path), "direct.pcap");
	for (m = 0; m < 2; m++) {
		for (sw = 0; sw < 2; sw++) {
			for (si = 0; si < 4; si++) {
				len = dr_build(buf, magics[m], sw, snaps[si],
				               caps, ncaps);
				FAIL_IF(write_file(path, buf, len) != 0);
				direct = 0;
				if (!dr_same(path, &direct))
					ok = 0;
				ndirect += direct;
			}
			/* Cut in a record header, in data, past the snapshot.
			 */
			len = dr_build(buf, magics[m], sw, 65535, caps, ncaps);
			for (i = 0; i < 12; i++) {
				cut = 24 + dr_rand() % (len - 24);
				if (i == 0)
					cut = 24 + 16 + 60 + 5;
				if (i == 1)
					cut = len - 3;
				FAIL_IF(write_file(path, buf, cut) != 0);
				if (!dr_same(path, &direct))
					ok = 0;
				ndirect += direct;
			}
		}
	}
	/* Damaged lengths: a caplen over the maximum, random ones. */
	for (i = 0; i < 40; i++) {
		len = dr_build(buf, magics[i % 2], i % 3 == 0, 65535, caps, 4);
		v = i == 0 ? 262145U
		           : (i == 1 ? 0xffffffffU : dr_rand() % 70000);
		dr_put32(buf + 24 + 16 + 60 + 8, v, i % 3 == 0);
		FAIL_IF(write_file(path, buf, len) != 0);
		if (!dr_same(path, &direct))
			ok = 0;
		ndirect += direct;
	}
	FAIL_IF(!ok);
	/* Every one of those files went through the direct reader. */
	FAIL_IF(ndirect != 2 * 2 * (4 + 12) + 40);

	/*
	 * libpcap swaps the CAN ID after a cooked header in a file of the
	 * other byte order; so does the direct reader, for whole and cut
	 * records alike.
	 */
	ndirect = 0;
	for (sw = 0; sw < 2; sw++) {
		for (i = 0; i < 4; i++) {
			len =
			    dr_build_cooked(buf, sw, i % 2 ? 276 : 113,
			                    i < 2 ? 65535 : (i % 2 ? 24 : 20));
			FAIL_IF(write_file(path, buf, len) != 0);
			if (!dr_same(path, &direct))
				ok = 0;
			ndirect += direct;
		}
	}
	FAIL_IF(!ok);
	FAIL_IF(ndirect != 8);

	/* pcapng and version 2.3 stay with libpcap. */
	len = dr_build(buf, magics[0], 0, 65535, caps, 2);
	buf[6] = 3;
	FAIL_IF(write_file(path, buf, len) != 0);
	direct = 1;
	FAIL_IF(!dr_same(path, &direct));
	FAIL_IF(direct != 0);
	unlink(path);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	RUN_TEST(test_ethernet);
	RUN_TEST(test_ethernet_truncated);
	RUN_TEST(test_ethernet_8023);
	RUN_TEST(test_vlan_single);
	RUN_TEST(test_vlan_qinq);
	RUN_TEST(test_vlan_four);
	RUN_TEST(test_vlan_truncated);
	RUN_TEST(test_sll);
	RUN_TEST(test_sll2);
	RUN_TEST(test_null_loop);
	RUN_TEST(test_raw);
	RUN_TEST(test_unsupported);
	RUN_TEST(test_sink_roundtrip);
	RUN_TEST(test_sink_synth);
	RUN_TEST(test_sink_errors);
	RUN_TEST(test_pcapng);
	RUN_TEST(test_damaged);
	RUN_TEST(test_two_files);
	RUN_TEST(test_truncated_file);
	RUN_TEST(test_direct_reader);

	rmdir(tmpdir);
	packet_pool_flush();
	UT_DONE();
}
