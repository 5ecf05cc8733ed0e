/*
 * The inline capture backend (include/haka/nfq.h): nfq_source binds one
 * NFQUEUE through libnetfilter_queue, turns every queued packet into a
 * struct packet and gives each one exactly one verdict; raw_injector sends
 * forged packets through a marked raw socket; nfq_iptables installs the
 * rules that feed the queues. The daemon opens one source per queue, and
 * the worker thread that owns a source is the only one to call it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include <haka/log.h>
#include <haka/nfq.h>

#define NFQ_LOG_SECTION "capture"

/* Bytes of each packet copied to user space: all of an IPv4 datagram. */
#define NFQ_COPY_RANGE 0xffff
/*
 * One netlink message: the copied packet plus its attributes (header,
 * mark, timestamp, interfaces, hardware address, skb info...), which stay
 * well under the 8 KB of headroom since no security context or conntrack
 * entry is asked for. A message cannot be truncated.
 */
#define NFQ_BUFSZ (NFQ_COPY_RANGE + 8192)
/*
 * Messages handled by one nfq_source_read call at most, so that a worker
 * under load still returns to its loop to run timers.
 */
#define NFQ_READ_BATCH 64

#define NFQ_DLT_RAW           12
#define NFQ_ETHERTYPE_IPV4    0x0800
#define NFQ_ETHERTYPE_IPV6    0x86dd
#define NFQ_IPV4_HLEN_MIN     20
#define NFQ_IPTABLES_ERR_MAX  512
#define NFQ_IPTABLES_ARGS_MAX 32

struct nfq_source {
	struct nfq_conf conf;
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	int fd;
	uint8_t *buf; /* NFQ_BUFSZ bytes, one message */
	struct nfq_stats stats;
	uint64_t last_id; /* pkt->id of the last packet made */
	uint64_t nomem;   /* packets given a verdict unseen (no memory) */
	uint64_t unseen;  /* ... (received while opening or closing) */

	/* Set for the duration of one nfq_source_read call. */
	void (*cb)(void *arg, struct packet *pkt);
	void *cb_arg;
	int delivered;

	/* Monotonic second of the last warning of each kind. */
	int64_t enobufs_logged, nomem_logged, error_logged;
};

struct raw_injector {
	int fd;
	uint32_t mark;
	uint64_t sent, errors;
	int64_t error_logged;
};

/*
 * Whether a rate-limited warning may be printed now: true at most once per
 * monotonic second for each *last, which is then updated.
 */
static bool
nfq_log_due(int64_t *last)
{
	struct timespec now;

	if (clock_gettime(CLOCK_MONOTONIC, &now) < 0)
		return true;
	/* Second 0 is the "never logged" value: log the first time. */
	if (*last != 0 && (int64_t)now.tv_sec == *last)
		return false;
	*last = (int64_t)now.tv_sec == 0 ? 1 : (int64_t)now.tv_sec;
	return true;
}

/* --- source ------------------------------------------------------------ */

/*
 * Send the verdict of queued packet id. Counts accepted or dropped on
 * success, verdict_errors on failure. HK_OK or HK_ERR.
 */
static int
nfq_verdict_id(struct nfq_source *s, uint32_t id, bool accept)
{
	if (nfq_set_verdict(s->qh, id, accept ? NF_ACCEPT : NF_DROP, 0, NULL) <
	    0) {
		s->stats.verdict_errors++;
		if (nfq_log_due(&s->error_logged))
			hk_log(LOG_ERROR, NFQ_LOG_SECTION,
			       "NFQUEUE %u: verdict of packet %" PRIu32
			       " failed: %s (%" PRIu64 " verdict errors)",
			       s->conf.queue, id, strerror(errno),
			       s->stats.verdict_errors);
		return HK_ERR;
	}
	if (accept)
		s->stats.accepted++;
	else
		s->stats.dropped++;
	return HK_OK;
}

/*
 * libnetfilter_queue callback, called from nfq_handle_packet for each
 * queued packet. Always returns 0: a packet that cannot be handed to the
 * engine gets its verdict here, so that no queue slot is lost.
 */
static int
nfq_on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
              struct nfq_data *nfa, void *data)
{
	struct nfq_source *s = data;
	struct nfqnl_msg_packet_hdr *ph;
	struct packet *pkt;
	struct timespec ts;
	unsigned char *payload;
	uint32_t id, len;
	int n;

	(void)qh;
	(void)msg;
	if ((ph = nfq_get_msg_packet_hdr(nfa)) == NULL) {
		/* Without an id no verdict can be given: the kernel's bug. */
		s->stats.recv_errors++;
		return 0;
	}
	id = ntohl(ph->packet_id);
	s->stats.received++;
	n = nfq_get_payload(nfa, &payload);
	len = n > 0 ? (uint32_t)n : 0;
	/* GSO: up to 64 KB, checksums not computed yet (NFQA_CFG_F_GSO). */
	if (nfq_get_skbinfo(nfa) & NFQA_SKB_GSO)
		s->stats.gso++;

	if (s->cb == NULL) {
		/*
		 * libnfnetlink also dispatches the packets it meets while it
		 * waits for the answer to a configuration message (in open
		 * and close): nobody can inspect them.
		 */
		s->unseen++;
		(void)nfq_verdict_id(s, id, s->conf.fail_open);
		return 0;
	}
	if ((pkt = packet_new(len)) == NULL) {
		s->nomem++;
		if (nfq_log_due(&s->nomem_logged))
			hk_log(LOG_WARNING, NFQ_LOG_SECTION,
			       "NFQUEUE %u: out of memory, packets %s "
			       "uninspected (%" PRIu64 " so far)",
			       s->conf.queue,
			       s->conf.fail_open ? "accepted" : "dropped",
			       s->nomem);
		(void)nfq_verdict_id(s, id, s->conf.fail_open);
		return 0;
	}
	if (len > 0)
		memcpy(pkt->data, payload, len);
	pkt->id = ++s->last_id;
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
		pkt->ts.sec = (int64_t)ts.tv_sec;
		pkt->ts.nsec = (int32_t)ts.tv_nsec;
	}
	pkt->caplen = len;
	pkt->wirelen = len;
	pkt->linktype = NFQ_DLT_RAW;
	pkt->l3_off = 0;
	if (len > 0 && payload[0] >> 4 == 4)
		pkt->ethertype = NFQ_ETHERTYPE_IPV4;
	else if (len > 0 && payload[0] >> 4 == 6)
		pkt->ethertype = NFQ_ETHERTYPE_IPV6;
	pkt->ifindex = (uint8_t)s->conf.queue;
	pkt->capture_ctx = s;
	pkt->capture_id = id;
	s->delivered++;
	s->cb(s->cb_arg, pkt);
	return 0;
}

static void
nfq_source_free(struct nfq_source *s)
{
	if (s->qh != NULL && nfq_destroy_queue(s->qh) < 0)
		hk_log(LOG_DEBUG, NFQ_LOG_SECTION,
		       "NFQUEUE %u: unbinding failed: %s", s->conf.queue,
		       strerror(errno));
	if (s->h != NULL && nfq_close(s->h) < 0)
		hk_log(LOG_DEBUG, NFQ_LOG_SECTION,
		       "NFQUEUE %u: closing failed: %s", s->conf.queue,
		       strerror(errno));
	free(s->buf);
	free(s);
}

/*
 * Must run in the network namespace of the iptables rules, with
 * CAP_NET_ADMIN. Returns a source owned by the caller (nfq_source_close)
 * or NULL with a message naming the queue in err. A receive buffer the
 * kernel caps below c->rcvbuf is only a warning; c->maxlen and c->rcvbuf
 * of 0 keep the kernel's defaults.
 */
struct nfq_source *
nfq_source_open(const struct nfq_conf *c, char *err, size_t errlen)
{
	struct nfq_source *s;
	uint32_t flags, mask;
	unsigned int got;
	int fl, off = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->buf = malloc(NFQ_BUFSZ)) == NULL) {
		free(s);
		hk_errf(err, errlen, "NFQUEUE %u: %s", c->queue,
		        strerror(ENOMEM));
		return NULL;
	}
	s->conf = *c;
	s->fd = -1;
	if ((s->h = nfq_open()) == NULL) {
		hk_errf(err, errlen,
		        "cannot open NFQUEUE %u: netlink socket: %s", c->queue,
		        strerror(errno));
		goto fail;
	}
	/*
	 * Per-family binding is a no-op since Linux 3.8 and may fail there;
	 * older kernels need it.
	 */
	if (nfq_unbind_pf(s->h, AF_INET) < 0 || nfq_bind_pf(s->h, AF_INET) < 0)
		hk_log(LOG_DEBUG, NFQ_LOG_SECTION,
		       "NFQUEUE %u: (un)binding AF_INET: %s (ignored)",
		       c->queue, strerror(errno));
	errno = 0;
	if ((s->qh = nfq_create_queue(s->h, c->queue, nfq_on_packet, s)) ==
	    NULL) {
		hk_errf(err, errlen, "cannot bind NFQUEUE %u: %s%s", c->queue,
		        errno != 0 ? strerror(errno) : "failed",
		        /* The kernel answers EPERM to both. */
		        errno == EPERM
		            ? " (already bound by another process? "
		              "CAP_NET_ADMIN missing?)"
		            : " (already bound by another process?)");
		goto fail;
	}
	if (nfq_set_mode(s->qh, NFQNL_COPY_PACKET, NFQ_COPY_RANGE) < 0) {
		hk_errf(err, errlen, "cannot set copy mode of NFQUEUE %u: %s",
		        c->queue, strerror(errno));
		goto fail;
	}
	if (c->maxlen != 0 && nfq_set_queue_maxlen(s->qh, c->maxlen) < 0) {
		hk_errf(err, errlen,
		        "cannot set the length of NFQUEUE %u to %" PRIu32
		        ": %s",
		        c->queue, c->maxlen, strerror(errno));
		goto fail;
	}
	mask = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;
	flags = NFQA_CFG_F_GSO | (c->fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);
	if (nfq_set_queue_flags(s->qh, mask, flags) < 0) {
		hk_errf(err, errlen,
		        "cannot set the flags of NFQUEUE %u (GSO%s): %s",
		        c->queue, c->fail_open ? ", fail-open" : "",
		        strerror(errno));
		goto fail;
	}
	s->fd = nfq_fd(s->h);
	if (c->rcvbuf != 0) {
		/* SO_RCVBUFFORCE, then SO_RCVBUF (capped by rmem_max). */
		got = nfnl_rcvbufsiz(nfq_nfnlh(s->h), c->rcvbuf);
		if (got < c->rcvbuf)
			hk_log(
			    LOG_WARNING, NFQ_LOG_SECTION,
			    "NFQUEUE %u: receive buffer is %u bytes, %" PRIu32
			    " asked",
			    c->queue, got, c->rcvbuf);
	}
	/* Off is the default; make sure losses are reported (ENOBUFS). */
	if (setsockopt(s->fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &off,
	               sizeof(off)) < 0) {
		hk_errf(err, errlen,
		        "NFQUEUE %u: cannot clear NETLINK_NO_ENOBUFS: %s",
		        c->queue, strerror(errno));
		goto fail;
	}
	if ((fl = fcntl(s->fd, F_GETFL)) < 0 ||
	    fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		hk_errf(err, errlen, "NFQUEUE %u: non-blocking mode: %s",
		        c->queue, strerror(errno));
		goto fail;
	}
	hk_log(LOG_DEBUG, NFQ_LOG_SECTION,
	       "NFQUEUE %u bound (maxlen %" PRIu32 ", rcvbuf %" PRIu32 "%s)",
	       c->queue, c->maxlen, c->rcvbuf,
	       c->fail_open ? ", fail-open" : "");
	return s;

fail:
	nfq_source_free(s);
	return NULL;
}

int
nfq_source_fd(const struct nfq_source *s)
{
	return s->fd;
}

/*
 * At most NFQ_READ_BATCH messages per call. cb owns the packets it gets
 * (refcnt 1) and may give their verdicts from inside the call. An error
 * message from the kernel (the answer to a verdict for an unknown id) is
 * counted in verdict_errors; a message that cannot be parsed in
 * recv_errors. HK_ERR only when the socket itself fails.
 */
int
nfq_source_read(struct nfq_source *s, void (*cb)(void *arg, struct packet *pkt),
                void *arg)
{
	const struct nlmsghdr *nlh;
	ssize_t r;
	int i;

	s->cb = cb;
	s->cb_arg = arg;
	s->delivered = 0;
	for (i = 0; i < NFQ_READ_BATCH; i++) {
		r = recv(s->fd, s->buf, NFQ_BUFSZ, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				s->stats.enobufs++;
				if (nfq_log_due(&s->enobufs_logged))
					hk_log(LOG_WARNING, NFQ_LOG_SECTION,
					       "NFQUEUE %u: the kernel dropped "
					       "packets, receive buffer full "
					       "(ENOBUFS %" PRIu64 " times so "
					       "far; raise rcvbuf)",
					       s->conf.queue, s->stats.enobufs);
				continue;
			}
			s->stats.recv_errors++;
			hk_log(LOG_ERROR, NFQ_LOG_SECTION,
			       "NFQUEUE %u: receive failed: %s", s->conf.queue,
			       strerror(errno));
			s->cb = NULL;
			return HK_ERR;
		}
		if ((size_t)r < sizeof(*nlh))
			continue;
		nlh = (const struct nlmsghdr *)s->buf;
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			s->stats.verdict_errors++;
			if (nfq_log_due(&s->error_logged))
				hk_log(LOG_ERROR, NFQ_LOG_SECTION,
				       "NFQUEUE %u: the kernel refused a "
				       "verdict (%" PRIu64 " verdict errors)",
				       s->conf.queue, s->stats.verdict_errors);
			continue;
		}
		if (nfq_handle_packet(s->h, (char *)s->buf, (int)r) < 0) {
			s->stats.recv_errors++;
			if (nfq_log_due(&s->error_logged))
				hk_log(LOG_ERROR, NFQ_LOG_SECTION,
				       "NFQUEUE %u: bad message: %s (%" PRIu64
				       " receive errors)",
				       s->conf.queue, strerror(errno),
				       s->stats.recv_errors);
		}
	}
	s->cb = NULL;
	return s->delivered;
}

/*
 * pkt must come from s and must not have had a verdict yet; it stays the
 * caller's. HK_OK, or HK_ERR (counted in verdict_errors).
 */
int
nfq_source_verdict(struct nfq_source *s, const struct packet *pkt, bool accept)
{
	if (pkt->capture_ctx != s) {
		s->stats.verdict_errors++;
		hk_log(LOG_ERROR, NFQ_LOG_SECTION,
		       "NFQUEUE %u: verdict for a packet of another source",
		       s->conf.queue);
		return HK_ERR;
	}
	return nfq_verdict_id(s, pkt->capture_id, accept);
}

/* Valid until nfq_source_close; updated by read and verdict. */
const struct nfq_stats *
nfq_source_stats(const struct nfq_source *s)
{
	return &s->stats;
}

void
nfq_source_close(struct nfq_source *s)
{
	if (s == NULL)
		return;
	if (s->nomem != 0)
		hk_log(LOG_WARNING, NFQ_LOG_SECTION,
		       "NFQUEUE %u: %" PRIu64 " packets were %s uninspected "
		       "(out of memory)",
		       s->conf.queue, s->nomem,
		       s->conf.fail_open ? "accepted" : "dropped");
	if (s->unseen != 0)
		hk_log(LOG_INFO, NFQ_LOG_SECTION,
		       "NFQUEUE %u: %" PRIu64 " packets received while binding "
		       "or unbinding were %s uninspected",
		       s->conf.queue, s->unseen,
		       s->conf.fail_open ? "accepted" : "dropped");
	nfq_source_free(s);
}

/* --- raw injector ------------------------------------------------------ */

/*
 * Needs CAP_NET_RAW and CAP_NET_ADMIN (SO_MARK). Returns an injector owned
 * by the caller (raw_injector_close) or NULL with a message in err.
 */
struct raw_injector *
raw_injector_open(uint32_t mark, char *err, size_t errlen)
{
	struct raw_injector *r;
	int on = 1;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		hk_errf(err, errlen, "raw socket: %s", strerror(ENOMEM));
		return NULL;
	}
	r->mark = mark;
	if ((r->fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) <
	    0) {
		hk_errf(err, errlen, "raw socket: %s", strerror(errno));
		free(r);
		return NULL;
	}
	if (setsockopt(r->fd, IPPROTO_IP, IP_HDRINCL, &on, sizeof(on)) < 0) {
		hk_errf(err, errlen, "raw socket: IP_HDRINCL: %s",
		        strerror(errno));
		goto fail;
	}
	if (setsockopt(r->fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		hk_errf(err, errlen, "raw socket: SO_MARK 0x%" PRIx32 ": %s",
		        mark, strerror(errno));
		goto fail;
	}
	return r;

fail:
	if (close(r->fd) < 0)
		hk_log(LOG_DEBUG, NFQ_LOG_SECTION, "raw socket: close: %s",
		       strerror(errno));
	free(r);
	return NULL;
}

static int
raw_injector_fail(struct raw_injector *r, const char *why)
{
	r->errors++;
	if (nfq_log_due(&r->error_logged))
		hk_log(LOG_WARNING, NFQ_LOG_SECTION,
		       "raw socket: cannot send a forged packet: %s (%" PRIu64
		       " errors)",
		       why, r->errors);
	return HK_ERR;
}

/*
 * The IPv4 header must be whole and its total length within caplen (bytes
 * after it are not sent). The kernel fills the header checksum; the
 * transport checksum must be right already. The packet stays the
 * caller's.
 */
int
raw_injector_send(struct raw_injector *r, const struct packet *pkt)
{
	struct sockaddr_in dst;
	const uint8_t *ip;
	uint32_t avail, tot;
	ssize_t n;

	if (pkt->l3_off > pkt->caplen ||
	    pkt->caplen - pkt->l3_off < NFQ_IPV4_HLEN_MIN)
		return raw_injector_fail(r, "truncated IPv4 header");
	ip = packet_l3(pkt);
	avail = pkt->caplen - pkt->l3_off;
	tot = hk_rd16(ip + 2);
	if (ip[0] >> 4 != 4 || (uint32_t)(ip[0] & 0x0f) * 4 < NFQ_IPV4_HLEN_MIN)
		return raw_injector_fail(r, "not an IPv4 header");
	if (tot < (uint32_t)(ip[0] & 0x0f) * 4 || tot > avail)
		return raw_injector_fail(r, "bad IPv4 total length");
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	memcpy(&dst.sin_addr, ip + 16, sizeof(dst.sin_addr));
	n = sendto(r->fd, ip, tot, 0, (const struct sockaddr *)&dst,
	           sizeof(dst));
	if (n < 0)
		return raw_injector_fail(r, strerror(errno));
	if ((size_t)n != tot)
		return raw_injector_fail(r, "short write");
	r->sent++;
	return HK_OK;
}

void
raw_injector_close(struct raw_injector *r)
{
	if (r == NULL)
		return;
	if (r->errors != 0)
		hk_log(LOG_WARNING, NFQ_LOG_SECTION,
		       "raw socket: %" PRIu64
		       " forged packets not sent, %" PRIu64 " sent",
		       r->errors, r->sent);
	if (close(r->fd) < 0)
		hk_log(LOG_DEBUG, NFQ_LOG_SECTION, "raw socket: close: %s",
		       strerror(errno));
	free(r);
}

/* --- iptables ---------------------------------------------------------- */

extern char **environ;

/* Strip the trailing newlines of a message. */
static void
nfq_chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/*
 * Run argv (argv[0] looked up in PATH) with stdin and stdout on /dev/null
 * and stderr captured into out (outlen bytes, always terminated, the rest
 * discarded). HK_OK with *status the exit status (-1 when killed by a
 * signal), or HK_ERR with a message in out when it could not be run.
 */
static int
nfq_run(char *const argv[], char *out, size_t outlen, int *status)
{
	posix_spawn_file_actions_t fa;
	char drain[256];
	size_t used = 0;
	ssize_t n;
	pid_t pid;
	int pfd[2], rc, wst;

	out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		hk_errf(out, outlen, "pipe: %s", strerror(errno));
		return HK_ERR;
	}
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0) {
		hk_errf(out, outlen, "spawn: %s", strerror(rc));
		goto fail_pipe;
	}
	/* dup2 clears close-on-exec on fd 2 only; both pipe ends close. */
	if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	                                           O_RDONLY, 0)) != 0 ||
	    (rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
	                                           O_WRONLY, 0)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, pfd[1], 2)) != 0 ||
	    (rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ)) != 0) {
		hk_errf(out, outlen, "cannot run %s: %s", argv[0],
		        strerror(rc));
		if (posix_spawn_file_actions_destroy(&fa) != 0)
			hk_log(LOG_DEBUG, NFQ_LOG_SECTION, "spawn: destroy");
		goto fail_pipe;
	}
	if (posix_spawn_file_actions_destroy(&fa) != 0)
		hk_log(LOG_DEBUG, NFQ_LOG_SECTION, "spawn: destroy");
	if (close(pfd[1]) < 0)
		hk_log(LOG_DEBUG, NFQ_LOG_SECTION, "pipe: close: %s",
		       strerror(errno));
	for (;;) {
		if (used + 1 < outlen)
			n = read(pfd[0], out + used, outlen - 1 - used);
		else
			n = read(pfd[0], drain, sizeof(drain));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used + 1 < outlen)
			used += (size_t)n;
	}
	out[used] = '\0';
	if (close(pfd[0]) < 0)
		hk_log(LOG_DEBUG, NFQ_LOG_SECTION, "pipe: close: %s",
		       strerror(errno));
	while ((rc = (int)waitpid(pid, &wst, 0)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		hk_errf(out, outlen, "waiting for %s: %s", argv[0],
		        strerror(errno));
		return HK_ERR;
	}
	*status = WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
	nfq_chomp(out);
	return HK_OK;

fail_pipe:
	if (close(pfd[0]) < 0 || close(pfd[1]) < 0)
		hk_log(LOG_DEBUG, NFQ_LOG_SECTION, "pipe: close: %s",
		       strerror(errno));
	return HK_ERR;
}

/* Join argv with spaces into buf (for messages), cut when too long. */
static void
nfq_join(char *const argv[], char *buf, size_t buflen)
{
	size_t used = 0;
	int n, i;

	buf[0] = '\0';
	for (i = 0; argv[i] != NULL && used < buflen; i++) {
		n = snprintf(buf + used, buflen - used, "%s%s", i ? " " : "",
		             argv[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Whether an iptables -D failed only because the rule was not there. */
static bool
nfq_rule_absent(const char *msg)
{
	return strstr(msg, "does a matching rule exist") != NULL ||
	       strstr(msg, "does not exist") != NULL ||
	       strstr(msg, "No chain/target/match by that name") != NULL;
}

/*
 * Add (-I) or delete (-D) one rule. dir is "--dport", "--sport" or NULL.
 * HK_OK, or HK_ERR with the command and its message in err; a deletion of
 * a rule that does not exist is HK_OK.
 */
static int
nfq_iptables_rule(bool install, const char *chain, const char *qopt,
                  const char *qval, const char *dir, uint16_t port,
                  bool fail_open, uint32_t mark, char *err, size_t errlen)
{
	char *argv[NFQ_IPTABLES_ARGS_MAX];
	char portstr[8], markstr[16], msg[NFQ_IPTABLES_ERR_MAX], cmd[256];
	int argc = 0, status;

	if (snprintf(portstr, sizeof(portstr), "%u", port) < 0 ||
	    snprintf(markstr, sizeof(markstr), "0x%" PRIx32, mark) < 0) {
		hk_errf(err, errlen, "iptables: formatting failed");
		return HK_ERR;
	}
	argv[argc++] = "iptables";
	argv[argc++] = "-w"; /* wait for the xtables lock */
	argv[argc++] = "-t";
	argv[argc++] = "filter";
	argv[argc++] = install ? "-I" : "-D";
	argv[argc++] = (char *)chain;
	argv[argc++] = "-p";
	argv[argc++] = "tcp";
	if (dir != NULL) {
		argv[argc++] = (char *)dir;
		argv[argc++] = portstr;
	}
	/* Mark 0 is "no mark": "! --mark 0" would match marked packets only. */
	if (mark != 0) {
		argv[argc++] = "-m";
		argv[argc++] = "mark";
		argv[argc++] = "!";
		argv[argc++] = "--mark";
		argv[argc++] = markstr;
	}
	argv[argc++] = "-j";
	argv[argc++] = "NFQUEUE";
	argv[argc++] = (char *)qopt;
	argv[argc++] = (char *)qval;
	if (fail_open)
		argv[argc++] = "--queue-bypass";
	argv[argc] = NULL;

	if (nfq_run(argv, msg, sizeof(msg), &status) < 0) {
		hk_errf(err, errlen, "%s", msg);
		return HK_ERR;
	}
	if (status == 0)
		return HK_OK;
	if (!install && nfq_rule_absent(msg))
		return HK_OK;
	nfq_join(argv, cmd, sizeof(cmd));
	if (status < 0)
		hk_errf(err, errlen, "%s: killed by a signal", cmd);
	else
		hk_errf(err, errlen, "%s: exit %d: %s", cmd, status,
		        msg[0] != '\0' ? msg : "no message");
	return HK_ERR;
}

/*
 * The queues must be consecutive and ascending (iptables balances over a
 * range only); one queue gives --queue-num. With port != 0 there are two
 * rules (--dport port, and --sport port for the replies), else one. An
 * install that fails half way removes what it added. A removal removes
 * what it can and tolerates absent rules. mark 0 means no mark match.
 */
int
nfq_iptables(bool install, const char *chain, const uint16_t *queues,
             uint32_t nqueues, uint16_t port, bool fail_open, uint32_t mark,
             char *err, size_t errlen)
{
	static const char *const dirs[2] = {"--dport", "--sport"};
	char qval[16], scratch[NFQ_IPTABLES_ERR_MAX];
	const char *qopt, *p;
	int i, n, nrules, rc = HK_OK;

	if (chain == NULL || chain[0] == '\0' || chain[0] == '-' ||
	    strlen(chain) > 28) {
		hk_errf(err, errlen, "iptables: bad chain name");
		return HK_ERR;
	}
	for (p = chain; *p != '\0'; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')) {
			hk_errf(err, errlen, "iptables: bad chain name %s",
			        chain);
			return HK_ERR;
		}
	}
	if (queues == NULL || nqueues == 0) {
		hk_errf(err, errlen, "iptables: no queue");
		return HK_ERR;
	}
	for (i = 1; i < (int)nqueues; i++) {
		if ((uint32_t)queues[i] != (uint32_t)queues[0] + (uint32_t)i) {
			hk_errf(
			    err, errlen,
			    "iptables: queues must be consecutive (%u after "
			    "%u)",
			    queues[i], queues[i - 1]);
			return HK_ERR;
		}
	}
	if (nqueues == 1) {
		qopt = "--queue-num";
		n = snprintf(qval, sizeof(qval), "%u", queues[0]);
	} else {
		qopt = "--queue-balance";
		n = snprintf(qval, sizeof(qval), "%u:%u", queues[0],
		             queues[nqueues - 1]);
	}
	if (n < 0 || (size_t)n >= sizeof(qval)) {
		hk_errf(err, errlen, "iptables: formatting failed");
		return HK_ERR;
	}

	nrules = port != 0 ? 2 : 1;
	for (i = 0; i < nrules; i++) {
		if (nfq_iptables_rule(
		        install, chain, qopt, qval, port != 0 ? dirs[i] : NULL,
		        port, fail_open, mark, rc == HK_OK ? err : scratch,
		        rc == HK_OK ? errlen : sizeof(scratch)) == HK_OK)
			continue;
		rc = HK_ERR;
		if (!install)
			continue; /* remove what can be removed */
		/* Undo the rules added before this one. */
		while (--i >= 0) {
			if (nfq_iptables_rule(false, chain, qopt, qval,
			                      port != 0 ? dirs[i] : NULL, port,
			                      fail_open, mark, scratch,
			                      sizeof(scratch)) < 0)
				hk_log(LOG_WARNING, NFQ_LOG_SECTION,
				       "undoing an iptables rule: %s", scratch);
		}
		break;
	}
	return rc;
}
