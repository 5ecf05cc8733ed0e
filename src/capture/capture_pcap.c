/*
 * The offline capture backend: pcap_source replays capture files (pcap or
 * pcapng) one after the other as packets, and pcap_sink writes the frames
 * the engine forwards to a classic pcap file. hakapcap owns one source
 * and at most one sink; the engine pulls packets from the source and
 * writes each accepted packet to the sink when it is released.
 *
 * libpcap opens every file and checks its header. The records of a
 * classic pcap file (version 2.4, the only one libpcap writes) are then
 * read directly, 256 KB at a time, and each packet borrows its bytes from
 * that buffer: libpcap's pcap_next_ex copies every record out of stdio
 * with two locked fread calls, about 500 instructions a packet, which was
 * most of the CPU time of a bare read loop. The direct reader follows
 * libpcap's rules for a record (snapshot length, maximum, time stamp
 * scaling, byte order, the CAN ID of a cooked header) and gives the same
 * error messages; capture_test and fuzz_pcap compare the two. Everything
 * else (pcapng, older versions, the standard input, pipes) is read
 * through libpcap.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include <haka/capture.h>
#include <haka/log.h>

#define PCAP_LOG_SECTION "capture"

/*
 * Largest frame the sink writes; longer frames are cut (the header keeps
 * their length). It is also the snaplen in the file header: libpcap
 * refuses to read back a record longer than this.
 */
#define PCAP_SINK_SNAPLEN 262144

#define PCAP_ETHERTYPE_IPV4 0x0800
#define PCAP_ETHERTYPE_IPV6 0x86dd

/*
 * Link types the sink can synthesise a header for. These are the values
 * of link.c; raw IP is 12 (DLT_RAW on most systems), 14 (DLT_RAW on
 * BSD/OS) or 101 (LINKTYPE_RAW as a file holds it).
 */
#define PCAP_DLT_NULL       0
#define PCAP_DLT_EN10MB     1
#define PCAP_DLT_RAW        12
#define PCAP_DLT_RAW_BSDOS  14
#define PCAP_LINKTYPE_RAW   101
#define PCAP_DLT_LOOP       108
#define PCAP_DLT_LINUX_SLL  113
#define PCAP_DLT_IPV4       228
#define PCAP_DLT_IPV6       229
#define PCAP_DLT_LINUX_SLL2 276

#define PCAP_AF_INET  2
#define PCAP_AF_INET6 24 /* the BSD value every reader knows */

#define PCAP_SLL_HOST     0 /* sll_pkttype: sent to us */
#define PCAP_SLL_OUTGOING 4 /* sll_pkttype: sent by us */
#define PCAP_ARPHRD_ETHER 1

#define PCAP_LINK_HDR_MAX 20 /* SLL2, the longest header synthesised */

/*
 * Under AddressSanitizer a packet borrows a heap copy of libpcap's bytes,
 * freed when the next one is read: a pointer kept into borrowed bytes past
 * engine_process (which must packet_own what it keeps) is then reported,
 * where libpcap's reused buffer would hide it.
 */
#if defined(__SANITIZE_ADDRESS__)
#define HK_LEND_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HK_LEND_CHECK 1
#endif
#endif

struct pcap_source {
	char **files; /* copies of the names given to open */
	int nfiles;
	int cur;           /* index of the current (last opened) file */
	int next;          /* index of the next file to open */
	pcap_t *pcap;      /* handle on files[cur]; NULL once it is done */
	int linktype;      /* pcap_datalink of files[cur] */
	uint64_t file_pkt; /* packets read from files[cur] */
	uint64_t last_id;  /* id of the last packet returned */
	uint64_t errors;
	uint64_t bytes;
	/*
	 * stdio's buffer of files[cur] (PCAP_SOURCE_IOBUF bytes), or, for a
	 * file read directly, the records read ahead (cap bytes).
	 */
	uint8_t *iobuf;
	/* The direct reader (see the top of the file); fd -1 when unused. */
	int fd;        /* files[cur]'s descriptor, owned by libpcap */
	bool swapped;  /* the file's byte order is not this machine's */
	bool usec;     /* microsecond time stamps, scaled to nanoseconds */
	uint32_t snap; /* libpcap's snapshot length for the file */
	size_t cap;    /* size of iobuf */
	size_t have;   /* bytes in iobuf */
	size_t pos;    /* offset of the next record in iobuf */
#ifdef HK_LEND_CHECK
	uint8_t *lent; /* the last packet's bytes, freed at the next read */
#endif
};

struct pcap_sink {
	pcap_t *pcap; /* dead handle that carries the link type */
	pcap_dumper_t *dumper;
	char *path;
	int linktype;
	bool failed;      /* a write error was logged */
	bool skip_warned; /* an unwritable frame was logged */
	uint8_t *frame;   /* PCAP_LINK_HDR_MAX + PCAP_SINK_SNAPLEN bytes */
};

/*
 * libpcap reads a file through stdio, whose buffer is the file system's
 * block (4 KB): one read(2) per 4 KB. A larger buffer makes that one per
 * 256 KB (the bare libpcap loop drops from 0.090 to 0.076 s on the 448 MB
 * bench capture).
 */
#define PCAP_SOURCE_IOBUF (256 * 1024)

/* The classic pcap format (pcap-savefile(5)). */
#define PCAP_MAGIC_USEC    0xa1b2c3d4U
#define PCAP_MAGIC_NSEC    0xa1b23c4dU
#define PCAP_FILE_HDR_LEN  24
#define PCAP_REC_HDR_LEN   16
#define PCAP_VERSION_MAJOR 2
#define PCAP_VERSION_MINOR 4
/*
 * libpcap's largest record for the link types the engine decodes
 * (MAXIMUM_SNAPLEN; only D-Bus, USBPcap and EBHSCR allow more).
 */
#define PCAP_MAX_CAPLEN 262144U

static uint32_t
pcap_swap32(uint32_t v)
{
	return (v >> 24) | ((v >> 8) & 0xff00U) | ((v << 8) & 0xff0000U) |
	       (v << 24);
}

/*
 * p, or NULL (p closed, the reason in errbuf) when its link type is one
 * the engine cannot decode: none of its packets could be inspected.
 */
static pcap_t *
pcap_check_link(pcap_t *p, char *errbuf)
{
	if (p == NULL ||
	    link_check(pcap_datalink(p), errbuf, PCAP_ERRBUF_SIZE) == HK_OK)
		return p;
	pcap_close(p);
	return NULL;
}

/*
 * Whether fp's records can be read directly: a classic pcap file of
 * version 2.4, in either byte order, read from a file that can seek (a
 * pipe's bytes, once peeked at, would be gone for libpcap). Sets the
 * byte order and the time stamp unit in src. The file position is left
 * at the start.
 */
static bool
pcap_direct_peek(struct pcap_source *src, FILE *fp)
{
	uint8_t h[PCAP_FILE_HDR_LEN];
	uint32_t magic;
	uint16_t major, minor;

	if (pread(fileno(fp), h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return false;
	memcpy(&magic, h, 4);
	memcpy(&major, h + 4, 2);
	memcpy(&minor, h + 6, 2);
	src->swapped = false;
	if (magic == pcap_swap32(PCAP_MAGIC_USEC) ||
	    magic == pcap_swap32(PCAP_MAGIC_NSEC)) {
		src->swapped = true;
		magic = pcap_swap32(magic);
		major = (uint16_t)((major >> 8) | (major << 8));
		minor = (uint16_t)((minor >> 8) | (minor << 8));
	}
	if (magic != PCAP_MAGIC_USEC && magic != PCAP_MAGIC_NSEC)
		return false;
	src->usec = magic == PCAP_MAGIC_USEC;
	return major == PCAP_VERSION_MAJOR && minor == PCAP_VERSION_MINOR;
}

/*
 * Open file for src (whose iobuf must be free): "-" is the standard
 * input, as for pcap_open_offline. On return src->fd is the descriptor
 * to read records from directly, or -1 when libpcap reads them.
 */
static pcap_t *
pcap_source_open_file(struct pcap_source *src, const char *file, char *errbuf)
{
	pcap_t *p;
	FILE *fp;
	bool direct;

	errbuf[0] = '\0';
	src->fd = -1;
	/*
	 * Nanosecond precision: libpcap scales microsecond files up, so
	 * ts.nsec is exact for both kinds.
	 */
	if (strcmp(file, "-") == 0)
		return pcap_check_link(
		    pcap_open_offline_with_tstamp_precision(
		        file, PCAP_TSTAMP_PRECISION_NANO, errbuf),
		    errbuf);
	if ((fp = fopen(file, "rb")) == NULL) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", strerror(errno));
		return NULL;
	}
	direct = pcap_direct_peek(src, fp);
	src->iobuf = malloc(PCAP_SOURCE_IOBUF);
	/*
	 * libpcap reads only the 24-byte header of a file read directly:
	 * unbuffered, stdio reads no further, and the buffer is the
	 * direct reader's.
	 */
	if (direct)
		(void)setvbuf(fp, NULL, _IONBF, 0);
	else if (src->iobuf != NULL && setvbuf(fp, (char *)src->iobuf, _IOFBF,
	                                       PCAP_SOURCE_IOBUF) != 0) {
		free(src->iobuf);
		src->iobuf = NULL;
	}
	/* pcap_close closes fp; on failure libpcap leaves it to us. */
	p = pcap_fopen_offline_with_tstamp_precision(
	    fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (p == NULL)
		fclose(fp);
	else
		p = pcap_check_link(p, errbuf);
	if (p == NULL) {
		free(src->iobuf);
		src->iobuf = NULL;
		return NULL;
	}
	/* The header is libpcap's to check; the records are ours. */
	if (direct && src->iobuf != NULL &&
	    lseek(fileno(fp), PCAP_FILE_HDR_LEN, SEEK_SET) ==
	        PCAP_FILE_HDR_LEN) {
		src->fd = fileno(fp);
		src->snap = (uint32_t)pcap_snapshot(p);
		src->cap = PCAP_SOURCE_IOBUF;
		src->have = 0;
		src->pos = 0;
	}
	return p;
}

/* Close files[cur] and free its buffer (which fclose may still use). */
static void
pcap_source_close_file(struct pcap_source *src)
{
	if (src->pcap != NULL)
		pcap_close(src->pcap);
	src->pcap = NULL;
	src->fd = -1;
	free(src->iobuf);
	src->iobuf = NULL;
}

static void
pcap_source_free(struct pcap_source *src)
{
	int i;

	pcap_source_close_file(src);
#ifdef HK_LEND_CHECK
	free(src->lent);
#endif
	if (src->files != NULL) {
		for (i = 0; i < src->nfiles; i++)
			free(src->files[i]);
		free(src->files);
	}
	free(src);
}

/*
 * The names are copied, so the caller's array need not outlive the
 * source. Returns a source owned by the caller (pcap_source_close), or
 * NULL with a message in err (errlen bytes, always terminated) when an
 * argument is wrong, memory is short or the first file cannot be opened.
 */
struct pcap_source *
pcap_source_open(char *const *files, int nfiles, char *err, size_t errlen)
{
	struct pcap_source *src;
	char errbuf[PCAP_ERRBUF_SIZE];
	int i;

	if (files == NULL || nfiles <= 0) {
		hk_errf(err, errlen, "no capture file");
		return NULL;
	}
	for (i = 0; i < nfiles; i++) {
		if (files[i] == NULL) {
			hk_errf(err, errlen, "capture file %d has no name", i);
			return NULL;
		}
	}
	if ((src = calloc(1, sizeof(*src))) == NULL ||
	    (src->files = calloc((size_t)nfiles, sizeof(char *))) == NULL) {
		free(src);
		hk_errf(err, errlen, "%s", strerror(ENOMEM));
		return NULL;
	}
	src->fd = -1;
	src->nfiles = nfiles;
	for (i = 0; i < nfiles; i++) {
		if ((src->files[i] = strdup(files[i])) == NULL) {
			pcap_source_free(src);
			hk_errf(err, errlen, "%s", strerror(ENOMEM));
			return NULL;
		}
	}
	src->pcap = pcap_source_open_file(src, src->files[0], errbuf);
	if (src->pcap == NULL) {
		hk_errf(err, errlen, "%s: %s", files[0], errbuf);
		pcap_source_free(src);
		return NULL;
	}
	src->cur = 0;
	src->next = 1;
	src->linktype = pcap_datalink(src->pcap);
	return src;
}

/*
 * Open the next file that can be opened, skipping (with a warning,
 * counted) those that cannot. Returns HK_OK, or HK_AGAIN when no file is
 * left; cur and linktype then still name the last file opened. Once per
 * file: cold, kept out of pcap_source_next's code for every packet.
 */
__attribute__((cold, noinline)) static int
pcap_source_advance(struct pcap_source *src)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *p;

	while (src->next < src->nfiles) {
		p = pcap_source_open_file(src, src->files[src->next], errbuf);
		if (p == NULL) {
			hk_log(LOG_WARNING, PCAP_LOG_SECTION,
			       "cannot open capture file %s, skipped: %s",
			       src->files[src->next], errbuf);
			src->errors++;
			src->next++;
			continue;
		}
		src->cur = src->next++;
		src->pcap = p;
		src->linktype = pcap_datalink(p);
		src->file_pkt = 0;
		return HK_OK;
	}
	return HK_AGAIN;
}

/*
 * Make at least need bytes available from buf + pos (the bytes before
 * pos, the packets already returned, are dropped). Returns how many are
 * available: fewer than need only at the end of the file, or after a
 * read error (*err then set to errno).
 */
static size_t
pcap_direct_fill(struct pcap_source *src, size_t need, int *err)
{
	size_t avail = src->have - src->pos;
	uint8_t *bigger;
	ssize_t n;

	if (avail >= need)
		return avail;
	memmove(src->iobuf, src->iobuf + src->pos, avail);
	src->have = avail;
	src->pos = 0;
	if (need > src->cap) {
		/* A record longer than the buffer: at most PCAP_MAX_CAPLEN. */
		if ((bigger = realloc(src->iobuf, need)) == NULL) {
			*err = ENOMEM;
			return avail;
		}
		src->iobuf = bigger;
		src->cap = need;
	}
	while (src->have < need) {
		n = read(src->fd, src->iobuf + src->have, src->cap - src->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = errno;
			break;
		}
		if (n == 0)
			break;
		src->have += (size_t)n;
	}
	return src->have;
}

static uint32_t
pcap_direct_u32(const struct pcap_source *src, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return src->swapped ? pcap_swap32(v) : v;
}

/*
 * libpcap's one change to a record's bytes for the link types the engine
 * reads (swap_pseudo_headers in 1.10): in a file of the other byte order,
 * the CAN ID that follows a cooked header (SLL or SLL2) whose protocol is
 * SocketCAN (0x000c) or CAN FD (0x000d) is written in the capturing
 * machine's order, and is swapped to this one's. The pcap sink writes in
 * this machine's order, so a forwarded frame keeps a readable CAN ID.
 */
#define PCAP_SLL_P_CAN   0x000c
#define PCAP_SLL_P_CANFD 0x000d

static void
pcap_direct_fixup(const struct pcap_source *src, const struct pcap_pkthdr *hdr,
                  uint8_t *d)
{
	uint32_t hlen, proto_at, id;

	if (src->linktype == PCAP_DLT_LINUX_SLL) {
		hlen = 16;
		proto_at = 14;
	} else if (src->linktype == PCAP_DLT_LINUX_SLL2) {
		hlen = 20;
		proto_at = 0;
	} else {
		return;
	}
	if (hdr->caplen < hlen + 4 || hdr->len < hlen + 4)
		return;
	if (d[proto_at] != 0 || (d[proto_at + 1] != PCAP_SLL_P_CAN &&
	                         d[proto_at + 1] != PCAP_SLL_P_CANFD))
		return;
	memcpy(&id, d + hlen, 4);
	id = pcap_swap32(id);
	memcpy(d + hlen, &id, 4);
}

/*
 * The next record of a file read directly, as libpcap's pcap_next_ex
 * gives it: 1 with *hdr and *bytes (valid until the next call), -2 at
 * the end of the file, -1 with a message in errbuf (libpcap's words)
 * when the record is cut short or its length cannot be right.
 */
static int
pcap_direct_next(struct pcap_source *src, struct pcap_pkthdr *hdr,
                 const u_char **bytes, char *errbuf)
{
	uint8_t *r;
	uint32_t caplen;
	size_t avail, got;
	int err = 0;

	avail = pcap_direct_fill(src, PCAP_REC_HDR_LEN, &err);
	if (avail < PCAP_REC_HDR_LEN) {
		if (err != 0)
			snprintf(errbuf, PCAP_ERRBUF_SIZE,
			         "error reading dump file: %s", strerror(err));
		else if (avail == 0)
			return -2;
		else
			snprintf(errbuf, PCAP_ERRBUF_SIZE,
			         "truncated dump file; tried to read %d header "
			         "bytes, only got %zu",
			         PCAP_REC_HDR_LEN, avail);
		return -1;
	}
	r = src->iobuf + src->pos;
	/*
	 * Signed 32-bit fields; libpcap 1.10's byte swap makes them
	 * unsigned. Microseconds are scaled in 64 bits.
	 */
	if (src->swapped) {
		hdr->ts.tv_sec = (time_t)pcap_direct_u32(src, r);
		hdr->ts.tv_usec = (suseconds_t)pcap_direct_u32(src, r + 4);
	} else {
		hdr->ts.tv_sec = (int32_t)pcap_direct_u32(src, r);
		hdr->ts.tv_usec = (int32_t)pcap_direct_u32(src, r + 4);
	}
	if (src->usec)
		hdr->ts.tv_usec *= 1000;
	caplen = pcap_direct_u32(src, r + 8);
	hdr->len = pcap_direct_u32(src, r + 12);
	if (caplen > PCAP_MAX_CAPLEN) {
		if (caplen > src->snap)
			snprintf(errbuf, PCAP_ERRBUF_SIZE,
			         "invalid packet capture length %" PRIu32
			         ", bigger than snaplen of %" PRIu32,
			         caplen, src->snap);
		else
			snprintf(errbuf, PCAP_ERRBUF_SIZE,
			         "invalid packet capture length %" PRIu32
			         ", bigger than maximum of %u",
			         caplen, PCAP_MAX_CAPLEN);
		return -1;
	}
	avail = pcap_direct_fill(src, PCAP_REC_HDR_LEN + (size_t)caplen, &err);
	if (avail < PCAP_REC_HDR_LEN + (size_t)caplen) {
		got = avail - PCAP_REC_HDR_LEN;
		/* libpcap names the snapshot length when it fell short of it.
		 */
		if (err != 0)
			snprintf(errbuf, PCAP_ERRBUF_SIZE,
			         "error reading dump file: %s", strerror(err));
		else
			snprintf(errbuf, PCAP_ERRBUF_SIZE,
			         "truncated dump file; tried to read %" PRIu32
			         " captured bytes, only got %zu",
			         caplen > src->snap && got < src->snap
			             ? src->snap
			             : caplen,
			         got);
		return -1;
	}
	r = src->iobuf + src->pos;
	/* Bytes past the snapshot length are skipped, as libpcap does. */
	hdr->caplen = caplen > src->snap ? src->snap : caplen;
	if (src->swapped)
		pcap_direct_fixup(src, hdr, r + PCAP_REC_HDR_LEN);
	*bytes = r + PCAP_REC_HDR_LEN;
	src->pos += PCAP_REC_HDR_LEN + (size_t)caplen;
	return 1;
}

/*
 * With nanosecond precision libpcap puts nanoseconds in tv_usec. A file
 * may hold any 32-bit value there, so carry the excess into seconds
 * rather than let it overflow nsec.
 */
static void
pcap_source_ts(struct hk_time *ts, const struct pcap_pkthdr *hdr)
{
	int64_t sec = (int64_t)hdr->ts.tv_sec;
	int64_t ns = (int64_t)hdr->ts.tv_usec;

	sec += ns / 1000000000;
	ns %= 1000000000;
	if (ns < 0) {
		ns += 1000000000;
		sec--;
	}
	ts->sec = sec;
	ts->nsec = (int32_t)ns;
}

/*
 * Returns HK_OK with *out a new packet (refcnt 1, owned by the caller),
 * HK_AGAIN when every file has been read (and on every call after that),
 * or HK_ERR when no memory was left for a packet: that frame is lost,
 * and the next call goes on with the one after it. *out is set only on
 * HK_OK.
 */
int
pcap_source_next(struct pcap_source *src, struct packet **out)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr direct_hdr;
	struct pcap_pkthdr *hdr;
	const u_char *bytes;
	struct packet *pkt;
	int rc;

#ifdef HK_LEND_CHECK
	free(src->lent);
	src->lent = NULL;
#endif
	for (;;) {
		if (src->pcap == NULL && pcap_source_advance(src) != HK_OK)
			return HK_AGAIN;
		if (src->fd >= 0) {
			hdr = &direct_hdr;
			rc = pcap_direct_next(src, hdr, &bytes, errbuf);
		} else {
			rc = pcap_next_ex(src->pcap, &hdr, &bytes);
			if (rc != 1 && rc != 0 && rc != PCAP_ERROR_BREAK)
				snprintf(errbuf, sizeof(errbuf), "%s",
				         pcap_geterr(src->pcap));
		}
		if (rc == 1)
			break;
		if (rc == 0)
			continue; /* live capture timeout: not for files */
		if (rc != PCAP_ERROR_BREAK) {
			/*
			 * A damaged record: libpcap cannot find the next one,
			 * so the rest of this file is lost.
			 */
			hk_log(LOG_WARNING, PCAP_LOG_SECTION,
			       "capture file %s damaged after %" PRIu64
			       " packets, going on with the next file: %s",
			       src->files[src->cur], src->file_pkt, errbuf);
			src->errors++;
		}
		pcap_source_close_file(src);
	}

	src->file_pkt++;
	src->bytes += hdr->caplen;
	/*
	 * libpcap reuses its buffer on the next read: the packet borrows the
	 * bytes, and has room to copy them if it outlives engine_process.
	 */
	if ((pkt = packet_new(hdr->caplen)) == NULL) {
		hk_log(LOG_WARNING, PCAP_LOG_SECTION,
		       "out of memory for packet %" PRIu64 " of %s (%" PRIu32
		       " bytes), dropped",
		       src->file_pkt, src->files[src->cur], hdr->caplen);
		return HK_ERR;
	}
#ifdef HK_LEND_CHECK
	if ((src->lent = malloc(hdr->caplen ? hdr->caplen : 1)) == NULL) {
		packet_unref(pkt);
		return HK_ERR;
	}
	memcpy(src->lent, bytes, hdr->caplen);
	bytes = src->lent;
#endif
	packet_borrow(pkt, bytes);
	pkt->id = ++src->last_id;
	pcap_source_ts(&pkt->ts, hdr);
	pkt->wirelen = hdr->len;
	pkt->linktype = (uint32_t)src->linktype;
	/* Past 255 files the index wraps: it only tells files apart. */
	pkt->ifindex = (uint8_t)src->cur;
	(void)link_decode(pkt);
	*out = pkt;
	return HK_OK;
}

int
pcap_source_linktype(const struct pcap_source *src)
{
	return src->linktype;
}

/* Valid until pcap_source_close. */
const char *
pcap_source_file(const struct pcap_source *src)
{
	return src->files[src->cur];
}

uint64_t
pcap_source_errors(const struct pcap_source *src)
{
	return src->errors;
}

uint64_t
pcap_source_bytes(const struct pcap_source *src)
{
	return src->bytes;
}

bool
pcap_source_direct(const struct pcap_source *src)
{
	return src->fd >= 0;
}

void
pcap_source_close(struct pcap_source *src)
{
	if (src != NULL)
		pcap_source_free(src);
}

/* --- pcap_sink --------------------------------------------------------- */

static void
pcap_sink_free(struct pcap_sink *sink)
{
	if (sink->dumper != NULL)
		pcap_dump_close(sink->dumper);
	if (sink->pcap != NULL)
		pcap_close(sink->pcap);
	free(sink->frame);
	free(sink->path);
	free(sink);
}

static bool
pcap_is_raw(int dlt)
{
	return dlt == PCAP_DLT_RAW || dlt == PCAP_DLT_RAW_BSDOS ||
	       dlt == PCAP_LINKTYPE_RAW;
}

/*
 * Any link type is accepted: frames of that type are copied as they are;
 * only frames of another type need a header link.c knows. Returns a sink
 * owned by the caller (pcap_sink_close), or NULL with a message in err.
 */
struct pcap_sink *
pcap_sink_open(const char *path, int linktype, char *err, size_t errlen)
{
	struct pcap_sink *sink;

	if (path == NULL) {
		hk_errf(err, errlen, "no output file");
		return NULL;
	}
	if ((sink = calloc(1, sizeof(*sink))) == NULL ||
	    (sink->path = strdup(path)) == NULL ||
	    (sink->frame = malloc(PCAP_LINK_HDR_MAX + PCAP_SINK_SNAPLEN)) ==
	        NULL) {
		if (sink != NULL)
			pcap_sink_free(sink);
		hk_errf(err, errlen, "%s", strerror(ENOMEM));
		return NULL;
	}
	/*
	 * libpcap knows raw IP only by this platform's DLT_RAW (it writes
	 * LINKTYPE_RAW in the file) and refuses 101 itself.
	 */
	if (pcap_is_raw(linktype))
		linktype = DLT_RAW;
	sink->linktype = linktype;
	sink->pcap = pcap_open_dead_with_tstamp_precision(
	    linktype, PCAP_SINK_SNAPLEN, PCAP_TSTAMP_PRECISION_MICRO);
	if (sink->pcap == NULL) {
		hk_errf(err, errlen, "%s: cannot create a pcap handle", path);
		pcap_sink_free(sink);
		return NULL;
	}
	if ((sink->dumper = pcap_dump_open(sink->pcap, path)) == NULL) {
		/* libpcap's message names the file already. */
		hk_errf(err, errlen, "%s", pcap_geterr(sink->pcap));
		pcap_sink_free(sink);
		return NULL;
	}
	return sink;
}

/*
 * Build the link header of the sink's type for a packet of another type
 * into hdr (PCAP_LINK_HDR_MAX bytes). Returns its length, or -1 when the
 * frame cannot be carried by that type (unknown protocol, IPv6 on
 * DLT_IPV4, a link type with no header known here).
 */
static int
pcap_sink_link_hdr(const struct pcap_sink *sink, const struct packet *pkt,
                   uint8_t *hdr)
{
	uint16_t type = pkt->ethertype;
	bool ip = type == PCAP_ETHERTYPE_IPV4 || type == PCAP_ETHERTYPE_IPV6;
	uint8_t pkttype;
	uint32_t af;

	pkttype =
	    (pkt->flags & PKT_F_FORGED) ? PCAP_SLL_OUTGOING : PCAP_SLL_HOST;
	af = type == PCAP_ETHERTYPE_IPV4 ? PCAP_AF_INET : PCAP_AF_INET6;
	if (type == 0)
		return -1;
	switch (sink->linktype) {
	case PCAP_DLT_EN10MB:
		/* Destination and source MAC all zero, then EtherType. */
		memset(hdr, 0, 12);
		hk_wr16(hdr + 12, type);
		return 14;
	case PCAP_DLT_LINUX_SLL:
		/* pkttype, ARPHRD, address length, 8-byte address, protocol */
		memset(hdr, 0, 16);
		hk_wr16(hdr, pkttype);
		hk_wr16(hdr + 2, PCAP_ARPHRD_ETHER);
		hk_wr16(hdr + 14, type);
		return 16;
	case PCAP_DLT_LINUX_SLL2:
		/*
		 * protocol, reserved, ifindex (32), ARPHRD, pkttype (8),
		 * address length (8), 8-byte address
		 */
		memset(hdr, 0, 20);
		hk_wr16(hdr, type);
		hk_wr16(hdr + 8, PCAP_ARPHRD_ETHER);
		hdr[10] = pkttype;
		return 20;
	case PCAP_DLT_NULL:
		if (!ip)
			return -1;
		/* Host byte order, as the capturing machine wrote it. */
		memcpy(hdr, &af, 4);
		return 4;
	case PCAP_DLT_LOOP:
		if (!ip)
			return -1;
		hk_wr32(hdr, af);
		return 4;
	case PCAP_DLT_IPV4:
		return type == PCAP_ETHERTYPE_IPV4 ? 0 : -1;
	case PCAP_DLT_IPV6:
		return type == PCAP_ETHERTYPE_IPV6 ? 0 : -1;
	default:
		if (pcap_is_raw(sink->linktype))
			return ip ? 0 : -1;
		return -1;
	}
}

static uint32_t
pcap_min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/*
 * See capture.h. Frames longer than PCAP_SINK_SNAPLEN are cut. A frame
 * of another link type that the file's type cannot carry (see
 * pcap_sink_link_hdr) is not written: a warning is logged the first
 * time and HK_OK is returned, because the file itself is fine. After a
 * write error every call returns HK_ERR.
 */
int
pcap_sink_write(struct pcap_sink *sink, const struct packet *pkt)
{
	struct pcap_pkthdr ph;
	const uint8_t *data;
	uint32_t caplen, wirelen, l3len;
	uint64_t wire64;
	int64_t sec, nsec;
	int hlen;
	int saved;

	if (sink->failed)
		return HK_ERR;

	if ((int)pkt->linktype == sink->linktype ||
	    (pcap_is_raw((int)pkt->linktype) && pcap_is_raw(sink->linktype))) {
		caplen = pcap_min32(pkt->caplen, PCAP_SINK_SNAPLEN);
		wirelen =
		    pkt->wirelen >= pkt->caplen ? pkt->wirelen : pkt->caplen;
		data = pkt->data;
	} else {
		hlen = -1;
		if (pkt->l3_off <= pkt->caplen)
			hlen = pcap_sink_link_hdr(sink, pkt, sink->frame);
		if (hlen < 0) {
			if (!sink->skip_warned) {
				hk_log(LOG_WARNING, PCAP_LOG_SECTION,
				       "%s: packet %" PRIu64
				       " (link type %" PRIu32
				       ", ethertype 0x%04x) cannot be written "
				       "as link type %d; such packets are left "
				       "out",
				       sink->path, pkt->id, pkt->linktype,
				       pkt->ethertype, sink->linktype);
				sink->skip_warned = true;
			}
			return HK_OK;
		}
		l3len = pkt->caplen - pkt->l3_off;
		caplen = pcap_min32(l3len, PCAP_SINK_SNAPLEN);
		memcpy(sink->frame + hlen, pkt->data + pkt->l3_off, caplen);
		caplen += (uint32_t)hlen;
		/*
		 * Bytes cut from the capture were cut behind l3 too; a
		 * wire length near 4 GB from a hostile file must not wrap
		 * below caplen.
		 */
		wire64 = (uint64_t)hlen + (pkt->wirelen - pkt->l3_off);
		if (pkt->wirelen < pkt->caplen || wire64 < caplen)
			wirelen = caplen;
		else if (wire64 > UINT32_MAX)
			wirelen = UINT32_MAX;
		else
			wirelen = (uint32_t)wire64;
		data = sink->frame;
	}

	sec = pkt->ts.sec;
	nsec = pkt->ts.nsec;
	sec += nsec / 1000000000;
	nsec %= 1000000000;
	if (nsec < 0) {
		nsec += 1000000000;
		sec--;
	}
	memset(&ph, 0, sizeof(ph));
	ph.ts.tv_sec = (time_t)sec;
	ph.ts.tv_usec = (suseconds_t)(nsec / 1000);
	ph.caplen = caplen;
	ph.len = wirelen;

	errno = 0;
	pcap_dump((u_char *)sink->dumper, &ph, data);
	/* pcap_dump reports nothing: the stdio error flag does. */
	if (ferror(pcap_dump_file(sink->dumper))) {
		saved = errno;
		hk_log(LOG_ERROR, PCAP_LOG_SECTION, "%s: write error: %s",
		       sink->path, saved != 0 ? strerror(saved) : "unknown");
		sink->failed = true;
		return HK_ERR;
	}
	return HK_OK;
}

/*
 * Flush and close. A write error found while flushing is logged (once,
 * as in pcap_sink_write); the file is closed either way.
 */
void
pcap_sink_close(struct pcap_sink *sink)
{
	if (sink == NULL)
		return;
	errno = 0;
	if (pcap_dump_flush(sink->dumper) != 0 && !sink->failed) {
		hk_log(LOG_ERROR, PCAP_LOG_SECTION, "%s: write error: %s",
		       sink->path, errno != 0 ? strerror(errno) : "unknown");
		sink->failed = true;
	}
	pcap_sink_free(sink);
}
