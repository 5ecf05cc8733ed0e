/*
 * nfq_test_bridge: the test program of tests/e2e/nfq_test.sh. It binds one
 * NFQUEUE through nfq_source_* and accepts every packet, except TCP
 * segments whose payload contains "DROPME", which it drops (with -j it
 * also injects through raw_injector a copy where "DROPME" reads "REWRTE",
 * with its TCP checksum recomputed). With -i it installs the iptables
 * rules through nfq_iptables and removes them at exit; -I and -D only
 * install or remove them and exit.
 *
 * It prints "ready" once bound (and rules installed), a stats line on
 * SIGUSR1 and at exit (SIGTERM, SIGINT):
 *
 *   stats received N accepted A dropped D enobufs E gso G verdict_errors V
 *   recv_errors R injected I inject_errors J
 *
 * Exit status: 0, 1 on an error (message on stderr), 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <haka/log.h>
#include <haka/nfq.h>

#define BRIDGE_NEEDLE  "DROPME"
#define BRIDGE_REWRITE "REWRTE"
#define BRIDGE_NLEN    6
#define BRIDGE_MAXQ    16

struct bridge {
	struct nfq_source *src;
	struct raw_injector *inj;
	uint64_t injected, inject_errors;
};

static volatile sig_atomic_t stop, want_stats;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_stats = 1;
	else
		stop = 1;
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: nfq_test_bridge [-bijIDS] [-q queue] [-N nqueues] "
	        "[-c chain] [-p port] [-m mark] [-l maxlen] [-r rcvbuf] "
	        "[-d usec]\n");
	exit(2);
}

static unsigned long
number(const char *s, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		usage();
	return v;
}

/* Internet checksum over len bytes, added to sum (RFC 1071). */
static uint32_t
csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	uint32_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t
csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * Offset and length of the TCP payload of an IPv4 packet, or false when
 * it is not an unfragmented, well-formed IPv4 TCP packet.
 */
static bool
tcp_payload(const struct packet *pkt, uint32_t *ip_hl, uint32_t *tcp_len,
            uint32_t *off, uint32_t *len)
{
	const uint8_t *ip = pkt->data;
	uint32_t hl, tot, thl;

	if (pkt->caplen < 20 || ip[0] >> 4 != 4 || ip[9] != 6)
		return false;
	hl = (uint32_t)(ip[0] & 0x0f) * 4;
	tot = (uint32_t)ip[2] << 8 | ip[3];
	if (hl < 20 || tot > pkt->caplen || tot < hl + 20)
		return false;
	thl = (uint32_t)(ip[hl + 12] >> 4) * 4;
	if (thl < 20 || hl + thl > tot)
		return false;
	*ip_hl = hl;
	*tcp_len = tot - hl;
	*off = hl + thl;
	*len = tot - hl - thl;
	return true;
}

/* Rewrite the needle at pl and recompute the TCP checksum, then inject. */
static void
inject_rewritten(struct bridge *b, struct packet *pkt, uint8_t *needle,
                 uint32_t ip_hl, uint32_t tcp_len)
{
	uint8_t *ip = pkt->data, *tcp = pkt->data + ip_hl;
	uint32_t sum;
	uint16_t c;

	memcpy(needle, BRIDGE_REWRITE, BRIDGE_NLEN);
	tcp[16] = 0;
	tcp[17] = 0;
	sum = csum_add(0, ip + 12, 8); /* pseudo-header: addresses */
	sum += 6 + tcp_len;            /* protocol and TCP length */
	sum = csum_add(sum, tcp, tcp_len);
	c = csum_fold(sum);
	tcp[16] = (uint8_t)(c >> 8);
	tcp[17] = (uint8_t)c;
	if (raw_injector_send(b->inj, pkt) == HK_OK)
		b->injected++;
	else
		b->inject_errors++;
}

static void
on_packet(void *arg, struct packet *pkt)
{
	struct bridge *b = arg;
	uint32_t ip_hl, tcp_len, off, len;
	uint8_t *needle = NULL;

	if (tcp_payload(pkt, &ip_hl, &tcp_len, &off, &len) && len > 0)
		needle =
		    memmem(pkt->data + off, len, BRIDGE_NEEDLE, BRIDGE_NLEN);
	if (needle != NULL && b->inj != NULL)
		inject_rewritten(b, pkt, needle, ip_hl, tcp_len);
	/* Counted in the source's stats on failure. */
	(void)nfq_source_verdict(b->src, pkt, needle == NULL);
	packet_unref(pkt);
}

static void
print_stats(const struct bridge *b)
{
	const struct nfq_stats *st = nfq_source_stats(b->src);

	printf("stats received %" PRIu64 " accepted %" PRIu64
	       " dropped %" PRIu64 " enobufs %" PRIu64 " gso %" PRIu64
	       " verdict_errors %" PRIu64 " recv_errors %" PRIu64
	       " injected %" PRIu64 " inject_errors %" PRIu64 "\n",
	       st->received, st->accepted, st->dropped, st->enobufs, st->gso,
	       st->verdict_errors, st->recv_errors, b->injected,
	       b->inject_errors);
}

int
main(int argc, char **argv)
{
	struct nfq_conf conf = {.queue = 0,
	                        .maxlen = 1024,
	                        .rcvbuf = 1U << 20,
	                        .fail_open = false,
	                        .mark = 0x4b41};
	struct bridge b = {0};
	struct sigaction sa;
	struct pollfd pfd;
	uint16_t queues[BRIDGE_MAXQ];
	const char *chain = "FORWARD";
	char err[512];
	bool inject = false, rules = false, stall = false;
	int ch, mode = 0, nq = 1, i, n, rc = 0;
	unsigned long delay = 0, port = 0;

	while ((ch = getopt(argc, argv, "bijIDSq:N:c:p:m:l:r:d:")) != -1) {
		switch (ch) {
		case 'b':
			conf.fail_open = true;
			break;
		case 'i':
			rules = true;
			break;
		case 'j':
			inject = true;
			break;
		case 'I':
		case 'D':
			mode = ch;
			break;
		case 'S':
			stall = true;
			break;
		case 'q':
			conf.queue = (uint16_t)number(optarg, UINT16_MAX);
			break;
		case 'N':
			nq = (int)number(optarg, BRIDGE_MAXQ);
			break;
		case 'c':
			chain = optarg;
			break;
		case 'p':
			port = number(optarg, UINT16_MAX);
			break;
		case 'm':
			conf.mark = (uint32_t)number(optarg, UINT32_MAX);
			break;
		case 'l':
			conf.maxlen = (uint32_t)number(optarg, UINT32_MAX);
			break;
		case 'r':
			conf.rcvbuf = (uint32_t)number(optarg, UINT32_MAX);
			break;
		case 'd':
			delay = number(optarg, 1000000);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || nq < 1 || conf.queue + nq - 1 > UINT16_MAX)
		usage();
	for (i = 0; i < nq; i++)
		queues[i] = (uint16_t)(conf.queue + i);
	if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
		return 1;

	if (mode != 0) {
		if (nfq_iptables(mode == 'I', chain, queues, (uint32_t)nq,
		                 (uint16_t)port, conf.fail_open, conf.mark, err,
		                 sizeof(err)) < 0) {
			fprintf(stderr, "nfq_test_bridge: %s\n", err);
			return 1;
		}
		return 0;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGUSR1, &sa, NULL) < 0) {
		perror("nfq_test_bridge: sigaction");
		return 1;
	}
	if ((b.src = nfq_source_open(&conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "nfq_test_bridge: %s\n", err);
		return 1;
	}
	if (inject &&
	    (b.inj = raw_injector_open(conf.mark, err, sizeof(err))) == NULL) {
		fprintf(stderr, "nfq_test_bridge: %s\n", err);
		nfq_source_close(b.src);
		return 1;
	}
	/* Bound first: without bypass, queued packets need a listener. */
	if (rules &&
	    nfq_iptables(true, chain, queues, (uint32_t)nq, (uint16_t)port,
	                 conf.fail_open, conf.mark, err, sizeof(err)) < 0) {
		fprintf(stderr, "nfq_test_bridge: %s\n", err);
		raw_injector_close(b.inj);
		nfq_source_close(b.src);
		return 1;
	}
	printf("ready\n");

	pfd.fd = nfq_source_fd(b.src);
	pfd.events = POLLIN;
	while (!stop) {
		if (want_stats) {
			want_stats = 0;
			print_stats(&b);
		}
		if (stall) {
			/* Never read: the queue fills up (fail-open test). */
			(void)poll(NULL, 0, 200);
			continue;
		}
		n = poll(&pfd, 1, 200);
		if (n < 0 && errno != EINTR) {
			perror("nfq_test_bridge: poll");
			rc = 1;
			break;
		}
		if (n <= 0)
			continue;
		if (nfq_source_read(b.src, on_packet, &b) < 0) {
			rc = 1;
			break;
		}
		if (delay != 0)
			(void)usleep((useconds_t)delay);
	}

	if (rules &&
	    nfq_iptables(false, chain, queues, (uint32_t)nq, (uint16_t)port,
	                 conf.fail_open, conf.mark, err, sizeof(err)) < 0) {
		fprintf(stderr, "nfq_test_bridge: %s\n", err);
		rc = 1;
	}
	print_stats(&b);
	raw_injector_close(b.inj);
	nfq_source_close(b.src);
	packet_pool_flush();
	return rc;
}
