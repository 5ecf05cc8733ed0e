/*
 * The inline capture backend: NFQUEUE (libnetfilter_queue). One source per
 * queue, read by one worker thread. Every packet received gets exactly one
 * verdict (accept or drop), given when the engine releases it; forged
 * packets (RSTs) go out through a raw socket with a mark that the iptables
 * rules skip, so they are not queued again.
 */
#ifndef HAKA_NFQ_H
#define HAKA_NFQ_H

#include <haka/packet.h>

struct nfq_conf {
	uint16_t queue;
	uint32_t maxlen; /* kernel queue length */
	uint32_t rcvbuf; /* socket receive buffer, bytes */
	bool fail_open;  /* NFQA_CFG_F_FAIL_OPEN: accept when full */
	uint32_t mark;   /* mark of the packets haka forges */
};

struct nfq_stats {
	uint64_t received, accepted, dropped, enobufs, verdict_errors, gso,
	    recv_errors;
};

struct nfq_source;

/*
 * Bind the queue (in the caller's network namespace), copy whole packets,
 * accept GSO packets (NFQA_CFG_F_GSO: checksums may not be computed yet),
 * set the queue length and the receive buffer. NULL with a message in err.
 */
struct nfq_source *nfq_source_open(const struct nfq_conf *c, char *err,
                                   size_t errlen);

/* The descriptor to poll. */
int nfq_source_fd(const struct nfq_source *s);

/*
 * Receive what is pending (non-blocking) and hand each packet to cb as a
 * new packet (refcnt 1, linktype DLT_RAW, l3_off 0, ethertype from the
 * version nibble, ts = wall clock, capture_ctx = s, capture_id = the
 * queue's packet id). Returns the number of packets, 0 when nothing was
 * pending, HK_ERR on a fatal error. ENOBUFS (the kernel dropped packets
 * because the socket buffer was full) is counted, logged once per second,
 * never silent.
 */
int nfq_source_read(struct nfq_source *s,
                    void (*cb)(void *arg, struct packet *pkt), void *arg);

/* Give the verdict of a packet received from this source. */
int nfq_source_verdict(struct nfq_source *s, const struct packet *pkt,
                       bool accept);

const struct nfq_stats *nfq_source_stats(const struct nfq_source *s);

/* Unbind and close (pending packets get the kernel's default). */
void nfq_source_close(struct nfq_source *s);

/* --- forged packets ----------------------------------------------------- */

struct raw_injector;

/* A raw IPv4 socket (IP_HDRINCL) whose packets carry SO_MARK mark. */
struct raw_injector *raw_injector_open(uint32_t mark, char *err, size_t errlen);
/* Send the IPv4 packet at pkt->l3_off. HK_OK or HK_ERR (counted). */
int raw_injector_send(struct raw_injector *r, const struct packet *pkt);
void raw_injector_close(struct raw_injector *r);

/* --- iptables ----------------------------------------------------------- */

/*
 * Install (or remove) the rules that send traffic to the queues: in chain
 * (FORWARD, INPUT, OUTPUT...) of table filter, TCP packets (to and from
 * port when port != 0) without the mark go to NFQUEUE with
 * --queue-balance over the queues (and --queue-bypass when fail_open).
 * Uses the iptables command found in PATH. HK_OK or HK_ERR with the
 * command's message in err.
 */
int nfq_iptables(bool install, const char *chain, const uint16_t *queues,
                 uint32_t nqueues, uint16_t port, bool fail_open, uint32_t mark,
                 char *err, size_t errlen);

#endif
