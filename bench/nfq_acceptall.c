/*
 * nfq_acceptall: the NFQUEUE floor of the inline benchmark. It binds one
 * queue, copies whole packets (as the engine does), accepts every packet
 * and counts it, until SIGTERM or SIGINT; then it prints
 *
 *   packets N bytes B enobufs E
 *
 * on stdout and exits 0. It links libnetfilter_queue only, so what it
 * measures is the kernel round trip without any engine work.
 *
 * usage: nfq_acceptall QUEUE
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define ACCEPTALL_COPY   0xffff
#define ACCEPTALL_MAXLEN 4096
#define ACCEPTALL_RCVBUF (8U << 20)
/* One message: the packet (at most ACCEPTALL_COPY bytes) plus headers. */
#define ACCEPTALL_BUFSZ (ACCEPTALL_COPY + 4096)

static volatile sig_atomic_t stop;
static uint64_t npackets, nbytes, nenobufs, nerrors;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int
on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
          void *arg)
{
	struct nfqnl_msg_packet_hdr *ph;
	unsigned char *payload;
	int len;

	(void)msg;
	(void)arg;
	ph = nfq_get_msg_packet_hdr(nfa);
	if (ph == NULL) {
		nerrors++;
		return 0;
	}
	len = nfq_get_payload(nfa, &payload);
	npackets++;
	if (len > 0)
		nbytes += (uint64_t)len;
	if (nfq_set_verdict(qh, ntohl(ph->packet_id), NF_ACCEPT, 0, NULL) < 0)
		nerrors++;
	return 0;
}

static int
parse_queue(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > UINT16_MAX)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	char *buf;
	uint16_t queue;
	ssize_t r;
	int fd;

	if (argc != 2 || parse_queue(argv[1], &queue) < 0) {
		fprintf(stderr, "usage: nfq_acceptall QUEUE\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	/* No SA_RESTART: the blocking recv must return EINTR. */
	if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0) {
		perror("nfq_acceptall: sigaction");
		return 1;
	}
	buf = malloc(ACCEPTALL_BUFSZ);
	if (buf == NULL) {
		perror("nfq_acceptall: malloc");
		return 1;
	}
	h = nfq_open();
	if (h == NULL) {
		perror("nfq_acceptall: nfq_open");
		return 1;
	}
	/* Both fail harmlessly on kernels >= 3.8, where they are no-ops. */
	if (nfq_unbind_pf(h, AF_INET) < 0 || nfq_bind_pf(h, AF_INET) < 0)
		errno = 0;
	qh = nfq_create_queue(h, queue, on_packet, NULL);
	if (qh == NULL) {
		fprintf(stderr,
		        "nfq_acceptall: cannot bind NFQUEUE %u: %s "
		        "(already bound by another process?)\n",
		        queue, strerror(errno));
		nfq_close(h);
		return 1;
	}
	if (nfq_set_mode(qh, NFQNL_COPY_PACKET, ACCEPTALL_COPY) < 0 ||
	    nfq_set_queue_maxlen(qh, ACCEPTALL_MAXLEN) < 0 ||
	    nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) {
		perror("nfq_acceptall: configuring the queue");
		nfq_destroy_queue(qh);
		nfq_close(h);
		return 1;
	}
	if (nfnl_rcvbufsiz(nfq_nfnlh(h), ACCEPTALL_RCVBUF) < ACCEPTALL_RCVBUF)
		fprintf(stderr, "nfq_acceptall: receive buffer smaller than "
		                "asked\n");
	fd = nfq_fd(h);
	while (!stop) {
		r = recv(fd, buf, ACCEPTALL_BUFSZ, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				nenobufs++;
				continue;
			}
			perror("nfq_acceptall: recv");
			break;
		}
		if (nfq_handle_packet(h, buf, (int)r) < 0)
			nerrors++;
	}
	nfq_destroy_queue(qh);
	nfq_close(h);
	free(buf);
	printf("packets %" PRIu64 " bytes %" PRIu64 " enobufs %" PRIu64
	       " errors %" PRIu64 "\n",
	       npackets, nbytes, nenobufs, nerrors);
	return 0;
}
