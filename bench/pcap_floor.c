/*
 * pcap_floor: the cost floor of reading a capture with libpcap.  Reads every
 * packet with pcap_next_ex, touches its first byte and sums the captured
 * lengths, so the loop cannot be optimised away.  bench/run.sh compares
 * hakapcap's CPU time against this one.
 *
 * Prints "pcap_floor: packets=N bytes=B check=C" on stdout; exit status 0,
 * or 1 if the capture cannot be read.
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <pcap/pcap.h>

int
main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *hdr;
	const u_char *data;
	pcap_t *p;
	uint64_t packets = 0, bytes = 0, check = 0;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: pcap_floor CAPTURE.pcap\n");
		return 2;
	}
	if ((p = pcap_open_offline(argv[1], errbuf)) == NULL) {
		fprintf(stderr, "pcap_floor: %s\n", errbuf);
		return 1;
	}
	while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
		packets++;
		bytes += hdr->caplen;
		if (hdr->caplen > 0)
			check += data[0];
	}
	if (rc == PCAP_ERROR) {
		fprintf(stderr, "pcap_floor: %s: %s\n", argv[1],
		        pcap_geterr(p));
		pcap_close(p);
		return 1;
	}
	pcap_close(p);
	printf("pcap_floor: packets=%" PRIu64 " bytes=%" PRIu64
	       " check=%" PRIu64 "\n",
	       packets, bytes, check);
	return 0;
}
