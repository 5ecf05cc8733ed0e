/*
 * Link-layer decoding: find the network header behind the link header of
 * a captured frame and name its protocol as an EtherType. The capture
 * backends call link_decode() once per frame, before the engine sees it.
 *
 * Every length comes from the capture, so every read is checked against
 * pkt->caplen first.
 */
#include <pcap/pcap.h>
#include <stdio.h>

#include <haka/capture.h>

/* Link header layouts (tcpdump.org link-layer header types). */
#define LINK_ETH_HLEN       14 /* two MACs, EtherType */
#define LINK_ETH_TYPE_OFF   12
#define LINK_VLAN_TAG_LEN   4 /* TCI, next EtherType */
#define LINK_VLAN_MAX_DEPTH 4
#define LINK_SLL_HLEN       16
#define LINK_SLL_PROTO_OFF  14
#define LINK_SLL2_HLEN      20
#define LINK_SLL2_PROTO_OFF 0
#define LINK_NULL_HLEN      4 /* address family */

#define LINK_ETHERTYPE_MIN  0x0600 /* below: an IEEE 802.3 length */
#define LINK_ETHERTYPE_IPV4 0x0800
#define LINK_ETHERTYPE_IPV6 0x86dd
#define LINK_ETH_P_8021Q    0x8100
#define LINK_ETH_P_8021AD   0x88a8
#define LINK_ETH_P_QINQ     0x9100

#define LINK_AF_INET          2
#define LINK_AF_INET6_BSD     24 /* NetBSD, OpenBSD, BSD/OS */
#define LINK_AF_INET6_FREEBSD 28
#define LINK_AF_INET6_DARWIN  30

/*
 * DLT values spelled out: DLT_RAW is 12 on most systems but 14 on BSD/OS,
 * and OpenBSD's DLT_LOOP is 12, so <pcap/dlt.h> cannot name them all.
 * LINKTYPE_RAW (101) is what files hold for raw IP; libpcap maps it to
 * DLT_RAW when reading, but a caller may pass it as it is.
 */
#define LINK_DLT_NULL       0
#define LINK_DLT_EN10MB     1
#define LINK_DLT_RAW        12
#define LINK_DLT_RAW_BSDOS  14
#define LINK_LINKTYPE_RAW   101
#define LINK_DLT_LOOP       108
#define LINK_DLT_LINUX_SLL  113
#define LINK_DLT_IPV4       228
#define LINK_DLT_IPV6       229
#define LINK_DLT_LINUX_SLL2 276

static uint32_t
link_rd32le(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[1] << 8 | (uint32_t)p[0];
}

/* The decoded outputs are reset, so a declined frame never looks like IP. */
static int
link_decline(struct packet *pkt)
{
	pkt->l3_off = 0;
	pkt->ethertype = 0;
	return HK_DECLINED;
}

static bool
link_is_vlan_tpid(uint16_t type)
{
	/* IEEE 802.1Q C-tag, IEEE 802.1ad S-tag, and the pre-802.1ad QinQ. */
	return type == LINK_ETH_P_8021Q || type == LINK_ETH_P_8021AD ||
	       type == LINK_ETH_P_QINQ;
}

/*
 * The frame has an EtherType field, already read as type, that ends at
 * data + off. Skip up to LINK_VLAN_MAX_DEPTH VLAN tags (each 2 bytes of
 * TCI then the next EtherType, IEEE 802.1Q section 9.6) and set the
 * outputs. An 802.3 length field (below 0x0600) means an LLC header
 * follows, which is no network header: declined.
 */
static int
link_ethertype(struct packet *pkt, uint32_t off, uint16_t type)
{
	int depth;

	for (depth = 0; link_is_vlan_tpid(type); depth++) {
		if (depth == LINK_VLAN_MAX_DEPTH)
			return link_decline(pkt);
		if (pkt->caplen - off < LINK_VLAN_TAG_LEN)
			return link_decline(pkt);
		type = hk_rd16(pkt->data + off + 2);
		off += LINK_VLAN_TAG_LEN;
	}
	if (type < LINK_ETHERTYPE_MIN)
		return link_decline(pkt);
	pkt->l3_off = off;
	pkt->ethertype = type;
	return HK_OK;
}

/*
 * Map a BSD address family to an EtherType. AF_INET6 differs between the
 * BSDs, so every value a capture file may hold is accepted (the table in
 * the tcpdump.org link-layer header types page for LINKTYPE_NULL).
 */
static uint16_t
link_af_ethertype(uint32_t af)
{
	switch (af) {
	case LINK_AF_INET:
		return LINK_ETHERTYPE_IPV4;
	case LINK_AF_INET6_BSD:
	case LINK_AF_INET6_FREEBSD:
	case LINK_AF_INET6_DARWIN:
		return LINK_ETHERTYPE_IPV6;
	default:
		return 0;
	}
}

/*
 * DLT_NULL holds the family in the byte order of the machine that
 * captured, DLT_LOOP in network order, but writers get DLT_LOOP wrong
 * too: try both orders for both. No family fits both orders, since a
 * value and its byte swap cannot both be below 256.
 */
static int
link_null(struct packet *pkt)
{
	uint16_t type;

	if (pkt->caplen < LINK_NULL_HLEN)
		return link_decline(pkt);
	type = link_af_ethertype(link_rd32le(pkt->data));
	if (type == 0)
		type = link_af_ethertype(hk_rd32(pkt->data));
	if (type == 0)
		return link_decline(pkt);
	pkt->l3_off = LINK_NULL_HLEN;
	pkt->ethertype = type;
	return HK_OK;
}

/*
 * Raw IP: no link header; the IP version nibble (RFC 791 section 3.1,
 * RFC 8200 section 3) tells the protocol. want is 4 or 6 for the
 * single-protocol DLT_IPV4 and DLT_IPV6, 0 when either may come.
 */
static int
link_raw(struct packet *pkt, int want)
{
	int version;

	if (pkt->caplen < 1)
		return link_decline(pkt);
	version = pkt->data[0] >> 4;
	if (want != 0 && version != want)
		return link_decline(pkt);
	pkt->l3_off = 0;
	if (version == 4)
		pkt->ethertype = LINK_ETHERTYPE_IPV4;
	else if (version == 6)
		pkt->ethertype = LINK_ETHERTYPE_IPV6;
	else
		return link_decline(pkt);
	return HK_OK;
}

/*
 * Decode pkt->data according to pkt->linktype. On HK_OK, l3_off is the
 * offset of the network header (at most caplen) and ethertype is the
 * network protocol, never 0. On HK_DECLINED (unsupported link type,
 * truncated link header, too many VLAN tags, or a protocol that has no
 * EtherType such as 802.3/LLC or an unknown address family) l3_off and
 * ethertype are both 0.
 */
int
link_decode(struct packet *pkt)
{
	switch (pkt->linktype) {
	case LINK_DLT_EN10MB:
		if (pkt->caplen < LINK_ETH_HLEN)
			return link_decline(pkt);
		return link_ethertype(pkt, LINK_ETH_HLEN,
		                      hk_rd16(pkt->data + LINK_ETH_TYPE_OFF));
	case LINK_DLT_LINUX_SLL:
		if (pkt->caplen < LINK_SLL_HLEN)
			return link_decline(pkt);
		return link_ethertype(pkt, LINK_SLL_HLEN,
		                      hk_rd16(pkt->data + LINK_SLL_PROTO_OFF));
	case LINK_DLT_LINUX_SLL2:
		if (pkt->caplen < LINK_SLL2_HLEN)
			return link_decline(pkt);
		return link_ethertype(pkt, LINK_SLL2_HLEN,
		                      hk_rd16(pkt->data + LINK_SLL2_PROTO_OFF));
	case LINK_DLT_NULL:
	case LINK_DLT_LOOP:
		return link_null(pkt);
	case LINK_DLT_RAW:
	case LINK_DLT_RAW_BSDOS:
	case LINK_LINKTYPE_RAW:
		return link_raw(pkt, 0);
	case LINK_DLT_IPV4:
		return link_raw(pkt, 4);
	case LINK_DLT_IPV6:
		return link_raw(pkt, 6);
	default:
		return link_decline(pkt);
	}
}

bool
link_supported(int dlt)
{
	switch (dlt) {
	case LINK_DLT_EN10MB:
	case LINK_DLT_LINUX_SLL:
	case LINK_DLT_LINUX_SLL2:
	case LINK_DLT_NULL:
	case LINK_DLT_LOOP:
	case LINK_DLT_RAW:
	case LINK_DLT_RAW_BSDOS:
	case LINK_LINKTYPE_RAW:
	case LINK_DLT_IPV4:
	case LINK_DLT_IPV6:
		return true;
	default:
		return false;
	}
}

int
link_check(int dlt, char *err, size_t errlen)
{
	const char *name = pcap_datalink_val_to_name(dlt);

	if (link_supported(dlt))
		return HK_OK;
	snprintf(err, errlen,
	         "link type %d%s%s%s is not supported (Ethernet, Linux cooked "
	         "v1 and v2, raw IP, BSD loopback are)",
	         dlt, name != NULL ? " (" : "", name != NULL ? name : "",
	         name != NULL ? ")" : "");
	return HK_ERR;
}
