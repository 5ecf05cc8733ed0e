/*
 * libFuzzer target for pcap_source, differential: each input is a capture
 * file's bytes. pcap_source reads the records of a classic pcap file
 * itself (see src/capture/capture_pcap.c); libpcap's pcap_next_ex must
 * give the same packets (time stamp, lengths, bytes) and stop at the same
 * place, and when libpcap reports a damaged record, pcap_source counts
 * one error. Any difference aborts. Files in other formats (pcapng) go
 * through libpcap on both sides and are compared all the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include <haka/capture.h>
#include <haka/log.h>
#include <haka/packet.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

static void
fz_fail(const char *what, int n)
{
	fprintf(stderr, "fuzz_pcap: %s (packet %d)\n", what, n);
	abort();
}

/* Nanoseconds since the epoch as pcap_source computes them. */
static void
fz_ts(const struct pcap_pkthdr *h, int64_t *sec, int32_t *nsec)
{
	int64_t s = (int64_t)h->ts.tv_sec, ns = (int64_t)h->ts.tv_usec;

	s += ns / 1000000000;
	ns %= 1000000000;
	if (ns < 0) {
		ns += 1000000000;
		s--;
	}
	*sec = s;
	*nsec = (int32_t)ns;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char errbuf[PCAP_ERRBUF_SIZE], err[256];
	char *files[1] = {path};
	struct pcap_source *src;
	struct pcap_pkthdr *h;
	const u_char *d;
	struct packet *pkt;
	pcap_t *p;
	int64_t sec;
	int32_t nsec;
	int n = 0, rc, prc = 1;

	if (fd < 0) {
		/* A file in memory: seekable, so the direct reader reads it. */
		if ((fd = memfd_create("fuzz_pcap", 0)) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		log_set_output(fopen("/dev/null", "w"));
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();

	p = pcap_open_offline_with_tstamp_precision(
	    path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	src = pcap_source_open(files, 1, err, sizeof(err));
	if (p == NULL) {
		if (src != NULL)
			fz_fail("opened a file libpcap refuses", 0);
		return 0;
	}
	if (src == NULL) {
		/* Refused for its link type only. */
		if (link_check(pcap_datalink(p), err, sizeof(err)) == HK_OK)
			fz_fail("refused a file libpcap reads", 0);
		pcap_close(p);
		return 0;
	}
	while ((rc = pcap_source_next(src, &pkt)) == HK_OK) {
		n++;
		prc = pcap_next_ex(p, &h, &d);
		if (prc != 1)
			fz_fail("a packet libpcap does not give", n);
		fz_ts(h, &sec, &nsec);
		if (pkt->caplen != h->caplen || pkt->wirelen != h->len ||
		    pkt->ts.sec != sec || pkt->ts.nsec != nsec ||
		    memcmp(pkt->data, d, h->caplen) != 0)
			fz_fail("a packet differs", n);
		packet_unref(pkt);
	}
	if (rc != HK_AGAIN)
		fz_fail("no clean end", n);
	prc = pcap_next_ex(p, &h, &d);
	if (prc == 1)
		fz_fail("libpcap gives more packets", n + 1);
	if (pcap_source_errors(src) != (prc == PCAP_ERROR ? 1u : 0u))
		fz_fail("error count differs from libpcap's end", n);
	pcap_source_close(src);
	pcap_close(p);
	return 0;
}
