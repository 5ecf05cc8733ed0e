/*
 * pcapcmp: compare two capture files packet by packet.
 *
 *	pcapcmp [--l3] [--ts] EXPECTED.pcap ACTUAL.pcap
 *
 * Both files must hold the same number of packets with the same bytes.
 * By default whole frames are compared (captured bytes and wire length),
 * and the link types must agree. With --l3 only the network layer is
 * compared: the link header of each file is skipped (Ethernet 14 bytes
 * plus any 802.1Q/802.1ad tags, Linux SLL 16, SLL2 20, NULL/LOOP 4, raw
 * IP 0), so captures of different link types can be compared. Timestamps
 * are compared only with --ts.
 *
 * Exit status: 0 identical, 1 different, 2 usage or read error. On the
 * first difference the packet number (from 1), the first differing byte
 * offset with both bytes, and a short hex dump of both packets are
 * printed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pcap/pcap.h>

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

#define EXIT_SAME  0
#define EXIT_DIFF  1
#define EXIT_ERROR 2

#define DUMP_BYTES    64 /* bytes of each packet shown on a difference */
#define MAX_VLAN_TAGS 8

struct input {
	const char *path;
	pcap_t *pcap;
	int dlt;
};

struct pkt {
	const struct pcap_pkthdr *hdr;
	const uint8_t *data;
	size_t off; /* start of the compared bytes */
	size_t len; /* number of compared bytes */
};

static void
usage(void)
{
	fprintf(stderr,
	        "usage: pcapcmp [--l3] [--ts] EXPECTED.pcap ACTUAL.pcap\n");
}

static const char *
dlt_name(int dlt)
{
	const char *name = pcap_datalink_val_to_name(dlt);

	return name != NULL ? name : "?";
}

/*
 * Offset of the network layer of a frame, or -1 when the link type is not
 * known. A frame too short for its link header gives its captured length
 * (nothing left to compare but an empty network layer).
 */
static long
l3_offset(int dlt, const uint8_t *p, size_t caplen)
{
	size_t off;
	int tags;

	switch (dlt) {
	case DLT_EN10MB:
		off = 14;
		if (caplen < off)
			return (long)caplen;
		for (tags = 0; tags < MAX_VLAN_TAGS; tags++) {
			unsigned type = (unsigned)p[off - 2] << 8 | p[off - 1];

			if (type != 0x8100 && type != 0x88a8 && type != 0x9100)
				break;
			if (caplen < off + 4)
				return (long)caplen;
			off += 4;
		}
		return (long)off;
	case DLT_LINUX_SLL:
		off = 16;
		break;
	case DLT_LINUX_SLL2:
		off = 20;
		break;
	case DLT_NULL:
	case DLT_LOOP:
		off = 4;
		break;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		off = 0;
		break;
	default:
		return -1;
	}
	return (long)(off < caplen ? off : caplen);
}

static int
input_open(struct input *in, const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE];

	in->path = path;
	errbuf[0] = '\0';
	in->pcap = pcap_open_offline(path, errbuf);
	if (in->pcap == NULL) {
		fprintf(stderr, "pcapcmp: %s: %s\n", path, errbuf);
		return -1;
	}
	in->dlt = pcap_datalink(in->pcap);
	return 0;
}

/* 1: a packet was read, 0: end of file, -1: read error (printed). */
static int
input_next(struct input *in, struct pkt *pkt, bool l3, unsigned long n)
{
	struct pcap_pkthdr *hdr;
	const u_char *data;
	long off;
	int rc;

	rc = pcap_next_ex(in->pcap, &hdr, &data);
	if (rc == PCAP_ERROR_BREAK)
		return 0;
	if (rc != 1) {
		fprintf(stderr, "pcapcmp: %s: packet %lu: %s\n", in->path, n,
		        rc == PCAP_ERROR ? pcap_geterr(in->pcap)
		                         : "read error");
		return -1;
	}
	pkt->hdr = hdr;
	pkt->data = data;
	pkt->off = 0;
	pkt->len = hdr->caplen;
	if (l3) {
		off = l3_offset(in->dlt, data, hdr->caplen);
		if (off < 0) {
			fprintf(stderr,
			        "pcapcmp: %s: link type %d (%s) not "
			        "supported with --l3\n",
			        in->path, in->dlt, dlt_name(in->dlt));
			return -1;
		}
		pkt->off = (size_t)off;
		pkt->len = hdr->caplen - (size_t)off;
	}
	return 1;
}

/* Hex dump of up to DUMP_BYTES compared bytes, from the line before 'at'. */
static void
dump(const char *label, const struct pkt *pkt, size_t at)
{
	const uint8_t *p = pkt->data + pkt->off;
	size_t start, end, i, j;

	start = at & ~(size_t)15;
	start = start >= 16 ? start - 16 : 0;
	end = start + DUMP_BYTES;
	if (end > pkt->len)
		end = pkt->len;
	printf("  %s (%zu bytes compared):\n", label, pkt->len);
	for (i = start; i < end; i += 16) {
		printf("    %04zx ", i);
		for (j = i; j < i + 16; j++) {
			if (j < end)
				printf("%c%02x", j == at ? '>' : ' ', p[j]);
			else
				printf("   ");
		}
		printf("  ");
		for (j = i; j < i + 16 && j < end; j++)
			putchar(p[j] >= 0x20 && p[j] < 0x7f ? p[j] : '.');
		putchar('\n');
	}
	if (start >= end)
		printf("    (no bytes at offset 0x%zx)\n", at);
}

/* Returns true when the packets differ (the difference is printed). */
static bool
compare(unsigned long n, const struct pkt *e, const struct pkt *a, bool l3,
        bool ts)
{
	const uint8_t *pe = e->data + e->off, *pa = a->data + a->off;
	size_t i, min = e->len < a->len ? e->len : a->len;
	const char *where = l3 ? " of the network layer" : "";

	for (i = 0; i < min; i++)
		if (pe[i] != pa[i])
			break;
	if (i < min) {
		printf("pcapcmp: packet %lu differs at byte offset %zu%s: "
		       "expected 0x%02x, actual 0x%02x\n",
		       n, i, where, pe[i], pa[i]);
	} else if (e->len != a->len) {
		printf(
		    "pcapcmp: packet %lu differs in length%s: expected %zu "
		    "bytes, actual %zu bytes (first difference at byte offset "
		    "%zu)\n",
		    n, where, e->len, a->len, i);
	} else if (!l3 && e->hdr->len != a->hdr->len) {
		printf("pcapcmp: packet %lu differs in wire length: expected "
		       "%u, actual %u\n",
		       n, e->hdr->len, a->hdr->len);
		return true;
	} else if (ts && (e->hdr->ts.tv_sec != a->hdr->ts.tv_sec ||
	                  e->hdr->ts.tv_usec != a->hdr->ts.tv_usec)) {
		printf("pcapcmp: packet %lu differs in timestamp: expected "
		       "%lld.%06ld, actual %lld.%06ld\n",
		       n, (long long)e->hdr->ts.tv_sec,
		       (long)e->hdr->ts.tv_usec, (long long)a->hdr->ts.tv_sec,
		       (long)a->hdr->ts.tv_usec);
		return true;
	} else
		return false;
	dump("expected", e, i);
	dump("actual", a, i);
	return true;
}

int
main(int argc, char *argv[])
{
	struct input exp = {0}, act = {0};
	struct pkt pe, pa;
	unsigned long n;
	bool l3 = false, ts = false;
	int i, re, ra, rc = EXIT_ERROR;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (strcmp(argv[i], "--l3") == 0)
			l3 = true;
		else if (strcmp(argv[i], "--ts") == 0)
			ts = true;
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			fprintf(stderr, "pcapcmp: unknown option %s\n",
			        argv[i]);
			usage();
			return EXIT_ERROR;
		}
	}
	if (argc - i != 2) {
		usage();
		return EXIT_ERROR;
	}
	if (input_open(&exp, argv[i]) == -1 ||
	    input_open(&act, argv[i + 1]) == -1)
		goto out;
	if (!l3 && exp.dlt != act.dlt) {
		printf("pcapcmp: link types differ: expected %d (%s), actual "
		       "%d (%s); use --l3 to compare the network layer only\n",
		       exp.dlt, dlt_name(exp.dlt), act.dlt, dlt_name(act.dlt));
		rc = EXIT_DIFF;
		goto out;
	}

	for (n = 1;; n++) {
		re = input_next(&exp, &pe, l3, n);
		if (re == -1)
			goto out;
		ra = input_next(&act, &pa, l3, n);
		if (ra == -1)
			goto out;
		if (re == 0 && ra == 0)
			break;
		if (re == 0 || ra == 0) {
			printf(
			    "pcapcmp: packet count differs: %s has %lu "
			    "packets, %s has more (packet %lu is only in %s)\n",
			    re == 0 ? "expected" : "actual", n - 1,
			    re == 0 ? "actual" : "expected", n,
			    re == 0 ? act.path : exp.path);
			rc = EXIT_DIFF;
			goto out;
		}
		if (compare(n, &pe, &pa, l3, ts)) {
			rc = EXIT_DIFF;
			goto out;
		}
	}
	printf("pcapcmp: %lu packets identical\n", n - 1);
	rc = EXIT_SAME;
out:
	if (exp.pcap != NULL)
		pcap_close(exp.pcap);
	if (act.pcap != NULL)
		pcap_close(act.pcap);
	return rc;
}
