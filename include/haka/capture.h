/*
 * Capture backends. The engine pulls packets from a source and gives every
 * packet back through a verdict (accept or drop) when the packet is
 * released. Forged packets (RSTs) go out through capture_inject.
 *
 * This header covers the offline backend (capture files, opened by
 * libpcap) and the output capture writer used by hakapcap -o.
 */
#ifndef HAKA_CAPTURE_H
#define HAKA_CAPTURE_H

#include <haka/packet.h>

/* --- link layer ------------------------------------------------------- */

/*
 * Decode the link header of a frame: sets pkt->l3_off and pkt->ethertype
 * (0x0800 for IPv4; 0 when the network protocol is unknown or the frame is
 * too short). Handles DLT_EN10MB with 802.1Q/802.1ad tags (any depth up to
 * 4), DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP, DLT_RAW, DLT_IPV4
 * and LINKTYPE_RAW (101). Never reads past pkt->caplen.
 * Returns HK_OK, or HK_DECLINED for an unsupported or truncated link header
 * (ethertype is then 0 and the frame is forwarded untouched).
 */
int link_decode(struct packet *pkt);

/* Whether a DLT is one link_decode understands. */
bool link_supported(int dlt);

/*
 * HK_OK when link_supported(dlt), else HK_ERR with "link type N (NAME) is
 * not supported (...)" in err: a capture of it could not be inspected.
 */
int link_check(int dlt, char *err, size_t errlen);

/* --- reading capture files ------------------------------------------- */

struct pcap_source;

/*
 * Open capture files (pcap or pcapng) to be replayed one after the other,
 * in the order given. Returns NULL with a message in err when the first
 * file cannot be opened; later files are opened when reached (a file that
 * cannot be opened then is skipped with a warning).
 */
struct pcap_source *pcap_source_open(char *const *files, int nfiles, char *err,
                                     size_t errlen);

/*
 * Read the next packet: HK_OK with *out set (a new packet, refcnt 1,
 * link decoded, id numbered from 1 across all files). Its bytes are
 * borrowed (PKT_F_BORROWED) from the source's read buffer or libpcap's,
 * valid until the next call or pcap_source_close: engine_process copies
 * those it keeps (packet_own), and any other caller that keeps the
 * packet calls packet_own. HK_AGAIN at the end of all files. A damaged
 * or truncated file is read as far as it can be, then a warning is
 * logged (section "capture", naming the file and the packet number) and
 * the next file is opened; the warning is counted in pcap_source_errors.
 */
int pcap_source_next(struct pcap_source *src, struct packet **out);

/* Link type of the current file (DLT_*). */
int pcap_source_linktype(const struct pcap_source *src);
/* Name of the current file. */
const char *pcap_source_file(const struct pcap_source *src);
/* Number of read errors (damaged files) so far. */
uint64_t pcap_source_errors(const struct pcap_source *src);
/* Bytes of capture files read so far (frame bytes). */
uint64_t pcap_source_bytes(const struct pcap_source *src);
/*
 * Whether the current file's records are read directly rather than by
 * libpcap's pcap_next_ex (classic pcap files, version 2.4): for tests.
 */
bool pcap_source_direct(const struct pcap_source *src);

void pcap_source_close(struct pcap_source *src);

/* --- writing the output capture ------------------------------------ */

struct pcap_sink;

/*
 * Create a classic pcap file (microsecond timestamps) with the given link
 * type. Returns NULL with a message in err.
 */
struct pcap_sink *pcap_sink_open(const char *path, int linktype, char *err,
                                 size_t errlen);

/*
 * Append a frame with its capture timestamp. A packet whose linktype is
 * the file's is written byte for byte. A packet of another link type (a
 * second input file of another type) is written as its network layer
 * (from l3_off) behind a link header synthesised for the file's type:
 * Ethernet with zero MACs and the packet's ethertype, Linux cooked (SLL,
 * SLL2), BSD NULL/LOOP with AF_INET, or nothing for raw IP. Forged
 * packets are built by the engine with the link header of a captured
 * packet of the same flow, so they have the capture's link type.
 * Returns HK_OK or HK_ERR (write error, logged once).
 */
int pcap_sink_write(struct pcap_sink *sink, const struct packet *pkt);

void pcap_sink_close(struct pcap_sink *sink);

#endif
