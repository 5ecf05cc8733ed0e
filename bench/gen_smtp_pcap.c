/*
 * gen_smtp_pcap: deterministic generator of large SMTP captures for the
 * benchmarks (bench/run.sh; see bench/README.md).
 *
 * Every connection is one complete SMTP session as seen by a tap in front of
 * the server 192.0.2.25:25: three-way handshake (MSS 1448), 220 greeting,
 * EHLO and its multi-line 250, MAIL FROM, one to three RCPT TO, DATA, the
 * message in segments of at most 1448 bytes with the server ACKing every
 * second segment, the end-of-data reply, QUIT, 221 and a FIN close from both
 * sides.  Client turns come one round-trip time after the server's packet
 * (10 to 110 ms per connection), server turns 0.1 to 1 ms after the client's,
 * and connection i starts at BASE_TIME + i * 2 ms (plus up to 1 ms jitter), so
 * a few hundred connections are open at once.
 *
 * The output is a classic little-endian pcap (Ethernet, microseconds) written
 * with fwrite.  All randomness comes from xorshift64* generators seeded from
 * --seed and the connection index, so the same arguments always give the same
 * bytes.  Connections are generated whole, one buffer each, and merged into
 * timestamp order with a min-heap.
 *
 * A summary (connections, mails, senders @suspicious.org, packets, bytes) is
 * printed on stderr and written to OUT.txt next to the capture.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSS          1448
#define ETH_HLEN     14
#define IP_HLEN      20
#define TCP_HLEN     20
#define TCP_OPT_MSS  4
#define PCAP_HDRLEN  24
#define PCAP_RECHDR  16
#define PCAP_SNAPLEN 65535
#define LINKTYPE_ETH 1

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_PSH 0x08
#define TH_ACK 0x10

#define SERVER_IP   0xc0000219u /* 192.0.2.25 */
#define SERVER_PORT 25
#define CLIENT_WIN  64240
#define SERVER_WIN  65160

/* 2023-11-14 22:13:20 UTC, in microseconds. */
#define BASE_TIME_US  (1700000000ULL * 1000000ULL)
#define START_STEP_US 2000
#define START_JIT_US  1000
#define RTT_MIN_US    10000
#define RTT_SPAN_US   100000
#define INIT_CWND     10

#define SUSPICIOUS_DOMAIN "suspicious.org"
#define SUSPICIOUS_RATE   50 /* one sender in 50 */
#define DEFAULT_SEED      20240601ULL
#define OUTBUF_SIZE       (8u << 20)

/* 10.x.y.z with z in 1..254: 65536 * 254 distinct client addresses. */
#define CLIENT_ADDRS (65536u * 254u)

struct profile {
	const char *name;
	uint32_t connections;
	uint32_t text_min, text_max;     /* plain text body, bytes */
	uint32_t attach_min, attach_max; /* raw attachment, 0 = none */
	uint32_t write_min, write_max;   /* client writes, 0 = bulk */
};

/*
 * short: one small text mail per connection, which the client writes a few
 * lines at a time (writes of 112 to 352 bytes rounded up to a line end, each
 * pushed as its own segment), hence many small segments: about 33 packets
 * and 5,000 bytes per connection.  attach: a MIME multipart mail with a
 * base64 attachment, written in bulk, hence full 1448-byte segments: about
 * 61 packets and 45,000 bytes per connection.
 */
static const struct profile profiles[] = {
    {"short", 20000, 1200, 2650, 0, 0, 112, 352},
    {"attach", 10000, 300, 1500, 10000, 46500, 0, 0},
};

struct rng {
	uint64_t s;
};

struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* One connection's packets, as ready-to-write pcap records. */
struct conn {
	struct buf recs;
	size_t rd;      /* offset of the next record to write */
	uint64_t ts;    /* timestamp of that record, us */
	uint64_t order; /* connection index, breaks timestamp ties */
	int started;
	struct conn *next_free;
};

/* Per-connection generation state. */
struct gen {
	struct rng rng;
	struct buf *out;
	uint64_t t; /* current time, us */
	uint32_t rtt;
	uint32_t cip;
	uint16_t cport;
	uint8_t cttl;
	uint32_t cseq, sseq; /* next sequence number of each side */
	uint16_t cid, sid;   /* next IP id of each side */
	uint32_t npkts;
	uint64_t payload;
};

struct stats {
	uint64_t connections;
	uint64_t mails;
	uint64_t recipients;
	uint64_t suspicious;
	uint64_t packets;
	uint64_t file_bytes;
	uint64_t wire_bytes;
	uint64_t payload_bytes;
	uint64_t message_bytes;
	uint64_t max_open;
	uint64_t first_ts, last_ts;
};

static const char *const sender_domains[] = {
    "example.com",         "example.org",       "mail.example.com",
    "corp.example",        "shop.example",      "news.example.org",
    "uni.example.edu",     "acme-widgets.test", "travel.example",
    "bank.example.com",    "lists.example.org", "partner.example.net",
    "cloudmail.test",      "billing.example",   "hr.corp.example",
    "support.example.com",
};

static const char *const first_names[] = {
    "alice",  "bob",   "carol", "dave",    "erin",   "frank",  "grace",
    "heidi",  "ivan",  "judy",  "mallory", "niaj",   "olivia", "peggy",
    "rupert", "sybil", "trent", "victor",  "walter", "yves",
};

static const char *const last_names[] = {
    "smith",  "martin", "dubois",  "garcia", "jones",  "moreau",
    "nguyen", "brown",  "lefevre", "miller", "wilson", "bernard",
};

static const char *const words[] = {
    "the",      "quarterly", "report",   "meeting",  "please",   "find",
    "attached", "invoice",   "schedule", "project",  "update",   "review",
    "budget",   "team",      "deadline", "customer", "shipping", "order",
    "confirm",  "thanks",    "regards",  "network",  "server",   "backup",
    "policy",   "security",  "account",  "password", "delivery", "status",
    "tomorrow", "monday",    "friday",   "office",   "contract", "draft",
    "final",    "version",   "notes",    "agenda",   "minutes",  "call",
    "and",      "for",       "with",     "from",     "about",    "this",
    "that",     "will",      "have",     "been",     "our",      "your",
    "new",      "next",      "week",     "month",    "data",     "sales",
    "summary",  "request",   "approval", "issue",
};

static const struct {
	const char *type;
	const char *ext;
	const char *magic;
	size_t magic_len;
} attach_kinds[] = {
    {"application/pdf", "pdf", "%PDF-1.5\n%\xe2\xe3\xcf\xd3\n", 15},
    {"application/zip", "zip", "PK\x03\x04\x14\x00\x00\x00\x08\x00", 10},
    {"image/jpeg", "jpg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00", 11},
    {"application/octet-stream", "bin", "", 0},
};

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void
die(const char *msg)
{
	fprintf(stderr, "gen_smtp_pcap: %s\n", msg);
	exit(1);
}

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void
rng_seed(struct rng *r, uint64_t seed)
{
	r->s = splitmix64(seed);
	if (r->s == 0)
		r->s = 0x2545f4914f6cdd1dULL;
}

/* xorshift64* (Vigna 2014). */
static uint64_t
rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n); the modulo bias is irrelevant for n < 2^32. */
static uint32_t
rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)((rng_next(r) >> 32) % n);
}

static uint32_t
rng_range(struct rng *r, uint32_t lo, uint32_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

/*
 * Returns a pointer to n new bytes at the end of b, valid until the next
 * call that grows b.
 */
static uint8_t *
buf_grow(struct buf *b, size_t n)
{
	uint8_t *p;
	size_t cap;

	if (b->cap - b->len < n) {
		cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			die("out of memory");
		b->p = p;
		b->cap = cap;
	}
	p = b->p + b->len;
	b->len += n;
	return p;
}

static void
buf_add(struct buf *b, const void *data, size_t n)
{
	memcpy(buf_grow(b, n), data, n);
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_fmt(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		die("internal: formatted line too long");
	buf_add(b, tmp, (size_t)n);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static void
put32le(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static uint32_t
get32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Ones' complement sum of big-endian 16-bit words (RFC 1071). */
static uint64_t
csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	while (len >= 4) {
		sum +=
		    (uint32_t)(p[0] << 8 | p[1]) + (uint32_t)(p[2] << 8 | p[3]);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		sum += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t
csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static const uint8_t server_mac[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x25};
static const uint8_t router_mac[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x01};

/*
 * Appends one pcap record carrying a TCP segment from the client (dir 0) or
 * the server (dir 1) at time g->t, and advances that side's sequence number.
 * The ACK field always acknowledges everything the other side has sent.
 */
static void
gen_emit(struct gen *g, int from_server, uint8_t flags, const void *data,
         size_t len)
{
	size_t optlen = (flags & TH_SYN) ? TCP_OPT_MSS : 0;
	size_t tcplen = TCP_HLEN + optlen + len;
	size_t iplen = IP_HLEN + tcplen;
	size_t framelen = ETH_HLEN + iplen;
	uint8_t *rec, *eth, *ip, *tcp;
	uint32_t src, dst, *seq, ack;
	uint64_t sum;

	rec = buf_grow(g->out, PCAP_RECHDR + framelen);
	put32le(rec, (uint32_t)(g->t / 1000000));
	put32le(rec + 4, (uint32_t)(g->t % 1000000));
	put32le(rec + 8, (uint32_t)framelen);
	put32le(rec + 12, (uint32_t)framelen);

	eth = rec + PCAP_RECHDR;
	memcpy(eth, from_server ? router_mac : server_mac, 6);
	memcpy(eth + 6, from_server ? server_mac : router_mac, 6);
	put16(eth + 12, 0x0800);

	src = from_server ? SERVER_IP : g->cip;
	dst = from_server ? g->cip : SERVER_IP;
	ip = eth + ETH_HLEN;
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)iplen);
	put16(ip + 4, from_server ? g->sid++ : g->cid++);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = from_server ? 64 : g->cttl;
	ip[9] = 6;
	put16(ip + 10, 0);
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, csum_fold(csum_add(0, ip, IP_HLEN)));

	seq = from_server ? &g->sseq : &g->cseq;
	ack = from_server ? g->cseq : g->sseq;
	tcp = ip + IP_HLEN;
	put16(tcp, from_server ? SERVER_PORT : g->cport);
	put16(tcp + 2, from_server ? g->cport : SERVER_PORT);
	put32(tcp + 4, *seq);
	put32(tcp + 8, (flags & TH_ACK) ? ack : 0);
	tcp[12] = (uint8_t)(((TCP_HLEN + optlen) / 4) << 4);
	tcp[13] = flags;
	put16(tcp + 14, from_server ? SERVER_WIN : CLIENT_WIN);
	put16(tcp + 16, 0);
	put16(tcp + 18, 0);
	if (optlen) {
		tcp[20] = 2; /* MSS, RFC 9293 section 3.7.1 */
		tcp[21] = 4;
		put16(tcp + 22, MSS);
	}
	if (len)
		memcpy(tcp + TCP_HLEN + optlen, data, len);

	/* Pseudo-header: addresses, protocol, TCP length (RFC 9293 3.1). */
	sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 +
	      tcplen;
	put16(tcp + 16, csum_fold(csum_add(sum, tcp, tcplen)));

	*seq += (uint32_t)len + ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
	g->npkts++;
	g->payload += len;
}

static void
gen_send(struct gen *g, int from_server, const char *line)
{
	gen_emit(g, from_server, TH_ACK | TH_PSH, line, strlen(line));
}

/* A server turn: 0.1 to 1 ms of processing. */
static void
gen_server_delay(struct gen *g)
{
	g->t += rng_range(&g->rng, 100, 1000);
}

/* A client turn: one round trip plus up to 0.2 ms of client processing. */
static void
gen_client_delay(struct gen *g)
{
	g->t += g->rtt + rng_below(&g->rng, 200);
}

static void
add_words_line(struct buf *b, struct rng *r, uint32_t target)
{
	size_t start = b->len;
	const char *w;

	while (b->len - start < target) {
		w = words[rng_below(r, NELEMS(words))];
		if (b->len != start)
			buf_str(b, " ");
		buf_str(b, w);
	}
	buf_str(b, "\r\n");
}

/*
 * Appends plain text of about n bytes as CRLF lines of 40 to 76 characters,
 * with an occasional paragraph break and, in one mail in 32, a line starting
 * with a dot, stuffed as RFC 5321 section 4.5.2 requires.
 */
static void
add_text(struct buf *b, struct rng *r, uint32_t n)
{
	size_t start = b->len;

	while (b->len - start < n) {
		add_words_line(b, r, rng_range(r, 40, 70));
		if (rng_below(r, 8) == 0)
			buf_str(b, "\r\n");
	}
	if (rng_below(r, 32) == 0)
		buf_str(b, "....and that is all for now.\r\n");
}

static void
add_base64(struct buf *b, struct rng *r, uint32_t n, const char *magic,
           size_t magic_len)
{
	uint8_t in[57];
	uint8_t *out;
	uint32_t done = 0, k, i, v;
	uint64_t x = 0;
	int avail = 0;

	/* 57 raw bytes make one 76-character line (RFC 2045 section 6.8). */
	while (done < n) {
		k = n - done < 57 ? n - done : 57;
		for (i = 0; i < k; i++) {
			if (done + i < magic_len)
				in[i] = (uint8_t)magic[done + i];
			else {
				if (avail == 0) {
					x = rng_next(r);
					avail = 8;
				}
				in[i] = (uint8_t)x;
				x >>= 8;
				avail--;
			}
		}
		out = buf_grow(b, (k + 2) / 3 * 4 + 2);
		for (i = 0; i + 3 <= k; i += 3) {
			v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			    in[i + 2];
			*out++ = b64chars[v >> 18];
			*out++ = b64chars[(v >> 12) & 63];
			*out++ = b64chars[(v >> 6) & 63];
			*out++ = b64chars[v & 63];
		}
		if (k - i == 1) {
			v = (uint32_t)in[i] << 16;
			*out++ = b64chars[v >> 18];
			*out++ = b64chars[(v >> 12) & 63];
			*out++ = '=';
			*out++ = '=';
		} else if (k - i == 2) {
			v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
			*out++ = b64chars[v >> 18];
			*out++ = b64chars[(v >> 12) & 63];
			*out++ = b64chars[(v >> 6) & 63];
			*out++ = '=';
		}
		*out++ = '\r';
		*out++ = '\n';
		done += k;
	}
}

static void
random_hex(struct rng *r, char *dst, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = hex[rng_below(r, 16)];
	dst[n] = '\0';
}

/*
 * Builds the DATA stream of one mail into msg: header, body, and the
 * terminating ".\r\n" (the preceding CRLF ends the last body line).
 */
static void
build_message(struct buf *msg, struct rng *r, const struct profile *pf,
              const char *from, const char *from_name, char rcpts[][64],
              uint32_t nrcpt, uint64_t t_us)
{
	char date[64], boundary[24], mid[24], *subj;
	struct tm tm;
	time_t secs = (time_t)(t_us / 1000000);
	uint32_t i, kind, docnum;
	struct buf sb = {0};

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	random_hex(r, mid, 16);
	add_words_line(&sb, r, rng_range(r, 12, 40));
	buf_grow(&sb, 1)[0] = '\0';
	subj = (char *)sb.p;
	subj[sb.len - 3] = '\0'; /* drop the CRLF */

	buf_fmt(msg, "From: %s <%s>\r\n", from_name, from);
	buf_fmt(msg, "To: %s", rcpts[0]);
	for (i = 1; i < nrcpt; i++)
		buf_fmt(msg, ",\r\n    %s", rcpts[i]);
	buf_str(msg, "\r\n");
	buf_fmt(msg, "Subject: %s\r\n", subj);
	buf_fmt(msg, "Date: %s\r\n", date);
	buf_fmt(msg, "Message-ID: <%s@%s>\r\n", mid, strchr(from, '@') + 1);
	buf_str(msg, "MIME-Version: 1.0\r\n");
	free(sb.p);

	if (pf->attach_max == 0) {
		buf_str(msg, "Content-Type: text/plain; charset=us-ascii\r\n"
		             "Content-Transfer-Encoding: 7bit\r\n\r\n");
		add_text(msg, r, rng_range(r, pf->text_min, pf->text_max));
	} else {
		random_hex(r, boundary, 20);
		kind = rng_below(r, NELEMS(attach_kinds));
		buf_fmt(
		    msg,
		    "Content-Type: multipart/mixed; boundary=\"=_%s\"\r\n\r\n"
		    "This is a multi-part message in MIME format.\r\n\r\n"
		    "--=_%s\r\n"
		    "Content-Type: text/plain; charset=us-ascii\r\n"
		    "Content-Transfer-Encoding: 7bit\r\n\r\n",
		    boundary, boundary);
		add_text(msg, r, rng_range(r, pf->text_min, pf->text_max));
		docnum = rng_below(r, 10000);
		buf_fmt(msg,
		        "\r\n--=_%s\r\n"
		        "Content-Type: %s; name=\"doc-%04u.%s\"\r\n"
		        "Content-Transfer-Encoding: base64\r\n"
		        "Content-Disposition: attachment; "
		        "filename=\"doc-%04u.%s\"\r\n\r\n",
		        boundary, attach_kinds[kind].type, docnum,
		        attach_kinds[kind].ext, docnum, attach_kinds[kind].ext);
		add_base64(msg, r, rng_range(r, pf->attach_min, pf->attach_max),
		           attach_kinds[kind].magic,
		           attach_kinds[kind].magic_len);
		buf_fmt(msg, "--=_%s--\r\n", boundary);
	}
}

/*
 * Sends the DATA stream: cut into client writes (line groups for the short
 * profile, one bulk write otherwise), each write into segments of at most
 * MSS bytes, sent in slow-start flights of INIT_CWND, 2 * INIT_CWND, ...
 * segments one RTT apart; the server ACKs every second segment (RFC 1122
 * section 4.2.3.2).
 */
static void
gen_send_data(struct gen *g, const struct profile *pf, const struct buf *msg)
{
	size_t pos = 0, wend, seglen, target, p;
	uint32_t cwnd = INIT_CWND, inflight = 0, nseg = 0;
	uint64_t flight_start = g->t;

	while (pos < msg->len) {
		wend = msg->len;
		if (pf->write_max) {
			target =
			    rng_range(&g->rng, pf->write_min, pf->write_max);
			if (pos + target < msg->len) {
				p = pos + target;
				while (p < msg->len && msg->p[p - 1] != '\n')
					p++;
				wend = p;
			}
		}
		while (pos < wend) {
			if (inflight == cwnd) {
				/* Wait for the ACK clock of the first flight.
				 */
				if (flight_start + g->rtt > g->t)
					g->t = flight_start + g->rtt;
				else
					g->t += rng_range(&g->rng, 20, 150);
				flight_start = g->t;
				cwnd *= 2;
				inflight = 0;
			} else if (nseg > 0)
				g->t += rng_range(&g->rng, 20, 150);
			seglen = wend - pos < MSS ? wend - pos : MSS;
			gen_emit(g, 0,
			         TH_ACK | (pos + seglen == wend ? TH_PSH : 0),
			         msg->p + pos, seglen);
			pos += seglen;
			nseg++;
			inflight++;
			if (nseg % 2 == 0) {
				g->t += rng_range(&g->rng, 10, 40);
				gen_emit(g, 1, TH_ACK, NULL, 0);
			}
		}
	}
}

struct conn_info {
	int suspicious;
	uint32_t nrcpt;
	uint64_t msg_bytes;
};

/*
 * Generates connection idx (all its packets) into out.  The first packet is
 * at BASE_TIME + idx * START_STEP plus jitter, so start times increase with
 * idx.
 */
static void
gen_connection(struct buf *out, const struct profile *pf, uint64_t seed,
               uint64_t idx, struct conn_info *ci)
{
	struct gen g;
	struct buf msg = {0};
	char from[96], from_name[64], ehlo[128], line[256], qid[12];
	char rcpts[3][64];
	const char *domain, *fn, *ln;
	uint32_t a, i, nrcpt;

	memset(&g, 0, sizeof(g));
	rng_seed(&g.rng, seed ^ splitmix64(idx + 1));
	g.out = out;
	g.t = BASE_TIME_US + idx * START_STEP_US +
	      rng_below(&g.rng, START_JIT_US);
	g.rtt = RTT_MIN_US + rng_below(&g.rng, RTT_SPAN_US);
	/* 40503 is odd and prime to 127: a bijection on CLIENT_ADDRS. */
	a = (uint32_t)((idx * 40503u + 7919u) % CLIENT_ADDRS);
	g.cip = 0x0a000000u | (a / (256 * 254)) << 16 | ((a / 254) % 256) << 8 |
	        (a % 254 + 1);
	g.cport = (uint16_t)rng_range(&g.rng, 32768, 60999);
	g.cttl = (uint8_t)rng_range(&g.rng, 44, 60);
	g.cseq = (uint32_t)rng_next(&g.rng);
	g.sseq = (uint32_t)rng_next(&g.rng);
	g.cid = (uint16_t)rng_next(&g.rng);
	g.sid = (uint16_t)rng_next(&g.rng);

	fn = first_names[rng_below(&g.rng, NELEMS(first_names))];
	ln = last_names[rng_below(&g.rng, NELEMS(last_names))];
	ci->suspicious = rng_below(&g.rng, SUSPICIOUS_RATE) == 0;
	domain =
	    ci->suspicious
	        ? SUSPICIOUS_DOMAIN
	        : sender_domains[rng_below(&g.rng, NELEMS(sender_domains))];
	snprintf(from, sizeof(from), "%s.%s%u@%s", fn, ln,
	         rng_below(&g.rng, 100), domain);
	snprintf(from_name, sizeof(from_name), "%c%s %c%s", fn[0] - 32, fn + 1,
	         ln[0] - 32, ln + 1);
	snprintf(ehlo, sizeof(ehlo), "EHLO mta%u.%s\r\n",
	         rng_range(&g.rng, 1, 9), domain);
	a = rng_below(&g.rng, 100);
	nrcpt = a < 60 ? 1 : a < 85 ? 2 : 3;
	for (i = 0; i < nrcpt; i++) {
		/* Separate statements: argument order is unspecified. */
		fn = first_names[rng_below(&g.rng, NELEMS(first_names))];
		ln = last_names[rng_below(&g.rng, NELEMS(last_names))];
		snprintf(rcpts[i], sizeof(rcpts[i]), "%s.%s@example.net", fn,
		         ln);
	}
	random_hex(&g.rng, qid, 10);
	build_message(&msg, &g.rng, pf, from, from_name, rcpts, nrcpt, g.t);
	buf_str(&msg, ".\r\n");

	/* Handshake (RFC 9293 section 3.5). */
	gen_emit(&g, 0, TH_SYN, NULL, 0);
	g.t += rng_range(&g.rng, 30, 200);
	gen_emit(&g, 1, TH_SYN | TH_ACK, NULL, 0);
	gen_client_delay(&g);
	gen_emit(&g, 0, TH_ACK, NULL, 0);

	/* RFC 5321 section 3: greeting, EHLO, one transaction, QUIT. */
	gen_server_delay(&g);
	gen_send(&g, 1, "220 mx.example.net ESMTP\r\n");
	gen_client_delay(&g);
	gen_send(&g, 0, ehlo);
	gen_server_delay(&g);
	gen_send(&g, 1,
	         "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
	         "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n");
	gen_client_delay(&g);
	snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", from);
	gen_send(&g, 0, line);
	gen_server_delay(&g);
	gen_send(&g, 1, "250 2.1.0 Ok\r\n");
	for (i = 0; i < nrcpt; i++) {
		gen_client_delay(&g);
		snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", rcpts[i]);
		gen_send(&g, 0, line);
		gen_server_delay(&g);
		gen_send(&g, 1, "250 2.1.5 Ok\r\n");
	}
	gen_client_delay(&g);
	gen_send(&g, 0, "DATA\r\n");
	gen_server_delay(&g);
	gen_send(&g, 1, "354 End data with <CR><LF>.<CR><LF>\r\n");
	gen_client_delay(&g);
	gen_send_data(&g, pf, &msg);
	/* Queueing the mail costs an fsync. */
	g.t += rng_range(&g.rng, 200, 2000);
	snprintf(line, sizeof(line), "250 2.0.0 Ok: queued as %s\r\n", qid);
	gen_send(&g, 1, line);
	gen_client_delay(&g);
	gen_send(&g, 0, "QUIT\r\n");
	gen_server_delay(&g);
	gen_send(&g, 1, "221 2.0.0 Bye\r\n");

	/* The server closes first, the client answers with its own FIN. */
	g.t += rng_range(&g.rng, 20, 100);
	gen_emit(&g, 1, TH_FIN | TH_ACK, NULL, 0);
	gen_client_delay(&g);
	gen_emit(&g, 0, TH_FIN | TH_ACK, NULL, 0);
	g.t += rng_range(&g.rng, 30, 200);
	gen_emit(&g, 1, TH_ACK, NULL, 0);

	ci->nrcpt = nrcpt;
	ci->msg_bytes = msg.len;
	free(msg.p);
}

static uint64_t
rec_ts(const uint8_t *rec)
{
	return (uint64_t)get32le(rec) * 1000000 + get32le(rec + 4);
}

static int
conn_less(const struct conn *a, const struct conn *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts;
	return a->order < b->order;
}

static void
heap_push(struct conn **h, size_t *n, struct conn *c)
{
	size_t i = (*n)++, parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!conn_less(c, h[parent]))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = c;
}

/* Restores the heap after h[0] changed or was replaced. */
static void
heap_sift(struct conn **h, size_t n)
{
	struct conn *c = h[0];
	size_t i = 0, child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= n)
			break;
		if (child + 1 < n && conn_less(h[child + 1], h[child]))
			child++;
		if (!conn_less(h[child], c))
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = c;
}

struct writer {
	FILE *fp;
	uint8_t *buf;
	size_t len;
};

static void
writer_flush(struct writer *w)
{
	if (w->len && fwrite(w->buf, 1, w->len, w->fp) != w->len)
		die("write error");
	w->len = 0;
}

static void
writer_add(struct writer *w, const uint8_t *p, size_t n)
{
	if (OUTBUF_SIZE - w->len < n)
		writer_flush(w);
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s == '\0' || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: gen_smtp_pcap --profile short|attach "
	                "[--connections N] [--seed S] -o OUT.pcap\n");
	exit(2);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
print_stats(FILE *fp, const struct profile *pf, uint64_t seed,
            const struct stats *st)
{
	fprintf(fp,
	        "profile=%s\n"
	        "seed=%" PRIu64 "\n"
	        "connections=%" PRIu64 "\n"
	        "mails=%" PRIu64 "\n"
	        "recipients=%" PRIu64 "\n"
	        "suspicious_sender_connections=%" PRIu64 "\n"
	        "suspicious_sender_mails=%" PRIu64 "\n"
	        "packets=%" PRIu64 "\n"
	        "file_bytes=%" PRIu64 "\n"
	        "packet_bytes=%" PRIu64 "\n"
	        "tcp_payload_bytes=%" PRIu64 "\n"
	        "message_bytes=%" PRIu64 "\n"
	        "max_open_connections=%" PRIu64 "\n"
	        "duration_s=%.3f\n",
	        pf->name, seed, st->connections, st->mails, st->recipients,
	        st->suspicious, st->suspicious, st->packets, st->file_bytes,
	        st->wire_bytes, st->payload_bytes, st->message_bytes,
	        st->max_open, (st->last_ts - st->first_ts) / 1e6);
}

int
main(int argc, char **argv)
{
	const struct profile *pf = NULL;
	struct stats st;
	struct writer w;
	struct conn_info ci;
	struct conn **heap, *c, *pending = NULL, *freelist = NULL;
	uint8_t hdr[PCAP_HDRLEN];
	uint64_t seed = DEFAULT_SEED, nconn = 0, next = 0, open = 0;
	size_t nheap = 0, reclen, i;
	const char *outpath = NULL;
	char txtpath[4096];
	FILE *txt;
	double t0 = now_s();
	int ai;

	for (ai = 1; ai < argc; ai++) {
		if (strcmp(argv[ai], "--profile") == 0 && ai + 1 < argc) {
			ai++;
			for (i = 0; i < NELEMS(profiles); i++)
				if (strcmp(argv[ai], profiles[i].name) == 0)
					pf = &profiles[i];
			if (pf == NULL)
				usage();
		} else if (strcmp(argv[ai], "--connections") == 0 &&
		           ai + 1 < argc) {
			if (parse_u64(argv[++ai], &nconn) == -1 || nconn == 0 ||
			    nconn > CLIENT_ADDRS)
				usage();
		} else if (strcmp(argv[ai], "--seed") == 0 && ai + 1 < argc) {
			if (parse_u64(argv[++ai], &seed) == -1)
				usage();
		} else if (strcmp(argv[ai], "-o") == 0 && ai + 1 < argc)
			outpath = argv[++ai];
		else
			usage();
	}
	if (pf == NULL || outpath == NULL)
		usage();
	if (nconn == 0)
		nconn = pf->connections;
	if ((size_t)snprintf(txtpath, sizeof(txtpath), "%s.txt", outpath) >=
	    sizeof(txtpath))
		die("output path too long");

	memset(&st, 0, sizeof(st));
	if ((w.fp = fopen(outpath, "wb")) == NULL) {
		fprintf(stderr, "gen_smtp_pcap: %s: %s\n", outpath,
		        strerror(errno));
		return 1;
	}
	if ((w.buf = malloc(OUTBUF_SIZE)) == NULL)
		die("out of memory");
	w.len = 0;
	/* Classic pcap header (libpcap's pcap-savefile(5)), little-endian. */
	put32le(hdr, 0xa1b2c3d4);
	hdr[4] = 2; /* version 2.4 */
	hdr[5] = 0;
	hdr[6] = 4;
	hdr[7] = 0;
	put32le(hdr + 8, 0);
	put32le(hdr + 12, 0);
	put32le(hdr + 16, PCAP_SNAPLEN);
	put32le(hdr + 20, LINKTYPE_ETH);
	writer_add(&w, hdr, sizeof(hdr));
	st.file_bytes = sizeof(hdr);

	if ((heap = calloc(nconn, sizeof(*heap))) == NULL)
		die("out of memory");

	/*
	 * Start times increase with the index, so connection `next` must be
	 * generated before any packet later than its first one is written.
	 */
	while (next < nconn || nheap > 0 || pending != NULL) {
		if (pending == NULL && next < nconn) {
			if ((c = freelist) != NULL)
				freelist = c->next_free;
			else if ((c = calloc(1, sizeof(*c))) == NULL)
				die("out of memory");
			c->recs.len = 0;
			c->rd = 0;
			c->order = next;
			c->started = 0;
			gen_connection(&c->recs, pf, seed, next, &ci);
			c->ts = rec_ts(c->recs.p);
			st.connections++;
			st.mails++;
			st.recipients += ci.nrcpt;
			st.suspicious += ci.suspicious;
			st.message_bytes += ci.msg_bytes;
			pending = c;
			next++;
		}
		if (pending != NULL &&
		    (nheap == 0 || conn_less(pending, heap[0]))) {
			heap_push(heap, &nheap, pending);
			pending = NULL;
			continue;
		}

		c = heap[0];
		reclen = PCAP_RECHDR + get32le(c->recs.p + c->rd + 8);
		writer_add(&w, c->recs.p + c->rd, reclen);
		if (st.packets == 0)
			st.first_ts = c->ts;
		st.last_ts = c->ts;
		st.packets++;
		st.file_bytes += reclen;
		st.wire_bytes += reclen - PCAP_RECHDR;
		st.payload_bytes +=
		    reclen - PCAP_RECHDR - ETH_HLEN - IP_HLEN -
		    ((c->recs
		          .p[c->rd + PCAP_RECHDR + ETH_HLEN + IP_HLEN + 12] >>
		      4) *
		     4);
		if (!c->started) {
			c->started = 1;
			if (++open > st.max_open)
				st.max_open = open;
		}
		c->rd += reclen;
		if (c->rd < c->recs.len) {
			c->ts = rec_ts(c->recs.p + c->rd);
			heap_sift(heap, nheap);
		} else {
			open--;
			heap[0] = heap[--nheap];
			if (nheap > 0)
				heap_sift(heap, nheap);
			c->next_free = freelist;
			freelist = c;
		}
	}
	writer_flush(&w);
	if (fclose(w.fp) != 0)
		die("write error");

	while ((c = freelist) != NULL) {
		freelist = c->next_free;
		free(c->recs.p);
		free(c);
	}
	free(heap);
	free(w.buf);

	print_stats(stderr, pf, seed, &st);
	fprintf(stderr, "generation_time_s=%.3f\n", now_s() - t0);
	if ((txt = fopen(txtpath, "w")) == NULL) {
		fprintf(stderr, "gen_smtp_pcap: %s: %s\n", txtpath,
		        strerror(errno));
		return 1;
	}
	print_stats(txt, pf, seed, &st);
	if (fclose(txt) != 0)
		die("write error");
	return 0;
}
