/*
 * SMTP dissector: sessions fed through real streams (the dissector reads
 * the reassembled bytes as the engine gives them), with the events it
 * raises recorded as a trace. Every session is fed whole, one byte at a
 * time, and cut at every position: the traces must be identical
 * (CONVENTIONS.md section 7).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <haka/flow.h>
#include <haka/stream.h>

#include "proto/smtp/smtp.h"
#include "unittest.h"

struct trace {
	char buf[65536];
	size_t len;
	bool dropped;
};

static void tr_add(struct trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tr_add(struct trace *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len >= sizeof(t->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
	if (t->len >= sizeof(t->buf))
		t->len = sizeof(t->buf) - 1;
}

static void
h_command(void *arg, struct flow *f, const struct gresult *res)
{
	const struct gresult *c = gresult_get(res, "command");
	const struct gresult *p = gresult_get(res, "parameter");

	(void)f;
	tr_add(arg, "C[%.*s|%.*s]", c ? (int)c->len : 0,
	       c ? (const char *)c->s : "", p ? (int)p->len : 0,
	       p ? (const char *)p->s : "-");
}

static void
h_response(void *arg, struct flow *f, const struct gresult *res)
{
	const struct gresult *r = gresult_get(res, "responses"), *e;

	(void)f;
	tr_add(arg, "R[");
	for (e = r ? r->first : NULL; e != NULL; e = e->next) {
		const struct gresult *c = gresult_get(e, "code");
		const struct gresult *p = gresult_get(e, "parameter");

		tr_add(arg, "%.*s:%.*s;", c ? (int)c->len : 0,
		       c ? (const char *)c->s : "", p ? (int)p->len : 0,
		       p ? (const char *)p->s : "");
	}
	tr_add(arg, "]");
}

static bool
h_want(void *arg)
{
	(void)arg;
	return true;
}

static void
h_content(void *arg, struct flow *f, const uint8_t *p, size_t len, bool last)
{
	struct trace *t = arg;

	(void)f;
	/* Pieces are split differently: only the bytes and the end count. */
	if (len > 0)
		tr_add(t, "%.*s", (int)len, (const char *)p);
	if (last)
		tr_add(t, "<EOM>");
}

static void
h_anomaly(void *arg, struct flow *f, enum anomaly a)
{
	(void)f;
	tr_add(arg, "A[%s]", anomaly_name(a));
}

static void
h_starttls(void *arg, struct flow *f)
{
	(void)f;
	tr_add(arg, "TLS");
}

static void
h_drop(void *arg, struct flow *f)
{
	struct trace *t = arg;

	f->flags |= FLOW_F_DROPPED;
	t->dropped = true;
	tr_add(t, "DROP");
}

/* One message of a session: direction and bytes. */
struct msg {
	int dir;
	const char *data;
};

/*
 * Feed a session: every message is cut in pieces of 'step' bytes (0: whole)
 * or in two at 'cut' of the concatenated client or server bytes.
 */
/* Whether run_session ends the connection (FIN both ways) after the last
 * message, as the engine does: the server's direction first. */
static bool finish_at_end;

static void
run_session(const struct msg *msgs, size_t n, size_t step, struct trace *t,
            struct smtp_txn *txn_out)
{
	struct smtp_hooks h = {h_command, h_response, h_want, h_content,
	                       h_anomaly, h_starttls, h_drop, t};
	struct flow f;
	struct hk_time now = {1000, 0};
	void *inst;
	size_t i, off, len, piece;
	uint64_t keep;

	memset(&f, 0, sizeof(f));
	memset(t, 0, sizeof(*t));
	stream_init(&f.dir[0], 1000);
	stream_init(&f.dir[1], 5000);
	inst = smtp_new(&f, &h, &now);
	if (inst == NULL)
		return;
	f.app_ops = &smtp_dissector;
	f.app = inst;
	for (i = 0; i < n && !t->dropped; i++) {
		int d = msgs[i].dir;
		struct stream *st = &f.dir[d];

		len = strlen(msgs[i].data);
		for (off = 0; off < len && !t->dropped; off += piece) {
			struct packet *pkt;
			struct stream_insert_res res;

			piece =
			    step == 0 || step > len - off ? len - off : step;
			/* Each piece in its own exactly sized buffer. */
			pkt = packet_new((uint32_t)piece);
			memcpy(pkt->data, msgs[i].data + off, piece);
			pkt->pl_off = 0;
			pkt->pl_len = (uint32_t)piece;
			stream_insert(st, pkt, stream_off_seq(st, st->next),
			              &res);
			packet_unref(pkt);
			smtp_dissector.receive(inst, &f, d, st->next, false,
			                       &keep);
			stream_consume(st, keep);
		}
	}
	for (i = 2; finish_at_end && !t->dropped && i-- > 0;) {
		smtp_dissector.receive(inst, &f, (int)i, f.dir[i].next, true,
		                       &keep);
		stream_consume(&f.dir[i], keep);
	}
	if (txn_out != NULL) {
		static char rcpts[SMTP_MAX_RCPT][SMTP_ADDR_MAX];

		*txn_out = *smtp_txn(inst);
		/* The instance's strings go with it: keep copies. */
		if (txn_out->nrcpt > 0)
			memcpy(rcpts, txn_out->rcpt,
			       (size_t)txn_out->nrcpt * SMTP_ADDR_MAX);
		txn_out->rcpt = rcpts;
	}
	smtp_dissector.end(inst, &f);
	smtp_dissector.free(inst);
	stream_release_all(&f.dir[0], false);
	stream_release_all(&f.dir[1], false);
}

static const struct msg tutorial[] = {
    {1, "220 metasploitable.localdomain ESMTP Postfix (Ubuntu)\r\n"},
    {0, "HELO some_domain\n"},
    {1, "250 metasploitable.localdomain\r\n"},
    {0, "MAIL FROM: hacker@suspicious.org\n"},
    {1, "250 2.1.0 Ok\r\n"},
    {0, "RCPT TO: backup\n"},
    {1, "250 2.1.5 Ok\r\n"},
    {0, "DATA\n"},
    {1, "354 End data with <CR><LF>.<CR><LF>\r\n"},
    {0, "BLA BLA BLA ...\r\n"},
    {0, "MORE BLA BLA BLA ...\r\n.\r\n"},
    {1, "250 2.0.0 Ok: queued as 2E1B4C934\r\n"},
    {0, "QUIT\n"},
    {1, "221 2.0.0 Bye\r\n"},
};

static const struct msg pipelined[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "ehlo client.example.org\r\n"},
    {1, "250-mx\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"},
    {0, "MAIL FROM:<a@example.org> SIZE=20\r\nRCPT TO:<b@example.net>\r\n"
        "RCPT TO:<nobody@example.net>\r\nRCPT TO:<c@example.net>\r\n"
        "DATA\r\n"},
    {1, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 unknown\r\n"
        "250 2.1.5 Ok\r\n354 go ahead\r\n"},
    {0, "Subject: x\r\n\r\n..stuffed line\r\n.\r\nQUIT\r\n"},
    {1, "250 2.0.0 queued\r\n221 bye\r\n"},
};

static const struct msg smuggling[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250 mx\r\n"},
    {0, "MAIL FROM:<a@x>\r\n"},
    {1, "250 ok\r\n"},
    {0, "RCPT TO:<b@y>\r\n"},
    {1, "250 ok\r\n"},
    {0, "DATA\r\n"},
    {1, "354 go\r\n"},
    {0, "hello\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n"
        "smuggled\r\n.\r\n"},
    {1, "250 queued\r\n"},
};

static const struct msg bdat[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250-mx\r\n250 CHUNKING\r\n"},
    {0, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 10\r\n0123456789"
        "BDAT 5 LAST\r\nABCDE"},
    {1, "250 ok\r\n250 ok\r\n250 10 bytes\r\n250 queued\r\n"},
    {0, "QUIT\r\n"},
    {1, "221 bye\r\n"},
};

static const struct msg auth_tls[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250-mx\r\n250-AUTH LOGIN PLAIN\r\n250 STARTTLS\r\n"},
    {0, "AUTH LOGIN\r\n"},
    {1, "334 VXNlcm5hbWU6\r\n"},
    {0, "dXNlcg==\r\n"},
    {1, "334 UGFzc3dvcmQ6\r\n"},
    {0, "cGFzcw==\r\n"},
    {1, "235 2.7.0 Authentication successful\r\n"},
    {0, "STARTTLS\r\n"},
    {1, "220 2.0.0 Ready to start TLS\r\n"},
    {0, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03binary"},
    {1, "\x16\x03\x03\x00\x5a\x02\x00\x00"},
};

static const struct msg unknown_cmd[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250 mx\r\n"},
    {0, "XYZZY plugh\r\n"},
    {1, "502 5.5.2 Error: command not recognized\r\n"},
    {0, "\r\n"},
    {1, "500 5.5.2 Error: bad syntax\r\n"},
    {0, "NOOP\r\n"},
    {1, "250 2.0.0 Ok\r\n"},
};

/* An invalid line in state command is answered (500) like a command. */
static const struct msg invalid_then_mail[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250 mx\r\n"},
    {0, "\x01\x02garbage\r\n"},
    {1, "500 5.5.2 Error: bad syntax\r\n"},
    {0, "MAIL FROM:<a@x>\r\n"},
    {1, "250 ok\r\n"},
    {0, "RCPT TO:<b@y>\r\n"},
    {1, "250 ok\r\n"},
    {0, "DATA\r\n"},
    {1, "354 go\r\n"},
    {0, "RCPT TO:<hidden@y.org>\r\nbody\r\n.\r\n"},
    {1, "250 queued\r\n"},
};

/* RFC 3030: an empty LAST chunk ends the mail when its command is read. */
static const struct msg bdat_empty_last[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250-mx\r\n250 CHUNKING\r\n"},
    {0, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 4\r\nabcd"},
    {1, "250 ok\r\n250 ok\r\n250 4 bytes\r\n"},
    {0, "BDAT 0 LAST\r\n"},
    {1, "250 queued\r\n"},
};

static const struct msg not_smtp[] = {
    {1, "HTTP/1.1 200 OK\r\n\r\n"},
};

struct session {
	const char *name;
	const struct msg *msgs;
	size_t n;
	const char *expect; /* substring of the whole-feed trace */
};

static const struct session sessions[] = {
    {"tutorial", tutorial, HK_ARRAY_SIZE(tutorial),
     "C[MAIL|FROM: hacker@suspicious.org]R[250:2.1.0 Ok;]"},
    {"pipelined", pipelined, HK_ARRAY_SIZE(pipelined),
     "Subject: x\r\n\r\n.stuffed line<EOM>C[QUIT|"},
    {"smuggling", smuggling, HK_ARRAY_SIZE(smuggling),
     "A[smtp_smuggling_attempt]"},
    {"bdat", bdat, HK_ARRAY_SIZE(bdat), "0123456789ABCDE<EOM>"},
    {"auth_tls", auth_tls, HK_ARRAY_SIZE(auth_tls),
     "R[220:2.0.0 Ready to start TLS;]TLS"},
    {"unknown_cmd", unknown_cmd, HK_ARRAY_SIZE(unknown_cmd),
     "A[smtp_unknown_command]"},
    {"not_smtp", not_smtp, HK_ARRAY_SIZE(not_smtp), "DROP"},
    {"invalid_then_mail", invalid_then_mail, HK_ARRAY_SIZE(invalid_then_mail),
     "R[354:go;]RCPT TO:<hidden@y.org>\r\nbody<EOM>R[250:queued;]"},
    {"bdat_empty_last", bdat_empty_last, HK_ARRAY_SIZE(bdat_empty_last),
     "C[BDAT|0 LAST]abcd<EOM>R[250:queued;]"},
};

static struct trace whole, other;

/*
 * RFC 5321 4.5.3.1.6: 1000 bytes with the CRLF. A line of 998 characters
 * is fine, 999 is one too many; a very long line is said once.
 */
static void
test_data_line_length(void)
{
	static char body[8192];
	struct msg m[12];
	size_t n = 0, step;
	char *b = body;
	int count;
	const char *a;

	memset(m, 0, sizeof(m));
	m[n++] = (struct msg){1, "220 mx ESMTP\r\n"};
	m[n++] = (struct msg){0, "EHLO x\r\nMAIL FROM:<a@x>\r\n"
	                         "RCPT TO:<b@y>\r\nDATA\r\n"};
	m[n++] = (struct msg){1, "250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n"};
	memset(b, 'a', 998);
	memcpy(b + 998, "\r\n", 2);
	b += 1000;
	memset(b, 'b', 999);
	memcpy(b + 999, "\r\n", 2);
	b += 1001;
	memset(b, 'c', 5000);
	memcpy(b + 5000, "\r\nshort\r\n.\r\n", 13);
	m[n++] = (struct msg){0, body};
	m[n++] = (struct msg){1, "250 queued\r\n"};
	for (step = 0; step <= 997; step += 997) {
		run_session(m, n, step, &whole, NULL);
		for (count = 0, a = whole.buf;
		     (a = strstr(a, "A[smtp_data_line_too_long]")) != NULL; a++)
			count++;
		FAIL_IF(count != 2);
		FAIL_IF(strstr(whole.buf, "R[250:queued;]") == NULL);
	}
}

static void
test_sessions_every_split(void)
{
	size_t i, step;

	for (i = 0; i < HK_ARRAY_SIZE(sessions); i++) {
		const struct session *s = &sessions[i];

		run_session(s->msgs, s->n, 0, &whole, NULL);
		if (strstr(whole.buf, s->expect) == NULL) {
			fprintf(stderr, "%s: trace lacks %s\n%s\n", s->name,
			        s->expect, whole.buf);
			FAIL_IF(1);
		}
		for (step = 1; step <= 16; step++) {
			run_session(s->msgs, s->n, step, &other, NULL);
			if (strcmp(whole.buf, other.buf) != 0) {
				fprintf(stderr,
				        "%s: step %zu differs:\n%s\n---\n%s\n",
				        s->name, step, whole.buf, other.buf);
				FAIL_IF(1);
			}
		}
	}
}

static const struct msg bdat_two[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"},
    {0, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 10\r\n0123456789"
        "BDAT 5 LAST\r\nABCDE"},
    {1, "250 ok\r\n250 ok\r\n250 10 bytes\r\n250 queued\r\n"},
    {0, "MAIL FROM:<c@x>\r\nRCPT TO:<b@y>\r\nBDAT 3 LAST\r\nxyz"},
    {1, "250 ok\r\n250 ok\r\n250 queued\r\n"},
};

/*
 * The same with an RSET pipelined ahead of the MAIL (RFC 2920): its reply
 * must not clear the chunks that follow it. Then an EHLO, which resets
 * the transaction too (RFC 5321 4.1.4): the count of the mail before is
 * cleared, and an EHLO pipelined ahead of the next mail is like the RSET.
 */
static const struct msg bdat_rset[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"},
    {0, "RSET\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 5 LAST\r\n"
        "ABCDE"},
    {1, "250 ok\r\n250 ok\r\n250 ok\r\n250 queued\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250 mx\r\n"},
    {0, "EHLO x\r\nMAIL FROM:<c@x>\r\nRCPT TO:<b@y>\r\nBDAT 2 LAST\r\n"
        "xy"},
    {1, "250 mx\r\n250 ok\r\n250 ok\r\n250 queued\r\n"},
};

static void
test_transaction(void)
{
	struct smtp_txn txn;

	run_session(pipelined, HK_ARRAY_SIZE(pipelined), 0, &whole, &txn);
	FAIL_IF(strcmp(txn.helo, "client.example.org") != 0);
	FAIL_IF(strcmp(txn.mail_from, "a@example.org") != 0);
	/* The rejected recipient is not part of the transaction. */
	FAIL_IF(txn.nrcpt != 2);
	FAIL_IF(strcmp(txn.rcpt[0], "b@example.net") != 0);
	FAIL_IF(strcmp(txn.rcpt[1], "c@example.net") != 0);
	FAIL_IF(txn.data_bytes != strlen("Subject: x\r\n\r\n.stuffed line"));
	run_session(tutorial, HK_ARRAY_SIZE(tutorial), 0, &whole, &txn);
	FAIL_IF(strcmp(txn.mail_from, "hacker@suspicious.org") != 0);
	FAIL_IF(txn.data_bytes != 37);
	/*
	 * Pipelined BDAT (RFC 3030 4.2): the chunks are counted before the
	 * MAIL's reply, which must not start the count again; the second
	 * mail counts its own chunks only.
	 */
	run_session(bdat_two, HK_ARRAY_SIZE(bdat_two), 0, &whole, &txn);
	FAIL_IF(strcmp(txn.mail_from, "c@x") != 0);
	FAIL_IF(txn.data_bytes != 3);
	run_session(bdat_two, 5, 0, &whole, &txn);
	FAIL_IF(strcmp(txn.mail_from, "a@x") != 0);
	FAIL_IF(txn.data_bytes != 15);
	run_session(bdat_rset, 5, 0, &whole, &txn);
	FAIL_IF(strcmp(txn.mail_from, "a@x") != 0);
	FAIL_IF(txn.data_bytes != 5);
	run_session(bdat_rset, 7, 0, &whole, &txn);
	FAIL_IF(txn.mail_from[0] != '\0');
	FAIL_IF(txn.data_bytes != 0);
	run_session(bdat_rset, HK_ARRAY_SIZE(bdat_rset), 0, &whole, &txn);
	FAIL_IF(strcmp(txn.mail_from, "c@x") != 0);
	FAIL_IF(txn.data_bytes != 2);
}

/*
 * Verbs in any case (RFC 5321 2.4) take the session where their upper-case
 * form does; a verb of more than 8 letters is unknown, even when it
 * starts like a known one.
 */
static const struct msg mixed_case[] = {
    {1, "220 mx ESMTP\r\n"}, {0, "eHlO client\r\n"},
    {1, "250 mx\r\n"},       {0, "mAiL FROM:<a@x>\r\n"},
    {1, "250 ok\r\n"},       {0, "rcpt TO:<b@y>\r\n"},
    {1, "250 ok\r\n"},       {0, "STARTTLSX\r\n"},
    {1, "502 no\r\n"},       {0, "data\r\n"},
    {1, "354 go\r\n"},       {0, "body\r\n.\r\n"},
    {1, "250 queued\r\n"},   {0, "Quit\r\n"},
    {1, "221 bye\r\n"},
};

static void
test_verbs_any_case(void)
{
	struct smtp_txn txn;

	run_session(mixed_case, HK_ARRAY_SIZE(mixed_case), 0, &whole, &txn);
	FAIL_IF(strcmp(txn.helo, "client") != 0);
	FAIL_IF(strcmp(txn.mail_from, "a@x") != 0);
	FAIL_IF(txn.nrcpt != 1 || strcmp(txn.rcpt[0], "b@y") != 0);
	FAIL_IF(txn.data_bytes != strlen("body"));
	FAIL_IF(strstr(whole.buf, "body<EOM>") == NULL);
	FAIL_IF(strstr(whole.buf, "A[smtp_unknown_command]") == NULL);
	FAIL_IF(strstr(whole.buf, "]TLS") != NULL);
}

/* RFC 5321 4.2.1: the lines of a reply carry one code. */
static const struct msg code_mismatch[] = {
    {1, "220 mx ESMTP\r\n"},
    {0, "EHLO x\r\n"},
    {1, "250-mx\r\n250 8BITMIME\r\n"},
    {0, "MAIL FROM:<a@x>\r\n"},
    {1, "250-ok\r\n550 no\r\n"},
    {0, "QUIT\r\n"},
    {1, "221 bye\r\n"},
};

static void
test_reply_code_mismatch(void)
{
	const char *first;

	run_session(code_mismatch, HK_ARRAY_SIZE(code_mismatch), 0, &whole,
	            NULL);
	/* Once, for the MAIL reply, which is still one reply. */
	first = strstr(whole.buf, "A[smtp_reply_code_mismatch]");
	FAIL_IF(first == NULL);
	FAIL_IF(first != NULL &&
	        strstr(first + 1, "A[smtp_reply_code_mismatch]") != NULL);
	FAIL_IF(strstr(whole.buf, "R[250:mx;250:8BITMIME;]") == NULL);
	/* Its two lines form one reply, and QUIT is paired with its own. */
	FAIL_IF(strstr(whole.buf, "R[250:ok;550:no;]C[QUIT|]R[221:bye;]") ==
	        NULL);
	FAIL_IF(strstr(whole.buf, "A[smtp_unmatched_reply]") != NULL);
}

static void
test_smuggling_not_end(void)
{
	/* "\n.\r\n" is data in a CRLF session: one mail, not two. */
	run_session(smuggling, HK_ARRAY_SIZE(smuggling), 0, &whole, NULL);
	FAIL_IF(strstr(whole.buf, "C[MAIL|FROM:<evil@x>]") != NULL);
	/* The lone dot is unstuffed like any line starting with a dot. */
	FAIL_IF(strstr(whole.buf, "smuggled<EOM>") == NULL ||
	        strstr(whole.buf, "hello\n\r\nMAIL FROM:<evil@x>") == NULL);
}

static void
test_invalid_command_keeps_pairing(void)
{
	struct smtp_txn txn;

	run_session(invalid_then_mail, HK_ARRAY_SIZE(invalid_then_mail), 0,
	            &whole, &txn);
	FAIL_IF(strstr(whole.buf, "A[smtp_invalid_command]") == NULL);
	FAIL_IF(strstr(whole.buf, "A[smtp_unmatched_reply]") != NULL);
	FAIL_IF(strstr(whole.buf, "C[RCPT|TO:<hidden") != NULL);
	FAIL_IF(txn.nrcpt != 1 || strcmp(txn.rcpt[0], "b@y") != 0);
}

/*
 * A reply line the grammar rejects (over the 4096-byte limit) still
 * answers the command at the front of the queue: the 354 that follows is
 * DATA's, and the body is content, not commands.
 */
static void
test_invalid_reply_keeps_pairing(void)
{
	static char longreply[6000];
	struct msg m[] = {
	    {1, "220 mx ESMTP\r\n"},
	    {0, "EHLO x\r\n"},
	    {1, "250-mx\r\n250 PIPELINING\r\n"},
	    {0, "MAIL FROM:<a@x>\r\n"},
	    {1, "250 ok\r\n"},
	    {0, "RCPT TO:<b@y>\r\n"},
	    {1, longreply},
	    {0, "DATA\r\n"},
	    {1, "354 go\r\n"},
	    {0, "SECRET-BODY\r\n.\r\n"},
	    {1, "250 queued\r\n"},
	};
	size_t step;

	memcpy(longreply, "250-first\r\n250 ", 15);
	memset(longreply + 15, 'x', 5000);
	memcpy(longreply + 5015, "\r\n", 3);
	for (step = 0; step <= 7; step += 7) {
		run_session(m, HK_ARRAY_SIZE(m), step, &whole, NULL);
		FAIL_IF(strstr(whole.buf, "A[smtp_invalid_reply]") == NULL);
		FAIL_IF(strstr(whole.buf, "SECRET-BODY<EOM>") == NULL);
		FAIL_IF(strstr(whole.buf, "A[smtp_unmatched_reply]") != NULL);
		FAIL_IF(strstr(whole.buf, "C[SECRET-BODY") != NULL);
	}
}

/*
 * PIPELINING (RFC 2920) with more recipients than the queue's inline
 * room: RFC 5321 4.5.3.1.8 asks servers to take at least 100.
 */
static void
test_many_pipelined_recipients(void)
{
	static char cmds[8192], replies[4096];
	struct msg m[6];
	struct smtp_txn txn;
	size_t n = 0, c = 0, r = 0, step;
	int i;

	c +=
	    (size_t)snprintf(cmds + c, sizeof(cmds) - c, "MAIL FROM:<a@x>\r\n");
	r += (size_t)snprintf(replies + r, sizeof(replies) - r, "250 ok\r\n");
	for (i = 0; i < 40; i++) {
		c += (size_t)snprintf(cmds + c, sizeof(cmds) - c,
		                      "RCPT TO:<r%d@y>\r\n", i);
		r += (size_t)snprintf(replies + r, sizeof(replies) - r,
		                      "250 ok\r\n");
	}
	snprintf(cmds + c, sizeof(cmds) - c, "DATA\r\n");
	snprintf(replies + r, sizeof(replies) - r, "354 go\r\n");
	m[n++] = (struct msg){1, "220 mx ESMTP\r\n"};
	m[n++] = (struct msg){0, "EHLO x\r\n"};
	m[n++] = (struct msg){1, "250 mx\r\n"};
	m[n++] = (struct msg){0, cmds};
	m[n++] = (struct msg){1, replies};
	m[n++] = (struct msg){0, "the body\r\n.\r\nQUIT\r\n"};
	for (step = 0; step <= 13; step += 13) {
		run_session(m, n, step, &whole, &txn);
		FAIL_IF(strstr(whole.buf, "the body<EOM>C[QUIT|") == NULL);
		FAIL_IF(strstr(whole.buf, "A[smtp_excessive") != NULL);
		FAIL_IF(txn.nrcpt_total != 40);
		FAIL_IF(strcmp(txn.rcpt[39], "r39@y") != 0);
	}
}

/*
 * A connection that closes inside DATA: all the client sent is content,
 * the mail is truncated, and the connection is not dropped as invalid.
 */
static void
test_data_cut_by_close(void)
{
	static const struct msg m[] = {
	    {1, "220 mx ESMTP\r\n"},
	    {0, "EHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"},
	    {1, "250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
	    {0, "partial\r\n"},
	};
	static const struct msg b[] = {
	    {1, "220 mx ESMTP\r\n"},
	    {0, "EHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"},
	    {1, "250 mx\r\n250 ok\r\n250 ok\r\n"},
	    {0, "BDAT 10 LAST\r\n01234"},
	};
	size_t step;

	finish_at_end = true;
	for (step = 0; step <= 1; step++) {
		run_session(m, HK_ARRAY_SIZE(m), step, &whole, NULL);
		FAIL_IF(strstr(whole.buf,
		               "partial\r\n<EOM>A[smtp_truncated]") == NULL);
		FAIL_IF(whole.dropped);
		FAIL_IF(strstr(whole.buf,
		               "A[smtp_truncated]A[smtp_truncated]") != NULL);
		run_session(b, HK_ARRAY_SIZE(b), step, &whole, NULL);
		FAIL_IF(strstr(whole.buf, "A[smtp_truncated]01234<EOM>") ==
		        NULL);
		FAIL_IF(strstr(whole.buf, "A[smtp_invalid_command]") != NULL);
	}
	finish_at_end = false;
}

/* The last line of DATA is measured with the CRLF of the end of data. */
static void
test_data_last_line_length(void)
{
	static char body[2048];
	struct msg m[] = {
	    {1, "220 mx ESMTP\r\n"},
	    {0, "EHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"},
	    {1, "250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
	    {0, body},
	    {1, "250 queued\r\n"},
	};
	size_t len;

	for (len = 998; len <= 999; len++) {
		memset(body, 'b', len);
		memcpy(body + len, "\r\n.\r\n", 6);
		run_session(m, HK_ARRAY_SIZE(m), 0, &whole, NULL);
		FAIL_IF((strstr(whole.buf, "A[smtp_data_line_too_long]") !=
		         NULL) != (len == 999));
		run_session(m, HK_ARRAY_SIZE(m), 500, &other, NULL);
		FAIL_IF(strcmp(whole.buf, other.buf) != 0);
	}
}

int
main(void)
{
	char err[256] = "";

	if (smtp_init(err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "smtp_init: %s\n", err);
		return 1;
	}
	RUN_TEST(test_sessions_every_split);
	RUN_TEST(test_transaction);
	RUN_TEST(test_smuggling_not_end);
	RUN_TEST(test_reply_code_mismatch);
	RUN_TEST(test_verbs_any_case);
	RUN_TEST(test_data_line_length);
	RUN_TEST(test_invalid_command_keeps_pairing);
	RUN_TEST(test_invalid_reply_keeps_pairing);
	RUN_TEST(test_many_pipelined_recipients);
	RUN_TEST(test_data_cut_by_close);
	RUN_TEST(test_data_last_line_length);
	smtp_cleanup();
	packet_pool_flush();
	stream_pool_flush();
	gparser_pool_flush();
	UT_DONE();
}
